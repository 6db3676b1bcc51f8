use std::collections::HashMap;

use crate::policy::Action;

/// A symbol declared once, as data: its name, the group it scores in, what it means and its
/// default weight. Policy may override the weight or force an action; detectors only name it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymbolDef {
    pub name: &'static str,
    pub group: &'static str,
    pub description: &'static str,
    pub score: f64,
    /// An action this symbol forces by default (e.g. a known-bad hash), with its priority.
    pub force: Option<(Action, u32)>,
}

impl SymbolDef {
    pub const fn scored(
        name: &'static str,
        group: &'static str,
        score: f64,
        description: &'static str,
    ) -> Self {
        SymbolDef {
            name,
            group,
            description,
            score,
            force: None,
        }
    }
}

/// Every declared symbol, looked up by name. Built once from the detectors' declarations.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    defs: Vec<SymbolDef>,
    by_name: HashMap<&'static str, usize>,
}

impl SymbolTable {
    /// Builds the table; a name declared twice is a programming error reported here.
    pub fn new(declarations: &[&[SymbolDef]]) -> Result<Self, String> {
        let mut table = SymbolTable::default();
        for defs in declarations {
            for def in *defs {
                if table.by_name.insert(def.name, table.defs.len()).is_some() {
                    return Err(format!("symbol {} is declared twice", def.name));
                }
                table.defs.push(*def);
            }
        }
        Ok(table)
    }

    pub fn get(&self, name: &str) -> Option<&SymbolDef> {
        self.by_name.get(name).map(|&i| &self.defs[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &SymbolDef> {
        self.defs.iter()
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

use std::borrow::Cow;
use std::collections::HashMap;

use crate::policy::Action;

/// A symbol declared once, as data: its name, the group it scores in, what it means and its
/// default weight. Policy may override the weight or force an action; detectors only name it.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolDef {
    pub name: Cow<'static, str>,
    pub group: Cow<'static, str>,
    pub description: Cow<'static, str>,
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
            name: Cow::Borrowed(name),
            group: Cow::Borrowed(group),
            description: Cow::Borrowed(description),
            score,
            force: None,
        }
    }
}

/// Every declared symbol, looked up by name. Built once from the detectors' declarations.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    defs: Vec<SymbolDef>,
    by_name: HashMap<Cow<'static, str>, usize>,
}

impl SymbolTable {
    /// Builds the table; a name declared twice is a programming error reported here.
    pub fn new(declarations: &[&[SymbolDef]]) -> Result<Self, String> {
        let mut table = SymbolTable::default();
        for defs in declarations {
            for def in *defs {
                table.add(def.clone())?;
            }
        }
        Ok(table)
    }

    /// Adds one declaration (administrator rules declare theirs at load time).
    pub fn add(&mut self, def: SymbolDef) -> Result<(), String> {
        if self.by_name.contains_key(def.name.as_ref()) {
            return Err(format!("symbol {} is declared twice", def.name));
        }
        self.by_name.insert(def.name.clone(), self.defs.len());
        self.defs.push(def);
        Ok(())
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

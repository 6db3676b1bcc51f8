use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::policy::{Action, Risk};

/// What a symbol is evidence of: the detection types the dashboard counts, and what a user's
/// "always accept this sender" exception may override (spam and policy, never a threat nor a
/// failure to prove who sent the mail). Declared with the symbol, so nothing downstream
/// derives it from a group name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Spam,
    Phishing,
    Malware,
    /// Impersonation and sender-authentication failures.
    Impersonation,
    /// The administrator's own rules, lists and rate limits.
    Policy,
    /// A known-bad signature (hash list).
    Signature,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Spam,
        Category::Phishing,
        Category::Malware,
        Category::Impersonation,
        Category::Policy,
        Category::Signature,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Spam => "spam",
            Category::Phishing => "phishing",
            Category::Malware => "malware",
            Category::Impersonation => "impersonation",
            Category::Policy => "policy",
            Category::Signature => "signature",
        }
    }

    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether a recipient's sender exception may deliver mail this evidence held back.
    pub fn overridable(self) -> bool {
        matches!(self, Category::Spam | Category::Policy)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A symbol declared once, as data: its name, the group it scores in, what it is evidence of,
/// what it means and its default weight. Policy may override the weight or force an action;
/// detectors only name it.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolDef {
    pub name: Cow<'static, str>,
    pub group: Cow<'static, str>,
    pub category: Category,
    pub description: Cow<'static, str>,
    pub score: f64,
    /// An action this symbol forces by default (e.g. a known-bad hash), with its priority.
    pub force: Option<(Action, u32)>,
    /// A threat floor: when the symbol fires, the message gets at least this action and this
    /// risk, whatever the score (an operator's forced action still decides the action).
    pub floor: Option<(Action, Risk)>,
}

impl SymbolDef {
    pub const fn new(
        name: &'static str,
        group: &'static str,
        category: Category,
        score: f64,
        description: &'static str,
    ) -> Self {
        Self::declared(name, group, category, score, None, None, description)
    }

    /// A symbol that forces `action` (with its priority) whenever it fires, as an operator's
    /// `[policy.symbols]` force would.
    pub const fn forced(
        name: &'static str,
        group: &'static str,
        category: Category,
        score: f64,
        force: (Action, u32),
        description: &'static str,
    ) -> Self {
        Self::declared(name, group, category, score, Some(force), None, description)
    }

    /// A threat whose evidence alone sets at least `action` and `risk` (see [`SymbolDef::floor`]).
    pub const fn threat(
        name: &'static str,
        group: &'static str,
        category: Category,
        score: f64,
        floor: (Action, Risk),
        description: &'static str,
    ) -> Self {
        Self::declared(name, group, category, score, None, Some(floor), description)
    }

    const fn declared(
        name: &'static str,
        group: &'static str,
        category: Category,
        score: f64,
        force: Option<(Action, u32)>,
        floor: Option<(Action, Risk)>,
        description: &'static str,
    ) -> Self {
        SymbolDef {
            name: Cow::Borrowed(name),
            group: Cow::Borrowed(group),
            category,
            description: Cow::Borrowed(description),
            score,
            force,
            floor,
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

//! The rule file format as written (TOML). See docs/rules.md.

use mailmoat_core::Action;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDef {
    #[serde(default)]
    pub rule: Vec<Spanned<RuleDef>>,
    #[serde(default)]
    pub list: Vec<Spanned<ListDef>>,
    #[serde(default)]
    pub rate_limit: Vec<Spanned<RateDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub name: Spanned<String>,
    pub description: String,
    #[serde(default)]
    pub group: Option<String>,
    /// What the rule's hit is evidence of (default: policy, which a user's exception may
    /// override; phishing, malware, impersonation and signature it may not).
    #[serde(default)]
    pub category: Option<mailmoat_core::Category>,
    pub score: Option<f64>,
    pub action: Option<Action>,
    pub priority: Option<u32>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub when: Spanned<CondDef>,
}

fn yes() -> bool {
    true
}

/// One condition. Exactly one target (or combinator) key; operators depend on the target.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CondDef {
    pub all: Option<Vec<Spanned<CondDef>>>,
    pub any: Option<Vec<Spanned<CondDef>>>,
    pub not: Option<Box<Spanned<CondDef>>>,

    pub header: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub raw_body: Option<String>,
    pub url: Option<String>,
    pub url_host: Option<String>,
    pub url_path: Option<String>,
    pub attachment_name: Option<String>,
    pub attachment_type: Option<String>,
    pub mail_from: Option<String>,
    pub rcpt_to: Option<String>,
    pub helo: Option<String>,
    pub client_ip: Option<StrOrList>,
    pub symbol: Option<String>,

    // header operators
    pub matches: Option<String>,
    pub raw: Option<bool>,
    pub exists: Option<bool>,
    pub min_count: Option<u32>,
    pub max_count: Option<u32>,
    pub display_name: Option<Presence>,
    pub name_matches: Option<String>,
    pub local_part: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum StrOrList {
    One(String),
    Many(Vec<String>),
}

impl StrOrList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StrOrList::One(s) => vec![s],
            StrOrList::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Presence {
    Present,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ListKind {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ListField {
    SenderAddress,
    SenderDomain,
    ClientIp,
    Recipient,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListDef {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub kind: ListKind,
    #[serde(rename = "match")]
    pub field: ListField,
    #[serde(default)]
    pub entries: Vec<String>,
    /// A file of entries, one a line, `#` comments; relative to the rule file.
    pub file: Option<String>,
    pub action: Option<Action>,
    pub priority: Option<u32>,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RateKey {
    ClientIp,
    SenderAddress,
    SenderDomain,
    Recipient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RateResult {
    Tempfail,
    Quarantine,
    Reject,
    Score,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateDef {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub key: RateKey,
    /// More than this many messages within the window trips the limit.
    pub limit: u32,
    /// `30s`, `10m`, `2h`, `1d`.
    pub window: Spanned<String>,
    pub result: RateResult,
    pub score: Option<f64>,
    pub priority: Option<u32>,
}

//! Administrator policy: rules over headers, body, URLs, attachments and the envelope;
//! allow/deny lists; rate limits. Written in TOML (docs/rules.md), checked at load with the file,
//! line and rule name of every problem, and compiled once: all patterns on one target share one
//! multi-pattern set, so a message is scanned once per target however many rules exist.
//!
//! Rules, lists and rate limits report evidence under their own names; policy weighs them like
//! any detector's (a rule may force an action). Allow-list hits force delivery by default,
//! overriding content rules: that is the false-positive exception mechanism.

mod error;
mod lists;
pub mod patterns;
pub mod rate;
mod ruleset;
mod syntax;
mod targets;

pub use error::{RuleError, RuleErrors};
pub use patterns::{PatternSet, Scratch as PatternScratch};
pub use rate::{MemoryRateStore, RateStore};
pub use ruleset::{Phase, RuleInfo, RuleSet, RuleSource};

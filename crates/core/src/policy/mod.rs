//! Policy: the operator's table of weights, group caps, forced actions and thresholds, and the
//! pure [`decide`] function that turns findings into a verdict. No I/O, so every rule here is
//! unit-tested exhaustively.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{Category, Findings, Location, SymbolTable};

mod disposition;
mod fusion;
pub use disposition::{disposition, overridable, RecipientAction};
pub use fusion::{
    classifier_logit, fit, probability, thresholds, Example, FitOptions, FusionModel,
    FUSION_FORMAT, POINTS_PER_LOGIT,
};

/// The group of the classifier's own symbols: under fusion the classifier counts through its
/// log-odds, not through these symbols' weights.
pub const CLASSIFIER_GROUP: &str = "classifier";

/// What happens to a message, least to most severe. `Tempfail` (4xx, "try again later") is
/// only ever forced, e.g. by a rate limit; thresholds never choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deliver,
    Tag,
    Quarantine,
    Tempfail,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deliver => "deliver",
            Action::Tag => "tag",
            Action::Quarantine => "quarantine",
            Action::Tempfail => "tempfail",
            Action::Reject => "reject",
        }
    }

    /// The risk a forced action implies when the operator did not give one.
    fn implied_risk(self) -> Risk {
        match self {
            Action::Deliver => Risk::None,
            Action::Tag => Risk::Low,
            Action::Quarantine => Risk::Medium,
            Action::Tempfail => Risk::Low,
            Action::Reject => Risk::High,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How dangerous a message looks. `Grey` is suspicious but unconfirmed; `None` is nothing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    None,
    Grey,
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::Grey => "grey",
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[policy]` section of the configuration file, as written by the operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Score at or above which the subject is tagged and a header added.
    pub tag: f64,
    /// Score at or above which the message is quarantined.
    pub quarantine: f64,
    /// Score at or above which the message is rejected (5xx at end of DATA in the gateway).
    pub reject: f64,
    /// Score thresholds of the risk levels.
    pub risk: RiskThresholds,
    /// Per-symbol overrides, keyed by symbol name.
    pub symbols: BTreeMap<Spanned<String>, SymbolOverride>,
    /// Per-group caps, keyed by group name.
    pub groups: BTreeMap<Spanned<String>, GroupConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            tag: 6.0,
            quarantine: 12.0,
            reject: 20.0,
            risk: RiskThresholds::default(),
            symbols: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskThresholds {
    pub grey: f64,
    pub low: f64,
    pub medium: f64,
    pub high: f64,
}

impl Default for RiskThresholds {
    fn default() -> Self {
        RiskThresholds {
            grey: 2.0,
            low: 6.0,
            medium: 12.0,
            high: 20.0,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolOverride {
    /// Replaces the declared default weight.
    pub score: Option<f64>,
    /// `false` ignores the symbol entirely.
    pub enabled: Option<bool>,
    /// Forces this action whenever the symbol fires, before thresholds are read.
    pub force: Option<Action>,
    /// Which forced action wins when several apply (higher wins; default 10).
    pub priority: Option<u32>,
    /// The risk a forced action reports (default: implied by the action).
    pub risk: Option<Risk>,
    /// `false` lifts the symbol's threat floor (its score still counts).
    pub floor: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The most a group can add to the score, however many of its symbols fire.
    pub max_score: Option<f64>,
    /// The most a group can take away (for negative, "good sign" symbols).
    pub min_score: Option<f64>,
}

/// A policy problem found when building: what and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("unknown symbol `{name}` in [policy.symbols]{}", at_line(*.line))]
    UnknownSymbol { name: String, line: Option<usize> },
    #[error("unknown group `{name}` in [policy.groups]{}", at_line(*.line))]
    UnknownGroup { name: String, line: Option<usize> },
    #[error("thresholds must rise: tag ({tag}) <= quarantine ({quarantine}) <= reject ({reject})")]
    ThresholdOrder {
        tag: f64,
        quarantine: f64,
        reject: f64,
    },
    #[error("risk thresholds must rise: grey <= low <= medium <= high")]
    RiskOrder,
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// Line (1-based) of a byte offset, for error messages.
pub fn line_of(source: Option<&str>, offset: usize) -> Option<usize> {
    source.map(|s| {
        s[..offset.min(s.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    })
}

#[derive(Debug, Clone)]
struct SymbolRule {
    score: f64,
    group: Cow<'static, str>,
    category: Category,
    enabled: bool,
    force: Option<Forced>,
    floor: Option<(Action, Risk)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Forced {
    action: Action,
    priority: u32,
    risk: Risk,
}

/// The built policy: every declared symbol's effective rule, group caps and thresholds.
#[derive(Debug, Clone)]
pub struct Policy {
    symbols: HashMap<Cow<'static, str>, SymbolRule>,
    group_caps: HashMap<String, (Option<f64>, Option<f64>)>,
    tag: f64,
    quarantine: f64,
    reject: f64,
    risk: RiskThresholds,
    /// The learned fusion model, when one is configured.
    fusion: Option<Arc<FusionModel>>,
    /// Symbols whose score the administrator set: under fusion that score wins over learning.
    scored_by_admin: HashSet<String>,
}

impl PolicyConfig {
    /// Checks the configuration against the declared symbols and builds the runtime policy.
    /// `source` (the file's text) lets errors name the line.
    pub fn build(&self, table: &SymbolTable, source: Option<&str>) -> Result<Policy, PolicyError> {
        if !(self.tag <= self.quarantine && self.quarantine <= self.reject) {
            return Err(PolicyError::ThresholdOrder {
                tag: self.tag,
                quarantine: self.quarantine,
                reject: self.reject,
            });
        }
        let r = &self.risk;
        if !(r.grey <= r.low && r.low <= r.medium && r.medium <= r.high) {
            return Err(PolicyError::RiskOrder);
        }
        let mut symbols: HashMap<Cow<'static, str>, SymbolRule> = table
            .iter()
            .map(|def| {
                let force = def.force.map(|(action, priority)| Forced {
                    action,
                    priority,
                    risk: action.implied_risk(),
                });
                (
                    def.name.clone(),
                    SymbolRule {
                        score: def.score,
                        group: def.group.clone(),
                        category: def.category,
                        enabled: true,
                        force,
                        floor: def.floor,
                    },
                )
            })
            .collect();
        for (name, o) in &self.symbols {
            let rule = symbols.get_mut(name.get_ref().as_str()).ok_or_else(|| {
                PolicyError::UnknownSymbol {
                    name: name.get_ref().clone(),
                    line: line_of(source, name.span().start),
                }
            })?;
            if let Some(score) = o.score {
                rule.score = score;
            }
            if let Some(enabled) = o.enabled {
                rule.enabled = enabled;
            }
            if o.floor == Some(false) {
                rule.floor = None;
            }
            if let Some(action) = o.force {
                rule.force = Some(Forced {
                    action,
                    priority: o.priority.unwrap_or(10),
                    risk: o.risk.unwrap_or(action.implied_risk()),
                });
            } else if let Some(force) = rule.force.as_mut() {
                if let Some(p) = o.priority {
                    force.priority = p;
                }
                if let Some(risk) = o.risk {
                    force.risk = risk;
                }
            }
        }
        let known_groups: std::collections::HashSet<&str> =
            table.iter().map(|d| d.group.as_ref()).collect();
        let mut group_caps = HashMap::new();
        for (name, g) in &self.groups {
            if !known_groups.contains(name.get_ref().as_str()) {
                return Err(PolicyError::UnknownGroup {
                    name: name.get_ref().clone(),
                    line: line_of(source, name.span().start),
                });
            }
            group_caps.insert(name.get_ref().clone(), (g.max_score, g.min_score));
        }
        let scored_by_admin = self
            .symbols
            .iter()
            .filter(|(_, o)| o.score.is_some())
            .map(|(name, _)| name.get_ref().clone())
            .collect();
        Ok(Policy {
            symbols,
            group_caps,
            tag: self.tag,
            quarantine: self.quarantine,
            reject: self.reject,
            risk: self.risk.clone(),
            fusion: None,
            scored_by_admin,
        })
    }
}

impl Policy {
    /// The effective weight of a symbol (after overrides), if declared.
    pub fn symbol_score(&self, name: &str) -> Option<f64> {
        self.symbols.get(name).map(|r| r.score)
    }

    /// The score at which a message is tagged.
    pub fn tag_threshold(&self) -> f64 {
        self.tag
    }

    /// The score at which a message is quarantined.
    pub fn quarantine_threshold(&self) -> f64 {
        self.quarantine
    }

    /// The score at which a message is rejected.
    pub fn reject_threshold(&self) -> f64 {
        self.reject
    }

    /// The policy with a learned fusion model deciding the spam score.
    pub fn with_fusion(mut self, model: Arc<FusionModel>) -> Result<Policy, String> {
        model.validate()?;
        self.fusion = Some(model);
        Ok(self)
    }

    pub fn fusion(&self) -> Option<&FusionModel> {
        self.fusion.as_deref()
    }

    /// What fusion may learn for a symbol: its prior in points, or `None` when the symbol is
    /// policy that learning never touches (a forced action, a score the administrator set, a
    /// disabled or undeclared symbol), threat evidence (phishing, malware, impersonation,
    /// signatures: labelled spam corpora hold too little of it to weigh it, and the threat
    /// floors decide it anyway) or the classifier's own (it counts through its log-odds).
    pub fn learnable_prior(&self, name: &str) -> Option<f64> {
        let rule = self.symbols.get(name)?;
        let fixed = !rule.enabled
            || rule.category != Category::Spam
            || rule.force.is_some()
            || rule.group == CLASSIFIER_GROUP
            || self.scored_by_admin.contains(name);
        (!fixed).then_some(rule.score)
    }

    /// The log-odds weight a symbol counts with under `model`, whose scale is `points` per
    /// unit of log-odds. What learning never touches counts its policy score on that scale, so
    /// a threat or an administrator's score moves the verdict toward the thresholds exactly as
    /// it does without fusion.
    fn fused_weight(&self, model: &FusionModel, name: &str, rule: &SymbolRule, points: f64) -> f64 {
        if rule.group == CLASSIFIER_GROUP {
            0.0
        } else if rule.force.is_some()
            || rule.category != Category::Spam
            || self.scored_by_admin.contains(name)
        {
            rule.score / points
        } else {
            model.weight(name, rule.score)
        }
    }
}

/// One hit behind a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub strength: f64,
    pub details: String,
    pub location: Location,
}

/// Why the verdict is what it is: one line per symbol that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub symbol: String,
    pub group: String,
    /// What the symbol is evidence of, as declared (None for an undeclared symbol).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// What this symbol added: weight × strongest hit (before group caps).
    pub score: f64,
    /// The action this symbol forced, if it forced one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<Action>,
    pub hits: Vec<Hit>,
}

/// The outcome for one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub action: Action,
    pub score: f64,
    pub risk: Risk,
    /// The symbol whose forced action decided, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced_by: Option<String>,
    /// The threat whose floor raised the action or the risk above what the score gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floored_by: Option<String>,
    /// Groups whose cap changed the score.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capped_groups: Vec<String>,
    /// The learned fusion's calibrated spam probability, when a fusion model decided the score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam_probability: Option<f64>,
    /// Strongest first.
    pub reasons: Vec<Reason>,
}

/// Evidence about attachments rather than text: malware analysers and known-bad signatures.
fn is_file_threat(category: Category) -> bool {
    matches!(category, Category::Malware | Category::Signature)
}

/// The verdict: a pure function of the findings and the policy.
///
/// Under hand weights the classifier's ham evidence (negative points) does not count when
/// malware and signature evidence alone reach the quarantine threshold.
///
/// A symbol counts once, at its strongest hit; group sums are clamped to their caps; a forced
/// action (highest priority, then most severe) wins before thresholds are read.
pub fn decide(findings: &Findings, policy: &Policy) -> Verdict {
    let mut reasons: Vec<Reason> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut max_strength: Vec<f64> = Vec::new();
    for ev in findings {
        let rule = policy.symbols.get(ev.symbol.as_ref());
        if rule.is_some_and(|r| !r.enabled) {
            continue;
        }
        let i = *index.entry(ev.symbol.as_ref()).or_insert_with(|| {
            reasons.push(Reason {
                symbol: ev.symbol.to_string(),
                group: rule.map_or("undeclared", |r| r.group.as_ref()).to_string(),
                category: rule.map(|r| r.category),
                score: 0.0,
                forced: None,
                hits: Vec::new(),
            });
            max_strength.push(0.0);
            reasons.len() - 1
        });
        max_strength[i] = max_strength[i].max(ev.strength);
        reasons[i].hits.push(Hit {
            strength: ev.strength,
            details: ev.details.clone(),
            location: ev.location.clone(),
        });
    }

    let fusion = policy.fusion.as_deref();
    // Under fusion: log-odds, then shown on the policy's point scale.
    let classifier_z = fusion.map_or(0.0, |m| {
        m.classifier
            * findings
                .classifier_probability()
                .map_or(0.0, classifier_logit)
    });
    let mut logit = fusion.map_or(0.0, |m| m.bias + classifier_z);
    let points = fusion.map_or(1.0, |m| m.points_per_logit(policy.tag, policy.quarantine));
    let mut group_sums: Vec<(&str, f64)> = Vec::new();
    let mut forced: Option<(Forced, usize)> = None;
    // The spam model's ham opinion says the text is not bulk mail, not that an attachment is
    // safe: where the file evidence alone reaches quarantine, it does not argue the message
    // down. (Below that it still counts: an Internet shortcut a friend mails, 6 points alone,
    // stays delivered when the text is plainly personal.)
    let file_threat: f64 = reasons
        .iter()
        .zip(&max_strength)
        .filter_map(|(r, &strength)| {
            let rule = policy.symbols.get(r.symbol.as_str())?;
            is_file_threat(rule.category).then(|| (rule.score * strength).max(0.0))
        })
        .sum();
    let ham_opinion_counts = file_threat < policy.quarantine;
    for (i, reason) in reasons.iter_mut().enumerate() {
        let Some(rule) = policy.symbols.get(reason.symbol.as_str()) else {
            continue;
        };
        reason.score = match fusion {
            None if rule.group == CLASSIFIER_GROUP && !ham_opinion_counts => {
                (rule.score * max_strength[i]).max(0.0)
            }
            None => rule.score * max_strength[i],
            Some(_) if rule.group == CLASSIFIER_GROUP => classifier_z * points,
            Some(m) => {
                let z = policy.fused_weight(m, &reason.symbol, rule, points) * max_strength[i];
                logit += z;
                z * points
            }
        };
        match group_sums
            .iter_mut()
            .find(|(g, _)| *g == rule.group.as_ref())
        {
            Some((_, sum)) => *sum += reason.score,
            None => group_sums.push((rule.group.as_ref(), reason.score)),
        }
        if let Some(f) = rule.force {
            let better = match forced {
                None => true,
                Some((cur, _)) => (f.priority, f.action) > (cur.priority, cur.action),
            };
            if better {
                forced = Some((f, i));
            }
        }
    }

    let mut capped_groups = Vec::new();
    let mut score = 0.0;
    // Group caps are a hand-weight device; a fitted model already weighs correlated symbols.
    if fusion.is_some() {
        group_sums.clear();
    }
    for (group, sum) in group_sums {
        let mut total = sum;
        if let Some(&(max, min)) = policy.group_caps.get(group) {
            if let Some(max) = max {
                total = total.min(max);
            }
            if let Some(min) = min {
                total = total.max(min);
            }
        }
        if total != sum {
            capped_groups.push(group.to_string());
        }
        score += total;
    }
    capped_groups.sort();
    let spam_probability = fusion.map(|m| {
        score = policy.tag + (logit - m.tag_logit) * points;
        probability(logit)
    });

    let score_risk = if score >= policy.risk.high {
        Risk::High
    } else if score >= policy.risk.medium {
        Risk::Medium
    } else if score >= policy.risk.low {
        Risk::Low
    } else if score >= policy.risk.grey {
        Risk::Grey
    } else {
        Risk::None
    };

    let (action, risk, forced_by) = match forced {
        Some((f, i)) => {
            reasons[i].forced = Some(f.action);
            (
                f.action,
                score_risk.max(f.risk),
                Some(reasons[i].symbol.clone()),
            )
        }
        None => {
            let action = if score >= policy.reject {
                Action::Reject
            } else if score >= policy.quarantine {
                Action::Quarantine
            } else if score >= policy.tag {
                Action::Tag
            } else {
                Action::Deliver
            };
            (action, score_risk, None)
        }
    };

    // Threat floors: the strongest floor among the symbols that fired raises the action and
    // the risk the score gave; an operator's forced action keeps deciding the action.
    let (mut action, mut risk) = (action, risk);
    let mut floored_by = None;
    let floors = reasons.iter().filter_map(|r| {
        let floor = policy.symbols.get(r.symbol.as_str())?.floor?;
        Some((floor, r.symbol.as_str()))
    });
    if let Some(((floor_action, floor_risk), symbol)) =
        floors.max_by_key(|((a, r), name)| (*a, *r, std::cmp::Reverse(*name)))
    {
        let raises_action = forced_by.is_none() && floor_action > action;
        if raises_action || floor_risk > risk {
            floored_by = Some(symbol.to_string());
        }
        if raises_action {
            action = floor_action;
        }
        risk = risk.max(floor_risk);
    }

    reasons.sort_by(|a, b| {
        b.forced
            .is_some()
            .cmp(&a.forced.is_some())
            .then(b.score.abs().total_cmp(&a.score.abs()))
            .then(a.symbol.cmp(&b.symbol))
    });

    Verdict {
        action,
        score,
        risk,
        forced_by,
        floored_by,
        capped_groups,
        spam_probability,
        reasons,
    }
}

#[cfg(test)]
mod tests;

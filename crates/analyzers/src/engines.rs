//! Signature engines beside our own analysers, run on the objects of the walk: YARA rules in
//! process (the decoded member inside an archive, a macro's source, a PDF's script, a smuggled
//! payload: whatever the walk reaches) and ClamAV through clamd (each attachment and the
//! programs, scripts and documents unpacked from it). Each engine's answer is evidence at the
//! object's location; an engine that fails or runs out of time is recorded and the message
//! moves on by policy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailmoat_core::{Engine, Findings, Judgement, Location, Opinion};
use mailmoat_yara::{MetaValue, RuleMatch, RuleSet};
use serde::Deserialize;

use crate::clamav::{ClamavConfig, Clamd, ClamdError, ClamdVerdict, OnFailure};
use crate::filetype::Kind;

/// `[analyzers.yara]`: YARA rules run on every object the walk reaches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YaraConfig {
    /// Rule files and folders (`*.yar`, `*.yara`, recursively), relative to the config file;
    /// empty: no YARA. Compiled at start and on reload; a broken file fails the reload with
    /// its file:line and the rules in force stay.
    pub rules: Vec<PathBuf>,
    /// Time for one object.
    pub timeout_ms: u64,
    /// Larger objects are not scanned (YARA_SKIPPED).
    pub max_object_bytes: u64,
}

impl Default for YaraConfig {
    fn default() -> Self {
        YaraConfig {
            rules: Vec::new(),
            timeout_ms: 1000,
            max_object_bytes: 32 << 20,
        }
    }
}

/// The engines a configuration turns on, built once (rules compiled, clamd's address read).
#[derive(Debug, Default)]
pub struct Engines {
    pub(crate) yara: Option<(Arc<RuleSet>, YaraConfig)>,
    pub(crate) clamav: Option<(Clamd, ClamavConfig)>,
}

impl Engines {
    pub fn build(
        yara: &YaraConfig,
        clamav: &ClamavConfig,
        base_dir: &Path,
    ) -> Result<Engines, EngineError> {
        let rules = if yara.rules.is_empty() {
            None
        } else {
            let paths: Vec<PathBuf> = yara.rules.iter().map(|p| base_dir.join(p)).collect();
            Some((Arc::new(RuleSet::compile(&paths)?), yara.clone()))
        };
        let clamd = if clamav.enabled {
            Some((
                Clamd::new(clamav).map_err(EngineError::Clamav)?,
                clamav.clone(),
            ))
        } else {
            None
        };
        Ok(Engines {
            yara: rules,
            clamav: clamd,
        })
    }

    /// The compiled YARA rules, when configured.
    pub fn yara_rules(&self) -> Option<&RuleSet> {
        self.yara.as_ref().map(|(r, _)| r.as_ref())
    }

    /// The per-message state of each engine.
    pub(crate) fn start(&self) -> EngineRun<'_> {
        EngineRun {
            yara: self.yara.as_ref().map(|(rules, config)| YaraRun {
                rules,
                timeout: Duration::from_millis(config.timeout_ms.max(1)),
                config,
            }),
            clamav: self.clamav.as_ref().map(|(clamd, config)| ClamavRun {
                clamd,
                config,
                started: Instant::now(),
                sent: 0,
                failure_recorded: false,
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("yara rules: {0}")]
    Yara(#[from] mailmoat_yara::RuleError),
    #[error("clamav address: {0}")]
    Clamav(String),
}

/// One message's engines.
pub(crate) struct EngineRun<'a> {
    yara: Option<YaraRun<'a>>,
    clamav: Option<ClamavRun<'a>>,
}

struct YaraRun<'a> {
    rules: &'a RuleSet,
    timeout: Duration,
    config: &'a YaraConfig,
}

struct ClamavRun<'a> {
    clamd: &'a Clamd,
    config: &'a ClamavConfig,
    started: Instant,
    sent: usize,
    failure_recorded: bool,
}

/// How serious a rule says its match is, from its metadata: `severity` (critical/high/
/// malicious, medium/suspicious, low, info) or, as signature-base writes it, a `score` of
/// 0–100. A rule that says nothing is taken as a detection (the administrator installed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub(crate) fn of(m: &RuleMatch) -> Severity {
        if let Some(MetaValue::String(s)) = m.meta("severity") {
            match s.trim().to_ascii_lowercase().as_str() {
                "critical" | "high" | "malicious" | "malware" => return Severity::High,
                "medium" | "moderate" | "suspicious" => return Severity::Medium,
                "low" => return Severity::Low,
                "info" | "informational" | "none" => return Severity::Info,
                _ => {}
            }
        }
        let score = match m.meta("score") {
            Some(MetaValue::Integer(i)) => Some(*i as f64),
            Some(MetaValue::Float(x)) => Some(*x),
            _ => None,
        };
        match score {
            Some(s) if s >= 75.0 => Severity::High,
            Some(s) if s >= 60.0 => Severity::Medium,
            Some(s) if s >= 40.0 => Severity::Low,
            Some(_) => Severity::Info,
            None => Severity::High,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Severity::High => "YARA_MATCH",
            Severity::Medium => "YARA_MATCH_MEDIUM",
            Severity::Low => "YARA_MATCH_LOW",
            Severity::Info => "YARA_MATCH_INFO",
        }
    }
}

/// "rule family:Dropper_Marker [dropper, test] (family=InertTest, severity=high)".
fn describe(m: &RuleMatch, name: &str) -> String {
    let mut out = format!("{name} matches YARA rule {}:{}", m.namespace, m.rule);
    if !m.tags.is_empty() {
        out.push_str(&format!(" [{}]", m.tags.join(", ")));
    }
    let meta: Vec<String> = m
        .meta
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "family" | "severity" | "score" | "description" | "author" | "reference"
            )
        })
        .map(|(k, v)| {
            let v = v.to_string();
            format!("{k}={}", v.chars().take(120).collect::<String>())
        })
        .collect();
    if !meta.is_empty() {
        out.push_str(&format!(" ({})", meta.join(", ")));
    }
    out
}

/// Whether clamd is asked about an object below the attachment itself: what it may not reach
/// on its own (we may have decrypted the archive) and what carries code.
fn worth_a_second_opinion(kind: Kind) -> bool {
    kind.is_program()
        || matches!(
            kind,
            Kind::Script(_)
                | Kind::Ole
                | Kind::Ooxml
                | Kind::Rtf
                | Kind::Pdf
                | Kind::Html
                | Kind::Lnk
                | Kind::Msi
                | Kind::Chm
                | Kind::Hwpx
        )
}

impl EngineRun<'_> {
    /// Whether an engine reads what is not a file of its own (decompressed streams): YARA.
    pub(crate) fn reads_streams(&self) -> bool {
        self.yara.is_some()
    }

    /// Every engine's look at one object, as evidence and as each engine's opinion. `kind` is
    /// None for what is not a file of its own (a macro's source, a PDF's script): YARA reads
    /// it, clamd is not asked.
    pub(crate) fn judge(
        &mut self,
        findings: &mut Findings,
        location: &Location,
        name: &str,
        data: &[u8],
        kind: Option<Kind>,
        depth: usize,
    ) -> Vec<Opinion> {
        let mut opinions = Vec::new();
        if let Some(yara) = &mut self.yara {
            opinions.push(yara.judge(findings, location, name, data));
        }
        if let (Some(clamav), Some(kind)) = (&mut self.clamav, kind) {
            if depth == 0 || worth_a_second_opinion(kind) {
                opinions.extend(clamav.judge(findings, location, name, data));
            }
        }
        opinions
    }
}

fn opinion(engine: Engine, judgement: Judgement, detail: impl Into<String>) -> Opinion {
    Opinion {
        engine,
        judgement,
        detail: detail.into(),
    }
}

impl YaraRun<'_> {
    fn judge(
        &mut self,
        findings: &mut Findings,
        location: &Location,
        name: &str,
        data: &[u8],
    ) -> Opinion {
        if data.len() as u64 > self.config.max_object_bytes {
            findings.add(
                "YARA_SKIPPED",
                format!(
                    "{name} ({} bytes) is over the YARA size limit of {} bytes; not scanned",
                    data.len(),
                    self.config.max_object_bytes
                ),
                location.clone(),
            );
            return opinion(Engine::Yara, Judgement::NoAnswer, "over the size limit");
        }
        match self.rules.scan(data, self.timeout) {
            Ok(matches) => {
                let mut worst = (Judgement::Clean, String::new());
                for m in matches {
                    let severity = Severity::of(&m);
                    let judgement = match severity {
                        Severity::High => Judgement::Malicious,
                        Severity::Medium | Severity::Low => Judgement::Suspicious,
                        Severity::Info => Judgement::Clean,
                    };
                    let stronger = match (judgement, worst.0) {
                        (Judgement::Malicious, so_far) => so_far != Judgement::Malicious,
                        (Judgement::Suspicious, so_far) => so_far == Judgement::Clean,
                        _ => false,
                    };
                    if stronger {
                        worst = (judgement, format!("{}:{}", m.namespace, m.rule));
                    }
                    findings.add(severity.symbol(), describe(&m, name), location.clone());
                }
                opinion(Engine::Yara, worst.0, worst.1)
            }
            Err(why) => {
                findings.add(
                    "YARA_SKIPPED",
                    format!("YARA could not finish on {name}: {why}"),
                    location.clone(),
                );
                opinion(Engine::Yara, Judgement::NoAnswer, why.to_string())
            }
        }
    }
}

impl ClamavRun<'_> {
    /// None when the object was not sent (over the count or size limit).
    fn judge(
        &mut self,
        findings: &mut Findings,
        location: &Location,
        name: &str,
        data: &[u8],
    ) -> Option<Opinion> {
        if self.sent >= self.config.max_objects || data.len() as u64 > self.config.max_object_bytes
        {
            return None;
        }
        let budget = Duration::from_millis(self.config.message_budget_ms);
        let left = budget.saturating_sub(self.started.elapsed());
        let answer = if left.is_zero() {
            Err(ClamdError::Timeout(self.config.message_budget_ms))
        } else {
            self.sent += 1;
            self.clamd.scan_within(data, left)
        };
        Some(match answer {
            Ok(ClamdVerdict::Clean) => opinion(Engine::Clamav, Judgement::Clean, ""),
            Ok(ClamdVerdict::Found(signature)) => {
                // ClamAV's own heuristics and potentially-unwanted classes are weaker claims
                // than a signature for a known family.
                let heuristic = ["Heuristics.", "PUA."]
                    .iter()
                    .any(|p| signature.starts_with(p));
                findings.add(
                    if heuristic {
                        "AV_HEURISTIC"
                    } else {
                        "AV_VIRUS"
                    },
                    format!("ClamAV: {name} is {signature}"),
                    location.clone(),
                );
                let judgement = if heuristic {
                    Judgement::Suspicious
                } else {
                    Judgement::Malicious
                };
                opinion(Engine::Clamav, judgement, signature)
            }
            Err(why) => {
                // Once per message: one clamd outage is one piece of evidence.
                if !self.failure_recorded {
                    self.failure_recorded = true;
                    findings.add(
                        match self.config.on_failure {
                            OnFailure::Pass => "AV_FAILED",
                            OnFailure::Tempfail => "AV_FAILED_TEMPFAIL",
                        },
                        format!("ClamAV gave no verdict on {name}: {why}"),
                        location.clone(),
                    );
                }
                opinion(Engine::Clamav, Judgement::NoAnswer, why.to_string())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_match(meta: &[(&str, MetaValue)]) -> RuleMatch {
        RuleMatch {
            rule: "R".into(),
            namespace: "ns".into(),
            tags: vec![],
            meta: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn metadata_sets_how_serious_a_match_is() {
        let s = |v: &str| MetaValue::String(v.into());
        assert_eq!(Severity::of(&rule_match(&[])), Severity::High);
        assert_eq!(
            Severity::of(&rule_match(&[("severity", s("Medium"))])),
            Severity::Medium
        );
        assert_eq!(
            Severity::of(&rule_match(&[("severity", s("info"))])),
            Severity::Info
        );
        assert_eq!(
            Severity::of(&rule_match(&[("score", MetaValue::Integer(80))])),
            Severity::High
        );
        assert_eq!(
            Severity::of(&rule_match(&[("score", MetaValue::Integer(65))])),
            Severity::Medium
        );
        assert_eq!(
            Severity::of(&rule_match(&[("score", MetaValue::Integer(50))])),
            Severity::Low
        );
        // An explicit severity wins over a score.
        assert_eq!(
            Severity::of(&rule_match(&[
                ("score", MetaValue::Integer(90)),
                ("severity", s("low"))
            ])),
            Severity::Low
        );
    }
}

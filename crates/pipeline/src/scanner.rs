use std::panic::{catch_unwind, AssertUnwindSafe};

use mailmoat_core::{decide, Findings, Location, Policy, SymbolDef, SymbolTable};
use mailmoat_detectors::Detector;
use mailmoat_mime::{Envelope, MessageView, ViewOptions};

use crate::{Config, ConfigError, Report};

/// Symbols the pipeline itself raises.
pub const SYMBOLS: &[SymbolDef] = &[SymbolDef::scored(
    "DETECTOR_FAILED",
    "pipeline",
    0.0,
    "A detector failed on this message; its checks are missing from the verdict and the message moved on by policy (force an action on this symbol to hold such mail).",
)];

/// Config, built once: symbol table, policy, detectors and view options.
pub struct Scanner {
    table: SymbolTable,
    policy: Policy,
    detectors: Vec<Box<dyn Detector>>,
    view_options: ViewOptions,
}

/// Every symbol declared anywhere in the pipeline, in declaration order.
pub fn symbol_table() -> SymbolTable {
    let mut declarations = mailmoat_detectors::symbols();
    declarations.push(SYMBOLS);
    SymbolTable::new(&declarations).expect("every symbol is declared once (checked by tests)")
}

impl Scanner {
    /// Builds from a parsed config; `source` is the config text, so errors can name lines.
    pub fn new(
        config: &Config,
        source: Option<&str>,
        origin: &str,
    ) -> Result<Scanner, ConfigError> {
        let detectors = config.detectors.build();
        Scanner::with_detectors(config, source, origin, detectors)
    }

    /// Builds with the given detectors instead of the configured ones (tests, tools).
    pub fn with_detectors(
        config: &Config,
        source: Option<&str>,
        origin: &str,
        detectors: Vec<Box<dyn Detector>>,
    ) -> Result<Scanner, ConfigError> {
        let table = symbol_table();
        let policy = config
            .policy
            .build(&table, source)
            .map_err(|source| ConfigError::Policy {
                path: origin.to_string(),
                source,
            })?;
        Ok(Scanner {
            table,
            policy,
            detectors,
            view_options: config.message.clone(),
        })
    }

    /// Scans one message: view once, every detector, then the verdict. Never panics.
    pub fn scan(&self, raw: Vec<u8>, envelope: Envelope) -> Report {
        let view = MessageView::build(raw, envelope, &self.view_options);
        let findings = self.analyze(&view);
        let verdict = decide(&findings, &self.policy);
        Report {
            view,
            findings,
            verdict,
        }
    }

    /// Runs the detectors on a view; a detector that panics is recorded as DETECTOR_FAILED.
    pub fn analyze(&self, view: &MessageView) -> Findings {
        let mut findings = Findings::new();
        for detector in &self.detectors {
            let mut local = Findings::new();
            match catch_unwind(AssertUnwindSafe(|| detector.analyze(view, &mut local))) {
                Ok(()) => findings.extend(local),
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown failure".to_string());
                    findings.add(
                        "DETECTOR_FAILED",
                        format!("{} failed: {why}", detector.name()),
                        Location::message(),
                    );
                }
            }
        }
        findings
    }

    pub fn symbols(&self) -> &SymbolTable {
        &self.table
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmoat_core::Action;

    struct Panics;
    impl Detector for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn analyze(&self, _: &MessageView, _: &mut Findings) {
            panic!("boom");
        }
    }

    #[test]
    fn a_panicking_detector_becomes_evidence_and_the_others_still_run() {
        let config = Config::default();
        let mut detectors = config.detectors.build();
        detectors.insert(0, Box::new(Panics));
        let scanner = Scanner::with_detectors(&config, None, "test", detectors).unwrap();
        let report = scanner.scan(b"Subject: hi\r\n\r\nbody".to_vec(), Envelope::default());
        let failed: Vec<_> = report
            .findings
            .iter()
            .filter(|e| e.symbol == "DETECTOR_FAILED")
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].details, "panics failed: boom");
        assert!(
            report.findings.contains("HDR_MISSING_FROM"),
            "other detectors ran"
        );
        assert_eq!(report.verdict.action, Action::Deliver, "moves on by policy");

        let forced: Config =
            toml::from_str("[policy.symbols.DETECTOR_FAILED]\nforce = \"quarantine\"").unwrap();
        let scanner =
            Scanner::with_detectors(&forced, None, "test", vec![Box::new(Panics)]).unwrap();
        let report = scanner.scan(b"Subject: hi\r\n\r\nbody".to_vec(), Envelope::default());
        assert_eq!(report.verdict.action, Action::Quarantine);
    }

    #[test]
    fn symbol_table_builds() {
        assert!(symbol_table().len() >= 20);
    }

    #[test]
    fn unknown_symbol_in_policy_names_file_and_line() {
        let text = "[policy]\ntag = 5\n\n[policy.symbols.NO_SUCH_SYMBOL]\nscore = 1\n";
        let config = Config::parse(text, "mailmoat.toml").unwrap();
        let err = Scanner::new(&config, Some(text), "mailmoat.toml")
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "mailmoat.toml: unknown symbol `NO_SUCH_SYMBOL` in [policy.symbols] at line 4"
        );
    }
}

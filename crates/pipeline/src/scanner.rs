use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use std::sync::Arc;

use mailmoat_core::{decide, Category, Findings, Location, Policy, SymbolDef, SymbolTable};
use mailmoat_detectors::Detector;
use mailmoat_mime::{Envelope, MessageView, ViewOptions};

use mailmoat_auth::contacts::ContactStore;
use mailmoat_auth::{AuthOutcome, AuthStage};
use mailmoat_rules::{MemoryRateStore, RateStore, RuleSet};

use crate::{Config, ConfigError, Report};

/// Symbols the pipeline itself raises.
pub const SYMBOLS: &[SymbolDef] = &[SymbolDef::new("DETECTOR_FAILED", "pipeline", Category::Spam,
    0.0,
    "A detector failed on this message; its checks are missing from the verdict and the message moved on by policy (force an action on this symbol to hold such mail).",
)];

/// Config, built once: symbol table, policy, detectors, rules and view options.
pub struct Scanner {
    table: SymbolTable,
    policy: Policy,
    detectors: Vec<Box<dyn Detector>>,
    rules: RuleSet,
    spamassassin: Option<SpamAssassinStage>,
    rates: Arc<dyn RateStore>,
    view_options: ViewOptions,
    auth: Option<Arc<AuthStage>>,
    /// The intelligence version in force when this scanner was built (`[intel] dir`).
    intel_version: Option<String>,
}

/// SpamAssassin rules and the symbol each rule reports under: its own name, or `SA_` + name
/// where mailmoat already declares that name (SpamAssassin also has a `MIME_HTML_ONLY`).
struct SpamAssassinStage {
    rules: mailmoat_sarules::SaRules,
    renamed: HashMap<String, String>,
}

/// The group SpamAssassin rule symbols score in.
pub const SPAMASSASSIN_GROUP: &str = "spamassassin";

fn build_spamassassin(
    config: &Config,
    table: &mut SymbolTable,
) -> Result<Option<SpamAssassinStage>, ConfigError> {
    let sa = &config.spamassassin;
    if !sa.enabled {
        return Ok(None);
    }
    let sources: Vec<std::path::PathBuf> =
        sa.rules.iter().map(|p| config.base_dir.join(p)).collect();
    // A gateway starts at once on the built-in engine and switches to Hyperscan when it has
    // compiled the rules (minutes for the stock rules, once per rule change: then cached).
    let engine = if sa.hyperscan {
        mailmoat_sarules::Engine::Hyperscan {
            cache: sa
                .hyperscan_cache
                .as_ref()
                .map(|p| config.base_dir.join(p))
                .or_else(mailmoat_sarules::default_hyperscan_cache),
            background: true,
        }
    } else {
        mailmoat_sarules::Engine::Builtin
    };
    let rules =
        mailmoat_sarules::SaRules::load_with(&sources, sa.score_set, engine).map_err(|source| {
            ConfigError::SpamAssassin {
                path: config.origin.clone(),
                source,
            }
        })?;
    for problem in rules.problems() {
        tracing::warn!(%problem, "SpamAssassin rule line not loaded");
    }
    tracing::info!(
        supported = rules.supported(),
        definitions = rules.definitions(),
        "SpamAssassin rules loaded"
    );
    let mut renamed = HashMap::new();
    for (name, score, description) in rules.reported_rules() {
        let mut symbol = name.to_string();
        if table.get(&symbol).is_some() {
            symbol = format!("SA_{name}");
            renamed.insert(name.to_string(), symbol.clone());
        }
        let description = if description.is_empty() {
            format!("SpamAssassin rule {name}")
        } else {
            format!("SpamAssassin: {description}")
        };
        let def = SymbolDef {
            name: symbol.into(),
            group: SPAMASSASSIN_GROUP.into(),
            category: Category::Spam,
            description: description.into(),
            score: score * sa.scale,
            force: None,
            floor: None,
        };
        if let Err(why) = table.add(def) {
            tracing::warn!(rule = name, %why, "SpamAssassin rule not declared");
        }
    }
    Ok(Some(SpamAssassinStage { rules, renamed }))
}

/// Every symbol declared by the detectors and the pipeline, in declaration order.
pub fn symbol_table() -> SymbolTable {
    let mut declarations = mailmoat_detectors::symbols();
    declarations.push(mailmoat_classifier::detector::SYMBOLS);
    declarations.push(mailmoat_classifier::url_model::SYMBOLS);
    declarations.push(mailmoat_visual::SYMBOLS);
    declarations.push(mailmoat_auth::SYMBOLS);
    declarations.push(mailmoat_analyzers::SYMBOLS);
    declarations.push(SYMBOLS);
    SymbolTable::new(&declarations).expect("every symbol is declared once (checked by tests)")
}

/// Where and when a scan's CPU-bound steps run (see [`Scanner::scan_staged`]).
pub trait ScanRuntime {
    /// Held while a step uses the CPU.
    type Turn: Send;
    /// Waits for a turn to use the CPU.
    fn turn(&self) -> impl std::future::Future<Output = Self::Turn> + Send;
    /// Runs one CPU-bound step where blocking is allowed.
    fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce() -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, ScanError>> + Send;
}

/// Every step at once on the calling thread.
pub struct InPlace;

impl ScanRuntime for InPlace {
    type Turn = ();

    async fn turn(&self) {}

    async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ScanError> {
        Ok(step())
    }
}

/// A scan step that could not run (the runtime lost it: a worker thread panicked or was
/// shut down).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error("a scan step failed: {0}")]
    Step(String),
}

impl Scanner {
    /// Builds everything the configuration names, with a fresh in-process rate store.
    pub fn new(config: &Config) -> Result<Scanner, ConfigError> {
        Scanner::build(
            config,
            configured_detectors(config)?,
            Arc::new(MemoryRateStore::default()),
        )
    }

    /// Builds with the given detectors (tests, tools) and rate store (kept across reloads).
    pub fn build(
        config: &Config,
        detectors: Vec<Box<dyn Detector>>,
        rates: Arc<dyn RateStore>,
    ) -> Result<Scanner, ConfigError> {
        Scanner::build_with(config, detectors, rates, None)
    }

    /// As [`Scanner::build`], with the sender–recipient history to use (kept across reloads;
    /// `None`: the one `[auth]` configures).
    pub fn build_with(
        config: &Config,
        detectors: Vec<Box<dyn Detector>>,
        rates: Arc<dyn RateStore>,
        contacts: Option<Arc<dyn ContactStore>>,
    ) -> Result<Scanner, ConfigError> {
        let mut table = symbol_table();
        // Before the administrator's rules, which may test the SpamAssassin symbols.
        let spamassassin = build_spamassassin(config, &mut table)?;
        let rules = RuleSet::build(&config.rule_sources(), &table)?;
        for def in rules.symbols() {
            // Names were checked against the table while loading.
            let _ = table.add(def.clone());
        }
        let auth = if config.auth.enabled {
            let stage = build_auth(config, contacts)?;
            for def in stage.symbols() {
                table.add(def).map_err(|why| ConfigError::Syntax {
                    path: config.origin.clone(),
                    message: format!("[[auth.dnsbl]]: {why}"),
                })?;
            }
            Some(Arc::new(stage))
        } else {
            None
        };
        let policy = config
            .policy
            .build(&table, config.text.as_deref())
            .map_err(|source| ConfigError::Policy {
                path: config.origin.clone(),
                source,
            })?;
        let policy = match config.fusion_model()? {
            Some(model) => policy
                .with_fusion(model)
                .map_err(|message| ConfigError::Syntax {
                    path: config.origin.clone(),
                    message: format!("[fusion]: {message}"),
                })?,
            None => policy,
        };
        Ok(Scanner {
            table,
            policy,
            detectors,
            rules,
            spamassassin,
            rates,
            view_options: config.message.clone(),
            auth,
            intel_version: config
                .intel
                .dir
                .as_ref()
                .and_then(|dir| crate::intel::current_version(&config.base_dir.join(dir))),
        })
    }

    /// The intelligence version this scanner loaded, when `[intel] dir` has one.
    pub fn intel_version(&self) -> Option<&str> {
        self.intel_version.as_deref()
    }

    /// Scans one message without the DNS checks: view once, every detector, the rules, then
    /// the verdict. Never panics.
    pub fn scan(&self, raw: Vec<u8>, envelope: Envelope) -> Report {
        self.judge(self.view(raw, envelope), None)
    }

    /// Scans one message with the authentication stage first (when `[auth]` is enabled), every
    /// step on the calling thread: tools and tests. The gateway runs the same steps through
    /// [`Scanner::scan_staged`] with its own runtime.
    pub async fn scan_authenticated(self: &Arc<Self>, raw: Vec<u8>, envelope: Envelope) -> Report {
        match self.scan_staged(raw, envelope, &InPlace).await {
            Ok(report) => report,
            // InPlace never fails a step.
            Err(ScanError::Step(why)) => unreachable!("a step run in place failed: {why}"),
        }
    }

    /// The whole scan as every entry point runs it: the view, then the authentication stage
    /// (DNS; no CPU turn is held while it waits), then detectors, rules and the verdict. The
    /// CPU-bound steps take a turn from `runtime` and run where it says (the gateway: its scan
    /// slots, oldest message first, and the blocking thread pool).
    pub async fn scan_staged<R: ScanRuntime>(
        self: &Arc<Self>,
        raw: Vec<u8>,
        envelope: Envelope,
        runtime: &R,
    ) -> Result<Report, ScanError> {
        let turn = runtime.turn().await;
        let scanner = self.clone();
        if self.auth.is_none() {
            let report = runtime.run(move || scanner.scan(raw, envelope)).await;
            drop(turn);
            return report;
        }
        let view = runtime.run(move || scanner.view(raw, envelope)).await?;
        drop(turn);
        let auth = match &self.auth {
            Some(stage) => Some(stage.check(&view).await),
            None => None,
        };
        // Back from DNS: a new turn (the gateway serves the oldest message first).
        let _turn = runtime.turn().await;
        let scanner = self.clone();
        runtime.run(move || scanner.judge(view, auth)).await
    }

    /// The parsed view every later step reads.
    pub fn view(&self, raw: Vec<u8>, envelope: Envelope) -> MessageView {
        MessageView::build(raw, envelope, &self.view_options)
    }

    /// Detectors, rules and verdict for a view, with what the authentication stage found.
    pub fn judge(&self, view: MessageView, auth: Option<AuthOutcome>) -> Report {
        let earlier = auth
            .as_ref()
            .map(|a| a.findings.clone())
            .unwrap_or_default();
        let findings = self.evidence_after(&view, earlier);
        let verdict = decide(&findings, &self.policy);
        Report {
            view,
            findings,
            verdict,
            auth,
        }
    }

    /// Whether the administrator's lists and rate limits refuse the SMTP envelope known at
    /// `phase` (client IP at connect, sender at MAIL, one recipient at RCPT): the verdict when
    /// the policy's action is reject or tempfail, `None` to go on. An allow entry wins here as
    /// it does after DATA.
    pub fn check_envelope(
        &self,
        envelope: &Envelope,
        phase: mailmoat_rules::Phase,
        now: i64,
    ) -> Option<mailmoat_core::Verdict> {
        let view = MessageView {
            envelope: envelope.clone(),
            ..MessageView::default()
        };
        let findings = catch_unwind(AssertUnwindSafe(|| {
            self.rules
                .envelope_findings(&view, phase, self.rates.as_ref(), now)
        }))
        .unwrap_or_default();
        if findings.is_empty() {
            return None;
        }
        let verdict = decide(&findings, &self.policy);
        matches!(
            verdict.action,
            mailmoat_core::Action::Reject | mailmoat_core::Action::Tempfail
        )
        .then_some(verdict)
    }

    /// The authentication stage, when `[auth]` enables it.
    pub fn auth(&self) -> Option<&Arc<AuthStage>> {
        self.auth.as_ref()
    }

    /// The verdict after evidence the caller found itself (`mailmoat replay`'s classifier,
    /// learning as it goes), which the rules can test as they test the detectors'.
    pub fn verdict_after(&self, view: &MessageView, earlier: Findings) -> mailmoat_core::Verdict {
        decide(&self.evidence_after(view, earlier), &self.policy)
    }

    /// `earlier`, then what the detectors and rules find.
    fn evidence_after(&self, view: &MessageView, mut earlier: Findings) -> Findings {
        let found = self.analyze_with(view, &earlier);
        earlier.extend(found);
        earlier
    }

    /// Runs the detectors, then the rules (which may test the detectors' symbols). A detector
    /// that panics is recorded as DETECTOR_FAILED and the others still run.
    pub fn analyze(&self, view: &MessageView) -> Findings {
        self.analyze_with(view, &Findings::new())
    }

    /// As [`Scanner::analyze`], after evidence found earlier (the authentication stage's),
    /// which the rules can test; returns only the new evidence.
    fn analyze_with(&self, view: &MessageView, earlier: &Findings) -> Findings {
        let mut findings = earlier.clone();
        let earlier_len = findings.len();
        for detector in &self.detectors {
            let mut local = Findings::new();
            match catch_unwind(AssertUnwindSafe(|| detector.analyze(view, &mut local))) {
                Ok(()) => findings.extend(local),
                Err(panic) => {
                    let why =
                        mailmoat_core::panic_text(panic.as_ref()).unwrap_or("unknown failure");
                    findings.add(
                        "DETECTOR_FAILED",
                        format!("{} failed: {why}", detector.name()),
                        Location::message(),
                    );
                }
            }
        }
        if let Some(sa) = &self.spamassassin {
            let checked = catch_unwind(AssertUnwindSafe(|| {
                sa.rules.evaluate(view, &mut findings, |name| {
                    sa.renamed
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| name.to_string())
                })
            }));
            if checked.is_err() {
                findings.add(
                    "DETECTOR_FAILED",
                    "SpamAssassin rules failed",
                    Location::message(),
                );
            }
        }
        let now = view.envelope.received_at.unwrap_or_else(unix_now);
        let rules = catch_unwind(AssertUnwindSafe(|| {
            self.rules
                .evaluate(view, &mut findings, self.rates.as_ref(), now)
        }));
        if rules.is_err() {
            findings.add("DETECTOR_FAILED", "rules failed", Location::message());
        }
        findings.split_off(earlier_len)
    }

    pub fn symbols(&self) -> &SymbolTable {
        &self.table
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Waits while SpamAssassin's rules compile for Hyperscan in the background (a gateway
    /// starts at once on the built-in engine, which matches the same but slower): what a
    /// speed measurement wants. The engine that then matches, if the rules are loaded.
    pub fn wait_for_spamassassin_engine(&self, timeout: std::time::Duration) -> Option<String> {
        self.spamassassin.as_ref().map(|stage| {
            stage.rules.wait_for_hyperscan(timeout);
            stage.rules.engine()
        })
    }
}

/// The authentication stage `[auth]` configures. Our domains for AUTH_PROTECTED_DOMAIN_SPOOFED
/// are the gateway's protected domains and the impersonation detector's.
fn build_auth(
    config: &Config,
    contacts: Option<Arc<dyn ContactStore>>,
) -> Result<AuthStage, ConfigError> {
    let mut protected: Vec<String> = config.site.protected_domains.clone();
    protected.extend(
        config
            .detectors
            .impersonation
            .protected_domains
            .iter()
            .cloned(),
    );
    let err = |source| ConfigError::Auth {
        path: config.origin.clone(),
        source,
    };
    match contacts {
        Some(store) => {
            let resolver = Arc::new(
                mailmoat_auth::dns::ConfiguredResolver::new(&config.auth.dns)
                    .map_err(|e| err(e.into()))?,
            );
            AuthStage::with_parts(
                &config.auth,
                resolver,
                Some(store),
                &config.site.hostname,
                &config.message.trusted_networks,
                &protected,
            )
            .map_err(err)
        }
        None => AuthStage::new(
            &config.auth,
            &config.base_dir,
            &config.site.hostname,
            &config.message.trusted_networks,
            &protected,
        )
        .map_err(err),
    }
}

/// The detectors and stage-2 analysers a configuration enables, without the classifier (the
/// case runner's detector cases use this, so retraining the model never changes them).
pub fn analysis_detectors(config: &Config) -> Result<Vec<Box<dyn Detector>>, ConfigError> {
    let mut detectors = config.detectors.build();
    if config.analyzers.attachments.enabled {
        let failed = |source| ConfigError::Analyzers {
            path: config.origin.clone(),
            source,
        };
        // The installed intelligence adds to what the configuration names.
        let intel = config.installed_intel()?;
        let mut yara = config.analyzers.yara.clone();
        let mut variants = config.analyzers.variants.clone();
        let mut hash_lists = Vec::new();
        if let Some(intel) = &intel {
            yara.rules.extend(intel.yara());
            if variants.store.is_none() {
                variants.store = intel.variants();
            }
            hash_lists = intel.hash_lists();
        }
        let engines =
            mailmoat_analyzers::Engines::build(&yara, &config.analyzers.clamav, &config.base_dir)
                .map_err(|e| failed(e.into()))?;
        let attachments = config
            .analyzers
            .attachments
            .build(&variants, &config.base_dir)
            .map_err(failed)?
            .with_known_bad(&hash_lists)
            .map_err(failed)?
            .with_engines(engines);
        detectors.push(Box::new(attachments));
    }
    let brands = config.detectors.impersonation.brand_list();
    let visual = config
        .url_visual
        .build(&config.base_dir, &brands)
        .map_err(|source| ConfigError::UrlVisual {
            path: config.origin.clone(),
            source,
        })?;
    if let Some(v) = visual {
        detectors.push(Box::new(v));
    }
    Ok(detectors)
}

/// The detectors a configuration enables: stage-1 detectors and stage-2 analysers, then the
/// classifier (its model is loaded here, so a missing or damaged model file is a configuration
/// error).
pub fn configured_detectors(config: &Config) -> Result<Vec<Box<dyn Detector>>, ConfigError> {
    let mut detectors = analysis_detectors(config)?;
    let classifier = config
        .classifier
        .build(&config.base_dir)
        .map_err(|source| ConfigError::Classifier {
            path: config.origin.clone(),
            source,
        })?;
    if let Some(c) = classifier {
        detectors.push(Box::new(c));
    }
    let url_model =
        config
            .url_model
            .build(&config.base_dir)
            .map_err(|source| ConfigError::UrlModel {
                path: config.origin.clone(),
                source,
            })?;
    if let Some(m) = url_model {
        detectors.push(Box::new(m));
    }
    Ok(detectors)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
        let config = Config::defaults();
        let mut detectors = config.detectors.build();
        detectors.insert(0, Box::new(Panics));
        let scanner =
            Scanner::build(&config, detectors, Arc::new(MemoryRateStore::default())).unwrap();
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

        let forced = Config::parse(
            "[policy.symbols.DETECTOR_FAILED]\nforce = \"quarantine\"",
            "t",
        )
        .unwrap();
        let scanner = Scanner::build(
            &forced,
            vec![Box::new(Panics)],
            Arc::new(MemoryRateStore::default()),
        )
        .unwrap();
        let report = scanner.scan(b"Subject: hi\r\n\r\nbody".to_vec(), Envelope::default());
        assert_eq!(report.verdict.action, Action::Quarantine);
    }

    #[test]
    fn symbol_table_builds() {
        assert!(symbol_table().len() >= 20);
    }

    #[test]
    fn spamassassin_rules_become_weighted_symbols_and_policy_can_test_them() {
        let dir = std::env::temp_dir().join(format!("mailmoat-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("local.cf"),
            "body LOCAL_PRIZE /claim your prize/i\ndescribe LOCAL_PRIZE Prize claim\nscore LOCAL_PRIZE 4.0\n\
             header MIME_HTML_ONLY Content-Type =~ /text\\/html/\nscore MIME_HTML_ONLY 0.5\n",
        )
        .unwrap();
        let text = "[spamassassin]\nenabled = true\nrules = [\"local.cf\"]\nscale = 2.0\n\n\
                    [policy.symbols.LOCAL_PRIZE]\nscore = 7.0\n";
        let mut config = Config::parse(text, "mailmoat.toml").unwrap();
        config.base_dir = dir.clone();
        let scanner = Scanner::new(&config).unwrap();
        let def = scanner.symbols().get("LOCAL_PRIZE").unwrap();
        assert_eq!((def.score, def.group.as_ref()), (8.0, SPAMASSASSIN_GROUP));
        // A name mailmoat already declares is reported with a prefix.
        assert!(scanner.symbols().get("SA_MIME_HTML_ONLY").is_some());
        let raw = b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\nContent-Type: text/html\r\n\r\n<p>Claim your prize today</p>\r\n";
        let report = scanner.scan(raw.to_vec(), Envelope::default());
        let names = report.symbol_names();
        assert!(names.contains(&"LOCAL_PRIZE"), "{names:?}");
        assert!(names.contains(&"SA_MIME_HTML_ONLY"), "{names:?}");
        let prize = report
            .verdict
            .reasons
            .iter()
            .find(|r| r.symbol == "LOCAL_PRIZE")
            .unwrap();
        // The administrator's [policy.symbols] weight wins over SpamAssassin's score.
        assert_eq!(prize.score, 7.0);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unknown_symbol_in_policy_names_file_and_line() {
        let text = "[policy]\ntag = 5\n\n[policy.symbols.NO_SUCH_SYMBOL]\nscore = 1\n";
        let config = Config::parse(text, "mailmoat.toml").unwrap();
        let err = Scanner::new(&config).err().unwrap();
        assert_eq!(
            err.to_string(),
            "mailmoat.toml: unknown symbol `NO_SUCH_SYMBOL` in [policy.symbols] at line 4"
        );
    }
}

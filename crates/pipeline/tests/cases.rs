//! Runs every case file through the whole scan path (view, all detectors, verdict):
//! `crates/detectors/src/*/cases/*.case` (each detector's cases, beside its code),
//! `rules/cases/*.case` (the default rule pack's, beside it) and `crates/pipeline/cases/*.case`
//! (pipeline behaviour) and `crates/classifier/cases/*.case` (the built-in model's).
//!
//! `config:` lines are joined into a configuration file for that case (default otherwise).
//! Cases with `dns:` lines (records as in `[auth.dns] records`) also run the authentication
//! stage, answering DNS from those records only; `first-contact` turns first-contact tracking
//! on for the case and `known-contact: SENDER RECIPIENT` says who has written to whom before.
//! Other cases run without the authentication stage (no DNS in tests).
//! Detector and rule-pack cases run without the statistical classifier, so that retraining the
//! model never changes what they test; classifier and pipeline cases run the whole default
//! configuration, classifier included.
//!
//! A case file is a few directive lines, a blank line, then the raw message:
//!
//! ```text
//! # why this case exists
//! expect: ATTACH_DOUBLE_EXTENSION at attachment invoice.pdf.exe
//! expect-not: ATTACH_DECEPTIVE_UNICODE
//! expect-no-others
//! expect-action: quarantine
//! expect-risk: medium
//! with-failing-detector
//! mail-from: sender@example.com
//! rcpt-to: user@corp.example
//! client-ip: 203.0.113.5
//! helo: mail.example.com
//! received-at: 1672653600
//! config: [detectors.impersonation]
//! config: vip_names = ["Kim Min-jun"]
//!
//! From: ...
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mailmoat_core::{Findings, SymbolTable};
use mailmoat_detectors::Detector;
use mailmoat_mime::{Envelope, MessageView};
use std::sync::Arc;

use mailmoat_auth::contacts::{ContactStore, MemoryContacts};
use mailmoat_pipeline::{Config, Report, Scanner};
use mailmoat_rules::MemoryRateStore;

struct Case {
    path: PathBuf,
    expect: Vec<(String, Option<String>)>,
    expect_not: Vec<String>,
    no_others: bool,
    action: Option<String>,
    risk: Option<String>,
    failing_detector: bool,
    with_classifier: bool,
    config: String,
    dns: Vec<String>,
    first_contact: bool,
    known_contacts: Vec<(String, String)>,
    envelope: Envelope,
    raw: Vec<u8>,
}

fn parse_case(path: &Path) -> Result<Case, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| format!("{}: no blank line after the directives", path.display()))?;
    let directives =
        std::str::from_utf8(&bytes[..split]).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut case = Case {
        path: path.to_path_buf(),
        expect: Vec::new(),
        expect_not: Vec::new(),
        no_others: false,
        action: None,
        risk: None,
        failing_detector: false,
        // Classifier and pipeline cases test the whole default configuration.
        with_classifier: std::fs::canonicalize(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .components()
            .any(|c| {
                let c = c.as_os_str();
                c == "classifier" || c == "pipeline"
            }),
        config: String::new(),
        dns: Vec::new(),
        first_contact: false,
        known_contacts: Vec::new(),
        envelope: Envelope::default(),
        raw: bytes[split + 2..].to_vec(),
    };
    for (n, line) in directives.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "expect-no-others" {
            case.no_others = true;
            continue;
        }
        if line == "with-failing-detector" {
            case.failing_detector = true;
            continue;
        }
        if line == "first-contact" {
            case.first_contact = true;
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("{}:{}: not a directive: {line}", path.display(), n + 1))?;
        let value = value.trim();
        match key.trim() {
            "expect" => {
                let (symbol, at) = match value.split_once(" at ") {
                    Some((s, at)) => (s.trim().to_string(), Some(at.trim().to_string())),
                    None => (value.to_string(), None),
                };
                case.expect.push((symbol, at));
            }
            "expect-action" => case.action = Some(value.to_string()),
            "config" => {
                case.config.push_str(value);
                case.config.push('\n');
            }
            "expect-risk" => case.risk = Some(value.to_string()),
            "dns" => case.dns.push(value.to_string()),
            "known-contact" => {
                let (sender, rcpt) = value.split_once(' ').ok_or_else(|| {
                    format!(
                        "{}:{}: known-contact: SENDER RECIPIENT",
                        path.display(),
                        n + 1
                    )
                })?;
                case.known_contacts
                    .push((sender.trim().to_string(), rcpt.trim().to_string()));
            }
            "expect-not" => case
                .expect_not
                .extend(value.split_whitespace().map(str::to_string)),
            "mail-from" => case.envelope.mail_from = Some(value.to_string()),
            "rcpt-to" => case.envelope.rcpt_to.push(value.to_string()),
            "client-ip" => {
                case.envelope.client_ip = Some(
                    value
                        .parse()
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                )
            }
            "helo" => case.envelope.helo = Some(value.to_string()),
            "received-at" => {
                case.envelope.received_at = Some(
                    value
                        .parse()
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                )
            }
            other => {
                return Err(format!(
                    "{}:{}: unknown directive {other}",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    Ok(case)
}

fn case_files() -> Vec<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![
        manifest.join("cases"),
        manifest.join("../../rules/cases"),
        manifest.join("../classifier/cases"),
        manifest.join("../auth/cases"),
        manifest.join("../analyzers/cases"),
    ];
    let detectors = manifest.join("../detectors/src");
    for detector in std::fs::read_dir(&detectors).expect("detectors src dir") {
        dirs.push(detector.expect("dir entry").path().join("cases"));
    }
    let mut files = Vec::new();
    for dir in dirs {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries {
                let p = e.expect("dir entry").path();
                if p.extension().is_some_and(|x| x == "case") {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

/// A detector that always fails, to exercise the pipeline's isolation.
struct Failing;
impl Detector for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn analyze(&self, _: &MessageView, _: &mut Findings) {
        panic!("deliberate failure for a test case");
    }
}

/// The full symbol table of the default configuration (built-ins and the default pack).
fn table() -> SymbolTable {
    let config = Config::defaults();
    Scanner::new(&config)
        .expect("defaults build")
        .symbols()
        .clone()
}

fn run(case: &Case) -> (Report, SymbolTable) {
    let mut config = if case.config.is_empty() {
        Config::defaults()
    } else {
        Config::parse(&case.config, &case.path.display().to_string())
            .unwrap_or_else(|e| panic!("{}: config: {e}", case.path.display()))
    };
    let mut detectors = if case.with_classifier {
        mailmoat_pipeline::configured_detectors(&config).expect("default detectors build")
    } else {
        mailmoat_pipeline::analysis_detectors(&config)
            .unwrap_or_else(|e| panic!("{}: {e}", case.path.display()))
    };
    if case.failing_detector {
        detectors.push(Box::new(Failing));
    }
    let authenticate = !case.dns.is_empty();
    config.auth.enabled = authenticate;
    config.auth.dns.only_records = true;
    config.auth.dns.records = case.dns.clone();
    config.auth.first_contact = case.first_contact;
    let contacts: Option<Arc<dyn ContactStore>> = case.first_contact.then(|| {
        let store = MemoryContacts::new(1000);
        for (sender, rcpt) in &case.known_contacts {
            store.record(sender, rcpt, 0);
        }
        Arc::new(store) as Arc<dyn ContactStore>
    });
    let scanner = Arc::new(
        Scanner::build_with(
            &config,
            detectors,
            Arc::new(MemoryRateStore::default()),
            contacts,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.path.display())),
    );
    let report = if authenticate {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(scanner.scan_authenticated(case.raw.clone(), case.envelope.clone()))
    } else {
        scanner.scan(case.raw.clone(), case.envelope.clone())
    };
    (report, scanner.symbols().clone())
}

#[test]
fn every_case_passes() {
    let files = case_files();
    assert!(
        files.len() > 20,
        "expected the case files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let case = match parse_case(path) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let (report, case_table) = run(&case);
        let findings = &report.findings;
        let name = case.path.display().to_string();
        let name = name.rsplit("crates/").next().unwrap_or(&name).to_string();
        if let Some(action) = &case.action {
            if report.verdict.action.as_str() != action {
                failures.push(format!(
                    "{name}: expected action {action}, got {} (score {:.2})",
                    report.verdict.action, report.verdict.score
                ));
            }
        }
        if let Some(risk) = &case.risk {
            if report.verdict.risk.as_str() != risk {
                failures.push(format!(
                    "{name}: expected risk {risk}, got {} (score {:.2})",
                    report.verdict.risk, report.verdict.score
                ));
            }
        }
        let raised: BTreeSet<&str> = findings.iter().map(|e| e.symbol.as_ref()).collect();
        for (symbol, at) in &case.expect {
            if case_table.get(symbol).is_none() {
                failures.push(format!("{name}: expects undeclared symbol {symbol}"));
            }
            let hit = findings.iter().any(|e| {
                e.symbol == *symbol && at.as_ref().is_none_or(|at| e.location.to_string() == *at)
            });
            if !hit {
                let got: Vec<String> = findings
                    .iter()
                    .map(|e| format!("{} at {}", e.symbol, e.location))
                    .collect();
                failures.push(format!(
                    "{name}: expected {symbol}{} but got {got:?}",
                    at.as_ref().map(|a| format!(" at {a}")).unwrap_or_default()
                ));
            }
        }
        for symbol in &case.expect_not {
            if case_table.get(symbol).is_none() {
                failures.push(format!(
                    "{name}: expect-not names undeclared symbol {symbol}"
                ));
            }
            if let Some(e) = findings.iter().find(|e| e.symbol == *symbol) {
                failures.push(format!("{name}: did not expect {symbol} ({})", e.details));
            }
        }
        if case.no_others {
            let expected: BTreeSet<&str> = case.expect.iter().map(|(s, _)| s.as_str()).collect();
            let extra: Vec<&&str> = raised.difference(&expected).collect();
            if !extra.is_empty() {
                failures.push(format!("{name}: unexpected symbols {extra:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_declared_symbol_has_a_case() {
    let mut expected = BTreeSet::new();
    for path in case_files() {
        let case = parse_case(&path).expect("case parses");
        expected.extend(case.expect.into_iter().map(|(s, _)| s));
    }
    let table = table();
    // The visual analysis needs a browser and a web server to visit: its symbols are checked
    // end to end by crates/visual/tests/loopback_kits.rs instead of by a .case file. The
    // signature engines need the YARA engine (a feature of the binary) and a running clamd:
    // crates/mailmoat/tests/engines.rs checks each of their symbols.
    let missing: Vec<&str> = table
        .iter()
        .map(|d| d.name.as_ref())
        .filter(|n| {
            !expected.contains(*n)
                && !n.starts_with("URL_VISUAL_")
                && !n.starts_with("YARA_")
                && !n.starts_with("AV_")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "symbols without a case that expects them: {missing:?}"
    );
}

use super::*;

/// A report as the gateway stored it before the type was versioned (written by `mailmoat scan
/// --json` of that time, with authentication and an exception added as the gateway adds them,
/// one symbol from before categories were declared and one with a category from the future).
const STORED_BEFORE_VERSION_1: &str = include_str!("stored-before-version-1.json");

#[test]
fn reports_stored_before_versioning_read_as_the_type() {
    let report: ScanReport = serde_json::from_str(STORED_BEFORE_VERSION_1).unwrap();
    assert_eq!(report.version, 0);
    assert_eq!(report.action, Action::Reject);
    assert_eq!(report.risk, Risk::High);
    assert_eq!(report.score, 20.7);
    assert_eq!(
        report.from_address(),
        Some("billing@invoices-portal.example")
    );
    assert_eq!(
        report.message.subject.as_deref(),
        Some("Overdue invoice 2023-0117")
    );
    assert_eq!(
        report.message.attachments[0].sniffed_type.as_deref(),
        Some("application/x-dosexec")
    );
    assert_eq!(
        report.message.received[0].line(),
        "from unknown [198.51.100.77] (helo pc-8812) by mx.corp.example with SMTP"
    );
    let auth = report.authentication.as_ref().unwrap();
    assert_eq!(auth.dkim[0].domain, "invoices-portal.example");
    assert_eq!(auth.dnsbl[0].zone, "zen.spamhaus.example");
    assert!(report
        .exception
        .as_deref()
        .unwrap()
        .contains("bob@corp.example"));
    // Declared category, legacy group, unknown category.
    assert_eq!(
        report.symbols["ATTACH_EXECUTABLE_EXT"].evidence_category(),
        Some(Category::Malware)
    );
    assert_eq!(
        report.symbols["DOC_MACRO_AUTOOPEN"].evidence_category(),
        Some(Category::Malware)
    );
    assert_eq!(
        report.symbols["FUTURE_ENGINE_HIT"].evidence_category(),
        None
    );
    assert_eq!(
        report.symbols["DOC_MACRO_AUTOOPEN"].hits[0]
            .location
            .to_string(),
        "attachment invoice.pdf.exe > Module1"
    );
}

#[test]
fn a_report_reads_back_as_written() {
    let mut report: ScanReport = serde_json::from_str(STORED_BEFORE_VERSION_1).unwrap();
    report.version = SCAN_REPORT_VERSION;
    report.spam_probability = Some(0.981);
    report.floored_by = Some("ATTACH_EXECUTABLE_EXT".into());
    // A category this build does not know is dropped on reading, so it is not written again.
    report
        .symbols
        .get_mut("FUTURE_ENGINE_HIT")
        .unwrap()
        .category = None;
    let text = serde_json::to_string(&report).unwrap();
    let again: ScanReport = serde_json::from_str(&text).unwrap();
    assert_eq!(again, report);
}

#[test]
fn an_almost_empty_stored_report_still_reads() {
    let report: ScanReport = serde_json::from_str(r#"{"action": "tag"}"#).unwrap();
    assert_eq!(report.action, Action::Tag);
    assert_eq!(report.risk, Risk::None);
    assert!(report.symbols.is_empty());
    assert_eq!(report.from_address(), None);
}

fn symbol(score: f64, group: &str, category: Option<Category>) -> SymbolReport {
    SymbolReport {
        score,
        group: group.into(),
        category,
        forced: None,
        hits: Vec::new(),
    }
}

fn report(action: Action, symbols: &[(&str, SymbolReport)]) -> ScanReport {
    ScanReport {
        action,
        symbols: symbols
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect(),
        ..ScanReport::default()
    }
}

#[test]
fn detection_is_the_forcing_symbols_category_else_the_category_with_most_score() {
    let delivered = report(
        Action::Deliver,
        &[("X", symbol(9.0, "headers", Some(Category::Spam)))],
    );
    assert_eq!(delivered.detection(), None);
    assert_eq!(delivered.detection_name(), "clean");

    let mixed = report(
        Action::Quarantine,
        &[
            ("A", symbol(3.0, "headers", Some(Category::Spam))),
            ("B", symbol(2.0, "urls", Some(Category::Phishing))),
            ("C", symbol(2.0, "urls", Some(Category::Phishing))),
            ("D", symbol(-5.0, "lists", Some(Category::Policy))),
        ],
    );
    assert_eq!(mixed.detection(), Some(Category::Phishing));

    let mut forced = mixed.clone();
    forced
        .symbols
        .insert("DENY".into(), symbol(0.0, "lists", Some(Category::Policy)));
    forced.forced_by = Some("DENY".into());
    assert_eq!(forced.detection(), Some(Category::Policy));

    // Nothing to tell from: counted as spam on the dashboard.
    assert_eq!(report(Action::Tag, &[]).detection(), Some(Category::Spam));
    assert_eq!(
        report(Action::Tag, &[("Z", symbol(1.0, "engines", None))]).detection(),
        Some(Category::Spam)
    );
}

#[test]
fn symbols_strongest_first_break_ties_by_name() {
    let r = report(
        Action::Tag,
        &[
            ("B", symbol(1.0, "headers", None)),
            ("A", symbol(1.0, "headers", None)),
            ("C", symbol(4.0, "headers", None)),
        ],
    );
    let names: Vec<&str> = r
        .symbols_strongest_first()
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(names, ["C", "A", "B"]);
}

#[test]
fn a_huge_archive_lists_its_first_objects_and_every_object_a_hit_names() {
    use mailmoat_core::policy::{Reason, Verdict};
    use mailmoat_core::Findings;
    let mut findings = Findings::new();
    let member = |i: usize| Location::new("attachment big.zip").child(format!("m{i}.txt"));
    for i in 0..MAX_REPORTED_OBJECTS + 100 {
        findings.add_object(member(i), format!("m{i}.txt"), "text", 1, "00");
    }
    let named = member(MAX_REPORTED_OBJECTS + 50);
    let verdict = Verdict {
        action: Action::Quarantine,
        score: 8.0,
        risk: Risk::Medium,
        forced_by: None,
        floored_by: None,
        capped_groups: Vec::new(),
        spam_probability: None,
        reasons: vec![Reason {
            symbol: "ARCHIVE_EXECUTABLE".into(),
            group: "attachments".into(),
            category: Some(Category::Malware),
            score: 8.0,
            forced: None,
            hits: vec![Hit {
                strength: 1.0,
                details: String::new(),
                location: named.clone(),
            }],
        }],
    };
    let report = crate::Report {
        view: Default::default(),
        findings,
        verdict,
        auth: None,
    }
    .scan_report("Q1");
    assert_eq!(report.objects.len(), MAX_REPORTED_OBJECTS + 1);
    assert_eq!(report.objects_omitted, 99);
    let kept = report.object_at(&named).unwrap();
    assert_eq!(
        kept.id as usize,
        MAX_REPORTED_OBJECTS + 50,
        "ids stay walk positions"
    );
}

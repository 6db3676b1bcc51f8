use super::*;
use crate::{Category, Findings, Location, SymbolDef};

const DEFS: &[SymbolDef] = &[
    SymbolDef::new("A_ONE", "alpha", Category::Spam, 3.0, "a"),
    SymbolDef::new("A_TWO", "alpha", Category::Spam, 4.0, "a"),
    SymbolDef::new("B_ONE", "beta", Category::Spam, 5.0, "b"),
    SymbolDef::new("GOOD", "beta", Category::Spam, -2.0, "good sign"),
    SymbolDef {
        name: std::borrow::Cow::Borrowed("VIRUS"),
        group: std::borrow::Cow::Borrowed("malware"),
        category: Category::Malware,
        description: std::borrow::Cow::Borrowed("known bad"),
        score: 0.0,
        force: Some((Action::Reject, 100)),
        floor: None,
    },
    SymbolDef::threat(
        "EXPLOIT",
        "malware",
        Category::Malware,
        1.0,
        (Action::Quarantine, Risk::High),
        "a known exploit family",
    ),
    SymbolDef::threat(
        "BOMB",
        "malware",
        Category::Malware,
        0.5,
        (Action::Tag, Risk::Medium),
        "a bomb",
    ),
];

fn table() -> SymbolTable {
    SymbolTable::new(&[DEFS]).unwrap()
}

fn policy(toml_text: &str) -> Policy {
    let cfg: PolicyConfig = toml::from_str(toml_text).unwrap();
    cfg.build(&table(), Some(toml_text)).unwrap()
}

fn findings(symbols: &[(&'static str, f64)]) -> Findings {
    let mut f = Findings::new();
    for (s, strength) in symbols {
        f.add_with_strength(*s, *strength, "why", Location::message());
    }
    f
}

#[test]
fn nothing_found_is_delivered_with_no_risk() {
    let v = decide(&Findings::new(), &policy(""));
    assert_eq!(
        (v.action, v.score, v.risk),
        (Action::Deliver, 0.0, Risk::None)
    );
    assert!(v.reasons.is_empty());
}

#[test]
fn thresholds_pick_the_action_at_each_boundary() {
    let p = policy("tag = 3\nquarantine = 7\nreject = 9\n[risk]\ngrey=1\nlow=3\nmedium=7\nhigh=9");
    let cases = [
        (vec![], Action::Deliver, Risk::None),
        (vec![("A_ONE", 1.0)], Action::Tag, Risk::Low),
        (vec![("A_ONE", 0.5)], Action::Deliver, Risk::Grey),
        (
            vec![("A_ONE", 1.0), ("A_TWO", 1.0)],
            Action::Quarantine,
            Risk::Medium,
        ),
        (
            vec![("A_TWO", 1.0), ("B_ONE", 1.0)],
            Action::Reject,
            Risk::High,
        ),
    ];
    for (syms, action, risk) in cases {
        let v = decide(&findings(&syms), &p);
        assert_eq!(
            (v.action, v.risk),
            (action, risk),
            "{syms:?} score {}",
            v.score
        );
    }
}

#[test]
fn strength_scales_the_weight_and_a_symbol_counts_once_at_its_strongest() {
    let v = decide(
        &findings(&[("B_ONE", 0.2), ("B_ONE", 0.6), ("B_ONE", 0.4)]),
        &policy(""),
    );
    assert!((v.score - 3.0).abs() < 1e-9, "{}", v.score);
    assert_eq!(v.reasons.len(), 1);
    assert_eq!(v.reasons[0].hits.len(), 3);
}

#[test]
fn negative_symbols_lower_the_score() {
    let v = decide(&findings(&[("B_ONE", 1.0), ("GOOD", 1.0)]), &policy(""));
    assert!((v.score - 3.0).abs() < 1e-9);
}

#[test]
fn group_caps_clamp_both_ways() {
    let p = policy("[groups.alpha]\nmax_score = 5\n[groups.beta]\nmin_score = -1");
    let v = decide(&findings(&[("A_ONE", 1.0), ("A_TWO", 1.0)]), &p);
    assert_eq!(v.score, 5.0);
    assert_eq!(v.capped_groups, vec!["alpha".to_string()]);
    let v = decide(&findings(&[("GOOD", 1.0)]), &p);
    assert_eq!(v.score, -1.0);
}

#[test]
fn forced_action_wins_over_score_and_sets_risk() {
    let v = decide(&findings(&[("VIRUS", 1.0)]), &policy(""));
    assert_eq!(v.action, Action::Reject);
    assert_eq!(v.risk, Risk::High);
    assert_eq!(v.forced_by.as_deref(), Some("VIRUS"));
    assert_eq!(v.reasons[0].forced, Some(Action::Reject));
}

#[test]
fn highest_priority_force_wins_then_most_severe() {
    let p = policy(
        "[symbols.A_ONE]\nforce = \"deliver\"\npriority = 200\n[symbols.B_ONE]\nforce = \"quarantine\"\npriority = 5",
    );
    let v = decide(
        &findings(&[("A_ONE", 1.0), ("B_ONE", 1.0), ("VIRUS", 1.0)]),
        &p,
    );
    assert_eq!(v.action, Action::Deliver);
    assert_eq!(v.forced_by.as_deref(), Some("A_ONE"));

    let p = policy(
        "[symbols.A_ONE]\nforce = \"tag\"\npriority = 5\n[symbols.B_ONE]\nforce = \"quarantine\"\npriority = 5",
    );
    let v = decide(&findings(&[("A_ONE", 1.0), ("B_ONE", 1.0)]), &p);
    assert_eq!(v.action, Action::Quarantine);
}

#[test]
fn forced_risk_can_be_configured() {
    let p = policy("[symbols.A_ONE]\nforce = \"quarantine\"\nrisk = \"high\"");
    let v = decide(&findings(&[("A_ONE", 1.0)]), &p);
    assert_eq!((v.action, v.risk), (Action::Quarantine, Risk::High));
}

#[test]
fn overrides_change_weight_and_can_disable() {
    let p = policy("[symbols.B_ONE]\nscore = 0.5\n[symbols.A_ONE]\nenabled = false");
    let v = decide(&findings(&[("A_ONE", 1.0), ("B_ONE", 1.0)]), &p);
    assert_eq!(v.score, 0.5);
    assert_eq!(v.reasons.len(), 1);
}

#[test]
fn reasons_are_strongest_first() {
    let v = decide(
        &findings(&[("A_ONE", 1.0), ("B_ONE", 1.0), ("GOOD", 1.0)]),
        &policy(""),
    );
    let names: Vec<&str> = v.reasons.iter().map(|r| r.symbol.as_str()).collect();
    assert_eq!(names, vec!["B_ONE", "A_ONE", "GOOD"]);
}

#[test]
fn undeclared_symbols_score_nothing_but_are_reported() {
    let v = decide(&findings(&[("NOT_DECLARED", 1.0)]), &policy(""));
    assert_eq!(v.score, 0.0);
    assert_eq!(v.reasons[0].group, "undeclared");
}

#[test]
fn unknown_symbol_and_group_are_errors_with_lines() {
    let text = "tag = 1\n\n[symbols.NOPE]\nscore = 1\n";
    let cfg: PolicyConfig = toml::from_str(text).unwrap();
    let err = cfg.build(&table(), Some(text)).unwrap_err();
    assert_eq!(
        err,
        PolicyError::UnknownSymbol {
            name: "NOPE".into(),
            line: Some(3)
        }
    );
    assert_eq!(
        err.to_string(),
        "unknown symbol `NOPE` in [policy.symbols] at line 3"
    );

    let text = "[groups.gamma]\nmax_score = 1\n";
    let cfg: PolicyConfig = toml::from_str(text).unwrap();
    let err = cfg.build(&table(), Some(text)).unwrap_err();
    assert!(
        matches!(err, PolicyError::UnknownGroup { line: Some(1), .. }),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_rejected_by_name_and_line() {
    let err = toml::from_str::<PolicyConfig>("tag = 1\ntagg = 2\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("line 2") && msg.contains("tagg"), "{msg}");
    let err = toml::from_str::<PolicyConfig>("[symbols.A_ONE]\nscroe = 2\n").unwrap_err();
    assert!(err.to_string().contains("scroe"), "{err}");
}

#[test]
fn thresholds_must_rise() {
    let cfg: PolicyConfig = toml::from_str("tag = 10\nquarantine = 5").unwrap();
    assert!(matches!(
        cfg.build(&table(), None),
        Err(PolicyError::ThresholdOrder { .. })
    ));
    let cfg: PolicyConfig = toml::from_str("[risk]\ngrey = 10").unwrap();
    assert!(matches!(
        cfg.build(&table(), None),
        Err(PolicyError::RiskOrder)
    ));
}

#[test]
fn a_threat_floor_sets_at_least_its_action_and_risk_whatever_the_score() {
    // Alone: 1 point would deliver; the floor quarantines at high risk.
    let v = decide(&findings(&[("EXPLOIT", 1.0), ("GOOD", 1.0)]), &policy(""));
    assert_eq!((v.action, v.risk), (Action::Quarantine, Risk::High));
    assert_eq!(v.floored_by.as_deref(), Some("EXPLOIT"));
    // The strongest floor wins; a score above it keeps its own action.
    let v = decide(&findings(&[("BOMB", 1.0), ("EXPLOIT", 0.2)]), &policy(""));
    assert_eq!((v.action, v.risk), (Action::Quarantine, Risk::High));
    let v = decide(
        &findings(&[
            ("EXPLOIT", 1.0),
            ("A_ONE", 1.0),
            ("A_TWO", 1.0),
            ("B_ONE", 1.0),
        ]),
        &policy("tag = 2\nquarantine = 5\nreject = 10"),
    );
    assert_eq!(v.action, Action::Reject, "a floor never lowers");
    assert_eq!(
        v.floored_by.as_deref(),
        Some("EXPLOIT"),
        "the risk was raised"
    );
}

#[test]
fn a_forced_action_still_decides_but_the_floor_risk_stands() {
    let v = decide(
        &findings(&[("EXPLOIT", 1.0), ("A_ONE", 1.0)]),
        &policy("[symbols.A_ONE]\nforce = \"deliver\"\npriority = 500"),
    );
    assert_eq!((v.action, v.risk), (Action::Deliver, Risk::High));
}

#[test]
fn an_operator_can_lift_a_floor() {
    let v = decide(
        &findings(&[("EXPLOIT", 1.0)]),
        &policy("[symbols.EXPLOIT]\nfloor = false"),
    );
    assert_eq!(v.action, Action::Deliver);
    assert_eq!(v.floored_by, None);
}

const FUSION_DEFS: &[SymbolDef] = &[
    SymbolDef::new("CLASSIFIER_SPAM", "classifier", Category::Spam, 12.0, "c"),
    SymbolDef::new("CLASSIFIER_HAM", "classifier", Category::Spam, -3.0, "c"),
];

fn fused_policy(toml_text: &str) -> Policy {
    let cfg: PolicyConfig = toml::from_str(toml_text).unwrap();
    let table = SymbolTable::new(&[DEFS, FUSION_DEFS]).unwrap();
    let model = FusionModel {
        format: FUSION_FORMAT,
        bias: -4.0,
        classifier: 1.0,
        // A_ONE learned to be worthless; A_TWO strong; others at their prior.
        weights: [("A_ONE".to_string(), 0.0), ("A_TWO".to_string(), 5.0)].into(),
        priors: BTreeMap::new(),
        tag_logit: 2.0,
        quarantine_logit: 5.0,
        tag_fpr: 0.001,
        quarantine_fpr: 0.0001,
        trained: [100, 100],
        fired: BTreeMap::new(),
        l2: 2.0,
    };
    cfg.build(&table, Some(toml_text))
        .unwrap()
        .with_fusion(Arc::new(model))
        .unwrap()
}

fn with_classifier(mut f: Findings, p: f64) -> Findings {
    f.set_classifier_probability(p);
    f
}

#[test]
fn under_fusion_the_score_is_the_learned_log_odds_on_the_policy_scale() {
    let p = fused_policy("");
    // Nothing, classifier unsure: logit -4 → 6 + (-4 - 2) * 2 points per logit = -6.
    let v = decide(&with_classifier(findings(&[]), 0.5), &p);
    assert_eq!(v.action, Action::Deliver);
    assert!((v.score - -6.0).abs() < 1e-9, "{}", v.score);
    assert!((v.spam_probability.unwrap() - probability(-4.0)).abs() < 1e-12);
    // A learned-away heuristic adds nothing, whatever its hand weight.
    let v = decide(&with_classifier(findings(&[("A_ONE", 1.0)]), 0.5), &p);
    assert!((v.score - -6.0).abs() < 1e-9);
    assert_eq!(v.reasons[0].score, 0.0);
    // A strong learned symbol plus a confident classifier: logit -4 + 5 + ln(99) ≈ 5.6 ≥ 5.
    let v = decide(&with_classifier(findings(&[("A_TWO", 1.0)]), 0.99), &p);
    assert_eq!(v.action, Action::Quarantine);
    assert!(
        (v.reasons[0].score - 10.0).abs() < 1e-9,
        "5 logits × 2 points"
    );
    // An unlearned symbol counts at its prior: B_ONE 5 points = 2.5 logits.
    let v = decide(&with_classifier(findings(&[("B_ONE", 1.0)]), 0.5), &p);
    assert!((v.score - (6.0 + (-4.0 + 2.5 - 2.0) * 2.0)).abs() < 1e-9);
}

#[test]
fn under_fusion_the_classifier_counts_through_its_log_odds_not_its_symbol_weight() {
    let p = fused_policy("");
    let v = decide(
        &with_classifier(findings(&[("CLASSIFIER_SPAM", 0.999)]), 0.999),
        &p,
    );
    let z = -4.0 + classifier_logit(0.999);
    assert!((v.score - (6.0 + (z - 2.0) * 2.0)).abs() < 1e-9);
    assert!((v.reasons[0].score - classifier_logit(0.999) * 2.0).abs() < 1e-9);
    assert_eq!(v.action, Action::Tag);
}

#[test]
fn under_fusion_policy_stays_on_top_forced_actions_floors_and_admin_scores() {
    let p = fused_policy("[symbols.A_ONE]\nscore = 8\n");
    // The administrator's score wins over the learned 0: 8 points on the model's scale.
    let v = decide(&with_classifier(findings(&[("A_ONE", 1.0)]), 0.5), &p);
    assert!((v.score - (6.0 + (-4.0 - 2.0) * 2.0 + 8.0)).abs() < 1e-9);
    assert!((v.reasons[0].score - 8.0).abs() < 1e-9);
    assert_eq!(p.learnable_prior("A_ONE"), None);
    assert_eq!(p.learnable_prior("A_TWO"), Some(4.0));
    assert_eq!(p.learnable_prior("VIRUS"), None, "forced: never learned");
    assert_eq!(
        p.learnable_prior("EXPLOIT"),
        None,
        "threat evidence: never learned"
    );
    assert_eq!(p.learnable_prior("CLASSIFIER_SPAM"), None);
    let v = decide(&with_classifier(findings(&[("VIRUS", 1.0)]), 0.0), &p);
    assert_eq!(v.action, Action::Reject);
    let v = decide(&with_classifier(findings(&[("EXPLOIT", 1.0)]), 0.0), &p);
    assert_eq!((v.action, v.risk), (Action::Quarantine, Risk::High));
}

#[test]
fn a_fusion_model_of_another_format_is_refused() {
    let cfg = PolicyConfig::default();
    let p = cfg.build(&table(), None).unwrap();
    let mut m = fused_policy("").fusion().unwrap().clone();
    m.format = 7;
    assert!(p.with_fusion(Arc::new(m)).is_err());
}

const FILE_DEFS: &[SymbolDef] = &[
    SymbolDef::new("PAYLOAD", "attachments", Category::Malware, 7.0, "p"),
    SymbolDef::new("SHORTCUT", "attachments", Category::Malware, 6.0, "s"),
    SymbolDef::new("CLASSIFIER_HAM", "classifier", Category::Spam, -8.0, "c"),
];

#[test]
fn the_spam_models_ham_opinion_does_not_argue_down_file_evidence_that_alone_quarantines() {
    let table = SymbolTable::new(&[DEFS, FILE_DEFS]).unwrap();
    let policy = PolicyConfig::default().build(&table, None).unwrap();
    // 7 + 6 = 13 points of file evidence: held, whatever the text looks like.
    let v = decide(
        &findings(&[("PAYLOAD", 1.0), ("SHORTCUT", 1.0), ("CLASSIFIER_HAM", 0.5)]),
        &policy,
    );
    assert_eq!(v.action, Action::Quarantine);
    assert_eq!(v.score, 13.0);
    let ham = v.reasons.iter().find(|r| r.symbol == "CLASSIFIER_HAM");
    assert_eq!(ham.map(|r| r.score), Some(0.0), "reported, at 0 points");
    // 6 points of file evidence alone: the ham opinion still counts.
    let v = decide(
        &findings(&[("SHORTCUT", 1.0), ("CLASSIFIER_HAM", 0.5)]),
        &policy,
    );
    assert_eq!(v.score, 2.0);
    assert_eq!(v.action, Action::Deliver);
    // Other evidence does not count toward the file evidence.
    let v = decide(
        &findings(&[
            ("SHORTCUT", 1.0),
            ("B_ONE", 1.0),
            ("A_TWO", 1.0),
            ("CLASSIFIER_HAM", 0.5),
        ]),
        &policy,
    );
    assert_eq!(v.score, 11.0);
}

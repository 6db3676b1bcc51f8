//! `mailmoat rules check|test|why` and `mailmoat watch` with SIGHUP reloads, as an
//! administrator runs them.

mod common;

use common::{hup, run, start_watch, temp_dir, text, wait_line};

const GOOD: &str = r#"
[[rule]]
name = "WIRE_REQUEST"
description = "Asks for a wire transfer"
score = 4.0
when = { all = [ { subject = '(?i)urgent' }, { body = '(?i)wire\s+transfer' } ] }

[[list]]
name = "ALLOW_PARTNER"
kind = "allow"
match = "sender_domain"
entries = ["partner.example"]
"#;

#[test]
fn check_accepts_a_good_file_and_the_default_pack() {
    let dir = temp_dir("check-ok");
    let f = dir.join("good.toml");
    std::fs::write(&f, GOOD).unwrap();
    let o = run(&["rules", "check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("ok: "), "{}", text(&o.stdout));
    let o = run(&["rules", "check", "rules/default.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn check_reports_every_problem_with_file_line_and_rule() {
    let dir = temp_dir("check-bad");
    let f = dir.join("bad.toml");
    std::fs::write(
        &f,
        "[[rule]]\nname = \"BAD_REGEX\"\ndescription = \"d\"\nscore = 1\nwhen = { body = 'a(b' }\n\n[[rule]]\nname = \"NO_WEIGHT\"\ndescription = \"d\"\nwhen = { subject = 'x' }\n",
    )
    .unwrap();
    let o = run(&["rules", "check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    let file = f.display().to_string();
    assert!(
        err.contains(&format!("{file}:5: BAD_REGEX: bad regex /a(b/")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:8: NO_WEIGHT: a rule needs a score, an action, or both"
        )),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn backtest_prints_per_rule_hits_and_verdict_changes() {
    let dir = temp_dir("backtest");
    let (ham, spam) = (dir.join("ham"), dir.join("spam"));
    std::fs::create_dir_all(&ham).unwrap();
    std::fs::create_dir_all(&spam).unwrap();
    std::fs::write(
        ham.join("1.eml"),
        "From: a@b.example\nTo: Bob <b@corp.example>\nSubject: lunch\n\nsee you\n",
    )
    .unwrap();
    std::fs::write(ham.join("2.eml"), "From: cfo@corp.example\nTo: Bob <b@corp.example>\nSubject: urgent: payroll\n\nPlease confirm the wire transfer for payroll.\n").unwrap();
    std::fs::write(spam.join("1.eml"), "From: x@evil.example\nTo: b@corp.example\nSubject: URGENT\n\nSend a wire transfer today.\n").unwrap();
    let f = dir.join("good.toml");
    std::fs::write(&f, GOOD).unwrap();
    let o = run(&[
        "rules",
        "test",
        "--rules",
        f.to_str().unwrap(),
        "--ham",
        ham.to_str().unwrap(),
        "--spam",
        spam.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("on 2 ham and 1 spam messages"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("WIRE_REQUEST"))
        .expect("rule line");
    assert!(
        line.contains("1 (50.0%)")
            && line.contains("1 (100.0%)")
            && line.contains("50.0%")
            && line.contains("! hits ham"),
        "{line}"
    );
    assert!(
        out.contains("ham: 2.eml") || out.contains("/ham/2.eml"),
        "{out}"
    );
    assert!(out.contains("verdicts with the file enabled"), "{out}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn why_shows_which_rules_fired_on_what_text() {
    let dir = temp_dir("why");
    let f = dir.join("good.toml");
    std::fs::write(&f, GOOD).unwrap();
    let m = dir.join("m.eml");
    std::fs::write(&m, "From: x@evil.example\nTo: Bob <b@corp.example>\nSubject: URGENT request\n\nSend a wire   transfer today.\n").unwrap();
    let o = run(&[
        "rules",
        "why",
        "--rules",
        f.to_str().unwrap(),
        m.to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(out.contains("WIRE_REQUEST (+4.00)"), "{out}");
    assert!(
        out.contains(r#"subject matched /(?i)urgent/ on "URGENT""#),
        "{out}"
    );
    assert!(
        out.contains(r#"body matched /(?i)wire\s+transfer/ on "wire   transfer""#),
        "{out}"
    );

    let p = dir.join("p.eml");
    std::fs::write(
        &p,
        "From: a@mail.partner.example\nSubject: URGENT\n\nwire transfer\n",
    )
    .unwrap();
    let o = run(&[
        "rules",
        "why",
        "--rules",
        f.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(out.contains(": deliver"), "allow-list decides: {out}");
    assert!(
        out.contains("ALLOW_PARTNER")
            && out.contains("forces deliver")
            && out.contains("matched entry partner.example (inline)"),
        "{out}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Reads stdout lines until one contains `needle` (or times out).
#[test]
fn watch_reloads_on_sighup_and_keeps_old_rules_when_a_reload_fails() {
    let dir = temp_dir("watch");
    let drop = dir.join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let rules = dir.join("local.toml");
    let write_rule = |pattern: &str| {
        std::fs::write(
            &rules,
            format!("[[rule]]\nname = \"LOCAL\"\ndescription = \"d\"\nscore = 7\nwhen = {{ subject = '{pattern}' }}\n"),
        )
        .unwrap()
    };
    write_rule("alpha");
    let cfg = dir.join("mailmoat.toml");
    std::fs::write(
        &cfg,
        "[rules]\ndefault_pack = false\nfiles = [\"local.toml\"]\n",
    )
    .unwrap();
    let (mut child, out, err) = start_watch(&drop, &cfg);

    std::fs::write(drop.join("1.eml"), "Subject: alpha\n\nx\n").unwrap();
    assert!(wait_line(&out, "1.eml").contains("LOCAL"));

    write_rule("beta");
    hup(child.id());
    wait_line(&err, "reloaded (generation 2");
    std::fs::write(drop.join("2.eml"), "Subject: beta\n\nx\n").unwrap();
    assert!(wait_line(&out, "2.eml").contains("LOCAL"));

    write_rule("(broken");
    hup(child.id());
    let failed = wait_line(&err, "reload failed");
    assert!(
        failed.contains("local.toml:5: LOCAL: bad regex"),
        "{failed}"
    );
    std::fs::write(drop.join("3.eml"), "Subject: beta\n\nx\n").unwrap();
    assert!(
        wait_line(&out, "3.eml").contains("LOCAL"),
        "the previous rules still apply"
    );

    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(dir).ok();
}

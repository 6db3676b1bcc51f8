use super::*;
use crate::rate::MemoryRateStore;
use mailmoat_mime::{Envelope, ViewOptions};

const BUILTIN: &[SymbolDef] = &[SymbolDef::new(
    "HDR_TO_BARE_ADDRESS",
    "headers",
    Category::Spam,
    0.2,
    "bare To",
)];

fn builtin() -> SymbolTable {
    SymbolTable::new(&[BUILTIN]).unwrap()
}

fn load(text: &str) -> RuleSet {
    match RuleSet::parse(text, "test.toml", &builtin()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match RuleSet::parse(text, "test.toml", &builtin()) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn view_with(raw: &str, envelope: Envelope) -> MessageView {
    MessageView::build(
        raw.replace('\n', "\r\n").into_bytes(),
        envelope,
        &ViewOptions::default(),
    )
}

fn fired(rules: &RuleSet, view: &MessageView) -> Vec<(String, String)> {
    let mut findings = Findings::new();
    rules.evaluate(
        view,
        &mut findings,
        &MemoryRateStore::default(),
        1_700_000_000,
    );
    findings
        .iter()
        .map(|e| (e.symbol.to_string(), e.details.clone()))
        .collect()
}

fn names(rules: &RuleSet, raw: &str) -> Vec<String> {
    fired(rules, &view_with(raw, Envelope::default()))
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

const SOC_RULE: &str = r#"
[[rule]]
name = "BARE_TO_NO_REPLY"
description = "To holds only a bare address, and Reply-To is missing or a no-reply address"
score = 3.0
when = { all = [
  { header = "To", display_name = "absent" },
  { any = [ { header = "Reply-To", exists = false }, { header = "Reply-To", local_part = '(?i)^no-?reply' } ] },
] }
"#;

#[test]
fn the_soc_rule_fires_only_when_both_halves_hold() {
    let rules = load(SOC_RULE);
    assert_eq!(
        names(
            &rules,
            "From: a@b.example\nTo: bob@corp.example\nSubject: x\n\nhi\n"
        ),
        vec!["BARE_TO_NO_REPLY"]
    );
    assert_eq!(
        names(
            &rules,
            "From: a@b.example\nTo: bob@corp.example\nReply-To: no-reply@b.example\n\nhi\n"
        ),
        vec!["BARE_TO_NO_REPLY"]
    );
    assert!(names(
        &rules,
        "From: a@b.example\nTo: Bob <bob@corp.example>\n\nhi\n"
    )
    .is_empty());
    assert!(names(
        &rules,
        "From: a@b.example\nTo: bob@corp.example\nReply-To: help@b.example\n\nhi\n"
    )
    .is_empty());
    assert!(names(&rules, "From: a@b.example\nSubject: no To at all\n\nhi\n").is_empty());
}

#[test]
fn every_target_kind_matches() {
    let rules = load(
        r#"
[[rule]]
name = "R_HEADER"
description = "d"
score = 1
when = { header = "X-Mailer", matches = '(?i)massmailer' }
[[rule]]
name = "R_RAW_HEADER"
description = "d"
score = 1
when = { header = "Subject", raw = true, matches = '=\?utf-8\?' }
[[rule]]
name = "R_COUNT"
description = "d"
score = 1
when = { header = "Received", min_count = 2 }
[[rule]]
name = "R_NAME"
description = "d"
score = 1
when = { header = "From", name_matches = '(?i)paypal' }
[[rule]]
name = "R_DOMAIN"
description = "d"
score = 1
when = { header = "From", domain = '\.example$' }
[[rule]]
name = "R_SUBJECT"
description = "d"
score = 1
when = { subject = '광고' }
[[rule]]
name = "R_BODY"
description = "d"
score = 1
when = { body = '(?i)wire\s+transfer' }
[[rule]]
name = "R_RAW_BODY"
description = "d"
score = 1
when = { raw_body = '=E2=82=AC' }
[[rule]]
name = "R_URL"
description = "d"
score = 1
when = { url = '^https?://' }
[[rule]]
name = "R_URL_HOST"
description = "d"
score = 1
when = { url_host = '^bit\.ly$' }
[[rule]]
name = "R_URL_PATH"
description = "d"
score = 1
when = { url_path = '^/wp-content/.*\.php' }
[[rule]]
name = "R_ATT_NAME"
description = "d"
score = 1
when = { attachment_name = '(?i)\.zip$' }
[[rule]]
name = "R_ATT_TYPE"
description = "d"
score = 1
when = { attachment_type = '^application/zip$' }
[[rule]]
name = "R_MAIL_FROM"
description = "d"
score = 1
when = { mail_from = '@bulk\.example$' }
[[rule]]
name = "R_RCPT"
description = "d"
score = 1
when = { rcpt_to = '^ceo@' }
[[rule]]
name = "R_HELO"
description = "d"
score = 1
when = { helo = '(?i)^localhost$' }
[[rule]]
name = "R_IP"
description = "d"
score = 1
when = { client_ip = ["203.0.113.0/24", "2001:db8::/32"] }
[[rule]]
name = "R_SYMBOL"
description = "d"
score = 1
when = { symbol = "HDR_TO_BARE_ADDRESS" }
[[rule]]
name = "R_SYMBOL_OF_RULE"
description = "d"
score = 1
when = { all = [ { symbol = "R_BODY" }, { not = { symbol = "R_HELO" } } ] }
"#,
    );
    let raw = "Received: from a (a [198.51.100.1]) by b; Mon, 2 Jan 2023 10:00:00 +0000\nReceived: from c (c [10.0.0.1]) by d; Mon, 2 Jan 2023 10:00:00 +0000\nFrom: \"PayPal Service\" <x@evil.example>\nTo: Bob <bob@corp.example>\nSubject: =?utf-8?B?KOq0keqzoCk=?=\nX-Mailer: MassMailer 2.0\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nPlease send a wire  transfer of 100 =E2=82=AC. https://bit.ly/x http://site.example/wp-content/up/a.php?id=1\n--b\nContent-Type: application/octet-stream; name=\"a.zip\"\nContent-Disposition: attachment; filename=\"a.zip\"\nContent-Transfer-Encoding: base64\n\nUEsDBAoAAAAAAA==\n--b--\n";
    let envelope = Envelope {
        mail_from: Some("list@bulk.example".into()),
        rcpt_to: vec!["ceo@corp.example".into()],
        client_ip: Some("203.0.113.7".parse().unwrap()),
        helo: Some("LOCALHOST".into()),
        received_at: None,
    };
    let mut findings = Findings::new();
    findings.add("HDR_TO_BARE_ADDRESS", "x", Location::message());
    rules.evaluate(
        &view_with(raw, envelope.clone()),
        &mut findings,
        &MemoryRateStore::default(),
        0,
    );
    let got: HashSet<String> = findings.iter().map(|e| e.symbol.to_string()).collect();
    for name in [
        "R_HEADER",
        "R_RAW_HEADER",
        "R_COUNT",
        "R_NAME",
        "R_DOMAIN",
        "R_SUBJECT",
        "R_BODY",
        "R_RAW_BODY",
        "R_URL",
        "R_URL_HOST",
        "R_URL_PATH",
        "R_ATT_NAME",
        "R_ATT_TYPE",
        "R_MAIL_FROM",
        "R_RCPT",
        "R_HELO",
        "R_IP",
        "R_SYMBOL",
    ] {
        assert!(got.contains(name), "{name} did not fire; got {got:?}");
    }
    assert!(
        !got.contains("R_SYMBOL_OF_RULE"),
        "R_HELO fired, so the not() is false"
    );

    let ipv6 = Envelope {
        client_ip: Some("2001:db8::1".parse().unwrap()),
        ..Envelope::default()
    };
    assert!(fired(&rules, &view_with("From: a@b\n\nx\n", ipv6))
        .iter()
        .any(|(n, _)| n == "R_IP"));
    assert!(
        !fired(&rules, &view_with("From: a@b\n\nx\n", Envelope::default()))
            .iter()
            .any(|(n, _)| n == "R_IP")
    );
}

#[test]
fn explanations_say_what_matched_on_what_text() {
    let rules = load(
        r#"
[[rule]]
name = "WIRE"
description = "d"
score = 2
when = { all = [ { subject = '(?i)urgent' }, { body = '(?i)wire\s+\w+' }, { not = { header = "List-Id", exists = true } } ] }
"#,
    );
    let got = fired(
        &rules,
        &view_with(
            "Subject: URGENT request\n\nplease wire money today\n",
            Envelope::default(),
        ),
    );
    assert_eq!(got.len(), 1);
    let why = &got[0].1;
    assert!(
        why.contains(r#"subject matched /(?i)urgent/ on "URGENT""#),
        "{why}"
    );
    assert!(
        why.contains(r#"body matched /(?i)wire\s+\w+/ on "wire money""#),
        "{why}"
    );
    assert!(why.contains("not (header List-Id is present)"), "{why}");
}

#[test]
fn lists_allow_deny_with_subdomains_cidr_and_files() {
    let dir = std::env::temp_dir().join(format!("mailmoat-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("partners.txt"),
        "# partners\npartner.example   # main domain\n\n*.supplier.example\n",
    )
    .unwrap();
    let rules_path = dir.join("rules.toml");
    std::fs::write(
        &rules_path,
        r#"
[[list]]
name = "ALLOW_PARTNERS"
kind = "allow"
match = "sender_domain"
file = "partners.txt"

[[list]]
name = "DENY_NETS"
kind = "deny"
match = "client_ip"
entries = ["198.51.100.0/24", "2001:db8:bad::/48", "192.0.2.9"]

[[list]]
name = "ALLOW_ABUSE_DESK"
kind = "allow"
match = "recipient"
entries = ["abuse@corp.example"]

[[list]]
name = "DENY_SENDER"
kind = "deny"
match = "sender_address"
entries = ["Spammer@Bad.Example"]
"#,
    )
    .unwrap();
    let rules = RuleSet::load(&[rules_path], &builtin()).unwrap();
    let got = fired(
        &rules,
        &view_with("From: x@mail.partner.example\n\nhi\n", Envelope::default()),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "ALLOW_PARTNERS");
    assert!(
        got[0].1.contains("matched entry partner.example") && got[0].1.contains("partners.txt:2"),
        "{}",
        got[0].1
    );
    let got = fired(
        &rules,
        &view_with("From: x@deep.supplier.example\n\nhi\n", Envelope::default()),
    );
    assert!(got[0].1.contains("partners.txt:4"), "{got:?}");
    assert!(fired(
        &rules,
        &view_with("From: x@notpartner.example\n\nhi\n", Envelope::default())
    )
    .is_empty());

    let from_ip = |ip: &str| Envelope {
        client_ip: Some(ip.parse().unwrap()),
        ..Envelope::default()
    };
    assert_eq!(
        fired(
            &rules,
            &view_with("From: a@b.example\n\nx", from_ip("198.51.100.200"))
        )[0]
        .0,
        "DENY_NETS"
    );
    assert_eq!(
        fired(
            &rules,
            &view_with("From: a@b.example\n\nx", from_ip("2001:db8:bad:1::5"))
        )[0]
        .0,
        "DENY_NETS"
    );
    assert_eq!(
        fired(
            &rules,
            &view_with("From: a@b.example\n\nx", from_ip("192.0.2.9"))
        )[0]
        .0,
        "DENY_NETS"
    );
    assert!(fired(
        &rules,
        &view_with("From: a@b.example\n\nx", from_ip("192.0.2.10"))
    )
    .is_empty());
    assert_eq!(
        fired(
            &rules,
            &view_with(
                "From: a@b.example\nTo: abuse@corp.example\n\nx",
                Envelope::default()
            )
        )[0]
        .0,
        "ALLOW_ABUSE_DESK"
    );
    assert_eq!(
        fired(
            &rules,
            &view_with("From: SPAMMER@bad.example\n\nx", Envelope::default())
        )[0]
        .0,
        "DENY_SENDER"
    );

    // Allow beats deny by default priority.
    let allow = rules
        .symbols()
        .iter()
        .find(|d| d.name == "ALLOW_PARTNERS")
        .unwrap();
    let deny = rules
        .symbols()
        .iter()
        .find(|d| d.name == "DENY_NETS")
        .unwrap();
    assert_eq!(allow.force, Some((Action::Deliver, 100)));
    assert_eq!(deny.force, Some((Action::Reject, 90)));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn rate_limits_trip_past_the_limit_within_the_window() {
    let rules = load(
        r#"
[[rate_limit]]
name = "RATE_IP"
key = "client_ip"
limit = 3
window = "10m"
result = "tempfail"
"#,
    );
    let store = MemoryRateStore::default();
    let envelope = Envelope {
        client_ip: Some("203.0.113.5".parse().unwrap()),
        ..Envelope::default()
    };
    let view = view_with("From: a@b.example\n\nx", envelope);
    let mut tripped = Vec::new();
    for i in 0..5 {
        let mut f = Findings::new();
        rules.evaluate(&view, &mut f, &store, 1000 + i);
        tripped.push(f.contains("RATE_IP"));
    }
    assert_eq!(tripped, vec![false, false, false, true, true]);
    let mut f = Findings::new();
    rules.evaluate(&view, &mut f, &store, 1000 + 601 + 4);
    assert!(!f.contains("RATE_IP"), "window passed");
    assert_eq!(rules.symbols()[0].force, Some((Action::Tempfail, 80)));
}

#[test]
fn load_errors_name_file_line_rule_and_problem() {
    let e = errors("[[rule]]\nname = \"BAD_RE\"\ndescription = \"d\"\nscore = 1\nwhen = { subject = '(unclosed' }\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("test.toml:5: BAD_RE: bad regex /(unclosed/:"),
        "{}",
        e[0]
    );

    let e = errors(
        "[[rule]]\nname = \"TYPO\"\ndescription = \"d\"\nscore = 1\nwhen = { subjet = 'x' }\n",
    );
    assert!(
        e[0].starts_with("test.toml:5: TYPO: unknown field `subjet`"),
        "{}",
        e[0]
    );

    let e =
        errors("[[rule]]\nname = \"NO_SCORE\"\ndescription = \"d\"\nwhen = { subject = 'x' }\n");
    assert_eq!(
        e[0],
        "test.toml:2: NO_SCORE: a rule needs a score, an action, or both"
    );

    let two =
        "[[rule]]\nname = \"TWICE\"\ndescription = \"d\"\nscore = 1\nwhen = { subject = 'x' }\n";
    let e = errors(&format!("{two}{two}"));
    assert_eq!(e[0], "test.toml:7: TWICE: defined twice");

    let e = errors("[[rule]]\nname = \"HDR_TO_BARE_ADDRESS\"\ndescription = \"d\"\nscore = 1\nwhen = { subject = 'x' }\n");
    assert!(e[0].contains("built-in symbol"), "{}", e[0]);
    let e = errors(
        "[[rule]]\nname = \"lower\"\ndescription = \"d\"\nscore = 1\nwhen = { subject = 'x' }\n",
    );
    assert!(e[0].contains("UPPER_SNAKE"), "{}", e[0]);

    let e = errors("[[rule]]\nname = \"TWO_TARGETS\"\ndescription = \"d\"\nscore = 1\nwhen = { subject = 'x', body = 'y' }\n");
    assert!(e[0].contains("several targets (subject, body)"), "{}", e[0]);
    let e = errors("[[rule]]\nname = \"OP\"\ndescription = \"d\"\nscore = 1\nwhen = { subject = 'x', exists = true }\n");
    assert!(
        e[0].contains("exists only apply to header conditions"),
        "{}",
        e[0]
    );
    let e = errors("[[rule]]\nname = \"ADDR\"\ndescription = \"d\"\nscore = 1\nwhen = { header = \"Subject\", display_name = \"absent\" }\n");
    assert!(e[0].contains("needs an address header"), "{}", e[0]);
    let e = errors(
        "[[rule]]\nname = \"SYM\"\ndescription = \"d\"\nscore = 1\nwhen = { symbol = \"NOPE\" }\n",
    );
    assert!(e[0].contains("symbol \"NOPE\" is not declared"), "{}", e[0]);
    let e = errors("[[rule]]\nname = \"IP\"\ndescription = \"d\"\nscore = 1\nwhen = { client_ip = [\"10.0.0.0/99\"] }\n");
    assert!(e[0].contains("not an IP address or CIDR"), "{}", e[0]);

    // Deeply nested: the line of the inner condition.
    let e = errors("[[rule]]\nname = \"DEEP\"\ndescription = \"d\"\nscore = 1\n[rule.when]\nall = [\n  { subject = 'ok' },\n  { any = [ { body = 'fine' },\n            { url = '[z-a]' } ] },\n]\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("test.toml:9: DEEP: bad regex /[z-a]/"),
        "{}",
        e[0]
    );

    // Several problems are all reported.
    let e = errors("[[rule]]\nname = \"A1\"\ndescription = \"d\"\nscore = 1\nwhen = { subject = '(' }\n[[rule]]\nname = \"A2\"\ndescription = \"d\"\nscore = 1\nwhen = { body = ')' }\n");
    assert_eq!(e.len(), 2, "{e:?}");

    let e = errors("[[list]]\nname = \"L\"\nkind = \"allow\"\nmatch = \"client_ip\"\nentries = [\"not-an-ip\"]\n");
    assert!(
        e[0].contains("L: \"not-an-ip\" is not an IP address"),
        "{}",
        e[0]
    );
    let e = errors("[[rate_limit]]\nname = \"R\"\nkey = \"client_ip\"\nlimit = 5\nwindow = \"5 fortnights\"\nresult = \"tempfail\"\n");
    assert!(e[0].starts_with("test.toml:5: R:"), "{}", e[0]);
}

#[test]
fn regexes_have_no_length_limit() {
    let alternatives: Vec<String> = (0..5000).map(|i| format!("word{i}")).collect();
    let long = format!("(?i)\\b(?:{})\\b", alternatives.join("|"));
    assert!(long.len() > 40_000);
    let rules = load(&format!(
        "[[rule]]\nname = \"LONG\"\ndescription = \"d\"\nscore = 1\nwhen = {{ body = '{long}' }}\n"
    ));
    assert_eq!(
        names(&rules, "Subject: x\n\nsome WORD4321 here\n"),
        vec!["LONG"]
    );
}

use super::*;

fn rules(cf: &str) -> SaRules {
    let mut conf = Conf::new();
    conf.read_text(cf, Path::new("local.cf"), 0).unwrap();
    assert!(conf.problems.is_empty(), "{:?}", conf.problems);
    SaRules::compile(conf, 0)
}

fn hits(rules: &SaRules, raw: &str) -> Vec<(String, f64)> {
    let view = MessageView::from_raw(raw.as_bytes());
    rules
        .check(&view)
        .into_iter()
        .map(|h| (h.name, h.score))
        .collect()
}

const SPAMMY: &str = "From: \"Winner\" <promo@lucky.example>\r\n\
To: you@site.example\r\n\
Subject: You have WON a prize\r\n\
Content-Type: text/html\r\n\r\n\
<html><body><p>Click <a href=\"http://claim.example/win?id=1\">here</a> to claim\r\n\
your   prize now!</p><p>100% free, no obligation.</p></body></html>\r\n";

const PLAIN: &str = "From: Alice <alice@corp.example>\r\n\
To: bob@corp.example\r\n\
Subject: Minutes of Tuesday's meeting\r\n\r\n\
Hi Bob,\r\n\r\nthe minutes are attached.\r\n";

#[test]
fn an_administrators_local_cf_works_unchanged() {
    let r = rules(
        r#"
# Typical local.cf rules, as administrators write them.
header   LOCAL_SUBJ_WON   Subject =~ /\bwon\b/i
describe LOCAL_SUBJ_WON   Subject claims a win
score    LOCAL_SUBJ_WON   2.5
body     LOCAL_CLAIM      /click here to claim your prize/i
score    LOCAL_CLAIM      3.0
rawbody  LOCAL_HREF_WIN   /href="[^"]*win\?id=/
score    LOCAL_HREF_WIN   0.7
uri      LOCAL_URI_CLAIM  m{^https?://claim\.example/}i
score    LOCAL_URI_CLAIM  1.2
full     LOCAL_FULL_HTML  /^Content-Type: text\/html/m
score    LOCAL_FULL_HTML  0.1
header   __FROM_PROMO     From:addr =~ /^promo\@/
body     __FREE           /\b100% free\b/
meta     LOCAL_PROMO_FREE __FROM_PROMO && __FREE
score    LOCAL_PROMO_FREE 1.0
header   LOCAL_HAS_TO     exists:To
score    LOCAL_HAS_TO     -0.5
header   LOCAL_NOT_CORP   From:addr !~ /\@corp\.example$/
score    LOCAL_NOT_CORP   0.3
"#,
    );
    let got = hits(&r, SPAMMY);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "LOCAL_SUBJ_WON",
        "LOCAL_CLAIM",
        "LOCAL_HREF_WIN",
        "LOCAL_URI_CLAIM",
        "LOCAL_FULL_HTML",
        "LOCAL_PROMO_FREE",
        "LOCAL_HAS_TO",
        "LOCAL_NOT_CORP",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.starts_with("__")));
    assert_eq!(got[0], ("LOCAL_CLAIM".to_string(), 3.0));
    let got = hits(&r, PLAIN);
    assert_eq!(got, [("LOCAL_HAS_TO".to_string(), -0.5)]);
}

#[test]
fn perl_only_patterns_run_on_pcre2_and_multiple_counts() {
    let r = rules(
        r#"
body   DOUBLED_WORD  /\b(\w{4,})\s+\1\b/i
body   NO_LOOKAHEAD  /prize(?! now)/
body   __EXCLAIM     /!/
tflags __EXCLAIM     multiple maxhits=5
meta   MANY_EXCLAIM  __EXCLAIM >= 3
"#,
    );
    assert!(r.pcre_patterns() >= 2);
    let msg = "Subject: hi\r\n\r\nfree free offer! act! now! prize now\r\n";
    let names: Vec<String> = hits(&r, msg).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"DOUBLED_WORD".to_string()), "{names:?}");
    assert!(names.contains(&"MANY_EXCLAIM".to_string()), "{names:?}");
    assert!(!names.contains(&"NO_LOOKAHEAD".to_string()), "{names:?}");
}

#[test]
fn unsupported_rules_are_listed_with_the_reason() {
    let mut conf = Conf::new();
    conf.read_text(
        "header RCVD_IN_X eval:check_rbl('x', 'zen.example.')\nbody OK /a/\nmimeheader MH Content-Type =~ /x/\n",
        Path::new("x.cf"),
        0,
    )
    .unwrap();
    let r = SaRules::compile(conf, 0);
    assert_eq!(r.supported(), 1);
    assert_eq!(r.definitions(), 3);
    assert_eq!(r.unsupported().len(), 2);
    assert!(r
        .unsupported()
        .iter()
        .any(|u| u.reason.contains("check_rbl")));
    assert!(r
        .unsupported()
        .iter()
        .any(|u| u.name == "MH" && u.line == 3 && u.reason.starts_with("mimeheader")));
    assert!(r.problems().is_empty());
}

#[test]
fn negated_header_rules_and_if_unset() {
    let r = rules(
        "header NO_DATE Date !~ /\\d/\nheader UNSET_DEFAULT X-Foo =~ /^none$/ [if-unset: none]\n",
    );
    let names: Vec<String> = hits(&r, PLAIN).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["NO_DATE", "UNSET_DEFAULT"]);
}

#[test]
fn bytes_semantics_match_perl() {
    // SpamAssassin matches UTF-8 bytes: \xC3 is the first byte of é, `.` one byte.
    let r =
        rules("header HIGH_BYTES Subject =~ /\\xc3\\xa9/\nheader THREE_DOTS Subject =~ /^.{3}$/\n");
    let names: Vec<String> = hits(&r, "Subject: =?utf-8?Q?=C3=A9t?=\r\n\r\nx\r\n")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["HIGH_BYTES", "THREE_DOTS"]);
}

#[test]
fn the_stock_rules_load_when_installed() {
    if system_sources().is_empty() {
        eprintln!(
            "skipped: SpamAssassin's stock rules are not installed (Debian package spamassassin)"
        );
        return;
    }
    let r = SaRules::load(&[], 0).unwrap();
    assert!(r.definitions() > 2500, "{}", r.definitions());
    // 2,217 of 2,950 on Debian 12's 4.0.1: the rest need DNS, Bayes or a plugin's own test.
    assert!(
        r.supported() >= 2000,
        "{} of {}",
        r.supported(),
        r.definitions()
    );
    assert!(r.unsupported().iter().all(|u| !u.reason.is_empty()));
    let view = MessageView::from_raw(SPAMMY.as_bytes());
    let hits = r.check(&view);
    assert!(!hits.is_empty());
}

#[test]
fn patterns_reading_a_captured_tag_are_listed_not_run_literally() {
    let r = rules(
        r#"
header __TO_ADDR   To:addr =~ /(?<TO_ADDR>.*)/
uri    URI_HAS_TO  m{^https?://.{4,64}\#%{TO_ADDR}}i
meta   TO_IN_URI   URI_HAS_TO
score  TO_IN_URI   1.5
uri    URI_PERCENT m{/%7B}
"#,
    );
    let reasons: Vec<(&str, &str)> = r
        .unsupported()
        .iter()
        .map(|u| (u.name.as_str(), u.reason.as_str()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(n, why)| *n == "URI_HAS_TO" && why.contains("%{TO_ADDR}")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|(n, _)| *n == "TO_IN_URI"),
        "a meta over it is disabled too: {reasons:?}"
    );
    assert!(!reasons.iter().any(|(n, _)| *n == "URI_PERCENT"));
    assert_eq!(captured_tag("a%{B_1}c"), Some("B_1"));
    assert_eq!(captured_tag("%{ x}"), None);
    assert_eq!(captured_tag("x{2}%"), None);
}

//! The stage end to end on the signed case files: the Authentication-Results header, the CRLF
//! form the gateway receives, and DNS that never answers.

use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailmoat_auth::dns::ConfiguredResolver;
use mailmoat_auth::{AuthConfig, AuthStage};
use mailmoat_mime::{Envelope, MessageView, ViewOptions};

/// (dns records, envelope, raw message) of a case file.
fn case(name: &str) -> (Vec<String>, Envelope, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("cases")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap();
    let mut dns = Vec::new();
    let mut env = Envelope::default();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        match k {
            "dns" => dns.push(v),
            "mail-from" => env.mail_from = Some(v),
            "rcpt-to" => env.rcpt_to.push(v),
            "client-ip" => env.client_ip = Some(v.parse().unwrap()),
            "helo" => env.helo = Some(v),
            _ => {}
        }
    }
    (dns, env, body.as_bytes().to_vec())
}

fn stage(config: &AuthConfig) -> AuthStage {
    let resolver = Arc::new(ConfiguredResolver::new(&config.dns).unwrap());
    AuthStage::with_parts(config, resolver, None, "mx.corp.example", &[], &[]).unwrap()
}

fn offline(records: Vec<String>) -> AuthConfig {
    let mut config = AuthConfig::default();
    config.dns.only_records = true;
    config.dns.records = records;
    config
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn authentication_results_header_says_what_passed() {
    let (dns, env, raw) = case("pass_all.case");
    let stage = stage(&offline(dns));
    let view = MessageView::build(raw, env, &ViewOptions::default());
    let out = runtime().block_on(stage.check(&view));
    let header = out.header.expect("a header for external mail");
    assert!(
        header.starts_with("Authentication-Results: mx.corp.example;"),
        "{header}"
    );
    for part in [
        "spf=pass",
        "dkim=pass",
        "header.d=sender.example",
        "dmarc=pass",
        "policy.dmarc=reject",
    ] {
        assert!(header.contains(part), "{part} missing in {header}");
    }
    assert!(header.ends_with("\r\n"));
    assert_eq!(out.summary.spf.as_deref(), Some("pass"));
    assert_eq!(out.summary.dmarc.as_deref(), Some("pass"));
    assert!(!out.summary.deadline_reached);
}

#[test]
fn the_crlf_wire_form_verifies_too() {
    let (dns, env, raw) = case("pass_all.case");
    let crlf = String::from_utf8(raw)
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let stage = stage(&offline(dns));
    let view = MessageView::build(crlf, env, &ViewOptions::default());
    let out = runtime().block_on(stage.check(&view));
    let symbols: Vec<&str> = out.findings.iter().map(|e| e.symbol.as_ref()).collect();
    assert!(symbols.contains(&"DKIM_PASS"), "{symbols:?}");
    assert!(symbols.contains(&"DMARC_PASS"), "{symbols:?}");
}

#[test]
fn mail_from_inside_is_not_checked() {
    let (dns, mut env, raw) = case("pass_all.case");
    env.client_ip = Some("127.0.0.1".parse().unwrap());
    let stage = stage(&offline(dns));
    let view = MessageView::build(raw, env, &ViewOptions::default());
    let out = runtime().block_on(stage.check(&view));
    assert!(out.header.is_none());
    assert!(out.findings.is_empty());
    assert!(out.summary.skipped.is_some());
}

/// A resolver that receives queries and never answers: DNS as seen from a machine whose
/// network is gone. The stage must finish at its deadline with TEMPERROR evidence.
#[test]
fn dns_that_never_answers_ends_at_the_deadline() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (_, env, raw) = case("pass_all.case");
    let mut config = AuthConfig {
        deadline_ms: 400,
        ..Default::default()
    };
    config.dns.servers = vec![format!("127.0.0.1:{port}")];
    config.dns.lookup_timeout_ms = 5000;
    config.dnsbl = toml_zone();
    let stage = stage(&config);
    let view = MessageView::build(raw, env, &ViewOptions::default());
    let started = Instant::now();
    let out = runtime().block_on(stage.check(&view));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1400), "took {took:?}");
    assert!(
        took >= Duration::from_millis(390),
        "returned before the deadline: {took:?}"
    );
    let symbols: Vec<&str> = out.findings.iter().map(|e| e.symbol.as_ref()).collect();
    for s in [
        "SPF_TEMPERROR",
        "DKIM_TEMPERROR",
        "DMARC_TEMPERROR",
        "DNSBL_TEMPERROR",
    ] {
        assert!(symbols.contains(&s), "{s} missing: {symbols:?}");
    }
    assert!(out.summary.deadline_reached);
    let header = out.header.unwrap();
    assert!(header.contains("spf=temperror"), "{header}");
    drop(silent);
}

fn toml_zone() -> Vec<mailmoat_auth::config::DnsblZone> {
    #[derive(serde::Deserialize)]
    struct Wrap {
        dnsbl: Vec<mailmoat_auth::config::DnsblZone>,
    }
    let w: Wrap = toml::from_str(
        r#"
[[dnsbl]]
zone = "bl.example"
check = "client_ip"
default = { symbol = "RBL_X", score = 1.0 }
"#,
    )
    .unwrap();
    w.dnsbl
}

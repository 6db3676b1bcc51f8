//! With no DNS at all, a scan with the authentication stage still finishes within its
//! deadline, and says which checks could not be made.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use mailmoat_mime::Envelope;
use mailmoat_pipeline::{Config, Scanner};

const MESSAGE: &[u8] = b"Received: from mail.sender.example (mail.sender.example [198.51.100.7])\r\n\tby mx.corp.example with ESMTP; Mon, 23 Nov 2026 01:00:00 +0000\r\nFrom: Sender <news@sender.example>\r\nTo: user@corp.example\r\nSubject: hello\r\nDate: Mon, 23 Nov 2026 01:00:00 +0000\r\nMessage-ID: <x@sender.example>\r\n\r\nHello there, see https://www.sender.example/news\r\n";

fn scan_with_servers(servers: &str, deadline_ms: u64) -> (Duration, Vec<String>) {
    let config = Config::parse(
        &format!(
            r#"
[auth]
deadline_ms = {deadline_ms}
[auth.dns]
servers = [{servers}]
lookup_timeout_ms = 10000
[[auth.dnsbl]]
zone = "bl.example"
check = "client_ip"
default = {{ symbol = "RBL_TEST", score = 1.0 }}
"#
        ),
        "test",
    )
    .unwrap();
    let scanner = std::sync::Arc::new(Scanner::new(&config).unwrap());
    let envelope = Envelope {
        mail_from: Some("news@sender.example".into()),
        rcpt_to: vec!["user@corp.example".into()],
        client_ip: Some("198.51.100.7".parse().unwrap()),
        helo: Some("mail.sender.example".into()),
        received_at: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let report = rt.block_on(scanner.scan_authenticated(MESSAGE.to_vec(), envelope));
    let took = started.elapsed();
    let symbols = report
        .findings
        .iter()
        .map(|e| e.symbol.to_string())
        .collect();
    (took, symbols)
}

#[test]
fn a_resolver_that_never_answers_costs_the_deadline_and_no_more() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (took, symbols) = scan_with_servers(&format!("\"127.0.0.1:{port}\""), 500);
    assert!(took < Duration::from_millis(1500), "scan took {took:?}");
    for s in ["SPF_TEMPERROR", "DMARC_TEMPERROR", "DNSBL_TEMPERROR"] {
        assert!(symbols.iter().any(|x| x == s), "{s} missing: {symbols:?}");
    }
    drop(silent);
}

#[test]
fn an_unreachable_resolver_costs_at_most_the_deadline() {
    // 192.0.2.1 (TEST-NET-1) routes nowhere: packets are dropped or refused at once.
    let (took, symbols) = scan_with_servers("\"192.0.2.1\"", 500);
    assert!(took < Duration::from_millis(1500), "scan took {took:?}");
    assert!(
        symbols.iter().any(|x| x == "SPF_TEMPERROR"),
        "SPF could not have been checked: {symbols:?}"
    );
}

//! The rspamd HTTP protocol service of `mailmoat serve`: Debian's `rspamc` against it (skipped
//! with a reason when rspamc is absent), and raw HTTP for the JSON, the bounds and mailmoat's
//! own `/api/v1/scan`.

mod common;
mod smtp_kit;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{root, temp_dir, text};
use smtp_kit::{have, start_with_service, Gateway};

fn sample(name: &str) -> std::path::PathBuf {
    root().join("samples").join(name)
}

/// A gateway whose rspamd protocol service listens on a free loopback port.
fn start(name: &str, rspamd: &str) -> (Gateway, SocketAddr, std::path::PathBuf) {
    let dir = temp_dir(name);
    let (gw, addr) = start_with_service(&dir, "rspamd", rspamd, "");
    (gw, addr, dir)
}

/// One HTTP/1.1 request; (status, headers and body as text).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    s.write_all(&request).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = text(&reply);
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, reply)
}

fn json_body(reply: &str) -> serde_json::Value {
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"))
}

#[test]
fn rspamc_scans_through_mailmoat() {
    if !have("rspamc") {
        eprintln!("skipped: rspamc is not installed (Debian package rspamd)");
        return;
    }
    let (gw, addr, dir) = start("rspamd-rspamc", "");
    let rspamc = |args: &[&str]| {
        let out = Command::new("rspamc")
            .args(["-h", &addr.to_string(), "-t", "30"])
            .args(args)
            .output()
            .expect("run rspamc");
        text(&out.stdout) + &text(&out.stderr)
    };
    let spam = rspamc(&[sample("02-invoice-exe.eml").to_str().unwrap()]);
    assert!(spam.contains("Action: reject"), "{spam}");
    assert!(spam.contains("Spam: true"), "{spam}");
    assert!(
        spam.contains("Symbol: ATTACH_EXECUTABLE_EXT (6.00)"),
        "{spam}"
    );
    assert!(
        spam.contains("smtp_message: Message refused by policy"),
        "{spam}"
    );
    // The MTA's view of the transaction: client, sender, recipient.
    let ham = rspamc(&[
        "-i",
        "203.0.113.9",
        "-F",
        "alice@partner.example",
        "-r",
        "bob@example.com",
        sample("01-hello.eml").to_str().unwrap(),
    ]);
    assert!(ham.contains("Action: no action"), "{ham}");
    assert!(ham.contains("Spam: false"), "{ham}");
    assert!(
        ham.contains("from 203.0.113.9"),
        "the client IP reached SPF: {ham}"
    );
    let json = rspamc(&["--json", sample("02-invoice-exe.eml").to_str().unwrap()]);
    assert!(json.contains("\"action\""), "{json}");
    let log = gw.log.lock().unwrap().clone();
    assert!(
        log.contains("via=\"rspamd\"") || log.contains("via=rspamd"),
        "{log}"
    );
    drop(gw);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn checkv2_answers_in_rspamds_shape_and_api_scan_with_the_full_report() {
    let (gw, addr, dir) = start("rspamd-raw", "max_message_bytes = 100000\n");
    let _ = &gw;
    let spam = std::fs::read(sample("02-invoice-exe.eml")).unwrap();
    let forged = [&b"X-Mailmoat-Action: deliver\r\n"[..], &spam].concat();
    let (status, reply) = http(
        addr,
        "POST",
        "/checkv2",
        "IP: 198.51.100.77\r\nFrom: <billing@invoices-portal.example>\r\nRcpt: <bob@example.com>\r\nQueue-Id: 4Xy7\r\n",
        &forged,
    );
    assert_eq!(status, 200, "{reply}");
    let r = json_body(&reply);
    assert_eq!(r["action"], "reject");
    assert_eq!(r["is_skipped"], false);
    assert!(r["score"].as_f64().unwrap() >= r["required_score"].as_f64().unwrap());
    assert!(r["symbols"]["ATTACH_EXECUTABLE_EXT"]["description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    assert_eq!(
        r["milter"]["add_headers"]["X-Mailmoat-Action"]["value"],
        "reject"
    );
    assert_eq!(
        r["milter"]["remove_headers"]["X-Mailmoat-Action"], 0,
        "a forged verdict is removed before ours is added"
    );
    let (status, reply) = http(
        addr,
        "POST",
        "/api/v1/scan",
        "",
        &std::fs::read(sample("01-hello.eml")).unwrap(),
    );
    assert_eq!(status, 200, "{reply}");
    let r = json_body(&reply);
    assert_eq!(r["version"], 1);
    assert_eq!(r["action"], "deliver");
    assert!(r["message"]["subject"].is_string(), "{r}");
    let (status, reply) = http(addr, "GET", "/ping", "", b"");
    assert_eq!(status, 200);
    assert!(reply.ends_with("pong\r\n"), "{reply}");
    let (status, _) = http(addr, "POST", "/checkv2", "", b"");
    assert_eq!(status, 400, "no message");
    let (status, _) = http(addr, "POST", "/checkv2", "", &vec![b'x'; 100_001]);
    assert_eq!(status, 413, "over max_message_bytes");
    std::fs::remove_dir_all(dir).ok();
}

//! The spamd protocol service of `mailmoat serve`: the real `spamc` from Debian's package
//! against it (skipped with a reason when spamc is absent), and the raw protocol for what
//! spamc never sends.

mod common;
mod smtp_kit;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{connect_from, root, temp_dir, text};
use smtp_kit::{have, start_with_service, Gateway};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(root().join("samples").join(name)).unwrap()
}

/// A gateway whose spamd service listens on a free loopback port; `spamd` adds to its section.
fn start(name: &str, spamd: &str, extra: &str) -> (Gateway, SocketAddr, std::path::PathBuf) {
    let dir = temp_dir(name);
    let spamd = format!("allowed_networks = [\"127.0.0.1/32\"]\n{spamd}");
    let (gw, addr) = start_with_service(&dir, "spamd", &spamd, extra);
    (gw, addr, dir)
}

fn spamc(addr: SocketAddr, args: &[&str], message: &[u8]) -> Output {
    let mut child = Command::new("spamc")
        .args([
            "-d",
            "127.0.0.1",
            "-p",
            &addr.port().to_string(),
            "-t",
            "30",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run spamc");
    child.stdin.take().unwrap().write_all(message).unwrap();
    child.wait_with_output().unwrap()
}

/// One raw request; the whole reply.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    text(&reply)
}

fn request(command: &str, message: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{command} SPAMC/1.5\r\nContent-length: {}\r\nUser: bob@example.com\r\n\r\n",
        message.len()
    )
    .into_bytes();
    r.extend_from_slice(message);
    r
}

#[test]
fn spamc_checks_lists_reports_and_processes_through_mailmoat() {
    if !have("spamc") {
        eprintln!("skipped: spamc is not installed (Debian package spamc)");
        return;
    }
    let (gw, addr, dir) = start("spamd-spamc", "", "");
    let spam = sample("02-invoice-exe.eml");
    let ham = sample("01-hello.eml");

    let ping = spamc(addr, &["-K"], b"");
    assert!(ping.status.success(), "{}", text(&ping.stderr));

    // -c: "score/threshold", exit 1 for spam, 0 for ham.
    let checked = spamc(addr, &["-c"], &spam);
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked.stdout));
    let (score, threshold) = text(&checked.stdout)
        .trim()
        .split_once('/')
        .map(|(s, t)| (s.parse::<f64>().unwrap(), t.parse::<f64>().unwrap()))
        .unwrap();
    assert!(score >= threshold, "{score}/{threshold}");
    let checked = spamc(addr, &["-c"], &ham);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stdout));

    // -y: the symbols that fired.
    let symbols = text(&spamc(addr, &["-y"], &spam).stdout);
    assert!(symbols.contains("ATTACH_EXECUTABLE_EXT"), "{symbols}");

    // -R: a report a person reads, with each rule's description.
    let report = text(&spamc(addr, &["-R"], &spam).stdout);
    assert!(
        report.contains("points,") && report.contains("ATTACH_EXECUTABLE_EXT"),
        "{report}"
    );

    // Default (PROCESS): the message as it should be delivered; a forged verdict is removed.
    let forged = [
        &b"X-Spam-Flag: NO\r\nX-Mailmoat-Action: deliver\r\n"[..],
        &spam,
    ]
    .concat();
    let processed = text(&spamc(addr, &[], &forged).stdout);
    assert!(processed.contains("X-Spam-Flag: YES\r\n"), "{processed}");
    assert!(
        processed.contains("X-Spam-Status: Yes, score="),
        "{processed}"
    );
    assert!(
        processed.contains("X-Mailmoat-Action: reject\r\n"),
        "{processed}"
    );
    assert!(!processed.contains("X-Spam-Flag: NO"), "{processed}");
    assert!(
        !processed.contains("X-Mailmoat-Action: deliver"),
        "{processed}"
    );
    assert!(processed.contains("Overdue invoice"), "the message follows");
    let processed = text(&spamc(addr, &[], &ham).stdout);
    assert!(
        processed.contains("X-Spam-Status: No, score="),
        "{processed}"
    );
    assert!(!processed.contains("X-Spam-Flag"), "{processed}");

    // Every scan is in the message log, as the gateway's are.
    std::thread::sleep(Duration::from_millis(500));
    let log = gw.log.lock().unwrap().clone();
    assert!(
        log.contains("via=\"spamd\"") || log.contains("via=spamd"),
        "{log}"
    );
    drop(gw);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn spamc_learn_teaches_the_model_file() {
    if !have("spamc") {
        eprintln!("skipped: spamc is not installed (Debian package spamc)");
        return;
    }
    let dir = temp_dir("spamd-tell-model");
    std::fs::copy(
        root().join("crates/classifier/models/default.model"),
        dir.join("site.model"),
    )
    .unwrap();
    let (gw, addr, dir2) = start("spamd-tell", "", "");
    // Without a model file to learn into, learning is refused (EX_UNAVAILABLE, as spamd without
    // --allow-tell), not pretended; spamc reports that nothing was learned.
    let refused = spamc(addr, &["-L", "spam"], &sample("01-hello.eml"));
    assert!(
        !text(&refused.stdout).contains("successfully"),
        "{}",
        text(&refused.stdout)
    );
    drop(gw);
    std::fs::remove_dir_all(dir2).ok();

    let model = dir.join("site.model");
    let (gw, addr, dir2) = start(
        "spamd-tell-2",
        "",
        &format!("[classifier]\nmodel = \"{}\"\n", model.display()),
    );
    let before = std::fs::metadata(&model).unwrap().modified().unwrap();
    let message = sample("01-hello.eml");
    let learned = spamc(addr, &["-L", "spam"], &message);
    assert_eq!(
        learned.status.code(),
        Some(0),
        "{} {}",
        text(&learned.stdout),
        text(&learned.stderr)
    );
    assert!(
        text(&learned.stdout).contains("learned"),
        "{}",
        text(&learned.stdout)
    );
    let after = std::fs::metadata(&model).unwrap().modified().unwrap();
    assert!(after > before, "the model file was written");
    // Forgetting is not offered; spamc then says nothing was changed.
    let forget = spamc(addr, &["-L", "forget"], &message);
    assert!(
        !text(&forget.stdout).contains("successfully"),
        "{}",
        text(&forget.stdout)
    );
    drop(gw);
    std::fs::remove_dir_all(dir2).ok();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_raw_protocol_answers_bad_requests_and_only_allowed_clients() {
    let (gw, addr, dir) = start("spamd-raw", "max_message_bytes = 100000\n", "");
    let _ = &gw;
    let spam = sample("02-invoice-exe.eml");
    let reply = raw(addr, &request("CHECK", &spam));
    assert!(
        reply.starts_with("SPAMD/1.1 0 EX_OK\r\n") && reply.contains("Spam: True ; "),
        "{reply}"
    );
    let reply = raw(addr, &request("SYMBOLS", &sample("01-hello.eml")));
    assert!(reply.contains("Spam: False ; "), "{reply}");
    assert_eq!(raw(addr, b"PING SPAMC/1.5\r\n\r\n"), "SPAMD/1.5 0 PONG\r\n");
    assert_eq!(
        raw(addr, b"FROB SPAMC/1.5\r\n\r\n"),
        "SPAMD/1.1 76 EX_PROTOCOL\r\n\r\n"
    );
    let big = vec![b'x'; 100_001];
    assert_eq!(
        raw(addr, &request("CHECK", &big)),
        "SPAMD/1.1 65 EX_DATAERR\r\n\r\n",
        "over max_message_bytes"
    );
    // A client outside allowed_networks (127.0.0.1/32 here) is closed without an answer.
    let mut other = connect_from("127.0.0.2".parse().unwrap(), addr);
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = other.write_all(&request("CHECK", &spam));
    let mut got = Vec::new();
    let _ = other.read_to_end(&mut got);
    assert!(got.is_empty(), "{}", text(&got));
    std::fs::remove_dir_all(dir).ok();
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
fn certificates(dir: &std::path::Path) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(text(&o.stderr))
        }
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    // Extensions make them version 3 certificates, which is what TLS libraries accept.
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ])?;
    for who in ["server", "client", "stranger"] {
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={who}"),
            "-keyout",
            &format!("{who}.key"),
            "-out",
            &format!("{who}.csr"),
        ])?;
    }
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "client.ext",
        "-out",
        "client.pem",
    ])?;
    // Self-signed: a certificate no trusted CA issued.
    run(&[
        "x509",
        "-req",
        "-in",
        "stranger.csr",
        "-signkey",
        "stranger.key",
        "-days",
        "2",
        "-extfile",
        "client.ext",
        "-out",
        "stranger.pem",
    ])?;
    Ok(())
}

#[test]
fn over_tls_only_clients_with_a_certificate_from_the_configured_ca_are_served() {
    if !have("spamc") || !have("openssl") {
        eprintln!("skipped: spamc or openssl is not installed");
        return;
    }
    let dir = temp_dir("spamd-tls-certs");
    if let Err(e) = certificates(&dir) {
        eprintln!("skipped: cannot make test certificates: {e}");
        return;
    }
    let d = dir.display();
    let (_gw, addr, _) = start(
        "spamd-tls",
        &format!("tls = true\ntls_cert = \"{d}/server.pem\"\ntls_key = \"{d}/server.key\"\nclient_ca = \"{d}/ca.pem\"\n"),
        "",
    );
    let spam = sample("02-invoice-exe.eml");
    let ca = format!("{d}/ca.pem");
    let with = |who: &str| -> Output {
        spamc(
            addr,
            &[
                "-S",
                "--ssl-ca-file",
                &ca,
                "--ssl-cert",
                &format!("{d}/{who}.pem"),
                "--ssl-key",
                &format!("{d}/{who}.key"),
                "-c",
                "-x",
            ],
            &spam,
        )
    };
    let ok = with("client");
    assert_eq!(
        ok.status.code(),
        Some(1),
        "spam over TLS: {}",
        text(&ok.stderr)
    );
    assert!(text(&ok.stdout).contains('/'), "{}", text(&ok.stdout));
    // A certificate the CA did not issue, and none at all: no answer (-x: no safe fallback).
    let stranger = with("stranger");
    assert!(
        !matches!(stranger.status.code(), Some(0) | Some(1)),
        "{}",
        text(&stranger.stdout)
    );
    let anonymous = spamc(addr, &["-S", "--ssl-ca-file", &ca, "-c", "-x"], &spam);
    assert!(
        !matches!(anonymous.status.code(), Some(0) | Some(1)),
        "{}",
        text(&anonymous.stdout)
    );
    // Plain text on the TLS port is no request either.
    let plain = spamc(addr, &["-c", "-x"], &spam);
    assert!(
        !matches!(plain.status.code(), Some(0) | Some(1)),
        "{}",
        text(&plain.stdout)
    );
}

//! Threat intelligence updates without a restart: a signed, versioned folder (YARA rules, hash
//! lists) packed, verified and made current from a folder or an http URL; a running gateway
//! reloads when the current version changes; tampered or unsigned folders are refused and
//! change nothing; the previous version comes back with a rollback.

mod common;
mod smtp_kit;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{bin, temp_dir, text};
use smtp_kit::Gateway;

fn mailmoat(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An intelligence folder whose one YARA rule matches `marker`.
fn folder(root: &Path, version: &str, marker: &str) -> PathBuf {
    let dir = root.join(format!("feed-{version}"));
    std::fs::create_dir_all(dir.join("yara")).unwrap();
    std::fs::create_dir_all(dir.join("hashes")).unwrap();
    std::fs::write(
        dir.join("yara/feed.yar"),
        format!(
            "rule Feed_{} {{\n  strings:\n    $a = \"{marker}\"\n  condition:\n    $a\n}}\n",
            version.replace('.', "_")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("hashes/feed.txt"),
        format!("{} Feed.Sample\n", "cd".repeat(32)),
    )
    .unwrap();
    dir
}

fn message(body: &str) -> String {
    format!(
        "From: a@example.net\r\nTo: user@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream; name=\"a.js\"\r\nContent-Disposition: attachment; filename=\"a.js\"\r\n\r\n{body}\r\n--b--\r\n"
    )
}

/// Serves one file over HTTP/1.1, once per connection, until the test ends.
fn serve_file(bytes: Vec<u8>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                )
                .as_bytes(),
            );
            let _ = stream.write_all(&bytes);
        }
    });
    port
}

fn tar_gz(folder: &Path) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("feed", folder).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn a_signed_update_is_verified_swapped_in_followed_by_the_gateway_and_rolled_back() {
    let root = temp_dir("intel-update");
    let key = root.join("signing.key");
    let _ = std::fs::remove_file(&key);
    let o = mailmoat(&["intel", "keygen", "--out", s(&key)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let public = text(&o.stdout).trim().to_string();

    let extra = format!(
        "[auth]\nenabled = false\n\n[intel]\ndir = \"intel\"\ntrusted_keys = [\"{public}\"]\ncheck_interval_secs = 1\n"
    );
    let config = smtp_kit::config(&root, &extra);
    let scan = |marker: &str| {
        let eml = root.join("m.eml");
        std::fs::write(&eml, message(&format!("var x = '{marker}';"))).unwrap();
        let o = mailmoat(&["scan", "--json", "-c", s(&config), s(&eml)]);
        text(&o.stdout)
    };

    // Version 1 from a folder.
    let v1 = folder(&root, "2026.12.1", "FEED-ONE-MARKER");
    let o = mailmoat(&[
        "intel",
        "pack",
        s(&v1),
        "--version",
        "2026.12.1",
        "--key",
        s(&key),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = mailmoat(&["intel", "update", s(&v1), "-c", s(&config)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(scan("FEED-ONE-MARKER").contains("Feed_2026_12_1"));

    let gateway = Gateway::start(&config);

    // A tampered folder and an unsigned one are refused; nothing changes.
    let tampered = folder(&root, "2026.12.9", "FEED-NINE-MARKER");
    mailmoat(&[
        "intel",
        "pack",
        s(&tampered),
        "--version",
        "2026.12.9",
        "--key",
        s(&key),
    ]);
    std::fs::write(
        tampered.join("yara/feed.yar"),
        "rule Planted { condition: true }",
    )
    .unwrap();
    let o = mailmoat(&["intel", "update", s(&tampered), "-c", s(&config)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains("SHA-256"), "{}", text(&o.stderr));
    let unsigned = folder(&root, "2026.12.8", "FEED-EIGHT-MARKER");
    mailmoat(&["intel", "pack", s(&unsigned), "--version", "2026.12.8"]);
    let o = mailmoat(&["intel", "update", s(&unsigned), "-c", s(&config)]);
    assert!(text(&o.stderr).contains("unsigned"), "{}", text(&o.stderr));

    // Version 2 from an http URL, as a .tar.gz.
    let v2 = folder(&root, "2026.12.2", "FEED-TWO-MARKER");
    mailmoat(&[
        "intel",
        "pack",
        s(&v2),
        "--version",
        "2026.12.2",
        "--key",
        s(&key),
    ]);
    let port = serve_file(tar_gz(&v2));
    let url = format!("http://127.0.0.1:{port}/feed.tar.gz");
    let o = mailmoat(&["intel", "update", &url, "-c", s(&config)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("2026.12.2 is current"));
    assert!(scan("FEED-TWO-MARKER").contains("Feed_2026_12_2"));
    assert!(!scan("FEED-ONE-MARKER").contains("YARA_MATCH"));

    // The running gateway notices and reloads.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gateway
        .log
        .lock()
        .unwrap()
        .contains("intelligence version 2026.12.2: reloaded")
    {
        assert!(
            Instant::now() < deadline,
            "the gateway did not reload: {}",
            gateway.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let o = mailmoat(&["intel", "status", "-c", s(&config)]);
    let status = text(&o.stdout);
    assert!(status.contains("2026.12.1\tprevious"), "{status}");
    assert!(status.contains("2026.12.2\tcurrent"), "{status}");
    assert!(status.contains("verifies"), "{status}");

    let o = mailmoat(&["intel", "rollback", "-c", s(&config)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(scan("FEED-ONE-MARKER").contains("Feed_2026_12_1"));
    gateway.kill();
}

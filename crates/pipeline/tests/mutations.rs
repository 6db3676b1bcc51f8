//! Damaged attachments: every crafted attachment of the analysers' cases, mutated (bytes
//! changed, cut out, inserted, truncated) by a fixed generator, must be analysed without a
//! detector failing: readers bound what they read and fail into evidence, not a panic.

use std::path::Path;
use std::sync::Arc;

use mailmoat_mime::{Envelope, MessageView, ViewOptions};
use mailmoat_pipeline::{Config, Scanner};
use mailmoat_rules::MemoryRateStore;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..[1, 2, 4, 16, 64][rng.below(5)] {
        if d.is_empty() {
            d.push(b'x');
        }
        let i = rng.below(d.len());
        match rng.below(10) {
            0..=5 => d[i] = [0, 0xff, 0x7f, 0x80, rng.next() as u8][rng.below(5)],
            6 | 7 => {
                let end = (i + 1 + rng.below(64)).min(d.len());
                d.drain(i..end);
            }
            _ => {
                let junk: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.next() as u8).collect();
                d.splice(i..i, junk);
            }
        }
    }
    if rng.below(5) == 0 && !d.is_empty() {
        d.truncate(1 + rng.below(d.len()));
    }
    d
}

fn message(name: &str, data: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(data);
    let mut lines = String::new();
    for chunk in body.as_bytes().chunks(76) {
        lines.push_str(std::str::from_utf8(chunk).expect("ASCII"));
        lines.push_str("\r\n");
    }
    format!(
        "From: a@vendor.example\r\nTo: b@corp.example\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe password is infected.\r\n--B\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{lines}--B--\r\n"
    )
    .into_bytes()
}

#[test]
fn damaged_attachments_never_fail_a_detector() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../analyzers/cases");
    let mut attachments = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&cases)
        .expect("cases")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read(&path).expect("readable");
        let Some(at) = text.windows(2).position(|w| w == b"\n\n") else {
            continue;
        };
        let view = MessageView::build(
            text[at + 2..].to_vec(),
            Envelope::default(),
            &ViewOptions::default(),
        );
        for a in view.attachments {
            if !a.data.is_empty() && a.data.len() < 1 << 20 {
                attachments.push((a.file_name.unwrap_or_else(|| "x.bin".into()), a.data));
            }
        }
    }
    assert!(attachments.len() > 50, "the crafted attachments are found");
    let config = Config::defaults();
    let detectors = mailmoat_pipeline::analysis_detectors(&config).expect("detectors");
    let scanner = Scanner::build_with(
        &config,
        detectors,
        Arc::new(MemoryRateStore::default()),
        None,
    )
    .expect("scanner");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    let mut scanned = 0;
    for (name, data) in &attachments {
        for _ in 0..25 {
            let damaged = mutate(data, &mut rng);
            let report = scanner.scan(message(name, &damaged), Envelope::default());
            scanned += 1;
            if report.findings.contains("DETECTOR_FAILED") {
                failures.push(format!("{name} ({} bytes)", damaged.len()));
            }
        }
    }
    println!("{scanned} damaged attachments analysed");
    assert!(failures.is_empty(), "detectors failed on: {failures:?}");
}

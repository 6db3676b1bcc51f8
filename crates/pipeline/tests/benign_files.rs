//! False positives of the attachment analysis on real benign files, each mailed alone under
//! its own name: no message may come out above Low risk. Windows programs and archives from
//! Debian (clamav-testfiles, the mingw-w64 runtime DLLs, NSIS installer stubs;
//! scripts/fetch-benign-files.sh) and documents (python-docx and python-pptx test files, the
//! hwp crate's .hwp files, texlive's PDF manuals; scripts/fetch-benign-documents.sh). Each
//! test skips with a message when its files are absent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailmoat_mime::Envelope;
use mailmoat_pipeline::{Config, Scanner};
use mailmoat_rules::MemoryRateStore;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

fn message(name: &str, data: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut body = String::new();
    for line in encoded.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        body.push_str("\r\n");
    }
    format!(
        "From: Build Team <builds@vendor.example>\r\nTo: Bob <bob@corp.example>\r\nSubject: {name}\r\nDate: Mon, 23 Nov 2026 01:00:00 +0000\r\nMessage-ID: <b1@vendor.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe file you asked for.\r\n--B\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}--B--\r\n"
    )
    .into_bytes()
}

#[test]
fn benign_windows_files_stay_at_or_below_low_risk() {
    check("benign-files", "fetch-benign-files.sh");
}

#[test]
fn benign_documents_stay_at_or_below_low_risk() {
    check("benign-documents", "fetch-benign-documents.sh");
}

fn check(corpus: &str, script: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpora")
        .join(corpus)
        .join("files");
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    if all.is_empty() {
        println!(
            "SKIP {corpus}: {} not found (run scripts/{script})",
            root.display()
        );
        return;
    }
    let config = Config::defaults();
    let detectors = mailmoat_pipeline::analysis_detectors(&config).expect("detectors build");
    let scanner = Scanner::build_with(
        &config,
        detectors,
        Arc::new(MemoryRateStore::default()),
        None,
    )
    .expect("scanner builds");
    let mut by_risk = std::collections::BTreeMap::<String, usize>::new();
    let mut above_low = Vec::new();
    let mut worst: Vec<(f64, String)> = Vec::new();
    for path in &all {
        let data = std::fs::read(path).expect("readable");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_string();
        let report = scanner.scan(message(&name, &data), Envelope::default());
        let risk = report.verdict.risk.as_str().to_string();
        *by_risk.entry(risk.clone()).or_default() += 1;
        let symbols: Vec<String> = report
            .verdict
            .reasons
            .iter()
            .filter(|r| r.score != 0.0)
            .map(|r| format!("{} {:+.1}", r.symbol, r.score))
            .collect();
        let line = format!(
            "{} ({risk}, {:.1}): {}",
            path.strip_prefix(&root).unwrap_or(path).display(),
            report.verdict.score,
            symbols.join(", ")
        );
        if matches!(risk.as_str(), "medium" | "high") {
            above_low.push(line.clone());
        }
        worst.push((report.verdict.score, line));
    }
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("{} benign files, by risk: {by_risk:?}", all.len());
    println!("highest scores:");
    for (_, line) in worst.iter().take(8) {
        println!("  {line}");
    }
    assert!(
        above_low.is_empty(),
        "benign files above Low risk:\n{}",
        above_low.join("\n")
    );
}

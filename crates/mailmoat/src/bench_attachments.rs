//! `mailmoat bench-attachments`: the attachment analyser on synthetic files built here
//! (nothing downloaded): a typical 5 MB archive of photos, a spreadsheet export and a DLL; the
//! bombs (a 1 GiB zip, a 1 GiB gzip, nested zips expanding to 4 GiB); 10 MB documents (a .docx
//! of text and photos, a 400-page PDF). Each case runs in
//! its own process so that its peak memory (VmHWM) is its own.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mailmoat_core::Findings;
use mailmoat_detectors::Detector;
use mailmoat_mime::{Envelope, MessageView, ViewOptions};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

pub const CASES: &[&str] = &[
    "typical-5mb",
    "zip-bomb-1gib",
    "gzip-bomb-1gib",
    "nested-zip-4gib",
    "docx-10mb",
    "pdf-10mb",
];

/// A deterministic stream of bytes (xorshift): "photos" that do not compress.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A spreadsheet export: rows of names, dates and amounts (compresses about 4:1).
fn csv(n: usize) -> Vec<u8> {
    let words = [
        "Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim",
    ];
    let mut out = Vec::with_capacity(n + 100);
    let mut i = 0u64;
    while out.len() < n {
        let w = words[(i * 7 % 10) as usize];
        let _ = writeln!(
            out,
            "{i},{w} {},2026-{:02}-{:02},{}.{:02},SEOUL-{}",
            words[(i * 3 % 10) as usize],
            i % 12 + 1,
            i % 28 + 1,
            (i * 7919) % 100_000,
            i % 100,
            (i * 31) % 977
        );
        i += 1;
    }
    out
}

fn zip_of(members: &[(&str, &[u8], CompressionMethod)]) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, method) in members {
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(*method),
        )?;
        zip.write_all(data)?;
    }
    Ok(zip.finish()?.into_inner())
}

fn zeros_deflated(n: usize) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "data.bin",
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(n as u64 > u32::MAX as u64),
    )?;
    let block = vec![0u8; 1 << 20];
    for _ in 0..n / block.len() {
        zip.write_all(&block)?;
    }
    Ok(zip.finish()?.into_inner())
}

fn build(case: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let pe = {
        // A small DLL-shaped PE: enough for the PE reader to run on it.
        let mut pe = vec![0u8; 1024];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        pe[0x44..0x46].copy_from_slice(&0x14cu16.to_le_bytes());
        pe
    };
    Ok(match case {
        "typical-5mb" => {
            let photos: Vec<Vec<u8>> = (0..4).map(|i| noise(700_000, 0x9e37_79b9 + i)).collect();
            let report = csv(9_000_000);
            let mut members: Vec<(String, &[u8], CompressionMethod)> = photos
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        format!("photos/site_{i}.jpg"),
                        p.as_slice(),
                        CompressionMethod::Stored,
                    )
                })
                .collect();
            members.push((
                "report/ledger_2026.csv".into(),
                &report,
                CompressionMethod::Deflated,
            ));
            members.push(("tools/helper.dll".into(), &pe, CompressionMethod::Deflated));
            let refs: Vec<(&str, &[u8], CompressionMethod)> = members
                .iter()
                .map(|(n, d, m)| (n.as_str(), *d, *m))
                .collect();
            ("site-survey.zip".into(), zip_of(&refs)?)
        }
        "zip-bomb-1gib" => ("report.zip".into(), zeros_deflated(1 << 30)?),
        "gzip-bomb-1gib" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let block = vec![0u8; 1 << 20];
            for _ in 0..1024 {
                gz.write_all(&block)?;
            }
            ("backup.tar.gz".into(), gz.finish()?)
        }
        "nested-zip-4gib" => {
            // 8 × 8 leaves of 64 MiB of zeros each: 4 GiB if everything were unpacked.
            let leaf = zeros_deflated(64 << 20)?;
            let l1_members: Vec<(String, &[u8], CompressionMethod)> = (0..8)
                .map(|i| {
                    (
                        format!("part{i}.zip"),
                        leaf.as_slice(),
                        CompressionMethod::Stored,
                    )
                })
                .collect();
            let l1 = zip_of(
                &l1_members
                    .iter()
                    .map(|(n, d, m)| (n.as_str(), *d, *m))
                    .collect::<Vec<_>>(),
            )?;
            let l2_members: Vec<(String, &[u8], CompressionMethod)> = (0..8)
                .map(|i| {
                    (
                        format!("volume{i}.zip"),
                        l1.as_slice(),
                        CompressionMethod::Stored,
                    )
                })
                .collect();
            let l2 = zip_of(
                &l2_members
                    .iter()
                    .map(|(n, d, m)| (n.as_str(), *d, *m))
                    .collect::<Vec<_>>(),
            )?;
            ("archive.zip".into(), l2)
        }
        "docx-10mb" => {
            // A report: 3 MB of paragraphs (deflated) and 9 photos of 1 MB (stored).
            let mut body = String::from("<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>");
            let text = String::from_utf8(csv(3_000_000)).unwrap_or_default();
            for line in text.lines() {
                body.push_str("<w:p><w:r><w:t>");
                body.push_str(line);
                body.push_str("</w:t></w:r></w:p>");
            }
            body.push_str("</w:body></w:document>");
            let rels = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink\" Target=\"https://www.example.com/\" TargetMode=\"External\"/></Relationships>";
            let photos: Vec<Vec<u8>> = (0..9).map(|i| noise(1_000_000, 0x51ed + i)).collect();
            let mut members: Vec<(String, &[u8], CompressionMethod)> = vec![
                (
                    "[Content_Types].xml".into(),
                    b"<Types/>".as_slice(),
                    CompressionMethod::Deflated,
                ),
                (
                    "word/document.xml".into(),
                    body.as_bytes(),
                    CompressionMethod::Deflated,
                ),
                (
                    "word/_rels/document.xml.rels".into(),
                    rels.as_bytes(),
                    CompressionMethod::Deflated,
                ),
            ];
            for (i, p) in photos.iter().enumerate() {
                members.push((
                    format!("word/media/image{i}.jpeg"),
                    p.as_slice(),
                    CompressionMethod::Stored,
                ));
            }
            let refs: Vec<(&str, &[u8], CompressionMethod)> = members
                .iter()
                .map(|(n, d, m)| (n.as_str(), *d, *m))
                .collect();
            ("annual-report.docx".into(), zip_of(&refs)?)
        }
        "pdf-10mb" => {
            // 400 pages: a Flate content stream of text each, and 40 photos (DCT, not decoded).
            let mut pdf = b"%PDF-1.7\n".to_vec();
            let mut n = 1;
            let page_text = csv(20_000);
            for page in 0..400 {
                let mut content = Vec::new();
                for line in page_text.split(|b| *b == b'\n').take(300) {
                    content.extend_from_slice(b"BT /F1 9 Tf 40 700 Td (");
                    content.extend_from_slice(line);
                    content.extend_from_slice(b") Tj ET\n");
                }
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                z.write_all(&content)?;
                let z = z.finish()?;
                pdf.extend_from_slice(
                    format!(
                        "{n} 0 obj\n<< /Length {} /Filter /FlateDecode >>\nstream\n",
                        z.len()
                    )
                    .as_bytes(),
                );
                pdf.extend_from_slice(&z);
                pdf.extend_from_slice(b"\nendstream\nendobj\n");
                n += 1;
                if page % 10 == 0 {
                    let photo = noise(200_000, 0xfeed + page as u64);
                    pdf.extend_from_slice(format!("{n} 0 obj\n<< /Type /XObject /Subtype /Image /Width 400 /Height 500 /Filter /DCTDecode /Length {} >>\nstream\n", photo.len()).as_bytes());
                    pdf.extend_from_slice(&photo);
                    pdf.extend_from_slice(b"\nendstream\nendobj\n");
                    n += 1;
                }
            }
            pdf.extend_from_slice(format!("{n} 0 obj\n<< /Type /Catalog /OpenAction [3 0 R /Fit] >>\nendobj\ntrailer\n<< /Root {n} 0 R >>\n%%EOF\n").as_bytes());
            ("annual-report.pdf".into(), pdf)
        }
        other => anyhow::bail!("unknown case {other}; one of {}", CASES.join(", ")),
    })
}

fn message(name: &str, data: &[u8]) -> Vec<u8> {
    use std::fmt::Write as _;
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 * 2 + 8);
    for line in data.chunks(57) {
        for c in line.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for (k, shift) in [18, 12, 6, 0].iter().enumerate() {
                if k <= c.len() {
                    body.push(B64[(n >> shift & 63) as usize] as char);
                } else {
                    body.push('=');
                }
            }
        }
        body.push_str("\r\n");
    }
    let mut m = String::new();
    let _ = write!(
        m,
        "From: a@vendor.example\r\nTo: b@corp.example\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nFiles attached.\r\n--B\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}--B--\r\n"
    );
    m.into_bytes()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One case in this process.
fn run_case(case: &str, repeat: usize) -> anyhow::Result<()> {
    let (name, data) = build(case)?;
    let view = MessageView::build(
        message(&name, &data),
        Envelope::default(),
        &ViewOptions::default(),
    );
    drop(data);
    let analyser = mailmoat_analyzers::Config::default().build(
        &mailmoat_analyzers::VariantsConfig::default(),
        std::path::Path::new("."),
    )?;
    let rss_before = peak_rss_kib().unwrap_or(0);
    let mut best = Duration::MAX;
    let mut symbols = Vec::new();
    for _ in 0..repeat.max(1) {
        let mut findings = Findings::default();
        let start = Instant::now();
        analyser.analyze(&view, &mut findings);
        best = best.min(start.elapsed());
        symbols = findings.iter().map(|e| e.symbol.to_string()).collect();
    }
    symbols.sort();
    symbols.dedup();
    let size = view.attachments.first().map_or(0, |a| a.data.len());
    println!(
        "{case:<16} {name:<16} {:>6.2} MB  best of {repeat}: {:>8.2} ms  peak RSS {:>5} MiB (before analysis {} MiB)  {}",
        size as f64 / 1e6,
        best.as_secs_f64() * 1000.0,
        peak_rss_kib().unwrap_or(0) / 1024,
        rss_before / 1024,
        symbols.join(" ")
    );
    Ok(())
}

pub fn run(only: Option<&str>, repeat: usize) -> anyhow::Result<ExitCode> {
    if let Some(case) = only {
        run_case(case, repeat)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Each case in a child process: VmHWM is per process.
    let exe = std::env::current_exe()?;
    for case in CASES {
        let status = std::process::Command::new(&exe)
            .args([
                "bench-attachments",
                "--only",
                case,
                "--repeat",
                &repeat.to_string(),
            ])
            .status()?;
        anyhow::ensure!(status.success(), "case {case} failed");
    }
    Ok(ExitCode::SUCCESS)
}

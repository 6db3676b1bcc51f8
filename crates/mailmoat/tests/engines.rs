//! Signature engines beside our analysers: YARA rules in process, ClamAV through a real clamd
//! (Debian's clamav-daemon, started here on loopback with a temporary database of local
//! signatures made for inert test files; skipped with a reason when clamd is not installed).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, temp_dir, text};

const MARKER: &str = "MAILMOAT-INERT-DROPPER-MARKER";

const RULES: &str = r#"
rule Inert_Dropper : dropper test {
    meta:
        family = "InertTest"
        severity = "high"
    strings:
        $a = "MAILMOAT-INERT-DROPPER-MARKER"
    condition:
        $a
}
rule Inert_Hint {
    meta:
        severity = "medium"
    strings:
        $h = "inert-hint-marker"
    condition:
        $h
}
rule Inert_Packer {
    meta:
        score = 45
    strings:
        $p = "inert-packer-marker"
    condition:
        $p
}
rule Inert_Inventory {
    meta:
        severity = "info"
    strings:
        $i = "inert-inventory-marker"
    condition:
        $i
}
"#;

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        out.start_file(*name, deflated).unwrap();
        out.write_all(data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// A PDF whose script and one other stream are deflated: only the decompressed streams hold
/// `script` and the other stream's marker.
fn pdf_with_script(script: &str) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(script.as_bytes()).unwrap();
    let stream = z.finish().unwrap();
    let mut pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n2 0 obj << /S /JavaScript /JS 3 0 R >> endobj\n".to_vec();
    pdf.extend_from_slice(
        format!(
            "3 0 obj << /Length {} /Filter /FlateDecode >>\nstream\n",
            stream.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&stream);
    pdf.extend_from_slice(b"\nendstream\nendobj\n");
    // Another deflated stream, not a script (a font program, say).
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b"%!FontType1 inert-inventory-marker").unwrap();
    let font = z.finish().unwrap();
    pdf.extend_from_slice(
        format!(
            "4 0 obj << /Length {} /Filter /FlateDecode >>\nstream\n",
            font.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&font);
    pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    pdf
}

fn message_with(attachments: &[(&str, &[u8])]) -> Vec<u8> {
    use base64::Engine;
    let mut m = String::from(
        "From: Sender <sender@example.net>\r\nTo: user@example.com\r\nSubject: documents\r\nDate: Tue, 3 Sep 2024 10:00:00 +0000\r\nMessage-ID: <e1@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe files we spoke about.\r\n",
    );
    for (name, data) in attachments {
        m.push_str(&format!(
            "--b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(data)
        ));
    }
    m.push_str("--b--\r\n");
    m.into_bytes()
}

fn scan_json(config: &Path, message: &Path) -> (Output, serde_json::Value) {
    let o = bin()
        .args(["scan", "--json", "-c"])
        .arg(config)
        .arg(message)
        .output()
        .unwrap();
    let line = text(&o.stdout);
    let v = serde_json::from_str(line.lines().next().unwrap_or("null")).unwrap_or_default();
    (o, v)
}

fn hit_locations(report: &serde_json::Value, symbol: &str) -> Vec<String> {
    report["symbols"][symbol]["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| {
                    h["location"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_string())
                        .collect::<Vec<_>>()
                        .join(" > ")
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn yara_rules_judge_the_objects_inside_archives_and_documents() {
    let dir = temp_dir("yara-objects");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/families.yar"), RULES).unwrap();
    std::fs::write(
        dir.join("mailmoat.toml"),
        "[auth]\nenabled = false\n\n[analyzers.yara]\nrules = [\"rules\"]\nmax_object_bytes = 200000\n",
    )
    .unwrap();
    // Deflated: the marker is only in the unpacked member and the decompressed script.
    let archive = zip_of(&[
        ("notes.txt", b"nothing to see but inert-inventory-marker"),
        ("tools/run.js", format!("var k = '{MARKER}';").as_bytes()),
        ("big.bin", &vec![b'z'; 300_000]),
    ]);
    let pdf = pdf_with_script("app.alert('inert-hint-marker'); // inert-packer-marker");
    std::fs::write(
        dir.join("m.eml"),
        message_with(&[("bundle.zip", &archive), ("form.pdf", &pdf)]),
    )
    .unwrap();
    let (o, report) = scan_json(&dir.join("mailmoat.toml"), &dir.join("m.eml"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_eq!(
        hit_locations(&report, "YARA_MATCH"),
        ["attachment bundle.zip > tools/run.js"],
        "{report}"
    );
    let details = report["symbols"]["YARA_MATCH"]["hits"][0]["details"]
        .as_str()
        .unwrap();
    assert!(
        details.contains("families:Inert_Dropper")
            && details.contains("[dropper, test]")
            && details.contains("family=InertTest"),
        "{details}"
    );
    assert_eq!(
        hit_locations(&report, "YARA_MATCH_MEDIUM"),
        ["attachment form.pdf > JavaScript 1"],
        "{report}"
    );
    assert_eq!(
        hit_locations(&report, "YARA_MATCH_LOW"),
        ["attachment form.pdf > JavaScript 1"],
        "{report}"
    );
    assert_eq!(
        hit_locations(&report, "YARA_MATCH_INFO"),
        [
            "attachment bundle.zip > notes.txt",
            "attachment form.pdf > stream 4"
        ],
        "{report}"
    );
    assert_eq!(report["symbols"]["YARA_MATCH_INFO"]["score"], 0.0);
    // Over the size limit: not scanned, and said so.
    assert_eq!(
        hit_locations(&report, "YARA_SKIPPED"),
        ["attachment bundle.zip > big.bin"],
        "{report}"
    );
    // Threat evidence sets the risk; the message is held back (refused at this score).
    assert_eq!(report["risk"], "high", "{report}");
    assert!(
        matches!(report["action"].as_str(), Some("quarantine" | "reject")),
        "{report}"
    );

    // The same message without the rules: no YARA evidence.
    std::fs::write(dir.join("plain.toml"), "[auth]\nenabled = false\n").unwrap();
    let (_, plain) = scan_json(&dir.join("plain.toml"), &dir.join("m.eml"));
    assert!(plain["symbols"].get("YARA_MATCH").is_none(), "{plain}");
}

#[test]
fn a_broken_rule_file_is_named_by_line_and_the_tools_say_what_matched() {
    let dir = temp_dir("yara-tools");
    std::fs::write(dir.join("good.yar"), RULES).unwrap();
    std::fs::write(
        dir.join("broken.yar"),
        "rule Fine { condition: true }\n\nrule Broken {\n  condition:\n    $missing\n}\n",
    )
    .unwrap();
    let o = bin()
        .args(["yara", "check"])
        .arg(dir.join("good.yar"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("4 rules in 1 files"),
        "{}",
        text(&o.stdout)
    );
    let o = bin().args(["yara", "check"]).arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).starts_with(&format!("{}:5:5:", dir.join("broken.yar").display())),
        "{}",
        text(&o.stderr)
    );

    let archive = zip_of(&[("a/b/payload.vbs", format!("' {MARKER}").as_bytes())]);
    std::fs::write(dir.join("x.zip"), zip_of(&[("inner.zip", &archive)])).unwrap();
    std::fs::write(dir.join("clean.txt"), "nothing").unwrap();
    let o = bin()
        .args(["yara", "scan", "--rules"])
        .arg(dir.join("good.yar"))
        .arg(dir.join("x.zip"))
        .arg(dir.join("clean.txt"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "{} > inner.zip > a/b/payload.vbs\tYARA_MATCH\t",
            dir.join("x.zip").display()
        )),
        "{out}"
    );
    // A configuration naming a broken rule set does not load: the gateway keeps what it has.
    std::fs::write(
        dir.join("mailmoat.toml"),
        format!(
            "[analyzers.yara]\nrules = [\"{}\"]\n",
            dir.join("broken.yar").display()
        ),
    )
    .unwrap();
    let o = bin()
        .args(["config", "check"])
        .arg(dir.join("mailmoat.toml"))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("broken.yar:5:5"),
        "{}",
        text(&o.stderr)
    );
}

/// A clamd of our own: a temporary database with signatures for inert test content, a unix
/// socket in a temporary folder.
struct Clamd {
    child: Child,
    socket: PathBuf,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const AV_BODY_MARKER: &str = "MAILMOAT-INERT-AV-BODY-MARKER";
const AV_PUA_MARKER: &str = "MAILMOAT-INERT-AV-PUA-MARKER";
const AV_HASHED: &[u8] = b"harmless test file for mailmoat hash signature\n";

fn start_clamd(dir: &Path) -> Option<Clamd> {
    let clamd = ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(clamd) = clamd else {
        eprintln!("skipped: clamd is not installed (Debian: apt-get install clamav-daemon)");
        return None;
    };
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let md5 = md5_hex(AV_HASHED);
    std::fs::write(
        db.join("local.hdb"),
        format!("{md5}:{}:Mailmoat.Test.HashSig\n", AV_HASHED.len()),
    )
    .unwrap();
    let hex: String = AV_BODY_MARKER.bytes().map(|b| format!("{b:02x}")).collect();
    let pua: String = AV_PUA_MARKER.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        db.join("local.ndb"),
        format!("Mailmoat.Test.BodySig:0:*:{hex}\nPUA.Mailmoat.Test.Toolbar:0:*:{pua}\n"),
    )
    .unwrap();
    let socket = dir.join("clamd.sock");
    let _ = std::fs::remove_file(&socket);
    std::fs::write(
        dir.join("clamd.conf"),
        format!(
            "Foreground yes\nDatabaseDirectory {}\nLocalSocket {}\nLogFile {}\nMaxThreads 4\nStreamMaxLength 30M\n",
            db.display(),
            socket.display(),
            dir.join("clamd.log").display()
        ),
    )
    .unwrap();
    let child = Command::new(clamd)
        .arg("-c")
        .arg(dir.join("clamd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "clamd did not start: {}",
            std::fs::read_to_string(dir.join("clamd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Clamd { child, socket })
}

fn md5_hex(data: &[u8]) -> String {
    let o = common::run_with_stdin(
        {
            let mut c = Command::new("md5sum");
            c.stdout(Stdio::piped());
            c
        },
        data,
    );
    text(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn clamd_finds_its_signatures_and_an_outage_goes_by_policy() {
    let dir = temp_dir("clamd");
    let Some(mut clamd) = start_clamd(&dir) else {
        return;
    };
    let config = |on_failure: &str| {
        let path = dir.join(format!("mailmoat-{on_failure}.toml"));
        std::fs::write(
            &path,
            format!(
                "[auth]\nenabled = false\n\n[analyzers.clamav]\nenabled = true\naddress = \"unix:{}\"\ntimeout_ms = 2000\non_failure = \"{on_failure}\"\n",
                clamd.socket.display()
            ),
        )
        .unwrap();
        path
    };
    // One signature on the attachment itself, one on a member clamd unpacks from a zip.
    std::fs::write(
        dir.join("virus.eml"),
        message_with(&[
            ("note.txt", format!("x {AV_BODY_MARKER} y").as_bytes()),
            ("files.zip", &zip_of(&[("readme.txt", AV_HASHED)])),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.join("clean.eml"),
        message_with(&[("report.txt", b"quarterly figures")]),
    )
    .unwrap();
    std::fs::write(
        dir.join("pua.eml"),
        message_with(&[("setup.txt", AV_PUA_MARKER.as_bytes())]),
    )
    .unwrap();
    let pass = config("pass");
    let (o, report) = scan_json(&pass, &dir.join("virus.eml"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let details: Vec<&str> = report["symbols"]["AV_VIRUS"]["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| h["details"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        details.iter().any(|d| d.contains("Mailmoat.Test.BodySig")),
        "{report}"
    );
    assert!(
        details.iter().any(|d| d.contains("Mailmoat.Test.HashSig")),
        "{report}"
    );
    assert_eq!(
        hit_locations(&report, "AV_VIRUS"),
        ["attachment note.txt", "attachment files.zip"]
    );
    assert_eq!(report["risk"], "high", "{report}");
    assert!(
        matches!(report["action"].as_str(), Some("quarantine" | "reject")),
        "{report}"
    );
    let (o, report) = scan_json(&pass, &dir.join("clean.eml"));
    assert_eq!(o.status.code(), Some(0), "{report}");
    assert!(report["symbols"].get("AV_VIRUS").is_none());
    // ClamAV's potentially-unwanted class is a weaker claim: it tags, it is no threat floor.
    let (_, report) = scan_json(&pass, &dir.join("pua.eml"));
    assert!(report["symbols"].get("AV_VIRUS").is_none(), "{report}");
    assert_eq!(
        hit_locations(&report, "AV_HEURISTIC"),
        ["attachment setup.txt"],
        "{report}"
    );
    assert_eq!(report["action"], "tag", "{report}");

    // clamd goes away: recorded, and the message goes on as configured.
    let _ = clamd.child.kill();
    let _ = clamd.child.wait();
    let (o, report) = scan_json(&pass, &dir.join("clean.eml"));
    assert_eq!(report["action"], "deliver", "{report}");
    assert_eq!(o.status.code(), Some(0));
    let failed = report["symbols"]["AV_FAILED"]["hits"][0]["details"]
        .as_str()
        .unwrap_or_default();
    assert!(failed.contains("cannot reach clamd"), "{report}");
    let (_, report) = scan_json(&config("tempfail"), &dir.join("clean.eml"));
    assert_eq!(report["action"], "tempfail", "{report}");
    assert!(report["symbols"].get("AV_FAILED_TEMPFAIL").is_some());
}

#[test]
fn a_reload_with_a_broken_rule_file_names_it_and_keeps_the_rules_in_force() {
    use common::wait_line;
    let dir = temp_dir("yara-reload");
    let drop = dir.join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/families.yar"), RULES).unwrap();
    std::fs::write(
        dir.join("mailmoat.toml"),
        "[auth]\nenabled = false\n\n[analyzers.yara]\nrules = [\"rules\"]\n",
    )
    .unwrap();
    let (mut child, out, err) = common::start_watch(&drop, &dir.join("mailmoat.toml"));
    let infected = message_with(&[("run.js", format!("var k = '{MARKER}';").as_bytes())]);
    std::fs::write(drop.join("1.eml"), &infected).unwrap();
    assert!(wait_line(&out, "1.eml").contains("YARA_MATCH"));

    std::fs::write(
        dir.join("rules/later.yar"),
        "rule Later {\n  condition:\n    $nothing\n}\n",
    )
    .unwrap();
    common::hup(child.id());
    let failed = wait_line(&err, "reload failed");
    assert!(failed.contains("later.yar:3:5"), "{failed}");
    std::fs::write(drop.join("2.eml"), &infected).unwrap();
    assert!(
        wait_line(&out, "2.eml").contains("YARA_MATCH"),
        "the rules in force still apply"
    );
    child.kill().ok();
    child.wait().ok();
}

#[test]
fn each_object_says_what_each_engine_thought_and_agreement_counts() {
    let dir = temp_dir("engines-agree");
    let Some(clamd) = start_clamd(&dir) else {
        return;
    };
    std::fs::write(
        dir.join("av.yar"),
        format!("rule Inert_Av_Marker {{\n  strings:\n    $a = \"{AV_BODY_MARKER}\"\n  condition:\n    $a\n}}\n"),
    )
    .unwrap();
    let config = dir.join("mailmoat.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nenabled = false\n\n[analyzers.yara]\nrules = [\"av.yar\"]\n\n[analyzers.clamav]\nenabled = true\naddress = \"unix:{}\"\n",
            clamd.socket.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("m.eml"),
        message_with(&[
            ("note.txt", format!("x {AV_BODY_MARKER} y").as_bytes()),
            ("plain.txt", b"nothing here"),
        ]),
    )
    .unwrap();
    let (_, report) = scan_json(&config, &dir.join("m.eml"));
    assert_eq!(
        hit_locations(&report, "ENGINES_AGREE"),
        ["attachment note.txt"],
        "{report}"
    );
    assert_eq!(
        report["symbols"]["ENGINES_AGREE"]["hits"][0]["details"],
        "2 of 3 engines call note.txt malicious: YARA, ClamAV",
        "{report}"
    );
    let opinions = |i: usize| -> Vec<(String, String)> {
        report["objects"][i]["opinions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["engine"].as_str().unwrap().to_string(),
                    o["judgement"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        opinions(0),
        pairs(&[
            ("yara", "malicious"),
            ("clamav", "malicious"),
            ("analysers", "clean")
        ]),
        "{report}"
    );
    assert_eq!(
        opinions(1),
        pairs(&[
            ("yara", "clean"),
            ("clamav", "clean"),
            ("analysers", "clean")
        ]),
        "{report}"
    );
}

#[test]
fn an_intelligence_update_brings_clamav_signatures_to_clamd() {
    let dir = temp_dir("clamd-intel");
    let Some(clamd) = start_clamd(&dir) else {
        return;
    };
    let feed = dir.join("feed");
    std::fs::create_dir_all(feed.join("clamav")).unwrap();
    let marker = "MAILMOAT-INERT-FEED-AV-MARKER";
    let hex: String = marker.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        feed.join("clamav/feed.ndb"),
        format!("Mailmoat.Test.FeedSig:0:*:{hex}\n"),
    )
    .unwrap();
    let o = bin()
        .args(["intel", "pack"])
        .arg(&feed)
        .args(["--version", "f1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let config = dir.join("mailmoat.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nenabled = false\n\n[intel]\ndir = \"intel\"\nclamav_database_dir = \"db\"\n\n[analyzers.clamav]\nenabled = true\naddress = \"unix:{}\"\n",
            clamd.socket.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("m.eml"),
        message_with(&[("note.txt", format!("x {marker} y").as_bytes())]),
    )
    .unwrap();
    let (_, before) = scan_json(&config, &dir.join("m.eml"));
    assert!(before["symbols"].get("AV_VIRUS").is_none(), "{before}");
    let o = bin()
        .args(["intel", "update"])
        .arg(&feed)
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(dir.join("db/mailmoat-intel-feed.ndb").exists());
    assert!(
        text(&o.stdout).contains("clamd is reloading"),
        "{}",
        text(&o.stdout)
    );
    // clamd reloads in the background: the new signature answers within seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, after) = scan_json(&config, &dir.join("m.eml"));
        if after["symbols"].get("AV_VIRUS").is_some() {
            assert!(
                after.to_string().contains("Mailmoat.Test.FeedSig"),
                "{after}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clamd never used the new signature"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn yara_reads_a_macro_as_its_decompressed_source() {
    let dir = temp_dir("yara-macro");
    // A crafted .docm whose AutoOpen macro calls Shell (crates/analyzers/cases).
    let case = std::fs::read_to_string(
        common::root().join("crates/analyzers/cases/docm_autoopen_shell.case"),
    )
    .unwrap();
    let message = case.split_once("\n\n").unwrap().1;
    std::fs::write(dir.join("m.eml"), message).unwrap();
    std::fs::write(
        dir.join("macro.yar"),
        "rule Autoopen_Shell {\n  strings:\n    $open = /Sub\\s+AutoOpen/ nocase\n    $shell = /\\bShell\\s*\\(?\\s*\"/ nocase\n  condition:\n    $open and $shell\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("mailmoat.toml"),
        "[auth]\nenabled = false\n\n[analyzers.yara]\nrules = [\"macro.yar\"]\n",
    )
    .unwrap();
    let (_, report) = scan_json(&dir.join("mailmoat.toml"), &dir.join("m.eml"));
    assert!(
        hit_locations(&report, "YARA_MATCH")
            .contains(&"attachment invoice.docm > Module1".to_string()),
        "{report}"
    );
}

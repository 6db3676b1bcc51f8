//! SpamAssassin rule compatibility against SpamAssassin itself: Debian's `spamd` runs the stock
//! rules offline (local tests only, Bayes off) on loopback with a temporary site folder, and
//! `mailmoat sa-rules hits` runs the same rules; for every rule mailmoat supports, the two must
//! agree message by message. Skipped, with the reason, without spamd/spamc or the stock rules.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{root, run, temp_dir, text};

/// Crafted messages beside a sample of the corpus (when fetched): the tricky renderings.
const CRAFTED: &[(&str, &str)] = &[
    (
        "html-offer.eml",
        "Received: from mail.offers.example (mail.offers.example [81.2.69.160])\r\n\tby mx.site.example (Postfix) with ESMTP id 4B1C2; Tue, 3 Sep 2024 10:00:00 +0000\r\n\
From: \"Prize Dept\" <winner@hotmail.com>\r\nTo: you@site.example\r\nReply-To: claims@yahoo.com\r\n\
Subject: YOU HAVE WON A FREE PRIZE\r\nDate: Tue, 3 Sep 2024 01:00:00 +0000\r\nMessage-ID: <abc@offers.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n\
<html><body><p>Click <a href=\"http://81.2.69.142/claim?id=1\">here</a> to claim your prize!</p>\r\n\
<p>100% FREE. No obligation. Act now, limited time only!!!</p>\r\n\
<p>To be removed from our list, reply with REMOVE in the subject.</p></body></html>\r\n",
    ),
    (
        "plain-note.eml",
        "Received: from laptop.corp.example (laptop.corp.example [93.184.216.34])\r\n\tby mx.site.example (Postfix) with ESMTPSA id 9A8B7; Tue, 3 Sep 2024 10:00:00 +0000\r\n\
From: Alice Example <alice@corp.example>\r\nTo: Bob <bob@site.example>\r\nCc: carol@site.example\r\n\
Subject: Re: minutes of Tuesday's meeting\r\nDate: Tue, 3 Sep 2024 09:59:00 +0000\r\nMessage-ID: <20240903095900.1234@corp.example>\r\n\
In-Reply-To: <x1@site.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
Hi Bob,\r\n\r\nthe minutes are below; caf\u{e9} at ten?\r\n\r\n-- \r\nAlice\r\n",
    ),
];

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Spamd {
    child: std::process::Child,
    port: u16,
}

impl Drop for Spamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_spamd(dir: &Path) -> Spamd {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    for entry in std::fs::read_dir("/etc/spamassassin").unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pre") {
            std::fs::copy(&path, site.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        site.join("local.cf"),
        "use_bayes 0\nbayes_auto_learn 0\nuse_auto_welcomelist 0\nskip_rbl_checks 1\ndns_available no\n",
    )
    .unwrap();
    let _ = Command::new("chmod").args(["-R", "a+rX"]).arg(dir).status();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("spamd")
        .args([
            "-L",
            "-x",
            "-i",
            "127.0.0.1",
            "--max-children=2",
            "-u",
            "nobody",
            "-s",
            "stderr",
        ])
        .arg(format!("--siteconfigpath={}", site.display()))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn spamd");
    let spamd = Spamd { child, port };
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let ping = Command::new("spamc")
            .args(["-p", &port.to_string(), "-K"])
            .output();
        if ping.is_ok_and(|o| o.status.success()) {
            return spamd;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("spamd did not answer on port {port} within 120 s");
}

fn spamassassin_hits(spamd: &Spamd, message: &Path) -> BTreeSet<String> {
    let mut spamc = Command::new("spamc");
    spamc.args(["-p", &spamd.port.to_string(), "-y"]);
    let out = common::run_with_stdin(spamc, &std::fs::read(message).unwrap());
    text(&out.stdout)
        .trim()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn supported_stock_rules_hit_what_spamassassin_hits() {
    for program in ["spamd", "spamc"] {
        if !have(program) {
            eprintln!("SKIP supported_stock_rules_hit_what_spamassassin_hits: {program} not installed (Debian packages spamassassin, spamd)");
            return;
        }
    }
    if !Path::new("/usr/share/spamassassin/50_scores.cf").is_file() {
        eprintln!("SKIP supported_stock_rules_hit_what_spamassassin_hits: no stock rules in /usr/share/spamassassin");
        return;
    }
    let dir = temp_dir("sa-fidelity");
    let messages = dir.join("msgs");
    std::fs::create_dir_all(&messages).unwrap();
    for (name, body) in CRAFTED {
        std::fs::write(messages.join(name), body).unwrap();
    }
    // Every 100th message of each corpus folder, when the corpus is there.
    let corpus = root().join("corpora/spamassassin/package/data");
    for folder in ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"] {
        let Ok(entries) = std::fs::read_dir(corpus.join(folder)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_none_or(|e| e != "json"))
            .collect();
        files.sort();
        for f in files.iter().step_by(100) {
            let name = format!("{folder}.{}", f.file_name().unwrap().to_string_lossy());
            std::fs::copy(f, messages.join(name)).unwrap();
        }
    }
    let spamd = start_spamd(&dir);
    let supported: BTreeSet<String> = text(&run(&["sa-rules", "check", "--list"]).stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(supported.len() > 400, "{} rules listed", supported.len());
    let ours: BTreeMap<String, BTreeSet<String>> =
        text(&run(&["sa-rules", "hits", messages.to_str().unwrap()]).stdout)
            .lines()
            .map(|line| {
                let mut cols = line.split('\t');
                let label = cols.next().unwrap_or_default();
                let name = Path::new(label)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let hits = cols.nth(1).unwrap_or_default();
                (
                    name,
                    hits.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            })
            .collect();
    let mut differ: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut compared = 0;
    for entry in std::fs::read_dir(&messages).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let theirs = spamassassin_hits(&spamd, &entry.path());
        let mine = ours.get(&name).cloned().unwrap_or_default();
        compared += 1;
        for rule in theirs.symmetric_difference(&mine) {
            if supported.contains(rule) {
                differ.entry(rule.clone()).or_default().push(name.clone());
            }
        }
    }
    let hit_by_either: BTreeSet<&String> = ours.values().flatten().collect();
    eprintln!(
        "{compared} messages, {} supported rules, {} hit here, {} differ: {differ:?}",
        supported.len(),
        hit_by_either.len(),
        differ.len()
    );
    // Today 96 % of supported rules agree on ≥ 99.5 % of a 500-message sample
    // (scripts/sa-fidelity.sh); on this smaller sample at most 4 % may differ anywhere, and
    // the crafted messages must agree exactly.
    assert!(
        differ.len() * 100 <= supported.len() * 4,
        "{} of {} supported rules differ: {differ:?}",
        differ.len(),
        supported.len()
    );
    for (rule, names) in &differ {
        assert!(
            !names.iter().any(|n| n.ends_with(".eml")),
            "{rule} differs on a crafted message: {names:?}"
        );
    }
}

//! The real `mailmoat` binary, run as a user runs it: exit codes, output formats, inputs.

mod common;

use std::path::PathBuf;
use std::process::{Output, Stdio};

use common::{bin, root, run, temp_dir};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn scanning_the_samples_lists_each_and_exits_1() {
    let o = run(&["scan", "samples"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("samples/01-hello.eml\tdeliver\tnone\t"),
        "{out}"
    );
    assert!(
        lines[1].contains("\treject\thigh\t") && lines[1].contains("ATTACH_DOUBLE_EXTENSION"),
        "{out}"
    );
}

#[test]
fn a_clean_message_exits_0() {
    let o = run(&["scan", "samples/01-hello.eml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn json_has_the_required_fields() {
    let o = run(&["scan", "--json", "samples"]);
    assert_eq!(o.status.code(), Some(1));
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        for key in ["file", "action", "risk", "score", "symbols"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
    }
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().nth(1).unwrap()).unwrap();
    let hit = &first["symbols"]["ATTACH_DOUBLE_EXTENSION"]["hits"][0];
    assert_eq!(
        hit["location"],
        serde_json::json!(["attachment invoice.pdf.exe"])
    );
    assert_eq!(
        first["message"]["attachments"][0]["file_name"],
        "invoice.pdf.exe"
    );
}

#[test]
fn explain_shows_scores_details_and_locations() {
    let o = run(&["scan", "--explain", "samples/04-rlo-screensaver.eml"]);
    let out = stdout(&o);
    assert!(out.contains("ATTACH_DECEPTIVE_UNICODE"), "{out}");
    assert!(
        out.contains("at attachment Salary_Letter\\u{202e}fdp.scr"),
        "{out}"
    );
    assert!(
        !out.contains('\u{202e}'),
        "raw bidi control must never reach the terminal"
    );
}

#[test]
fn stdin_is_read_with_a_dash() {
    let mut command = bin();
    command.args(["scan", "--json", "-"]);
    let o = common::run_with_stdin(
        command,
        b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n",
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["file"], "-");
}

#[test]
fn mbox_and_maildir_inputs() {
    let dir = temp_dir("inputs");
    let mbox = dir.join("box.mbox");
    std::fs::write(
        &mbox,
        "From a@b.example Thu Aug 22 13:17:22 2002\nFrom: a@b.example\nSubject: one\n\nx\n\nFrom c@d.example Thu Aug 22 13:17:22 2002\nFrom: c@d.example\nSubject: two\n\ny\n",
    )
    .unwrap();
    let md = dir.join("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    std::fs::write(
        md.join("new/1.host"),
        "From: e@f.example\nSubject: three\n\nz\n",
    )
    .unwrap();
    let o = run(&["scan", mbox.to_str().unwrap(), md.to_str().unwrap()]);
    let out = stdout(&o);
    let labels: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(labels.len(), 3, "{out}");
    assert!(
        labels[0].ends_with("box.mbox#1") && labels[1].ends_with("box.mbox#2"),
        "{out}"
    );
    assert!(labels[2].ends_with("new/1.host"), "{out}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn usage_and_io_errors_exit_2() {
    let o = run(&["scan", "no/such/path.eml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/path.eml"), "{}", stderr(&o));
    assert_eq!(run(&["scan"]).status.code(), Some(2));
    assert_eq!(run(&["scan", "--bogus", "samples"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_bad_config_names_the_key_and_line() {
    let dir = temp_dir("config");
    let cfg = dir.join("bad.toml");
    std::fs::write(
        &cfg,
        "[policy]\ntag = 5\n\n[detectors.header_sanity]\ndate_past_dayz = 2\n",
    )
    .unwrap();
    let o = run(&["scan", "--config", cfg.to_str().unwrap(), "samples"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml: line 5") && err.contains("date_past_dayz"),
        "{err}"
    );

    std::fs::write(&cfg, "[policy.symbols.NOT_A_SYMBOL]\nscore = 1\n").unwrap();
    let o = run(&["config", "check", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown symbol `NOT_A_SYMBOL` in [policy.symbols] at line 1"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_sample_config_loads_and_changes_verdicts() {
    let o = run(&["config", "check", "config/mailmoat.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let dir = temp_dir("override");
    let cfg = dir.join("strict.toml");
    std::fs::write(
        &cfg,
        "[policy.symbols.ATTACH_EXECUTABLE_EXT]\nforce = \"reject\"\n",
    )
    .unwrap();
    let o = run(&[
        "scan",
        "--config",
        cfg.to_str().unwrap(),
        "samples/02-invoice-exe.eml",
    ]);
    assert!(stdout(&o).contains("\treject\thigh\t"), "{}", stdout(&o));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn symbols_markdown_matches_the_docs() {
    let o = run(&["symbols", "--markdown"]);
    let doc = std::fs::read_to_string(root().join("docs/symbols.md")).unwrap();
    assert_eq!(stdout(&o), doc);
}

/// The SpamAssassin public corpus (scripts/fetch-spamassassin.sh): a verdict for every one of
/// the 6,046 messages, without a panic. Skipped, with the reason, when the corpus is absent.
#[test]
fn whole_spamassassin_corpus_gets_a_verdict_each() {
    let corpus = std::env::var("MAILMOAT_SA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("corpora/spamassassin/package/data"));
    if !corpus.is_dir() {
        eprintln!(
            "SKIP whole_spamassassin_corpus_gets_a_verdict_each: {} not found (run scripts/fetch-spamassassin.sh)",
            corpus.display()
        );
        return;
    }
    let o = run(&["scan", "--json", corpus.to_str().unwrap()]);
    assert!(
        o.status.code() == Some(1) || o.status.code() == Some(0),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let out = stdout(&o);
    let mut n = 0;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        assert!(v["action"].is_string() && v["risk"].is_string() && v["score"].is_number());
        n += 1;
    }
    assert_eq!(n, 6046);
}

#[test]
fn intel_add_query_and_plot() {
    let dir = temp_dir("intel");
    let config = dir.join("mailmoat.toml");
    std::fs::write(
        &config,
        "[analyzers.variants]\nstore = \"intel/store.jsonl\"\n",
    )
    .unwrap();
    let family = common::script_family();
    let sample = dir.join("sample.js");
    std::fs::write(&sample, &family).unwrap();
    let c = config.to_str().unwrap();
    let out = run(&[
        "intel",
        "add",
        "--config",
        c,
        "--family",
        "Test.Family",
        sample.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 of 1 file(s) added"),
        "{}",
        stdout(&out)
    );
    assert!(dir.join("intel/store.jsonl").exists());
    // Adding both a family and --benign is refused.
    let out = run(&[
        "intel",
        "add",
        "--config",
        c,
        "--family",
        "X",
        "--benign",
        sample.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));

    let mut variant = family.clone();
    variant.splice(100..100, b"/* changed */".iter().copied());
    let variant_path = dir.join("variant.js");
    std::fs::write(&variant_path, &variant).unwrap();
    let out = run(&[
        "intel",
        "query",
        "--config",
        c,
        variant_path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a match exits 1: {}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("SIMILAR_KNOWN_MALWARE Test.Family"),
        "{}",
        stdout(&out)
    );

    let plots = dir.join("plots");
    let out = run(&[
        "intel",
        "plot",
        "--config",
        c,
        "--out",
        plots.to_str().unwrap(),
        variant_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let png = std::fs::read(plots.join("variant.js.byteplot.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let svg = std::fs::read_to_string(plots.join("variant.js.neighbours.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("Test.Family"),
        "{svg}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `args` with a standard output nobody reads: the reader is gone before the first line.
fn with_closed_stdout(args: &[&str]) -> Output {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn regression_a_closed_pipe_ends_every_listing_quietly() {
    // `mailmoat queue list | head` panicked once head had what it wanted.
    let dir = temp_dir("cli-broken-pipe");
    let config = dir.join("mailmoat.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nspool_dir = \"{}\"\n",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    let spool = mailmoat_gateway::Spool::open(&dir.join("spool")).unwrap();
    for i in 0..2000 {
        let entry = mailmoat_gateway::QueueEntry {
            id: format!("entry{i:05}"),
            received_at: 0,
            mail_from: "a@sender.example".into(),
            client_ip: None,
            helo: None,
            recipients: vec![mailmoat_gateway::Recipient {
                address: "bob@example.com".into(),
                state: mailmoat_gateway::RecipientState::Pending,
                last_reply: String::new(),
            }],
            prepend: String::new(),
            tag_subject: false,
            attempts: 0,
            next_attempt_at: 0,
            is_bounce: false,
        };
        spool.store(&entry, b"Subject: x\r\n\r\nx\r\n").unwrap();
    }
    drop(spool);
    let samples = root().join("samples");
    let config = config.to_str().unwrap();
    for args in [
        vec!["queue", "list", "--config", config],
        vec!["symbols"],
        vec!["symbols", "--markdown"],
        vec!["scan", "--explain", samples.to_str().unwrap()],
    ] {
        let out = with_closed_stdout(&args);
        let said = stderr(&out);
        assert!(
            !said.contains("panicked") && !said.contains("Broken pipe"),
            "{args:?}: {said}"
        );
        // 0, or scan's own "some message would not be delivered untouched"; never 2 or 101.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {:?} {said}",
            out.status
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn replay_classifies_then_learns_in_index_order_and_reports_trec_figures() {
    let dir = temp_dir("cli-replay");
    let samples = root().join("samples");
    let mut index = String::from("# label path, in arrival order\n");
    let mut count = 0;
    for round in 0..3 {
        for entry in std::fs::read_dir(&samples).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".eml") {
                continue;
            }
            // Clean samples as ham, the rest as spam; repeated so learning shows.
            let label = if name.starts_with("01") {
                "ham"
            } else {
                "spam"
            };
            index.push_str(&format!("{label} {}\n", path.display()));
            count += 1;
            let _ = round;
        }
    }
    index.push_str("ham missing.eml\n");
    std::fs::write(dir.join("index"), &index).unwrap();
    let scores = dir.join("scores");
    let out = run(&[
        "replay",
        dir.join("index").to_str().unwrap(),
        "--scores",
        scores.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["messages"], count);
    assert_eq!(summary["unreadable"], 1);
    assert_eq!(summary["learned"], count);
    for key in [
        "roc_auc",
        "one_minus_roca_percent",
        "recall_at_0_1_percent_fpr",
        "messages_per_second",
    ] {
        assert!(summary[key].is_number(), "{key}: {summary}");
    }
    let lines = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(lines.lines().count(), count);
    assert!(lines
        .lines()
        .all(|l| l.contains(" judge=") && l.contains(" score=") && l.contains(" class=")));
    // Nothing learned yet: the first message is scored by an empty model.
    assert!(lines.lines().next().unwrap().contains("score=0.500000"));
    assert!(
        summary["verdict"].is_null(),
        "the classifier alone: {summary}"
    );
    // The verdict instead: every message judged, its action counted.
    let out = run(&[
        "replay",
        dir.join("index").to_str().unwrap(),
        "--pipeline",
        "--scores",
        scores.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = &summary["verdict"];
    let spam_counted: u64 = ["spam_tagged", "spam_held", "spam_delivered"]
        .iter()
        .map(|k| verdict[k].as_u64().unwrap())
        .sum();
    assert_eq!(spam_counted, summary["spam"].as_u64().unwrap(), "{summary}");
    let lines = std::fs::read_to_string(&scores).unwrap();
    assert!(lines
        .lines()
        .all(|l| l.contains(" verdict=") && l.contains(" action=")));
    std::fs::remove_dir_all(dir).ok();
}

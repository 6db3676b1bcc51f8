//! `mailmoat train`, `eval` and `learn` on a small generated corpus.

mod common;

use common::{run, temp_dir, text};

fn corpus(dir: &std::path::Path) -> (String, String) {
    let (ham, spam) = (dir.join("ham"), dir.join("spam"));
    std::fs::create_dir_all(&ham).unwrap();
    std::fs::create_dir_all(&spam).unwrap();
    let ham_words = [
        "meeting", "agenda", "project", "review", "lunch", "schedule", "report", "draft", "회의",
        "일정",
    ];
    let spam_words = [
        "viagra", "cheap", "winner", "prize", "casino", "loan", "offer", "free", "특가", "할인",
    ];
    for i in 0..40 {
        let pick = |w: &[&str], k: usize| {
            (0..6)
                .map(|j| w[(i * 7 + j * k) % w.len()])
                .collect::<Vec<_>>()
                .join(" ")
        };
        std::fs::write(
            ham.join(format!("{i}.eml")),
            format!("From: Colleague <c{i}@corp.example>\nSubject: {}\nMessage-ID: <{i}@corp.example>\n\n{}\n", pick(&ham_words, 3), pick(&ham_words, 5)),
        )
        .unwrap();
        std::fs::write(
            spam.join(format!("{i}.eml")),
            format!(
                "From: deals{i}@bulk.example\nSubject: {}\n\n{} http://bulk.example/x{i}\n",
                pick(&spam_words, 3),
                pick(&spam_words, 5)
            ),
        )
        .unwrap();
    }
    (ham.display().to_string(), spam.display().to_string())
}

#[test]
fn train_eval_learn() {
    let dir = temp_dir("classifier");
    let (ham, spam) = corpus(&dir);
    let model = dir.join("model.bin");
    let m = model.to_str().unwrap();
    let o = run(&[
        "train", "--ham", &ham, "--spam", &spam, "-o", m, "--bits", "16",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("trained on 40 ham and 40 spam"),
        "{}",
        text(&o.stdout)
    );

    let o = run(&[
        "eval", "--ham", &ham, "--spam", &spam, "--model", m, "--json",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(text(&o.stdout).trim()).expect("one JSON object");
    for key in [
        "tpr_at_fpr_0.1",
        "tpr_at_fpr_1",
        "tpr_at_1fp",
        "auc",
        "fp",
        "fn",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert!(v["auc"].as_f64().unwrap() > 0.99, "{v}");
    assert_eq!(v["fp"], 0);

    let msg = dir.join("new.eml");
    std::fs::write(
        &msg,
        "From: c1@corp.example\nSubject: meeting agenda\n\nproject review lunch\n",
    )
    .unwrap();
    let o = run(&["learn", "--model", m, "--spam", msg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let line = text(&o.stdout);
    let (before, after) = line.trim().rsplit_once(" -> ").unwrap();
    let before: f64 = before.rsplit(' ').next().unwrap().parse().unwrap();
    let after: f64 = after.parse().unwrap();
    assert!(
        after > before,
        "learning a correction moves the message toward spam: {line}"
    );

    std::fs::write(&model, b"not a model").unwrap();
    let o = run(&["eval", "--ham", &ham, "--spam", &spam, "--model", m]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("is not a mailmoat model"),
        "{}",
        text(&o.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn train_with_compression_stacks_it_in_eval_and_in_the_configured_classifier() {
    let dir = temp_dir("classifier-compression");
    let (ham, spam) = corpus(&dir);
    let (model, ppm) = (dir.join("model.bin"), dir.join("site.ppm"));
    let (m, p) = (model.to_str().unwrap(), ppm.to_str().unwrap());
    // `train --ham … --spam … -o MODEL --compression PPM ARGS`, which must succeed and say
    // `saying` of the compression model.
    let train = |extra: &[&str], saying: &str| {
        let mut args = vec![
            "train",
            "--ham",
            &ham,
            "--spam",
            &spam,
            "-o",
            m,
            "--compression",
            p,
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let said = text(&o.stdout);
        assert!(said.contains(saying), "{said}");
    };
    train(&["--bits", "16"], "compression model (24 MiB of tables");
    assert!(ppm.exists());

    // `eval --ham … --spam … ARGS --json`, which must succeed.
    let eval = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["eval", "--ham", &ham, "--spam", &spam, "--json"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        serde_json::from_str(text(&o.stdout).trim()).expect("one JSON object")
    };
    let stacked = eval(&["--model", m, "--compression", p]);
    assert_eq!(stacked["compression"], true, "{stacked}");
    assert!(stacked["auc"].as_f64().unwrap() > 0.99, "{stacked}");
    assert_eq!(eval(&["--model", m])["compression"], false);

    // `[classifier] compression` is what the gateway's classifier (and eval) loads.
    let config = dir.join("mailmoat.toml");
    let c = config.to_str().unwrap();
    let classifier = "[classifier]\nmodel = \"model.bin\"\ncompression = \"site.ppm\"\n";
    std::fs::write(&config, classifier).unwrap();
    assert_eq!(eval(&["-c", c])["compression"], true);

    // A correction teaches both, and moves the stacked probability its way.
    let msg = dir.join("new.eml");
    std::fs::write(
        &msg,
        "From: c1@corp.example\nSubject: meeting agenda\n\nproject review lunch schedule\n",
    )
    .unwrap();
    let before = std::fs::metadata(&ppm).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = run(&[
        "learn",
        "--model",
        m,
        "--compression",
        p,
        "--spam",
        msg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let line = text(&o.stdout);
    let (was, now) = line.trim().rsplit_once(" -> ").unwrap();
    let was: f64 = was.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(now.parse::<f64>().unwrap() > was, "{line}");
    assert!(std::fs::metadata(&ppm).unwrap().modified().unwrap() > before);

    // With the fusion, the fusion is fitted over the stacked log-odds, and the pipeline runs
    // the three together.
    let fusion = dir.join("f.json");
    let f = fusion.to_str().unwrap();
    train(&["--fusion", f], "compression model (token log-odds + ");
    std::fs::write(
        &config,
        format!("{classifier}[fusion]\nmodel = \"f.json\"\n"),
    )
    .unwrap();
    let v = eval(&["--pipeline", "-c", c]);
    assert_eq!(v["fusion"], true, "{v}");
    assert!(v["auc"].as_f64().unwrap() > 0.99, "{v}");

    // A damaged file is a clear error naming it.
    std::fs::write(&ppm, b"MMCLPPMD broken").unwrap();
    let o = run(&[
        "eval",
        "--ham",
        &ham,
        "--spam",
        &spam,
        "--model",
        m,
        "--compression",
        p,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("site.ppm"), "{}", text(&o.stderr));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_trained_model_is_used_by_scan_and_learning_starts_from_the_built_in_model() {
    let dir = temp_dir("classifier-scan");
    let (ham, spam) = corpus(&dir);
    let model = dir.join("model.bin");
    let m = model.to_str().unwrap();
    let o = run(&["train", "--ham", &ham, "--spam", &spam, "-o", m, "--prune"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // The configured model's verdict reaches the report as evidence with a strength.
    let config = dir.join("mailmoat.toml");
    std::fs::write(&config, "[classifier]\nmodel = \"model.bin\"\n").unwrap();
    let spam_msg = dir.join("spam/3.eml");
    let o = run(&[
        "scan",
        "--json",
        "--config",
        config.to_str().unwrap(),
        spam_msg.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    let hit = &v["symbols"]["CLASSIFIER_SPAM"]["hits"][0];
    let details = hit["details"].as_str().unwrap();
    let number_after = |prefix: &str| -> f64 {
        let rest = &details[details.find(prefix).expect(details) + prefix.len()..];
        let end = rest.find([',', ':']).unwrap_or(rest.len());
        rest[..end].parse().expect(details)
    };
    assert!(number_after("spam probability ") >= 0.9, "{v}");
    // The strength is the odds' decades over 8.
    let decades = number_after("odds 10^");
    let strength = hit["strength"].as_f64().unwrap();
    assert!((strength - decades.min(8.0) / 8.0).abs() < 0.01, "{v}");

    // The full-pipeline evaluation ranks by verdict score.
    let o = run(&[
        "eval",
        "--pipeline",
        "--config",
        config.to_str().unwrap(),
        "--ham",
        &ham,
        "--spam",
        &spam,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["measured"], "full pipeline verdict score");
    assert_eq!(v["fp"], 0, "{v}");

    // Which features carried it.
    let o = run(&["explain", "--model", m, spam_msg.to_str().unwrap()]);
    assert!(
        text(&o.stdout).contains("spam probability"),
        "{}",
        text(&o.stdout)
    );
    assert!(text(&o.stdout).contains("  +"), "{}", text(&o.stdout));

    // A missing model file is a configuration error naming the file.
    std::fs::write(&config, "[classifier]\nmodel = \"nowhere.bin\"\n").unwrap();
    let o = run(&[
        "scan",
        "--config",
        config.to_str().unwrap(),
        spam_msg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("nowhere.bin"),
        "{}",
        text(&o.stderr)
    );

    // Learning into a model file that does not exist starts from the built-in model.
    let own = dir.join("own.bin");
    let o = run(&[
        "learn",
        "--model",
        own.to_str().unwrap(),
        "--ham",
        spam_msg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("starting from the built-in model"),
        "{}",
        text(&o.stdout)
    );
    assert!(own.exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn train_with_fusion_then_scan_and_eval_use_the_learned_score() {
    let dir = temp_dir("classifier-fusion");
    let (ham, spam) = corpus(&dir);
    let model = dir.join("model.bin");
    let fusion = dir.join("fusion.json");
    let o = run(&[
        "train",
        "--ham",
        &ham,
        "--spam",
        &spam,
        "-o",
        model.to_str().unwrap(),
        "--bits",
        "16",
        "--fusion",
        fusion.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("trained on 40 ham and 40 spam"), "{out}");
    assert!(out.contains("fusion: bias"), "{out}");

    // The fusion file: versioned, with the classifier's weight and thresholds it chose.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fusion).unwrap()).unwrap();
    assert_eq!(saved["format"], 1, "{saved}");
    assert!(saved["classifier"].as_f64().unwrap() > 0.0, "{saved}");
    assert_eq!(saved["trained"], serde_json::json!([40, 40]), "{saved}");
    let (tag, quarantine) = (
        saved["tag_logit"].as_f64().unwrap(),
        saved["quarantine_logit"].as_f64().unwrap(),
    );
    assert!(quarantine > tag, "{saved}");
    // However clean the training ham, nothing is tagged below 1,000:1 odds, nor held below a
    // thousand times that.
    assert!(tag >= 1000f64.ln() - 1e-9, "{saved}");
    assert!(quarantine >= tag + 1000f64.ln() - 1e-9, "{saved}");

    // Scanning with both configured: the verdict carries the calibrated probability, and the
    // classifier's reason shows what its log-odds added.
    let config = dir.join("mailmoat.toml");
    std::fs::write(
        &config,
        "[classifier]\nmodel = \"model.bin\"\n\n[fusion]\nmodel = \"fusion.json\"\n",
    )
    .unwrap();
    let scan = |msg: &std::path::Path| -> serde_json::Value {
        let o = run(&[
            "scan",
            "--json",
            "--config",
            config.to_str().unwrap(),
            msg.to_str().unwrap(),
        ]);
        serde_json::from_str(text(&o.stdout).trim()).expect("one JSON report")
    };
    let spam_report = scan(&dir.join("spam/3.eml"));
    let ham_report = scan(&dir.join("ham/3.eml"));
    let p_spam = spam_report["spam_probability"]
        .as_f64()
        .expect("probability");
    let p_ham = ham_report["spam_probability"]
        .as_f64()
        .expect("probability");
    assert!(p_spam > 0.9 && p_ham < 0.1, "{p_spam} {p_ham}");
    // Forty messages a class make no certainty: the action follows the fusion's thresholds.
    let spam_logit = (p_spam / (1.0 - p_spam)).ln();
    let expected = if spam_logit >= quarantine {
        "quarantine"
    } else if spam_logit >= tag {
        "tag"
    } else {
        "deliver"
    };
    assert_eq!(spam_report["action"], expected, "{spam_report}");
    assert!(
        spam_report["score"].as_f64().unwrap() > ham_report["score"].as_f64().unwrap() + 6.0,
        "{spam_report} {ham_report}"
    );
    assert_eq!(ham_report["action"], "deliver", "{ham_report}");

    // The pipeline evaluation says the fusion decided and counts tagged and held apart.
    let o = run(&[
        "eval",
        "--pipeline",
        "--config",
        config.to_str().unwrap(),
        "--ham",
        &ham,
        "--spam",
        &spam,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["fusion"], true, "{v}");
    assert_eq!(v["fp"], 0, "{v}");
    for key in [
        "ham_tagged",
        "ham_held",
        "spam_tagged",
        "spam_held",
        "tpr_at_fpr_0.01",
        "threshold_for_fpr_0.1",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    // Forty messages a class rank perfectly but make no 1,000:1 certainty for every spam: the
    // counts add up, and the delivered ones are the misses.
    assert_eq!(v["auc"], 1.0, "{v}");
    assert_eq!(
        v["spam_tagged"].as_u64().unwrap()
            + v["spam_held"].as_u64().unwrap()
            + v["fn"].as_u64().unwrap(),
        40,
        "{v}"
    );

    // A fusion file from another version is refused at load, naming the file.
    let mut other = saved.clone();
    other["format"] = 99.into();
    std::fs::write(&fusion, other.to_string()).unwrap();
    let o = run(&[
        "scan",
        "--config",
        config.to_str().unwrap(),
        dir.join("ham/3.eml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("fusion.json"),
        "{}",
        text(&o.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
}

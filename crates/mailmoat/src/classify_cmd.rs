//! `mailmoat train` and `mailmoat eval`: build the statistical model and measure it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use mailmoat_classifier::{features, Model};
use mailmoat_mime::{MessageView, ViewOptions};
use mailmoat_pipeline::sources;

/// Time spent turning parsed views into features (nanoseconds), for the speed report.
static FEATURE_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Reads every message under the paths into (label, features).
fn load(
    paths: &[String],
    bits: u32,
    bar: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<Vec<(String, Vec<u32>)>> {
    let (inputs, errors) = sources::expand(paths);
    if let Some((p, e)) = errors.first() {
        anyhow::bail!("{p}: {e}");
    }
    let options = ViewOptions::default();
    let mut out = Vec::new();
    for input in &inputs {
        for item in sources::read(input)? {
            let view = MessageView::build(item.raw, item.envelope, &options);
            let start = Instant::now();
            let f = features(&view, bits);
            FEATURE_NANOS.fetch_add(
                start.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            out.push((item.label, f));
        }
        if let Some(bar) = bar {
            bar.inc(1);
        }
    }
    Ok(out)
}

fn progress(paths: &[String]) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let (inputs, _) = sources::expand(paths);
    let bar = indicatif::ProgressBar::new(inputs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} files")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

pub fn train(
    ham: &[String],
    spam: &[String],
    out: &Path,
    epochs: usize,
    mut model: Model,
) -> anyhow::Result<ExitCode> {
    let bits = model.bits();
    let start = Instant::now();
    let all: Vec<String> = ham.iter().chain(spam).cloned().collect();
    let bar = progress(&all);
    if let Some(b) = &bar {
        b.set_message("reading");
    }
    let hams = load(ham, bits, bar.as_ref())?;
    let spams = load(spam, bits, bar.as_ref())?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    anyhow::ensure!(
        !hams.is_empty() && !spams.is_empty(),
        "need both ham and spam to train"
    );
    let mut examples: Vec<(&[u32], bool)> = hams
        .iter()
        .map(|(_, f)| (f.as_slice(), false))
        .chain(spams.iter().map(|(_, f)| (f.as_slice(), true)))
        .collect();
    // A fixed shuffle per epoch: reproducible models from the same data.
    let mut seed: u64 = 0x5eed;
    for _ in 0..epochs.max(1) {
        for i in (1..examples.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            examples.swap(i, (seed >> 33) as usize % (i + 1));
        }
        for (f, spam) in &examples {
            model.learn(f, *spam);
        }
    }
    model.save(out)?;
    println!(
        "trained on {} ham and {} spam ({} epochs) in {:.2} s: {}",
        hams.len(),
        spams.len(),
        epochs.max(1),
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Incremental learning from corrections: each message once, then the model is saved.
pub fn learn(model_path: &Path, spam: bool, paths: &[String]) -> anyhow::Result<ExitCode> {
    let mut model = Model::load(model_path)?;
    let messages = load(paths, model.bits(), None)?;
    for (label, f) in &messages {
        let before = model.learn(f, spam);
        let after = model.predict(f).spam_probability;
        println!("{label}: spam probability {before:.3} -> {after:.3}");
    }
    model.save(model_path)?;
    Ok(ExitCode::SUCCESS)
}

/// The most spam recall reachable while letting at most `max_fp` ham through as spam.
fn tpr_at(ham: &[f64], spam: &[f64], max_fp: usize) -> (f64, f64) {
    let mut h = ham.to_vec();
    h.sort_by(|a, b| b.total_cmp(a));
    // Scores strictly above the (max_fp+1)-th highest ham score are called spam.
    let threshold = h.get(max_fp).copied().unwrap_or(f64::NEG_INFINITY);
    let caught = spam.iter().filter(|&&s| s > threshold).count();
    (caught as f64 / spam.len().max(1) as f64, threshold)
}

fn auc(ham: &[f64], spam: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = ham
        .iter()
        .map(|&s| (s, false))
        .chain(spam.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        rank_sum += all[i..j].iter().filter(|x| x.1).count() as f64 * avg;
        i = j;
    }
    let (ns, nh) = (spam.len() as f64, ham.len() as f64);
    (rank_sum - ns * (ns + 1.0) / 2.0) / (ns * nh)
}

pub fn eval(
    ham: &[String],
    spam: &[String],
    model_path: &Path,
    threshold: f64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let model = Model::load(model_path)?;
    let load_ms = start.elapsed().as_secs_f64() * 1000.0;
    let hams = load(ham, model.bits(), None)?;
    let spams = load(spam, model.bits(), None)?;
    let score = |f: &[u32]| model.predict(f).spam_probability;
    let start = Instant::now();
    let hs: Vec<f64> = hams.iter().map(|(_, f)| score(f)).collect();
    let ss: Vec<f64> = spams.iter().map(|(_, f)| score(f)).collect();
    let predict_s = start.elapsed().as_secs_f64();
    let fp: Vec<&str> = hams
        .iter()
        .zip(&hs)
        .filter(|(_, &s)| s >= threshold)
        .map(|((l, _), _)| l.as_str())
        .collect();
    let fn_: Vec<&str> = spams
        .iter()
        .zip(&ss)
        .filter(|(_, &s)| s < threshold)
        .map(|((l, _), _)| l.as_str())
        .collect();
    let fpr_limit = |pct: f64| ((hs.len() as f64) * pct / 100.0).floor() as usize;
    let (tpr01, _) = tpr_at(&hs, &ss, fpr_limit(0.1));
    let (tpr1, _) = tpr_at(&hs, &ss, fpr_limit(1.0));
    let (tpr1fp, t1) = tpr_at(&hs, &ss, 1);
    let area = auc(&hs, &ss);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ham": hs.len(), "spam": ss.len(), "threshold": threshold,
                "tpr_at_fpr_0.1": tpr01, "tpr_at_fpr_1": tpr1, "tpr_at_1fp": tpr1fp, "auc": area,
                "fp": fp.len(), "fn": fn_.len(), "false_positives": fp, "false_negatives": fn_,
                "model_load_ms": load_ms,
                "classifications_per_second": (hs.len() + ss.len()) as f64 / (FEATURE_NANOS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9 + predict_s),
            })
        );
    } else {
        println!(
            "{} ham, {} spam; the model has learned {} ham and {} spam updates",
            hs.len(),
            ss.len(),
            model.trained[0],
            model.trained[1]
        );
        println!("ROC AUC                          {area:.5}");
        println!("spam recall at FPR <= 0.1 %      {:.2} %", tpr01 * 100.0);
        println!("spam recall at FPR <= 1 %        {:.2} %", tpr1 * 100.0);
        println!(
            "spam recall with <= 1 ham FP     {:.2} % (probability threshold {t1:.4})",
            tpr1fp * 100.0
        );
        println!(
            "at threshold {threshold}: {} false positives, {} false negatives",
            fp.len(),
            fn_.len()
        );
        let n = (hs.len() + ss.len()) as f64;
        let feature_s = FEATURE_NANOS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
        println!(
            "model loaded in {load_ms:.0} ms; classification from a parsed view: {:.0} messages/s (features {:.1} µs + prediction {:.1} µs per message, one thread)",
            n / (feature_s + predict_s),
            feature_s / n * 1e6,
            predict_s / n * 1e6
        );
        for f in &fp {
            println!("  FP {f}");
        }
        for f in &fn_ {
            println!("  FN {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

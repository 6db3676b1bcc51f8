//! `mailmoat train` and `mailmoat eval`: build the statistical model and measure it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mailmoat_classifier::{features, CompressionModel, Model, Stacker};
use mailmoat_mime::{MessageView, ViewOptions};
use mailmoat_pipeline::sources;

/// Time spent turning parsed views into features (nanoseconds), for the speed report.
static FEATURE_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One message as the models read it.
struct Loaded {
    label: String,
    features: Vec<u32>,
    /// What the compression model reads (empty unless asked for).
    text: Vec<u8>,
}

/// Reads every message under the paths: its features, and its text for `reader` if given.
fn load(
    paths: &[String],
    bits: u32,
    bar: Option<&indicatif::ProgressBar>,
    reader: Option<&CompressionModel>,
) -> anyhow::Result<Vec<Loaded>> {
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
            out.push(Loaded {
                label: item.label,
                features: f,
                text: reader.map(|c| c.reading(&view)).unwrap_or_default(),
            });
        }
        if let Some(bar) = bar {
            bar.inc(1);
        }
    }
    Ok(out)
}

pub(crate) fn progress(paths: &[String]) -> Option<indicatif::ProgressBar> {
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
    prune: bool,
    compression_out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let bits = model.bits();
    let template = model.clone();
    let start = Instant::now();
    let all: Vec<String> = ham.iter().chain(spam).cloned().collect();
    let bar = progress(&all);
    if let Some(b) = &bar {
        b.set_message("reading");
    }
    let reader = compression_out.map(|_| CompressionModel::default());
    let hams = load(ham, bits, bar.as_ref(), reader.as_ref())?;
    let spams = load(spam, bits, bar.as_ref(), reader.as_ref())?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    anyhow::ensure!(
        !hams.is_empty() && !spams.is_empty(),
        "need both ham and spam to train"
    );
    let messages: Vec<(&Loaded, bool)> = hams
        .iter()
        .map(|m| (m, false))
        .chain(spams.iter().map(|m| (m, true)))
        .collect();
    let examples: Vec<(&[u32], bool)> = messages
        .iter()
        .map(|(m, spam)| (m.features.as_slice(), *spam))
        .collect();
    fit_classifier(&mut model, examples, epochs);
    if prune {
        model.prune();
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
    if let Some(path) = compression_out {
        let start = Instant::now();
        let examples: Vec<StackingExample> = messages
            .iter()
            .map(|(m, spam)| (m.features.as_slice(), m.text.as_slice(), *spam))
            .collect();
        let (compression, _) = fit_compression(&examples, &template, epochs, STACKING_FOLDS);
        compression.save(path)?;
        println!(
            "compression model ({} MiB of tables, token log-odds + {:.3} × its score) in {:.2} s: {}",
            compression.memory_bytes() >> 20,
            compression.stacker().ratio(),
            start.elapsed().as_secs_f64(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Folds for the stacking's held-out inputs.
const STACKING_FOLDS: usize = 5;

/// One training message as the stacking sees it: features, compression reading, label.
pub(crate) type StackingExample<'a> = (&'a [u32], &'a [u8], bool);

/// The compression model learned from every message, with the stacking fitted on held-out
/// inputs: message i is in fold i mod `folds`, and its token log-odds and compression score
/// come from models trained on the other folds, as they will be on mail never learned. Also
/// each message's held-out stacked log-odds, for a fusion fitted over them.
pub(crate) fn fit_compression(
    messages: &[StackingExample],
    template: &Model,
    epochs: usize,
    folds: usize,
) -> (CompressionModel, Vec<f64>) {
    let folds = folds.max(2);
    let mut stacker = Stacker::default();
    let mut held_out = vec![(0.0, 0.0); messages.len()];
    for k in 0..folds {
        let mut tokens = template.clone();
        let mut compression = CompressionModel::default();
        let training = messages.iter().enumerate().filter(|(i, _)| i % folds != k);
        let examples = training
            .clone()
            .map(|(_, &(features, _, spam))| (features, spam))
            .collect();
        fit_classifier(&mut tokens, examples, epochs);
        for (_, &(_, text, spam)) in training {
            compression.learn(text, spam);
        }
        for (i, &(features, text, spam)) in messages.iter().enumerate() {
            if i % folds == k {
                held_out[i] = (tokens.predict(features).score, compression.score(text));
                stacker.learn(held_out[i].0, held_out[i].1, spam);
            }
        }
    }
    let mut compression = CompressionModel::default();
    for &(_, text, spam) in messages {
        compression.learn(text, spam);
    }
    let log_odds = held_out
        .iter()
        .map(|&(tokens, score)| stacker.log_odds(tokens, score))
        .collect();
    compression.set_stacker(stacker);
    (compression, log_odds)
}

/// Trains `model` on the examples, `epochs` passes in a fixed shuffle per pass: the same data
/// gives the same model.
pub(crate) fn fit_classifier(model: &mut Model, mut examples: Vec<(&[u32], bool)>, epochs: usize) {
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
}

/// Incremental learning from corrections: each message once, then the model (and the
/// compression model, when given) is saved.
pub fn learn(
    model_path: &Path,
    compression_path: Option<&Path>,
    spam: bool,
    paths: &[String],
) -> anyhow::Result<ExitCode> {
    let mut model = if model_path.exists() {
        Model::load(model_path)?
    } else {
        println!(
            "{} does not exist: starting from the built-in model",
            model_path.display()
        );
        mailmoat_classifier::detector::built_in_model()?
    };
    let mut compression = match compression_path {
        Some(path) if path.exists() => Some(CompressionModel::load(path)?),
        Some(path) => {
            println!("{} does not exist: starting an empty one", path.display());
            Some(CompressionModel::default())
        }
        None => None,
    };
    let messages = load(paths, model.bits(), None, compression.as_ref())?;
    let probability = |model: &Model, compression: Option<&CompressionModel>, m: &Loaded| {
        let tokens = model.predict(&m.features);
        match compression {
            Some(c) => c.stacked_probability(tokens.score, &m.text),
            None => tokens.spam_probability,
        }
    };
    for m in &messages {
        let before = probability(&model, compression.as_ref(), m);
        if let Some(c) = compression.as_mut() {
            let score = c.score(&m.text);
            c.stacker_mut()
                .learn(model.predict(&m.features).score, score, spam);
            c.learn(&m.text, spam);
        }
        model.learn(&m.features, spam);
        let after = probability(&model, compression.as_ref(), m);
        println!("{}: spam probability {before:.3} -> {after:.3}", m.label);
    }
    model.save(model_path)?;
    if let (Some(c), Some(path)) = (&compression, compression_path) {
        c.save(path)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The most spam recall reachable while letting at most `max_fp` ham through as spam.
/// A spam probability with enough decimals to tell it from its neighbours near 1: 4, or two
/// more than the zeros of 1 − p (at most 15, where f64 runs out).
fn threshold_text(p: f64) -> String {
    if !p.is_finite() {
        return format!("{p}");
    }
    let gap = 1.0 - p;
    let digits = if gap > 0.0 && gap < 1e-3 {
        ((-gap.log10()).ceil() as usize + 2).min(15)
    } else {
        4
    };
    format!("{p:.digits$}")
}

pub(crate) fn tpr_at(ham: &[f64], spam: &[f64], max_fp: usize) -> (f64, f64) {
    let mut h = ham.to_vec();
    h.sort_by(|a, b| b.total_cmp(a));
    // Scores strictly above the (max_fp+1)-th highest ham score are called spam.
    let threshold = h.get(max_fp).copied().unwrap_or(f64::NEG_INFINITY);
    let caught = spam.iter().filter(|&&s| s > threshold).count();
    (caught as f64 / spam.len().max(1) as f64, threshold)
}

pub(crate) fn auc(ham: &[f64], spam: &[f64]) -> f64 {
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

/// What `mailmoat eval` measures and how.
pub struct EvalOptions {
    pub model: Option<PathBuf>,
    /// A compression model to stack with the token model (default: the configured one).
    pub compression: Option<PathBuf>,
    pub fusion: Option<PathBuf>,
    pub threshold: Option<f64>,
    pub pipeline: bool,
    pub config: Option<PathBuf>,
    pub json: bool,
    pub scores: Option<PathBuf>,
}

/// Scores of one class: (file, score, counted as spam).
type Scored = Vec<(String, f64, bool)>;

pub fn eval(ham: &[String], spam: &[String], options: EvalOptions) -> anyhow::Result<ExitCode> {
    let mut config = crate::load_config(options.config.as_deref())?;
    if let Some(m) = &options.model {
        // Relative to where the command runs, not to the configuration file.
        config.classifier.model = Some(std::path::absolute(m)?);
    }
    if let Some(m) = &options.fusion {
        config.fusion.model = Some(std::path::absolute(m)?);
    }
    if let Some(c) = &options.compression {
        config.classifier.compression = Some(std::path::absolute(c)?);
    }
    let threshold = options
        .threshold
        .unwrap_or(config.classifier.spam_threshold);
    let start = Instant::now();
    let classifier = config
        .classifier
        .build(&config.base_dir)?
        .ok_or_else(|| anyhow::anyhow!("the classifier is disabled in this configuration"))?;
    let load_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut speed = None;
    // Under the pipeline: how many of each class were tagged and how many held.
    let mut actions: Option<[[usize; 2]; 2]> = None;
    let mut fused = false;
    let (hs, ss, what) = if options.pipeline {
        let scanner = mailmoat_pipeline::Scanner::new(&config)?;
        fused = scanner.policy().fusion().is_some();
        let mut counts = [[0usize; 2]; 2];
        let mut run = |paths: &[String], class: usize| -> anyhow::Result<Scored> {
            let mut out = Vec::new();
            for item in read_all(paths)? {
                let report = scanner.scan(item.raw, item.envelope);
                let action = report.verdict.action;
                match action {
                    mailmoat_core::Action::Deliver => {}
                    mailmoat_core::Action::Tag => counts[class][0] += 1,
                    _ => counts[class][1] += 1,
                }
                let caught = action != mailmoat_core::Action::Deliver;
                out.push((item.label, report.verdict.score, caught));
            }
            Ok(out)
        };
        let (h, s) = (run(ham, 0)?, run(spam, 1)?);
        actions = Some(counts);
        (h, s, "full pipeline verdict score")
    } else {
        let weights = classifier.weights();
        let compression = classifier.compression();
        let hams = load(ham, weights.bits(), None, compression)?;
        let spams = load(spam, weights.bits(), None, compression)?;
        let start = Instant::now();
        let score = |v: Vec<Loaded>| -> Scored {
            v.into_iter()
                .map(|m| {
                    let tokens = weights.predict(&m.features);
                    let p = match compression {
                        Some(c) => c.stacked_probability(tokens.score, &m.text),
                        None => tokens.spam_probability,
                    };
                    (m.label, p, p >= threshold)
                })
                .collect()
        };
        let (hs, ss) = (score(hams), score(spams));
        let predict_s = start.elapsed().as_secs_f64();
        let feature_s = FEATURE_NANOS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
        speed = Some((feature_s, predict_s));
        let what = if compression.is_some() {
            "classifier spam probability (token model stacked with the compression model)"
        } else {
            "classifier spam probability"
        };
        (hs, ss, what)
    };
    anyhow::ensure!(
        !hs.is_empty() && !ss.is_empty(),
        "no messages found under --{}",
        if hs.is_empty() { "ham" } else { "spam" }
    );
    if let Some(path) = &options.scores {
        let mut text = String::new();
        for (class, rows) in [("ham", &hs), ("spam", &ss)] {
            for (file, score, flagged) in rows.iter() {
                text.push_str(&format!(
                    "{class}\t{score}\t{}\t{file}\n",
                    u8::from(*flagged)
                ));
            }
        }
        std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let h: Vec<f64> = hs.iter().map(|x| x.1).collect();
    let sp: Vec<f64> = ss.iter().map(|x| x.1).collect();
    let fp: Vec<&str> = hs.iter().filter(|x| x.2).map(|x| x.0.as_str()).collect();
    let fn_: Vec<&str> = ss.iter().filter(|x| !x.2).map(|x| x.0.as_str()).collect();
    let fpr_limit = |pct: f64| ((h.len() as f64) * pct / 100.0).floor() as usize;
    let (tpr01, _) = tpr_at(&h, &sp, fpr_limit(0.1));
    let (tpr1, _) = tpr_at(&h, &sp, fpr_limit(1.0));
    let (tpr1fp, t1) = tpr_at(&h, &sp, 1);
    // The thresholds that keep the false-positive rate at 0.1 % and 0.01 % of this ham: the
    // score must be above them. Below 1/rate ham messages the rate is not resolved.
    let (tpr_fpr01, t_fpr01) = tpr_at(&h, &sp, fpr_limit(0.1));
    let (tpr_fpr001, t_fpr001) = tpr_at(&h, &sp, fpr_limit(0.01));
    let area = auc(&h, &sp);
    let n = (h.len() + sp.len()) as f64;
    let at = if options.pipeline {
        "the configured policy (not delivered untouched = spam)".to_string()
    } else {
        format!("threshold {threshold}")
    };
    if options.json {
        let mut out = serde_json::json!({
            "measured": what, "model": classifier.origin(),
            "ham": h.len(), "spam": sp.len(), "threshold": if options.pipeline { None } else { Some(threshold) },
            "tpr_at_fpr_0.1": tpr01, "tpr_at_fpr_1": tpr1, "tpr_at_1fp": tpr1fp, "auc": area,
            "fp": fp.len(), "fn": fn_.len(), "false_positives": fp, "false_negatives": fn_,
            "model_load_ms": load_ms,
            "threshold_for_fpr_0.1": t_fpr01, "threshold_for_fpr_0.01": t_fpr001,
            "tpr_at_fpr_0.01": tpr_fpr001, "fusion": fused,
            "compression": classifier.compression().is_some(),
        });
        if let Some([[ht, hq], [st, sq]]) = actions {
            out["ham_tagged"] = ht.into();
            out["ham_held"] = hq.into();
            out["spam_tagged"] = st.into();
            out["spam_held"] = sq.into();
        }
        if let Some((f, p)) = speed {
            out["classifications_per_second"] = serde_json::json!(n / (f + p));
        }
        println!("{out}");
    } else {
        println!(
            "{} ham, {} spam; measuring the {what}; model: {} (learned {} ham and {} spam updates)",
            h.len(),
            sp.len(),
            classifier.origin(),
            classifier.weights().trained[0],
            classifier.weights().trained[1]
        );
        println!("ROC AUC                          {area:.5}");
        println!("spam recall at FPR <= 0.1 %      {:.2} %", tpr01 * 100.0);
        println!(
            "spam recall at FPR <= 0.01 %     {:.2} %{}",
            tpr_fpr001 * 100.0,
            if h.len() < 10_000 {
                " (fewer than 10,000 ham: no ham may pass)"
            } else {
                ""
            }
        );
        println!("spam recall at FPR <= 1 %        {:.2} %", tpr1 * 100.0);
        // A probability threshold near 1 needs the digits that tell it from 1, or it cannot be
        // copied into `spam_threshold`.
        let shown = |t: f64| {
            if options.pipeline {
                format!("{t:.4}")
            } else {
                threshold_text(t)
            }
        };
        println!(
            "spam recall with <= 1 ham FP     {:.2} % (score threshold {})",
            tpr1fp * 100.0,
            shown(t1)
        );
        println!(
            "at {at}: {} false positives, {} false negatives",
            fp.len(),
            fn_.len()
        );
        let unit = if options.pipeline {
            "verdict score"
        } else {
            "spam probability"
        };
        println!(
            "thresholds on this ham: {unit} above {} for FPR <= 0.1 % ({:.2} % recall), above {} for FPR <= 0.01 %",
            shown(t_fpr01),
            tpr_fpr01 * 100.0,
            shown(t_fpr001)
        );
        if let Some([[ht, hq], [st, sq]]) = actions {
            let pct = |n: usize, of: usize| n as f64 * 100.0 / of.max(1) as f64;
            println!(
                "ham:  {ht} tagged ({:.2} %), {hq} held ({:.2} %) of {}",
                pct(ht, h.len()),
                pct(hq, h.len()),
                h.len()
            );
            println!(
                "spam: {st} tagged ({:.2} %), {sq} held ({:.2} %), {} delivered ({:.2} %) of {}",
                pct(st, sp.len()),
                pct(sq, sp.len()),
                sp.len() - st - sq,
                pct(sp.len() - st - sq, sp.len()),
                sp.len()
            );
            println!(
                "score: {}",
                if fused {
                    "learned fusion ([fusion] model)"
                } else {
                    "hand weights ([policy])"
                }
            );
        }
        if let Some((feature_s, predict_s)) = speed {
            println!(
                "model loaded in {load_ms:.0} ms; classification from a parsed view: {:.0} messages/s (features {:.1} µs + prediction {:.1} µs per message, one thread)",
                n / (feature_s + predict_s),
                feature_s / n * 1e6,
                predict_s / n * 1e6
            );
        }
        for f in &fp {
            println!("  FP {f}");
        }
        for f in &fn_ {
            println!("  FN {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_all(paths: &[String]) -> anyhow::Result<Vec<sources::Item>> {
    Ok(sources::read_all(paths)?)
}

/// The family of a feature token ("b" for body words, "o2" for word pairs, "uh" for URL hosts…),
/// named for people.
fn family(token: &str) -> &'static str {
    let prefix = token.split(':').next().unwrap_or("");
    match prefix {
        "b" => "body words",
        "o1" | "o2" | "o3" => "body word pairs",
        "s" | "sh" => "subject words",
        "bh" => "body Hangul/CJK bigrams",
        "uh" | "ud" | "up" | "urls" | "url" => "URLs",
        "hn" | "has" | "mailer" | "mid" | "cte" | "cs" | "hops" | "rn" | "helo" | "to_bare" => {
            "headers"
        }
        "fd" | "ftld" | "fl" | "fname" => "sender",
        "ct" | "ae" | "at" | "problem" | "html" | "len" => "structure",
        "subj" => "subject shape",
        _ => "other",
    }
}

/// `mailmoat explain`: which features carry the classifier's rating — per message, and summed
/// over all messages given (e.g. a phishing test set) by feature and by feature family.
pub fn explain(
    paths: &[String],
    model: Option<PathBuf>,
    config: Option<&Path>,
    top: usize,
) -> anyhow::Result<ExitCode> {
    let mut config = crate::load_config(config)?;
    if let Some(m) = model {
        config.classifier.model = Some(std::path::absolute(m)?);
    }
    let classifier = config
        .classifier
        .build(&config.base_dir)?
        .ok_or_else(|| anyhow::anyhow!("the classifier is disabled in this configuration"))?;
    let weights = classifier.weights();
    let options = config.message.clone();
    let items = read_all(paths)?;
    let each = items.len() <= 20;
    let mut by_token: std::collections::HashMap<String, (f64, usize)> = Default::default();
    let mut by_family: std::collections::BTreeMap<&str, f64> = Default::default();
    for item in &items {
        let view = MessageView::build(item.raw.clone(), item.envelope.clone(), &options);
        let p = weights
            .predict(&features(&view, weights.bits()))
            .spam_probability;
        let mut seen = std::collections::HashSet::new();
        let mut contributions: Vec<(String, f64)> = mailmoat_classifier::tokens(&view)
            .into_iter()
            .filter_map(|t| {
                let index = mailmoat_classifier::token_index(&t, weights.bits());
                // Tokens that hash alike share one weight; count it once, as prediction does.
                let w = weights.weight(index) as f64;
                (seen.insert(index) && w != 0.0).then_some((t, w))
            })
            .collect();
        for (t, w) in &contributions {
            *by_family.entry(family(t)).or_default() += w;
            let e = by_token.entry(t.clone()).or_default();
            e.0 += w;
            e.1 += 1;
        }
        if each {
            contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            println!("{}: spam probability {p:.4}", item.label);
            for (t, w) in contributions.iter().take(top) {
                println!("  {w:+.3}  {t}");
            }
        }
    }
    if !each {
        let n = items.len() as f64;
        println!(
            "{} messages; model {}; mean contribution per message by feature family:",
            items.len(),
            classifier.origin()
        );
        let mut families: Vec<_> = by_family.into_iter().collect();
        families.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        for (f, w) in families {
            println!("  {:+8.3}  {f}", w / n);
        }
        let mut tokens: Vec<_> = by_token.into_iter().collect();
        tokens.sort_by(|a, b| b.1 .0.abs().total_cmp(&a.1 .0.abs()));
        println!("features with the largest summed contribution (messages with it):");
        for (t, (w, count)) in tokens.iter().take(top) {
            println!("  {:+8.3}  {t}  ({count})", w / n);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_near_one_keep_the_digits_that_tell_them_from_one() {
        assert_eq!(threshold_text(0.9), "0.9000");
        assert_eq!(threshold_text(0.99999997), "0.9999999700");
        assert_eq!(
            threshold_text(1.0 / (1.0 + (-35f64).exp())),
            "0.999999999999999"
        );
        assert_eq!(threshold_text(f64::NEG_INFINITY), "-inf");
        // What is printed reads back as the same number.
        let shown: f64 = threshold_text(0.99999997).parse().unwrap();
        assert_eq!(shown, 0.99999997);
    }
}

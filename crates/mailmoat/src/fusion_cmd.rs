//! `mailmoat train --fusion`: the classifier, then the learned evidence fusion over every
//! symbol's strength and the classifier's log-odds (see `mailmoat_core::policy::fusion`).
//!
//! The fusion must see the classifier as it will be on mail it never learned, so its inputs
//! are cross-fitted: the messages are cut into folds, and each fold's log-odds come from a
//! classifier trained on the other folds. The classifier that is saved learns all of them.
//! With `--compression` the classifier is the stacked one, cross-fitted the same way.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mailmoat_classifier::{features, CompressionModel, Model};
use mailmoat_core::policy::{classifier_logit, fit, Example, FitOptions};
use mailmoat_core::FusionModel;
use mailmoat_pipeline::{sources, Config, Scanner};

use crate::classify_cmd::{fit_classifier, fit_compression, StackingExample};

/// What `--fusion` asks for.
pub struct FusionOptions {
    pub output: PathBuf,
    pub config: Option<PathBuf>,
    pub folds: usize,
    pub l2: f64,
    pub tag_fpr: f64,
    pub quarantine_fpr: f64,
    /// Also learn a compression model stacked with the classifier, written here; the fusion
    /// then weighs the stacked log-odds.
    pub compression: Option<PathBuf>,
}

/// One training message as both models see it.
pub struct Labelled {
    pub spam: bool,
    pub features: Vec<u32>,
    /// The strongest hit of each symbol the scan (without the classifier) found.
    pub symbols: Vec<(String, f64)>,
    /// What the compression model reads (empty unless one is trained).
    pub text: Vec<u8>,
}

/// The scanner whose symbols the fusion weighs: the configuration as it will run, without
/// the classifier (its log-odds enter as a number) and without DNS.
pub fn evidence_scanner(config: &Config) -> anyhow::Result<Scanner> {
    let mut config = config.clone();
    config.classifier.enabled = false;
    config.fusion.model = None;
    Ok(Scanner::new(&config)?)
}

/// Reads every message once: the classifier's features and the scan's symbols from one view.
pub fn read(
    paths: &[String],
    spam: bool,
    bits: u32,
    scanner: &Scanner,
    bar: Option<&indicatif::ProgressBar>,
    reader: Option<&CompressionModel>,
) -> anyhow::Result<Vec<Labelled>> {
    let (inputs, errors) = sources::expand(paths);
    if let Some((p, e)) = errors.first() {
        anyhow::bail!("{p}: {e}");
    }
    let mut out = Vec::new();
    for input in &inputs {
        for item in sources::read(input)? {
            let view = scanner.view(item.raw, item.envelope);
            let features = features(&view, bits);
            let text = reader.map(|c| c.reading(&view)).unwrap_or_default();
            let report = scanner.judge(view, None);
            out.push(Labelled {
                spam,
                features,
                symbols: strongest(&report.verdict),
                text,
            });
        }
        if let Some(bar) = bar {
            bar.inc(1);
        }
    }
    Ok(out)
}

/// Each symbol of a verdict at its strongest hit.
pub fn strongest(verdict: &mailmoat_core::Verdict) -> Vec<(String, f64)> {
    verdict
        .reasons
        .iter()
        .map(|r| {
            let s = r.hits.iter().map(|h| h.strength).fold(0.0, f64::max);
            (r.symbol.clone(), s)
        })
        .collect()
}

/// Held-out classifier log-odds: message i is in fold i mod `folds`, predicted by a copy of
/// `template` trained on the other folds.
pub fn cross_fitted_logits(
    messages: &[Labelled],
    template: &Model,
    epochs: usize,
    folds: usize,
) -> Vec<f64> {
    let folds = folds.max(2);
    let mut out = vec![0.0; messages.len()];
    for k in 0..folds {
        let mut model = template.clone();
        let train: Vec<(&[u32], bool)> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != k)
            .map(|(_, m)| (m.features.as_slice(), m.spam))
            .collect();
        fit_classifier(&mut model, train, epochs);
        for (i, m) in messages.iter().enumerate().filter(|(i, _)| i % folds == k) {
            out[i] = classifier_logit(model.predict(&m.features).spam_probability);
        }
    }
    out
}

/// Fits the fusion for the policy `scanner` carries.
pub fn fit_fusion(
    messages: &[Labelled],
    logits: &[f64],
    scanner: &Scanner,
    options: &FitOptions,
) -> FusionModel {
    let policy = scanner.policy();
    let examples: Vec<Example> = messages
        .iter()
        .zip(logits)
        .map(|(m, &l)| Example {
            symbols: m
                .symbols
                .iter()
                .filter(|(s, _)| policy.learnable_prior(s).is_some())
                .cloned()
                .collect(),
            classifier_logit: l,
            spam: m.spam,
        })
        .collect();
    fit(&examples, &|s| policy.learnable_prior(s), options)
}

/// Writes the fusion model as JSON, beside-then-rename.
pub fn save(model: &FusionModel, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(model)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// `mailmoat train … --fusion FILE`.
pub fn train(
    ham: &[String],
    spam: &[String],
    out: &Path,
    epochs: usize,
    template: Model,
    prune: bool,
    options: &FusionOptions,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let config = crate::load_config(options.config.as_deref())?;
    let scanner = evidence_scanner(&config)?;
    let bits = template.bits();
    let all: Vec<String> = ham.iter().chain(spam).cloned().collect();
    let bar = crate::classify_cmd::progress(&all);
    if let Some(b) = &bar {
        b.set_message("reading");
    }
    let reader = options
        .compression
        .as_ref()
        .map(|_| CompressionModel::default());
    let mut messages = read(ham, false, bits, &scanner, bar.as_ref(), reader.as_ref())?;
    messages.extend(read(
        spam,
        true,
        bits,
        &scanner,
        bar.as_ref(),
        reader.as_ref(),
    )?);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let hams = messages.iter().filter(|m| !m.spam).count();
    anyhow::ensure!(
        hams > 0 && hams < messages.len(),
        "need both ham and spam to train"
    );
    let mut model = template.clone();
    fit_classifier(
        &mut model,
        messages
            .iter()
            .map(|m| (m.features.as_slice(), m.spam))
            .collect(),
        epochs,
    );
    if prune {
        model.prune();
    }
    model.save(out)?;
    let logits = match &options.compression {
        Some(path) => {
            let examples: Vec<StackingExample> = messages
                .iter()
                .map(|m| (m.features.as_slice(), m.text.as_slice(), m.spam))
                .collect();
            let folds = options.folds.max(2);
            let (compression, stacked) = fit_compression(&examples, &template, epochs, folds);
            compression.save(path)?;
            println!(
                "compression model (token log-odds + {:.3} × its score): {}",
                compression.stacker().ratio(),
                path.display()
            );
            stacked
        }
        None => cross_fitted_logits(&messages, &template, epochs, options.folds),
    };
    let fit_options = FitOptions {
        l2: options.l2,
        tag_fpr: options.tag_fpr,
        quarantine_fpr: options.quarantine_fpr,
        ..FitOptions::default()
    };
    let fusion = fit_fusion(&messages, &logits, &scanner, &fit_options);
    save(&fusion, &options.output)?;
    println!(
        "trained on {hams} ham and {} spam ({} epochs, {} folds) in {:.2} s: {} and {}",
        messages.len() - hams,
        epochs.max(1),
        options.folds.max(2),
        start.elapsed().as_secs_f64(),
        out.display(),
        options.output.display()
    );
    println!(
        "fusion: bias {:.3}, classifier × {:.3}; tag at log-odds {:.3} (p {:.4}), quarantine at {:.3} (p {:.5})",
        fusion.bias,
        fusion.classifier,
        fusion.tag_logit,
        mailmoat_core::policy::probability(fusion.tag_logit),
        fusion.quarantine_logit,
        mailmoat_core::policy::probability(fusion.quarantine_logit)
    );
    let mut moved: Vec<(&String, f64, f64)> = fusion
        .weights
        .iter()
        .map(|(s, &w)| (s, w, fusion.priors.get(s).copied().unwrap_or(0.0)))
        .collect();
    moved.sort_by(|a, b| (b.1 - b.2).abs().total_cmp(&(a.1 - a.2).abs()));
    println!("symbols whose weight moved most from the hand weight (log-odds; fired on ham/spam):");
    for (s, w, prior) in moved.iter().take(15) {
        let [h, sp] = fusion.fired.get(*s).copied().unwrap_or_default();
        println!("  {s:<32} {prior:>7.3} -> {w:>7.3}   ({h}/{sp})");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_fitted_log_odds_come_from_models_that_never_saw_the_message() {
        // Two messages with the same unique token and opposite labels: a model that learned
        // the message itself would rate it by its own label; a held-out one cannot.
        let mut messages = Vec::new();
        for i in 0..40u32 {
            let spam = i % 2 == 1;
            messages.push(Labelled {
                spam,
                features: vec![0, 100 + i, if spam { 7 } else { 8 }],
                symbols: Vec::new(),
                text: Vec::new(),
            });
        }
        let template = Model::new(10);
        let logits = cross_fitted_logits(&messages, &template, 3, 5);
        // The shared class tokens (7, 8) still separate held-out messages.
        for (m, l) in messages.iter().zip(&logits) {
            assert_eq!(m.spam, *l > 0.0, "{l}");
        }
        // A message whose only signal is its own token gets no opinion when held out.
        let lone = vec![Labelled {
            spam: true,
            features: vec![0, 999],
            symbols: Vec::new(),
            text: Vec::new(),
        }];
        let mut with_lone: Vec<Labelled> = messages;
        with_lone.extend(lone);
        let logits = cross_fitted_logits(&with_lone, &template, 3, 5);
        assert!(logits[40].abs() < 1.0, "{}", logits[40]);
    }
}

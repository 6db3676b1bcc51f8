//! `mailmoat replay`: the TREC spam-track protocol. Messages are taken in the order of an index
//! file (`spam PATH` or `ham PATH` per line, paths relative to the index), each one classified
//! and then learned with its gold label, as a site's mail arrives and its users correct it. The
//! feedback can come late (`--delay N`: learned N messages later) or for only some messages
//! (`--feedback F`). The statistical classifier is what learns and what is scored; by default
//! it starts empty, so no figure is measured on mail it was trained on. With `--compression` its
//! token model is stacked with a compression model (PPM-D over each message's visible text),
//! all learning from each label. With `--pipeline` what is scored is the verdict: the
//! configured detectors, rules and policy, with the classifier's findings from the model being
//! learned, as the gateway judges with a model its users' corrections keep teaching.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mailmoat_classifier::{features, CompressionModel, Model};
use mailmoat_core::Action;
use mailmoat_mime::{MessageView, ViewOptions};

use crate::classify_cmd::{auc, tpr_at};

/// How a replay runs.
pub struct ReplayOptions {
    /// Start from this model instead of an empty one (`built-in`: the shipped model).
    pub model: Option<String>,
    /// FTRL learning rate and L1 strength of an empty starting model.
    pub alpha: f32,
    pub l1: f32,
    /// Learn each message this many messages after it was classified.
    pub delay: usize,
    /// The share of messages whose label is learned at all (0–1), chosen by position.
    pub feedback: f64,
    /// From this position (0-based) on, messages are only scored, never learned, and only
    /// they are measured: a train-then-test split in one stream (e.g. older folders first).
    pub holdout_from: Option<usize>,
    /// One line per measured message: `PATH judge=spam|ham score=P class=spam|ham tokens=L`
    /// (the token model's log-odds), then ` compression=S` when stacked. `class` is the gold label.
    pub scores: Option<PathBuf>,
    /// The compression model stacked with the token model (empty at the start); none scores
    /// the token model alone.
    pub compression: Option<CompressionModel>,
    /// Score the verdict instead of the classifier alone.
    pub verdict: Option<VerdictStage>,
    pub json: bool,
}

/// What `--pipeline` scores with: the configuration's scanner without its classifier (the
/// replay's learning one takes its place, reported at the configured thresholds) and with
/// the hand weights (a fusion model was fitted to a classifier other than this one).
pub struct VerdictStage {
    pub scanner: mailmoat_pipeline::Scanner,
    pub spam_threshold: f64,
    pub ham_threshold: f64,
}

/// One message's scores.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    /// The spam probability judged.
    pub probability: f64,
    /// The token model's log-odds.
    pub tokens: f64,
    /// The compression model's score (bits per byte, spam-cheaper positive), when it runs.
    pub compression: Option<f64>,
    /// Whether the message counts in the summary (all of them, unless a holdout is set).
    pub measured: bool,
    /// The verdict's score and action, under `--pipeline`.
    pub verdict: Option<(f64, Action)>,
}

/// Under `--pipeline`: what the verdict did with the measured messages.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerdictCounts {
    pub ham_tagged: usize,
    /// Quarantined or refused.
    pub ham_held: usize,
    pub spam_tagged: usize,
    pub spam_held: usize,
    pub spam_delivered: usize,
}

impl VerdictCounts {
    fn add(&mut self, spam: bool, action: Action) {
        let count = match action {
            Action::Quarantine | Action::Reject if spam => &mut self.spam_held,
            Action::Quarantine | Action::Reject => &mut self.ham_held,
            Action::Deliver if spam => &mut self.spam_delivered,
            Action::Deliver => return,
            _ if spam => &mut self.spam_tagged,
            _ => &mut self.ham_tagged,
        };
        *count += 1;
    }
}

/// One line of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub spam: bool,
    pub path: PathBuf,
}

/// Reads a TREC index: `spam PATH` or `ham PATH` per line; blank lines and `#` comments
/// skipped; relative paths are taken from the index's folder.
pub fn read_index(index: &Path) -> anyhow::Result<Vec<Entry>> {
    let text =
        std::fs::read_to_string(index).map_err(|e| anyhow::anyhow!("{}: {e}", index.display()))?;
    let base = index.parent().unwrap_or(Path::new("."));
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, path) = line
            .split_once(char::is_whitespace)
            .map(|(l, p)| (l, p.trim()))
            .ok_or_else(|| {
                anyhow::anyhow!("{}:{}: expected `spam|ham PATH`", index.display(), n + 1)
            })?;
        let spam = match label.to_ascii_lowercase().as_str() {
            "spam" => true,
            "ham" => false,
            other => anyhow::bail!(
                "{}:{}: label {other:?} is neither spam nor ham",
                index.display(),
                n + 1
            ),
        };
        entries.push(Entry {
            spam,
            path: base.join(path),
        });
    }
    anyhow::ensure!(!entries.is_empty(), "{}: no messages", index.display());
    Ok(entries)
}

/// Whether the message at `position` gets feedback when only `share` of them do: spread
/// evenly through the stream, the same on every run.
fn gets_feedback(position: usize, share: f64) -> bool {
    if share >= 1.0 {
        return true;
    }
    let share = share.max(0.0);
    ((position + 1) as f64 * share).floor() > (position as f64 * share).floor()
}

/// What a replay measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub messages: usize,
    pub ham: usize,
    pub spam: usize,
    pub unreadable: usize,
    pub learned: usize,
    pub roc_auc: f64,
    /// (1 − ROC AUC) × 100, TREC's headline figure (lower is better).
    pub one_minus_roca_percent: f64,
    pub recall_at_0_1_percent_fpr: f64,
    pub recall_at_0_01_percent_fpr: f64,
    /// Errors at a spam probability of 0.5.
    pub ham_misclassified: usize,
    pub spam_misclassified: usize,
    pub messages_per_second: f64,
    /// The compression score's weight in token log-odds at the end, when stacked.
    pub compression_ratio: Option<f64>,
    /// Under `--pipeline` (the figures above then rank by the verdict's score; the errors at
    /// 0.5 stay the classifier's).
    pub verdict: Option<VerdictCounts>,
}

/// `mailmoat replay`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// `spam PATH` or `ham PATH` per line, in arrival order.
    pub index: PathBuf,
    /// Start from this model instead of an empty one: `built-in`, or a model file.
    #[arg(long)]
    pub model: Option<String>,
    /// FTRL learning rate of an empty starting model (as `train`).
    #[arg(long, default_value_t = 0.3)]
    pub alpha: f32,
    /// FTRL L1 regularisation of an empty starting model (as `train`).
    #[arg(long, default_value_t = 1.0)]
    pub l1: f32,
    /// Learn each message this many messages after it was classified.
    #[arg(long, default_value_t = 0)]
    pub delay: usize,
    /// The share of messages whose label is learned (0–1).
    #[arg(long, default_value_t = 1.0)]
    pub feedback: f64,
    /// Messages from this position (0-based) on are scored but not learned, and only they
    /// are measured: train on the older part of the index, test on the rest.
    #[arg(long)]
    pub holdout_from: Option<usize>,
    /// One line per message: PATH judge=… score=… class=… tokens=… compression=….
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// Stack the token model with a compression model (PPM-D over each message's first
    /// bytes), learned from the same labels. The gateway runs one only when `[classifier]
    /// compression` names it: without feedback it generalises worse across time
    /// (BENCHMARKS.md, session 20).
    #[arg(long)]
    pub compression: bool,
    /// Context length of the compression model's highest order, in bytes.
    #[arg(long, default_value_t = mailmoat_classifier::compression::DEFAULT_ORDER)]
    pub compression_order: usize,
    /// How many bytes of each message the compression model reads.
    #[arg(long, default_value_t = mailmoat_classifier::compression::DEFAULT_PREFIX)]
    pub compression_prefix: usize,
    /// log2 of the compression model's slots per table (memory: 24 × 2^bits bytes).
    #[arg(long, default_value_t = mailmoat_classifier::compression::DEFAULT_BITS)]
    pub compression_bits: u32,
    /// Score the verdict instead of the classifier alone: the configured detectors, rules
    /// (SpamAssassin's too when enabled) and hand weights, with the classifier's findings
    /// from the model the replay is teaching.
    #[arg(long)]
    pub pipeline: bool,
    /// The configuration --pipeline scans with (default: the embedded defaults).
    #[arg(long, short, requires = "pipeline")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// Runs `mailmoat replay` as its arguments ask.
pub fn run_cli(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let verdict = if args.pipeline {
        Some(verdict_stage(args.config.as_deref())?)
    } else {
        None
    };
    let compression = args.compression.then(|| {
        CompressionModel::new(
            args.compression_order,
            args.compression_prefix,
            args.compression_bits,
        )
    });
    run(
        &args.index,
        ReplayOptions {
            model: args.model,
            alpha: args.alpha,
            l1: args.l1,
            delay: args.delay,
            feedback: args.feedback,
            holdout_from: args.holdout_from,
            scores: args.scores,
            compression,
            verdict,
            json: args.json,
        },
    )
}

/// The scanner `--pipeline` judges with, from the configuration at `config` (default: the
/// embedded one); waits while SpamAssassin's rules compile for Hyperscan.
pub fn verdict_stage(config: Option<&Path>) -> anyhow::Result<VerdictStage> {
    let config = crate::load_config(config)?;
    let scanner = crate::fusion_cmd::evidence_scanner(&config)?;
    if let Some(engine) = scanner.wait_for_spamassassin_engine(std::time::Duration::from_secs(3600))
    {
        eprintln!("replay: SpamAssassin rules matched by {engine}");
    }
    Ok(VerdictStage {
        scanner,
        spam_threshold: config.classifier.spam_threshold,
        ham_threshold: config.classifier.ham_threshold,
    })
}

/// Classifies then learns every message of `entries` in order; the scores in order and the
/// summary.
pub fn run_entries(
    entries: &[Entry],
    mut model: Model,
    mut compression: Option<CompressionModel>,
    options: &ReplayOptions,
    mut each: impl FnMut(&Entry, Option<Scored>),
) -> Summary {
    let view_options = ViewOptions::default();
    let bits = model.bits();
    let start = Instant::now();
    let (mut ham_scores, mut spam_scores) = (Vec::new(), Vec::new());
    // The classifier's probabilities, for its errors at 0.5.
    let (mut ham_probabilities, mut spam_probabilities) = (Vec::new(), Vec::new());
    let mut verdicts = options.verdict.as_ref().map(|_| VerdictCounts::default());
    let (mut unreadable, mut learned) = (0, 0);
    // What a message's lesson needs: its features, its text, its scores as judged, its label.
    type Lesson = (Vec<u32>, Vec<u8>, Scored, bool);
    let mut pending: VecDeque<Lesson> = VecDeque::new();
    for (position, entry) in entries.iter().enumerate() {
        let raw = match std::fs::read(&entry.path) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("replay: {}: {e}", entry.path.display());
                unreadable += 1;
                each(entry, None);
                continue;
            }
        };
        let view = match &options.verdict {
            Some(stage) => stage.scanner.view(raw, Default::default()),
            None => MessageView::build(raw, Default::default(), &view_options),
        };
        // What the compression model reads, kept for its lesson.
        let reading = compression.as_ref().map(|c| c.reading(&view));
        let compressed = compression
            .as_ref()
            .zip(reading.as_ref())
            .map(|(c, text)| c.score(text));
        let f = features(&view, bits);
        let token_prediction = model.predict(&f);
        let probability = match compression.as_ref().zip(compressed) {
            Some((c, score)) => c.stacker().probability(token_prediction.score, score),
            None => token_prediction.spam_probability,
        };
        let verdict = options.verdict.as_ref().map(|stage| {
            // The classifier's findings first, as the gateway's detector gives them.
            let mut classifier = mailmoat_core::Findings::new();
            mailmoat_classifier::detector::add_findings(
                probability,
                stage.spam_threshold,
                stage.ham_threshold,
                &mut classifier,
            );
            let verdict = stage.scanner.verdict_after(&view, classifier);
            (verdict.score, verdict.action)
        });
        let scored = Scored {
            probability,
            tokens: token_prediction.score,
            compression: compressed,
            measured: options.holdout_from.is_none_or(|from| position >= from),
            verdict,
        };
        if scored.measured {
            let (scores, probabilities) = if entry.spam {
                (&mut spam_scores, &mut spam_probabilities)
            } else {
                (&mut ham_scores, &mut ham_probabilities)
            };
            scores.push(
                scored
                    .verdict
                    .map_or(scored.probability, |(score, _)| score),
            );
            probabilities.push(scored.probability);
            if let (Some(counts), Some((_, action))) = (verdicts.as_mut(), scored.verdict) {
                counts.add(entry.spam, action);
            }
        }
        each(entry, Some(scored));
        let held_out = options.holdout_from.is_some_and(|from| position >= from);
        if !held_out && gets_feedback(position, options.feedback) {
            pending.push_back((f, reading.unwrap_or_default(), scored, entry.spam));
        }
        while pending.len() > options.delay {
            if let Some((f, text, scored, spam)) = pending.pop_front() {
                model.learn(&f, spam);
                if let (Some(c), Some(score)) = (compression.as_mut(), scored.compression) {
                    c.learn(&text, spam);
                    c.stacker_mut().learn(scored.tokens, score, spam);
                }
                learned += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    let roc = if ham_scores.is_empty() || spam_scores.is_empty() {
        f64::NAN
    } else {
        auc(&ham_scores, &spam_scores)
    };
    let at = |rate: f64| {
        let allowed = (ham_scores.len() as f64 * rate).floor() as usize;
        tpr_at(&ham_scores, &spam_scores, allowed).0
    };
    Summary {
        messages: ham_scores.len() + spam_scores.len(),
        ham: ham_scores.len(),
        spam: spam_scores.len(),
        unreadable,
        learned,
        roc_auc: roc,
        one_minus_roca_percent: (1.0 - roc) * 100.0,
        recall_at_0_1_percent_fpr: at(0.001),
        recall_at_0_01_percent_fpr: at(0.0001),
        ham_misclassified: ham_probabilities.iter().filter(|&&s| s >= 0.5).count(),
        spam_misclassified: spam_probabilities.iter().filter(|&&s| s < 0.5).count(),
        messages_per_second: (ham_scores.len() + spam_scores.len()) as f64 / seconds,
        compression_ratio: compression.as_ref().map(|c| c.stacker().ratio()),
        verdict: verdicts,
    }
}

/// The model a replay starts from.
fn starting_model(choice: Option<&str>, alpha: f32, l1: f32) -> anyhow::Result<Model> {
    Ok(match choice {
        None => Model::with_params(22, alpha, 1.0, l1, 1.0),
        Some("built-in") => mailmoat_classifier::detector::built_in_model()?,
        Some(path) => Model::load(Path::new(path))?,
    })
}

pub fn run(index: &Path, mut options: ReplayOptions) -> anyhow::Result<ExitCode> {
    let entries = read_index(index)?;
    let model = starting_model(options.model.as_deref(), options.alpha, options.l1)?;
    let bar = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(entries.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("replay {bar:40} {pos}/{len} {per_sec}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        })
    };
    let mut scores = match &options.scores {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let mut write_error = None;
    let compression = options.compression.take();
    let stacked = compression.is_some();
    let summary = run_entries(&entries, model, compression, &options, |entry, scored| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if let (Some(out), Some(scored)) = (scores.as_mut(), scored.filter(|s| s.measured)) {
            let class = if entry.spam { "spam" } else { "ham" };
            let score = scored.probability;
            let judge = if score >= 0.5 { "spam" } else { "ham" };
            let compression = scored
                .compression
                .map(|c| format!(" compression={c:.6}"))
                .unwrap_or_default();
            let verdict = scored
                .verdict
                .map(|(score, action)| format!(" verdict={score:.4} action={action:?}"))
                .unwrap_or_default();
            if let Err(e) = writeln!(
                out,
                "{} judge={judge} score={score:.6} class={class} tokens={:.6}{compression}{verdict}",
                entry.path.display(),
                scored.tokens
            ) {
                write_error.get_or_insert(e);
            }
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = write_error {
        anyhow::bail!("writing the scores: {e}");
    }
    if let Some(mut out) = scores {
        out.flush()?;
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let s = &summary;
        if let Some(from) = options.holdout_from {
            println!("held out: messages from position {from} on are scored, not learned; only they are measured");
        }
        println!(
            "{} messages ({} ham, {} spam, {} unreadable), {} learned (delay {}, feedback {:.0}%)",
            s.messages,
            s.ham,
            s.spam,
            s.unreadable,
            s.learned,
            options.delay,
            options.feedback.clamp(0.0, 1.0) * 100.0
        );
        println!(
            "ROC AUC {:.5}   (1-ROCA)% {:.4}   spam recall at 0.1% FPR {:.1}%, at 0.01% FPR {:.1}%",
            s.roc_auc,
            s.one_minus_roca_percent,
            s.recall_at_0_1_percent_fpr * 100.0,
            s.recall_at_0_01_percent_fpr * 100.0
        );
        println!(
            "at 0.5: {} ham called spam, {} spam called ham; {:.0} messages/s",
            s.ham_misclassified, s.spam_misclassified, s.messages_per_second
        );
        if let Some(v) = &s.verdict {
            println!(
                "ranked by the verdict's score (configured detectors, rules and policy, the classifier learning as it goes)"
            );
            println!(
                "verdict: ham tagged {} and held {} of {}; spam tagged {}, held {}, delivered {} of {}",
                v.ham_tagged, v.ham_held, s.ham, v.spam_tagged, v.spam_held, v.spam_delivered, s.spam
            );
        }
        match s.compression_ratio {
            Some(ratio) => println!(
                "scored: token log-odds + {ratio:.3} × compression bits/byte (the stacked classifier)"
            ),
            None if !stacked => println!("scored: token model alone"),
            None => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_is_spread_evenly_and_reproducibly() {
        let picked = |share: f64| (0..1000).filter(|&i| gets_feedback(i, share)).count();
        assert_eq!(picked(1.0), 1000);
        assert_eq!(picked(0.5), 500);
        assert_eq!(picked(0.1), 100);
        assert_eq!(picked(0.0), 0);
        let first: Vec<usize> = (0..20).filter(|&i| gets_feedback(i, 0.25)).collect();
        assert_eq!(first, vec![3, 7, 11, 15, 19]);
    }

    fn options(holdout_from: Option<usize>) -> ReplayOptions {
        ReplayOptions {
            model: None,
            alpha: 0.3,
            l1: 1.0,
            delay: 0,
            feedback: 1.0,
            holdout_from,
            scores: None,
            compression: None,
            verdict: None,
            json: false,
        }
    }

    /// 60 messages alternating spam and ham, each class with its own wording and sender.
    fn stream(dir: &Path) -> Vec<Entry> {
        std::fs::create_dir_all(dir).unwrap();
        (0..60)
            .map(|i| {
                let spam = i % 2 == 0;
                let text = if spam {
                    format!("From: win{i}@prizes.example\nTo: you@example.org\nSubject: You WON prize {i}\n\nClaim your FREE prize now!!! Click http://prizes.example/{i}\n")
                } else {
                    format!("From: carol@example.org\nTo: dave@example.org\nSubject: review of patch {i}\n\nDave, I looked at patch {i}; two small comments inline. Carol\n")
                };
                let path = dir.join(format!("{i}.eml"));
                std::fs::write(&path, text).unwrap();
                Entry { spam, path }
            })
            .collect()
    }

    #[test]
    fn a_holdout_is_scored_but_neither_learned_nor_mixed_with_the_training_part() {
        let dir =
            std::env::temp_dir().join(format!("mailmoat-replay-holdout-{}", std::process::id()));
        let entries = stream(&dir);
        let mut seen = Vec::new();
        let compression = CompressionModel::new(6, 2_500, 16);
        let summary = run_entries(
            &entries,
            Model::with_params(18, 0.3, 1.0, 1.0, 1.0),
            Some(compression),
            &options(Some(40)),
            |_, scored| seen.push(scored.expect("readable")),
        );
        assert_eq!(summary.learned, 40);
        assert_eq!((summary.messages, summary.ham, summary.spam), (20, 10, 10));
        assert_eq!(seen.iter().filter(|s| s.measured).count(), 20);
        assert!(seen.iter().all(|s| s.compression.is_some()));
        // Both models saw the classes apart; stacked, the held-out part is ranked perfectly.
        assert_eq!(summary.roc_auc, 1.0);
        assert!(summary.compression_ratio.is_some_and(|r| r > 0.0));
        let late_spam = seen[50];
        assert!(late_spam.compression.unwrap() > 0.0 && late_spam.tokens > 0.0);
        // Without the compression model the score is the token model's own.
        let summary = run_entries(
            &entries,
            Model::with_params(18, 0.3, 1.0, 1.0, 1.0),
            None,
            &options(None),
            |_, scored| assert!(scored.unwrap().compression.is_none()),
        );
        assert_eq!((summary.messages, summary.learned), (60, 60));
        assert!(summary.compression_ratio.is_none());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_verdict_is_scored_with_the_classifier_it_is_teaching() {
        let dir =
            std::env::temp_dir().join(format!("mailmoat-replay-verdict-{}", std::process::id()));
        let entries = stream(&dir);
        let config = mailmoat_pipeline::Config::defaults();
        let stage = VerdictStage {
            scanner: crate::fusion_cmd::evidence_scanner(&config).unwrap(),
            spam_threshold: config.classifier.spam_threshold,
            ham_threshold: config.classifier.ham_threshold,
        };
        let mut seen = Vec::new();
        let summary = run_entries(
            &entries,
            Model::with_params(18, 0.3, 1.0, 1.0, 1.0),
            None,
            &ReplayOptions {
                verdict: Some(stage),
                ..options(None)
            },
            |_, scored| seen.push(scored.expect("readable")),
        );
        let counts = summary.verdict.expect("verdict counts");
        assert_eq!(
            counts.spam_tagged + counts.spam_held + counts.spam_delivered,
            summary.spam
        );
        assert!(counts.ham_tagged + counts.ham_held <= summary.ham);
        let verdict = |i: usize| seen[i].verdict.expect("a verdict for every message");
        // The first messages meet an empty model; by the end the classifier's findings, from
        // what it learned, put the spam above the ham.
        assert!(seen[58].probability > 0.9 && seen[59].probability < 0.1);
        assert!(
            verdict(58).0 > verdict(59).0,
            "{:?} {:?}",
            verdict(58),
            verdict(59)
        );
        assert!(summary.roc_auc > 0.9, "{}", summary.roc_auc);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_index_names_labels_and_paths_relative_to_itself() {
        let dir =
            std::env::temp_dir().join(format!("mailmoat-replay-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let index = dir.join("index");
        std::fs::write(
            &index,
            "# TREC order\nspam data/inmail.1\nham  /abs/inmail.2\n\nHAM data/x\n",
        )
        .unwrap();
        let entries = read_index(&index).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries[0].spam && entries[0].path == dir.join("data/inmail.1"));
        assert!(!entries[1].spam && entries[1].path == Path::new("/abs/inmail.2"));
        std::fs::write(&index, "junk data/inmail.1\n").unwrap();
        let e = read_index(&index).unwrap_err().to_string();
        assert!(e.contains(":1:") && e.contains("junk"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }
}

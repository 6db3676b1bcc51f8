//! `mailmoat replay`: the TREC spam-track protocol. Messages are taken in the order of an index
//! file (`spam PATH` or `ham PATH` per line, paths relative to the index), each one classified
//! and then learned with its gold label, as a site's mail arrives and its users correct it. The
//! feedback can come late (`--delay N`: learned N messages later) or for only some messages
//! (`--feedback F`). The statistical classifier is what learns and what is scored; by default
//! it starts empty, so no figure is measured on mail it was trained on. With `--compression` its
//! token model is stacked with a compression model (PPM-D over each message's visible text),
//! all learning from each label.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mailmoat_classifier::{features, CompressionModel, Model};
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
    pub json: bool,
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
        let view = MessageView::build(raw, Default::default(), &view_options);
        // What the compression model reads, kept for its lesson.
        let reading = compression.as_ref().map(|c| c.reading(&view));
        let compressed = compression
            .as_ref()
            .zip(reading.as_ref())
            .map(|(c, text)| c.score(text));
        let f = features(&view, bits);
        let token_prediction = model.predict(&f);
        let scored = Scored {
            probability: match compression.as_ref().zip(compressed) {
                Some((c, score)) => c.stacker().probability(token_prediction.score, score),
                None => token_prediction.spam_probability,
            },
            tokens: token_prediction.score,
            compression: compressed,
            measured: options.holdout_from.is_none_or(|from| position >= from),
        };
        if scored.measured {
            let class = if entry.spam {
                &mut spam_scores
            } else {
                &mut ham_scores
            };
            class.push(scored.probability);
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
        ham_misclassified: ham_scores.iter().filter(|&&s| s >= 0.5).count(),
        spam_misclassified: spam_scores.iter().filter(|&&s| s < 0.5).count(),
        messages_per_second: (ham_scores.len() + spam_scores.len()) as f64 / seconds,
        compression_ratio: compression.as_ref().map(|c| c.stacker().ratio()),
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
            if let Err(e) = writeln!(
                out,
                "{} judge={judge} score={score:.6} class={class} tokens={:.6}{compression}",
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

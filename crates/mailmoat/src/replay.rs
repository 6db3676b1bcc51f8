//! `mailmoat replay`: the TREC spam-track protocol. Messages are taken in the order of an index
//! file (`spam PATH` or `ham PATH` per line, paths relative to the index), each one classified
//! and then learned with its gold label, as a site's mail arrives and its users correct it. The
//! feedback can come late (`--delay N`: learned N messages later) or for only some messages
//! (`--feedback F`). The statistical classifier is what learns and what is scored; by default
//! it starts empty, so no figure is measured on mail it was trained on.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mailmoat_classifier::{features, Model};
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
    /// One line per message: `PATH judge=spam|ham score=S class=spam|ham`.
    pub scores: Option<PathBuf>,
    pub json: bool,
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
}

/// Classifies then learns every message of `entries` in order; the scores in order and the
/// summary.
pub fn run_entries(
    entries: &[Entry],
    mut model: Model,
    options: &ReplayOptions,
    mut each: impl FnMut(&Entry, Option<f64>),
) -> Summary {
    let view_options = ViewOptions::default();
    let bits = model.bits();
    let start = Instant::now();
    let (mut ham_scores, mut spam_scores) = (Vec::new(), Vec::new());
    let (mut unreadable, mut learned) = (0, 0);
    let mut pending: VecDeque<(Vec<u32>, bool)> = VecDeque::new();
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
        let f = features(&view, bits);
        let score = model.predict(&f).spam_probability;
        if entry.spam {
            spam_scores.push(score);
        } else {
            ham_scores.push(score);
        }
        each(entry, Some(score));
        if gets_feedback(position, options.feedback) {
            pending.push_back((f, entry.spam));
        }
        while pending.len() > options.delay {
            if let Some((f, spam)) = pending.pop_front() {
                model.learn(&f, spam);
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

pub fn run(index: &Path, options: ReplayOptions) -> anyhow::Result<ExitCode> {
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
    let summary = run_entries(&entries, model, &options, |entry, score| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if let (Some(out), Some(score)) = (scores.as_mut(), score) {
            let class = if entry.spam { "spam" } else { "ham" };
            let judge = if score >= 0.5 { "spam" } else { "ham" };
            if let Err(e) = writeln!(
                out,
                "{} judge={judge} score={score:.6} class={class}",
                entry.path.display()
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

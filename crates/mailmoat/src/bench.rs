//! `mailmoat bench`: throughput of the scan path on one core, and peak memory.
//!
//! Messages are loaded into memory first so disk speed does not count; each pass then parses,
//! builds the view, runs every detector and decides, on this thread only.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mailmoat_mime::MessageView;
use mailmoat_pipeline::{sources, Scanner};

pub fn run(
    config: Option<&std::path::Path>,
    paths: &[String],
    repeat: usize,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let config = crate::load_config(config)?;
    let scanner = Scanner::new(&config)?;
    let loaded = start.elapsed();
    let (rules, patterns, entries, rates) = scanner.rules().counts();
    println!(
        "configuration loaded in {:.0} ms: {rules} rules ({patterns} distinct patterns), {entries} list entries, {rates} rate limits",
        loaded.as_secs_f64() * 1000.0
    );
    let scanner = &scanner;
    let items = sources::read_all(paths)?;
    anyhow::ensure!(!items.is_empty(), "no messages found");
    let bytes: usize = items.iter().map(|i| i.raw.len()).sum();
    let options = mailmoat_mime::ViewOptions::default();
    let repeat = repeat.max(1);

    // The classifier alone, from views built beforehand: what it adds to every scan.
    let classifier = config.classifier.build(&config.base_dir)?;
    let views: Vec<MessageView> = match &classifier {
        Some(_) => items
            .iter()
            .map(|i| MessageView::build(i.raw.clone(), i.envelope.clone(), &options))
            .collect(),
        None => Vec::new(),
    };
    let mut best_classify = Duration::MAX;

    let mut best_view = Duration::MAX;
    let mut best_full = Duration::MAX;
    let mut first_full = None;
    let mut not_delivered = 0;
    for _ in 0..repeat {
        let start = Instant::now();
        for item in &items {
            let view = MessageView::build(item.raw.clone(), item.envelope.clone(), &options);
            std::hint::black_box(&view);
        }
        best_view = best_view.min(start.elapsed());

        let start = Instant::now();
        not_delivered = 0;
        for item in &items {
            let report = scanner.scan(item.raw.clone(), item.envelope.clone());
            if report.verdict.action != mailmoat_core::Action::Deliver {
                not_delivered += 1;
            }
            std::hint::black_box(&report);
        }
        best_full = best_full.min(start.elapsed());
        first_full.get_or_insert(start.elapsed());

        if let Some(c) = &classifier {
            let weights = c.weights();
            let start = Instant::now();
            for view in &views {
                let f = mailmoat_classifier::features_with_repeats(view, weights.bits());
                std::hint::black_box(weights.predict_repeated(&f));
            }
            best_classify = best_classify.min(start.elapsed());
        }
    }
    let n = items.len() as f64;
    let mb = bytes as f64 / 1e6;
    println!(
        "messages: {} ({:.1} MB), passes: {repeat}, best pass reported, one thread",
        items.len(),
        mb
    );
    let mut lines = vec![
        ("parse + view", best_view),
        ("parse + view + detectors + verdict", best_full),
    ];
    if classifier.is_some() {
        lines.push(("classifier from a parsed view", best_classify));
    }
    for (what, d) in lines {
        let s = d.as_secs_f64();
        println!(
            "{what:<36} {:>9.0} messages/s {:>7.1} MB/s  ({:.1} µs/message)",
            n / s,
            mb / s,
            s / n * 1e6
        );
    }
    if let Some(first) = first_full {
        // Rule regexes compile on first use, so the first pass also pays for those compiles.
        println!(
            "first full pass (includes lazy regex compiles): {:.0} messages/s",
            n / first.as_secs_f64()
        );
    }
    println!(
        "not delivered untouched: {not_delivered} of {}",
        items.len()
    );
    if let Some(peak) = peak_rss_kib() {
        println!(
            "peak memory (VmHWM, corpus held in memory): {:.1} MiB",
            peak as f64 / 1024.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Peak resident set size from /proc (Linux); None elsewhere.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

//! `mailmoat sa-rules check|hits`: what loads from SpamAssassin rule files, and which rules hit
//! each message (the form the fidelity script compares with `spamassassin -t`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mailmoat_mime::{MessageView, ViewOptions};
use mailmoat_pipeline::sources;
use mailmoat_sarules::{Engine, SaRules};

fn engine(builtin: bool) -> Engine {
    if builtin {
        Engine::Builtin
    } else {
        Engine::default()
    }
}

/// Loads the rules (the system's stock rules when no path is given) and prints what loaded,
/// what does not run and why, and `N of M definitions supported`. Exit 2 on malformed lines.
pub fn check(
    paths: &[PathBuf],
    score_set: usize,
    verbose: bool,
    list: bool,
    builtin_engine: bool,
) -> anyhow::Result<ExitCode> {
    let rules = SaRules::load_with(paths, score_set, engine(builtin_engine))?;
    if list {
        for (name, score, _) in rules.reported_rules() {
            println!("{name} {score}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for file in rules.files() {
        if verbose {
            println!("read {}", file.display());
        }
    }
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in rules.unsupported() {
        let key = match u.reason.split_once(" is not implemented") {
            Some((eval, _)) => format!("{eval} is not implemented"),
            None => u.reason.clone(),
        };
        reasons.entry(key).or_default().push(u.name.clone());
    }
    if !reasons.is_empty() {
        println!("not supported, by reason:");
        for (reason, names) in &reasons {
            let shown: Vec<&str> = names
                .iter()
                .take(if verbose { usize::MAX } else { 6 })
                .map(String::as_str)
                .collect();
            let more = names.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            println!("  {:>4}  {reason}: {}{more}", names.len(), shown.join(" "));
        }
    }
    for p in rules.problems() {
        eprintln!("{p}");
    }
    println!(
        "{} of {} definitions supported ({} patterns on PCRE2), {} files, score set {}",
        rules.supported(),
        rules.definitions(),
        rules.pcre_patterns(),
        rules.files().len(),
        rules.score_set(),
    );
    if rules.not_run() > 0 {
        println!(
            "{} of them never run: scored 0 or `__`, and no reported rule reads them",
            rules.not_run()
        );
    }
    let outside = rules.outside_hyperscan();
    println!(
        "patterns matched by {}{}",
        rules.engine(),
        if outside > 0 {
            format!(" ({outside} it refused stay on the built-in engine or PCRE2)")
        } else {
            String::new()
        }
    );
    if rules.problems().is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} line(s) could not be read", rules.problems().len());
        Ok(ExitCode::from(2))
    }
}

/// One line per message: label, the summed score of the hits, and the rules that hit.
pub fn hits(
    paths: &[String],
    rules: &[PathBuf],
    score_set: usize,
    builtin_engine: bool,
) -> anyhow::Result<ExitCode> {
    let rules = SaRules::load_with(rules, score_set, engine(builtin_engine))?;
    let options = ViewOptions::default();
    let (inputs, errors) = sources::expand(paths);
    for (path, e) in &errors {
        eprintln!("{path}: {e}");
    }
    for input in &inputs {
        for item in sources::read(input)? {
            // As SpamAssassin reads a file: an mbox `From ` line is a separator, not the SMTP
            // envelope (EnvelopeFrom is then the Return-Path, as SpamAssassin finds it).
            let view = MessageView::build(item.raw, Default::default(), &options);
            let hits = rules.check(&view);
            let score: f64 = hits.iter().map(|h| h.score).sum();
            let mut names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
            names.sort_unstable();
            println!("{}\t{score:.3}\t{}", item.label, names.join(","));
        }
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

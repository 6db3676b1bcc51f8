//! `mailmoat rules check|test|why`: what an administrator runs before enabling a rule file.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mailmoat_core::Action;
use mailmoat_pipeline::{sources, Config, Scanner, DEFAULT_RULE_PACK};
use mailmoat_rules::{RuleSet, RuleSource};

use crate::load_config;

/// Loads every file (after the built-in pack, unless it is one of them) and reports all problems.
pub fn check(files: &[PathBuf], config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let table = Scanner::new(&Config {
        rules: mailmoat_pipeline::RulesConfig {
            default_pack: false,
            files: Vec::new(),
        },
        ..config.clone()
    })?
    .symbols()
    .clone();
    let mut sources = Vec::new();
    if config.rules.default_pack && !files.iter().any(|f| is_default_pack(f)) {
        sources.push(RuleSource::Text {
            origin: "rules/default.toml (built in)".into(),
            text: DEFAULT_RULE_PACK.into(),
        });
    }
    sources.extend(files.iter().cloned().map(RuleSource::File));
    match RuleSet::build(&sources, &table) {
        Ok(set) => {
            let errors = set.compile_all();
            for e in &errors {
                eprintln!("{e}");
            }
            let (rules, patterns, entries, rates) = set.counts();
            if errors.is_empty() {
                println!("ok: {rules} rules ({patterns} distinct patterns), {entries} list entries, {rates} rate limits");
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(2))
            }
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s)", errors.0.len());
            Ok(ExitCode::from(2))
        }
    }
}

fn is_default_pack(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t == DEFAULT_RULE_PACK)
}

/// The configuration without, and with, the candidate file.
fn before_and_after(config: &Config, file: &Path) -> (Config, Config) {
    let mut before = config.clone();
    let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    before.rules.files.retain(|f| {
        std::fs::canonicalize(config.base_dir.join(f))
            .ok()
            .as_deref()
            != Some(absolute.as_path())
    });
    if is_default_pack(file) {
        // Testing the default pack itself: compare with no pack at all.
        before.rules.default_pack = false;
    }
    let mut after = before.clone();
    after.rules.files.push(absolute);
    (before, after)
}

#[derive(Default)]
struct RuleStats {
    ham: usize,
    spam: usize,
    ham_examples: Vec<String>,
}

/// Backtest: per-rule hits on ham and spam, and how verdicts change with the file enabled.
pub fn test(
    file: &Path,
    ham: &[String],
    spam: &[String],
    config: Option<&Path>,
    show: usize,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let (before_cfg, after_cfg) = before_and_after(&config, file);
    let before = Scanner::new(&before_cfg)?;
    let after = Scanner::new(&after_cfg)?;
    let candidate: Vec<String> = {
        let known: HashSet<&str> = before.symbols().iter().map(|d| d.name.as_ref()).collect();
        after
            .symbols()
            .iter()
            .filter(|d| !known.contains(d.name.as_ref()))
            .map(|d| d.name.to_string())
            .collect()
    };
    let candidate_set: HashSet<&str> = candidate.iter().map(String::as_str).collect();
    let mut stats: BTreeMap<&str, RuleStats> = candidate
        .iter()
        .map(|n| (n.as_str(), RuleStats::default()))
        .collect();
    // (class, before action, after action) -> count
    let mut changes: BTreeMap<(&str, Action, Action), usize> = BTreeMap::new();
    let mut newly_held_ham = Vec::new();
    let mut totals = [0usize; 2];
    for (class, paths) in [("ham", ham), ("spam", spam)] {
        let (inputs, errors) = sources::expand(paths);
        if let Some((p, e)) = errors.first() {
            anyhow::bail!("{p}: {e}");
        }
        for input in &inputs {
            for item in sources::read(input)? {
                totals[(class == "spam") as usize] += 1;
                let b = before.scan(item.raw.clone(), item.envelope.clone());
                let a = after.scan(item.raw, item.envelope);
                let fired: HashSet<&str> = a
                    .findings
                    .iter()
                    .map(|e| e.symbol.as_ref())
                    .filter(|s| candidate_set.contains(s))
                    .collect();
                for name in fired {
                    if let Some(s) = stats.get_mut(name) {
                        if class == "ham" {
                            s.ham += 1;
                            if s.ham_examples.len() < show {
                                s.ham_examples.push(item.label.clone());
                            }
                        } else {
                            s.spam += 1;
                        }
                    }
                }
                *changes
                    .entry((class, b.verdict.action, a.verdict.action))
                    .or_default() += 1;
                if class == "ham"
                    && b.verdict.action == Action::Deliver
                    && a.verdict.action != Action::Deliver
                {
                    newly_held_ham.push(format!(
                        "{} ({} -> {})",
                        item.label, b.verdict.action, a.verdict.action
                    ));
                }
            }
        }
    }
    println!(
        "backtest of {} on {} ham and {} spam messages",
        file.display(),
        totals[0],
        totals[1]
    );
    println!();
    println!(
        "{:<34} {:>14} {:>14} {:>10}",
        "rule", "ham", "spam", "precision"
    );
    let pct = |n: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            n as f64 * 100.0 / of as f64
        }
    };
    for name in &candidate {
        let s = &stats[name.as_str()];
        let precision = if s.ham + s.spam == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", s.spam as f64 * 100.0 / (s.ham + s.spam) as f64)
        };
        let mark = if s.ham > 0 { "  ! hits ham" } else { "" };
        println!(
            "{:<34} {:>14} {:>14} {:>10}{mark}",
            name,
            format!("{} ({:.1}%)", s.ham, pct(s.ham, totals[0])),
            format!("{} ({:.1}%)", s.spam, pct(s.spam, totals[1])),
            precision
        );
        for ex in &s.ham_examples {
            println!("    ham: {ex}");
        }
    }
    println!();
    println!("verdicts with the file enabled (before -> after):");
    for class in ["ham", "spam"] {
        let mut line = Vec::new();
        for ((c, b, a), n) in &changes {
            if *c == class && b != a {
                line.push(format!("{b} -> {a}: {n}"));
            }
        }
        let unchanged: usize = changes
            .iter()
            .filter(|((c, b, a), _)| *c == class && b == a)
            .map(|(_, n)| n)
            .sum();
        println!(
            "  {class}: {} unchanged; {}",
            unchanged,
            if line.is_empty() {
                "no changes".to_string()
            } else {
                line.join(", ")
            }
        );
    }
    if !newly_held_ham.is_empty() {
        println!(
            "ham that would no longer be delivered untouched ({}):",
            newly_held_ham.len()
        );
        for h in newly_held_ham.iter().take(show.max(1) * 4) {
            println!("    {h}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Which rules, lists and rate limits fired on each message, and on what text.
pub fn why(paths: &[String], config: Option<&Path>, extra: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut config = load_config(config)?;
    for f in extra {
        let (_, after) = before_and_after(&config, f);
        config = after;
    }
    let scanner = Scanner::new(&config)?;
    let rule_symbols: HashSet<&str> = scanner
        .symbols()
        .iter()
        .filter(|d| {
            matches!(d.group.as_ref(), "lists" | "rate")
                || scanner.rules().rules().any(|r| r.name == d.name)
        })
        .map(|d| d.name.as_ref())
        .collect();
    let (inputs, errors) = sources::expand(paths);
    for (p, e) in &errors {
        eprintln!("mailmoat: {p}: {e}");
    }
    for input in &inputs {
        for item in sources::read(input)? {
            let report = scanner.scan(item.raw, item.envelope);
            let v = &report.verdict;
            println!(
                "{}: {} ({} risk, score {:.2})",
                item.label, v.action, v.risk, v.score
            );
            let mut any = false;
            for reason in &v.reasons {
                if !rule_symbols.contains(reason.symbol.as_str()) {
                    continue;
                }
                any = true;
                let info = scanner.rules().rules().find(|r| r.name == reason.symbol);
                let origin = info
                    .map(|i| format!(" [{}:{}]", i.file, i.line))
                    .unwrap_or_default();
                let forced = reason
                    .forced
                    .map(|a| format!(", forces {a}"))
                    .unwrap_or_default();
                println!("  {} ({:+.2}{forced}){origin}", reason.symbol, reason.score);
                for hit in &reason.hits {
                    println!("      {}", hit.details);
                }
            }
            if !any {
                println!("  no rule, list or rate limit fired");
            }
        }
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

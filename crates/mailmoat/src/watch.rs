//! `mailmoat watch DIR`: scans every message file that appears in a folder (a drop folder,
//! a Maildir's `new`), one verdict line each, until stopped. Rules, lists and configuration
//! reload on SIGHUP; a reload that fails keeps the rules in force and says why.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mailmoat_pipeline::{reload_on_sighup, sources, LiveScanner};

pub fn run(
    dir: &Path,
    config: Option<PathBuf>,
    json: bool,
    interval: Duration,
) -> anyhow::Result<ExitCode> {
    let live = Arc::new(LiveScanner::start(crate::scan_config_loader(config))?);
    reload_on_sighup(live.clone(), |outcome| match outcome {
        Ok(r) => tracing::info!("reloaded ({r})"),
        Err(e) => tracing::error!("reload failed, keeping the rules in force: {e}"),
    })?;
    tracing::info!(
        folder = %dir.display(),
        "watching (SIGHUP reloads rules and configuration)"
    );
    let mut seen: HashSet<PathBuf> = HashSet::new();
    loop {
        let (inputs, errors) = sources::expand(&[dir.display().to_string()]);
        if let Some((p, e)) = errors.first() {
            anyhow::bail!("{p}: {e}");
        }
        for input in inputs {
            let sources::Input::File(path) = &input else {
                continue;
            };
            if seen.contains(path) {
                continue;
            }
            seen.insert(path.clone());
            let items = match sources::read(&input) {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unreadable, skipped");
                    continue;
                }
            };
            let scanner = live.current();
            let mut out = std::io::stdout().lock();
            for item in items {
                let report = scanner.scan(item.raw, item.envelope);
                if json {
                    writeln!(out, "{}", report.to_json(&item.label))?;
                } else {
                    let top: Vec<String> = report
                        .verdict
                        .reasons
                        .iter()
                        .filter(|r| r.score != 0.0 || r.forced.is_some())
                        .take(5)
                        .map(|r| r.symbol.clone())
                        .collect();
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{:.2}\t{}",
                        item.label,
                        report.verdict.action,
                        report.verdict.risk,
                        report.verdict.score,
                        top.join(" ")
                    )?;
                }
            }
            out.flush()?;
        }
        std::thread::sleep(interval);
    }
}

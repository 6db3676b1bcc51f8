//! `mailmoat config push` and `mailmoat config files`: the site's rule and configuration files,
//! shared through PostgreSQL with every node that follows them (`[shared] follow_files`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use mailmoat_shared::SharedFiles;

fn site(config: Option<&Path>) -> anyhow::Result<(SharedFiles, PathBuf)> {
    let settings = crate::load_settings(config)?;
    let link = mailmoat_shared::open_postgres(&settings.serve.shared, settings.base_dir())?
        .context("[shared] postgres is not set: this node has no site to share files with")?;
    let node = mailmoat_gateway::node_name(&settings.serve);
    Ok((
        SharedFiles::new(link, &node),
        settings.base_dir().to_path_buf(),
    ))
}

/// Pushes files under the configuration's folder to the site. The configuration is loaded
/// first, as `config check` does, so files that do not load here are never pushed.
pub fn push(config: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    crate::load_scanner(config.map(Path::to_path_buf))
        .context("the configuration does not load here; nothing was pushed")?;
    let (site, folder) = site(config)?;
    let folder = folder
        .canonicalize()
        .with_context(|| format!("{}", folder.display()))?;
    let mut pushed = Vec::new();
    for file in files {
        let full = file
            .canonicalize()
            .with_context(|| format!("{}", file.display()))?;
        let relative = full.strip_prefix(&folder).map_err(|_| {
            anyhow::anyhow!(
                "{}: not under the configuration's folder {}",
                file.display(),
                folder.display()
            )
        })?;
        let path = mailmoat_shared::files::site_path(relative).map_err(anyhow::Error::msg)?;
        let content =
            std::fs::read(&full).with_context(|| format!("reading {}", full.display()))?;
        pushed.push((path, content));
    }
    let n = pushed.len();
    let changed = site.push(pushed, mailmoat_gateway::unix_now())?;
    for path in &changed {
        println!("{path}: pushed");
    }
    println!(
        "{} of {n} file(s) changed for the site; nodes with [shared] follow_files take them within seconds",
        changed.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Lists the site's files.
pub fn list(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (site, _) = site(config)?;
    for f in site.all()? {
        println!(
            "{}\t{} bytes\tfrom {}\t{}",
            f.path,
            f.content.len(),
            f.node,
            mailmoat_gateway::rfc2822_date(f.at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

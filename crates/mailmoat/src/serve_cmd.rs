//! `mailmoat serve` and `mailmoat queue`: the gateway and its delivery queue.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mailmoat_gateway::{RecipientState, Spool};

pub fn serve(config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let shown = config.clone();
    let settings = crate::load_settings(config.as_deref())?;
    let serve = settings.serve.clone();
    let exceptions = std::sync::Arc::new(mailmoat_gateway::SenderExceptions::default());
    let console = move |handle| mailmoat_console::start(handle, settings);
    let reload = crate::scan_config_loader(config);
    mailmoat_gateway::serve(serve, reload, exceptions, console, |address| {
        let from = shown
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| {
                "built-in defaults: mail for example.com, delivered to var/delivered/".to_string()
            });
        tracing::info!("mailmoat gateway listening on {address} ({from})");
    })?;
    Ok(ExitCode::SUCCESS)
}

fn open_spool(config: Option<&Path>) -> anyhow::Result<Spool> {
    let config = crate::load_settings(config)?;
    let (spool, _, _) = mailmoat_gateway::open_storage(&config.serve)?;
    Ok(spool)
}

pub fn list(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let spool = open_spool(config)?;
    let (entries, problems) = spool.entries()?;
    for e in &entries {
        let pending = e
            .recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending)
            .count();
        println!(
            "{}\tfrom=<{}>\tpending={pending}/{}\tattempts={}\tnext={}",
            e.id,
            e.mail_from,
            e.recipients.len(),
            e.attempts,
            e.next_attempt_at
        );
        for r in &e.recipients {
            println!("  <{}> {:?} {}", r.address, r.state, r.last_reply);
        }
    }
    for p in &problems {
        eprintln!("unreadable entry: {p}");
    }
    println!("{} queued", entries.len());
    Ok(ExitCode::SUCCESS)
}

pub fn retry(config: Option<&Path>, ids: &[String]) -> anyhow::Result<ExitCode> {
    let spool = open_spool(config)?;
    for id in ids {
        mailmoat_gateway::retry_now(&spool, id).map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        println!("{id}: due now");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn drop_messages(config: Option<&Path>, ids: &[String]) -> anyhow::Result<ExitCode> {
    let spool = open_spool(config)?;
    for id in ids {
        spool
            .entry(id)
            .map_err(|e| anyhow::anyhow!("{id}: not in the queue ({e})"))?;
        spool.remove(id)?;
        println!("{id}: dropped");
    }
    spool.wake()?;
    Ok(ExitCode::SUCCESS)
}

fn open_quarantine(config: Option<&Path>) -> anyhow::Result<(Spool, mailmoat_gateway::Quarantine)> {
    let config = crate::load_settings(config)?;
    let (spool, quarantine, _) = mailmoat_gateway::open_storage(&config.serve)?;
    Ok((spool, quarantine))
}

pub fn quarantine_list(
    config: Option<&Path>,
    search: &mailmoat_gateway::quarantine::Search,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (_, q) = open_quarantine(config)?;
    let found = q.search(search)?;
    for h in &found {
        if json {
            println!("{}", serde_json::to_string(h)?);
        } else {
            println!(
                "{}\t{}\tfrom=<{}>\tto={}\tscore={:.2}\trisk={}\t{}\t{}",
                h.id,
                mailmoat_gateway::rfc2822_date(h.received_at),
                h.mail_from,
                h.recipients.join(","),
                h.score,
                h.risk,
                h.symbols
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                h.subject
            );
        }
    }
    if !json {
        println!("{} shown, {} quarantined in all", found.len(), q.count()?);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn quarantine_release(config: Option<&Path>, ids: &[String]) -> anyhow::Result<ExitCode> {
    let (spool, q) = open_quarantine(config)?;
    for id in ids {
        q.release(id, &spool, mailmoat_gateway::unix_now())
            .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        println!("{id}: released for delivery");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn quarantine_delete(config: Option<&Path>, ids: &[String]) -> anyhow::Result<ExitCode> {
    let (_, q) = open_quarantine(config)?;
    for id in ids {
        q.delete(id).map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        println!("{id}: deleted");
    }
    Ok(ExitCode::SUCCESS)
}

//! Scanning for a caller that keeps the message (spamd's protocol, rspamd's HTTP protocol):
//! the gateway's scan (same slots, authentication, detectors and verdict), the per-recipient
//! exception, the message log and auto-learning; the caller answers in its own protocol.

use std::sync::Arc;
use std::time::Instant;

use mailmoat_core::Action;
use mailmoat_mime::Envelope;
use mailmoat_pipeline::{Report, ScanError};

use crate::events::Event;
use crate::inbound::GatewayRuntime;
use crate::{unix_now, Shared};

/// A scanned message and what it gets.
pub(crate) struct Scanned {
    pub report: Report,
    /// The verdict's action, or the recipient's exception's.
    pub action: Action,
}

/// Scans `raw` as the gateway would, for `recipient` when the caller names one (exceptions are
/// per recipient), and logs it under `id`.
pub(crate) async fn scan(
    shared: &Arc<Shared>,
    raw: Vec<u8>,
    envelope: Envelope,
    recipient: Option<&str>,
    id: &str,
) -> Result<Scanned, ScanError> {
    let now = envelope.received_at.unwrap_or_else(unix_now);
    let scanner = shared.scanner.current();
    let runtime = GatewayRuntime {
        slots: &shared.scan_slots,
        arrived: Instant::now(),
    };
    let report = scanner.scan_staged(raw, envelope, &runtime).await?;
    let action = action_for(shared, &report, recipient);
    log(shared, &report, recipient, action, id, now);
    shared.auto_learn(&report, now);
    tracing::info!(
        action = %action,
        score = format_args!("{:.2}", report.verdict.score),
        symbols = %report.symbol_names().join(","),
        "scanned"
    );
    Ok(Scanned { report, action })
}

/// The verdict's action for this recipient: their exception may deliver what only spam or
/// policy evidence held back, as in the gateway.
fn action_for(shared: &Shared, report: &Report, recipient: Option<&str>) -> Action {
    let Some(recipient) = recipient else {
        return report.verdict.action;
    };
    let sender = report
        .view
        .from
        .first()
        .and_then(|m| m.address.clone())
        .unwrap_or_default();
    mailmoat_core::disposition(&report.verdict, &[recipient.to_string()], |r| {
        shared.exceptions.allows(r, &sender)
    })
    .first()
    .map_or(report.verdict.action, |r| r.action)
}

/// The message log's entry: mail scanned for another MTA shows in the console beside the
/// gateway's own.
fn log(
    shared: &Shared,
    report: &Report,
    recipient: Option<&str>,
    action: Action,
    id: &str,
    now: i64,
) {
    let mut scan_report = report.scan_report(id);
    if action != report.verdict.action {
        scan_report.exception = Some(format!(
            "{} is accepted by the exception of {}",
            scan_report.from_address().unwrap_or(""),
            recipient.unwrap_or("")
        ));
    }
    let mail_from = report
        .view
        .envelope
        .mail_from
        .clone()
        .or_else(|| report.view.return_path.clone())
        .or_else(|| scan_report.from_address().map(str::to_string))
        .unwrap_or_default();
    let recipients: Vec<String> = if report.view.envelope.rcpt_to.is_empty() {
        recipient.iter().map(|r| r.to_string()).collect()
    } else {
        report.view.envelope.rcpt_to.clone()
    };
    let event = Event::from_report(id, now, &mail_from, &recipients, &scan_report);
    if let Err(e) = shared.events.record(event, scan_report, None) {
        tracing::error!(error = %e, "message log write failed");
    }
}

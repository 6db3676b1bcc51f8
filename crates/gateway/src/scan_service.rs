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
    /// The action for the recipients without an exception (the verdict's, or a quarantine
    /// where a reject was turned into one because others get the message): for a single
    /// recipient, theirs.
    pub action: Action,
    /// Each recipient's action, when the caller named recipients.
    pub recipients: Vec<mailmoat_core::RecipientAction>,
}

impl Scanned {
    /// The recipients whose exception delivers the message despite the verdict.
    pub fn excepted(&self) -> impl Iterator<Item = &str> {
        self.recipients
            .iter()
            .filter(|r| r.by_exception)
            .map(|r| r.recipient.as_str())
    }
}

/// Scans `raw` as the gateway would, for the recipients the caller names (exceptions are per
/// recipient), and logs it under `id`.
pub(crate) async fn scan(
    shared: &Arc<Shared>,
    raw: Vec<u8>,
    envelope: Envelope,
    recipients: &[String],
    id: &str,
) -> Result<Scanned, ScanError> {
    let now = envelope.received_at.unwrap_or_else(unix_now);
    let scanner = shared.scanner.current();
    let runtime = GatewayRuntime {
        slots: &shared.scan_slots,
        arrived: Instant::now(),
    };
    let report = scanner.scan_staged(raw, envelope, &runtime).await?;
    let per_recipient = per_recipient(shared, &report, recipients);
    let action = per_recipient
        .iter()
        .find(|r| !r.by_exception)
        .or(per_recipient.first())
        .map_or(report.verdict.action, |r| r.action);
    let excepted: Vec<&str> = per_recipient
        .iter()
        .filter(|r| r.by_exception)
        .map(|r| r.recipient.as_str())
        .collect();
    log(shared, &report, &excepted, id, now);
    shared.auto_learn(&report, now);
    tracing::info!(
        action = %action,
        score = format_args!("{:.2}", report.verdict.score),
        symbols = %report.symbol_names().join(","),
        "scanned"
    );
    Ok(Scanned {
        report,
        action,
        recipients: per_recipient,
    })
}

/// Each recipient's action: their exception may deliver what only spam or policy evidence
/// held back, as in the gateway.
fn per_recipient(
    shared: &Shared,
    report: &Report,
    recipients: &[String],
) -> Vec<mailmoat_core::RecipientAction> {
    let sender = report
        .view
        .from
        .first()
        .and_then(|m| m.address.clone())
        .unwrap_or_default();
    mailmoat_core::disposition(&report.verdict, recipients, |r| {
        shared.exceptions.allows(r, &sender)
    })
}

/// The message log's entry: mail scanned for another MTA shows in the console beside the
/// gateway's own.
fn log(shared: &Shared, report: &Report, excepted: &[&str], id: &str, now: i64) {
    let mut scan_report = report.scan_report(id);
    if !excepted.is_empty() {
        scan_report.exception = Some(format!(
            "{} is accepted by the exception of {}",
            scan_report.from_address().unwrap_or(""),
            excepted.join(", ")
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
    let recipients = report.view.envelope.rcpt_to.clone();
    let event = Event::from_report(id, now, &mail_from, &recipients, &scan_report);
    if let Err(e) = shared.events.record(event, scan_report, None) {
        tracing::error!(error = %e, "message log write failed");
    }
}

//! Delivery: every due spool entry goes to the route of each recipient's domain, with a status
//! per recipient. Temporary failures are retried on the configured schedule; permanent ones, and
//! temporary ones past the queue lifetime, are bounced to the sender with a DSN (RFC 3464).
//! Routes: `smtp://host:port` (STARTTLS when the server offers it; certificates are not
//! verified, as opportunistic TLS between MTAs usually is) and `dir:PATH` (a Maildir per
//! recipient: the demo's local sink).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_send::smtp::message::Parameters;
use mail_send::SmtpClient;
use mail_send::SmtpClientBuilder;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::spool::{new_id, QueueEntry, Recipient, RecipientState};
use crate::{headers, rfc2822_date, unix_now, Shared};

/// Concurrent deliveries.
const MAX_IN_FLIGHT: usize = 32;

/// What became of one recipient in one attempt.
#[derive(Debug, Clone)]
enum Outcome {
    Delivered(String),
    Temporary(String),
    Permanent(String),
}

/// Runs forever: wakes when a message is queued, and every second for retries.
pub async fn run(shared: Arc<Shared>) {
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let _ = tokio::time::timeout(Duration::from_secs(1), shared.delivery_due.notified()).await;
        let entries = match shared.spool.entries() {
            Ok((entries, problems)) => {
                for p in problems {
                    eprintln!("queue: unreadable entry left in place: {p}");
                }
                entries
            }
            Err(e) => {
                eprintln!("queue: cannot list the spool: {e}");
                continue;
            }
        };
        let now = unix_now();
        for entry in entries {
            if entry.next_attempt_at > now {
                continue;
            }
            if !in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(entry.id.clone())
            {
                continue;
            }
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let shared = shared.clone();
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                let id = entry.id.clone();
                attempt(&shared, entry).await;
                in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                drop(permit);
            });
        }
    }
}

/// One delivery attempt for every pending recipient of an entry.
async fn attempt(shared: &Shared, mut entry: QueueEntry) {
    let message = match shared.spool.message(&entry.id) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("delivery id={}: message file unreadable: {e}", entry.id);
            return;
        }
    };
    let cfg = &shared.config;
    let tag = entry.tag_subject.then_some(cfg.tag_subject_prefix.as_str());
    let body = headers::rewrite(&message, &entry.prepend, tag);
    // Recipients by route.
    let mut by_route: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in entry.pending() {
        by_route
            .entry(shared.route_for(&r.address))
            .or_default()
            .push(r.address.clone());
    }
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    for (route, rcpts) in by_route {
        let results = deliver(shared, &route, &entry, &rcpts, &body).await;
        outcomes.extend(rcpts.into_iter().zip(results));
    }
    for (address, outcome) in outcomes {
        if let Some(r) = entry.recipients.iter_mut().find(|r| r.address == address) {
            let (state, reply) = match outcome {
                Outcome::Delivered(s) => (RecipientState::Delivered, s),
                Outcome::Temporary(s) => (RecipientState::Pending, s),
                Outcome::Permanent(s) => (RecipientState::Failed, s),
            };
            eprintln!(
                "delivery id={} rcpt=<{address}> status={state:?} reply={reply:?}",
                entry.id
            );
            r.state = state;
            r.last_reply = reply;
        }
    }
    entry.attempts += 1;
    let now = unix_now();
    if entry.pending().next().is_some() {
        if now - entry.received_at >= cfg.max_queue_secs as i64 {
            for r in entry.recipients.iter_mut() {
                if r.state == RecipientState::Pending {
                    r.state = RecipientState::Failed;
                    r.last_reply = format!(
                        "gave up after {} attempts over {} s: {}",
                        entry.attempts, cfg.max_queue_secs, r.last_reply
                    );
                }
            }
        } else {
            let i = (entry.attempts as usize).saturating_sub(1);
            let delay = cfg
                .retry_intervals_secs
                .get(i)
                .or(cfg.retry_intervals_secs.last())
                .copied()
                .unwrap_or(300);
            entry.next_attempt_at = now + delay as i64;
        }
    }
    // Dropped from the queue meanwhile (`mailmoat queue drop`): leave it dropped.
    if shared.spool.entry(&entry.id).is_err() {
        return;
    }
    let result = if entry.pending().next().is_none() {
        let failed: Vec<&Recipient> = entry
            .recipients
            .iter()
            .filter(|r| r.state == RecipientState::Failed)
            .collect();
        if !failed.is_empty() && !entry.is_bounce && !entry.mail_from.is_empty() {
            if let Err(e) = bounce(shared, &entry, &failed, &message) {
                eprintln!("delivery id={}: could not queue the bounce: {e}", entry.id);
                // Keep the entry so the bounce is not lost; try again later.
                entry.next_attempt_at = now + 60;
                let _ = shared.spool.update(&entry);
                return;
            }
        }
        shared.spool.remove(&entry.id)
    } else {
        shared.spool.update(&entry)
    };
    if let Err(e) = result {
        eprintln!("delivery id={}: cannot update the spool: {e}", entry.id);
    }
}

async fn deliver(
    shared: &Shared,
    route: &str,
    entry: &QueueEntry,
    rcpts: &[String],
    body: &[u8],
) -> Vec<Outcome> {
    if let Some(dir) = route.strip_prefix("dir:") {
        let base = shared.base_dir.join(dir);
        let id = entry.id.clone();
        let mail_from = entry.mail_from.clone();
        let rcpts_owned = rcpts.to_vec();
        let body = body.to_vec();
        return tokio::task::spawn_blocking(move || {
            rcpts_owned
                .iter()
                .map(
                    |r| match deliver_maildir(&base, &id, &mail_from, r, &body) {
                        Ok(path) => Outcome::Delivered(format!("stored in {}", path.display())),
                        Err(e) => Outcome::Temporary(format!("cannot store: {e}")),
                    },
                )
                .collect()
        })
        .await
        .unwrap_or_else(|e| {
            vec![Outcome::Temporary(format!("store task failed: {e}")); rcpts.len()]
        });
    }
    let Some(hostport) = route.strip_prefix("smtp://") else {
        return vec![Outcome::Temporary(format!("unusable route {route:?}")); rcpts.len()];
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse::<u16>().unwrap_or(25)),
        None => (hostport.to_string(), 25),
    };
    match deliver_smtp(shared, &host, port, entry, rcpts, body).await {
        Ok(outcomes) => outcomes,
        Err(e) => vec![e; rcpts.len()],
    }
}

/// One file per recipient in `BASE/ADDRESS/new/`, written in `tmp/` and renamed (Maildir).
fn deliver_maildir(
    base: &std::path::Path,
    id: &str,
    mail_from: &str,
    rcpt: &str,
    body: &[u8],
) -> std::io::Result<PathBuf> {
    let folder = base.join(sanitize(rcpt));
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(folder.join(sub))?;
    }
    let mut bytes = format!("Return-Path: <{mail_from}>\r\nDelivered-To: {rcpt}\r\n").into_bytes();
    bytes.extend_from_slice(body);
    let name = format!("{id}.eml");
    let tmp = folder.join("tmp").join(&name);
    crate::spool::write_synced(&tmp, &bytes)?;
    let dest = folder.join("new").join(&name);
    std::fs::rename(&tmp, &dest)?;
    std::fs::File::open(folder.join("new"))?.sync_all()?;
    Ok(dest)
}

/// An address as a folder name: no separators, no leading dots.
fn sanitize(address: &str) -> String {
    let s: String = address
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "@.-_+".contains(c) {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s.trim_start_matches('.').to_string()
}

async fn deliver_smtp(
    shared: &Shared,
    host: &str,
    port: u16,
    entry: &QueueEntry,
    rcpts: &[String],
    body: &[u8],
) -> Result<Vec<Outcome>, Outcome> {
    let cfg = &shared.config;
    let builder = SmtpClientBuilder::new(host.to_string(), port)
        .map_err(|e| Outcome::Temporary(format!("bad route {host}:{port}: {e}")))?
        .implicit_tls(false)
        .say_ehlo(false)
        .helo_host(cfg.hostname.clone())
        .timeout(Duration::from_secs(120));
    let mut client = builder
        .connect_plain()
        .await
        .map_err(|e| classify(&e, "connect"))?;
    let ehlo = client
        .ehlo(&cfg.hostname)
        .await
        .map_err(|e| classify(&e, "EHLO"))?;
    if ehlo.has_capability(smtp_proto::EXT_START_TLS) {
        let connector = mail_send::smtp::tls::build_tls_connector(true)
            .map_err(|e| Outcome::Temporary(format!("TLS setup: {e}")))?;
        let mut tls = client
            .start_tls(&connector, host)
            .await
            .map_err(|e| classify(&e, "STARTTLS"))?;
        tls.ehlo(&cfg.hostname)
            .await
            .map_err(|e| classify(&e, "EHLO after STARTTLS"))?;
        transaction(&mut tls, entry, rcpts, body).await
    } else {
        transaction(&mut client, entry, rcpts, body).await
    }
}

async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    entry: &QueueEntry,
    rcpts: &[String],
    body: &[u8],
) -> Result<Vec<Outcome>, Outcome> {
    let params = Parameters::default();
    client
        .mail_from(&entry.mail_from, &params)
        .await
        .map_err(|e| classify(&e, "MAIL FROM"))?;
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(rcpts.len());
    for r in rcpts {
        outcomes.push(
            client
                .rcpt_to(r, &params)
                .await
                .err()
                .map(|e| classify(&e, "RCPT TO")),
        );
    }
    if outcomes.iter().all(Option::is_some) {
        let _ = client.rset().await;
        return Ok(outcomes.into_iter().flatten().collect());
    }
    let data = client.data(body).await;
    let _ = client.cmd(b"QUIT\r\n").await;
    let accepted = match data {
        Ok(()) => Outcome::Delivered("250 accepted".to_string()),
        Err(e) => classify(&e, "DATA"),
    };
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| accepted.clone()))
        .collect())
}

/// A client error as a recipient outcome: 5xx replies are permanent, everything else
/// (4xx, timeouts, refused connections) is retried.
fn classify(e: &mail_send::Error, stage: &str) -> Outcome {
    match e {
        mail_send::Error::UnexpectedReply(r) if r.code() >= 500 => {
            Outcome::Permanent(format!("{stage}: {} {}", r.code(), r.message()))
        }
        mail_send::Error::UnexpectedReply(r) => {
            Outcome::Temporary(format!("{stage}: {} {}", r.code(), r.message()))
        }
        other => Outcome::Temporary(format!("{stage}: {other}")),
    }
}

/// Queues a delivery status notification to the sender for the failed recipients.
fn bounce(
    shared: &Shared,
    entry: &QueueEntry,
    failed: &[&Recipient],
    original: &[u8],
) -> std::io::Result<()> {
    let cfg = &shared.config;
    let id = new_id();
    let now = unix_now();
    let boundary = format!("mailmoat-dsn-{id}");
    let header_end = original
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .unwrap_or(original.len().min(64 * 1024));
    let mut text = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\nTo: <{to}>\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: {date}\r\nMessage-ID: <{id}@{host}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis is the mail gateway at {host}. Your message (queue id {orig}) could not be delivered to:\r\n\r\n",
        host = cfg.hostname,
        to = entry.mail_from,
        date = rfc2822_date(now),
        orig = entry.id,
    );
    for r in failed {
        text.push_str(&format!("  <{}>: {}\r\n", r.address, r.last_reply));
    }
    text.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {host}\r\nArrival-Date: {arrival}\r\n",
        host = cfg.hostname,
        arrival = rfc2822_date(entry.received_at)
    ));
    for r in failed {
        let status = if r.last_reply.starts_with("gave up") {
            "4.4.7"
        } else {
            "5.0.0"
        };
        text.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {}\r\n",
            r.address,
            r.last_reply.replace(['\r', '\n'], " ")
        ));
    }
    text.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&original[..header_end]);
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let dsn = QueueEntry {
        id,
        received_at: now,
        mail_from: String::new(),
        client_ip: None,
        helo: None,
        recipients: vec![Recipient {
            address: entry.mail_from.clone(),
            state: RecipientState::Pending,
            last_reply: String::new(),
        }],
        prepend: String::new(),
        tag_subject: false,
        attempts: 0,
        next_attempt_at: now,
        is_bounce: true,
    };
    shared.spool.store(&dsn, &bytes)
}

//! Delivery: every due spool entry goes to the route of each recipient's domain, with a status
//! per recipient. Temporary failures are retried on the configured schedule; permanent ones, and
//! temporary ones past the queue lifetime, are bounced to the sender with a DSN (RFC 3464).
//! Routes: `smtp://host:port` (STARTTLS when the server offers it; certificates are not
//! verified, as opportunistic TLS between MTAs usually is) and `dir:PATH` (a Maildir per
//! recipient: the demo's local sink).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use mail_send::smtp::message::Parameters;
use mail_send::SmtpClient;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::address::{folder_name, smtp_path};
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

/// How often the spool is read again without being woken (see `Spool::wake`).
const RESCAN: Duration = Duration::from_secs(10);

/// Runs forever. The queue lives in memory (loaded from the spool at start, fed by the inbound
/// side as messages are accepted); the spool folder is re-read every few seconds so that
/// changes made by `mailmoat queue` take effect.
pub async fn run(shared: Arc<Shared>, mut incoming: UnboundedReceiver<QueueEntry>) {
    let mut queue = Queue::default();
    let (done_tx, mut done_rx) = unbounded_channel::<(String, Option<QueueEntry>)>();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut last_scan = std::time::Instant::now() - RESCAN;
    let mut wake_mark = shared.spool.wake_mark();
    loop {
        let mark = shared.spool.wake_mark();
        if last_scan.elapsed() >= RESCAN || mark != wake_mark {
            wake_mark = mark;
            last_scan = std::time::Instant::now();
            match shared.spool.entries() {
                Ok((entries, problems)) => {
                    for p in problems {
                        tracing::warn!(problem = %p, "queue: unreadable entry left in place");
                    }
                    queue.replace_from_disk(entries);
                }
                Err(e) => tracing::error!(error = %e, "queue: cannot list the spool"),
            }
        }
        let now = unix_now();
        while let Some(entry) = queue.next_due(now) {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                queue.requeue(entry);
                break;
            };
            let (shared, done_tx) = (shared.clone(), done_tx.clone());
            tokio::spawn(async move {
                let id = entry.id.clone();
                let after = attempt(&shared, entry).await;
                let _ = done_tx.send((id, after));
                drop(permit);
            });
        }
        tokio::select! {
            Some(entry) = incoming.recv() => queue.upsert(entry),
            Some((id, after)) = done_rx.recv() => queue.finished(&id, after),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// The delivery queue in memory: entries by id, those waiting ordered by due time, and those
/// being delivered (never scheduled twice).
#[derive(Default)]
struct Queue {
    entries: HashMap<String, QueueEntry>,
    schedule: BTreeSet<(i64, String)>,
    in_flight: HashSet<String>,
}

impl Queue {
    fn upsert(&mut self, entry: QueueEntry) {
        if let Some(old) = self.entries.get(&entry.id) {
            self.schedule.remove(&(old.next_attempt_at, old.id.clone()));
        }
        if !self.in_flight.contains(&entry.id) {
            self.schedule
                .insert((entry.next_attempt_at, entry.id.clone()));
        }
        self.entries.insert(entry.id.clone(), entry);
    }

    /// The first entry due by `now`, marked in flight.
    fn next_due(&mut self, now: i64) -> Option<QueueEntry> {
        let (at, id) = self.schedule.first()?.clone();
        if at > now {
            return None;
        }
        self.schedule.remove(&(at, id.clone()));
        self.in_flight.insert(id.clone());
        self.entries.get(&id).cloned()
    }

    /// Puts back an entry taken by `next_due` but not started.
    fn requeue(&mut self, entry: QueueEntry) {
        self.in_flight.remove(&entry.id);
        self.upsert(entry);
    }

    fn finished(&mut self, id: &str, after: Option<QueueEntry>) {
        self.in_flight.remove(id);
        match after {
            Some(e) => self.upsert(e),
            None => {
                if let Some(old) = self.entries.remove(id) {
                    self.schedule.remove(&(old.next_attempt_at, old.id));
                }
            }
        }
    }

    /// Takes the spool's view (changes by `mailmoat queue`), except for deliveries under way.
    fn replace_from_disk(&mut self, on_disk: Vec<QueueEntry>) {
        let ids: HashSet<String> = on_disk.iter().map(|e| e.id.clone()).collect();
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|id| !ids.contains(*id) && !self.in_flight.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.finished(&id, None);
        }
        for e in on_disk {
            if !self.in_flight.contains(&e.id) {
                self.upsert(e);
            }
        }
    }
}

/// One delivery attempt for every pending recipient of an entry; the entry as it stands
/// afterwards, or None when it left the queue.
async fn attempt(shared: &Shared, mut entry: QueueEntry) -> Option<QueueEntry> {
    let message = match shared.spool.message(&entry.id) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(id = %entry.id, error = %e, "delivery: message unreadable");
            // Dropped meanwhile, or damaged: a rescan decides.
            return None;
        }
    };
    let cfg = &shared.config;
    let tag = entry.tag_subject.then_some(cfg.tag_subject_prefix.as_str());
    let body = headers::rewrite(&message, &entry.prepend, tag, &cfg.hostname);
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
            tracing::info!(id = %entry.id, rcpt = %address, status = ?state, reply = %reply, "delivery");
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
    if !shared.spool.contains(&entry.id) {
        return None;
    }
    let result = if entry.pending().next().is_none() {
        let failed: Vec<&Recipient> = entry
            .recipients
            .iter()
            .filter(|r| r.state == RecipientState::Failed)
            .collect();
        if !failed.is_empty() && !entry.is_bounce && !entry.mail_from.is_empty() {
            match bounce(shared, &entry, &failed, &message) {
                Ok(dsn) => {
                    let _ = shared.queued.send(dsn);
                }
                Err(e) => {
                    tracing::error!(id = %entry.id, error = %e, "delivery: could not queue the bounce");
                    // Keep the entry so the bounce is not lost; try again later.
                    entry.next_attempt_at = now + 60;
                    let _ = shared.spool.update(&entry);
                    return Some(entry);
                }
            }
        }
        shared.spool.remove_delivered(&entry.id).map(|()| None)
    } else {
        shared.spool.update(&entry).map(|()| Some(entry.clone()))
    };
    match result {
        Ok(after) => after,
        Err(e) => {
            tracing::error!(id = %entry.id, error = %e, "delivery: cannot update the spool");
            Some(entry)
        }
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
    let folder = base.join(folder_name(rcpt));
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(folder.join(sub))?;
    }
    let written = |a: &str| {
        smtp_path(a).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let mut bytes = format!(
        "Return-Path: <{}>\r\nDelivered-To: {}\r\n",
        written(mail_from)?,
        written(rcpt)?
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    let name = format!("{id}.eml");
    let tmp = folder.join("tmp").join(&name);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    let dest = folder.join("new").join(&name);
    std::fs::rename(&tmp, &dest)?;
    std::fs::File::open(folder.join("new"))?.sync_all()?;
    Ok(dest)
}

/// An open SMTP connection to a downstream server, kept between messages.
enum Conn {
    Plain(SmtpClient<tokio::net::TcpStream>),
    // Boxed: a TLS session is large, and connections move in and out of the pool.
    Tls(Box<SmtpClient<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>),
}

impl Conn {
    async fn quit(mut self) {
        let _ = match &mut self {
            Conn::Plain(c) => c.cmd(b"QUIT\r\n").await,
            Conn::Tls(c) => c.cmd(b"QUIT\r\n").await,
        };
    }
}

/// Idle connections per downstream server: reusing one spares a TCP (and TLS) handshake and
/// an EHLO per message, which at hundreds of messages a second is most of delivery's cost.
#[derive(Default)]
pub(crate) struct ConnectionPool {
    idle: std::sync::Mutex<HashMap<String, Vec<(std::time::Instant, Conn)>>>,
}

/// Idle connections kept per server, and for how long.
const POOL_PER_SERVER: usize = 16;
const POOL_IDLE: Duration = Duration::from_secs(30);

impl ConnectionPool {
    fn take(&self, key: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some((since, conn)) = list.pop() {
            if since.elapsed() < POOL_IDLE {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps a connection for the next message; false when the pool is full.
    fn put(&self, key: &str, conn: Conn) -> Result<(), Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key.to_string()).or_default();
        list.retain(|(since, _)| since.elapsed() < POOL_IDLE);
        if list.len() >= POOL_PER_SERVER {
            return Err(conn);
        }
        list.push((std::time::Instant::now(), conn));
        Ok(())
    }
}

async fn deliver_smtp(
    shared: &Shared,
    host: &str,
    port: u16,
    entry: &QueueEntry,
    rcpts: &[String],
    body: &[u8],
) -> Result<Vec<Outcome>, Outcome> {
    let key = format!("{host}:{port}");
    // A pooled connection first. It was left clean (after DATA or RSET) moments ago; if the
    // server has closed it meanwhile, the transaction fails at once and runs again on a new
    // connection.
    let (mut conn, pooled) = match shared.pool.take(&key) {
        Some(c) => (c, true),
        None => (connect(shared, host, port).await?, false),
    };
    let mut result = run_transaction(&mut conn, entry, rcpts, body).await;
    if result.is_err() && pooled {
        conn = connect(shared, host, port).await?;
        result = run_transaction(&mut conn, entry, rcpts, body).await;
    }
    let (outcomes, reusable) = result?;
    if reusable {
        if let Err(conn) = shared.pool.put(&key, conn) {
            conn.quit().await;
        }
    } else {
        conn.quit().await;
    }
    Ok(outcomes)
}

async fn run_transaction(
    conn: &mut Conn,
    entry: &QueueEntry,
    rcpts: &[String],
    body: &[u8],
) -> Result<(Vec<Outcome>, bool), Outcome> {
    match conn {
        Conn::Plain(c) => transaction(c, entry, rcpts, body).await,
        Conn::Tls(c) => transaction(c.as_mut(), entry, rcpts, body).await,
    }
}

async fn connect(shared: &Shared, host: &str, port: u16) -> Result<Conn, Outcome> {
    let cfg = &shared.config;
    let timeout = Duration::from_secs(120);
    let address = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Outcome::Temporary(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| Outcome::Temporary(format!("{host} has no address")))?;
    let mut client = SmtpClient::connect(address, timeout)
        .await
        .map_err(|e| classify(&e, "connect"))?;
    // Commands and the message end go out as separate small writes before each reply is read:
    // with Nagle's algorithm on, each would wait for the server's delayed ACK (40 ms).
    let _ = client.stream.set_nodelay(true);
    let greeting = client.read().await.map_err(|e| classify(&e, "greeting"))?;
    if greeting.code() / 100 != 2 {
        return Err(reply_outcome(
            greeting.code(),
            greeting.message(),
            "greeting",
        ));
    }
    let ehlo = client
        .ehlo(&cfg.hostname)
        .await
        .map_err(|e| classify(&e, "EHLO"))?;
    if ehlo.has_capability(smtp_proto::EXT_START_TLS) {
        // Built once: making a connector reads the system's certificate store.
        static CONNECTOR: std::sync::OnceLock<Result<tokio_rustls::TlsConnector, String>> =
            std::sync::OnceLock::new();
        let connector = CONNECTOR
            .get_or_init(|| mail_send::smtp::tls::build_tls_connector(true))
            .as_ref()
            .map_err(|e| Outcome::Temporary(format!("TLS setup: {e}")))?;
        let mut tls = client
            .start_tls(connector, host)
            .await
            .map_err(|e| classify(&e, "STARTTLS"))?;
        tls.ehlo(&cfg.hostname)
            .await
            .map_err(|e| classify(&e, "EHLO after STARTTLS"))?;
        Ok(Conn::Tls(Box::new(tls)))
    } else {
        Ok(Conn::Plain(client))
    }
}

/// One message over an open connection: per-recipient outcomes, and whether the connection
/// is in a clean state for the next message.
async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    entry: &QueueEntry,
    rcpts: &[String],
    body: &[u8],
) -> Result<(Vec<Outcome>, bool), Outcome> {
    let params = Parameters::default();
    let sender = smtp_path(&entry.mail_from).map_err(|e| Outcome::Permanent(e.to_string()))?;
    client
        .mail_from(&sender, &params)
        .await
        .map_err(|e| classify(&e, "MAIL FROM"))?;
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(rcpts.len());
    for r in rcpts {
        let outcome = match smtp_path(r) {
            Ok(path) => client
                .rcpt_to(&path, &params)
                .await
                .err()
                .map(|e| classify(&e, "RCPT TO")),
            Err(e) => Some(Outcome::Permanent(e.to_string())),
        };
        outcomes.push(outcome);
    }
    if outcomes.iter().all(Option::is_some) {
        let clean = client.rset().await.is_ok();
        return Ok((outcomes.into_iter().flatten().collect(), clean));
    }
    let data = client.data(body).await;
    // After a refused DATA the session is still usable; after an I/O error or timeout it is not.
    let clean = matches!(&data, Ok(()) | Err(mail_send::Error::UnexpectedReply(_)));
    let accepted = match data {
        Ok(()) => Outcome::Delivered("250 accepted".to_string()),
        Err(e) => classify(&e, "DATA"),
    };
    Ok((
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| accepted.clone()))
            .collect(),
        clean,
    ))
}

/// A client error as a recipient outcome: 5xx replies are permanent, everything else
/// (4xx, timeouts, refused connections) is retried.
fn classify(e: &mail_send::Error, stage: &str) -> Outcome {
    match e {
        mail_send::Error::UnexpectedReply(r) => reply_outcome(r.code(), r.message(), stage),
        other => Outcome::Temporary(format!("{stage}: {other}")),
    }
}

fn reply_outcome(code: u16, message: &str, stage: &str) -> Outcome {
    if code >= 500 {
        Outcome::Permanent(format!("{stage}: {code} {message}"))
    } else {
        Outcome::Temporary(format!("{stage}: {code} {message}"))
    }
}

/// Queues a delivery status notification to the sender for the failed recipients.
fn bounce(
    shared: &Shared,
    entry: &QueueEntry,
    failed: &[&Recipient],
    original: &[u8],
) -> std::io::Result<QueueEntry> {
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
        text.push_str(&format!(
            "  <{}>: {}\r\n",
            r.address,
            r.last_reply.replace(['\r', '\n'], " ")
        ));
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
    shared.spool.store(&dsn, &bytes)?;
    Ok(dsn)
}

//! Inbound ESMTP: one task per connection. Checks at the right phase (client IP lists and rate
//! limits at connect, sender ones at MAIL, recipient domains, lists and rate limits at RCPT,
//! authentication and content after DATA); a confident reject is a 5xx at the end of DATA (no backscatter);
//! a message is acknowledged with 250 only once it is fsynced in the spool or the quarantine.
//! What a peer is told stays generic; causes go to the log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailmoat_core::Action;
use mailmoat_mime::Envelope;
use mailmoat_pipeline::{Report, ScanError, ScanReport, ScanRuntime};
use mailmoat_rules::Phase;
use smtp_proto::request::receiver::RequestReceiver;
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::data::{DataReader, Progress};
use crate::events::Event;
use crate::spool::{new_id, QueueEntry, Recipient};
use crate::{headers, unix_now, Rcpt, Shared};

/// Protocol errors tolerated before the connection is closed.
const MAX_ERRORS: usize = 10;
/// How long a DATA command may wait for room among the messages in progress before it is
/// told to come back (451); well under the 2 minutes senders give the DATA reply (RFC 5321).
const ADMISSION_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

struct Session {
    shared: Arc<Shared>,
    peer: SocketAddr,
    helo: Option<String>,
    tx: Transaction,
    errors: usize,
    /// NOOP, RSET, VRFY and HELP since the last accepted message.
    junk_commands: usize,
    /// When the connection must end, however busy it is (`max_session_secs`).
    session_deadline: Instant,
    /// STARTTLS can still be offered (configured, and not yet done).
    tls_offered: bool,
    tls_active: bool,
    /// Held from the 354 go-ahead to the final reply of the message.
    in_progress: Option<tokio::sync::OwnedSemaphorePermit>,
}

pub async fn handle(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let session_deadline =
        Instant::now() + Duration::from_secs(shared.config.max_session_secs.max(1));
    let mut session = Session {
        tls_offered: shared.tls.is_some(),
        shared,
        peer,
        helo: None,
        tx: Transaction::default(),
        errors: 0,
        junk_commands: 0,
        session_deadline,
        tls_active: false,
        in_progress: None,
    };
    // Client IP lists and rate limits decide before anything else is said.
    if let Some(verdict) = session.refused(Phase::Connect, None) {
        let reply = match verdict.action {
            Action::Tempfail => "421 4.7.0 Too many connections from you, try again later\r\n",
            _ => "554 5.7.1 Connection refused by policy\r\n",
        };
        tracing::info!(%peer, reasons = %verdict_reasons(&verdict), "refused at connect");
        let _ = stream.write_all(reply.as_bytes()).await;
        return;
    }
    let greeting = format!("220 {} ESMTP mailmoat\r\n", session.shared.config.hostname);
    if let Err(e) = stream.write_all(greeting.as_bytes()).await {
        tracing::debug!(%peer, error = %e, "connection ended");
        return;
    }
    match session.run(&mut stream).await {
        Ok(Ended::Quit) => {}
        Ok(Ended::StartTls) => {
            let Some(acceptor) = session.shared.tls.clone() else {
                return;
            };
            let mut tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            // RFC 3207: everything known before the handshake is forgotten.
            session.helo = None;
            session.tx = Transaction::default();
            session.tls_offered = false;
            session.tls_active = true;
            if let Err(e) = session.run(&mut tls).await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended"),
    }
}

enum Next {
    Continue,
    Data,
    StartTls,
    Quit,
}

enum Ended {
    Quit,
    StartTls,
}

impl Session {
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> std::io::Result<Ended> {
        let command_timeout = Duration::from_secs(self.shared.config.command_timeout_secs);
        let mut receiver = RequestReceiver::default();
        let mut input: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        // The next whole command must have arrived by then: a deadline, so that a byte now
        // and then (slowloris) does not keep the connection open.
        let mut command_deadline = Instant::now() + command_timeout;
        loop {
            if input.is_empty() {
                // A busy client never meets the read deadline below: its age is checked here.
                if Instant::now() >= self.session_deadline {
                    tracing::info!(peer = %self.peer, "closed: open longer than max_session_secs");
                    stream
                        .write_all(b"421 4.4.2 Connection open too long, closing it\r\n")
                        .await?;
                    return Ok(Ended::Quit);
                }
                let deadline = command_deadline.min(self.session_deadline);
                let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                    Ok(r) => r?,
                    Err(_) => {
                        let reply: &[u8] = if deadline == self.session_deadline {
                            b"421 4.4.2 Connection open too long, closing it\r\n"
                        } else {
                            b"421 4.4.2 Command not received in time, closing connection\r\n"
                        };
                        tracing::info!(
                            peer = %self.peer,
                            reply = %String::from_utf8_lossy(reply).trim_end(),
                            "closed at a deadline"
                        );
                        stream.write_all(reply).await?;
                        return Ok(Ended::Quit);
                    }
                };
                if n == 0 {
                    return Ok(Ended::Quit);
                }
                input.extend_from_slice(&chunk[..n]);
            }
            // Every complete command in the input (PIPELINING), replies sent together.
            let mut replies = String::new();
            let buf = std::mem::take(&mut input);
            let mut bytes = buf.iter();
            let mut next = Next::Continue;
            loop {
                match receiver.ingest(&mut bytes) {
                    Ok(request) => {
                        command_deadline = Instant::now() + command_timeout;
                        next = self.command(request.into_owned(), &mut replies).await;
                        if !matches!(next, Next::Continue) {
                            break;
                        }
                    }
                    Err(ProtoError::NeedsMoreData { .. }) => break,
                    Err(e) => {
                        command_deadline = Instant::now() + command_timeout;
                        replies.push_str(protocol_error(&e));
                        self.errors += 1;
                        if self.errors >= MAX_ERRORS {
                            replies.push_str("421 4.7.0 Too many errors, closing connection\r\n");
                            next = Next::Quit;
                            break;
                        }
                    }
                }
            }
            let rest = bytes.as_slice().to_vec();
            stream.write_all(replies.as_bytes()).await?;
            match next {
                Next::Quit => return Ok(Ended::Quit),
                // Bytes pipelined after STARTTLS are dropped: commands injected in clear text
                // must not run inside the encrypted session (CVE-2011-0411).
                Next::StartTls => return Ok(Ended::StartTls),
                Next::Continue => {}
                Next::Data => {
                    input = self.data(stream, rest, &mut chunk).await?;
                    command_deadline = Instant::now() + command_timeout;
                    continue;
                }
            }
        }
    }

    async fn command(&mut self, request: Request<String>, out: &mut String) -> Next {
        let cfg = &self.shared.config;
        if matches!(
            request,
            Request::Noop { .. } | Request::Rset | Request::Vrfy { .. } | Request::Help { .. }
        ) {
            self.junk_commands += 1;
            if self.junk_commands > cfg.max_junk_commands {
                tracing::info!(
                    peer = %self.peer,
                    limit = cfg.max_junk_commands,
                    "closed: too many NOOP/RSET/VRFY/HELP commands without a message"
                );
                out.push_str("421 4.7.0 Too many commands without mail, closing connection\r\n");
                return Next::Quit;
            }
        }
        match request {
            Request::Ehlo { host } => {
                self.helo = Some(host);
                self.tx = Transaction::default();
                out.push_str(&format!(
                    "250-{}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n{}250 ENHANCEDSTATUSCODES\r\n",
                    cfg.hostname,
                    cfg.max_message_bytes,
                    if self.tls_offered { "250-STARTTLS\r\n" } else { "" }
                ));
            }
            Request::StartTls => {
                if !self.tls_offered {
                    out.push_str(if self.tls_active {
                        "503 5.5.1 TLS already active\r\n"
                    } else {
                        "502 5.5.1 STARTTLS not available\r\n"
                    });
                } else {
                    out.push_str("220 2.0.0 Ready to start TLS\r\n");
                    return Next::StartTls;
                }
            }
            Request::Helo { host } => {
                self.helo = Some(host);
                self.tx = Transaction::default();
                out.push_str(&format!("250 {}\r\n", cfg.hostname));
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    out.push_str("503 5.5.1 Say EHLO first\r\n");
                } else if self.tx.mail_from.is_some() {
                    out.push_str("503 5.5.1 Sender already given\r\n");
                } else if from.size > cfg.max_message_bytes {
                    out.push_str("552 5.3.4 Message too big for this system\r\n");
                } else if let Some(verdict) = self.refused(Phase::Mail, Some(&from.address)) {
                    tracing::info!(
                        peer = %self.peer,
                        sender = %from.address,
                        reasons = %verdict_reasons(&verdict),
                        "sender refused"
                    );
                    out.push_str(match verdict.action {
                        Action::Tempfail => {
                            "451 4.7.1 Too many messages from this sender, try again later\r\n"
                        }
                        _ => "550 5.7.1 Sender refused by policy\r\n",
                    });
                } else {
                    self.tx.mail_from = Some(from.address);
                    out.push_str("250 2.1.0 Sender OK\r\n");
                }
            }
            Request::Rcpt { to } => {
                if self.tx.mail_from.is_none() {
                    out.push_str("503 5.5.1 Need MAIL first\r\n");
                } else if self.tx.rcpt_to.len() >= cfg.max_recipients {
                    out.push_str("452 4.5.3 Too many recipients\r\n");
                } else {
                    let mut answer = self.shared.accepts(&to.address);
                    if let Rcpt::Accepted(address) = &answer {
                        if cfg.verify_recipients {
                            answer = crate::verify::recipient(&self.shared, address).await;
                        }
                    }
                    if let Rcpt::Accepted(address) = &answer {
                        if let Some(verdict) = self.refused(Phase::Rcpt, Some(address)) {
                            tracing::info!(
                                peer = %self.peer,
                                recipient = %address,
                                reasons = %verdict_reasons(&verdict),
                                "recipient refused"
                            );
                            answer = match verdict.action {
                                Action::Tempfail => Rcpt::Throttled,
                                _ => Rcpt::Refused,
                            };
                        }
                    }
                    match answer {
                        Rcpt::Refused => out.push_str("550 5.7.1 Recipient refused by policy\r\n"),
                        Rcpt::Throttled => out.push_str(
                            "451 4.7.1 Too many messages for this recipient, try again later\r\n",
                        ),
                        Rcpt::Accepted(address) => {
                            if !self.tx.rcpt_to.contains(&address) {
                                self.tx.rcpt_to.push(address);
                            }
                            out.push_str("250 2.1.5 Recipient OK\r\n");
                        }
                        Rcpt::NotOurs => out.push_str("550 5.7.1 Relaying denied\r\n"),
                        Rcpt::Unknown => out.push_str("550 5.1.1 No such recipient here\r\n"),
                        Rcpt::Unverified => out.push_str(
                            "450 4.1.1 Recipient cannot be verified now, try again later\r\n",
                        ),
                    }
                }
            }
            Request::Data => {
                if self.tx.mail_from.is_none() {
                    out.push_str("503 5.5.1 Need MAIL first\r\n");
                } else if self.tx.rcpt_to.is_empty() {
                    out.push_str("554 5.5.1 No valid recipients\r\n");
                } else {
                    let admitted = tokio::time::timeout(
                        ADMISSION_WAIT,
                        self.shared.in_progress.clone().acquire_owned(),
                    )
                    .await;
                    match admitted {
                        Ok(Ok(permit)) => {
                            self.in_progress = Some(permit);
                            out.push_str("354 Start mail input; end with <CRLF>.<CRLF>\r\n");
                            return Next::Data;
                        }
                        _ => out.push_str(
                            "451 4.3.2 Too busy to take a message now, try again later\r\n",
                        ),
                    }
                }
            }
            Request::Rset => {
                self.tx = Transaction::default();
                out.push_str("250 2.0.0 OK\r\n");
            }
            Request::Noop { .. } => out.push_str("250 2.0.0 OK\r\n"),
            Request::Quit => {
                out.push_str("221 2.0.0 Bye\r\n");
                return Next::Quit;
            }
            Request::Vrfy { .. } => out.push_str("252 2.5.0 Cannot verify, but will accept\r\n"),
            Request::Help { .. } => out.push_str("214 2.0.0 See RFC 5321\r\n"),
            Request::Bdat { .. } | Request::Auth { .. } => {
                out.push_str("502 5.5.1 Not implemented\r\n")
            }
            _ => out.push_str("502 5.5.1 Command not implemented\r\n"),
        }
        Next::Continue
    }

    /// Reads the message after 354, decides, and replies; returns the bytes that followed the
    /// end mark (pipelined commands).
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        first: Vec<u8>,
        chunk: &mut [u8],
    ) -> std::io::Result<Vec<u8>> {
        let cfg = &self.shared.config;
        // The whole message by then, however steadily it trickles in.
        let deadline = Instant::now() + Duration::from_secs(cfg.data_timeout_secs);
        let mut reader = DataReader::new(cfg.max_message_bytes);
        let mut pending = first;
        let rest = loop {
            if let Progress::Done { rest_from } = reader.feed(&pending) {
                break pending[rest_from..].to_vec();
            }
            let n = match tokio::time::timeout_at(deadline, stream.read(chunk)).await {
                Ok(r) => r?,
                Err(_) => {
                    stream
                        .write_all(b"421 4.4.2 Timeout reading the message, closing connection\r\n")
                        .await?;
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "DATA timed out",
                    ));
                }
            };
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed during DATA",
                ));
            }
            pending = chunk[..n].to_vec();
        };
        let tx = std::mem::take(&mut self.tx);
        let reply = if reader.too_big() {
            "552 5.3.4 Message too big for this system\r\n".to_string()
        } else if reader.smuggling {
            tracing::warn!(
                peer = %self.peer,
                "refused a message with a bare CR or LF next to a dot line (SMTP smuggling)"
            );
            "554 5.5.2 Bare CR or LF next to a line with only a dot: refused\r\n".to_string()
        } else {
            self.accept(tx, reader.into_message()).await
        };
        if reply.starts_with('2') {
            self.junk_commands = 0;
        }
        stream.write_all(reply.as_bytes()).await?;
        self.in_progress = None;
        Ok(rest)
    }

    /// The policy's refusal of the envelope known at `phase`, if any (`address`: the sender at
    /// MAIL, the recipient at RCPT).
    fn refused(&self, phase: Phase, address: Option<&str>) -> Option<mailmoat_core::Verdict> {
        let mut envelope = Envelope {
            mail_from: self.tx.mail_from.clone(),
            rcpt_to: Vec::new(),
            client_ip: Some(self.peer.ip()),
            helo: self.helo.clone(),
            received_at: Some(unix_now()),
        };
        match phase {
            Phase::Mail => envelope.mail_from = address.map(str::to_string),
            Phase::Rcpt => envelope.rcpt_to = address.map(str::to_string).into_iter().collect(),
            Phase::Connect => {}
        }
        self.shared
            .scanner
            .current()
            .check_envelope(&envelope, phase, unix_now())
    }

    /// Scans and stores one message; the reply says what became of it.
    async fn accept(&self, tx: Transaction, message: Vec<u8>) -> String {
        use tracing::Instrument;
        let id = new_id();
        // Every event about this message carries its queue id.
        let span = tracing::info_span!("message", %id);
        self.accept_as(id, tx, message).instrument(span).await
    }

    async fn accept_as(&self, id: String, tx: Transaction, message: Vec<u8>) -> String {
        const TRY_LATER: &str = "451 4.3.0 Temporary failure, please try again later\r\n";
        let now = unix_now();
        let shared = self.shared.clone();
        let scanner = shared.scanner.current();
        let runtime = GatewayRuntime {
            slots: &shared.scan_slots,
            arrived: std::time::Instant::now(),
        };
        let envelope = Envelope {
            mail_from: tx.mail_from.clone(),
            rcpt_to: tx.rcpt_to.clone(),
            client_ip: Some(self.peer.ip()),
            helo: self.helo.clone(),
            received_at: Some(now),
        };
        let report = match scanner.scan_staged(message, envelope, &runtime).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "scan task failed");
                return TRY_LATER.to_string();
            }
        };
        let entry = self.queue_entry(&id, now, &tx, &report);
        let mut accepted = Accepted::split(&shared, entry, &report, &id);
        accepted.log(&shared, now, &tx.rcpt_to, &report);
        shared.auto_learn(&report, now);
        tracing::info!(
            peer = %self.peer.ip(),
            from = %accepted.entry.mail_from,
            rcpts = accepted.entry.recipients.len(),
            action = %accepted.action,
            score = format_args!("{:.2}", report.verdict.score),
            symbols = %report.symbol_names().join(","),
            "scanned"
        );
        let raw = &report.view.raw;
        if let Some(excepted) = accepted.excepted {
            if let Err(e) = shared.enqueue(excepted, raw.clone()).await {
                tracing::error!(error = %e, "could not store the message");
                return TRY_LATER.to_string();
            }
        }
        let stored = match accepted.action {
            Action::Reject => return format!("550 5.7.1 Message refused by policy (id {id})\r\n"),
            Action::Tempfail => {
                return "451 4.7.1 Message deferred by policy, please try again later\r\n"
                    .to_string()
            }
            Action::Quarantine => {
                shared
                    .hold(accepted.entry, raw.clone(), accepted.report)
                    .await
            }
            Action::Deliver | Action::Tag => {
                let stored = shared.enqueue(accepted.entry, raw.clone()).await;
                if let (Ok(()), Some(stage)) = (&stored, scanner.auth()) {
                    stage.record_delivery(&report.view, now);
                }
                stored
            }
        };
        match stored {
            Ok(()) => format!("250 2.0.0 OK: queued as {id}\r\n"),
            Err(e) => {
                tracing::error!(error = %e, "could not store the message");
                TRY_LATER.to_string()
            }
        }
    }

    /// The spool entry for this message: every recipient pending, and the headers delivery
    /// adds (our Received line, Authentication-Results, the verdict).
    fn queue_entry(&self, id: &str, now: i64, tx: &Transaction, report: &Report) -> QueueEntry {
        let cfg = &self.shared.config;
        let received = format!(
            "Received: from {} ({}) by {} (mailmoat) with {} id {id}; {}\r\n",
            self.helo.as_deref().unwrap_or("unknown"),
            self.peer.ip(),
            cfg.hostname,
            if self.tls_active { "ESMTPS" } else { "ESMTP" },
            crate::rfc2822_date(now)
        );
        let auth_results = report.authentication_results().unwrap_or("");
        let mut entry = QueueEntry::accepted(
            id,
            now,
            tx.mail_from.as_deref().unwrap_or_default(),
            (Some(self.peer.ip()), self.helo.clone()),
            &tx.rcpt_to,
            format!(
                "{received}{auth_results}{}",
                headers::verdict_headers(&report.verdict, id)
            ),
        );
        entry.tag_subject = report.verdict.action == Action::Tag;
        entry
    }
}

/// What becomes of an accepted message: the per-recipient disposition carried out on its
/// spool entry.
struct Accepted {
    /// The entry the action applies to (the recipients without an exception).
    entry: QueueEntry,
    action: Action,
    /// A copy for the recipients whose exception delivers it, under its own id.
    excepted: Option<QueueEntry>,
    report: ScanReport,
}

impl Accepted {
    fn split(shared: &Shared, mut entry: QueueEntry, report: &Report, id: &str) -> Accepted {
        let verdict = &report.verdict;
        let mut scan_report = report.scan_report(id);
        // The From address, as the user wrote the exception (the envelope sender otherwise).
        let sender = report
            .view
            .from
            .first()
            .and_then(|m| m.address.clone())
            .unwrap_or_else(|| entry.mail_from.clone());
        let recipients: Vec<String> = entry.recipients.iter().map(|r| r.address.clone()).collect();
        let per_recipient = mailmoat_core::disposition(verdict, &recipients, |r| {
            shared.exceptions.allows(r, &sender)
        });
        let (excepted, others): (Vec<_>, Vec<_>) =
            per_recipient.into_iter().partition(|r| r.by_exception);
        let action = others.first().map_or(Action::Deliver, |r| r.action);
        if excepted.is_empty() {
            return Accepted {
                entry,
                action,
                excepted: None,
                report: scan_report,
            };
        }
        let names: Vec<&str> = excepted.iter().map(|r| r.recipient.as_str()).collect();
        scan_report.exception = Some(format!(
            "{sender} is accepted by the exception of {}",
            names.join(", ")
        ));
        let only = |list: &[mailmoat_core::RecipientAction]| -> Vec<Recipient> {
            entry
                .recipients
                .iter()
                .filter(|r| list.iter().any(|x| x.recipient == r.address))
                .cloned()
                .collect()
        };
        let mut kept = entry.clone();
        kept.recipients = only(&excepted);
        kept.tag_subject = false;
        kept.prepend.push_str(&format!(
            "X-Mailmoat-Exception: {} accepted by the recipient's exception (verdict {})\r\n",
            headers::header_safe(&sender),
            verdict.action
        ));
        if others.is_empty() {
            return Accepted {
                entry: kept,
                action,
                excepted: None,
                report: scan_report,
            };
        }
        kept.id = new_id();
        entry.recipients = only(&others);
        Accepted {
            entry,
            action,
            excepted: Some(kept),
            report: scan_report,
        }
    }

    /// The message log's entry (refused messages keep their bytes there; held ones keep the
    /// report in the quarantine too).
    fn log(&mut self, shared: &Shared, now: i64, recipients: &[String], report: &Report) {
        let event = Event::from_report(
            &self.entry.id,
            now,
            &self.entry.mail_from,
            recipients,
            &self.report,
        );
        let kept = (self.action == Action::Reject).then(|| report.view.raw.clone());
        // Only the quarantine needs the report after the log has it.
        let logged = if self.action == Action::Quarantine {
            self.report.clone()
        } else {
            std::mem::take(&mut self.report)
        };
        if let Err(e) = shared.events.record(event, logged, kept) {
            tracing::error!(error = %e, "message log write failed");
        }
    }
}

/// The gateway's way of running scan steps: a turn is one of the scan slots, oldest message
/// first, and steps run on the slots' own threads so slow parsing never stalls other sessions.
pub(crate) struct GatewayRuntime<'a> {
    pub slots: &'a crate::slots::Slots,
    /// When the message's data ended: a message back from DNS is older than those starting.
    pub arrived: std::time::Instant,
}

impl ScanRuntime for GatewayRuntime<'_> {
    type Turn = crate::slots::Slot;

    fn turn(&self) -> impl std::future::Future<Output = Self::Turn> + Send {
        self.slots.acquire(self.arrived)
    }

    async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ScanError> {
        self.slots.run(step).await.map_err(ScanError::Step)
    }
}

/// The symbols behind a verdict, for the log.
fn verdict_reasons(verdict: &mailmoat_core::Verdict) -> String {
    verdict
        .reasons
        .iter()
        .map(|r| {
            let why = r.hits.first().map(|h| h.details.as_str()).unwrap_or("");
            format!("{} ({why})", r.symbol)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn protocol_error(e: &ProtoError) -> &'static str {
    match e {
        ProtoError::UnknownCommand => "500 5.5.1 Unknown command\r\n",
        ProtoError::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax\r\n",
        ProtoError::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax\r\n",
        ProtoError::SyntaxError { .. } => "501 5.5.4 Syntax error\r\n",
        ProtoError::InvalidParameter { .. } => "501 5.5.4 Invalid parameter\r\n",
        ProtoError::UnsupportedParameter { .. } => "555 5.5.4 Unsupported parameter\r\n",
        ProtoError::ResponseTooLong => "500 5.5.6 Line too long\r\n",
        _ => "500 5.5.2 Syntax error\r\n",
    }
}

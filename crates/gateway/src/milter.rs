//! A milter (Sendmail milter protocol v6, as Postfix speaks it; the commands and replies are
//! the `miltr-common` crate's) for sites that keep their MTA: the MTA hands over connect, HELO,
//! MAIL, RCPT, headers and body; at the end of the body the message is scanned once, as the
//! gateway scans it, and the verdict comes back as the MTA's own action: our headers added
//! (forged copies removed), the subject tagged, a reject with our reply text, a tempfail, or a
//! quarantine: Postfix's hold queue and mailmoat's own quarantine, so the console can release
//! it. Per-recipient exceptions apply as in the gateway: recipients whose exception accepts
//! the sender get the message; for the others it is held in mailmoat's quarantine and they are
//! removed from the MTA's copy.
//!
//! Every stage before the end of the body is answered "continue", so where the MTA offers it
//! (protocol v6's SMFIP_NR_* flags, Postfix since 2.6) it is told not to wait for those
//! replies: a message costs one round trip instead of one per header, and a fifth of the
//! filter's CPU went to sending those replies and being woken for the next command.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::MilterConfig;
use async_trait::async_trait;
use bytes::BytesMut;
use mailmoat_core::Action;
use mailmoat_mime::Envelope;
use miltr_common::actions::{Action as MilterAction, Continue, Replycode, Tempfail};
use miltr_common::commands::{Body, Connect, Header, Helo, Macro, Mail, Recipient};
use miltr_common::decoding::ClientCommand;
use miltr_common::encoding::{ServerMessage, Writable};
use miltr_common::modifications::headers::{AddHeader, ChangeHeader, InsertHeader};
use miltr_common::modifications::quarantine::Quarantine;
use miltr_common::modifications::recipients::DeleteRecipient;
use miltr_common::modifications::{ModificationResponse, ModificationResponseBuilder};
use miltr_common::optneg::{OptNeg, Protocol};
use miltr_common::ProtocolError;
use miltr_server::Milter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::scan_service::{self, Scanned};
use crate::spool::QueueEntry;
use crate::{headers, new_id, unix_now, Shared};

/// Accepts MTA connections until the process ends; each gets its own milter state.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, config: MilterConfig) {
    let config = Arc::new(config);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "milter: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if !config
            .allowed_networks
            .iter()
            .any(|n| n.contains(&peer.ip()))
        {
            tracing::warn!(%peer, "milter: client not in allowed_networks, closed");
            continue;
        }
        let (shared, config) = (shared.clone(), config.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut milter = MailmoatMilter::new(shared, config);
            // With no reply to wait for, the MTA's next small write waits for our ACK of its
            // last (Nagle), and Linux delays ACKs up to 40 ms: ACK at once instead. A second
            // handle on the socket, as the read half is the codec's.
            let ack_handle = std::os::fd::AsFd::as_fd(&stream)
                .try_clone_to_owned()
                .map(socket2::Socket::from);
            let quick_ack = move || {
                if let Ok(socket) = &ack_handle {
                    let _ = socket.set_tcp_quickack(true);
                }
            };
            let (read, write) = stream.into_split();
            if let Err(e) = converse(&mut milter, read, write, quick_ack).await {
                tracing::info!(%peer, error = %e, "milter: connection ended");
            }
        });
    }
}

/// The largest command accepted: a body chunk of Postfix's (65,535 bytes) and its code.
const MAX_FRAME: usize = 1 << 16;

/// The stages that need no reply when the MTA offers to skip them.
const NO_REPLY: Protocol = Protocol::NR_CONNECT
    .union(Protocol::NR_HELO)
    .union(Protocol::NR_MAIL)
    .union(Protocol::NR_RECIPIENT)
    .union(Protocol::NR_DATA)
    .union(Protocol::NR_UNKNOWN)
    .union(Protocol::NR_HEADER)
    .union(Protocol::NR_END_OF_HEADER)
    .union(Protocol::NR_BODY);

/// Takes one command off the front of `buffer`: `None` until a whole frame (a 4-byte length,
/// then that many bytes) is there.
pub fn decode_frame(buffer: &mut BytesMut) -> Result<Option<ClientCommand>, ProtocolError> {
    let Some(length) = buffer
        .first_chunk::<4>()
        .map(|b| u32::from_be_bytes(*b) as usize)
    else {
        return Ok(None);
    };
    if length > MAX_FRAME {
        return Err(ProtocolError::TooMuchData(length));
    }
    if buffer.len() < 4 + length {
        return Ok(None);
    }
    let mut frame = buffer.split_to(4 + length);
    let _ = frame.split_to(4);
    ClientCommand::parse(frame).map(Some)
}

/// Appends one reply, framed, to `out`.
fn encode(message: &ServerMessage, out: &mut BytesMut) -> Result<(), ProtocolError> {
    let length = message.len() + 1;
    if length > MAX_FRAME {
        return Err(ProtocolError::TooMuchData(length));
    }
    out.extend_from_slice(&(length as u32).to_be_bytes());
    out.extend_from_slice(&[message.code()]);
    message.write(out);
    Ok(())
}

/// One MTA connection: its commands in order, each stage's reply unless the MTA agreed to go
/// on without it, and the verdict at the end of the body.
async fn converse<M: Milter<Error = String>>(
    milter: &mut M,
    mut read: impl AsyncRead + Unpin,
    mut write: impl AsyncWrite + Unpin,
    quick_ack: impl Fn(),
) -> Result<(), String> {
    let mut incoming = BytesMut::with_capacity(MAX_FRAME + 4);
    let mut out = BytesMut::with_capacity(512);
    let mut skip_reply = Protocol::empty();
    let mut capabilities = None;
    loop {
        let command = loop {
            if let Some(command) = decode_frame(&mut incoming).map_err(|e| e.to_string())? {
                break command;
            }
            // Room for a whole frame, so that reads stay large however the buffer was split.
            incoming.reserve(MAX_FRAME + 4 - incoming.len().min(MAX_FRAME + 4));
            if read
                .read_buf(&mut incoming)
                .await
                .map_err(|e| e.to_string())?
                == 0
            {
                return Ok(());
            }
            // Quick-ack mode is not permanent: set again after each read.
            quick_ack();
        };
        let (reply, no_reply): (MilterAction, Protocol) = match command {
            ClientCommand::OptNeg(theirs) => {
                let mut ours = OptNeg::default()
                    .merge_compatible(&theirs)
                    .map_err(|e| e.to_string())?;
                skip_reply = theirs.protocol.intersection(NO_REPLY);
                ours.protocol = ours.protocol.union(skip_reply);
                capabilities = Some(ours.capabilities);
                encode(&ours.into(), &mut out).map_err(|e| e.to_string())?;
                write.write_all(&out).await.map_err(|e| e.to_string())?;
                out.clear();
                continue;
            }
            ClientCommand::Macro(m) => {
                milter.macro_(m).await?;
                continue;
            }
            ClientCommand::Connect(c) => (milter.connect(c).await?, Protocol::NR_CONNECT),
            ClientCommand::Helo(h) => (milter.helo(h).await?, Protocol::NR_HELO),
            ClientCommand::Mail(m) => (milter.mail(m).await?, Protocol::NR_MAIL),
            ClientCommand::Recipient(r) => (milter.rcpt(r).await?, Protocol::NR_RECIPIENT),
            ClientCommand::Data(_) => (milter.data().await?, Protocol::NR_DATA),
            ClientCommand::Unknown(u) => (milter.unknown(u).await?, Protocol::NR_UNKNOWN),
            ClientCommand::Header(h) => (milter.header(h).await?, Protocol::NR_HEADER),
            ClientCommand::EndOfHeader(_) => {
                (milter.end_of_header().await?, Protocol::NR_END_OF_HEADER)
            }
            ClientCommand::Body(b) => (milter.body(b).await?, Protocol::NR_BODY),
            ClientCommand::EndOfBody(_) => {
                let mut response = milter.end_of_body().await?;
                // Only the modifications the MTA agreed to.
                response.filter_mods_by_caps(capabilities.unwrap_or_default());
                // All of them in one write.
                for message in Vec::<ServerMessage>::from(response) {
                    encode(&message, &mut out).map_err(|e| e.to_string())?;
                }
                write.write_all(&out).await.map_err(|e| e.to_string())?;
                out.clear();
                continue;
            }
            ClientCommand::Abort(_) => {
                milter.abort().await?;
                continue;
            }
            ClientCommand::Quit(_) => return Ok(()),
            ClientCommand::QuitNc(_) => {
                milter.abort().await?;
                continue;
            }
        };
        if !skip_reply.contains(no_reply) {
            encode(&reply.into(), &mut out).map_err(|e| e.to_string())?;
            write.write_all(&out).await.map_err(|e| e.to_string())?;
            out.clear();
        }
    }
}

/// One MTA connection's state: the SMTP client it describes, and the message in progress.
struct MailmoatMilter {
    shared: Arc<Shared>,
    config: Arc<MilterConfig>,
    client_ip: Option<IpAddr>,
    client_host: String,
    helo: Option<String>,
    message: Message,
}

/// What the MTA has told of the current message.
#[derive(Default)]
struct Message {
    queue_id: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Bytes of the message as rebuilt (headers with their separators, body), counted as
    /// they arrive.
    size: usize,
    /// Past max_message_bytes: no longer kept, passed on unscanned.
    too_big: bool,
}

impl Message {
    /// Counts `bytes` more; past `limit` the message is dropped (it passes unscanned) and
    /// nothing more is kept. Whether these bytes may be kept.
    fn admit(&mut self, bytes: usize, limit: usize) -> bool {
        if self.too_big {
            return false;
        }
        self.size += bytes;
        if self.size > limit {
            self.too_big = true;
            self.headers = Vec::new();
            self.body = Vec::new();
            return false;
        }
        true
    }
}

impl MailmoatMilter {
    fn new(shared: Arc<Shared>, config: Arc<MilterConfig>) -> MailmoatMilter {
        MailmoatMilter {
            shared,
            config,
            client_ip: None,
            client_host: String::new(),
            helo: None,
            message: Message::default(),
        }
    }

    /// The message as the MTA received it (its headers, a blank line, its body).
    fn raw(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.message.size + 2);
        for (name, value) in &self.message.headers {
            raw.extend_from_slice(name.as_bytes());
            raw.push(b':');
            if !value.starts_with([' ', '\t']) {
                raw.push(b' ');
            }
            // Folded values come with bare LF from Postfix; the view reads CRLF.
            raw.extend_from_slice(value.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes());
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&self.message.body);
        raw
    }

    /// The answer to the end of the body.
    async fn verdict(&mut self) -> ModificationResponse {
        if self.message.too_big {
            tracing::warn!(
                limit = self.config.max_message_bytes,
                "milter: message over max_message_bytes passed on unscanned"
            );
            let mut builder = ModificationResponse::builder();
            builder.push(AddHeader::new(
                b"X-Mailmoat-Skipped",
                b"message over max_message_bytes, not scanned",
            ));
            return builder.build(Continue);
        }
        let now = unix_now();
        let id = new_id();
        let envelope = Envelope {
            mail_from: self.message.mail_from.clone(),
            rcpt_to: self.message.rcpt_to.clone(),
            client_ip: self.client_ip,
            helo: self.helo.clone(),
            received_at: Some(now),
        };
        let raw = self.raw();
        let span = tracing::info_span!(
            "message",
            %id,
            via = "milter",
            queue_id = self.message.queue_id.as_deref().unwrap_or("")
        );
        use tracing::Instrument;
        let scanned = scan_service::scan(&self.shared, raw, envelope, &self.message.rcpt_to, &id)
            .instrument(span)
            .await;
        match scanned {
            Ok(scanned) => self.answer(&scanned, &id, now).await,
            Err(e) => {
                tracing::error!(error = %e, "milter: scan failed");
                if self.config.fail_open {
                    let mut builder = ModificationResponse::builder();
                    builder.push(AddHeader::new(b"X-Mailmoat-Skipped", b"scan failed"));
                    builder.build(Continue)
                } else {
                    ModificationResponse::builder().build(Tempfail)
                }
            }
        }
    }

    async fn answer(&self, scanned: &Scanned, id: &str, now: i64) -> ModificationResponse {
        let report = &scanned.report;
        let verdict = &report.verdict;
        let others: Vec<String> = scanned
            .recipients
            .iter()
            .filter(|r| !r.by_exception)
            .map(|r| r.recipient.clone())
            .collect();
        let some_excepted = scanned.recipients.iter().any(|r| r.by_exception);
        match scanned.action {
            Action::Reject if !some_excepted => {
                let text = format!("Message refused by policy (id {id})");
                return ModificationResponse::builder().build(Replycode::new(
                    [5, 5, 0],
                    [5, 7, 1],
                    &text,
                ));
            }
            Action::Tempfail => {
                return ModificationResponse::builder().build(Replycode::new(
                    [4, 5, 1],
                    [4, 7, 1],
                    "Message deferred by policy, please try again later",
                ));
            }
            _ => {}
        }
        let mut builder = ModificationResponse::builder();
        self.headers(&mut builder, scanned, id);
        let held = matches!(scanned.action, Action::Quarantine | Action::Reject);
        if held {
            // Durable in our quarantine before the MTA is told anything: never lost.
            let recipients = if some_excepted {
                others.clone()
            } else {
                self.message.rcpt_to.clone()
            };
            if let Err(e) = self.hold(report, id, now, &recipients).await {
                tracing::error!(error = %e, "milter: could not store the held message");
                return ModificationResponse::builder().build(Tempfail);
            }
            if some_excepted {
                // The others' copy is ours now; the MTA delivers to the excepted only.
                for r in &others {
                    builder.push(DeleteRecipient::new(format!("<{r}>").as_bytes()));
                }
            } else {
                builder.push(Quarantine::new(
                    format!("mailmoat {} (id {id})", verdict.action).as_bytes(),
                ));
            }
        }
        builder.build(Continue)
    }

    /// Our headers on the MTA's copy (forged copies from outside removed first), and the
    /// subject tagged when the verdict tags.
    fn headers(&self, builder: &mut ModificationResponseBuilder, scanned: &Scanned, id: &str) {
        let report = &scanned.report;
        let hostname = &self.shared.config.hostname;
        // Forged copies of our headers, by name and occurrence (1-based, as the protocol
        // counts), removed last occurrence first so earlier indices stay valid.
        let mut occurrences: HashMap<String, u32> = HashMap::new();
        let mut forged: Vec<(u32, &str)> = Vec::new();
        for (name, value) in &self.message.headers {
            let lower = name.to_ascii_lowercase();
            let n = occurrences.entry(lower.clone()).or_default();
            *n += 1;
            let ours = lower.starts_with("x-mailmoat-")
                || lower == "x-spam"
                || (lower == "authentication-results"
                    && headers::claims_authserv_id(value.as_bytes(), hostname));
            if ours {
                forged.push((*n, name));
            }
        }
        for (index, name) in forged.into_iter().rev() {
            builder.push(ChangeHeader::new(index, name.as_bytes(), b""));
        }
        let mut ours: Vec<(String, String)> = Vec::new();
        if let Some(header) = report.authentication_results() {
            if let Some((name, value)) = header.trim_end().split_once(": ") {
                ours.push((name.to_string(), value.to_string()));
            }
        }
        for line in headers::verdict_headers(&report.verdict, id).split("\r\n") {
            if let Some((name, value)) = line.split_once(": ") {
                ours.push((name.to_string(), value.to_string()));
            }
        }
        let excepted: Vec<&str> = scanned.excepted().collect();
        if !excepted.is_empty() {
            ours.push((
                "X-Mailmoat-Exception".to_string(),
                format!(
                    "{} accepted by the exception of {} (verdict {})",
                    headers::header_safe(
                        report
                            .view
                            .from
                            .first()
                            .and_then(|m| m.address.as_deref())
                            .unwrap_or("")
                    ),
                    excepted.join(", "),
                    report.verdict.action
                ),
            ));
        } else if scanned.action != Action::Deliver {
            ours.push(("X-Spam".to_string(), "Yes".to_string()));
        }
        // Inserted at the top, last first, so they read in this order.
        for (name, value) in ours.iter().rev() {
            builder.push(InsertHeader::new(0, name.as_bytes(), value.as_bytes()));
        }
        if scanned.action == Action::Tag && excepted.is_empty() {
            let prefix = &self.shared.config.tag_subject_prefix;
            match self
                .message
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("subject"))
            {
                Some((name, value)) => {
                    let value = value.trim_start();
                    if !value.starts_with(prefix.as_str()) {
                        let tagged = format!("{prefix} {value}");
                        builder.push(ChangeHeader::new(1, name.as_bytes(), tagged.as_bytes()));
                    }
                }
                None => builder.push(AddHeader::new(b"Subject", prefix.as_bytes())),
            }
        }
    }

    /// Stores the message in mailmoat's quarantine for `recipients` (the console releases it
    /// through the gateway's routes).
    async fn hold(
        &self,
        report: &mailmoat_pipeline::Report,
        id: &str,
        now: i64,
        recipients: &[String],
    ) -> std::io::Result<()> {
        let received = format!(
            "Received: from {} ({} [{}]) by {} (mailmoat milter) id {id}; {}\r\n",
            self.helo.as_deref().unwrap_or("unknown"),
            if self.client_host.is_empty() {
                "unknown"
            } else {
                &self.client_host
            },
            self.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            self.shared.config.hostname,
            crate::rfc2822_date(now)
        );
        let auth_results = report.authentication_results().unwrap_or("");
        let entry = QueueEntry::accepted(
            id,
            now,
            self.message.mail_from.as_deref().unwrap_or_default(),
            (self.client_ip, self.helo.clone()),
            recipients,
            format!(
                "{received}{auth_results}{}",
                headers::verdict_headers(&report.verdict, id)
            ),
        );
        let mut scan_report = report.scan_report(id);
        scan_report.message.envelope.rcpt_to = recipients.to_vec();
        self.shared
            .hold(entry, report.view.raw.clone(), scan_report)
            .await
    }
}

#[async_trait]
impl Milter for MailmoatMilter {
    type Error = String;

    async fn macro_(&mut self, m: Macro) -> Result<(), Self::Error> {
        for (name, value) in m.macros() {
            if name == b"i" && !value.is_empty() {
                self.message.queue_id = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        Ok(())
    }

    async fn connect(&mut self, connect: Connect) -> Result<MilterAction, Self::Error> {
        self.client_ip = connect
            .address()
            .trim_matches(['[', ']'])
            .trim_start_matches("IPv6:")
            .parse()
            .ok();
        self.client_host = connect.hostname().chars().take(255).collect();
        Ok(Continue.into())
    }

    async fn helo(&mut self, helo: Helo) -> Result<MilterAction, Self::Error> {
        self.helo = Some(helo.helo().chars().take(255).collect());
        Ok(Continue.into())
    }

    async fn mail(&mut self, mail: Mail) -> Result<MilterAction, Self::Error> {
        let queue_id = self.message.queue_id.take();
        self.message = Message {
            queue_id,
            mail_from: Some(crate::address::unbracketed(&mail.sender())),
            ..Message::default()
        };
        Ok(Continue.into())
    }

    async fn rcpt(&mut self, rcpt: Recipient) -> Result<MilterAction, Self::Error> {
        self.message
            .rcpt_to
            .push(crate::address::unbracketed(&rcpt.recipient()));
        Ok(Continue.into())
    }

    async fn header(&mut self, header: Header) -> Result<MilterAction, Self::Error> {
        let (name, value) = (header.name(), header.value());
        // Rebuilt as "Name: value" CRLF.
        if self
            .message
            .admit(name.len() + value.len() + 4, self.config.max_message_bytes)
        {
            self.message
                .headers
                .push((name.into_owned(), value.into_owned()));
        }
        Ok(Continue.into())
    }

    async fn body(&mut self, body: Body) -> Result<MilterAction, Self::Error> {
        let bytes = body.as_bytes();
        if self
            .message
            .admit(bytes.len(), self.config.max_message_bytes)
        {
            self.message.body.extend_from_slice(bytes);
        }
        Ok(Continue.into())
    }

    async fn end_of_body(&mut self) -> Result<ModificationResponse, Self::Error> {
        Ok(self.verdict().await)
    }

    async fn abort(&mut self) -> Result<(), Self::Error> {
        // The end of every message (and a client's RSET): the next one starts clean.
        self.message = Message::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miltr_common::decoding::ServerCommand;

    /// A milter with every stage's default answer: continue.
    struct Defaults;
    #[async_trait]
    impl Milter for Defaults {
        type Error = String;
        async fn abort(&mut self) -> Result<(), String> {
            Ok(())
        }
    }

    fn frame(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        f.push(code);
        f.extend_from_slice(payload);
        f
    }

    /// One message as Postfix sends it, offering `protocol`; the replies it gets, by kind.
    async fn replies_to_one_message(protocol: Protocol) -> Vec<String> {
        let mut mta = Vec::new();
        let mut optneg = 6u32.to_be_bytes().to_vec();
        optneg.extend_from_slice(&0x1ffu32.to_be_bytes());
        optneg.extend_from_slice(&protocol.bits().to_be_bytes());
        mta.extend(frame(b'O', &optneg));
        mta.extend(frame(b'C', b"client.example\0\x34\x00\x19192.0.2.1\0"));
        mta.extend(frame(b'H', b"client.example\0"));
        mta.extend(frame(b'M', b"<a@client.example>\0"));
        mta.extend(frame(b'R', b"<b@example.com>\0"));
        mta.extend(frame(b'L', b"Subject\0hello\0"));
        mta.extend(frame(b'L', b"From\0a@client.example\0"));
        mta.extend(frame(b'N', b""));
        mta.extend(frame(b'B', b"body\r\n"));
        mta.extend(frame(b'E', b""));
        mta.extend(frame(b'Q', b""));
        let mut written = Vec::new();
        converse(&mut Defaults, mta.as_slice(), &mut written, || {})
            .await
            .unwrap();
        let mut replies = BytesMut::from(written.as_slice());
        let mut kinds = Vec::new();
        while let Some(length) = replies.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) {
            let mut f = replies.split_to(4 + length as usize);
            let _ = f.split_to(4);
            let command = ServerCommand::parse(f).unwrap();
            if let ServerCommand::OptNeg(o) = &command {
                assert_eq!(o.protocol, protocol.intersection(NO_REPLY));
            }
            kinds.push(
                format!("{command:?}")
                    .split(['(', ' '])
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        kinds
    }

    #[tokio::test]
    async fn stages_before_the_end_of_the_body_get_no_reply_when_the_mta_offers_to_skip_them() {
        let all = NO_REPLY.union(Protocol::SMFIP_SKIP);
        assert_eq!(replies_to_one_message(all).await, ["OptNeg", "Continue"]);
    }

    #[tokio::test]
    async fn an_mta_that_waits_for_every_reply_gets_every_reply() {
        let kinds = replies_to_one_message(Protocol::empty()).await;
        assert_eq!(kinds.len(), 10, "{kinds:?}");
        assert_eq!(kinds[0], "OptNeg");
        assert!(kinds[1..].iter().all(|k| k == "Continue"), "{kinds:?}");
    }

    #[test]
    fn a_message_past_its_limit_is_dropped_whole_and_kept_no_more() {
        let mut m = Message::default();
        assert!(m.admit(60, 100));
        m.body.extend_from_slice(&[b'x'; 60]);
        assert!(!m.admit(41, 100));
        assert!(m.too_big && m.body.is_empty() && m.headers.is_empty());
        assert!(!m.admit(1, 100), "nothing more once over");
    }
}

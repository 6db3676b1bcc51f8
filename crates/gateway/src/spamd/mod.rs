//! A scan service speaking SpamAssassin's spamd protocol, so `spamc`, Amavis and the MTA
//! plugins written for spamd use mailmoat unchanged. One request per connection, as spamd:
//! the message is scanned as the gateway scans it (same slots, authentication from the
//! Received chain the MTA wrote, per-user exceptions when `User` is an address), logged in
//! the message log, and answered; the caller keeps the message and acts on the answer.

pub mod protocol;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::SpamdConfig;
use mailmoat_core::Action;
use mailmoat_mime::Envelope;
use mailmoat_pipeline::Report;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::{headers, new_id, scan_service, unix_now, Shared};
use protocol::{Command, ExitCode, MessageClass, ProtocolError, Reply, Request};

/// Longest request or header line read.
const MAX_LINE: usize = 8 * 1024;
/// Most header lines in one request.
const MAX_HEADERS: usize = 32;

/// Accepts spamd clients until the process ends.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    config: SpamdConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let config = Arc::new(config);
    let places = Arc::new(Semaphore::new(config.max_connections.max(1)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "spamd: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !config
            .allowed_networks
            .iter()
            .any(|n| n.contains(&peer.ip()))
        {
            tracing::warn!(%peer, "spamd: client not in allowed_networks, closed");
            continue;
        }
        let (shared, config, places) = (shared.clone(), config.clone(), places.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            // A place per request: beyond max_connections, clients wait here, not in the scan.
            let Ok(_place) = places.acquire_owned().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let Some(tls) = tls else {
                connection(stream, peer, &shared, &config).await;
                return;
            };
            let deadline = Duration::from_secs(config.request_timeout_secs.max(1));
            match tokio::time::timeout(deadline, tls.accept(stream)).await {
                Ok(Ok(stream)) => connection(stream, peer, &shared, &config).await,
                // With client_ca set, a client without a valid certificate ends here.
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "spamd: TLS handshake refused")
                }
                Err(_) => tracing::info!(%peer, "spamd: TLS handshake not finished in time"),
            }
        });
    }
}

async fn connection<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    config: &SpamdConfig,
) {
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let deadline = Duration::from_secs(config.request_timeout_secs.max(1));
    let request = match tokio::time::timeout(deadline, read_request(&mut read, config)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "spamd: request refused");
            let _ = write.write_all(&Reply::error(&e).to_bytes()).await;
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "spamd: request not sent in time");
            let e = ProtocolError::new(ExitCode::Timeout, "request timed out");
            let _ = write.write_all(&Reply::error(&e).to_bytes()).await;
            return;
        }
    };
    let (request, message) = request;
    let reply = match request.command {
        Command::Skip => return,
        Command::Ping => protocol::PONG.to_vec(),
        Command::Tell => tell(shared, &request, message).await.to_bytes(),
        _ => {
            use tracing::Instrument;
            let id = new_id();
            let span = tracing::info_span!("message", %id, via = "spamd");
            scan(shared, &request, message, &id)
                .instrument(span)
                .await
                .to_bytes()
        }
    };
    let _ = write.write_all(&reply).await;
    let _ = write.shutdown().await;
}

/// A request as the service reads it from these bytes (what the fuzz target feeds): the same
/// reader on a one-thread runtime.
pub fn parse_request(
    bytes: &[u8],
    config: &SpamdConfig,
) -> Result<(Request, Vec<u8>), ProtocolError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| ProtocolError::new(ExitCode::Software, e.to_string()))?;
    runtime.block_on(read_request(&mut BufReader::new(bytes), config))
}

/// The request line, headers and message, within the configured bounds.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
    config: &SpamdConfig,
) -> Result<(Request, Vec<u8>), ProtocolError> {
    let line = read_line(read).await?;
    let command = protocol::parse_request_line(&line)?;
    let mut request = Request::new(command);
    if !command.has_message() {
        return Ok((request, Vec::new()));
    }
    let mut headers = 0;
    loop {
        let line = read_line(read).await?;
        if line == "\r\n" || line == "\n" {
            break;
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return Err(ProtocolError::new(ExitCode::Protocol, "too many headers"));
        }
        request.header(&line)?;
    }
    if request.compressed {
        return Err(ProtocolError::new(
            ExitCode::Protocol,
            "compressed messages are not accepted",
        ));
    }
    let length = request
        .content_length
        .ok_or_else(|| ProtocolError::new(ExitCode::Protocol, "no Content-length"))?;
    if length > config.max_message_bytes {
        return Err(ProtocolError::new(
            ExitCode::DataErr,
            format!("message of {length} bytes over max_message_bytes"),
        ));
    }
    let mut message = vec![0u8; length];
    read.read_exact(&mut message)
        .await
        .map_err(|e| ProtocolError::new(ExitCode::Protocol, format!("message cut short: {e}")))?;
    Ok((request, message))
}

async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
) -> Result<String, ProtocolError> {
    let mut line = Vec::new();
    let n = (&mut *read)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| ProtocolError::new(ExitCode::Protocol, format!("read failed: {e}")))?;
    if n == 0 || !line.ends_with(b"\n") {
        return Err(ProtocolError::new(
            ExitCode::Protocol,
            if line.len() > MAX_LINE {
                "line too long"
            } else {
                "connection closed in the request"
            },
        ));
    }
    String::from_utf8(line).map_err(|_| ProtocolError::new(ExitCode::Protocol, "line not UTF-8"))
}

/// CHECK, SYMBOLS, REPORT, REPORT_IFSPAM, PROCESS, HEADERS: scan, log, answer.
async fn scan(shared: &Arc<Shared>, request: &Request, message: Vec<u8>, id: &str) -> Reply {
    // The recipient when the MTA names one: exceptions and first contact are per recipient.
    let recipient = request
        .user
        .as_deref()
        .filter(|u| u.contains('@'))
        .map(str::to_string);
    let envelope_recipients: Vec<String> = recipient.iter().cloned().collect();
    let envelope = Envelope {
        mail_from: None,
        rcpt_to: envelope_recipients.clone(),
        // The client is judged from the Received chain the MTA wrote (its trusted hops are
        // `[message] trusted_networks`), as for mail relayed to the gateway.
        client_ip: None,
        helo: None,
        received_at: Some(unix_now()),
    };
    let scanned =
        match scan_service::scan(shared, message, envelope, &envelope_recipients, id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "spamd: scan failed");
                return Reply::error(&ProtocolError::new(ExitCode::Software, "scan failed"));
            }
        };
    let (report, action) = (&scanned.report, scanned.action);
    let scanner = shared.scanner.current();
    let threshold = scanner.policy().tag_threshold();
    let spam = action != Action::Deliver;
    let reply = Reply::ok().with_verdict(spam, report.verdict.score, threshold);
    match request.command {
        Command::Check => reply,
        Command::Symbols => reply.with_body(report.symbol_names().join(",").into_bytes()),
        Command::Report => reply.with_body(report_body(&scanner, report, threshold)),
        Command::ReportIfSpam if spam => reply.with_body(report_body(&scanner, report, threshold)),
        Command::ReportIfSpam => reply,
        Command::Process | Command::Headers => {
            let processed = processed(shared, report, action, spam, threshold, id);
            if request.command == Command::Headers {
                let end = header_section_end(&processed);
                reply.with_body(processed[..end].to_vec())
            } else {
                reply.with_body(processed)
            }
        }
        Command::Ping | Command::Skip | Command::Tell => reply,
    }
}

/// The message as it should be delivered: SpamAssassin's X-Spam headers (what spamc users'
/// filters test), ours, Authentication-Results, the subject tagged when the verdict tags;
/// copies of those headers from outside removed, so a sender cannot forge a verdict.
fn processed(
    shared: &Shared,
    report: &Report,
    action: Action,
    spam: bool,
    threshold: f64,
    id: &str,
) -> Vec<u8> {
    let verdict = &report.verdict;
    let score = verdict.score;
    let mut prepend = String::new();
    if spam {
        prepend.push_str("X-Spam-Flag: YES\r\n");
    }
    let tests: Vec<&str> = report.symbol_names();
    prepend.push_str(&format!(
        "X-Spam-Status: {}, score={score:.1} required={threshold:.1} tests={} autolearn=no version=mailmoat-{}\r\n",
        if spam { "Yes" } else { "No" },
        if tests.is_empty() { "none".to_string() } else { tests.join(",") },
        env!("CARGO_PKG_VERSION"),
    ));
    prepend.push_str(&format!(
        "X-Spam-Level: {}\r\n",
        "*".repeat(score.clamp(0.0, 50.0) as usize)
    ));
    if let Some(header) = report.authentication_results() {
        prepend.push_str(header);
    }
    prepend.push_str(&headers::verdict_headers(verdict, id));
    let tag = (action == Action::Tag).then_some(shared.config.tag_subject_prefix.as_str());
    headers::rewrite_dropping(
        &report.view.raw,
        &prepend,
        tag,
        &shared.config.hostname,
        &["x-spam-flag", "x-spam-status", "x-spam-level"],
    )
}

/// Where the header section ends, the blank line included.
fn header_section_end(message: &[u8]) -> usize {
    let blank = headers::find_header_end(message);
    let rest = &message[blank..];
    blank
        + if rest.starts_with(b"\r\n") {
            2
        } else {
            usize::from(rest.starts_with(b"\n"))
        }
}

fn report_body(scanner: &mailmoat_pipeline::Scanner, report: &Report, threshold: f64) -> Vec<u8> {
    let lines: Vec<(String, f64, String)> = report
        .verdict
        .reasons
        .iter()
        .map(|r| {
            let description = scanner
                .symbols()
                .get(&r.symbol)
                .map(|d| d.description.to_string())
                .unwrap_or_default();
            (r.symbol.clone(), r.score, description)
        })
        .collect();
    protocol::report_text(report.verdict.score, threshold, &lines).into_bytes()
}

/// TELL: learn the message as spam or ham into the configured model file (as a console
/// correction does). Forgetting is not offered: the model learns, it does not keep messages.
async fn tell(shared: &Arc<Shared>, request: &Request, message: Vec<u8>) -> Reply {
    let refused = |code, why: &str| {
        tracing::info!(why, "spamd: TELL refused");
        Reply::error(&ProtocolError::new(code, why))
    };
    if request.remove_local {
        return refused(
            ExitCode::Unavailable,
            "forgetting a message is not supported",
        );
    }
    let (Some(class), true) = (request.message_class, request.set_local) else {
        return refused(
            ExitCode::Protocol,
            "TELL needs Message-class and Set: local",
        );
    };
    let shared = shared.clone();
    let spam = class == MessageClass::Spam;
    let learned =
        tokio::task::spawn_blocking(move || shared.learn(&message, spam, "spamd TELL")).await;
    match learned {
        Ok(Some(Ok((before, after)))) => {
            tracing::info!(spam, before, after, "spamd: learned");
            Reply::ok().with_header("DidSet", "local")
        }
        Ok(Some(Err(e))) => {
            tracing::error!(error = %e, "spamd: learning failed");
            refused(ExitCode::TempFail, "learning failed")
        }
        Ok(None) => refused(
            ExitCode::Unavailable,
            "no [classifier] model file is configured to learn into",
        ),
        Err(e) => {
            tracing::error!(error = %e, "spamd: learning task failed");
            refused(ExitCode::Software, "learning failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_read_within_their_bounds() {
        let config = SpamdConfig {
            max_message_bytes: 10,
            ..SpamdConfig::default()
        };
        let read = |bytes: &'static [u8]| {
            let config = config.clone();
            async move { read_request(&mut BufReader::new(bytes), &config).await }
        };
        let (r, m) = read(b"CHECK SPAMC/1.5\r\nContent-length: 5\r\nUser: bob\r\n\r\nhello")
            .await
            .unwrap();
        assert_eq!((r.command, m.as_slice()), (Command::Check, &b"hello"[..]));
        assert_eq!(r.user.as_deref(), Some("bob"));
        let (r, _) = read(b"PING SPAMC/1.5\r\n").await.unwrap();
        assert_eq!(r.command, Command::Ping);
        let too_big = read(b"CHECK SPAMC/1.5\r\nContent-length: 11\r\n\r\nhello world")
            .await
            .unwrap_err();
        assert_eq!(too_big.code, ExitCode::DataErr);
        for bad in [
            &b"CHECK SPAMC/1.5\r\n\r\nhello"[..],
            b"CHECK SPAMC/1.5\r\nContent-length: 9\r\n\r\nshort",
            b"CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: 1\r\n\r\nx",
            b"CHECK SPAMC/1.5\r\nContent-length: 1",
        ] {
            let e = read_request(&mut BufReader::new(bad), &config)
                .await
                .unwrap_err();
            assert_eq!(
                e.code,
                ExitCode::Protocol,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("CHECK SPAMC/1.5\r\nUser: {}\r\n\r\n", "x".repeat(MAX_LINE));
        let e = read_request(&mut BufReader::new(long.as_bytes()), &config)
            .await
            .unwrap_err();
        assert_eq!(e.text, "line too long");
        let many = format!(
            "CHECK SPAMC/1.5\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        let e = read_request(&mut BufReader::new(many.as_bytes()), &config)
            .await
            .unwrap_err();
        assert_eq!(e.text, "too many headers");
    }

    #[test]
    fn the_header_section_ends_at_the_blank_line() {
        assert_eq!(header_section_end(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_section_end(b"A: b\n\nbody"), 6);
        assert_eq!(header_section_end(b"A: b\r\n"), 6);
    }
}

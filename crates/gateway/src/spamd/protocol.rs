//! The spamd protocol's wire format (SpamAssassin's `spamd/PROTOCOL`, SPAMC/1.5), without I/O:
//! the request line and headers a client sends, and the replies we write.

use std::fmt::Write as _;

/// What a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Is it spam: a `Spam:` header, no body.
    Check,
    /// As Check, and the names of the symbols that fired.
    Symbols,
    /// As Check, and a report a person can read.
    Report,
    /// As Report, the report only when the message is spam.
    ReportIfSpam,
    /// The message as it should be delivered (our headers added, the subject tagged).
    Process,
    /// As Process, the header section only.
    Headers,
    Ping,
    /// Nothing: the client changed its mind.
    Skip,
    /// Learn the message as spam or ham (`spamc -L`).
    Tell,
}

impl Command {
    fn parse(word: &str) -> Option<Command> {
        Some(match word {
            "CHECK" => Command::Check,
            "SYMBOLS" => Command::Symbols,
            "REPORT" => Command::Report,
            "REPORT_IFSPAM" => Command::ReportIfSpam,
            "PROCESS" => Command::Process,
            "HEADERS" => Command::Headers,
            "PING" => Command::Ping,
            "SKIP" => Command::Skip,
            "TELL" => Command::Tell,
            _ => return None,
        })
    }

    /// Whether a message body follows the headers.
    pub fn has_message(self) -> bool {
        !matches!(self, Command::Ping | Command::Skip)
    }
}

/// A request's line and headers (the message itself is read after them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub command: Command,
    pub content_length: Option<usize>,
    /// The user the message is for (spamc sends its Unix user, or `-u`): an address when the
    /// MTA passes the recipient, which is what per-user exceptions need.
    pub user: Option<String>,
    /// TELL: what the message is.
    pub message_class: Option<MessageClass>,
    /// TELL: `Set: local` (learn) and `Remove: local` (forget).
    pub set_local: bool,
    pub remove_local: bool,
    /// `Compress: zlib` (spamc -z), which we do not accept.
    pub compressed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageClass {
    Spam,
    Ham,
}

/// Why a request cannot be served, with the spamd exit code it is answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct ProtocolError {
    pub code: ExitCode,
    pub text: String,
}

impl ProtocolError {
    pub fn new(code: ExitCode, text: impl Into<String>) -> ProtocolError {
        ProtocolError {
            code,
            text: text.into(),
        }
    }
}

/// The sysexits codes spamd answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok,
    DataErr,
    Unavailable,
    Software,
    TempFail,
    Protocol,
    Timeout,
}

impl ExitCode {
    fn number_and_name(self) -> (u8, &'static str) {
        match self {
            ExitCode::Ok => (0, "EX_OK"),
            ExitCode::DataErr => (65, "EX_DATAERR"),
            ExitCode::Unavailable => (69, "EX_UNAVAILABLE"),
            ExitCode::Software => (70, "EX_SOFTWARE"),
            ExitCode::TempFail => (75, "EX_TEMPFAIL"),
            ExitCode::Protocol => (76, "EX_PROTOCOL"),
            ExitCode::Timeout => (79, "EX_TIMEOUT"),
        }
    }
}

/// Reads the request line: `COMMAND SPAMC/1.x`.
pub fn parse_request_line(line: &str) -> Result<Command, ProtocolError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (word, version) = line
        .split_once(' ')
        .ok_or_else(|| ProtocolError::new(ExitCode::Protocol, "bad request line"))?;
    if !version.starts_with("SPAMC/1.") {
        return Err(ProtocolError::new(
            ExitCode::Protocol,
            "unsupported protocol version",
        ));
    }
    Command::parse(word).ok_or_else(|| ProtocolError::new(ExitCode::Protocol, "unknown command"))
}

impl Request {
    pub fn new(command: Command) -> Request {
        Request {
            command,
            content_length: None,
            user: None,
            message_class: None,
            set_local: false,
            remove_local: false,
            compressed: false,
        }
    }

    /// Reads one header line (`Name: value`); unknown headers are ignored, as spamd does.
    pub fn header(&mut self, line: &str) -> Result<(), ProtocolError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ProtocolError::new(ExitCode::Protocol, "bad header line"))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = value
                    .parse()
                    .map_err(|_| ProtocolError::new(ExitCode::Protocol, "bad Content-length"))?;
                self.content_length = Some(n);
            }
            "user" => self.user = Some(value.chars().take(320).collect()),
            "message-class" => {
                self.message_class = Some(match value.to_ascii_lowercase().as_str() {
                    "spam" => MessageClass::Spam,
                    "ham" => MessageClass::Ham,
                    _ => return Err(ProtocolError::new(ExitCode::Protocol, "bad Message-class")),
                })
            }
            "set" => self.set_local |= has_local(value),
            "remove" => self.remove_local |= has_local(value),
            "compress" => self.compressed = true,
            _ => {}
        }
        Ok(())
    }
}

/// `Set:`/`Remove:` name databases: `local` (ours) and `remote` (shared reporting services,
/// which we do not report to).
fn has_local(value: &str) -> bool {
    value
        .split(',')
        .any(|d| d.trim().eq_ignore_ascii_case("local"))
}

/// A reply: status, headers, optional body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub code: ExitCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            code: ExitCode::Ok,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn error(e: &ProtocolError) -> Reply {
        Reply {
            code: e.code,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `Spam: True ; 7.3 / 6.0`.
    pub fn with_verdict(mut self, spam: bool, score: f64, threshold: f64) -> Reply {
        self.headers.push((
            "Spam",
            format!(
                "{} ; {score:.1} / {threshold:.1}",
                if spam { "True" } else { "False" }
            ),
        ));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes on the wire. Errors carry only the code's name: what failed inside is logged,
    /// never told to the client.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (number, name) = self.code.number_and_name();
        let mut head = format!("SPAMD/1.1 {number} {name}\r\n");
        if self.code == ExitCode::Ok {
            let _ = write!(head, "Content-length: {}\r\n", self.body.len());
        }
        for (n, v) in &self.headers {
            let _ = write!(head, "{n}: {v}\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// The answer to PING.
pub const PONG: &[u8] = b"SPAMD/1.5 0 PONG\r\n";

/// One report line per symbol, as SpamAssassin's report lays them out: points, name,
/// description (wrapped lines indented under the description).
pub fn report_text(score: f64, threshold: f64, lines: &[(String, f64, String)]) -> String {
    let mut out = format!(
        "Content analysis details:   ({score:.1} points, {threshold:.1} required)\n\n pts rule name              description\n---- ---------------------- --------------------------------------------------\n"
    );
    for (name, points, description) in lines {
        let _ = writeln!(
            out,
            "{points:>4.1} {name:<22} {}",
            description.chars().take(200).collect::<String>()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_and_headers() {
        assert_eq!(
            parse_request_line("SYMBOLS SPAMC/1.5\r\n"),
            Ok(Command::Symbols)
        );
        assert_eq!(parse_request_line("PING SPAMC/1.2\r\n"), Ok(Command::Ping));
        for bad in [
            "",
            "CHECK",
            "CHECK HTTP/1.1",
            "FROB SPAMC/1.5",
            "CHECK  SPAMC/1.5",
        ] {
            assert_eq!(
                parse_request_line(bad).unwrap_err().code,
                ExitCode::Protocol,
                "{bad:?}"
            );
        }
        let mut r = Request::new(Command::Tell);
        for h in [
            "Content-length: 42\r\n",
            "User: Bob@Corp.example\r\n",
            "Message-class: spam\r\n",
            "Set: local, remote\r\n",
            "X-Unknown: ignored\r\n",
        ] {
            r.header(h).unwrap();
        }
        assert_eq!(r.content_length, Some(42));
        assert_eq!(r.user.as_deref(), Some("Bob@Corp.example"));
        assert_eq!(r.message_class, Some(MessageClass::Spam));
        assert!(r.set_local && !r.remove_local);
        assert!(r.header("Content-length: -1").is_err());
        assert!(r.header("Content-length: 1e9").is_err());
        assert!(r.header("no colon").is_err());
        assert!(r.header("Message-class: maybe").is_err());
    }

    #[test]
    fn replies_as_spamc_reads_them() {
        let reply = Reply::ok().with_verdict(true, 7.31, 6.0);
        assert_eq!(
            reply.to_bytes(),
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: True ; 7.3 / 6.0\r\n\r\n"
        );
        let reply = Reply::ok()
            .with_verdict(false, -1.0, 6.0)
            .with_body(b"A,B".to_vec());
        assert_eq!(
            reply.to_bytes(),
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 3\r\nSpam: False ; -1.0 / 6.0\r\n\r\nA,B"
        );
        let e = ProtocolError::new(ExitCode::Protocol, "bad header line: details");
        assert_eq!(
            Reply::error(&e).to_bytes(),
            b"SPAMD/1.1 76 EX_PROTOCOL\r\n\r\n",
            "no internals on the wire"
        );
    }

    #[test]
    fn reports_line_up_like_spamassassins() {
        let text = report_text(
            7.3,
            6.0,
            &[(
                "URL_SHORTENER".into(),
                2.5,
                "A link through a shortener".into(),
            )],
        );
        assert!(text.contains("(7.3 points, 6.0 required)"));
        assert!(text.contains(" 2.5 URL_SHORTENER          A link through a shortener\n"));
    }
}

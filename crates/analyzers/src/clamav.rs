//! ClamAV through `clamd`: objects are streamed with INSTREAM over a unix or TCP socket on
//! this host, on connections kept open in ID sessions (`zIDSESSION`) and reused, each request
//! within a deadline. clamd down, slow or answering nonsense is an answer too: the caller
//! records it and the message moves on by policy.

use std::io::{Read, Write};
use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[analyzers.clamav]`: ClamAV's daemon as a second opinion on attachments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClamavConfig {
    pub enabled: bool,
    /// clamd's socket: `unix:/run/clamav/clamd.ctl` (Debian's default) or `tcp:127.0.0.1:3310`.
    pub address: String,
    /// Time for one object's round trip (connect, send, verdict).
    pub timeout_ms: u64,
    /// Time for all of one message's objects; what is left unscanned is recorded.
    pub message_budget_ms: u64,
    /// Objects sent per message at most: each attachment, then the programs, scripts and
    /// documents the walk unpacks from it (clamd opens ordinary archives itself; these are
    /// what it may not reach: encrypted archives we opened, formats it does not read).
    pub max_objects: usize,
    /// Larger objects are not sent (keep at or below clamd's StreamMaxLength).
    pub max_object_bytes: u64,
    /// Connections kept open for reuse.
    pub pool_size: usize,
    /// When clamd cannot give an answer: "pass" records AV_FAILED and goes on; "tempfail"
    /// records AV_FAILED_TEMPFAIL, which asks the sender to try again later.
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    Pass,
    Tempfail,
}

impl Default for ClamavConfig {
    fn default() -> Self {
        ClamavConfig {
            enabled: false,
            address: "unix:/run/clamav/clamd.ctl".to_string(),
            timeout_ms: 5000,
            message_budget_ms: 15000,
            max_objects: 32,
            max_object_bytes: 25 << 20,
            pool_size: 8,
            on_failure: OnFailure::Pass,
        }
    }
}

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    #[cfg(unix)]
    Unix(PathBuf),
    Tcp(String),
}

impl ClamdAddress {
    pub fn parse(text: &str) -> Result<ClamdAddress, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            #[cfg(unix)]
            return Ok(ClamdAddress::Unix(PathBuf::from(path)));
            #[cfg(not(unix))]
            return Err(format!("unix sockets are not available here: {path}"));
        }
        match text.strip_prefix("tcp:") {
            Some(addr) if !addr.is_empty() => Ok(ClamdAddress::Tcp(addr.to_string())),
            _ => Err(format!(
                "{text:?}: write unix:/path/to/clamd.ctl or tcp:127.0.0.1:3310"
            )),
        }
    }
}

/// What clamd said of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdVerdict {
    Clean,
    /// A signature matched: its name.
    Found(String),
}

/// Why there is no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClamdError {
    #[error("cannot reach clamd at {address}: {why}")]
    Unreachable { address: String, why: String },
    #[error("clamd did not answer within {0} ms")]
    Timeout(u64),
    #[error("clamd answered {0:?}")]
    Refused(String),
}

/// A client with a pool of open sessions.
pub struct Clamd {
    address: ClamdAddress,
    timeout: Duration,
    pool_size: usize,
    idle: Mutex<Vec<Session>>,
}

impl std::fmt::Debug for Clamd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clamd")
            .field("address", &self.address)
            .finish()
    }
}

enum Stream {
    #[cfg(unix)]
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn set_timeouts(&self, t: Duration) -> std::io::Result<()> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

/// One connection in clamd's ID-session mode: replies carry the request's number.
struct Session {
    stream: Stream,
    next_id: u64,
    /// Bytes read past the last reply.
    pending: Vec<u8>,
}

/// clamd's reply to an INSTREAM: "stream: OK", "stream: NAME FOUND", "... ERROR".
fn parse_reply(reply: &str) -> Result<ClamdVerdict, ClamdError> {
    let body = reply.strip_prefix("stream: ").unwrap_or(reply).trim();
    if body == "OK" {
        return Ok(ClamdVerdict::Clean);
    }
    if let Some(name) = body.strip_suffix(" FOUND") {
        return Ok(ClamdVerdict::Found(name.trim().to_string()));
    }
    Err(ClamdError::Refused(body.chars().take(200).collect()))
}

impl Clamd {
    pub fn new(config: &ClamavConfig) -> Result<Clamd, String> {
        Ok(Clamd {
            address: ClamdAddress::parse(&config.address)?,
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            pool_size: config.pool_size,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn address_text(&self) -> String {
        match &self.address {
            #[cfg(unix)]
            ClamdAddress::Unix(p) => format!("unix:{}", p.display()),
            ClamdAddress::Tcp(a) => format!("tcp:{a}"),
        }
    }

    /// A plain connection with its deadline set.
    fn open(&self, deadline: Duration) -> Result<Stream, ClamdError> {
        let unreachable = |e: std::io::Error| ClamdError::Unreachable {
            address: self.address_text(),
            why: e.to_string(),
        };
        let stream = match &self.address {
            #[cfg(unix)]
            ClamdAddress::Unix(p) => Stream::Unix(UnixStream::connect(p).map_err(unreachable)?),
            ClamdAddress::Tcp(a) => {
                let addr = std::net::ToSocketAddrs::to_socket_addrs(a)
                    .map_err(unreachable)?
                    .next()
                    .ok_or_else(|| ClamdError::Unreachable {
                        address: self.address_text(),
                        why: "no address".to_string(),
                    })?;
                Stream::Tcp(TcpStream::connect_timeout(&addr, deadline).map_err(unreachable)?)
            }
        };
        stream.set_timeouts(deadline).map_err(unreachable)?;
        Ok(stream)
    }

    /// A connection in clamd's ID-session mode, for many requests.
    fn connect(&self, deadline: Duration) -> Result<Session, ClamdError> {
        let stream = self.open(deadline)?;
        let unreachable = |e: std::io::Error| ClamdError::Unreachable {
            address: self.address_text(),
            why: e.to_string(),
        };
        let mut session = Session {
            stream,
            next_id: 1,
            pending: Vec::new(),
        };
        session
            .stream
            .write_all(b"zIDSESSION\0")
            .map_err(unreachable)?;
        Ok(session)
    }

    /// Asks clamd about one object: on a pooled session when one is open (a session clamd
    /// has closed meanwhile is replaced once), else on a new one.
    pub fn scan(&self, data: &[u8]) -> Result<ClamdVerdict, ClamdError> {
        self.scan_within(data, self.timeout)
    }

    /// `scan` with a deadline shorter than the configured one (what a message has left).
    pub fn scan_within(&self, data: &[u8], deadline: Duration) -> Result<ClamdVerdict, ClamdError> {
        let deadline = deadline.min(self.timeout).max(Duration::from_millis(1));
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let started = Instant::now();
        if let Some(mut session) = pooled {
            if session.stream.set_timeouts(deadline).is_ok() {
                match session.instream(data) {
                    Ok(verdict) => {
                        self.give_back(session);
                        return Ok(verdict);
                    }
                    // A reply that came is final, and so is a clamd too slow to answer; only
                    // a connection clamd closed while idle earns a fresh one.
                    Err(SessionError::Reply(e)) => return Err(e),
                    Err(SessionError::Io(e)) if is_timeout(&e) => {
                        return Err(ClamdError::Timeout(deadline.as_millis() as u64))
                    }
                    Err(SessionError::Io(_)) => {}
                }
            }
        }
        let left = deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(ClamdError::Timeout(deadline.as_millis() as u64));
        }
        let mut session = self.connect(left)?;
        match session.instream(data) {
            Ok(verdict) => {
                self.give_back(session);
                Ok(verdict)
            }
            Err(SessionError::Reply(e)) => Err(e),
            Err(SessionError::Io(e)) if is_timeout(&e) => {
                Err(ClamdError::Timeout(deadline.as_millis() as u64))
            }
            Err(SessionError::Io(e)) => Err(ClamdError::Unreachable {
                address: self.address_text(),
                why: e.to_string(),
            }),
        }
    }

    /// clamd's version line (`zVERSION`), which also proves it answers.
    pub fn version(&self) -> Result<String, ClamdError> {
        let mut session = self.connect(self.timeout)?;
        let reply = session.command(b"zVERSION\0").map_err(|e| match e {
            SessionError::Reply(e) => e,
            SessionError::Io(e) => ClamdError::Unreachable {
                address: self.address_text(),
                why: e.to_string(),
            },
        })?;
        self.give_back(session);
        Ok(reply)
    }

    /// Asks clamd to read its signature databases again (`zRELOAD`), after new ones were
    /// copied in.
    pub fn reload(&self) -> Result<(), ClamdError> {
        // RELOAD is refused inside an ID session: one plain request.
        let mut session = Session {
            stream: self.open(self.timeout)?,
            next_id: 0,
            pending: Vec::new(),
        };
        let reply = session.command(b"zRELOAD\0").map_err(|e| match e {
            SessionError::Reply(e) => e,
            SessionError::Io(e) => ClamdError::Unreachable {
                address: self.address_text(),
                why: e.to_string(),
            },
        })?;
        if reply.trim() == "RELOADING" {
            Ok(())
        } else {
            Err(ClamdError::Refused(reply))
        }
    }

    fn give_back(&self, session: Session) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.pool_size {
            idle.push(session);
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

enum SessionError {
    Io(std::io::Error),
    Reply(ClamdError),
}

impl From<std::io::Error> for SessionError {
    fn from(e: std::io::Error) -> Self {
        SessionError::Io(e)
    }
}

/// clamd's own ceiling on one reply line; a longer one is not clamd.
const MAX_REPLY: usize = 4096;
/// INSTREAM chunk size.
const CHUNK: usize = 64 << 10;

impl Session {
    fn instream(&mut self, data: &[u8]) -> Result<ClamdVerdict, SessionError> {
        let id = self.next_id;
        self.next_id += 1;
        self.stream.write_all(b"zINSTREAM\0")?;
        for chunk in data.chunks(CHUNK) {
            self.stream.write_all(&(chunk.len() as u32).to_be_bytes())?;
            self.stream.write_all(chunk)?;
        }
        self.stream.write_all(&0u32.to_be_bytes())?;
        let reply = self.reply()?;
        let body = reply
            .strip_prefix(&format!("{id}: "))
            .ok_or_else(|| SessionError::Reply(ClamdError::Refused(reply.clone())))?;
        parse_reply(body).map_err(SessionError::Reply)
    }

    fn command(&mut self, command: &[u8]) -> Result<String, SessionError> {
        let id = self.next_id;
        self.next_id += 1;
        self.stream.write_all(command)?;
        let reply = self.reply()?;
        Ok(reply
            .strip_prefix(&format!("{id}: "))
            .unwrap_or(&reply)
            .to_string())
    }

    /// One NUL-terminated reply.
    fn reply(&mut self) -> Result<String, SessionError> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == 0) {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if self.pending.len() > MAX_REPLY {
                return Err(SessionError::Reply(ClamdError::Refused(
                    "an over-long reply".to_string(),
                )));
            }
            let mut buf = [0u8; 1024];
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(SessionError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "clamd closed the connection",
                )));
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_addresses_read_as_clamd_writes_them() {
        assert_eq!(parse_reply("stream: OK"), Ok(ClamdVerdict::Clean));
        assert_eq!(
            parse_reply("stream: Eicar-Signature FOUND"),
            Ok(ClamdVerdict::Found("Eicar-Signature".into()))
        );
        assert!(matches!(
            parse_reply("INSTREAM size limit exceeded. ERROR"),
            Err(ClamdError::Refused(_))
        ));
        assert_eq!(
            ClamdAddress::parse("tcp:127.0.0.1:3310"),
            Ok(ClamdAddress::Tcp("127.0.0.1:3310".into()))
        );
        assert!(ClamdAddress::parse("127.0.0.1:3310").is_err());
    }

    #[test]
    fn nothing_listening_is_an_error_not_a_wait() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let clamd = Clamd::new(&ClamavConfig {
            address: format!("tcp:127.0.0.1:{port}"),
            timeout_ms: 500,
            ..ClamavConfig::default()
        })
        .unwrap();
        assert!(matches!(
            clamd.scan(b"x"),
            Err(ClamdError::Unreachable { .. })
        ));
    }

    #[test]
    fn a_clamd_that_never_answers_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and reads, never answers.
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
        });
        let clamd = Clamd::new(&ClamavConfig {
            address: format!("tcp:127.0.0.1:{port}"),
            timeout_ms: 300,
            ..ClamavConfig::default()
        })
        .unwrap();
        let started = Instant::now();
        assert_eq!(clamd.scan(b"x"), Err(ClamdError::Timeout(300)));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

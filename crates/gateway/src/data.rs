//! The DATA phase: de-stuffing, the end-of-data mark, the size limit, and SMTP smuggling.
//!
//! Only CRLF "." CRLF ends a message. A dot line reached through a bare LF or a bare CR
//! ("\n.\r\n", "\r.\r\n", "\n.\n"…) is how SMTP smuggling hides a second message inside the
//! first for servers that do end there; such a message is refused, never split.

/// Collects one message from the bytes after the 354 reply.
pub struct DataReader {
    body: Vec<u8>,
    /// The last two bytes seen (a virtual CRLF before the first byte: a message may start with
    /// a dot line).
    last: [u8; 2],
    state: State,
    /// Bytes received (before de-stuffing), to enforce the size limit.
    received: usize,
    limit: usize,
    /// A dot line reached through a bare CR or LF.
    pub smuggling: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Normal,
    /// CRLF "." seen: the end mark, or a stuffed dot.
    DotAtLineStart,
    /// CRLF "." CR seen: the end mark if LF follows.
    DotCr,
    /// A dot right after a bare CR or LF: smuggling if CR or LF follows.
    BareDot,
}

pub enum Progress {
    /// Feed more bytes.
    More,
    /// The end mark was read; the bytes from `rest_from` on (pipelined commands) are not part
    /// of the message.
    Done { rest_from: usize },
}

impl DataReader {
    pub fn new(limit: usize) -> DataReader {
        DataReader {
            body: Vec::with_capacity(64 * 1024),
            last: [b'\r', b'\n'],
            state: State::Normal,
            received: 0,
            limit,
            smuggling: false,
        }
    }

    /// True when the message grew past the limit (the rest is read and discarded).
    pub fn too_big(&self) -> bool {
        self.received > self.limit
    }

    pub fn into_message(mut self) -> Vec<u8> {
        // The CRLF before the end mark belongs to the last line.
        if !self.body.is_empty() && !self.body.ends_with(b"\r\n") {
            self.body.extend_from_slice(b"\r\n");
        }
        self.body
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Progress {
        for (i, &b) in bytes.iter().enumerate() {
            self.received += 1;
            match std::mem::replace(&mut self.state, State::Normal) {
                State::DotCr => {
                    if b == b'\n' {
                        return Progress::Done { rest_from: i + 1 };
                    }
                    // CRLF "." CR and something else: a bare CR after a dot line.
                    self.smuggling = true;
                    self.push(b'.');
                    self.push(b'\r');
                    self.last = [b'.', b'\r'];
                }
                State::DotAtLineStart => match b {
                    b'\r' => {
                        self.state = State::DotCr;
                        continue;
                    }
                    b'\n' => {
                        // "." LF: a bare-LF end mark.
                        self.smuggling = true;
                        self.push(b'.');
                    }
                    // RFC 5321 4.5.2: the leading dot is removed (".." keeps one).
                    _ => {}
                },
                State::BareDot => {
                    if b == b'\r' || b == b'\n' {
                        self.smuggling = true;
                    }
                }
                State::Normal => {
                    if b == b'.' {
                        if self.last == [b'\r', b'\n'] {
                            self.state = State::DotAtLineStart;
                            self.last = [b'\n', b'.'];
                            continue;
                        }
                        if self.last[1] == b'\n' || self.last[1] == b'\r' {
                            self.state = State::BareDot;
                        }
                    }
                }
            }
            self.push(b);
            self.last = [self.last[1], b];
        }
        Progress::More
    }

    fn push(&mut self, b: u8) {
        if self.received <= self.limit {
            self.body.push(b);
        }
    }
}

/// A message as an SMTP client sends it after 354: CRLF line endings, dot-stuffed, with the
/// end-of-data mark (what [`DataReader`] undoes).
pub fn wire_form(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]]) -> (Vec<u8>, bool, usize) {
        let mut r = DataReader::new(1 << 20);
        for (n, c) in chunks.iter().enumerate() {
            if let Progress::Done { rest_from } = r.feed(c) {
                let smuggling = r.smuggling;
                assert_eq!(n, chunks.len() - 1, "ended early");
                return (r.into_message(), smuggling, c.len() - rest_from);
            }
        }
        panic!("no end mark in {chunks:?}");
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_unstuffs() {
        let (m, s, rest) = read(&[b"Subject: a\r\n\r\nhi\r\n..x\r\n.y\r\n", b".\r\nQUIT\r\n"]);
        assert_eq!(m, b"Subject: a\r\n\r\nhi\r\n.x\r\ny\r\n");
        assert!(!s);
        assert_eq!(rest, 6, "pipelined QUIT is left for the command reader");
        let (m, _, _) = read(&[b".\r\n"]);
        assert!(m.is_empty(), "an empty message");
        // The end mark split across reads.
        let (m, _, _) = read(&[b"a\r\n", b".", b"\r", b"\n"]);
        assert_eq!(m, b"a\r\n");
    }

    #[test]
    fn published_smuggling_payloads_never_end_the_message() {
        // From the SEC Consult SMTP smuggling research: each hides a second transaction.
        for payload in [
            &b"\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"[..],
            b"\n.\nMAIL FROM:<a@b.example>\r\n",
            b"\r.\r\nMAIL FROM:<a@b.example>\r\n",
            b"\r.\rMAIL FROM:<a@b.example>\r\n",
            b"\r\n.\nMAIL FROM:<a@b.example>\r\n",
            b"\r\n.\rMAIL FROM:<a@b.example>\r\n",
        ] {
            let mut body = b"Subject: x\r\n\r\nhello".to_vec();
            body.extend_from_slice(payload);
            let (m, smuggling, rest) = read(&[&body, b"\r\n.\r\n"]);
            assert!(smuggling, "flagged: {:?}", String::from_utf8_lossy(payload));
            assert_eq!(rest, 0);
            assert!(
                m.windows(9).any(|w| w == b"MAIL FROM"),
                "kept in one message"
            );
        }
    }

    #[test]
    fn wire_form_and_reader_are_inverses() {
        let message = b"Subject: x\n\n.leading dot\n..two\nlast line".to_vec();
        let wire = wire_form(&message);
        assert!(wire.ends_with(b"\r\n.\r\n"));
        let (back, smuggling, rest) = read(&[&wire]);
        assert!(!smuggling);
        assert_eq!(rest, 0);
        assert_eq!(
            back,
            b"Subject: x\r\n\r\n.leading dot\r\n..two\r\nlast line\r\n"
        );
    }

    #[test]
    fn size_limit_keeps_reading_but_stops_storing() {
        let mut r = DataReader::new(10);
        assert!(matches!(r.feed(b"0123456789abcdef\r\n"), Progress::More));
        assert!(matches!(r.feed(b".\r\n"), Progress::Done { .. }));
        assert!(r.too_big());
    }
}

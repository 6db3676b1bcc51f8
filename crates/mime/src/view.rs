use std::net::IpAddr;

use mailmoat_core::Location;
use serde::{Deserialize, Serialize};

/// What the SMTP session said about the message, when known (the gateway knows all of it; a scan
/// of stored mail may know only the mbox sender).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Envelope {
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    pub client_ip: Option<IpAddr>,
    pub helo: Option<String>,
    /// When the message was received (Unix seconds); date checks compare with it.
    pub received_at: Option<i64>,
}

/// Limits and site facts the view builder needs: the `[message]` section of the config file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewOptions {
    /// Networks whose Received hops are ours (skipped when looking for the first external hop).
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// MIME nesting beyond this is not descended into (recorded as a problem).
    pub max_depth: usize,
    /// At most this many URLs are kept per message.
    pub max_urls: usize,
    /// HTML beyond this many bytes per part is not rendered to text.
    pub max_html_bytes: usize,
    /// MIME parts (and nested messages) parsed; the bytes from the next part's `Content-Type`
    /// on are kept but not parsed (MIME_PARSE_LIMIT). It also bounds nesting, since each level
    /// needs a `Content-Type` of its own.
    pub max_parts: usize,
    /// Header fields parsed in the top header section; more is MIME_PARSE_LIMIT.
    pub max_header_fields: usize,
    /// Bytes in one line; the parser stops before a longer one (MIME_PARSE_LIMIT).
    pub max_line_bytes: usize,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            trusted_networks: Vec::new(),
            max_depth: 30,
            max_urls: 2000,
            max_html_bytes: 4 << 20,
            max_parts: 1000,
            max_header_fields: 1000,
            max_line_bytes: 1 << 20,
        }
    }
}

/// One header field as it appeared, and decoded (RFC 2047 encoded-words in any charset).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeaderField {
    pub name: String,
    /// The value as on the wire (folding kept, bytes read as UTF-8 where possible).
    pub raw: String,
    /// The value unfolded and decoded.
    pub decoded: String,
}

/// An address with its display name, as in From, To, Reply-To.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

impl Mailbox {
    /// The domain part, lower-cased.
    pub fn domain(&self) -> Option<String> {
        let addr = self.address.as_deref()?;
        let at = addr.rfind('@')?;
        let domain = addr[at + 1..].trim().trim_end_matches('.');
        (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
    }

    /// The local part (before the last `@`).
    pub fn local_part(&self) -> Option<&str> {
        let addr = self.address.as_deref()?;
        addr.rfind('@').map(|at| &addr[..at])
    }

    /// True when a non-blank display name is present.
    pub fn has_display_name(&self) -> bool {
        self.name.as_deref().is_some_and(|n| !n.trim().is_empty())
    }
}

/// One Received hop, most recent first in [`MessageView::received`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReceivedHop {
    pub raw: String,
    pub from_host: Option<String>,
    pub from_ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub by_host: Option<String>,
    pub protocol: Option<String>,
    pub tls: bool,
    pub date: Option<i64>,
}

/// Which kind of text a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextKind {
    Plain,
    Html,
}

/// A text body part, decoded; for HTML, the text a reader sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextBody {
    pub location: Location,
    pub kind: TextKind,
    /// Decoded text (plain) or visible text (HTML).
    pub text: String,
    /// For HTML: text present in the markup but hidden from the reader (display:none,
    /// zero-size fonts, same colour as the background…).
    pub hidden_text: String,
    /// For HTML: the decoded markup (kept for later analysers).
    #[serde(skip)]
    pub html: Option<String>,
    /// For HTML: the text of its `<title>` elements, which a reader does not see in the page.
    #[serde(skip)]
    pub html_titles: Vec<String>,
    /// The multipart/alternative this part belongs to, so text and HTML twins can be compared.
    pub alternative_group: Option<usize>,
    pub charset: Option<String>,
}

/// Where a URL was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSource {
    Text,
    Href,
    Src,
    FormAction,
    MetaRefresh,
    Background,
    /// Decoded from a QR code in an image.
    QrCode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlRef {
    /// The URL as written (entities decoded, surrounding space removed).
    pub url: String,
    /// Lower-cased host, when the URL parses and has one.
    pub host: Option<String>,
    pub source: UrlSource,
    /// For links: the text shown to the reader.
    pub anchor_text: Option<String>,
    pub location: Location,
}

/// An attachment or inline non-text part (images, files, nested messages' attachments).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    pub location: Location,
    pub file_name: Option<String>,
    /// The declared Content-Type, lower-cased `type/subtype`.
    pub content_type: String,
    /// What the bytes look like (magic numbers), when recognised.
    pub sniffed_type: Option<&'static str>,
    pub inline: bool,
    pub size: usize,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// Every MIME part in tree order, nested messages included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartInfo {
    pub location: Location,
    /// IMAP-style part number, e.g. `1.2` (`1` for a single-part body).
    pub number: String,
    pub content_type: String,
    pub depth: usize,
    pub size: usize,
    pub file_name: Option<String>,
}

/// A message/rfc822 part's own headers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddedMessage {
    pub location: Location,
    pub subject: Option<String>,
    pub from: Vec<Mailbox>,
    pub headers: Vec<HeaderField>,
}

/// Something that could not be parsed cleanly. The rest of the message is still in the view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// Nothing parseable as a message (empty, binary, no headers).
    Unparseable,
    /// Header section damaged: lines without a colon, NUL bytes, no blank line before the body.
    BadHeader,
    /// multipart without boundary, boundary never closed, part bodies that fail to decode.
    BadMime,
    /// Content-Transfer-Encoding data that does not decode.
    BadEncoding,
    /// A charset nobody knows; text was read as UTF-8 with replacements.
    UnknownCharset,
    /// Deeper than [`ViewOptions::max_depth`].
    TooDeep,
    /// Something was cut to stay within a limit (URLs, HTML bytes).
    Truncated,
    /// The message's structure goes beyond what is parsed (parts, header fields, line length):
    /// the rest was kept but not analysed.
    OverLimit,
}

/// The read-only view of one message. Built once; every detector reads it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MessageView {
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub envelope: Envelope,
    /// Top-level header fields in order.
    pub headers: Vec<HeaderField>,
    pub subject: Option<String>,
    pub from: Vec<Mailbox>,
    pub sender: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub return_path: Option<String>,
    pub message_id: Option<String>,
    /// The Date header as Unix seconds, when it parses.
    pub date: Option<i64>,
    /// Most recent hop first.
    pub received: Vec<ReceivedHop>,
    /// Index in `received` of the hop where the message entered from outside.
    pub external_hop: Option<usize>,
    pub parts: Vec<PartInfo>,
    pub texts: Vec<TextBody>,
    pub urls: Vec<UrlRef>,
    pub attachments: Vec<Attachment>,
    pub embedded_messages: Vec<EmbeddedMessage>,
    pub problems: Vec<Problem>,
    /// Deepest MIME nesting seen (1 for a single-part message).
    pub max_depth: usize,
}

impl MessageView {
    /// The view of a message with no envelope and the default options (tools and tests).
    pub fn from_raw(raw: &[u8]) -> MessageView {
        MessageView::build(raw.to_vec(), Envelope::default(), &ViewOptions::default())
    }

    /// All header fields with this name (case-insensitive), in order.
    pub fn headers_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a HeaderField> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    }

    /// The first header field with this name.
    pub fn header(&self, name: &str) -> Option<&HeaderField> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The hop where the message entered from outside, if the Received chain shows one.
    pub fn first_external_hop(&self) -> Option<&ReceivedHop> {
        self.external_hop.and_then(|i| self.received.get(i))
    }

    /// The connecting client: the envelope's, else the first external hop's.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.envelope
            .client_ip
            .or_else(|| self.first_external_hop().and_then(|h| h.from_ip))
    }

    /// The time the message is judged at: when it was received, else the newest Received date.
    pub fn reference_time(&self) -> Option<i64> {
        self.envelope
            .received_at
            .or_else(|| self.received.iter().find_map(|h| h.date))
    }

    /// Visible text of every body part, in order.
    pub fn visible_text(&self) -> impl Iterator<Item = &str> {
        self.texts.iter().map(|t| t.text.as_str())
    }

    /// The header section's raw bytes (up to the blank line).
    pub fn raw_headers(&self) -> &[u8] {
        let end = memchr::memmem::find(&self.raw, b"\r\n\r\n")
            .map(|p| p + 2)
            .or_else(|| memchr::memmem::find(&self.raw, b"\n\n").map(|p| p + 1))
            .unwrap_or(self.raw.len());
        &self.raw[..end]
    }

    pub(crate) fn problem(
        &mut self,
        kind: ProblemKind,
        detail: impl Into<String>,
        location: Location,
    ) {
        self.problems.push(Problem {
            kind,
            detail: detail.into(),
            location,
        });
    }
}

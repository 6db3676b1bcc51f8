//! Builds a [`MessageView`] from raw bytes with mail-parser, once per message.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use mailmoat_core::Location;

use crate::charset;
use crate::html;
use crate::limits;
use crate::received::{first_external, hop};
use crate::urls::{find_in_text, host_of};
use crate::{
    Attachment, EmbeddedMessage, Envelope, HeaderField, Mailbox, MessageView, PartInfo,
    ProblemKind, TextBody, TextKind, UrlRef, UrlSource, ViewOptions,
};

fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .with_date_headers()
            .with_address_headers()
            .with_message_ids()
            .header_text(HeaderName::Subject)
            .header_text(HeaderName::Comments)
            .header_received(HeaderName::Received)
            .header_id(HeaderName::ReturnPath)
            .header_address(HeaderName::ListUnsubscribe)
            .header_raw(HeaderName::MimeVersion)
            // Every other header is decoded as unstructured text (RFC 2047 in any charset).
            .default_header_text()
    })
}

impl MessageView {
    /// Builds the view. Never panics and never fails: problems are recorded in `problems`.
    pub fn build(raw: Vec<u8>, envelope: Envelope, options: &ViewOptions) -> MessageView {
        let mut view = MessageView {
            envelope,
            ..Default::default()
        };
        check_header_section(&raw, &mut view);
        let parsed_len = match limits::structural_cut(&raw, options) {
            Some(cut) => {
                view.problem(
                    ProblemKind::OverLimit,
                    format!(
                        "{}: the {} bytes from offset {} on were kept but not analysed",
                        cut.why,
                        raw.len() - cut.at,
                        cut.at
                    ),
                    Location::message(),
                );
                cut.at
            }
            None => raw.len(),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut scratch = MessageView::default();
            let original = &raw[..parsed_len];
            let mut mended = blank_short_date_zones(original);
            let mut parsed = parser().parse(mended.as_deref().unwrap_or(original));
            if let Some(closing) = parsed
                .as_ref()
                .and_then(|m| unclosed_multipart(m, original))
            {
                if let Some(message) = parsed.take() {
                    drop_flat(message);
                }
                let mut copy = mended.take().unwrap_or_else(|| original.to_vec());
                append_closing(&mut copy, &closing);
                mended = Some(copy);
                parsed = parser().parse(mended.as_deref().unwrap_or(original));
            }
            let built = match &parsed {
                Some(message) if !message.parts.is_empty() => {
                    let mut walker = Walker {
                        view: &mut scratch,
                        options,
                        original,
                    };
                    walker.top_level(message);
                    true
                }
                _ => false,
            };
            if let Some(message) = parsed {
                drop_flat(message);
            }
            built.then_some(scratch)
        }));
        match outcome {
            Ok(Some(scratch)) => merge(&mut view, scratch),
            Ok(None) => {
                view.problem(
                    ProblemKind::Unparseable,
                    "no message structure could be parsed",
                    Location::message(),
                );
                fallback_body(&raw, &mut view, options);
            }
            Err(_) => {
                view.problem(
                    ProblemKind::Unparseable,
                    "the MIME parser failed on this input",
                    Location::message(),
                );
                fallback_body(&raw, &mut view, options);
            }
        }
        view.raw = raw;
        view
    }
}

/// Drops a parsed message level by level: the derived drop recurses once per nested
/// `message/rfc822`, and the bounds keep that shallow, but a drop should never depend on them.
fn drop_flat(message: Message<'_>) {
    let mut pending = vec![message];
    while let Some(mut message) = pending.pop() {
        for part in &mut message.parts {
            if matches!(part.body, PartType::Message(_)) {
                if let PartType::Message(nested) = std::mem::take(&mut part.body) {
                    pending.push(nested);
                }
            }
        }
    }
}

/// Moves what the walker built into the view, keeping problems found before parsing.
fn merge(view: &mut MessageView, mut built: MessageView) {
    let mut problems = std::mem::take(&mut view.problems);
    problems.append(&mut built.problems);
    built.envelope = std::mem::take(&mut view.envelope);
    *view = built;
    view.problems = problems;
}

/// When nothing parses, the bytes are still read as text so content checks run.
fn fallback_body(raw: &[u8], view: &mut MessageView, options: &ViewOptions) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let location = Location::new("body");
    add_text_urls(view, &text, &location, options);
    view.texts.push(TextBody {
        location,
        kind: TextKind::Plain,
        text,
        hidden_text: String::new(),
        html: None,
        html_titles: Vec::new(),
        alternative_group: None,
        charset: None,
    });
    view.max_depth = view.max_depth.max(1);
}

/// Damage in the header section that mail-parser silently tolerates.
fn check_header_section(raw: &[u8], view: &mut MessageView) {
    let loc = Location::new("header");
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return; // Reported as unparseable later.
    }
    let head = &raw[..header_section_end(raw)];
    if memchr::memchr(0, head).is_some() {
        view.problem(
            ProblemKind::BadHeader,
            "NUL byte in the header section",
            loc.clone(),
        );
    }
    for (n, line) in head.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        if n == 0 && line.starts_with(b"From ") {
            continue; // mbox separator line
        }
        let colon = memchr::memchr(b':', line);
        let valid_name =
            colon.is_some_and(|c| c > 0 && line[..c].iter().all(|&b| (33..=126).contains(&b)));
        if !valid_name {
            let shown: String = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
            view.problem(
                ProblemKind::BadHeader,
                format!("header line {} is not a field: {shown:?}", n + 1),
                loc.clone(),
            );
            break;
        }
    }
}

struct Walker<'v, 'o> {
    view: &'v mut MessageView,
    options: &'o ViewOptions,
    /// The message as received; the parser may have read a mended copy of the same length
    /// (see `blank_short_date_zones`), so offsets point into both.
    original: &'o [u8],
}

/// Where the top-level header section ends: the first empty line, LF or CRLF, whichever
/// comes first (the whole input when there is none).
fn header_section_end(raw: &[u8]) -> usize {
    memchr::memmem::find(raw, b"\n\n")
        .into_iter()
        .chain(memchr::memmem::find(raw, b"\n\r\n"))
        .min()
        .unwrap_or(raw.len())
}

/// mail-parser 0.11.9 reads a top-level multipart whose closing delimiter (`--boundary--`) never
/// comes as one text part of the whole undecoded body, so a spam that simply stops after its
/// last part hid its HTML and links from every check. SpamAssassin and mail clients end the
/// last part at the end of the message; so does the parser, given a second time a copy with
/// the delimiter appended (every offset into the original stays valid). The missing closing
/// delimiter, when the top-level part is such a multipart; the boundary is the one the parser
/// read.
fn unclosed_multipart(message: &Message<'_>, original: &[u8]) -> Option<String> {
    let root = message.parts.first()?;
    let content_type = root.content_type()?;
    if !content_type.ctype().eq_ignore_ascii_case("multipart") {
        return None;
    }
    let boundary = content_type
        .attribute("boundary")
        .filter(|b| !b.is_empty())?;
    let body = &original[(root.offset_body as usize).min(original.len())..];
    let opening = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    (memchr::memmem::find(body, opening.as_bytes()).is_some()
        && memchr::memmem::find(body, closing.as_bytes()).is_none())
    .then_some(closing)
}

/// Appends a closing delimiter on a line of its own, with the message's own line ending.
fn append_closing(raw: &mut Vec<u8>, closing: &str) {
    let newline: &[u8] = if memchr::memmem::find(raw, b"\r\n").is_some() {
        b"\r\n"
    } else {
        b"\n"
    };
    raw.extend_from_slice(newline);
    raw.extend_from_slice(closing.as_bytes());
    raw.extend_from_slice(newline);
}

/// mail-parser 0.11.9 reads an obsolete time zone of one or two letters at the end of a Date
/// line ("… 8:04:54 PM", "… UT", "… Z") together with the line break after it, and then takes
/// the next header as part of the date: a real message's From vanished that way. The parser
/// gets a copy with such a word blanked (same length, so every offset still points into the
/// original, which the view keeps); `None` when the top-level header section has none.
fn blank_short_date_zones(raw: &[u8]) -> Option<Vec<u8>> {
    let header_end = header_section_end(raw);
    let mut blanks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut in_date = false;
    let mut start = 0;
    while start < header_end {
        let end = memchr::memchr(b'\n', &raw[start..header_end]).map_or(header_end, |i| start + i);
        let line = &raw[start..end];
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            in_date = line.contains(&b':')
                && (name.eq_ignore_ascii_case(b"date")
                    || name.eq_ignore_ascii_case(b"resent-date"));
        }
        if in_date {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let word = line
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            let before = line.len() - word;
            if (1..=2).contains(&word) && before > 0 && matches!(line[before - 1], b' ' | b'\t') {
                blanks.push(start + before..start + line.len());
            }
        }
        start = end + 1;
    }
    if blanks.is_empty() {
        return None;
    }
    let mut mended = raw.to_vec();
    for range in blanks {
        mended[range].fill(b' ');
    }
    Some(mended)
}

impl Walker<'_, '_> {
    fn top_level(&mut self, message: &Message<'_>) {
        let root = &message.parts[0];
        self.view.headers = header_fields(root, self.original);
        self.view.subject = message.subject().map(str::to_string);
        if let Some(h) = self.view.header("Subject") {
            if charset::has_own_decoder_words(&h.raw) {
                self.view.subject = Some(h.decoded.clone());
            }
        }
        self.view.from = self.addresses("From", || mailboxes(message.from()));
        self.view.sender = self.addresses("Sender", || mailboxes(message.sender()));
        self.view.to = self.addresses("To", || {
            message.all_to().flat_map(|a| mailboxes(Some(a))).collect()
        });
        self.view.cc = self.addresses("Cc", || {
            message.all_cc().flat_map(|a| mailboxes(Some(a))).collect()
        });
        self.view.reply_to = self.addresses("Reply-To", || mailboxes(message.reply_to()));
        // Not mail-parser's return_address(): that falls back to From, hiding a missing header.
        self.view.return_path = match root
            .headers
            .iter()
            .find(|h| h.name == HeaderName::ReturnPath)
            .map(|h| &h.value)
        {
            Some(HeaderValue::Text(t)) => Some(t.to_string()),
            Some(HeaderValue::TextList(list)) => list.last().map(|t| t.to_string()),
            _ => self
                .view
                .header("Return-Path")
                .map(|h| h.decoded.trim().trim_matches(['<', '>']).to_string()),
        };
        self.view.message_id = message.message_id().map(str::to_string);
        self.view.date = message
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp());
        for h in root.headers.iter() {
            if let HeaderValue::Received(r) = &h.value {
                let raw = raw_slice(&message.raw_message[..], h.offset_start, h.offset_end);
                self.view.received.push(hop(unfold(&raw), r));
            }
        }
        self.view.external_hop =
            first_external(&self.view.received, &self.options.trusted_networks);
        self.walk(message, 0, "1".to_string(), &Location::message(), 1, None);
    }

    /// Address fields as mail-parser read them, unless their encoded-words use a charset it
    /// misreads: then the words are re-encoded as UTF-8 and the field parsed again.
    fn addresses(&self, name: &str, parsed: impl FnOnce() -> Vec<Mailbox>) -> Vec<Mailbox> {
        let own: Vec<&HeaderField> = self
            .view
            .headers_named(name)
            .filter(|h| charset::has_own_decoder_words(&h.raw))
            .collect();
        if own.is_empty() {
            return parsed();
        }
        let mut synthetic = String::new();
        for h in self.view.headers_named(name) {
            synthetic.push_str(&format!(
                "{name}: {}\r\n",
                charset::reencode_words_as_utf8(&unfold(&h.raw))
            ));
        }
        synthetic.push_str("\r\n");
        let Some(message) = parser().parse(synthetic.as_bytes()) else {
            return parsed();
        };
        message
            .header_values(name)
            .filter_map(|v| v.as_address())
            .flat_map(|a| mailboxes(Some(a)))
            .collect()
    }

    fn walk(
        &mut self,
        message: &Message<'_>,
        part_id: u32,
        number: String,
        parent: &Location,
        depth: usize,
        alternative_group: Option<usize>,
    ) {
        let Some(part) = message.parts.get(part_id as usize) else {
            return;
        };
        // Parts without headers of their own (bare boundaries) escape the raw-byte bound.
        if self.view.parts.len() >= self.options.max_parts {
            if !self
                .view
                .problems
                .iter()
                .any(|p| p.kind == ProblemKind::OverLimit)
            {
                self.view.problem(
                    ProblemKind::OverLimit,
                    format!(
                        "more than {} MIME parts (max_parts); the rest were not analysed",
                        self.options.max_parts
                    ),
                    parent.clone(),
                );
            }
            return;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "text/plain".to_string())
            .to_ascii_lowercase();
        let file_name = part.attachment_name().map(|n| n.to_string());
        let is_text_type = matches!(part.body, PartType::Text(_) | PartType::Html(_));
        let disposition_attachment = part
            .content_disposition()
            .is_some_and(|d| d.is_attachment());
        // mail-parser files a damaged inline text part under attachments; a reader still sees it.
        let is_body = message.text_body.contains(&part_id)
            || message.html_body.contains(&part_id)
            || (is_text_type
                && file_name.is_none()
                && !disposition_attachment
                && !content_type.starts_with("multipart/"));
        let location = part_location(
            parent,
            &number,
            &content_type,
            file_name.as_deref(),
            is_body,
        );
        self.view.max_depth = self.view.max_depth.max(depth);
        self.view.parts.push(PartInfo {
            location: location.clone(),
            number: number.clone(),
            content_type: content_type.clone(),
            depth,
            size: part.len(),
            file_name: file_name.clone(),
        });
        if part.is_encoding_problem {
            self.view.problem(
                ProblemKind::BadEncoding,
                format!("part {number} ({content_type}) does not decode cleanly"),
                location.clone(),
            );
        }
        if depth > self.options.max_depth {
            self.view.problem(
                ProblemKind::TooDeep,
                format!(
                    "MIME nesting deeper than {} levels; not descended",
                    self.options.max_depth
                ),
                location,
            );
            return;
        }
        match &part.body {
            PartType::Multipart(children) => {
                if let Some(boundary) = part.content_type().and_then(|ct| ct.attribute("boundary"))
                {
                    let closing = format!("--{boundary}--");
                    // In the bytes as they came: the parser may have read a copy with the
                    // delimiter appended (`close_open_multipart`).
                    let raw = if part_id == 0 && message.raw_message.len() > self.original.len() {
                        self.original
                    } else {
                        &message.raw_message[..]
                    };
                    let from = (part.offset_body as usize).min(raw.len());
                    if memchr::memmem::find(&raw[from..], closing.as_bytes()).is_none() {
                        self.view.problem(
                            ProblemKind::BadMime,
                            format!("multipart boundary {boundary:?} is never closed"),
                            location.clone(),
                        );
                    }
                }
                let group = if content_type == "multipart/alternative" {
                    Some(self.view.parts.len() - 1)
                } else {
                    alternative_group
                };
                let base = if part_id == 0 {
                    String::new()
                } else {
                    format!("{number}.")
                };
                for (i, &child) in children.iter().enumerate() {
                    self.walk(
                        message,
                        child,
                        format!("{base}{}", i + 1),
                        &location,
                        depth + 1,
                        group,
                    );
                }
            }
            _ if content_type.starts_with("multipart/") => {
                // A multipart without a usable boundary: keep its bytes readable as text.
                self.view.problem(
                    ProblemKind::BadMime,
                    format!("{content_type} without a usable boundary; read as text"),
                    location.clone(),
                );
                let text = String::from_utf8_lossy(part.contents()).into_owned();
                self.add_text(text, false, location, alternative_group, None);
            }
            PartType::Text(text) | PartType::Html(text) => {
                let charset_label = part
                    .content_type()
                    .and_then(|ct| ct.attribute("charset"))
                    .map(|c| c.trim().to_string());
                let mut text = text.to_string();
                if let Some(label) = &charset_label {
                    if charset::needs_own_decoder(label) {
                        if let Some(decoded) =
                            charset::decode(label, &transfer_decoded(message, part))
                        {
                            text = decoded;
                        }
                    } else if !charset::is_known(label) {
                        self.view.problem(
                            ProblemKind::UnknownCharset,
                            format!("unknown charset {label:?} in part {number}"),
                            location.clone(),
                        );
                    }
                }
                let is_html = matches!(part.body, PartType::Html(_));
                if is_body {
                    self.add_text(text, is_html, location, alternative_group, charset_label);
                } else {
                    if is_html {
                        // HTML attachments show links too; record them for URL analysis.
                        let rendered = html::render(&text, self.options.max_html_bytes);
                        self.add_links(rendered.links, &location);
                    }
                    self.add_attachment(
                        location,
                        file_name,
                        content_type,
                        false,
                        text.into_bytes(),
                    );
                }
            }
            PartType::Binary(data) | PartType::InlineBinary(data) => {
                let inline = matches!(part.body, PartType::InlineBinary(_));
                self.add_attachment(location, file_name, content_type, inline, data.to_vec());
            }
            PartType::Message(nested) => {
                let raw = &message.raw_message[..];
                let start = (part.offset_body as usize).min(raw.len());
                let end = (part.offset_end as usize).clamp(start, raw.len());
                self.add_attachment(
                    location.clone(),
                    file_name,
                    content_type,
                    false,
                    raw[start..end].to_vec(),
                );
                if let Some(root) = nested.parts.first() {
                    let headers = header_fields(root, &nested.raw_message[..]);
                    self.view.embedded_messages.push(EmbeddedMessage {
                        location: location.clone(),
                        subject: nested.subject().map(str::to_string),
                        from: mailboxes(nested.from()),
                        headers,
                    });
                    self.walk(nested, 0, format!("{number}.1"), &location, depth + 1, None);
                }
            }
        }
    }

    fn add_text(
        &mut self,
        text: String,
        is_html: bool,
        location: Location,
        alternative_group: Option<usize>,
        charset: Option<String>,
    ) {
        if is_html {
            if text.len() > self.options.max_html_bytes {
                self.view.problem(
                    ProblemKind::Truncated,
                    format!(
                        "HTML part of {} bytes rendered only up to {}",
                        text.len(),
                        self.options.max_html_bytes
                    ),
                    location.clone(),
                );
            }
            let rendered = html::render(&text, self.options.max_html_bytes);
            self.add_links(rendered.links, &location);
            add_text_urls(self.view, &rendered.visible, &location, self.options);
            self.view.texts.push(TextBody {
                location,
                kind: TextKind::Html,
                text: rendered.visible,
                hidden_text: rendered.hidden,
                html: Some(text),
                html_titles: rendered.titles,
                alternative_group,
                charset,
            });
        } else {
            add_text_urls(self.view, &text, &location, self.options);
            self.view.texts.push(TextBody {
                location,
                kind: TextKind::Plain,
                text,
                hidden_text: String::new(),
                html: None,
                html_titles: Vec::new(),
                alternative_group,
                charset,
            });
        }
    }

    fn add_links(&mut self, links: Vec<html::Link>, location: &Location) {
        for link in links {
            push_url(
                self.view,
                self.options,
                link.url,
                link.source,
                link.anchor_text,
                location,
            );
        }
    }

    fn add_attachment(
        &mut self,
        location: Location,
        file_name: Option<String>,
        content_type: String,
        inline: bool,
        data: Vec<u8>,
    ) {
        let sniffed_type = crate::sniff(&data);
        // A QR code in a picture is a link too: its URL joins the message's URLs.
        let images_seen = self
            .view
            .attachments
            .iter()
            .filter(|a| a.sniffed_type.is_some_and(|t| t.starts_with("image/")))
            .count();
        // At most a few pictures per message are searched: codes come one or two at a time.
        if images_seen < MAX_QR_IMAGES
            && sniffed_type.is_some_and(|t| t.starts_with("image/") && t != "image/svg+xml")
        {
            for text in crate::qr::codes_in_image(&data) {
                if let Some(url) = crate::qr::as_url(&text) {
                    push_url(
                        self.view,
                        self.options,
                        url,
                        UrlSource::QrCode,
                        None,
                        &location.child("QR code"),
                    );
                }
            }
        }
        self.view.attachments.push(Attachment {
            location,
            file_name,
            content_type,
            sniffed_type,
            inline,
            size: data.len(),
            data,
        });
    }
}

/// Images per message searched for QR codes.
const MAX_QR_IMAGES: usize = 8;

fn add_text_urls(view: &mut MessageView, text: &str, location: &Location, options: &ViewOptions) {
    for url in find_in_text(text) {
        push_url(
            view,
            options,
            url.to_string(),
            UrlSource::Text,
            None,
            location,
        );
    }
}

fn push_url(
    view: &mut MessageView,
    options: &ViewOptions,
    url: String,
    source: UrlSource,
    anchor_text: Option<String>,
    location: &Location,
) {
    if view.urls.len() >= options.max_urls {
        if !view
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::Truncated && p.detail.starts_with("more than"))
        {
            view.problem(
                ProblemKind::Truncated,
                format!(
                    "more than {} URLs; the rest are not analysed",
                    options.max_urls
                ),
                location.clone(),
            );
        }
        return;
    }
    let url = url.trim().to_string();
    let host = host_of(&url);
    view.urls.push(UrlRef {
        url,
        host,
        source,
        anchor_text,
        location: location.clone(),
    });
}

/// A name safe to print: control, bidirectional and invisible characters become `\u{…}`, so
/// a right-to-left override in a file name cannot reorder a report or a terminal line.
pub fn display_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let hidden = c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{061c}' | '\u{00ad}');
        if hidden {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn part_location(
    parent: &Location,
    number: &str,
    content_type: &str,
    file_name: Option<&str>,
    is_body: bool,
) -> Location {
    let file_name = file_name.map(display_safe);
    let file_name = file_name.as_deref();
    let segment = match file_name {
        Some(name) if parent.is_message() => format!("attachment {name}"),
        Some(name) => name.to_string(),
        None if is_body => format!("body {content_type}"),
        None if content_type.starts_with("multipart/") => return parent.clone(),
        None => format!("part {number} ({content_type})"),
    };
    parent.child(segment)
}

/// The part's body with only its transfer encoding undone (no charset decoding).
fn transfer_decoded(message: &Message<'_>, part: &MessagePart<'_>) -> Vec<u8> {
    let raw = &message.raw_message[..];
    let start = (part.offset_body as usize).min(raw.len());
    let end = (part.offset_end as usize).clamp(start, raw.len());
    let body = &raw[start..end];
    match part.encoding {
        mail_parser::Encoding::Base64 => {
            mail_parser::decoders::base64::base64_decode(body).unwrap_or_default()
        }
        mail_parser::Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
                .unwrap_or_default()
        }
        mail_parser::Encoding::None => body.to_vec(),
    }
}

fn raw_slice(raw: &[u8], start: u32, end: u32) -> String {
    let start = (start as usize).min(raw.len());
    let end = (end as usize).clamp(start, raw.len());
    String::from_utf8_lossy(&raw[start..end]).into_owned()
}

fn unfold(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i > 0 && !line.is_empty() {
            out.push(' ');
        }
        out.push_str(line.trim());
    }
    out.trim().to_string()
}

fn header_fields(part: &MessagePart<'_>, raw: &[u8]) -> Vec<HeaderField> {
    part.headers
        .iter()
        .map(|h| {
            let raw_value = raw_slice(raw, h.offset_start, h.offset_end);
            let raw_value = raw_value
                .trim_start()
                .trim_end_matches(['\r', '\n'])
                .to_string();
            let decoded = decoded_value(&h.value, &raw_value);
            HeaderField {
                name: h.name.as_str().to_string(),
                raw: raw_value,
                decoded,
            }
        })
        .collect()
}

/// A header's decoded value as one line of text.
fn decoded_value(value: &HeaderValue<'_>, raw: &str) -> String {
    let unfolded = unfold(raw);
    let from_parser = match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(list) => list.join(", "),
        HeaderValue::Address(a) => mailboxes(Some(a))
            .iter()
            .map(|m| match (&m.name, &m.address) {
                (Some(n), Some(a)) => format!("{n} <{a}>"),
                (None, Some(a)) => a.clone(),
                (Some(n), None) => n.clone(),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => unfolded.clone(),
    };
    // Charsets mail-parser misreads (ISO-2022-KR, CP949 labels): decode those words ourselves.
    if charset::has_own_decoder_words(&unfolded) {
        return charset::decode_rfc2047(&unfolded);
    }
    from_parser
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    let convert = |a: &mail_parser::Addr<'_>| Mailbox {
        name: a
            .name
            .as_ref()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        address: a
            .address
            .as_ref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    };
    match address {
        Address::List(list) => list.iter().map(convert).collect(),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|g| g.addresses.iter().map(convert))
            .collect(),
    }
}

#[cfg(test)]
mod tests;

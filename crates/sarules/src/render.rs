//! The message as SpamAssassin's rules see it, built from the one `MessageView` (nothing is
//! parsed again): header values as `PerMsgStatus::get` returns them, the rendered body as an
//! array of paragraphs with the subject first, the decoded raw body, the whole message, and the
//! URI list.

use mailmoat_mime::{decode_encoded_words, MessageView};

use crate::conf::HeaderTarget;

/// SpamAssassin's MAX_BODY_LINE_LENGTH: longer paragraphs are split for matching.
const MAX_LINE: usize = 2048;

pub struct SaMessage<'a> {
    pub view: &'a MessageView,
    /// `body` rules' input: the subject, then the text of every part (HTML rendered), one
    /// paragraph per element, white space collapsed.
    pub body: Vec<String>,
    /// `rawbody`: each text part decoded but not rendered, in pieces of about 2 KB.
    pub rawbody: Vec<String>,
    /// `full`: the message as received.
    pub full: String,
    /// `uri`: every URI, plus the `http://` form of those written without a scheme.
    pub uris: Vec<String>,
    /// The Date header minus the nearest Received date, in seconds: read by the dozen
    /// `check_for_shifted_date` rules, so the Received dates are parsed once per message.
    pub(crate) date_diff: std::cell::OnceCell<i64>,
    /// Each header field's name and raw value bytes, for the `check_illegal_chars` rules.
    pub(crate) raw_header_values: std::cell::OnceCell<Vec<(String, Vec<u8>)>>,
    /// The body's free mail addresses (`None`: too many addresses for the FreeMail checks),
    /// read by both `check_freemail_replyto` rules.
    pub(crate) body_freemails: std::cell::OnceCell<Option<Vec<String>>>,
    /// What the three `check_for_uppercase` rules count in the body.
    pub(crate) letter_case_counts: std::cell::OnceCell<(usize, usize, usize)>,
}

/// The header field names in the case the sender wrote them ("Message-Id", where the view
/// keeps the canonical "Message-ID"): SpamAssassin's `ALL` shows them so, and rules such as
/// `__MSOE_MID_WRONG_CASE` read the case. Empty unless the header block's names line up with
/// the view's fields one for one.
fn names_as_written(view: &MessageView) -> Vec<&str> {
    let mut names = Vec::with_capacity(view.headers.len());
    for line in view.raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Vec::new();
        };
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            return Vec::new();
        };
        names.push(name.trim_end());
    }
    let lined_up = names.len() == view.headers.len()
        && names
            .iter()
            .zip(&view.headers)
            .all(|(n, h)| n.eq_ignore_ascii_case(&h.name));
    if lined_up {
        names
    } else {
        Vec::new()
    }
}

impl<'a> SaMessage<'a> {
    pub fn new(view: &'a MessageView) -> SaMessage<'a> {
        SaMessage {
            view,
            body: rendered_body(view),
            rawbody: raw_body(view),
            full: String::from_utf8_lossy(&view.raw).into_owned(),
            uris: uris(view),
            date_diff: std::cell::OnceCell::new(),
            raw_header_values: std::cell::OnceCell::new(),
            body_freemails: std::cell::OnceCell::new(),
            letter_case_counts: std::cell::OnceCell::new(),
        }
    }

    /// Whether [`SaMessage::header`] has a value for `target` (`exists:` rules, dozens a
    /// message): for an ordinary header without address modifiers, whether it occurs, without
    /// decoding it.
    pub fn has_header(&self, target: &HeaderTarget) -> bool {
        let special = target.addr
            || target.display_name
            || [
                "ALL",
                "EnvelopeFrom",
                "MESSAGEID",
                "ToCc",
                "X-Spam-Relays-Untrusted",
                "X-Spam-Relays-Trusted",
                "X-Spam-Relays-External",
                "X-Spam-Relays-Internal",
            ]
            .iter()
            .any(|name| target.name.eq_ignore_ascii_case(name));
        if !special {
            self.view.headers_named(&target.name).next().is_some()
        } else {
            self.header(target).is_some()
        }
    }

    /// The value a header rule reads; `None` when nothing is there (SpamAssassin then uses the
    /// rule's `if-unset` text, else the empty string).
    pub fn header(&self, target: &HeaderTarget) -> Option<String> {
        let view = self.view;
        let values: Vec<String> = match target.name.as_str() {
            "ALL" => {
                let written = names_as_written(view);
                view.headers
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let name = written.get(i).copied().unwrap_or(h.name.as_str());
                        if target.raw {
                            format!("{name}: {}\n", h.raw)
                        } else {
                            format!("{name}: {}\n", decoded(&h.raw))
                        }
                    })
                    .collect()
            }
            "EnvelopeFrom" => view
                .envelope
                .mail_from
                .clone()
                .or_else(|| {
                    view.header("Return-Path")
                        .map(|h| h.decoded.trim().trim_matches(['<', '>']).to_string())
                })
                .filter(|s| !s.is_empty())
                .into_iter()
                .collect(),
            "MESSAGEID" => [
                "X-Message-Id",
                "Resent-Message-Id",
                "X-Original-Message-ID",
                "Message-Id",
            ]
            .iter()
            .flat_map(|name| self.values(name, target.raw))
            .filter(|v| !v.trim().is_empty())
            .collect(),
            name if name.eq_ignore_ascii_case("ToCc") => {
                let mut v = self.values("To", target.raw);
                v.extend(self.values("Cc", target.raw));
                v
            }
            name if name.eq_ignore_ascii_case("X-Spam-Relays-Untrusted") => {
                vec![relays(view, false)]
            }
            name if name.eq_ignore_ascii_case("X-Spam-Relays-Trusted") => {
                vec![relays(view, true)]
            }
            name if name.eq_ignore_ascii_case("X-Spam-Relays-External") => {
                vec![relays(view, false)]
            }
            name if name.eq_ignore_ascii_case("X-Spam-Relays-Internal") => {
                vec![relays(view, true)]
            }
            name => self.values(name, target.raw),
        };
        let mut values = values;
        if values.is_empty() {
            return None;
        }
        if target.first {
            values.truncate(1);
        } else if target.last {
            values = values.split_off(values.len() - 1);
        }
        if target.addr || target.display_name {
            let first = values.iter().find_map(|v| first_mailbox(v))?;
            let found = if target.addr { Some(first.1) } else { first.0 }?;
            return Some(if target.host {
                let host = found.rsplit_once('@').map_or("", |(_, h)| h).to_string();
                if target.domain {
                    registrable(&host)
                } else {
                    host
                }
            } else {
                found
            });
        }
        if target.name == "EnvelopeFrom" {
            return values.into_iter().next();
        }
        Some(values.concat())
    }

    /// Every occurrence of a header, each unfolded (decoded unless `raw`) with a newline.
    fn values(&self, name: &str, raw: bool) -> Vec<String> {
        self.view
            .headers_named(name)
            .map(|h| {
                if raw {
                    format!("{}\n", unfold(&h.raw))
                } else {
                    format!("{}\n", decoded(&h.raw))
                }
            })
            .collect()
    }
}

fn unfold(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut lines = raw.split('\n');
    if let Some(first) = lines.next() {
        out.push_str(first.trim_end_matches('\r'));
    }
    for line in lines {
        out.push(' ');
        out.push_str(line.trim_end_matches('\r').trim_start_matches([' ', '\t']));
    }
    out
}

/// As SpamAssassin's `Node::header`: folding removed, trimmed, encoded-words decoded.
fn decoded(raw: &str) -> String {
    decode_encoded_words(unfold(raw).trim())
}

/// The first mailbox of an address header: (display name, address).
fn first_mailbox(value: &str) -> Option<(Option<String>, String)> {
    let value = value.trim();
    if let Some(open) = value.find('<') {
        let close = value[open..].find('>')? + open;
        let address = value[open + 1..close].trim().to_string();
        let name = value[..open]
            .trim()
            .trim_matches('"')
            .trim_matches('\'')
            .trim()
            .to_string();
        let name =
            (!name.is_empty()).then(|| name.split_whitespace().collect::<Vec<_>>().join(" "));
        return Some((name, address));
    }
    let token = value
        .split([',', ' ', ';', '\n'])
        .find(|t| t.contains('@'))
        .or_else(|| value.split(',').next())?;
    let address = token.trim().trim_matches(['(', ')', '"']).to_string();
    (!address.is_empty()).then_some((None, address))
}

fn registrable(host: &str) -> String {
    psl_domain(host).unwrap_or_else(|| host.to_string())
}

fn psl_domain(host: &str) -> Option<String> {
    // The last two labels: enough for the few rules that read :domain.
    let labels: Vec<&str> = host.split('.').collect();
    (labels.len() >= 2).then(|| labels[labels.len() - 2..].join("."))
}

/// SpamAssassin's relay summary: `[ ip=… rdns=… helo=… by=… ident= envfrom= intl=0 id= auth=
/// msa=0 ]` per hop with an address, most recent first, split into trusted and untrusted as
/// SpamAssassin infers it without `trusted_networks` (Received.pm): from the top, hops from a
/// private address (loopback, RFC 1918, link-local, CGN) or with an authentication token are
/// trusted until the first that is neither; that one and every hop after it are untrusted (and
/// external). A mail fetcher's hop (`with POP3`/`with IMAP`) is no relay, and inside the
/// trusted part it restarts the trusted list.
fn relays(view: &MessageView, trusted: bool) -> String {
    let mut trusted_hops: Vec<&mailmoat_mime::ReceivedHop> = Vec::new();
    let mut untrusted_hops = Vec::new();
    for hop in &view.received {
        let Some(ip) = hop.from_ip else { continue };
        let text = unfold(&hop.raw);
        let in_trusted = untrusted_hops.is_empty();
        if text.contains("with POP3") || text.contains("with IMAP") {
            if in_trusted {
                trusted_hops.clear();
            }
            continue;
        }
        if in_trusted && (private_address(ip) || authenticated(&text)) {
            trusted_hops.push(hop);
        } else {
            untrusted_hops.push(hop);
        }
    }
    let hops = if trusted {
        trusted_hops
    } else {
        untrusted_hops
    };
    hops.iter()
        .map(|h| {
            let (helo, rdns) = helo_and_rdns(&h.raw);
            format!(
                "[ ip={} rdns={} helo={} by={} ident= envfrom= intl=0 id= auth= msa=0 ]",
                h.from_ip.map(|i| i.to_string()).unwrap_or_default(),
                rdns,
                helo,
                h.by_host.as_deref().unwrap_or(""),
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SpamAssassin's `IP_PRIVATE`: addresses not on the public internet.
fn private_address(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 10
                || a == 127
                || (a == 169 && b == 254)
                || (a == 172 && (16..=31).contains(&b))
                || (a == 192 && b == 168)
                || (a == 100 && (64..=127).contains(&b))
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| private_address(v4.into()))
        }
    }
}

/// The authentication tokens SpamAssassin's Received parser recognises first: `with ESMTPA`
/// and its relatives, and the "authenticated" comments of Sendmail-like MTAs and Postfix.
fn authenticated(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let with_auth = lower.split(" with ").skip(1).any(|after| {
        let word: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        matches!(
            word.as_str(),
            "esmtpa"
                | "esmtpsa"
                | "lmtpa"
                | "lmtpsa"
                | "utf8smtpa"
                | "utf8smtpsa"
                | "utf8lmtpa"
                | "utf8lmtpsa"
                | "asmtp"
                | "http"
                | "https"
                | "httpu"
        )
    });
    (lower.contains(" by ") && with_auth)
        || lower.contains("(authenticated sender: ")
        || (lower.contains("authenticated") && lower.contains(" by ") && lower.contains("(auth"))
}

/// An rdns as SpamAssassin keeps it: trailing dots dropped, "unknown" and bracketed addresses
/// mean none.
fn clean_rdns(rdns: &str) -> String {
    let rdns = rdns.trim_end_matches('.');
    if rdns.eq_ignore_ascii_case("unknown") || rdns.starts_with('[') {
        String::new()
    } else {
        rdns.to_string()
    }
}

/// The HELO name and the reverse-DNS name the receiving MTA wrote (empty when it wrote only
/// the address), for the forms of the corpus' MTAs as SpamAssassin's Received.pm reads them:
/// Sendmail and Postfix `from HELO (RDNS [IP])` with an optional `ident@` before the RDNS,
/// qmail `from RDNS (HELO name) (IP)` and `from RDNS (IP) by`.
fn helo_and_rdns(raw: &str) -> (String, String) {
    let text = unfold(raw);
    let Some(rest) = text.trim_start().strip_prefix("from ") else {
        return (String::new(), String::new());
    };
    let rest = rest.trim_start();
    let first_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let first = &rest[..first_end];
    let after = rest[first_end..].trim_start();
    // qmail: `from RDNS (HELO name) ([ident@]IP) … by`.
    if let Some(inner) = after
        .strip_prefix("(HELO ")
        .or_else(|| after.strip_prefix("(EHLO "))
    {
        if let Some((helo, tail)) = inner.split_once(')') {
            if tail.trim_start().starts_with('(') && text.contains(" by ") {
                return (helo.trim().to_string(), clean_rdns(first));
            }
        }
    }
    // qmail without HELO: `from RDNS ([ident@]IP) by` (a bracketed address is Sendmail's
    // `from HELO ([IP])`, which names no rdns).
    if let Some((inside, tail)) = after.strip_prefix('(').and_then(|i| i.split_once(')')) {
        let address = inside.rsplit('@').next().unwrap_or(inside);
        if address.parse::<std::net::IpAddr>().is_ok() && tail.trim_start().starts_with("by ") {
            return (first.to_string(), clean_rdns(first));
        }
    }
    let helo = first.trim_matches(['[', ']']).to_string();
    let rdns = after
        .strip_prefix('(')
        .and_then(|inside| inside.split(')').next())
        .and_then(|inside| {
            let first = inside.split_whitespace().next()?;
            let first = first.strip_prefix("HELO=").unwrap_or(first);
            // `ident@rdns`, as Sendmail writes an IDENT lookup.
            let first = first.rsplit_once('@').map_or(first, |(_, host)| host);
            (!first.starts_with('[') && first.contains(|c: char| c.is_ascii_alphabetic()))
                .then(|| clean_rdns(first.trim_end_matches(['[', ']'])))
        })
        .unwrap_or_default();
    (helo, rdns)
}

/// SpamAssassin's `body_part_scan_size` and `rawbody_part_scan_size` defaults: each part is
/// cut near this many bytes before `body` (rendered) or `rawbody` (decoded) rules see it.
const BODY_PART_SCAN_SIZE: usize = 50_000;
const RAWBODY_PART_SCAN_SIZE: usize = 500_000;

/// A part cut as SpamAssassin's `Message.pm` cuts it: past `limit` bytes, after the first of
/// `separators` (in their order of preference) found within 1,024 bytes of the limit, else at
/// the limit (here at a character boundary). Rendered parts try a newline, then a space;
/// decoded ones a newline, `>`, then a space.
fn cut_part<'t>(text: &'t str, limit: usize, separators: &[u8]) -> &'t str {
    if text.len() <= limit {
        return text;
    }
    let at = floor_char(text, limit);
    // Only a separator within 1,024 bytes of the limit counts: nothing past that is read.
    let window = &text.as_bytes()[at..text.len().min(limit + 1025)];
    for &separator in separators {
        let found = window.iter().position(|&b| b == separator).map(|i| at + i);
        if let Some(end) = found.filter(|&end| end.saturating_sub(limit) <= 1024) {
            return &text[..=end];
        }
    }
    &text[..at]
}

fn rendered_body(view: &MessageView) -> Vec<String> {
    let mut text = String::new();
    let mut part_text = String::new();
    for (i, part) in view.texts.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        part_text.clear();
        // SpamAssassin's HTML.pm keeps a <title>'s text in the rendered body too, a paragraph
        // of its own, where the view, as a reader sees the page, leaves it out.
        for title in &part.html_titles {
            part_text.push_str("\n\n");
            part_text.push_str(title);
            part_text.push_str("\n\n");
        }
        part_text.push_str(&part.text);
        // HTML.pm renders text a reader cannot see too (invisibility only matters to Bayes);
        // the view keeps it apart, so it follows the visible text as a paragraph of its own.
        if !part.hidden_text.trim().is_empty() {
            part_text.push_str("\n\n");
            part_text.push_str(&part.hidden_text);
        }
        text.push_str(cut_part(&part_text, BODY_PART_SCAN_SIZE, b"\n "));
    }
    let collapsed = collapse_paragraphs(&text);
    let subject = view
        .header("Subject")
        .map(|h| format!("{}\n", decoded(&h.raw)))
        .unwrap_or_else(|| "\n".to_string());
    let mut lines = Vec::new();
    for line in format!("{subject}{collapsed}").split_inclusive('\n') {
        split_long(line, &mut lines);
    }
    lines
}

/// SpamAssassin's paragraph folding: a white-space run holding two or more newlines becomes one
/// newline (keeping one space for white space on either side of the newlines), any other run one
/// space. Carriage returns are line-ending noise, as in SpamAssassin's parser.
fn collapse_paragraphs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let newlines = run.matches('\n').count();
        if newlines >= 2 {
            let first = run.find('\n').unwrap_or(0);
            let last = run.rfind('\n').unwrap_or(0);
            if first > 0 {
                out.push(' ');
            }
            out.push('\n');
            if last + 1 < run.len() {
                out.push(' ');
            }
        } else {
            out.push(' ');
        }
        run.clear();
    };
    for c in text.chars() {
        if c == '\r' {
            continue;
        }
        if c.is_whitespace() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// SpamAssassin's `split_into_array_of_short_lines`: pieces of at most 2,048 bytes, cut after
/// the last space that fits.
fn split_long(line: &str, out: &mut Vec<String>) {
    let mut rest = line;
    while rest.len() > MAX_LINE {
        // A space is one byte, so cutting after it is always a character boundary.
        let cut = match rest.as_bytes()[..=MAX_LINE]
            .iter()
            .rposition(|&b| b == b' ')
        {
            Some(space) if space > 0 => space + 1,
            _ => {
                let mut at = MAX_LINE;
                while !rest.is_char_boundary(at) {
                    at -= 1;
                }
                at.max(rest.chars().next().map_or(1, char::len_utf8))
            }
        };
        out.push(rest[..cut].to_string());
        rest = &rest[cut..];
    }
    out.push(rest.to_string());
}

fn floor_char(s: &str, mut at: usize) -> usize {
    at = at.min(s.len().saturating_sub(1));
    while at > 0 && !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn raw_body(view: &MessageView) -> Vec<String> {
    let mut out = Vec::new();
    for part in &view.texts {
        let text = part.html.as_deref().unwrap_or(&part.text);
        let text = cut_part(text, RAWBODY_PART_SCAN_SIZE, b"\n> ");
        // Paragraph pieces: cut at a newline after 2 KB where one comes soon.
        let mut rest = text;
        while rest.len() > 2 * MAX_LINE {
            let from = floor_char(rest, MAX_LINE);
            let cut = rest[from..]
                .find('\n')
                .map(|i| from + i + 1)
                .filter(|&c| c <= 2 * MAX_LINE)
                .unwrap_or_else(|| {
                    let mut c = from.max(1);
                    while !rest.is_char_boundary(c) {
                        c += 1;
                    }
                    c
                });
            out.push(rest[..cut].to_string());
            rest = &rest[cut..];
        }
        out.push(rest.to_string());
    }
    out
}

/// SpamAssassin's MAX_URI_LENGTH: a longer URI is cut to this many bytes
/// (`PerMsgStatus::add_uri_detail_list`, `HTML.pm`), which also bounds what `uri` rules scan.
const MAX_URI_LENGTH: usize = 8192;

/// `url` cut to [`MAX_URI_LENGTH`] bytes, at a character boundary.
fn cut_uri(url: &str) -> &str {
    if url.len() <= MAX_URI_LENGTH {
        return url;
    }
    &url[..floor_char(url, MAX_URI_LENGTH)]
}

fn uris(view: &MessageView) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in &view.urls {
        let url = cut_uri(u.url.trim());
        if url.is_empty() {
            continue;
        }
        let host = url.split(['/', '?', '#']).next().unwrap_or(url);
        if !url.contains(':') && host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            // A bare IP address in the text: SpamAssassin takes a schemeless link only when
            // its host is a valid domain name (`is_fqdn_valid`), so it is no link there.
            continue;
        }
        out.push(url.to_string());
        if !url.contains(':') {
            out.push(cut_uri(&format!("http://{url}")).to_string());
        }
    }
    for text in &view.texts {
        out.extend(text_addresses(&text.text));
    }
    out.sort();
    out.dedup();
    out
}

/// Addresses written in the text, as `mailto:` URIs: SpamAssassin's URI list holds them (MUAs
/// make them links), so `uri` rules such as `__UNSUB_LINK` see them. The capture follows
/// `_get_parsed_uri_list`: Thunderbird's delimiters, trailing punctuation dropped, a dot after
/// the `@`, a top-level domain of letters.
fn text_addresses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for candidate in address_candidates(text.as_bytes()) {
        let raw = String::from_utf8_lossy(candidate);
        let raw = raw.trim_end_matches(|c: char| "-~!@#^&*()_+=:;'?,.".contains(c));
        let Some((local, domain)) = raw.split_once('@') else {
            continue;
        };
        let tld = domain.rsplit('.').next().unwrap_or("");
        if local.is_empty()
            || local.contains('/')
            || !domain.contains('.')
            || tld.len() < 2
            || !tld.bytes().all(|b| b.is_ascii_alphabetic())
            || raw.contains("&nbsp;")
        {
            continue;
        }
        // `s/^(?:skype|e?-?mail)?:+//i`: a misparsed "mail:" or "skype:" in front.
        let lower = local.to_ascii_lowercase();
        let local = ["skype", "e-mail", "email", "-mail", "mail", ""]
            .into_iter()
            .find(|word| lower.starts_with(word) && lower[word.len()..].starts_with(':'))
            .map_or(local, |word| local[word.len()..].trim_start_matches(':'));
        out.push(format!("mailto:{local}@{domain}"));
    }
    out
}

/// Whether SpamAssassin's address capture may hold byte `b`: `[^\s<>"'`{}|\\^\[\]@]`.
fn in_address(b: u8) -> bool {
    !matches!(
        b,
        b' ' | b'\t'
            | b'\n'
            | 0x0b
            | 0x0c
            | b'\r'
            | b'<'
            | b'>'
            | b'"'
            | b'\''
            | b'`'
            | b'{'
            | b'}'
            | b'|'
            | b'\\'
            | b'^'
            | b'['
            | b']'
            | b'@'
    )
}

/// The captures of `(?:mailto:)?([^\s<>"'`{}|\\^\[\]@]{1,251}@[^…@]{1,251})` over `text`, as
/// a regex engine finds them from the left, without running one: every match has an `@` in
/// it, so the search starts from each `@` (a regex tried every position, at up to 251 bytes
/// each, and was a seventh of the rules' time).
fn address_candidates(text: &[u8]) -> Vec<&[u8]> {
    const MAX: usize = 251;
    let mut out = Vec::new();
    // Where the last match ended: a match never starts before it.
    let mut from = 0;
    for at in memchr::memchr_iter(b'@', text) {
        if at < from {
            continue;
        }
        // The leftmost start: back over address bytes, at most MAX, not before `from`.
        let bound = at.saturating_sub(MAX);
        let floor = from.max(bound);
        let mut start = at;
        while start > floor && in_address(text[start - 1]) {
            start -= 1;
        }
        let end = at
            + 1
            + text[at + 1..]
                .iter()
                .take(MAX)
                .take_while(|&&b| in_address(b))
                .count();
        if start == at || end == at + 1 {
            continue;
        }
        // The optional `mailto:` is left out of the capture when the match starts with it
        // and an address byte still comes before the `@`; with it, a match may start up to
        // seven bytes further back than MAX.
        if start == bound && start > from {
            let back = from.max(at.saturating_sub(MAX + 7));
            if let Some(q) = (back..start).find(|&q| {
                text[q..].starts_with(b"mailto:") && text[q..start].iter().all(|&b| in_address(b))
            }) {
                start = q;
            }
        }
        if text[start..at].starts_with(b"mailto:") && at - start > 7 {
            start += 7;
        }
        out.push(&text[start..end]);
        from = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// URIs are cut to SpamAssassin's 8,192 bytes: what `uri` rules see, and what they scan (a
    /// 216 KB link made of "http://a." held a scan for 12 s of Hyperscan time).
    #[test]
    fn uris_are_cut_at_spamassassins_length() {
        let long = format!("http://a.example/{}", "é".repeat(10_000));
        let raw = format!(
            "From: a@b.example\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
             <a href=\"{long}\">x</a> <a href=\"http://short.example/\">y</a>"
        );
        let got = uris(&view(&raw));
        assert_eq!(
            got.len(),
            2,
            "{:?}",
            got.iter().map(String::len).collect::<Vec<_>>()
        );
        assert!(got.contains(&"http://short.example/".to_string()));
        let cut = got.iter().find(|u| u.len() > 100).unwrap();
        assert!(
            cut.len() <= MAX_URI_LENGTH && cut.len() > MAX_URI_LENGTH - 4,
            "{}",
            cut.len()
        );
        assert!(long.starts_with(cut.as_str()));
    }

    #[test]
    fn parts_are_cut_for_body_rules_as_spamassassin_cuts_them() {
        let limit = 100;
        let short = "a".repeat(100);
        assert_eq!(cut_part(&short, limit, b"\n "), short);
        // After the first newline within 1,024 bytes of the limit…
        let lines = format!("{}\n{}", "b".repeat(150), "c".repeat(50));
        assert_eq!(
            cut_part(&lines, limit, b"\n "),
            format!("{}\n", "b".repeat(150))
        );
        // …else after the first space there…
        let spaced = format!("{} {}\n", "d".repeat(150), "e".repeat(2000));
        assert_eq!(
            cut_part(&spaced, limit, b"\n "),
            format!("{} ", "d".repeat(150))
        );
        // …else at the limit, at a character boundary.
        let solid = "é".repeat(2000);
        let cut = cut_part(&solid, limit, b"\n ");
        assert_eq!(cut.len(), 100);
        let odd = format!("x{solid}");
        assert_eq!(cut_part(&odd, limit, b"\n ").len(), 99);
        // And a whole body keeps the subject and the start of a huge part.
        let raw = format!("Subject: big\r\n\r\nstart {}", "word ".repeat(40_000));
        let body = rendered_body(&view(&raw));
        let total: usize = body.iter().map(String::len).sum();
        assert!(total < BODY_PART_SCAN_SIZE + 2_000, "{total}");
        assert!(body[1].starts_with("start word"), "{:?}", &body[1][..20]);
    }

    #[test]
    fn addresses_in_the_text_are_mailto_uris() {
        assert_eq!(
            text_addresses("Write to unsubscribe@lists.example. Or me: ann@corp.example!"),
            [
                "mailto:unsubscribe@lists.example",
                "mailto:ann@corp.example"
            ]
        );
        assert!(text_addresses("Vi@gra and a@b and x@host.123").is_empty());
    }

    /// The byte scanner finds what SpamAssassin's regex captures, on text made of the bytes
    /// that matter: separators, `@`, `mailto:` and runs around the 251-byte bound.
    #[test]
    fn address_candidates_are_the_regexs_captures() {
        let re = pcre2::bytes::Regex::new(
            r#"(?:mailto:)?([^\s<>"'`{}|\\^\[\]@]{1,251}@[^\s<>"'`{}|\\^\[\]@]{1,251})"#,
        )
        .unwrap();
        let pieces: [&[u8]; 12] = [
            b"@",
            b" ",
            b"a",
            b"mailto:",
            b"x.example",
            b"<",
            b"\x0b",
            b"\xc3\xa9",
            b"@@",
            b"\n",
            b"mailto:@",
            b".",
        ];
        // A small linear congruential generator: the same cases on every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        for case in 0..20_000 {
            let mut text = Vec::new();
            for _ in 0..next(12) {
                match next(14) {
                    12 => text.extend(std::iter::repeat_n(b'b', 240 + next(30))),
                    13 => text.extend(std::iter::repeat_n(b'c', 1 + next(8))),
                    i => text.extend_from_slice(pieces[i]),
                }
            }
            let expected: Vec<&[u8]> = re
                .captures_iter(&text)
                .map(|c| c.unwrap().get(1).unwrap().as_bytes())
                .collect();
            assert_eq!(
                address_candidates(&text),
                expected,
                "case {case}: {:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    fn view(raw: &str) -> MessageView {
        MessageView::from_raw(raw.as_bytes())
    }

    fn target(spec: &str) -> HeaderTarget {
        let mut conf = crate::conf::Conf::new();
        conf.read_text(
            &format!("header T {spec} =~ /x/"),
            std::path::Path::new("t.cf"),
            0,
        )
        .unwrap();
        match &conf.rule("T").unwrap().test {
            crate::conf::Test::Header { target, .. } => target.clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn headers_read_as_spamassassin_gets_them() {
        let v = view(
            "Subject: =?utf-8?B?SGVsbG8gd29ybGQ=?=\r\n\
             From: \"Big  Bank\" <alerts@bank.example>\r\n\
             To: a@x.example,\r\n  b@y.example\r\n\
             Cc: c@z.example\r\n\
             Received: from a\r\nReceived: from b\r\n\r\nhi\r\n",
        );
        let m = SaMessage::new(&v);
        assert_eq!(m.header(&target("Subject")).unwrap(), "Hello world\n");
        assert_eq!(
            m.header(&target("ToCc")).unwrap(),
            "a@x.example, b@y.example\nc@z.example\n"
        );
        assert_eq!(
            m.header(&target("From:addr")).unwrap(),
            "alerts@bank.example"
        );
        assert_eq!(m.header(&target("From:name")).unwrap(), "Big Bank");
        assert_eq!(m.header(&target("Received")).unwrap(), "from a\nfrom b\n");
        assert_eq!(m.header(&target("Received:last")).unwrap(), "from b\n");
        assert!(m.header(&target("X-Absent")).is_none());
        assert!(m
            .header(&target("ALL"))
            .unwrap()
            .starts_with("Subject: Hello world\nFrom: "));
        let written = view("Subject: s\r\nMessage-Id: <1@x.example>\r\nX-MAILER: m\r\n\r\nb\r\n");
        let all = SaMessage::new(&written).header(&target("ALL")).unwrap();
        assert!(
            all.contains("\nMessage-Id: <1@x.example>\nX-MAILER: m\n"),
            "names keep the case they were written in: {all:?}"
        );
    }

    #[test]
    fn body_is_the_subject_then_paragraphs() {
        let v = view(
            "Subject: Offer\r\nContent-Type: text/plain\r\n\r\nline one\r\nstill  one\r\n\r\n\r\n  para two\r\n",
        );
        let m = SaMessage::new(&v);
        assert_eq!(m.body, ["Offer\n", "line one still one\n", " para two "]);
        let long = format!("Subject: s\r\n\r\n{}\r\n", "word ".repeat(1000));
        let v = view(&long);
        let m = SaMessage::new(&v);
        assert!(m.body.iter().all(|l| l.len() <= MAX_LINE));
        assert_eq!(m.body.concat().len(), "s\n".len() + 5000);
        // Long runs of multi-byte text without spaces are cut between characters.
        for filler in ["の", "é", "a"] {
            for offset in 0..3 {
                let text = format!("{}{}", "x".repeat(offset), filler.repeat(3000));
                let v = view(&format!(
                    "Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
                ));
                let m = SaMessage::new(&v);
                assert_eq!(m.body.concat().trim_end(), format!("s\n{text}"));
            }
        }
    }

    #[test]
    fn relays_are_split_and_read_as_spamassassin_infers_them() {
        // Fetchmail and localhost hops at the top are trusted (private addresses); the first
        // public hop starts the untrusted part, and a private hop after it stays untrusted.
        let v = view(
            "Received: from localhost (localhost [127.0.0.1])\r\n\tby phobos.example (Postfix) with ESMTP id 1\r\n\
             Received: from phobos [127.0.0.1]\r\n\tby localhost with IMAP (fetchmail-5.9.0)\r\n\
             Received: from dogma.example (localhost [127.0.0.1]) by dogma.example with ESMTP id 2\r\n\
             Received: from linux.local ([213.9.245.86]) by dogma.example with SMTP id 3\r\n\
             Received: from unknown (HELO h) (192.168.0.2) by linux.local with SMTP;\r\n\
             Subject: s\r\n\r\nbody\r\n",
        );
        let untrusted = relays(&v, false);
        assert!(
            untrusted.starts_with("[ ip=213.9.245.86 rdns= helo=linux.local by=dogma.example "),
            "{untrusted}"
        );
        assert!(
            untrusted.contains("[ ip=192.168.0.2 rdns= helo=h by=linux.local "),
            "{untrusted}"
        );
        let trusted = relays(&v, true);
        assert!(trusted.contains("ip=127.0.0.1 rdns=localhost"), "{trusted}");
        assert!(!trusted.contains("213.9.245.86") && !trusted.contains("fetchmail"));
        // `ident@rdns` (Sendmail's IDENT lookup) and qmail's forms name the rdns.
        for (line, rdns, helo) in [
            ("from lugh.example (root@lugh.example [194.125.145.45]) by dogma.example", "lugh.example", "lugh.example"),
            ("from inet-mail6.example.com (209.246.10.170)\r\n  by mi-1.example with SMTP; 10 Jul 2002", "inet-mail6.example.com", "inet-mail6.example.com"),
            ("from unknown (HELO FUSNWR01-LRS) (62.172.195.14)\r\n  by mi-1.example with SMTP;", "", "FUSNWR01-LRS"),
            ("from mail.example (mail.example. [192.0.2.7]) by mx.example", "mail.example", "mail.example"),
            ("from Bak ([211.21.114.142]) by dogma.example", "", "Bak"),
        ] {
            assert_eq!(helo_and_rdns(line), (helo.to_string(), rdns.to_string()), "{line}");
        }
        // An authenticated submission from a public address is still inside the trusted part.
        let v = view(
            "Received: from client.example ([198.51.100.9]) by mx.example with ESMTPSA id 4\r\n\
             Received: from other.example (other.example [203.0.113.5]) by client.example with SMTP\r\n\
             Subject: s\r\n\r\nbody\r\n",
        );
        assert!(relays(&v, true).contains("198.51.100.9"));
        assert!(relays(&v, false).starts_with("[ ip=203.0.113.5 rdns=other.example "));
    }

    #[test]
    fn an_html_title_is_part_of_the_rendered_body_as_in_spamassassin() {
        let v = view(
            "Subject: s\r\nContent-Type: text/html\r\n\r\n\
             <html><head><TITLE>Dear friend &amp; partner</TITLE></head>\
             <body><p>Claim it now</p></body></html>\r\n",
        );
        let m = SaMessage::new(&v);
        let body = m.body.concat();
        assert!(body.contains("\nDear friend & partner\n"), "{body:?}");
        assert!(body.contains("Claim it now"), "{body:?}");
    }

    #[test]
    fn text_hidden_from_the_reader_is_still_in_the_body_rules_text() {
        let v = view(
            "Subject: s\r\nContent-Type: text/html\r\n\r\n\
             <html><body><p>Great offer</p>\
             <p style=\"display:none\">to be removed from future mailings write</p>\
             </body></html>\r\n",
        );
        assert!(
            !v.texts[0].text.contains("removed"),
            "{:?}",
            v.texts[0].text
        );
        let body = SaMessage::new(&v).body.concat();
        assert!(body.contains("Great offer"), "{body:?}");
        assert!(
            body.contains("to be removed from future mailings"),
            "{body:?}"
        );
    }
}

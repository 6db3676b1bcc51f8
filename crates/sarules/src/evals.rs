//! SpamAssassin's `eval:` tests that need no network and no database, re-implemented natively
//! over the message view. [`SUPPORTED`] lists them; any other eval rule is reported as
//! unsupported by `mailmoat sa-rules check` and counts as not hit (as a network test does in
//! SpamAssassin's local-only mode).

use crate::render::SaMessage;
use std::sync::OnceLock;

/// Every eval function this crate implements.
pub const SUPPORTED: &[&str] = &[
    "check_for_missing_to_header",
    "check_header_count_range",
    "check_body_length",
    "subject_is_all_caps",
    "check_for_shifted_date",
    "check_for_to_in_subject",
    "check_for_uppercase",
    "check_illegal_chars",
    "check_for_faraway_charset_in_headers",
    "html_image_only",
    "check_msg_parse_flags",
    "check_freemail_from",
    "check_freemail_header",
    "check_freemail_replyto",
];

/// What eval tests read from the configuration.
#[derive(Debug, Default)]
pub struct EvalContext {
    /// Listed free mail domains without wildcards.
    freemail_domains: std::collections::HashSet<String>,
    /// Listed domains with `*` or `?` (`hotmail.*`, `*.example`), kept apart so that a lookup
    /// tries the few globs, not the thousands of plain names.
    freemail_globs: Vec<String>,
}

impl EvalContext {
    pub fn new(freemail_domains: impl IntoIterator<Item = String>) -> Self {
        let (freemail_globs, plain): (Vec<String>, Vec<String>) = freemail_domains
            .into_iter()
            .partition(|d| d.contains(['*', '?']));
        EvalContext {
            freemail_domains: plain.into_iter().collect(),
            freemail_globs,
        }
    }

    /// FreeMail's `_is_freemail`: the address's domain is listed, or matches a listed glob
    /// (`hotmail.*`, `*.example`), and the address is not a role or robot address of the
    /// plugin's default welcome list (abuse@, support@, bounce-…@).
    fn is_freemail(&self, address: &str) -> bool {
        let Some((_, domain)) = address.rsplit_once('@') else {
            return false;
        };
        if perl_regex(&FREEMAIL_WELCOMELIST, || {
            FREEMAIL_WELCOMELIST_RE.to_string()
        })
        .is_match(address.as_bytes())
        .unwrap_or(false)
        {
            return false;
        }
        let domain = domain.trim_end_matches('>').to_ascii_lowercase();
        // No real domain is longer; a hostile one must not feed the glob matcher (quadratic
        // per `*`) megabytes.
        if domain.len() > 255 {
            return false;
        }
        self.freemail_domains.contains(&domain)
            || self
                .freemail_globs
                .iter()
                .any(|glob| glob_match(glob.as_bytes(), domain.as_bytes()))
    }
}

/// FreeMail.pm's `$email_welcomelist`: addresses never counted as free mail.
const FREEMAIL_WELCOMELIST_RE: &str = r"(?xi)^(?:
      abuse|support|sales|info|helpdesk|contact|kontakt
    | (?:post|host|domain)master
    | undisclosed.*
    | request-[a-f0-9]{16}
    | bounced?-
    | [a-f0-9]{8}(?:\.[a-f0-9]{8}|-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})
    | .+=.+=.+
  )\@";
static FREEMAIL_WELCOMELIST: OnceLock<pcre2::bytes::Regex> = OnceLock::new();

/// FreeMail.pm's `$skip_replyto_envfrom`: envelope senders of bulk and list mail, for which
/// the Reply-To check is skipped.
const BULK_ENVFROM_RE: &str = r"(?xi)(?:
      ^(?:post|host|domain)master
    | ^double-bounce
    | ^(?:sentto|owner|return|(?:gr)?bounced?)-.+
    | -(?:request|bounces?|admin|owner)
    | \b(?:do[._-t]?)?no[._-t]?repl(?:y|ies)
    | .+=.+
  )\@";
static BULK_ENVFROM: OnceLock<pcre2::bytes::Regex> = OnceLock::new();

/// FreeMail.pm's email regex; the top-level domain is any run of letters (SpamAssassin
/// checks it against its list of valid TLDs).
const EMAIL_RE: &str = r"(?i)(?=.{0,64}\@)(?<![a-z0-9!#$%&'*+/=?^_`{|}~-])([a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\@(?:[a-z0-9](?:[a-z0-9-]{0,59}[a-z0-9])?\.){1,4}(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59}))";
static EMAIL: OnceLock<pcre2::bytes::Regex> = OnceLock::new();
/// What `_parse_body` blanks before collecting addresses: links with an address inside, and
/// addresses in angle brackets or before a "wrote:"-like word (quoting, not an invitation).
static URL_WITH_ADDRESS: OnceLock<pcre2::bytes::Regex> = OnceLock::new();
static QUOTED_ADDRESS: OnceLock<pcre2::bytes::Regex> = OnceLock::new();
static MAILTO_LINK: OnceLock<pcre2::bytes::Regex> = OnceLock::new();

/// The pattern `source` writes, compiled on first use (`source` runs only then).
fn perl_regex(
    cell: &'static OnceLock<pcre2::bytes::Regex>,
    source: impl FnOnce() -> String,
) -> &'static pcre2::bytes::Regex {
    cell.get_or_init(|| jit(&source()).expect("a fixed FreeMail pattern compiles"))
}

/// A fixed pattern of the evals, compiled with PCRE2's JIT where the platform has one (with
/// the interpreter, the date evals' parse of every Received date cost nearly twice as much).
pub(crate) fn jit(pattern: &str) -> Result<pcre2::bytes::Regex, pcre2::Error> {
    pcre2::bytes::RegexBuilder::new()
        .jit_if_available(true)
        .build(pattern)
}

/// Adds each new address `re` captures (group 1) in `text`, lower-cased, until `found` holds
/// `limit`; false once it does.
fn collect_addresses(
    re: &pcre2::bytes::Regex,
    text: &[u8],
    found: &mut Vec<String>,
    limit: usize,
) -> bool {
    for caps in re.captures_iter(text).map_while(Result::ok) {
        let Some(address) = caps.get(1) else { continue };
        let address = String::from_utf8_lossy(address.as_bytes()).to_ascii_lowercase();
        if !found.contains(&address) {
            found.push(address);
        }
        if found.len() >= limit {
            return false;
        }
    }
    true
}

/// `text` with every match of `re` replaced by one space.
fn blank_matches(re: &pcre2::bytes::Regex, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    for m in re.find_iter(text).map_while(Result::ok) {
        out.extend_from_slice(&text[last..m.start()]);
        out.push(b' ');
        last = m.end();
    }
    out.extend_from_slice(&text[last..]);
    out
}

/// FreeMail.pm's `_parse_body`: the free mail addresses of the body (mailto links, then the
/// rendered text), or `None` when the body has so many addresses (5) or free mail addresses
/// (3) that the plugin skips its body checks.
fn body_freemails(m: &SaMessage<'_>, context: &EvalContext) -> Option<Vec<String>> {
    const MAX_BODY_EMAILS: usize = 5;
    const MAX_BODY_FREEMAILS: usize = 3;
    let email = perl_regex(&EMAIL, || EMAIL_RE.to_string());
    let mailto = perl_regex(&MAILTO_LINK, || {
        format!(
            r#"(?i)<a\s[^>]*?href\s*=\s*["']?\s*mailto:{}"#,
            &EMAIL_RE[4..]
        )
    });
    let url = perl_regex(&URL_WITH_ADDRESS, || {
        r"(?i)<?https?://\S{0,255}(?:\@|%40)\S{0,255}".to_string()
    });
    let quoted = perl_regex(&QUOTED_ADDRESS, || {
        format!(
            r"(?i)<?(?<!mailto:){}(?:>|\s{{1,10}}(?!(?:fa(?:x|csi)|tel|phone|e?-?mail))[a-z]{{2,11}}:)",
            &EMAIL_RE[4..]
        )
    });
    let mut found: Vec<String> = Vec::new();
    // The plugin's sanity caps: 20 addresses from links, 40 in all.
    // Every address pattern needs an `@`: text without one holds none (most of a body).
    let has_at = |text: &[u8]| memchr::memchr(b'@', text).is_some();
    for html in m.view.texts.iter().filter_map(|t| t.html.as_deref()) {
        if !has_at(html.as_bytes()) {
            continue;
        }
        if !collect_addresses(mailto, html.as_bytes(), &mut found, 20) {
            break;
        }
    }
    for line in &m.body {
        if !has_at(line.as_bytes()) {
            continue;
        }
        let line = blank_matches(quoted, &blank_matches(url, line.as_bytes()));
        if !collect_addresses(email, &line, &mut found, 40) {
            break;
        }
    }
    let mut freemails = Vec::new();
    for (i, address) in found.iter().enumerate() {
        if i + 1 == MAX_BODY_EMAILS {
            return None;
        }
        if context.is_freemail(address) {
            freemails.push(address.clone());
            if freemails.len() == MAX_BODY_FREEMAILS {
                return None;
            }
        }
    }
    Some(freemails)
}

/// Shell-style `*` and `?` matching of a whole name.
fn glob_match(glob: &[u8], name: &[u8]) -> bool {
    match glob.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob_match(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob_match(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob_match(rest, &name[1..]),
    }
}

/// Every address in the header fields of this name (lower-cased).
fn addresses(m: &SaMessage<'_>, header: &str) -> Vec<String> {
    m.view
        .headers_named(header)
        .flat_map(|h| {
            mailmoat_mime::decode_encoded_words(&h.raw)
                .split(',')
                .filter_map(|part| {
                    let part = part.trim();
                    let inner = match (part.find('<'), part.rfind('>')) {
                        (Some(a), Some(b)) if a < b => &part[a + 1..b],
                        _ => part.split_whitespace().find(|w| w.contains('@'))?,
                    };
                    inner
                        .contains('@')
                        .then(|| inner.trim().to_ascii_lowercase())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// SpamAssassin's `all_from_addrs` (PerMsgStatus.pm): the first Resent-From if there is one,
/// else every address of From, Envelope-Sender, Resent-Sender, X-Envelope-From and the envelope
/// sender (MAIL FROM, else Return-Path); runs of dots collapsed, each once.
fn all_from_addrs(m: &SaMessage<'_>) -> Vec<String> {
    let resent = addresses(m, "Resent-From");
    let mut all: Vec<String> = if let Some(first) = resent.into_iter().next() {
        vec![first]
    } else {
        let mut all = Vec::new();
        for header in [
            "From",
            "Envelope-Sender",
            "Resent-Sender",
            "X-Envelope-From",
        ] {
            all.extend(addresses(m, header));
        }
        let envelope = m.view.envelope.mail_from.clone().or_else(|| {
            m.view
                .header("Return-Path")
                .map(|h| h.decoded.trim().trim_matches(['<', '>']).to_string())
        });
        all.extend(
            envelope
                .filter(|a| a.contains('@'))
                .map(|a| a.trim().to_ascii_lowercase()),
        );
        all
    };
    for address in &mut all {
        while address.contains("..") {
            *address = address.replace("..", ".");
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}

pub fn is_supported(function: &str) -> bool {
    SUPPORTED.contains(&function)
}

/// Whether this call's arguments are the forms implemented (a FreeMail regex over the local
/// part, say, is not): such a rule is listed as unsupported instead of never hitting.
pub fn arguments_supported(function: &str, args: &[String]) -> bool {
    match function {
        "check_freemail_from" => args.is_empty(),
        "check_freemail_header" => args.len() == 1,
        "check_msg_parse_flags" => args.first().is_some_and(|a| {
            matches!(
                a.as_str(),
                "missing_head_body_separator"
                    | "truncated_header"
                    | "missing_mime_head_body_separator"
                    | "mime_body_text_count"
            )
        }),
        _ => true,
    }
}

/// Eval tests that need DNS, a Bayes or reputation database, or a network service: they do not
/// run in SpamAssassin's local-only mode either (so a meta may read them as not hit).
pub fn needs_network_or_bayes(function: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "check_rbl",
        "check_uridnsbl",
        "check_uri_host_listed",
        "check_dns_sender",
        "check_bayes",
        "check_razor",
        "check_pyzor",
        "check_dcc",
        "check_for_spf",
        "check_spf",
        "check_dkim",
        "check_for_dkim",
        "check_for_def_dkim",
        "check_for_def_spf",
        "check_dmarc",
        "check_arc",
        "check_senders_reputation",
        "check_from_in_auto",
        "check_asn",
        "check_hashbl",
        "check_phishing",
        "check_uri_local_bl",
        "check_shortcircuit",
    ];
    PREFIXES.iter().any(|p| function.starts_with(p))
}

/// Runs one eval test; `None` when the function or its arguments are not supported.
pub fn run(
    function: &str,
    args: &[String],
    m: &SaMessage<'_>,
    context: &EvalContext,
) -> Option<bool> {
    let view = m.view;
    let arg = |i: usize| args.get(i).map(String::as_str);
    let number = |i: usize| arg(i).and_then(|a| a.trim().parse::<f64>().ok());
    Some(match function {
        "check_for_missing_to_header" => {
            view.header("To").is_none() && view.header("Apparently-To").is_none()
        }
        "check_header_count_range" => {
            let count = view.headers_named(arg(0)?).count() as f64;
            count >= number(1)? && count <= number(2)?
        }
        // The message body (after the header) shorter than the given number of bytes.
        "check_body_length" => {
            let body_len = body_start(&view.raw).map_or(0, |s| view.raw.len() - s);
            (body_len as f64) < number(0)?
        }
        "subject_is_all_caps" => subject_is_all_caps(view.subject.as_deref().unwrap_or("")),
        // Date header minus the Received date closest to it, in hours, within [min, max)
        // ("undef" for no bound); 0 when either is missing, as in SpamAssassin.
        "check_for_shifted_date" => {
            let hours = *m.date_diff.get_or_init(|| date_diff(view)) as f64 / 3600.0;
            let bound = |i: usize| {
                arg(i)
                    .filter(|a| *a != "undef")
                    .and_then(|a| a.parse::<f64>().ok())
            };
            bound(0).is_none_or(|m| hours >= m) && bound(1).is_none_or(|m| hours < m)
        }
        "check_for_to_in_subject" => to_in_subject(m, arg(0)?),
        // Share of upper-case letters (A-Z against a-z and digits) in the rendered body's
        // lines of several words, above `min` and at most `max` percent (MIMEEval).
        "check_for_uppercase" => {
            let (min, max) = (number(0)?, number(1)?);
            let (len, lower, upper) = *m.letter_case_counts.get_or_init(|| letter_case_counts(m));
            if len < 200 || upper + lower == 0 {
                return Some(false);
            }
            let share = upper as f64 * 100.0 / (upper + lower) as f64;
            share > min && share <= max
        }
        // Raw 8-bit bytes in a header: ratio of such bytes and a minimum count.
        "check_illegal_chars" => {
            let (header, ratio, count) = (arg(0)?, number(1)?, number(2)?);
            // The bytes as on the wire: the view's header strings are read as UTF-8, which
            // would turn one Latin-1 byte into three.
            let raw: Vec<u8> = m
                .raw_header_values
                .get_or_init(|| raw_header_values(view.raw_headers()))
                .iter()
                .filter(|(name, _)| {
                    if header == "ALL" {
                        !name.eq_ignore_ascii_case("Subject") && !name.eq_ignore_ascii_case("From")
                    } else {
                        name.eq_ignore_ascii_case(header)
                    }
                })
                .flat_map(|(_, value)| value.iter().copied())
                .collect();
            illegal_chars(&raw, header.eq_ignore_ascii_case("Subject"), ratio, count)
        }
        "check_for_faraway_charset_in_headers" => false,
        "html_image_only" => {
            // An HTML part with an image whose length is in (min, max]. SpamAssassin's
            // HTML.pm counts the length of the HTML source it parsed, markup included, not of
            // the rendered text (`$self->{length} += length($text)` in `parse`).
            let (min, max) = (number(0)?, number(1)?);
            view.texts
                .iter()
                .filter_map(|t| t.html.as_deref())
                .any(|html| {
                    let len = html.len() as f64;
                    html.to_ascii_lowercase().contains("<img") && len > min && len <= max
                })
        }
        "check_freemail_from" | "check_freemail_header" => {
            let (header, pattern) = if function == "check_freemail_from" {
                ("From", arg(0))
            } else {
                (arg(0)?, arg(1))
            };
            if pattern.is_some() {
                // A regex over the local part: not taken here.
                return None;
            }
            let candidates = if function == "check_freemail_from" {
                all_from_addrs(m)
            } else {
                addresses(m, header)
            };
            candidates.iter().any(|a| context.is_freemail(a))
        }
        // FreeMail.pm's check_freemail_replyto: From and Reply-To different free mail
        // addresses; else a free mail address in the body that differs from the Reply-To
        // (`replyto`: which must be free mail) or from the Reply-To or else From (`reply`:
        // From must be free mail, and Reply-To too when there is one). Bulk envelope senders
        // are skipped.
        "check_freemail_replyto" => {
            let reply_mode = match arg(0).unwrap_or("replyto") {
                "replyto" => false,
                "reply" => true,
                _ => return None,
            };
            let envelope_from = m.header(&crate::HeaderTarget::parse("EnvelopeFrom"));
            if envelope_from.is_some_and(|e| {
                perl_regex(&BULK_ENVFROM, || BULK_ENVFROM_RE.to_string())
                    .is_match(e.trim().as_bytes())
                    .unwrap_or(false)
            }) {
                return Some(false);
            }
            let from = addresses(m, "From");
            let reply_to = addresses(m, "Reply-To");
            let from_fm = from.iter().any(|a| context.is_freemail(a));
            let reply_fm = reply_to.iter().any(|a| context.is_freemail(a));
            if from_fm && reply_fm && !from.iter().any(|f| reply_to.contains(f)) {
                return Some(true);
            }
            let compare_with = if !reply_mode {
                if !reply_fm {
                    return Some(false);
                }
                &reply_to
            } else if (!reply_to.is_empty() && !reply_fm) || !from_fm {
                return Some(false);
            } else if reply_fm {
                &reply_to
            } else {
                &from
            };
            let Some(body) = m
                .body_freemails
                .get_or_init(|| body_freemails(m, context))
                .as_ref()
            else {
                return Some(false);
            };
            body.iter().any(|b| compare_with.iter().any(|r| r != b))
        }
        "check_msg_parse_flags" => match arg(0)? {
            "missing_head_body_separator" => body_start(&view.raw).is_none(),
            "truncated_header" => false,
            "missing_mime_head_body_separator" | "mime_body_text_count" => false,
            _ => return None,
        },
        _ => return None,
    })
}

/// Each header field of a raw header section: its name and its value's bytes after the colon,
/// folding kept.
fn raw_header_values(section: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    for line in section.split_inclusive(|&b| b == b'\n') {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some((_, value)) = fields.last_mut() {
                value.extend_from_slice(line);
            }
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
            fields.push((name, line[colon + 1..].to_vec()));
        }
    }
    for (_, value) in &mut fields {
        while value.last().is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            value.pop();
        }
    }
    fields
}

/// HeaderEval.pm's `check_illegal_chars` on a header's raw bytes: valid UTF-8 without control
/// characters is legal; otherwise bytes 0x80–0xFF and C0 controls (but tab, LF, CR) count, a
/// Subject may carry one ¢, £ or ® byte, and the rule needs `count` of them making at least
/// `ratio` of the value.
fn illegal_chars(raw: &[u8], subject: bool, ratio: f64, count: f64) -> bool {
    let control = |b: u8| matches!(b, 0x00..=0x08 | 0x0b | 0x0c | 0x0e..=0x1f);
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return false;
    }
    if !raw.is_ascii() && std::str::from_utf8(raw).is_ok() && !raw.iter().any(|&b| control(b)) {
        return false;
    }
    let mut illegal = raw.iter().filter(|&&b| control(b) || b >= 0x7f).count();
    if illegal > 0 && subject {
        let exempt = raw
            .iter()
            .filter(|&&b| matches!(b, 0xa2 | 0xa3 | 0xae))
            .count();
        if exempt == 1 {
            illegal -= 1;
        }
    }
    illegal as f64 / raw.len() as f64 >= ratio && illegal as f64 >= count
}

fn body_start(raw: &[u8]) -> Option<usize> {
    let crlf = memchr::memmem::find(raw, b"\r\n\r\n").map(|p| p + 4);
    let lf = memchr::memmem::find(raw, b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// SpamAssassin's `subject_is_all_caps`: reply prefixes dropped, more than one word, ten
/// characters or more, and every ASCII letter upper-case.
fn subject_is_all_caps(subject: &str) -> bool {
    let mut subject = subject.trim();
    loop {
        let lower = subject.to_ascii_lowercase();
        let prefix = [
            "re:", "fwd:", "fw:", "aw:", "antwort:", "wg:", "sv:", "vb:", "vs:", "vl:",
        ]
        .iter()
        .find(|p| lower.starts_with(*p));
        match prefix {
            Some(p) => subject = subject[p.len()..].trim_start(),
            None => break,
        }
    }
    if !subject.contains(char::is_whitespace) || subject.len() < 10 {
        return false;
    }
    let letters: Vec<u8> = subject.bytes().filter(u8::is_ascii_alphabetic).collect();
    !letters.is_empty() && letters.iter().all(u8::is_ascii_uppercase)
}

/// A line that starts with two runs of base64 (an undecoded attachment).
/// For `check_for_uppercase`: the length, lower-case letters and digits, and upper-case
/// letters of the rendered body's lines of several words, base64 runs left out.
fn letter_case_counts(m: &SaMessage<'_>) -> (usize, usize, usize) {
    let (mut len, mut lower, mut upper) = (0usize, 0usize, 0usize);
    for line in &m.body {
        let words = line.trim().contains(char::is_whitespace);
        if !words || looks_like_base64_run(line) {
            continue;
        }
        len += line.len();
        lower += line
            .bytes()
            .filter(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        upper += line.bytes().filter(u8::is_ascii_uppercase).count();
    }
    (len, lower, upper)
}

fn looks_like_base64_run(line: &str) -> bool {
    let mut words = line.split(' ');
    (0..2).all(|_| {
        words.next().is_some_and(|w| {
            (60..=76).contains(&w.len())
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        })
    })
}

/// SpamAssassin's date difference (`HeaderEval::_check_date_diff`): the Date header minus each
/// Received date, the one closest to zero; 0 when either is missing.
fn date_diff(view: &mailmoat_mime::MessageView) -> i64 {
    // `_get_date_header_time`: a Resent-Date before any Date, the first that parses, read
    // as written (`get_header`).
    let date = ["Resent-Date", "Date"].iter().find_map(|name| {
        view.headers_named(name)
            .find_map(|h| parse_rfc822_date(&h.raw))
    });
    let Some(date) = date else {
        return 0;
    };
    let mut diffs: Vec<i64> = received_times(view).into_iter().map(|t| date - t).collect();
    // A last (oldest) Received line with no difference is the sender's own stamp: left out.
    if diffs.len() > 1 && diffs.last() == Some(&0) {
        diffs.pop();
    }
    diffs.into_iter().min_by_key(|d| d.abs()).unwrap_or(0)
}

/// SpamAssassin's `Util::parse_rfc822_date`, step by step, so that the date evals read dates
/// as it does: two- and three-digit years, a year outside 1970–2037 forced into it ("0102" is
/// 1970), out-of-range times clamped, a day past the month's end rolled over, only its own
/// zone names, anything else UTC.
fn parse_rfc822_date(date: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const ZONES: &[(&str, &str)] = &[
        ("UT", "+0000"),
        ("UTC", "+0000"),
        ("NDT", "-0230"),
        ("AST", "-0400"),
        ("ADT", "-0300"),
        ("NST", "-0330"),
        ("EST", "-0500"),
        ("EDT", "-0400"),
        ("CST", "-0600"),
        ("CDT", "-0500"),
        ("MST", "-0700"),
        ("MDT", "-0600"),
        ("PST", "-0800"),
        ("PDT", "-0700"),
        ("HST", "-1000"),
        ("AKST", "-0900"),
        ("AKDT", "-0800"),
        ("HADT", "-0900"),
        ("HAST", "-1000"),
        ("GMT", "+0000"),
        ("BST", "+0100"),
        ("IST", "+0100"),
        ("WET", "+0000"),
        ("WEST", "+0100"),
        ("CET", "+0100"),
        ("CEST", "+0200"),
        ("EET", "+0200"),
        ("EEST", "+0300"),
        ("MSK", "+0300"),
        ("MSD", "+0400"),
        ("MET", "+0100"),
        ("MEZ", "+0100"),
        ("MEST", "+0200"),
        ("MESZ", "+0200"),
        ("BRST", "-0200"),
        ("BRT", "-0300"),
        ("AEST", "+1000"),
        ("AEDT", "+1100"),
        ("ACST", "+0930"),
        ("ACDT", "+1030"),
        ("AWST", "+0800"),
        ("NZST", "+1200"),
        ("NZDT", "+1300"),
        ("JST", "+0900"),
        ("KST", "+0900"),
        ("HKT", "+0800"),
        ("SGT", "+0800"),
        ("PHT", "+0800"),
        ("IDT", "+0300"),
    ];
    static PATTERNS: OnceLock<[pcre2::bytes::Regex; 7]> = OnceLock::new();
    let [comma, space, day_month_year, month_day_year, short_year, time, zone] =
        PATTERNS.get_or_init(|| {
            [
                r",\s*",
                r"\s+",
                r"(?i) (\d+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) ",
                r"(?i) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d+) \d+:\d+:\d+ (\d{4}) ",
                r"(?i) (\d+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{2,3}) ",
                r" (\d?\d):(\d\d)(:(\d\d))? ",
                r"\b([A-Z]{2,4}(?:-DST)?)\b",
            ]
            .map(|p| jit(p).expect("a fixed date pattern compiles"))
        });
    // `s/re/ /`: the captures of the first match, and the text with it replaced by a space.
    let take = |re: &pcre2::bytes::Regex, text: &mut Vec<u8>| -> Option<Vec<String>> {
        let caps = re.captures(text).ok()??;
        let whole = caps.get(0)?;
        let groups = (1..caps.len())
            .map(|i| {
                caps.get(i)
                    .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let (start, end) = (whole.start(), whole.end());
        text.splice(start..end, [b' ']);
        Some(groups)
    };
    let mut text = blank_matches(space, &blank_matches(comma, format!(" {date} ").as_bytes()));
    let number = |s: &str| s.parse::<i64>().unwrap_or(0);
    let (day, month, year_text) = if let Some(g) = take(day_month_year, &mut text) {
        (number(&g[0]), g[1].clone(), g[2].clone())
    } else if let Some(g) = take(month_day_year, &mut text) {
        (number(&g[1]), g[0].clone(), g[2].clone())
    } else if let Some(g) = take(short_year, &mut text) {
        (number(&g[0]), g[1].clone(), g[2].clone())
    } else {
        return None;
    };
    let mut year = number(&year_text);
    if year_text.len() == 2 && year < 50 {
        year += 2000;
    } else if year_text.len() != 4 {
        year += 1900;
    }
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    if let Some(g) = take(time, &mut text) {
        (hour, minute, second) = (number(&g[0]), number(&g[1]), number(&g[3]));
    }
    let numeric_zone = {
        static NUMERIC: OnceLock<pcre2::bytes::Regex> = OnceLock::new();
        let re =
            NUMERIC.get_or_init(|| jit(r" ([-+]\d{4}) ").expect("a fixed zone pattern compiles"));
        take(re, &mut text).map(|g| g[0].clone())
    };
    let offset = numeric_zone
        .or_else(|| {
            let g = take(zone, &mut text)?;
            ZONES
                .iter()
                .find(|(name, _)| *name == g[0])
                .map(|(_, off)| off.to_string())
        })
        .unwrap_or_else(|| "-0000".to_string());
    let mut month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(&month))
        .map_or(0, |i| i as i64 + 1);
    second = second.min(59);
    minute = minute.min(59);
    hour = hour.min(23);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let max_day = match month {
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 31,
    };
    let mut day = day;
    if day > max_day {
        day = 1;
        month += 1;
        if month > 12 {
            month = 1;
            year += 1;
        }
    }
    year = year.clamp(1970, 2037);
    // Time::Local's timegm refuses a day or month out of range (SpamAssassin: unparsable).
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut time = mail_parser::DateTime {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        tz_before_gmt: false,
        tz_hour: 0,
        tz_minute: 0,
    }
    .to_timestamp();
    let bytes = offset.as_bytes();
    let seconds = (number(&offset[1..3]) * 60 + number(&offset[3..5])) * 60;
    if bytes[0] == b'-' {
        time += seconds;
    } else if time < seconds {
        time = 0;
    } else {
        time -= seconds;
    }
    Some(time)
}

/// `HeaderEval::_get_received_header_times`: the first date-like text of each Received line
/// (not necessarily the one after the `;`), with a local delivery line on top left out when a
/// fetchmail line follows it.
fn received_times(view: &mailmoat_mime::MessageView) -> Vec<i64> {
    static LOCAL: OnceLock<Option<pcre2::bytes::Regex>> = OnceLock::new();
    static FETCHMAIL: OnceLock<Option<pcre2::bytes::Regex>> = OnceLock::new();
    static DATE: OnceLock<Option<pcre2::bytes::Regex>> = OnceLock::new();
    let compile = |re: &str| jit(re).ok();
    let (Some(local), Some(fetchmail), Some(date)) = (
        LOCAL
            .get_or_init(|| {
                compile(r"\bfrom (?:localhost\s|(?:\S+ ){1,2}\S*\b127\.0\.0\.1\b)|qmail \d+ invoked by uid \d+")
            })
            .as_ref(),
        FETCHMAIL
            .get_or_init(|| compile(r"\bby localhost with \w+ \(fetchmail-[\d.]+"))
            .as_ref(),
        DATE.get_or_init(|| compile(r"(\s.?\d+ \S\S\S \d+ \d+:\d+:\d+ \S+)"))
            .as_ref(),
    ) else {
        return Vec::new();
    };
    let is = |re: &pcre2::bytes::Regex, line: &str| re.is_match(line.as_bytes()).unwrap_or(false);
    let mut lines: Vec<&str> = view
        .received
        .iter()
        .map(|h| h.raw.as_str())
        .filter(|l| l.contains(|c: char| !c.is_whitespace()))
        .collect();
    if lines.len() >= 2 && is(local, lines[0]) && is(fetchmail, lines[1]) {
        lines.drain(..2);
    }
    lines
        .iter()
        .filter_map(|line| {
            let caps = date.captures(line.as_bytes()).ok()??;
            let text = std::str::from_utf8(caps.get(1)?.as_bytes()).ok()?;
            parse_rfc822_date(text)
        })
        .collect()
}

/// SpamAssassin's `check_for_to_in_subject`: the first To address (or its local part) as the
/// subject's whole or leading word.
fn to_in_subject(m: &SaMessage<'_>, how: &str) -> bool {
    let Some(to) = m.view.to.iter().find_map(|t| t.address.as_deref()) else {
        return false;
    };
    let subject = m.view.subject.as_deref().unwrap_or("").trim_end();
    let lower = subject.to_ascii_lowercase();
    match how {
        "address" => {
            let to = to.to_ascii_lowercase();
            lower.starts_with(&to) || lower.starts_with(&format!("fw: {to}"))
        }
        "user" => {
            let user = to.split('@').next().unwrap_or("");
            if user.is_empty() {
                return false;
            }
            let user_lower = user.to_ascii_lowercase();
            let punct = |c: char| ",:;!?-".contains(c);
            // re:/fw: then at most one word, then the user, to the end.
            let reply = ["re:", "fw:"].iter().any(|p| {
                lower.strip_prefix(p).is_some_and(|rest| {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    (words.len() == 1 || words.len() == 2)
                        && words.last() == Some(&user_lower.as_str())
                })
            });
            let leading = subject.strip_prefix(user).is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.chars().next().is_some_and(punct)
                    && rest[1..].chars().next().is_none_or(char::is_whitespace)
            });
            let whole = lower == user_lower;
            let listed = lower.strip_prefix(',').is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.strip_prefix(user_lower.as_str())
                    .is_some_and(|r| r.len() == 1 && r.chars().all(punct))
            });
            reply || leading || whole || listed
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmoat_mime::MessageView;

    /// SpamAssassin's own reading of dates (`Util::parse_rfc822_date`), quirks included.
    #[test]
    fn dates_read_as_spamassassin_reads_them() {
        for (date, expected) in [
            // No zone: UTC.
            ("Sat, 18 May 2002 01:27:10", Some(1021685230)),
            // A four-digit year before 1970 is forced to 1970.
            ("Fri, 31 May 0102 04:51:42 -1100", Some(13017102)),
            // Two-digit years under 50 are 20xx; an unknown zone word is UTC.
            ("06 Jul 01 8:04:54 PM", Some(994406694)),
            // A day past the month's end rolls over to the next month's first.
            ("Mon, 31 Feb 2003 10:00:00 +0100", Some(1046509200)),
            ("Wed, 24 Jul 2002 04:01:49 EST", Some(1027501309)),
            ("yesterday", None),
        ] {
            assert_eq!(parse_rfc822_date(date), expected, "{date}");
        }
    }

    fn eval(raw: &str, f: &str, args: &[&str]) -> Option<bool> {
        let v = MessageView::from_raw(raw.as_bytes());
        let m = SaMessage::new(&v);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let context = EvalContext::new([
            "mail.example".to_string(),
            "*.free.example".to_string(),
            "hot.*".to_string(),
        ]);
        run(f, &args, &m, &context)
    }

    #[test]
    fn shifted_date_reads_received_dates_as_spamassassin_does() {
        let raw = "Received: from localhost (localhost [127.0.0.1]) by home.example (Postfix)\r\n\
\tfor <me@home.example>; Wed, 21 Aug 2002 12:10:00 +0000\r\n\
Received: from pop.example by localhost with POP3 (fetchmail-5.9.0)\r\n\
\tfor me@home.example (single-drop); Wed, 21 Aug 2002 12:09:00 +0000\r\n\
Received: from mx.sender.example (mx.sender.example [192.0.2.1]) by pop.example\r\n\
\twith ESMTP id 1A; Wed, 21 Aug 2002 12:00:00 +0000\r\n\
Date: Wed, 21 Aug 2002 08:00:00 +0000\r\nSubject: s\r\n\r\nbody\r\n";
        // The local and fetchmail lines on top are left out: 4 hours before the mx line.
        assert_eq!(
            eval(raw, "check_for_shifted_date", &["-6", "-3"]),
            Some(true)
        );
        assert_eq!(
            eval(raw, "check_for_shifted_date", &["-3", "-1"]),
            Some(false)
        );
        let no_zone = raw.replace("08:00:00 +0000\r\nSubject", "08:00:00\r\nSubject");
        assert_eq!(
            eval(&no_zone, "check_for_shifted_date", &["-6", "-3"]),
            Some(true),
            "a Date without a zone reads as UTC"
        );
        let no_received = "Date: Wed, 21 Aug 2002 08:00:00 +0000\r\nSubject: s\r\n\r\nb\r\n";
        assert_eq!(
            eval(no_received, "check_for_shifted_date", &["-6", "-3"]),
            Some(false),
            "no Received date: a difference of 0"
        );
    }

    #[test]
    fn header_evals() {
        let raw = "Subject: FREE MONEY NOW\r\nFrom: a@b.example\r\n\r\nhi\r\n";
        assert_eq!(eval(raw, "check_for_missing_to_header", &[]), Some(true));
        assert_eq!(eval(raw, "subject_is_all_caps", &[]), Some(true));
        assert_eq!(eval(raw, "check_body_length", &["10"]), Some(true));
        assert_eq!(
            eval(raw, "check_header_count_range", &["From", "2", "3"]),
            Some(false)
        );
        assert_eq!(eval(raw, "no_such_test", &[]), None);
        let raw = "Subject: Meeting notes\r\nTo: bob@x.example\r\n\r\nhi\r\n";
        assert_eq!(eval(raw, "check_for_missing_to_header", &[]), Some(false));
        assert_eq!(eval(raw, "subject_is_all_caps", &[]), Some(false));
    }

    #[test]
    fn every_supported_function_answers_with_plausible_arguments() {
        let raw = "Subject: bob, your invoice\r\nTo: bob@x.example\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nReceived: from a by b; Mon, 1 Jan 2024 01:00:00 +0000\r\n\r\nhi\r\n";
        for f in SUPPORTED {
            let args: &[&str] = match *f {
                "check_header_count_range" => &["To", "1", "1"],
                "check_body_length" => &["5"],
                "check_for_shifted_date" => &["-3", "-1"],
                "check_for_to_in_subject" => &["user"],
                "check_for_uppercase" => &["25", "50"],
                "check_illegal_chars" => &["Subject", "0.1", "1"],
                "html_image_only" => &["0", "400"],
                "check_msg_parse_flags" => &["missing_head_body_separator"],
                "check_freemail_header" => &["To"],
                _ => &[],
            };
            let answer = eval(raw, f, args);
            if *f != "html_image_only" {
                assert!(answer.is_some(), "{f}");
            }
        }
        assert_eq!(
            eval(raw, "check_for_shifted_date", &["-3", "-1"]),
            Some(false)
        );
        assert_eq!(
            eval(raw, "check_for_shifted_date", &["-1", "0"]),
            Some(true)
        );
        assert_eq!(eval(raw, "check_for_to_in_subject", &["user"]), Some(true));
    }

    #[test]
    fn freemail_addresses_by_listed_domain_or_wildcard() {
        let raw = "From: A <a@mail.example>\r\nReply-To: b@x.free.example\r\nTo: c@corp.example\r\n\r\nhi\r\n";
        assert_eq!(eval(raw, "check_freemail_from", &[]), Some(true));
        assert_eq!(
            eval(raw, "check_freemail_header", &["Reply-To"]),
            Some(true)
        );
        assert_eq!(eval(raw, "check_freemail_header", &["To"]), Some(false));
        assert_eq!(
            eval(raw, "check_freemail_replyto", &["replyto"]),
            Some(true)
        );
        let raw = "From: a@corp.example\r\n\r\nhi\r\n";
        assert_eq!(eval(raw, "check_freemail_from", &[]), Some(false));
        let raw = "From: a@hot.co.uk\r\n\r\nhi\r\n";
        assert_eq!(eval(raw, "check_freemail_from", &[]), Some(true));
        let raw = format!("From: a@hot.{}\r\n\r\nhi\r\n", "x.".repeat(5000));
        assert_eq!(eval(&raw, "check_freemail_from", &[]), Some(false));
    }

    #[test]
    fn illegal_characters_are_counted_on_the_raw_bytes_as_header_eval_does() {
        let section = b"Subject: Gambler wins \xa3 7,000\r\nFrom: a@b.example\r\nX-Long: one\r\n\ttwo \xe7\xe8\r\n\r\n";
        let fields = raw_header_values(section);
        assert_eq!(fields.len(), 3);
        assert_eq!(
            fields[2],
            ("X-Long".to_string(), b" one\r\n\ttwo \xe7\xe8".to_vec())
        );
        // One pound sign in a Subject is exempt; one Latin-1 letter is below the count of 2.
        assert!(!illegal_chars(&fields[0].1, true, 0.0, 2.0));
        assert!(!illegal_chars(b" Ger\xe7ek adres", true, 0.0, 2.0));
        assert!(illegal_chars(b" Ger\xe7\xe8k adres", true, 0.0, 2.0));
        assert!(illegal_chars(&fields[2].1, false, 0.0, 2.0));
        // Valid UTF-8 is legal unless it carries control characters.
        assert!(!illegal_chars(
            " Gerçek çok güzel".as_bytes(),
            true,
            0.0,
            2.0
        ));
        assert!(illegal_chars(" Gerçek\x01\x02".as_bytes(), true, 0.0, 2.0));
        assert!(!illegal_chars(b"   ", true, 0.0, 0.0));
    }
}

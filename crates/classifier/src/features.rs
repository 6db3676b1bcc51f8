use std::borrow::Cow;

use mailmoat_detectors::text_obfuscation::undo_confusable_words;
use mailmoat_mime::{MessageView, TextKind};
use unicode_normalization::UnicodeNormalization;

/// Body text beyond this many characters adds no features (bounds work on huge messages).
const MAX_BODY_CHARS: usize = 10_000;
/// Word pairs are taken within this distance (OSB window).
const OSB_WINDOW: usize = 3;

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{ac00}'..='\u{d7a3}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}' | '\u{4e00}'..='\u{9fff}' | '\u{3040}'..='\u{30ff}')
}

/// Characters that render as nothing: dropped before words are cut, so "pay\u{200B}ment" is
/// the word "payment" and not two fresh tokens the model never learned.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '\u{00C0}'..='\u{024F}')
}

fn is_cyrillic_or_greek(c: char) -> bool {
    matches!(c, '\u{0370}'..='\u{03FF}' | '\u{0400}'..='\u{04FF}')
}

/// Text as the features read it, undoing the disguises that turn a known word into tokens the
/// model has never seen: compatibility forms folded by NFKC (full-width "ｆｒｅｅ", styled
/// "𝐟𝐫𝐞𝐞", ligatures, and compatibility jamo "ㅌㅗㅌㅗ" composed into "토토", with Latin
/// letters and digits that imitate jamo beside them read as those jamo: "ㅋr지노"), invisible
/// characters dropped, and Cyrillic or Greek look-alikes inside a Latin word read as the Latin
/// letter they imitate (UTS #39 skeleton). A word wholly in Cyrillic or Greek is left as it is.
/// Credential and brand words spelt with confusable ASCII letters ("Iog in", "User lD",
/// "PayPaI") are read as those words. ASCII text without them, most mail, is returned as it came.
pub fn fold(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return match undo_confusable_words(text) {
            Some(plain) => Cow::Owned(plain),
            None => Cow::Borrowed(text),
        };
    }
    let folded: String = mailmoat_detectors::hangul::undo_jamo_look_alikes(text)
        .nfkc()
        .filter(|&c| !is_invisible(c))
        .collect();
    let folded = join_spaced_syllables(folded);
    let folded = undo_confusable_words(&folded).unwrap_or(folded);
    if !folded.chars().any(is_cyrillic_or_greek) {
        return Cow::Owned(folded);
    }
    let mut out = String::with_capacity(folded.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let mixed = word.chars().any(is_latin_letter) && word.chars().any(is_cyrillic_or_greek);
        if mixed {
            for c in word.chars() {
                match is_cyrillic_or_greek(c)
                    .then(|| latin_look_alike(c))
                    .flatten()
                {
                    Some(latin) => out.push(latin),
                    None => out.push(c),
                }
            }
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in folded.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    Cow::Owned(out)
}

fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// Hangul syllables standing alone and cut apart by one to three separators on one line
/// ("바.카.라", "토 토", "대-출") joined into the word they spell.
fn join_spaced_syllables(text: String) -> String {
    if !text.chars().any(is_hangul_syllable) {
        return text;
    }
    let chars: Vec<char> = text.chars().collect();
    let lone = |i: usize| {
        is_hangul_syllable(chars[i])
            && (i == 0 || !chars[i - 1].is_alphanumeric())
            && chars.get(i + 1).is_none_or(|c| !c.is_alphanumeric())
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        out.push(chars[i]);
        if lone(i) {
            let gap = chars[i + 1..]
                .iter()
                .take(4)
                .position(|c| c.is_alphanumeric() || *c == '\n');
            if let Some(g @ 1..=3) = gap {
                if lone(i + 1 + g) {
                    i += 1 + g;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// The one ASCII letter a Cyrillic or Greek letter is confusable with, if there is one.
fn latin_look_alike(c: char) -> Option<char> {
    let mut buf = [0u8; 4];
    let mut skeleton = unicode_security::skeleton(c.encode_utf8(&mut buf));
    match (skeleton.next(), skeleton.next()) {
        (Some(l), None) if l.is_ascii_alphabetic() => Some(l),
        _ => None,
    }
}

const NUM: [&str; 10] = [
    "#num0", "#num1", "#num2", "#num3", "#num4", "#num5", "#num6", "#num7", "#num8", "#num9",
];
const LONG: [&str; 7] = [
    "long0", "long1", "long2", "long3", "long4", "long5", "long6",
];

/// Words of 2–24 characters from already lower-cased text (numbers become their length class);
/// Hangul/CJK runs also give character bigrams. Scans bytes, decoding only non-ASCII characters
/// (most mail text is ASCII, and this loop sees every character of every body).
fn words<'t>(lower: &'t str, out: &mut Vec<&'t str>, bigrams: &mut Vec<String>) {
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Skip ASCII separators quickly, then read one word.
        while i < bytes.len() && bytes[i] < 0x80 && ASCII_CLASS[bytes[i] as usize] == SEPARATOR {
            i += 1;
        }
        let (start, mut len, mut cjk, mut digits) = (i, 0usize, false, true);
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                let class = ASCII_CLASS[b as usize];
                if class == SEPARATOR {
                    break;
                }
                digits &= class != LETTER;
                i += 1;
            } else {
                let c = lower[i..].chars().next().unwrap_or(' ');
                if !c.is_alphanumeric() {
                    if len == 0 {
                        // A non-ASCII separator before any word character: skip it.
                        i += c.len_utf8();
                        break;
                    }
                    break;
                }
                cjk |= is_cjk(c);
                digits = false;
                i += c.len_utf8();
            }
            len += 1;
        }
        if len == 0 {
            continue;
        }
        let raw = &lower[start..i];
        let w = raw.trim_matches('\'');
        // Quotes are one byte each: the trimmed count is the byte difference.
        let len = len - (raw.len() - w.len());
        if !(2..=24).contains(&len) {
            if len > 24 {
                out.push(LONG[len.min(60) / 10]);
            }
            continue;
        }
        let digits = digits && w.bytes().all(|b| b.is_ascii_digit());
        if cjk {
            let chars: Vec<char> = w.chars().collect();
            for pair in chars.windows(2) {
                if pair.iter().all(|c| is_cjk(*c)) {
                    bigrams.push(pair.iter().collect());
                }
            }
        }
        out.push(if digits { NUM[len.min(9)] } else { w });
    }
}

const SEPARATOR: u8 = 0;
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const QUOTE: u8 = 3;

/// Word characters among ASCII: letters, digits, the apostrophe (trimmed at the ends) and `$`.
static ASCII_CLASS: [u8; 128] = {
    let mut t = [SEPARATOR; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'$' {
            t[c] = LETTER;
        } else if b == b'\'' {
            t[c] = QUOTE;
        } else if b.is_ascii_digit() {
            t[c] = DIGIT;
        }
        c += 1;
    }
    t
};

/// Receives feature tokens, each given as parts to concatenate (so the hot path never builds
/// a string: hashing the parts in order equals hashing their concatenation).
trait Sink {
    fn token(&mut self, parts: &[&str]);
    fn push(&mut self, token: String) {
        self.token(&[&token]);
    }
    /// Body words ("b:word") and their sparse pairs within the OSB window ("oD:first second").
    fn body(&mut self, words: &[&str]);
}

impl Sink for Vec<String> {
    fn token(&mut self, parts: &[&str]) {
        self.push(parts.concat());
    }
    fn body(&mut self, words: &[&str]) {
        for w in words {
            self.push(format!("b:{w}"));
        }
        for (i, w) in words.iter().enumerate() {
            for d in 1..=OSB_WINDOW {
                if let Some(v) = words.get(i + d) {
                    self.push(format!("o{d}:{w} {v}"));
                }
            }
        }
    }
}

struct Hashes {
    mask: u64,
    out: Vec<u32>,
    /// Reused: the parts are copied here and hashed as one token.
    buf: Vec<u8>,
    /// Reused: the hash of each body word, from which its pairs' hashes are mixed.
    word_hashes: Vec<u64>,
}

impl Hashes {
    fn hash_parts(&mut self, parts: &[&str]) -> u64 {
        self.buf.clear();
        for p in parts {
            self.buf.extend_from_slice(p.as_bytes());
        }
        hash(&self.buf)
    }

    fn index(&mut self, h: u64) {
        self.out.push(((h & self.mask) as u32).max(1));
    }
}

impl Sink for Hashes {
    fn token(&mut self, parts: &[&str]) {
        let h = self.hash_parts(parts);
        self.index(h);
    }
    fn body(&mut self, words: &[&str]) {
        let mut hashes = std::mem::take(&mut self.word_hashes);
        hashes.clear();
        for w in words {
            let h = self.hash_parts(&["b:", w]);
            hashes.push(h);
            self.index(h);
        }
        for i in 0..hashes.len() {
            for d in 1..=OSB_WINDOW {
                if let Some(&v) = hashes.get(i + d) {
                    self.index(pair_hash(hashes[i], v, d));
                }
            }
        }
        self.word_hashes = hashes;
    }
}

/// The hash of an OSB pair from its words' hashes: a few multiplications instead of copying and
/// hashing both words again (pairs are three quarters of all features).
fn pair_hash(first: u64, second: u64, distance: usize) -> u64 {
    let mut h = first.rotate_left(17) ^ second.wrapping_mul(0x9e3779b97f4a7c15) ^ distance as u64;
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58476d1ce4e5b9);
    h ^ (h >> 32)
}

/// The table index of a token that is not an OSB pair (no "oN:" prefix): what [`token_index`]
/// gives for it, without looking for one.
pub(crate) fn plain_token_index(token: &[u8], bits: u32) -> u32 {
    let mask = (1u64 << bits) - 1;
    ((hash(token) & mask) as u32).max(1)
}

/// The table index of one token as [`tokens`] prints it: what [`features`] computes for it.
pub fn token_index(token: &str, bits: u32) -> u32 {
    let mask = (1u64 << bits) - 1;
    let pair = token
        .strip_prefix('o')
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(d, words)| Some((d.parse::<usize>().ok()?, words.split_once(' ')?)));
    let h = match pair {
        Some((d, (a, b))) if (1..=OSB_WINDOW).contains(&d) => pair_hash(
            hash(format!("b:{a}").as_bytes()),
            hash(format!("b:{b}").as_bytes()),
            d,
        ),
        _ => hash(token.as_bytes()),
    };
    ((h & mask) as u32).max(1)
}

/// The feature tokens of a message, before hashing (for inspection and tests).
pub fn tokens(view: &MessageView) -> Vec<String> {
    let mut t: Vec<String> = Vec::with_capacity(512);
    extract(view, &mut t);
    t
}

fn extract(view: &MessageView, t: &mut impl Sink) {
    let mut bigrams = Vec::new();

    let subject_lower = fold(view.subject.as_deref().unwrap_or("")).to_lowercase();
    let mut subject = Vec::new();
    if let Some(s) = &view.subject {
        words(&subject_lower, &mut subject, &mut bigrams);
        let letters: Vec<char> = s
            .chars()
            .filter(|c| c.is_alphabetic() && (c.is_uppercase() || c.is_lowercase()))
            .collect();
        if letters.len() >= 8 && letters.iter().all(|c| c.is_uppercase()) {
            t.push("subj:caps".into());
        }
        if s.contains('!') {
            t.push("subj:bang".into());
        }
    } else {
        t.push("subj:none".into());
    }
    for w in &subject {
        t.token(&["s:", w]);
    }
    for g in bigrams.drain(..) {
        t.token(&["sh:", &g]);
    }

    let mut lowered = Vec::with_capacity(view.texts.len());
    let mut budget = MAX_BODY_CHARS;
    for text in &view.texts {
        // A text of no more bytes than the budget has no more characters either: no need to
        // count them.
        let (end, chars) = if text.text.len() <= budget {
            (text.text.len(), None)
        } else {
            match text.text.char_indices().nth(budget) {
                Some((i, _)) => (i, Some(budget)),
                None => (text.text.len(), None),
            }
        };
        let kept = &text.text[..end];
        budget = budget.saturating_sub(chars.unwrap_or_else(|| kept.chars().count()));
        lowered.push(fold(kept).to_lowercase());
        if text.kind == TextKind::Html && !text.hidden_text.trim().is_empty() {
            t.push("html:hidden".into());
        }
    }
    let mut body = Vec::with_capacity(lowered.iter().map(|l| l.len() / 5).sum());
    for lower in &lowered {
        words(lower, &mut body, &mut bigrams);
    }
    t.body(&body);
    // How much text there is: lets the model learn a prior per length class, so that a short
    // note is not judged by an intercept fitted to long mailing-list threads.
    t.push(format!("bw:{}", usize::BITS - body.len().leading_zeros()));
    for g in bigrams {
        t.token(&["bh:", &g]);
    }
    t.push(format!("len:{}", (view.raw.len() as f64).log2() as u32));

    // Sender and headers.
    if let Some(from) = view.from.first() {
        if let Some(d) = from.domain() {
            t.token(&["fd:", &d]);
            if let Some(tld) = d.rsplit('.').next() {
                t.push(format!("ftld:{tld}"));
            }
        }
        if let Some(local) = from.local_part() {
            let digits = local.chars().filter(char::is_ascii_digit).count();
            t.push(format!("fl:digits{}", digits.min(4)));
        }
        t.push(format!("fname:{}", from.has_display_name()));
    }
    // Which headers exist at all: sending software leaves distinctive sets. Headers added on
    // the receiving side (delivery, mailbox storage, earlier filters) say where a corpus was
    // collected, not what the message is, so they are left out.
    // Repeats (several Received) are removed with the other repeated features.
    let mut lower = String::with_capacity(32);
    for h in view.headers.iter().take(100) {
        lower.clear();
        lower.extend(h.name.chars().map(|c| c.to_ascii_lowercase()));
        if !is_receiving_side_header(&lower) {
            t.token(&["hn:", &lower]);
        }
    }
    for text in &view.texts {
        if let Some(cs) = &text.charset {
            t.push(format!("cs:{}", cs.to_ascii_lowercase()));
        }
    }
    if let Some(cte) = view.header("Content-Transfer-Encoding") {
        t.push(format!("cte:{}", cte.decoded.trim().to_ascii_lowercase()));
    }
    for name in ["x-mailer", "user-agent"] {
        if let Some(h) = view.header(name) {
            if let Some(first) = h
                .decoded
                .split(|c: char| !c.is_alphanumeric())
                .find(|w| !w.is_empty())
            {
                t.push(format!("mailer:{}", first.to_lowercase()));
            }
        }
    }
    if let Some(id) = &view.message_id {
        if let Some((_, d)) = id.rsplit_once('@') {
            t.push(format!("mid:{}", d.trim_end_matches('>').to_lowercase()));
        }
    }
    t.push(format!(
        "to_bare:{}",
        !view.to.is_empty() && view.to.iter().all(|m| !m.has_display_name())
    ));
    // The sending side of the Received chain: from the hop where the message entered (our
    // own relays' hops describe the recipient's site, not the sender).
    if let Some(entry) = view.external_hop {
        t.push(format!("hops:{}", (view.received.len() - entry).min(8)));
        if let Some(hop) = view.received.get(entry) {
            if let Some(std::net::IpAddr::V4(ip)) = hop.from_ip {
                let o = ip.octets();
                t.push(format!("rn:{}.{}.{}", o[0], o[1], o[2]));
            }
            if let Some(helo) = &hop.helo {
                if helo.parse::<std::net::IpAddr>().is_ok() {
                    t.push("helo:ip".into());
                }
            }
        }
    }
    for part in &view.parts {
        t.token(&["ct:", &part.content_type]);
    }
    for p in &view.problems {
        t.push(format!("problem:{:?}", p.kind));
    }

    // URLs.
    t.push(format!("urls:{}", view.urls.len().min(20) / 5));
    for u in view.urls.iter().take(200) {
        if let Some(host) = &u.host {
            t.token(&["uh:", host]);
            // The last two labels ("example.com" of "www.example.com").
            let last_two = host
                .rmatch_indices('.')
                .nth(1)
                .map(|(i, _)| &host[i + 1..])
                .unwrap_or(host);
            t.token(&["ud:", last_two]);
            if host.parse::<std::net::IpAddr>().is_ok() {
                t.push("url:ip".into());
            }
        }
        let path = u.url.splitn(4, '/').nth(3).unwrap_or("");
        for piece in path
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| (2..=20).contains(&p.len()))
            .take(8)
        {
            if piece.bytes().any(|b| b.is_ascii_uppercase()) || !piece.is_ascii() {
                t.token(&["up:", &piece.to_lowercase()]);
            } else {
                t.token(&["up:", piece]);
            }
        }
        if let Some(anchor) = &u.anchor_text {
            if anchor.contains("http") || anchor.contains("www.") {
                t.push("url:anchor_is_url".into());
            }
        }
    }

    // Signs that detectors report too, whose weight is learned here: each fires on more than
    // 0.5 % of ham in the held-out tests (issue 22), so the verdict gives them no hand weight.
    // The others of that kind have features already: MIME_HTML_ONLY in `ct:`, URL_IP_LITERAL
    // in `url:ip`, URL_CREDENTIAL_WORDS in `up:`, BODY_REMOVE_INSTRUCTIONS in the body's words.
    if mailmoat_detectors::header_sanity::return_path_other_org(view).is_some() {
        t.token(&["sig:return_path_other_org"]);
    }
    let links = || view.urls.iter().take(200);
    if links().any(|u| mailmoat_detectors::url_analysis::anchor_shows_other_domain(u).is_some()) {
        t.token(&["sig:anchor_other_domain"]);
    }
    if crate::url_model::any_phishing_like_host(links().filter_map(|u| u.host.as_deref())) {
        t.token(&["sig:host_model"]);
    }

    // Attachments.
    for a in &view.attachments {
        if let Some(name) = &a.file_name {
            if let Some((_, ext)) = name.rsplit_once('.') {
                t.push(format!("ae:{}", ext.to_lowercase()));
            }
        }
        t.token(&["at:", a.sniffed_type.unwrap_or(&a.content_type)]);
    }
}

/// Headers written by the receiving side: delivery agents (X-Original-To, Delivered-To),
/// mailbox formats and clients (Status, X-UID, X-Keywords, Content-Length, Lines, X-Mozilla-*,
/// X-Evolution-*, X-IMAP*), and filters that ran before us (X-Spam-*, X-Virus-*). In the public
/// corpora they mark the collector's mailbox: the Nazario phishing mbox files carry Status,
/// X-UID and X-Keywords on every message, which a model would otherwise learn as "phishing".
fn is_receiving_side_header(name: &str) -> bool {
    matches!(
        name,
        "status"
            | "x-status"
            | "x-uid"
            | "x-keywords"
            | "content-length"
            | "lines"
            | "x-original-to"
            | "delivered-to"
            | "x-imap"
            | "x-imapbase"
            | "x-dspam-result"
    ) || ["x-mozilla-", "x-evolution", "x-spam-", "x-virus-", "x-imap"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// A fast 64-bit hash, eight bytes at a time (FxHash-style mixing with a final avalanche).
/// Fixed here, not taken from a crate, so model files stay valid across builds and platforms.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517cc1b727220a95;
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    // Avalanche so the low bits used as the table index depend on every input bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h
}

/// Hashed, deduplicated feature indices in a table of `2^bits` (index 0 is the bias).
pub fn features(view: &MessageView, bits: u32) -> Vec<u32> {
    dedup(features_with_repeats(view, bits), bits)
}

/// Hashed feature indices with repeats (index 0 is the bias): what [`crate::Weights::predict_repeated`]
/// takes, which only has to deduplicate the few features that carry a weight.
pub fn features_with_repeats(view: &MessageView, bits: u32) -> Vec<u32> {
    let mut sink = Hashes {
        mask: (1u64 << bits) - 1,
        // About one word per six characters of body, four features per word.
        out: Vec::with_capacity(
            512 + view
                .texts
                .iter()
                .map(|t| t.text.len())
                .sum::<usize>()
                .min(MAX_BODY_CHARS * 4)
                * 2
                / 3,
        ),
        buf: Vec::with_capacity(64),
        word_hashes: Vec::new(),
    };
    extract(view, &mut sink);
    sink.out.push(0);
    sink.out
}

/// Removes repeated indices in linear time with a thread-local bit table (a sort of thousands
/// of indices per message cost more than extracting them). Keeps first-seen order.
fn dedup(mut indices: Vec<u32>, bits: u32) -> Vec<u32> {
    thread_local! {
        static SEEN: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        let words = (1usize << bits).div_ceil(64);
        if seen.len() != words {
            *seen = vec![0; words];
        }
        indices.retain(|&i| {
            let (w, b) = ((i >> 6) as usize, 1u64 << (i & 63));
            let new = seen[w] & b == 0;
            seen[w] |= b;
            new
        });
        for &i in &indices {
            seen[(i >> 6) as usize] = 0;
        }
    });
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(raw: &str) -> MessageView {
        MessageView::from_raw(raw.as_bytes())
    }

    #[test]
    fn words_pairs_hangul_bigrams_and_header_facts() {
        let v = view("From: Shop <deals@shop.example>\r\nSubject: 특가 세일 NOW\r\nX-Mailer: MassMailer 2\r\n\r\nBuy cheap pills today http://shop.example/buy/now\r\n");
        let t = tokens(&v);
        for expected in [
            "s:now",
            "sh:특가",
            "sh:세일",
            "b:cheap",
            "o1:buy cheap",
            "o3:buy today",
            "fd:shop.example",
            "mailer:massmailer",
            "uh:shop.example",
            "up:buy",
        ] {
            assert!(
                t.iter().any(|x| x == expected),
                "{expected} missing from {t:?}"
            );
        }
        let f = features(&v, 20);
        let mut sorted = f.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), f.len(), "unique");
        assert!(f.contains(&0), "bias");
        assert_eq!(
            features(&v, 20),
            f,
            "the bit table is left clean between calls"
        );
    }

    /// The detectors' signs whose weight the classifier learns: each token where the sign is,
    /// none in an ordinary message.
    #[test]
    fn signs_of_the_detectors_become_features() {
        let sig = |raw: &str| -> Vec<String> {
            tokens(&view(raw))
                .into_iter()
                .filter(|t| t.starts_with("sig:"))
                .collect()
        };
        assert_eq!(
            sig("From: a@shop.example\r\nReturn-Path: <b@shop.example>\r\nSubject: hi\r\nContent-Type: text/html\r\n\r\n<a href=\"https://www.shop.com/x\">www.shop.com</a>"),
            Vec::<String>::new()
        );
        assert_eq!(
            sig("From: a@shop.example\r\nReturn-Path: <bounce@mailer.example>\r\nSubject: hi\r\n\r\nhello"),
            ["sig:return_path_other_org"]
        );
        // A mailing list rewrites the envelope sender by design.
        assert_eq!(
            sig("From: a@shop.example\r\nReturn-Path: <bounce@lists.example>\r\nList-Id: <x.lists.example>\r\nSubject: hi\r\n\r\nhello"),
            Vec::<String>::new()
        );
        assert_eq!(
            sig("From: a@bank.example\r\nSubject: hi\r\nContent-Type: text/html\r\n\r\n<a href=\"http://click.tracker.net/c?id=1\">www.mybank.com</a>"),
            ["sig:anchor_other_domain"]
        );
        assert_eq!(
            sig("From: a@b.example\r\nSubject: hi\r\nContent-Type: text/html\r\n\r\n<a href=\"https://metamask-wallet-connect-airdrop.netlify.app/claim\">claim</a>"),
            ["sig:host_model"]
        );
    }

    #[test]
    fn hashed_features_equal_hashed_tokens() {
        let v =
            view("From: a@b.example\r\nSubject: hello there\r\n\r\none two three four five\r\n");
        let mut expected: Vec<u32> = tokens(&v).iter().map(|t| token_index(t, 20)).collect();
        expected.push(0);
        expected.sort_unstable();
        expected.dedup();
        let mut got = features(&v, 20);
        got.sort_unstable();
        assert_eq!(got, expected);
    }

    #[test]
    fn disguised_words_give_the_tokens_of_the_plain_words() {
        assert_eq!(fold("\u{ff46}\u{ff52}\u{ff45}\u{ff45} offer"), "free offer");
        assert_eq!(fold("\u{1d41f}\u{1d42b}\u{1d41e}\u{1d41e}"), "free");
        assert_eq!(fold("pay\u{200b}ment ve\u{00ad}rify"), "payment verify");
        // Confusable ASCII letters in credential and brand words.
        assert_eq!(
            fold("Please Iog in to your PayPaI account"),
            "Please log in to your paypal account"
        );
        assert_eq!(fold("Enter your User lD — now"), "Enter your user id — now");
        // Cyrillic р and а inside a Latin word; a Greek ο likewise.
        assert_eq!(fold("\u{0440}\u{0430}ypal l\u{03bf}gin"), "paypal login");
        // Whole words in Cyrillic or Greek, and Latin letters with accents, are not disguises.
        assert_eq!(fold("привет καλημέρα café"), "привет καλημέρα café");
        // Compatibility jamo typed one by one compose into the syllables they spell.
        assert_eq!(fold("ㅌㅗㅌㅗ 사이트"), "토토 사이트");
        // Latin letters and digits standing for jamo beside them.
        assert_eq!(fold("ㅋr지노 0ㅣ벤트"), "카지노 이벤트");
        assert!(matches!(fold("plain ascii"), Cow::Borrowed(_)));
        // Syllables standing alone between separators spell one word; words stay apart.
        assert_eq!(fold("바.카.라 하실 분"), "바카라 하실 분");
        assert_eq!(fold("토 토  사이트, 대-출"), "토토  사이트, 대출");
        assert_eq!(fold("카\n지"), "카\n지", "not across lines");

        let plain = view("From: a@b.example\r\nSubject: verify your paypal account\r\n\r\nfree payment login now\r\n");
        let disguised = view("From: a@b.example\r\nSubject: ver\u{0456}fy your \u{0440}aypal account\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\u{ff46}\u{ff52}\u{ff45}\u{ff45} pay\u{200b}ment l\u{043e}gin now\r\n");
        let words = |v: &MessageView| -> Vec<String> {
            let mut t: Vec<String> = tokens(v)
                .into_iter()
                .filter(|t| t.starts_with("s:") || t.starts_with("b:"))
                .collect();
            t.sort();
            t
        };
        assert_eq!(words(&plain), words(&disguised));
    }

    #[test]
    fn huge_bodies_are_bounded() {
        let big = format!("Subject: x\r\n\r\n{}", "word ".repeat(200_000));
        let t = tokens(&view(&big));
        assert!(t.len() < 40_000, "{}", t.len());
    }
}

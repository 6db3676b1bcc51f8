use mailmoat_mime::{MessageView, TextKind};

/// Body text beyond this many characters adds no features (bounds work on huge messages).
const MAX_BODY_CHARS: usize = 30_000;
/// Word pairs are taken within this distance (OSB window).
const OSB_WINDOW: usize = 4;

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{ac00}'..='\u{d7a3}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}' | '\u{4e00}'..='\u{9fff}' | '\u{3040}'..='\u{30ff}')
}

/// Lower-cased words of 2–24 characters; Hangul/CJK runs also give character bigrams.
fn words(text: &str, out: &mut Vec<String>, bigrams: &mut Vec<String>) {
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '$')) {
        let w = raw.trim_matches('\'');
        let len = w.chars().count();
        if !(2..=24).contains(&len) {
            if len > 24 {
                out.push(format!("long{}", len.min(60) / 10));
            }
            continue;
        }
        let lower = w.to_lowercase();
        if lower.chars().any(is_cjk) {
            let chars: Vec<char> = lower.chars().collect();
            for pair in chars.windows(2) {
                if pair.iter().all(|c| is_cjk(*c)) {
                    bigrams.push(pair.iter().collect());
                }
            }
        }
        if lower.chars().all(|c| c.is_ascii_digit()) {
            out.push(format!("#num{}", len.min(9)));
        } else {
            out.push(lower);
        }
    }
}

/// The feature tokens of a message, before hashing (for inspection and tests).
pub fn tokens(view: &MessageView) -> Vec<String> {
    let mut t: Vec<String> = Vec::with_capacity(512);
    let mut bigrams = Vec::new();

    let mut subject = Vec::new();
    if let Some(s) = &view.subject {
        words(s, &mut subject, &mut bigrams);
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
        t.push(format!("s:{w}"));
    }
    for g in bigrams.drain(..) {
        t.push(format!("sh:{g}"));
    }

    let mut body = Vec::new();
    let mut budget = MAX_BODY_CHARS;
    for text in &view.texts {
        let slice: String = text.text.chars().take(budget).collect();
        budget = budget.saturating_sub(slice.chars().count());
        words(&slice, &mut body, &mut bigrams);
        if text.kind == TextKind::Html && !text.hidden_text.trim().is_empty() {
            t.push("html:hidden".into());
        }
    }
    for w in &body {
        t.push(format!("b:{w}"));
    }
    for (i, w) in body.iter().enumerate() {
        for d in 1..=OSB_WINDOW {
            if let Some(v) = body.get(i + d) {
                t.push(format!("o{d}:{w} {v}"));
            }
        }
    }
    for g in bigrams {
        t.push(format!("bh:{g}"));
    }
    t.push(format!("len:{}", (view.raw.len() as f64).log2() as u32));

    // Sender and headers.
    if let Some(from) = view.from.first() {
        if let Some(d) = from.domain() {
            t.push(format!("fd:{d}"));
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
    for name in [
        "reply-to",
        "list-id",
        "list-unsubscribe",
        "message-id",
        "date",
        "x-mailer",
        "user-agent",
        "mime-version",
        "in-reply-to",
        "references",
        "organization",
        "x-priority",
        "precedence",
        "x-msmail-priority",
    ] {
        t.push(format!("has:{name}:{}", view.header(name).is_some()));
    }
    // Which headers exist at all: mail software leaves distinctive sets.
    let mut names: Vec<String> = view
        .headers
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    for n in names.iter().take(64) {
        t.push(format!("hn:{n}"));
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
    t.push(format!("hops:{}", view.received.len().min(8)));
    for hop in view.received.iter().take(3) {
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
    for part in &view.parts {
        t.push(format!("ct:{}", part.content_type));
    }
    for p in &view.problems {
        t.push(format!("problem:{:?}", p.kind));
    }

    // URLs.
    t.push(format!("urls:{}", view.urls.len().min(20) / 5));
    for u in view.urls.iter().take(200) {
        if let Some(host) = &u.host {
            t.push(format!("uh:{host}"));
            let labels: Vec<&str> = host.rsplit('.').take(2).collect();
            t.push(format!(
                "ud:{}",
                labels.into_iter().rev().collect::<Vec<_>>().join(".")
            ));
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
            t.push(format!("up:{}", piece.to_lowercase()));
        }
        if let Some(anchor) = &u.anchor_text {
            if anchor.contains("http") || anchor.contains("www.") {
                t.push("url:anchor_is_url".into());
            }
        }
    }

    // Attachments.
    for a in &view.attachments {
        if let Some(name) = &a.file_name {
            if let Some((_, ext)) = name.rsplit_once('.') {
                t.push(format!("ae:{}", ext.to_lowercase()));
            }
        }
        t.push(format!("at:{}", a.sniffed_type.unwrap_or(&a.content_type)));
    }
    t
}

/// FNV-1a, 64 bits: stable across builds and platforms, so model files stay valid.
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Hashed, deduplicated feature indices in a table of `2^bits` (index 0 is the bias).
pub fn features(view: &MessageView, bits: u32) -> Vec<u32> {
    let mask = (1u64 << bits) - 1;
    let mut f: Vec<u32> = tokens(view)
        .iter()
        .map(|t| ((hash(t) & mask) as u32).max(1))
        .collect();
    f.push(0);
    f.sort_unstable();
    f.dedup();
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmoat_mime::{Envelope, ViewOptions};

    fn view(raw: &str) -> MessageView {
        MessageView::build(
            raw.as_bytes().to_vec(),
            Envelope::default(),
            &ViewOptions::default(),
        )
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
            "has:reply-to:false",
        ] {
            assert!(
                t.iter().any(|x| x == expected),
                "{expected} missing from {t:?}"
            );
        }
        let f = features(&v, 20);
        assert!(f.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert_eq!(f[0], 0, "bias");
    }

    #[test]
    fn huge_bodies_are_bounded() {
        let big = format!("Subject: x\r\n\r\n{}", "word ".repeat(200_000));
        let t = tokens(&view(&big));
        assert!(t.len() < 40_000, "{}", t.len());
    }
}

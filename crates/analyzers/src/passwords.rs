//! Passwords an attacker gives the victim in the message itself ("the password is 4471",
//! "암호: 4471"), tried on encrypted archives before the configured ones.

use std::sync::OnceLock;

use mailmoat_mime::MessageView;
use regex::Regex;

/// Where a password came from, for the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Message,
    Configured,
}

/// Candidates tried on an encrypted archive, those from the message first.
pub fn candidates(view: &MessageView, configured: &[String]) -> Vec<(String, Source)> {
    static NEAR_KEYWORD: OnceLock<Regex> = OnceLock::new();
    let re = NEAR_KEYWORD.get_or_init(|| {
        Regex::new(
            r#"(?i)(?:password|passwd|pass\s*word|pwd|pw|passcode|zip\s*code|암호|비밀번호|비번|パスワード|密码)\s*(?:is|was|:|：|=|-|는|은|:?\s*\(?\s*)?\s*["'“‘「(]?([^\s"'”’」),;]{3,64})"#,
        )
        .expect("password pattern compiles")
    });
    let mut out: Vec<(String, Source)> = Vec::new();
    let texts = view
        .subject
        .iter()
        .map(String::as_str)
        .chain(view.visible_text());
    for text in texts {
        // Only the start of long bodies: the password sits near the instructions.
        let text = match text.char_indices().nth(20_000) {
            Some((i, _)) => &text[..i],
            None => text,
        };
        for c in re.captures_iter(text) {
            let word = c[1].trim_end_matches(['.', '!', '?']).to_string();
            if word.len() >= 3 && !out.iter().any(|(w, _)| *w == word) {
                out.push((word, Source::Message));
            }
            if out.len() >= 20 {
                break;
            }
        }
    }
    for p in configured {
        if !out.iter().any(|(w, _)| w == p) {
            out.push((p.clone(), Source::Configured));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(subject: &str, body: &str) -> MessageView {
        let raw = format!(
            "Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        MessageView::build(raw.into_bytes(), Default::default(), &Default::default())
    }

    #[test]
    fn finds_passwords_in_english_and_korean() {
        let v = view(
            "Invoice (password: inv2026)",
            "The archive password is \"Q7x!p9\".\n압축 암호: 4471\n",
        );
        let found: Vec<String> = candidates(&v, &["infected".into()])
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        for w in ["inv2026", "Q7x!p9", "4471", "infected"] {
            assert!(found.contains(&w.to_string()), "{w} missing from {found:?}");
        }
        assert_eq!(
            found.last().map(String::as_str),
            Some("infected"),
            "configured last"
        );
    }
}

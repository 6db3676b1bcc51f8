//! Charset decoding beyond what mail-parser does: ISO-2022-KR (which the WHATWG encoding
//! standard, and so encoding_rs, maps to "replacement") and an RFC 2047 pass for headers that
//! use it. Everything else goes through mail-parser's decoders (encoding_rs underneath).

use mail_parser::decoders::charsets::map::charset_decoder;

/// True for charset labels that are UTF-8 or ASCII (which need no table).
fn is_utf8_or_ascii(label: &str) -> bool {
    matches!(
        label.to_ascii_lowercase().as_str(),
        "utf-8"
            | "utf8"
            | "us-ascii"
            | "ascii"
            | "ansi_x3.4-1968"
            | "us"
            | "unicode-1-1-utf-8"
            | "x-unknown"
            | "unknown-8bit"
            | "default"
            | "x-user-defined"
    )
}

pub(crate) fn is_iso2022kr(label: &str) -> bool {
    let l = label.trim().to_ascii_lowercase();
    l == "iso-2022-kr" || l == "csiso2022kr" || l == "iso2022kr"
}

/// Korean labels in real mail that mail-parser's table lacks; encoding_rs's EUC-KR decoder is
/// Windows-949 (UHC), a superset, so they all map to it.
fn is_uhc_alias(label: &str) -> bool {
    matches!(
        label.trim().to_ascii_lowercase().as_str(),
        "cp949"
            | "ms949"
            | "uhc"
            | "x-windows-949"
            | "x-uhc"
            | "ks_c_5601"
            | "ks-c-5601"
            | "ksc5601-1987"
            | "ks_c_5601-1992"
    )
}

/// Charsets that mail-parser reads wrongly and this module decodes itself.
pub(crate) fn needs_own_decoder(label: &str) -> bool {
    is_iso2022kr(label) || is_uhc_alias(label)
}

/// Whether any decoder here knows this charset label.
pub(crate) fn is_known(label: &str) -> bool {
    is_utf8_or_ascii(label)
        || needs_own_decoder(label)
        || charset_decoder(label.trim().as_bytes()).is_some()
        || encoding_rs::Encoding::for_label(label.trim().as_bytes()).is_some()
}

/// True when a header value holds an encoded-word in a charset from [`needs_own_decoder`].
pub(crate) fn has_own_decoder_words(value: &str) -> bool {
    let mut rest = value;
    while let Some(i) = rest.find("=?") {
        rest = &rest[i + 2..];
        if let Some(q) = rest.find('?') {
            let label = rest[..q].split('*').next().unwrap_or("");
            if needs_own_decoder(label) {
                return true;
            }
        }
    }
    false
}

/// Rewrites encoded-words so that every one is UTF-8 (`=?utf-8?B?…?=`); words that do not
/// decode stay as they are.
pub(crate) fn reencode_words_as_utf8(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        match parse_encoded_word(tail) {
            Some((text, consumed)) => {
                out.push_str("=?utf-8?B?");
                out.push_str(&base64_encode(text.as_bytes()));
                out.push_str("?=");
                rest = &tail[consumed..];
            }
            None => {
                out.push_str("=?");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes ISO-2022-KR (RFC 1557): ASCII, with KS X 1001 two-byte runs between SO and SI.
pub(crate) fn decode_iso2022kr(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut euc = Vec::new();
    let mut shifted = false;
    let mut i = 0;
    let flush = |euc: &mut Vec<u8>, out: &mut String| {
        if !euc.is_empty() {
            let (text, _, _) = encoding_rs::EUC_KR.decode(euc);
            out.push_str(&text);
            euc.clear();
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            // The designator ESC $ ) C announces the set; it prints nothing.
            0x1b if bytes[i..].starts_with(b"\x1b$)C") => {
                i += 4;
                continue;
            }
            0x0e => shifted = true,
            0x0f => {
                flush(&mut euc, &mut out);
                shifted = false;
            }
            b'\r' | b'\n' => {
                flush(&mut euc, &mut out);
                shifted = false;
                out.push(b as char);
            }
            0x21..=0x7e if shifted => {
                euc.push(b | 0x80);
            }
            _ => {
                flush(&mut euc, &mut out);
                if b < 0x80 {
                    out.push(b as char);
                } else {
                    out.push('\u{fffd}');
                }
            }
        }
        i += 1;
    }
    flush(&mut euc, &mut out);
    out
}

/// Decodes bytes in a charset; `None` when the charset is unknown.
pub(crate) fn decode(label: &str, bytes: &[u8]) -> Option<String> {
    if is_iso2022kr(label) {
        return Some(decode_iso2022kr(bytes));
    }
    if is_uhc_alias(label) {
        return Some(encoding_rs::EUC_KR.decode(bytes).0.into_owned());
    }
    if is_utf8_or_ascii(label) {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    if let Some(f) = charset_decoder(label.trim().as_bytes()) {
        return Some(f(bytes));
    }
    encoding_rs::Encoding::for_label(label.trim().as_bytes())
        .map(|e| e.decode(bytes).0.into_owned())
}

/// Decodes RFC 2047 encoded-words in an unfolded header value. The view uses it only where
/// mail-parser cannot (ISO-2022-KR words); SpamAssassin's rules read every header so; whitespace between adjacent encoded-words is dropped as the RFC
/// requires.
pub fn decode_rfc2047(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, tail) = rest.split_at(start);
        match parse_encoded_word(tail) {
            Some((text, consumed)) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &tail[consumed..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &tail[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_encoded_word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let q1 = body.find('?')?;
    let charset = body[..q1].split('*').next().unwrap_or("");
    let rest = &body[q1 + 1..];
    let q2 = rest.find('?')?;
    let encoding = &rest[..q2];
    let rest = &rest[q2 + 1..];
    let end = rest.find("?=")?;
    let text = &rest[..end];
    let bytes = match encoding {
        "B" | "b" => mail_parser::decoders::base64::base64_decode(text.as_bytes())?,
        "Q" | "q" => {
            let mut bytes = Vec::with_capacity(text.len());
            let t = text.as_bytes();
            let mut i = 0;
            while i < t.len() {
                match t[i] {
                    b'_' => bytes.push(b' '),
                    b'=' if i + 2 < t.len() => {
                        let hex = std::str::from_utf8(&t[i + 1..i + 3]).ok()?;
                        bytes.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    c => bytes.push(c),
                }
                i += 1;
            }
            bytes
        }
        _ => return None,
    };
    let consumed = 2 + q1 + 1 + q2 + 1 + end + 2;
    Some((decode(charset, &bytes)?, consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso2022kr_decodes_hangul() {
        // "안녕" in EUC-KR is BE C8 B3 E7; ISO-2022-KR carries it 7-bit between SO and SI.
        let bytes = b"\x1b$)CHi \x0e\x3e\x48\x33\x67\x0f!";
        assert_eq!(decode_iso2022kr(bytes), "Hi 안녕!");
    }

    #[test]
    fn rfc2047_joins_adjacent_words_and_decodes_iso2022kr() {
        let word = "=?ISO-2022-KR?B?GyQpQw4+SDNnDw==?=";
        assert_eq!(decode_rfc2047(&format!("{word} {word} x")), "안녕안녕 x");
        assert_eq!(decode_rfc2047("=?utf-8?Q?a_b=41?="), "a bA");
        assert_eq!(decode_rfc2047("plain =?bogus"), "plain =?bogus");
    }

    #[test]
    fn reencoding_makes_utf8_words() {
        let v = reencode_words_as_utf8("\"=?cp949?B?jGO55rCix88=?=\" <a@b>");
        assert_eq!(v, "\"=?utf-8?B?65ig67Cp6rCB7ZWY?=\" <a@b>");
        assert!(has_own_decoder_words("=?CP949?B?jGO55rCix88=?="));
        assert!(!has_own_decoder_words("=?euc-kr?B?jGO55rCix88=?="));
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
    }

    #[test]
    fn known_charsets() {
        for l in [
            "utf-8",
            "EUC-KR",
            "ks_c_5601-1987",
            "cp949",
            "iso-2022-kr",
            "shift_jis",
            "iso-8859-2",
        ] {
            assert!(is_known(l), "{l}");
        }
        assert!(!is_known("x-no-such-charset"));
    }
}

//! What the gateway writes into a message it delivers: its Received line, the X-Mailmoat
//! verdict headers (any such headers from outside are removed first, so a sender cannot forge
//! a verdict), and the subject tag.

use mailmoat_core::Verdict;

/// Header names we own; incoming copies are dropped.
const OWN_PREFIX: &[u8] = b"x-mailmoat-";

/// The verdict as header lines (CRLF-terminated), most useful first.
pub fn verdict_headers(verdict: &Verdict, id: &str) -> String {
    let mut symbols: Vec<String> = verdict
        .reasons
        .iter()
        .map(|r| format!("{}({:.1})", r.symbol, r.score))
        .collect();
    symbols.truncate(30);
    format!(
        "X-Mailmoat-Action: {}\r\nX-Mailmoat-Risk: {}\r\nX-Mailmoat-Score: {:.2}\r\nX-Mailmoat-Symbols: {}\r\nX-Mailmoat-Id: {id}\r\n",
        verdict.action,
        verdict.risk,
        verdict.score,
        if symbols.is_empty() { "none".to_string() } else { symbols.join(", ") }
    )
}

/// Text from a message made safe for one header line: no line breaks or control characters.
pub fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The message as delivered: `prepend` on top, our own headers from outside removed (X-Mailmoat-*
/// and Authentication-Results claiming to be ours, `authserv_id`, as RFC 8601 asks), and the
/// subject prefixed when `tag` is given.
pub fn rewrite(message: &[u8], prepend: &str, tag: Option<&str>, authserv_id: &str) -> Vec<u8> {
    rewrite_dropping(message, prepend, tag, authserv_id, &[])
}

/// As [`rewrite`], also dropping incoming header fields with these (lower-case) names: the
/// ones another verdict vocabulary owns when we write it (SpamAssassin's X-Spam-*).
pub fn rewrite_dropping(
    message: &[u8],
    prepend: &str,
    tag: Option<&str>,
    authserv_id: &str,
    also_owned: &[&str],
) -> Vec<u8> {
    let header_end = find_header_end(message);
    let (head, body) = message.split_at(header_end);
    let mut out = Vec::with_capacity(message.len() + prepend.len() + 64);
    out.extend_from_slice(prepend.as_bytes());
    let mut subject_seen = false;
    for field in fields(head) {
        let name_end = field.iter().position(|&b| b == b':').unwrap_or(0);
        let name = &field[..name_end];
        if name.len() >= OWN_PREFIX.len()
            && name[..OWN_PREFIX.len()].eq_ignore_ascii_case(OWN_PREFIX)
        {
            continue;
        }
        if also_owned
            .iter()
            .any(|owned| name.trim_ascii_end().eq_ignore_ascii_case(owned.as_bytes()))
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"authentication-results")
            && claims_authserv_id(&field[name_end + 1..], authserv_id)
        {
            continue;
        }
        if let Some(prefix) = tag {
            if !subject_seen && name.eq_ignore_ascii_case(b"subject") {
                subject_seen = true;
                let value = &field[name_end + 1..];
                let trimmed = value.trim_ascii_start();
                out.extend_from_slice(b"Subject: ");
                if !trimmed.starts_with(prefix.as_bytes()) {
                    out.extend_from_slice(prefix.as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(trimmed);
                continue;
            }
        }
        out.extend_from_slice(field);
    }
    if let (Some(prefix), false) = (tag, subject_seen) {
        out.extend_from_slice(format!("Subject: {prefix}\r\n").as_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Whether an Authentication-Results value starts with this authserv-id.
pub(crate) fn claims_authserv_id(value: &[u8], authserv_id: &str) -> bool {
    if authserv_id.is_empty() {
        return false;
    }
    let value = value.trim_ascii_start();
    let id = authserv_id.as_bytes();
    value.len() >= id.len()
        && value[..id.len()].eq_ignore_ascii_case(id)
        && value
            .get(id.len())
            .is_none_or(|&b| b == b';' || b.is_ascii_whitespace())
}

/// (start, end) of each line, the line ending included.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        i = memchr_newline(&bytes[i..])
            .map(|p| i + p + 1)
            .unwrap_or(bytes.len());
        Some((start, i))
    })
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Where the header block ends (the blank line stays with the body); the whole message when
/// there is no blank line.
pub(crate) fn find_header_end(message: &[u8]) -> usize {
    lines(message)
        .find(|&(s, e)| matches!(&message[s..e], b"\r\n" | b"\n"))
        .map(|(s, _)| s)
        .unwrap_or(message.len())
}

/// Header fields with their continuation lines, each with its line endings.
fn fields(head: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (_, end) in lines(head) {
        if !matches!(head.get(end), Some(b' ' | b'\t')) {
            out.push(&head[start..end]);
            start = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_forged_verdicts_tags_the_subject_and_keeps_the_body() {
        let msg = b"X-Mailmoat-Action: deliver\r\nFrom: a@b.example\r\nSubject: hello\r\n there\r\nX-MAILMOAT-Score:\r\n -5\r\n\r\nbody\r\nX-Mailmoat-Action: stays in the body\r\n";
        let out = rewrite(
            msg,
            "X-Mailmoat-Action: tag\r\n",
            Some("[SPAM]"),
            "mx.example",
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "X-Mailmoat-Action: tag\r\nFrom: a@b.example\r\nSubject: [SPAM] hello\r\n there\r\n\r\nbody\r\nX-Mailmoat-Action: stays in the body\r\n"
        );
        // Tagging twice does not stack prefixes; a missing subject gets one.
        let again = rewrite(text.as_bytes(), "", Some("[SPAM]"), "mx.example");
        assert!(String::from_utf8_lossy(&again).contains("Subject: [SPAM] hello\r\n"));
        let none = rewrite(b"From: a@b\r\n\r\nx", "", Some("[광고]"), "mx.example");
        assert_eq!(
            String::from_utf8(none).unwrap(),
            "From: a@b\r\nSubject: [광고]\r\n\r\nx"
        );
    }

    #[test]
    fn removes_authentication_results_that_claim_to_be_ours() {
        let msg = b"Authentication-Results: MX.example; dkim=pass\r\nAuthentication-Results: mx.example.evil; spf=pass\r\nAuthentication-Results:\r\n mx.example;\r\n dmarc=pass\r\nAuthentication-Results: other.example; spf=fail\r\nFrom: a@b\r\n\r\nx";
        let out = String::from_utf8(rewrite(msg, "", None, "mx.example")).unwrap();
        assert_eq!(
            out,
            "Authentication-Results: mx.example.evil; spf=pass\r\nAuthentication-Results: other.example; spf=fail\r\nFrom: a@b\r\n\r\nx"
        );
    }
}

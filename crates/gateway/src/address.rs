//! Addresses as they leave the gateway: in an SMTP path toward the downstream server and as a
//! Maildir folder name.
//!
//! smtp-proto hands us a quoted local part without its quotes (`"a>b"@x` arrives as `a>b@x`).
//! Written back as it is, such a local part ends the path early and what follows becomes ESMTP
//! parameters or another address for the next server (`RCPT TO:<"x> NOTIFY=SUCCESS"@ours>`), so
//! it is quoted again whenever it is not a plain dot-atom.

/// Why an address cannot be written into an SMTP command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address {0:?} cannot be written in an SMTP command")]
pub struct Unwritable(pub String);

/// The text between `<` and `>` for `address`: the local part as a dot-atom when it is one,
/// else as a quoted string (RFC 5321 §4.1.2); the empty (null) path stays empty.
pub fn smtp_path(address: &str) -> Result<String, Unwritable> {
    if address.is_empty() {
        return Ok(String::new());
    }
    // No representation exists for control characters; they never come from smtp-proto, but a
    // spool written by something else must not put a line break in a command.
    if address.chars().any(|c| c.is_control()) {
        return Err(Unwritable(address.to_string()));
    }
    let (local, domain) = match address.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (address, None),
    };
    if let Some(domain) = domain {
        if !is_domain(domain) {
            return Err(Unwritable(address.to_string()));
        }
    }
    let local = if is_dot_atom(local) {
        local.to_string()
    } else {
        let mut quoted = String::with_capacity(local.len() + 2);
        quoted.push('"');
        for c in local.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        quoted
    };
    Ok(match domain {
        Some(d) => format!("{local}@{d}"),
        None => local,
    })
}

/// RFC 5321 Dot-string with RFC 6531's UTF-8 letters.
fn is_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// A host name (letters, digits, hyphens, dots; UTF-8 labels allowed) or an address literal.
fn is_domain(domain: &str) -> bool {
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return !literal.is_empty()
            && literal
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-".contains(c));
    }
    !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

/// A recipient as one folder name, distinct for distinct addresses (up to case): letters,
/// digits and `@.-_+` stay, every other byte becomes `%XX`, and so does a leading dot.
/// An address as an MTA passes it (`<a@b>`, spaces around), bare and bounded in length (an
/// address has at most 320 characters; more is not an address).
pub fn unbracketed(address: &str) -> String {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .take(320)
        .collect()
}

pub fn folder_name(address: &str) -> String {
    let mut name = String::with_capacity(address.len());
    for (i, c) in address.chars().enumerate() {
        if c.is_alphanumeric() || "@-_+".contains(c) || (c == '.' && i > 0) {
            name.extend(c.to_lowercase());
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                name.push_str(&format!("%{b:02X}"));
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_written_as_they_are() {
        assert_eq!(smtp_path("bob@example.com").unwrap(), "bob@example.com");
        assert_eq!(
            smtp_path("a.b+tag@example.com").unwrap(),
            "a.b+tag@example.com"
        );
        assert_eq!(smtp_path("김민준@예시.kr").unwrap(), "김민준@예시.kr");
        assert_eq!(smtp_path("").unwrap(), "");
        assert_eq!(smtp_path("postmaster").unwrap(), "postmaster");
        assert_eq!(smtp_path("x@[192.0.2.1]").unwrap(), "x@[192.0.2.1]");
    }

    #[test]
    fn quoted_local_parts_stay_quoted_so_nothing_is_injected() {
        assert_eq!(
            smtp_path("evil@outside.test>@example.com").unwrap(),
            "\"evil@outside.test>\"@example.com"
        );
        assert_eq!(
            smtp_path("x> NOTIFY=SUCCESS ORCPT=rfc822;a@b@example.com").unwrap(),
            "\"x> NOTIFY=SUCCESS ORCPT=rfc822;a@b\"@example.com"
        );
        assert_eq!(
            smtp_path("sp ace@example.com").unwrap(),
            "\"sp ace\"@example.com"
        );
        assert_eq!(
            smtp_path("a\"b\\c@example.com").unwrap(),
            "\"a\\\"b\\\\c\"@example.com"
        );
        assert_eq!(
            smtp_path(".lead@example.com").unwrap(),
            "\".lead\"@example.com"
        );
        assert_eq!(
            smtp_path("a..b@example.com").unwrap(),
            "\"a..b\"@example.com"
        );
    }

    #[test]
    fn addresses_that_cannot_be_written_are_refused() {
        assert!(smtp_path("a\r\nRCPT TO:<x@y>@example.com").is_err());
        assert!(smtp_path("a@exa mple.com").is_err());
        assert!(smtp_path("a@example.com> RET=FULL").is_err());
        assert!(smtp_path("a@").is_err());
    }

    #[test]
    fn folder_names_differ_for_different_addresses() {
        assert_eq!(folder_name("Bob@Example.com"), "bob@example.com");
        assert_ne!(
            folder_name("sp ace@example.com"),
            folder_name("sp_ace@example.com")
        );
        assert_eq!(folder_name("sp ace@example.com"), "sp%20ace@example.com");
        assert_ne!(folder_name("a%20b@x"), folder_name("a b@x"));
        assert_eq!(folder_name("../x@y"), "%2E.%2Fx@y");
        assert!(!folder_name("a/b@x").contains('/'));
    }
}

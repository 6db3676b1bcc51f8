//! The known-bad hash list: SHA-256 or MD5 digests in hex, one per line, each optionally
//! followed by a name (the family or sample it identifies). `#` starts a comment.

use std::collections::HashMap;
use std::path::Path;

use md5::{Digest as _, Md5};
use sha2::Sha256;

#[derive(Debug, Default, Clone)]
pub struct HashList {
    entries: HashMap<Vec<u8>, String>,
    has_md5: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashListError {
    #[error("known-bad hash list {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("known-bad hash list {path}:{line}: {why}")]
    Line {
        path: String,
        line: usize,
        why: String,
    },
}

/// SHA-256 and MD5 of some bytes, as lower-case hex.
#[cfg(test)]
pub fn digests(data: &[u8]) -> (String, String) {
    (sha256_hex(data), md5_hex(data))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// MD5 costs three times SHA-256 here (no hardware help): computed only for lists that
/// have MD5 entries.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl HashList {
    pub fn load(path: &Path) -> Result<HashList, HashListError> {
        let text = std::fs::read_to_string(path).map_err(|source| HashListError::Read {
            path: path.display().to_string(),
            source,
        })?;
        HashList::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<HashList, HashListError> {
        let mut entries = HashMap::new();
        let mut has_md5 = false;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (digest, name) = match line.split_once(char::is_whitespace) {
                Some((d, rest)) => (d, rest.trim()),
                None => (line, ""),
            };
            let bytes = unhex(&digest.to_ascii_lowercase())
                .filter(|b| b.len() == 32 || b.len() == 16)
                .ok_or_else(|| HashListError::Line {
                    path: origin.to_string(),
                    line: n + 1,
                    why: format!("{digest:?} is not a SHA-256 or MD5 hex digest"),
                })?;
            has_md5 |= bytes.len() == 16;
            entries.insert(bytes, name.to_string());
        }
        Ok(HashList { entries, has_md5 })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds another list's entries (a name already listed keeps its first name).
    pub fn extend(&mut self, other: HashList) {
        self.has_md5 |= other.has_md5;
        for (digest, name) in other.entries {
            self.entries.entry(digest).or_insert(name);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any entry is an MD5 digest (else MD5s need not be computed).
    pub fn has_md5(&self) -> bool {
        self.has_md5
    }

    /// The listed name (possibly empty) when either digest of `data` is on the list.
    pub fn lookup(&self, sha256_hex: &str, md5_hex: &str) -> Option<&str> {
        if self.entries.is_empty() {
            return None;
        }
        [sha256_hex, md5_hex]
            .iter()
            .filter_map(|h| unhex(h))
            .find_map(|b| self.entries.get(&b).map(String::as_str))
    }

    /// `lookup` for an object, computing MD5 only when the list needs it.
    pub fn lookup_data(&self, sha256: &str, data: &[u8]) -> Option<&str> {
        if self.entries.is_empty() {
            return None;
        }
        let md5 = if self.has_md5 {
            md5_hex(data)
        } else {
            String::new()
        };
        self.lookup(sha256, &md5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_match_either_digest_and_bad_lines_say_where() {
        let (sha, md5) = digests(b"X5O!P%@AP");
        let list = HashList::parse(
            &format!("# test list\n{sha} TestFamily\n{}\n", md5.to_uppercase()),
            "list.txt",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list.lookup(&sha, "00"), Some("TestFamily"));
        assert_eq!(list.lookup("00", &md5), Some(""));
        assert!(list
            .lookup(&digests(b"other").0, &digests(b"other").1)
            .is_none());
        let err = HashList::parse("abc\n", "list.txt").unwrap_err();
        assert!(err.to_string().contains("list.txt:1"), "{err}");
    }
}

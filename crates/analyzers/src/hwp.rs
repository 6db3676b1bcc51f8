//! HWP (Hangul Word Processor) 5.x, an OLE compound file, and HWPX, its zip-of-XML successor:
//! the documents targeted attacks on Korean organisations arrive as. What runs or loads from
//! one: document scripts (the Scripts storage, DefaultJScript), EPS/PostScript in BinData (the
//! Ghostscript-era exploit route), embedded OLE objects; hyperlinks are listed for the report.
//! Streams are raw-deflate compressed when the file header says so.

use std::io::{Cursor, Read};
use std::sync::OnceLock;

use mailmoat_core::Location;
use regex::Regex;

use crate::filetype::Lang;
use crate::walk::Walk;

fn inflate_raw(data: &[u8], limit: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn utf16le(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// A script stream: UTF-16LE strings, each after a 32-bit length in characters (header, then
/// source, ...), ended by 0xFFFFFFFF. Anything else is read as plain text.
pub fn script_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let n = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        at += 4;
        if n == u32::MAX {
            return out;
        }
        let end = at + 2 * n as usize;
        let Some(units) = bytes.get(at..end) else {
            break;
        };
        out.push_str(&utf16le(units));
        out.push('\n');
        at = end;
    }
    if at == bytes.len() {
        return out;
    }
    crate::script::text(bytes)
        .chars()
        .filter(|c| *c != '\u{0}')
        .collect()
}

/// What HWP writes into every document's script storage when nobody wrote a script: empty
/// event handlers and comments. Anything left after removing them is a real script.
pub fn script_is_trivial(script: &str) -> bool {
    static COMMENTS: OnceLock<Regex> = OnceLock::new();
    static EMPTY: OnceLock<Regex> = OnceLock::new();
    let comments = COMMENTS.get_or_init(|| Regex::new(r"(?s)//[^\n]*|/\*.*?\*/").expect("pattern"));
    let empty = EMPTY.get_or_init(|| {
        Regex::new(r"(?s)\bfunction\s+\w+\s*\([^)]*\)\s*\{\s*\}|\bvar\s+Documents\s*=\s*XHwpDocuments\s*;|\bvar\s+Document\s*=\s*Documents\.Active_XHwpDocument\s*;|[\s;\u{0}-\u{1f}\u{fffd}-\u{ffff}]")
            .expect("pattern")
    });
    let without_comments = comments.replace_all(script, "");
    empty.replace_all(&without_comments, "").trim().is_empty()
}

fn urls(text: &str) -> Vec<String> {
    static URL: OnceLock<Regex> = OnceLock::new();
    let re = URL.get_or_init(|| {
        Regex::new(r#"(?i)\bhttps?://[^\s"'<>\u{0}-\u{1f}]{3,300}"#).expect("pattern")
    });
    let mut v: Vec<String> = re.find_iter(text).map(|m| m.as_str().to_string()).collect();
    v.sort();
    v.dedup();
    v
}

impl Walk<'_> {
    /// HWP 5.x: `data` is the OLE file (its FileHeader stream already seen).
    pub(crate) fn hwp(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let Ok(mut file) = cfb::CompoundFile::open(Cursor::new(data)) else {
            return;
        };
        let limit = self.config.max_object_bytes;
        let read = |file: &mut cfb::CompoundFile<Cursor<&[u8]>>, path: &str| -> Option<Vec<u8>> {
            let mut s = file.open_stream(path).ok()?;
            let mut buf = Vec::new();
            (&mut s).take(limit).read_to_end(&mut buf).ok()?;
            Some(buf)
        };
        let header = read(&mut file, "/FileHeader").unwrap_or_default();
        let flags = header
            .get(36..40)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let compressed = flags & 1 != 0;
        if flags & 2 != 0 {
            self.add(
                "OFFICE_ENCRYPTED",
                format!(
                    "{name} is a password-protected HWP document: its content cannot be analysed"
                ),
                location,
            );
            return;
        }
        let unpack = |raw: Vec<u8>| -> Vec<u8> {
            if compressed {
                inflate_raw(&raw, limit).unwrap_or(raw)
            } else {
                raw
            }
        };
        let paths: Vec<String> = file
            .walk()
            .filter(|e| e.is_stream())
            .map(|e| e.path().to_string_lossy().into_owned())
            .collect();
        let mut links = Vec::new();
        for path in paths {
            if !self.time_left() {
                break;
            }
            let lower = path.to_ascii_lowercase();
            if lower.starts_with("/bodytext/") || lower.starts_with("/viewtext/") {
                if let Some(raw) = read(&mut file, &path) {
                    links.extend(urls(&utf16le(&unpack(raw))));
                }
            } else if lower.starts_with("/scripts/") && !lower.ends_with("jscriptversion") {
                let Some(raw) = read(&mut file, &path) else {
                    continue;
                };
                // A distribution document's scripts are encrypted: unreadable, not a script.
                let bytes = if compressed {
                    match inflate_raw(&raw, limit) {
                        Some(b) => b,
                        None => continue,
                    }
                } else {
                    raw
                };
                let text = script_text(&bytes);
                if !script_is_trivial(&text) {
                    let at = location.child(path.trim_start_matches('/').to_string());
                    self.add(
                        "HWP_SCRIPT",
                        format!("{name} carries a document script ({path}) that runs in HWP"),
                        &at,
                    );
                    self.script_text(Lang::JavaScript, &at, name, &text, depth + 1);
                }
            } else if lower.starts_with("/bindata/") {
                let Some(raw) = read(&mut file, &path) else {
                    continue;
                };
                let bytes = unpack(raw);
                let short = path.rsplit('/').next().unwrap_or(&path).to_string();
                let at = location.child(format!("BinData/{short}"));
                let ext = short.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
                if matches!(ext.as_str(), "eps" | "ps")
                    || bytes.starts_with(b"%!PS")
                    || bytes.starts_with(b"\xc5\xd0\xd3\xc6")
                {
                    self.add(
                        "HWP_EPS",
                        format!("{name} embeds PostScript ({short}, {} bytes): HWP renders it with its own Ghostscript, a known exploit route", bytes.len()),
                        &at,
                    );
                }
                // Embedded OLE objects carry a small header before the compound file.
                if let Some(ole) =
                    memchr::memmem::find(&bytes[..bytes.len().min(64)], b"\xd0\xcf\x11\xe0")
                {
                    self.add(
                        "HWP_OLE_OBJECT",
                        format!("{name} embeds an OLE object ({short})"),
                        &at,
                    );
                    self.embedded_at(location, &at, &short, &bytes[ole..], depth);
                } else if ext != "eps" && ext != "ps" {
                    self.embedded_at(location, &at, &short, &bytes, depth);
                }
            }
        }
        self.document_links(location, name, links);
    }

    /// HWPX: the same, from a zip of XML parts.
    pub(crate) fn hwpx(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(data)) else {
            self.add(
                "ARCHIVE_DAMAGED",
                format!("{name}: an unreadable HWPX"),
                location,
            );
            return;
        };
        let limit = self.config.max_object_bytes;
        let names: Vec<String> = archive
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        let mut links = Vec::new();
        for part in names {
            let lower = part.to_ascii_lowercase();
            let Ok(mut f) = archive.by_name(&part) else {
                continue;
            };
            if f.size() > limit {
                continue;
            }
            let mut bytes = Vec::new();
            if (&mut f).take(limit).read_to_end(&mut bytes).is_err() {
                continue;
            }
            drop(f);
            let at = location.child(part.clone());
            if lower.starts_with("contents/") && lower.ends_with(".xml") {
                links.extend(urls(&String::from_utf8_lossy(&bytes)));
            } else if lower.starts_with("scripts/") {
                let text = crate::script::text(&bytes);
                if !script_is_trivial(&text) {
                    self.add(
                        "HWP_SCRIPT",
                        format!("{name} carries a document script ({part})"),
                        &at,
                    );
                    self.script_text(Lang::JavaScript, &at, name, &text, depth + 1);
                }
            } else if lower.starts_with("bindata/") {
                if lower.ends_with(".eps") || lower.ends_with(".ps") || bytes.starts_with(b"%!PS") {
                    self.add("HWP_EPS", format!("{name} embeds PostScript ({part})"), &at);
                } else {
                    self.embedded(location, &part, &bytes, depth);
                }
            }
        }
        self.document_links(location, name, links);
    }

    pub(crate) fn document_links(
        &mut self,
        location: &Location,
        name: &str,
        mut links: Vec<String>,
    ) {
        links.sort();
        links.dedup();
        if !links.is_empty() {
            let shown: Vec<&str> = links.iter().map(String::as_str).take(20).collect();
            self.add(
                "DOCUMENT_URLS",
                format!("{name} links to {}", shown.join(", ")),
                location,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scripts_are_trivial() {
        let default = "var Documents = XHwpDocuments;\r\nvar Document = Documents.Active_XHwpDocument;\r\n\r\nfunction OnDocument_New()\r\n{\r\n\t//todo : \r\n}\r\n\r\nfunction OnDocument_Open()\r\n{\r\n\t//todo : \r\n}\r\n";
        assert!(script_is_trivial(default));
        assert!(!script_is_trivial(&format!("{default}\nfunction OnDocument_Open2() {{ new ActiveXObject('WScript.Shell').Run('calc'); }}")));
    }
}

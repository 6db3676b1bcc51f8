//! RTF: the objects it embeds. `\objdata` is hex, and exploit kits break it up with
//! whitespace, control words, `{\*…}` groups and `\bin` runs that Word skips; it is read the
//! way Word reads it. Each object's OLE1 header gives its class: Equation Editor (the
//! CVE-2017-11882 family), Package (a file dropped into the document, extracted and walked),
//! or an OLE compound file (walked: macros, equations). `\objupdate` makes an object load on open.

use mailmoat_core::Location;

use crate::walk::Walk;

/// One embedded object: its class (from the OLE1 header or `\objclass`), whether it updates
/// itself on open, and its native data.
#[derive(Debug, Default, PartialEq)]
pub struct RtfObject {
    pub class: String,
    pub auto_update: bool,
    pub linked_to: Option<String>,
    pub native: Vec<u8>,
}

/// The hex payload of an `\objdata` group starting at `at` (just after the control word).
fn objdata(rtf: &[u8], mut at: usize, limit: usize) -> Vec<u8> {
    let mut nibbles = Vec::new();
    let mut depth = 0usize;
    while at < rtf.len() && nibbles.len() < limit * 2 {
        match rtf[at] {
            b'{' => {
                // `{\*\anything …}`: an ignorable destination Word skips entirely.
                if rtf.get(at + 1..at + 3) == Some(b"\\*") {
                    let mut d = 0usize;
                    while at < rtf.len() {
                        match rtf[at] {
                            b'{' => d += 1,
                            b'}' => {
                                d -= 1;
                                if d == 0 {
                                    break;
                                }
                            }
                            b'\\' => at += 1,
                            _ => {}
                        }
                        at += 1;
                    }
                } else {
                    depth += 1;
                }
            }
            b'}' => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            b'\\' => {
                at += 1;
                let start = at;
                while at < rtf.len() && rtf[at].is_ascii_alphabetic() {
                    at += 1;
                }
                let word = &rtf[start..at];
                let num_start = at;
                if at < rtf.len() && (rtf[at] == b'-' || rtf[at].is_ascii_digit()) {
                    at += 1;
                    while at < rtf.len() && rtf[at].is_ascii_digit() {
                        at += 1;
                    }
                }
                let param: usize = std::str::from_utf8(&rtf[num_start..at])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                if at < rtf.len() && rtf[at] == b' ' {
                    at += 1;
                }
                if word == b"bin" {
                    at = at.saturating_add(param); // raw bytes, not hex
                }
                if word.is_empty() {
                    // A control symbol: \'hh is one character (not objdata hex), \~ and the
                    // like one byte.
                    at += if rtf.get(at) == Some(&b'\'') { 3 } else { 1 };
                }
                continue;
            }
            c if c.is_ascii_hexdigit() => nibbles.push(c),
            _ => {}
        }
        at += 1;
    }
    nibbles
        .chunks_exact(2)
        .map(|p| {
            let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            h(p[0]) << 4 | h(p[1])
        })
        .collect()
}

fn length_prefixed(d: &[u8], at: &mut usize) -> Option<String> {
    let n = u32::from_le_bytes(d.get(*at..*at + 4)?.try_into().ok()?) as usize;
    *at += 4;
    let s = d.get(*at..at.checked_add(n)?)?;
    *at += n;
    Some(
        String::from_utf8_lossy(s)
            .trim_end_matches('\0')
            .to_string(),
    )
}

/// Parses an OLE1 object header: (class, link target, native data).
pub fn ole1(d: &[u8]) -> Option<(String, Option<String>, Vec<u8>)> {
    let format = u32::from_le_bytes(d.get(4..8)?.try_into().ok()?);
    let mut at = 8;
    let class = length_prefixed(d, &mut at)?;
    let topic = length_prefixed(d, &mut at)?;
    let _item = length_prefixed(d, &mut at)?;
    if format == 1 {
        return Some((class, Some(topic), Vec::new()));
    }
    let size = u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4;
    let native = d.get(at..(at + size).min(d.len()))?.to_vec();
    Some((class, None, native))
}

pub fn objects(rtf: &[u8], limit: usize) -> Vec<RtfObject> {
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(found) = memchr::memmem::find(&rtf[search..], b"\\object") {
        let start = search + found;
        search = start + 7;
        // The object group runs to the next \object (or the end); its class and flags are
        // control words inside it.
        let end =
            memchr::memmem::find(&rtf[search..], b"\\object").map_or(rtf.len(), |n| search + n);
        let group = &rtf[start..end];
        let mut object = RtfObject {
            auto_update: memchr::memmem::find(group, b"\\objupdate").is_some(),
            ..Default::default()
        };
        if let Some(c) = memchr::memmem::find(group, b"\\objclass") {
            let rest = &group[c + 9..];
            let name: Vec<u8> = rest
                .iter()
                .skip_while(|b| **b == b' ')
                .take_while(|b| **b != b'}' && **b != b'\\')
                .copied()
                .collect();
            object.class = String::from_utf8_lossy(&name).trim().to_string();
        }
        if let Some(o) = memchr::memmem::find(group, b"\\objdata") {
            let data = objdata(rtf, start + o + 8, limit);
            if let Some((class, link, native)) = ole1(&data) {
                if !class.is_empty() {
                    object.class = class;
                }
                object.linked_to = link;
                object.native = native;
            } else {
                object.native = data;
            }
        }
        out.push(object);
        if out.len() >= 64 {
            break;
        }
    }
    out
}

impl Walk<'_> {
    pub(crate) fn rtf(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let objects = objects(data, self.config.max_object_bytes as usize);
        for (i, object) in objects.into_iter().enumerate() {
            let label = if object.class.is_empty() {
                format!("object {}", i + 1)
            } else {
                format!("object {} ({})", i + 1, object.class)
            };
            let at = location.child(label.clone());
            self.add(
                "RTF_OBJECT",
                format!("{name} embeds {label}, {} bytes", object.native.len()),
                &at,
            );
            let class = object.class.to_ascii_lowercase();
            let native_is_ole = object.native.starts_with(b"\xd0\xcf\x11\xe0");
            if class.starts_with("equation") {
                self.add(
                    "OFFICE_EQUATION_EDITOR",
                    format!("{name} embeds an Equation Editor object ({}), the CVE-2017-11882 exploit family", object.class),
                    &at,
                );
            }
            if object.auto_update {
                self.add(
                    "RTF_OBJUPDATE",
                    format!("{name}: {label} updates itself when the document opens (\\objupdate)"),
                    &at,
                );
            }
            if let Some(link) = &object.linked_to {
                self.add(
                    "RTF_OBJUPDATE",
                    format!("{name}: {label} is linked to {link}, fetched when the document opens"),
                    &at,
                );
            }
            if class == "package" {
                let mut sized = vec![0u8; 4];
                sized.extend_from_slice(&object.native);
                if let Some((file, bytes)) = crate::office::ole10_native(&sized) {
                    self.add(
                        "OFFICE_EMBEDDED_PACKAGE",
                        format!(
                            "{name} embeds the file {file:?} ({} bytes) as a Package object",
                            bytes.len()
                        ),
                        &at,
                    );
                    let bytes = bytes.to_vec();
                    self.embedded(&at, &file, &bytes, depth + 1);
                }
            } else if native_is_ole {
                self.embedded_at(location, &at, &label, &object.native, depth);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ole1_header(class: &str, native: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&0x0501u32.to_le_bytes());
        d.extend_from_slice(&2u32.to_le_bytes());
        let c = format!("{class}\0");
        d.extend_from_slice(&(c.len() as u32).to_le_bytes());
        d.extend_from_slice(c.as_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&(native.len() as u32).to_le_bytes());
        d.extend_from_slice(native);
        d
    }

    #[test]
    fn obfuscated_objdata_is_read_like_word_reads_it() {
        let hex: String = ole1_header("Equation.3", b"\x1c\0\0\0")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // Whitespace, an ignorable group and a control word inside the hex.
        let (a, b) = hex.split_at(10);
        let rtf = format!("{{\\rtf1{{\\object\\objemb\\objupdate{{\\*\\objdata {a}\r\n {{\\*\\junk 4142}}\\par {b}}}}}}}");
        let objects = objects(rtf.as_bytes(), 1 << 20);
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].class, "Equation.3");
        assert!(objects[0].auto_update);
        assert_eq!(objects[0].native, b"\x1c\0\0\0");
    }
}

//! Office documents. OLE compound files (Word, Excel, PowerPoint 97–2003; also what is
//! embedded in RTF and OOXML): VBA projects, Excel 4.0 macro sheets, encryption, embedded
//! packages and Equation Editor objects. OOXML (.docx/.xlsx/.pptx and their macro-enabled
//! kinds): the vbaProject.bin, external relationships (remote template injection), embedded
//! OLE objects and ActiveX controls, DDE fields, XLM macro sheets.

use std::io::{Cursor, Read};
use std::sync::OnceLock;

use mailmoat_core::Location;
use regex::Regex;

use crate::walk::Walk;

/// Equation Editor 3.0's class: the CVE-2017-11882 / CVE-2018-0802 family.
pub const EQUATION_CLSID: [u8; 16] = [
    0x02, 0xce, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

fn read_stream(
    file: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    path: &str,
    limit: u64,
) -> Option<Vec<u8>> {
    let mut s = file.open_stream(path).ok()?;
    let mut buf = Vec::new();
    (&mut s).take(limit).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// An OLE1 Package (Ole10Native stream): the embedded file's name and bytes.
pub fn ole10_native(data: &[u8]) -> Option<(String, &[u8])> {
    // u32 total size, u16 type 2, label (NUL-terminated), path, u16, u16, u32 len, command,
    // u32 size, data.
    let mut at = 4 + 2;
    let cstr = |at: &mut usize| -> Option<String> {
        let rest = data.get(*at..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        *at += end + 1;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let label = cstr(&mut at)?;
    let _path = cstr(&mut at)?;
    at += 4;
    let command_len = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4 + command_len;
    let size = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4;
    let bytes = data.get(at..at.checked_add(size)?)?;
    Some((label, bytes))
}

/// BIFF8 BOUNDSHEET records of an Excel 97–2003 Workbook stream: (name, hidden state) of each
/// Excel 4.0 macro sheet; and whether the workbook is encrypted (FILEPASS).
pub fn xlm_sheets(workbook: &[u8]) -> (Vec<(String, &'static str)>, bool) {
    let mut sheets = Vec::new();
    let mut encrypted = false;
    let mut at = 0;
    while at + 4 <= workbook.len() {
        let kind = u16::from_le_bytes([workbook[at], workbook[at + 1]]);
        let len = u16::from_le_bytes([workbook[at + 2], workbook[at + 3]]) as usize;
        let body = workbook.get(at + 4..at + 4 + len).unwrap_or_default();
        match kind {
            0x002f => encrypted = true,
            0x0085 if body.len() >= 8 => {
                let hidden = match body[4] & 0x03 {
                    0 => "visible",
                    1 => "hidden",
                    _ => "very hidden",
                };
                // dt: 0 worksheet, 1 Excel 4.0 macro sheet, 2 chart, 6 VBA module.
                if body[5] == 1 {
                    let n = body[6] as usize;
                    let name = if body[7] & 1 == 0 {
                        String::from_utf8_lossy(body.get(8..8 + n).unwrap_or_default()).into_owned()
                    } else {
                        let units: Vec<u16> = body
                            .get(8..8 + 2 * n)
                            .unwrap_or_default()
                            .chunks_exact(2)
                            .map(|c| u16::from_le_bytes([c[0], c[1]]))
                            .collect();
                        String::from_utf16_lossy(&units)
                    };
                    sheets.push((name, hidden));
                }
            }
            _ => {}
        }
        at += 4 + len;
    }
    (sheets, encrypted)
}

struct Patterns {
    external_rel: Regex,
    dde: Regex,
    xlm_exec: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        // A Relationship element with TargetMode="External", attributes in any order.
        external_rel: Regex::new(r#"(?is)<Relationship\b[^>]*?TargetMode\s*=\s*["']External["'][^>]*>|<Relationship\b[^>]*>"#)
            .expect("pattern"),
        dde: Regex::new(r#"(?i)(?:instrText[^>]*>|instr\s*=\s*["'])\s*(DDE(?:AUTO)?\b[^<"]{0,200})|ddeService\s*=\s*["']([^"']{1,100})"#)
            .expect("pattern"),
        xlm_exec: Regex::new(r#"(?i)\b(EXEC|CALL|REGISTER|RUN|URLDownloadToFile\w*|FOPEN|FWRITE|FORMULA\.FILL|SET\.NAME|GET\.WORKSPACE|ALERT)\s*\("#)
            .expect("pattern"),
    })
}

fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let at = element.find(&format!("{name}="))? + name.len() + 1;
    let quote = element[at..].chars().next()?;
    let rest = &element[at + 1..];
    rest.find(quote).map(|end| &rest[..end])
}

impl Walk<'_> {
    /// An OLE compound file that is not an installer: HWP, encrypted OOXML, Word/Excel/
    /// PowerPoint with their macros, embedded packages and equations.
    pub(crate) fn ole(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let mut file = match cfb::CompoundFile::open(Cursor::new(data)) {
            Ok(f) => f,
            Err(e) => {
                self.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: an unreadable OLE file ({e})"),
                    location,
                );
                return;
            }
        };
        let limit = self.config.max_object_bytes;
        if file.is_stream("/FileHeader") {
            drop(file);
            return self.hwp(location, name, data, depth);
        }
        if file.is_stream("/EncryptedPackage") {
            self.add(
                "OFFICE_ENCRYPTED",
                format!("{name} is a password-protected Office document: its content cannot be analysed"),
                location,
            );
            return;
        }
        if *file.root_entry().clsid().as_bytes() == EQUATION_CLSID
            || file.is_stream("/Equation Native")
        {
            self.add(
                "OFFICE_EQUATION_EDITOR",
                format!("{name} holds an Equation Editor 3.0 object (the CVE-2017-11882 exploit family; Microsoft removed the component in 2018)"),
                location,
            );
        }
        if let Some(workbook) = read_stream(&mut file, "/Workbook", limit)
            .or_else(|| read_stream(&mut file, "/Book", limit))
        {
            let (sheets, encrypted) = xlm_sheets(&workbook);
            if encrypted {
                self.add(
                    "OFFICE_ENCRYPTED",
                    format!("{name} is a password-protected workbook: its content cannot be fully analysed"),
                    location,
                );
            }
            for (sheet, hidden) in sheets {
                self.add(
                    "XLM_MACRO_SHEET",
                    format!("{name} has an Excel 4.0 macro sheet {sheet:?} ({hidden})"),
                    &location.child(sheet),
                );
            }
        }
        if let Some(word) = read_stream(&mut file, "/WordDocument", 64) {
            // FIB: fEncrypted is bit 8 of the flags at offset 0x0A.
            if word.len() >= 12 && u16::from_le_bytes([word[10], word[11]]) & 0x0100 != 0 {
                self.add(
                    "OFFICE_ENCRYPTED",
                    format!("{name} is a password-protected Word document: its content cannot be analysed"),
                    location,
                );
            }
        }
        // Embedded OLE1 packages: files dropped into the document (Package objects).
        let natives: Vec<String> = file
            .walk()
            .filter(|e| e.is_stream() && e.name() == "\u{1}Ole10Native")
            .map(|e| e.path().to_string_lossy().into_owned())
            .collect();
        for path in natives.into_iter().take(64) {
            let Some(stream) = read_stream(&mut file, &path, limit) else {
                continue;
            };
            if let Some((label, bytes)) = ole10_native(&stream) {
                let at = location.child(label.clone());
                self.add(
                    "OFFICE_EMBEDDED_PACKAGE",
                    format!(
                        "{name} embeds the file {label:?} ({} bytes) as a Package object",
                        bytes.len()
                    ),
                    &at,
                );
                let bytes = bytes.to_vec();
                self.embedded(location, &label, &bytes, depth);
            }
        }
        drop(file);
        self.vba(location, name, data);
    }

    /// OOXML: what the parts say, and the embedded objects walked.
    pub(crate) fn ooxml(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let mut archive = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(a) => a,
            Err(e) => {
                self.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: not a readable Office document ({e})"),
                    location,
                );
                return;
            }
        };
        let names: Vec<String> = archive
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        let read = |archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
                    part: &str,
                    limit: u64|
         -> Option<Vec<u8>> {
            let mut f = archive.by_name(part).ok()?;
            if f.size() > limit {
                return None;
            }
            let mut buf = Vec::new();
            (&mut f).take(limit).read_to_end(&mut buf).ok()?;
            Some(buf)
        };
        let p = patterns();
        let limit = self.config.max_object_bytes;
        for part in &names {
            if !self.time_left() {
                break;
            }
            let lower = part.to_ascii_lowercase();
            if lower.ends_with(".rels") {
                let Some(xml) = read(&mut archive, part, 4 << 20) else {
                    continue;
                };
                let xml = String::from_utf8_lossy(&xml);
                for m in p.external_rel.find_iter(&xml) {
                    let element = m.as_str();
                    if !element.contains("External") {
                        continue;
                    }
                    let kind = attr(element, "Type")
                        .unwrap_or("")
                        .rsplit('/')
                        .next()
                        .unwrap_or("");
                    let target = attr(element, "Target").unwrap_or("");
                    // Hyperlinks are ordinary; what loads content on open is not.
                    if matches!(
                        kind,
                        "attachedTemplate"
                            | "oleObject"
                            | "frame"
                            | "subDocument"
                            | "externalLinkPath"
                            | "image"
                            | "package"
                    ) {
                        let web = target.to_ascii_lowercase().starts_with("http");
                        self.add(
                            if web { "OOXML_REMOTE_TEMPLATE" } else { "OOXML_EXTERNAL_RELATIONSHIP" },
                            format!("{name} loads {kind} from {target} when opened (remote template or object injection)"),
                            &location.child(part.clone()),
                        );
                    }
                }
            } else if lower.ends_with("vbaproject.bin") {
                let Some(bin) = read(&mut archive, part, limit) else {
                    continue;
                };
                self.vba(location, name, &bin);
            } else if lower.contains("/activex/") && lower.ends_with(".xml") {
                self.add(
                    "OOXML_ACTIVEX",
                    format!("{name} carries an ActiveX control ({part})"),
                    &location.child(part.clone()),
                );
            } else if lower.contains("/embeddings/") {
                let Some(bytes) = read(&mut archive, part, limit) else {
                    continue;
                };
                let short = part.rsplit('/').next().unwrap_or(part).to_string();
                if lower.ends_with(".bin") || bytes.starts_with(b"\xd0\xcf\x11\xe0") {
                    self.add(
                        "OOXML_EMBEDDED_OBJECT",
                        format!("{name} embeds an OLE object ({short})"),
                        &location.child(part.clone()),
                    );
                }
                self.embedded(location, part, &bytes, depth);
            } else if lower.contains("macrosheets/") && lower.ends_with(".xml") {
                let Some(xml) = read(&mut archive, part, 16 << 20) else {
                    continue;
                };
                let xml = String::from_utf8_lossy(&xml);
                let at = location.child(part.clone());
                self.add(
                    "XLM_MACRO_SHEET",
                    format!("{name} has an Excel 4.0 macro sheet ({part})"),
                    &at,
                );
                let mut calls: Vec<String> = p
                    .xlm_exec
                    .captures_iter(&xml)
                    .filter_map(|c| c.get(1).map(|m| m.as_str().to_ascii_uppercase()))
                    .collect();
                calls.sort();
                calls.dedup();
                if calls.iter().any(|c| {
                    matches!(c.as_str(), "EXEC" | "CALL" | "REGISTER")
                        || c.starts_with("URLDOWNLOAD")
                }) {
                    self.add(
                        "XLM_EXECUTES",
                        format!("{part} calls {}", calls.join(", ")),
                        &at,
                    );
                }
            } else if (lower.starts_with("word/") || lower.starts_with("xl/"))
                && lower.ends_with(".xml")
            {
                let Some(xml) = read(&mut archive, part, 32 << 20) else {
                    continue;
                };
                let xml = String::from_utf8_lossy(&xml);
                if let Some(c) = p.dde.captures(&xml) {
                    let field = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                    self.add(
                        "OFFICE_DDE",
                        format!(
                            "{name} has a DDE field that asks to run a program: {}",
                            field.chars().take(200).collect::<String>()
                        ),
                        &location.child(part.clone()),
                    );
                }
            }
        }
        // Workbooks name their auto-run XLM macro Auto_Open in workbook.xml's definedNames.
        if names
            .iter()
            .any(|n| n.to_ascii_lowercase().contains("macrosheets/"))
        {
            if let Some(xml) = read(&mut archive, "xl/workbook.xml", 8 << 20) {
                let xml = String::from_utf8_lossy(&xml);
                if xml.contains("_xlnm.Auto_Open") || xml.contains("Auto_Open") {
                    self.add(
                        "XLM_EXECUTES",
                        format!("{name}: an Excel 4.0 macro runs on open (Auto_Open)"),
                        location,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundsheet_macro_sheets_and_filepass() {
        let mut wb = Vec::new();
        // BOUNDSHEET: pos u32, hidden state 2 (very hidden), type 1 (macro), name "M1".
        let body = [0u8, 0, 0, 0, 2, 1, 2, 0, b'M', b'1'];
        wb.extend_from_slice(&0x0085u16.to_le_bytes());
        wb.extend_from_slice(&(body.len() as u16).to_le_bytes());
        wb.extend_from_slice(&body);
        // A worksheet: not reported.
        let body = [0u8, 0, 0, 0, 0, 0, 2, 0, b'S', b'1'];
        wb.extend_from_slice(&0x0085u16.to_le_bytes());
        wb.extend_from_slice(&(body.len() as u16).to_le_bytes());
        wb.extend_from_slice(&body);
        wb.extend_from_slice(&0x002fu16.to_le_bytes());
        wb.extend_from_slice(&0u16.to_le_bytes());
        let (sheets, encrypted) = xlm_sheets(&wb);
        assert_eq!(sheets, vec![("M1".to_string(), "very hidden")]);
        assert!(encrypted);
    }

    #[test]
    fn package_stream() {
        let mut d = vec![0u8; 4];
        d.extend_from_slice(&2u16.to_le_bytes());
        d.extend_from_slice(b"a.js\0C:\\a.js\0");
        d.extend_from_slice(&[0, 0, 3, 0]);
        d.extend_from_slice(&7u32.to_le_bytes());
        d.extend_from_slice(b"C:\\a.js");
        d.extend_from_slice(&3u32.to_le_bytes());
        d.extend_from_slice(b"x=1");
        let (label, bytes) = ole10_native(&d).unwrap();
        assert_eq!((label.as_str(), bytes), ("a.js", &b"x=1"[..]));
    }
}

//! Windows Installer packages (MSI) and compiled HTML help (CHM): both run code when opened.
//! An MSI's custom actions are what it runs (scripts, command lines); a CHM's pages may
//! carry scripts that hh.exe runs with the user's rights.

use std::io::Cursor;

use mailmoat_core::Location;

use crate::filetype::Lang;
use crate::walk::Walk;

/// A custom action that runs something, with what it runs.
#[derive(Debug, PartialEq)]
pub struct CustomAction {
    pub name: String,
    pub what: &'static str,
    /// Script text or command line, when the action carries it.
    pub code: Option<String>,
    pub lang: Lang,
}

pub fn custom_actions(data: &[u8]) -> Result<Vec<CustomAction>, String> {
    let mut package = msi::Package::open(Cursor::new(data)).map_err(|e| e.to_string())?;
    if !package.has_table("CustomAction") {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, i32, String, String)> = package
        .select_rows(msi::Select::table("CustomAction"))
        .map_err(|e| e.to_string())?
        .map(|row| {
            // A crafted table may lack a column: indexing by a missing name panics in msi.
            let text = |col: &str| {
                if row.has_column(col) {
                    row[col].as_str().unwrap_or_default().to_string()
                } else {
                    String::new()
                }
            };
            (
                text("Action"),
                if row.has_column("Type") {
                    row["Type"].as_int().unwrap_or(0)
                } else {
                    0
                },
                text("Source"),
                text("Target"),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (name, kind, source, target) in rows {
        let base = kind & 0x07;
        let location = kind & 0x30;
        let lang = match base {
            5 => Lang::JavaScript,
            6 => Lang::VbScript,
            _ => Lang::Batch,
        };
        let (what, code) = match (base, location) {
            // Script in the Binary table.
            (5 | 6, 0x00) => {
                let stream = format!("Binary.{source}");
                let code = package.read_stream(&stream).ok().and_then(|r| {
                    let mut buf = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::Read::take(r, 4 << 20), &mut buf)
                        .ok()?;
                    Some(crate::script::text(&buf))
                });
                ("a script stored in the package", code)
            }
            // Script text inline in Target.
            (5 | 6, 0x20) => ("an inline script", Some(target)),
            (5 | 6, _) => ("a script from a file or property", None),
            // An executable with a command line.
            (2, _) => ("a command line", Some(format!("{source} {target}"))),
            (1, _) => ("a DLL function", None),
            _ => continue,
        };
        out.push(CustomAction {
            name,
            what,
            code,
            lang,
        });
    }
    Ok(out)
}

/// CHM's ENCINT: big-endian base-128.
fn encint(d: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for _ in 0..9 {
        let b = *d.get(*at)?;
        *at += 1;
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A CHM directory entry: name, content section, offset and length in that section.
pub type ChmEntry = (String, u64, u64, u64);

/// CHM entries from the directory's PMGL chunks, and where content section 0 starts. Every
/// offset comes from the file, so all arithmetic on them is checked (found by fuzzing:
/// attach_chm, directory offsets near the top of the address space).
pub fn chm_entries(d: &[u8]) -> Option<(Vec<ChmEntry>, u64)> {
    let bytes = |at: usize, n: usize| d.get(at..at.checked_add(n)?);
    let u32le =
        |at: usize| -> Option<u32> { Some(u32::from_le_bytes(bytes(at, 4)?.try_into().ok()?)) };
    let u64le =
        |at: usize| -> Option<u64> { Some(u64::from_le_bytes(bytes(at, 8)?.try_into().ok()?)) };
    let dir = usize::try_from(u64le(0x48)?).ok()?;
    let dir_len = usize::try_from(u64le(0x50)?).ok()?;
    // Content section 0 starts after the directory (version 3 stores it explicitly).
    let content = if u32le(4)? >= 3 {
        u64le(0x58)?
    } else {
        u64::try_from(dir.checked_add(dir_len)?).ok()?
    };
    if bytes(dir, 4)? != b"ITSP" {
        return None;
    }
    let header = u32le(dir.checked_add(8)?)? as usize;
    let chunk = u32le(dir.checked_add(0x10)?)? as usize;
    if !(64..=1 << 16).contains(&chunk) {
        return None;
    }
    let end = d.len().min(dir.saturating_add(dir_len));
    let mut out = Vec::new();
    let mut at = dir.checked_add(header)?;
    while at.checked_add(chunk).is_some_and(|e| e <= end) && out.len() < 100_000 {
        let c = &d[at..at + chunk];
        if &c[..4] == b"PMGL" {
            let free = u32::from_le_bytes(c[4..8].try_into().ok()?) as usize;
            let end = chunk.saturating_sub(free);
            let mut p = 0x14;
            while p < end {
                let Some(len) = encint(c, &mut p) else { break };
                let Some(name) = usize::try_from(len)
                    .ok()
                    .and_then(|len| c.get(p..p.checked_add(len)?))
                else {
                    break;
                };
                p += name.len();
                let (Some(section), Some(offset), Some(length)) =
                    (encint(c, &mut p), encint(c, &mut p), encint(c, &mut p))
                else {
                    break;
                };
                out.push((
                    String::from_utf8_lossy(name).into_owned(),
                    section,
                    offset,
                    length,
                ));
            }
        }
        at += chunk;
    }
    Some((out, content))
}

impl Walk<'_> {
    pub(crate) fn msi(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let actions = match custom_actions(data) {
            Ok(a) => a,
            Err(e) => {
                self.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: an unreadable installer ({e})"),
                    location,
                );
                return;
            }
        };
        for action in actions {
            let at = location.child(format!("CustomAction {}", action.name));
            if matches!(action.lang, Lang::JavaScript | Lang::VbScript)
                || action.what == "a command line"
            {
                self.add(
                    "MSI_CUSTOM_ACTION",
                    format!("{name} runs {} at install ({})", action.what, action.name),
                    &at,
                );
            }
            if let Some(code) = &action.code {
                self.script_text(action.lang, &at, &action.name, code, depth + 1);
            }
        }
    }

    pub(crate) fn chm(&mut self, location: &Location, name: &str, data: &[u8]) {
        let Some((entries, content)) = chm_entries(data) else {
            self.add(
                "ARCHIVE_DAMAGED",
                format!("{name}: an unreadable CHM"),
                location,
            );
            return;
        };
        let pages = entries
            .iter()
            .filter(|e| e.0.ends_with(".htm") || e.0.ends_with(".html"))
            .count();
        self.add(
            "CHM_FILE",
            format!("{name} is compiled HTML help ({pages} pages, {} entries): its pages run script with the user's rights", entries.len()),
            location,
        );
        for (entry, section, offset, length) in &entries {
            let at = location.child(entry.trim_start_matches('/').to_string());
            if mailmoat_detectors::attachment_names::is_executable_name(entry) {
                self.add(
                    "ARCHIVE_EXECUTABLE",
                    format!("{entry} inside {name} is named as a program or script"),
                    &at,
                );
            }
            // Section 0 is stored uncompressed: its pages can be read as they are. Section 1
            // is LZX-compressed and not decoded here.
            let page = [".htm", ".html", ".js", ".vbs", ".hta"]
                .iter()
                .any(|s| entry.to_ascii_lowercase().ends_with(s));
            if *section == 0 && page && *length > 0 {
                let start = content.saturating_add(*offset) as usize;
                let end = start.saturating_add(*length as usize).min(data.len());
                if let Some(bytes) = data.get(start..end) {
                    let text = crate::script::text(bytes);
                    self.script_text(Lang::JavaScript, &at, entry, &text, 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_chm_directory_offsets_near_the_top_of_the_address_space() {
        // Found by fuzzing (attach_chm): a directory offset and length of 0xffff… overflowed.
        let crash = include_bytes!("../fuzz-crashes/chm-directory-offset-overflow.bin");
        assert_eq!(chm_entries(crash), None);
        let mut header = vec![0u8; 0x60];
        header[..4].copy_from_slice(b"ITSF");
        header[0x48..0x50].copy_from_slice(&(u64::MAX - 2).to_le_bytes());
        header[0x50..0x58].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(chm_entries(&header), None);
    }
}

//! VBA macros in OLE compound files (Word/Excel/PowerPoint 97–2003, and the vbaProject.bin of
//! .docm/.xlsm/.pptm): the project's `dir` stream lists the modules; each module's source is
//! MS-OVBA-compressed after its p-code. Read statically: auto-run entry points, calls that run,
//! download or write memory, obfuscation, indicators, and p-code without matching source
//! (VBA stomping).

use std::io::{Cursor, Read};
use std::sync::OnceLock;

use mailmoat_core::Location;
use regex::Regex;

use crate::walk::Walk;

/// Decompressed bytes per stream at most (a module's source is kilobytes).
const MAX_DECOMPRESSED: usize = 16 << 20;

/// MS-OVBA 2.4.1 decompression. Chunks may decompress to fewer than 4096 bytes (writers that
/// only emit literals do that), never to more: copy tokens that would are refused, so a
/// crafted stream cannot expand beyond 4096 bytes per chunk (and 16 MiB in all). A copy token
/// reaching before its chunk is an error.
pub fn decompress(data: &[u8]) -> Option<Vec<u8>> {
    if data.first() != Some(&1) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 2);
    let mut pos = 1;
    while pos + 2 <= data.len() {
        let header = u16::from_le_bytes([data[pos], data[pos + 1]]);
        let size = (header & 0x0fff) as usize + 3;
        let compressed = header & 0x8000 != 0;
        let chunk_end = (pos + size).min(data.len());
        pos += 2;
        let chunk_start = out.len();
        if out.len() >= MAX_DECOMPRESSED {
            return None;
        }
        if !compressed {
            let end = (pos + 4096).min(data.len());
            out.extend_from_slice(&data[pos..end]);
            pos = end;
            continue;
        }
        while pos < chunk_end {
            let flags = data[pos];
            pos += 1;
            for bit in 0..8 {
                if pos >= chunk_end {
                    break;
                }
                if flags & (1 << bit) == 0 {
                    if out.len() - chunk_start >= 4096 {
                        return None;
                    }
                    out.push(data[pos]);
                    pos += 1;
                    continue;
                }
                if pos + 2 > chunk_end {
                    return None;
                }
                let token = u16::from_le_bytes([data[pos], data[pos + 1]]) as usize;
                pos += 2;
                let done = out.len() - chunk_start;
                let mut bits = 4;
                while (1usize << bits) < done {
                    bits += 1;
                }
                let bits = bits.min(12);
                let length_mask = 0xffff >> bits;
                let length = (token & length_mask) + 3;
                let offset = (token >> (16 - bits)) + 1;
                if offset > done {
                    return None;
                }
                if done + length > 4096 || out.len() + length > MAX_DECOMPRESSED {
                    return None;
                }
                let from = out.len() - offset;
                for i in 0..length {
                    let b = out[from + i];
                    out.push(b);
                }
            }
        }
        pos = chunk_end;
    }
    Some(out)
}

/// A module of a VBA project: its name, stream and where its compressed source starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRef {
    pub name: String,
    pub stream: String,
    pub offset: u32,
}

/// The modules listed in a decompressed `dir` stream (MS-OVBA 2.3.4.2).
pub fn modules(dir: &[u8]) -> Vec<ModuleRef> {
    let mut out = Vec::new();
    let mut current: Option<ModuleRef> = None;
    let mut at = 0;
    while at + 6 <= dir.len() {
        let id = u16::from_le_bytes([dir[at], dir[at + 1]]);
        let mut size =
            u32::from_le_bytes([dir[at + 2], dir[at + 3], dir[at + 4], dir[at + 5]]) as usize;
        // PROJECTVERSION says 4 but carries 6 bytes.
        if id == 0x0009 {
            size = 6;
        }
        let body = dir.get(at + 6..at + 6 + size).unwrap_or_default();
        let text = || String::from_utf8_lossy(body).into_owned();
        match id {
            0x0019 => {
                if let Some(m) = current.take() {
                    out.push(m);
                }
                current = Some(ModuleRef {
                    name: text(),
                    stream: text(),
                    offset: 0,
                });
            }
            0x001a => {
                if let Some(m) = current.as_mut() {
                    m.stream = text();
                }
            }
            0x0031 => {
                if let (Some(m), Some(b)) = (current.as_mut(), body.get(..4)) {
                    m.offset = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            0x002b => {
                if let Some(m) = current.take() {
                    out.push(m);
                }
            }
            _ => {}
        }
        at += 6 + size;
    }
    if let Some(m) = current.take() {
        out.push(m);
    }
    out
}

/// One module read: source text and the strings visible in its p-code.
#[derive(Debug)]
pub struct Module {
    pub name: String,
    pub source: String,
    pub pcode_strings: Vec<String>,
}

/// Every VBA project in a compound file: (storage path of the project, its modules).
pub fn projects(data: &[u8]) -> Vec<(String, Vec<Module>)> {
    let Ok(mut file) = cfb::CompoundFile::open(Cursor::new(data)) else {
        return Vec::new();
    };
    let dirs: Vec<String> = file
        .walk()
        .filter(|e| e.is_stream() && e.name().eq_ignore_ascii_case("dir"))
        .filter_map(|e| {
            let parent = e.path().parent()?;
            parent
                .file_name()
                .is_some_and(|n| n.eq_ignore_ascii_case("VBA"))
                .then(|| parent.to_string_lossy().into_owned())
        })
        .collect();
    let mut out = Vec::new();
    for vba in dirs {
        let read = |file: &mut cfb::CompoundFile<Cursor<&[u8]>>, path: &str| -> Option<Vec<u8>> {
            let mut s = file.open_stream(path).ok()?;
            let mut buf = Vec::new();
            (&mut s).take(64 << 20).read_to_end(&mut buf).ok()?;
            Some(buf)
        };
        let Some(dir) = read(&mut file, &format!("{vba}/dir")).and_then(|d| decompress(&d)) else {
            continue;
        };
        let mut modules = Vec::new();
        for m in self::modules(&dir) {
            let Some(stream) = read(&mut file, &format!("{vba}/{}", m.stream)) else {
                continue;
            };
            let offset = (m.offset as usize).min(stream.len());
            let source = decompress(&stream[offset..])
                .map(|s| String::from_utf8_lossy(&s).into_owned())
                .unwrap_or_default();
            modules.push(Module {
                name: m.name,
                source,
                pcode_strings: printable_strings(&stream[..offset], 4),
            });
        }
        out.push((vba, modules));
    }
    out
}

fn printable_strings(data: &[u8], min: usize) -> Vec<String> {
    data.split(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.'))
        .filter(|s| s.len() >= min)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

struct Patterns {
    autorun: Regex,
    execute: Regex,
    download: Regex,
    memory: Regex,
    common: Regex,
    chr: Regex,
    concat: Regex,
    url: Regex,
    ip: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("vba pattern compiles");
        Patterns {
            autorun: re(r"(?im)^\s*(?:Private\s+|Public\s+)?(?:Sub|Function)\s+(AutoOpen|AutoExec|AutoClose|AutoNew|Auto_Open|Auto_Close|Auto_Activate|Document_Open|Document_Close|Document_New|Document_ContentControlOnEnter|Workbook_Open|Workbook_Activate|Workbook_BeforeClose|Presentation_Open|\w+_(?:Painted|Layout|Resize|GotFocus|MouseHover|Initialize))\b"),
            execute: re(r#"(?i)\bShell\s*\(|\bShell\s+["\w]|WScript\.Shell|\.ShellExecute\b|Shell\.Application|\bpowershell\b|cmd(?:\.exe)?\s*/c|\bMacScript\b|\bCreateProcess\w*|Win32_Process"#),
            download: re(r#"(?i)URLDownloadToFile\w*|XMLHTTP|WinHttp\.?WinHttpRequest|InternetExplorer\.Application|\.SaveToFile\b|ADODB\.Stream|Net\.WebClient|\bcertutil\b|bitsadmin"#),
            memory: re(r#"(?i)\b(?:VirtualAlloc\w*|RtlMoveMemory|CreateThread|WriteProcessMemory|EnumSystemLocales\w*|CallWindowProc\w*)\b"#),
            common: re(r#"(?i)\bCreateObject\b|\bGetObject\b|\bCallByName\b|\bEnviron\b|\bKill\b|\bStrReverse\b|\bSendKeys\b|Lib\s+"kernel32""#),
            chr: re(r"(?i)\bChrW?\$?\s*\(|\bChrB\$?\s*\("),
            concat: re(r#""\s*&\s*""#),
            url: re(r#"(?i)\bhttps?://[^\s"'<>)]{3,200}"#),
            ip: re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
        }
    })
}

/// Undoes the commonest string hiding: `Chr(87) & Chr(83)` becomes `"WS"`, and literals
/// joined with `&` become one, so that calls are matched on what the code really says.
pub fn deobfuscate(source: &str) -> String {
    static CHR: OnceLock<Regex> = OnceLock::new();
    static JOIN: OnceLock<Regex> = OnceLock::new();
    let chr =
        CHR.get_or_init(|| Regex::new(r"(?i)\bChrW?\$?\(\s*(\d{1,5})\s*\)").expect("pattern"));
    let join = JOIN.get_or_init(|| Regex::new(r#""\s*[&+]\s*""#).expect("pattern"));
    let literals = chr.replace_all(source, |c: &regex::Captures<'_>| {
        let code: u32 = c[1].parse().unwrap_or(0);
        match char::from_u32(code) {
            Some('"') | None => c[0].to_string(),
            Some(ch) => format!("\"{ch}\""),
        }
    });
    join.replace_all(&literals, "").into_owned()
}

fn distinct(re: &Regex, text: &str) -> Vec<String> {
    let mut v: Vec<String> = re
        .find_iter(text)
        .map(|m| m.as_str().trim().to_string())
        .collect();
    v.sort_unstable_by_key(|s| s.to_ascii_lowercase());
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}

impl Walk<'_> {
    /// The VBA projects of an OLE file; `location` is the document.
    pub(crate) fn vba(&mut self, location: &Location, name: &str, data: &[u8]) {
        let projects = projects(data);
        if projects.is_empty() {
            return;
        }
        let p = patterns();
        let count: usize = projects.iter().map(|(_, m)| m.len()).sum();
        self.add(
            "VBA_MACRO",
            format!("{name} carries {count} VBA module(s)"),
            location,
        );
        let mut autorun_entries = Vec::new();
        let mut acting = Vec::new();
        for (_, modules) in &projects {
            for module in modules {
                let at = location.child(module.name.clone());
                let source = &module.source;
                // The macro's source is an object of its own: reports name it, the console
                // draws it, the reference store compares it.
                let digest = crate::hashes::sha256_hex(source.as_bytes());
                self.findings.add_object(
                    at.clone(),
                    module.name.clone(),
                    "VBA macro source",
                    source.len() as u64,
                    digest.as_str(),
                );
                self.compare_with_references(&at, &module.name, source.as_bytes(), &digest);
                self.signature_engines(&at, &module.name, source.as_bytes(), None, 0);
                let autorun: Vec<String> = p
                    .autorun
                    .captures_iter(source)
                    .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
                    .collect();
                if !autorun.is_empty() {
                    self.add(
                        "VBA_AUTORUN",
                        format!("{} runs by itself: {}", module.name, autorun.join(", ")),
                        &at,
                    );
                    autorun_entries.extend(autorun);
                }
                let plain = deobfuscate(source);
                let mut calls = distinct(&p.execute, &plain);
                calls.extend(distinct(&p.download, &plain));
                calls.extend(distinct(&p.memory, &plain));
                if !calls.is_empty() {
                    let urls = distinct(&p.url, source);
                    let ips = distinct(&p.ip, source);
                    let indicators: Vec<String> = urls.into_iter().chain(ips).take(10).collect();
                    self.add(
                        "VBA_SUSPICIOUS_CALLS",
                        format!(
                            "{} calls {}{}",
                            module.name,
                            calls.join(", "),
                            if indicators.is_empty() {
                                String::new()
                            } else {
                                format!("; indicators: {}", indicators.join(", "))
                            }
                        ),
                        &at,
                    );
                    acting.push(module.name.clone());
                }
                let mut obfuscation = Vec::new();
                let chr = p.chr.find_iter(source).count();
                if chr >= 10 {
                    obfuscation.push(format!("{chr} Chr() calls building strings"));
                }
                let concat = p.concat.find_iter(source).count();
                if concat >= 15 {
                    obfuscation.push(format!("strings cut into {concat} pieces"));
                }
                let common = distinct(&p.common, source);
                if common.iter().any(|c| {
                    c.eq_ignore_ascii_case("StrReverse") || c.eq_ignore_ascii_case("CallByName")
                }) {
                    obfuscation.push(format!("indirection ({})", common.join(", ")));
                }
                let script = crate::script::signs(source);
                obfuscation.extend(script.obfuscation.into_iter().filter(|o| {
                    o.contains("base64") || o.contains("hex") || o.contains("entropy")
                }));
                if !obfuscation.is_empty() {
                    self.add(
                        "VBA_OBFUSCATED",
                        format!("{}: {}", module.name, obfuscation.join("; ")),
                        &at,
                    );
                }
                // Stomping: the p-code (what Office runs when the version matches) names calls
                // that the source (what editors and scanners read) does not contain.
                let lower_source = source.to_ascii_lowercase();
                let hidden: Vec<&String> = module
                    .pcode_strings
                    .iter()
                    .filter(|s| {
                        (p.execute.is_match(&format!("{s}("))
                            || p.download.is_match(s)
                            || p.memory.is_match(s))
                            && !lower_source.contains(&s.to_ascii_lowercase())
                    })
                    .take(5)
                    .collect();
                let source_is_empty = source
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with("Attribute "));
                if !hidden.is_empty() || (source_is_empty && module.pcode_strings.len() >= 8) {
                    self.add(
                        "VBA_STOMPED",
                        format!(
                            "{}: its compiled p-code does not match its source{}",
                            module.name,
                            if hidden.is_empty() {
                                " (the source is empty, the p-code is not)".to_string()
                            } else {
                                format!(
                                    " (p-code names {} that the source lacks)",
                                    hidden
                                        .iter()
                                        .map(|s| s.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        ),
                        &at,
                    );
                }
            }
        }
        if !autorun_entries.is_empty() && !acting.is_empty() {
            self.add(
                "VBA_AUTORUN_EXECUTES",
                format!(
                    "{name}: macros that run on open ({}) and run programs, download or write memory ({})",
                    autorun_entries.join(", "),
                    acting.join(", ")
                ),
                location,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literal-only compression (valid MS-OVBA: every token a literal).
    pub fn compress_literals(data: &[u8]) -> Vec<u8> {
        let mut out = vec![1u8];
        for chunk in data.chunks(3584) {
            let mut body = Vec::new();
            for group in chunk.chunks(8) {
                body.push(0);
                body.extend_from_slice(group);
            }
            let header = 0xb000u16 | ((body.len() + 2 - 3) as u16 & 0x0fff);
            out.extend_from_slice(&header.to_le_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    #[test]
    fn copy_tokens() {
        // "abc" as literals, then a copy token (offset 3, length 6): "abcabcabc".
        let compressed = [1u8, 0x05, 0xb0, 0x08, b'a', b'b', b'c', 0x03, 0x20];
        assert_eq!(decompress(&compressed).unwrap(), b"abcabcabc");
        // A copy reaching before the chunk is refused.
        assert!(decompress(&[1u8, 0x03, 0xb0, 0x01, 0x03, 0x20]).is_none());
    }

    #[test]
    fn literal_chunks_round_trip() {
        let text: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(decompress(&compress_literals(&text)).unwrap(), text);
    }

    #[test]
    fn chr_strings_are_put_back_together() {
        let src = "Set o = CreateObject(Chr(87) & Chr(83) & \"cript.\" & \"Shell\")";
        assert_eq!(deobfuscate(src), "Set o = CreateObject(\"WScript.Shell\")");
        assert!(patterns().execute.is_match(&deobfuscate(src)));
    }

    #[test]
    fn business_macros_are_not_droppers() {
        // Application.Run calls another macro; .Exec/.Run on a shell object is caught by the
        // object's name (WScript.Shell).
        let p = patterns();
        for line in [
            "Application.Run \"Refresh\"",
            "rs.Run",
            "Set rx = New RegExp: rx.Execute(s)",
        ] {
            assert!(!p.execute.is_match(line), "{line}");
        }
        assert!(p
            .execute
            .is_match("CreateObject(\"WScript.Shell\").Run \"calc\""));
        assert!(p.autorun.is_match("Private Sub Workbook_Open()"));
    }

    #[test]
    fn a_chunk_cannot_expand_past_4096_bytes() {
        // "a", then copy tokens of length 4098 each: a few bytes asking for megabytes.
        let mut body = vec![0xfeu8, b'a'];
        for _ in 0..7 {
            body.extend_from_slice(&0x0fffu16.to_le_bytes());
        }
        let mut data = vec![1u8];
        data.extend_from_slice(&(0xb000u16 | (body.len() as u16 + 2 - 3)).to_le_bytes());
        data.extend_from_slice(&body);
        assert!(decompress(&data).is_none());
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for d in [
            &[1u8, 0xff, 0xbf, 0xff, 0xff, 0xff][..],
            &[1, 3, 0xb0, 1, 0, 0],
            &[0, 1],
        ] {
            let _ = decompress(d);
        }
    }
}

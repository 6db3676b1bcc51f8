//! Windows shortcuts (MS-SHLLINK): the target, its arguments and the window it opens. A
//! shortcut in mail that starts PowerShell, cmd or mshta with arguments is an attack (the
//! ISO-with-a-shortcut campaigns); its command line is analysed as a script.

use mailmoat_core::Location;

use crate::filetype::Lang;
use crate::walk::Walk;

#[derive(Debug, Default, PartialEq)]
pub struct Shortcut {
    pub target: String,
    pub arguments: String,
    pub working_dir: String,
    pub icon: String,
    /// SW_SHOWMINNOACTIVE (7) or minimized (2): the window is kept out of sight.
    pub hidden_window: bool,
}

fn u16le(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn cstr(d: &[u8], at: usize) -> String {
    let rest = d.get(at..).unwrap_or_default();
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

fn wstr(d: &[u8], at: usize, max_units: usize) -> String {
    let units: Vec<u16> = d
        .get(at..)
        .unwrap_or_default()
        .chunks_exact(2)
        .take(max_units)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

pub fn parse(d: &[u8]) -> Option<Shortcut> {
    if u32le(d, 0)? != 0x4c {
        return None;
    }
    let flags = u32le(d, 0x14)?;
    let show = u32le(d, 0x3c)?;
    let unicode = flags & 0x80 != 0;
    let mut s = Shortcut {
        hidden_window: matches!(show, 2 | 7),
        ..Default::default()
    };
    let mut at = 0x4c;
    // LinkTargetIDList: shell items; file entries carry the path's names.
    if flags & 0x01 != 0 {
        let size = u16le(d, at)? as usize;
        let list = d.get(at + 2..at + 2 + size)?;
        let mut parts = Vec::new();
        let mut i = 0;
        while i + 2 <= list.len() {
            let item = u16le(list, i)? as usize;
            if item < 3 {
                break;
            }
            let body = list.get(i..i + item)?;
            match body[2] {
                0x2f => parts.push(cstr(body, 3).trim_end_matches('\\').to_string()),
                t if t & 0x70 == 0x30 && body.len() > 14 => parts.push(cstr(body, 14)),
                _ => {}
            }
            i += item;
        }
        if !parts.is_empty() {
            s.target = parts.join("\\");
        }
        at += 2 + size;
    }
    // LinkInfo: the local base path, when there is one.
    if flags & 0x02 != 0 {
        let size = u32le(d, at)? as usize;
        let header = u32le(d, at + 4)?;
        let info_flags = u32le(d, at + 8)?;
        if info_flags & 1 != 0 {
            let path = if header >= 0x24 {
                wstr(d, at + u32le(d, at + 28)? as usize, 1024)
            } else {
                cstr(d, at + u32le(d, at + 16)? as usize)
            };
            let suffix = cstr(d, at + u32le(d, at + 24)? as usize);
            if !path.is_empty() {
                s.target = format!("{path}{suffix}");
            }
        }
        at = at.checked_add(size)?;
    }
    // StringData, in this order, each present when its flag is set.
    let read_string = |at: &mut usize| -> Option<String> {
        let count = u16le(d, *at)? as usize;
        *at += 2;
        let text = if unicode {
            let t = wstr(d, *at, count);
            *at += count * 2;
            t
        } else {
            let t = String::from_utf8_lossy(d.get(*at..*at + count)?).into_owned();
            *at += count;
            t
        };
        Some(text)
    };
    for (flag, field) in [(0x04, 0), (0x08, 1), (0x10, 2), (0x20, 3), (0x40, 4)] {
        if flags & flag == 0 {
            continue;
        }
        let text = read_string(&mut at)?;
        match field {
            1 if s.target.is_empty() => s.target = text,
            2 => s.working_dir = text,
            3 => s.arguments = text,
            4 => s.icon = text,
            _ => {}
        }
    }
    // ExtraData: EnvironmentVariableDataBlock holds a target like %windir%\…\powershell.exe.
    while let (Some(size), Some(signature)) = (u32le(d, at), u32le(d, at + 4)) {
        if size < 8 {
            break;
        }
        if signature == 0xa000_0001 {
            let wide = wstr(d, at + 8 + 260, 260);
            let target = if wide.is_empty() {
                cstr(d, at + 8)
            } else {
                wide
            };
            if !target.is_empty() {
                s.target = target;
            }
        }
        at = at.checked_add(size as usize)?;
    }
    Some(s)
}

/// Programs that run what their arguments say.
const INTERPRETERS: &[&str] = &[
    "powershell",
    "pwsh",
    "cmd",
    "mshta",
    "wscript",
    "cscript",
    "rundll32",
    "regsvr32",
    "msiexec",
    "certutil",
    "bitsadmin",
    "forfiles",
    "conhost",
    "curl",
    "bash",
    "wsl",
    "msbuild",
    "installutil",
    "regasm",
    "regsvcs",
    "hh",
    "wmic",
    "schtasks",
    "explorer",
    "cmstp",
    "scriptrunner",
];

fn program_name(target: &str) -> String {
    let file = target
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(target)
        .to_ascii_lowercase();
    file.strip_suffix(".exe").unwrap_or(&file).to_string()
}

impl Walk<'_> {
    pub(crate) fn lnk(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let Some(shortcut) = parse(data) else {
            self.add(
                "ARCHIVE_DAMAGED",
                format!("{name}: an unreadable shortcut"),
                location,
            );
            return;
        };
        let program = program_name(&shortcut.target);
        // Arguments may also carry the interpreter (`cmd` target, `/c powershell …`).
        let args_lower = shortcut.arguments.to_ascii_lowercase();
        let via_args = INTERPRETERS.iter().find(|i| {
            args_lower.contains(&format!("{i}.exe")) || args_lower.contains(&format!("{i} "))
        });
        if INTERPRETERS.contains(&program.as_str())
            || (!shortcut.arguments.is_empty() && via_args.is_some())
        {
            self.add(
                "LNK_RUNS_INTERPRETER",
                format!(
                    "{name} runs {} {}",
                    shortcut.target,
                    shorten(&shortcut.arguments, 300)
                ),
                location,
            );
        }
        let padded = shortcut.arguments.len() - shortcut.arguments.trim_start().len();
        let mut hidden = Vec::new();
        if shortcut.arguments.len() > 250 {
            hidden.push(format!(
                "{} characters of arguments (the Properties dialog shows 260)",
                shortcut.arguments.len()
            ));
        }
        if padded >= 20 {
            hidden.push(format!(
                "arguments pushed out of sight by {padded} leading spaces"
            ));
        }
        if shortcut.hidden_window && !shortcut.arguments.is_empty() {
            hidden.push("opens minimised, out of sight".into());
        }
        let icon = shortcut.icon.to_ascii_lowercase();
        if !icon.is_empty()
            && [
                ".pdf",
                ".doc",
                ".xls",
                "imageres.dll",
                "shell32.dll",
                "msedge",
                "acro",
            ]
            .iter()
            .any(|d| icon.contains(d))
            && INTERPRETERS.contains(&program.as_str())
        {
            hidden.push(format!("borrows a document's icon ({})", shortcut.icon));
        }
        if !hidden.is_empty() {
            self.add(
                "LNK_HIDDEN_ARGUMENTS",
                format!("{name}: {}", hidden.join("; ")),
                location,
            );
        }
        if !shortcut.arguments.is_empty() {
            let lang = match program.as_str() {
                "powershell" | "pwsh" => Lang::PowerShell,
                "mshta" | "wscript" | "cscript" => Lang::JavaScript,
                _ => Lang::Batch,
            };
            let command = format!("{} {}", shortcut.target, shortcut.arguments);
            self.script_text(
                lang,
                &location.child("command line"),
                name,
                &command,
                depth + 1,
            );
        }
    }
}

fn shorten(s: &str, n: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shortcut with only StringData (unicode): relative path and arguments.
    pub fn shortcut(target: &str, args: &str) -> Vec<u8> {
        let mut d = vec![0u8; 0x4c];
        d[0] = 0x4c;
        d[4..20].copy_from_slice(&[1, 0x14, 2, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46]);
        d[0x14..0x18].copy_from_slice(&(0x08u32 | 0x20 | 0x80).to_le_bytes());
        d[0x3c] = 7;
        for s in [target, args] {
            let units: Vec<u16> = s.encode_utf16().collect();
            d.extend_from_slice(&(units.len() as u16).to_le_bytes());
            for u in units {
                d.extend_from_slice(&u.to_le_bytes());
            }
        }
        d.extend_from_slice(&[0, 0, 0, 0]);
        d
    }

    #[test]
    fn string_data() {
        let s = parse(&shortcut(
            "..\\..\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "-w hidden -enc AAAA",
        ))
        .unwrap();
        assert_eq!(program_name(&s.target), "powershell");
        assert_eq!(s.arguments, "-w hidden -enc AAAA");
        assert!(s.hidden_window);
    }

    #[test]
    fn truncated_is_none() {
        let d = shortcut("a", "b");
        for n in [10, 0x4c, 0x50] {
            let _ = parse(&d[..n]);
        }
    }
}

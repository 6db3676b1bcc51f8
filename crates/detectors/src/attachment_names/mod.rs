//! Attachment names: what a file is called is the first lie an attacker tells. Executable
//! extensions, a harmless extension in front of a dangerous one (`invoice.pdf.exe`,
//! `scan.pdf        .exe`), and Unicode that makes a name display as something else (the
//! right-to-left override turns `invoice\u{202E}fdp.exe` into "invoiceexe.pdf").

use mailmoat_core::{Action, Category, Findings, Risk, SymbolDef};
use mailmoat_mime::MessageView;
use serde::Deserialize;

use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("ATTACH_EXECUTABLE_EXT", "attachments", Category::Malware, 6.0, "An attachment's name ends in an extension Windows runs or opens as a program or script (.exe, .scr, .js, .vbs, .lnk, .hta…)."),
    SymbolDef::new("ATTACH_DOUBLE_EXTENSION", "attachments", Category::Malware, 6.0, "A harmless-looking extension placed before a dangerous one (invoice.pdf.exe, photo.jpg      .scr, report.pdf.html)."),
    SymbolDef::threat("ATTACH_DECEPTIVE_UNICODE", "attachments", Category::Malware, 8.0, (Action::Quarantine, Risk::High), "An attachment name contains bidirectional overrides, invisible characters or look-alike dots that make it display as something it is not."),
];

/// Extensions that run code when opened on Windows (or macOS/Linux desktops).
const EXECUTABLE: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "bat",
    "cmd",
    "cpl",
    "msi",
    "msp",
    "msc",
    "jar",
    "js",
    "jse",
    "vbs",
    "vbe",
    "wsf",
    "wsh",
    "wsc",
    "hta",
    "ps1",
    "psm1",
    "psd1",
    "lnk",
    "reg",
    "inf",
    "scf",
    "application",
    "gadget",
    "dll",
    "appx",
    "appxbundle",
    "msix",
    "url",
    "iqy",
    "slk",
    "sct",
    "chm",
    "xll",
    "xbap",
    "settingcontent-ms",
    "library-ms",
    "appref-ms",
    "app",
    "command",
    "sh",
    "desktop",
    "elf",
    "bin",
    "run",
];

/// Dangerous without being programs: pages that render phishing forms, and disk images that
/// carry programs past scanners. Dangerous behind a decoy extension.
const DANGEROUS_BEHIND_DECOY: &[&str] = &[
    "html", "htm", "shtml", "xhtml", "svg", "iso", "img", "vhd", "vhdx",
];

/// Extensions people trust: documents, images, media, archives.
const DECOY: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rtf", "txt", "odt", "ods", "hwp", "hwpx",
    "csv", "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "mp3", "mp4", "avi", "mov", "wav",
    "zip", "rar", "7z", "eml", "msg", "xml", "json",
];

/// `[detectors.attachment_names]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// More extensions to treat as executable (without the dot).
    pub extra_executable_extensions: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            extra_executable_extensions: Vec::new(),
        }
    }
}

impl Config {
    pub fn build(&self) -> AttachmentNames {
        let mut executable: Vec<String> = EXECUTABLE.iter().map(|s| s.to_string()).collect();
        executable.extend(
            self.extra_executable_extensions
                .iter()
                .map(|e| e.trim_start_matches('.').to_ascii_lowercase()),
        );
        AttachmentNames { executable }
    }
}

pub struct AttachmentNames {
    executable: Vec<String>,
}

impl Detector for AttachmentNames {
    fn name(&self) -> &'static str {
        "attachment_names"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        for att in &view.attachments {
            let Some(full_name) = att.file_name.as_deref() else {
                continue;
            };
            // Mail programs drop any path; Windows ignores trailing dots and spaces.
            let name = full_name.rsplit(['/', '\\']).next().unwrap_or(full_name);
            let loc = att.location.clone();

            let tricks = deceptive_chars(name);
            if !tricks.is_empty() {
                findings.add(
                    "ATTACH_DECEPTIVE_UNICODE",
                    format!(
                        "{name:?} contains {}; it displays as {:?}",
                        tricks.join(", "),
                        displayed_as(name)
                    ),
                    loc.clone(),
                );
            }

            // Judge the name as Windows would run it: invisible characters removed, bidi undone.
            let effective: String = name.chars().filter(|c| !is_invisible(*c)).collect();
            let effective = effective.trim_end_matches(['.', ' ']);
            let segments: Vec<&str> = effective.split('.').collect();
            if segments.len() < 2 {
                continue;
            }
            let ext = segments[segments.len() - 1].trim().to_ascii_lowercase();
            let is_exec = self.executable.contains(&ext);
            if is_exec {
                findings.add(
                    "ATTACH_EXECUTABLE_EXT",
                    format!("{name:?} has executable extension .{ext}"),
                    loc.clone(),
                );
            }
            if segments.len() >= 3 || padded_before_extension(effective) {
                let inner_raw = segments[segments.len() - 2];
                let inner = inner_raw.trim().to_ascii_lowercase();
                let dangerous = is_exec || DANGEROUS_BEHIND_DECOY.contains(&ext.as_str());
                if dangerous && DECOY.contains(&inner.as_str()) {
                    findings.add(
                        "ATTACH_DOUBLE_EXTENSION",
                        format!("{name:?}: .{inner} in front of .{ext}"),
                        loc.clone(),
                    );
                } else if dangerous && padded_before_extension(effective) {
                    findings.add(
                        "ATTACH_DOUBLE_EXTENSION",
                        format!("{name:?}: a run of spaces hides .{ext}"),
                        loc.clone(),
                    );
                }
            }
        }
    }
}

/// A decoy extension in front of an executable one: "invoice.pdf.exe" gives ("pdf", "exe").
/// For names inside archives, which the gateway sees only once they are unpacked.
pub fn double_extension(name: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = name.trim_end_matches(['.', ' ']).split('.').collect();
    if segments.len() < 3 {
        return None;
    }
    let ext = segments[segments.len() - 1].trim().to_ascii_lowercase();
    let inner = segments[segments.len() - 2].trim().to_ascii_lowercase();
    (EXECUTABLE.contains(&ext.as_str()) && DECOY.contains(&inner.as_str())).then_some((inner, ext))
}

/// Whether a file name ends in an extension that runs code when opened (the built-in list).
pub fn is_executable_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        let ext = ext.trim().to_ascii_lowercase();
        EXECUTABLE.contains(&ext.as_str())
    })
}

/// Runs of spaces or underscores pushing the real extension out of view.
fn padded_before_extension(name: &str) -> bool {
    let Some(dot) = name.rfind('.') else {
        return false;
    };
    let before = &name[..dot];
    let pad = before.len() - before.trim_end_matches([' ', '_', '\u{3000}']).len();
    pad >= 4
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

fn is_invisible(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{00ad}' | '\u{180e}'
        )
}

/// The characters that make a name display as something else, described.
fn deceptive_chars(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in name.chars() {
        let what = match c {
            '\u{202e}' => "RIGHT-TO-LEFT OVERRIDE",
            '\u{202d}' => "LEFT-TO-RIGHT OVERRIDE",
            '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
            _ if is_bidi_control(c) => "a bidirectional control",
            _ if is_invisible(c) => "an invisible character",
            '\u{2024}' | '\u{ff0e}' | '\u{3002}' | '\u{fe52}' | '\u{2e33}' | '\u{0701}'
            | '\u{a4f8}' => "a look-alike dot",
            '\u{ff01}'..='\u{ff5e}' => "fullwidth letters",
            _ => continue,
        };
        let described = format!("{what} (U+{:04X})", c as u32);
        if !out.contains(&described) {
            out.push(described);
        }
    }
    out
}

/// Roughly how a right-to-left override displays: the run after it reversed.
fn displayed_as(name: &str) -> String {
    match name.find(['\u{202e}', '\u{2067}']) {
        Some(i) => {
            let (before, after) = name.split_at(i);
            let reversed: String = after
                .chars()
                .skip(1)
                .filter(|c| !is_invisible(*c))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{before}{reversed}")
        }
        None => name.chars().filter(|c| !is_invisible(*c)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlo_display() {
        assert_eq!(displayed_as("invoice\u{202e}fdp.exe"), "invoiceexe.pdf");
        assert_eq!(
            deceptive_chars("a\u{2024}pdf"),
            vec!["a look-alike dot (U+2024)".to_string()]
        );
        assert!(deceptive_chars("보고서.pdf").is_empty());
    }

    #[test]
    fn padding() {
        assert!(padded_before_extension("scan.pdf          .exe"));
        assert!(!padded_before_extension("scan.pdf.exe"));
    }
}

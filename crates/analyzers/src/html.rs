//! HTML attachments. A saved web page has no reason to ask for a password or to build a file
//! in the browser, so these are what phishing and HTML smuggling look like: a form with a
//! password field that posts (or a script that sends) to a server, a page titled like a
//! sign-in page of a brand, a script that turns a base64 blob into a download (the blob is
//! decoded and walked), a redirect away on open. Inline scripts are analysed as scripts.

use std::sync::OnceLock;

use base64::Engine as _;
use mailmoat_core::Location;
use regex::Regex;

use crate::filetype::Lang;
use crate::walk::Walk;

struct Patterns {
    password: Regex,
    form_action: Regex,
    sends: Regex,
    smuggling_build: Regex,
    smuggling_save: Regex,
    blob: Regex,
    download_name: Regex,
    meta_refresh: Regex,
    location: Regex,
    title: Regex,
    sign_in: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("html pattern compiles");
        Patterns {
            password: re(r#"(?i)<input\b[^>]*\btype\s*=\s*["']?password"#),
            form_action: re(r#"(?i)<form\b[^>]*\baction\s*=\s*["']?((?:https?:)?//[^"'\s>]+|[^"'\s>]*\.php[^"'\s>]*)"#),
            sends: re(r#"(?i)\bfetch\s*\(|XMLHttpRequest|\$\.(?:ajax|post)\s*\(|api\.telegram\.org|navigator\.sendBeacon|\.submit\s*\(\s*\)"#),
            smuggling_build: re(r#"(?i)\batob\s*\(|new\s+Blob\s*\(|Uint8Array|base64,"#),
            smuggling_save: re(r#"(?i)msSaveOrOpenBlob|msSaveBlob|createObjectURL|\.download\s*=|\bdownload\s*=\s*["']|saveAs\s*\("#),
            blob: re(r#"["'`]([A-Za-z0-9+/]{400,}={0,2})["'`]|base64,([A-Za-z0-9+/]{400,}={0,2})"#),
            download_name: re(r#"(?i)(?:\.download\s*=\s*|\bdownload\s*=\s*|msSaveOrOpenBlob\s*\([^,]+,\s*|msSaveBlob\s*\([^,]+,\s*)["']([^"']{1,120})["']"#),
            meta_refresh: re(r#"(?i)<meta\b[^>]*http-equiv\s*=\s*["']?refresh[^>]*url\s*=\s*'?((?:https?:)?//[^"'\s>]+)"#),
            location: re(r#"(?i)(?:window\.|document\.|top\.|self\.)?location(?:\.href)?\s*=\s*["']((?:https?:)?//[^"']+)["']|location\.(?:replace|assign)\s*\(\s*["']((?:https?:)?//[^"']+)["']"#),
            title: re(r"(?is)<title[^>]*>(.{0,200}?)</title>"),
            sign_in: re(r"(?i)sign[ -]?in|log[ -]?in|logon|verify|verification|account|password|mailbox|webmail|outlook|office\s*365|microsoft|onedrive|sharepoint|adobe|docusign|dropbox|paypal|apple|amazon|dhl|fedex|naver|daum|kakao|로그인|인증|계정|비밀번호|네이버|다음|카카오"),
        }
    })
}

/// The text of `<script>` elements and of `on…=` handlers.
fn script_blocks(text: &str) -> Vec<&str> {
    static SCRIPT: OnceLock<Regex> = OnceLock::new();
    let re = SCRIPT.get_or_init(|| {
        Regex::new(r#"(?is)<script\b[^>]*>(.*?)</script>|\son[a-z]+\s*=\s*"([^"]{1,4000})""#)
            .expect("pattern")
    });
    re.captures_iter(text)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)).map(|m| m.as_str()))
        .collect()
}

fn host(url: &str) -> &str {
    url.trim_start_matches("https:")
        .trim_start_matches("http:")
        .trim_start_matches("//")
        .split(['/', '?', '#', ':'])
        .next()
        .unwrap_or("")
}

impl Walk<'_> {
    pub(crate) fn html(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let text = crate::script::text(&data[..data.len().min(8 << 20)]);
        let p = patterns();
        let has_password = p.password.is_match(&text);
        if has_password {
            let action = p
                .form_action
                .captures(&text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string());
            let sends: Vec<&str> = p
                .sends
                .find_iter(&text)
                .map(|m| m.as_str())
                .take(3)
                .collect();
            let how = match (&action, sends.is_empty()) {
                (Some(a), _) => format!(
                    "posts it to {}",
                    host(a).chars().take(100).collect::<String>()
                ),
                (None, false) => format!("sends it with {}", sends.join(", ")),
                (None, true) => "collects it".to_string(),
            };
            self.add(
                "HTML_CREDENTIAL_FORM",
                format!("{name} asks for a password and {how}: a page mailed as a file has no reason to"),
                location,
            );
            let title = p
                .title
                .captures(&text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().trim().to_string())
                .unwrap_or_default();
            if let Some(m) = p.sign_in.find(&title) {
                self.add(
                    "HTML_BRAND_LOGIN",
                    format!(
                        "{name} is titled {title:?} ({}): a sign-in page look-alike",
                        m.as_str()
                    ),
                    location,
                );
            }
        }
        let builds = p.smuggling_build.is_match(&text);
        let saves: Vec<&str> = p
            .smuggling_save
            .find_iter(&text)
            .map(|m| m.as_str())
            .take(3)
            .collect();
        if builds && !saves.is_empty() {
            let file = p
                .download_name
                .captures(&text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string());
            self.add(
                "HTML_SMUGGLING",
                format!(
                    "{name} builds a file in the browser and saves it ({}){}",
                    saves.join(", "),
                    file.as_ref()
                        .map(|f| format!(" as {f:?}"))
                        .unwrap_or_default()
                ),
                location,
            );
            // The payload: the longest base64 literal, decoded and walked.
            let blob = p
                .blob
                .captures_iter(&text)
                .filter_map(|c| c.get(1).or_else(|| c.get(2)).map(|m| m.as_str()))
                .max_by_key(|b| b.len());
            if let Some(blob) = blob {
                let bare = blob.trim_end_matches('=');
                let padded = format!("{bare}{}", "=".repeat((4 - bare.len() % 4) % 4));
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(padded) {
                    let payload = file.unwrap_or_else(|| "smuggled file".to_string());
                    self.embedded(location, &payload, &bytes, depth);
                }
            }
        }
        let redirect = p
            .meta_refresh
            .captures(&text)
            .and_then(|c| c.get(1))
            .or_else(|| {
                p.location
                    .captures(&text)
                    .and_then(|c| c.get(1).or_else(|| c.get(2)))
            })
            .map(|m| m.as_str().to_string());
        if let Some(url) = redirect {
            self.add(
                "HTML_REDIRECT",
                format!(
                    "{name} sends the reader to {} when opened",
                    url.chars().take(200).collect::<String>()
                ),
                location,
            );
        }
        // Scripts only: a page's inline images are long base64 too, and not obfuscation.
        let scripts: String = script_blocks(&text).join("\n");
        if !scripts.trim().is_empty() {
            self.script_text(
                Lang::Hta,
                &location.child("scripts"),
                name,
                &scripts,
                depth + 1,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host("https://a.example/x"), "a.example");
        assert_eq!(host("//b.example:8080"), "b.example");
    }
}

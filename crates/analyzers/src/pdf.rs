//! PDF, read the way pdfid and peepdf read malicious PDFs: by its tokens, not by rendering, so
//! that broken cross-reference tables (on purpose or not) hide nothing. Names are decoded
//! (`/J#61vaScript` is `/JavaScript`), Flate and ASCIIHex streams are decoded within limits,
//! object streams included, and searched again. JavaScript is analysed as a script; embedded
//! files are walked; URIs are listed for the report.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::OnceLock;

use mailmoat_core::Location;
use regex::bytes::Regex;

use crate::filetype::Lang;
use crate::walk::Walk;

/// Decoded stream bytes per document at most, all streams together.
const MAX_DECODED: usize = 64 << 20;
/// Streams read per file at most: each looks back up to 2 KB for its object header, so a file
/// of nothing but tiny streams is bounded too.
const MAX_STREAMS: usize = 20_000;

#[derive(Debug, Default)]
pub struct PdfFacts {
    /// Keywords of interest (decoded names) → how often.
    pub names: HashMap<String, usize>,
    /// Keywords written with #xx escapes.
    pub obfuscated: BTreeSet<String>,
    pub javascript: Vec<String>,
    pub uris: BTreeSet<String>,
    pub embedded: Vec<(String, Vec<u8>)>,
    pub streams: usize,
    pub undecoded: usize,
    /// Each stream its filter decompressed, with its object number: kept only when asked
    /// (`analyse_keeping_streams`), for the signature engines.
    pub decoded_streams: Vec<(Option<u32>, Vec<u8>)>,
}

const KEYWORDS: &[&str] = &[
    "JS",
    "JavaScript",
    "OpenAction",
    "AA",
    "Launch",
    "EmbeddedFile",
    "EmbeddedFiles",
    "SubmitForm",
    "ImportData",
    "URI",
    "Encrypt",
    "RichMedia",
    "XFA",
    "GoToE",
    "GoToR",
];

struct Patterns {
    name: Regex,
    stream_start: Regex,
    js_literal: Regex,
    js_ref: Regex,
    uri: Regex,
    obj: Regex,
    filespec_name: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("pdf pattern compiles");
        Patterns {
            name: re(r"/([A-Za-z0-9#]{2,40})"),
            stream_start: re(r">>\s*stream\r?\n"),
            js_literal: re(r"/JS\s*\("),
            js_ref: re(r"/JS\s+(\d+)\s+(\d+)\s+R"),
            uri: re(r"(?s)/URI\s*\(([^)]{1,2000})\)"),
            obj: re(r"(\d+)\s+(\d+)\s+obj\b"),
            filespec_name: re(r"/(?:UF|F)\s*\(([^)]{1,255})\)"),
        }
    })
}

fn decode_name(raw: &[u8]) -> (String, bool) {
    let mut out = Vec::with_capacity(raw.len());
    let mut escaped = false;
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#' && i + 2 < raw.len() + 1 {
            if let Some(h) = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(h);
                escaped = true;
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    (String::from_utf8_lossy(&out).into_owned(), escaped)
}

/// A PDF literal string's escapes undone (enough for JavaScript and URIs).
fn literal(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            i += 1;
            match raw[i] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0'..=b'7' => {
                    let mut v = 0u32;
                    let mut n = 0;
                    while n < 3 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                        v = v * 8 + u32::from(raw[i] - b'0');
                        i += 1;
                        n += 1;
                    }
                    out.push(v as u8);
                    continue;
                }
                b'\r' | b'\n' => {}
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A literal string's body up to its closing parenthesis (nested ones balance, escaped ones
/// do not count), at most 1 MiB.
fn balanced(rest: &[u8]) -> Option<&[u8]> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < rest.len().min(1 << 20) {
        match rest[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(&rest[..i]),
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn scan_names(bytes: &[u8], facts: &mut PdfFacts) {
    for c in patterns().name.captures_iter(bytes) {
        // A name ends at a delimiter or white space; in binary data "/JS" is followed by
        // anything.
        let end = c.get(0).map_or(0, |m| m.end());
        if bytes
            .get(end)
            .is_some_and(|b| !(b.is_ascii_whitespace() || b"/()<>[]{}%".contains(b)))
        {
            continue;
        }
        let raw = &c[1];
        let (name, escaped) = decode_name(raw);
        if let Some(k) = KEYWORDS.iter().find(|k| **k == name) {
            *facts.names.entry(k.to_string()).or_default() += 1;
            if escaped {
                facts
                    .obfuscated
                    .insert(format!("/{}", String::from_utf8_lossy(raw)));
            }
        }
    }
    for c in patterns().uri.captures_iter(bytes) {
        if facts.uris.len() < 100 {
            facts.uris.insert(literal(&c[1]));
        }
    }
    for m in patterns().js_literal.find_iter(bytes) {
        if facts.javascript.len() >= 32 {
            break;
        }
        if let Some(raw) = balanced(&bytes[m.end()..]) {
            facts.javascript.push(literal(raw));
        }
    }
}

#[cfg(test)]
pub fn analyse(data: &[u8]) -> PdfFacts {
    analyse_keeping_streams(data, false)
}

/// `analyse`, keeping the decompressed streams when `keep_streams`.
pub fn analyse_keeping_streams(data: &[u8], keep_streams: bool) -> PdfFacts {
    let p = patterns();
    let mut facts = PdfFacts::default();
    // Names are searched in the file without its stream bodies (compressed bytes spell "/JS"
    // by chance), and in each decoded stream.
    let mut skeleton = Vec::with_capacity(data.len().min(16 << 20));
    let mut copied = 0;
    // Decode streams: the dictionary before `stream` says how.
    let mut decoded_total = 0usize;
    let mut by_object: HashMap<u32, Vec<u8>> = HashMap::new();
    for whole in p.stream_start.find_iter(data) {
        if facts.streams >= MAX_STREAMS {
            facts.undecoded += 1;
            continue;
        }
        facts.streams += 1;
        // The stream's dictionary: from the first `<<` after its object's "N G obj" header
        // (nested dictionaries included) to the `>>` before `stream`. Searching forwards from
        // any `<<` instead would take in every small object before it.
        let window_start = whole.start().saturating_sub(2000);
        let window = &data[window_start..whole.start()];
        let header = p.obj.captures_iter(window).last();
        let object: Option<u32> = header
            .as_ref()
            .and_then(|h| std::str::from_utf8(&h[1]).ok()?.parse().ok());
        let after_header = header.map_or(0, |h| h.get(0).expect("match").end());
        let dict = memchr::memmem::find(&window[after_header..], b"<<")
            .map_or(&window[after_header..], |i| &window[after_header + i + 2..]);
        let start = whole.end();
        let end =
            memchr::memmem::find(&data[start..], b"endstream").map_or(data.len(), |n| start + n);
        let raw = &data[start..end];
        if start >= copied {
            skeleton.extend_from_slice(&data[copied..start]);
            copied = end;
        }
        let (dict_text, _) = decode_name(dict);
        let filtered = dict_text.contains("Decode")
            || dict_text.contains("/Fl ")
            || dict_text.contains("/Fl/");
        let decoded = if dict_text.contains("FlateDecode")
            || dict_text.contains("/Fl ")
            || dict_text.contains("/Fl/")
        {
            if decoded_total >= MAX_DECODED {
                facts.undecoded += 1;
                continue;
            }
            let mut out = Vec::new();
            let limit = (MAX_DECODED - decoded_total).min(16 << 20) as u64;
            let _ = flate2::read::ZlibDecoder::new(raw)
                .take(limit)
                .read_to_end(&mut out);
            out
        } else if dict_text.contains("ASCIIHexDecode") {
            raw.iter()
                .filter(|b| b.is_ascii_hexdigit())
                .copied()
                .collect::<Vec<u8>>()
                .chunks_exact(2)
                .filter_map(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                .collect()
        } else if dict_text.contains("Decode") {
            facts.undecoded += 1;
            continue;
        } else {
            raw.to_vec()
        };
        decoded_total += decoded.len();
        // Fonts and images decode to binary; object streams and scripts to text.
        let head = &decoded[..decoded.len().min(4096)];
        let text_like = head
            .iter()
            .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
            .count()
            * 10
            >= head.len() * 9;
        if !decoded.is_empty()
            && (filtered || text_like)
            && (text_like || dict_text.contains("/ObjStm"))
        {
            scan_names(&decoded, &mut facts);
        }
        if keep_streams && filtered && !decoded.is_empty() {
            facts.decoded_streams.push((object, decoded.clone()));
        }
        if let Some(n) = object {
            by_object.insert(n, decoded.clone());
        }
        if dict_text.contains("/EmbeddedFile") && facts.embedded.len() < 16 {
            facts.embedded.push((String::new(), decoded));
        }
    }
    skeleton.extend_from_slice(&data[copied.min(data.len())..]);
    scan_names(&skeleton, &mut facts);
    // /JS 12 0 R: the script lives in object 12's stream.
    let mut refs: Vec<u32> = p
        .js_ref
        .captures_iter(data)
        .filter_map(|c| std::str::from_utf8(&c[1]).ok()?.parse().ok())
        .collect();
    refs.dedup();
    for n in refs {
        if let Some(bytes) = by_object.get(&n) {
            facts
                .javascript
                .push(String::from_utf8_lossy(bytes).into_owned());
        }
    }
    // Embedded files' names: the /UF or /F of each file specification that has an /EF, in
    // order of appearance.
    let mut names: Vec<String> = Vec::new();
    for ef in memchr::memmem::find_iter(data, b"/EF") {
        let dict_start = data[..ef]
            .windows(2)
            .rposition(|w| w == b"<<")
            .unwrap_or(ef.saturating_sub(300));
        let dict = &data[dict_start..ef];
        let named = p
            .filespec_name
            .captures_iter(dict)
            .map(|c| literal(&c[1]))
            .last();
        if let Some(n) = named {
            names.push(n);
        }
    }
    for (i, (name, _)) in facts.embedded.iter_mut().enumerate() {
        *name = names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("embedded file {}", i + 1));
    }
    facts
}

impl Walk<'_> {
    pub(crate) fn pdf(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let keep_streams = self.engines.as_ref().is_some_and(|e| e.reads_streams());
        let facts = analyse_keeping_streams(data, keep_streams);
        // The scripts and the other streams, decompressed, are what signature rules for PDF
        // exploits are written for (the file's own bytes hold them compressed).
        for (i, script) in facts.javascript.iter().enumerate() {
            let at = location.child(format!("JavaScript {}", i + 1));
            self.signature_engines(&at, name, script.as_bytes(), None, depth);
        }
        for (object, stream) in &facts.decoded_streams {
            if facts
                .javascript
                .iter()
                .any(|js| js.as_bytes() == stream.as_slice())
            {
                continue;
            }
            let at = location.child(match object {
                Some(n) => format!("stream {n}"),
                None => "stream".to_string(),
            });
            self.signature_engines(&at, name, stream, None, depth);
        }
        let has = |k: &str| facts.names.get(k).copied().unwrap_or(0) > 0;
        if has("Encrypt") {
            self.add(
                "PDF_ENCRYPTED",
                format!("{name} is encrypted: its streams cannot be read"),
                location,
            );
        }
        let javascript = has("JS") || has("JavaScript");
        if javascript {
            self.add(
                "PDF_JAVASCRIPT",
                format!(
                    "{name} contains JavaScript ({} script(s) read)",
                    facts.javascript.len()
                ),
                &location.child("JavaScript"),
            );
        }
        let auto = has("OpenAction") || has("AA");
        if auto {
            self.add(
                "PDF_AUTO_ACTION",
                format!("{name} acts when opened or viewed (/OpenAction or /AA)"),
                location,
            );
        }
        if auto && javascript {
            self.add(
                "PDF_AUTO_JAVASCRIPT",
                format!("{name} runs JavaScript when it is opened"),
                &location.child("JavaScript"),
            );
        }
        if has("Launch") {
            self.add(
                "PDF_LAUNCH",
                format!("{name} has a /Launch action: it asks the reader to run a program"),
                location,
            );
        }
        if has("SubmitForm") || has("ImportData") {
            self.add(
                "PDF_SUBMIT_FORM",
                format!("{name} submits form data to a server (/SubmitForm)"),
                location,
            );
        }
        if !facts.obfuscated.is_empty() {
            self.add(
                "PDF_OBFUSCATED_NAMES",
                format!(
                    "{name} spells keywords with #xx escapes to hide them: {}",
                    facts
                        .obfuscated
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                location,
            );
        }
        if !facts.uris.is_empty() {
            let list: Vec<&str> = facts.uris.iter().map(String::as_str).take(20).collect();
            self.add(
                "DOCUMENT_URLS",
                format!("{name} links to {}", list.join(", ")),
                location,
            );
        }
        if facts.undecoded > 0 && javascript {
            self.add(
                "ANALYZER_LIMIT",
                format!(
                    "{name}: {} stream(s) in filters not decoded here",
                    facts.undecoded
                ),
                location,
            );
        }
        for (i, js) in facts.javascript.iter().enumerate() {
            let at = location.child(format!("JavaScript {}", i + 1));
            self.script_text(Lang::JavaScript, &at, name, js, depth + 1);
        }
        for (file, bytes) in facts.embedded {
            let at = location.child(file.clone());
            self.add(
                "PDF_EMBEDDED_FILE",
                format!("{name} carries the file {file:?} ({} bytes)", bytes.len()),
                &at,
            );
            self.embedded(location, &file, &bytes, depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_nothing_but_tiny_streams_is_read_up_to_the_cap() {
        let mut pdf = b"%PDF-1.7\n".to_vec();
        for i in 0..(MAX_STREAMS + 500) {
            pdf.extend_from_slice(
                format!("{i} 0 obj <<>>stream\nx\nendstream endobj\n").as_bytes(),
            );
        }
        let facts = analyse_keeping_streams(&pdf, true);
        assert_eq!(facts.streams, MAX_STREAMS);
        assert_eq!(facts.undecoded, 500);
    }

    #[test]
    fn names_are_decoded_and_streams_searched() {
        let mut js = Vec::new();
        {
            use std::io::Write;
            let mut z = flate2::write::ZlibEncoder::new(&mut js, flate2::Compression::default());
            z.write_all(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>")
                .unwrap();
            z.finish().unwrap();
        }
        let mut pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Open#41ction 2 0 R >> endobj\n2 0 obj << /Length 10 /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&js);
        pdf.extend_from_slice(b"\nendstream endobj\n%%EOF\n");
        let facts = analyse(&pdf);
        assert!(facts.names.contains_key("OpenAction"));
        assert!(facts.names.contains_key("JavaScript"));
        assert!(facts.obfuscated.contains("/Open#41ction"));
        assert_eq!(facts.javascript, vec!["app.alert(1)".to_string()]);
    }
}

//! MIME structure: how the message is built, independent of what it says. HTML with no text
//! twin, text and HTML twins that say different things, hidden HTML text, nesting deeper than
//! any mail program produces, and whatever the parser found damaged.

use std::collections::HashSet;

use mailmoat_core::{Category, Findings, Location, SymbolDef};
use mailmoat_mime::{MessageView, ProblemKind, TextKind};
use serde::Deserialize;

use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("MIME_HTML_ONLY", "mime", Category::Spam, 0.0, "The message has an HTML body and no plain-text alternative. Weight 0 since session 24: it fires on 7.4 % of the newer ham in the time split (issue 22's rule: more than 0.5 % of ham in a held-out test, and its weight is learned or it goes). Its weight is learned by the classifier, through its MIME-type features (`ct:`); it still shows in reports and serves rules and the learned fusion."),
    SymbolDef::new("MIME_TEXT_HTML_MISMATCH", "mime", Category::Spam, 1.0, "The plain-text and HTML versions of a multipart/alternative say different things (filters read one, people the other)."),
    SymbolDef::new("MIME_MALFORMED", "mime", Category::Spam, 1.0, "Damaged structure: a header line that is not a field, a multipart without or never closing its boundary, a body that does not decode, or nothing parseable at all. The rest of the message is still analysed."),
    SymbolDef::new("MIME_BAD_CHARSET", "mime", Category::Spam, 0.5, "A part declares a charset nobody knows; its text was read with replacement characters."),
    SymbolDef::new("MIME_EXCESSIVE_NESTING", "mime", Category::Spam, 2.0, "MIME parts nested deeper than any ordinary mail program produces (a way to hide content from scanners)."),
    SymbolDef::new("MIME_PARSE_LIMIT", "mime", Category::Spam, 6.0, "The message's structure went beyond the parser's bounds (MIME parts or nested messages, header fields, line length): the rest was kept but not analysed, so it is at least tagged."),
    SymbolDef::new("MIME_LIMIT_REACHED", "mime", Category::Spam, 0.5, "Part of the message was beyond a size or count limit and was not analysed (too many URLs, HTML too large)."),
    SymbolDef::new("HTML_HIDDEN_TEXT", "mime", Category::Spam, 2.0, "HTML carries text a reader cannot see (display:none, zero-size font, text coloured like its background); strength grows with its share of the text."),
];

/// `[detectors.mime_structure]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Nesting depth (1 = single part) above which MIME_EXCESSIVE_NESTING fires.
    pub max_normal_depth: usize,
    /// Text and HTML twins whose word sets overlap less than this (Jaccard) disagree.
    pub mismatch_similarity: f64,
    /// Twins with fewer distinct words than this are not compared.
    pub mismatch_min_words: usize,
    /// Hidden HTML text shorter than this (non-space characters) is ignored (preheaders).
    pub hidden_min_chars: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            max_normal_depth: 6,
            mismatch_similarity: 0.1,
            mismatch_min_words: 8,
            hidden_min_chars: 40,
        }
    }
}

impl Config {
    pub fn build(&self) -> MimeStructure {
        MimeStructure {
            config: self.clone(),
        }
    }
}

pub struct MimeStructure {
    config: Config,
}

impl Detector for MimeStructure {
    fn name(&self) -> &'static str {
        "mime_structure"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        self.problems(view, findings);
        self.html_only(view, findings);
        self.twins(view, findings);
        self.hidden_text(view, findings);
        if view.max_depth > self.config.max_normal_depth {
            findings.add(
                "MIME_EXCESSIVE_NESTING",
                format!(
                    "nested {} levels deep (normal is at most {})",
                    view.max_depth, self.config.max_normal_depth
                ),
                Location::message(),
            );
        }
    }
}

impl MimeStructure {
    fn problems(&self, view: &MessageView, findings: &mut Findings) {
        for p in &view.problems {
            let symbol = match p.kind {
                ProblemKind::UnknownCharset => "MIME_BAD_CHARSET",
                ProblemKind::TooDeep => "MIME_EXCESSIVE_NESTING",
                ProblemKind::Truncated => "MIME_LIMIT_REACHED",
                ProblemKind::OverLimit => "MIME_PARSE_LIMIT",
                _ => "MIME_MALFORMED",
            };
            findings.add(symbol, p.detail.clone(), p.location.clone());
        }
    }

    fn html_only(&self, view: &MessageView, findings: &mut Findings) {
        let top_level = |loc: &Location| loc.segments().len() <= 1;
        let html = view
            .texts
            .iter()
            .find(|t| t.kind == TextKind::Html && top_level(&t.location));
        let has_plain = view.texts.iter().any(|t| {
            t.kind == TextKind::Plain && top_level(&t.location) && !t.text.trim().is_empty()
        });
        if let (Some(html), false) = (html, has_plain) {
            findings.add(
                "MIME_HTML_ONLY",
                "HTML body without a text/plain alternative",
                html.location.clone(),
            );
        }
    }

    fn twins(&self, view: &MessageView, findings: &mut Findings) {
        let groups: HashSet<usize> = view
            .texts
            .iter()
            .filter_map(|t| t.alternative_group)
            .collect();
        for group in groups {
            let in_group = || {
                view.texts
                    .iter()
                    .filter(move |t| t.alternative_group == Some(group))
            };
            let plain = in_group().find(|t| t.kind == TextKind::Plain);
            let html = in_group().find(|t| t.kind == TextKind::Html);
            let (Some(plain), Some(html)) = (plain, html) else {
                continue;
            };
            let a = words(&plain.text);
            let b = words(&html.text);
            if a.len() < self.config.mismatch_min_words || b.len() < self.config.mismatch_min_words
            {
                continue;
            }
            let shared = a.intersection(&b).count() as f64;
            let similarity = shared / (a.len() + b.len()) as f64 * 2.0;
            if similarity < self.config.mismatch_similarity {
                let strength = 0.5 + 0.5 * (1.0 - similarity / self.config.mismatch_similarity);
                findings.add_with_strength(
                    "MIME_TEXT_HTML_MISMATCH",
                    strength,
                    format!(
                        "text and HTML share {:.0}% of their words",
                        similarity * 100.0
                    ),
                    html.location.clone(),
                );
            }
        }
    }

    fn hidden_text(&self, view: &MessageView, findings: &mut Findings) {
        for t in view.texts.iter().filter(|t| t.kind == TextKind::Html) {
            let hidden = t.hidden_text.chars().filter(|c| !c.is_whitespace()).count();
            if hidden < self.config.hidden_min_chars {
                continue;
            }
            let visible = t.text.chars().filter(|c| !c.is_whitespace()).count();
            let share = hidden as f64 / (hidden + visible) as f64;
            let sample: String = t.hidden_text.chars().take(80).collect();
            findings.add_with_strength(
                "HTML_HIDDEN_TEXT",
                (share * 2.0).clamp(0.2, 1.0),
                format!(
                    "{hidden} hidden characters ({:.0}% of the text): {sample:?}",
                    share * 100.0
                ),
                t.location.clone(),
            );
        }
    }
}

/// Distinct lower-cased words of two or more letters or digits (Hangul included).
fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(|w| w.to_lowercase())
        .collect()
}

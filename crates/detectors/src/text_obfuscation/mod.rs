//! Text written to read right to people and wrong to filters: words that mix Latin with
//! Cyrillic or Greek look-alikes ("Nеw rесоrd" with Cyrillic е, с, о), credential words spelt
//! with confusable letters ("Iog in" with a capital I, "User lD"), and invisible characters
//! inside words. Delivered phishing shows these today; keyword filters and token models miss
//! them because the bytes differ from the word the reader sees.

use mailmoat_core::{Category, Findings, Location, SymbolDef};
use mailmoat_mime::MessageView;
use serde::Deserialize;
use unicode_security::skeleton;

use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("TEXT_MIXED_SCRIPT_WORD", "text", Category::Phishing, 3.0, "Words that mix Latin letters with Cyrillic or Greek look-alikes (\"Nеw rесоrd\" with Cyrillic е, с, о): they read as English and match no filter's word. Strength grows with the number of such words."),
    SymbolDef::new("TEXT_CONFUSABLE_CREDENTIAL", "text", Category::Phishing, 4.0, "A credential or brand word spelt with confusable letters (\"Iog in\" with a capital I, \"User lD\", \"PayPaI\"): written to look like the word to people and not to filters."),
    SymbolDef::new("TEXT_INVISIBLE_FILLER", "text", Category::Spam, 2.0, "Invisible characters (zero-width spaces, joiners, soft hyphens, word joiners) inside words, which split them for filters and not for readers."),
];

/// `[detectors.text_obfuscation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Invisible characters inside words before TEXT_INVISIBLE_FILLER fires (a stray one is a
    /// copy-paste accident; filler comes in numbers).
    pub min_invisible: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            min_invisible: 3,
        }
    }
}

impl Config {
    pub fn build(&self) -> TextObfuscation {
        TextObfuscation {
            config: self.clone(),
            targets: CREDENTIAL_WORDS
                .iter()
                .flat_map(|w| case_forms(w).into_iter().map(move |form| (form, *w)))
                .map(|(form, w)| (skeleton(&form).collect::<String>(), w.to_lowercase()))
                .collect(),
            ascii_skeletons: std::array::from_fn(|c| skeleton(&char::from(c as u8).to_string()).collect()),
        }
    }
}

/// Words phishing wants read exactly, one or two words long, as they are usually written;
/// compared by UTS #39 skeleton in each of their case forms (skeletons keep case: "I" looks
/// like "l", "ID" like "lD").
const CREDENTIAL_WORDS: &[&str] = &[
    "login",
    "log in",
    "sign in",
    "signin",
    "password",
    "user id",
    "userid",
    "account",
    "verify",
    "verification",
    "confirm",
    "update",
    "security",
    "suspended",
    "unlock",
    "PayPal",
    "Apple",
    "iCloud",
    "Microsoft",
    "Office",
    "Outlook",
    "Amazon",
    "Netflix",
    "Google",
    "Gmail",
    "bank",
    "wallet",
    "invoice",
];

/// The ways a word or phrase is written: as given, lower case, upper case, and each word
/// capitalised ("User ID", "Log In", "LOG IN").
fn case_forms(phrase: &str) -> Vec<String> {
    let capitalised = |w: &str| -> String {
        let mut c = w.chars();
        c.next()
            .map(|f| {
                f.to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut forms: Vec<String> = vec![String::new()];
    for word in phrase.split(' ') {
        let options = [
            word.to_string(),
            word.to_lowercase(),
            word.to_uppercase(),
            capitalised(word),
        ];
        forms = forms
            .iter()
            .flat_map(|prefix| {
                options.iter().map(move |o| {
                    if prefix.is_empty() {
                        o.clone()
                    } else {
                        format!("{prefix} {o}")
                    }
                })
            })
            .collect();
    }
    forms.sort();
    forms.dedup();
    forms
}

pub struct TextObfuscation {
    config: Config,
    /// (skeleton of one case form, the word in lower case) of each credential word.
    targets: Vec<(String, String)>,
    /// The skeleton of each ASCII character. ASCII characters are starters that NFD leaves
    /// alone and none is default-ignorable, so an ASCII word's skeleton is theirs end to end:
    /// most words skip the Unicode tables (they were a fifth of the whole scan).
    ascii_skeletons: [String; 128],
}

/// Zero-width and invisible formatting characters used as filler.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || ('\u{00C0}'..='\u{024F}').contains(&c) && c.is_alphabetic()
}

fn is_cyrillic_or_greek(c: char) -> bool {
    ('\u{0370}'..='\u{03FF}').contains(&c) || ('\u{0400}'..='\u{04FF}').contains(&c)
}

/// Letter runs of a text (invisible characters are dropped, so a split word is one word).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || is_invisible(c)))
        .map(|w| w.chars().filter(|c| !is_invisible(*c)).collect::<String>())
        .filter(|w| !w.is_empty())
}

/// A word of at least two Latin letters with a Cyrillic or Greek letter among them.
fn is_mixed_script(word: &str) -> bool {
    let latin = word.chars().filter(|c| is_latin_letter(*c)).count();
    latin >= 2 && word.chars().any(is_cyrillic_or_greek)
}

/// Invisible characters between two letters.
fn invisible_inside_words(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut count = 0;
    for (i, &c) in chars.iter().enumerate() {
        if !is_invisible(c) {
            continue;
        }
        let before = chars[..i].iter().rev().find(|c| !is_invisible(**c));
        let after = chars[i + 1..].iter().find(|c| !is_invisible(**c));
        if before.is_some_and(|c| c.is_alphabetic()) && after.is_some_and(|c| c.is_alphabetic()) {
            count += 1;
        }
    }
    count
}

impl TextObfuscation {
    /// The UTS #39 skeleton of `text`, through the ASCII table where it applies.
    fn skeleton_of(&self, text: &str, out: &mut String) {
        out.clear();
        if text.is_ascii() {
            for b in text.bytes() {
                out.push_str(&self.ascii_skeletons[b as usize]);
            }
        } else {
            out.extend(skeleton(text));
        }
    }

    /// The credential word `word` (or `word` + the next) is made to look like, if any.
    fn confusable(&self, one: &str, two: Option<&str>, skel: &mut String) -> Option<&str> {
        let pair = two.map(|t| format!("{one} {t}"));
        for candidate in std::iter::once(one).chain(pair.as_deref()) {
            self.skeleton_of(candidate, skel);
            for (target_skel, word) in &self.targets {
                // Same look, other letters: not merely another case of the same word.
                if skel == target_skel && candidate.to_lowercase() != *word {
                    return Some(word.as_str());
                }
            }
        }
        None
    }

    fn check(&self, text: &str, location: &Location, findings: &mut Findings) {
        let list: Vec<String> = words(text).take(20_000).collect();
        let mixed: Vec<&String> = list.iter().filter(|w| is_mixed_script(w)).collect();
        if !mixed.is_empty() {
            let shown: Vec<&str> = mixed.iter().take(5).map(|w| w.as_str()).collect();
            findings.add_with_strength(
                "TEXT_MIXED_SCRIPT_WORD",
                (0.5 + 0.25 * mixed.len() as f64).min(1.0),
                format!(
                    "{} word(s) mixing Latin with Cyrillic or Greek letters: {}",
                    mixed.len(),
                    shown.join(", ")
                ),
                location.clone(),
            );
        }
        let mut skel = String::new();
        for (i, word) in list.iter().enumerate() {
            let next = list.get(i + 1).map(String::as_str);
            // Only a word (or pair) with a letter that skeletons change can be a disguise.
            let disguisable = |w: &str| {
                w.chars().any(|c| {
                    matches!(c, 'I' | 'l' | '1' | '|' | 'O' | '0' | 'D') || is_cyrillic_or_greek(c)
                })
            };
            if !disguisable(word) && !next.is_some_and(disguisable) {
                continue;
            }
            if let Some(target) = self.confusable(word, next, &mut skel) {
                findings.add(
                    "TEXT_CONFUSABLE_CREDENTIAL",
                    format!("{word:?} is written to look like {target:?}"),
                    location.clone(),
                );
                break;
            }
        }
        let invisible = invisible_inside_words(text);
        if invisible >= self.config.min_invisible {
            findings.add(
                "TEXT_INVISIBLE_FILLER",
                format!("{invisible} invisible characters inside words"),
                location.clone(),
            );
        }
    }
}

impl Detector for TextObfuscation {
    fn name(&self) -> &'static str {
        "text_obfuscation"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        if let Some(subject) = &view.subject {
            self.check(subject, &Location::new("header Subject"), findings);
        }
        for text in &view.texts {
            self.check(&text.text, &text.location, findings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols_of(text: &str) -> Vec<String> {
        let d = Config::default().build();
        let mut f = Findings::new();
        d.check(text, &Location::message(), &mut f);
        f.iter().map(|e| e.symbol.to_string()).collect()
    }

    #[test]
    fn latin_words_with_cyrillic_letters_are_mixed_script() {
        // The Cyrillic "update" is a disguised credential word as well.
        assert_eq!(
            symbols_of("Nеw rесоrd uрdаtе"),
            ["TEXT_MIXED_SCRIPT_WORD", "TEXT_CONFUSABLE_CREDENTIAL"]
        );
        assert_eq!(symbols_of("Nеw rесоrd"), ["TEXT_MIXED_SCRIPT_WORD"]);
        assert!(symbols_of("New record update").is_empty());
        assert!(
            symbols_of("Привет, как дела? Hello!").is_empty(),
            "separate words"
        );
        assert!(
            symbols_of("Windows에서 PC용 10μm").is_empty(),
            "Hangul and a Greek unit"
        );
    }

    #[test]
    fn the_ascii_table_gives_the_unicode_skeleton() {
        let detector = Config::default().build();
        let mut fast = String::new();
        let mut check = |text: &str| {
            detector.skeleton_of(text, &mut fast);
            assert_eq!(fast, skeleton(text).collect::<String>(), "{text:?}");
        };
        for a in 0..128u8 {
            for b in 0..128u8 {
                check(&format!("{}{}", a as char, b as char));
            }
        }
        for text in ["Iogin", "User lD", "rnicrosoft", "PAYPAL", "l0g 1n", "vv0rd", "Pаypal"] {
            check(text);
        }
    }

    #[test]
    fn credential_words_with_confusable_letters() {
        assert_eq!(
            symbols_of("Please Iog in to continue"),
            ["TEXT_CONFUSABLE_CREDENTIAL"]
        );
        assert_eq!(
            symbols_of("Enter your User lD below"),
            ["TEXT_CONFUSABLE_CREDENTIAL"]
        );
        assert_eq!(
            symbols_of("Your PayPaI account"),
            ["TEXT_CONFUSABLE_CREDENTIAL"]
        );
        for fine in [
            "Please LOG IN to continue",
            "User ID: 42",
            "Log in at PayPal",
            "I log in daily",
            "ID card",
        ] {
            assert!(symbols_of(fine).is_empty(), "{fine}");
        }
    }

    #[test]
    fn invisible_characters_inside_words_are_filler_from_three_on() {
        assert_eq!(
            symbols_of("Ve\u{200B}ri\u{200B}fy your acc\u{200B}ount"),
            ["TEXT_INVISIBLE_FILLER"]
        );
        assert!(symbols_of("one\u{200B} stray").is_empty());
        assert!(symbols_of("\u{FEFF}Hello world, a BOM at the start").is_empty());
        assert!(symbols_of("family 👨\u{200D}👩\u{200D}👧 emoji").is_empty());
    }
}

//! Text written to read right to people and wrong to filters: words that mix Latin with
//! Cyrillic or Greek look-alikes ("Nеw rесоrd" with Cyrillic е, с, о), credential words spelt
//! with confusable letters ("Iog in" with a capital I, "User lD"), and invisible characters
//! inside words. Delivered phishing shows these today; keyword filters and token models miss
//! them because the bytes differ from the word the reader sees.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

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
        }
    }
}

/// The skeletons of the credential words' case forms.
struct Targets {
    /// Skeleton of each case form of each credential word → the word in lower case.
    by_skeleton: HashMap<String, String>,
    /// The longest skeleton, in bytes. An ASCII text's skeleton is at least as long as the text
    /// (each ASCII character's is one character or more), so longer ASCII text is no target.
    longest: usize,
}

fn targets() -> &'static Targets {
    static TARGETS: OnceLock<Targets> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let mut by_skeleton = HashMap::new();
        for w in CREDENTIAL_WORDS {
            for form in case_forms(w) {
                by_skeleton
                    .entry(skeleton(&form).collect())
                    .or_insert_with(|| w.to_lowercase());
            }
        }
        let longest = by_skeleton.keys().map(String::len).max().unwrap_or(0);
        Targets {
            by_skeleton,
            longest,
        }
    })
}

/// The skeleton of each ASCII character. ASCII characters are starters that NFD leaves alone
/// and none is default-ignorable, so an ASCII word's skeleton is theirs end to end: most words
/// skip the Unicode tables (they were a fifth of the whole scan).
fn ascii_skeletons() -> &'static [String; 128] {
    static TABLE: OnceLock<[String; 128]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|c| skeleton(&char::from(c as u8).to_string()).collect())
    })
}

/// The UTS #39 skeleton of `text`, through the ASCII table where it applies.
fn skeleton_of(text: &str, out: &mut String) {
    out.clear();
    push_skeleton(text, out);
}

/// Appends the skeleton of `text` to `out`.
fn push_skeleton(text: &str, out: &mut String) {
    if text.is_ascii() {
        let table = ascii_skeletons();
        for b in text.bytes() {
            out.push_str(&table[b as usize]);
        }
    } else {
        out.extend(skeleton(text));
    }
}

/// The credential word `one` (or `one` + `two`, as one phrase) is made to look like, if any.
fn confusable(one: &str, two: Option<&str>, skel: &mut String) -> Option<&'static str> {
    imitated(one, skel).or_else(|| imitated_phrase(one, two?, skel))
}

/// The credential word or phrase `candidate` is made to look like, if any.
fn imitated(candidate: &str, skel: &mut String) -> Option<&'static str> {
    let targets = targets();
    if candidate.is_ascii() && candidate.len() > targets.longest {
        return None;
    }
    skeleton_of(candidate, skel);
    let word = targets.by_skeleton.get(skel.as_str())?;
    // Same look, other letters: not merely another case of the same word.
    (candidate.to_lowercase() != *word).then_some(word.as_str())
}

/// [`imitated`] for the phrase "`one` `two`". ASCII phrases are not written out unless they
/// are one: their skeleton is the characters' skeletons one after another.
fn imitated_phrase(one: &str, two: &str, skel: &mut String) -> Option<&'static str> {
    if !(one.is_ascii() && two.is_ascii()) {
        return imitated(&format!("{one} {two}"), skel);
    }
    let targets = targets();
    if one.len() + 1 + two.len() > targets.longest {
        return None;
    }
    skeleton_of(one, skel);
    push_skeleton(" ", skel);
    push_skeleton(two, skel);
    let word = targets.by_skeleton.get(skel.as_str())?;
    (format!("{one} {two}").to_lowercase() != *word).then_some(word.as_str())
}

/// Class pairs (`4 × first + second`) that can be a letter swapped for a look-alike: a capital
/// after a small letter ("PayPaI", "lD"), or a digit beside a letter ("0ffice", "Paypa1").
const ODD_PAIR: [bool; 16] = {
    let mut t = [false; 16];
    t[4 + 2] = true;
    t[4 + 3] = true;
    t[8 + 3] = true;
    t[12 + 1] = true;
    t[12 + 2] = true;
    t
};

/// Classes of ASCII bytes for [`undo_confusable_words`]: 0 other, 1 small letter, 2 capital,
/// 3 digit.
static ASCII_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_lowercase() {
            1
        } else if c.is_ascii_uppercase() {
            2
        } else if c.is_ascii_digit() {
            3
        } else {
            0
        };
        b += 1;
    }
    t
};

/// `text` with each credential or brand word spelt in confusable ASCII letters ("Iog in",
/// "User lD", "PayPaI", "0ffice") written as the word it imitates, in lower case; None when
/// there is none, as in almost all text. Only words that may be disguised are looked up: a
/// capital I leading three or more letters ("Iogin", "Iog"), a capital after a small letter,
/// or a digit beside a letter; ordinary words seldom are. The classifier reads text through
/// this, so a disguise gives the words the model knows (TEXT_CONFUSABLE_CREDENTIAL is the
/// evidence of it).
pub fn undo_confusable_words(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let class = |i: usize| bytes.get(i).map_or(0, |&b| ASCII_CLASS[b as usize]);
    let mut out: Option<String> = None;
    // Bytes of `text` before this are in `out` already.
    let mut copied = 0;
    let mut skel = String::new();
    // One pass that only compares neighbouring bytes (no branch per word: most text has no
    // disguise, and a branch at every word boundary was most of the cost); the few places it
    // flags are looked at word by word.
    let mut i = 0;
    let mut previous_class = 0;
    while i < bytes.len() {
        let current = ASCII_CLASS[bytes[i] as usize];
        let odd = ODD_PAIR[(previous_class * 4 + current) as usize];
        let leading_i =
            bytes[i] == b'I' && previous_class == 0 && class(i + 1) == 1 && class(i + 2) != 0;
        previous_class = current;
        if !(odd || leading_i) {
            i += 1;
            continue;
        }
        let word = word_around(bytes, i);
        let found = imitated_at(text, word, copied, &mut skel);
        i = word.1;
        previous_class = 0;
        if let Some((from, to, target)) = found {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..from]);
            o.push_str(target);
            copied = to;
            i = to;
        }
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// The ASCII letter-and-digit run around byte `at` (start, end).
fn word_around(bytes: &[u8], at: usize) -> (usize, usize) {
    let inside = |b: &u8| b.is_ascii_alphanumeric();
    let start = at - bytes[..at].iter().rev().take_while(|b| inside(b)).count();
    let end = at + bytes[at..].iter().take_while(|b| inside(b)).count();
    (start, end)
}

/// The ASCII run after the separators that follow `end`.
fn word_after(bytes: &[u8], end: usize) -> Option<(usize, usize)> {
    let start = end + bytes[end..].iter().take_while(|b| !b.is_ascii_alphanumeric()).count();
    (start < bytes.len()).then(|| word_around(bytes, start))
}

/// The ASCII run before the separators that precede `start`.
fn word_before(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    let separators = bytes[..start]
        .iter()
        .rev()
        .take_while(|b| !b.is_ascii_alphanumeric())
        .count();
    let end = start - separators;
    (end > 0).then(|| word_around(bytes, end - 1))
}

/// The credential word a suspect word imitates, alone ("Iogin", "PayPaI") or as a phrase with
/// the word before or after it ("User lD", "Iog in"): the bytes it spans and the word. Text
/// longer than the longest credential word is not looked up ([`imitated`]). Nothing before
/// `from` is looked at again.
fn imitated_at(
    text: &str,
    (start, end): (usize, usize),
    from: usize,
    skel: &mut String,
) -> Option<(usize, usize, &'static str)> {
    let bytes = text.as_bytes();
    if let Some(target) = imitated(&text[start..end], skel) {
        return Some((start, end, target));
    }
    if let Some((a, b)) = word_before(bytes, start).filter(|w| w.0 >= from) {
        if let Some(target) = imitated_phrase(&text[a..b], &text[start..end], skel) {
            return Some((a, end, target));
        }
    }
    let (c, d) = word_after(bytes, end)?;
    let target = imitated_phrase(&text[start..end], &text[c..d], skel)?;
    Some((start, d, target))
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

/// Letter runs of a text (invisible characters are dropped, so a split word is one word). Only
/// a word that had invisible characters is copied.
fn words(text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || is_invisible(c)))
        .map(|w| {
            if w.chars().any(is_invisible) {
                Cow::Owned(w.chars().filter(|c| !is_invisible(*c)).collect())
            } else {
                Cow::Borrowed(w)
            }
        })
        .filter(|w| !w.is_empty())
}

/// A word of at least two Latin letters with a Cyrillic or Greek letter among them.
fn is_mixed_script(word: &str) -> bool {
    let latin = word.chars().filter(|c| is_latin_letter(*c)).count();
    latin >= 2 && word.chars().any(is_cyrillic_or_greek)
}

/// Invisible characters between two letters (the nearest visible character on each side is a
/// letter). One pass: a run of invisible characters is counted when the character after it
/// arrives. Looking both ways from each invisible character instead took a minute for a
/// message of 300,000 zero-width spaces (quadratic in the run).
fn invisible_inside_words(text: &str) -> usize {
    if text.is_ascii() {
        return 0;
    }
    let mut count = 0;
    // Invisible characters since the last visible one, and whether that one was a letter.
    let mut run = 0;
    let mut after_letter = false;
    for c in text.chars() {
        if is_invisible(c) {
            run += 1;
            continue;
        }
        if after_letter && c.is_alphabetic() {
            count += run;
        }
        run = 0;
        after_letter = c.is_alphabetic();
    }
    count
}

impl TextObfuscation {
    fn check(&self, text: &str, location: &Location, findings: &mut Findings) {
        let list: Vec<Cow<str>> = words(text).take(20_000).collect();
        // A mixed word needs a Cyrillic or Greek letter: none in ASCII text.
        let mixed: Vec<&str> = if text.is_ascii() {
            Vec::new()
        } else {
            list.iter()
                .map(|w| w.as_ref())
                .filter(|w| is_mixed_script(w))
                .collect()
        };
        if !mixed.is_empty() {
            let shown: Vec<&str> = mixed.iter().take(5).copied().collect();
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
            let next = list.get(i + 1).map(|w| w.as_ref());
            // Only a word (or pair) with a letter that skeletons change can be a disguise.
            let disguisable = |w: &str| {
                w.chars().any(|c| {
                    matches!(c, 'I' | 'l' | '1' | '|' | 'O' | '0' | 'D') || is_cyrillic_or_greek(c)
                })
            };
            if !disguisable(word) && !next.is_some_and(disguisable) {
                continue;
            }
            if let Some(target) = confusable(word, next, &mut skel) {
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
        let mut fast = String::new();
        let mut check = |text: &str| {
            skeleton_of(text, &mut fast);
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
    fn disguised_credential_words_are_read_as_the_words_they_imitate() {
        for (disguised, plain) in [
            ("Please Iog in to continue", "Please log in to continue"),
            ("Enter your User lD below", "Enter your user id below"),
            ("Your PayPaI account", "Your paypal account"),
            ("Sign in to 0ffice now: Iogin", "Sign in to office now: login"),
            ("Iog-in here", "log in here"),
        ] {
            assert_eq!(
                undo_confusable_words(disguised).as_deref(),
                Some(plain),
                "{disguised}"
            );
        }
        for fine in [
            "Please LOG IN to continue",
            "User ID: 42",
            "Log in at PayPal on your iPhone",
            "I log in daily. It is 2nd in line.",
            "ID card",
            "",
        ] {
            assert_eq!(undo_confusable_words(fine), None, "{fine}");
        }
        // Words next to multi-byte characters are cut at character boundaries.
        assert_eq!(
            undo_confusable_words("ÄIogin—Iog ín ✓PayPaI✓").as_deref(),
            Some("Älogin—Iog ín ✓paypal✓")
        );
    }

    /// The one-pass count against its definition, looking both ways from each invisible
    /// character, on texts built from letters, digits, spaces, invisibles and a multi-byte letter.
    #[test]
    fn invisible_characters_are_counted_as_their_definition_says() {
        fn by_definition(text: &str) -> usize {
            let chars: Vec<char> = text.chars().collect();
            (0..chars.len())
                .filter(|&i| is_invisible(chars[i]))
                .filter(|&i| {
                    let before = chars[..i].iter().rev().find(|c| !is_invisible(**c));
                    let after = chars[i + 1..].iter().find(|c| !is_invisible(**c));
                    before.is_some_and(|c| c.is_alphabetic())
                        && after.is_some_and(|c| c.is_alphabetic())
                })
                .count()
        }
        let alphabet = ['a', '7', ' ', '\u{200B}', '\u{00AD}', 'д', '.'];
        // Every text of up to five characters over the alphabet.
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            for t in &longer {
                assert_eq!(invisible_inside_words(t), by_definition(t), "{t:?}");
            }
            texts = longer;
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

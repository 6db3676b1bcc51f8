//! Latin letters, digits and CJK characters written in place of the Hangul letters they look
//! like, inside words spelled with loose jamo: "ㅋr지노" (r for ㅏ) reads "카지노", "ㅂr카라"
//! reads "바카라", "E0ㅌ0"… Korean spam uses them so that no dictionary word appears; a
//! reader sees the word at once. Run before NFKC, which then composes the jamo into syllables.
//!
//! Only beside a loose jamo and never inside a Latin word or number: a vowel look-alike must
//! follow a consonant jamo, a consonant look-alike must precede a vowel jamo, and neither may
//! touch an ASCII letter or digit on its other side. Ordinary text, and mail that merely laughs
//! ("ㅋㅋ lol"), is left as it came.

use std::borrow::Cow;

/// Compatibility consonant jamo (ㄱ–ㅎ).
fn is_consonant_jamo(c: char) -> bool {
    ('\u{3131}'..='\u{314E}').contains(&c)
}

/// Compatibility vowel jamo (ㅏ–ㅣ).
fn is_vowel_jamo(c: char) -> bool {
    ('\u{314F}'..='\u{3163}').contains(&c)
}

/// The vowel a character imitates in the vowel's place.
fn vowel_look_alike(c: char) -> Option<char> {
    Some(match c {
        'r' => 'ㅏ',
        'l' | 'I' | '1' | '|' | 'ǀ' => 'ㅣ',
        'H' => 'ㅐ',
        '⊥' => 'ㅗ',
        'T' => 'ㅜ',
        '_' | '一' => 'ㅡ',
        _ => return None,
    })
}

/// The consonant a character imitates in the consonant's place.
fn consonant_look_alike(c: char) -> Option<char> {
    Some(match c {
        'E' => 'ㅌ',
        '7' => 'ㄱ',
        '0' | 'o' | 'O' => 'ㅇ',
        'L' => 'ㄴ',
        '2' => 'ㄹ',
        '人' => 'ㅅ',
        '口' => 'ㅁ',
        _ => return None,
    })
}

fn is_ascii_word(c: Option<&char>) -> bool {
    c.is_some_and(char::is_ascii_alphanumeric)
}

/// The text with look-alikes beside loose jamo read as the jamo they imitate (see the module
/// documentation). Text without loose jamo is returned as it came.
pub fn undo_jamo_look_alikes(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| is_consonant_jamo(c) || is_vowel_jamo(c))
    {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1);
        let previous_written = i.checked_sub(1).map(|p| &chars[p]);
        // A vowel in the vowel's place: after a consonant jamo (as read so far).
        if let Some(v) = vowel_look_alike(c) {
            if out.last().copied().is_some_and(is_consonant_jamo) && !is_ascii_word(next) {
                out.push(v);
                continue;
            }
        }
        // A consonant in the consonant's place: before a vowel jamo, or before a vowel
        // look-alike that itself ends the word ("E r" stays as written: two look-alikes alone
        // are not a word).
        if let Some(k) = consonant_look_alike(c) {
            if next.copied().is_some_and(is_vowel_jamo) && !is_ascii_word(previous_written) {
                out.push(k);
                continue;
            }
        }
        out.push(c);
    }
    Cow::Owned(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    fn read(text: &str) -> String {
        undo_jamo_look_alikes(text).nfkc().collect()
    }

    #[test]
    fn latin_and_digit_look_alikes_beside_jamo_are_read_as_hangul() {
        assert_eq!(read("ㅋr지노"), "카지노");
        assert_eq!(read("ㅂr카라 사이트"), "바카라 사이트");
        assert_eq!(undo_jamo_look_alikes("E ㅗ"), "E ㅗ", "not across a space");
        assert_eq!(read("Eㅗ Eㅗ"), "토 토");
        assert_eq!(read("0ㅣ벤트"), "이벤트");
        assert_eq!(read("ㅁl성년"), "미성년");
        assert_eq!(read("7ㅏ입"), "가입");
    }

    #[test]
    fn ordinary_text_and_laughter_are_left_alone() {
        for text in [
            "ㅋㅋ lol",
            "ㅋㅋㅋ 1등 축하해",
            "price 100 EUR",
            "회의는 10시",
            "ㅎㅎ Lol",
            "file_name ㅠㅠ",
        ] {
            assert_eq!(undo_jamo_look_alikes(text), text, "{text}");
        }
        assert!(matches!(
            undo_jamo_look_alikes("plain English"),
            Cow::Borrowed(_)
        ));
    }
}

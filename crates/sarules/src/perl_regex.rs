//! Perl regex literals as SpamAssassin's rules write them (`/re/i`, `m{re}is`), and their
//! translation to the linear-time engine's syntax with Perl's byte semantics. What that engine
//! cannot express (look-around, back-references, atomic groups…) is left to PCRE2.

/// PCRE2's start-of-pattern limits (they can only lower the library's defaults).
const PCRE2_LIMITS: &str = "(*LIMIT_MATCH=200000)(*LIMIT_HEAP=20000)";

/// A pattern as written: the text between the delimiters and the modifier letters.
#[derive(Debug, Clone, PartialEq)]
pub struct PerlRegex {
    pub pattern: String,
    pub modifiers: String,
}

/// Reads a regex literal at the start of `text`; returns it and the text after it.
pub fn parse_literal(text: &str) -> Result<(PerlRegex, &str), String> {
    let text = text.trim_start();
    let (open, body_start) = if let Some(rest) = text.strip_prefix('m') {
        match rest.chars().next() {
            Some(c) if !c.is_alphanumeric() && !c.is_whitespace() => (c, 1 + c.len_utf8()),
            _ => return Err("expected a regex such as /pattern/ or m{pattern}".into()),
        }
    } else if text.starts_with('/') {
        ('/', 1)
    } else {
        return Err("expected a regex such as /pattern/ or m{pattern}".into());
    };
    let close = match open {
        '{' => '}',
        '(' => ')',
        '[' => ']',
        '<' => '>',
        c => c,
    };
    let body = &text[body_start..];
    let mut depth = 0usize;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == close && depth == 0 {
            end = Some(i);
            break;
        } else if open != close && c == open {
            depth += 1;
        } else if open != close && c == close {
            depth -= 1;
        }
    }
    let end = end.ok_or_else(|| format!("the regex is not closed by {close:?}"))?;
    let pattern = body[..end].to_string();
    let after = &body[end + close.len_utf8()..];
    let mod_len = after
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(after.len());
    let modifiers = after[..mod_len].to_string();
    if let Some(bad) = modifiers.chars().find(|c| !"imsxogcaulpdn".contains(*c)) {
        return Err(format!("unknown regex modifier {bad:?}"));
    }
    Ok((PerlRegex { pattern, modifiers }, &after[mod_len..]))
}

impl PerlRegex {
    fn flag(&self, c: char) -> bool {
        self.modifiers.contains(c)
    }

    /// The pattern in the linear-time engine's syntax (bytes, Perl's anchors), or `None`
    /// where Perl syntax it cannot take is plainly present; the engine may still refuse it.
    pub fn to_linear(&self) -> Option<String> {
        let multi_line = self.flag('m');
        let mut out = String::with_capacity(self.pattern.len() + 16);
        let flags: String = ['i', 's', 'm', 'x']
            .into_iter()
            .filter(|c| self.flag(*c))
            .collect();
        if !flags.is_empty() {
            out.push_str("(?");
            out.push_str(&flags);
            out.push(')');
        }
        let chars: Vec<char> = self.pattern.chars().collect();
        let mut i = 0;
        let mut in_class = false;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\\' => {
                    let next = *chars.get(i + 1)?;
                    i += 2;
                    match next {
                        // Back-references and Perl-only escapes.
                        '1'..='9' | 'G' | 'K' | 'R' | 'X' | 'Q' | 'E' | 'g' | 'k' | 'N' => {
                            return None
                        }
                        'Z' if !in_class => out.push_str("(?:\\n?\\z)"),
                        'h' => out.push_str(if in_class { "\\t " } else { "[\\t ]" }),
                        'v' => out.push_str(if in_class {
                            "\\n\\x0B\\x0C\\r"
                        } else {
                            "[\\n\\x0B\\x0C\\r]"
                        }),
                        'e' => out.push_str("\\x1B"),
                        '0' => {
                            // Octal: \0, \012.
                            let mut value = 0u32;
                            let mut taken = 0;
                            while taken < 2 {
                                match chars.get(i).and_then(|d| d.to_digit(8)) {
                                    Some(d) => {
                                        value = value * 8 + d;
                                        i += 1;
                                        taken += 1;
                                    }
                                    None => break,
                                }
                            }
                            out.push_str(&format!("\\x{value:02X}"));
                        }
                        'x' | 'p' | 'P' if chars.get(i) == Some(&'{') => {
                            // \x{263A}, \p{L}: copied whole.
                            let len = chars[i..].iter().position(|&c| c == '}')? + 1;
                            out.push('\\');
                            out.push(next);
                            out.extend(&chars[i..i + len]);
                            i += len;
                        }
                        // Word-boundary escapes in this engine, plain letters in Perl.
                        '<' | '>' => out.push(next),
                        c if c.is_ascii_alphanumeric() => {
                            out.push('\\');
                            out.push(c);
                        }
                        // Any other escaped character is itself: spelt as a byte so the engine
                        // never reads a meaning into the escape.
                        c if c.is_ascii() => out.push_str(&format!("\\x{:02X}", c as u32)),
                        c => out.push(c),
                    }
                    continue;
                }
                '[' if !in_class => {
                    in_class = true;
                    out.push('[');
                    i += 1;
                    // A leading ']' (or '^]') is literal in Perl.
                    if chars.get(i) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                    if chars.get(i) == Some(&']') {
                        out.push_str("\\]");
                        i += 1;
                    }
                    continue;
                }
                '[' if in_class => {
                    // POSIX classes [:alpha:] pass through; a lone '[' is literal.
                    if chars.get(i + 1) == Some(&':') {
                        out.push('[');
                    } else {
                        out.push_str("\\[");
                    }
                }
                ']' if in_class => {
                    in_class = false;
                    out.push(']');
                }
                '$' if !in_class && !multi_line => out.push_str("(?:\\n?\\z)"),
                '(' if !in_class && chars.get(i + 1) == Some(&'?') => {
                    // Look-around, atomic groups, named groups in Perl's spelling, comments,
                    // conditionals and inline code.
                    match chars.get(i + 2) {
                        Some('=' | '!' | '<' | '>' | '#' | '(' | '{' | '?' | '|' | 'P' | '&') => {
                            return None
                        }
                        _ => out.push('('),
                    }
                }
                '+' if !in_class && i > 0 && matches!(chars[i - 1], '+' | '*' | '?' | '}') => {
                    // A possessive quantifier (`a++`); `a?+` is not lazy in Perl either.
                    if chars[i - 1] != '?' || (i >= 2 && chars[i - 2] != '\\') {
                        return None;
                    }
                    out.push('+');
                }
                '{' if !in_class => {
                    // A '{' that does not start a quantifier is literal in Perl.
                    let rest: String = chars[i + 1..].iter().take(24).collect();
                    let quantifier = rest.find('}').is_some_and(|end| {
                        let inner = &rest[..end];
                        !inner.is_empty()
                            && !inner.starts_with(',')
                            && inner.chars().all(|c| c.is_ascii_digit() || c == ',')
                            && inner.matches(',').count() <= 1
                    });
                    out.push_str(if quantifier { "{" } else { "\\{" });
                }
                '}' if !in_class => {
                    // Closing a quantifier written above, or a literal brace.
                    let open = out.rfind(['{', '}']);
                    let closes_quantifier = open.is_some_and(|at| {
                        out.as_bytes()[at] == b'{' && (at == 0 || out.as_bytes()[at - 1] != b'\\')
                    });
                    out.push_str(if closes_quantifier { "}" } else { "\\}" });
                }
                c => out.push(c),
            }
            i += 1;
        }
        Some(out)
    }

    /// The superset's linear-engine source, as the rules compile it (tests read it).
    #[cfg(test)]
    pub fn superset_linear(&self) -> Option<String> {
        self.superset_perl()?.to_linear()
    }

    /// A pattern that matches wherever this one does (and maybe more), in Perl syntax:
    /// look-around removed (it only narrows), back-references read as any text, atomic groups
    /// and possessive quantifiers as plain ones. Its linear form gates the PCRE2 run: where it
    /// cannot match, the real pattern cannot either.
    pub fn superset_perl(&self) -> Option<PerlRegex> {
        let chars: Vec<char> = self.pattern.chars().collect();
        let mut out = String::with_capacity(chars.len());
        let mut i = 0;
        let mut in_class = false;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let next = *chars.get(i + 1)?;
                if !in_class && next.is_ascii_digit() && next != '0' {
                    out.push_str("(?s:.*)");
                } else if next == 'K' || next == 'G' {
                    // Match-start resets and anchors at the last match: dropped.
                } else {
                    out.push(c);
                    out.push(next);
                }
                i += 2;
                continue;
            }
            if in_class {
                if c == ']' {
                    in_class = false;
                }
                out.push(c);
                i += 1;
                continue;
            }
            match c {
                '[' => {
                    in_class = true;
                    out.push(c);
                    // A leading ']' or '^]' is literal.
                    if chars.get(i + 1) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                    if chars.get(i + 1) == Some(&']') {
                        out.push(']');
                        i += 1;
                    }
                }
                '(' if chars.get(i + 1) == Some(&'?') => {
                    let kind: String = chars[i + 2..].iter().take(2).collect();
                    if kind.starts_with('=')
                        || kind.starts_with('!')
                        || kind == "<="
                        || kind == "<!"
                    {
                        // Skip the whole look-around group.
                        i = skip_group(&chars, i)?;
                        continue;
                    }
                    if kind.starts_with('>') {
                        out.push_str("(?:");
                        i += 3;
                        continue;
                    }
                    out.push(c);
                }
                '+' if i > 0
                    && matches!(chars[i - 1], '+' | '*' | '?' | '}')
                    && chars[i - 1] != '\\' =>
                {
                    // Possessive: the plain quantifier matches a superset.
                }
                c => out.push(c),
            }
            i += 1;
        }
        Some(PerlRegex {
            pattern: out,
            modifiers: self.modifiers.clone(),
        })
    }

    /// The pattern and flags for Hyperscan, which reads PCRE's syntax: `x` has no flag there,
    /// so it is written inline.
    pub fn to_hyperscan(&self) -> (String, std::ffi::c_uint) {
        use crate::hyperscan::{CASELESS, DOTALL, MULTILINE};
        let mut flags = 0;
        for (letter, flag) in [('i', CASELESS), ('s', DOTALL), ('m', MULTILINE)] {
            if self.flag(letter) {
                flags |= flag;
            }
        }
        let source = if self.flag('x') {
            format!("(?x){}", self.pattern)
        } else {
            self.pattern.clone()
        };
        (source, flags)
    }

    /// The pattern for PCRE2 (Perl syntax already), with the modifiers as options.
    pub fn to_pcre2(&self) -> Result<pcre2::bytes::Regex, String> {
        let mut builder = pcre2::bytes::RegexBuilder::new();
        builder
            .caseless(self.flag('i'))
            .dotall(self.flag('s'))
            .multi_line(self.flag('m'))
            .extended(self.flag('x'))
            .jit_if_available(true);
        // Backtracking is bounded: hostile mail cannot make one pattern run for seconds. A
        // search past the limit is an error, read as "no match".
        builder
            .build(&format!("{PCRE2_LIMITS}{}", self.pattern))
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())
    }
}

/// The index just past the group that opens at `open` (parentheses balanced, escapes and
/// classes respected).
fn skip_group(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    let mut in_class = false;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> PerlRegex {
        parse_literal(text).unwrap().0
    }

    #[test]
    fn literals_with_any_delimiter_and_modifiers() {
        let (re, rest) = parse_literal(r"/\bfree\/now\b/i [if-unset: x]").unwrap();
        assert_eq!(re.pattern, r"\bfree\/now\b");
        assert_eq!(re.modifiers, "i");
        assert_eq!(rest.trim(), "[if-unset: x]");
        assert_eq!(lit(r"m{^https?://a{2}}is").pattern, r"^https?://a{2}");
        assert_eq!(lit("m!a/b!").pattern, "a/b");
        assert!(parse_literal("/unclosed").is_err());
        assert!(parse_literal("/a/z").is_err());
    }

    #[test]
    fn perl_anchors_and_escapes_translate() {
        assert_eq!(lit("/foo$/").to_linear().unwrap(), r"foo(?:\n?\z)");
        assert_eq!(lit("/foo$/m").to_linear().unwrap(), "(?m)foo$");
        assert_eq!(lit(r"/a\Z/").to_linear().unwrap(), r"a(?:\n?\z)");
        assert_eq!(lit(r"/\<b\>/").to_linear().unwrap(), "<b>");
        assert_eq!(lit(r"/\_\@/").to_linear().unwrap(), r"\x5F\x40");
        assert_eq!(lit(r"/a{2,3}b{c}/").to_linear().unwrap(), r"a{2,3}b\{c\}");
        assert_eq!(lit(r"/[]a$]/").to_linear().unwrap(), r"[\]a$]");
        assert_eq!(lit(r"/\012/").to_linear().unwrap(), r"\x0A");
        assert!(lit(r"/(?!x)y/").to_linear().is_none());
        assert!(lit(r"/(a)\1/").to_linear().is_none());
        assert!(lit(r"/a++/").to_linear().is_none());
        assert_eq!(lit(r"/(?i:a)/").to_linear().unwrap(), "(?i:a)");
    }

    #[test]
    fn supersets_gate_perl_only_patterns() {
        assert_eq!(
            lit(r"/prize(?! now)\b/i").superset_linear().unwrap(),
            r"(?i)prize\b"
        );
        assert_eq!(
            lit(r"/(?<=x)(\w+) \1/").superset_linear().unwrap(),
            r"(\w+) (?s:.*)"
        );
        assert_eq!(lit(r"/(?>ab)c++/").superset_linear().unwrap(), "(?:ab)c+");
        assert_eq!(lit(r"/[(?!]x/").superset_linear().unwrap(), "[(?!]x");
    }

    #[test]
    fn pcre2_backtracking_is_bounded_on_hostile_text() {
        // Exponential backtracking without a limit; with it, an error read as no match.
        let re = lit(r"/^(a+)+(?=b)\1$/").to_pcre2().unwrap();
        let hostile = "a".repeat(40);
        assert!(
            re.is_match(hostile.as_bytes()).is_err(),
            "the match limit stops it"
        );
        assert!(re.is_match(b"aab").is_ok());
    }

    #[test]
    fn pcre2_takes_what_the_linear_engine_cannot() {
        let re = lit(r"/\b(\w+) \1\b/i").to_pcre2().unwrap();
        assert!(re.is_match(b"the THE end").unwrap());
        assert!(!re.is_match(b"the end").unwrap());
    }
}

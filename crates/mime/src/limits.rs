//! Structural bounds checked on the raw bytes before mail-parser sees them.
//!
//! mail-parser keeps each `message/rfc822` part as a nested `Message`, so one message of tens of
//! thousands of nested parts is a value tens of thousands of levels deep: parsing it is
//! iterative, but dropping it recurses once per level and overflows a thread's stack (one such
//! message stopped the gateway). Every level, and every part the parser keeps, needs its own
//! `Content-Type` field, so bounding those fields bounds the depth and the part count; the top
//! header section and the line length are bounded beside them. Past a bound the parser is given
//! the bytes before it only: the message itself is kept whole (delivered or quarantined as the
//! verdict says), and the cut is reported as evidence.

use crate::ViewOptions;

/// Where the parser's input must end, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Offset of the first byte not given to the parser (the start of a line).
    pub at: usize,
    pub why: String,
}

/// The first place where `raw` goes beyond a bound of `options`, if any. One pass over the
/// lines, no allocation.
pub(crate) fn structural_cut(raw: &[u8], options: &ViewOptions) -> Option<Cut> {
    let mut content_types = 0usize;
    let mut header_fields = 0usize;
    let mut in_top_header = true;
    let mut start = 0usize;
    while start < raw.len() {
        let end = memchr::memchr(b'\n', &raw[start..]).map_or(raw.len(), |i| start + i);
        let line = &raw[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > options.max_line_bytes {
            return Some(Cut {
                at: start,
                why: format!(
                    "a line of {} bytes, more than the {} parsed (max_line_bytes)",
                    line.len(),
                    options.max_line_bytes
                ),
            });
        }
        if in_top_header {
            if line.is_empty() {
                in_top_header = false;
            } else if !matches!(line[0], b' ' | b'\t') {
                header_fields += 1;
                if header_fields > options.max_header_fields {
                    return Some(Cut {
                        at: start,
                        why: format!(
                            "more than {} header fields (max_header_fields)",
                            options.max_header_fields
                        ),
                    });
                }
            }
        }
        if is_content_type_field(line) {
            content_types += 1;
            if content_types > options.max_parts {
                return Some(Cut {
                    at: start,
                    why: format!(
                        "more than {} MIME parts or nested messages (max_parts)",
                        options.max_parts
                    ),
                });
            }
        }
        start = end + 1;
    }
    None
}

/// `Content-Type:` at the start of a line, any case, blanks allowed before the colon (as
/// mail-parser allows them).
fn is_content_type_field(line: &[u8]) -> bool {
    const NAME: &[u8] = b"content-type";
    if line.len() <= NAME.len() || !line[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return false;
    }
    line[NAME.len()..]
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t'))
        .is_some_and(|&b| b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ViewOptions {
        ViewOptions {
            max_parts: 3,
            max_header_fields: 4,
            max_line_bytes: 40,
            ..ViewOptions::default()
        }
    }

    #[test]
    fn ordinary_messages_are_not_cut() {
        let raw = b"From: a@b.example\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\nbody\r\n";
        assert_eq!(structural_cut(raw, &options()), None);
    }

    #[test]
    fn the_part_beyond_max_parts_is_cut_at_its_content_type() {
        let mut raw = b"Subject: x\n\n".to_vec();
        for _ in 0..4 {
            raw.extend_from_slice(b"CONTENT-TYPE :message/rfc822\n\n");
        }
        let cut = structural_cut(&raw, &options()).unwrap();
        assert_eq!(&raw[cut.at..cut.at + 12], b"CONTENT-TYPE");
        assert_eq!(
            raw[..cut.at]
                .windows(12)
                .filter(|w| w == b"CONTENT-TYPE")
                .count(),
            3
        );
        assert!(cut.why.contains("max_parts"), "{}", cut.why);
    }

    #[test]
    fn header_fields_count_in_the_top_section_only_and_folded_lines_are_one_field() {
        let raw = b"A: 1\nB: 2\n  folded\nC: 3\nD: 4\n\nE: 5\nF: 6\n";
        assert_eq!(structural_cut(raw, &options()), None);
        let raw = b"A: 1\nB: 2\nC: 3\nD: 4\nE: 5\n\nbody\n";
        let cut = structural_cut(raw, &options()).unwrap();
        assert_eq!(&raw[cut.at..cut.at + 4], b"E: 5");
        assert!(cut.why.contains("max_header_fields"));
    }

    #[test]
    fn a_line_longer_than_max_line_bytes_is_cut_before_it() {
        let raw =
            b"Subject: x\r\n\r\nshort\r\n012345678901234567890123456789012345678901\r\nrest\r\n";
        let cut = structural_cut(raw, &options()).unwrap();
        assert_eq!(&raw[cut.at..cut.at + 4], b"0123");
        assert!(cut.why.contains("42 bytes"), "{}", cut.why);
        // The line ending does not count.
        let raw = b"Subject: x\r\n\r\n0123456789012345678901234567890123456789\r\n";
        assert_eq!(structural_cut(raw, &options()), None);
    }

    #[test]
    fn content_type_words_inside_text_are_not_fields() {
        assert!(!is_content_type_field(b"the content-type: header"));
        assert!(!is_content_type_field(b"Content-Typewriter: no"));
        assert!(is_content_type_field(b"content-type:text/plain"));
        assert!(is_content_type_field(b"Content-Type\t: text/plain"));
    }
}

//! SpamAssassin's `eval:` tests that need no network and no database, re-implemented natively
//! over the message view. [`SUPPORTED`] lists them; any other eval rule is reported as
//! unsupported by `mailmoat sa-rules check` and counts as not hit (as a network test does in
//! SpamAssassin's local-only mode).

use crate::render::SaMessage;

/// Every eval function this crate implements.
pub const SUPPORTED: &[&str] = &[
    "check_for_missing_to_header",
    "check_header_count_range",
    "check_body_length",
    "subject_is_all_caps",
    "check_for_shifted_date",
    "check_for_to_in_subject",
    "check_for_uppercase",
    "check_illegal_chars",
    "check_for_faraway_charset_in_headers",
    "html_image_only",
    "check_msg_parse_flags",
];

pub fn is_supported(function: &str) -> bool {
    SUPPORTED.contains(&function)
}

/// Runs one eval test; `None` when the function or its arguments are not supported.
pub fn run(function: &str, args: &[String], m: &SaMessage<'_>) -> Option<bool> {
    let view = m.view;
    let arg = |i: usize| args.get(i).map(String::as_str);
    let number = |i: usize| arg(i).and_then(|a| a.trim().parse::<f64>().ok());
    Some(match function {
        "check_for_missing_to_header" => {
            view.header("To").is_none() && view.header("Apparently-To").is_none()
        }
        "check_header_count_range" => {
            let count = view.headers_named(arg(0)?).count() as f64;
            count >= number(1)? && count <= number(2)?
        }
        // The message body (after the header) shorter than the given number of bytes.
        "check_body_length" => {
            let body_len = body_start(&view.raw).map_or(0, |s| view.raw.len() - s);
            (body_len as f64) < number(0)?
        }
        "subject_is_all_caps" => subject_is_all_caps(view.subject.as_deref().unwrap_or("")),
        // Date header this many hours before/after the newest Received date (min, max).
        "check_for_shifted_date" => {
            let date = view.date?;
            let received = view.received.iter().find_map(|h| h.date)?;
            let hours = (date - received) as f64 / 3600.0;
            let min = arg(0).and_then(|a| a.parse::<f64>().ok());
            let max = arg(1).and_then(|a| a.parse::<f64>().ok());
            min.is_none_or(|m| hours >= m) && max.is_none_or(|m| hours < m)
        }
        "check_for_to_in_subject" => to_in_subject(m, arg(0)?),
        // Share of upper-case letters in the body at least `min` and below `max` percent.
        "check_for_uppercase" => {
            let (min, max) = (number(0)?, number(1)?);
            let text: String = m.body.iter().skip(1).map(String::as_str).collect();
            if text.len() < 200 {
                return Some(false);
            }
            let letters = text.chars().filter(|c| c.is_alphabetic()).count();
            let upper = text.chars().filter(|c| c.is_uppercase()).count();
            if letters == 0 {
                return Some(false);
            }
            let share = upper as f64 * 100.0 / letters as f64;
            share >= min && share < max
        }
        // Raw 8-bit bytes in a header: ratio of such bytes and a minimum count.
        "check_illegal_chars" => {
            let (header, ratio, count) = (arg(0)?, number(1)?, number(2)?);
            let raw: String = if header == "ALL" {
                view.headers
                    .iter()
                    .filter(|h| {
                        !h.name.eq_ignore_ascii_case("Subject")
                            && !h.name.eq_ignore_ascii_case("From")
                    })
                    .map(|h| h.raw.clone())
                    .collect()
            } else {
                view.headers_named(header).map(|h| h.raw.clone()).collect()
            };
            let len = raw.len();
            let illegal = raw.bytes().filter(|&b| b >= 0x80).count();
            len > 0 && illegal as f64 >= count && illegal as f64 / len as f64 >= ratio
        }
        "check_for_faraway_charset_in_headers" => false,
        "html_image_only" => {
            // HTML with images and at most this few characters of text (min, max).
            let (min, max) = (number(0)?, number(1)?);
            let html = view.texts.iter().find(|t| t.html.is_some())?;
            let has_image = html
                .html
                .as_deref()
                .is_some_and(|h| h.to_ascii_lowercase().contains("<img"));
            let len = html.text.trim().len() as f64;
            has_image && len > min && len <= max
        }
        "check_msg_parse_flags" => match arg(0)? {
            "missing_head_body_separator" => body_start(&view.raw).is_none(),
            "truncated_header" => false,
            "missing_mime_head_body_separator" | "mime_body_text_count" => false,
            _ => return None,
        },
        _ => return None,
    })
}

fn body_start(raw: &[u8]) -> Option<usize> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// SpamAssassin's `subject_is_all_caps`: at least two words, letters only upper-case.
fn subject_is_all_caps(subject: &str) -> bool {
    let subject = subject.trim();
    if subject.split_whitespace().count() < 2 || subject.len() < 10 {
        return false;
    }
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    !letters.is_empty() && letters.iter().all(|c| c.is_uppercase())
}

fn to_in_subject(m: &SaMessage<'_>, how: &str) -> bool {
    let Some(subject) = m.view.subject.as_deref() else {
        return false;
    };
    let subject = subject.to_ascii_lowercase();
    m.view
        .to
        .iter()
        .filter_map(|t| t.address.as_deref())
        .any(|addr| {
            let addr = addr.to_ascii_lowercase();
            let user = addr.split('@').next().unwrap_or("");
            match how {
                "address" => subject.contains(&addr),
                "user" => {
                    !user.is_empty()
                        && subject
                            .split(|c: char| !c.is_alphanumeric() && c != '.')
                            .any(|w| w == user)
                }
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmoat_mime::{Envelope, MessageView, ViewOptions};

    fn eval(raw: &str, f: &str, args: &[&str]) -> Option<bool> {
        let v = MessageView::build(
            raw.as_bytes().to_vec(),
            Envelope::default(),
            &ViewOptions::default(),
        );
        let m = SaMessage::new(&v);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        run(f, &args, &m)
    }

    #[test]
    fn header_evals() {
        let raw = "Subject: FREE MONEY NOW\r\nFrom: a@b.example\r\n\r\nhi\r\n";
        assert_eq!(eval(raw, "check_for_missing_to_header", &[]), Some(true));
        assert_eq!(eval(raw, "subject_is_all_caps", &[]), Some(true));
        assert_eq!(eval(raw, "check_body_length", &["10"]), Some(true));
        assert_eq!(
            eval(raw, "check_header_count_range", &["From", "2", "3"]),
            Some(false)
        );
        assert_eq!(eval(raw, "no_such_test", &[]), None);
        let raw = "Subject: Meeting notes\r\nTo: bob@x.example\r\n\r\nhi\r\n";
        assert_eq!(eval(raw, "check_for_missing_to_header", &[]), Some(false));
        assert_eq!(eval(raw, "subject_is_all_caps", &[]), Some(false));
    }

    #[test]
    fn every_supported_function_answers_with_plausible_arguments() {
        let raw = "Subject: Hello bob\r\nTo: bob@x.example\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nReceived: from a by b; Mon, 1 Jan 2024 01:00:00 +0000\r\n\r\nhi\r\n";
        for f in SUPPORTED {
            let args: &[&str] = match *f {
                "check_header_count_range" => &["To", "1", "1"],
                "check_body_length" => &["5"],
                "check_for_shifted_date" => &["-3", "-1"],
                "check_for_to_in_subject" => &["user"],
                "check_for_uppercase" => &["25", "50"],
                "check_illegal_chars" => &["Subject", "0.1", "1"],
                "html_image_only" => &["0", "400"],
                "check_msg_parse_flags" => &["missing_head_body_separator"],
                _ => &[],
            };
            let answer = eval(raw, f, args);
            if *f != "html_image_only" {
                assert!(answer.is_some(), "{f}");
            }
        }
        assert_eq!(
            eval(raw, "check_for_shifted_date", &["-3", "-1"]),
            Some(false)
        );
        assert_eq!(
            eval(raw, "check_for_shifted_date", &["-1", "0"]),
            Some(true)
        );
        assert_eq!(eval(raw, "check_for_to_in_subject", &["user"]), Some(true));
    }
}

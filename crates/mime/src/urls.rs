//! URLs in plain text (linkify finds them, with or without a scheme) and host extraction.

use linkify::{LinkFinder, LinkKind};

/// URLs written in text, as found (`www.example.com/x` included).
pub(crate) fn find_in_text(text: &str) -> impl Iterator<Item = &str> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]);
    finder.url_must_have_scheme(false);
    // The finder borrows nothing but the text, so the iterator can outlive it.
    finder
        .links(text)
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .into_iter()
}

/// The lower-cased host of a URL (punycode for IDNs); scheme-less `www.` URLs count as http.
pub fn host_of(url: &str) -> Option<String> {
    let trimmed = url.trim();
    let parsed = match url::Url::parse(trimmed) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            url::Url::parse(&format!("http://{trimmed}")).ok()?
        }
        Err(_) => return None,
    };
    parsed
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_urls_with_and_without_scheme() {
        let found: Vec<&str> =
            find_in_text("see http://a.example/x?y=1, or www.b.example/path. mail me@c.example")
                .collect();
        assert_eq!(found, vec!["http://a.example/x?y=1", "www.b.example/path"]);
    }

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("HTTP://WWW.Example.COM./a").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            host_of("www.b.example/path").as_deref(),
            Some("www.b.example")
        );
        assert_eq!(
            host_of("http://пример.рф/").as_deref(),
            Some("xn--e1afmkfd.xn--p1ai")
        );
        assert_eq!(
            host_of("http://192.168.0.1:8080/").as_deref(),
            Some("192.168.0.1")
        );
        assert_eq!(host_of("mailto:x@y"), None);
    }
}

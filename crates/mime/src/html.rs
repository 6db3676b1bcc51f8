//! HTML to the text a reader sees. html5gum tokenizes (WHATWG tokenizer, entities decoded); a
//! small element stack tracks what CSS hides: display:none, visibility:hidden, zero-size fonts,
//! opacity:0, collapsed boxes, off-screen indents and text coloured like its background. Hidden
//! text is kept separately, because spammers pad messages with it to fool text classifiers.

use html5gum::{DefaultEmitter, Token, Tokenizer};

use crate::UrlSource;

/// A link found in markup.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub url: String,
    pub source: UrlSource,
    /// For `<a>`/`<area>`: the visible text inside the element.
    pub anchor_text: Option<String>,
}

/// The result of rendering: what a reader sees, what is hidden, and every link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub visible: String,
    pub hidden: String,
    pub links: Vec<Link>,
    /// The text of each non-empty `<title>` (the first [`MAX_TITLES`]): no reader sees it in
    /// the page, but SpamAssassin's body rules read it.
    pub titles: Vec<String>,
}

/// Titles kept per document; one is normal, more are padding.
const MAX_TITLES: usize = 16;

type Rgb = (u8, u8, u8);

const WHITE: Rgb = (255, 255, 255);
const BLACK: Rgb = (0, 0, 0);
/// Open elements beyond this depth are not tracked (their text still counts).
const MAX_STACK: usize = 256;

#[derive(Debug, Clone)]
struct Frame {
    name: Vec<u8>,
    hidden: bool,
    skip: bool,
    /// Inside a `<title>`.
    title: bool,
    color: Rgb,
    background: Rgb,
    anchor: Option<usize>,
}

fn is_void(name: &[u8]) -> bool {
    matches!(
        name,
        b"br"
            | b"img"
            | b"hr"
            | b"input"
            | b"meta"
            | b"link"
            | b"area"
            | b"base"
            | b"col"
            | b"embed"
            | b"source"
            | b"track"
            | b"wbr"
            | b"param"
            | b"keygen"
            | b"frame"
    )
}

fn is_block(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"div"
            | b"tr"
            | b"table"
            | b"li"
            | b"ul"
            | b"ol"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"blockquote"
            | b"section"
            | b"article"
            | b"header"
            | b"footer"
            | b"center"
            | b"pre"
            | b"form"
            | b"dl"
            | b"dt"
            | b"dd"
            | b"address"
            | b"hr"
            | b"br"
            | b"tbody"
            | b"thead"
            | b"tfoot"
            | b"body"
            | b"html"
            | b"nav"
            | b"main"
            | b"aside"
    )
}

/// Content never shown to a reader.
fn is_skipped(name: &[u8]) -> bool {
    matches!(
        name,
        b"script" | b"style" | b"title" | b"template" | b"head" | b"xml"
    )
}

/// Renders HTML; input beyond `max_bytes` is ignored.
pub fn render(html: &str, max_bytes: usize) -> Rendered {
    let mut cut = html.len().min(max_bytes);
    while !html.is_char_boundary(cut) {
        cut -= 1;
    }
    let html = &html[..cut];
    let mut emitter = DefaultEmitter::default();
    // Script and style bodies are raw text; without this `<` inside them would open tags.
    emitter.naively_switch_states(true);
    let tokenizer = Tokenizer::new_with_emitter(html, emitter);

    let mut out = Rendered::default();
    let root = Frame {
        name: Vec::new(),
        hidden: false,
        skip: false,
        title: false,
        color: BLACK,
        background: WHITE,
        anchor: None,
    };
    let mut stack: Vec<Frame> = vec![root];
    // Whether the current title's text is kept (false past MAX_TITLES).
    let mut keeping_title = false;

    for token in tokenizer {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name: &[u8] = &tag.name;
                let parent = stack.last().cloned().unwrap_or_else(|| stack[0].clone());
                let attr = |key: &[u8]| -> Option<String> {
                    tag.attributes
                        .get(key)
                        .map(|v| String::from_utf8_lossy(&v.value).trim().to_string())
                };
                if is_block(name) {
                    newline(&mut out.visible);
                    space(&mut out.hidden);
                    if let Some(anchor) = parent
                        .anchor
                        .and_then(|i| out.links.get_mut(i))
                        .and_then(|l| l.anchor_text.as_mut())
                    {
                        space(anchor);
                    }
                }
                if name == b"td" || name == b"th" {
                    space(&mut out.visible);
                }
                if name == b"title" && !parent.title {
                    keeping_title = out.titles.len() < MAX_TITLES;
                    if keeping_title {
                        out.titles.push(String::new());
                    }
                }
                let mut frame = Frame {
                    name: name.to_vec(),
                    hidden: parent.hidden,
                    skip: parent.skip || is_skipped(name),
                    title: parent.title || name == b"title",
                    color: parent.color,
                    background: parent.background,
                    anchor: parent.anchor,
                };
                if tag.attributes.contains_key(&b"hidden"[..]) {
                    frame.hidden = true;
                }
                // <body text=...> sets the page's text colour.
                let color_attr = if name == b"body" {
                    attr(b"text").or_else(|| attr(b"color"))
                } else {
                    attr(b"color")
                };
                if let Some(c) = color_attr.and_then(|c| parse_color(&c)) {
                    frame.color = c;
                }
                if let Some(c) = attr(b"bgcolor").and_then(|c| parse_color(&c)) {
                    frame.background = c;
                }
                if let Some(style) = attr(b"style") {
                    apply_style(&style, &mut frame);
                }
                // Links.
                let push_link =
                    |url: String, source: UrlSource, out: &mut Rendered| -> Option<usize> {
                        if url.is_empty() || url.starts_with('#') {
                            return None;
                        }
                        out.links.push(Link {
                            url,
                            source,
                            anchor_text: None,
                        });
                        Some(out.links.len() - 1)
                    };
                match name {
                    b"a" | b"area" => {
                        if let Some(href) = attr(b"href") {
                            let i = push_link(href, UrlSource::Href, &mut out);
                            if let Some(i) = i {
                                out.links[i].anchor_text = Some(String::new());
                                if name == b"a" {
                                    frame.anchor = Some(i);
                                }
                            }
                        }
                    }
                    b"img" | b"iframe" | b"frame" | b"embed" | b"script" | b"input" | b"video"
                    | b"audio" | b"source" => {
                        if let Some(src) = attr(b"src") {
                            push_link(src, UrlSource::Src, &mut out);
                        }
                    }
                    b"link" => {
                        if let Some(href) = attr(b"href") {
                            push_link(href, UrlSource::Src, &mut out);
                        }
                    }
                    b"form" => {
                        if let Some(action) = attr(b"action") {
                            push_link(action, UrlSource::FormAction, &mut out);
                        }
                    }
                    b"button" => {
                        if let Some(action) = attr(b"formaction") {
                            push_link(action, UrlSource::FormAction, &mut out);
                        }
                    }
                    b"meta" => {
                        let refresh =
                            attr(b"http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("refresh"));
                        if refresh {
                            if let Some(url) = attr(b"content").and_then(|c| meta_refresh_url(&c)) {
                                push_link(url, UrlSource::MetaRefresh, &mut out);
                            }
                        }
                    }
                    _ => {}
                }
                if let Some(bg) = attr(b"background") {
                    push_link(bg, UrlSource::Background, &mut out);
                }
                if name == b"br" {
                    newline(&mut out.visible);
                }
                if !is_void(name) && !tag.self_closing && stack.len() < MAX_STACK {
                    stack.push(frame);
                }
            }
            Token::EndTag(tag) => {
                let name: &[u8] = &tag.name;
                if let Some(pos) = stack.iter().rposition(|f| f.name == name) {
                    if pos > 0 {
                        stack.truncate(pos);
                    }
                }
                if is_block(name) {
                    newline(&mut out.visible);
                    space(&mut out.hidden);
                }
            }
            Token::String(text) => {
                let Some(frame) = stack.last() else { continue };
                if frame.title && keeping_title {
                    if let Some(title) = out.titles.last_mut() {
                        push_collapsed(title, &String::from_utf8_lossy(&text.value));
                    }
                }
                if frame.skip {
                    continue;
                }
                let text = String::from_utf8_lossy(&text.value);
                let invisible =
                    frame.hidden || color_distance(frame.color, frame.background) < 24.0;
                if invisible {
                    push_collapsed(&mut out.hidden, &text);
                } else {
                    push_collapsed(&mut out.visible, &text);
                    if let Some(i) = frame.anchor {
                        if let Some(anchor) =
                            out.links.get_mut(i).and_then(|l| l.anchor_text.as_mut())
                        {
                            push_collapsed(anchor, &text);
                        }
                    }
                }
            }
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    for link in &mut out.links {
        if let Some(a) = link.anchor_text.as_mut() {
            let trimmed = a.trim();
            if trimmed.len() != a.len() {
                *a = trimmed.to_string();
            }
        }
    }
    out.visible = out.visible.trim().to_string();
    out.hidden = out.hidden.trim().to_string();
    out.titles = out
        .titles
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    out
}

fn apply_style(style: &str, frame: &mut Frame) {
    let mut overflow_hidden = false;
    let mut zero_box = false;
    for decl in style.split(';') {
        let Some((prop, value)) = decl.split_once(':') else {
            continue;
        };
        let prop = prop.trim().to_ascii_lowercase();
        let value = value
            .trim()
            .trim_end_matches("!important")
            .trim()
            .to_ascii_lowercase();
        match prop.as_str() {
            "display" if value == "none" => frame.hidden = true,
            "visibility" if value == "hidden" || value == "collapse" => frame.hidden = true,
            "mso-hide" if value == "all" => frame.hidden = true,
            "opacity" if value.parse::<f64>().is_ok_and(|o| o <= 0.05) => frame.hidden = true,
            "font-size" if css_length_px(&value).is_some_and(|px| px < 2.0) => frame.hidden = true,
            "color" => {
                if let Some(c) = parse_color(&value) {
                    frame.color = c;
                }
            }
            "background-color" | "background" => {
                if let Some(c) = value.split_whitespace().find_map(parse_color) {
                    frame.background = c;
                }
            }
            "overflow" if value == "hidden" => overflow_hidden = true,
            "max-height" | "height" | "max-width" | "width"
                if css_length_px(&value) == Some(0.0) =>
            {
                zero_box = true
            }
            "text-indent" | "left" | "top" | "margin-left"
                if css_length_px(&value).is_some_and(|px| px <= -500.0) =>
            {
                frame.hidden = true
            }
            _ => {}
        }
    }
    if overflow_hidden && zero_box {
        frame.hidden = true;
    }
}

/// A CSS length in pixels, for the units that matter here.
fn css_length_px(value: &str) -> Option<f64> {
    let v = value.trim();
    let (num, unit) =
        match v.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')) {
            Some(i) => (&v[..i], v[i..].trim()),
            None => (v, ""),
        };
    let n: f64 = num.parse().ok()?;
    let px = match unit {
        "" | "px" => n,
        "pt" => n * 4.0 / 3.0,
        "em" | "rem" => n * 16.0,
        "%" => n * 0.16,
        _ => return None,
    };
    Some(px)
}

fn parse_color(value: &str) -> Option<Rgb> {
    let v = value.trim().trim_end_matches(';').to_ascii_lowercase();
    if let Some(hex) = v.strip_prefix('#').or_else(|| {
        (v.len() == 6 && v.bytes().all(|b| b.is_ascii_hexdigit())).then_some(v.as_str())
    }) {
        // Byte slicing below needs ASCII: "#9™99" is six bytes but not six digits.
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let h = |s: &str| u8::from_str_radix(s, 16).ok();
        return match hex.len() {
            3 => {
                let d: Vec<u8> = hex
                    .chars()
                    .filter_map(|c| c.to_digit(16))
                    .map(|d| (d * 17) as u8)
                    .collect();
                (d.len() == 3).then(|| (d[0], d[1], d[2]))
            }
            6 => Some((h(&hex[0..2])?, h(&hex[2..4])?, h(&hex[4..6])?)),
            _ => None,
        };
    }
    if let Some(args) = v.strip_prefix("rgb(").or_else(|| v.strip_prefix("rgba(")) {
        let parts: Vec<u8> = args
            .trim_end_matches(')')
            .split(',')
            .take(3)
            .filter_map(|p| {
                p.trim()
                    .parse::<f64>()
                    .ok()
                    .map(|n| n.clamp(0.0, 255.0) as u8)
            })
            .collect();
        return (parts.len() == 3).then(|| (parts[0], parts[1], parts[2]));
    }
    Some(match v.as_str() {
        "white" => WHITE,
        "black" => BLACK,
        "red" => (255, 0, 0),
        "green" => (0, 128, 0),
        "blue" => (0, 0, 255),
        "yellow" => (255, 255, 0),
        "gray" | "grey" => (128, 128, 128),
        "silver" => (192, 192, 192),
        "navy" => (0, 0, 128),
        "whitesmoke" => (245, 245, 245),
        "snow" => (255, 250, 250),
        "ivory" => (255, 255, 240),
        "ghostwhite" => (248, 248, 255),
        _ => return None,
    })
}

fn color_distance(a: Rgb, b: Rgb) -> f64 {
    let d = |x: u8, y: u8| (x as f64 - y as f64).powi(2);
    (d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)).sqrt()
}

/// The URL of `<meta http-equiv=refresh content="5; url=...">`.
fn meta_refresh_url(content: &str) -> Option<String> {
    let (_, rest) = content.split_once([';', ','])?;
    let rest = rest.trim();
    let lower = rest.to_ascii_lowercase();
    let url = if lower.starts_with("url") {
        rest[3..].trim_start().strip_prefix('=')?.trim()
    } else {
        rest
    };
    let url = url.trim_matches(|c| c == '\'' || c == '"').trim();
    (!url.is_empty()).then(|| url.to_string())
}

/// Appends text collapsing runs of whitespace, as a browser does.
fn push_collapsed(buf: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() || c == '\u{a0}' {
            if !buf.is_empty() && !buf.ends_with([' ', '\n']) {
                buf.push(' ');
            }
        } else {
            buf.push(c);
        }
    }
}

fn newline(buf: &mut String) {
    while buf.ends_with(' ') {
        buf.pop();
    }
    if !buf.is_empty() && !buf.ends_with('\n') {
        buf.push('\n');
    }
}

fn space(buf: &mut String) {
    if !buf.is_empty() && !buf.ends_with([' ', '\n']) {
        buf.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(html: &str) -> Rendered {
        render(html, 1 << 20)
    }

    #[test]
    fn visible_text_skips_script_style_and_comments() {
        let out = r("<html><head><title>T</title><style>p{x:1}</style></head><body><p>Hello &amp; wel<!-- x -->come</p><script>if (a<b) alert(1)</script><p>Bye</p></body></html>");
        assert_eq!(out.visible, "Hello & welcome\nBye");
        assert_eq!(out.hidden, "");
    }

    #[test]
    fn titles_are_kept_apart_from_the_visible_text() {
        let out = r("<html><head><TITLE>Dear friend &amp; partner</TITLE></head><body><p>Claim it</p></body></html>");
        assert_eq!(out.titles, vec!["Dear friend & partner".to_string()]);
        assert_eq!(out.visible, "Claim it");
        assert_eq!(r("<title></title><p>x</p>").titles, Vec::<String>::new());
        let many = "<title>t</title>".repeat(40);
        assert_eq!(r(&many).titles.len(), MAX_TITLES);
        // Never closed: the rest of the document is its text.
        assert_eq!(
            r("<title>open  ended").titles,
            vec!["open ended".to_string()]
        );
    }

    #[test]
    fn regression_colour_values_with_non_ascii_letters() {
        // Found by fuzzing (scan): "#9™99" is six bytes, and slicing it as hex digits
        // split the '™'.
        assert_eq!(parse_color("#9™99"), None);
        assert_eq!(parse_color("9™99"), None);
        assert_eq!(parse_color("#é12"), None);
        assert_eq!(parse_color("#ffffff"), Some((255, 255, 255)));
        let out = r("<p><font color=\"#9™99\">odd colour</font></p>");
        assert_eq!(out.visible, "odd colour");
    }

    #[test]
    fn hidden_text_is_kept_apart() {
        let out = r(concat!(
            "<div style='display:none'>none</div>",
            "<p><span style=\"font-size:0px\">zero</span></p>",
            "<p><font color=\"#ffffff\">white</font></p>",
            "<div style='background-color:#000'><span style='color:black'>dark</span></div>",
            "<p style='visibility:hidden'>vis</p>",
            "<div style='max-height:0;overflow:hidden'>collapsed</div>",
            "<p>shown</p>",
            "<p style='color:#fffffe'>almost white</p>",
        ));
        assert_eq!(out.visible, "shown");
        assert_eq!(
            out.hidden,
            "none zero white dark vis collapsed almost white"
        );
    }

    #[test]
    fn links_carry_their_source_and_anchor_text() {
        let out = r(concat!(
            "<a href='http://evil.example/login'>https://www.paypal.com</a>",
            "<img src='http://img.example/a.png'>",
            "<form action='https://collect.example/post'></form>",
            "<meta http-equiv='refresh' content='0; URL=\"http://redirect.example/\"'>",
            "<table background='http://bg.example/x.jpg'></table>",
            "<a href='#top'>top</a>",
        ));
        let got: Vec<(&str, UrlSource, Option<&str>)> = out
            .links
            .iter()
            .map(|l| (l.url.as_str(), l.source, l.anchor_text.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "http://evil.example/login",
                    UrlSource::Href,
                    Some("https://www.paypal.com")
                ),
                ("http://img.example/a.png", UrlSource::Src, None),
                ("https://collect.example/post", UrlSource::FormAction, None),
                ("http://redirect.example/", UrlSource::MetaRefresh, None),
                ("http://bg.example/x.jpg", UrlSource::Background, None),
            ]
        );
    }

    #[test]
    fn broken_markup_does_not_lose_text() {
        let out = r("<p>one<div>two</span></b><a href=x>three<p>four");
        assert_eq!(out.visible, "one\ntwothree\nfour");
        assert_eq!(out.links[0].anchor_text.as_deref(), Some("three four"));
    }

    #[test]
    fn deep_nesting_and_cut_input_are_bounded() {
        let deep = "<div>".repeat(10_000) + "x";
        assert_eq!(r(&deep).visible, "x");
        let out = render("<p>héllo world</p>", 3);
        assert!(out.visible.len() <= 3);
    }
}

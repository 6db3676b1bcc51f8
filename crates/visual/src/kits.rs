//! The loopback evaluation set: phishing-kit-like variants of each brand's login page (changed
//! text, colours, layout, logo size, an added banner, another font) and benign look-alikes
//! (other services' sign-in pages), served on 127.0.0.1 for the tests and `mailmoat
//! bench-visual`. Kits copy the brand's page and edit its CSS and wording, as real kits do.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One page of the set.
pub struct KitPage {
    /// URL path on the loopback server.
    pub path: String,
    /// The brand it imitates; None for a benign page.
    pub brand: Option<String>,
    pub html: String,
}

const BRAND_PAGES: &[(&str, &str, &str)] = &[
    (
        "paypal",
        "PayPal",
        include_str!("../brands/paypal/login.html"),
    ),
    (
        "microsoft",
        "Microsoft",
        include_str!("../brands/microsoft/login.html"),
    ),
    (
        "google",
        "Google",
        include_str!("../brands/google/login.html"),
    ),
    ("apple", "Apple", include_str!("../brands/apple/login.html")),
    ("dhl", "DHL", include_str!("../brands/dhl/login.html")),
    (
        "netflix",
        "Netflix",
        include_str!("../brands/netflix/login.html"),
    ),
    ("naver", "Naver", include_str!("../brands/naver/login.html")),
    ("kakao", "Kakao", include_str!("../brands/kakao/login.html")),
];

const BENIGN_PAGES: &[(&str, &str)] = &[
    ("gitlab", include_str!("../tests/benign/gitlab.html")),
    ("nextcloud", include_str!("../tests/benign/nextcloud.html")),
    ("roundcube", include_str!("../tests/benign/roundcube.html")),
    ("wordpress", include_str!("../tests/benign/wordpress.html")),
    ("mastodon", include_str!("../tests/benign/mastodon.html")),
    ("moodle", include_str!("../tests/benign/moodle.html")),
    ("bitwarden", include_str!("../tests/benign/bitwarden.html")),
    ("keycloak", include_str!("../tests/benign/keycloak.html")),
    (
        "acme-intranet",
        include_str!("../tests/benign/acme-intranet.html"),
    ),
    (
        "city-library",
        include_str!("../tests/benign/city-library.html"),
    ),
];

fn replace_between(html: &str, open: &str, close: &str, with: &str) -> String {
    match html.find(open) {
        Some(i) => {
            let start = i + open.len();
            match html[start..].find(close) {
                Some(j) => format!("{}{}{}", &html[..start], with, &html[start + j..]),
                None => html.to_string(),
            }
        }
        None => html.to_string(),
    }
}

fn with_text(html: &str, heading: &str, sub: &str, button: &str) -> String {
    let h = replace_between(html, "<h1 id=\"heading\">", "</h1>", heading);
    let s = replace_between(&h, "<p class=\"sub\" id=\"subtitle\">", "</p>", sub);
    replace_between(
        &s,
        "<button id=\"button\" type=\"submit\">",
        "</button>",
        button,
    )
}

fn with_css(html: &str, css: &str) -> String {
    html.replacen("</head>", &format!("<style>{css}</style></head>"), 1)
}

fn with_banner(html: &str, text: &str) -> String {
    html.replacen(
        "<body>",
        &format!("<body><div style=\"position:fixed;left:0;right:0;bottom:0;background:#b00020;color:#fff;padding:14px 24px;font:15px Arial\">{text}</div>"),
        1,
    )
}

/// Kit variants of one brand page, named.
fn variants(html: &str) -> Vec<(&'static str, String)> {
    let text = |h: &str| {
        with_text(
            h,
            "Verify your identity",
            "We noticed unusual activity. Confirm your details within 24 hours to keep access.",
            "Continue",
        )
    };
    let colours = "body{background:#eaf2ff !important;color:#222 !important} .card{background:#fffdf4 !important;border-color:#c9b458 !important} button{background:#2e7d32 !important;color:#fff !important} .bar{background:#e8e8e8 !important}";
    let layout = ".wrap{display:block !important;padding:150px 0 0 430px !important} .card{width:430px !important;border-radius:0 !important} .logo{left:220px !important;top:70px !important} .bar{height:120px !important;padding-left:140px !important}";
    let logo_big = "svg{transform:scale(1.3);transform-origin:top left;margin-bottom:20px}";
    let logo_small = "svg{transform:scale(0.8);transform-origin:top left} body{font-family:Georgia,serif !important}";
    vec![
        ("text", text(html)),
        ("colours", with_css(html, colours)),
        ("layout", with_css(html, layout)),
        (
            "logo-banner",
            with_banner(
                &with_css(html, logo_big),
                "Security notice: your account is on hold",
            ),
        ),
        (
            "combined",
            with_css(&text(html), &format!("{colours} {layout} {logo_small}")),
        ),
    ]
}

/// The whole set: five kits per brand page, and each benign page as written and reworded.
pub fn pages() -> Vec<KitPage> {
    let mut out = Vec::new();
    for (slug, name, html) in BRAND_PAGES {
        for (variant, page) in variants(html) {
            out.push(KitPage {
                path: format!("/kit/{slug}/{variant}.html"),
                brand: Some(name.to_string()),
                html: page,
            });
        }
    }
    for (slug, html) in BENIGN_PAGES {
        out.push(KitPage {
            path: format!("/benign/{slug}.html"),
            brand: None,
            html: html.to_string(),
        });
        out.push(KitPage {
            path: format!("/benign/{slug}-reworded.html"),
            brand: None,
            html: with_text(
                html,
                "Welcome back",
                "Sign in to continue to your dashboard.",
                "Log in",
            ),
        });
    }
    out
}

/// A loopback HTTP server for the set; counts requests (for the SSRF test).
pub struct KitServer {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
}

impl KitServer {
    pub fn start(pages: &[KitPage]) -> std::io::Result<KitServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let map: Arc<HashMap<String, String>> = Arc::new(
            pages
                .iter()
                .map(|p| (p.path.clone(), p.html.clone()))
                .collect(),
        );
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                counter.fetch_add(1, Ordering::Relaxed);
                let map = map.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 8192];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let reply = match map.get(&path) {
                        Some(body) => format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                    };
                    let _ = s.write_all(reply.as_bytes());
                });
            }
        });
        Ok(KitServer { addr, requests })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

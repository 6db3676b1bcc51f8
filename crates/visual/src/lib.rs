//! Visual analysis of links: the landing page opened in headless Chromium (through a proxy
//! that refuses internal destinations), screenshotted, and compared with reference looks of
//! protected brands. Phishing text and URLs change with each campaign; what the page looks like
//! does not. A page that looks like brand X on a site that is not X's is
//! URL_VISUAL_BRAND_IMPERSONATION.

pub mod brands;
pub mod browser;
pub mod features;
pub mod kits;
pub mod proxy;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use mailmoat_core::{Action, Category, Findings, Risk, SymbolDef};
use mailmoat_detectors::Detector;
use mailmoat_mime::MessageView;

use brands::Reference;
use browser::{capture, Limits};
use features::{cosine, hash_similarity, mark_similarity, page_features, PageFeatures};

pub const SYMBOLS: &[SymbolDef] = &[
    // From the threshold (0.80) up this alone reaches quarantine (12); the floor holds it there
    // whatever else the message scores.
    SymbolDef::threat(
        "URL_VISUAL_BRAND_IMPERSONATION",
        "phishing",
        Category::Phishing,
        15.0,
        (Action::Quarantine, Risk::High),
        "A linked page, opened in an isolated headless browser, looks like a protected brand's login page (its logo or the whole page) but is not on the brand's own domain; strength is the visual similarity.",
    ),
    SymbolDef::new("URL_VISUAL_BLOCKED_DESTINATION", "urls", Category::Phishing,
        1.0,
        "A linked page tried to reach an internal address (private, loopback, link-local or reserved): refused by the browser's proxy. Links in outside mail have no business there.",
    ),
    SymbolDef::new("URL_VISUAL_FAILED", "urls", Category::Phishing,
        0.0,
        "A linked page could not be opened for the visual check (timeout, unreachable, browser failure): recorded, and the message moves on by policy.",
    ),
];

/// `[url_visual]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Off by default: it fetches links from the internet and needs Chromium.
    pub enabled: bool,
    /// The browser; unset: chromium, chromium-browser, google-chrome or headless_shell on PATH.
    pub chromium: Option<PathBuf>,
    /// More brand references (folders of brand.toml, reference.png, logo.png).
    pub references: Option<PathBuf>,
    /// Links opened per message (the first distinct ones, in the order the message shows them).
    pub max_urls: usize,
    /// Per link, from start to screenshot.
    pub timeout_ms: u64,
    /// Bytes a page may download.
    pub max_bytes: u64,
    /// Similarity from which a look counts as the brand's.
    pub threshold: f32,
    /// Screenshots of flagged pages are kept here (by SHA-256, relative to the configuration
    /// file) for the report; "" keeps none.
    pub screenshots_dir: Option<PathBuf>,
    /// Lets pages reach loopback addresses. Only for the loopback test pages: never in
    /// production, where it would open the gateway's own services to links in mail.
    pub allow_loopback_for_tests: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: false,
            chromium: None,
            references: None,
            max_urls: 3,
            timeout_ms: 8000,
            max_bytes: 8 << 20,
            threshold: 0.80,
            screenshots_dir: Some(PathBuf::from("var/screenshots")),
            allow_loopback_for_tests: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("[url_visual] is enabled but no Chromium was found ({0}); install the chromium package or set chromium = \"/path\"")]
    NoChromium(String),
    #[error("[url_visual] brand references: {0}")]
    References(String),
}

/// The best brand a page looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct Resemblance {
    pub brand: String,
    pub similarity: f32,
    /// Best logo match and where on the page.
    pub logo_similarity: f32,
    pub logo_at: Option<(u32, u32, u32, u32)>,
    /// Whole-page similarity (layout and perceptual hash).
    pub page_similarity: f32,
}

/// Compares a page with every reference; the brand it looks most like.
pub fn resemblance(page: &PageFeatures, references: &[Reference]) -> Option<Resemblance> {
    references
        .iter()
        .map(|r| {
            let (logo_similarity, logo_at) = page
                .marks
                .iter()
                .map(|m| (mark_similarity(&r.logo, m), Some(m.bounds)))
                .fold(
                    (0.0f32, None),
                    |best, x| if x.0 > best.0 { x } else { best },
                );
            let layout = cosine(&page.layout, &r.page.layout);
            let hashes = 0.5
                * (hash_similarity(page.phash, r.page.phash)
                    + hash_similarity(page.dhash, r.page.dhash));
            let page_similarity = if hashes >= 0.9 {
                layout.min(hashes)
            } else {
                0.0
            };
            // Sign-in pages share one layout (logo, two fields, a button), so the whole page
            // alone says little: it lifts a partly matching logo (redrawn, recoloured), never
            // stands in for one. Benign look-alikes reached 0.97 on the page alone.
            let similarity = if logo_similarity >= 0.5 {
                logo_similarity.max(page_similarity)
            } else {
                logo_similarity
            };
            Resemblance {
                brand: r.name.clone(),
                similarity,
                logo_similarity,
                logo_at,
                page_similarity,
            }
        })
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
}

/// Is `host` the brand's own (one of its domains or under one)?
fn within(host: &str, domains: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    domains.iter().any(|d| {
        let d = d.to_ascii_lowercase();
        host == d || host.ends_with(&format!(".{d}"))
    })
}

/// host:port as the proxy logs it.
fn authority_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Some(format!("{host}:{}", u.port_or_known_default()?))
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .host_str()
        .map(str::to_ascii_lowercase)
}

pub struct VisualAnalyzer {
    chromium: PathBuf,
    references: Vec<Reference>,
    limits: Limits,
    max_urls: usize,
    threshold: f32,
    screenshots_dir: Option<PathBuf>,
}

impl Config {
    /// None when disabled. `brand_domains` is the brand list (name, domains) of the
    /// impersonation detector: a brand's own pages are never impersonation.
    pub fn build(
        &self,
        base_dir: &Path,
        brand_domains: &[(String, Vec<String>)],
    ) -> Result<Option<VisualAnalyzer>, BuildError> {
        if !self.enabled {
            return Ok(None);
        }
        let configured = self.chromium.as_ref().map(|p| base_dir.join(p));
        let chromium = browser::find_chromium(configured.as_deref()).ok_or_else(|| {
            BuildError::NoChromium(
                configured
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "not on PATH".into()),
            )
        })?;
        let extra = self.references.as_ref().map(|p| base_dir.join(p));
        let mut references = brands::load(extra.as_deref()).map_err(BuildError::References)?;
        for r in &mut references {
            if let Some((_, domains)) = brand_domains
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&r.name))
            {
                r.domains.extend(domains.iter().cloned());
            }
        }
        Ok(Some(VisualAnalyzer {
            chromium,
            references,
            limits: Limits {
                deadline: Duration::from_millis(self.timeout_ms),
                byte_budget: self.max_bytes,
                allow_loopback: self.allow_loopback_for_tests,
                ..Limits::default()
            },
            max_urls: self.max_urls,
            threshold: self.threshold,
            screenshots_dir: self
                .screenshots_dir
                .as_ref()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| base_dir.join(p)),
        }))
    }
}

/// What one link's visit found.
#[derive(Debug)]
pub struct Visit {
    pub url: String,
    pub final_url: String,
    pub resemblance: Option<Resemblance>,
    pub png: Vec<u8>,
    pub refused: Vec<String>,
    /// The link's own site could not be reached (so the screenshot is the browser's error page).
    pub unreachable: Option<String>,
    pub elapsed: Duration,
}

impl VisualAnalyzer {
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// Opens one URL and compares what it shows with the references.
    pub fn visit(&self, url: &str) -> Result<Visit, browser::CaptureError> {
        let shot = capture(&self.chromium, url, &self.limits)?;
        let img = image::load_from_memory(&shot.png)
            .map_err(|e| browser::CaptureError::Browser(format!("screenshot unreadable: {e}")))?
            .to_rgb8();
        let page = page_features(&img);
        Ok(Visit {
            url: url.to_string(),
            final_url: shot.final_url,
            resemblance: resemblance(&page, &self.references),
            png: shot.png,
            unreachable: authority_of(url).and_then(|own| {
                shot.proxy
                    .unreachable
                    .iter()
                    .find(|u| u.starts_with(&format!("{own}: ")))
                    .cloned()
            }),
            refused: shot.proxy.refused,
            elapsed: shot.elapsed,
        })
    }

    /// The brand a visit impersonates: looks like it, and neither the link nor where the
    /// browser ended up is the brand's own site.
    pub fn impersonated<'a>(&'a self, visit: &'a Visit) -> Option<&'a Resemblance> {
        let r = visit
            .resemblance
            .as_ref()
            .filter(|r| r.similarity >= self.threshold)?;
        let brand = self.references.iter().find(|b| b.name == r.brand)?;
        let own = [&visit.url, &visit.final_url]
            .iter()
            .filter_map(|u| host_of(u))
            .any(|h| within(&h, &brand.domains));
        (!own).then_some(r)
    }

    /// Links a reader would follow, that could be someone else's page: http(s) links, text
    /// URLs, form targets, redirects and QR codes; not images (opening a tracking pixel tells
    /// the sender the message was read), not unsubscribe links (opening one unsubscribes), and
    /// not the protected brands' own sites (they cannot impersonate themselves).
    fn worth_visiting(&self, u: &mailmoat_mime::UrlRef) -> bool {
        use mailmoat_mime::UrlSource;
        let url = u.url.to_ascii_lowercase();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return false;
        }
        if matches!(u.source, UrlSource::Src | UrlSource::Background) {
            return false;
        }
        let anchor = u.anchor_text.as_deref().unwrap_or("").to_lowercase();
        const UNSUBSCRIBE: &[&str] = &[
            "unsubscribe",
            "optout",
            "opt-out",
            "opt_out",
            "수신거부",
            "수신 거부",
        ];
        if UNSUBSCRIBE
            .iter()
            .any(|w| url.contains(w) || anchor.contains(w))
        {
            return false;
        }
        let host = u.host.as_deref().unwrap_or("");
        !self.references.iter().any(|b| within(host, &b.domains))
    }

    fn keep_screenshot(&self, png: &[u8]) -> Option<String> {
        let dir = self.screenshots_dir.as_ref()?;
        let hash = hex(&Sha256::digest(png));
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join(format!("{hash}.png"));
        if !path.exists() {
            std::fs::write(&path, png).ok()?;
        }
        Some(hash)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Detector for VisualAnalyzer {
    fn name(&self) -> &'static str {
        "url_visual"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        let mut seen = HashSet::new();
        let links = view
            .urls
            .iter()
            .filter(|u| self.worth_visiting(u) && seen.insert(u.url.as_str()));
        for link in links.take(self.max_urls) {
            match self.visit(&link.url) {
                Ok(visit) => {
                    if !visit.refused.is_empty() {
                        findings.add(
                            "URL_VISUAL_BLOCKED_DESTINATION",
                            format!(
                                "{} asked for internal destinations, refused: {}",
                                link.url,
                                visit.refused.join("; ")
                            ),
                            link.location.clone(),
                        );
                    }
                    if let Some(why) = &visit.unreachable {
                        findings.add(
                            "URL_VISUAL_FAILED",
                            format!("{}: the site could not be reached ({why})", link.url),
                            link.location.clone(),
                        );
                        continue;
                    }
                    if let Some(r) = self.impersonated(&visit) {
                        let shot = self
                            .keep_screenshot(&visit.png)
                            .map(|h| format!("; screenshot {h}"))
                            .unwrap_or_default();
                        findings.add_with_strength(
                            "URL_VISUAL_BRAND_IMPERSONATION",
                            r.similarity as f64,
                            format!(
                                "{} looks like {}'s login page (similarity {:.2}: logo {:.2}, whole page {:.2}) but is on {}{shot}",
                                link.url,
                                r.brand,
                                r.similarity,
                                r.logo_similarity,
                                r.page_similarity,
                                host_of(&visit.final_url).unwrap_or_else(|| visit.final_url.clone()),
                            ),
                            link.location.clone(),
                        );
                    }
                }
                Err(e) => findings.add(
                    "URL_VISUAL_FAILED",
                    format!("{}: {e}", link.url),
                    link.location.clone(),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer_with_paypal() -> VisualAnalyzer {
        let mut references = brands::load(None).expect("built-in references");
        for r in &mut references {
            if r.name == "PayPal" {
                r.domains.push("paypal.com".into());
            }
        }
        VisualAnalyzer {
            chromium: PathBuf::from("/nonexistent"),
            references,
            limits: Limits::default(),
            max_urls: 3,
            threshold: 0.8,
            screenshots_dir: None,
        }
    }

    fn visit(url: &str, final_url: &str, similarity: f32) -> Visit {
        Visit {
            url: url.into(),
            final_url: final_url.into(),
            resemblance: Some(Resemblance {
                brand: "PayPal".into(),
                similarity,
                logo_similarity: similarity,
                logo_at: None,
                page_similarity: 0.0,
            }),
            png: Vec::new(),
            refused: Vec::new(),
            unreachable: None,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn a_brand_look_is_impersonation_only_off_the_brands_own_domains() {
        let a = analyzer_with_paypal();
        let elsewhere = visit(
            "https://secure-account.example/pp",
            "https://secure-account.example/pp",
            0.95,
        );
        assert_eq!(
            a.impersonated(&elsewhere).map(|r| r.brand.as_str()),
            Some("PayPal")
        );
        let own = visit(
            "https://www.paypal.com/signin",
            "https://www.paypal.com/signin",
            0.99,
        );
        assert!(a.impersonated(&own).is_none());
        // A tracking link that lands on the brand's own site is the brand.
        let tracked = visit(
            "https://click.mailer.example/x",
            "https://www.paypal.com/signin",
            0.99,
        );
        assert!(a.impersonated(&tracked).is_none());
        // Look-alike domains are not the brand's.
        let lookalike = visit(
            "https://paypal.com.evil.example/",
            "https://paypal.com.evil.example/",
            0.9,
        );
        assert!(a.impersonated(&lookalike).is_some());
        let faint = visit(
            "https://secure-account.example/pp",
            "https://secure-account.example/pp",
            0.5,
        );
        assert!(a.impersonated(&faint).is_none());
    }

    #[test]
    fn only_links_a_reader_would_follow_to_someone_elses_site_are_visited() {
        let a = analyzer_with_paypal();
        let raw = b"From: a@example.org\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n\
<a href=\"https://secure-check.example/login\">Sign in</a>\
<img src=\"https://tracker.example/p.gif\">\
<a href=\"https://news.example/u?id=1\">Unsubscribe</a>\
<a href=\"https://list.example/unsubscribe/77\">here</a>\
<a href=\"https://www.paypal.com/help\">help</a>\
<a href=\"mailto:x@example.org\">mail</a> see also https://other.example/path";
        let view = MessageView::build(raw.to_vec(), Default::default(), &Default::default());
        let visited: Vec<&str> = view
            .urls
            .iter()
            .filter(|u| a.worth_visiting(u))
            .map(|u| u.url.as_str())
            .collect();
        assert_eq!(
            visited,
            [
                "https://secure-check.example/login",
                "https://other.example/path"
            ]
        );
    }

    #[test]
    fn every_built_in_reference_matches_itself_and_no_other_brand() {
        let refs = brands::load(None).unwrap();
        assert_eq!(refs.len(), brands::built_in_slugs().len());
        for r in &refs {
            let best = resemblance(&r.page, &refs).unwrap();
            assert_eq!(best.brand, r.name, "{}'s own page is itself", r.name);
            assert!(best.similarity > 0.95, "{} {}", r.name, best.similarity);
        }
    }
}

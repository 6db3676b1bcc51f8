//! Static analysis of every URL in the message: the tricks phishing links use, judged from the
//! URL alone (nothing is fetched). Anchor text that shows one domain while the link goes to
//! another; hosts written as numbers or with credentials in front; look-alike and punycode
//! hosts; brand names in the subdomain, the domain or the path of a site that is not the
//! brand's; redirectors and their targets (each target is judged too); `javascript:` and
//! `data:` links; credential words; very long URLs and deep subdomains.
//!
//! Brands come from the impersonation detector's list (built-in, configured and our own
//! domains), so one list serves both.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use mailmoat_core::{Category, Findings, Location, SymbolDef};
use mailmoat_mime::{MessageView, UrlRef, UrlSource};
use serde::Deserialize;

use crate::impersonation::{self, ascii_domain, label_of, registrable, skeleton_of, within};
use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("URL_ANCHOR_MISMATCH", "urls", Category::Phishing, 5.0, "A link whose visible text shows a brand's domain (or ours) while it leads to a site that is not the brand's (\"www.paypal.com\" over a link to evil.example): the reader is told where they are going and sent elsewhere."),
    SymbolDef::new("URL_ANCHOR_OTHER_DOMAIN", "urls", Category::Phishing, 0.0, "A link whose visible text shows another domain than the one it leads to. Newsletters do this through their click-tracking hosts. Weight 0 since session 24: it fires on 1.2 % of the newer ham in the time split (issue 22's rule: more than 0.5 % of ham in a held-out test, and its weight is learned or it goes). Its weight is learned by the classifier, through `sig:anchor_other_domain`; it still shows in reports and serves rules and the learned fusion."),
    SymbolDef::new("URL_USERINFO", "urls", Category::Phishing, 4.0, "A URL with a host name before an @ (http://paypal.com@evil.example/): browsers go to what follows the @, readers see what precedes it."),
    SymbolDef::new("URL_IP_ENCODED", "urls", Category::Phishing, 4.0, "A link to an IP address written as one number, in hexadecimal or octal (http://3232235777/): no legitimate sender writes addresses this way; it hides the host from people and filters."),
    SymbolDef::new("URL_BRAND_LOOKALIKE", "urls", Category::Phishing, 6.0, "A link to a domain that looks like a brand's (homoglyphs, punycode, swapped letters) but is not one of its domains."),
    SymbolDef::new("URL_BRAND_IN_SUBDOMAIN", "urls", Category::Phishing, 4.0, "A brand's name as a subdomain of an unrelated site (paypal.com.account-check.example): the start of the host reads like the brand."),
    SymbolDef::new("URL_BRAND_IN_DOMAIN", "urls", Category::Phishing, 3.0, "A brand's name inside another registered domain (paypal-secure-login.example)."),
    SymbolDef::new("URL_BRAND_IN_PATH", "urls", Category::Phishing, 1.0, "A brand's domain in the path of an unrelated site (evil.example/paypal.com/signin), as phishing kits lay out their pages (content delivery networks do it too: weak alone)."),
    SymbolDef::new("URL_PUNYCODE", "urls", Category::Phishing, 1.0, "A link to an internationalised (punycode, xn--) host. Common for some languages, and the way homoglyph look-alikes are written."),
    SymbolDef::new("URL_REDIRECTOR", "urls", Category::Phishing, 1.0, "A link through a redirect that carries its destination in a parameter (?url=https://…): the visible host is a trusted site, the destination is another; the destination is analysed too."),
    SymbolDef::new("URL_JAVASCRIPT_SCHEME", "urls", Category::Phishing, 3.0, "A javascript: link: clicking it runs script instead of opening a page."),
    SymbolDef::new("URL_DATA_SCHEME", "urls", Category::Phishing, 5.0, "A data: link holding a page or script (data:text/html…): the whole phishing page travels inside the link, with no host to block."),
    SymbolDef::new("URL_CREDENTIAL_WORDS", "urls", Category::Phishing, 0.0, "A link whose path or query asks to sign in, verify, unlock or update an account, to a site that is none of the brands'. Weight 0 since session 24: it fires on 5.9 % of the newer ham in the time split (issue 22's rule: more than 0.5 % of ham in a held-out test, and its weight is learned or it goes). Its weight is learned by the classifier, through the words of link paths (`up:`); it still shows in reports and serves rules and the learned fusion."),
    SymbolDef::new("URL_DEEP_SUBDOMAINS", "urls", Category::Phishing, 1.0, "A host with five or more labels in front of its registered domain, a way to push the real domain out of sight."),
    SymbolDef::new("URL_VERY_LONG", "urls", Category::Phishing, 0.5, "A URL longer than 300 characters (tracking links are long too: weak alone)."),
];

/// `[detectors.url_analysis]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Query parameters whose value, when it is a URL, is where a redirector sends the reader.
    pub redirect_parameters: Vec<String>,
    /// Hosts (and their subdomains) whose links are not judged: your own services, trusted
    /// tracking domains of your mailing partners.
    pub trusted_hosts: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            redirect_parameters: [
                "url",
                "u",
                "q",
                "redirect",
                "redirect_uri",
                "redirect_url",
                "redir",
                "next",
                "target",
                "dest",
                "destination",
                "continue",
                "return",
                "returnurl",
                "goto",
                "link",
                "r",
                "to",
                "out",
            ]
            .map(String::from)
            .to_vec(),
            trusted_hosts: Vec::new(),
        }
    }
}

/// Words of credential pages in paths and queries.
const CREDENTIAL_WORDS: &[&str] = &[
    "login",
    "log-in",
    "signin",
    "sign-in",
    "logon",
    "verify",
    "verification",
    "validate",
    "unlock",
    "suspend",
    "suspended",
    "webscr",
    "account-update",
    "update-account",
    "secure-login",
    "confirm-account",
    "password",
    "passwd",
    "credential",
    "wp-login",
    "owa",
    "mailbox",
    "webmail",
    "authenticate",
    "reactivate",
];

struct Brand {
    name: String,
    domains: Vec<String>,
    /// The registrable label of its main domain ("paypal"), lower-case ASCII, at least 4
    /// characters (shorter ones are ordinary words inside other domains).
    labels: Vec<String>,
    /// Their confusable skeletons, for look-alikes.
    skeletons: Vec<String>,
}

pub struct UrlAnalysis {
    brands: Vec<Brand>,
    redirect_parameters: HashSet<String>,
    trusted: Vec<String>,
}

impl Config {
    pub fn build(&self, impersonation: &impersonation::Config) -> UrlAnalysis {
        let brands = impersonation
            .brand_list()
            .into_iter()
            .map(|(name, domains)| {
                // The brand's first (main) domain only: the others are often ordinary words
                // (outlook, live, office) that turn up in unrelated hosts and paths.
                let labels: Vec<String> = domains
                    .iter()
                    .take(1)
                    .filter_map(|d| label_of(d))
                    .filter(|l| l.is_ascii() && l.len() >= 4)
                    .map(|l| l.to_ascii_lowercase())
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let skeletons = labels.iter().map(|l| skeleton_of(l)).collect();
                Brand {
                    name,
                    domains,
                    labels,
                    skeletons,
                }
            })
            .collect();
        UrlAnalysis {
            brands,
            redirect_parameters: self
                .redirect_parameters
                .iter()
                .map(|p| p.to_ascii_lowercase())
                .collect(),
            trusted: self.trusted_hosts.iter().map(|h| ascii_domain(h)).collect(),
        }
    }
}

/// What a URL says about itself, parsed once.
struct Parsed {
    scheme: String,
    host: Option<String>,
    registrable: Option<String>,
    path_and_query: String,
    path: String,
    query_pairs: Vec<(String, String)>,
    has_userinfo: bool,
}

fn parse(raw: &str) -> Option<Parsed> {
    let raw = raw.trim();
    let url = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) if raw.starts_with("www.") => {
            url::Url::parse(&format!("http://{raw}")).ok()?
        }
        Err(_) => return None,
    };
    let host = url
        .host_str()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase());
    let registrable = host
        .as_deref()
        .filter(|h| h.parse::<Ipv4Addr>().is_err() && !h.starts_with('['))
        .map(registrable);
    let mut path_and_query = url.path().to_string();
    if let Some(q) = url.query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    Some(Parsed {
        scheme: url.scheme().to_ascii_lowercase(),
        // Only a name that reads as a host deceives ("paypal.com@…"); "user:password@" is
        // how people write credentials into URLs.
        has_userinfo: url.username().contains('.'),
        query_pairs: url
            .query_pairs()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
            .collect(),
        host,
        registrable,
        path: url.path().to_string(),
        path_and_query,
    })
}

/// A host written as one number, hexadecimal or octal parts (what `url` turns back into a
/// dotted address): the raw authority is looked at, not the parsed host.
fn encoded_ip(raw: &str) -> Option<String> {
    let after = raw.split_once("://")?.1;
    let authority = after.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?.split(':').next()?;
    if host.is_empty() || host.parse::<Ipv4Addr>().is_ok() {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    let numeric = parts.iter().all(|p| {
        let p = p.to_ascii_lowercase();
        !p.is_empty()
            && (p.chars().all(|c| c.is_ascii_digit())
                || (p.starts_with("0x") && p[2..].chars().all(|c| c.is_ascii_hexdigit())))
    });
    let odd = parts.len() < 4
        || parts.iter().any(|p| {
            let p = p.to_ascii_lowercase();
            p.starts_with("0x") || (p.len() > 1 && p.starts_with('0'))
        });
    (numeric && odd && parts.len() <= 4).then(|| host.to_string())
}

/// A domain shown in a link's text ("www.paypal.com", "https://paypal.com/signin"), if any.
fn shown_domain(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches(['.', ',', ';', ':', ')']);
    if t.is_empty() || t.contains(char::is_whitespace) || !t.contains('.') {
        return None;
    }
    let t = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .unwrap_or(t);
    let host = t.split(['/', '?', '#']).next()?;
    if host.contains('@') || host.starts_with('.') || host.ends_with('.') {
        return None;
    }
    let ascii = ascii_domain(host);
    // Only something with a real public suffix is a domain ("v1.2" or "file.pdf" are not).
    psl::suffix(ascii.as_bytes())
        .filter(|s| s.is_known())
        .and_then(|_| psl::domain_str(&ascii))
        .map(str::to_string)
}

/// The domain a link's text shows when it is not the registrable domain the link leads to.
fn shown_other_domain(anchor: &str, registrable: &str) -> Option<String> {
    shown_domain(anchor).filter(|claimed| claimed != registrable)
}

/// For a web link (`href`) whose text shows a domain other than the one it leads to
/// ("www.mybank.com" over a link to click.tracker.net): the domain shown. What
/// URL_ANCHOR_OTHER_DOMAIN and URL_ANCHOR_MISMATCH start from, before brands and trusted
/// hosts are considered; a feature of the classifier.
pub fn anchor_shows_other_domain(link: &UrlRef) -> Option<String> {
    if link.source != UrlSource::Href {
        return None;
    }
    // The text first: most anchors show no domain, and then the URL need not be parsed.
    let claimed = shown_domain(link.anchor_text.as_deref()?)?;
    let p = parse(&link.url).filter(|p| p.scheme == "http" || p.scheme == "https")?;
    (claimed != p.registrable?).then_some(claimed)
}

impl UrlAnalysis {
    fn brand_of(&self, host: &str) -> Option<&Brand> {
        self.brands
            .iter()
            .find(|b| b.domains.iter().any(|d| within(host, d)))
    }

    fn trusted(&self, host: &str) -> bool {
        self.trusted.iter().any(|t| within(host, t))
    }

    /// Checks one URL; `depth` 1 for a redirect's destination (judged once more, no deeper).
    fn check(&self, raw: &str, link: &UrlRef, depth: usize, findings: &mut Findings) {
        let location = &link.location;
        let shown = mailmoat_mime::display_safe(raw);
        let lower = raw.trim().to_ascii_lowercase();
        if lower.starts_with("javascript:") {
            findings.add(
                "URL_JAVASCRIPT_SCHEME",
                format!("link runs script: {}", truncate(&shown, 120)),
                location.clone(),
            );
            return;
        }
        if let Some(rest) = lower.strip_prefix("data:") {
            let kind = rest.split([';', ',']).next().unwrap_or("");
            if matches!(
                kind,
                "text/html"
                    | "application/xhtml+xml"
                    | "image/svg+xml"
                    | "text/javascript"
                    | "application/javascript"
                    | "application/x-javascript"
            ) && link.source != UrlSource::Src
            {
                findings.add(
                    "URL_DATA_SCHEME",
                    format!(
                        "link carries a whole {kind} document ({} characters)",
                        raw.len()
                    ),
                    location.clone(),
                );
            }
            return;
        }
        let Some(p) = parse(raw) else { return };
        if p.scheme != "http" && p.scheme != "https" {
            return;
        }
        let Some(host) = p.host.as_deref() else {
            return;
        };
        if self.trusted(host) {
            return;
        }
        let own_brand = self.brand_of(host);
        if p.has_userinfo {
            findings.add(
                "URL_USERINFO",
                format!(
                    "{} goes to {host}, not to what stands before the @",
                    truncate(&shown, 120)
                ),
                location.clone(),
            );
        }
        if let Some(ip) = encoded_ip(raw) {
            findings.add(
                "URL_IP_ENCODED",
                format!("host {ip} is an IP address in disguise ({host})"),
                location.clone(),
            );
        }
        // The anchor text names another domain than the link's.
        if depth == 0 && link.source == UrlSource::Href {
            if let (Some(text), Some(reg)) = (link.anchor_text.as_deref(), p.registrable.as_deref())
            {
                if let Some(claimed) = shown_other_domain(text, reg) {
                    let same_brand = self
                        .brand_of(&claimed)
                        .zip(own_brand)
                        .is_some_and(|(a, b)| std::ptr::eq(a, b));
                    if !same_brand {
                        let symbol = match self.brand_of(&claimed) {
                            Some(_) => "URL_ANCHOR_MISMATCH",
                            None => "URL_ANCHOR_OTHER_DOMAIN",
                        };
                        findings.add(
                            symbol,
                            format!("the link shows {claimed} but goes to {host}"),
                            location.clone(),
                        );
                    }
                }
            }
        }
        if host.split('.').any(|l| l.starts_with("xn--")) {
            findings.add(
                "URL_PUNYCODE",
                format!("{host} is {}", idna::domain_to_unicode(host).0),
                location.clone(),
            );
        }
        if own_brand.is_none() {
            self.brand_checks(&p, host, location, findings);
            let path = p.path_and_query.to_ascii_lowercase();
            if let Some(word) = CREDENTIAL_WORDS.iter().find(|w| contains_word(&path, w)) {
                findings.add(
                    "URL_CREDENTIAL_WORDS",
                    format!("{host}{} asks to {word}", truncate(&p.path_and_query, 80)),
                    location.clone(),
                );
            }
        }
        if let Some(reg) = p.registrable.as_deref() {
            let depth_labels = host
                .strip_suffix(reg)
                .map(|sub| sub.split('.').filter(|l| !l.is_empty()).count())
                .unwrap_or(0);
            if depth_labels >= 5 {
                findings.add(
                    "URL_DEEP_SUBDOMAINS",
                    format!("{host}: {depth_labels} labels in front of {reg}"),
                    location.clone(),
                );
            }
        }
        if raw.len() > 300 {
            findings.add(
                "URL_VERY_LONG",
                format!("{} characters, to {host}", raw.len()),
                location.clone(),
            );
        }
        // A destination carried in a parameter: the redirect, then the destination itself.
        if depth == 0 {
            for (key, value) in &p.query_pairs {
                if !self.redirect_parameters.contains(key) {
                    continue;
                }
                let target = value.trim();
                let target = match target.strip_prefix("//") {
                    Some(rest) => format!("https://{rest}"),
                    None => target.to_string(),
                };
                let Some(t) = parse(&target).filter(|t| t.scheme == "http" || t.scheme == "https")
                else {
                    continue;
                };
                let (Some(to), Some(to_reg)) = (t.host.as_deref(), t.registrable.as_deref()) else {
                    continue;
                };
                if Some(to_reg) == p.registrable.as_deref() {
                    continue;
                }
                findings.add(
                    "URL_REDIRECTOR",
                    format!("{host} sends the reader on to {to} (parameter {key})"),
                    location.clone(),
                );
                let mut inner = link.clone();
                inner.location = location.child(format!("redirect to {to}"));
                self.check(&target, &inner, 1, findings);
                break;
            }
        }
    }

    fn brand_checks(&self, p: &Parsed, host: &str, location: &Location, findings: &mut Findings) {
        let Some(reg) = p.registrable.as_deref() else {
            return;
        };
        let sub = host.strip_suffix(reg).unwrap_or("").trim_end_matches('.');
        let reg_label = label_of(reg).unwrap_or_default().to_ascii_lowercase();
        let reg_skeleton = skeleton_of(&label_of(reg).unwrap_or_default());
        for brand in &self.brands {
            // A look-alike of the brand's own registered name.
            if reg_label.len() >= 4
                && !brand.labels.contains(&reg_label)
                && brand.skeletons.contains(&reg_skeleton)
            {
                findings.add(
                    "URL_BRAND_LOOKALIKE",
                    format!(
                        "{host} looks like {} ({})",
                        brand.name,
                        brand.domains.join(", ")
                    ),
                    location.clone(),
                );
                return;
            }
            for label in &brand.labels {
                if sub.split(['.', '-']).any(|l| l == label) {
                    findings.add(
                        "URL_BRAND_IN_SUBDOMAIN",
                        format!("{host}: {} in front of the unrelated {reg}", brand.name),
                        location.clone(),
                    );
                    return;
                }
                if reg_label != *label && reg_label.split('-').any(|l| l == label) {
                    findings.add(
                        "URL_BRAND_IN_DOMAIN",
                        format!(
                            "{reg} is not {}'s, though its name holds \"{label}\"",
                            brand.name
                        ),
                        location.clone(),
                    );
                    return;
                }
            }
        }
        // The path only: queries carry redirect targets, judged as such.
        let path = p.path.to_ascii_lowercase();
        for brand in &self.brands {
            let named = brand.domains.iter().any(|d| path_names_domain(&path, d));
            if named {
                findings.add(
                    "URL_BRAND_IN_PATH",
                    format!(
                        "{host}{} names {} in the path",
                        truncate(&p.path_and_query, 80),
                        brand.name
                    ),
                    location.clone(),
                );
                return;
            }
        }
    }
}

/// `domain` in a URL path as a name of its own: after the start, '/', '.', '-' or '_', and
/// before the end or one of "/?#-_" ("/paypal.com/login", not "/mypaypal.community").
fn path_names_domain(path: &str, domain: &str) -> bool {
    if domain.contains(['-', '_']) {
        return path.match_indices(domain).any(|(i, _)| {
            let end = i + domain.len();
            (i == 0 || matches!(path.as_bytes()[i - 1], b'/' | b'.' | b'-' | b'_'))
                && (end == path.len()
                    || matches!(path.as_bytes()[end], b'/' | b'?' | b'#' | b'-' | b'_'))
        });
    }
    // Without a separator inside the name, a match is the end of a piece between separators:
    // no substring search (and its set-up per brand) for every URL.
    path.split(['/', '?', '#', '-', '_']).any(|piece| {
        piece
            .strip_suffix(domain)
            .is_some_and(|head| head.is_empty() || head.ends_with('.'))
    })
}

/// `word` in `text` between non-letters ("login" in "/login.php", not in "/blogging").
fn contains_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(word).any(|(i, _)| {
        let before = i == 0 || !bytes[i - 1].is_ascii_alphabetic();
        let end = i + word.len();
        let after = end >= bytes.len() || !bytes[end].is_ascii_alphabetic();
        before && after
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

impl Detector for UrlAnalysis {
    fn name(&self) -> &'static str {
        "url_analysis"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        // The same URL repeated (a header logo on every row) is judged once.
        let mut seen: HashSet<(&str, Option<&str>)> = HashSet::new();
        for link in &view.urls {
            if seen.insert((link.url.as_str(), link.anchor_text.as_deref())) {
                self.check(&link.url, link, 0, findings);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis() -> UrlAnalysis {
        Config::default().build(&impersonation::Config::default())
    }

    #[test]
    fn a_domain_in_a_path_counts_only_as_a_name_of_its_own() {
        for (path, domain, named) in [
            ("/paypal.com/login", "paypal.com", true),
            ("paypal.com", "paypal.com", true),
            ("/secure.paypal.com", "paypal.com", true),
            ("/x-paypal.com_y", "paypal.com", true),
            ("/mypaypal.com/", "paypal.com", false),
            ("/paypal.community", "paypal.com", false),
            ("/paypal.com.evil/", "paypal.com", false),
            ("/a/naver-corp.com/b", "naver-corp.com", true),
            ("/a/xnaver-corp.com", "naver-corp.com", false),
            ("/", "paypal.com", false),
        ] {
            assert_eq!(path_names_domain(path, domain), named, "{path} / {domain}");
        }
    }

    fn symbols(url: &str, anchor: Option<&str>) -> Vec<String> {
        let link = UrlRef {
            url: url.to_string(),
            host: None,
            source: UrlSource::Href,
            anchor_text: anchor.map(str::to_string),
            location: Location::new("body text/html"),
        };
        let mut f = Findings::new();
        analysis().check(url, &link, 0, &mut f);
        let mut out: Vec<String> = f.iter().map(|e| e.symbol.to_string()).collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn each_check_fires_on_its_trick_and_not_on_ordinary_links() {
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            (
                "https://evil.example/x",
                Some("www.paypal.com"),
                &["URL_ANCHOR_MISMATCH"],
            ),
            (
                "https://ummail4.unitedmedia.example/x",
                Some("dilbert.com"),
                &["URL_ANCHOR_OTHER_DOMAIN"],
            ),
            ("https://www.paypal.com/signin", Some("www.paypal.com"), &[]),
            ("https://click.paypal.com/t/1", Some("paypal.com"), &[]),
            ("https://www.paypal.com/x", Some("paypal.me"), &[]),
            ("https://evil.example/x", Some("Click here"), &[]),
            ("https://evil.example/x", Some("version 1.2"), &[]),
            ("http://paypal.com@evil.example/", None, &["URL_USERINFO"]),
            ("https://username:password@foobar.example/a/", None, &[]),
            (
                "http://3232235777/login",
                None,
                &["URL_IP_ENCODED", "URL_CREDENTIAL_WORDS"],
            ),
            ("http://0xC0.0xA8.0.1/", None, &["URL_IP_ENCODED"]),
            ("http://192.168.0.1/", None, &[]),
            ("https://paypa1.com/", None, &["URL_BRAND_LOOKALIKE"]),
            (
                "https://xn--pypal-4ve.com/",
                None,
                &["URL_BRAND_LOOKALIKE", "URL_PUNYCODE"],
            ),
            ("https://xn--9n2bp8q.com/", None, &["URL_PUNYCODE"]),
            (
                "https://paypal.com.account-check.example/",
                None,
                &["URL_BRAND_IN_SUBDOMAIN"],
            ),
            ("https://www.paypal.com/", None, &[]),
            (
                "https://paypal-secure-login.example/",
                None,
                &["URL_BRAND_IN_DOMAIN"],
            ),
            (
                "https://shop.example/paypal.com/",
                None,
                &["URL_BRAND_IN_PATH"],
            ),
            ("https://shop.example/pay-with-paypal-here", None, &[]),
            ("https://cdn.example/0715_apple.jpg", None, &[]),
            (
                "https://check.example/servlet?URL=http%3A%2F%2Fwww.microsoft.com%2F",
                None,
                &["URL_REDIRECTOR"],
            ),
            ("https://outlook.team.example/", None, &[]),
            ("https://shop.example/checkout", None, &[]),
            (
                "https://www.google.com/url?q=https://evil.example/login",
                None,
                &["URL_REDIRECTOR", "URL_CREDENTIAL_WORDS"],
            ),
            (
                "https://news.example/out?url=https://news.example/story",
                None,
                &[],
            ),
            (
                "javascript:alert(document.cookie)",
                None,
                &["URL_JAVASCRIPT_SCHEME"],
            ),
            ("data:text/html;base64,PGh0bWw+", None, &["URL_DATA_SCHEME"]),
            ("data:image/png;base64,iVBOR", None, &[]),
            (
                "https://wp.example/wp-login.php",
                None,
                &["URL_CREDENTIAL_WORDS"],
            ),
            ("https://example.org/blogging", None, &[]),
            (
                "https://a.b.c.d.e.example.com/",
                None,
                &["URL_DEEP_SUBDOMAINS"],
            ),
            ("https://a.b.example.com/", None, &[]),
            ("mailto:someone@example.com", None, &[]),
        ];
        for (url, anchor, expected) in cases {
            let got = symbols(url, *anchor);
            let mut expected = expected.to_vec();
            expected.sort();
            assert_eq!(got, expected, "{url} ({anchor:?})");
        }
        let long = format!("https://t.example/?id={}", "a".repeat(300));
        assert_eq!(symbols(&long, None), ["URL_VERY_LONG"]);
    }

    #[test]
    fn a_redirect_destination_is_judged_with_its_own_path() {
        let link = UrlRef {
            url: String::new(),
            host: None,
            source: UrlSource::Href,
            anchor_text: None,
            location: Location::new("body text/html"),
        };
        let mut f = Findings::new();
        let url = "https://l.facebook.com/l.php?u=http%3A%2F%2Fpaypal.com.verify.example%2Fsignin";
        analysis().check(url, &link, 0, &mut f);
        let hit = f
            .iter()
            .find(|e| e.symbol == "URL_BRAND_IN_SUBDOMAIN")
            .expect("destination judged");
        assert_eq!(
            hit.location.segments(),
            ["body text/html", "redirect to paypal.com.verify.example"]
        );
    }

    #[test]
    fn trusted_hosts_are_left_alone() {
        let config = Config {
            trusted_hosts: vec!["links.partner.example".into()],
            ..Config::default()
        };
        let a = config.build(&impersonation::Config::default());
        let mut f = Findings::new();
        let link = UrlRef {
            url: String::new(),
            host: None,
            source: UrlSource::Href,
            anchor_text: Some("paypal.com".into()),
            location: Location::message(),
        };
        a.check(
            "https://x.links.partner.example/login?u=1",
            &link,
            0,
            &mut f,
        );
        assert!(f.is_empty());
    }
}

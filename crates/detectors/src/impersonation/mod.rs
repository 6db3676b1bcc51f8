//! Impersonation without DNS: a sender that names a brand, a protected domain or a VIP it is
//! not, a From domain built to look like one (homoglyphs, mixed scripts including Hangul/Latin,
//! punycode, edit distance 1–2, added words, another TLD), and replies steered elsewhere.
//! The brands ship as data (`brands.toml`: global and Korean brands with their real domains).

use mailmoat_core::{Category, Findings, Location, SymbolDef};
use mailmoat_mime::MessageView;
use serde::Deserialize;
use unicode_security::{skeleton, MixedScript};

use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("IMP_DISPLAY_NAME_BRAND", "impersonation", Category::Impersonation, 4.0, "The display name names a brand (PayPal, Naver, 국민은행…) but the address is not at any of that brand's domains."),
    SymbolDef::new("IMP_DISPLAY_NAME_VIP", "impersonation", Category::Impersonation, 5.0, "The display name contains a configured VIP name (an executive, a partner) while the address is outside the protected domains."),
    SymbolDef::new("IMP_DISPLAY_NAME_ADDRESS", "impersonation", Category::Impersonation, 3.0, "The display name shows an address or domain other than the sender's own (\"security@bank.example\" <x@elsewhere>)."),
    SymbolDef::new("IMP_LOOKALIKE_DOMAIN", "impersonation", Category::Impersonation, 6.0, "The From domain looks like a protected or brand domain: homoglyphs (paypa1, pаypal in Cyrillic), one or two letters changed, an added word (naver-security), another TLD, or a brand's Hangul name in an IDN."),
    SymbolDef::new("IMP_MIXED_SCRIPT_DOMAIN", "impersonation", Category::Impersonation, 4.0, "A label of the From domain mixes scripts (Latin with Cyrillic, Greek or Hangul): no real organisation registers such names."),
    SymbolDef::new("IMP_REPLYTO_FREEMAIL", "impersonation", Category::Impersonation, 2.5, "Replies go to a free-mail address while the sender claims an organisation's domain."),
    SymbolDef::new("IMP_REPLYTO_OTHER_DOMAIN", "impersonation", Category::Impersonation, 0.0, "Replies go to another organisation's domain than the sender's (common in bulk mail). Weight 0 since session 21: it fires on more than 0.5 % of ham (issue 22's rule) without being much more frequent in spam (training folders easy-ham-1 / spam-1: 5.3 % / 3.0 %): evidence for rules and the report, no score of its own."),
];

const BUILT_IN_BRANDS: &str = include_str!("brands.toml");

/// Free-mail providers (replies steered there from an organisation's address are suspicious).
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "yahoo.com",
    "yahoo.co.kr",
    "aol.com",
    "icloud.com",
    "me.com",
    "mail.com",
    "gmx.com",
    "gmx.de",
    "proton.me",
    "protonmail.com",
    "zoho.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
    "hanmail.net",
    "daum.net",
    "nate.com",
    "kakao.com",
];

/// Words phishers add to a brand to make a domain (naver-security, paypal-support).
const ADDED_WORDS: &[&str] = &[
    "secure",
    "security",
    "support",
    "login",
    "signin",
    "verify",
    "verification",
    "account",
    "accounts",
    "update",
    "service",
    "services",
    "help",
    "helpdesk",
    "mail",
    "team",
    "official",
    "notice",
    "alert",
    "billing",
    "pay",
    "payment",
    "online",
    "id",
    "auth",
    "kr",
    "korea",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandConfig {
    pub name: String,
    /// Names as they appear in display names (any script), matched case-insensitively.
    pub names: Vec<String>,
    /// Registrable domains the brand really sends from.
    pub domains: Vec<String>,
}

#[derive(Deserialize)]
struct BrandFile {
    brand: Vec<BrandConfig>,
}

/// `[detectors.impersonation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Our own domains: look-alikes of these are the most dangerous.
    pub protected_domains: Vec<String>,
    /// Names of people worth impersonating ("Kim Min-jun", "김민준"), matched in display names.
    pub vip_names: Vec<String>,
    /// Use the built-in brand list.
    pub builtin_brands: bool,
    /// More brands, same shape as the built-in list.
    pub brands: Vec<BrandConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            protected_domains: Vec::new(),
            vip_names: Vec::new(),
            builtin_brands: true,
            brands: Vec::new(),
        }
    }
}

struct Brand {
    name: String,
    names: Vec<String>,
    domains: Vec<String>,
    /// The registrable labels of its domains ("paypal" of paypal.com), with their skeletons.
    labels: Vec<(String, String)>,
}

pub struct Impersonation {
    brands: Vec<Brand>,
    protected: Vec<String>,
    vips: Vec<String>,
}

impl Config {
    /// Every brand this configuration knows (built-in, configured, our own domains): its name
    /// and its domains in ASCII form. The URL analysis uses the same list.
    pub fn brand_list(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        if self.builtin_brands {
            if let Ok(file) = toml::from_str::<BrandFile>(BUILT_IN_BRANDS) {
                out.extend(file.brand.into_iter().map(|b| (b.name, b.domains)));
            }
        }
        out.extend(
            self.brands
                .iter()
                .map(|b| (b.name.clone(), b.domains.clone())),
        );
        if !self.protected_domains.is_empty() {
            out.push(("your organisation".into(), self.protected_domains.clone()));
        }
        for (_, domains) in out.iter_mut() {
            for d in domains.iter_mut() {
                *d = ascii_domain(d);
            }
        }
        out
    }

    pub fn build(&self) -> Impersonation {
        let mut configs: Vec<BrandConfig> = Vec::new();
        if self.builtin_brands {
            // The built-in file is checked by a test; a broken one must never stop mail.
            if let Ok(file) = toml::from_str::<BrandFile>(BUILT_IN_BRANDS) {
                configs.extend(file.brand);
            }
        }
        configs.extend(self.brands.iter().cloned());
        if !self.protected_domains.is_empty() {
            configs.push(BrandConfig {
                name: "your organisation".into(),
                names: Vec::new(),
                domains: self.protected_domains.clone(),
            });
        }
        let brands = configs
            .into_iter()
            .map(|b| {
                let domains: Vec<String> = b.domains.iter().map(|d| ascii_domain(d)).collect();
                let labels = domains
                    .iter()
                    .filter_map(|d| label_of(d))
                    .map(|l| {
                        let sk = skeleton_of(&l);
                        (l, sk)
                    })
                    .collect();
                Brand {
                    name: b.name,
                    names: b.names.iter().map(|n| n.to_lowercase()).collect(),
                    domains,
                    labels,
                }
            })
            .collect();
        Impersonation {
            brands,
            protected: self
                .protected_domains
                .iter()
                .map(|d| ascii_domain(d))
                .collect(),
            vips: self
                .vip_names
                .iter()
                .map(|n| n.trim().to_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }
}

/// The domain in ASCII (punycode) form, lower-cased.
pub(crate) fn ascii_domain(d: &str) -> String {
    let d = d.trim().trim_end_matches('.');
    idna::domain_to_ascii(d).unwrap_or_else(|_| d.to_ascii_lowercase())
}

/// The registrable domain of an ASCII domain.
pub(crate) fn registrable(ascii: &str) -> String {
    psl::domain_str(ascii).unwrap_or(ascii).to_string()
}

/// The registrable domain without its public suffix ("paypal" of "www.paypal.co.uk"), in
/// Unicode (so Hangul and homoglyphs can be compared).
pub(crate) fn label_of(ascii: &str) -> Option<String> {
    let reg = registrable(ascii);
    let suffix = psl::suffix_str(&reg).unwrap_or("");
    let label = reg.strip_suffix(suffix)?.trim_end_matches('.');
    if label.is_empty() {
        return None;
    }
    let (unicode, _) = idna::domain_to_unicode(label);
    Some(unicode)
}

pub(crate) fn skeleton_of(s: &str) -> String {
    skeleton(&s.to_lowercase())
        .collect::<String>()
        .to_lowercase()
}

/// `domain` is `of` or a subdomain of it (no allocation: this runs for every brand domain).
pub(crate) fn within(domain: &str, of: &str) -> bool {
    domain == of
        || (domain.len() > of.len()
            && domain.ends_with(of)
            && domain.as_bytes()[domain.len() - of.len() - 1] == b'.')
}

impl Brand {
    fn owns(&self, ascii_domain: &str) -> bool {
        self.domains.iter().any(|d| within(ascii_domain, d))
    }

    /// Whether a display name names this brand. Short Latin names (KT, SK, LG) must stand as
    /// a whole word; others may be part of a longer text.
    /// `words` and `spaced` are the display name's words, alone and joined as " a b c ".
    fn named_in<'n>(&'n self, display: &str, words: &[&str], spaced: &str) -> Option<&'n str> {
        self.names.iter().map(String::as_str).find(|n| {
            if n.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') && n.len() <= 4 {
                words.contains(n)
            } else if n.is_ascii() {
                // Whole words, possibly several ("office 365").
                spaced.match_indices(*n).any(|(i, _)| {
                    spaced.as_bytes()[i - 1] == b' '
                        && spaced.as_bytes().get(i + n.len()) == Some(&b' ')
                })
            } else {
                display.contains(n)
            }
        })
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Why a sender label looks like a brand label, if it does.
fn lookalike(
    sender: &str,
    sender_skeleton: &str,
    brand: &str,
    brand_skeleton: &str,
) -> Option<&'static str> {
    let n = brand.chars().count();
    if sender == brand {
        return (n >= 4).then_some("the same name under another domain");
    }
    if sender_skeleton == brand_skeleton {
        return Some("characters that look alike");
    }
    if n >= 4 {
        for part in sender.split(['-', '_', '.']) {
            if part == brand {
                return Some("the name with added words");
            }
        }
        let added = |rest: Option<&str>| rest.is_some_and(|r| ADDED_WORDS.contains(&r));
        if added(sender.strip_prefix(brand)) || added(sender.strip_suffix(brand)) {
            return Some("the name with an added word");
        }
    }
    // Short names change meaning with any insertion ("mail" is not "gmail"): up to seven
    // letters only one substituted letter after an unchanged first one counts ("naber" for
    // "naver", not "email" for "gmail"); longer names allow two edits of any kind.
    let same_length = sender_skeleton.chars().count() == brand_skeleton.chars().count()
        && sender_skeleton.chars().next() == brand_skeleton.chars().next();
    let limit = match n {
        0..=4 => 0,
        5..=7 if same_length => 1,
        5..=7 => 0,
        _ => 2,
    };
    // Cheap bounds first: this runs against every brand domain for every message.
    let length_gap = sender_skeleton
        .chars()
        .count()
        .abs_diff(brand_skeleton.chars().count());
    if limit == 0 || length_gap > limit {
        return None;
    }
    let d = edit_distance(sender_skeleton, brand_skeleton);
    (d > 0 && d <= limit).then_some("one or two characters changed")
}

impl Detector for Impersonation {
    fn name(&self) -> &'static str {
        "impersonation"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        let Some(from) = view.from.first() else {
            return;
        };
        let Some(raw_domain) = from.domain() else {
            return;
        };
        let domain = ascii_domain(&raw_domain);
        let at = Location::new("header From");
        let address = from.address.clone().unwrap_or_default();
        let ours = self.protected.iter().any(|p| within(&domain, p));

        if let Some(display) = from.name.as_deref().map(str::to_lowercase) {
            let words: Vec<&str> = display
                .split(|c: char| !(c.is_alphanumeric() || c == '+'))
                .filter(|w| !w.is_empty())
                .collect();
            let spaced = format!(" {} ", words.join(" "));
            for brand in &self.brands {
                if let Some(name) = brand.named_in(&display, &words, &spaced) {
                    if !brand.owns(&domain) {
                        findings.add(
                            "IMP_DISPLAY_NAME_BRAND",
                            format!("\"{name}\" ({}) from {address}", brand.name),
                            at.clone(),
                        );
                        break;
                    }
                }
            }
            if !ours {
                if let Some(vip) = self.vips.iter().find(|v| display.contains(v.as_str())) {
                    findings.add(
                        "IMP_DISPLAY_NAME_VIP",
                        format!("\"{vip}\" from {address}"),
                        at.clone(),
                    );
                }
            }
            // An address in the display name, or a domain of a brand or of ours: "News.com" or
            // "R.Hughes" in a name are just names.
            let sender_org = registrable(&domain);
            let shown = display
                .split(|c: char| c.is_whitespace() || "<>()\"'[],;".contains(c))
                .filter_map(|w| {
                    let (is_address, d) = match w.rsplit_once('@') {
                        Some((_, d)) => (true, d),
                        None => (false, w),
                    };
                    let d = d.trim_matches('.');
                    if !d.contains('.') || psl::domain_str(d).is_none() {
                        return None;
                    }
                    let org = registrable(&ascii_domain(d));
                    let known = self.brands.iter().any(|b| b.owns(&org));
                    (is_address || known).then_some(org)
                })
                .find(|d| *d != sender_org);
            if let Some(shown) = shown {
                findings.add(
                    "IMP_DISPLAY_NAME_ADDRESS",
                    format!("display name shows {shown}, address is {address}"),
                    at.clone(),
                );
            }
        }

        // The From domain itself.
        if let Some(label) = label_of(&domain) {
            let unicode_domain = idna::domain_to_unicode(&domain).0;
            if unicode_domain
                .split('.')
                .any(|l| !l.is_empty() && !l.is_single_script())
            {
                findings.add(
                    "IMP_MIXED_SCRIPT_DOMAIN",
                    format!("{unicode_domain} ({domain})"),
                    at.clone(),
                );
            }
            let sender_skeleton = skeleton_of(&label);
            'brands: for brand in &self.brands {
                if brand.owns(&domain) {
                    continue;
                }
                let hangul_name = brand.names.iter().find(|n| {
                    n.chars().any(|c| ('\u{ac00}'..='\u{d7a3}').contains(&c))
                        && label.contains(n.as_str())
                });
                if let Some(n) = hangul_name {
                    findings.add(
                        "IMP_LOOKALIKE_DOMAIN",
                        format!(
                            "{unicode_domain} carries the name \"{n}\" of {}",
                            brand.name
                        ),
                        at.clone(),
                    );
                    break;
                }
                for (brand_label, brand_skeleton) in &brand.labels {
                    if let Some(why) =
                        lookalike(&label, &sender_skeleton, brand_label, brand_skeleton)
                    {
                        findings.add(
                            "IMP_LOOKALIKE_DOMAIN",
                            format!(
                                "{unicode_domain} looks like {} ({}): {why}",
                                brand
                                    .domains
                                    .first()
                                    .map(String::as_str)
                                    .unwrap_or(brand_label),
                                brand.name
                            ),
                            at.clone(),
                        );
                        break 'brands;
                    }
                }
            }
        }

        // Where replies go.
        let is_list = view.header("List-Id").is_some() || view.header("List-Post").is_some();
        if let Some(reply_domain) = view.reply_to.first().and_then(|r| r.domain()) {
            let reply_org = registrable(&ascii_domain(&reply_domain));
            let from_org = registrable(&domain);
            // One organisation's several domains (navercorp.com replying from naver.com).
            let same_brand = self
                .brands
                .iter()
                .any(|b| b.owns(&from_org) && b.owns(&reply_org));
            if !is_list && !same_brand && reply_org != from_org {
                let free = |d: &str| FREE_MAIL.contains(&d);
                let symbol = if free(&reply_org) && !free(&from_org) {
                    "IMP_REPLYTO_FREEMAIL"
                } else {
                    "IMP_REPLYTO_OTHER_DOMAIN"
                };
                findings.add(
                    symbol,
                    format!("From {from_org}, replies to {reply_org}"),
                    Location::new("header Reply-To"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_brand_list_parses_and_covers_the_korean_brands() {
        let file: BrandFile = toml::from_str(BUILT_IN_BRANDS).expect("brands.toml parses");
        for needed in [
            "Naver",
            "Kakao",
            "Daum",
            "KT",
            "SK",
            "LG",
            "Samsung",
            "Coupang",
            "KB Kookmin Bank",
            "Korean government",
            "Hometax (National Tax Service)",
            "Korean courts",
            "Korean National Police",
            "Korea Post",
            "CJ Logistics",
            "Hanjin Express",
            "Lotte Global Logistics",
            "Logen",
            "Supreme Prosecutors' Office",
            "National Health Insurance Service",
            "Financial Supervisory Service",
        ] {
            assert!(file.brand.iter().any(|b| b.name == needed), "{needed}");
        }
        assert!(file.brand.iter().all(|b| !b.domains.is_empty()));
    }

    #[test]
    fn lookalike_rules() {
        let l = |s: &str, b: &str| lookalike(s, &skeleton_of(s), b, &skeleton_of(b));
        assert!(l("paypa1", "paypal").is_some());
        assert!(l("pаypal", "paypal").is_some(), "Cyrillic а");
        assert!(l("naver-security", "naver").is_some());
        assert!(l("naversecurity", "naver").is_some());
        assert!(l("micros0ft", "microsoft").is_some());
        assert!(l("rnicrosoft", "microsoft").is_some(), "rn for m");
        assert!(l("naver", "naver").is_some(), "another TLD");
        assert!(l("kt", "kt").is_none(), "too short to judge by name alone");
        assert!(l("nature", "naver").is_none());
        assert!(l("example", "samsung").is_none());
        assert!(
            l("maple", "apple").is_none(),
            "five letters: one change at most"
        );
        assert!(
            l("navre", "naver").is_none(),
            "a swap is two changes: too many for five letters"
        );
        assert!(
            l("mail", "gmail").is_none(),
            "a shorter word is another word"
        );
        assert!(l("post", "epost").is_none());
        assert!(l("naber", "naver").is_some(), "one letter substituted");
        assert!(
            l("email", "gmail").is_none(),
            "another first letter: another word"
        );
    }
}

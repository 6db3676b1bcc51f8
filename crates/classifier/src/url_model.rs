//! A lexical model of host names: how much a link's host looks like known phishing hosts, from
//! its letters alone (character n-grams, its labels and hyphenated words, its top-level domain,
//! its shape). The same FTRL model as the message classifier, trained by `mailmoat url-model
//! train` on labelled lists (BENCHMARKS.md says which), shipped in the binary.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use mailmoat_core::{Category, Findings, SymbolDef};
use mailmoat_detectors::Detector;
use mailmoat_mime::MessageView;

use crate::features::plain_token_index;
use crate::{ModelError, Weights};

pub const SYMBOLS: &[SymbolDef] = &[SymbolDef::new("URL_HOST_MODEL", "urls", Category::Phishing,
    0.0,
    "A link's host name looks like known phishing hosts (a lexical model of host names: letters, words, top-level domain, shape); strength is the model's probability. Names only: it never sees the page. Weight 0 since session 24: it fires on 0.55 % of the newer ham in the time split (issue 22's rule: more than 0.5 % of ham in a held-out test, and its weight is learned or it goes). Its weight is learned by the classifier, through `sig:host_model` (the built-in host model at its default threshold); it still shows in reports and serves rules and the learned fusion.",
)];

/// Hashed-feature width of host models.
pub const BITS: u32 = 18;

/// The default `[url_model] threshold`.
pub const DEFAULT_THRESHOLD: f64 = 0.99;

/// The model built into the binary (`scripts/build-url-model.sh`).
const BUILT_IN: &[u8] = include_bytes!("../models/url-host.model");

/// The host's features: character 3-, 4- and 5-grams of "^host$", every label and every
/// hyphen-separated word, the top-level domain, and its shape (labels, length, digits, hyphens).
pub fn host_features(host: &str) -> Vec<u32> {
    use std::io::Write;
    let host = host.trim().trim_end_matches('.');
    // Hosts from the view are lower case already: no copy for them.
    let host: std::borrow::Cow<str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    };
    let marked = format!("^{host}$");
    let mut out: Vec<u32> = Vec::with_capacity(3 * marked.len() + 16);
    // Each token is hashed from its parts in one reused buffer: the classifier's features ask
    // this for every link host of every message, so no string is built per token.
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    let mut token = |parts: &[&[u8]]| {
        buf.clear();
        for p in parts {
            buf.extend_from_slice(p);
        }
        out.push(plain_token_index(&buf, BITS));
    };
    let grams = [(3, b"c3:"), (4, b"c4:"), (5, b"c5:")];
    if marked.is_ascii() {
        let m = marked.as_bytes();
        for (n, prefix) in grams {
            for w in m.windows(n) {
                token(&[prefix, w]);
            }
        }
    } else {
        // Character boundaries, so that n-grams are n characters, not n bytes.
        let bounds: Vec<usize> = marked
            .char_indices()
            .map(|(i, _)| i)
            .chain([marked.len()])
            .collect();
        for (n, prefix) in grams {
            for w in bounds.windows(n + 1) {
                token(&[prefix, &marked.as_bytes()[w[0]..w[n]]]);
            }
        }
    }
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    if let Some(tld) = labels.last() {
        token(&[b"tld:", tld.as_bytes()]);
    }
    for label in &labels[..labels.len().saturating_sub(1)] {
        token(&[b"lbl:", label.as_bytes()]);
        for word in label.split('-').filter(|w| w.len() > 1) {
            token(&[b"w:", word.as_bytes()]);
        }
    }
    let digits = host.chars().filter(char::is_ascii_digit).count().min(6);
    let shape = [
        ("labels:", labels.len().min(8)),
        ("len:", (host.len() / 8).min(10)),
        ("digits:", digits),
        ("hyphens:", host.matches('-').count().min(5)),
    ];
    let mut number = Vec::with_capacity(8);
    for (name, value) in shape {
        number.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(number, "{value}");
        token(&[name.as_bytes(), &number]);
    }
    let punycode: &[u8] = if host.contains("xn--") {
        b"true"
    } else {
        b"false"
    };
    token(&[b"punycode:", punycode]);
    out.sort_unstable();
    out.dedup();
    out
}

/// `[url_model]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// A model file from `mailmoat url-model train` (relative to the configuration file); none
    /// means the built-in one.
    pub model: Option<PathBuf>,
    /// URL_HOST_MODEL from this probability up. The built-in model flags about 1% of the hosts
    /// in real ham at 0.99 (BENCHMARKS.md), so it stays a weak signal among others.
    pub threshold: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            model: None,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl Config {
    /// Loads the model (paths relative to `base_dir`); None when disabled.
    pub fn build(&self, base_dir: &Path) -> Result<Option<UrlHostModel>, ModelError> {
        if !self.enabled {
            return Ok(None);
        }
        let weights = match &self.model {
            Some(path) => Arc::new(Weights::load(&base_dir.join(path))?),
            None => built_in()?,
        };
        Ok(Some(UrlHostModel {
            weights,
            threshold: self.threshold,
        }))
    }
}

/// Whether the built-in host model, at its default threshold, reads any of these host names
/// (addresses left out, at most the first `MAX_HOSTS` names) as a phishing host: the
/// classifier's feature for what URL_HOST_MODEL reports.
pub(crate) fn any_phishing_like_host<'h>(hosts: impl Iterator<Item = &'h str>) -> bool {
    const MAX_HOSTS: usize = 20;
    let Ok(weights) = built_in() else {
        return false;
    };
    let mut seen: Vec<&str> = Vec::with_capacity(MAX_HOSTS);
    for host in hosts {
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') || seen.contains(&host)
        {
            continue;
        }
        if seen.len() == MAX_HOSTS {
            break;
        }
        seen.push(host);
        if weights.predict(&host_features(host)).spam_probability >= DEFAULT_THRESHOLD {
            return true;
        }
    }
    false
}

/// The built-in host model, decoded once per process.
fn built_in() -> Result<Arc<Weights>, ModelError> {
    static WEIGHTS: OnceLock<Result<Arc<Weights>, String>> = OnceLock::new();
    crate::detector::decoded_once(&WEIGHTS, BUILT_IN, "built-in URL host model")
}

pub struct UrlHostModel {
    weights: Arc<Weights>,
    threshold: f64,
}

impl UrlHostModel {
    /// The built-in model, reporting hosts at or above `threshold`.
    pub fn built_in(threshold: f64) -> Result<UrlHostModel, ModelError> {
        Ok(UrlHostModel {
            weights: built_in()?,
            threshold,
        })
    }

    pub fn probability(&self, host: &str) -> f64 {
        self.weights.predict(&host_features(host)).spam_probability
    }
}

impl Detector for UrlHostModel {
    fn name(&self) -> &'static str {
        "url_host_model"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        let mut seen: HashSet<&str> = HashSet::new();
        for link in &view.urls {
            let Some(host) = link.host.as_deref() else {
                continue;
            };
            // Addresses are judged elsewhere; names only here.
            if host.parse::<std::net::IpAddr>().is_ok()
                || host.starts_with('[')
                || !seen.insert(host)
            {
                continue;
            }
            let p = self.probability(host);
            if p >= self.threshold {
                findings.add_with_strength(
                    "URL_HOST_MODEL",
                    p,
                    format!("{host} reads like a phishing host (probability {p:.2})"),
                    link.location.clone(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_index;

    /// The tokens as [`host_features`] hashed them before it hashed their parts in place:
    /// built-in host models were trained on these indices.
    fn host_features_as_strings(host: &str) -> Vec<u32> {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut tokens: Vec<String> = Vec::new();
        let marked: Vec<char> = format!("^{host}$").chars().collect();
        for n in 3..=5 {
            for w in marked.windows(n) {
                tokens.push(format!("c{n}:{}", w.iter().collect::<String>()));
            }
        }
        let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
        if let Some(tld) = labels.last() {
            tokens.push(format!("tld:{tld}"));
        }
        for label in &labels[..labels.len().saturating_sub(1)] {
            tokens.push(format!("lbl:{label}"));
            for word in label.split('-').filter(|w| w.len() > 1) {
                tokens.push(format!("w:{word}"));
            }
        }
        tokens.push(format!("labels:{}", labels.len().min(8)));
        tokens.push(format!("len:{}", (host.len() / 8).min(10)));
        let digits = host.chars().filter(char::is_ascii_digit).count().min(6);
        tokens.push(format!("digits:{digits}"));
        tokens.push(format!("hyphens:{}", host.matches('-').count().min(5)));
        tokens.push(format!("punycode:{}", host.contains("xn--")));
        let mut out: Vec<u32> = tokens.iter().map(|t| token_index(t, BITS)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn features_hashed_in_place_are_the_tokens_indices() {
        for host in [
            "www.example.com",
            "Secure-Login.Paypa1-Verify.example.",
            "xn--pypal-4ve.com",
            "bücher.example",
            "a.b",
            "",
        ] {
            assert_eq!(
                host_features(host),
                host_features_as_strings(host),
                "{host}"
            );
        }
    }

    #[test]
    fn features_are_stable_and_shaped() {
        let f = host_features("Secure-Login.Paypa1-Verify.example.");
        assert_eq!(f, host_features("secure-login.paypa1-verify.example"));
        assert!(f.len() > 40);
        assert!(f.contains(&token_index("w:verify", BITS)));
        assert!(f.contains(&token_index("tld:example", BITS)));
    }

    #[test]
    fn the_detector_reports_each_phishing_like_host_once_with_its_probability_and_place() {
        let raw = b"From: a@example.org\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n\
<a href=\"https://metamask-wallet-connect-airdrop.netlify.app/claim\">claim</a>\
<a href=\"https://metamask-wallet-connect-airdrop.netlify.app/again\">again</a>\
<a href=\"https://www.wikipedia.org/\">wiki</a> <a href=\"http://192.0.2.7/x\">ip</a>";
        let view = MessageView::build(raw.to_vec(), Default::default(), &Default::default());
        let model = Config::default().build(Path::new(".")).unwrap().unwrap();
        let mut findings = Findings::new();
        model.analyze(&view, &mut findings);
        let hits: Vec<_> = findings.iter().collect();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert!(hits[0]
            .details
            .contains("metamask-wallet-connect-airdrop.netlify.app"));
        assert!(hits[0].strength >= 0.99, "{}", hits[0].strength);

        let strict = UrlHostModel::built_in(1.01).unwrap();
        let mut none = Findings::new();
        strict.analyze(&view, &mut none);
        assert!(none.is_empty(), "nothing reaches a threshold above 1");
    }

    #[test]
    fn disabled_or_missing_models_are_handled() {
        let off = Config {
            enabled: false,
            ..Config::default()
        };
        assert!(off.build(Path::new(".")).unwrap().is_none());
        let missing = Config {
            model: Some(PathBuf::from("no-such.model")),
            ..Config::default()
        };
        let err = missing.build(Path::new("/nonexistent")).err().unwrap();
        assert!(err.to_string().contains("no-such.model"), "{err}");
    }

    #[test]
    fn the_built_in_model_loads_and_separates_obvious_cases() {
        let m = UrlHostModel::built_in(0.9).unwrap();
        let bad = m.probability("metamask-wallet-connect-airdrop.netlify.app");
        let good = m.probability("www.wikipedia.org");
        assert!(bad > good, "bad {bad:.3} good {good:.3}");
    }
}

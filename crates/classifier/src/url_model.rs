//! A lexical model of host names: how much a link's host looks like known phishing hosts, from
//! its letters alone (character n-grams, its labels and hyphenated words, its top-level domain,
//! its shape). The same FTRL model as the message classifier, trained by `mailmoat url-model
//! train` on labelled lists (BENCHMARKS.md says which), shipped in the binary.

use std::collections::HashSet;

use mailmoat_core::{Findings, SymbolDef};
use mailmoat_detectors::Detector;
use mailmoat_mime::MessageView;

use crate::{token_index, Weights};

pub const SYMBOLS: &[SymbolDef] = &[SymbolDef::scored(
    "URL_HOST_MODEL",
    "urls",
    3.0,
    "A link's host name looks like known phishing hosts (a lexical model of host names: letters, words, top-level domain, shape); strength is the model's probability. Names only: it never sees the page.",
)];

/// Hashed-feature width of host models.
pub const BITS: u32 = 18;

/// The model built into the binary (`scripts/build-url-model.sh`).
const BUILT_IN: &[u8] = include_bytes!("../models/url-host.model");

/// The host's features: character 3-, 4- and 5-grams of "^host$", every label and every
/// hyphen-separated word, the top-level domain, and its shape (labels, length, digits, hyphens).
pub fn host_features(host: &str) -> Vec<u32> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut tokens: Vec<String> = Vec::with_capacity(3 * host.len() + 16);
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
    tokens.push(format!(
        "digits:{}",
        host.chars().filter(char::is_ascii_digit).count().min(6)
    ));
    tokens.push(format!("hyphens:{}", host.matches('-').count().min(5)));
    tokens.push(format!("punycode:{}", host.contains("xn--")));
    let mut out: Vec<u32> = tokens.iter().map(|t| token_index(t, BITS)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

pub struct UrlHostModel {
    weights: Weights,
    threshold: f64,
}

impl UrlHostModel {
    /// The built-in model, reporting hosts at or above `threshold`.
    pub fn built_in(threshold: f64) -> Result<UrlHostModel, String> {
        Ok(UrlHostModel {
            weights: Weights::from_bytes(BUILT_IN)?,
            threshold,
        })
    }

    pub fn probability(&self, host: &str) -> f64 {
        self.weights
            .predict(&host_features(host))
            .spam_probability
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
            if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') || !seen.insert(host) {
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

    #[test]
    fn features_are_stable_and_shaped() {
        let f = host_features("Secure-Login.Paypa1-Verify.example.");
        assert_eq!(f, host_features("secure-login.paypa1-verify.example"));
        assert!(f.len() > 40);
        assert!(f.contains(&token_index("w:verify", BITS)));
        assert!(f.contains(&token_index("tld:example", BITS)));
    }

    #[test]
    fn the_built_in_model_loads_and_separates_obvious_cases() {
        let m = UrlHostModel::built_in(0.9).unwrap();
        let bad = m.probability("metamask-wallet-connect-airdrop.netlify.app");
        let good = m.probability("www.wikipedia.org");
        assert!(bad > good, "bad {bad:.3} good {good:.3}");
    }
}

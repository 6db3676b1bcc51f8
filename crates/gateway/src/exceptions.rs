//! Per-user exceptions: "always accept mail from this sender", added by a recipient in the
//! console. The console keeps them on disk; the gateway holds them in memory and consults them
//! after the verdict, per recipient, through `mailmoat_core::disposition`.
//!
//! An exception overrides spam and policy verdicts only. It never lets through a threat
//! (malware, phishing, a known-bad signature) or mail that fails to prove it comes from the
//! allowed sender (impersonation and authentication failures): otherwise anyone could forge
//! the allowed address and walk in.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

/// Senders each recipient always accepts: an address, or a whole domain written "@domain".
#[derive(Debug, Default)]
pub struct SenderExceptions {
    by_recipient: RwLock<HashMap<String, HashSet<String>>>,
}

/// The form an exception is kept in: an address lower-cased, or "@domain".
pub fn normalize_sender(sender: &str) -> Option<String> {
    let s = sender
        .trim()
        .trim_matches(|c| c == '<' || c == '>')
        .to_ascii_lowercase();
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    match s.split_once('@') {
        Some(("", domain)) if domain.contains('.') => Some(s),
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Some(s),
        None if s.contains('.') => Some(format!("@{s}")),
        _ => None,
    }
}

impl SenderExceptions {
    /// Replaces every exception (at start, from the console's store).
    pub fn replace(&self, all: impl IntoIterator<Item = (String, String)>) {
        let mut map: HashMap<String, HashSet<String>> = HashMap::new();
        for (recipient, sender) in all {
            map.entry(recipient.to_ascii_lowercase())
                .or_default()
                .insert(sender.to_ascii_lowercase());
        }
        *self.by_recipient.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    pub fn add(&self, recipient: &str, sender: &str) {
        self.by_recipient
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(recipient.to_ascii_lowercase())
            .or_default()
            .insert(sender.to_ascii_lowercase());
    }

    pub fn remove(&self, recipient: &str, sender: &str) {
        let mut map = self.by_recipient.write().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = map.get_mut(&recipient.to_ascii_lowercase()) {
            set.remove(&sender.to_ascii_lowercase());
        }
    }

    /// Whether `recipient` always accepts mail from `sender` (its address or its domain).
    pub fn allows(&self, recipient: &str, sender: &str) -> bool {
        let sender = sender.trim().to_ascii_lowercase();
        if sender.is_empty() {
            return false;
        }
        let map = self.by_recipient.read().unwrap_or_else(|e| e.into_inner());
        let Some(set) = map.get(&recipient.trim().to_ascii_lowercase()) else {
            return false;
        };
        if set.contains(&sender) {
            return true;
        }
        match sender.rsplit_once('@') {
            Some((_, domain)) => set.contains(&format!("@{domain}")),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_domains_match_per_recipient() {
        let e = SenderExceptions::default();
        e.add("Bob@corp.example", "news@shop.example");
        e.add("bob@corp.example", "@partner.example");
        assert!(e.allows("bob@corp.example", "NEWS@shop.example"));
        assert!(e.allows("bob@corp.example", "anyone@partner.example"));
        assert!(!e.allows("bob@corp.example", "other@shop.example"));
        assert!(
            !e.allows("alice@corp.example", "news@shop.example"),
            "per recipient"
        );
        assert!(!e.allows("bob@corp.example", "x@sub.partner.example"));
        assert!(!e.allows("bob@corp.example", ""));
        e.remove("bob@corp.example", "@partner.example");
        assert!(!e.allows("bob@corp.example", "anyone@partner.example"));
        e.replace(vec![("alice@corp.example".into(), "a@b.example".into())]);
        assert!(e.allows("alice@corp.example", "a@b.example"));
        assert!(!e.allows("bob@corp.example", "news@shop.example"));
    }

    #[test]
    fn senders_are_normalized_or_refused() {
        assert_eq!(
            normalize_sender(" <News@Shop.example> ").as_deref(),
            Some("news@shop.example")
        );
        assert_eq!(
            normalize_sender("partner.example").as_deref(),
            Some("@partner.example")
        );
        assert_eq!(
            normalize_sender("@partner.example").as_deref(),
            Some("@partner.example")
        );
        for bad in ["", "a b@c.example", "nodot", "@", "x@"] {
            assert_eq!(normalize_sender(bad), None, "{bad:?}");
        }
    }
}

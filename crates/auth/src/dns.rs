//! Where DNS answers come from. mail-auth looks every name up in caches we hand it before it asks
//! its own resolver; we use that seam twice: a TTL cache of parsed answers in production, and
//! records given in the configuration (answered first, and with `only_records` the only
//! answers: tests and sites without DNS never touch the network).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::Dmarc;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::spf::Spf;
use mail_auth::{DnssecStatus, MessageAuthenticator, RecordSet, ResolverCache, Txt, MX};

use crate::config::DnsConfig;

/// Where the authentication stage gets DNS answers: mail-auth's verifier, which consults
/// [`Resolver::caches`] first and asks the network only on a miss.
pub trait Resolver: Send + Sync {
    fn authenticator(&self) -> &MessageAuthenticator;
    fn caches(&self) -> &DnsCaches;
    /// One line for logs: where answers come from.
    fn describe(&self) -> String;
}

/// A DNS configuration that cannot be used, with the entry at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    #[error("[auth.dns] records entry {index} ({line:?}): {why}")]
    Record {
        index: usize,
        line: String,
        why: String,
    },
    #[error("[auth.dns] servers entry {0:?} is not an IP address or IP:port")]
    Server(String),
    #[error("DNS resolver could not be built: {0}")]
    Build(String),
}

/// Answers for one record type: pinned (configured) ones, learned ones until their TTL ends,
/// and what a name nobody knows resolves to (`absent`: set when no server is asked).
pub struct RecordCache<K, V> {
    pinned: HashMap<K, V>,
    failing: HashSet<K>,
    learned: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
    absent: Option<V>,
}

impl<K: Hash + Eq, V: Clone> RecordCache<K, V> {
    fn new(capacity: usize, absent: Option<V>) -> Self {
        RecordCache {
            pinned: HashMap::new(),
            failing: HashSet::new(),
            learned: Mutex::new(HashMap::new()),
            capacity,
            absent,
        }
    }

    /// Answers learned from the network and still valid.
    pub fn learned_len(&self) -> usize {
        self.learned.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for RecordCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(v) = self.pinned.get(name) {
            return Some(v.clone());
        }
        if self.failing.contains(name) {
            // Falls through to the resolver, which has no server in only-records mode: an error.
            return None;
        }
        if let Ok(mut learned) = self.learned.lock() {
            match learned.get(name) {
                Some((v, until)) if *until > Instant::now() => return Some(v.clone()),
                Some(_) => {
                    learned.remove(name);
                }
                None => {}
            }
        }
        self.absent.clone()
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.learned
            .lock()
            .ok()
            .and_then(|mut m| m.remove(name))
            .map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut learned) = self.learned.lock() {
            if learned.len() >= self.capacity {
                let now = Instant::now();
                learned.retain(|_, (_, until)| *until > now);
                if learned.len() >= self.capacity {
                    // Still full of live entries: start over rather than track recency per hit.
                    learned.clear();
                }
            }
            learned.insert(key, (value, valid_until));
        }
    }
}

/// The five caches mail-auth asks, one per record type.
pub struct DnsCaches {
    pub txt: RecordCache<Box<str>, Txt>,
    pub mx: RecordCache<Box<str>, RecordSet<MX>>,
    pub ipv4: RecordCache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: RecordCache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: RecordCache<IpAddr, RecordSet<Box<str>>>,
}

fn empty<T>() -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(Vec::new()),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

impl DnsCaches {
    /// Caches holding `records`; when `authoritative`, names not among them do not exist.
    pub fn new(records: &[String], capacity: usize, authoritative: bool) -> Result<Self, DnsError> {
        let not_found = || {
            Txt::Error(mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(
                mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain,
            )))
        };
        let mut caches = DnsCaches {
            txt: RecordCache::new(capacity, authoritative.then(not_found)),
            mx: RecordCache::new(capacity, authoritative.then(empty)),
            ipv4: RecordCache::new(capacity, authoritative.then(empty)),
            ipv6: RecordCache::new(capacity, authoritative.then(empty)),
            ptr: RecordCache::new(capacity, authoritative.then(empty)),
        };
        let mut mx: HashMap<Box<str>, Vec<(u16, Box<str>)>> = HashMap::new();
        let mut v4: HashMap<Box<str>, Vec<Ipv4Addr>> = HashMap::new();
        let mut v6: HashMap<Box<str>, Vec<Ipv6Addr>> = HashMap::new();
        let mut ptr: HashMap<IpAddr, Vec<Box<str>>> = HashMap::new();
        for (index, line) in records.iter().enumerate() {
            let bad = |why: &str| DnsError::Record {
                index,
                line: line.clone(),
                why: why.to_string(),
            };
            let line_trimmed = line.trim();
            let (kind, rest) = line_trimmed
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("expected TYPE NAME VALUE"))?;
            let rest = rest.trim_start();
            let (name, value) = match rest.split_once(char::is_whitespace) {
                Some((n, v)) => (n, v.trim()),
                None => (rest, ""),
            };
            match kind.to_ascii_uppercase().as_str() {
                "TXT" => {
                    let fqdn = fqdn(name);
                    let text = value.trim_matches('"').as_bytes();
                    let parsed: Txt = if fqdn.starts_with("_dmarc.") {
                        Dmarc::parse(text).into()
                    } else if fqdn.contains("._domainkey.") {
                        DomainKey::parse(text).into()
                    } else if value.trim_matches('"').starts_with("v=spf1") {
                        Spf::parse(text).into()
                    } else {
                        return Err(bad("only SPF, DKIM and DMARC TXT records are understood"));
                    };
                    caches.txt.pinned.insert(fqdn, parsed);
                }
                "A" => {
                    let ip: Ipv4Addr = value.parse().map_err(|_| bad("not an IPv4 address"))?;
                    v4.entry(fqdn(name)).or_default().push(ip);
                }
                "AAAA" => {
                    let ip: Ipv6Addr = value.parse().map_err(|_| bad("not an IPv6 address"))?;
                    v6.entry(fqdn(name)).or_default().push(ip);
                }
                "MX" => {
                    let (pref, host) = value
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| bad("expected MX NAME PREFERENCE HOST"))?;
                    let pref: u16 = pref.parse().map_err(|_| bad("bad MX preference"))?;
                    mx.entry(fqdn(name))
                        .or_default()
                        .push((pref, fqdn(host.trim())));
                }
                "PTR" => {
                    let ip: IpAddr = name.parse().map_err(|_| bad("PTR needs an IP address"))?;
                    ptr.entry(ip).or_default().push(fqdn(value));
                }
                "SERVFAIL" => {
                    let n = fqdn(name);
                    caches.txt.pinned.insert(
                        n.clone(),
                        Txt::Error(mail_auth::Error::Dns(mail_auth::DnsError::Resolver(
                            "SERVFAIL (configured record)".into(),
                        ))),
                    );
                    caches.mx.failing.insert(n.clone());
                    caches.ipv4.failing.insert(n.clone());
                    caches.ipv6.failing.insert(n);
                }
                _ => return Err(bad("unknown record type")),
            }
        }
        for (name, mut entries) in mx {
            entries.sort_by_key(|e| e.0);
            let mut grouped: Vec<MX> = Vec::new();
            for (preference, host) in entries {
                match grouped.last_mut() {
                    Some(last) if last.preference == preference => {
                        let mut hosts = last.exchanges.to_vec();
                        hosts.push(host);
                        last.exchanges = hosts.into_boxed_slice();
                    }
                    _ => grouped.push(MX {
                        preference,
                        exchanges: vec![host].into_boxed_slice(),
                    }),
                }
            }
            caches.mx.pinned.insert(name, set(grouped));
        }
        for (name, ips) in v4 {
            caches.ipv4.pinned.insert(name, set(ips));
        }
        for (name, ips) in v6 {
            caches.ipv6.pinned.insert(name, set(ips));
        }
        for (ip, names) in ptr {
            caches.ptr.pinned.insert(ip, set(names));
        }
        Ok(caches)
    }
}

fn set<T>(items: Vec<T>) -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(items),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

/// The form mail-auth uses as a cache key: lower case with the final dot.
pub fn fqdn(name: &str) -> Box<str> {
    let mut s = name.trim().to_ascii_lowercase();
    if !s.ends_with('.') {
        s.push('.');
    }
    s.into_boxed_str()
}

/// The production resolver: hickory (servers from the config or /etc/resolv.conf) with
/// per-query timeouts, behind a TTL cache of parsed answers and the configured records.
pub struct ConfiguredResolver {
    authenticator: MessageAuthenticator,
    caches: DnsCaches,
    description: String,
}

impl ConfiguredResolver {
    /// Builds from `[auth.dns]`. Needs a Tokio runtime only when lookups run, not here.
    pub fn new(config: &DnsConfig) -> Result<Self, DnsError> {
        let caches = DnsCaches::new(&config.records, config.cache_entries, config.only_records)?;
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_millis(config.lookup_timeout_ms.max(1));
        opts.attempts = config.attempts.max(1);
        opts.cache_size = config.cache_entries as u64;
        let (resolver_config, description) = if config.only_records {
            (
                ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
                format!("{} configured records only", config.records.len()),
            )
        } else if config.servers.is_empty() {
            match read_system_conf() {
                Ok((conf, system_opts)) => {
                    opts.ndots = system_opts.ndots;
                    let servers: Vec<String> = conf
                        .name_servers()
                        .iter()
                        .map(|s| s.ip.to_string())
                        .collect();
                    let d = format!("system resolvers {}", servers.join(", "));
                    (conf, d)
                }
                // Scanning files must still work on a machine without resolv.conf; every
                // lookup then fails at once (TEMPERROR) and the description says why.
                Err(e) => (
                    ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
                    format!(
                        "no resolver: /etc/resolv.conf unreadable ({e}); set [auth.dns] servers"
                    ),
                ),
            }
        } else {
            let mut servers = Vec::new();
            for entry in &config.servers {
                let addr: SocketAddr = entry
                    .parse()
                    .or_else(|_| entry.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| DnsError::Server(entry.clone()))?;
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                servers.push(NameServerConfig::new(addr.ip(), true, vec![udp, tcp]));
            }
            let d = format!("servers {}", config.servers.join(", "));
            (ResolverConfig::from_parts(None, Vec::new(), servers), d)
        };
        let authenticator = MessageAuthenticator::new(resolver_config, opts)
            .map_err(|e| DnsError::Build(e.to_string()))?;
        Ok(ConfiguredResolver {
            authenticator,
            caches,
            description,
        })
    }
}

impl Resolver for ConfiguredResolver {
    fn authenticator(&self) -> &MessageAuthenticator {
        &self.authenticator
    }

    fn caches(&self) -> &DnsCaches {
        &self.caches
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_answer() {
        let records = [
            "TXT example.com v=spf1 ip4:192.0.2.0/24 -all",
            "TXT _dmarc.example.com \"v=DMARC1; p=reject\"",
            "A mail.example.com 192.0.2.1",
            "A mail.example.com 192.0.2.2",
            "MX example.com 10 mail.example.com",
            "PTR 192.0.2.1 mail.example.com",
            "SERVFAIL broken.example",
        ]
        .map(String::from);
        let caches = DnsCaches::new(&records, 10, true).unwrap();
        assert!(matches!(caches.txt.get("example.com."), Some(Txt::Spf(_))));
        assert!(matches!(
            caches.txt.get("_dmarc.example.com."),
            Some(Txt::Dmarc(_))
        ));
        assert_eq!(caches.ipv4.get("mail.example.com.").unwrap().rrset.len(), 2);
        assert_eq!(caches.mx.get("example.com.").unwrap().rrset.len(), 1);
        // Unknown names do not exist; failing ones fall through to the (absent) server.
        assert!(matches!(
            caches.txt.get("other.example."),
            Some(Txt::Error(_))
        ));
        assert!(caches
            .ipv4
            .get("nothing.example.")
            .unwrap()
            .rrset
            .is_empty());
        assert!(caches.ipv4.get("broken.example.").is_none());
    }

    #[test]
    fn bad_records_name_their_entry() {
        let err = DnsCaches::new(&["A host.example not-an-ip".to_string()], 10, true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("entry 0"), "{err}");
        assert!(DnsCaches::new(&["CNAME a b".to_string()], 10, true).is_err());
    }

    #[test]
    fn learned_answers_expire_and_stay_bounded() {
        let cache: RecordCache<Box<str>, RecordSet<Ipv4Addr>> = RecordCache::new(2, None);
        let later = Instant::now() + Duration::from_secs(60);
        cache.insert("a.".into(), set(vec![Ipv4Addr::LOCALHOST]), later);
        cache.insert("b.".into(), set(vec![]), Instant::now());
        assert!(cache.get("a.").is_some());
        assert!(cache.get("b.").is_none(), "expired");
        cache.insert("c.".into(), set(vec![]), later);
        cache.insert("d.".into(), set(vec![]), later);
        assert!(cache.learned_len() <= 2);
    }
}

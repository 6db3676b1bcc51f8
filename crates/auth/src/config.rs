//! The `[auth]` section: what the authentication stage checks, where its DNS answers come from,
//! which blocklists it asks, and how long it may take.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Run SPF, DKIM, DMARC, ARC and the blocklists for mail the gateway receives.
    pub enabled: bool,
    /// The whole stage finishes within this many milliseconds; checks still waiting for DNS then
    /// report TEMPERROR and the scan goes on.
    pub deadline_ms: u64,
    /// Domains whose ARC seal we trust: a message they forwarded (a mailing list, a forwarding
    /// service) whose ARC chain is intact keeps the authentication it had when they received it.
    pub trusted_arc_sealers: Vec<String>,
    /// FIRST_CONTACT: note when a sender writes to a recipient for the first time.
    pub first_contact: bool,
    /// Where sender–recipient pairs are remembered (relative to the config file); unset: in
    /// memory only, forgotten on restart.
    pub contacts_file: Option<PathBuf>,
    /// Pairs remembered at most (oldest forgotten first).
    pub max_contacts: usize,
    pub dns: DnsConfig,
    /// DNS blocklists, asked in parallel within the deadline.
    pub dnsbl: Vec<DnsblZone>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            deadline_ms: 3000,
            trusted_arc_sealers: Vec::new(),
            first_contact: true,
            contacts_file: None,
            max_contacts: 1_000_000,
            dns: DnsConfig::default(),
            dnsbl: Vec::new(),
        }
    }
}

/// `[auth.dns]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Resolvers to ask ("192.0.2.53" or "192.0.2.53:5353"); empty: those of /etc/resolv.conf.
    /// Blocklists answer only a resolver of your own: never a public one such as 8.8.8.8.
    pub servers: Vec<String>,
    /// One query waits at most this long for an answer.
    pub lookup_timeout_ms: u64,
    /// Tries per query and server.
    pub attempts: usize,
    /// Parsed answers kept (each for its TTL).
    pub cache_entries: usize,
    /// Answers given without asking any server, one per line: `TXT name text`, `A name ip`,
    /// `AAAA name ip`, `MX name preference host`, `PTR ip host`, `SERVFAIL name`. For local
    /// overrides and for sites (and tests) with no DNS at all.
    pub records: Vec<String>,
    /// Ask no server: names not in `records` do not exist.
    pub only_records: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            lookup_timeout_ms: 2000,
            attempts: 2,
            cache_entries: 50_000,
            records: Vec::new(),
            only_records: false,
        }
    }
}

/// What a blocklist zone is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsblTarget {
    /// The connecting client's address (reversed octets or nibbles).
    ClientIp,
    /// The registrable domains of MAIL FROM and From.
    SenderDomain,
    /// The registrable domains of the URLs in the message.
    UrlDomains,
}

/// `[[auth.dnsbl]]`: one zone and what its answers mean.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsblZone {
    /// e.g. "zen.spamhaus.org" (with a data-query key: "KEY.zen.dq.spamhaus.net").
    pub zone: String,
    pub check: DnsblTarget,
    /// Return code ("127.0.0.2") to its meaning; a code not listed uses `default`.
    #[serde(default)]
    pub codes: BTreeMap<String, DnsblCode>,
    /// Meaning of any other answer in 127.0.0.0/8; unset: such answers are ignored.
    #[serde(default)]
    pub default: Option<DnsblCode>,
    /// Answers that mean the zone refused to answer (public resolver, over quota, bad key):
    /// a configuration problem, never a listing. Spamhaus' and URIBL's are known by default.
    #[serde(default = "default_error_codes")]
    pub error_codes: Vec<String>,
}

/// One listing type: the symbol it raises and how much it weighs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsblCode {
    /// UPPER_SNAKE symbol name, e.g. "RBL_SPAMHAUS_SBL".
    pub symbol: String,
    pub score: f64,
    /// What it means, for the symbol reference and the report.
    #[serde(default)]
    pub description: String,
}

/// Spamhaus: 127.255.255.252 typo in the zone, .254 query through a public/open resolver,
/// .255 excessive queries; URIBL and SURBL answer 127.0.0.1 when they refuse a resolver (no
/// common list uses 127.0.0.1 as a listing).
pub fn default_error_codes() -> Vec<String> {
    [
        "127.0.0.1",
        "127.255.255.252",
        "127.255.255.254",
        "127.255.255.255",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

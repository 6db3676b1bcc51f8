//! Sender authentication and reputation, the part of stage 1 that needs DNS: SPF, DKIM, DMARC
//! and ARC (Stalwart's mail-auth), DNS blocklists, a protected domain used from outside, and
//! first contact between a sender and a recipient.
//!
//! It runs before the detectors, asynchronously, within one deadline: DNS that is slow or
//! absent turns into TEMPERROR evidence and never holds a message. Its evidence joins the
//! detectors' (rules may test it), and it prepares the `Authentication-Results` header the
//! gateway adds on delivery. DNS answers come through [`dns::Resolver`]; tests and sites without
//! DNS give the answers in the configuration (`[auth.dns] records`, `only_records`).

pub mod config;
pub mod contacts;
pub mod dns;
pub mod dnsbl;
mod stage;

pub use config::AuthConfig;
pub use stage::{AuthError, AuthOutcome, AuthStage, AuthSummary, DkimSummary, ListingSummary};

use mailmoat_core::{Action, Category, Risk, SymbolDef};

/// Symbols this stage declares (blocklist symbols come from the configuration, see
/// [`AuthStage::symbols`]).
pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("SPF_PASS", "auth", Category::Impersonation,
        -0.5,
        "The connecting server is allowed to send for the envelope sender's domain (SPF pass).",
    ),
    SymbolDef::new("SPF_FAIL", "auth", Category::Impersonation,
        2.0,
        "The envelope sender's domain says this server may not send its mail (SPF -all fail): forged sender or a misconfigured domain.",
    ),
    SymbolDef::new("SPF_SOFTFAIL", "auth", Category::Impersonation,
        1.0,
        "The envelope sender's domain says this server is probably not one of its own (SPF ~all).",
    ),
    SymbolDef::new("SPF_NEUTRAL", "auth", Category::Impersonation,
        0.2,
        "The envelope sender's domain makes no statement about this server (SPF ?all).",
    ),
    SymbolDef::new("SPF_NONE", "auth", Category::Impersonation,
        0.3,
        "The envelope sender's domain publishes no SPF record.",
    ),
    SymbolDef::new("SPF_PERMERROR", "auth", Category::Impersonation,
        0.5,
        "The envelope sender's SPF record is broken (syntax, too many lookups); the domain owner should fix it.",
    ),
    SymbolDef::new("SPF_TEMPERROR", "auth", Category::Impersonation,
        0.0,
        "SPF could not be checked in time (DNS slow or unreachable); nothing is concluded.",
    ),
    SymbolDef::new("DKIM_PASS", "auth", Category::Impersonation,
        -0.5,
        "A DKIM signature verified: the signing domain vouches for these headers and body.",
    ),
    SymbolDef::new("DKIM_FAIL", "auth", Category::Impersonation,
        1.5,
        "A DKIM signature does not verify: the message was altered after signing, or the signature is forged.",
    ),
    SymbolDef::new("DKIM_PERMERROR", "auth", Category::Impersonation,
        0.3,
        "A DKIM signature cannot be checked: malformed, expired, unsupported algorithm or no key published.",
    ),
    SymbolDef::new("DKIM_TEMPERROR", "auth", Category::Impersonation,
        0.0,
        "A DKIM key could not be fetched in time (DNS slow or unreachable); nothing is concluded.",
    ),
    SymbolDef::new("DMARC_PASS", "auth", Category::Impersonation,
        -1.0,
        "The From domain is authenticated (DMARC pass: aligned SPF or DKIM).",
    ),
    SymbolDef::new("DMARC_FAIL_REJECT", "auth", Category::Impersonation,
        6.0,
        "The From domain is not authenticated and its owner asks receivers to reject such mail (DMARC p=reject): the sender is very likely forged.",
    ),
    SymbolDef::new("DMARC_FAIL_QUARANTINE", "auth", Category::Impersonation,
        4.0,
        "The From domain is not authenticated and its owner asks receivers to treat such mail as suspicious (DMARC p=quarantine).",
    ),
    SymbolDef::new("DMARC_FAIL_NONE", "auth", Category::Impersonation,
        1.0,
        "The From domain is not authenticated; its owner only monitors (DMARC p=none).",
    ),
    SymbolDef::new("DMARC_PERMERROR", "auth", Category::Impersonation,
        0.3,
        "The From domain's DMARC record is broken.",
    ),
    SymbolDef::new("DMARC_TEMPERROR", "auth", Category::Impersonation,
        0.0,
        "DMARC could not be evaluated in time (DNS slow or unreachable); nothing is concluded.",
    ),
    SymbolDef::new("ARC_PASS", "auth", Category::Impersonation,
        0.0,
        "The message carries an intact ARC chain (forwarders recorded how it authenticated before them).",
    ),
    SymbolDef::new("ARC_FAIL", "auth", Category::Impersonation,
        1.0,
        "The message's ARC chain is broken or forged.",
    ),
    SymbolDef::new("ARC_TRUSTED_FORWARDER", "auth", Category::Impersonation,
        0.0,
        "DMARC failed, but a forwarder you trust (trusted_arc_sealers) sealed an intact ARC chain: the failure comes from forwarding and is not counted.",
    ),
    SymbolDef::threat("AUTH_PROTECTED_DOMAIN_SPOOFED", "impersonation", Category::Impersonation,
        12.0,
        (Action::Quarantine, Risk::Medium),
        "From uses one of your own (protected) domains, the message came from outside, and it did not pass DMARC: someone is sending as you. Services that legitimately send as your domain need SPF/DKIM alignment or an allow rule.",
    ),
    SymbolDef::new("FIRST_CONTACT", "impersonation", Category::Impersonation,
        0.0,
        "This sender has never had mail delivered to this recipient before. Every new correspondent is one, so alone it weighs nothing; with impersonation signs it is IMP_FIRST_CONTACT (rules/default.toml).",
    ),
    SymbolDef::new("DNSBL_MISCONFIGURED", "dnsbl", Category::Spam,
        0.0,
        "A DNS blocklist refused to answer (public resolver, quota, access key) or the resolver rewrites unknown names; fix the DNS setup: no listing is concluded.",
    ),
    SymbolDef::new("DNSBL_TEMPERROR", "dnsbl", Category::Spam,
        0.0,
        "A DNS blocklist did not answer in time; nothing is concluded.",
    ),
];

//! The authentication stage: every DNS-dependent check of one message, run concurrently under
//! one deadline.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy as DmarcPolicy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput,
    DmarcResult, Parameters, SpfOutput, SpfResult,
};
use mailmoat_core::{Findings, Location, SymbolDef};
use mailmoat_mime::MessageView;
use serde::{Deserialize, Serialize};
use tokio::time::timeout_at;

use crate::config::{AuthConfig, DnsblTarget};
use crate::contacts::{ContactStore, FileContacts, MemoryContacts};
use crate::dns::{ConfiguredResolver, DnsError, Resolver};
use crate::dnsbl::{self, DnsblError, Meaning, Query, Zone};

/// Why the stage could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error(transparent)]
    Dnsbl(#[from] DnsblError),
    #[error("[auth] contacts_file {path}: {source}")]
    Contacts {
        path: String,
        source: std::io::Error,
    },
}

/// A blocklist lookup: its A records, a DNS error, or the deadline.
type ListAnswer =
    Result<mail_auth::Result<mail_auth::RecordSet<Ipv4Addr>>, tokio::time::error::Elapsed>;

/// Blocklist questions per message at most (URL domains beyond this are not asked).
const MAX_URL_DOMAINS: usize = 20;

/// Built once per configuration; shared by every connection.
pub struct AuthStage {
    resolver: Arc<dyn Resolver>,
    hostname: String,
    deadline: Duration,
    trusted_networks: Vec<ipnet::IpNet>,
    protected_domains: Vec<String>,
    trusted_arc_sealers: Vec<String>,
    zones: Vec<Zone>,
    contacts: Option<Arc<dyn ContactStore>>,
}

/// What the stage found for one message.
#[derive(Debug, Clone, Default)]
pub struct AuthOutcome {
    pub findings: Findings,
    /// The `Authentication-Results` field (CRLF-terminated) to add on delivery; `None` when the
    /// message came from inside and nothing was checked.
    pub header: Option<String>,
    pub summary: AuthSummary,
}

/// The results in short, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSummary {
    /// The external client judged (envelope, else the first external Received hop).
    pub client_ip: Option<IpAddr>,
    /// Why nothing was checked, when so.
    pub skipped: Option<String>,
    pub spf: Option<String>,
    pub dkim: Vec<DkimSummary>,
    pub dmarc: Option<String>,
    pub dmarc_policy: Option<String>,
    pub arc: Option<String>,
    pub dnsbl: Vec<ListingSummary>,
    /// Recipients this sender writes to for the first time.
    pub first_contact: Vec<String>,
    pub elapsed_ms: u64,
    /// The deadline ended some checks (they are TEMPERROR).
    pub deadline_reached: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DkimSummary {
    pub domain: String,
    pub selector: String,
    pub result: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListingSummary {
    pub zone: String,
    pub subject: String,
    pub answer: String,
}

impl AuthStage {
    /// The sender–recipient history `[auth]` configures (`None` with `first_contact` off):
    /// `contacts_file`, or memory only. Paths are relative to `base_dir`.
    pub fn open_contacts(
        config: &AuthConfig,
        base_dir: &Path,
    ) -> Result<Option<Arc<dyn ContactStore>>, AuthError> {
        if !config.first_contact {
            return Ok(None);
        }
        Ok(Some(match &config.contacts_file {
            Some(file) => {
                let path = base_dir.join(file);
                let store = FileContacts::open(&path, config.max_contacts).map_err(|source| {
                    AuthError::Contacts {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
                Arc::new(store)
            }
            None => Arc::new(MemoryContacts::new(config.max_contacts)),
        }))
    }

    /// Builds from `[auth]`: DNS from `[auth.dns]`, blocklists, the contact store (paths
    /// relative to `base_dir`). `hostname` names us in Authentication-Results; protected
    /// domains and trusted networks come from the gateway and message sections.
    pub fn new(
        config: &AuthConfig,
        base_dir: &Path,
        hostname: &str,
        trusted_networks: &[ipnet::IpNet],
        protected_domains: &[String],
    ) -> Result<AuthStage, AuthError> {
        let resolver = Arc::new(ConfiguredResolver::new(&config.dns)?);
        let contacts = AuthStage::open_contacts(config, base_dir)?;
        AuthStage::with_parts(
            config,
            resolver,
            contacts,
            hostname,
            trusted_networks,
            protected_domains,
        )
    }

    /// Builds with a given resolver and contact store (tests, benchmarks, shared stores).
    pub fn with_parts(
        config: &AuthConfig,
        resolver: Arc<dyn Resolver>,
        contacts: Option<Arc<dyn ContactStore>>,
        hostname: &str,
        trusted_networks: &[ipnet::IpNet],
        protected_domains: &[String],
    ) -> Result<AuthStage, AuthError> {
        let zones = config
            .dnsbl
            .iter()
            .enumerate()
            .map(|(i, z)| Zone::compile(i, z))
            .collect::<Result<Vec<_>, _>>()?;
        dnsbl::symbols(&zones)?;
        Ok(AuthStage {
            resolver,
            hostname: hostname.to_string(),
            deadline: Duration::from_millis(config.deadline_ms.max(1)),
            trusted_networks: trusted_networks.to_vec(),
            protected_domains: protected_domains
                .iter()
                .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            trusted_arc_sealers: config
                .trusted_arc_sealers
                .iter()
                .map(|d| d.trim().to_ascii_lowercase())
                .collect(),
            zones,
            contacts,
        })
    }

    /// The symbols the configured blocklists raise.
    pub fn symbols(&self) -> Vec<SymbolDef> {
        dnsbl::symbols(&self.zones).unwrap_or_default()
    }

    /// The sender–recipient history, to hand to the next configuration on reload.
    pub fn contacts(&self) -> Option<Arc<dyn ContactStore>> {
        self.contacts.clone()
    }

    pub fn resolver(&self) -> &dyn Resolver {
        self.resolver.as_ref()
    }

    /// Remembers that mail from the message's author was delivered to these recipients, so
    /// the next message is no longer a first contact. Call after a deliver or tag verdict.
    pub fn record_delivery(&self, view: &MessageView, now: i64) {
        let (Some(store), Some(author)) = (&self.contacts, author(view)) else {
            return;
        };
        for rcpt in &view.envelope.rcpt_to {
            store.record(&author, rcpt, now);
        }
    }

    fn is_inside(&self, ip: IpAddr) -> bool {
        mailmoat_mime::is_internal(ip) || self.trusted_networks.iter().any(|n| n.contains(&ip))
    }

    /// The server that handed the message to us or to our relays, with the name it gave.
    fn external_client(&self, view: &MessageView) -> Option<(IpAddr, String)> {
        if let Some(ip) = view.envelope.client_ip {
            if !self.is_inside(ip) {
                let helo = view.envelope.helo.clone().unwrap_or_else(|| ip.to_string());
                return Some((ip, helo));
            }
        }
        let hop = view.first_external_hop()?;
        let ip = hop.from_ip.filter(|ip| !self.is_inside(*ip))?;
        let helo = hop
            .helo
            .clone()
            .or_else(|| hop.from_host.clone())
            .unwrap_or_else(|| ip.to_string());
        Some((ip, helo))
    }

    fn is_protected(&self, domain: &str) -> bool {
        self.protected_domains.iter().any(|p| {
            domain == p
                || (domain.len() > p.len() && domain.ends_with(p.as_str()) && {
                    domain.as_bytes()[domain.len() - p.len() - 1] == b'.'
                })
        })
    }

    /// Runs every check, concurrently, within the deadline. Never fails: what could not be
    /// checked is TEMPERROR evidence.
    pub async fn check(&self, view: &MessageView) -> AuthOutcome {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut out = AuthOutcome::default();
        let Some((ip, helo)) = self.external_client(view) else {
            out.summary.skipped =
                Some("no external client: the message came from inside".to_string());
            return out;
        };
        out.summary.client_ip = Some(ip);
        let author = author(view);
        let author_domain = author.as_deref().and_then(domain_of);

        if let (Some(store), Some(author)) = (&self.contacts, &author) {
            let new: Vec<String> = view
                .envelope
                .rcpt_to
                .iter()
                .filter(|r| !store.known(author, r))
                .cloned()
                .collect();
            if !new.is_empty() {
                out.findings.add(
                    "FIRST_CONTACT",
                    format!("{author} has not written to {} before", new.join(", ")),
                    Location::message(),
                );
                out.summary.first_contact = new;
            }
        }

        let mail_from = view
            .envelope
            .mail_from
            .as_deref()
            .map(|m| {
                m.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
            .or_else(|| view.return_path.clone())
            .unwrap_or_default();
        let mail_from_domain = domain_of(&mail_from).unwrap_or_else(|| helo.to_ascii_lowercase());
        let message = AuthenticatedMessage::parse(&view.raw);
        let resolver = self.resolver.as_ref();
        let auth = resolver.authenticator();
        let caches = resolver.caches();

        macro_rules! params {
            ($p:expr) => {
                Parameters::new($p)
                    .with_txt_cache(&caches.txt)
                    .with_mx_cache(&caches.mx)
                    .with_ipv4_cache(&caches.ipv4)
                    .with_ipv6_cache(&caches.ipv6)
                    .with_ptr_cache(&caches.ptr)
            };
        }

        let spf = timeout_at(
            deadline,
            auth.verify_spf(params!(SpfParameters::verify(
                ip,
                &helo,
                &self.hostname,
                &mail_from
            ))),
        );
        let dkim = timeout_at(deadline, async {
            match &message {
                Some(m) => auth.verify_dkim(params!(m)).await,
                None => Vec::new(),
            }
        });
        let arc = timeout_at(deadline, async {
            match &message {
                Some(m) if !m.as_headers.is_empty() || !m.ams_headers.is_empty() => {
                    Some(auth.verify_arc(params!(m)).await)
                }
                _ => None,
            }
        });
        let queries = self.dnsbl_queries(view, ip, &mail_from, author_domain.as_deref());
        let lists = futures_util::future::join_all(queries.into_iter().map(|q| async move {
            let answer = timeout_at(
                deadline,
                auth.ipv4_lookup(q.name.as_str(), Some(&caches.ipv4)),
            )
            .await;
            (q, answer)
        }));
        let (spf, dkim, arc, lists) = tokio::join!(spf, dkim, arc, lists);

        let mut deadline_reached = spf.is_err() || dkim.is_err() || arc.is_err();
        let spf = spf.unwrap_or_else(|_| {
            SpfOutput::new(mail_from_domain.clone()).with_result(SpfResult::TempError)
        });
        let dkim_timed_out = dkim.is_err();
        let dkim: Vec<DkimOutput> = dkim.unwrap_or_else(|_| {
            vec![DkimOutput::temp_err(mail_auth::Error::Dns(
                mail_auth::DnsError::Resolver("deadline reached".into()),
            ))]
        });
        let arc: Option<ArcOutput> = arc.ok().flatten();

        // DMARC needs SPF and DKIM; if either ran out of time so does DMARC.
        let dmarc: Option<DmarcOutput> = match (&message, &author_domain) {
            (Some(m), Some(domain)) => {
                if spf.result() == SpfResult::TempError && deadline_reached || dkim_timed_out {
                    Some(temp_dmarc(domain))
                } else {
                    match timeout_at(
                        deadline,
                        auth.verify_dmarc(params!(DmarcParameters::new(
                            m,
                            &dkim,
                            &mail_from_domain,
                            &spf
                        ))),
                    )
                    .await
                    {
                        Ok(d) => Some(d),
                        Err(_) => {
                            deadline_reached = true;
                            Some(temp_dmarc(domain))
                        }
                    }
                }
            }
            _ => None,
        };

        self.spf_evidence(&spf, ip, &mail_from, &mut out);
        self.dkim_evidence(&dkim, &mut out);
        let trusted_forwarder = self.arc_evidence(arc.as_ref(), &mut out);
        let dmarc_passed = self.dmarc_evidence(dmarc.as_ref(), trusted_forwarder.clone(), &mut out);
        if let Some(domain) = &author_domain {
            if self.is_protected(domain) && !dmarc_passed && trusted_forwarder.is_none() {
                let temp = dmarc
                    .as_ref()
                    .is_some_and(|d| matches!(d.result(), DmarcResult::TempError(_)));
                out.findings.add_with_strength(
                    "AUTH_PROTECTED_DOMAIN_SPOOFED",
                    if temp { 0.5 } else { 1.0 },
                    format!(
                        "From {} is one of your domains, sent from {ip} outside your network, without DMARC pass{}",
                        author.as_deref().unwrap_or(domain),
                        if temp { " (DMARC could not be checked in time)" } else { "" }
                    ),
                    Location::message(),
                );
            }
        }
        deadline_reached |= self.dnsbl_evidence(lists, &mut out);

        let mut results = AuthenticationResults::new(&self.hostname)
            .with_spf_mailfrom_result(&spf, ip, &mail_from, &helo)
            .with_dkim_results(&dkim, author.as_deref().unwrap_or(""));
        if let Some(arc) = &arc {
            results = results.with_arc_result(arc, ip);
        }
        if let Some(dmarc) = &dmarc {
            results = results.with_dmarc_result(dmarc);
        }
        out.header = Some(results.to_header());
        out.summary.deadline_reached = deadline_reached;
        out.summary.elapsed_ms = started.elapsed().as_millis() as u64;
        out
    }

    fn dnsbl_queries(
        &self,
        view: &MessageView,
        ip: IpAddr,
        mail_from: &str,
        author_domain: Option<&str>,
    ) -> Vec<Query> {
        let mut sender_domains: Vec<String> = Vec::new();
        for d in [domain_of(mail_from), author_domain.map(str::to_string)]
            .into_iter()
            .flatten()
        {
            let reg = registrable(&d);
            if !sender_domains.contains(&reg) {
                sender_domains.push(reg);
            }
        }
        let mut url_domains: Vec<String> = Vec::new();
        for host in view.urls.iter().filter_map(|u| u.host.as_deref()) {
            if host.parse::<IpAddr>().is_ok()
                || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
            {
                continue;
            }
            let reg = registrable(host);
            if !url_domains.contains(&reg) {
                url_domains.push(reg);
                if url_domains.len() >= MAX_URL_DOMAINS {
                    break;
                }
            }
        }
        let mut out = Vec::new();
        for (index, zone) in self.zones.iter().enumerate() {
            let subjects: Vec<String> = match zone.check {
                DnsblTarget::ClientIp => vec![ip.to_string()],
                DnsblTarget::SenderDomain => sender_domains.clone(),
                DnsblTarget::UrlDomains => url_domains.clone(),
            };
            for subject in subjects {
                if let Some(name) = zone.query_name(&subject) {
                    out.push(Query {
                        zone: index,
                        subject,
                        name,
                    });
                }
            }
        }
        out
    }

    fn spf_evidence(&self, spf: &SpfOutput, ip: IpAddr, mail_from: &str, out: &mut AuthOutcome) {
        let (symbol, word) = match spf.result() {
            SpfResult::Pass => ("SPF_PASS", "pass"),
            SpfResult::Fail => ("SPF_FAIL", "fail"),
            SpfResult::SoftFail => ("SPF_SOFTFAIL", "softfail"),
            SpfResult::Neutral => ("SPF_NEUTRAL", "neutral"),
            SpfResult::None => ("SPF_NONE", "none"),
            SpfResult::PermError => ("SPF_PERMERROR", "permerror"),
            SpfResult::TempError => ("SPF_TEMPERROR", "temperror"),
        };
        let sender = if mail_from.is_empty() {
            "<>"
        } else {
            mail_from
        };
        out.findings.add(
            symbol,
            format!(
                "SPF {word} for {sender} (domain {}) from {ip}",
                spf.domain()
            ),
            Location::message(),
        );
        out.summary.spf = Some(word.to_string());
    }

    fn dkim_evidence(&self, dkim: &[DkimOutput], out: &mut AuthOutcome) {
        for d in dkim {
            let (domain, selector) = d
                .signature()
                .map(|s| (s.d.clone(), s.s.clone()))
                .unwrap_or_default();
            let (symbol, word, why) = match d.result() {
                DkimResult::Pass => ("DKIM_PASS", "pass", String::new()),
                DkimResult::Fail(e) => ("DKIM_FAIL", "fail", e.to_string()),
                // mail-auth calls a body changed after signing "neutral"; RFC 6376 calls it a
                // failed verification, and so do we.
                DkimResult::Neutral(
                    e @ mail_auth::Error::Dkim(mail_auth::dkim::DkimError::FailedBodyHashMatch),
                ) => ("DKIM_FAIL", "fail", e.to_string()),
                DkimResult::Neutral(e) => ("DKIM_PERMERROR", "neutral", e.to_string()),
                DkimResult::PermError(e) => ("DKIM_PERMERROR", "permerror", e.to_string()),
                DkimResult::TempError(e) => ("DKIM_TEMPERROR", "temperror", e.to_string()),
                DkimResult::None => continue,
            };
            let signer = if domain.is_empty() {
                "signature".to_string()
            } else {
                format!("signature d={domain} s={selector}")
            };
            out.findings.add(
                symbol,
                if why.is_empty() {
                    format!("DKIM {signer}: {word}")
                } else {
                    format!("DKIM {signer}: {word} ({why})")
                },
                Location::message(),
            );
            out.summary.dkim.push(DkimSummary {
                domain,
                selector,
                result: word.to_string(),
            });
        }
    }

    /// Evidence for the ARC chain; returns the sealer when it is trusted and the chain intact.
    fn arc_evidence(&self, arc: Option<&ArcOutput>, out: &mut AuthOutcome) -> Option<String> {
        let arc = arc?;
        let sealer = arc
            .sets()
            .last()
            .map(|s| s.seal.header.d.to_ascii_lowercase())
            .unwrap_or_default();
        match arc.result() {
            DkimResult::Pass => {
                out.findings.add(
                    "ARC_PASS",
                    format!(
                        "ARC chain of {} set(s) intact, last sealed by {sealer}",
                        arc.sets().len()
                    ),
                    Location::message(),
                );
                out.summary.arc = Some("pass".into());
                self.trusted_arc_sealers.contains(&sealer).then_some(sealer)
            }
            DkimResult::Fail(e) | DkimResult::PermError(e) | DkimResult::Neutral(e) => {
                out.findings.add(
                    "ARC_FAIL",
                    format!("ARC chain broken: {e}"),
                    Location::message(),
                );
                out.summary.arc = Some("fail".into());
                None
            }
            DkimResult::TempError(_) => {
                out.summary.arc = Some("temperror".into());
                None
            }
            DkimResult::None => None,
        }
    }

    /// Evidence for DMARC; returns whether it passed.
    fn dmarc_evidence(
        &self,
        dmarc: Option<&DmarcOutput>,
        trusted_forwarder: Option<String>,
        out: &mut AuthOutcome,
    ) -> bool {
        let Some(dmarc) = dmarc else {
            return false;
        };
        let policy = match dmarc.policy() {
            DmarcPolicy::Reject => "reject",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::None | DmarcPolicy::Unspecified => "none",
        };
        let domain = dmarc.domain().to_string();
        let (word, passed) = match dmarc.result() {
            DmarcResult::Pass => {
                out.findings.add(
                    "DMARC_PASS",
                    format!("DMARC pass for {domain}"),
                    Location::message(),
                );
                ("pass", true)
            }
            DmarcResult::Fail(_) => {
                if let Some(sealer) = trusted_forwarder {
                    out.findings.add(
                        "ARC_TRUSTED_FORWARDER",
                        format!("DMARC fails for {domain} (p={policy}) but {sealer}, a trusted forwarder, sealed an intact ARC chain"),
                        Location::message(),
                    );
                } else {
                    let symbol = match policy {
                        "reject" => "DMARC_FAIL_REJECT",
                        "quarantine" => "DMARC_FAIL_QUARANTINE",
                        _ => "DMARC_FAIL_NONE",
                    };
                    out.findings.add(
                        symbol,
                        format!("DMARC fail for {domain}: neither SPF nor DKIM passes aligned with it (policy {policy})"),
                        Location::message(),
                    );
                }
                ("fail", false)
            }
            DmarcResult::PermError(e) => {
                out.findings.add(
                    "DMARC_PERMERROR",
                    format!("DMARC record of {domain} is broken: {e}"),
                    Location::message(),
                );
                ("permerror", false)
            }
            DmarcResult::TempError(e) => {
                out.findings.add(
                    "DMARC_TEMPERROR",
                    format!("DMARC for {domain} not evaluated: {e}"),
                    Location::message(),
                );
                ("temperror", false)
            }
            DmarcResult::None => ("none", false),
        };
        out.summary.dmarc = Some(word.to_string());
        out.summary.dmarc_policy = Some(policy.to_string());
        passed
    }

    /// Evidence for blocklist answers; returns whether any query ran out of time.
    fn dnsbl_evidence(&self, answers: Vec<(Query, ListAnswer)>, out: &mut AuthOutcome) -> bool {
        let mut timed_out = false;
        let mut misconfigured: Vec<String> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        for (q, answer) in answers {
            let zone = &self.zones[q.zone];
            let ips: Vec<Ipv4Addr> = match answer {
                Err(_) => {
                    timed_out = true;
                    failed.push(format!("{} (deadline)", zone.zone));
                    continue;
                }
                Ok(Err(mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(_)))) => {
                    continue;
                }
                Ok(Err(e)) => {
                    failed.push(format!("{} ({e})", zone.zone));
                    continue;
                }
                Ok(Ok(set)) => set.rrset.to_vec(),
            };
            for meaning in zone.interpret(&ips) {
                match meaning {
                    Meaning::Listed {
                        symbol,
                        code,
                        description,
                    } => {
                        let what = if description.is_empty() {
                            String::new()
                        } else {
                            format!(": {description}")
                        };
                        out.findings.add(
                            symbol,
                            format!("{} listed in {} ({code}{what})", q.subject, zone.zone),
                            Location::message(),
                        );
                        out.summary.dnsbl.push(ListingSummary {
                            zone: zone.zone.clone(),
                            subject: q.subject.clone(),
                            answer: code.to_string(),
                        });
                    }
                    Meaning::Refused { code, why } => {
                        if !misconfigured.iter().any(|m| m.starts_with(&zone.zone)) {
                            misconfigured.push(format!("{} answered {code}: {why}", zone.zone));
                        }
                    }
                    Meaning::Unknown { code } => out.summary.dnsbl.push(ListingSummary {
                        zone: zone.zone.clone(),
                        subject: q.subject.clone(),
                        answer: format!("{code} (no meaning configured)"),
                    }),
                }
            }
        }
        if !misconfigured.is_empty() {
            out.findings.add(
                "DNSBL_MISCONFIGURED",
                misconfigured.join("; "),
                Location::message(),
            );
        }
        if !failed.is_empty() {
            failed.dedup();
            out.findings.add(
                "DNSBL_TEMPERROR",
                format!("no answer from {}", failed.join(", ")),
                Location::message(),
            );
        }
        timed_out
    }
}

fn temp_dmarc(domain: &str) -> DmarcOutput {
    let err = DmarcResult::TempError(mail_auth::Error::Dns(mail_auth::DnsError::Resolver(
        "deadline reached".into(),
    )));
    DmarcOutput::new(domain.to_string())
        .with_spf_result(err.clone())
        .with_dkim_result(err)
}

/// The From address (the author a reader sees), lower-cased.
fn author(view: &MessageView) -> Option<String> {
    view.from
        .first()
        .and_then(|m| m.address.as_deref())
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| a.contains('@'))
}

fn domain_of(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

fn registrable(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&host).unwrap_or(&host).to_string()
}

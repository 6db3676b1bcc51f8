//! The per-message report people read: built from the stored [`ScanReport`] and the
//! symbol declarations. What was found and where (the infection path), who sent it and how it
//! travelled, what it targets, why each finding matters and what to do about it, and the
//! indicators to hunt for elsewhere.

use std::collections::BTreeSet;

use mailmoat_auth::AuthSummary;
use mailmoat_core::{Category, Location, SymbolTable};
use mailmoat_mime::Mailbox;
use mailmoat_pipeline::ScanReport;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct MessageReport {
    pub id: String,
    pub received_at: i64,
    pub action: String,
    pub risk: String,
    pub score: f64,
    pub category: String,
    pub subject: String,
    /// Envelope recipients: who was targeted.
    pub recipients: Vec<String>,
    pub findings: Vec<Finding>,
    pub traces: Traces,
    pub indicators: Vec<Indicator>,
    /// The message's text as extracted (shown escaped, never as HTML).
    pub text_excerpt: String,
    pub attachments: Vec<AttachmentLine>,
    /// The objects the attachment walk opened (attachments and what was inside them).
    pub objects: Vec<ObjectLine>,
    /// Whether the message is still in the quarantine.
    pub held: bool,
    /// A user's exception let this message through (who and which sender).
    pub exception: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub symbol: String,
    pub category: String,
    pub score: f64,
    pub forced: bool,
    /// What the symbol means (its declaration).
    pub cause: String,
    /// What an administrator should do.
    pub countermeasure: String,
    pub hits: Vec<FindingHit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingHit {
    /// Where: "invoice.zip > invoice.docm > Module1".
    pub path: String,
    pub details: String,
    /// The id of the object the hit names (see [`MessageReport::objects`]), when it names one.
    pub object: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Traces {
    pub from: Vec<String>,
    pub envelope_sender: String,
    pub reply_to: Vec<String>,
    pub return_path: String,
    pub client_ip: String,
    pub helo: String,
    /// The first hop outside our own network in the Received chain: where the message entered
    /// the internet's mail system when it came through relays.
    pub origin: String,
    /// Received hops, newest first: "from HOST [IP] (helo) by HOST with PROTO".
    pub received: Vec<String>,
    pub urls: Vec<String>,
    pub domains: Vec<String>,
    pub hashes: Vec<String>,
    pub authentication: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Indicator {
    pub kind: String,
    pub value: String,
}

/// One object of the attachment walk, by its id in the scan report.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectLine {
    pub id: u32,
    /// "invoice.zip > invoice.docm > Module1".
    pub path: String,
    pub kind: String,
    pub size: u64,
    /// Empty for reports stored before objects were kept (only the path is known then).
    pub sha256: String,
    /// Some scoring evidence names it (byte plots are drawn for these).
    pub flagged: bool,
    /// What each engine said of it: "YARA: malicious (families:Dropper)".
    pub opinions: Vec<String>,
    /// "2 of 3 engines: malicious", or empty when no engine called it malicious.
    pub agreement: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentLine {
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// SHA-256 names of the page screenshots the visual link analysis kept for this message
/// ("…; screenshot HEX" in a finding's details).
pub fn screenshots(report: &ScanReport) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, _, hit) in report.hits() {
        if let Some((_, hash)) = hit.details.rsplit_once("; screenshot ") {
            if hash.len() == 64
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && !out.iter().any(|h| h == hash)
            {
                out.push(hash.to_string());
            }
        }
    }
    out
}

/// The objects of a report, each with whether scoring evidence names it. Reports stored before
/// the walk's objects were kept get, in their place, the attachment locations their scoring
/// hits name, numbered in the order found (no kind, size or hash is known for those).
pub fn objects(report: &ScanReport) -> Vec<ObjectLine> {
    let flagged: Vec<&Location> = report
        .hits()
        .filter(|(_, symbol, _)| symbol.score > 0.0)
        .map(|(_, _, hit)| &hit.location)
        .collect();
    if !report.objects.is_empty() {
        return report
            .objects
            .iter()
            .map(|o| {
                let (malicious, answered) = o.agreement();
                ObjectLine {
                    id: o.id,
                    path: o.location.to_string(),
                    kind: o.kind.clone(),
                    size: o.size,
                    sha256: o.sha256.clone(),
                    flagged: flagged.contains(&&o.location),
                    opinions: o
                        .opinions
                        .iter()
                        .map(|op| match op.detail.as_str() {
                            "" => format!("{}: {}", op.engine.as_str(), op.judgement.as_str()),
                            why => {
                                format!("{}: {} ({why})", op.engine.as_str(), op.judgement.as_str())
                            }
                        })
                        .collect(),
                    agreement: if malicious > 0 {
                        format!("{malicious} of {answered} engines: malicious")
                    } else {
                        String::new()
                    },
                }
            })
            .collect();
    }
    let mut out: Vec<ObjectLine> = Vec::new();
    for location in flagged {
        let in_attachment = location
            .segments()
            .first()
            .is_some_and(|s| s.starts_with("attachment ") || s.starts_with("inline "));
        let path = location.to_string();
        if in_attachment && !out.iter().any(|o| o.path == path) {
            out.push(ObjectLine {
                id: out.len() as u32,
                path,
                kind: String::new(),
                size: 0,
                sha256: String::new(),
                flagged: true,
                opinions: Vec::new(),
                agreement: String::new(),
            });
        }
    }
    out
}

fn mailbox(m: &Mailbox) -> String {
    let address = m.address.as_deref().unwrap_or("");
    match m.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} <{address}>"),
        None => address.to_string(),
    }
}

fn domain_of(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())
        .filter(|d| d.contains('.'))
}

/// SHA-256 digests written in hit details ("sha256 <64 hex>").
fn hashes_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 64 <= bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let bounded = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if run == 64 && bounded {
            out.push(text[i..i + 64].to_ascii_lowercase());
        }
        i += run.max(1);
    }
    out
}

/// Builds the report. `held`: whether the message is still in the quarantine.
pub fn build(
    id: &str,
    received_at: i64,
    recipients: Vec<String>,
    report: &ScanReport,
    symbols: &SymbolTable,
    held: bool,
) -> MessageReport {
    let objects = objects(report);
    let m = &report.message;
    let mut findings = Vec::new();
    let mut hashes = BTreeSet::new();
    for (name, s) in &report.symbols {
        let category = s.evidence_category().map_or("spam", Category::as_str);
        let hits: Vec<FindingHit> = s
            .hits
            .iter()
            .map(|h| {
                hashes.extend(hashes_in(&h.details));
                let path = h.location.to_string();
                FindingHit {
                    object: objects.iter().find(|o| o.path == path).map(|o| o.id),
                    path,
                    details: h.details.clone(),
                }
            })
            .collect();
        findings.push(Finding {
            symbol: name.clone(),
            category: category.to_string(),
            score: s.score,
            forced: s.forced.is_some(),
            cause: symbols
                .get(name)
                .map(|d| d.description.to_string())
                .unwrap_or_else(|| "A rule of this installation.".to_string()),
            countermeasure: crate::advice::countermeasure(name, category).to_string(),
            hits,
        });
    }
    findings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.symbol.cmp(&b.symbol))
    });
    let urls: Vec<String> = m
        .urls
        .iter()
        .map(|u| u.url.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut domains: BTreeSet<String> = m.urls.iter().filter_map(|u| u.host.clone()).collect();
    for a in m.from.iter().chain(&m.reply_to) {
        if let Some(d) = a.address.as_deref().and_then(domain_of) {
            domains.insert(d);
        }
    }
    let envelope_sender = m.envelope.mail_from.clone().unwrap_or_default();
    if let Some(d) = domain_of(&envelope_sender) {
        domains.insert(d);
    }
    let client_ip = m
        .envelope
        .client_ip
        .or(m.client_ip)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let traces = Traces {
        from: m.from.iter().map(mailbox).collect(),
        envelope_sender,
        reply_to: m.reply_to.iter().map(mailbox).collect(),
        return_path: m.return_path.clone().unwrap_or_default(),
        helo: m.envelope.helo.clone().unwrap_or_default(),
        client_ip,
        origin: match m
            .first_external_hop
            .as_ref()
            .and_then(|h| h.ip.map(|ip| (h, ip)))
        {
            Some((hop, ip)) => {
                let names: Vec<&str> = [hop.host.as_deref(), hop.helo.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                if names.is_empty() {
                    ip.to_string()
                } else {
                    format!("{ip} ({})", names.join(", "))
                }
            }
            None => String::new(),
        },
        received: m.received.iter().map(|h| h.line()).collect(),
        urls,
        domains: domains.into_iter().collect(),
        hashes: hashes.into_iter().collect(),
        authentication: report
            .authentication
            .as_ref()
            .map(authentication_summary)
            .unwrap_or_default(),
    };
    let indicators = indicators(&traces);
    MessageReport {
        id: id.to_string(),
        received_at,
        action: report.action.to_string(),
        risk: report.risk.to_string(),
        score: report.score,
        category: report.detection_name().to_string(),
        subject: m.subject.clone().unwrap_or_default(),
        recipients,
        findings,
        traces,
        indicators,
        text_excerpt: m.text_excerpt.clone(),
        attachments: m
            .attachments
            .iter()
            .map(|a| AttachmentLine {
                name: a
                    .file_name
                    .clone()
                    .unwrap_or_else(|| "(unnamed)".to_string()),
                content_type: a.content_type.clone(),
                size: a.size as u64,
            })
            .collect(),
        objects,
        held,
        exception: report.exception.clone(),
    }
}

/// "SPF pass · DKIM fail (example.com) · DMARC fail (p=reject)", or why it was not checked.
fn authentication_summary(a: &AuthSummary) -> String {
    if let Some(why) = &a.skipped {
        return format!("not checked: {why}");
    }
    let mut parts = Vec::new();
    if let Some(spf) = &a.spf {
        parts.push(format!("SPF {spf}"));
    }
    let dkim: Vec<String> = a
        .dkim
        .iter()
        .map(|d| {
            if d.domain.is_empty() {
                d.result.clone()
            } else {
                format!("{} ({})", d.result, d.domain)
            }
        })
        .collect();
    if !dkim.is_empty() {
        parts.push(format!("DKIM {}", dkim.join(", ")));
    }
    if let Some(dmarc) = &a.dmarc {
        let policy = a
            .dmarc_policy
            .as_deref()
            .map(|p| format!(" p={p}"))
            .unwrap_or_default();
        parts.push(format!("DMARC {dmarc}{policy}"));
    }
    if let Some(arc) = &a.arc {
        parts.push(format!("ARC {arc}"));
    }
    let listed: Vec<&str> = a.dnsbl.iter().map(|z| z.zone.as_str()).collect();
    if !listed.is_empty() {
        parts.push(format!("listed on {}", listed.join(", ")));
    }
    if parts.is_empty() {
        "no SPF, DKIM or DMARC result".to_string()
    } else {
        parts.join(" · ")
    }
}

/// Whether an address is worth hunting for elsewhere (not our own network or loopback).
fn public_ip(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .map(|ip| !mailmoat_mime::is_internal(ip))
        .unwrap_or(false)
}

fn indicators(t: &Traces) -> Vec<Indicator> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, value: &str| {
        if !value.is_empty() {
            out.insert(Indicator {
                kind: kind.to_string(),
                value: value.to_string(),
            });
        }
    };
    for f in &t.from {
        let address = f
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>'))
            .unwrap_or(f);
        add("sender", address);
    }
    add("envelope-sender", &t.envelope_sender);
    for r in &t.reply_to {
        let address = r
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>'))
            .unwrap_or(r);
        add("reply-to", address);
    }
    if public_ip(&t.client_ip) {
        add("ip", &t.client_ip);
    }
    if let Some(ip) = t.origin.split(' ').next().filter(|ip| public_ip(ip)) {
        add("ip", ip);
    }
    for u in &t.urls {
        add("url", u);
    }
    for d in &t.domains {
        add("domain", d);
    }
    for h in &t.hashes {
        add("sha256", h);
    }
    out.into_iter().collect()
}

/// The indicators as a plain list, one "kind<TAB>value" per line (for blocklists and SIEMs).
pub fn indicators_text(report: &MessageReport) -> String {
    let mut out = format!(
        "# mailmoat indicators for message {} ({})\n",
        report.id, report.category
    );
    for i in &report.indicators {
        // Values come from the message: no line breaks reach the list.
        let value: String = i.value.chars().filter(|c| !c.is_control()).collect();
        out.push_str(&format!("{}\t{}\n", i.kind, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> ScanReport {
        serde_json::from_value(json!({
            "action": "reject", "risk": "high", "score": 20.0, "forced_by": null,
            "authentication": null,
            "symbols": {
                "PE_INJECTION_IMPORTS": {"score": 6.0, "group": "malware", "hits": [
                    {"details": "invoice.pdf.exe imports what process injection needs (sha256 9C841B2AFC268D4DCB9701037231D0AEB74087856A0FBDA1F9F5A33294B4514D)",
                     "location": ["attachment invoice.zip", "invoice.pdf.exe"], "strength": 1.0}]},
                "HDR_REPLYTO_MISSING": {"score": 0.0, "group": "headers", "hits": [
                    {"details": "no Reply-To", "location": ["header Reply-To"], "strength": 1.0}]}
            },
            "message": {
                "subject": "Invoice", "from": [{"name": "Accounts", "address": "accounts@vendor.example"}],
                "reply_to": [{"name": null, "address": "pay@evil.example"}],
                "envelope": {"mail_from": "bounce@mailer.example", "client_ip": "203.0.113.9", "helo": "mx.evil.example"},
                "received": [{"from_host": "mx.evil.example", "from_ip": "203.0.113.9", "helo": "mx", "by": "gw", "protocol": "ESMTP"}],
                "urls": [{"url": "http://evil.example/pay", "host": "evil.example", "source": "href",
                          "anchor_text": "Pay", "location": ["body text/html"]}],
                "attachments": [{"file_name": "invoice.zip", "content_type": "application/zip", "size": 362}],
                "text_excerpt": "Please pay <b>now</b>"
            }
        }))
        .unwrap()
    }

    #[test]
    fn findings_paths_traces_and_indicators() {
        let table = mailmoat_pipeline::symbol_table();
        let r = build(
            "M1",
            5,
            vec!["bob@corp.example".into()],
            &sample(),
            &table,
            true,
        );
        assert_eq!(r.category, "malware");
        assert_eq!(r.findings[0].symbol, "PE_INJECTION_IMPORTS");
        assert_eq!(
            r.findings[0].hits[0].path,
            "attachment invoice.zip > invoice.pdf.exe"
        );
        assert_eq!(r.findings[0].hits[0].object, Some(0));
        assert!(!r.findings[0].cause.is_empty());
        assert!(
            r.findings[0].countermeasure.contains("block"),
            "{}",
            r.findings[0].countermeasure
        );
        assert_eq!(r.findings[1].hits[0].object, None);
        assert_eq!(
            r.traces.received[0],
            "from mx.evil.example [203.0.113.9] (helo mx) by gw with ESMTP"
        );
        assert_eq!(
            r.traces.hashes,
            ["9c841b2afc268d4dcb9701037231d0aeb74087856a0fbda1f9f5a33294b4514d"]
        );
        let text = indicators_text(&r);
        for line in [
            "sender\taccounts@vendor.example",
            "reply-to\tpay@evil.example",
            "envelope-sender\tbounce@mailer.example",
            "ip\t203.0.113.9",
            "url\thttp://evil.example/pay",
            "domain\tevil.example",
            "domain\tmailer.example",
            "sha256\t9c841b2a",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert_eq!(
            r.objects.len(),
            1,
            "a report stored before objects were kept"
        );
        assert_eq!(
            r.objects[0].path,
            "attachment invoice.zip > invoice.pdf.exe"
        );
        assert!(r.objects[0].flagged);
    }

    #[test]
    fn hits_name_the_walks_objects_by_id() {
        let mut scan = sample();
        let object = |id: u32, location: &[&str], kind: &str| mailmoat_core::ObjectInfo {
            id,
            location: location
                .iter()
                .skip(1)
                .fold(Location::new(location[0]), |l, s| l.child(*s)),
            name: location.last().unwrap().to_string(),
            kind: kind.into(),
            size: 100,
            sha256: format!("{id:064x}"),
            opinions: Vec::new(),
        };
        scan.objects = vec![
            object(0, &["attachment invoice.zip"], "a ZIP archive"),
            object(
                1,
                &["attachment invoice.zip", "invoice.pdf.exe"],
                "a Windows program (PE)",
            ),
        ];
        let table = mailmoat_pipeline::symbol_table();
        let r = build("M1", 5, vec![], &scan, &table, true);
        assert_eq!(r.findings[0].hits[0].object, Some(1));
        let listed: Vec<(u32, bool)> = r.objects.iter().map(|o| (o.id, o.flagged)).collect();
        assert_eq!(listed, [(0, false), (1, true)]);
        assert_eq!(r.objects[1].kind, "a Windows program (PE)");

        // What the engines said, and how many agree.
        use mailmoat_core::{Engine, Judgement, Opinion};
        let said = |engine, judgement, detail: &str| Opinion {
            engine,
            judgement,
            detail: detail.into(),
        };
        scan.objects[1].opinions = vec![
            said(Engine::Yara, Judgement::Malicious, "families:Dropper"),
            said(Engine::Clamav, Judgement::NoAnswer, "clamd did not answer"),
            said(
                Engine::Analysers,
                Judgement::Malicious,
                "FILETYPE_DISGUISED_EXECUTABLE",
            ),
            said(Engine::KnownHashes, Judgement::Clean, ""),
        ];
        let r = build("M1", 5, vec![], &scan, &table, true);
        assert_eq!(r.objects[1].agreement, "2 of 3 engines: malicious");
        assert_eq!(
            r.objects[1].opinions,
            [
                "YARA: malicious (families:Dropper)",
                "ClamAV: no answer (clamd did not answer)",
                "analysers: malicious (FILETYPE_DISGUISED_EXECUTABLE)",
                "known-bad hashes: clean",
            ]
        );
        assert_eq!(r.objects[0].agreement, "");
    }

    #[test]
    fn hashes_need_exactly_64_hex_digits_on_a_boundary() {
        let h = "a".repeat(64);
        assert_eq!(hashes_in(&format!("sha256 {h}.")), vec![h.clone()]);
        assert!(hashes_in(&"a".repeat(65)).is_empty());
        assert!(hashes_in(&format!("x{h}")).is_empty());
    }

    #[test]
    fn screenshots_are_read_from_findings_and_nothing_else_passes() {
        let h = "ab".repeat(32);
        let report: ScanReport = serde_json::from_value(json!({"symbols": {
            "URL_VISUAL_BRAND_IMPERSONATION": {"score": 9.5, "hits": [
                {"details": format!("https://x.example/ looks like PayPal's login page; screenshot {h}"), "location": ["body text/html"], "strength": 1.0},
                {"details": "no screenshot here; screenshot ../../etc/passwd", "location": [], "strength": 1.0}
            ]}
        }}))
        .unwrap();
        assert_eq!(screenshots(&report), vec![h]);
    }
}

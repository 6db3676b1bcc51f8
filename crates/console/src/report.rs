//! The per-message report people read: built from the scan report (`Report::to_json`) and the
//! symbol declarations. What was found and where (the infection path), who sent it and how it
//! travelled, what it targets, why each finding matters and what to do about it, and the
//! indicators to hunt for elsewhere.

use std::collections::BTreeSet;

use mailmoat_core::SymbolTable;
use serde::Serialize;
use serde_json::Value;

use mailmoat_gateway::events::{detection_category, symbol_category};

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
    /// Index into the report's objects with a byte-plot image, when the hit names an object.
    pub object: Option<usize>,
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

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentLine {
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// The hit locations that name an object inside an attachment (what byte plots are drawn for):
/// the location segments, distinct, in the order found.
/// SHA-256 names of the page screenshots the visual link analysis kept for this message
/// ("…; screenshot HEX" in a finding's details).
pub fn screenshots(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in report["symbols"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for hit in s["hits"].as_array().into_iter().flatten() {
            let details = hit["details"].as_str().unwrap_or_default();
            if let Some((_, hash)) = details.rsplit_once("; screenshot ") {
                if hash.len() == 64
                    && hash.bytes().all(|b| b.is_ascii_hexdigit())
                    && !out.iter().any(|h| h == hash)
                {
                    out.push(hash.to_string());
                }
            }
        }
    }
    out
}

pub fn flagged_objects(report: &Value) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    if let Some(symbols) = report["symbols"].as_object() {
        for s in symbols.values() {
            if s["score"].as_f64().unwrap_or(0.0) <= 0.0 {
                continue;
            }
            for hit in s["hits"].as_array().into_iter().flatten() {
                let segments: Vec<String> = hit["location"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                if segments
                    .first()
                    .is_some_and(|s| s.starts_with("attachment ") || s.starts_with("inline "))
                    && !out.contains(&segments)
                {
                    out.push(segments);
                }
            }
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn mailbox(v: &Value) -> String {
    let address = v["address"].as_str().unwrap_or("");
    match v["name"].as_str().filter(|n| !n.is_empty()) {
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
    report: &Value,
    symbols: &SymbolTable,
    held: bool,
) -> MessageReport {
    let objects = flagged_objects(report);
    let m = &report["message"];
    let mut findings = Vec::new();
    let mut hashes = BTreeSet::new();
    if let Some(map) = report["symbols"].as_object() {
        for (name, s) in map {
            let category = symbol_category(s).map_or("spam", |c| c.as_str());
            let score = s["score"].as_f64().unwrap_or(0.0);
            let hits: Vec<FindingHit> = s["hits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    let segments = strings(&h["location"]);
                    let details = h["details"].as_str().unwrap_or("").to_string();
                    hashes.extend(hashes_in(&details));
                    FindingHit {
                        path: if segments.is_empty() {
                            "message".to_string()
                        } else {
                            segments.join(" > ")
                        },
                        object: objects.iter().position(|o| *o == segments),
                        details,
                    }
                })
                .collect();
            findings.push(Finding {
                symbol: name.clone(),
                category: category.to_string(),
                score,
                forced: s.get("forced").is_some_and(|f| !f.is_null()),
                cause: symbols
                    .get(name)
                    .map(|d| d.description.to_string())
                    .unwrap_or_else(|| "A rule of this installation.".to_string()),
                countermeasure: crate::advice::countermeasure(name, category).to_string(),
                hits,
            });
        }
    }
    findings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.symbol.cmp(&b.symbol))
    });
    let from: Vec<String> = m["from"]
        .as_array()
        .into_iter()
        .flatten()
        .map(mailbox)
        .collect();
    let reply_to: Vec<String> = m["reply_to"]
        .as_array()
        .into_iter()
        .flatten()
        .map(mailbox)
        .collect();
    let received: Vec<String> = m["received"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let mut line = String::from("from ");
            line.push_str(h["from_host"].as_str().unwrap_or("?"));
            if let Some(ip) = h["from_ip"].as_str() {
                line.push_str(&format!(" [{ip}]"));
            }
            if let Some(helo) = h["helo"].as_str() {
                line.push_str(&format!(" (helo {helo})"));
            }
            if let Some(by) = h["by"].as_str() {
                line.push_str(&format!(" by {by}"));
            }
            if let Some(p) = h["protocol"].as_str() {
                line.push_str(&format!(" with {p}"));
            }
            line
        })
        .collect();
    let urls: Vec<String> = m["urls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["url"].as_str().map(str::to_string))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut domains: BTreeSet<String> = m["urls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["host"].as_str().map(str::to_string))
        .collect();
    for a in m["from"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(m["reply_to"].as_array().into_iter().flatten())
    {
        if let Some(d) = a["address"].as_str().and_then(domain_of) {
            domains.insert(d);
        }
    }
    let envelope_sender = m["envelope"]["mail_from"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if let Some(d) = domain_of(&envelope_sender) {
        domains.insert(d);
    }
    let client_ip = m["envelope"]["client_ip"]
        .as_str()
        .or(m["client_ip"].as_str())
        .unwrap_or("")
        .to_string();
    let traces = Traces {
        from,
        envelope_sender,
        reply_to,
        return_path: m["return_path"].as_str().unwrap_or("").to_string(),
        helo: m["envelope"]["helo"].as_str().unwrap_or("").to_string(),
        client_ip,
        origin: {
            let hop = &m["first_external_hop"];
            match hop["ip"].as_str() {
                Some(ip) => {
                    let names: Vec<&str> = [hop["host"].as_str(), hop["helo"].as_str()]
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
            }
        },
        received,
        urls,
        domains: domains.into_iter().collect(),
        hashes: hashes.into_iter().collect(),
        authentication: authentication_summary(&report["authentication"]),
    };
    let indicators = indicators(&traces);
    MessageReport {
        id: id.to_string(),
        received_at,
        action: report["action"].as_str().unwrap_or("").to_string(),
        risk: report["risk"].as_str().unwrap_or("").to_string(),
        score: report["score"].as_f64().unwrap_or(0.0),
        category: detection_category(report).to_string(),
        subject: m["subject"].as_str().unwrap_or("").to_string(),
        recipients,
        findings,
        traces,
        indicators,
        text_excerpt: m["text_excerpt"].as_str().unwrap_or("").to_string(),
        attachments: m["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| AttachmentLine {
                name: a["file_name"].as_str().unwrap_or("(unnamed)").to_string(),
                content_type: a["content_type"].as_str().unwrap_or("").to_string(),
                size: a["size"].as_u64().unwrap_or(0),
            })
            .collect(),
        held,
        exception: report["exception"].as_str().map(str::to_string),
    }
}

/// "SPF pass · DKIM fail (example.com) · DMARC fail (p=reject)", or why it was not checked.
fn authentication_summary(a: &Value) -> String {
    if a.is_null() {
        return String::new();
    }
    if let Some(why) = a["skipped"].as_str() {
        return format!("not checked: {why}");
    }
    let result = |v: &Value| -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("result").and_then(|r| r.as_str()).map(|r| {
                match o.get("domain").and_then(|d| d.as_str()) {
                    Some(d) => format!("{r} ({d})"),
                    None => r.to_string(),
                }
            }),
            other => Some(other.to_string()),
        }
    };
    let mut parts = Vec::new();
    if let Some(spf) = result(&a["spf"]) {
        parts.push(format!("SPF {spf}"));
    }
    let dkim: Vec<String> = a["dkim"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(result)
        .collect();
    if !dkim.is_empty() {
        parts.push(format!("DKIM {}", dkim.join(", ")));
    }
    if let Some(dmarc) = result(&a["dmarc"]) {
        let policy = a["dmarc_policy"]
            .as_str()
            .map(|p| format!(" p={p}"))
            .unwrap_or_default();
        parts.push(format!("DMARC {dmarc}{policy}"));
    }
    if let Some(arc) = result(&a["arc"]) {
        parts.push(format!("ARC {arc}"));
    }
    let listed: Vec<String> = a["dnsbl"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|z| z["zone"].as_str().or(z.as_str()).map(str::to_string))
        .collect();
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

    fn sample() -> Value {
        json!({
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
                "urls": [{"url": "http://evil.example/pay", "host": "evil.example"}],
                "attachments": [{"file_name": "invoice.zip", "content_type": "application/zip", "size": 362}],
                "text_excerpt": "Please pay <b>now</b>"
            }
        })
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
            flagged_objects(&sample()),
            vec![vec![
                "attachment invoice.zip".to_string(),
                "invoice.pdf.exe".to_string()
            ]]
        );
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
        let report = serde_json::json!({"symbols": {
            "URL_VISUAL_BRAND_IMPERSONATION": {"score": 9.5, "hits": [
                {"details": format!("https://x.example/ looks like PayPal's login page; screenshot {h}"), "location": ["body text/html"]},
                {"details": "no screenshot here; screenshot ../../etc/passwd", "location": []}
            ]}
        }});
        assert_eq!(screenshots(&report), vec![h]);
    }
}

use std::collections::BTreeMap;

use mailmoat_core::{Findings, Verdict};
use mailmoat_mime::MessageView;
use serde::Serialize;
use serde_json::{json, Value};

/// What a scan found about one message: the view, the evidence and the verdict.
#[derive(Debug)]
pub struct Report {
    pub view: MessageView,
    pub findings: Findings,
    pub verdict: Verdict,
    /// What the authentication stage found, when it ran.
    pub auth: Option<mailmoat_auth::AuthOutcome>,
}

#[derive(Serialize)]
struct SymbolJson<'a> {
    score: f64,
    group: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<mailmoat_core::Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forced: Option<mailmoat_core::Action>,
    hits: &'a [mailmoat_core::policy::Hit],
}

impl Report {
    /// Symbol names, strongest first.
    pub fn symbol_names(&self) -> Vec<&str> {
        self.verdict
            .reasons
            .iter()
            .map(|r| r.symbol.as_str())
            .collect()
    }

    /// Everything as one JSON object. `symbols` maps each symbol to its score and hits.
    pub fn to_json(&self, file: &str) -> Value {
        let v = &self.view;
        let symbols: BTreeMap<&str, SymbolJson<'_>> = self
            .verdict
            .reasons
            .iter()
            .map(|r| {
                (
                    r.symbol.as_str(),
                    SymbolJson {
                        score: round(r.score),
                        group: &r.group,
                        category: r.category,
                        forced: r.forced,
                        hits: &r.hits,
                    },
                )
            })
            .collect();
        let addresses = |list: &[mailmoat_mime::Mailbox]| -> Vec<Value> {
            list.iter()
                .map(|m| json!({"name": m.name, "address": m.address}))
                .collect()
        };
        let mut out = json!({
            "file": file,
            "action": self.verdict.action,
            "risk": self.verdict.risk,
            "score": round(self.verdict.score),
            "symbols": symbols,
            "forced_by": self.verdict.forced_by,
            "capped_groups": self.verdict.capped_groups,
            "authentication": self.auth.as_ref().map(|a| &a.summary),
            "message": {
                "message_id": v.message_id,
                "subject": v.subject,
                "date": v.date,
                "from": addresses(&v.from),
                "to": addresses(&v.to),
                "reply_to": addresses(&v.reply_to),
                "return_path": v.return_path,
                "envelope": v.envelope,
                "client_ip": v.client_ip(),
                "first_external_hop": v.first_external_hop().map(|h| json!({"ip": h.from_ip, "helo": h.helo, "host": h.from_host})),
                "received_hops": v.received.len(),
                "received": v.received.iter().map(|h| json!({"from_host": h.from_host, "from_ip": h.from_ip, "helo": h.helo, "by": h.by_host, "protocol": h.protocol, "tls": h.tls, "date": h.date})).collect::<Vec<_>>(),
                "text_excerpt": excerpt(v),
                "size": v.raw.len(),
                "parts": v.parts,
                "urls": v.urls,
                "attachments": v.attachments,
                "embedded_messages": v.embedded_messages.iter().map(|e| json!({"location": e.location, "subject": e.subject, "from": addresses(&e.from)})).collect::<Vec<_>>(),
                "problems": v.problems,
            },
        });
        // Only a learned fusion gives a calibrated probability; hand weights give none.
        if let Some(p) = self.verdict.spam_probability {
            out["spam_probability"] = json!((p * 1e6).round() / 1e6);
        }
        out
    }
}

/// The start of the message's readable text (plain text, or the text of its HTML), for reports
/// that show what the message said without keeping it whole.
fn excerpt(v: &mailmoat_mime::MessageView) -> String {
    const MAX_CHARS: usize = 2000;
    let text = v.texts.first().map(|t| t.text.as_str()).unwrap_or("");
    let mut out: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

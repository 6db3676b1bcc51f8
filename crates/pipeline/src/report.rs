use mailmoat_core::{Findings, Verdict};
use mailmoat_mime::MessageView;
use serde_json::Value;

use crate::scan_report::{
    AttachmentSummary, EmbeddedSummary, ExternalHop, Hop, MessageSummary, ScanReport, SymbolReport,
    MAX_REPORTED_OBJECTS, SCAN_REPORT_VERSION,
};

/// What a scan found about one message: the view, the evidence and the verdict.
#[derive(Debug)]
pub struct Report {
    pub view: MessageView,
    pub findings: Findings,
    pub verdict: Verdict,
    /// What the authentication stage found, when it ran.
    pub auth: Option<mailmoat_auth::AuthOutcome>,
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

    /// The `Authentication-Results` field (CRLF-terminated) the authentication stage wrote,
    /// when it judged the message.
    pub fn authentication_results(&self) -> Option<&str> {
        self.auth.as_ref().and_then(|a| a.header.as_deref())
    }

    /// The typed result to store and show; `file` names the message (a path, a queue id).
    pub fn scan_report(&self, file: &str) -> ScanReport {
        let v = &self.view;
        let verdict = &self.verdict;
        let symbols = verdict
            .reasons
            .iter()
            .map(|r| {
                (
                    r.symbol.clone(),
                    SymbolReport {
                        score: round(r.score),
                        group: r.group.clone(),
                        category: r.category,
                        forced: r.forced,
                        hits: r.hits.clone(),
                    },
                )
            })
            .collect();
        let named: Vec<&mailmoat_core::Location> = verdict
            .reasons
            .iter()
            .flat_map(|r| r.hits.iter().map(|h| &h.location))
            .collect();
        let objects: Vec<mailmoat_core::ObjectInfo> = self
            .findings
            .objects()
            .iter()
            .enumerate()
            .filter(|(i, o)| *i < MAX_REPORTED_OBJECTS || named.contains(&&o.location))
            .map(|(_, o)| o.clone())
            .collect();
        let hop = |h: &mailmoat_mime::ReceivedHop| Hop {
            from_host: h.from_host.clone(),
            from_ip: h.from_ip,
            helo: h.helo.clone(),
            by: h.by_host.clone(),
            protocol: h.protocol.clone(),
            tls: h.tls,
            date: h.date,
        };
        ScanReport {
            version: SCAN_REPORT_VERSION,
            file: file.to_string(),
            action: verdict.action,
            risk: verdict.risk,
            score: round(verdict.score),
            // Only a learned fusion gives a calibrated probability; hand weights give none.
            spam_probability: verdict.spam_probability.map(|p| (p * 1e6).round() / 1e6),
            symbols,
            forced_by: verdict.forced_by.clone(),
            floored_by: verdict.floored_by.clone(),
            capped_groups: verdict.capped_groups.clone(),
            authentication: self.auth.as_ref().map(|a| a.summary.clone()),
            message: MessageSummary {
                message_id: v.message_id.clone(),
                subject: v.subject.clone(),
                date: v.date,
                from: v.from.clone(),
                to: v.to.clone(),
                reply_to: v.reply_to.clone(),
                return_path: v.return_path.clone(),
                envelope: v.envelope.clone(),
                client_ip: v.client_ip(),
                first_external_hop: v.first_external_hop().map(|h| ExternalHop {
                    ip: h.from_ip,
                    helo: h.helo.clone(),
                    host: h.from_host.clone(),
                }),
                received_hops: v.received.len(),
                received: v.received.iter().map(hop).collect(),
                text_excerpt: excerpt(v),
                size: v.raw.len(),
                parts: v.parts.clone(),
                urls: v.urls.clone(),
                attachments: v
                    .attachments
                    .iter()
                    .map(|a| AttachmentSummary {
                        location: a.location.clone(),
                        file_name: a.file_name.clone(),
                        content_type: a.content_type.clone(),
                        sniffed_type: a.sniffed_type.map(str::to_string),
                        inline: a.inline,
                        size: a.size,
                    })
                    .collect(),
                embedded_messages: v
                    .embedded_messages
                    .iter()
                    .map(|e| EmbeddedSummary {
                        location: e.location.clone(),
                        subject: e.subject.clone(),
                        from: e.from.clone(),
                    })
                    .collect(),
                problems: v.problems.clone(),
            },
            objects_omitted: self.findings.objects().len() - objects.len(),
            objects,
            exception: None,
        }
    }

    /// [`scan_report`](Self::scan_report) as JSON (what `mailmoat scan --json` prints).
    pub fn to_json(&self, file: &str) -> Value {
        serde_json::to_value(self.scan_report(file)).expect("a scan report is plain data")
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

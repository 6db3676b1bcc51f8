//! rspamd's HTTP scan protocol, so `rspamc`, Haraka's and Exim's rspamd clients and rspamd's
//! own proxy scan with mailmoat unchanged: `POST /checkv2` (and the older `/symbols`, `/check`)
//! with rspamd's request headers, answered in rspamd's JSON shape; `GET /ping`; and mailmoat's
//! own `POST /api/v1/scan`, answered with the full typed report. The caller keeps the message
//! and acts on the answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crate::config::RspamdConfig;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mailmoat_core::Action;
use mailmoat_mime::Envelope;
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::address::unbracketed;
use crate::scan_service::{self, Scanned};
use crate::{headers, new_id, unix_now, Shared};

struct Service {
    shared: Arc<Shared>,
    config: RspamdConfig,
    places: Semaphore,
}

/// Serves until the process ends.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, config: RspamdConfig) {
    let limit = config.max_message_bytes;
    let service = Arc::new(Service {
        places: Semaphore::new(config.max_connections.max(1)),
        shared,
        config,
    });
    let app = Router::new()
        .route("/ping", get(|| async { "pong\r\n" }))
        .route("/checkv2", post(checkv2))
        .route("/symbols", post(checkv2))
        .route("/check", post(checkv2))
        .route("/api/v1/scan", post(api_scan))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(service);
    if let Err(e) = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    {
        tracing::error!(error = %e, "rspamd protocol service stopped");
    }
}

/// What the request headers say about the SMTP transaction (rspamd's names).
#[derive(Debug, Default, PartialEq)]
pub struct Transaction {
    pub client_ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    /// The one recipient the answer is for (`Deliver-To`, else the only `Rcpt`).
    pub recipient: Option<String>,
    pub queue_id: Option<String>,
}

/// Reads the transaction from the request headers (hyper has parsed the HTTP itself): the part
/// of a request mailmoat interprets, and what the `rspamd_request` fuzz target feeds.
pub fn transaction(headers: &HeaderMap) -> Transaction {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(unbracketed)
            .filter(|v| !v.is_empty())
    };
    let rcpt_to: Vec<String> = headers
        .get_all("Rcpt")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(unbracketed)
        .filter(|v| !v.is_empty())
        .collect();
    let recipient = text("Deliver-To").or_else(|| match rcpt_to.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    });
    Transaction {
        client_ip: text("IP").and_then(|ip| ip.parse().ok()),
        helo: text("Helo"),
        mail_from: text("From"),
        rcpt_to,
        recipient,
        queue_id: text("Queue-Id").map(|q| q.chars().take(64).collect()),
    }
}

/// Loopback clients may scan; others need the configured password (`Password` as rspamd's
/// controller, or `Authorization: Bearer`).
pub fn authorised(config: &RspamdConfig, peer: SocketAddr, headers: &HeaderMap) -> bool {
    if peer.ip().is_loopback() {
        return true;
    }
    if config.password.is_empty() {
        return false;
    }
    let sent = headers
        .get("Password")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("Authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .unwrap_or("");
    constant_time_eq(sent.as_bytes(), config.password.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "error": text }))).into_response()
}

/// Scans the body for the transaction the headers describe.
async fn scan(
    service: &Service,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Scanned, String), Response> {
    if !authorised(&service.config, peer, headers) {
        tracing::warn!(%peer, "rspamd protocol: client refused (not loopback, no valid password)");
        return Err(error(StatusCode::FORBIDDEN, "authentication required"));
    }
    if body.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "no message in the request body",
        ));
    }
    let _place = service
        .places
        .acquire()
        .await
        .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    let t = transaction(headers);
    let envelope = Envelope {
        mail_from: t.mail_from.clone(),
        rcpt_to: t.rcpt_to.clone(),
        client_ip: t.client_ip,
        helo: t.helo.clone(),
        received_at: Some(unix_now()),
    };
    let id = new_id();
    let span = tracing::info_span!("message", %id, via = "rspamd", queue_id = t.queue_id.as_deref().unwrap_or(""));
    use tracing::Instrument;
    let recipients: Vec<String> = t.recipient.iter().cloned().collect();
    let scanned = scan_service::scan(&service.shared, body.to_vec(), envelope, &recipients, &id)
        .instrument(span)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "rspamd protocol: scan failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "scan failed")
        })?;
    Ok((scanned, id))
}

async fn checkv2(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (scanned, id) = match scan(&service, peer, &headers, body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let scanner = service.shared.scanner.current();
    Json(checkv2_reply(
        &service.shared,
        &scanner,
        &scanned,
        &id,
        started.elapsed().as_secs_f64(),
    ))
    .into_response()
}

/// rspamd's action name for ours.
fn rspamd_action(action: Action, rewrites_subject: bool) -> &'static str {
    match action {
        Action::Deliver => "no action",
        Action::Tag if rewrites_subject => "rewrite subject",
        Action::Tag => "add header",
        Action::Quarantine => "quarantine",
        Action::Tempfail => "soft reject",
        Action::Reject => "reject",
    }
}

#[derive(Serialize)]
struct SymbolReply {
    name: String,
    score: f64,
    metric_score: f64,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
}

/// The checkv2 reply: rspamd's fields, with the headers a milter-speaking client adds.
fn checkv2_reply(
    shared: &Shared,
    scanner: &mailmoat_pipeline::Scanner,
    scanned: &Scanned,
    id: &str,
    seconds: f64,
) -> Value {
    let report = &scanned.report;
    let verdict = &report.verdict;
    let policy = scanner.policy();
    let prefix = shared.config.tag_subject_prefix.as_str();
    let action = rspamd_action(scanned.action, !prefix.is_empty());
    let mut symbols = Map::new();
    for reason in &verdict.reasons {
        let options: Vec<String> = reason
            .hits
            .iter()
            .take(5)
            .map(|h| h.details.chars().take(200).collect())
            .filter(|d: &String| !d.is_empty())
            .collect();
        let reply = SymbolReply {
            name: reason.symbol.clone(),
            score: round(reason.score),
            metric_score: round(reason.score),
            description: scanner
                .symbols()
                .get(&reason.symbol)
                .map(|d| d.description.to_string())
                .unwrap_or_default(),
            options,
        };
        symbols.insert(
            reason.symbol.clone(),
            serde_json::to_value(reply).expect("plain data"),
        );
    }
    let mut add_headers = Map::new();
    let mut remove_headers = Map::new();
    let mut add = |name: &str, value: String| {
        add_headers.insert(name.to_string(), json!({ "value": value, "order": 0 }));
        // Copies from outside go first, so a sender cannot forge a verdict.
        remove_headers.insert(name.to_string(), json!(0));
    };
    for line in headers::verdict_headers(verdict, id).split("\r\n") {
        if let Some((name, value)) = line.split_once(": ") {
            add(name, value.to_string());
        }
    }
    if scanned.action != Action::Deliver {
        add("X-Spam", "Yes".to_string());
    }
    if let Some(header) = report.authentication_results() {
        if let Some((_, value)) = header.trim_end().split_once(": ") {
            add_headers.insert(
                "Authentication-Results".to_string(),
                json!({ "value": value, "order": 0 }),
            );
        }
    }
    let mut reply = json!({
        "is_skipped": false,
        "score": round(verdict.score),
        "required_score": round(policy.reject_threshold()),
        "action": action,
        "thresholds": {
            "reject": policy.reject_threshold(),
            "quarantine": policy.quarantine_threshold(),
            "add header": policy.tag_threshold(),
        },
        "symbols": symbols,
        "messages": {},
        "message-id": report.view.message_id.clone().unwrap_or_default(),
        "time_real": seconds,
        "milter": { "add_headers": add_headers, "remove_headers": remove_headers },
        "scan_id": id,
    });
    if action == "rewrite subject" {
        let subject = report.view.subject.clone().unwrap_or_default();
        reply["subject"] = json!(if subject.starts_with(prefix) {
            subject
        } else {
            format!("{prefix} {subject}")
        });
    }
    if scanned.action == Action::Reject {
        reply["messages"] =
            json!({ "smtp_message": format!("Message refused by policy (id {id})") });
    }
    reply
}

/// mailmoat's own scan API: the typed report, as the console and the message log keep it.
async fn api_scan(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (scanned, id) = match scan(&service, peer, &headers, body).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let mut report = scanned.report.scan_report(&id);
    // The action for the recipient the request named, when an exception changed it.
    report.action = scanned.action;
    Json(report).into_response()
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_describe_the_transaction() {
        let mut h = HeaderMap::new();
        h.insert("IP", "203.0.113.9".parse().unwrap());
        h.insert("Helo", "mx.sender.example".parse().unwrap());
        h.insert("From", "<a@sender.example>".parse().unwrap());
        h.append("Rcpt", "<bob@example.com>".parse().unwrap());
        h.insert("Queue-Id", "4Xy7".parse().unwrap());
        let t = transaction(&h);
        assert_eq!(t.client_ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(t.mail_from.as_deref(), Some("a@sender.example"));
        assert_eq!(
            t.recipient.as_deref(),
            Some("bob@example.com"),
            "the only Rcpt"
        );
        h.append("Rcpt", "ann@example.com".parse().unwrap());
        assert_eq!(
            transaction(&h).recipient,
            None,
            "two recipients, no Deliver-To"
        );
        h.insert("Deliver-To", "ann@example.com".parse().unwrap());
        assert_eq!(
            transaction(&h).recipient.as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(transaction(&h).rcpt_to.len(), 2);
        h.insert("IP", "not an address".parse().unwrap());
        assert_eq!(transaction(&h).client_ip, None);
    }

    #[test]
    fn only_loopback_or_the_password_may_scan() {
        let mut config = RspamdConfig::default();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let none = HeaderMap::new();
        assert!(authorised(&config, local, &none));
        assert!(
            !authorised(&config, remote, &none),
            "no password configured"
        );
        config.password = "s3cret".into();
        assert!(!authorised(&config, remote, &none));
        let mut h = HeaderMap::new();
        h.insert("Password", "s3cret".parse().unwrap());
        assert!(authorised(&config, remote, &h));
        h.insert("Password", "s3cre".parse().unwrap());
        assert!(!authorised(&config, remote, &h));
        let mut h = HeaderMap::new();
        h.insert("Authorization", "Bearer s3cret".parse().unwrap());
        assert!(authorised(&config, remote, &h));
    }

    #[test]
    fn actions_in_rspamds_names() {
        assert_eq!(rspamd_action(Action::Deliver, true), "no action");
        assert_eq!(rspamd_action(Action::Tag, true), "rewrite subject");
        assert_eq!(rspamd_action(Action::Tag, false), "add header");
        assert_eq!(rspamd_action(Action::Quarantine, true), "quarantine");
        assert_eq!(rspamd_action(Action::Tempfail, true), "soft reject");
        assert_eq!(rspamd_action(Action::Reject, true), "reject");
    }
}

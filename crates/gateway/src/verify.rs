//! Recipient verification against the downstream server: a RCPT probe (MAIL FROM:<>, RCPT TO,
//! RSET, QUIT) to the recipient's route, so mail for people the company's server does not know
//! is refused in the SMTP session instead of bounced later. Answers are cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_send::smtp::message::Parameters;
use mail_send::SmtpClient;

use crate::{Rcpt, Shared};

const ACCEPTED_FOR: Duration = Duration::from_secs(3600);
const REFUSED_FOR: Duration = Duration::from_secs(600);
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Probe answers by lower-cased address: (known, when asked).
#[derive(Default)]
pub struct Cache(Mutex<HashMap<String, (bool, Instant)>>);

impl Cache {
    fn get(&self, address: &str) -> Option<bool> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let &(known, at) = map.get(address)?;
        let ttl = if known { ACCEPTED_FOR } else { REFUSED_FOR };
        (at.elapsed() < ttl).then_some(known)
    }

    fn put(&self, address: String, known: bool) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(address, (known, Instant::now()));
    }
}

/// The downstream's answer for an accepted-domain recipient.
pub async fn recipient(shared: &Shared, address: &str) -> Rcpt {
    let key = address.to_ascii_lowercase();
    if let Some(known) = shared.verified.get(&key) {
        return if known {
            Rcpt::Accepted(address.to_string())
        } else {
            Rcpt::Unknown
        };
    }
    let route = shared.route_for(address);
    let Some(hostport) = route.strip_prefix("smtp://") else {
        // A local folder knows no users: everyone is accepted.
        return Rcpt::Accepted(address.to_string());
    };
    match probe(hostport, &shared.config.hostname, address).await {
        Some(known) => {
            shared.verified.put(key, known);
            if known {
                Rcpt::Accepted(address.to_string())
            } else {
                Rcpt::Unknown
            }
        }
        None => Rcpt::Unverified,
    }
}

/// Some(true) accepted, Some(false) refused with a 5xx, None when the server could not say.
async fn probe(hostport: &str, helo: &str, address: &str) -> Option<bool> {
    let addr = tokio::net::lookup_host(hostport).await.ok()?.next()?;
    let mut client = SmtpClient::connect(addr, PROBE_TIMEOUT).await.ok()?;
    let _ = client.stream.set_nodelay(true);
    if client.read().await.ok()?.code() / 100 != 2 {
        return None;
    }
    client.ehlo(helo).await.ok()?;
    let params = Parameters::default();
    client.mail_from("", &params).await.ok()?;
    let answer = match client.rcpt_to(address, &params).await {
        Ok(()) => Some(true),
        Err(mail_send::Error::UnexpectedReply(r)) if r.code() >= 500 => Some(false),
        Err(_) => None,
    };
    let _ = client.rset().await;
    let _ = client.cmd(b"QUIT\r\n").await;
    answer
}

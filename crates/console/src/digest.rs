//! The daily quarantine digest: once a day, each user with held mail gets a plain-text message
//! listing it (sender, subject, risk, why) with a link to the console, through the gateway's
//! own delivery queue.

use std::sync::Arc;
use std::time::Duration;

use mailmoat_gateway::quarantine::Search;
use mailmoat_gateway::{new_id, QueueEntry, Recipient, RecipientState};

use crate::store::{Role, User};
use crate::{format_time, now, Console};

pub fn spawn(c: Arc<Console>) {
    if !c.config.digest {
        return;
    }
    tokio::spawn(async move {
        loop {
            let c2 = c.clone();
            let sent = tokio::task::spawn_blocking(move || send_due(&c2, now())).await;
            match sent {
                Ok(Ok(n)) if n > 0 => {
                    tracing::info!(digests = n, "console: quarantine digests queued")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "console: digest failed"),
                _ => {}
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
}

/// Queues today's digests that are due (after the configured hour) and not sent yet.
pub fn send_due(c: &Console, at: i64) -> Result<usize, String> {
    let day = at.div_euclid(86400);
    if at.rem_euclid(86400) < i64::from(c.config.digest_hour_utc.min(23)) * 3600 {
        return Ok(0);
    }
    let mut sent = 0;
    for user in c.store.users().map_err(|e| e.to_string())? {
        if user.role != Role::User || user.addresses.is_empty() {
            continue;
        }
        let Some(message) = digest_for(c, &user, at)? else {
            continue;
        };
        if !c
            .store
            .claim_digest(user.id, day)
            .map_err(|e| e.to_string())?
        {
            continue;
        }
        let entry = QueueEntry {
            id: new_id(),
            received_at: at,
            // A null sender: nobody answers or bounces a digest.
            mail_from: String::new(),
            client_ip: None,
            helo: None,
            recipients: user
                .addresses
                .iter()
                .map(|a| Recipient {
                    address: a.clone(),
                    state: RecipientState::Pending,
                    last_reply: String::new(),
                })
                .collect(),
            prepend: String::new(),
            tag_subject: false,
            attempts: 0,
            next_attempt_at: at,
            is_bounce: true,
        };
        c.gateway
            .enqueue(entry, message.as_bytes())
            .map_err(|e| e.to_string())?;
        sent += 1;
    }
    Ok(sent)
}

/// The digest message for a user, or `None` when nothing of theirs was held in the last day.
pub fn digest_for(c: &Console, user: &User, at: i64) -> Result<Option<String>, String> {
    let mut held = Vec::new();
    for address in &user.addresses {
        for h in c
            .gateway
            .quarantine()
            .search(&Search {
                recipient: Some(address.clone()),
                since: Some(at - 86400),
                limit: 200,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?
        {
            if user.may_see(&h.recipients)
                && !held
                    .iter()
                    .any(|x: &mailmoat_gateway::quarantine::Held| x.id == h.id)
            {
                held.push(h);
            }
        }
    }
    if held.is_empty() {
        return Ok(None);
    }
    let base = c.config.public_url.trim_end_matches('/');
    let clean = |s: &str| -> String { s.chars().filter(|ch| !ch.is_control()).collect() };
    let mut body = format!(
        "{} message(s) addressed to you were held in quarantine in the last 24 hours.\r\n\
         Open one to see why; release it if you expected it.\r\n\r\n",
        held.len()
    );
    for h in &held {
        body.push_str(&format!(
            "{}  {}  risk {}\r\n  From: {}\r\n  Subject: {}\r\n  Why: {}\r\n  {base}/messages/{}\r\n\r\n",
            format_time(h.received_at),
            h.action,
            h.risk,
            clean(if h.from.is_empty() { &h.mail_from } else { &h.from }),
            clean(&h.subject),
            h.symbols.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            h.id
        ));
    }
    let hostname = &c.gateway.config().hostname;
    Ok(Some(format!(
        "From: mailmoat quarantine <postmaster@{hostname}>\r\n\
         To: {}\r\n\
         Subject: Quarantine digest: {} held message(s)\r\n\
         Date: {}\r\n\
         Message-ID: <digest-{}-{}@{hostname}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         Auto-Submitted: auto-generated\r\n\r\n{body}",
        user.addresses.join(", "),
        held.len(),
        mailmoat_gateway::rfc2822_date(at),
        user.id,
        at.div_euclid(86400),
    )))
}

//! What the console does, for the HTML pages and the REST API alike. Every operation takes the
//! caller and checks here, once, what they may see and do: administrators everything, users
//! only messages addressed to one of their own addresses. A message a user may not see is "not
//! found", exactly like one that does not exist, so ids cannot be probed.

use std::collections::BTreeMap;

use mailmoat_gateway::events::{Bucket, Change, Event, EventFilter, CATEGORIES};
use mailmoat_gateway::exceptions::normalize_sender;
use mailmoat_gateway::quarantine::{Held, Search};
use serde::{Deserialize, Serialize};

use crate::report::{self, MessageReport};
use crate::store::{AuditEntry, Exception, Role, StoreError, User};
use crate::{now, Console};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
    /// The site's shared database is unreachable (the reason goes to the log only).
    #[error("the site's shared database is unreachable; try again in a moment")]
    Unavailable(String),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(why) => OpError::Invalid(why),
            StoreError::Shared(e @ mailmoat_shared::PgError::Down(_)) => {
                OpError::Unavailable(e.to_string())
            }
            e => OpError::Internal(e.to_string()),
        }
    }
}

impl From<std::io::Error> for OpError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            OpError::NotFound
        } else {
            OpError::Internal(e.to_string())
        }
    }
}

pub type Result<T> = std::result::Result<T, OpError>;

fn admin_only(user: &User) -> Result<()> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(OpError::Forbidden("administrators only".into()))
    }
}

/// Search criteria for the quarantine and the message log (query string or JSON).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Query {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub symbol: Option<String>,
    pub risk: Option<String>,
    pub action: Option<String>,
    pub category: Option<String>,
    /// Dates "YYYY-MM-DD" (UTC) or Unix seconds.
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<usize>,
}

/// "2026-11-23" (UTC midnight) or Unix seconds.
pub fn parse_time(s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let bad = || OpError::Invalid(format!("{s}: a date is YYYY-MM-DD or Unix seconds"));
    let mut parts = s
        .splitn(3, '-')
        .map(|p| p.parse::<i64>().map_err(|_| bad()));
    let (y, m, d) = (
        parts.next().ok_or_else(bad)??,
        parts.next().ok_or_else(bad)??,
        parts.next().ok_or_else(bad)??,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86400)
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Query {
    fn times(&self) -> Result<(Option<i64>, Option<i64>)> {
        let since = nonempty(&self.since).map(|s| parse_time(&s)).transpose()?;
        let until = nonempty(&self.until)
            .map(|s| {
                // A date "until" includes that day.
                let t = parse_time(&s)?;
                Ok::<_, OpError>(if s.contains('-') { t + 86400 } else { t })
            })
            .transpose()?;
        Ok((since, until))
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }
}

/// The recipient searches a user's view is made of: their own addresses (narrowed by the
/// recipient they asked for).
fn own_recipients(user: &User, asked: Option<String>) -> Vec<Option<String>> {
    if user.is_admin() {
        return vec![asked];
    }
    user.addresses
        .iter()
        .filter(|a| {
            asked
                .as_ref()
                .is_none_or(|q| a.contains(&q.to_ascii_lowercase()))
        })
        .map(|a| Some(a.clone()))
        .collect()
}

/// What a list shows of an entry: its id, time and recipients.
trait Listed {
    fn id(&self) -> &str;
    fn at(&self) -> i64;
    fn recipients(&self) -> &[String];
}

impl Listed for Held {
    fn id(&self) -> &str {
        &self.id
    }
    fn at(&self) -> i64 {
        self.received_at
    }
    fn recipients(&self) -> &[String] {
        &self.recipients
    }
}

impl Listed for Event {
    fn id(&self) -> &str {
        &self.id
    }
    fn at(&self) -> i64 {
        self.received_at
    }
    fn recipients(&self) -> &[String] {
        &self.recipients
    }
}

/// Runs a search once (administrators) or once per address of the user, keeps what the user
/// may see, newest first.
fn gather<T: Listed>(
    user: &User,
    q: &Query,
    search: impl Fn(Option<String>) -> std::io::Result<Vec<T>>,
) -> Result<Vec<T>> {
    let mut out: Vec<T> = Vec::new();
    for recipient in own_recipients(user, nonempty(&q.recipient)) {
        for found in search(recipient)? {
            if user.may_see(found.recipients()) && !out.iter().any(|o| o.id() == found.id()) {
                out.push(found);
            }
        }
    }
    out.sort_by(|a, b| b.at().cmp(&a.at()).then_with(|| b.id().cmp(a.id())));
    out.truncate(q.limit());
    Ok(out)
}

pub fn quarantine(c: &Console, user: &User, q: &Query) -> Result<Vec<Held>> {
    let (since, until) = q.times()?;
    gather(user, q, |recipient| {
        c.gateway.quarantine().search(&Search {
            sender: nonempty(&q.sender),
            recipient,
            subject: nonempty(&q.subject),
            symbol: nonempty(&q.symbol),
            risk: nonempty(&q.risk),
            since,
            until,
            limit: q.limit(),
        })
    })
}

pub fn messages(c: &Console, user: &User, q: &Query) -> Result<Vec<Event>> {
    let (since, until) = q.times()?;
    gather(user, q, |recipient| {
        c.gateway.events().search(&EventFilter {
            sender: nonempty(&q.sender),
            recipient,
            subject: nonempty(&q.subject),
            symbol: nonempty(&q.symbol),
            risk: nonempty(&q.risk),
            action: nonempty(&q.action),
            category: nonempty(&q.category),
            since,
            until,
            limit: q.limit(),
        })
    })
}

/// A message's scan report and where it is: (received_at, recipients, report, held).
fn find(
    c: &Console,
    user: &User,
    id: &str,
) -> Result<(i64, Vec<String>, mailmoat_pipeline::ScanReport, bool)> {
    let found = match c.gateway.quarantine().get(id)? {
        Some(held) => {
            let (_, report) = c.gateway.quarantine().meta(id)?;
            (held.received_at, held.recipients, report, true)
        }
        None => {
            let event = c.gateway.events().get(id)?.ok_or(OpError::NotFound)?;
            let report = c.gateway.events().report(id)?.ok_or(OpError::NotFound)?;
            (event.received_at, event.recipients, report, false)
        }
    };
    if !user.may_see(&found.1) {
        return Err(OpError::NotFound);
    }
    Ok(found)
}

pub fn message_report(c: &Console, user: &User, id: &str) -> Result<MessageReport> {
    let (at, recipients, report, held) = find(c, user, id)?;
    let table = c.gateway.scanner();
    Ok(report::build(
        id,
        at,
        recipients,
        &report,
        table.symbols(),
        held,
    ))
}

/// The message as received, where it was kept (quarantined or refused).
fn message_bytes(c: &Console, user: &User, id: &str) -> Result<Vec<u8>> {
    let (_, _, _, held) = find(c, user, id)?;
    if held {
        return Ok(c.gateway.quarantine().message(id)?);
    }
    c.gateway.events().message(id)?.ok_or(OpError::NotFound)
}

/// A message's object by its id in the report (`MessageReport::objects`): its path and bytes.
/// The report says where the object is; its bytes are taken out of the kept message by opening
/// only the containers on the way to it (no analysis runs). When the report recorded the
/// object's SHA-256, bytes that do not match it are never shown.
pub fn object(c: &Console, user: &User, id: &str, n: u32) -> Result<(String, Vec<u8>)> {
    let (_, _, scan, _) = find(c, user, id)?;
    let known = scan.object(n).cloned();
    let location: Vec<String> = match &known {
        Some(o) => o.location.segments().to_vec(),
        // A report stored before objects were kept: its flagged attachment objects, in order.
        None if scan.objects.is_empty() => report::objects(&scan)
            .into_iter()
            .find(|o| o.id == n)
            .map(|o| o.path.split(" > ").map(str::to_string).collect())
            .ok_or(OpError::NotFound)?,
        None => return Err(OpError::NotFound),
    };
    let raw = message_bytes(c, user, id)?;
    let view = mailmoat_mime::MessageView::build(raw, Default::default(), &c.scan.message);
    let found = mailmoat_analyzers::objects_at(
        &view,
        &c.scan.analyzers.attachments,
        std::slice::from_ref(&location),
    );
    let (path, data) = found
        .into_iter()
        .next()
        .map(|(l, data)| (l.join(" > "), data))
        .ok_or(OpError::NotFound)?;
    if let Some(o) = known {
        if mailmoat_analyzers::sha256_hex(&data) != o.sha256 {
            return Err(OpError::NotFound);
        }
    }
    Ok((path, data))
}

/// A screenshot the visual link analysis kept for this message (only those its report names).
pub fn screenshot(c: &Console, user: &User, id: &str, hash: &str) -> Result<Vec<u8>> {
    let (_, _, report, _) = find(c, user, id)?;
    if !report::screenshots(&report).iter().any(|h| h == hash) {
        return Err(OpError::NotFound);
    }
    let dir = c
        .scan
        .url_visual
        .screenshots_dir
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or(OpError::NotFound)?;
    std::fs::read(c.scan.base_dir.join(dir).join(format!("{hash}.png")))
        .map_err(|_| OpError::NotFound)
}

/// The screenshot names of a message's report, for the report page.
pub fn screenshot_names(c: &Console, user: &User, id: &str) -> Result<Vec<String>> {
    let (_, _, report, _) = find(c, user, id)?;
    Ok(report::screenshots(&report))
}

/// A byte plot (PNG) of the n-th flagged object.
pub fn byteplot(c: &Console, user: &User, id: &str, n: u32) -> Result<Vec<u8>> {
    let (_, data) = object(c, user, id, n)?;
    Ok(mailmoat_variants::byteplot_png(&data, 1 << 20))
}

/// The n-th flagged object among its nearest references (SVG).
pub fn neighbours(c: &Console, user: &User, id: &str, n: u32) -> Result<String> {
    let (path, data) = object(c, user, id, n)?;
    let store = c.intel().filter(|s| !s.is_empty()).ok_or_else(|| {
        OpError::Invalid("no variant reference store is configured or it is empty".into())
    })?;
    let vector = mailmoat_variants::embed(&data);
    let near = store.nearest(&vector, 20);
    let name = path.rsplit(" > ").next().unwrap_or(&path).to_string();
    Ok(mailmoat_variants::neighbour_map(&name, &vector, &near))
}

/// What can be done to a held message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldAction {
    Release,
    Delete,
    /// Release, and always accept this sender for the caller's recipients.
    ReleaseAndAllow,
    /// Release, and teach the classifier this is not spam.
    FalsePositive,
    /// Keep it out, and teach the classifier it is spam.
    MissedSpam,
}

impl HeldAction {
    pub fn parse(s: &str) -> Option<HeldAction> {
        Some(match s {
            "release" => HeldAction::Release,
            "delete" => HeldAction::Delete,
            "release-allow" => HeldAction::ReleaseAndAllow,
            "false-positive" => HeldAction::FalsePositive,
            "missed-spam" => HeldAction::MissedSpam,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            HeldAction::Release => "release",
            HeldAction::Delete => "delete",
            HeldAction::ReleaseAndAllow => "release-allow",
            HeldAction::FalsePositive => "false-positive",
            HeldAction::MissedSpam => "missed-spam",
        }
    }
}

/// Releases to the caller's own recipients (all of them for an administrator).
fn release(c: &Console, user: &User, held: &Held) -> Result<String> {
    if user.is_admin() {
        c.gateway.release(&held.id)?;
        return Ok(format!("released to {}", held.recipients.join(", ")));
    }
    let mine: Vec<String> = user.own(&held.recipients).into_iter().cloned().collect();
    c.gateway.release_to(&held.id, &mine)?;
    Ok(format!("released to {}", mine.join(", ")))
}

pub fn act(c: &Console, user: &User, id: &str, action: HeldAction) -> Result<String> {
    let held = c.gateway.quarantine().get(id)?.ok_or(OpError::NotFound)?;
    if !user.may_see(&held.recipients) {
        return Err(OpError::NotFound);
    }
    let outcome = match action {
        HeldAction::Release => release(c, user, &held)?,
        HeldAction::Delete => {
            if !user.is_admin() && user.own(&held.recipients).len() != held.recipients.len() {
                return Err(OpError::Forbidden(
                    "this message was also sent to others: only an administrator can delete it"
                        .into(),
                ));
            }
            c.gateway.quarantine().delete(id)?;
            "deleted".to_string()
        }
        HeldAction::ReleaseAndAllow => {
            let sender = if held.from.is_empty() {
                &held.mail_from
            } else {
                &held.from
            };
            let sender = normalize_sender(sender)
                .filter(|s| !s.starts_with('@'))
                .ok_or_else(|| {
                    OpError::Invalid("the message has no sender address to allow".into())
                })?;
            let recipients: Vec<String> = if user.is_admin() {
                held.recipients.clone()
            } else {
                user.own(&held.recipients).into_iter().cloned().collect()
            };
            let released = release(c, user, &held)?;
            for r in &recipients {
                add_exception_for(c, user, r, &sender)?;
            }
            format!(
                "{released}; {sender} is always accepted for {}",
                recipients.join(", ")
            )
        }
        HeldAction::FalsePositive => {
            let raw = c.gateway.quarantine().message(id)?;
            let learned = learn(c, id, &raw, false)?;
            format!("{}; {learned}", release(c, user, &held)?)
        }
        HeldAction::MissedSpam => {
            let raw = c.gateway.quarantine().message(id)?;
            learn(c, id, &raw, true)?
        }
    };
    c.store
        .audit(now(), &user.name, action.as_str(), id, &outcome);
    Ok(outcome)
}

/// A correction for the classifier: the message is kept under `corrections/{ham,spam}/` (for
/// `mailmoat learn` and retraining), and when a model file is configured the model learns it at
/// once and the scanner reloads.
pub fn learn(c: &Console, id: &str, raw: &[u8], spam: bool) -> Result<String> {
    let label = if spam { "spam" } else { "ham" };
    let dir = c.data_dir.join("corrections").join(label);
    std::fs::create_dir_all(&dir)?;
    let safe_id: String = id
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '-' || *ch == '_')
        .collect();
    std::fs::write(dir.join(format!("{safe_id}.eml")), raw)?;
    // The gateway's one learner holds the model's learning state, so a correction and the
    // gateway's own lessons never overwrite each other's file.
    let Some(learned) = c.gateway.learn(raw, spam) else {
        return Ok(format!(
            "kept as {label} in {} for training (no [classifier] model file is configured to learn into)",
            dir.display()
        ));
    };
    let (before, after) = learned.map_err(OpError::Internal)?;
    Ok(format!(
        "the classifier learned it as {label} (spam probability {before:.2} → {after:.2})"
    ))
}

/// A message a user received and should not have (missed spam), sent to the API as it is.
pub fn report_missed_spam(c: &Console, user: &User, raw: &[u8]) -> Result<String> {
    if raw.is_empty() || raw.len() > 25 << 20 {
        return Err(OpError::Invalid(
            "send the message as received (up to 25 MiB)".into(),
        ));
    }
    let id = format!(
        "reported-{}",
        crate::store::random_token().get(..12).unwrap_or("x")
    );
    let outcome = learn(c, &id, raw, true)?;
    c.store
        .audit(now(), &user.name, "missed-spam", &id, &outcome);
    Ok(outcome)
}

// Exceptions.

pub fn exceptions(c: &Console, user: &User) -> Result<Vec<Exception>> {
    if let Some(site) = c.gateway.shared_exceptions() {
        let all = site.all().map_err(shared_error)?;
        return Ok(all
            .into_iter()
            .map(exception_of)
            .filter(|e| {
                user.is_admin()
                    || user
                        .addresses
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(&e.recipient))
            })
            .collect());
    }
    Ok(if user.is_admin() {
        c.store.exceptions(None)?
    } else {
        c.store.exceptions(Some(&user.addresses))?
    })
}

/// With nodes sharing exceptions, the site's store is the one people see and change.
fn exception_of(e: mailmoat_gateway::SharedException) -> Exception {
    Exception {
        id: e.id,
        recipient: e.recipient,
        sender: e.sender,
        created_at: e.created_at,
        created_by: e.created_by,
    }
}

fn shared_error(e: mailmoat_shared::PgError) -> OpError {
    match e {
        mailmoat_shared::PgError::Down(_) => {
            OpError::Unavailable(format!("shared exceptions: {e}"))
        }
        e => OpError::Internal(format!("shared exceptions: {e}")),
    }
}

fn add_exception_for(c: &Console, user: &User, recipient: &str, sender: &str) -> Result<Exception> {
    let e = match c.gateway.shared_exceptions() {
        Some(site) => exception_of(
            site.add(recipient, sender, &user.name, now())
                .map_err(shared_error)?,
        ),
        None => c
            .store
            .add_exception(recipient, sender, &user.name, now())?,
    };
    c.gateway.exceptions().add(&e.recipient, &e.sender);
    c.store.audit(
        now(),
        &user.name,
        "exception-add",
        &e.recipient,
        &format!("always accept {}", e.sender),
    );
    Ok(e)
}

/// Adds "always accept mail from `sender`" for `recipient` (one of the caller's addresses; an
/// administrator may name any recipient of a protected domain).
pub fn add_exception(
    c: &Console,
    user: &User,
    recipient: Option<&str>,
    sender: &str,
) -> Result<Exception> {
    let sender = normalize_sender(sender)
        .ok_or_else(|| OpError::Invalid(format!("{sender:?} is not an address or a domain")))?;
    let recipient = match recipient.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => r.to_ascii_lowercase(),
        None if user.addresses.len() == 1 => user.addresses[0].clone(),
        None => {
            return Err(OpError::Invalid(
                "say which of your addresses the exception is for".into(),
            ))
        }
    };
    let allowed = if user.is_admin() {
        recipient.contains('@')
    } else {
        user.addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&recipient))
    };
    if !allowed {
        return Err(OpError::Forbidden(format!(
            "{recipient} is not one of your addresses"
        )));
    }
    add_exception_for(c, user, &recipient, &sender)
}

pub fn remove_exception(c: &Console, user: &User, id: i64) -> Result<()> {
    let site = c.gateway.shared_exceptions();
    let e = match site {
        Some(site) => site.get(id).map_err(shared_error)?.map(exception_of),
        None => c.store.exception(id)?,
    }
    .ok_or(OpError::NotFound)?;
    if !user.is_admin()
        && !user
            .addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&e.recipient))
    {
        return Err(OpError::NotFound);
    }
    match site {
        Some(site) => {
            site.remove(id).map_err(shared_error)?;
        }
        None => {
            c.store.remove_exception(id)?;
        }
    }
    c.gateway.exceptions().remove(&e.recipient, &e.sender);
    c.store.audit(
        now(),
        &user.name,
        "exception-remove",
        &e.recipient,
        &format!("no longer always accept {}", e.sender),
    );
    Ok(())
}

// Statistics.

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub days: i64,
    pub since: i64,
    pub until: i64,
    pub messages: u64,
    pub detections: u64,
    /// Messages per detection type over the period.
    pub totals: BTreeMap<String, u64>,
    /// Per hour, the last 48 hours.
    pub hourly: Vec<Bucket>,
    /// Per day, the period.
    pub daily: Vec<Bucket>,
    pub top_senders: Vec<(String, u64)>,
    pub top_sender_domains: Vec<(String, u64)>,
    pub top_recipients: Vec<(String, u64)>,
    pub changes: Vec<Change>,
}

pub fn stats(c: &Console, user: &User, days: i64, at: i64) -> Result<Stats> {
    admin_only(user)?;
    let days = days.clamp(1, 366);
    let until = at - at.rem_euclid(3600) + 3600;
    let since = until - days * 86400;
    let events = c.gateway.events();
    let daily = events.buckets(since - since.rem_euclid(86400), until, 86400)?;
    let hourly = events.buckets(until - 48 * 3600, until, 3600)?;
    let mut totals: BTreeMap<String, u64> = CATEGORIES.iter().map(|c| (c.to_string(), 0)).collect();
    for b in events.buckets(since, until, 86400 * 400)? {
        *totals.entry(b.category.clone()).or_default() += b.messages;
    }
    let messages = totals.values().sum();
    let detections = messages - totals.get("clean").copied().unwrap_or(0);
    Ok(Stats {
        days,
        since,
        until,
        messages,
        detections,
        totals,
        hourly,
        daily,
        top_senders: events.top("sender", since, 10)?,
        top_sender_domains: events.top("sender_domain", since, 10)?,
        top_recipients: events.top("recipient", since, 10)?,
        changes: events.changes(20)?,
    })
}

/// Detections around a change: per day for `days` before and after, for one symbol (or all
/// detections).
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    pub change: Change,
    pub symbol: String,
    pub days: i64,
    pub since: i64,
    pub until: i64,
    pub before: u64,
    pub after: u64,
    pub per_day: Vec<(i64, u64)>,
}

pub fn impact(c: &Console, user: &User, change_id: i64, symbol: &str, days: i64) -> Result<Impact> {
    admin_only(user)?;
    let change = c
        .gateway
        .events()
        .change(change_id)?
        .ok_or(OpError::NotFound)?;
    let days = days.clamp(1, 90);
    // Whole hours, so the split is exact (statistics are per hour).
    let pivot = change.at - change.at.rem_euclid(3600);
    let (since, until) = (pivot - days * 86400, pivot + days * 86400);
    let symbol = symbol.trim().to_string();
    let per_hour = c
        .gateway
        .events()
        .symbol_buckets(&symbol, since, until, 3600)?;
    let before = per_hour
        .iter()
        .filter(|(t, _)| *t < pivot)
        .map(|(_, n)| n)
        .sum();
    let after = per_hour
        .iter()
        .filter(|(t, _)| *t >= pivot)
        .map(|(_, n)| n)
        .sum();
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    for (t, n) in per_hour {
        *per_day
            .entry(pivot + (t - pivot).div_euclid(86400) * 86400)
            .or_default() += n;
    }
    Ok(Impact {
        change,
        symbol,
        days,
        since,
        until,
        before,
        after,
        per_day: per_day.into_iter().collect(),
    })
}

pub fn changes(c: &Console, user: &User) -> Result<Vec<Change>> {
    admin_only(user)?;
    Ok(c.gateway.events().changes(200)?)
}

pub fn audit(c: &Console, user: &User, limit: usize) -> Result<Vec<AuditEntry>> {
    admin_only(user)?;
    Ok(c.store.audit_log(limit.clamp(1, 5000))?)
}

// Users and tokens.

pub fn users(c: &Console, user: &User) -> Result<Vec<User>> {
    admin_only(user)?;
    Ok(c.store.users()?)
}

pub fn create_user(
    c: &Console,
    user: &User,
    name: &str,
    password: &str,
    role: &str,
    addresses: &[String],
) -> Result<User> {
    admin_only(user)?;
    let role = Role::parse(role).ok_or_else(|| OpError::Invalid("role is admin or user".into()))?;
    let created = c.store.create_user(name, password, role, addresses)?;
    c.store.audit(
        now(),
        &user.name,
        "user-create",
        &created.name,
        &format!("{} {}", role.as_str(), created.addresses.join(", ")),
    );
    Ok(created)
}

pub fn create_token(c: &Console, user: &User, label: &str) -> Result<String> {
    let label = label.trim();
    if label.is_empty() || label.len() > 100 {
        return Err(OpError::Invalid(
            "give the token a label (up to 100 characters)".into(),
        ));
    }
    let token = c.store.create_token(user.id, label, now())?;
    c.store.audit(now(), &user.name, "token-create", label, "");
    Ok(token)
}

pub fn change_password(c: &Console, user: &User, current: &str, new: &str) -> Result<()> {
    if c.store.check_password(&user.name, current)?.is_none() {
        return Err(OpError::Forbidden("the current password is wrong".into()));
    }
    c.store.set_password(user.id, new)?;
    c.store
        .audit(now(), &user.name, "password-change", &user.name, "");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_as_utc_midnight() {
        assert_eq!(parse_time("1970-01-01").unwrap(), 0);
        assert_eq!(parse_time("2026-11-23").unwrap(), 1_795_392_000);
        assert_eq!(parse_time("2000-03-01").unwrap(), 951_868_800);
        assert_eq!(parse_time("12345").unwrap(), 12345);
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}

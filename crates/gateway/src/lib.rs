//! The gateway: `mailmoat serve`. Inbound ESMTP for the protected domains (never an open relay),
//! the scan pipeline on every message, a durable spool (a message acknowledged with 250 is on
//! disk, fsynced), delivery per recipient with retries and bounces, and quarantine.
//!
//! ```text
//! SMTP in ─▶ inbound (RCPT: protected domains; DATA: smuggling, size) ─▶ scan (pipeline)
//!    ─▶ reject: 550 at end of DATA · tempfail: 451
//!    ─▶ quarantine: fsynced to the quarantine folder, then 250
//!    ─▶ deliver/tag: fsynced to the spool, then 250 ─▶ delivery (routes, retries, DSN)
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use mailmoat_pipeline::{ConfigLoader, LiveScanner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

mod address;
pub mod config;
mod connections;
mod data;

pub use data::{wire_form, DataReader, Progress};
mod db;
mod delivery;
pub mod events;
pub mod exceptions;
mod headers;
mod inbound;
mod milter;
pub mod quarantine;
pub mod rspamd_http;
mod scan_service;
mod slots;
pub mod spamd;
pub mod spool;
mod tls;
mod verify;

pub use config::{GatewayConfig, MilterConfig, RspamdConfig, ServeConfig, SpamdConfig};
pub use events::Events;
pub use exceptions::SenderExceptions;
pub use mailmoat_shared::SharedException;
pub use milter::decode_frame as decode_milter_frame;
pub use quarantine::Quarantine;
pub use spool::{new_id, QueueEntry, Recipient, RecipientState, Spool};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] mailmoat_pipeline::ConfigError),
    #[error("cannot open {what} {path}: {source}")]
    Storage {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("TLS: {path}: {why}")]
    Tls { path: PathBuf, why: String },
    #[error("[shared]: {0}")]
    Shared(String),
    #[error("{0}")]
    Runtime(std::io::Error),
}

/// State shared by every connection and the delivery worker.
pub(crate) struct Shared {
    pub config: GatewayConfig,
    /// Relative paths in the configuration resolve against this folder.
    pub base_dir: PathBuf,
    pub scanner: Arc<LiveScanner>,
    pub spool: Spool,
    pub quarantine: Quarantine,
    /// The report of every scanned message and the statistics.
    pub events: Arc<Events>,
    /// Senders each recipient always accepts (kept by the console).
    pub exceptions: Arc<SenderExceptions>,
    /// Accepted messages, handed to the delivery worker.
    pub queued: tokio::sync::mpsc::UnboundedSender<QueueEntry>,
    /// STARTTLS, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Valid recipients (lower-cased), when recipient verification is on.
    pub recipients: Option<std::collections::HashSet<String>>,
    /// Answers of the downstream servers to recipient probes.
    pub verified: verify::Cache,
    /// Scan steps running at once: a few per core. More would only time-slice the CPU and
    /// stretch every reply; messages waiting for DNS or the disk do not hold a slot. Slots go
    /// to the oldest message first, so a message back from DNS for the second half of its
    /// scan never queues behind messages just starting.
    pub scan_slots: slots::Slots,
    /// Messages between the 354 go-ahead and their final reply (`messages_in_progress`).
    pub in_progress: Arc<Semaphore>,
    /// Open connections to downstream servers, reused between messages.
    pub pool: delivery::ConnectionPool,
    /// Online learning into `[classifier] model`, when a model file is configured: console
    /// corrections always, certain verdicts when `[classifier.auto_learn]` is on.
    pub learner: Option<Arc<mailmoat_pipeline::autolearn::Learner>>,
    /// Lessons to and from the site's other nodes (`[shared] redis`).
    pub lessons: Option<Arc<mailmoat_shared::LessonBus>>,
    /// The shared Redis, for the health endpoint.
    pub redis: Option<Arc<mailmoat_shared::RedisLink>>,
    /// Every node's sender exceptions (`[shared] postgres`); the console adds and removes there.
    pub shared_exceptions: Option<Arc<mailmoat_shared::SharedExceptions>>,
    /// Whether auto-learnt lessons go to the other nodes too (`[shared] share_auto_learned`).
    pub share_auto_learned: bool,
    /// The site's PostgreSQL (`[shared] postgres`), for the console's shared accounts.
    pub postgres: Option<Arc<mailmoat_shared::PgLink>>,
    /// This node's name among the site's nodes (`[shared] node` or its default).
    pub node: String,
}

impl Shared {
    /// Offers a scanned message to the auto-learner; when enough lessons wait, writes the
    /// model and reloads the scanner off the SMTP path.
    pub fn auto_learn(self: &Arc<Self>, report: &mailmoat_pipeline::Report, now: i64) {
        let Some(learner) = self.learner.clone().filter(|l| l.auto_learn()) else {
            return;
        };
        match learner.offer(&report.view, &report.verdict, report.auth.as_ref(), now) {
            Ok(Ok(learned)) => {
                if self.share_auto_learned {
                    self.publish_lesson(
                        &learner,
                        &report.view,
                        learned.lesson == mailmoat_pipeline::autolearn::Lesson::Spam,
                        "auto-learned",
                    );
                }
                tracing::info!(
                    lesson = ?learned.lesson,
                    before = format_args!("{:.3}", learned.before),
                    after = format_args!("{:.3}", learned.after),
                    "auto-learned"
                );
                if learned.save_due {
                    let shared = self.clone();
                    tokio::task::spawn_blocking(move || match learner.save() {
                        Ok(true) => {
                            if let Err(e) = shared.scanner.reload() {
                                tracing::error!(error = %e, "reload after auto-learning failed");
                            } else {
                                let _ = shared
                                    .events
                                    .record_change(unix_now(), "classifier auto-learned");
                            }
                        }
                        Ok(false) => {}
                        Err(e) => tracing::error!(error = %e, "could not write the learned model"),
                    });
                }
            }
            Ok(Err(skip)) => tracing::debug!(?skip, "not auto-learned"),
            Err(e) => tracing::error!(error = %e, "auto-learning unavailable"),
        }
    }

    /// Teaches the configured model file a correction at once and reloads the scanner,
    /// noting `why` in the change log; `None` when no `[classifier] model` file is configured.
    /// Blocking (reads and writes the model file).
    pub fn learn(&self, raw: &[u8], spam: bool, why: &str) -> Option<Result<(f64, f64), String>> {
        let learner = self.learner.as_ref()?;
        let view = self
            .scanner
            .current()
            .view(raw.to_vec(), Default::default());
        let outcome = learner
            .correct(&view, spam, unix_now())
            .inspect(|_| self.publish_lesson(learner, &view, spam, why))
            .and_then(|learned| learner.save().map(|_| learned))
            .map_err(|e| e.to_string())
            .and_then(|learned| {
                let label = if spam { "spam" } else { "ham" };
                let r = self.scanner.reload().map_err(|e| e.to_string())?;
                let _ = self
                    .events
                    .record_change(unix_now(), &format!("{why} ({label}): {r}"));
                Ok((learned.before, learned.after))
            });
        Some(outcome)
    }

    /// Hands a lesson learnt here to the site's other nodes, when nodes share state.
    fn publish_lesson(
        &self,
        learner: &mailmoat_pipeline::autolearn::Learner,
        view: &mailmoat_mime::MessageView,
        spam: bool,
        why: &str,
    ) {
        let Some(bus) = &self.lessons else { return };
        match learner.features(view) {
            Ok((bits, features)) => {
                if !bus.publish(mailmoat_shared::Lesson {
                    spam,
                    bits,
                    features,
                    why: why.to_string(),
                }) {
                    tracing::warn!(
                        waiting = bus.waiting(),
                        "lesson queued until the shared store is reachable"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "lesson not shared: the model is unreadable"),
        }
    }

    /// Learns the lessons other nodes published, then writes the model and reloads the
    /// scanner once for the batch.
    fn apply_lessons(&self, batch: Vec<mailmoat_shared::Received>) {
        let Some(learner) = &self.learner else { return };
        let now = unix_now();
        let (mut spam, mut ham, mut skipped) = (0usize, 0usize, 0usize);
        for received in &batch {
            let lesson = &received.lesson;
            match learner.learn_features(lesson.bits, &lesson.features, lesson.spam, now) {
                Ok(Some(_)) if lesson.spam => spam += 1,
                Ok(Some(_)) => ham += 1,
                Ok(None) => skipped += 1,
                Err(e) => {
                    tracing::error!(error = %e, "lessons from other nodes not learnt: the model is unreadable");
                    return;
                }
            }
        }
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "lessons from another node's differently sized model skipped"
            );
        }
        if spam + ham == 0 {
            return;
        }
        let nodes: std::collections::BTreeSet<&str> =
            batch.iter().map(|r| r.node.as_str()).collect();
        let nodes = nodes.into_iter().collect::<Vec<_>>().join(", ");
        tracing::info!(spam, ham, from = %nodes, "learnt lessons from other nodes");
        if let Err(e) = learner.save() {
            tracing::error!(error = %e, "could not write the learned model");
            return;
        }
        match self.scanner.reload() {
            Ok(r) => {
                let _ = self.events.record_change(
                    unix_now(),
                    &format!("lessons from {nodes} ({spam} spam, {ham} ham): {r}"),
                );
            }
            Err(e) => tracing::error!(error = %e, "reload after lessons from other nodes failed"),
        }
    }

    /// What to answer at RCPT.
    pub fn accepts(&self, address: &str) -> Rcpt {
        match self.protected(address) {
            None => Rcpt::NotOurs,
            Some(a) => match &self.recipients {
                Some(list) if !list.contains(&a.to_ascii_lowercase()) => Rcpt::Unknown,
                _ => Rcpt::Accepted(a),
            },
        }
    }

    /// The recipient as we store it, when its domain is one we protect.
    fn protected(&self, address: &str) -> Option<String> {
        let address = address.trim();
        if address.eq_ignore_ascii_case("postmaster") {
            let domain = self.config.protected_domains.first()?;
            return Some(format!("postmaster@{}", domain.trim_start_matches('.')));
        }
        let (_, domain) = address.rsplit_once('@')?;
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let protected = self.config.protected_domains.iter().any(|p| {
            let p = p.to_ascii_lowercase();
            match p.strip_prefix('.') {
                Some(parent) => domain == parent || domain.ends_with(&format!(".{parent}")),
                None => domain == p,
            }
        });
        protected.then(|| address.to_string())
    }

    /// Stores a message in the spool (fsynced before this returns) and hands it to delivery.
    pub(crate) async fn enqueue(
        self: &Arc<Self>,
        entry: QueueEntry,
        raw: Vec<u8>,
    ) -> std::io::Result<()> {
        let shared = self.clone();
        let queued = entry.clone();
        tokio::task::spawn_blocking(move || shared.spool.store(&entry, &raw))
            .await
            .map_err(std::io::Error::other)??;
        let _ = self.queued.send(queued);
        Ok(())
    }

    /// Stores a message and its report in the quarantine (fsynced before this returns).
    pub(crate) async fn hold(
        self: &Arc<Self>,
        entry: QueueEntry,
        raw: Vec<u8>,
        report: mailmoat_pipeline::ScanReport,
    ) -> std::io::Result<()> {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || shared.quarantine.store(&entry, &raw, &report))
            .await
            .map_err(std::io::Error::other)?
    }

    /// The route for a recipient: its domain, then each parent domain, then `default`.
    pub fn route_for(&self, address: &str) -> String {
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        let mut d = domain.as_str();
        loop {
            if let Some(r) = self.config.routes.get(d) {
                return r.clone();
            }
            match d.split_once('.') {
                Some((_, parent)) => d = parent,
                None => break,
            }
        }
        self.config
            .routes
            .get("default")
            .cloned()
            .unwrap_or_else(|| "dir:var/delivered".to_string())
    }
}

/// The answer to a RCPT.
pub(crate) enum Rcpt {
    Accepted(String),
    /// Not a protected domain: relaying denied.
    NotOurs,
    /// A protected domain, but not in the recipient list (or refused by the downstream).
    Unknown,
    /// The downstream could not be asked.
    Unverified,
    /// Refused by a recipient deny list.
    Refused,
    /// Over a recipient rate limit for now.
    Throttled,
}

/// Reads a recipient list: one address per line, `#` comments.
fn read_recipients(
    path: &std::path::Path,
) -> Result<std::collections::HashSet<String>, GatewayError> {
    let text = std::fs::read_to_string(path).map_err(|source| GatewayError::Storage {
        what: "recipient list",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|l| !l.is_empty())
        .collect())
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The civil date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// An RFC 5322 date in UTC ("Mon, 23 Nov 2026 01:02:03 +0000").
pub fn rfc2822_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_date(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Listens for one of the filter services; `None` when its address is empty (switched off).
async fn bind_service(address: &str, what: &str) -> Result<Option<TcpListener>, GatewayError> {
    if address.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| GatewayError::Listen {
            address: address.to_string(),
            source,
        })?;
    let at = listener.local_addr().map_err(GatewayError::Runtime)?;
    tracing::info!(address = %at, "{what} service started");
    Ok(Some(listener))
}

/// Opens the spool and quarantine a configuration names (for `serve` and `mailmoat queue`).
pub fn open_storage(config: &ServeConfig) -> Result<(Spool, Quarantine, Events), GatewayError> {
    let g = &config.gateway;
    let spool_dir = config.base_dir().join(&g.spool_dir);
    let spool = Spool::open(&spool_dir).map_err(|source| GatewayError::Storage {
        what: "spool",
        path: spool_dir.clone(),
        source,
    })?;
    let q_dir = config.base_dir().join(&g.quarantine_dir);
    let mut quarantine = Quarantine::open(&q_dir).map_err(|source| GatewayError::Storage {
        what: "quarantine",
        path: q_dir.clone(),
        source,
    })?;
    let events_dir = config.base_dir().join(&g.events_dir);
    let mut events = Events::open(&events_dir).map_err(|source| GatewayError::Storage {
        what: "message log",
        path: events_dir.clone(),
        source,
    })?;
    // One connection to the site's PostgreSQL for every shared store of this process.
    if let Some(link) = mailmoat_shared::open_postgres(&config.shared, config.base_dir())
        .map_err(|e| GatewayError::Shared(e.to_string()))?
    {
        let node = node_name(config);
        quarantine.share(
            Arc::new(mailmoat_shared::SharedQuarantine::new(link.clone())),
            node.clone(),
        );
        events.share(Arc::new(mailmoat_shared::SharedLog::new(link, &node)));
    }
    Ok((spool, quarantine, events))
}

/// What services beside the gateway (the console) use of it: its stores, its exceptions, its
/// delivery queue and its configuration.
#[derive(Clone)]
pub struct Handle(Arc<Shared>);

impl Handle {
    pub fn spool(&self) -> &Spool {
        &self.0.spool
    }
    pub fn quarantine(&self) -> &Quarantine {
        &self.0.quarantine
    }
    pub fn events(&self) -> &Events {
        &self.0.events
    }
    /// The site's sender exceptions, when nodes share them (`[shared] postgres`): the console
    /// adds, removes and lists there instead of its own store.
    pub fn shared_exceptions(&self) -> Option<&Arc<mailmoat_shared::SharedExceptions>> {
        self.0.shared_exceptions.as_ref()
    }
    /// The site's PostgreSQL, when nodes share state (`[shared] postgres`): the console keeps
    /// its accounts there.
    pub fn shared_postgres(&self) -> Option<&Arc<mailmoat_shared::PgLink>> {
        self.0.postgres.as_ref()
    }
    /// This node's name among the site's nodes.
    pub fn node(&self) -> &str {
        &self.0.node
    }
    pub fn exceptions(&self) -> &Arc<SenderExceptions> {
        &self.0.exceptions
    }
    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }
    /// The scanner in force (symbol descriptions, configuration).
    pub fn scanner(&self) -> Arc<mailmoat_pipeline::Scanner> {
        self.0.scanner.current()
    }
    /// Releases a held message for delivery now.
    pub fn release(&self, id: &str) -> std::io::Result<()> {
        self.0.quarantine.release(id, &self.0.spool, unix_now())?;
        if let Ok(entry) = self.0.spool.entry(id) {
            let _ = self.0.queued.send(entry);
        }
        Ok(())
    }
    /// Reloads configuration, rules, lists and models (as SIGHUP does), noting the change.
    pub fn reload(&self, why: &str) -> Result<String, String> {
        match self.0.scanner.reload() {
            Ok(r) => {
                let _ = self
                    .0
                    .events
                    .record_change(unix_now(), &format!("{why}: {r}"));
                Ok(r.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }
    /// Teaches the configured model file a person's correction at once and reloads the
    /// scanner; `None` when no `[classifier] model` file is configured to learn into.
    pub fn learn(&self, raw: &[u8], spam: bool) -> Option<Result<(f64, f64), String>> {
        self.0.learn(raw, spam, "classifier learned a correction")
    }
    /// The folder relative paths of the configuration resolve against.
    pub fn base_dir(&self) -> &std::path::Path {
        &self.0.base_dir
    }
    /// Releases a held message to some of its recipients (a user's own copy).
    pub fn release_to(&self, id: &str, recipients: &[String]) -> std::io::Result<()> {
        let queued_as = self
            .0
            .quarantine
            .release_to(id, recipients, &self.0.spool, unix_now())?;
        if let Ok(entry) = self.0.spool.entry(&queued_as) {
            let _ = self.0.queued.send(entry);
        }
        Ok(())
    }
    /// Queues a message of our own (a digest) for delivery.
    pub fn enqueue(&self, entry: QueueEntry, message: &[u8]) -> std::io::Result<()> {
        self.0.spool.store(&entry, message)?;
        let _ = self.0.queued.send(entry);
        Ok(())
    }
}

/// Runs the gateway on `config` until SIGINT/SIGTERM. `reload_scan` reads the scan's
/// configuration again (at start and on SIGHUP or a console reload): whoever owns the whole
/// file reads and checks it. `on_ready` is told the listening address.
pub fn serve(
    config: ServeConfig,
    reload_scan: ConfigLoader,
    exceptions: Arc<SenderExceptions>,
    services: impl FnOnce(Handle) -> Result<(), String>,
    on_ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), GatewayError> {
    // TLS for delivery uses ring; set it once for the process (an error means already set).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let node = node_name(&config);
    let shared_state = mailmoat_shared::SharedState::open(&config.shared, &node)
        .map_err(|e| GatewayError::Shared(e.to_string()))?
        .map(Arc::new);
    let scanner = Arc::new(match &shared_state {
        Some(state) => {
            tracing::info!(redis = %state.link.shown(), %node, "sharing rate limits, first contacts and lessons with the site's other nodes");
            let front = state.clone();
            LiveScanner::start_with(
                reload_scan,
                state.rates.clone(),
                Some(Box::new(move |local| front.contacts(local))),
            )?
        }
        None => LiveScanner::start(reload_scan)?,
    });
    let (spool, quarantine, events) = open_storage(&config)?;
    let postgres = quarantine.shared_postgres();
    let events = Arc::new(events);
    // Each configuration that comes into force is a change the console can compare around.
    let _ = events.record_change(
        unix_now(),
        &format!("gateway started ({})", config.scan.origin),
    );
    let log = events.clone();
    if let Err(e) = mailmoat_pipeline::reload_on_sighup(scanner.clone(), move |outcome| {
        match outcome {
            Ok(r) => {
                tracing::info!(outcome = %r, "reloaded");
                let _ = log.record_change(unix_now(), &format!("reloaded: {r}"));
            }
            Err(e) => {
                tracing::error!(error = %e, "reload failed, the previous configuration stays in force")
            }
        }
    }) {
        tracing::warn!(error = %e, "reload on SIGHUP unavailable");
    }
    let tls = tls::acceptor(&config.gateway, config.base_dir())?;
    let spamd_tls = tls::spamd_acceptor(&config.spamd, &config.gateway, config.base_dir())?;
    let (queued, incoming) = tokio::sync::mpsc::unbounded_channel();
    let recipients = match &config.gateway.recipient_list {
        Some(p) => Some(read_recipients(&config.base_dir().join(p))?),
        None => None,
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let shared = Arc::new(Shared {
        scan_slots: slots::Slots::new(4 * cores),
        in_progress: Arc::new(Semaphore::new(match config.gateway.messages_in_progress {
            0 => 8 * cores,
            n => n,
        })),
        pool: delivery::ConnectionPool::default(),
        verified: verify::Cache::default(),
        recipients,
        tls,
        config: config.gateway.clone(),
        base_dir: config.scan.base_dir.clone(),
        scanner,
        spool,
        quarantine,
        events,
        exceptions,
        queued,
        learner: config.scan.classifier.model.as_ref().map(|model| {
            let compression = config.scan.classifier.compression.as_ref();
            Arc::new(
                mailmoat_pipeline::autolearn::Learner::new(
                    &config.scan.base_dir.join(model),
                    config.scan.classifier.auto_learn.clone(),
                )
                .with_compression(compression.map(|c| config.scan.base_dir.join(c)).as_deref()),
            )
        }),
        lessons: shared_state.as_ref().map(|s| s.lessons.clone()),
        redis: shared_state.as_ref().map(|s| s.link.clone()),
        shared_exceptions: postgres
            .clone()
            .map(|link| Arc::new(mailmoat_shared::SharedExceptions::new(link))),
        postgres,
        node: node.clone(),
        share_auto_learned: shared_state
            .as_ref()
            .is_some_and(|s| s.share_auto_learned()),
    });
    if let Some(site) = shared.shared_exceptions.clone() {
        let set = shared.exceptions.clone();
        std::thread::Builder::new()
            .name("shared-exceptions".into())
            .spawn(move || follow_shared_exceptions(&site, &set))
            .map_err(GatewayError::Runtime)?;
    }
    let variants = &config.scan.analyzers.variants;
    if let (Some(link), Some(store), true) = (
        shared.postgres.clone(),
        variants
            .store
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty()),
        variants.enabled,
    ) {
        let site = mailmoat_shared::SharedVariants::new(link, &node);
        let path = config.scan.base_dir.join(store);
        let gateway = shared.clone();
        std::thread::Builder::new()
            .name("shared-variants".into())
            .spawn(move || follow_shared_variants(&site, &path, &gateway))
            .map_err(GatewayError::Runtime)?;
    }
    if let (Some(link), true) = (shared.postgres.clone(), config.shared.follow_files) {
        let site = mailmoat_shared::SharedFiles::new(link, &node);
        let folder = config.base_dir().to_path_buf();
        let gateway = shared.clone();
        std::thread::Builder::new()
            .name("shared-files".into())
            .spawn(move || follow_shared_files(&site, &folder, &gateway))
            .map_err(GatewayError::Runtime)?;
    }
    if !config.shared.postgres.trim().is_empty() {
        tracing::info!(%node, "the quarantine, message log, sender exceptions, console accounts, variant references and (with follow_files) rule files are shared with the site's other nodes (PostgreSQL)");
        let gateway = shared.clone();
        std::thread::Builder::new()
            .name("shared-copy".into())
            .spawn(move || copy_to_shared(gateway))
            .map_err(GatewayError::Runtime)?;
    }
    // Lessons from the other nodes: followed on a thread of their own, the position kept beside
    // the model file so a restarted node resumes where it stopped.
    let lessons_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let (Some(state), Some(model)) = (&shared_state, &config.scan.classifier.model) {
        let model = config.scan.base_dir.join(model);
        let position = PathBuf::from(format!("{}.lessons", model.display()));
        let gateway = shared.clone();
        state
            .lessons
            .follow(position, lessons_stop.clone(), move |batch| {
                gateway.apply_lessons(batch)
            })
            .map_err(GatewayError::Runtime)?;
    }
    // The learning state (megabytes) is read off the SMTP path, before the first lesson.
    if let Some(learner) = shared.learner.clone().filter(|l| l.auto_learn()) {
        std::thread::spawn(move || {
            if let Err(e) = learner.preload() {
                tracing::error!(error = %e, "auto-learning unavailable");
            }
        });
    }
    // Stores waiting for a group commit run on the blocking pool (scans on the slots' own
    // threads): waiting threads cost no CPU, and the more wait together, the fewer flushes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64 + 2 * cores)
        .build()
        .map_err(GatewayError::Runtime)?;
    // Delivery has its own threads at a lower priority: a sender waiting for its reply is
    // served before a queued message is handed on (see `background_nice`).
    let background_nice = config.gateway.background_nice.clamp(0, 19);
    shared.events.lower_writer_priority(background_nice);
    let delivery_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("mailmoat-delivery")
        .on_thread_start(move || lower_thread_priority(background_nice))
        .enable_all()
        .build()
        .map_err(GatewayError::Runtime)?;
    delivery_runtime.spawn(delivery::run(shared.clone(), incoming));
    let intel_dir = config
        .scan
        .intel
        .dir
        .as_ref()
        .map(|d| config.scan.base_dir.join(d));
    let intel_every = std::time::Duration::from_secs(config.scan.intel.check_interval_secs.max(1));
    let spamd = config.spamd.clone();
    let rspamd = config.rspamd.clone();
    let milter = config.milter.clone();
    let served = runtime.block_on(async move {
        let listener = TcpListener::bind(&shared.config.listen)
            .await
            .map_err(|source| GatewayError::Listen {
                address: shared.config.listen.clone(),
                source,
            })?;
        let local = listener.local_addr().map_err(GatewayError::Runtime)?;
        if !shared.config.health_listen.is_empty() {
            let health = TcpListener::bind(&shared.config.health_listen)
                .await
                .map_err(|source| GatewayError::Listen {
                    address: shared.config.health_listen.clone(),
                    source,
                })?;
            tokio::spawn(health_endpoint(health, shared.clone()));
        }
        // The filter services for an MTA that keeps the message (each off when its listen is "").
        if let Some(listener) = bind_service(&spamd.listen, "spamd protocol").await? {
            tokio::spawn(spamd::serve(listener, shared.clone(), spamd, spamd_tls));
        }
        if let Some(listener) = bind_service(&milter.listen, "milter").await? {
            tokio::spawn(milter::serve(listener, shared.clone(), milter));
        }
        if let Some(listener) = bind_service(&rspamd.listen, "rspamd protocol").await? {
            tokio::spawn(rspamd_http::serve(listener, shared.clone(), rspamd));
        }
        tokio::spawn(prune_events(shared.clone()));
        if let Some(dir) = &intel_dir {
            tokio::spawn(follow_intel(shared.clone(), dir.clone(), intel_every));
        }
        services(Handle(shared.clone())).map_err(|e| GatewayError::Runtime(std::io::Error::other(e)))?;
        match shared.scanner.current().auth() {
            Some(stage) => tracing::info!(dns = %stage.resolver().describe(), "sender authentication on"),
            None => tracing::info!("sender authentication off ([auth] enabled = false)"),
        }
        on_ready(local);
        let connections = Arc::new(Semaphore::new(shared.config.max_connections));
        let per_client = connections::PerClient::new(
            shared.config.max_connections_per_ip,
            shared.config.connection_limit_exceptions.clone(),
        );
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("shutting down: no new connections; queued mail stays in the spool");
                    return Ok(());
                }
                accepted = listener.accept() => {
                    let (mut stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            continue;
                        }
                    };
                    // Replies are whole writes; never hold one back for an ACK.
                    let _ = stream.set_nodelay(true);
                    let Ok(permit) = connections.clone().try_acquire_owned() else {
                        let _ = stream.write_all(b"421 4.3.2 Too many connections, try again later\r\n").await;
                        continue;
                    };
                    let Some(per_client) = per_client.open(peer.ip()) else {
                        tracing::info!(
                            %peer,
                            limit = shared.config.max_connections_per_ip,
                            "refused: as many connections from this address as allowed already"
                        );
                        let _ = stream.write_all(b"421 4.7.0 Too many connections from your address, try again later\r\n").await;
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        inbound::handle(stream, peer, shared).await;
                        drop(per_client);
                        drop(permit);
                    });
                }
            }
        }
    });
    delivery_runtime.shutdown_background();
    lessons_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    served
}

/// Keeps the exceptions this node honours equal to the site's: reloaded whenever their version
/// moved (checked every 2 s). While PostgreSQL is down the last set stays in force.
fn follow_shared_exceptions(
    site: &mailmoat_shared::SharedExceptions,
    set: &exceptions::SenderExceptions,
) {
    let mut loaded = None;
    loop {
        if let Ok(version) = site.version() {
            if loaded != Some(version) {
                match site.all() {
                    Ok(all) => {
                        let n = all.len();
                        set.replace(all.into_iter().map(|e| (e.recipient, e.sender)));
                        loaded = Some(version);
                        tracing::info!(
                            exceptions = n,
                            version,
                            "sender exceptions loaded from the shared store"
                        );
                    }
                    Err(e) => tracing::debug!(error = %e, "sender exceptions not reloaded"),
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// Keeps this node's variant reference file and the site's in step (every 5 s), and reloads
/// the scanner when references from other nodes were added to the file.
fn follow_shared_variants(
    site: &mailmoat_shared::SharedVariants,
    path: &std::path::Path,
    shared: &Shared,
) {
    let mut sync = mailmoat_shared::VariantSync::default();
    loop {
        match sync.sync(site, path, unix_now()) {
            Ok(0) => {}
            Ok(added) => {
                tracing::info!(added, file = %path.display(), "variant references from the site's other nodes added");
                match shared.scanner.reload() {
                    Ok(r) => {
                        let _ = shared.events.record_change(
                            unix_now(),
                            &format!("{added} variant references from other nodes: {r}"),
                        );
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reload after new variant references failed")
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "variant references not synchronised this time"),
        }
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}

/// Writes the site's rule and configuration files (`mailmoat config push`) under this node's
/// configuration folder when they change (checked every 5 s), then reloads as SIGHUP does. A
/// set of files that does not load leaves the configuration in force as it was.
fn follow_shared_files(
    site: &mailmoat_shared::SharedFiles,
    folder: &std::path::Path,
    shared: &Shared,
) {
    let mut sync = mailmoat_shared::FileSync::default();
    loop {
        match sync.sync(site, folder) {
            Ok(written) if written.is_empty() => {}
            Ok(written) => {
                let files = written.join(", ");
                tracing::info!(%files, "the site's files changed here");
                match shared.scanner.reload() {
                    Ok(r) => {
                        let _ = shared
                            .events
                            .record_change(unix_now(), &format!("site files {files}: {r}"));
                    }
                    Err(e) => {
                        tracing::error!(%files, error = %e, "the site's files were written but do not load; the configuration in force stays")
                    }
                }
            }
            // Unreachable is said once by the link; anything else (a path leaving the
            // folder, a disk error) each time.
            Err(e) if !site.is_up() => {
                tracing::debug!(error = %e, "the site's files were not taken this time")
            }
            Err(e) => tracing::warn!(error = %e, "the site's files were not taken this time"),
        }
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}

/// This node's name among the site's nodes: `[shared] node`, or the host name and the SMTP
/// listener's address.
pub fn node_name(config: &ServeConfig) -> String {
    match config.shared.node.trim() {
        "" => format!(
            "{}/{}",
            machine_name(&config.gateway.hostname),
            config.gateway.listen
        ),
        name => name.to_string(),
    }
}

/// Copies what this node holds and logs into the shared quarantine and log as it arrives (and
/// after an outage), and now and then forgets local copies that were released or deleted on
/// other nodes.
fn copy_to_shared(shared: Arc<Shared>) {
    const LOG_BATCH: usize = 500;
    let mut last_sweep = std::time::Instant::now();
    loop {
        loop {
            match shared.quarantine.copy_to_shared() {
                Ok(64) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "held mail not copied to the shared quarantine yet");
                    break;
                }
            }
        }
        // The log after held mail: a console looking for a held message finds it first.
        loop {
            match shared.events.copy_to_shared(LOG_BATCH) {
                Ok(LOG_BATCH) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "message log not copied to the shared log yet");
                    break;
                }
            }
        }
        if last_sweep.elapsed() >= std::time::Duration::from_secs(30) {
            last_sweep = std::time::Instant::now();
            match shared.quarantine.forget_gone_from_shared() {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(n, "forgot local copies released or deleted on other nodes")
                }
                Err(e) => tracing::debug!(error = %e, "shared quarantine sweep skipped"),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// This machine's host name (for the default node name), or `fallback`.
fn machine_name(fallback: &str) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// Lowers the calling thread's priority by `nice` steps (Linux keeps a nice value per
/// thread). Failing only costs the preference, so it is reported and otherwise ignored.
pub(crate) fn lower_thread_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        let result = getpriority_process(tid)
            .and_then(|current| setpriority_process(tid, (current + nice).min(19)));
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot lower a background thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `GET /health`: whether the gateway runs, with queue and quarantine counts.
async fn health_endpoint(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
                .await;
            let s = shared.clone();
            // The counts read the stores (PostgreSQL, when shared): off the async threads.
            let counts = tokio::task::spawn_blocking(move || {
                (
                    s.spool.count().unwrap_or(0),
                    s.quarantine.count().unwrap_or(0),
                    s.quarantine.waiting_to_share().unwrap_or(0),
                    s.events.waiting_to_share().unwrap_or(0),
                )
            })
            .await
            .unwrap_or_default();
            let (queued, quarantined, held_here_only, logged_here_only) = counts;
            let commits = shared.spool.commits();
            let up = |state: Option<bool>| match state {
                None => "\"off\"",
                Some(true) => "\"up\"",
                Some(false) => "\"down\"",
            };
            let redis = up(shared.redis.as_ref().map(|l| l.is_up()));
            let postgres = up(shared.quarantine.shared_is_up());
            let lessons_waiting = shared.lessons.as_ref().map_or(0, |l| l.waiting());
            let body = format!(
                "{{\"status\":\"ok\",\"queued\":{queued},\"quarantined\":{quarantined},\"spool_commits\":{commits},\"shared\":{{\"redis\":{redis},\"postgres\":{postgres},\"held_not_yet_shared\":{held_here_only},\"logged_not_yet_shared\":{logged_here_only},\"lessons_waiting\":{lessons_waiting}}}}}\n"
            );
            let _ = stream
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        });
    }
}

/// Removes reports past their retention once an hour.
async fn prune_events(shared: Arc<Shared>) {
    loop {
        let days = i64::from(shared.config.events_retention_days.max(1));
        let before = unix_now() - days * 86400;
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.events.prune(before)).await {
            Ok(Ok(0)) | Err(_) => {}
            Ok(Ok(n)) => tracing::info!(removed = n, days, "message log pruned"),
            Ok(Err(e)) => tracing::error!(error = %e, "message log: pruning failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Reloads when `mailmoat intel update` (or a rollback) made another version current; a
/// version that does not load leaves the scanner in force, and is tried again only when
/// `current` changes once more.
async fn follow_intel(shared: Arc<Shared>, dir: PathBuf, every: std::time::Duration) {
    let mut tried: Option<String> = shared.scanner.current().intel_version().map(str::to_string);
    loop {
        tokio::time::sleep(every).await;
        let now = mailmoat_pipeline::intel::current_version(&dir);
        if now == tried {
            continue;
        }
        tried = now.clone();
        let s = shared.clone();
        let why = format!(
            "intelligence version {}",
            now.as_deref().unwrap_or("(none)")
        );
        let outcome = tokio::task::spawn_blocking(move || s.scanner.reload()).await;
        match outcome {
            Ok(Ok(r)) => {
                tracing::info!(outcome = %r, "{why}: reloaded");
                let _ = shared
                    .events
                    .record_change(unix_now(), &format!("{why}: {r}"));
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "{why} does not load; the scanner in force stays")
            }
            Err(e) => tracing::error!(error = %e, "{why}: reload failed"),
        }
    }
}

/// The spool folder a configuration uses (for tools).
pub fn spool_dir(config: &ServeConfig) -> PathBuf {
    config.base_dir().join(&config.gateway.spool_dir)
}

/// Makes a queued message due now (`mailmoat queue retry`).
pub fn retry_now(spool: &Spool, id: &str) -> std::io::Result<()> {
    let mut entry = spool.entry(id)?;
    entry.next_attempt_at = 0;
    spool.update(&entry)?;
    spool.wake()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_5322() {
        assert_eq!(rfc2822_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc2822_date(1_795_395_723),
            "Mon, 23 Nov 2026 01:02:03 +0000"
        );
        assert_eq!(rfc2822_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn background_threads_run_lower_and_leave_others_alone() {
        use rustix::process::getpriority_process;
        let own = || getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let before = own();
        let lowered = std::thread::spawn(move || {
            lower_thread_priority(5);
            own()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 5).min(19));
        assert_eq!(own(), before, "only the calling thread changes");
    }
}

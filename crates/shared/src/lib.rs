//! What several gateway nodes of one site share, configured in `[shared]`: through Redis (or
//! Valkey) rate-limit counters, first-contact memory and the classifier's lessons; in
//! PostgreSQL the quarantine, the message log and its statistics, sender exceptions, the
//! console's accounts and the variant reference store. Each piece keeps working on the node's own state while its server is
//! unreachable (see each module for what that means), so mail never waits for a shared store.

pub mod accounts;
pub mod contacts;
pub mod exceptions;
pub mod files;
pub mod lessons;
pub mod link;
pub mod log;
pub mod pg;
pub mod quarantine;
pub mod rates;
#[cfg(feature = "test-server")]
pub mod test_server;
pub mod variants;

use std::sync::Arc;
use std::time::Duration;

use mailmoat_auth::contacts::ContactStore;
use serde::Deserialize;

pub use accounts::{SharedAccounts, SharedAudit, SharedToken, SharedUser};
pub use contacts::SharedContacts;
pub use exceptions::{SharedException, SharedExceptions};
pub use files::{FileSync, SharedFiles, SiteFile};
pub use lessons::{Lesson, LessonBus, Received};
pub use link::{LinkError, RedisLink};
pub use log::{LogChange, LogEvent, LogRow, SharedLog};
pub use pg::{Param, PgError, PgLink};
pub use quarantine::{HeldIndex, HeldRow, SharedQuarantine};
pub use rates::SharedRateStore;
pub use variants::{SharedVariants, VariantRef, VariantSync};

/// `[shared]`: the stores several nodes share. Without them each node keeps its own state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedConfig {
    /// `redis://[:password@]host:port/db`; empty: counters, contacts and lessons stay local.
    pub redis: String,
    /// `postgresql://user:password@host:port/db`; empty: the quarantine, message log, sender
    /// exceptions and console accounts stay on this node.
    pub postgres: String,
    /// PEM file of the certificate authority that signed the PostgreSQL server's certificate
    /// (relative to the configuration file). Set: the connection is TLS and the server's
    /// certificate and name are verified. Empty: unencrypted, for a private network only.
    pub postgres_ca: String,
    /// This node's name among the site's nodes, unique per node (default: the machine's host
    /// name and the SMTP listener's address).
    pub node: String,
    /// Put before every key, so sites (or test runs) can share one server.
    pub prefix: String,
    /// The longest one call to Redis may take before the node uses its own state.
    pub timeout_ms: u64,
    /// After a failed call, how long the node uses its own state before trying Redis again.
    pub retry_after_secs: u64,
    /// How long a sender–recipient pair stays known after its last delivered message.
    pub contact_retention_days: u32,
    /// Lessons the stream keeps (the newest); a node away longer misses the oldest.
    pub lessons_kept: usize,
    /// Whether this node takes the site's rule and configuration files (`mailmoat config
    /// push` on any node): written under the configuration's folder, then reloaded.
    pub follow_files: bool,
    /// Whether lessons the gateway learnt by itself (auto-learning) go to the other nodes too,
    /// not only people's corrections. Off: each node auto-learns from its own traffic.
    pub share_auto_learned: bool,
}

impl Default for SharedConfig {
    fn default() -> Self {
        SharedConfig {
            redis: String::new(),
            postgres: String::new(),
            postgres_ca: String::new(),
            node: String::new(),
            prefix: "mailmoat:".into(),
            timeout_ms: 250,
            retry_after_secs: 5,
            contact_retention_days: 400,
            lessons_kept: 20_000,
            share_auto_learned: false,
            follow_files: false,
        }
    }
}

/// The link to `[shared] postgres`, or `None` when it is not configured. `base_dir`: the
/// configuration file's folder, which `postgres_ca` is relative to.
pub fn open_postgres(
    config: &SharedConfig,
    base_dir: &std::path::Path,
) -> Result<Option<Arc<PgLink>>, PgError> {
    let url = config.postgres.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let tls = match config.postgres_ca.trim() {
        "" => None,
        ca => Some(pg::tls_verified_by(&base_dir.join(ca))?),
    };
    let link = PgLink::new(
        url,
        Duration::from_millis(config.timeout_ms.max(1)),
        Duration::from_secs(config.retry_after_secs.max(1)),
        tls,
    )?;
    Ok(Some(Arc::new(link)))
}

/// The shared quarantine of a node configured with `[shared] postgres`, or `None`.
pub fn open_quarantine(
    config: &SharedConfig,
    base_dir: &std::path::Path,
) -> Result<Option<Arc<SharedQuarantine>>, PgError> {
    Ok(open_postgres(config, base_dir)?.map(|link| Arc::new(SharedQuarantine::new(link))))
}

/// The shared stores of a node configured with `[shared] redis`.
pub struct SharedState {
    pub link: Arc<RedisLink>,
    pub rates: Arc<SharedRateStore>,
    pub lessons: Arc<LessonBus>,
    config: SharedConfig,
}

impl SharedState {
    /// `None` when `[shared] redis` is empty. `node` is this node's name (the configured one, or
    /// a default the caller made).
    pub fn open(config: &SharedConfig, node: &str) -> Result<Option<SharedState>, LinkError> {
        if config.redis.trim().is_empty() {
            return Ok(None);
        }
        let link = Arc::new(RedisLink::new(
            config.redis.trim(),
            Duration::from_millis(config.timeout_ms.max(1)),
            Duration::from_secs(config.retry_after_secs.max(1)),
        )?);
        let rates = Arc::new(SharedRateStore::new(link.clone(), &config.prefix, node));
        let lessons = Arc::new(LessonBus::new(
            link.clone(),
            &config.prefix,
            node,
            config.lessons_kept,
        ));
        Ok(Some(SharedState {
            link,
            rates,
            lessons,
            config: config.clone(),
        }))
    }

    /// The node's own first-contact store, behind the shared one.
    pub fn contacts(&self, local: Arc<dyn ContactStore>) -> Arc<dyn ContactStore> {
        Arc::new(SharedContacts::new(
            self.link.clone(),
            local,
            &self.config.prefix,
            u64::from(self.config.contact_retention_days) * 86_400,
        ))
    }

    pub fn share_auto_learned(&self) -> bool {
        self.config.share_auto_learned
    }
}

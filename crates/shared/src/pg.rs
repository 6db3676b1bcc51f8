//! One PostgreSQL server as a node sees it: one connection owned by a worker thread, so any
//! thread (a scan slot, the console, a CLI command) can ask without an async runtime of its
//! own; versioned migrations applied at connection; and, after a failure, a pause during
//! which callers are told at once that the server is down and use the node's own state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema, one step per version, each applied once in its own transaction. Never edit a
/// step that has shipped: add the next.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
    "CREATE TABLE held (
        id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        mail_from TEXT NOT NULL,
        recipients TEXT NOT NULL,
        from_header TEXT NOT NULL,
        subject TEXT NOT NULL,
        action TEXT NOT NULL,
        risk TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        symbols TEXT NOT NULL,
        size BIGINT NOT NULL,
        meta TEXT NOT NULL,
        message BYTEA NOT NULL
    );
    CREATE INDEX held_by_time ON held (received_at);
    -- Held messages released or deleted anywhere: a node that copies a message in late
    -- (after a crash, say) must not bring it back.
    CREATE TABLE held_gone (id TEXT PRIMARY KEY, at BIGINT NOT NULL);",
    ),
    (
        2,
        "CREATE TABLE exceptions (
        id BIGSERIAL PRIMARY KEY,
        recipient TEXT NOT NULL,
        sender TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        UNIQUE (recipient, sender)
    );
    -- Bumped by every change, so nodes reload the set only when it changed.
    CREATE TABLE exceptions_version (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL);
    INSERT INTO exceptions_version VALUES (1, 0);",
    ),
    (
        3,
        "CREATE TABLE console_users (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        password TEXT NOT NULL,
        role TEXT NOT NULL,
        addresses TEXT NOT NULL
    );
    -- Names are unique whatever their case, as in the embedded store.
    CREATE UNIQUE INDEX console_users_by_name ON console_users (lower(name));
    CREATE TABLE console_sessions (
        token TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE console_tokens (
        id BIGSERIAL PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        user_id BIGINT NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE console_audit (
        id BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
        node TEXT NOT NULL,
        username TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE console_digests (
        user_id BIGINT PRIMARY KEY REFERENCES console_users(id) ON DELETE CASCADE,
        sent_day BIGINT NOT NULL
    );",
    ),
    (
        4,
        "CREATE TABLE log_events (
        id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        action TEXT NOT NULL,
        risk TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        category TEXT NOT NULL,
        mail_from TEXT NOT NULL,
        from_header TEXT NOT NULL,
        subject TEXT NOT NULL,
        recipients TEXT NOT NULL,
        symbols TEXT NOT NULL,
        report TEXT NOT NULL,
        message BYTEA
    );
    CREATE INDEX log_events_by_time ON log_events (received_at);
    -- Roll-ups, counted when a node copies a message in, as each node's own log counts them.
    CREATE TABLE log_hourly (
        hour BIGINT NOT NULL, category TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (hour, category));
    CREATE TABLE log_hourly_symbols (
        hour BIGINT NOT NULL, symbol TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (symbol, hour));
    CREATE TABLE log_daily_top (
        day BIGINT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (kind, day, key));
    CREATE TABLE log_changes (
        id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, node TEXT NOT NULL, what TEXT NOT NULL);",
    ),
    (
        5,
        "CREATE TABLE variant_refs (
        sha256 TEXT NOT NULL,
        verdict TEXT NOT NULL,
        -- The reference as the store file has it (one JSON object).
        line TEXT NOT NULL,
        node TEXT NOT NULL,
        added_at BIGINT NOT NULL,
        PRIMARY KEY (sha256, verdict)
    );
    CREATE TABLE variant_refs_version (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL);
    INSERT INTO variant_refs_version VALUES (1, 0);",
    ),
    (
        6,
        "CREATE TABLE site_files (
        path TEXT PRIMARY KEY,
        content BYTEA NOT NULL,
        at BIGINT NOT NULL,
        node TEXT NOT NULL
    );
    CREATE TABLE site_files_version (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL);
    INSERT INTO site_files_version VALUES (1, 0);",
    ),
];

/// A search parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
}

/// Parameters as the driver takes them.
pub(crate) fn sql_values(params: Vec<Param>) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .into_iter()
        .map(|p| -> Box<dyn postgres::types::ToSql + Sync> {
            match p {
                Param::Text(t) => Box::new(t),
                Param::Int(i) => Box::new(i),
            }
        })
        .collect()
}

/// Why a call did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("the shared database ({0}) is unreachable")]
    Down(String),
    #[error("the shared database refused a call: {0}")]
    Refused(String),
}

/// A call to make; returns whether the connection failed under it.
type Job = Box<dyn FnOnce(Option<&mut postgres::Client>) -> bool + Send>;

/// A PostgreSQL server shared by the nodes of one site.
pub struct PgLink {
    jobs: Mutex<mpsc::Sender<Job>>,
    up: Arc<AtomicBool>,
    shown: String,
    /// How long a caller waits for an answer before it treats the server as down.
    wait: Duration,
}

impl PgLink {
    /// A link to `url` (`postgresql://user:password@host:port/db` or `host=… user=…`); nothing
    /// is connected yet, so a node starts whether or not the server is up.
    pub fn new(
        url: &str,
        timeout: Duration,
        retry_after: Duration,
        tls: Option<MakeRustlsConnect>,
    ) -> Result<PgLink, PgError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| PgError::Refused(format!("address: {e}")))?;
        match (&tls, config.get_ssl_mode()) {
            // With the site's CA every connection is TLS, whatever the address says.
            (Some(_), _) => {
                config.ssl_mode(postgres::config::SslMode::Require);
            }
            (None, postgres::config::SslMode::Require) => {
                return Err(PgError::Refused(
                    "sslmode=require needs [shared] postgres_ca, the CA that signed the server's certificate".into(),
                ))
            }
            // Without a CA nothing is encrypted: "prefer" would only try and then fail.
            (None, _) => {
                config.ssl_mode(postgres::config::SslMode::Disable);
            }
        }
        let shown = format!(
            "{}/{}",
            config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    postgres::config::Host::Tcp(name) => name.clone(),
                    postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            config.get_dbname().unwrap_or("")
        );
        let statement_ms = (timeout.as_millis() as u64).max(1000);
        config
            .connect_timeout(timeout)
            // A server gone without a word (a cut cable, a frozen VM) is noticed within about
            // 20 s rather than the kernel's two hours; unacknowledged writes give up after 10 s.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(3))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(10))
            .application_name("mailmoat")
            // A query that hangs (a lock, a stalled disk) ends instead of holding the worker.
            .options(&format!("-c statement_timeout={statement_ms}"));
        let (tx, rx) = mpsc::channel::<Job>();
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        let name = shown.clone();
        std::thread::Builder::new()
            .name("shared-pg".into())
            .spawn(move || worker(config, tls, rx, flag, name, retry_after))
            .map_err(|e| PgError::Refused(format!("worker thread: {e}")))?;
        Ok(PgLink {
            jobs: Mutex::new(tx),
            up,
            shown,
            wait: Duration::from_millis(statement_ms) + timeout + Duration::from_secs(1),
        })
    }

    /// Host and database, for logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs `call` on the connection, waiting for its answer.
    pub fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, PgError> {
        let (done, answer) = mpsc::sync_channel::<Result<T, PgError>>(1);
        let shown = self.shown.clone();
        let job: Job = Box::new(move |client| {
            let result = match client {
                None => Err(PgError::Down(shown)),
                Some(c) => call(c).map_err(|e| {
                    if is_link_failure(&e) {
                        PgError::Down(format!("{shown}: {e}"))
                    } else {
                        PgError::Refused(describe(&e))
                    }
                }),
            };
            let failed = matches!(result, Err(PgError::Down(_)));
            let _ = done.send(result);
            failed
        });
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| PgError::Down(self.shown.clone()))?;
        let result = answer
            .recv_timeout(self.wait)
            .unwrap_or_else(|_| Err(PgError::Down(self.shown.clone())));
        if let Err(PgError::Down(why)) = &result {
            if self.up.swap(false, Ordering::Relaxed) {
                tracing::error!(postgres = %self.shown, error = %why, "shared state: postgres unreachable; the quarantine keeps held mail on this node and copies it in when it is back");
            }
        }
        result
    }
}

fn worker(
    config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
    jobs: mpsc::Receiver<Job>,
    up: Arc<AtomicBool>,
    shown: String,
    retry_after: Duration,
) {
    let mut client: Option<postgres::Client> = None;
    let mut paused_until = Instant::now();
    while let Ok(job) = jobs.recv() {
        if client.as_ref().is_some_and(|c| c.is_closed()) {
            client = None;
        }
        if client.is_none() && Instant::now() >= paused_until {
            match connect(&config, tls.as_ref()) {
                Ok(c) => {
                    if !up.swap(true, Ordering::Relaxed) {
                        tracing::info!(postgres = %shown, "shared state: postgres reachable again");
                    }
                    client = Some(c);
                }
                Err(e) => {
                    paused_until = Instant::now() + retry_after;
                    if up.swap(false, Ordering::Relaxed) {
                        tracing::error!(postgres = %shown, error = %describe(&e), retry_s = retry_after.as_secs_f64(), "shared state: postgres unreachable; the quarantine keeps held mail on this node and copies it in when it is back");
                    }
                }
            }
        }
        let had_client = client.is_some();
        let failed = job(client.as_mut());
        // The caller has been told (and has logged it); the next call reconnects after a pause.
        if had_client && (failed || client.as_ref().is_some_and(|c| c.is_closed())) {
            client = None;
            paused_until = Instant::now() + retry_after;
        }
    }
}

fn connect(
    config: &postgres::Config,
    tls: Option<&MakeRustlsConnect>,
) -> Result<postgres::Client, postgres::Error> {
    let mut client = match tls {
        Some(tls) => config.connect(tls.clone())?,
        None => config.connect(postgres::NoTls)?,
    };
    migrate(&mut client)?;
    Ok(client)
}

/// TLS whose server certificates must chain to the CA certificates in `ca` (PEM) and name
/// the host connected to.
pub fn tls_verified_by(ca: &std::path::Path) -> Result<MakeRustlsConnect, PgError> {
    use rustls_pki_types::pem::PemObject;
    let refuse = |why: String| PgError::Refused(format!("postgres_ca {}: {why}", ca.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(ca).map_err(|e| refuse(e.to_string()))?
    {
        roots
            .add(cert.map_err(|e| refuse(e.to_string()))?)
            .map_err(|e| refuse(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(refuse("no certificate in the file".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| refuse(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Applies the migrations this server lacks. Nodes starting together take turns (a lock).
fn migrate(client: &mut postgres::Client) -> Result<(), postgres::Error> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS mailmoat_migrations (
            version INTEGER PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
    )?;
    let mut tx = client.transaction()?;
    tx.batch_execute("LOCK TABLE mailmoat_migrations IN EXCLUSIVE MODE")?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM mailmoat_migrations",
            &[],
        )?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO mailmoat_migrations (version, applied_at) VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
            &[version],
        )?;
        tracing::info!(version, "shared database: migration applied");
    }
    tx.commit()
}

/// The connection is gone or the network failed, as against an answer that was an error.
fn is_link_failure(e: &postgres::Error) -> bool {
    use std::error::Error;
    e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>())
}

/// The server's message (and detail) rather than the driver's generic "db error".
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {detail}", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

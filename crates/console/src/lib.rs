//! The web console and REST API (axum), run by `mailmoat serve` beside the gateway.
//!
//! Server-rendered HTML (minijinja templates with autoescaping, SVG charts drawn in Rust): pages
//! work without JavaScript, load nothing from elsewhere, and the Content-Security-Policy forbids
//! scripts outright, so message content shown in a report stays inert. The REST API under
//! `/api/v1` covers the same operations (both call [`ops`]) and is described by
//! `/api/v1/openapi.json`.
//!
//! Who sees what: administrators everything; users only messages addressed to their own
//! addresses, through the UI and the API alike (one check, in `ops`).

pub mod advice;
mod api;
pub mod charts;
pub mod config;
mod digest;
pub mod ops;
pub mod report;
pub mod store;
mod web;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use config::{ConsoleConfig, Settings};
use mailmoat_gateway::Handle;
use mailmoat_shared::SharedAccounts;

use store::StoreError;
pub use store::{Role, Store, User};

pub fn now() -> i64 {
    mailmoat_gateway::unix_now()
}

/// Failed sign-ins over a sliding window, counted per (user name, client address) and per
/// client address. A pair past the limit waits before its next try, twice as long after each
/// further failure (from a minute up to the window); an address past five times the limit,
/// over any names, waits out the window (password spraying). Failures from other addresses
/// never make the right password wait at a new one, so guessing from elsewhere cannot lock
/// the administrator out; argon2's cost bounds the rate of a guesser with many addresses.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

/// The window failed logins are counted over.
const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// The first wait once a (name, address) pair reaches the limit.
const FIRST_BACKOFF_SECS: i64 = 60;
/// An address may fail this many times the limit, over all names, before it waits.
const ADDRESS_FACTOR: usize = 5;

fn pair_key(ip: IpAddr, name: &str) -> String {
    format!("pair:{}|{ip}", name.to_lowercase())
}

impl LoginLimiter {
    /// Seconds until a login may be tried again for this name from this address (0: now).
    pub fn wait(&self, ip: IpAddr, name: &str, limit: u32, now: i64) -> i64 {
        let limit = (limit as usize).max(1);
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = 0;
        if let Some(times) = map.get_mut(&pair_key(ip, name)) {
            times.retain(|t| now - t < LOGIN_WINDOW_SECS);
            if times.len() >= limit {
                let doublings = (times.len() - limit).min(16) as u32;
                let backoff = (FIRST_BACKOFF_SECS << doublings).min(LOGIN_WINDOW_SECS);
                let last = times.last().copied().unwrap_or(now);
                wait = wait.max(last + backoff - now);
            }
        }
        if let Some(times) = map.get_mut(&format!("ip:{ip}")) {
            times.retain(|t| now - t < LOGIN_WINDOW_SECS);
            if times.len() >= limit * ADDRESS_FACTOR {
                wait = wait.max(times[0] + LOGIN_WINDOW_SECS - now);
            }
        }
        wait.max(0)
    }

    pub fn failed(&self, ip: IpAddr, name: &str, now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in [pair_key(ip, name), format!("ip:{ip}")] {
            map.entry(key).or_default().push(now);
        }
        // Bounded memory under a flood of names.
        if map.len() > 100_000 {
            map.retain(|_, t| t.last().is_some_and(|&l| now - l < LOGIN_WINDOW_SECS));
        }
    }

    pub fn succeeded(&self, ip: IpAddr, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&pair_key(ip, name));
    }
}

/// The console's state.
pub struct Console {
    pub store: Store,
    pub gateway: Handle,
    pub config: ConsoleConfig,
    /// The scan's configuration the gateway started with (analysers, classifier, variants).
    pub scan: mailmoat_pipeline::Config,
    pub data_dir: PathBuf,
    pub limiter: LoginLimiter,
    /// The variant reference store, loaded when a report first draws a map (and again when
    /// the file changes).
    intel: Mutex<Option<(std::time::SystemTime, Arc<mailmoat_variants::Store>)>>,
}

impl Console {
    /// Opens the console's store; on first start, creates the administrator account and says
    /// where its password is.
    pub fn open(gateway: Handle, settings: Settings) -> Result<Arc<Console>, String> {
        let Settings {
            serve,
            console: config,
        } = settings;
        let scan = serve.scan;
        let data_dir = scan.base_dir.join(&config.data_dir);
        let site = gateway
            .shared_postgres()
            .map(|link| Arc::new(SharedAccounts::new(link.clone(), gateway.node())));
        let store = Store::open_with(&data_dir, site).map_err(|e| e.to_string())?;
        let users = match store.user_count() {
            Ok(n) => n,
            // A node starts while the site's database is down (mail must flow); the console
            // answers with an error until it is back, and whoever first started made the
            // administrator.
            Err(StoreError::Shared(e)) => {
                tracing::warn!(error = %e, "console: the site's accounts are unreachable; sign-in works again when PostgreSQL is back");
                1
            }
            Err(e) => return Err(e.to_string()),
        };
        if users == 0 {
            let password = store::random_token();
            let admin = match store.create_user("admin", &password, Role::Admin, &[]) {
                Ok(admin) => admin,
                // Another node of the site made it at the same moment: its file has the password.
                Err(StoreError::Invalid(_)) if store.is_shared() => {
                    tracing::info!("console: the site's administrator was made by another node");
                    return Ok(Console::with(store, gateway, config, scan, data_dir));
                }
                Err(e) => return Err(e.to_string()),
            };
            let file = data_dir.join("initial-admin-password");
            write_private(&file, &format!("{password}\n"))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            tracing::info!(
                user = %admin.name,
                password_file = %file.display(),
                "console: created the administrator; its password is in the file"
            );
        }
        // Shared between nodes, the gateway loads the site's exceptions itself.
        if gateway.shared_exceptions().is_none() {
            let exceptions = store.exceptions(None).map_err(|e| e.to_string())?;
            gateway
                .exceptions()
                .replace(exceptions.into_iter().map(|e| (e.recipient, e.sender)));
        }
        Ok(Console::with(store, gateway, config, scan, data_dir))
    }

    fn with(
        store: Store,
        gateway: Handle,
        config: ConsoleConfig,
        scan: mailmoat_pipeline::Config,
        data_dir: PathBuf,
    ) -> Arc<Console> {
        Arc::new(Console {
            store,
            gateway,
            config,
            scan,
            data_dir,
            limiter: LoginLimiter::default(),
            intel: Mutex::new(None),
        })
    }

    /// The variant reference store of the configuration, if there is one.
    pub fn intel(&self) -> Option<Arc<mailmoat_variants::Store>> {
        let variants = &self.scan.analyzers.variants;
        let path = self.scan.base_dir.join(variants.store.as_ref()?);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        let mut cached = self.intel.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, store)) = cached.as_ref() {
            if *at == modified {
                return Some(store.clone());
            }
        }
        let store = Arc::new(mailmoat_variants::Store::load(&path).ok()?);
        *cached = Some((modified, store.clone()));
        Some(store)
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Starts the console on the gateway's runtime (call from within it): the HTTP listener and the
/// daily digest.
pub fn start(gateway: Handle, settings: Settings) -> Result<(), String> {
    let console = Console::open(gateway, settings)?;
    digest::spawn(console.clone());
    if console.config.listen.is_empty() {
        return Ok(());
    }
    let listener = std::net::TcpListener::bind(&console.config.listen)
        .map_err(|e| format!("console: cannot listen on {}: {e}", console.config.listen))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("console: {e}"))?;
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|e| format!("console: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(url = %format_args!("http://{address}"), "console: web console and API");
    tokio::spawn(serve(listener, console));
    Ok(())
}

/// Serves the console on a listener until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, console: Arc<Console>) {
    let app = web::router(console).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "console stopped");
    }
}

/// Civil date and time of a Unix timestamp, UTC: "2026-11-23 08:00".
pub fn format_time(unix: i64) -> String {
    let (y, m, d) = mailmoat_gateway::civil_date(unix.div_euclid(86400));
    let secs = unix.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_civil_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_795_395_723), "2026-11-23 01:02");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn wrong_passwords_never_lock_the_right_password_out_from_another_address() {
        let l = LoginLimiter::default();
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let admin: IpAddr = "198.51.100.7".parse().unwrap();
        // Forty wrong guesses for "admin", spread over the window and repeated for ever.
        for round in 0..4 {
            for i in 0..10 {
                let t = 100 + round * LOGIN_WINDOW_SECS / 2 + i;
                l.failed(attacker, "admin", t);
            }
            let t = 120 + round * LOGIN_WINDOW_SECS / 2;
            assert_eq!(l.wait(admin, "admin", 10, t), 0, "round {round}");
            assert!(l.wait(attacker, "admin", 10, t) > 0, "round {round}");
        }
    }

    #[test]
    fn a_pair_past_the_limit_waits_longer_after_each_failure() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..3 {
            assert_eq!(l.wait(ip, "bob", 3, 100 + i), 0);
            l.failed(ip, "bob", 100 + i);
        }
        assert_eq!(
            l.wait(ip, "Bob", 3, 102),
            FIRST_BACKOFF_SECS,
            "names are case-blind"
        );
        assert_eq!(
            l.wait(ip, "alice", 3, 102),
            0,
            "other names from the address are not"
        );
        l.failed(ip, "bob", 200);
        assert_eq!(l.wait(ip, "bob", 3, 200), 2 * FIRST_BACKOFF_SECS);
        l.failed(ip, "bob", 400);
        assert_eq!(l.wait(ip, "bob", 3, 400), 4 * FIRST_BACKOFF_SECS);
        assert_eq!(l.wait(ip, "bob", 3, 400 + 4 * FIRST_BACKOFF_SECS), 0);
        l.succeeded(ip, "bob");
        assert_eq!(l.wait(ip, "bob", 3, 401), 0, "a success clears the pair");
    }

    #[test]
    fn an_address_guessing_many_names_waits_out_the_window() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..15 {
            l.failed(ip, &format!("user{i}"), 100 + i);
        }
        assert!(l.wait(ip, "someone-else", 3, 120) > 0);
        assert_eq!(
            l.wait("192.0.2.2".parse().unwrap(), "someone-else", 3, 120),
            0
        );
        assert_eq!(
            l.wait(ip, "someone-else", 3, 100 + LOGIN_WINDOW_SECS + 15),
            0
        );
    }
}

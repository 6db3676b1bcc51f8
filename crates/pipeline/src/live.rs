//! The scanner in service, replaced whole on reload. A scan takes an `Arc` of the current
//! scanner and keeps it to the end, so work in flight finishes on the rules it started with;
//! a reload that fails leaves the running scanner untouched and says why. Rate-limit counters
//! survive reloads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use mailmoat_auth::contacts::ContactStore;
use mailmoat_auth::AuthStage;
use mailmoat_rules::{MemoryRateStore, RateStore};

use crate::{Config, ConfigError, Scanner};

/// Reads the configuration in force: at start and at each reload. Whoever owns the whole
/// file (the gateway, the console) reads and checks all of it and gives the scan its part.
pub type ConfigLoader = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// Puts a store (one shared by several nodes) in front of the node's own first-contact store.
pub type ContactsFront = Box<dyn FnOnce(Arc<dyn ContactStore>) -> Arc<dyn ContactStore>>;

pub struct LiveScanner {
    current: RwLock<Arc<Scanner>>,
    load_config: ConfigLoader,
    rates: Arc<dyn RateStore>,
    /// First-contact history, opened once (a reload keeps it; a new contacts_file needs a
    /// restart).
    contacts: Option<Arc<dyn ContactStore>>,
    generation: AtomicU64,
}

/// What a successful reload loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub generation: u64,
    pub rules: usize,
    pub patterns: usize,
    pub list_entries: usize,
    pub rate_limits: usize,
}

impl std::fmt::Display for Reloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "generation {}: {} rules ({} patterns), {} list entries, {} rate limits",
            self.generation, self.rules, self.patterns, self.list_entries, self.rate_limits
        )
    }
}

impl LiveScanner {
    /// Loads the configuration `load_config` reads and everything it names.
    pub fn start(load_config: ConfigLoader) -> Result<LiveScanner, ConfigError> {
        LiveScanner::start_with(load_config, Arc::new(MemoryRateStore::default()), None)
    }

    /// As [`LiveScanner::start`], counting rate limits in `rates` and, when `contacts_front` is
    /// given, asking the store it makes (a shared one) in front of the first-contact store
    /// `[auth]` configures. Both are kept across reloads.
    pub fn start_with(
        load_config: ConfigLoader,
        rates: Arc<dyn RateStore>,
        contacts_front: Option<ContactsFront>,
    ) -> Result<LiveScanner, ConfigError> {
        let config = load_config()?;
        let contacts = if config.auth.enabled {
            AuthStage::open_contacts(&config.auth, &config.base_dir).map_err(|source| {
                ConfigError::Auth {
                    path: config.origin.clone(),
                    source,
                }
            })?
        } else {
            None
        };
        let contacts = match (contacts, contacts_front) {
            (Some(local), Some(front)) => Some(front(local)),
            (contacts, _) => contacts,
        };
        let scanner = Scanner::build_with(
            &config,
            crate::configured_detectors(&config)?,
            rates.clone(),
            contacts.clone(),
        )?;
        Ok(LiveScanner {
            contacts,
            current: RwLock::new(Arc::new(scanner)),
            load_config,
            rates,
            generation: AtomicU64::new(1),
        })
    }

    /// A live scanner over a file of the scan's sections only (or the built-in defaults).
    pub fn from_path(config_path: Option<PathBuf>) -> Result<LiveScanner, ConfigError> {
        LiveScanner::start(Arc::new(move || match &config_path {
            Some(p) => Config::load(p),
            None => Ok(Config::defaults()),
        }))
    }

    fn load(
        load_config: &ConfigLoader,
        rates: Arc<dyn RateStore>,
        contacts: Option<Arc<dyn ContactStore>>,
    ) -> Result<Scanner, ConfigError> {
        let config = load_config()?;
        Scanner::build_with(
            &config,
            crate::configured_detectors(&config)?,
            rates,
            contacts,
        )
    }

    pub fn current(&self) -> Arc<Scanner> {
        // A poisoned lock still holds a complete scanner (the swap is one assignment).
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the configuration and rule files. On any error the running scanner stays.
    pub fn reload(&self) -> Result<Reloaded, ConfigError> {
        let scanner = Self::load(&self.load_config, self.rates.clone(), self.contacts.clone())?;
        let (rules, patterns, list_entries, rate_limits) = scanner.rules().counts();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(scanner);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Reloaded {
            generation,
            rules,
            patterns,
            list_entries,
            rate_limits,
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

/// Reloads on every SIGHUP, on a thread of its own; each outcome goes to `report`.
pub fn reload_on_sighup(
    live: Arc<LiveScanner>,
    report: impl Fn(Result<Reloaded, ConfigError>) + Send + 'static,
) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    std::thread::Builder::new()
        .name("reload-on-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                report(live.reload());
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmoat_mime::Envelope;

    fn write_config(dir: &std::path::Path, rule_pattern: &str) {
        std::fs::write(
            dir.join("mailmoat.toml"),
            "[rules]\ndefault_pack = false\nfiles = [\"local.toml\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("local.toml"),
            format!("[[rule]]\nname = \"LOCAL\"\ndescription = \"d\"\nscore = 1\nwhen = {{ subject = '{rule_pattern}' }}\n"),
        )
        .unwrap();
    }

    #[test]
    fn reload_swaps_rules_and_a_failed_reload_keeps_the_old_ones() {
        let dir = std::env::temp_dir().join(format!("mailmoat-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_config(&dir, "alpha");
        let live = LiveScanner::from_path(Some(dir.join("mailmoat.toml"))).unwrap();
        let msg = |s: &str| format!("Subject: {s}\r\n\r\nx").into_bytes();
        assert!(live
            .current()
            .scan(msg("alpha"), Envelope::default())
            .findings
            .contains("LOCAL"));

        write_config(&dir, "beta");
        let r = live.reload().unwrap();
        assert_eq!((r.generation, r.rules), (2, 1));
        assert!(live
            .current()
            .scan(msg("beta"), Envelope::default())
            .findings
            .contains("LOCAL"));
        assert!(!live
            .current()
            .scan(msg("alpha"), Envelope::default())
            .findings
            .contains("LOCAL"));

        write_config(&dir, "(broken");
        let err = live.reload().unwrap_err().to_string();
        assert!(err.contains("local.toml:5: LOCAL: bad regex"), "{err}");
        assert_eq!(live.generation(), 2);
        assert!(
            live.current()
                .scan(msg("beta"), Envelope::default())
                .findings
                .contains("LOCAL"),
            "old rules kept"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn scans_in_flight_finish_while_reloads_happen() {
        let dir = std::env::temp_dir().join(format!("mailmoat-live-flight-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_config(&dir, "hello");
        let live = Arc::new(LiveScanner::from_path(Some(dir.join("mailmoat.toml"))).unwrap());
        let scanners: Vec<_> = (0..2)
            .map(|_| {
                let live = live.clone();
                std::thread::spawn(move || {
                    let mut done = 0;
                    for _ in 0..300 {
                        let scanner = live.current();
                        let r =
                            scanner.scan(b"Subject: hello\r\n\r\nx".to_vec(), Envelope::default());
                        assert!(r.findings.contains("LOCAL"));
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        for _ in 0..30 {
            live.reload().unwrap();
        }
        let done: usize = scanners.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(done, 600);
        assert_eq!(live.generation(), 31);
        std::fs::remove_dir_all(dir).ok();
    }
}

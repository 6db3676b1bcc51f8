use std::path::{Path, PathBuf};

use mailmoat_core::{PolicyConfig, PolicyError};
use mailmoat_detectors::DetectorsConfig;
use mailmoat_mime::ViewOptions;
use serde::Deserialize;

/// The whole configuration file. Every section is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How messages are read into the view.
    pub message: ViewOptions,
    /// Detector settings, one table per detector.
    pub detectors: DetectorsConfig,
    /// Administrator rules, lists and rate limits.
    pub rules: RulesConfig,
    /// The statistical classifier's model and thresholds.
    pub classifier: mailmoat_classifier::Config,
    /// The lexical model of link hosts (URL_HOST_MODEL).
    pub url_model: mailmoat_classifier::url_model::Config,
    /// Landing pages of links opened in headless Chromium and compared with brand looks.
    pub url_visual: mailmoat_visual::Config,
    /// Stage-2 analysers (attachments: true types, archives, hashes).
    pub analyzers: AnalyzersConfig,
    /// Sender authentication, DNS blocklists and first contact (needs DNS; the gateway runs it).
    pub auth: mailmoat_auth::AuthConfig,
    /// SpamAssassin rule files: the system's stock rules and the administrator's own `.cf`.
    pub spamassassin: SpamAssassinConfig,
    /// Weights, caps, forced actions and thresholds.
    pub policy: PolicyConfig,
    /// The learned evidence fusion (`mailmoat train --fusion`) that sets the spam score.
    pub fusion: FusionConfig,
    /// The SMTP gateway (`mailmoat serve`): listener, protected domains, spool, delivery.
    pub gateway: GatewayConfig,
    /// The web console and REST API (`mailmoat serve` runs it beside the gateway).
    pub console: ConsoleConfig,
    /// SpamAssassin's spamd protocol (`spamc`, Amavis-style callers) served by `mailmoat serve`.
    pub spamd: SpamdConfig,
    /// rspamd's HTTP scan protocol (`rspamc`, Haraka's and Exim's rspamd clients) and
    /// mailmoat's own `/api/v1/scan`, served by `mailmoat serve`.
    pub rspamd: RspamdConfig,
    /// A milter (Sendmail milter protocol v6, as Postfix speaks it) served by `mailmoat serve`.
    pub milter: MilterConfig,
    /// Where this configuration came from (file name, or "built-in defaults").
    #[serde(skip)]
    pub origin: String,
    /// The file's text, so later checks (policy, rules) can name lines.
    #[serde(skip)]
    pub text: Option<String>,
    /// Relative paths in the file resolve against this folder (the file's own).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[fusion]`: the learned model that weighs every symbol and the classifier together.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FusionConfig {
    /// A fusion model from `mailmoat train --fusion` (relative to this file). None: the hand
    /// weights of `[policy]` add up the score.
    pub model: Option<PathBuf>,
}

impl Config {
    /// The fusion model `[fusion] model` names, read and checked.
    pub fn fusion_model(
        &self,
    ) -> Result<Option<std::sync::Arc<mailmoat_core::FusionModel>>, ConfigError> {
        let Some(path) = &self.fusion.model else {
            return Ok(None);
        };
        let path = self.base_dir.join(path);
        let fail = |message: String| ConfigError::Syntax {
            path: self.origin.clone(),
            message: format!("[fusion] model {}: {message}", path.display()),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
        let model: mailmoat_core::FusionModel =
            serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        model.validate().map_err(fail)?;
        Ok(Some(std::sync::Arc::new(model)))
    }
}

/// `[analyzers]`: one table per stage-2 analyser.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyzersConfig {
    pub attachments: mailmoat_analyzers::Config,
    pub variants: mailmoat_analyzers::VariantsConfig,
}

/// `[spamassassin]`: rules in SpamAssassin's language, run beside mailmoat's own. Hits are
/// symbols named as the rules are (group `spamassassin`), weighted by their SpamAssassin score
/// times `scale`; `[policy.symbols]` and the learned fusion weigh them like any other symbol.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamAssassinConfig {
    pub enabled: bool,
    /// Rule files and folders in load order (relative to this config file). Empty: the stock
    /// rules of Debian's spamassassin package (sa-update's copy when present) and
    /// /etc/spamassassin (`*.pre`, `local.cf`).
    pub rules: Vec<PathBuf>,
    /// SpamAssassin's score set: 0 without network tests and Bayes (what runs here).
    pub score_set: usize,
    /// Points per SpamAssassin point (its 5.0 threshold against mailmoat's tag at 6).
    pub scale: f64,
}

impl Default for SpamAssassinConfig {
    fn default() -> Self {
        SpamAssassinConfig {
            enabled: false,
            rules: Vec::new(),
            score_set: 0,
            scale: 1.0,
        }
    }
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Use the rule pack built into the binary (rules/default.toml).
    pub default_pack: bool,
    /// Rule files, loaded after the default pack, in order (relative to this config file).
    pub files: Vec<PathBuf>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            default_pack: true,
            files: Vec::new(),
        }
    }
}

/// `[gateway]`: how `mailmoat serve` receives, holds and delivers mail. The defaults make a
/// self-contained demo: loopback only, mail for `example.com`, delivered into a local folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Address and port of the inbound SMTP listener.
    pub listen: String,
    /// The name this gateway gives in its greeting, EHLO and Received lines.
    pub hostname: String,
    /// Domains we accept mail for (and their subdomains when written as ".example.com").
    /// Everything else is refused at RCPT: never an open relay.
    pub protected_domains: Vec<String>,
    /// Where accepted messages wait for delivery (fsynced before the 250 reply).
    pub spool_dir: PathBuf,
    /// Where quarantined messages and their reports are kept.
    pub quarantine_dir: PathBuf,
    /// Largest message accepted (SIZE), in bytes.
    pub max_message_bytes: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Simultaneous SMTP connections; more are told to come back later (421).
    pub max_connections: usize,
    /// Messages between the 354 go-ahead and their final reply at once (0: eight per core).
    /// A sender whose DATA comes beyond that waits for its go-ahead (up to a minute, then
    /// 451 4.3.2), as Postfix's in_flow_delay does: under load the gateway holds a sender back
    /// before the message is sent, not after, and the bodies in memory stay bounded. A message
    /// waiting for DNS holds its place: raise this where DNS answers slowly.
    pub messages_in_progress: usize,
    /// Simultaneous SMTP connections from one client address (Postfix's anvil
    /// `smtpd_client_connection_count_limit`); more are told to come back later (421), so one
    /// host cannot take every connection.
    pub max_connections_per_ip: usize,
    /// Client networks the per-address limit does not apply to (your own relays).
    pub connection_limit_exceptions: Vec<ipnet::IpNet>,
    /// Seconds a client has to send one whole command line, from when the gateway starts
    /// waiting for it: a deadline, not an idle timeout, so a byte now and then does not keep
    /// a connection open.
    pub command_timeout_secs: u64,
    /// Seconds the whole message (DATA up to its final dot) may take.
    pub data_timeout_secs: u64,
    /// Seconds one connection may last; past it the gateway closes it (421) at the next
    /// command. Senders reconnect; a slow client cannot hold a connection for ever.
    pub max_session_secs: u64,
    /// NOOP, RSET, VRFY and HELP commands allowed between two accepted messages (Postfix's
    /// `smtpd_junk_command_limit`); one more closes the connection.
    pub max_junk_commands: usize,
    /// Prefix added to the subject of tagged mail.
    pub tag_subject_prefix: String,
    /// Where mail for each domain goes: "smtp://host:port" or "dir:PATH" (a folder, one file per
    /// delivered message: the demo's local sink). `default` covers every other domain.
    pub routes: std::collections::BTreeMap<String, String>,
    /// Delays between delivery attempts, in seconds; the last repeats.
    pub retry_intervals_secs: Vec<u64>,
    /// Give up (and bounce) a recipient after this many seconds in the queue.
    pub max_queue_secs: u64,
    /// How much lower (Unix nice steps, 0–19) the work no sender waits for runs: delivery and
    /// the message log's writer. Replies to senders come first: under load, that work uses the
    /// CPU receiving leaves over, so the time from the end of DATA to the reply stays short
    /// while queued mail waits a little longer. 0 runs everything at one priority.
    pub background_nice: i32,
    /// Address of the health endpoint (HTTP), empty for none.
    pub health_listen: String,
    /// Recipient verification: a file of valid addresses, one per line (`#` comments). When
    /// set, other recipients in the protected domains get 550 5.1.1 at RCPT, so mail for
    /// people who do not exist is never accepted (and never bounced later).
    pub recipient_list: Option<PathBuf>,
    /// Recipient verification against the downstream server: at RCPT, ask the recipient's
    /// `smtp://` route (MAIL FROM:<>, RCPT TO) and refuse what it refuses. Answers are cached
    /// (accepted for an hour, refused for ten minutes); when the downstream cannot be asked,
    /// the recipient gets a temporary 450 so the sender retries.
    pub verify_recipients: bool,
    /// Offer STARTTLS to clients.
    pub starttls: bool,
    /// Certificate chain and private key (PEM). When unset, a self-signed certificate for
    /// `hostname` is generated in `tls_dir` on first start and reused after.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_dir: PathBuf,
    /// Where the report and statistics of every scanned message are kept (the console's
    /// message log and dashboard).
    pub events_dir: PathBuf,
    /// Reports older than this many days are removed (the hourly statistics stay).
    pub events_retention_days: u32,
}

/// `[spamd]`: a scan service speaking SpamAssassin's spamd protocol (SPAMC/1.5), so `spamc`
/// and Amavis-style callers work unchanged. It scans and answers; the caller keeps the message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamdConfig {
    /// Address of the listener; empty for none.
    pub listen: String,
    /// Client networks allowed to connect (spamd's `--allowed-ips`); others are closed at once.
    /// The protocol has no password: open it beyond loopback only to your own MTA hosts.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Largest message scanned, in bytes; larger ones are refused (spamc then passes the
    /// message on unchanged).
    pub max_message_bytes: usize,
    /// Requests served at once; more wait for a place.
    pub max_connections: usize,
    /// Seconds a client has to send its whole request.
    pub request_timeout_secs: u64,
}

impl Default for SpamdConfig {
    fn default() -> Self {
        SpamdConfig {
            listen: "127.0.0.1:7830".to_string(),
            allowed_networks: vec![
                "127.0.0.0/8".parse().expect("a network"),
                "::1/128".parse().expect("a network"),
            ],
            max_message_bytes: 25 * 1024 * 1024,
            max_connections: 64,
            request_timeout_secs: 60,
        }
    }
}

/// `[rspamd]`: a scan service speaking rspamd's HTTP protocol (`POST /checkv2`, `/symbols`,
/// `GET /ping`) and mailmoat's own `POST /api/v1/scan` (the full typed report as JSON). It scans
/// and answers; the caller keeps the message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RspamdConfig {
    /// Address of the listener; empty for none.
    pub listen: String,
    /// The password clients other than loopback must send (rspamd's `Password` header, or
    /// `Authorization: Bearer`). Empty: loopback clients only.
    pub password: String,
    /// Largest message scanned, in bytes (413 beyond).
    pub max_message_bytes: usize,
    /// Requests scanned at once; more wait for a place.
    pub max_connections: usize,
}

impl Default for RspamdConfig {
    fn default() -> Self {
        RspamdConfig {
            listen: "127.0.0.1:11333".to_string(),
            password: String::new(),
            max_message_bytes: 25 * 1024 * 1024,
            max_connections: 64,
        }
    }
}

/// `[milter]`: a Postfix/Sendmail milter. The MTA hands each message over before it queues it;
/// the verdict comes back as the MTA's own answer: headers added, the subject tagged, a
/// reject with our reply, or a quarantine (Postfix's hold queue, and mailmoat's own quarantine
/// so the console can release it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilterConfig {
    /// Address of the listener (Postfix: `smtpd_milters = inet:127.0.0.1:7831`); empty for none.
    pub listen: String,
    /// Client networks allowed to connect; others are closed at once.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Largest message scanned, in bytes; a larger one is passed on unscanned with a header
    /// saying so.
    pub max_message_bytes: usize,
    /// When a scan fails inside mailmoat: false answers tempfail (the sender retries), true
    /// lets the message through unscanned with a header saying so.
    pub fail_open: bool,
}

impl Default for MilterConfig {
    fn default() -> Self {
        MilterConfig {
            listen: "127.0.0.1:7831".to_string(),
            allowed_networks: vec![
                "127.0.0.0/8".parse().expect("a network"),
                "::1/128".parse().expect("a network"),
            ],
            max_message_bytes: 25 * 1024 * 1024,
            fail_open: false,
        }
    }
}

/// `[console]`: the web console and REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Address of the console (HTTP); empty for none. Put a TLS reverse proxy in front of it
    /// for anything but loopback.
    pub listen: String,
    /// Users, sessions, API tokens, per-user exceptions and the audit log.
    pub data_dir: PathBuf,
    /// Mark the session cookie `Secure` (only sent over HTTPS). On by default; browsers treat
    /// http://127.0.0.1 and http://localhost as secure, so the loopback demo works either way.
    pub secure_cookies: bool,
    /// Hours a console session lasts.
    pub session_hours: u32,
    /// Failed logins allowed per (user name, client address) in 15 minutes; then that pair
    /// waits, longer after each further failure (other addresses are not held back).
    pub login_attempts: u32,
    /// Send each user a daily digest of their quarantined mail (through the delivery queue).
    pub digest: bool,
    /// Hour of the day (UTC) the digest goes out.
    pub digest_hour_utc: u32,
    /// The console's address as users reach it, for links in the digest.
    pub public_url: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: "127.0.0.1:8025".to_string(),
            data_dir: PathBuf::from("var/console"),
            secure_cookies: true,
            session_hours: 12,
            login_attempts: 10,
            digest: false,
            digest_hour_utc: 7,
            public_url: "http://127.0.0.1:8025".to_string(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: "127.0.0.1:2525".to_string(),
            hostname: "mailmoat.localhost".to_string(),
            protected_domains: vec!["example.com".to_string()],
            spool_dir: PathBuf::from("var/spool"),
            quarantine_dir: PathBuf::from("var/quarantine"),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 500,
            messages_in_progress: 0,
            max_connections_per_ip: 50,
            connection_limit_exceptions: Vec::new(),
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            max_session_secs: 3600,
            max_junk_commands: 100,
            tag_subject_prefix: "[SPAM]".to_string(),
            routes: [("default".to_string(), "dir:var/delivered".to_string())].into(),
            retry_intervals_secs: vec![60, 300, 900, 1800, 3600],
            max_queue_secs: 5 * 24 * 3600,
            background_nice: 10,
            health_listen: "127.0.0.1:2580".to_string(),
            recipient_list: None,
            verify_recipients: false,
            starttls: true,
            tls_cert: None,
            tls_key: None,
            tls_dir: PathBuf::from("var/tls"),
            events_dir: PathBuf::from("var/events"),
            events_retention_days: 90,
        }
    }
}

/// The default rule pack, built into the binary.
pub const DEFAULT_RULE_PACK: &str = include_str!("../../../rules/default.toml");

/// A configuration problem, naming the file and, where it can, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: {source}")]
    Policy { path: String, source: PolicyError },
    #[error("{0}")]
    Rules(#[from] mailmoat_rules::RuleErrors),
    #[error("{path}: [spamassassin]: {source}")]
    SpamAssassin {
        path: String,
        source: mailmoat_sarules::SaError,
    },
    #[error("{path}: {source}")]
    Auth {
        path: String,
        source: mailmoat_auth::AuthError,
    },
    #[error("{path}: [analyzers]: {source}")]
    Analyzers {
        path: String,
        source: mailmoat_analyzers::BuildError,
    },
    #[error("{path}: [classifier]: {source}")]
    Classifier {
        path: String,
        source: mailmoat_classifier::ModelError,
    },
    #[error("{path}: {source}")]
    UrlVisual {
        path: String,
        source: mailmoat_visual::BuildError,
    },
    #[error("{path}: [url_model]: {source}")]
    UrlModel {
        path: String,
        source: mailmoat_classifier::ModelError,
    },
}

impl Config {
    /// The built-in defaults (what an empty file means).
    pub fn defaults() -> Config {
        Config {
            origin: "built-in defaults".to_string(),
            base_dir: PathBuf::from("."),
            ..Config::default()
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        config.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if config.base_dir.as_os_str().is_empty() {
            config.base_dir = PathBuf::from(".");
        }
        Ok(config)
    }

    /// Parses TOML text; `origin` names it in errors. Relative paths resolve against the
    /// current folder.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_string(),
            message: one_line_toml_error(&e, text),
        })?;
        config.origin = origin.to_string();
        config.text = Some(text.to_string());
        config.base_dir = PathBuf::from(".");
        Ok(config)
    }

    /// The rule sources this configuration names: the built-in pack, then the files.
    pub fn rule_sources(&self) -> Vec<mailmoat_rules::RuleSource> {
        let mut sources = Vec::new();
        if self.rules.default_pack {
            sources.push(mailmoat_rules::RuleSource::Text {
                origin: "rules/default.toml (built in)".to_string(),
                text: DEFAULT_RULE_PACK.to_string(),
            });
        }
        for f in &self.rules.files {
            sources.push(mailmoat_rules::RuleSource::File(self.base_dir.join(f)));
        }
        sources
    }
}

/// toml's errors are multi-line with a source excerpt; keep "line N, column M: what".
fn one_line_toml_error(e: &toml::de::Error, text: &str) -> String {
    let what = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_defaults() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.message.max_depth, ViewOptions::default().max_depth);
        assert!(c.detectors.header_sanity.enabled);
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let err =
            Config::parse("[message]\nmax_depth = 3\nmax_dept = 4\n", "mailmoat.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("mailmoat.toml: line 3, column 1:"), "{msg}");
        assert!(msg.contains("max_dept"), "{msg}");

        let err =
            Config::parse("[detectors.header_sanity]\ndate_past_dayz = 3\n", "c.toml").unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("date_past_dayz"),
            "{err}"
        );

        let err = Config::parse("[nonsense]\n", "c.toml").unwrap_err();
        assert!(
            err.to_string().contains("line 1") && err.to_string().contains("nonsense"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_are_errors() {
        let err = Config::parse("[policy]\ntag = \"high\"\n", "c.toml").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Config::parse(
            "[message]\ntrusted_networks = [\"10.0.0.0/33\"]\n",
            "c.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}

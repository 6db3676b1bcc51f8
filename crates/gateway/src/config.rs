//! The sections of the configuration file the gateway and its filter services own:
//! `[gateway]`, `[spamd]`, `[rspamd]` and `[milter]`, and [`ServeConfig`], which reads them
//! beside the scan's own sections.

use std::path::{Path, PathBuf};

use mailmoat_pipeline::{
    base_dir_of, read_config_text, Config, ConfigError, ConfigFile, Site, DEFAULT_HOSTNAME,
    DEFAULT_PROTECTED_DOMAIN,
};
use mailmoat_shared::SharedConfig;
use serde::Deserialize;

/// What `mailmoat serve` reads from the configuration file besides the console: the scan's
/// sections and the gateway's.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The scan pipeline's sections; its `site` comes from `[gateway]`.
    pub scan: Config,
    pub gateway: GatewayConfig,
    pub spamd: SpamdConfig,
    pub rspamd: RspamdConfig,
    pub milter: MilterConfig,
    pub shared: SharedConfig,
}

/// The gateway's own sections, as one file declares them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GatewaySections {
    /// The SMTP gateway (`mailmoat serve`): listener, protected domains, spool, delivery.
    gateway: GatewayConfig,
    /// SpamAssassin's spamd protocol (`spamc`, Amavis-style callers) served by `mailmoat serve`.
    spamd: SpamdConfig,
    /// rspamd's HTTP scan protocol (`rspamc`, Haraka's and Exim's rspamd clients) and
    /// mailmoat's own `/api/v1/scan`, served by `mailmoat serve`.
    rspamd: RspamdConfig,
    /// A milter (Sendmail milter protocol v6, as Postfix speaks it) served by `mailmoat serve`.
    milter: MilterConfig,
    /// State shared with the site's other gateway nodes (Redis).
    shared: SharedConfig,
}

impl ServeConfig {
    /// The built-in defaults (what an empty file means).
    pub fn defaults() -> ServeConfig {
        ServeConfig::from_parts(Config::defaults(), GatewaySections::default())
    }

    /// Reads a file that configures the scan and the gateway (no console).
    pub fn load(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = read_config_text(path)?;
        let mut config = ServeConfig::parse(&text, &path.display().to_string())?;
        config.scan.base_dir = base_dir_of(path);
        Ok(config)
    }

    /// Parses TOML text that configures the scan and the gateway (no console).
    pub fn parse(text: &str, origin: &str) -> Result<ServeConfig, ConfigError> {
        let mut file = ConfigFile::parse(text, origin)?;
        let config = ServeConfig::take(&mut file)?;
        file.finish()?;
        Ok(config)
    }

    /// Takes the scan's and the gateway's sections out of a file other owners read too.
    pub fn take(file: &mut ConfigFile<'_>) -> Result<ServeConfig, ConfigError> {
        let scan = Config::take(file)?;
        let sections: GatewaySections = file.take()?;
        Ok(ServeConfig::from_parts(scan, sections))
    }

    fn from_parts(mut scan: Config, sections: GatewaySections) -> ServeConfig {
        scan.site = Site {
            hostname: sections.gateway.hostname.clone(),
            protected_domains: sections.gateway.protected_domains.clone(),
        };
        ServeConfig {
            scan,
            gateway: sections.gateway,
            spamd: sections.spamd,
            rspamd: sections.rspamd,
            milter: sections.milter,
            shared: sections.shared,
        }
    }

    /// The folder relative paths resolve against.
    pub fn base_dir(&self) -> &Path {
        &self.scan.base_dir
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
    /// The protocol has no password: beyond loopback, open it only to your own MTA hosts, and
    /// with `client_ca` so that each must also show a certificate.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Largest message scanned, in bytes; larger ones are refused (spamc then passes the
    /// message on unchanged).
    pub max_message_bytes: usize,
    /// Requests served at once; more wait for a place.
    pub max_connections: usize,
    /// Seconds a client has to send its whole request.
    pub request_timeout_secs: u64,
    /// TLS on the listener (spamd's `--ssl`; clients use `spamc -S`).
    pub tls: bool,
    /// The listener's certificate chain and key (PEM); unset: the gateway's (`[gateway]`
    /// tls_cert/tls_key, or its generated self-signed one).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// With `tls`: clients must present a certificate issued by this CA (PEM), as spamd's
    /// `--ssl-verify --ssl-ca-file` (`spamc -S --ssl-cert C --ssl-key K`).
    pub client_ca: Option<PathBuf>,
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
            tls: false,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
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

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: "127.0.0.1:2525".to_string(),
            hostname: DEFAULT_HOSTNAME.to_string(),
            protected_domains: vec![DEFAULT_PROTECTED_DOMAIN.to_string()],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_section_tells_the_scan_who_we_are() {
        let c = ServeConfig::parse(
            "[gateway]\nhostname = \"mx.site.example\"\nprotected_domains = [\"site.example\"]\n\n[milter]\nfail_open = true\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.scan.site.hostname, "mx.site.example");
        assert_eq!(c.scan.site.protected_domains, ["site.example"]);
        assert!(c.milter.fail_open);
        let d = ServeConfig::defaults();
        assert_eq!(d.scan.site.hostname, d.gateway.hostname);
        assert_eq!(d.scan.site.protected_domains, d.gateway.protected_domains);
    }

    #[test]
    fn errors_in_the_gateways_sections_name_their_line_and_foreign_sections_are_refused() {
        let err = ServeConfig::parse(
            "[policy]\ntag = 6.0\n\n[gateway]\nlisten = \"127.0.0.1:25\"\nlistne = \"x\"\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("t.toml: line 6, column 1:"), "{err}");
        assert!(err.contains("listne"), "{err}");
        let err = ServeConfig::parse("[spamd]\nmax_connections = \"many\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: line 2,"), "{err}");
        // The console's section belongs to the console: a gateway-only reader refuses it.
        let err = ServeConfig::parse("[console]\nlisten = \"\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("`console`"), "{err}");
    }
}

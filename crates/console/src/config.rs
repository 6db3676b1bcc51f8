//! The console's section of the configuration file, `[console]`, and [`Settings`]: the whole
//! file as `mailmoat serve` reads it (the scan's, the gateway's and the console's sections).

use std::path::{Path, PathBuf};

use mailmoat_gateway::ServeConfig;
use mailmoat_pipeline::{base_dir_of, read_config_text, ConfigError, ConfigFile};
use serde::Deserialize;

/// The whole configuration file: every section, each read by the type of the crate that owns
/// it; a section nobody owns is an error naming its line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub serve: ServeConfig,
    pub console: ConsoleConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ConsoleSections {
    /// The web console and REST API (`mailmoat serve` runs it beside the gateway).
    console: ConsoleConfig,
}

impl Settings {
    /// The built-in defaults (what an empty file means).
    pub fn defaults() -> Settings {
        Settings {
            serve: ServeConfig::defaults(),
            console: ConsoleConfig::default(),
        }
    }

    /// Reads the configuration file, or the built-in defaults without one.
    pub fn load_or_defaults(path: Option<&Path>) -> Result<Settings, ConfigError> {
        match path {
            Some(p) => Settings::load(p),
            None => Ok(Settings::defaults()),
        }
    }

    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = read_config_text(path)?;
        let mut settings = Settings::parse(&text, &path.display().to_string())?;
        settings.serve.scan.base_dir = base_dir_of(path);
        Ok(settings)
    }

    /// Parses the whole file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Settings, ConfigError> {
        let mut file = ConfigFile::parse(text, origin)?;
        let serve = ServeConfig::take(&mut file)?;
        let sections: ConsoleSections = file.take()?;
        file.finish()?;
        Ok(Settings {
            serve,
            console: sections.console,
        })
    }

    /// The folder relative paths resolve against.
    pub fn base_dir(&self) -> &Path {
        self.serve.base_dir()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_file_gives_each_owner_its_sections() {
        let s = Settings::parse(
            "[message]\nmax_depth = 7\n\n[gateway]\nhostname = \"mx.site.example\"\n\n[console]\nsession_hours = 3\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(s.serve.scan.message.max_depth, 7);
        assert_eq!(s.serve.scan.site.hostname, "mx.site.example");
        assert_eq!(s.serve.gateway.hostname, "mx.site.example");
        assert_eq!(s.console.session_hours, 3);
    }

    #[test]
    fn an_unknown_section_or_key_names_its_line() {
        let err = Settings::parse("[console]\nsession_hours = 3\n\n[consle]\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.toml: line 4, column 2: unknown section `consle`"),
            "{err}"
        );
        assert!(
            err.contains("`console`") && err.contains("`gateway`"),
            "{err}"
        );
        let err = Settings::parse("[console]\nsession_hour = 3\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: line 2, column 1:"), "{err}");
    }
}

use std::path::{Path, PathBuf};

use mailmoat_core::{PolicyConfig, PolicyError};
use mailmoat_detectors::DetectorsConfig;
use mailmoat_mime::ViewOptions;
use serde::Deserialize;

use crate::config_file::ConfigFile;

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
    /// The installed threat-intelligence folder (YARA rules, ClamAV signatures, hash lists,
    /// variant references), updated with `mailmoat intel update`.
    pub intel: crate::intel::IntelConfig,
    /// Sender authentication, DNS blocklists and first contact (needs DNS; the gateway runs it).
    pub auth: mailmoat_auth::AuthConfig,
    /// SpamAssassin rule files: the system's stock rules and the administrator's own `.cf`.
    pub spamassassin: SpamAssassinConfig,
    /// Weights, caps, forced actions and thresholds.
    pub policy: PolicyConfig,
    /// The learned evidence fusion (`mailmoat train --fusion`) that sets the spam score.
    pub fusion: FusionConfig,
    /// Who "we" are to the scan: the name in Authentication-Results and the domains we
    /// receive mail for. Not a section of its own: the gateway's `[gateway]` section sets it
    /// (its defaults otherwise).
    #[serde(skip)]
    pub site: Site,
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
    /// YARA rules run on every object the attachment walk reaches.
    pub yara: mailmoat_analyzers::YaraConfig,
    /// ClamAV through clamd on each attachment and the code-bearing objects inside.
    pub clamav: mailmoat_analyzers::ClamavConfig,
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
    /// Match the rules with Hyperscan when the system has it (Debian's libhyperscan5, which
    /// rspamd also uses); false: the built-in engine only.
    pub hyperscan: bool,
    /// Where compiled Hyperscan databases are kept between starts (relative to this config
    /// file). Default: systemd's CacheDirectory, else ~/.cache/mailmoat/hyperscan.
    pub hyperscan_cache: Option<PathBuf>,
}

impl Default for SpamAssassinConfig {
    fn default() -> Self {
        SpamAssassinConfig {
            enabled: false,
            rules: Vec::new(),
            score_set: 0,
            scale: 1.0,
            hyperscan: true,
            hyperscan_cache: None,
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

/// Who "we" are to the scan: the name this host gives in Authentication-Results, and the
/// domains mail is received for (a From in them that fails authentication is spoofing us).
#[derive(Debug, Clone)]
pub struct Site {
    pub hostname: String,
    pub protected_domains: Vec<String>,
}

/// The host name of a fresh install (the gateway's default too).
pub const DEFAULT_HOSTNAME: &str = "mailmoat.localhost";
/// The domain a fresh install receives mail for (the gateway's default too).
pub const DEFAULT_PROTECTED_DOMAIN: &str = "example.com";

impl Default for Site {
    fn default() -> Self {
        Site {
            hostname: DEFAULT_HOSTNAME.to_string(),
            protected_domains: vec![DEFAULT_PROTECTED_DOMAIN.to_string()],
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
    #[error("{path}: [intel]: {source}")]
    Intel {
        path: String,
        source: crate::intel::IntelError,
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

    /// Reads a file holding the scan's sections only; a file that also configures the gateway
    /// or the console is read by their own `load`, which gives the scan its part.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_config_text(path)?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        config.base_dir = base_dir_of(path);
        Ok(config)
    }

    /// Parses TOML text holding the scan's sections only; `origin` names it in errors.
    /// Relative paths resolve against the current folder.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut file = ConfigFile::parse(text, origin)?;
        let config = Config::take(&mut file)?;
        file.finish()?;
        Ok(config)
    }

    /// Takes the scan's sections out of a file that other owners (the gateway, the console)
    /// read their own sections from.
    pub fn take(file: &mut ConfigFile<'_>) -> Result<Config, ConfigError> {
        let mut config: Config = file.take()?;
        config.origin = file.origin().to_string();
        config.text = Some(file.text().to_string());
        config.base_dir = PathBuf::from(".");
        Ok(config)
    }

    /// The intelligence version `[intel] dir` has current, checked against its manifest.
    pub fn installed_intel(&self) -> Result<Option<crate::intel::Installed>, ConfigError> {
        let Some(dir) = &self.intel.dir else {
            return Ok(None);
        };
        crate::intel::current(&self.base_dir.join(dir), &self.intel.trusted_keys).map_err(
            |source| ConfigError::Intel {
                path: self.origin.clone(),
                source,
            },
        )
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

/// Reads a configuration file's text.
pub fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The folder a file's relative paths resolve against: its own.
pub fn base_dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
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

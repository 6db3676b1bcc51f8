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
    /// Weights, caps, forced actions and thresholds.
    pub policy: PolicyConfig,
}

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
}

impl Config {
    pub fn load(path: &Path) -> Result<(Config, String), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Config::parse(&text, &path.display().to_string())?;
        Ok((config, text))
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_string(),
            message: one_line_toml_error(&e, text),
        })
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

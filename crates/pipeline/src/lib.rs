//! The scan pipeline: configuration (strict TOML), message sources (eml, mbox, Maildir,
//! folders, stdin), and [`Scanner`], which builds the view once, runs every detector (a failing
//! detector becomes evidence, never a lost message) and asks policy for the verdict.

pub mod autolearn;
mod config;
mod config_file;
pub mod intel;
mod live;
mod report;
pub mod scan_report;
mod scanner;
pub mod sources;
pub mod symbols_doc;

pub use config::{
    base_dir_of, read_config_text, Config, ConfigError, RulesConfig, Site, DEFAULT_HOSTNAME,
    DEFAULT_PROTECTED_DOMAIN, DEFAULT_RULE_PACK,
};
pub use config_file::ConfigFile;
pub use live::{reload_on_sighup, ConfigLoader, ContactsFront, LiveScanner, Reloaded};
pub use report::Report;
pub use scan_report::{ScanReport, SymbolReport, SCAN_REPORT_VERSION};
pub use scanner::{
    analysis_detectors, configured_detectors, symbol_table, InPlace, ScanError, ScanRuntime,
    Scanner, SYMBOLS,
};

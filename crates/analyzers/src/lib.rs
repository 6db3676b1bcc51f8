//! Stage 2, attachments: every attachment is opened as what its bytes are, not what its name
//! says; archives are unpacked recursively in memory (nothing is written to disk, nothing is
//! ever executed), encrypted ones with the passwords the message itself offers; every object
//! is hashed and checked against a known-bad list. Evidence carries the full path of where it
//! was found (`attachment invoice.zip > docs/invoice.pdf.exe`).
//!
//! Every object is analysed within a budget (depth, bytes unpacked, members, compression
//! ratio, time); what a budget stops is ANALYZER_LIMIT evidence and the message moves on.

mod archive;
mod hashes;
mod passwords;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailmoat_core::{Findings, SymbolDef};
use mailmoat_detectors::Detector;
use mailmoat_mime::MessageView;
use serde::Deserialize;

pub use hashes::{HashList, HashListError};

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::scored(
        "ARCHIVE_EXECUTABLE",
        "attachments",
        7.0,
        "An archive holds a program or script (by content or by name): the usual way malware is mailed past filters that only look at attachment names.",
    ),
    SymbolDef::scored(
        "ARCHIVE_ENCRYPTED",
        "attachments",
        2.0,
        "An encrypted archive: its content cannot be checked unless the password is known.",
    ),
    SymbolDef::scored(
        "ARCHIVE_PASSWORD_IN_MESSAGE",
        "attachments",
        3.0,
        "An encrypted archive opened with a password written in the message itself: a classic malware delivery trick (encrypted so gateways cannot look inside, the password for the victim). What it holds was analysed.",
    ),
    SymbolDef::scored(
        "ARCHIVE_UNOPENED",
        "attachments",
        3.0,
        "An encrypted archive that no password from the message or the configured list opens: its content is unknown.",
    ),
    SymbolDef::scored(
        "ARCHIVE_BOMB",
        "attachments",
        8.0,
        "An archive that unpacks to far more than it weighs (compression ratio or unpacked size beyond the limits): a decompression bomb meant to exhaust scanners.",
    ),
    SymbolDef::scored(
        "ARCHIVE_TOO_DEEP",
        "attachments",
        5.0,
        "Archives nested deeper than the limit (42.zip style); the innermost were not opened.",
    ),
    SymbolDef::scored(
        "ARCHIVE_DAMAGED",
        "attachments",
        1.0,
        "An archive that cannot be read (truncated or malformed); its content was not analysed.",
    ),
    SymbolDef::scored(
        "FILETYPE_DISGUISED_EXECUTABLE",
        "attachments",
        7.0,
        "A program whose file name claims another type (a document or picture name on an executable): only done to deceive.",
    ),
    SymbolDef::scored(
        "FILETYPE_DECLARED_MISMATCH",
        "attachments",
        2.0,
        "An attachment declared as a picture, text, media or PDF whose bytes are a program or an archive: the declared type is there to get it past filters.",
    ),
    SymbolDef::scored(
        "HASH_KNOWN_BAD",
        "signature",
        20.0,
        "An object's SHA-256 or MD5 is on the known-bad list.",
    ),
    SymbolDef::scored(
        "ANALYZER_LIMIT",
        "attachments",
        0.0,
        "An attachment analysis stopped at a budget (time, bytes, members); what lies beyond was not analysed and the message moved on by policy.",
    ),
];

/// `[analyzers.attachments]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Archives inside archives deeper than this are not opened (ARCHIVE_TOO_DEEP).
    pub max_depth: usize,
    /// Bytes unpacked per message at most, all archives together.
    pub max_total_bytes: u64,
    /// Archive members looked at per message at most.
    pub max_members: usize,
    /// A member unpacking to more than this many times its packed size, and to more than
    /// `bomb_min_bytes`, is a bomb.
    pub max_ratio: u64,
    pub bomb_min_bytes: u64,
    /// Time for all attachments of one message.
    pub time_budget_ms: u64,
    /// Passwords tried on every encrypted archive, after those found in the message.
    pub passwords: Vec<String>,
    /// Known-bad hashes: a file of SHA-256 or MD5 hex digests, one per line with an optional
    /// name after it (relative to the config file; re-read on reload).
    pub known_bad_hashes: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            max_depth: 6,
            max_total_bytes: 200 << 20,
            max_members: 5000,
            max_ratio: 200,
            bomb_min_bytes: 10 << 20,
            time_budget_ms: 2000,
            passwords: vec!["infected".into(), "1234".into()],
            known_bad_hashes: None,
        }
    }
}

impl Config {
    /// The analyser (the hash list is read here, so a bad file is a configuration error).
    pub fn build(&self, base_dir: &Path) -> Result<Attachments, HashListError> {
        let known_bad = match &self.known_bad_hashes {
            Some(p) => HashList::load(&base_dir.join(p))?,
            None => HashList::default(),
        };
        Ok(Attachments {
            config: self.clone(),
            known_bad,
        })
    }
}

/// The attachment analyser, built once per configuration.
pub struct Attachments {
    config: Config,
    known_bad: HashList,
}

impl Detector for Attachments {
    fn name(&self) -> &'static str {
        "attachments"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        if view.attachments.is_empty() {
            return;
        }
        let passwords = passwords::candidates(view, &self.config.passwords);
        let mut walk = archive::Walk::new(
            &self.config,
            &self.known_bad,
            &passwords,
            Duration::from_millis(self.config.time_budget_ms),
            findings,
        );
        for attachment in &view.attachments {
            let name = attachment
                .file_name
                .clone()
                .unwrap_or_else(|| "(unnamed)".to_string());
            walk.declared(
                &attachment.location,
                &name,
                &attachment.content_type,
                &attachment.data,
            );
            walk.object(&attachment.location, &name, &attachment.data, 0);
        }
        walk.finish();
    }
}

//! Stage-1 detectors. Each reads the [`MessageView`] and adds [`Evidence`](mailmoat_core::Evidence)
//! under symbols it declares as data; none picks an action or a score (that is policy's job).
//!
//! One folder per detector: `mod.rs` (code, config, symbols) and `cases/` (one message per file,
//! with the symbols it must and must not raise; run by `tests/cases.rs`).

use mailmoat_core::{Findings, SymbolDef};
use mailmoat_mime::MessageView;
use serde::Deserialize;

pub mod attachment_names;
pub mod header_sanity;
pub mod impersonation;
pub mod korean_lures;
pub mod korean_spam;
pub mod mime_structure;
pub mod text_obfuscation;
pub mod url_analysis;

/// A detector: facts in, evidence out. Implementations must not panic on any view.
pub trait Detector: Send + Sync {
    /// Short, stable name (used in logs and in `[detectors.NAME]` config sections).
    fn name(&self) -> &'static str;
    fn analyze(&self, view: &MessageView, findings: &mut Findings);
}

/// The `[detectors]` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsConfig {
    pub header_sanity: header_sanity::Config,
    pub mime_structure: mime_structure::Config,
    pub attachment_names: attachment_names::Config,
    pub impersonation: impersonation::Config,
    pub url_analysis: url_analysis::Config,
    pub text_obfuscation: text_obfuscation::Config,
    pub korean_spam: korean_spam::Config,
    pub korean_lures: korean_lures::Config,
}

impl DetectorsConfig {
    /// Builds the runtime detectors (compiled patterns, lookup sets) once.
    pub fn build(&self) -> Vec<Box<dyn Detector>> {
        let mut out: Vec<Box<dyn Detector>> = Vec::new();
        if self.header_sanity.enabled {
            out.push(Box::new(self.header_sanity.build()));
        }
        if self.mime_structure.enabled {
            out.push(Box::new(self.mime_structure.build()));
        }
        if self.attachment_names.enabled {
            out.push(Box::new(self.attachment_names.build()));
        }
        if self.impersonation.enabled {
            out.push(Box::new(self.impersonation.build()));
        }
        if self.url_analysis.enabled {
            out.push(Box::new(self.url_analysis.build(&self.impersonation)));
        }
        if self.text_obfuscation.enabled {
            out.push(Box::new(self.text_obfuscation.build()));
        }
        if self.korean_spam.enabled {
            out.push(Box::new(self.korean_spam.build()));
        }
        if self.korean_lures.enabled {
            out.push(Box::new(self.korean_lures.build()));
        }
        out
    }
}

/// Every symbol the detectors in this crate declare.
pub fn symbols() -> Vec<&'static [SymbolDef]> {
    vec![
        header_sanity::SYMBOLS,
        mime_structure::SYMBOLS,
        attachment_names::SYMBOLS,
        impersonation::SYMBOLS,
        url_analysis::SYMBOLS,
        text_obfuscation::SYMBOLS,
        korean_spam::SYMBOLS,
        korean_lures::SYMBOLS,
    ]
}

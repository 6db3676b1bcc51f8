//! Stage-1 detectors. Each reads the [`MessageView`] and adds [`Evidence`](mailmoat_core::Evidence)
//! under symbols it declares as data; none picks an action or a score (that is policy's job).
//!
//! One folder per detector: `mod.rs` (code, config, symbols) and `cases/` (one message per file,
//! with the symbols it must and must not raise; run by `tests/cases.rs`).

pub mod hangul;

use mailmoat_core::{Findings, SymbolDef};
use mailmoat_mime::MessageView;
use serde::Deserialize;

/// A detector: facts in, evidence out. Implementations must not panic on any view.
pub trait Detector: Send + Sync {
    /// Short, stable name (used in logs and in `[detectors.NAME]` config sections).
    fn name(&self) -> &'static str;
    fn analyze(&self, view: &MessageView, findings: &mut Findings);
}

/// Builds one detector from its section; an entry may name its own builder when it reads
/// other detectors' sections too.
macro_rules! build_detector {
    ($all:ident, $name:ident) => {
        $all.$name.build()
    };
    ($all:ident, $name:ident, $build:expr) => {
        ($build)($all)
    };
}

/// The registry: each detector's module, its `[detectors.NAME]` section, its place in the
/// running order and its symbols come from its one line here.
macro_rules! detectors {
    ($($(#[doc = $doc:literal])* $name:ident $(=> $build:expr)?,)*) => {
        $(pub mod $name;)*

        /// The `[detectors]` section of the configuration file.
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct DetectorsConfig {
            $($(#[doc = $doc])* pub $name: $name::Config,)*
        }

        impl DetectorsConfig {
            /// Builds the runtime detectors (compiled patterns, lookup sets) once, in the
            /// registry's order.
            pub fn build(&self) -> Vec<Box<dyn Detector>> {
                let mut out: Vec<Box<dyn Detector>> = Vec::new();
                $(
                    if self.$name.enabled {
                        out.push(Box::new(build_detector!(self, $name $(, $build)?)));
                    }
                )*
                out
            }
        }

        /// Every symbol the detectors in this crate declare.
        pub fn symbols() -> Vec<&'static [SymbolDef]> {
            vec![$($name::SYMBOLS,)*]
        }
    };
}

detectors! {
    /// Header facts: dates, missing or mismatched headers, the Korean advertising label.
    header_sanity,
    /// MIME structure: nesting, text/HTML twins, hidden text.
    mime_structure,
    /// Attachment names: executables, double extensions, deceptive Unicode.
    attachment_names,
    /// Impersonation: brands, VIPs, look-alike domains, reply-to steering.
    impersonation,
    /// Static URL analysis (it reads the brand list of `[detectors.impersonation]`).
    url_analysis => |all: &DetectorsConfig| all.url_analysis.build(&all.impersonation),
    /// Text disguised for filters: mixed scripts, confusable credential words, invisible filler.
    text_obfuscation,
    /// Korean illegal-spam categories (KISA).
    korean_spam,
    /// Korean phishing lures.
    korean_lures,
}

//! What the fuzz targets share: one attachment through the real attachment analyser, and the
//! scanner built once.

use std::path::Path;
use std::sync::OnceLock;

use mailmoat_analyzers::{Attachments, VariantsConfig};
use mailmoat_core::{Findings, Location};
use mailmoat_detectors::Detector;
use mailmoat_mime::{Attachment, MessageView};

fn analyzer() -> &'static Attachments {
    static ANALYZER: OnceLock<Attachments> = OnceLock::new();
    ANALYZER.get_or_init(|| {
        let variants = VariantsConfig {
            enabled: false,
            ..VariantsConfig::default()
        };
        mailmoat_analyzers::Config::default()
            .build(&variants, Path::new("."))
            .expect("the default analyser builds")
    })
}

/// Runs one input under the project's panic policy. libfuzzer-sys aborts on any panic, even
/// one that is caught; but a third-party reader that panics on hostile bytes is contained by
/// design (the walk catches it and reports ARCHIVE_DAMAGED, the message's other findings
/// stay), so only panics in our own code, and panics that escape, are crashes here.
pub fn run(input: impl FnOnce()) {
    static POLICY: std::sync::Once = std::sync::Once::new();
    POLICY.call_once(|| {
        let abort_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let third_party = info
                .location()
                .is_some_and(|l| l.file().contains("/.cargo/registry/"));
            if !third_party {
                abort_hook(info);
            }
        }));
    });
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(input)).is_err() {
        eprintln!("a panic escaped the analysis");
        std::process::abort();
    }
}

/// `data` as the only attachment of a message, named and declared as a file of the reader's
/// type, through the walk the gateway runs (archives opened, members and embedded objects
/// analysed in turn).
pub fn attachment(name: &str, content_type: &str, data: &[u8]) {
    let mut view = MessageView::default();
    view.attachments.push(Attachment {
        location: Location::message().child(format!("attachment {name}")),
        file_name: Some(name.to_string()),
        content_type: content_type.to_string(),
        sniffed_type: mailmoat_mime::sniff(data),
        inline: false,
        size: data.len(),
        data: data.to_vec(),
    });
    let mut findings = Findings::new();
    analyzer().analyze(&view, &mut findings);
}

/// The whole scan of the defaults (view, detectors, analysers, rules, verdict), without DNS.
pub fn scanner() -> &'static mailmoat_pipeline::Scanner {
    static SCANNER: OnceLock<mailmoat_pipeline::Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| {
        let mut config = mailmoat_pipeline::Config::defaults();
        config.auth.enabled = false;
        mailmoat_pipeline::Scanner::new(&config).expect("the defaults build")
    })
}

/// One fuzz target per attachment reader: the name and declared type it arrives under.
#[macro_export]
macro_rules! attachment_target {
    ($name:expr, $content_type:expr) => {
        libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            mailmoat_fuzz::run(|| mailmoat_fuzz::attachment($name, $content_type, data));
        });
    };
}

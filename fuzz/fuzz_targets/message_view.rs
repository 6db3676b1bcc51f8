#![no_main]
//! Fuzz target: the parsed view of one message (mail-parser, the structural bounds, our walker,
//! charsets, HTML rendering, URL extraction).
use libfuzzer_sys::fuzz_target;
use mailmoat_mime::{Envelope, MessageView, ViewOptions};

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        let view = MessageView::build(data.to_vec(), Envelope::default(), &ViewOptions::default());
        assert!(view.max_depth <= ViewOptions::default().max_depth + 1);
    });
});

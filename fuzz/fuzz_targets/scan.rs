#![no_main]
//! Fuzz target: the whole scan of one message on the defaults, without DNS.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        let report = mailmoat_fuzz::scanner().scan(data.to_vec(), Default::default());
        assert!(report.verdict.score.is_finite());
    });
});

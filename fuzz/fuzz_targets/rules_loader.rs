#![no_main]
//! Fuzz target: the administrator rule language (TOML, patterns, conditions, lists, limits).
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        static TABLE: OnceLock<mailmoat_core::SymbolTable> = OnceLock::new();
        let table = TABLE.get_or_init(mailmoat_pipeline::symbol_table);
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = mailmoat_rules::RuleSet::parse(text, "fuzz", table);
        }
    });
});

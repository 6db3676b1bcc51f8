#![no_main]
//! Fuzz target: the spamd protocol reader (request line, headers, Content-length, the message
//! within max_message_bytes), as `mailmoat serve` reads a spamc request.
use libfuzzer_sys::fuzz_target;
use mailmoat_gateway::spamd::parse_request;
use mailmoat_gateway::SpamdConfig;

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        let config = SpamdConfig {
            max_message_bytes: 64 * 1024,
            ..SpamdConfig::default()
        };
        if let Ok((request, message)) = parse_request(data, &config) {
            assert!(message.len() <= config.max_message_bytes);
            assert_eq!(request.content_length.unwrap_or(0), message.len());
        }
    });
});

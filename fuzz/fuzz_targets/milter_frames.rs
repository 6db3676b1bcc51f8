#![no_main]
//! Fuzz target: the milter protocol's frames as `mailmoat serve` decodes them from the MTA
//! (our framing, miltr-common's commands: option negotiation, macros, headers, body chunks),
//! frame after frame until the input runs out or a frame is refused.
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        let mut buffer = BytesMut::from(data);
        // Each decoded frame consumes bytes; a bound keeps a codec bug from spinning forever.
        for _ in 0..10_000 {
            match mailmoat_gateway::decode_milter_frame(&mut buffer) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    });
});

#![no_main]
//! Fuzz target: SMTP command lines as the gateway reads them (smtp-proto's receiver, with the
//! session's recovery after each error).
use libfuzzer_sys::fuzz_target;
use smtp_proto::request::receiver::RequestReceiver;
use smtp_proto::Error;

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        let mut receiver = RequestReceiver::default();
        let mut bytes = data.iter();
        for _ in 0..10_000 {
            match receiver.ingest(&mut bytes) {
                Ok(request) => drop(request.into_owned()),
                Err(Error::NeedsMoreData { .. }) => break,
                Err(_) => {}
            }
        }
    });
});

#![no_main]
//! Fuzz target: the DATA reader (de-stuffing, the end mark, smuggling, the size limit), fed in
//! pieces whose sizes the input chooses.
use libfuzzer_sys::fuzz_target;
use mailmoat_gateway::{DataReader, Progress};

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        let Some((&step, rest)) = data.split_first() else {
            return;
        };
        let step = usize::from(step % 64) + 1;
        let mut reader = DataReader::new(4096);
        for piece in rest.chunks(step) {
            if let Progress::Done { rest_from } = reader.feed(piece) {
                assert!(rest_from <= piece.len());
                break;
            }
        }
        let too_big = reader.too_big();
        let message = reader.into_message();
        assert!(too_big || message.len() <= rest.len() + 2);
    });
});

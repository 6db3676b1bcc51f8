//! Signs (DKIM) or seals (ARC) a test message with a key from `cases/keys/`, so the signed case
//! files can be made again: `cargo run -p mailmoat-auth --example sign_fixture -- dkim
//! cases/keys/test-rsa.pem sender.example sel1 < message > signed`. Test keys only.

use std::io::{Read, Write};

use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        eprintln!("usage: sign_fixture dkim|arc KEY.pem DOMAIN SELECTOR < message");
        std::process::exit(2);
    }
    let pem = std::fs::read_to_string(&args[1]).expect("key file");
    let mut message = Vec::new();
    std::io::stdin().read_to_end(&mut message).expect("stdin");
    let message = String::from_utf8(message).expect("UTF-8 message");
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("PEM private key");
    let key = RsaKey::<Sha256>::from_key_der(der).expect("RSA key");
    let header = match args[0].as_str() {
        "dkim" => DkimSigner::from_key(key)
            .domain(args[2].as_str())
            .selector(args[3].as_str())
            .headers(["From", "To", "Subject", "Date", "Message-ID"])
            .sign(message.as_bytes())
            .expect("signed")
            .to_header(),
        "arc" => {
            let parsed = AuthenticatedMessage::parse(message.as_bytes()).expect("parsable");
            let results = AuthenticationResults::new(args[2].as_str());
            ArcSealer::from_key(key)
                .domain(args[2].as_str())
                .selector(args[3].as_str())
                .headers(["From", "To", "Subject", "DKIM-Signature"])
                .seal(&parsed, &results, &ArcOutput::default())
                .expect("sealed")
                .to_header()
        }
        other => panic!("unknown mode {other}"),
    };
    let mut out = std::io::stdout();
    // Header lines in the message's own line ending.
    let header = if message.contains("\r\n") {
        header
    } else {
        header.replace("\r\n", "\n")
    };
    out.write_all(header.as_bytes()).unwrap();
    out.write_all(message.as_bytes()).unwrap();
}

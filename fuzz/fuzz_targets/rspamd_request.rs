#![no_main]
//! Fuzz target: the request headers of rspamd's HTTP protocol as mailmoat reads them (IP, Helo,
//! From, Rcpt, Deliver-To, Queue-Id, Password, Authorization), after hyper has parsed the HTTP:
//! each input line `Name: value` becomes a header, as a client could send it.
use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mailmoat_gateway::rspamd_http::{authorised, transaction};
use mailmoat_gateway::RspamdConfig;

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        let mut headers = HeaderMap::new();
        for line in data.split(|&b| b == b'\n') {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                headers.append(name, value);
            }
        }
        let t = transaction(&headers);
        assert!(t.queue_id.as_ref().is_none_or(|q| q.chars().count() <= 64));
        if let Some(r) = &t.recipient {
            assert!(!r.is_empty());
        }
        let config = RspamdConfig {
            password: "secret".to_string(),
            ..RspamdConfig::default()
        };
        let remote: SocketAddr = "192.0.2.1:4000".parse().expect("an address");
        let _ = authorised(&config, remote, &headers);
    });
});

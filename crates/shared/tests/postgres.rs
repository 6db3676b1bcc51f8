//! The shared quarantine table against a real PostgreSQL server (skipped, with the reason,
//! where it is not installed).

use std::time::Duration;

use mailmoat_shared::test_server::PostgresServer;
use mailmoat_shared::{HeldIndex, HeldRow, Param, PgError, SharedConfig};

fn row(id: &str, at: i64, subject: &str) -> HeldRow {
    HeldRow {
        index: HeldIndex {
            id: id.into(),
            received_at: at,
            mail_from: "x@sender.example".into(),
            recipients: "bob@example.com\nann@example.com".into(),
            from_header: "x@sender.example".into(),
            subject: subject.into(),
            action: "quarantine".into(),
            risk: "high".into(),
            score: 14.5,
            symbols: "OFFICE_EQUATION_EDITOR ATTACH_DOC".into(),
            size: 1234,
        },
        node: "a".into(),
        meta: "{}".into(),
        message: format!("Subject: {subject}\r\n\r\nbody\r\n").into_bytes(),
    }
}

fn open(server: &PostgresServer) -> std::sync::Arc<mailmoat_shared::SharedQuarantine> {
    let config = SharedConfig {
        postgres: server.url(),
        retry_after_secs: 1,
        ..SharedConfig::default()
    };
    mailmoat_shared::open_quarantine(&config)
        .unwrap()
        .expect("configured")
}

#[test]
fn held_messages_are_searched_claimed_once_and_never_come_back() {
    let Some(server) = PostgresServer::start("quarantine") else {
        return;
    };
    let (a, b) = (open(&server), open(&server));
    a.copy_in(vec![row("m1", 100, "invoice"), row("m2", 200, "hello")])
        .unwrap();
    assert_eq!(b.count().unwrap(), 2);
    let found = b
        .search(" AND subject LIKE $1", vec![Param::Text("%voi%".into())], 0)
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "m1");
    let newest = b.search("", vec![], 1).unwrap();
    assert_eq!(newest[0].id, "m2", "newest first");
    let since = b
        .search(" AND received_at >= $1", vec![Param::Int(150)], 0)
        .unwrap();
    assert_eq!(since.len(), 1);
    // Two nodes release at once: one gets the message.
    let (ca, cb) = (a.claim("m1", 300).unwrap(), b.claim("m1", 300).unwrap());
    assert!(ca.is_some() != cb.is_some(), "claimed exactly once");
    // A late copy from the node that held it does not bring it back.
    a.copy_in(vec![row("m1", 100, "invoice")]).unwrap();
    assert!(b.get("m1").unwrap().is_none());
    assert_eq!(
        b.still_held(vec!["m1".into(), "m2".into()]).unwrap(),
        ["m2".to_string()].into_iter().collect()
    );
    // A claim whose delivery failed is put back.
    let claimed = b.claim("m2", 300).unwrap().expect("held");
    assert_eq!(claimed.1, b"Subject: hello\r\n\r\nbody\r\n");
    b.put_back(row("m2", 200, "hello")).unwrap();
    assert!(a.get("m2").unwrap().is_some());
    // A newer copy of a held message (fewer recipients after a partial release) replaces it.
    let mut fewer = row("m2", 200, "hello");
    fewer.index.recipients = "ann@example.com".into();
    a.copy_in(vec![fewer]).unwrap();
    assert_eq!(b.get("m2").unwrap().unwrap().recipients, "ann@example.com");
}

#[test]
fn a_server_that_is_down_is_reported_at_once_and_found_again() {
    let Some(mut server) = PostgresServer::start("quarantine-down") else {
        return;
    };
    let q = open(&server);
    q.copy_in(vec![row("m1", 100, "x")]).unwrap();
    server.stop();
    assert!(matches!(q.count(), Err(PgError::Down(_))));
    assert!(!q.link().is_up());
    server.resume();
    std::thread::sleep(Duration::from_millis(1100));
    // The data survived the restart; the migrations are not applied twice.
    assert_eq!(q.count().unwrap(), 1);
    assert!(q.link().is_up());
}

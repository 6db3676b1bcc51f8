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
    mailmoat_shared::open_quarantine(&config, std::path::Path::new("."))
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

fn link(server: &PostgresServer) -> std::sync::Arc<mailmoat_shared::PgLink> {
    let config = SharedConfig {
        postgres: server.url(),
        retry_after_secs: 1,
        ..SharedConfig::default()
    };
    mailmoat_shared::open_postgres(&config, std::path::Path::new("."))
        .unwrap()
        .expect("configured")
}

#[test]
fn console_accounts_are_the_sites() {
    use mailmoat_shared::SharedAccounts;
    let Some(server) = PostgresServer::start("accounts") else {
        return;
    };
    let (a, b) = (
        SharedAccounts::new(link(&server), "node-a"),
        SharedAccounts::new(link(&server), "node-b"),
    );
    assert_eq!(a.user_count().unwrap(), 0);
    let bob = a
        .create_user("Bob", "$argon2id$hash", "user", "bob@example.com")
        .unwrap()
        .expect("new");
    assert_eq!(
        b.create_user("BOB", "$argon2id$other", "admin", "")
            .unwrap(),
        None,
        "names are unique whatever their case, on every node"
    );
    let (user, hash) = b
        .password_of("bob")
        .unwrap()
        .expect("found on the other node");
    assert_eq!((user.id, hash.as_str()), (bob, "$argon2id$hash"));
    // A session made on one node is honoured on the other, until it expires or the password
    // changes.
    a.create_session("digest-1", bob, "csrf-1", 1_000, 10)
        .unwrap();
    let (user, csrf) = b.session("digest-1", 999).unwrap().expect("live");
    assert_eq!((user.name.as_str(), csrf.as_str()), ("Bob", "csrf-1"));
    assert!(b.session("digest-1", 1_000).unwrap().is_none(), "expired");
    a.create_session("digest-2", bob, "csrf-2", i64::MAX, 10)
        .unwrap();
    b.set_password(bob, "$argon2id$new").unwrap();
    assert!(a.session("digest-2", 20).unwrap().is_none());
    // API tokens.
    a.create_token("token-digest", bob, "script", 5).unwrap();
    assert_eq!(b.token_user("token-digest").unwrap().unwrap().id, bob);
    let id = b.tokens(bob).unwrap()[0].id;
    assert!(!b.revoke_token(bob + 1, id).unwrap(), "only the owner's");
    assert!(b.revoke_token(bob, id).unwrap());
    assert!(a.token_user("token-digest").unwrap().is_none());
    // The audit log shows every node's entries, newest first, with the node.
    a.audit(100, "admin", "release", "M1", "").unwrap();
    b.audit(200, "admin", "delete", "M2", "").unwrap();
    let log = a.audit_log(10).unwrap();
    assert_eq!(
        log.iter()
            .map(|e| (e.action.as_str(), e.node.as_str()))
            .collect::<Vec<_>>(),
        [("delete", "node-b"), ("release", "node-a")]
    );
    // Two nodes sending the day's digest at once: one sends it.
    let (ca, cb) = (
        a.claim_digest(bob, 20_000).unwrap(),
        b.claim_digest(bob, 20_000).unwrap(),
    );
    assert!(ca != cb, "claimed once");
    assert!(
        b.claim_digest(bob, 20_001).unwrap(),
        "the next day's is new"
    );
    assert!(a.delete_user(bob).unwrap());
    assert!(b.user(bob).unwrap().is_none());
}

fn log_row(id: &str, at: i64, category: &str, symbols: &str) -> mailmoat_shared::LogRow {
    use mailmoat_shared::{LogEvent, LogRow};
    LogRow {
        event: LogEvent {
            id: id.into(),
            received_at: at,
            action: if category == "clean" {
                "deliver"
            } else {
                "quarantine"
            }
            .into(),
            risk: "low".into(),
            score: 1.5,
            category: category.into(),
            mail_from: "x@sender.example".into(),
            from_header: "X@Sender.example".into(),
            subject: format!("Subject of {id}"),
            recipients: "bob@example.com".into(),
            symbols: symbols.into(),
        },
        report: format!("{{\"id\":\"{id}\"}}"),
        message: None,
        top: if category == "clean" {
            vec![]
        } else {
            vec![("sender_domain".into(), "sender.example".into())]
        },
    }
}

#[test]
fn the_message_log_and_its_statistics_are_the_sites() {
    use mailmoat_shared::SharedLog;
    let Some(server) = PostgresServer::start("log") else {
        return;
    };
    let (a, b) = (
        SharedLog::new(link(&server), "node-a"),
        SharedLog::new(link(&server), "node-b"),
    );
    a.copy_in(vec![
        log_row("m1", 3_600 + 5, "spam", "CLASSIFIER_SPAM HDR_X"),
        log_row("m2", 3_600 + 70, "clean", ""),
    ])
    .unwrap();
    b.copy_in(vec![log_row("m3", 86_400 + 1, "spam", "CLASSIFIER_SPAM")])
        .unwrap();
    // A node that crashed before marking its copy copies again: counted once.
    a.copy_in(vec![log_row(
        "m1",
        3_600 + 5,
        "spam",
        "CLASSIFIER_SPAM HDR_X",
    )])
    .unwrap();
    assert_eq!(b.count().unwrap(), 3);
    assert_eq!(
        a.buckets(0, 2 * 86_400, 86_400).unwrap(),
        [
            (0, "clean".to_string(), 1),
            (0, "spam".to_string(), 1),
            (86_400, "spam".to_string(), 1)
        ]
    );
    assert_eq!(
        a.symbol_buckets("CLASSIFIER_SPAM", 0, 2 * 86_400, 86_400)
            .unwrap(),
        [(0, 1), (86_400, 1)]
    );
    assert_eq!(
        a.symbol_buckets("", 0, 2 * 86_400, 86_400).unwrap(),
        [(0, 1), (86_400, 1)],
        "detected messages"
    );
    assert_eq!(
        b.top("sender_domain", 0, 5).unwrap(),
        [("sender.example".to_string(), 2)]
    );
    // Searches run case-insensitively, as the embedded log's do (the caller writes ILIKE).
    let found = b
        .search(
            " AND subject ILIKE $1",
            vec![mailmoat_shared::Param::Text("%SUBJECT OF M%".into())],
            2,
        )
        .unwrap();
    assert_eq!(
        found.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["m3", "m2"],
        "newest first, at most the limit"
    );
    assert_eq!(
        b.get("m1").unwrap().unwrap().symbols,
        "CLASSIFIER_SPAM HDR_X"
    );
    assert_eq!(b.report("m1").unwrap().unwrap(), "{\"id\":\"m1\"}");
    assert_eq!(a.prune(86_400).unwrap(), 2);
    assert!(b.get("m1").unwrap().is_none());
    assert_eq!(b.count().unwrap(), 3, "statistics outlive reports");
    a.record_change(50, "rules reloaded").unwrap();
    let changes = b.changes(5).unwrap();
    assert_eq!(
        (changes[0].node.as_str(), changes[0].what.as_str()),
        ("node-a", "rules reloaded")
    );
    assert_eq!(b.change(changes[0].id).unwrap(), Some(changes[0].clone()));
}

#[test]
fn variant_references_reach_every_nodes_file() {
    use mailmoat_shared::{SharedVariants, VariantSync};
    let Some(server) = PostgresServer::start("variants") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mm-shared-variants-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let line = |sha: &str, verdict: &str| {
        format!("{{\"sha256\":\"{sha}\",\"family\":\"F\",\"verdict\":\"{verdict}\",\"name\":\"x\",\"size\":1,\"v\":[1]}}")
    };
    // Node a knew r1 before sharing; node b's file lacks a final newline and has a line that
    // is not a reference (the store's loader reports it; the sync leaves it alone).
    let (file_a, file_b) = (dir.join("a.jsonl"), dir.join("b/b.jsonl"));
    std::fs::write(&file_a, format!("{}\n", line("r1", "malicious"))).unwrap();
    std::fs::create_dir_all(file_b.parent().unwrap()).unwrap();
    std::fs::write(&file_b, format!("not json\n{}", line("r2", "benign"))).unwrap();
    let (site_a, site_b) = (
        SharedVariants::new(link(&server), "a"),
        SharedVariants::new(link(&server), "b"),
    );
    let (mut sync_a, mut sync_b) = (VariantSync::default(), VariantSync::default());
    assert_eq!(
        sync_a.sync(&site_a, &file_a, 1).unwrap(),
        0,
        "a has all the site has"
    );
    assert_eq!(sync_b.sync(&site_b, &file_b, 2).unwrap(), 1, "b gets r1");
    assert_eq!(sync_a.sync(&site_a, &file_a, 3).unwrap(), 1, "a gets r2");
    assert_eq!(
        sync_a.sync(&site_a, &file_a, 4).unwrap(),
        0,
        "nothing twice"
    );
    assert_eq!(sync_b.sync(&site_b, &file_b, 5).unwrap(), 0);
    let keys = |path: &std::path::Path| {
        let mut k: Vec<String> = mailmoat_shared::variants::read_refs(path)
            .unwrap()
            .into_iter()
            .map(|r| format!("{}/{}", r.sha256, r.verdict))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&file_a), ["r1/malicious", "r2/benign"]);
    assert_eq!(keys(&file_b), ["r1/malicious", "r2/benign"]);
    assert!(std::fs::read_to_string(&file_b)
        .unwrap()
        .starts_with("not json\n"));
    // A reference added to a's file later goes up on a's next round and down on b's.
    let mut more = std::fs::OpenOptions::new()
        .append(true)
        .open(&file_a)
        .unwrap();
    std::io::Write::write_all(
        &mut more,
        format!("{}\n", line("r3", "malicious")).as_bytes(),
    )
    .unwrap();
    drop(more);
    assert_eq!(sync_a.sync(&site_a, &file_a, 6).unwrap(), 0);
    assert_eq!(sync_b.sync(&site_b, &file_b, 7).unwrap(), 1);
    assert_eq!(site_b.all().unwrap().len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_connection_is_tls_and_the_servers_certificate_is_verified() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let (site_ca, other_ca) = (ca("site CA"), ca("someone else's CA"));
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &site_ca)
        .unwrap();
    let Some(server) =
        PostgresServer::start_tls("tls", &server_cert.pem(), &server_key.serialize_pem())
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mm-shared-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("site-ca.pem"), site_ca.pem()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other_ca.pem()).unwrap();
    let open = |ca: &str| {
        let config = SharedConfig {
            postgres: server.url(),
            postgres_ca: ca.into(),
            retry_after_secs: 1,
            ..SharedConfig::default()
        };
        mailmoat_shared::open_postgres(&config, &dir)
            .unwrap()
            .expect("configured")
    };
    // Verified against the site's CA (relative to the configuration's folder): encrypted.
    let link = open("site-ca.pem");
    let encrypted: bool = link
        .call(|c| {
            Ok(c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )?
            .get(0))
        })
        .unwrap();
    assert!(encrypted);
    // A server whose certificate another CA signed is refused, as is no TLS (this server
    // takes TCP clients over TLS only).
    for ca in ["other-ca.pem", ""] {
        let refused = open(ca).call(|c| c.simple_query("SELECT 1").map(drop));
        assert!(
            matches!(refused, Err(PgError::Down(_))),
            "{ca}: {refused:?}"
        );
    }
    // Asking for TLS without saying which CA to trust is a configuration error.
    let config = SharedConfig {
        postgres: format!("{}?sslmode=require", server.url()),
        ..SharedConfig::default()
    };
    let err = mailmoat_shared::open_postgres(&config, &dir).err().unwrap();
    assert!(err.to_string().contains("postgres_ca"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pushed_files_reach_every_following_node_and_never_leave_its_folder() {
    use mailmoat_shared::{FileSync, SharedFiles};
    let Some(server) = PostgresServer::start("files") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mm-shared-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (folder_a, folder_b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&folder_b).unwrap();
    std::fs::write(folder_b.join("local.toml"), "old").unwrap();
    let (site_a, site_b) = (
        SharedFiles::new(link(&server), "a"),
        SharedFiles::new(link(&server), "b"),
    );
    let changed = site_a
        .push(
            vec![
                (
                    "rules/local.cf".into(),
                    b"header X Subject =~ /x/\n".to_vec(),
                ),
                ("local.toml".into(), b"new".to_vec()),
            ],
            10,
        )
        .unwrap();
    assert_eq!(changed.len(), 2);
    // The same content again changes nothing (and nodes fetch nothing).
    assert!(site_a
        .push(vec![("local.toml".into(), b"new".to_vec())], 11)
        .unwrap()
        .is_empty());
    let mut sync_b = FileSync::default();
    let mut written = sync_b.sync(&site_b, &folder_b).unwrap();
    written.sort();
    assert_eq!(written, ["local.toml", "rules/local.cf"]);
    assert_eq!(
        std::fs::read_to_string(folder_b.join("local.toml")).unwrap(),
        "new"
    );
    assert!(
        sync_b.sync(&site_b, &folder_b).unwrap().is_empty(),
        "nothing new"
    );
    let mut sync_a = FileSync::default();
    assert_eq!(sync_a.sync(&site_a, &folder_a).unwrap().len(), 2);
    // A node that pushes a file it already has takes it as changed (its running configuration
    // has not read it), though nothing is written.
    std::fs::write(folder_a.join("local.toml"), "newer").unwrap();
    site_a
        .push(vec![("local.toml".into(), b"newer".to_vec())], 13)
        .unwrap();
    assert_eq!(sync_a.sync(&site_a, &folder_a).unwrap(), ["local.toml"]);
    assert_eq!(sync_b.sync(&site_b, &folder_b).unwrap(), ["local.toml"]);
    // A row naming a path outside the folder (written into the table by hand, say) is refused
    // by every node, nothing is written outside, and the other files are still taken.
    link(&server)
        .call(|c| {
            c.execute(
                "INSERT INTO site_files (path, content, at, node) VALUES ('../escape', 'x', 1, 'z')",
                &[],
            )?;
            c.execute("UPDATE site_files_version SET version = version + 1", &[])
        })
        .unwrap();
    site_a
        .push(vec![("local.toml".into(), b"newest".to_vec())], 14)
        .unwrap();
    assert_eq!(sync_b.sync(&site_b, &folder_b).unwrap(), ["local.toml"]);
    assert!(!dir.join("escape").exists());
    // Too large a file is refused before it reaches the server.
    let big = vec![0u8; mailmoat_shared::files::MAX_FILE_BYTES + 1];
    assert!(site_a.push(vec![("big".into(), big)], 12).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

//! Two gateway nodes sharing state through a real redis-server and a real PostgreSQL (Debian's
//! packages; skipped with the reason where they are not installed): a rate limit counts both
//! nodes' mail, a correction told to one node changes the other's verdict, a message held by
//! one node is released through the other, and while either server is down mail keeps flowing
//! and nothing acknowledged is lost.

mod common;
mod smtp_kit;
mod web_kit;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{temp_dir, text};
use mailmoat_shared::test_server::{PostgresServer, RedisServer};
use smtp_kit::{config, free_port, Client, Gateway, Sink};

struct Node {
    gateway: Gateway,
    spamd: SocketAddr,
    /// GET /health.
    health: SocketAddr,
    dir: std::path::PathBuf,
}

/// A node named `name` storing under its own folder, with spamd on a free port, a model file
/// to learn into (a copy of the built-in model), `shared` in its `[shared]` section and `extra`
/// configuration.
fn node(test: &str, name: &str, shared: &str, sink: &Sink, extra: &str) -> Node {
    node_with_files(test, name, shared, sink, extra, &[])
}

/// [`node`], with these files (path under its folder, content) written before it starts.
fn node_with_files(
    test: &str,
    name: &str,
    shared: &str,
    sink: &Sink,
    extra: &str,
    files: &[(&str, &str)],
) -> Node {
    let dir = temp_dir(&format!("{test}-{name}"));
    for (path, content) in files {
        std::fs::write(dir.join(path), content).unwrap();
    }
    mailmoat_classifier::detector::built_in_model()
        .unwrap()
        .save(&dir.join("model.bin"))
        .unwrap();
    let port = free_port();
    let health_port = free_port();
    let cfg = config(
        &dir,
        &format!(
            "routes = {{ default = \"smtp://{}\" }}\nhealth_listen = \"127.0.0.1:{health_port}\"\n[classifier]\nmodel = \"model.bin\"\n[spamd]\nlisten = \"127.0.0.1:{port}\"\n[shared]\n{shared}\nnode = \"{name}\"\nretry_after_secs = 1\n{extra}\n",
            sink.addr,
        ),
    );
    let gateway = Gateway::start(&cfg);
    let spamd: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = Instant::now();
    while TcpStream::connect(spamd).is_err() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Node {
        gateway,
        spamd,
        health: format!("127.0.0.1:{health_port}").parse().unwrap(),
        dir,
    }
}

/// The node's GET /health answer (its JSON body).
fn health(n: &Node) -> serde_json::Value {
    health_at(n.health)
}

fn health_at(addr: SocketAddr) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"))
}

fn spamd(addr: SocketAddr, head: &str, message: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!(
        "{head}\r\nContent-length: {}\r\nUser: bob@example.com\r\n\r\n",
        message.len()
    )
    .into_bytes();
    request.extend_from_slice(message);
    s.write_all(&request).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    text(&reply)
}

/// The score of spamd's CHECK reply (`Spam: False ; 1.2 / 5.0`).
fn score(addr: SocketAddr, message: &[u8]) -> f64 {
    let reply = spamd(addr, "CHECK SPAMC/1.5", message);
    let line = reply
        .lines()
        .find(|l| l.starts_with("Spam:"))
        .unwrap_or_else(|| panic!("no Spam: line in {reply}"));
    line.split(';')
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no score in {line}"))
}

fn trained(dir: &Path) -> [u64; 2] {
    mailmoat_classifier::Model::load(&dir.join("model.bin"))
        .unwrap()
        .trained
}

/// One message to `to`; the reply to RCPT when refused there, else to the end of DATA.
fn send(gw: &Gateway, to: &str, subject: &str) -> String {
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    assert!(c.cmd("MAIL FROM:<alice@sender.example>").starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{to}>"));
    if !r.starts_with("250") {
        return r;
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(&mailmoat_gateway::wire_form(
        format!("From: alice@sender.example\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nSee you at the meeting.\r\n").as_bytes(),
    ));
    let r = c.reply();
    c.cmd("QUIT");
    r
}

#[test]
fn a_correction_told_to_one_node_changes_the_verdict_of_the_other() {
    let Some(redis) = RedisServer::start("gw-lessons") else {
        return;
    };
    let sink = Sink::start(0);
    let shared = format!("redis = \"{}\"", redis.url());
    let a = node("shared-lessons", "a", &shared, &sink, "");
    let b = node("shared-lessons", "b", &shared, &sink, "");
    // Enough for the classifier to move a message it had no opinion on past its spam threshold.
    const LESSONS: u64 = 20;
    let missed = b"From: offers@deals.example\r\nTo: bob@example.com\r\nSubject: quarterly catalogue\r\n\r\nour new catalogue of garden furniture is out, order before friday\r\n";
    let before = score(b.spamd, missed);
    let b_trained = trained(&b.dir);
    for _ in 0..LESSONS {
        let r = spamd(
            a.spamd,
            "TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local",
            missed,
        );
        assert!(r.contains("DidSet: local"), "{r}");
    }
    // Node b learns the lessons from the stream, writes its model and reloads.
    let start = Instant::now();
    while trained(&b.dir)[1] < b_trained[1] + LESSONS {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node b did not learn a's lessons: {:?} -> {:?}\n{}",
            b_trained,
            trained(&b.dir),
            b.gateway.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(trained(&b.dir)[0], b_trained[0], "no ham lessons appeared");
    let start = Instant::now();
    let mut after = score(b.spamd, missed);
    while after <= before && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        after = score(b.spamd, missed);
    }
    let report = spamd(b.spamd, "REPORT SPAMC/1.5", missed);
    println!("{report}");
    println!("node b's score for the message: {before:.2} before, {after:.2} after a learnt it as spam {LESSONS} times");
    assert!(after > before + 0.5, "{before} -> {after}");
    assert!(
        report.contains("CLASSIFIER_SPAM") && report.contains("Spam: True"),
        "{report}"
    );
    // Node a does not learn its own lessons twice.
    assert_eq!(trained(&a.dir)[1], b_trained[1] + LESSONS);
    let log = b.gateway.log.lock().unwrap().clone();
    assert!(log.contains("learnt lessons from other nodes"), "{log}");
    for n in [a, b] {
        drop(n.gateway);
        let _ = std::fs::remove_dir_all(&n.dir);
    }
}

#[test]
fn a_rate_limit_counts_both_nodes_mail_and_mail_flows_while_redis_is_down() {
    let Some(mut redis) = RedisServer::start("gw-rates") else {
        return;
    };
    let sink = Sink::start(0);
    let rules = "[rules]\nfiles = [\"limits.toml\"]\n";
    let limits = "[[rate_limit]]\nname = \"RATE_RCPT\"\nkey = \"recipient\"\nlimit = 2\nwindow = \"1h\"\nresult = \"tempfail\"\n";
    let dirs: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| temp_dir(&format!("shared-rates-{n}")))
        .collect();
    for d in &dirs {
        std::fs::write(d.join("limits.toml"), limits).unwrap();
    }
    // temp_dir made the folders; node() reuses them.
    let shared = format!("redis = \"{}\"", redis.url());
    let a = node("shared-rates", "a", &shared, &sink, rules);
    let b = node("shared-rates", "b", &shared, &sink, rules);
    assert!(send(&a.gateway, "bob@example.com", "one").starts_with("250"));
    assert!(send(&b.gateway, "bob@example.com", "two").starts_with("250"));
    // bob@ has had his two messages this hour, one through each node: both defer the third.
    for n in [&a, &b] {
        let r = send(&n.gateway, "bob@example.com", "three");
        assert!(r.starts_with("451 4.7.1"), "{r}");
    }
    // Redis stops: each node goes on alone, counting what it saw itself, and mail flows.
    redis.stop();
    let mut accepted = 2;
    for (i, n) in [&a, &b, &a, &b].iter().enumerate() {
        let r = send(
            &n.gateway,
            "carol@example.com",
            &format!("during the outage {i}"),
        );
        assert!(r.starts_with("250"), "accepted while redis is down: {r}");
        accepted += 1;
    }
    // Per node the limit still holds: a third message to carol through a is deferred.
    let r = send(&a.gateway, "carol@example.com", "over the local limit");
    assert!(r.starts_with("451"), "{r}");
    let log = a.gateway.log.lock().unwrap().clone();
    assert!(log.contains("redis unreachable"), "{log}");
    // Back: shared again (the restarted server kept no data, so counts start afresh).
    redis.resume();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(send(&b.gateway, "dave@example.com", "after").starts_with("250"));
    accepted += 1;
    assert!(send(&a.gateway, "dave@example.com", "after 2").starts_with("250"));
    accepted += 1;
    let r = send(&b.gateway, "dave@example.com", "after 3");
    assert!(r.starts_with("451"), "shared again: {r}");
    // Nothing acknowledged was lost.
    let got = sink.wait_for(accepted, Duration::from_secs(30));
    assert_eq!(got.len(), accepted);
    for n in [a, b] {
        drop(n.gateway);
        let _ = std::fs::remove_dir_all(&n.dir);
    }
}

/// `mailmoat quarantine …` against a node's configuration.
fn quarantine(n: &Node, args: &[&str]) -> std::process::Output {
    let cfg = n.dir.join("mailmoat.toml");
    let mut all = vec!["quarantine", args[0], "--config", cfg.to_str().unwrap()];
    all.extend_from_slice(&args[1..]);
    common::run(&all)
}

/// Sends a message the test's policy quarantines (it holds from 2 points; the message lacks a
/// Date and a Message-ID); returns its id.
fn hold(gw: &Gateway, subject: &str) -> String {
    let r = send(gw, "bob@example.com", subject);
    assert!(r.starts_with("250"), "{r}");
    r.trim().rsplit(' ').next().unwrap().to_string()
}

/// The site's administrator password, from the file of whichever node made the account (the
/// first to start).
fn admin_password(nodes: &[&Node]) -> String {
    let files: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            std::fs::read_to_string(n.dir.join("var/console/initial-admin-password")).ok()
        })
        .collect();
    assert_eq!(files.len(), 1, "one administrator for the site");
    files[0].trim().to_string()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_message_held_by_one_node_is_released_through_the_other_held_mail_waits_out_an_outage_and_exceptions_apply_everywhere(
) {
    let Some(mut pg) = PostgresServer::start("gw-quarantine") else {
        return;
    };
    let sink = Sink::start(0);
    let shared = format!("postgres = \"{}\"", pg.url());
    let policy = "[policy]\ntag = 1.0\nquarantine = 2.0\nreject = 100.0\n";
    let a = node("shared-quarantine", "a", &shared, &sink, policy);
    // Node b runs the console.
    let console_port = free_port();
    let b = node(
        "shared-quarantine",
        "b",
        &shared,
        &sink,
        &format!("{policy}[console]\nlisten = \"127.0.0.1:{console_port}\"\n"),
    );
    let id = hold(&a.gateway, "held by a");
    // Node b's console lists what node a holds, once a has copied it in.
    let web = web_kit::Web {
        addr: format!("127.0.0.1:{console_port}"),
        source: None,
    };
    let admin = web.sign_in("admin", &admin_password(&[&a, &b]));
    let token = web.token(&admin, "release");
    wait_until(
        "b's console lists a's held message",
        Duration::from_secs(10),
        || {
            web.api("GET", "/api/v1/quarantine", &token, "")
                .body
                .contains(&id)
        },
    );
    // Released from node b's console: b delivers it; a cannot release it a second time.
    let released = web.api(
        "POST",
        &format!("/api/v1/quarantine/{id}/release"),
        &token,
        "",
    );
    assert_eq!(released.status, 200, "{}", released.body);
    let got = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(
        got.len(),
        1,
        "release: {}\nb's log: {}",
        released.body,
        b.gateway.log.lock().unwrap()
    );
    let delivered = got[0].data.clone();
    assert!(
        delivered.contains("X-Mailmoat-Released: from quarantine"),
        "{delivered}"
    );
    let again = quarantine(&a, &["release", &id]);
    assert!(!again.status.success(), "released twice");
    assert!(text(&quarantine(&a, &["list"]).stdout).contains("0 quarantined"));

    // PostgreSQL stops: node a still holds new mail (on its own disk) and lists it.
    pg.stop();
    let during = hold(&a.gateway, "held during the outage");
    assert!(text(&quarantine(&a, &["list"]).stdout).contains(&during));
    // Its health says so, for monitoring.
    wait_until(
        "a's health reports the outage",
        Duration::from_secs(10),
        || {
            let h = health(&a);
            h["shared"]["postgres"] == "down" && h["shared"]["held_not_yet_shared"] == 1
        },
    );
    assert_eq!(health(&a)["shared"]["redis"], "off");
    // Node b cannot see it yet, nor release what it cannot claim.
    assert!(!quarantine(&b, &["release", &during]).status.success());
    // Back: a copies it in, and b releases it (here with the command line).
    pg.resume();
    wait_until(
        "a's held message reaches the shared quarantine",
        Duration::from_secs(20),
        || text(&quarantine(&b, &["list"]).stdout).contains(&during),
    );
    let out = quarantine(&b, &["release", &during]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sink.wait_for(2, Duration::from_secs(30)).len(), 2);
    let h = health(&a);
    assert_eq!(h["shared"]["postgres"], "up", "{h}");
    assert_eq!(h["shared"]["held_not_yet_shared"], 0, "{h}");
    // An exception added on node b's console ("always accept alice for bob") is honoured by
    // node a: the next such message, which would be held, is delivered.
    let added = web.api(
        "POST",
        "/api/v1/exceptions",
        &token,
        r#"{"recipient":"bob@example.com","sender":"alice@sender.example"}"#,
    );
    assert_eq!(added.status, 200, "{}", added.body);
    wait_until(
        "node a loads the site's exceptions",
        Duration::from_secs(10),
        || a.gateway.log.lock().unwrap().contains("exceptions=1"),
    );
    let r = send(&a.gateway, "bob@example.com", "after the exception");
    assert!(r.starts_with("250"), "{r}");
    let got = sink.wait_for(3, Duration::from_secs(30));
    assert!(
        got.iter().any(|m| m.data.contains("after the exception")),
        "delivered through the exception"
    );
    let listed = web.api("GET", "/api/v1/exceptions", &token, "");
    assert!(
        listed.body.contains("alice@sender.example"),
        "{}",
        listed.body
    );
    let log = a.gateway.log.lock().unwrap().clone();
    assert!(log.contains("postgres unreachable"), "{log}");
    for n in [a, b] {
        drop(n.gateway);
        let _ = std::fs::remove_dir_all(&n.dir);
    }
}

#[test]
fn every_nodes_console_has_the_sites_accounts_audit_log_message_log_and_statistics() {
    let Some(mut pg) = PostgresServer::start("gw-console") else {
        return;
    };
    let sink = Sink::start(0);
    let shared = format!("postgres = \"{}\"", pg.url());
    let (port_a, port_b) = (free_port(), free_port());
    let console = |port: u16| format!("[console]\nlisten = \"127.0.0.1:{port}\"\n");
    let a = node("shared-console", "a", &shared, &sink, &console(port_a));
    let b = node("shared-console", "b", &shared, &sink, &console(port_b));
    let web = |port: u16| web_kit::Web {
        addr: format!("127.0.0.1:{port}"),
        source: None,
    };
    let (web_a, web_b) = (web(port_a), web(port_b));
    let admin = web_a.sign_in("admin", &admin_password(&[&a, &b]));
    // The session made by node a's console is good on node b's (one name in front of both).
    let me = web_b.get("/api/v1/me", &admin.cookie);
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(me.body.contains("\"admin\""), "{}", me.body);
    // A user made on node a signs in on node b, and an API token made on b works on a.
    let token_a = web_a.token(&admin, "on a");
    let made = web_a.api(
        "POST",
        "/api/v1/users",
        &token_a,
        r#"{"name":"carol","password":"carol's long password","role":"user","addresses":["carol@example.com"]}"#,
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let carol = web_b.sign_in("carol", "carol's long password");
    // The command line works on the site's accounts too.
    let cfg_b = b.dir.join("mailmoat.toml");
    common::run_ok(
        &["users", "list", "--config", cfg_b.to_str().unwrap()],
        "carol",
    );
    let carol_token = web_b.token(&carol, "carol on b");
    assert_eq!(web_a.api("GET", "/api/v1/me", &carol_token, "").status, 200);
    // Mail through each node: both nodes' consoles list both and count both.
    for (n, subject) in [(&a, "through node a"), (&b, "through node b")] {
        let r = send(&n.gateway, "carol@example.com", subject);
        assert!(r.starts_with("250"), "{r}");
    }
    for w in [&web_a, &web_b] {
        wait_until(
            "a console lists both nodes' messages",
            Duration::from_secs(15),
            || {
                let listed = w.api("GET", "/api/v1/messages", &token_a, "").body;
                listed.contains("through node a") && listed.contains("through node b")
            },
        );
    }
    // Statistics are counted as each node copies its log in (within a second or so).
    for n in [&a, &b] {
        wait_until(
            "each node copies its log to the site's",
            Duration::from_secs(15),
            || health(n)["shared"]["logged_not_yet_shared"] == 0,
        );
    }
    for w in [&web_a, &web_b] {
        let stats: serde_json::Value =
            serde_json::from_str(&w.api("GET", "/api/v1/stats?days=1", &token_a, "").body).unwrap();
        assert_eq!(stats["messages"], 2, "{stats}");
    }
    // Carol sees her own mail from either node on the other's console.
    let hers = web_a.api("GET", "/api/v1/messages", &carol_token, "").body;
    assert!(hers.contains("through node b"), "{hers}");
    // The audit log is the site's: the user made on a is listed on b, with its node.
    let audit = web_b.api("GET", "/api/v1/audit", &token_a, "").body;
    assert!(
        audit.contains("user-create") && audit.contains("node a"),
        "{audit}"
    );
    // Both nodes' starts are configuration changes of the site.
    let changes = web_b.api("GET", "/api/v1/changes", &token_a, "").body;
    assert!(
        changes.contains("(node a)") && changes.contains("(node b)"),
        "{changes}"
    );
    // A variant family added on node a (`mailmoat intel add`) is matched by node b, whose
    // reference file receives it from the site's store.
    let family = common::script_family();
    let mut variant = String::from_utf8(family.clone()).unwrap();
    variant.insert_str(100, "/* changed */");
    let variant = variant.rsplit_once('\n').unwrap().0.replace('\n', "\r\n");
    let message = format!(
        "From: alice@sender.example\r\nTo: carol@example.com\r\nSubject: script\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
         --b\r\nContent-Type: application/javascript; name=\"variant.js\"\r\nContent-Disposition: attachment; filename=\"variant.js\"\r\n\r\n{variant}\r\n--b--\r\n"
    );
    assert!(
        !spamd(b.spamd, "SYMBOLS SPAMC/1.5", message.as_bytes()).contains("SIMILAR_KNOWN_MALWARE"),
        "no node knows the family yet"
    );
    let sample = a.dir.join("sample.js");
    std::fs::write(&sample, &family).unwrap();
    let cfg_a = a.dir.join("mailmoat.toml");
    common::run_ok(
        &[
            "intel",
            "add",
            "--config",
            cfg_a.to_str().unwrap(),
            "--family",
            "Test.Family",
            sample.to_str().unwrap(),
        ],
        "1 new to the site's shared reference store",
    );
    wait_until(
        "node b matches the family node a added",
        Duration::from_secs(30),
        || {
            spamd(b.spamd, "SYMBOLS SPAMC/1.5", message.as_bytes())
                .contains("SIMILAR_KNOWN_MALWARE")
        },
    );
    // PostgreSQL stops: the consoles say so (503, no internals) instead of failing obscurely,
    // and mail still flows; when it is back, people sign in again.
    pg.stop();
    let refused = web_b.try_sign_in("carol", "carol's long password");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("unreachable"), "{}", refused.body);
    assert!(!refused.body.contains("127.0.0.1"), "{}", refused.body);
    let r = send(&b.gateway, "carol@example.com", "during the outage");
    assert!(r.starts_with("250"), "{r}");
    pg.resume();
    wait_until(
        "sign-in works again once PostgreSQL is back",
        Duration::from_secs(20),
        || web_b.try_sign_in("carol", "carol's long password").status == 303,
    );
    for n in [a, b] {
        drop(n.gateway);
        let _ = std::fs::remove_dir_all(&n.dir);
    }
}

#[test]
fn rules_pushed_from_one_node_are_taken_by_every_following_node() {
    let Some(pg) = PostgresServer::start("gw-files") else {
        return;
    };
    let sink = Sink::start(0);
    let shared = format!("postgres = \"{}\"\nfollow_files = true", pg.url());
    let rules = "[rules]\nfiles = [\"site-rules.toml\"]\n";
    let rule = |name: &str, pattern: &str| {
        format!("[[rule]]\nname = \"{name}\"\ndescription = \"site rule\"\nscore = 1.0\nwhen = {{ subject = '{pattern}' }}\n")
    };
    let first = rule("SITE_PLACEHOLDER", "(?i)never-matches-anything-xyz");
    let files = [("site-rules.toml", first.as_str())];
    let a = node_with_files("shared-files", "a", &shared, &sink, rules, &files);
    let b = node_with_files("shared-files", "b", &shared, &sink, rules, &files);
    let message = b"From: alice@sender.example\r\nTo: bob@example.com\r\nSubject: magic words inside\r\n\r\nHello.\r\n";
    let symbols = |n: &Node| spamd(n.spamd, "SYMBOLS SPAMC/1.5", message);
    assert!(!symbols(&b).contains("SITE_MAGIC"));
    // The administrator edits the rules on node a and pushes them.
    std::fs::write(
        a.dir.join("site-rules.toml"),
        rule("SITE_MAGIC", "(?i)magic words"),
    )
    .unwrap();
    let (cfg_a, rules_a) = (a.dir.join("mailmoat.toml"), a.dir.join("site-rules.toml"));
    let (cfg, rules_file) = (cfg_a.to_str().unwrap(), rules_a.to_str().unwrap());
    common::run_ok(
        &["config", "push", "--config", cfg, rules_file],
        "site-rules.toml: pushed",
    );
    // Node b writes the file and reloads; node a, whose file it was, reloads too. Both score
    // by the new rule.
    for n in [&b, &a] {
        wait_until(
            "each node scores by the pushed rule",
            Duration::from_secs(30),
            || symbols(n).contains("SITE_MAGIC"),
        );
    }
    assert_eq!(
        std::fs::read_to_string(b.dir.join("site-rules.toml")).unwrap(),
        rule("SITE_MAGIC", "(?i)magic words")
    );
    assert!(
        b.gateway.log.lock().unwrap().contains("site-rules.toml"),
        "node b's log names the file"
    );
    // A file that does not load is refused before it leaves node a.
    std::fs::write(a.dir.join("site-rules.toml"), "[[rule]]\nname = 3\n").unwrap();
    common::run_refused(
        &["config", "push", "--config", cfg, rules_file],
        "nothing was pushed",
    );
    // A file outside the configuration's folder is refused.
    let outside = std::env::temp_dir().join(format!("mm-outside-{}.toml", std::process::id()));
    std::fs::write(&outside, "x").unwrap();
    std::fs::write(
        a.dir.join("site-rules.toml"),
        rule("SITE_MAGIC", "(?i)magic words"),
    )
    .unwrap();
    common::run_refused(
        &["config", "push", "--config", cfg, outside.to_str().unwrap()],
        "not under the configuration's folder",
    );
    common::run_ok(&["config", "files", "--config", cfg], "site-rules.toml");
    let _ = std::fs::remove_file(&outside);
    for n in [a, b] {
        drop(n.gateway);
        let _ = std::fs::remove_dir_all(&n.dir);
    }
}

/// Sends message `n` (held when `held`, else delivered: it has the Date and Message-ID the
/// held ones lack); the reply to the end of DATA, or `None` when the node did not answer.
fn send_numbered(addr: SocketAddr, n: usize, held: bool) -> Option<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut s = std::io::BufReader::new(stream);
    let mut line = String::new();
    let mut say = |s: &mut std::io::BufReader<TcpStream>, cmd: &str| -> Option<String> {
        if !cmd.is_empty() {
            s.get_mut().write_all(cmd.as_bytes()).ok()?;
        }
        // The last line of a (possibly multi-line) reply.
        loop {
            line.clear();
            if std::io::BufRead::read_line(s, &mut line).ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line.clone());
            }
        }
    };
    say(&mut s, "")?;
    say(&mut s, "EHLO load.test\r\n")?;
    say(&mut s, "MAIL FROM:<alice@sender.example>\r\n")?;
    if !say(&mut s, "RCPT TO:<bob@example.com>\r\n")?.starts_with("250") {
        return None;
    }
    say(&mut s, "DATA\r\n")?;
    let extra = if held {
        String::new()
    } else {
        format!("Date: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <load-{n}@sender.example>\r\n")
    };
    let body = format!(
        "From: Alice <alice@sender.example>\r\nTo: Bob <bob@example.com>\r\n{extra}Subject: load {n}\r\n\r\nmessage {n}\r\n.\r\n"
    );
    let reply = say(&mut s, &body)?;
    let _ = s.get_mut().write_all(b"QUIT\r\n");
    Some(reply)
}

#[test]
fn under_load_outages_of_redis_and_postgres_and_a_kill_9_lose_nothing_acknowledged() {
    let (Some(mut redis), Some(mut pg)) = (
        RedisServer::start("gw-load"),
        PostgresServer::start("gw-load"),
    ) else {
        return;
    };
    let sink = Sink::start(0);
    let shared = format!("redis = \"{}\"\npostgres = \"{}\"", redis.url(), pg.url());
    // Held or delivered by the header checks alone: the classifier's mild opinion of these
    // one-line messages would move them across a 2-point threshold.
    let policy = "[policy]\ntag = 1.0\nquarantine = 2.0\nreject = 100.0\n\
                  [policy.symbols.CLASSIFIER_SPAM]\nenabled = false\n\
                  [policy.symbols.CLASSIFIER_HAM]\nenabled = false\n";
    let a = node("shared-load", "a", &shared, &sink, policy);
    let b = node("shared-load", "b", &shared, &sink, policy);
    let targets = std::sync::Arc::new(std::sync::Mutex::new([a.gateway.addr, b.gateway.addr]));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(usize, bool)>::new()));
    let load = {
        let (targets, stop, acknowledged) = (targets.clone(), stop.clone(), acknowledged.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let addr = targets.lock().unwrap()[n % 2];
                let held = n % 3 == 0;
                if let Some(r) = send_numbered(addr, n, held) {
                    assert!(!r.starts_with('5'), "refused: {r}");
                    if r.starts_with("250") {
                        acknowledged.lock().unwrap().push((n, held));
                    }
                }
                n += 1;
            }
        })
    };
    let outage = Duration::from_secs(30);
    std::thread::sleep(Duration::from_secs(3));
    redis.stop();
    std::thread::sleep(outage);
    redis.resume();
    std::thread::sleep(Duration::from_secs(3));
    pg.stop();
    std::thread::sleep(outage);
    pg.resume();
    std::thread::sleep(Duration::from_secs(3));
    // kill -9 node a under load, at once after it acknowledged mail it may not have copied to
    // PostgreSQL or delivered yet, then start it again.
    let cfg_a = a.dir.join("mailmoat.toml");
    a.gateway.kill();
    let a_again = Gateway::start(&cfg_a);
    targets.lock().unwrap()[0] = a_again.addr;
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();

    let acknowledged = acknowledged.lock().unwrap().clone();
    let held: std::collections::BTreeSet<String> = acknowledged
        .iter()
        .filter(|(_, h)| *h)
        .map(|(n, _)| format!("load {n}"))
        .collect();
    let delivered: std::collections::BTreeSet<String> = acknowledged
        .iter()
        .filter(|(_, h)| !*h)
        .map(|(n, _)| format!("load {n}"))
        .collect();
    assert!(
        held.len() > 20 && delivered.len() > 40,
        "{} held, {} delivered: too little load",
        held.len(),
        delivered.len()
    );
    // Every held message reaches the shared quarantine (listed through node b).
    let mut listed = std::collections::BTreeSet::new();
    wait_until(
        "every held message in the shared quarantine",
        Duration::from_secs(30),
        || {
            let out = quarantine(&b, &["list", "--json", "--limit", "100000"]);
            listed = text(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v["subject"].as_str().map(str::to_string))
                .collect();
            held.is_subset(&listed)
        },
    );
    // Every delivered one reaches the downstream server (at least once).
    let got = sink.wait_for(delivered.len(), Duration::from_secs(60));
    let arrived: std::collections::BTreeSet<String> = got
        .iter()
        .filter_map(|m| {
            m.data
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                // A tagged message's subject carries the tag before it.
                .and_then(|s| s.find("load ").map(|i| s[i..].trim().to_string()))
        })
        .collect();
    let lost: Vec<_> = delivered.difference(&arrived).collect();
    assert!(
        lost.is_empty(),
        "acknowledged and never delivered: {lost:?}"
    );
    // The message log caught up too: what each node logged during the outage is in the site's.
    for at in [a.health, b.health] {
        wait_until(
            "each node's message log reaches the site's after the outage",
            Duration::from_secs(30),
            || health_at(at)["shared"]["logged_not_yet_shared"] == 0,
        );
    }
    println!(
        "acknowledged {} ({} held, {} delivered) across a {outage:?} Redis outage, a {outage:?} PostgreSQL outage and a kill -9: 0 lost",
        acknowledged.len(),
        held.len(),
        delivered.len()
    );
    drop(a_again);
    drop(b.gateway);
    let _ = std::fs::remove_dir_all(&a.dir);
    let _ = std::fs::remove_dir_all(&b.dir);
}

//! The web console and its API against a real gateway process: who sees what (through the
//! pages and the API alike), releases that reach the downstream server, exceptions the gateway
//! honours, CSRF, sign-in limits, reports, images, statistics and the OpenAPI document.

mod common;
mod smtp_kit;
mod web_kit;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{bin, root, temp_dir, text};
use smtp_kit::{config, free_port, Client, Gateway, Sink};
use web_kit::{form_value, Web};

/// A message of the crafted attachment cases, without its test directives.
fn case(name: &str) -> Vec<u8> {
    let raw = std::fs::read(root().join(format!("crates/analyzers/cases/{name}.case"))).unwrap();
    let start = raw.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    raw[start..].to_vec()
}

/// The id of a message's first flagged object (the one whose path ends `path_end`, when given),
/// as the report lists it.
fn flagged_object(web: &Web, cookie: &str, message: &str, path_end: &str) -> u64 {
    let report: serde_json::Value = serde_json::from_str(
        &web.get(&format!("/messages/{message}/report.json"), cookie)
            .body,
    )
    .unwrap();
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["flagged"] == true && o["path"].as_str().unwrap().ends_with(path_end))
        .unwrap_or_else(|| panic!("no flagged object ending {path_end:?} in {report}"))["id"]
        .as_u64()
        .unwrap()
}

fn add_user(config: &Path, name: &str, password: &str, role: &str, address: &str) {
    let mut child = common::bin()
        .args([
            "users",
            "add",
            name,
            "--role",
            role,
            "--config",
            config.to_str().unwrap(),
        ])
        .args(if address.is_empty() {
            vec![]
        } else {
            vec!["--address", address]
        })
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "users add {name}");
}

struct Setup {
    _sink: Sink,
    sink: std::sync::Arc<std::sync::Mutex<Vec<smtp_kit::Received>>>,
    gateway: Gateway,
    web: Web,
    dir: std::path::PathBuf,
    admin: String,
}

/// A gateway with its console on a free port, delivering to a sink; users alice and bob.
fn setup(name: &str, extra: &str) -> Setup {
    let dir = temp_dir(name);
    let sink = Sink::start(0);
    let port = free_port();
    let cfg = config(
        &dir,
        &format!(
            "routes = {{ default = \"smtp://{}\" }}\n[console]\nlisten = \"127.0.0.1:{port}\"\nlogin_attempts = 4\n{extra}\n",
            sink.addr
        ),
    );
    // A variant reference store (the crafted cases'), so reports can draw their maps.
    std::fs::create_dir_all(dir.join("var/intel")).unwrap();
    std::fs::copy(
        root().join("crates/analyzers/cases/variants-store.jsonl"),
        dir.join("var/intel/variants.jsonl"),
    )
    .unwrap();
    // A site model file to learn into starts as the built-in model (as `mailmoat learn` makes it).
    if extra.contains("model = \"model.bin\"") {
        mailmoat_classifier::detector::built_in_model()
            .unwrap()
            .save(&dir.join("model.bin"))
            .unwrap();
    }
    let gateway = Gateway::start(&cfg);
    let admin = std::fs::read_to_string(dir.join("var/console/initial-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    add_user(
        &cfg,
        "alice",
        "alice password 1",
        "user",
        "alice@corp.example",
    );
    add_user(&cfg, "bob", "bob password 12", "user", "bob@corp.example");
    let messages = sink.messages.clone();
    Setup {
        sink: messages,
        _sink: sink,
        gateway,
        web: Web {
            addr: format!("127.0.0.1:{port}"),
            source: None,
        },
        dir,
        admin,
    }
}

/// Sends a message; returns its id from the 250 reply (or the whole reply when refused).
fn send(gw: &Gateway, to: &[&str], message: &[u8]) -> String {
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    let reply = c.mail_raw("sender@vendor.example", to, message);
    reply
        .split("queued as ")
        .nth(1)
        .or_else(|| reply.split("(id ").nth(1))
        .map(|s| s.trim().trim_end_matches(')').to_string())
        .unwrap_or(reply)
}

#[test]
fn users_reach_only_their_own_mail_through_the_pages_and_the_api() {
    let s = setup("console-access", "");
    let to_alice = send(
        &s.gateway,
        &["alice@corp.example"],
        &case("html_credential_form"),
    );
    let to_bob = send(
        &s.gateway,
        &["bob@corp.example"],
        &case("docm_autoopen_shell"),
    );
    let to_both = send(
        &s.gateway,
        &["alice@corp.example", "bob@corp.example"],
        &case("encrypted_zip_password_in_body"),
    );
    let rejected_for_bob = send(
        &s.gateway,
        &["bob@corp.example"],
        &case("zip_invoice_pdf_exe_injector"),
    );
    for id in [&to_alice, &to_bob, &to_both, &rejected_for_bob] {
        assert!(!id.contains(' '), "accepted or refused with an id: {id}");
    }
    let web = &s.web;
    let alice = web.sign_in("alice", "alice password 1");
    let page = web.get("/quarantine", &alice.cookie);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&to_alice) && page.body.contains(&to_both),
        "alice's own mail is listed"
    );
    assert!(!page.body.contains(&to_bob), "bob's is not");
    // Every way to bob's messages answers "not found" to alice.
    for id in [&to_bob, &rejected_for_bob] {
        for path in [
            format!("/messages/{id}"),
            format!("/messages/{id}/report.json"),
            format!("/messages/{id}/indicators.txt"),
            format!("/messages/{id}/objects/0/byteplot.png"),
        ] {
            assert_eq!(web.get(&path, &alice.cookie).status, 404, "{path}");
        }
        let a = web.post_form(
            &format!("/quarantine/{id}/release"),
            &alice.cookie,
            &[("csrf", &alice.csrf)],
        );
        assert_eq!(a.status, 404, "release of bob's mail");
    }
    assert_eq!(
        web.get(&format!("/messages/{to_alice}"), &alice.cookie)
            .status,
        200
    );
    assert_eq!(
        web.get("/dashboard", &alice.cookie).status,
        403,
        "the dashboard is for administrators"
    );
    assert_eq!(web.get("/audit", &alice.cookie).status, 403);
    let token = web.token(&alice, "script");
    let list = web.api("GET", "/api/v1/quarantine", &token, "");
    assert_eq!(list.status, 200);
    assert!(list.body.contains(&to_alice) && !list.body.contains(&to_bob));
    let log = web.api("GET", "/api/v1/messages", &token, "");
    assert!(
        log.body.contains(&to_alice) && !log.body.contains(&rejected_for_bob),
        "the message log too"
    );
    for (method, path) in [
        ("GET", format!("/api/v1/messages/{to_bob}")),
        ("GET", format!("/api/v1/messages/{to_bob}/indicators")),
        ("POST", format!("/api/v1/quarantine/{to_bob}/release")),
        ("POST", format!("/api/v1/quarantine/{to_bob}/delete")),
    ] {
        assert_eq!(
            web.api(method, &path, &token, "").status,
            404,
            "{method} {path}"
        );
    }
    for path in [
        "/api/v1/stats",
        "/api/v1/audit",
        "/api/v1/users",
        "/api/v1/changes",
    ] {
        assert_eq!(web.api("GET", path, &token, "").status, 403, "{path}");
    }
    // An exception for someone else's address is refused.
    let e = web.api(
        "POST",
        "/api/v1/exceptions",
        &token,
        r#"{"recipient":"bob@corp.example","sender":"x@y.example"}"#,
    );
    assert_eq!(e.status, 403);
    // The administrator sees everything.
    let admin = web.sign_in("admin", &s.admin);
    let page = web.get("/quarantine", &admin.cookie);
    for id in [&to_alice, &to_bob, &to_both] {
        assert!(page.body.contains(id.as_str()));
    }
    assert_eq!(
        web.get(&format!("/messages/{rejected_for_bob}"), &admin.cookie)
            .status,
        200
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn releases_reach_the_downstream_server_and_are_audited() {
    let s = setup("console-release", "");
    let web = &s.web;
    let shared = send(
        &s.gateway,
        &["alice@corp.example", "bob@corp.example"],
        &case("html_credential_form"),
    );
    let alice = web.sign_in("alice", "alice password 1");
    let a = web.post_form(
        &format!("/quarantine/{shared}/release"),
        &alice.cookie,
        &[("csrf", &alice.csrf)],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let got = smtp_kit_wait(&s, 1);
    assert_eq!(
        got[0].rcpt_to,
        ["alice@corp.example"],
        "alice releases her own copy only"
    );
    assert!(got[0].data.contains("X-Mailmoat-Released: from quarantine"));
    let bob = web.sign_in("bob", "bob password 12");
    let page = web.get("/quarantine", &bob.cookie);
    assert!(page.body.contains(&shared), "bob's copy is still held");
    // bob cannot delete a message also sent to someone else; the administrator can.
    let admin = web.sign_in("admin", &s.admin);
    let admin_token = web.token(&admin, "ops");
    let d = web.api(
        "POST",
        &format!("/api/v1/quarantine/{shared}/delete"),
        &admin_token,
        "",
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let audit = web.api("GET", "/api/v1/audit", &admin_token, "");
    assert!(
        audit.body.contains("\"action\":\"release\"")
            && audit.body.contains(&format!("\"target\":\"{shared}\"")),
        "{}",
        audit.body
    );
    assert!(audit.body.contains("\"action\":\"delete\""));
    assert!(audit.body.contains("\"user\":\"alice\""));
    let _ = std::fs::remove_dir_all(&s.dir);
}

fn smtp_kit_wait(s: &Setup, n: usize) -> Vec<smtp_kit::Received> {
    let start = std::time::Instant::now();
    loop {
        let got = s.sink.lock().unwrap().clone();
        if got.len() >= n || start.elapsed() > Duration::from_secs(20) {
            assert!(
                got.len() >= n,
                "{n} delivered; log:\n{}",
                s.gateway.log.lock().unwrap()
            );
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn forms_need_their_csrf_token_and_sign_in_is_limited() {
    let s = setup("console-csrf", "");
    let web = &s.web;
    let held = send(
        &s.gateway,
        &["alice@corp.example"],
        &case("html_credential_form"),
    );
    let alice = web.sign_in("alice", "alice password 1");
    for csrf in ["", "wrong"] {
        let a = web.post_form(
            &format!("/quarantine/{held}/release"),
            &alice.cookie,
            &[("csrf", csrf)],
        );
        assert_eq!(a.status, 403, "csrf {csrf:?}");
    }
    // A session (cookie) API call that changes something needs the X-CSRF-Token header.
    let no_header = web.request(
        "POST",
        &format!("/api/v1/quarantine/{held}/release"),
        &[("Cookie", &alice.cookie)],
        b"",
    );
    assert_eq!(no_header.status, 403);
    assert!(
        web.get("/quarantine", &alice.cookie).body.contains(&held),
        "still held"
    );
    // Signed out: pages send to the sign-in, the API answers 401.
    let page = web.get("/quarantine", "");
    assert_eq!(
        (page.status, page.header("location").as_deref()),
        (303, Some("/login"))
    );
    assert_eq!(
        web.api("GET", "/api/v1/quarantine", "not-a-token", "")
            .status,
        401
    );
    // A sign-in form without its cookie is refused (login CSRF).
    let page = web.get("/login", "");
    let token = form_value(&page.body, "login_csrf");
    let forged = web.post_form(
        "/login",
        "",
        &[
            ("name", "alice"),
            ("password", "alice password 1"),
            ("login_csrf", &token),
        ],
    );
    assert_eq!(forged.status, 403);
    // Cookies are HttpOnly and SameSite=Strict; pages forbid scripts and framing.
    let a = web.try_sign_in("alice", "alice password 1");
    let set = a
        .head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: mm_session"))
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let csp = web
        .get("/quarantine", &alice.cookie)
        .header("content-security-policy")
        .unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("script-src")
    );
    // Wrong passwords: after 4 (this configuration), even the right one waits.
    for _ in 0..4 {
        assert_eq!(web.try_sign_in("bob", "guess guess guess").status, 401);
    }
    let limited = web.try_sign_in("bob", "bob password 12");
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
    // Regression (outside probe): those guesses locked the right password out from everywhere.
    let elsewhere = Web {
        addr: web.addr.clone(),
        source: Some("127.0.0.2".parse().unwrap()),
    };
    elsewhere.sign_in("bob", "bob password 12");
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn a_users_exception_lets_spam_through_for_them_only_and_never_a_threat() {
    let rules = "[[rule]]\nname = \"TEST_PILLS\"\ndescription = \"pills\"\naction = \"quarantine\"\nwhen = { subject = '(?i)cheap pills' }\n\n[[rule]]\nname = \"LOCAL_AV\"\ndescription = \"our own malware rule\"\ngroup = \"av\"\ncategory = \"malware\"\naction = \"quarantine\"\nwhen = { subject = '(?i)invoice-virus' }\n";
    let dir = temp_dir("console-exceptions-rules");
    std::fs::write(dir.join("local.toml"), rules).unwrap();
    let s = setup(
        "console-exceptions",
        &format!(
            "[rules]\nfiles = [\"{}\"]\n",
            dir.join("local.toml").display()
        ),
    );
    let web = &s.web;
    let spam = b"From: Deals <deals@shop.example>\r\nTo: alice@corp.example\r\nSubject: Cheap pills today\r\nMessage-ID: <p1@shop.example>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nBuy now.\r\n";
    let held = send(&s.gateway, &["alice@corp.example"], spam);
    let alice = web.sign_in("alice", "alice password 1");
    assert!(
        web.get("/quarantine", &alice.cookie).body.contains(&held),
        "spam is held first"
    );
    let a = web.post_form(
        "/exceptions",
        &alice.cookie,
        &[
            ("csrf", &alice.csrf),
            ("recipient", "alice@corp.example"),
            ("sender", "deals@shop.example"),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    // The same spam to alice and bob: alice gets it, bob's copy is held.
    let split = send(
        &s.gateway,
        &["alice@corp.example", "bob@corp.example"],
        spam,
    );
    let got = smtp_kit_wait(&s, 1);
    assert_eq!(got[0].rcpt_to, ["alice@corp.example"]);
    assert!(
        got[0]
            .data
            .contains("X-Mailmoat-Exception: deals@shop.example"),
        "{}",
        got[0].data
    );
    assert!(!got[0].data.contains("[SPAM]"));
    let bob = web.sign_in("bob", "bob password 12");
    assert!(
        web.get("/quarantine", &bob.cookie).body.contains(&split),
        "bob has no exception"
    );
    // A threat from the same sender is never let through.
    let mut threat = case("zip_invoice_pdf_exe_injector");
    let at = threat.windows(5).position(|w| w == b"From:").unwrap();
    let end = at + threat[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
    threat.splice(
        at..end,
        b"From: Deals <deals@shop.example>\r\n".iter().copied(),
    );
    let answer = send(&s.gateway, &["alice@corp.example"], &threat);
    // Regression: evidence in a group the gateway did not know was taken for spam, and the
    // exception delivered it. An administrator's rule declares what it is evidence of.
    let local = b"From: Deals <deals@shop.example>\r\nTo: alice@corp.example\r\nSubject: invoice-virus inside\r\nMessage-ID: <p2@shop.example>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nSee attached.\r\n";
    let held_by_rule = send(&s.gateway, &["alice@corp.example"], local);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        s.sink.lock().unwrap().len(),
        1,
        "nothing more delivered ({answer}, {held_by_rule})"
    );
    assert!(web
        .get("/quarantine", &alice.cookie)
        .body
        .contains(&held_by_rule));
    // The exception list shows it; removing it ends it.
    let token = web.token(&alice, "t");
    let list = web.api("GET", "/api/v1/exceptions", &token, "");
    assert!(list.body.contains("deals@shop.example"));
    let id = list
        .body
        .split("\"id\":")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        web.api("DELETE", &format!("/api/v1/exceptions/{id}"), &token, "")
            .status,
        200
    );
    let again = send(&s.gateway, &["alice@corp.example"], spam);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.sink.lock().unwrap().len(), 1);
    assert!(web.get("/quarantine", &alice.cookie).body.contains(&again));
    let _ = std::fs::remove_dir_all(&s.dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reports_show_the_path_traces_images_and_inert_content() {
    let s = setup("console-report", "");
    let web = &s.web;
    let rejected = send(
        &s.gateway,
        &["bob@corp.example"],
        &case("zip_invoice_pdf_exe_injector"),
    );
    let held = send(
        &s.gateway,
        &["alice@corp.example"],
        &case("html_credential_form"),
    );
    let variant = send(
        &s.gateway,
        &["bob@corp.example"],
        &case("variant_of_known_dropper"),
    );
    let plain = b"From: x@shop.example\r\nTo: alice@corp.example\r\nSubject: <script>alert(1)</script>\r\nMessage-ID: <s1@shop.example>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nHello <img src=http://tracker.example/p.gif> see http://evil.example/login\r\n";
    let delivered = send(&s.gateway, &["alice@corp.example"], plain);
    let admin = web.sign_in("admin", &s.admin);
    let page = web.get(&format!("/messages/{rejected}"), &admin.cookie);
    assert_eq!(page.status, 200);
    let exe = flagged_object(web, &admin.cookie, &rejected, "invoice.pdf.exe");
    for needle in [
        "attachment invoice.zip &gt; invoice.pdf.exe",
        "PE_INJECTION_IMPORTS",
        "Why it matters",
        "block it",
        "sender@vendor.example",
        "9c841b2afc268d4dcb9701037231d0aeb74087856a0fbda1f9f5a33294b4514d",
        "bob@corp.example",
        &format!("/messages/{rejected}/objects/{exe}/byteplot.png"),
    ] {
        assert!(page.body.contains(needle), "{needle} in the report");
    }
    let png = web.get(
        &format!("/messages/{rejected}/objects/{exe}/byteplot.png"),
        &admin.cookie,
    );
    assert_eq!(png.status, 200);
    assert_eq!(png.header("content-type").as_deref(), Some("image/png"));
    let indicators = web.get(
        &format!("/messages/{rejected}/indicators.txt"),
        &admin.cookie,
    );
    assert!(
        indicators.body.contains("sha256\t9c841b2a")
            && indicators
                .body
                .contains("envelope-sender\tsender@vendor.example")
    );
    let page = web.get(&format!("/messages/{delivered}"), &admin.cookie);
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;"),
        "the subject is escaped"
    );
    assert!(!page.body.contains("<script"), "no markup from the message");
    assert!(
        !page.body.contains("href=\"http://evil"),
        "links are not links"
    );
    assert!(
        page.body
            .contains("hxxp:&#x2f;&#x2f;evil[.]example&#x2f;login"),
        "URLs are shown defanged"
    );
    assert!(
        !page.body.contains("tracker.example/p.gif\""),
        "no remote image"
    );
    // A variant of a stored family: its byte plot and its place among the references.
    let page = web.get(&format!("/messages/{variant}"), &admin.cookie);
    assert!(page.body.contains("SIMILAR_KNOWN_MALWARE") && page.body.contains("Test.JsDropper"));
    let dropper = flagged_object(web, &admin.cookie, &variant, "");
    assert!(page.body.contains(&format!(
        "/messages/{variant}/objects/{dropper}/neighbours.svg"
    )));
    let map = web.get(
        &format!("/messages/{variant}/objects/{dropper}/neighbours.svg"),
        &admin.cookie,
    );
    assert_eq!(map.header("content-type").as_deref(), Some("image/svg+xml"));
    assert!(
        map.body.contains("<svg") && map.body.contains("Test.JsDropper"),
        "{}",
        map.body
    );
    let page = web.get(&format!("/messages/{held}"), &admin.cookie);
    assert!(page.body.contains("HTML_CREDENTIAL_FORM") && page.body.contains("Release"));
    // The command line prints the same report.
    let out = common::bin()
        .args([
            "report",
            &rejected,
            "--config",
            s.dir.join("mailmoat.toml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        printed.contains("at attachment invoice.zip > invoice.pdf.exe")
            && printed.contains("sha256\t9c841b2a"),
        "{printed}"
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn statistics_count_by_detection_type_and_every_documented_api_route_answers() {
    let s = setup(
        "console-stats",
        "[intel]\ndir = \"intel\"\ncheck_interval_secs = 1\n",
    );
    let web = &s.web;
    let held = send(
        &s.gateway,
        &["alice@corp.example"],
        &case("html_credential_form"),
    );
    send(
        &s.gateway,
        &["bob@corp.example"],
        &case("zip_invoice_pdf_exe_injector"),
    );
    send(&s.gateway, &["bob@corp.example"], b"From: a@b.example\r\nTo: bob@corp.example\r\nSubject: hi\r\nMessage-ID: <h1@b.example>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nhello\r\n");
    let admin = web.sign_in("admin", &s.admin);
    let token = web.token(&admin, "stats");
    // The message log is written beside the reply: give it a moment.
    let mut stats = String::new();
    for _ in 0..50 {
        stats = web.api("GET", "/api/v1/stats?days=2", &token, "").body;
        if stats.contains("\"messages\":3") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(stats.contains("\"messages\":3"), "{stats}");
    assert!(stats.contains("\"detections\":2"), "{stats}");
    assert!(
        stats.contains("\"malware\":1")
            && stats.contains("\"phishing\":1")
            && stats.contains("\"clean\":1"),
        "{stats}"
    );
    let dashboard = web.get("/dashboard", &admin.cookie);
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.body.contains("<svg") && dashboard.body.contains("id=\"total-messages\">3<"));
    // The intelligence version in force: none yet, then the one an update makes current.
    assert!(
        dashboard.body.contains("no intelligence folder installed"),
        "{}",
        dashboard.body
    );
    let feed = s.dir.join("feed");
    std::fs::create_dir_all(feed.join("yara")).unwrap();
    std::fs::write(feed.join("yara/a.yar"), "rule Feed { condition: false }\n").unwrap();
    let cfg = s.dir.join("mailmoat.toml");
    for args in [
        vec!["intel", "pack", feed.to_str().unwrap(), "--version", "t1"],
        vec![
            "intel",
            "update",
            feed.to_str().unwrap(),
            "-c",
            cfg.to_str().unwrap(),
        ],
    ] {
        let o = bin().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    let mut shown = String::new();
    for _ in 0..100 {
        shown = web.get("/dashboard", &admin.cookie).body;
        if shown.contains("version <b>t1</b> in force") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(shown.contains("version <b>t1</b> in force"), "{shown}");
    // Before/after: the start of this gateway is a change.
    let changes = web.api("GET", "/api/v1/changes", &token, "");
    assert!(changes.body.contains("gateway started"), "{}", changes.body);
    let cid = changes
        .body
        .split("\"id\":")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let impact = web.api(
        "GET",
        &format!("/api/v1/changes/{cid}/impact?days=1"),
        &token,
        "",
    );
    assert!(impact.body.contains("\"after\":2"), "{}", impact.body);
    // Every path of the OpenAPI document answers (not 404 for lack of a route, not 405).
    let spec: serde_json::Value =
        serde_json::from_str(&web.get("/api/v1/openapi.json", "").body).unwrap();
    for (path, methods) in spec["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", &held)
                .replace("{action}", "missed-spam")
                .replace("{eid}", "999999")
                .replace("{cid}", &cid)
                .replace("{tid}", "999999");
            let body = match concrete.as_str() {
                "/api/v1/exceptions" => {
                    r#"{"recipient":"alice@corp.example","sender":"friend@partner.example"}"#
                }
                "/api/v1/users" => {
                    r#"{"name":"carol","password":"carol password","role":"user","addresses":["carol@corp.example"]}"#
                }
                "/api/v1/tokens" => r#"{"label":"from the spec test"}"#,
                "/api/v1/account/password" => {
                    r#"{"current":"wrong password","new":"another long one"}"#
                }
                "/api/v1/feedback/spam" => "Subject: buy\r\n\r\nbuy now\r\n",
                _ => "",
            };
            let a = web.api(&method.to_ascii_uppercase(), &concrete, &token, body);
            let route_missing =
                a.status == 405 || (a.status == 404 && !a.body.contains("not found (or not yours"));
            assert!(!route_missing, "{method} {path}: {} {}", a.status, a.body);
            assert!(a.status < 500, "{method} {path}: {} {}", a.status, a.body);
        }
    }
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn corrections_are_learned_into_the_model_file_through_the_gateways_learner() {
    let s = setup("console-learn", "[classifier]\nmodel = \"model.bin\"\n");
    let model = s.dir.join("model.bin");
    let trained = || mailmoat_classifier::Model::load(&model).unwrap().trained;
    let before = trained();
    let admin = s.web.sign_in("admin", &s.admin);
    let token = s.web.token(&admin, "learn");
    let missed = "From: deals@shop.example\r\nSubject: cheap pills\r\n\r\nbuy cheap pills now\r\n";
    for n in 1..=2u64 {
        let a = s.web.api("POST", "/api/v1/feedback/spam", &token, missed);
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains("learned it as spam"), "{}", a.body);
        // Each correction is in the file at once, the one before kept.
        assert_eq!(trained(), [before[0], before[1] + n]);
    }
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// What the browser tests need, or why they cannot run here.
fn browser_kit() -> Result<std::path::PathBuf, String> {
    let dir = root().join("crates/console/browser");
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Err(format!(
            "playwright-core is not installed (npm ci --prefix {})",
            dir.display()
        ));
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} is missing (apt-get install chromium)"));
    }
    Ok(dir)
}

#[test]
fn browser_sign_in_report_release_and_user_isolation() {
    let kit = match browser_kit() {
        Ok(dir) => dir,
        // CI installs all of it (.ci/run): there, a missing piece is a failure.
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("browser tests cannot run in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: browser tests need Chromium and playwright-core: {why}");
            return;
        }
    };
    let s = setup("console-browser", "");
    let phish = send(
        &s.gateway,
        &["alice@corp.example"],
        &case("html_credential_form"),
    );
    let bob_subject = "Quarterly bonus letter for Bob";
    let mut for_bob = case("docm_autoopen_shell");
    let at = for_bob.windows(8).position(|w| w == b"Subject:").unwrap();
    let end = at + for_bob[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
    for_bob.splice(at..end, format!("Subject: {bob_subject}\r\n").bytes());
    let bob_id = send(&s.gateway, &["bob@corp.example"], &for_bob);
    let malware = send(
        &s.gateway,
        &["bob@corp.example"],
        &case("variant_of_known_dropper"),
    );
    // Screenshots for the README go to docs/ when asked, else beside the test's files.
    let shots = std::env::var("MAILMOAT_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| s.dir.join("shots"));
    std::fs::create_dir_all(&shots).unwrap();
    let out = std::process::Command::new("node")
        .arg(kit.join("console-e2e.mjs"))
        .env("MM_URL", format!("http://{}", s.web.addr))
        .env("MM_ADMIN_PASSWORD", &s.admin)
        .env("MM_ALICE_PASSWORD", "alice password 1")
        .env("MM_PHISH_ID", &phish)
        .env("MM_BOB_ID", &bob_id)
        .env("MM_BOB_SUBJECT", bob_subject)
        .env("MM_MALWARE_ID", &malware)
        .env("MM_SHOTS", &shots)
        .output()
        .unwrap();
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    println!("{report}");
    assert!(out.status.success(), "browser tests failed:\n{report}");
    assert!(report.contains("all browser tests passed"));
    // The release clicked in the browser reached the downstream server.
    let got = smtp_kit_wait(&s, 1);
    assert_eq!(got[0].rcpt_to, ["alice@corp.example"]);
    assert!(
        shots.join("console-dashboard.png").exists() && shots.join("console-report.png").exists()
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn a_kit_page_behind_a_link_is_seen_in_the_browser_and_its_screenshot_shown_in_the_report() {
    if mailmoat_visual::browser::find_chromium(None).is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Chromium is not installed"
        );
        eprintln!("skipping: Chromium not found on PATH");
        return;
    }
    let kits = mailmoat_visual::kits::pages();
    let server = mailmoat_visual::kits::KitServer::start(&kits).unwrap();
    let s = setup(
        "console-visual",
        "[url_visual]\nenabled = true\nallow_loopback_for_tests = true",
    );
    let message = format!(
        "From: \"Service\" <service@billing-notice.example>\r\nTo: bob@corp.example\r\nSubject: Your account is limited\r\nMessage-ID: <v1@billing-notice.example>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\nContent-Type: text/html\r\n\r\n<p>Please confirm your details: <a href=\"{}\">Resolve now</a></p>\r\n",
        server.url("/kit/paypal/combined.html")
    );
    let id = send(&s.gateway, &["bob@corp.example"], message.as_bytes());
    let admin = s.web.sign_in("admin", &s.admin);
    let page = s.web.get(&format!("/messages/{id}"), &admin.cookie);
    assert_eq!(page.status, 200, "{id}");
    assert!(
        page.body.contains("URL_VISUAL_BRAND_IMPERSONATION"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("looks like PayPal"),
        "the brand is named"
    );
    let hash = page
        .body
        .split(&format!("/messages/{id}/screenshots/"))
        .nth(1)
        .map(|rest| rest[..64].to_string())
        .expect("the screenshot is shown");
    let png = s
        .web
        .get(&format!("/messages/{id}/screenshots/{hash}"), &admin.cookie);
    assert_eq!(png.status, 200);
    assert_eq!(png.header("content-type").as_deref(), Some("image/png"));
    // Alice may not see bob's mail, nor its screenshot; unknown names are not served.
    let alice = s.web.sign_in("alice", "alice password 1");
    let denied = s
        .web
        .get(&format!("/messages/{id}/screenshots/{hash}"), &alice.cookie);
    assert_eq!(denied.status, 404);
    let other = s.web.get(
        &format!("/messages/{id}/screenshots/{}", "0".repeat(64)),
        &admin.cookie,
    );
    assert_eq!(other.status, 404);
}

#[test]
fn users_get_a_daily_digest_of_their_held_mail() {
    let s = setup(
        "console-digest",
        "digest = true\ndigest_hour_utc = 0\npublic_url = \"https://console.corp.example\"\n",
    );
    let web = &s.web;
    let held = send(
        &s.gateway,
        &["alice@corp.example"],
        &case("html_credential_form"),
    );
    let admin = web.sign_in("admin", &s.admin);
    let token = web.token(&admin, "digest");
    let a = web.api("POST", "/api/v1/digests/send", &token, "");
    assert!(
        a.body.contains("\"queued\":1"),
        "alice has held mail, bob has none: {}",
        a.body
    );
    let got = smtp_kit_wait(&s, 1);
    assert_eq!(got[0].rcpt_to, ["alice@corp.example"]);
    assert_eq!(
        got[0].mail_from, "",
        "a null sender: digests are never bounced"
    );
    assert!(got[0]
        .data
        .contains("Subject: Quarantine digest: 1 held message(s)"));
    assert!(got[0]
        .data
        .contains(&format!("https://console.corp.example/messages/{held}")));
    // One a day.
    let again = web.api("POST", "/api/v1/digests/send", &token, "");
    assert!(again.body.contains("\"queued\":0"), "{}", again.body);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn a_users_exception_applies_behind_postfix_through_the_milter() {
    if !smtp_kit::have("postfix") {
        eprintln!("skipped: postfix is not installed (Debian package postfix)");
        return;
    }
    let rules = "[[rule]]\nname = \"TEST_PILLS\"\ndescription = \"pills\"\naction = \"quarantine\"\nwhen = { subject = '(?i)cheap pills' }\n";
    let dir = temp_dir("console-milter-exceptions-rules");
    std::fs::write(dir.join("local.toml"), rules).unwrap();
    let milter_port = free_port();
    let s = setup(
        "console-milter-exceptions",
        &format!(
            "[rules]\nfiles = [\"{}\"]\n[milter]\nlisten = \"127.0.0.1:{milter_port}\"\n",
            dir.join("local.toml").display()
        ),
    );
    let web = &s.web;
    let alice = web.sign_in("alice", "alice password 1");
    let a = web.post_form(
        "/exceptions",
        &alice.cookie,
        &[
            ("csrf", &alice.csrf),
            ("recipient", "alice@corp.example"),
            ("sender", "deals@shop.example"),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let hop = s._sink.addr;
    let postfix = match smtp_kit::Postfix::start_with(
        &dir.join("postfix"),
        hop,
        &format!(
            "relay_domains = corp.example\ntransport_maps = inline:{{ corp.example=smtp:[{}]:{} }}\nsmtpd_milters = inet:127.0.0.1:{milter_port}\nmilter_default_action = tempfail\n",
            hop.ip(),
            hop.port()
        ),
    ) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: cannot start postfix here: {why}");
            return;
        }
    };
    // The same spam to alice and bob through Postfix: alice's exception gets it to her, bob's
    // copy is held in mailmoat's quarantine and Postfix delivers to alice only.
    let spam = b"From: Deals <deals@shop.example>\r\nTo: alice@corp.example\r\nSubject: Cheap pills today\r\nMessage-ID: <p9@shop.example>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nBuy now.\r\n";
    let mut c = Client::connect(format!("127.0.0.1:{}", postfix.port).parse().unwrap());
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    let reply = c.mail_raw(
        "deals@shop.example",
        &["alice@corp.example", "bob@corp.example"],
        spam,
    );
    assert!(reply.starts_with("250"), "{reply}");
    let got = smtp_kit_wait(&s, 1);
    assert_eq!(got.len(), 1, "{}", s.gateway.log.lock().unwrap());
    assert_eq!(got[0].rcpt_to, ["alice@corp.example"]);
    assert!(
        got[0]
            .data
            .contains("X-Mailmoat-Exception: deals@shop.example"),
        "{}",
        got[0].data
    );
    let bob = web.sign_in("bob", "bob password 12");
    assert!(
        web.get("/quarantine", &bob.cookie)
            .body
            .contains("Cheap pills today"),
        "bob's copy is held by mailmoat"
    );
    assert!(
        !web.get("/quarantine", &alice.cookie)
            .body
            .contains("Cheap pills today"),
        "alice's is not"
    );
    drop(postfix);
    std::fs::remove_dir_all(dir).ok();
}

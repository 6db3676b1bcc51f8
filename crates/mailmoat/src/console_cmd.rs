//! `mailmoat report`, `mailmoat users` and `mailmoat bench-console`: the console's reports and
//! accounts from the command line, and the dashboard's speed over many stored events.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use mailmoat_console::store::{Role, Store};
use mailmoat_gateway::events::{Event, Events};
use serde_json::json;

/// A message's report, from the quarantine or the message log.
pub fn report(config: Option<&Path>, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let settings = crate::load_settings(config)?;
    let (_, quarantine, events) = mailmoat_gateway::open_storage(&settings.serve)?;
    let (at, recipients, report, held) = match quarantine.get(id)? {
        Some(h) => (h.received_at, h.recipients, quarantine.meta(id)?.1, true),
        None => {
            let e = events.get(id)?.ok_or_else(|| {
                anyhow::anyhow!("{id}: no such message in the quarantine or the message log")
            })?;
            let r = events
                .report(id)?
                .ok_or_else(|| anyhow::anyhow!("{id}: its report was removed (retention)"))?;
            (e.received_at, e.recipients, r, false)
        }
    };
    let table = mailmoat_pipeline::symbol_table();
    let r = mailmoat_console::report::build(id, at, recipients, &report, &table, held);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Message {} — {}", r.id, r.subject);
    println!(
        "Risk {} · action {} · {} · score {:.1} · received {} UTC{}",
        r.risk,
        r.action,
        r.category,
        r.score,
        mailmoat_console::format_time(r.received_at),
        if r.held { " · held in quarantine" } else { "" }
    );
    println!("Targets: {}", r.recipients.join(", "));
    println!("\nWhat was found:");
    for f in r.findings.iter().filter(|f| f.score > 0.0 || f.forced) {
        println!("  {} ({}, {:.1})", f.symbol, f.category, f.score);
        for h in &f.hits {
            println!("    at {}: {}", h.path, h.details);
        }
        println!("    why: {}", f.cause);
        println!("    do:  {}", f.countermeasure);
    }
    let t = &r.traces;
    println!("\nSender and route:");
    println!("  From: {}", t.from.join(", "));
    println!("  Reply-To: {}", t.reply_to.join(", "));
    println!("  Envelope sender: {}", t.envelope_sender);
    println!("  Client: {} {}", t.client_ip, t.helo);
    for h in &t.received {
        println!("  Received {h}");
    }
    println!("\nIndicators:");
    print!("{}", mailmoat_console::report::indicators_text(&r));
    Ok(ExitCode::SUCCESS)
}

/// The console's accounts: the site's when nodes share PostgreSQL, else this node's.
fn open_store(config: Option<&Path>) -> anyhow::Result<Store> {
    let settings = crate::load_settings(config)?;
    let site =
        mailmoat_shared::open_postgres(&settings.serve.shared, settings.base_dir())?.map(|link| {
            std::sync::Arc::new(mailmoat_shared::SharedAccounts::new(
                link,
                &mailmoat_gateway::node_name(&settings.serve),
            ))
        });
    Ok(Store::open_with(
        &settings.base_dir().join(&settings.console.data_dir),
        site,
    )?)
}

/// A password from the first line of standard input (never from the command line, where other
/// users of the machine could read it).
fn read_password() -> anyhow::Result<String> {
    eprintln!("password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn users_add(
    config: Option<&Path>,
    name: &str,
    role: &str,
    addresses: &[String],
) -> anyhow::Result<ExitCode> {
    let store = open_store(config)?;
    let role = Role::parse(role).ok_or_else(|| anyhow::anyhow!("role is admin or user"))?;
    let password = read_password()?;
    let user = store.create_user(name, &password, role, addresses)?;
    store.audit(
        mailmoat_gateway::unix_now(),
        "cli",
        "user-create",
        &user.name,
        role.as_str(),
    );
    println!(
        "{} ({}) created: {}",
        user.name,
        role.as_str(),
        user.addresses.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

pub fn users_passwd(config: Option<&Path>, name: &str) -> anyhow::Result<ExitCode> {
    let store = open_store(config)?;
    let user = store
        .user_by_name(name)?
        .ok_or_else(|| anyhow::anyhow!("no user named {name}"))?;
    let password = read_password()?;
    store.set_password(user.id, &password)?;
    store.audit(
        mailmoat_gateway::unix_now(),
        "cli",
        "password-change",
        &user.name,
        "",
    );
    println!("{}: password changed; their sessions ended", user.name);
    Ok(ExitCode::SUCCESS)
}

pub fn users_list(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    for u in open_store(config)?.users()? {
        println!("{}\t{}\t{}", u.name, u.role.as_str(), u.addresses.join(","));
    }
    Ok(ExitCode::SUCCESS)
}

/// Fills a fresh message log with `count` generated events spread over `days`, then times the
/// dashboard's queries (what `GET /dashboard` and `/api/v1/stats` run) and the drawing.
pub fn bench(count: usize, days: i64, dir: &Path) -> anyhow::Result<ExitCode> {
    let _ = std::fs::remove_dir_all(dir);
    let events = Events::open(dir)?;
    let now = mailmoat_gateway::unix_now();
    let start = now - days * 86400;
    let categories = [
        ("clean", "headers", "deliver", 0.0),
        ("spam", "classifier", "tag", 6.0),
        ("phishing", "phishing", "quarantine", 9.0),
        ("malware", "malware", "reject", 15.0),
        ("impersonation", "impersonation", "quarantine", 8.0),
        ("policy", "rules", "reject", 10.0),
        ("signature", "signature", "reject", 20.0),
    ];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let t = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..count {
        let r = next();
        // Two thirds clean, like real inbound mail.
        let c = if r % 3 != 0 {
            0
        } else {
            1 + (r >> 8) as usize % 6
        };
        let (category, group, action, score) = categories[c];
        let symbol = format!("{}_{}", group.to_ascii_uppercase(), (r >> 16) % 20);
        let report: mailmoat_pipeline::ScanReport = serde_json::from_value(json!({
            "version": mailmoat_pipeline::SCAN_REPORT_VERSION,
            "action": action, "risk": if score > 9.0 { "high" } else { "low" }, "score": score,
            "symbols": { symbol.clone(): { "score": score, "group": group } },
            "message": { "subject": format!("message {i}"), "from": [{ "address": format!("s{}@d{}.example", (r >> 20) % 5000, (r >> 32) % 500) }] }
        }))?;
        let at = start + ((r >> 40) as i64 % (days * 86400));
        let rcpt = vec![format!("user{}@corp.example", (r >> 24) % 2000)];
        let event = Event::from_report(&format!("B{i:08}"), at, "bounce@x.example", &rcpt, &report);
        debug_assert_eq!(event.category, category);
        batch.push((event, serde_json::to_string(&report)?));
        if batch.len() == 10_000 {
            events.record_all(std::mem::take(&mut batch))?;
        }
    }
    events.record_all(batch)?;
    println!(
        "stored {count} events over {days} days in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let stored = events.count()?;
    events.flush()?;
    drop(events);
    // The real thing: a gateway with its console on this log, signed in, GET /dashboard.
    let console_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config_path = dir.join("bench.toml");
    std::fs::write(
        &config_path,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nhealth_listen = \"\"\nspool_dir = \"spool\"\nquarantine_dir = \"quarantine\"\nevents_dir = \".\"\n\
             [auth]\nenabled = false\n\
             [console]\nlisten = \"127.0.0.1:{console_port}\"\ndata_dir = \"console\"\nsecure_cookies = false\n"
        ),
    )?;
    let store = Store::open(&dir.join("console"))?;
    let password = "bench password 1";
    store.create_user("bench", password, Role::Admin, &[])?;
    drop(store);
    let settings = crate::load_settings(Some(&config_path))?;
    let reload = crate::scan_config_loader(Some(config_path.clone()));
    std::thread::spawn(move || {
        let exceptions = std::sync::Arc::new(mailmoat_gateway::SenderExceptions::default());
        let result = mailmoat_gateway::serve(
            settings.serve.clone(),
            reload,
            exceptions,
            move |h| mailmoat_console::start(h, settings),
            |_| {},
        );
        if let Err(e) = result {
            eprintln!("gateway: {e}");
        }
    });
    let address = format!("127.0.0.1:{console_port}");
    let session = sign_in(&address, "bench", password)?;
    for (path, what) in [
        ("/dashboard?days=14", "GET /dashboard (14 days)"),
        ("/dashboard?days=90", "GET /dashboard (90 days)"),
        (
            "/messages?category=phishing",
            "GET /messages (newest 100 phishing)",
        ),
        ("/messages?sender=s17%40", "GET /messages (sender search)"),
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let (status, body) = http(&address, "GET", path, &session, "")?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status == 200, "GET {path} answered {status}");
            anyhow::ensure!(body.contains("</html>"), "{path} did not render");
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{what}, signed in, whole page, over {stored} stored events: median {:.1} ms, worst {:.1} ms of 5",
            times[2], times[4]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One HTTP/1.1 request on a fresh connection: (status, headers and body as text).
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    cookies: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/x-www-form-urlencoded\r\n"
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookies}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no HTTP status from {address}"))?;
    Ok((status, out))
}

/// Signs in through the login form; returns the session cookie ("mm_session=…").
fn sign_in(address: &str, name: &str, password: &str) -> anyhow::Result<String> {
    let mut page = None;
    for _ in 0..200 {
        match http(address, "GET", "/login", "", "") {
            Ok(p) => {
                page = Some(p);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    let (_, page) =
        page.ok_or_else(|| anyhow::anyhow!("the console at {address} did not start"))?;
    let cookie = |text: &str, name: &str| -> Option<String> {
        text.lines()
            .filter_map(|l| {
                l.strip_prefix("set-cookie: ")
                    .or_else(|| l.strip_prefix("Set-Cookie: "))
            })
            .find(|l| l.starts_with(name))
            .map(|l| l.split(';').next().unwrap_or("").to_string())
    };
    let login_cookie =
        cookie(&page, "mm_login=").ok_or_else(|| anyhow::anyhow!("no login cookie"))?;
    let token = login_cookie.trim_start_matches("mm_login=").to_string();
    let form = format!(
        "name={name}&password={}&login_csrf={token}",
        password.replace(' ', "+")
    );
    let (status, answer) = http(address, "POST", "/login", &login_cookie, &form)?;
    anyhow::ensure!(status == 303, "sign-in answered {status}");
    cookie(&answer, "mm_session=").ok_or_else(|| anyhow::anyhow!("no session cookie"))
}

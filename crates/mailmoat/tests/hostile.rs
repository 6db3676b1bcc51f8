//! Hostile input through the real gateway: one regression test for each thing an outside probe
//! broke (named after it), and a thousand damaged messages that must all be accounted for with
//! the process alive and its memory bounded.

mod common;
mod smtp_kit;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{temp_dir, text};
use smtp_kit::{config, have, Client, Gateway, Postfix, Sink, HELLO};

/// A message of `levels` message/rfc822 parts, each inside the one before.
fn nested_messages(levels: usize) -> Vec<u8> {
    let mut m = b"From: a@sender.example\r\nTo: bob@example.com\r\nSubject: deep\r\nContent-Type: message/rfc822\r\n\r\n".to_vec();
    for _ in 0..levels {
        m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    m.extend_from_slice(b"Subject: innermost\r\n\r\nhello\r\n");
    m
}

fn alive(gw: &mut Gateway) -> bool {
    gw.child.try_wait().is_ok_and(|status| status.is_none())
}

#[test]
fn regression_40000_nested_message_rfc822_parts_do_not_stop_the_gateway() {
    let dir = temp_dir("hostile-nesting");
    let cfg = config(&dir, "");
    let mut gw = Gateway::start(&cfg);
    let message = nested_messages(40_000);
    assert!(message.len() < 2 << 20, "far under the size limit");
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    let reply = c.mail_raw("a@sender.example", &["bob@example.com"], &message);
    // Kept (250) or refused in the session (550: the sender knows); never a dead connection.
    assert!(
        reply.starts_with("250") || reply.starts_with("550"),
        "{reply:?}"
    );
    assert!(alive(&mut gw), "{}", gw.log.lock().unwrap());
    // The cut is evidence (its log line may reach us a moment after the reply), and the next
    // message is served as usual.
    let start = Instant::now();
    while !gw.log.lock().unwrap().contains("MIME_PARSE_LIMIT") {
        let log = gw.log.lock().unwrap().clone();
        assert!(start.elapsed() < Duration::from_secs(10), "{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut next = Client::connect(gw.addr);
    next.cmd("EHLO client.test");
    assert!(next
        .mail("alice@sender.example", &["bob@example.com"], HELLO)
        .starts_with("250"));
    std::fs::remove_dir_all(dir).ok();
}

/// Reads what the gateway says within `within`, or what it said before closing.
fn read_for(stream: &mut TcpStream, within: Duration) -> String {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while start.elapsed() < within {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    text(&got)
}

/// Sends `bytes` one at a time, `gap` apart, until the gateway answers with 421 or `limit`
/// passes; what it said, and how long that took.
fn trickle(
    stream: &mut TcpStream,
    bytes: &[u8],
    gap: Duration,
    limit: Duration,
) -> (String, Duration) {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let start = Instant::now();
    let mut heard = Vec::new();
    let mut buf = [0u8; 512];
    for b in bytes.iter().cycle() {
        if start.elapsed() > limit {
            break;
        }
        if stream.write_all(&[*b]).is_err() {
            break;
        }
        let wake = Instant::now() + gap;
        while Instant::now() < wake {
            match stream.read(&mut buf) {
                Ok(0) => return (text(&heard), start.elapsed()),
                Ok(n) => heard.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        if text(&heard).contains("421") {
            break;
        }
    }
    (text(&heard), start.elapsed())
}

#[test]
fn regression_slowloris_a_byte_now_and_then_no_longer_holds_a_connection() {
    let dir = temp_dir("hostile-slowloris");
    let cfg = config(
        &dir,
        "command_timeout_secs = 2\ndata_timeout_secs = 2\nmax_junk_commands = 5\nmax_session_secs = 4\nmax_connections_per_ip = 3\n",
    );
    let gw = Gateway::start(&cfg);

    // A command line that never ends, one byte every 300 ms: closed at the command deadline.
    let mut s = TcpStream::connect(gw.addr).unwrap();
    assert!(read_for(&mut s, Duration::from_millis(500)).starts_with("220"));
    let (said, took) = trickle(
        &mut s,
        b"NOOP",
        Duration::from_millis(300),
        Duration::from_secs(8),
    );
    assert!(said.contains("421 4.4.2"), "{said:?} after {took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // The same inside DATA: the whole message has data_timeout_secs.
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    assert!(c.cmd("MAIL FROM:<a@sender.example>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let mut raw = c.stream().try_clone().unwrap();
    let (said, took) = trickle(
        &mut raw,
        b"x",
        Duration::from_millis(300),
        Duration::from_secs(8),
    );
    assert!(said.contains("421 4.4.2"), "{said:?} after {took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // Whole NOOP lines, as many as it likes: the sixth junk command closes the connection.
    let mut c = Client::connect(gw.addr);
    for _ in 0..5 {
        assert!(c.cmd("NOOP").starts_with("250"));
    }
    let r = c.cmd("NOOP");
    assert!(r.starts_with("421 4.7.0"), "{r}");

    // Busy but endless: closed once the session is max_session_secs old.
    let mut c = Client::connect(gw.addr);
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(8) {
        last = c.cmd("EHLO client.test");
        if last.starts_with("421") || last.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(last.starts_with("421 4.4.2"), "{last:?}");
    assert!(start.elapsed() < Duration::from_secs(6));

    // One address holds at most max_connections_per_ip; another address is still served.
    let _a = Client::connect(gw.addr);
    let _b = Client::connect(gw.addr);
    let _c = Client::connect(gw.addr);
    let mut fourth = TcpStream::connect(gw.addr).unwrap();
    let said = read_for(&mut fourth, Duration::from_millis(800));
    assert!(said.starts_with("421 4.7.0"), "{said:?}");
    let mut elsewhere = common::connect_from("127.0.0.2".parse().unwrap(), gw.addr);
    let said = read_for(&mut elsewhere, Duration::from_millis(800));
    assert!(said.starts_with("220"), "{said:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// Envelope addresses with quoted local parts, relayed through the gateway to `next_hop`; the
/// command lines the sink received.
fn relay_quoted_addresses(gw: &Gateway, sink: &Sink) -> Vec<String> {
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    let r = c.cmd("MAIL FROM:<\"y> RET=FULL ENVID=zz\"@sender.example>");
    assert!(r.starts_with("250"), "{r}");
    for rcpt in [
        "\"evil@outside.test>\"@example.com",
        "\"x> NOTIFY=SUCCESS ORCPT=rfc822;a@b\"@example.com",
    ] {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>"));
        assert!(r.starts_with("250"), "{rcpt}: {r}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(&mailmoat_gateway::wire_form(HELLO.as_bytes()));
    let r = c.reply();
    assert!(r.starts_with("250"), "{r}");
    let got = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(got.len(), 1, "{}", gw.log.lock().unwrap());
    sink.commands.lock().unwrap().clone()
}

fn assert_no_injection(commands: &[String]) {
    let mail: Vec<&String> = commands
        .iter()
        .filter(|l| l.starts_with("MAIL FROM:"))
        .collect();
    let rcpt: Vec<&String> = commands
        .iter()
        .filter(|l| l.starts_with("RCPT TO:"))
        .collect();
    assert_eq!(
        mail.last().map(|l| l.as_str()),
        Some("MAIL FROM:<\"y> RET=FULL ENVID=zz\"@sender.example>"),
        "{commands:#?}"
    );
    assert!(
        rcpt.iter()
            .any(|l| l.as_str() == "RCPT TO:<\"evil@outside.test>\"@example.com>"),
        "{commands:#?}"
    );
    assert!(
        rcpt.iter()
            .any(|l| l.as_str() == "RCPT TO:<\"x> NOTIFY=SUCCESS ORCPT=rfc822;a@b\"@example.com>"),
        "{commands:#?}"
    );
    assert!(
        !commands
            .iter()
            .any(|l| l.contains("outside.test") && !l.contains("\"evil@outside.test>\"")),
        "{commands:#?}"
    );
}

#[test]
fn regression_quoted_local_parts_reach_the_downstream_quoted_and_inject_no_parameters() {
    let dir = temp_dir("hostile-quoting");
    let sink = Sink::start(0);
    let cfg = config(
        &dir,
        &format!("[gateway.routes]\ndefault = \"smtp://{}\"\n", sink.addr),
    );
    let gw = Gateway::start(&cfg);
    assert_no_injection(&relay_quoted_addresses(&gw, &sink));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn regression_quoted_local_parts_through_a_real_postfix_relay_nowhere_else() {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0");
    if !(have("postfix") && is_root) {
        println!("SKIP: needs Debian's postfix, and root to run a private Postfix");
        return;
    }
    let dir = temp_dir("hostile-quoting-postfix");
    let sink = Sink::start(0);
    // gateway → Postfix (trusts the gateway: mynetworks) → sink.
    let postfix = Postfix::start(&dir.join("postfix"), sink.addr)
        .unwrap_or_else(|e| panic!("postfix is installed but would not start: {e}"));
    let cfg = config(
        &dir,
        &format!(
            "[gateway.routes]\ndefault = \"smtp://127.0.0.1:{}\"\n",
            postfix.port
        ),
    );
    let gw = Gateway::start(&cfg);
    let commands = relay_quoted_addresses(&gw, &sink);
    // Postfix hands on exactly the quoted recipients it was given, and nothing for outside.test.
    let rcpt: Vec<&String> = commands
        .iter()
        .filter(|l| l.starts_with("RCPT TO:"))
        .collect();
    assert_eq!(rcpt.len(), 2, "{commands:#?}");
    assert!(
        rcpt.iter()
            .any(|l| l.contains("\"evil@outside.test>\"@example.com")),
        "{commands:#?}"
    );
    assert!(
        !commands
            .iter()
            .any(|l| l.contains("NOTIFY=") && !l.contains('"')),
        "{commands:#?}"
    );
    drop(gw);
    drop(postfix);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn regression_recipients_differing_in_quoted_characters_get_their_own_maildir() {
    let dir = temp_dir("hostile-maildir");
    let cfg = config(&dir, "");
    let gw = Gateway::start(&cfg);
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    assert!(c.cmd("MAIL FROM:<alice@sender.example>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<\"sp ace\"@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(&mailmoat_gateway::wire_form(HELLO.as_bytes()));
    assert!(c.reply().starts_with("250"));
    let spaced = dir.join("var/delivered/sp%20ace@example.com/new");
    let start = Instant::now();
    while std::fs::read_dir(&spaced).map(|d| d.count()).unwrap_or(0) < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{}",
            gw.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.join("var/delivered/sp_ace@example.com").exists());
    std::fs::remove_dir_all(dir).ok();
}

/// The gateway's resident memory now and at its peak, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A reproducible damaged message: a real-looking one cut, flipped, repeated and nested.
fn damaged(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces: [&[u8]; 12] = [
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQ===\r\n",
        b"Content-Type: text/html; charset=\"x-unknown\"\r\n\r\n<a href=\"http://x\">",
        b"=?utf-8?B?7ZWc6rWt?= =?euc-kr?Q?=C7=D1?=\r\n",
        b"--b--\r\n",
        b"Subject: \x00\xff\xfe\r\n",
        b"Content-Type: multipart/alternative; boundary=\r\n\r\n",
        b"\r\n.\r\n..\r\n",
        b"Content-Disposition: attachment; filename=\"a.pdf\r\n\r\n%PDF-1.7 /JS (app.alert(1))",
        b"Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBBQAAAAIAA==\r\n",
        b"Received: from [999.1.1.1] (\r\n\t(((\r\n",
    ];
    let mut m = format!(
        "From: Sender {seed} <s{seed}@sender.example>\r\nTo: bob@example.com\r\nSubject: damaged {seed}\r\n"
    )
    .into_bytes();
    for _ in 0..(next() % 40) {
        let piece = pieces[(next() % pieces.len() as u64) as usize];
        let repeat = if next() % 10 == 0 {
            1 + next() % 2000
        } else {
            1
        };
        for _ in 0..repeat {
            m.extend_from_slice(piece);
        }
    }
    for _ in 0..(next() % 8) {
        if m.is_empty() {
            break;
        }
        let at = (next() % m.len() as u64) as usize;
        m[at] = next() as u8;
    }
    if next() % 5 == 0 {
        let cut = (next() % m.len().max(1) as u64) as usize;
        m.truncate(cut);
    }
    m
}

#[test]
fn a_thousand_damaged_messages_are_all_delivered_or_quarantined_and_the_gateway_lives() {
    let dir = temp_dir("hostile-thousand");
    let cfg = config(&dir, "[policy]\nreject = 1000.0\n");
    let mut gw = Gateway::start(&cfg);
    let pid = gw.child.id();
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    let (mut acknowledged, mut refused) = (0usize, 0usize);
    for seed in 0..1000u64 {
        if seed % 100 == 0 {
            c = Client::connect(gw.addr);
            c.cmd("EHLO client.test");
        }
        let reply = c.mail_raw("s@sender.example", &["bob@example.com"], &damaged(seed));
        match reply.get(..1) {
            Some("2") => acknowledged += 1,
            Some("5") => refused += 1,
            _ => panic!("message {seed}: {reply:?}\n{}", gw.log.lock().unwrap()),
        }
    }
    assert!(alive(&mut gw));
    let (rss, peak) = memory_kib(pid);
    let quarantined = || {
        let out = common::run(&[
            "quarantine",
            "list",
            "--json",
            "--limit",
            "0",
            "--config",
            cfg.to_str().unwrap(),
        ]);
        text(&out.stdout).lines().count()
    };
    let delivered = || {
        std::fs::read_dir(dir.join("var/delivered/bob@example.com/new"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let start = Instant::now();
    while delivered() + quarantined() < acknowledged && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "damaged messages: {acknowledged} acknowledged = {} delivered + {} quarantined; {refused} refused with a 5xx; memory {rss} KiB now, {peak} KiB at the peak",
        delivered(),
        quarantined()
    );
    assert_eq!(
        delivered() + quarantined(),
        acknowledged,
        "nothing acknowledged is lost"
    );
    assert_eq!(acknowledged + refused, 1000);
    assert!(
        peak < 1024 * 1024,
        "memory stays bounded: {peak} KiB at the peak"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_systemd_unit_is_valid() {
    if !have("systemd-analyze") {
        println!("SKIP: systemd-analyze is not installed");
        return;
    }
    let unit =
        std::fs::read_to_string(common::root().join("contrib/systemd/mailmoat.service")).unwrap();
    for needed in [
        "Restart=always",
        "LimitNOFILE=",
        "MemoryMax=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(needed), "{needed}");
    }
    // Checked as installed, with this build's binary where the unit expects it.
    let dir = temp_dir("systemd-unit");
    let path = dir.join("mailmoat.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/mailmoat", env!("CARGO_BIN_EXE_mailmoat")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    // It warns (status 0) about what it ignores: any word from it is a mistake in the unit.
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_crash_mid_load_restarts_cleanly_with_nothing_lost() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = temp_dir("hostile-restart");
    let sink = Sink::start(0);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(
        &dir,
        &format!("[gateway.routes]\ndefault = \"smtp://{}\"\n", sink.addr),
    );
    // One fixed address, as a supervisor restarts the same configuration.
    let body = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&cfg, body).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // A sender that keeps sending, as MTAs do, through the crashes.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = TcpStream::connect(addr) else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let subject = format!("restart-{n}");
                n += 1;
                let message = HELLO.replace("Subject: lunch", &format!("Subject: {subject}"));
                let wire = mailmoat_gateway::wire_form(message.as_bytes());
                let mut script = b"EHLO client.test\r\nMAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n".to_vec();
                if s.write_all(&script).is_err() {
                    continue;
                }
                // Greeting, EHLO (several lines), MAIL, RCPT, 354: then the message.
                let said = read_until(&mut s, "354");
                if !said.contains("354") {
                    continue;
                }
                script.clear();
                script.extend_from_slice(&wire);
                if s.write_all(&script).is_err() {
                    continue;
                }
                let reply = read_until(&mut s, "\r\n");
                if reply.starts_with("250") {
                    acknowledged.lock().unwrap().push(subject);
                }
            }
        })
    };
    for round in 0..3 {
        let mut gw = Gateway::start(&cfg);
        std::thread::sleep(Duration::from_millis(400 + 200 * round));
        // SIGABRT: what a stack overflow or a failed assertion does to the process.
        let pid = gw.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-ABRT", &pid])
            .status()
            .unwrap()
            .success());
        let status = gw.child.wait().unwrap();
        assert!(!status.success(), "it really died: {status:?}");
    }
    // The supervisor's last restart delivers what the crashes left in the spool.
    let gw = Gateway::start(&cfg);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 3, "{acknowledged:?}");
    let start = Instant::now();
    let lost = loop {
        let got = sink.messages.lock().unwrap().clone();
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|s| {
                !got.iter()
                    .any(|m| m.data.contains(&format!("Subject: {s}\r\n")))
            })
            .collect();
        if lost.is_empty() || start.elapsed() > Duration::from_secs(60) {
            break lost.into_iter().cloned().collect::<Vec<_>>();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        lost.is_empty(),
        "lost {lost:?} of {}\n{}",
        acknowledged.len(),
        gw.log.lock().unwrap()
    );
    println!(
        "{} acknowledged across 3 aborts, all delivered",
        acknowledged.len()
    );
    std::fs::remove_dir_all(dir).ok();
}

/// What the server says up to and including a line holding `marker` (or until it stops).
fn read_until(s: &mut TcpStream, marker: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.contains(marker) && text.ends_with("\r\n") {
            return text;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return text,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn regression_queue_retry_is_delivered_within_a_second_or_two() {
    // `queue retry` said "due now" but the gateway read the queue again only every 10 s.
    let dir = temp_dir("hostile-retry");
    let sink = Sink::start(1);
    let cfg = config(
        &dir,
        &format!("[gateway.routes]\ndefault = \"smtp://{}\"\n", sink.addr),
    );
    let body = std::fs::read_to_string(&cfg).unwrap().replace(
        "retry_intervals_secs = [1]",
        "retry_intervals_secs = [3600]",
    );
    std::fs::write(&cfg, body).unwrap();
    let gw = Gateway::start(&cfg);
    let mut c = Client::connect(gw.addr);
    c.cmd("EHLO client.test");
    let r = c.mail("alice@sender.example", &["later@example.com"], HELLO);
    let id = r.trim().rsplit(' ').next().unwrap().to_string();
    // The first attempt is deferred (451); the next is an hour away.
    let start = Instant::now();
    let c_arg = cfg.to_str().unwrap();
    loop {
        let listing = text(&common::run(&["queue", "list", "--config", c_arg]).stdout);
        if listing.contains("451") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{listing}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sink.messages.lock().unwrap().is_empty());
    let asked = Instant::now();
    assert!(common::run(&["queue", "retry", "--config", c_arg, &id])
        .status
        .success());
    let got = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "{}", gw.log.lock().unwrap());
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    std::fs::remove_dir_all(dir).ok();
}

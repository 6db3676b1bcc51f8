//! The milter of `mailmoat serve` behind a real Postfix (Debian's, a private instance on
//! loopback, `smtpd_milters` pointing at mailmoat): mail goes through Postfix and arrives
//! tagged, is refused with our reply, or is held in Postfix's hold queue and mailmoat's
//! quarantine, as the verdict says; Postfix keeps working when mailmoat is killed.
//! Skipped, with the reason, where Postfix is absent or cannot be started.

mod common;
mod smtp_kit;

use std::net::SocketAddr;
use std::time::Duration;

use common::{temp_dir, text};
use smtp_kit::{config, free_port, have, Client, Gateway, Postfix, Sink, HELLO};

/// Rules that tag or hold on a subject word, so those paths can be tested with a plain message.
const RULES: &str = r#"
[[rule]]
name = "TEST_TAG_WORD"
description = "A test rule: the subject says TAGME"
category = "spam"
score = 1.0
action = "tag"
when = { subject = 'TAGME' }

[[rule]]
name = "TEST_HOLD_WORD"
description = "A test rule: the subject says HOLDME"
category = "spam"
score = 1.0
action = "quarantine"
when = { subject = 'HOLDME' }
"#;

#[test]
fn postfix_with_the_milter_delivers_tags_refuses_and_holds_as_the_verdict_says() {
    if !have("postfix") {
        eprintln!("skipped: postfix is not installed (Debian package postfix)");
        return;
    }
    let dir = temp_dir("milter-postfix");
    std::fs::write(dir.join("local.toml"), RULES).unwrap();
    let sink = Sink::start(0);
    let milter_port = free_port();
    // The disguised executable scores 19 once Postfix has given it a Message-ID (its attachment
    // evidence alone): refused here from 18, so the refusal path is the verdict's own.
    let cfg = config(
        &dir,
        &format!(
            "[gateway.routes]\ndefault = \"smtp://{}\"\n[rules]\nfiles = [\"local.toml\"]\n[milter]\nlisten = \"127.0.0.1:{milter_port}\"\n[policy]\nreject = 18.0\n",
            sink.addr
        ),
    );
    let gw = Gateway::start(&cfg);
    let postfix = match Postfix::start_with(
        &dir.join("postfix"),
        sink.addr,
        &format!(
            "smtpd_milters = inet:127.0.0.1:{milter_port}\nmilter_default_action = accept\nmilter_protocol = 6\n"
        ),
    ) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: cannot start postfix here: {why}");
            return;
        }
    };
    let postfix_addr: SocketAddr = format!("127.0.0.1:{}", postfix.port).parse().unwrap();
    let send_raw = |message: &[u8]| {
        let mut c = Client::connect(postfix_addr);
        assert!(c.cmd("EHLO client.test").starts_with("250"));
        c.mail_raw("alice@sender.example", &["bob@example.com"], message)
    };
    let send = |message: &str| send_raw(message.as_bytes());

    // Clean: delivered through Postfix with our verdict headers; a forged one is gone.
    let forged = format!("X-Mailmoat-Action: reject\n{HELLO}");
    let reply = send(&forged);
    assert!(reply.starts_with("250"), "{reply}");
    let got = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(got.len(), 1, "{}", gw.log.lock().unwrap());
    let data = &got[0].data;
    assert!(data.contains("X-Mailmoat-Action: deliver\r\n"), "{data}");
    assert!(!data.contains("X-Mailmoat-Action: reject"), "{data}");
    assert!(data.contains("X-Mailmoat-Score: "), "{data}");

    // Tagged: the subject carries the prefix.
    let tagged = HELLO.replace("Subject: lunch", "Subject: TAGME lunch");
    let reply = send(&tagged);
    assert!(reply.starts_with("250"), "{reply}");
    let got = sink.wait_for(2, Duration::from_secs(30));
    assert_eq!(got.len(), 2, "{}", gw.log.lock().unwrap());
    let data = &got[1].data;
    assert!(data.contains("Subject: [SPAM] TAGME lunch"), "{data}");
    assert!(data.contains("X-Mailmoat-Action: tag\r\n"), "{data}");

    // Refused: our reply reaches the client through Postfix.
    let exe = text(&std::fs::read(common::root().join("samples/02-invoice-exe.eml")).unwrap());
    let reply = send(&exe);
    assert!(
        reply.starts_with("550") && reply.contains("Message refused by policy"),
        "{reply}"
    );

    // Held: in Postfix's hold queue and in mailmoat's quarantine.
    let reply = send(&HELLO.replace("Subject: lunch", "Subject: HOLDME lunch"));
    assert!(reply.starts_with("250"), "{reply}");
    let mut queue = String::new();
    for _ in 0..50 {
        queue = postfix.queue();
        if queue.contains('!') {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        queue.contains('!'),
        "held in Postfix's hold queue: {queue}\n{}\n{}",
        gw.log.lock().unwrap(),
        sink.messages.lock().unwrap().len()
    );
    let held = common::bin()
        .args(["quarantine", "list", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let held = text(&held.stdout);
    assert!(
        held.contains("bob@example.com"),
        "in mailmoat's quarantine: {held}"
    );

    // mailmoat killed: Postfix goes on (milter_default_action = accept).
    gw.kill();
    let reply = send(HELLO);
    assert!(reply.starts_with("250"), "{reply}");
    let got = sink.wait_for(3, Duration::from_secs(30));
    assert_eq!(got.len(), 3, "delivered without the milter");
    assert!(!got[2].data.contains("X-Mailmoat-Action"), "not scanned");
    drop(postfix);
    std::fs::remove_dir_all(dir).ok();
}

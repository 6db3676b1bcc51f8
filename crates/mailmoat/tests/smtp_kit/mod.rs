//! The gateway test kit: a sink SMTP server that records what it receives (and can refuse
//! chosen recipients), a line-by-line SMTP client, and a running gateway process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

/// A downstream SMTP server on 127.0.0.1. Recipients starting with "refuse" get 550, those
/// starting with "later" get 451 the first `later_times` times.
pub struct Sink {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<Received>>>,
    /// Every command line received, as sent (outside DATA).
    pub commands: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    pub fn start(later_times: usize) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let commands: Arc<Mutex<Vec<String>>> = Arc::default();
        let later = Arc::new(Mutex::new(0usize));
        let store = messages.clone();
        let lines = commands.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let store = store.clone();
                let later = later.clone();
                let lines = lines.clone();
                std::thread::spawn(move || {
                    let _ = sink_session(stream, &store, &lines, &later, later_times);
                });
            }
        });
        Sink {
            addr,
            messages,
            commands,
        }
    }

    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.messages.lock().unwrap().clone();
            if got.len() >= count || start.elapsed() > within {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn sink_session(
    stream: TcpStream,
    store: &Mutex<Vec<Received>>,
    commands: &Mutex<Vec<String>>,
    later: &Mutex<usize>,
    later_times: usize,
) -> std::io::Result<()> {
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 sink ESMTP\r\n")?;
    let mut cur = Received {
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        commands.lock().unwrap().push(line.trim_end().to_string());
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250 PIPELINING\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            cur.mail_from = between(&line);
            cur.rcpt_to.clear();
            w.write_all(b"250 ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = between(&line);
            if rcpt.starts_with("refuse") {
                w.write_all(b"550 5.1.1 no such user\r\n")?;
            } else if rcpt.starts_with("later") && {
                let mut n = later.lock().unwrap();
                *n += 1;
                *n <= later_times
            } {
                w.write_all(b"451 4.3.0 try later\r\n")?;
            } else {
                cur.rcpt_to.push(rcpt);
                w.write_all(b"250 ok\r\n")?;
            }
        } else if upper.starts_with("DATA") {
            w.write_all(b"354 go\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                r.read_line(&mut line)?;
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            cur.data = data;
            store.lock().unwrap().push(cur.clone());
            w.write_all(b"250 queued\r\n")?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 ok\r\n")?;
        }
    }
}

fn between(line: &str) -> String {
    let start = line.find('<').map(|i| i + 1).unwrap_or(0);
    let end = line.rfind('>').unwrap_or(line.len());
    line[start..end.max(start)].to_string()
}

/// A running `mailmoat serve`, killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Gateway {
    pub fn start(config: &Path) -> Gateway {
        let mut child = super::common::bin()
            .args(["serve", "--config", config.to_str().unwrap()])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start mailmoat serve");
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<String>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut line = String::new();
            let mut tx = Some(tx);
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    if let Some(t) = tx.take() {
                        let _ = t.send(rest.split_whitespace().next().unwrap_or("").to_string());
                    }
                }
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr.parse().unwrap(),
            // Say why: the gateway's own log, not only that it never listened.
            Err(e) => {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "the gateway reports its address: {e}; its log:\n{}",
                    log.lock().unwrap()
                )
            }
        };
        Gateway { child, addr, log }
    }

    /// kill -9: no chance to flush or clean up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A gateway storing under `dir` with one of its services (`[section]`: spamd, rspamd,
/// milter) listening on a free loopback port, `section_lines` added to that section and
/// `extra` before it; returns once the service accepts connections.
pub fn start_with_service(
    dir: &Path,
    section: &str,
    section_lines: &str,
    extra: &str,
) -> (Gateway, SocketAddr) {
    let port = free_port();
    let cfg = config(
        dir,
        &format!("{extra}\n[{section}]\nlisten = \"127.0.0.1:{port}\"\n{section_lines}"),
    );
    let gw = Gateway::start(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    (gw, addr)
}

/// A config for a gateway on a free loopback port, storing under `dir`.
pub fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("mailmoat.toml");
    // Tests never wait for DNS: answers come from the config alone unless a test gives its own.
    let dns = if extra.contains("[auth.dns]") {
        ""
    } else {
        "[auth.dns]\nonly_records = true\n"
    };
    // Gateways of parallel tests must not share the console's, spamd's, rspamd's or the
    // milter's port: off unless asked for.
    let console = if extra.contains("[console]") {
        ""
    } else {
        "[console]\nlisten = \"\"\n"
    };
    let spamd = if extra.contains("[spamd]") {
        ""
    } else {
        "[spamd]\nlisten = \"\"\n"
    };
    let rspamd = if extra.contains("[rspamd]") {
        ""
    } else {
        "[rspamd]\nlisten = \"\"\n"
    };
    let milter = if extra.contains("[milter]") {
        ""
    } else {
        "[milter]\nlisten = \"\"\n"
    };
    let health = if extra.contains("health_listen") {
        ""
    } else {
        "health_listen = \"\"\n"
    };
    std::fs::write(
        &path,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\n{health}hostname = \"gw.test\"\nprotected_domains = [\"example.com\", \".corp.example\"]\nretry_intervals_secs = [1]\n{extra}\n{dns}{console}{spamd}{rspamd}{milter}"
        ),
    )
    .unwrap();
    path
}

/// An SMTP client speaking one line at a time.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let greeting = c.reply();
        assert!(greeting.starts_with("220"), "{greeting}");
        c
    }

    /// The next reply (all lines of a multi-line one).
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).unwrap_or(0) == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    /// The socket, for writing below the line level.
    pub fn stream(&self) -> &TcpStream {
        &self.w
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.w.write_all(raw).unwrap();
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// A whole transaction with a message in any charset; the reply to the end of DATA.
    pub fn mail_raw(&mut self, from: &str, to: &[&str], message: &[u8]) -> String {
        assert!(self.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
        for t in to {
            let r = self.cmd(&format!("RCPT TO:<{t}>"));
            assert!(r.starts_with("250"), "{t}: {r}");
        }
        assert!(self.cmd("DATA").starts_with("354"));
        let wire = mailmoat_gateway::wire_form(message);
        self.send(&wire);
        self.reply()
    }

    /// A whole transaction; the reply to the end of DATA.
    pub fn mail(&mut self, from: &str, to: &[&str], message: &str) -> String {
        self.mail_raw(from, to, message.as_bytes())
    }

    pub fn read_all(&mut self) -> String {
        let mut s = String::new();
        let _ = self.r.read_to_string(&mut s);
        s
    }
}

pub const HELLO: &str = "From: Alice <alice@sender.example>\nTo: Bob <bob@example.com>\nSubject: lunch\nDate: Mon, 23 Nov 2026 01:00:00 +0000\nMessage-ID: <m1@sender.example>\n\nShall we have lunch on Tuesday?\n.dotted line\n";

/// A private Postfix instance on loopback (Debian's postfix, run as root), relaying
/// example.com to `next_hop`. Stopped when dropped.
pub struct Postfix {
    dir: std::path::PathBuf,
    child: std::process::Child,
    pub port: u16,
}

impl Postfix {
    pub fn start(dir: &std::path::Path, next_hop: std::net::SocketAddr) -> Result<Postfix, String> {
        Postfix::start_with(dir, next_hop, "")
    }

    /// As [`Postfix::start`], with more `main.cf` lines (a milter, say).
    pub fn start_with(
        dir: &std::path::Path,
        next_hop: std::net::SocketAddr,
        main_cf: &str,
    ) -> Result<Postfix, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let (etc, spool, data) = (dir.join("etc"), dir.join("spool"), dir.join("data"));
        for d in [&etc, &spool, &data] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        let chown = std::process::Command::new("chown")
            .arg("postfix")
            .arg(&data)
            .status();
        if !chown.is_ok_and(|s| s.success()) {
            return Err("cannot give the data folder to the postfix user".into());
        }
        let master =
            std::fs::read_to_string("/etc/postfix/master.cf").map_err(|e| e.to_string())?;
        let master: String = master
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() >= 8 && f[0] == "smtp" && f[1] == "inet" {
                    format!("127.0.0.1:{port} inet n - n - - smtpd")
                } else if f.len() >= 8 && !l.starts_with('#') && !l.starts_with(' ') && f[4] == "y"
                {
                    // No chroot: the private queue folder has none of the chroot's files.
                    let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
                    f[4] = "n".into();
                    f.join(" ")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(etc.join("master.cf"), master + "\n").map_err(|e| e.to_string())?;
        std::fs::write(
            etc.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {}\ndata_directory = {}\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmyhostname = postfix.test\nmydestination =\nrelay_domains = example.com\ntransport_maps = inline:{{ example.com=smtp:[{}]:{} }}\nmynetworks = 127.0.0.0/8\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\nalias_maps =\nalias_database =\nlocal_recipient_maps =\nsmtp_tls_security_level = none\nmaillog_file = /dev/stdout\n{main_cf}\n",
                spool.display(),
                data.display(),
                next_hop.ip(),
                next_hop.port()
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = std::process::Command::new("postfix")
            .arg("-c")
            .arg(&etc)
            .arg("start-fg")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let pf = Postfix {
            dir: dir.to_path_buf(),
            child,
            port,
        };
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                return Err("postfix did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(pf)
    }
}

impl Postfix {
    /// `postqueue -p` of this instance: what waits, held messages marked `!`.
    pub fn queue(&self) -> String {
        let out = std::process::Command::new("postqueue")
            .arg("-c")
            .arg(self.dir.join("etc"))
            .arg("-p")
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = std::process::Command::new("postfix")
            .arg("-c")
            .arg(self.dir.join("etc"))
            .arg("stop")
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

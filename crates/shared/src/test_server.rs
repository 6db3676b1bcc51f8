//! For tests: a real `redis-server` (Debian's package) on a free loopback port with its data in
//! a temporary folder, stopped and removed on drop. It can be stopped and started again on the
//! same port to test what happens while Redis is down.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// `None`, with the reason printed, when `redis-server` is not installed.
    pub fn start(name: &str) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("skipped: redis-server is not installed (Debian package redis-server)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("mm-redis-{name}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("redis folder");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
        };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server (its data is gone: no persistence is configured).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and waits until it answers.
    pub fn resume(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url()).expect("address");
        loop {
            if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200)) {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer in 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// For tests: a real PostgreSQL server (Debian's `postgresql` package) on a free loopback port,
/// its cluster made by `initdb` in a temporary folder (as the `postgres` user when the tests
/// run as root, since the server refuses to run as root), removed on drop. It can be stopped
/// and started again to test what happens while it is down.
pub struct PostgresServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The user to run as (uid, gid) when running as root.
    user: Option<(u32, u32)>,
    child: Option<Child>,
    /// Serving TLS only, over TCP, with this certificate and key (PEM).
    tls: bool,
}

impl PostgresServer {
    /// `None`, with the reason printed, when PostgreSQL's server programs are not installed.
    pub fn start(name: &str) -> Option<PostgresServer> {
        PostgresServer::start_with(name, None)
    }

    /// A server that accepts TCP clients over TLS only, with this certificate and key (PEM).
    pub fn start_tls(name: &str, cert_pem: &str, key_pem: &str) -> Option<PostgresServer> {
        PostgresServer::start_with(name, Some((cert_pem, key_pem)))
    }

    fn start_with(name: &str, tls: Option<(&str, &str)>) -> Option<PostgresServer> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|b| b.join("initdb").exists())
                .max()
        }) else {
            eprintln!("skipped: PostgreSQL's server is not installed (Debian package postgresql)");
            return None;
        };
        let user = if is_root() {
            match id_of("postgres") {
                Some(ids) => Some(ids),
                None => {
                    eprintln!("skipped: running as root and there is no postgres user to run the server as");
                    return None;
                }
            }
        } else {
            None
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("mm-pg-{name}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("postgres folder");
        let mut server = PostgresServer {
            port,
            dir,
            bin,
            user,
            child: None,
            tls: tls.is_some(),
        };
        server.chown(&server.dir.clone());
        let status = server
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "mailmoat",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(server.dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            let data = server.dir.join("data");
            std::fs::write(data.join("server.crt"), cert).expect("server.crt");
            std::fs::write(data.join("server.key"), key).expect("server.key");
            // The server refuses a key others can read.
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("server.key mode");
            // TCP clients must use TLS; the local socket (this helper's readiness check) need not.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .expect("pg_hba.conf");
            for f in ["server.crt", "server.key", "pg_hba.conf"] {
                server.chown(&data.join(f));
            }
        }
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgresql://mailmoat@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
        c
    }

    fn chown(&self, path: &std::path::Path) {
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
        }
    }

    /// Stops the server (a fast shutdown: clients are cut off at once; its data stays, and a
    /// restart finds it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT, not SIGKILL: a killed postmaster leaves its backends holding the shared
            // memory, and the restart would refuse to start.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and waits until it answers.
    pub fn resume(&mut self) {
        self.stop();
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                &self.port.to_string(),
            ])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=off"])
            .args(["-c", if self.tls { "ssl=on" } else { "ssl=off" }])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Through the local socket, which answers whether or not TCP needs TLS.
            let local = format!(
                "host={} port={} user=mailmoat dbname=postgres",
                self.dir.display(),
                self.port
            );
            if let Ok(mut c) = postgres::Client::connect(&local, postgres::NoTls) {
                if c.simple_query("SELECT 1").is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "postgres did not answer in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    // The effective user, as the kernel reports it for this process.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A user's uid and gid, from `id`.
fn id_of(user: &str) -> Option<(u32, u32)> {
    let number = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((number("-u")?, number("-g")?))
}

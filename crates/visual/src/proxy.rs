//! The only way out for the headless browser: an HTTP proxy on 127.0.0.1 that resolves each
//! destination itself, refuses private, loopback, link-local and other internal addresses (so a
//! link in mail cannot make the gateway's browser reach the company's own network: SSRF), and
//! stops after a byte budget per capture. Chromium resolves nothing itself behind a proxy, and
//! the proxy connects to the address it checked, so DNS rebinding cannot slip past.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Addresses a page fetched for a mail link must never reach: everything that is not a public
/// unicast address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 can reach IPv4 internals
                || (s[0] == 0x2002) // 6to4 embeds any IPv4 address
                || v6.to_ipv4().is_some() // IPv4-compatible ::a.b.c.d
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

/// What one capture's traffic did, for the report and the tests.
#[derive(Debug, Default, Clone)]
pub struct ProxyLog {
    /// host:port of every destination asked for, allowed or not, in order.
    pub requested: Vec<String>,
    /// Destinations refused because they are internal, with the reason.
    pub refused: Vec<String>,
    /// Destinations that could not be resolved or connected to.
    pub unreachable: Vec<String>,
    /// Bytes received from the web for this capture.
    pub bytes_in: u64,
    /// The byte budget ran out and connections were cut.
    pub budget_exhausted: bool,
}

struct Shared {
    allow_loopback: bool,
    byte_budget: u64,
    bytes_in: AtomicU64,
    exhausted: AtomicBool,
    log: Mutex<ProxyLog>,
    stop: AtomicBool,
}

/// A proxy for one capture; dropped when the capture ends (its listener stops).
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Starts on an ephemeral 127.0.0.1 port. `allow_loopback` lets 127.0.0.0/8 and ::1
    /// through (the loopback test pages only; never in production).
    pub fn start(
        allow_loopback: bool,
        byte_budget: u64,
        io_timeout: Duration,
    ) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            allow_loopback,
            byte_budget,
            bytes_in: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
            log: Mutex::new(ProxyLog::default()),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        thread::Builder::new()
            .name("visual-proxy".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = accept_shared.clone();
                    let _ = thread::Builder::new()
                        .name("visual-proxy-conn".into())
                        .spawn(move || {
                            let _ = stream.set_read_timeout(Some(io_timeout));
                            let _ = stream.set_write_timeout(Some(io_timeout));
                            let _ = serve(stream, &shared, io_timeout);
                        });
                }
            })?;
        Ok(Proxy { addr, shared })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn log(&self) -> ProxyLog {
        let mut log = self
            .shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        log.bytes_in = self.shared.bytes_in.load(Ordering::Relaxed);
        log.budget_exhausted = self.shared.exhausted.load(Ordering::Relaxed);
        log
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn note(shared: &Shared, f: impl FnOnce(&mut ProxyLog)) {
    if let Ok(mut log) = shared.log.lock() {
        f(&mut log);
    }
}

/// One client connection: a CONNECT tunnel or one plain-HTTP request (sent upstream with
/// `Connection: close`, so every request opens its own checked connection).
fn serve(client: TcpStream, shared: &Shared, io_timeout: Duration) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    // The request head, 64 KiB at most in all (a page's script chooses its URLs).
    const MAX_HEAD: usize = 64 * 1024;
    let mut head: Vec<String> = Vec::new();
    let mut head_bytes = 0usize;
    loop {
        let mut line = String::new();
        let left = (MAX_HEAD - head_bytes) as u64;
        let n = (&mut reader).take(left).read_line(&mut line)?;
        head_bytes += n;
        if n == 0 || !line.ends_with('\n') {
            return Ok(());
        }
        let end = line == "\r\n" || line == "\n";
        head.push(line);
        if end {
            break;
        }
    }
    let mut client = client;
    let request_line = head[0].trim_end().to_string();
    let mut parts = request_line.split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) => (m.to_string(), t.to_string(), v.to_string()),
        _ => return refuse(&mut client, "400 Bad Request", "malformed request"),
    };
    let (host, port, path) = if method.eq_ignore_ascii_case("CONNECT") {
        match split_host_port(&target, 443) {
            Some((h, p)) => (h, p, String::new()),
            None => return refuse(&mut client, "400 Bad Request", "malformed CONNECT"),
        }
    } else {
        let Some(rest) = target.strip_prefix("http://") else {
            return refuse(
                &mut client,
                "400 Bad Request",
                "only http:// through this proxy",
            );
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        match split_host_port(authority, 80) {
            Some((h, p)) => (h, p, path),
            None => return refuse(&mut client, "400 Bad Request", "malformed URL"),
        }
    };
    let dest = format!("{host}:{port}");
    note(shared, |l| l.requested.push(dest.clone()));
    if shared.exhausted.load(Ordering::Relaxed) {
        return refuse(&mut client, "403 Forbidden", "byte budget spent");
    }
    let upstream = match connect_checked(&host, port, shared.allow_loopback, io_timeout) {
        Ok(s) => s,
        Err(Refusal::Internal(why)) => {
            note(shared, |l| l.refused.push(format!("{dest}: {why}")));
            return refuse(&mut client, "403 Forbidden", "destination refused");
        }
        Err(Refusal::Unreachable(why)) => {
            note(shared, |l| l.unreachable.push(format!("{dest}: {why}")));
            return refuse(&mut client, "502 Bad Gateway", "destination unreachable");
        }
    };
    let _ = upstream.set_read_timeout(Some(io_timeout));
    let _ = upstream.set_write_timeout(Some(io_timeout));
    let mut upstream_w = upstream.try_clone()?;
    if method.eq_ignore_ascii_case("CONNECT") {
        client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    } else {
        let mut out = format!("{method} {path} {version}\r\n");
        for line in &head[1..head.len() - 1] {
            let name = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "proxy-connection" | "connection" | "keep-alive" | "proxy-authorization"
            ) {
                continue;
            }
            out.push_str(line);
        }
        out.push_str("Connection: close\r\n\r\n");
        upstream_w.write_all(out.as_bytes())?;
    }
    // Client to upstream (request bodies, TLS) in a helper thread; upstream to client, counted
    // against the budget, here.
    let buffered: Vec<u8> = reader.buffer().to_vec();
    let client_r = reader.into_inner();
    let up_for_requests = upstream_w.try_clone()?;
    let pump = thread::spawn(move || {
        let mut up = up_for_requests;
        if !buffered.is_empty() {
            let _ = up.write_all(&buffered);
        }
        let mut from = client_r;
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if up.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = up.shutdown(Shutdown::Write);
    });
    let mut from = upstream;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let total = shared.bytes_in.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                if total > shared.byte_budget {
                    shared.exhausted.store(true, Ordering::Relaxed);
                    break;
                }
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream_w.shutdown(Shutdown::Both);
    let _ = pump.join();
    Ok(())
}

fn refuse(client: &mut TcpStream, status: &str, why: &str) -> std::io::Result<()> {
    let body = format!("mailmoat visual analysis: {why}\n");
    write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.rsplit('@').next()?;
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
    .filter(|(h, _)| !h.is_empty())
}

/// Resolves `host` and connects to the first address that is allowed; refuses when every
/// address is internal.
enum Refusal {
    Internal(String),
    Unreachable(String),
}

fn connect_checked(
    host: &str,
    port: u16,
    allow_loopback: bool,
    timeout: Duration,
) -> Result<TcpStream, Refusal> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Refusal::Unreachable(format!("cannot resolve: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Refusal::Unreachable("no address".into()));
    }
    let allowed = |ip: IpAddr| {
        !is_forbidden(ip)
            || (allow_loopback && (ip.is_loopback() || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)))
    };
    let mut last = Refusal::Internal(
        "every address is internal (private, loopback, link-local or reserved)".into(),
    );
    for addr in addrs.iter().filter(|a| allowed(a.ip())) {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Refusal::Unreachable(format!("cannot connect: {e}")),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden_and_public_ones_are_not() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2002:7f00:1::",
            "64:ff9b::a00:1",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_forbidden(good.parse().unwrap()), "{good} is public");
        }
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_host_port("a.example:8080", 80),
            Some(("a.example".into(), 8080))
        );
        assert_eq!(
            split_host_port("a.example", 443),
            Some(("a.example".into(), 443))
        );
        assert_eq!(
            split_host_port("[::1]:8443", 443),
            Some(("::1".into(), 8443))
        );
        assert_eq!(
            split_host_port("user@b.example:81", 80),
            Some(("b.example".into(), 81))
        );
        assert_eq!(split_host_port(":80", 80), None);
        assert_eq!(split_host_port("a.example:x", 80), None);
    }

    fn get_through(proxy: &Proxy, url: &str) -> String {
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {url} HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    fn one_page_server(body: &'static str) -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { continue };
                counter.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (addr, hits)
    }

    #[test]
    fn an_endless_request_head_is_cut_off() {
        let proxy = Proxy::start(true, 1 << 20, Duration::from_secs(5)).unwrap();
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let long = format!(
            "GET http://a.example/{} HTTP/1.1\r\n",
            "x".repeat(100 * 1024)
        );
        let _ = s.write_all(long.as_bytes());
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.is_empty(), "closed without forwarding");
        assert!(proxy.log().requested.is_empty());
    }

    #[test]
    fn loopback_destinations_are_refused_in_production_and_never_contacted() {
        let (addr, hits) = one_page_server("internal secret");
        let proxy = Proxy::start(false, 1 << 20, Duration::from_secs(5)).unwrap();
        let reply = get_through(&proxy, &format!("http://{addr}/admin"));
        assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        assert!(!reply.contains("internal secret"));
        let reply = get_through(&proxy, &format!("http://localhost:{}/admin", addr.port()));
        assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        assert_eq!(
            hits.load(Ordering::Relaxed),
            0,
            "the internal server was never reached"
        );
        let log = proxy.log();
        assert_eq!(log.refused.len(), 2, "{log:?}");
    }

    #[test]
    fn the_test_mode_reaches_loopback_and_the_byte_budget_cuts_big_pages() {
        let (addr, hits) = one_page_server("hello from the kit page");
        let proxy = Proxy::start(true, 1 << 20, Duration::from_secs(5)).unwrap();
        let reply = get_through(&proxy, &format!("http://{addr}/kit"));
        assert!(reply.contains("hello from the kit page"), "{reply}");
        assert_eq!(hits.load(Ordering::Relaxed), 1);

        let small = Proxy::start(true, 10, Duration::from_secs(5)).unwrap();
        let reply = get_through(&small, &format!("http://{addr}/kit"));
        assert!(!reply.contains("hello from the kit page"), "{reply}");
        assert!(small.log().budget_exhausted);
        let again = get_through(&small, &format!("http://{addr}/kit"));
        assert!(
            again.starts_with("HTTP/1.1 403"),
            "after the budget every request is refused"
        );
    }
}

//! `mailmoat loadtest`: SMTP load on a gateway (ours, or Postfix as the reference) over N
//! concurrent connections, with a sink that receives what it relays. Reports acceptance rate,
//! end-to-end rate (messages arriving at the sink) and the latency from the end of DATA to the
//! reply (p50, p99).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use mailmoat_pipeline::sources;

#[derive(clap::Args)]
pub struct Options {
    /// The gateway to load (host:port).
    #[arg(long)]
    pub target: String,
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Messages to send (0: each corpus message once).
    #[arg(long, default_value_t = 0)]
    pub messages: usize,
    /// Where the sink listens (route the gateway's deliveries here).
    #[arg(long, default_value = "127.0.0.1:2626")]
    pub sink: String,
    #[arg(long, default_value = "bob@example.com")]
    pub rcpt: String,
    /// Also answer DNS on this UDP address, every name not existing (point the gateway's
    /// [auth.dns] servers here to load its DNS path without a network).
    #[arg(long)]
    pub dns: Option<String>,
    #[arg(required = true)]
    pub paths: Vec<String>,
}

#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    rejected: AtomicUsize,
    deferred: AtomicUsize,
    failed: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    /// From sending MAIL FROM to the final reply: what the whole transaction took, including
    /// any wait the server imposed before its 354.
    transactions: Mutex<Vec<Duration>>,
}

pub fn run(options: Options) -> anyhow::Result<ExitCode> {
    let corpus: Vec<Vec<u8>> = sources::read_all(&options.paths)?
        .iter()
        .map(|item| mailmoat_gateway::wire_form(&item.raw))
        .collect();
    anyhow::ensure!(!corpus.is_empty(), "no messages found");
    let total = if options.messages == 0 {
        corpus.len()
    } else {
        options.messages
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let sink = TcpListener::bind(&options.sink).await?;
        let received = Arc::new(AtomicUsize::new(0));
        let last_arrival = Arc::new(Mutex::new(Instant::now()));
        tokio::spawn(sink_server(sink, received.clone(), last_arrival.clone()));
        let dns_queries = Arc::new(AtomicUsize::new(0));
        if let Some(addr) = &options.dns {
            let socket = tokio::net::UdpSocket::bind(addr).await?;
            tokio::spawn(nxdomain_server(socket, dns_queries.clone()));
        }

        let corpus = Arc::new(corpus);
        let next = Arc::new(AtomicUsize::new(0));
        let tally = Arc::new(Tally::default());
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..options.connections {
            let (corpus, next, tally) = (corpus.clone(), next.clone(), tally.clone());
            let (target, rcpt) = (options.target.clone(), options.rcpt.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = client(&target, &rcpt, &corpus, total, &next, &tally).await {
                    eprintln!("client: {e}");
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let sent_in = start.elapsed();
        if tally.failed.load(Ordering::Relaxed) == options.connections {
            anyhow::bail!("no connection to {} succeeded", options.target);
        }
        // Delivery is done when the sink has been quiet for two seconds.
        let mut seen = received.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = received.load(Ordering::Relaxed);
            if now == seen {
                break;
            }
            seen = now;
        }
        let delivered_in = last_arrival
            .lock()
            .map(|t| t.duration_since(start))
            .unwrap_or(sent_in);
        let sorted = |l: &Mutex<Vec<Duration>>| {
            let mut v = l.lock().map(|l| l.clone()).unwrap_or_default();
            v.sort();
            v
        };
        let (lat, whole) = (sorted(&tally.latencies), sorted(&tally.transactions));
        let ms = |v: &[Duration], p: f64| {
            v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        let accepted = tally.accepted.load(Ordering::Relaxed);
        println!(
            "target {}: {total} messages over {} connections",
            options.target, options.connections
        );
        println!(
            "replies: {accepted} accepted (250), {} rejected (5xx), {} deferred (4xx); {} connection failures",
            tally.rejected.load(Ordering::Relaxed),
            tally.deferred.load(Ordering::Relaxed),
            tally.failed.load(Ordering::Relaxed)
        );
        println!(
            "sent in {:.2} s: {:.0} messages/s accepted",
            sent_in.as_secs_f64(),
            total as f64 / sent_in.as_secs_f64()
        );
        println!(
            "delivered to the sink: {seen} in {:.2} s: {:.0} messages/s end to end",
            delivered_in.as_secs_f64(),
            seen as f64 / delivered_in.as_secs_f64().max(1e-9)
        );
        println!(
            "end of DATA → reply: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(&lat, 0.50),
            ms(&lat, 0.99),
            ms(&lat, 1.0)
        );
        println!(
            "whole transaction (MAIL FROM → final reply): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(&whole, 0.50),
            ms(&whole, 0.99),
            ms(&whole, 1.0)
        );
        if options.dns.is_some() {
            println!(
                "DNS queries answered (NXDOMAIN, cacheable for {NEGATIVE_TTL} s): {}",
                dns_queries.load(Ordering::Relaxed)
            );
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<u16> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Ok(line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0));
        }
    }
}

async fn client(
    target: &str,
    rcpt: &str,
    corpus: &[Vec<u8>],
    total: usize,
    next: &AtomicUsize,
    tally: &Tally,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    reply(&mut r).await?;
    w.write_all(b"EHLO loadtest.example\r\n").await?;
    reply(&mut r).await?;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let message = &corpus[i % corpus.len()];
        let began = Instant::now();
        w.write_all(
            format!("MAIL FROM:<load{i}@sender.example>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n")
                .as_bytes(),
        )
        .await?;
        let (m, rc, d) = (
            reply(&mut r).await?,
            reply(&mut r).await?,
            reply(&mut r).await?,
        );
        if m != 250 || rc != 250 || d != 354 {
            if d == 354 {
                w.write_all(b".\r\n").await?;
                reply(&mut r).await?;
            }
            w.write_all(b"RSET\r\n").await?;
            reply(&mut r).await?;
            tally.rejected.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let (body, end) = message.split_at(message.len() - 3);
        w.write_all(body).await?;
        let started = Instant::now();
        w.write_all(end).await?;
        let code = reply(&mut r).await?;
        let took = started.elapsed();
        if let Ok(mut l) = tally.latencies.lock() {
            l.push(took);
        }
        if let Ok(mut l) = tally.transactions.lock() {
            l.push(began.elapsed());
        }
        match code / 100 {
            2 => tally.accepted.fetch_add(1, Ordering::Relaxed),
            4 => tally.deferred.fetch_add(1, Ordering::Relaxed),
            _ => tally.rejected.fetch_add(1, Ordering::Relaxed),
        };
    }
    w.write_all(b"QUIT\r\n").await?;
    let _ = reply(&mut r).await;
    Ok(())
}

/// A minimal SMTP server that accepts everything and counts messages.
/// A DNS server on loopback for which no name exists: the gateway's DNS path (UDP queries,
/// answers, caching) runs at full rate without a network, as with a local caching resolver
/// that answers at once.
async fn nxdomain_server(socket: tokio::net::UdpSocket, answered: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(answer) = nxdomain(&buf[..n]) {
            answered.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

/// How long the gateway's resolver may remember that a name does not exist (the SOA's
/// minimum, RFC 2308), as it would from a real recursive resolver.
const NEGATIVE_TTL: u32 = 300;

/// The NXDOMAIN answer to a query: its id and question, recursion available, no records, and
/// in the authority section the SOA (of the root, an ancestor of every name) that real
/// resolvers send with a negative answer, so that it can be cached (RFC 2308).
fn nxdomain(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut i = 12;
    while *query.get(i)? != 0 {
        i += 1 + query[i] as usize;
    }
    let end = i + 5;
    if end > query.len() {
        return None;
    }
    let mut answer = Vec::with_capacity(end);
    answer.extend_from_slice(&query[..2]);
    answer.push(0x80 | (query[2] & 0x01)); // QR, opcode 0, RD as asked
    answer.push(0x80 | 3); // RA, NXDOMAIN
    answer.extend_from_slice(&[0, 1, 0, 0, 0, 1, 0, 0]); // 1 question, 1 authority record
    answer.extend_from_slice(&query[12..end]);
    answer.extend_from_slice(&[0, 0, 6, 0, 1]); // ".", SOA, IN
    answer.extend_from_slice(&NEGATIVE_TTL.to_be_bytes());
    answer.extend_from_slice(&22u16.to_be_bytes());
    answer.extend_from_slice(&[0, 0]); // primary server and mailbox: "."
    for value in [1u32, 1800, 900, 604_800, NEGATIVE_TTL] {
        // serial, refresh, retry, expire, minimum
        answer.extend_from_slice(&value.to_be_bytes());
    }
    Some(answer)
}

async fn sink_server(listener: TcpListener, received: Arc<AtomicUsize>, last: Arc<Mutex<Instant>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (received, last) = (received.clone(), last.clone());
        tokio::spawn(async move {
            let _ = sink_session(stream, &received, &last).await;
        });
    }
}

async fn sink_session(
    stream: TcpStream,
    received: &AtomicUsize,
    last: &Mutex<Instant>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = Vec::new();
    let mut in_data = false;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if in_data {
            if line == b".\r\n" {
                in_data = false;
                received.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut t) = last.lock() {
                    *t = Instant::now();
                }
                w.write_all(b"250 2.0.0 ok\r\n").await?;
            }
            continue;
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with(b"EHLO") {
            w.write_all(b"250-sink\r\n250 PIPELINING\r\n").await?;
        } else if upper.starts_with(b"DATA") {
            in_data = true;
            w.write_all(b"354 go\r\n").await?;
        } else if upper.starts_with(b"QUIT") {
            w.write_all(b"221 bye\r\n").await?;
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest).await;
            return Ok(());
        } else {
            w.write_all(b"250 ok\r\n").await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_nxdomain_with_the_question() {
        // id 0x1234, RD, one question: example.com A IN.
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        let a = nxdomain(&q).unwrap();
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2] & 0x80, 0x80, "a response");
        assert_eq!(a[2] & 0x01, 0x01, "RD copied");
        assert_eq!(a[3] & 0x0f, 3, "NXDOMAIN");
        assert_eq!(
            &a[4..12],
            &[0, 1, 0, 0, 0, 1, 0, 0],
            "1 question, 1 authority"
        );
        assert_eq!(&a[12..q.len()], &q[12..]);
        // The authority record: the root's SOA, whose minimum bounds negative caching.
        let soa = &a[q.len()..];
        assert_eq!(&soa[..5], &[0, 0, 6, 0, 1], "., SOA, IN");
        assert_eq!(&soa[5..9], &NEGATIVE_TTL.to_be_bytes(), "TTL");
        assert_eq!(
            u16::from_be_bytes([soa[9], soa[10]]) as usize,
            soa.len() - 11
        );
        assert_eq!(
            &soa[soa.len() - 4..],
            &NEGATIVE_TTL.to_be_bytes(),
            "minimum"
        );
        assert!(nxdomain(&a).is_none(), "responses are not answered");
        assert!(nxdomain(&q[..14]).is_none(), "truncated");
    }
}

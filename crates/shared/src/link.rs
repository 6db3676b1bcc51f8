//! One Redis server as the nodes see it: a few idle connections, a short timeout on every call,
//! and a pause after a failure so that a server that is down costs one timeout every few
//! seconds rather than one per message. While it is down the callers use their local state.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Idle connections kept for reuse; more are opened when more scans ask at once.
const MAX_IDLE: usize = 16;

/// A Redis server shared by the nodes of one site.
pub struct RedisLink {
    client: redis::Client,
    /// The address without any password, for logs.
    shown: String,
    timeout: Duration,
    retry_after: Duration,
    idle: Mutex<Vec<redis::Connection>>,
    /// Milliseconds since `epoch` before which no call is tried (0: try).
    paused_until_ms: AtomicI64,
    epoch: Instant,
    up: AtomicBool,
    failures: AtomicU64,
}

/// Why the link could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("shared redis address {shown:?}: {reason}")]
    Address { shown: String, reason: String },
}

impl RedisLink {
    /// A link to `url` (`redis://[:password@]host:port/db`); nothing is connected yet, so a
    /// node starts whether or not the server is up.
    pub fn new(
        url: &str,
        timeout: Duration,
        retry_after: Duration,
    ) -> Result<RedisLink, LinkError> {
        let shown = without_password(url);
        let client = redis::Client::open(url).map_err(|e| LinkError::Address {
            shown: shown.clone(),
            reason: e.to_string(),
        })?;
        Ok(RedisLink {
            client,
            shown,
            timeout,
            retry_after,
            idle: Mutex::new(Vec::new()),
            paused_until_ms: AtomicI64::new(0),
            epoch: Instant::now(),
            up: AtomicBool::new(true),
            failures: AtomicU64::new(0),
        })
    }

    /// The address, without any password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether the last call succeeded (or none has failed yet).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Calls that failed since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }

    /// Runs `call` on a connection; `None` when the server is unreachable, paused after a
    /// recent failure, or answered with an error (logged). The caller falls back to local state.
    pub fn with<T>(
        &self,
        what: &'static str,
        call: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        if self.now_ms() < self.paused_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => match self.connect(self.timeout) {
                Ok(c) => c,
                Err(e) => {
                    self.failed(what, &e);
                    return None;
                }
            },
        };
        match call(&mut conn) {
            Ok(v) => {
                self.recovered();
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
                Some(v)
            }
            Err(e) if is_link_failure(&e) => {
                self.failed(what, &e);
                None
            }
            Err(e) => {
                // The server answered (a script error, a wrong type): the link is fine.
                tracing::warn!(redis = %self.shown, call = what, error = %e, "shared state: redis refused a call");
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
                None
            }
        }
    }

    /// A connection of its own, for a caller that blocks on the server (a stream reader):
    /// its reads wait at most `read_timeout`.
    pub fn connect(&self, read_timeout: Duration) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(read_timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    /// Records a failure seen by a caller with its own connection.
    pub fn failed(&self, what: &'static str, e: &redis::RedisError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.paused_until_ms.store(
            self.now_ms() + self.retry_after.as_millis() as i64,
            Ordering::Relaxed,
        );
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::error!(
                redis = %self.shown,
                call = what,
                error = %e,
                retry_s = self.retry_after.as_secs_f64(),
                "shared state: redis unreachable; rate limits, first contacts and lessons use this node's own state until it is back"
            );
        }
    }

    /// Records a success seen by a caller with its own connection.
    pub fn recovered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(redis = %self.shown, "shared state: redis reachable again");
        }
    }
}

/// Errors that say the server could not be reached or did not answer in time, as against an
/// answer that was an error.
pub fn is_link_failure(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// `redis://user:secret@host/0` as `redis://user:***@host/0`.
fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end], user, &rest[at..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            without_password("redis://:s3cret@10.0.0.5:6379/0"),
            "redis://:***@10.0.0.5:6379/0"
        );
        assert_eq!(
            without_password("redis://mm:s3cret@cache/2"),
            "redis://mm:***@cache/2"
        );
        assert_eq!(without_password("redis://127.0.0.1/"), "redis://127.0.0.1/");
    }

    #[test]
    fn an_unreachable_server_is_paused_not_retried_per_call() {
        // Port 1 on loopback: refused at once.
        let link = RedisLink::new(
            "redis://127.0.0.1:1/",
            Duration::from_millis(200),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(link
            .with("ping", |c| redis::cmd("PING").query::<String>(c))
            .is_none());
        assert!(!link.is_up());
        assert!(link
            .with("ping", |c| redis::cmd("PING").query::<String>(c))
            .is_none());
        assert_eq!(link.failures(), 1, "the second call waited out the pause");
    }

    #[test]
    fn a_bad_address_is_an_error_at_start() {
        let e = RedisLink::new("http://x", Duration::from_millis(1), Duration::from_secs(1))
            .err()
            .expect("not a redis address");
        assert!(e.to_string().contains("shared redis address"), "{e}");
    }
}

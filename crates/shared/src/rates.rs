//! Rate limits counted across nodes: each key is a sorted set of event times in Redis, updated
//! by one script (drop what left the window, add this event, trim to the cap, count), so two
//! nodes never both see room for the last message. Every event is also counted locally, so
//! when Redis is unreachable the node goes on limiting with what it saw itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mailmoat_rules::{MemoryRateStore, RateStore};

use crate::link::RedisLink;

/// KEYS[1] the window's set; ARGV: now (s), window (s), cap, a member unique to this event.
/// Mirrors [`MemoryRateStore`]: events at or before `now - window` have left the window.
const HIT: &str = r#"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  n = cap
end
redis.call('EXPIRE', KEYS[1], window + 1)
return n
"#;

/// Rate counters in Redis, shared by every node configured with the same server and prefix.
pub struct SharedRateStore {
    link: Arc<RedisLink>,
    local: MemoryRateStore,
    prefix: String,
    /// Makes each event's member unique across nodes and processes.
    origin: String,
    sequence: AtomicU64,
    script: redis::Script,
}

impl SharedRateStore {
    /// `prefix` separates sites sharing one server (`mailmoat:` by default); `node` names this
    /// node in event members.
    pub fn new(link: Arc<RedisLink>, prefix: &str, node: &str) -> SharedRateStore {
        SharedRateStore {
            link,
            local: MemoryRateStore::default(),
            prefix: format!("{prefix}rate:"),
            origin: format!("{node}:{}", std::process::id()),
            sequence: AtomicU64::new(0),
            script: redis::Script::new(HIT),
        }
    }
}

impl RateStore for SharedRateStore {
    fn hit(&self, key: &str, now: i64, window: u64, cap: u32) -> u32 {
        let local = self.local.hit(key, now, window, cap);
        let member = format!(
            "{}:{}",
            self.origin,
            self.sequence.fetch_add(1, Ordering::Relaxed)
        );
        let redis_key = format!("{}{key}", self.prefix);
        let cap = cap.max(1);
        self.link
            .with("rate hit", |c| {
                self.script
                    .key(&redis_key)
                    .arg(now)
                    .arg(window)
                    .arg(cap)
                    .arg(&member)
                    .invoke::<u32>(c)
            })
            .unwrap_or(local)
    }

    fn peek(&self, key: &str, now: i64, window: u64) -> u32 {
        let redis_key = format!("{}{key}", self.prefix);
        let start = now - window as i64;
        self.link
            .with("rate peek", |c| {
                redis::cmd("ZCOUNT")
                    .arg(&redis_key)
                    .arg(format!("({start}"))
                    .arg(now)
                    .query::<u32>(c)
            })
            .unwrap_or_else(|| self.local.peek(key, now, window))
    }
}

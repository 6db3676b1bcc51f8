//! Rate limits over sliding windows. The counters live behind [`RateStore`], so several gateway
//! nodes can share them (Redis) later; [`MemoryRateStore`] is the in-process default.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counts events per key over a sliding window.
pub trait RateStore: Send + Sync {
    /// Records one event for `key` at `now` (Unix seconds) and returns how many events fall in
    /// the `window` seconds ending now, this one included. Counting may stop at `cap`.
    fn hit(&self, key: &str, now: i64, window: u64, cap: u32) -> u32;

    /// How many events for `key` fall in the `window` seconds ending `now`, without recording
    /// one (the gateway asks at MAIL and RCPT; the message is counted when it arrives). A store
    /// that cannot tell answers 0, and the limit then acts only after DATA.
    fn peek(&self, key: &str, now: i64, window: u64) -> u32 {
        let _ = (key, now, window);
        0
    }
}

/// In-process sliding log: per key, the times of at most `cap` recent events.
pub struct MemoryRateStore {
    keys: Mutex<HashMap<String, (u64, VecDeque<i64>)>>,
    max_keys: usize,
    ops: AtomicU64,
}

impl MemoryRateStore {
    /// `max_keys` bounds memory: past it, keys whose window has passed are dropped first, then
    /// (under a flood of distinct keys) all counters are reset rather than grow without bound.
    pub fn new(max_keys: usize) -> Self {
        MemoryRateStore {
            keys: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
            ops: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.lock().map(|k| k.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryRateStore {
    fn default() -> Self {
        MemoryRateStore::new(1_000_000)
    }
}

impl RateStore for MemoryRateStore {
    fn hit(&self, key: &str, now: i64, window: u64, cap: u32) -> u32 {
        // A poisoned lock only means another thread panicked mid-update; counts stay usable.
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let sweep = self
            .ops
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(4096);
        if sweep || keys.len() >= self.max_keys {
            keys.retain(|_, (w, log)| log.back().is_some_and(|&t| t > now - *w as i64));
            if keys.len() >= self.max_keys {
                keys.clear();
            }
        }
        let (w, log) = keys
            .entry(key.to_string())
            .or_insert_with(|| (window, VecDeque::new()));
        *w = window;
        let start = now - window as i64;
        while log.front().is_some_and(|&t| t <= start) {
            log.pop_front();
        }
        log.push_back(now);
        while log.len() > cap.max(1) as usize {
            log.pop_front();
        }
        log.len() as u32
    }

    fn peek(&self, key: &str, now: i64, window: u64) -> u32 {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let start = now - window as i64;
        keys.get(key)
            .map(|(_, log)| log.iter().filter(|&&t| t > start && t <= now).count() as u32)
            .unwrap_or(0)
    }
}

/// `30s`, `10m`, `2h`, `1d` (a bare number is seconds).
pub(crate) fn parse_window(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("window {text:?} is not like 30s, 10m, 2h or 1d"))?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("window {text:?} has an unknown unit (s, m, h, d)")),
    };
    if n == 0 {
        return Err("window must be longer than zero".into());
    }
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_counts_without_recording() {
        let store = MemoryRateStore::default();
        assert_eq!(store.peek("k", 100, 60), 0);
        store.hit("k", 90, 60, 10);
        store.hit("k", 95, 60, 10);
        assert_eq!(store.peek("k", 100, 60), 2);
        assert_eq!(store.peek("k", 100, 60), 2, "peeking records nothing");
        assert_eq!(
            store.peek("k", 152, 60),
            1,
            "the window slid past the first"
        );
    }

    #[test]
    fn sliding_window_counts_and_forgets() {
        let store = MemoryRateStore::default();
        for i in 0..5 {
            assert_eq!(store.hit("ip:1", 1000 + i, 60, 100), i as u32 + 1);
        }
        // 60 s after the first event, the first has left the (now-60, now] window.
        assert_eq!(store.hit("ip:1", 1060, 60, 100), 5);
        assert_eq!(store.hit("ip:2", 1060, 60, 100), 1);
        assert_eq!(store.hit("ip:1", 5000, 60, 100), 1);
    }

    #[test]
    fn memory_is_bounded() {
        let store = MemoryRateStore::new(100);
        for i in 0..1000 {
            store.hit(&format!("k{i}"), 1000, 60, 10);
        }
        assert!(store.len() <= 100);
        for _ in 0..1000 {
            store.hit("same", 1000, 60, 10);
        }
        assert_eq!(store.hit("same", 1000, 60, 10), 10, "log capped at cap");
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window("10m"), Ok(600));
        assert_eq!(parse_window("30"), Ok(30));
        assert_eq!(parse_window("1d"), Ok(86400));
        assert!(parse_window("10 parsecs").is_err());
        assert!(parse_window("0s").is_err());
    }
}

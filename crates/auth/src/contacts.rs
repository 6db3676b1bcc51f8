//! Who has written to whom before. A first message from a sender to a recipient is when
//! impersonation and invoice fraud happen; once a recipient has received (delivered) mail from a
//! sender, later mail from that sender is no longer a first contact.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Sender–recipient history. Shared by all gateway workers; a multi-node site puts it in a
/// shared store behind the same trait.
pub trait ContactStore: Send + Sync {
    /// Whether `sender` has had mail delivered to `recipient` before.
    fn known(&self, sender: &str, recipient: &str) -> bool;
    /// Remembers that mail from `sender` was delivered to `recipient` at `now` (Unix seconds).
    fn record(&self, sender: &str, recipient: &str, now: i64);
}

/// A stable 64-bit key per pair (addresses compared case-insensitively). Fixed keys so a file
/// written by one run is read the same way by the next.
pub fn pair_key(sender: &str, recipient: &str) -> u64 {
    let mut h = std::hash::BuildHasherDefault::<Fnv>::default().build_hasher();
    for b in sender.trim().bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.write_u8(0);
    for b in recipient.trim().bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.finish()
}

/// FNV-1a: tiny, stable across versions and platforms (std's SipHash keys are random).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

struct Pairs {
    last_seen: HashMap<u64, i64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Pairs {
    fn new(capacity: usize) -> Self {
        Pairs {
            last_seen: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// True when the pair is new.
    fn insert(&mut self, key: u64, now: i64) -> bool {
        let new = self.last_seen.insert(key, now).is_none();
        if new {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.last_seen.remove(&old);
                }
            }
        }
        new
    }
}

/// In memory only: forgotten on restart.
pub struct MemoryContacts {
    pairs: Mutex<Pairs>,
}

impl MemoryContacts {
    pub fn new(capacity: usize) -> Self {
        MemoryContacts {
            pairs: Mutex::new(Pairs::new(capacity)),
        }
    }
}

impl ContactStore for MemoryContacts {
    fn known(&self, sender: &str, recipient: &str) -> bool {
        let key = pair_key(sender, recipient);
        self.pairs
            .lock()
            .map(|p| p.last_seen.contains_key(&key))
            .unwrap_or(false)
    }

    fn record(&self, sender: &str, recipient: &str, now: i64) {
        if let Ok(mut p) = self.pairs.lock() {
            p.insert(pair_key(sender, recipient), now);
        }
    }
}

/// Kept in an append-only file of 16-byte records (pair key, time), read back at start and
/// rewritten compactly when it has grown to twice what it holds. A torn last record after a
/// crash is ignored.
pub struct FileContacts {
    path: PathBuf,
    inner: Mutex<(Pairs, File, usize)>,
}

impl FileContacts {
    pub fn open(path: &Path, capacity: usize) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mut pairs = Pairs::new(capacity);
        let mut records = 0usize;
        if let Ok(f) = File::open(path) {
            let mut reader = BufReader::new(f);
            let mut buf = [0u8; 16];
            while reader.read_exact(&mut buf).is_ok() {
                let key = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
                let at = i64::from_le_bytes(buf[8..].try_into().expect("8 bytes"));
                pairs.insert(key, at);
                records += 1;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        // Cut a torn last record so the next append starts on a record boundary.
        let len = file.metadata()?.len();
        if len % 16 != 0 {
            file.set_len(len - len % 16)?;
        }
        let store = FileContacts {
            path: path.to_path_buf(),
            inner: Mutex::new((pairs, file, records)),
        };
        store.compact_if_needed()?;
        Ok(store)
    }

    fn compact_if_needed(&self) -> io::Result<()> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        let (pairs, file, records) = &mut *guard;
        if *records <= 2 * pairs.last_seen.len().max(1024) {
            return Ok(());
        }
        let tmp = self.path.with_extension("tmp");
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        for key in &pairs.order {
            let at = pairs.last_seen.get(key).copied().unwrap_or(0);
            out.write_all(&key.to_le_bytes())?;
            out.write_all(&at.to_le_bytes())?;
        }
        out.into_inner()?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        *file = OpenOptions::new().append(true).open(&self.path)?;
        *records = pairs.order.len();
        Ok(())
    }
}

impl ContactStore for FileContacts {
    fn known(&self, sender: &str, recipient: &str) -> bool {
        let key = pair_key(sender, recipient);
        self.inner
            .lock()
            .map(|g| g.0.last_seen.contains_key(&key))
            .unwrap_or(false)
    }

    fn record(&self, sender: &str, recipient: &str, now: i64) {
        let key = pair_key(sender, recipient);
        let grown = {
            let Ok(mut guard) = self.inner.lock() else {
                return;
            };
            let (pairs, file, records) = &mut *guard;
            if !pairs.insert(key, now) {
                return;
            }
            let mut rec = [0u8; 16];
            rec[..8].copy_from_slice(&key.to_le_bytes());
            rec[8..].copy_from_slice(&now.to_le_bytes());
            // Not fsynced: losing the last few pairs in a crash only repeats a FIRST_CONTACT.
            if let Err(e) = file.write_all(&rec) {
                tracing::error!(file = %self.path.display(), error = %e, "contacts: could not append");
            }
            *records += 1;
            *records > 2 * pairs.last_seen.len().max(1024)
        };
        if grown {
            if let Err(e) = self.compact_if_needed() {
                tracing::error!(file = %self.path.display(), error = %e, "contacts: could not compact");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_directional_and_case_insensitive() {
        let store = MemoryContacts::new(10);
        assert!(!store.known("a@x.example", "b@corp.example"));
        store.record("A@X.example", "b@corp.example", 1);
        assert!(store.known("a@x.example", "B@corp.example"));
        assert!(!store.known("b@corp.example", "a@x.example"));
    }

    #[test]
    fn memory_store_forgets_the_oldest_beyond_capacity() {
        let store = MemoryContacts::new(2);
        store.record("1@x", "r@y", 1);
        store.record("2@x", "r@y", 2);
        store.record("3@x", "r@y", 3);
        assert!(!store.known("1@x", "r@y"));
        assert!(store.known("3@x", "r@y"));
    }

    #[test]
    fn file_store_survives_a_restart_and_a_torn_record() {
        let dir = std::env::temp_dir().join(format!("mm-contacts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("contacts");
        {
            let store = FileContacts::open(&path, 100).unwrap();
            store.record("a@x", "r@y", 10);
            store.record("b@x", "r@y", 11);
        }
        // A crash in the middle of a record.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[1, 2, 3])
            .unwrap();
        {
            let store = FileContacts::open(&path, 100).unwrap();
            assert!(store.known("a@x", "r@y"));
            assert!(store.known("b@x", "r@y"));
            assert!(!store.known("c@x", "r@y"));
            store.record("c@x", "r@y", 12);
        }
        let store = FileContacts::open(&path, 100).unwrap();
        assert!(
            store.known("c@x", "r@y"),
            "appended after the cut, on a record boundary"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The durable spool: a message acknowledged with 250 is on disk before the reply.
//!
//! The queue is one SQLite database, `queue.sqlite`: per message its entry as JSON (envelope,
//! verdict headers, per-recipient state) and the message as received. Writes go through one
//! writer thread with group commit (see `db.rs`): a store returns once its transaction is
//! durable, so after a crash (kill -9 included) every row is a message we acknowledged.
//! Files per message were the first design; under load their cost was the filesystem's inode
//! allocation (see BENCHMARKS.md), which a database never pays. A spool folder left by that
//! design (`XX/ID.mail` files) is imported when opened.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::db::{self, Writer};

const WHAT: &str = "spool";

/// One queued message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: String,
    /// Unix seconds when it was accepted.
    pub received_at: i64,
    /// The envelope sender; empty for the null sender (bounces).
    pub mail_from: String,
    pub client_ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub recipients: Vec<Recipient>,
    /// Header lines (CRLF-terminated) put on top of the message at delivery: our Received line
    /// and the X-Mailmoat verdict headers.
    pub prepend: String,
    /// Put the configured prefix on the subject (the verdict was "tag").
    pub tag_subject: bool,
    /// Delivery attempts so far, and when the next one is due (unix seconds).
    pub attempts: u32,
    pub next_attempt_at: i64,
    /// A delivery status notification we generated: never bounced itself.
    #[serde(default)]
    pub is_bounce: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recipient {
    pub address: String,
    pub state: RecipientState,
    /// The last reply or error for this recipient (for the queue listing and bounces).
    #[serde(default)]
    pub last_reply: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    Pending,
    Delivered,
    Failed,
}

impl QueueEntry {
    /// A message just accepted: every recipient pending, due now, `prepend` on top at delivery
    /// (our Received line, Authentication-Results, the verdict headers).
    pub fn accepted(
        id: &str,
        now: i64,
        mail_from: &str,
        client: (Option<IpAddr>, Option<String>),
        recipients: &[String],
        prepend: String,
    ) -> QueueEntry {
        QueueEntry {
            id: id.to_string(),
            received_at: now,
            mail_from: mail_from.to_string(),
            client_ip: client.0,
            helo: client.1,
            recipients: recipients
                .iter()
                .map(|r| Recipient {
                    address: r.clone(),
                    state: RecipientState::Pending,
                    last_reply: String::new(),
                })
                .collect(),
            prepend,
            tag_subject: false,
            attempts: 0,
            next_attempt_at: now,
            is_bounce: false,
        }
    }

    pub fn pending(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending)
    }
}

/// The spool.
pub struct Spool {
    dir: PathBuf,
    /// Reads (delivery, the CLI).
    conn: Mutex<Connection>,
    writer: Writer,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A new queue id: time, process and a sequence number, so ids never repeat across restarts.
pub fn new_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!(
        "{now:x}{:05x}{:04x}",
        std::process::id() & 0xfffff,
        SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM queue WHERE id = ?1")?
        .execute(params![id])
        .map(|_| ())
}

/// Written by tools that change the queue (see [`Spool::wake`]).
const WAKE_FILE: &str = "wake";

fn unix_now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn err(e: rusqlite::Error) -> io::Error {
    db::db_error(WHAT, e)
}

fn encode(entry: &QueueEntry) -> io::Result<String> {
    serde_json::to_string(entry).map_err(io::Error::other)
}

fn decode(id: &str, json: &str) -> io::Result<QueueEntry> {
    serde_json::from_str(json)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("spool entry {id}: {e}")))
}

impl Spool {
    /// Opens (creating) the spool in `dir`.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let path = dir.join("queue.sqlite");
        let conn = db::connect(&path, WHAT)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS queue (
                id TEXT PRIMARY KEY,
                next_attempt_at INTEGER NOT NULL,
                entry TEXT NOT NULL,
                message BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS queue_by_due ON queue(next_attempt_at);",
        )
        .map_err(err)?;
        let writer = Writer::start(db::connect(&path, WHAT)?, db::connect(&path, WHAT)?, WHAT)?;
        let spool = Spool {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            writer,
        };
        spool.import_files()?;
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tells a running gateway that the queue changed outside it (`mailmoat queue retry|drop`):
    /// its delivery loop looks at this file's time twice a second and reads the queue again.
    pub fn wake(&self) -> io::Result<()> {
        let path = self.dir.join(WAKE_FILE);
        fs::write(&path, unix_now_nanos().to_string())
    }

    /// What the wake file says now (None while nobody has written it).
    pub fn wake_mark(&self) -> Option<String> {
        fs::read_to_string(self.dir.join(WAKE_FILE)).ok()
    }

    /// Brings in messages a file-per-message spool left in this folder (`XX/ID.mail`), then
    /// removes their files; half-written `.tmp` files were never acknowledged and go.
    fn import_files(&self) -> io::Result<()> {
        for shard in fs::read_dir(&self.dir)?.filter_map(|e| e.ok()) {
            let shard = shard.path();
            if !shard.is_dir() {
                continue;
            }
            let is_free = shard.file_name().is_some_and(|n| n == "free");
            for file in fs::read_dir(&shard)?.filter_map(|e| e.ok()) {
                let path = file.path();
                if !is_free && path.extension().is_some_and(|x| x == "mail") {
                    let bytes = fs::read(&path)?;
                    let split = bytes
                        .iter()
                        .position(|&b| b == b'\n')
                        .unwrap_or(bytes.len());
                    let json = String::from_utf8_lossy(&bytes[..split]).into_owned();
                    let id = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or("")
                        .to_string();
                    let entry = decode(&id, &json)?;
                    self.store(&entry, bytes.get(split + 1..).unwrap_or_default())?;
                }
                fs::remove_file(&path)?;
            }
            let _ = fs::remove_dir(&shard);
        }
        Ok(())
    }

    /// Stores a message durably; when this returns Ok the message survives a crash.
    pub fn store(&self, entry: &QueueEntry, message: &[u8]) -> io::Result<()> {
        let json = encode(entry)?;
        let (id, due, message) = (entry.id.clone(), entry.next_attempt_at, message.to_vec());
        self.writer.write(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO queue (id, next_attempt_at, entry, message) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, due, json, message])
            .map(|_| ())
        })
    }

    /// Rewrites an entry (its delivery state); the message stays. An entry no longer queued
    /// (dropped meanwhile) stays dropped.
    pub fn update(&self, entry: &QueueEntry) -> io::Result<()> {
        let json = encode(entry)?;
        let (id, due) = (entry.id.clone(), entry.next_attempt_at);
        self.writer.write(move |c| {
            c.prepare_cached("UPDATE queue SET next_attempt_at = ?2, entry = ?3 WHERE id = ?1")?
                .execute(params![id, due, json])
                .map(|_| ())
        })
    }

    /// Whether an entry is (still) queued.
    pub fn contains(&self, id: &str) -> bool {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT 1 FROM queue WHERE id = ?1", params![id], |_| Ok(()))
            .optional()
            .ok()
            .flatten()
            .is_some()
    }

    fn one<T: rusqlite::types::FromSql>(&self, id: &str, column: &str) -> io::Result<T> {
        db::column_by_id(&self.conn, WHAT, "queue", column, id)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{id} is not queued")))
    }

    pub fn message(&self, id: &str) -> io::Result<Vec<u8>> {
        self.one(id, "message")
    }

    pub fn entry(&self, id: &str) -> io::Result<QueueEntry> {
        let json: String = self.one(id, "entry")?;
        decode(id, &json)
    }

    /// Every queued entry, soonest due first (unreadable ones are reported, not dropped).
    pub fn entries(&self) -> io::Result<(Vec<QueueEntry>, Vec<String>)> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn
            .prepare_cached("SELECT id, entry FROM queue ORDER BY next_attempt_at, id")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(err)?;
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(err)?;
            match decode(&id, &json) {
                Ok(e) => out.push(e),
                Err(e) => problems.push(e.to_string()),
            }
        }
        Ok((out, problems))
    }

    /// Removes a message (dropped by an administrator), durably.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        let id = id.to_string();
        self.writer.write(move |c| delete(c, &id))
    }

    /// Removes a delivered message without waiting for the disk: if the removal is lost in a
    /// crash, the message is delivered once more (at-least-once), which is cheaper than making
    /// every delivery wait for a commit.
    pub fn remove_delivered(&self, id: &str) -> io::Result<()> {
        let id = id.to_string();
        self.writer.write_later(move |c| delete(c, &id))
    }

    /// How many messages are queued.
    pub fn count(&self) -> io::Result<u64> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT COUNT(*) FROM queue", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(err)
    }

    /// Transactions committed so far (each covers every write waiting when it began).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> QueueEntry {
        QueueEntry {
            id: id.to_string(),
            received_at: 1,
            mail_from: "a@b.example".into(),
            client_ip: None,
            helo: None,
            recipients: vec![Recipient {
                address: "u@example.com".into(),
                state: RecipientState::Pending,
                last_reply: String::new(),
            }],
            prepend: String::new(),
            tag_subject: false,
            attempts: 0,
            next_attempt_at: 0,
            is_bounce: false,
        }
    }

    #[test]
    fn stores_updates_survives_reopening_and_removes() {
        let dir = std::env::temp_dir().join(format!("mailmoat-spool-{}", new_id()));
        let mut one = entry("one1");
        {
            let spool = Spool::open(&dir).unwrap();
            spool.store(&one, b"Subject: 1\r\n\r\nx\r\n").unwrap();
        }
        let spool = Spool::open(&dir).unwrap();
        let (entries, problems) = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(problems.is_empty());
        assert_eq!(spool.message("one1").unwrap(), b"Subject: 1\r\n\r\nx\r\n");
        one.attempts = 3;
        spool.update(&one).unwrap();
        assert_eq!(spool.entry("one1").unwrap().attempts, 3);
        assert_eq!(spool.message("one1").unwrap(), b"Subject: 1\r\n\r\nx\r\n");
        assert!(spool.contains("one1"));
        spool.remove("one1").unwrap();
        assert!(!spool.contains("one1"));
        assert!(spool.entries().unwrap().0.is_empty());
        // Updating a dropped entry does not bring it back.
        spool.update(&one).unwrap();
        assert!(!spool.contains("one1"));
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_file_per_message_spool_is_imported() {
        let dir = std::env::temp_dir().join(format!("mailmoat-spool-{}", new_id()));
        fs::create_dir_all(dir.join("a1")).unwrap();
        fs::create_dir_all(dir.join("free")).unwrap();
        let mut bytes = serde_json::to_vec(&entry("old0a1")).unwrap();
        bytes.extend_from_slice(b"\nSubject: old\r\n\r\nbody\r\n");
        fs::write(dir.join("a1").join("old0a1.mail"), bytes).unwrap();
        fs::write(dir.join("a1").join("half.tmp"), b"partial").unwrap();
        fs::write(dir.join("free").join("spare"), b"").unwrap();
        let spool = Spool::open(&dir).unwrap();
        assert_eq!(
            spool.message("old0a1").unwrap(),
            b"Subject: old\r\n\r\nbody\r\n"
        );
        assert_eq!(spool.entries().unwrap().0.len(), 1);
        assert!(!dir.join("a1").exists() && !dir.join("free").exists());
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn concurrent_stores_share_commits() {
        let dir = std::env::temp_dir().join(format!("mailmoat-spool-{}", new_id()));
        let spool = std::sync::Arc::new(Spool::open(&dir).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let spool = spool.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        spool.store(&entry(&format!("t{t}m{i}")), b"x").unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(spool.entries().unwrap().0.len(), 320);
        assert!(spool.commits() <= 320);
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}

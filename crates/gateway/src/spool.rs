//! The durable spool: a message acknowledged with 250 is on disk, fsynced, before the reply.
//!
//! Each message is two files in the spool folder: `ID.msg` (the bytes as received) and
//! `ID.json` (envelope, verdict headers, per-recipient state). The message is written and
//! fsynced first, then the entry, through a temporary file renamed into place, then the folder
//! is fsynced: an entry exists only for a complete message, so after a crash (kill -9 included)
//! every `ID.json` is a message we acknowledged, and an `ID.msg` without one is a message we
//! never acknowledged (removed at start).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

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
    pub fn pending(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending)
    }
}

/// The spool folder.
pub struct Spool {
    dir: PathBuf,
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

impl Spool {
    /// Opens (creating) the folder and removes what a crash left half-written.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let spool = Spool {
            dir: dir.to_path_buf(),
        };
        for e in fs::read_dir(dir)? {
            let path = e?.path();
            let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
            let orphan_msg = ext == "msg" && !path.with_extension("json").exists();
            if ext == "tmp" || orphan_msg {
                fs::remove_file(&path)?;
            }
        }
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn msg_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.msg"))
    }

    fn entry_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Stores a message durably; when this returns Ok the message survives a crash.
    pub fn store(&self, entry: &QueueEntry, message: &[u8]) -> io::Result<()> {
        write_synced(&self.msg_path(&entry.id), message)?;
        self.update(entry)
    }

    /// Rewrites an entry atomically (temporary file, fsync, rename, folder fsync).
    pub fn update(&self, entry: &QueueEntry) -> io::Result<()> {
        let json = serde_json::to_vec(entry).map_err(io::Error::other)?;
        let path = self.entry_path(&entry.id);
        let tmp = path.with_extension("json.tmp");
        write_synced(&tmp, &json)?;
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()
    }

    pub fn message(&self, id: &str) -> io::Result<Vec<u8>> {
        fs::read(self.msg_path(id))
    }

    pub fn entry(&self, id: &str) -> io::Result<QueueEntry> {
        let bytes = fs::read(self.entry_path(id))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", self.entry_path(id).display()),
            )
        })
    }

    /// Every queued entry (unreadable ones are reported, not dropped: their files stay).
    pub fn entries(&self) -> io::Result<(Vec<QueueEntry>, Vec<String>)> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let path = e?.path();
            if path.extension().is_some_and(|x| x == "json") {
                let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                match self.entry(id) {
                    Ok(entry) => out.push(entry),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        out.sort_by_key(|e| (e.next_attempt_at, e.id.clone()));
        Ok((out, problems))
    }

    /// Removes a finished message (entry first: a message without an entry is garbage).
    pub fn remove(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.entry_path(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match fs::remove_file(self.msg_path(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Writes a file and fsyncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
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
    fn stores_reopens_and_cleans_up_half_written_files() {
        let dir = std::env::temp_dir().join(format!("mailmoat-spool-{}", new_id()));
        let spool = Spool::open(&dir).unwrap();
        spool
            .store(&entry("one"), b"Subject: 1\r\n\r\nx\r\n")
            .unwrap();
        // What a crash between the two writes leaves: a message without an entry.
        fs::write(dir.join("two.msg"), b"partial").unwrap();
        fs::write(dir.join("three.json.tmp"), b"{").unwrap();
        let spool = Spool::open(&dir).unwrap();
        assert!(!dir.join("two.msg").exists());
        assert!(!dir.join("three.json.tmp").exists());
        let (entries, problems) = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(problems.is_empty());
        assert_eq!(spool.message("one").unwrap(), b"Subject: 1\r\n\r\nx\r\n");
        spool.remove("one").unwrap();
        assert!(spool.entries().unwrap().0.is_empty());
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}

//! The durable spool: a message acknowledged with 250 is on disk, fsynced, before the reply.
//!
//! Each message is one file, `XX/ID.mail` (XX: the id's last two hex digits, so that 256
//! folders share the create/delete traffic): a first line with the entry as JSON (envelope,
//! verdict headers, per-recipient state), then the message as received. It is written as
//! `ID.tmp`, fsynced, renamed into place, and the folder fsynced: after a crash (kill -9
//! included) every `.mail` file is a message we acknowledged, and a `.tmp` one was never
//! acknowledged (removed at start). One file per message, not two: under load the cost is the
//! filesystem's inode and directory work, so fewer files is faster.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::sync::GroupCommit;

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
    /// Files of finished messages kept for reuse (`free/`): writing into an existing file
    /// spares the filesystem an inode allocation and a deletion per message, which is what a
    /// busy spool spends most of its time on.
    free: std::sync::Mutex<Vec<PathBuf>>,
    commit: GroupCommit,
}

/// Free files kept for reuse at most; more are deleted.
/// Spare files a spool keeps ready from the start.
const MIN_FREE: usize = 512;
const MAX_FREE: usize = 4096;

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
        let free_dir = dir.join("free");
        fs::create_dir_all(&free_dir)?;
        let mut free: Vec<PathBuf> = fs::read_dir(&free_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        // A fresh spool starts with spare files, so even the first burst of mail reuses files
        // instead of allocating inodes while clients wait.
        let mut made = false;
        while free.len() < MIN_FREE {
            let spare = free_dir.join(format!(
                "{}.{}",
                std::process::id(),
                SEQUENCE.fetch_add(1, Ordering::Relaxed)
            ));
            File::create(&spare)?;
            free.push(spare);
            made = true;
        }
        if made {
            File::open(&free_dir)?.sync_all()?;
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            free: std::sync::Mutex::new(free),
            commit: GroupCommit::new(dir)?,
        };
        for sub in spool.subfolders()? {
            if sub == free_dir {
                continue;
            }
            for e in fs::read_dir(&sub)? {
                let path = e?.path();
                if path.extension().is_some_and(|x| x == "tmp") {
                    fs::remove_file(&path)?;
                }
            }
        }
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shard folders (not `free/`).
    fn subfolders(&self) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            if e.file_type()?.is_dir() && e.file_name() != "free" {
                out.push(e.path());
            }
        }
        Ok(out)
    }

    /// A free file to write into, or a new temporary name.
    fn scratch(&self, path: &Path) -> PathBuf {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        reused.unwrap_or_else(|| {
            // Unique per writer: the gateway and `mailmoat queue` may rewrite one entry at once.
            path.with_extension(format!(
                "{}.{}.tmp",
                std::process::id(),
                SEQUENCE.fetch_add(1, Ordering::Relaxed)
            ))
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        let shard = id.get(id.len().saturating_sub(2)..).unwrap_or("00");
        self.dir.join(shard).join(format!("{id}.mail"))
    }

    /// Stores a message durably; when this returns Ok the message survives a crash.
    pub fn store(&self, entry: &QueueEntry, message: &[u8]) -> io::Result<()> {
        let mut bytes = serde_json::to_vec(entry).map_err(io::Error::other)?;
        bytes.push(b'\n');
        bytes.extend_from_slice(message);
        let path = self.path(&entry.id);
        let folder = path.parent().unwrap_or(&self.dir).to_path_buf();
        if !folder.exists() {
            fs::create_dir_all(&folder)?;
        }
        let tmp = self.scratch(&path);
        write_unsynced(&tmp, &bytes)?;
        fs::rename(&tmp, &path)?;
        // Contents, the rename and any new folder reach the disk in one flush shared with
        // every other writer waiting now.
        self.commit.commit()
    }

    /// Group-commit flushes so far.
    pub fn flushes(&self) -> u64 {
        self.commit.flushes()
    }

    /// Rewrites an entry (with its message) atomically.
    pub fn update(&self, entry: &QueueEntry) -> io::Result<()> {
        let message = self.message(&entry.id)?;
        self.store(entry, &message)
    }

    /// Whether an entry is (still) queued.
    pub fn contains(&self, id: &str) -> bool {
        self.path(id).exists()
    }

    fn read(&self, id: &str) -> io::Result<(QueueEntry, Vec<u8>)> {
        let path = self.path(id);
        let bytes = fs::read(&path)?;
        let split = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let entry = serde_json::from_slice(&bytes[..split]).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        Ok((entry, bytes.get(split + 1..).unwrap_or_default().to_vec()))
    }

    pub fn message(&self, id: &str) -> io::Result<Vec<u8>> {
        self.read(id).map(|(_, m)| m)
    }

    pub fn entry(&self, id: &str) -> io::Result<QueueEntry> {
        let path = self.path(id);
        let mut line = Vec::new();
        io::BufReader::new(File::open(&path)?).read_until(b'\n', &mut line)?;
        serde_json::from_slice(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Every queued entry (unreadable ones are reported, not dropped: their files stay).
    pub fn entries(&self) -> io::Result<(Vec<QueueEntry>, Vec<String>)> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for sub in self.subfolders()? {
            for e in fs::read_dir(&sub)? {
                let path = e?.path();
                if path.extension().is_some_and(|x| x == "mail") {
                    let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
                        continue;
                    };
                    match self.entry(id) {
                        Ok(entry) => out.push(entry),
                        // Delivered and removed while we listed.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => problems.push(e.to_string()),
                    }
                }
            }
        }
        out.sort_by_key(|e| (e.next_attempt_at, e.id.clone()));
        Ok((out, problems))
    }

    /// Removes a finished message (its file goes to `free/` for reuse while there is room).
    pub fn remove(&self, id: &str) -> io::Result<()> {
        let path = self.path(id);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let result = if free.len() < MAX_FREE {
            let spare = self.dir.join("free").join(format!(
                "{}.{}",
                std::process::id(),
                SEQUENCE.fetch_add(1, Ordering::Relaxed)
            ));
            fs::rename(&path, &spare).map(|()| free.push(spare))
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Writes a file without waiting for the disk (a group commit follows).
pub(crate) fn write_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(bytes)
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
        let mut one = entry("one1");
        spool.store(&one, b"Subject: 1\r\n\r\nx\r\n").unwrap();
        // What a crash before the rename leaves: a temporary file, never acknowledged.
        fs::write(dir.join("e1").join("two2.tmp"), b"partial").unwrap();
        let spool = Spool::open(&dir).unwrap();
        assert!(!dir.join("e1").join("two2.tmp").exists());
        let (entries, problems) = spool.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(problems.is_empty());
        assert_eq!(spool.message("one1").unwrap(), b"Subject: 1\r\n\r\nx\r\n");
        one.attempts = 3;
        spool.update(&one).unwrap();
        assert_eq!(spool.entry("one1").unwrap().attempts, 3);
        assert_eq!(spool.message("one1").unwrap(), b"Subject: 1\r\n\r\nx\r\n");
        spool.remove("one1").unwrap();
        assert!(spool.entries().unwrap().0.is_empty());
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn finished_files_are_reused_and_their_old_content_never_shows() {
        let dir = std::env::temp_dir().join(format!("mailmoat-spool-{}", new_id()));
        let spool = Spool::open(&dir).unwrap();
        let spares = || fs::read_dir(dir.join("free")).unwrap().count();
        assert_eq!(spares(), MIN_FREE, "a fresh spool has spare files");
        spool.store(&entry("aa01"), &vec![b'x'; 10_000]).unwrap();
        assert_eq!(spares(), MIN_FREE - 1);
        spool.remove("aa01").unwrap();
        assert_eq!(spares(), MIN_FREE);
        // The next store takes the file just freed (the newest spare): the long old content
        // must not show through the short new one.
        spool.store(&entry("bb02"), b"short").unwrap();
        assert_eq!(spares(), MIN_FREE - 1, "reused");
        assert_eq!(spool.message("bb02").unwrap(), b"short");
        // Free files survive a restart as free files, not as queued messages.
        spool.remove("bb02").unwrap();
        let spool = Spool::open(&dir).unwrap();
        assert!(spool.entries().unwrap().0.is_empty());
        spool.store(&entry("cc03"), b"again").unwrap();
        assert_eq!(spool.message("cc03").unwrap(), b"again");
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}

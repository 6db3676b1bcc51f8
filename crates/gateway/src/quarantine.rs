//! Quarantine: held messages on disk with their envelope and full report, fsynced before the
//! 250 reply like the spool. `ID.eml` is the message as received, `ID.json` the envelope and
//! the report. (An embedded database index for search and release comes with the console.)

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::spool::{write_synced, QueueEntry, Spool};

pub struct Quarantine {
    dir: PathBuf,
}

impl Quarantine {
    pub fn open(dir: &Path) -> io::Result<Quarantine> {
        fs::create_dir_all(dir)?;
        Ok(Quarantine {
            dir: dir.to_path_buf(),
        })
    }

    pub fn store(&self, entry: &QueueEntry, message: &[u8], report: &Value) -> io::Result<()> {
        write_synced(&self.dir.join(format!("{}.eml", entry.id)), message)?;
        let meta = json!({ "entry": entry, "report": report });
        let path = self.dir.join(format!("{}.json", entry.id));
        let tmp = path.with_extension("json.tmp");
        write_synced(
            &tmp,
            &serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?,
        )?;
        fs::rename(&tmp, &path)?;
        fs::File::open(&self.dir)?.sync_all()
    }

    /// A held message's envelope and report.
    pub fn meta(&self, id: &str) -> io::Result<(QueueEntry, Value)> {
        let path = self.dir.join(format!("{id}.json"));
        let mut meta: Value = serde_json::from_slice(&fs::read(&path)?).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        let entry: QueueEntry = serde_json::from_value(meta["entry"].take()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        Ok((entry, meta["report"].take()))
    }

    /// Releases a held message: into the spool for delivery (fsynced there first), then out of
    /// the quarantine. A running gateway delivers it within seconds.
    pub fn release(&self, id: &str, spool: &Spool, now: i64) -> io::Result<()> {
        let (mut entry, _) = self.meta(id)?;
        let message = fs::read(self.dir.join(format!("{id}.eml")))?;
        entry
            .prepend
            .push_str("X-Mailmoat-Released: from quarantine\r\n");
        entry.attempts = 0;
        entry.next_attempt_at = now;
        spool.store(&entry, &message)?;
        self.delete(id)
    }

    /// Deletes a held message for good.
    pub fn delete(&self, id: &str) -> io::Result<()> {
        let json = self.dir.join(format!("{id}.json"));
        if !json.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{id} is not in the quarantine"),
            ));
        }
        fs::remove_file(json)?;
        match fs::remove_file(self.dir.join(format!("{id}.eml"))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Quarantined message ids, oldest first.
    pub fn ids(&self) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == "json")
                    .then(|| p.file_stem()?.to_str().map(str::to_string))
                    .flatten()
            })
            .collect();
        ids.sort();
        Ok(ids)
    }
}

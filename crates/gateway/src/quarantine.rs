//! Quarantine: held messages on disk with their envelope and full report, fsynced before the
//! 250 reply like the spool. `ID.eml` is the message as received, `ID.json` the envelope and
//! the report. (An embedded database index for search and release comes with the console.)

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::spool::{write_synced, QueueEntry};

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

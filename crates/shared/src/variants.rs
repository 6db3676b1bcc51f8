//! The variant reference store of every node in PostgreSQL: references added on any node
//! (`mailmoat intel add`, or a node's own store file) reach every node's file, so a family
//! known to one node is matched by all. References are kept as the store file's lines; the
//! key is (sha256, verdict), as in the file.

use std::sync::Arc;

use crate::pg::{PgError, PgLink};

/// One reference: its key and its line of the store file.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantRef {
    pub sha256: String,
    /// "malicious" or "benign".
    pub verdict: String,
    /// The JSON object, as one line of the store file.
    pub line: String,
}

/// The site's variant references.
pub struct SharedVariants {
    link: Arc<PgLink>,
    node: String,
}

impl SharedVariants {
    pub fn new(link: Arc<PgLink>, node: &str) -> SharedVariants {
        SharedVariants {
            link,
            node: node.to_string(),
        }
    }

    /// Adds the references the site lacks; returns how many were new.
    pub fn add(&self, refs: Vec<VariantRef>, now: i64) -> Result<u64, PgError> {
        let node = self.node.clone();
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            let insert = tx.prepare(
                "INSERT INTO variant_refs (sha256, verdict, line, node, added_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256, verdict) DO NOTHING",
            )?;
            let mut added = 0;
            for r in &refs {
                added += tx.execute(&insert, &[&r.sha256, &r.verdict, &r.line, &node, &now])?;
            }
            if added > 0 {
                tx.execute("UPDATE variant_refs_version SET version = version + 1", &[])?;
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// Every reference, in the order they were added.
    pub fn all(&self) -> Result<Vec<VariantRef>, PgError> {
        self.link.call(|c| {
            let rows = c.query(
                "SELECT sha256, verdict, line FROM variant_refs ORDER BY added_at, sha256",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| VariantRef {
                    sha256: r.get(0),
                    verdict: r.get(1),
                    line: r.get(2),
                })
                .collect())
        })
    }

    /// Additions so far: a node fetches the set when this moved.
    pub fn version(&self) -> Result<i64, PgError> {
        self.link.call(|c| {
            Ok(
                c.query_one("SELECT version FROM variant_refs_version", &[])?
                    .get(0),
            )
        })
    }
}

/// Keeps a node's store file and the site's references in step: what the file has and the site
/// lacks goes up (references added before sharing began, or by `intel add` on this node), and
/// what the site has and the file lacks is appended to the file.
#[derive(Default)]
pub struct VariantSync {
    /// The file's length and time when its references last went up.
    uploaded: Option<(u64, std::time::SystemTime)>,
    /// The site's version when its references were last written to the file.
    fetched: Option<i64>,
}

fn stamp_of(path: &std::path::Path) -> Option<(u64, std::time::SystemTime)> {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.len(), m.modified().ok()?)))
}

impl VariantSync {
    /// One round; returns how many references were appended to the file (the scanner must
    /// reload it when more than 0). A round where neither the file nor the site changed reads
    /// nothing but the file's length and time and the site's version: stores can be large.
    pub fn sync(
        &mut self,
        site: &SharedVariants,
        path: &std::path::Path,
        now: i64,
    ) -> Result<usize, String> {
        let stamp = stamp_of(path);
        let version = site.version().map_err(|e| e.to_string())?;
        if stamp == self.uploaded && self.fetched == Some(version) {
            return Ok(0);
        }
        if let Some((len, _)) = stamp.filter(|s| Some(*s) != self.uploaded) {
            // `intel add` only appends: what grew since the last upload is what is new. A file
            // that shrank (replaced by hand) goes up whole.
            let from = match self.uploaded {
                Some((done, _)) if done <= len => done,
                _ => 0,
            };
            let fresh = read_refs_from(path, from)?;
            site.add(fresh, now).map_err(|e| e.to_string())?;
            self.uploaded = stamp;
        }
        let version = site.version().map_err(|e| e.to_string())?;
        if self.fetched == Some(version) {
            return Ok(0);
        }
        let have: std::collections::HashSet<(String, String)> = read_refs(path)?
            .into_iter()
            .map(|r| (r.sha256, r.verdict))
            .collect();
        let missing: Vec<VariantRef> = site
            .all()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|r| !have.contains(&(r.sha256.clone(), r.verdict.clone())))
            .collect();
        if !missing.is_empty() {
            append_lines(path, &missing).map_err(|e| format!("{}: {e}", path.display()))?;
            // What was just appended came from the site: nothing to send back up.
            self.uploaded = stamp_of(path);
        }
        self.fetched = Some(version);
        Ok(missing.len())
    }
}

/// The references of a store file (none when it does not exist yet). A line that is not a
/// reference is skipped here; loading the store reports it.
pub fn read_refs(path: &std::path::Path) -> Result<Vec<VariantRef>, String> {
    read_refs_from(path, 0)
}

/// The references from byte `from` on (from the start when `from` is not where a line starts).
fn read_refs_from(path: &std::path::Path, from: u64) -> Result<Vec<VariantRef>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    let start = match from {
        0 => 0,
        n if n <= bytes.len() && bytes[n - 1] == b'\n' => n,
        _ => 0,
    };
    let text = String::from_utf8_lossy(&bytes[start..]);
    Ok(text
        .lines()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            Some(VariantRef {
                sha256: v["sha256"].as_str()?.to_string(),
                verdict: v["verdict"].as_str()?.to_string(),
                line: line.to_string(),
            })
        })
        .collect())
}

/// Appends references in one write, so a concurrent `intel add` cannot interleave with it.
fn append_lines(path: &std::path::Path, refs: &[VariantRef]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // A file whose last line lacks its newline (edited by hand) still gets whole lines.
    let unterminated = std::fs::read(path)
        .map(|b| b.last().is_some_and(|c| *c != b'\n'))
        .unwrap_or(false);
    let mut text = String::from(if unterminated { "\n" } else { "" });
    for r in refs {
        text.push_str(&r.line);
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

//! Rule and configuration files of the site in PostgreSQL: an administrator pushes files
//! (`mailmoat config push`) from one node, and every node that follows the site's files
//! (`[shared] follow_files`) writes them under its configuration's folder and reloads, so the
//! nodes of a site score mail by the same rules. Paths are relative to that folder and never
//! leave it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::pg::{PgError, PgLink};

/// The most a pushed file may hold.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// One file of the site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteFile {
    /// Relative to the configuration's folder, with `/` between parts.
    pub path: String,
    pub content: Vec<u8>,
    pub at: i64,
    /// The node it was pushed from.
    pub node: String,
}

/// A path as the site stores it, or why it cannot be one: relative, inside the folder, no
/// `..`, nothing but plain names.
pub fn site_path(path: &Path) -> Result<String, String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(name) => parts.push(
                name.to_str()
                    .ok_or_else(|| format!("{}: not UTF-8", path.display()))?
                    .to_string(),
            ),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "{}: a site file's path is relative to the configuration's folder and stays inside it",
                    path.display()
                ))
            }
        }
    }
    if parts.is_empty() {
        return Err("an empty path".into());
    }
    Ok(parts.join("/"))
}

/// The site's files.
pub struct SharedFiles {
    link: Arc<PgLink>,
    node: String,
}

impl SharedFiles {
    pub fn new(link: Arc<PgLink>, node: &str) -> SharedFiles {
        SharedFiles {
            link,
            node: node.to_string(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// Stores files (path as [`site_path`] makes it, content); returns the paths whose content
    /// changed. Nodes following the site's files fetch them when any did.
    pub fn push(&self, files: Vec<(String, Vec<u8>)>, now: i64) -> Result<Vec<String>, PgError> {
        for (path, content) in &files {
            if content.len() > MAX_FILE_BYTES {
                return Err(PgError::Refused(format!(
                    "{path}: {} bytes, more than a site file may hold ({MAX_FILE_BYTES})",
                    content.len()
                )));
            }
        }
        let node = self.node.clone();
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            let upsert = tx.prepare(
                "INSERT INTO site_files (path, content, at, node) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (path) DO UPDATE SET content = EXCLUDED.content, at = EXCLUDED.at,
                     node = EXCLUDED.node
                 WHERE site_files.content <> EXCLUDED.content",
            )?;
            let mut changed = Vec::new();
            for (path, content) in &files {
                if tx.execute(&upsert, &[path, content, &now, &node])? > 0 {
                    changed.push(path.clone());
                }
            }
            if !changed.is_empty() {
                tx.execute("UPDATE site_files_version SET version = version + 1", &[])?;
            }
            tx.commit()?;
            Ok(changed)
        })
    }

    /// Every file of the site.
    pub fn all(&self) -> Result<Vec<SiteFile>, PgError> {
        self.link.call(|c| {
            let rows = c.query(
                "SELECT path, content, at, node FROM site_files ORDER BY path",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| SiteFile {
                    path: r.get(0),
                    content: r.get(1),
                    at: r.get(2),
                    node: r.get(3),
                })
                .collect())
        })
    }

    /// Pushes so far: a node fetches the files when this moved.
    pub fn version(&self) -> Result<i64, PgError> {
        self.link.call(|c| {
            Ok(c.query_one("SELECT version FROM site_files_version", &[])?
                .get(0))
        })
    }
}

/// Keeps a node's folder in step with the site's files.
#[derive(Default)]
pub struct FileSync {
    fetched: Option<i64>,
    /// Each file's content (hashed) as the site last had it.
    seen: std::collections::HashMap<String, u64>,
}

fn digest(content: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut h);
    h.finish()
}

impl FileSync {
    /// One round: writes the site's files that differ from the copies under `base_dir` (each
    /// through a temporary file and a rename, so a reload never reads half a file); returns the
    /// paths that changed for this node (the caller reloads when there are any): those written,
    /// and those the site changed that were already so here (pushed from this node, whose
    /// running configuration has not read them yet).
    pub fn sync(&mut self, site: &SharedFiles, base_dir: &Path) -> Result<Vec<String>, String> {
        let version = site.version().map_err(|e| e.to_string())?;
        if self.fetched == Some(version) {
            return Ok(Vec::new());
        }
        let first_round = self.fetched.is_none();
        let mut changed = Vec::new();
        for f in site.all().map_err(|e| e.to_string())? {
            // Checked again here: the table is the site's, but a file must never land outside
            // the folder, nor be larger than a push allows, whatever a row says. Such a row is
            // refused (once per version) and the other files are still taken.
            let path: PathBuf = match site_path(Path::new(&f.path)) {
                Ok(relative) => base_dir.join(relative),
                Err(why) => {
                    tracing::warn!(node = %f.node, %why, "a site file was refused");
                    continue;
                }
            };
            if f.content.len() > MAX_FILE_BYTES {
                tracing::warn!(path = %f.path, bytes = f.content.len(), "a site file larger than a push allows was refused");
                continue;
            }
            let hash = digest(&f.content);
            let new_to_us = self.seen.get(&f.path) != Some(&hash);
            if std::fs::read(&path).ok().as_deref() != Some(&f.content[..]) {
                write_atomically(&path, &f.content)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                changed.push(f.path.clone());
            } else if new_to_us && !first_round {
                changed.push(f.path.clone());
            }
            self.seen.insert(f.path, hash);
        }
        self.fetched = Some(version);
        Ok(changed)
    }
}

fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.site-{}", std::process::id()));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(content)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::site_path;
    use std::path::Path;

    #[test]
    fn a_site_file_stays_inside_the_configuration_folder() {
        assert_eq!(
            site_path(Path::new("rules/local.cf")).unwrap(),
            "rules/local.cf"
        );
        assert_eq!(
            site_path(Path::new("./mailmoat.toml")).unwrap(),
            "mailmoat.toml"
        );
        for bad in ["/etc/passwd", "../x.toml", "rules/../../x", ""] {
            assert!(site_path(Path::new(bad)).is_err(), "{bad}");
        }
    }
}

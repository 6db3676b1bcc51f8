//! The reference store: known-malicious objects with their family, and known-good ones, one
//! JSON object per line (readable, diffable, appendable by `mailmoat intel add`). Loaded at
//! start and on reload; searched through an [`Index`].

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::index::{quantise, Index};
use crate::{Profile, DIM};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Malicious,
    Benign,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reference {
    pub sha256: String,
    pub family: String,
    pub verdict: Verdict,
    /// The file name it was added under.
    pub name: String,
    pub size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlsh: Option<String>,
    /// The vector, quantised to i8 (×127).
    pub v: Vec<i8>,
}

impl Reference {
    pub fn new(profile: &Profile, family: &str, verdict: Verdict, name: &str) -> Reference {
        Reference {
            sha256: profile.sha256.clone(),
            family: family.to_string(),
            verdict,
            name: name.to_string(),
            size: profile.size,
            tlsh: profile.tlsh.clone(),
            v: quantise(&profile.vector),
        }
    }

    pub fn vector(&self) -> Vec<f32> {
        self.v.iter().map(|x| f32::from(*x) / 127.0).collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("reference store {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("reference store {path}:{line}: {why}")]
    Line {
        path: String,
        line: usize,
        why: String,
    },
}

/// What the store says about an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub family: String,
    pub similarity: f32,
    /// The reference it is closest to.
    pub sha256: String,
    pub name: String,
    /// How close the nearest known-good object is (None: no benign reference nearby).
    pub nearest_benign: Option<f32>,
}

#[derive(Debug, Default, Clone)]
pub struct Store {
    pub refs: Vec<Reference>,
    index: Index,
}

impl Store {
    pub fn from_refs(refs: Vec<Reference>) -> Store {
        let flat: Vec<f32> = refs.iter().flat_map(|r| r.vector()).collect();
        Store {
            index: Index::build(&flat),
            refs,
        }
    }

    /// Reads a store; a missing file is an empty store (nothing added yet).
    pub fn load(path: &Path) -> Result<Store, StoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Store::default()),
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let mut refs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let r: Reference = serde_json::from_str(line).map_err(|e| StoreError::Line {
                path: path.display().to_string(),
                line: n + 1,
                why: e.to_string(),
            })?;
            if r.v.len() != DIM {
                return Err(StoreError::Line {
                    path: path.display().to_string(),
                    line: n + 1,
                    why: format!("vector of {} values, expected {DIM}", r.v.len()),
                });
            }
            refs.push(r);
        }
        Ok(Store::from_refs(refs))
    }

    /// Appends references to the file (creating it), skipping those already there.
    pub fn append(path: &Path, new: &[Reference]) -> Result<usize, StoreError> {
        let existing = Store::load(path)?;
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let mut added = 0;
        for r in new {
            if existing
                .refs
                .iter()
                .any(|e| e.sha256 == r.sha256 && e.verdict == r.verdict)
            {
                continue;
            }
            let line = serde_json::to_string(r).unwrap_or_default();
            writeln!(file, "{line}").map_err(io)?;
            added += 1;
        }
        file.sync_all().map_err(io)?;
        Ok(added)
    }

    pub fn len(&self) -> usize {
        self.refs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    pub fn nearest(&self, vector: &[f32], k: usize) -> Vec<(&Reference, f32)> {
        self.index
            .search(vector, k)
            .into_iter()
            .filter_map(|n| self.refs.get(n.id as usize).map(|r| (r, n.similarity)))
            .collect()
    }

    /// A known-malicious neighbour at least `threshold` similar, closer than any known-good
    /// one by `margin`. An exact copy (same SHA-256) of a benign reference never matches.
    pub fn judge(&self, profile: &Profile, threshold: f32, margin: f32) -> Option<Match> {
        let near = self.nearest(&profile.vector, 8);
        if near
            .iter()
            .any(|(r, _)| r.verdict == Verdict::Benign && r.sha256 == profile.sha256)
        {
            return None;
        }
        let benign = near
            .iter()
            .filter(|(r, _)| r.verdict == Verdict::Benign)
            .map(|(_, s)| *s)
            .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
        let (best, similarity) = near
            .iter()
            .filter(|(r, _)| r.verdict == Verdict::Malicious)
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let exact = best.sha256 == profile.sha256;
        if !exact && (*similarity < threshold || benign.is_some_and(|b| b + margin > *similarity)) {
            return None;
        }
        Some(Match {
            family: best.family.clone(),
            similarity: if exact { 1.0 } else { *similarity },
            sha256: best.sha256.clone(),
            name: best.name.clone(),
            nearest_benign: benign,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;

    #[test]
    fn store_round_trip_and_judgement() {
        let dir = std::env::temp_dir().join(format!("mailmoat-variants-{}", std::process::id()));
        let path = dir.join("store.jsonl");
        let bad: Vec<u8> = (0..30_000u32)
            .flat_map(|i| {
                format!("WScript.Shell.Run('cmd /c {i}'); fetch('http://x.invalid/{i}');\n")
                    .into_bytes()
            })
            .take(30_000)
            .collect();
        let good: Vec<u8> = (0..30_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let refs = vec![
            Reference::new(&profile(&bad), "Test.Dropper", Verdict::Malicious, "bad.js"),
            Reference::new(&profile(&good), "", Verdict::Benign, "good.bin"),
        ];
        assert_eq!(Store::append(&path, &refs).unwrap(), 2);
        assert_eq!(Store::append(&path, &refs).unwrap(), 0, "no duplicates");
        let store = Store::load(&path).unwrap();
        assert_eq!(store.len(), 2);
        let mut variant = bad.clone();
        variant.splice(500..500, b"// a comment\n".iter().copied());
        let m = store
            .judge(&profile(&variant), 0.9, 0.02)
            .expect("a variant matches");
        assert_eq!(m.family, "Test.Dropper");
        assert!(store.judge(&profile(&good), 0.9, 0.02).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}

//! Threat intelligence as one versioned folder: YARA rules (`yara/`), ClamAV signatures
//! (`clamav/`), known-bad hash lists (`hashes/*.txt`) and variant references
//! (`variants.jsonl`), listed with their SHA-256 in `manifest.toml` and, where the site trusts
//! a publisher's key, signed (`manifest.toml.sig`: Ed25519 over the manifest's bytes).
//!
//! `[intel] dir` holds the installed versions (`versions/NAME`) and two links: `current`,
//! which the scanner loads, and `previous`, kept for a rollback. An update is verified in full
//! before anything changes, then `current` is replaced by a rename (atomic: a scanner reading
//! the folder sees the old version or the new one, never a mix). A running gateway notices the
//! new `current` and reloads; a version that does not load leaves the old one in force.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[intel]`: where verified intelligence folders are installed and whose signatures count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// The installation folder (relative to the config file); unset: no intel folder.
    pub dir: Option<PathBuf>,
    /// Publishers' Ed25519 public keys (base64 of the 32 bytes, as `mailmoat intel keygen`
    /// prints them). When any is set, an update must carry a signature by one of them.
    pub trusted_keys: Vec<String>,
    /// clamd's DatabaseDirectory: an update copies its ClamAV signatures there (as
    /// `mailmoat-intel-NAME`) and asks clamd to reload ([analyzers.clamav] address).
    pub clamav_database_dir: Option<PathBuf>,
    /// How often a running gateway looks for a new current version, in seconds.
    pub check_interval_secs: u64,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            dir: None,
            trusted_keys: Vec::new(),
            clamav_database_dir: None,
            check_interval_secs: 30,
        }
    }
}

/// `manifest.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: String,
    /// Every file of the folder (paths with `/`) and its SHA-256 in hex.
    pub files: BTreeMap<String, String>,
}

/// What is wrong with an intelligence folder, or with installing it.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}/manifest.toml: {1}")]
    Manifest(PathBuf, String),
    #[error("{0}: {1}")]
    Verify(PathBuf, String),
}

const MANIFEST: &str = "manifest.toml";
const SIGNATURE: &str = "manifest.toml.sig";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IntelError + '_ {
    move |source| IntelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The files of a folder, relative, with `/`, sorted (the manifest and its signature left out).
fn listed_files(root: &Path) -> Result<Vec<String>, IntelError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), IntelError> {
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_symlink() {
                return Err(IntelError::Verify(
                    path,
                    "links are not allowed in an intelligence folder".to_string(),
                ));
            }
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else {
                let relative = path
                    .strip_prefix(root)
                    .map_err(|_| IntelError::Verify(path.clone(), "outside the folder".into()))?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                if relative != MANIFEST && relative != SIGNATURE {
                    out.push(relative);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

fn sha256_file(path: &Path) -> Result<String, IntelError> {
    let data = std::fs::read(path).map_err(io(path))?;
    Ok(mailmoat_analyzers::sha256_hex(&data))
}

/// Writes `manifest.toml` for a folder (and its signature with `key`, a PKCS#8 Ed25519 key).
pub fn pack(folder: &Path, version: &str, key: Option<&[u8]>) -> Result<Manifest, IntelError> {
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(IntelError::Manifest(
            folder.to_path_buf(),
            format!("version {version:?}: use letters, digits, '.', '-' and '_'"),
        ));
    }
    let mut files = BTreeMap::new();
    for name in listed_files(folder)? {
        files.insert(name.clone(), sha256_file(&folder.join(&name))?);
    }
    let manifest = Manifest {
        version: version.to_string(),
        files,
    };
    let text = toml::to_string(&manifest)
        .map_err(|e| IntelError::Manifest(folder.to_path_buf(), e.to_string()))?;
    let path = folder.join(MANIFEST);
    std::fs::write(&path, &text).map_err(io(&path))?;
    let sig_path = folder.join(SIGNATURE);
    match key {
        Some(key) => {
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8(key).map_err(|_| {
                IntelError::Verify(folder.to_path_buf(), "not an Ed25519 PKCS#8 key".into())
            })?;
            let signature = pair.sign(text.as_bytes());
            std::fs::write(&sig_path, base64_encode(signature.as_ref())).map_err(io(&sig_path))?;
        }
        None => {
            let _ = std::fs::remove_file(&sig_path);
        }
    }
    Ok(manifest)
}

/// A new signing key: (PKCS#8 private key, base64 public key).
pub fn keygen() -> Result<(Vec<u8>, String), String> {
    use ring::signature::KeyPair;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| "the system's random source failed".to_string())?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| "a fresh key did not parse".to_string())?;
    Ok((
        pkcs8.as_ref().to_vec(),
        base64_encode(pair.public_key().as_ref()),
    ))
}

/// Checks a folder against its manifest (every file listed, present and with its SHA-256;
/// nothing unlisted) and, when keys are trusted, its signature by one of them.
pub fn verify(folder: &Path, trusted_keys: &[String]) -> Result<Manifest, IntelError> {
    let path = folder.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let manifest: Manifest = toml::from_str(&text)
        .map_err(|e| IntelError::Manifest(folder.to_path_buf(), e.message().to_string()))?;
    if !trusted_keys.is_empty() {
        let sig_path = folder.join(SIGNATURE);
        let signature = std::fs::read_to_string(&sig_path)
            .map_err(|_| {
                IntelError::Verify(
                    folder.to_path_buf(),
                    "unsigned, and [intel] trusted_keys asks for a signature".into(),
                )
            })
            .and_then(|s| {
                base64_decode(s.trim())
                    .ok_or_else(|| IntelError::Verify(sig_path.clone(), "not base64".to_string()))
            })?;
        let signed = trusted_keys.iter().any(|key| {
            base64_decode(key).is_some_and(|key| {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
                    .verify(text.as_bytes(), &signature)
                    .is_ok()
            })
        });
        if !signed {
            return Err(IntelError::Verify(
                folder.to_path_buf(),
                "the signature is not by a trusted key (or the manifest changed after signing)"
                    .into(),
            ));
        }
    }
    let present = listed_files(folder)?;
    for name in &present {
        if !manifest.files.contains_key(name) {
            return Err(IntelError::Verify(
                folder.join(name),
                "not in the manifest".to_string(),
            ));
        }
    }
    for (name, expected) in &manifest.files {
        if name.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(IntelError::Manifest(
                folder.to_path_buf(),
                format!("{name:?} is not a plain relative path"),
            ));
        }
        let file = folder.join(name);
        if !present.contains(name) {
            return Err(IntelError::Verify(file, "listed but missing".to_string()));
        }
        let actual = sha256_file(&file)?;
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(IntelError::Verify(
                file,
                format!("SHA-256 {actual}, the manifest says {expected}"),
            ));
        }
    }
    Ok(manifest)
}

/// The installed version the scanner loads: its name and folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: String,
    pub folder: PathBuf,
}

impl Installed {
    /// The YARA rule folder, when the version has one.
    pub fn yara(&self) -> Option<PathBuf> {
        Some(self.folder.join("yara")).filter(|p| p.is_dir())
    }
    /// The known-bad hash lists.
    pub fn hash_lists(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.folder.join("hashes"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
    /// The variant reference store, when the version has one.
    pub fn variants(&self) -> Option<PathBuf> {
        Some(self.folder.join("variants.jsonl")).filter(|p| p.is_file())
    }
    /// ClamAV signature files (`clamav/*`).
    pub fn clamav_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.folder.join("clamav"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        out.retain(|p| p.is_file());
        out.sort();
        out
    }
}

/// The version `current` points at, checked against its manifest again (a file changed on
/// disk after installation is an error, not silently loaded).
pub fn current(dir: &Path, trusted_keys: &[String]) -> Result<Option<Installed>, IntelError> {
    let link = dir.join("current");
    let Ok(target) = std::fs::read_link(&link) else {
        return Ok(None);
    };
    let folder = dir.join(target);
    let manifest = verify(&folder, trusted_keys)?;
    Ok(Some(Installed {
        version: manifest.version,
        folder,
    }))
}

/// The version `current` points at, without checking the files (cheap: for noticing a change).
pub fn current_version(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join("current")).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Points `name` (a link in `dir`) at `target` by renaming a fresh link over it.
fn swap_link(dir: &Path, name: &str, target: &Path) -> Result<(), IntelError> {
    let temp = dir.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, &temp).map_err(io(&temp))?;
    #[cfg(not(unix))]
    return Err(IntelError::Verify(temp, "links need a Unix system".into()));
    let link = dir.join(name);
    std::fs::rename(&temp, &link).map_err(io(&link))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), IntelError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if entry.file_type().map_err(io(&path))?.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Verifies `folder`, copies it into `dir/versions/VERSION`, verifies the copy, and makes it
/// `current` (the one before becomes `previous`). Returns the version installed.
pub fn install(dir: &Path, folder: &Path, trusted_keys: &[String]) -> Result<String, IntelError> {
    let manifest = verify(folder, trusted_keys)?;
    let versions = dir.join("versions");
    std::fs::create_dir_all(&versions).map_err(io(&versions))?;
    let dest = versions.join(&manifest.version);
    if dest.exists() {
        if current_version(dir).as_deref() == Some(manifest.version.as_str()) {
            return Err(IntelError::Verify(
                folder.to_path_buf(),
                format!("version {} is already the current one", manifest.version),
            ));
        }
        std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    let staging = versions.join(format!(".incoming-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    copy_tree(folder, &staging)?;
    // The copy is what will be loaded: check it, not only the source.
    verify(&staging, trusted_keys)?;
    std::fs::rename(&staging, &dest).map_err(io(&dest))?;
    if let Ok(before) = std::fs::read_link(dir.join("current")) {
        swap_link(dir, "previous", &before)?;
    }
    swap_link(
        dir,
        "current",
        Path::new("versions").join(&manifest.version).as_path(),
    )?;
    Ok(manifest.version)
}

/// Makes `previous` current again (and the current one previous). Returns the version now
/// current.
pub fn rollback(dir: &Path) -> Result<String, IntelError> {
    let previous = std::fs::read_link(dir.join("previous")).map_err(|_| {
        IntelError::Verify(
            dir.to_path_buf(),
            "no previous version to roll back to".into(),
        )
    })?;
    let current = std::fs::read_link(dir.join("current")).map_err(io(dir))?;
    swap_link(dir, "current", &previous)?;
    swap_link(dir, "previous", &current)?;
    Ok(current_version(dir).unwrap_or_default())
}

/// Prefix of the signature files an update puts into clamd's database folder.
const CLAMAV_PREFIX: &str = "mailmoat-intel-";

/// Replaces the ClamAV signature files earlier updates put into clamd's database folder with
/// the installed version's (each written under a temporary name, then renamed). Returns how
/// many files are there now.
pub fn sync_clamav(installed: &Installed, database_dir: &Path) -> Result<usize, IntelError> {
    let wanted: Vec<PathBuf> = installed.clamav_files();
    let names: Vec<String> = wanted
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| format!("{CLAMAV_PREFIX}{}", n.to_string_lossy()))
        .collect();
    for (from, name) in wanted.iter().zip(&names) {
        let temp = database_dir.join(format!(".{name}.tmp"));
        std::fs::copy(from, &temp).map_err(io(&temp))?;
        let dest = database_dir.join(name);
        std::fs::rename(&temp, &dest).map_err(io(&dest))?;
    }
    for entry in std::fs::read_dir(database_dir).map_err(io(database_dir))? {
        let entry = entry.map_err(io(database_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(CLAMAV_PREFIX) && !names.contains(&name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(names.len())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mailmoat-intel-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn package(root: &Path, version: &str, rule: &str, key: Option<&[u8]>) -> PathBuf {
        let folder = root.join(format!("pkg-{version}"));
        std::fs::create_dir_all(folder.join("yara")).unwrap();
        std::fs::create_dir_all(folder.join("hashes")).unwrap();
        std::fs::write(folder.join("yara/a.yar"), rule).unwrap();
        std::fs::write(
            folder.join("hashes/feed.txt"),
            format!("{} X\n", "ab".repeat(32)),
        )
        .unwrap();
        pack(&folder, version, key).unwrap();
        folder
    }

    #[test]
    fn an_update_is_verified_swapped_in_and_can_be_rolled_back() {
        let root = temp("swap");
        let dir = root.join("intel");
        assert_eq!(current(&dir, &[]).unwrap(), None);
        let one = package(&root, "2026.1", "rule A { condition: true }", None);
        let two = package(&root, "2026.2", "rule B { condition: true }", None);
        assert_eq!(install(&dir, &one, &[]).unwrap(), "2026.1");
        assert_eq!(current_version(&dir).as_deref(), Some("2026.1"));
        assert_eq!(install(&dir, &two, &[]).unwrap(), "2026.2");
        let now = current(&dir, &[]).unwrap().unwrap();
        assert_eq!(now.version, "2026.2");
        assert_eq!(
            std::fs::read_to_string(now.yara().unwrap().join("a.yar")).unwrap(),
            "rule B { condition: true }"
        );
        assert_eq!(now.hash_lists().len(), 1);
        assert_eq!(rollback(&dir).unwrap(), "2026.1");
        assert_eq!(current_version(&dir).as_deref(), Some("2026.1"));
        assert_eq!(rollback(&dir).unwrap(), "2026.2");
        // Installing the current version again is refused.
        assert!(install(&dir, &two, &[]).is_err());
    }

    #[test]
    fn a_changed_missing_or_extra_file_is_refused_and_nothing_changes() {
        let root = temp("tamper");
        let dir = root.join("intel");
        let good = package(&root, "v1", "rule A { condition: true }", None);
        install(&dir, &good, &[]).unwrap();

        let changed = package(&root, "v2", "rule B { condition: true }", None);
        std::fs::write(changed.join("yara/a.yar"), "rule Evil { condition: true }").unwrap();
        let err = install(&dir, &changed, &[]).unwrap_err().to_string();
        assert!(err.contains("a.yar") && err.contains("SHA-256"), "{err}");

        let extra = package(&root, "v3", "rule C { condition: true }", None);
        std::fs::write(
            extra.join("yara/smuggled.yar"),
            "rule S { condition: true }",
        )
        .unwrap();
        let err = install(&dir, &extra, &[]).unwrap_err().to_string();
        assert!(
            err.contains("smuggled.yar") && err.contains("not in the manifest"),
            "{err}"
        );

        let missing = package(&root, "v4", "rule D { condition: true }", None);
        std::fs::remove_file(missing.join("hashes/feed.txt")).unwrap();
        let err = install(&dir, &missing, &[]).unwrap_err().to_string();
        assert!(err.contains("listed but missing"), "{err}");

        assert_eq!(current_version(&dir).as_deref(), Some("v1"));
        // A file changed after installation stops the version from loading.
        let installed = dir.join("versions/v1/yara/a.yar");
        std::fs::write(&installed, "rule Changed { condition: true }").unwrap();
        assert!(current(&dir, &[]).is_err());
    }

    #[test]
    fn with_trusted_keys_only_a_signature_by_one_of_them_installs() {
        let root = temp("signed");
        let dir = root.join("intel");
        let (key, public) = keygen().unwrap();
        let (other_key, _) = keygen().unwrap();
        let trusted = vec![public];
        let unsigned = package(&root, "u1", "rule A { condition: true }", None);
        let err = install(&dir, &unsigned, &trusted).unwrap_err().to_string();
        assert!(err.contains("unsigned"), "{err}");
        let wrong = package(&root, "w1", "rule A { condition: true }", Some(&other_key));
        let err = install(&dir, &wrong, &trusted).unwrap_err().to_string();
        assert!(err.contains("not by a trusted key"), "{err}");
        let signed = package(&root, "s1", "rule A { condition: true }", Some(&key));
        assert_eq!(install(&dir, &signed, &trusted).unwrap(), "s1");
        // The manifest edited after signing (a hash swapped for a planted file's) fails.
        let edited = package(&root, "s2", "rule A { condition: true }", Some(&key));
        let text = std::fs::read_to_string(edited.join("manifest.toml")).unwrap();
        std::fs::write(edited.join("manifest.toml"), text.replace("s2", "s3")).unwrap();
        assert!(install(&dir, &edited, &trusted).is_err());
    }
}

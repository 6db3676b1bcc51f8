//! YARA rules run in process with yara-x. Rule files and folders are compiled once (at load
//! and on reload); a broken file is reported as `file:line:column: what` and nothing of the new
//! set is used, so the caller keeps the set it had. Each object is scanned within a time
//! budget and a size budget; a scan that runs out of time says so instead of answering.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A compiled rule set and what it was compiled from.
pub struct RuleSet {
    #[cfg(feature = "engine")]
    rules: std::sync::Arc<yara_x::Rules>,
    #[cfg(feature = "engine")]
    id: u64,
    /// Built without the engine, no rule set can exist.
    #[cfg(not(feature = "engine"))]
    never: std::convert::Infallible,
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("files", &self.files)
            .field("rules", &self.rule_count())
            .finish()
    }
}

/// Whether this build has the YARA engine.
pub const ENGINE_BUILT: bool = cfg!(feature = "engine");

/// A rule file that does not compile (or cannot be read), with the place of the first problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct RuleError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file itself (unreadable, empty folder).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One rule that matched an object.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMatch {
    pub rule: String,
    /// The namespace: the rule file's name without its extension.
    pub namespace: String,
    pub tags: Vec<String>,
    pub meta: Vec<(String, MetaValue)>,
}

impl RuleMatch {
    /// A metadata value by name (the first, as YARA allows repeats).
    pub fn meta(&self, name: &str) -> Option<&MetaValue> {
        self.meta.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A rule's metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Integer(i64),
    Float(f64),
    Bool(bool),
    String(String),
}

impl std::fmt::Display for MetaValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaValue::Integer(i) => write!(f, "{i}"),
            MetaValue::Float(x) => write!(f, "{x}"),
            MetaValue::Bool(b) => write!(f, "{b}"),
            MetaValue::String(s) => f.write_str(s),
        }
    }
}

/// Why an object was not scanned to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanFailure {
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("{0}")]
    Engine(String),
}

/// The extensions read as rule files when a folder is named.
const RULE_EXTENSIONS: [&str; 2] = ["yar", "yara"];

impl RuleSet {
    /// Compiles rule files, and the `*.yar`/`*.yara` files of folders (recursively, in name
    /// order). Each file is its own namespace, named after the file, so two files may use the
    /// same rule name. The first broken file is the error.
    pub fn compile(paths: &[PathBuf]) -> Result<RuleSet, RuleError> {
        let mut files = Vec::new();
        for path in paths {
            collect_rule_files(path, &mut files)?;
        }
        Self::compile_files(files)
    }

    #[cfg(not(feature = "engine"))]
    fn compile_files(files: Vec<PathBuf>) -> Result<RuleSet, RuleError> {
        Err(RuleError {
            file: files.into_iter().next().unwrap_or_default(),
            line: 0,
            column: 0,
            message: "this mailmoat was built without the YARA engine (cargo feature `yara`)"
                .to_string(),
        })
    }

    #[cfg(feature = "engine")]
    fn compile_files(files: Vec<PathBuf>) -> Result<RuleSet, RuleError> {
        let mut compiler = yara_x::Compiler::new();
        for file in &files {
            let text = std::fs::read(file).map_err(|e| RuleError {
                file: file.clone(),
                line: 0,
                column: 0,
                message: e.to_string(),
            })?;
            let namespace = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "default".to_string());
            compiler.new_namespace(&namespace);
            let source =
                yara_x::SourceCode::from(text.as_slice()).with_origin(file.display().to_string());
            if let Err(e) = compiler.add_source(source) {
                let (line, column) = e
                    .labels()
                    .next()
                    .map(|l| line_and_column(&text, l.span().range().start))
                    .unwrap_or((0, 0));
                let detail = e
                    .labels()
                    .next()
                    .map(|l| l.text().to_string())
                    .filter(|t| !t.is_empty());
                return Err(RuleError {
                    file: file.clone(),
                    line,
                    column,
                    message: match detail {
                        Some(d) => format!("{}: {d}", e.title()),
                        None => e.title().to_string(),
                    },
                });
            }
        }
        Ok(RuleSet {
            rules: std::sync::Arc::new(compiler.build()),
            id: engine::next_id(),
            files,
        })
    }

    /// The rule files compiled, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// How many rules the set holds.
    pub fn rule_count(&self) -> usize {
        #[cfg(feature = "engine")]
        return self.rules.iter().len();
        #[cfg(not(feature = "engine"))]
        match self.never {}
    }

    /// The rules that match `data`, within `timeout`.
    ///
    /// Making a yara-x scanner costs about 0.3 ms with a thousand rules (it instantiates the
    /// rules' compiled code), far more than scanning a small object, so each thread keeps one
    /// for the rule set it last used and makes a new one only when the set (or the timeout)
    /// changes: after a reload, the next scan on each thread.
    pub fn scan(&self, data: &[u8], timeout: Duration) -> Result<Vec<RuleMatch>, ScanFailure> {
        #[cfg(feature = "engine")]
        return engine::scan(self, data, timeout);
        #[cfg(not(feature = "engine"))]
        {
            let _ = (data, timeout);
            match self.never {}
        }
    }
}

#[cfg(feature = "engine")]
mod engine {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::{meta_value, RuleMatch, RuleSet, ScanFailure};

    /// A distinct number for every compiled rule set, so a thread knows its scanner is for it.
    pub(super) fn next_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// This thread's scanner. Field order matters: the scanner is dropped before the rules it
    /// borrows, which this entry keeps alive.
    struct Cached {
        id: u64,
        timeout: Duration,
        scanner: yara_x::Scanner<'static>,
        _rules: Arc<yara_x::Rules>,
    }

    thread_local! {
        static CACHED: RefCell<Option<Cached>> = const { RefCell::new(None) };
    }

    pub(super) fn scan(
        set: &RuleSet,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Vec<RuleMatch>, ScanFailure> {
        CACHED.with(|cell| {
            let mut cached = cell.borrow_mut();
            if !cached
                .as_ref()
                .is_some_and(|c| c.id == set.id && c.timeout == timeout)
            {
                // Drop the old scanner (and with it, possibly, old rules) first.
                *cached = None;
                let rules = set.rules.clone();
                // SAFETY: the rules live in an Arc whose allocation never moves, and the
                // `Cached` entry holds a strong reference to it for as long as the scanner
                // exists (the scanner field is dropped first), so the 'static borrow never
                // outlives what it points at. yara-x's scanner only reads the rules.
                let borrowed: &'static yara_x::Rules = unsafe { &*Arc::as_ptr(&rules) };
                let mut scanner = yara_x::Scanner::new(borrowed);
                scanner.set_timeout(timeout);
                *cached = Some(Cached {
                    id: set.id,
                    timeout,
                    scanner,
                    _rules: rules,
                });
            }
            let entry = cached.as_mut().expect("just made");
            let results = entry.scanner.scan(data).map_err(|e| match e {
                yara_x::errors::ScanError::Timeout => {
                    ScanFailure::Timeout(timeout.as_millis() as u64)
                }
                other => ScanFailure::Engine(other.to_string()),
            })?;
            Ok(results
                .matching_rules()
                .map(|rule| RuleMatch {
                    rule: rule.identifier().to_string(),
                    namespace: rule.namespace().to_string(),
                    tags: rule.tags().map(|t| t.identifier().to_string()).collect(),
                    meta: rule
                        .metadata()
                        .map(|(k, v)| (k.to_string(), meta_value(v)))
                        .collect(),
                })
                .collect())
        })
    }
}

#[cfg(feature = "engine")]
fn meta_value(v: yara_x::MetaValue<'_>) -> MetaValue {
    match v {
        yara_x::MetaValue::Integer(i) => MetaValue::Integer(i),
        yara_x::MetaValue::Float(x) => MetaValue::Float(x),
        yara_x::MetaValue::Bool(b) => MetaValue::Bool(b),
        yara_x::MetaValue::String(s) => MetaValue::String(s.to_string()),
        yara_x::MetaValue::Bytes(b) => MetaValue::String(String::from_utf8_lossy(b).into_owned()),
    }
}

fn collect_rule_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), RuleError> {
    let fail = |message: String| RuleError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| fail(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let before = out.len();
    for entry in entries {
        if entry.is_dir() {
            collect_rule_files(&entry, out)?;
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| RULE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(entry);
        }
    }
    if out.len() == before {
        return Err(fail("no .yar or .yara files in this folder".to_string()));
    }
    Ok(())
}

#[cfg(feature = "engine")]
fn line_and_column(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    (line, before.len() - start + 1)
}

#[cfg(all(test, feature = "engine"))]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mailmoat-yara-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const GOOD: &str = r#"
rule Dropper_Marker : dropper test {
    meta:
        severity = "high"
        family = "InertTest"
        score = 15
    strings:
        $a = "MAILMOAT-INERT-DROPPER-MARKER"
    condition:
        $a
}
"#;

    #[test]
    fn a_folder_compiles_and_matches_carry_namespace_tags_and_meta() {
        let dir = folder("good");
        std::fs::write(dir.join("families.yar"), GOOD).unwrap();
        std::fs::write(dir.join("README.txt"), "not a rule file").unwrap();
        let set = RuleSet::compile(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(set.rule_count(), 1);
        assert_eq!(set.files(), [dir.join("families.yar")]);
        let five = Duration::from_secs(5);
        let found = set
            .scan(b"xx MAILMOAT-INERT-DROPPER-MARKER yy", five)
            .unwrap();
        assert_eq!(found.len(), 1);
        let m = &found[0];
        assert_eq!(m.rule, "Dropper_Marker");
        assert_eq!(m.namespace, "families");
        assert_eq!(m.tags, ["dropper", "test"]);
        assert_eq!(m.meta("severity"), Some(&MetaValue::String("high".into())));
        assert_eq!(m.meta("score"), Some(&MetaValue::Integer(15)));
        assert!(set.scan(b"nothing here", five).unwrap().is_empty());
    }

    #[test]
    fn a_broken_file_is_named_with_its_line() {
        let dir = folder("broken");
        std::fs::write(dir.join("a.yar"), GOOD).unwrap();
        std::fs::write(
            dir.join("b.yar"),
            "rule Fine { condition: true }\n\nrule Broken {\n  strings:\n    $a = \"x\"\n  condition:\n    $b\n}\n",
        )
        .unwrap();
        let err = RuleSet::compile(std::slice::from_ref(&dir)).unwrap_err();
        assert_eq!(err.file, dir.join("b.yar"));
        assert_eq!(err.line, 7, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:7:", dir.join("b.yar").display())),
            "{err}"
        );
        let missing = RuleSet::compile(&[dir.join("nope.yar")]).unwrap_err();
        assert_eq!(missing.line, 0);
    }

    #[test]
    fn two_files_may_use_one_rule_name() {
        let dir = folder("namespaces");
        std::fs::write(dir.join("one.yar"), GOOD).unwrap();
        std::fs::write(dir.join("two.yara"), GOOD).unwrap();
        let set = RuleSet::compile(&[dir]).unwrap();
        let found = set
            .scan(b"MAILMOAT-INERT-DROPPER-MARKER", Duration::from_secs(5))
            .unwrap();
        let mut spaces: Vec<&str> = found.iter().map(|m| m.namespace.as_str()).collect();
        spaces.sort();
        assert_eq!(spaces, ["one", "two"]);
    }
}

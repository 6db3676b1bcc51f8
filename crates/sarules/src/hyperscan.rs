//! Hyperscan (Intel's multi-pattern regex engine, the one rspamd uses for the same rules),
//! loaded at run time from the system's `libhs.so.5` (Debian's `libhyperscan5`, or
//! `libvectorscan5`, which provides it). One compiled database per rule kind answers "which
//! of these patterns match this value" in one pass over the text, where the built-in engine
//! runs a regex per pattern whose literals occurred. Loaded at run time rather than linked,
//! so that one binary builds and runs everywhere: without the library the built-in engine
//! does the same work, more slowly.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::ptr;
use std::sync::{Mutex, OnceLock};

type HsError = c_int;
const HS_SUCCESS: HsError = 0;

/// `hs.h` flags.
pub const CASELESS: c_uint = 1;
pub const DOTALL: c_uint = 2;
pub const MULTILINE: c_uint = 4;
const SINGLEMATCH: c_uint = 8;
const ALLOWEMPTY: c_uint = 16;
pub const PREFILTER: c_uint = 128;
const MODE_BLOCK: c_uint = 1;

#[repr(C)]
struct CompileError {
    message: *const c_char,
    expression: c_int,
}

type OnMatch = unsafe extern "C" fn(c_uint, c_ulonglong, c_ulonglong, c_uint, *mut c_void) -> c_int;

struct Library {
    // Kept so the functions below stay mapped.
    _lib: libloading::Library,
    version: String,
    compile_multi: unsafe extern "C" fn(
        *const *const c_char,
        *const c_uint,
        *const c_uint,
        c_uint,
        c_uint,
        *const c_void,
        *mut *mut c_void,
        *mut *mut CompileError,
    ) -> HsError,
    free_compile_error: unsafe extern "C" fn(*mut CompileError) -> HsError,
    free_database: unsafe extern "C" fn(*mut c_void) -> HsError,
    serialize_database:
        unsafe extern "C" fn(*const c_void, *mut *mut c_char, *mut usize) -> HsError,
    deserialize_database: unsafe extern "C" fn(*const c_char, usize, *mut *mut c_void) -> HsError,
    expression_info: unsafe extern "C" fn(
        *const c_char,
        c_uint,
        *mut *mut c_void,
        *mut *mut CompileError,
    ) -> HsError,
    alloc_scratch: unsafe extern "C" fn(*const c_void, *mut *mut c_void) -> HsError,
    clone_scratch: unsafe extern "C" fn(*const c_void, *mut *mut c_void) -> HsError,
    free_scratch: unsafe extern "C" fn(*mut c_void) -> HsError,
    scan: unsafe extern "C" fn(
        *const c_void,
        *const c_char,
        c_uint,
        c_uint,
        *mut c_void,
        Option<OnMatch>,
        *mut c_void,
    ) -> HsError,
}

fn library() -> Option<&'static Library> {
    static LIBRARY: OnceLock<Option<Library>> = OnceLock::new();
    LIBRARY
        .get_or_init(|| match open_library() {
            Ok(lib) => Some(lib),
            Err(why) => {
                tracing::info!(
                    "Hyperscan not available ({why}); SpamAssassin rules use the built-in engine"
                );
                None
            }
        })
        .as_ref()
}

fn open_library() -> Result<Library, String> {
    // SAFETY: loading a shared library runs its initialisers; libhs has none with side
    // effects beyond its own state. Every symbol is declared with hs.h's (5.x) signature.
    unsafe {
        let lib = libloading::Library::new("libhs.so.5").map_err(|e| e.to_string())?;
        let valid: libloading::Symbol<unsafe extern "C" fn() -> HsError> =
            lib.get(b"hs_valid_platform\0").map_err(|e| e.to_string())?;
        if valid() != HS_SUCCESS {
            return Err("this CPU lacks the instructions Hyperscan needs (SSSE3)".into());
        }
        let version: libloading::Symbol<unsafe extern "C" fn() -> *const c_char> =
            lib.get(b"hs_version\0").map_err(|e| e.to_string())?;
        let version = CStr::from_ptr(version()).to_string_lossy().into_owned();
        macro_rules! symbol {
            ($name:literal) => {
                *lib.get($name).map_err(|e| e.to_string())?
            };
        }
        Ok(Library {
            version,
            compile_multi: symbol!(b"hs_compile_multi\0"),
            free_compile_error: symbol!(b"hs_free_compile_error\0"),
            free_database: symbol!(b"hs_free_database\0"),
            expression_info: symbol!(b"hs_expression_info\0"),
            serialize_database: symbol!(b"hs_serialize_database\0"),
            deserialize_database: symbol!(b"hs_deserialize_database\0"),
            alloc_scratch: symbol!(b"hs_alloc_scratch\0"),
            clone_scratch: symbol!(b"hs_clone_scratch\0"),
            free_scratch: symbol!(b"hs_free_scratch\0"),
            scan: symbol!(b"hs_scan\0"),
            _lib: lib,
        })
    }
}

/// The library's version when it can be used here.
pub fn available() -> Option<&'static str> {
    library().map(|l| l.version.as_str())
}

/// A pattern for [`Database::compile`]: Perl/PCRE syntax and `hs.h` flags.
pub struct Expression {
    pub source: String,
    pub flags: c_uint,
    pub id: u32,
}

/// An expression the library would not compile, and its reason.
type Refused = (Expression, String);

/// A compiled block-mode database; immutable and shared between threads.
pub struct Database {
    lib: &'static Library,
    db: *mut c_void,
}

// SAFETY: a compiled database is read-only after compilation; Hyperscan documents it as safe
// to scan from many threads at once (each with its own scratch).
unsafe impl Send for Database {}
unsafe impl Sync for Database {}

impl Drop for Database {
    fn drop(&mut self) {
        // SAFETY: `db` came from hs_compile_multi and is freed once.
        unsafe {
            (self.lib.free_database)(self.db);
        }
    }
}

impl Database {
    /// Compiles `input`, each expression reporting at most one match per scan. Expressions the
    /// library refuses (syntax it lacks, such as back-references without `PREFILTER`) are
    /// left out and returned with the library's reason. `None` when the library is absent.
    pub fn compile(input: Vec<Expression>) -> Option<(Option<Database>, Vec<Refused>)> {
        let lib = library()?;
        let mut refused = Vec::new();
        // Most refusals (syntax Hyperscan lacks) show in a quick per-expression check; each
        // refusal from the whole compile below costs a whole compile again.
        let mut expressions = Vec::with_capacity(input.len());
        for e in input {
            match check_expression(lib, &e) {
                Ok(()) => expressions.push(e),
                Err(why) => refused.push((e, why)),
            }
        }
        loop {
            if expressions.is_empty() {
                return Some((None, refused));
            }
            match compile_once(lib, &expressions) {
                Ok(db) => return Some((Some(Database { lib, db }), refused)),
                Err((Some(index), why)) => {
                    let expression = expressions.remove(index);
                    refused.push((expression, why));
                }
                Err((None, why)) => {
                    // Not one expression's fault (memory, limits): nothing goes to Hyperscan.
                    tracing::warn!("Hyperscan could not compile the rules: {why}");
                    refused.extend(expressions.into_iter().map(|e| (e, why.clone())));
                    return Some((None, refused));
                }
            }
        }
    }

    /// The database as bytes that [`Database::deserialize`] reads back on this library version.
    fn serialize(&self) -> Option<Vec<u8>> {
        let mut bytes = ptr::null_mut();
        let mut length = 0usize;
        // SAFETY: on success the library allocated `length` bytes with malloc (its default
        // misc allocator), copied here and freed.
        unsafe {
            if (self.lib.serialize_database)(self.db, &mut bytes, &mut length) != HS_SUCCESS
                || bytes.is_null()
            {
                return None;
            }
            let out = std::slice::from_raw_parts(bytes as *const u8, length).to_vec();
            libc_free(bytes as *mut c_void);
            Some(out)
        }
    }

    fn deserialize(lib: &'static Library, bytes: &[u8]) -> Option<Database> {
        let mut db = ptr::null_mut();
        // SAFETY: the library validates the bytes (magic, version, platform, checksum) and
        // refuses what it did not write.
        let status = unsafe {
            (lib.deserialize_database)(bytes.as_ptr() as *const c_char, bytes.len(), &mut db)
        };
        (status == HS_SUCCESS && !db.is_null()).then_some(Database { lib, db })
    }

    /// Calls `on_match` with the id of each expression that matches `data` (once per scan;
    /// `scratch` must have been sized for this database).
    pub fn scan<F: FnMut(u32)>(&self, data: &[u8], scratch: &mut Scratch, mut on_match: F) {
        unsafe extern "C" fn trampoline<G: FnMut(u32)>(
            id: c_uint,
            _from: c_ulonglong,
            _to: c_ulonglong,
            _flags: c_uint,
            context: *mut c_void,
        ) -> c_int {
            // SAFETY: `context` is the `&mut F` passed to hs_scan below, alive for the call.
            let f = unsafe { &mut *(context as *mut G) };
            f(id);
            0
        }
        let Ok(length) = c_uint::try_from(data.len()) else {
            return;
        };
        // SAFETY: the database and scratch are valid; the callback's context outlives the
        // synchronous scan. A scan error (none are expected) reads as "no further matches".
        unsafe {
            (self.lib.scan)(
                self.db,
                data.as_ptr() as *const c_char,
                length,
                0,
                scratch.ptr,
                Some(trampoline::<F>),
                &mut on_match as *mut F as *mut c_void,
            );
        }
    }
}

fn check_expression(lib: &Library, expression: &Expression) -> Result<(), String> {
    let source = CString::new(expression.source.as_bytes()).map_err(|e| e.to_string())?;
    let mut info = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: `source` outlives the call; what the library allocates is freed below (the
    // info with libc's free, as hs.h says, through the library's own misc allocator default).
    unsafe {
        let status = (lib.expression_info)(
            source.as_ptr(),
            expression.flags | SINGLEMATCH | ALLOWEMPTY,
            &mut info,
            &mut error,
        );
        if !info.is_null() {
            libc_free(info);
        }
        if status == HS_SUCCESS {
            return Ok(());
        }
        if error.is_null() {
            return Err(format!("error {status}"));
        }
        let message = CStr::from_ptr((*error).message)
            .to_string_lossy()
            .into_owned();
        (lib.free_compile_error)(error);
        Err(message)
    }
}

extern "C" {
    #[link_name = "free"]
    fn libc_free(ptr: *mut c_void);
}

fn compile_once(
    lib: &Library,
    expressions: &[Expression],
) -> Result<*mut c_void, (Option<usize>, String)> {
    let sources: Vec<CString> = expressions
        .iter()
        .map(|e| CString::new(e.source.as_bytes()).unwrap_or_default())
        .collect();
    let pointers: Vec<*const c_char> = sources.iter().map(|s| s.as_ptr()).collect();
    let flags: Vec<c_uint> = expressions
        .iter()
        .map(|e| e.flags | SINGLEMATCH | ALLOWEMPTY)
        .collect();
    let ids: Vec<c_uint> = expressions.iter().map(|e| e.id).collect();
    let mut db = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: the arrays have `expressions.len()` elements and outlive the call.
    let status = unsafe {
        (lib.compile_multi)(
            pointers.as_ptr(),
            flags.as_ptr(),
            ids.as_ptr(),
            expressions.len() as c_uint,
            MODE_BLOCK,
            ptr::null(),
            &mut db,
            &mut error,
        )
    };
    if status == HS_SUCCESS {
        return Ok(db);
    }
    if error.is_null() {
        return Err((None, format!("error {status}")));
    }
    // SAFETY: a non-null compile error is valid until freed here.
    unsafe {
        let message = CStr::from_ptr((*error).message)
            .to_string_lossy()
            .into_owned();
        let index = usize::try_from((*error).expression).ok();
        (lib.free_compile_error)(error);
        // A NUL inside a source made it an empty string: that expression is the culprit.
        Err((index.filter(|&i| i < expressions.len()), message))
    }
}

/// Per-thread working memory for scans.
pub struct Scratch {
    lib: &'static Library,
    ptr: *mut c_void,
}

// SAFETY: a scratch is used by one thread at a time (it is taken from the pool, used, and
// returned), which is all Hyperscan requires.
unsafe impl Send for Scratch {}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: allocated by hs_alloc_scratch or hs_clone_scratch, freed once.
        unsafe {
            (self.lib.free_scratch)(self.ptr);
        }
    }
}

/// Scratch sized for every database of one rule set, handed out to scans one at a time.
pub struct ScratchPool {
    /// Cloned when no free scratch is left; never scanned with.
    prototype: Mutex<Scratch>,
    free: Mutex<Vec<Scratch>>,
}

impl ScratchPool {
    /// A pool whose scratch fits every database in `databases`; `None` when there is none.
    pub fn for_databases<'a>(databases: impl Iterator<Item = &'a Database>) -> Option<Self> {
        let mut ptr = ptr::null_mut();
        let mut lib = None;
        for db in databases {
            // SAFETY: growing one scratch to fit each database in turn, as hs.h describes.
            if unsafe { (db.lib.alloc_scratch)(db.db, &mut ptr) } != HS_SUCCESS {
                tracing::warn!("Hyperscan could not allocate scratch space");
                return None;
            }
            lib = Some(db.lib);
        }
        Some(ScratchPool {
            prototype: Mutex::new(Scratch { lib: lib?, ptr }),
            free: Mutex::new(Vec::new()),
        })
    }

    /// A scratch for one scan; give it back with [`ScratchPool::put`].
    pub fn take(&self) -> Option<Scratch> {
        if let Some(s) = self.free.lock().ok()?.pop() {
            return Some(s);
        }
        let prototype = self.prototype.lock().ok()?;
        let mut ptr = ptr::null_mut();
        // SAFETY: cloning the prototype, which no scan uses.
        if unsafe { (prototype.lib.clone_scratch)(prototype.ptr, &mut ptr) } != HS_SUCCESS {
            return None;
        }
        Some(Scratch {
            lib: prototype.lib,
            ptr,
        })
    }

    pub fn put(&self, scratch: Scratch) {
        if let Ok(mut free) = self.free.lock() {
            free.push(scratch);
        }
    }
}

/// One group's compiled database, a second one of supersets (`PREFILTER`) of the expressions
/// the first refused (too large for Hyperscan as written), and the ids of those neither took.
pub struct Compiled {
    pub db: Option<Database>,
    pub supersets: Option<Database>,
    pub refused: Vec<u32>,
}

const CACHE_MAGIC: &[u8; 8] = b"MMHSDB2\n";
/// Cache files not read or written for this long are removed (earlier versions of the rules,
/// rule sets no longer loaded); a load touches the file it reads.
const CACHE_UNUSED_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// Databases that compile faster than this are not worth a cache file (the unit tests cache
/// their small rule sets to test the cache).
const CACHE_WORTH: std::time::Duration = if cfg!(test) {
    std::time::Duration::ZERO
} else {
    std::time::Duration::from_secs(1)
};

/// Where compiled databases are kept between runs when no folder is configured: systemd's
/// `CacheDirectory=` (`$CACHE_DIRECTORY`), else `$XDG_CACHE_HOME` or `~/.cache`, under
/// `mailmoat/hyperscan`.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("CACHE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may list several folders separated by ':'; the first is ours.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return Some(std::path::PathBuf::from(first).join("hyperscan"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| std::path::PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("mailmoat").join("hyperscan"))
}

/// Compiles every group's expressions, or reads them from `cache` when this library version
/// compiled exactly these expressions before (compiling the stock rules takes minutes; reading
/// them, milliseconds). `None` when the library is absent.
pub fn compile_groups(
    groups: Vec<Vec<Expression>>,
    cache: Option<&std::path::Path>,
) -> Option<Vec<Compiled>> {
    let lib = library()?;
    // One compile at a time per process: a reload during a compile waits and then reads the
    // cache instead of compiling the same rules again beside it.
    static COMPILING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    let key = cache_key(&lib.version, &groups);
    let path = cache.map(|dir| dir.join(format!("{key}.hsdb")));
    if let Some(path) = &path {
        match std::fs::read(path) {
            Ok(bytes) => match read_cache(lib, &bytes, groups.len()) {
                Some(compiled) => {
                    tracing::debug!(path = %path.display(), "Hyperscan databases read from the cache");
                    // In use: not pruned as unused.
                    let now = std::time::SystemTime::now();
                    if let Ok(file) = std::fs::File::options().append(true).open(path) {
                        let _ = file.set_modified(now);
                    }
                    return Some(compiled);
                }
                None => {
                    tracing::warn!(path = %path.display(), "unreadable Hyperscan cache file, compiling again")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), "Hyperscan cache not readable: {e}"),
        }
    }
    let started = std::time::Instant::now();
    let expressions: usize = groups.iter().map(Vec::len).sum();
    if expressions > 1000 {
        // Minutes for the stock rules: say so rather than seem to hang.
        tracing::info!(
            expressions,
            cache = %cache.map_or("none".into(), |d| d.display().to_string()),
            "compiling the SpamAssassin rules for Hyperscan (minutes the first time; then cached)"
        );
    }
    let mut compiled = Vec::with_capacity(groups.len());
    for expressions in groups {
        let (db, refused) = Database::compile(expressions)?;
        // Patterns too large for Hyperscan (long bounded repeats of alternations) often fit
        // as a superset; its hits are confirmed by the built-in engine.
        let (exact, retry): (Vec<Expression>, Vec<Expression>) = refused
            .into_iter()
            .map(|(e, _)| e)
            .partition(|e| e.flags & PREFILTER != 0);
        let retry: Vec<Expression> = retry
            .into_iter()
            .map(|e| Expression {
                flags: e.flags | PREFILTER,
                ..e
            })
            .collect();
        let (supersets, still_refused) = Database::compile(retry)?;
        compiled.push(Compiled {
            db,
            supersets,
            refused: exact
                .into_iter()
                .chain(still_refused.into_iter().map(|(e, _)| e))
                .map(|e| e.id)
                .collect(),
        });
    }
    let took = started.elapsed();
    if took >= CACHE_WORTH {
        tracing::info!("Hyperscan compiled the SpamAssassin rules in {took:.1?}");
    }
    if let (Some(path), Some(dir), true) = (&path, cache, took >= CACHE_WORTH) {
        if let Err(e) = write_cache(dir, path, &compiled) {
            tracing::warn!(path = %path.display(), "Hyperscan cache not written: {e}");
        }
    }
    Some(compiled)
}

fn cache_key(version: &str, groups: &[Vec<Expression>]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(CACHE_MAGIC);
    hash.update(version.as_bytes());
    for (g, expressions) in groups.iter().enumerate() {
        hash.update((g as u64).to_le_bytes());
        for e in expressions {
            hash.update(e.id.to_le_bytes());
            hash.update(e.flags.to_le_bytes());
            hash.update((e.source.len() as u64).to_le_bytes());
            hash.update(e.source.as_bytes());
        }
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Cache layout: magic, group count; per group the refused ids and the two serialized
/// databases (length 0 for none), every number a little-endian u32 or u64.
fn write_cache(
    dir: &std::path::Path,
    path: &std::path::Path,
    compiled: &[Compiled],
) -> std::io::Result<()> {
    let mut out = CACHE_MAGIC.to_vec();
    out.extend((compiled.len() as u32).to_le_bytes());
    for group in compiled {
        out.extend((group.refused.len() as u32).to_le_bytes());
        for id in &group.refused {
            out.extend(id.to_le_bytes());
        }
        for db in [&group.db, &group.supersets] {
            let bytes = match db {
                Some(db) => db.serialize().ok_or_else(|| {
                    std::io::Error::other("the library could not serialize a database")
                })?,
                None => Vec::new(),
            };
            out.extend((bytes.len() as u64).to_le_bytes());
            out.extend(bytes);
        }
    }
    std::fs::create_dir_all(dir)?;
    let partial = path.with_extension(format!("partial.{}", std::process::id()));
    std::fs::write(&partial, &out)?;
    std::fs::rename(&partial, path)?;
    prune_cache(dir);
    Ok(())
}

/// Removes the folder's cache files unused for [`CACHE_UNUSED_FOR`].
fn prune_cache(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let unused = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > CACHE_UNUSED_FOR);
        if unused && path.extension().is_some_and(|x| x == "hsdb") {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn read_cache(lib: &'static Library, bytes: &[u8], groups: usize) -> Option<Vec<Compiled>> {
    let mut rest = bytes.strip_prefix(CACHE_MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or_default());
    if u32_of(take(4)?) as usize != groups {
        return None;
    }
    let mut out = Vec::with_capacity(groups);
    for _ in 0..groups {
        let refused_count = u32_of(take(4)?) as usize;
        let refused = (0..refused_count)
            .map(|_| take(4).map(u32_of))
            .collect::<Option<Vec<u32>>>()?;
        let mut databases = [None, None];
        for slot in &mut databases {
            let length = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
            if length > 0 {
                *slot = Some(Database::deserialize(lib, take(length)?)?);
            }
        }
        let [db, supersets] = databases;
        out.push(Compiled {
            db,
            supersets,
            refused,
        });
    }
    Some(out)
}

//! Stage 2, attachments: every attachment is opened as what its bytes are, not what its name
//! says; archives are unpacked recursively in memory (nothing is written to disk, nothing is
//! ever executed), encrypted ones with the passwords the message itself offers; every object
//! is hashed and checked against a known-bad list. Evidence carries the full path of where it
//! was found (`attachment invoice.zip > docs/invoice.pdf.exe`).
//!
//! Every object is analysed within a budget (depth, bytes unpacked, members, compression
//! ratio, time); what a budget stops is ANALYZER_LIMIT evidence and the message moves on.

mod clamav;
mod containers;
mod disk;
mod engines;
mod filetype;
mod hashes;
mod html;
mod hwp;
mod installers;
mod lnk;
mod office;
mod passwords;
mod pdf;
mod pe;
mod rar;
mod rtf;
mod script;
mod vba;
mod walk;

use std::path::{Path, PathBuf};

use mailmoat_core::{Action, Category, Findings, Risk, SymbolDef};
use mailmoat_detectors::Detector;
use mailmoat_mime::MessageView;
use serde::Deserialize;

pub use clamav::{ClamavConfig, Clamd, ClamdError, ClamdVerdict, OnFailure};
pub use engines::{EngineError, Engines, YaraConfig};
pub use hashes::{sha256_hex, HashList, HashListError};

/// What can go wrong building the attachment analyser from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error(transparent)]
    Hashes(#[from] HashListError),
    #[error(transparent)]
    Store(#[from] mailmoat_variants::StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// `[analyzers.variants]`: every analysed object is compared with a reference store of
/// known-malicious and known-good objects (`mailmoat intel add`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VariantsConfig {
    pub enabled: bool,
    /// The store (JSON lines), relative to the config file; absent or empty: no comparison.
    pub store: Option<PathBuf>,
    /// Cosine similarity from which a known-malicious neighbour is a match (its evidence's
    /// strength is the similarity: a match at 0.8 tags, one above about 0.86 quarantines).
    pub threshold: f32,
    /// …and by how much it must be closer than the nearest known-good object.
    pub margin: f32,
    /// Objects smaller than this are not compared (too little to tell families apart).
    pub min_bytes: usize,
}

impl Default for VariantsConfig {
    fn default() -> Self {
        VariantsConfig {
            enabled: true,
            store: Some(PathBuf::from("var/intel/variants.jsonl")),
            // From `mailmoat intel eval` (BENCHMARKS.md): unseen variants of the crafted
            // families score 0.70–1.0 against their family, and no benign file (800 DLLs,
            // installers, documents) came closer than 0.763 to a malicious reference.
            threshold: 0.80,
            margin: 0.03,
            min_bytes: 512,
        }
    }
}

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("ARCHIVE_EXECUTABLE", "attachments", Category::Malware,
        7.0,
        "An archive holds a program or script (by content or by name): the usual way malware is mailed past filters that only look at attachment names.",
    ),
    SymbolDef::new("ARCHIVE_ENCRYPTED", "attachments", Category::Malware,
        2.0,
        "An encrypted archive: its content cannot be checked unless the password is known.",
    ),
    SymbolDef::new("ARCHIVE_PASSWORD_IN_MESSAGE", "attachments", Category::Malware,
        3.0,
        "An encrypted archive opened with a password written in the message itself: a classic malware delivery trick (encrypted so gateways cannot look inside, the password for the victim). What it holds was analysed.",
    ),
    SymbolDef::new("ARCHIVE_UNOPENED", "attachments", Category::Malware,
        3.0,
        "An encrypted archive that no password from the message or the configured list opens: its content is unknown.",
    ),
    SymbolDef::threat("ARCHIVE_BOMB", "attachments", Category::Malware,
        12.0,
        (Action::Quarantine, Risk::Medium),
        "An archive that unpacks to far more than it weighs (compression ratio or unpacked size beyond the limits): a decompression bomb meant to exhaust scanners. What it holds cannot be analysed, so it is held for review.",
    ),
    SymbolDef::threat("ARCHIVE_TOO_DEEP", "attachments", Category::Malware,
        12.0,
        (Action::Quarantine, Risk::Medium),
        "Archives nested deeper than the limit (42.zip style); the innermost were not opened. Nobody nests archives that deep except to hide from scanners, so it is held for review.",
    ),
    SymbolDef::new("ARCHIVE_DAMAGED", "attachments", Category::Malware,
        1.0,
        "An archive that cannot be read (truncated or malformed); its content was not analysed.",
    ),
    SymbolDef::threat("FILETYPE_DISGUISED_EXECUTABLE", "attachments", Category::Malware,
        7.0,
        (Action::Quarantine, Risk::High),
        "A program whose file name claims another type (a document or picture name on an executable): only done to deceive.",
    ),
    SymbolDef::new("FILETYPE_DECLARED_MISMATCH", "attachments", Category::Malware,
        2.0,
        "An attachment declared as a picture, text, media or PDF whose bytes are an archive: the declared type is there to get it past filters.",
    ),
    SymbolDef::threat("FILETYPE_DECLARED_PROGRAM", "attachments", Category::Malware,
        7.0,
        (Action::Quarantine, Risk::High),
        "A program declared as a picture, text, media or PDF: mail programs show such an attachment with a document's icon. No sender has an honest reason to do it.",
    ),
    SymbolDef::threat("HASH_KNOWN_BAD", "signature", Category::Signature,
        20.0,
        (Action::Quarantine, Risk::High),
        "An object's SHA-256 or MD5 is on the known-bad list.",
    ),
    SymbolDef::new("ANALYZER_LIMIT", "attachments", Category::Malware,
        0.0,
        "An attachment analysis stopped at a budget (bytes, members, object size); what lies beyond was not analysed and the message moved on by policy.",
    ),
    SymbolDef::new("ANALYZER_TIMEOUT", "attachments", Category::Malware,
        0.0,
        "An attachment analysis ran out of time (per attachment or per message); what was not reached was not analysed and the message moved on by policy.",
    ),
    SymbolDef::new("ARCHIVE_LISTED_ONLY", "attachments", Category::Malware,
        0.5,
        "A RAR archive whose compressed members were listed (names, sizes) but not unpacked: RAR decompression is not built in. Their names were checked.",
    ),
    SymbolDef::new("DISK_IMAGE", "attachments", Category::Malware,
        3.0,
        "A disk image (ISO, UDF, IMG): mounting one hides its files from Windows' mark-of-the-web, which is why malware campaigns mail them; legitimate senders rarely do.",
    ),
    SymbolDef::new("PE_INJECTION_IMPORTS", "malware", Category::Malware,
        6.0,
        "A program that imports what process injection needs (writing into another process and starting a thread there): how loaders hide inside legitimate processes.",
    ),
    SymbolDef::new("PE_DOWNLOADER_IMPORTS", "malware", Category::Malware,
        4.0,
        "A program that imports what downloading a file and running it needs (URLDownloadToFile, or internet reads with process creation).",
    ),
    SymbolDef::new("PE_PERSISTENCE", "malware", Category::Malware,
        3.0,
        "A program that makes itself start again (Run keys, services, scheduled tasks).",
    ),
    SymbolDef::new("PE_KEYLOGGER_IMPORTS", "malware", Category::Malware,
        3.0,
        "A program that imports keyboard hooks together with key-state reads: what keyloggers need.",
    ),
    SymbolDef::new("PE_PACKED", "malware", Category::Malware,
        3.0,
        "A packed program (packer section names, compressed or encrypted code, almost no imports): its real code is hidden from static analysis.",
    ),
    SymbolDef::new("PE_UNSIGNED", "attachments", Category::Malware,
        1.0,
        "A Windows program without an Authenticode signature: nobody vouches for it.",
    ),
    SymbolDef::new("PE_SIGNATURE_INVALID", "malware", Category::Malware,
        5.0,
        "A program whose Authenticode signature does not match its content: changed after signing, or a signature copied from another file. (The certificate chain is not checked here.)",
    ),
    SymbolDef::new("PE_DOTNET", "attachments", Category::Malware,
        1.0,
        "A .NET program: many mailed loaders and stealers are .NET.",
    ),
    SymbolDef::new("PE_OVERLAY", "attachments", Category::Malware,
        1.0,
        "A program carrying data after its last section (not its signature): installers do this, and so do droppers hiding a payload.",
    ),
    SymbolDef::new("PE_SIDELOADING_DLL", "malware", Category::Malware,
        5.0,
        "A DLL named like one Windows programs load from their own folder (version.dll, dbghelp.dll…), mailed beside a program: DLL side-loading, where a signed program runs the attacker's DLL.",
    ),
    SymbolDef::new("PE_MALFORMED", "attachments", Category::Malware,
        2.0,
        "A Windows program whose structure does not parse: damaged, or built to break analysers.",
    ),
    SymbolDef::new("EXECUTABLE_UNIX", "attachments", Category::Malware,
        3.0,
        "A Linux (ELF) or macOS (Mach-O) program in mail.",
    ),
    SymbolDef::threat("LNK_RUNS_INTERPRETER", "malware", Category::Malware,
        7.0,
        (Action::Quarantine, Risk::High),
        "A shortcut that starts PowerShell, cmd, mshta, a script host or another tool that runs what its arguments say: shortcuts in mail exist to run commands.",
    ),
    SymbolDef::new("LNK_HIDDEN_ARGUMENTS", "malware", Category::Malware,
        3.0,
        "A shortcut that hides what it runs: arguments past what the Properties dialog shows, padding, a minimised window, a document's icon.",
    ),
    SymbolDef::new("MSI_CUSTOM_ACTION", "attachments", Category::Malware,
        4.0,
        "An installer that runs a script or a command line at install time.",
    ),
    SymbolDef::new("CHM_FILE", "attachments", Category::Malware,
        4.0,
        "Compiled HTML help: its pages run script with the user's rights; mailed CHM files are a known dropper.",
    ),
    SymbolDef::new("SCRIPT_OBFUSCATED", "malware", Category::Malware,
        4.0,
        "A script written not to be read: long base64/hex blobs, strings built from character codes or cut into pieces, eval/Execute chains, Script Encoder, high entropy.",
    ),
    SymbolDef::threat("SCRIPT_DOWNLOADER", "malware", Category::Malware,
        6.0,
        (Action::Quarantine, Risk::Medium),
        "A script that downloads from the internet (XMLHTTP, WebClient, Invoke-WebRequest, curl…) and saves or runs what it gets.",
    ),
    SymbolDef::new("SCRIPT_EXECUTES", "malware", Category::Malware,
        3.0,
        "A script that starts programs (WScript.Shell Run/Exec, Shell.Application, Start-Process, cmd /c).",
    ),
    SymbolDef::threat("SCRIPT_LOLBIN", "malware", Category::Malware,
        5.0,
        (Action::Quarantine, Risk::High),
        "A script that misuses Windows' own tools to download or run code (certutil -urlcache, bitsadmin /transfer, mshta http:, regsvr32 /i:http, rundll32 javascript:…).",
    ),
    SymbolDef::new("SCRIPT_ENCODED_COMMAND", "malware", Category::Malware,
        5.0,
        "PowerShell started with -EncodedCommand: the command is hidden in base64. It was decoded and analysed.",
    ),
    SymbolDef::threat("SIMILAR_KNOWN_MALWARE", "malware", Category::Malware,
        14.0,
        (Action::Quarantine, Risk::High),
        "An object whose byte image and content profile are nearest to a known-malicious sample of the reference store (family and similarity in the details), and nearer than to any known-good one: a variant that no hash would match. Strength is the similarity.",
    ),
    SymbolDef::new("VBA_MACRO", "documents", Category::Malware,
        1.0,
        "An Office document with VBA macros. Common in business spreadsheets; what the macros do is what matters.",
    ),
    SymbolDef::new("VBA_AUTORUN", "documents", Category::Malware,
        3.0,
        "A macro that runs by itself when the document opens or closes (AutoOpen, Document_Open, Workbook_Open, ActiveX events…).",
    ),
    SymbolDef::new("VBA_SUSPICIOUS_CALLS", "malware", Category::Malware,
        4.0,
        "Macro code that runs programs (Shell, WScript.Shell, PowerShell), downloads (URLDownloadToFile, XMLHTTP, ADODB.Stream) or writes executable memory (VirtualAlloc, RtlMoveMemory, CreateThread).",
    ),
    SymbolDef::threat("VBA_AUTORUN_EXECUTES", "malware", Category::Malware,
        6.0,
        (Action::Quarantine, Risk::High),
        "Macros that run on open and run programs, download or write memory: how macro droppers work.",
    ),
    SymbolDef::new("VBA_OBFUSCATED", "malware", Category::Malware,
        3.0,
        "Macro code written not to be read: strings from Chr() calls or cut into pieces, StrReverse/CallByName indirection, base64 or hex blobs.",
    ),
    SymbolDef::threat("VBA_STOMPED", "malware", Category::Malware,
        8.0,
        (Action::Quarantine, Risk::High),
        "VBA stomping: the compiled p-code, which Office runs, does not match the source that editors and scanners read. Only done to hide.",
    ),
    SymbolDef::new("XLM_MACRO_SHEET", "documents", Category::Malware,
        4.0,
        "An Excel 4.0 (XLM) macro sheet: a legacy macro language abused because older scanners do not read it, often in hidden sheets.",
    ),
    SymbolDef::threat("XLM_EXECUTES", "malware", Category::Malware,
        8.0,
        (Action::Quarantine, Risk::High),
        "An Excel 4.0 macro that runs on open (Auto_Open) or calls EXEC, CALL, REGISTER or URLDownloadToFile.",
    ),
    SymbolDef::new("OFFICE_ENCRYPTED", "documents", Category::Malware,
        2.0,
        "A password-protected Office or HWP document: its content cannot be analysed (mailed with the password in the body to get past gateways).",
    ),
    SymbolDef::threat("OFFICE_EQUATION_EDITOR", "malware", Category::Malware,
        10.0,
        (Action::Quarantine, Risk::High),
        "An Equation Editor 3.0 object: the CVE-2017-11882 / CVE-2018-0802 exploit family. Microsoft removed the component in 2018; real documents no longer carry it.",
    ),
    SymbolDef::new("OFFICE_EMBEDDED_PACKAGE", "documents", Category::Malware,
        3.0,
        "A file embedded in a document as a Package object (one double-click runs it); it was extracted and analysed.",
    ),
    SymbolDef::threat("OFFICE_DDE", "malware", Category::Malware,
        12.0,
        (Action::Quarantine, Risk::High),
        "A DDE/DDEAUTO field: the document asks Office to start a program (cmd, PowerShell) through Dynamic Data Exchange.",
    ),
    SymbolDef::new("OOXML_EXTERNAL_RELATIONSHIP", "malware", Category::Malware,
        4.0,
        "The document loads a template, OLE object or frame from a file share or another document when opened (an SMB share can also collect the user's NTLM hash).",
    ),
    SymbolDef::threat("OOXML_REMOTE_TEMPLATE", "malware", Category::Malware,
        12.0,
        (Action::Quarantine, Risk::High),
        "The document loads a template, OLE object or frame from a web server when opened: remote template injection, the macros or exploit arrive after the gateway.",
    ),
    SymbolDef::new("OOXML_EMBEDDED_OBJECT", "documents", Category::Malware,
        1.0,
        "An OLE object embedded in an Office Open XML document; it was analysed.",
    ),
    SymbolDef::new("OOXML_ACTIVEX", "documents", Category::Malware,
        2.0,
        "An ActiveX control in a document: its events can run macros without the usual auto-run names.",
    ),
    SymbolDef::new("RTF_OBJECT", "documents", Category::Malware,
        0.5,
        "An object embedded in an RTF document (its class and size are in the details); it was decoded and analysed.",
    ),
    SymbolDef::new("RTF_OBJUPDATE", "malware", Category::Malware,
        4.0,
        "An RTF object that updates itself or is fetched from a link when the document opens (\\objupdate, linked objects): the CVE-2017-0199 route.",
    ),
    SymbolDef::new("PDF_JAVASCRIPT", "documents", Category::Malware,
        4.0,
        "A PDF with JavaScript: rare in documents people exchange, the usual route of PDF exploits.",
    ),
    SymbolDef::new("PDF_AUTO_ACTION", "documents", Category::Malware,
        0.5,
        "A PDF that acts when opened or viewed (/OpenAction, /AA). Many harmless PDFs open at a page; together with JavaScript or Launch it is not harmless.",
    ),
    SymbolDef::new("PDF_AUTO_JAVASCRIPT", "malware", Category::Malware,
        8.0,
        "A PDF that runs JavaScript as soon as it is opened.",
    ),
    // No threat floor: real manuals launch files too (texlive's hyperref-doc.pdf does).
    SymbolDef::new("PDF_LAUNCH", "malware", Category::Malware,
        7.0,
        "A PDF /Launch action: it asks the reader to start a program or open a file.",
    ),
    SymbolDef::new("PDF_EMBEDDED_FILE", "documents", Category::Malware,
        2.0,
        "A file carried inside a PDF; it was extracted and analysed.",
    ),
    SymbolDef::new("PDF_SUBMIT_FORM", "phishing", Category::Phishing,
        3.0,
        "A PDF form that submits what is typed into it to a server: credential phishing inside a PDF.",
    ),
    SymbolDef::new("PDF_ENCRYPTED", "documents", Category::Malware,
        1.0,
        "An encrypted PDF: its streams cannot be read, so what it contains was not analysed.",
    ),
    SymbolDef::new("PDF_OBFUSCATED_NAMES", "malware", Category::Malware,
        4.0,
        "PDF keywords spelled with #xx escapes (/J#61vaScript): only done to hide them from scanners.",
    ),
    SymbolDef::new("DOCUMENT_URLS", "documents", Category::Malware,
        0.0,
        "Links found inside a document (PDF URIs, HWP hyperlinks), listed for the report and for URL analysis.",
    ),
    SymbolDef::new("HWP_SCRIPT", "documents", Category::Malware,
        4.0,
        "An HWP document carrying a script of its own (beyond the empty template every HWP file has): HWP runs it when the document opens.",
    ),
    SymbolDef::threat("HWP_EPS", "malware", Category::Malware,
        12.0,
        (Action::Quarantine, Risk::High),
        "PostScript (EPS) embedded in an HWP document: rendered by HWP's bundled Ghostscript, the route of the exploits used against Korean organisations.",
    ),
    SymbolDef::new("HWP_OLE_OBJECT", "documents", Category::Malware,
        2.0,
        "An OLE object embedded in an HWP document; it was analysed.",
    ),
    SymbolDef::threat("HTML_CREDENTIAL_FORM", "phishing", Category::Phishing,
        10.0,
        (Action::Quarantine, Risk::High),
        "An HTML attachment that asks for a password and sends it somewhere: a phishing page mailed as a file (no URL for filters to check).",
    ),
    SymbolDef::new("HTML_BRAND_LOGIN", "phishing", Category::Phishing,
        3.0,
        "An HTML attachment with a password field titled like a sign-in page (a brand, webmail, account verification).",
    ),
    SymbolDef::threat("HTML_SMUGGLING", "malware", Category::Malware,
        8.0,
        (Action::Quarantine, Risk::High),
        "HTML smuggling: the page builds a file from data it carries (atob, Blob) and saves it (download attribute, msSaveOrOpenBlob), so the file never crossed the gateway as an attachment. The payload was decoded and analysed.",
    ),
    SymbolDef::new("HTML_REDIRECT", "phishing", Category::Phishing,
        4.0,
        "An HTML attachment that sends the reader to another site as soon as it opens (meta refresh, window.location).",
    ),
    SymbolDef::threat("YARA_MATCH", "signature", Category::Signature,
        20.0,
        (Action::Quarantine, Risk::High),
        "An object matches a YARA rule of the site's rule set whose metadata calls it malicious (severity high or critical, a score of 75 or more, or nothing said). The rule, its tags and metadata are in the details.",
    ),
    SymbolDef::threat("YARA_MATCH_MEDIUM", "signature", Category::Signature,
        8.0,
        (Action::Tag, Risk::Medium),
        "An object matches a YARA rule whose metadata calls it suspicious (severity medium, or a score of 60 to 74).",
    ),
    SymbolDef::new("YARA_MATCH_LOW", "signature", Category::Signature,
        3.0,
        "An object matches a YARA rule whose metadata rates it low (severity low, or a score of 40 to 59).",
    ),
    SymbolDef::new("YARA_MATCH_INFO", "signature", Category::Signature,
        0.0,
        "An object matches an informational YARA rule (severity info, or a score under 40): recorded for the report, not scored.",
    ),
    SymbolDef::new("YARA_SKIPPED", "signature", Category::Signature,
        0.0,
        "YARA did not finish on an object (over its size limit, or out of time); the message moved on by policy.",
    ),
    SymbolDef::threat("ENGINES_AGREE", "signature", Category::Malware,
        10.0,
        (Action::Quarantine, Risk::High),
        "Two engines or more (our analysers, the known-bad hashes, variant matching, YARA, ClamAV) independently call the same object malicious; the details say how many of those that answered, and which.",
    ),
    SymbolDef::threat("AV_VIRUS", "signature", Category::Signature,
        20.0,
        (Action::Quarantine, Risk::High),
        "ClamAV (clamd) found a known signature in an attachment or an object unpacked from one; its name is in the details.",
    ),
    SymbolDef::new("AV_HEURISTIC", "signature", Category::Signature,
        6.0,
        "ClamAV reported one of its heuristics or a potentially unwanted application (Heuristics.*, PUA.*), a weaker claim than a signature.",
    ),
    SymbolDef::new("AV_FAILED", "signature", Category::Signature,
        0.0,
        "ClamAV gave no verdict (clamd unreachable, too slow or refusing); the message moved on without it ([analyzers.clamav] on_failure = \"pass\").",
    ),
    SymbolDef::forced("AV_FAILED_TEMPFAIL", "signature", Category::Signature,
        0.0,
        (Action::Tempfail, 5),
        "ClamAV gave no verdict (clamd unreachable, too slow or refusing) and the site wants a verdict first ([analyzers.clamav] on_failure = \"tempfail\"): the sender is asked to try again later.",
    ),
];

/// `[analyzers.attachments]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Archives inside archives deeper than this are not opened (ARCHIVE_TOO_DEEP). ClamAV's
    /// default is 17; the byte, member and time budgets bound the work whatever the depth.
    pub max_depth: usize,
    /// Bytes unpacked per message at most, all archives together.
    pub max_total_bytes: u64,
    /// Archive members looked at per message at most.
    pub max_members: usize,
    /// A member unpacking to more than this many times its packed size, and to more than
    /// `bomb_min_bytes`, is a bomb.
    pub max_ratio: u64,
    pub bomb_min_bytes: u64,
    /// Time for all attachments of one message (ANALYZER_TIMEOUT when it runs out).
    pub time_budget_ms: u64,
    /// Time for one attachment, everything inside it included; the next attachment gets its own.
    pub attachment_time_budget_ms: u64,
    /// An object (a member, a carved file) larger than this unpacked is not analysed.
    pub max_object_bytes: u64,
    /// Passwords tried on every encrypted archive, after those found in the message.
    pub passwords: Vec<String>,
    /// Known-bad hashes: a file of SHA-256 or MD5 hex digests, one per line with an optional
    /// name after it (relative to the config file; re-read on reload).
    pub known_bad_hashes: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            max_depth: 16,
            max_total_bytes: 200 << 20,
            max_members: 5000,
            max_ratio: 200,
            bomb_min_bytes: 10 << 20,
            time_budget_ms: 2000,
            attachment_time_budget_ms: 1000,
            max_object_bytes: 64 << 20,
            passwords: vec!["infected".into(), "1234".into()],
            known_bad_hashes: None,
        }
    }
}

impl Config {
    /// The analyser (the hash list and the reference store are read here, so a bad file is a
    /// configuration error).
    pub fn build(
        &self,
        variants: &VariantsConfig,
        base_dir: &Path,
    ) -> Result<Attachments, BuildError> {
        let known_bad = match &self.known_bad_hashes {
            Some(p) => HashList::load(&base_dir.join(p))?,
            None => HashList::default(),
        };
        let store = match (&variants.store, variants.enabled) {
            (Some(p), true) => Some(mailmoat_variants::Store::load(&base_dir.join(p))?),
            _ => None,
        }
        .filter(|s| !s.is_empty());
        Ok(Attachments {
            config: self.clone(),
            known_bad,
            variants: store.map(|s| (s, variants.clone())),
            engines: Engines::default(),
        })
    }
}

/// The attachment analyser, built once per configuration.
pub struct Attachments {
    config: Config,
    known_bad: HashList,
    variants: Option<(mailmoat_variants::Store, VariantsConfig)>,
    engines: Engines,
}

impl Attachments {
    /// Adds known-bad hash lists (an intelligence folder's) to the configured one.
    pub fn with_known_bad(mut self, lists: &[PathBuf]) -> Result<Attachments, BuildError> {
        for path in lists {
            self.known_bad.extend(HashList::load(path)?);
        }
        Ok(self)
    }

    /// The analyser with signature engines (YARA, ClamAV) run on every object it reaches.
    pub fn with_engines(mut self, engines: Engines) -> Attachments {
        self.engines = engines;
        self
    }
}

impl Detector for Attachments {
    fn name(&self) -> &'static str {
        "attachments"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        if view.attachments.is_empty() {
            return;
        }
        let passwords = passwords::candidates(view, &self.config.passwords);
        let mut walk = walk::Walk::new(&self.config, &self.known_bad, &passwords, findings);
        walk.variants = self.variants.as_ref().map(|(s, c)| (s, c));
        walk.engines = Some(self.engines.start());
        walk_attachments(&mut walk, view);
        walk.finish();
    }
}

impl Attachments {
    /// One file walked as if it were a message's attachment named `name` (archives opened,
    /// documents read, every engine run): what `mailmoat yara scan` shows.
    pub fn analyze_file(&self, name: &str, data: &[u8]) -> Findings {
        let mut findings = Findings::new();
        let passwords: Vec<(String, passwords::Source)> = self
            .config
            .passwords
            .iter()
            .map(|p| (p.clone(), passwords::Source::Configured))
            .collect();
        let mut walk = walk::Walk::new(&self.config, &self.known_bad, &passwords, &mut findings);
        walk.variants = self.variants.as_ref().map(|(s, c)| (s, c));
        walk.engines = Some(self.engines.start());
        walk.attachment();
        walk.object(
            &mailmoat_core::Location::new(name.to_string()),
            name,
            data,
            0,
        );
        walk.finish();
        findings
    }
}

/// Every attachment through the walk, each with its own time budget.
fn walk_attachments(walk: &mut walk::Walk<'_>, view: &MessageView) {
    for attachment in &view.attachments {
        walk.attachment();
        let name = attachment
            .file_name
            .clone()
            .unwrap_or_else(|| "(unnamed)".to_string());
        walk.declared(
            &attachment.location,
            &name,
            &attachment.content_type,
            &attachment.data,
        );
        walk.object(&attachment.location, &name, &attachment.data, 0);
    }
}

/// The objects at these locations (attachments, archive members, embedded objects, macro
/// sources), unpacked the way the analyser unpacks them: what reports draw byte plots of.
/// This is not the scan's walk again: only the containers on the way to a wanted object are
/// opened (other members are not even unpacked), and nothing is judged.
pub fn objects_at(
    view: &MessageView,
    config: &Config,
    wanted: &[Vec<String>],
) -> Vec<(Vec<String>, Vec<u8>)> {
    let known_bad = HashList::default();
    let passwords = passwords::candidates(view, &config.passwords);
    let mut findings = Findings::new();
    let mut walk = walk::Walk::new(config, &known_bad, &passwords, &mut findings);
    walk.collect = Some((wanted, Vec::new()));
    walk_attachments(&mut walk, view);
    walk.collect
        .take()
        .map(|(_, found)| found)
        .unwrap_or_default()
}

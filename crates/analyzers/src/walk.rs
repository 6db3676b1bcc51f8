//! The walk over one message's attachments: each object is hashed, typed from its bytes, and
//! handed to what knows that type: containers are opened (in memory) and their members walked
//! in turn, programs, shortcuts, installers and scripts are read statically. All within the
//! budgets: per message (time, bytes unpacked, members) and per attachment (time) and object
//! (bytes).

use std::io::Read;
use std::time::{Duration, Instant};

use mailmoat_core::{Engine, Findings, Judgement, Location, Opinion};
use mailmoat_detectors::attachment_names::{double_extension, is_executable_name};

use crate::filetype::{self, Kind};
use crate::hashes::{sha256_hex, HashList};
use crate::passwords::Source;
use crate::Config;

/// An object's location segments and bytes.
pub(crate) type FoundObject = (Vec<String>, Vec<u8>);

pub struct Walk<'a> {
    pub(crate) config: &'a Config,
    known_bad: &'a HashList,
    pub(crate) passwords: &'a [(String, Source)],
    pub(crate) findings: &'a mut Findings,
    started: Instant,
    budget: Duration,
    attachment_started: Instant,
    attachment_budget: Duration,
    /// The attachment whose time ran out (reported once, the next attachment gets its own).
    attachment_stopped: bool,
    unpacked: u64,
    members: usize,
    /// Why the whole walk stopped early: (symbol, why), reported once.
    stopped: Option<(&'static str, String)>,
    /// DLLs named like ones Windows programs load from their own folder, and the folders
    /// (containers) that hold a program: together they are a side-loading kit.
    pub(crate) sideload_dlls: Vec<(Location, String)>,
    pub(crate) program_folders: Vec<Location>,
    /// The reference store every object is compared with, when one is configured.
    pub(crate) variants: Option<(&'a mailmoat_variants::Store, &'a crate::VariantsConfig)>,
    /// Objects wanted by location (for reports: byte plots of flagged objects), and those found.
    pub(crate) collect: Option<(&'a [Vec<String>], Vec<FoundObject>)>,
    /// The signature engines (YARA, ClamAV) for this message, when configured.
    pub(crate) engines: Option<crate::engines::EngineRun<'a>>,
}

impl<'a> Walk<'a> {
    pub fn new(
        config: &'a Config,
        known_bad: &'a HashList,
        passwords: &'a [(String, Source)],
        findings: &'a mut Findings,
    ) -> Self {
        let now = Instant::now();
        Walk {
            config,
            known_bad,
            passwords,
            findings,
            started: now,
            budget: Duration::from_millis(config.time_budget_ms),
            attachment_started: now,
            attachment_budget: Duration::from_millis(config.attachment_time_budget_ms),
            attachment_stopped: false,
            unpacked: 0,
            members: 0,
            stopped: None,
            sideload_dlls: Vec::new(),
            program_folders: Vec::new(),
            variants: None,
            collect: None,
            engines: None,
        }
    }

    /// Reports what the walk concluded across objects, and a budget that stopped it, once.
    pub fn finish(self) {
        for (location, name) in &self.sideload_dlls {
            let folder = parent(location);
            if self.program_folders.contains(&folder) {
                self.findings.add(
                    "PE_SIDELOADING_DLL",
                    format!("{name} sits beside a program that will load it from its own folder instead of the system's (DLL side-loading)"),
                    location.clone(),
                );
            }
        }
        if let Some((symbol, why)) = self.stopped {
            self.findings.add(symbol, why, Location::message());
        }
    }

    /// Starts one attachment's time budget.
    pub fn attachment(&mut self) {
        self.attachment_started = Instant::now();
        self.attachment_stopped = false;
    }

    /// True once a budget has run out; records why (once).
    pub(crate) fn over_budget(&mut self, location: &Location) -> bool {
        if self.stopped.is_some() || self.attachment_stopped {
            return true;
        }
        if self.started.elapsed() > self.budget {
            self.stopped = Some((
                "ANALYZER_TIMEOUT",
                format!(
                    "attachment analysis stopped after {} ms (the message's time budget)",
                    self.budget.as_millis()
                ),
            ));
        } else if self.members >= self.config.max_members {
            self.stopped = Some((
                "ANALYZER_LIMIT",
                format!(
                    "attachment analysis stopped after {} archive members",
                    self.config.max_members
                ),
            ));
        } else if self.attachment_started.elapsed() > self.attachment_budget {
            self.attachment_stopped = true;
            let top = Location::new(location.segments().first().cloned().unwrap_or_default());
            self.findings.add(
                "ANALYZER_TIMEOUT",
                format!(
                    "analysis of this attachment stopped after {} ms (its time budget); the rest of the message was analysed",
                    self.attachment_budget.as_millis()
                ),
                top,
            );
        }
        self.stopped.is_some() || self.attachment_stopped
    }

    /// Counts one more container member; false when a budget says stop.
    pub(crate) fn next_member(&mut self, location: &Location) -> bool {
        if self.over_budget(location) {
            return false;
        }
        self.members += 1;
        true
    }

    pub(crate) fn time_left(&self) -> bool {
        self.started.elapsed() <= self.budget
            && self.attachment_started.elapsed() <= self.attachment_budget
    }

    /// Bytes that were unpacked outside `read_member` (a password probe), for the budget.
    pub(crate) fn count_unpacked(&mut self, n: u64) {
        self.unpacked += n;
    }

    /// An attachment's declared Content-Type against what its bytes are.
    pub fn declared(&mut self, location: &Location, name: &str, declared: &str, data: &[u8]) {
        let innocent = declared.starts_with("image/")
            || declared.starts_with("text/")
            || declared.starts_with("audio/")
            || declared.starts_with("video/")
            || declared == "application/pdf";
        let kind = filetype::kind("", data);
        if innocent && (kind.is_program() || kind.is_container()) {
            self.findings.add(
                if kind.is_program() {
                    "FILETYPE_DECLARED_PROGRAM"
                } else {
                    "FILETYPE_DECLARED_MISMATCH"
                },
                format!("{name} is declared {declared} but is {}", kind.describe()),
                location.clone(),
            );
        }
    }

    /// One object: an attachment (depth 0) or something found inside one.
    pub fn object(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        if self.collect.is_some() {
            self.take_out(location, name, data, depth);
            return;
        }
        let before = self.findings.len();
        let sha256 = sha256_hex(data);
        let known_bad = self.known_bad.lookup_data(&sha256, data);
        if let Some(family) = &known_bad {
            let what = if family.is_empty() {
                String::new()
            } else {
                format!(" ({family})")
            };
            self.findings.add(
                "HASH_KNOWN_BAD",
                format!("{name} is on the known-bad list{what}: sha256 {sha256}"),
                location.clone(),
            );
        }
        let variant = self.compare_with_references(location, name, data, &sha256);
        let kind = filetype::kind(name, data);
        let id = self.findings.add_object(
            location.clone(),
            name,
            kind.describe(),
            data.len() as u64,
            sha256.as_str(),
        );
        if !self.known_bad.is_empty() {
            let judgement = match &known_bad {
                Some(_) => Judgement::Malicious,
                None => Judgement::Clean,
            };
            let detail = known_bad.map(|f| f.to_string()).unwrap_or_default();
            self.findings.add_opinion(
                id,
                Opinion {
                    engine: Engine::KnownHashes,
                    judgement,
                    detail,
                },
            );
        }
        if let Some(family) = variant {
            let judgement = if family.is_some() {
                Judgement::Malicious
            } else {
                Judgement::Clean
            };
            self.findings.add_opinion(
                id,
                Opinion {
                    engine: Engine::Variants,
                    judgement,
                    detail: family.unwrap_or_default(),
                },
            );
        }
        if let Some(engines) = &mut self.engines {
            for opinion in engines.judge(self.findings, location, name, data, Some(kind), depth) {
                self.findings.add_opinion(id, opinion);
            }
        }
        self.read_statically(location, name, data, depth, kind, &sha256);
        self.weigh_opinions(id, before, location, name);
    }

    /// Our own analysers' look at an object: what its name and type claim, then its reader.
    fn read_statically(
        &mut self,
        location: &Location,
        name: &str,
        data: &[u8],
        depth: usize,
        kind: Kind,
        sha256: &str,
    ) {
        let executable_name = is_executable_name(name);
        // A name with no extension claims no type; one with a harmless extension lies.
        let claims_a_type = name
            .rsplit_once('.')
            .is_some_and(|(stem, ext)| !stem.is_empty() && !ext.is_empty());
        if kind.is_program() && !executable_name && claims_a_type {
            self.findings.add(
                "FILETYPE_DISGUISED_EXECUTABLE",
                format!(
                    "{name} is {}, named as something else (sha256 {sha256})",
                    kind.describe()
                ),
                location.clone(),
            );
        }
        if depth > 0 && (kind.is_program() || executable_name) {
            self.findings.add(
                "ARCHIVE_EXECUTABLE",
                format!(
                    "{name} inside {} is {} (sha256 {sha256})",
                    if matches!(location.segments().len(), 0..=2) {
                        "an archive".to_string()
                    } else {
                        "nested archives".to_string()
                    },
                    if kind.is_program() {
                        kind.describe()
                    } else {
                        "named as a program or script"
                    }
                ),
                location.clone(),
            );
        }
        if depth > 0 {
            if let Some((decoy, ext)) = double_extension(name) {
                self.add(
                    "ATTACH_DOUBLE_EXTENSION",
                    format!("{name:?} inside an archive: .{decoy} in front of .{ext}"),
                    location,
                );
            }
        }
        if kind.is_program() {
            self.program_folders.push(parent(location));
        }
        if kind.is_container() {
            if matches!(kind, Kind::Iso | Kind::Udf | Kind::FatImage) {
                self.findings.add(
                    "DISK_IMAGE",
                    format!("{name} is {}", kind.describe()),
                    location.clone(),
                );
            }
            if depth >= self.config.max_depth {
                self.findings.add(
                    "ARCHIVE_TOO_DEEP",
                    format!("{name} is an archive nested {} deep; not opened", depth + 1),
                    location.clone(),
                );
                return;
            }
        }
        // The readers include third-party parsers (cab, msi, 7z, goblin…) fed hostile bytes:
        // one that panics costs this object's analysis, not the message's other findings.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.read_as(kind, location, name, data, depth)
        }));
        if let Err(panic) = read {
            let why = mailmoat_core::panic_text(panic.as_ref()).unwrap_or_default();
            self.add(
                "ARCHIVE_DAMAGED",
                format!(
                    "{name}: the reader for {} failed on it ({}); not analysed further",
                    kind.describe(),
                    why.chars().take(120).collect::<String>()
                ),
                location,
            );
        }
    }

    /// Hands an object to the reader for its kind.
    fn read_as(&mut self, kind: Kind, location: &Location, name: &str, data: &[u8], depth: usize) {
        match kind {
            Kind::Zip => self.zip(location, name, data, depth),
            Kind::Gzip | Kind::Bzip2 | Kind::Xz => {
                self.compressed(kind, location, name, data, depth)
            }
            Kind::Tar => self.tar(location, name, data, depth),
            Kind::SevenZ => self.sevenz(location, name, data, depth),
            Kind::Rar => self.rar(location, name, data, depth),
            Kind::Cab => self.cab(location, name, data, depth),
            Kind::Iso => self.iso(location, name, data, depth),
            Kind::Udf => self.udf(location, name, data, depth),
            Kind::FatImage => self.fat(location, name, data, depth),
            Kind::Pe => self.pe(location, name, data),
            Kind::Elf | Kind::MachO => self.native(kind, location, name, data),
            Kind::Lnk => self.lnk(location, name, data, depth),
            Kind::Msi => self.msi(location, name, data, depth),
            Kind::Chm => self.chm(location, name, data),
            Kind::Ole => self.ole(location, name, data, depth),
            Kind::Rtf => self.rtf(location, name, data, depth),
            Kind::Pdf => self.pdf(location, name, data, depth),
            Kind::Ooxml => self.ooxml(location, name, data, depth),
            Kind::Hwpx => self.hwpx(location, name, data, depth),
            Kind::Html => self.html(location, name, data, depth),
            Kind::Script(lang) => self.script(lang, location, name, data, depth),
            Kind::DosExe | Kind::Other => {}
        }
    }

    /// Our analysers' opinion of an object, from the evidence they put at its location (a
    /// threat floor: malicious; other scoring evidence: suspicious), and, when two engines or
    /// more call it malicious, ENGINES_AGREE.
    fn weigh_opinions(&mut self, id: u32, before: usize, location: &Location, name: &str) {
        // Evidence of the other engines is theirs, not the analysers'.
        let other_engines = |symbol: &str| {
            matches!(
                symbol,
                "HASH_KNOWN_BAD" | "SIMILAR_KNOWN_MALWARE" | "ENGINES_AGREE"
            ) || symbol.starts_with("YARA_")
                || symbol.starts_with("AV_")
        };
        let mut judgement = Judgement::Clean;
        let mut detail = String::new();
        for e in self.findings.iter().skip(before) {
            if e.location != *location || other_engines(&e.symbol) {
                continue;
            }
            let Some(def) = crate::SYMBOLS.iter().find(|d| d.name == e.symbol) else {
                continue;
            };
            let this = if def.floor.is_some() {
                Judgement::Malicious
            } else if def.score > 0.0 {
                Judgement::Suspicious
            } else {
                continue;
            };
            if judgement == Judgement::Clean
                || (judgement == Judgement::Suspicious && this == Judgement::Malicious)
            {
                judgement = this;
                detail = e.symbol.to_string();
            }
        }
        self.findings.add_opinion(
            id,
            Opinion {
                engine: Engine::Analysers,
                judgement,
                detail,
            },
        );
        let Some(object) = self.findings.objects().get(id as usize) else {
            return;
        };
        let (malicious, answered) = object.agreement();
        if malicious >= 2 {
            let who: Vec<&str> = object
                .opinions
                .iter()
                .filter(|o| o.judgement == Judgement::Malicious)
                .map(|o| o.engine.as_str())
                .collect();
            let details = format!(
                "{malicious} of {answered} engines call {name} malicious: {}",
                who.join(", ")
            );
            self.findings
                .add("ENGINES_AGREE", details, location.clone());
        }
    }

    /// The signature engines' look at an object; `kind` None for what is not a file of its own
    /// (a macro's source, a PDF's script).
    pub(crate) fn signature_engines(
        &mut self,
        location: &Location,
        name: &str,
        data: &[u8],
        kind: Option<Kind>,
        depth: usize,
    ) {
        if let Some(engines) = &mut self.engines {
            engines.judge(self.findings, location, name, data, kind, depth);
        }
    }

    /// Taking objects out for a report (`collect`): a wanted object is kept, only the
    /// containers on the way to one are opened, and nothing is judged or hashed.
    fn take_out(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        self.keep_if_wanted(location, data);
        let here = location.segments();
        let leads_on = self.collect.as_ref().is_some_and(|(wanted, _)| {
            wanted
                .iter()
                .any(|w| w.len() > here.len() && w.starts_with(here))
        });
        let kind = filetype::kind(name, data);
        if !leads_on || (kind.is_container() && depth >= self.config.max_depth) {
            return;
        }
        // Hostile bytes reach the same third-party readers as in a scan.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.read_as(kind, location, name, data, depth)
        }));
    }

    /// In `collect` mode, keeps the bytes at a wanted location (once).
    fn keep_if_wanted(&mut self, location: &Location, data: &[u8]) {
        if let Some((wanted, found)) = &mut self.collect {
            let here = location.segments();
            if wanted.iter().any(|w| w.as_slice() == here)
                && !found.iter().any(|(l, _)| l.as_slice() == here)
            {
                found.push((here.to_vec(), data.to_vec()));
            }
        }
    }

    /// False only in `collect` mode for a location no wanted object lies at or under: such a
    /// member is not even unpacked.
    fn on_the_way(&self, location: &Location) -> bool {
        self.collect
            .as_ref()
            .is_none_or(|(wanted, _)| wanted.iter().any(|w| w.starts_with(location.segments())))
    }

    /// Compares an object (or a macro's source) with the variant reference store.
    /// None when no comparison was made (no store, or too small), else the family of the
    /// known-malicious neighbour found, if any.
    pub(crate) fn compare_with_references(
        &mut self,
        location: &Location,
        name: &str,
        data: &[u8],
        sha256: &str,
    ) -> Option<Option<String>> {
        self.keep_if_wanted(location, data);
        let (store, settings) = self.variants?;
        if data.len() < settings.min_bytes {
            return None;
        }
        // The vector only: TLSH is for the store's references, not needed to search it.
        let profile = mailmoat_variants::Profile {
            sha256: sha256.to_string(),
            size: data.len(),
            tlsh: None,
            vector: mailmoat_variants::embed(data),
        };
        let Some(m) = store.judge(&profile, settings.threshold, settings.margin) else {
            return Some(None);
        };
        self.findings.add_with_strength(
            "SIMILAR_KNOWN_MALWARE",
            f64::from(m.similarity),
            format!(
                "{name} is a variant of {}: {:.3} similar to {} (sha256 {}){}",
                m.family,
                m.similarity,
                m.name,
                m.sha256,
                m.nearest_benign
                    .map(|b| format!("; the nearest known-good object is {b:.3} similar"))
                    .unwrap_or_default()
            ),
            location.clone(),
        );
        Some(Some(m.family.to_string()))
    }

    /// A member of a container: walked one level deeper, named by its last path segment.
    pub(crate) fn member(&mut self, container: &Location, path: &str, data: &[u8], depth: usize) {
        let at = container.child(path.to_string());
        let short = path
            .rsplit(['/', '\\'])
            .find(|s| !s.is_empty())
            .unwrap_or(path);
        self.object(&at, short, data, depth + 1);
    }

    /// A file a document or page carries (an embedded object, a smuggled payload): walked one
    /// level deeper at `container > path`, within the depth and member budgets.
    pub(crate) fn embedded(
        &mut self,
        container: &Location,
        path: &str,
        bytes: &[u8],
        depth: usize,
    ) {
        if depth < self.config.max_depth && self.next_member(container) {
            self.count_unpacked(bytes.len() as u64);
            self.member(container, path, bytes, depth);
        }
    }

    /// `embedded` at a location of the caller's choosing (`at`, named `name`).
    pub(crate) fn embedded_at(
        &mut self,
        container: &Location,
        at: &Location,
        name: &str,
        bytes: &[u8],
        depth: usize,
    ) {
        if depth < self.config.max_depth && self.next_member(container) {
            self.count_unpacked(bytes.len() as u64);
            self.object(at, name, bytes, depth + 1);
        }
    }

    /// Reads a member within the budgets. `declared` is what the container says it unpacks
    /// to (headers can lie, so it only bounds the read), `packed` what it occupies. None when
    /// it was not read; evidence (or the stop reason) says why.
    pub(crate) fn read_member(
        &mut self,
        reader: &mut dyn Read,
        declared: u64,
        packed: u64,
        location: &Location,
        name: &str,
    ) -> Option<Vec<u8>> {
        self.read_counted(reader, declared, &|| packed, location, name)
    }

    /// `read_member` for a stream whose packed size is known only as it is consumed (gzip,
    /// bzip2, xz): `consumed` says how many packed bytes the decoder has read so far, so a
    /// bomb shows its ratio within the first megabytes, whatever it would unpack to.
    pub(crate) fn read_counted(
        &mut self,
        reader: &mut dyn Read,
        declared: u64,
        consumed: &dyn Fn() -> u64,
        location: &Location,
        name: &str,
    ) -> Option<Vec<u8>> {
        const CHUNK: usize = 256 << 10;
        if !self.on_the_way(location) {
            return None;
        }
        let remaining = self.config.max_total_bytes.saturating_sub(self.unpacked);
        let header_limit = declared.saturating_mul(2).saturating_add(4096);
        let limit = remaining
            .min(self.config.max_object_bytes)
            .min(header_limit);
        let mut out: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.unpacked += out.len() as u64;
                    self.add(
                        "ARCHIVE_DAMAGED",
                        format!("{name} could not be unpacked ({e})"),
                        location,
                    );
                    return None;
                }
            };
            out.extend_from_slice(&chunk[..n]);
            let got = out.len() as u64;
            let packed = consumed().max(1);
            if got > self.config.bomb_min_bytes && got / packed > self.config.max_ratio {
                self.unpacked += got;
                self.add(
                    "ARCHIVE_BOMB",
                    format!(
                        "{name} unpacks to more than {got} bytes from {packed} (over {}:1)",
                        self.config.max_ratio
                    ),
                    location,
                );
                return None;
            }
            if got > limit {
                self.unpacked += got;
                if limit == remaining {
                    self.stopped.get_or_insert_with(|| {
                        (
                            "ANALYZER_LIMIT",
                            format!(
                                "attachment analysis stopped at {} MiB unpacked",
                                self.config.max_total_bytes >> 20
                            ),
                        )
                    });
                } else if limit == self.config.max_object_bytes {
                    self.add(
                        "ANALYZER_LIMIT",
                        format!(
                            "{name} is larger than {} MiB unpacked; not analysed",
                            self.config.max_object_bytes >> 20
                        ),
                        location,
                    );
                } else {
                    self.add(
                        "ARCHIVE_DAMAGED",
                        format!(
                            "{name} unpacks to more than the {declared} bytes its header declares"
                        ),
                        location,
                    );
                }
                return None;
            }
        }
        self.unpacked += out.len() as u64;
        Some(out)
    }

    /// The first time an encrypted container is opened with a password, says which.
    pub(crate) fn opened_with(
        &mut self,
        location: &Location,
        name: &str,
        password: &str,
        source: &Source,
    ) {
        let symbol = match source {
            Source::Message => "ARCHIVE_PASSWORD_IN_MESSAGE",
            Source::Configured => "ARCHIVE_ENCRYPTED",
        };
        self.findings.add(
            symbol,
            format!(
                "{name} opened with the password {password:?} ({})",
                match source {
                    Source::Message => "written in the message",
                    Source::Configured => "a configured password",
                }
            ),
            location.clone(),
        );
    }

    pub(crate) fn add(&mut self, symbol: &'static str, details: impl Into<String>, at: &Location) {
        self.findings.add(symbol, details, at.clone());
    }
}

/// The folder (container) an object lies in.
pub(crate) fn parent(location: &Location) -> Location {
    let segments = location.segments();
    let mut out = Location::message();
    for s in &segments[..segments.len().saturating_sub(1)] {
        out = out.child(s.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in members {
            out.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(data).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn taking_an_object_out_opens_only_the_containers_on_its_way() {
        let secret = b"the member the report names".repeat(10);
        let inner = zip_of(&[("secret.txt", &secret), ("beside.txt", &[b'b'; 3000])]);
        let outer = zip_of(&[
            ("first.txt", &[b'a'; 5000]),
            ("inner.zip", &inner),
            ("last.bin", &[b'c'; 7000]),
        ]);
        let attachment = Location::new("invoice.zip".to_string());
        let wanted = vec![attachment
            .child("inner.zip".to_string())
            .child("secret.txt".to_string())
            .segments()
            .to_vec()];
        let config = Config::default();
        let known_bad = HashList::default();
        let mut findings = Findings::new();
        let mut walk = Walk::new(&config, &known_bad, &[], &mut findings);
        walk.collect = Some((&wanted, Vec::new()));
        walk.object(&attachment, "invoice.zip", &outer, 0);
        let (_, found) = walk.collect.take().unwrap();
        assert_eq!(found, vec![(wanted[0].clone(), secret.clone())]);
        // Only inner.zip and secret.txt were unpacked: not first.txt, last.bin or beside.txt.
        assert_eq!(walk.unpacked, (inner.len() + secret.len()) as u64);
        drop(walk);
        assert!(findings.is_empty(), "nothing is judged when taking out");
    }
}

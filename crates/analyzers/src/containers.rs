//! Archives opened in memory: zip (ZipCrypto, AES), gzip, bzip2, xz, tar, 7z (AES) and cab.
//! Members go back to the walk one level deeper; nothing is written to disk.

use std::cell::Cell;
use std::io::{Cursor, Read};
use std::rc::Rc;

use mailmoat_core::Location;
use mailmoat_detectors::attachment_names::is_executable_name;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::filetype::Kind;
use crate::passwords::Source;
use crate::walk::Walk;

/// Packed input that counts what the decoder has taken from it.
struct Counting<'a> {
    data: &'a [u8],
    consumed: Rc<Cell<u64>>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

impl Walk<'_> {
    pub(crate) fn zip(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let mut archive = match ZipArchive::new(Cursor::new(data)) {
            Ok(a) => a,
            Err(e) => {
                self.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: not a readable zip ({e})"),
                    location,
                );
                return;
            }
        };
        let mut encrypted_reported = false;
        let mut opened_with: Option<(String, Source)> = None;
        for i in 0..archive.len() {
            if !self.next_member(location) {
                return;
            }
            // Names and sizes come from the central directory, readable without a password.
            let (member, declared, packed, is_dir) = match archive.by_index_raw(i) {
                Ok(f) => (
                    f.name().map(|n| n.into_owned()).unwrap_or_default(),
                    f.size(),
                    f.compressed_size(),
                    f.is_dir(),
                ),
                Err(e) => {
                    self.add(
                        "ARCHIVE_DAMAGED",
                        format!("{name}: member {i} unreadable ({e})"),
                        location,
                    );
                    continue;
                }
            };
            if is_dir {
                continue;
            }
            let at = location.child(member.clone());
            if declared > self.config.bomb_min_bytes
                && declared / packed.max(1) > self.config.max_ratio
            {
                self.add(
                    "ARCHIVE_BOMB",
                    format!("{member} declares {declared} bytes packed into {packed}"),
                    &at,
                );
                continue;
            }
            // Ok(read), Err(None): encrypted, Err(Some(why)): unreadable.
            let plain = match archive.by_index(i) {
                Ok(mut f) => Ok(self.read_member(&mut f, declared, packed, &at, &member)),
                Err(ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED))
                | Err(ZipError::InvalidPassword) => Err(None),
                Err(e) => Err(Some(e.to_string())),
            };
            let bytes = match plain {
                Ok(bytes) => bytes,
                Err(None) => {
                    if !encrypted_reported {
                        encrypted_reported = true;
                        self.add(
                            "ARCHIVE_ENCRYPTED",
                            format!("{name} is encrypted"),
                            location,
                        );
                    }
                    let mut found = None;
                    // The password that opened an earlier member first.
                    let order: Vec<(String, Source)> = opened_with
                        .iter()
                        .chain(self.passwords.iter())
                        .cloned()
                        .collect();
                    for (password, source) in order {
                        if !self.time_left() {
                            break;
                        }
                        // ZipCrypto accepts 1 wrong password in 256: only a read that passes the
                        // CRC (or AES's HMAC) counts as opened.
                        let Ok(mut f) = archive.by_index_decrypt(i, password.as_bytes()) else {
                            continue;
                        };
                        let mut probe = Vec::new();
                        let limit = declared
                            .min(self.config.max_object_bytes)
                            .min(self.config.max_total_bytes)
                            + 1;
                        if (&mut f).take(limit).read_to_end(&mut probe).is_ok()
                            && probe.len() as u64 == declared
                        {
                            found = Some((password, source, probe));
                            break;
                        }
                    }
                    match found {
                        Some((password, source, probe)) => {
                            self.count_unpacked(probe.len() as u64);
                            if opened_with.is_none() {
                                self.opened_with(location, name, &password, &source);
                            }
                            opened_with = Some((password, source));
                            Some(probe)
                        }
                        None => {
                            self.unopened(location, name, &member);
                            None
                        }
                    }
                }
                Err(Some(why)) => {
                    self.add("ARCHIVE_DAMAGED", format!("{member} in {name}: {why}"), &at);
                    None
                }
            };
            if let Some(bytes) = bytes {
                self.member(location, &member, &bytes, depth);
            }
        }
    }

    /// An encrypted member none of the passwords opens: unknown content, but a visible name.
    pub(crate) fn unopened(&mut self, location: &Location, name: &str, member: &str) {
        let at = location.child(member.to_string());
        self.add(
            "ARCHIVE_UNOPENED",
            format!(
                "{member} in {name}: encrypted, none of {} passwords opens it",
                self.passwords.len()
            ),
            &at,
        );
        if is_executable_name(member) {
            self.add(
                "ARCHIVE_EXECUTABLE",
                format!("{member} inside an encrypted archive is named as a program or script"),
                &at,
            );
        }
    }

    /// Single-stream compressors: gzip, bzip2, xz. They do not declare their size reliably,
    /// so the bomb limit applies to what they yield.
    pub(crate) fn compressed(
        &mut self,
        kind: Kind,
        location: &Location,
        name: &str,
        data: &[u8],
        depth: usize,
    ) {
        if !self.next_member(location) {
            return;
        }
        let lower = name.to_ascii_lowercase();
        let inner = [".gz", ".bz2", ".xz", ".tgz", ".tbz2", ".txz", ".gzip"]
            .iter()
            .find(|s| lower.ends_with(*s))
            .map(|s| {
                let stem = &name[..name.len() - s.len()];
                if s.starts_with(".t") && s.len() <= 5 {
                    format!("{stem}.tar")
                } else {
                    stem.to_string()
                }
            })
            .unwrap_or_else(|| format!("{name}.unpacked"));
        let at = location.child(inner.clone());
        let consumed = Rc::new(Cell::new(0u64));
        let input = Counting {
            data,
            consumed: consumed.clone(),
        };
        let mut reader: Box<dyn Read> = match kind {
            Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
            Kind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
            _ => Box::new(lzma_rust2::XzReader::new(input, true)),
        };
        if let Some(bytes) =
            self.read_counted(&mut reader, u64::MAX / 4, &|| consumed.get(), &at, &inner)
        {
            if crate::filetype::kind(&inner, &bytes) == Kind::Tar {
                // A .tar.gz is one archive: the compression layer does not count as nesting.
                self.object(&at, &inner, &bytes, depth);
            } else {
                self.member(location, &inner, &bytes, depth);
            }
        }
    }

    pub(crate) fn tar(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let mut archive = tar::Archive::new(Cursor::new(data));
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => {
                self.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: not a readable tar ({e})"),
                    location,
                );
                return;
            }
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.add("ARCHIVE_DAMAGED", format!("{name}: {e}"), location);
                    return;
                }
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            if !self.next_member(location) {
                return;
            }
            // Names only label evidence: `../` is never resolved against a disk here.
            let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let size = entry.size();
            let at = location.child(member.clone());
            if let Some(bytes) = self.read_member(&mut entry, size, size, &at, &member) {
                self.member(location, &member, &bytes, depth);
            }
        }
    }

    pub(crate) fn sevenz(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        use sevenz_rust2::{Archive, ArchiveReader, Error, Password};
        // Memory for decoder dictionaries: a crafted header asking for gigabytes is refused.
        const MEMORY_LIMIT_KB: usize = 256 * 1024;
        let is_password_error =
            |e: &Error| matches!(e, Error::PasswordRequired | Error::MaybeBadPassword(_));
        // Headers may be encrypted too (7z -mhe): then even the names need the password.
        let mut used: Option<(String, Source)> = None;
        let archive = match Archive::read_with_memory_limit(
            &mut Cursor::new(data),
            &Password::empty(),
            MEMORY_LIMIT_KB,
        ) {
            Ok(a) => a,
            Err(e) if is_password_error(&e) => {
                self.add(
                    "ARCHIVE_ENCRYPTED",
                    format!("{name} is encrypted, names included"),
                    location,
                );
                let mut opened = None;
                let passwords = self.passwords;
                for (password, source) in passwords.iter().cloned() {
                    if !self.time_left() {
                        break;
                    }
                    if let Ok(a) = Archive::read_with_memory_limit(
                        &mut Cursor::new(data),
                        &Password::from(password.as_str()),
                        MEMORY_LIMIT_KB,
                    ) {
                        opened = Some(a);
                        used = Some((password, source));
                        break;
                    }
                }
                match opened {
                    Some(a) => a,
                    None => {
                        self.add(
                            "ARCHIVE_UNOPENED",
                            format!(
                                "{name}: encrypted names and content, none of {} passwords opens it",
                                self.passwords.len()
                            ),
                            location,
                        );
                        return;
                    }
                }
            }
            Err(e) => {
                self.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: not a readable 7z ({e})"),
                    location,
                );
                return;
            }
        };
        // Bombs by declaration, before anything is decoded.
        let packed_total: u64 = data.len() as u64;
        let declared_total: u64 = archive.files.iter().map(|f| f.size).sum();
        if declared_total > self.config.bomb_min_bytes
            && declared_total / packed_total.max(1) > self.config.max_ratio
        {
            self.add(
                "ARCHIVE_BOMB",
                format!("{name} declares {declared_total} bytes packed into {packed_total}"),
                location,
            );
            return;
        }
        let files: Vec<(String, u64)> = archive
            .files
            .iter()
            .filter(|f| f.has_stream && !f.is_directory)
            .map(|f| (f.name.clone(), f.size))
            .collect();
        // Try the header's password (or none), then each candidate, until the content decodes.
        let mut attempts: Vec<Option<(String, Source)>> = vec![used.clone()];
        if used.is_none() {
            attempts.extend(self.passwords.iter().cloned().map(Some));
        }
        let mut encrypted_reported = used.is_some();
        for attempt in attempts {
            if !self.time_left() {
                break;
            }
            let password = attempt
                .as_ref()
                .map(|(p, _)| Password::from(p.as_str()))
                .unwrap_or_else(Password::empty);
            let mut reader =
                ArchiveReader::from_archive(archive.clone(), Cursor::new(data), password);
            reader.set_thread_count(1);
            let mut out: Vec<(String, Vec<u8>)> = Vec::new();
            let result = reader.for_each_entries(|entry, r| {
                if entry.is_directory || !entry.has_stream {
                    return Ok(true);
                }
                if !self.next_member(location) {
                    return Ok(false);
                }
                // A wrong password shows as a read error here: it must reach the reader (which
                // reports it as such), not be taken for damage.
                let cap = self
                    .config
                    .max_object_bytes
                    .min(entry.size.saturating_mul(2) + 4096);
                let mut plain = Vec::new();
                r.take(cap + 1).read_to_end(&mut plain)?;
                let at = location.child(entry.name.clone());
                let packed = entry
                    .compressed_size
                    .max(data.len() as u64 / files.len().max(1) as u64);
                if let Some(bytes) =
                    self.read_member(&mut plain.as_slice(), entry.size, packed, &at, &entry.name)
                {
                    out.push((entry.name.clone(), bytes));
                }
                Ok(true)
            });
            match result {
                Ok(()) => {
                    if let Some((password, source)) = &attempt {
                        self.opened_with(location, name, password, source);
                    }
                    for (member, bytes) in out {
                        self.member(location, &member, &bytes, depth);
                    }
                    return;
                }
                Err(e) if is_password_error(&e) => {
                    if !encrypted_reported {
                        encrypted_reported = true;
                        self.add(
                            "ARCHIVE_ENCRYPTED",
                            format!("{name} is encrypted"),
                            location,
                        );
                    }
                }
                Err(e) => {
                    self.add("ARCHIVE_DAMAGED", format!("{name}: {e}"), location);
                    for (member, bytes) in out {
                        self.member(location, &member, &bytes, depth);
                    }
                    return;
                }
            }
        }
        for (member, _) in files {
            self.unopened(location, name, &member);
        }
    }

    pub(crate) fn cab(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let mut cabinet = match cab::Cabinet::new(Cursor::new(data)) {
            Ok(c) => c,
            Err(e) => {
                self.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: not a readable cabinet ({e})"),
                    location,
                );
                return;
            }
        };
        let files: Vec<(String, u64)> = cabinet
            .folder_entries()
            .flat_map(|folder| folder.file_entries())
            .map(|f| (f.name().to_string(), f.uncompressed_size() as u64))
            .collect();
        let packed_each = data.len() as u64 / files.len().max(1) as u64;
        for (member, size) in files {
            if !self.next_member(location) {
                return;
            }
            let at = location.child(member.clone());
            let bytes = match cabinet.read_file(&member) {
                Ok(mut r) => self.read_member(&mut r, size, packed_each, &at, &member),
                Err(e) => {
                    self.add("ARCHIVE_DAMAGED", format!("{member} in {name}: {e}"), &at);
                    None
                }
            };
            if let Some(bytes) = bytes {
                self.member(location, &member, &bytes, depth);
            }
        }
    }
}

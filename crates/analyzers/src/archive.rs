//! The walk over one message's attachments: each object is hashed, typed from its bytes, and,
//! when it is an archive, opened (in memory) and its members walked in turn, within the budgets.

use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use mailmoat_core::{Findings, Location};
use mailmoat_detectors::attachment_names::is_executable_name;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::hashes::{digests, HashList};
use crate::passwords::Source;
use crate::Config;

pub struct Walk<'a> {
    config: &'a Config,
    known_bad: &'a HashList,
    passwords: &'a [(String, Source)],
    started: Instant,
    budget: Duration,
    findings: &'a mut Findings,
    unpacked: u64,
    members: usize,
    /// Why the walk stopped early, reported once.
    stopped: Option<String>,
}

/// What the bytes are, as far as this walk cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Executable,
    Zip,
    Gzip,
    Other,
}

fn kind(data: &[u8]) -> Kind {
    match mailmoat_mime::sniff(data) {
        Some(
            "application/vnd.microsoft.portable-executable"
            | "application/x-dosexec"
            | "application/x-elf"
            | "application/x-mach-binary"
            | "application/x-ms-shortcut",
        ) => Kind::Executable,
        Some("application/zip") => Kind::Zip,
        Some("application/gzip") => Kind::Gzip,
        _ => Kind::Other,
    }
}

impl<'a> Walk<'a> {
    pub fn new(
        config: &'a Config,
        known_bad: &'a HashList,
        passwords: &'a [(String, Source)],
        budget: Duration,
        findings: &'a mut Findings,
    ) -> Self {
        Walk {
            config,
            known_bad,
            passwords,
            started: Instant::now(),
            budget,
            findings,
            unpacked: 0,
            members: 0,
            stopped: None,
        }
    }

    /// Reports a budget that stopped the walk, once.
    pub fn finish(self) {
        if let Some(why) = self.stopped {
            self.findings
                .add("ANALYZER_LIMIT", why, Location::message());
        }
    }

    fn over_budget(&mut self) -> bool {
        if self.stopped.is_some() {
            return true;
        }
        if self.started.elapsed() > self.budget {
            self.stopped = Some(format!(
                "attachment analysis stopped after {} ms (time budget)",
                self.budget.as_millis()
            ));
        } else if self.members >= self.config.max_members {
            self.stopped = Some(format!(
                "attachment analysis stopped after {} archive members",
                self.config.max_members
            ));
        }
        self.stopped.is_some()
    }

    /// An attachment's declared Content-Type against what its bytes are.
    pub fn declared(&mut self, location: &Location, name: &str, declared: &str, data: &[u8]) {
        let innocent = declared.starts_with("image/")
            || declared.starts_with("text/")
            || declared.starts_with("audio/")
            || declared.starts_with("video/")
            || declared == "application/pdf";
        let what = match kind(data) {
            Kind::Executable => "a program",
            Kind::Zip => "a zip archive",
            Kind::Gzip => "a gzip archive",
            Kind::Other => return,
        };
        if innocent {
            self.findings.add(
                "FILETYPE_DECLARED_MISMATCH",
                format!("{name} is declared {declared} but is {what}"),
                location.clone(),
            );
        }
    }

    /// One object: an attachment (depth 0) or an archive member.
    pub fn object(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let (sha256, md5) = digests(data);
        if let Some(family) = self.known_bad.lookup(&sha256, &md5) {
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
        let kind = kind(data);
        let executable_name = is_executable_name(name);
        if kind == Kind::Executable && !executable_name {
            self.findings.add(
                "FILETYPE_DISGUISED_EXECUTABLE",
                format!("{name} is a program, named as something else (sha256 {sha256})"),
                location.clone(),
            );
        }
        if depth > 0 && (kind == Kind::Executable || executable_name) {
            self.findings.add(
                "ARCHIVE_EXECUTABLE",
                format!(
                    "{name} inside an archive is {} (sha256 {sha256})",
                    if kind == Kind::Executable {
                        "a program"
                    } else {
                        "named as a program or script"
                    }
                ),
                location.clone(),
            );
        }
        match kind {
            Kind::Zip | Kind::Gzip if depth >= self.config.max_depth => {
                self.findings.add(
                    "ARCHIVE_TOO_DEEP",
                    format!("{name} is an archive nested {} deep; not opened", depth + 1),
                    location.clone(),
                );
            }
            Kind::Zip => self.zip(location, name, data, depth),
            Kind::Gzip => self.gzip(location, name, data, depth),
            _ => {}
        }
    }

    /// Reads at most what the budgets allow; None (with evidence) when a member is a bomb.
    fn read_member(
        &mut self,
        reader: &mut dyn Read,
        declared: u64,
        packed: u64,
        location: &Location,
        name: &str,
    ) -> Option<Vec<u8>> {
        let remaining = self.config.max_total_bytes.saturating_sub(self.unpacked);
        // Headers can lie: never read more than the bomb limit allows, whatever they say.
        let bomb_limit =
            (packed.max(1).saturating_mul(self.config.max_ratio)).max(self.config.bomb_min_bytes);
        let limit = remaining
            .min(bomb_limit)
            .min(declared.max(1).saturating_mul(2) + 4096);
        let mut out = Vec::new();
        let read = reader.take(limit + 1).read_to_end(&mut out);
        self.unpacked += out.len() as u64;
        if read.is_err() {
            self.findings.add(
                "ARCHIVE_DAMAGED",
                format!("{name} could not be unpacked"),
                location.clone(),
            );
            return None;
        }
        if out.len() as u64 > limit {
            if limit == remaining && remaining < bomb_limit {
                self.stopped.get_or_insert_with(|| {
                    format!(
                        "attachment analysis stopped at {} MiB unpacked",
                        self.config.max_total_bytes >> 20
                    )
                });
            } else {
                self.findings.add(
                    "ARCHIVE_BOMB",
                    format!("{name} unpacks to more than {} bytes from {packed}", limit),
                    location.clone(),
                );
            }
            return None;
        }
        Some(out)
    }

    fn zip(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let mut archive = match ZipArchive::new(Cursor::new(data)) {
            Ok(a) => a,
            Err(e) => {
                self.findings.add(
                    "ARCHIVE_DAMAGED",
                    format!("{name}: not a readable zip ({e})"),
                    location.clone(),
                );
                return;
            }
        };
        let mut encrypted_reported = false;
        let mut opened_with: Option<(String, Source)> = None;
        for i in 0..archive.len() {
            if self.over_budget() {
                return;
            }
            self.members += 1;
            // Names and sizes come from the central directory, readable without a password.
            let (member, declared, packed, is_dir) = match archive.by_index_raw(i) {
                Ok(f) => (
                    f.name().map(|n| n.into_owned()).unwrap_or_default(),
                    f.size(),
                    f.compressed_size(),
                    f.is_dir(),
                ),
                Err(e) => {
                    self.findings.add(
                        "ARCHIVE_DAMAGED",
                        format!("{name}: member {i} unreadable ({e})"),
                        location.clone(),
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
                self.findings.add(
                    "ARCHIVE_BOMB",
                    format!("{member} declares {declared} bytes packed into {packed}"),
                    at,
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
                        self.findings.add(
                            "ARCHIVE_ENCRYPTED",
                            format!("{name} is encrypted"),
                            location.clone(),
                        );
                    }
                    let mut found = None;
                    // The password that opened an earlier member first.
                    let order: Vec<&(String, Source)> =
                        opened_with.iter().chain(self.passwords.iter()).collect();
                    for (password, source) in order {
                        if self.started.elapsed() > self.budget {
                            break;
                        }
                        // ZipCrypto accepts 1 wrong password in 256: only a read that passes the
                        // CRC (or AES's HMAC) counts as opened.
                        let Ok(mut f) = archive.by_index_decrypt(i, password.as_bytes()) else {
                            continue;
                        };
                        let mut probe = Vec::new();
                        let limit = declared.min(self.config.max_total_bytes) + 1;
                        if (&mut f).take(limit).read_to_end(&mut probe).is_ok()
                            && probe.len() as u64 == declared
                        {
                            found = Some((password.clone(), source.clone(), probe));
                            break;
                        }
                    }
                    match found {
                        Some((password, source, probe)) => {
                            self.unpacked += probe.len() as u64;
                            if opened_with.is_none() {
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
                            opened_with = Some((password, source));
                            Some(probe)
                        }
                        None => {
                            self.findings.add(
                                "ARCHIVE_UNOPENED",
                                format!(
                                    "{member} in {name}: encrypted, none of {} passwords opens it",
                                    self.passwords.len()
                                ),
                                at.clone(),
                            );
                            // What is inside stays unknown, but its name is visible.
                            if is_executable_name(&member) {
                                self.findings.add(
                                    "ARCHIVE_EXECUTABLE",
                                    format!("{member} inside an encrypted archive is named as a program or script"),
                                    at.clone(),
                                );
                            }
                            None
                        }
                    }
                }
                Err(Some(why)) => {
                    self.findings.add(
                        "ARCHIVE_DAMAGED",
                        format!("{member} in {name}: {why}"),
                        at.clone(),
                    );
                    None
                }
            };
            if let Some(bytes) = bytes {
                let short = member.rsplit('/').next().unwrap_or(&member).to_string();
                self.object(&at, &short, &bytes, depth + 1);
            }
        }
    }

    fn gzip(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        if self.over_budget() {
            return;
        }
        self.members += 1;
        let inner = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".tgz"))
            .unwrap_or(name)
            .to_string();
        let at = location.child(inner.clone());
        let mut decoder = flate2::read::GzDecoder::new(data);
        // gzip does not declare its size reliably; the bomb limit applies to what it yields.
        if let Some(bytes) =
            self.read_member(&mut decoder, u64::MAX / 4, data.len() as u64, &at, &inner)
        {
            self.object(&at, &inner, &bytes, depth + 1);
        }
    }
}

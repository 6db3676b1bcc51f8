//! RAR 4 and RAR 5, read from their block headers: every member's name, size and flags are
//! listed (that is what tells an executable inside), stored (uncompressed) members are
//! analysed like any other. Compressed members are not decoded: RAR's compression is only
//! available as the proprietary unrar C++ code, which we do not build in. That is said as
//! evidence (ARCHIVE_LISTED_ONLY), with the names.

use mailmoat_core::Location;

use crate::walk::Walk;

#[derive(Debug, Default, PartialEq)]
pub struct Member {
    pub name: String,
    pub size: u64,
    pub encrypted: bool,
    /// The bytes of a stored member (method "store" and not encrypted).
    pub stored: Option<(usize, usize)>,
    pub is_dir: bool,
}

#[derive(Debug, Default, PartialEq)]
pub struct Listing {
    pub members: Vec<Member>,
    /// RAR 5 `-hp` / RAR 4 block encryption: even the names are encrypted.
    pub headers_encrypted: bool,
    pub damaged: Option<String>,
}

/// RAR 5's variable-length integer: 7 bits per byte, low first.
fn vint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn u16le(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

pub fn list(data: &[u8]) -> Listing {
    if data.starts_with(b"Rar!\x1a\x07\x01\x00") {
        list5(data)
    } else {
        list4(data)
    }
}

const MAX_MEMBERS: usize = 100_000;

fn list5(data: &[u8]) -> Listing {
    let mut out = Listing::default();
    let mut at = 8;
    while at < data.len() && out.members.len() < MAX_MEMBERS {
        let start = at;
        let parsed = (|| {
            let mut p = at + 4; // CRC32
            let header_size = vint(data, &mut p)? as usize;
            let body = p;
            let end = body.checked_add(header_size)?;
            if end > data.len() {
                return None;
            }
            let kind = vint(data, &mut p)?;
            let flags = vint(data, &mut p)?;
            let extra_size = if flags & 1 != 0 {
                vint(data, &mut p)?
            } else {
                0
            };
            let data_size = if flags & 2 != 0 {
                vint(data, &mut p)?
            } else {
                0
            };
            Some((kind, p, end, extra_size as usize, data_size as usize))
        })();
        let Some((kind, mut p, end, extra_size, data_size)) = parsed else {
            out.damaged = Some(format!("unreadable block header at offset {start}"));
            break;
        };
        match kind {
            4 => {
                out.headers_encrypted = true;
                break;
            }
            5 => break,
            2 => {
                let member = (|| {
                    let file_flags = vint(data, &mut p)?;
                    let size = vint(data, &mut p)?;
                    let _attributes = vint(data, &mut p)?;
                    if file_flags & 2 != 0 {
                        p += 4;
                    }
                    if file_flags & 4 != 0 {
                        p += 4;
                    }
                    let compression = vint(data, &mut p)?;
                    let _host = vint(data, &mut p)?;
                    let name_len = vint(data, &mut p)? as usize;
                    let name = String::from_utf8_lossy(data.get(p..p.checked_add(name_len)?)?)
                        .into_owned();
                    p += name_len;
                    // The extra area: record type 1 is file encryption.
                    let mut encrypted = false;
                    let extra_end = end;
                    let mut q = extra_end.checked_sub(extra_size)?;
                    while q < extra_end {
                        let size = vint(data, &mut q)? as usize;
                        let record_start = q;
                        let record_type = vint(data, &mut q)?;
                        if record_type == 1 {
                            encrypted = true;
                        }
                        q = record_start.checked_add(size)?;
                    }
                    let method = (compression >> 7) & 7;
                    // data_size comes from the file: a sum near usize::MAX must not wrap.
                    let stored = (method == 0 && !encrypted && data_size as u64 == size)
                        .then(|| end.checked_add(data_size).map(|e| (end, e)))
                        .flatten()
                        .filter(|(_, e)| *e <= data.len());
                    Some(Member {
                        name,
                        size,
                        encrypted,
                        stored,
                        is_dir: file_flags & 1 != 0,
                    })
                })();
                match member {
                    Some(m) => out.members.push(m),
                    None => {
                        out.damaged = Some(format!("unreadable file header at offset {start}"));
                        break;
                    }
                }
            }
            _ => {}
        }
        at = end.saturating_add(data_size);
    }
    out
}

fn list4(data: &[u8]) -> Listing {
    let mut out = Listing::default();
    let mut at: usize = 7;
    while at.saturating_add(7) <= data.len() && out.members.len() < MAX_MEMBERS {
        let (Some(kind), Some(flags), Some(size)) = (
            data.get(at + 2).copied(),
            u16le(data, at + 3),
            u16le(data, at + 5),
        ) else {
            break;
        };
        let size = size as usize;
        if size < 7 {
            out.damaged = Some(format!("unreadable block header at offset {at}"));
            break;
        }
        let mut add = if flags & 0x8000 != 0 {
            u32le(data, at + 7).unwrap_or(0) as usize
        } else {
            0
        };
        match kind {
            // Main header: 0x0080 = block headers encrypted.
            0x73 if flags & 0x0080 != 0 => {
                out.headers_encrypted = true;
                break;
            }
            0x74 => {
                let member = (|| {
                    let h = at + 7;
                    let packed_low = u32le(data, h)? as u64;
                    let size_low = u32le(data, h + 4)? as u64;
                    let method = *data.get(h + 18)?;
                    let name_len = u16le(data, h + 19)? as usize;
                    let mut name_at = h + 25;
                    let (packed, unpacked) = if flags & 0x100 != 0 {
                        let hp = u32le(data, h + 25)? as u64;
                        let hs = u32le(data, h + 29)? as u64;
                        name_at += 8;
                        (packed_low | hp << 32, size_low | hs << 32)
                    } else {
                        (packed_low, size_low)
                    };
                    let raw = data.get(name_at..name_at + name_len)?;
                    // Unicode names follow the OEM name after a NUL; the OEM part is enough
                    // to label evidence.
                    let oem = raw.split(|b| *b == 0).next().unwrap_or(raw);
                    let name = String::from_utf8_lossy(oem).replace('\\', "/");
                    let encrypted = flags & 0x04 != 0;
                    let data_at = at + size;
                    // The sizes are attacker-chosen 64-bit numbers: an end past the data (or past
                    // usize) means the member is not stored in this file.
                    let stored = (method == 0x30 && !encrypted && packed == unpacked)
                        .then(|| {
                            Some((data_at, data_at.checked_add(usize::try_from(packed).ok()?)?))
                        })
                        .flatten()
                        .filter(|(_, e)| *e <= data.len());
                    Some((
                        Member {
                            name,
                            size: unpacked,
                            encrypted,
                            stored,
                            is_dir: flags & 0xe0 == 0xe0,
                        },
                        packed as usize,
                    ))
                })();
                match member {
                    Some((m, packed)) => {
                        add = packed;
                        out.members.push(m);
                    }
                    None => {
                        out.damaged = Some(format!("unreadable file header at offset {at}"));
                        break;
                    }
                }
            }
            0x7b => break,
            _ => {}
        }
        at = at.saturating_add(size).saturating_add(add);
    }
    out
}

impl Walk<'_> {
    pub(crate) fn rar(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        let listing = list(data);
        if listing.headers_encrypted {
            self.add(
                "ARCHIVE_ENCRYPTED",
                format!("{name} is encrypted, names included"),
                location,
            );
            self.add(
                "ARCHIVE_UNOPENED",
                format!("{name}: a RAR with encrypted headers; its content is unknown"),
                location,
            );
            return;
        }
        if let Some(why) = &listing.damaged {
            self.add("ARCHIVE_DAMAGED", format!("{name}: {why}"), location);
        }
        let mut encrypted_reported = false;
        let mut listed_only = Vec::new();
        for member in listing.members.iter().filter(|m| !m.is_dir) {
            if !self.next_member(location) {
                return;
            }
            if member.encrypted {
                if !encrypted_reported {
                    encrypted_reported = true;
                    self.add(
                        "ARCHIVE_ENCRYPTED",
                        format!("{name} is encrypted"),
                        location,
                    );
                }
                // RAR encryption needs the RAR decoder too: the password cannot be tried.
                self.unopened(location, name, &member.name);
                continue;
            }
            match member.stored {
                Some((start, end)) => {
                    let bytes = data[start..end].to_vec();
                    self.count_unpacked(bytes.len() as u64);
                    self.member(location, &member.name, &bytes, depth);
                }
                None => {
                    listed_only.push(member.name.clone());
                    // The name alone still tells a program.
                    let at = location.child(member.name.clone());
                    if mailmoat_detectors::attachment_names::is_executable_name(&member.name) {
                        self.add(
                            "ARCHIVE_EXECUTABLE",
                            format!("{} inside a RAR archive is named as a program or script (listed, not decoded)", member.name),
                            &at,
                        );
                    }
                }
            }
        }
        if !listed_only.is_empty() {
            let shown: Vec<&str> = listed_only.iter().take(10).map(String::as_str).collect();
            self.add(
                "ARCHIVE_LISTED_ONLY",
                format!(
                    "{name}: {} compressed RAR member(s) listed but not unpacked: {}{}",
                    listed_only.len(),
                    shown.join(", "),
                    if listed_only.len() > 10 { ", …" } else { "" }
                ),
                location,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_headers_are_damaged_not_a_panic() {
        for data in [
            &b"Rar!\x1a\x07\x01\x00\x01\x02\x03"[..],
            &b"Rar!\x1a\x07\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
            &b"Rar!\x1a\x07\x00\x00\x00\x74\x00\x00\x20\x00"[..],
        ] {
            let listing = list(data);
            assert!(listing.members.is_empty());
        }
    }

    #[test]
    fn regression_rar4_stored_member_sizes_near_the_top_of_the_address_space() {
        // Found by fuzzing (attach_lnk, whose walk opens any archive by its magic): a
        // stored member with 64-bit sizes of 0xffff… overflowed its end offset.
        let crash = include_bytes!("../fuzz-crashes/rar4-stored-size-overflow.bin");
        let listing = list(crash);
        assert!(listing.members.iter().all(|m| m.stored.is_none()));
    }

    #[test]
    fn regression_rar5_stored_data_size_near_the_top_of_the_address_space() {
        // Found by fuzzing (attach_ole): a RAR5 file header whose data size and unpacked
        // size are both near usize::MAX overflowed the stored member's end offset.
        let crash = include_bytes!("../fuzz-crashes/rar5-stored-data-size-overflow.bin");
        let listing = list(crash);
        // The well-formed members before it still list; no stored range leaves the data.
        assert!(listing.members.len() > 20);
        assert!(listing
            .members
            .iter()
            .filter_map(|m| m.stored)
            .all(|(start, end)| start <= end && end <= crash.len()));
    }
}

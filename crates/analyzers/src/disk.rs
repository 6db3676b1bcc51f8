//! Disk images (.iso, .img, .vhd-less raw images), the way malware got past mark-of-the-web:
//! ISO 9660 with Joliet names, UDF, and, for file systems we do not read (FAT images) or
//! images too damaged to read, files carved at sector boundaries by their magic.

use mailmoat_core::Location;

use crate::walk::Walk;

const SECTOR: usize = 2048;
/// Directories and files per image at most (the member budget applies as well).
const MAX_ENTRIES: usize = 20_000;
const MAX_DIR_DEPTH: usize = 16;

fn u16le(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64le(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// A file found in an image: its path and where its bytes lie.
#[derive(Debug, PartialEq)]
pub struct ImageFile {
    pub path: String,
    pub extents: Vec<(usize, usize)>,
}

/// ISO 9660 files, with the Joliet (Unicode) names when the image has them.
pub fn iso_files(data: &[u8]) -> Result<Vec<ImageFile>, String> {
    let mut root = None;
    let mut joliet = false;
    for i in 16..64 {
        let at = i * SECTOR;
        let Some(vd) = data.get(at..at + SECTOR) else {
            break;
        };
        if &vd[1..6] != b"CD001" {
            break;
        }
        match vd[0] {
            1 if root.is_none() => root = Some(at + 156),
            2 if matches!(&vd[88..91], b"%/@" | b"%/C" | b"%/E") => {
                root = Some(at + 156);
                joliet = true;
            }
            255 => break,
            _ => {}
        }
    }
    let root = root.ok_or("no primary volume descriptor")?;
    let lba = u32le(data, root + 2).ok_or("root record truncated")? as usize;
    let len = u32le(data, root + 10).ok_or("root record truncated")? as usize;
    let mut out = Vec::new();
    let mut visited = Vec::new();
    iso_dir(data, lba, len, "", joliet, 0, &mut visited, &mut out)?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn iso_dir(
    data: &[u8],
    lba: usize,
    len: usize,
    prefix: &str,
    joliet: bool,
    depth: usize,
    visited: &mut Vec<usize>,
    out: &mut Vec<ImageFile>,
) -> Result<(), String> {
    if depth > MAX_DIR_DEPTH || visited.contains(&lba) || out.len() >= MAX_ENTRIES {
        return Ok(());
    }
    visited.push(lba);
    let start = lba.checked_mul(SECTOR).ok_or("directory out of range")?;
    let dir = data
        .get(start..start.saturating_add(len).min(data.len()))
        .ok_or_else(|| format!("directory at sector {lba} lies outside the image"))?;
    let mut at = 0;
    while at < dir.len() && out.len() < MAX_ENTRIES {
        let rec_len = dir[at] as usize;
        if rec_len == 0 {
            // Records do not cross sectors: the rest of this one is padding.
            at = (at / SECTOR + 1) * SECTOR;
            continue;
        }
        let Some(rec) = dir.get(at..at + rec_len) else {
            break;
        };
        at += rec_len;
        if rec_len < 34 {
            continue;
        }
        let extent = u32le(rec, 2).unwrap_or(0) as usize;
        let size = u32le(rec, 10).unwrap_or(0) as usize;
        let flags = rec[25];
        let id_len = rec[32] as usize;
        let Some(id) = rec.get(33..33 + id_len) else {
            continue;
        };
        if id == [0] || id == [1] {
            continue;
        }
        let name = if joliet {
            let units: Vec<u16> = id
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            String::from_utf8_lossy(id).into_owned()
        };
        let name = name.strip_suffix(";1").unwrap_or(&name).to_string();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if flags & 0x02 != 0 {
            iso_dir(data, extent, size, &path, joliet, depth + 1, visited, out)?;
        } else {
            let begin = extent.saturating_mul(SECTOR);
            out.push(ImageFile {
                path,
                extents: vec![(begin, begin.saturating_add(size))],
            });
        }
    }
    Ok(())
}

/// A UDF image: the anchor at sector 256, the volume descriptors, the file set, the directory
/// tree of file entries (short, long or embedded allocation).
pub fn udf_files(data: &[u8]) -> Result<Vec<ImageFile>, String> {
    let anchor = 256 * SECTOR;
    if u16le(data, anchor) != Some(2) {
        return Err("no UDF anchor at sector 256".into());
    }
    let vds_len = u32le(data, anchor + 16).ok_or("anchor truncated")? as usize;
    let vds_at = u32le(data, anchor + 20).ok_or("anchor truncated")? as usize;
    let mut partition_start = None;
    let mut block = SECTOR;
    let mut fsd = None;
    for i in 0..(vds_len / SECTOR).min(64) {
        let at = (vds_at + i) * SECTOR;
        match u16le(data, at) {
            Some(5) => partition_start = u32le(data, at + 188).map(|v| v as usize),
            Some(6) => {
                block = u32le(data, at + 212).map(|v| v as usize).unwrap_or(SECTOR);
                fsd = u32le(data, at + 252).map(|v| v as usize);
            }
            Some(8) | None => break,
            _ => {}
        }
    }
    if block != SECTOR {
        return Err(format!("UDF block size {block} not supported"));
    }
    let part = partition_start.ok_or("no UDF partition descriptor")?;
    let fsd = fsd.ok_or("no UDF logical volume descriptor")?;
    let fsd_at = (part + fsd) * SECTOR;
    if u16le(data, fsd_at) != Some(256) {
        return Err("no UDF file set descriptor".into());
    }
    let root = u32le(data, fsd_at + 404).ok_or("file set truncated")? as usize;
    let mut out = Vec::new();
    let mut visited = Vec::new();
    udf_dir(data, part, root, "", 0, &mut visited, &mut out)?;
    Ok(out)
}

/// A file entry's type and data extents (absolute byte ranges).
fn udf_entry(data: &[u8], part: usize, lbn: usize) -> Option<(u8, Vec<(usize, usize)>)> {
    let at = (part + lbn).checked_mul(SECTOR)?;
    let tag = u16le(data, at)?;
    let file_type = *data.get(at + 16 + 11)?;
    let alloc = u16le(data, at + 16 + 18)? & 7;
    let (length, l_ea, l_ad, base) = match tag {
        261 => (
            u64le(data, at + 56)?,
            u32le(data, at + 168)?,
            u32le(data, at + 172)?,
            176,
        ),
        266 => (
            u64le(data, at + 56)?,
            u32le(data, at + 208)?,
            u32le(data, at + 212)?,
            216,
        ),
        _ => return None,
    };
    let ad_at = at + base + l_ea as usize;
    let ads = data.get(ad_at..ad_at + l_ad as usize)?;
    let mut extents = Vec::new();
    let mut left = length as usize;
    match alloc {
        3 => extents.push((ad_at, ad_at + (length as usize).min(ads.len()))),
        0 | 1 => {
            let step = if alloc == 0 { 8 } else { 16 };
            for ad in ads.chunks_exact(step) {
                let len = (u32::from_le_bytes(ad[0..4].try_into().ok()?) & 0x3fff_ffff) as usize;
                let pos = u32::from_le_bytes(ad[4..8].try_into().ok()?) as usize;
                if len == 0 || left == 0 {
                    break;
                }
                let take = len.min(left);
                let begin = (part + pos).checked_mul(SECTOR)?;
                extents.push((begin, begin.checked_add(take)?));
                left -= take;
            }
        }
        _ => return None,
    }
    Some((file_type, extents))
}

fn udf_dir(
    data: &[u8],
    part: usize,
    lbn: usize,
    prefix: &str,
    depth: usize,
    visited: &mut Vec<usize>,
    out: &mut Vec<ImageFile>,
) -> Result<(), String> {
    if depth > MAX_DIR_DEPTH || visited.contains(&lbn) || out.len() >= MAX_ENTRIES {
        return Ok(());
    }
    visited.push(lbn);
    let (_, extents) = udf_entry(data, part, lbn)
        .ok_or_else(|| format!("unreadable UDF directory entry at block {lbn}"))?;
    let mut dir = Vec::new();
    for (b, e) in extents {
        dir.extend_from_slice(data.get(b..e.min(data.len())).unwrap_or_default());
    }
    let mut at = 0;
    while at + 38 <= dir.len() && out.len() < MAX_ENTRIES {
        if u16le(&dir, at) != Some(257) {
            break;
        }
        let characteristics = dir[at + 18];
        let l_fi = dir[at + 19] as usize;
        let icb = u32le(&dir, at + 24).unwrap_or(0) as usize;
        let l_iu = u16le(&dir, at + 36).unwrap_or(0) as usize;
        let id_at = at + 38 + l_iu;
        let id = dir.get(id_at..id_at + l_fi).unwrap_or_default();
        at = (id_at + l_fi + 3) & !3;
        if characteristics & 0x08 != 0 || id.is_empty() {
            continue; // the parent entry
        }
        let name = match id[0] {
            16 => {
                let units: Vec<u16> = id[1..]
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            }
            _ => String::from_utf8_lossy(&id[1..]).into_owned(),
        };
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if characteristics & 0x02 != 0 {
            udf_dir(data, part, icb, &path, depth + 1, visited, out)?;
        } else if let Some((_, extents)) = udf_entry(data, part, icb) {
            out.push(ImageFile { path, extents });
        }
    }
    Ok(())
}

/// Files found by their magic at sector boundaries: the fallback for file systems not read
/// here (FAT images) and damaged images. A carved object runs to the next one found (or
/// 8 MiB), so its hash is not the original file's; its content is analysed all the same.
pub fn carve(data: &[u8], align: usize) -> Vec<ImageFile> {
    const MAGICS: &[&[u8]] = &[
        b"MZ",
        b"L\0\0\0\x01\x14\x02\0",
        b"PK\x03\x04",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"%PDF-",
        b"\x7fELF",
        b"{\\rt",
    ];
    let mut starts = Vec::new();
    let mut at = align;
    while at < data.len() && starts.len() < 1000 {
        let here = &data[at..];
        if MAGICS.iter().any(|m| here.starts_with(m))
            && (!here.starts_with(b"MZ")
                || mailmoat_mime::sniff(here).is_some_and(|t| t.contains("portable")))
        {
            starts.push(at);
        }
        at += align;
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let end = starts
                .get(i + 1)
                .copied()
                .unwrap_or(data.len())
                .min(s + (8 << 20));
            ImageFile {
                path: format!("carved@{s:#x}"),
                extents: vec![(s, end)],
            }
        })
        .collect()
}

pub fn is_fat(data: &[u8]) -> bool {
    data.get(510..512) == Some(&[0x55, 0xaa])
        && (data.get(0x36..0x3b) == Some(b"FAT12")
            || data.get(0x36..0x3b) == Some(b"FAT16")
            || data.get(0x52..0x57) == Some(b"FAT32"))
}

impl Walk<'_> {
    pub(crate) fn iso(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        // A UDF bridge image carries both; the ISO 9660 (Joliet) tree lists the same files.
        match iso_files(data) {
            Ok(files) => self.image_files(location, data, files, depth),
            Err(why) => match udf_files(data) {
                Ok(files) => self.image_files(location, data, files, depth),
                Err(_) => self.carved(location, name, data, depth, SECTOR, &why),
            },
        }
    }

    pub(crate) fn udf(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        match udf_files(data) {
            Ok(files) => self.image_files(location, data, files, depth),
            Err(why) => self.carved(location, name, data, depth, SECTOR, &why),
        }
    }

    pub(crate) fn fat(&mut self, location: &Location, name: &str, data: &[u8], depth: usize) {
        // FAT is not read here: its files are carved (FAT clusters are 512-byte aligned).
        let _ = name;
        let files = carve(data, 512);
        self.image_files(location, data, files, depth);
    }

    fn carved(
        &mut self,
        location: &Location,
        name: &str,
        data: &[u8],
        depth: usize,
        align: usize,
        why: &str,
    ) {
        self.add(
            "ARCHIVE_DAMAGED",
            format!("{name}: {why}; files were carved from it by their signatures"),
            location,
        );
        let files = carve(data, align);
        self.image_files(location, data, files, depth);
    }

    fn image_files(
        &mut self,
        location: &Location,
        data: &[u8],
        files: Vec<ImageFile>,
        depth: usize,
    ) {
        for file in files {
            if !self.next_member(location) {
                return;
            }
            let size: usize = file.extents.iter().map(|(b, e)| e.saturating_sub(*b)).sum();
            if size as u64 > self.config.max_object_bytes {
                self.add(
                    "ANALYZER_LIMIT",
                    format!(
                        "{} is larger than {} MiB; not analysed",
                        file.path,
                        self.config.max_object_bytes >> 20
                    ),
                    &location.child(file.path.clone()),
                );
                continue;
            }
            let mut bytes = Vec::with_capacity(size);
            for (b, e) in &file.extents {
                if let Some(part) = data.get(*b..(*e).min(data.len())) {
                    bytes.extend_from_slice(part);
                }
            }
            self.count_unpacked(bytes.len() as u64);
            self.member(location, &file.path, &bytes, depth);
        }
    }
}

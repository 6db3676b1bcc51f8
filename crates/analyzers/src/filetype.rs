//! What an object is, from its bytes (and, for scripts, which have no magic, from its name).

/// The object kinds the walk treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pe,
    /// MZ without a PE header (a DOS program, or a truncated/damaged PE).
    DosExe,
    Elf,
    MachO,
    Lnk,
    Msi,
    Chm,
    /// Other OLE compound files: Word/Excel/PowerPoint 97–2003, HWP, encrypted OOXML.
    Ole,
    Rtf,
    Pdf,
    /// Office Open XML (.docx/.xlsx/.pptx and macro-enabled kinds).
    Ooxml,
    Hwpx,
    Html,
    Zip,
    Gzip,
    Bzip2,
    Xz,
    Tar,
    SevenZ,
    Rar,
    Cab,
    /// ISO 9660 (possibly with Joliet and a UDF bridge).
    Iso,
    /// UDF without an ISO 9660 directory (or a disk image we only carve).
    Udf,
    /// A raw FAT disk image (.img).
    FatImage,
    Script(Lang),
    Other,
}

/// Script languages Windows runs on a double click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    JavaScript,
    VbScript,
    PowerShell,
    Batch,
    Hta,
    Wsf,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::JavaScript => "JScript",
            Lang::VbScript => "VBScript",
            Lang::PowerShell => "PowerShell",
            Lang::Batch => "batch",
            Lang::Hta => "HTA",
            Lang::Wsf => "WSF",
        }
    }

    pub fn from_name(name: &str) -> Option<Lang> {
        let ext = name.rsplit_once('.')?.1.trim().to_ascii_lowercase();
        Some(match ext.as_str() {
            "js" | "jse" => Lang::JavaScript,
            "vbs" | "vbe" => Lang::VbScript,
            "ps1" | "psm1" | "psd1" => Lang::PowerShell,
            "bat" | "cmd" => Lang::Batch,
            "hta" => Lang::Hta,
            "wsf" | "wsh" | "sct" => Lang::Wsf,
            _ => return None,
        })
    }
}

impl Kind {
    /// Something that runs when opened: what a disguise or an archive must not carry.
    pub fn is_program(self) -> bool {
        matches!(
            self,
            Kind::Pe | Kind::DosExe | Kind::Elf | Kind::MachO | Kind::Lnk | Kind::Msi
        )
    }

    pub fn is_container(self) -> bool {
        matches!(
            self,
            Kind::Zip
                | Kind::Gzip
                | Kind::Bzip2
                | Kind::Xz
                | Kind::Tar
                | Kind::SevenZ
                | Kind::Rar
                | Kind::Cab
                | Kind::Iso
                | Kind::Udf
                | Kind::FatImage
        )
    }

    /// For evidence: "a program", "a zip archive"…
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Pe => "a Windows program (PE)",
            Kind::DosExe => "a DOS/Windows executable",
            Kind::Elf => "a Linux program (ELF)",
            Kind::MachO => "a macOS program (Mach-O)",
            Kind::Lnk => "a Windows shortcut (LNK)",
            Kind::Msi => "a Windows installer (MSI)",
            Kind::Chm => "a compiled HTML help file (CHM)",
            Kind::Ole => "an OLE compound document",
            Kind::Rtf => "an RTF document",
            Kind::Pdf => "a PDF document",
            Kind::Ooxml => "an Office Open XML document",
            Kind::Hwpx => "an HWPX document",
            Kind::Html => "an HTML page",
            Kind::Zip => "a zip archive",
            Kind::Gzip => "a gzip archive",
            Kind::Bzip2 => "a bzip2 archive",
            Kind::Xz => "an xz archive",
            Kind::Tar => "a tar archive",
            Kind::SevenZ => "a 7z archive",
            Kind::Rar => "a RAR archive",
            Kind::Cab => "a cabinet (CAB) archive",
            Kind::Iso => "an ISO 9660 disk image",
            Kind::Udf => "a UDF disk image",
            Kind::FatImage => "a FAT disk image",
            Kind::Script(_) => "a script",
            Kind::Other => "a file",
        }
    }
}

const MSI_CLSID: [u8; 16] = [
    0x84, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

/// The root entry's CLSID of an OLE compound file, read from the raw header (cheap: no full
/// parse just to type a file).
fn ole_root_clsid(data: &[u8]) -> Option<&[u8]> {
    let shift = u16::from_le_bytes([*data.get(0x1e)?, *data.get(0x1f)?]);
    if !(9..=12).contains(&shift) {
        return None;
    }
    let sector = 1usize << shift;
    let first_dir = u32::from_le_bytes(data.get(0x30..0x34)?.try_into().ok()?) as usize;
    let root = (first_dir + 1).checked_mul(sector)?;
    data.get(root + 0x50..root + 0x60)
}

fn is_udf(data: &[u8]) -> bool {
    // The volume recognition sequence: BEA01 … NSR02/NSR03 … TEA01 from sector 16 (2048 bytes).
    (0..8).any(|i| {
        let at = 0x8001 + i * 2048;
        matches!(data.get(at..at + 5), Some(b"NSR02") | Some(b"NSR03"))
    })
}

pub fn kind(name: &str, data: &[u8]) -> Kind {
    let starts = |magic: &[u8]| data.starts_with(magic);
    if starts(b"MZ") {
        return match mailmoat_mime::sniff(data) {
            Some("application/vnd.microsoft.portable-executable") => Kind::Pe,
            _ => Kind::DosExe,
        };
    }
    if starts(b"\x7fELF") {
        return Kind::Elf;
    }
    if starts(b"\xcf\xfa\xed\xfe") || starts(b"\xce\xfa\xed\xfe") || starts(b"\xfe\xed\xfa\xce") {
        return Kind::MachO;
    }
    // 0xCAFEBABE is both a universal Mach-O and a Java class; a class has a major version ≥ 45.
    if starts(b"\xca\xfe\xba\xbe") {
        let arches = data
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        return if arches.is_some_and(|n| n > 0 && n < 30) {
            Kind::MachO
        } else {
            Kind::Other
        };
    }
    if starts(b"L\0\0\0\x01\x14\x02\0") {
        return Kind::Lnk;
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        // Zip-based documents announce themselves by their first parts' names.
        let head = &data[..data.len().min(4096)];
        if memchr::memmem::find(head, b"mimetypeapplication/hwp+zip").is_some() {
            return Kind::Hwpx;
        }
        if memchr::memmem::find(data, b"[Content_Types].xml").is_some()
            && (memchr::memmem::find(data, b"word/").is_some()
                || memchr::memmem::find(data, b"xl/").is_some()
                || memchr::memmem::find(data, b"ppt/").is_some())
        {
            return Kind::Ooxml;
        }
        return Kind::Zip;
    }
    if starts(b"\x1f\x8b") {
        return Kind::Gzip;
    }
    if starts(b"BZh") && data.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return Kind::Bzip2;
    }
    if starts(b"\xfd7zXZ\x00") {
        return Kind::Xz;
    }
    if starts(b"7z\xbc\xaf\x27\x1c") {
        return Kind::SevenZ;
    }
    if starts(b"Rar!\x1a\x07") {
        return Kind::Rar;
    }
    if starts(b"MSCF\0\0\0\0") {
        return Kind::Cab;
    }
    if starts(b"ITSF") {
        return Kind::Chm;
    }
    if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return if ole_root_clsid(data) == Some(&MSI_CLSID) {
            Kind::Msi
        } else {
            Kind::Ole
        };
    }
    if starts(b"{\\rt") {
        return Kind::Rtf;
    }
    // Readers accept a PDF header anywhere in the first kilobyte.
    if memchr::memmem::find(&data[..data.len().min(1024)], b"%PDF-").is_some() {
        return Kind::Pdf;
    }
    if data.get(257..262) == Some(b"ustar") {
        return Kind::Tar;
    }
    if data.get(0x8001..0x8006) == Some(b"CD001") {
        return Kind::Iso;
    }
    if is_udf(data) {
        return Kind::Udf;
    }
    if crate::disk::is_fat(data) {
        return Kind::FatImage;
    }
    if let Some(lang) = Lang::from_name(name) {
        return Kind::Script(lang);
    }
    let lower = name.to_ascii_lowercase();
    let head: Vec<u8> = data
        .iter()
        .skip_while(|b| b.is_ascii_whitespace() || **b == 0xef || **b == 0xbb || **b == 0xbf)
        .take(256)
        .map(u8::to_ascii_lowercase)
        .collect();
    if lower.ends_with(".htm")
        || lower.ends_with(".html")
        || lower.ends_with(".xhtml")
        || lower.ends_with(".shtml")
        || head.starts_with(b"<!doctype html")
        || head.starts_with(b"<html")
    {
        return Kind::Html;
    }
    Kind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_typed_by_name_programs_by_bytes() {
        assert_eq!(kind("a.js", b"var x;"), Kind::Script(Lang::JavaScript));
        assert_eq!(kind("a.txt", b"var x;"), Kind::Other);
        assert_eq!(kind("a.txt", b"MZ\0\0"), Kind::DosExe);
        assert_eq!(kind("x", b"BZh91AY&SY"), Kind::Bzip2);
        assert_eq!(kind("x", b"BZhello"), Kind::Other);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(kind("x", &tar), Kind::Tar);
        // A Java class file shares Mach-O's universal magic.
        assert_eq!(kind("A.class", b"\xca\xfe\xba\xbe\0\0\0\x34"), Kind::Other);
        assert_eq!(kind("a", b"\xca\xfe\xba\xbe\0\0\0\x02"), Kind::MachO);
    }
}

//! What a file really is, from its first bytes. A hint for rules and reports; the stage-2
//! analysers parse structure properly.

/// The MIME type the content looks like, if recognised.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| data.starts_with(magic);
    if starts(b"MZ") {
        let pe = data
            .get(0x3c..0x40)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .and_then(|off| data.get(off..off + 4))
            .is_some_and(|sig| sig == b"PE\0\0");
        return Some(if pe {
            "application/vnd.microsoft.portable-executable"
        } else {
            "application/x-dosexec"
        });
    }
    let found = if starts(b"\x7fELF") {
        "application/x-elf"
    } else if starts(b"\xcf\xfa\xed\xfe")
        || starts(b"\xce\xfa\xed\xfe")
        || starts(b"\xca\xfe\xba\xbe")
    {
        "application/x-mach-binary"
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        "application/zip"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        "application/x-ole-storage"
    } else if starts(b"Rar!\x1a\x07") {
        "application/vnd.rar"
    } else if starts(b"7z\xbc\xaf\x27\x1c") {
        "application/x-7z-compressed"
    } else if starts(b"\x1f\x8b") {
        "application/gzip"
    } else if starts(b"BZh") {
        "application/x-bzip2"
    } else if starts(b"\xfd7zXZ\x00") {
        "application/x-xz"
    } else if starts(b"MSCF\0\0\0\0") {
        "application/vnd.ms-cab-compressed"
    } else if starts(b"L\0\0\0\x01\x14\x02\0") {
        "application/x-ms-shortcut"
    } else if starts(b"{\\rt") {
        "application/rtf"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if data.get(0x8001..0x8006) == Some(b"CD001") {
        "application/x-iso9660-image"
    } else {
        let head: Vec<u8> = data
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take(64)
            .map(u8::to_ascii_lowercase)
            .collect();
        if head.starts_with(b"<!doctype html") || head.starts_with(b"<html") {
            "text/html"
        } else if head.starts_with(b"<svg")
            || (head.starts_with(b"<?xml") && data.windows(4).take(512).any(|w| w == b"<svg"))
        {
            "image/svg+xml"
        } else {
            return None;
        }
    };
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_magic() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(
            sniff(&pe),
            Some("application/vnd.microsoft.portable-executable")
        );
        assert_eq!(sniff(b"MZ"), Some("application/x-dosexec"));
        assert_eq!(sniff(b"PK\x03\x04rest"), Some("application/zip"));
        assert_eq!(sniff(b"  <!DOCTYPE html><html>"), Some("text/html"));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }
}

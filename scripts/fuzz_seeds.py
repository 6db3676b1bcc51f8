#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (scripts/fuzz.sh), made from what the repository holds.

Messages: samples/*.eml, the raw messages of every detector and analyser case, and up to 300
messages of each SpamAssassin folder when the corpus was fetched. Attachments: every attachment
of the analyser cases, filed under the reader that opens it. Rule files: rules/*.toml. SMTP: a
few hand-written sessions. Nothing here is committed; the folder is rebuilt each run.
"""

import email
import io
import email.policy
import pathlib
import shutil
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Attachment file-name endings, longest first, and the target whose reader opens them.
BY_ENDING = [
    (".tar.gz", "attach_tar_gz"), (".tgz", "attach_tar_gz"), (".gz", "attach_tar_gz"),
    (".tar", "attach_tar_gz"), (".bz2", "attach_tar_gz"), (".xz", "attach_tar_gz"),
    (".zip", "attach_zip"), (".7z", "attach_7z"), (".rar", "attach_rar"), (".cab", "attach_cab"),
    (".iso", "attach_disk_image"), (".img", "attach_disk_image"), (".udf", "attach_disk_image"),
    (".exe", "attach_pe"), (".dll", "attach_pe"), (".scr", "attach_pe"), (".lnk", "attach_lnk"),
    (".msi", "attach_msi"), (".chm", "attach_chm"), (".doc", "attach_ole"), (".xls", "attach_ole"),
    (".docx", "attach_ooxml"), (".docm", "attach_ooxml"), (".xlsm", "attach_ooxml"),
    (".xlsx", "attach_ooxml"), (".rtf", "attach_rtf"), (".pdf", "attach_pdf"),
    (".hwp", "attach_hwp"), (".hwpx", "attach_hwp"), (".html", "attach_html"),
    (".htm", "attach_html"), (".js", "attach_script"), (".vbs", "attach_script"),
    (".ps1", "attach_script"), (".bat", "attach_script"), (".hta", "attach_script"),
    (".wsf", "attach_script"), (".jpg", "attach_pe"),
]

# Magic numbers decide when the name does not.
BY_MAGIC = [
    (b"PK\x03\x04", "attach_zip"), (b"7z\xbc\xaf\x27\x1c", "attach_7z"), (b"Rar!", "attach_rar"),
    (b"MSCF", "attach_cab"), (b"\x1f\x8b", "attach_tar_gz"), (b"MZ", "attach_pe"),
    (b"L\x00\x00\x00\x01\x14\x02", "attach_lnk"), (b"ITSF", "attach_chm"),
    (b"\xd0\xcf\x11\xe0", "attach_ole"), (b"{\\rtf", "attach_rtf"), (b"%PDF", "attach_pdf"),
]

SMTP_SESSIONS = [
    b"EHLO client.example\r\nMAIL FROM:<a@sender.example> SIZE=1000 BODY=8BITMIME\r\n"
    b"RCPT TO:<bob@example.com>\r\nRCPT TO:<\"sp ace\"@example.com>\r\nDATA\r\nQUIT\r\n",
    b"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nRSET\r\nNOOP\r\nVRFY bob\r\nHELP\r\n",
    b"EHLO [192.0.2.1]\r\nSTARTTLS\r\nMAIL FROM:<\"x> NOTIFY=SUCCESS\"@a.example> RET=FULL ENVID=QQ\r\n",
    b"ehlo x\r\nmail from:<a@b> smtputf8\r\nrcpt to:<\xea\xb9\x80@\xec\x98\x88\xec\x8b\x9c.kr> NOTIFY=NEVER\r\nBDAT 10 LAST\r\n",
    b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nEXPN list\r\nETRN x\r\n" + b"A" * 2000 + b"\r\n",
]

DATA_STREAMS = [
    b"\x07Subject: x\r\n\r\nbody\r\n..stuffed\r\n.\r\nQUIT\r\n",
    b"\x01line\n.\r\nMAIL FROM:<smuggled@x>\r\n\r\n.\r\n",
    b"\x03a\r.\r\nb\r\n.\r\n",
    b"\x3f" + b"x" * 5000 + b"\r\n.\r\n",
]


def message_of_case(path):
    raw = path.read_bytes()
    cut = raw.find(b"\n\n")
    return raw[cut + 2:] if cut >= 0 else raw


def target_of(name, data):
    lower = (name or "").lower()
    for ending, target in BY_ENDING:
        if lower.endswith(ending):
            if target == "attach_ole" and lower.endswith((".msi",)):
                return "attach_msi"
            return target
    for magic, target in BY_MAGIC:
        if data.startswith(magic):
            return target
    if len(data) > 0x8005 and data[0x8001:0x8006] == b"CD001":
        return "attach_disk_image"
    return None


def put(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def main():
    out = pathlib.Path(sys.argv[1])
    shutil.rmtree(out, ignore_errors=True)
    messages = []
    messages += sorted((ROOT / "samples").glob("*.eml"))
    cases = sorted(ROOT.glob("crates/*/src/**/cases/*.case")) + sorted(ROOT.glob("crates/*/cases/*.case"))
    corpus = ROOT / "corpora/spamassassin/package/data"
    spamassassin = []
    if corpus.is_dir():
        for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
            spamassassin += sorted(p for p in folder.iterdir() if p.is_file())[:300]
    n = 0
    for path in messages + cases + spamassassin:
        data = message_of_case(path) if path.suffix == ".case" else path.read_bytes()
        for target in ("message_view", "scan", "sa_rules"):
            put(out / target, f"m{n:05}", data)
        n += 1
        if path.suffix != ".case":
            continue
        parsed = email.message_from_bytes(data, policy=email.policy.compat32)
        for i, part in enumerate(parsed.walk()):
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True)
            if not payload:
                continue
            target = target_of(part.get_filename(), payload)
            if target:
                put(out / target, f"{path.stem}-{i}", payload)
            # Members of (unencrypted) zips seed their own readers too: shortcuts, scripts…
            if target == "attach_zip":
                try:
                    with zipfile.ZipFile(io.BytesIO(payload)) as z:
                        for j, info in enumerate(z.infolist()[:50]):
                            member = z.read(info)
                            inner = target_of(info.filename, member)
                            if inner and member:
                                put(out / inner, f"{path.stem}-{i}-{j}", member)
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError):
                    pass
    # Shortcuts arrive inside disk images in the cases: the cases' own generator makes some.
    sys.path.insert(0, str(ROOT / "crates/analyzers/cases"))
    try:
        import samples as crafted

        shortcuts = [
            crafted.lnk(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                        "-w hidden -enc SQBFAFgA", icon=r"C:\Windows\System32\imageres.dll"),
            crafted.lnk(r"C:\Windows\System32\cmd.exe", "/c start invoice.pdf", show=1),
        ]
        for i, shortcut in enumerate(shortcuts):
            put(out / "attach_lnk", f"lnk{i}", shortcut)
    except Exception as e:  # the seeds are a help, not a requirement
        print(f"no shortcut seeds: {e}", file=sys.stderr)
    for i, rules in enumerate(sorted(ROOT.glob("rules/*.toml")) + sorted(ROOT.glob("crates/rules/**/*.toml"))):
        put(out / "rules_loader", f"r{i:03}", rules.read_bytes())
    for i, session in enumerate(SMTP_SESSIONS):
        put(out / "smtp_commands", f"s{i}", session)
    for i, stream in enumerate(DATA_STREAMS):
        put(out / "smtp_data", f"d{i}", stream)
    # spamc's requests, as Debian's spamc sends them.
    hello = (ROOT / "samples/01-hello.eml").read_bytes()
    for i, (command, extra) in enumerate([
        ("CHECK", b""), ("SYMBOLS", b""), ("REPORT", b""), ("REPORT_IFSPAM", b""),
        ("PROCESS", b""), ("HEADERS", b""), ("TELL", b"Message-class: spam\r\nSet: local\r\n"),
    ]):
        request = (f"{command} SPAMC/1.5\r\n".encode() + extra + b"User: bob@example.com\r\n"
                   + f"Content-length: {len(hello)}\r\n\r\n".encode() + hello)
        put(out / "spamd_request", f"q{i}", request)
    put(out / "spamd_request", "ping", b"PING SPAMC/1.5\r\n")
    # rspamc's request headers (the names mailmoat reads, and the password forms).
    put(out / "rspamd_request", "rspamc", b"IP: 192.0.2.7\nHelo: mail.example.net\nFrom: <a@example.net>\n"
        b"Rcpt: <b@example.com>\nRcpt: c@example.com\nDeliver-To: b@example.com\nQueue-Id: 4B1C2\n"
        b"Password: secret\n")
    put(out / "rspamd_request", "bearer", b"IP: 2001:db8::7\nAuthorization: Bearer secret\nRcpt: <>\n")
    # A milter session as Postfix sends it: length-prefixed frames, one command letter each.
    def frame(command, payload=b""):
        return len(payload + command).to_bytes(4, "big") + command + payload
    session = b"".join([
        frame(b"O", (6).to_bytes(4, "big") + (0x1FF).to_bytes(4, "big") + (0x1FFFFF).to_bytes(4, "big")),
        frame(b"D", b"Cj\0mx.example.com\0{daemon_name}\0smtpd\0"),
        frame(b"C", b"mail.example.net\x004" + (25).to_bytes(2, "big") + b"192.0.2.7\0"),
        frame(b"H", b"mail.example.net\0"),
        frame(b"M", b"<a@example.net>\0SIZE=120\0"),
        frame(b"R", b"<b@example.com>\0"),
        frame(b"L", b"Subject\0hello\0"),
        frame(b"L", b"From\0a@example.net\0"),
        frame(b"N"),
        frame(b"B", b"Hello, this is the body.\r\n"),
        frame(b"E"),
        frame(b"A"),
        frame(b"Q"),
    ])
    put(out / "milter_frames", "postfix-session", session)
    counts = {p.name: len(list(p.iterdir())) for p in sorted(out.iterdir())}
    print("seeds: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()

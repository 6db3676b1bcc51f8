#!/usr/bin/env python3
"""Extracts the crafted, inert samples of the attachment and document cases
(crates/analyzers/cases/*.case) into corpora/variant-seeds/, one file per distinct object
(attachments, and the members of zip attachments), for `mailmoat intel eval --seeds`.
Objects under 512 bytes (too small to tell families apart) or over 4 MiB (a bomb's zeros) are
left out."""
import base64, email, glob, hashlib, io, os, pathlib, zipfile
from email import policy

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "corpora" / "variant-seeds"
out.mkdir(parents=True, exist_ok=True)
seen = set()


def keep(name, data):
    if len(data) < 512 or len(data) > 4 << 20:
        return
    digest = hashlib.sha256(data).hexdigest()
    if digest in seen:
        return
    seen.add(digest)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[-60:]
    (out / f"{digest[:8]}-{safe}").write_bytes(data)


for case in sorted(glob.glob(str(root / "crates/analyzers/cases/*.case"))):
    raw = open(case, encoding="utf-8").read().split("\n\n", 1)[1]
    msg = email.message_from_string(raw, policy=policy.default)
    for part in msg.walk():
        if part.get_content_disposition() != "attachment":
            continue
        data = part.get_payload(decode=True) or b""
        name = part.get_filename() or "attachment"
        if data.startswith(b"PK\x03\x04") and not name.endswith((".docx", ".docm", ".xlsm", ".hwpx")):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    for member in z.namelist():
                        try:
                            keep(member.rsplit("/", 1)[-1], z.read(member))
                        except Exception:
                            pass
                continue
            except zipfile.BadZipFile:
                pass
        keep(name, data)
print(f"{len(seen)} seeds in {out}")

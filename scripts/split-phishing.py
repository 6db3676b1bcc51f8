#!/usr/bin/env python3
"""Held-out split of the Nazario phishing corpus (../shared/corpora/nazario-phishing).

The three mbox files repeat messages (20051114.mbox repeats 314 of phishing1.mbox), so messages
are deduplicated by content before splitting; then, sorted by content hash, every 5th is TEST.
Writes corpora/phish-split/{train,test}/NNNNN.eml. The corpus is for research use and is never
copied into the repository.
"""
import hashlib, mailbox, os, sys

src = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpora", "nazario-phishing")
if not os.path.isdir(src):
    print(f"SKIP: {src} not found", file=sys.stderr)
    sys.exit(0)
dest = os.path.join(os.path.dirname(__file__), "..", "corpora", "phish-split")
unique = {}
for name in sorted(os.listdir(src)):
    if not name.endswith(".mbox"):
        continue
    for msg in mailbox.mbox(os.path.join(src, name)):
        raw = msg.as_bytes()
        body = raw.split(b"\n\n", 1)[-1]
        key = hashlib.sha256((msg.get("Message-ID", "") + "\0").encode("latin-1", "replace") + body).hexdigest()
        unique.setdefault(key, raw)
for part in ("train", "test"):
    os.makedirs(os.path.join(dest, part), exist_ok=True)
    for f in os.listdir(os.path.join(dest, part)):
        os.remove(os.path.join(dest, part, f))
counts = {"train": 0, "test": 0}
for i, key in enumerate(sorted(unique)):
    part = "test" if i % 5 == 0 else "train"
    with open(os.path.join(dest, part, f"{i:05d}.eml"), "wb") as f:
        f.write(unique[key])
    counts[part] += 1
print(f"{len(unique)} unique phishing messages: train {counts['train']}, test {counts['test']}")

#!/usr/bin/env python3
"""Writes a disguised copy of a folder of messages, for measuring how much the classifier's
text folding (crates/classifier/src/features.rs, `fold`) keeps of its recall when spammers hide
words from token filters. Only visible text is changed (subject and text/* parts, outside HTML
tags and entities); every text part is re-encoded as UTF-8 base64.

  scripts/disguise-corpus.py zero-width|homoglyph|fullwidth IN_DIR OUT_DIR

zero-width: a zero-width space inside every word of 4+ letters; homoglyph: one Latin letter of
every such word replaced by its Cyrillic look-alike; fullwidth: every such word in full-width
forms. Deterministic (seeded by file name)."""
import email
import os
import random
import re
import sys
from email import policy

CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
            "x": "\u0445", "y": "\u0443", "i": "\u0456", "s": "\u0455"}
WORD = re.compile(r"[A-Za-z]{4,}")


def disguise_word(kind, word, rng):
    if kind == "zero-width":
        cut = rng.randrange(1, len(word))
        return word[:cut] + "\u200b" + word[cut:]
    if kind == "homoglyph":
        spots = [i for i, c in enumerate(word) if c in CYRILLIC]
        if not spots:
            return word
        i = rng.choice(spots)
        return word[:i] + CYRILLIC[word[i]] + word[i + 1:]
    return "".join(chr(ord(c) + 0xFEE0) for c in word)


def disguise_text(kind, text, rng, html):
    pieces = re.split(r"(<[^>]*>|&[#a-zA-Z0-9]+;)", text) if html else [text]
    out = []
    for i, piece in enumerate(pieces):
        if html and i % 2 == 1:
            out.append(piece)
        else:
            out.append(WORD.sub(lambda m: disguise_word(kind, m.group(0), rng), piece))
    return "".join(out)


def main():
    kind, src, dst = sys.argv[1:4]
    os.makedirs(dst, exist_ok=True)
    done = failed = 0
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if not os.path.isfile(path) or name.endswith((".json", ".js", ".md")):
            continue
        rng = random.Random(name)
        raw = open(path, "rb").read()
        try:
            msg = email.message_from_bytes(raw, policy=policy.default)
            subject = msg.get("Subject")
            if subject:
                del msg["Subject"]
                msg["Subject"] = disguise_text(kind, str(subject), rng, False)
            for part in msg.walk():
                if part.is_multipart() or part.get_content_maintype() != "text":
                    continue
                text = part.get_content()
                subtype = part.get_content_subtype()
                new = disguise_text(kind, text, rng, subtype == "html")
                part.set_content(new, subtype=subtype, charset="utf-8", cte="base64")
            out = msg.as_bytes()
            done += 1
        except Exception:  # a message the library cannot rewrite is copied as it is
            out = raw
            failed += 1
        open(os.path.join(dst, name), "wb").write(out)
    print(f"{kind}: {done} disguised, {failed} copied unchanged -> {dst}")


if __name__ == "__main__":
    main()

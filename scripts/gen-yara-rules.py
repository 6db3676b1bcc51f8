#!/usr/bin/env python3
"""Writes N synthetic YARA rules, shaped like community rule sets, for benchmarks only.

    scripts/gen-yara-rules.py 1000 target/bench-engines/rules

A mix close to what signature-base and similar sets hold: text strings (ascii, wide, nocase),
hex strings with jumps and wildcards, a few regular expressions, conditions on magic numbers,
file size and "N of them". The strings are random (seeded, so the same rules every run) and
match nothing real: the point is the engine's cost, not detections. Written as 10 files.
"""
import pathlib
import random
import sys

n = int(sys.argv[1])
out = pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
rng = random.Random(26)
words = [
    "invoice", "payload", "loader", "update", "stage", "beacon", "config", "client",
    "session", "token", "inject", "shell", "decode", "encrypt", "service", "hidden",
]


def text():
    w = rng.choice(words) + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _ in range(rng.randint(6, 14)))
    mods = rng.choice(["", " ascii", " wide", " ascii wide", " nocase", " ascii wide nocase"])
    return f'"{w}"{mods}'


def hexstr():
    parts = []
    for _ in range(rng.randint(6, 14)):
        r = rng.random()
        if r < 0.08:
            parts.append("??")
        elif r < 0.12:
            parts.append(f"[{rng.randint(1, 4)}-{rng.randint(5, 12)}]")
        else:
            parts.append(f"{rng.randint(0, 255):02X}")
    # A hex string may not start or end with a jump or wildcard.
    parts[0] = f"{rng.randint(1, 255):02X}"
    parts[-1] = f"{rng.randint(1, 255):02X}"
    return "{ " + " ".join(parts) + " }"


def regex():
    w = rng.choice(words)
    return f"/{w}[0-9a-f]{{8,16}}\\.(exe|dll|ps1)/ nocase"


files = [[] for _ in range(10)]
for i in range(n):
    strings = []
    for j in range(rng.randint(2, 5)):
        kind = rng.random()
        value = text() if kind < 0.55 else hexstr() if kind < 0.92 else regex()
        strings.append(f"        $s{j} = {value}")
    k = len(strings)
    cond = rng.choice([
        "any of them",
        f"{max(1, k - 1)} of them",
        "uint16(0) == 0x5A4D and any of them",
        "filesize < 2MB and all of them",
        f"uint32(0) == 0x04034B50 and {max(1, k // 2)} of them",
    ])
    severity = rng.choice(["high", "medium", "low"])
    files[i % 10].append(
        f"rule Bench_{i:05d} : bench\n{{\n    meta:\n        severity = \"{severity}\"\n"
        f"        family = \"Bench{i % 37}\"\n    strings:\n" + "\n".join(strings) +
        f"\n    condition:\n        {cond}\n}}\n"
    )
for i, rules in enumerate(files):
    (out / f"bench-{i}.yar").write_text("\n".join(rules))
print(f"{n} rules in {out}")

#!/usr/bin/env python3
"""A TREC index (`spam|ham PATH` per line) of a labelled corpus in date order, for
`mailmoat replay`.

    scripts/replay-index.py corpora/spamassassin/package/data > target/sa-replay.index

Each folder under the given ones is a class by its name (a name containing "spam" is spam,
one containing "ham" is ham). A message's time is the date of its topmost Received line (the
receiving site's own clock), or failing that its Date header; messages with neither keep their place after the dated ones, in
path order. Paths are written absolute. .json and other non-message files are skipped.
"""

import email
import email.policy
import email.utils
import pathlib
import sys


def when(path):
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    msg = email.message_from_bytes(head.split(b"\n\n", 1)[0] + b"\n\n", policy=email.policy.compat32)
    # The topmost Received line was written by the receiving site itself: a truer arrival time
    # than the sender's Date header (spam often forges it).
    received = msg.get_all("Received") or []
    candidates = [str(received[0]).rsplit(";", 1)[-1]] if received else []
    candidates.append(msg.get("Date"))
    for value in candidates:
        if not value:
            continue
        try:
            parsed = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            continue
        if parsed is None:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=__import__("datetime").timezone.utc)
        return parsed.timestamp()
    return None


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = []
    for top in sys.argv[1:]:
        for folder in sorted(p for p in pathlib.Path(top).iterdir() if p.is_dir()):
            name = folder.name.lower()
            label = "spam" if "spam" in name else "ham" if "ham" in name else None
            if label is None:
                continue
            for path in sorted(folder.iterdir()):
                if not path.is_file() or path.suffix in (".json", ".js") or path.name == "cmds":
                    continue
                rows.append((when(path), str(path.resolve()), label))
    dated = sorted((r for r in rows if r[0] is not None), key=lambda r: (r[0], r[1]))
    undated = sorted((r for r in rows if r[0] is None), key=lambda r: r[1])
    for _, path, label in dated + undated:
        print(f"{label} {path}")
    print(f"{len(rows)} messages, {len(undated)} undated", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The per-target totals of target/fuzz/runs.tsv (one line per scripts/fuzz.sh run: target,
seconds, executions, crash files, date) as the Markdown table docs/fuzzing.md keeps, every
target of fuzz/Cargo.toml listed, run or not.

    python3 scripts/fuzz_table.py [target/fuzz/runs.tsv]
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
runs = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "target/fuzz/runs.tsv"
targets = [t for t in re.findall(r'^name = "(.*)"$', (root / "fuzz/Cargo.toml").read_text(), re.M)
           if t != "mailmoat-fuzz"]
totals = {t: [0, 0, 0, 0] for t in targets}  # seconds, executions, crashes, runs
if runs.exists():
    for line in runs.read_text().splitlines():
        target, seconds, executions, crashes, _date = line.split("\t")
        t = totals.setdefault(target, [0, 0, 0, 0])
        t[0] += int(seconds) if seconds.isdigit() else 0
        t[1] += int(executions)
        t[2] += int(crashes)
        t[3] += 1
print("| Target | Runs | Hours | Executions | Crash files |")
print("|---|---:|---:|---:|---:|")
for target in sorted(totals):
    seconds, executions, crashes, count = totals[target]
    print(f"| `{target}` | {count} | {seconds / 3600:.2f} | {executions:,} | {crashes} |")

#!/usr/bin/env python3
"""Compares rule hits of SpamAssassin (spamc -y) and mailmoat (sa-rules hits); see sa-fidelity.sh."""
import sys
from pathlib import Path

out = Path(sys.argv[1])
sa_seconds, mm_seconds = float(sys.argv[2]), float(sys.argv[3])
sa_cpu, mm_cpu, mm10_cpu = (float(a) for a in sys.argv[4:7]) if len(sys.argv) > 6 else (None, None, None)


def read(name):
    hits = {}
    for line in (out / name).read_text().splitlines():
        label, _, names = line.partition("\t")
        hits[label] = {n for n in names.split(",") if n}
    return hits


sa, mm = read("spamassassin.tsv"), read("mailmoat.tsv")
scores = {}
for line in (out / "supported.txt").read_text().splitlines():
    name, score = line.split()
    scores[name] = float(score)
messages = sorted(set(sa) & set(mm))
n = len(messages)
rules = sorted(scores)
differ = []
for rule in rules:
    sa_only = [m for m in messages if rule in sa[m] and rule not in mm[m]]
    mm_only = [m for m in messages if rule in mm[m] and rule not in sa[m]]
    hits = sum(1 for m in messages if rule in sa[m])
    agree = 1 - (len(sa_only) + len(mm_only)) / n
    if agree < 0.995:
        differ.append((agree, rule, hits, len(sa_only), len(mm_only), (sa_only + mm_only)[:2]))
within = 0
worst = []
for m in messages:
    s = sum(scores[r] for r in sa[m] if r in scores)
    t = sum(scores[r] for r in mm[m] if r in scores)
    if abs(s - t) <= 0.01:
        within += 1
    else:
        worst.append((abs(s - t), m, s, t))
rules_hit = [r for r in rules if any(r in sa[m] or r in mm[m] for m in messages)]
ok = len(rules) - len(differ)
print(f"messages: {n}; supported rules: {len(rules)} ({len(rules_hit)} hit at least once)")
print(f"rules agreeing on >= 99.5 % of messages: {ok} of {len(rules)} ({100 * ok / len(rules):.1f} %)")
print(f"messages whose supported-rule score matches within 0.01: {within} of {n} ({100 * within / n:.1f} %)")
print(f"time: SpamAssassin (spamd, 2 children, via spamc) {sa_seconds:.1f} s = {n / sa_seconds:.1f} msg/s; "
      f"mailmoat sa-rules hits {mm_seconds:.2f} s = {n / mm_seconds:.0f} msg/s (wall, includes loading)")
if sa_cpu and mm_cpu:
    print(f"CPU: SpamAssassin {sa_cpu:.1f} s = {n / sa_cpu:.1f} msg per CPU-second; mailmoat {mm_cpu:.2f} s "
          f"= {n / mm_cpu:.0f} msg per CPU-second, loading included ({sa_cpu / mm_cpu:.0f}x); the sample ten "
          f"times in one run: {mm10_cpu:.2f} s = {10 * n / mm10_cpu:.0f} msg per CPU-second "
          f"({10 * n / mm10_cpu / (n / sa_cpu):.0f}x SpamAssassin)")
print("\nrules that differ (agreement, rule, SpamAssassin hits, only SpamAssassin, only mailmoat, examples):")
for agree, rule, hits, a, b, ex in sorted(differ):
    print(f"  {100 * agree:5.1f} %  {rule:32} {hits:4} {a:4} {b:4}  {' '.join(ex)}")
print("\nlargest score differences (message, SpamAssassin, mailmoat):")
for d, m, s, t in sorted(worst, reverse=True)[:15]:
    print(f"  {m:60} {s:7.3f} {t:7.3f}")

#!/usr/bin/env python3
"""Generates a rule file of realistic administrator rules for load and speed benchmarks.

Administrators write rules from the campaigns they see: phrases copied from spam bodies and
subjects, sender domains, link hosts, mailer headers, attachment names. This script does the
same from the SpamAssassin corpus (scripts/fetch-spamassassin.sh), so the patterns' literals
occur in real mail at realistic rates. Deterministic for a given --seed.

    python3 scripts/gen-rules.py --count 10000 > target/rules-10k.toml
"""
import argparse, email, email.policy, glob, os, random, re, sys

ap = argparse.ArgumentParser()
ap.add_argument("--count", type=int, default=10000)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "corpora/spamassassin/package/data"))
args = ap.parse_args()
rng = random.Random(args.seed)

phrases, subjects, domains, hosts, mailers = set(), set(), set(), set(), set()
files = sorted(glob.glob(os.path.join(args.corpus, "spam-*", "*.txt")))
if not files:
    sys.exit(f"no corpus under {args.corpus}: run scripts/fetch-spamassassin.sh")
word = re.compile(r"[A-Za-z]{3,15}")
# Nobody writes a rule on "of the": a campaign phrase has at least one distinctive word.
COMMON = set("""the and for you your are with this that from have will not can all our more
any has was but free now get out one new may just who what when how his her they them their
there here been were which would could should about into than then only also some such other
over most make like time info mail email click please money order business company people
information report receive send list address name www http com net html""".split())
def distinctive(words):
    return any(len(w) >= 5 and w.lower() not in COMMON for w in words)
for path in files:
    raw = open(path, "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    subj = str(msg.get("Subject", ""))
    sw = word.findall(subj)
    if len(sw) >= 2:
        i = rng.randrange(len(sw) - 1)
        if distinctive(sw[i:i + 2]):
            subjects.add(" ".join(sw[i:i + 2]))
    frm = str(msg.get("From", ""))
    m = re.search(r"@([A-Za-z0-9.-]+\.[A-Za-z]{2,})", frm)
    if m:
        domains.add(m.group(1).lower())
    if msg.get("X-Mailer"):
        mw = word.findall(str(msg.get("X-Mailer")))
        if mw:
            mailers.add(mw[0])
    text = raw.decode("latin-1")
    for h in re.findall(r"https?://([A-Za-z0-9.-]+\.[A-Za-z]{2,})", text):
        hosts.add(h.lower())
    body = text.split("\n\n", 1)[-1]
    words = word.findall(re.sub(r"<[^>]*>", " ", body))
    for _ in range(6):
        if len(words) > 4:
            i = rng.randrange(len(words) - 3)
            chosen = words[i:i + rng.choice([2, 3])]
            if distinctive(chosen):
                phrases.add(" ".join(chosen))

phrases, subjects, domains, hosts, mailers = (sorted(x) for x in (phrases, subjects, domains, hosts, mailers))

def esc(s):
    return re.escape(s).replace("\\ ", r"\s+").replace("'", ".")

def cond():
    r = rng.random()
    if r < 0.40:
        return "{ body = '(?i)\\b%s\\b' }" % esc(rng.choice(phrases))
    if r < 0.60:
        return "{ subject = '(?i)%s' }" % esc(rng.choice(subjects))
    if r < 0.75:
        return "{ url_host = '(?i)(?:^|\\.)%s$' }" % re.escape(rng.choice(hosts))
    if r < 0.85:
        return "{ header = \"From\", domain = '^%s$' }" % re.escape(rng.choice(domains))
    if r < 0.95:
        return "{ header = \"X-Mailer\", matches = '(?i)%s' }" % esc(rng.choice(mailers))
    return "{ attachment_name = '(?i)^%s[_-]?\\d*\\.(?:zip|exe|scr|html?)$' }" % esc(rng.choice(phrases).split()[0])

print(f"# {args.count} generated rules (scripts/gen-rules.py --count {args.count} --seed {args.seed})")
for i in range(args.count):
    r = rng.random()
    if r < 0.6:
        when = cond()
    elif r < 0.85:
        when = "{ all = [ %s, %s ] }" % (cond(), cond())
    elif r < 0.95:
        when = "{ any = [ %s, %s ] }" % (cond(), cond())
    else:
        # a campaign phrase, except where a known-good marker appears
        when = "{ all = [ %s, { not = %s } ] }" % (cond(), cond())
    print(f'\n[[rule]]\nname = "GEN_{i:05d}"\ndescription = "generated campaign rule {i}"\ngroup = "generated"\nscore = {rng.choice([0.5, 1.0, 1.5, 2.0])}\nwhen = {when}')

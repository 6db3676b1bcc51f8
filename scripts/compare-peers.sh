#!/usr/bin/env bash
# Side-by-side: mailmoat against bogofilter, SpamAssassin (Bayes + local rules, no network tests)
# and rspamd (Bayes in a private Redis, network modules off), all from Debian packages, trained
# on the same TRAIN and scored on the same TEST of the SpamAssassin public corpus
# (scripts/split-spamassassin.sh). Every peer's score per TEST message lands in
# target/peers/<peer>.scores ("ham|spam <tab> score <tab> file"); one evaluator then reports, for
# each, recall at 0, 1, 4 and 9 ham false positives (of 830) and at its own default threshold.
#
#   scripts/compare-peers.sh            # installs the peers with apt-get when missing (needs root)
#   PEERS="mailmoat rspamd" scripts/compare-peers.sh   # rerun some; the others' scores are kept
#
# Takes about 10 minutes on 2 cores, most of it SpamAssassin.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/target/peers
mkdir -p "$out"

need=()
command -v bogofilter >/dev/null || need+=(bogofilter)
command -v sa-learn >/dev/null || need+=(spamassassin)
command -v rspamd >/dev/null || need+=(rspamd)
command -v redis-server >/dev/null || need+=(redis-server)
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
./scripts/split-spamassassin.sh
split=$root/corpora/sa-split
cargo build --release -p mailmoat
mm=$root/target/release/mailmoat

# Message lists in a fixed order, and the TEST set as mbox files for the peers that read mbox.
list() { find "$split/$1" -type l | sort; }
python3 - "$split" "$out" <<'PY'
import mailbox, os, sys
split, out = sys.argv[1], sys.argv[2]
for part in ("train", "test"):
    for cls in ("ham", "spam"):
        path = os.path.join(out, f"{part}-{cls}.mbox")
        if os.path.exists(path):
            os.remove(path)
        box = mailbox.mbox(path)
        for name in sorted(os.listdir(os.path.join(split, part, cls))):
            with open(os.path.join(split, part, cls, name), "rb") as f:
                box.add(mailbox.mboxMessage(f.read()))
        box.flush()
        box.close()
PY

peers=${PEERS:-mailmoat bogofilter spamassassin rspamd}
want() { [[ " $peers " == *" $1 "* ]]; }

if want mailmoat; then
echo "== mailmoat"
"$mm" train --ham "$split/train/ham" --spam "$split/train/spam" -o "$out/mailmoat.model"
printf '[classifier]\nmodel = "mailmoat.model"\n' > "$out/mailmoat.toml"
# The classifier alone (its probability), then the full verdict (its score; "flagged" when the
# configured policy does not deliver the message untouched).
"$mm" eval --model "$out/mailmoat.model" --ham "$split/test/ham" --spam "$split/test/spam" \
  --scores "$out/mailmoat.scores" | sed -n '2,6p'
"$mm" eval --pipeline --config "$out/mailmoat.toml" --ham "$split/test/ham" --spam "$split/test/spam" \
  --scores "$out/mailmoat-pipeline.scores" | sed -n '2,6p'
# The same with the classifier firing from probability 0.5, its natural boundary, instead of the
# conservative default 0.9 meant for the built-in model.
printf '[classifier]\nmodel = "mailmoat.model"\nspam_threshold = 0.5\n' > "$out/mailmoat-0.5.toml"
"$mm" eval --pipeline --config "$out/mailmoat-0.5.toml" --ham "$split/test/ham" --spam "$split/test/spam" \
  --scores "$out/mailmoat-pipeline-0.5.scores" | sed -n '2,6p'

fi

if want bogofilter; then
echo "== bogofilter $(bogofilter -V 2>&1 | head -1 | awk '{print $3}')"
rm -rf "$out/bogofilter.db" && mkdir -p "$out/bogofilter.db"
# bogofilter's exit status is its verdict (0 spam, 1 ham, 2 unsure), not success or failure.
set +e +o pipefail
list train/ham | xargs bogofilter -d "$out/bogofilter.db" -n -B
list train/spam | xargs bogofilter -d "$out/bogofilter.db" -s -B
for cls in ham spam; do
  list "test/$cls" | xargs bogofilter -d "$out/bogofilter.db" -T -B |
    awk -v c="$cls" '{print c "\t" $3 "\t" ($2 == "S" ? 1 : 0) "\t" $1}'
done > "$out/bogofilter.scores"
set -e -o pipefail
fi

if want spamassassin; then
echo "== SpamAssassin $(spamassassin -V | head -1 | awk '{print $3}') (local tests and Bayes)"
sa=$out/spamassassin && rm -rf "$sa" && mkdir -p "$sa"
printf 'bayes_path %s/bayes\nuse_bayes 1\nbayes_auto_learn 0\nskip_rbl_checks 1\nuse_razor2 0\nuse_pyzor 0\n' "$sa" > "$sa/user_prefs"
sa-learn -L -p "$sa/user_prefs" --dbpath "$sa" --ham --mbox "$out/train-ham.mbox"
sa-learn -L -p "$sa/user_prefs" --dbpath "$sa" --spam --mbox "$out/train-spam.mbox"
for cls in ham spam; do
  spamassassin -L -p "$sa/user_prefs" --mbox < "$out/test-$cls.mbox" > "$sa/test-$cls.out"
  python3 - "$sa/test-$cls.out" "$cls" "$split/test/$cls" <<'PY'
import mailbox, os, re, sys
path, cls, folder = sys.argv[1:4]
names = sorted(os.listdir(folder))
msgs = list(mailbox.mbox(path))
assert len(msgs) == len(names), (len(msgs), len(names))
for name, m in zip(names, msgs):
    status = m.get("X-Spam-Status", "")
    score = float(re.search(r"score=(-?[0-9.]+)", status).group(1))
    print(f"{cls}\t{score}\t{int(status.startswith('Yes'))}\t{name}")
PY
done > "$out/spamassassin.scores"
fi

if want rspamd; then
echo "== rspamd $(rspamd --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1) (Bayes in Redis, no network modules)"
rs=$out/rspamd && rm -rf "$rs" && mkdir -p "$rs/local/local.d" "$rs/db" "$rs/run" "$rs/log"
port=6391
redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$rs/run/redis.pid" --logfile "$rs/log/redis.log"
cleanup() {
  [[ -f $rs/run/rspamd.pid ]] && kill "$(cat "$rs/run/rspamd.pid")" 2>/dev/null || true
  [[ -f $rs/run/redis.pid ]] && kill "$(cat "$rs/run/redis.pid")" 2>/dev/null || true
}
trap cleanup EXIT
cat > "$rs/local/local.d/classifier-bayes.conf" <<CONF
backend = "redis";
servers = "127.0.0.1:$port";
autolearn = false;
CONF
echo "servers = \"127.0.0.1:$port\";" > "$rs/local/local.d/redis.conf"
# No network checks: an unreachable resolver, and the modules that query outside switched off.
. "$root/scripts/rspamd-offline.sh"
rspamd_offline_config "$rs/local"
rspamd -u root -g root -i -c /etc/rspamd/rspamd.conf \
  --var="LOCAL_CONFDIR=$rs/local" --var="DBDIR=$rs/db" --var="RUNDIR=$rs/run" --var="LOGDIR=$rs/log"
for _ in $(seq 100); do rspamc -h 127.0.0.1:11433 stat >/dev/null 2>&1 && break; sleep 0.2; done
list train/ham | xargs rspamc -h 127.0.0.1:11434 -n 2 learn_ham >/dev/null
list train/spam | xargs rspamc -h 127.0.0.1:11434 -n 2 learn_spam >/dev/null
cat > "$rs/parse.py" <<'PY'
import json, sys
# rspamc -j prints one JSON object per file; the fifth column names the Bayes symbol, if any.
cls, text = sys.argv[1], sys.stdin.read()
dec, i = json.JSONDecoder(), 0
while i < len(text):
    if text[i] != "{":
        i += 1
        continue
    r, i = dec.raw_decode(text, i)
    flagged = r.get("action", "no action") not in ("no action", "greylist")
    bayes = [s for s in r.get("symbols", {}) if s.startswith("BAYES")]
    name = r.get("filename", "?").rsplit("/", 1)[-1]
    print(f"{cls}\t{r['score']}\t{int(flagged)}\t{name}\t{','.join(bayes) or '-'}")
PY
for cls in ham spam; do
  list "test/$cls" | xargs rspamc -h 127.0.0.1:11433 -n 2 -j symbols | python3 "$rs/parse.py" "$cls"
done > "$out/rspamd.scores"
fi

echo "== results (TEST: $(list test/ham | wc -l) ham, $(list test/spam | wc -l) spam)"
python3 - "$out" <<'PY'
import os, sys
out = sys.argv[1]
print(f"{'filter':<22} {'recall@0FP':>10} {'@1FP':>7} {'@4FP':>7} {'@9FP':>7}   at its own threshold")
for peer in ("mailmoat", "mailmoat-pipeline", "mailmoat-pipeline-0.5", "bogofilter", "spamassassin", "rspamd"):
    path = os.path.join(out, f"{peer}.scores")
    if not os.path.exists(path):
        continue
    rows = [l.rstrip("\n").split("\t") for l in open(path)]
    ham = sorted((float(r[1]) for r in rows if r[0] == "ham"), reverse=True)
    spam = [float(r[1]) for r in rows if r[0] == "spam"]
    def recall(k):
        threshold = ham[k] if k < len(ham) else float("-inf")
        return 100.0 * sum(s > threshold for s in spam) / len(spam)
    fp = sum(1 for r in rows if r[0] == "ham" and r[2] == "1")
    tp = sum(1 for r in rows if r[0] == "spam" and r[2] == "1")
    print(f"{peer:<22} {recall(0):>9.2f}% {recall(1):>6.2f}% {recall(4):>6.2f}% {recall(9):>6.2f}%   "
          f"{100.0 * tp / len(spam):.2f}% recall, {fp} FP")
PY

#!/usr/bin/env bash
# Fidelity of mailmoat's SpamAssassin rule engine against SpamAssassin itself (Debian's
# spamassassin + spamd), on a sample of the SpamAssassin corpus: both run the same stock rules
# offline (spamd -L: no network tests; Bayes, auto-welcomelist and TxRep off). For every rule
# mailmoat supports, the share of messages on which the two agree (hit or not), and per message
# the score of the supported rules each one hit.
#
#   scripts/sa-fidelity.sh [PER_FOLDER]      (default 100 messages from each of the 5 folders)
#
# Needs: ./scripts/fetch-spamassassin.sh, the release build (cargo build --release), and the
# Debian packages spamassassin and spamd. Output: target/sa-fidelity/{report.txt,*.tsv}.
set -euo pipefail
cd "$(dirname "$0")/.."
per=${1:-100}
D=corpora/spamassassin/package/data
bin=${MAILMOAT:-target/release/mailmoat}
out=target/sa-fidelity
work=$(mktemp -d /tmp/sa-fidelity.XXXXXX)
chmod 755 "$work"
trap 'kill "$(cat "$work/spamd.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
command -v spamd >/dev/null && command -v spamc >/dev/null || {
  echo "needs Debian's spamassassin and spamd packages" >&2
  exit 2
}
mkdir -p "$out" "$work/site" "$work/msgs"
cp /etc/spamassassin/*.pre "$work/site/"
cat >"$work/site/local.cf" <<'CF'
use_bayes 0
bayes_auto_learn 0
use_auto_welcomelist 0
skip_rbl_checks 1
dns_available no
CF
# Every k-th message of each folder, in name order (the same sample on every machine).
for folder in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
  mapfile -t files < <(find "$D/$folder" -type f ! -name '*.json' | sort)
  step=$(( ${#files[@]} / per )); ((step >= 1)) || step=1
  for ((i = 0; i < ${#files[@]} && i / step < per; i += step)); do
    cp "${files[$i]}" "$work/msgs/$folder.$(basename "${files[$i]}")"
  done
done
chmod -R a+rX "$work"
port=$((20000 + RANDOM % 20000))
# Children are not replaced during the run (their CPU time is read at the end).
spamd -L -x --siteconfigpath="$work/site" -i 127.0.0.1 -p "$port" --max-children=2 \
  --min-children=2 --max-conn-per-child=1000000 \
  -u nobody -r "$work/spamd.pid" -d -s stderr 2>"$work/spamd.log"
for _ in $(seq 1 120); do
  spamc -p "$port" -K >/dev/null 2>&1 && break
  sleep 1
done
: >"$out/spamassassin.tsv"
# CPU seconds of spamd and its children (utime + stime, clock ticks).
spamd_cpu() {
  local pid total=0
  for pid in $(cat "$work/spamd.pid") $(pgrep -P "$(cat "$work/spamd.pid")"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "scale=2; $total / $(getconf CLK_TCK)" | bc
}
sa_cpu_start=$(spamd_cpu)
start=$(date +%s.%N)
for f in "$work"/msgs/*; do
  printf '%s\t%s\n' "$(basename "$f")" "$(spamc -p "$port" -y <"$f" | tr -d '\n')" >>"$out/spamassassin.tsv"
done
sa_seconds=$(echo "$(date +%s.%N) - $start" | bc)
sa_cpu=$(echo "$(spamd_cpu) - $sa_cpu_start" | bc)
"$bin" sa-rules check --list >"$out/supported.txt"
start=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$work/mailmoat.cpu" "$bin" sa-rules hits "$work/msgs" >"$work/mailmoat.raw"
mm_seconds=$(echo "$(date +%s.%N) - $start" | bc)
mm_cpu=$(awk '{print $1 + $2}' "$work/mailmoat.cpu")
# Steady state, as a gateway runs: the same sample ten times over in one process (the rules are
# loaded once, as at a gateway's start).
mapfile -t tenfold < <(yes "$work/msgs" | head -10)
/usr/bin/time -f "%U %S" -o "$work/mailmoat10.cpu" "$bin" sa-rules hits "${tenfold[@]}" >/dev/null
mm10_cpu=$(awk '{print $1 + $2}' "$work/mailmoat10.cpu")
awk -F'\t' '{n=split($1,p,"/"); print p[n] "\t" $3}' "$work/mailmoat.raw" >"$out/mailmoat.tsv"
python3 scripts/sa_fidelity.py "$out" "$sa_seconds" "$mm_seconds" "$sa_cpu" "$mm_cpu" "$mm10_cpu" | tee "$out/report.txt"

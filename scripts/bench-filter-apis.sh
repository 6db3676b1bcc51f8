#!/usr/bin/env bash
# mailmoat's rspamd-protocol service beside rspamd itself, on the same messages and machine:
# POST /checkv2 with 8 clients (scripts/bench-checkv2.py), messages per second, per CPU-second
# of the server, latency p50/p99. Neither server reaches the network: rspamd with its network
# modules off and an unreachable resolver (as scripts/compare-peers.sh runs it; no Redis, so no
# Bayes), mailmoat with DNS answered from its configuration only. Needs the release build and
# Debian's rspamd; the SpamAssassin corpus (scripts/fetch-spamassassin.sh).
#
#   scripts/bench-filter-apis.sh [MESSAGES]     (default 1000: easy-ham-2 and spam-2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mm=$root/target/release/mailmoat
limit=${1:-1000}
data=$root/corpora/spamassassin/package/data
work=$root/target/bench-filter-apis
rm -rf "$work" && mkdir -p "$work"
corpus=$work/corpus && mkdir -p "$corpus"
# Half ham, half spam, the same files for both servers.
for folder in easy-ham-2 spam-2; do
  # (head closes the pipe early: not a failure)
  { find "$data/$folder" -type f -name "*.txt" | sort | head -n $((limit / 2)) || true; } | xargs -I{} cp {} "$corpus/"
done

rs=$work/rspamd && mkdir -p "$rs/local/local.d" "$rs/db" "$rs/run" "$rs/log"
. "$root/scripts/rspamd-offline.sh"
rspamd_offline_config "$rs/local"
cat > "$work/mailmoat.toml" <<CONF
[gateway]
listen = "127.0.0.1:0"
health_listen = ""
protected_domains = ["example.com"]
[console]
listen = ""
[spamd]
listen = ""
[milter]
listen = ""
[rspamd]
listen = "127.0.0.1:11533"
[auth.dns]
only_records = true
CONF
cleanup() {
  [[ -f $rs/run/rspamd.pid ]] && kill "$(cat "$rs/run/rspamd.pid")" 2>/dev/null || true
  [[ -n ${gw:-} ]] && kill "$gw" 2>/dev/null || true
}
trap cleanup EXIT

echo "== $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(ls "$corpus" | wc -l) messages"
(cd "$work" && exec "$mm" serve --config "$work/mailmoat.toml" 2> "$work/serve.log") &
gw=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:11533/ping >/dev/null && break; sleep 0.2; done
python3 "$root/scripts/bench-checkv2.py" --target 127.0.0.1:11533 --pids "$gw" "$corpus"
kill "$gw"; wait "$gw" 2>/dev/null || true; gw=

rspamd -u root -g root -i -c /etc/rspamd/rspamd.conf -p "$rs/run/rspamd.pid" \
  --var="LOCAL_CONFDIR=$rs/local" --var="DBDIR=$rs/db" --var="RUNDIR=$rs/run" --var="LOGDIR=$rs/log"
for _ in $(seq 300); do curl -sf http://127.0.0.1:11433/ping >/dev/null && break; sleep 0.5; done
python3 "$root/scripts/bench-checkv2.py" --target 127.0.0.1:11433 \
  --pids "$(pgrep -d, -f 'rspamd: ')" "$corpus"

#!/usr/bin/env bash
# Shared mode's cost and two nodes against one (issue 27). The SpamAssassin corpus (6,046
# messages) over 50 concurrent SMTP connections per node, as scripts/loadtest.sh does, with one
# per-sender rate limit configured (so every message counts in the rate store) and first-contact
# checks on (the default):
#   1. one node, everything local (embedded stores);
#   2. one node with [shared] redis and postgres (rate counts and contacts in Redis, the
#      quarantine copied into PostgreSQL);
#   3. two shared nodes at once, each loaded with the whole corpus by its own load tool.
# Redis and PostgreSQL run on loopback from Debian's packages, in temporary folders (PostgreSQL
# as the postgres user when run as root). Prints each run's load-tool summary. PARTS=redis or
# PARTS=postgres shares only that part; SKIP_TWO=1 stops after the second run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/fetch-spamassassin.sh >/dev/null
cargo build --release -p mailmoat
mm=$root/target/release/mailmoat
corpus=$root/corpora/spamassassin/package/data
work=$root/target/bench-shared
rm -rf "$work" && mkdir -p "$work"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

redis-server --bind 127.0.0.1 --port 2670 --save "" --appendonly no --dir "$work" > "$work/redis.log" 2>&1 &
pids+=($!)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$work/pg"
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg"; as_pg=(runuser -u postgres --); fi
"${as_pg[@]}" "$pgbin/initdb" -A trust -U mailmoat --no-sync -D "$work/pg/data" > "$work/initdb.log"
"${as_pg[@]}" "$pgbin/postgres" -D "$work/pg/data" -c listen_addresses=127.0.0.1 -p 2671 \
  -c unix_socket_directories="$work/pg" > "$work/pg.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$pgbin/pg_isready" -h 127.0.0.1 -p 2671 -q && break; sleep 0.2; done

printf '[[rate_limit]]\nname = "RATE_SENDER"\nkey = "sender_address"\nlimit = 1000000\nwindow = "1h"\nresult = "tempfail"\n' > "$work/limits.toml"

# config NAME SMTP_PORT SINK_PORT DNS_PORT SHARED_LINES
config() {
  mkdir -p "$work/$1"
  cp "$work/limits.toml" "$work/$1/"
  cat > "$work/$1/mailmoat.toml" <<CONF
[gateway]
listen = "127.0.0.1:$2"
health_listen = ""
protected_domains = ["example.com"]
[gateway.routes]
default = "smtp://127.0.0.1:$3"
[spamd]
listen = ""
[rspamd]
listen = ""
[milter]
listen = ""
[console]
listen = ""
[auth.dns]
servers = ["127.0.0.1:$4"]
[rules]
files = ["limits.toml"]
$5
CONF
}

# serve NAME: starts the node, waits until it listens
serve() {
  "$mm" serve --config "$work/$1/mailmoat.toml" 2> "$work/$1/serve.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/$1/serve.log" && break; sleep 0.2; done
  grep -q "listening on" "$work/$1/serve.log" || { cat "$work/$1/serve.log"; exit 1; }
}

load() { # SMTP_PORT SINK_PORT DNS_PORT
  "$mm" loadtest --target "127.0.0.1:$1" --sink "127.0.0.1:$2" --dns "127.0.0.1:$3" \
    --connections 50 "$corpus"
}

shared_lines='[shared]'
[[ "${PARTS:-redis postgres}" == *redis* ]] && shared_lines+=$'\nredis = "redis://127.0.0.1:2670/"'
[[ "${PARTS:-redis postgres}" == *postgres* ]] && shared_lines+=$'\npostgres = "postgresql://mailmoat@127.0.0.1:2671/postgres"'

echo "== 1. one node, local state"
config local 2525 2626 2653 ""
serve local
load 2525 2626 2653
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "== 2. one node, shared state (Redis + PostgreSQL)"
config shared1 2525 2626 2653 "$shared_lines
node = \"one\""
serve shared1
load 2525 2626 2653
sleep 2
echo "held in PostgreSQL: $("$pgbin/psql" -h 127.0.0.1 -p 2671 -U mailmoat -d postgres -Atc 'SELECT COUNT(*) FROM held')"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
"$pgbin/psql" -h 127.0.0.1 -p 2671 -U mailmoat -d postgres -qc 'TRUNCATE held, held_gone'
redis-cli -p 2670 FLUSHALL > /dev/null

[ "${SKIP_TWO:-}" = 1 ] && exit 0
echo "== 3. two shared nodes at once"
config node-a 2525 2626 2653 "$shared_lines
node = \"a\""
config node-b 2535 2636 2663 "$shared_lines
node = \"b\""
serve node-a
serve node-b
load 2525 2626 2653 > "$work/load-a.txt" &
la=$!
load 2535 2636 2663 > "$work/load-b.txt" &
lb=$!
wait $la $lb
echo "-- node a"; cat "$work/load-a.txt"
echo "-- node b"; cat "$work/load-b.txt"
sleep 2
echo "held in PostgreSQL: $("$pgbin/psql" -h 127.0.0.1 -p 2671 -U mailmoat -d postgres -Atc 'SELECT COUNT(*) FROM held')"

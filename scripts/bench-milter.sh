#!/usr/bin/env bash
# The milter path beside rspamd's (issue 25): a private Postfix on loopback relaying to the load
# tool's sink, (1) alone, (2) with mailmoat's milter, (3) with rspamd's proxy in milter mode,
# on the same messages. `mailmoat loadtest` sends them over 20 SMTP connections and prints
# messages/s accepted and delivered and the end-of-DATA latency (p50, p99); the filter's CPU
# seconds come from /proc. Neither filter reaches the network (rspamd as in
# scripts/bench-filter-apis.sh, mailmoat with DNS from its configuration). Needs root, Debian's
# postfix and rspamd, the release build and the SpamAssassin corpus.
#
#   scripts/bench-milter.sh [MESSAGES]     (default 1000: easy-ham-2 and spam-2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mm=$root/target/release/mailmoat
limit=${1:-1000}
data=$root/corpora/spamassassin/package/data
work=$root/target/bench-milter
rm -rf "$work" && mkdir -p "$work"
corpus=$work/corpus && mkdir -p "$corpus"
for folder in easy-ham-2 spam-2; do
  { find "$data/$folder" -type f -name "*.txt" | sort | head -n $((limit / 2)) || true; } | xargs -I{} cp {} "$corpus/"
done

cpu() { # user+system seconds of the given pids (children included)
  python3 - "$@" <<'PY'
import os, sys
t = 0
for pid in sys.argv[1:]:
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        t += sum(int(x) for x in f[11:15])
    except OSError:
        pass
print(t / os.sysconf("SC_CLK_TCK"))
PY
}

pf=$work/postfix
postfix_start() { # $1: extra main.cf lines
  rm -rf "$pf" && mkdir -p "$pf/etc" "$pf/spool" "$pf/data"
  chown postfix "$pf/data"
  cp /etc/postfix/master.cf "$pf/etc/"
  sed -i 's/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:2527 inet n - n - - smtpd/' "$pf/etc/master.cf"
  sed -i -E 's/^([a-z0-9]+ +(unix|fifo|pass) +[-n] +[-n] +)y /\1n /' "$pf/etc/master.cf"
  cat > "$pf/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.localhost
mydestination =
relay_domains = example.com
transport_maps = inline:{ example.com=smtp:[127.0.0.1]:2626 }
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = /dev/stdout
default_process_limit = 100
smtp_destination_concurrency_limit = 50
$1
CONF
  postfix -c "$pf/etc" start-fg > "$pf/fg.log" 2>&1 &
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/2527) 2>/dev/null && break; sleep 0.2; done
}
postfix_stop() { postfix -c "$pf/etc" stop >/dev/null 2>&1 || true; sleep 1; }
trap 'postfix_stop; [[ -n ${gw:-} ]] && kill "$gw" 2>/dev/null; [[ -f $work/rspamd/run/rspamd.pid ]] && kill "$(cat "$work/rspamd/run/rspamd.pid")" 2>/dev/null; true' EXIT

load() { "$mm" loadtest --target 127.0.0.1:2527 --connections 20 "$corpus" 2>&1 | grep -v '^ *$' | tail -4; }

echo "== $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(ls "$corpus" | wc -l) messages"
echo "== Postfix alone"
postfix_start ""
load
postfix_stop

echo "== Postfix + mailmoat milter"
cat > "$work/mailmoat.toml" <<CONF
[gateway]
listen = "127.0.0.1:0"
health_listen = ""
protected_domains = ["example.com"]
[console]
listen = ""
[spamd]
listen = ""
[rspamd]
listen = ""
[milter]
listen = "127.0.0.1:7931"
[auth.dns]
only_records = true
CONF
(cd "$work" && exec "$mm" serve --config "$work/mailmoat.toml" 2> "$work/serve.log") &
gw=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/7931) 2>/dev/null && break; sleep 0.2; done
postfix_start "smtpd_milters = inet:127.0.0.1:7931
milter_default_action = tempfail"
before=$(cpu "$gw")
load
echo "mailmoat CPU: $(python3 -c "print(round($(cpu "$gw") - $before, 2))") s; verdicts: $(grep -o 'action=[a-z]*' "$work/serve.log" | sort | uniq -c | tr '\n' ' ')"
postfix_stop
kill "$gw"; wait "$gw" 2>/dev/null || true; gw=

echo "== Postfix + rspamd proxy (milter mode)"
rs=$work/rspamd && mkdir -p "$rs/local/local.d" "$rs/db" "$rs/run" "$rs/log"
. "$root/scripts/rspamd-offline.sh"
rspamd_offline_config "$rs/local"
printf 'bind_socket = "127.0.0.1:11432";\nmilter = yes;\nupstream "local" { default = yes; self_scan = yes; }\n' > "$rs/local/local.d/worker-proxy.inc"
rspamd -u root -g root -i -c /etc/rspamd/rspamd.conf -p "$rs/run/rspamd.pid" \
  --var="LOCAL_CONFDIR=$rs/local" --var="DBDIR=$rs/db" --var="RUNDIR=$rs/run" --var="LOGDIR=$rs/log"
for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/11432) 2>/dev/null && break; sleep 0.5; done
sleep 2
postfix_start "smtpd_milters = inet:127.0.0.1:11432
milter_default_action = tempfail"
pids=$(pgrep -d' ' -f 'rspamd: ' || true)
before=$(cpu $pids)
load
echo "rspamd CPU: $(python3 -c "print(round($(cpu $pids) - $before, 2))") s"

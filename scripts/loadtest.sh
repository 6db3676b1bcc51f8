#!/usr/bin/env bash
# Gateway load test on loopback (issue 10): the SpamAssassin corpus (6,046 messages) over 50
# concurrent SMTP connections, first through `mailmoat serve` (every analyser on, delivering to
# the load tool's sink), then through Postfix alone relaying to the same sink, as the
# reference. Prints, for each: messages/s accepted, messages/s delivered to the sink, and the
# latency from the end of DATA to the reply (p50, p99). Needs root for the private Postfix
# instance (installed from Debian when missing); nothing listens beyond 127.0.0.1.
# ONLY=mailmoat skips the Postfix half; EXTRA_CONFIG adds sections to mailmoat's configuration
# (scripts/bench-engines.sh: the signature engines).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/fetch-spamassassin.sh >/dev/null
cargo build --release -p mailmoat
mm=$root/target/release/mailmoat
corpus=$root/corpora/spamassassin/package/data
work=$root/target/loadtest
rm -rf "$work" && mkdir -p "$work"

echo "== mailmoat serve (all analysers) → sink"
cat > "$work/mailmoat.toml" <<CONF
[gateway]
listen = "127.0.0.1:2525"
health_listen = ""
protected_domains = ["example.com"]
[gateway.routes]
default = "smtp://127.0.0.1:2626"
[spamd]
listen = ""
[rspamd]
listen = ""
[milter]
listen = ""
# DNS from the load tool's responder on loopback (no name exists): the whole DNS path runs,
# without depending on this machine's upstream resolver, which drops bursts.
[auth.dns]
servers = ["127.0.0.1:2653"]
${EXTRA_CONFIG:-}
CONF
"$mm" serve --config "$work/mailmoat.toml" 2> "$work/serve.log" &
gw=$!
trap 'kill $gw 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "listening on" "$work/serve.log" && break; sleep 0.2; done
"$mm" loadtest --target 127.0.0.1:2525 --connections 50 --dns 127.0.0.1:2653 "$corpus"
kill $gw; wait $gw 2>/dev/null || true
echo "verdicts: $(grep -o 'action=[a-z]*' "$work/serve.log" | sort | uniq -c | tr '\n' ' ')"

[ "${ONLY:-}" = mailmoat ] && exit 0

echo "== Postfix alone → sink (reference)"
command -v postfix >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix
pf=$work/postfix
mkdir -p "$pf/etc" "$pf/spool" "$pf/data"
chown postfix "$pf/data"
cp /etc/postfix/master.cf "$pf/etc/"
# smtpd on 127.0.0.1:2527; no chroot (the private queue directory has no chroot files).
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
CONF
postfix -c "$pf/etc" start-fg > "$pf/fg.log" 2>&1 &
for _ in $(seq 50); do grep -q "daemon started" "$pf/fg.log" 2>/dev/null && break; sleep 0.2; done
trap 'postfix -c "$pf/etc" stop 2>/dev/null || true' EXIT
"$mm" loadtest --target 127.0.0.1:2527 --connections 50 "$corpus"
postfix -c "$pf/etc" stop >/dev/null 2>&1 || true

#!/usr/bin/env bash
# The signature engines' cost (issue 26), release build, one core (taskset -c 0):
#   1. YARA with 1,000 generated rules (scripts/gen-yara-rules.py) on 50 messages with one
#      small attachment each, on the crafted attachment set (crates/analyzers/cases) and on one
#      message carrying a 10 MB zip;
#   2. ClamAV through a clamd of our own (Debian's clamav-daemon, a temporary database of a
#      few local signatures: the official database cannot be downloaded here, so this is the
#      round trip and clamd's parsing, not the cost of millions of signatures);
#   3. both, and neither, on the same messages.
# `mailmoat bench` prints the best of --repeat passes per configuration. For the gateway end
# to end with the engines on: KEEP_CLAMD=1 ./scripts/bench-engines.sh, then
# EXTRA_CONFIG="$(cat target/bench-engines/engines-only.toml)" ONLY=mailmoat ./scripts/loadtest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cargo build --release -p mailmoat
mm=$root/target/release/mailmoat
work=$root/target/bench-engines
rm -rf "$work" && mkdir -p "$work/cases" "$work/big" "$work/small" "$work/db"
python3 scripts/gen-yara-rules.py 1000 "$work/rules"
"$mm" yara check "$work/rules"
for f in crates/analyzers/cases/*.case; do
  awk 'found{print} /^$/ && !found {found=1}' "$f" > "$work/cases/$(basename "$f" .case).eml"
done
python3 - "$work/big/archive-10mb.eml" <<'PY'
import base64, io, random, sys, zipfile
rng = random.Random(10)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    # Photos (incompressible), a spreadsheet export, a program-like blob: about 10 MB packed.
    for i in range(4):
        z.writestr(f"photos/IMG_{i:04d}.jpg", rng.randbytes(1_800_000), compress_type=zipfile.ZIP_STORED)
    rows = "".join(f"{i},customer {i},2026-11-{i % 28 + 1:02d},{rng.random() * 1000:.2f}\n" for i in range(200_000))
    z.writestr("export.csv", rows)
    z.writestr("tools/setup.dll", b"MZ" + rng.randbytes(1_500_000))
data = buf.getvalue()
b64 = base64.encodebytes(data).decode()
msg = ("From: a@example.net\nTo: user@example.com\nSubject: archive\nMIME-Version: 1.0\n"
       "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nthe files\n"
       "--b\nContent-Type: application/zip; name=files.zip\nContent-Disposition: attachment; filename=files.zip\n"
       "Content-Transfer-Encoding: base64\n\n" + b64 + "--b--\n")
open(sys.argv[1], "w").write(msg)
print(f"10 MB archive message: zip of {len(data)} bytes")
PY

# 50 messages with one small text attachment: what an engine costs per message, not per byte.
python3 - "$work/small" <<'PY'
import base64, sys
for i in range(50):
    body = f"small attachment number {i}\n".encode() * 10
    open(f"{sys.argv[1]}/{i}.eml", "w").write(
        "From: a@example.net\nTo: user@example.com\nSubject: note\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n"
        "--b\nContent-Type: text/plain; name=n.txt\nContent-Disposition: attachment; filename=n.txt\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(body).decode() + "--b--\n")
PY

# A clamd of our own on a temporary socket.
printf 'Mailmoat.Bench.Body:0:*:%s\n' "$(printf 'MAILMOAT-INERT-BENCH-MARKER' | xxd -p | tr -d '\n')" > "$work/db/bench.ndb"
cat > "$work/clamd.conf" <<CONF
Foreground yes
DatabaseDirectory $work/db
LocalSocket $work/clamd.sock
LogFile $work/clamd.log
MaxThreads 4
StreamMaxLength 60M
CONF
clamd -c "$work/clamd.conf" >/dev/null 2>&1 &
clamd_pid=$!
[ -n "${KEEP_CLAMD:-}" ] || trap 'kill $clamd_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$work/clamd.sock" ] && break; sleep 0.1; done

base='[auth]
enabled = false
[analyzers.attachments]
time_budget_ms = 60000
attachment_time_budget_ms = 60000'
yara="[analyzers.yara]
rules = [\"$work/rules\"]"
clam="[analyzers.clamav]
enabled = true
address = \"unix:$work/clamd.sock\"
message_budget_ms = 60000"
printf '%s\n' "$base" > "$work/off.toml"
printf '%s\n%s\n' "$base" "$yara" > "$work/yara.toml"
printf '%s\n%s\n' "$base" "$clam" > "$work/clamav.toml"
printf '%s\n%s\n%s\n' "$base" "$yara" "$clam" > "$work/both.toml"
printf '%s\n%s\n' "$yara" "$clam" > "$work/engines-only.toml"

for set in small cases big; do
  for cfg in off yara clamav both; do
    echo "== $set, engines: $cfg"
    taskset -c 0 "$mm" bench --repeat "${REPEAT:-5}" --config "$work/$cfg.toml" "$work/$set"
  done
done
echo "== what the engines said on the crafted set (both on)"
"$mm" scan --config "$work/both.toml" "$work/cases" | grep -o 'YARA_[A-Z_]*\|AV_[A-Z_]*\|ENGINES_AGREE' | sort | uniq -c || true

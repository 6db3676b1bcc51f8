#!/usr/bin/env bash
# Builds the URL analysis' lexical host model (crates/classifier/models/url-host.model) from
# labelled host lists installed from npm, and measures it on hosts of real mail it never saw.
#   phishing: eth-phishing-detect's blacklist (MetaMask's list of phishing hosts)
#   benign:   eth-phishing-detect's whitelist and top-sites (the 500 most linked-to sites)
#             plus the hosts linked from SpamAssassin easy ham 1 (scripts/fetch-spamassassin.sh)
#   measured on: hosts linked from the Nazario phishing corpus (../shared/corpora) and from
#             SpamAssassin easy ham 2 and hard ham (neither learned from).
# Needs a built binary (cargo build --release -p mailmoat) and npm. Lists go to
# corpora/url-lists/ (never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/mailmoat
dest=corpora/url-lists
mkdir -p "$dest"
(cd "$dest" && npm pack --silent eth-phishing-detect@1.2.0 top-sites@1.1.222 >/dev/null)
python3 - "$dest" <<'PY'
import json, sys, tarfile, glob
dest = sys.argv[1]
eth = tarfile.open(glob.glob(f"{dest}/eth-phishing-detect-*.tgz")[0])
config = json.load(eth.extractfile("package/src/config.json"))
top = json.load(tarfile.open(glob.glob(f"{dest}/top-sites-*.tgz")[0]).extractfile("package/top-sites.json"))
open(f"{dest}/phish.txt", "w").write("\n".join(config["blacklist"]) + "\n")
benign = config["whitelist"] + [t["rootDomain"] for t in top]
open(f"{dest}/benign-lists.txt", "w").write("\n".join(benign) + "\n")
PY
hosts() { # hosts of the links in these messages (scan's exit status tells the verdicts: ignored)
  { "$bin" scan --json "$@" 2>/dev/null || true; } | python3 -c '
import json, sys
seen = set()
for line in sys.stdin:
    try: v = json.loads(line)
    except ValueError: continue
    for u in v["message"]["urls"]:
        h = u.get("host")
        if h and not h.replace(".", "").isdigit() and h not in seen:
            seen.add(h); print(h)'
}
sa=corpora/spamassassin/package/data
hosts "$sa/easy-ham-1" > "$dest/benign-ham1.txt"
hosts "$sa/easy-ham-2" "$sa/hard-ham-1" > "$dest/test-benign-ham.txt"
hosts ../shared/corpora/nazario-phishing/*.mbox > "$dest/test-phish-nazario.txt"
"$bin" url-model train --phish "$dest/phish.txt" --benign "$dest/benign-lists.txt" "$dest/benign-ham1.txt" \
  --test-phish "$dest/test-phish-nazario.txt" --test-benign "$dest/test-benign-ham.txt" \
  --out crates/classifier/models/url-host.model --epochs 3

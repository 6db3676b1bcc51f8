#!/usr/bin/env bash
# Fetches benign documents for the document analysers' false-positive test into
# corpora/benign-documents/ (never committed): the .docx/.pptx/.xlsx test files in the
# python-docx and python-pptx source packages (PyPI), the .hwp files the `hwp` crate ships
# (crates.io, through cargo), and the PDF manuals of Debian's texlive-latex-base-doc.
# Idempotent; what cannot be fetched is skipped with a message.
set -uo pipefail
cd "$(dirname "$0")/.."
dest=corpora/benign-documents
if [ -f "$dest/.complete" ]; then
  echo "benign documents already in $dest"
  exit 0
fi
rm -rf "$dest"
mkdir -p "$dest/files" "$dest/tmp"
tmp="$dest/tmp"

if python3 -m pip download -q --no-binary :all: --no-deps -d "$tmp/pypi" python-docx python-pptx; then
  for sdist in "$tmp"/pypi/*.tar.gz; do
    mkdir -p "$tmp/x" && tar xzf "$sdist" -C "$tmp/x"
  done
  find "$tmp/x" -type f \( -name '*.docx' -o -name '*.pptx' -o -name '*.xlsx' -o -name '*.docm' \) \
    -exec cp --backup=numbered -t "$dest/files" {} +
else
  echo "python-docx/python-pptx not fetched (pip download failed)" >&2
fi

mkdir -p "$tmp/hwpcrate/src"
printf '[workspace]\n[package]\nname = "fetch-hwp"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nhwp = "=0.2.0"\n' >"$tmp/hwpcrate/Cargo.toml"
touch "$tmp/hwpcrate/src/lib.rs"
if cargo fetch -q --manifest-path "$tmp/hwpcrate/Cargo.toml"; then
  src=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name 'hwp-0.2.0' | head -1)
  [ -n "$src" ] && find "$src" -type f -name '*.hwp' -exec cp --backup=numbered -t "$dest/files" {} +
else
  echo "the hwp crate was not fetched" >&2
fi

if (cd "$tmp" && apt-get download texlive-latex-base-doc 2>&1 | grep -v '^W: Download is performed unsandboxed'); then
  dpkg-deb -x "$tmp"/texlive-latex-base-doc_*.deb "$tmp/tex"
  find "$tmp/tex" -type f -name '*.pdf' -exec cp --backup=numbered -t "$dest/files" {} +
else
  echo "texlive-latex-base-doc not fetched" >&2
fi

rm -rf "$tmp"
count=$(find "$dest/files" -type f | wc -l)
if [ "$count" -eq 0 ]; then
  echo "no benign documents fetched" >&2
  exit 1
fi
touch "$dest/.complete"
echo "benign documents: $count in $dest/files"

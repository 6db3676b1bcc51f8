#!/usr/bin/env bash
# The evaluation protocol: each SpamAssassin folder sorted by file name; every 5th message
# (indices 0, 5, 10, … from 0) is TEST, the rest TRAIN. TEST holds 830 ham (50 of them
# hard-ham) and 380 spam. Makes corpora/sa-split/{train,test}/{ham,spam}/ of symlinks.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-spamassassin.sh >/dev/null
src=corpora/spamassassin/package/data
dest=corpora/sa-split
rm -rf "$dest"
for part in train test; do mkdir -p "$dest/$part/ham" "$dest/$part/spam"; done
for folder in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
  class=ham; [[ $folder == spam-* ]] && class=spam
  i=0
  for f in $(ls "$src/$folder" | grep '\.txt$' | sort); do
    part=train; (( i % 5 == 0 )) && part=test
    ln -s "$(pwd)/$src/$folder/$f" "$dest/$part/$class/$folder-$f"
    i=$((i + 1))
  done
done
for part in train test; do
  echo "$part: $(ls $dest/$part/ham | wc -l) ham ($(ls $dest/$part/ham | grep -c '^hard-ham') hard), $(ls $dest/$part/spam | wc -l) spam"
done

#!/usr/bin/env bash
# Issue 24's tokeniser measurement (see src/main.rs and BENCHMARKS.md):
#   experiments/korean-tokens/run.sh
# Two Korean sets written at different times by different hands of this project: the Korean
# detectors' own cases (crates/detectors/src/korean_*/cases, written with the term lists) and
# the evaluation set of scripts/korean-eval.py (written after them). Both are synthetic.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
out=$root/target/korean-tokens
rm -rf "$out/cases" && mkdir -p "$out/cases/spam" "$out/cases/ham"
python3 "$root/scripts/korean-eval.py" "$out/eval" >/dev/null
# A case file is directives (comments, expect lines) up to the first blank line, then the
# message; benign_* cases are legitimate mail.
for f in "$root"/crates/detectors/src/korean_spam/cases/*.case "$root"/crates/detectors/src/korean_lures/cases/*.case; do
  name=$(basename "$f" .case)
  kind=spam
  [[ $name == benign_* ]] && kind=ham
  awk 'body { print; next } /^$/ { body = 1 }' "$f" >"$out/cases/$kind/$(basename "$(dirname "$(dirname "$f")")")-$name.eml"
done
cargo build --release --locked --target-dir "$out/build" --no-default-features -q
cp "$out/build/release/korean-tokens" "$out/korean-tokens-without-lindera"
cargo build --release --locked --target-dir "$out/build" -q
bin=$out/build/release/korean-tokens
echo "binary with lindera and ko-dic: $(stat -c %s "$bin") bytes; without: $(stat -c %s "$out/korean-tokens-without-lindera") bytes"
"$bin" cases="$out/cases" eval="$out/eval" "$@"
echo
"$bin" cases="$out/cases" eval="$out/eval" --hangul-only "$@"

#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (the libfuzzer-sys crate), instrumented the way
# cargo-fuzz instruments (SanitizerCoverage: inline 8-bit counters, PC table, compare tracing),
# on the project's stable toolchain. Rust code is memory-safe, so no AddressSanitizer: what is
# sought are panics, aborts (stack overflows), hangs and runaway memory on hostile bytes.
#
#   scripts/fuzz.sh                      every target for FUZZ_SECONDS (default 60) each
#   scripts/fuzz.sh attach_zip scan      some targets
#   FUZZ_SECONDS=3600 scripts/fuzz.sh message_view
#   scripts/fuzz.sh --list               the targets
#   FUZZ_RUNS=5000 scripts/fuzz.sh       a fixed number of inputs per target from a fresh
#                                        corpus and a fixed seed: the same inputs on every
#                                        machine (what CI runs)
#
# Seeds are made from what the repository already has (samples, detector and analyser cases,
# rule files; the SpamAssassin corpus when fetched), never committed. Corpora grow in
# target/fuzz/corpus/TARGET, crashes land in target/fuzz/artifacts/TARGET, and each run adds a
# line to target/fuzz/runs.tsv (target, seconds, executions, crashes) for docs/fuzzing.md.
# A crash makes the script exit 1 after every target has run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
out=target/fuzz
targets_all=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^mailmoat-fuzz$')
if [[ "${1:-}" == "--list" ]]; then
  echo "$targets_all"
  exit 0
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets <<<"$targets_all"
fi

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
# An explicit --target keeps the instrumentation out of build scripts and proc macros (they
# are not linked with libFuzzer), as cargo-fuzz does.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --manifest-path fuzz/Cargo.toml --target "$host" \
  --target-dir "$out/build" --bins
bin="$out/build/$host/release"

python3 scripts/fuzz_seeds.py "$out/seeds"

crashed=0
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  budget=(-max_total_time="$seconds")
  if [[ -n "${FUZZ_RUNS:-}" ]]; then
    # Deterministic: a fresh corpus, a fixed seed and a number of inputs rather than a time.
    corpus="$out/fixed-corpus/$t"
    rm -rf "$corpus"
    budget=(-runs="$FUZZ_RUNS" -seed=1)
  fi
  artifacts="$out/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  seeds="$out/seeds/$t"
  [[ -d "$seeds" ]] || seeds=""
  case "$t" in
    attach_*) max_len=1048576 ;;
    scan | message_view) max_len=262144 ;;
    *) max_len=65536 ;;
  esac
  log="$out/$t.log"
  marker="$out/.started-$t"
  touch "$marker"
  set +e
  "$bin/$t" "$corpus" $seeds \
    "${budget[@]}" -max_len="$max_len" -timeout=30 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  # Only what this run found: earlier runs' inputs stay in the folder until fixed and removed.
  found=$(find "$artifacts" -type f -newer "$marker" | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "${took:-?}" "${runs:-0}" "$found" "$(date -u +%F)" >>"$out/runs.tsv"
  echo "$t: ${runs:-0} executions in ${took:-?} s, $found crash file(s), exit $status"
  if ((status != 0)); then
    crashed=1
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -n 5 || true
  fi
done
exit "$crashed"

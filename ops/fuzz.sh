#!/usr/bin/env bash
# Fuzzes the decoders that read untrusted bytes, one target at a time and
# niced (the machine is shared): installs cargo-fuzz when missing, seeds each
# corpus from fuzz/corpus/<target>, runs libFuzzer for the given time and
# prints each target's last status line (executions, coverage).
#
#   ops/fuzz.sh [--seconds N] [--cmin] [target ...]
#
# --seconds: per target (default 600). --cmin: afterwards minimise each
# corpus back into fuzz/corpus/<target> (what git keeps, and what
# tests/fuzz_corpus.rs in ledger and api run on stable).
# Targets default to all of them (`cargo fuzz list`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600
minimise=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --cmin) minimise=true; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
nice -n 15 cargo +nightly fuzz build
results=fuzz/artifacts/results.txt
mkdir -p fuzz/artifacts
for target in "${targets[@]}"; do
  # libFuzzer writes what it finds into the first corpus directory; the
  # committed seeds are read from the second and never changed by a run.
  work="fuzz/corpus.full/$target"
  mkdir -p "$work" "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target.log"
  echo "== $target: ${seconds}s" >&2
  status=0
  nice -n 15 cargo +nightly fuzz run "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
  last="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  execs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')"
  echo "$target exit=$status execs=${execs:-?} last: $last" | tee -a "$results"
  if [ "$status" -ne 0 ]; then
    grep -E 'panicked|Test unit written|SUMMARY' "$log" >&2 || true
  fi
  if $minimise; then
    # cmin minimises a directory in place; the seeds go in too, so no
    # input that covered something is dropped.
    # The seeds (seed-*, from `cargo run -p mingzhang-api --example
    # fuzz_seeds`) stay under their names: tests check they still parse.
    cp -n "fuzz/corpus/$target"/* "$work"/ 2>/dev/null || true
    nice -n 15 cargo +nightly fuzz cmin "$target" "$work" >/dev/null 2>&1
    seeds="$(mktemp -d)"
    cp "fuzz/corpus/$target"/seed-* "$seeds"/ 2>/dev/null || true
    rm -rf "fuzz/corpus/$target"
    cp -r "$work" "fuzz/corpus/$target"
    cp "$seeds"/* "fuzz/corpus/$target"/ 2>/dev/null || true
    rm -rf "$seeds"
  fi
done

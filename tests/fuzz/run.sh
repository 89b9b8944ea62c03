#!/usr/bin/env bash
# Runs every fuzz target for a fixed time each, from a copy of its checked-in
# seed corpus, and exits non-zero if any of them finds something.
#
#   tests/fuzz/run.sh [seconds-per-target] [target...]
#
# Each target first replays tests/fuzz/regressions/<target>/, if any.
# Build first: cmake --workflow --preset fuzz. Findings (crash-*, timeout-*,
# oom-* files) are kept in $STRATA_FUZZ_ARTIFACTS (default: a temp dir named
# in the output).
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-15}
shift || true
bin=build/fuzz/tests/fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(sync_pool bounded_pool monotonic_arena size_class limit
           size_router routed_pools governor governed_stack nested_governor)
fi

work=$(mktemp -d -t strata-fuzz.XXXXXX)
artifacts=${STRATA_FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
  exe=$bin/fuzz_$t
  if [ ! -x "$exe" ]; then
    echo "fuzz: $exe missing; build with: cmake --workflow --preset fuzz"
    failed+=("$t")
    continue
  fi
  # A copy, so that the run adds its finds there and not to the checked-in
  # corpus.
  corpus=$work/corpus/$t
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  log=$work/$t.log
  # The reproducers of defects already fixed must stay fixed.
  if [ -d tests/fuzz/regressions/"$t" ] &&
     ! "$exe" tests/fuzz/regressions/"$t"/* >"$log" 2>&1; then
    echo "fuzz: $t FAILED on a regression in tests/fuzz/regressions/$t:"
    grep -E -m 5 'Running:|fuzz check failed|ERROR:|runtime error' "$log"
    failed+=("$t")
    continue
  fi
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
    "$corpus" >"$log" 2>&1
  rc=$?
  final=$(grep -E '^#[0-9]+' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "fuzz: $t ok: $final"
  else
    echo "fuzz: $t FAILED (exit $rc): $final"
    grep -E -m 5 'fuzz check failed|ERROR:|runtime error|deadly signal|timeout' "$log"
    echo "fuzz: log $log, reproducer in $artifacts"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}"
  exit 1
fi
rm -rf "$work"
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no finding"

#!/usr/bin/env bash
# Runs every fuzz target of a FLOWBATCH_FUZZ build for a bounded time, two (or JOBS) at a time.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [JOBS]
#
# Each target starts from its seeds (tests/fuzz/corpus/<target>/ and regressions/<target>/, never
# written to) and keeps what it finds in BUILD_DIR/fuzz/corpus/<target>/, so later runs on this
# machine start further along.
# Inputs stay within 4 KB, which keeps a short run fast (a larger kept input is cut to that here,
# and replayed whole by `make test`).
# A crash, leak, sanitizer report, hang (> 1 s on one input) or memory blow-up fails the run; the
# input is saved in BUILD_DIR/fuzz/artifacts/<target>/ and its report printed. Fix the cause, then
# keep the input in tests/fuzz/regressions/<target>/, where `make test` replays it.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS [JOBS]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [JOBS]}
jobs=${3:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz
# The targets are the folders of seeds: every target has one (CMakeLists.txt replays it).
targets=()
for seeds in "$here"/corpus/*/; do targets+=("$(basename "$seeds")"); done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local target=$1
  local binary=$build/tests/fuzz/fuzz_$target
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target" "$work/logs"
  local dict=()
  [ -f "$here/dict/$target.dict" ] && dict=(-dict="$here/dict/$target.dict")
  # The kept regressions are seeds too: inputs that once reached a bug are worth mutating.
  "$binary" "$work/corpus/$target" "$here/corpus/$target" "$here/regressions/$target" "${dict[@]}" \
    -max_total_time="$seconds" -max_len=4096 -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$target/" >"$work/logs/$target.log" 2>&1
  local rc=$?
  local stats
  stats=$(grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$work/logs/$target.log" | sed 's/stat:://' | tr '\n' ' ')
  if [ $rc -eq 0 ]; then
    echo "fuzz $target: ok after ${seconds}s ($stats)"
  else
    echo "fuzz $target: FAILED (exit $rc) — report below, input in $work/artifacts/$target/"
    grep -v -E '^#[0-9]+' "$work/logs/$target.log" | tail -40
  fi
  return $rc
}

for target in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz_$target" ] || { echo "no fuzz_$target in $build: build the 'fuzzers' target"; exit 1; }
done

failed=0
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
  run_one "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

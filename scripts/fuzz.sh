#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan (build-fuzz/) and runs each
# for FUZZ_SECONDS (default 60) from its committed seeds, as many at once as there are cores. A
# crash, a sanitizer report, a leak or a hang fails the script; the input is kept as
# build-fuzz/fuzz/artifacts/TARGET-crash-*. Fix the bug, then copy that input to
# tests/fuzz/regressions/TARGET/ so that every build replays it (CTest fuzz_replay_TARGET).
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh          # longer
#   FUZZ_TARGETS="csv pickle" bash scripts/fuzz.sh  # some targets only
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
build_dir=${RADPIPE_FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=(${FUZZ_TARGETS:-pipeline csv image_decode dicom pickle})
jobs=$(nproc)

CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRADPIPE_FUZZ=ON -DRADPIPE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j"$jobs" --target "${targets[@]/#/fuzz_}"

artifacts="$build_dir/fuzz/artifacts"
mkdir -p "$artifacts"
# Leaks are bugs too (libFuzzer checks for them); ASan's own exit code marks a sanitizer report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local name=$1 corpus
  corpus=$(mktemp -d)
  local seeds=("tests/fuzz/seeds/$name")
  [ "$name" = pipeline ] && seeds+=(pipelines)
  [ -d "tests/fuzz/regressions/$name" ] && seeds+=("tests/fuzz/regressions/$name")
  # -timeout: one input running longer is a hang; -rss_limit_mb: one input needing more is a bug.
  if "$build_dir/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$name-" "$corpus" "${seeds[@]}" >"$artifacts/$name.log" 2>&1; then
    echo "fuzz $name: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$artifacts/$name.log" | grep -o '[0-9]*$') inputs in ${seconds} s, no crash"
    rm -rf "$corpus"
  else
    echo "fuzz $name FAILED; the end of its log ($artifacts/$name.log):"
    tail -60 "$artifacts/$name.log"
    rm -rf "$corpus"
    return 1
  fi
}

failed=0
running=0
for name in "${targets[@]}"; do
  run_target "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"

#!/usr/bin/env bash
# Builds radpipe and its tests with AddressSanitizer and UndefinedBehaviorSanitizer (gcc, like the
# normal build, so that plugins and host agree on the ABI fingerprint) in build-asan/, and runs the
# suite there. An undefined-behaviour report stops the program (-fno-sanitize-recover), a leak or
# a memory error fails its test. By default it builds and runs the suites of the code that meets
# hostile input without LibTorch (readers and image headers, DICOM and its decoder helpers,
# transforms, routers, aggregators, writers, DICOM results); RADPIPE_SANITIZE_TESTS=all runs
# everything. What is left out, and why, is listed in docs/reliability.md ("Sanitizers"); keep the
# two in step.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
build_dir=${RADPIPE_ASAN_BUILD_DIR:-build-asan}
jobs=$(nproc)

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRADPIPE_SANITIZE=ON -DRADPIPE_BUILD_TESTS=ON >/dev/null
tests=${RADPIPE_SANITIZE_TESTS:-test_readers test_dicom test_transforms test_augment test_routers test_aggregators test_writers test_dicom_results}
if [ "$tests" = all ]; then
  cmake --build "$build_dir" -j"$jobs"
else
  # The plugins the tests load through the host's loader come with their test targets.
  cmake --build "$build_dir" -j"$jobs" --target $tests
fi

suppressions="$PWD/tests/sanitizers"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$suppressions/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$suppressions/ubsan.supp}
# Left out (docs/reliability.md says why): the out-of-tree plugin template, which builds and
# installs a second, unsanitized radpipe.
if [ "$tests" = all ]; then
  ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" -E '^plugin_template_out_of_tree$'
else
  # One CTest entry per test binary, named after its target.
  ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" -R "^($(echo $tests | sed 's/ /|/g'))\$"
fi

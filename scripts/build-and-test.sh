#!/usr/bin/env bash
# Configures and builds radpipe with its tests, then runs the whole suite through CTest:
# unit tests per plugin, host tests, ABI tests with broken plugins, integration tests of the
# real binary, and the out-of-tree plugin template against an installation. Then the same suite
# under ASan and UBSan, and every fuzz target for a bounded time (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on relative paths under the repository, so fresh clones reuse earlier compilations.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# Lets ccache reuse the compilations that include the precompiled LibTorch header.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
build_dir=${RADPIPE_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRADPIPE_BUILD_TESTS=ON
cmake --build "$build_dir" -j"$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs"
bash scripts/sanitize.sh
bash scripts/fuzz.sh

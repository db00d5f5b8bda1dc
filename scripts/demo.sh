#!/usr/bin/env bash
# Builds the radpipe host and its plugins, then runs the demo pipeline on the bundled samples.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on relative paths under the repository, so fresh clones reuse earlier compilations.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# Lets ccache reuse the compilations that include the precompiled LibTorch header.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
build_dir=${RADPIPE_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j"$(nproc)" --target radpipe_runtime
"$build_dir/bin/radpipe" plugins
"$build_dir/bin/radpipe" predict pipelines/demo.toml --out out/demo
echo
echo "out/demo/predictions.csv (first rows):"
head -n 8 out/demo/predictions.csv | cut -d, -f1,5,8-10 | column -t -s,
echo
# Where the model looked: Grad-CAM heatmaps of the same images, browsable offline.
"$build_dir/bin/radpipe" explain pipelines/demo.toml --out out/demo-explain
echo "Grad-CAM heatmaps: out/demo-explain/index.html"

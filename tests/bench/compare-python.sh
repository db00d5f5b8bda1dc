#!/usr/bin/env bash
# radpipe against Python PyTorch on the same FracAtlas images, in one run, on demand (not in CI):
# decoding and preprocessing against a DataLoader and a bare OpenCV loop, end-to-end predict with
# ResNet-18 and DenseNet-121, one training epoch of the demo CNN and ResNet-18, DICOM through the
# reader against in-process decoding, peak RSS of predict. Prints each pair and its ratio.
#
#   tests/bench/compare-python.sh [BUILD_DIR] [--only preprocess,predict,train,dicom,rss]
#
# BUILD_DIR (default: build) is (re)configured with -DRADPIPE_BUILD_BENCHMARKS=ON, Release when
# new, and the targets the comparison runs are built. Python PyTorch comes from Debian (python3-torch, python3-torchvision),
# installed now if missing; tests never need it, so scripts/setup-debian.sh leaves it out.
# Takes about 10 minutes on 2 cores; run it on a quiet machine, and read the load it prints.
set -euo pipefail
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="$source_dir/build"
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then
  build_dir="$(cd "$1" 2>/dev/null && pwd || echo "$1")"
  shift
fi
data_dir="${RADPIPE_FRACATLAS:-$source_dir/../shared/data/fracatlas}"

missing=()
for package in python3-torch python3-torchvision time; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$source_dir" -B "$build_dir" -DRADPIPE_BUILD_BENCHMARKS=ON > /dev/null
else
  cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRADPIPE_BUILD_BENCHMARKS=ON > /dev/null
fi
targets=(radpipe bench_opencv_loop)
for plugin in readers transforms torch_models aggregators; do targets+=("radpipe_plugin_$plugin"); done
# grep reads the whole listing: `grep -q` would close the pipe early and fail the pipeline (pipefail).
if ninja -C "$build_dir" -t targets all 2>/dev/null | grep '^bench_dicom_decode_overhead:' > /dev/null; then
  targets+=(bench_dicom_decode_overhead)
fi
cmake --build "$build_dir" --target "${targets[@]}"

exec /usr/bin/python3 "$source_dir/tests/bench/compare_python.py" --build "$build_dir" --data "$data_dir" "$@"

#!/usr/bin/env bash
# The GPU check of issue 16, prepared for a machine with one NVIDIA GPU, CUDA, nvcc, CMake, ninja and
# Python PyTorch with its LibTorch, but none of the Debian -dev packages (so not the whole host:
# OpenCV, ITK, toml++ and the rest are missing there). Never run yet: no GPU machine was lent.
#
# Here:   bash tests/gpu/prepare-carry.sh           (fmt and spdlog headers into .gpu-deps/)
# There:  the device tool's run, from the repository root, with carry [".gpu-deps"]:
#           bash tests/gpu/device-check.sh          (about 5 minutes; timeout_s 540 leaves a rerun)
#
# 1. configures tests/gpu (the host's device, precision and distributed files, the torch_models
#    networks, LibTorch) with -DRADPIPE_CUDA=ON against the Python wheel's LibTorch: the same
#    cmake/RadPipeCuda.cmake checks as the host's build (CUDA LibTorch, ProcessGroupNCCL, nccl.h);
# 2. smoke tests on cuda:0: pinned batches and non-blocking copies, the chain thread's device,
#    bf16 and fp16 autocast, predict in bf16/fp16 against fp32, 12 train steps in fp32/bf16/fp16
#    (fp16 with the loss scaler) lowering the loss, an NCCL group of one with the overlapped
#    gradient all-reduce;
# 3. predict and train img/s of ResNet-18 and DenseNet-169 at 224 and 320, batch 32, fp32 and bf16,
#    in C++ (device_check bench) and in Python PyTorch (bench_pytorch.py), printed in pairs with
#    the ratio C++/Python.
# Everything is logged to $OUT/device-check.log (the tool brings $OUT back).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/device-check}"
mkdir -p "$out"
exec > >(tee "$out/device-check.log") 2>&1
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
started=$(date +%s)
stage() { echo; echo "=== $1 ($(( $(date +%s) - started )) s)"; }

stage "machine"
nvidia-smi -L || true
python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "torchvision", torchvision.__version__, "devices", torch.cuda.device_count())'
prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
extra="$root/.gpu-deps/include"
[ -d "$extra/fmt" ] || { echo "no $extra/fmt: run tests/gpu/prepare-carry.sh here first and carry .gpu-deps"; exit 1; }

stage "configure (RADPIPE_CUDA=ON)"
build=/tmp/radpipe-gpu-build
timeout 180 cmake -S "$root/tests/gpu" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRADPIPE_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$prefix" -DRADPIPE_EXTRA_INCLUDE="$extra" || { echo "CONFIGURE FAILED"; exit 1; }

stage "build"
timeout 300 ninja -C "$build" -j "$(nproc)" device_check || { echo "BUILD FAILED"; exit 1; }

stage "smoke"
timeout 180 "$build/device_check" smoke
smoke=$?
echo "smoke exit status $smoke"

stage "benchmark: C++ (radpipe's code)"
timeout 240 "$build/device_check" bench "${quick[@]}" | tee "$out/bench-cpp.txt"
stage "benchmark: Python PyTorch"
timeout 240 python3 "$root/tests/gpu/bench_pytorch.py" "${quick[@]}" | tee "$out/bench-py.txt"

stage "pairs (img/s; ratio = C++ / Python)"
printf '%-8s %-12s %4s %-5s %10s %10s %6s\n' mode model size prec cpp python ratio
awk '$1 == "cpp" { cpp[$2" "$3" "$4" "$5] = $6; order[++n] = $2" "$3" "$4" "$5 }
     $1 == "py"  { py[$2" "$3" "$4" "$5] = $6 }
     END { for (i = 1; i <= n; ++i) { k = order[i]; split(k, f, " ");
             printf "%-8s %-12s %4s %-5s %10.1f %10.1f %6s\n", f[1], f[2], f[3], f[4], cpp[k], py[k],
                    (k in py && py[k] > 0) ? sprintf("%.2f", cpp[k] / py[k]) : "-" } }' \
  "$out/bench-cpp.txt" "$out/bench-py.txt" | tee "$out/pairs.txt"
stage "done"
exit "$smoke"

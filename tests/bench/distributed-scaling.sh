#!/usr/bin/env bash
# CPU scaling of distributed training (docs/distributed.md, issue 16 item 5), on demand, never in
# CI: images/s of one training epoch of pipelines/fracatlas-train.toml on 320 images at a global
# batch of 32, for
#   1x1          1 process of 1 thread (batch 32)
#   2x1          2 Gloo ranks of 1 thread each (--nproc 2, batch 16 each), all-reduce overlapped
#   2x1-after    the same with [train] distributed_overlap = false (all-reduce after backward)
#   1x2          1 process of 2 threads (batch 32)
# each REPEATS times, interleaved so that a change in the machine's load touches all alike. Prints
# one line per run (images/s of the training pass, from history.csv) and the load average.
#
#   tests/bench/distributed-scaling.sh [RADPIPE_BINARY] [REPEATS] [CONFIGS...]
#
# RADPIPE_BINARY defaults to build/bin/radpipe (its plugins beside it); CONFIGS to all four.
# An older radpipe without distributed_overlap runs 1x1 2x1 1x2 only.
set -euo pipefail
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
radpipe="${1:-$source_dir/build/bin/radpipe}"
repeats="${2:-3}"
shift $(( $# > 2 ? 2 : $# ))
configs=("$@")
[ "${#configs[@]}" -gt 0 ] || configs=(1x1 2x1 2x1-after 1x2)
pipeline="$source_dir/pipelines/fracatlas-train.toml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run() { # CONFIG REPEAT
  local out="$work/$1-$2" threads=1 batch=32 extra=()
  case "$1" in
    1x1) ;;
    1x2) threads=2 ;;
    2x1) batch=16 extra=(--nproc 2) ;;
    2x1-after) batch=16 extra=(--nproc 2 --set train.distributed_overlap=false) ;;
    *) echo "unknown configuration $1" >&2; exit 2 ;;
  esac
  "$radpipe" -q --threads "$threads" train "$pipeline" --out "$out" --set train.epochs=1 --set train.limit=320 \
    --set train.batch_size="$batch" --set pipeline.batch_size="$batch" "${extra[@]}" >"$out.log" 2>&1 ||
    { echo "$1 run $2 failed:"; tail -5 "$out.log"; exit 1; }
  printf '%-10s run %s: %7.1f img/s   (load %s)\n' "$1" "$2" "$(tail -1 "$out/history.csv" | cut -d, -f9)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "radpipe: $radpipe ($("$radpipe" --version | tail -1)); $(nproc) cores"
for repeat in $(seq 1 "$repeats"); do
  for config in "${configs[@]}"; do run "$config" "$repeat"; done
done

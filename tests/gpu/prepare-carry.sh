#!/usr/bin/env bash
# Here, before tests/gpu/device-check.sh runs on the GPU machine: copies the header-only fmt and
# spdlog this machine's Debian packages hold into .gpu-deps/include (git-excluded), which the
# device tool's `run` then carries (carry: [".gpu-deps"]); that machine has no Debian -dev packages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$root/.gpu-deps/include"
cp -r /usr/include/fmt /usr/include/spdlog "$root/.gpu-deps/include/"
exclude="$(git -C "$root" rev-parse --git-path info/exclude)"
grep -qx '/.gpu-deps/' "$exclude" 2>/dev/null || echo '/.gpu-deps/' >>"$exclude"
du -sh "$root/.gpu-deps"

#!/usr/bin/env bash
# Runs the shell blocks of a guide that are marked for testing, so that the guide cannot rot:
#   run_doc_blocks.sh BUILD_DIR SOURCE_DIR docs/GUIDE.md
# A block is run when the line before its ```sh fence is `<!-- doc-test -->`. The marked blocks run
# in order, in one bash process (variables and `cd` carry over), with `set -euo pipefail`, in an
# empty working folder, against a fresh installation of BUILD_DIR: RADPIPE_PREFIX names it, its
# bin/ comes first on PATH, and nothing of the build tree is on any search path.
set -euo pipefail
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
guide="$source_dir/${3#"$source_dir/"}"
[ -f "$guide" ] || { echo "no such guide: $3" >&2; exit 2; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
mkdir -p "$scratch/work" "$scratch/home"

# The marked blocks, each announced with the guide's line number where it starts.
script="$scratch/guide.sh"
awk -v name="${guide#"$source_dir/"}" '
  /^<!-- doc-test -->[[:space:]]*$/ { marked = NR; next }
  /^```sh[[:space:]]*$/ && marked == NR - 1 && marked > 0 { inside = 1; count++
      printf "echo \"== %s:%d\" >&2\n", name, NR + 1; next }
  /^```[[:space:]]*$/ && inside { inside = 0; next }
  inside { print }
  END { if (count == 0) { print "no block is marked with <!-- doc-test --> in " name > "/dev/stderr"; exit 3 } }
' "$guide" > "$script"
echo "running $(grep -c '^echo "== ' "$script") marked blocks of ${guide#"$source_dir/"} against $scratch/prefix"

cd "$scratch/work"
env -i HOME="$scratch/home" PATH="/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 TMPDIR="$scratch" \
  RADPIPE_PREFIX="$scratch/prefix" \
  bash -euo pipefail "$script"
echo "every marked block of ${guide#"$source_dir/"} ran"

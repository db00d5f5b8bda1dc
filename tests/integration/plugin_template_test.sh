#!/usr/bin/env bash
# Installs radpipe into a scratch prefix, builds samples/plugin-template against the installed
# SDK with find_package(RadPipe), and checks that the installed host loads it and runs its stage.
set -euo pipefail
build_dir=$1
source_dir=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir/samples/plugin-template" -B "$scratch/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/build" >/dev/null
plugin=$(find "$scratch/build" -name 'libradpipe-*.so' | head -n 1)
[ -n "$plugin" ] || { echo "the template built no plugin library"; exit 1; }

listing=$("$scratch/prefix/bin/radpipe" --plugin-path "$(dirname "$plugin")" plugins)
echo "$listing"
grep -q "transform   invert_intensity" <<<"$listing" || { echo "the template's stage is not listed"; exit 1; }
grep -q "reader      csv" <<<"$listing" || { echo "the installed plugins are not listed"; exit 1; }
! grep -q BROKEN <<<"$listing" || { echo "a plugin failed to load"; exit 1; }

# The template stage inside a real pipeline, run by the installed host: the demo with an inversion
# after the grayscale step, its relative paths made absolute.
awk -v samples="$source_dir/samples/" '
  { gsub(/"\.\.\/samples\//, "\"" samples) }
  { print }
  /^stage = "grayscale"/ { print "\n[[preprocess]]\nstage = \"invert_intensity\"" }
' "$source_dir/pipelines/demo.toml" > "$scratch/template.toml"
grep -q invert_intensity "$scratch/template.toml"
"$scratch/prefix/bin/radpipe" --plugin-path "$(dirname "$plugin")" check "$scratch/template.toml"
"$scratch/prefix/bin/radpipe" --plugin-path "$(dirname "$plugin")" predict "$scratch/template.toml" --out "$scratch/out" --limit 4
[ "$(wc -l < "$scratch/out/predictions.csv")" -eq 5 ] || { echo "expected 4 predictions"; exit 1; }
echo "template plugin: built out of tree, listed and run by the installed host"

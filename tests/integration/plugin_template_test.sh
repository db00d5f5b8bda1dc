#!/usr/bin/env bash
# The plugin vendor's path with samples/plugin-template, against a scratch installation of radpipe:
# configure it as the template's docs say (no build type given: the template must choose an
# optimised one), build it, run its unit test, install it with the prefix radpipe was installed
# with, and check that the installed host finds it there without --plugin-path, shows its
# metadata, and runs its stage in a pipeline.
set -euo pipefail
build_dir=$1
source_dir=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix="$scratch/prefix"
fail() { echo "plugin template: $*" >&2; exit 1; }

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
cp -r "$source_dir/samples/plugin-template" "$scratch/acme-plugin"
cmake -S "$scratch/acme-plugin" -B "$scratch/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$scratch/build/CMakeCache.txt" || fail "no default build type: the plugin would build unoptimised"
cmake --build "$scratch/build" >/dev/null
ctest --test-dir "$scratch/build" --output-on-failure >/dev/null || fail "the template's unit test failed"

cmake --install "$scratch/build" --prefix "$prefix" >/dev/null
installed="$prefix/lib/radpipe/plugins/libradpipe-invert_intensity.so"
[ -f "$installed" ] || fail "not installed into PREFIX/lib/radpipe/plugins: $(find "$prefix" -name 'libradpipe-invert_intensity.so')"
[ ! -e "$prefix/radpipe" ] && [ ! -e /radpipe/plugins/libradpipe-invert_intensity.so ] || fail "installed outside lib/"

# Found from the installation's plugin folder alone: no --plugin-path, no RADPIPE_PLUGIN_PATH.
listing=$(env -u RADPIPE_PLUGIN_PATH "$prefix/bin/radpipe" plugins)
echo "$listing"
grep -qF "  $installed" <<<"$listing" || fail "the installed host does not list the plugin from its folder"
grep -q "transform   invert_intensity" <<<"$listing" || fail "the template's stage is not listed"
grep -qF "license Apache-2.0, vendor radpipe plugin template, https://example.org/radpipe-plugin-template" <<<"$listing" ||
  fail "the template's metadata is not shown"
grep -q "reader      csv" <<<"$listing" || fail "the installed plugins are not listed"
! grep -q BROKEN <<<"$listing" || fail "a plugin failed to load"

# The template stage inside a real pipeline, run by the installed host: the demo with an inversion
# after the grayscale step, its relative paths made absolute.
awk -v samples="$source_dir/samples/" '
  { gsub(/"\.\.\/samples\//, "\"" samples) }
  { print }
  /^stage = "grayscale"/ { print "\n[[preprocess]]\nstage = \"invert_intensity\"" }
' "$source_dir/pipelines/demo.toml" > "$scratch/template.toml"
grep -q invert_intensity "$scratch/template.toml"
env -u RADPIPE_PLUGIN_PATH "$prefix/bin/radpipe" check "$scratch/template.toml"
env -u RADPIPE_PLUGIN_PATH "$prefix/bin/radpipe" predict "$scratch/template.toml" --out "$scratch/out" --limit 4
[ "$(wc -l < "$scratch/out/predictions.csv")" -eq 5 ] || fail "expected 4 predictions"
grep -q '"stage": "invert_intensity:invert_intensity"' "$scratch/out/run.json" || fail "run.json does not record the template's stage"
echo "template plugin: built out of tree with its unit test, installed beside radpipe, found and run by the installed host"

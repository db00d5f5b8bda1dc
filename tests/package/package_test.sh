#!/usr/bin/env bash
# The Debian packages as a hospital would get them, without a container: CPack makes `radpipe`
# and `radpipe-dev` from the build; they are unpacked with `dpkg-deb -x` into an empty root. Every
# dependency they declare must be an installed Debian package (at a satisfying version), nothing
# in them may point into the build tree, the plugin template must build and pass its test against
# the unpacked SDK alone, and the unpacked host must run the demo and the template's stage with
# no build tree on any search path.
#   package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "package test: $*" >&2; exit 1; }

cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$scratch/packages" >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log" >&2; fail "cpack failed"; }
runtime=$(ls "$scratch"/packages/radpipe_*.deb)
dev=$(ls "$scratch"/packages/radpipe-dev_*.deb)
version=$(dpkg-deb --field "$runtime" Version)
echo "packages: $(basename "$runtime") $(basename "$dev")"

# Every declared dependency (Depends and Pre-Depends) is an installed Debian package; for
# alternatives (a | b) one is enough; radpipe itself is the package unpacked beside.
# What the installed packages provide (virtual packages), read once: grep -q closing a pipe early
# would fail the pipeline under pipefail.
provided=$(dpkg-query -W -f='${db:Status-Status} ${Provides}\n' | awk '$1 == "installed"')
check_dependencies() {
  local package=$1 field
  for field in Depends Pre-Depends; do
    local declared
    declared=$(dpkg-deb --field "$package" "$field")
    [ -n "$declared" ] || continue
    echo "$(basename "$package") $field: $declared"
    local clause
    while IFS= read -r clause; do
      clause=$(sed 's/^ *//; s/ *$//' <<<"$clause")
      [ -n "$clause" ] || continue
      local satisfied=no alternative
      while IFS= read -r alternative; do
        local name relation wanted installed
        name=$(sed -E 's/^ *([^ (]+).*/\1/' <<<"$alternative")
        relation=$(sed -nE 's/.*\(([<>=]+) *([^)]+)\).*/\1/p' <<<"$alternative")
        wanted=$(sed -nE 's/.*\(([<>=]+) *([^)]+)\).*/\2/p' <<<"$alternative")
        if [ "$name" = radpipe ]; then installed=$version
        else installed=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "${name%:any}" 2>/dev/null | awk '$1 == "installed" { print $2 }')
        fi
        if [ -z "$installed" ] && [ -z "$relation" ] && grep -Eq "[ ,]${name%:any}( |,|$)" <<<"$provided"; then
          satisfied=yes # a virtual package an installed one provides (libspdlog1.10 provides libspdlog1.10-fmt9)
          break
        fi
        [ -n "$installed" ] || continue
        if [ -z "$relation" ]; then satisfied=yes; break; fi
        local op
        case $relation in '>=') op=ge ;; '<=') op=le ;; '>>') op=gt ;; '<<') op=lt ;; '=') op=eq ;; *) fail "relation $relation" ;; esac
        if dpkg --compare-versions "$installed" "$op" "$wanted"; then satisfied=yes; break; fi
      done < <(tr '|' '\n' <<<"$clause")
      [ "$satisfied" = yes ] || fail "$(basename "$package") declares '$clause', which no installed package satisfies"
    done < <(tr ',' '\n' <<<"$declared")
  done
}
check_dependencies "$runtime"
check_dependencies "$dev"
dpkg-deb --field "$runtime" Depends | grep -q libtorch || fail "radpipe does not declare its LibTorch dependency"
dpkg-deb --field "$dev" Depends | grep -q "radpipe (= $version)" || fail "radpipe-dev does not depend on its radpipe release"

root="$scratch/root"
mkdir -p "$root"
dpkg-deb -x "$runtime" "$root"
dpkg-deb -x "$dev" "$root"
usr="$root/usr"
[ -x "$usr/bin/radpipe" ] || fail "no usr/bin/radpipe in the package"
[ -f "$usr/include/radpipe/plugin.hpp" ] && [ -f "$usr/lib/cmake/RadPipe/RadPipeConfig.cmake" ] || fail "the SDK is incomplete"
if grep -rlF "$build_dir" "$root" >"$scratch/leaks"; then fail "files refer to the build tree: $(tr '\n' ' ' <"$scratch/leaks")"; fi

# Nothing of the build tree on any search path: a minimal environment, no LD_LIBRARY_PATH, no
# RADPIPE_PLUGIN_PATH; the unpacked host must find its library and plugins relative to itself.
run() { env -i HOME="$scratch" PATH=/usr/bin:/bin LANG=C.UTF-8 TMPDIR="$scratch" "$@"; }
# ldd prints the path as the runpath found it ($ORIGIN/../lib: usr/bin/../lib/...).
sdk_loaded=$(run ldd "$usr/bin/radpipe" | awk '/libradpipe-sdk\.so/ { print $3 }')
case "$(readlink -f "$sdk_loaded")" in
  "$(readlink -f "$usr/lib")"/*) ;;
  *) fail "radpipe does not load the packaged SDK library (it loads '$sdk_loaded')" ;;
esac
run "$usr/bin/radpipe" plugins --json >"$scratch/plugins.json"
grep -q '"broken": \[\]' "$scratch/plugins.json" || fail "the unpacked host refuses some of its plugins: $(cat "$scratch/plugins.json")"
files=$(grep -o '"file": "[^"]*"' "$scratch/plugins.json")
[ "$(wc -l <<<"$files")" -ge 5 ] || fail "the unpacked host finds too few plugins: $files"
! grep -vF "\"file\": \"$usr/lib/radpipe/plugins/" <<<"$files" || fail "the unpacked host loads plugins from outside the package"

# The demo, from the package's own pipeline, model and images.
run "$usr/bin/radpipe" predict "$usr/share/radpipe/pipelines/demo.toml" --out "$scratch/demo" >/dev/null 2>"$scratch/demo.log" ||
  { cat "$scratch/demo.log" >&2; fail "the demo failed"; }
[ "$(wc -l <"$scratch/demo/predictions.csv")" -eq 21 ] || fail "the demo did not score its 20 images"

# The template against the unpacked SDK: configure, build, unit test, and load into the unpacked host.
cp -r "$usr/share/radpipe/samples/plugin-template" "$scratch/template"
run cmake -S "$scratch/template" -B "$scratch/template-build" -G Ninja -DCMAKE_PREFIX_PATH="$usr" >"$scratch/template.log" 2>&1 &&
  run cmake --build "$scratch/template-build" >>"$scratch/template.log" 2>&1 &&
  run ctest --test-dir "$scratch/template-build" --output-on-failure >>"$scratch/template.log" 2>&1 ||
  { cat "$scratch/template.log" >&2; fail "the template does not build and test against the unpacked SDK"; }
grep -qF "RadPipe_DIR:PATH=$usr/lib/cmake/RadPipe" "$scratch/template-build/CMakeCache.txt" || fail "the template found another SDK"
run "$usr/bin/radpipe" --plugin-path "$scratch/template-build" inspect invert_intensity | grep -q "plugin invert_intensity 1.0.0" ||
  fail "the unpacked host does not load the template plugin"
echo "radpipe $version: packages unpack, their dependencies are installed, the template builds against them and the demo runs"

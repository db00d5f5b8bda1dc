#!/usr/bin/env bash
# Installs every Debian bookworm package radpipe needs to build, test and run.
# Idempotent: apt-get skips what is already installed, so running it twice is cheap.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread libgloo-dev   # libgloo-dev: the Gloo headers c10d's ProcessGroupGloo.hpp includes
  libinsighttoolkit5-dev libgdcm-dev
  libopencv-dev
  libtomlplusplus-dev
  libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  gnuplot-nox
  clang libclang-rt-dev llvm
  doxygen
  libdcmtk-dev dcmtk dicom3tools
  libcurl4-openssl-dev libssl-dev openssl
  orthanc orthanc-dicomweb nginx
  libtesseract-dev tesseract-ocr-eng
  chromium
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-debian: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup-debian: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

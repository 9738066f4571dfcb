#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need.
# Idempotent and quiet when everything is already present.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ make git ccache pkg-config time
  # grammar
  antlr4 libantlr4-runtime-dev default-jre-headless
  # LLVM / MLIR 19 toolchain
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools clang-19 lld-19 libclang-rt-19-dev
  # solver and libraries
  libz3-dev libfmt-dev doctest-dev nlohmann-json3-dev libreadline-dev libsqlite3-dev
  libopenmpi-dev openmpi-bin zlib1g-dev libzstd-dev libedit-dev libxml2-dev libcurl4-openssl-dev
  # reference values and peers for tests and benchmarks
  python3 python3-numpy python3-torch libopenblas-dev
  # log densities against scipy.stats (mpmath where scipy loses digits)
  python3-scipy python3-mpmath
  # the benchmarks' scaling curves (bench/scaling.py)
  python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"

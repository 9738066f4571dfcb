#!/usr/bin/env bash
# Installs what only the benchmarks need, on top of scripts/setup.sh: the Stan peer of the NUTS
# benchmark (bench/inference_bench.py, ../shared/peers/stan). Run by `make bench`, never by
# `make test`. Idempotent and quiet when everything is already present.
set -euo pipefail

PACKAGES=(
  # rstan 2.21 and its data reader; Boost's headers for rstan's model compiles. With the
  # recommended packages: r-base-core recommends r-base-dev, which rstan needs to compile models.
  r-cran-rstan r-cran-jsonlite libboost-dev
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup_bench: installing ${#missing[@]} missing package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
  echo "setup_bench: done"
fi

# Debian 12's r-cran-bh ships no include folder, and rstan then stops with "Boost not found";
# the headers are in /usr/include (libboost-dev). ../shared/peers/stan/README.md.
bh=/usr/lib/R/site-library/BH
if [ -d "$bh" ] && [ ! -e "$bh/include" ]; then
  $SUDO ln -s /usr/include "$bh/include"
  echo "setup_bench: linked $bh/include -> /usr/include (Boost headers for rstan)"
fi

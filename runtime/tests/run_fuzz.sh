#!/usr/bin/env bash
# Runs the .npy/.npz parser fuzzer over the seed corpus plus a fixed number of mutated
# inputs (TESSERA_FUZZ_RUNS, default 20000). A crash, a hang or a sanitizer report fails.
set -euo pipefail
fuzzer=$(realpath "$1")
corpus_src=$(realpath "$2")
here=$(dirname "$(realpath "$0")")
runs=${TESSERA_FUZZ_RUNS:-20000}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
cp "$corpus_src"/* "$work/corpus/"
echo "fuzzing the npy/npz parsers with $(ls "$work/corpus" | wc -l) seeds and $runs mutated inputs"
cd "$work"
if ! "$fuzzer" -dict="$here/npy.dict" -runs="$runs" -seed=1 -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" > "$work/log" 2>&1; then
  tail -n 40 "$work/log"
  for a in "$work/artifacts"/*; do [ -e "$a" ] && { echo "crashing input:"; xxd "$a" | head -n 20; }; done
  exit 1
fi
tail -n 3 "$work/log"
echo "no crash, no hang"

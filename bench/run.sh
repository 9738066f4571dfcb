#!/usr/bin/env bash
# `make bench`: every benchmark, printing figures (and ratios against peers
# once there is generated code to compare).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "== front-end speed (target: a 10,000-line file parses in under 1 s)"
python3 "$here/gen_program.py" 10000 "$tmp/program_10k.tsr"
"$build/bench/parse_bench" "$tmp/program_10k.tsr" 7
start=$(date +%s.%N)
"$build/tools/tesserac" check "$tmp/program_10k.tsr" 2>/dev/null
end=$(date +%s.%N)
echo "  whole 'tesserac check' process: $(python3 -c "print(f'{($end - $start) * 1000:.0f} ms')")"

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

echo "== checker speed (target: 5,000 lines with 500 shape-checked functions in under 2 s)"
python3 "$here/gen_program.py" 5000 "$tmp/program_5k.tsr"
funcs=$(grep -c '^def ' "$tmp/program_5k.tsr")
best=""
for i in 1 2 3 4 5; do
  start=$(date +%s.%N)
  "$build/tools/tesserac" check "$tmp/program_5k.tsr"
  end=$(date +%s.%N)
  t=$(python3 -c "print(f'{($end - $start) * 1000:.0f}')")
  if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
done
echo "  $(wc -l < "$tmp/program_5k.tsr") lines, $funcs functions: 'tesserac check' best of 5: $best ms"

echo "== CPU kernels against OpenBLAS and PyTorch, and JIT compile time (bench/cpu_bench.cpp)"
if [ -x "$build/bench/cpu_bench" ]; then
  "$build/bench/cpu_bench"
else
  echo "  cpu_bench was not built (needs libopenblas-dev); skipped"
fi

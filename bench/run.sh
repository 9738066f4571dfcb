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

echo "== front-end scaling: 'tesserac check' of 1, 5 and 50 MB files (time and peak memory per MB must stay flat)"
lines_per_mb=$(python3 -c "import sys; print(int(10000 * 1e6 / $(wc -c < "$tmp/program_10k.tsr")))")
for mb in 1 5 50; do
  python3 "$here/gen_program.py" $((lines_per_mb * mb)) "$tmp/program_${mb}mb.tsr"
  bytes=$(wc -c < "$tmp/program_${mb}mb.tsr")
  /usr/bin/time -f "%e %M" -o "$tmp/time_${mb}" "$build/tools/tesserac" check "$tmp/program_${mb}mb.tsr" 2>/dev/null || true
  read -r secs kb < "$tmp/time_${mb}"
  python3 -c "b=$bytes/1e6; print(f'  {b:6.1f} MB: {$secs:7.2f} s ({$secs/b:.2f} s/MB), peak {$kb/1024:7.0f} MiB ({$kb/1024/b:.0f} MiB/MB)')"
  rm -f "$tmp/program_${mb}mb.tsr"
done

echo "== CPU kernels against OpenBLAS and PyTorch, and JIT compile time (bench/cpu_bench.cpp)"
if [ -x "$build/bench/cpu_bench" ]; then
  "$build/bench/cpu_bench"
else
  echo "  cpu_bench was not built (needs libopenblas-dev); skipped"
fi

echo "== thread scaling: each side alone in its own process, 1 .. nproc threads (bench/scaling.py)"
/usr/bin/python3 "$here/scaling.py" "$build"

echo "== NUTS against Stan: eight schools and logistic regression, ESS/s, time per leapfrog, source to first draw (bench/inference_bench.py)"
/usr/bin/python3 "$here/inference_bench.py" "$build"

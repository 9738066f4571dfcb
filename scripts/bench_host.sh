#!/usr/bin/env bash
# The CPU benchmarks alone, from a built tree, for a bigger host than the development machines:
#   scripts/bench_host.sh [BUILD] [--threads 1,2,4,8,16,32] [--rounds 3]
# Prints the host, the one-thread gate table (bench/cpu_bench) and the thread-scaling curve with
# each side in its own process (bench/scaling.py), which writes BUILD/bench-results/scaling.csv
# and scaling.png. Needs the packages of scripts/setup.sh; builds nothing.
set -euo pipefail
build=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then build=$1; shift; fi
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$build/bench/cpu_bench" ]; then
  echo "bench_host: $build/bench/cpu_bench is missing: run 'make build' first (it needs libopenblas-dev)" >&2
  exit 2
fi
echo "== host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) logical CPUs"
echo "== one thread, peer and ours alternating in one process (bench/cpu_bench)"
"$build/bench/cpu_bench" --only sgemm,gelu,softmax,layer_norm,train,bf16
/usr/bin/python3 "$here/bench/scaling.py" "$build" "$@"

#!/usr/bin/env bash
# Seeds a scratch corpus from the given folders and runs the fuzzer for a
# fixed number of mutated inputs. A crash, a timeout or a sanitizer report
# fails the test.
set -euo pipefail
fuzzer=$(realpath "$1"); shift
runs=${TESSERA_FUZZ_RUNS:-5000}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
for d in "$@"; do
  [ -d "$d" ] || continue
  find "$d" -name '*.tsr' -exec cp {} "$work/corpus/" \; 2>/dev/null || true
  find "$d" -maxdepth 1 -type f ! -name '*.*' -exec cp {} "$work/corpus/" \; 2>/dev/null || true
done
seeds=$(ls "$work/corpus" | wc -l)
echo "fuzzing with $seeds seed inputs and $runs mutated inputs"
mkdir -p "${TESSERA_FUZZ_ARTIFACTS:-$(dirname "$(realpath "$0")")/artifacts}"
cd "$work"
"$fuzzer" -dict="$(dirname "$(realpath "$0")")/tsr.dict" -runs="$runs" -seed=1 -timeout=10 -rss_limit_mb=4096 -max_len=8192 \
  -artifact_prefix="${TESSERA_FUZZ_ARTIFACTS:-$(dirname "$(realpath "$0")")/artifacts}/" "$work/corpus" 2>&1 | tail -n 5
echo "no crash, no hang"

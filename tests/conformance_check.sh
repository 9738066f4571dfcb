#!/usr/bin/env bash
# Runs the conformance programs of ../shared that the built stages can judge:
# every `check` and `error` program through the shared runner (run.sh); the
# `run` programs listed in tests/conformance_runs.txt through run.sh as well
# (they must run and print what they expect); the other `run` programs, which
# need stages not built yet (gradients, inference), must pass `tesserac check`.
# Ends with "N passed, N failed".
set -u
tc=${1:?usage: conformance_check.sh TESSERAC CONFORMANCE_DIR}
dir=${2:?usage: conformance_check.sh TESSERAC CONFORMANCE_DIR}
if ! compgen -G "$dir/*.tsr" >/dev/null; then
  echo "no conformance programs in $dir: the checkout must sit beside ../shared"; exit 1
fi
runs="$(dirname "$0")/conformance_runs.txt"
pass=0; fail=0
err=$(mktemp); trap 'rm -f "$err"' EXIT
for f in "$dir"/*.tsr; do
  name=$(basename "$f")
  directive=$(head -n 1 "$f")
  if [[ "$directive" =~ ^#\ conformance:\ (check|error) ]] || grep -qx "$name" "$runs"; then
    if out=$("$dir/run.sh" "$tc" "$name" 2>&1); then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL $name: $out" | head -n 3; fi
  else
    if "$tc" check "$f" >/dev/null 2>"$err"; then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL $name: 'tesserac check' rejects it: $(head -c 600 "$err")"; fi
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

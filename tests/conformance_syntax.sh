#!/usr/bin/env bash
# Runs ../shared/conformance/run.sh on every program whose directive expects a
# syntax-level error (E0001-E0003), and checks that every other program parses
# (`tesserac emit --stage=ast` exits 0). Ends with "N passed, N failed".
set -u
tc=${1:?usage: conformance_syntax.sh TESSERAC CONFORMANCE_DIR}
dir=${2:?usage: conformance_syntax.sh TESSERAC CONFORMANCE_DIR}
pass=0; fail=0
for f in "$dir"/*.tsr; do
  name=$(basename "$f" .tsr)
  directive=$(head -n 1 "$f")
  if [[ "$directive" =~ ^#\ conformance:\ error\ E000[1-3]\  ]]; then
    if out=$("$dir/run.sh" "$tc" "$name.tsr" 2>&1); then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL $name: $out"; fi
  else
    if "$tc" emit --stage=ast "$f" >/dev/null 2>/tmp/conf_err.$$; then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL $name: does not parse: $(head -c 400 /tmp/conf_err.$$)"; fi
  fi
done
rm -f /tmp/conf_err.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

#!/usr/bin/env bash
# `make demo`: checks the example programs with the freshly built compiler and
# shows what a user sees today: inferred types and shapes of a correct program,
# the diagnostics of programs with mistakes, and programs compiled and run.
set -u
build=${1:-build}
tc="$build/tools/tesserac"
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

echo "== tesserac $($tc --version | cut -d' ' -f2-)"
echo
for f in examples/*.tsr; do
  case "$f" in */fail_*) continue ;; esac
  if "$tc" check "$f" 2>/dev/null; then echo "ok      $f"; else echo "errors  $f"; fi
done
echo
echo "== tesserac emit --stage=typed examples/transformer_block.tsr (inferred shapes)"
"$tc" emit --stage=typed examples/transformer_block.tsr
echo
echo "== tesserac check ../shared/conformance/fail_heads_not_divisible.tsr (a shape bug)"
"$tc" check --color=always ../shared/conformance/fail_heads_not_divisible.tsr
echo "(exit code $?)"
echo
echo "== tesserac check examples/fail_syntax.tsr (mistakes on purpose)"
"$tc" check --color=always examples/fail_syntax.tsr
echo "(exit code $?)"
echo
echo "== tesserac --explain E0001"
"$tc" --explain E0001 | head -n 12
echo
echo "== tesserac run examples/first_run.tsr (JIT-compiled for this CPU)"
"$tc" run examples/first_run.tsr
echo
echo "== tesserac run examples/transformer_block.tsr (bf16 storage, f32 accumulation)"
"$tc" run examples/transformer_block.tsr
echo
echo "== tesserac run ../shared/conformance/dynamic_model.tsr"
"$tc" run ../shared/conformance/dynamic_model.tsr
exit 0

"""Regenerates the CHECK lines of roundtrip.mlir from tessera-opt's output.

Usage: update_roundtrip.py TESSERA_OPT [roundtrip.mlir]
The test's own lines (everything but its CHECK lines) are parsed and printed
by tessera-opt; each op line of the input then gets the printed form of that
op as its CHECK-NEXT line, and each function a CHECK-LABEL. Review the diff.
"""
import os
import re
import subprocess
import sys

HEADER = """// Every op of the tessera dialect prints and parses back: the output of one
// tessera-opt run is parsed by a second one, and each op is checked in its
// printed form. Regenerate the CHECK lines with update_roundtrip.py.
// RUN: %tessera_opt %s | %tessera_opt | FileCheck %s
// The generic form round-trips too.
// RUN: %tessera_opt %s --mlir-print-op-generic | %tessera_opt | FileCheck %s
"""


def escape(line: str) -> str:
    # In FileCheck patterns `{{` opens a regex and `[[` a variable.
    line = re.sub(r"\{\{|\}\}", lambda m: "{{[{][{]}}" if m.group(0) == "{{" else "{{[}][}]}}", line)
    return line.replace("[[", "{{[[][[]}}")


def main() -> int:
    opt = sys.argv[1]
    path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "roundtrip.mlir")
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f.read().splitlines() if not l.lstrip().startswith("//")]
    while lines and not lines[0].strip():
        lines.pop(0)
    source = "\n".join(lines) + "\n"
    printed = subprocess.run([opt, "-", "--mlir-print-op-generic"], input=source, capture_output=True, text=True,
                             check=True).stdout
    printed = subprocess.run([opt, "-"], input=printed, capture_output=True, text=True, check=True).stdout
    out = [l.strip() for l in printed.splitlines()]
    out = [l for l in out if l not in ("module {", "}", "return", "")]
    result, i = [], 0
    for line in lines:
        s = line.strip()
        if s.startswith("func.func"):
            name = re.match(r"func\.func (@\w+)", out[i]).group(1)
            i += 1
            result.append(f"// CHECK-LABEL: func.func {name}(")
        elif s and s not in ("}", "return"):
            result.append("  // CHECK-NEXT: " + escape(out[i]))
            i += 1
        result.append(line)
    if i != len(out):
        print(f"printed {len(out)} lines but matched {i}; is an op spread over several lines?")
        return 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER + "\n" + "\n".join(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

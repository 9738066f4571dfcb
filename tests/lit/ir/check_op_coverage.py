"""Fails when an op of the tessera dialect has no round-trip test.

Usage: check_op_coverage.py TesseraOps.td roundtrip.mlir
Every `def Tessera_XOp : Tessera_...<"mnemonic"` of the .td file must appear
as `tessera.mnemonic` in the round-trip test.
"""
import re
import sys


def main() -> int:
    td_path, test_path = sys.argv[1], sys.argv[2]
    with open(td_path, encoding="utf-8") as f:
        mnemonics = re.findall(r'^def Tessera_\w+Op\s*:\s*Tessera_\w+<"(\w+)"', f.read(), re.M)
    with open(test_path, encoding="utf-8") as f:
        test = f.read()
    if not mnemonics:
        print(f"no ops found in {td_path}")
        return 1
    missing = [m for m in mnemonics if not re.search(r"\btessera\." + re.escape(m) + r"\b", test)]
    for m in missing:
        print(f"op tessera.{m} has no round-trip test in {test_path}")
    print(f"{len(mnemonics) - len(missing)} of {len(mnemonics)} ops covered")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fails when a diagnostic code of the registry has no golden test.

usage: check_diag_coverage.py CODES_DEF LIT_DIR PENDING_TXT

A code is covered when a lit test under LIT_DIR has a CHECK line containing
`error[CODE]` or `warning[CODE]`. PENDING_TXT lists the codes emitted by
stages not built yet (one per line, `#` comments); a pending code that is
covered, or that is not in the registry, is an error too, so the list only
shrinks.
"""
import os
import re
import sys


def main():
    codes_def, lit_dir, pending_txt = sys.argv[1:4]
    codes = re.findall(r"^TSR_CODE\((\w+),", open(codes_def).read(), re.M)
    pending = set()
    for line in open(pending_txt):
        line = line.split("#")[0].strip()
        if line:
            pending.add(line)
    covered = set()
    for d, _, names in os.walk(lit_dir):
        for n in names:
            if not n.endswith(".tsr"):
                continue
            for line in open(os.path.join(d, n), encoding="utf-8", errors="replace"):
                if re.match(r"\s*#\s*CHECK", line):
                    for m in re.finditer(r"(?:error|warning)\[(\w+)\]", line):
                        covered.add(m.group(1))
    problems = []
    for c in codes:
        if c not in covered and c not in pending:
            problems.append(f"{c} has no golden test (a lit test with a CHECK line showing {c}) and is not pending")
        if c in covered and c in pending:
            problems.append(f"{c} is covered by a golden test: remove it from {os.path.basename(pending_txt)}")
    for p in sorted(pending - set(codes)):
        problems.append(f"{p} is listed as pending but is not in the registry")
    missing = len([c for c in codes if c not in covered and c not in pending])
    print(f"diagnostic coverage: {len([c for c in codes if c in covered])} covered, "
          f"{len([c for c in codes if c in pending and c not in covered])} pending, {missing} missing")
    for p in problems:
        print("error: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

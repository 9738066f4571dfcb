#!/usr/bin/env python3
"""Regenerates the CHECK lines of lit .tsr tests from the current output,
like MLIR's generate-test-checks.py: the diff is then reviewed by a person.

usage: update_checks.py [--build DIR] [FILE_OR_DIR ...]   (default: all of tests/lit)

For each test, the first `# RUN:` line that pipes into FileCheck is run (the
part before `| %FileCheck`), with the same substitutions as lit.cfg.py. Old
`# CHECK...` lines are dropped and new ones appended: `CHECK:` for the first
output line, `CHECK-NEXT:` for each following one and `CHECK-EMPTY:` for
empty lines. The test's own absolute path becomes `{{.*}}NAME`.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def substitutions(path, build):
    tesserac = os.path.join(build, "tools", "tesserac")
    return [
        ("%exitcode", f"{sys.executable} {os.path.join(HERE, 'exit_code.py')}"),
        ("%tesserac", tesserac),
        ("%FileCheck", "FileCheck"),
        ("%python", sys.executable),
        ("%host_numpy", "/usr/bin/python3"),
        ("%numpy", "/usr/bin/python3"),
        ("%drop_asan_warnings", "grep -v 'WARNING: AddressSanitizer failed to allocate'"),
        ("%shared", os.path.join(ROOT, "..", "shared")),
        ("%s", path),
        ("%S", os.path.dirname(path)),
        ("%t", os.path.join(build, "tests", "lit", "Output", os.path.basename(path) + ".tmp")),
    ]


def escape(line, path):
    # FileCheck treats {{ }} and [[ ]] specially; escape literal ones.
    line = line.replace("{{", "{{[{][{]}}").replace("[[", "{{[[][[]}}")
    # Files next to the test (imported modules under Inputs/) show the same way.
    return line.replace(os.path.dirname(path) + os.sep, "{{.*}}")


def update(path, build):
    with open(path) as f:
        lines = f.read().splitlines()
    run = next((l for l in lines if l.startswith("# RUN:") and "FileCheck" in l), None)
    if run is None:
        return False
    command = run[len("# RUN:"):].strip()
    command = re.split(r"\|\s*%FileCheck", command)[0].strip()
    for key, value in substitutions(path, build):
        command = command.replace(key, value)
    env = dict(os.environ, NO_COLOR="1", TERM="dumb")
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, env=env)
    out = proc.stdout.splitlines()
    if os.path.basename(path).startswith("fail_") and not any(l == "[exit code: 1]" for l in out):
        print(f"warning: {path}: a fail_ test should show '[exit code: 1]' (use %exitcode)", file=sys.stderr)
    kept = [l for l in lines if not re.match(r"#\s*CHECK(-NEXT|-EMPTY|-NOT|-SAME)?:", l)]
    while kept and kept[-1].strip() == "":
        kept.pop()
    checks = []
    for i, l in enumerate(out):
        if l.strip() == "":
            checks.append("# CHECK-EMPTY:")
        else:
            checks.append(f"# {'CHECK' if i == 0 else 'CHECK-NEXT'}: {escape(l, path)}")
    new = "\n".join(kept + [""] + checks) + "\n"
    with open(path) as f:
        old = f.read()
    if new != old:
        with open(path, "w") as f:
            f.write(new)
        print(f"updated {os.path.relpath(path, ROOT)}")
        return True
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    paths = args.paths or [HERE]
    files = []
    for p in paths:
        if os.path.isdir(p):
            for d, dirs, names in os.walk(p):
                dirs[:] = [x for x in dirs if x != "Inputs"]  # modules imported by tests, as in lit.cfg.py
                files += [os.path.join(d, n) for n in sorted(names) if n.endswith(".tsr")]
        else:
            files.append(p)
    changed = sum(update(os.path.abspath(f), build) for f in sorted(files))
    print(f"{changed} of {len(files)} test files changed")


if __name__ == "__main__":
    main()

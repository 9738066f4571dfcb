#!/usr/bin/env python3
"""Runs a command, passes its output through, then prints its exit code as
`[exit code: N]` on stdout and exits 0, so golden tests can check it."""
import subprocess
import sys

proc = subprocess.run(sys.argv[1:])
sys.stdout.flush()
print(f"[exit code: {proc.returncode}]", flush=True)

#!/usr/bin/env python3
"""Time and peak memory of `tesserac check` on generated files of simple functions.

usage: check_scaling.py TESSERAC MB [MB ...]   (e.g. 1 5 50)

Each file repeats `def f<i>(x: Tensor["N"], y: Tensor["N"]) -> Tensor["N"]` (two lines of
body) up to the size asked for. Prints one line a size: MB, functions, wall seconds, peak RSS
in MB (from /usr/bin/time -v), and seconds and MB per input MB, so that linear growth shows
as constant ratios.
"""
import os
import re
import subprocess
import sys
import tempfile


def generate(path, size):
    n = 0
    written = 0
    with open(path, "w") as f:
        while written < size:
            s = (f'def f{n}(x: Tensor["N"], y: Tensor["N"]) -> Tensor["N"]:\n'
                 f"    z = x * 2.0 + y\n    return relu(z)\n\n")
            f.write(s)
            written += len(s)
            n += 1
        f.write("def main():\n    print(f0(ones(3), ones(3)))\n")
    return n


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tesserac = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sys.argv[2:]:
            path = os.path.join(tmp, f"check_{mb}mb.tsr")
            functions = generate(path, int(float(mb) * 1_000_000))
            r = subprocess.run(["/usr/bin/time", "-v", tesserac, "check", path], capture_output=True, text=True)
            wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr).group(1)
            secs = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
            status = "ok" if r.returncode == 0 else f"exit {r.returncode}"
            print(f"{mb:>5} MB  {functions:>8} functions  {secs:8.1f} s  {rss:8.0f} MB peak  "
                  f"{secs / float(mb):6.2f} s/MB  {rss / float(mb):6.0f} MB/MB  {status}", flush=True)
            os.remove(path)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Thread-scaling curves of the CPU benchmarks, each side timed alone in its own process.

    bench/scaling.py BUILD [--threads 1,2,4] [--rounds 3] [--only sgemm,softmax] [--pairs 7]
                           [--out DIR]

For every thread count N (default 1, 2, 4, ... and nproc) it runs `BUILD/bench/cpu_bench --solo
ours --threads N` and `... --solo peer --threads N` alternately (ours, peer, ours, peer, ...:
ABAB over processes), `--rounds` times each. A process times one side only, so neither side's
worker threads compete with the other's (BENCH.md: in one process OpenBLAS's and PyTorch's
workers keep spinning after a call, and a same-process 2-thread ratio read 0.52x where each side
alone gave 0.97x). Both sides get the same thread count (tessSetNumThreads on ours,
openblas_set_num_threads / torch.set_num_threads on the peer). A side's figure at N threads is
the median over its processes of each process's median call time.

Writes DIR/scaling.csv (one line per benchmark and thread count) and DIR/scaling.png (one panel
per benchmark: throughput of ours and the peer against threads; matplotlib from Debian's
python3-matplotlib), and prints the table with the host's CPU model. DIR defaults to
BUILD/bench-results.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import time


def host_description():
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "f16c"]
    have = [f for f in wanted if f in flags]
    return f"{model}, {os.cpu_count()} logical CPUs, {' '.join(have) or 'no AVX2'}"


def default_threads():
    n = os.cpu_count() or 1
    counts, t = [], 1
    while t < n:
        counts.append(t)
        t *= 2
    counts.append(n)
    return counts


def run_solo(bench, side, threads, only, pairs):
    cmd = [bench, "--solo", side, "--threads", str(threads), "--pairs", str(pairs)]
    if only:
        cmd += ["--only", only]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    rows = []
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 8 or parts[0] != "solo":
            continue
        _, name, got_side, got_threads, ms, work, unit, check = parts
        rows.append((name, float(ms) if ms != "-" else None, float(work), unit, check))
    if proc.returncode != 0:
        sys.stderr.write(f"scaling: {' '.join(cmd)} exited with {proc.returncode}\n{proc.stderr[-2000:]}")
    return rows, proc.returncode


def plot(lines, png_path, host):
    """One panel per benchmark: throughput of ours and the peer against threads."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("scaling: matplotlib is missing (python3-matplotlib, scripts/setup.sh): no PNG")
        return
    names = list(dict.fromkeys(r["benchmark"] for r in lines))
    if not names:
        return
    cols = 3
    rows_n = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(5 * cols, 3.6 * rows_n + 0.8), squeeze=False)
    for ax, name in zip(axes.flat, names):
        pts = [r for r in lines if r["benchmark"] == name]
        x = [int(r["threads"]) for r in pts]
        ax.plot(x, [float(r["ours"]) for r in pts], "o-", label="Tessera")
        ax.plot(x, [float(r["peer"]) for r in pts], "s--", label="peer")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("threads")
        ax.set_ylabel(pts[0]["unit"])
        ax.set_xticks(x)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Thread scaling, each side alone in its own process\n{host}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / (3.6 * rows_n + 0.8)))
    fig.savefig(png_path, dpi=90)
    print(f"wrote {png_path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--threads", help="comma-separated thread counts (default: 1, 2, 4, ... and nproc)")
    ap.add_argument("--rounds", type=int, default=3, help="processes per side and thread count")
    ap.add_argument("--only", default="", help="cpu_bench benchmark names (sgemm,gelu,softmax,layer_norm,train,bf16)")
    ap.add_argument("--pairs", type=int, default=7, help="timed calls per process")
    ap.add_argument("--out", help="output folder (default BUILD/bench-results)")
    ap.add_argument("--replot", metavar="CSV", help="only draw the PNG (next to the CSV) from a scaling.csv")
    args = ap.parse_args()
    if args.replot:
        with open(args.replot) as f:
            lines = list(csv.DictReader(f))
        host = lines[0].get("host", "") if lines else ""
        plot(lines, os.path.splitext(args.replot)[0] + ".png", host)
        return 0

    bench = os.path.join(args.build, "bench", "cpu_bench")
    if not os.access(bench, os.X_OK):
        print(f"scaling: {bench} was not built (needs libopenblas-dev); skipped")
        return 0
    threads = [int(t) for t in args.threads.split(",")] if args.threads else default_threads()
    out = args.out or os.path.join(args.build, "bench-results")
    os.makedirs(out, exist_ok=True)
    host = host_description()
    print(f"== thread scaling, each side alone in its own process ({host})")
    print(f"   threads {threads}, {args.rounds} processes per side and count, ABAB over processes")
    sys.stdout.flush()

    # times[(name, threads, side)] = list of per-process medians (ms); meta[name] = (work, unit)
    times, meta, order, failed = {}, {}, [], False
    start = time.time()
    for n in threads:
        for _ in range(args.rounds):
            for side in ("ours", "peer"):
                rows, rc = run_solo(bench, side, n, args.only, args.pairs)
                failed |= rc != 0
                for name, ms, work, unit, check in rows:
                    if name not in meta:
                        meta[name] = (work, unit)
                        order.append(name)
                    if ms is not None:
                        times.setdefault((name, n, side), []).append(ms)
                    elif "MISMATCH" in check:
                        failed = True

    lines = []
    for name in order:
        work, unit = meta[name]
        for n in threads:
            ours, peer = times.get((name, n, "ours")), times.get((name, n, "peer"))
            if not ours or not peer:
                continue
            o, p = statistics.median(ours), statistics.median(peer)
            lines.append({
                "benchmark": name, "threads": n, "unit": unit, "host": host,
                "ours": work / (o * 1e-3) * 1e-9, "peer": work / (p * 1e-3) * 1e-9,
                "ours_ms": o, "peer_ms": p, "ratio": p / o,
                "ours_runs": " ".join(f"{t:.3f}" for t in ours), "peer_runs": " ".join(f"{t:.3f}" for t in peer),
            })

    print(f"\n{'benchmark':52} {'thr':>3} {'ours':>14} {'peer':>14} {'ratio':>8}")
    for r in lines:
        unit = "GF/s" if r["unit"] == "GFLOP/s" else r["unit"]
        print(f"{r['benchmark']:52} {r['threads']:3d} {r['ours']:9.2f} {unit:4} {r['peer']:9.2f} {unit:4} "
              f"{r['ratio']:7.3f}x")
    print("ratio = peer time / our time (> 1: we are faster); each figure the median of "
          f"{args.rounds} processes' medians; {time.time() - start:.0f} s")

    csv_path = os.path.join(out, "scaling.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["benchmark", "threads", "unit", "ours", "peer", "ours_ms", "peer_ms",
                                          "ratio", "ours_runs", "peer_runs", "host"])
        w.writeheader()
        for r in lines:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {csv_path}")

    plot(lines, os.path.join(out, "scaling.png"), host)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

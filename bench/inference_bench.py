#!/usr/bin/python3
"""NUTS against Stan (issue 16; ../shared/design/BENCH.md): eight schools (non-centered) and
logistic regression (N = 10,000, D = 100, Stan's bernoulli_logit_glm), the same model, data,
draws and warm-up on both sides (4 chains x (1000 warm-up + 1000 draws)).

    /usr/bin/python3 bench/inference_bench.py [BUILD] [--rounds 2] [--models eight_schools,logreg]
        [--tesserac PATH] [--csv PATH] [--no-stan] [--stan-dir DIR]

Each side runs in its own process, alternating (Stan, ours, Stan, ours, ... per model and round):
- Stan: ../shared/peers/stan/stan_peer.R (rstan 2.21, one core, chains one after another); its
  model compile is cold every time (auto_write = FALSE).
- ours: `tesserac run` of bench/inference/<model>.tsr with a fresh compile cache
  (TESSERA_CACHE_DIR), once with `--threads 1` (chains one after another on one thread, as
  Stan) and once with the default thread count.

Figures per run (the median over rounds is printed):
- min bulk ESS: the smallest rank-normalized split bulk ESS over every quantity but lp__ (ours:
  computed here from draws.npz by a NumPy port of R posterior's ess_bulk, checked against the
  runtime's own table; Stan: rstan::ess_bulk);
- ESS/s: min bulk ESS / sampling seconds summed over chains (CmdStan's "Elapsed Time");
- us/leapfrog: summed sampling seconds / summed n_leapfrog__ after warm-up;
- first draw: seconds from the start of the process until sampling starts, compile included:
  ours = (time draws.npz was written - process start) - the sampler's wall time (the summary's
  "seconds wall"), so the summary's own statistics are not counted; Stan = compile_s
  (stan_model()), which leaves out rstan's own start-up and data conversion;
- run ESS/s: min bulk ESS / the wall time of warm-up + sampling (for ours with all threads,
  the chains run in parallel).
Writes bench/results/inference.csv (or --csv) with one line per run.
"""
import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = {
    # name: (our program, Stan model, Stan data (None: generated logreg.json))
    "eight_schools": ("inference/eight_schools_noncentered.tsr", "eight_schools_noncentered.stan", "eight_schools.json"),
    "logreg": ("inference/logreg.tsr", "logreg_glm.stan", None),
}
# Per-model targets of issue 16 (ours with one thread / Stan, ESS/s).
TARGETS = {"eight_schools": 1.0, "logreg": 5.0}
COMPILE_TARGET_S = 1.0


# ---- R posterior's ess_bulk (Vehtari et al. 2021), as runtime/src/inference_diagnostics.cpp ----

def _rankdata_average(a):
    """Ranks 1..n with ties given their average rank (scipy.stats.rankdata 'average')."""
    a = np.ravel(a)
    sorter = np.argsort(a, kind="mergesort")
    inv = np.empty(sorter.size, dtype=np.intp)
    inv[sorter] = np.arange(sorter.size, dtype=np.intp)
    s = a[sorter]
    obs = np.r_[True, s[1:] != s[:-1]]
    dense = obs.cumsum()[inv]
    count = np.r_[np.nonzero(obs)[0], len(obs)]
    return 0.5 * (count[dense] + count[dense - 1] + 1)


_qnorm = np.vectorize(statistics.NormalDist().inv_cdf, otypes=[float])


def _split_chains(x):
    """[chains, draws] -> [2 chains, draws // 2]; the middle draw of an odd chain is dropped."""
    n = x.shape[1]
    half = n // 2
    return np.concatenate([x[:, :half], x[:, n - half:]], axis=0)


def _autocovariance(x):
    """Biased autocovariances of each row of x (lag 0 .. n-1), via a zero-padded FFT."""
    n = x.shape[1]
    m = 1
    while m < n:
        m *= 2
    y = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(y, n=2 * m, axis=1)
    return np.fft.irfft(f * np.conj(f), n=2 * m, axis=1)[:, :n] / n


def _ess(x):
    """posterior's .ess of [chains, draws] (Geyer's initial monotone sequence, improved tail)."""
    chains, n = x.shape
    acov = _autocovariance(x)
    chain_mean = x.mean(axis=1)
    mean_var = acov[:, 0].mean() * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if chains > 1:
        var_plus += chain_mean.var(ddof=1)
    rho = np.zeros(n)
    acov_mean = acov.mean(axis=0)
    t = 0
    rho_even = 1.0
    rho[0] = rho_even
    rho_odd = 1 - (mean_var - acov_mean[1]) / var_plus
    rho[1] = rho_odd
    while t < n - 5 and not np.isnan(rho_even + rho_odd) and rho_even + rho_odd > 0:
        t += 2
        rho_even = 1 - (mean_var - acov_mean[t]) / var_plus
        rho_odd = 1 - (mean_var - acov_mean[t + 1]) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t] = rho_even
            rho[t + 1] = rho_odd
    max_t = t
    if rho_even > 0:
        rho[max_t] = rho_even
    t = 0
    while t <= max_t - 4:
        t += 2
        if rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]:
            rho[t] = (rho[t - 2] + rho[t - 1]) / 2
            rho[t + 1] = rho[t]
    total = chains * n
    tau = -1 + 2 * rho[:max_t].sum() + rho[max_t]
    tau = max(tau, 1 / np.log10(total))
    return total / tau


def ess_bulk(x):
    """Rank-normalized split bulk ESS of x[chains, draws]; NaN for a constant or non-finite x."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)) or x.max() - x.min() < np.finfo(float).eps:
        return float("nan")
    s = _split_chains(x)
    r = _rankdata_average(s).reshape(s.shape)
    z = _qnorm((r - 3.0 / 8.0) / (s.size + 0.25))
    return float(_ess(z))


# ---- the two sides ----

def run_stan(stan_dir, model, data, seed=1):
    cmd = ["Rscript", os.path.join(stan_dir, "stan_peer.R"), os.path.join(stan_dir, model), data, "4", "1000",
           "1000", str(seed)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in p.stdout.splitlines() if l.startswith("model=")), None)
    if p.returncode != 0 or line is None:
        raise RuntimeError(f"stan_peer.R failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    kv = dict(f.split("=", 1) for f in line.split())
    return {
        "min_ess_bulk": float(kv["min_ess_bulk"]),
        "sampling_s": float(kv["sampling_s"]),
        "warmup_s": float(kv["warmup_s"]),
        "ess_per_s": float(kv["ess_per_s"]),
        "us_per_leapfrog": float(kv["us_per_leapfrog"]),
        "first_draw_s": float(kv["compile_s"]),
        "run_ess_per_s": float(kv["min_ess_bulk"]) / (float(kv["warmup_s"]) + float(kv["sampling_s"])),
        "divergent": int(kv["divergent"]),
        "max_rhat": float(kv["max_rhat"]),
        "wall_s": None,
    }


STATS = {"lp__", "accept_stat__", "stepsize__", "treedepth__", "n_leapfrog__", "divergent__", "energy__",
         "warmup_seconds__", "sampling_seconds__"}


def printed_min_ess(stdout):
    """The smallest ESS_bulk of the runtime's summary table, lp__ left out."""
    values = []
    for line in stdout.splitlines():
        f = line.split()
        if len(f) == 10 and f[0] != "lp__" and re.match(r"^[A-Za-z_]", f[0]) and f[7] != "ESS_bulk":
            try:
                values.append(float(f[7]))
            except ValueError:
                pass
    return min(values) if values else float("nan")


def run_ours(tesserac, program, workdir, threads):
    """One `tesserac run` in workdir (the data files are there), with a cold compile cache."""
    out = os.path.join(workdir, "draws.npz")
    if os.path.exists(out):
        os.remove(out)
    cache = tempfile.mkdtemp(prefix="tessera-cache-")
    env = dict(os.environ, TESSERA_CACHE_DIR=cache)
    cmd = [tesserac, "run"] + (["--threads", str(threads)] if threads else []) + [program]
    try:
        start = time.time()
        p = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
        wall = time.time() - start
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    written = os.stat(out).st_mtime
    m = re.search(r"; ([0-9.eE+-]+) seconds wall", p.stdout)
    if not m:
        raise RuntimeError("the summary has no 'Elapsed Time ... seconds wall' line (a runtime without timings?)")
    sampler_wall = float(m.group(1))
    z = np.load(out)
    warm, samp = z["warmup_seconds__"], z["sampling_seconds__"]
    leapfrogs = float(z["n_leapfrog__"].sum())
    ess = []
    for name in z.files:
        if name in STATS:
            continue
        a = z[name]
        a = a.reshape(a.shape[0], a.shape[1], -1)
        ess += [ess_bulk(a[:, :, j]) for j in range(a.shape[2])]
    min_ess = float(np.nanmin(ess))
    printed = printed_min_ess(p.stdout)
    if not abs(printed - min_ess) <= 0.5 + 1e-6 * min_ess:
        print(f"  warning: ESS ported here ({min_ess:.1f}) and the runtime's ({printed:.0f}) differ", file=sys.stderr)
    return {
        "min_ess_bulk": min_ess,
        "sampling_s": float(samp.sum()),
        "warmup_s": float(warm.sum()),
        "ess_per_s": min_ess / float(samp.sum()),
        "us_per_leapfrog": 1e6 * float(samp.sum()) / leapfrogs,
        "first_draw_s": (written - start) - sampler_wall,
        "run_ess_per_s": min_ess / sampler_wall,
        "divergent": int(z["divergent__"].sum()),
        "max_rhat": float("nan"),
        "wall_s": wall,
        "sampler_wall_s": sampler_wall,
        "chains_s": float((warm + samp).sum()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--models", default="eight_schools,logreg")
    ap.add_argument("--tesserac", default=None, help="default: BUILD/tools/tesserac")
    ap.add_argument("--csv", default=os.path.join(HERE, "results", "inference.csv"))
    ap.add_argument("--no-stan", action="store_true")
    ap.add_argument("--stan-dir", default=os.environ.get("TESSERA_STAN_PEER",
                                                         os.path.join(ROOT, "..", "shared", "peers", "stan")))
    args = ap.parse_args()
    tesserac = os.path.abspath(args.tesserac or os.path.join(args.build, "tools", "tesserac"))
    csv_path = args.csv
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            sys.exit(f"inference_bench: unknown model '{m}' (known: {', '.join(MODELS)})")
    stan_dir = os.path.abspath(args.stan_dir)
    stan = not args.no_stan
    why_no_stan = ""
    if stan and not shutil.which("Rscript"):
        stan, why_no_stan = False, "Rscript not found (scripts/setup_bench.sh installs r-cran-rstan)"
    elif stan and not os.path.exists(os.path.join(stan_dir, "stan_peer.R")):
        stan, why_no_stan = False, f"{stan_dir}/stan_peer.R not found"
    elif not stan:
        why_no_stan = "--no-stan"

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"== NUTS against Stan: {cpu}, {os.cpu_count()} logical CPUs; 4 chains x (1000 warm-up + 1000 draws), "
          f"{args.rounds} round(s), each side in its own process, alternating")
    if not stan:
        print(f"  Stan peer not run: {why_no_stan}; no ratios")

    work = tempfile.mkdtemp(prefix="tessera-nuts-bench-")
    try:
        if "logreg" in models:
            subprocess.run([sys.executable, os.path.join(stan_dir, "make_logreg_data.py"), work], check=True)
        runs = []  # (model, side, round, figures)
        for r in range(args.rounds):
            for m in models:
                program, stan_model, stan_data = MODELS[m]
                data = os.path.join(stan_dir, stan_data) if stan_data else os.path.join(work, "logreg.json")
                if stan:
                    res = run_stan(stan_dir, stan_model, data)
                    runs.append((m, "Stan (rstan 2.21, 1 core)", r, res))
                    print(f"  {m} round {r + 1}: Stan     ESS/s {res['ess_per_s']:10.1f}  "
                          f"{res['us_per_leapfrog']:8.2f} us/leapfrog  compile {res['first_draw_s']:.1f} s", flush=True)
                for threads, label in ((1, "ours, --threads 1"), (0, f"ours, all threads ({os.cpu_count()})")):
                    res = run_ours(tesserac, os.path.join(HERE, program), work, threads)
                    runs.append((m, label, r, res))
                    seq = ""
                    if threads == 1:
                        # One thread: the chains run one after another, so the sampler's wall time
                        # covers the sum of the chains' times.
                        seq = "  sequential" if res["sampler_wall_s"] >= 0.98 * res["chains_s"] else \
                            f"  NOT sequential (wall {res['sampler_wall_s']:.3f} s < chains {res['chains_s']:.3f} s)"
                    print(f"  {m} round {r + 1}: {label:24s} ESS/s {res['ess_per_s']:10.1f}  "
                          f"{res['us_per_leapfrog']:8.2f} us/leapfrog  first draw {res['first_draw_s']:.2f} s{seq}",
                          flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # The table: medians over rounds.
    keys = ["min_ess_bulk", "sampling_s", "ess_per_s", "us_per_leapfrog", "first_draw_s", "run_ess_per_s", "divergent"]
    rows = {}
    for m, side, r, res in runs:
        rows.setdefault((m, side), []).append(res)
    med = {k: {f: statistics.median([x[f] for x in v]) for f in keys} for k, v in rows.items()}
    print()
    print("| model | side | min bulk ESS | sampling s (sum) | ESS/s | us/leapfrog | first draw s | run ESS/s | "
          "ESS/s vs Stan | target |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in models:
        peer = med.get((m, "Stan (rstan 2.21, 1 core)"))
        for (mm, side), f in med.items():
            if mm != m:
                continue
            ratio = target = "–"
            if peer and not side.startswith("Stan"):
                ratio = f"{f['ess_per_s'] / peer['ess_per_s']:.2f}x"
                if "--threads 1" in side:
                    ok = f["ess_per_s"] / peer["ess_per_s"] >= TARGETS[m]
                    target = f">= {TARGETS[m]:g}x ({'pass' if ok else 'FAIL'})"
            elif not peer and "--threads 1" in side:
                target = f">= {TARGETS[m]:g}x (no peer)"
            print(f"| {m} | {side} | {f['min_ess_bulk']:.0f} | {f['sampling_s']:.3f} | {f['ess_per_s']:.1f} | "
                  f"{f['us_per_leapfrog']:.2f} | {f['first_draw_s']:.2f} | {f['run_ess_per_s']:.1f} | {ratio} | {target} |")
    ours_first = [f["first_draw_s"] for (m, s), f in med.items() if not s.startswith("Stan")]
    if ours_first:
        worst = max(ours_first)
        print(f"\nsource to first draw (ours, compile included): at most {worst:.2f} s "
              f"(target <= {COMPILE_TARGET_S:g} s: {'pass' if worst <= COMPILE_TARGET_S else 'FAIL'})")

    os.makedirs(os.path.dirname(os.path.abspath(csv_path)), exist_ok=True)
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "side", "round", "min_ess_bulk", "warmup_s", "sampling_s", "ess_per_s", "us_per_leapfrog",
                    "first_draw_s", "run_ess_per_s", "divergent", "process_wall_s", "cpu"])
        for m, side, r, res in runs:
            w.writerow([m, side, r + 1, f"{res['min_ess_bulk']:.1f}", f"{res['warmup_s']:.4f}",
                        f"{res['sampling_s']:.4f}", f"{res['ess_per_s']:.2f}", f"{res['us_per_leapfrog']:.3f}",
                        f"{res['first_draw_s']:.3f}", f"{res['run_ess_per_s']:.2f}", res["divergent"],
                        "" if res["wall_s"] is None else f"{res['wall_s']:.3f}", cpu])
    print(f"wrote {csv_path}")


if __name__ == "__main__":
    main()

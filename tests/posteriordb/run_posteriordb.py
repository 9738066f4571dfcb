#!/usr/bin/python3
"""posteriordb acceptance test: our NUTS against reference posteriors.

For each model folder of a posteriordb-style database (model.stan, data.json, reference.json
with per-parameter mean/sd), this runs its .tsr translation with `tesserac run` and holds every
reference parameter to the rule of ../shared/posteriordb/README.md (4 chains x 1000 draws after
1000 warm-up, which the translations set):

  |our mean - ref mean| < 0.25 ref sd,  |our sd / ref sd - 1| < 0.25,
  split R-hat < 1.05,                    <= 1% divergent transitions.

The translation of folder F is F/model.tsr in the database when it has one (so that unseen
databases can bring their own), else tests/posteriordb/F.tsr. main() of the translation loads
its data with load("<name>.npy") from the working directory and ends with post.save("draws.npz").
Each data.json entry is written as <name>.npy into a temporary directory, with the dtype that
the translation's `name: Tensor[..., dtype] = load("name.npy")` declares (f64 when not declared
for reals, i64 for integers); the program runs there. Reference names such as beta[1] or
L[2,1] are Stan's 1-based element names; they are compared with element [0] / [1, 0] of the
draws' field `beta` / `L`.

Models listed in tests/posteriordb/pending.txt ("folder: reason") are skipped and reported.

Usage: run_posteriordb.py [--tesserac PATH] [--db DIR] [--timeout S] [--keep DIR] [-v] [MODEL...]
Exit status 1 when any model fails (or cannot run), 0 otherwise. Needs only numpy.
"""
import argparse
import json
import math
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
REPO = os.path.dirname(os.path.dirname(HERE))

MEAN_TOL = 0.25   # |mean - ref mean| / ref sd
SD_TOL = 0.25     # |sd / ref sd - 1|
RHAT_MAX = 1.05
DIVERGENT_MAX = 0.01

DTYPES = {"f64": np.float64, "f32": np.float32, "i64": np.int64, "i32": np.int32,
          "bool": np.bool_}


# ---------------------------------------------------------------------------- diagnostics

def rankdata(a):
    """Average ranks (1-based) of a flat array, ties sharing their mean rank (scipy's)."""
    a = np.asarray(a).ravel()
    sorter = np.argsort(a, kind="mergesort")
    inv = np.empty(sorter.size, dtype=np.intp)
    inv[sorter] = np.arange(sorter.size)
    s = a[sorter]
    obs = np.r_[True, s[1:] != s[:-1]]
    dense = obs.cumsum()[inv]
    count = np.r_[np.nonzero(obs)[0], len(obs)]
    return 0.5 * (count[dense] + count[dense - 1] + 1)


_inv_cdf = np.vectorize(statistics.NormalDist().inv_cdf, otypes=[np.float64])


def split_chains(x):
    """[chains, draws] -> [2 * chains, draws // 2]; the middle draw of an odd chain dropped."""
    n = x.shape[1] // 2
    return np.concatenate([x[:, :n], x[:, x.shape[1] - n:]], axis=0)


def basic_rhat(x):
    m, n = x.shape
    chain_mean = x.mean(axis=1)
    w = x.var(axis=1, ddof=1).mean()
    b = n * chain_mean.var(ddof=1)
    var_plus = (n - 1) / n * w + b / n
    return math.sqrt(var_plus / w) if w > 0 else float("nan")


def z_scale(x):
    r = rankdata(x).reshape(x.shape)
    return _inv_cdf((r - 0.375) / (x.size + 0.25))


def rhat(draws):
    """Rank-normalized split R-hat (Vehtari et al. 2021): max of the bulk and the folded one.

    draws: [chains, draws]. NaN for a constant or non-finite quantity."""
    x = np.asarray(draws, dtype=np.float64)
    if not np.all(np.isfinite(x)) or np.ptp(x) < np.finfo(np.float64).eps:
        return float("nan")
    s = split_chains(x)
    bulk = basic_rhat(z_scale(s))
    folded = np.abs(s - np.median(s))
    tail = basic_rhat(z_scale(folded))
    return max(bulk, tail)


# ---------------------------------------------------------------------------- inputs

def declared_loads(tsr_text):
    """{file stem: dtype name} from `name: Tensor[..., dtype] = load("stem.npy")`."""
    out = {}
    for m in re.finditer(r":\s*Tensor\[([^\]]*)\]\s*=\s*load\(\s*\"([^\"]+)\.npy\"\s*\)", tsr_text):
        args = [a.strip() for a in m.group(1).split(",")]
        dtype = None
        for a in args:
            a = a.split("=")[-1].strip()
            if a in DTYPES:
                dtype = a
        out[m.group(2)] = dtype
    return out


def is_int_data(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, list):
        return all(is_int_data(e) for e in v)
    return False


def write_data(data, loads, workdir):
    for name, value in data.items():
        dtype = loads.get(name)
        if dtype is None:
            dtype = "i64" if is_int_data(value) else "f64"
        np.save(os.path.join(workdir, name + ".npy"), np.array(value, dtype=DTYPES[dtype]))
    missing = [n for n in loads if n not in data]
    return missing


def parse_ref_name(name):
    """'beta[1]' -> ('beta', (0,)), 'L[2,1]' -> ('L', (1, 0)), 'mu' -> ('mu', ())."""
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9,\s]+)\])?", name)
    if not m:
        raise ValueError(f"cannot read the parameter name {name!r}")
    if m.group(2) is None:
        return m.group(1), ()
    return m.group(1), tuple(int(i) - 1 for i in m.group(2).split(","))


def read_pending(path):
    pending = {}
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(":")
            pending[name.strip()] = reason.strip()
    return pending


# ---------------------------------------------------------------------------- one model

def translation_of(db, folder):
    own = os.path.join(db, folder, "model.tsr")
    if os.path.exists(own):
        return own
    ours = os.path.join(HERE, folder + ".tsr")
    return ours if os.path.exists(ours) else None


def check_model(folder, db, tesserac, timeout, workdir, verbose):
    """Runs one model in workdir. Returns (ok, summary line)."""
    tsr = translation_of(db, folder)
    ref = json.load(open(os.path.join(db, folder, "reference.json")))
    data = json.load(open(os.path.join(db, folder, "data.json")))
    loads = declared_loads(open(tsr).read())

    missing = write_data(data, loads, workdir)
    if missing:
        return False, f"FAIL {folder}: the translation loads {', '.join(missing)} " \
                      f"which data.json does not have"

    start = time.monotonic()
    try:
        proc = subprocess.run([tesserac, "run", os.path.abspath(tsr)], cwd=workdir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"FAIL {folder}: tesserac run did not finish in {timeout} s"
    wall = time.monotonic() - start
    if verbose:
        print(proc.stdout, end="")
    with open(os.path.join(workdir, "output.txt"), "w") as out:
        out.write(proc.stdout)
    npz = os.path.join(workdir, "draws.npz")
    if proc.returncode != 0 or not os.path.exists(npz):
        tail = "\n".join(proc.stdout.rstrip().splitlines()[-15:])
        return False, f"FAIL {folder}: tesserac run exited with {proc.returncode}" \
                      f"{'' if os.path.exists(npz) else ' and wrote no draws.npz'}\n{tail}"

    draws = np.load(npz)
    failures = []
    worst_mean = (0.0, "")
    worst_sd = (0.0, "")
    max_rhat = (0.0, "")
    for pname, stats in ref["params"].items():
        field, index = parse_ref_name(pname)
        # A Stan name that is a keyword of the language (lambda) is written with a trailing
        # underscore, as PEP 8 does (lambda_).
        if field not in draws.files and field + "_" in draws.files:
            field += "_"
        if field not in draws.files:
            failures.append(f"  {folder} {pname}: no field '{field}' in draws.npz "
                            f"(fields: {', '.join(f for f in draws.files if not f.endswith('__'))})")
            continue
        arr = draws[field]
        if arr.ndim != 2 + len(index) or any(i >= s for i, s in zip(index, arr.shape[2:])):
            failures.append(f"  {folder} {pname}: field '{field}' has draws of shape "
                            f"{list(arr.shape[2:])}, no element {list(index)} (0-based)")
            continue
        x = arr[(slice(None), slice(None)) + index]
        mean = float(x.mean())
        sd = float(x.std(ddof=1))
        r = rhat(x)
        dmean = abs(mean - stats["mean"]) / stats["sd"]
        dsd = abs(sd / stats["sd"] - 1)
        if dmean > worst_mean[0]:
            worst_mean = (dmean, pname)
        if dsd > worst_sd[0]:
            worst_sd = (dsd, pname)
        if not (r <= max_rhat[0]):
            max_rhat = (r, pname)
        problems = []
        if not dmean < MEAN_TOL:
            problems.append(f"|mean - ref| = {dmean:.3f} ref sd (>= {MEAN_TOL})")
        if not dsd < SD_TOL:
            problems.append(f"sd / ref sd = {sd / stats['sd']:.3f} (off by >= {SD_TOL})")
        if not r < RHAT_MAX:
            problems.append(f"R-hat = {r:.4f} (>= {RHAT_MAX})")
        if problems:
            failures.append(f"  {folder} {pname}: mean {mean:.6g} (ref {stats['mean']:.6g}), "
                            f"sd {sd:.6g} (ref {stats['sd']:.6g}): " + "; ".join(problems))
    div = draws["divergent__"] if "divergent__" in draws.files else None
    if div is None:
        failures.append(f"  {folder}: no divergent__ in draws.npz")
        ndiv, ntot = 0, 0
    else:
        ndiv, ntot = int(np.sum(div != 0)), int(div.size)
        if ndiv > DIVERGENT_MAX * ntot:
            failures.append(f"  {folder}: {ndiv} of {ntot} transitions divergent "
                            f"({100.0 * ndiv / ntot:.2f}% > {100 * DIVERGENT_MAX:.0f}%)")
    chains, nd = (div.shape if div is not None else (0, 0))
    for line in failures:
        print(line)
    ok = not failures
    summary = (f"{'PASS' if ok else 'FAIL'} {folder}: {len(ref['params'])} parameters, "
               f"{chains}x{nd} draws; worst |dmean|/sd {worst_mean[0]:.3f} ({worst_mean[1]}), "
               f"worst |sd ratio - 1| {worst_sd[0]:.3f} ({worst_sd[1]}), "
               f"max R-hat {max_rhat[0]:.4f} ({max_rhat[1]}), "
               f"divergent {ndiv}/{ntot} ({100.0 * ndiv / max(ntot, 1):.2f}%), "
               f"wall {wall:.1f} s")
    return ok, summary


# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="model folders (default: every translated one)")
    ap.add_argument("--tesserac", default=os.environ.get(
        "TESSERAC", os.path.join(REPO, "build", "tools", "tesserac")))
    ap.add_argument("--db", default=os.path.join(REPO, "..", "shared", "posteriordb"),
                    help="database directory (default ../shared/posteriordb)")
    ap.add_argument("--pending", default=os.path.join(HERE, "pending.txt"))
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per model")
    ap.add_argument("--keep", help="run in KEEP/<model> and keep the files there")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the programs' output")
    args = ap.parse_args()

    db = os.path.abspath(args.db)
    tesserac = os.path.abspath(args.tesserac)
    if not os.path.isdir(db):
        print(f"no database directory {db}")
        return 1
    if not os.access(tesserac, os.X_OK):
        print(f"no tesserac at {tesserac}")
        return 1
    folders = sorted(d for d in os.listdir(db)
                     if os.path.exists(os.path.join(db, d, "reference.json")))
    pending = read_pending(args.pending)
    explicit = bool(args.models)
    if explicit:
        unknown = [m.rstrip("/") for m in args.models if m.rstrip("/") not in folders]
        if unknown:
            print(f"not in {db}: {', '.join(unknown)}")
            return 1
        folders = [m.rstrip("/") for m in args.models]

    results = []
    total_start = time.monotonic()
    for folder in folders:
        if folder in pending:
            print(f"PENDING {folder}: {pending[folder]}")
            results.append((folder, "pending"))
            continue
        if translation_of(db, folder) is None:
            print(f"{'FAIL' if explicit else 'UNTRANSLATED'} {folder}: no {folder}/model.tsr "
                  f"in the database and no tests/posteriordb/{folder}.tsr")
            results.append((folder, "fail" if explicit else "untranslated"))
            continue
        if args.keep is None:
            workdir = tempfile.mkdtemp(prefix="posteriordb-" + folder + "-")
        else:
            workdir = os.path.join(os.path.abspath(args.keep), folder)
            os.makedirs(workdir, exist_ok=True)
        ok, summary = check_model(folder, db, tesserac, args.timeout, workdir, args.verbose)
        if args.keep is None:
            if ok:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                summary += f"\n  (data, program output and draws kept in {workdir})"
        print(summary, flush=True)
        results.append((folder, "pass" if ok else "fail"))
    counts = {k: sum(1 for _, r in results if r == k)
              for k in ("pass", "fail", "pending", "untranslated")}
    print(f"posteriordb: {counts['pass']} passed, {counts['fail']} failed, "
          f"{counts['pending']} pending, {counts['untranslated']} untranslated "
          f"({time.monotonic() - total_start:.0f} s)")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())

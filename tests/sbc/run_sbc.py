#!/usr/bin/python3
"""Simulation-based calibration (Talts et al. 2018) of our NUTS on two small models.

For each model, R = 200 replications: the parameters drawn from the prior and the data from the
likelihood with NumPy (seeded: the test is deterministic), then one NUTS fit per replication
(2 chains x 500 draws after 500 warm-up). The rank of each true parameter among L = 99 thinned
posterior draws (every 10th of the 1000) is uniform on {0, ..., 99} when the sampler is right;
the ranks go into B = 10 bins of 10 and each checked parameter gets a chi-square uniformity test
(scipy.stats.chisquare, 9 degrees of freedom, 20 expected per bin). The test fails when any
p-value is below 0.01 / (number of checked parameters over all models): Bonferroni at a
family-wise alpha of 0.01, so a correct sampler fails about once in a hundred runs of a new
compiler (the runs are deterministic: a given build passes or fails every time).

Models:
  normal_mean   mu ~ Normal(0, 1); y_i ~ Normal(mu, 1), N = 10.           checks mu
  hierarchical  mu ~ Normal(0, 1); tau ~ HalfNormal(1); z_j ~ Normal(0, 1), J = 5;
                theta = mu + tau z; y_j ~ Normal(theta_j, sigma_j), sigma known.
                                                                         checks mu, tau, theta[0]

One program per model: main() loads the stacked data (ys: Tensor[200, N, f64]) and calls the
@tessera.mcmc function once per replication in a loop, so the model compiles once. The NUTS
seed is a constant of the decorator, and replications fitted with the same seed are not
independent (common random numbers couple the chains: with one seed for all 200 replications of
normal_mean the standardized draws of different replications correlate by about 0.004, which
nearly doubles the variance of their average and inflates the chi-square statistic). So the
program holds SEED_GROUPS copies of the model, each with its own seed, each fitting
R / SEED_GROUPS consecutive replications (5 with 40 copies); the copies cost compile time
(about 0.25 s each, cached afterwards). Within a group of 5 the shared seed inflates a bin
count's variance by well under 1%.

Thinning: the bulk ESS of every checked parameter is printed (min and median over the
replications; computed by the runtime from all 1000 draws). With an ESS of at least ESS_MIN_FRACTION
x 1000 draws, the integrated autocorrelation time is below the thinning step of 10, so the 99
thinned draws are close to independent (Talts et al. section 5: autocorrelated draws make a
correct sampler fail). The run fails when the median bulk ESS of a parameter is below L.

--self-test runs normal_mean with the wrong likelihood (sd 0.5 in the program while the data are
simulated with sd 1): the posterior is too narrow, the ranks pile up at both ends, and the test
must fail. That mode exits 0 when it does and 1 when the wrong model passes.

Usage: run_sbc.py [--tesserac PATH] [--self-test] [--keep DIR] [--seed-groups K] [-v]
Needs numpy and scipy (Debian's /usr/bin/python3).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

R = 200              # replications per model
CHAINS = 2
WARMUP = 500         # per chain
DRAWS = 500          # per chain, after warm-up
S = CHAINS * DRAWS   # draws per fit, chains one after the other (post.samples)
THIN = 10
L = 99               # thinned draws: indices 0, 10, ..., 980; ranks in 0..L
B = 10               # bins of (L + 1) / B = 10 ranks
FAMILY_ALPHA = 0.01  # Bonferroni over every checked parameter of every model
SEED_GROUPS = 40     # copies of each model with their own NUTS seed

assert (L + 1) % B == 0 and (L - 1) * THIN < S and R % SEED_GROUPS == 0


# ------------------------------------------------------------------------------------ models
#
# Each model: the body of the @tessera.mcmc function (its parameter list and Posterior fields),
# a simulator drawing (truths, data) for R replications, the declarations main() loads, and the
# checked parameters (Posterior field names, scalars).

NORMAL_N = 10
HIER_SIGMA = np.array([0.5, 1.0, 1.5, 2.0, 1.0])  # known measurement sds, J = 5


def simulate_normal_mean(rng):
    mu = rng.normal(0.0, 1.0, size=R)
    y = mu[:, None] + rng.normal(0.0, 1.0, size=(R, NORMAL_N))
    return {"mu": mu}, {"ys": y}


def simulate_hierarchical(rng):
    j = HIER_SIGMA.size
    mu = rng.normal(0.0, 1.0, size=R)
    tau = np.abs(rng.normal(0.0, 1.0, size=R))
    z = rng.normal(0.0, 1.0, size=(R, j))
    theta = mu[:, None] + tau[:, None] * z
    y = theta + HIER_SIGMA * rng.normal(0.0, 1.0, size=(R, j))
    return ({"mu": mu, "tau": tau, "theta0": theta[:, 0]},
            {"ys": y, "sigma": HIER_SIGMA.copy()})


def normal_mean_body(likelihood_sd):
    return ("(y: Tensor[\"N\", f64]) -> Posterior:\n"
            "    mu ~ Normal(0.0, 1.0)\n"
            f"    y ~ Normal(mu, {likelihood_sd!r})\n"
            "    return Posterior(mu=mu)\n")


MODELS = {
    "normal_mean": {
        "body": normal_mean_body(1.0),
        "simulate": simulate_normal_mean,
        "loads": [("ys", f"Tensor[{R}, {NORMAL_N}, f64]")],
        "call": "ys[r]",
        "params": ["mu"],
        "data_seed": 1,
    },
    "hierarchical": {
        "body": ("(y: Tensor[\"J\", f64], sigma: Tensor[\"J\", f64]) -> Posterior:\n"
                 "    mu ~ Normal(0.0, 1.0)\n"
                 "    tau ~ HalfNormal(1.0)\n"
                 "    z ~ Normal(0.0, 1.0, shape=[J])\n"
                 "    theta = mu + tau * z\n"
                 "    y ~ Normal(theta, sigma)\n"
                 "    return Posterior(mu=mu, tau=tau, theta0=theta[0])\n"),
        "simulate": simulate_hierarchical,
        "loads": [("ys", f"Tensor[{R}, {HIER_SIGMA.size}, f64]"),
                  ("sigma", f"Tensor[{HIER_SIGMA.size}, f64]")],
        "call": "ys[r], sigma",
        "params": ["mu", "tau", "theta0"],
        "data_seed": 2,
    },
}

# The self-test: normal_mean's data, a program whose likelihood sd is 0.5 instead of 1.
SELF_TEST = dict(MODELS["normal_mean"], body=normal_mean_body(0.5))


def program(name, model, seed_groups):
    """The .tsr: seed_groups copies of the model (NUTS seeds 1, 2, ...), and main(), which fits
    the replications in a loop and saves, per checked parameter P, draws_P.npy [R, S] (chains one
    after the other) and ess_P.npy [R] (the runtime's bulk ESS)."""
    per = R // seed_groups
    out = [f"# Generated by tests/sbc/run_sbc.py: simulation-based calibration of '{name}'.\n\n"]
    for k in range(seed_groups):
        out.append(f"@tessera.mcmc(chains={CHAINS}, num_warmup={WARMUP}, num_samples={DRAWS}, "
                   f"seed={k + 1})\n")
        out.append(f"def {name}_{k}{model['body']}\n")
    out.append("def main():\n")
    for var, ty in model["loads"]:
        out.append(f"    {var}: {ty} = load(\"{var}.npy\")\n")
    # No indexed assignment (out[r] = ... is E0900), so each fit is added in through a one-hot
    # row; samples() has a dynamic length (draws'1), so it is sliced to the static S first.
    out.append(f"    idx = arange({R}).astype(f64)\n")
    for p in model["params"]:
        out.append(f"    draws_{p} = zeros({R}, {S}).astype(f64)\n")
        out.append(f"    ess_{p} = zeros({R}).astype(f64)\n")
    for k in range(seed_groups):
        out.append(f"    for r in range({k * per}, {(k + 1) * per}):\n")
        out.append(f"        post = {name}_{k}({model['call']})\n")
        out.append("        hot = (idx == r).astype(f64)\n")
        for p in model["params"]:
            out.append(f"        draws_{p} = draws_{p} + hot.reshape({R}, 1) * "
                       f"post.samples(\"{p}\")[0:{S}].reshape(1, {S})\n")
            out.append(f"        ess_{p} = ess_{p} + hot * post.ess(\"{p}\")\n")
    for p in model["params"]:
        out.append(f"    save(draws_{p}, \"draws_{p}.npy\")\n")
        out.append(f"    save(ess_{p}, \"ess_{p}.npy\")\n")
    return "".join(out)


# ------------------------------------------------------------------------------------ ranks

def ranks_of(draws, truth):
    """Rank of each truth among its replication's L thinned draws: 0..L."""
    thinned = draws[:, :L * THIN:THIN]
    assert thinned.shape == (R, L)
    return (thinned < truth[:, None]).sum(axis=1)


def histogram(ranks):
    return np.bincount(ranks * B // (L + 1), minlength=B)


# ------------------------------------------------------------------------------------ driver

def start(name, model, tesserac, workdir, seed_groups, threads):
    os.makedirs(workdir, exist_ok=True)
    truths, data = model["simulate"](np.random.default_rng(model["data_seed"]))
    for var, value in data.items():
        np.save(os.path.join(workdir, f"{var}.npy"), value)
    with open(os.path.join(workdir, "sbc.tsr"), "w") as f:
        f.write(program(name, model, seed_groups))
    cmd = [tesserac, "run", "sbc.tsr"]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    return proc, truths


def finish(name, model, proc, truths, workdir, timeout, alpha, verbose):
    """Returns (ran, [(param, p_value)]) and prints the histograms."""
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        print(f"FAIL {name}: tesserac run did not finish in {timeout:.0f} s")
        return False, []
    if verbose and output.strip():
        print(output.rstrip())
    if proc.returncode != 0:
        print(f"FAIL {name}: tesserac run exited with {proc.returncode}\n{output.rstrip()}")
        return False, []
    results = []
    for p in model["params"]:
        draws = np.load(os.path.join(workdir, f"draws_{p}.npy"))
        ess = np.load(os.path.join(workdir, f"ess_{p}.npy"))
        ranks = ranks_of(draws, truths[p])
        hist = histogram(ranks)
        chi2, pval = stats.chisquare(hist)
        ok = pval >= alpha and np.median(ess) >= L
        verdict = "ok" if ok else "FAIL"
        print(f"{verdict:4} {name} {p:7} ranks in {B} bins: {' '.join(f'{c:3d}' for c in hist)}"
              f"   chi2 = {chi2:6.2f}  p = {pval:.4f}"
              f"   bulk ESS min {ess.min():5.0f} median {np.median(ess):5.0f}")
        if np.median(ess) < L:
            print(f"     the median bulk ESS of {p} is below L = {L}: the thinned draws are "
                  f"autocorrelated and the ranks are not a fair test")
            pval = 0.0
        results.append((p, pval))
    return True, results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tesserac", default=os.environ.get(
        "TESSERAC", os.path.join(REPO, "build", "tools", "tesserac")))
    ap.add_argument("--self-test", action="store_true",
                    help="check that a wrong posterior fails (exit 0 when it does)")
    ap.add_argument("--seed-groups", type=int, default=SEED_GROUPS,
                    help=f"copies of each model with their own NUTS seed (default {SEED_GROUPS}; "
                         f"must divide {R})")
    ap.add_argument("--threads", type=int, default=0, help="--threads of each tesserac run")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per model")
    ap.add_argument("--keep", help="work in KEEP/<model> and keep the files there")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the programs' output")
    args = ap.parse_args()
    tesserac = os.path.abspath(args.tesserac)
    if not os.access(tesserac, os.X_OK):
        print(f"no tesserac at {tesserac}")
        return 1
    if args.seed_groups < 1 or R % args.seed_groups:
        print(f"--seed-groups must divide {R}")
        return 2

    models = {"normal_mean_wrong_sd": SELF_TEST} if args.self_test else MODELS
    # The self-test is held to the same threshold as the real run (4 parameters).
    n_params = sum(len(m["params"]) for m in MODELS.values())
    alpha = FAMILY_ALPHA / n_params
    root = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="sbc-")
    began = time.monotonic()
    # Both programs at once: each fit runs its 2 chains on 2 threads; compiling is one thread.
    running = []
    for name, model in models.items():
        workdir = os.path.join(root, name)
        proc, truths = start(name.replace("_wrong_sd", ""), model, tesserac, workdir,
                             args.seed_groups, args.threads)
        running.append((name, model, proc, truths, workdir))
    ran_all, pvalues = True, []
    for name, model, proc, truths, workdir in running:
        ran, results = finish(name, model, proc, truths, workdir, args.timeout, alpha,
                              args.verbose)
        ran_all &= ran
        pvalues += [(name, p, v) for p, v in results]
    elapsed = time.monotonic() - began
    failed = [(n, p, v) for n, p, v in pvalues if v < alpha]
    print(f"sbc: {R} replications per model, {CHAINS} chains x {DRAWS} draws after {WARMUP} "
          f"warm-up, {L} thinned draws (every {THIN}th), {B} bins, {args.seed_groups} NUTS "
          f"seeds per model; threshold p < {alpha:g} (family-wise {FAMILY_ALPHA} Bonferroni over "
          f"{n_params} parameters); {elapsed:.1f} s")
    if args.keep is None and ran_all and (not failed) != args.self_test:
        shutil.rmtree(root, ignore_errors=True)
    elif args.keep is None:
        print(f"(programs, data and draws kept in {root})")
    if not ran_all:
        return 1
    if args.self_test:
        if failed:
            print(f"sbc self-test: the wrong model fails as it must "
                  f"(min p = {min(v for _, _, v in pvalues):.3g})")
            return 0
        print("sbc self-test: FAIL, the wrong model passed: the test has no power")
        return 1
    print(f"sbc: {len(pvalues) - len(failed)} of {len(pvalues)} parameters calibrated")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Every constraint's bijection and log-Jacobian, and the log density's gradient, against
SciPy and finite differences.

For each model below (one latent variable x ~ D, parameters in f64 so that the latent is f64),
tesserac runs the program with TESSERA_LOGP_PROBE (runtime/src/codegen_infer.cpp): the compiled
log density lp(u), its gradient and the Posterior's field x(u) at chosen unconstrained points u
and at u +- h e_i. Then, at each point:

  lp(u) = log p_D(x(u)) + log |det dx_keep/du|      (SciPy's density; Jacobian by central
                                                      differences; for a simplex the last
                                                      component of each vector is dropped, for
                                                      a correlation matrix's Cholesky factor
                                                      all but the strictly lower triangle)
  grad lp(u) = central differences of lp

Usage: check_bijections.py [--tesserac PATH] [-v] [NAME...]. Exit 1 on any mismatch.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import scipy.stats as st
import scipy.special as ssp

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

H = 1e-5
TOL = 1e-6  # on lp (absolute, values of order 1-10) and on each gradient entry (relative)


def dirichlet_logpdf(x, a):
    return float(np.sum((a - 1) * np.log(x)) + ssp.gammaln(a.sum()) - ssp.gammaln(a).sum())


def lkj_cholesky_logpdf(x, k, eta):
    # torch.distributions.LKJCholesky's density of the factor L (x, row-major [k, k]).
    diag = np.diag(x.reshape(k, k))
    order = np.array([0.0] + [k - i - 1 + 2 * (eta - 1) for i in range(1, k)])
    alpha = eta + 0.5 * (k - 1)
    mvlgamma = 0.25 * (k - 1) * (k - 2) * np.log(np.pi) + sum(ssp.gammaln(alpha - 0.5 - 0.5 * j) for j in range(k - 1))
    normalizer = 0.5 * (k - 1) * np.log(np.pi) + mvlgamma - (k - 1) * ssp.gammaln(alpha)
    return float(np.sum(order * np.log(diag)) - normalizer)


# name: (declaration of x, data {name: array}, P, keep (indices of x in the Jacobian), log p(x))
A2 = np.array([2.5, 0.7])
B2 = np.array([1.5, 2.0])
M3 = np.array([-0.5, 0.3, 1.0])
S3 = np.array([1.2, 0.6, 2.0])
DA = np.array([1.5, 2.0, 0.7, 3.0])
DA2 = np.array([[2.0, 0.5, 1.0], [1.0, 1.0, 4.0]])
COV = np.array([[2.0, 0.6, -0.4], [0.6, 1.0, 0.3], [-0.4, 0.3, 0.5]])
MODELS = {
    "real": ("x ~ Normal(m, s)", {"m": M3, "s": S3}, 3, None, lambda x: st.norm.logpdf(x, M3, S3).sum()),
    "positive": ("x ~ Gamma(a, b)", {"a": A2, "b": B2}, 2, None, lambda x: st.gamma.logpdf(x, A2, scale=1 / B2).sum()),
    "positive_lognormal": ("x ~ LogNormal(m, s)", {"m": M3, "s": S3}, 3, None,
                           lambda x: st.lognorm.logpdf(x, S3, scale=np.exp(M3)).sum()),
    "unit": ("x ~ Beta(a, b)", {"a": A2, "b": B2}, 2, None, lambda x: st.beta.logpdf(x, A2, B2).sum()),
    "interval": ("x ~ Uniform(lo, hi)", {"lo": np.array([-1.0, 0.5]), "hi": np.array([3.0, 0.7])}, 2, None,
                 lambda x: st.uniform.logpdf(x, [-1.0, 0.5], [4.0, 0.2]).sum()),
    "ordered": ("x ~ Normal(m, s, ordered=True)", {"m": M3, "s": S3}, 3, None, lambda x: st.norm.logpdf(x, M3, S3).sum()),
    "positive_ordered": ("x ~ HalfNormal(s, ordered=True)", {"s": S3}, 3, None,
                         lambda x: st.halfnorm.logpdf(x, scale=S3).sum()),
    "simplex": ("x ~ Dirichlet(a)", {"a": DA}, 3, [0, 1, 2], lambda x: dirichlet_logpdf(x, DA)),
    "simplex_rows": ("x ~ Dirichlet(a)", {"a": DA2}, 4, [0, 1, 3, 4],
                     lambda x: dirichlet_logpdf(x[:3], DA2[0]) + dirichlet_logpdf(x[3:], DA2[1])),
    "multivariate_normal": ("x ~ MultivariateNormal(m, covariance_matrix=c)", {"m": M3, "c": COV}, 3, None,
                            lambda x: st.multivariate_normal(M3, COV).logpdf(x)),
    # The Cholesky factor of a correlation matrix: the strictly lower triangle is free.
    "cholesky_corr": ("x ~ LKJCholesky(3, tensor(2.5, dtype=f64))", {}, 3, [3, 6, 7],
                      lambda x: lkj_cholesky_logpdf(x, 3, 2.5)),
    "cholesky_corr_4": ("x ~ LKJCholesky(4, tensor(0.7, dtype=f64))", {}, 6, [4, 8, 9, 12, 13, 14],
                        lambda x: lkj_cholesky_logpdf(x, 4, 0.7)),
}


def program(decl, data):
    params = ", ".join(f"{k}: Tensor[{', '.join(str(d) for d in v.shape)}, f64]" for k, v in data.items())
    loads = "\n".join(f"    {k}: Tensor[{', '.join(str(d) for d in v.shape)}, f64] = load(\"{k}.npy\")"
                      for k, v in data.items())
    return (f"@tessera.mcmc(num_samples=5, num_warmup=5, chains=1, seed=1)\n"
            f"def model({params}) -> Posterior:\n    {decl}\n    return Posterior(x=x)\n\n"
            f"def main():\n{loads}\n    post = model({', '.join(data)})\n    print(post.mean(\"x\").shape)\n")


def check(name, tesserac, verbose):
    decl, data, p, keep, ref = MODELS[name]
    rng = np.random.default_rng(sum(name.encode()))
    base = rng.standard_normal((4, p))
    rows = []
    for u in base:
        rows.append(u)
        for i in range(p):
            for sgn in (1, -1):
                v = u.copy()
                v[i] += sgn * H
                rows.append(v)
    with tempfile.TemporaryDirectory(prefix="tessera-bij-") as tmp:
        for k, v in data.items():
            np.save(os.path.join(tmp, f"{k}.npy"), v)
        np.save(os.path.join(tmp, "points.npy"), np.array(rows, dtype=np.float64))
        with open(os.path.join(tmp, "m.tsr"), "w") as f:
            f.write(program(decl, data))
        env = dict(os.environ, TESSERA_LOGP_PROBE="points.npy:probe.npz", TESSERA_QUIET="1",
                   TESSERA_CACHE_DIR=os.path.join(tmp, "cache"))
        proc = subprocess.run([tesserac, "run", "--quiet", "m.tsr"], cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            return [f"{name}: tesserac exited {proc.returncode}\n{proc.stdout}{proc.stderr}"]
        out = np.load(os.path.join(tmp, "probe.npz"))
        lp, grad, fields = out["lp"], out["grad"], out["fields"]
    errors = []
    step = 1 + 2 * p
    for b in range(len(base)):
        r0 = b * step
        x = fields[r0]
        jac = np.empty((fields.shape[1], p))
        fd_grad = np.empty(p)
        for i in range(p):
            plus, minus = r0 + 1 + 2 * i, r0 + 2 + 2 * i
            jac[:, i] = (fields[plus] - fields[minus]) / (2 * H)
            fd_grad[i] = (lp[plus] - lp[minus]) / (2 * H)
        jk = jac if keep is None else jac[keep]
        logdet = np.linalg.slogdet(jk)[1]
        want = ref(x) + logdet
        if verbose:
            print(f"{name}[{b}]: lp {lp[r0]:.12g} want {want:.12g} (log p {ref(x):.6g}, log|J| {logdet:.6g})")
        if not abs(lp[r0] - want) <= TOL * max(1.0, abs(want)):
            errors.append(f"{name}: point {b}: lp {lp[r0]!r} != log p(x) + log|det J| = {want!r} (x = {x})")
        scale = np.maximum(1.0, np.abs(fd_grad))
        if not np.all(np.abs(grad[r0] - fd_grad) <= 1e-5 * scale):
            errors.append(f"{name}: point {b}: gradient {grad[r0]} != finite differences {fd_grad}")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tesserac", default=os.path.join(REPO, "build", "tools", "tesserac"))
    ap.add_argument("-v", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    names = args.names or list(MODELS)
    failures = []
    for n in names:
        errs = check(n, args.tesserac, args.v)
        print(("FAIL " if errs else "PASS ") + n)
        failures += errs
    for e in failures:
        print(e)
    print(f"bijections: {len(names) - len({e.split(':')[0] for e in failures})} of {len(names)} passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

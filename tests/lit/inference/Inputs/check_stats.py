"""Compares the statistics a program saved (post.mean / sd / quantile / samples) with NumPy on
the draws the same program saved (post.save("draws.npz")). Exits 1 on a difference."""
import os
import sys

import numpy as np

d = sys.argv[1]
draws = np.load(os.path.join(d, "draws.npz"))
load = lambda n: np.load(os.path.join(d, n))
checks = []
for field, stat, ref in (("w", "mean", lambda a: a.mean(0)), ("w", "sd", lambda a: a.std(0, ddof=1)),
                         ("w", "q10", lambda a: np.quantile(a, 0.1, axis=0)), ("fit", "mean", lambda a: a.mean(0)),
                         ("s", "sd", lambda a: a.std(0, ddof=1)), ("s", "q95", lambda a: np.quantile(a, 0.95, axis=0))):
    a = draws[field]
    flat = a.reshape((-1,) + a.shape[2:])
    got = load(f"{stat}_{field}.npy").astype(np.float64)
    want = ref(flat)
    checks.append((f"{stat}({field})", np.allclose(got, want, rtol=2e-6, atol=1e-7), got, want))
w = draws["w"]
got = load("samples_w.npy").astype(np.float64)
checks.append(("samples(w)", got.shape == (9 * 100, 3) and np.allclose(got, w.reshape(-1, 3), rtol=1e-6), got.shape, w.shape))
bad = [c for c in checks if not c[1]]
for name, _, got, want in bad:
    print(f"FAIL {name}: got {got}, NumPy {want}")
print(f"{len(checks) - len(bad)} of {len(checks)} statistics agree with NumPy")
sys.exit(1 if bad else 0)

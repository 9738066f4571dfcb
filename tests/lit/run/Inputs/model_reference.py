"""NumPy references for run_model_forward.tsr and run_optimizers.tsr (argv[1]: the output folder)."""
import os
import sys

import numpy as np

d = sys.argv[1]


def load(name):
    return np.load(os.path.join(d, name)).astype(np.float64)


def check(name, got, want, rtol=2e-5, atol=2e-6):
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        sys.exit(f"{name}: got {got}, want {want}")


if os.path.exists(os.path.join(d, "y.npy")):
    x, w0, b0, w1, b1 = (load(n) for n in ("x.npy", "w0.npy", "b0.npy", "w1.npy", "b1.npy"))
    assert w0.shape == (6, 8) and b0.shape == (8,) and w1.shape == (8, 3)
    assert np.abs(w0).max() <= 1 / np.sqrt(6) and np.abs(w1).max() <= 1 / np.sqrt(8)
    h = np.maximum(x @ w0 + b0, 0)
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)  # weight 1, bias 0
    h = h / np.sqrt((h * h).mean(-1, keepdims=True) + 1e-6)
    z = h @ w1 + b1
    e = np.exp(z - z.max(-1, keepdims=True))
    check("mlp", load("y.npy"), e / e.sum(-1, keepdims=True))

if os.path.exists(os.path.join(d, "cy.npy")):
    x, w, b, table = load("cx.npy"), load("cw.npy"), load("cb.npy"), load("table.npy")
    assert w.shape == (4, 2, 3, 3) and table.shape == (10, 4)
    n = x.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, 4, 8, 8))
    for i in range(8):
        for j in range(8):
            y[:, :, i, j] = np.einsum("nckl,ockl->no", xp[:, :, i:i + 3, j:j + 3], w) + b
    g = y.reshape(n, 2, -1)
    g = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)
    y = g.reshape(n, 4, 8, 8)
    ids = np.array([1, 7, 3])
    check("convnet", load("cy.npy"), y.mean(axis=(2, 3)) + table[ids], rtol=1e-4, atol=1e-5)

"""NumPy reference for run_optimizers.tsr: PyTorch's SGD and AdamW updates (argv[1]: the folder)."""
import os
import sys

import numpy as np

d = sys.argv[1]


def load(name):
    return np.load(os.path.join(d, name)).astype(np.float64)


def check(name, got, want):
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=1e-6):
        sys.exit(f"{name}: got {got}, want {want}")


p0 = [load("w0.npy"), load("b0.npy")]

# SGD: g = grad + wd * p; buf = momentum * buf + g (buf starts at g); p -= lr * buf. grad = p.
p = [x.copy() for x in p0]
buf = [None, None]
for _ in range(3):
    for i in range(2):
        g = p[i] + 0.01 * p[i]
        buf[i] = g if buf[i] is None else 0.9 * buf[i] + g
        p[i] = p[i] - 0.1 * buf[i]
check("sgd w", load("sgd_w.npy"), p[0])
check("sgd b", load("sgd_b.npy"), p[1])

# AdamW: p *= 1 - lr * wd; m, v moments; bias-corrected step. grad = p (before the decay).
lr, b1, b2, eps, wd = 0.01, 0.8, 0.99, 1e-6, 0.1
q = [x.copy() for x in p0]
m = [np.zeros_like(x) for x in q]
v = [np.zeros_like(x) for x in q]
for t in range(1, 5):
    for i in range(2):
        g = q[i].copy()
        q[i] = q[i] * (1 - lr * wd)
        m[i] = b1 * m[i] + (1 - b1) * g
        v[i] = b2 * v[i] + (1 - b2) * g * g
        mhat = m[i] / (1 - b1 ** t)
        vhat = v[i] / (1 - b2 ** t)
        q[i] = q[i] - lr * mhat / (np.sqrt(vhat) + eps)
check("adamw w", load("adam_w.npy"), q[0])
check("adamw b", load("adam_b.npy"), q[1])

# clip_grad_norm: total 2-norm over all tensors, scaled by min(1, max_norm / (norm + 1e-6)).
total = np.sqrt(sum((x * x).sum() for x in p0))
coef = min(1.0, 0.5 / (total + 1e-6))
check("clip w", load("clip_w.npy"), p0[0] * coef)
check("clip b", load("clip_b.npy"), p0[1] * coef)

"""NumPy reference for run_lr_schedules.tsr: the schedules of docs/models.md (argv[1]: the folder)."""
import math
import os
import sys

import numpy as np

d = sys.argv[1]


def load(name):
    return np.load(os.path.join(d, name)).astype(np.float64)


def check(name, got, want):
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=1e-6):
        sys.exit(f"{name}: got {got}, want {want}")


def warm_decay(kind, lr, steps, warmup=0, final=0.0):
    def at(s):  # s: steps taken before this one
        if s < warmup:
            return lr * (s + 1) / warmup
        p = min(max((s - warmup) / max(steps - warmup, 1), 0.0), 1.0)
        frac = 0.5 * (1 + math.cos(math.pi * p)) if kind == "cosine" else 1 - p
        return final + (lr - final) * frac
    return at


w0, b0 = load("w0.npy"), load("b0.npy")

cos = warm_decay("cosine", 0.5, 6, 2, 0.05)
for n in (1, 2, 3, 5, 8):
    check(f"cosine_decay after {n} steps", load(f"cos_{n}.npy"), b0 - sum(cos(s) for s in range(n)))

# step_decay with momentum 0.5: buf = 0.5 buf + g (starts at g), p -= lr_s * buf.
p, buf = w0.copy(), None
for s in range(5):
    g = np.ones_like(p)
    buf = g if buf is None else 0.5 * buf + g
    p = p - 0.4 * 0.5 ** (s // 2) * buf
check("step_decay", load("step_w.npy"), p)


def adamw(p, n, lr_at, wd, b1=0.9, b2=0.999, eps=1e-8):
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, n + 1):
        lr = lr_at(t - 1)
        g = p.copy()
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return p


check("linear_decay", load("lin_w.npy"), adamw(w0, 5, warm_decay("linear", 0.01, 4, 1), 0.1))
check("exponential_decay", load("exp_b.npy"), adamw(b0, 3, lambda s: 0.01 * 0.9 ** s, 1e-2))
print("ok")

"""Checks deterministic_conv_threads.tsr's outputs against NumPy (float64 references)."""
import sys

import numpy as np

d = sys.argv[1]
x, k = np.load(f"{d}/x.npy").astype(np.float64), np.load(f"{d}/k.npy").astype(np.float64)
a, b = np.load(f"{d}/a.npy").astype(np.float64), np.load(f"{d}/b.npy").astype(np.float64)
xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
n, c, h, w = x.shape
cols = np.stack([xp[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=2)  # n c 9 h w
y = np.einsum("ncphw,ocp->nohw", cols, k.reshape(k.shape[0], c, 9))
g = np.einsum("nohw,ncphw->ocp", 2 * y, cols).reshape(k.shape)
for name, want in (("c1", y), ("g1", g), ("m1", a @ b)):
    got = np.load(f"{d}/{name}.npy").astype(np.float64)
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    if got.shape != want.shape or err > 1e-5:
        sys.exit(f"{name}: shape {got.shape} vs {want.shape}, relative error {err:.3g}")
print("ok")

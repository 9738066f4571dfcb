"""Checks conv_grads_implicit.tsr's outputs against NumPy (float64 references): for
loss = sum(conv2d(x, k, padding=1) ** 2), the loss's gradients with respect to x and k."""
import sys

import numpy as np

d = sys.argv[1]
x, k = np.load(f"{d}/x.npy").astype(np.float64), np.load(f"{d}/k.npy").astype(np.float64)
xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
n, c, h, w = x.shape
cols = np.stack([xp[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=2)  # n c 9 h w
y = np.einsum("ncphw,ocp->nohw", cols, k.reshape(k.shape[0], c, 9))
dy = 2 * y
dk = np.einsum("nohw,ncphw->ocp", dy, cols).reshape(k.shape)
dxp = np.zeros_like(xp)
for i in range(3):
    for j in range(3):
        dxp[:, :, i:i + h, j:j + w] += np.einsum("nohw,oc->nchw", dy, k[:, :, i, j])
dx = dxp[:, :, 1:h + 1, 1:w + 1]
for name, want in (("dx1", dx), ("dk1", dk)):
    got = np.load(f"{d}/{name}.npy").astype(np.float64)
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    if got.shape != want.shape or err > 1e-5:
        sys.exit(f"{name}: shape {got.shape} vs {want.shape}, relative error {err:.3g}")
print("ok")

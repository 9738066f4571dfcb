"""torch reference for run_grad_multi_head_attention.tsr (argv[1]: the folder): the gradient of
mean(layer_norm(x + mha(x))^2) with respect to every parameter, float64 autograd."""
import sys

import numpy as np
import torch

d = sys.argv[1]
z = np.load(f"{d}/p.npz")
p = {k: torch.tensor(z[k].astype(np.float64), requires_grad=True) for k in z}
x = torch.tensor(np.load(f"{d}/x.npy").astype(np.float64))
pre = "multi_head_attention_0."


def mha(x, H=2):
    lin = lambda v, n: v @ p[pre + "w_" + n] + p[pre + "b_" + n]
    B, S, D = x.shape
    heads = lambda v: v.reshape(B, S, H, D // H).transpose(1, 2)
    q, k, v = heads(lin(x, "q")), heads(lin(x, "k")), heads(lin(x, "v"))
    s = q @ k.transpose(-1, -2) / (D // H) ** 0.5
    s = s.masked_fill(~torch.tril(torch.ones(S, S, dtype=torch.bool)), float("-inf"))
    o = torch.softmax(s, -1) @ v
    return lin(o.transpose(1, 2).reshape(B, S, D), "o")


y = torch.nn.functional.layer_norm(x + mha(x), (8,), p["layer_norm_0.weight"], p["layer_norm_0.bias"], eps=1e-5)
(y * y).mean().backward()
g = np.load(f"{d}/g.npz")
assert list(g.keys()) == list(z.keys()), (list(g.keys()), list(z.keys()))
for k in z:
    want = p[k].grad.numpy()
    err = np.abs(g[k] - want).max() / max(1e-3, np.abs(want).max())
    if not err < 2e-4:
        sys.exit(f"{k}: relative error {err}\ngot {g[k]}\nwant {want}")
print("ok", len(z), "gradients")

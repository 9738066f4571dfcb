"""NumPy reference for run_multi_head_attention.tsr (argv[1]: the folder): the layer of docs/models.md."""
import numpy as np, sys
d = sys.argv[1] if len(sys.argv) > 1 else "."
def mha(x, p, H, causal):
    pre = "multi_head_attention_0."
    lin = lambda v, n: v @ p[pre + "w_" + n] + p[pre + "b_" + n]
    *b, S, D = x.shape
    dh = D // H
    heads = lambda v: np.swapaxes(v.reshape(*b, S, H, dh), -2, -3)
    q, k, v = heads(lin(x, "q")), heads(lin(x, "k")), heads(lin(x, "v"))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(dh)
    if causal:
        s = np.where(np.tril(np.ones((S, S), bool)), s, -np.inf)
    a = np.exp(s - s.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
    o = np.swapaxes(a @ v, -2, -3).reshape(*b, S, D)
    return lin(o, "o")
def f64(z): return {k: z[k].astype(np.float64) for k in z}
for px, xx, yy, H, causal in [("p.npz", "x.npy", "y.npy", 2, True), ("q.npz", "z.npy", "w.npy", 3, False)]:
    p = f64(np.load(f"{d}/{px}")); x = np.load(f"{d}/{xx}").astype(np.float64); y = np.load(f"{d}/{yy}")
    want = mha(x, p, H, causal)
    err = np.abs(y - want).max()
    if not err < 1e-5: sys.exit(f"{yy}: max error {err}")
print("ok")

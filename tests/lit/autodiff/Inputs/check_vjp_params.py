"""Checks run_vjp_params_tuples.tsr: vjp/jvp with Params primals and of tuple-returning
functions, against torch autograd in float64 on the inputs the program saved (current directory).

Usage: check_vjp_params.py OUTPUT. Each `name: <tensor>` the program printed must agree with the
reference to 1e-4 (relative) / 1e-5 (absolute)."""
import re
import sys

import numpy as np
import torch
from torch.autograd.functional import jvp, vjp

torch.set_default_dtype(torch.float64)


def t(name):
    return torch.tensor(np.load(name), dtype=torch.float64)


p, tp = np.load("p.npz"), np.load("tp.npz")
W, B = torch.tensor(p["linear_0.w"]).double(), torch.tensor(p["linear_0.b"]).double()
TW, TB = torch.tensor(tp["linear_0.w"]).double(), torch.tensor(tp["linear_0.b"]).double()
X, TX, CT = t("x.npy"), t("tx.npy"), t("ct.npy")
A, Bv, U, V = t("a.npy"), t("b.npy"), t("u.npy"), t("v.npy")


def outs(w, b, x):
    return torch.tanh(x @ w + b)


def loss(w, b, x):
    return (outs(w, b, x) ** 2).sum()


def two(x, w):
    return (x * w).sum(), x * w * 2.0, torch.exp(x)


_, gl = vjp(loss, (W, B, X), torch.tensor(1.0))
_, go = vjp(outs, (W, B, X), CT)
_, g2 = vjp(two, (A, Bv), (torch.tensor(0.5), U, V))
_, j2 = jvp(two, (A, Bv), (U, V))
REF = {
    "loss": loss(W, B, X),
    "vjp_loss_w": gl[0], "vjp_loss_b": gl[1], "vjp_loss_x": gl[2],
    "vjp_outs_w": go[0], "vjp_outs_b": go[1], "vjp_outs_x": go[2],
    "jvp_outs": jvp(outs, (W, B, X), (TW, TB, TX))[1],
    "two_0": two(A, Bv)[0], "two_1": two(A, Bv)[1],
    "vjp_two_a": g2[0], "vjp_two_b": g2[1],
    "jvp_two_0": j2[0], "jvp_two_1": j2[1], "jvp_two_2": j2[2],
}


def main():
    text = open(sys.argv[1]).read()
    found = {m.group(1): m.start() for m in re.finditer(r"^(\w+):", text, re.M)}
    starts = sorted(found.values()) + [len(text)]
    failed = False
    for name, ref in REF.items():
        if name not in found:
            print(f"{name}: not printed")
            failed = True
            continue
        start = found[name]
        body = text[start + len(name) + 1:starts[starts.index(start) + 1]]
        got = np.array([float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)", body)])
        want = ref.detach().numpy().reshape(-1)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            print(f"{name}: got {got}, want {want}")
            failed = True
    if failed:
        sys.exit(1)
    print(f"{len(REF)} values agree with torch")


if __name__ == "__main__":
    main()

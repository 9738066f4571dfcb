"""Compares the gradients a Tessera program printed with torch autograd in float64.

Usage: check_grads.py SUITE OUTPUT. The program prints lines `name: <tensor>` (a tensor may
span several lines); each name of SUITE below recomputes the same gradient with torch and
the values must agree to 1e-4 (relative) / 1e-5 (absolute)."""
import os
import re
import sys

import numpy as np
import torch

# The custom-backward references shared with the values_grad cases (tests/values).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "values"))
from custom_vjp_refs import Binarize, ClipGrad  # noqa: E402

torch.set_default_dtype(torch.float64)


def grads(f, *args):
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    f(*ts).backward()
    return [t.grad.numpy() for t in ts]


X4 = [0.5, -1.0, 2.0, 0.3]
A3 = [0.2, -0.4, 0.9]
W3 = [0.7, -1.3, 0.4]
M45 = (np.arange(20.0).reshape(4, 5) / 7.0 - 1.0).tolist()


def branch(x):
    y = x * 2.0 if x.sum() > 0.0 else torch.sin(x)
    return (y * x).sum()


def loop(x, w):
    h = x
    for _ in range(3):
        h = torch.tanh(h * w + 0.5)
    return h.sum()


def until(x, w):
    h = x
    while (h * h).sum() > 0.01:
        h = h * torch.sigmoid(w) * 0.9
    return (h * w).sum() * 100.0


def nested(x):
    acc = torch.zeros(3)
    for i in range(4):
        if acc.sum() > 1.0:
            acc = acc + torch.cos(x) * i
        else:
            acc = acc + x * x
    return acc.sum()


def rms_norm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w


class Scaled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a):
        ctx.save_for_backward(x, a)
        return x * a * 2

    @staticmethod
    def backward(ctx, ct):
        x, a = ctx.saved_tensors
        return ct * a, (ct * x).sum()


def scaled_loss(x, a):
    return (torch.sin(Scaled.apply(x, a)) * x).sum()


class SoftplusCV(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.softplus(x)

    @staticmethod
    def backward(ctx, ct):
        (x,) = ctx.saved_tensors
        return ct * torch.sigmoid(x)


class FakeSin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, ct):
        (x,) = ctx.saved_tensors
        return ct * x * x


def softplus_weighted(x):
    return (SoftplusCV.apply(x) * x).sum()


def grad_norm_cv(x):
    t = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(softplus_weighted(t), t, create_graph=True)
    return (g * g).sum()


def hvp_cv(f, x, v):
    """H v through custom Functions: torch differentiates their backward (create_graph)."""
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(f(t), t, create_graph=True)
    (hv,) = torch.autograd.grad((g * torch.tensor(v)).sum(), t)
    return hv.numpy()


def softplus_loop(x, w):
    h = x
    for _ in range(3):
        h = torch.nn.functional.softplus(h * w * 20.0) - 1.0
    return h.sum()


SB = [1.5, 0.4, -0.2, 2.0]


def chain(x, s):
    h = lambda a, s: torch.sin(a) * s + a
    g = lambda a, s: h(a * 2.0, s) * h(torch.tanh(a), s * s)
    return (g(x, s) + h(g(s, x), x)).sum()


def loops(x, w):
    h = x
    for i in range(3):
        for j in range(2):
            h = torch.tanh(h * w + 0.1 * j)
        while (h * h).sum() > 0.5:
            if h.sum() > 0.0:
                h = h * 0.5
            else:
                h = h * torch.sigmoid(w)
        h = h * 3.0 + w
    return (h * w).sum()


def long_loop(x, w):
    h = x
    for i in range(50):
        h = torch.sin(h * w) + 0.01 * i
    return h.sum()


def long_while(x, w):
    h = x
    n = 0
    while (h * h).sum() > 0.0001:
        h = h * (0.9 + 0.05 * torch.sigmoid(w))
        n += 1
    assert n > 32, n  # the tape (16 slots first) grows twice
    return (h * w).sum() * 1000.0


SUITES = {
    "custom_vjp": {
        "clip": lambda: grads(lambda x: (torch.sin(ClipGrad.apply(x * 3.0)) * x).sum(), X4)[0],
        "ste_x": lambda: grads(lambda x, w: (Binarize.apply(x * w) * x).sum(), X4, SB)[0],
        "ste_w": lambda: grads(lambda x, w: (Binarize.apply(x * w) * x).sum(), X4, SB)[1],
        "softplus_loop_x": lambda: grads(softplus_loop, A3, W3)[0],
        "softplus_loop_w": lambda: grads(softplus_loop, A3, W3)[1],
        "lse": lambda: grads(lambda x: torch.logsumexp(x, 0), X4)[0],
        "scaled_x": lambda: grads(scaled_loss, A3, 0.5)[0],
        "scaled_a": lambda: grads(scaled_loss, A3, 0.5)[1],
        "d2_grad_norm": lambda: grads(grad_norm_cv, A3)[0],
        "d2_hvp_softplus": lambda: hvp_cv(softplus_weighted, A3, W3),
        "d2_hvp_fake": lambda: hvp_cv(lambda x: (FakeSin.apply(x) * 2.0).sum(), A3, W3),
        "d2_hvp_scaled": lambda: hvp_cv(lambda x: scaled_loss(x, torch.tensor(0.5)), A3, W3),
    },
    "nested": {
        "chain_x": lambda: grads(chain, A3, W3)[0],
        "chain_s": lambda: grads(chain, A3, W3)[1],
        "loops_x": lambda: grads(loops, A3, W3)[0],
        "loops_w": lambda: grads(loops, A3, W3)[1],
        "long_x": lambda: grads(long_loop, A3, W3)[0],
        "long_w": lambda: grads(long_loop, A3, W3)[1],
        "long_ckpt_x": lambda: grads(long_loop, A3, W3)[0],
        "long_ckpt_w": lambda: grads(long_loop, A3, W3)[1],
        "long_while_x": lambda: grads(long_while, A3, W3)[0],
        "long_while_w": lambda: grads(long_while, A3, W3)[1],
    },
    "control_flow": {
        "branch_pos": lambda: grads(branch, X4)[0],
        "branch_neg": lambda: grads(branch, [v - 3.0 for v in X4])[0],
        "loop_x": lambda: grads(loop, A3, W3)[0],
        "loop_w": lambda: grads(loop, A3, W3)[1],
        "until_x": lambda: grads(until, A3, W3)[0],
        "until_w": lambda: grads(until, A3, W3)[1],
        "nested": lambda: grads(nested, A3)[0],
    },
    "rules": {
        "slice": lambda: grads(lambda x: torch.sin(x[1:3, ::2]).sum() + (x[:, 0] * x[:, 0]).sum(), M45)[0],
        "concat_a": lambda: grads(lambda a, b: torch.sin(torch.cat([a, b], 0) * 1.5).sum(), M45[:2], M45)[0],
        "concat_b": lambda: grads(lambda a, b: torch.sin(torch.cat([a, b], 0) * 1.5).sum(), M45[:2], M45)[1],
        "stack": lambda: grads(lambda a: torch.sin(torch.stack([a, a * 2.0], 1)).sum(), M45)[0],
        "split": lambda: grads(lambda x: (torch.sin(torch.split(x, 2, 0)[0]) * torch.split(x, 2, 0)[1]).sum(), M45)[0],
        "layer_norm_x": lambda: grads(lambda x, w, b: (torch.nn.functional.layer_norm(x, (5,), w, b, 1e-5) ** 3).sum(),
                                      M45, W3 + [1.1, 0.6], A3 + [0.1, 0.2])[0],
        "layer_norm_w": lambda: grads(lambda x, w, b: (torch.nn.functional.layer_norm(x, (5,), w, b, 1e-5) ** 3).sum(),
                                      M45, W3 + [1.1, 0.6], A3 + [0.1, 0.2])[1],
        "layer_norm_b": lambda: grads(lambda x, w, b: (torch.nn.functional.layer_norm(x, (5,), w, b, 1e-5) ** 3).sum(),
                                      M45, W3 + [1.1, 0.6], A3 + [0.1, 0.2])[2],
        "rms_norm_x": lambda: grads(lambda x, w: (rms_norm(x, w) ** 3).sum(),
                                    M45, W3 + [1.1, 0.6])[0],
        "rms_norm_w": lambda: grads(lambda x, w: (rms_norm(x, w) ** 3).sum(),
                                    M45, W3 + [1.1, 0.6])[1],
        "embedding": lambda: grads(lambda t: (torch.sin(t[torch.tensor([[1, 3], [1, 0]])]) * 2.0).sum(), M45)[0],
    },
}


# Second order (run_grad_higher_order.tsr): torch.autograd with create_graph=True.
def dn(f, x, n):
    """The n-th derivative of a scalar function at the scalar x."""
    t = torch.tensor(x, requires_grad=True)
    y = f(t)
    for _ in range(n):
        (y,) = torch.autograd.grad(y, t, create_graph=True)
    return y.detach().numpy()


def hvp(f, args, argnum, v):
    ts = tuple(torch.tensor(a) for a in args)
    g = lambda a: f(*(a if i == argnum else t for i, t in enumerate(ts)))
    return torch.autograd.functional.hvp(g, ts[argnum], torch.tensor(v))[1].numpy()


def hvp_t(f, x, v):
    """H v of f at x, differentiable (create_graph) with respect to x."""
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    (hv,) = torch.autograd.grad((g * v).sum(), x, create_graph=True)
    return hv


def vjp(f, args, ct, i):
    return torch.autograd.functional.vjp(f, tuple(torch.tensor(a) for a in args), torch.tensor(ct))[1][i].numpy()


def cubic(x):
    return (x * x * x + torch.exp(x) * 0.5 + torch.tanh(x)).sum()


def g_norm(x):
    t = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(cubic(t), t, create_graph=True)
    return (g * g).sum()


def softmax_loss(x, w):
    p = torch.softmax(x @ w, 1)
    return (p * p).sum() + torch.log_softmax(x, 1).mean()


def mm_chain(x, w):
    h = torch.tanh(x @ w)
    return (torch.sigmoid(h @ w) * h).sum()


def loop_vec(x, w):
    h = x
    for _ in range(3):
        h = torch.tanh(h * w + 0.5)
    return h


V3 = [1.0, 2.0, -1.0]
X2 = [[0.2, -0.4, 0.9], [1.1, 0.3, -0.7]]
W33 = [[0.7, -1.3, 0.4], [0.5, 0.2, -0.6], [-0.3, 0.8, 1.2]]
U2 = [[0.3, -0.2, 0.5], [0.1, 0.9, -0.4]]
UW = [[0.1, 0.2, -0.3], [0.4, -0.5, 0.6], [0.7, 0.1, -0.2]]
V4 = [1.0, 0.5, -0.25, 2.0]
SUITES["higher_order"] = {
    "dd_sin": lambda: dn(lambda x: torch.sin(x) * x, 0.7, 2),
    "ddd_sin": lambda: dn(lambda x: torch.sin(x) * x, 0.7, 3),
    "dd_sin_named": lambda: dn(lambda x: torch.sin(x) * x, 0.7, 2),
    "g_norm": lambda: grads(g_norm, X4)[0],
    "hvp_cubic": lambda: hvp(cubic, [X4], 0, V4),
    "hvp_softmax_x": lambda: hvp(softmax_loss, [X2, W33], 0, U2),
    "hvp_softmax_w": lambda: hvp(softmax_loss, [X2, W33], 1, UW),
    "hvp_chain_x": lambda: hvp(mm_chain, [X2, W33], 0, U2),
    "hvp_chain_w": lambda: hvp(mm_chain, [X2, W33], 1, UW),
    "vjp_y": lambda: (torch.tanh(torch.tensor(X2) @ torch.tensor(W33)) * torch.tensor(X2)).numpy(),
    "vjp_x": lambda: vjp(lambda x, w: torch.tanh(x @ w) * x, [X2, W33], U2, 0),
    "vjp_w": lambda: vjp(lambda x, w: torch.tanh(x @ w) * x, [X2, W33], U2, 1),
    "vjp_sin": lambda: dn(lambda x: torch.sin(x) * x, 0.7, 1) * 2.0,
    "jvp_y": lambda: (torch.tanh(torch.tensor(X2) @ torch.tensor(W33)) * torch.tensor(X2)).numpy(),
    "jvp_t": lambda: torch.autograd.functional.jvp(lambda x, w: torch.tanh(x @ w) * x,
                                                   (torch.tensor(X2), torch.tensor(W33)),
                                                   (torch.tensor(U2), torch.tensor(UW)))[1].numpy(),
    "jvp_grad": lambda: hvp(cubic, [X4], 0, V4),
    "jvp_sin": lambda: dn(lambda x: torch.sin(x) * x, 0.7, 1) * 2.0,
    "mixed": lambda: 2.0 * 1.3 * np.cos(0.7),
    "vjp_grad": lambda: hvp(cubic, [X4], 0, V4),
    "jvp_loop": lambda: torch.autograd.functional.jvp(loop_vec, (torch.tensor(A3), torch.tensor(W3)),
                                                      (torch.tensor(V3), torch.tensor(V3)))[1].numpy(),
    "vjp_loop_w": lambda: vjp(loop_vec, [A3, W3], V3, 1),
    "grad_hvp": lambda: grads(lambda x: (hvp_t(cubic, x, torch.tensor(V4)) * x).sum(), X4)[0],
}


def main():
    suite, path = sys.argv[1], sys.argv[2]
    text = open(path).read()
    found = {m.group(1): m.start() for m in re.finditer(r"^(\w+):", text, re.M)}
    starts = sorted(found.values()) + [len(text)]
    failed = False
    for name, ref in SUITES[suite].items():
        if name not in found:
            print(f"{name}: not printed")
            failed = True
            continue
        start = found[name]
        end = starts[starts.index(start) + 1]
        body = text[start + len(name) + 1:end]
        got = np.array([float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", body)])
        want = np.asarray(ref()).reshape(-1)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            print(f"{name}: MISMATCH\n  got  {got}\n  want {want}")
            failed = True
        else:
            print(f"{name}: ok")
    sys.exit(1 if failed else 0)


main()

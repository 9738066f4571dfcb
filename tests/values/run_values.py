#!/usr/bin/python3
"""Value tests: every operation of LANGUAGE.md section 6 that lowers, run through
`tesserac run` on the CPU and compared with NumPy/PyTorch.

Usage: /usr/bin/python3 run_values.py TESSERAC [-k SUBSTRING] [-j JOBS] [--keep] [--grad]

Each case is a one-entry `.tsr` program (`def f[...](...)`), random inputs written as `.npy`,
and a reference computed in float64 by NumPy/PyTorch; the result is compared with a
tolerance suited to the dtype. The operations that do not lower yet are listed in
NOT_YET_SUPPORTED; the driver checks that tesserac reports E0900 for each, so that the
list shrinks as they get implemented. Prints one line per failure and "N passed, N failed".
With --grad it runs the gradient cases of grad_cases.py instead (see there).
"""
import argparse
import concurrent.futures
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from tables import BCAST, binary_ops

# dtype name -> (NumPy dtype of the files, rtol, atol)
TOL = {
    "f32": (np.float32, 2e-5, 2e-6),
    "f64": (np.float64, 1e-11, 1e-12),
    "f16": (np.float16, 2e-3, 2e-3),
    "bf16": (np.float32, 1.6e-2, 1.6e-2),  # bf16 tensors are written as <f4 files
}
DTYPE_WORDS = {"f64", "f32", "f16", "bf16", "i64", "i32", "bool", "_"}


class Case:
    def __init__(self, name, params, body, inputs, ref, dtype="f32", ret=None, tol=None, check=None,
                 decorators=(), in_dtype=None):
        self.name = name
        self.params = params  # "x: Tensor[B, D, f32], ..." (dims are collected for the generic list)
        self.body = body  # statements of the body; the last one returns
        self.inputs = inputs  # list of np.ndarray or Python numbers
        self.ref = ref  # function of the inputs (float64 copies) -> expected array
        self.dtype = dtype
        self.ret = ret
        self.tol = tol
        self.check = check  # optional function(out) -> error message or None
        self.decorators = decorators
        self.in_dtype = in_dtype or TOL[dtype][0]  # NumPy dtype of the float input files
        self.scalar = False  # the entry returns a Python scalar: read what tesserac prints

    def source(self):
        dims = []
        for group in re.findall(r"Tensor\[([^\]]*)\]", self.params):
            for tok in re.findall(r"[A-Za-z_]\w*", group):
                if tok not in DTYPE_WORDS and tok not in dims:
                    dims.append(tok)
        generic = f"[{', '.join(dims)}]" if dims else ""
        ret = f" -> {self.ret}" if self.ret else ""
        lines = ["@tessera.function"] + [f"@{d}" for d in self.decorators]
        lines.append(f"def f{generic}({self.params}){ret}:")
        lines += ["    " + l for l in self.body.strip("\n").split("\n")]
        return "\n".join(lines) + "\n"


CASES = []
RNG = np.random.default_rng(20261125)


def rnd(*shape, scale=1.0, offset=0.0):
    return np.asarray(RNG.standard_normal(shape) * scale + offset)


def pos(*shape):
    return np.asarray(RNG.uniform(0.1, 3.0, shape))


def add(*a, **k):
    CASES.append(Case(*a, **k))


def exact_power(x, c, dtype):
    """x ** c in the program's dtype (overflow to inf as it does), without NumPy's warnings."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.power(x.astype(dtype), dtype(c))


def T(dt):
    return dt


def t64(*xs):
    return [torch.from_numpy(np.asarray(x, dtype=np.float64)) for x in xs]


def tnp(t):
    return t.detach().numpy()


# ---------------------------------------------------------------- elementwise
BINARY = binary_ops(np)
for dt in ("f32", "f64"):
    for op, (expr, ref) in BINARY.items():
        for i, (sx, sy, dx, dy) in enumerate(BCAST):
            tx = f"Tensor[{dx}, {dt}]"
            ty = f"Tensor[{dy + ', ' if dy else ''}{dt}]"
            y = pos(*sy) if op == "div" else rnd(*sy)
            add(f"{op}_{dt}_bcast{i}", f"x: {tx}, y: {ty}", f"return {expr}", [rnd(*sx), y], ref, dt)
    add(f"pow_{dt}", f"x: Tensor[B, D, {dt}], y: Tensor[B, D, {dt}]", "return x ** y",
        [pos(3, 4), rnd(3, 4)], np.power, dt)
    add(f"pow_scalar_{dt}", f"x: Tensor[B, D, {dt}]", "return x ** 2.0", [rnd(3, 4)], lambda x: x ** 2, dt)
    # Constant exponents 0, 1, 2 and -1 are computed without powf: the same values, NaN, infinities
    # and zeros included (pow(NaN, 0) is 1).
    edge = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, -2.5], [3.0, -1e-3, 7.5, 1e30, -1e-30, 2.0]])
    for c in ("0.0", "1.0", "2.0", "-1.0"):
        add(f"pow_const_{c.replace('.', '_').replace('-', 'm')}_{dt}", f"x: Tensor[B, D, {dt}]",
            f"return x ** {c}", [edge], lambda x, c=float(c), dt=dt: exact_power(x, c, TOL[dt][0]), dt)
    add(f"scalar_ops_{dt}", f"x: Tensor[B, D, {dt}], s: Float", "return (x * s + 1.0) / 2.0 - s",
        [rnd(3, 4), 0.75], lambda x, s: (x * s + 1.0) / 2.0 - s, dt)

gelu = lambda x: tnp(F.gelu(*t64(x)))
UNARY = {
    "neg": ("-x", lambda x: -x, rnd),
    "abs": ("abs(x)", np.abs, rnd),
    "exp": ("exp(x)", np.exp, rnd),
    "log": ("log(x)", np.log, pos),
    "log1p": ("log1p(x)", np.log1p, pos),
    "sqrt": ("sqrt(x)", np.sqrt, pos),
    "rsqrt": ("rsqrt(x)", lambda x: 1 / np.sqrt(x), pos),
    "tanh": ("tanh(x)", np.tanh, rnd),
    "sigmoid": ("sigmoid(x)", lambda x: 1 / (1 + np.exp(-x)), rnd),
    "sin": ("sin(x)", np.sin, rnd),
    "cos": ("cos(x)", np.cos, rnd),
    "relu": ("relu(x)", lambda x: np.maximum(x, 0), rnd),
    "gelu": ("gelu(x)", gelu, rnd),
    "silu": ("silu(x)", lambda x: x / (1 + np.exp(-x)), rnd),
}
for dt in ("f32", "f64"):
    for op, (expr, ref, gen) in UNARY.items():
        add(f"{op}_{dt}", f"x: Tensor[B, D, {dt}]", f"return {expr}", [gen(4, 7)], ref, dt)
        add(f"{op}_{dt}_rank0", f"x: Tensor[{dt}]", f"return {expr}", [gen()], ref, dt)
# Extremes: exp/sigmoid/tanh far out, where naive forms overflow.
ext = np.array([-1e4, -800.0, -100.0, -20.0, -1e-8, 0.0, 1e-8, 20.0, 100.0, 800.0, 1e4])
for dt in ("f32", "f64"):
    for op in ("tanh", "sigmoid", "exp", "silu", "gelu"):
        expr, ref, _ = UNARY[op]
        add(f"{op}_{dt}_extreme", f"x: Tensor[N, {dt}]", f"return {expr}", [ext.copy()],
            lambda x, ref=ref, dt=dt: ref(x.astype(TOL[dt][0])).astype(np.float64), dt)

# Vector paths (tesserac vectorizes innermost loops by 16 f32 lanes with a scalar remainder, and
# expands f32 exp/log/tanh/erf into polynomials): rows of 203 = 12*16 + 11 elements, values
# across each function's range.
WIDE = {
    "exp": ("exp(x)", np.exp, lambda: RNG.uniform(-87.0, 88.0, (5, 203))),
    "exp_small": ("exp(x)", np.exp, lambda: RNG.uniform(-1e-3, 1e-3, (5, 203))),
    "log": ("log(x)", np.log, lambda: np.exp(RNG.uniform(-80.0, 80.0, (5, 203)))),
    "log_near1": ("log(x)", np.log, lambda: RNG.uniform(0.9, 1.1, (5, 203))),
    "log1p": ("log1p(x)", np.log1p, lambda: np.exp(RNG.uniform(-20.0, 20.0, (5, 203)))),
    "tanh": ("tanh(x)", np.tanh, lambda: RNG.uniform(-12.0, 12.0, (5, 203))),
    "tanh_small": ("tanh(x)", np.tanh, lambda: RNG.uniform(-0.05, 0.05, (5, 203))),
    "sigmoid": ("sigmoid(x)", lambda x: 1 / (1 + np.exp(-x)), lambda: RNG.uniform(-30.0, 30.0, (5, 203))),
    "gelu": ("gelu(x)", gelu, lambda: RNG.uniform(-5.0, 5.0, (5, 203))),
    "silu": ("silu(x)", lambda x: x / (1 + np.exp(-x)), lambda: RNG.uniform(-20.0, 20.0, (5, 203))),
}
for op, (expr, ref, gen) in WIDE.items():
    add(f"{op}_f32_wide", "x: Tensor[B, D, f32]", f"return {expr}", [gen()],
        lambda x, ref=ref: ref(x.astype(np.float32).astype(np.float64)), "f32")
add("erf_f32_wide", "x: Tensor[B, D, f32]", "return gelu(x) / x", [RNG.uniform(-4.0, 4.0, (5, 203))],
    lambda x: tnp(F.gelu(*t64(x))) / x, "f32")
# Row reductions on the vector path: large magnitudes (max subtraction must hold) and -inf rows.
for dt in ("f32", "f64"):
    add(f"softmax_{dt}_wide_large", f"x: Tensor[B, D, {dt}]", "return softmax(x, axis=-1)",
        [rnd(4, 203, scale=1e4)], lambda x: tnp(torch.softmax(*t64(x), -1)), dt)
    add(f"log_softmax_{dt}_wide_large", f"x: Tensor[B, D, {dt}]", "return log_softmax(x, axis=-1)",
        [rnd(4, 203, scale=1e4)], lambda x: tnp(torch.log_softmax(*t64(x), -1)), dt,
        tol=(2e-5, 2e-3) if dt == "f32" else None)
    add(f"logsumexp_{dt}_wide_large", f"x: Tensor[B, D, {dt}]", "return logsumexp(x, axis=-1)",
        [rnd(4, 203, scale=1e4)], lambda x: tnp(torch.logsumexp(*t64(x), dim=-1)), dt)
    add(f"layer_norm_{dt}_wide", f"x: Tensor[B, D, {dt}], w: Tensor[D, {dt}], b: Tensor[D, {dt}]",
        "return layer_norm(x, w, b)", [rnd(4, 203, offset=3.0), rnd(203), rnd(203)],
        lambda x, w, b: tnp(F.layer_norm(*t64(x), (203,), *t64(w, b))), dt)
    add(f"sum_var_{dt}_wide", f"x: Tensor[B, D, {dt}]", "return x.sum(axis=-1) + x.var(axis=-1)",
        [rnd(4, 203)], lambda x: x.sum(-1) + x.var(-1), dt)
add("softmax_f32_wide_neginf", "x: Tensor[B, D, f32]", "return softmax(x, axis=-1)",
    [np.where(RNG.uniform(size=(3, 203)) < 0.5, -np.inf, rnd(3, 203))], lambda x: tnp(torch.softmax(*t64(x), -1)))


def lowp(x, dt):
    """Rounds to bf16/f16 (what the program computes on), back as float64."""
    t = torch.from_numpy(np.asarray(x, dtype=np.float32))
    t = t.to(torch.bfloat16 if dt == "bf16" else torch.float16)
    return t.to(torch.float64).numpy()


# bf16 inputs are cast in the program (the entry takes f32 files); f16 files are read directly.
for dt in ("bf16", "f16"):
    for op, (expr, ref, gen) in UNARY.items():
        x = lowp(gen(4, 7), dt)
        if dt == "bf16":
            add(f"{op}_bf16", "x: Tensor[B, D, f32]", f"x = x.astype(bf16)\nreturn {expr}", [x],
                lambda x, ref=ref: lowp(ref(x), "bf16"), "bf16")
        else:
            add(f"{op}_f16", "x: Tensor[B, D, f16]", f"return {expr}", [x],
                lambda x, ref=ref: lowp(ref(x), "f16"), "f16")
    for op, (expr, ref) in BINARY.items():
        x, y = lowp(rnd(3, 5), dt), lowp(pos(5) if op == "div" else rnd(5), dt)
        if dt == "bf16":
            add(f"{op}_bf16", "x: Tensor[B, D, f32], y: Tensor[D, f32]",
                f"x = x.astype(bf16)\ny = y.astype(bf16)\nreturn {expr}", [x, y],
                lambda x, y, ref=ref: lowp(ref(x, y), "bf16"), "bf16")
        else:
            add(f"{op}_f16", "x: Tensor[B, D, f16], y: Tensor[D, f16]", f"return {expr}", [x, y],
                lambda x, y, ref=ref: lowp(ref(x, y), "f16"), "f16")

for dt in ("f32", "f64"):
    add(f"where_{dt}", f"c: Tensor[B, D, {dt}], x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]",
        "return where(c > 0.0, x, y)", [rnd(3, 4), rnd(3, 4), rnd(4)], lambda c, x, y: np.where(c > 0, x, y), dt)
    add(f"where_scalar_{dt}", f"x: Tensor[B, D, {dt}]", "return where(x > 0.0, x, 0.5)", [rnd(3, 4)],
        lambda x: np.where(x > 0, x, 0.5), dt)
    add(f"clamp_{dt}", f"x: Tensor[B, D, {dt}]", "return clamp(x, min=-0.5, max=0.7)", [rnd(3, 4)],
        lambda x: np.clip(x, -0.5, 0.7), dt)
    add(f"clamp_min_{dt}", f"x: Tensor[B, D, {dt}]", "return clamp(x, min=0.1)", [rnd(3, 4)],
        lambda x: np.maximum(x, 0.1), dt)
    add(f"clamp_max_{dt}", f"x: Tensor[B, D, {dt}]", "return x.clamp(max=0.1)", [rnd(3, 4)],
        lambda x: np.minimum(x, 0.1), dt)
    for name, op, ref in (("lt", "<", np.less), ("le", "<=", np.less_equal), ("gt", ">", np.greater),
                          ("ge", ">=", np.greater_equal), ("eq", "==", np.equal), ("ne", "!=", np.not_equal)):
        x = np.round(rnd(3, 4))
        y = np.round(rnd(4))
        add(f"cmp_{name}_{dt}", f"x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", f"return x {op} y", [x, y], ref, dt)

# ---------------------------------------------------------------- reductions
RED = {
    "sum": lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    "mean": lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    "var": lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims),
    "max": lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    "min": lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
    "logsumexp": lambda x, axis, keepdims: tnp(torch.logsumexp(
        *t64(x), dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)),
}
AXES = [(None, False, "", None), (-1, False, "axis=-1", -1), (0, True, "axis=0, keepdim=True", 0),
        ((0, 2), False, "axis=(0, 2)", (0, 2)), ((1, 2), True, "axis=(1, -1), keepdim=True", (1, 2))]
for dt in ("f32", "f64"):
    for op, ref in RED.items():
        for i, (_, keep, kw, axis) in enumerate(AXES):
            add(f"{op}_{dt}_ax{i}", f"x: Tensor[A, B, C, {dt}]", f"return x.{op}({kw})" if i % 2 else
                f"return {op}(x{', ' + kw if kw else ''})", [rnd(3, 4, 5)],
                lambda x, ref=ref, axis=axis, keep=keep: np.asarray(ref(x, axis, keep)), dt)
    add(f"logsumexp_{dt}_large", f"x: Tensor[B, D, {dt}]", "return logsumexp(x, axis=-1)", [rnd(3, 6, scale=1e4)],
        lambda x: tnp(torch.logsumexp(*t64(x), dim=-1)), dt)
    add(f"mean_{dt}_offset", f"x: Tensor[B, D, {dt}]", "return x.var(axis=-1)", [rnd(3, 64, offset=1e3)],
        lambda x: np.var(x, axis=-1), dt, tol=(1e-3, 1e-4) if dt == "f32" else None)
    add(f"argmax_{dt}", f"x: Tensor[A, B, C, {dt}]", "return argmax(x, axis=1)", [rnd(3, 4, 5)],
        lambda x: np.argmax(x, axis=1), dt)
    add(f"argmax_{dt}_last", f"x: Tensor[A, B, {dt}]", "return x.argmax(axis=-1)", [rnd(3, 4)],
        lambda x: np.argmax(x, axis=-1), dt)
    add(f"argmax_{dt}_all", f"x: Tensor[A, B, {dt}]", "return argmax(x)", [rnd(3, 4)],
        lambda x: np.argmax(x), dt)
    add(f"norm_{dt}", f"x: Tensor[A, B, {dt}]", "return norm(x)", [rnd(3, 4)], lambda x: np.linalg.norm(x), dt)
    for op, ref in (("has_nan", np.isnan), ("has_inf", np.isinf)):
        for k, val in enumerate((1.0, np.nan, np.inf, -np.inf)):
            x = rnd(3, 4)
            x[1, 2] = val
            add(f"{op}_{dt}_{k}", f"x: Tensor[A, B, {dt}]", f"return {op}(x)", [x],
                lambda x, ref=ref: np.asarray(ref(x).any()), dt)
            CASES[-1].scalar = True
for dt in ("bf16",):
    for op in ("sum", "mean", "max", "logsumexp"):
        add(f"{op}_bf16", "x: Tensor[B, D, f32]", f"return x.astype(bf16).{op}(axis=-1)", [lowp(rnd(4, 16), "bf16")],
            lambda x, op=op: lowp(RED[op](x, -1, False), "bf16"), "bf16", tol=(3e-2, 3e-2))

# ---------------------------------------------------------------- linear algebra
MM = [
    ("2d", (3, 4), (4, 5), "M, K", "K, N"),
    ("batched", (2, 3, 4), (2, 4, 5), "Z, M, K", "Z, K, N"),
    ("bcast_rhs", (2, 3, 4), (4, 5), "Z, M, K", "K, N"),
    ("bcast_batch1", (1, 3, 4), (2, 4, 5), "1, M, K", "Z, K, N"),
    ("bcast_4d", (2, 1, 3, 4), (3, 4, 5), "Y, 1, M, K", "Z, K, N"),
    ("vec_mat", (4,), (4, 5), "K", "K, N"),
    ("mat_vec", (3, 4), (4,), "M, K", "K"),
    ("vec_vec", (4,), (4,), "K", "K"),
    ("vec_batched", (4,), (2, 4, 5), "K", "Z, K, N"),
]
for dt in ("f32", "f64"):
    for name, sa, sb, da, db in MM:
        add(f"matmul_{name}_{dt}", f"a: Tensor[{da}, {dt}], b: Tensor[{db}, {dt}]", "return a @ b",
            [rnd(*sa), rnd(*sb)], np.matmul, dt)
    add(f"matmul_fn_{dt}", f"a: Tensor[M, K, {dt}], b: Tensor[K, N, {dt}]", "return matmul(a, b)",
        [rnd(3, 4), rnd(4, 5)], np.matmul, dt)
add("matmul_bf16", "a: Tensor[M, K, f32], b: Tensor[K, N, f32]", "return a.astype(bf16) @ b.astype(bf16)",
    [lowp(rnd(3, 8), "bf16"), lowp(rnd(8, 5), "bf16")], lambda a, b: lowp(a @ b, "bf16"), "bf16", tol=(3e-2, 3e-2))
add("matmul_f16", "a: Tensor[M, K, f16], b: Tensor[K, N, f16]", "return a @ b",
    [lowp(rnd(3, 8), "f16"), lowp(rnd(8, 5), "f16")], lambda a, b: lowp(a @ b, "f16"), "f16", tol=(5e-3, 5e-3))
# Sizes that exercise the blocked CPU schedule (ir/tile/matmul_schedule.cpp): ragged tails in every
# dimension, more than one M (128), K (256) and N (1024) block, f64 lanes, bf16 with f32 accumulation.
MM_BLOCKED = [
    ("ragged", (7, 13), (13, 5), "M, K", "K, N"),
    ("blocks", (131, 300), (300, 1037), "M, K", "K, N"),
    ("batched_blocks", (3, 20, 70), (3, 70, 40), "Z, M, K", "Z, K, N"),
    ("bcast_blocks", (2, 17, 260), (260, 33), "Z, M, K", "K, N"),
    # Static N narrower than the 64-lane panel: the 12 x 1 and 12 x 2 kernels (f32), 12 x 2 (f64),
    # with ragged M, K past one block, and a batched one.
    ("narrow_static", (131, 300), (300, 10), "131, 300", "300, 10"),
    ("narrow2_static", (40, 70), (70, 20), "40, 70", "70, 20"),
    ("narrow_batched_static", (3, 25, 9), (3, 9, 7), "3, 25, 9", "3, 9, 7"),
]
for dt in ("f32", "f64"):
    for name, sa, sb, da, db in MM_BLOCKED:
        add(f"matmul_{name}_{dt}", f"a: Tensor[{da}, {dt}], b: Tensor[{db}, {dt}]", "return a @ b",
            [rnd(*sa), rnd(*sb)], np.matmul, dt, tol=(1e-4, 1e-4) if dt == "f32" else None)
# A stored transposed (a.T @ b, a weight gradient's x.T @ dy): the row-block function reads A
# along m; with N past one 64-lane panel it packs the block first (the _ap kernels), with a
# narrow N it reads it in place (_at). Ragged M (not a multiple of 6 or 12), K past one block,
# dynamic and static sizes.
MM_TRANSPOSED = [
    ("tA_packed", (300, 101), (300, 130), "K, M", "K, N"),
    ("tA_packed_static", (37, 101), (37, 70), "37, 101", "37, 70"),
    ("tA_narrow_static", (260, 131), (260, 10), "260, 131", "260, 10"),
]
for dt in ("f32", "f64"):
    for name, sa, sb, da, db in MM_TRANSPOSED:
        add(f"matmul_{name}_{dt}", f"a: Tensor[{da}, {dt}], b: Tensor[{db}, {dt}]", "return a.T @ b",
            [rnd(*sa), rnd(*sb)], lambda a, b: a.T @ b, dt, tol=(1e-4, 1e-4) if dt == "f32" else None)
# Matrix-vector products (the GEMV schedule of matmul_schedule.cpp): x @ v (a dot product per
# row, ragged K for the masked last vector, rows not a multiple of 4), x.T @ r and r @ x (the
# axpy form: K split into chunks whose partial sums are added in order; a wide output split by
# columns instead), static and dynamic sizes, [K, 1] columns (a gradient's N = 1 contraction).
MV = [
    ("mv", (37, 21), (21,), "M, K", "K", "return a @ b", lambda a, b: a @ b),
    ("mv_static", (1003, 100), (100,), "1003, 100", "100", "return a @ b", lambda a, b: a @ b),
    ("mtv", (37, 21), (37,), "K, M", "K", "return a.T @ b", lambda a, b: a.T @ b),
    ("mtv_chunks_static", (5000, 100), (5000,), "5000, 100", "5000", "return a.T @ b", lambda a, b: a.T @ b),
    ("vm_static", (300,), (300, 37), "300", "300, 37", "return a @ b", lambda a, b: a @ b),
    ("vm_wide_static", (70,), (70, 2500), "70", "70, 2500", "return a @ b", lambda a, b: a @ b),
    ("mtv_col_static", (700, 45), (700, 1), "700, 45", "700, 1", "return a.T @ b", lambda a, b: a.T @ b),
    ("mv_col_static", (45, 133), (133, 1), "45, 133", "133, 1", "return a @ b", lambda a, b: a @ b),
]
MV_RNG = np.random.default_rng(16)  # its own generator: the other cases keep their inputs
for dt in ("f32", "f64"):
    for name, sa, sb, da, db, body, ref in MV:
        add(f"matvec_{name}_{dt}", f"a: Tensor[{da}, {dt}], b: Tensor[{db}, {dt}]", body,
            [MV_RNG.standard_normal(sa), MV_RNG.standard_normal(sb)], ref, dt,
            tol=(1e-4, 1e-4) if dt == "f32" else None)
add("matmul_tA_packed_bf16", "a: Tensor[K, M, f32], b: Tensor[K, N, f32]", "return a.astype(bf16).T @ b.astype(bf16)",
    [lowp(rnd(40, 33), "bf16"), lowp(rnd(40, 70), "bf16")], lambda a, b: lowp(a.T @ b, "bf16"), "bf16",
    tol=(3e-2, 6e-2))
add("matmul_blocks_bf16", "a: Tensor[M, K, f32], b: Tensor[K, N, f32]", "return a.astype(bf16) @ b.astype(bf16)",
    [lowp(rnd(33, 300), "bf16"), lowp(rnd(300, 70), "bf16")], lambda a, b: lowp(a @ b, "bf16"), "bf16",
    tol=(3e-2, 6e-2))
add("matmul_blocks_f16", "a: Tensor[M, K, f16], b: Tensor[K, N, f16]", "return a @ b",
    [lowp(rnd(19, 270), "f16"), lowp(rnd(270, 37), "f16")], lambda a, b: lowp(a @ b, "f16"), "f16",
    tol=(5e-3, 2e-2))
# Computed operands (a scale and shift, a rounding to bf16 of an f32 input): their own
# elementwise ops in front of the contraction, which keeps the blocked schedule.
add("matmul_blocks_computed_operands", "a: Tensor[M, K, f32], b: Tensor[K, N, f32]",
    "return (a * 2.0 + 1.0) @ exp(b)", [rnd(33, 300), rnd(300, 70)], lambda a, b: (a * 2 + 1) @ np.exp(b),
    tol=(1e-4, 1e-4))
add("matmul_blocks_rounded_bf16", "a: Tensor[M, K, f32], b: Tensor[K, N, f32]", "return a.astype(bf16) @ b",
    [rnd(33, 300), rnd(300, 70)], lambda a, b: lowp(a, "bf16") @ b, tol=(1e-4, 1e-4))
add("linear_blocks_f32", "x: Tensor[B, S, I], w: Tensor[I, O], b: Tensor[O]", "return linear(x, w, b)",
    [rnd(2, 9, 300), rnd(300, 50), rnd(50)], lambda x, w, b: x @ w + b, tol=(1e-4, 1e-4))

# ---------------------------------------------------------------- shape ops
for dt in ("f32", "f64", "f16"):
    add(f"transpose_T_{dt}", f"x: Tensor[A, B, {dt}]", "return x.T", [rnd(3, 4)], lambda x: x.T, dt)
    add(f"transpose_{dt}", f"x: Tensor[A, B, C, {dt}]", "return x.transpose(0, 2)", [rnd(2, 3, 4)],
        lambda x: np.swapaxes(x, 0, 2), dt)
add("transpose_fn", "x: Tensor[A, B]", "return transpose(x)", [rnd(3, 4)], lambda x: x.T)
add("permute", "x: Tensor[A, B, C]", "return x.permute(2, 0, 1)", [rnd(2, 3, 4)], lambda x: x.transpose(2, 0, 1))
add("reshape", "x: Tensor[A, B, C]", "return x.reshape(A, B * C)", [rnd(2, 3, 4)], lambda x: x.reshape(2, 12))
add("reshape_split", "x: Tensor[A, 12]", "return x.reshape(A, 3, 4)", [rnd(2, 12)], lambda x: x.reshape(2, 3, 4))
add("reshape_fn", "x: Tensor[A, B]", "return reshape(x, [B, A])", [rnd(2, 3)], lambda x: x.reshape(3, 2))
add("reshape_then_transpose", "x: Tensor[A, B, C]", "return x.transpose(0, 1).reshape(B, A * C)", [rnd(2, 3, 4)],
    lambda x: x.transpose(1, 0, 2).reshape(3, 8))
for dt in ("f32", "f64"):
    add(f"concat0_{dt}", f"a: Tensor[A, D, {dt}], b: Tensor[B, D, {dt}]", "return concat([a, b], axis=0)",
        [rnd(2, 3), rnd(4, 3)], lambda a, b: np.concatenate([a, b], 0), dt)
    add(f"concat_last_{dt}", f"a: Tensor[S, A, {dt}], b: Tensor[S, B, {dt}]", "return concat([a, b, a], axis=-1)",
        [rnd(2, 3), rnd(2, 1)], lambda a, b: np.concatenate([a, b, a], -1), dt)
    add(f"stack0_{dt}", f"a: Tensor[A, B, {dt}], b: Tensor[A, B, {dt}]", "return stack([a, b])",
        [rnd(2, 3), rnd(2, 3)], lambda a, b: np.stack([a, b]), dt)
    add(f"stack_last_{dt}", f"a: Tensor[A, B, {dt}], b: Tensor[A, B, {dt}]", "return stack([a, b, a], axis=-1)",
        [rnd(2, 3), rnd(2, 3)], lambda a, b: np.stack([a, b, a], -1), dt)
add("split_first", "x: Tensor[A, 6]", "a, b = x.split(2, axis=1)\nreturn a", [rnd(3, 6)], lambda x: x[:, :3])
add("split_second", "x: Tensor[A, 6]", "a, b = split(x, 2, axis=-1)\nreturn b", [rnd(3, 6)], lambda x: x[:, 3:])
add("split_three", "x: Tensor[6, A]", "a, b, c = x.split(3, axis=0)\nreturn b * 2.0 + c", [rnd(6, 2)],
    lambda x: x[2:4] * 2 + x[4:])
add("unsqueeze0", "x: Tensor[A, B]", "return x.unsqueeze(0)", [rnd(2, 3)], lambda x: x[None])
add("unsqueeze_last", "x: Tensor[A, B]", "return x.unsqueeze(-1) * x.unsqueeze(1)", [rnd(2, 3)],
    lambda x: x[:, :, None] * x[:, None, :])
add("index_col", "x: Tensor[A, B]", "return x[:, 0]", [rnd(3, 4)], lambda x: x[:, 0])
add("index_row", "x: Tensor[A, B]", "return x[1]", [rnd(3, 4)], lambda x: x[1])
add("index_neg", "x: Tensor[A, B]", "return x[-1, :]", [rnd(3, 4)], lambda x: x[-1, :])
add("slice_ellipsis", "x: Tensor[A, B, C]", "return x[..., 1:3]", [rnd(2, 3, 5)], lambda x: x[..., 1:3])
add("slice_step", "x: Tensor[A, B]", "return x[::2, 1:]", [rnd(5, 4)], lambda x: x[::2, 1:])
add("slice_open", "x: Tensor[A, B]", "return x[:2, :-1]", [rnd(5, 4)], lambda x: x[:2, :-1])
# Negative steps on static axes (Python's bounds); a dynamic axis is E0900 (NOT_YET_SUPPORTED).
add("slice_reversed_static", "x: Tensor[5, 6]", "return x[::-1, 4:0:-2] * 1.0", [rnd(5, 6)], lambda x: x[::-1, 4:0:-2])
add("slice_negative_bounds", "x: Tensor[7, 3]", "return concat([x[-2:-7:-3, 2], x[10:1:-4, 0], x[-9::-1, 1]], axis=0)",
    [rnd(7, 3)], lambda x: np.concatenate([x[-2:-7:-3, 2], x[10:1:-4, 0], x[-9::-1, 1]]))
add("slice_reversed_typed", "x: Tensor[5, 6]", "return x[::-1, -1:-7:-1] + x[4:1:-2, 5::-3].sum() * x", [rnd(5, 6)],
    lambda x: x[::-1, ::-1] + x[4:1:-2, 5::-3].sum() * x)
add("slice_negative_empty_f64", "x: Tensor[4, 3, f64]", "return x[0:3:-1].sum() + x[::-1, ::-1].sum(axis=0)",
    [rnd(4, 3)], lambda x: x[::-1, ::-1].sum(0), "f64")
add("index_scalar", "x: Tensor[A, B]", "return x[1, 2]", [rnd(3, 4)], lambda x: np.asarray(x[1, 2]))
add("broadcast_to", "x: Tensor[1, B]", "return x.broadcast_to([3, B])", [rnd(1, 4)],
    lambda x: np.broadcast_to(x, (3, 4)))
add("astype_f64", "x: Tensor[A, B]", "return x.astype(f64)", [rnd(3, 4)], lambda x: x.astype(np.float32), "f64", in_dtype=np.float32)
add("astype_bf16_round", "x: Tensor[A, B]", "return x.astype(bf16)", [rnd(3, 4)], lambda x: lowp(x, "bf16"),
    "bf16", tol=(0, 0))
add("astype_f16_round", "x: Tensor[A, B]", "return x.astype(f16)", [rnd(3, 4)], lambda x: lowp(x, "f16"),
    "f16", tol=(0, 0), in_dtype=np.float32)

# ---------------------------------------------------------------- nn
for dt in ("f32", "f64"):
    for name, scale in (("", 1.0), ("_large", 1e4)):
        add(f"softmax_{dt}{name}", f"x: Tensor[B, D, {dt}]", "return softmax(x, axis=-1)", [rnd(3, 7, scale=scale)],
            lambda x: tnp(torch.softmax(*t64(x), -1)), dt)
        add(f"log_softmax_{dt}{name}", f"x: Tensor[B, D, {dt}]", "return log_softmax(x, axis=-1)",
            [rnd(3, 7, scale=scale)], lambda x: tnp(torch.log_softmax(*t64(x), -1)), dt,
            tol=(2e-5, 2e-3) if dt == "f32" and scale > 1 else None)
    add(f"softmax_axis0_{dt}", f"x: Tensor[A, B, C, {dt}]", "return x.softmax(axis=0)", [rnd(3, 2, 4)],
        lambda x: tnp(torch.softmax(*t64(x), 0)), dt)
    add(f"log_softmax_axis1_{dt}", f"x: Tensor[A, B, C, {dt}]", "return x.log_softmax(axis=1)", [rnd(3, 2, 4)],
        lambda x: tnp(torch.log_softmax(*t64(x), 1)), dt)

    def ln_ref(x, w=None, b=None, eps=1e-5):
        t = t64(x, *(v for v in (w, b) if v is not None))
        return tnp(F.layer_norm(t[0], (x.shape[-1],), t[1] if w is not None else None,
                                t[2] if b is not None else None, eps))
    add(f"layer_norm_{dt}", f"x: Tensor[B, D, {dt}], w: Tensor[D, {dt}], b: Tensor[D, {dt}]",
        "return layer_norm(x, w, b)", [rnd(4, 8), rnd(8), rnd(8)], ln_ref, dt)
    add(f"layer_norm_plain_{dt}", f"x: Tensor[A, B, D, {dt}]", "return layer_norm(x, eps=1e-3)",
        [rnd(2, 3, 8)], lambda x: ln_ref(x, eps=1e-3), dt)
    add(f"layer_norm_kw_{dt}", f"x: Tensor[B, D, {dt}], w: Tensor[D, {dt}], b: Tensor[D, {dt}]",
        "return layer_norm(x, weight=w, bias=b)", [rnd(4, 8), rnd(8), rnd(8)], ln_ref, dt)
    add(f"layer_norm_offset_{dt}", f"x: Tensor[B, D, {dt}], w: Tensor[D, {dt}], b: Tensor[D, {dt}]",
        "return layer_norm(x, w, b)", [rnd(4, 64, offset=1e4), rnd(64), rnd(64)], ln_ref, dt,
        tol=(1e-2, 1e-2) if dt == "f32" else (1e-7, 1e-7))

    def rms_ref(x, w=None, eps=1e-5):
        y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
        return y * w if w is not None else y
    add(f"rms_norm_{dt}", f"x: Tensor[B, D, {dt}], w: Tensor[D, {dt}]", "return rms_norm(x, w)",
        [rnd(4, 8), rnd(8)], rms_ref, dt)
    add(f"rms_norm_plain_{dt}", f"x: Tensor[A, B, D, {dt}]", "return rms_norm(x, eps=1e-3)", [rnd(2, 3, 8)],
        lambda x: rms_ref(x, eps=1e-3), dt)
    add(f"linear_{dt}", f"x: Tensor[B, I, {dt}], w: Tensor[I, O, {dt}], b: Tensor[O, {dt}]", "return linear(x, w, b)",
        [rnd(3, 4), rnd(4, 5), rnd(5)], lambda x, w, b: x @ w + b, dt)
    add(f"linear_nobias_{dt}", f"x: Tensor[A, B, I, {dt}], w: Tensor[I, O, {dt}]", "return linear(x, w)",
        [rnd(2, 3, 4), rnd(4, 5)], lambda x, w: x @ w, dt)
    add(f"embedding_{dt}", f"ids: Tensor[B, S, i64], table: Tensor[V, D, {dt}]", "return embedding(ids, table)",
        [RNG.integers(0, 7, (2, 3)), rnd(7, 4)], lambda i, t: t[i.astype(np.int64)], dt)
    add(f"cross_entropy_{dt}", f"logits: Tensor[B, C, {dt}], labels: Tensor[B, i64]",
        "return cross_entropy(logits, labels)", [rnd(5, 4), RNG.integers(0, 4, (5,))],
        lambda l, y: tnp(F.cross_entropy(*t64(l), torch.from_numpy(y.astype(np.int64)))), dt)
    add(f"cross_entropy_large_{dt}", f"logits: Tensor[B, C, {dt}], labels: Tensor[B, i64]",
        "return cross_entropy(logits, labels)", [rnd(5, 4, scale=1e4), RNG.integers(0, 4, (5,))],
        lambda l, y: tnp(F.cross_entropy(*t64(l), torch.from_numpy(y.astype(np.int64)))), dt)

    def attn_ref(q, k, v, causal=False):
        tq, tk, tv = t64(q, k, v)
        s = tq @ tk.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if causal:
            L, S = s.shape[-2], s.shape[-1]
            s = s.masked_fill(torch.ones(L, S, dtype=torch.bool).triu(1), float("-inf"))
        return tnp(torch.softmax(s, -1) @ tv)
    qkv = f"q: Tensor[B, S, D, {dt}], k: Tensor[B, S, D, {dt}], v: Tensor[B, S, D, {dt}]"
    add(f"attention_{dt}", qkv, "return attention(q, k, v)", [rnd(2, 5, 4), rnd(2, 5, 4), rnd(2, 5, 4)],
        attn_ref, dt)
    add(f"attention_causal_{dt}", qkv, "return attention(q, k, v, causal=True)",
        [rnd(2, 5, 4), rnd(2, 5, 4), rnd(2, 5, 4)], lambda q, k, v: attn_ref(q, k, v, True), dt)
    add(f"attention_4d_{dt}", f"q: Tensor[B, H, L, D, {dt}], k: Tensor[B, H, S, D, {dt}], v: Tensor[B, H, S, D, {dt}]",
        "return attention(q, k, v)", [rnd(2, 2, 3, 4), rnd(2, 2, 5, 4), rnd(2, 2, 5, 4)], attn_ref, dt)
add("one_hot", "ids: Tensor[B, i64]", "return one_hot(ids, 5)", [RNG.integers(0, 5, (6,))],
    lambda i: np.eye(5, dtype=np.float32)[i.astype(np.int64)], "f32")  # f32, as jax.nn.one_hot (docs/types.md)
add("gelu_vs_torch_tanh_free", "x: Tensor[N]", "return gelu(x)", [np.linspace(-6, 6, 49)], gelu)
for op in ("softmax", "log_softmax"):
    ref = {"softmax": torch.softmax, "log_softmax": torch.log_softmax}[op]
    add(f"{op}_bf16_large", "x: Tensor[B, D, f32]", f"return {op}(x.astype(bf16), axis=-1)",
        [lowp(rnd(3, 7, scale=1e4), "bf16")], lambda x, ref=ref: lowp(tnp(ref(*t64(x), -1)), "bf16"), "bf16",
        tol=(2e-2, 1e-1))
add("layer_norm_bf16", "x: Tensor[B, D, f32]", "return layer_norm(x.astype(bf16))", [lowp(rnd(4, 16), "bf16")],
    lambda x: lowp(tnp(F.layer_norm(*t64(x), (16,))), "bf16"), "bf16", tol=(3e-2, 3e-2))

# ---------------------------------------------------------------- creation and random
add("zeros", "x: Tensor[A, B]", "return x + zeros(A, B)", [rnd(2, 3)], lambda x: x)
add("ones", "x: Tensor[A, B]", "return ones(A, B) - x", [rnd(2, 3)], lambda x: 1 - x)
add("full", "x: Tensor[A, B]", "return full([A, B], 2.5) * x", [rnd(2, 3)], lambda x: 2.5 * x)
add("zeros_static", "", "return zeros(2, 3)", [], lambda: np.zeros((2, 3)))
add("ones_f64", "", "return ones(4, dtype=f64)", [], lambda: np.ones(4), "f64")
add("full_static", "", "return full([3], 7.0)", [], lambda: np.full(3, 7.0))
add("arange", "", "return arange(5)", [], lambda: np.arange(5))
add("arange_float", "x: Tensor[N]", "return x * arange(N).astype(f32)", [rnd(6)], lambda x: x * np.arange(6))


def stats_check(kind):
    def check(out):
        a, b, c = out[0].astype(np.float64), out[1], out[2]
        n = a.size
        if not np.array_equal(out[0], b):
            return "same seed gave different values"
        if np.array_equal(out[0], c):
            return "different seeds gave identical values"
        m, s = (0.0, 1.0) if kind == "randn" else (0.5, math.sqrt(1 / 12))
        if abs(a.mean() - m) > 5 * s / math.sqrt(n):
            return f"mean {a.mean()} far from {m}"
        if abs(a.std() - s) > 0.05 * s:
            return f"std {a.std()} far from {s}"
        if kind == "rand" and (a.min() < 0 or a.max() >= 1):
            return f"values outside [0, 1): {a.min()} {a.max()}"
        return None
    return check


for kind in ("randn", "rand"):
    add(f"{kind}_stats", "",
        f"return stack([{kind}(64, 64, seed=7), {kind}(64, 64, seed=7), {kind}(64, 64, seed=8)])",
        [], None, check=stats_check(kind), decorators=("tessera.effects(random)",))
# Narrow float types draw the f32 stream and round it: the same seed, the same numbers.
for nt in ("bf16", "f16"):
    for kind in ("randn", "rand"):
        add(f"{kind}_{nt}_rounds_f32_stream", "",
            f"return {kind}(16, 16, dtype={nt}, seed=3).astype(f32) - {kind}(16, 16, seed=3).astype({nt}).astype(f32)",
            [], lambda: np.zeros((16, 16)), decorators=("tessera.effects(random)",))
add("dropout_training_free", "x: Tensor[A, B]", "return x", [rnd(2, 2)], lambda x: x)

# Convolution and pooling (NCHW), against torch.nn.functional; spatial sizes static.
for dt in ("f32", "f64"):
    add(f"conv2d_pad_{dt}", f"x: Tensor[N, 3, 6, 6, {dt}], w: Tensor[4, 3, 3, 3, {dt}]",
        "return conv2d(x, w, padding=1)", [rnd(2, 3, 6, 6), rnd(4, 3, 3, 3)],
        lambda x, w: tnp(F.conv2d(*t64(x, w), padding=1)), dt)
    add(f"conv2d_stride_dilation_{dt}", f"x: Tensor[N, 2, 9, 9, {dt}], w: Tensor[3, 2, 3, 3, {dt}]",
        "return conv2d(x, w, stride=2, dilation=2)", [rnd(1, 2, 9, 9), rnd(3, 2, 3, 3)],
        lambda x, w: tnp(F.conv2d(*t64(x, w), stride=2, dilation=2)), dt)
    add(f"max_pool2d_{dt}", f"x: Tensor[N, C, 4, 6, {dt}]", "return max_pool2d(x, 2)", [rnd(2, 3, 4, 6)],
        lambda x: tnp(F.max_pool2d(*t64(x), 2)), dt)
    add(f"max_pool2d_pad_{dt}", f"x: Tensor[N, C, 5, 5, {dt}]", "return max_pool2d(x, 3, stride=2, padding=1)",
        [rnd(1, 2, 5, 5)], lambda x: tnp(F.max_pool2d(*t64(x), 3, stride=2, padding=1)), dt)
    add(f"avg_pool2d_{dt}", f"x: Tensor[N, C, 4, 4, {dt}]", "return avg_pool2d(x, 2)", [rnd(2, 3, 4, 4)],
        lambda x: tnp(F.avg_pool2d(*t64(x), 2)), dt)
    add(f"adaptive_avg_pool2d_{dt}", f"x: Tensor[N, C, 4, 6, {dt}]", "return adaptive_avg_pool2d(x, 2)",
        [rnd(2, 3, 4, 6)], lambda x: tnp(F.adaptive_avg_pool2d(*t64(x), 2)), dt)
    # Rows wider than a vector: stride 1 reads its windows with vector loads (and a scalar tail),
    # stride 2 with scalar loads; overlapping windows, padding, and a window of 4 x 4.
    add(f"max_pool2d_wide_s1_{dt}", f"x: Tensor[N, C, 6, 37, {dt}]", "return max_pool2d(x, 3, stride=1, padding=1)",
        [rnd(2, 3, 6, 37)], lambda x: tnp(F.max_pool2d(*t64(x), 3, stride=1, padding=1)), dt)
    add(f"max_pool2d_wide_s2_{dt}", f"x: Tensor[N, C, 8, 40, {dt}]", "return max_pool2d(x, 2)",
        [rnd(2, 3, 8, 40)], lambda x: tnp(F.max_pool2d(*t64(x), 2)), dt)
    add(f"avg_pool2d_wide_k4_{dt}", f"x: Tensor[N, C, 7, 35, {dt}]", "return avg_pool2d(x, 4, stride=1, padding=2)",
        [rnd(1, 2, 7, 35)], lambda x: tnp(F.avg_pool2d(*t64(x), 4, stride=1, padding=2)), dt)

    # Grouped and depthwise convolution, group_norm, adaptive pooling with uneven windows.
    add(f"conv2d_groups_{dt}", f"x: Tensor[N, 4, 6, 6, {dt}], w: Tensor[6, 2, 3, 3, {dt}]",
        "return conv2d(x, w, groups=2)", [rnd(2, 4, 6, 6), rnd(6, 2, 3, 3)],
        lambda x, w: tnp(F.conv2d(*t64(x, w), groups=2)), dt)
    add(f"conv2d_groups_bias_{dt}", f"x: Tensor[N, 6, 7, 7, {dt}], w: Tensor[9, 2, 3, 3, {dt}], b: Tensor[9, {dt}]",
        "return conv2d(x, w, b, stride=2, padding=1, dilation=2, groups=3)", [rnd(2, 6, 7, 7), rnd(9, 2, 3, 3), rnd(9)],
        lambda x, w, b: tnp(F.conv2d(*t64(x, w, b), stride=2, padding=1, dilation=2, groups=3)), dt)
    add(f"conv2d_depthwise_{dt}", f"x: Tensor[N, 3, 5, 6, {dt}], w: Tensor[6, 1, 3, 3, {dt}]",
        "return conv2d(x, w, padding=1, groups=3)", [rnd(2, 3, 5, 6), rnd(6, 1, 3, 3)],
        lambda x, w: tnp(F.conv2d(*t64(x, w), padding=1, groups=3)), dt)
    for name, (shape, out) in {"uneven": ((2, 3, 5, 5), 2), "uneven_rect": ((1, 2, 7, 10), (3, 4)),
                               "grow": ((1, 2, 3, 4), (5, 6))}.items():
        osz = out if isinstance(out, int) else f"({out[0]}, {out[1]})"
        add(f"adaptive_avg_pool2d_{name}_{dt}", f"x: Tensor[N, C, {shape[2]}, {shape[3]}, {dt}]",
            f"return adaptive_avg_pool2d(x, {osz})", [rnd(*shape)],
            lambda x, out=out: tnp(F.adaptive_avg_pool2d(*t64(x), out)), dt)
    add(f"group_norm_{dt}", f"x: Tensor[N, 4, D, {dt}]", "return group_norm(x, 2)", [rnd(3, 4, 5)],
        lambda x: tnp(F.group_norm(*t64(x), 2)), dt)
    add(f"group_norm_affine_{dt}", f"x: Tensor[N, 6, H, W, {dt}], w: Tensor[6, {dt}], b: Tensor[6, {dt}]",
        "return group_norm(x, 3, w, b, eps=1e-3)", [rnd(2, 6, 3, 4, offset=5.0), rnd(6), rnd(6)],
        lambda x, w, b: tnp(F.group_norm(*t64(x), 3, *t64(w, b), eps=1e-3)), dt)
    add(f"group_norm_kw_{dt}", f"x: Tensor[N, C, {dt}], w: Tensor[C, {dt}]", "return group_norm(x, num_groups=1, weight=w)",
        [rnd(4, 6), rnd(6)], lambda x, w: tnp(F.group_norm(*t64(x), 1, *t64(w))), dt)
    add(f"group_norm_instance_{dt}", f"x: Tensor[N, 3, 4, 4, {dt}]", "return group_norm(x, 3)", [rnd(2, 3, 4, 4)],
        lambda x: tnp(F.group_norm(*t64(x), 3)), dt)
    # Split into a tuple, and negative slice bounds on dynamic axes.
    add(f"split_dynamic_{dt}", f"x: Tensor[A, B, {dt}]", "assert A % 2 == 0\na, b = x.split(2, axis=0)\nreturn a - b", [rnd(6, 3)],
        lambda x: x[:3] - x[3:], dt)
    add(f"split_index_{dt}", f"x: Tensor[A, 6, {dt}]", "parts = split(x, 3, axis=1)\nreturn parts[-1] + parts[0]",
        [rnd(2, 6)], lambda x: x[:, 4:] + x[:, :2], dt)
    add(f"slice_negative_{dt}", f"x: Tensor[A, B, {dt}]", "return x[-3:, 1:-1]", [rnd(5, 6)], lambda x: x[-3:, 1:-1], dt)
    add(f"slice_negative_step_{dt}", f"x: Tensor[A, {dt}]", "return x[-5:-1:2]", [rnd(7)], lambda x: x[-5:-1:2], dt)
    add(f"slice_clamp_{dt}", f"x: Tensor[A, B, {dt}]", "return x[:, :-10]", [rnd(3, 4)], lambda x: x[:, :-10], dt)
    add(f"slice_open_end_{dt}", f"x: Tensor[A, B, {dt}]", "return x[:-1, 5:]", [rnd(3, 4)], lambda x: x[:-1, 5:], dt)
    # load / save (.npy): paths are string literals; {DIR} is the case's work directory.
    add(f"load_{dt}", f"x: Tensor[B, D, {dt}]", f"w: Tensor[B, D, {dt}] = load(\"{{DIR}}/in0.npy\")\nreturn w * x",
        [rnd(3, 4)], lambda x: x * x, dt)
    add(f"load_static_{dt}", f"x: Tensor[B, D, {dt}]", f"w: Tensor[3, 4, {dt}] = load(\"{{DIR}}/in0.npy\")\nreturn x - w.sum()",
        [rnd(3, 4)], lambda x: x - x.sum(), dt)
    add(f"save_load_{dt}", f"x: Tensor[B, D, {dt}]",
        f"save(exp(x), \"{{DIR}}/saved.npy\")\ny: Tensor[_, D, {dt}] = load(\"{{DIR}}/saved.npy\")\nreturn y + 1.0",
        [rnd(3, 4)], lambda x: np.exp(x) + 1.0, dt)

# ---------------------------------------------------------------- mixed dtypes (docs/types.md)
# The lowering casts each operand to the dtype the operation computes in (the promotion the
# checker applied): int with float, f32 with f64 and bf16, i32 with i64, in every operation.
def ints(*shape, lo=-5, hi=6):
    return RNG.integers(lo, hi, shape)


f32r = lambda x: x.astype(np.float32).astype(np.float64)
add("promote_i64_f32_add", "a: Tensor[N, i64], x: Tensor[N]", "return a + x", [ints(7), rnd(7)], lambda a, x: a + x)
add("promote_f32_i64_sub_bcast", "x: Tensor[A, B], a: Tensor[B, i64]", "return x - a", [rnd(3, 5), ints(5)],
    lambda x, a: x - a)
add("promote_i64_f32_div", "a: Tensor[N, i64], x: Tensor[N]", "return a / x", [ints(6), pos(6)], lambda a, x: a / x)
add("promote_i64_f32_floordiv_mod", "a: Tensor[N, i64], x: Tensor[N]", "return (a // x) * 10.0 + a % x",
    [ints(8), pos(8)], lambda a, x: np.floor_divide(a, x) * 10 + np.mod(a, x), tol=(1e-5, 1e-5))
add("promote_f32_i64_pow", "x: Tensor[N], a: Tensor[N, i64]", "return x ** a", [pos(6), ints(6, lo=0, hi=4)],
    lambda x, a: x ** a)
add("promote_f32_f64_mul", "x: Tensor[N, f64]", "return x.astype(f32) * x", [rnd(6)], lambda x: f32r(x) * x, "f64")
add("promote_bf16_f32_add", "x: Tensor[N]", "return x.astype(bf16) + x", [rnd(8)], lambda x: lowp(x, "bf16") + x)
add("promote_i32_i64_add", "a: Tensor[N, i64]", "return a.astype(i32) * 3 + a", [ints(6)], lambda a: a * 4)
add("promote_bool_i64_add", "a: Tensor[N, i64]", "return (a > 0) + a", [ints(6)], lambda a: (a > 0) + a)
add("promote_maximum_i64_f32", "a: Tensor[N, i64], x: Tensor[N]", "return maximum(a, x) + minimum(x, a)",
    [ints(6, lo=-2, hi=3), rnd(6)], lambda a, x: np.maximum(a, x) + np.minimum(x, a))
add("promote_matmul_i64_f32", "a: Tensor[A, K, i64], x: Tensor[K, B]", "return a @ x", [ints(2, 3), rnd(3, 4)],
    lambda a, x: a @ x)
add("promote_where_i64_f32", "a: Tensor[N, i64], x: Tensor[N]", "return where(a > 0, a, x)", [ints(7), rnd(7)],
    lambda a, x: np.where(a > 0, a, x))
# Bool tensors in and out of vectorized loops: a bool buffer holds one byte per element, so
# the vectorized loops read and write it as bytes (rows of 37 and 130: vector lanes and tails).
def bools(*shape):
    return RNG.uniform(size=shape) < 0.5


for dt in ("f32", "f64"):
    add(f"bool_where_mask_{dt}", f"m: Tensor[B, D, bool], x: Tensor[B, D, {dt}], y: Tensor[B, D, {dt}]",
        "return where(m, x * 2.0, y - 1.0)", [bools(5, 37), rnd(5, 37), rnd(5, 37)],
        lambda m, x, y: np.where(m, x * 2.0, y - 1.0), dt)
    add(f"bool_compare_out_{dt}", f"x: Tensor[B, D, {dt}]", "return x > 0.25", [rnd(4, 130)], lambda x: x > 0.25, dt)
for dt in ("bf16", "f16"):  # low-precision values arrive as f32 and are cast in the program
    x, y = lowp(rnd(5, 37), dt), lowp(rnd(5, 37), dt)
    add(f"bool_where_mask_{dt}", "m: Tensor[B, D, bool], x: Tensor[B, D], y: Tensor[B, D]",
        f"x = x.astype({dt})\ny = y.astype({dt})\nreturn where(m, x * 2.0, y - 1.0)", [bools(5, 37), x, y],
        lambda m, x, y, dt=dt: lowp(np.where(m, x * 2.0, lowp(y - 1.0, dt)), dt), dt, in_dtype=np.float32)
    add(f"bool_compare_out_{dt}", "x: Tensor[B, D]", f"return x.astype({dt}) > 0.25", [lowp(rnd(4, 130), dt)],
        lambda x: x > 0.25, dt, in_dtype=np.float32)
add("bool_masked_row_sum", "m: Tensor[B, D, bool], x: Tensor[B, D]", "return where(m, x, 0.0).sum(axis=-1)",
    [bools(6, 130), rnd(6, 130)], lambda m, x: np.where(m, x, 0.0).sum(axis=-1))
add("bool_mask_broadcast", "m: Tensor[D, bool], x: Tensor[B, D]", "return where(m, exp(x), -x)",
    [bools(37), rnd(3, 37)], lambda m, x: np.where(m, np.exp(x), -x))
add("promote_where_bool_literal", "x: Tensor[N]", "return where(True, x, 0.0) + where(False, x, 1.0)", [rnd(5)],
    lambda x: x + 1.0)
add("promote_compare_i64_f32", "a: Tensor[N, i64], x: Tensor[N]", "return a < x", [ints(8, lo=-1, hi=2), rnd(8)],
    lambda a, x: a < x)
add("promote_compare_i64_float_scalar", "a: Tensor[N, i64]", "return (a < 2.5) & (a >= -1.5)", [ints(9)],
    lambda a: (a < 2.5) & (a >= -1.5))
add("promote_compare_f64_f32", "x: Tensor[N, f64]", "return x.astype(f32) == x", [np.array([0.5, 0.1, 2.0, 1 / 3])],
    lambda x: x.astype(np.float32) == x, "f64")
add("promote_layer_norm_f64_weight", "x: Tensor[A, D], w: Tensor[D]", "return layer_norm(x, w.astype(f64).astype(f32))",
    [rnd(3, 8), rnd(8)], lambda x, w: tnp(F.layer_norm(*t64(x), (8,), *t64(w))))
# A size computed once at the top level from an argument's shape is the checker's expression of
# the dimensions (not a run-time value that changed): it still gives a tensor of that size.
add("size_from_argument_shape", "a: Tensor[N, i64]", "n = a.shape[0]\nm = n * 2\nreturn ones(m).sum() + a", [ints(5)],
    lambda a: 10.0 + a)
# Integer powers: by squaring, wrapping as NumPy (a negative exponent is a run-time error: lit).
add("int_pow_scalar_exponent", "a: Tensor[N, i64]", "return a ** 2 + a ** 0", [ints(9)], lambda a: a ** 2 + 1)
add("int_pow_tensor_exponent", "a: Tensor[N, i64], b: Tensor[N, i64]", "return a ** b",
    [ints(12, lo=-9, hi=10), ints(12, lo=0, hi=25)], lambda a, b: np.power(a, b))

# ---------------------------------------------------------------- 8-bit floats
# f8e4m3 (E4M3FN: bias 7, no inf, S.1111.111 NaN, max 448) and f8e5m2 (IEEE-like: bias 15, max
# 57344, inf). Conversions round to nearest, ties to even; E4M3FN overflows to NaN, E5M2 to inf.
# The reference is exact: every finite value of the format (exact in float64), nearest wins, a tie
# takes the even code, and one more binade's first value stands for overflow. Inputs: every
# value, the midpoints between neighbours (ties) and their f32 neighbours, the overflow edge,
# subnormals, zeros, inf and NaN; each case compares bits exactly (signed zeros, NaN as NaN).
from float8_ref import F8, f8_round, f8_table  # noqa: E402  (the exact reference, shared with grad_cases)


def f8_inputs(fmt, dtype=np.float32):
    vals, over = f8_table(fmt)
    pts = list(vals) + [(a + b) / 2 for a, b in zip(vals, vals[1:] + [over])]
    pts += [over, 2 * over, 1024.0, 1e30 if dtype == np.float32 else 1e300, vals[1] / 4, vals[1] / 2, vals[1] * 0.75]
    x = np.array(pts, dtype=dtype)
    near = np.concatenate([np.nextafter(x, dtype(np.inf)), np.nextafter(x, dtype(0))])
    x = np.concatenate([x, near, [np.inf, np.nan, 0.0]])
    return np.concatenate([x, -x]).astype(dtype)


def f8_exact(expected):
    def check(out):
        got = np.asarray(out, dtype=np.float64)
        same = (got == expected) & (np.signbit(got) == np.signbit(expected)) | (np.isnan(got) & np.isnan(expected))
        if same.all():
            return None
        i = int(np.flatnonzero(~same)[0])
        return f"element {i}: got {got.ravel()[i]!r}, expected {expected.ravel()[i]!r}"
    return check


for fmt in F8:
    for dt, npdt in (("f32", np.float32), ("f64", np.float64)):
        xs = f8_inputs(fmt, npdt)
        # Long rows: vector conversions with a scalar tail; five elements: the scalar path.
        for tag, x in (("", xs), ("_short", xs[[1, 7, 40, -3, -1]])):
            add(f"{fmt}_round_trip_{dt}{tag}", f"x: Tensor[N, {dt}]", f"return x.astype({fmt}).astype({dt})", [x],
                lambda x: x, dt, check=f8_exact(f8_round(x, fmt)), in_dtype=npdt)
    # f64 inputs a hair above a tie: rounding through f32 first would land on the tie (and round to
    # even); the direct conversion rounds up.
    vals, _ = f8_table(fmt)
    ties = np.array([(a + b) / 2 for a, b in zip(vals[4:40], vals[5:41])])
    hair = ties * (1 + 2.0 ** -40)
    add(f"{fmt}_no_double_rounding_f64", "x: Tensor[N, f64]", f"return x.astype({fmt}).astype(f64)", [hair],
        lambda x: x, "f64", check=f8_exact(f8_round(hair, fmt)), in_dtype=np.float64)
    # f8 storage feeding f32 arithmetic: a matmul with f8 weights (converted on load) and an
    # elementwise op whose result is stored as f8.
    w = np.linspace(-3, 3, 24).reshape(8, 3)
    xm = np.linspace(-1, 1, 32).reshape(4, 8)
    add(f"{fmt}_weights_matmul", "x: Tensor[B, K, f32], w: Tensor[K, M, f32]",
        f"return x @ w.astype({fmt}).astype(f32)", [xm, w], lambda x, w, fmt=fmt: x @ f8_round(w, fmt))
    add(f"{fmt}_elementwise_store", "x: Tensor[B, K, f32]",
        f"y = (x * 3.0).astype({fmt})\nreturn (y + y).astype(f32)", [xm],
        lambda x, fmt=fmt: f8_round(2 * f8_round(3 * x.astype(np.float32).astype(np.float64), fmt), fmt))
    # argmax / max / min compare f8 values; the running maximum starts at the format's
    # lowest value (-448 for E4M3FN, which has no -inf: its "-inf" would be NaN, and every row of
    # negative numbers would give index 0). Rows all negative, all positive, and mixed.
    neg = -np.abs(np.linspace(0.3, 5, 32).reshape(4, 8))[:, ::-1] * np.array([[1], [1], [-1], [1]])
    for op in ("argmax", "max", "min"):
        add(f"{fmt}_{op}_rows", "x: Tensor[B, K, f32]",
            f"return x.astype({fmt}).{op}(axis=1)" + ("" if op.startswith("arg") else ".astype(f32)"), [neg],
            (lambda x, op=op, fmt=fmt: getattr(np, op)(f8_round(x, fmt), axis=1)))
    # Arithmetic on f8 tensors computes in f32 and rounds each result to f8: a sum over an axis, a
    # matmul of two f8 tensors, where and exp.
    add(f"{fmt}_sum_axis", "x: Tensor[B, K, f32]", f"return x.astype({fmt}).sum(axis=0).astype(f32)", [xm * 4],
        lambda x, fmt=fmt: f8_round(f8_round(x, fmt).sum(0), fmt))
    add(f"{fmt}_matmul_f8_f8", "x: Tensor[B, K, f32], w: Tensor[K, M, f32]",
        f"return (x.astype({fmt}) @ w.astype({fmt})).astype(f32)", [xm, w],
        lambda x, w, fmt=fmt: f8_round(f8_round(x, fmt) @ f8_round(w, fmt), fmt))
    add(f"{fmt}_where_exp", "x: Tensor[B, K, f32]",
        f"y = x.astype({fmt})\nreturn where(y > 0.0, y, y * 0.5).astype(f32) + exp(y).astype(f32)", [xm * 2],
        lambda x, fmt=fmt: (np.where(f8_round(x, fmt) > 0, f8_round(x, fmt), f8_round(f8_round(x, fmt) * 0.5, fmt))
                            .astype(np.float32) + f8_round(np.exp(f8_round(x, fmt)), fmt).astype(np.float32)))

# ---------------------------------------------------------------- long float reductions
# Sums of many f32 values: the error is no worse than NumPy's (pairwise summation) on the same
# data, against the exact (float64) sum. A sequential f32 sum of 1e7 copies of 0.1 is 9% off.
def no_worse_than_numpy(data, np_fn, axis=None):
    def check(out):
        x32 = data.astype(np.float32)
        exact = np.asarray(np_fn(x32.astype(np.float64), axis=axis))
        ours = np.asarray(out, dtype=np.float64)
        theirs = np.asarray(np_fn(x32, axis=axis), dtype=np.float64)
        if ours.shape != exact.shape:
            return f"shape {ours.shape}, expected {exact.shape}"
        bad = np.abs(ours - exact) > np.abs(theirs - exact) + 1e-30
        if bad.any():
            i = np.argmax(bad)
            return (f"error {np.abs(ours - exact).ravel()[i]:.3g} above NumPy's "
                    f"{np.abs(theirs - exact).ravel()[i]:.3g} (ours {ours.ravel()[i]!r}, exact {exact.ravel()[i]!r})")
        return None
    return check


add("sum_blocked_full_mean", "", "return full([1000, 10000], 0.1).mean(keepdim=True)", [], None,
    check=no_worse_than_numpy(np.full((1000, 10000), 0.1), lambda x, axis: np.mean(x, axis=axis, keepdims=True)))
_big = rnd(1000, 2000, offset=1.0)
add("sum_blocked_all", "x: Tensor[A, B]", "return x.sum(keepdim=True)", [_big], None,
    check=no_worse_than_numpy(_big, lambda x, axis: np.sum(x, axis=axis, keepdims=True)))
_cols = pos(200000, 3)
add("sum_blocked_columns", "x: Tensor[A, B]", "return x.sum(axis=0)", [_cols], None,
    check=no_worse_than_numpy(_cols, np.sum, axis=0))
_rows = rnd(4, 300000, offset=2.0)
add("sum_blocked_rows_mean", "x: Tensor[A, B]", "return x.mean(axis=-1)", [_rows], None,
    check=no_worse_than_numpy(_rows, np.mean, axis=-1))

# ---------------------------------------------------------------- distributions
# D.log_prob(x) (LANGUAGE.md §9) against scipy.stats on ordinary and extreme parameters (tiny
# scales, huge counts, values on and outside the support's boundary), parameters as tensors and
# as constants, in f64 and f32 (computed in f64 inside; the f32 result rounds it). Their own
# random stream, so that the cases above keep their inputs.
import scipy.stats as st  # noqa: E402

DRNG = np.random.default_rng(20261207)


def dn(*shape, scale=1.0):
    return np.asarray(DRNG.standard_normal(shape) * scale)


def dp(*shape, lo=0.1, hi=3.0):
    return np.asarray(DRNG.uniform(lo, hi, shape))


DIST_TOL = {"f64": (1e-9, 1e-10), "f32": (2e-6, 2e-6)}


def studentt_mp(x, d, l, s):
    import mpmath as mp
    mp.mp.dps = 40
    out = []
    for xi, di, li, si in zip(x, d, l, s):
        z, df = (mp.mpf(xi) - li) / si, mp.mpf(di)
        out.append(float(mp.loggamma((df + 1) / 2) - mp.loggamma(df / 2) - mp.log(df * mp.pi) / 2 - mp.log(si)
                         - (df + 1) / 2 * mp.log1p(z * z / df)))
    return np.array(out)
DIST_CASES = [
    # name, params (names, arrays), x, expression, scipy reference
    ("normal", ["loc", "scale"], [dn(7), dp(7)], dn(7, scale=3), "Normal(loc, scale)",
     lambda x, l, s: st.norm.logpdf(x, l, s)),
    ("normal_tiny_scale", ["loc", "scale"], [dn(7), dp(7, lo=1e-4, hi=1e-3)], dn(7) * 1e-3, "Normal(loc, scale)",
     lambda x, l, s: st.norm.logpdf(x, l, s)),
    ("halfnormal", ["scale"], [dp(8)], np.array([-1.0, 0.0, 1e-300, 0.3, 1.0, 2.5, 10.0, 40.0]), "HalfNormal(scale)",
     lambda x, s: st.halfnorm.logpdf(x, scale=s)),
    ("lognormal", ["loc", "scale"], [dn(7), dp(7)], np.array([-1.0, 0.0, 1e-8, 0.5, 1.0, 3.0, 1e6]), "LogNormal(loc, scale)",
     lambda x, l, s: st.lognorm.logpdf(x, s, scale=np.exp(l))),
    ("cauchy", ["loc", "scale"], [dn(7), dp(7)], dn(7, scale=20), "Cauchy(loc, scale)",
     lambda x, l, s: st.cauchy.logpdf(x, l, s)),
    ("halfcauchy", ["scale"], [dp(6)], np.array([-2.0, 0.0, 0.5, 3.0, 1e3, 1e8]), "HalfCauchy(scale)",
     lambda x, s: st.halfcauchy.logpdf(x, scale=s)),
    ("studentt", ["df", "loc", "scale"], [dp(7, lo=0.5, hi=30.0), dn(7), dp(7)], dn(7, scale=5), "StudentT(df, loc, scale)",
     lambda x, d, l, s: st.t.logpdf(x, d, l, s)),
    # scipy's t.logpdf loses ~1e-8 here (gammaln((df+1)/2) - gammaln(df/2) of two values near 1e7):
    # the reference is mpmath at 40 digits.
    ("studentt_huge_df", ["df", "loc", "scale"], [dp(5, lo=1e4, hi=1e7), dn(5), dp(5)], dn(5), "StudentT(df, loc, scale)",
     lambda x, d, l, s: studentt_mp(x, d, l, s)),
    ("gamma", ["a", "rate"], [dp(8, lo=0.2, hi=20.0), dp(8)], np.array([-1.0, 0.0, 1e-6, 0.1, 1.0, 3.0, 20.0, 100.0]),
     "Gamma(a, rate)", lambda x, a, r: st.gamma.logpdf(x, a, scale=1 / r)),
    ("exponential", ["rate"], [dp(6)], np.array([-1.0, 0.0, 0.2, 1.0, 5.0, 500.0]), "Exponential(rate)",
     lambda x, r: st.expon.logpdf(x, scale=1 / r)),
    ("beta", ["a", "b"], [dp(8, lo=0.3, hi=8.0), dp(8, lo=0.3, hi=8.0)],
     np.array([-0.1, 0.0, 1e-9, 0.2, 0.5, 0.9, 1.0 - 1e-9, 1.0]), "Beta(a, b)", lambda x, a, b: st.beta.logpdf(x, a, b)),
    ("uniform", ["lo", "hi"], [dn(7) - 2, dn(7) + 2], np.array([-9.0, -1.0, 0.0, 0.5, 1.0, 9.0, 2.0]), "Uniform(lo, hi)",
     lambda x, lo, hi: st.uniform.logpdf(x, lo, hi - lo)),
    ("poisson", ["rate"], [dp(8, lo=0.01, hi=50.0)], np.array([0.0, 1.0, 3.0, 2.5, -1.0, 17.0, 100.0, 1e6]), "Poisson(rate)",
     lambda x, r: st.poisson.logpmf(x, r)),
    ("poisson_log_rate", ["lr"], [dn(6, scale=3)], np.array([0.0, 1.0, 2.0, 5.0, 30.0, 1000.0]), "Poisson(log_rate=lr)",
     lambda x, lr: st.poisson.logpmf(x, np.exp(lr))),
    ("bernoulli_logits", ["lg"], [dn(6, scale=4)], np.array([0.0, 1.0, 1.0, 0.0, 0.5, 1.0]), "Bernoulli(logits=lg)",
     lambda x, lg: np.where((x == 0) | (x == 1), x * lg - np.logaddexp(0, lg), -np.inf)),
    ("bernoulli_probs", ["p"], [DRNG.uniform(0.01, 0.99, 6)], np.array([0.0, 1.0, 1.0, 0.0, 2.0, 1.0]),
     "Bernoulli(probs=p)", lambda x, p: st.bernoulli.logpmf(x, p)),
]


def dist_case(name, pnames, pvals, x, expr, ref, dt):
    n = len(x)
    params = ", ".join([f"x: Tensor[N, {dt}]"] + [f"{p}: Tensor[N, {dt}]" for p in pnames])
    expr_t = expr
    def reference(x, *ps, ref=ref):
        with np.errstate(all="ignore"):
            return np.asarray(ref(x, *ps), dtype=np.float64)
    tol = DIST_TOL[dt]
    add(f"dist_{name}_{dt}", params, f"return {expr_t}.log_prob(x)", [x] + [np.broadcast_to(v, (n,)).copy() for v in pvals],
        reference, dt, tol=tol)


for _args in DIST_CASES:
    for _dt in ("f64", "f32"):
        dist_case(*_args, _dt)

# Constant parameters (folded into the program) and broadcasting: a scalar distribution over a
# matrix of values, and a batch of parameters over rows.
_xm = dn(3, 4, scale=2)
add("dist_normal_const_matrix", "x: Tensor[A, B, f64]", "return Normal(0.5, 2.0).log_prob(x)", [_xm],
    lambda x: st.norm.logpdf(x, 0.5, 2.0), "f64", tol=DIST_TOL["f64"])
_locs = dn(4)
add("dist_normal_row_params", "x: Tensor[A, B, f64], loc: Tensor[B, f64]", "return Normal(loc, 1.5).log_prob(x)",
    [_xm, _locs], lambda x, l: st.norm.logpdf(x, l, 1.5), "f64", tol=DIST_TOL["f64"])
add("dist_gamma_const", "x: Tensor[N, f64]", "return Gamma(2.5, 1.5).log_prob(x)", [dp(9)],
    lambda x: st.gamma.logpdf(x, 2.5, scale=1 / 1.5), "f64", tol=DIST_TOL["f64"])
add("dist_studentt_defaults", "x: Tensor[N, f64]", "return StudentT(4.0).log_prob(x)", [dn(9)],
    lambda x: st.t.logpdf(x, 4.0), "f64", tol=DIST_TOL["f64"])
add("dist_value_bound_to_name", "x: Tensor[N, f64], s: Tensor[N, f64]", "d = HalfCauchy(s)\nreturn d.log_prob(x) + 1.0",
    [dp(6), dp(6)], lambda x, s: st.halfcauchy.logpdf(x, scale=s) + 1.0, "f64", tol=DIST_TOL["f64"])

# concat / stack of one tensor of a dynamic size (an internal error in eliminate-empty-tensors
# before: the fresh result's size was computed after the slice of it).
_one = dn(5)
add("concat_single_dynamic", "x: Tensor[N, f64]", "return concat([x * 2.0], axis=0)", [_one], lambda x: 2 * x, "f64")
add("stack_single_dynamic", "x: Tensor[N, f64]", "return stack([x + 1.0], axis=0)", [_one], lambda x: (x + 1)[None], "f64")

# Binomial (probs= and logits=, counts on and off the support) and Categorical (class ids against
# logits or unnormalized probs, the classes on the last axis).
import scipy.special as ssp  # noqa: E402

_bn = np.array([0.0, 1.0, 3.0, 7.0, 10.0, 11.0, 2.5, -1.0])
_bp = DRNG.uniform(0.05, 0.95, 8)
add("dist_binomial_probs_f64", "x: Tensor[N, f64], p: Tensor[N, f64]", "return Binomial(10.0, probs=p).log_prob(x)",
    [_bn, _bp], lambda x, p: st.binom.logpmf(x, 10, p), "f64", tol=DIST_TOL["f64"])
_bl = dn(8, scale=2)
add("dist_binomial_logits_f64", "x: Tensor[N, f64], l: Tensor[N, f64]", "return Binomial(10.0, logits=l).log_prob(x)",
    [_bn, _bl], lambda x, l: st.binom.logpmf(x, 10, ssp.expit(l)), "f64", tol=DIST_TOL["f64"])
_lg = dn(6, 4, scale=2)
_ids = np.array([0, 3, 1, 2, 3, 0], dtype=np.int64)
add("dist_categorical_logits_f64", "l: Tensor[N, 4, f64], y: Tensor[N, i64]", "return Categorical(logits=l).log_prob(y)",
    [_lg, _ids], lambda l, y: ssp.log_softmax(l, axis=1)[np.arange(6), y.astype(int)], "f64", tol=DIST_TOL["f64"])
add("dist_categorical_probs_f64", "l: Tensor[N, 4, f64], y: Tensor[N, i64]", "return Categorical(probs=exp(l)).log_prob(y)",
    [_lg, _ids], lambda l, y: ssp.log_softmax(l, axis=1)[np.arange(6), y.astype(int)], "f64", tol=DIST_TOL["f64"])

# Dense linear algebra (cholesky, solve_triangular) and the multivariate families
# (MultivariateNormal with a covariance or a scale factor, Dirichlet with zero components and
# points off the simplex) against NumPy / SciPy. Their own random stream.
import scipy.linalg as sla  # noqa: E402

LRNG = np.random.default_rng(20261208)


def spd(*shape):
    m = LRNG.standard_normal(shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def lower(n, *batch):
    l = np.tril(LRNG.standard_normal(batch + (n, n)))
    idx = np.arange(n)
    l[..., idx, idx] = LRNG.uniform(0.5, 2.0, batch + (n,))
    return l


for _dt in ("f64", "f32"):
    _tol = None if _dt == "f64" else (1e-5, 1e-6)
    add(f"cholesky_{_dt}", f"a: Tensor[N, N, {_dt}]", "return cholesky(a)", [spd(6, 6)], np.linalg.cholesky, _dt, tol=_tol)
    add(f"cholesky_batched_{_dt}", f"a: Tensor[B, N, N, {_dt}]", "return cholesky(a)", [spd(3, 4, 4)], np.linalg.cholesky,
        _dt, tol=_tol)
    _L, _U = lower(5), lower(5).T.copy()
    _B, _C = LRNG.standard_normal((5, 3)), LRNG.standard_normal((2, 5))
    add(f"solve_triangular_lower_{_dt}", f"l: Tensor[N, N, {_dt}], b: Tensor[N, K, {_dt}]",
        "return solve_triangular(l, b, upper=False)", [_L, _B], lambda l, b: sla.solve_triangular(l, b, lower=True), _dt,
        tol=_tol)
    add(f"solve_triangular_upper_{_dt}", f"u: Tensor[N, N, {_dt}], b: Tensor[N, K, {_dt}]",
        "return solve_triangular(u, b, upper=True)", [_U, _B], lambda u, b: sla.solve_triangular(u, b, lower=False), _dt,
        tol=_tol)
    add(f"solve_triangular_right_lower_{_dt}", f"l: Tensor[N, N, {_dt}], c: Tensor[K, N, {_dt}]",
        "return solve_triangular(l, c, upper=False, left=False)", [_L, _C], lambda l, c: c @ np.linalg.inv(l), _dt, tol=_tol)
    add(f"solve_triangular_right_upper_{_dt}", f"u: Tensor[N, N, {_dt}], c: Tensor[K, N, {_dt}]",
        "return solve_triangular(u, c, upper=True, left=False)", [_U, _C], lambda u, c: c @ np.linalg.inv(u), _dt, tol=_tol)
    # Only the triangle named by upper= is read (a full matrix, as SciPy and torch read it).
    _full = LRNG.standard_normal((5, 5)) + 4.0 * np.eye(5)
    add(f"solve_triangular_reads_lower_{_dt}", f"a: Tensor[N, N, {_dt}], b: Tensor[N, K, {_dt}]",
        "return solve_triangular(a, b, upper=False)", [_full, _B], lambda a, b: sla.solve_triangular(a, b, lower=True),
        _dt, tol=_tol)
    add(f"solve_triangular_reads_upper_{_dt}", f"a: Tensor[N, N, {_dt}], b: Tensor[N, K, {_dt}]",
        "return solve_triangular(a, b, upper=True)", [_full, _B], lambda a, b: sla.solve_triangular(a, b, lower=False),
        _dt, tol=_tol)
    add(f"solve_triangular_batched_{_dt}", f"l: Tensor[S, N, N, {_dt}], b: Tensor[S, N, K, {_dt}]",
        "return solve_triangular(l, b, upper=False)", [lower(4, 2), LRNG.standard_normal((2, 4, 3))],
        lambda l, b: np.stack([sla.solve_triangular(l[i], b[i], lower=True) for i in range(2)]), _dt, tol=_tol)
_mloc, _mS, _mx = LRNG.standard_normal(4), spd(4, 4), LRNG.standard_normal((6, 4)) * 2
for _dt in ("f64", "f32"):
    _tol = DIST_TOL[_dt]
    add(f"dist_mvn_cov_{_dt}", f"x: Tensor[M, N, {_dt}], loc: Tensor[N, {_dt}], s: Tensor[N, N, {_dt}]",
        "return MultivariateNormal(loc, covariance_matrix=s).log_prob(x)", [_mx, _mloc, _mS],
        lambda x, l, s: st.multivariate_normal(l, s).logpdf(x), _dt, tol=_tol)
    add(f"dist_mvn_scale_tril_{_dt}", f"x: Tensor[N, {_dt}], loc: Tensor[N, {_dt}], s: Tensor[N, N, {_dt}]",
        "return MultivariateNormal(loc, scale_tril=cholesky(s)).log_prob(x)", [_mx[0], _mloc, _mS],
        lambda x, l, s: np.array(st.multivariate_normal(l, s).logpdf(x)), _dt, tol=_tol)
    add(f"dist_mvn_sample_loc_{_dt}", f"x: Tensor[M, N, {_dt}], loc: Tensor[M, N, {_dt}], s: Tensor[N, N, {_dt}]",
        "return MultivariateNormal(loc, covariance_matrix=s).log_prob(x)", [_mx, _mx[::-1] * 0.5, _mS],
        lambda x, l, s: np.array([st.multivariate_normal(l[i], s).logpdf(x[i]) for i in range(len(x))]), _dt, tol=_tol)
    # A covariance that is not positive definite: NaN, as a sampler needs to reject the point.
    add(f"dist_mvn_not_pd_{_dt}", f"x: Tensor[N, {_dt}], s: Tensor[N, N, {_dt}]",
        "return MultivariateNormal(0.0 * x, covariance_matrix=s).log_prob(x)", [_mx[0], -_mS],
        lambda x, s: np.array(np.nan), _dt, tol=_tol)


def _dirichlet_ref(x, a):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(a - 1 == 0, 0.0, (a - 1) * np.log(x))
    norm = ssp.gammaln(a.sum(-1)) - ssp.gammaln(a).sum(-1)
    ok = (x.min(-1) >= 0) & (np.abs(x.sum(-1) - 1) <= 1e-6 * x.shape[-1])
    return np.where(ok, t.sum(-1) + norm, -np.inf)


_dx = LRNG.dirichlet([1.0, 2.0, 0.5, 3.0], 5)
_dx = np.concatenate([_dx, [[0.0, 0.3, 0.2, 0.5], [0.1, 0.3, 0.2, 0.5], [-0.1, 0.4, 0.2, 0.5]]])
_da = np.array([1.0, 2.5, 0.7, 4.0])
for _dt in ("f64", "f32"):
    add(f"dist_dirichlet_{_dt}", f"x: Tensor[M, K, {_dt}], a: Tensor[K, {_dt}]", "return Dirichlet(a).log_prob(x)",
        [_dx, _da], _dirichlet_ref, _dt, tol=DIST_TOL[_dt])
add("dist_dirichlet_batched_f64", "x: Tensor[M, K, f64], a: Tensor[M, K, f64]", "return Dirichlet(a).log_prob(x)",
    [_dx[:5], LRNG.uniform(0.2, 5.0, (5, 4))], _dirichlet_ref, "f64", tol=DIST_TOL["f64"])

# Values that broadcast against the parameters ([N, 1] against [K]) for each family with a
# support mask (an internal compiler error before: the mask was cast, not broadcast).
_bx = np.abs(LRNG.standard_normal((5, 1))) + 0.05
_bx[1, 0] = -0.5  # outside the support
_bcounts = np.array([[0.0], [2.0], [5.0], [1.5], [-1.0]])
for _name, _expr, _x, _p, _ref in (
        ("exponential", "Exponential(p)", _bx, np.array([0.5, 2.0, 4.0]), lambda x, p: st.expon.logpdf(x, scale=1 / p)),
        ("halfnormal", "HalfNormal(p)", _bx, np.array([0.5, 2.0, 4.0]), lambda x, p: st.halfnorm.logpdf(x, scale=p)),
        ("gamma", "Gamma(p, 1.5)", _bx, np.array([0.5, 2.0, 4.0]), lambda x, p: st.gamma.logpdf(x, p, scale=1 / 1.5)),
        ("lognormal", "LogNormal(p, 0.7)", _bx, np.array([-0.5, 0.0, 1.0]), lambda x, p: st.lognorm.logpdf(x, 0.7, scale=np.exp(p))),
        ("beta", "Beta(p, 2.0)", np.clip(_bx, -1, 0.9), np.array([0.5, 2.0, 4.0]), lambda x, p: st.beta.logpdf(x, p, 2.0)),
        ("poisson", "Poisson(p)", _bcounts, np.array([0.5, 2.0, 4.0]), lambda x, p: st.poisson.logpmf(x, p))):
    add(f"dist_{_name}_value_broadcast_f64", "x: Tensor[N, 1, f64], p: Tensor[K, f64]", f"return {_expr}.log_prob(x)",
        [_x, _p], lambda x, p, ref=_ref: np.where(np.isnan(ref(x, p)), -np.inf, ref(x, p)), "f64", tol=DIST_TOL["f64"])

# Densities at the edge of the support (torch's xlogy: 0 log 0 = 0): a probability of exactly 0
# or 1, a concentration of exactly 1 at 0, a rate of 0, a class of probability 0 (these were NaN).
_edge = np.array([0.0, 1.0])
for _name, _params, _expr, _x, _vals, _ref in (
        ("bernoulli_p0", "p: Tensor[N, f64]", "Bernoulli(probs=p)", _edge, [np.zeros(2)], lambda x, p: st.bernoulli.logpmf(x, p)),
        ("bernoulli_p1", "p: Tensor[N, f64]", "Bernoulli(probs=p)", _edge, [np.ones(2)], lambda x, p: st.bernoulli.logpmf(x, p)),
        ("binomial_p1", "p: Tensor[N, f64]", "Binomial(5.0, probs=p)", np.array([5.0, 4.0]), [np.ones(2)],
         lambda x, p: st.binom.logpmf(x, 5, p)),
        ("binomial_p0", "p: Tensor[N, f64]", "Binomial(5.0, probs=p)", np.array([0.0, 1.0]), [np.zeros(2)],
         lambda x, p: st.binom.logpmf(x, 5, p)),
        ("gamma_a1_at0", "a: Tensor[N, f64]", "Gamma(a, 2.0)", np.array([0.0, 0.5]), [np.ones(2)],
         lambda x, a: st.gamma.logpdf(x, a, scale=0.5)),
        ("beta_11_edges", "a: Tensor[N, f64]", "Beta(a, 1.0)", np.array([0.0, 1.0]), [np.ones(2)],
         lambda x, a: st.beta.logpdf(x, a, 1.0)),
        ("beta_21_at1", "a: Tensor[N, f64]", "Beta(a, 1.0)", np.array([1.0, 0.0]), [np.full(2, 2.0)],
         lambda x, a: np.where(x == 0, -np.inf, st.beta.logpdf(x, a, 1.0))),
        ("poisson_rate0", "lam: Tensor[N, f64]", "Poisson(lam)", np.array([0.0, 1.0]), [np.zeros(2)],
         lambda x, l: st.poisson.logpmf(x, l))):
    add(f"dist_edge_{_name}_f64", f"x: Tensor[N, f64], {_params}", f"return {_expr}.log_prob(x)", [_x] + _vals,
        lambda x, *ps, ref=_ref: np.asarray(ref(x, *ps), dtype=np.float64), "f64", tol=(1e-9, 1e-12))
_cp = np.array([[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]])
add("dist_edge_categorical_zero_class_f64", "p: Tensor[N, 3, f64], y: Tensor[N, i64]", "return Categorical(probs=p).log_prob(y)",
    [_cp, np.array([1, 2], dtype=np.int64)], lambda p, y: np.array([np.log(0.5), -np.inf]), "f64", tol=(1e-12, 1e-12))
add("dist_edge_categorical_logits_inf_f64", "p: Tensor[N, 3, f64], y: Tensor[N, i64]",
    "return Categorical(logits=log(p)).log_prob(y)", [_cp, np.array([2, 0], dtype=np.int64)],
    lambda p, y: np.array([np.log(0.5), np.log(0.5)]), "f64", tol=(1e-12, 1e-12))

# f64 exp, log and log1p run as our own vectorized code (ir/tile/vector_math.cpp) rather than
# libm: within 1 ulp of the exact value (mpmath, 40 digits), specials and subnormals as libm.
# Rows of 203 = 25 * 8 + 3 elements, so that the vector loop and its scalar remainder both run.
# Their own random stream, so that the cases above keep their inputs.
VM_RNG = np.random.default_rng(20261208)


def ulp_check(fn, x):
    import mpmath as mp

    def check(out):
        mp.mp.dps = 40
        f = {"exp": mp.exp, "log": mp.log, "log1p": mp.log1p}[fn]
        worst, where = 0.0, None
        for xi, gi in zip(np.asarray(x, np.float64).ravel(), np.asarray(out, np.float64).ravel()):
            with np.errstate(all="ignore"):
                want = {"exp": np.exp, "log": np.log, "log1p": np.log1p}[fn](xi)  # libm: specials
            if np.isnan(want) or np.isinf(want) or want == 0:
                if not ((np.isnan(want) and np.isnan(gi)) or (want == gi and np.signbit(want) == np.signbit(gi))):
                    return f"{fn}({xi!r}) = {gi!r}, expected {want!r}"
                continue
            exact = f(mp.mpf(float(xi)))
            ulp = np.spacing(abs(float(exact)))
            if abs(float(exact)) < np.finfo(np.float64).tiny:
                ulp = np.finfo(np.float64).smallest_subnormal
            err = float(abs(mp.mpf(float(gi)) - exact) / ulp)
            if err > worst:
                worst, where = err, (xi, gi, float(exact))
        if worst > 1.0:
            return f"{fn}: {worst:.3f} ulp at x = {where[0]!r}: got {where[1]!r}, exact {where[2]!r}"
        return None
    return check


_edge = np.array([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310, 1e-300, 1e-20, -1e-20, 1.0, -1.0,
                  2.0, 0.5, -0.5, 709.78, 709.79, -708.4, -744.44, -745.13, -745.14, -1000.0, 1000.0,
                  1.7976931348623157e308, np.inf, -np.inf, np.nan, 0.6931471805599453, -0.9999999, 1e16, 3.0, 4.0])
_vm_inputs = {
    "exp": np.concatenate([VM_RNG.uniform(-745.0, 709.7, 4 * 203 - _edge.size), _edge,
                           VM_RNG.uniform(-1e-3, 1e-3, 203)]).reshape(5, 203),
    "log": np.concatenate([np.exp(VM_RNG.uniform(-744.0, 709.0, 3 * 203 - _edge.size)), _edge,
                           VM_RNG.uniform(0.9, 1.1, 203), 10.0 ** VM_RNG.uniform(-323.0, -308.0, 203)]).reshape(5, 203),
    "log1p": np.concatenate([-np.exp(VM_RNG.uniform(-40.0, 0.0, 2 * 203)), np.exp(VM_RNG.uniform(-745.0, 700.0, 203)),
                             _edge, VM_RNG.uniform(-0.3, 0.42, 2 * 203 - _edge.size)]).reshape(5, 203),
}
for _fn, _x in _vm_inputs.items():
    add(f"{_fn}_f64_wide_ulp", "x: Tensor[B, D, f64]", f"return {_fn}(x)", [_x], None, "f64", check=ulp_check(_fn, _x))
# The Bernoulli-logits log density (softplus through log1p(exp(-|l|)), a masked f64 sum) on logits
# up to +-40 and the sigmoid of its gradient, in f64 rows of 1003 (vector loops + remainders).
_bl_l = VM_RNG.uniform(-40.0, 40.0, 1003)
_bl_y = (VM_RNG.uniform(size=1003) < 0.5).astype(np.float64)
add("bernoulli_logits_sum_f64_wide", "x: Tensor[N, f64], l: Tensor[N, f64]",
    "return Bernoulli(logits=l).log_prob(x).sum()", [_bl_y, _bl_l],
    lambda x, l: np.sum(x * l - (np.maximum(l, 0) + np.log1p(np.exp(-np.abs(l))))), "f64", tol=(1e-13, 1e-12))
add("sigmoid_f64_wide", "x: Tensor[N, f64]", "return sigmoid(x)", [VM_RNG.uniform(-740.0, 740.0, 1003)],
    lambda x: ssp.expit(x), "f64", tol=(4e-16, 0.0))

# a[ids]: integer-array indexing on the first axis (a gather), for varying-intercept models
# (radon's a[county]); repeated ids, ids of a matrix shape, rows of a matrix. Own stream.
GRNG = np.random.default_rng(20261210)
_ga = GRNG.standard_normal(6)
_gm = GRNG.standard_normal((5, 3))
_gi = np.array([2, 0, 5, 5, 1], dtype=np.int64)
for _dt in ("f64", "f32"):
    add(f"gather_vector_{_dt}", f"a: Tensor[J, {_dt}], i: Tensor[N, i64]", "return a[i]", [_ga, _gi],
        lambda a, i: a[i], _dt)
    add(f"gather_rows_{_dt}", f"a: Tensor[J, 3, {_dt}], i: Tensor[N, i64]", "return a[i]", [_gm, _gi % 5],
        lambda a, i: a[i], _dt)
    add(f"gather_index_matrix_{_dt}", f"a: Tensor[J, {_dt}], i: Tensor[A, B, i64]", "return a[i] * 2.0", [_ga, _gi[:4].reshape(2, 2)],
        lambda a, i: a[i] * 2.0, _dt)

# LKJCholesky(K, eta).log_prob(L): the density of a correlation matrix's Cholesky factor, as
# torch.distributions.LKJCholesky (its normalizer through the multivariate log-gamma), one per
# factor of a batch; -inf where a diagonal element is not positive. Own stream.
LRNG2 = np.random.default_rng(20261208)


def _random_corr_cholesky(k, rng):
    a = rng.standard_normal((k, k + 2))
    c = a @ a.T
    d = np.sqrt(np.diag(c))
    return np.linalg.cholesky(c / np.outer(d, d))


def _lkj_ref(x, eta):
    k = x.shape[-1]
    diag = np.diagonal(x, axis1=-2, axis2=-1)
    order = np.array([0.0] + [k - i - 1 + 2 * (float(eta) - 1) for i in range(1, k)])
    alpha = float(eta) + 0.5 * (k - 1)
    mvl = 0.25 * (k - 1) * (k - 2) * np.log(np.pi) + sum(ssp.gammaln(alpha - 0.5 - 0.5 * j) for j in range(k - 1))
    norm = 0.5 * (k - 1) * np.log(np.pi) + mvl - (k - 1) * ssp.gammaln(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.sum(np.where(order == 0, 0.0, order * np.log(np.abs(diag))), axis=-1) - norm
    return np.where(diag.min(axis=-1) > 0, lp, -np.inf)


_lx = np.stack([_random_corr_cholesky(4, LRNG2) for _ in range(5)])
_lx[4, 2, 2] = -_lx[4, 2, 2]  # a negative diagonal: outside the support
for _dt in ("f64", "f32"):
    for _eta in (0.5, 1.0, 3.7):
        add(f"dist_lkj_cholesky_eta{_eta}_{_dt}", f"x: Tensor[M, 4, 4, {_dt}], e: Tensor[{_dt}]",
            "return LKJCholesky(4, e).log_prob(x)", [_lx, np.array(_eta)], _lkj_ref, _dt, tol=DIST_TOL[_dt])
add("dist_lkj_cholesky_2_f64", "x: Tensor[2, 2, f64]", "return LKJCholesky(2, tensor(1.5, dtype=f64)).log_prob(x)",
    [_random_corr_cholesky(2, LRNG2)], lambda x: _lkj_ref(x, 1.5), "f64", tol=DIST_TOL["f64"])

# Operations that do not lower yet: tesserac must say E0900 (not yet supported) for each.
NOT_YET_SUPPORTED = {
    "slice_reversed": ("x: Tensor[A, B]", "return x[::-1]"),
}

# Cases (by name prefix) whose operation type-checks but has no Graph IR lowering yet
# (lower_to_graph.cpp): tesserac must report E0900 for them; when one starts to run, the driver
# fails until it is taken off this list, so that its values get checked.
GRAPH_GAPS = []

# ---------------------------------------------------------------- driver
def write_input(path, value):
    np.save(path, value)


def write_args(d, inputs, in_dtype):
    """Writes the float/int array inputs as .npy files in `d`: the `--arg` words of `tesserac run`
    and the inputs as the program sees them (floats rounded to `in_dtype`, as float64)."""
    args, refs_in = [], []
    for i, v in enumerate(inputs):
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" or isinstance(v, np.ndarray) and v.ndim == 0:
            arr = np.asarray(v).astype(in_dtype)
        elif isinstance(v, np.ndarray) and v.dtype == np.bool_:
            arr = v  # a bool tensor: one byte per element, as NumPy stores it
        elif isinstance(v, np.ndarray):
            arr = v.astype(np.int64)
        else:
            args += ["--arg", repr(v)]
            refs_in.append(v)
            continue
        p = os.path.join(d, f"in{i}.npy")
        write_input(p, arr)
        args += ["--arg", p]
        refs_in.append(arr.astype(np.float64) if arr.dtype.kind == "f" else arr)
    return args, refs_in


def run_case(tesserac, root, case, tol_override=None):
    d = os.path.join(root, case.name)
    os.makedirs(d, exist_ok=True)
    prog = os.path.join(d, "prog.tsr")
    with open(prog, "w") as f:
        f.write(case.source().replace("{DIR}", d))
    np_dt = TOL[case.dtype][0]
    cmd = [tesserac, "run", prog, "--entry", "f"]
    args, refs_in = write_args(d, case.inputs, case.in_dtype)
    cmd += args
    out_path = os.path.join(d, "out.npy")
    if not case.scalar:
        cmd += ["--out", out_path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    expected_gap = next((g for g in GRAPH_GAPS if case.name.startswith(g)), None)
    if expected_gap:
        if p.returncode != 0 and "E0900" in p.stderr:
            return None
        return (f"expected E0900 (listed in GRAPH_GAPS as '{expected_gap}'), got exit {p.returncode}"
                + ("; it runs now: take it off the list" if p.returncode == 0 else f": {p.stderr.strip()[:200]}"))
    if p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        return f"tesserac exited {p.returncode}: {msg[0] if msg else ''}"
    if case.scalar:
        words = p.stdout.split()
        out = np.asarray({"True": True, "False": False}[words[0]] if words and words[0] in ("True", "False")
                         else float(words[0]))
    else:
        out = np.load(out_path)
    if case.check:
        return case.check(out)
    exp = np.asarray(case.ref(*refs_in))
    if exp.dtype.kind == "b":
        want_dt = np.bool_
    elif exp.dtype.kind in "iu":
        want_dt = np.int64
    else:
        want_dt = np_dt
    if out.dtype != want_dt:
        return f"dtype {out.dtype}, expected {np.dtype(want_dt)}"
    if out.shape != exp.shape:
        return f"shape {out.shape}, expected {exp.shape}"
    if want_dt in (np.bool_, np.int64):
        if not np.array_equal(out, exp):
            return f"values differ: got {out.ravel()[:8]}, expected {exp.ravel()[:8]}"
        return None
    rtol, atol = case.tol or TOL[case.dtype][1:]
    got = out.astype(np.float64)
    if not np.allclose(got, exp, rtol=rtol, atol=atol, equal_nan=True):
        err = np.abs(got - exp)
        i = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), err.shape) if err.ndim else ()
        return f"max error at {tuple(int(k) for k in i)}: got {got[i]!r}, expected {exp[i]!r} (rtol {rtol}, atol {atol})"
    return None


def run_unsupported(tesserac, root, name, params, body):
    d = os.path.join(root, "unsupported_" + name)
    os.makedirs(d, exist_ok=True)
    prog = os.path.join(d, "prog.tsr")
    with open(prog, "w") as f:
        f.write(Case(name, params, body, [], None).source())
    p = subprocess.run([tesserac, "emit", "--stage=schedule", prog], capture_output=True, text=True, timeout=120)
    text = p.stderr + p.stdout
    if p.returncode != 0 and "E0900" in text:
        return None
    if p.returncode == 0:
        return "lowers now: move it from NOT_YET_SUPPORTED to the case table"
    first = text.strip().splitlines()
    return f"expected E0900, got exit {p.returncode}: {first[0] if first else ''}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tesserac")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    ap.add_argument("-j", type=int, default=int(os.environ.get("TESSERA_VALUES_JOBS", "2")))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--grad", action="store_true", help="the gradient cases (grad_cases.py) instead")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="tessera-values-")
    os.environ["TESSERA_CACHE_DIR"] = os.path.join(root, "cache")
    if args.grad:
        return main_grad(args, root)
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    cases = [c for c in CASES if args.k in c.name]
    unsupported = {k: v for k, v in NOT_YET_SUPPORTED.items() if args.k in k}
    gaps = [c.name for c in cases if any(c.name.startswith(g) for g in GRAPH_GAPS)]
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futs = {pool.submit(run_case, args.tesserac, root, c): c.name for c in cases}
        futs.update({pool.submit(run_unsupported, args.tesserac, root, k, *v): "not-yet-supported " + k
                     for k, v in unsupported.items()})
        for fut in concurrent.futures.as_completed(futs):
            try:
                err = fut.result()
            except Exception as e:  # a crash of the driver on one case is a failure of that case
                err = f"{type(e).__name__}: {e}"
            if err:
                failed += 1
                print(f"FAIL {futs[fut]}: {err}", flush=True)
    total = len(cases) + len(unsupported)
    print(f"{total - failed} passed, {failed} failed ({len(cases) - len(gaps)} value cases; "
          f"{len(gaps)} cases expected to say E0900 in the Graph IR lowering: {', '.join(GRAPH_GAPS)}; "
          f"{len(unsupported)} operations expected to say E0900: {', '.join(sorted(unsupported))})")
    if args.keep or failed:
        print(f"work directory: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


def main_grad(args, root):
    """Gradient mode: batched programs of grad_cases.py, checked against torch and finite differences."""
    import grad_cases
    work = grad_cases.batches(args.k)
    ncases = sum(len(cs) for _, cs, _ in work)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futs = {pool.submit(grad_cases.run_batch, args.tesserac, root, tag, cs, dt, write_args): tag
                for tag, cs, dt in work}
        for fut in concurrent.futures.as_completed(futs):
            try:
                fails = fut.result()
            except Exception as e:  # a crash of the driver on one batch is a failure of that batch
                fails = [(futs[fut], f"{type(e).__name__}: {e}")]
            for name, err in fails:
                failed += 1
                print(f"FAIL {name}: {err}", flush=True)
    print(f"{ncases - failed} passed, {failed} failed ({ncases} gradient cases in {len(work)} programs)")
    if args.keep or failed:
        print(f"work directory: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Gradient mode of the value tests (`run_values.py --grad TESSERAC`, ctest `values_grad`).

Each case is a scalar function `f(inputs..., w) = sum(EXPR * w)` of a differentiable operation,
`w` a fixed random tensor of EXPR's shape (so that every output element matters). The driver
writes, per dtype, a few batched programs: one `@tessera.function def f<i>` per case and an entry
`grads` that calls `tessera.grad(f<i>, argnums=...)` (or `value_and_grad`) for each case and
returns every gradient (and value), flattened and concatenated into one vector (`--out`). References, on the inputs the program reads:

- f64: torch autograd of the same function in float64 (rtol 1e-9), and central finite differences
  of the torch float64 function (step 1e-6, rtol 1e-6) unless the case sits on a kink (`fd=False`);
- f32: the float64 torch gradient at the f32-rounded inputs, with a looser tolerance.

A case with `zero=True` checks that the gradient is exactly zero (non-differentiable operations).
When a batch fails, its cases are run one by one, so that the failure names its case.
"""
import math
import os
import re
import subprocess
import threading
import zlib

import numpy as np
import torch
import torch.nn.functional as F

from custom_vjp_refs import Binarize, ClipGrad
from tables import BCAST as TABLE_BCAST, binary_ops

RNG = np.random.default_rng(20261126)
DT_NP = {"f64": np.float64, "f32": np.float32}
DT_TORCH = {"f64": torch.float64, "f32": torch.float32}
DTYPE_WORDS = {"f64", "f32", "i64", "_"}
BATCH = 12  # cases per program


def rnd(*shape, scale=1.0, offset=0.0):
    return np.asarray(RNG.standard_normal(shape) * scale + offset)


def pos(*shape, lo=0.1, hi=3.0):
    return np.asarray(RNG.uniform(lo, hi, shape))


def away(*shape, gap=0.1):
    """Random values at least `gap` away from 0 (for ops with a kink at 0)."""
    x = rnd(*shape)
    return np.where(np.abs(x) < gap, np.sign(x + 1e-300) * gap + x, x)


class GCase:
    def __init__(self, name, params, expr, inputs, ref, argnums=(0,), out=None, fd=True, zero=False,
                 value=False, body="", prelude="", tol32=None, dtypes=("f64", "f32"), decorators=()):
        self.name = name
        self.params = params  # "x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]"
        self.expr = expr  # the op; the function returns sum(EXPR * w)
        self.inputs = inputs  # np.ndarray per parameter (float64, or int for labels)
        self.ref = ref  # torch function of the parameters -> the op's value (same shape as EXPR)
        self.argnums = tuple(argnums)
        self.out = out  # dims of EXPR ("B, D"; "" for rank 0); default: the first parameter's
        self.fd = fd  # compare with finite differences too (not on a kink)
        self.zero = zero  # the gradient must be exactly zero
        self.value = value  # value_and_grad: check the value as well
        self.body = body  # statements before the return (may use {dt})
        self.prelude = prelude  # module-level text (helper functions; may use {dt})
        self.tol32 = tol32 or (1e-4, 1e-5)  # (rtol, atol relative to the largest reference) in f32
        self.dtypes = dtypes
        self.decorators = tuple(decorators)  # extra decorators of f<i> (and of the entry), e.g. effects

    def out_dims(self):
        if self.out is not None:
            return self.out
        m = re.search(r"Tensor\[([^\]]*)\]", self.params)
        return ", ".join(t.strip() for t in m.group(1).split(",") if t.strip() not in DTYPE_WORDS and "{" not in t)

    def param_list(self, dt):
        """[(name, dims text with dtype)] of the parameters, `w` last."""
        ps = [(n.strip(), t.strip()) for n, t in re.findall(r"(\w+)\s*:\s*(Tensor\[[^\]]*\])", self.params.format(dt=dt))]
        out = self.out_dims()
        ps.append(("w", f"Tensor[{out + ', ' if out else ''}{dt}]"))
        return ps


def dims_of(types):
    dims = []
    for t in types:
        for tok in re.findall(r"[A-Za-z_]\w*", t[len("Tensor"):]):
            if tok not in DTYPE_WORDS and tok not in dims:
                dims.append(tok)
    return dims


def case_source(case, i, dt):
    ps = case.param_list(dt)
    dims = dims_of([t for _, t in ps])
    generic = f"[{', '.join(dims)}]" if dims else ""
    lines = ["@tessera.function"] + [f"@{d}" for d in case.decorators] + [
             f"def f{i}{generic}({', '.join(f'{n}: {t}' for n, t in ps)}) -> {dt}:"]
    lines += ["    " + l for l in case.body.format(dt=dt).strip("\n").split("\n") if l]
    lines.append(f"    return (({case.expr.format(dt=dt)}) * w).sum()")
    return "\n".join(lines) + "\n"


def program(cases, dt):
    """The source of a batch: f0..fN and the entry `grads`, and the number of outputs."""
    parts, preludes = [], []
    eparams, body, rets = [], [], []
    all_dims = []
    for i, c in enumerate(cases):
        if c.prelude and c.prelude.format(dt=dt) not in preludes:  # a prelude shared by several cases: once
            preludes.append(c.prelude.format(dt=dt))
        parts.append(case_source(c, i, dt))
        args, sizes = [], {}
        for n, t in c.param_list(dt):
            # The entry's dimensions are renamed per case (B -> B_3) so that cases do not bind each other's.
            t = re.sub(r"\b([A-Za-z_]\w*)\b", lambda m: m.group(1) if m.group(1) in DTYPE_WORDS or m.group(1) == "Tensor"
                       else f"{m.group(1)}_{i}", t)
            eparams.append(f"{n}_{i}: {t}")
            dims = [d.strip() for d in t[len("Tensor["):-1].split(",")[:-1]]
            sizes[len(args)] = " * ".join(dims) if dims else "1"
            args.append(f"{n}_{i}")
            all_dims += [d for d in dims_of([t]) if d not in all_dims]
        an = str(c.argnums[0]) if len(c.argnums) == 1 else f"({', '.join(map(str, c.argnums))})"
        names = [f"g{i}_{k}" for k in range(len(c.argnums))]
        call = f"(f{i}, argnums={an})({', '.join(args)})"
        if c.value and len(names) > 1:  # (value, (gradients...))
            body += [f"v{i}, t{i} = tessera.value_and_grad{call}", f"{', '.join(names)} = t{i}"]
        elif c.value:
            body.append(f"v{i}, {names[0]} = tessera.value_and_grad{call}")
        else:
            body.append(f"{', '.join(names)} = tessera.grad{call}")
        # Every result flattened: the entry returns one vector (entries do not return tuples yet).
        rets += ([f"v{i}.reshape(1)"] if c.value else []) + [f"{g}.reshape({sizes[k]})"
                                                                 for g, k in zip(names, c.argnums)]
    generic = f"[{', '.join(all_dims)}]" if all_dims else ""
    decos = []
    for c in cases:
        decos += [d for d in c.decorators if d not in decos]
    entry = ["@tessera.function"] + [f"@{d}" for d in decos] + [f"def grads{generic}({', '.join(eparams)}):"]
    entry += ["    " + l for l in body] + [f"    return concat([{', '.join(rets)}], axis=0)"]
    return "\n".join(preludes + parts + ["\n".join(entry)]) + "\n", len(rets)


_W_LOCK = threading.Lock()


def w_for(case):
    """The case's weight tensor, of the op's output shape (computed once, in float64). The f32 and
    f64 batches of a case run in parallel threads: the lock makes them share one tensor, and a
    generator seeded by the case's name makes it independent of the order of the threads."""
    with _W_LOCK:
        if not hasattr(case, "_w"):
            ts = [torch.from_numpy(np.asarray(v)) for v in case.inputs]
            shape = tuple(case.ref(*ts).shape)
            rng = np.random.default_rng(zlib.crc32(case.name.encode()))
            case._w = np.asarray(rng.uniform(0.5, 1.5, shape) * np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0))
        return case._w


def reference(case, ins):
    """(value, [torch gradients], [finite-difference gradients or None]) at float64 inputs `ins`."""
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=k in case.argnums) if np.asarray(v).dtype.kind == "f"
          else torch.from_numpy(np.asarray(v)) for k, v in enumerate(ins)]
    w = torch.from_numpy(w_for(case))

    def loss(*xs):
        return (case.ref(*xs) * w).sum()
    val = loss(*ts)
    wrt = [ts[k] for k in case.argnums]
    if val.requires_grad:
        gs = torch.autograd.grad(val, wrt, allow_unused=True)
    else:
        gs = [None] * len(wrt)
    gs = [np.zeros(t.shape) if g is None else g.detach().numpy() for g, t in zip(gs, wrt)]
    fds = []
    for k in case.argnums:
        if not case.fd or case.zero:
            fds.append(None)
            continue
        base = [t.detach() for t in ts]
        x = base[k].clone()
        flat = x.view(-1)
        fd = np.zeros(x.numel())
        h = 1e-6
        with torch.no_grad():
            for j in range(x.numel()):
                old = flat[j].item()
                flat[j] = old + h
                lp = loss(*base[:k], x, *base[k + 1:]).item()
                flat[j] = old - h
                lm = loss(*base[:k], x, *base[k + 1:]).item()
                flat[j] = old
                fd[j] = (lp - lm) / (2 * h)
        fds.append(fd.reshape(x.shape))
    return val.item(), gs, fds


def close(got, want, rtol, atol_rel):
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    atol = atol_rel * scale
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=False):
        err = np.abs(got - want)
        i = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), err.shape) if err.ndim else ()
        return (f"max error at {tuple(int(k) for k in i)}: got {got[i]!r}, expected {want[i]!r} "
                f"(rtol {rtol}, atol {atol:.3g})")
    return None


def check_case(case, dt, outs, ins):
    """Compares the outputs of one case (value first for value_and_grad); an error message or None."""
    val, gs, fds = reference(case, ins)
    if case.value:
        v = float(np.asarray(outs[0]))
        outs = outs[1:]
        rtol = 1e-12 if dt == "f64" else 1e-5
        if not abs(v - val) <= rtol * max(1.0, abs(val)):
            return f"value {v!r}, expected {val!r}"
    for k, (out, g, fd) in enumerate(zip(outs, gs, fds)):
        what = f"d/d arg {case.argnums[k]}"
        out = np.asarray(out)
        if out.dtype != DT_NP[dt]:
            return f"{what}: dtype {out.dtype}, expected {np.dtype(DT_NP[dt])}"
        got = out.astype(np.float64)
        if case.zero:
            if got.shape != g.shape or np.any(got != 0.0):
                return f"{what}: expected exactly zero, got {got.ravel()[:6]}"
            continue
        if dt == "f64":
            err = close(got, g, 1e-9, 1e-9)
            if err:
                return f"{what} vs torch autograd: {err}"
            if fd is not None:
                err = close(got, fd, 1e-6, 1e-6)
                if err:
                    return f"{what} vs finite differences: {err}"
        else:
            err = close(got, g, *case.tol32)
            if err:
                return f"{what} (f32) vs float64 torch autograd: {err}"
    return None


def run_batch(tesserac, root, tag, cases, dt, write_args):
    """Runs one program for `cases`: a list of (case name, error) for the failures."""
    d = os.path.join(root, tag)
    os.makedirs(d, exist_ok=True)
    src, nout = program(cases, dt)
    prog = os.path.join(d, "prog.tsr")
    with open(prog, "w") as f:
        f.write(src)
    inputs = []
    for c in cases:
        inputs += list(c.inputs) + [w_for(c)]
    args, ins = write_args(d, inputs, DT_NP[dt])
    out_path = os.path.join(d, "out.npy")
    cmd = [tesserac, "run", prog, "--entry", "grads"] + args + ["--out", out_path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        err = f"tesserac exited {p.returncode}: {' | '.join(msg[:3])}"
        if len(cases) > 1:
            fails = []
            for c in cases:
                fails += run_batch(tesserac, root, f"{tag}_{c.name}", [c], dt, write_args)
            return fails or [(tag, err + " (the batch fails, each case alone passes)")]
        return [(f"{cases[0].name}_{dt}", err)]
    flat = np.load(out_path)
    fails = []
    k = 0
    j = 0
    for c in cases:
        cin = ins[j:j + len(c.inputs)]
        j += len(c.inputs) + 1
        shapes = ([()] if c.value else []) + [np.shape(cin[a]) for a in c.argnums]
        got = []
        for sh in shapes:
            n = int(np.prod(sh))
            got.append(flat[k:k + n].reshape(sh))
            k += n
        try:
            err = check_case(c, dt, got, cin)
        except Exception as e:  # a crash of the reference on one case is a failure of that case
            err = f"{type(e).__name__}: {e}"
        if err:
            fails.append((f"{c.name}_{dt}", err))
    return fails


def batches(k=""):
    """[(tag, cases, dtype)] of the cases whose name contains k."""
    out = []
    for dt in ("f64", "f32"):
        cs = [c for c in CASES if k in c.name and dt in c.dtypes]
        for b in range(0, len(cs), BATCH):
            out.append((f"grad_{dt}_{b // BATCH}", cs[b:b + BATCH], dt))
    return out


# ---------------------------------------------------------------- cases
CASES = []


def add(*a, **k):
    CASES.append(GCase(*a, **k))


# Elementwise binary ops, with the broadcasting corners: a [B, D] + [D] bias, size-1 axes on both
# sides, a rank-2 operand against a rank-3 one, rank-0 operands.
BINARY = binary_ops(torch)
BCAST = TABLE_BCAST + [((), (2, 3), "", "B, D")]  # and a rank-0 left operand


def shape_of(dx, dy, sx, sy):
    return np.broadcast_shapes(sx, sy)


for op, (expr, ref) in BINARY.items():
    for i, (sx, sy, dx, dy) in enumerate(BCAST):
        x, y = rnd(*sx), (pos(*sy) if op == "div" else rnd(*sy))
        out = {0: "B, D", 1: "B, D", 2: "B, D", 3: "A, B, D", 4: "D", 5: "B, D"}[i]
        tx = f"Tensor[{dx + ', ' if dx else ''}{{dt}}]"
        ty = f"Tensor[{dy + ', ' if dy else ''}{{dt}}]"
        add(f"{op}_bcast{i}", f"x: {tx}, y: {ty}", expr, [x, y], ref, argnums=(0, 1), out=out)
# maximum/minimum at ties: torch gives each side half of the cotangent.
for op, (expr, ref) in (("maximum", BINARY["maximum"]), ("minimum", BINARY["minimum"])):
    x = np.round(rnd(3, 4))
    y = np.round(rnd(3, 4))
    y[0] = x[0]
    add(f"{op}_ties", "x: Tensor[B, D, {dt}], y: Tensor[B, D, {dt}]", expr, [x, y], ref, argnums=(0, 1), fd=False)
add("pow", "x: Tensor[B, D, {dt}], y: Tensor[B, D, {dt}]", "x ** y", [pos(3, 4), rnd(3, 4)], torch.pow,
    argnums=(0, 1), tol32=(2e-4, 1e-5))
add("pow_bcast", "x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", "x ** y", [pos(3, 4), rnd(4)], torch.pow, argnums=(0, 1),
    tol32=(2e-4, 1e-5))
add("pow_scalar", "x: Tensor[B, D, {dt}]", "x ** 3.0", [rnd(3, 4)], lambda x: x ** 3.0)
add("pow_square", "x: Tensor[B, D, {dt}]", "x ** 2.0", [rnd(3, 4)], lambda x: x ** 2.0)
add("pow_reciprocal", "x: Tensor[B, D, {dt}]", "x ** -1.0", [pos(3, 4)], lambda x: x ** -1.0)
add("scalar_ops", "x: Tensor[B, D, {dt}]", "(x * 0.75 + 1.0) / 2.0 - 0.5 * x", [rnd(3, 4)],
    lambda x: (x * 0.75 + 1.0) / 2.0 - 0.5 * x)

# Unary ops over their domains; relu/abs away from the kink, and at 0 where the rule documents
# what it does (0, as torch).
UNARY = {
    "neg": ("-x", lambda x: -x, rnd),
    "exp": ("exp(x)", torch.exp, rnd),
    "log": ("log(x)", torch.log, pos),
    "log1p": ("log1p(x)", torch.log1p, pos),
    "sqrt": ("sqrt(x)", torch.sqrt, pos),
    "rsqrt": ("rsqrt(x)", torch.rsqrt, pos),
    "sin": ("sin(x)", torch.sin, rnd),
    "cos": ("cos(x)", torch.cos, rnd),
    "tanh": ("tanh(x)", torch.tanh, rnd),
    "sigmoid": ("sigmoid(x)", torch.sigmoid, rnd),
    "silu": ("silu(x)", F.silu, rnd),
    "relu": ("relu(x)", torch.relu, away),
    "abs": ("abs(x)", torch.abs, away),
}
for op, (expr, ref, gen) in UNARY.items():
    add(f"{op}", "x: Tensor[B, D, {dt}]", expr, [gen(3, 5)], ref)
    add(f"{op}_rank0", "x: Tensor[{dt}]", expr, [gen()], ref)
for op in ("relu", "abs"):
    x = away(3, 4)
    x[1] = 0.0
    add(f"{op}_at_zero", "x: Tensor[B, D, {dt}]", UNARY[op][0], [x], UNARY[op][1], fd=False)
add("clamp", "x: Tensor[B, D, {dt}]", "clamp(x, min=-0.5, max=0.7)",
    [np.array([[-2.0, -0.6, -0.4, 0.0], [0.3, 0.69, 0.71, 3.0], [-0.45, 0.65, -1.0, 1.0]])],
    lambda x: torch.clamp(x, -0.5, 0.7))
add("clamp_min", "x: Tensor[B, D, {dt}]", "clamp(x, min=0.1)", [away(3, 4) + 0.1], lambda x: torch.clamp(x, min=0.1))
add("clamp_max", "x: Tensor[B, D, {dt}]", "x.clamp(max=0.1)", [away(3, 4) + 0.1], lambda x: torch.clamp(x, max=0.1))
x = np.array([[-0.5, 0.7, 0.2], [0.0, -0.5, 0.7]])
add("clamp_at_bounds", "x: Tensor[B, D, {dt}]", "clamp(x, min=-0.5, max=0.7)", [x], lambda x: torch.clamp(x, -0.5, 0.7),
    fd=False)
add("where", "c: Tensor[B, D, {dt}], x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", "where(c > 0.0, x, y)",
    [rnd(3, 4), rnd(3, 4), rnd(4)], lambda c, x, y: torch.where(c > 0, x, y), argnums=(1, 2))
add("where_long_rows", "c: Tensor[B, D, {dt}], x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", "where(c > 0.0, x * x, y)",
    [rnd(3, 37), rnd(3, 37), rnd(37)], lambda c, x, y: torch.where(c > 0, x * x, y), argnums=(1, 2))
add("where_scalar", "x: Tensor[B, D, {dt}]", "where(x > 0.0, x * x, 0.5)", [away(3, 4)],
    lambda x: torch.where(x > 0, x * x, torch.tensor(0.5, dtype=x.dtype)))
add("where_bcast_cond", "c: Tensor[D, {dt}], x: Tensor[B, 1, {dt}], y: Tensor[B, D, {dt}]", "where(c > 0.0, x, y)",
    [rnd(4), rnd(3, 1), rnd(3, 4)], lambda c, x, y: torch.where(c > 0, x, y), argnums=(1, 2), out="B, D")
add("cast", "x: Tensor[B, D, {dt}]", "(x.astype(f32) * 2.0).astype({dt})", [rnd(3, 4)],
    lambda x: (x.float() * 2.0).double(), fd=False, dtypes=("f64",))
add("cast_f32_f64", "x: Tensor[B, D, {dt}]", "(x.astype(f64) * x.astype(f64)).astype({dt})", [rnd(3, 4)],
    lambda x: x * x, dtypes=("f32",))

# Reductions with axis / keepdim.
RED = {
    "sum": lambda x, a, k: x.sum(dim=a, keepdim=k) if a is not None else x.sum(),
    "mean": lambda x, a, k: x.mean(dim=a, keepdim=k) if a is not None else x.mean(),
    "var": lambda x, a, k: x.var(dim=a, unbiased=False, keepdim=k) if a is not None else x.var(unbiased=False),
    "std": lambda x, a, k: x.std(dim=a, unbiased=False, keepdim=k) if a is not None else x.std(unbiased=False),
    "prod": lambda x, a, k: (x.prod(dim=a, keepdim=k) if isinstance(a, int) else
                             torch.prod(x.flatten()) if a is None else x.prod(dim=a[1], keepdim=True).prod(dim=a[0], keepdim=k)),
    "max": lambda x, a, k: x.amax(dim=a, keepdim=k) if a is not None else x.amax(),
    "min": lambda x, a, k: x.amin(dim=a, keepdim=k) if a is not None else x.amin(),
    "logsumexp": lambda x, a, k: torch.logsumexp(x, dim=tuple(range(x.ndim)) if a is None else a, keepdim=k),
}
AXES = [(None, False, "", ""), (-1, False, "axis=-1", "A, B"), (0, True, "axis=0, keepdim=True", "1, B, C"),
        ((0, 2), False, "axis=(0, 2)", "B"), ((1, 2), True, "axis=(1, -1), keepdim=True", "A, 1, 1")]
for op, ref in RED.items():
    for i, (axis, keep, kw, out) in enumerate(AXES):
        if op == "prod" and isinstance(axis, tuple) and not keep:
            continue
        x = pos(3, 4, 5, lo=0.5, hi=1.5) if op == "prod" else rnd(3, 4, 5)
        # std and prod are methods only.
        expr = f"x.{op}({kw})" if i % 2 or op in ("std", "prod") else f"{op}(x{', ' + kw if kw else ''})"
        add(f"reduce_{op}_ax{i}", "x: Tensor[A, B, C, {dt}]", expr, [x],
            lambda x, ref=ref, axis=axis, keep=keep: ref(x, axis, keep), out=out)
# max/min with ties share the cotangent equally, as torch.amax/amin.
for op in ("max", "min"):
    x = np.round(rnd(3, 4, 5))
    x[0, 1, :] = 2.0 if op == "max" else -2.0
    x[2, :, 3] = x[2, :, 3].max() if op == "max" else x[2, :, 3].min()
    add(f"reduce_{op}_ties", "x: Tensor[A, B, C, {dt}]", f"x.{op}(axis=-1)", [x],
        lambda x, op=op: RED[op](x, -1, False), out="A, B", fd=False)
    add(f"reduce_{op}_ties_all", "x: Tensor[A, B, C, {dt}]", f"{op}(x)", [x], lambda x, op=op: RED[op](x, None, False),
        out="", fd=False)
add("norm", "x: Tensor[A, B, {dt}]", "norm(x)", [rnd(3, 4)], torch.linalg.norm, out="")
add("norm_rank1", "x: Tensor[N, {dt}]", "norm(x)", [rnd(5)], torch.linalg.norm, out="")

# matmul in all its forms.
MM = [
    ("2d", (3, 4), (4, 5), "M, K", "K, N", "M, N"),
    ("batched", (2, 3, 4), (2, 4, 5), "Z, M, K", "Z, K, N", "Z, M, N"),
    ("bcast_rhs", (2, 3, 4), (4, 5), "Z, M, K", "K, N", "Z, M, N"),
    ("bcast_rhs_4d", (2, 3, 2, 4), (4, 5), "Y, Z, M, K", "K, N", "Y, Z, M, N"),
    ("bcast_lhs", (3, 4), (2, 4, 5), "M, K", "Z, K, N", "Z, M, N"),
    ("bcast_batch1", (1, 3, 4), (2, 4, 5), "1, M, K", "Z, K, N", "Z, M, N"),
    ("bcast_4d", (2, 1, 3, 4), (3, 4, 5), "Y, 1, M, K", "Z, K, N", "Y, Z, M, N"),
    ("vec_mat", (4,), (4, 5), "K", "K, N", "N"),
    ("mat_vec", (3, 4), (4,), "M, K", "K", "M"),
    ("vec_vec", (4,), (4,), "K", "K", ""),
    ("vec_batched", (4,), (2, 4, 5), "K", "Z, K, N", "Z, N"),
    ("batched_vec", (2, 3, 4), (4,), "Z, M, K", "K", "Z, M"),
]
for name, sa, sb, da, db, out in MM:
    add(f"matmul_{name}", f"a: Tensor[{da}, {{dt}}], b: Tensor[{db}, {{dt}}]", "a @ b", [rnd(*sa), rnd(*sb)],
        torch.matmul, argnums=(0, 1), out=out)
add("matmul_fn_static", "a: Tensor[3, 4, {dt}], b: Tensor[4, 2, {dt}]", "matmul(a, b)", [rnd(3, 4), rnd(4, 2)],
    torch.matmul, argnums=(0, 1), out="3, 2")

# Shape ops.
add("transpose_T", "x: Tensor[A, B, {dt}]", "x.T * x.T", [rnd(3, 4)], lambda x: x.T * x.T, out="B, A")
add("transpose_02", "x: Tensor[A, B, C, {dt}]", "x.transpose(0, 2)", [rnd(2, 3, 4)], lambda x: x.transpose(0, 2),
    out="C, B, A")
add("permute", "x: Tensor[A, B, C, {dt}]", "x.permute(2, 0, 1)", [rnd(2, 3, 4)], lambda x: x.permute(2, 0, 1),
    out="C, A, B")
add("reshape", "x: Tensor[A, B, C, {dt}]", "x.reshape(A, B * C)", [rnd(2, 3, 4)], lambda x: x.reshape(2, 12),
    out="A, B * C")
add("reshape_split", "x: Tensor[A, 12, {dt}]", "x.reshape(A, 3, 4)", [rnd(2, 12)], lambda x: x.reshape(2, 3, 4),
    out="A, 3, 4")
add("unsqueeze", "x: Tensor[A, B, {dt}]", "x.unsqueeze(-1) * x.unsqueeze(1)", [rnd(2, 3)],
    lambda x: x[:, :, None] * x[:, None, :], out="A, B, B")
add("broadcast_to", "x: Tensor[1, B, {dt}]", "x.broadcast_to([3, B])", [rnd(1, 4)], lambda x: x.expand(3, 4),
    out="3, B")

# nn ops.
add("softmax", "x: Tensor[B, D, {dt}]", "softmax(x, axis=-1)", [rnd(3, 5)], lambda x: torch.softmax(x, -1))
add("softmax_axis0", "x: Tensor[A, B, C, {dt}]", "x.softmax(axis=0)", [rnd(3, 2, 4)], lambda x: torch.softmax(x, 0))
add("log_softmax", "x: Tensor[B, D, {dt}]", "log_softmax(x, axis=-1)", [rnd(3, 5)], lambda x: torch.log_softmax(x, -1))
add("log_softmax_axis1", "x: Tensor[A, B, C, {dt}]", "x.log_softmax(axis=1)", [rnd(3, 2, 4)],
    lambda x: torch.log_softmax(x, 1))
add("softmax_large", "x: Tensor[B, D, {dt}]", "softmax(x, axis=-1)", [rnd(3, 5, scale=30.0)],
    lambda x: torch.softmax(x, -1), fd=False)
CE = lambda l, y: F.cross_entropy(l, y)
add("cross_entropy", "logits: Tensor[B, C, {dt}], labels: Tensor[B, i64]", "cross_entropy(logits, labels)",
    [rnd(5, 4), RNG.integers(0, 4, (5,))], CE, out="")
add("cross_entropy_static", "logits: Tensor[6, 3, {dt}], labels: Tensor[6, i64]", "cross_entropy(logits, labels)",
    [rnd(6, 3, scale=3.0), RNG.integers(0, 3, (6,))], CE, out="")
add("linear", "x: Tensor[B, I, {dt}], w0: Tensor[I, O, {dt}], b: Tensor[O, {dt}]", "linear(x, w0, b)",
    [rnd(3, 4), rnd(4, 5), rnd(5)], lambda x, w, b: x @ w + b, argnums=(0, 1, 2), out="B, O")
add("linear_3d_nobias", "x: Tensor[A, B, I, {dt}], w0: Tensor[I, O, {dt}]", "linear(x, w0)",
    [rnd(2, 3, 4), rnd(4, 5)], lambda x, w: x @ w, argnums=(0, 1), out="A, B, O")
add("linear_vec", "x: Tensor[I, {dt}], w0: Tensor[I, O, {dt}], b: Tensor[O, {dt}]", "linear(x, w0, b)",
    [rnd(4), rnd(4, 5), rnd(5)], lambda x, w, b: x @ w + b, argnums=(0, 1, 2), out="O")

# Composed: the MNIST MLP loss (linear, relu, linear, cross_entropy) with respect to every weight.
MLP = """
@tessera.function
def mlp_hidden[B, I, H](x: Tensor[B, I, {dt}], w1: Tensor[I, H, {dt}], b1: Tensor[H, {dt}]) -> Tensor[B, H, {dt}]:
    return relu(x @ w1 + b1)
"""


def mlp_ref(x, w1, b1, w2, b2, y):
    return F.cross_entropy(torch.relu(x @ w1 + b1) @ w2 + b2, y)


add("mlp_loss", "x: Tensor[B, I, {dt}], w1: Tensor[I, H, {dt}], b1: Tensor[H, {dt}], w2: Tensor[H, C, {dt}], "
    "b2: Tensor[C, {dt}], y: Tensor[B, i64]", "cross_entropy(linear(mlp_hidden(x, w1, b1), w2, b2), y)",
    [rnd(6, 8), rnd(8, 7) * 0.5, rnd(7) * 0.1, rnd(7, 3) * 0.5, rnd(3) * 0.1, RNG.integers(0, 3, (6,))], mlp_ref,
    argnums=(1, 2, 3, 4), out="", prelude=MLP, fd=True, tol32=(2e-4, 2e-5))
# A function that calls another, with a local binding used twice; value_and_grad's value.
HELPER = """
@tessera.function
def helper[B, D](a: Tensor[B, D, {dt}], s: Tensor[D, {dt}]) -> Tensor[B, D, {dt}]:
    t = tanh(a) * s
    return t * a + exp(s)
"""
add("call_helper", "x: Tensor[B, D, {dt}], s: Tensor[D, {dt}]", "helper(x, s) + helper(x * 0.5, s) * x",
    [rnd(3, 4), rnd(4)], lambda x, s: (lambda h: h(x, s) + h(x * 0.5, s) * x)(
        lambda a, s: torch.tanh(a) * s * a + torch.exp(s)), argnums=(0, 1), prelude=HELPER)
add("value_and_grad", "x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", "sin(x) * y + x", [rnd(3, 4), rnd(4)],
    lambda x, y: torch.sin(x) * y + x, argnums=(1, 0), value=True)
add("value_and_grad_one", "x: Tensor[B, D, {dt}]", "log_softmax(x, axis=-1)", [rnd(3, 4)],
    lambda x: torch.log_softmax(x, -1), value=True)
add("local_reuse", "x: Tensor[B, D, {dt}]", "u * u + u", [rnd(3, 4)], lambda x: (x.exp() - x) ** 2 + (x.exp() - x),
    body="u = exp(x) - x")

# Not differentiable: the gradient is exactly zero.
add("zero_argmax", "x: Tensor[B, D, {dt}]", "argmax(x, axis=-1).astype({dt})", [rnd(3, 5)],
    lambda x: torch.argmax(x, -1).to(x.dtype), out="B", zero=True)
add("zero_where_cmp", "x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", "where(x > y, ones(B, D, dtype={dt}), -2.0)",
    [rnd(3, 4), rnd(4)],
    lambda x, y: torch.where(x > y, 1.0, -2.0).to(x.dtype), argnums=(0, 1), zero=True)
add("zero_cmp_cast", "x: Tensor[B, D, {dt}]", "(x > 0.0).astype({dt}) * 3.0", [rnd(3, 4)],
    lambda x: (x > 0).to(x.dtype) * 3.0, zero=True)
add("where_cond_only", "x: Tensor[B, D, {dt}], y: Tensor[B, D, {dt}]", "where(x > 0.0, y, y * 2.0)",
    [rnd(3, 4), rnd(3, 4)], lambda x, y: torch.where(x > 0, y, y * 2.0), argnums=(0, 1))

# Structural and normalization ops (issue 5).
add("slice", "x: Tensor[4, 5, {dt}]", "x[1:3, 1:4]", [rnd(4, 5)], lambda x: x[1:3, 1:4], out="2, 3")
add("slice_strided", "x: Tensor[4, 5, {dt}]", "sin(x[1:3, ::2]).sum(axis=1)", [rnd(4, 5)],
    lambda x: torch.sin(x[1:3, ::2]).sum(1), out="2")
add("slice_drop", "x: Tensor[4, 5, {dt}]", "x[:, 3] * x[:, 0]", [rnd(4, 5)], lambda x: x[:, 3] * x[:, 0], out="4")
add("concat", "a: Tensor[2, 5, {dt}], b: Tensor[4, 5, {dt}]", "concat([a, b], axis=0)", [rnd(2, 5), rnd(4, 5)],
    lambda a, b: torch.cat([a, b], 0), argnums=(0, 1), out="6, 5")
add("concat_axis1", "a: Tensor[B, 2, {dt}], b: Tensor[B, 3, {dt}]", "concat([a, b, a], axis=1)",
    [rnd(4, 2), rnd(4, 3)], lambda a, b: torch.cat([a, b, a], 1), argnums=(0, 1), out="B, 7")
add("stack", "a: Tensor[4, 5, {dt}], b: Tensor[4, 5, {dt}]", "stack([a, b * b], axis=1)", [rnd(4, 5), rnd(4, 5)],
    lambda a, b: torch.stack([a, b * b], 1), argnums=(0, 1), out="4, 2, 5")
add("stack_axis0", "a: Tensor[B, D, {dt}]", "stack([a, sin(a)], axis=0)", [rnd(3, 4)],
    lambda a: torch.stack([a, torch.sin(a)], 0), out="2, B, D")
add("split", "x: Tensor[4, 5, {dt}]", "sin(p) * q", [rnd(4, 5)], lambda x: torch.sin(x[:2]) * x[2:], out="2, 5",
    body="p, q = split(x, 2, axis=0)")
add("split_one_used", "x: Tensor[4, 6, {dt}]", "p * p", [rnd(4, 6)], lambda x: x[:, :3] * x[:, :3], out="4, 3",
    body="p, q = split(x, 2, axis=1)")
add("layer_norm", "x: Tensor[B, D, {dt}], g: Tensor[D, {dt}], b: Tensor[D, {dt}]", "layer_norm(x, g, b)",
    [rnd(3, 5), rnd(5), rnd(5)], lambda x, g, b: F.layer_norm(x, (5,), g, b, eps=1e-5), argnums=(0, 1, 2))
add("layer_norm_plain", "x: Tensor[A, B, D, {dt}]", "layer_norm(x)", [rnd(2, 3, 4)],
    lambda x: F.layer_norm(x, (4,), eps=1e-5))
add("rms_norm", "x: Tensor[B, D, {dt}], g: Tensor[D, {dt}]", "rms_norm(x, g)", [rnd(3, 5), rnd(5)],
    lambda x, g: x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * g, argnums=(0, 1))
add("rms_norm_plain", "x: Tensor[B, D, {dt}]", "rms_norm(x)", [rnd(3, 5)],
    lambda x: x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5))
add("embedding", "t: Tensor[5, D, {dt}], ids: Tensor[2, 3, i64]", "embedding(ids, t)",
    [rnd(5, 4), np.array([[1, 3, 1], [0, 4, 1]])], lambda t, ids: F.embedding(ids, t), out="2, 3, D")
add("embedding_dynamic_vocab", "t: Tensor[V, D, {dt}], ids: Tensor[2, 3, i64]", "embedding(ids, t)",
    [rnd(6, 4), np.array([[5, 3, 1], [0, 5, 5]])], lambda t, ids: F.embedding(ids, t), out="2, 3, D")
# Negative steps (the slice reversed, then placed with the positive step).
add("slice_reversed_typed", "x: Tensor[4, 5, {dt}]", "sin(x[::-1, 3:0:-2])", [rnd(4, 5)],
    lambda x: torch.sin(x.flip(0)[:, [3, 1]]), out="4, 2")
add("slice_reversed", "x: Tensor[4, 5, {dt}]", "(sin(s) * s).sum(axis=0)", [rnd(4, 5)],
    lambda x: (torch.sin(x.flip(0)) * x.flip(0)).sum(0), out="5", body="s = x[::-1, :]")
add("slice_negative_strided", "x: Tensor[5, 6, {dt}]", "(sin(s) * s).sum()", [rnd(5, 6)],
    lambda x: (lambda s: (torch.sin(s) * s).sum())(x[[4, 2]][:, [5, 2]]), out="", body="s = x[4:0:-2, ::-3]")
add("slice_negative_drop", "x: Tensor[4, 5, {dt}]", "(sin(s) * s).sum()", [rnd(4, 5)],
    lambda x: (lambda s: (torch.sin(s) * s).sum())(x[[2, 1, 0], 3]), out="", body="s = x[2::-1, 3]")


# The nn ops (issue 5, third part).
def gelu_points(*shape):
    x = rnd(*shape, scale=2.0)
    x.ravel()[:3] = [0.0, 5.5, -5.5]
    return x


add("gelu", "x: Tensor[B, D, {dt}]", "gelu(x)", [gelu_points(3, 5)], F.gelu)
add("gelu_wide", "x: Tensor[N, {dt}]", "gelu(x) * x", [np.linspace(-7.0, 7.0, 29)], lambda x: F.gelu(x) * x)


def philox_uniform(seed, n, f64):
    """The runtime's Philox-4x32-10 uniform stream (runtime/src/philox.cpp) at counters 0..n-1:
    the numbers a dropout with this seed compares with p (f32 stream, f64 for f64 tensors)."""
    m32 = np.uint64(0xFFFFFFFF)
    per = 2 if f64 else 4
    blk = np.arange((n + per - 1) // per, dtype=np.uint64)
    c0, c1, c2, c3 = blk & m32, blk >> np.uint64(32), np.zeros_like(blk), np.zeros_like(blk)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & m32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & m32
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & m32, (k1 + np.uint64(0xBB67AE85)) & m32
    w = np.stack([c0, c1, c2, c3], axis=1)
    if f64:
        u = ((w[:, 1::2] << np.uint64(32)) | w[:, 0::2]) >> np.uint64(11)
        return (u.astype(np.float64) * 2.0 ** -53).ravel()[:n]
    return ((w >> np.uint64(8)).astype(np.float64) * 2.0 ** -24).astype(np.float32).ravel()[:n]


def dropout_ref(p, seed, f64):
    def ref(x):
        u = philox_uniform(seed, x.numel(), f64).reshape(tuple(x.shape))
        keep = u >= (np.float64(p) if f64 else np.float32(p))
        return x * torch.from_numpy(keep.astype(np.float64)) / (1.0 - p)
    return ref


# The backward's mask is the forward's: checked against the runtime's Philox stream. The loss
# multiplies by x, so a wrong mask also shows in the x * mask' term.
for dt, is64 in (("f64", True), ("f32", False)):
    add(f"dropout_{dt}", "x: Tensor[B, D, {dt}]", "dropout(x, p=0.3, seed=5) * x", [rnd(4, 9)],
        lambda x, r=dropout_ref(0.3, 5, is64): r(x) * x, dtypes=(dt,), decorators=("tessera.effects(random)",))
    add(f"dropout_half_{dt}", "x: Tensor[A, B, C, {dt}]", "dropout(x, p=0.5, seed=11)", [rnd(2, 3, 5)],
        dropout_ref(0.5, 11, is64), dtypes=(dt,), decorators=("tessera.effects(random)",))

add("group_norm", "x: Tensor[N, 4, 3, 3, {dt}], g: Tensor[4, {dt}], b: Tensor[4, {dt}]", "group_norm(x, 2, g, b)",
    [rnd(2, 4, 3, 3), rnd(4), rnd(4)], lambda x, g, b: F.group_norm(x, 2, g, b, eps=1e-5), argnums=(0, 1, 2))
add("group_norm_plain", "x: Tensor[N, 6, L, {dt}]", "group_norm(x, 3)", [rnd(2, 6, 5)],
    lambda x: F.group_norm(x, 3, eps=1e-5))
add("group_norm_one_group", "x: Tensor[2, 4, 2, 3, {dt}], g: Tensor[4, {dt}]", "group_norm(x, 1, weight=g)",
    [rnd(2, 4, 2, 3), rnd(4)], lambda x, g: F.group_norm(x, 1, g, eps=1e-5), argnums=(0, 1))

# conv2d: input, weight and bias gradients over strides (a leftover row), padding, dilation, groups.
CONV = [
    ("plain", (2, 3, 5, 5), (4, 3, 3, 3), {}),
    ("pad", (2, 3, 6, 6), (4, 3, 3, 3), {"padding": 1}),
    ("pad_wide", (1, 2, 5, 5), (3, 2, 3, 3), {"padding": 3}),
    ("stride_leftover", (1, 2, 8, 7), (3, 2, 3, 2), {"stride": 2}),
    ("stride_pad_rect", (2, 2, 7, 6), (3, 2, 3, 2), {"stride": 2, "padding": 1}),
    ("dilation", (1, 2, 9, 9), (3, 2, 3, 3), {"stride": 2, "dilation": 2}),
    ("groups", (2, 4, 6, 6), (6, 2, 3, 3), {"groups": 2}),
    ("groups_all", (2, 6, 7, 7), (9, 2, 3, 3), {"stride": 2, "padding": 1, "dilation": 2, "groups": 3}),
    ("depthwise", (2, 3, 5, 6), (6, 1, 3, 3), {"padding": 1, "groups": 3}),
    ("1x1", (2, 4, 3, 3), (2, 4, 1, 1), {}),
]


def kw_text(kw):
    return "".join(f", {k}={v}" for k, v in kw.items())


for name, xs, ws, kw in CONV:
    add(f"conv2d_{name}", f"x: Tensor[N, {xs[1]}, {xs[2]}, {xs[3]}, {{dt}}], k: Tensor[{', '.join(map(str, ws))}, {{dt}}]",
        f"conv2d(x, k{kw_text(kw)})", [rnd(*xs), rnd(*ws)], lambda x, k, kw=kw: F.conv2d(x, k, **kw),
        argnums=(0, 1), out="N, " + ", ".join(map(str, F.conv2d(torch.zeros(xs), torch.zeros(ws), **kw).shape[1:])))
add("conv2d_bias", "x: Tensor[N, 2, 5, 5, {dt}], k: Tensor[4, 2, 3, 3, {dt}], b: Tensor[4, {dt}]",
    "conv2d(x, k, b, padding=1)", [rnd(2, 2, 5, 5), rnd(4, 2, 3, 3), rnd(4)],
    lambda x, k, b: F.conv2d(x, k, b, padding=1), argnums=(0, 1, 2), out="N, 4, 5, 5")

# Pooling. max: the first maximum of a window takes the cotangent (as torch; ties from integer inputs).
POOL = [
    ("k2", (2, 3, 4, 6), 2, {}),
    ("k3_s2_p1", (1, 2, 5, 5), 3, {"stride": 2, "padding": 1}),
    ("k3_s1_overlap", (1, 2, 5, 6), 3, {"stride": 1}),
    ("k2_s1_p1", (2, 1, 4, 4), 2, {"stride": 1, "padding": 1}),
]
for name, xs, k, kw in POOL:
    out = ", ".join(map(str, F.max_pool2d(torch.zeros(xs), k, **kw).shape[2:]))
    sh = f"x: Tensor[N, C, {xs[2]}, {xs[3]}, {{dt}}]"
    add(f"max_pool2d_{name}", sh, f"max_pool2d(x, {k}{kw_text(kw)})", [rnd(*xs)],
        lambda x, k=k, kw=kw: F.max_pool2d(x, k, **kw), out=f"N, C, {out}", fd=False)
    add(f"max_pool2d_ties_{name}", sh, f"max_pool2d(x, {k}{kw_text(kw)})", [np.round(rnd(*xs) * 0.7)],
        lambda x, k=k, kw=kw: F.max_pool2d(x, k, **kw), out=f"N, C, {out}", fd=False)
    # The padding counts in the average (torch's count_include_pad=True), as the CPU lowering.
    add(f"avg_pool2d_{name}", sh, f"avg_pool2d(x, {k}{kw_text(kw)})", [rnd(*xs)],
        lambda x, k=k, kw=kw: F.avg_pool2d(x, k, **kw), out=f"N, C, {out}")
for name, xs, o in (("even", (2, 3, 4, 6), 2), ("uneven", (2, 2, 5, 5), 2), ("rect", (1, 2, 7, 10), (3, 4)),
                    ("grow", (1, 2, 3, 4), (5, 6)), ("global", (2, 3, 4, 4), 1)):
    osz = o if isinstance(o, int) else f"({o[0]}, {o[1]})"
    oo = (o, o) if isinstance(o, int) else o
    add(f"adaptive_avg_pool2d_{name}", f"x: Tensor[N, C, {xs[2]}, {xs[3]}, {{dt}}]", f"adaptive_avg_pool2d(x, {osz})",
        [rnd(*xs)], lambda x, o=o: F.adaptive_avg_pool2d(x, o), out=f"N, C, {oo[0]}, {oo[1]}")


# attention: q, k, v gradients; causal masks key j > query i (as the CPU lowering, torch's tril).
def attn(q, k, v, causal=False, scale=None):
    s = q @ k.transpose(-1, -2) * (scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    if causal:
        s = s.masked_fill(torch.ones(s.shape[-2], s.shape[-1], dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, -1) @ v


QKV = "q: Tensor[B, L, D, {dt}], k: Tensor[B, S, D, {dt}], v: Tensor[B, S, E, {dt}]"
for fn in ("attention", "attention_safe"):
    add(f"{fn}", QKV, f"{fn}(q, k, v)", [rnd(2, 4, 3), rnd(2, 5, 3), rnd(2, 5, 2)], attn, argnums=(0, 1, 2),
        out="B, L, E")
    add(f"{fn}_causal", QKV, f"{fn}(q, k, v, causal=True)", [rnd(2, 5, 3), rnd(2, 5, 3), rnd(2, 5, 2)],
        lambda q, k, v: attn(q, k, v, True), argnums=(0, 1, 2), out="B, L, E")
add("attention_causal_rect_scale", QKV, "attention(q, k, v, causal=True, scale=0.7)",
    [rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3)], lambda q, k, v: attn(q, k, v, True, 0.7), argnums=(0, 1, 2),
    out="B, L, E")
# Rows of 21 keys: the causal mask (a bool tensor in the gradient) is read by 16-lane vector
# loops plus a scalar tail (docs/tile_ir.md, bool buffers); the cases above have rows under 16.
add("attention_causal_long", QKV, "attention(q, k, v, causal=True)", [rnd(1, 21, 3), rnd(1, 21, 3), rnd(1, 21, 2)],
    lambda q, k, v: attn(q, k, v, True), argnums=(0, 1, 2), out="B, L, E")
add("attention_4d", "q: Tensor[B, H, L, 4, {dt}], k: Tensor[B, H, S, 4, {dt}], v: Tensor[B, H, S, 4, {dt}]",
    "attention(q, k, v, causal=True)", [rnd(2, 2, 3, 4), rnd(2, 2, 3, 4), rnd(2, 2, 3, 4)],
    lambda q, k, v: attn(q, k, v, True), argnums=(0, 1, 2), out="B, H, L, 4")

# Composed: a small CNN classifier loss (conv2d, group_norm, gelu, max_pool2d, adaptive
# average pooling, linear, cross_entropy) with respect to the input and every weight.
add("cnn_loss", "x: Tensor[N, 2, 8, 8, {dt}], k: Tensor[4, 2, 3, 3, {dt}], g: Tensor[4, {dt}], "
    "w0: Tensor[4, 3, {dt}], y: Tensor[N, i64]",
    "cross_entropy(linear(adaptive_avg_pool2d(max_pool2d(gelu(group_norm(conv2d(x, k, padding=1), 2, g)), 2), 1)"
    ".reshape(N, 4), w0), y)",
    [rnd(3, 2, 8, 8), rnd(4, 2, 3, 3) * 0.5, rnd(4), rnd(4, 3), RNG.integers(0, 3, (3,))],
    lambda x, k, g, w, y: F.cross_entropy(F.adaptive_avg_pool2d(F.max_pool2d(F.gelu(F.group_norm(
        F.conv2d(x, k, padding=1), 2, g, eps=1e-5)), 2), 1).reshape(-1, 4) @ w, y),
    argnums=(0, 1, 2, 3), out="", tol32=(2e-4, 2e-5))

# The safe variants.
add("softmax_safe", "x: Tensor[B, D, {dt}]", "softmax_safe(x)", [rnd(3, 5, scale=20.0)],
    lambda x: torch.softmax(x, -1), fd=False)
add("logsumexp_safe", "x: Tensor[B, D, {dt}]", "logsumexp_safe(x, axis=-1)", [rnd(3, 5, scale=20.0)],
    lambda x: torch.logsumexp(x, -1), out="B", fd=False)
add("layernorm_safe", "x: Tensor[B, D, {dt}], g: Tensor[D, {dt}], b: Tensor[D, {dt}]", "layernorm_safe(x, g, b)",
    [rnd(3, 5), rnd(5), rnd(5)], lambda x, g, b: F.layer_norm(x, (5,), g, b, eps=1e-5), argnums=(0, 1, 2))
add("rmsnorm_safe", "x: Tensor[B, D, {dt}], g: Tensor[D, {dt}]", "rmsnorm_safe(x, g)", [rnd(3, 5), rnd(5)],
    lambda x, g: x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * g, argnums=(0, 1))

# Control flow (issue 5): if (each branch taken), for (a tape of the carried values), while (a
# data-dependent trip count), an if inside a for.
IF_BODY = "if x.sum() > 0.0:\n    h = x * x * y\nelse:\n    h = sin(x) + y"
add("if_then", "x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", "h", [pos(3, 4), rnd(4)], lambda x, y: x * x * y,
    argnums=(0, 1), body=IF_BODY)
add("if_else", "x: Tensor[B, D, {dt}], y: Tensor[D, {dt}]", "h", [-pos(3, 4), rnd(4)], lambda x, y: torch.sin(x) + y,
    argnums=(0, 1), body=IF_BODY)


def for_ref(x, w):
    h = x
    for i in range(3):
        h = torch.tanh(h * w + 0.5 * i)
    return h


add("for_loop", "x: Tensor[B, D, {dt}], w0: Tensor[D, {dt}]", "h", [rnd(3, 4), rnd(4)], for_ref, argnums=(0, 1),
    body="h = x\nfor i in range(3):\n    h = tanh(h * w0 + 0.5 * i)")


def while_ref(x, w):
    h = x
    while (h * h).sum() > 0.01:
        h = h * torch.sigmoid(w) * 0.9
    return h


add("while_loop", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "h", [rnd(4) * 0.3, rnd(4)], while_ref, argnums=(0, 1),
    body="h = x\nwhile (h * h).sum() > 0.01:\n    h = h * sigmoid(w0) * 0.9", fd=False)


def nested_ref(x):
    acc = torch.zeros_like(x)
    for i in range(4):
        acc = acc + torch.cos(x) * i if acc.sum() > 1.0 else acc + x * x
    return acc


add("for_if", "x: Tensor[D, {dt}]", "acc", [rnd(5)], nested_ref,
    body="acc = x * 0.0\nfor i in range(4):\n    if acc.sum() > 1.0:\n        acc = acc + cos(x) * i\n"
         "    else:\n        acc = acc + x * x")

# Nested calls (issue 5): f calls g calls h, a callee called twice with different arguments.
CHAIN = """
@tessera.function
def chain_h[D](a: Tensor[D, {dt}], s: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return sin(a) * s + a
@tessera.function
def chain_g[D](a: Tensor[D, {dt}], s: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return chain_h(a * 2.0, s) * chain_h(tanh(a), s * s)
@tessera.function
def chain_f[D](a: Tensor[D, {dt}], s: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return chain_g(a, s) + chain_h(chain_g(s, a), a)
"""


def chain_ref(x, s):
    h = lambda a, s: torch.sin(a) * s + a
    g = lambda a, s: h(a * 2.0, s) * h(torch.tanh(a), s * s)
    return g(x, s) + h(g(s, x), x)


add("call_chain", "x: Tensor[D, {dt}], s: Tensor[D, {dt}]", "chain_f(x, s)", [rnd(5) * 0.5, rnd(5) * 0.5], chain_ref,
    argnums=(0, 1), prelude=CHAIN)

# Nested loops (issue 5): for in for, while in for, if in while, a for whose body calls a function.


def for_for_ref(x, w):
    h = x
    for i in range(3):
        for j in range(2):
            h = torch.tanh(h * w + 0.1 * j + 0.2 * i)
    return h


add("for_for", "x: Tensor[B, D, {dt}], w0: Tensor[D, {dt}]", "h", [rnd(3, 4), rnd(4)], for_for_ref, argnums=(0, 1),
    body="h = x\nfor i in range(3):\n    for j in range(2):\n        h = tanh(h * w0 + 0.1 * j + 0.2 * i)")


def while_in_for_ref(x, w):
    h = x
    for i in range(3):
        while (h * h).sum() > 0.5:
            h = h * torch.sigmoid(w)
        h = h * 3.0 + w
    return h


add("while_in_for", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "h", [rnd(4), rnd(4)], while_in_for_ref,
    argnums=(0, 1), body="h = x\nfor i in range(3):\n    while (h * h).sum() > 0.5:\n        h = h * sigmoid(w0)\n"
    "    h = h * 3.0 + w0", fd=False)


def if_in_while_ref(x, w):
    h = x
    while (h * h).sum() > 0.01:
        if h.sum() > 0.0:
            h = h * 0.5 - w * 0.01
        else:
            h = h * torch.sigmoid(w)
    return h


add("if_in_while", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "h", [rnd(4) * 0.5, rnd(4)], if_in_while_ref,
    argnums=(0, 1), body="h = x\nwhile (h * h).sum() > 0.01:\n    if h.sum() > 0.0:\n        h = h * 0.5 - w0 * 0.01\n"
    "    else:\n        h = h * sigmoid(w0)", fd=False)

STEP = """
@tessera.function
def loop_step[D](a: Tensor[D, {dt}], s: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return tanh(a * s) + 0.1 * a
"""


def for_call_ref(x, w):
    h = x
    for i in range(4):
        h = torch.tanh(h * w) + 0.1 * h
    return h


add("for_call", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "h", [rnd(4), rnd(4)], for_call_ref, argnums=(0, 1),
    body="h = x\nfor i in range(4):\n    h = loop_step(h, w0)", prelude=STEP)

# Checkpointed loops (@checkpoint): the same gradients as the plain tape. every=3 over 7
# iterations (a short last segment), ceil(sqrt(n)) over 10, a loop nested in a checkpointed loop,
# and a while.
CKPT = """
@tessera.checkpoint(every=3)
def ckpt_every3[D](a: Tensor[D, {dt}], s: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    h = a
    for i in range(7):
        h = tanh(h * s + 0.1 * i)
    return h
@tessera.checkpoint
def ckpt_sqrt[D](a: Tensor[D, {dt}], s: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    h = a
    for i in range(10):
        for j in range(2):
            h = sin(h * s) + 0.05 * i * j
    return h
@tessera.checkpoint(every=2)
def ckpt_while[D](a: Tensor[D, {dt}], s: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    h = a
    while (h * h).sum() > 0.01:
        h = h * sigmoid(s) * 0.9
    return h
"""


def ckpt_every3_ref(x, w):
    h = x
    for i in range(7):
        h = torch.tanh(h * w + 0.1 * i)
    return h


def ckpt_sqrt_ref(x, w):
    h = x
    for i in range(10):
        for j in range(2):
            h = torch.sin(h * w) + 0.05 * i * j
    return h


add("checkpoint_every3", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "ckpt_every3(x, w0)", [rnd(5), rnd(5)],
    ckpt_every3_ref, argnums=(0, 1), prelude=CKPT)
# (20 chained sin steps: the s-gradient sums terms much larger than itself, so f32 rounding shows
# at ~2e-4 relative; f64 is checked at the default tolerance.)
add("checkpoint_sqrt", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "ckpt_sqrt(x, w0)", [rnd(5), rnd(5)],
    ckpt_sqrt_ref, argnums=(0, 1), prelude=CKPT, tol32=(1e-3, 1e-5))
add("checkpoint_while", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "ckpt_while(x, w0)", [rnd(4) * 0.3, rnd(4)],
    while_ref, argnums=(0, 1), prelude=CKPT, fd=False)

# @custom_vjp (issue 5): the backward function replaces the gradient of the function. References:
# torch.autograd.Function with the same backward.
CUSTOM = """
def clip_bwd[D](a: Tensor[D, {dt}], out: Tensor[D, {dt}], ct: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return clamp(ct, min=-0.5, max=0.5)
@tessera.custom_vjp(clip_bwd)
def clip_gradient[D](a: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return a
def ste_bwd[D](a: Tensor[D, {dt}], out: Tensor[D, {dt}], ct: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return where(abs(a) <= 1.0, ct, 0.0)
@tessera.custom_vjp(ste_bwd)
def binarize[D](a: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return where(a > 0.0, a * 0.0 + 1.0, a * 0.0 - 1.0)
def softplus_bwd[D](a: Tensor[D, {dt}], out: Tensor[D, {dt}], ct: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return ct * sigmoid(a)
@tessera.custom_vjp(softplus_bwd)
def softplus_stable[D](a: Tensor[D, {dt}]) -> Tensor[D, {dt}]:
    return maximum(a, 0.0) + log1p(exp(-abs(a)))
def scale_bwd[B, D](a: Tensor[B, D, {dt}], s: Tensor[D, {dt}], out: Tensor[B, D, {dt}], ct: Tensor[B, D, {dt}]):
    return ct * s * 2.0, (ct * a).sum(axis=0)
@tessera.custom_vjp(scale_bwd)
def scale2[B, D](a: Tensor[B, D, {dt}], s: Tensor[D, {dt}]) -> Tensor[B, D, {dt}]:
    return a * s
"""


class Scale2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, s):
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx, ct):
        a, s = ctx.saved_tensors
        return ct * s * 2.0, (ct * a).sum(0)


def softplus_loop_ref(x, w):
    h = x
    for i in range(3):
        h = F.softplus(h * w) - 1.0
    return h


add("custom_vjp_clip", "x: Tensor[D, {dt}]", "sin(clip_gradient(x * 3.0))", [rnd(6)],
    lambda x: torch.sin(ClipGrad.apply(x * 3.0)), prelude=CUSTOM, fd=False)
add("custom_vjp_ste", "x: Tensor[D, {dt}]", "binarize(x) * x", [away(8) * 1.5],
    lambda x: Binarize.apply(x) * x, prelude=CUSTOM, fd=False)
add("custom_vjp_softplus", "x: Tensor[D, {dt}]", "softplus_stable(x * 30.0)", [away(6)],
    lambda x: F.softplus(x * 30.0), prelude=CUSTOM)
add("custom_vjp_two_args", "x: Tensor[B, D, {dt}], s: Tensor[D, {dt}]", "scale2(x, s) + x", [rnd(3, 4), rnd(4)],
    lambda x, s: Scale2.apply(x, s) + x, argnums=(0, 1), prelude=CUSTOM, fd=False)
add("custom_vjp_in_loop", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "h", [rnd(5), rnd(5)], softplus_loop_ref,
    argnums=(0, 1), prelude=CUSTOM, body="h = x\nfor i in range(3):\n    h = softplus_stable(h * w0) - 1.0")


# A while of about 60 iterations: the growable tape of the one-pass while (16 slots) doubles twice.
def while_long_ref(x, w):
    h = x
    while (h * h).sum() > 0.0001:
        h = h * (0.9 + 0.05 * torch.sigmoid(w))
    return h


add("while_long", "x: Tensor[D, {dt}], w0: Tensor[D, {dt}]", "h", [np.array([0.2, -0.4, 0.9]), rnd(3)],
    while_long_ref, argnums=(0, 1), body="h = x\nwhile (h * h).sum() > 0.0001:\n    h = h * (0.9 + 0.05 * sigmoid(w0))",
    fd=False)

# Second order (issue 5, higher-order AD): for a base case of op E, d2_<name> is the case whose
# expression is the first derivative `tessera.grad(h)(inputs)` of h = sum(E + E * E / 2) (so that
# both E'' and E'^2 appear), differentiated again by the driver: the gradient of
# sum(grad(h)(inputs) * w) is a Hessian-vector product of h. References: torch autograd of the
# torch first derivative (create_graph=True), and finite differences of that first derivative.
def first_derivative(base, k):
    def d(*xs):
        with torch.enable_grad():
            xs = list(xs)
            if not xs[k].requires_grad:
                xs[k] = xs[k].detach().requires_grad_(True)
            e = base.ref(*xs)
            (g,) = torch.autograd.grad((e + e * e * 0.5).sum(), xs[k], create_graph=True)
        return g
    return d


def add_second_order(name, k=None, tol32=(2e-3, 2e-4), dtypes=("f64",)):
    base = next(c for c in CASES if c.name == name)
    k = base.argnums[0] if k is None else k
    ps = [(n.strip(), t.strip()) for n, t in re.findall(r"(\w+)\s*:\s*(Tensor\[[^\]]*\])", base.params)]
    dims = dims_of([t.format(dt="f64") for _, t in ps])
    generic = f"[{', '.join(dims)}]" if dims else ""
    h = f"h2_{name}"
    lines = ["@tessera.function", f"def {h}{generic}({', '.join(f'{n}: {t}' for n, t in ps)}) -> {{dt}}:"]
    lines += ["    " + l for l in base.body.strip("\n").split("\n") if l]
    lines += [f"    e2nd = {base.expr}", "    return (e2nd + e2nd * e2nd * 0.5).sum()"]
    out = ", ".join(t.strip() for t in ps[k][1][len("Tensor["):-1].split(",") if t.strip() and "{" not in t)
    add(f"d2_{name}", base.params, f"tessera.grad({h}, argnums={k})({', '.join(n for n, _ in ps)})", base.inputs,
        first_derivative(base, k), argnums=base.argnums, out=out, fd=base.fd, prelude=base.prelude + "\n".join(lines) + "\n",
        tol32=tol32, dtypes=dtypes)


# f64 for every case (against torch and finite differences); f32 for a few, to bound the suite's time.
F32_SECOND_ORDER = ("sin", "tanh", "softmax", "matmul_2d", "layer_norm", "cross_entropy")
SECOND_ORDER = (["pow", "pow_scalar", "scalar_ops", "where", "clamp", "norm", "softmax", "log_softmax", "cross_entropy",
                 "linear", "transpose_T", "reshape", "unsqueeze", "broadcast_to", "slice", "slice_drop", "concat",
                 "stack", "split", "layer_norm", "rms_norm", "embedding", "embedding_dynamic_vocab", "call_helper",
                 "local_reuse"] +
                [op for op in UNARY] + [f"{op}_rank0" for op in ("exp", "sin", "tanh")] +
                [f"{op}_bcast1" for op in BINARY] + ["mul_bcast2", "div_bcast3"] +
                [f"reduce_{op}_ax1" for op in RED] + ["reduce_sum_ax0", "reduce_var_ax3"] +
                [f"matmul_{n}" for n in ("2d", "batched", "bcast_rhs", "vec_vec", "mat_vec")] +
                ["if_then", "if_else", "for_loop", "while_loop", "for_if", "mlp_loss"])
for _name in SECOND_ORDER:
    add_second_order(_name, dtypes=("f64", "f32") if _name in F32_SECOND_ORDER else ("f64",))

# Pooling with rows wider than a vector (37 columns: vector steps and a scalar tail). Added last, so
# the cases above keep their random inputs.
for _name, _xs, _k, _kw in (("k3_s1_p1_wide", (1, 2, 5, 37), 3, {"stride": 1, "padding": 1}),):
    _out = ", ".join(map(str, F.max_pool2d(torch.zeros(_xs), _k, **_kw).shape[2:]))
    _sh = f"x: Tensor[N, C, {_xs[2]}, {_xs[3]}, {{dt}}]"
    add(f"max_pool2d_{_name}", _sh, f"max_pool2d(x, {_k}{kw_text(_kw)})", [rnd(*_xs)],
        lambda x, k=_k, kw=_kw: F.max_pool2d(x, k, **kw), out=f"N, C, {_out}", fd=False)
    add(f"avg_pool2d_{_name}", _sh, f"avg_pool2d(x, {_k}{kw_text(_kw)})", [rnd(*_xs)],
        lambda x, k=_k, kw=_kw: F.avg_pool2d(x, k, **kw), out=f"N, C, {_out}")

# Through 8-bit float casts (docs/types.md): the value rounds to f8 on the way in, and the cotangent
# reaching the f8 tensor is an f8 tensor too (rounded), as for bf16. The reference is torch with
# that cast as an autograd function over the exact rounding of float8_ref (torch 1.13 has no
# float8). Finite differences would see a step function: not compared.
from float8_ref import f8_round  # noqa: E402


def f8_cast(fmt):
    class Cast(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.from_numpy(f8_round(x.detach().numpy(), fmt)).to(x.dtype)

        @staticmethod
        def backward(ctx, g):
            return torch.from_numpy(f8_round(g.detach().numpy(), fmt)).to(g.dtype)
    return Cast.apply


for _fmt in ("f8e4m3", "f8e5m2"):
    add(f"cast_{_fmt}", "x: Tensor[B, D, {dt}]", f"x.astype({_fmt}).astype({{dt}})", [rnd(3, 5) * 4],
        lambda x, c=f8_cast(_fmt): c(x), fd=False)
    add(f"cast_{_fmt}_inside", "x: Tensor[B, D, {dt}]", f"sin(x.astype({_fmt}).astype({{dt}})) * x", [rnd(3, 5)],
        lambda x, c=f8_cast(_fmt): torch.sin(c(x)) * x, fd=False)

# Log densities of the distributions (LANGUAGE.md §9): gradients with respect to the value and
# every parameter, against torch.distributions in float64 (and finite differences). Their own
# random stream, so the cases above keep their inputs.
import torch.distributions as TD  # noqa: E402

_DR = np.random.default_rng(20261207)


def _n(*s, scale=1.0):
    return np.asarray(_DR.standard_normal(s) * scale)


def _p(*s, lo=0.3, hi=3.0):
    return np.asarray(_DR.uniform(lo, hi, s))


_T = "Tensor[N, {dt}]"
for _name, _names, _inputs, _expr, _ref in (
        ("normal", "x, loc, scale", [_n(6), _n(6), _p(6)], "Normal(loc, scale)", lambda x, l, s: TD.Normal(l, s).log_prob(x)),
        ("halfnormal", "x, scale", [_p(6), _p(6)], "HalfNormal(scale)", lambda x, s: TD.HalfNormal(s).log_prob(x)),
        ("lognormal", "x, loc, scale", [_p(6), _n(6), _p(6)], "LogNormal(loc, scale)",
         lambda x, l, s: TD.LogNormal(l, s).log_prob(x)),
        ("cauchy", "x, loc, scale", [_n(6), _n(6), _p(6)], "Cauchy(loc, scale)", lambda x, l, s: TD.Cauchy(l, s).log_prob(x)),
        ("halfcauchy", "x, scale", [_p(6), _p(6)], "HalfCauchy(scale)", lambda x, s: TD.HalfCauchy(s).log_prob(x)),
        ("studentt", "x, df, loc, scale", [_n(6), _p(6, lo=1.0, hi=30.0), _n(6), _p(6)], "StudentT(df, loc, scale)",
         lambda x, d, l, s: TD.StudentT(d, l, s).log_prob(x)),
        ("gamma", "x, a, rate", [_p(6), _p(6, lo=0.5, hi=8.0), _p(6)], "Gamma(a, rate)",
         lambda x, a, r: TD.Gamma(a, r).log_prob(x)),
        ("exponential", "x, rate", [_p(6), _p(6)], "Exponential(rate)", lambda x, r: TD.Exponential(r).log_prob(x)),
        ("beta", "x, a, b", [_p(6, lo=0.05, hi=0.95), _p(6, lo=0.5, hi=6.0), _p(6, lo=0.5, hi=6.0)], "Beta(a, b)",
         lambda x, a, b: TD.Beta(a, b).log_prob(x)),
        ("uniform", "x, lo, hi", [_p(6, lo=-0.4, hi=0.4), _p(6, lo=-3.0, hi=-1.0), _p(6, lo=1.0, hi=3.0)], "Uniform(lo, hi)",
         lambda x, lo, hi: -torch.log(hi - lo) + 0 * x),
        ("bernoulli_logits", "x, lg", [np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0]), _n(6, scale=3)], "Bernoulli(logits=lg)",
         lambda x, lg: TD.Bernoulli(logits=lg).log_prob(x)),
        ("poisson", "x, rate", [np.array([0.0, 1.0, 3.0, 7.0, 2.0, 12.0]), _p(6, lo=0.5, hi=10.0)], "Poisson(rate)",
         lambda x, r: TD.Poisson(r).log_prob(x)),
        ("poisson_log_rate", "x, lr", [np.array([0.0, 1.0, 3.0, 7.0, 2.0, 12.0]), _n(6)], "Poisson(log_rate=lr)",
         lambda x, lr: x * lr - torch.exp(lr) - torch.lgamma(x + 1))):
    _params = ", ".join(f"{n.strip()}: {_T}" for n in _names.split(","))
    _count = len(_names.split(","))
    # Counts and labels are data: their gradient is not compared (argnums: the parameters).
    _argnums = tuple(range(1, _count)) if _name.startswith(("bernoulli", "poisson")) else tuple(range(_count))
    add(f"log_prob_{_name}", _params, f"{_expr}.log_prob(x)", _inputs, _ref, argnums=_argnums, out="N",
        tol32=(2e-4, 2e-5))

# Binomial (total_count 10, probs= and logits=) and Categorical (class ids against logits on the
# last axis, and against unnormalized probs): gradients with respect to the parameters.
_bx = np.array([0.0, 3.0, 10.0, 7.0, 1.0, 5.0])
add("log_prob_binomial_logits", "x: Tensor[N, {dt}], lg: Tensor[N, {dt}]", "Binomial(10.0, logits=lg).log_prob(x)",
    [_bx, _n(6, scale=2)], lambda x, lg: TD.Binomial(10, logits=lg).log_prob(x), argnums=(1,), out="N",
    tol32=(2e-4, 2e-5))
add("log_prob_binomial_probs", "x: Tensor[N, {dt}], p: Tensor[N, {dt}]", "Binomial(10.0, probs=p).log_prob(x)",
    [_bx, _p(6, lo=0.1, hi=0.9)], lambda x, p: TD.Binomial(10, probs=p).log_prob(x), argnums=(1,), out="N",
    tol32=(2e-4, 2e-5))
_ids = np.array([0, 3, 1, 2, 3, 0], dtype=np.int64)
add("log_prob_categorical_logits", "lg: Tensor[N, 4, {dt}], y: Tensor[N, i64]", "Categorical(logits=lg).log_prob(y)",
    [_n(6, 4, scale=2), _ids], lambda lg, y: TD.Categorical(logits=lg).log_prob(y), argnums=(0,), out="N",
    tol32=(2e-4, 2e-5))
add("log_prob_categorical_probs", "pr: Tensor[N, 4, {dt}], y: Tensor[N, i64]", "Categorical(probs=pr).log_prob(y)",
    [_p(6, 4), _ids], lambda pr, y: TD.Categorical(probs=pr).log_prob(y), argnums=(0,), out="N",
    tol32=(2e-4, 2e-5))

# Dense linear algebra and the multivariate families. cholesky is fed m m^T + 4 I, so that
# finite differences stay on symmetric matrices (the factor reads one triangle; torch's gradient
# is the symmetric one); solve_triangular reads one triangle, and its gradient is that triangle's.
_LR = np.random.default_rng(20261209)
_m = _LR.standard_normal((4, 4))
_tri = np.tril(_LR.standard_normal((4, 4))) + 3.0 * np.eye(4)
_rhs = _LR.standard_normal((4, 3))
add("cholesky_spd", "m: Tensor[N, N, {dt}]", "cholesky(m @ m.T + 4.0 * (m - m + eye))",
    [_m], lambda m: torch.linalg.cholesky(m @ m.T + 4.0 * torch.eye(4, dtype=m.dtype)), out="N, N",
    body="eye = where(arange(N).reshape(N, 1) == arange(N).reshape(1, N), 1.0, 0.0)", tol32=(2e-3, 2e-4))
add("solve_triangular_lower", "l: Tensor[N, N, {dt}], b: Tensor[N, K, {dt}]", "solve_triangular(l, b, upper=False)",
    [_tri, _rhs], lambda l, b: torch.linalg.solve_triangular(l, b, upper=False), argnums=(0, 1), out="N, K",
    tol32=(2e-3, 2e-4))
add("solve_triangular_upper", "u: Tensor[N, N, {dt}], b: Tensor[N, K, {dt}]", "solve_triangular(u, b, upper=True)",
    [_tri.T.copy(), _rhs], lambda u, b: torch.linalg.solve_triangular(u, b, upper=True), argnums=(0, 1), out="N, K",
    tol32=(2e-3, 2e-4))
add("solve_triangular_right", "l: Tensor[N, N, {dt}], c: Tensor[K, N, {dt}]",
    "solve_triangular(l, c, upper=False, left=False)", [_tri, _rhs.T.copy()],
    lambda l, c: torch.linalg.solve_triangular(l, c, upper=False, left=False), argnums=(0, 1), out="K, N",
    tol32=(2e-3, 2e-4))
_mv_x, _mv_loc = _LR.standard_normal((5, 4)), _LR.standard_normal(4)
add("log_prob_mvn_cov", "x: Tensor[M, N, {dt}], loc: Tensor[N, {dt}], m: Tensor[N, N, {dt}]",
    "MultivariateNormal(loc, covariance_matrix=m @ m.T + 4.0 * (m - m + eye)).log_prob(x)", [_mv_x, _mv_loc, _m],
    lambda x, loc, m: TD.MultivariateNormal(loc, covariance_matrix=m @ m.T + 4.0 * torch.eye(4, dtype=m.dtype)).log_prob(x),
    argnums=(0, 1, 2), out="M", body="eye = where(arange(N).reshape(N, 1) == arange(N).reshape(1, N), 1.0, 0.0)",
    tol32=(2e-3, 2e-4))
add("log_prob_mvn_scale_tril", "x: Tensor[N, {dt}], loc: Tensor[N, {dt}], l: Tensor[N, N, {dt}]",
    "MultivariateNormal(loc, scale_tril=l).log_prob(x)", [_mv_x[0], _mv_loc, _tri],
    lambda x, loc, l: TD.MultivariateNormal(loc, scale_tril=torch.tril(l)).log_prob(x), argnums=(0, 1, 2), out="",
    tol32=(2e-3, 2e-4))
_dir_x = _LR.dirichlet([2.0, 1.0, 3.0, 0.5], 5)
add("log_prob_dirichlet", "x: Tensor[M, K, {dt}], a: Tensor[K, {dt}]", "Dirichlet(a).log_prob(x)",
    [_dir_x, np.array([1.5, 0.7, 2.0, 3.0])], lambda x, a: TD.Dirichlet(a).log_prob(x), argnums=(1,), out="M",
    tol32=(2e-3, 2e-4))
# Second order through the factor and the solve (their gradients are built of differentiable ops).
add_second_order("cholesky_spd", tol32=(5e-3, 5e-4))
add_second_order("solve_triangular_lower", k=0, tol32=(5e-3, 5e-4))

# a[ids] (a gather on the first axis): the cotangent rows are added back at the ids, repeated
# ids accumulating (torch's index backward).
_GR = np.random.default_rng(20261210)
add("gather_vector", "a: Tensor[J, {dt}], i: Tensor[N, i64]", "a[i]", [_GR.standard_normal(6), np.array([2, 0, 5, 5, 1])],
    lambda a, i: a[i], argnums=(0,), out="N")
add("gather_rows", "a: Tensor[J, 3, {dt}], i: Tensor[N, i64]", "a[i]", [_GR.standard_normal((5, 3)), np.array([4, 0, 4, 2])],
    lambda a, i: a[i], argnums=(0,), out="N, 3")

# LKJCholesky's log density: gradients for the factor (its diagonal) and the concentration.
_LK = np.random.default_rng(20261208)
_la = _LK.standard_normal((3, 5))
_lc = _la @ _la.T
_lc = _lc / np.sqrt(np.outer(np.diag(_lc), np.diag(_lc)))
add("log_prob_lkj_cholesky", "x: Tensor[3, 3, {dt}], e: Tensor[{dt}]", "LKJCholesky(3, e).log_prob(x)",
    [np.linalg.cholesky(_lc), np.array(2.3)],
    lambda x, e: TD.LKJCholesky(3, e, validate_args=False).log_prob(x), argnums=(0, 1), out="",
    tol32=(2e-3, 2e-4))

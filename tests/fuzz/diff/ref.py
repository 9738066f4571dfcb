"""NumPy reference semantics for the differential fuzzer (tests/fuzz/diff/).

Values of the interpreted program:
  - a tensor is `TV(arr, dt, err)`: `arr` a NumPy array (bf16 values are kept as float32 arrays
    rounded to bf16 after every operation), `dt` the Tessera dtype name, `err` an estimate of
    the absolute rounding error the value may carry (a float; 0 for exact values), so that a
    comparison tolerance follows the computation that produced the value;
  - an `Int` is a Python int (exact), a float literal a Python float (weak).

The rules are docs/types.md's: promotion (`promote`), weak scalars (a Python int takes the
tensor's dtype; a Python float takes a float tensor's dtype and makes an integer or bool tensor
`f32`, as JAX and scope item 1 of issue 14 say), Python floor semantics for `//` and `%` on
integers and floats, reductions as NumPy (`var` population), `argmax` gives i64.

An operation whose result would depend on rounding (a comparison of two floats closer than the
error estimate, a float->int cast near an integer, a division by a near-zero value, a value
that overflows) raises `Fragile`: the generator throws such a candidate away, so that every
program it keeps has one right answer.
"""
import math

import numpy as np

FLOATS = ("f32", "f64", "bf16")
INTS = ("i32", "i64")
NP = {"f32": np.float32, "f64": np.float64, "bf16": np.float32, "i32": np.int32, "i64": np.int64,
      "bool": np.bool_}
# Relative rounding error of one operation's result, per dtype (a few ulps: the compiled code
# uses vectorized approximations of the transcendental functions).
EPS = {"f32": 2.0 ** -24 * 8, "f64": 2.0 ** -53 * 8, "bf16": 2.0 ** -8 * 1.5, "i32": 0.0, "i64": 0.0,
       "bool": 0.0}
BITS = {"f32": 32, "f64": 64, "bf16": 16, "i32": 32, "i64": 64, "bool": 1}
MAX_MAG = 1.0e4     # larger float values are thrown away (no overflow, meaningful tolerances)
MAX_INT = 1 << 20   # larger integers are thrown away (no wrap-around differences)


class Fragile(Exception):
    """The value would depend on rounding or would overflow: the generator retries."""


def is_float(dt):
    return dt in FLOATS


def promote(a, b):
    """docs/types.md: equal -> same; bool with x -> x; float with int -> the float; two floats ->
    the wider (bf16 with f16 -> f32); two ints -> the wider."""
    if a == b:
        return a
    if a == "bool":
        return b
    if b == "bool":
        return a
    fa, fb = is_float(a), is_float(b)
    if fa and not fb:
        return a
    if fb and not fa:
        return b
    if BITS[a] == BITS[b]:
        return a if BITS[a] >= 32 else "f32"
    return a if BITS[a] > BITS[b] else b


def round_bf16(x):
    x = np.asarray(x, dtype=np.float32)
    shape = x.shape
    u = np.array(x.reshape(-1), dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return (u.astype(np.uint32)).view(np.float32).reshape(shape)


def to_dtype(arr, dt):
    """Rounds/converts an array (any dtype) to Tessera dtype `dt` (float->int truncates)."""
    arr = np.asarray(arr)
    if dt == "bf16":
        return round_bf16(arr.astype(np.float64).astype(np.float32) if arr.dtype != np.float32 else arr)
    if dt == "bool":
        return arr != 0
    with np.errstate(all="ignore"):
        return arr.astype(NP[dt])


class TV:
    __slots__ = ("arr", "dt", "err")

    def __init__(self, arr, dt, err=0.0):
        self.arr = np.asarray(arr)
        self.dt = dt
        self.err = float(err)

    @property
    def shape(self):
        return tuple(self.arr.shape)

    def maxabs(self):
        if self.arr.size == 0:
            return 0.0
        return float(np.max(np.abs(self.arr.astype(np.float64))))


def finish(arr64, dt, err_in):
    """The result of an operation computed in float64 (or exactly): checks its range, rounds it
    to `dt` and adds one rounding to the error estimate."""
    if is_float(dt):
        a = np.asarray(arr64, dtype=np.float64)
        if not np.all(np.isfinite(a)) or (a.size and np.max(np.abs(a)) > MAX_MAG):
            raise Fragile("float out of range")
        out = to_dtype(a, dt)
        mag = float(np.max(np.abs(a))) if a.size else 0.0
        return TV(out, dt, err_in + EPS[dt] * mag)
    a = np.asarray(arr64)
    if dt != "bool" and a.size and np.max(np.abs(a.astype(np.float64))) > MAX_INT:
        raise Fragile("int out of range")
    if err_in > 0:
        raise Fragile("integer result of an inexact value")
    return TV(to_dtype(a, dt), dt, 0.0)


def weak(v, other_dt):
    """The dtype a weak Python scalar takes next to a tensor of dtype other_dt."""
    if isinstance(v, bool):
        return other_dt
    if isinstance(v, int):
        return other_dt if other_dt != "bool" else "i64"
    return other_dt if is_float(other_dt) else "f32"


def as_tv(v, dt):
    if isinstance(v, TV):
        return v
    return TV(to_dtype(np.asarray(v, dtype=np.float64), dt), dt, 0.0)


def result_dtype(a, b):
    if isinstance(a, TV) and isinstance(b, TV):
        return promote(a.dt, b.dt)
    if isinstance(a, TV):
        return weak(b, a.dt)
    if isinstance(b, TV):
        return weak(a, b.dt)
    raise TypeError("two scalars")


def _mx(t):
    return t.maxabs()


def binary(op, a, b):
    dt = result_dtype(a, b)
    ta, tb = as_tv(a, dt), as_tv(b, dt)
    # Operands converted to the result dtype (bf16 -> f32 conversions are exact).
    xa = ta.arr.astype(np.float64) if is_float(dt) else ta.arr.astype(NP[dt])
    xb = tb.arr.astype(np.float64) if is_float(dt) else tb.arr.astype(NP[dt])
    ea, eb = ta.err, tb.err
    if not is_float(dt):
        ea = eb = 0.0
    if op in ("<", "<=", ">", ">=", "==", "!="):
        if is_float(dt):
            diff = np.abs(xa - xb)
            margin = 4 * (ea + eb) + EPS[dt] * 4 * max(_mx(ta), _mx(tb), 1e-30)
            if diff.size and np.min(diff) <= margin:
                raise Fragile("comparison too close")
        f = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
             "!=": np.not_equal}[op]
        return TV(f(xa, xb), "bool", 0.0)
    if dt == "bool":
        raise TypeError("arithmetic on bool")
    with np.errstate(all="ignore"):
        if op == "+":
            r, e = xa + xb, ea + eb
        elif op == "-":
            r, e = xa - xb, ea + eb
        elif op == "*":
            r, e = xa * xb, ea * _mx(tb) + eb * _mx(ta) + ea * eb
        elif op == "/":
            if not is_float(dt):
                raise TypeError("int true division")
            mb = np.min(np.abs(xb)) if xb.size else 1.0
            if mb < 0.25 or mb <= 4 * eb:
                raise Fragile("division by a small value")
            r = xa / xb
            e = (ea + eb * float(np.max(np.abs(r)) if r.size else 0)) / (mb - eb)
        elif op in ("//", "%"):
            if is_float(dt):
                mb = np.min(np.abs(xb)) if xb.size else 1.0
                if mb < 0.25 or eb > 0:
                    raise Fragile("float floor division by an inexact or small value")
                q = xa / xb
                dist = np.abs(q - np.round(q))
                if dist.size and np.min(dist) * mb <= 4 * (ea + EPS[dt] * float(np.max(np.abs(xa)) + 1)):
                    raise Fragile("float floor division near an integer quotient")
                r = np.floor_divide(xa, xb) if op == "//" else np.mod(xa, xb)
                e = ea if op == "%" else 0.0
            else:
                if np.any(xb == 0):
                    raise Fragile("integer division by zero")
                r = np.floor_divide(xa, xb) if op == "//" else np.mod(xa, xb)
                e = 0.0
        elif op == "**":
            if is_float(dt):
                r = np.power(xa, xb)
                # d/dx x^p = p x^(p-1)
                p = float(np.max(np.abs(xb))) if xb.size else 1
                e = ea * p * max(_mx(ta), 1.0) ** max(p - 1, 0)
            else:
                if np.any(xb < 0):
                    raise Fragile("negative integer power")
                r = np.power(xa, xb)
                e = 0.0
        elif op == "maximum":
            r, e = np.maximum(xa, xb), max(ea, eb)
        elif op == "minimum":
            r, e = np.minimum(xa, xb), max(ea, eb)
        else:
            raise ValueError(op)
    return finish(r, dt, e)


def unary(op, x):
    """Unary elementwise; the transcendental ones make an integer input f32 (sema's unary_float)."""
    if op in ("neg", "abs", "relu"):
        if x.dt == "bool":
            raise TypeError("bool")
        a = x.arr.astype(np.float64) if is_float(x.dt) else x.arr.astype(NP[x.dt])
        r = {"neg": np.negative, "abs": np.abs, "relu": lambda v: np.maximum(v, 0)}[op](a)
        return finish(r, x.dt, x.err)
    dt = x.dt if is_float(x.dt) else "f32"
    a = x.arr.astype(np.float64)
    e = x.err
    with np.errstate(all="ignore"):
        if op == "exp":
            r = np.exp(a)
            e = e * (float(np.max(r)) if r.size else 0)
        elif op == "log":
            m = float(np.min(a)) if a.size else 1
            if m < 0.25 or m <= 4 * e:
                raise Fragile("log of a small value")
            r = np.log(a)
            e = e / (m - e)
        elif op == "sqrt":
            m = float(np.min(a)) if a.size else 1
            if m < 0.25 or m <= 4 * e:
                raise Fragile("sqrt of a small value")
            r = np.sqrt(a)
            e = e / (2 * math.sqrt(m - e))
        elif op == "tanh":
            r = np.tanh(a)
        elif op == "sigmoid":
            r = 1.0 / (1.0 + np.exp(-a))
            e = e / 4
        elif op == "sin":
            r = np.sin(a)
        elif op == "cos":
            r = np.cos(a)
        elif op == "silu":
            if not is_float(x.dt):
                raise TypeError("silu of int")
            r = a / (1.0 + np.exp(-a))
            e = e * 1.1
        else:
            raise ValueError(op)
    return finish(r, dt, e)


def where(c, a, b):
    if isinstance(a, TV) and isinstance(b, TV):
        dt = promote(a.dt, b.dt)
    elif isinstance(a, TV):
        dt = weak(b, a.dt)
    elif isinstance(b, TV):
        dt = weak(a, b.dt)
    else:
        dt = "f32" if isinstance(a, float) or isinstance(b, float) else "i64"
    ta, tb = as_tv(a, dt), as_tv(b, dt)
    xa = ta.arr.astype(np.float64) if is_float(dt) else ta.arr.astype(NP[dt])
    xb = tb.arr.astype(np.float64) if is_float(dt) else tb.arr.astype(NP[dt])
    r = np.where(c.arr, xa, xb)
    return finish(r, dt, max(ta.err, tb.err) if is_float(dt) else 0.0)


def norm_axes(axis, rank):
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % rank for a in axis))


def reduce(op, x, axis, keepdim):
    axes = norm_axes(axis, x.arr.ndim)
    n = 1
    for a in axes:
        n *= x.arr.shape[a]
    if op == "argmax":
        a = x.arr.astype(np.float64)
        if x.arr.ndim == 0:
            return TV(np.asarray(0, dtype=np.int64), "i64", 0.0)
        ax = axes[0]
        srt = np.sort(a, axis=ax)
        if a.shape[ax] > 1:
            gap = np.take(srt, -1, axis=ax) - np.take(srt, -2, axis=ax)
            if gap.size and np.min(gap) <= 4 * x.err + 4 * EPS.get(x.dt, 0) * max(x.maxabs(), 1e-30):
                raise Fragile("argmax near a tie")
        r = np.argmax(a, axis=ax)
        if keepdim:
            r = np.expand_dims(r, ax)
        return TV(r.astype(np.int64), "i64", 0.0)
    dt = x.dt
    if is_float(dt):
        a = x.arr.astype(np.float64)
    else:
        a = x.arr.astype(np.int64)
    e = x.err
    if op == "sum":
        r = np.sum(a, axis=axes, keepdims=keepdim)
        e = e * n + EPS.get(dt, 0) * float(np.sum(np.abs(a))) * math.log2(n + 1)
    elif op == "mean":
        r = np.mean(a, axis=axes, keepdims=keepdim)
        e = e + EPS.get(dt, 0) * x.maxabs() * math.log2(n + 1)
    elif op == "var":
        r = np.var(a, axis=axes, keepdims=keepdim)
        e = 4 * e * x.maxabs() + EPS.get(dt, 0) * x.maxabs() ** 2 * math.log2(n + 1) * 4
    elif op == "max":
        r = np.max(a, axis=axes, keepdims=keepdim)
    elif op == "min":
        r = np.min(a, axis=axes, keepdims=keepdim)
    elif op == "logsumexp":
        m = np.max(a, axis=axes, keepdims=True)
        r = np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True)) + m
        if not keepdim:
            r = np.squeeze(r, axis=axes)
        e = e + EPS.get(dt, 0) * (x.maxabs() + math.log(n + 1)) * 4
    else:
        raise ValueError(op)
    return finish(r, dt, e)


def softmax(op, x, axis):
    a = x.arr.astype(np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    ex = np.exp(a - m)
    s = np.sum(ex, axis=axis, keepdims=True)
    if op == "softmax":
        r = ex / s
        e = 2 * x.err
    else:
        r = a - m - np.log(s)
        e = 2 * x.err + EPS[x.dt] * (x.maxabs() + math.log(a.shape[axis] + 1)) * 4
    return finish(r, x.dt, e)


def matmul(a, b):
    dt = promote(a.dt, b.dt)
    xa, xb = a.arr.astype(np.float64), b.arr.astype(np.float64)
    r = np.matmul(xa, xb)
    k = xa.shape[-1]
    e = k * (a.err * b.maxabs() + b.err * a.maxabs()) + EPS[dt] * k * a.maxabs() * b.maxabs()
    return finish(r, dt, e)


def astype(x, dt):
    if is_float(dt):
        return finish(x.arr.astype(np.float64), dt, x.err)
    if dt == "bool":
        if is_float(x.dt):
            m = np.min(np.abs(x.arr.astype(np.float64))) if x.arr.size else 1
            if m <= 4 * x.err + 1e-30:
                raise Fragile("cast to bool near 0")
        return TV(x.arr != 0, "bool", 0.0)
    if is_float(x.dt):
        a = x.arr.astype(np.float64)
        t = np.trunc(a)
        dist = np.minimum(np.abs(a - t), np.abs(np.abs(a - t) - 1))
        if dist.size and np.min(dist) <= 4 * x.err + 1e-9:
            raise Fragile("float->int cast near an integer")
        return finish(t.astype(np.int64), dt, 0.0)
    return finish(x.arr.astype(np.int64), dt, 0.0)


def index(x, items):
    """items: ints (already in range or negative), ('slice', a, b, s) tuples."""
    key = tuple(it if isinstance(it, int) else slice(it[1], it[2], it[3]) for it in items)
    return TV(x.arr[key].copy(), x.dt, x.err)


def compare(dt, actual, expected, err):
    """None when `actual` (as loaded from .npy) agrees with the reference `expected` (a TV), or
    a message."""
    want_np = {"bf16": np.float32}.get(dt, NP[dt])
    if actual.dtype != np.dtype(want_np):
        return f"dtype {actual.dtype}, expected {np.dtype(want_np)} ({dt})"
    if tuple(actual.shape) != tuple(expected.arr.shape):
        return f"shape {tuple(actual.shape)}, expected {tuple(expected.arr.shape)}"
    if not is_float(dt):
        if not np.array_equal(actual, expected.arr):
            bad = np.argwhere(actual != expected.arr)
            i = tuple(bad[0]) if len(bad) else ()
            return f"values differ at {i}: {actual[i] if i else actual} vs {expected.arr[i] if i else expected.arr}"
        return None
    a = actual.astype(np.float64)
    e = expected.arr.astype(np.float64)
    tol = 8 * err + EPS[dt] * 8 * np.abs(e) + 1e-30
    if not np.all(np.isfinite(a)):
        return "non-finite values"
    d = np.abs(a - e)
    if np.any(d > tol):
        i = np.unravel_index(int(np.argmax(d - tol)), d.shape) if d.ndim else ()
        return f"values differ at {tuple(int(j) for j in i)}: {a[i]!r} vs {e[i]!r} (tolerance {float(np.broadcast_to(tol, d.shape)[i]):.3g})"
    return None

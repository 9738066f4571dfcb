"""Random well-typed Tessera programs, their AST, a renderer to `.tsr` and a NumPy interpreter.

The generator builds a small AST (`E` expressions, tuple statements), evaluates every candidate
with the reference semantics of ref.py as it goes (a candidate whose value would depend on
rounding, or that overflows, raises `ref.Fragile` and is regenerated), renders the program as
`.tsr` text and writes its inputs as `.npy` files. The same AST is interpreted by `run()` to
give the expected outputs: the `.tsr` text is never parsed back.

Each construct the generator can emit belongs to a *feature* (the names in FEATURES). Features
in KNOWN_BROKEN are not generated: each entry names the bug (see docs/testing.md and the
repro under tests/fuzz/diff/repros/), and the integrator removes it when the fix lands.
"""
import copy
import random

import numpy as np

import ref
from ref import TV, Fragile, is_float, promote

# Every feature the generator knows. A program records the features it uses (in its header).
FEATURES = {
    "unary": "neg abs relu exp log sqrt tanh sigmoid sin cos silu",
    "unary_method": "x.exp() x.log() x.sqrt() x.tanh() x.sigmoid() (method spelling)",
    "unary_int_input": "a transcendental function of an integer tensor (gives f32)",
    "arith": "+ - * / of equal dtypes",
    "mix_float_float": "binary operation of two float dtypes (f32/f64/bf16)",
    "mix_int_float": "binary operation of an integer and a float tensor",
    "mix_int_int": "binary operation of i32 and i64",
    "mix_bool": "bool tensor in arithmetic with a number tensor",
    "weak_int": "an int literal next to a tensor",
    "weak_float": "a float literal next to a float tensor",
    "float_scalar_arith": "Python float arithmetic on literals (+ - * //) as a weak operand",
    "float_scalar_mod": "Python float % on literals (Python floor semantics)",
    "weak_float_int_tensor": "a float literal next to an integer tensor (gives f32)",
    "intvar_operand": "an Int variable next to a tensor",
    "int_floordiv": "// and % of integer tensors (Python floor semantics)",
    "float_mod": "// and % of float tensors (Python floor semantics)",
    "pow_float": "float tensor ** 2, ** 3, ** 0.5",
    "pow_int": "integer tensor ** 2",
    "compare": "< <= > >= == != (bool result)",
    "compare_mixed": "comparison of two different dtypes",
    "maxmin": "maximum / minimum",
    "where": "where(cond, a, b) with broadcasting",
    "where_scalar": "where with a Python number as a branch",
    "reduce": "sum mean var max min logsumexp over float tensors (axis int/tuple/None, keepdim)",
    "reduce_int_minmax": "max / min of an integer tensor",
    "reduce_int_sum": "sum / mean of an integer tensor (no rule in docs/types.md yet)",
    "argmax": "argmax along one axis",
    "softmax": "softmax / log_softmax along an axis",
    "matmul": "@ and matmul (vector, matrix, batched)",
    "matmul_mixed": "matmul of two different float dtypes",
    "astype": "astype between f32 f64 bf16 i32 i64 bool",
    "astype_float_int": "astype from a float to an integer dtype (truncation)",
    "index_const": "x[c] with a constant (also negative) index",
    "index_int_var": "x[k] with a run-time Int index",
    "slice": "x[a:b] with constant bounds (also negative)",
    "slice_step": "x[a::2]",
    "slice_neg_step": "x[::-1] and x[hi:lo:-1] (also a negative start)",
    "index_ellipsis": "x[..., i] and x[..., a:b] on the last axis",
    "transpose": "x.T of a matrix",
    "reshape": "x.reshape(d1, ..., dn) with constant sizes",
    "reshape_neg1": "reshape with one size -1",
    "concat": "concat([a, b], axis=p)",
    "stack": "stack([a, b, ...], axis=p)",
    "unsqueeze": "x.unsqueeze(p)",
    "creation": "zeros ones full arange (with and without dtype=)",
    "tensor_literal": "tensor([...]) literals",
    "int_vars": "Int variables assigned from arithmetic (+ - * // %)",
    "for_loop": "for i in range(start, stop, step) with constant bounds",
    "for_runtime_bound": "for with a bound computed from Int variables",
    "for_neg_step": "for i in range(a, b, -s)",
    "break_continue": "if ...: break / continue in a loop body (continue only in for loops)",
    "augassign": "v += e, k -= e, v *= e (augmented assignment)",
    "augassign_floordiv_mod": "k %= e, k //= e",
    "bool_ops": "and / or / not in an if condition",
    "while_loop": "while counter < limit",
    "if_int": "if/else on an Int comparison",
    "if_tensor": "if/else on a comparison of a rank-0 tensor",
    "loop_tensor_update": "a tensor variable updated in a loop or branch",
    "loop_int_index": "an Int assigned in a loop body, used as an index (in the loop or after it)",
    "branch_int_index": "an Int assigned in an if/else branch, then used as an index",
    "astype_f64_bf16": "astype(bf16) of an f64 tensor",
    "function_call": "an expression computed by a user function (typed parameters) called from main",
    "large_dims": "dimensions past a vector width or a block size (7 8 9 16 17 31 33 64 100 257)",
    "rank0": "rank-0 tensors (full reductions) in arithmetic",
}

# Features that fail on today's code, each with the bug it hits (repro file under repros/).
# The generator does not emit them; remove an entry when its fix lands (the short ctest run
# then covers the feature again). Filled in from the fuzzer's own findings.
MAX_RANK = 8  # the runtime's TESS_MAX_RANK

KNOWN_BROKEN = {
    # Features whose bugs are still open: not generated unless --enable names them. Each names
    # its repro under repros/; take an entry off when its fix lands (--enable F shows whether it
    # has). Fixed and taken off: mixed dtypes, weak floats with integer tensors, integer powers,
    # Ints assigned in loops and branches used as indices, range with a negative step, float
    # scalar %, f64 -> bf16 casts, break/continue, %= //= **=, unary functions as methods.
}

DTYPES = ["f32", "f32", "f32", "f64", "f64", "bf16", "i32", "i64", "i64"]
SHAPE_DIMS = [1, 2, 3, 4, 5]
MAX_ELEMS = 40000


class E:
    """An expression. kind: var int flt un bin where red sm mm cast idx T tlit ivar ibin.
    ty: ("T", dtype, shape) for tensors, ("I",) for Int values, ("F",) for float literals."""
    __slots__ = ("kind", "a", "ty")

    def __init__(self, kind, a, ty):
        self.kind = kind
        self.a = a      # a list: children (E) and plain parameters
        self.ty = ty

    def kids(self):
        return [x for x in self.a if isinstance(x, E)]


def tty(dt, shape):
    return ("T", dt, tuple(shape))


INT_TY = ("I",)


# ------------------------------------------------------------------ interpreter
class Env(dict):
    pass


def ev(e, env):
    k = e.kind
    a = e.a
    if k == "var":
        return env[a[0]]
    if k == "ivar":
        return env[a[0]]
    if k == "int":
        return a[0]
    if k == "flt":
        return a[0]
    if k == "tlit":
        return TV(ref.to_dtype(np.asarray(a[0]), a[1]), a[1], 0.0)
    if k == "ibin":
        x, y = ev(a[1], env), ev(a[2], env)
        op = a[0]
        if op in ("//", "%") and y == 0:
            raise Fragile("Int division by zero")
        r = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "//": lambda: x // y,
             "%": lambda: x % y}[op]()
        if abs(r) > ref.MAX_INT:
            raise Fragile("Int out of range")
        return r
    if k == "fbin":
        x, y = ev(a[1], env), ev(a[2], env)
        return {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "%": lambda: x % y,
                "//": lambda: float(x // y)}[a[0]]()
    if k == "icmp":
        x, y = ev(a[1], env), ev(a[2], env)
        if isinstance(x, TV) or isinstance(y, TV):
            t = ref.binary(a[0], x, y)
            return bool(t.arr)
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[a[0]]
    if k == "bool":
        if a[0] == "not":
            return not ev(a[1], env)
        if a[0] == "and":
            return ev(a[1], env) and ev(a[2], env)
        return ev(a[1], env) or ev(a[2], env)
    if k == "un":
        return ref.unary(a[0], ev(a[1], env))
    if k == "bin":
        x, y = ev(a[1], env), ev(a[2], env)
        if a[0] in ("//", "%") and not isinstance(y, TV) and y == 0:
            raise Fragile("division by zero")
        return ref.binary(a[0], x, y)
    if k == "where":
        return ref.where(ev(a[0], env), ev(a[1], env), ev(a[2], env))
    if k == "red":
        return ref.reduce(a[0], ev(a[1], env), a[2], a[3])
    if k == "sm":
        return ref.softmax(a[0], ev(a[1], env), a[2])
    if k == "mm":
        return ref.matmul(ev(a[0], env), ev(a[1], env))
    if k == "cast":
        return ref.astype(ev(a[0], env), a[1])
    if k == "T":
        x = ev(a[0], env)
        return TV(x.arr.T.copy(), x.dt, x.err)
    if k == "create":
        form, shape, dt = a[0], tuple(a[1]), e.ty[1]
        if form == "zeros":
            v = np.zeros(shape)
        elif form == "ones":
            v = np.ones(shape)
        elif form == "full":
            v = np.full(shape, a[3])
        else:
            v = np.arange(shape[0])
        return TV(ref.to_dtype(v, dt), dt, 0.0)
    if k == "reshape":
        x = ev(a[0], env)
        return TV(x.arr.reshape(e.ty[2]).copy(), x.dt, x.err)
    if k == "unsq":
        x = ev(a[0], env)
        return TV(np.expand_dims(x.arr, a[1]), x.dt, x.err)
    if k in ("concat", "stack"):
        parts = [ev(p, env) for p in a[1:]]
        f = np.concatenate if k == "concat" else np.stack
        return TV(f([p.arr for p in parts], axis=a[0]), parts[0].dt, max(p.err for p in parts))
    if k == "call":
        fn = a[0]
        inner = Env({p: ev(arg, env) for (p, _), arg in zip(fn.params, a[1:])})
        return ev(fn.body, inner)
    if k == "idx":
        x = ev(a[0], env)
        items = []
        for axis, it in enumerate(a[1]):
            if it[0] == "c":
                items.append(it[1])
            elif it[0] == "e":
                v = ev(it[1], env)
                n = x.arr.shape[axis]
                if not -n <= v < n:
                    raise Fragile("index out of range")
                items.append(v)
            else:
                items.append(("s", it[1], it[2], it[3]))
        return ref.index(x, items)
    raise ValueError(k)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def exec_block(stmts, env, out, budget):
    for s in stmts:
        exec_stmt(s, env, out, budget)


def exec_stmt(s, env, out, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise Fragile("too many steps")
    k = s[0]
    if k == "input":
        name, dt, data = s[1], s[2], s[3]
        env[name] = TV(ref.to_dtype(data, dt), dt, 0.0)
    elif k in ("assign", "iassign"):
        env[s[1]] = ev(s[2], env)
    elif k == "for":
        var, start, stop, step, body = s[1:]
        lo, hi = ev(start, env), ev(stop, env)
        for i in range(lo, hi, step):
            env[var] = i
            try:
                exec_block(body, env, out, budget)
            except _Continue:
                continue
            except _Break:
                break
    elif k == "while":
        counter, limit, body = s[1:]
        env[counter] = 0
        while env[counter] < ev(limit, env):
            try:
                exec_block(body, env, out, budget)
            except _Break:
                break
            env[counter] = env[counter] + 1
    elif k == "if":
        c = ev(s[1], env)
        exec_block(s[2] if c else s[3], env, out, budget)
    elif k == "break":
        raise _Break()
    elif k == "continue":
        raise _Continue()
    elif k == "save":
        v = env[s[1]]
        out.append(("save", s[2], v))
    elif k == "print":
        out.append(("print", s[1], env[s[1]]))
    else:
        raise ValueError(k)


def run(prog):
    """Interprets a program: the list of outputs (("save", file, TV) / ("print", name, int))."""
    env = Env()
    out = []
    exec_block(prog.stmts, env, out, [100000])
    return out


# ------------------------------------------------------------------ renderer
def fmt_float(v):
    r = repr(float(v))
    return r if ("." in r or "e" in r) else r + ".0"


def r_expr(e):
    k, a = e.kind, e.a
    if k in ("var", "ivar"):
        return a[0]
    if k == "int":
        return str(a[0]) if a[0] >= 0 else f"({a[0]})"
    if k == "flt":
        return fmt_float(a[0]) if a[0] >= 0 else f"({fmt_float(a[0])})"
    if k == "tlit":
        def lst(x):
            if isinstance(x, list):
                return "[" + ", ".join(lst(y) for y in x) + "]"
            return fmt_float(x) if a[1] == "f32" else str(int(x))
        return f"tensor({lst(np.asarray(a[0]).tolist())})"
    if k == "bool":
        if a[0] == "not":
            return f"(not {r_expr(a[1])})"
        return f"({r_expr(a[1])} {a[0]} {r_expr(a[2])})"
    if k == "fbin":
        return f"({r_expr(a[1])} {a[0]} {r_expr(a[2])})"
    if k in ("ibin", "icmp"):
        return f"({r_expr(a[1])} {a[0]} {r_expr(a[2])})"
    if k == "un":
        op, x, style = a
        if op == "neg":
            return f"(-{r_expr(x)})"
        if style == "m" and op in ("abs", "exp", "log", "sqrt", "tanh", "sigmoid", "relu"):
            return f"{r_expr(x)}.{op}()"
        return f"{op}({r_expr(x)})"
    if k == "bin":
        op, x, y = a[0], a[1], a[2]
        if op in ("maximum", "minimum"):
            return f"{op}({r_expr(x)}, {r_expr(y)})"
        return f"({r_expr(x)} {op} {r_expr(y)})"
    if k == "where":
        return f"where({r_expr(a[0])}, {r_expr(a[1])}, {r_expr(a[2])})"
    if k == "red":
        op, x, axis, keep, style = a
        args = []
        if axis is not None:
            args.append(f"axis={axis}" if not isinstance(axis, tuple) else f"axis=({', '.join(map(str, axis))})")
        if keep:
            args.append("keepdim=True")
        if op == "argmax":
            args = [f"axis={axis}"] + (["keepdim=True"] if keep else [])
        if style == "m":
            return f"{r_expr(x)}.{op}({', '.join(args)})"
        return f"{op}({', '.join([r_expr(x)] + args)})"
    if k == "sm":
        op, x, axis, style = a
        if style == "m":
            return f"{r_expr(x)}.{op}(axis={axis})"
        return f"{op}({r_expr(x)}, axis={axis})"
    if k == "mm":
        if a[2] == "f":
            return f"matmul({r_expr(a[0])}, {r_expr(a[1])})"
        return f"({r_expr(a[0])} @ {r_expr(a[1])})"
    if k == "cast":
        return f"{r_expr(a[0])}.astype({a[1]})"
    if k == "T":
        return f"{r_expr(a[0])}.T"
    if k == "create":
        form, shape, dt, extra = a
        dims = ", ".join(str(d) for d in shape)
        kw = f", dtype={dt}" if dt and form != "arange" else ""
        if form == "full":
            return f"full([{dims}], {fmt_float(extra) if extra >= 0 else '(' + fmt_float(extra) + ')'}{kw})"
        if form == "arange":
            return f"arange({shape[0]})" + (".astype(f32)" if dt == "f32" else "")
        if extra:
            return f"{form}([{dims}]{kw})"
        return f"{form}({dims}{kw})"
    if k == "reshape":
        return f"{r_expr(a[0])}.reshape({', '.join(str(d) for d in a[1])})"
    if k == "unsq":
        return f"{r_expr(a[0])}.unsqueeze({a[1]})"
    if k in ("concat", "stack"):
        return f"{k}([{', '.join(r_expr(p) for p in a[1:])}], axis={a[0]})"
    if k == "call":
        return f"{a[0].name}({', '.join(r_expr(x) for x in a[1:])})"
    if k == "idx":
        parts = []
        items = a[1]
        if len(a) > 2 and a[2]:
            parts.append("...")
            items = items[-1:]
        for it in items:
            if it[0] == "c":
                parts.append(str(it[1]))
            elif it[0] == "e":
                parts.append(r_expr(it[1]))
            else:
                lo = "" if it[1] is None else str(it[1])
                hi = "" if it[2] is None else str(it[2])
                parts.append(f"{lo}:{hi}" + ("" if it[3] is None else f":{it[3]}"))
        return f"{r_expr(a[0])}[{', '.join(parts)}]"
    raise ValueError(k)


def render(prog, tag=""):
    """The program's text. With a tag (difffuzz's batches), its functions, input and output files
    and printed names are prefixed with it, and `main` is `{tag}main`, so several programs share
    one file."""
    if tag:
        prog = copy.deepcopy(prog)  # calls hold their function: renaming it renames them
        for fn in prog.funcs:
            fn.name = tag + fn.name
    lines = [f"# difffuzz program (seed {prog.seed})"]
    used = {n for s in walk_s(prog.stmts) for part in s[1:] if isinstance(part, E)
            for n in (x.a[0].name for x in walk_e(part) if x.kind == "call")}
    for fn in prog.funcs:
        if fn.name not in used:
            continue
        ps = ", ".join(f"{p}: {t}" for p, t in fn.params)
        lines.append(f"def {fn.name}({ps})" + (f" -> {fn.ret}" if fn.ret else "") + ":")
        lines.append(f"    return {r_expr(fn.body)}")
        lines.append("")
    lines.append(f"def {tag}main():")

    def block(stmts, ind):
        if not stmts:
            lines.append(ind + "pass")
        for s in stmts:
            k = s[0]
            if k == "input":
                name, dt, data = s[1], s[2], s[3]
                shape = ", ".join(str(d) for d in data.shape)
                if dt == "bf16":
                    lines.append(f'{ind}{name}_f32: Tensor[{shape}] = load("{tag}{name}.npy")')
                    lines.append(f"{ind}{name} = {name}_f32.astype(bf16)")
                else:
                    lines.append(f'{ind}{name}: Tensor[{shape}, {dt}] = load("{tag}{name}.npy")')
            elif k in ("assign", "iassign"):
                e = s[2]
                if len(s) > 3 and s[3] == "aug" and e.kind in ("bin", "ibin") and e.a[1].kind in ("var", "ivar") \
                        and e.a[1].a[0] == s[1] and e.a[0] in ("+", "-", "*", "%", "//", "**"):
                    lines.append(f"{ind}{s[1]} {e.a[0]}= {r_expr(e.a[2])}")
                else:
                    lines.append(f"{ind}{s[1]} = {r_expr(e)}")
            elif k in ("break", "continue"):
                lines.append(f"{ind}{k}")
            elif k == "for":
                var, start, stop, step, body = s[1:]
                rng = f"{r_expr(start)}, {r_expr(stop)}" + (f", {step}" if step != 1 else "")
                if step == 1 and start.kind == "int" and start.a[0] == 0:
                    rng = r_expr(stop)
                lines.append(f"{ind}for {var} in range({rng}):")
                block(body, ind + "    ")
            elif k == "while":
                counter, limit, body = s[1:]
                lines.append(f"{ind}{counter} = 0")
                lines.append(f"{ind}while {counter} < {r_expr(limit)}:")
                block(body, ind + "    ")
                lines.append(f"{ind}    {counter} = {counter} + 1")
            elif k == "if":
                lines.append(f"{ind}if {r_expr(s[1])}:")
                block(s[2], ind + "    ")
                lines.append(f"{ind}else:")
                block(s[3], ind + "    ")
            elif k == "save":
                lines.append(f'{ind}save({s[1]}, "{tag}{s[2]}")')
            elif k == "print":
                lines.append(f'{ind}print("{tag}{s[1]}", {s[1]})')

    block(prog.stmts, "    ")
    return "\n".join(lines) + "\n"


def write_inputs(prog, d, tag=""):
    import os
    def walk(stmts):
        for s in stmts:
            if s[0] == "input":
                data = s[3]
                if s[2] == "bf16":
                    arr = ref.round_bf16(data.astype(np.float32))
                else:
                    arr = ref.to_dtype(data, s[2])
                np.save(os.path.join(d, f"{tag}{s[1]}.npy"), arr)
            for sub in s[1:]:
                if isinstance(sub, list):
                    walk(sub)
    walk(prog.stmts)


# ------------------------------------------------------------------ generator
class Func:
    """A user function: params [(name, type text)], body an expression, ret the return type
    text or None (inferred)."""
    def __init__(self, name, params, body, ret):
        self.name, self.params, self.body, self.ret = name, params, body, ret


class Program:
    def __init__(self, seed, stmts, features, funcs=()):
        self.seed = seed
        self.stmts = stmts
        self.features = set(features)
        self.funcs = list(funcs)


class Gen:
    def __init__(self, seed, disabled=None):
        self.seed = seed
        self.rng = random.Random(seed)
        self.disabled = set(KNOWN_BROKEN) if disabled is None else set(disabled)
        self.stmts = []          # top-level statements so far
        self.env = Env()         # values after the statements so far
        self.tvars = {}          # tensor variable -> (dt, shape)
        self.ivars = []          # Int variables
        self.features = set()
        self.n_in = 0
        self.n_var = 0
        self.n_int = 0
        self.n_loop = 0
        self.funcs = []
        self.pending_inputs = []  # input statements created while generating an expression
        self.ctx_ivars = []      # loop variables usable in the current block (read only)
        self.frozen = set()      # Int variables that the current block must not assign
        self.cf_modified = {}    # Int variable -> loop_int_index/branch_int_index: assigned in a body
        self.cf_stack = []       # the bodies being generated (their index feature)
        self.for_vars = set()    # for-loop variables

    def ok(self, feat):
        return feat not in self.disabled

    def use(self, *feats):
        for f in feats:
            assert f in FEATURES, f
            self.features.add(f)

    # ---- leaves
    def new_input(self, shape, dt=None, want=None):
        r = self.rng
        if dt is None:
            choices = [d for d in DTYPES if want != "float" or is_float(d)]
            dt = r.choice(choices)
        name = f"x{self.n_in}"
        self.n_in += 1
        if is_float(dt):
            data = np.asarray(self.np_rng().standard_normal(shape) * r.choice([1.0, 1.0, 2.0]), dtype=np.float64)
        else:
            data = np.asarray(self.np_rng().integers(-6, 7, size=shape), dtype=np.int64)
        s = ("input", name, dt, data)
        exec_stmt(s, self.env, [], [10])
        self.pending_inputs.append(s)
        self.tvars[name] = (dt, tuple(shape))
        return E("var", [name], tty(dt, shape))

    def np_rng(self):
        return np.random.default_rng(self.rng.randrange(1 << 30))

    def leaf(self, shape, want):
        r = self.rng
        shape = tuple(shape)
        cands = [n for n, (dt, sh) in self.tvars.items() if sh == shape and self.want_ok(dt, want)]
        if cands and r.random() < 0.6:
            n = r.choice(cands)
            return E("var", [n], tty(*self.tvars[n]))
        if len(shape) == 0:
            # A rank-0 tensor: a full reduction of a new input.
            x = self.new_input((r.choice([2, 3]),), dt=r.choice(["f32", "f64"]))
            self.use("reduce", "rank0")
            return E("red", [r.choice(["sum", "max", "mean"]), x, None, False, r.choice("mf")], tty(x.ty[1], ()))
        if self.ok("creation") and r.random() < 0.1 and want in ("any", "num", "float"):
            form = r.choice(["zeros", "ones", "full", "arange"] if len(shape) == 1 else ["zeros", "ones", "full"])
            dt = r.choice(["f32", "f64", None])
            self.use("creation")
            if form == "full":
                v = r.choice([0.5, -1.25, 2.0, 3.0])
                return E("create", ["full", list(shape), dt, v], tty(dt or "f32", shape))
            if form == "arange":
                return E("create", ["arange", list(shape), "i64" if want != "float" else "f32", None],
                         tty("i64" if want != "float" else "f32", shape))
            return E("create", [form, list(shape), dt, r.random() < 0.5], tty(dt or "f32", shape))
        if len(shape) <= 2 and self.ok("tensor_literal") and r.random() < 0.15 and want != "bool":
            is_i = want != "float" and r.random() < 0.3
            if is_i:
                data = self.np_rng().integers(-5, 6, size=shape)
            else:
                data = np.round(self.np_rng().standard_normal(shape) * 4) / 4
            self.use("tensor_literal")
            dt = "i64" if is_i else "f32"
            return E("tlit", [data.tolist(), dt], tty(dt, shape))
        if want == "bool":
            return self.gen_compare(shape, 1)
        return self.new_input(shape, want=want)

    @staticmethod
    def want_ok(dt, want):
        if want == "float":
            return is_float(dt)
        if want == "bool":
            return dt == "bool"
        if want == "num":
            return dt != "bool"
        if want == "int":
            return dt in ref.INTS
        return True

    # ---- int expressions
    def index_feature(self, n):
        """The feature an index that reads Int `n` exercises: loop_int_index / branch_int_index
        when n is assigned in a loop or branch body (one that is being generated included; a
        while counter is assigned in its loop), None otherwise (a for variable, a plain Int)."""
        if n in self.for_vars:
            return None
        if self.cf_stack:
            return self.cf_stack[-1]
        return self.cf_modified.get(n)

    def gen_iexpr(self, depth, for_index=False):
        r = self.rng
        names = list(self.ivars) + list(self.ctx_ivars)
        if for_index:
            names = [n for n in names if self.ok(self.index_feature(n) or "index_int_var")]
        if depth <= 0 or r.random() < 0.35:
            if names and r.random() < 0.7:
                n = r.choice(names)
                if for_index and self.index_feature(n):
                    self.use(self.index_feature(n))
                return E("ivar", [n], INT_TY)
            return E("int", [r.randint(-4, 9)], INT_TY)
        op = r.choice(["+", "+", "-", "*", "//", "%"])
        a = self.gen_iexpr(depth - 1, for_index)
        if op in ("//", "%"):
            b = E("int", [r.choice([2, 3, 4, -3, 5])], INT_TY)
        else:
            b = self.gen_iexpr(depth - 1, for_index)
        self.use("int_vars")
        return E("ibin", [op, a, b], INT_TY)

    # ---- tensor expressions of a given shape
    def gen(self, shape, depth, want="any"):
        """An expression of exactly `shape`; want: any / num (not bool) / float / bool / int."""
        shape = tuple(shape)
        if len(shape) > MAX_RANK:
            # Loading, saving and printing handle rank 8 at most (TESS_MAX_RANK; a higher rank
            # is E0900): the caller tries another construct.
            raise Fragile(f"rank {len(shape)} above {MAX_RANK}")
        for _ in range(8):
            saved = (len(self.pending_inputs), set(self.features))
            try:
                e = self.gen_once(shape, depth, want)
                if e is None:
                    continue
                assert e.ty[0] == "T" and tuple(e.ty[2]) == shape, (e.ty, shape, r_expr(e))
                if not self.want_ok(e.ty[1], want):
                    continue
                v = ev(e, self.env)
                assert v.shape == shape and v.dt == e.ty[1], (v.shape, v.dt, e.ty, r_expr(e))
                return e
            except Fragile:
                # Keep the inputs (they are harmless); forget the features of the failed try.
                self.features = saved[1]
                continue
        return self.leaf(shape, want if want != "bool" else "bool")

    def bshape(self, shape):
        """A shape that broadcasts to `shape` (some dims 1, maybe fewer leading dims)."""
        r = self.rng
        s = list(shape)
        if s and r.random() < 0.3:
            s = s[r.randint(1, len(s)):] if r.random() < 0.5 else s
        return tuple(1 if (d != 1 and r.random() < 0.25) else d for d in s)

    def gen_compare(self, shape, depth):
        r = self.rng
        a = self.gen(shape, depth - 1, "num")
        b = None
        if r.random() < 0.3:
            b = self.scalar_for(a.ty[1])
        if b is None:
            b = self.gen(self.bshape(shape), depth - 1, "num")
        if not self.ok("compare"):
            return None
        if b.ty[0] == "T" and b.ty[1] != a.ty[1]:
            if not self.ok("compare_mixed"):
                b = E("int", [0], INT_TY)   # compare with a weak 0 instead
                self.use("weak_int")
            else:
                self.use("compare_mixed")
        self.use("compare")
        op = r.choice(["<", "<=", ">", ">=", "==", "!="])
        return E("bin", [op, a, b], tty("bool", shape))

    def scalar_for(self, dt):
        """A weak scalar operand next to a tensor of dtype dt, or None."""
        r = self.rng
        opts = []
        if self.ok("weak_int"):
            opts.append("int")
        if is_float(dt) and self.ok("weak_float"):
            opts.append("flt")
        if dt in ref.INTS and self.ok("weak_float_int_tensor"):
            opts.append("flt")
        if (self.ivars or self.ctx_ivars) and self.ok("intvar_operand"):
            opts.append("ivar")
        if not opts or dt == "bool":
            return None
        c = r.choice(opts)
        if c == "int":
            self.use("weak_int")
            return E("int", [r.choice([1, 2, 3, -1, -2, 0])], INT_TY)
        if c == "flt":
            self.use("weak_float" if is_float(dt) else "weak_float_int_tensor")
            if r.random() < 0.25 and self.ok("float_scalar_arith"):
                # Python float arithmetic on literals (exact in binary): a weak Float.
                op = r.choice(["+", "-", "*", "%", "//"])
                if op == "%" and not self.ok("float_scalar_mod"):
                    op = "//"
                a = E("flt", [r.choice([-7.5, 7.5, -2.25, 1.5, 3.0])], ("F",))
                b = E("flt", [r.choice([2.0, -2.0, 0.5, 1.25])], ("F",))
                self.use("float_scalar_arith")
                if op == "%":
                    self.use("float_scalar_mod")
                return E("fbin", [op, a, b], ("F",))
            return E("flt", [r.choice([0.5, 1.5, 2.0, -0.25, 3.0, -1.5])], ("F",))
        self.use("intvar_operand")
        return self.gen_iexpr(1)

    def binary_type(self, a, b):
        if b.ty[0] == "T":
            return promote(a.ty[1], b.ty[1])
        if b.ty[0] == "F":
            return a.ty[1] if is_float(a.ty[1]) else "f32"
        return a.ty[1] if a.ty[1] != "bool" else "i64"

    def mix_feature(self, da, db):
        if da == db:
            return None
        if "bool" in (da, db):
            return "mix_bool"
        fa, fb = is_float(da), is_float(db)
        if fa and fb:
            return "mix_float_float"
        if fa or fb:
            return "mix_int_float"
        return "mix_int_int"

    def gen_once(self, shape, depth, want):
        r = self.rng
        rank = len(shape)
        if depth <= 0:
            return self.leaf(shape, want)
        if want == "bool":
            if self.ok("where") and r.random() < 0.1:
                pass
            return self.gen_compare(shape, depth)
        prods = ["leaf", "unary", "bin", "bin", "bin", "where", "reduce", "cast", "index", "slice"]
        if rank >= 1:
            prods += ["softmax", "matmul"]
        if rank == 2:
            prods += ["T"]
        if rank >= 1:
            prods += ["reshape", "concat", "stack", "unsqueeze"]
        if want == "int":
            prods = ["leaf", "bin", "index", "reduce_int", "cast"]
        p = r.choice(prods)
        if p == "leaf":
            return self.leaf(shape, want)
        if p == "unary":
            op = r.choice(["neg", "abs", "relu", "exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos", "silu"])
            x = self.gen(shape, depth - 1, "float" if op in ("silu",) or want == "float" else "num")
            if op in ("log", "sqrt"):
                # log/sqrt of abs(x) + 0.5: defined everywhere.
                x = E("bin", ["+", E("un", ["abs", x, "f"], x.ty), E("flt", [0.5], ("F",))],
                      tty(x.ty[1] if is_float(x.ty[1]) else "f32", shape))
                if not is_float(x.a[1].ty[1]):
                    if not self.ok("weak_float_int_tensor"):
                        return None
                    self.use("weak_float_int_tensor")
            if op == "exp":
                x = E("un", ["tanh", x, "f"], tty(x.ty[1] if is_float(x.ty[1]) else "f32", shape))
            dt = x.ty[1] if (is_float(x.ty[1]) or op in ("neg", "abs", "relu")) else "f32"
            if not is_float(x.ty[1]) and op not in ("neg", "abs", "relu"):
                if not self.ok("unary_int_input"):
                    return None
                self.use("unary_int_input")
            style = r.choice("mf")
            if style == "m" and op in ("exp", "log", "sqrt", "tanh", "sigmoid"):
                if not self.ok("unary_method"):
                    style = "f"
                else:
                    self.use("unary_method")
            self.use("unary")
            return E("un", [op, x, style], tty(dt, shape))
        if p == "bin":
            op = r.choice(["+", "-", "*", "/", "maximum", "minimum", "//", "%", "**", "+", "*"])
            if op in ("//", "%"):
                kind = "int" if r.random() < 0.7 else "float"
                feat = "int_floordiv" if kind == "int" else "float_mod"
                if not self.ok(feat):
                    return None
                a = self.gen(shape, depth - 1, kind)
                if r.random() < 0.4:
                    b = E("int", [r.choice([2, 3, -2, 5])], INT_TY) if kind == "int" else \
                        E("flt", [r.choice([0.75, 2.0, -1.5])], ("F",))
                else:
                    b = self.gen(self.bshape(shape), depth - 1, kind)
                self.use(feat)
            elif op == "**":
                a = self.gen(shape, depth - 1, "num")
                if is_float(a.ty[1]):
                    if not self.ok("pow_float"):
                        return None
                    ex = r.choice([2, 3, 0.5])
                    if ex == 0.5:
                        a = E("un", ["abs", a, "f"], a.ty)
                    b = E("int", [ex], INT_TY) if isinstance(ex, int) else E("flt", [ex], ("F",))
                    self.use("pow_float")
                else:
                    if not self.ok("pow_int"):
                        return None
                    b = E("int", [2], INT_TY)
                    self.use("pow_int")
            else:
                a = self.gen(shape, depth - 1, "float" if op == "/" else "num")
                b = None
                if r.random() < 0.3:
                    b = self.scalar_for(a.ty[1])
                if b is None:
                    b = self.gen(self.bshape(shape), depth - 1, "num")
                if op == "/" and b.ty[0] == "T" and b.ty[1] in ref.INTS + ("bool",) and not is_float(a.ty[1]):
                    return None
                if op == "/" and b.ty[0] == "I":
                    b = E("flt", [r.choice([2.0, -4.0, 0.5])], ("F",))
                if b.ty[0] == "T" and a.ty[1] == "bool" and b.ty[1] == "bool":
                    return None
                if r.random() < 0.5 and op not in ("/",):
                    a, b = b, a
                    if a.ty[0] != "T":
                        a, b = b, a
                self.use("maxmin" if op in ("maximum", "minimum") else "arith")
            if b.ty[0] == "T":
                mf = self.mix_feature(a.ty[1], b.ty[1])
                if mf:
                    if not self.ok(mf):
                        return None
                    self.use(mf)
            dt = self.binary_type(a, b)
            if op == "/" and not is_float(dt):
                return None
            if b.ty[0] == "F" and not is_float(a.ty[1]):
                if not self.ok("weak_float_int_tensor"):
                    return None
                self.use("weak_float_int_tensor")
            if b.ty[0] == "I" and a.ty[1] == "bool":
                return None
            return E("bin", [op, a, b], tty(dt, shape))
        if p == "where":
            if not self.ok("where"):
                return None
            c = self.gen_compare(self.bshape(shape), depth - 1)
            if c is None:
                return None
            use_scalar = r.random() < 0.3 and self.ok("where_scalar")
            a = self.gen(shape if use_scalar else self.bshape(shape), depth - 1, "num")
            if use_scalar:
                b = self.scalar_for(a.ty[1])
                if b is None or b.ty[0] == "I" and b.kind != "int":
                    return None
                self.use("where_scalar")
                dt = self.binary_type(a, b)
            else:
                b = self.gen(shape, depth - 1, "num")
                mf = self.mix_feature(a.ty[1], b.ty[1])
                if mf:
                    if not self.ok(mf):
                        return None
                    self.use(mf)
                dt = promote(a.ty[1], b.ty[1])
            if r.random() < 0.5:
                a, b = b, a
            self.use("where")
            return E("where", [c, a, b], tty(dt, shape))
        if p in ("reduce", "reduce_int"):
            ops = ["sum", "mean", "var", "max", "min", "logsumexp", "argmax"]
            op = r.choice(ops)
            keep = r.random() < 0.3
            if op == "argmax":
                if not self.ok("argmax") or (want not in ("any", "int", "num")):
                    return None
                ax = r.randrange(rank + 1)
                src = shape[:ax] + (self.dim(shape, 2),) + shape[ax:]
                if keep:
                    if rank == 0 or shape[ax if ax < rank else rank - 1] != 1:
                        return None
                    src = shape[:ax] + (self.dim(shape, 2),) + shape[ax + 1:]
                    if len(src) != rank:
                        return None
                x = self.gen(src, depth - 1, "num")
                axis = ax - len(src) if r.random() < 0.3 else ax
                self.use("argmax")
                return E("red", ["argmax", x, axis, keep, r.choice("mf")], tty("i64", shape))
            # Which axes of the source are reduced.
            if keep:
                ones = [i for i, d in enumerate(shape) if d == 1]
                if not ones:
                    return None
                axes = r.sample(ones, r.randint(1, len(ones)))
                src = tuple(self.dim(shape, 2) if i in axes else d for i, d in enumerate(shape))
                if len(axes) == rank and r.random() < 0.3:
                    axis = None
                else:
                    axis = axes[0] if len(axes) == 1 else tuple(sorted(axes))
            else:
                nred = r.choice([1, 1, 1, 2]) if rank < 3 else 1
                if rank == 0 and r.random() < 0.5:
                    nred = r.choice([1, 2])
                src = list(shape)
                axes = []
                for _ in range(nred):
                    pos = r.randint(0, len(src))
                    src.insert(pos, self.dim(src, 2))
                    axes = [a + 1 if a >= pos else a for a in axes] + [pos]
                src = tuple(src)
                if rank == 0:
                    axis = None if r.random() < 0.6 else (axes[0] if len(axes) == 1 else tuple(sorted(axes)))
                else:
                    axis = axes[0] if len(axes) == 1 else tuple(sorted(axes))
                if isinstance(axis, int) and r.random() < 0.3:
                    axis = axis - len(src)
            int_src = want == "int" or (r.random() < 0.25)
            if int_src:
                if op in ("max", "min"):
                    feat = "reduce_int_minmax"
                elif op in ("sum", "mean"):
                    feat = "reduce_int_sum"
                else:
                    return None
                if not self.ok(feat):
                    return None
                x = self.gen(src, depth - 1, "int")
                if op == "mean":
                    return None  # no documented result dtype
                self.use(feat)
                dt = x.ty[1]
            else:
                if want == "int":
                    return None
                x = self.gen(src, depth - 1, "float")
                self.use("reduce")
                dt = x.ty[1]
            if rank == 0:
                self.use("rank0")
            return E("red", [op, x, axis, keep, r.choice("mf")], tty(dt, shape))
        if p == "softmax":
            if not self.ok("softmax") or want == "int":
                return None
            x = self.gen(shape, depth - 1, "float")
            ax = r.randrange(rank)
            if r.random() < 0.3:
                ax -= rank
            self.use("softmax")
            return E("sm", [r.choice(["softmax", "log_softmax"]), x, ax, r.choice("mf")], x.ty)
        if p == "matmul":
            if not self.ok("matmul") or want == "int":
                return None
            k = self.dim(shape, 1)
            if rank == 1:
                if r.random() < 0.5:
                    sa, sb = (k,), (k, shape[0])
                else:
                    sa, sb = (shape[0], k), (k,)
            else:
                batch, m, n = shape[:-2], shape[-2], shape[-1]
                sa = batch + (m, k)
                sb = (k, n) if (not batch or r.random() < 0.5) else batch + (k, n)
            a = self.gen(sa, depth - 1, "float")
            b = self.gen(sb, depth - 1, "float")
            if a.ty[1] != b.ty[1]:
                if not self.ok("matmul_mixed"):
                    return None
                self.use("matmul_mixed")
            self.use("matmul")
            return E("mm", [a, b, r.choice("of")], tty(promote(a.ty[1], b.ty[1]), shape))
        if p == "cast":
            if not self.ok("astype"):
                return None
            x = self.gen(shape, depth - 1, "any")
            if want == "float":
                dt = r.choice(["f32", "f64", "bf16"])
            elif want == "int":
                dt = r.choice(["i32", "i64"])
            else:
                dt = r.choice(["f32", "f64", "bf16", "i32", "i64", "bool"])
            if dt == x.ty[1]:
                return None
            if is_float(x.ty[1]) and not is_float(dt):
                if not self.ok("astype_float_int"):
                    return None
                self.use("astype_float_int")
            if x.ty[1] == "f64" and dt == "bf16":
                if not self.ok("astype_f64_bf16"):
                    return None
                self.use("astype_f64_bf16")
            self.use("astype")
            return E("cast", [x, dt], tty(dt, shape))
        if p == "reshape":
            if not self.ok("reshape"):
                return None
            n = 1
            for d in shape:
                n *= d
            divs = [d for d in range(2, n) if n % d == 0]
            opts = [(n,), tuple(reversed(shape))]
            if divs:
                d = r.choice(divs)
                opts.append((n // d, d))
                opts.append((d, 1, n // d))
            src = r.choice(opts)
            if src == shape:
                return None
            x = self.gen(src, depth - 1, want)
            dims = list(shape)
            if r.random() < 0.3:
                if not self.ok("reshape_neg1"):
                    return None
                dims[r.randrange(rank)] = -1
                self.use("reshape_neg1")
            self.use("reshape")
            return E("reshape", [x, dims], tty(x.ty[1], shape))
        if p == "unsqueeze":
            ones = [i for i, d in enumerate(shape) if d == 1]
            if not ones or not self.ok("unsqueeze"):
                return None
            pos = r.choice(ones)
            x = self.gen(shape[:pos] + shape[pos + 1:], depth - 1, want)
            self.use("unsqueeze")
            return E("unsq", [x, pos if r.random() < 0.7 else pos - rank], tty(x.ty[1], shape))
        if p in ("concat", "stack"):
            if not self.ok(p):
                return None
            pos = r.randrange(rank)
            if p == "concat":
                if shape[pos] < 2:
                    return None
                cut = r.randint(1, shape[pos] - 1)
                srcs = [shape[:pos] + (cut,) + shape[pos + 1:], shape[:pos] + (shape[pos] - cut,) + shape[pos + 1:]]
            else:
                if shape[pos] > 4:
                    return None
                srcs = [shape[:pos] + shape[pos + 1:]] * shape[pos]
            parts = [self.gen(srcs[0], depth - 1, want)]
            for sh in srcs[1:]:
                q = self.gen(sh, depth - 1, want)
                if q.ty[1] != parts[0].ty[1]:
                    # Parts of one dtype (a cast where they differ).
                    to = parts[0].ty[1]
                    if not self.ok("astype") or (is_float(q.ty[1]) and not is_float(to)):
                        return None
                    if q.ty[1] == "f64" and to == "bf16":
                        if not self.ok("astype_f64_bf16"):
                            return None
                        self.use("astype_f64_bf16")
                    q = E("cast", [q, to], tty(to, sh))
                    self.use("astype")
                parts.append(q)
            self.use(p)
            axis = pos if r.random() < 0.7 else pos - rank
            return E(p, [axis] + parts, tty(parts[0].ty[1], shape))
        if p == "T":
            if not self.ok("transpose"):
                return None
            x = self.gen((shape[1], shape[0]), depth - 1, want)
            self.use("transpose")
            return E("T", [x], tty(x.ty[1], shape))
        if p == "index":
            pos = r.randint(0, rank)
            n = r.choice([2, 3, 4, 5])
            src = shape[:pos] + (n,) + shape[pos:]
            x = self.gen(src, depth - 1, want)
            items = [("s", None, None, None)] * pos
            if (self.ivars or self.ctx_ivars) and self.ok("index_int_var") and r.random() < 0.5:
                ie = self.gen_iexpr(2, for_index=True)
                form = r.random()
                if form < 0.5:
                    ie = E("ibin", ["%", ie, E("int", [n], INT_TY)], INT_TY)
                elif form < 0.8:
                    ie = E("ibin", ["-", E("ibin", ["%", ie, E("int", [n], INT_TY)], INT_TY),
                                    E("int", [n], INT_TY)], INT_TY)
                items.append(("e", ie))
                self.use("index_int_var")
            else:
                if not self.ok("index_const"):
                    return None
                items.append(("c", r.randrange(-n, n)))
                self.use("index_const")
            return E("idx", [x, items, self.ellipsis(pos, len(src))], tty(x.ty[1], shape))
        if p == "slice":
            if rank == 0:
                return None
            pos = r.randrange(rank)
            L = shape[pos]
            if r.random() < 0.15:
                if not self.ok("slice_neg_step"):
                    return None
                m = L + r.choice([0, 0, 1, 2])
                a = r.randint(0, m - L)
                if m == L and r.random() < 0.5:
                    it = ("s", None, None, -1)
                else:
                    # Elements a+L-1 down to a; a stop of -1 would mean the last element.
                    hi = a + L - 1 if r.random() < 0.6 else a + L - 1 - m
                    it = ("s", hi, a - 1 if a > 0 else None, -1)
                self.use("slice_neg_step")
            elif r.random() < 0.3:
                if not self.ok("slice_step"):
                    return None
                start = r.choice([0, 1])
                m = start + 2 * L - 1 - r.choice([0, 1]) * (1 if L > 0 else 0)
                m = max(m, start + 2 * (L - 1) + 1)
                it = ("s", start if start else None, None, 2)
                self.use("slice_step")
            else:
                if not self.ok("slice"):
                    return None
                m = L + r.choice([0, 1, 2, 3])
                a = r.randint(0, m - L)
                b = a + L
                lo = a if r.random() < 0.5 else a - m
                hi = b if r.random() < 0.5 or b == m else b - m
                if lo == 0 and r.random() < 0.5:
                    lo = None
                if b == m and r.random() < 0.5:
                    hi = None
                it = ("s", lo, hi, None)
                self.use("slice")
            src = shape[:pos] + (m,) + shape[pos + 1:]
            x = self.gen(src, depth - 1, want)
            items = [("s", None, None, None)] * pos + [it]
            return E("idx", [x, items, self.ellipsis(pos, len(src))], tty(x.ty[1], shape))
        return None

    def ellipsis(self, pos, src_rank):
        """Whether an index on the last axis is written x[..., i] (instead of x[:, :, i])."""
        if pos >= 1 and pos == src_rank - 1 and self.ok("index_ellipsis") and self.rng.random() < 0.5:
            self.use("index_ellipsis")
            return True
        return False

    # ---- statements
    def dim(self, others, lo):
        """A dimension >= lo: mostly small, sometimes past a vector width or a block size
        (7 8 9 16 17 31 33 64 100 257), keeping the tensor under MAX_ELEMS elements."""
        r = self.rng
        n = 1
        for d in others:
            n *= d
        if self.ok("large_dims") and r.random() < 0.12:
            big = [d for d in (7, 8, 9, 16, 17, 31, 33, 64, 100, 257) if n * d <= MAX_ELEMS]
            if big:
                self.use("large_dims")
                return r.choice(big)
        return r.choice([d for d in SHAPE_DIMS if d >= lo])

    def random_shape(self):
        r = self.rng
        existing = [sh for (dt, sh) in self.tvars.values()]
        if existing and r.random() < 0.5:
            return r.choice(existing)
        rank = r.choice([0, 1, 1, 2, 2, 2, 3])
        out = []
        for _ in range(rank):
            out.append(self.dim(out, 1))
        return tuple(out)

    def flush_inputs(self):
        out = self.pending_inputs
        self.pending_inputs = []
        return out

    def new_var(self):
        n = f"v{self.n_var}"
        self.n_var += 1
        return n

    def gen_update(self, name):
        """`name = <expr of name's exact type>` (for loop bodies and branches)."""
        r = self.rng
        dt, shape = self.tvars[name]
        e = self.gen(self.bshape(shape) if r.random() < 0.3 else shape, 2, "num" if dt != "bool" else "bool")
        if dt == "bool":
            return ("assign", name, e) if e.ty[2] == shape else None
        op = r.choice(["+", "-", "*", "maximum"])
        if op == "*" and is_float(dt):
            e = E("un", ["tanh", e, "f"], tty(e.ty[1] if is_float(e.ty[1]) else "f32", e.ty[2]))
        me = self.mix_feature(dt, e.ty[1])
        if me:
            if not self.ok(me):
                return None
            self.use(me)
        res = E("bin", [op, E("var", [name], tty(dt, shape)), e], tty(promote(dt, e.ty[1]), shape))
        if res.ty[1] != dt:
            if not self.ok("astype") or (is_float(res.ty[1]) and not is_float(dt) and not self.ok("astype_float_int")):
                return None
            if res.ty[1] == "f64" and dt == "bf16":
                if not self.ok("astype_f64_bf16"):
                    return None
                self.use("astype_f64_bf16")
            self.use("astype")
            if is_float(res.ty[1]) and not is_float(dt):
                self.use("astype_float_int")
            res = E("cast", [res, dt], tty(dt, shape))
        self.use("loop_tensor_update")
        aug = res.kind == "bin" and self.ok("augassign") and r.random() < 0.4
        if aug:
            self.use("augassign")
        return ("assign", name, res, "aug" if aug else "")

    def gen_body(self, n, loop=None):
        """Statements of a loop or branch body: updates of existing variables only. In a loop
        body (loop = "for" / "while"), sometimes an `if ...: break` (or continue, in a for)."""
        r = self.rng
        body = self.gen_updates(n)
        if loop and body and self.ok("break_continue") and r.random() < 0.3:
            kind = "break" if loop == "while" or r.random() < 0.5 else "continue"
            cond = E("icmp", [r.choice(["<", ">", "==", "!="]), self.gen_iexpr(1), E("int", [r.randint(-1, 4)], INT_TY)],
                     INT_TY)
            body.insert(r.randint(0, len(body)), ("if", cond, [(kind,)], []))
            self.use("break_continue")
        return body

    def gen_updates(self, n):
        r = self.rng
        body = []
        for _ in range(n):
            writable_i = [v for v in self.ivars if v not in self.frozen]
            if writable_i and r.random() < 0.45:
                v = r.choice(writable_i)
                e = E("ibin", [r.choice(["+", "-", "*", "%"]), E("ivar", [v], INT_TY), self.gen_iexpr(1)], INT_TY)
                if e.a[0] == "*":
                    e = E("ibin", ["%", e, E("int", [r.choice([7, 11, 13])], INT_TY)], INT_TY)
                if e.a[0] == "%" and e.a[2].kind == "int" and e.a[2].a[0] == 0:
                    continue
                feat = "augassign_floordiv_mod" if e.a[0] in ("%", "//") else "augassign"
                aug = self.ok(feat) and r.random() < 0.4
                if aug:
                    self.use(feat)
                body.append(("iassign", v, e, "aug" if aug else ""))
            elif self.tvars:
                name = r.choice(list(self.tvars))
                if name.startswith("x"):
                    continue
                s = self.gen_update(name)
                if s is not None:
                    body.append(s)
        return body

    def try_stmt(self, make):
        """Generates a statement with make(); evaluates it from the current environment; keeps it
        when it is not fragile. Inputs created meanwhile go before it (also after a failure: a
        later expression may read them)."""
        for _ in range(6):
            feats = set(self.features)
            tv = dict(self.tvars)
            try:
                stmts = make()
            except Fragile:
                stmts = None
            pre = self.flush_inputs()
            if stmts:
                env = Env(self.env)
                try:
                    exec_block(stmts, env, [], [5000])
                    self.env = env
                    for st in stmts:
                        if st[0] == "iassign":
                            # An Int computed from one assigned in a loop or branch inherits
                            # its stale value (`j = k - 1` after the loop): same feature.
                            src = [self.cf_modified[x.a[0]] for x in walk_e(st[2])
                                   if x.kind == "ivar" and x.a[0] in self.cf_modified]
                            if src and self.cf_modified.get(st[1]) != "loop_int_index":
                                self.cf_modified[st[1]] = "loop_int_index" if "loop_int_index" in src else src[0]
                        if st[0] in ("for", "while", "if"):
                            feat = "branch_int_index" if st[0] == "if" else "loop_int_index"
                            for x in walk_s([st]):
                                if x[0] == "iassign" and self.cf_modified.get(x[1]) != "loop_int_index":
                                    self.cf_modified[x[1]] = feat
                            if st[0] == "while":
                                self.cf_modified[st[1]] = "loop_int_index"
                    self.stmts += pre + stmts
                    return True
                except Fragile:
                    pass
            self.stmts += pre
            self.features = feats
            for n in list(self.tvars):
                if n not in tv and not n.startswith("x"):
                    del self.tvars[n]
        return False

    def type_text(self, ty):
        if ty[0] == "I":
            return "Int"
        dims = ", ".join(str(d) for d in ty[2])
        return f"Tensor[{dims}, {ty[1]}]" if dims else None

    def as_function(self, e):
        """Moves expression e into a new user function; returns the call, or None."""
        free, params = [], []
        for x in walk_e(e):
            if x.kind in ("var", "ivar") and x.a[0] not in free:
                free.append(x.a[0])
                t = self.type_text(x.ty)
                if t is None:
                    return None
                params.append((x.a[0], t))
        ret = self.type_text(e.ty) if self.rng.random() < 0.6 else None
        fn = Func(f"f{len(self.funcs)}", params, e, ret)
        self.funcs.append(fn)
        args = [E("ivar" if t == "Int" else "var", [n], INT_TY if t == "Int" else None) for n, t in params]
        for arg, x in zip(args, params):
            if arg.kind == "var":
                arg.ty = tty(*self.tvars[x[0]])
        self.use("function_call")
        return E("call", [fn] + args, e.ty)

    def stmt_assign(self):
        shape = self.random_shape()
        e = self.gen(shape, self.rng.choice([2, 3, 3, 4]), "any")
        if len(shape) and self.ok("function_call") and self.rng.random() < 0.25:
            e = self.as_function(e) or e
        name = self.new_var()
        self.tvars[name] = (e.ty[1], e.ty[2])
        return [("assign", name, e)]

    def stmt_int(self):
        r = self.rng
        if self.ivars and r.random() < 0.5:
            name = r.choice(self.ivars)
        else:
            name = f"k{self.n_int}"
            self.n_int += 1
        e = self.gen_iexpr(2)
        if name not in self.ivars:
            self.ivars.append(name)
        self.use("int_vars")
        return [("iassign", name, e)]

    def stmt_for(self):
        r = self.rng
        if not self.ok("for_loop"):
            return None
        var = f"i{self.n_loop}"
        self.n_loop += 1
        step = 1
        if r.random() < 0.2:
            if not self.ok("for_neg_step"):
                return None
            step = -r.choice([1, 2])
            start, stop = E("int", [r.randint(2, 4)], INT_TY), E("int", [r.randint(-2, 0)], INT_TY)
            self.use("for_neg_step")
        elif self.ivars and r.random() < 0.4 and self.ok("for_runtime_bound"):
            start = E("int", [0], INT_TY)
            stop = E("ibin", ["+", E("ibin", ["%", self.gen_iexpr(1), E("int", [3], INT_TY)], INT_TY),
                                  E("int", [1], INT_TY)], INT_TY)
            self.use("for_runtime_bound")
        else:
            a = r.randint(0, 2)
            start, stop = E("int", [a], INT_TY), E("int", [a + r.randint(1, 4)], INT_TY)
            if r.random() < 0.3:
                step = 2
        self.use("for_loop")
        self.env[var] = ev(start, self.env)
        self.ctx_ivars.append(var)
        self.for_vars.add(var)
        self.cf_stack.append("loop_int_index")
        try:
            body = self.gen_body(r.randint(1, 3), "for")
        finally:
            self.cf_stack.pop()
            self.ctx_ivars.pop()
        if not body:
            return None
        return self.with_index_use([("for", var, start, stop, step, body)])

    def stmt_while(self):
        r = self.rng
        if not self.ok("while_loop"):
            return None
        counter = f"w{self.n_loop}"
        self.n_loop += 1
        limit = E("int", [r.randint(1, 4)], INT_TY)
        if self.ivars and r.random() < 0.4:
            limit = E("ibin", ["+", E("ibin", ["%", E("ivar", [r.choice(self.ivars)], INT_TY), E("int", [3], INT_TY)], INT_TY),
                               E("int", [1], INT_TY)], INT_TY)
        frozen = set(self.frozen)
        self.frozen |= {x.a[0] for x in walk_e(limit) if x.kind == "ivar"}
        self.ctx_ivars.append(counter)
        self.env[counter] = 0
        self.cf_stack.append("loop_int_index")
        try:
            body = self.gen_body(r.randint(1, 3), "while")
        finally:
            self.cf_stack.pop()
            self.ctx_ivars.pop()
        self.frozen = frozen
        if not body:
            return None
        self.use("while_loop")
        return self.with_index_use([("while", counter, limit, body)])

    def stmt_if(self):
        r = self.rng
        if self.tvars and r.random() < 0.3 and self.ok("if_tensor"):
            cands = [n for n, (dt, sh) in self.tvars.items() if is_float(dt)]
            if not cands:
                return None
            n = r.choice(cands)
            red = E("red", ["sum", E("var", [n], tty(*self.tvars[n])), None, False, "m"], tty(self.tvars[n][0], ()))
            cond = E("icmp", [r.choice(["<", ">"]), red, E("flt", [r.choice([0.0, 1.0, -1.0])], ("F",))], INT_TY)
            self.use("if_tensor", "reduce")
        else:
            if not self.ok("if_int"):
                return None
            def cmp():
                return E("icmp", [r.choice(["<", ">", "==", "!=", ">=", "<="]), self.gen_iexpr(1),
                                  E("int", [r.randint(-2, 5)], INT_TY)], INT_TY)
            cond = cmp()
            if self.ok("bool_ops") and r.random() < 0.3:
                op = r.choice(["and", "or", "not"])
                cond = E("bool", ["not", cond], INT_TY) if op == "not" else E("bool", [op, cond, cmp()], INT_TY)
                self.use("bool_ops")
            self.use("if_int")
        self.cf_stack.append("branch_int_index")
        try:
            then = self.gen_body(r.randint(1, 2))
            orelse = self.gen_body(r.randint(0, 2))
        finally:
            self.cf_stack.pop()
        if not then:
            return None
        return self.with_index_use([("if", cond, then, orelse)])

    def with_index_use(self, stmts):
        """After a loop or branch that changes an Int, sometimes use it as an index."""
        r = self.rng
        changed = {s[1] for st in stmts for s in walk_s([st]) if s[0] == "iassign"}
        feat = "branch_int_index" if stmts[0][0] == "if" else "loop_int_index"
        if not changed or not self.ok(feat) or not self.ok("index_int_var") or r.random() < 0.4:
            return stmts
        v = r.choice(sorted(changed))
        n = r.choice([3, 4, 5])
        x = self.new_input((n, r.choice([2, 3])), want="num")
        ie = E("ibin", ["%", E("ivar", [v], INT_TY), E("int", [n], INT_TY)], INT_TY)
        name = self.new_var()
        self.tvars[name] = (x.ty[1], (x.ty[2][1],))
        self.use(feat, "index_int_var")
        return stmts + [("assign", name, E("idx", [x, [("e", ie)]], tty(x.ty[1], (x.ty[2][1],))))]

    def program(self):
        r = self.rng
        for i in range(r.randint(0, 2)):
            name = f"k{self.n_int}"
            self.n_int += 1
            self.stmts.append(("iassign", name, E("int", [r.randint(-3, 7)], INT_TY)))
            self.ivars.append(name)
            exec_stmt(self.stmts[-1], self.env, [], [10])
        for _ in range(r.randint(3, 7)):
            kind = r.choice(["assign", "assign", "assign", "int", "for", "while", "if"])
            make = {"assign": self.stmt_assign, "int": self.stmt_int, "for": self.stmt_for,
                    "while": self.stmt_while, "if": self.stmt_if}[kind]
            self.try_stmt(make)
        if self.n_var == 0:
            self.try_stmt(self.stmt_assign)
        # Outputs: every tensor variable (not the inputs) and every Int.
        outs = [n for n in self.tvars if n.startswith("v") and n in self.env]
        for i, n in enumerate(outs):
            self.stmts.append(("save", n, f"{n}.npy"))
        for n in self.ivars:
            self.stmts.append(("print", n))
        return Program(self.seed, self.stmts, self.features, self.funcs)


def walk_s(stmts):
    for s in stmts:
        yield s
        for sub in s[1:]:
            if isinstance(sub, list) and sub and isinstance(sub[0], tuple):
                yield from walk_s(sub)


def walk_e(e):
    yield e
    for k in e.a:
        if isinstance(k, E):
            yield from walk_e(k)
        elif isinstance(k, list):
            for it in k:
                if isinstance(it, tuple):
                    for x in it:
                        if isinstance(x, E):
                            yield from walk_e(x)


def generate(seed, disabled=None):
    return Gen(seed, disabled).program()

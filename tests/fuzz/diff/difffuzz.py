#!/usr/bin/python3
"""Differential fuzzer: random well-typed Tessera programs, run by `tesserac run` and by a NumPy
reference interpreter of the same AST, compared output by output.

    difffuzz.py TESSERAC --seed S --count N [--jobs J] [--keep-failures DIR]

Program i of a run is generated from the seed S * 1000003 + i, so a run (and each program of
it) is reproducible: `--seed S --only I` regenerates program I, `--show` prints it.

Outcomes: ok; mismatch (a value, dtype or shape differs from the reference); internal (exit 101
or "internal error"); crash (killed by a signal); timeout; diagnostic (the checker rejected a
program the generator considers well-typed: a generator bug or a checker bug, decide by the
docs); runtime (a run-time error, exit 3, in a program that has none). A failing program is
minimized (statements dropped, loops and branches unwrapped, expressions replaced by an operand
of the same type, while the same outcome persists) unless --no-minimize.

Features in gen.KNOWN_BROKEN are not generated (the summary lists them); --enable F1,F2 (or
--enable all) generates them anyway, to check whether a fix has landed.
"""
import argparse
import concurrent.futures
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import gen  # noqa: E402
import ref  # noqa: E402

OUTCOMES = ["ok", "mismatch", "internal", "crash", "timeout", "diagnostic", "runtime", "generator"]


def program_seed(seed, i):
    return seed * 1000003 + i


def clean(d):
    for f in os.listdir(d):
        p = os.path.join(d, f)
        if f != ".cache" and os.path.isfile(p):
            os.unlink(p)


def invoke(tesserac, d, timeout):
    """Runs prog.tsr in d; returns (outcome, detail, stdout): outcome None when it exited 0."""
    env = dict(os.environ, TESSERA_CACHE_DIR=os.path.join(d, ".cache"), NO_COLOR="1", TERM="dumb")
    try:
        p = subprocess.run([tesserac, "run", "prog.tsr"], cwd=d, capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return "timeout", f"no answer in {timeout} s", ""
    text = (p.stderr + p.stdout)
    if p.returncode < 0:
        return "crash", f"signal {-p.returncode}: {first_line(text)}", p.stdout
    if p.returncode == 101 or re.search(r"internal (compiler )?error", text):
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        i = next((k for k, l in enumerate(lines) if "internal" in l), 0)
        return "internal", " / ".join(lines[i:i + 2])[:300], p.stdout
    if p.returncode != 0:
        m = re.search(r"error\[(E\d+)\]: (.*)", text)
        if m:
            return "diagnostic", f"{m.group(1)}: {m.group(2)}", p.stdout
        if "runtime error" in text:
            return "runtime", first_line(text, "runtime error"), p.stdout
        return "crash" if p.returncode > 128 else "internal", f"exit {p.returncode}: {first_line(text)}", p.stdout
    return None, "", p.stdout


def compare(prog, stdout, d, tag=""):
    """Compares what a run printed and saved (names prefixed with tag) with the reference."""
    try:
        expected = gen.run(prog)
    except ref.Fragile as e:  # cannot happen for a generated program; may after minimization
        return "invalid", str(e)
    printed = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            printed[parts[0]] = parts[1]
    for kind, name, val in expected:
        if kind == "print":
            got = printed.get(tag + name)
            if got != str(val):
                return "mismatch", f"print {name}: got {got}, expected {val}"
        else:
            path = os.path.join(d, tag + name)
            if not os.path.exists(path):
                return "mismatch", f"{name} was not written"
            try:
                a = np.load(path)
            except Exception as e:  # noqa: BLE001
                return "mismatch", f"{name} unreadable: {e}"
            msg = ref.compare(val.dt, a, val, val.err)
            if msg:
                return "mismatch", f"{name[:-4]} ({val.dt}{list(val.shape)}): {msg}"
    return "ok", ""


def run_tesserac(tesserac, prog, d, timeout):
    """Writes the program and its inputs into d, runs it; returns (outcome, detail)."""
    clean(d)
    with open(os.path.join(d, "prog.tsr"), "w") as f:
        f.write(gen.render(prog))
    gen.write_inputs(prog, d)
    outcome, detail, stdout = invoke(tesserac, d, timeout)
    if outcome:
        return outcome, detail
    return compare(prog, stdout, d)


def run_batch(tesserac, progs, d, timeout):
    """Runs several programs as one file (program j's names prefixed `p{j}_`, its body in
    `p{j}_main`, called in turn by `main`): one compiler start and one compilation for all.
    Returns one (outcome, detail) per program, or None when the file as a whole failed (each
    program then runs alone to say which)."""
    clean(d)
    parts = [gen.render(p, tag=f"p{j}_") for j, p in enumerate(progs)]
    main = "def main():\n" + "".join(f"    p{j}_main()\n" for j in range(len(progs)))
    with open(os.path.join(d, "prog.tsr"), "w") as f:
        f.write("\n".join(parts) + "\n" + main)
    for j, p in enumerate(progs):
        gen.write_inputs(p, d, tag=f"p{j}_")
    outcome, _, stdout = invoke(tesserac, d, timeout * len(progs))
    if outcome:
        return None
    return [compare(p, stdout, d, tag=f"p{j}_") for j, p in enumerate(progs)]


def first_line(text, containing=None):
    for line in text.splitlines():
        if line.strip() and (containing is None or containing in line):
            return line.strip()[:300]
    return ""


def same_failure(a, b):
    """Whether outcome b is the failure a persisting (same class; same code for diagnostics)."""
    if a[0] != b[0]:
        return False
    if a[0] == "diagnostic":
        return a[1].split(":")[0] == b[1].split(":")[0]
    if a[0] == "mismatch":
        # A different kind of difference (dtype vs values) is another bug.
        kind = lambda s: "dtype" if ": dtype" in s else "shape" if ": shape" in s else "print" if s.startswith("print") else "value"
        return kind(a[1]) == kind(b[1])
    return True


def loops_ok(stmts, in_loop=False):
    """break/continue only inside a loop body."""
    for s in stmts:
        if s[0] in ("break", "continue") and not in_loop:
            return False
        if s[0] in ("for", "while") and not loops_ok(s[-1], True):
            return False
        if s[0] == "if" and not (loops_ok(s[2], in_loop) and loops_ok(s[3], in_loop)):
            return False
    return True


def valid(prog):
    if not loops_ok(prog.stmts):
        return False
    try:
        out = gen.run(prog)
    except Exception:  # noqa: BLE001 - any failure of the reference: not a valid candidate
        return False
    return bool(out)


def stmt_lists(stmts):
    """Every statement list of the program (the top level and every body)."""
    yield stmts
    for s in stmts:
        for sub in s[1:]:
            if isinstance(sub, list) and (not sub or isinstance(sub[0], tuple)):
                yield from stmt_lists(sub)


def minimize(tesserac, prog, failure, d, timeout, budget=80):
    """Greedy reduction while the failure persists; returns (program, failure, runs)."""
    prog = copy.deepcopy(prog)
    runs = 0

    def still(p):
        nonlocal runs
        if not valid(p) or runs >= budget:
            return None
        runs += 1
        r = run_tesserac(tesserac, p, d, timeout)
        return r if same_failure(failure, r) else None

    changed = True
    while changed and runs < budget:
        changed = False
        # 1. Drop statements (last first: outputs, then what feeds them), unwrap compounds.
        for lst in list(stmt_lists(prog.stmts)):
            i = len(lst) - 1
            while i >= 0 and runs < budget:
                s = lst[i]
                cands = [[]]
                if s[0] in ("for", "while"):
                    cands.append(list(s[-1]))
                if s[0] == "if":
                    cands += [list(s[2]), list(s[3])]
                for repl in cands:
                    lst[i:i + 1] = repl
                    r = still(prog)
                    if r:
                        failure = r
                        changed = True
                        break
                    lst[i:i + len(repl)] = [s]
                i = min(i, len(lst)) - 1
        # 2. Replace an expression by an operand of the same type.
        for s in gen.walk_s(prog.stmts):
            for part in s[1:]:
                if not isinstance(part, gen.E):
                    continue
                for node in list(gen.walk_e(part)):
                    for kid in node.kids():
                        if kid.ty != node.ty or runs >= budget:
                            continue
                        saved = (node.kind, node.a)
                        node.kind, node.a = kid.kind, kid.a
                        r = still(prog)
                        if r:
                            failure = r
                            changed = True
                            break
                        node.kind, node.a = saved
    prog.features = {f for f in prog.features}
    return prog, failure, runs


def batch(args, indices, workroot):
    """Programs `indices` in one file; any that fails there runs alone (and is minimized)."""
    if len(indices) == 1:
        return [one(args, indices[0], workroot)]
    progs = []
    for i in indices:
        try:
            progs.append(gen.generate(program_seed(args.seed, i), disabled=args.disabled))
        except Exception:  # noqa: BLE001 - the generator's failure is reported by one()
            return [one(args, i, workroot) for i in indices]
    d = os.path.join(workroot, f"b{indices[0]}")
    os.makedirs(d, exist_ok=True)
    outs = run_batch(args.tesserac, progs, d, args.timeout)
    shutil.rmtree(d, ignore_errors=True)
    results = []
    for k, (i, prog) in enumerate(zip(indices, progs)):
        if outs is not None and outs[k][0] == "ok":
            results.append({"i": i, "seed": program_seed(args.seed, i), "outcome": "ok", "detail": "",
                            "features": prog.features})
            continue
        res = one(args, i, workroot)
        if res["outcome"] == "ok" and outs is not None:
            # Right alone, wrong next to other programs: a failure all the same.
            res.update(outcome=outs[k][0], detail="only in a batch: " + outs[k][1], program=gen.render(prog))
        results.append(res)
    return results


def one(args, i, workroot):
    seed = program_seed(args.seed, i)
    try:
        prog = gen.generate(seed, disabled=args.disabled)
    except Exception:  # noqa: BLE001 - a generator bug fails this program, not the run
        import traceback
        return {"i": i, "seed": seed, "outcome": "generator", "features": set(),
                "detail": traceback.format_exc().strip().splitlines()[-1], "program": traceback.format_exc()}
    d = os.path.join(workroot, f"p{i}")
    os.makedirs(d, exist_ok=True)
    r = run_tesserac(args.tesserac, prog, d, args.timeout)
    res = {"i": i, "seed": seed, "outcome": r[0], "detail": r[1], "features": prog.features}
    if r[0] != "ok":
        res["program"] = gen.render(prog)
        if not args.no_minimize:
            small, fail2, runs = minimize(args.tesserac, prog, r, d, args.timeout)
            res["minimized"] = gen.render(small)
            res["min_detail"] = fail2[1]
            if args.keep_failures:
                keep(args.keep_failures, i, seed, small, fail2, d, args.tesserac, args.timeout, "min")
        if args.keep_failures:
            keep(args.keep_failures, i, seed, prog, r, d, args.tesserac, args.timeout, "full")
    shutil.rmtree(d, ignore_errors=True)
    return res


def keep(root, i, seed, prog, failure, d, tesserac, timeout, tag):
    out = os.path.join(root, f"{failure[0]}_{seed}_{tag}")
    os.makedirs(out, exist_ok=True)
    run_tesserac(tesserac, prog, d, timeout)  # rewrites the files of this version
    for f in os.listdir(d):
        if f.endswith(".npy") or f == "prog.tsr":
            shutil.copy(os.path.join(d, f), out)
    expected = gen.run(prog)
    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write(f"# {failure[0]}: {failure[1]}\n")
        for kind, name, val in expected:
            if kind == "print":
                f.write(f"{name} = {val}\n")
            else:
                with np.printoptions(precision=8, threshold=200):
                    f.write(f"{name}: {val.dt} {list(val.shape)} (error estimate {val.err:.3g})\n{val.arr}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tesserac")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep-failures", metavar="DIR")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per program (default 60)")
    ap.add_argument("--no-minimize", action="store_true")
    ap.add_argument("--enable", default="", help="comma-separated KNOWN_BROKEN features to generate anyway, or 'all'")
    ap.add_argument("--only", type=int, help="run only program I of the run")
    ap.add_argument("--show", action="store_true", help="print the programs (with --only: that one) and exit")
    ap.add_argument("--progress", type=int, default=0, metavar="N", help="print the counts every N programs")
    ap.add_argument("--batch", type=int, default=1, metavar="B",
                    help="run B programs per file (one compiler start for B; a failing one reruns alone)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failing program in full")
    args = ap.parse_args()
    args.tesserac = os.path.abspath(args.tesserac)
    enable = set(gen.KNOWN_BROKEN) if args.enable == "all" else {e for e in args.enable.split(",") if e}
    unknown = enable - set(gen.FEATURES)
    if unknown:
        ap.error(f"unknown features: {', '.join(sorted(unknown))}")
    args.disabled = set(gen.KNOWN_BROKEN) - enable
    indices = [args.only] if args.only is not None else list(range(args.count))

    if args.show:
        for i in indices:
            print(gen.render(gen.generate(program_seed(args.seed, i), disabled=args.disabled)))
        return 0

    if args.keep_failures:
        os.makedirs(args.keep_failures, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    workroot = tempfile.mkdtemp(prefix="difffuzz-")
    t0 = time.time()
    counts = {o: 0 for o in OUTCOMES}
    feature_use = {f: 0 for f in gen.FEATURES}
    failures = []
    interrupted = False
    ex = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        size = max(1, args.batch)
        futs = [ex.submit(batch, args, indices[k:k + size], workroot) for k in range(0, len(indices), size)]
        try:
            for res in (r for fut in concurrent.futures.as_completed(futs) for r in fut.result()):
                counts[res["outcome"]] = counts.get(res["outcome"], 0) + 1
                done = sum(counts.values())
                if args.progress and done % args.progress == 0:
                    print(f"[{done}/{len(indices)} in {time.time() - t0:.0f} s] "
                          + ", ".join(f"{o} {c}" for o, c in counts.items() if c), flush=True)
                for f in res["features"]:
                    feature_use[f] += 1
                if res["outcome"] != "ok":
                    failures.append(res)
                    print(f"FAIL program {res['i']} (seed {res['seed']}): {res['outcome']}: {res['detail']}",
                          flush=True)
                    if "minimized" in res:
                        print("  minimized (" + res["min_detail"] + "):")
                        print("".join("    " + line + "\n" for line in res["minimized"].splitlines()), end="")
                    if args.verbose:
                        print("".join("    | " + line + "\n" for line in res["program"].splitlines()), end="")
        except KeyboardInterrupt:
            # SIGINT (or SIGTERM, below): stop, and summarize the programs that finished.
            interrupted = True
            for f in futs:
                f.cancel()
            print("\ninterrupted: the summary counts the programs that finished", flush=True)
    finally:
        ex.shutdown(wait=not interrupted, cancel_futures=True)
        shutil.rmtree(workroot, ignore_errors=True)
    n = sum(counts.values())
    print(f"\ndifffuzz: {n} programs from seed {args.seed} in {time.time() - t0:.0f} s"
          + (f" (interrupted: {len(indices)} requested)" if interrupted else ""))
    print("outcomes: " + ", ".join(f"{o} {counts[o]}" for o in counts if counts[o] or o in OUTCOMES))
    print("features used (programs): " + ", ".join(f"{f} {c}" for f, c in sorted(feature_use.items()) if c))
    unused = [f for f, c in feature_use.items() if not c and f not in args.disabled]
    if unused:
        print("features not used by this run: " + ", ".join(sorted(unused)))
    if args.disabled:
        print("disabled (gen.KNOWN_BROKEN; --enable to try them):")
        for f in sorted(args.disabled):
            print(f"  {f}: {gen.KNOWN_BROKEN[f]}")
    failed = n - counts["ok"]
    print(f"{counts['ok']} passed, {failed} failed")
    return 130 if interrupted else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

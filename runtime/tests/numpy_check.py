#!/usr/bin/python3
"""Compares libtessera_rt, through tests/npytool.c, with NumPy (Debian's python3-numpy).

Checks: print output against str() of arrays and scalars, .npy round trips (values, dtypes,
shapes, and byte-identical files), Fortran order and format versions 2.0/3.0, .npz archives
from numpy.savez and numpy.savez_compressed, the errors for files the runtime refuses, and the
Philox streams against an independent Python implementation of the documented mapping.

Usage: /usr/bin/python3 numpy_check.py PATH/TO/tessera_rt_npytool
"""
import io
import math
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

TOOL = sys.argv[1]
failures = []
counts = {}


def fail(what):
    failures.append(what)


def count(kind, n=1):
    counts[kind] = counts.get(kind, 0) + n


def tool(*args, check=True):
    r = subprocess.run([TOOL, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"npytool {' '.join(args)} failed: {r.stderr}")
    return r


# ---------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------

def print_cases():
    rng = np.random.default_rng(1234)
    f = []
    # float64 arrays
    f += [
        [1.5, 2, 3], [1e-5, 1.0], [0.1 + 0.2], np.arange(30.0), np.arange(2000.0).reshape(2, 1000),
        [np.nan, 1.0, -np.inf], [-0.0, 1.5], [1e8], [1e-4], [0.0001, 1000.0], [1.0, 1001.0], [1.0, 999.0],
        [0.0, 0.0], [0.0], np.zeros(3), [1e300, -1e-300], [np.inf], [np.nan, np.nan], [-np.inf, np.inf],
        [123456789.0], [12345678.9], [[1.0]], [1e-10, np.nan], [0.001, 0.5], [-1.25, 3.5e3, 7.0],
        [99999999.0], [0.00011], [1e16, 1], [2.5, -np.inf, np.nan, 1e-7],
    ]
    f += [rng.normal(size=5), rng.normal(size=5) * 1e5, rng.uniform(size=(3, 4)), rng.normal(size=(4, 1000)),
          rng.normal(size=(10, 10, 20)), rng.normal(size=(2, 3, 4, 5)), rng.uniform(-1, 1, size=50),
          rng.normal(size=(7, 7)) * 1e-3, rng.normal(size=12) * 1e9, rng.integers(-5, 5, size=40).astype(float),
          rng.normal(size=(3, 400)), rng.normal(size=(1001,)), rng.normal(size=(5, 2, 101))]
    cases = [np.asarray(a, dtype=np.float64) for a in f]
    # the same as float32, plus float32-specific ones
    with np.errstate(over="ignore"):
        cases += [np.asarray(a, dtype=np.float32) for a in f]
    cases += [np.array([1 / 3], np.float32), np.array([1e-4], np.float32), rng.normal(size=(7, 7)).astype(np.float32),
              np.array([16777217.0, 1.0], np.float32), np.array([3.4028235e38, -1.0], np.float32),
              np.array([1.0000001, 0.99999994], np.float32), np.array([1e-45, 1.0], np.float32)]
    # raw float bit patterns (mostly exponent format)
    for dt, n in ((np.float32, 4), (np.float64, 8)):
        for _ in range(6):
            a = np.frombuffer(rng.bytes(20 * n), dtype=dt).copy()
            a[np.isnan(a)] = 0
            cases.append(a)
    # float16
    cases += [np.array(a, np.float16) for a in ([0.1, 1, 65504], [6e-5, 1.0], [-0.0, np.inf], [1.5, 2, 3],
                                                 [0.0001, 1.0], [1000.0, 1.0], [1001.0, 1.0])]
    cases += [rng.normal(size=(4, 6)).astype(np.float16), (rng.normal(size=30) * 100).astype(np.float16)]
    for _ in range(4):
        a = np.frombuffer(rng.bytes(40), dtype=np.float16).copy()
        a[np.isnan(a)] = 0
        cases.append(a)
    # short arrays with magnitudes around the switch to exponent format (1e-4, 1e8, ratio 1000)
    for dt in (np.float16, np.float32, np.float64):
        for _ in range(80):
            n = int(rng.integers(1, 9))
            mags = 10.0 ** rng.uniform(-6, 9, size=n)
            vals = mags * rng.choice([-1, 1], size=n)
            if rng.uniform() < 0.3:
                vals = np.round(vals, int(rng.integers(0, 4)))
            with np.errstate(over="ignore"):
                cases.append(vals.astype(dt))
        cases += [np.array(v, dt) for v in ([1.0, 1000.0001], [1.0, 1000.0], [0.0001, 0.1], [0.00009999, 1.0],
                                             [1e8, 1.0], [99999996.0, 1.0], [1.0, -1000.01])]
    # integers and bools
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8):
        info = np.iinfo(dt)
        cases += [rng.integers(info.min, info.max, size=12, dtype=dt, endpoint=True),
                  rng.integers(-3 if info.min < 0 else 0, 3, size=(2, 3, 4), dtype=dt),
                  np.array([info.min, 0, info.max], dt), np.arange(40, dtype=dt) % 100]
    cases += [np.arange(1001, dtype=np.int64), rng.integers(0, 1000, size=(30, 40)), np.array([[5]], np.int32),
              np.arange(-50, 50, dtype=np.int64).reshape(10, 10)]
    cases += [np.array([True, False]), rng.integers(0, 2, size=(3, 3)).astype(bool), np.ones(1001, bool),
              np.array([[False]])]
    # empty and rank-0 arrays
    cases += [np.zeros((0,)), np.zeros((2, 0), np.int32), np.zeros((0, 3), bool)]
    cases += [np.array(v, dtype=dt) for v, dt in ((1.5, np.float64), (1e-5, np.float64), (0.1, np.float32),
                                                   (1e-4, np.float32), (-0.0, np.float64), (np.nan, np.float32),
                                                   (-np.inf, np.float64), (7, np.int64), (-3, np.int8),
                                                   (True, bool), (False, bool), (0.1, np.float16), (255, np.uint8),
                                                   (1e16, np.float64), (123456.789, np.float64))]
    return cases


def check_printing(tmp):
    cases = print_cases()
    paths = []
    for i, a in enumerate(cases):
        p = os.path.join(tmp, f"print_{i}.npy")
        np.save(p, a)
        paths.append(p)
    out = tool("print", *paths).stdout.split("<<<END>>>\n")
    for a, got in zip(cases, out):
        want = str(a) + "\n"
        if got != want:
            fail(f"print {a.dtype} shape {a.shape}:\n--- numpy\n{want}--- tessera\n{got}")
    count("arrays printed like numpy", len(cases))


def check_scalars(tmp):
    rng = np.random.default_rng(99)
    sets = []
    sets.append(np.arange(65536, dtype=np.uint16).view(np.float16))  # every f16 value
    f32 = np.frombuffer(rng.bytes(4 * 100000), dtype=np.float32).copy()
    specials32 = [2.0 ** e for e in range(-149, 128)] + [np.nextafter(np.float32(2.0 ** e), np.float32(0))
                                                         for e in range(-148, 128)]
    specials32 += [16777216.0, 16777217.0, 33554432.0, 1e-4, 1e16, 9.999999e15, 0.1, 0.3, 1 / 3, 100.0, 1e-5]
    sets.append(np.concatenate([f32, np.array(specials32, np.float32), -np.array(specials32, np.float32)]))
    f64 = np.frombuffer(rng.bytes(8 * 100000), dtype=np.float64).copy()
    nice = np.array([round(x, int(k)) for x, k in zip(rng.uniform(-1000, 1000, size=20000),
                                                       rng.integers(0, 10, size=20000))])
    specials64 = [2.0 ** e for e in range(-1074, 1024, 7)] + [1e-4, 0.0001, 1e16, 9999999999999998.0, 0.1 + 0.2,
                                                               5e-324, 1.7976931348623157e308, 1e15, 1e-5]
    sets.append(np.concatenate([f64, nice, np.array(specials64)]))
    sets.append(rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=2000, dtype=np.int64))
    for k, values in enumerate(sets):
        p = os.path.join(tmp, f"scalars_{k}.npy")
        np.save(p, values)
        got = tool("print-each", p).stdout.split("\n")[:-1]
        want = [str(v) for v in values]
        bad = [(w, g) for w, g in zip(want, got) if w != g]
        if len(got) != len(want) or bad:
            fail(f"{values.dtype} scalars: {len(bad)} of {len(want)} differ, e.g. {bad[:5]}")
        count(f"{values.dtype} scalars printed like numpy", len(values))


# ---------------------------------------------------------------------------------------
# .npy and .npz files
# ---------------------------------------------------------------------------------------

DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
SHAPES = [(), (5,), (2, 3), (2, 3, 4), (0,), (3, 0, 2), (1,) * 8, (1, 70)]


def random_array(rng, dt, shape):
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    return (rng.normal(size=shape) * 100).astype(dt)


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def check_npy(tmp):
    rng = np.random.default_rng(7)
    src, dst = os.path.join(tmp, "src.npy"), os.path.join(tmp, "dst.npy")
    for dt in DTYPES:
        for shape in SHAPES:
            a = random_array(rng, dt, shape)
            variants = [("v1", lambda f: np.save(f, a))]
            variants += [(f"v{v}", lambda f, v=v: np.lib.format.write_array(f, a, version=(v, 0))) for v in (2, 3)]
            if a.ndim >= 2:
                variants.append(("fortran", lambda f: np.save(f, np.asfortranarray(a))))
            for name, write in variants:
                with open(src, "wb") as f:
                    write(f)
                tool("copy", src, dst)
                back = np.load(dst)
                if not same(a, back):
                    fail(f"npy round trip {name} {a.dtype} {shape}: values differ")
                buf = io.BytesIO()
                np.save(buf, back)
                with open(dst, "rb") as f:
                    if f.read() != buf.getvalue():
                        fail(f"npy {a.dtype} {shape}: file differs from numpy.save's bytes")
                count("npy round trips (byte-identical to numpy.save)")
            if a.ndim == 2:
                np.save(src, a)
                tool("copy-transposed", src, dst)
                if not same(np.ascontiguousarray(a.T), np.load(dst)):
                    fail(f"strided save {a.dtype} {shape}: values differ from a.T")
                count("strided saves")


def check_npz(tmp):
    rng = np.random.default_rng(8)
    arrays = {"linear_0.w": random_array(rng, np.float32, (4, 3)), "linear_0.b": random_array(rng, np.float32, (3,)),
              "step": np.array(12, np.int64), "mask": random_array(rng, np.bool_, (2, 2)),
              "h": random_array(rng, np.float16, (5,)), "empty": np.zeros((0, 2))}
    src, dst = os.path.join(tmp, "src.npz"), os.path.join(tmp, "dst.npz")
    for save in (np.savez, np.savez_compressed):
        save(src, **arrays)
        tool("npz-copy", src, dst)
        with zipfile.ZipFile(dst) as z:
            if z.testzip() is not None:
                fail(f"{save.__name__}: our archive has a bad CRC")
        with np.load(dst) as back:
            if sorted(back.files) != sorted(arrays):
                fail(f"{save.__name__}: names {back.files}")
            for k, a in arrays.items():
                if k not in back.files or not same(a, back[k]):
                    fail(f"{save.__name__}: array {k} differs")
        count("npz round trips")


def check_errors(tmp):
    cases = []

    def case(write, expect, npz=False):
        path = os.path.join(tmp, f"bad_{len(cases)}.npy" + ("z" if npz else ""))
        with open(path, "wb") as f:
            write(f)
        cases.append((path, expect, npz))

    case(lambda f: np.save(f, np.arange(3, dtype=">f4")), "BAD_FILE: {}: big-endian dtype >f4 is not supported")
    case(lambda f: np.save(f, np.arange(3, dtype=">i8")), "BAD_FILE: {}: big-endian dtype >i8 is not supported")
    case(lambda f: np.save(f, np.array([1, "a"], dtype=object), allow_pickle=True),
         "BAD_FILE: {}: object arrays (descr '|O') hold pickled Python objects and cannot be loaded")
    case(lambda f: np.save(f, np.zeros(2, np.complex64)), "NOT_SUPPORTED: {}: dtype <c8 is not supported")
    case(lambda f: np.save(f, np.zeros(2, np.uint32)), "NOT_SUPPORTED: {}: dtype <u4 is not supported")
    case(lambda f: np.save(f, np.array(["abc"])), "NOT_SUPPORTED: {}: dtype <U3 is not supported")
    case(lambda f: np.save(f, np.zeros(2, [("a", "<f4"), ("b", "<i4")])),
         "NOT_SUPPORTED: {}: structured dtypes (a list descr) are not supported")
    case(lambda f: np.save(f, np.zeros((1,) * 9)), "NOT_SUPPORTED: {}: arrays of rank above 8 are not supported")
    full = io.BytesIO()
    np.save(full, np.zeros((3, 4)))
    case(lambda f: f.write(full.getvalue()[:-1]),
         "BAD_FILE: {}: truncated .npy file: shape (3, 4) needs 96 bytes of data, the file has 95")
    case(lambda f: f.write(full.getvalue()[:50]), "BAD_FILE: {}: truncated .npy file (header of 118 bytes")
    case(lambda f: f.write(b"hello, world\n"), "BAD_FILE: {}: not an .npy file")
    # .npz archives
    case(lambda f: f.write(b"PK\x03\x04" + b"\0" * 40), "BAD_FILE: {}: truncated zip archive", npz=True)

    def bzip(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_BZIP2) as z:
            z.writestr("a.npy", full.getvalue())
    case(bzip, "NOT_SUPPORTED: {}: a.npy uses zip compression method 12 (supported: stored, deflate)", npz=True)

    def corrupt_deflate(f):
        buf = io.BytesIO()
        np.savez_compressed(buf, a=np.arange(1000.0))
        data = bytearray(buf.getvalue())
        data[80:90] = b"\xff" * 10
        f.write(bytes(data))
    case(corrupt_deflate, "BAD_FILE: {}: a.npy: ", npz=True)

    for path, expect, npz in cases:
        got = tool("npz-error" if npz else "error", path).stdout.strip()
        want = expect.format(path)
        if not got.startswith(want):
            fail(f"error for {want!r}: got {got!r}")
        count("refused files with the expected message")


# ---------------------------------------------------------------------------------------
# Random numbers against an independent implementation of the documented mapping
# ---------------------------------------------------------------------------------------

MASK = 0xFFFFFFFF


def philox(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32) ^ c3 ^ k1) & MASK, p0 & MASK
        k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
    return c0, c1, c2, c3


def words(seed, block, stream):
    return philox((block & MASK, block >> 32, stream, 0), (seed & MASK, seed >> 32))


def reference(kind, seed, i):
    i &= (1 << 64) - 1
    if kind == "uf32":
        return np.float32((words(seed, i // 4, 0)[i % 4] >> 8) * 2.0 ** -24)
    if kind == "uf64":
        w = words(seed, i // 2, 0)
        j = 2 * (i % 2)
        return ((w[j + 1] << 32 | w[j]) >> 11) * 2.0 ** -53
    if kind == "nf32":
        w = words(seed, i // 4, 1)
        pair = 2 * ((i % 4) // 2)
        u1 = ((w[pair] >> 8) + 1.0) * 2.0 ** -24
        u2 = (w[pair + 1] >> 8) * 2.0 ** -24
        r, t = math.sqrt(-2.0 * math.log(u1)), 2 * math.pi * u2
        return np.float32(r * math.cos(t) if i % 2 == 0 else r * math.sin(t))
    w = words(seed, i // 2, 1)
    u1 = (((w[1] << 32 | w[0]) >> 11) + 1.0) * 2.0 ** -53
    u2 = ((w[3] << 32 | w[2]) >> 11) * 2.0 ** -53
    r, t = math.sqrt(-2.0 * math.log(u1)), 2 * math.pi * u2
    return r * math.cos(t) if i % 2 == 0 else r * math.sin(t)


def check_rng(tmp):
    assert philox((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    out = os.path.join(tmp, "rand.npy")
    for kind in ("uf32", "uf64", "nf32", "nf64"):
        for seed, offset in ((0, 0), (42, 3), (2 ** 40 + 5, 2 ** 33 + 1), (2 ** 64 - 1, 2 ** 64 - 10)):
            n = 64
            tool("rand", kind, str(seed), str(offset), str(n), out)
            got = np.load(out)
            want = np.array([reference(kind, seed, offset + k) for k in range(n)], dtype=got.dtype)
            if got.tobytes() != want.tobytes():
                bad = int(np.argmax(got != want))
                fail(f"rand {kind} seed {seed} offset {offset}: element {bad}: {got[bad]!r} != {want[bad]!r}")
            count("random draws equal to the Python reference", n)


def main():
    with tempfile.TemporaryDirectory(prefix="tessera_rt_numpy_") as tmp:
        for check in (check_printing, check_scalars, check_npy, check_npz, check_errors, check_rng):
            check(tmp)
    for kind, n in counts.items():
        print(f"{n:7d} {kind}")
    if failures:
        print(f"{len(failures)} failure(s):")
        for f in failures[:40]:
            print(f)
        return 1
    print("all comparisons with numpy", np.__version__, "passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

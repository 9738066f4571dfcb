"""Exact reference conversions to the 8-bit float formats (docs/types.md, "8-bit floats"), for
run_values.py and grad_cases.py: every finite value of the format (exact in float64), the nearest
wins, a tie takes the even code, and one more value past the largest finite one stands for overflow."""
import numpy as np

F8 = {"f8e4m3": (4, 3, 7, False), "f8e5m2": (5, 2, 15, True)}


def f8_table(fmt):
    """The non-negative finite values in code order, and the overflow stand-in."""
    ebits, mbits, bias, ieee = F8[fmt]
    vals = []
    for code in range(1 << (ebits + mbits)):
        e, m = code >> mbits, code & ((1 << mbits) - 1)
        if ieee and e == (1 << ebits) - 1:
            break
        if not ieee and code == (1 << (ebits + mbits)) - 1:
            break
        vals.append(m * 2.0 ** (1 - bias - mbits) if e == 0 else (1 + m / 2.0 ** mbits) * 2.0 ** (e - bias))
    # Overflow stands where the next code would be: 2^(emax + 1) (E5M2's inf), or E4M3FN's NaN code
    # S.1111.111 read as a number (480).
    top = (1 << ebits) - 2 - bias if ieee else (1 << ebits) - 1 - bias
    return vals, 2.0 ** (top + 1) if ieee else (1 + ((1 << mbits) - 1) / 2.0 ** mbits) * 2.0 ** top


def f8_round(x, fmt):
    vals, over = f8_table(fmt)
    cand = np.array(vals + [over])
    out = np.empty_like(np.asarray(x, dtype=np.float64))
    for i, v in np.ndenumerate(np.asarray(x, dtype=np.float64)):
        if np.isnan(v):
            out[i] = np.nan
            continue
        a = abs(v)
        if a >= over:
            out[i] = np.copysign(np.inf, v) if F8[fmt][3] else np.nan
            continue
        d = np.abs(cand - a)
        k = int(np.argmin(d))
        ties = np.flatnonzero(d == d[k])
        if len(ties) > 1:
            k = int(ties[0] if ties[0] % 2 == 0 else ties[1])  # the even code (the stand-in's is even)
        r = cand[k]
        if k == len(vals):
            r = np.inf if F8[fmt][3] else np.nan
        out[i] = np.copysign(r, v) if not np.isnan(r) else np.nan
    return out



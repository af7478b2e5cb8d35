"""glibc's powf as a compiled loop (numba; loaded through
:mod:`eps_ref.rules._compiled`).

The loop behind :func:`eps_ref.rules._compiled.powf_glibc`:
:func:`eps_ref.rules._libm_pow._magnitude`
transcribed operation by operation in float64, its emulated FMA (``_fma64``) included,
so that the loop gives the NumPy path's bits whatever the hardware has; the exponent
split and the powers of two from the bits.
"""

from __future__ import annotations

import numpy as np

from eps_ref.rules import _libm_pow as lp
from eps_ref.rules._loops_base import at, bits_as_float64, float64_bits, jit, kernel, pow2

invc_table, logc_table = np.asarray(lp._LOG2_INVC), np.asarray(lp._LOG2_LOGC)
exp2_table = np.asarray(lp._EXP2_TAB)
a0, a1, a2, a3, a4 = lp._LOG2_POLY
c0, c1, c2 = lp._EXP2_POLY
shift, z0, off_bits = lp._SHIFT, lp._Z0, float(lp._OFF_BITS)
overflow, tiny, flt_min = lp._OVERFLOW, lp._TINY, lp._FLT_MIN
mantissa, one_exponent = np.int64((1 << 52) - 1), np.int64(1023 << 52)


@jit
def split(a):
    c = a * 134217729.0
    hi = c - (c - a)
    return hi, a - hi


@jit
def mul_add(a, b, c, fused):             # _fma64 (Dekker, two-sum) or a * b + c
    p = a * b
    a_hi, a_lo = split(a)
    b_hi, b_lo = split(b)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    s = p + c
    bb = s - p
    u = (p - (s - bb)) + (c - bb)
    return s + (u + e) if fused else p + c


@jit
def magnitude(ax, y, fused):
    bits = float64_bits(ax)              # ax positive and normal in float64
    e = np.float64((bits >> 52) - 1023)
    m = bits_as_float64((bits & mantissa) | one_exponent)          # [1, 2)
    high = m >= 2.0 * z0
    k = e + 1.0 if high else e
    z = m * 0.5 if high else m
    frac = ((2.0 * z - 1.0) * 8388608.0 + 126.0 * 8388608.0 if z < 1.0 else
            (z - 1.0) * 8388608.0 + 127.0 * 8388608.0) - off_bits
    i = np.int64(np.floor(frac / 524288.0))
    r = mul_add(z, invc_table[i], -1.0, fused)
    y0 = logc_table[i] + k
    r2 = r * r
    q = mul_add(r, a0, a1, fused)
    p = mul_add(r, a2, a3, fused)
    r4 = r2 * r2
    t = mul_add(r, a4, y0, fused)
    t = mul_add(p, r2, t, fused)
    t = y * mul_add(q, r4, t, fused)
    t_safe = t if abs(t) < 150.0 else 0.0
    kd = (t_safe + shift) - shift
    r = t_safe - kd
    j = kd * 32.0
    jm = j - 32.0 * np.floor(j / 32.0)
    s = exp2_table[np.int64(jm)] * pow2((j - jm) / 32.0)
    zz = mul_add(r, c0, c1, fused)
    r2 = r * r
    w = mul_add(r, c2, 1.0, fused)
    w = mul_add(zz, r2, w, fused) * s
    w = np.inf if t > overflow else w
    w = 0.0 if t <= -150.0 else w
    return tiny if (t > -150.0) & (t < -149.0) else w


@kernel
def loop(x, y, fused, low, flushed, out, defer):
    any_deferred = False
    for i in range(x.shape[0]):
        v, w = np.float64(x[i]), np.float64(at(y, i))
        regular = (v >= low) & (v > 0.0) & (v < np.inf) & (v != 1.0)
        regular &= (abs(w) >= low) & (w != 0.0) & (abs(w) < np.inf)
        mag = magnitude(v if regular else 1.0, w if regular else 1.0, fused)
        regular &= (abs(mag) >= 2.0 * flt_min) | (not flushed)
        out[i] = np.float32(mag)
        defer[i] = not regular
        any_deferred |= not regular
    return any_deferred

"""SLEEF's powf as a compiled loop (numba; loaded through
:mod:`eps_ref.rules._compiled`).

The loop behind :func:`eps_ref.rules._compiled.sleef_powf`: the core of
:func:`eps_ref.rules._sleef_pow._vector_powf` (``logkf``, the double-float product,
``expkf``) transcribed operation by operation with float32 operations, the hardware FMA
for SLEEF's fused ones, exponents and powers of two from the bits; no branch and no
library call.
"""

from __future__ import annotations

import numpy as np

from eps_ref.rules import _sleef_pow as sp
from eps_ref.rules._loops_base import (at, bits_as_float32, float32_bits, fmaf, jit, kernel,
                                       pow2, trunc)

f32, i32 = np.float32, np.int32
one, two, zero = f32(1.0), f32(2.0), f32(0.0)
inf = f32(np.inf)
flt_min, two_64, top, four_thirds = (f32(sp._FLT_MIN), f32(2.0 ** 64), f32(2.0 ** 127),
                                     f32(sp._FOUR_THIRDS))
ln2_hi, ln2_lo, c_hi, c_lo = (f32(v) for v in (sp._LN2_HI, sp._LN2_LO, sp._C_HI, sp._C_LO))
lp0, lp1, lp2 = (f32(v) for v in sp._LOG_POLY)
r_ln2, m_l2u, m_l2l = f32(sp._R_LN2), f32(-sp._L2U), f32(-sp._L2L)
ep0, ep1, ep2, ep3, ep4 = (f32(v) for v in sp._EXP_POLY)
exp_floor, magic, big = f32(-104.0), f32(1.5 * 2.0 ** 23), f32(2.0 ** 23)
two_24 = f32(2.0 ** 24)
sign_bit = i32(-2 ** 31)


@jit
def rint(u):                             # round half to even; the sign of a zero kept
    r = (u + magic) - magic
    r = bits_as_float32(i32(float32_bits(r) | (float32_bits(u) & sign_bit)))
    return r if abs(u) < big else u


@jit
def add2_f_f(x, y):
    rx = x + y
    v = rx - x
    return rx, (x - (rx - v)) + (y - v)


@jit
def add_df_df(x0, x1, y0, y1):
    rx = x0 + y0
    return rx, (((x0 - rx) + y0) + x1) + y1


@jit
def add2_df_df(x0, x1, y0, y1):
    rx = x0 + y0
    v = rx - x0
    ry = (x0 - (rx - v)) + (y0 - v)
    return rx, ry + (x1 + y1)


@jit
def add2_df_f(x0, x1, y):
    rx = x0 + y
    v = rx - x0
    ry = (x0 - (rx - v)) + (y - v)
    return rx, ry + x1


@jit
def add_f_df(x, y0, y1):
    rx = x + y0
    return rx, ((x - rx) + y0) + y1


@jit
def mul_df_f(x0, x1, y):
    rx = x0 * y
    return rx, fmaf(x1, y, fmaf(x0, y, -rx))


@jit
def mul_df_df(x0, x1, y0, y1):
    rx = x0 * y0
    return rx, fmaf(x0, y1, fmaf(x1, y0, fmaf(x0, y0, -rx)))


@jit
def squ(x0, x1):
    rx = x0 * x0
    return rx, fmaf(x0 + x0, x1, fmaf(x0, x0, -rx))


@jit
def div(n0, n1, d0, d1):
    t = one / d0
    qx = n0 * t
    u = fmaf(t, n0, -qx)
    qy = fmaf(-d1, t, fmaf(-d0, t, one))
    return qx, fmaf(qx, qy, fmaf(n1, t, u))


@jit
def ldexp(a, q):                         # SLEEF's vldexp: five float32 products
    q = np.float64(q)
    sign = -1.0 if q < 0 else 0.0
    m = (np.floor((q + sign) / 64.0) - sign) * 16.0
    rest = q - 4.0 * m
    biased = min(max(m + 127.0, 0.0), 255.0)
    u = f32(0.0 if biased == 0.0 else (np.inf if biased == 255.0 else pow2(biased - 127.0)))
    u = u if m == m else f32(np.nan)
    a = (((a * u) * u) * u) * u
    return a * f32(pow2(rest))


@jit
def split(d):                            # d = m 2^e, m in [3/4, 3/2)
    tiny = d < flt_min
    d = d * (two_64 if tiny else one)
    high = d >= top
    p = (d * (f32(0.5) if high else one)) * four_thirds
    e = np.float64(((float32_bits(p) >> 23) & 0xFF) - 127) + (1.0 if high else 0.0)
    m = f32(np.float64(d) * pow2(-e))
    return m, f32(e - 64.0 if tiny else e)


@jit
def logk(d):
    m, e = split(d)
    a0, a1 = add2_f_f(-one, m)
    b0, b1 = add2_f_f(one, m)
    a0, a1 = div(a0, a1, b0, b1)
    s0, s1 = squ(a0, a1)
    t = fmaf(fmaf(lp0, s0, lp1), s0, lp2)
    l0, l1 = mul_df_f(ln2_hi, ln2_lo, e)
    p0, p1 = mul_df_df(s0, s1, a0, a1)
    q0, q1 = mul_df_f(s0, s1, t)
    q0, q1 = add2_df_df(q0, q1, c_hi, c_lo)
    tail0, tail1 = mul_df_df(p0, p1, q0, q1)
    h0, h1 = add_df_df(l0, l1, a0 * two, a1 * two)
    return add_df_df(h0, h1, tail0, tail1)


@jit
def expk(d0, d1):
    q = rint((d0 + d1) * r_ln2)
    s0, s1 = add2_df_f(d0, d1, q * m_l2u)
    s0, s1 = add2_df_f(s0, s1, q * m_l2l)
    s0, s1 = s0 + s1, (s0 - (s0 + s1)) + s1             # normalize
    u = fmaf(fmaf(fmaf(fmaf(ep0, s0, ep1), s0, ep2), s0, ep3), s0, ep4)
    w0, w1 = squ(s0, s1)
    w0, w1 = mul_df_f(w0, w1, u)
    t0, t1 = add_df_df(s0, s1, w0, w1)
    t0, t1 = add_f_df(one, t0, t1)
    r = ldexp(t0 + t1, q)
    return zero if d0 < exp_floor else r


@kernel
def loop(x, y, out, defer):
    any_deferred = False
    for i in range(x.shape[0]):
        v, w = x[i], at(y, i)
        a = abs(v)
        w_is_int = (trunc(w) == w) | (abs(w) > two_24)
        half_w = w * f32(0.5)
        w_is_odd = w_is_int & (abs(w) < two_24) & (trunc(half_w) != half_w)
        regular = (a > zero) & (a < inf) & (a != one) & (abs(w) < inf) & (w != zero) & (
            (v > zero) | w_is_int)
        a, w = (a, w) if regular else (one, one)
        l0, l1 = logk(a)
        d0, d1 = mul_df_f(l0, l1, w)
        r = expk(d0, d1)
        r = inf if r != r else r
        out[i] = -r if (v < zero) & w_is_odd else r
        defer[i] = not regular
        any_deferred |= not regular
    return any_deferred

"""Eigen's packet pow as a compiled loop (numba; loaded through
:mod:`eps_ref.rules._compiled`).

The loop behind :func:`eps_ref.rules._compiled.eigen_pow`:
:func:`eps_ref.rules._eigen_pow._pow_positive`
transcribed operation by operation, every operation a float32 one (constants are
float32 values: a Python float would promote to float64), the exponent steps exact
(from the bits), ``minimum``/``maximum``/``trunc`` with NumPy's NaN and signed-zero
rules; no branch and no library call, so that LLVM vectorizes the loop.
"""

from __future__ import annotations

import numpy as np

from eps_ref.rules import _eigen_pow as ep
from eps_ref.rules._loops_base import (bits_as_float32, float32_bits, floor, jit, kernel, pow2,
                                       trunc)

f32 = np.float32
one, two, half, k4097 = f32(1.0), f32(2.0), f32(0.5), f32(4097.0)
big = f32(2.0 ** 23)
sqrt_half, ln2, prev_half = f32(ep._SQRT_HALF), f32(ep._LN2), ep._PREV_HALF
c0 = (f32(ep._C0), f32(ep._C0 - float(f32(ep._C0))))
c1 = (f32(ep._C1), f32(ep._C1 - float(f32(ep._C1))))
poly0, poly1, poly2, poly3, poly4, poly5, poly6, poly7, poly8 = (
    f32(v) for v in ep._LOG2_POLY)
log2ef, exp_c1, exp_c2 = f32(ep._EXP_LOG2EF), f32(ep._EXP_C1), f32(ep._EXP_C2)
p2, p3, p4, p5, p6 = (f32(v) for v in ep._EXP_P)
exp_max, exp2_max, exp2_min = f32(88.723), f32(129.0), f32(-151.0)
flt_min = f32(ep._FLT_MIN)

i32 = np.int32
sign_bit, prev_half_bits = i32(-2 ** 31), int(f32(prev_half).view(np.int32))


@jit
def minimum(a, b):                       # np.minimum
    return a if (a <= b) | (a != a) else b


@jit
def maximum(a, b):                       # np.maximum
    return a if (a >= b) | (a != a) else b


@jit
def times_pow2(a, n):                    # a 2^n for an integral float32 n, exact
    return f32(np.float64(a) * pow2(np.float64(n)))


@jit
def split(x):
    gamma = k4097 * x
    rho = x - gamma
    hi = rho + gamma
    return hi, x - hi


@jit
def two_prod(x, y):
    x_hi, x_lo = split(x)
    y_hi, y_lo = split(y)
    hi = x * y
    lo = x_hi * y_hi + (-hi)
    lo = x_hi * y_lo + lo
    lo = x_lo * y_hi + lo
    lo = x_lo * y_lo + lo
    return hi, lo


@jit
def fast_two_sum(x, y):
    s = x + y
    return s, y - (s - x)


@jit
def dw_add(x_hi, x_lo, y_hi, y_lo):
    r_hi, r_lo = fast_two_sum(x_hi, y_hi)
    return fast_two_sum(r_hi, (y_lo + r_lo) + x_lo)


@jit
def dw_times(x_hi, x_lo, y):
    c_hi, c_lo1 = two_prod(x_hi, y)
    t_hi, t_lo1 = fast_two_sum(c_hi, x_lo * y)
    return fast_two_sum(t_hi, t_lo1 + c_lo1)


@jit
def round_half_away(a):
    return trunc(bits_as_float32(i32(prev_half_bits | (float32_bits(a) & sign_bit))) + a)


@jit
def accurate_log2(z):
    x = z - one
    p = poly0 * x + poly1
    p = p * x + poly2
    p = p * x + poly3
    p = p * x + poly4
    p = p * x + poly5
    p = p * x + poly6
    p = p * x + poly7
    p = p * x + poly8
    p_hi, p_lo = two_prod(x, p)
    p_hi, p_lo = dw_add(c1[0], c1[1], p_hi, p_lo)
    p_hi, p_lo = dw_times(p_hi, p_lo, x)
    p_hi, p_lo = dw_add(c0[0], c0[1], p_hi, p_lo)
    return dw_times(p_hi, p_lo, x)


@jit
def pexp(x_in):
    x = minimum(x_in, exp_max)
    m = floor(x * log2ef + half)
    r = m * exp_c1 + x
    r = m * exp_c2 + r
    r2 = r * r
    p_even = r2 * p6 + p4
    p_odd = r2 * p5 + p3
    p_even = r2 * p_even + p2
    y = r * p_odd + p_even
    y = r2 * y + (r + one)
    return maximum(times_pow2(y, m), x_in)


@jit
def generic_exp2(x):
    x = maximum(minimum(x, exp2_max), exp2_min)
    p_hi, p_lo = two_prod(ln2, x)
    return pexp(p_hi) * (one + p_lo)


@jit
def pow_positive(x, y):
    bits = float32_bits(x)               # x positive and normal: m in [1/2, 1)
    m = bits_as_float32(i32((bits & 0x007FFFFF) | 0x3F000000))
    e = f32((bits >> 23) - 126)
    low = m < sqrt_half
    m, e = (two * m, e - one) if low else (m, e)
    rx_hi, rx_lo = accurate_log2(m)
    f1_hi, f1_lo = two_prod(e, y)
    f2_hi, f2_lo = dw_times(rx_hi, rx_lo, y)
    f_hi, f_lo = dw_add(f1_hi, f1_lo, f2_hi, f2_lo)
    n = round_half_away(f_hi)
    r = (f_hi - n) + f_lo
    n_r = round_half_away(r)
    return times_pow2(generic_exp2(r - n_r), n + n_r)


@kernel
def loop(x, y, y_is_int, y_is_odd, out, defer):
    zero_value = np.inf if y < 0 else f32(0.0)      # pow(+-0, y); subnormals read as 0
    any_deferred = False
    for i in range(x.shape[0]):
        v = x[i]
        a = abs(v)
        normal = (a >= flt_min) & (a < np.inf) & (a != one) & ((v > 0) | y_is_int)
        o = pow_positive(a if normal else one, y)
        flushed = a < flt_min
        o = zero_value if flushed else o
        negate = y_is_odd & (float32_bits(v) < 0)
        out[i] = -o if negate else o
        regular = (normal & (abs(o) >= flt_min)) | flushed
        defer[i] = not regular
        any_deferred |= not regular
    return any_deferred

r"""Eigen's vectorized float32 ``pow``, operation by operation.

TensorFlow's ``tf.pow`` and its training kernels (``ApplyFtrl`` with
``learning_rate_power != -0.5``) evaluate :math:`x^y` on CPU with Eigen's ``generic_pow``
(``Eigen/src/Core/arch/Default/GenericPacketMathFunctions.h`` as shipped in the TensorFlow
wheel, ``tensorflow/include``), on packets of 8 floats (AVX, no FMA):

1. :math:`x = m\,2^{e}` with :math:`m \in [1/\sqrt2, \sqrt2)`;
2. :math:`\log_2 m` as a double word :math:`(h, l)`: a degree-8 polynomial in
   :math:`m - 1` in float32 Horner steps, then the last two Horner steps and the final
   product by :math:`m - 1` in double-word arithmetic (Dekker products with Veltkamp
   splitting, ``fast_twosum``);
3. :math:`f = e y + y \log_2 m` in double words, split into the nearest integer :math:`n`
   (Eigen's ``pround``, halves away from zero) and :math:`r \in [-1/2, 1/2]`;
4. :math:`2^r = \exp(\ln 2 \cdot r)`: Eigen's ``pexp_float`` (Cephes' range reduction and a
   degree-6 polynomial) of the high part, times :math:`1 + ` the low part;
5. times :math:`2^n`, exactly.

Every step is reproduced here with float32 operations, each rounded once; exponents and
powers of two are handled exactly in float64. Results are within about 1 ULP of
:math:`x^y` and identical to Eigen's for every packet element. Eigen finishes the last
``n % 8`` elements of a flat array with the C library's scalar ``powf``; that tail is
glibc's ``powf`` here too (:mod:`eps_ref.rules._libm_pow`, with TensorFlow's FTZ/DAZ;
measured against ``tf.pow`` on 21,000 tail elements: 0 differ, where a correctly rounded
power differs in 13). TensorFlow runs
with FTZ/DAZ: subnormal inputs count as zeros and subnormal results are flushed to zero.

:func:`eigen_pow_float32_array_api` is the reference formulation; NumPy arrays run the same
float32 operations block by block (:mod:`eps_ref.rules._numerics`), with the exponent split
and the final scaling by ``frexp`` and ``ldexp``, and hand zeros, subnormals, negatives,
infinities, NaN, :math:`x = 1` and flushed results to the reference.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import _compiled, _numerics
from eps_ref.rules._roots import EIGEN_PACKET_SIZE

__all__ = ["eigen_pow_float32", "eigen_pow_float32_array_api"]

_SQRT_HALF = 0.70710678118654752440
_LN2 = 0.693147180559945309417
_C0 = 1.442695041742110273474963832995854318141937255859375e+00
_C1 = -7.2134751588268664068692714863573201000690460205078125e-01
_LOG2_POLY = (
    9.7010828554630279541015625e-02, -1.6896486282348632812500000e-01,
    1.7200836539268493652343750e-01, -1.7892272770404815673828125e-01,
    2.0505344867706298828125000e-01, -2.4046677350997924804687500e-01,
    2.8857553005218505859375000e-01, -3.6067414283752441406250000e-01,
    4.8089790344238281250000000e-01)
_EXP_LOG2EF = 1.44269504088896341
_EXP_C1 = -0.693359375
_EXP_C2 = 2.12194440e-4
_EXP_P = (0.49999988079071044921875, 0.16666518151760101318359375,
          4.166965186595916748046875e-2, 8.36894474923610687255859375e-3,
          1.37449637986719608306884765625e-3)      # p2 .. p6
_PREV_HALF = 0.4999999701976776                     # float32 0x3EFFFFFF
_FLT_MIN = 2.0 ** -126


class _F32:
    """float32 constants and the double-word primitives, for one namespace and device."""

    def __init__(self, xp, like):
        self.xp = xp
        self.like = like

    def c(self, value):
        return self.xp.asarray(value, dtype=self.xp.float32, device=_device(self.like))

    def split(self, x):                      # Veltkamp: x = hi + lo, hi on 12 bits
        gamma = self.c(4097.0) * x
        rho = x - gamma
        hi = rho + gamma
        return hi, x - hi

    def two_prod(self, x, y):                # Dekker, no FMA: x*y = hi + lo exactly
        x_hi, x_lo = self.split(x)
        y_hi, y_lo = self.split(y)
        hi = x * y
        lo = x_hi * y_hi + (-hi)
        lo = x_hi * y_lo + lo
        lo = x_lo * y_hi + lo
        lo = x_lo * y_lo + lo
        return hi, lo

    @staticmethod
    def fast_two_sum(x, y):
        s = x + y
        return s, y - (s - x)

    def dw_add(self, x_hi, x_lo, y_hi, y_lo):  # fast_twosum of two double words
        r_hi, r_lo = self.fast_two_sum(x_hi, y_hi)
        s = (y_lo + r_lo) + x_lo
        return self.fast_two_sum(r_hi, s)

    def dw_times(self, x_hi, x_lo, y):         # double word times float
        c_hi, c_lo1 = self.two_prod(x_hi, y)
        c_lo2 = x_lo * y
        t_hi, t_lo1 = self.fast_two_sum(c_hi, c_lo2)
        return self.fast_two_sum(t_hi, t_lo1 + c_lo1)

    def round_half_away(self, a):              # Eigen's pround<Packet8f>
        xp = self.xp
        return xp.trunc(xp.copysign(self.c(_PREV_HALF), a) + a)

    def times_pow2(self, a, n):                # a * 2^n, n a float32 integer array
        xp = self.xp
        scale = xp.pow(xp.asarray(2.0, dtype=xp.float64, device=_device(a)),
                       xp.astype(n, xp.float64))
        return xp.astype(xp.astype(a, xp.float64) * scale, xp.float32)

    def frexp(self, x):
        """``(m, e)``: :math:`x = m 2^e`, :math:`m \\in [1/2, 1)` float32, ``e`` float64,
        for positive finite x."""
        xp = self.xp
        x64 = xp.astype(x, xp.float64)
        e = xp.floor(xp.log2(x64)) + 1.0            # frexp exponent, maybe off by one
        m = x64 * xp.pow(xp.asarray(2.0, dtype=xp.float64, device=_device(x)), -e)
        e = xp.where(m >= 1.0, e + 1.0, xp.where(m < 0.5, e - 1.0, e))
        m = x64 * xp.pow(xp.asarray(2.0, dtype=xp.float64, device=_device(x)), -e)  # exact
        return xp.astype(m, xp.float32), e


class _F32Numpy(_F32):
    """:class:`_F32` with NumPy's exact ``frexp`` and ``ldexp`` for the exponent steps."""

    def times_pow2(self, a, n):
        scale = _numerics.pow2(n.astype(np.float64))
        return (a.astype(np.float64) * scale).astype(np.float32)

    def frexp(self, x):
        m, e = np.frexp(x)
        return m, e.astype(np.float64)


def _frexp_sqrt_half(f: _F32, x):
    """:math:`x = m 2^e` with :math:`m \\in [1/\\sqrt2, \\sqrt2)` (as Eigen: frexp's
    :math:`[1/2, 1)`, then doubled below float32(1/sqrt 2)), for positive finite x."""
    xp = f.xp
    m, e = f.frexp(x)
    low = m < f.c(_SQRT_HALF)
    m = xp.where(low, f.c(2.0) * m, m)
    e = xp.astype(xp.where(low, e - 1.0, e), xp.float32)
    return m, e


def _accurate_log2(f: _F32, z):
    c0_hi = float(f.c(_C0))
    c1_hi = float(f.c(_C1))
    c0 = (f.c(c0_hi), f.c(_C0 - c0_hi))
    c1 = (f.c(c1_hi), f.c(_C1 - c1_hi))
    x = z - f.c(1.0)
    p = f.c(_LOG2_POLY[0])
    for coefficient in _LOG2_POLY[1:]:
        p = p * x + f.c(coefficient)
    p_hi, p_lo = f.two_prod(x, p)
    p_hi, p_lo = f.dw_add(c1[0], c1[1], p_hi, p_lo)
    p_hi, p_lo = f.dw_times(p_hi, p_lo, x)
    p_hi, p_lo = f.dw_add(c0[0], c0[1], p_hi, p_lo)
    return f.dw_times(p_hi, p_lo, x)


def _pexp(f: _F32, x_in):
    """Eigen's ``pexp_float`` for |x| <= 87 (the range pow reaches it in)."""
    xp = f.xp
    x = xp.minimum(x_in, f.c(88.723))
    m = xp.floor(x * f.c(_EXP_LOG2EF) + f.c(0.5))
    r = m * f.c(_EXP_C1) + x
    r = m * f.c(_EXP_C2) + r
    p2, p3, p4, p5, p6 = (f.c(v) for v in _EXP_P)
    r2 = r * r
    p_even = r2 * p6 + p4
    p_odd = r2 * p5 + p3
    p_even = r2 * p_even + p2
    p_low = r + f.c(1.0)
    y = r * p_odd + p_even
    y = r2 * y + p_low
    return xp.maximum(f.times_pow2(y, m), x_in)


def _generic_exp2(f: _F32, x):
    xp = f.xp
    x = xp.maximum(xp.minimum(x, f.c(129.0)), f.c(-151.0))
    p_hi, p_lo = f.two_prod(f.c(_LN2), x)
    return _pexp(f, p_hi) * (f.c(1.0) + p_lo)


def _pow_positive(f: _F32, x, y):
    m, e = _frexp_sqrt_half(f, x)
    rx_hi, rx_lo = _accurate_log2(f, m)
    f1_hi, f1_lo = f.two_prod(e, y)
    f2_hi, f2_lo = f.dw_times(rx_hi, rx_lo, y)
    f_hi, f_lo = f.dw_add(f1_hi, f1_lo, f2_hi, f2_lo)
    n = f.round_half_away(f_hi)
    r = (f_hi - n) + f_lo
    n_r = f.round_half_away(r)
    r = r - n_r
    n = n + n_r
    return f.times_pow2(_generic_exp2(f, r), n)


def eigen_pow_float32(x, exponent: float):
    """``x ** exponent`` for a float32 array as Eigen's ``generic_pow`` computes it (the
    exponent is rounded to float32 first), with the C++ special cases (``pow(x, 0) = 1``,
    ``pow(x, 1) = x``, ``pow(0, y>0) = 0``, ``pow(0, y<0) = inf``, ``pow(inf, y)``, NaN,
    negative bases with integer exponents). The reference formulation is
    :func:`eigen_pow_float32_array_api`."""
    y_value = float(np.float32(exponent))
    if (_numerics._numpy_float32(x) and math.prod(x.shape) > 1 and math.isfinite(y_value)
            and y_value not in (0.0, 1.0)):
        return _eigen_pow_numpy(x, y_value)
    return eigen_pow_float32_array_api(x, exponent)


def eigen_pow_float32_array_api(x, exponent: float):
    """:func:`eigen_pow_float32` for any Array-API namespace (the reference formulation)."""
    xp = array_namespace(x)
    out = _packet_pow(x, exponent)
    # The flat tail of n % 8 elements takes the C library's scalar powf.
    n = math.prod(x.shape)
    tail = n % EIGEN_PACKET_SIZE
    if tail:
        from eps_ref.rules._libm_pow import powf_glibc
        flat = xp.reshape(_flush(xp, x), (n,))
        scalar = powf_glibc(flat, float(xp.asarray(exponent, dtype=xp.float32)),
                            subnormals="flush_to_zero")
        index = xp.arange(n, device=_device(x))
        out = xp.reshape(xp.where(index >= n - tail, scalar, xp.reshape(out, (n,))), x.shape)
    return out


def _flush(xp, x):
    """TensorFlow runs with FTZ/DAZ: subnormal inputs read as (signed) zeros."""
    return xp.where(xp.abs(x) < _FLT_MIN, xp.copysign(xp.zeros_like(x), x), x)


def _packet_pow(x, exponent: float):
    """Eigen's packet ``pow`` on every element, with its special cases."""
    xp = array_namespace(x)
    f = _F32(xp, x)
    x = _flush(xp, x)
    y_value = float(f.c(exponent))
    y = f.c(y_value)
    x_abs = xp.abs(x)
    finite_positive = (x_abs > 0) & (x_abs < math.inf)
    safe = xp.where(finite_positive, x_abs, xp.ones_like(x_abs))
    out = _pow_positive(f, safe, y)

    y_is_int = math.isfinite(y_value) and math.floor(y_value) == y_value
    y_is_odd_int = y_is_int and math.fmod(y_value, 2.0) != 0.0
    nan, inf, zero, one = f.c(math.nan), f.c(math.inf), f.c(0.0), f.c(1.0)
    if not y_is_int:
        out = xp.where(x < 0, nan, out)
    out = xp.where(x == 0, inf if y_value < 0 else zero, out)
    if y_is_odd_int:
        out = xp.where(xp.signbit(x), -out, out)
    inf_value = zero if y_value < 0 else inf
    out = xp.where(x_abs == math.inf,
                   xp.where(x < 0, -inf_value if y_is_odd_int else inf_value, inf_value), out)
    out = xp.where(xp.isnan(x), nan, out)
    # ... and subnormal results are flushed to zero.
    out = xp.where(xp.abs(out) < f.c(_FLT_MIN), xp.copysign(zero, out), out)
    if y_value == 1.0:
        out = x
    out = xp.where(x == 1.0, one, out)
    if y_value == 0.0:
        out = xp.ones_like(x)
    return out


def _eigen_pow_numpy(x, y_value: float):
    """:func:`eigen_pow_float32` for a NumPy float32 array and a finite exponent other than
    0 and 1: :func:`_pow_positive` on the normal positive finite elements other than 1
    whose result is not flushed, block by block (or in one compiled loop,
    :func:`eps_ref.rules._compiled.eigen_pow`); the others go to :func:`_packet_pow`."""
    import array_api_compat.numpy as xp

    flat = np.ascontiguousarray(x).reshape(-1)
    n = flat.shape[0]
    packet = lambda xs: _packet_pow(xs, y_value)        # noqa: E731
    with np.errstate(all="ignore"):
        if _compiled.enabled():
            out = _compiled.eigen_pow(flat, y_value, packet)
        else:
            out = _pow_blocks(flat, _F32Numpy(xp, flat), y_value, packet)
        tail = n % EIGEN_PACKET_SIZE
        if tail:
            from eps_ref.rules._libm_pow import powf_glibc
            out[n - tail:] = powf_glibc(_flush(xp, flat[n - tail:]), y_value,
                                        subnormals="flush_to_zero")
    return out.reshape(x.shape)


def _pow_blocks(flat, f: _F32Numpy, y_value: float, packet):
    """``pow(flat, y)`` block by block: the NumPy path of :func:`_eigen_pow_numpy`."""
    out = np.empty_like(flat)
    y = f.c(y_value)
    deferred = _numerics.Deferred()
    for start, stop in _numerics.blocks(flat.shape[0], _numerics.POW_BLOCK):
        xb = flat[start:stop]
        regular = (xb >= _FLT_MIN) & (xb < math.inf) & (xb != 1.0)
        ob = _pow_positive(f, np.where(regular, xb, np.float32(1.0)), y)
        regular &= np.abs(ob) >= _FLT_MIN
        out[start:stop] = ob
        if not regular.all():
            idx = np.flatnonzero(~regular)
            deferred.add(packet, start, idx, xb[idx])
    deferred.apply(out)
    return out

r"""SLEEF's float32 ``pow`` (``Sleef_powf8_u10`` / ``Sleef_powf16_u10``), operation by operation.

``torch.pow(tensor, tensor)`` on CPU, for float32, runs ATen's ``pow_tensor_tensor_kernel``
(``aten/src/ATen/native/cpu/PowKernel.cpp``): its vectorized loop calls
``Vectorized<float>::pow``, which is SLEEF's ``powf`` with a 1-ULP bound, ``Sleef_powf8_u10``
under ``ATEN_CPU_CAPABILITY=avx2`` and ``Sleef_powf16_u10`` under AVX-512 (the default on a
CPU that has it). Both are built with FMA (SLEEF's ``helperavx2.h`` and ``helperavx512f.h``
define ``ENABLE_FMA_SP``, and every ``vmla`` is a fused multiply-add). Keras' torch backend
reaches this kernel through ``ops.power(x, y)``, which converts the Python exponent to a 0-d
float32 tensor first. (``torch.pow(tensor, python_float)`` takes the other kernel,
``pow_tensor_scalar``, with its own special cases for 0.5, 2, 3, -0.5, -1, -2.)

SLEEF computes, in float32 double-word ("double-float") arithmetic, for :math:`x > 0`,

1. :math:`x = m\,2^{e}` with :math:`m \in [3/4, 3/2)`: :math:`e` is the binary exponent of
   the float32 product :math:`x \cdot \mathrm{fl}(4/3)` (subnormal inputs scaled by
   :math:`2^{64}` first), :math:`m = x\,2^{-e}` exactly;
2. :math:`\log x = e \ln 2 + 2a + a^3 (c + a^2\,t(a^2))`, :math:`a = (m - 1)/(m + 1)`
   (a double-word quotient), :math:`\ln 2` and :math:`c \approx 2/3` as double words,
   :math:`t` a degree-2 polynomial in float32 FMA Horner steps;
3. :math:`d = y \log x` as a double word;
4. :math:`e^{d}`: :math:`q = \mathrm{rint}(d\,/\ln 2)`, :math:`s = d - q \ln 2` (Cody-Waite,
   two float32 constants, double words), :math:`e^s = 1 + s + s^2 u(s)` with a degree-4
   polynomial :math:`u` (FMA Horner) and double-word sums, rounded once to float32, times
   :math:`2^q` by SLEEF's ``vldexp`` (five float32 products, so a subnormal result can
   round twice); zero below :math:`d < -104`.

The double-word primitives use FMA for exact products (``dfmul``: :math:`x y - \mathrm{fl}(x
y)` by one FMA) and for the quotient's correction (``dfdiv``). Every step is reproduced
here with float32 operations each rounded once and :func:`eps_ref.rules._numerics.fma` for
the fused ones; exponents and powers of two are handled exactly in float64. The results are
within 1 ULP of :math:`x^y` (about 2 float32 inputs in 100 round the other way than the
correctly rounded power) and identical bit for bit to ``torch.pow`` 2.13 on CPU over
:math:`7 \cdot 10^7` measured inputs (positive floats of every binade, subnormal results,
exponents 0.25 to 3, special values), under AVX2 and AVX-512 alike (AVX-512 computes the
mantissa/exponent split with ``getmant``/``getexp``, to the same values).

ATen's vectorized loop handles ``2 * Vectorized<float>::size()`` elements at a time (16 under
AVX2, 32 under AVX-512) and finishes the last ``n % 16`` or ``n % 32`` elements of a
contiguous run with the scalar ``std::pow``, glibc's ``powf`` (not correctly rounded either:
about 6 inputs in 10^4 are one ULP away), reproduced by
:func:`eps_ref.rules._libm_pow.powf_glibc`. Tensors above ATen's grain size (32768 elements)
split across the intra-op threads first (``at::parallel_for``: ``min(threads, ceil(n / 32768))``
chunks of ``ceil(n / chunks)`` elements), and each chunk finishes its own tail
(:func:`scalar_tail`).

:func:`sleef_powf_array_api` is the reference formulation; NumPy arrays run the same float32
operations block by block (:mod:`eps_ref.rules._numerics`), with exponents split and applied
by ``frexp`` and ``ldexp``, and hand non-positive, infinite and NaN bases, :math:`x = 1`,
and zero or non-finite exponents to the reference.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import _compiled, _numerics
from eps_ref.rules._numerics import fma

__all__ = ["sleef_powf", "sleef_powf_array_api", "scalar_tail", "SLEEF_LOOP_WIDTHS",
           "ATEN_GRAIN_SIZE"]

SLEEF_LOOP_WIDTHS = {"avx512": 32, "avx2": 16, "none": 0}
"""Elements per vectorized-loop iteration of ATen's ``cpu_kernel_vec`` per CPU capability
(``"none"``: every element vectorized, no scalar tail)."""

ATEN_GRAIN_SIZE = 32768
"""``at::internal::GRAIN_SIZE``: TensorIterator runs smaller tensors on one thread."""


def scalar_tail(n: int, width: int, threads: int = 1) -> np.ndarray:
    """The flat indices of an ``n``-element contiguous tensor that ATen's ``cpu_kernel_vec``
    computes with the scalar op: the last ``len % width`` elements of each chunk that
    ``at::parallel_for`` hands a thread (one chunk below :data:`ATEN_GRAIN_SIZE` elements or
    with one thread; else ``min(threads, ceil(n / grain))`` chunks of ``ceil(n / chunks)``)."""
    if not width:
        return np.zeros(0, np.int64)
    tasks = 1 if n < ATEN_GRAIN_SIZE or threads == 1 else min(threads, -(-n // ATEN_GRAIN_SIZE))
    chunk = -(-n // tasks) if n else 0
    stops = [min(start + chunk, n) for start in range(0, n, chunk or 1)]
    return np.concatenate([np.arange(stop - (stop - start) % width, stop)
                           for start, stop in zip(range(0, n, chunk or 1), stops)]
                          or [np.zeros(0, np.int64)]).astype(np.int64)


_FOUR_THIRDS = 1.0 / 0.75                   # rounded to float32 on use
_FLT_MIN = 2.0 ** -126
_LN2_HI, _LN2_LO = 0.69314718246459960938, -1.904654323148236017e-09
_C_HI, _C_LO = 0.66666662693023681640625, 3.69183861259614332084311e-09
_LOG_POLY = (0.240320354700088500976562, 0.285112679004669189453125,
             0.400007992982864379882812)
_R_LN2 = 1.442695040888963407359924681001892137426645954152985934135449406931
_L2U = 0.693145751953125
_L2L = 1.428606765330187045e-06
_EXP_POLY = (0.00136324646882712841033936, 0.00836596917361021041870117,
             0.0416710823774337768554688, 0.166665524244308471679688,
             0.499999850988388061523438)


class _DF:
    """float32 constants and SLEEF's double-float primitives (FMA build), one namespace."""

    def __init__(self, xp, like):
        self.xp = xp
        self.like = like

    def c(self, value):
        return self.xp.asarray(value, dtype=self.xp.float32, device=_device(self.like))

    # -- sums ---------------------------------------------------------------------------
    @staticmethod
    def add2_f_f(x, y):                      # dfadd2_vf2_vf_vf: exact TwoSum
        rx = x + y
        v = rx - x
        return rx, (x - (rx - v)) + (y - v)

    @staticmethod
    def add_df_df(x, y):                     # dfadd_vf2_vf2_vf2 (|x| >= |y|)
        rx = x[0] + y[0]
        return rx, (((x[0] - rx) + y[0]) + x[1]) + y[1]

    @staticmethod
    def add2_df_df(x, y):                    # dfadd2_vf2_vf2_vf2
        rx = x[0] + y[0]
        v = rx - x[0]
        ry = (x[0] - (rx - v)) + (y[0] - v)
        return rx, ry + (x[1] + y[1])

    @staticmethod
    def add2_df_f(x, y):                     # dfadd2_vf2_vf2_vf
        rx = x[0] + y
        v = rx - x[0]
        ry = (x[0] - (rx - v)) + (y - v)
        return rx, ry + x[1]

    @staticmethod
    def add_f_df(x, y):                      # dfadd_vf2_vf_vf2 (|x| >= |y|)
        rx = x + y[0]
        return rx, ((x - rx) + y[0]) + y[1]

    @staticmethod
    def normalize(t):                        # dfnormalize_vf2_vf2
        sx = t[0] + t[1]
        return sx, (t[0] - sx) + t[1]

    # -- products (FMA) -----------------------------------------------------------------
    @staticmethod
    def mul_df_f(x, y):                      # dfmul_vf2_vf2_vf
        rx = x[0] * y
        return rx, fma(x[1], y, fma(x[0], y, -rx))

    @staticmethod
    def mul_df_df(x, y):                     # dfmul_vf2_vf2_vf2
        rx = x[0] * y[0]
        return rx, fma(x[0], y[1], fma(x[1], y[0], fma(x[0], y[0], -rx)))

    @staticmethod
    def squ(x):                              # dfsqu_vf2_vf2
        rx = x[0] * x[0]
        return rx, fma(x[0] + x[0], x[1], fma(x[0], x[0], -rx))

    def div(self, n, d):                     # dfdiv_vf2_vf2_vf2
        t = self.c(1.0) / d[0]
        qx = n[0] * t
        u = fma(t, n[0], -qx)
        qy = fma(-d[1], t, fma(-d[0], t, self.c(1.0)))
        return qx, fma(qx, qy, fma(n[1], t, u))

    def ldexp(self, a, q):                   # vldexp_vf_vf_vi2; q a float32 integer array
        """:math:`a 2^q` as SLEEF's ``vldexp`` forms it: :math:`2^q = u^4 2^{q'}` with
        :math:`u = 2^{16k}` (clamped to 0 or inf beyond the float32 exponent range), five
        float32 products, so a subnormal result can round twice."""
        xp = self.xp
        q = xp.astype(q, xp.float64)
        sign = -xp.astype(q < 0, xp.float64)                 # q >> 31
        m = (xp.floor((q + sign) / 64.0) - sign) * 16.0      # (((q + sign) >> 6) - sign) << 4
        rest = q - 4.0 * m
        biased = xp.clip(m + 127.0, 0.0, 255.0)
        zero = xp.zeros_like(biased)
        u = xp.where(biased == 0.0, zero,
                     xp.where(biased == 255.0, zero + math.inf, self.pow2(biased - 127.0)))
        u = xp.astype(u, xp.float32)
        a = (((a * u) * u) * u) * u
        return a * xp.astype(self.pow2(rest), xp.float32)

    def pow2(self, k):
        """:math:`2^k` for a float64 array of integers (exact)."""
        xp = self.xp
        return xp.pow(xp.asarray(2.0, dtype=xp.float64, device=_device(k)), k)

    def floor_log2(self, p):
        """:math:`\\lfloor \\log_2 p \\rfloor` for positive normal float64 ``p``."""
        xp = self.xp
        e = xp.floor(xp.log2(p))                           # maybe off by 1
        scaled = p * self.pow2(-e)
        return xp.where(scaled >= 2.0, e + 1.0, xp.where(scaled < 1.0, e - 1.0, e))


class _DFNumpy(_DF):
    """:class:`_DF` with NumPy's exact ``frexp`` and ``ldexp`` for the exponent steps."""

    def pow2(self, k):
        return _numerics.pow2(k)

    def floor_log2(self, p):
        return np.frexp(p)[1].astype(np.float64) - 1.0


def _split(f: _DF, d):
    """``logkf``'s :math:`d = m 2^e`, :math:`m \\in [3/4, 3/2)`, for positive finite d."""
    xp = f.xp
    one = f.c(1.0)
    tiny = d < f.c(_FLT_MIN)
    d = d * xp.where(tiny, f.c(2.0 ** 64), one)           # exact
    # SLEEF takes the exponent of fl(d * fl(4/3)), which is +inf (exponent 128) near
    # FLT_MAX; halving the top binade first gives the same exponent without overflow.
    big = d >= f.c(2.0 ** 127)
    p = (d * xp.where(big, f.c(0.5), one)) * f.c(_FOUR_THIRDS)    # rounded, as SLEEF does
    e = f.floor_log2(xp.astype(p, xp.float64))             # the binary exponent
    e = xp.where(big, e + 1.0, e)
    m = xp.astype(xp.astype(d, xp.float64) * f.pow2(-e), xp.float32)        # exact
    e = xp.where(tiny, e - 64.0, e)
    return m, xp.astype(e, xp.float32)


def _logk(f: _DF, d):
    """SLEEF's ``logkf``: :math:`\\log d` as a double word, for positive finite d."""
    m, e = _split(f, d)
    one = f.c(1.0)
    a = f.div(f.add2_f_f(-one, m), f.add2_f_f(one, m))
    a2 = f.squ(a)
    t = f.c(_LOG_POLY[0])
    for coefficient in _LOG_POLY[1:]:
        t = fma(t, a2[0], f.c(coefficient))
    c = (f.c(_C_HI), f.c(_C_LO))
    s = f.mul_df_f((f.c(_LN2_HI), f.c(_LN2_LO)), e)
    two_a = (a[0] * f.c(2.0), a[1] * f.c(2.0))
    tail = f.mul_df_df(f.mul_df_df(a2, a), f.add2_df_df(f.mul_df_f(a2, t), c))
    # SLEEF 3.6 and later: (e ln2 + 2a) + tail with dfadd (earlier releases summed
    # e ln2 + (2a + tail) with dfadd2, which rounds a few inputs in 10^6 the other way).
    return f.add_df_df(f.add_df_df(s, two_a), tail)


def _expk(f: _DF, d):
    """SLEEF's ``expkf``: :math:`e^{d}` of a double word, rounded to float32."""
    xp = f.xp
    u = (d[0] + d[1]) * f.c(_R_LN2)
    q = xp.round(u)                                        # cvtps2dq: nearest, ties even
    s = f.add2_df_f(d, q * f.c(-_L2U))
    s = f.add2_df_f(s, q * f.c(-_L2L))
    s = f.normalize(s)
    u = f.c(_EXP_POLY[0])
    for coefficient in _EXP_POLY[1:]:
        u = fma(u, s[0], f.c(coefficient))
    t = f.add_df_df(s, f.mul_df_f(f.squ(s), u))
    t = f.add_f_df(f.c(1.0), t)
    r = f.ldexp(t[0] + t[1], q)
    return xp.where(d[0] < f.c(-104.0), f.c(0.0), r)


def _vector_powf(f: _DF, x, y):
    """``xpowf`` on every element, with SLEEF's special cases."""
    xp = f.xp
    zero, one, inf, nan = f.c(0.0), f.c(1.0), f.c(math.inf), f.c(math.nan)
    ax = xp.abs(x)
    regular = (ax > zero) & (ax < inf)
    safe_x = xp.where(regular, ax, one)
    safe_y = xp.where(xp.isfinite(y), y, one)
    log = _logk(f, safe_x)
    result = _expk(f, f.mul_df_f(log, safe_y))
    result = xp.where(xp.isnan(result), inf, result)

    y_is_int = (xp.trunc(y) == y) | (xp.abs(y) > f.c(2.0 ** 24))
    half = y * f.c(0.5)
    y_is_odd = y_is_int & (xp.abs(y) < f.c(2.0 ** 24)) & (xp.trunc(half) != half)
    sign = xp.where(x > zero, one, xp.where(y_is_int, xp.where(y_is_odd, -one, one), nan))
    result = result * sign

    efx = xp.where(y < zero, -(ax - one), ax - one)       # (|x| - 1) with y's sign
    at_inf_y = xp.where(efx < zero, zero, xp.where(efx == zero, one, inf))
    result = xp.where(xp.isinf(y), at_inf_y, result)

    edge = xp.isinf(x) | (x == zero)
    toward = xp.where(x == zero, -y, y)
    edge_value = xp.where(toward < zero, zero, inf)
    edge_value = xp.where(y_is_odd, xp.where(xp.signbit(x), -edge_value, edge_value),
                          edge_value)
    result = xp.where(edge, edge_value, result)
    result = xp.where(xp.isnan(x) | xp.isnan(y), nan, result)
    return xp.where((y == zero) | (x == one), one, result)


def sleef_powf(x, exponent, *, capability: str = "avx512", threads: int = 1):
    """``x ** exponent`` for a float32 array as ``torch.pow(x, tensor(exponent))`` computes it
    on CPU: SLEEF's ``powf`` (u10, FMA) on the vectorized elements, glibc's ``powf`` on the
    scalar tail of ``n % SLEEF_LOOP_WIDTHS[capability]`` elements.

    Args:
        x: float32 array (any shape), taken in C order as ATen's contiguous loop does.
        exponent: a Python float (rounded to float32 first, as the 0-d tensor Keras builds)
            or a float32 array broadcastable to ``x``.
        capability: ``"avx512"`` (ATen's default on a CPU with AVX-512), ``"avx2"``
            (``ATEN_CPU_CAPABILITY=avx2``) or ``"none"`` (no scalar tail).
        threads: torch's intra-op thread count, which places the tails past 32768 elements.

    The reference formulation is :func:`sleef_powf_array_api`.
    """
    if capability not in SLEEF_LOOP_WIDTHS:
        raise ValueError(f"unknown capability {capability!r}; expected one of "
                         f"{tuple(SLEEF_LOOP_WIDTHS)}")
    scalar = not hasattr(exponent, "dtype")
    if (_numerics._numpy_float32(x) and (scalar or _numerics._numpy_float32(exponent))
            and math.prod(x.shape) > 1):
        return _sleef_powf_numpy(x, exponent, capability, threads)
    return sleef_powf_array_api(x, exponent, capability=capability, threads=threads)


def sleef_powf_array_api(x, exponent, *, capability: str = "avx512", threads: int = 1):
    """:func:`sleef_powf` for any Array-API namespace (the reference formulation)."""
    if capability not in SLEEF_LOOP_WIDTHS:
        raise ValueError(f"unknown capability {capability!r}; expected one of "
                         f"{tuple(SLEEF_LOOP_WIDTHS)}")
    xp = array_namespace(x)
    if x.dtype != xp.float32:
        raise TypeError(f"sleef_powf: float32 input expected, got {x.dtype}")
    f = _DF(xp, x)
    y = exponent if hasattr(exponent, "dtype") else f.c(float(exponent))
    y = xp.astype(y, xp.float32)
    y = xp.broadcast_to(y, x.shape) if y.shape != x.shape else y
    out = _vector_powf(f, x, y)

    width = SLEEF_LOOP_WIDTHS[capability]
    n = math.prod(x.shape)
    tail = scalar_tail(n, width, threads)
    if tail.size:
        from eps_ref.rules._libm_pow import powf_glibc
        scalar = powf_glibc(x, y)
        in_tail = np.zeros(n, bool)
        in_tail[tail] = True
        mask = xp.reshape(xp.asarray(in_tail, device=_device(x)), x.shape)
        out = xp.where(mask, scalar, out)
    return out


def _sleef_powf_numpy(x, exponent, capability, threads):
    """:func:`sleef_powf` for NumPy float32 arrays: ``xpowf``'s core block by block on the
    positive finite bases other than 1 with finite nonzero exponents (a NaN result reads as
    infinity, as in :func:`_vector_powf`); the other elements go to :func:`_vector_powf`."""
    import array_api_compat.numpy as xp

    y = np.float32(exponent) if not hasattr(exponent, "dtype") else exponent
    shape = x.shape
    y = np.broadcast_to(np.asarray(y, np.float32), shape)
    fx = np.ascontiguousarray(x).reshape(-1)
    fy = float(y.reshape(-1)[0]) if y.size and y.strides == (0,) * y.ndim else (
        np.ascontiguousarray(y).reshape(-1))
    n = fx.shape[0]
    reference = lambda xs, ys: _vector_powf(_DF(xp, xs), xs, ys)    # noqa: E731
    with np.errstate(all="ignore"):
        if _compiled.enabled():
            out = _compiled.sleef_powf(fx, np.float32(fy) if isinstance(fy, float) else fy,
                                       reference)
        else:
            out = _core_blocks(fx, fy, reference)
        tail = scalar_tail(n, SLEEF_LOOP_WIDTHS[capability], threads)
        if tail.size:
            from eps_ref.rules._libm_pow import powf_glibc
            ys = np.full(tail.size, fy, np.float32) if isinstance(fy, float) else fy[tail]
            out[tail] = powf_glibc(fx[tail], ys)
    return out.reshape(shape)


def _core_blocks(fx, fy, reference):
    """``xpowf``'s core of the flat ``fx`` and ``fy`` (an array or a Python float) block by
    block: the NumPy path of :func:`_sleef_powf_numpy`."""
    import array_api_compat.numpy as xp

    n = fx.shape[0]
    out = np.empty(n, np.float32)
    deferred = _numerics.Deferred()
    f = _DFNumpy(xp, fx)
    one = np.float32(1.0)
    for start, stop in _numerics.blocks(n, _numerics.POW_BLOCK):
        xb = fx[start:stop]
        yb = np.float32(fy) if isinstance(fy, float) else fy[start:stop]
        regular = (xb > 0) & (xb < math.inf) & (xb != 1.0) & np.isfinite(yb) & (yb != 0)
        safe_x = np.where(regular, xb, one)
        safe_y = np.where(regular, yb, one)
        result = _expk(f, f.mul_df_f(_logk(f, safe_x), safe_y))
        out[start:stop] = np.where(np.isnan(result), np.float32(math.inf), result)
        if not regular.all():
            idx = np.flatnonzero(~regular)
            ys = np.full(idx.shape, yb, np.float32) if yb.ndim == 0 else yb[idx]
            deferred.add(reference, start, idx, xb[idx], ys)
    deferred.apply(out)
    return out

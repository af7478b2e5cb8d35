r"""Square roots and reciprocal square roots as CPU kernels compute them in float32.

numpy, Eigen's ``psqrt`` and XLA's ``sqrt`` round the square root correctly, and
``1 / sqrt(x)`` then rounds twice. Three kernels the frameworks run compute something else on
x86 CPUs: they start from the hardware estimate :math:`y_0 = \mathrm{RSQRTPS}(x)` (12 bits) and
refine it.

Reciprocal square roots (:func:`rsqrt`), one Newton-Raphson step

.. math::

    h = (x y_0) y_0 - 1, \qquad y = \left(-\tfrac{1}{2} y_0\right) h + y_0,

within about 2 ULP of :math:`1/\sqrt{x}` but not always its rounded value:

``"eigen_rsqrtps_newton"``
    Eigen's ``prsqrt`` for ``Packet8f`` under ``EIGEN_FAST_MATH`` (``generic_rsqrt_newton_step``
    with one step). TensorFlow's CPU kernels run it (``ApplyAdagrad``, ``tf.math.rsqrt``);
    the TensorFlow wheel is built without FMA, so every multiply and add rounds. Where the
    estimate is 0 or infinite it is returned as is. Eigen evaluates whole packets of 8
    elements and finishes the flat tail (the last ``n % 8`` elements) with the scalar
    ``1 / sqrt(x)``, subnormal inputs flushed to zero (TensorFlow sets FTZ/DAZ).
``"xla_rsqrtps_newton_fma"``
    XLA's CPU ``rsqrt`` intrinsic (``xla/codegen/intrinsic/rsqrt.cc``) as it runs on AMD CPUs:
    the same estimate and one step whose multiply-adds are fused (FMA), on every element;
    inputs below the smallest normal float32, or infinite, get the bare estimate.
    ``jax.lax.rsqrt`` runs it.
``"one_over_sqrt"``
    ``1 / sqrt(x)``, each operation rounded once.

Square roots (:func:`sqrt`):

``"mkl_goldschmidt_rsqrtps"``
    ``torch.sqrt`` on CPU calls MKL's ``vmsSqrt`` (``VML_HA``; ``ATen/cpu/vml.h``). On a CPU
    that is not Intel's, MKL runs its generic SSE kernel ``mkl_vml_kernel_sSqrt_EXHAynn``:
    one Goldschmidt iteration from the estimate, then a residual correction, every
    operation rounded (no FMA),

    .. math::

        s = y_0 x,\ h = \tfrac12 y_0,\ r = \tfrac12 - s h,\ s' = s r + s,\ h' = h r + h,
        \ \sqrt{x} \approx (x - s' s') h' + s',

    within 0.75 ULP (about one input in six rounds the other way). Zero, subnormal,
    infinite, NaN, negative inputs and those of the top binade (:math:`x \ge 2^{127}`) take
    MKL's exact path.
``"correctly_rounded"``
    the IEEE square root.

The estimate is not fixed by the x86 architecture; each CPU vendor has its own. The one here
was measured on AMD EPYC (Zen 4, family 25 model 17) with ``_mm256_rsqrt_ps`` over every
float32 in [1, 4): it depends only on the exponent's parity and the top 12 bits of the
significand, scales by :math:`2^{-k}` when the input scales by :math:`4^k`, and has 12
significant bits, so 8192 values describe it. It gives 0 for +inf, an infinity signed as the
input for inputs below the smallest normal float32 in magnitude, and NaN for negative ones.
On Intel CPUs the estimates differ, XLA takes two Newton steps and MKL runs other kernels,
so there these three methods differ from the emulation here by an ULP or so per call.
float64 inputs are computed correctly rounded by every method.

Each function is written once in the Array API (``*_array_api``, the reference formulation:
exact float64 arithmetic, since the Array API has no bit casts). NumPy float32 arrays take a
fast path that computes the same bits from the float32 bit patterns, block by block
(:mod:`eps_ref.rules._numerics`): the estimate is one table lookup and an integer exponent
shift, the correctly rounded square root is NumPy's float32 ``sqrt`` (the IEEE instruction),
and the refinements run in float32 as the kernels do.
"""

from __future__ import annotations

import base64
import math

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import _compiled, _numerics
from eps_ref.rules._numerics import fma

__all__ = ["RSQRT_METHODS", "SQRT_METHODS", "EIGEN_PACKET_SIZE", "rsqrt", "sqrt",
           "rsqrtps_estimate", "rsqrt_array_api", "sqrt_array_api",
           "rsqrtps_estimate_array_api"]

RSQRT_METHODS = ("one_over_sqrt", "eigen_rsqrtps_newton", "xla_rsqrtps_newton_fma")
SQRT_METHODS = ("correctly_rounded", "mkl_goldschmidt_rsqrtps")

EIGEN_PACKET_SIZE = 8
"""float32 lanes per Eigen packet in TensorFlow's CPU kernels (``Packet8f``, AVX)."""

_FLT_MIN = 2.0 ** -126
_TOP_BINADE = 2.0 ** 127
_FLT_MIN_BITS = 0x00800000
_INF_BITS = 0x7F800000
_TOP_BINADE_BITS = 0x7F000000

# RSQRTPS estimates for x in [1, 4): entry i = 4096 p + j covers
# x in [2^p (1 + j/4096), 2^p (1 + (j+1)/4096)) and holds N_i / 8192. N_i starts below 8192
# and never increases; it is stored as its decrements (0, 1 or 2), four 2-bit fields to a
# byte, low bits first, base64-encoded.
_DECREMENTS = (
    "VVVUVVZVVFVWVVRVVVVUVVZVVFVWVVRVVVVUVVVVVFVWVVRVVVVUVVVVVFVVVVRVVVVUVVVVVFVVVVRVVFVUVVVU"
    "VVRWVFVUVVRVVFZUVVRVVFVUVVRVVFVUVVRVVFVUVVRVVFVUVVRVVFVUVVRVVFVUVVRUVFVUVVRVVFRUVVQVVVRF"
    "FVVURRZVVEUVVVRFFVVURRVVVEUVVVRFFVVURRVVVEUVVVRFFFVURRVVVEUVVVRFFFVURRVVVEUUVVRFFUVFRRVF"
    "RUUWRUVFFUVFRRVFRUUVRUVFFUVFRRVFRUUVRUVFFUVFRRRFRUUVRUVFFUVFRRRFRUUVRUVFFEVFRVJUFEVRVBRF"
    "UVQURVJUFEVRVBRFUVQURVFUFEVRVBRFUVQURVFUFEVRVBRFUVQURVFUFEVRVBRFUFQURVFUFEVFUURRRFFEUUVR"
    "RFFEUURRRVFEUURRRFFFUURRRFFEUURRRFFEUURRRVFEUURRRFFEUURRRFFEUURRRFFEUURRUEQURVFEFEVRRBRF"
    "UUQURVFEFEVQRBRFUUQURVFEFEVQRBRFUUQURVBEFEVRRBRFUEQURVFEFEVQRBRFUEQURRFRRBQRUUQUEVFEFBJR"
    "RBQRUUQUEVFEFBFRRBQRUUQUEVFEFBFRRBQRUUQUEVFEFBFRRBQQUUQUEVFEFBFRRBRERERERUREREVERERERERE"
    "RURERERERERFREREREREREVERERERERERURERERERERERERERUREREREREREREREERERERERERERERERERERERER"
    "ERERERERERERERERERERERERERERERERERERERERERERERARERERERERERERERERREQREUREEBFERBERREQREURE"
    "EBFERBERREQQEUREERFERBARREQREUREEBFERBERREQQEUREEBFERBERREREEBFBRBARQUQQEUFEEBFBRRARQUQQ"
    "EUFEEBFBRBARQUQQEUFEEBFBRBARQUQQEUFEEBFBRBARQUQQEUFEEBFBEUQQERFEEBERRBAREEQQERFEEBERRBAR"
    "EUQQERFEEBEQRBAREUQQERFEEBEQRBAREUQQERFEEBEQRBAREUQQERBBBEERQQRBEEEEQRFBBEEQQQRBEUEEQRBB"
    "BEERQQRBEEEEQRBBBEERQQRBEEEEQRBBBEERQQRBEEEEQRBBBEERRBBBEEQQQRBEEEEQRBBBEEQQQRBEEEEQRBBB"
    "EUQQQRBEEEEQRBBBEEQQQRBEEEEQRBBBEEQQQRBEEEEQRBBBQBBBEEEQQRBBEEEQQRBBEEEQQRBAEEEQQRBBEEEQ"
    "QRBBEEEQQRBBEEAQQRBBEEEQQRBBEEEQQRBAEEEQQRBBEEVRFEVFURRFRVEURUZRFEVFURRFRFEURUVRFEVFURRF"
    "RVEURUVRFEVEURRFRVEURUVRFEVEURRFRVEURURRFEVRRFEUUURRFFFEURRSRFEUUURRFFFEURRRRFEUUURRFFFE"
    "URRQRFEUUURRFFFEURRRRFEUUERRFFFEURRQRFEUUUQUEVJEFBFRRBQRUUQUEVJEFBFRRBQRUUQUEVFEFBFRRBQR"
    "UUQUEVFEFBFRRBQRUUQUEVFEFBFRRBQRUUQUEVFERERQREREUURERFFERERQREREUURERFBERERRREREUERERFBE"
    "RERRREREUERERFBERERRREREUERERFBEREQQERERERERERERERERERERERERERERERERERERERERERERERERERER"
    "EBEREREREREREREREBEREREREREQERERBRERQQQREUEFERFBBBERQQUREUEEERFBBBERQQUREUEEERFBBBERQQQR"
    "EUEFERFBBBERQQQREUEEERFBBBERQRBBRBARQUQQEUFEEBFBRBARQUQQEUFEEBFBRBARQUQQEEFEEBFBRBARQUQQ"
    "EUFEEBBBRBARQUQQEUFEEBBBRBARQQQREEEEERFBBBEQQQQREUEEERBBBBERQQQREEEEERBBBBERQQQREEEEERBB"
    "BBERQQQREEEEERBBBBEQQQQRQQRBBEEEQQRBBEEEQQRBBEEEQQRBBEEEQQRBBEEEQQRBBEEEQQRBBEEEQQRBBEEE"
    "QQRBBEEEQQRBBEEEQARBBBEEQRARBEEQEQRBEBAEQRARBEEQEQRBEBEEQRAQBEEQEQRBEBAEQRARBEEQEQRBEBAE"
    "QRARBEEQEARBEBEEQRAQBEEQEARBEBEEQRAQBEEQEQRBEBAEQRAQBEEQEQRBEBAEQRAQBEEQEQRBEBAEQRAQBEEQ"
    "EARBEBAEQRARBEEQBEEQEARBEBAEQRAQBEEQEARBEBAEQRAQBEEQEARBEBAEQRAQBEEQEARBEBAEQRAQBEEQEARB"
    "EBAEQRAQBEEQEEEQEARAEBAEQRAQBEEQEARBEBAEQRAQBEEQEARAEBAEQRAQBEEQEARBEBAEQBAQBEEQEARBEBAE"
    "QBAQBEEQEARBEBAEQBAQBEEQEARAEBAEQRAQBEEQEARAEBAEQRAQBEAQEARBEBAEQBAQBEEQEARAEBAEQRAQBEAQ"
    "EARAEBAEERAQEBAQEBAREBAQEBAQEBAQEBAREBAQEBAQEBAQEBAREBAQEBAQEBAQEBAQEBAQERAQEBAQEBAQEBAQ"
    "EBAQEBEQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAREBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
    "EBA="
)


def _estimate_table() -> tuple[float, ...]:
    n, out = 8192, []
    for byte in base64.b64decode("".join(_DECREMENTS)):
        for shift in (0, 2, 4, 6):
            n -= (byte >> shift) & 3
            out.append(n / 8192)
    return tuple(out)


_TABLE = _estimate_table()

# 2^k for the integers |k| < 256, exact in float64.
_POWERS_OF_TWO = tuple(math.ldexp(1.0, k) for k in range(-255, 256))


def _exp2(xp, k):
    """:math:`2^k` for a float64 array of integers :math:`|k| < 256`, looked up in a table of
    exact powers of two (a library ``pow`` or ``exp2``, such as MKL's, need not be exact)."""
    table = xp.asarray(_POWERS_OF_TWO, dtype=k.dtype, device=_device(k))
    index = xp.reshape(xp.astype(k + 255.0, xp.int64), (-1,))
    return xp.reshape(xp.take(table, index, axis=0), k.shape)


def _sqrt_correctly_rounded(x):
    """IEEE ``sqrt``. ``torch.sqrt`` of float32 is MKL's (not rounded correctly), so float32
    goes through float64, whose square root rounds back to the float32 one exactly (NumPy's
    fast path, :func:`sqrt`, takes NumPy's float32 ``sqrt``: the IEEE instruction)."""
    xp = array_namespace(x)
    if x.dtype == xp.float32:
        return xp.astype(xp.sqrt(xp.astype(x, xp.float64)), xp.float32)
    return xp.sqrt(x)


def rsqrtps_estimate(x):
    """The x86 ``RSQRTPS`` estimate of :math:`1/\\sqrt{x}` (AMD Zen 4) for a float32 array.

    The reference formulation is :func:`rsqrtps_estimate_array_api`; NumPy arrays take the
    equivalent bit-level fast path."""
    if _numerics._numpy_float32(x) and math.prod(x.shape) > 1:
        return _numpy_kernel(x, _estimate_block, 1)
    return rsqrtps_estimate_array_api(x)


def rsqrtps_estimate_array_api(x):
    """:func:`rsqrtps_estimate` for any Array-API namespace (the reference formulation).

    Computed exactly in float64: split :math:`x = m\\,2^{e}` with :math:`m \\in [1, 2)`, look
    up the entry for :math:`(e \\bmod 2,\\ \\lfloor 4096 (m - 1) \\rfloor)` and scale it by
    :math:`2^{-(e - e \\bmod 2)/2}`; every step is exact, so is the cast back to float32.
    """
    xp = array_namespace(x)
    f64 = xp.float64
    x64 = xp.astype(x, f64)
    normal = (x64 >= _FLT_MIN) & (x64 < math.inf)
    safe = xp.where(normal, x64, xp.asarray(1.0, dtype=f64))
    e = xp.floor(xp.log2(safe))
    m = safe * _exp2(xp, -e)
    # log2 may round across a power of two; one correction each way makes m exact in [1, 2).
    e = xp.where(m >= 2.0, e + 1.0, xp.where(m < 1.0, e - 1.0, e))
    m = safe * _exp2(xp, -e)
    parity = xp.remainder(e, 2.0)
    index = xp.astype(parity * 4096.0 + xp.floor((m - 1.0) * 4096.0), xp.int64)
    table = xp.asarray(_TABLE, dtype=f64, device=_device(x))
    entry = xp.take(table, xp.reshape(index, (-1,)), axis=0)
    y = xp.reshape(entry, x.shape) * _exp2(xp, -(e - parity) / 2.0)
    inf = xp.asarray(math.inf, dtype=f64)
    special = xp.where(x64 == math.inf, xp.asarray(0.0, dtype=f64),
                       xp.where(xp.abs(x64) < _FLT_MIN, xp.where(xp.signbit(x64), -inf, inf),
                                xp.asarray(math.nan, dtype=f64)))
    y = xp.where(normal, y, special)
    return xp.astype(y, x.dtype)


def _newton_step(x, y, fused: bool):
    xp = array_namespace(x, y)
    r2 = x * y
    half_y = y * -0.5
    if fused:
        return fma(half_y, fma(r2, y, xp.full_like(y, -1.0)), y)
    return half_y * (r2 * y - 1.0) + y


def rsqrt(x, method: str = "one_over_sqrt"):
    """:math:`1/\\sqrt{x}` elementwise, as the kernel ``method`` computes it (see the module
    docstring): ``"one_over_sqrt"``, ``"eigen_rsqrtps_newton"`` or ``"xla_rsqrtps_newton_fma"``.
    The reference formulation is :func:`rsqrt_array_api`.
    """
    if method not in RSQRT_METHODS:
        raise ValueError(f"unknown rsqrt method {method!r}; expected one of {RSQRT_METHODS}")
    if not (_numerics._numpy_float32(x) and math.prod(x.shape) > 1):
        return rsqrt_array_api(x, method)
    if method == "one_over_sqrt":
        return np.divide(np.float32(1.0), np.sqrt(x))
    out = _numpy_kernel(x, _eigen_block if method == "eigen_rsqrtps_newton" else _xla_block,
                        2 if method == "eigen_rsqrtps_newton" else 3)
    n = math.prod(x.shape)
    tail = n % EIGEN_PACKET_SIZE
    if method == "eigen_rsqrtps_newton" and tail:
        flat = out.reshape(-1)
        flat[n - tail:] = rsqrt_array_api(x.reshape(-1)[n - tail:], method)
    return out


def rsqrt_array_api(x, method: str = "one_over_sqrt"):
    """:func:`rsqrt` for any Array-API namespace (the reference formulation)."""
    xp = array_namespace(x)
    if method not in RSQRT_METHODS:
        raise ValueError(f"unknown rsqrt method {method!r}; expected one of {RSQRT_METHODS}")
    if method == "one_over_sqrt" or x.dtype != xp.float32:
        return 1.0 / _sqrt_correctly_rounded(x)
    y = rsqrtps_estimate_array_api(x)
    # The estimate of a non-normal input is final in both kernels (Eigen keeps an estimate
    # of 0 or inf, XLA one of an input below FLT_MIN or infinite); refine the others.
    bare = (x < _FLT_MIN) | (x == math.inf) | xp.isnan(x)
    one = xp.ones_like(x)
    safe_x, safe_y = xp.where(bare, one, x), xp.where(bare, one, y)
    fused = method == "xla_rsqrtps_newton_fma"
    out = xp.where(bare, y, _newton_step(safe_x, safe_y, fused=fused))
    n = math.prod(x.shape)
    tail = n % EIGEN_PACKET_SIZE
    if fused or tail == 0:
        return out
    flat_index = xp.reshape(xp.arange(n, device=_device(x)), x.shape)
    in_tail = flat_index >= n - tail
    # TensorFlow runs its kernels with denormals flushed to zero: 1/sqrt(+-0) = +-inf.
    flushed = xp.abs(x) < _FLT_MIN
    scalar = 1.0 / _sqrt_correctly_rounded(xp.where(in_tail & ~flushed, x, one))
    inf = xp.full_like(x, math.inf)
    scalar = xp.where(flushed, xp.where(xp.signbit(x), -inf, inf), scalar)
    return xp.where(in_tail, scalar, out)


def sqrt(x, method: str = "correctly_rounded"):
    """:math:`\\sqrt{x}` elementwise, as the kernel ``method`` computes it (see the module
    docstring): ``"correctly_rounded"`` or ``"mkl_goldschmidt_rsqrtps"``. The reference
    formulation is :func:`sqrt_array_api`."""
    if method not in SQRT_METHODS:
        raise ValueError(f"unknown sqrt method {method!r}; expected one of {SQRT_METHODS}")
    if not (_numerics._numpy_float32(x) and math.prod(x.shape) > 1):
        return sqrt_array_api(x, method)
    if method == "correctly_rounded":
        return np.sqrt(x)
    return _numpy_kernel(x, _mkl_block, 4)


def sqrt_array_api(x, method: str = "correctly_rounded"):
    """:func:`sqrt` for any Array-API namespace (the reference formulation)."""
    xp = array_namespace(x)
    if method not in SQRT_METHODS:
        raise ValueError(f"unknown sqrt method {method!r}; expected one of {SQRT_METHODS}")
    exact = _sqrt_correctly_rounded(x)
    if method == "correctly_rounded" or x.dtype != xp.float32:
        return exact
    fast = (x >= _FLT_MIN) & (x < _TOP_BINADE)
    safe = xp.where(fast, x, xp.ones_like(x))
    y = rsqrtps_estimate_array_api(safe)
    s = y * safe
    h = y * 0.5
    r = 0.5 - s * h
    s = s * r + s
    h = h * r + h
    return xp.where(fast, (safe - s * s) * h + s, exact)


# -- NumPy fast paths -----------------------------------------------------------------------
#
# Each block function computes ``out`` (float32, one block) from the float32 block ``x``
# (elements ``start:start + len(x)``) with scratch buffers ``f`` (float32 blocks) and
# ``scratch`` (an FmaScratch), exactly for the positive normal inputs, and defers the others
# (zeros, subnormals, negatives, infinities, NaN; for MKL's sqrt also the top binade) to
# the reference formulation.

def _estimate_table_bits():
    """The table as int32 bit patterns, indexed by bits 11-23 of the input (exponent parity
    bit, then the top 12 significand bits), with 64 added to the exponent field."""
    bits = np.asarray(_TABLE, np.float32).view(np.int32)
    permuted = bits[np.arange(8192) ^ 0x1000]       # the reference's index has e mod 2 on top
    return permuted + np.int32(64 << 23)


_TABLE_BITS = _estimate_table_bits()


def _estimate_into(x, y, index):
    """``y`` (float32 block) = the estimate of the positive normal float32 block ``x``.

    With :math:`x = m 2^e`, :math:`E = e + 127` the exponent field, the estimate is the table
    entry for :math:`(e \\bmod 2, \\lfloor 4096 (m-1) \\rfloor)` times :math:`2^{-\\lfloor e/2
    \\rfloor}`, and :math:`\\lfloor e/2 \\rfloor = \\lfloor (E+1)/2 \\rfloor - 64`: subtracting
    that from the entry's exponent field is exact (every entry is in [1/2, 1), every result
    a normal float32). Other inputs give garbage here."""
    bits = x.view(np.int32)
    yb = y.view(np.int32)
    np.right_shift(bits, 11, out=index)
    np.bitwise_and(index, 0x1FFF, out=index)
    np.take(_TABLE_BITS, index, out=yb, mode="wrap")
    np.add(bits, _FLT_MIN_BITS, out=index)
    np.right_shift(index, 1, out=index)
    np.bitwise_and(index, _INF_BITS, out=index)
    np.subtract(yb, index, out=yb)


def _defer_outside(x, low_bits, high_bits, scratch, deferred, start, function):
    """Defer to ``function`` the elements of the float32 block ``x`` whose bit pattern, read
    unsigned, is not in ``[low_bits, high_bits)`` (negatives read as large)."""
    k = x.shape[0]
    u = scratch.u.view(np.uint32)[:k]
    m = scratch.m[:k]
    np.subtract(x.view(np.uint32), np.uint32(low_bits), out=u)
    np.greater_equal(u, np.uint32(high_bits - low_bits), out=m)
    if m.any():
        idx = np.flatnonzero(m)
        deferred.add(function, start, idx, x[idx])


def _estimate_block(x, out, f, scratch, deferred, start):
    _estimate_into(x, out, f[0].view(np.int32)[:x.shape[0]])
    _defer_outside(x, _FLT_MIN_BITS, _INF_BITS, scratch, deferred, start,
                   rsqrtps_estimate_array_api)


def _eigen_block(x, out, f, scratch, deferred, start):
    """Eigen's Newton step, every operation rounded: ``(-y/2) (x y y - 1) + y``."""
    k = x.shape[0]
    y, t = f[0][:k], f[1][:k]
    _estimate_into(x, y, t.view(np.int32))
    np.multiply(x, y, out=t)
    np.multiply(t, y, out=t)
    np.subtract(t, np.float32(1.0), out=t)
    np.multiply(y, np.float32(-0.5), out=out)
    np.multiply(out, t, out=out)
    np.add(out, y, out=out)
    _defer_outside(x, _FLT_MIN_BITS, _INF_BITS, scratch, deferred, start,
                   rsqrtps_estimate_array_api)


def _xla_block(x, out, f, scratch, deferred, start):
    """XLA's fused step ``fma(-y/2, fma(x y, y, -1), y)``. The inner product :math:`p = (x
    y) y` is exact in float64 and within :math:`2^{-9}` of 1 (the estimate has 12 bits), so
    :math:`p - 1` is exact too (Sterbenz): one rounding to float32 is the FMA's."""
    k = x.shape[0]
    y, r2, hy = f[0][:k], f[1][:k], f[2][:k]
    _estimate_into(x, y, r2.view(np.int32))
    np.multiply(x, y, out=r2)
    s, t = scratch.s[:k], scratch.t[:k]
    np.copyto(s, r2)
    np.copyto(t, y)
    np.multiply(s, t, out=s)
    np.subtract(s, 1.0, out=s)
    np.copyto(r2, s, casting="same_kind")                       # h = fma(r2, y, -1)
    np.multiply(y, np.float32(-0.5), out=hy)
    _numerics.fma_block(hy, r2, y, out, scratch, deferred, start)
    _defer_outside(x, _FLT_MIN_BITS, _INF_BITS, scratch, deferred, start,
                   rsqrtps_estimate_array_api)


def _mkl_block(x, out, f, scratch, deferred, start):
    """MKL's Goldschmidt iteration and residual correction, every operation rounded."""
    k = x.shape[0]
    y, s, h, t = f[0][:k], f[1][:k], f[2][:k], f[3][:k]
    _estimate_into(x, y, t.view(np.int32))
    np.multiply(y, x, out=s)
    np.multiply(y, np.float32(0.5), out=h)
    np.multiply(s, h, out=t)
    np.subtract(np.float32(0.5), t, out=y)                     # y is r from here on
    np.multiply(s, y, out=t)
    np.add(t, s, out=s)
    np.multiply(h, y, out=t)
    np.add(t, h, out=h)
    np.multiply(s, s, out=t)
    np.subtract(x, t, out=t)
    np.multiply(t, h, out=t)
    np.add(t, s, out=out)
    _defer_outside(x, _FLT_MIN_BITS, _TOP_BINADE_BITS, scratch, deferred, start, np.sqrt)


def _numpy_kernel(x, block_fn, temporaries: int):
    """Run ``block_fn`` over a NumPy float32 array block by block (or its compiled loop,
    :func:`eps_ref.rules._compiled.root_kernel`); returns a new array of ``x``'s shape."""
    flat = np.ascontiguousarray(x).reshape(-1)
    if block_fn in _COMPILED and _compiled.enabled():
        kind, deferred_to = _COMPILED[block_fn]
        with np.errstate(all="ignore"):
            return _compiled.root_kernel(flat, kind, _TABLE_BITS, deferred_to).reshape(x.shape)
    n = flat.shape[0]
    out = np.empty(n, np.float32)
    size = min(n, _numerics.BLOCK)
    f = [np.empty(size, np.float32) for _ in range(temporaries)]
    scratch = _numerics.FmaScratch(size)
    deferred = _numerics.Deferred()
    with np.errstate(all="ignore"):
        for start, stop in _numerics.blocks(n):
            block_fn(flat[start:stop], out[start:stop], f, scratch, deferred, start)
        deferred.apply(out)
    return out.reshape(x.shape)


# The block functions the compiled kernels replace: (kernel, what they defer to).
_COMPILED = {
    _estimate_block: ("estimate", rsqrtps_estimate_array_api),
    _eigen_block: ("eigen_rsqrtps_newton", rsqrtps_estimate_array_api),
    _xla_block: ("xla_rsqrtps_newton_fma", rsqrtps_estimate_array_api),
    _mkl_block: ("mkl_goldschmidt_rsqrtps", np.sqrt),
}

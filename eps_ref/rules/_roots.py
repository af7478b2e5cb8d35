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
"""

from __future__ import annotations

import base64
import math

from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules._numerics import fma

__all__ = ["RSQRT_METHODS", "SQRT_METHODS", "EIGEN_PACKET_SIZE", "rsqrt", "sqrt",
           "rsqrtps_estimate"]

RSQRT_METHODS = ("one_over_sqrt", "eigen_rsqrtps_newton", "xla_rsqrtps_newton_fma")
SQRT_METHODS = ("correctly_rounded", "mkl_goldschmidt_rsqrtps")

EIGEN_PACKET_SIZE = 8
"""float32 lanes per Eigen packet in TensorFlow's CPU kernels (``Packet8f``, AVX)."""

_FLT_MIN = 2.0 ** -126
_TOP_BINADE = 2.0 ** 127

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


def _exp2(xp, k):
    """:math:`2^k` for a float64 array of integers :math:`|k| < 256`, by exact products of
    powers of two (a library ``pow`` or ``exp2``, such as MKL's, need not be exact)."""
    magnitude = xp.abs(k)
    out = xp.ones_like(k)
    for bit in range(8):
        on = xp.remainder(xp.floor(magnitude / 2.0 ** bit), 2.0) == 1.0
        factor = xp.where(k < 0, xp.asarray(2.0 ** -(2 ** bit), dtype=k.dtype),
                          xp.asarray(2.0 ** (2 ** bit), dtype=k.dtype))
        out = xp.where(on, out * factor, out)
    return out


def _sqrt_correctly_rounded(x):
    """IEEE ``sqrt``. ``torch.sqrt`` of float32 is MKL's (not rounded correctly), so float32
    goes through float64, whose square root rounds back to the float32 one exactly."""
    xp = array_namespace(x)
    if x.dtype == xp.float32:
        return xp.astype(xp.sqrt(xp.astype(x, xp.float64)), xp.float32)
    return xp.sqrt(x)


def rsqrtps_estimate(x):
    """The x86 ``RSQRTPS`` estimate of :math:`1/\\sqrt{x}` (AMD Zen 4) for a float32 array.

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
    """
    xp = array_namespace(x)
    if method not in RSQRT_METHODS:
        raise ValueError(f"unknown rsqrt method {method!r}; expected one of {RSQRT_METHODS}")
    if method == "one_over_sqrt" or x.dtype != xp.float32:
        return 1.0 / _sqrt_correctly_rounded(x)
    y = rsqrtps_estimate(x)
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
    docstring): ``"correctly_rounded"`` or ``"mkl_goldschmidt_rsqrtps"``."""
    xp = array_namespace(x)
    if method not in SQRT_METHODS:
        raise ValueError(f"unknown sqrt method {method!r}; expected one of {SQRT_METHODS}")
    exact = _sqrt_correctly_rounded(x)
    if method == "correctly_rounded" or x.dtype != xp.float32:
        return exact
    fast = (x >= _FLT_MIN) & (x < _TOP_BINADE)
    safe = xp.where(fast, x, xp.ones_like(x))
    y = rsqrtps_estimate(safe)
    s = y * safe
    h = y * 0.5
    r = 0.5 - s * h
    s = s * r + s
    h = h * r + h
    return xp.where(fast, (safe - s * s) * h + s, exact)

r"""glibc's float32 ``powf``, operation by operation, in float64 Array-API arithmetic.

The C library's ``powf`` is what XLA:CPU's ``pow`` (``jnp.power`` with a float exponent,
Keras' ``ops.power`` on JAX, optax's ``x ** y``) and the scalar tail of Eigen's ``pow``
call on Linux. Since glibc 2.28 it is the ARM optimized-routines algorithm
(``sysdeps/ieee754/flt-32/e_powf.c``; ``math/powf.c`` in ARM-software/optimized-routines),
which is accurate to 0.82 ULP but not correctly rounded: about 6 inputs in 10,000 come
out one ULP away from the correctly rounded power. This module reproduces it bit for bit.

For positive finite :math:`x` (subnormals normalized) and float32 :math:`y`:

1. :math:`x = 2^k z` with :math:`z \in [z_0, 2 z_0)`, :math:`z_0 = ` ``0x3f330000``
   (0.69921875), and :math:`i` the four bits of :math:`z` after the leading ones of that
   interval (``(bits(z) - 0x3f330000) >> 19``);
2. :math:`\log_2 x \approx k + \log_2 c_i + P(r)`, :math:`r = z / c_i - 1` computed as
   ``z * invc[i] - 1``, :math:`P` a degree-5 polynomial without constant term evaluated in
   the routine's pipelined order (table ``__powf_log2_data``: 16 pairs
   :math:`(1/c_i, \log_2 c_i)` and 5 coefficients);
3. :math:`t = y \log_2 x` in double;
4. :math:`2^t = 2^{j/32} \, 2^{r'}` with :math:`j` the nearest integer to :math:`32 t`
   (obtained by adding and subtracting ``0x1.8p47``, ties to even),
   :math:`r' = t - j/32`, :math:`2^{j/32}` from a 32-entry table (``__exp2f_data.tab``)
   and :math:`2^{r'}` a degree-3 polynomial;
5. the double result rounded once to float32.

Out of range: :math:`t > ` ``0x1.fffffffd1d571p+6`` overflows to infinity,
:math:`t \le -150` underflows to zero, :math:`-150 < t < -149` gives the smallest
subnormal (``__math_may_uflowf``). Negative :math:`x` with integer :math:`y` takes the
sign of :math:`x^y`, otherwise NaN; zeros, infinities and NaNs follow C99 Annex F.

On x86-64 with FMA and AVX2 (every CPU since Haswell) glibc selects ``__powf_fma``, the same
C source compiled with ``-mfma -mavx2``: GCC contracts every ``a * b + c`` into a fused
multiply-add. ``variant="fma"`` (the default) models those contractions, each as
:func:`_fma64` (an error-free product by Veltkamp/Dekker splitting and a two-sum, so the
float64 rounding is single except in double-rounding ties far below float32 resolution);
``variant="no_fma"`` is the generic build (SSE2 only, aarch64 contracts the same way as
``"fma"``).

The numeric tables are data from glibc (``e_powf_log2_data.c``, ``e_exp2f_data.c``, both
(C) Free Software Foundation / ARM, from ARM's optimized-routines); the code is ours.
Only Array-API float64 operations are used (no bit casting): exponents and table indices
are exact integers held in float64. NumPy arrays run the same operations block by block
(:mod:`eps_ref.rules._numerics`), with exponents split and applied by ``frexp`` and
``ldexp`` instead of ``log2`` and ``pow``, and zeros, subnormals, negatives, infinities,
NaN, :math:`x = 1`, :math:`y = 0` and results near underflow handed to the reference
formulation.
"""

from __future__ import annotations

import functools

import math
import struct

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import _compiled, _numerics

__all__ = ["powf_glibc", "powf_glibc_scalar", "VARIANTS", "SUBNORMALS"]

VARIANTS = ("fma", "no_fma")
SUBNORMALS = ("ieee", "flush_to_zero")

# __powf_log2_data.tab: (1/c_i, log2 c_i), POWF_SCALE = 1 (no TOINT_INTRINSICS on x86-64).
_LOG2_INVC = tuple(float.fromhex(h) for h in (
    "0x1.661ec79f8f3bep+0", "0x1.571ed4aaf883dp+0", "0x1.49539f0f010bp+0",
    "0x1.3c995b0b80385p+0", "0x1.30d190c8864a5p+0", "0x1.25e227b0b8eap+0",
    "0x1.1bb4a4a1a343fp+0", "0x1.12358f08ae5bap+0", "0x1.0953f419900a7p+0",
    "0x1p+0", "0x1.e608cfd9a47acp-1", "0x1.ca4b31f026aap-1",
    "0x1.b2036576afce6p-1", "0x1.9c2d163a1aa2dp-1", "0x1.886e6037841edp-1",
    "0x1.767dcf5534862p-1"))
_LOG2_LOGC = tuple(float.fromhex(h) for h in (
    "-0x1.efec65b963019p-2", "-0x1.b0b6832d4fca4p-2", "-0x1.7418b0a1fb77bp-2",
    "-0x1.39de91a6dcf7bp-2", "-0x1.01d9bf3f2b631p-2", "-0x1.97c1d1b3b7afp-3",
    "-0x1.2f9e393af3c9fp-3", "-0x1.960cbbf788d5cp-4", "-0x1.a6f9db6475fcep-5",
    "0x0p+0", "0x1.338ca9f24f53dp-4", "0x1.476a9543891bap-3",
    "0x1.e840b4ac4e4d2p-3", "0x1.40645f0c6651cp-2", "0x1.88e9c2c1b9ff8p-2",
    "0x1.ce0a44eb17bccp-2"))
_LOG2_POLY = tuple(float.fromhex(h) for h in (
    "0x1.27616c9496e0bp-2", "-0x1.71969a075c67ap-2", "0x1.ec70a6ca7baddp-2",
    "-0x1.7154748bef6c8p-1", "0x1.71547652ab82bp0"))

# __exp2f_data.tab[j] holds bits(2^(j/32)) - (j << 47); the value 2^(j/32) is restored here.
_EXP2_TAB_BITS = (
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540)
_EXP2_TAB = tuple(struct.unpack("<d", struct.pack("<Q", b + (j << 47)))[0]
                  for j, b in enumerate(_EXP2_TAB_BITS))
_EXP2_POLY = tuple(float.fromhex(h) for h in (
    "0x1.c6af84b912394p-5", "0x1.ebfce50fac4f3p-3", "0x1.62e42ff0c52d6p-1"))
_SHIFT = float.fromhex("0x1.8p+52") / 32

_OFF_BITS = 0x3F330000
_Z0 = struct.unpack("<f", struct.pack("<I", _OFF_BITS))[0]         # 0.69921875
_OVERFLOW = float.fromhex("0x1.fffffffd1d571p+6")
_TINY = 2.0 ** -149
_FLT_MIN = 2.0 ** -126


def _split(xp, a):
    """Veltkamp's split of a float64 into a 26-bit high part and the exact rest."""
    c = a * 134217729.0                        # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _fma64(xp, a, b, c):
    r""":math:`a b + c` rounded (essentially) once in float64, without a hardware FMA:
    Dekker's exact product :math:`a b = p + e`, Knuth's two-sum :math:`p + c = s + u`,
    then :math:`s + (u + e)`. Exact inputs here are far from overflow and underflow."""
    p = a * b
    a_hi, a_lo = _split(xp, a)
    b_hi, b_lo = _split(xp, b)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    s = p + c
    bb = s - p
    u = (p - (s - bb)) + (c - bb)
    return s + (u + e)


def _mul_add(xp, a, b, c, variant):
    if variant == "fma":
        return _fma64(xp, a, b, c)
    return a * b + c


def _pow2(xp, k):
    """:math:`2^k` for a float64 array of integers (exact: glibc's ``pow`` is)."""
    return xp.pow(xp.asarray(2.0, dtype=xp.float64, device=_device(k)), k)


def _binary_split(xp, ax):
    """``(e, m)`` with :math:`ax = m 2^e`, :math:`m \\in [1, 2)`, for positive finite
    float64 ``ax``."""
    two = xp.asarray(2.0, dtype=xp.float64, device=_device(ax))
    e = xp.floor(xp.log2(ax))
    # log2 may round across an integer: correct e so that 1 <= ax / 2^e < 2.
    m = ax * xp.pow(two, -e)
    e = xp.where(m >= 2.0, e + 1.0, xp.where(m < 1.0, e - 1.0, e))
    return e, ax * xp.pow(two, -e)                 # exact, in [1, 2)


def _binary_split_numpy(xp, ax):
    m, e = np.frexp(ax)                            # m in [1/2, 1)
    return e.astype(np.float64) - 1.0, m * 2.0


def _log2_and_reduce(xp, ax, split=_binary_split):
    """``(k, z, i)`` for positive finite float64 ``ax`` holding float32 values (subnormals
    included): :math:`ax = 2^k z`, :math:`z \\in [z_0, 2 z_0)`, ``i`` the table index."""
    e, m = split(xp, ax)
    high = m >= 2.0 * _Z0
    k = xp.where(high, e + 1.0, e)
    z = xp.where(high, m * 0.5, m)                 # exact, in [z0, 2 z0)
    # bits(z) - OFF: z < 1 has biased exponent 126, z >= 1 has 127.
    frac_bits = xp.where(z < 1.0, (2.0 * z - 1.0) * 8388608.0 + 126.0 * 8388608.0,
                         (z - 1.0) * 8388608.0 + 127.0 * 8388608.0) - float(_OFF_BITS)
    i = xp.floor(frac_bits / 524288.0)             # >> 19, in 0..15
    return k, z, i


def _positive_log2(xp, ax, variant, split=_binary_split):
    k, z, i = _log2_and_reduce(xp, ax, split)
    dev = _device(ax)
    idx = xp.astype(i, xp.int64)
    invc = _lookup(xp, _LOG2_INVC, idx, dev)
    logc = _lookup(xp, _LOG2_LOGC, idx, dev)
    a0, a1, a2, a3, a4 = _LOG2_POLY
    r = _mul_add(xp, z, invc, -1.0, variant)
    y0 = logc + k
    r2 = r * r
    y = _mul_add(xp, r, a0, a1, variant)
    p = _mul_add(xp, r, a2, a3, variant)
    r4 = r2 * r2
    q = _mul_add(xp, r, a4, y0, variant)
    q = _mul_add(xp, p, r2, q, variant)
    return _mul_add(xp, y, r4, q, variant)


def _exp2(xp, t, variant, pow2=_pow2):
    """:math:`2^t` in double for :math:`|t| < 150` (``exp2_inline`` without the sign)."""
    dev = _device(t)
    kd = (t + _SHIFT) - _SHIFT                     # nearest multiple of 1/32, ties to even
    r = t - kd
    j = kd * 32.0
    jm = j - 32.0 * xp.floor(j / 32.0)             # j mod 32
    s = _lookup(xp, _EXP2_TAB, xp.astype(jm, xp.int64), dev)
    s = s * pow2(xp, (j - jm) / 32.0)
    c0, c1, c2 = _EXP2_POLY
    zz = _mul_add(xp, r, c0, c1, variant)
    r2 = r * r
    y = _mul_add(xp, r, c2, 1.0, variant)
    y = _mul_add(xp, zz, r2, y, variant)
    return y * s


def _magnitude(xp, ax, y, variant, split=_binary_split, pow2=_pow2):
    """:math:`|x|^y` in double for positive finite float64 ``ax`` and finite ``y``, with
    glibc's overflow and underflow thresholds."""
    t = y * _positive_log2(xp, ax, variant, split)
    t_safe = xp.where(xp.abs(t) < 150.0, t, xp.zeros_like(t))
    mag = _exp2(xp, t_safe, variant, pow2)
    mag = xp.where(t > _OVERFLOW, math.inf, mag)
    mag = xp.where(t <= -150.0, 0.0, mag)
    return xp.where((t > -150.0) & (t < -149.0), _TINY, mag)


def _powf_double(x, y, variant, subnormals):
    """The double that glibc's ``powf`` rounds to float32 as its result (NaN, infinities and
    exact zeros included), and the namespace."""
    xp = array_namespace(x)
    dev = _device(x)
    f64 = xp.float64
    if isinstance(y, (int, float)):
        y = xp.asarray(y, dtype=xp.float32, device=dev)
    x, y = xp.broadcast_arrays(x, y)
    x64 = xp.astype(x, f64)
    y64 = xp.astype(y, f64)
    ax = xp.abs(x64)
    y_mul = y64
    if subnormals == "flush_to_zero":
        # DAZ: glibc normalizes a subnormal x as bits(x * 2^23) - (23 << 23); with x * 2^23
        # read as 0 that is 2^-150 exactly (k = -150, z = 1). A subnormal y multiplies as 0.
        tiny_x = (ax > 0) & (ax < _FLT_MIN)
        ax = xp.where(tiny_x, 2.0 ** -150, ax)
        y_mul = xp.where(xp.abs(y64) < _FLT_MIN, xp.zeros_like(y64), y64)

    finite_y = xp.isfinite(y64)
    y_int = finite_y & (xp.floor(y64) == y64)
    y_safe = xp.where(finite_y, y64, xp.zeros_like(y64))
    y_odd = y_int & (y_safe - 2.0 * xp.floor(y_safe * 0.5) == 1.0)
    y_mul = xp.where(finite_y, y_mul, xp.zeros_like(y_mul))
    negative = xp.signbit(x64)
    flip = negative & y_odd                        # the result takes x's sign

    regular = (ax > 0) & (ax < math.inf)
    safe = xp.where(regular, ax, xp.ones_like(ax))
    mag = _magnitude(xp, safe, y_mul, variant)
    out = xp.where(flip, -mag, mag)
    # Invalid (x < 0, y not an integer): 0/0, x86's default NaN, which has its sign bit set.
    out = xp.where(negative & ~y_int & regular, -math.nan, out)

    # x = +-0 or +-inf: x2 = x * x with the sign of x for odd integer y; y < 0 inverts it.
    zero_inf = (ax == 0) | (ax == math.inf)
    x2 = ax * ax
    x2_safe = xp.where(x2 == 0.0, xp.ones_like(x2), x2)
    special = xp.where(y64 < 0, xp.where(x2 == 0.0, math.inf, 1.0 / x2_safe), x2)
    special = xp.where(flip, -special, special)
    out = xp.where(zero_inf, special, out)

    # y = +-inf or NaN.
    y_inf = xp.abs(y64) == math.inf
    inf_value = xp.where(ax == 1.0, xp.ones_like(ax),
                         xp.where((ax < 1.0) == (y64 > 0), xp.zeros_like(ax),
                                  xp.full_like(ax, math.inf)))
    out = xp.where(y_inf, inf_value, out)
    # A NaN operand comes back as x + y: x's NaN if x is one, else y's.
    out = xp.where(xp.isnan(y64), y64, out)
    out = xp.where(xp.isnan(x64), x64, out)
    # x == 1 or y == 0: exactly 1, even for NaN.
    out = xp.where((x64 == 1.0) | (y64 == 0.0), 1.0, out)
    return xp, out


def powf_glibc(x, y, *, variant: str = "fma", subnormals: str = "ieee"):
    r""":math:`x^y` elementwise for a float32 array ``x`` and a float32 exponent ``y`` (a
    Python float, rounded to float32 first, or a float32 array broadcasting with ``x``),
    bit for bit as glibc's ``powf`` (module docstring). Returns float32.

    ``subnormals="flush_to_zero"`` runs it as XLA:CPU does, with the MXCSR's DAZ and FTZ
    bits set: a subnormal ``x`` reads as :math:`2^{-150}` (see :func:`_powf_double`), a
    subnormal ``y`` multiplies as zero, and a result that is still below :math:`2^{-126}`
    after rounding to 24 bits (x86 detects tininess after rounding) is flushed to a signed
    zero."""
    if variant not in VARIANTS:
        raise ValueError(f"powf_glibc: variant must be one of {VARIANTS}, got {variant!r}")
    if subnormals not in SUBNORMALS:
        raise ValueError(f"powf_glibc: subnormals must be one of {SUBNORMALS}, got "
                         f"{subnormals!r}")
    y_numpy = isinstance(y, (int, float)) or _numerics._numpy_float32(y)
    if (y_numpy and _numerics._numpy_float32(x)
            and math.prod(np.broadcast_shapes(np.shape(x), np.shape(y))) > 1):
        return _powf_numpy(x, y, variant, subnormals)
    return powf_glibc_array_api(x, y, variant=variant, subnormals=subnormals)


def powf_glibc_array_api(x, y, *, variant: str = "fma", subnormals: str = "ieee"):
    """:func:`powf_glibc` for any Array-API namespace (the reference formulation)."""
    xp, out = _powf_double(x, y, variant, subnormals)
    if subnormals == "flush_to_zero":
        # x86 detects tininess after rounding to 24 bits with an unbounded exponent: the
        # double is scaled by 2^100 (exact) into float32's normal range and rounded there.
        small = xp.where(xp.abs(out) < 2.0 * _FLT_MIN, out, xp.zeros_like(out))
        rounded = xp.astype(xp.astype(small * 2.0 ** 100, xp.float32), xp.float64)
        tiny = (xp.abs(out) < 2.0 * _FLT_MIN) & (xp.abs(rounded) < _FLT_MIN * 2.0 ** 100)
        out = xp.where(tiny, xp.copysign(xp.zeros_like(out), out), out)
    return xp.astype(out, xp.float32)


@functools.lru_cache(maxsize=1 << 16)
def powf_glibc_scalar(base: float, exponent: float, *, variant: str = "fma",
                      subnormals: str = "ieee") -> float:
    """:func:`powf_glibc` of two Python floats (each rounded to float32 first), as a Python
    float: a 0-d float32 ``pow`` such as Keras' ``ops.power(beta, t)`` or optax's
    ``t ** -c``, which every CPU backend hands to the scalar ``powf``. Cached: a run of
    steps asks for the same powers of the same betas again and again."""
    import array_api_compat.numpy as np_xp

    x = np_xp.asarray(base, dtype=np_xp.float32)
    return float(powf_glibc(x, float(exponent), variant=variant, subnormals=subnormals))


def _powf_numpy(x, y, variant, subnormals):
    """:func:`powf_glibc` for NumPy float32 arrays, block by block: :func:`_magnitude` on
    the positive finite ``x`` (normal ones only when subnormals are flushed) other than 1,
    with finite nonzero ``y`` (normal when flushed) and results outside the range the
    flushing may touch; the other elements are deferred to :func:`powf_glibc_array_api`."""
    import array_api_compat.numpy as xp

    if isinstance(y, (int, float)):
        y = np.float32(y)
    shape, (fx, fy) = _numerics.flat_operands(x, np.asarray(y, np.float32))
    n = math.prod(shape)
    out = np.empty(n, np.float32)
    deferred = _numerics.Deferred()
    low = _FLT_MIN if subnormals == "flush_to_zero" else 0.0
    reference = lambda xs, ys: powf_glibc_array_api(xs, ys, variant=variant,   # noqa: E731
                                                    subnormals=subnormals)
    with np.errstate(all="ignore"):
        if _compiled.enabled() and not isinstance(fx, float):
            y_flat = np.float32(fy) if isinstance(fy, float) else fy
            return _compiled.powf_glibc(fx, y_flat, variant, subnormals,
                                        reference).reshape(shape)
        for start, stop in _numerics.blocks(n, _numerics.POW_BLOCK):
            xb = fx[start:stop]
            yb = _numerics.piece(fy, start, stop)
            x64 = xb.astype(np.float64)
            y64 = yb if isinstance(yb, float) else yb.astype(np.float64)
            regular = (x64 >= low) & (x64 > 0.0) & (x64 < math.inf) & (x64 != 1.0)
            regular &= (np.abs(y64) >= low) & (y64 != 0.0) & np.isfinite(y64)
            safe = np.where(regular, x64, 1.0)
            mag = _magnitude(xp, safe, y64, variant, _binary_split_numpy, _pow2_numpy)
            if subnormals == "flush_to_zero":
                regular &= np.abs(mag) >= 2.0 * _FLT_MIN
            out[start:stop] = mag
            if not regular.all():
                idx = np.flatnonzero(~regular)
                ys = np.full(idx.shape, yb, np.float32) if isinstance(yb, float) else yb[idx]
                deferred.add(reference, start, idx, xb[idx], ys)
        deferred.apply(out)
    return out.reshape(shape)


def _pow2_numpy(xp, k):
    return _numerics.pow2(k)


def _lookup(xp, table, index, dev):
    """``table[index]`` for an index array of any shape (``take`` wants a 1-D index)."""
    values = xp.take(xp.asarray(table, dtype=xp.float64, device=dev),
                     xp.reshape(index, (-1,)), axis=0)
    return xp.reshape(values, index.shape)

"""The compiled loops' primitives and the elementwise and matrix loops (numba; loaded
through :mod:`eps_ref.rules._compiled`, which falls back to the NumPy paths without it).

Every function is defined at module level, so that numba's on-disk cache finds it again in
the next process (a loop built in a factory closes over dispatchers, which pickle with a
per-process identity, and is compiled anew by every process). fastmath stays off
everywhere: LLVM must not contract a product and a sum into an FMA, nor reassociate.
Constants are float32 values: a Python float would promote to float64. ``error_model=
"numpy"``: IEEE division (``x / 0`` is an infinity), so that no division carries a branch
to a Python exception and the loops vectorize.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

jit = numba.njit(inline="always", error_model="numpy")
"""A helper, inlined into the loops that call it."""
kernel = numba.njit(cache=True, error_model="numpy")
"""A loop, compiled once and cached on disk."""


@intrinsic
def fmaf(typingctx, a, b, c):
    """``llvm.fma.f32``: one rounding (numba has no fused multiply-add of its own)."""
    def codegen(context, builder, sig, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32],
                                              ir.FunctionType(f32, [f32, f32, f32]))
        return builder.call(fn, args)
    return types.float32(types.float32, types.float32, types.float32), codegen


def _bitcast(source, target, ir_target):
    @intrinsic
    def cast(typingctx, value):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir_target)
        return target(source), codegen
    return cast


bits_as_float32 = _bitcast(types.int32, types.float32, ir.FloatType())
float32_bits = _bitcast(types.float32, types.int32, ir.IntType(32))
bits_as_float64 = _bitcast(types.int64, types.float64, ir.DoubleType())
float64_bits = _bitcast(types.float64, types.int64, ir.IntType(64))


def at(v, i):
    """``v[i]`` for an array, ``v`` for a scalar operand."""


@overload(at)
def _at(v, i):
    if isinstance(v, types.Array):
        return lambda v, i: v[i]
    return lambda v, i: v


_F32 = np.float32
_ONE, _HALF, _MINUS_HALF, _BIG = _F32(1.0), _F32(0.5), _F32(-0.5), _F32(2.0 ** 23)
_SIGN_BIT = np.int32(-2 ** 31)


@jit
def pow2(k):
    """:math:`2^k` for a float64 integer ``k`` as :func:`eps_ref.rules._numerics.pow2`
    gives it (exact, subnormals included; 0 and infinity beyond the range, NaN for NaN),
    from the bits."""
    ki = np.int64(min(max(k, -1100.0), 1100.0))
    bits = ((ki + 1023) << 52) if ki >= -1022 else (
        np.int64(1) << (ki + 1074) if ki >= -1074 else np.int64(0))
    value = bits_as_float64(bits) if ki <= 1023 else np.inf
    return value if k == k else np.nan


@jit
def trunc(a):
    """``np.trunc`` of a float32 (signed zeros, infinities and NaN kept): the integer
    part's bits, or'ed with the sign of ``a``."""
    t = bits_as_float32(np.int32(float32_bits(_F32(np.int64(a)))
                                 | (float32_bits(a) & _SIGN_BIT)))
    return t if abs(a) < _BIG else a


@jit
def floor(a):
    """``np.floor`` of a float32."""
    t = trunc(a)
    return t - _ONE if t > a else t


# -- elementwise ----------------------------------------------------------------------------

@kernel
def fma_loop(a, b, c, out):
    """``out = fma(a, b, c)``, each operand an array or a scalar."""
    for i in range(out.shape[0]):
        out[i] = fmaf(at(a, i), at(b, i), at(c, i))


@jit
def _refine(kind, v, y):
    """The kernel ``kind`` (an index of :data:`eps_ref.rules._compiled.ROOT_KERNELS`) from
    the estimate ``y``."""
    if kind == 0:
        return y
    if kind == 1:                       # (-y/2) (x y y - 1) + y, every operation rounded
        return (y * _MINUS_HALF) * ((v * y) * y - _ONE) + y
    if kind == 2:                       # fma(-y/2, fma(x y, y, -1), y)
        return fmaf(y * _MINUS_HALF, fmaf(v * y, y, -_ONE), y)
    s = y * v                           # Goldschmidt, then the residual correction
    h = y * _HALF
    r = _HALF - s * h
    s = s * r + s
    h = h * r + h
    return (v - s * s) * h + s


@kernel
def root_loop(x, table, kind, out, defer):
    """A root kernel (``kind``: an index of :data:`eps_ref.rules._compiled.ROOT_KERNELS`) on
    every element; ``defer`` flags the elements
    outside the fast formula's range (not positive normal; for MKL's sqrt also the top
    binade). Returns whether any is flagged."""
    high = (0x7F000000 if kind == 3 else 0x7F800000) - 0x00800000
    bits = x.view(np.int32)
    entries = out.view(np.int32)
    for i in range(x.shape[0]):         # the gathers alone: LLVM then vectorizes the loop
        entries[i] = table[(bits[i] >> 11) & 0x1FFF]                  # below
    any_deferred = False
    for i in range(x.shape[0]):
        b = np.int64(bits[i])
        offset = (b & 0xFFFFFFFF) - 0x00800000                      # unsigned bits - FLT_MIN
        outside = (offset < 0) | (offset >= high)
        defer[i] = outside
        any_deferred |= outside
        shift = ((b + 0x00800000) >> 1) & 0x7F800000
        y = bits_as_float32(np.int32(np.int64(entries[i]) - shift))
        out[i] = _refine(kind, x[i], y)
    return any_deferred


# -- matrix products ------------------------------------------------------------------------

@kernel
def chain(a, b, acc, ks, fused):
    """``acc[i, j] <- fma(a[i, k], b[k, j], acc[i, j])`` (or the product rounded, then
    added) for ``k`` in ``ks`` in order."""
    m, n = acc.shape
    for k in ks:
        for i in range(m):
            x = a[i, k]
            if fused:
                for j in range(n):
                    acc[i, j] = fmaf(x, b[k, j], acc[i, j])
            else:
                for j in range(n):
                    acc[i, j] = acc[i, j] + x * b[k, j]
    return acc


@kernel
def pairwise(a, b, out):
    """Each output's ``K`` rounded products added pairwise, an odd last one carried up."""
    m, depth = a.shape
    n = b.shape[1]
    parts = np.empty(depth, np.float32)
    for i in range(m):
        for j in range(n):
            for k in range(depth):
                parts[k] = a[i, k] * b[k, j]
            length = depth
            while length > 1:           # (0 + 1), (2 + 3), ...; an odd last one carried
                half = 0
                for p in range(0, length - 1, 2):
                    parts[half] = parts[p] + parts[p + 1]
                    half += 1
                if length % 2:
                    parts[half] = parts[length - 1]
                    half += 1
                length = half
            out[i, j] = parts[0]
    return out

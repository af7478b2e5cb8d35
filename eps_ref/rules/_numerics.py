"""Numerics shared by the rules: the operations a framework kernel performs that the
Array API does not spell directly, and the NumPy fast paths of the elementwise kernels.

Every kernel here (and in :mod:`~eps_ref.rules._roots` and the ``pow`` modules) is written
once in the Array API, the *reference formulation*, which runs on any namespace (NumPy,
array_api_strict, torch, JAX). For NumPy arrays a kernel may dispatch to a fast path that
computes the same bits in blocks of :data:`BLOCK` elements, so that its temporaries stay in
the CPU cache, with bit operations the Array API lacks; elements the fast path does not
cover exactly (ties, subnormals, specials) are handed back to the reference formulation.
``tests/test_fast_paths.py`` compares every fast path with its reference formulation bit
for bit.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace, is_numpy_array

__all__ = ["fma", "fma_array_api", "xla_divide_by_scalar", "xla_rewrites_division", "BLOCK"]

FAST_PATHS = True
"""Whether NumPy arrays take the fast paths; ``False`` runs the reference formulations on
every namespace (the tests compare the two)."""

BLOCK = 1 << 17
"""Elements per block of the NumPy fast paths that reuse their buffers (512 KiB of
float32): measured on 10^7 float32 (AMD EPYC Zen 4, one thread), ``fma`` takes 87 ms on
whole arrays, 50 ms in blocks of 2^14, 34 ms in blocks of 2^17 and 48 ms in blocks of 2^19,
where the temporaries no longer stay in the cache."""

POW_BLOCK = 1 << 13
"""Elements per block of the ``pow`` fast paths, which run the reference formulation's
operations (each allocating its result) on every block: fresh 32 KiB temporaries come from
the allocator's free lists and stay in L1/L2 (glibc powf on 10^6: 123 ms in blocks of 2^13,
155 ms in blocks of 2^15)."""

def xla_rewrites_division(x, divisor=None) -> bool:
    """Whether XLA:CPU computes ``x / divisor`` as ``x * (1 / divisor)``, the reciprocal
    rounded first: its algebraic simplifier rewrites a division by a *broadcast* operand,
    so the rewrite needs the broadcast to add elements. A 0-d or Python ``divisor`` (None)
    counts as one element: a one-element ``x`` is divided, rounded once (the broadcast of
    a scalar to one element is a reshape). Measured on eager jax 0.10.2: shapes ``(1,)``
    divide, ``(2,)`` and up multiply by the reciprocal."""
    def size(a):
        return 1 if a is None or not hasattr(a, "shape") else math.prod(a.shape)
    return size(x) > size(divisor)


_HALF_ULP32 = 1 << 28      # bit 28 of a float64 significand: half a float32 ulp
_LOW29 = (1 << 29) - 1
_FLT_MIN_BITS = 0x00800000
_TINY64 = 0x3810000000000000 << 1     # float64 bits of 2^-126, shifted past the sign bit


def fma(a, b, c):
    """Fused multiply-add ``a * b + c`` with one rounding, for float32 arrays.

    CPU kernels built with FMA instructions (torch's vectorized ``lerp``) round ``a*b + c``
    once. float64 arrays are computed unfused (a float64 FMA would need a wider type).
    The reference formulation is :func:`fma_array_api`; NumPy float32 arrays take an
    equivalent fast path (:func:`_fma_numpy`).
    """
    xp = array_namespace(a, b, c)
    if a.dtype != xp.float32:
        return a * b + c
    if _numpy_float32(a, b, c) and any(math.prod(v.shape) > 1 for v in (a, b, c)):
        return _fma_numpy(a, b, c)
    return fma_array_api(a, b, c)


def xla_divide_by_scalar(x, s):
    """``x / s`` for an array ``x`` and a 0-d ``s`` of its dtype, as XLA:CPU computes it,
    eagerly or under ``jax.jit`` (:func:`xla_rewrites_division`): ``x * (1 / s)``, the
    reciprocal rounded first, unless ``x`` has one element. Measured (jax 0.10.2): eager
    ``jnp`` division and the jitted ``optax.tree.bias_correction`` on shapes (), (1,),
    (1, 1), (2,), (7,), (64,)."""
    return x * (1 / s) if xla_rewrites_division(x, s) else x / s


def fma_array_api(a, b, c):
    """:func:`fma` for float32 arrays of any Array-API namespace (the reference formulation).

    In float64 the product of two float32 values is exact, and the sum ``s`` rounds once
    more; rounding ``s`` to float32 can then differ from the single rounding only when ``s``
    lies exactly half-way between two float32 values while the exact sum does not. We detect
    that case with the exact error of the float64 sum (TwoSum) and round toward the side the
    exact sum lies on.
    """
    xp = array_namespace(a, b, c)
    dtype = a.dtype
    f64 = xp.float64
    a64, b64, c64 = (xp.astype(v, f64) for v in (a, b, c))
    p = a64 * b64                       # exact: 24 + 24 bits < 53
    s = p + c64
    bp = s - c64                        # TwoSum: err is the exact rounding error of s
    err = (p - bp) + (c64 - (s - bp))
    r = xp.astype(s, dtype)
    r64 = xp.astype(r, f64)
    toward = xp.where(s > r64, xp.asarray(xp.inf, dtype=dtype), xp.asarray(-xp.inf, dtype=dtype))
    other = xp.nextafter(r, toward)
    other64 = xp.astype(other, f64)
    tie = (s != r64) & ((r64 + other64) * 0.5 == s)
    # At a tie the exact value lies beyond s in the direction of err.
    exact_toward_other = ((other64 > r64) & (err > 0)) | ((other64 < r64) & (err < 0))
    return xp.where(tie & (err != 0) & exact_toward_other, other, r)


# -- NumPy fast path ----------------------------------------------------------------------

def _numpy_float32(*arrays) -> bool:
    """Whether the fast paths are on and every argument is a NumPy float32 array (or
    NumPy scalar)."""
    return FAST_PATHS and all(is_numpy_array(v) and v.dtype == np.float32 for v in arrays)


def flat_operands(*arrays):
    """``(shape, operands)``: the broadcast shape of NumPy arrays (or scalars), and each as
    a flat C-order float32 array of that size, or as a Python float where it holds a single
    value."""
    shapes = [v.shape for v in arrays]
    shape = shapes[0] if all(s == shapes[0] for s in shapes) else np.broadcast_shapes(*shapes)
    out = []
    for v, s in zip(arrays, shapes):
        if v.size == 1:
            out.append(float(v.reshape(())))
        elif s == shape:
            out.append(v.reshape(-1))
        else:
            out.append(np.broadcast_to(v, shape).reshape(-1))
    return shape, out


def pow2(n):
    """:math:`2^n` for a NumPy float64 array of integers (or infinities, NaN) as
    ``np.power(2.0, n)`` gives it, exactly, by ``ldexp``: 0 below :math:`2^{-1074}`,
    infinity above :math:`2^{1023}`."""
    out = np.ldexp(1.0, np.clip(np.nan_to_num(n, nan=0.0), -1100.0, 1100.0).astype(np.int32))
    nan = np.isnan(n)
    if nan.any():
        out[nan] = math.nan
    return out


def blocks(n: int, block: int | None = None):
    """``(start, stop)`` of the blocks of ``block`` (default :data:`BLOCK`) elements
    covering ``range(n)``."""
    block = block or BLOCK
    for start in range(0, n, block):
        yield start, min(start + block, n)


def piece(v, start, stop):
    """A block of a flat operand (a Python float stays as it is)."""
    return v if isinstance(v, float) else v[start:stop]


class FmaScratch:
    """Reusable float64 and mask buffers for the block functions, one block long."""

    def __init__(self, block: int):
        self.s = np.empty(block)
        self.t = np.empty(block)
        self.u = np.empty(block, np.uint64)
        self.m = np.empty(block, bool)
        self.m2 = np.empty(block, bool)


class Deferred:
    """Elements a fast path hands back to the reference formulation: gathered over all
    blocks, then recomputed with one call per reference function (a call on a handful of
    elements costs as much as a block). Later functions override earlier ones."""

    def __init__(self):
        self._parts: dict = {}

    def add(self, function, start: int, index, *values):
        """Recompute ``out[start + index] = function(*values)`` at the end; ``values`` are
        the arguments at those elements (1-D arrays of ``index``'s length)."""
        self._parts.setdefault(function, []).append((index + start, values))

    def apply(self, out):
        for function, parts in self._parts.items():
            index = np.concatenate([i for i, _ in parts])
            values = [np.concatenate(column) for column in zip(*(v for _, v in parts))]
            out[index] = function(*values)


def fma_block(a, b, c, out, scratch: FmaScratch, deferred: Deferred, start: int):
    """``out[:] = fma(a, b, c)`` for 1-D float32 blocks (or Python floats) of one length.

    The float64 product is exact and the float64 sum ``s`` rounds at most once; its
    rounding to float32 is then the single rounding unless ``s`` lies on a float32
    rounding boundary: half-way between two normal float32 values (the low 29 bits of its
    significand are ``1 << 28``) or in the subnormal float32 range, :math:`0 < |s| <
    2^{-126}`. (A zero ``s`` is exact: a nonzero sum of float32 products and float32 values
    is at least :math:`2^{-298}`, a float64.) Those few elements are deferred to
    :func:`fma_array_api`.
    """
    k = out.shape[0]
    s, t = scratch.s[:k], scratch.t[:k]
    if isinstance(a, float) and isinstance(b, float):
        s.fill(a * b)                       # exact in float64
    elif isinstance(a, float) or isinstance(b, float):
        scalar, array = (a, b) if isinstance(a, float) else (b, a)
        np.copyto(s, array)
        np.multiply(s, scalar, out=s)
    else:
        np.copyto(s, a)
        np.copyto(t, b)
        np.multiply(s, t, out=s)
    if isinstance(c, float):
        np.add(s, c, out=s)
    else:
        np.copyto(t, c)
        np.add(s, t, out=s)
    np.copyto(out, s, casting="same_kind")
    bits = s.view(np.uint64)
    u, m, m2 = scratch.u[:k], scratch.m[:k], scratch.m2[:k]
    np.bitwise_and(bits, _LOW29, out=u)
    np.equal(u, _HALF_ULP32, out=m)
    np.left_shift(bits, 1, out=u)                       # |s| without the sign bit
    np.subtract(u, 1, out=u)                            # a zero s wraps to the top
    np.less(u, _TINY64 - 1, out=m2)                     # 0 < |s| < FLT_MIN
    np.logical_or(m, m2, out=m)
    if m.any():
        idx = np.flatnonzero(m)
        deferred.add(fma_array_api, start, idx, *(
            np.full(idx.shape, v, np.float32) if isinstance(v, float) else v[idx]
            for v in (a, b, c)))


def _fma_numpy(a, b, c):
    """:func:`fma` for NumPy float32 arrays, block by block (:func:`fma_block`), or in one
    compiled pass (:func:`eps_ref.rules._compiled.fma`)."""
    from eps_ref.rules import _compiled
    shape, (fa, fb, fc) = flat_operands(a, b, c)
    if _compiled.enabled():
        with np.errstate(all="ignore"):
            return _compiled.fma(shape, fa, fb, fc)
    n = math.prod(shape)
    out = np.empty(n, np.float32)
    scratch = FmaScratch(min(n, BLOCK))
    deferred = Deferred()
    with np.errstate(all="ignore"):
        for start, stop in blocks(n):
            fma_block(piece(fa, start, stop), piece(fb, start, stop), piece(fc, start, stop),
                      out[start:stop], scratch, deferred, start)
        deferred.apply(out)
    return out.reshape(shape)

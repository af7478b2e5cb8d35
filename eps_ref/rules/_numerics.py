"""Numerics shared by the rules: the operations a framework kernel performs that the
Array API does not spell directly.
"""

from __future__ import annotations

from array_api_compat import array_namespace

__all__ = ["fma"]


def fma(a, b, c):
    """Fused multiply-add ``a * b + c`` with one rounding, for float32 arrays.

    CPU kernels built with FMA instructions (torch's vectorized ``lerp``) round ``a*b + c``
    once. In float64 the product of two float32 values is exact, and the sum ``s`` rounds
    once more; rounding ``s`` to float32 can then differ from the single rounding only when
    ``s`` lies exactly half-way between two float32 values while the exact sum does not.
    We detect that case with the exact error of the float64 sum (TwoSum) and round toward
    the side the exact sum lies on. float64 arrays are rounded once by construction, as
    float64 FMA would need a wider type; they are computed unfused.
    """
    xp = array_namespace(a, b, c)
    dtype = a.dtype
    if dtype != xp.float32:
        return a * b + c
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

"""ULP distance between floating-point arrays, measured on their bit patterns."""

from __future__ import annotations

import numpy as np

__all__ = ["ulp_distance"]

_INT = {np.dtype(np.float16): np.int16, np.dtype(np.float32): np.int32,
        np.dtype(np.float64): np.int64}
try:                      # bfloat16 (ml_dtypes, installed with JAX and TensorFlow)
    import ml_dtypes
except ImportError:       # pragma: no cover - depends on the environment
    pass
else:
    _INT[np.dtype(ml_dtypes.bfloat16)] = np.int16


def _ordered(x: np.ndarray) -> np.ndarray:
    """Map floats to integers that are consecutive for consecutive floats (-0 == +0)."""
    i = x.view(_INT[x.dtype]).astype(np.int64)
    sign_bit = np.int64(1) << (8 * x.dtype.itemsize - 1)
    return np.where(i < 0, -(i & (sign_bit - 1)), i)


def ulp_distance(a, b) -> np.ndarray:
    """Number of representable values between ``a`` and ``b`` elementwise (int64).

    Both must have the same shape (no broadcasting: a shape mismatch is a bug in the
    comparison, not a distance) and the same float dtype: float16, bfloat16 (when
    ``ml_dtypes`` is installed), float32 or float64. Two NaNs are 0 apart; NaN against a
    number is reported as the largest int64, so it can never pass a budget.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.dtype not in _INT:
        known = ", ".join(str(d) for d in _INT)
        raise TypeError(f"ulp_distance needs two arrays of one float dtype ({known}), got "
                        f"{a.dtype}, {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"ulp_distance needs two arrays of one shape, got {a.shape} and "
                         f"{b.shape} (it does not broadcast)")
    d = np.abs(_ordered(a) - _ordered(b))
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    d = np.where(nan_a & nan_b, 0, d)
    return np.where(nan_a ^ nan_b, np.iinfo(np.int64).max, d)

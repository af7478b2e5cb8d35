"""ULP distance between floating-point arrays, measured on their bit patterns."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["scale_ulp", "ulp_distance"]

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
    magnitude = np.int64(np.iinfo(_INT[x.dtype]).max)       # every bit but the sign
    return np.where(i < 0, -(i & magnitude), i)


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


def scale_ulp(a: np.ndarray, b: np.ndarray) -> float:
    r"""The largest difference between trajectories ``a`` (the source) and ``b``, in float32
    ULPs of each element's scale: :math:`\max_t |a_t - b_t|` over the spacing of floats at
    :math:`\max_t |a_t|` of that element. Unlike the ULP count, it does not explode where a
    parameter passes through zero; NaN against a number is infinite."""
    with np.errstate(all="ignore"):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        nan_mismatch = (np.isnan(a64) != np.isnan(b64)).any()
        inf_mismatch = ((np.isinf(a64) | np.isinf(b64)) & (a64 != b64)).any()
        if nan_mismatch or inf_mismatch:
            return math.inf
        d = np.where(a64 == b64, 0.0, np.abs(a64 - b64)).reshape(len(a), -1).max(axis=0)
        scale = np.nanmax(np.abs(a64), axis=0, initial=0.0).reshape(-1).astype(np.float32)
        out = d / np.spacing(scale).astype(np.float64)
        return float(np.nanmax(out)) if out.size else 0.0

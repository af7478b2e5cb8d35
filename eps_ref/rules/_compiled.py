"""Optional compiled kernels: the loops NumPy can only run one array pass at a time.

With numba installed (the ``fast`` extra: ``pip install "eps_ref[fast]"``), the NumPy
float32 paths listed here run as compiled loops with a hardware fused multiply-add
(``llvm.fma.f32``: one IEEE rounding, as :func:`eps_ref.rules._numerics.fma`). They give
the bits of the NumPy formulation they replace: ``tests/test_fast_paths.py`` compares both
on random bit patterns (zeros, subnormals, rounding ties, infinities and NaNs), but for
the payload and sign of a NaN result: IEEE leaves those open, and even NumPy's float64
reference formulation gives different NaN bits for the same element in a vector loop and
in its scalar tail. Without
numba, with ``EPS_REF_COMPILED_KERNELS=0``, or with the fast paths off
(``eps_ref.rules._numerics.FAST_PATHS = False``), the NumPy formulation runs.

- :func:`product_chain`: one chain of rank-one products per output element of ``a @ b``,
  ``acc <- fma(a[i, k], b[k, j], acc)`` (or the product rounded, then added) over a given
  order of ``k`` (the matrix products of Muon's Newton-Schulz iteration);
- :func:`pairwise_products`: the ``K`` rounded products of each output element added
  pairwise, as :func:`eps_ref.rules.muon.matmul`'s ``"pairwise"`` order;
- :func:`fma`: the elementwise fused multiply-add of :func:`eps_ref.rules._numerics.fma`
  in one pass;
- :func:`root_kernel`: the RSQRTPS estimate and the kernels built on it
  (:mod:`eps_ref.rules._roots`: Eigen's and XLA's Newton steps, MKL's square root) in one
  pass, the elements outside the positive normal range flagged for the reference
  formulation as the NumPy path defers them.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

__all__ = ["ENV", "enabled", "fma", "pairwise_products", "product_chain", "root_kernel",
           "ROOT_KERNELS"]

ROOT_KERNELS = ("estimate", "eigen_rsqrtps_newton", "xla_rsqrtps_newton_fma",
                "mkl_goldschmidt_rsqrtps")
"""The :mod:`~eps_ref.rules._roots` kernels :func:`root_kernel` runs."""

ENV = "EPS_REF_COMPILED_KERNELS"


def enabled() -> bool:
    """Whether the compiled kernels run: the fast paths are on, :data:`ENV` is not ``"0"``
    and numba imports."""
    from eps_ref.rules import _numerics
    return (_numerics.FAST_PATHS and os.environ.get(ENV, "1") != "0"
            and _kernels() is not None)


@functools.lru_cache(maxsize=None)
def _kernels():
    """The loops (:mod:`eps_ref.rules._loops_base` and the ``_loops_*`` modules), or None
    without numba."""
    try:
        from eps_ref.rules import _loops_base, _loops_eigen_pow, _loops_libm_pow, \
            _loops_sleef_pow
    except Exception:       # numba missing or broken: the NumPy paths run
        return None
    return {"chain": _loops_base.chain, "pairwise": _loops_base.pairwise,
            "fma": _loops_base.fma_loop, "root": _loops_base.root_loop,
            "eigen_pow": _loops_eigen_pow.loop, "sleef_powf": _loops_sleef_pow.loop,
            "powf_glibc": _loops_libm_pow.loop}


def powf_glibc(x, y, variant, subnormals, deferred_to):
    """glibc's ``powf`` (:mod:`eps_ref.rules._libm_pow`) of a flat float32 array ``x`` and a
    float32 exponent ``y`` (a NumPy float32 scalar or an array like ``x``); the elements it
    does not cover (zeros, negatives, infinities, NaN, ``x = 1``, ``y = 0``, subnormals and
    results near underflow when flushed) are recomputed by ``deferred_to(x, y)`` there.
    Compiled: call only when :func:`enabled`."""
    flushed = subnormals == "flush_to_zero"
    low = 2.0 ** -126 if flushed else 0.0
    return _deferring(_kernels()["powf_glibc"], x, y, (y, variant == "fma", low, flushed),
                      deferred_to)


def sleef_powf(x, y, deferred_to):
    """SLEEF's ``powf`` core (:mod:`eps_ref.rules._sleef_pow`) of a flat float32 array ``x``
    and a float32 exponent ``y`` (a NumPy float32 scalar or an array like ``x``); the
    elements it does not cover (bases zero, infinite, NaN or +-1, negative with a
    fractional exponent; exponents zero or not finite) are recomputed by
    ``deferred_to(x, y)`` at those elements. Compiled: call only when :func:`enabled`."""
    return _deferring(_kernels()["sleef_powf"], x, y, (y,), deferred_to)


def eigen_pow(x, y, deferred_to):
    """Eigen's packet ``pow`` (:mod:`eps_ref.rules._eigen_pow`) of every element of a flat
    float32 array ``x`` and a float32 exponent ``y``; the elements it does not cover
    (infinite, NaN, +-1, negative with a fractional exponent, or with a result flushed to
    zero) are recomputed by ``deferred_to``. Compiled: call only when :func:`enabled`."""
    y_is_int = math.isfinite(y) and math.floor(y) == y
    y_is_odd = y_is_int and math.fmod(y, 2.0) != 0.0
    return _deferring(_kernels()["eigen_pow"], x, None, (np.float32(y), y_is_int, y_is_odd),
                      deferred_to)


def fma(shape, a, b, c):
    """``fma`` of flat float32 operands (1-D arrays of ``prod(shape)`` elements, or Python
    floats holding float32 values) as a new float32 array of ``shape``. Compiled: call only
    when :func:`enabled`."""
    out = np.empty(math.prod(shape), np.float32)
    _kernels()["fma"](*(np.float32(v) if isinstance(v, float) else v for v in (a, b, c)), out)
    return out.reshape(shape)


def root_kernel(x, kind: str, table_bits, deferred_to):
    """One :data:`ROOT_KERNELS` kernel of a flat float32 array ``x``, with the estimate's
    table as int32 bits (:func:`eps_ref.rules._roots._estimate_into`'s); the elements the
    kernel's fast formula does not cover (outside the positive normal range; for MKL's sqrt
    also the top binade) are recomputed by ``deferred_to``. Compiled: call only when
    :func:`enabled`."""
    return _deferring(_kernels()["root"], x, None, (table_bits, ROOT_KERNELS.index(kind)),
                      deferred_to)


def product_chain(a, b, acc, ks, fused=True):
    """``acc[i, j] <- fma(a[i, k], b[k, j], acc[i, j])`` for ``k`` in ``ks`` in order
    (``fused=False``: ``acc + a[i, k] * b[k, j]``, the product rounded first), for float32
    NumPy arrays ``a`` (m, K), ``b`` (K, n) and ``acc`` (m, n); returns a new array.
    Compiled: call only when :func:`enabled`."""
    out = np.array(acc, dtype=np.float32, order="C", copy=True)
    order = np.asarray(list(ks), dtype=np.int64)
    return _kernels()["chain"](np.ascontiguousarray(a), np.ascontiguousarray(b), out, order,
                               bool(fused))


def pairwise_products(a, b):
    """``a @ b`` for float32 NumPy arrays with each output's ``K`` products rounded, then
    added pairwise (``(p0 + p1) + (p2 + p3)``, an odd last one carried up). Compiled: call
    only when :func:`enabled`."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    return _kernels()["pairwise"](np.ascontiguousarray(a), np.ascontiguousarray(b), out)


def _deferring(kernel, x, y, args, deferred_to):
    """``kernel(x, *args, out, defer)`` on a flat float32 ``x``, then ``deferred_to`` at the
    elements the kernel flagged (with ``y`` there too, unless it is None), and the result."""
    out = np.empty_like(x)
    defer = np.empty(x.shape, np.bool_)
    if kernel(x, *args, out, defer):
        idx = np.flatnonzero(defer)
        if y is None:
            out[idx] = deferred_to(x[idx])
        else:
            ys = np.full(idx.shape, y, np.float32) if np.ndim(y) == 0 else y[idx]
            out[idx] = deferred_to(x[idx], ys)
    return out

"""Statistics and affine maps shared by every normalization layer, written once.

Each function names the arithmetic a framework kernel performs, so that a layer reads as a
composition: reduce (in which order and precision), moments (two-pass or
:math:`E[x^2] - E[x]^2`), inverse standard deviation (:math:`1/\\sqrt{\\sigma^2 + \\epsilon}`,
eps always inside the square root, rounded once or twice), then the affine map in the
operation order of the framework.

Reduction switches (``reduction=``):

``"sequential_float64"``
    torch's CPU batch-norm statistics kernel (``batch_norm_cpu_collect_stats_contiguous_impl``):
    one float64 accumulator, elements added in row-major order, the mean divided in float64
    and rounded once to float32. Reproduced exactly with a float64 cumulative sum.
``"unordered_float32"``
    a float32 sum whose kernel accumulates in several SIMD lanes in a machine-dependent
    order (torch's cascade sum, Eigen's packet reduction in TensorFlow, XLA's vectorized
    reduce); the mean is that sum divided by the count in float32. The reference takes the
    float64 sum rounded to float32 (the closest float32 to the exact sum); the kernels land
    within a few ULP of it, which the conformance budgets measure.
``"xla_cpu"``
    ``jnp.mean`` run eagerly on XLA:CPU (Flax, Keras on JAX): one float32 accumulator, the
    reduced elements added in row-major order, and the mean is that sum times the float32
    reciprocal of the count (XLA rewrites the division by a constant count into a
    multiplication by ``float32(1/n)``). Verified bit for bit against ``jnp.mean`` (jax 0.10.2,
    CPU) where every reduced dimension has at most 32 elements and the reduced elements of a
    row do not form a contiguous block of several dimensions: every shape of the conformance
    streams. Beyond that XLA's tree-reduction rewrite (windows of 32 elements) and LLVM's
    reassociating vectorizer (strided lanes, then a horizontal add) reorder the sum, a few
    ULP from this order.
``"xla_cpu_ynnpack"``
    ``jnp.mean`` run eagerly on XLA:CPU at any size: XLA's loop emitter (windows of 32 for a
    reduced dimension longer than 32) under 4096 elements, YNNPACK's reduce kernels from
    there (:mod:`eps_ref.norms._xla_cpu`), then times ``float32(1/n)``.
``"eigen_cpu"``
    ``tf.reduce_mean`` on CPU: TensorFlow's reduction helper and Eigen's reducers
    (:mod:`eps_ref.norms._eigen_cpu`), the sum divided by the count in float32.
``"torch_cpu_avx2"``
    torch's CPU cascade sum (``cpu/SumKernel.cpp``) reproduced operation by operation for a
    C-contiguous input (:func:`eps_ref.norms._torch_cpu.torch_sum`), AVX2 kernels (8 float
    lanes); a mean is that float32 sum divided by the count in float32 (``at::mean`` on CPU).

Variance ``"torch_rowwise_welford"``: torch's layer/group norm ``RowwiseMoments``
(:func:`eps_ref.norms._torch_cpu.rowwise_moments`) over the reduced elements in row-major
order, the variance clamped at 0 as the kernels do before ``rsqrt``.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from eps_ref.norms import _eigen_cpu, _xla_cpu
from eps_ref.norms._torch_cpu import rowwise_moments, torch_sum
from eps_ref.rules._roots import RSQRT_METHODS, rsqrt
from eps_ref.rules._numerics import fma

__all__ = ["REDUCTIONS", "VARIANCES", "move_to_end", "reduce_sum", "count", "mean_and_var",
           "inverse_std", "AFFINE_FORMS", "affine"]

REDUCTIONS = ("sequential_float64", "unordered_float32", "torch_cpu_avx2", "xla_cpu",
              "xla_cpu_ynnpack", "eigen_cpu")
VARIANCES = ("two_pass", "jnp_var", "mean_sq_minus_sq_mean", "mean_sq_minus_sq_mean_clamped",
             "torch_rowwise_welford")
AFFINE_FORMS = ("torch_cpu_fused", "scale_shift", "scale_shift_grouped", "center_scale",
                "center_then_fma", "normalize_then_scale")


def move_to_end(x, axes):
    """``x`` with the ``axes`` moved last (in increasing order) and flattened into one axis:
    shape ``(*kept, n)``; the elements of each row are in row-major order of ``x``."""
    xp = array_namespace(x)
    axes = sorted(a % x.ndim for a in axes)
    kept = [a for a in range(x.ndim) if a not in axes]
    y = xp.permute_dims(x, tuple(kept + axes))
    return xp.reshape(y, tuple(x.shape[a] for a in kept) + (-1,))


def count(x, axes) -> int:
    return math.prod(x.shape[a] for a in axes)


def _keep(v, x, axes):
    """Put the reduced axes back as size-1 axes so ``v`` broadcasts against ``x``."""
    xp = array_namespace(v)
    shape = tuple(1 if a in {b % x.ndim for b in axes} else x.shape[a] for a in range(x.ndim))
    return xp.reshape(v, shape)


def reduce_sum(x, axes, *, reduction: str, threads: int = 1):
    """Sum of ``x`` over ``axes`` (kept as size-1 axes), in ``x``'s dtype; see the module
    docstring for ``reduction``. Returns the float64 sum too, for kernels that divide in
    float64. ``threads``: the intra-op thread count (``"torch_cpu_avx2"`` splits over it)."""
    xp = array_namespace(x)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "torch_cpu_avx2":
        s = torch_sum(x, axes, threads=threads)
        return s, xp.astype(s, xp.float64)
    if reduction == "xla_cpu":
        rows = move_to_end(x, axes)
        s = xp.zeros(tuple(rows.shape[:-1]), dtype=x.dtype)
        for k in range(rows.shape[-1]):
            s = s + rows[..., k]
        s = _keep(s, x, axes)
        return s, xp.astype(s, xp.float64)
    if reduction in ("xla_cpu_ynnpack", "eigen_cpu"):
        s = (_xla_cpu if reduction == "xla_cpu_ynnpack" else _eigen_cpu).reduce_sum(x, axes)
        return s, xp.astype(s, xp.float64)
    rows = xp.astype(move_to_end(x, axes), xp.float64)
    if reduction == "sequential_float64":
        s64 = xp.cumulative_sum(rows, axis=-1)[..., -1]
    else:
        s64 = xp.sum(rows, axis=-1)
    s64 = _keep(s64, x, axes)
    return xp.astype(s64, x.dtype), s64


def _divide(s, s64, n: int, *, reduction):
    """A sum over ``n`` elements divided by ``n`` as the reduction's kernel divides."""
    xp = array_namespace(s)
    if reduction == "sequential_float64":
        return xp.astype(s64 / n, s.dtype)
    if reduction in ("xla_cpu", "xla_cpu_ynnpack"):
        return s * float(xp.asarray(1.0 / n, dtype=s.dtype))
    return s / n


def _mean(x, axes, *, reduction, threads=1):
    s, s64 = reduce_sum(x, axes, reduction=reduction, threads=threads)
    return _divide(s, s64, count(x, axes), reduction=reduction)


def mean_and_var(x, axes, *, variance: str, reduction: str, use_mean: bool = True,
                 threads: int = 1):
    """Batch mean and biased variance over ``axes`` (kept as size-1 axes), plus the sum of
    squared deviations (two-pass only; ``None`` otherwise) for an unbiased estimate.

    ``variance``:
      ``"two_pass"``: :math:`\\mu = \\frac1n\\sum x`, :math:`\\sigma^2 = \\frac1n\\sum (x-\\mu)^2`
      (each square rounded in float32 before it is summed);
      ``"jnp_var"``: the same sums, the variance one division by :math:`n` whatever the
      reduction's mean does (``jnp.var`` jitted: ``sum((x - mean)^2) / n``);
      ``"mean_sq_minus_sq_mean"``: :math:`\\sigma^2 = \\frac1n\\sum x^2 - \\mu^2`, which cancels
      catastrophically when :math:`|\\mu| \\gg \\sigma` and can come out negative (Keras'
      torch backend uses it unclamped);
      ``"mean_sq_minus_sq_mean_clamped"``: the same, clamped at 0 (Flax ``use_fast_variance``).
    ``use_mean=False`` (RMS statistics): :math:`\\mu = 0`, :math:`\\sigma^2 = \\frac1n\\sum x^2`.
    """
    xp = array_namespace(x)
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    n = count(x, axes)
    if not use_mean:
        var = _mean(x * x, axes, reduction=reduction, threads=threads)
        return xp.zeros_like(var), var, None
    if variance == "torch_rowwise_welford":
        mu, var = rowwise_moments(move_to_end(x, axes))
        var = xp.maximum(var, xp.zeros_like(var))
        return _keep(mu, x, axes), _keep(var, x, axes), None
    mu = _mean(x, axes, reduction=reduction, threads=threads)
    if variance in ("two_pass", "jnp_var"):
        d = x - mu
        sq_sum, sq_sum64 = reduce_sum(d * d, axes, reduction=reduction, threads=threads)
        if variance == "two_pass" and reduction in ("xla_cpu", "xla_cpu_ynnpack"):
            return mu, _divide(sq_sum, sq_sum64, n, reduction=reduction), sq_sum
        return mu, sq_sum / n, sq_sum
    var = _mean(x * x, axes, reduction=reduction, threads=threads) - mu * mu
    if variance == "mean_sq_minus_sq_mean_clamped":
        var = xp.maximum(var, xp.zeros_like(var))
    return mu, var, None


def inverse_std(var, eps: float, *, precision: str = "float32", method: str = "one_over_sqrt"):
    """:math:`1/\\sqrt{\\sigma^2 + \\epsilon}`.

    ``method="one_over_sqrt"`` with ``precision="float32"``: eps rounded to the dtype,
    added, square root, reciprocal, each rounded (torch's eval path, and every backend
    that divides by a square root); ``precision="float64"``: computed in float64 from the
    float32 variance and rounded once (torch's CPU batch norm in training,
    ``InvStd<double>``). Another ``method`` is a reciprocal-square-root kernel of
    :func:`eps_ref.rules._roots.rsqrt` applied to the float32 ``var + eps``:
    ``"xla_rsqrtps_newton_fma"`` is ``lax.rsqrt`` on XLA:CPU (Flax, Keras on JAX),
    ``"eigen_rsqrtps_newton"`` ``tf.math.rsqrt`` (Keras on TensorFlow).
    """
    xp = array_namespace(var)
    if method not in RSQRT_METHODS:
        raise ValueError(f"method must be one of {RSQRT_METHODS}, got {method!r}")
    if method != "one_over_sqrt":
        return rsqrt(var + eps, method)
    if precision == "float64":
        v = xp.astype(var, xp.float64)
        return xp.astype(1.0 / xp.sqrt(v + eps), var.dtype)
    if precision != "float32":
        raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
    return 1.0 / xp.sqrt(var + eps)


def affine(x, mean, invstd, scale, bias, *, form: str):
    """The normalized, scaled and shifted output, in the framework's operation order.

    ``"torch_cpu_fused"``: :math:`\\alpha = \\hat\\sigma^{-1}\\gamma`,
    :math:`\\beta' = \\mathrm{fma}(-\\mu, \\alpha, \\beta)`, :math:`y = \\mathrm{fma}(x, \\alpha, \\beta')`
    (torch's ``batch_norm_cpu_contiguous_impl``, compiled with FMA contraction);
    ``"scale_shift"``: :math:`s = \\hat\\sigma^{-1}\\gamma`, :math:`y = x s + (\\beta - \\mu s)`
    (``tf.nn.batch_normalization``; Keras' JAX batch norm and layer norm);
    ``"scale_shift_grouped"``: :math:`y = (x s + (-\\mu s)) + \\beta` where :math:`-\\mu s` has
    the input's shape, else ``"scale_shift"`` (Keras' layer and group norms in a
    ``tf.function``: Grappler's arithmetic optimizer turns ``x*s + (-mu*s + beta)`` into
    one AddN and adds the terms of the input's shape first);
    ``"center_scale"``: :math:`y = (x - \\mu)(\\hat\\sigma^{-1}\\gamma) + \\beta` (Flax, Keras'
    torch batch norm);
    ``"center_then_fma"``: :math:`y = \\mathrm{fma}((x-\\mu)\\hat\\sigma^{-1}, \\gamma, \\beta)`
    (torch's CPU layer norm);
    ``"normalize_then_scale"``: :math:`y = ((x-\\mu)\\hat\\sigma^{-1})\\gamma + \\beta`, each
    product rounded (Keras' RMS normalization on TensorFlow and JAX).
    ``scale``/``bias`` may be ``None`` (not learned).
    """
    xp = array_namespace(x, mean, invstd)
    s = invstd if scale is None else invstd * scale
    if form == "torch_cpu_fused":
        b = xp.zeros_like(s) if bias is None else bias + xp.zeros_like(s)
        shift = fma(-mean + xp.zeros_like(s), s, b)
        s_full = s + xp.zeros_like(x)
        return fma(x, s_full, shift + xp.zeros_like(x))
    if form == "scale_shift_grouped" and tuple((-mean * s).shape) == tuple(x.shape):
        y = x * s + -mean * s
        return y if bias is None else y + bias
    if form in ("scale_shift", "scale_shift_grouped"):
        shift = -mean * s
        if bias is not None:
            shift = shift + bias
        return x * s + shift
    if form in ("center_then_fma", "normalize_then_scale"):
        y = (x - mean) * invstd
        if form == "center_then_fma" and scale is not None:
            b = xp.zeros_like(y) if bias is None else bias + xp.zeros_like(y)
            return fma(y, scale + xp.zeros_like(y), b)
        y = y if scale is None else y * scale
        return y if bias is None else y + bias
    if form == "center_scale":
        y = (x - mean) * s
        return y if bias is None else y + bias
    raise ValueError(f"form must be one of {AFFINE_FORMS}, got {form!r}")

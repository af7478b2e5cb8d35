r"""Gradient clipping: pure functions of the whole gradient tree, given as its list of leaves.

A global norm needs every leaf, so a clip is not a per-array rule: each transform here maps
a list of gradient arrays to a new list (inputs never mutated). Dialect tables wrap them in
:class:`eps_ref.spec.GradientTransform` (``torch.nn.utils.clip_grad_norm_``,
``optax.clip_by_global_norm``, ...), and the Keras 3 base optimizer runs them from its
``clipnorm`` / ``global_clipnorm`` / ``clipvalue`` options (:mod:`eps_ref.rules.keras_base`).

The formulas, with :math:`g_i` the leaves and :math:`c` the threshold:

torch ``clip_grad_norm_``
    :math:`n_i = \lVert g_i\rVert_p`, :math:`N = \lVert (n_1, \dots, n_k)\rVert_p`,
    :math:`s = \min(\mathrm{fl}(1/(N + 10^{-6})) \cdot c,\ 1)`, :math:`g_i \leftarrow g_i s`.
    The ``1e-6`` is added to the norm, and ``c / x`` is ``x.reciprocal() * c`` (torch's
    ``Tensor.__rtruediv__``): two roundings. The per-leaf 2-norm is torch's CPU
    ``linalg.vector_norm`` kernel (:func:`torch_vector_norm`).
torch ``clip_grad_value_``
    :math:`g \leftarrow \min(\max(g, -c), c)`.
optax ``clip_by_global_norm``
    :math:`N = \sqrt{\sum_i \sum g_i^2}` (no epsilon); :math:`g` unchanged where
    :math:`N < c`, else :math:`(g \cdot \mathrm{fl}(1/N)) \cdot c`: XLA:CPU runs the division
    of an array by a broadcast scalar as a multiplication by its reciprocal, also eagerly
    (measured, jax 0.10.2). ``optax.tree.norm``: each leaf's rounded squares summed by an
    eager ``jnp.sum`` (:func:`eps_ref.rules._reductions.xla_reduce_sum`), the leaf sums
    added left to right from 0 (``jax.tree.reduce(operator.add, ..., initializer=0)``, the
    leaves of a dict in sorted-key order).
optax ``clip``
    :math:`g \leftarrow \mathrm{clip}(g, -c, c)`.
Keras ``clipnorm`` (per variable)
    :math:`g \leftarrow (g c) / \max(\lVert g\rVert_2, c)`, the norm 0 where
    :math:`\sum g^2 = 0`; on JAX the division is :math:`(g c) \cdot
    \mathrm{fl}(1/\max(\cdot))` (XLA:CPU), except on a one-element leaf, which is divided.
Keras ``global_clipnorm``
    :math:`N = \sqrt{\sum_i \sum g_i^2}`, :math:`s = c \cdot \min(1/N, \mathrm{fl}(1/c)) +
    (N - N)`, :math:`g \leftarrow g s` (the last term turns a non-finite norm into NaN).
    ``global_norm`` sums each leaf with ``ops.sum(ops.square(g))``, then the stacked leaf
    sums with ``ops.sum(ops.stack(...))``: the backend's own sum over a vector of one value
    per leaf (:func:`eps_ref.rules._reductions.stacked_sum`; torch's from 4 leaves and
    Eigen's from 8 are not left to right).
Keras ``clipvalue``
    :math:`g \leftarrow \mathrm{clip}(g, -c, c)`.

Sums of squares follow one framework kernel each (``reduction``, see
:func:`eps_ref.rules._reductions.sum_of_squares`): ``"eigen_avx_4x8"`` (TensorFlow),
``"xla_cpu_sequential"`` (eager JAX), ``"torch_cpu_avx2"`` (``torch.sum``), at every
length; ``threads`` is the framework's intra-op thread count, which the large sums of all
three depend on. Square roots: ``"correctly_rounded"`` or ``"mkl_goldschmidt_rsqrtps"``
(``torch.sqrt``), see :mod:`eps_ref.rules._roots`.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from eps_ref.rules import _roots
from eps_ref.rules._numerics import xla_divide_by_scalar, xla_rewrites_division
from eps_ref.rules._reductions import EIGEN_LANES, EIGEN_SUM_COMPUTE
from eps_ref.rules._reductions import REDUCTIONS as NORM_REDUCTIONS
from eps_ref.rules._reductions import (eigen_sum, l2_norm, stacked_sum, sum_of_squares,
                                       xla_reduce_sum)

__all__ = ["torch_vector_norm", "torch_clip_grad_norm", "torch_clip_grad_value",
           "optax_clip_by_global_norm", "optax_clip", "keras_clip_by_norm",
           "keras_clip_by_global_norm", "keras_clip_by_value", "tf_l2_loss", "tf_global_norm",
           "tf_clip_by_global_norm", "tf_clip_by_value"]

DIVISIONS = ("divide", "multiply_by_reciprocal")


def _namespace(leaves):
    if not leaves:
        raise ValueError("clipping needs at least one gradient array")
    return array_namespace(*leaves)


def _left_to_right(values, xp):
    """``((0 + v_0) + v_1) + ...``: Python's ``sum`` and ``jax.tree.reduce`` over per-leaf
    values."""
    total = xp.zeros((), dtype=values[0].dtype)
    for v in values:
        total = total + v
    return total


def torch_vector_norm(x, norm_type: float = 2.0):
    r"""``torch.linalg.vector_norm(x, norm_type)`` of a float array on CPU, as a 0-d array.

    2-norm: the sum of squares of :func:`eps_ref.rules._reductions.torch_norm_sums` over the
    flat array (8 lanes, then the scalar tail as the compiler splits it), and ``std::sqrt``
    rounds once. Infinity norm: :math:`\max |x|`.
    """
    xp = array_namespace(x)
    flat = xp.reshape(x, (-1,))
    if norm_type == math.inf:
        return xp.max(xp.abs(flat)) if flat.shape[0] else xp.zeros((), dtype=x.dtype)
    if norm_type != 2.0:
        raise ValueError(f"torch_vector_norm: norm_type {norm_type!r} is not modelled "
                         "(2.0 and inf are)")
    return l2_norm(flat, reduction="torch_cpu_norm")


def torch_clip_grad_norm(leaves, *, max_norm: float, norm_type: float = 2.0,
                         error_if_nonfinite: bool = False, eps: float = 1e-6) -> list:
    """``torch.nn.utils.clip_grad_norm_`` (module docstring); returns the clipped leaves."""
    xp = _namespace(leaves)
    norms = [torch_vector_norm(g, norm_type) for g in leaves]
    dtype = xp.result_type(*norms)
    total = torch_vector_norm(xp.stack([xp.astype(v, dtype) for v in norms]), norm_type)
    if error_if_nonfinite and not bool(xp.all(xp.isfinite(total))):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients is non-finite, so it cannot "
            "be clipped (error_if_nonfinite=True)")
    coef = (1.0 / (total + eps)) * max_norm       # reciprocal(), then times max_norm
    coef = xp.minimum(coef, xp.ones_like(coef))
    return [g * xp.astype(coef, g.dtype) for g in leaves]


def torch_clip_grad_value(leaves, *, clip_value: float) -> list:
    """``torch.nn.utils.clip_grad_value_``: clamp below at ``-clip_value``, then above."""
    xp = _namespace(leaves)
    return [xp.minimum(xp.maximum(g, xp.asarray(-clip_value, dtype=g.dtype)),
                       xp.asarray(clip_value, dtype=g.dtype)) for g in leaves]


def optax_clip_by_global_norm(leaves, *, max_norm: float,
                              division: str = "multiply_by_reciprocal",
                              threads: int = 1) -> list:
    """``optax.clip_by_global_norm`` (module docstring). ``division``: how ``g / N`` is
    evaluated, ``"multiply_by_reciprocal"`` (XLA:CPU) or ``"divide"``; ``threads``: XLA's
    intra-op threads (the sums of leaves of 32768 elements or more depend on them)."""
    xp = _namespace(leaves)
    if division not in DIVISIONS:
        raise ValueError(f"division must be one of {DIVISIONS}, got {division!r}")
    sq = _left_to_right([xla_reduce_sum(g * g, threads=threads) for g in leaves], xp)
    norm = _roots.sqrt(sq, "correctly_rounded")
    keep = norm < max_norm
    out = []
    for g in leaves:
        n = xp.astype(norm, g.dtype)
        scaled = xla_divide_by_scalar(g, n) if division == "multiply_by_reciprocal" else g / n
        out.append(xp.where(keep, g, scaled * max_norm))
    return out


def optax_clip(leaves, *, max_delta: float) -> list:
    """``optax.clip``: :math:`\\mathrm{clip}(g, -c, c)` elementwise."""
    xp = _namespace(leaves)
    return [xp.clip(g, -max_delta, max_delta) for g in leaves]


def keras_clip_by_norm(leaves, *, clipnorm: float, reduction: str = "eigen_avx_4x8",
                       sqrt_method: str = "correctly_rounded", division: str = "divide",
                       threads: int = 1) -> list:
    """Keras ``clipnorm``: each leaf clipped to norm ``clipnorm`` on its own (module
    docstring); ``BaseOptimizer._clip_by_norm`` and ``tf.clip_by_norm`` compute the same.
    ``division``: ``"divide"`` or ``"multiply_by_reciprocal"`` (Keras on JAX: XLA:CPU
    rewrites the division by the broadcast norm)."""
    xp = _namespace(leaves)
    if reduction not in NORM_REDUCTIONS:
        raise ValueError(f"reduction must be one of {NORM_REDUCTIONS}, got {reduction!r}")
    if division not in DIVISIONS:
        raise ValueError(f"division must be one of {DIVISIONS}, got {division!r}")
    out = []
    for g in leaves:
        l2sum = sum_of_squares(g, reduction=reduction, threads=threads)
        positive = l2sum > 0
        safe = xp.where(positive, l2sum, xp.ones_like(l2sum))
        l2norm = xp.where(positive, _roots.sqrt(safe, sqrt_method), l2sum)
        bound = xp.maximum(l2norm, xp.asarray(clipnorm, dtype=g.dtype))
        scaled = g * clipnorm
        out.append(scaled * (1.0 / bound)
                   if division == "multiply_by_reciprocal" and xla_rewrites_division(scaled)
                   else scaled / bound)
    return out


def keras_clip_by_global_norm(leaves, *, clipnorm: float, reduction: str = "eigen_avx_4x8",
                              sqrt_method: str = "correctly_rounded",
                              threads: int = 1) -> list:
    """Keras ``global_clipnorm`` (``base_optimizer.clip_by_global_norm``, module
    docstring): each leaf's sum of squares, then their stacked sum, both in ``reduction``'s
    kernel order."""
    xp = _namespace(leaves)
    if reduction not in NORM_REDUCTIONS:
        raise ValueError(f"reduction must be one of {NORM_REDUCTIONS}, got {reduction!r}")
    squares = [sum_of_squares(g, reduction=reduction, threads=threads) for g in leaves]
    norm = _roots.sqrt(stacked_sum(squares, reduction=reduction), sqrt_method)
    bound = xp.asarray(1.0 / clipnorm, dtype=norm.dtype)      # Python float, then cast
    scale = clipnorm * xp.minimum(1.0 / norm, bound) + (norm - norm)
    return [g * xp.astype(scale, g.dtype) for g in leaves]


def keras_clip_by_value(leaves, *, clipvalue: float) -> list:
    """Keras ``clipvalue``: ``ops.clip(g, -clipvalue, clipvalue)``."""
    xp = _namespace(leaves)
    return [xp.clip(g, -clipvalue, clipvalue) for g in leaves]


def tf_clip_by_value(leaves, *, clip_value: float) -> list:
    """``tf.clip_by_value(g, -c, c)`` (tf_keras' ``clipvalue``): ``minimum(g, c)``, then
    ``maximum(., -c)``."""
    xp = _namespace(leaves)
    return [xp.maximum(xp.minimum(g, xp.asarray(clip_value, dtype=g.dtype)),
                       xp.asarray(-clip_value, dtype=g.dtype)) for g in leaves]


L2_LOSS_COMPUTE = EIGEN_SUM_COMPUTE + 2.0 / EIGEN_LANES
"""Eigen's compute cost per coefficient of ``L2Loss``'s ``(x.square() * 0.5).sum()``: the
reduction's plus one cycle each for the square and the product, per packet of 8."""


def tf_l2_loss(x, *, threads: int = 1):
    r"""``tf.nn.l2_loss(x)`` on CPU (the ``L2Loss`` kernel, ``(x.square() * 0.5).sum()``),
    as a 0-d array: :math:`\sum_i \mathrm{fl}(\mathrm{fl}(x_i^2) \cdot 0.5)`, each square
    halved BEFORE the sum, in :func:`eps_ref.rules._reductions.eigen_sum`'s order, sharded
    over ``threads`` by Eigen's cost model for this expression (from 96000 elements on two
    threads). TensorFlow flushes subnormals to zero (squares below 1.2e-38 count as 0
    there); that is not modelled."""
    xp = array_namespace(x)
    flat = xp.reshape(x, (-1,))
    return eigen_sum((flat * flat) * 0.5, threads=threads, compute_cycles=L2_LOSS_COMPUTE)


def tf_global_norm(leaves, *, threads: int = 1):
    r"""``tf.linalg.global_norm``: :math:`\sqrt{2 \cdot \Sigma_{\mathrm{eigen}}(\ell_1,
    \dots)}` with :math:`\ell_i` = :func:`tf_l2_loss` of each leaf, the per-leaf halves
    stacked and summed by :func:`eigen_sum`, the root correctly rounded."""
    xp = _namespace(leaves)
    halves = xp.stack([tf_l2_loss(g, threads=threads) for g in leaves])
    return _roots.sqrt(eigen_sum(halves) * 2.0, "correctly_rounded")


def tf_clip_by_global_norm(leaves, *, clip_norm: float, threads: int = 1) -> list:
    r"""``tf.clip_by_global_norm(leaves, clip_norm)[0]`` with a Python ``clip_norm`` (tf_keras'
    ``global_clipnorm``): :math:`N` = :func:`tf_global_norm`, :math:`s = c \cdot
    \min(1/N, 1/c) + (N - N)`, :math:`g \leftarrow g s`. Unlike Keras 3, :math:`1/c` is a
    float32 division of 1 by :math:`\mathrm{fl}(c)` (Keras 3 rounds the float64
    :math:`1/c`), and the norm comes from ``l2_loss`` (halved squares, then doubled)."""
    xp = _namespace(leaves)
    norm = tf_global_norm(leaves, threads=threads)
    bound = xp.asarray(1.0, dtype=norm.dtype) / clip_norm
    scale = clip_norm * xp.minimum(1.0 / norm, bound) + (norm - norm)
    return [g * xp.astype(scale, g.dtype) for g in leaves]

"""Per-sample normalization over feature axes: layer norm (Ba et al., 2016), RMS norm
(Zhang & Sennrich, 2019) and instance norm (Ulyanov et al., 2016) are one computation with
different axes:

.. math::
    y = \\gamma \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

with :math:`\\mu, \\sigma^2` over ``reduce_axes`` of each sample (RMS norm: :math:`\\mu = 0`,
:math:`\\sigma^2 = \\overline{x^2}`), and :math:`\\gamma, \\beta` of the shape of ``feature_axes``.
Layer norm reduces over the feature axes; instance norm over the spatial axes, per
channel. No running statistics (torch's instance norm with ``track_running_stats`` is not
modelled).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from eps_ref.norms._stats import affine, inverse_std, mean_and_var

__all__ = ["feature_norm", "init", "apply"]


def _axes(x, axes, what, name):
    out = []
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"{name}: {what} axis {a} does not exist for an input of "
                             f"{x.ndim} dimensions (shape {tuple(x.shape)})")
        out.append(a % x.ndim)
    return tuple(sorted(set(out)))


def _check(x, *, feature_axes, reduce_axes, trailing_shape, input_ndims, min_ndim, name):
    if input_ndims is not None and x.ndim not in input_ndims:
        want = " or ".join(f"{d}D" for d in input_ndims)
        raise ValueError(f"{name}: expected {want} input, got {x.ndim}D input of shape "
                         f"{tuple(x.shape)}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: expected an input of at least {min_ndim} dimensions, got "
                         f"shape {tuple(x.shape)}")
    if trailing_shape is not None:
        k = len(trailing_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != tuple(trailing_shape):
            raise ValueError(f"{name}: expected input with shape [*, "
                             f"{', '.join(map(str, trailing_shape))}], got {tuple(x.shape)}")
        feature_axes = reduce_axes = tuple(range(-k, 0))
    if reduce_axes == "spatial":
        reduce_axes = tuple(a for a in range(1, x.ndim) if a % x.ndim not in
                            {b % x.ndim for b in feature_axes})
    return (_axes(x, feature_axes, "feature", name), _axes(x, reduce_axes, "reduction", name))


def init(x, *, feature_axes=(-1,), reduce_axes=(-1,), trailing_shape=None, learn_scale=True,
         learn_bias=True, input_ndims=None, min_ndim=1, name="layer_norm") -> dict:
    """Scale 1 and bias 0 of the shape of the feature axes of ``x``."""
    xp = array_namespace(x)
    feature_axes, _ = _check(x, feature_axes=feature_axes, reduce_axes=reduce_axes,
                             trailing_shape=trailing_shape, input_ndims=input_ndims,
                             min_ndim=min_ndim, name=name)
    shape = tuple(x.shape[a] for a in feature_axes)
    state = {}
    if learn_scale:
        state["scale"] = xp.ones(shape, dtype=x.dtype)
    if learn_bias:
        state["bias"] = xp.zeros(shape, dtype=x.dtype)
    return state


def feature_norm(x, state: dict, *, training: bool = False, eps: float, variance: str,
                 reduction: str, affine_form: str, use_mean: bool = True,
                 feature_axes=(-1,), reduce_axes=(-1,), trailing_shape=None,
                 learn_scale=True, learn_bias=True, input_ndims=None, min_ndim=1,
                 invstd_precision="float32", rsqrt="one_over_sqrt", threads: int = 1,
                 min_values_per_group=0, name="layer_norm"):
    """``(y, state)``; the state (parameters only) is returned unchanged. ``training`` does
    not change the computation (no running statistics).

    ``reduce_axes="spatial"`` means every axis but the batch axis 0 and the feature axes
    (instance norm); ``trailing_shape`` (torch's ``normalized_shape``) sets both axes sets to
    the trailing dimensions and checks their sizes. ``eps=None`` is the machine epsilon of
    the input dtype (torch's ``RMSNorm`` default). ``invstd_precision`` and ``rsqrt`` are
    :func:`eps_ref.norms._stats.inverse_std`'s ``precision`` and ``method``. ``threads``: the
    framework's intra-op thread count, for reductions split over threads. Statistics over at
    most ``min_values_per_group`` values are refused (torch's instance norm: 1).
    """
    xp = array_namespace(x)
    feature_axes, reduce_axes = _check(
        x, feature_axes=feature_axes, reduce_axes=reduce_axes, trailing_shape=trailing_shape,
        input_ndims=input_ndims, min_ndim=min_ndim, name=name)
    pshape = tuple(x.shape[a] if a in feature_axes else 1 for a in range(x.ndim))
    want = tuple(x.shape[a] for a in feature_axes)
    params = {}
    for key in ("scale", "bias"):
        if key in state:
            if tuple(state[key].shape) != want:
                raise ValueError(f"{name}: {key} has shape {tuple(state[key].shape)}, the "
                                 f"input's feature axes {feature_axes} have {want}")
            params[key] = xp.reshape(state[key], pshape)
    if math.prod(x.shape[a] for a in reduce_axes) <= min_values_per_group:
        raise ValueError(f"{name}: expected more than {min_values_per_group} value(s) per "
                         f"normalization group, got input of shape {tuple(x.shape)}")
    mean, var, _ = mean_and_var(x, reduce_axes, variance=variance, reduction=reduction,
                                use_mean=use_mean, threads=threads)
    if eps is None:
        eps = float(xp.finfo(x.dtype).eps)
    invstd = inverse_std(var, eps, precision=invstd_precision, method=rsqrt)
    y = affine(x, mean, invstd, params.get("scale"), params.get("bias"), form=affine_form)
    return y, state


apply = feature_norm

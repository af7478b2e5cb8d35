"""Group normalization (Wu & He, 2018): the channels split into ``groups`` contiguous
groups; each sample is normalized over its spatial axes and the channels of each group,

.. math::
    y = \\gamma_c \\frac{x - \\mu_g}{\\sqrt{\\sigma_g^2 + \\epsilon}} + \\beta_c ,

with a per-channel scale and bias. ``channel_axis`` is 1 in torch, -1 in Keras and Flax.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.norms._stats import affine, inverse_std, mean_and_var
from eps_ref.norms._torch_cpu import group_norm_channels_last, memory_format

__all__ = ["group_norm", "init", "apply"]


def _check(x, *, groups, channel_axis, num_channels, name):
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an input of at least 2 dimensions (batch, ..., "
                         f"channels), got shape {tuple(x.shape)}")
    if not -x.ndim <= channel_axis < x.ndim:
        raise ValueError(f"{name}: channel axis {channel_axis} does not exist for an input "
                         f"of {x.ndim} dimensions (shape {tuple(x.shape)})")
    axis = channel_axis % x.ndim
    if axis == 0:
        raise ValueError(f"{name}: the channel axis cannot be the batch axis 0")
    c = x.shape[axis]
    if num_channels is not None and c != num_channels:
        raise ValueError(f"{name}: expected {num_channels} channels on axis {axis}, got input "
                         f"of shape {tuple(x.shape)}")
    if groups <= 0 or c % groups:
        raise ValueError(f"{name}: {groups} groups do not divide the {c} channels")
    return axis, c


def init(x, *, groups, channel_axis, num_channels=None, learn_scale=True, learn_bias=True,
         name="group_norm") -> dict:
    xp = array_namespace(x)
    _, c = _check(x, groups=groups, channel_axis=channel_axis, num_channels=num_channels,
                  name=name)
    state = {}
    if learn_scale:
        state["scale"] = xp.ones((c,), dtype=x.dtype)
    if learn_bias:
        state["bias"] = xp.zeros((c,), dtype=x.dtype)
    return state


def group_norm(x, state: dict, *, training: bool = False, groups: int, channel_axis: int,
               eps: float, variance: str, reduction: str, affine_form: str,
               invstd_precision: str = "float32", threads: int = 1, num_channels=None,
               learn_scale=True, learn_bias=True, rsqrt="one_over_sqrt", name="group_norm"):
    """``(y, state)``; statistics over each sample's group, parameters per channel;
    ``invstd_precision`` and ``rsqrt`` are :func:`eps_ref.norms._stats.inverse_std`'s
    ``precision`` and ``method``. torch's kernel (``variance="torch_rowwise_welford"``) on a
    channels-last input (read from its strides) is another one:
    :func:`eps_ref.norms._torch_cpu.group_norm_channels_last` on ``threads``, the output
    always ``"torch_cpu_fused"``."""
    xp = array_namespace(x)
    axis, c = _check(x, groups=groups, channel_axis=channel_axis, num_channels=num_channels,
                     name=name)
    gshape = tuple(x.shape[:axis]) + (groups, c // groups) + tuple(x.shape[axis + 1:])
    xg = xp.reshape(x, gshape)
    reduce_axes = tuple(a for a in range(1, xg.ndim) if a != axis)
    if variance == "torch_rowwise_welford" and memory_format(x) == "channels_last":
        stats = group_norm_channels_last(x, groups, threads=threads)
        mean, var = (xp.reshape(v, (x.shape[0], groups) + (1,) * (xg.ndim - 2))
                     for v in stats)
        affine_form = "torch_cpu_fused"
    else:
        mean, var, _ = mean_and_var(xg, reduce_axes, variance=variance, reduction=reduction)
    invstd = inverse_std(var, eps, precision=invstd_precision, method=rsqrt)
    pshape = tuple(gshape[a] if a in (axis, axis + 1) else 1 for a in range(xg.ndim))
    scale = xp.reshape(state["scale"], pshape) if "scale" in state else None
    bias = xp.reshape(state["bias"], pshape) if "bias" in state else None
    y = affine(xg, mean, invstd, scale, bias, form=affine_form)
    return xp.reshape(y, tuple(x.shape)), state


apply = group_norm

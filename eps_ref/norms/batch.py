"""Batch normalization (Ioffe & Szegedy, 2015), with every framework switch explicit.

Training, per channel :math:`c` over the batch and spatial axes (:math:`n` values):

.. math::
    \\mu = \\tfrac1n \\sum x, \\quad \\sigma^2 = \\tfrac1n \\sum (x-\\mu)^2, \\quad
    y = \\gamma \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

and the running statistics move toward the batch statistics:

``momentum_form="weight_on_batch"`` (torch, default ``momentum=0.1``):
    :math:`r \\leftarrow m\\,b + (1-m)\\,r`;
``momentum_form="cumulative_average"`` (torch ``momentum=None``):
    the same with :math:`m = 1/t` after :math:`t` training batches (an equal-weight average);
``momentum_form="weight_on_running"`` (Keras, Flax, default ``momentum=0.99``):
    :math:`r \\leftarrow m\\,r + (1-m)\\,b`.

``running_variance="unbiased"`` (torch) feeds :math:`\\frac{n}{n-1}\\sigma^2` to the running
variance while normalizing with the biased :math:`\\sigma^2`; ``"biased"`` (Keras, Flax) feeds
:math:`\\sigma^2`. In inference the running statistics replace the batch ones
(``eval_statistics="running"``), unless the layer tracks none (torch
``track_running_stats=False``: ``"batch"``).

torch's CPU kernel order (``aten/src/ATen/native/Normalization.cpp``,
``cpu/batch_norm_kernel.cpp``): statistics as ``batch_norm_cpu_collect_stats_kernel`` sums
them (``reduction="torch_cpu_batch_norm"``, :func:`eps_ref.norms._torch_cpu.batch_norm_stats`:
in float64 for a contiguous input with spatial size above 1; in float32 per thread, the
thread partials in float64, for ``(N, C)``, ``(N, C, 1)`` and channels-last inputs, so the
result depends on ``threads``), :math:`1/\\sqrt{\\sigma^2+\\epsilon}` in float64 in training,
float32 in inference; running mean updated in float32; running variance as
``float64(m) * float64(unbiased) + float32((1-m) * r)`` rounded once
(``running_update="torch_cpu"``); output ``fma(x, a, fma(-mu, a, beta))`` with
:math:`a = \\gamma/\\hat\\sigma`.

Batch renormalization (Ioffe, 2017), ``renorm="keras"`` (Keras 3 ``renorm=True``,
``keras/src/layers/normalization/batch_normalization.py``): the layer also tracks
``renorm_mean`` :math:`\\mu_r`, ``renorm_stddev`` :math:`s_r` (momentum ``renorm_momentum``
:math:`m_r`) and ``moving_stddev`` :math:`s_m` (momentum :math:`m`), the stddevs initialized to
the square root of the moving variance's initial value. In training, with
:math:`s = \\sqrt{\\sigma^2 + \\epsilon}` and :math:`\\hat s_r = \\max(s_r, \\sqrt{\\epsilon})`,

.. math::
    r = \\mathrm{clip}(s / \\hat s_r, r_{min}, r_{max}), \\quad
    d = \\mathrm{clip}((\\mu - \\mu_r) / \\hat s_r, -d_{max}, d_{max}),

both constants of the gradient (``stop_gradient``), and the batch is normalized with its own
statistics and the composed scale :math:`r\\gamma` and offset :math:`d\\gamma + \\beta` (:math:`r`
and :math:`d` alone without ``scale``/``center``). Then
:math:`\\mu_r \\leftarrow m_r \\mu_r + (1-m_r)\\mu`, :math:`s_r \\leftarrow m_r s_r + (1-m_r) s`,
the running mean as without renorm, :math:`s_m \\leftarrow m s_m + (1-m) s`, and the running
variance is derived: :math:`\\max(s_m^2 - \\epsilon, 0)`. Inference is unchanged (running mean
and variance). A missing clip bound is no clip (Keras: ``rmin`` 0, ``rmax`` and ``dmax``
infinite).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.norms._stats import affine, inverse_std, mean_and_var
from eps_ref.norms._torch_cpu import batch_norm_stats
from eps_ref.rules._roots import sqrt as _sqrt

__all__ = ["MOMENTUM_FORMS", "batch_norm", "init", "apply"]

MOMENTUM_FORMS = ("weight_on_batch", "cumulative_average", "weight_on_running")
RUNNING_UPDATES = ("torch_cpu", "float32")
RENORMS = ("none", "keras")


def check_channel_axis(x, axis: int, name: str) -> int:
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}: channel axis {axis} does not exist for an input of "
                         f"{x.ndim} dimensions (shape {tuple(x.shape)})")
    return axis % x.ndim


def check_ndim(x, input_ndims, name: str) -> None:
    if input_ndims is not None and x.ndim not in input_ndims:
        want = " or ".join(f"{d}D" for d in input_ndims)
        raise ValueError(f"{name}: expected {want} input, got {x.ndim}D input of shape "
                         f"{tuple(x.shape)}")


def _validate(x, *, axis, num_features, input_ndims, name):
    check_ndim(x, input_ndims, name)
    axis = check_channel_axis(x, axis, name)
    if num_features is not None and x.shape[axis] != num_features:
        raise ValueError(f"{name}: expected {num_features} channels on axis {axis}, got input "
                         f"of shape {tuple(x.shape)}")
    return axis


def init(x, *, axis: int, num_features=None, learn_scale=True, learn_bias=True,
         track_running_stats=True, input_ndims=None, name="batch_norm",
         running_mean_init=0.0, running_var_init=1.0, scale_init=1.0, bias_init=0.0,
         renorm="none") -> dict:
    """Parameters and running statistics for an input like ``x``, as the framework builds
    them: scale :math:`\\gamma` = 1, bias :math:`\\beta` = 0, running mean 0, running variance 1;
    with ``renorm="keras"`` also ``renorm_mean`` (the running mean's initial value),
    ``renorm_stddev`` and ``moving_stddev`` (the square root of the running variance's)."""
    xp = array_namespace(x)
    axis = _validate(x, axis=axis, num_features=num_features, input_ndims=input_ndims,
                     name=name)
    c = x.shape[axis]

    def full(v):
        return xp.full((c,), v, dtype=x.dtype)

    state = {}
    if learn_scale:
        state["scale"] = full(scale_init)
    if learn_bias:
        state["bias"] = full(bias_init)
    if track_running_stats:
        state["running_mean"] = full(running_mean_init)
        state["running_var"] = full(running_var_init)
        state["num_batches_tracked"] = 0
    if renorm == "keras":
        stddev = _sqrt(full(running_var_init))
        state.update(renorm_mean=full(running_mean_init), renorm_stddev=stddev,
                     moving_stddev=stddev)
    elif renorm != "none":
        raise ValueError(f"renorm must be one of {RENORMS}, got {renorm!r}")
    return state


def _update(old, batch, w: float, *, form: str, running_update: str):
    xp = array_namespace(old, batch)
    if form == "weight_on_running":
        return old * w + batch * (1.0 - w)
    # torch: momentum_ = float(momentum); new = momentum_ * batch + (1 - momentum_) * old
    w32 = xp.asarray(w, dtype=old.dtype)
    if running_update == "float32":
        return w32 * batch + (1.0 - w32) * old
    rest = (1.0 - w32) * old
    return xp.astype(xp.astype(w32, xp.float64) * xp.astype(batch, xp.float64)
                     + xp.astype(rest, xp.float64), old.dtype)


def batch_norm(x, state: dict, *, training: bool, axis: int, eps: float, momentum,
               momentum_form: str, running_variance: str, variance: str, reduction: str,
               training_invstd: str, affine_form: str, eval_statistics: str = "running",
               running_var_update: str = "float32", min_values_per_channel: int = 1,
               renorm: str = "none", renorm_momentum: float = 0.99, renorm_rmin=None,
               renorm_rmax=None, renorm_dmax=None, sqrt_method: str = "correctly_rounded",
               rsqrt: str = "one_over_sqrt", threads: int = 1, num_features=None,
               input_ndims=None, name="batch_norm"):
    """One call of a batch-norm layer: ``(y, new_state)``. Pure: inputs are not modified.

    Args:
        x: input with channels on ``axis``.
        state: from :func:`init` (``scale``, ``bias``, ``running_mean``, ``running_var``,
            ``num_batches_tracked``; the absent ones are not learned or not tracked).
        training: batch statistics and running-statistics update when true.
        eps: added to the variance inside the square root.
        momentum: the framework's momentum (its meaning is ``momentum_form``); ``None`` with
            ``"cumulative_average"``.
        running_variance: ``"unbiased"`` or ``"biased"`` batch variance into the running one.
        variance, reduction: see :func:`eps_ref.norms._stats.mean_and_var`; or
            ``reduction="torch_cpu_batch_norm"``: torch's statistics kernel on channels
            ``axis=1`` (:func:`eps_ref.norms._torch_cpu.batch_norm_stats`; ``variance`` is
            its two-pass one).
        training_invstd: ``"float64"`` or ``"float32"`` (:func:`inverse_std`).
        rsqrt: the reciprocal-square-root kernel, training and inference
            (:func:`eps_ref.norms._stats.inverse_std`'s ``method``).
        affine_form: see :func:`eps_ref.norms._stats.affine`.
        eval_statistics: ``"running"`` or ``"batch"`` in inference.
        running_var_update: ``"torch_cpu"`` (float64 sum of a float64 product and a float32
            product) or ``"float32"``.
        min_values_per_channel: torch refuses training with one value per channel.
        renorm: ``"none"`` or ``"keras"`` (batch renormalization as Keras 3 runs it, see the
            module docstring; the state then holds ``renorm_mean``, ``renorm_stddev`` and
            ``moving_stddev``).
        renorm_momentum: :math:`m_r`, weight on the old renorm statistics.
        renorm_rmin, renorm_rmax, renorm_dmax: clip bounds of :math:`r` and :math:`d`;
            ``None`` does not clip.
        sqrt_method: the square root of :math:`s = \\sqrt{\\sigma^2+\\epsilon}` and of
            :math:`\\epsilon` in renorm (:func:`eps_ref.rules._roots.sqrt`).
        threads: the framework's intra-op thread count (``"torch_cpu_batch_norm"`` sums
            per thread).
    """
    xp = array_namespace(x)
    axis = _validate(x, axis=axis, num_features=num_features, input_ndims=input_ndims,
                     name=name)
    if renorm not in RENORMS:
        raise ValueError(f"renorm must be one of {RENORMS}, got {renorm!r}")
    if momentum_form not in MOMENTUM_FORMS:
        raise ValueError(f"momentum_form must be one of {MOMENTUM_FORMS}, got {momentum_form!r}")
    axes = tuple(a for a in range(x.ndim) if a != axis)
    shape = tuple(x.shape[a] if a == axis else 1 for a in range(x.ndim))
    scale = state.get("scale")
    bias = state.get("bias")
    scale = None if scale is None else xp.reshape(scale, shape)
    bias = None if bias is None else xp.reshape(bias, shape)
    tracked = "running_mean" in state
    new_state = dict(state)
    n = 1
    for a in axes:
        n *= x.shape[a]
    use_batch = training or eval_statistics == "batch" or not tracked
    if use_batch:
        if n <= min_values_per_channel:
            raise ValueError(f"{name}: expected more than {min_values_per_channel} value per "
                             f"channel when training, got input of shape {tuple(x.shape)}")
        if reduction == "torch_cpu_batch_norm":
            if axis != 1:
                raise ValueError(f"{name}: torch's statistics kernel takes channels on axis 1")
            mean, sq_sum = (xp.reshape(v, shape) for v in batch_norm_stats(x, threads=threads))
            var = sq_sum / n
        else:
            mean, var, sq_sum = mean_and_var(x, axes, variance=variance, reduction=reduction)
        invstd = inverse_std(var, eps, precision=training_invstd, method=rsqrt)
        if training and tracked and renorm == "keras":
            scale, bias, new_state = _renorm(
                state, new_state, mean, var, scale, bias, eps=eps, momentum=momentum,
                renorm_momentum=renorm_momentum, rmin=renorm_rmin, rmax=renorm_rmax,
                dmax=renorm_dmax, sqrt_method=sqrt_method, shape=shape)
        elif training and tracked:
            t = state["num_batches_tracked"] + 1
            w = 1.0 / t if momentum_form == "cumulative_average" else momentum
            form = "weight_on_batch" if momentum_form == "cumulative_average" else momentum_form
            if running_variance == "unbiased":
                if sq_sum is None:
                    batch_var = var * (n / (n - 1))
                else:
                    batch_var = sq_sum / (n - 1)
            elif running_variance == "biased":
                batch_var = var
            else:
                raise ValueError("running_variance must be 'unbiased' or 'biased'")
            new_state["running_mean"] = _update(
                state["running_mean"], xp.reshape(mean, (-1,)), w, form=form,
                running_update="float32")
            new_state["running_var"] = _update(
                state["running_var"], xp.reshape(batch_var, (-1,)), w, form=form,
                running_update=running_var_update)
            new_state["num_batches_tracked"] = t
    else:
        mean = xp.reshape(state["running_mean"], shape)
        invstd = inverse_std(xp.reshape(state["running_var"], shape), eps, precision="float32",
                             method=rsqrt)
    return affine(x, mean, invstd, scale, bias, form=affine_form), new_state


def _renorm(state, new_state, mean, var, scale, bias, *, eps, momentum, renorm_momentum,
            rmin, rmax, dmax, sqrt_method, shape):
    """Keras 3's batch renormalization in training: the composed scale and offset
    (:math:`r\\gamma`, :math:`d\\gamma + \\beta`) and the updated state."""
    xp = array_namespace(mean, var)
    stddev = _sqrt(var + eps, sqrt_method)
    renorm_mean = xp.reshape(state["renorm_mean"], shape)
    renorm_stddev = xp.reshape(state["renorm_stddev"], shape)
    floor = _sqrt(xp.asarray(eps, dtype=var.dtype), sqrt_method)
    denom = xp.maximum(renorm_stddev, floor)
    r = stddev / denom
    d = (mean - renorm_mean) / denom
    if rmin is not None:
        r = xp.maximum(r, xp.asarray(rmin, dtype=r.dtype))
    if rmax is not None:
        r = xp.minimum(r, xp.asarray(rmax, dtype=r.dtype))
    if dmax is not None:
        d = xp.minimum(xp.maximum(d, xp.asarray(-dmax, dtype=d.dtype)),
                       xp.asarray(dmax, dtype=d.dtype))
    # r and d are constants of the gradient (stop_gradient): they only rescale and shift.
    new_scale, new_bias = (r, d) if scale is None else (r * scale, d * scale)
    if bias is not None:
        new_bias = new_bias + bias

    def move(old, batch, w):
        return _update(old, xp.reshape(batch, (-1,)), w, form="weight_on_running",
                       running_update="float32")

    moving_stddev = move(state["moving_stddev"], stddev, momentum)
    new_state = dict(new_state)
    new_state.update(
        renorm_mean=move(state["renorm_mean"], mean, renorm_momentum),
        renorm_stddev=move(state["renorm_stddev"], stddev, renorm_momentum),
        running_mean=move(state["running_mean"], mean, momentum),
        moving_stddev=moving_stddev,
        running_var=xp.maximum(moving_stddev * moving_stddev - eps,
                               xp.zeros_like(moving_stddev)),
        num_batches_tracked=state["num_batches_tracked"] + 1)
    return new_scale, new_bias, new_state


def apply(x, state, *, training, threads: int = 1, learn_scale=True, learn_bias=True,
          track_running_stats=True, running_mean_init=0.0, running_var_init=1.0,
          scale_init=1.0, bias_init=0.0, **kw):
    """:func:`batch_norm`; the keywords of :func:`init` are accepted and not used."""
    return batch_norm(x, state, training=training, threads=threads, **kw)

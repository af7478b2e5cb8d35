r"""Adadelta (Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012).

Two decaying averages, of squared gradients :math:`E[g^2]` and of squared updates
:math:`E[\Delta x^2]`; the step is the ratio of their roots (Algorithm 1 of the paper), scaled
by a learning rate that the paper does not have (the frameworks add it):

.. math::

    E[g^2]_t &= \rho\, E[g^2]_{t-1} + (1 - \rho)\, g_t^2 \\
    \Delta x_t &= -\frac{\sqrt{E[\Delta x^2]_{t-1} + \epsilon}}
                        {\sqrt{E[g^2]_t + \epsilon}}\; g_t \\
    E[\Delta x^2]_t &= \rho\, E[\Delta x^2]_{t-1} + (1 - \rho)\, \Delta x_t^2 \\
    \theta_t &= \theta_{t-1} + \eta\, \Delta x_t

Both averages start at 0. Note that the accumulated update :math:`E[\Delta x^2]` stores the
update *before* the learning rate multiplies it, in every framework.

Semantic switches:

``eps_placement``
    ``"inside_both_roots"``: :math:`\epsilon` is added under both square roots, as in the
    paper's :math:`\mathrm{RMS}[x] = \sqrt{E[x^2] + \epsilon}`. Every dialect does this
    (torch eps 1e-6, Keras 1e-7, TF1 1e-8, optax 1e-6); at the start, where
    :math:`E[\Delta x^2] = 0`, the numerator is :math:`\sqrt{\epsilon}`, so eps sets the
    initial step size.
``weight_decay``, ``weight_decay_form``
    ``"none"``, ``"coupled"`` (torch and optax: :math:`g + \lambda\theta` before the step),
    or ``"decoupled_before_step"`` (Keras' base optimizer: :math:`\theta - \theta\lambda\eta`
    before the step).
``maximize``
    ascend instead of descend (torch): the gradient is negated first.

Arithmetic switch (where each framework rounds; bit-exactness depends on it):

``arithmetic``
    ``"torch_cpu"``
        ``torch/optim/adadelta.py`` ``_single_tensor_adadelta`` on ATen's CPU kernels:
        ``square_avg.mul_(rho).addcmul_(g, g, value=1-rho)`` is
        :math:`\mathrm{fma}((1-\rho) g,\, g,\, \rho v)`, the ratio is
        ``sqrt(u + eps).div_(sqrt(v + eps)).mul_(g)``, the update average likewise an FMA,
        ``param.add_(delta, alpha=-lr)`` is :math:`\mathrm{fma}(\Delta, -\eta, \theta)` and
        coupled decay ``grad.add(param, alpha=wd)`` is :math:`\mathrm{fma}(\theta, \lambda, g)`.
    ``"keras"``
        ``keras/src/optimizers/adadelta.py`` ``update_step`` (TensorFlow and JAX backends),
        one rounding per op: :math:`\rho v + (1-\rho)(g\cdot g)`,
        :math:`\Delta = -((\sqrt{u+\epsilon}\, g) / \sqrt{v+\epsilon})`,
        :math:`\theta + \eta\Delta`; :math:`1-\rho` in Python float64, then cast.
    ``"keras_torch_foreach"``
        Keras's torch backend (``keras/src/backend/torch/optimizers/torch_adadelta.py``):
        :math:`v \leftarrow \mathrm{fma}(g\cdot g,\, 1-\rho,\, \rho v)` (``_foreach_add_``
        with ``alpha``), the same ratio times :math:`-1`, and
        :math:`\theta \leftarrow \mathrm{fma}(\Delta, \eta, \theta)`; weight decay
        :math:`\theta(1 - \lambda\eta)` in float32.
    ``"tf1_kernel"``
        ``ApplyAdadelta`` in ``tensorflow/core/kernels/training_ops.cc`` (Eigen, no FMA):
        :math:`v\rho + (g\cdot g)(1-\rho)` with :math:`1-\rho` in float32, the ratio as
        :math:`(\sqrt{u+\epsilon}\cdot \mathrm{rsqrt}(v+\epsilon))\cdot g`, then
        :math:`\theta - \Delta\eta` (its :math:`\Delta` has the opposite sign).
    ``"tf_keras"``
        Keras 2's ``tf_keras.optimizers.Adadelta`` ``update_step``: as ``"keras"`` but
        the averages multiply left to right, :math:`\rho v + ((1-\rho) g) g`.
    ``"optax"``
        ``optax.scale_by_adadelta`` then ``scale_by_learning_rate``:
        :math:`(1-\rho)(g\cdot g) + \rho v`, :math:`(\sqrt{u+\epsilon}/\sqrt{v+\epsilon})\, g`,
        the update :math:`(-\eta)\,\Delta`, added to :math:`\theta`. ``learning_rate=None``
        (optax's default) makes ``scale_by_learning_rate`` the identity, which also drops
        its sign flip: :math:`\theta + \Delta`, gradient *ascent* (pass ``lr=None``).

Root switches (:mod:`eps_ref.rules._roots`):

``sqrt_method``
    ``"correctly_rounded"`` (Eigen, XLA) or ``"mkl_goldschmidt_rsqrtps"`` (``torch.sqrt`` and
    ``torch._foreach_sqrt`` on CPU).
``rsqrt_method``
    the reciprocal root of the TF1 kernel's denominator: ``"eigen_rsqrtps_newton"``; the
    other dialects divide (``"one_over_sqrt"``, unused).
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma
from eps_ref.rules._roots import RSQRT_METHODS, SQRT_METHODS, rsqrt, sqrt
from eps_ref.rules.weight_decay import (
    coupled_fma, decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch)

__all__ = ["adadelta", "init", "step", "EPS_PLACEMENTS", "ARITHMETIC", "WEIGHT_DECAY_FORMS"]

EPS_PLACEMENTS = ("inside_both_roots",)
ARITHMETIC = ("torch_cpu", "keras", "keras_torch_foreach", "tf1_kernel", "optax")
TF_KERAS_ARITHMETIC = ("tf_keras",)
"""Keras 2 (``tf_keras`` dialect) arithmetic, accepted besides :data:`ARITHMETIC`."""
WEIGHT_DECAY_FORMS = ("none", "coupled", "decoupled_before_step")


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"adadelta: {name}={value!r}; expected one of {allowed}")


def _scalar(xp, value, like):
    """``value`` as a 0-d array in ``like``'s dtype and device (rounds like a tensor scalar)."""
    return xp.asarray(value, dtype=like.dtype, device=device(like))


def _average(xp, avg, x, rho, arithmetic):
    r""":math:`\rho\,a + (1-\rho)\,x^2` in each framework's order of operations."""
    if arithmetic == "torch_cpu":
        return fma((1 - rho) * x, x, avg * rho)
    if arithmetic == "keras_torch_foreach":
        return fma(x * x, _scalar(xp, 1 - rho, avg), avg * rho)
    if arithmetic == "tf1_kernel":
        one_minus = _scalar(xp, 1.0, avg) - _scalar(xp, rho, avg)
        return avg * rho + (x * x) * one_minus
    if arithmetic == "keras":
        return rho * avg + (1 - rho) * (x * x)
    if arithmetic == "tf_keras":
        return rho * avg + ((1 - rho) * x) * x         # Keras 2: (1 - rho) * g * g
    return (1 - rho) * (x * x) + rho * avg          # optax tree_update_moment, order 2


def init(param):
    """Slots: ``square_avg`` (:math:`E[g^2]`) and ``acc_delta`` (:math:`E[\\Delta x^2]`),
    both zero (torch's names)."""
    xp = array_namespace(param)
    return {"square_avg": xp.zeros_like(param), "acc_delta": xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, rho, eps, eps_placement, weight_decay,
         weight_decay_form, maximize, arithmetic, sqrt_method, rsqrt_method):
    """One Adadelta step; returns ``(new_param, new_slots)``. ``t`` is unused (Adadelta has
    no bias correction); ``lr=None`` applies the raw update (optax's default)."""
    del t
    xp = array_namespace(param, grad)
    _check("eps_placement", eps_placement, EPS_PLACEMENTS)
    _check("weight_decay_form", weight_decay_form, WEIGHT_DECAY_FORMS)
    _check("arithmetic", arithmetic, ARITHMETIC + TF_KERAS_ARITHMETIC)
    _check("sqrt_method", sqrt_method, SQRT_METHODS)
    _check("rsqrt_method", rsqrt_method, RSQRT_METHODS)
    if lr is None and arithmetic != "optax":
        raise ValueError(f"adadelta: lr=None (no scaling) exists only in optax, "
                         f"not arithmetic={arithmetic!r}")

    g = -grad if maximize else grad
    if weight_decay != 0 and weight_decay_form == "coupled":
        if arithmetic == "torch_cpu":
            g = coupled_fma(g, param, weight_decay)
        else:
            g = g + weight_decay * param
    if weight_decay != 0 and weight_decay_form == "decoupled_before_step":
        if arithmetic == "keras_torch_foreach":
            param = decoupled_lr_scaled_keras_torch(param, weight_decay, lr)
        else:
            param = decoupled_lr_scaled_keras(param, weight_decay, lr)

    v = _average(xp, slots["square_avg"], g, rho, arithmetic)
    u = slots["acc_delta"]
    numerator = sqrt(u + eps, sqrt_method)
    if arithmetic == "tf1_kernel":
        delta = (numerator * rsqrt(v + eps, rsqrt_method)) * g     # descent direction
        new_param = param - delta * lr
    elif arithmetic == "torch_cpu":
        delta = (numerator / sqrt(v + eps, sqrt_method)) * g
        new_param = fma(delta, _scalar(xp, -lr, param), param)
    elif arithmetic == "optax":
        delta = (numerator / sqrt(v + eps, sqrt_method)) * g
        new_param = param + (delta if lr is None else (-lr) * delta)
    else:
        delta = -((numerator * g) / sqrt(v + eps, sqrt_method))    # ascent direction
        if arithmetic == "keras_torch_foreach":
            new_param = fma(delta, _scalar(xp, lr, param), param)
        else:
            new_param = param + lr * delta
    new_u = _average(xp, u, delta, rho, arithmetic)
    return new_param, {"square_avg": v, "acc_delta": new_u}


adadelta = Rule("adadelta", init, step)

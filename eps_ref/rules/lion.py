r"""Lion (EvoLved Sign Momentum): a sign update from an interpolated momentum.

With :math:`\theta` the parameter, :math:`g` the gradient, :math:`m` the momentum (zeros at
first), :math:`\eta` the learning rate and :math:`\beta_1, \beta_2` the two interpolation
rates, one step is (Chen et al. 2023, Algorithm 2)

.. math::

    c &= \beta_1 m + (1-\beta_1)\,g \\
    \theta &\leftarrow \theta - \eta\,\bigl(\operatorname{sign}(c) + \lambda\theta\bigr) \\
    m &\leftarrow \beta_2 m + (1-\beta_2)\,g

There is no epsilon anywhere: where :math:`c = 0` exactly (a zero gradient on a zero
momentum), :math:`\operatorname{sign}(0) = 0` and the parameter does not move. The
frameworks differ in where weight decay sits and how the scalars round
(``arithmetic``):

``"keras"`` (``keras.optimizers.Lion.update_step``)
    :math:`\beta_1, \beta_2` are cast to the parameter dtype first and :math:`1-\beta`
    is computed in that dtype (float32: :math:`1 - \mathrm{fl}(0.9)`, not
    :math:`\mathrm{fl}(1 - 0.9)`); :math:`c = m\beta_1 + g(1-\beta_1)`,
    :math:`\theta \leftarrow \theta - \eta\operatorname{sign}(c)`. Weight decay is the
    Keras base optimizer's, :math:`\theta \leftarrow \theta - \theta\lambda\eta`, applied
    BEFORE the step (``weight_decay_mode="decoupled_keras"``).
``"keras_torch_foreach"`` (Keras 3's torch backend, ``backend/torch/optimizers/torch_lion.py``)
    :math:`1-\beta` in Python float64, and :math:`m\beta + (1-\beta)g` is
    ``torch._foreach_add_(m*beta, g, alpha=1-beta)``, one fused multiply-add on CPU;
    weight decay :math:`\theta(1 - \lambda\eta)` with :math:`\lambda\eta` and the
    subtraction in float32 (``weight_decay_mode="decoupled_keras_torch"``).
``"optax"`` (``optax.lion`` = ``scale_by_lion``, ``add_decayed_weights``,
    ``scale_by_learning_rate``)
    :math:`1-\beta` in Python float64, :math:`c = (1-\beta_1)g + \beta_1 m`, then
    :math:`u = \operatorname{sign}(c) + \lambda\theta` (``weight_decay_mode="optax"``,
    decoupled but multiplied by the learning rate), :math:`\theta \leftarrow \theta +
    (-\eta)u`.

Defaults: Keras ``learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None``;
optax ``b1=0.9, b2=0.99, weight_decay=1e-3``.

Reference: Chen et al., *Symbolic Discovery of Optimization Algorithms* (2023),
arXiv:2302.06675.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma
from eps_ref.rules.weight_decay import decoupled_lr_scaled_keras

__all__ = ["lion", "init", "step", "ARITHMETICS", "WEIGHT_DECAY_MODES"]

ARITHMETICS = ("keras", "keras_torch_foreach", "optax")
WEIGHT_DECAY_MODES = ("none", "decoupled_keras", "decoupled_keras_torch", "optax")


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"lion: {name}={value!r}; expected one of {allowed}")


def init(param):
    """The momentum slot, zeros like the parameter."""
    xp = array_namespace(param)
    return {"momentum": xp.zeros_like(param)}


def _interpolate(xp, m, g, beta, arithmetic):
    r""":math:`\beta m + (1-\beta) g`, rounded as the framework rounds it."""
    if arithmetic == "keras":
        b = xp.asarray(beta, dtype=m.dtype, device=device(m))
        return m * b + g * (1.0 - b)
    if arithmetic == "keras_torch_foreach":
        w = xp.asarray(1 - beta, dtype=m.dtype, device=device(m))
        return fma(g, w, m * beta)
    return (1 - beta) * g + beta * m


def _decayed(xp, param, weight_decay, lr, weight_decay_mode):
    """The parameter after a decay that Keras applies before the step."""
    if weight_decay == 0 or weight_decay_mode in ("none", "optax"):
        return param
    if weight_decay_mode == "decoupled_keras":
        return decoupled_lr_scaled_keras(param, weight_decay, lr)
    dev = device(param)
    decay = (xp.asarray(weight_decay, dtype=param.dtype, device=dev)
             * xp.asarray(lr, dtype=param.dtype, device=dev))
    return param * (1.0 - decay)


def step(param, grad, slots, *, t, lr, beta1, beta2, weight_decay=0.0,
         weight_decay_mode="none", arithmetic="keras"):
    """One Lion step; returns ``(new_param, {"momentum": new_m})``. ``t`` is unused (Lion
    keeps no step count in its math)."""
    _check("arithmetic", arithmetic, ARITHMETICS)
    _check("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES)
    xp = array_namespace(param, grad)
    m = slots["momentum"]
    param = _decayed(xp, param, weight_decay, lr, weight_decay_mode)
    direction = xp.sign(_interpolate(xp, m, grad, beta1, arithmetic))
    if arithmetic == "optax":
        if weight_decay_mode == "optax" and weight_decay != 0:
            direction = direction + weight_decay * param
        new_param = param + (-lr) * direction
    else:
        lr_ = xp.asarray(lr, dtype=param.dtype, device=device(param))
        new_param = param - lr_ * direction
    new_m = _interpolate(xp, m, grad, beta2, arithmetic)
    return new_param, {"momentum": new_m}


lion = Rule("lion", init, step)

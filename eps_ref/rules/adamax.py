r"""Adamax (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 2).

Adam with the :math:`L^2` norm of past gradients replaced by an exponentially weighted
infinity norm :math:`u`, which needs no bias correction:

.. math::

    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
    u_t &= \max(\beta_2 u_{t-1},\ |g_t| + \epsilon)
           \quad\text{or}\quad \max(\beta_2 u_{t-1},\ |g_t|) \\
    \theta_t &= \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\, \frac{m_t}{D_t}, \qquad
    D_t = u_t \quad\text{or}\quad u_t + \epsilon

The paper has no :math:`\epsilon`. Where the frameworks add it is the ``eps_placement`` switch:

``"inside_max"``
    :math:`u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon)`, :math:`D_t = u_t`:
    ``torch.optim.Adamax`` (eps 1e-8) and ``optax.adamax``/``adamaxw`` (1e-8). The stored
    norm never falls below :math:`\epsilon`, and a gradient equal to zero still refreshes it
    to :math:`\epsilon`.
``"added_to_denominator"``
    :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|)`, :math:`D_t = u_t + \epsilon`:
    ``keras.optimizers.Adamax`` (1e-7). The stored norm decays towards 0.

Other semantic switches:

``weight_decay``, ``weight_decay_form``
    ``"none"``, ``"coupled"`` (torch: :math:`g + \lambda\theta` before the step),
    ``"decoupled_before_step"`` (Keras: :math:`\theta - \theta\lambda\eta` first) or
    ``"decoupled_added_to_update"`` (optax ``adamaxw``: :math:`\lambda\theta` is added to the
    scaled update :math:`\hat m/u` before the learning rate multiplies both).
``maximize``
    ascend instead of descend (torch): the gradient is negated first.

Arithmetic switch (where each framework rounds; bit-exactness depends on it):

``arithmetic``
    ``"torch_cpu"``
        ``torch/optim/adamax.py`` ``_single_tensor_adamax``: ``exp_avg.lerp_(g, 1-b1)`` is
        :math:`\mathrm{fma}(1-\beta_1, g - m, m)` (ATen's CPU lerp), the norm
        ``maximum(u * b2, |g| + eps)``, then ``param.addcdiv_(m, u, value=-clr)`` with
        :math:`\mathrm{clr} = \eta / (1 - \beta_1^t)` in Python float64, rounded to float32:
        :math:`\theta + (-\mathrm{clr}\cdot m)/u`. Coupled decay
        ``grad.add(param, alpha=wd)`` is :math:`\mathrm{fma}(\theta, \lambda, g)`.
    ``"keras"``
        ``keras/src/optimizers/adamax.py`` ``update_step`` (TensorFlow, JAX), one rounding
        per op: :math:`m + (g - m)(1-\beta_1)`, :math:`\max(\beta_2 u, |g|)`,
        :math:`\theta - (\eta m) / ((1 - \beta_1^t)(u + \epsilon))` with
        :math:`\beta_1^t` a float32 power (``ops.power``) and :math:`1 - \beta_1^t` in float32.
    ``"keras_torch_foreach"``
        Keras's torch backend (``backend/torch/optimizers/torch_adamax.py``):
        :math:`m \leftarrow \mathrm{fma}(g, 1-\beta_1, \beta_1 m)`, the same norm, and
        :math:`\theta - (m\eta) / ((u + \epsilon)(1 - \beta_1^t))`; weight decay
        :math:`\theta(1 - \lambda\eta)` in float32.
    ``"tf_kernel"``
        ``ApplyAdaMax`` in ``tensorflow/core/kernels/training_ops.cc`` (Keras 2's
        ``tf_keras.optimizers.legacy.Adamax``): :math:`m + (g - m)(1-\beta_1)` with
        :math:`1-\beta_1` in float32, :math:`\max(\beta_2 u, |g|)`, then
        :math:`\theta - (\eta / (1 - \beta_1^t)) (m / (u + \epsilon))`, the scalar in float32.
    ``"optax"``
        ``optax.scale_by_adamax`` then ``scale_by_learning_rate``:
        :math:`(1-\beta_1) g + \beta_1 m`, :math:`\max(|g| + \epsilon, \beta_2 u)`, the bias
        correction ``tree_bias_correction`` (``jax.jit``-compiled even when called eagerly,
        so XLA turns its division into :math:`m \cdot (1 / (1 - \beta_1^t))`, the power in
        float32), then :math:`\hat m / u`, :math:`(-\eta)\cdot(\cdot)`, added to :math:`\theta`.

``correction_op``
    ``arithmetic="optax"``: how the jitted ``optax.tree.bias_correction`` applies
    :math:`1/(1-\beta_1^t)`: ``"multiply_by_reciprocal"`` (the default; XLA compiles the jit
    of a one-leaf tree into :math:`m \cdot (1 / (1 - \beta_1^t))`) or ``"divide"`` (a tree
    of several leaves: XLA divides each leaf). The optax dialect picks it per tree
    (:func:`eps_ref.frameworks.optax.tree_bias_correction`).
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma, xla_divide_by_scalar
from eps_ref.rules.adam import CORRECTION_OPS, rounded_power
from eps_ref.rules.weight_decay import (
    coupled_fma, decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch)

__all__ = ["adamax", "init", "step", "EPS_PLACEMENTS", "ARITHMETIC", "WEIGHT_DECAY_FORMS"]

EPS_PLACEMENTS = ("inside_max", "added_to_denominator")
ARITHMETIC = ("torch_cpu", "keras", "keras_torch_foreach", "optax")
TF_KERAS_ARITHMETIC = ("tf_kernel",)
"""Keras 2 (``tf_keras`` dialect) arithmetic, accepted besides :data:`ARITHMETIC`."""
WEIGHT_DECAY_FORMS = ("none", "coupled", "decoupled_before_step", "decoupled_added_to_update")


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"adamax: {name}={value!r}; expected one of {allowed}")


def _scalar(xp, value, like):
    """``value`` as a 0-d array in ``like``'s dtype and device (rounds like a tensor scalar)."""
    return xp.asarray(value, dtype=like.dtype, device=device(like))


def _itemsize(xp, dtype) -> int:
    return 8 if dtype == xp.float64 else 4


def _first_moment(xp, m, g, beta1, arithmetic):
    c = 1 - beta1
    if arithmetic == "torch_cpu":
        # ATen's CPU lerp: fma(w, end - start, start) for |w| < 0.5, else from the end.
        w = _scalar(xp, c, m)
        if abs(c) < 0.5:
            return fma(w, g - m, m)
        return fma(w - 1, g - m, g)
    if arithmetic == "keras_torch_foreach":
        return fma(g, _scalar(xp, c, m), m * beta1)
    if arithmetic == "keras":
        return m + (g - m) * c
    if arithmetic == "tf_kernel":                    # T(1) - beta1() in the param dtype
        return m + (g - m) * (_scalar(xp, 1.0, m) - _scalar(xp, beta1, m))
    return c * g + beta1 * m                         # optax tree_update_moment, order 1


def init(param):
    """Slots: ``exp_avg`` (:math:`m`) and ``exp_inf`` (:math:`u`), both zero (torch's names)."""
    xp = array_namespace(param)
    return {"exp_avg": xp.zeros_like(param), "exp_inf": xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, beta1, beta2, eps, eps_placement, weight_decay,
         weight_decay_form, maximize, arithmetic, correction_op="multiply_by_reciprocal"):
    """One Adamax step; returns ``(new_param, new_slots)``. See the module docstring."""
    xp = array_namespace(param, grad)
    _check("eps_placement", eps_placement, EPS_PLACEMENTS)
    _check("weight_decay_form", weight_decay_form, WEIGHT_DECAY_FORMS)
    _check("arithmetic", arithmetic, ARITHMETIC + TF_KERAS_ARITHMETIC)
    _check("correction_op", correction_op, CORRECTION_OPS)

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

    m = _first_moment(xp, slots["exp_avg"], g, beta1, arithmetic)
    magnitude = xp.abs(g) + eps if eps_placement == "inside_max" else xp.abs(g)
    if arithmetic == "optax":
        u = xp.maximum(magnitude, beta2 * slots["exp_inf"])
    else:
        u = xp.maximum(slots["exp_inf"] * beta2, magnitude)
    denom = u if eps_placement == "inside_max" else u + eps
    new_slots = {"exp_avg": m, "exp_inf": u}

    if arithmetic == "torch_cpu":
        clr = lr / (1 - beta1 ** t)
        return param + (_scalar(xp, -clr, param) * m) / denom, new_slots
    # Keras ops.power and optax decay**count: a float32 power of the float32 beta.
    one = _scalar(xp, 1.0, param)
    correction = one - _scalar(xp, rounded_power(beta1, t, _itemsize(xp, param.dtype)), param)
    if arithmetic == "keras":
        return param - (lr * m) / (correction * denom), new_slots
    if arithmetic == "keras_torch_foreach":
        return param - (m * lr) / (denom * correction), new_slots
    if arithmetic == "tf_kernel":
        return param - (_scalar(xp, lr, param) / correction) * (m / denom), new_slots
    m_hat = (xla_divide_by_scalar(m, correction) if correction_op == "multiply_by_reciprocal"
             else m / correction)
    update = m_hat / denom                                        # optax
    if weight_decay != 0 and weight_decay_form == "decoupled_added_to_update":
        update = update + weight_decay * param
    return param + (-lr) * update, new_slots


adamax = Rule("adamax", init, step)

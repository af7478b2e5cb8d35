r"""Schedule-Free AdamW (Defazio et al. 2024, *The Road Less Scheduled*, Algorithm 1).

Three sequences share one step :math:`t \ge 1`: :math:`z` takes the gradient steps, :math:`x`
is their weighted running average (the point to *evaluate* at), and the gradient is taken at
their interpolation :math:`y`:

.. math::

    y_t &= (1-\beta_1)\, z_t + \beta_1 x_t \\
    v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad g_t = \nabla f(y_t) \\
    z_{t+1} &= z_t - \gamma_t \left( \frac{g_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}
              + \lambda y_t \right) \\
    x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}

with :math:`z_1 = x_1 = y_1 = \theta_0`, the warmed-up rate :math:`\gamma_t`, and the
averaging weight :math:`c_{t+1}`. The frameworks store only :math:`z` (and :math:`v`) as
optimizer state and keep **y** in the parameter variable during training, recovering
:math:`x = (y - (1-\beta_1) z)/\beta_1` when they need it; the evaluation point :math:`x`
must be computed by the user (``optax.contrib.schedule_free_eval_params(state, params)``;
Keras 3.15 offers no helper: evaluate at ``(y - (1-beta_1)*momentum)/beta_1``). What this
rule returns as the parameter is therefore :math:`y_{t+1}`, as both frameworks do;
:func:`eval_params` recovers :math:`x_{t+1}` from it.

The frameworks differ in (switches):

``average_weights``
    ``"uniform"`` (Keras): :math:`c_{t+1} = 1/t`, ``1.0 / local_step`` in float32.
    ``"lr_max_power"`` (optax, the paper's Eq. for warmup): :math:`c_{t+1} =
    \gamma_{\max,t}^{p} / \sum_{i \le t} \gamma_{\max,i}^{p}` with :math:`p` =
    ``weight_lr_power`` (2) and the running sum kept in float32 state (``weight_sum``,
    ``max_lr``); without warmup it is :math:`1/t` up to the rounding of the running sum.
``warmup_schedule``
    ``"keras"``: :math:`\gamma_t = \eta \min(t/W, 1)` (``warmup_steps=0``: no warmup).
    ``"optax_linear"``: ``warmup_constant_schedule(0, eta, W)``; the :math:`z` step reads it
    at the base optimizer's count :math:`t-1` (so :math:`\gamma_1 = 0`), the averaging
    weight at the wrapper's ``step_count`` :math:`t`. ``"none"``: :math:`\gamma_t = \eta`.
``weight_decay_mode``
    ``"added_to_direction"`` (optax, the paper): :math:`+\lambda y_t` inside the :math:`z`
    step, scaled by :math:`\gamma_t`. ``"decoupled_keras"``: Keras' base optimizer shrinks
    the *variable* :math:`y \leftarrow y - y\lambda\eta` before the step (full
    :math:`\eta`, no warmup), :math:`z` is not decayed, and the decayed :math:`y` feeds the
    recovery of :math:`x`; ``"decoupled_keras_torch"``: the same under Keras' torch backend
    (:math:`y(1-\lambda\eta)`, factor in float32).
``previous_z``
    which :math:`z` the recovery :math:`x_t = (y_t - (1-\beta_1) z)/\beta_1` uses.
    ``"before_step"`` (optax; Keras on JAX, whose ``momentum.value`` is an immutable
    array): :math:`z_t`. ``"after_step"`` (Keras on TensorFlow and torch):
    ``momentum_old = momentum.value`` is a live reference to the variable, which
    ``assign_sub`` updates in place before it is read, so the recovery uses
    :math:`z_{t+1}` and :math:`x` drifts from the average by
    :math:`(1-\beta_1)(z_t - z_{t+1})/\beta_1` every step.
``arithmetic``
    rounding order only. ``"keras"``: :math:`\beta_1, \beta_2` cast to float32 first and
    :math:`1-\beta` computed in float32; :math:`v + (g^2 - v)(1-\beta_2)`;
    :math:`z - (\gamma g)/(\sqrt{v/(1-\beta_2^t)} + \epsilon)`; the variable is assigned
    :math:`y_{t+1}`. ``"optax"``: :math:`1-\beta` in Python float64;
    :math:`(1-\beta_2)g^2 + \beta_2 v`; :math:`\hat v = v \cdot (1/(1-\beta_2^t))` (XLA's
    rewrite of the jitted bias correction); :math:`u = (1/(\sqrt{\hat v}+\epsilon))\,g`,
    :math:`z + (-\gamma)(u + \lambda y)`; the parameter becomes :math:`y_t + (y_{t+1} -
    y_t)` (``optax.apply_updates``).
``scalar_division``
    how an array is divided by a scalar (:math:`v/(1-\beta_2^t)`, :math:`(\dots)/\beta_1`):
    ``"divide"`` (TensorFlow, torch), or ``"multiply_by_reciprocal"``: XLA:CPU computes
    ``x / s`` for a broadcast scalar ``s`` as ``x * (1/s)``, the reciprocal rounded first,
    even op by op (measured: jax 0.10.2, eager ``jnp`` division of a (4, 16) array by a 0-d
    array or a Python float; a 0-d by 0-d division is exact). optax and Keras on JAX.

:math:`\beta_2^t` is a float32 power, rounded correctly (:func:`eps_ref.rules.adam.rounded_power`).

In float32 the round trip :math:`y \to x \to y` is not the identity, so even a zero gradient
moves :math:`y` by up to an ULP in the frameworks (measured on optax 0.2.8 and Keras 3.15.1);
the rule reproduces that, it does not "keep" the parameter.

Defaults: Keras ``learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
warmup_steps=0``; optax ``learning_rate=0.0025, warmup_steps=None, b1=0.9, b2=0.999,
eps=1e-8, weight_decay=0.0, weight_lr_power=2.0``.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import Rule, _roots
from eps_ref.rules._numerics import xla_rewrites_division
from eps_ref.rules.adam import rounded_power
from eps_ref.rules.weight_decay import decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch

__all__ = ["schedule_free_adamw", "eval_params", "averaging_weight", "AVERAGE_WEIGHTS",
           "WARMUP_SCHEDULES", "PREVIOUS_Z", "ARITHMETIC"]

AVERAGE_WEIGHTS = ("uniform", "lr_max_power")
WARMUP_SCHEDULES = ("none", "keras", "optax_linear")
WEIGHT_DECAY_MODES = ("added_to_direction", "decoupled_keras", "decoupled_keras_torch")
PREVIOUS_Z = ("before_step", "after_step")
ARITHMETIC = ("keras", "optax")
SCALAR_DIVISIONS = ("divide", "multiply_by_reciprocal")


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"schedule_free_adamw: {name} must be one of {allowed}, got {value!r}")


def init(param, *, average_weights="uniform"):
    """:math:`z_1 = \\theta_0` (a copy), :math:`v = 0`; optax's averaging also keeps the
    float32 running sum of weights and the largest learning rate seen (0-d arrays)."""
    xp = array_namespace(param)
    slots = {"z": xp.asarray(param, copy=True), "v": xp.zeros_like(param)}
    if average_weights == "lr_max_power":
        slots["weight_sum"] = xp.zeros((), dtype=param.dtype, device=_device(param))
        slots["max_lr"] = xp.zeros((), dtype=param.dtype, device=_device(param))
    return slots


def eval_params(y, z, *, beta1: float):
    """The evaluation point :math:`x = (y - (1-\\beta_1) z)/\\beta_1` from the parameter
    :math:`y` and the state :math:`z` (``optax.contrib.schedule_free_eval_params``)."""
    return (y - (1.0 - beta1) * z) / beta1


def _scalar(xp, value, like):
    return xp.asarray(value, dtype=like.dtype, device=_device(like))


def _warmup_lr(xp, lr, count, warmup_steps, like, schedule):
    """:math:`\\gamma` at ``count`` as a 0-d float32 array (module docstring)."""
    eta = _scalar(xp, lr, like)
    if schedule == "none" or (schedule == "keras" and warmup_steps == 0):
        return eta
    if warmup_steps <= 0:                      # optax: a constant schedule at init_value 0
        return _scalar(xp, 0.0, like)
    if schedule == "keras":
        ratio = _scalar(xp, float(count), like) / _scalar(xp, float(warmup_steps), like)
        return eta * xp.minimum(ratio, _scalar(xp, 1.0, like))
    # optax linear_schedule(0, lr, W): (0 - lr) * (1 - clip(c, 0, W)/W) + lr, in float32.
    c = min(max(count, 0), warmup_steps)
    frac = 1 - _scalar(xp, float(c), like) / _scalar(xp, float(warmup_steps), like)
    return (-lr) * frac + eta


def averaging_weight(slots, t, *, lr, warmup_steps, average_weights, warmup_schedule,
                     weight_lr_power, like):
    """:math:`c_{t+1}` as a 0-d array, and the new ``weight_sum``/``max_lr`` slots."""
    xp = array_namespace(like)
    if average_weights == "uniform":
        return _scalar(xp, 1.0, like) / _scalar(xp, float(t), like), {}
    lr_t = _warmup_lr(xp, lr, t, warmup_steps, like, warmup_schedule)
    max_lr = xp.maximum(slots["max_lr"], lr_t)
    # max_lr ** weight_lr_power: a float32 pow, rounded correctly (via float64).
    weight = xp.astype(xp.astype(max_lr, xp.float64) ** weight_lr_power, like.dtype)
    total = slots["weight_sum"] + weight
    # jnp.nan_to_num(weight / total, nan=0.0): 0/0 (a zero learning rate so far) -> 0; a
    # NaN weight or sum stays NaN.
    zero = _scalar(xp, 0.0, like)
    ratio = weight / xp.where(total == 0, _scalar(xp, 1.0, like), total)
    ratio = xp.where((total == 0) | xp.isnan(ratio), zero, ratio)
    ck = xp.where(xp.isnan(weight) | xp.isnan(total), _scalar(xp, math.nan, like), ratio)
    return ck, {"weight_sum": total, "max_lr": max_lr}


def step(param, grad, slots, *, t, lr, beta1, beta2, eps, warmup_steps=0, weight_decay=0.0,
         weight_decay_mode="added_to_direction", average_weights="uniform",
         warmup_schedule="keras", weight_lr_power=2.0, previous_z="before_step",
         arithmetic="keras", scalar_division="divide", sqrt_method="correctly_rounded"):
    """One Schedule-Free AdamW step on :math:`y` (the parameter); returns
    ``(y_next, new_slots)``. See the module docstring for the switches."""
    xp = array_namespace(param, grad)
    for name, value, allowed in (
        ("average_weights", average_weights, AVERAGE_WEIGHTS),
        ("warmup_schedule", warmup_schedule, WARMUP_SCHEDULES),
        ("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES),
        ("previous_z", previous_z, PREVIOUS_Z), ("arithmetic", arithmetic, ARITHMETIC),
        ("scalar_division", scalar_division, SCALAR_DIVISIONS),
    ):
        _check(name, value, allowed)
    y, g, z, v = param, grad, slots["z"], slots["v"]
    if weight_decay != 0 and weight_decay_mode == "decoupled_keras":
        y = decoupled_lr_scaled_keras(y, weight_decay, lr)
    elif weight_decay != 0 and weight_decay_mode == "decoupled_keras_torch":
        y = decoupled_lr_scaled_keras_torch(y, weight_decay, lr)
    itemsize = 8 if y.dtype == xp.float64 else 4
    one = _scalar(xp, 1.0, y)

    def over(a, scalar):
        """``a / scalar`` for a 0-d ``scalar``, as the backend divides by a broadcast scalar."""
        if scalar_division == "multiply_by_reciprocal" and xla_rewrites_division(a, scalar):
            return a * (one / scalar)
        return a / scalar

    bc2 = one - _scalar(xp, rounded_power(beta2, t, itemsize), y)
    ck, average_slots = averaging_weight(
        slots, t, lr=lr, warmup_steps=warmup_steps, average_weights=average_weights,
        warmup_schedule=warmup_schedule, weight_lr_power=weight_lr_power, like=y)

    if arithmetic == "keras":
        b1, b2 = _scalar(xp, beta1, y), _scalar(xp, beta2, y)
        gamma = _warmup_lr(xp, lr, t, warmup_steps, y, warmup_schedule)
        v = v + (g * g - v) * (1 - b2)
        z_next = z - (gamma * g) / (_roots.sqrt(over(v, bc2), sqrt_method) + eps)
        if weight_decay != 0 and weight_decay_mode == "added_to_direction":
            raise ValueError("schedule_free_adamw: arithmetic='keras' decays the variable "
                             "(weight_decay_mode='decoupled_keras')")
        z_prev = z if previous_z == "before_step" else z_next
        x = over(y - (1 - b1) * z_prev, b1)
        x_next = (1 - ck) * x + ck * z_next
        y_next = (1 - b1) * z_next + b1 * x_next
        return y_next, {"z": z_next, "v": v, **average_slots}

    v = (1 - beta2) * (g * g) + beta2 * v
    v_hat = over(v, bc2)
    u = (1 / (_roots.sqrt(v_hat, sqrt_method) + eps)) * g
    if weight_decay != 0 and weight_decay_mode == "added_to_direction":
        u = u + weight_decay * y
    elif weight_decay != 0:
        raise ValueError("schedule_free_adamw: arithmetic='optax' adds the decay to the "
                         "direction (weight_decay_mode='added_to_direction')")
    # The z step reads the schedule at the base optimizer's count, one behind the wrapper's.
    count = t - 1 if warmup_schedule == "optax_linear" else t
    gamma = _warmup_lr(xp, lr, count, warmup_steps, y, warmup_schedule)
    z_next = z + (-gamma) * u
    z_prev = z if previous_z == "before_step" else z_next
    x = over(y - (1.0 - beta1) * z_prev, _scalar(xp, beta1, y))
    x_next = (1 - ck) * x + ck * z_next
    y_next = beta1 * x_next + (1.0 - beta1) * z_next
    return y + (y_next - y), {"z": z_next, "v": v, **average_slots}


schedule_free_adamw = Rule("schedule_free_adamw", init, step)

r"""Adan: adaptive Nesterov momentum through moving averages of gradient differences.

Xie et al. (2022), Algorithm 1, with step :math:`t \ge 1`, gradient :math:`g_t` and the
difference :math:`\Delta_t = g_t - g_{t-1}` (:math:`\Delta_1 = 0`: the first step has no
previous gradient):

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    v_t &= \beta_2 v_{t-1} + (1-\beta_2) \Delta_t \\
    n_t &= \beta_3 n_{t-1} + (1-\beta_3) \bigl(g_t + (1-\beta_2) \Delta_t\bigr)^2 \\
    u_t &= \frac{\hat m_t + (1-\beta_2) \hat v_t}{\sqrt{\hat n_t + \bar\varepsilon}
           + \varepsilon}, \qquad \hat x_t = x_t / (1 - \beta^t) \\
    \theta_t &= \theta_{t-1} - \eta\, (u_t + \lambda \theta_{t-1})

with optax's defaults :math:`\beta_1 = 0.98`, :math:`\beta_2 = 0.92`, :math:`\beta_3 =
0.99`, ``eps`` :math:`\varepsilon = 10^{-8}` outside the root and ``eps_root``
:math:`\bar\varepsilon = 10^{-8}` inside it (``optax.scale_by_adan`` alone defaults it to
0; the alias passes 1e-8), so at the eps scale the denominator is about
:math:`\sqrt{\bar\varepsilon} = 10^{-4}`, far above :math:`\varepsilon`: for gradients
below about 1e-4 eps_root, not eps, bounds the step. The paper's betas are the
complements, :math:`1-\beta` here. The weight decay is optax's decoupled form, added to
the direction before the learning rate scales it (``add_decayed_weights``); the paper
instead divides by :math:`1 + \lambda\eta` (a proximal step).

Of the dialects only optax ships Adan: torch.optim, Keras 3, tf_keras and
``tf.compat.v1.train`` have none.

The arithmetic is optax's (``optax.adan`` run op by op): moments :math:`(1-\beta)x + \beta
m`, :math:`g + (1-\beta_2)\Delta` then squared, the corrections :math:`x \cdot (1/(1 -
\beta^t))` in float32 (the jitted ``tree_bias_correction``), :math:`\beta^t` a float32
power, :math:`(u + \lambda\theta)` then :math:`\theta + (-\eta)(\cdot)`.

``correction_op``
    ``"multiply_by_reciprocal"`` (the default) or ``"divide"``: how the jitted
    ``optax.tree.bias_correction`` applies :math:`1/(1-\beta^t)`, as in
    :mod:`eps_ref.rules.adam`; the optax dialect picks it per tree
    (:func:`eps_ref.frameworks.optax.tree_bias_correction`).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules import Rule
from eps_ref.rules.adam import (CORRECTION_OPS, _corrected, _itemsize, _round, _sqrt,
                                rounded_power)

__all__ = ["adan", "init", "step"]


def init(param):
    """Zero moments :math:`m, v, n` and a zero previous gradient."""
    xp = array_namespace(param)
    return {"m": xp.zeros_like(param), "v": xp.zeros_like(param), "n": xp.zeros_like(param),
            "g_prev": xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, beta1, beta2, beta3, eps, eps_root, weight_decay=0.0,
         correction_op="multiply_by_reciprocal"):
    """One Adan step; returns ``(new_param, new_slots)``. ``lr``, ``beta1``, ``beta2``,
    ``beta3``, ``eps``, ``eps_root``, ``weight_decay`` (:math:`\\lambda`) are Python
    floats."""
    if correction_op not in CORRECTION_OPS:
        raise ValueError(f"adan: correction_op must be one of {CORRECTION_OPS}, "
                         f"got {correction_op!r}")
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, getattr(param, "device", None)
    size = _itemsize(xp, dtype)
    w1, w2, w3 = (_round(1 - b, size) for b in (beta1, beta2, beta3))

    def corrected(x, beta):
        return _corrected(xp, x, rounded_power(beta, t, size), dtype, dev,
                          correction_op)

    diff = xp.zeros_like(grad) if t == 1 else grad - slots["g_prev"]
    m = w1 * grad + beta1 * slots["m"]
    v = w2 * diff + beta2 * slots["v"]
    sq = grad + w2 * diff
    n = w3 * (sq * sq) + beta3 * slots["n"]
    direction = corrected(m, beta1) + w2 * corrected(v, beta2)
    u = direction / (_sqrt(xp, corrected(n, beta3) + eps_root) + eps)
    if weight_decay != 0:
        u = u + weight_decay * param
    return param + (-lr) * u, {"m": m, "v": v, "n": n, "g_prev": grad}


adan = Rule("adan", init, step)

r"""AdaBelief: Adam whose second moment tracks the gradient's deviation from its mean.

Zhuang et al. (2020), Algorithm 2, with step :math:`t \ge 1`, gradient :math:`g_t`:

.. math::

    m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
    s_t &= \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_t)^2 + \bar\varepsilon \\
    \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat s_t = s_t / (1 - \beta_2^t) \\
    \theta_t &= \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat s_t} + \varepsilon)

Two epsilons with their own places:

* :math:`\bar\varepsilon` (``eps_root``, optax default ``1e-16``) is added to the *stored*
  belief :math:`s_t` every step, so it accumulates: after many steps :math:`s` carries about
  :math:`\bar\varepsilon / (1 - \beta_2)` = 1e-13 even where every gradient is 0, and the
  bias correction divides it again. With an all-zero gradient history the first step is
  :math:`\hat s_1 = \bar\varepsilon/(1-\beta_2)`, a root of about 3.2e-7.
* :math:`\varepsilon` (``eps``, default ``1e-16``) is outside the bias-corrected root,
  as in optax.adam. The paper's defaults are ``eps=1e-8``, ``eps_root=0``; its Algorithm 2
  also adds :math:`\varepsilon` inside :math:`s_t`, which optax splits into ``eps_root``.

Of the dialects only optax ships AdaBelief: torch.optim, Keras 3, tf_keras and
``tf.compat.v1.train`` have none (it lived in the end-of-life tensorflow_addons).

The arithmetic is optax's (``optax.scale_by_belief`` run op by op): moments
:math:`(1-\beta)x + \beta m`, the corrections as :math:`m \cdot (1/(1 - \beta^t))` in
float32 (the jitted ``tree_bias_correction``), :math:`\beta^t` a float32 power,
:math:`\theta + (-\eta) u`.

``momentum_estimate``
    ``"bias_corrected"`` (:math:`\hat m_t`) or ``"nesterov"`` (optax ``nesterov=True``:
    :math:`\beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)`).

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

__all__ = ["adabelief", "init", "step"]

MOMENTUM_ESTIMATES = ("bias_corrected", "nesterov")


def init(param):
    """Zero first moment :math:`m` and zero belief :math:`s`."""
    xp = array_namespace(param)
    return {"m": xp.zeros_like(param), "s": xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, beta1, beta2, eps, eps_root,
         momentum_estimate="bias_corrected", correction_op="multiply_by_reciprocal"):
    """One AdaBelief step; returns ``(new_param, new_slots)``. ``lr``, ``beta1``,
    ``beta2``, ``eps``, ``eps_root`` are Python floats."""
    if momentum_estimate not in MOMENTUM_ESTIMATES:
        raise ValueError(f"adabelief: momentum_estimate must be one of {MOMENTUM_ESTIMATES}, "
                         f"got {momentum_estimate!r}")
    if correction_op not in CORRECTION_OPS:
        raise ValueError(f"adabelief: correction_op must be one of {CORRECTION_OPS}, "
                         f"got {correction_op!r}")
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, getattr(param, "device", None)
    size = _itemsize(xp, dtype)
    w1, w2 = _round(1 - beta1, size), _round(1 - beta2, size)

    def corrected(x, beta, k):
        return _corrected(xp, x, rounded_power(beta, k, size), dtype, dev,
                          correction_op)

    m = w1 * grad + beta1 * slots["m"]
    deviation = grad - m
    s = (w2 * (deviation * deviation) + beta2 * slots["s"]) + eps_root
    if momentum_estimate == "nesterov":
        m_hat = beta1 * corrected(m, beta1, t + 1) + w1 * corrected(grad, beta1, t)
    else:
        m_hat = corrected(m, beta1, t)
    s_hat = corrected(s, beta2, t)
    u = m_hat / (_sqrt(xp, s_hat) + eps)
    return param + (-lr) * u, {"m": m, "s": s}


adabelief = Rule("adabelief", init, step)

r"""Yogi: Adam whose second moment moves additively, by at most :math:`(1-\beta_2) g^2`.

Zaheer et al. (2018), Algorithm 2, with step :math:`t \ge 1`, gradient :math:`g_t`:

.. math::

    m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
    v_t &= v_{t-1} - (1 - \beta_2)\, \mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2 \\
    \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t) \\
    \theta_t &= \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t + \bar\varepsilon}
                + \varepsilon)

Where Adam's :math:`v` moves multiplicatively towards :math:`g^2`, Yogi's moves by
:math:`\pm(1-\beta_2) g^2`: up when :math:`g^2 > v`, down when :math:`g^2 < v`, not at all
when they are equal (:math:`\mathrm{sign}(0) = 0`) or the gradient is 0. So :math:`v` never
decays on its own, and a zero gradient leaves it exactly where it was.

Epsilon semantics (optax): ``eps`` sits outside the bias-corrected root and defaults to
``1e-3`` — five orders of magnitude above Adam's 1e-8, as in the paper's experiments —
which makes Yogi markedly less aggressive than Adam wherever :math:`\sqrt{\hat v}` is below
about 1e-2. Both moments start at ``initial_accumulator_value`` (1e-6), not at 0; the bias
corrections are applied all the same, so the first step divides :math:`m_1 = \beta_1 10^{-6}
+ (1-\beta_1) g_1` by :math:`1-\beta_1`.

Of the dialects only optax ships Yogi: torch.optim, Keras 3, tf_keras and
``tf.compat.v1.train`` have none (it lived in the end-of-life tensorflow_addons).

The arithmetic is optax's (``optax.scale_by_yogi`` run op by op): :math:`(1-\beta_2)
\mathrm{sign}(\cdot)` then times :math:`g^2`, then subtracted from :math:`v`; the
corrections as :math:`x \cdot (1/(1 - \beta^t))` in float32 (the jitted
``tree_bias_correction``) with :math:`\beta^t` a float32 power; :math:`\theta + (-\eta) u`.

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

__all__ = ["yogi", "init", "step"]


def init(param, *, initial_accumulator_value=1e-6):
    """Both moments filled with ``initial_accumulator_value``."""
    xp = array_namespace(param)
    full = xp.full_like(param, initial_accumulator_value)
    return {"m": full, "v": xp.full_like(param, initial_accumulator_value)}


def step(param, grad, slots, *, t, lr, beta1, beta2, eps, eps_root=0.0,
         initial_accumulator_value=1e-6, correction_op="multiply_by_reciprocal"):
    """One Yogi step; returns ``(new_param, new_slots)``. ``lr``, ``beta1``, ``beta2``,
    ``eps``, ``eps_root`` are Python floats (``initial_accumulator_value`` is for
    :func:`init`)."""
    del initial_accumulator_value
    if correction_op not in CORRECTION_OPS:
        raise ValueError(f"yogi: correction_op must be one of {CORRECTION_OPS}, "
                         f"got {correction_op!r}")
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, getattr(param, "device", None)
    size = _itemsize(xp, dtype)
    w1, w2 = _round(1 - beta1, size), _round(1 - beta2, size)

    def corrected(x, beta):
        return _corrected(xp, x, rounded_power(beta, t, size), dtype, dev,
                          correction_op)

    m = w1 * grad + beta1 * slots["m"]
    g2 = grad * grad
    v = slots["v"] - (w2 * xp.sign(slots["v"] - g2)) * g2
    u = corrected(m, beta1) / (_sqrt(xp, corrected(v, beta2) + eps_root) + eps)
    return param + (-lr) * u, {"m": m, "v": v}


yogi = Rule("yogi", init, step)

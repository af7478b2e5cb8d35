r"""PowerSign and AddSign (Bello, Zoph, Vasudevan & Le 2017, "Neural Optimizer Search with
Reinforcement Learning", ICML; arXiv:1709.07417, §5 and Appendix).

With :math:`m_t = \beta m_{t-1} + (1-\beta) g_t` the running average of the gradients and
:math:`s_t = \mathrm{sign}(g_t)\,\mathrm{sign}(m_t)` their agreement,

.. math::

    \text{PowerSign:}\quad \theta_{t+1} = \theta_t - \eta\, \alpha^{f(t)\, s_t}\, g_t
    \qquad\qquad
    \text{AddSign:}\quad \theta_{t+1} = \theta_t - \eta\, (\alpha + f(t)\, s_t)\, g_t

with :math:`\alpha = e` (PowerSign) or 1 (AddSign) and the internal decay :math:`f(t)`:

``"constant"``  :math:`f = 1`;
``"linear"``    :math:`f(t) = 1 - t/T`;
``"cyclical"``  :math:`f(t) = \tfrac12 (1 + \cos(2\pi n t/T))` with ``cycles`` :math:`n`;
``"restart"``   :math:`f(t) = \tfrac12 (1 + \cos(\pi (t \bmod T_r)/T_r))`, cosine decay
                restarted every ``restart_period`` :math:`T_r` steps (SGDR).

:math:`s_t` takes only the values -1, 0, 1, so :math:`\alpha^{f s}` is one of three Python
floats computed in float64 and selected elementwise: no transcendental runs on arrays.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from eps_ref.rules import Rule

__all__ = ["powersign", "addsign", "internal_decay", "DECAYS"]

DECAYS = ("constant", "linear", "cyclical", "restart")


def internal_decay(t: int, decay: str = "constant", total_steps: int | None = None,
                   cycles: int = 1, restart_period: int | None = None) -> float:
    """:math:`f(t)` of Bello et al. for the 1-based step ``t``."""
    if decay == "constant":
        return 1.0
    if decay == "linear":
        return 1.0 - t / total_steps
    if decay == "cyclical":
        return 0.5 * (1.0 + math.cos(2.0 * math.pi * cycles * t / total_steps))
    if decay == "restart":
        return 0.5 * (1.0 + math.cos(math.pi * (t % restart_period) / restart_period))
    raise ValueError(f"sign rules: decay must be one of {DECAYS}, got {decay!r}")


def init(param):
    xp = array_namespace(param)
    return {"m": xp.zeros_like(param)}


def _agreement(xp, grad, m_prev, beta):
    m = beta * m_prev + (1.0 - beta) * grad
    return m, xp.sign(grad) * xp.sign(m)


def _select(xp, s, agree, neutral, disagree):
    """The per-element factor: ``agree`` where s > 0, ``disagree`` where s < 0."""
    full = lambda v: xp.full_like(s, v)  # noqa: E731
    return xp.where(s > 0, full(agree), xp.where(s < 0, full(disagree), full(neutral)))


def _powersign_step(param, grad, slots, *, t, lr, alpha, beta, decay="constant",
                    total_steps=None, cycles=1, restart_period=None):
    r""":math:`\theta - \eta\, \alpha^{f(t)\,\mathrm{sign}(g)\,\mathrm{sign}(m)}\, g`."""
    xp = array_namespace(param, grad)
    f = internal_decay(t, decay, total_steps, cycles, restart_period)
    m, s = _agreement(xp, grad, slots["m"], beta)
    factor = _select(xp, s, alpha ** f, 1.0, alpha ** -f)
    return param - lr * (factor * grad), {"m": m}


def _addsign_step(param, grad, slots, *, t, lr, alpha, beta, decay="constant",
                  total_steps=None, cycles=1, restart_period=None):
    r""":math:`\theta - \eta\, (\alpha + f(t)\,\mathrm{sign}(g)\,\mathrm{sign}(m))\, g`."""
    xp = array_namespace(param, grad)
    f = internal_decay(t, decay, total_steps, cycles, restart_period)
    m, s = _agreement(xp, grad, slots["m"], beta)
    factor = _select(xp, s, alpha + f, alpha, alpha - f)
    return param - lr * (factor * grad), {"m": m}


powersign = Rule("paper.powersign", init, _powersign_step)
addsign = Rule("paper.addsign", init, _addsign_step)

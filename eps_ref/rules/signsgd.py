r"""signSGD and Signum (Bernstein, Wang, Azizzadenesheli & Anandkumar 2018, "signSGD:
Compressed Optimisation for Non-Convex Problems", ICML; arXiv:1802.04434, Algorithms 1-2).

With :math:`\theta` the parameter, :math:`g_t` the gradient and :math:`\eta` the learning
rate, signSGD steps by the sign of the gradient and Signum by the sign of its exponential
moving average :math:`m` (zeros at first, no bias correction: the sign does not see it):

.. math::

    \text{signSGD:}\quad \theta_t &= \theta_{t-1} - \eta\, \mathrm{sign}(g_t) \\
    \text{Signum:}\quad m_t &= (1-\beta)\, g_t + \beta\, m_{t-1}, \qquad
        \theta_t = \theta_{t-1} - \eta\, \mathrm{sign}(m_t)

There is no epsilon: :math:`\mathrm{sign}(0) = 0`, so an exactly zero direction leaves the
parameter where it is, and a gradient of 1e-10 moves it by the full :math:`\eta`.

Switch ``average``: ``"none"`` (signSGD, no state) or ``"ema"`` (Signum, slot ``m``).

Arithmetic (``optax.sign_sgd`` = ``scale_by_sign``, ``scale_by_learning_rate``;
``optax.signum`` = ``ema(beta, debias=False)``, ``scale_by_sign``,
``scale_by_learning_rate``): :math:`1-\beta` in Python float64 then cast, each product and
the sum rounded once, and the step :math:`\theta + (-\eta)\,\mathrm{sign}(\cdot)`.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules import Rule

__all__ = ["signum", "init", "step", "AVERAGES"]

AVERAGES = ("none", "ema")


def init(param, *, average="none"):
    if average not in AVERAGES:
        raise ValueError(f"signum: average={average!r}; expected one of {AVERAGES}")
    if average == "none":
        return {}
    return {"m": array_namespace(param).zeros_like(param)}


def step(param, grad, slots, *, t, lr, beta=0.0, average="none"):
    r""":math:`\theta + (-\eta)\,\mathrm{sign}(d)` with :math:`d = g` (``"none"``) or
    :math:`d = (1-\beta) g + \beta m` (``"ema"``)."""
    xp = array_namespace(param, grad)
    if average not in AVERAGES:
        raise ValueError(f"signum: average={average!r}; expected one of {AVERAGES}")
    if average == "ema":
        direction = (1 - beta) * grad + beta * slots["m"]
        new_slots = {"m": direction}
    else:
        direction, new_slots = grad, {}
    return param + (-lr) * xp.sign(direction), new_slots


signum = Rule("signum", init, step)

r"""Optimistic gradient descent (Popov 1980; in the generalised form of Mokhtari, Ozdaglar &
Pattathil 2020, "A Unified Analysis of Extra-gradient and Optimistic Gradient Methods for
Saddle Point Problems", AISTATS; arXiv:1901.08511).

Each step extrapolates with the previous gradient :math:`g_{t-1}`, which damps the rotation
that plain gradient descent shows on min-max games. With learning rate :math:`\eta` and
coefficients :math:`\alpha` (the gradient) and :math:`\beta` (negative momentum):

.. math::

    u_t &= (\alpha + \beta)\, g_t - \beta\, g_{t-1} \\
    \theta_t &= \theta_{t-1} + (-\eta)\, u_t

At the first step there is no previous gradient: optax uses :math:`g_0 = g_1`
(google-deepmind/optax#1082), so the first step is :math:`-\eta\,\alpha\, g_1`. The
classical optimistic method is :math:`\alpha = \beta = 1`: :math:`u_t = 2 g_t - g_{t-1}`.
No epsilon.

Arithmetic (``optax.optimistic_gradient_descent`` = ``scale_by_optimistic_gradient``,
``scale_by_learning_rate``): :math:`\alpha + \beta` in Python float64 then cast, both
products and the difference rounded once each.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules import Rule

__all__ = ["optimistic_gradient", "init", "step"]


def init(param):
    """Slot ``previous_gradient`` (zeros; unused at the first step)."""
    return {"previous_gradient": array_namespace(param).zeros_like(param)}


def step(param, grad, slots, *, t, lr, alpha=1.0, beta=1.0):
    r""":math:`\theta + (-\eta)\bigl((\alpha+\beta) g_t - \beta g_{t-1}\bigr)`."""
    previous = grad if t == 1 else slots["previous_gradient"]
    direction = (alpha + beta) * grad - beta * previous
    xp = array_namespace(param, grad)
    return param + (-lr) * direction, {"previous_gradient": xp.asarray(grad, copy=True)}


optimistic_gradient = Rule("optimistic_gradient", init, step)

r"""Rprop (resilient backpropagation): per-element step sizes driven by gradient signs.

Each element keeps a step size :math:`\Delta` (initially the learning rate :math:`\eta`)
and the previous gradient. With :math:`s = g_t\, g_{t-1}` (rounded in the parameter dtype,
so products of tiny gradients can underflow to zero),

.. math::

    \Delta &\leftarrow \operatorname{clip}\bigl(\Delta\cdot
        \begin{cases}\eta_+ & s > 0\\ \eta_- & s < 0\\ 1 & s = 0\end{cases},
        \ \Delta_{\min}, \Delta_{\max}\bigr)

and the parameter moves by :math:`\Delta` against the sign of the gradient, except where
the sign flipped (:math:`s < 0`): there the step is skipped and the stored gradient is set
to zero, so the next step counts as :math:`s = 0` (the "Rprop-" variant without
backtracking). No epsilon. The frameworks differ (``form``):

``"torch"`` (``torch.optim.Rprop``, ``_single_tensor_rprop``)
    the step size is clamped on every step (also where :math:`s = 0`); the parameter moves
    now: :math:`\theta \leftarrow \theta + (-1\cdot\operatorname{sign}(g'))\Delta` with
    :math:`g'` the gradient zeroed where :math:`s<0`; the stored value is :math:`g'`.
    ``objective="maximize"`` negates the gradient first.
``"optax"`` (``optax.rprop`` = ``scale_by_rprop`` then ``scale(-1)``)
    where :math:`s = 0` the step size is kept unclamped; the stored value is the signed
    step :math:`u_t = \Delta\operatorname{sign}(g)` (zero where :math:`s<0`), and the
    update applied at step :math:`t` is the PREVIOUS stored value :math:`u_{t-1}` (zero
    where :math:`s<0`), so the parameter lags one step behind torch's and the first step
    does not move it: :math:`\theta \leftarrow \theta + (-1)\,u_{t-1}`.

Defaults: torch ``lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50)``; optax
``eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0``.

Reference: Riedmiller & Braun, *A direct adaptive method for faster backpropagation
learning: the RPROP algorithm* (ICNN 1993); Igel & Hüsken (2000) for the variants.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule

__all__ = ["rprop", "init", "step", "FORMS", "OBJECTIVES"]

FORMS = ("torch", "optax")
OBJECTIVES = ("minimize", "maximize")

# The slot each framework keeps for the previous gradient (torch) or update (optax).
_PREV = {"torch": "prev", "optax": "prev_updates"}


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"rprop: {name}={value!r}; expected one of {allowed}")


def init(param, *, lr, form="torch"):
    """Step sizes filled with the learning rate; the previous gradient/update zeros."""
    _check("form", form, FORMS)
    xp = array_namespace(param)
    return {"step_size": xp.full_like(param, lr), _PREV[form]: xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, eta_minus, eta_plus, min_step_size, max_step_size,
         form="torch", objective="minimize"):
    """One Rprop step; returns ``(new_param, new_slots)``. ``lr`` only seeds the step
    sizes (see :func:`init`); ``t`` is unused."""
    _check("form", form, FORMS)
    _check("objective", objective, OBJECTIVES)
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, device(param)

    def scalar(v):
        return xp.asarray(v, dtype=dtype, device=dev)

    prev_name = _PREV[form]
    prev = slots[prev_name]
    size = slots["step_size"]
    if objective == "maximize":
        grad = -grad
    s = grad * prev
    factor = xp.where(s > 0, scalar(eta_plus), xp.where(s < 0, scalar(eta_minus), scalar(1.0)))
    zero = xp.zeros_like(grad)
    if form == "torch":
        new_size = xp.clip(size * factor, min=scalar(min_step_size), max=scalar(max_step_size))
        g = xp.where(factor == scalar(eta_minus), zero, grad)
        new_param = param + (-1.0 * xp.sign(g)) * new_size
        return new_param, {"step_size": new_size, prev_name: g}
    new_size = xp.where(s == 0, size,
                        xp.clip(size * factor, min=scalar(min_step_size),
                                max=scalar(max_step_size)))
    stored = xp.where(s < 0, zero, new_size * xp.sign(grad))
    update = xp.where(s < 0, zero, prev)
    new_param = param + (-1.0) * update
    return new_param, {"step_size": new_size, prev_name: stored}


rprop = Rule("rprop", init, step)

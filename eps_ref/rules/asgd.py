r"""Averaged SGD (Polyak–Ruppert averaging) with torch's decaying step size.

With :math:`\theta` the parameter, :math:`g` the gradient (negated for
``objective="maximize"``, then :math:`g + \lambda_{wd}\theta` with weight decay),
:math:`\eta_0` the learning rate, :math:`\lambda` the decay term ``lambd``,
:math:`\alpha` the power and :math:`t_0` the step at which averaging starts, step
:math:`t = 1, 2, \dots` is (``torch.optim.ASGD``, ``_single_tensor_asgd``)

.. math::

    \theta &\leftarrow \theta\,(1 - \lambda\eta_t) - \eta_t\, g \\
    \bar\theta &\leftarrow \bar\theta + \mu_t(\theta - \bar\theta)
        \quad(\bar\theta \leftarrow \theta \text{ while } \mu_t = 1) \\
    \eta_{t+1} &= \eta_0 / (1 + \lambda\eta_0 t)^{\alpha}, \qquad
    \mu_{t+1} = 1 / \max(1, t - t_0)

with :math:`\eta_1 = \eta_0` and :math:`\mu_1 = 1`. No epsilon. Note the decay term: even a
zero gradient shrinks the parameter by :math:`1 - \lambda\eta_t` (``lambd=1e-4`` by
default), so ASGD is not "zero gradient, no move".

Rounding (``arithmetic="torch_cpu"``): torch keeps :math:`\eta_t` and :math:`\mu_t` as
float32 0-d tensors, computed from Python float64 formulas of the float32 step count and
rounded when stored; :math:`1 - \lambda\eta_t` is a Python float64 of the stored
:math:`\eta_t`, cast to float32 for the multiply; :math:`\theta - \eta_t g` is
``param.add_(grad, alpha=-eta)``, one fused multiply-add; weight decay
``grad.add(param, alpha=wd)`` is another; the average is :math:`(\theta-\bar\theta)\mu_t`
then one add.

Defaults: ``lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0``.

Reference: Polyak & Juditsky, *Acceleration of stochastic approximation by averaging*
(SIAM J. Control Optim. 1992); Bottou, *Stochastic gradient descent tricks* (2012).
"""

from __future__ import annotations

import struct

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma

__all__ = ["asgd", "init", "step", "schedule", "ARITHMETICS", "OBJECTIVES"]

ARITHMETICS = ("torch_cpu",)
OBJECTIVES = ("minimize", "maximize")


def _float32(x: float) -> float:
    """``x`` rounded to float32 (round to nearest even), as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def schedule(t: int, *, lr: float, lambd: float, alpha: float, t0: float) -> tuple[float, float]:
    r"""``(eta_t, mu_t)`` used at step ``t`` (1-based), each rounded to float32 as torch
    stores them: :math:`\eta_t = \eta_0 / (1 + \lambda\eta_0 (t-1))^{\alpha}`,
    :math:`\mu_t = 1/\max(1, (t-1) - t_0)` (:math:`\mu_1 = 1`)."""
    if t == 1:
        return _float32(lr), 1.0
    done = float(t - 1)
    eta = _float32(lr / ((1 + lambd * lr * done) ** alpha))
    mu = _float32(1 / max(1, done - t0))
    return eta, mu


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"asgd: {name}={value!r}; expected one of {allowed}")


def init(param):
    """The running average ``ax``, zeros like the parameter."""
    xp = array_namespace(param)
    return {"ax": xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, lambd, alpha, t0, weight_decay=0.0,
         objective="minimize", arithmetic="torch_cpu"):
    """One ASGD step; returns ``(new_param, {"ax": new_average})``."""
    _check("objective", objective, OBJECTIVES)
    _check("arithmetic", arithmetic, ARITHMETICS)
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, device(param)

    def scalar(v):
        return xp.asarray(v, dtype=dtype, device=dev)

    eta, mu = schedule(t, lr=lr, lambd=lambd, alpha=alpha, t0=t0)
    if objective == "maximize":
        grad = -grad
    if weight_decay != 0:
        grad = fma(param, scalar(weight_decay), grad)
    new_param = param * (1 - lambd * eta)
    new_param = fma(grad, scalar(-eta), new_param)
    ax = slots["ax"]
    if mu != 1:
        new_ax = ax + (new_param - ax) * scalar(mu)
    else:
        new_ax = new_param
    return new_param, {"ax": new_ax}


asgd = Rule("asgd", init, step)

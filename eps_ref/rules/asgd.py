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

``arithmetic="torch_cpu_foreach"`` (``_multi_tensor_asgd``, ``foreach=True``) folds the decay
into the gradient: :math:`h = g + \lambda\theta` (after the weight decay, each one FMA),
:math:`\theta \leftarrow \theta - h\,\eta_t` (``addcmul_``, one FMA) and
:math:`\bar\theta \leftarrow \bar\theta + (\theta - \bar\theta)\mu_t` (one FMA, also while
:math:`\mu_t = 1`); its :math:`\eta_{t+1}` is float32 tensor arithmetic on the float32 step
count :math:`t`: :math:`x = 1 + (\lambda\eta_0)\, t`, then :math:`x^{\alpha}` as a 0-d
tensor's ``**`` rounds it (:func:`_tensor_power`), its reciprocal, times :math:`\eta_0`,
each rounded to float32 (``lr / tensor`` is ``tensor.reciprocal() * lr``).

Defaults: ``lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0``.

Reference: Polyak & Juditsky, *Acceleration of stochastic approximation by averaging*
(SIAM J. Control Optim. 1992); Bottou, *Stochastic gradient descent tricks* (2012).
"""

from __future__ import annotations

import math
import struct

import numpy as np
from array_api_compat import array_namespace, device

from eps_ref.rules import Rule, _roots
from eps_ref.rules._numerics import fma

__all__ = ["asgd", "init", "step", "schedule", "ARITHMETICS", "OBJECTIVES"]

ARITHMETICS = ("torch_cpu", "torch_cpu_foreach")
OBJECTIVES = ("minimize", "maximize")


def _float32(x: float) -> float:
    """``x`` rounded to float32 (round to nearest even), as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _tensor_power(base: float, exponent: float) -> float:
    """``tensor ** exponent`` for a float32 0-d tensor on CPU (``Pow.cpp``, ``PowKernel.cpp``):
    0.5 is ``torch.sqrt`` (MKL), -0.5, -1, 2, 3 and -2 are float32 arithmetic, anything else
    the float64 ``pow`` of the float32 base, rounded."""
    if exponent == 0:
        return 1.0
    if exponent == 1:
        return base
    if exponent == 0.5:
        root = _roots.sqrt(np.asarray([base], dtype=np.float32), "mkl_goldschmidt_rsqrtps")
        return float(root[0])
    if exponent == -0.5:
        return _float32(1 / _float32(math.sqrt(base)))
    if exponent == -1:
        return _float32(1 / base)
    if exponent in (2, 3, -2):
        square = _float32(base * base)
        return {2: square, 3: _float32(square * base), -2: _float32(1 / square)}[exponent]
    return _float32(base ** exponent)


def schedule(t: int, *, lr: float, lambd: float, alpha: float, t0: float,
             arithmetic: str = "torch_cpu") -> tuple[float, float]:
    r"""``(eta_t, mu_t)`` used at step ``t`` (1-based), each rounded to float32 as torch
    stores them: :math:`\eta_t = \eta_0 / (1 + \lambda\eta_0 (t-1))^{\alpha}`,
    :math:`\mu_t = 1/\max(1, (t-1) - t_0)` (:math:`\mu_1 = 1`); :math:`\eta_t` in float64
    (``"torch_cpu"``) or in float32 tensor operations (``"torch_cpu_foreach"``)."""
    if t == 1:
        return _float32(lr), 1.0
    done = float(t - 1)
    if arithmetic == "torch_cpu_foreach":
        base = _float32(1 + _float32(_float32(lambd * lr) * done))
        eta = _float32(_float32(1 / _tensor_power(base, alpha)) * _float32(lr))
    else:
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

    eta, mu = schedule(t, lr=lr, lambd=lambd, alpha=alpha, t0=t0, arithmetic=arithmetic)
    if objective == "maximize":
        grad = -grad
    if weight_decay != 0:
        grad = fma(param, scalar(weight_decay), grad)
    if arithmetic == "torch_cpu_foreach":
        new_param = fma(-fma(param, scalar(lambd), grad), scalar(eta), param)
        ax = slots["ax"]
        return new_param, {"ax": fma(new_param - ax, scalar(mu), ax)}
    new_param = param * (1 - lambd * eta)
    new_param = fma(grad, scalar(-eta), new_param)
    ax = slots["ax"]
    if mu != 1:
        new_ax = ax + (new_param - ax) * scalar(mu)
    else:
        new_ax = new_param
    return new_param, {"ax": new_ax}


asgd = Rule("asgd", init, step)

r"""The published algorithms, written as their papers state them.

These rules are the ``paper.*`` dialect's: each follows one algorithm box or equation of its
paper, in plain float arithmetic in the parameter dtype (scalars such as :math:`\beta^t` are
Python floats, rounded once into the dtype). There is no kernel to match: where a framework
rule in this package follows a framework's operation order, these follow the paper's.

Conventions shared by every rule here:

- ``t`` is the 1-based step number; moments start at zero.
- Square roots are correctly rounded (:func:`eps_ref.rules._roots.sqrt`).
- Where a paper's update has no epsilon (Adamax, RAdam, Hinton's RMSProp, Duchi's AdaGrad
  with :math:`\delta = 0`), the quotient is taken as 0 where its float denominator is exactly
  0: the numerator is then 0 as well (an all-zero gradient history), or the squared gradient
  underflowed. That is the only liberty taken with the papers.

Rules: :data:`adam` (Kingma & Ba Algorithm 1 and the :math:`\hat\varepsilon` form),
:data:`adamax`, :data:`sgdw`, :data:`adamw`, :data:`amsgrad`, :data:`radam` (with
:func:`rho_inf`, :func:`rho_t`, :func:`r_t`), :data:`rmsprop`, :data:`adagrad`,
:data:`adadelta`, :data:`nadam`, :data:`lion`.
"""

from __future__ import annotations

import math
from typing import Callable, Union

from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import Rule, _roots

__all__ = ["adam", "adamax", "sgdw", "adamw", "amsgrad", "radam", "rmsprop", "adagrad",
           "adadelta", "nadam", "lion", "rho_inf", "rho_t", "r_t", "schedule_value",
           "nadam_mu"]

ADAM_FORMS = ("algorithm_1", "eps_hat")
WEIGHT_DECAY_FORMS = ("decoupled", "l2")
AMSGRAD_STEP_SIZES = ("constant", "inverse_sqrt_t")

Schedule = Union[float, Callable[[int], float]]


# -- primitives -------------------------------------------------------------------------

def _check(rule, name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{rule}: {name} must be one of {allowed}, got {value!r}")


def _const(xp, value, like):
    """A Python float as a 0-d array of ``like``'s dtype and device (rounded once)."""
    return xp.asarray(value, dtype=like.dtype, device=_device(like))


def _sqrt(x):
    return _roots.sqrt(x, "correctly_rounded")


def _ema(m, x, beta):
    r""":math:`\beta m + (1 - \beta) x`, the papers' exponential moving average."""
    return beta * m + (1.0 - beta) * x


def _quotient(xp, num, den):
    """``num / den``, 0 where ``den`` is exactly 0 (the papers without an epsilon)."""
    nonzero = den != 0
    return xp.where(nonzero, num / xp.where(nonzero, den, xp.ones_like(den)),
                    xp.zeros_like(num))


def schedule_value(schedule: Schedule, t: int) -> float:
    r"""The schedule multiplier :math:`\eta_t` of Loshchilov & Hutter: a constant, or a
    function of the step ``t``."""
    return float(schedule(t)) if callable(schedule) else float(schedule)


def _zeros(param, *names):
    xp = array_namespace(param)
    return {n: xp.zeros_like(param) for n in names}


# -- Adam (Kingma & Ba 2015) ------------------------------------------------------------

def _adam_init(param):
    return _zeros(param, "m", "v")


def _adam_step(param, grad, slots, *, t, lr, beta1, beta2, eps, form="algorithm_1"):
    r"""Kingma & Ba (2015).

    ``form="algorithm_1"`` (Algorithm 1):
    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
    :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`,
    :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat v_t = v_t/(1-\beta_2^t)`,
    :math:`\theta_t = \theta_{t-1} - \alpha \hat m_t/(\sqrt{\hat v_t} + \epsilon)`.

    ``form="eps_hat"`` (the efficient form, last paragraph before §2.1):
    :math:`\alpha_t = \alpha \sqrt{1-\beta_2^t}/(1-\beta_1^t)`,
    :math:`\theta_t = \theta_{t-1} - \alpha_t m_t/(\sqrt{v_t} + \hat\epsilon)`.
    """
    _check("paper.adam", "form", form, ADAM_FORMS)
    xp = array_namespace(param, grad)
    m = _ema(slots["m"], grad, beta1)
    v = _ema(slots["v"], grad * grad, beta2)
    bc1, bc2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
    if form == "algorithm_1":
        m_hat = m / _const(xp, bc1, m)
        v_hat = v / _const(xp, bc2, v)
        new = param - lr * m_hat / (_sqrt(v_hat) + eps)
    else:
        alpha_t = lr * math.sqrt(bc2) / bc1
        new = param - alpha_t * m / (_sqrt(v) + eps)
    return new, {"m": m, "v": v}


adam = Rule("paper.adam", _adam_init, _adam_step)


# -- AdaMax (Kingma & Ba 2015, Algorithm 2) ---------------------------------------------

def _adamax_init(param):
    return _zeros(param, "m", "u")


def _adamax_step(param, grad, slots, *, t, lr, beta1, beta2):
    r"""Kingma & Ba (2015), Algorithm 2 (AdaMax), no epsilon:
    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
    :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|)`,
    :math:`\theta_t = \theta_{t-1} - (\alpha/(1-\beta_1^t))\, m_t/u_t`."""
    xp = array_namespace(param, grad)
    m = _ema(slots["m"], grad, beta1)
    u = xp.maximum(beta2 * slots["u"], xp.abs(grad))
    step_size = lr / (1.0 - beta1 ** t)
    return param - step_size * _quotient(xp, m, u), {"m": m, "u": u}


adamax = Rule("paper.adamax", _adamax_init, _adamax_step)


# -- SGDW and AdamW (Loshchilov & Hutter 2019) ------------------------------------------

def _sgdw_init(param):
    return _zeros(param, "m")


def _sgdw_step(param, grad, slots, *, t, lr, momentum, weight_decay, schedule_multiplier=1.0,
               weight_decay_form="decoupled"):
    r"""Loshchilov & Hutter (2019), Algorithm 1 (SGD with momentum, SGDW):
    :math:`\eta_t` = SetScheduleMultiplier(t),
    :math:`m_t = \beta_1 m_{t-1} + \eta_t \alpha g_t`,
    :math:`\theta_t = \theta_{t-1} - m_t - \eta_t \lambda \theta_{t-1}` (``"decoupled"``);
    with ``weight_decay_form="l2"`` the algorithm's other branch, :math:`g_t \leftarrow
    g_t + \lambda\theta_{t-1}` and no decay term. :math:`\lambda` is not multiplied by
    :math:`\alpha`."""
    _check("paper.sgdw", "weight_decay_form", weight_decay_form, WEIGHT_DECAY_FORMS)
    eta = schedule_value(schedule_multiplier, t)
    g = grad + weight_decay * param if weight_decay_form == "l2" else grad
    m = momentum * slots["m"] + (eta * lr) * g
    new = param - m
    if weight_decay_form == "decoupled":
        new = new - (eta * weight_decay) * param
    return new, {"m": m}


sgdw = Rule("paper.sgdw", _sgdw_init, _sgdw_step)


def _adamw_step(param, grad, slots, *, t, lr, beta1, beta2, eps, weight_decay,
                schedule_multiplier=1.0, weight_decay_form="decoupled"):
    r"""Loshchilov & Hutter (2019), Algorithm 2 (Adam, AdamW):
    :math:`m_t, v_t, \hat m_t, \hat v_t` as in Adam,
    :math:`\theta_t = \theta_{t-1} - \eta_t\left(\alpha \hat m_t/(\sqrt{\hat v_t}+\epsilon)
    + \lambda\theta_{t-1}\right)` (``"decoupled"``), or the L2 branch
    :math:`g_t \leftarrow g_t + \lambda\theta_{t-1}` without the decay term."""
    _check("paper.adamw", "weight_decay_form", weight_decay_form, WEIGHT_DECAY_FORMS)
    xp = array_namespace(param, grad)
    eta = schedule_value(schedule_multiplier, t)
    g = grad + weight_decay * param if weight_decay_form == "l2" else grad
    m = _ema(slots["m"], g, beta1)
    v = _ema(slots["v"], g * g, beta2)
    m_hat = m / _const(xp, 1.0 - beta1 ** t, m)
    v_hat = v / _const(xp, 1.0 - beta2 ** t, v)
    direction = lr * m_hat / (_sqrt(v_hat) + eps)
    if weight_decay_form == "decoupled":
        direction = direction + weight_decay * param
    return param - eta * direction, {"m": m, "v": v}


adamw = Rule("paper.adamw", _adam_init, _adamw_step)


# -- AMSGrad (Reddi, Kale & Kumar 2018) -------------------------------------------------

def _amsgrad_init(param):
    return _zeros(param, "m", "v", "v_hat")


def _amsgrad_step(param, grad, slots, *, t, lr, beta1, beta2, eps, step_size="constant"):
    r"""Reddi et al. (2018), Algorithm 2 (AMSGrad), without bias correction:
    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
    :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`,
    :math:`\hat v_t = \max(\hat v_{t-1}, v_t)`,
    :math:`\theta_{t+1} = \theta_t - \alpha_t m_t/(\sqrt{\hat v_t} + \epsilon)`;
    :math:`\alpha_t = \alpha` (``"constant"``, the experiments) or :math:`\alpha/\sqrt t`
    (``"inverse_sqrt_t"``, the convergence theorem)."""
    _check("paper.amsgrad", "step_size", step_size, AMSGRAD_STEP_SIZES)
    xp = array_namespace(param, grad)
    m = _ema(slots["m"], grad, beta1)
    v = _ema(slots["v"], grad * grad, beta2)
    v_hat = xp.maximum(slots["v_hat"], v)
    alpha_t = lr if step_size == "constant" else lr / math.sqrt(t)
    return param - alpha_t * m / (_sqrt(v_hat) + eps), {"m": m, "v": v, "v_hat": v_hat}


amsgrad = Rule("paper.amsgrad", _amsgrad_init, _amsgrad_step)


# -- RAdam (Liu et al. 2019/2020, Algorithm 2) ------------------------------------------

def rho_inf(beta2: float) -> float:
    r""":math:`\rho_\infty = 2/(1-\beta_2) - 1`, the maximum length of the approximated
    simple moving average."""
    return 2.0 / (1.0 - beta2) - 1.0


def rho_t(t: int, beta2: float) -> float:
    r""":math:`\rho_t = \rho_\infty - 2 t \beta_2^t/(1-\beta_2^t)`, the length of the
    approximated simple moving average at step ``t``."""
    power = beta2 ** t
    return rho_inf(beta2) - 2.0 * t * power / (1.0 - power)


def r_t(t: int, beta2: float) -> float:
    r"""The variance rectification term
    :math:`r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}`,
    defined where :math:`\rho_t > 4`; ``nan`` elsewhere (the variance is intractable)."""
    rt, ri = rho_t(t, beta2), rho_inf(beta2)
    if not rt > 4.0:
        return math.nan
    return math.sqrt((rt - 4.0) * (rt - 2.0) * ri / ((ri - 4.0) * (ri - 2.0) * rt))


def _radam_step(param, grad, slots, *, t, lr, beta1, beta2, threshold=4.0):
    r"""Liu et al. (2020), Algorithm 2 (Rectified Adam), no epsilon:
    :math:`v_t, m_t` as in Adam, :math:`\hat m_t = m_t/(1-\beta_1^t)`; if
    :math:`\rho_t > 4`: :math:`\hat v_t = \sqrt{v_t/(1-\beta_2^t)}`,
    :math:`\theta_t = \theta_{t-1} - \alpha_t r_t \hat m_t/\hat v_t`; otherwise
    :math:`\theta_t = \theta_{t-1} - \alpha_t \hat m_t` (un-adapted momentum)."""
    xp = array_namespace(param, grad)
    v = _ema(slots["v"], grad * grad, beta2)
    m = _ema(slots["m"], grad, beta1)
    m_hat = m / _const(xp, 1.0 - beta1 ** t, m)
    rho = rho_t(t, beta2)
    if rho > threshold:
        v_hat = _sqrt(v / _const(xp, 1.0 - beta2 ** t, v))
        ri = rho_inf(beta2)
        rect = math.sqrt((rho - 4.0) * (rho - 2.0) * ri / ((ri - 4.0) * (ri - 2.0) * rho))
        new = param - (lr * rect) * _quotient(xp, m_hat, v_hat)
    else:
        new = param - lr * m_hat
    return new, {"m": m, "v": v}


radam = Rule("paper.radam", _adam_init, _radam_step)


# -- RMSProp (Tieleman & Hinton 2012, lecture 6e) ---------------------------------------

def _rmsprop_init(param):
    return _zeros(param, "mean_square")


def _rmsprop_step(param, grad, slots, *, t, lr, decay, eps=0.0):
    r"""Hinton's lecture 6e: :math:`\mathrm{MeanSquare}(w, t) = 0.9\,\mathrm{MeanSquare}(w,
    t-1) + 0.1\,(\partial E/\partial w)^2`, and divide the gradient by
    :math:`\sqrt{\mathrm{MeanSquare}(w,t)}`: :math:`w \leftarrow w - \eta g/\sqrt{s}`.
    The lecture has no epsilon; ``eps`` (default 0) adds one outside the root."""
    xp = array_namespace(param, grad)
    s = _ema(slots["mean_square"], grad * grad, decay)
    return param - lr * _quotient(xp, grad, _sqrt(s) + eps), {"mean_square": s}


rmsprop = Rule("paper.rmsprop", _rmsprop_init, _rmsprop_step)


# -- AdaGrad (Duchi, Hazan & Singer 2011) -----------------------------------------------

def _adagrad_init(param):
    return _zeros(param, "sum_of_squares")


def _adagrad_step(param, grad, slots, *, t, lr, eps=0.0):
    r"""Duchi et al. (2011), diagonal AdaGrad: :math:`G_t = G_{t-1} + g_t^2`,
    :math:`H_t = \delta I + \mathrm{diag}(G_t)^{1/2}`,
    :math:`\theta_{t+1} = \theta_t - \eta\, g_t/(\delta + \sqrt{G_t})`; ``eps`` is
    :math:`\delta \ge 0`."""
    xp = array_namespace(param, grad)
    acc = slots["sum_of_squares"] + grad * grad
    return param - lr * _quotient(xp, grad, _sqrt(acc) + eps), {"sum_of_squares": acc}


adagrad = Rule("paper.adagrad", _adagrad_init, _adagrad_step)


# -- ADADELTA (Zeiler 2012, Algorithm 1) ------------------------------------------------

def _adadelta_init(param):
    return _zeros(param, "accumulated_grad", "accumulated_update")


def _adadelta_step(param, grad, slots, *, t, rho, eps):
    r"""Zeiler (2012), Algorithm 1, no learning rate:
    :math:`E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2`,
    :math:`\Delta x_t = -\frac{\mathrm{RMS}[\Delta x]_{t-1}}{\mathrm{RMS}[g]_t} g_t` with
    :math:`\mathrm{RMS}[y]_t = \sqrt{E[y^2]_t + \epsilon}`,
    :math:`E[\Delta x^2]_t = \rho E[\Delta x^2]_{t-1} + (1-\rho)\Delta x_t^2`,
    :math:`x_{t+1} = x_t + \Delta x_t`."""
    eg = _ema(slots["accumulated_grad"], grad * grad, rho)
    delta = -(_sqrt(slots["accumulated_update"] + eps) / _sqrt(eg + eps)) * grad
    ex = _ema(slots["accumulated_update"], delta * delta, rho)
    return param + delta, {"accumulated_grad": eg, "accumulated_update": ex}


adadelta = Rule("paper.adadelta", _adadelta_init, _adadelta_step)


# -- Nadam (Dozat 2016, Algorithm 2) ----------------------------------------------------

def nadam_mu(t: int, beta1: float, schedule_decay: float) -> float:
    r"""The momentum schedule :math:`\mu_t = \beta_1 (1 - \tfrac12 \cdot 0.96^{t \psi})`,
    :math:`\psi` = ``schedule_decay`` (0.004, i.e. :math:`0.96^{t/250}`)."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * schedule_decay))


def _nadam_init(param):
    return _zeros(param, "m", "n")


def _mu_product(t, beta1, schedule_decay):
    r""":math:`\prod_{i=1}^{t} \mu_i` as a Python float."""
    return math.prod(nadam_mu(i, beta1, schedule_decay) for i in range(1, t + 1))


def _nadam_step(param, grad, slots, *, t, lr, beta1, beta2, eps, schedule_decay):
    r"""Dozat (2016), Algorithm 2 (Nesterov-accelerated Adam):
    :math:`\hat g = g_t/(1-\prod_{i\le t}\mu_i)`,
    :math:`m_t = \mu_t m_{t-1} + (1-\mu_t) g_t`,
    :math:`\hat m_t = m_t/(1-\prod_{i\le t+1}\mu_i)`,
    :math:`n_t = \nu n_{t-1} + (1-\nu) g_t^2`, :math:`\hat n_t = n_t/(1-\nu^t)`,
    :math:`\bar m_t = (1-\mu_t)\hat g + \mu_{t+1}\hat m_t`,
    :math:`\theta_t = \theta_{t-1} - \eta\,\bar m_t/(\sqrt{\hat n_t}+\epsilon)`.
    The products of the :math:`\mu_i` are Python floats."""
    xp = array_namespace(param, grad)
    mu, mu_next = (nadam_mu(t, beta1, schedule_decay), nadam_mu(t + 1, beta1, schedule_decay))
    prod = _mu_product(t, beta1, schedule_decay)
    g_hat = grad / _const(xp, 1.0 - prod, grad)
    m = mu * slots["m"] + (1.0 - mu) * grad
    m_hat = m / _const(xp, 1.0 - prod * mu_next, m)
    n = _ema(slots["n"], grad * grad, beta2)
    n_hat = n / _const(xp, 1.0 - beta2 ** t, n)
    m_bar = (1.0 - mu) * g_hat + mu_next * m_hat
    new = param - lr * m_bar / (_sqrt(n_hat) + eps)
    return new, {"m": m, "n": n}


nadam = Rule("paper.nadam", _nadam_init, _nadam_step)


# -- Lion (Chen et al. 2023, Algorithm 2) -----------------------------------------------

def _lion_init(param):
    return _zeros(param, "m")


def _lion_step(param, grad, slots, *, t, lr, beta1, beta2, weight_decay):
    r"""Chen et al. (2023), Algorithm 2 (Lion):
    :math:`c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
    :math:`\theta_t = \theta_{t-1} - \eta_t(\mathrm{sign}(c_t) + \lambda\theta_{t-1})`,
    :math:`m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t`."""
    xp = array_namespace(param, grad)
    c = _ema(slots["m"], grad, beta1)
    new = param - lr * (xp.sign(c) + weight_decay * param)
    return new, {"m": _ema(slots["m"], grad, beta2)}


lion = Rule("paper.lion", _lion_init, _lion_step)

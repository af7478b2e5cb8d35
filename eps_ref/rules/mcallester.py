r"""RMSProp and Adam as David McAllester's TTIC 31230 lecture notes write them
(Fundamentals of Deep Learning, Winter 2020, "RMSProp and Adam"), with averaging
horizons :math:`N` in place of decay rates (:math:`\beta = 1 - 1/N`).

RMSProp:

.. math::

    s_t = (1 - 1/N_s)\, s_{t-1} + (1/N_s)\, g_t^2, \qquad
    \Phi_{t+1} = \Phi_t - \frac{\eta}{\sqrt{s_t} + \epsilon}\, g_t

Adam (simplified): the running averages use :math:`1/\min(t, N)` in place of Adam's bias
correction, so that :math:`\tilde x_1 = x_1` and the average tracks an exponential one of
horizon :math:`N` once :math:`t \ge N`:

.. math::

    \tilde g_t = (1 - \tfrac{1}{\min(t, N_g)})\, \tilde g_{t-1} + \tfrac{1}{\min(t, N_g)}\, g_t,
    \qquad
    s_t = (1 - \tfrac{1}{\min(t, N_s)})\, s_{t-1} + \tfrac{1}{\min(t, N_s)}\, g_t^2,
    \qquad
    \Phi_{t+1} = \Phi_t - \frac{\eta}{\sqrt{s_t} + \epsilon}\, \tilde g_t

and the "decoupled" reparameterization :math:`\eta = \eta_0/\epsilon`
(``lr_parameterization="eta0_over_eps"``: the learning-rate keyword is then
:math:`\eta_0`), under which for :math:`\sqrt{s} \ll \epsilon` the step is
:math:`\eta_0 \tilde g/\epsilon^2`, and for :math:`\sqrt{s} \gg \epsilon` it is
:math:`(\eta_0/\epsilon)\,\tilde g/\sqrt{s}`.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules import Rule, _roots

__all__ = ["rmsprop", "adam", "LR_PARAMETERIZATIONS", "average_weight"]

LR_PARAMETERIZATIONS = ("eta", "eta0_over_eps")


def average_weight(t: int, horizon: float, warmup: str = "min_t_n") -> float:
    """The weight :math:`1/\\min(t, N)` of the new value in a running average (or
    :math:`1/N` with ``warmup="none"``)."""
    return 1.0 / (min(t, horizon) if warmup == "min_t_n" else horizon)


def _average(old, new, weight):
    return (1.0 - weight) * old + weight * new


def _step_size(lr, eps, lr_parameterization):
    if lr_parameterization not in LR_PARAMETERIZATIONS:
        raise ValueError(f"mcallester: lr_parameterization must be one of "
                         f"{LR_PARAMETERIZATIONS}, got {lr_parameterization!r}")
    return lr if lr_parameterization == "eta" else lr / eps


def _rmsprop_init(param):
    xp = array_namespace(param)
    return {"s": xp.zeros_like(param)}


def _rmsprop_step(param, grad, slots, *, t, lr, eps, n_s, lr_parameterization="eta"):
    r""":math:`s_t = (1-1/N_s) s_{t-1} + g_t^2/N_s`,
    :math:`\Phi_{t+1} = \Phi_t - \eta g_t/(\sqrt{s_t} + \epsilon)`."""
    eta = _step_size(lr, eps, lr_parameterization)
    s = _average(slots["s"], grad * grad, 1.0 / n_s)
    return param - eta * grad / (_roots.sqrt(s, "correctly_rounded") + eps), {"s": s}


def _adam_init(param):
    xp = array_namespace(param)
    return {"g_avg": xp.zeros_like(param), "s": xp.zeros_like(param)}


def _adam_step(param, grad, slots, *, t, lr, eps, n_g, n_s, lr_parameterization="eta"):
    r""":math:`\tilde g_t, s_t` averaged with weights :math:`1/\min(t, N)`,
    :math:`\Phi_{t+1} = \Phi_t - \eta \tilde g_t/(\sqrt{s_t} + \epsilon)`."""
    eta = _step_size(lr, eps, lr_parameterization)
    g_avg = _average(slots["g_avg"], grad, average_weight(t, n_g))
    s = _average(slots["s"], grad * grad, average_weight(t, n_s))
    new = param - eta * g_avg / (_roots.sqrt(s, "correctly_rounded") + eps)
    return new, {"g_avg": g_avg, "s": s}


rmsprop = Rule("paper.mcallester_rmsprop", _rmsprop_init, _rmsprop_step)
adam = Rule("paper.mcallester_adam", _adam_init, _adam_step)

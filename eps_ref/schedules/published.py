r"""The published schedules, as their papers write them, in float64: the step counts from 1.

- SGDR (Loshchilov & Hutter, ICLR 2017, eq. 5): :math:`\eta_t = \eta_{min} +
  \tfrac12(\eta_{max} - \eta_{min})(1 + \cos(\pi T_{cur}/T_i))`, :math:`T_{cur}` the epochs
  since the last restart (fractional: it advances by ``1/steps_per_epoch`` a batch),
  :math:`T_i = T_0 T_{mult}^i` the length of the :math:`i`-th run.
- Noam (Vaswani et al., NeurIPS 2017, eq. 3): :math:`\eta = d_{model}^{-0.5}
  \min(t^{-0.5}, t\,w^{-1.5})`, a linear warmup over :math:`w` steps, then the inverse
  square root.

- Linear warmup (Goyal et al., 2017, Sec. 2.2, "gradual warmup"): from :math:`\eta_0` up
  by a constant amount each step to :math:`\hat\eta` after :math:`w` steps, then
  :math:`\hat\eta`: :math:`\eta_t = \eta_0 + (\hat\eta - \eta_0)\min(t - 1, w)/w`.
- Exponential ε decay (the seeds' ε-tuning essay: "an exponential decay schedule for ε
  instead of a fixed value, where the final value is extremely close to zero"):
  :math:`\epsilon_t = \epsilon_0 (\epsilon_T/\epsilon_0)^{\min(t-1, T)/T}`.

SGDR and Noam as quoted in the seeds' "Optimization for Deep Learning Highlights in 2017"
(Ruder).
"""

from __future__ import annotations

import math

__all__ = ["sgdr", "noam", "linear_warmup", "exponential_decay", "values", "eps_values"]


def _restart(epochs: float, T_0: float, T_mult: float) -> tuple[float, float]:   # noqa: N803
    """(T_cur, T_i) at ``epochs`` since the start: the runs last T_0, T_0 T_mult, ..."""
    t_i = float(T_0)
    while epochs >= t_i:
        epochs -= t_i
        t_i *= T_mult
    return epochs, t_i


def sgdr(*, eta_max: float, eta_min: float, T_0: float, T_mult: float,   # noqa: N803
         steps_per_epoch: int):
    def lr(t: int) -> float:
        t_cur, t_i = _restart((t - 1) / steps_per_epoch, T_0, T_mult)
        return eta_min + 0.5 * (eta_max - eta_min) * (1 + math.cos(math.pi * t_cur / t_i))
    return lr


def noam(*, d_model: int, warmup_steps: int):
    def lr(t: int) -> float:
        return d_model ** -0.5 * min(t ** -0.5, t * warmup_steps ** -1.5)
    return lr


def linear_warmup(*, init_value: float, peak_value: float, warmup_steps: int):
    def lr(t: int) -> float:
        return init_value + (peak_value - init_value) * min(t - 1, warmup_steps) / warmup_steps
    return lr


def exponential_decay(*, init_value: float, end_value: float, decay_steps: int):
    def value(t: int) -> float:
        return init_value * (end_value / init_value) ** (min(t - 1, decay_steps) / decay_steps)
    return value


def values(n: int, *, fn, metrics=None) -> list[dict]:
    """Optimizer steps 1..n at ``fn(t)``."""
    return [{"lr": float(fn(t))} for t in range(1, n + 1)]


def eps_values(n: int, *, fn, metrics=None) -> list[dict]:
    """Optimizer steps 1..n at ``fn(t)``, as the step's ε."""
    return [{"eps": float(fn(t))} for t in range(1, n + 1)]

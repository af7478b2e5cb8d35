r"""Levenberg-Marquardt adaptive damping of :math:`\epsilon`.

The :math:`\epsilon` of Adam, RMSProp and Adagrad is a damping of their preconditioner:
the larger it is, the less the step trusts the curvature estimate and the closer it comes
to SGD with learning rate :math:`\eta/\epsilon`. The Levenberg-Marquardt heuristic (the
essay on tuning eps, ``../shared/seeds/000``; Martens & Grosse 2015, Sec. 6.5) sets the
damping from how well a quadratic model predicted the last step's change of the loss:

.. math::

    \rho = \frac{L(\theta + \delta) - L(\theta)}{\nabla L(\theta)^\top\delta
    + \tfrac12\,\delta^\top H\delta}, \qquad
    \epsilon \leftarrow \begin{cases} \omega\,\epsilon & \rho > 3/4 \\
    \epsilon/\omega & \rho < 1/4 \\ \epsilon & \text{otherwise} \end{cases}

with :math:`H\delta` a Hessian-vector product, evaluated every :math:`T_1 = 5` steps with
:math:`\omega = (19/20)^{T_1}` (Martens & Grosse's constants). A step whose model predicts
no decrease (:math:`\nabla L^\top\delta + \frac12\delta^\top H\delta \ge 0`) counts as
:math:`\rho < 1/4`: the model is not to be trusted there. One whose predicted change is
within rounding of the loss (:math:`|\cdot| \le 2^{-40}|L|`: at a minimum, where both
changes are noise) leaves :math:`\epsilon` as it is (:math:`\rho` recorded as NaN).

:class:`AdaptiveDamping` wraps any Adam-, RMSProp- or Adagrad-family spec of this library:
each step is that spec's own step with the current :math:`\epsilon` (the optimizer state
carries over as the eps changes). The essay reports that on common problems the rule
"almost always decreases" :math:`\epsilon` over training; :func:`eps_ref.science.write_document`
measures that on the problems of :mod:`eps_ref.problems`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["AdaptiveDamping", "DampingHistory", "eps_keyword", "ROUNDING"]

ROUNDING = 2.0 ** -40
"""A predicted change within this fraction of the loss carries no information."""


def eps_keyword(name: str) -> str:
    """The keyword a spec spells its epsilon with (``eps`` or ``epsilon``); a clear error
    for a spec that has none, or whose family :mod:`eps_ref.diagnostics` does not model."""
    import eps_ref
    from eps_ref.diagnostics import check_family
    s = eps_ref.spec(name)
    check_family(s)
    key = next((k for k in ("eps", "epsilon") if k in s.defaults), None)
    if key is None:
        raise ValueError(f"{name} has no epsilon keyword to adapt")
    return key


@dataclass
class DampingHistory:
    """Per step ``t`` (index ``t - 1``): the loss after the step and the eps it was taken
    with; per evaluation (every ``interval`` steps): the step, rho and the eps after it."""

    loss: np.ndarray
    eps: np.ndarray
    evaluated: np.ndarray
    rho: np.ndarray
    eps_after: np.ndarray
    initial_loss: float

    @property
    def decreases(self) -> int:
        """How many evaluations lowered eps."""
        before = np.concatenate([[self.eps[0]], self.eps_after[:-1]])
        return int(np.sum(self.eps_after < before))

    @property
    def increases(self) -> int:
        before = np.concatenate([[self.eps[0]], self.eps_after[:-1]])
        return int(np.sum(self.eps_after > before))


class AdaptiveDamping:
    """``name``'s update rule with its eps set by the Levenberg-Marquardt rule.

    ``eps``: the initial value (default: the spec's own default); ``lower``, ``upper``:
    the thresholds on rho (1/4, 3/4); ``interval``: steps between evaluations (5);
    ``omega``: the factor (default ``(19/20) ** interval``); ``eps_min``, ``eps_max``:
    clamps (0 and infinity). Other keywords go to the spec."""

    def __init__(self, name: str, *, eps: float | None = None, lower: float = 0.25,
                 upper: float = 0.75, interval: int = 5, omega: float | None = None,
                 eps_min: float = 0.0, eps_max: float = math.inf, **kwargs):
        import eps_ref
        self.key = eps_keyword(name)
        if self.key in kwargs:
            raise TypeError(f"give the initial eps as eps=, not {self.key}=")
        self.name, self.kwargs = name, dict(kwargs)
        eps = float(eps_ref.spec(name).defaults[self.key] if eps is None else eps)
        if not eps > 0 or not math.isfinite(eps):
            raise ValueError(f"the initial eps must be a finite number > 0, got {eps!r}")
        if not 0 <= lower < upper:
            raise ValueError(f"need 0 <= lower < upper, got lower={lower}, upper={upper}")
        if not (isinstance(interval, int) and interval >= 1):
            raise ValueError(f"interval must be an integer >= 1, got {interval!r}")
        omega = (19 / 20) ** interval if omega is None else float(omega)
        if not 0 < omega < 1:
            raise ValueError(f"omega must be in (0, 1), got {omega}")
        if not 0 <= eps_min <= eps <= eps_max:
            raise ValueError(f"need eps_min <= eps <= eps_max, got {eps_min}, {eps}, {eps_max}")
        self.eps0, self.lower, self.upper = eps, lower, upper
        self.interval, self.omega, self.eps_min, self.eps_max = interval, omega, eps_min, eps_max
        self._optimizer(eps)                  # bad keywords fail here, before a run

    def _optimizer(self, eps: float):
        import eps_ref
        return eps_ref.optimizer(self.name, **{**self.kwargs, self.key: eps})

    def update(self, eps: float, rho: float) -> float:
        """The eps after an evaluation that measured ``rho`` (``-inf``: the model predicted
        no decrease; NaN: no information, eps unchanged)."""
        if rho > self.upper:
            eps *= self.omega
        elif rho < self.lower:
            eps /= self.omega
        return min(max(eps, self.eps_min), self.eps_max)

    def run(self, problem, steps: int, params=None) -> DampingHistory:
        """Train ``problem`` (``loss``, ``grad``, ``hvp``, ``init``; :mod:`eps_ref.problems`)
        for ``steps`` steps from ``params`` (default ``problem.init()``)."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        w = np.asarray(problem.init() if params is None else params, dtype=np.float64)
        eps = self.eps0
        opt = self._optimizer(eps)
        state = opt.init(w)
        loss = problem.loss(w)
        initial = loss
        losses, used, evaluated, rhos, after = [], [], [], [], []
        for t in range(1, steps + 1):
            g = problem.grad(w)
            new, state = opt.step(w, g, state)
            new_loss = problem.loss(new)
            losses.append(new_loss)
            used.append(eps)
            if t % self.interval == 0:
                delta = new - w
                predicted = float(g @ delta + 0.5 * delta @ problem.hvp(w, delta))
                if abs(predicted) <= ROUNDING * abs(loss):
                    rho = math.nan
                elif predicted > 0:
                    rho = -math.inf
                else:
                    rho = (new_loss - loss) / predicted
                new_eps = self.update(eps, rho)
                evaluated.append(t)
                rhos.append(rho)
                after.append(new_eps)
                if new_eps != eps:
                    eps = new_eps
                    opt = self._optimizer(eps)
            w, loss = new, new_loss
        return DampingHistory(np.array(losses), np.array(used), np.array(evaluated, int),
                              np.array(rhos), np.array(after), initial)

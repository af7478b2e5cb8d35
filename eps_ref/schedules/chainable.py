r"""torch's learning-rate schedulers (``torch.optim.lr_scheduler``), in their chainable form.

A torch scheduler does not evaluate a formula of the step: each ``scheduler.step()``
(called after ``optimizer.step()``) computes the parameter group's next ``lr`` from its
current one, in Python floats (float64, ``math.cos``), and the constructor already takes
one step (epoch 0). So the learning rate of optimizer step :math:`t` is the group's ``lr``
after :math:`t-1` scheduler steps, and a recursion such as CosineAnnealingLR's

.. math:: \eta_e = \frac{1 + \cos(\pi e / T)}{1 + \cos(\pi (e-1) / T)}
          (\eta_{e-1} - \eta_{min}) + \eta_{min}

rounds differently from the closed form it is derived from. Compositions share the
group's ``lr``: ``ChainedScheduler`` applies each scheduler's step in turn,
``SequentialLR`` hands over at each milestone, where the next scheduler restarts at its
epoch 0 (its closed form where it has one: ExponentialLR returns to the base lr there).

Each scheduler is a :class:`Chainable`: ``get(lr, epoch, base, initial)`` is torch's
``get_lr`` (``initial``: the constructor's step), ``closed(epoch, base)`` its
``_get_closed_form_lr`` where it has one, ``momentum(epoch)`` the momentum it writes
(CyclicLR, OneCycleLR with ``cycle_momentum``). Read from torch 2.13's
``torch/optim/lr_scheduler.py``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["Chainable", "values", "chained_values", "sequential_values", "plateau_values",
           "step_lr", "multi_step_lr", "constant_lr", "linear_lr", "exponential_lr",
           "polynomial_lr", "cosine_annealing_lr", "lambda_lr", "multiplicative_lr",
           "cosine_annealing_warm_restarts", "cyclic_lr", "one_cycle_lr"]


@dataclass(frozen=True)
class Chainable:
    """One torch scheduler's arithmetic (see the module docstring)."""

    get: Callable[[float, int, float, bool], float]
    closed: Callable[[int, float], float] | None = None
    momentum: Callable[[int], float] | None = None
    base: Callable[[float], float] | None = None   # base lr from the optimizer's lr
    last_epoch: int | None = None                  # the last epoch torch allows, if any

    def base_lr(self, lr: float) -> float:
        return lr if self.base is None else self.base(lr)

    def restart(self, lr: float, base: float) -> float:
        """The step at a SequentialLR milestone (``_update_lr(0)``): the closed form at
        epoch 0 where there is one, else ``get_lr`` at epoch 0, not initial."""
        return self.closed(0, base) if self.closed is not None else self.get(lr, 0, base, False)


# -- the schedulers ------------------------------------------------------------------------

def step_lr(*, step_size: int, gamma: float) -> Chainable:
    r"""StepLR: :math:`\eta_e = \gamma\,\eta_{e-1}` at every nonzero multiple of
    ``step_size``, else :math:`\eta_{e-1}`."""
    return Chainable(
        get=lambda lr, e, base, initial: lr if e == 0 or e % step_size != 0 else lr * gamma,
        closed=lambda e, base: base * gamma ** (e // step_size))


def multi_step_lr(*, milestones: Sequence[int], gamma: float) -> Chainable:
    r"""MultiStepLR: :math:`\eta_e = \gamma^{k}\eta_{e-1}` at an epoch listed :math:`k`
    times in ``milestones``."""
    counts = Counter(milestones)
    ordered = sorted(counts.elements())
    return Chainable(
        get=lambda lr, e, base, initial: lr * gamma ** counts[e] if e in counts else lr,
        closed=lambda e, base: base * gamma ** bisect_right(ordered, e))


def constant_lr(*, factor: float, total_iters: int) -> Chainable:
    r"""ConstantLR: :math:`\eta_0 = f\eta`, back up by :math:`1/f` at ``total_iters``."""
    def get(lr, e, base, initial):
        if e == 0:
            return lr * factor
        return lr * (1.0 / factor) if e == total_iters else lr
    return Chainable(get=get, closed=lambda e, base: base * (
        factor + (e >= total_iters) * (1 - factor)))


def linear_lr(*, start_factor: float, end_factor: float, total_iters: int) -> Chainable:
    r"""LinearLR: from :math:`s\eta` to :math:`f_e\eta` over ``total_iters`` epochs, each
    step multiplying by :math:`1 + (f_e - s)/(T s + (e-1)(f_e - s))`."""
    def get(lr, e, base, initial):
        if e == 0:
            return lr * start_factor
        if e > total_iters:
            return lr
        return lr * (1.0 + (end_factor - start_factor)
                     / (total_iters * start_factor + (e - 1) * (end_factor - start_factor)))
    return Chainable(get=get, closed=lambda e, base: base * (
        start_factor + (end_factor - start_factor) * min(total_iters, e) / total_iters))


def exponential_lr(*, gamma: float) -> Chainable:
    r"""ExponentialLR: :math:`\eta_e = \gamma\,\eta_{e-1}` (not :math:`\gamma^e\eta`:
    the product rounds at every step)."""
    return Chainable(get=lambda lr, e, base, initial: lr if initial else lr * gamma,
                     closed=lambda e, base: base * gamma ** e)


def polynomial_lr(*, total_iters: int, power: float) -> Chainable:
    r"""PolynomialLR: each step multiplies by
    :math:`((1 - e/T)/(1 - (e-1)/T))^p` until ``total_iters``."""
    def get(lr, e, base, initial):
        if initial or e > total_iters:
            return lr
        return lr * ((1.0 - e / total_iters) / (1.0 - (e - 1) / total_iters)) ** power
    return Chainable(get=get, closed=lambda e, base: base * (
        1.0 - min(total_iters, e) / total_iters) ** power)


def cosine_annealing_lr(*, T_max: int, eta_min: float) -> Chainable:   # noqa: N803
    r"""CosineAnnealingLR, the recursion of the module docstring; one epoch past each
    odd multiple of ``T_max`` it adds :math:`(\eta - \eta_{min})(1 - \cos(\pi/T))/2`
    instead (the cosine's minimum, where the ratio would divide by 0)."""
    def get(lr, e, base, initial):
        if initial:
            return lr
        if (e - 1 - T_max) % (2 * T_max) == 0:
            return lr + (base - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
        return ((1 + math.cos(math.pi * e / T_max))
                / (1 + math.cos(math.pi * (e - 1) / T_max)) * (lr - eta_min) + eta_min)
    return Chainable(get=get, closed=lambda e, base: eta_min + (base - eta_min) * (
        1 + math.cos(math.pi * e / T_max)) / 2)


def lambda_lr(*, lr_lambda: Callable[[int], float]) -> Chainable:
    r"""LambdaLR: :math:`\eta_e = \eta\,\lambda(e)`."""
    return Chainable(get=lambda lr, e, base, initial: base * lr_lambda(e))


def multiplicative_lr(*, lr_lambda: Callable[[int], float]) -> Chainable:
    r"""MultiplicativeLR: :math:`\eta_e = \eta_{e-1}\lambda(e)` from epoch 1."""
    return Chainable(get=lambda lr, e, base, initial: lr if initial else lr * lr_lambda(e))


def _restart_position(e: int, T_0: int, T_mult: int) -> tuple[int, int]:   # noqa: N803
    """(T_cur, T_i) after ``e`` steps: T_cur counts up and wraps at T_i, which then grows
    by T_mult."""
    t_cur, t_i = 0, T_0
    if T_mult == 1:
        return e % T_0, T_0
    for _ in range(e):
        t_cur += 1
        if t_cur >= t_i:
            t_cur, t_i = t_cur % t_i, t_i * T_mult
    return t_cur, t_i


def cosine_annealing_warm_restarts(*, T_0: int, T_mult: int,   # noqa: N803
                                   eta_min: float) -> Chainable:
    r"""CosineAnnealingWarmRestarts (SGDR): :math:`\eta_{min} + (\eta - \eta_{min})
    (1 + \cos(\pi T_{cur}/T_i))/2`, the closed form of the restart position."""
    def get(lr, e, base, initial):
        t_cur, t_i = _restart_position(e, T_0, T_mult)
        return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
    return Chainable(get=get)


_CYCLIC_SCALE = {"triangular": (lambda gamma: lambda x: 1.0, "cycle"),
                 "triangular2": (lambda gamma: lambda x: 1 / (2.0 ** (x - 1)), "cycle"),
                 "exp_range": (lambda gamma: lambda x: gamma ** x, "iterations")}


def cyclic_lr(*, base_lr: float, max_lr: float, step_size_up: int, step_size_down,
              mode: str, gamma: float, scale_fn, scale_mode: str, cycle_momentum: bool,
              base_momentum: float, max_momentum: float) -> Chainable:
    r"""CyclicLR: a triangle between ``base_lr`` and ``max_lr`` (momentum the other way
    between ``max_momentum`` and ``base_momentum``), its height scaled by the mode's
    function of the cycle (or of the epoch, ``exp_range``)."""
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    total = up + down
    ratio = up / total
    if scale_fn is None:
        make, scale_mode = _CYCLIC_SCALE[mode]
        scale_fn = make(gamma)

    def position(e):
        cycle = math.floor(1 + e / total)
        x = 1.0 + e / total - cycle
        factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        return factor, scale_fn(cycle if scale_mode == "cycle" else e)

    def lr_at(e):
        factor, scale = position(e)
        return base_lr + (max_lr - base_lr) * factor * scale

    def momentum_at(e):
        factor, scale = position(e)
        return max_momentum - (max_momentum - base_momentum) * factor * scale

    return Chainable(get=lambda lr, e, base, initial: lr_at(e),
                     momentum=momentum_at if cycle_momentum else None)


def _anneal(strategy: str):
    if strategy == "cos":
        return lambda start, end, pct: end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return lambda start, end, pct: (end - start) * pct + start


def one_cycle_lr(*, max_lr: float, total_steps: int, pct_start: float, anneal_strategy: str,
                 cycle_momentum: bool, base_momentum: float, max_momentum: float,
                 div_factor: float, final_div_factor: float, three_phase: bool) -> Chainable:
    r"""OneCycleLR: from :math:`\eta_{max}/d` up to :math:`\eta_{max}` over the first
    ``pct_start`` of ``total_steps``, then down to :math:`\eta_{max}/(d\,d_f)` (three
    phases: back to the start first), annealed by cosine or linearly; momentum the
    other way."""
    initial = max_lr / div_factor
    lrs = {"initial": initial, "max": max_lr, "min": initial / final_div_factor}
    moms = {"max": max_momentum, "base": base_momentum}
    up_end = float(pct_start * total_steps) - 1
    if three_phase:
        phases = [(up_end, "initial", "max", "max", "base"),
                  (float(2 * pct_start * total_steps) - 2, "max", "initial", "base", "max"),
                  (total_steps - 1, "initial", "min", "max", "max")]
    else:
        phases = [(up_end, "initial", "max", "max", "base"),
                  (total_steps - 1, "max", "min", "base", "max")]
    anneal = _anneal(anneal_strategy)

    def at(e):
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(phases):
            if e <= end or i == len(phases) - 1:
                pct = (e - start) / (end - start)
                return anneal(lrs[lr0], lrs[lr1], pct), anneal(moms[m0], moms[m1], pct)
            start = end

    return Chainable(get=lambda lr, e, base, initial: at(e)[0],
                     momentum=(lambda e: at(e)[1]) if cycle_momentum else None,
                     base=lambda lr: initial, last_epoch=total_steps)


# -- driving them: the lr of each optimizer step ---------------------------------------------

def _check_epochs(c: Chainable, n: int, name: str = "this scheduler") -> None:
    if c.last_epoch is not None and n - 1 > c.last_epoch:
        raise ValueError(f"{name} steps at most {c.last_epoch} times after its first "
                         f"(total_steps={c.last_epoch}): {n} optimizer steps need {n - 1}, "
                         "and torch raises 'Tried to step ... times' there")


def _record(lr: float, c: Chainable, e: int) -> dict:
    out = {"lr": lr}
    if c.momentum is not None:
        out["momentum"] = c.momentum(e)
    return out


def values(c: Chainable, n: int, lr: float) -> list[dict]:
    """The hyperparameters of optimizer steps 1..n: the constructor's step, then one
    ``scheduler.step()`` after each optimizer step."""
    _check_epochs(c, n)
    base = c.base_lr(lr)
    cur = c.get(base, 0, base, True)
    out = [_record(cur, c, 0)]
    for e in range(1, n):
        cur = c.get(cur, e, base, False)
        out.append(_record(cur, c, e))
    return out


def chained_values(parts: Sequence[Chainable], n: int, lr: float) -> list[dict]:
    """ChainedScheduler: each scheduler's constructor step in order on the shared lr, then
    at every step each scheduler's ``step()`` in turn (momentum: the last that sets it)."""
    for c in parts:
        _check_epochs(c, n)
    bases = [c.base_lr(lr) for c in parts]
    cur = lr
    for c, base in zip(parts, bases):
        cur = c.get(cur, 0, base, True)
    out = [_merge(cur, parts, [0] * len(parts))]
    for e in range(1, n):
        for c, base in zip(parts, bases):
            cur = c.get(cur, e, base, False)
        out.append(_merge(cur, parts, [e] * len(parts)))
    return out


def _merge(lr: float, parts, epochs) -> dict:
    out = {"lr": lr}
    for c, e in zip(parts, epochs):
        if c.momentum is not None:
            out["momentum"] = c.momentum(e)
    return out


def sequential_values(parts: Sequence[Chainable], milestones: Sequence[int], n: int,
                      lr: float) -> list[dict]:
    """SequentialLR: the first scheduler from the optimizer's lr; at each milestone the
    next one restarts at its epoch 0 (:meth:`Chainable.restart`) on the current lr, then
    steps from there."""
    bases = [c.base_lr(lr) for c in parts]
    cur = parts[0].get(bases[0], 0, bases[0], True)
    out = [_record(cur, parts[0], 0)]
    for epoch in range(1, n):
        i = bisect_right(milestones, epoch)
        c, local = parts[i], epoch - (milestones[i - 1] if i > 0 else 0)
        if c.last_epoch is not None and local > c.last_epoch:
            raise ValueError(f"scheduler {i} of the SequentialLR steps at most "
                             f"{c.last_epoch} times; epoch {epoch} would be its {local}th")
        cur = c.restart(cur, bases[i]) if i > 0 and local == 0 else \
            c.get(cur, local, bases[i], False)
        out.append(_record(cur, c, local))
    return out


def plateau_values(n: int, lr: float, metrics: Sequence[float], *, mode: str, factor: float,
                   patience: int, threshold: float, threshold_mode: str, cooldown: int,
                   min_lr: float, eps: float) -> list[dict]:
    """ReduceLROnPlateau, fed ``metrics[k]`` after optimizer step ``k + 1``: the lr drops
    by ``factor`` (not below ``min_lr``, and only by more than ``eps``) after more than
    ``patience`` epochs without an improvement beyond ``threshold``, then waits
    ``cooldown`` epochs."""
    if len(metrics) < n - 1:
        raise ValueError(f"ReduceLROnPlateau needs a metric after each step but the last: "
                         f"{n} steps take {n - 1} metrics, got {len(metrics)}")
    better = {("min", "rel"): lambda a, best: a < best * (1.0 - threshold),
              ("min", "abs"): lambda a, best: a < best - threshold,
              ("max", "rel"): lambda a, best: a > best * (threshold + 1.0),
              ("max", "abs"): lambda a, best: a > best + threshold}[(mode, threshold_mode)]
    best = math.inf if mode == "min" else -math.inf
    bad, cooling, cur = 0, 0, lr
    out = [{"lr": cur}]
    for metric in metrics[:n - 1]:
        current = float(metric)
        if better(current, best):
            best, bad = current, 0
        else:
            bad += 1
        if cooling > 0:
            cooling, bad = cooling - 1, 0
        if bad > patience:
            new = max(float(cur) * factor, min_lr)
            if float(cur) - new > eps:
                cur = new
            cooling, bad = cooldown, 0
        out.append({"lr": cur})
    return out

"""Learning-rate schedules, one module per arithmetic:

- :mod:`eps_ref.schedules.chainable`: torch's ``torch.optim.lr_scheduler``, a recursive
  update of the parameter group's ``lr`` in Python floats (float64), stepped after the
  optimizer; its compositions (``SequentialLR``, ``ChainedScheduler``) share that ``lr``.

A schedule rule is :class:`ScheduleRule`: ``values(n, **kw)`` returns, for the optimizer's
steps ``1..n``, the hyperparameters the schedule sets (``{"lr": ...}``, and ``"momentum"``
where it cycles momentum), exactly as the framework computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["ScheduleRule"]


@dataclass(frozen=True)
class ScheduleRule:
    """A schedule: ``values(n, **kw) -> list of dicts``, one per optimizer step 1..n;
    ``max_steps(**kw)``: the most steps the framework's schedule allows (None: no limit);
    ``writes``: the hyperparameter it sets (the dicts' first key)."""

    name: str
    values: Callable[..., list]
    max_steps: Optional[Callable[..., Optional[int]]] = None
    writes: str = "lr"

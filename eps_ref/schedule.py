"""Learning-rate schedules by framework name, and optimizers that follow them.

    s = eps_ref.schedule("torch.optim.lr_scheduler.CosineAnnealingLR", lr=0.1, T_max=100)
    s.learning_rates(5)       # the lr of optimizer steps 1..5, as torch computes them
    opt = eps_ref.optimizer("torch.optim.SGD", lr=s, momentum=0.9)   # SGD + the scheduler

``learning_rates(n)`` gives the learning rate each of the optimizer's steps 1..n applies,
in the framework's own arithmetic and step counting (torch: Python floats, the scheduler
stepped after each optimizer step). ``values(n)`` adds the other hyperparameters a
schedule writes (torch's CyclicLR and OneCycleLR cycle ``momentum``, or Adam's first
beta). A schedule given as an optimizer's learning rate makes the optimizer re-read its
hyperparameters at every step, as the framework's optimizer reads its parameter group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from eps_ref._frozen import freeze
from eps_ref._versions import warn_if_mismatched
from eps_ref.spec import LR_KEYWORDS, _accepts, _check_kind, _hyperparams, spec

__all__ = ["Schedule", "schedule", "ScheduledOptimizer"]


def schedule(name: str, /, *, compiled: bool = False, backend: str | None = None,
             **kwargs) -> "Schedule":
    """The reference schedule for a framework name with the framework's keywords (torch
    schedulers also take ``lr``, the optimizer's learning rate they start from).
    ``compiled=True``: the values as the framework computes them compiled (optax under
    ``jax.jit``), where the compiler rounds otherwise than op by op. ``backend``: Keras 3's
    backend, whose kernels compute the schedule (``"tensorflow"`` by default, ``"jax"``,
    ``"torch"``).

    >>> s = schedule("torch.optim.lr_scheduler.StepLR", lr=0.1, step_size=2, gamma=0.5)
    >>> s.learning_rates(5)
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    s = spec(name)
    _check_kind(s, "schedule")
    warn_if_mismatched(s.framework, s.version)
    hyperparams = _hyperparams(s, kwargs)
    rule_kwargs = s.bind(**hyperparams)
    if compiled:
        if not _accepts(s.rule.values, "compiled"):
            raise ValueError(f"{s.name}: {s.framework} computes its schedules in Python, "
                             "not compiled: compiled=True does not apply")
        rule_kwargs = {**rule_kwargs, "compiled": True}
    if backend is not None:
        if not _accepts(s.rule.values, "backend"):
            raise ValueError(f"{s.name}: {s.framework} has no backends to choose from")
        from eps_ref.schedules.keras_ops import BACKENDS
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r} for {s.name}; one of "
                             f"{list(BACKENDS)}")
        rule_kwargs = {**rule_kwargs, "backend": backend}
    return Schedule(s, hyperparams, rule_kwargs)


@dataclass(frozen=True)
class Schedule:
    """A schedule spec with its keywords fixed (see the module docstring); ``compiled``
    when built with ``compiled=True``."""

    spec: Any
    hyperparams: Mapping[str, Any]
    rule_kwargs: Mapping[str, Any] = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "hyperparams", freeze(self.hyperparams))
        object.__setattr__(self, "rule_kwargs", freeze(self.rule_kwargs))

    def values(self, n: int, metrics: Sequence[float] | None = None) -> list[dict]:
        """The hyperparameters the schedule sets for optimizer steps 1..n: ``{"lr": ...}``
        and ``"momentum"`` where it cycles momentum. ``metrics``: ReduceLROnPlateau's
        metric after each step."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"{self.spec.name}: the number of steps must be an integer "
                             f">= 0, got {n!r}")
        if n == 0:
            return []
        return self.spec.rule.values(n, metrics=metrics, **self.rule_kwargs)

    @property
    def compiled(self) -> bool:
        return bool(self.rule_kwargs.get("compiled", False))

    @property
    def max_steps(self) -> int | None:
        """The most optimizer steps the framework's schedule can run (torch's OneCycleLR:
        its total steps and the one before them), or None."""
        limit = self.spec.rule.max_steps
        return None if limit is None else limit(**self.rule_kwargs)

    def learning_rates(self, n: int, metrics: Sequence[float] | None = None) -> list:
        """The learning rate of each optimizer step 1..n, in the framework's dtype."""
        return [v["lr"] for v in self.values(n, metrics)]


# -- an optimizer on a schedule ---------------------------------------------------------------

def scheduled_keyword(s, kwargs: Mapping[str, Any]) -> str | None:
    """The learning-rate keyword of ``kwargs`` that holds a :class:`Schedule`, if any."""
    for k in LR_KEYWORDS:
        if isinstance(kwargs.get(k), Schedule):
            return k
    return None


def scheduled_optimizer(name: str, keyword: str, backend, threads,
                        kwargs) -> "ScheduledOptimizer":
    """``eps_ref.optimizer(name, lr=schedule, ...)``: checks that the schedule is of the
    optimizer's framework and that the optimizer takes what it writes."""
    import eps_ref
    sched = kwargs[keyword]
    opt_spec = spec(name)
    if sched.spec.framework != opt_spec.framework:
        raise TypeError(f"{name}: {keyword} is a {sched.spec.framework} schedule "
                        f"({sched.spec.name}); a {opt_spec.framework} optimizer follows "
                        f"{opt_spec.framework} schedules (eps_ref.port translates them)")
    fixed = {k: v for k, v in kwargs.items() if k != keyword}
    sched_backend = sched.rule_kwargs.get("backend")
    if sched_backend is not None and backend is not None and sched_backend != backend:
        raise ValueError(f"{name}: the schedule computes on backend {sched_backend!r}, the "
                         f"optimizer on {backend!r}: one Keras process runs one backend")
    if sched_backend is None and backend is not None and _accepts(sched.spec.rule.values,
                                                                  "backend"):
        # a Keras schedule built without a backend computes on the optimizer's
        sched = schedule(sched.spec.name, backend=backend, compiled=sched.compiled,
                         **dict(sched.hyperparams))
    backend = sched_backend if backend is None else backend
    try:
        first = sched.values(1)[0]
    except TypeError as e:
        raise TypeError(f"{name}: an optimizer cannot follow {sched.spec.name} step by step: "
                        f"{e}") from None
    writes = _momentum_keyword(opt_spec, name) if "momentum" in first else None
    base = eps_ref.optimizer(name, backend=backend, threads=threads,
                             **_at(opt_spec, fixed, keyword, first, writes))
    return ScheduledOptimizer(base, sched, keyword, writes, dict(fixed),
                              {"backend": backend, "threads": threads})


def _momentum_keyword(opt_spec, name) -> str:
    """Where torch's CyclicLR/OneCycleLR write momentum: ``betas[0]`` where the optimizer
    has betas, else ``momentum``; torch refuses an optimizer with neither."""
    if "betas" in opt_spec.defaults:
        return "betas"
    if "momentum" in opt_spec.defaults:
        return "momentum"
    raise ValueError(f"optimizer must support momentum or beta1 with `cycle_momentum` "
                     f"option enabled ({name} has neither)")


def _at(opt_spec, fixed: dict, keyword: str, value: dict, writes: str | None) -> dict:
    """The optimizer's keywords at one step's schedule ``value``: its learning rate, and
    the momentum written to ``momentum`` or to the first of ``betas``."""
    out = {**fixed, keyword: value["lr"]}
    if writes == "betas":
        betas = tuple(fixed.get("betas", opt_spec.defaults["betas"]))
        out["betas"] = (value["momentum"], *betas[1:])
    elif writes == "momentum":
        out["momentum"] = value["momentum"]
    return out


@dataclass
class ScheduledOptimizer:
    """An optimizer whose learning rate (and, for torch's cyclic schedules, momentum) is
    re-read from its schedule at every step: step ``t`` runs the optimizer at
    ``schedule.values(t)[t - 1]``, as ``optimizer.step(); scheduler.step()`` does. The
    state is the optimizer's own (``init`` and ``step`` as :class:`eps_ref.Optimizer`)."""

    base: Any
    schedule: Schedule
    keyword: str
    writes: str | None
    fixed: dict
    options: dict
    _values: list = field(default_factory=list, repr=False)
    _built: dict = field(default_factory=dict, repr=False)

    @property
    def spec(self):
        return self.base.spec

    @property
    def hyperparams(self):
        return {**self.base.hyperparams, self.keyword: self.schedule}

    def init(self, params):
        return self.base.init(params)

    def _value(self, t: int) -> dict:
        """Step ``t``'s values, computed ahead in doubling blocks (not past the
        schedule's last step: the step beyond raises as the framework does)."""
        if t > len(self._values):
            n = max(t, 2 * len(self._values), 64)
            limit = self.schedule.max_steps
            self._values = self.schedule.values(n if limit is None else max(t, min(n, limit)))
        return self._values[t - 1]

    def optimizer_at(self, t: int):
        """The plain optimizer of step ``t`` (its hyperparameters fixed)."""
        import eps_ref
        value = self._value(t)
        key = tuple(sorted(value.items()))
        if key not in self._built:    # the last one only: a schedule rarely repeats
            kwargs = _at(self.spec, self.fixed, self.keyword, value, self.writes)
            self._built = {key: eps_ref.optimizer(self.spec.name, **self.options, **kwargs)}
        return self._built[key]

    def step(self, params, grads, state):
        return self.optimizer_at(int(state["step"]) + 1).step(params, grads, state)

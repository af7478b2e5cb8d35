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
Where the framework re-reads other hyperparameters too (torch's parameter group), they
follow schedules the same way (``eps=eps_ref.schedule("paper.exponential_eps_decay",
...)``; :data:`SCHEDULED_HYPERPARAMETERS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from eps_ref._frozen import freeze
from eps_ref._versions import warn_if_mismatched
from eps_ref.spec import LR_KEYWORDS, _accepts, _check_kind, _hyperparams, spec

__all__ = ["Schedule", "schedule", "ScheduledOptimizer", "SCHEDULED_HYPERPARAMETERS"]


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

    @property
    def writes(self) -> str:
        """The hyperparameter the schedule sets: ``"lr"``, or ``"eps"`` for an ε schedule."""
        return self.spec.rule.writes

    def learning_rates(self, n: int, metrics: Sequence[float] | None = None) -> list:
        """The learning rate of each optimizer step 1..n, in the framework's dtype."""
        if self.writes != "lr":
            raise TypeError(f"{self.spec.name} schedules {self.writes}, not the learning "
                            f"rate: values(n) gives its values")
        return [v["lr"] for v in self.values(n, metrics)]


# -- an optimizer on a schedule ---------------------------------------------------------------

SCHEDULED_HYPERPARAMETERS = {"torch": "any", "paper": "any", "optax": "inject_hyperparams",
                             "keras": "lr", "tf_keras": "lr", "tf1": "lr", "flax": "lr"}
"""Which hyperparameters of a dialect's optimizer may follow a schedule: torch re-reads
every entry of its parameter group at each step (a training loop sets ``group["eps"]``
between steps), the papers' optimizers are formulas, optax's ``inject_hyperparams`` feeds
an optax schedule to any numeric hyperparameter (eager; see :data:`INJECT_NOT_MODELLED`);
the others take a schedule as the learning rate only."""

INJECT_NOT_MODELLED = {
    "optax.adafactor": 643, "optax.lamb": 2202, "optax.lars": 23, "optax.novograd": 7,
    "optax.fromage": 99696,
}
"""optax optimizers whose ``inject_hyperparams`` form the reference does not reproduce:
the parameters of 100,000 that differed within 20 eager steps. ``inject_hyperparams`` holds
every numeric hyperparameter as a float32 array, so what optax computes from them in Python
floats (Adam's ``1 - b1``) becomes float32 arithmetic on float32-rounded values. The
reference gets that by rounding each float hyperparameter to float32 (``1 - float32(b1)``
is exact, as float32's subtraction is); these optimizers also multiply or divide
hyperparameters among themselves (fromage's ``1 / sqrt(1 + lr**2)``), which float32 rounds
once more. Under ``jax.jit`` the arrays are also no longer constants XLA can fold: not
modelled for any optimizer (measured: optax.adam, 2,506 of 100,000 parameters within 20
steps)."""


def scheduled_keywords(kwargs: Mapping[str, Any]) -> list[str]:
    """The keywords of ``kwargs`` that hold a :class:`Schedule`, the learning rate's first."""
    found = [k for k, v in kwargs.items() if isinstance(v, Schedule)]
    return sorted(found, key=lambda k: k not in LR_KEYWORDS)


def scheduled_optimizer(name: str, keywords: list[str], backend, threads,
                        kwargs) -> "ScheduledOptimizer":
    """``eps_ref.optimizer(name, lr=schedule, ...)``: checks that each schedule is of the
    optimizer's framework (or, for another hyperparameter than the learning rate, a
    paper's formula), that the framework schedules that hyperparameter, and that the
    optimizer takes what the schedule writes."""
    import eps_ref
    opt_spec = spec(name)
    inject = opt_spec.framework == "optax" and any(k not in LR_KEYWORDS for k in keywords)
    if inject and name in INJECT_NOT_MODELLED:
        raise NotImplementedError(
            f"{name}: a schedule on {[k for k in keywords if k not in LR_KEYWORDS]} is "
            f"optax.inject_hyperparams({name}), whose float32 hyperparameter arithmetic "
            f"eps_ref does not reproduce for this optimizer yet (measured: "
            f"{INJECT_NOT_MODELLED[name]:,} of 100,000 parameters differ within 20 steps)")
    schedules = {}
    for keyword in keywords:
        sched = kwargs[keyword]
        lr = keyword in LR_KEYWORDS
        if opt_spec.framework == "optax":      # any hyperparameter, from an optax schedule
            if sched.spec.framework != "optax":
                raise TypeError(f"{name}: {keyword} is a {sched.spec.framework} schedule "
                                f"({sched.spec.name}); an optax optimizer follows optax "
                                f"schedules, through inject_hyperparams for other "
                                f"hyperparameters than the learning rate")
            schedules[keyword] = sched
            continue
        if not lr and SCHEDULED_HYPERPARAMETERS.get(opt_spec.framework) != "any":
            raise TypeError(f"{name}: {keyword} is a schedule; a {opt_spec.framework} "
                            f"optimizer takes a schedule as its learning rate only")
        if lr != (sched.writes == "lr"):
            raise TypeError(f"{name}: {sched.spec.name} schedules {sched.writes}, not "
                            f"{keyword}")
        if sched.spec.framework != opt_spec.framework and (lr or sched.spec.framework
                                                           != "paper"):
            raise TypeError(f"{name}: {keyword} is a {sched.spec.framework} schedule "
                            f"({sched.spec.name}); a {opt_spec.framework} optimizer follows "
                            f"{opt_spec.framework} schedules (eps_ref.port translates them)")
        schedules[keyword] = _on_backend(name, sched, backend)
    backend = next((s.rule_kwargs["backend"] for s in schedules.values()
                    if "backend" in s.rule_kwargs), backend)
    fixed = {k: v for k, v in kwargs.items() if k not in schedules}
    if inject:
        fixed = _as_float32_arrays(opt_spec, fixed, schedules)
    first = {}
    for keyword, sched in schedules.items():
        try:
            first[keyword] = sched.values(1)[0]
        except TypeError as e:
            raise TypeError(f"{name}: an optimizer cannot follow {sched.spec.name} step by "
                            f"step: {e}") from None
    writes = _momentum_keyword(opt_spec, name) if any(
        "momentum" in v for k, v in first.items() if k in LR_KEYWORDS) else None
    base = eps_ref.optimizer(name, backend=backend, threads=threads,
                             **_at(opt_spec, fixed, first, writes))
    return ScheduledOptimizer(base, schedules, writes, dict(fixed),
                              {"backend": backend, "threads": threads})


def _as_float32_arrays(opt_spec, fixed: dict, schedules: dict) -> dict:
    """The hyperparameters as ``inject_hyperparams`` holds them: every float (given or
    default) rounded to float32 (:data:`INJECT_NOT_MODELLED`)."""
    import numpy as np
    every = {k: v for k, v in opt_spec.defaults.items() if k not in schedules}
    every.update(fixed)
    return {k: float(np.float32(v)) if type(v) is float else v for k, v in every.items()
            if k in fixed or type(v) is float}


def _on_backend(name, sched: Schedule, backend) -> Schedule:
    """A Keras schedule on the optimizer's backend (one built without one computes on the
    optimizer's); a schedule fixed to another backend is refused."""
    sched_backend = sched.rule_kwargs.get("backend")
    if sched_backend is not None and backend is not None and sched_backend != backend:
        raise ValueError(f"{name}: the schedule computes on backend {sched_backend!r}, the "
                         f"optimizer on {backend!r}: one Keras process runs one backend")
    if sched_backend is None and backend is not None and _accepts(sched.spec.rule.values,
                                                                  "backend"):
        return schedule(sched.spec.name, backend=backend, compiled=sched.compiled,
                        **dict(sched.hyperparams))
    return sched


def _momentum_keyword(opt_spec, name) -> str:
    """Where torch's CyclicLR/OneCycleLR write momentum: ``betas[0]`` where the optimizer
    has betas, else ``momentum``; torch refuses an optimizer with neither."""
    if "betas" in opt_spec.defaults:
        return "betas"
    if "momentum" in opt_spec.defaults:
        return "momentum"
    raise ValueError(f"optimizer must support momentum or beta1 with `cycle_momentum` "
                     f"option enabled ({name} has neither)")


def _at(opt_spec, fixed: dict, values: Mapping[str, dict], writes: str | None) -> dict:
    """The optimizer's keywords at one step: each scheduled keyword at its schedule's value,
    and the momentum a cyclic learning-rate schedule writes to ``momentum`` or to the first
    of ``betas``."""
    out = dict(fixed)
    for keyword, value in values.items():
        out[keyword] = value["lr" if keyword in LR_KEYWORDS else next(iter(value))]
        if keyword not in LR_KEYWORDS:
            continue
        if "momentum" in value and writes == "betas":
            betas = tuple(fixed.get("betas", opt_spec.defaults["betas"]))
            out["betas"] = (value["momentum"], *betas[1:])
        elif "momentum" in value and writes == "momentum":
            out["momentum"] = value["momentum"]
    return out


@dataclass
class ScheduledOptimizer:
    """An optimizer whose scheduled hyperparameters (the learning rate and, for torch's
    cyclic schedules, momentum; eps where the framework re-reads it) are re-read from their
    schedules at every step: step ``t`` runs the optimizer at ``schedule.values(t)[t - 1]``,
    as ``optimizer.step(); scheduler.step()`` does. The state is the optimizer's own
    (``init`` and ``step`` as :class:`eps_ref.Optimizer`)."""

    base: Any
    schedules: dict
    writes: str | None
    fixed: dict
    options: dict
    _values: dict = field(default_factory=dict, repr=False)
    _built: dict = field(default_factory=dict, repr=False)

    @property
    def spec(self):
        return self.base.spec

    @property
    def schedule(self) -> Schedule:
        """The first schedule: the learning rate's, where it has one."""
        return next(iter(self.schedules.values()))

    @property
    def hyperparams(self):
        return {**self.base.hyperparams, **self.schedules}

    def init(self, params):
        return self.base.init(params)

    def _value(self, keyword: str, t: int) -> dict:
        """Step ``t``'s values of one schedule, computed ahead in doubling blocks (not past
        the schedule's last step: the step beyond raises as the framework does)."""
        done = self._values.get(keyword, [])
        if t > len(done):
            n = max(t, 2 * len(done), 64)
            limit = self.schedules[keyword].max_steps
            done = self.schedules[keyword].values(n if limit is None
                                                  else max(t, min(n, limit)))
            self._values[keyword] = done
        return done[t - 1]

    def optimizer_at(self, t: int):
        """The plain optimizer of step ``t`` (its hyperparameters fixed)."""
        import eps_ref
        values = {k: self._value(k, t) for k in self.schedules}
        key = tuple((k, tuple(sorted(v.items()))) for k, v in values.items())
        if key not in self._built:    # the last one only: a schedule rarely repeats
            kwargs = _at(self.spec, self.fixed, values, self.writes)
            self._built = {key: eps_ref.optimizer(self.spec.name, **self.options, **kwargs)}
        return self._built[key]

    def step(self, params, grads, state):
        return self.optimizer_at(int(state["step"]) + 1).step(params, grads, state)

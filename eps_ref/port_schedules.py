r"""Porting a learning-rate schedule (``eps_ref.port(schedule, to=...)``): the target's
schedules that compute the same nominal schedule, each measured against the source step
by step.

A translation (:data:`TRANSLATIONS`) writes the source's keywords as the target's: torch's
``StepLR(step_size=s, gamma=g)`` is ``optax.exponential_decay(transition_steps=s,
decay_rate=g, staircase=True)``. Where the step counting may differ by one (a boundary
read before or after the increment, a warmup of ``pct_start * total`` steps or one fewer)
both readings are candidates and the measurement picks. Each candidate's learning rates
over the source's steps are compared with the source's, each step's difference over the
source's largest learning rate: the same schedule where every step agrees to
:data:`SAME_SCHEDULE` (float32 arithmetic on float32-rounded keywords drifts by about
:math:`t \cdot 2^{-24}`; a schedule shifted by one step of :math:`T` moves by about
:math:`1/T`), else the first step that differs, how many do and the largest difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

import eps_ref

__all__ = ["SchedulePlan", "ScheduleCandidate", "port_schedule", "TRANSLATIONS",
           "SAME_SCHEDULE", "GAP_STEPS"]

SAME_SCHEDULE = 2.0 ** -16
"""The largest difference of one step's learning rates, over the source's largest, that is
arithmetic, not schedule (about 1.5e-5: 128 float32 ULPs of the peak)."""

GAP_STEPS = 1000
_T = "torch.optim.lr_scheduler."
_K = "keras.optimizers.schedules."
_TF1 = "tf.compat.v1.train."


def _step_lr(kw):
    lr, s, g = kw["lr"], kw["step_size"], kw.get("gamma", 0.1)
    return {"optax": [("optax.exponential_decay", {"init_value": lr, "transition_steps": s,
                                                   "decay_rate": g, "staircase": True})],
            "keras": [(_K + "ExponentialDecay", {"initial_learning_rate": lr,
                                                 "decay_steps": s, "decay_rate": g,
                                                 "staircase": True})],
            "tf1": [(_TF1 + "exponential_decay", {"learning_rate": lr, "global_step": 0,
                                                  "decay_steps": s, "decay_rate": g,
                                                  "staircase": True})]}


def _exponential_lr(kw):
    lr, g = kw["lr"], kw["gamma"]
    return {"optax": [("optax.exponential_decay", {"init_value": lr, "transition_steps": 1,
                                                   "decay_rate": g})],
            "keras": [(_K + "ExponentialDecay", {"initial_learning_rate": lr,
                                                 "decay_steps": 1, "decay_rate": g})],
            "tf1": [(_TF1 + "exponential_decay", {"learning_rate": lr, "global_step": 0,
                                                  "decay_steps": 1, "decay_rate": g})]}


def _multi_step_lr(kw):
    lr, g = kw["lr"], kw.get("gamma", 0.1)
    milestones = sorted(kw["milestones"])
    scales: dict[int, float] = {}
    for m in milestones:
        scales[m] = scales.get(m, 1.0) * g
    values = [lr]
    for m in sorted(scales):
        values.append(values[-1] * scales[m])
    out = {"optax": [("optax.piecewise_constant_schedule",
                      {"init_value": lr, "boundaries_and_scales": scales})]}
    for shift in (1, 0):       # Keras/TF1 change after the boundary: m - 1, or m read as is
        bounds = [m - shift for m in sorted(scales)]
        out.setdefault("keras", []).append((_K + "PiecewiseConstantDecay",
                                            {"boundaries": bounds, "values": values}))
        out.setdefault("tf1", []).append((_TF1 + "piecewise_constant",
                                          {"x": 0, "boundaries": bounds, "values": values}))
    return out


def _cosine_annealing_lr(kw):
    lr, t_max, eta_min = kw["lr"], kw["T_max"], kw.get("eta_min", 0.0)
    alpha = eta_min / lr
    return {"optax": [("optax.cosine_decay_schedule", {"init_value": lr, "decay_steps": t_max,
                                                       "alpha": alpha})],
            "keras": [(_K + "CosineDecay", {"initial_learning_rate": lr,
                                            "decay_steps": t_max, "alpha": alpha})],
            "tf1": [(_TF1 + "cosine_decay", {"learning_rate": lr, "global_step": 0,
                                             "decay_steps": t_max, "alpha": alpha})]}


def _linear_lr(kw):
    lr = kw["lr"]
    start, end = lr * kw.get("start_factor", 1 / 3), lr * kw.get("end_factor", 1.0)
    n = kw.get("total_iters", 5)
    return {"optax": [("optax.linear_schedule", {"init_value": start, "end_value": end,
                                                 "transition_steps": n})],
            "keras": [(_K + "PolynomialDecay", {"initial_learning_rate": start,
                                                "decay_steps": n, "end_learning_rate": end})],
            "tf1": [(_TF1 + "polynomial_decay", {"learning_rate": start, "global_step": 0,
                                                 "decay_steps": n, "end_learning_rate": end})]}


def _polynomial_lr(kw):
    lr, n, p = kw["lr"], kw.get("total_iters", 5), kw.get("power", 1.0)
    return {"optax": [("optax.polynomial_schedule", {"init_value": lr, "end_value": 0.0,
                                                     "power": p, "transition_steps": n})],
            "keras": [(_K + "PolynomialDecay", {"initial_learning_rate": lr, "decay_steps": n,
                                                "end_learning_rate": 0.0, "power": p})],
            "tf1": [(_TF1 + "polynomial_decay", {"learning_rate": lr, "global_step": 0,
                                                 "decay_steps": n, "end_learning_rate": 0.0,
                                                 "power": p})]}


def _one_cycle_lr(kw):
    total = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
    peak, pct = kw["max_lr"], kw.get("pct_start", 0.3)
    div, final_div = kw.get("div_factor", 25.0), kw.get("final_div_factor", 1e4)
    if kw.get("three_phase"):
        return {}
    linear = kw.get("anneal_strategy", "cos") == "linear"
    onecycle = "optax.linear_onecycle_schedule" if linear else "optax.cosine_onecycle_schedule"
    optax_kw = {"transition_steps": total, "peak_value": peak, "pct_start": pct,
                "div_factor": div, "final_div_factor": final_div}
    if linear:
        optax_kw["pct_final"] = 1.0
    initial = peak / div
    # torch's phases end at steps pct * total - 1 and total - 1 (0-based): optax's
    # interpolation between those boundaries; its own one-cycle ends them one step later
    ends = {int(float(pct * total)) - 1: div, total - 1: 1.0 / (div * final_div)}
    out = {"optax": [("optax.piecewise_interpolate_schedule", {
        "interpolate_type": "linear" if linear else "cosine", "init_value": initial,
        "boundaries_and_scales": ends}), (onecycle, optax_kw)]}
    if not linear:     # Keras and TF1 warm up linearly, torch along a cosine: nearest only
        for warm in (round(pct * total) - 1, round(pct * total)):
            out.setdefault("keras", []).append((_K + "CosineDecay", {
                "initial_learning_rate": initial, "decay_steps": total - 1 - warm,
                "alpha": initial / final_div / peak, "warmup_target": peak,
                "warmup_steps": warm}))
    return out


TRANSLATIONS: Mapping[str, Callable[[dict], dict]] = {
    _T + "StepLR": _step_lr,
    _T + "MultiStepLR": _multi_step_lr,
    _T + "ExponentialLR": _exponential_lr,
    _T + "CosineAnnealingLR": _cosine_annealing_lr,
    _T + "LinearLR": _linear_lr,
    _T + "PolynomialLR": _polynomial_lr,
    _T + "OneCycleLR": _one_cycle_lr,
}
"""Source schedule -> ``translate(source keywords) -> {target framework: [(target name,
keywords), ...]}``: the target's schedules that compute the same nominal schedule."""

_NOTES = {
    _T + "OneCycleLR": lambda kw: (
        ["torch's OneCycleLR also cycles the optimizer's momentum (or first beta) between "
         f"{kw.get('max_momentum', 0.95)} and {kw.get('base_momentum', 0.85)}; the target "
         "schedule sets the learning rate only"] if kw.get("cycle_momentum", True) else []),
    _T + "CosineAnnealingLR": lambda kw: [
        "torch's CosineAnnealingLR keeps following the cosine past T_max (it climbs back); "
        "the targets hold the final value"],
}


@dataclass(frozen=True)
class ScheduleCandidate:
    """One target schedule with its keywords and its measured distance from the source
    over ``steps`` steps: the first step whose learning rate differs by more than
    :data:`SAME_SCHEDULE` of the source's largest (None: none), how many differ, the
    largest difference (of the source's largest learning rate), and the first differing
    steps as ``(step, source lr, target lr)``."""

    name: str
    kwargs: Mapping[str, Any]
    steps: int
    first_differing_step: int | None
    differing_steps: int
    max_diff: float
    examples: tuple = ()

    @property
    def equivalent(self) -> bool:
        return self.first_differing_step is None

    def config(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


@dataclass
class SchedulePlan:
    """The port of a schedule to a target framework: its candidates, the closest first."""

    source: str
    source_kwargs: Mapping[str, Any]
    to: str
    backend: str | None
    candidates: list[ScheduleCandidate]
    notes: tuple[str, ...] = field(default=())

    @property
    def equivalent(self) -> list[tuple[str, dict]]:
        return [(c.name, dict(c.kwargs)) for c in self.candidates if c.equivalent]

    @property
    def nearest(self) -> ScheduleCandidate:
        return self.candidates[0]

    @property
    def differences(self) -> list[str]:
        c = self.nearest
        if c.equivalent:
            return []
        shown = ", ".join(f"step {t}: {a:.6g} vs {b:.6g}" for t, a, b in c.examples)
        return [f"{c.differing_steps} of {c.steps} steps differ, first at step "
                f"{c.first_differing_step} ({shown}); the largest difference is "
                f"{c.max_diff:.3g} of the peak learning rate"]

    def dropin(self, params=None):
        raise NotImplementedError("a schedule has no drop-in: pass the target's schedule "
                                  "to its optimizer")

    def to_json(self) -> dict:
        from eps_ref.port import _jsonable
        return {"source": self.source, "source_kwargs": _jsonable(self.source_kwargs),
                "to": self.to, "backend": self.backend, "family": "schedule",
                "equivalent": [[n, _jsonable(k)] for n, k in self.equivalent],
                "candidates": [{"name": c.name, "kwargs": _jsonable(c.kwargs),
                                "steps": c.steps, "equivalent": c.equivalent,
                                "first_differing_step": c.first_differing_step,
                                "differing_steps": c.differing_steps, "max_diff": c.max_diff}
                               for c in self.candidates],
                "differences": self.differences, "notes": list(self.notes)}

    def __str__(self) -> str:
        source = f"{self.source}({', '.join(f'{k}={v!r}' for k, v in self.source_kwargs.items())})"
        target = self.to + (f" (backend {self.backend})" if self.backend else "")
        c = self.nearest
        lines = [f"Port of {source} to {target} (schedule)", ""]
        if c.equivalent:
            lines += [f"Equivalent (the same learning rate at each of {c.steps} steps, to "
                      f"{SAME_SCHEDULE:.3g} of the peak: arithmetic; largest "
                      f"{c.max_diff:.3g}):", "",
                      *(f"    {x.config()}" for x in self.candidates if x.equivalent)]
        else:
            lines += [f"No {self.to} schedule computes the same one. Nearest:", "",
                      f"    {c.config()}", "", *(f"  - {d}" for d in self.differences)]
        return "\n".join([*lines, "", *self.notes]).rstrip() + "\n"


def _compare(name: str, kwargs: dict, source: np.ndarray, backend) -> ScheduleCandidate:
    target = eps_ref.schedule(name, backend=backend, **kwargs) \
        if name.startswith("keras.") else eps_ref.schedule(name, **kwargs)
    got = np.array(target.learning_rates(len(source)), dtype=np.float64)
    peak = float(np.max(np.abs(source))) if source.size else 0.0
    diff = np.abs(got - source) / (peak if peak > 0 else 1.0)
    differ = np.flatnonzero(~(diff <= SAME_SCHEDULE))          # NaN differs
    examples = tuple((int(t) + 1, float(source[t]), float(got[t])) for t in differ[:3])
    return ScheduleCandidate(name, kwargs, len(source),
                             None if differ.size == 0 else int(differ[0]) + 1,
                             int(differ.size), float(np.max(diff)) if diff.size else 0.0,
                             examples)


def port_schedule(name: str, to: str, backend: str | None = None, *,
                  gap_steps: int = GAP_STEPS, **source_kwargs) -> SchedulePlan:
    """The port of schedule ``name(**source_kwargs)`` to framework ``to`` (see the module
    docstring); raises ``ValueError`` where no translation to ``to`` is known."""
    if isinstance(gap_steps, bool) or not isinstance(gap_steps, int) or gap_steps < 1:
        raise ValueError(f"gap_steps must be a positive int (the steps each candidate is "
                         f"measured over), not {gap_steps!r}")
    source = eps_ref.schedule(name, **source_kwargs)
    translate = TRANSLATIONS.get(eps_ref.spec(name).name)
    candidates = (translate(dict(source.hyperparams)) if translate else {}).get(to, [])
    if not candidates:
        known = sorted(f for t in ([translate(dict(source.hyperparams))] if translate else [])
                       for f in t)
        raise ValueError(f"no {to} schedule is known to compute {name}"
                         + (f" as configured; it ports to {known}" if known else
                            f"; schedules that port: {sorted(TRANSLATIONS)}")
                         + " (eps_ref.schedule(...).learning_rates(n) gives its values)")
    n = min(gap_steps, source.max_steps or gap_steps)
    values = np.array(source.learning_rates(n), dtype=np.float64)
    measured = [_compare(t, kw, values, backend) for t, kw in candidates]
    measured.sort(key=lambda c: (c.differing_steps, c.max_diff))
    notes = tuple(_NOTES[source.spec.name](dict(source.hyperparams))) \
        if source.spec.name in _NOTES else ()
    return SchedulePlan(name, dict(source_kwargs), to, backend, measured, notes)

"""Schedules in the conformance run: every schedule spec and variant against the real
framework (the learning rate, and the momentum a cyclic schedule writes, of each optimizer
step), and every optimizer on a schedule (:data:`~eps_ref.conformance.cases.SCHEDULED`,
the whole trajectory), each in its framework's worker process like every other case.

A schedule case is a :class:`~eps_ref.conformance.cases.Case` of the schedule spec on a
label: torch, optax eagerly and under ``jax.jit`` (``optax/jit``), Keras 3 on each
backend, TF1, tf_keras. An optimizer-on-a-schedule case is the schedule's case with the
optimizer in ``Case.optimizer``. Both are exact or not: no schedule carries a budget. What
the reference refuses (Keras on torch computes ``cos`` and ``log`` with MKL's VML) is
reported ``open``, with the measured difference from the same schedule on TensorFlow.
"""

from __future__ import annotations

import numpy as np

import eps_ref
from eps_ref.conformance.cases import SCHEDULED, Case
from eps_ref.conformance.runner import (Result, compare, reference_trajectory, result_row,
                                       run_in_workers, tally)
from eps_ref.conformance.streams import gradient_stream, initial_params

__all__ = ["SCHEDULE_STEPS", "SCHEDULE_LABELS", "schedule_cases", "scheduled_cases",
           "schedule_kwargs", "schedule_steps", "metric_stream", "run_schedule_cases", "schedules_markdown"]

SCHEDULE_STEPS = 1000
SCHEDULE_LABELS = {"torch": ("torch",), "optax": ("optax", "optax/jit"),
                   "keras": ("keras/tensorflow", "keras/jax", "keras/torch"),
                   "tf1": ("tf1",), "tf_keras": ("tf_keras",)}
"""The labels a schedule of each dialect runs on (the papers' have no framework)."""


def schedule_kwargs(name: str, variant: str) -> dict:
    """A schedule variant's keywords, its inner schedules as (name, keywords) pairs."""
    kw = dict(eps_ref.spec(name).variants[variant])
    for key in ("schedulers", "schedules"):
        if key in kw:
            kw[key] = [(inner, dict(k)) for inner, k in kw[key]]
    return kw


def schedule_steps(kwargs, steps: int = SCHEDULE_STEPS) -> int:
    """``steps``, or as many as a OneCycleLR allows (its total steps and the one before)."""
    total = kwargs.get("total_steps") or \
        (kwargs.get("epochs") or 0) * (kwargs.get("steps_per_epoch") or 0)
    return min(steps, total + 1) if total else steps


def metric_stream(n: int, mode: str = "min") -> list[float]:
    """A validation metric that improves, stalls and is noisy: what ReduceLROnPlateau
    watches (negated for ``mode="max"``)."""
    rng = np.random.default_rng(3)
    t = np.arange(n)
    values = 1.0 / (1.0 + 0.02 * t) + 0.03 * rng.standard_normal(n)
    values[n // 3: n // 2] = values[n // 3]          # a plateau
    return [float(-v if mode == "max" else v) for v in values]


def schedule_cases(frameworks=None, specs=None) -> list[Case]:
    """Every schedule spec and variant on each label of its dialect (of ``frameworks``,
    and named in ``specs``, where given)."""
    out = []
    for name in eps_ref.specs(kind="schedule"):
        framework = eps_ref.spec(name).framework
        if framework not in SCHEDULE_LABELS or (frameworks and framework not in frameworks) \
                or (specs and name not in specs):
            continue
        for variant in eps_ref.spec(name).variants:
            out += [Case(name, variant, label, schedule_kwargs(name, variant))
                    for label in SCHEDULE_LABELS[framework]]
    return out


def scheduled_cases(frameworks=None, specs=None) -> list[Case]:
    """The optimizers on a schedule, on their framework's eager label (of ``frameworks``,
    and with the optimizer or the schedule named in ``specs``, where given)."""
    out = []
    for opt, opt_kwargs, sched, sched_kwargs in SCHEDULED:
        framework = eps_ref.spec(opt).framework
        if (frameworks and framework not in frameworks) or \
                (specs and opt not in specs and sched not in specs):
            continue
        out.append(Case(sched, f"with {opt}", SCHEDULE_LABELS[framework][0],
                        dict(sched_kwargs), optimizer=(opt, dict(opt_kwargs))))
    return out


def _reference_schedule(case: Case):
    backend = case.label.split("/", 1)[1] if case.label.startswith("keras/") else None
    return eps_ref.schedule(case.spec, backend=backend, compiled=case.label == "optax/jit",
                            **dict(case.kwargs))


def _as_array(values: list[dict], framework: str, keys) -> np.ndarray:
    """One row a step: the values of ``keys`` (the learning rate, and the momentum where
    the schedule writes one); float64 for torch's Python floats, float32 for the others'."""
    dtype = np.float64 if framework == "torch" else np.float32
    return np.array([[v[k] for k in keys] for v in values], dtype=dtype).reshape(-1, len(keys))


def _run_schedule(worker, case: Case, steps: int, timeout: float) -> Result:
    n = schedule_steps(case.kwargs, steps)
    framework = eps_ref.spec(case.spec).framework
    metrics = metric_stream(n, case.kwargs.get("mode", "min")) \
        if case.spec.endswith("Plateau") else None
    args = (case.spec, dict(case.kwargs), n) + ((metrics,) if framework == "torch" else ())
    kind, payload = worker.run(("run_schedule", args), timeout)
    if kind == "error":
        return Result(case, "error", payload)
    try:
        reference = _reference_schedule(case).values(n, metrics)
    except NotImplementedError as e:
        on_tf = _as_array(eps_ref.schedule(case.spec, **dict(case.kwargs)).values(n),
                          framework, ["lr"])
        native = _as_array(payload, framework, ["lr"])
        differ = int(np.sum(np.any(on_tf != native, axis=1)))
        return Result(case, "open", f"{e}; measured: {differ} of {n} steps differ from "
                                    f"the schedule on TensorFlow", trajectory=native)
    # what the schedule writes: torch's parameter group also holds a momentum it does not
    keys = list(reference[0]) if reference else ["lr"]
    native = _as_array(payload, framework, keys)
    return _judged(case, compare(_as_array(reference, framework, keys), native), native)


def _judged(case: Case, comparison, trajectory) -> Result:
    if comparison.max_ulp == 0:
        return Result(case, "exact", "", comparison, trajectory)
    return Result(case, "over budget", f"{comparison.max_ulp} ULP, first at step "
                  f"{comparison.first_divergent_step}; a schedule must be the framework's "
                  f"bits", comparison, trajectory)


def _run_scheduled(worker, case: Case, steps: int, timeout: float) -> Result:
    opt, opt_kwargs = case.optimizer
    n = schedule_steps(case.kwargs, steps)
    param0, grads = initial_params(), gradient_stream(n)
    kind, payload = worker.run(("run_scheduled", (opt, dict(opt_kwargs), case.spec,
                                                  dict(case.kwargs), param0, grads)), timeout)
    if kind == "error":
        return Result(case, "error", payload)
    keyword = "lr" if eps_ref.spec(opt).framework == "torch" else "learning_rate"
    reference = reference_trajectory(opt, {**opt_kwargs, keyword: _reference_schedule(case)},
                                     param0, grads)
    return _judged(case, compare(reference, payload), payload)


def run_schedule_cases(case_list: list[Case], steps: int = SCHEDULE_STEPS,
                       jobs: int | None = None, timeout: float | None = None,
                       progress=print) -> list[Result]:
    """Run schedule and optimizer-on-a-schedule cases, each in its label's worker."""
    from eps_ref.conformance.runner import TIMEOUT_S
    timeout = TIMEOUT_S if timeout is None else timeout

    def run_one(worker, case: Case) -> Result:
        run = _run_scheduled if case.optimizer is not None else _run_schedule
        return run(worker, case, steps, timeout)

    results, _ = run_in_workers(case_list, run_one, Result, jobs=jobs, progress=progress)
    return results


def schedules_markdown(results: list[Result], steps: int) -> str:
    """The report's schedules section: a table of the schedules, then of the optimizers
    on a schedule."""
    plain = [r for r in results if r.case.optimizer is None]
    paired = [r for r in results if r.case.optimizer is not None]
    lines = ["## Schedules", "",
             f"Each schedule's values (the learning rate, and the momentum a cyclic schedule "
             f"writes) for {steps} optimizer steps (fewer where the schedule ends sooner), "
             f"read from the real framework, against `eps_ref.schedule(...)`; and each "
             f"optimizer on a schedule, the whole trajectory against "
             f"`eps_ref.optimizer(name, lr=schedule)`. No schedule has a budget: exact or "
             f"not. {tally(results)}.", ""]
    if plain:
        lines += ["| schedule | variant | label | status | detail |", "|---|---|---|---|---|",
                  *map(result_row, plain), ""]
    if paired:
        lines += ["| schedule | optimizer | label | status | detail |",
                  "|---|---|---|---|---|", *map(result_row, paired), ""]
    return "\n".join(lines)

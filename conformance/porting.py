"""Porting in the conformance run: for each porting pair, the source's reference against
the nominal port, the plan's nearest native configuration and the drop-in, the last run in
the real target framework, in its worker process, as every other case.

- **Pairs.** Every member of a porting group (:data:`~eps_ref.conformance.cases.
  PORTING_GROUPS`: the same optimizer at the same nominal settings in each framework) as the
  source, ported to every drop-in label of another framework (:data:`DROPIN_LABELS`, Keras
  on each backend).
- **Nominal port**: the group's member in the target framework, as a user copying the
  numbers would write it (none where the group has no member there).
- **Nearest**: ``eps_ref.port(source, to=target, backend=...).nearest``, found and verified
  by the plan's search.
- **Drop-in**: ``plan.dropin()`` driven by the target as a training loop drives it
  (:func:`eps_ref.backends.dropins.trajectory`: ``model.fit`` for Keras and tf_keras, a
  session for TF1), on a parameter list of two tensors. It must be bit-exact against the
  source reference, or within :data:`DROPIN_BUDGETS`.

All three are measured against the source's reference on the conformance streams.
"""

from __future__ import annotations

import numpy as np

import eps_ref
from eps_ref.backends.dropins import APPLY_UPDATES_BUDGET
from eps_ref.conformance.cases import Case, porting_groups
from eps_ref.conformance.runner import Result, compare, reference_trajectory, run_in_workers
from eps_ref.conformance.streams import SHAPE, gradient_stream, initial_params
from eps_ref.spec import ScaleBudget

__all__ = ["DROPIN_LABELS", "DROPIN_BUDGETS", "dropin_cases", "run_dropin_cases",
           "porting_rows", "porting_markdown", "tree_inputs"]

DROPIN_LABELS = ("torch", "keras/tensorflow", "keras/jax", "keras/torch", "tf1", "tf_keras",
                 "optax")
"""The labels a drop-in runs on: each target framework with a drop-in, Keras on each
backend."""

DROPIN_BUDGETS = {
    "optax": ScaleBudget(APPLY_UPDATES_BUDGET[0], APPLY_UPDATES_BUDGET[1]),
}
"""Declared budgets of the drop-ins, by label (every other label: bit-exact). optax's
``apply_updates`` adds the drop-in's update to the caller's parameters in float32; its
state keeps the exact trajectory (:func:`eps_ref.backends.dropins.exact_params`)."""


def framework_of(label: str) -> str:
    """The dialect of a label: ``"keras/jax"`` -> ``"keras"``."""
    return label.split("/", 1)[0]


def _variant(kwargs: dict) -> str:
    return "dropin " + (", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "defaults")


def dropin_cases(labels=DROPIN_LABELS) -> list[Case]:
    """One case per porting-group member and drop-in label of another framework (each
    source and keywords once, however many groups hold it)."""
    out, seen = [], set()
    for members in porting_groups().values():
        for source, kwargs in members.items():
            for label in labels:
                if framework_of(label) == eps_ref.spec(source).framework:
                    continue
                case = Case(source, _variant(kwargs), label, dict(kwargs))
                if case.id not in seen:
                    seen.add(case.id)
                    out.append(case)
    return out


def tree_inputs(steps: int, seed: int = 0, shape=SHAPE) -> tuple[dict, dict]:
    """The conformance tensor and streams split into a parameter list of two leaves (its
    first row, the rest), so that a drop-in steps a list as in training."""
    p0, g = initial_params(seed, shape), gradient_stream(steps, seed, shape)
    return ({"first": p0[:1].copy(), "rest": p0[1:].copy()},
            {"first": g[:, :1].copy(), "rest": g[:, 1:].copy()})


def _judge(case: Case, comparison) -> tuple[str, str]:
    if comparison.max_ulp == 0:
        return "exact", ""
    budget = DROPIN_BUDGETS.get(case.label)
    if budget is not None and comparison.scale_ulp <= budget.ulp:
        return "within budget", (f"{comparison.scale_ulp:.3g} ULP of scale "
                                 f"({comparison.max_ulp} ULP) <= {budget.ulp}: "
                                 f"{budget.reason}")
    return "over budget", (f"{comparison.scale_ulp:.3g} ULP of scale ({comparison.max_ulp} "
                           f"ULP), first at step {comparison.first_divergent_step}; the "
                           f"drop-in must be the source's bits")


def run_dropin_cases(case_list: list[Case], steps: int, seed: int = 0, shape=SHAPE,
                     jobs: int | None = None, timeout: float | None = None, progress=print):
    """Run each drop-in case in its target's worker; return ``(results, references)``,
    the references by ``(spec, variant)``."""
    from eps_ref.conformance.runner import TIMEOUT_S
    timeout = TIMEOUT_S if timeout is None else timeout
    param0, grads = tree_inputs(steps, seed, shape)
    references = {}
    for case in case_list:
        key = (case.spec, case.variant)
        if key not in references:
            references[key] = reference_trajectory(case.spec, dict(case.kwargs), param0, grads)

    def run_one(worker, case: Case) -> Result:
        kind, payload = worker.run(("run_dropin", (case.spec, dict(case.kwargs), param0,
                                                   grads, "cpu")), timeout)
        if kind == "error":
            return Result(case, "error", payload)
        comparison = compare(references[(case.spec, case.variant)], payload)
        status, message = _judge(case, comparison)
        return Result(case, status, message, comparison, payload)

    results, _ = run_in_workers(case_list, run_one, Result, jobs=jobs, progress=progress)
    return results, references


# -- nominal vs nearest vs drop-in ---------------------------------------------------------

def _distance(reference: dict, other: dict | None) -> dict | None:
    if other is None:
        return None
    c = compare(reference, other)
    per_step = np.max(np.stack([np.abs(reference[k].astype(np.float64)
                                       - other[k].astype(np.float64)).reshape(
                                           len(reference[k]), -1).max(axis=1)
                                for k in reference]), axis=0)
    return {"scale_ulp": c.scale_ulp, "max_ulp": c.max_ulp,
            "first_differing_step": c.first_divergent_step,
            "final_max_abs": float(per_step[-1]), "abs_per_step": per_step}


def porting_rows(results: list[Result], steps: int, seed: int = 0, shape=SHAPE) -> list[dict]:
    """For each porting group and each drop-in result of its members: the nominal port, the
    plan's nearest configuration and the drop-in, each against the source reference."""
    param0, grads = tree_inputs(steps, seed, shape)
    by_id = {r.case.id: r for r in results}
    rows = []
    for title, members in porting_groups().items():
        for source, kwargs in members.items():
            reference = None
            for label in DROPIN_LABELS:
                case = Case(source, _variant(kwargs), label, dict(kwargs))
                result = by_id.get(case.id)
                if result is None:
                    continue
                if reference is None:
                    reference = reference_trajectory(source, dict(kwargs), param0, grads)
                fw = framework_of(label)
                nominal = next(((n, k) for n, k in members.items()
                                if eps_ref.spec(n).framework == fw), None)
                nominal_traj = None if nominal is None else reference_trajectory(
                    nominal[0], dict(nominal[1]), param0, grads, label)
                backend = label.split("/", 1)[1] if "/" in label else None
                try:
                    nearest = eps_ref.port(source, to=fw, backend=backend, gap_steps=0,
                                           **kwargs).nearest
                except ValueError:   # the target ships no such family: the drop-in only
                    nearest = None
                nearest_traj = None if nearest is None else reference_trajectory(
                    nearest.name, dict(nearest.kwargs), param0, grads, label)
                rows.append({
                    "group": title, "source": source, "kwargs": dict(kwargs), "label": label,
                    "nominal": None if nominal is None else _call(*nominal),
                    "nominal_gap": _distance(reference, nominal_traj),
                    "nearest": None if nearest is None else nearest.config(),
                    "nearest_equivalent": nearest is not None and nearest.equivalent,
                    "nearest_gap": _distance(reference, nearest_traj),
                    "dropin_status": result.status, "dropin_message": result.message,
                    "dropin_gap": None if result.trajectory is None
                    else _distance(reference, result.trajectory)})
    return rows


def _call(name: str, kwargs: dict) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _gap_text(gap: dict | None) -> str:
    if gap is None:
        return "-"
    if gap["max_ulp"] == 0:
        return "0 (bit-exact)"
    return f"{gap['scale_ulp']:.3g} u, {gap['final_max_abs']:.2g}"


def porting_markdown(rows: list[dict], steps: int, out_dir=None) -> str:
    """The report's porting section: one table (and one plot, with ``out_dir``) a group."""
    lines = ["## Porting: nominal port, nearest native configuration, drop-in", "",
             f"Each pair's source reference against three ports, over {steps} float32 steps "
             "of the conformance streams on a parameter list of two tensors: the *nominal* "
             "port (the same optimizer at the same nominal settings in the target), the "
             "*nearest* native configuration (`eps_ref.port(...).nearest`, searched and "
             "verified), and the *drop-in* (`plan.dropin()`), run in the real target "
             "framework as a training loop runs it (`model.fit` for Keras and tf_keras, a "
             "TF1 session). Gaps: largest difference in ULPs of each element's scale (u), "
             "then the largest |Δθ| after the last step.", ""]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["dropin_status"]] = counts.get(r["dropin_status"], 0) + 1
    lines += [f"Drop-ins: {len(rows)} pairs, " + ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items())) + ".", ""]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    for title, group in groups.items():
        lines += [f"### {title}", "",
                  "| source | target | nominal port | nominal gap | nearest | nearest gap "
                  "| drop-in | drop-in gap |", "|---|---|---|---|---|---|---|---|"]
        for r in group:
            near = ("-" if r["nearest"] is None else
                    ("= " if r["nearest_equivalent"] else "") + f"`{r['nearest']}`")
            lines.append(f"| `{r['source']}` | {r['label']} | "
                         f"{'-' if r['nominal'] is None else '`' + r['nominal'] + '`'} | "
                         f"{_gap_text(r['nominal_gap'])} | {near} | "
                         f"{_gap_text(r['nearest_gap'])} | {r['dropin_status']} | "
                         f"{_gap_text(r['dropin_gap'])} |")
        plot = None if out_dir is None else _plot(title, group, out_dir)
        if plot:
            lines += ["", f"![{title}]({plot})"]
        lines.append("")
    return "\n".join(lines)


def _plot(title: str, group: list[dict], out_dir) -> str | None:
    """Final max |Δθ| of the three ports of each pair, bars on a log scale (0 drawn at the
    floor); returns the plot's path relative to ``out_dir``."""
    try:
        import matplotlib
    except ImportError:
        return None
    from pathlib import Path

    from eps_ref.conformance.report import _slug
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    floor = 1e-12
    x = np.arange(len(group))   # a port that does not exist: no bar
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(group) + 2), 4.5))
    for i, (key, name) in enumerate((("nominal_gap", "nominal"), ("nearest_gap", "nearest"),
                                     ("dropin_gap", "drop-in"))):
        values = [np.nan if r[key] is None else max(r[key]["final_max_abs"], floor)
                  for r in group]
        ax.bar(x + (i - 1) * 0.27, values, 0.27, label=name)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{eps_ref.spec(r['source']).framework} → {r['label']}"
                      for r in group], rotation=70, ha="right", fontsize=7)
    ax.set_ylabel(f"max |Δθ| after the last step (0 at {floor:g})")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(out_dir) / "plots" / f"porting_pairs_{_slug(title)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"plots/{path.name}"

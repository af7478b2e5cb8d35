"""The conformance report: JSON (everything measured), Markdown (for people) and PNG plots.

Three sections: reference vs each real framework (per case: status, max ULP, first divergent
step, errors); Keras' three backends against each other; and the porting gap, the distance
between frameworks given the same nominal optimizer, computed with the oracle.
"""

from __future__ import annotations

import itertools
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import eps_ref
from eps_ref.conformance import host
from eps_ref.conformance.cases import porting_groups
from eps_ref.conformance.drift import defaults_drift
from eps_ref.conformance.runner import Result, compare, reference_trajectory, tally
from eps_ref.conformance.streams import SHAPE, gradient_stream, initial_params

__all__ = ["keras_backend_agreement", "porting_gaps", "uncertified_versions", "write_report"]

KERAS_LABELS = ("keras/tensorflow", "keras/jax", "keras/torch")


def uncertified_versions() -> dict:
    """``{framework: {"installed": ..., "table": ...}}`` for every installed framework
    that is not the version its dialect table was read from."""
    from eps_ref._versions import mismatch
    tables = {s.framework: s.version for s in map(eps_ref.spec, eps_ref.specs())}
    out = {}
    for fw, table in tables.items():
        installed = mismatch(fw, table)
        if installed is not None:
            out[fw] = {"installed": installed, "table": table}
    return out


def keras_backend_agreement(results: list[Result]) -> list[dict]:
    """For each Keras spec and variant run under several backends: max ULP between them."""
    runs: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for r in results:
        if r.case.label in KERAS_LABELS and r.trajectory is not None:
            runs.setdefault((r.case.spec, r.case.variant), {})[r.case.label] = r.trajectory
    rows = []
    for (name, variant), by_label in runs.items():
        for a, b in itertools.combinations(sorted(by_label), 2):
            c = compare(by_label[a], by_label[b])
            rows.append({"spec": name, "variant": variant, "a": a, "b": b, **c.summary()})
    return rows


def porting_gaps(steps: int, seed: int = 0, shape=SHAPE) -> list[dict]:
    """Oracle trajectories of each porting group, each member against the group's first."""
    param0, grads = initial_params(seed, shape), gradient_stream(steps, seed, shape)
    out = []
    for title, members in porting_groups().items():
        trajectories = {name: reference_trajectory(name, kw, param0, grads)
                        for name, kw in members.items()}
        base_name, base = next(iter(trajectories.items()))
        rows = []
        for name, traj in trajectories.items():
            diff = np.abs(traj.astype(np.float64) - base.astype(np.float64))
            per_step = diff.reshape(len(diff), -1).max(axis=1)
            differs = np.flatnonzero(per_step > 0)
            rows.append({"spec": name, "kwargs": members[name],
                         "first_differing_step": int(differs[0]) if len(differs) else None,
                         "max_abs_diff": float(per_step.max()),
                         "final_max_abs_diff": float(per_step[-1]),
                         "abs_diff_per_step": per_step})
        out.append({"title": title, "baseline": base_name, "members": rows})
    return out


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _plot_ulp(results: list[Result], path: Path) -> bool:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    drawn = [r for r in results if r.comparison is not None and r.comparison.max_ulp > 0]
    if not drawn:
        return False
    # one line per spec and backend: the largest ULP of its variants at each step
    lines: dict[str, np.ndarray] = {}
    for r in drawn:
        key = f"{r.case.spec}@{r.case.label}"
        ulp = r.comparison.ulp_per_step
        lines[key] = ulp if key not in lines else np.maximum(lines[key], ulp)
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for key, ulp in lines.items():
        ax.plot(np.maximum(ulp, 0.5), label=key, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("max ULP over the variants (0 drawn at 0.5)")
    ax.set_title("Cases that are not bit-exact, by spec and backend")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_porting(group: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 5))
    for row in group["members"][1:]:
        ax.plot(np.maximum(row["abs_diff_per_step"], 1e-12), label=row["spec"], lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"max |θ - θ[{group['baseline']}]|")
    ax.set_title(group["title"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower()[:60]


def write_report(results: list[Result], versions: dict, out_dir, steps: int,
                 seed: int = 0, device: str = "cpu", layer_results=(),
                 shape: tuple[int, ...] = SHAPE, workload_results=None, porting=None,
                 schedules=None, carryover=None) -> Path:
    """Write ``report.json``, ``report.md`` and ``plots/*.png`` into ``out_dir``; with
    ``layer_results`` (from :func:`eps_ref.conformance.layers.run_layer_cases`) the report
    gains the normalization-layer sections, with ``workload_results`` (``{title: (steps,
    results)}`` from :func:`eps_ref.conformance.workload.run_workload_cases`) a section per
    parameter tree, with ``porting`` (``(steps, results, rows)`` from
    :mod:`eps_ref.conformance.porting`) the porting pairs' section, with ``schedules``
    (``(steps, results)`` from :mod:`eps_ref.conformance.schedules`) the schedules'
    section, with ``carryover`` (``((k, n), results)`` from
    :mod:`eps_ref.conformance.carryover`) the state carry-over section. ``plots/`` belongs to
    the report: the plots of an earlier run are removed first, so none is left that the new
    report does not show."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for stale in (out / "plots").glob("*.png"):
        stale.unlink()
    agreement = keras_backend_agreement(results)
    gaps = porting_gaps(steps, seed, shape)
    try:
        import matplotlib  # noqa: F401
        have_plots = True
    except ImportError:
        have_plots = False

    ulp_plot = have_plots and _plot_ulp(results, out / "plots" / "ulp_not_exact.png")
    for group in gaps:
        group["plot"] = f"plots/porting_{_slug(group['title'])}.png" if have_plots else None
        if have_plots:
            _plot_porting(group, out / group["plot"])

    workload_results = workload_results or {}
    counts: dict[str, int] = {}
    porting_results = porting[1] if porting else []
    schedule_results = schedules[1] if schedules else []
    carry_results = carryover[1] if carryover else []
    for r in [*results, *layer_results, *porting_results, *schedule_results, *carry_results,
              *(r for _, rs in workload_results.values() for r in rs)]:
        counts[r.status] = counts.get(r.status, 0) + 1
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "eps_ref": eps_ref.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpu": host.describe(), "certified": host.certified(),
        "device": device, "steps": steps, "seed": seed,
        "shape": list(shape),
        "versions": versions,
        "dialect_tables": {s.framework: s.version for s in map(eps_ref.spec, eps_ref.specs())},
        **version_meta(),
        "counts": counts,
    }
    doc = {
        "meta": meta,
        "cases": [{"id": r.case.id, "spec": r.case.spec, "variant": r.case.variant,
                   "backend": r.case.label, "kwargs": _jsonable(r.case.kwargs),
                   "status": r.status, "message": r.message, "seconds": round(r.seconds, 3),
                   "budget": None if r.case.budget is None else
                   {"ulp": r.case.budget.ulp, "reason": r.case.budget.reason},
                   **(r.comparison.summary() if r.comparison else {}),
                   # all zeros for an exact case: left out
                   "ulp_per_step": None if r.comparison is None or r.comparison.max_ulp == 0
                   else r.comparison.ulp_per_step.tolist()}
                  for r in results],
        "keras_backend_agreement": agreement,
        "porting_gaps": [{**g, "members": [{k: v for k, v in m.items()
                                            if k != "abs_diff_per_step"} for m in g["members"]]}
                         for g in gaps],
    }
    markdown = _markdown(meta, results, agreement, gaps, ulp_plot)
    from eps_ref.conformance.paper import paper_distance, paper_markdown
    paper_rows = paper_distance(steps=steps, seed=seed, shape=shape)
    doc["paper_distance"] = [{k: v for k, v in row.items() if not isinstance(v, np.ndarray)}
                             for row in paper_rows]
    markdown += "\n" + paper_markdown(paper_rows, out)
    if layer_results:
        from eps_ref.conformance.layers import layer_markdown
        doc["layer_cases"] = [{"id": r.case.id, "spec": r.case.spec, "variant": r.case.variant,
                               "backend": r.case.label, "status": r.status,
                               "message": r.message,
                               **(r.comparison.summary() if r.comparison else {})}
                              for r in layer_results]
        markdown += "\n" + layer_markdown(list(layer_results), out, seed)
    for title, (tree_steps, tree_results) in workload_results.items():
        doc.setdefault("trees", {})[title] = {
            "steps": tree_steps,
            "cases": [{"id": r.case.id, "status": r.status, "message": r.message,
                       **(r.comparison.summary() if r.comparison else {})}
                      for r in tree_results]}
        markdown += "\n" + _tree_markdown(title, tree_steps, tree_results)
    if porting:
        from eps_ref.conformance.porting import porting_markdown
        porting_steps, _, rows = porting
        doc["porting_pairs"] = {"steps": porting_steps, "pairs": [
            {k: ({kk: vv for kk, vv in v.items() if kk != "abs_per_step"}
                 if isinstance(v, dict) and k.endswith("_gap") else v)
             for k, v in row.items()} for row in rows]}
        markdown += "\n" + porting_markdown(rows, porting_steps, out if have_plots else None)
    if schedules:
        from eps_ref.conformance.schedules import schedules_markdown
        schedule_steps, _ = schedules
        doc["schedules"] = {"steps": schedule_steps, "cases": [
            {"id": r.case.id, "spec": r.case.spec, "variant": r.case.variant,
             "label": r.case.label, "status": r.status, "message": r.message,
             "optimizer": None if r.case.optimizer is None else r.case.optimizer[0],
             **(r.comparison.summary() if r.comparison else {})}
            for r in schedule_results]}
        markdown += "\n" + schedules_markdown(list(schedule_results), schedule_steps)
    if carryover:
        from eps_ref.conformance.carryover import carryover_markdown
        doc["carryover"] = {"steps": list(carryover[0]), "cases": [
            {"id": r.case.id, "spec": r.case.spec, "target": r.case.target,
             "label": r.case.label, "status": r.status, "message": r.message}
            for r in carry_results]}
        markdown += "\n" + carryover_markdown(list(carry_results), carryover[0])
    (out / "report.json").write_text(json.dumps(_jsonable(doc), indent=1))
    (out / "report.md").write_text(markdown)
    return out


def version_meta() -> dict:
    """``{"uncertified_versions": ..., "defaults_drift": {framework: differences}}``: each
    installed framework that is not its table's version, and its signatures checked against
    the table (:func:`eps_ref.conformance.drift.defaults_drift`)."""
    uncertified = uncertified_versions()
    return {"uncertified_versions": uncertified,
            "defaults_drift": {fw: defaults_drift(fw) for fw in uncertified}}


def version_lines(meta: dict) -> list[str]:
    """The report's lines on each uncertified version (``meta["uncertified_versions"]``)
    and its defaults drift (``meta["defaults_drift"]``)."""
    lines: list[str] = []
    for fw, v in meta.get("uncertified_versions", {}).items():
        lines += [f"**Uncertified version**: {fw} {v['installed']} is installed, the {fw} "
                  f"table was read from {v['table']}: its statuses hold for "
                  f"{v['installed']}, which eps_ref does not certify.", ""]
        drift = meta.get("defaults_drift", {}).get(fw)
        if drift is None:
            continue
        if not drift:
            lines += [f"Defaults drift: every {fw} optimizer's keywords and defaults in "
                      f"{v['installed']} are the table's.", ""]
            continue
        lines += [f"Defaults drift: {len(drift)} differences between the {fw} table and the "
                  f"installed {v['installed']}'s signatures:", ""]
        for d in drift:
            if d.get("error"):
                lines.append(f"- not checked: {d['error']}")
            elif d["keyword"] is None:
                lines.append(f"- `{d['spec']}`: {d['installed']}")
            else:
                lines.append(f"- `{d['spec']}` `{d['keyword']}`: table {d['table']!r}, "
                             f"installed {d['installed']!r}")
        lines.append("")
    return lines


def _tree_markdown(title: str, steps: int, results: list[Result]) -> str:
    """A parameter tree's section: totals, then every case that is not bit-exact."""
    lines = [f"## {title}", "",
             f"{len(results)} optimizer cases, {steps} float32 steps each: "
             f"{tally(results)}.", ""]
    rest = [r for r in results if r.status != "exact"]
    if rest:
        lines += ["| spec | variant | backend | status | max ULP | max ULP of scale | "
                  "first divergent step | worst leaf | note |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in rest:
            c = r.comparison
            note = r.message.splitlines()[0] if r.message else ""
            lines.append(f"| `{r.case.spec}` | {r.case.variant} | {r.case.label} | {r.status} "
                         f"| {_fmt(c.max_ulp if c else None)} | "
                         f"{f'{c.scale_ulp:.3g}' if c else '-'} | "
                         f"{_fmt(c.first_divergent_step if c else None)} | "
                         f"{(c.worst_leaf if c else None) or '-'} | {note.replace('|', '/')} |")
    else:
        lines.append("Every case is bit-exact on every leaf at every step.")
    return "\n".join(lines) + "\n"


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def _markdown(meta, results, agreement, gaps, ulp_plot) -> str:
    lines = ["# eps_ref conformance report", ""]
    shape = "×".join(map(str, meta["shape"]))
    lines.append(f"{meta['date']} · {meta['steps']} float32 steps · parameter shape {shape} · "
                 f"device {meta['device']} · "
                 f"Python {meta['python']} ({meta['machine']}) · eps_ref {meta['eps_ref']}")
    lines.append("")
    lines.append(f"CPU: {meta['cpu']}" + ("" if meta["certified"] else
                 f" — not an {host.CERTIFIED_ISA.upper()} host by {host.CERTIFIED_VENDOR}, "
                 "whose kernels the reference models: the cases that are not bit-exact are "
                 "reported as *not certified here*"))
    lines.append("")
    lines.append("Ran against: " + "; ".join(
        f"**{label}** " + ", ".join(f"{k} {v}" for k, v in v_.items())
        for label, v_ in meta["versions"].items() if v_))
    lines.append("")
    lines.append("Dialect tables read from: " + ", ".join(
        f"{fw} {v}" for fw, v in meta["dialect_tables"].items()))
    lines.append("")
    lines += version_lines(meta)
    lines.append("Totals: " + ", ".join(f"{n} {s}" for s, n in sorted(meta["counts"].items())))
    lines += ["", "## Reference vs framework", "",
              "| spec | variant | backend | status | max ULP | first divergent step | "
              "max abs err | note |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.comparison
        note = r.message.splitlines()[0] if r.message else ""
        lines.append(f"| `{r.case.spec}` | {r.case.variant} | {r.case.label} | {r.status} | "
                     f"{_fmt(c.max_ulp if c else None)} | "
                     f"{_fmt(c.first_divergent_step if c else None)} | "
                     f"{_fmt(c.max_abs if c else None)} | {note.replace('|', '/')} |")
    if ulp_plot:
        lines += ["", "![ULP per step of the cases that are not bit-exact]"
                      "(plots/ulp_not_exact.png)"]
    lines += ["", "## Keras backends against each other", ""]
    if agreement:
        disagree = [a for a in agreement if a["max_ulp"] > 0]
        lines.append(f"{len(agreement)} backend pairs compared; "
                     f"{len(agreement) - len(disagree)} agree bit for bit.")
        if disagree:
            lines += ["", "| spec | variant | backends | max ULP | first divergent step |",
                      "|---|---|---|---|---|"]
            lines += [f"| `{a['spec']}` | {a['variant']} | {a['a']} vs {a['b']} | "
                      f"{a['max_ulp']} | {a['first_divergent_step']} |" for a in disagree]
    else:
        lines.append("No Keras case ran under two backends.")
    lines += ["", "## Porting gap: the same nominal optimizer in each framework", "",
              "Oracle trajectories (each proven against its framework above) on the same "
              "gradient stream; distance of each member from the first.", ""]
    for g in gaps:
        lines += [f"### {g['title']}", "",
                  "| spec | keywords | first differing step | max abs diff | final max abs diff |",
                  "|---|---|---|---|---|"]
        for m in g["members"]:
            lines.append(f"| `{m['spec']}` | `{m['kwargs']}` | {_fmt(m['first_differing_step'])} "
                         f"| {_fmt(m['max_abs_diff'])} | {_fmt(m['final_max_abs_diff'])} |")
        if g.get("plot"):
            lines += ["", f"![{g['title']}]({g['plot']})"]
        lines.append("")
    return "\n".join(lines) + "\n"

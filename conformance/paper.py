"""Distance from the paper: every framework's optimizer, at its defaults, against the
published algorithm it implements, with the paper spec's hyperparameters matched to the
framework's (learning rate, betas, eps, decay).

Both sides are oracle trajectories (no framework runs here): the framework side is the
framework's spec, which the conformance suite proves bit-exact against the framework, so the
distance measured is the framework's own drift from its paper. ``paper_distance`` returns one
row per (framework spec, paper spec); ``paper_markdown`` writes the report section and one
plot per rule family.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

import eps_ref
from eps_ref.conformance.runner import reference_trajectory
from eps_ref.conformance.streams import SHAPE, gradient_stream, initial_params
from eps_ref.spec import REQUIRED

__all__ = ["FAMILIES", "paper_distance", "paper_markdown"]


def _adam(s):
    return {"lr": s["lr"], "beta1": s["beta1"], "beta2": s["beta2"], "eps": s["eps"]}


def _betas(s):
    return {"lr": s["lr"], "beta1": s["beta1"], "beta2": s["beta2"]}


def _adamw(s):
    # The frameworks decay by lr * wd per step; the paper's lambda is not scaled by alpha.
    return {**_adam(s), "weight_decay": s["lr"] * s["weight_decay"]}


def _sgd(s):
    return {"lr": s["lr"], "momentum": s.get("momentum", 0.0), "weight_decay": 0.0}


def _rmsprop(s):
    return {"lr": s["lr"], "decay": s["decay"], "eps": s["eps"]}


def _mcallester_rmsprop(s):
    return {"lr": s["lr"], "eps": s["eps"], "n_s": 1.0 / (1.0 - s["decay"])}


def _adagrad(s):
    return {"lr": s["lr"], "eps": s["eps"]}


def _adadelta(s):
    return {"rho": s["rho"], "eps": s["eps"]}


def _nadam(s):
    return {**_adam(s), "schedule_decay": 0.004}


def _lion(s):
    # Lion's lambda is multiplied by eta in the paper, as in the frameworks.
    return {**_betas(s), "weight_decay": s["weight_decay"]}


def _amsgrad(s):
    return _adam(s)


def _lamb(s):
    return {**_adam(s), "weight_decay": s["weight_decay"]}


def _adafactor(s):
    # torch's d, Keras' clip_threshold; torch's eps = (None, 1e-3) clamps at float32's
    # machine epsilon where the paper adds eps1, which keeps its own 1e-30 here.
    return {"lr": s["lr"], "beta_2_decay": s.get("beta_2_decay", s.get("beta2_decay")),
            "epsilon_1": s.get("epsilon_1", 1e-30),
            "epsilon_2": s.get("epsilon_2", s.get("eps2")),
            "clip_threshold": s.get("clip_threshold", s.get("d"))}


Match = Callable[[dict], dict]

FAMILIES: dict[str, list[tuple[str, dict, str, Match]]] = {
    # family -> [(framework spec, its keywords, paper spec, matcher from the framework's
    # rule keywords to the paper spec's keywords)]
    "adam": [(n, {}, p, _adam) for n in ("torch.optim.Adam", "keras.optimizers.Adam",
                                         "tf.compat.v1.train.AdamOptimizer", "optax.adam")
             for p in ("paper.adam", "paper.adam_eps_hat")],
    "adamw": [(n, {}, "paper.adamw", _adamw) for n in ("torch.optim.AdamW",
                                                      "keras.optimizers.AdamW", "optax.adamw")],
    "amsgrad": [("torch.optim.Adam", {"amsgrad": True}, "paper.amsgrad", _amsgrad),
                ("keras.optimizers.Adam", {"amsgrad": True}, "paper.amsgrad", _amsgrad),
                ("optax.amsgrad", {}, "paper.amsgrad", _amsgrad)],
    "adamax": [(n, {}, "paper.adamax", _betas) for n in ("torch.optim.Adamax",
                                                        "keras.optimizers.Adamax",
                                                        "optax.adamax")],
    "radam": [(n, {}, "paper.radam", _betas) for n in ("torch.optim.RAdam", "optax.radam")],
    "nadam": [(n, {}, "paper.nadam", _nadam) for n in ("torch.optim.NAdam",
                                                      "keras.optimizers.Nadam",
                                                      "optax.nadam")],
    "sgd": [(n, kw, "paper.sgdw", _sgd) for n, kw in (
        ("torch.optim.SGD", {}), ("torch.optim.SGD", {"lr": 1e-2, "momentum": 0.9}),
        ("keras.optimizers.SGD", {}), ("tf.compat.v1.train.MomentumOptimizer", {}),
        ("optax.sgd", {}))],
    "rmsprop": [(n, {}, p, m) for n in ("torch.optim.RMSprop", "keras.optimizers.RMSprop",
                                        "tf.compat.v1.train.RMSPropOptimizer", "optax.rmsprop")
                for p, m in (("paper.rmsprop", _rmsprop),
                             ("paper.mcallester_rmsprop", _mcallester_rmsprop))],
    "adagrad": [(n, {}, "paper.adagrad", _adagrad) for n in (
        "torch.optim.Adagrad", "keras.optimizers.Adagrad", "tf.compat.v1.train.AdagradOptimizer",
        "optax.adagrad")],
    "adadelta": [(n, {}, "paper.adadelta", _adadelta) for n in (
        "torch.optim.Adadelta", "keras.optimizers.Adadelta",
        "tf.compat.v1.train.AdadeltaOptimizer", "optax.adadelta")],
    "lion": [(n, {}, "paper.lion", _lion) for n in ("keras.optimizers.Lion", "optax.lion")],
    "lamb": [(n, {}, "paper.lamb", _lamb) for n in ("keras.optimizers.Lamb", "optax.lamb")],
    "adafactor": [(n, {}, "paper.adafactor", _adafactor) for n in (
        "torch.optim.Adafactor", "keras.optimizers.Adafactor")],
}


def _framework_kwargs(name: str, kwargs: dict) -> dict:
    s = eps_ref.spec(name)
    out = {**s.variants.get("defaults", {}), **kwargs}
    for k, v in s.defaults.items():
        if v is REQUIRED and k not in out:
            out[k] = 1e-3
    return out


def paper_distance(steps: int = 1000, seed: int = 0, shape=SHAPE) -> list[dict]:
    """One row per (family, framework spec, paper spec): both run on the conformance
    streams; per-step max abs difference of the params, the first step they differ, and
    the trajectories' difference for plotting (``abs_per_step``)."""
    grads, param0 = gradient_stream(steps, seed, shape), initial_params(seed, shape)
    known = set(eps_ref.specs())
    rows = []
    for family, entries in FAMILIES.items():
        for fw_name, fw_kwargs, paper_name, match in entries:
            if fw_name not in known or paper_name not in known:
                continue
            kwargs = _framework_kwargs(fw_name, fw_kwargs)
            semantics = eps_ref.optimizer(fw_name, **kwargs).rule_kwargs
            paper_kwargs = match(dict(semantics))
            row = {"family": family, "framework": fw_name, "framework_kwargs": fw_kwargs,
                   "paper": paper_name, "paper_kwargs": paper_kwargs}
            try:
                a = reference_trajectory(fw_name, kwargs, param0, grads)
                b = reference_trajectory(paper_name, paper_kwargs, param0, grads)
            except Exception as exc:  # a spec that cannot run is reported, not fatal
                rows.append({**row, "error": f"{type(exc).__name__}: {exc}"})
                continue
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            per_step = diff.reshape(len(diff), -1).max(axis=1)
            differ = np.flatnonzero(per_step > 0)
            rows.append({**row, "abs_per_step": per_step,
                         "max_abs": float(np.nanmax(per_step)) if np.isfinite(per_step).any()
                         else float("nan"),
                         "final_abs": float(per_step[-1]),
                         "first_differing_step": int(differ[0]) if len(differ) else None,
                         "finite": bool(np.isfinite(b).all())})
    return rows


def _fmt(kwargs: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in kwargs.items()) or "defaults"


def _plot(family: str, rows: list[dict], path: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        y = np.where(r["abs_per_step"] > 0, r["abs_per_step"], np.nan)
        label = f"{r['framework']}{' (' + _fmt(r['framework_kwargs']) + ')' if r['framework_kwargs'] else ''} vs {r['paper']}"
        ax.semilogy(np.arange(len(y)), y, label=label, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("max |framework - paper| over params")
    ax.set_title(f"{family}: distance from the paper")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def paper_markdown(rows: list[dict], out_dir: str) -> str:
    """The report's "Distance from the paper" section (Markdown), with one PNG per family
    written under ``out_dir/plots`` and linked relative to ``out_dir``."""
    plots = os.path.join(out_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    lines = ["## Distance from the paper", "",
             "Each framework optimizer at its defaults against the published algorithm, "
             "with the paper's hyperparameters matched to the framework's (learning rate, "
             "betas, eps; a decoupled weight decay becomes the paper's lambda = lr * wd). "
             "Oracle trajectories on the conformance gradient stream; max abs difference of "
             "the parameters over all steps, at the last step, and the first step they "
             "differ.", ""]
    by_family: dict[str, list[dict]] = {}
    for r in rows:
        by_family.setdefault(r["family"], []).append(r)
    for family, fam_rows in by_family.items():
        lines += [f"### {family}", "",
                  "| framework | paper (matched) | max abs | last step abs | first differing step |",
                  "|---|---|---|---|---|"]
        for r in fam_rows:
            fw = f"`{r['framework']}`" + (f" ({_fmt(r['framework_kwargs'])})"
                                          if r["framework_kwargs"] else "")
            paper = f"`{r['paper']}` ({_fmt(r['paper_kwargs'])})"
            if "error" in r:
                lines.append(f"| {fw} | {paper} | error: {r['error']} | | |")
                continue
            first = "identical" if r["first_differing_step"] is None else r["first_differing_step"]
            lines.append(f"| {fw} | {paper} | {r['max_abs']:.3g} | {r['final_abs']:.3g} | "
                         f"{first} |")
        ok = [r for r in fam_rows if "error" not in r]
        if ok and _plot(family, ok, os.path.join(plots, f"paper_{family}.png")):
            lines += ["", f"![{family}: distance from the paper](plots/paper_{family}.png)"]
        lines.append("")
    return "\n".join(lines)

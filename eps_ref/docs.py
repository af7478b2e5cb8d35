"""Generate ``docs/semantics.md`` from the spec tables (``eps-ref semantics``)."""

from __future__ import annotations

import re
from pathlib import Path

import eps_ref
from eps_ref.spec import REQUIRED

__all__ = ["SEMANTICS_PATH", "semantics_markdown", "side_by_side_markdown", "family"]

SEMANTICS_PATH = str(Path(__file__).resolve().parents[1] / "docs" / "semantics.md")

FRAMEWORK_TITLES = {"torch": "PyTorch", "keras": "Keras 3", "tf1": "tf.compat.v1.train",
                    "optax": "optax", "flax": "Flax", "tf_keras": "tf-keras (Keras 2)",
                    "paper": "the papers"}


def _value(v) -> str:
    if v is REQUIRED:
        return "required"
    return repr(v)


# Paper rules compared in the same row as the framework family they define.
_FAMILY = {"adam_eps_hat": "adam", "adamw": "adam", "amsgrad": "adam", "sgdw": "sgd",
           "mcallester_adam": "adam", "mcallester_rmsprop": "rmsprop",
           "powersign": "sign", "addsign": "sign",
           "adafactor_optax": "adafactor", "adafactor_torch": "adafactor"}
"""Rules folded into another family's row: the papers' variants, and the Adafactor forms
that differ enough to be separate rules but answer the same question."""

SIDE_BY_SIDE = ("torch", "keras", "tf1", "tf_keras", "optax", "paper")
"""Dialects that are columns of the side-by-side table, in order."""


def family(spec_) -> str:
    """The family (a row of the side-by-side table, a section of the per-family tables) a
    spec belongs to: its rule, with the papers' and the Adafactor variants folded in."""
    name = spec_.rule.name.removeprefix("paper.")
    return _FAMILY.get(name, name)


_EPS = re.compile(r"(?<![a-z])(eps|epsilon)", re.IGNORECASE)


def _eps_keywords(spec_) -> str:
    return ", ".join(f"`{k}={_value(v)}`" for k, v in spec_.defaults.items()
                     if _EPS.search(k) and k not in spec_.inert)


def _clauses(text: str) -> list[str]:
    """``text`` split at the semicolons outside parentheses."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ";" and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [c.strip() for c in out if c.strip()]


def _where_eps_sits(spec_) -> str:
    """The clause of the spec's one-line doc that places eps (or says there is none)."""
    clauses = _clauses(spec_.doc)
    return next((c for c in clauses if _EPS.search(c)), clauses[0] if clauses else "")


def _cell(spec_) -> str:
    short = spec_.name.rsplit(".", 1)[-1]
    if spec_.name.startswith("tf_keras.optimizers.legacy."):
        short = "legacy." + short
    head = f"**{short}**"
    eps = _eps_keywords(spec_)
    if eps:
        head += " " + eps
    return head + ": " + _where_eps_sits(spec_).replace("|", "\\|")


def side_by_side_markdown() -> str:
    """One table: a row per rule family, a column per dialect, each cell the eps keywords
    with their defaults and the clause that says where eps sits."""
    rows: dict[str, dict[str, list]] = {}
    for name in eps_ref.specs(kind="optimizer"):
        s = eps_ref.spec(name)
        if s.framework in SIDE_BY_SIDE:
            rows.setdefault(family(s), {}).setdefault(s.framework, []).append(s)
    lines = ["## Where eps sits, side by side", "",
             "One row per rule family, one column per dialect: each cell names the optimizer, "
             "its epsilon keywords with their defaults, and the clause of its update that "
             "places them. The per-family tables below give every default and switch.", "",
             "| family | " + " | ".join(FRAMEWORK_TITLES[fw] for fw in SIDE_BY_SIDE) + " |",
             "|---|" + "---|" * len(SIDE_BY_SIDE)]
    for fam, by_fw in rows.items():
        cells = ["<br>".join(_cell(s) for s in by_fw.get(fw, [])) or "—"
                 for fw in SIDE_BY_SIDE]
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


OUT_OF_SCOPE = """\
## Not modelled, and why

- `torch.optim.LBFGS` is not an update of (params, gradient, state). Each `step(closure)`
  calls the user's loss closure up to `max_iter` times (20 by default), optionally runs a
  strong-Wolfe line search, and keeps `history_size` curvature pairs over all parameters
  flattened into one vector. Its trajectory is a function of the loss, not of a gradient
  sequence, so it cannot be stated as a rule over a gradient stream (the form every spec here
  has and the conformance suite drives), and `tolerance_grad=1e-07` and
  `tolerance_change=1e-09` are stopping tests, not an epsilon inside an update.
- `torch.optim.SparseAdam` takes only sparse gradients (a dense one raises) and updates only
  the rows present in each step's gradient: rows absent from a step keep their moments
  undecayed and their parameters unchanged. The Array API has no sparse arrays, so there is no
  input on which eps_ref could state or check it; on the rows it touches it is Adam with eps
  outside the bias-corrected root and no weight decay, as `torch.optim.Adam` at
  `weight_decay=0` (through different, sparse kernels).
- `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling: a step with non-finite
  gradients is skipped and the scale halved, the scale doubles after a run of finite steps)
  is control flow around another optimizer; the static `loss_scale_factor` every Keras
  optimizer takes is modelled. `keras.optimizers.MultiOptimizer` and `OptimizerMap` route
  variables to other optimizers and have no update of their own.
"""


SCHEDULE_COUNTING = {
    "torch": "the scheduler's constructor takes the first step (epoch 0) and "
             "`scheduler.step()` follows each `optimizer.step()`, so optimizer step t runs "
             "at the lr of epoch t-1; each step computes the next lr from the parameter "
             "group's current one (a chainable recursion, not the closed form), in Python "
             "floats (float64, `math.cos`); compositions share the group's lr",
    "optax": "the schedule is called with its transformation's int32 `count` before the "
             "increment, so optimizer step t runs at `schedule(t - 1)`; float32 `jnp` "
             "operations under JAX's promotion (Python numbers meet the array in float32, "
             "keyword arithmetic in Python first), `cos` glibc's `cosf`, `pow` glibc's "
             "`powf` with denormals flushed; under `jax.jit` (`compiled=True`) XLA turns "
             "a division by a constant into a multiplication by its float32 reciprocal "
             "and fuses multiply-adds",
    "paper": "the formula as published, in float64, the step counted from 1",
    "tf1": "a decay function reads `global_step`, which `apply_gradients` increments after "
           "the step (here: its value at the first step); TensorFlow ops in float32, "
           "glibc's `cosf`, `powf`, `logf` and `expf`; `noisy_linear_cosine_decay`'s noise "
           "is TensorFlow's `random.normal` (Philox4x32-10, Box-Muller with glibc's `logf` "
           "and `sinf`) on the op seeds eager TensorFlow draws after "
           "`tf.random.set_seed(global_seed)`, one call a step",
    "tf_keras": "as Keras 3 on TensorFlow: `iterations` before the increment, TensorFlow "
                "ops in float32",
    "keras": "the optimizer evaluates the schedule at its int64 `iterations` before the "
             "increment (step t at `schedule(t - 1)`), every keyword cast to a float32 "
             "tensor first, op by op on the backend's scalar kernels (`backend=`): `cos` "
             "glibc's `cosf` on TensorFlow and JAX, `log` glibc's `logf` on TensorFlow and "
             "XLA's own polynomial on JAX (torch's, MKL VML's `vmsCos` and `vmsLn`, are not modelled), "
             "`pow` glibc's `powf`; on JAX `ops.cond` compiles, fusing multiply-adds and "
             "turning `a / x**y` into `a * x**-y`",
}
"""How each dialect counts a schedule's steps and in which arithmetic."""


def schedules_markdown() -> list[str]:
    """The schedules section of ``docs/semantics.md``: step counting and dtype by
    dialect, then one row a schedule."""
    lines = ["## Learning-rate schedules", "",
             "`eps_ref.schedule(name, **keywords).learning_rates(n)`: the learning rate of "
             "each optimizer step 1..n as the framework computes it; "
             "`eps_ref.optimizer(name, lr=schedule)` follows it. torch and the papers' "
             "optimizers re-read every hyperparameter at each step, so `eps=schedule` (an "
             "ε schedule such as `paper.exponential_eps_decay`, whose `values(n)` are "
             "`{\"eps\": ...}`) schedules ε the way a torch loop sets `group[\"eps\"]`; "
             "optax's `inject_hyperparams(opt)(eps=schedule)` feeds an optax schedule to "
             "any hyperparameter, with every float hyperparameter held in float32, and "
             "`eps_ref.optimizer(\"optax.adam\", eps=schedule)` is that, eagerly (not "
             "under `jax.jit`, and not for adafactor, lamb, lars, novograd and fromage, "
             "whose float32 hyperparameter products are not modelled); Keras and TF1 take "
             "a schedule as the learning rate only. Step counting and arithmetic:", ""]
    names = eps_ref.specs(kind="schedule")
    for fw in dict.fromkeys(eps_ref.spec(n).framework for n in names):
        lines.append(f"- {FRAMEWORK_TITLES.get(fw, fw)}: {SCHEDULE_COUNTING[fw]}.")
    lines += ["", "| spec | defaults | what it does |", "|---|---|---|"]
    for name in names:
        s = eps_ref.spec(name)
        defaults = ", ".join(f"`{k}={_value(v)}`" for k, v in s.defaults.items()
                             if k not in s.inert)
        lines.append(f"| [`{s.name}`]({s.reference}) | {defaults} | "
                     f"{s.doc.replace('|', chr(92) + '|')} |")
    return lines


def semantics_markdown() -> str:
    by_family: dict[str, list] = {}
    for name in eps_ref.specs(kind="optimizer"):
        s = eps_ref.spec(name)
        by_family.setdefault(family(s), []).append(s)
    versions = {}
    for s in (eps_ref.spec(n) for n in eps_ref.specs()):
        versions[s.framework] = s.version
    lines = [
        "# Semantics: defaults and where epsilon sits",
        "",
        "Generated from the spec tables by `eps-ref semantics`; do not edit by hand "
        "(a test checks that this file is current).",
        "",
        "Tables read from: " + ", ".join(
            f"{FRAMEWORK_TITLES.get(fw, fw)} {v}" for fw, v in versions.items()) + ".",
        "",
        "Each row is one framework optimizer: its defaults exactly as the framework's "
        "signature has them, the update it performs (with where eps sits), and the rule "
        "switches it binds to at those defaults. Keywords that select kernels but not the "
        "math are left out of the defaults column.",
        "",
        side_by_side_markdown(),
    ]
    for fam, members in by_family.items():
        lines += ["", f"## {fam}", "",
                  "| spec | defaults | update, and where eps sits | switches at defaults |",
                  "|---|---|---|---|"]
        for s in members:
            defaults = ", ".join(f"`{k}={_value(v)}`" for k, v in s.defaults.items()
                                 if k not in s.inert)
            switches = ", ".join(f"`{k}={v!r}`" for k, v in s.semantics.items()
                                 if isinstance(v, str))
            doc = s.doc.replace("|", "\\|")
            lines.append(f"| [`{s.name}`]({s.reference}) | {defaults} | {doc} | {switches} |")
        budgets = [(s.name, k, b) for s in members for k, b in s.budgets.items()]
        if budgets:
            lines += ["", "Declared conformance budgets (everything else is bit-exact):", ""]
            lines += [f"- `{n}` on {k}: {b.ulp} ULP per step: {b.reason}"
                      for n, k, b in budgets]
    lines += ["", "## Gradient clipping", "",
              "Composable in front of any optimizer (`eps_ref.chain(eps_ref.clip(name, ...), "
              "optimizer)`); Keras' `clipnorm`, `clipvalue` and `global_clipnorm` are keywords "
              "of every Keras 3 and tf_keras optimizer (tf_keras clips with TensorFlow's "
              "`clip_by_norm` and `clip_by_global_norm`, whose norm comes from `l2_loss`).",
              "",
              "| spec | defaults | what it does, and its epsilon |", "|---|---|---|"]
    for name in eps_ref.specs(kind="clip"):
        s = eps_ref.spec(name)
        defaults = ", ".join(f"`{k}={_value(v)}`" for k, v in s.defaults.items()
                             if k not in s.inert)
        lines.append(f"| [`{s.name}`]({s.reference}) | {defaults} | "
                     f"{s.doc.replace('|', chr(92) + '|')} |")
    lines += ["", *schedules_markdown()]
    from eps_ref.norms_docs import norms_markdown
    return ("\n".join(lines) + "\n\n" + OUT_OF_SCOPE + "\n"
            + norms_markdown().rstrip("\n") + "\n")

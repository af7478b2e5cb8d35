"""Generate ``docs/porting.md`` from the plans (``eps-ref porting``).

One table per family: each source (the first spec of the family in each dialect, at its
first variant's keywords, and every ``paper.*`` spec) against each target that ships the
family, with the equivalent native configuration or the nearest one, its distance from the
source, and whether a drop-in exists.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["PORTING_PATH", "porting_markdown", "representative_pairs", "plans",
           "SLOW_FAMILIES"]

SLOW_FAMILIES = ("muon",)
"""Families whose references are slow enough (Muon's Newton-Schulz products, emulated in
each framework's summation order) that the default test run leaves their plans to
``EPS_REF_FULL=1``; the docs always include them."""

PORTING_PATH = str(Path(__file__).resolve().parents[1] / "docs" / "porting.md")


def _port_module():
    import importlib
    return importlib.import_module("eps_ref.port")


def representative_pairs(skip: tuple = ()) -> list[tuple[str, dict, str]]:
    """:func:`eps_ref.port.pairs` with one source per (family, dialect): the dialect's first
    spec of the family; every ``paper.*`` spec is its own source. ``skip``: families left
    out."""
    import eps_ref
    P = _port_module()
    seen, out = set(), []
    for name, kwargs, to in P.pairs():
        s = eps_ref.spec(name)
        if P.port_family(s) in skip:
            continue
        key = (P.port_family(s), s.framework, to) if s.framework != "paper" else (name, to)
        if key not in seen:
            seen.add(key)
            out.append((name, kwargs, to))
    return out


@functools.lru_cache(maxsize=None)
def plans(skip: tuple = ()) -> tuple:
    """The plans of :func:`representative_pairs` (computed once per process; no gap
    figures: those are in each ``str(plan)``)."""
    import warnings
    import eps_ref
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(eps_ref.port(name, to=to, gap_steps=0, **kwargs)
                     for name, kwargs, to in representative_pairs(skip))


def _call(name: str, kwargs) -> str:
    from eps_ref.spec import REQUIRED
    args = ", ".join(f"{k}={'...' if v is REQUIRED else repr(v)}" for k, v in kwargs.items())
    return f"`{name}({args})`"


def porting_markdown(skip: tuple = ()) -> str:
    """The whole page; with ``skip``, without those families' sections."""
    import eps_ref
    from eps_ref.backends.dropins import DROPIN_TARGETS
    P = _port_module()
    by_family: dict[str, list] = {}
    for plan in plans(skip):
        by_family.setdefault(plan.family, []).append(plan)
    lines = [
        "# Porting between frameworks",
        "",
        "Generated from the plans by `eps-ref porting`; do not edit by hand (a test checks "
        "that this file is current).",
        "",
        "For each family, each source configuration (the first spec of the family in each "
        "dialect at its first conformance variant, and every `paper.*` algorithm) ported "
        "to each dialect that ships the family: `eps_ref.port(source, to=target)`. "
        "**Equivalent** means the same math: the two references, run on "
        f"{P.VERIFY_STEPS} steps of the conformance stream (layers: the conformance batch "
        "stream plus two eps-dominated batches), never differ by more than "
        f"{P.SAME_MATH_ULP} units (ULPs of each element's scale; for layers the suite's "
        "scale-aware units), which rounding alone stays far below while any change of "
        "formula or constant goes far above. Otherwise the row gives the **nearest** "
        f"native configuration (for an optimizer, the one whose steps stay closest to the "
        f"source's over {P.LATER_STEPS} steps) and its distance over the "
        f"{P.VERIFY_STEPS}. `eps-ref port SOURCE --to TARGET` prints "
        "the whole plan: the switches that differ, in words and formula, the 1000-step gap "
        "on the standard and an eps-dominated stream, and the drop-in.",
        "",
        f"Drop-ins (`plan.dropin(params)`) exist for optimizers ported to "
        f"{', '.join(DROPIN_TARGETS)}: a native optimizer of the target that runs the "
        "source's reference on the host, bit for bit.",
    ]
    for family, members in by_family.items():
        lines += ["", f"## {family}", "",
                  "| source | to | equivalent (units) | nearest when none (units) | drop-in |",
                  "|---|---|---|---|---|"]
        for plan in members:
            eq = "<br>".join(f"{_call(c.name, c.kwargs)} ({c.scale_ulp:.3g})"
                             for c in plan.candidates if c.equivalent) or "none"
            near = ("—" if plan.nearest.equivalent else
                    f"{_call(plan.nearest.name, plan.nearest.kwargs)} "
                    f"({plan.nearest.scale_ulp:.3g})")
            dropin = ("yes" if plan.to in DROPIN_TARGETS
                      and eps_ref.spec(plan.source).kind == "optimizer" else "—")
            lines.append(f"| {_call(plan.source, plan.source_kwargs)} | {plan.to} | {eq} "
                         f"| {near} | {dropin} |")
    return "\n".join(lines + schedules_markdown() + state_markdown()) + "\n"


def schedule_plans() -> list:
    """The plan of every variant of every schedule that ports, to each target it ports to."""
    import eps_ref
    from eps_ref.port_schedules import TRANSLATIONS
    out = []
    for name, translate in TRANSLATIONS.items():
        for kwargs in eps_ref.spec(name).variants.values():
            for to in translate(dict(eps_ref.schedule(name, **kwargs).hyperparams)):
                out.append(eps_ref.port(name, to=to, **kwargs))
    return out


def schedules_markdown() -> list[str]:
    """The schedules section: each variant's closest target schedule and its distance."""
    from eps_ref.port_schedules import GAP_STEPS, SAME_SCHEDULE
    lines = ["", "## Learning-rate schedules", "",
             "`eps_ref.port(schedule, to=target)` translates a schedule's keywords into the "
             "target's schedule of the same nominal shape, reading the step counting both "
             "ways where it may differ by one, and measures each candidate against the "
             f"source over {GAP_STEPS} steps (or the schedule's length): each step's "
             "difference over the source's largest learning rate. **Same** means every step "
             f"agrees to {SAME_SCHEDULE:.3g} of the peak (float32 arithmetic on "
             "float32-rounded keywords stays below; a schedule shifted by one step of T "
             "moves by about 1/T); otherwise the first step that differs, how many do, and "
             "the largest difference.", "",
             "| source | to | closest target schedule | same? | first differing step "
             "(source vs target lr) | steps differing | largest difference (of the peak) |",
             "|---|---|---|---|---|---|---|"]
    for plan in schedule_plans():
        c = plan.nearest
        first = "—" if c.equivalent else (
            f"{c.first_differing_step} ({c.examples[0][1]:.6g} vs {c.examples[0][2]:.6g})")
        lines.append(f"| {_call(plan.source, plan.source_kwargs)} | {plan.to} | "
                     f"{_call(c.name, c.kwargs)} | {'same' if c.equivalent else 'nearest'} | "
                     f"{first} | {c.differing_steps} of {c.steps} | {c.max_diff:.3g} |")
    return lines


def state_markdown() -> list[str]:
    """The checkpoint section: every spec of the convertible families, each slot with the
    quantity it holds and where the native state keeps it."""
    import eps_ref
    from eps_ref.backends import keras as keras_backend
    from eps_ref.backends import optax as optax_backend
    from eps_ref.backends import tf1 as tf1_backend
    from eps_ref.backends import tf_keras as tf_keras_backend
    from eps_ref.backends import torch as torch_backend
    from eps_ref.port import NATIVE_STATE, port_family
    from eps_ref.state import CONVERTIBLE_FAMILIES, DERIVED, ROLES, SPEC_ROLES
    lines = ["", "## Continuing a checkpoint in another framework", "",
             "`eps_ref.port(source, to=target, ...).convert_state(native_state, params)` "
             "reads the source framework's live optimizer state (native: "
             f"{', '.join(NATIVE_STATE)}: a torch `state_dict()`, an optax state pytree, "
             "the store Keras' and tf_keras' `optimizer.save_own_variables(store)` fills, "
             "the optimizer built on the parameters in order; a legacy tf_keras "
             "optimizer's `get_weights()`; TF1's variables by the names a TF1 `Saver` "
             "checkpoint holds, `w/Adam`, `beta1_power`, the parameters named as the "
             "tree's keys), carries it to the plan's nearest target "
             "configuration and returns it as the target keeps it (`load_state_dict` it, "
             "hand it to `tx.update`, or `optimizer.build(variables)` then "
             "`optimizer.load_own_variables(store)`); "
             "`eps_ref.convert_state(state, source=..., target=..., params=...)` does the "
             "same on reference states of every dialect. A slot carries over to the target "
             "slot that holds the same quantity (below); the step count carries as is; "
             "what a target derives from the count is recomputed as the target computes it "
             "(TF1 Adam's beta powers: float32 running products). A target slot whose "
             "quantity the source does not keep, or a source slot the target would drop, is "
             "refused with both named. The conversion is exact: k steps in the source, "
             "converted, n in the target equal the references doing the same, bit for bit "
             "(the state carry-over section of `eps-ref conformance`, on the real torch, "
             "optax, TF1, tf_keras and Keras on each backend). On files: `eps-ref state convert IN --from SPEC --to TARGET OUT "
             "--params PARAMS.npz [key=value ...]` (torch: `torch.save(opt.state_dict())`, "
             "read with `weights_only=True`; optax: an `.npz` of the state's leaves in tree "
             "order; Keras and tf_keras: an `.npz` of the `save_own_variables` store, or of "
             "the legacy `get_weights()` list; TF1: a `Saver` checkpoint prefix, or an "
             "`.npz` by variable name). TF1 counts no steps: `--step` gives the number of "
             "`apply_gradients` calls (AdamOptimizer's is recovered from its beta powers, "
             "and checked against them when given).",
             "",
             "| spec | slot: what it holds | native |", "|---|---|---|"]
    for name in eps_ref.specs(kind="optimizer"):
        spec = eps_ref.spec(name)
        family = port_family(spec)
        if family not in CONVERTIBLE_FAMILIES or spec.framework == "paper":
            continue
        roles = {**ROLES[family], **SPEC_ROLES.get(name, {})}
        derived = DERIVED.get(name, {})
        slots = _slot_names(name)
        described = [f"`{k}`: " + (f"recomputed from the count ({derived[k]}^(step+1))"
                                   if k in derived else roles.get(k, "?")) for k in slots]
        native = "reference state only"
        if spec.framework == "torch" and name in torch_backend.STATE_KEYS:
            keys = torch_backend.STATE_KEYS[name]
            native = "<br>".join(f"`{k}`: `{keys[k]}`" for k in slots if k in keys)
            native += "<br>`step`" if name != "torch.optim.SGD" else "<br>(no step count)"
        elif name in keras_backend.STATE_ATTRS or name in tf_keras_backend._state_attrs():
            attrs = {**keras_backend.STATE_ATTRS, **tf_keras_backend._state_attrs()}[name]
            native = "<br>".join(f"`{k}`: `optimizer.{attrs[k]}`" for k in slots if k in attrs)
            native += "<br>`iterations`"
        elif name in tf_keras_backend.LEGACY_SLOTS:
            slot_of = tf_keras_backend.LEGACY_SLOTS[name]
            native = "<br>".join(f"`{k}`: `get_slot(var, {slot_of[k]!r})`" for k in slots
                                 if k in slot_of) + "<br>`iterations` (`get_weights()`)"
        elif name in tf1_backend.STATE_SLOTS:
            slot_of = tf1_backend.STATE_SLOTS[name]
            native = "<br>".join(
                [f"`{k}`: `get_slot(var, {slot_of[k]!r})`" for k in slots if k in slot_of]
                + [f"`{k}`: `{k}` (non-slot)" for k in slots if k in derived]
                + ["(no step count)"])
        elif spec.framework == "optax":
            amsgrad = name == "optax.amsgrad"
            found = [f"`{k}`: " + " or ".join(
                f"`{kind}.{field}`" for (kind, field), slot in
                optax_backend.STATE_FIELDS[family].items()
                if slot == k and ("Amsgrad" in kind) == amsgrad) for k in slots]
            native = "<br>".join(found) + ("<br>`count`" if family == "adam" else
                                           "<br>(no count)")
        lines.append(f"| `{name}` | {'<br>'.join(described) or 'no slots'} | {native} |")
    from eps_ref.state import LAYER_STATE
    lines += ["", "A BatchNorm plan (`eps_ref.port('torch.nn.BatchNorm2d', to='keras', "
              "num_features=C)`) converts the layer's state: `plan.convert_state(native)` "
              "reads a torch module's `state_dict()` (`weight`, `bias`, `running_mean`, "
              "`running_var`, `num_batches_tracked`), the store Keras' "
              "`layer.save_own_variables` fills (`gamma`, `beta`, `moving_mean`, "
              "`moving_variance`) or Flax's `{'params': {'scale', 'bias'}, 'batch_stats': "
              "{'mean', 'var'}}`, and writes the target's. Every entry is carried as stored, "
              "so the target infers what the source infers; torch's running variance, fed "
              "n/(n-1) sigma^2, is not rescaled (that would change the inference output; "
              "the next training update differs, as the plan's differences say). Keras and "
              "Flax count no batches: `step=` gives torch's `num_batches_tracked`, required "
              "for a torch target with `momentum=None`. Refused: a learned scale or shift "
              "the target does not keep, running statistics the source does not track, "
              "renormalization state. The suite's state carry-over section "
              "(`eps_ref/conformance/carryover.py`) proves each pair on the real "
              "frameworks.", "", "| entry | what it holds |", "|---|---|",
              *(f"| `{k}` | {v} |" for k, v in LAYER_STATE.items())]
    return lines


def _slot_names(name: str) -> list[str]:
    """Every slot the spec keeps in some configuration (its variants and momentum, centered,
    amsgrad switched on)."""
    import numpy as np

    import eps_ref
    spec = eps_ref.spec(name)
    names: dict[str, None] = {}
    tries = [dict(v) for v in spec.variants.values()]
    for switch in ({"momentum": 0.9}, {"centered": True, "momentum": 0.9}, {"amsgrad": True}):
        if all(k in spec.defaults for k in switch):
            tries.append({**next(iter(spec.variants.values()), {}), **switch})
    for kw in tries:
        try:
            names.update(dict.fromkeys(eps_ref.optimizer(name, **kw).init(
                np.zeros(2, np.float32))["slots"][0]))
        except Exception:
            continue
    return list(names)

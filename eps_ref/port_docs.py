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
        "native configuration and its distance. `eps-ref port SOURCE --to TARGET` prints "
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
    return "\n".join(lines) + "\n"

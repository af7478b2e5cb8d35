"""Generate ``docs/semantics.md`` from the spec tables (``eps-ref semantics``)."""

from __future__ import annotations

from pathlib import Path

import eps_ref
from eps_ref.spec import REQUIRED

__all__ = ["SEMANTICS_PATH", "semantics_markdown"]

SEMANTICS_PATH = str(Path(__file__).resolve().parents[1] / "docs" / "semantics.md")

FRAMEWORK_TITLES = {"torch": "PyTorch", "keras": "Keras 3", "tf1": "tf.compat.v1.train",
                    "optax": "optax", "flax": "Flax", "tf_keras": "tf-keras (Keras 2)",
                    "paper": "the papers"}


def _value(v) -> str:
    if v is REQUIRED:
        return "required"
    return repr(v)


def semantics_markdown() -> str:
    by_rule: dict[str, list] = {}
    for name in eps_ref.specs(kind="optimizer"):
        s = eps_ref.spec(name)
        by_rule.setdefault(s.rule.name, []).append(s)
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
    ]
    for rule, members in by_rule.items():
        lines += ["", f"## {rule}", "",
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
    from eps_ref.norms_docs import norms_markdown
    return "\n".join(lines) + "\n\n" + norms_markdown().rstrip("\n") + "\n"

"""The eps_ref pytest plugin (registered through the ``pytest11`` entry point, so installing
eps-ref loads it; ``-p no:eps_ref`` turns it off). See ``docs/testing.md``.

Fixtures:
    ``eps_ref_stream``      the conformance stream (:func:`eps_ref.testing.conformance_stream`
                            at its defaults: 100 steps on the 4x16 tensor, every regime)
    ``eps_ref_tree_stream`` the same on a parameter tree (:data:`eps_ref.testing.TREE_SHAPES`)
    ``eps_ref_streams``     the function itself, for other steps, shapes, seeds and kinds
    ``eps_ref_case``        one spec (and variant) per test, from ``@pytest.mark.eps_ref``

Marker:
    ``@pytest.mark.eps_ref(*names, family=None, framework=None, variants="defaults")``
    runs the test once per selected spec, each variant a case (``variants="all"``, or a
    list of variant names), through the ``eps_ref_case`` fixture (:class:`Case`).

Option:
    ``--eps-ref-report DIR`` writes every :func:`eps_ref.testing.compare` result of the run
    to ``DIR/report.md`` and ``DIR/report.json`` (and ``DIR/ulp_per_step.png`` where
    matplotlib is installed).

A failing :func:`eps_ref.testing.assert_conforms` shows the per-step, per-regime report as
its message. Nothing here imports a framework, or eps_ref itself, until a test asks for it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import pytest

MARKER = ("eps_ref(*names, family=None, framework=None, variants='defaults'): run the test "
          "once per selected optimizer spec (and variant), given as the eps_ref_case fixture")


def pytest_addoption(parser):
    group = parser.getgroup("eps_ref", "eps_ref: check optimizers against framework specs")
    group.addoption("--eps-ref-report", metavar="DIR", default=None,
                    help="write the eps_ref.testing.compare() results of this run to "
                         "DIR/report.md, DIR/report.json (and DIR/ulp_per_step.png)")


def pytest_configure(config):
    config.addinivalue_line("markers", MARKER)
    directory = config.getoption("eps_ref_report", None)
    if directory:
        config.pluginmanager.register(Recorder(directory), "eps_ref_recorder")


# -- cases from the marker -----------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One spec and one of its variants: ``name`` (qualified), ``variant`` (its label in
    the spec table), ``kwargs`` (the variant's keywords, the framework's spelling) and
    ``hyperparams`` (every keyword, defaults filled in)."""

    name: str
    variant: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.name if self.variant == "defaults" else f"{self.name}[{self.variant}]"

    @property
    def spec(self):
        import eps_ref
        return eps_ref.spec(self.name)

    @property
    def hyperparams(self) -> dict:
        return dict(self.reference().hyperparams)

    def reference(self):
        """The reference optimizer of this case (:func:`eps_ref.optimizer`)."""
        import eps_ref
        return eps_ref.optimizer(self.name, **self.kwargs)


def cases(*names, family=None, framework=None, variants="defaults") -> list[Case]:
    """The cases a marker selects: the optimizer specs ``names`` (all, without names),
    narrowed to ``family`` (:func:`eps_ref.explain.families`) and ``framework``, each with
    its ``"defaults"`` variant, every variant (``"all"``) or those named."""
    import difflib

    import eps_ref
    from eps_ref.explain import families
    chosen = list(names) or eps_ref.specs(framework=framework, kind="optimizer")
    for name in chosen:
        s = eps_ref.spec(name)          # unknown: KeyError with the nearest name
        if s.kind != "optimizer":
            raise TypeError(f"@pytest.mark.eps_ref: {name} is a {s.kind}, not an optimizer")
    if framework is not None:
        eps_ref.specs(framework=framework)   # unknown: ValueError with the known ones
        chosen = [n for n in chosen if eps_ref.spec(n).framework == framework]
    if family is not None:
        members = families()
        if family not in members:
            close = difflib.get_close_matches(str(family), members, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"@pytest.mark.eps_ref: unknown family {family!r}{hint}; "
                             f"families: {sorted(members)}")
        chosen = [n for n in chosen if n in members[family]]
    out = []
    for name in chosen:
        table = dict(eps_ref.spec(name).variants) or {"defaults": {}}
        if variants == "defaults":
            labels = [next(iter(table))]
        elif variants == "all":
            labels = list(table)
        else:
            labels = [variants] if isinstance(variants, str) else list(variants)
            unknown = [v for v in labels if v not in table]
            if unknown:
                raise ValueError(f"@pytest.mark.eps_ref: {name} has no variant "
                                 f"{unknown[0]!r}; it has {list(table)}")
        out += [Case(name, label, dict(table[label])) for label in labels]
    if not out:
        raise ValueError("@pytest.mark.eps_ref selects no optimizer spec "
                         f"(names={list(names)}, family={family!r}, framework={framework!r})")
    return out


def pytest_generate_tests(metafunc):
    if "eps_ref_case" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("eps_ref")
    if marker is None:
        return   # the fixture says what is missing
    selected = cases(*marker.args, **marker.kwargs)
    metafunc.parametrize("eps_ref_case", selected, ids=[c.id for c in selected])


@pytest.fixture
def eps_ref_case():
    """Parametrized by ``@pytest.mark.eps_ref(...)``; without the marker, a failure."""
    pytest.fail("the eps_ref_case fixture needs the test to be marked "
                "@pytest.mark.eps_ref(names..., family=..., framework=..., variants=...)",
                pytrace=False)


# -- streams -------------------------------------------------------------------------------

@pytest.fixture
def eps_ref_streams():
    """:func:`eps_ref.testing.conformance_stream`: ``eps_ref_streams(steps=100,
    shape=(4, 16), seed=0, kind="standard")``."""
    from eps_ref.testing import conformance_stream
    return conformance_stream


@pytest.fixture
def eps_ref_stream():
    """The conformance stream: 100 steps on the 4x16 tensor, every regime
    (``.params0``, ``.grads``, ``.regimes``)."""
    from eps_ref.testing import conformance_stream
    return conformance_stream()


@pytest.fixture
def eps_ref_tree_stream():
    """The conformance stream on a parameter tree (:data:`eps_ref.testing.TREE_SHAPES`:
    ``{"kernel": (4, 16), "bias": (64,)}``), ``params0`` and ``grads`` dicts."""
    from eps_ref.testing import TREE_SHAPES, conformance_stream
    return conformance_stream(shape=TREE_SHAPES)


# -- the report ----------------------------------------------------------------------------

class Recorder:
    """Collects every :func:`eps_ref.testing.compare` result of the run, with the test
    that made it, and writes the report at the end."""

    def __init__(self, directory: str):
        self.directory = directory
        self.current: str | None = None
        self.results: list[tuple[str, Any]] = []

    def observe(self, result) -> None:
        self.results.append((self.current or "(outside a test)", result))

    def pytest_sessionstart(self, session):
        from eps_ref import testing
        testing._OBSERVERS.append(self.observe)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = item.nodeid
        try:
            return (yield)
        finally:
            self.current = None

    def pytest_sessionfinish(self, session, exitstatus):
        from eps_ref import testing
        if self.observe in testing._OBSERVERS:
            testing._OBSERVERS.remove(self.observe)
        self.written = write_report(self.results, self.directory)

    def pytest_terminal_summary(self, terminalreporter):
        failed = sum(not r.passed for _, r in self.results)
        terminalreporter.write_line(
            f"eps_ref: {len(self.results)} comparisons, {failed} over budget; report: "
            f"{os.path.join(self.directory, 'report.md')}")


def write_report(results, directory: str) -> list[str]:
    """``report.md`` (a summary table, then each result's report), ``report.json`` (each
    result's :meth:`~eps_ref.testing.CompareResult.to_json`, with its test) and, where
    matplotlib is installed, ``ulp_per_step.png``. Returns the paths written."""
    os.makedirs(directory, exist_ok=True)
    md = ["# eps_ref conformance of this test run", "",
          f"{len(results)} comparisons; {sum(not r.passed for _, r in results)} over budget.",
          "", "| test | reference | candidate | verdict | max ULP | first divergent step | "
              "where |", "|---|---|---|---|---|---|---|"]
    for test, r in results:
        where = r.where
        cell = "" if where is None else (f"step {where.step}, {where.stream}, "
                                          f"{where.regime or 'element ' + str(list(where.index))}")
        verdict = "exact" if r.max_ulp == 0 else ("within budget" if r.passed else "DIFFERS")
        md.append(f"| `{test}` | `{r.call()}` | {r.candidate} | {verdict} | "
                  f"{_ulp(r.max_ulp)} | {r.first_divergent_step or '-'} | {cell} |")
    for test, r in results:
        md += ["", f"## `{test}`", "", "```", str(r).rstrip(), "```"]
    paths = [os.path.join(directory, "report.md"), os.path.join(directory, "report.json")]
    with open(paths[0], "w") as f:
        f.write("\n".join(md) + "\n")
    with open(paths[1], "w") as f:
        json.dump([{"test": test, **r.to_json()} for test, r in results], f, indent=1)
    png = _plot(results, os.path.join(directory, "ulp_per_step.png"))
    return paths + ([png] if png else [])


def _ulp(u) -> str:
    import numpy as np
    return "NaN" if u == np.iinfo(np.int64).max else str(u)


def _plot(results, path: str) -> str | None:
    """Max ULP per step of each result's streams, one line each (log scale)."""
    if not results:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return None
    import numpy as np
    fig, ax = plt.subplots(figsize=(9, 4.5))
    shown = 0
    for test, r in results:
        for s in r.streams:
            if shown >= 20:
                break
            short = re.sub(r"^.*::", "", test)
            ax.plot(np.arange(s.steps + 1), np.minimum(s.ulp_per_step, 2**40) + 1,
                    label=f"{short} ({s.stream})"[:60])
            shown += 1
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("max ULP + 1")
    ax.set_title("eps_ref: candidate against reference, per step")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

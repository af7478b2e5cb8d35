"""``pytest conformance``: the optimizer cases on the real workload and the size sweep.

Each case of :func:`~eps_ref.conformance.workload.workload_cases` runs on the recorded
training run's 26-tensor parameter list and on the size-sweep list, against its real
framework; it must be bit-exact on every leaf at every step, or stay within its declared
workload budget (:data:`~eps_ref.conformance.cases.WORKLOAD_BUDGETS`), or be a case declared
shape-dependent (:data:`~eps_ref.conformance.cases.SHAPE_DEPENDENT`). A divergence declared
open (:data:`~eps_ref.conformance.cases.WORKLOAD_OPEN`: diagnosed, not yet reproduced nor
budgeted) is an xfail that carries its measurement. On a host outside
:data:`~eps_ref.conformance.host.CERTIFIED_ISA` a divergent case is skipped with its
measurement (*not certified here*). Steps: ``EPS_REF_WORKLOAD_STEPS``, else 4 (CI's tier:
one accumulated apply and one EMA overwrite) or 20 under ``EPS_REF_FULL=1`` (:mod:`eps_ref.conformance.tier`).
"""

import os

import pytest

from eps_ref.backends import COMPILED_LABELS
from eps_ref.conformance.runner import compare
from eps_ref.conformance.tier import full_or_ci
from eps_ref.conformance.workload import (WORKLOAD_STEPS, WorkloadUnavailable, record,
                                          run_workload_cases, size_sweep, workload_cases)

STEPS = int(os.environ.get("EPS_REF_WORKLOAD_STEPS", full_or_ci(WORKLOAD_STEPS, 4)))
CASES = workload_cases()


def _measured(request, tree, results):
    """The results by case id, kept for the session's summary (conformance/conftest.py)."""
    if not hasattr(request.config, "eps_ref_trees"):
        request.config.eps_ref_trees = {}
    request.config.eps_ref_trees[f"{tree}, {STEPS} steps"] = results
    return {r.case.id: r for r in results}


@pytest.fixture(scope="session")
def workload_suite(request):
    try:
        inputs = record(STEPS)
    except WorkloadUnavailable as e:
        return str(e)
    results, _ = run_workload_cases(CASES, inputs, progress=None)
    return _measured(request, "real workload", results)


@pytest.fixture(scope="session")
def sweep_suite(request):
    results, _ = run_workload_cases(CASES, size_sweep(STEPS), progress=None)
    return _measured(request, "size sweep", results)


def _check(results, case, where):
    if isinstance(results, str):
        pytest.skip(results)
    result = results[case.id]
    if result.status in ("skipped", "not certified here"):
        pytest.skip(f"{result.status}: {result.message}")
    if result.status == "open":
        pytest.xfail(f"open: {result.message}")
    assert result.status in ("exact", "within budget", "shape-dependent"), \
        f"{case.id} on the {where}: {result.status}: {result.message}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_on_the_workload(workload_suite, case):
    _check(workload_suite, case, "real workload")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_on_the_size_sweep(sweep_suite, case):
    _check(sweep_suite, case, "size sweep")


BUDGETED = [c for c in CASES if c.workload_budget is not None]


@pytest.mark.skipif(STEPS < WORKLOAD_STEPS, reason=f"the workload budgets are measured over "
                    f"{WORKLOAD_STEPS} steps; this run takes {STEPS} (EPS_REF_FULL=1)")
@pytest.mark.parametrize("case", BUDGETED, ids=[c.id for c in BUDGETED])
def test_workload_budget_is_not_stale(workload_suite, sweep_suite, case):
    """A workload budget bounds the case on both trees; it is stale once neither diverges."""
    measured = [results[case.id] for results in (workload_suite, sweep_suite)
                if not isinstance(results, str)]
    if not measured or any(r.status in ("skipped", "not certified here") for r in measured):
        pytest.skip("not measured on both trees here")
    assert any(r.comparison.max_ulp > 0 for r in measured), \
        f"{case.id}: bit-exact on both trees: remove its WORKLOAD_BUDGETS entry"


@pytest.mark.parametrize("label", list(COMPILED_LABELS))
def test_a_compiled_label_runs_compiled(workload_suite, sweep_suite, label):
    """A compiled label that gave its eager label's bits on every case of both trees would
    be running eagerly (or the compilers rewrote nothing: then its budgets are stale)."""
    eager = COMPILED_LABELS[label]
    pairs = [(r, results[r.case.id.replace(f"@{label}", f"@{eager}")])
             for results in (workload_suite, sweep_suite) if not isinstance(results, str)
             for r in results.values() if r.case.label == label]
    measured = [(a, b) for a, b in pairs if a.trajectory is not None and b.trajectory is not None]
    if not measured:
        pytest.skip(f"{label} did not run here")
    assert any(compare(a.trajectory, b.trajectory).max_ulp > 0 for a, b in measured), \
        f"{label} gave the bits of {eager} on every case"

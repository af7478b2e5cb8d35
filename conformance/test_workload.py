"""``pytest conformance``: the optimizer cases on the real workload and the size sweep.

Each case of :func:`~eps_ref.conformance.workload.workload_cases` runs on the recorded
training run's 26-tensor parameter list and on the size-sweep list, against its real
framework; it must be bit-exact on every leaf at every step, or stay within its declared
workload budget (:data:`~eps_ref.conformance.cases.WORKLOAD_BUDGETS`), or be a case declared
shape-dependent (:data:`~eps_ref.conformance.cases.SHAPE_DEPENDENT`). A divergence declared
open (:data:`~eps_ref.conformance.cases.WORKLOAD_OPEN`: diagnosed, not yet reproduced nor
budgeted) is an xfail that carries its measurement. On a host outside
:data:`~eps_ref.conformance.host.CERTIFIED_ISA` a divergent case is skipped with its
measurement (*not certified here*). Steps: ``EPS_REF_WORKLOAD_STEPS``, else 6 (CI's tier)
or 20 under ``EPS_REF_FULL=1`` (:mod:`eps_ref.conformance.tier`).
"""

import os

import pytest

from eps_ref.conformance.tier import full_or_ci
from eps_ref.conformance.workload import (WORKLOAD_STEPS, WorkloadUnavailable, record,
                                          run_workload_cases, size_sweep, workload_cases)

STEPS = int(os.environ.get("EPS_REF_WORKLOAD_STEPS", full_or_ci(WORKLOAD_STEPS, 6)))
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

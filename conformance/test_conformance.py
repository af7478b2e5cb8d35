"""``pytest conformance``: every case of the registry against its real framework.

The whole suite runs once per session (each backend in its own worker process); each test
then asserts its case: 0 ULP at every step, or within the spec's declared budget. A backend
that cannot be imported skips its cases with the reason.

Every case runs again on a parameter of :data:`ODD_SHAPE` (fewer steps: the kernels that
depend on the shape diverge within the first steps): there it must be exact too, or be
declared in :data:`SHAPE_DEPENDENT` with the reason, and still diverge.
"""

import os

import pytest

from eps_ref.conformance.cases import ODD_SHAPE, cases
from eps_ref.conformance.runner import run_cases
from eps_ref.conformance.tier import full_or_ci

pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

# CI's tier runs 100 steps a case (25 at the odd shape); EPS_REF_FULL=1 1000 (100), as
# eps-ref conformance does.
STEPS = int(os.environ.get("EPS_REF_CONFORMANCE_STEPS", full_or_ci(1000, 100)))
ODD_SHAPE_STEPS = int(os.environ.get("EPS_REF_CONFORMANCE_ODD_SHAPE_STEPS",
                                     full_or_ci(100, 25)))
CASES = cases()


@pytest.fixture(scope="session")
def suite():
    results, versions, _ = run_cases(CASES, steps=STEPS, progress=None)
    return {r.case.id: r for r in results}, versions


@pytest.fixture(scope="session")
def odd_shape_suite():
    results, _, _ = run_cases(CASES, steps=ODD_SHAPE_STEPS, progress=None, shape=ODD_SHAPE)
    return {r.case.id: r for r in results}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(suite, case):
    result = suite[0][case.id]
    if result.status == "skipped":
        pytest.skip(result.message)
    assert result.passed, f"{case.id}: {result.status}: {result.message}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_at_odd_shape(odd_shape_suite, case):
    result = odd_shape_suite[case.id]
    if result.status == "skipped":
        pytest.skip(result.message)
    expected = ("shape-dependent",) if case.shape_dependence else ("exact", "within budget")
    assert result.status in expected, f"{case.id} at {ODD_SHAPE}: {result.status}: " \
                                      f"{result.message}"

"""``pytest conformance``: every case of the registry against its real framework.

The whole suite runs once per session (each backend in its own worker process); each test
then asserts its case: 0 ULP at every step, or within the spec's declared budget. A backend
that cannot be imported skips its cases with the reason.
"""

import os

import pytest

from eps_ref.conformance.cases import cases
from eps_ref.conformance.runner import run_cases

STEPS = int(os.environ.get("EPS_REF_CONFORMANCE_STEPS", "1000"))
CASES = cases()


@pytest.fixture(scope="session")
def suite():
    results, versions, _ = run_cases(CASES, steps=STEPS, progress=None)
    return {r.case.id: r for r in results}, versions


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(suite, case):
    result = suite[0][case.id]
    if result.status == "skipped":
        pytest.skip(result.message)
    assert result.passed, f"{case.id}: {result.status}: {result.message}"


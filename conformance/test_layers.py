"""``pytest conformance``: every normalization-layer case against its real framework.

The layer suite runs once per session (each backend in its own worker process); each test
asserts its case: 0 ULP on every call's output and running statistics, or within the spec's
declared budget. A backend that cannot be imported skips its cases with the reason. The
cases are the small ones of every layer variant, then the real-size ones
(:data:`eps_ref.conformance.layers.REAL_SIZES`, at each thread count of
:data:`~eps_ref.conformance.layers.THREAD_COUNTS`).
"""

import pytest

from eps_ref.conformance.layers import layer_cases, run_layer_cases

pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

CASES = layer_cases()


@pytest.fixture(scope="session")
def layer_suite():
    results, versions = run_layer_cases(CASES, progress=None)
    return {r.case.id: r for r in results}, versions


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_layer_case(layer_suite, case):
    result = layer_suite[0][case.id]
    if result.status == "skipped":
        pytest.skip(result.message)
    assert result.passed, f"{case.id}: {result.status}: {result.message}"


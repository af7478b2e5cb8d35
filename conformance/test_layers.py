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


def test_flax_exact_but_for_rsqrt(monkeypatch):
    """The Flax budgets are XLA:CPU's rsqrt alone: with ``jax.lax.rsqrt`` in place of the
    reference's ``1/sqrt``, every Flax case is 0 ULP on every call (outputs and running
    statistics), the E[x^2] - E[x]^2 cancellation of the large-mean batches included."""
    from eps_ref.backends import flax as flax_backend
    ok, reason = flax_backend.available()
    if not ok:
        pytest.skip(reason)
    import jax
    import jax.numpy as jnp
    import numpy as np

    import eps_ref.norms.batch
    import eps_ref.norms.group
    import eps_ref.norms.layer
    from eps_ref.conformance.layers import case_inputs, compare_runs, reference_run

    def xla_rsqrt(var, eps, *, precision="float32"):
        return np.asarray(jax.lax.rsqrt(jnp.asarray(var + eps)))

    for module in (eps_ref.norms.batch, eps_ref.norms.group, eps_ref.norms.layer):
        monkeypatch.setattr(module, "inverse_std", xla_rsqrt)
    flax_cases = [c for c in CASES if c.label == "flax"]
    assert flax_cases
    for case in flax_cases:
        batches, eval_batch, params = case_inputs(case)
        ref = reference_run(case.spec, dict(case.kwargs), batches, eval_batch, params,
                            backend=case.backend)
        got = flax_backend.run_layer(case.spec, dict(case.kwargs), batches, eval_batch, params)
        c = compare_runs(ref, got)
        assert c.max_ulp == 0, f"{case.id}: {c.summary()}"

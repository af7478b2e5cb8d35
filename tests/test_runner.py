"""The conformance runner survives a crash or a hang in a worker and judges budgets."""

import numpy as np

from eps_ref.conformance.cases import Case, cases
from eps_ref.conformance.runner import compare, run_cases

FAKE = {"fake": ("fake_backend", {}), "missing": ("no_such_backend_module", {})}


def test_crash_hang_and_error_fail_only_their_case():
    plan = [Case("torch.optim.SGD", name, "fake", {"lr": lr})
            for name, lr in [("crash", 0.1), ("after-crash", 0.01), ("hang", 0.2),
                             ("after-hang", 0.02), ("raises", 0.3), ("fine", 0.03)]]
    results, versions, _ = run_cases(plan, steps=5, timeout=6, progress=None, backends=FAKE)
    status = {r.case.variant: r for r in results}
    assert status["crash"].status == "error" and "crashed" in status["crash"].message
    assert "simulated abort" in status["crash"].message
    assert status["hang"].status == "error" and "did not answer" in status["hang"].message
    assert status["raises"].status == "error" and "refused" in status["raises"].message
    for ok in ("after-crash", "after-hang", "fine"):
        assert status[ok].status == "exact", status[ok].message
    assert versions["fake"] == {"fake": "1"}


def test_unimportable_backend_skips_with_reason():
    plan = [Case("torch.optim.SGD", "defaults", "missing", {})]
    (result,), _, _ = run_cases(plan, steps=2, timeout=20, progress=None, backends=FAKE)
    assert result.status == "skipped" and "no_such_backend_module" in result.message


def test_compare_finds_first_divergent_step():
    a = np.zeros((5, 3), np.float32)
    b = a.copy()
    b[3, 1] = np.nextafter(np.float32(0), np.float32(1)) * 4
    c = compare(a, b)
    assert c.first_divergent_step == 3 and c.max_ulp == 4
    assert c.ulp_per_step.tolist() == [0, 0, 0, 4, 0]


def test_every_spec_has_cases_on_every_backend_of_its_framework():
    labels = {}
    for case in cases():
        labels.setdefault(case.spec, set()).add(case.label)
    for name, found in labels.items():
        if name.startswith("keras."):
            assert found == {"keras/tensorflow", "keras/jax", "keras/torch"}

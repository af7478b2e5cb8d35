"""The conformance runner survives a crash or a hang in a worker and judges budgets."""

import numpy as np
import pytest

from eps_ref.conformance.cases import Case, cases
from eps_ref.conformance.runner import compare, run_cases
from eps_ref.spec import Budget

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


def test_the_reference_runs_on_the_workers_intra_op_threads():
    """A worker that reports its intra-op thread count gets a reference computed on as many
    threads: under Keras' torch backend, clipnorm's ``torch.sum`` of the squares splits
    past 32768 elements."""
    from eps_ref.conformance.runner import reference_trajectory
    from eps_ref.conformance.streams import gradient_stream, initial_params
    shape, kw = (40000,), {"learning_rate": 1.0, "clipnorm": 1e-3}
    p0, g = initial_params(1, shape), gradient_stream(1, 1, shape)   # seed 1: the sums differ
    one, two = (reference_trajectory("keras.optimizers.SGD", kw, p0, g, "fake/torch",
                                     threads=t) for t in (1, 2))
    assert not np.array_equal(one, two)
    plan = [Case("keras.optimizers.SGD", "clipnorm", "fake/torch", kw)]
    backends = {"fake/torch": ("fake_backend", {"FAKE_THREADS": "2",
                                                  "FAKE_LABEL": "fake/torch"})}
    (result,), versions, _ = run_cases(plan, steps=1, seed=1, timeout=60, progress=None,
                                       backends=backends, shape=shape)
    assert versions["fake/torch"]["intra-op threads"] == 2
    assert result.status == "exact", result.message


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


def test_compiled_labels_share_their_eager_labels_adapter_and_reference():
    from eps_ref.backends import (BACKEND_LABELS, COMPILE_ENV, COMPILED_LABELS,
                                  OPTIMIZER_LABELS, eager_label, labels_for)
    from eps_ref.conformance.workload import workload_cases
    assert labels_for("optax", compiled=True) == ["optax/jit"]
    assert labels_for("keras", compiled=True) == ["keras/jax-jit", "keras/tensorflow-function"]
    assert "optax/jit" not in labels_for("optax")      # layers and edge inputs run eagerly
    for label, eager in COMPILED_LABELS.items():
        module, env = OPTIMIZER_LABELS[label]
        assert (module, {k: v for k, v in env.items() if k != COMPILE_ENV}) \
            == BACKEND_LABELS[eager]
        assert env[COMPILE_ENV] == "1" and eager_label(label) == eager
        assert Case("keras.optimizers.Adam", "defaults", label).backend \
            == Case("keras.optimizers.Adam", "defaults", eager).backend
    on_workload = workload_cases()
    for label, eager in COMPILED_LABELS.items():
        assert {(c.spec, c.variant) for c in on_workload if c.label == label} \
            == {(c.spec, c.variant) for c in on_workload if c.label == eager}


def test_streams_at_any_shape_keep_every_regime():
    from eps_ref.conformance.streams import (REGIMES, SHAPE, gradient_stream, initial_params,
                                             regime_indices)
    at_default = regime_indices(SHAPE)
    start = 0
    for name, count in REGIMES.items():       # one contiguous block per regime at SHAPE
        np.testing.assert_array_equal(at_default[name], np.arange(start, start + count))
        start += count
    g = gradient_stream(20, 0, (3, 37))
    assert g.shape == (20, 3, 37) and g.dtype == np.float32
    idx = regime_indices((3, 37))
    flat = g.reshape(20, -1)
    assert (flat[:, idx["zero"]] == 0).all() and (np.abs(flat[:, idx["tiny"]]) < 1e-8).all()
    assert (np.abs(flat[:, idx["flip"]]) == 0.5).all()
    assert sum(map(len, idx.values())) == 111
    assert initial_params(0, (3, 37)).shape == (3, 37)


def test_shape_dependent_cases_are_judged_off_the_conformance_shape_only(monkeypatch):
    monkeypatch.setattr("eps_ref.conformance.host.certified", lambda: True)
    from eps_ref.conformance import cases as cases_module
    from eps_ref.conformance.cases import ODD_SHAPE
    from eps_ref.conformance.runner import _judge
    monkeypatch.setitem(cases_module.SHAPE_DEPENDENT, ("optax.sgd", "optax", ""),
                        "a reason that names the kernel")
    case = next(c for c in cases(["optax"]) if c.spec == "optax.sgd")
    assert case.shape_dependence and case.workload_budget is None
    diverged = compare(np.zeros((2, 3), np.float32), np.array([[0, 0, 0], [1e-45, 0, 0]],
                                                              np.float32))
    assert _judge(case, diverged)[0] == "over budget"
    assert _judge(case, diverged, "odd shape")[0] == "shape-dependent"
    assert _judge(case, diverged, "workload")[0] == "shape-dependent"
    same = compare(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    assert _judge(case, same, "odd shape")[0] == "stale shape dependence"
    assert _judge(case, same, "workload")[0] == "exact"
    with pytest.raises(ValueError, match="setting must be one of"):
        _judge(case, same, ODD_SHAPE)
    monkeypatch.setitem(cases_module.WORKLOAD_BUDGETS, ("optax.sgd", "optax", ""),
                        Budget(1, "a workload budget bounds it before the shape dependence"))
    assert _judge(case, diverged, "workload")[0] == "within budget"


def test_workload_budgets_bound_the_workload_only(monkeypatch):
    monkeypatch.setattr("eps_ref.conformance.host.certified", lambda: True)
    from eps_ref.conformance import cases as cases_module
    from eps_ref.conformance.runner import _judge
    case = next(c for c in cases(["torch"]) if c.spec == "torch.optim.SGD")
    monkeypatch.setitem(cases_module.WORKLOAD_BUDGETS, ("torch.optim.SGD", "torch", ""),
                        Budget(2, "a reason long enough to be a reason"))
    one = compare(np.zeros((2, 1), np.float32), np.array([[0], [1e-45]], np.float32))
    assert _judge(case, one, "workload")[0] == "within budget"
    assert _judge(case, one)[0] == "over budget"
    same = compare(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32))
    assert _judge(case, same, "workload")[0] == "exact"   # a budget bounds both trees
    assert _judge(case, same)[0] == "exact"


def test_a_divergence_on_an_uncertified_host_is_reported_not_judged(monkeypatch):
    from eps_ref.conformance.runner import _judge
    case = next(c for c in cases(["torch"]) if c.spec == "torch.optim.SGD")
    one = compare(np.zeros((2, 1), np.float32), np.array([[0], [1e-45]], np.float32))
    same = compare(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32))
    monkeypatch.setattr("eps_ref.conformance.host.vendor", lambda: "AuthenticAMD")
    monkeypatch.setattr("eps_ref.conformance.host.isa", lambda: "avx2")
    status, message = _judge(case, one, "workload")
    assert status == "not certified here" and "over budget" in message and "AVX512" in message
    assert _judge(case, same, "workload")[0] == "exact"
    # The standard cases too: the rsqrt estimate behind MKL's sqrt is the vendor's.
    assert _judge(case, one)[0] == "not certified here"
    monkeypatch.setattr("eps_ref.conformance.host.isa", lambda: "avx512")
    assert _judge(case, one, "workload")[0] == "over budget"
    assert _judge(case, one)[0] == "over budget"
    monkeypatch.setattr("eps_ref.conformance.host.vendor", lambda: "GenuineIntel")
    assert _judge(case, one)[0] == "not certified here"


def test_an_open_divergence_is_reported_with_its_measurement(monkeypatch):
    from eps_ref.conformance import cases as cases_module
    from eps_ref.conformance.runner import _judge
    monkeypatch.setattr("eps_ref.conformance.host.certified", lambda: True)
    case = next(c for c in cases(["torch"]) if c.spec == "torch.optim.SGD")
    monkeypatch.setitem(cases_module.WORKLOAD_OPEN, ("torch.optim.SGD", "torch", ""),
                        "a diagnosed cause")
    one = compare(np.zeros((2, 1), np.float32), np.array([[0], [1e-45]], np.float32))
    status, message = _judge(case, one, "workload")
    assert status == "open" and message.startswith("1 ULP at step 1") and "diagnosed" in message
    assert _judge(case, one)[0] == "over budget"           # the standard cases stay strict
    same = compare(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32))
    assert _judge(case, same, "workload")[0] == "exact"


def test_compare_trees_names_the_worst_leaf():
    a = {"w": np.zeros((3, 2), np.float32), "b": np.ones((3, 1), np.float32)}
    b = {"w": a["w"].copy(), "b": a["b"].copy()}
    b["b"][2, 0] = np.nextafter(np.float32(1), np.float32(2))
    b["w"][1, 1] = np.float32(1e-45)
    c = compare(a, b)
    assert (c.max_ulp, c.first_divergent_step, c.worst_leaf) == (1, 1, "w")
    b["b"][2, 0] = np.float32(1.5)
    c = compare(a, b)
    assert c.worst_leaf == "b" and list(c.ulp_per_step[:2]) == [0, 1]
    assert compare(a, a).worst_leaf is None
    with pytest.raises(ValueError, match="same leaves"):
        compare(a, {"w": a["w"]})


def test_cli_refuses_a_bad_shape(capsys):
    import pytest

    from eps_ref.cli import main
    for bad in ("3,x", "0,4", ""):
        with pytest.raises(SystemExit):
            main(["conformance", "--shape", bad])
        assert "positive sizes" in capsys.readouterr().err

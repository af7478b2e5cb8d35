"""eps_ref.testing: checking an optimizer against a spec's reference, step by step and
regime by regime; and the pytest plugin (run on user test files with pytester).

Every expected number here comes from re-running the references or from what the stream's
regimes mean (an update from an exact-zero gradient cannot depend on eps), never from a
recorded constant.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import numpy as np
import pytest

import eps_ref
from eps_ref import testing
from eps_ref.conformance.runner import reference_trajectory
from eps_ref.conformance.streams import regime_indices
from eps_ref.explain import families
from thirdparty import NaiveAdam

pytest_plugins = ["pytester"]


def _reference(name, kwargs, stream):
    return reference_trajectory(name, kwargs, stream.params0, stream.grads)


class Wrapped:
    """A candidate that runs a reference: bit-exact with it until a subclass breaks it."""

    def __init__(self, name="torch.optim.Adam", **kwargs):
        self.opt = eps_ref.optimizer(name, **kwargs)

    def init(self, params):
        return self.opt.init(params)

    def step(self, params, grads, state):
        return self.opt.step(params, grads, state)


# -- candidates that conform ---------------------------------------------------------------

def test_reference_against_itself_is_bit_exact():
    result = testing.compare(eps_ref.optimizer("keras.optimizers.RMSprop", rho=0.8),
                             "keras.optimizers.RMSprop", steps=30, rho=0.8)
    assert result.max_ulp == 0 and result.first_divergent_step is None and result.passed
    assert result.where is None
    assert [s.stream for s in result.streams] == list(testing.STREAMS)
    assert all(len(u) == 31 and not u.any() for u in result.ulp_per_step.values())
    text = str(result)
    assert "bit-exact" in text and "Per-step diff" not in text
    for regime in testing.REGIMES:
        assert regime in text


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
def test_torch_adam_is_bit_exact_with_the_reference():
    torch = pytest.importorskip("torch")
    assert testing.compare(torch.optim.Adam, "torch.optim.Adam").max_ulp == 0
    result = testing.assert_conforms(lambda ps: torch.optim.Adam(ps, lr=3e-4, amsgrad=True),
                                     "torch.optim.Adam", lr=3e-4, amsgrad=True,
                                     shape=testing.TREE_SHAPES, steps=40)
    assert result.max_ulp == 0 and result.candidate == "<lambda>"


def test_optax_adam_is_bit_exact_with_the_reference():
    optax = pytest.importorskip("optax")
    result = testing.compare(optax.adam(1e-3), "optax.adam", steps=40, learning_rate=1e-3)
    assert result.max_ulp == 0 and result.candidate == "optax.GradientTransformation"
    # ... and differs from torch's Adam: a compare() that can fail.
    assert testing.compare(optax.adam(1e-3), "torch.optim.Adam", steps=40).max_ulp > 0


def test_rounding_within_a_measured_budget():
    """NaiveAdam is Algorithm 1 without torch's fused multiply-adds: it passes exactly at
    the budget it measures, and fails one ULP below."""
    measured = testing.compare(NaiveAdam(), "torch.optim.Adam", steps=50)
    assert measured.max_ulp > 0
    testing.assert_conforms(NaiveAdam(), "torch.optim.Adam", budget_ulp=measured.max_ulp,
                            steps=50)
    with pytest.raises(AssertionError, match="DIFFERS"):
        testing.assert_conforms(NaiveAdam(), "torch.optim.Adam",
                                budget_ulp=measured.max_ulp - 1, steps=50)


# -- a candidate that does not -------------------------------------------------------------

def test_wrong_eps_fails_with_the_first_step_and_regime():
    """eps 1e-7 instead of torch's 1e-8: the report names step 1 and the tiny regime,
    where the gradient is far below both and eps is the whole denominator."""
    wrong = Wrapped(eps=1e-7)
    with pytest.raises(AssertionError) as info:
        testing.assert_conforms(wrong, "torch.optim.Adam", steps=20)
    result = testing.compare(wrong, "torch.optim.Adam", steps=20)
    where = result.where
    assert result.first_divergent_step == where.step == 1
    assert where.stream == "standard" and where.regime == "tiny" and abs(where.grad) < 1e-8
    message = str(info.value)
    assert message == str(result)
    assert "First divergence: step 1 of the standard stream" in message
    assert "regime tiny" in message and "Per-step diff, standard stream" in message
    standard = result.streams[0]
    assert standard.regimes["zero"].max_ulp == 0      # no gradient, no eps in the update
    assert standard.regimes["tiny"].max_ulp == max(r.max_ulp for r in standard.regimes.values())
    eps_dominated = result.streams[1]
    assert eps_dominated.first_divergent_step == 1 and set(eps_dominated.regimes) == {"tiny"}


def test_wrong_eps_in_torch_itself():
    torch = pytest.importorskip("torch")
    result = testing.compare(lambda ps: torch.optim.Adam(ps, eps=1e-7), "torch.optim.Adam",
                             steps=10)
    assert result.where.step == 1 and result.where.regime == "tiny" and not result.passed


def test_per_step_ulp_matches_the_trajectories():
    result = testing.compare(NaiveAdam(eps=1e-7), "torch.optim.Adam", steps=15,
                             streams=["standard"])
    stream = testing.conformance_stream(15)
    ref = _reference("torch.optim.Adam", {}, stream)
    cand = np.concatenate([stream.params0[None],
                           testing.record(NaiveAdam(eps=1e-7), 15).trajectory])
    expected = eps_ref.ulp_distance(ref, cand).reshape(16, -1).max(axis=1)
    np.testing.assert_array_equal(result.ulp_per_step["standard"], expected)
    s = result.streams[0]
    for regime, idx in regime_indices().items():
        d = eps_ref.ulp_distance(ref, cand).reshape(16, -1)[:, idx]
        assert s.regimes[regime].max_ulp == d.max()
    worst = s.worst
    assert worst.ulp == expected.max()
    flat = np.ravel_multi_index(worst.index, stream.params0.shape)
    assert worst.reference == ref[worst.step].reshape(-1)[flat]
    assert worst.candidate == cand[worst.step].reshape(-1)[flat]


def test_tree_report_names_the_leaf():
    result = testing.compare(NaiveAdamTree(eps=1e-7), "torch.optim.Adam", steps=10,
                             shape=testing.TREE_SHAPES)
    assert result.where.leaf in testing.TREE_SHAPES and result.where.regime == "tiny"
    assert "leaf" in str(result)
    for s in result.streams:
        assert sum(r.elements for r in s.regimes.values()) == 64 + 64


class NaiveAdamTree:
    """NaiveAdam on a dict of leaves."""

    def __init__(self, **kwargs):
        self.leaf = NaiveAdam(**kwargs)

    def init(self, params):
        return {k: self.leaf.init(v) for k, v in params.items()}

    def step(self, params, grads, state):
        out = {k: self.leaf.step(params[k], grads[k], state[k]) for k in params}
        return {k: v[0] for k, v in out.items()}, {k: v[1] for k, v in out.items()}


# -- recordings ----------------------------------------------------------------------------

def test_recordings_round_trip(tmp_path):
    rec = testing.record(eps_ref.optimizer("optax.adagrad", learning_rate=0.01), steps=25)
    path = tmp_path / "mine.npz"
    rec.save(path)
    for candidate in (path, str(path), rec, rec.trajectory,
                      {"params0": rec.params0, "grads": rec.grads, "trajectory": rec.trajectory}):
        result = testing.compare(candidate, "optax.adagrad", learning_rate=0.01)
        assert result.max_ulp == 0 and result.streams[0].steps == 25
        assert set(result.streams[0].regimes) == set(testing.REGIMES)   # it is the stream
    first = testing.compare(path, "torch.optim.Adagrad", steps=10)
    assert first.streams[0].steps == 10 and first.max_ulp > 0


def test_recording_of_another_stream_has_no_regimes():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(5).astype(np.float32)
    grads = rng.standard_normal((6, 5)).astype(np.float32)
    ref = _reference("torch.optim.SGD", {"lr": 0.1}, testing.Stream("x", p0, grads))
    result = testing.compare(testing.Recording(p0, grads, ref[1:]), "torch.optim.SGD", lr=0.1)
    assert result.max_ulp == 0 and not result.streams[0].regimes
    assert "(all)" in str(result)


def test_custom_streams():
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((3, 2)).astype(np.float32)
    grads = rng.standard_normal((8, 3, 2)).astype(np.float32)
    result = testing.compare(NaiveAdam(), "torch.optim.Adam", streams={"mine": (p0, grads)})
    assert [s.stream for s in result.streams] == ["mine"] and result.streams[0].steps == 8


# -- bad input -----------------------------------------------------------------------------

class Raises(Wrapped):
    def step(self, params, grads, state):
        if state["step"] == 2:
            raise ZeroDivisionError("boom")
        return super().step(params, grads, state)


class ReturnsNaN(Wrapped):
    def step(self, params, grads, state):
        new, state = super().step(params, grads, state)
        if state["step"] == 4:
            new = new.copy()
            new.reshape(-1)[5] = np.nan
        return new, state


class WrongShape(NaiveAdam):
    def step(self, params, grads, state):
        new, state = super().step(params, grads, state)
        return new.reshape(-1), state


class WrongDtype(NaiveAdam):
    def step(self, params, grads, state):
        new, state = super().step(params, grads, state)
        return new.astype(np.float64), state


class NoTuple(NaiveAdam):
    def step(self, params, grads, state):
        return super().step(params, grads, state)[0]


def test_candidate_that_raises_names_the_step():
    with pytest.raises(testing.CandidateError, match="raised at step 3 of the standard "
                                                     "stream: ZeroDivisionError: boom") as e:
        testing.compare(Raises(), "torch.optim.Adam", steps=5)
    assert isinstance(e.value.__cause__, ZeroDivisionError)


def test_candidate_that_returns_nan_is_a_divergence_at_its_step():
    result = testing.compare(ReturnsNaN(), "torch.optim.Adam", steps=6, streams=["standard"])
    assert result.where.step == 4 and result.where.nan and not result.passed
    assert result.where.index == np.unravel_index(5, testing.conformance_stream(1)
                                                  .params0.shape)
    assert "NaN against a number" in str(result)
    assert json.dumps(result.to_json())


@pytest.mark.parametrize("candidate, message", [
    (WrongShape(), r"step at step 1 of the standard stream returned params of shape \(64,\)"),
    (WrongDtype(), r"returned float64 params; the parameter is float32"),
    (NoTuple(), r"must return \(params, state\); at step 1"),
])
def test_candidate_returning_something_else(candidate, message):
    with pytest.raises(testing.CandidateError, match=message):
        testing.compare(candidate, "torch.optim.Adam", steps=3)


@pytest.mark.parametrize("candidate, message", [
    (object(), "has no init/step"),
    (NaiveAdam, "pass an instance"),
    (42, "has no init/step"),
])
def test_wrong_interface(candidate, message):
    with pytest.raises(TypeError, match=message):
        testing.compare(candidate, "torch.optim.Adam", steps=3)


def test_torch_optimizer_instance_is_refused():
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(TypeError, match="pass the class or a factory"):
        testing.compare(opt, "torch.optim.SGD", lr=0.1)


def test_torch_candidate_that_raises_names_the_step():
    torch = pytest.importorskip("torch")

    class Breaks(torch.optim.SGD):
        def step(self, closure=None):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 2:
                raise RuntimeError("kernel failed")
            return super().step(closure)

    with pytest.raises(testing.CandidateError, match="torch candidate raised at step 2"):
        testing.compare(lambda ps: Breaks(ps, lr=0.1), "torch.optim.SGD", lr=0.1, steps=4)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "torch.optim.Adm"}, KeyError, "did you mean 'torch.optim.Adam'"),
    ({"name": "torch.optim.Adam", "epsilon": 1e-7}, TypeError, "did you mean 'eps'"),
    ({"name": "torch.nn.BatchNorm1d"}, TypeError, "is a layer, not an optimizer"),
    ({"name": "torch.optim.Adam", "streams": ["standrd"]}, ValueError,
     "did you mean 'standard'"),
    ({"name": "torch.optim.Adam", "steps": 0}, ValueError, "steps must be a positive int"),
    ({"name": "torch.optim.Adam", "shape": (4, 0)}, ValueError, "positive sizes"),
    ({"name": "torch.optim.Adam", "budget_ulp": -1}, ValueError, "budget_ulp"),
    ({"name": "torch.optim.Adam", "streams": {"x": (np.zeros(3, np.float32),
                                                    np.zeros((2, 4), np.float32))}},
     ValueError, r"grads must have shape \(steps, \*\(3,\)\)"),
    ({"name": "torch.optim.Adam", "streams": {"x": (np.zeros(3, np.float32),
                                                    np.zeros((2, 3), np.float64))}},
     TypeError, "one float dtype"),
])
def test_bad_arguments(kwargs, error, message):
    name = kwargs.pop("name")
    with pytest.raises(error, match=message):
        testing.compare(NaiveAdam(), name, **kwargs)


def test_bad_recordings(tmp_path):
    rec = testing.record(NaiveAdam(), steps=4)
    with pytest.raises(ValueError, match="without params0"):
        testing.Recording(rec.params0, rec.grads,
                          np.concatenate([rec.params0[None], rec.trajectory]))
    with pytest.raises(TypeError, match="one float dtype"):
        testing.Recording(rec.params0, rec.grads, rec.trajectory.astype(np.float64))
    np.savez(tmp_path / "partial.npz", params0=rec.params0, grads=rec.grads)
    with pytest.raises(ValueError, match=r"missing array\(s\) \['trajectory'\]"):
        testing.Recording.load(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_text("not numpy")
    with pytest.raises(ValueError, match="not a readable .npz"):
        testing.Recording.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="no such recording"):
        testing.compare(str(tmp_path / "none.npz"), "torch.optim.Adam")
    with pytest.raises(ValueError, match="brings its own stream"):
        testing.compare(rec, "torch.optim.Adam", shape=(4, 16))
    with pytest.raises(ValueError, match="the recording has 4"):
        testing.compare(rec, "torch.optim.Adam", steps=5)


# -- the pytest plugin ---------------------------------------------------------------------

def test_plugin_is_registered_and_imports_no_framework():
    points = importlib.metadata.entry_points(group="pytest11")
    assert any(p.value == "eps_ref.pytest_plugin" for p in points)
    code = ("import sys, eps_ref.pytest_plugin; print(sorted(m for m in ('torch', 'jax', "
            "'tensorflow', 'keras', 'optax', 'flax', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


USER_TESTS = '''
import numpy as np
import pytest
from eps_ref import testing


class MyAdam:
    def __init__(self, lr=1e-3, eps=1e-8):
        self.lr, self.eps = np.float32(lr), np.float32(eps)

    def init(self, params):
        return np.zeros_like(params), np.zeros_like(params), 0

    def step(self, params, grads, state):
        m, v, t = state
        t += 1
        m = np.float32(0.9) * m + np.float32(0.1) * grads
        v = np.float32(0.999) * v + np.float32(1 - 0.999) * grads * grads
        m_hat, v_hat = m / np.float32(1 - 0.9 ** t), v / np.float32(1 - 0.999 ** t)
        return params - self.lr * m_hat / (np.sqrt(v_hat) + self.eps), (m, v, t)


@pytest.mark.eps_ref(family="adam", framework="torch")
def test_each_torch_adam(eps_ref_case):
    result = testing.compare(MyAdam(), eps_ref_case.name, steps=5, **eps_ref_case.kwargs)
    assert result.streams


def test_streams(eps_ref_stream, eps_ref_tree_stream, eps_ref_streams):
    assert eps_ref_stream.grads.shape == (100, 4, 16)
    assert set(eps_ref_tree_stream.params0) == {"kernel", "bias"}
    assert eps_ref_streams(steps=3, kind="eps-dominated").grads.shape == (3, 4, 16)


def test_wrong_eps_fails():
    testing.assert_conforms(MyAdam(eps=1e-7), "torch.optim.Adam", steps=5)


def test_case_without_marker(eps_ref_case):
    pass
'''


def test_plugin_parametrizes_reports_and_shows_the_diff(pytester, tmp_path):
    pytester.makepyfile(test_user=USER_TESTS)
    report = tmp_path / "report"
    result = pytester.runpytest("-q", "--eps-ref-report", str(report))
    torch_adams = [n for n in families()["adam"] if eps_ref.spec(n).framework == "torch"]
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == len(torch_adams) + 1, result.stdout.str()
    assert outcomes.get("failed") == 1 and outcomes.get("errors") == 1
    out = result.stdout.str()
    assert "First divergence: step 1 of the standard stream" in out
    assert "Per-step diff, standard stream" in out
    assert "needs the test to be marked @pytest.mark.eps_ref" in out
    assert f"eps_ref: {len(torch_adams) + 1} comparisons" in out
    data = json.loads((report / "report.json").read_text())
    assert len(data) == len(torch_adams) + 1
    assert {d["spec"] for d in data} == set(torch_adams)
    wrong = [d for d in data if d["test"].endswith("::test_wrong_eps_fails")]
    assert len(wrong) == 1 and not wrong[0]["passed"]
    assert wrong[0]["where"]["regime"] == "tiny" and wrong[0]["first_divergent_step"] == 1
    md = (report / "report.md").read_text()
    assert "| `test_user.py::test_wrong_eps_fails` |" in md and "DIFFERS" in md
    pytest.importorskip("matplotlib")
    assert (report / "ulp_per_step.png").stat().st_size > 1000


def test_plugin_ids_and_variants(pytester):
    pytester.makepyfile(test_ids='''
import pytest

@pytest.mark.eps_ref("torch.optim.SGD", "optax.sgd", variants="all")
def test_it(eps_ref_case):
    assert eps_ref_case.reference().hyperparams == eps_ref_case.hyperparams
''')
    result = pytester.runpytest("--collect-only", "-q")
    lines = [line for line in result.stdout.lines if "test_it[" in line]
    variants = [v for n in ("torch.optim.SGD", "optax.sgd") for v in eps_ref.spec(n).variants]
    assert len(lines) == len(variants) > 2
    assert any(line.endswith("test_it[torch.optim.SGD]") for line in lines)
    assert any(line.endswith("test_it[optax.sgd]") for line in lines)


def test_plugin_errors_and_opt_out(pytester):
    pytester.makepyfile(test_bad='''
import pytest

@pytest.mark.eps_ref("torch.optim.Adm")
def test_it(eps_ref_case):
    pass
''')
    result = pytester.runpytest("-q")
    assert "did you mean 'torch.optim.Adam'" in result.stdout.str()
    assert result.ret != 0
    # -p no:eps_ref turns the plugin off: the fixture is then unknown.
    result = pytester.runpytest("-q", "-p", "no:eps_ref")
    assert "fixture 'eps_ref_case' not found" in result.stdout.str()


def test_plugin_changes_nothing_without_its_option(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1)
    assert "eps_ref:" not in result.stdout.str()

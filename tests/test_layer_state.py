"""Carrying BatchNorm state across frameworks (Plan.convert_state on a layer plan): a layer
trained in the source framework, its running statistics and scale converted, more training
and an inference call in the target framework, against the reference doing the same
(eps_ref.conformance.carryover, the suite's state carry-over section)."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

import eps_ref
from eps_ref.backends import adapter
from eps_ref.conformance.carryover import (K_CALLS, LAYER_PAIRS, check_pair, layer_inputs,
                                           run_native_layer)


def _skip_missing(*frameworks):
    for framework in frameworks:
        pytest.importorskip(framework)


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
@pytest.mark.parametrize("source, kwargs, to", LAYER_PAIRS,
                         ids=[f"{s}->{t}" for s, _, t in LAYER_PAIRS])
def test_a_trained_batchnorm_continues_in_the_other_framework(source, kwargs, to):
    _skip_missing(eps_ref.spec(source).framework, to)
    result = check_pair(source, kwargs, to)
    assert result.status == "exact", result.message


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_batchnorm_carries_on_every_backend(backend):
    """The pairs with Keras in a process whose Keras runs on ``backend``: exact, or within
    the declared Keras-on-JAX budget (XLA's reductions)."""
    _skip_missing("keras", "torch", backend)
    pairs = [p for p in LAYER_PAIRS if "keras" in (eps_ref.spec(p[0]).framework, p[2])]
    script = ("from eps_ref.conformance.carryover import check_pair\n"
              "for pair in %r:\n"
              "    r = check_pair(*pair)\n"
              "    assert r.status in ('exact', 'within budget'), (pair, r.message)\n"
              "    print(r.status.replace(' ', '_'))\n") % (pairs,)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    statuses = run.stdout.split()
    assert len(statuses) == len(pairs)
    if backend == "torch":
        assert set(statuses) == {"exact"}
    else:
        assert set(statuses) <= {"exact", "within_budget"}


def test_the_target_infers_what_the_source_infers_right_after_the_conversion():
    """torch's running_var (fed unbiased variances) is carried as stored: Keras' inference
    from the converted state differs from torch's by kernel rounding only, where the
    variance rescaled by (n-1)/n would move it by thousands of times more."""
    _skip_missing("torch", "keras")
    batches, eval_batch, params = layer_inputs()
    kwargs = {"num_features": 6}
    run, native = run_native_layer("torch", "torch.nn.BatchNorm2d", kwargs,
                                   batches[:K_CALLS], eval_batch, params=params)
    plan = eps_ref.port("torch.nn.BatchNorm2d", to="keras", **kwargs)
    target, target_kwargs = plan.nearest.name, dict(plan.nearest.kwargs)
    store = plan.convert_state(native, step=K_CALLS)
    source_out = run["outputs"][-1]

    def gap(state):
        y = run_native_layer("keras", target, target_kwargs, [], eval_batch, state)[0]
        return np.max(np.abs(y["outputs"][-1] - source_out) / np.maximum(np.abs(source_out), 1))
    n = 8 * 4 * 4
    rescaled = {**store, "3": store["3"] * np.float32((n - 1) / n)}     # moving_variance
    assert gap(store) < 1e-6 and gap(rescaled) > 1e-3


def test_bad_batchnorm_states_fail_clearly():
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    batches, eval_batch, params = layer_inputs()
    kwargs = {"num_features": 6}
    _, native = run_native_layer("torch", "torch.nn.BatchNorm2d", kwargs, batches[:2],
                                 eval_batch, params=params)
    before = copy.deepcopy(native)
    plan = eps_ref.port("torch.nn.BatchNorm2d", to="keras", **kwargs)
    with pytest.raises(ValueError, match="keys"):
        plan.convert_state({k: v for k, v in native.items() if k != "running_var"})
    with pytest.raises(ValueError, match="must be a tensor of shape"):
        plan.convert_state({**native, "running_mean": torch.zeros(4)})
    with pytest.raises(ValueError, match="step=9, and num_batches_tracked is 2"):
        plan.convert_state(native, step=9)
    assert all(torch.equal(before[k], native[k]) for k in before)       # not mutated
    plain = eps_ref.port("torch.nn.BatchNorm2d", to="keras", num_features=6,
                         track_running_stats=False)
    with pytest.raises(ValueError, match="tracks no running statistics"):
        plain.convert_state(adapter("torch").resolve("torch.nn.BatchNorm2d")(
            6, track_running_stats=False).state_dict())
    _, store = run_native_layer("keras", "keras.layers.BatchNormalization", {}, batches[:2],
                                eval_batch)
    to_torch = eps_ref.port("keras.layers.BatchNormalization", to="torch")
    with pytest.raises(ValueError, match="the layer keeps 4 variables"):
        to_torch.convert_state({k: v for k, v in store.items() if k != "3"})
    cumulative = dataclasses.replace(to_torch.nearest,
                                     kwargs={**to_torch.nearest.kwargs, "momentum": None})
    to_torch.candidates = [cumulative, *to_torch.candidates[1:]]
    with pytest.raises(ValueError, match="pass step="):
        to_torch.convert_state(store)
    assert to_torch.convert_state(store, step=7)["num_batches_tracked"] == 7

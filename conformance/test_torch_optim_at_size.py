"""Every ``torch.optim`` spec against real torch on parameter lists of real sizes, for every
CPU kernel path: the single-tensor default, ``foreach=True`` and ``fused=True``.

The conformance suite runs one 4 x 16 tensor; the kernels depend on more than that. A
vectorized loop leaves a scalar tail (``numel % 8``), a tensor past ATen's grain size
(32768 elements) splits over the intra-op threads, a sum with one output splits with it,
and the ``foreach``/``fused`` paths get the whole list. Each case here drives torch in this
process on a list of tensors of mixed shapes and compares the parameters and every state
tensor with the reference, bit for bit, at every step: 1-D tensors of 1 to 4097 elements,
a matrix and a conv kernel with 1 thread; tensors past the grain size with 2 threads (only
they split); a few paths on 10^6 elements; and the small list again in a subprocess under
``ATEN_CPU_CAPABILITY=avx2`` (torch reads it at import; the default here is AVX-512).
Longer runs of the same comparison (10 steps on 1.3 * 10^6 elements a list, 10^7-element
tensors) were exact too; they are too slow for the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import eps_ref
from eps_ref.conformance.streams import gradient_stream, initial_params
from eps_ref.conformance.tier import full_or_ci

pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

torch = pytest.importorskip("torch")

# 1-D lengths around the vector widths (8, 16) and ATen's grain size, and the shapes of
# biases, a conv kernel and matrices.
LENGTHS = (1, 7, 8, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097)
SMALL = [(n,) for n in LENGTHS] + [(33, 65), (8, 3, 5, 5)]
PAST_GRAIN = [(32769,)]
MATRICES = [(17, 33), (33, 65), (64, 96), (96, 64)]    # Muon takes 2-D parameters only
# Adafactor's row mean over more than 32768 rows is a one-output torch.sum, which splits
# over the threads.
TALL = [(32800, 1)]
# what the AVX2 subprocess runs: one of each tail length, whole vectors, a matrix
AVX2_SHAPES = [(7,), (8,), (15,), (17,), (65,), (4097,), (33, 65)]
STEPS = full_or_ci(24, 12)
PAST_GRAIN_STEPS = full_or_ci(8, 4)

# reference slot -> torch state key, where the names differ
TORCH_STATE_KEYS = {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq",
                    "accumulator": "sum"}


def _kernel_cases(name):
    """``{label: keywords}``: the spec's defaults, ``foreach=True`` and ``fused=True`` where
    the constructor takes them, and every variant of the spec that selects a kernel."""
    s = eps_ref.spec(name)
    cases = {"defaults": {}}
    for keyword in ("foreach", "fused"):
        if keyword in s.defaults:
            cases[keyword] = {keyword: True}
    for label, kwargs in s.variants.items():
        if kwargs.get("foreach") or kwargs.get("fused"):
            cases[label] = dict(kwargs)
    return cases


TORCH_SPECS = eps_ref.specs(framework="torch", kind="optimizer")
CASES = [(name, label, kwargs) for name in TORCH_SPECS
         for label, kwargs in _kernel_cases(name).items()]
IDS = [f"{name.rsplit('.', 1)[-1]}-{label}" for name, label, _ in CASES]


def _shapes(name, base):
    if name == "torch.optim.Muon":
        return MATRICES
    return base


def run_case(name, kwargs, shapes, steps, threads):
    """Run torch and the reference side by side; return the mismatches as strings
    (``shape key step: N ULP``), at most one per tensor and state entry."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        p0 = [initial_params(seed=i, shape=s) for i, s in enumerate(shapes)]
        streams = [gradient_stream(steps, seed=100 + i, shape=s) for i, s in enumerate(shapes)]
        params = [torch.nn.Parameter(torch.tensor(p)) for p in p0]
        opt = getattr(torch.optim, name.rsplit(".", 1)[-1])(params, **kwargs)
        ref = eps_ref.optimizer(name, threads=threads, **kwargs)
        q = [p.copy() for p in p0]
        state = ref.init(q)
        mismatches = {}
        for t in range(steps):
            grads = [g[t] for g in streams]
            for p, g in zip(params, grads):
                p.grad = torch.tensor(g)
            opt.step()
            q, state = ref.step(q, grads, state)
            for i, (p, qi) in enumerate(zip(params, q)):
                torch_state = opt.state[p]
                pairs = [("param", qi, p.detach().numpy())]
                for key, value in state["slots"][i].items():
                    theirs = torch_state[TORCH_STATE_KEYS.get(key, key)]
                    pairs.append((key, np.asarray(value), theirs.detach().numpy()))
                for key, ours, theirs in pairs:
                    theirs = theirs.reshape(ours.shape)
                    if (ours.view(np.uint32) != theirs.view(np.uint32)).any():
                        ulp = int(eps_ref.ulp_distance(ours, theirs).max())
                        mismatches.setdefault((shapes[i], key),
                                              f"{shapes[i]} {key} step {t + 1}: {ulp} ULP")
        return list(mismatches.values())
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("name,label,kwargs", CASES, ids=IDS)
def test_parameter_list_one_thread(name, label, kwargs):
    assert not run_case(name, kwargs, _shapes(name, SMALL), STEPS, threads=1)


@pytest.mark.parametrize("name,label,kwargs", CASES, ids=IDS)
def test_past_the_grain_size_two_threads(name, label, kwargs):
    """Only tensors past 32768 elements split over the threads."""
    shapes = _shapes(name, PAST_GRAIN + (TALL if name == "torch.optim.Adafactor" else []))
    assert not run_case(name, kwargs, shapes, PAST_GRAIN_STEPS, threads=2)


MILLION = full_or_ci([("torch.optim.Adam", {}), ("torch.optim.Adam", {"fused": True}),
                      ("torch.optim.SGD", {"momentum": 0.9, "dampening": 0.5, "fused": True}),
                      ("torch.optim.Adafactor", {"foreach": True})],
                     [("torch.optim.Adam", {"fused": True}),
                      ("torch.optim.Adafactor", {"foreach": True})])


@pytest.mark.parametrize("name,kwargs", MILLION,
                         ids=[f"{n.rsplit('.', 1)[-1]}-{k}" for n, k in MILLION])
def test_a_million_elements_two_threads(name, kwargs):
    shapes = [(1000, 1000)] if name == "torch.optim.Adafactor" else [(10 ** 6,)]
    assert not run_case(name, kwargs, shapes, 3, threads=2)


def test_avx2_dispatch_in_a_subprocess():
    """torch reads ``ATEN_CPU_CAPABILITY`` at import; under AVX2 every path is bit for bit
    the same reference (this host's default is AVX-512, whose optimizer kernels are the
    AVX2 build: ``REGISTER_DISPATCH`` leaves the AVX-512 slot empty)."""
    script = ("import json, torch\n"
              "from eps_ref.conformance import test_torch_optim_at_size as m\n"
              "assert torch.backends.cpu.get_cpu_capability() == 'AVX2'\n"
              "bad = {f'{n} {k}': m.run_case(n, k, m._shapes(n, m.AVX2_SHAPES), 8, 1)\n"
              "       for n, _, k in m.CASES}\n"
              "print(json.dumps({c: b for c, b in bad.items() if b}))\n")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {}

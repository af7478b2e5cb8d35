"""Every spec runs on any Array-API namespace and gives the numpy result bit for bit:
array_api_strict proves the rules use only the standard; torch tensors run when torch is
installed."""

import numpy as np
import pytest

import eps_ref
from conftest import MATRIX_ONLY
from conftest import SPEC_VARIANTS, example_kwargs

STEPS = 6


def _stream(rng, shape=(3, 5)):
    p = rng.standard_normal(shape).astype(np.float32)
    gs = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 1, shape)).astype(np.float32)
          for _ in range(STEPS)]
    gs[1][0, 0] = 0.0
    return p, gs


def _run(name, kwargs, p, gs, to_xp, to_numpy):
    opt = eps_ref.optimizer(name, **kwargs)
    x = to_xp(p)
    state = opt.init(x)
    out = []
    for g in gs:
        x, state = opt.step(x, to_xp(g), state)
        out.append(to_numpy(x))
    return np.stack(out)


@pytest.mark.parametrize("name, variant", SPEC_VARIANTS)
def test_array_api_strict_equals_numpy(name, variant, rng):
    xps = pytest.importorskip("array_api_strict")
    p, gs = _stream(rng)
    kwargs = example_kwargs(name, variant)
    ref = _run(name, kwargs, p, gs, lambda a: a, np.asarray)
    got = _run(name, kwargs, p, gs, xps.asarray, lambda a: np.asarray(a))
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("name, variant", SPEC_VARIANTS)
def test_torch_tensors_equal_numpy(name, variant, rng):
    torch = pytest.importorskip("torch")
    p, gs = _stream(rng)
    kwargs = example_kwargs(name, variant)
    ref = _run(name, kwargs, p, gs, lambda a: a, np.asarray)
    got = _run(name, kwargs, p, gs, torch.from_numpy, lambda t: t.numpy())
    assert got.dtype == np.float32
    assert eps_ref.ulp_distance(got, ref).max() == 0


@pytest.mark.parametrize("name", sorted(set(eps_ref.specs(kind="optimizer")) - MATRIX_ONLY))
def test_float64_params_stay_float64(name, rng):
    opt = eps_ref.optimizer(name, **example_kwargs(name))
    p = rng.standard_normal(4)
    p2, _ = opt.step(p, rng.standard_normal(4), opt.init(p))
    assert p2.dtype == np.float64

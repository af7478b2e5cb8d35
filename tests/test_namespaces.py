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


def test_mixed_namespaces_are_a_clear_error():
    torch = pytest.importorskip("torch")
    opt = eps_ref.optimizer("torch.optim.SGD", momentum=0.9)
    p = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="one array namespace"):
        opt.step({"a": p, "b": torch.ones(3)}, {"a": p, "b": torch.ones(3)},
                 opt.init({"a": p, "b": p}))
    lay = eps_ref.layer("torch.nn.LayerNorm", normalized_shape=3)
    with pytest.raises(TypeError, match="one array namespace"):
        lay.apply(torch.ones(2, 3), lay.init(np.ones((2, 3), np.float32)), training=True)


@pytest.mark.parametrize("name, variant", SPEC_VARIANTS)
def test_jax_arrays_equal_numpy(name, variant, rng):
    """XLA:CPU flushes subnormals and JAX runs float32 unless x64 is on: the reference
    computes on NumPy copies of JAX CPU arrays (eps_ref._host) and returns JAX arrays."""
    jnp = pytest.importorskip("jax.numpy")
    p, gs = _stream(rng)
    gs[2][1, 1] = np.float32(3e-39)               # a subnormal gradient
    kwargs = example_kwargs(name, variant)
    ref = _run(name, kwargs, p, gs, lambda a: a, np.asarray)
    got = _run(name, kwargs, p, gs, jnp.asarray, np.asarray)
    assert got.dtype == np.float32
    assert eps_ref.ulp_distance(got, ref).max() == 0


def test_results_come_back_in_the_callers_namespace():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    import jax
    opt = eps_ref.optimizer("torch.optim.Adam", amsgrad=True)
    p = torch.ones(3, requires_grad=True)
    new, state = opt.step(p, torch.full((3,), 0.5), opt.init(p))
    assert isinstance(new, torch.Tensor) and new.grad_fn is None and not new.requires_grad
    assert all(isinstance(v, torch.Tensor) for v in state["slots"][0].values())
    q = jnp.ones(3)
    new, state = opt.step(q, jnp.full(3, 0.5), opt.init(q))
    assert isinstance(new, jax.Array) and isinstance(state["slots"][0]["v_max"], jax.Array)
    lay = eps_ref.layer("torch.nn.BatchNorm2d", num_features=4)
    x = torch.randn(2, 4, 3, 3).to(memory_format=torch.channels_last)
    y, st = lay.apply(x, lay.init(x), training=True)
    assert isinstance(y, torch.Tensor) and isinstance(st["running_var"], torch.Tensor)
    ref, _ = lay.apply(x.numpy(), lay.init(x.numpy()), training=True)
    np.testing.assert_array_equal(y.numpy().view(np.uint32), np.asarray(ref).view(np.uint32))

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


_JAX_SCRIPT = """
import sys, numpy as np
import jax
if sys.argv[1] == "x64":
    jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import eps_ref
p = np.linspace(-1, 1, 15, dtype=np.float32).reshape(3, 5)
g = (p * 1e-3).astype(np.float32)
for name, kw in [("torch.optim.Adam", {}), ("keras.optimizers.Adam", {}),
                 ("optax.adam", {"learning_rate": 1e-3})]:
    opt = eps_ref.optimizer(name, **kw)
    try:
        x, s = jnp.asarray(p), opt.init(jnp.asarray(p))
        for _ in range(3):
            x, s = opt.step(x, jnp.asarray(g), s)
    except TypeError as e:
        print("refused", name, e)
        continue
    y, s = p, opt.init(p)
    for _ in range(3):
        y, s = opt.step(y, g, s)
    print("same" if (np.asarray(x).view(np.uint32) == y.view(np.uint32)).all() else "differs",
          name, np.asarray(x).dtype)
"""


@pytest.mark.parametrize("x64", [False, True])
def test_jax_arrays_give_the_numpy_bits_or_a_clear_error(x64):
    """JAX computes in float32 unless x64 is enabled; the float64 emulations would silently
    lose their exactness, so the reference refuses such arrays and names the switch."""
    pytest.importorskip("jax")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _JAX_SCRIPT, "x64" if x64 else "x32"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3, out.stdout
    for line in lines:
        if x64:
            assert line.startswith("same") and line.endswith("float32"), line
        else:
            assert line.startswith("refused") and "jax_enable_x64" in line, line

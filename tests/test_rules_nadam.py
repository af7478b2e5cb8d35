"""The NAdam family (torch.optim.NAdam, keras.optimizers.Nadam, optax.nadam/nadamw).

First steps written out by hand from each framework's formula with numpy float32 scalars
(one rounding per operation) or Python float64 where the framework computes in float64;
framework-free: the conformance suite compares against the real frameworks.
"""

import numpy as np
import pytest

import eps_ref
from eps_ref.frameworks.keras import _nadam_jax_backend_semantics, _nadam_torch_backend_semantics
from eps_ref.rules import nadam as nadam_module
from eps_ref.rules.nadam import nadam

f32 = np.float32
SPECS = ["torch.optim.NAdam", "keras.optimizers.Nadam", "optax.nadam", "optax.nadamw"]
LR = {"optax.nadam": {"learning_rate": 1e-3}, "optax.nadamw": {"learning_rate": 1e-3}}
# values where MKL's square root and the correctly rounded one agree (exact squares)
P0 = np.array([1.0, -2.0, 0.5, 0.0], dtype=f32)
G = np.array([0.5, -0.25, 2.0, 0.0], dtype=f32)


def _step(name, p0=P0, g=G, steps=1, **kw):
    opt = eps_ref.optimizer(name, **{**LR.get(name, {}), **kw})
    p, state = p0, opt.init(p0)
    for _ in range(steps):
        p, state = opt.step(p, g, state)
    return np.asarray(p), state


def test_torch_first_step_by_hand():
    lr, b1, b2, eps, psi = 2e-3, 0.9, 0.999, 1e-8, 4e-3
    mu1 = b1 * (1 - 0.5 * 0.96 ** (1 * psi))
    mu2 = b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    prod = float(f32(mu1))
    m = G * f32(1 - b1)                  # lerp from 0: fma(w, g, 0) rounds once
    v = G * G * f32(1 - b2)
    d = np.sqrt(v / f32(1 - b2)) + f32(eps)
    p = P0 + (f32(-lr * (1 - mu1) / (1 - prod)) * G) / d
    p = p + (f32(-lr * mu2 / (1 - prod * mu2)) * m) / d
    got, _ = _step("torch.optim.NAdam")
    np.testing.assert_array_equal(got, p)


def test_torch_foreach_divides_the_root_by_the_root_of_the_correction():
    """``_multi_tensor_nadam``: d = sqrt(v) / sqrt(1 - b2^t) + eps, the rest as above."""
    lr, b1, b2, eps, psi = 2e-3, 0.9, 0.999, 1e-8, 4e-3
    mu1 = b1 * (1 - 0.5 * 0.96 ** (1 * psi))
    mu2 = b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    prod = float(f32(mu1))
    m = G * f32(1 - b1)
    v = G * G * f32(1 - b2)
    d = np.sqrt(v) / f32((1 - b2) ** 0.5) + f32(eps)
    p = P0 + (f32(-lr * (1 - mu1) / (1 - prod)) * G) / d
    p = p + (f32(-lr * mu2 / (1 - prod * mu2)) * m) / d
    got, _ = _step("torch.optim.NAdam", foreach=True)
    np.testing.assert_array_equal(got, p)
    assert eps_ref.optimizer("torch.optim.NAdam", foreach=True).rule_kwargs["step_form"] == \
        "torch_foreach_addcdiv"
    # the two denominators round apart (4208 ULP on a real run by step 1, measured)
    x = np.array([0.1, 0.3, 1e-5, 7.0], f32)
    c = 1 - 0.999 ** 3
    assert not np.array_equal(np.sqrt(x / f32(c)), np.sqrt(x) / f32(c ** 0.5))


def test_keras_first_step_by_hand():
    b1, b2, lr, eps = f32(0.9), f32(0.999), f32(1e-3), f32(1e-7)
    u1 = b1 * (f32(1) - f32(0.5) * f32(0.96))
    u2 = b1 * (f32(1) - f32(0.5) * f32(0.96) * f32(0.96))
    prod = (f32(1) * b1) * (f32(1) - f32(0.5) * f32(0.96))
    m = (G - 0) * (f32(1) - b1)
    v = (G * G) * (f32(1) - b2)
    m_hat = (u2 * m) / (f32(1) - prod * u2) + ((f32(1) - u1) * G) / (f32(1) - prod)
    v_hat = v / (f32(1) - b2)
    want = P0 - (m_hat * lr) / (np.sqrt(v_hat) + eps)
    got, state = _step("keras.optimizers.Nadam")
    np.testing.assert_array_equal(got, want)
    assert float(state["slots"][0]["mu_product"]) == float(prod)


def test_keras_schedule_is_torch_with_momentum_decay_one():
    """Keras' u_t = b1 (1 - 0.5 * 0.96^t) is torch's schedule with psi = 1."""
    k = eps_ref.optimizer("keras.optimizers.Nadam").rule_kwargs
    t = eps_ref.optimizer("torch.optim.NAdam").rule_kwargs
    assert k["momentum_decay"] == 1.0 and t["momentum_decay"] == 4e-3


def test_eps_outside_root():
    """With a zero gradient history the step is g-driven; a huge eps shrinks it to ~ lr*g/eps."""
    for name, key in (("torch.optim.NAdam", "eps"), ("keras.optimizers.Nadam", "epsilon"),
                      ("optax.nadam", "eps")):
        small, _ = _step(name)
        big, _ = _step(name, **{key: 1e6})
        assert np.all(np.abs(big - P0) <= np.abs(small - P0))
        assert np.all(np.abs(big - P0) < 1e-7 * (np.abs(G) + 1))


def test_backend_semantics():
    k = eps_ref.optimizer("keras.optimizers.Nadam", weight_decay=0.01).rule_kwargs
    t = _nadam_torch_backend_semantics(k)
    assert t["moment_update"] == "scale_add_fma" and t["mu_product_update"] == "times_mu"
    assert t["weight_decay_mode"] == "decoupled_keras_torch"
    assert _nadam_jax_backend_semantics(k)["scalar_division"] == "multiply_by_reciprocal"
    for backend in ("torch", "jax"):
        p, _ = _step_backend(backend)
        assert np.all(np.isfinite(p))


def _step_backend(backend):
    opt = eps_ref.optimizer("keras.optimizers.Nadam", backend=backend)
    state = opt.init(P0)
    return opt.step(P0, G, state)


def test_optax_nadam_is_adam_nesterov():
    a, _ = _step("optax.adam", learning_rate=1e-3, nesterov=True, steps=3)
    n, _ = _step("optax.nadam", steps=3)
    np.testing.assert_array_equal(a, n)


@pytest.mark.parametrize("name,kw", [(name, {}) for name in SPECS]
                         + [("torch.optim.NAdam", {"foreach": True})])
def test_inputs_not_mutated_and_strict(name, kw):
    import array_api_strict as xps
    p0, g = P0.copy(), G.copy()
    want, _ = _step(name, p0, g, steps=3, **kw)
    np.testing.assert_array_equal(p0, P0)
    np.testing.assert_array_equal(g, G)
    opt = eps_ref.optimizer(name, **LR.get(name, {}), **kw)
    p, state = xps.asarray(P0), opt.init(xps.asarray(P0))
    for _ in range(3):
        p, state = opt.step(p, xps.asarray(G), state)
    np.testing.assert_array_equal(np.asarray(p), want)


def test_maximize_and_weight_decay_torch():
    up, _ = _step("torch.optim.NAdam", maximize=True, steps=3)
    down, _ = _step("torch.optim.NAdam", g=-G, steps=3)
    np.testing.assert_array_equal(up, down)
    coupled, _ = _step("torch.optim.NAdam", weight_decay=0.1)
    decoupled, _ = _step("torch.optim.NAdam", weight_decay=0.1, decoupled_weight_decay=True)
    assert not np.array_equal(coupled, decoupled)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.NAdam", momentum_decay=-1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.NAdam", lr=-1.0)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("torch.optim.NAdam", capturable=True)
    with pytest.raises(ValueError):
        nadam_module.step(P0, G, nadam.init(P0), t=1, lr=1e-3, beta1=0.9, beta2=0.999,
                          eps=1e-8, step_form="other")

"""Lion in the Keras (three backends) and optax dialects: hand-computed steps, sign(0) = 0,
weight-decay placement, purity, and array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.lion import lion

f32 = np.float32


def _one_step(name, p, g, backend=None, **kw):
    opt = eps_ref.optimizer(name, backend=backend, **kw) if backend else \
        eps_ref.optimizer(name, **kw)
    p1, state = opt.step(p, g, opt.init(p))
    return p1, state["slots"][0]["momentum"]


def test_keras_first_step_by_hand():
    p = np.array([1.0, -2.0, 0.5, 3.0], f32)
    g = np.array([0.3, -1e-10, 0.0, -4.0], f32)
    p1, m = _one_step("keras.optimizers.Lion", p, g)
    np.testing.assert_array_equal(p1, p - f32(1e-3) * np.sign(g))
    # 1 - beta_2 in float32: 1 - fl(0.99), not fl(1 - 0.99)
    np.testing.assert_array_equal(m, g * (f32(1) - f32(0.99)))
    assert f32(1) - f32(0.99) != f32(1 - 0.99)


def test_optax_first_step_by_hand():
    p = np.array([1.0, -2.0, 0.5, 3.0], f32)
    g = np.array([0.3, -1e-10, 0.0, -4.0], f32)
    p1, m = _one_step("optax.lion", p, g, learning_rate=1e-2)
    u = np.sign(g) + f32(1e-3) * p          # weight decay 1e-3 by default, inside lr
    np.testing.assert_array_equal(p1, p + f32(-1e-2) * u)
    np.testing.assert_array_equal(m, f32(1 - 0.99) * g + f32(0.99) * np.zeros_like(g))


def test_zero_direction_does_not_move():
    """No eps: sign(0) = 0, so a zero gradient on a zero momentum leaves the parameter."""
    p = np.array([1.0, -2.0], f32)
    g = np.zeros(2, f32)
    for name, kw in (("keras.optimizers.Lion", {}),
                     ("optax.lion", {"learning_rate": 1e-3, "weight_decay": 0.0})):
        p1, _ = _one_step(name, p, g, **kw)
        np.testing.assert_array_equal(p1, p)


def test_keras_weight_decay_before_step():
    p = np.array([2.0, -1.0], f32)
    g = np.array([1.0, 1.0], f32)
    p1, _ = _one_step("keras.optimizers.Lion", p, g, weight_decay=0.1, learning_rate=1e-2)
    decayed = p - p * f32(0.1) * f32(1e-2)
    np.testing.assert_array_equal(p1, decayed - f32(1e-2) * np.sign(g))


def test_keras_torch_backend_uses_fma_and_float64_one_minus_beta():
    opt = eps_ref.optimizer("keras.optimizers.Lion", backend="torch", weight_decay=0.01)
    assert opt.rule_kwargs["arithmetic"] == "keras_torch_foreach"
    assert opt.rule_kwargs["weight_decay_mode"] == "decoupled_keras_torch"
    p = np.array([1.0], f32)
    g = np.array([3.0], f32)
    _, m = _one_step("keras.optimizers.Lion", p, g, backend="torch")
    np.testing.assert_array_equal(m, g * f32(1 - 0.99))


def test_momentum_carries_sign():
    """After a large positive gradient, a small negative one still steps down."""
    opt = eps_ref.optimizer("keras.optimizers.Lion")
    p = np.array([0.0], f32)
    state = opt.init(p)
    p, state = opt.step(p, np.array([10.0], f32), state)
    p2, _ = opt.step(p, np.array([-0.1], f32), state)
    assert p2[0] < p[0]


def test_validation():
    with pytest.raises(ValueError, match="beta_1"):
        eps_ref.optimizer("keras.optimizers.Lion", beta_1=0.0)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.lion", learning_rate=1e-3, mask=lambda p: p)
    with pytest.raises(ValueError):
        eps_ref.optimizer("optax.lion", learning_rate=-1.0)
    with pytest.raises(ValueError):
        lion.step(np.ones(1, f32), np.ones(1, f32), {"momentum": np.zeros(1, f32)}, t=1,
                  lr=1e-3, beta1=0.9, beta2=0.99, arithmetic="paper")


@pytest.mark.parametrize("arithmetic", ["keras", "keras_torch_foreach", "optax"])
def test_inputs_not_mutated_and_array_api_strict(arithmetic, rng):
    xps = pytest.importorskip("array_api_strict")
    p = rng.standard_normal(6).astype(f32)
    kw = dict(lr=1e-2, beta1=0.9, beta2=0.99, weight_decay=0.1, arithmetic=arithmetic,
              weight_decay_mode={"keras": "decoupled_keras", "optax": "optax",
                                 "keras_torch_foreach": "decoupled_keras_torch"}[arithmetic])
    p0, slots = p.copy(), lion.init(p)
    ref = []
    for i in range(3):
        g = rng.standard_normal(6).astype(f32)
        g0 = g.copy()
        q, new = lion.step(p, g, slots, t=i + 1, **kw)
        np.testing.assert_array_equal(g, g0)
        np.testing.assert_array_equal(p, p0)
        sq, snew = lion.step(xps.asarray(p), xps.asarray(g),
                             {"momentum": xps.asarray(slots["momentum"])}, t=i + 1, **kw)
        np.testing.assert_array_equal(np.asarray(sq), q)
        np.testing.assert_array_equal(np.asarray(snew["momentum"]), new["momentum"])
        p, slots, p0 = q, new, q.copy()
        ref.append(q)

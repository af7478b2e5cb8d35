"""Optimistic gradient descent in the optax dialect: hand-computed steps, the first step's
previous gradient, the alpha/beta limits, validation, purity, array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.optimistic import optimistic_gradient

f32 = np.float32
NAME = "optax.optimistic_gradient_descent"


def test_first_two_steps_by_hand():
    p = np.array([1.0, -2.0, 0.5], f32)
    g1 = np.array([0.3, -4.0, 0.0], f32)
    g2 = np.array([0.1, 1.0, 2.0], f32)
    opt = eps_ref.optimizer(NAME, learning_rate=1e-2, alpha=0.1, beta=0.3)
    p1, state = opt.step(p, g1, opt.init(p))
    # step 1: the previous gradient is the current one (optax#1082): u = alpha*g in exact
    # arithmetic, here (alpha+beta)*g - beta*g rounded in float32
    u1 = f32(0.1 + 0.3) * g1 - f32(0.3) * g1
    np.testing.assert_array_equal(p1, p + f32(-1e-2) * u1)
    np.testing.assert_array_equal(state["slots"][0]["previous_gradient"], g1)
    p2, state = opt.step(p1, g2, state)
    u2 = f32(0.1 + 0.3) * g2 - f32(0.3) * g1
    np.testing.assert_array_equal(p2, p1 + f32(-1e-2) * u2)


def test_defaults_first_step_is_gradient_descent():
    p = np.array([1.0, -2.0], f32)
    g = np.array([0.25, -3.0], f32)
    opt = eps_ref.optimizer(NAME, learning_rate=1e-3)
    p1, state = opt.step(p, g, opt.init(p))
    np.testing.assert_array_equal(p1, p + f32(-1e-3) * g)       # 2g - g = g exactly
    p2, _ = opt.step(p1, np.zeros(2, f32), state)
    np.testing.assert_array_equal(p2, p1 + f32(-1e-3) * (-g))   # 2*0 - g: it steps back


def test_beta_zero_is_sgd(rng):
    a = eps_ref.optimizer(NAME, learning_rate=1e-2, alpha=1.0, beta=0.0)
    b = eps_ref.optimizer("optax.sgd", learning_rate=1e-2)
    p = rng.standard_normal(5).astype(f32)
    pa, sa, pb, sb = p, a.init(p), p, b.init(p)
    for _ in range(4):
        g = rng.standard_normal(5).astype(f32)
        pa, sa = a.step(pa, g, sa)
        pb, sb = b.step(pb, g, sb)
    np.testing.assert_array_equal(pa, pb)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=-1e-3)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, alpha=lambda step: 1.0)


def test_inputs_not_mutated_and_array_api_strict(rng):
    xps = pytest.importorskip("array_api_strict")
    kw = dict(lr=1e-2, alpha=0.5, beta=2.0)
    p = rng.standard_normal(6).astype(f32)
    slots = optimistic_gradient.init(p)
    for t in range(1, 4):
        g = rng.standard_normal(6).astype(f32)
        p0, g0 = p.copy(), g.copy()
        q, new = optimistic_gradient.step(p, g, slots, t=t, **kw)
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
        g[:] = 7.0   # the slot is a copy: mutating the caller's gradient later is harmless
        np.testing.assert_array_equal(new["previous_gradient"], g0)
        sq, snew = optimistic_gradient.step(
            xps.asarray(p), xps.asarray(g0),
            {"previous_gradient": xps.asarray(slots["previous_gradient"])}, t=t, **kw)
        np.testing.assert_array_equal(np.asarray(sq), q)
        np.testing.assert_array_equal(np.asarray(snew["previous_gradient"]), g0)
        p, slots = q, new

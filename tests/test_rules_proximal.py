"""Proximal rules (eps_ref.rules.proximal) against the FOBOS / RDA formulas, by hand."""

import math

import array_api_strict
import numpy as np
import pytest

import eps_ref
from eps_ref.rules.proximal import soft_threshold

PGD = "tf.compat.v1.train.ProximalGradientDescentOptimizer"
PA = "tf.compat.v1.train.ProximalAdagradOptimizer"
DA = "tf.compat.v1.train.AdagradDAOptimizer"


def prox(v, alpha, l1, l2):
    return math.copysign(max(abs(v) - alpha * l1, 0.0), v) / (1 + alpha * l2)


def _run(name, p, g, steps=1, **kw):
    opt = eps_ref.optimizer(name, **kw)
    p = np.asarray(p, dtype=np.float32)
    state = opt.init(p)
    for _ in range(steps):
        p, state = opt.step(p, np.asarray(g, dtype=np.float32), state)
    return np.asarray(p)


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.5, 0.0), (0.0, 2.0), (0.5, 2.0)])
def test_proximal_gradient_descent_first_step(l1, l2):
    w, g, lr = [0.8, -0.3, 0.01], [1.0, -2.0, 0.5], 0.1
    got = _run(PGD, w, g, learning_rate=lr, l1_regularization_strength=l1,
               l2_regularization_strength=l2)
    want = [prox(wi - lr * gi, lr, l1, l2) for wi, gi in zip(w, g)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.5, 0.0), (0.0, 2.0), (0.5, 2.0)])
def test_proximal_adagrad_first_step(l1, l2):
    w, g, lr, g0 = [0.8, -0.3, 0.01], [1.0, -2.0, 0.5], 0.1, 0.1
    got = _run(PA, w, g, learning_rate=lr, l1_regularization_strength=l1,
               l2_regularization_strength=l2)
    want = []
    for wi, gi in zip(w, g):
        alpha = lr / math.sqrt(g0 + gi * gi)
        want.append(prox(wi - alpha * gi, alpha, l1, l2))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 0.0), (0.0, 2.0), (0.3, 2.0)])
@pytest.mark.parametrize("start", [0, 10])
def test_adagrad_da_two_steps(l1, l2, start):
    w, g, lr, g0 = [0.8, -0.3, 0.01], [1.0, -2.0, 0.1], 0.1, 0.1
    got = _run(DA, w, g, steps=2, learning_rate=lr, global_step=start,
               l1_regularization_strength=l1, l2_regularization_strength=l2)
    T = start + 2
    want = []
    for gi in g:
        s, gg = 2 * gi, g0 + 2 * gi * gi
        want.append(-lr * math.copysign(max(abs(s) - T * l1, 0.0), s)
                    / (l2 * T * lr + math.sqrt(gg)))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)


def test_l1_gives_exact_zeros():
    got = _run(PGD, [0.004, -0.002, 0.5], [0.0, 0.0, 0.0], learning_rate=0.1,
               l1_regularization_strength=0.1)
    assert got[0] == 0.0 and got[1] == 0.0 and got[2] != 0.0
    got = _run(DA, [1.0, 1.0], [0.1, 5.0], learning_rate=0.1, global_step=0,
               l1_regularization_strength=1.0)
    assert got[0] == 0.0 and got[1] != 0.0


def test_soft_threshold_is_odd_and_clamps():
    v = np.asarray([-3.0, -0.5, 0.0, 0.5, 3.0], dtype=np.float32)
    out = soft_threshold(v, np.float32(1.0), np.float32(2.0))
    np.testing.assert_array_equal(out, [-1.0, 0.0, 0.0, 0.0, 1.0])


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer(PA, learning_rate=0.1, initial_accumulator_value=0.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer(DA, learning_rate=0.1, global_step=0,
                          initial_gradient_squared_accumulator_value=0.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer(PGD, learning_rate=-0.1)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer(DA, learning_rate=0.1, global_step=1.5)


@pytest.mark.parametrize("name,kw", [
    (PGD, {"learning_rate": 0.1, "l1_regularization_strength": 0.01}),
    (PA, {"learning_rate": 0.1, "l1_regularization_strength": 0.01}),
    (DA, {"learning_rate": 0.1, "global_step": 3, "l1_regularization_strength": 0.01}),
])
def test_pure_and_strict_namespace(name, kw):
    rng = np.random.default_rng(1)
    p = rng.standard_normal((3, 5)).astype(np.float32)
    g = rng.standard_normal((3, 5)).astype(np.float32)
    p_copy, g_copy = p.copy(), g.copy()
    opt = eps_ref.optimizer(name, **kw)
    state = opt.init(p)
    new_np, _ = opt.step(p, g, state)
    again, _ = opt.step(p, g, state)
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(new_np, again)
    ps, gs = array_api_strict.asarray(p), array_api_strict.asarray(g)
    new_s, _ = opt.step(ps, gs, opt.init(ps))
    assert type(new_s) is type(ps)
    np.testing.assert_array_equal(np.asarray(new_s), new_np)

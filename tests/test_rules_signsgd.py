"""signSGD and Signum in the optax dialect (optax.sign_sgd, optax.signum): hand-computed
steps, sign(0) = 0 and no eps, no bias correction, validation, purity, array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.signsgd import signum

f32 = np.float32


def test_sign_sgd_first_step_by_hand():
    p = np.array([1.0, -2.0, 0.5, 3.0], f32)
    g = np.array([0.3, -1e-10, 0.0, -4.0], f32)
    opt = eps_ref.optimizer("optax.sign_sgd", learning_rate=1e-2)
    p1, state = opt.step(p, g, opt.init(p))
    np.testing.assert_array_equal(p1, p + f32(-1e-2) * np.sign(g))
    assert state["slots"][0] == {}
    # no eps: a 1e-10 gradient moves the full learning rate, a zero one does not move
    assert p1[1] == f32(-2.0) + f32(1e-2) and p1[2] == p[2]


def test_signum_first_steps_by_hand():
    p = np.array([1.0, -2.0, 0.5], f32)
    g1 = np.array([0.3, -4.0, 0.0], f32)
    g2 = np.array([-0.1, 1.0, 0.0], f32)
    opt = eps_ref.optimizer("optax.signum", learning_rate=1e-3)
    p1, state = opt.step(p, g1, opt.init(p))
    m1 = f32(1 - 0.9) * g1 + f32(0.9) * np.zeros(3, f32)
    np.testing.assert_array_equal(state["slots"][0]["m"], m1)
    np.testing.assert_array_equal(p1, p + f32(-1e-3) * np.sign(m1))
    p2, state = opt.step(p1, g2, state)
    m2 = f32(1 - 0.9) * g2 + f32(0.9) * m1
    np.testing.assert_array_equal(state["slots"][0]["m"], m2)
    # the average still points the old way: sign(m2) = sign(m1) on the first two
    np.testing.assert_array_equal(p2, p1 + f32(-1e-3) * np.sign(m2))
    np.testing.assert_array_equal(np.sign(m2[:2]), np.sign(m1[:2]))


def test_no_bias_correction():
    """The first EMA is 0.1*g, not g: the sign is the same, so the step is the full lr."""
    opt = eps_ref.optimizer("optax.signum", learning_rate=1e-3, beta=0.99)
    p = np.zeros(2, f32)
    g = np.array([1e-30, -5.0], f32)
    p1, state = opt.step(p, g, opt.init(p))
    np.testing.assert_array_equal(state["slots"][0]["m"], f32(1 - 0.99) * g)
    np.testing.assert_array_equal(p1, np.array([-1e-3, 1e-3], f32))


def test_signum_beta_zero_is_sign_sgd(rng):
    a = eps_ref.optimizer("optax.signum", learning_rate=1e-3, beta=0.0)
    b = eps_ref.optimizer("optax.sign_sgd", learning_rate=1e-3)
    p = rng.standard_normal((3, 4)).astype(f32)
    pa, sa, pb, sb = p, a.init(p), p, b.init(p)
    for _ in range(5):
        g = rng.standard_normal((3, 4)).astype(f32)
        pa, sa = a.step(pa, g, sa)
        pb, sb = b.step(pb, g, sb)
    np.testing.assert_array_equal(pa, pb)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer("optax.signum", learning_rate=1e-3, beta=1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer("optax.sign_sgd", learning_rate=-1.0)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.sign_sgd", learning_rate=lambda step: 1e-3)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.signum", learning_rate=1e-3, accumulator_dtype="bfloat16")
    with pytest.raises(ValueError):
        signum.init(np.zeros(2, f32), average="momentum")


@pytest.mark.parametrize("average", ["none", "ema"])
def test_inputs_not_mutated_and_array_api_strict(average, rng):
    xps = pytest.importorskip("array_api_strict")
    kw = dict(lr=1e-2, beta=0.9, average=average)
    p = rng.standard_normal(6).astype(f32)
    slots = signum.init(p, average=average)
    for t in range(1, 4):
        g = rng.standard_normal(6).astype(f32)
        g[0] = 0.0
        p0, g0 = p.copy(), g.copy()
        q, new = signum.step(p, g, slots, t=t, **kw)
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
        sq, snew = signum.step(xps.asarray(p), xps.asarray(g),
                               {k: xps.asarray(v) for k, v in slots.items()}, t=t, **kw)
        np.testing.assert_array_equal(np.asarray(sq), q)
        for k in new:
            np.testing.assert_array_equal(np.asarray(snew[k]), new[k])
        p, slots = q, new

"""Rprop in the torch and optax dialects: step-size adaptation by hand, the sign-flip skip,
clamping, optax's one-step lag, purity, and array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.rprop import rprop

f32 = np.float32


def _run(name, p, grads, **kw):
    opt = eps_ref.optimizer(name, **kw)
    state = opt.init(p)
    out = []
    for g in grads:
        p, state = opt.step(p, np.asarray(g, f32), state)
        out.append(p)
    return out, state["slots"][0]


def test_torch_steps_by_hand():
    p = np.array([1.0, 1.0, 1.0, 1.0], f32)
    grads = [[1.0, 1.0, 1.0, 0.0], [2.0, -1.0, 0.0, 1.0], [3.0, -1.0, 1.0, 1.0]]
    out, slots = _run("torch.optim.Rprop", p, grads)
    lr, up, down = f32(1e-2), f32(1.2), f32(0.5)
    # step 1: no previous gradient, every element moves by lr against sign(g)
    np.testing.assert_array_equal(out[0], p - lr * np.sign(np.asarray(grads[0], f32)))
    # step 2: same sign grows (x1.2), flipped sign shrinks (x0.5) and does not move,
    # zero product keeps the size
    sizes2 = np.array([lr * up, lr * down, lr, lr], f32)
    expect2 = out[0] - np.array([1, 0, 0, 1], f32) * sizes2
    np.testing.assert_array_equal(out[1], expect2)
    # step 3: after a flip the stored gradient is 0, so the product is 0 (size kept)
    sizes3 = np.array([sizes2[0] * up, sizes2[1], sizes2[2], sizes2[3] * up], f32)
    np.testing.assert_array_equal(slots["step_size"], sizes3)
    np.testing.assert_array_equal(out[2], expect2 - np.sign(np.asarray(grads[2], f32)) * sizes3)
    np.testing.assert_array_equal(slots["prev"], np.asarray(grads[2], f32))


def test_torch_clamps_every_step_and_maximize():
    p = np.zeros(2, f32)
    out, slots = _run("torch.optim.Rprop", p, [[1.0, -1.0]] * 3, lr=100.0)
    np.testing.assert_array_equal(slots["step_size"], np.full(2, 50.0, f32))
    np.testing.assert_array_equal(out[0], np.array([-50.0, 50.0], f32))
    out, _ = _run("torch.optim.Rprop", p, [[1.0, -1.0]], maximize=True)
    np.testing.assert_array_equal(out[0], np.array([0.01, -0.01], f32))
    out, slots = _run("torch.optim.Rprop", p[:1], [[1.0], [-1.0]] * 10, lr=1e-5)
    assert slots["step_size"][0] == f32(1e-6)


def test_tiny_gradient_product_underflows_to_zero():
    """s = g*g_prev rounds in float32: 1e-30 * 1e-30 is 0, so the size is kept."""
    p = np.zeros(1, f32)
    _, slots = _run("torch.optim.Rprop", p, [[1e-30], [1e-30]])
    assert slots["step_size"][0] == f32(1e-2)


def test_optax_lags_one_step():
    p = np.array([1.0, 1.0, 1.0], f32)
    grads = [[1.0, 1.0, 0.0], [2.0, -1.0, 1.0], [3.0, 1.0, 1.0]]
    out, slots = _run("optax.rprop", p, grads, learning_rate=1e-2)
    lr = f32(1e-2)
    np.testing.assert_array_equal(out[0], p)                      # first step: no move
    # step 2 applies step 1's signed steps, except where the sign flipped
    np.testing.assert_array_equal(out[1], p - np.array([lr, 0, 0], f32))
    # the size is kept (unclamped) where the product is zero
    np.testing.assert_array_equal(slots["step_size"],
                                  np.array([lr * f32(1.2) * f32(1.2), lr * f32(0.5), lr * f32(1.2)],
                                           f32))
    # optax does not clamp where s == 0: the first step keeps a size above the maximum
    _, slots = _run("optax.rprop", np.zeros(1, f32), [[1.0]], learning_rate=100.0)
    assert slots["step_size"][0] == f32(100.0)


def test_validation():
    with pytest.raises(ValueError, match="eta"):
        eps_ref.optimizer("torch.optim.Rprop", etas=(1.5, 1.2))
    with pytest.raises(ValueError, match="learning rate"):
        eps_ref.optimizer("torch.optim.Rprop", lr=-1.0)
    with pytest.raises(ValueError):
        rprop.init(np.zeros(1, f32), lr=1e-2, form="paper")


@pytest.mark.parametrize("form", ["torch", "optax"])
def test_inputs_not_mutated_and_array_api_strict(form, rng):
    xps = pytest.importorskip("array_api_strict")
    kw = dict(lr=1e-2, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
              max_step_size=50.0, form=form)
    p = rng.standard_normal(6).astype(f32)
    slots = rprop.init(p, lr=1e-2, form=form)
    for i in range(4):
        g = np.sign(rng.standard_normal(6)).astype(f32) * f32(0.1)
        p0, g0 = p.copy(), g.copy()
        before = {k: v.copy() for k, v in slots.items()}
        q, new = rprop.step(p, g, slots, t=i + 1, **kw)
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
        for k in slots:
            np.testing.assert_array_equal(slots[k], before[k])
        sq, snew = rprop.step(xps.asarray(p), xps.asarray(g),
                              {k: xps.asarray(v) for k, v in slots.items()}, t=i + 1, **kw)
        np.testing.assert_array_equal(np.asarray(sq), q)
        for k in new:
            np.testing.assert_array_equal(np.asarray(snew[k]), new[k])
        p, slots = q, new

"""optax.yogi: the additive sign rule v - (1-b2) sign(v - g^2) g^2, moments starting at
1e-6, eps = 1e-3 outside the corrected root; first steps by hand, limits, purity,
namespaces. Framework-free."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import yogi as yogi_module

f32 = np.float32
NAME = "optax.yogi"
P0 = np.array([[1.0, -2.0, 0.5, 0.0], [3.0, 0.25, -1.0, 2.0]], dtype=f32)
G = np.array([[0.5, -0.25, 2.0, 0.0], [1e-10, -1e3, 1e-4, 1e-3]], dtype=f32)
KW = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-3)


def _run(steps, p0=P0, g=G, **kw):
    opt = eps_ref.optimizer(NAME, **{"learning_rate": 1e-3, **kw})
    p, state = p0, opt.init(p0)
    for _ in range(steps):
        p, state = opt.step(p, g, state)
    return np.asarray(p), state


def _reciprocal_correction(beta):
    return f32(1) / (f32(1) - f32(beta))


def test_first_step_by_hand():
    init = np.full_like(G, f32(1e-6))
    m = f32(0.1) * G + f32(0.9) * init
    v = init - (f32(0.001) * np.sign(init - G * G)) * (G * G)
    u = (m * _reciprocal_correction(0.9)) / (
        np.sqrt(v * _reciprocal_correction(0.999)) + f32(1e-3))
    p, state = _run(1)
    np.testing.assert_array_equal(p, P0 + f32(-1e-3) * u)
    np.testing.assert_array_equal(state["slots"][0]["v"], v)


def test_sign_rule():
    """v rises by (1-b2) g^2 when g^2 > v, falls by it when g^2 < v, stays when equal."""
    g = np.array([1.0, 0.1, 0.5, 0.0], dtype=f32)
    slots = {"m": np.zeros(4, f32), "v": np.array([0.5, 0.5, 0.25, 0.5], dtype=f32)}
    _, new = yogi_module.step(np.zeros(4, f32), g, slots, t=3, **KW)
    g2 = g * g
    want = np.array([0.5 + f32(0.001) * g2[0], 0.5 - f32(0.001) * g2[1], 0.25, 0.5], f32)
    np.testing.assert_array_equal(new["v"], want)
    assert new["v"][0] > 0.5 > new["v"][1]


def test_zero_gradient_still_moves_by_the_initial_accumulator():
    """m starts at 1e-6, not 0: a zero gradient steps by -lr * 9e-6 / (sqrt(1e-3) + 1e-3)
    at t = 1, and v never decays (sign(v - 0) g^2 = 0)."""
    z = np.zeros((1, 3), dtype=f32)
    p, state = _run(1, z, z)
    np.testing.assert_allclose(p, -1e-3 * 9e-6 / (1e-3 ** 0.5 + 1e-3), rtol=1e-5)
    np.testing.assert_array_equal(state["slots"][0]["v"], np.full_like(z, f32(1e-6)))
    _, state = _run(40, z, z)
    np.testing.assert_array_equal(state["slots"][0]["v"], np.full_like(z, f32(1e-6)))


def test_large_eps_damps_small_gradients():
    """eps=1e-3 outside the root: a 1e-4 gradient steps far less than lr; with eps=1e-8
    (Adam's) about lr."""
    g = np.full((1, 2), 1e-2, dtype=f32)
    p0 = np.zeros((1, 2), dtype=f32)
    default, _ = _run(1, p0, g)
    adam_like, _ = _run(1, p0, g, eps=1e-8)
    assert np.all(-default < 0.3e-3)
    assert np.all(-adam_like > 0.3e-3)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, eps=-1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, b1=1.5)
    with pytest.raises(TypeError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, eps_root=1e-8)   # not in alias.yogi


def test_inputs_not_mutated_and_namespaces():
    import array_api_strict as xps
    p0, g = P0.copy(), G.copy()
    want, _ = _run(5, p0, g)
    np.testing.assert_array_equal(p0, P0)
    np.testing.assert_array_equal(g, G)
    opt = eps_ref.optimizer(NAME, learning_rate=1e-3)
    p, state = xps.asarray(P0), opt.init(xps.asarray(P0))
    for _ in range(5):
        p, state = opt.step(p, xps.asarray(G), state)
    np.testing.assert_array_equal(np.asarray(p), want)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    want, _ = _run(5)
    opt = eps_ref.optimizer(NAME, learning_rate=1e-3)
    p, state = torch.asarray(P0), opt.init(torch.asarray(P0))
    for _ in range(5):
        p, state = opt.step(p, torch.asarray(G), state)
    np.testing.assert_array_equal(p.numpy(), want)

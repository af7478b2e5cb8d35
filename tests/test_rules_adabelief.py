"""optax.adabelief: the belief s = b2*s + (1-b2)*(g-m)^2 + eps_root, eps_root stored in the
state, eps outside the corrected root; first steps by hand, limits, purity, namespaces.
Framework-free."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import adabelief as adabelief_module

f32 = np.float32
NAME = "optax.adabelief"
P0 = np.array([[1.0, -2.0, 0.5, 0.0], [3.0, 0.25, -1.0, 2.0]], dtype=f32)
G = np.array([[0.5, -0.25, 2.0, 0.0], [1e-10, -1e3, 0.0, 1e-3]], dtype=f32)


def _run(steps, p0=P0, g=G, **kw):
    opt = eps_ref.optimizer(NAME, **{"learning_rate": 1e-3, **kw})
    p, state = p0, opt.init(p0)
    for _ in range(steps):
        p, state = opt.step(p, g, state)
    return np.asarray(p), state


def _reciprocal_correction(beta, t=1):
    return f32(1) / (f32(1) - f32(f32(beta) ** t))


def test_first_step_by_hand_with_eps_root():
    m = f32(0.1) * G
    d = G - m
    s = (f32(0.001) * (d * d) + f32(0.999) * np.zeros_like(G)) + f32(1e-16)
    m_hat = m * _reciprocal_correction(0.9)
    s_hat = s * _reciprocal_correction(0.999)
    want = P0 + f32(-1e-3) * (m_hat / (np.sqrt(s_hat) + f32(1e-16)))
    p, state = _run(1)
    np.testing.assert_array_equal(p, want)
    np.testing.assert_array_equal(state["slots"][0]["s"], s)


def test_first_step_is_lr_over_b1_not_lr():
    """g - m_1 = b1 g, so sqrt(s_hat_1) = b1 |g| and the first step is lr / b1 = 1.11 lr
    (Adam's is lr)."""
    p, _ = _run(1, p0=np.zeros_like(P0))
    big = np.abs(G) > 1e-3
    np.testing.assert_allclose(np.abs(p)[big], 1e-3 / 0.9, rtol=1e-5)


def test_eps_root_accumulates_in_the_state():
    """With zero gradients s_t = eps_root (1 - b2^t) / (1 - b2), not eps_root."""
    z = np.zeros_like(G)
    p, state = _run(50, g=z)
    want = 1e-16 * (1 - 0.999 ** 50) / 0.001
    np.testing.assert_allclose(state["slots"][0]["s"], want, rtol=1e-5)
    np.testing.assert_array_equal(p, P0)


def test_eps_root_bounds_the_step_for_tiny_gradients():
    """A 1e-10 gradient: sqrt(s_hat) = 0.9e-10 plus eps_root's 3.2e-7 inside the root."""
    tiny = np.full((1, 2), 1e-10, dtype=f32)
    p0 = np.zeros((1, 2), dtype=f32)
    with_root, _ = _run(1, p0, tiny)
    without, _ = _run(1, p0, tiny, eps_root=0.0)
    np.testing.assert_allclose(-without, 1e-3 / 0.9, rtol=1e-5)
    assert np.all(-with_root < 1e-6)


def test_paper_eps_outside():
    """eps=1 outside the root shrinks every step below lr * |g| / (b1 |g| + 1)."""
    p, _ = _run(1, eps=1.0, eps_root=0.0)
    assert np.all(np.abs(p - P0) <= 1e-3 * np.abs(G) / (0.9 * np.abs(G) + 1) * 1.001)


def test_nesterov_first_step_by_hand():
    m = f32(0.1) * G
    d = G - m
    s = (f32(0.001) * (d * d)) + f32(1e-16)
    m_hat = f32(0.9) * (m * _reciprocal_correction(0.9, 2)) + f32(0.1) * (
        G * _reciprocal_correction(0.9, 1))
    want = P0 + f32(-1e-3) * (m_hat / (np.sqrt(s * _reciprocal_correction(0.999))
                                       + f32(1e-16)))
    np.testing.assert_array_equal(_run(1, nesterov=True)[0], want)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=-1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, b2=1.0)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer(NAME, learning_rate=lambda t: 1e-3)
    with pytest.raises(ValueError):
        adabelief_module.step(P0, G, adabelief_module.init(P0), t=1, lr=1e-3, beta1=0.9,
                              beta2=0.999, eps=1e-16, eps_root=1e-16, momentum_estimate="x")


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

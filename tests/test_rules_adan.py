"""optax.adan: gradient differences (0 at step 1), three moments, eps outside and
eps_root = 1e-8 inside the corrected root, weight decay added before the learning rate;
first steps by hand, limits, purity, namespaces. Framework-free."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import adan as adan_module

f32 = np.float32
NAME = "optax.adan"
P0 = np.array([[1.0, -2.0, 0.5, 0.0], [3.0, 0.25, -1.0, 2.0]], dtype=f32)
G = np.array([[0.5, -0.25, 2.0, 0.0], [1e-10, -1e3, 1e-4, 1e-3]], dtype=f32)
G2 = np.array([[0.25, 0.25, -2.0, 1.0], [0.0, 1e3, 1e-4, 0.0]], dtype=f32)


def _run(steps, p0=P0, grads=(G,), **kw):
    opt = eps_ref.optimizer(NAME, **{"learning_rate": 1e-3, **kw})
    p, state = p0, opt.init(p0)
    for k in range(steps):
        p, state = opt.step(p, grads[k % len(grads)], state)
    return np.asarray(p), state


def _rc(beta, t=1):
    """optax's jitted bias correction multiplies by the rounded reciprocal."""
    return f32(1) / (f32(1) - f32(np.float64(f32(beta)) ** t))


def test_first_step_by_hand_difference_is_zero():
    """Step 1: g_prev does not exist, the difference is 0, so v_1 = 0 and n_1 = (1-b3) g^2:
    the step is m_hat / (sqrt(g^2 + eps_root) + eps), about lr * sign(g)."""
    m = f32(0.02) * G
    n = f32(0.01) * (G * G)
    u = (m * _rc(0.98) + f32(0.08) * (np.zeros_like(G) * _rc(0.92))) / (
        np.sqrt(n * _rc(0.99) + f32(1e-8)) + f32(1e-8))
    p, state = _run(1)
    np.testing.assert_array_equal(p, P0 + f32(-1e-3) * u)
    slots = state["slots"][0]
    np.testing.assert_array_equal(slots["v"], np.zeros_like(G))
    np.testing.assert_array_equal(slots["g_prev"], G)


def test_second_step_uses_the_difference():
    w1, w2, w3 = f32(0.02), f32(0.08), f32(0.01)
    m1, n1 = w1 * G, w3 * (G * G)
    d = G2 - G
    m = w1 * G2 + f32(0.98) * m1
    v = w2 * d + f32(0.92) * np.zeros_like(G)
    sq = G2 + w2 * d
    n = w3 * (sq * sq) + f32(0.99) * n1
    u = (m * _rc(0.98, 2) + w2 * (v * _rc(0.92, 2))) / (
        np.sqrt(n * _rc(0.99, 2) + f32(1e-8)) + f32(1e-8))
    p1, _ = _run(1)
    p2, _ = _run(2, grads=(G, G2))
    np.testing.assert_array_equal(p2, p1 + f32(-1e-3) * u)


def test_eps_root_dominates_eps_for_small_gradients():
    """sqrt(eps_root) = 1e-4 inside the root: a 1e-6 gradient steps by ~lr * 1e-2, not lr."""
    g = np.full((1, 2), 1e-6, dtype=f32)
    p0 = np.zeros((1, 2), dtype=f32)
    with_root, _ = _run(1, p0, (g,))
    without, _ = _run(1, p0, (g,), eps_root=0.0)
    np.testing.assert_allclose(-without, 1e-3 * 1e-6 / (1e-6 + 1e-8), rtol=1e-4)
    np.testing.assert_allclose(-with_root, 1e-3 * 1e-6 / ((1e-12 + 1e-8) ** 0.5 + 1e-8),
                               rtol=1e-4)


def test_weight_decay_is_added_before_the_learning_rate():
    z = np.zeros_like(G)
    p, _ = _run(1, grads=(z,), weight_decay=0.5)
    np.testing.assert_array_equal(p, P0 + f32(-1e-3) * (np.zeros_like(G) + f32(0.5) * P0))
    np.testing.assert_array_equal(_run(3, grads=(z,))[0], P0)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, b3=1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, weight_decay=-0.1)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, mask=lambda p: p)


def test_inputs_not_mutated_and_namespaces():
    import array_api_strict as xps
    p0, g, g2 = P0.copy(), G.copy(), G2.copy()
    want, _ = _run(5, p0, (g, g2), weight_decay=0.01)
    for a, b in ((p0, P0), (g, G), (g2, G2)):
        np.testing.assert_array_equal(a, b)
    opt = eps_ref.optimizer(NAME, learning_rate=1e-3, weight_decay=0.01)
    p, state = xps.asarray(P0), opt.init(xps.asarray(P0))
    for k in range(5):
        p, state = opt.step(p, xps.asarray((G, G2)[k % 2]), state)
    np.testing.assert_array_equal(np.asarray(p), want)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    want, _ = _run(5, grads=(G, G2))
    opt = eps_ref.optimizer(NAME, learning_rate=1e-3)
    p, state = torch.asarray(P0), opt.init(torch.asarray(P0))
    for k in range(5):
        p, state = opt.step(p, torch.asarray((G, G2)[k % 2]), state)
    np.testing.assert_array_equal(p.numpy(), want)

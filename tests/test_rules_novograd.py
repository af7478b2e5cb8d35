"""optax.novograd: one scalar second moment per array from its squared norm, eps outside
its root, no bias correction, XLA:CPU's FMAs; first steps by hand, limits, purity,
namespaces. Framework-free."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import novograd as novograd_module
from eps_ref.rules._numerics import fma
from eps_ref.rules.novograd import squared_norm

f32 = np.float32
NAME = "optax.novograd"
P0 = np.array([[1.0, -2.0, 0.5, 0.0], [3.0, 0.25, -1.0, 2.0]], dtype=f32)
G = np.array([[0.5, -0.25, 2.0, 0.0], [1e-10, -3.0, 1e-4, 1e-3]], dtype=f32)
G2 = np.array([[0.25, 0.25, -2.0, 1.0], [0.0, 1.0, 1e-4, 0.0]], dtype=f32)
KW = dict(lr=1e-3, beta1=0.9, beta2=0.25, eps=1e-6)


def _run(steps, p0=P0, grads=(G,), **kw):
    opt = eps_ref.optimizer(NAME, **{"learning_rate": 1e-3, **kw})
    p, state = p0, opt.init(p0)
    for k in range(steps):
        p, state = opt.step(p, grads[k % len(grads)], state)
    return np.asarray(p), state


def test_squared_norm_sums_row_major_with_fma():
    s = f32(0)
    for x in G.reshape(-1):
        s = fma(np.asarray(x), np.asarray(x), np.asarray(s))
    root = f32(np.sqrt(np.float64(s)))
    assert squared_norm(G) == root * root
    assert squared_norm(G, "separate") == pytest.approx(float(np.sum(np.float64(G) ** 2)),
                                                        rel=1e-6)


def test_first_step_by_hand():
    """nu_1 = |g_1|^2 and m_1 = g / (sqrt(nu_1) + eps): a step of lr * g / |g| (no
    1 - beta factors, no bias correction)."""
    nu = squared_norm(G)
    r = f32(1) / (f32(np.sqrt(np.float64(nu))) + f32(1e-6))
    m = fma(G, np.full_like(G, r), f32(0.0) * P0)
    p, state = _run(1)
    np.testing.assert_array_equal(p, P0 + f32(-1e-3) * m)
    np.testing.assert_array_equal(state["slots"][0]["nu"], nu)
    np.testing.assert_allclose(m, G / np.linalg.norm(np.float64(G)), rtol=1e-5)


def test_second_step_by_hand():
    nu1, nu2 = squared_norm(G), squared_norm(G2)
    nu = fma(np.asarray(nu2), np.asarray(f32(0.75)), f32(0.25) * nu1)
    r1 = f32(1) / (f32(np.sqrt(np.float64(nu1))) + f32(1e-6))
    r2 = f32(1) / (f32(np.sqrt(np.float64(nu))) + f32(1e-6))
    wd = f32(0.01)
    m1 = fma(G, np.full_like(G, r1), wd * P0)
    p1 = P0 + f32(-1e-3) * m1
    m2 = fma(m1, np.full_like(m1, f32(0.9)), fma(G2, np.full_like(G2, r2), wd * p1))
    p2, state = _run(2, grads=(G, G2), weight_decay=0.01)
    np.testing.assert_array_equal(p2, p1 + f32(-1e-3) * m2)
    np.testing.assert_array_equal(state["slots"][0]["nu"], nu)


def test_layer_wise_scale_dwarfs_small_elements():
    """The 1e-4 element shares the array's norm: it moves by ~lr * 1e-4 / |g| (Adam: lr)."""
    p, _ = _run(1, p0=np.zeros_like(P0))
    assert abs(p[1, 2]) < 1e-3 * 1e-4
    assert abs(p[1, 1]) > 0.5e-3


def test_eps_only_matters_for_an_all_small_array():
    tiny = np.full((1, 4), 1e-8, dtype=f32)
    z = np.zeros((1, 4), dtype=f32)
    p, _ = _run(1, p0=z, grads=(tiny,))
    np.testing.assert_allclose(-p, 1e-3 * 1e-8 / (2e-8 + 1e-6), rtol=1e-4)
    p, _ = _run(3, p0=z, grads=(z,))
    np.testing.assert_array_equal(p, z)


def test_separate_arithmetic_is_close_but_not_identical():
    slots = novograd_module.init(P0)
    a, _ = novograd_module.step(P0, G, slots, t=1, weight_decay=0.1, **KW)
    b, _ = novograd_module.step(P0, G, slots, t=1, weight_decay=0.1, multiply_add="separate",
                                **KW)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError):
        novograd_module.step(P0, G, slots, t=1, multiply_add="other", **KW)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, b2=1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, eps=-1e-6)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer(NAME, learning_rate=1e-3, weight_decay=lambda t: 0.1)


def test_inputs_not_mutated_and_namespaces():
    import array_api_strict as xps
    p0, g, g2 = P0.copy(), G.copy(), G2.copy()
    want, _ = _run(4, p0, (g, g2), weight_decay=0.01)
    for a, b in ((p0, P0), (g, G), (g2, G2)):
        np.testing.assert_array_equal(a, b)
    opt = eps_ref.optimizer(NAME, learning_rate=1e-3, weight_decay=0.01)
    p, state = xps.asarray(P0), opt.init(xps.asarray(P0))
    for k in range(4):
        p, state = opt.step(p, xps.asarray((G, G2)[k % 2]), state)
    np.testing.assert_array_equal(np.asarray(p), want)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    want, _ = _run(4, grads=(G, G2))
    opt = eps_ref.optimizer(NAME, learning_rate=1e-3)
    p, state = torch.asarray(P0), opt.init(torch.asarray(P0))
    for k in range(4):
        p, state = opt.step(p, torch.asarray((G, G2)[k % 2]), state)
    np.testing.assert_array_equal(p.numpy(), want)

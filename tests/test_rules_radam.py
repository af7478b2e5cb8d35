"""The RAdam family (torch.optim.RAdam, optax.radam): the rectification, its threshold and
where eps enters. Framework-free."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import _roots
from eps_ref.rules import radam as radam_module
from eps_ref.rules._numerics import fma
from eps_ref.rules.radam import binary_power, radam, rho

f32 = np.float32
SPECS = ["torch.optim.RAdam", "optax.radam"]
LR = {"optax.radam": {"learning_rate": 1e-3}}
P0 = np.array([1.0, -2.0, 0.5, 0.0], dtype=f32)
G = np.array([0.5, -0.25, 2.0, 0.0], dtype=f32)


def _run(name, steps, p0=P0, g=G, **kw):
    opt = eps_ref.optimizer(name, **{**LR.get(name, {}), **kw})
    p, state = p0, opt.init(p0)
    for _ in range(steps):
        p, state = opt.step(p, g, state)
    return np.asarray(p)


def test_rho_and_threshold_step():
    rho_inf, _ = rho(1, 0.999)
    assert rho_inf == pytest.approx(1999.0)
    first = [t for t in range(1, 20) if rho(t, 0.999)[1] > 5][0]
    assert first == 6
    first32 = [t for t in range(1, 20) if rho(t, 0.999, "optax")[1] >= 5][0]
    assert first32 == 6


def test_binary_power_flushes_subnormals():
    assert binary_power(0.999, 1) == float(f32(0.999))
    assert binary_power(0.9, 900) == 0.0
    assert binary_power(0.5, 3) == 0.125


@pytest.mark.parametrize("name,key", [("torch.optim.RAdam", "eps"), ("optax.radam", "eps")])
def test_eps_plays_no_part_before_rectification(name, key):
    """Steps 1..5 are SGD with bias-corrected momentum: eps does not enter."""
    np.testing.assert_array_equal(_run(name, 5), _run(name, 5, **{key: 1.0}))
    assert not np.array_equal(_run(name, 6), _run(name, 6, **{key: 1.0}))


def test_torch_first_step_by_hand():
    m = G * f32(0.1)
    want = P0 - (m / f32(1 - 0.9)) * f32(1e-3)
    np.testing.assert_array_equal(_run("torch.optim.RAdam", 1), want)


def test_torch_foreach_steps_by_hand():
    """``_multi_tensor_radam``: one multiplier b per element, p + m*b in one FMA; before the
    rectification b = 1/((sqrt(v)+eps)/-0.0) + u = u = -lr/(1-b1^t)."""
    m = G * f32(0.1)
    want = fma(m, np.full(4, f32(-1e-3 / (1 - 0.9))), P0)
    np.testing.assert_array_equal(_run("torch.optim.RAdam", 1, foreach=True), want)
    rng = np.random.default_rng(0)
    p0, g = rng.standard_normal((2, 64)).astype(f32)
    assert not np.array_equal(_run("torch.optim.RAdam", 3, p0, g, foreach=True),
                              _run("torch.optim.RAdam", 3, p0, g))
    # after it: b = 1 / ((sqrt(v) + eps) / s), s = -sqrt(1-b2^t) lr r_t / (1-b1^t)
    opt = eps_ref.optimizer("torch.optim.RAdam", foreach=True)
    p, state = P0, opt.init(P0)
    for _ in range(5):
        p, state = opt.step(p, G, state)
    m, v = state["slots"][0]["m"], state["slots"][0]["v"]
    m6 = fma(np.full(4, f32(0.1)), G - m, m)
    v6 = fma(f32(0.001) * G, G, v * f32(0.999))
    rho_inf, rho_t = rho(6, 0.999)
    r = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    s = f32((1 - 0.999 ** 6) ** 0.5 * (1e-3 * r / (1 - 0.9 ** 6)) * -1)
    root = _roots.sqrt(v6, "mkl_goldschmidt_rsqrtps") + f32(1e-8)
    want = fma(m6, f32(1) / (root / s), p)
    got, _ = opt.step(p, G, state)
    np.testing.assert_array_equal(got, want)


def test_torch_foreach_divides_by_minus_zero():
    """With eps = 0 a zero gradient gives 0 / -0.0 = NaN before the rectification (torch
    does the same); the single-tensor path steps by 0 there."""
    got = _run("torch.optim.RAdam", 1, foreach=True, eps=0.0)
    assert np.isnan(got[3]) and np.isfinite(got[:3]).all()
    assert _run("torch.optim.RAdam", 1, eps=0.0)[3] == 0.0


def test_optax_first_step_by_hand():
    m = f32(0.1) * G
    m_hat = m * (f32(1) / (f32(1) - f32(0.9)))
    want = P0 + f32(-1e-3) * m_hat
    np.testing.assert_array_equal(_run("optax.radam", 1), want)


def test_optax_threshold():
    """A threshold above rho_inf never rectifies: plain momentum SGD throughout."""
    a = _run("optax.radam", 8, threshold=1e6)
    b = _run("optax.radam", 8, threshold=1e6, eps=1.0)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,kw", [(name, {}) for name in SPECS]
                         + [("torch.optim.RAdam", {"foreach": True})])
def test_inputs_not_mutated_and_strict(name, kw):
    import array_api_strict as xps
    p0, g = P0.copy(), G.copy()
    want = _run(name, 8, p0, g, **kw)
    np.testing.assert_array_equal(p0, P0)
    np.testing.assert_array_equal(g, G)
    opt = eps_ref.optimizer(name, **LR.get(name, {}), **kw)
    p, state = xps.asarray(P0), opt.init(xps.asarray(P0))
    for _ in range(8):
        p, state = opt.step(p, xps.asarray(G), state)
    np.testing.assert_array_equal(np.asarray(p), want)


def test_torch_options():
    up, down = _run("torch.optim.RAdam", 7, maximize=True), _run("torch.optim.RAdam", 7, g=-G)
    np.testing.assert_array_equal(up, down)
    assert not np.array_equal(_run("torch.optim.RAdam", 7, weight_decay=0.1),
                              _run("torch.optim.RAdam", 7, weight_decay=0.1,
                                   decoupled_weight_decay=True))
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("torch.optim.RAdam", capturable=True)
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.RAdam", betas=(0.9, 1.0))
    with pytest.raises(ValueError):
        radam_module.step(P0, G, radam.init(P0), t=1, lr=1e-3, beta1=0.9, beta2=0.999,
                          eps=1e-8, arithmetic="other")

"""ASGD in the torch dialect: the eta/mu schedules, the decay term, the averaging start,
the fused multiply-adds, purity, and array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import _roots
from eps_ref.rules._numerics import fma
from eps_ref.rules.asgd import asgd, schedule

f32 = np.float32


def _optimizer(**kwargs):
    return eps_ref.optimizer("torch.optim.ASGD", **kwargs)


def test_schedule_rounds_to_float32():
    assert schedule(1, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6) == (float(f32(1e-2)), 1.0)
    eta, mu = schedule(5, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6)
    assert eta == float(f32(1e-2 / (1 + 1e-4 * 1e-2 * 4.0) ** 0.75)) and mu == 1.0
    _, mu = schedule(14, lr=1e-2, lambd=1e-4, alpha=0.75, t0=10.0)
    assert mu == float(f32(1 / 3))


def test_first_steps_by_hand():
    p = np.array([1.0, -2.0, 0.5], f32)
    g = np.array([0.3, 0.0, -4.0], f32)
    opt = _optimizer()
    p1, state = opt.step(p, g, opt.init(p))
    eta = f32(1e-2)
    decayed = p * f32(1 - 1e-4 * float(eta))
    np.testing.assert_array_equal(p1, fma(g, -eta, decayed))
    np.testing.assert_array_equal(state["slots"][0]["ax"], p1)   # mu = 1: ax copies p
    # the decay term moves the parameter even where the gradient is zero
    assert p1[1] != p[1]


def test_averaging_starts_after_t0():
    p = np.array([1.0, -1.0], f32)
    opt = _optimizer(t0=2.0)
    state = opt.init(p)
    params = []
    for _ in range(5):
        p, state = opt.step(p, np.array([0.5, -0.25], f32), state)
        params.append(p)
    ax = state["slots"][0]["ax"]
    # steps 1-3 use mu = 1 (copy); step 4 mu = 1/max(1, 3-2) = 1 (copy); step 5 mu = 1/2
    expect = params[3] + (params[4] - params[3]) * f32(0.5)
    np.testing.assert_array_equal(ax, expect)


def test_foreach_schedule_is_float32_tensor_arithmetic():
    """``_multi_tensor_asgd``: eta from the float32 step count, each op rounded."""
    lr, lambd, alpha = 1e-2, 0.1, 0.75
    x = f32(f32(1) + f32(lambd * lr) * f32(6))
    want = f32(f32(f32(1) / f32(float(x) ** alpha)) * f32(lr))
    eta, _ = schedule(7, lr=lr, lambd=lambd, alpha=alpha, t0=1e6, arithmetic="torch_cpu_foreach")
    assert eta == float(want)
    # ** 0.5 is torch.sqrt (MKL): 1.006 is one of the inputs where it rounds up
    eta, _ = schedule(7, lr=lr, lambd=lambd, alpha=0.5, t0=1e6, arithmetic="torch_cpu_foreach")
    x = f32(f32(1) + f32(lambd * lr) * f32(6))
    assert eta != float(f32(f32(f32(1) / np.sqrt(x)) * f32(lr)))
    assert eta == float(f32(f32(f32(1) / _roots.sqrt(np.array([x]), "mkl_goldschmidt_rsqrtps")[0])
                            * f32(lr)))
    # the float64 schedule of the single-tensor path rounds apart on some steps
    assert any(schedule(t, lr=lr, lambd=lambd, alpha=alpha, t0=1e6)
               != schedule(t, lr=lr, lambd=lambd, alpha=alpha, t0=1e6,
                           arithmetic="torch_cpu_foreach") for t in range(2, 50))


def test_foreach_folds_the_decay_into_the_gradient():
    p = np.array([1.0, -2.0, 0.5], f32)
    g = np.array([0.3, 0.0, -4.0], f32)
    opt = _optimizer(foreach=True, lambd=0.1, t0=0.0)
    p1, state = opt.step(p, g, opt.init(p))
    eta = f32(1e-2)
    np.testing.assert_array_equal(p1, fma(-fma(p, f32(0.1), g), eta, p))
    g2 = np.array([0.1, 0.2, -0.3], f32)
    p2, state = opt.step(p1, g2, state)
    eta2 = f32(schedule(2, lr=1e-2, lambd=0.1, alpha=0.75, t0=0.0,
                        arithmetic="torch_cpu_foreach")[0])
    np.testing.assert_array_equal(p2, fma(-fma(p1, f32(0.1), g2), eta2, p1))
    # the average moves by one FMA with mu = 1 too: ax + (p - ax) * 1, not a copy
    np.testing.assert_array_equal(state["slots"][0]["ax"], fma(p2 - p1, f32(1), p1))


def test_weight_decay_and_maximize():
    p = np.array([1.0, -2.0], f32)
    g = np.array([0.5, 0.5], f32)
    opt = _optimizer(weight_decay=0.1, maximize=True, lambd=0.0)
    p1, _ = opt.step(p, g, opt.init(p))
    gg = fma(p, f32(0.1), -g)
    np.testing.assert_array_equal(p1, fma(gg, -f32(1e-2), p * f32(1.0)))


def test_validation():
    with pytest.raises(ValueError, match="learning rate"):
        _optimizer(lr=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        _optimizer(weight_decay=-1.0)
    with pytest.raises(NotImplementedError):
        _optimizer(capturable=True)


@pytest.mark.parametrize("arithmetic", ["torch_cpu", "torch_cpu_foreach"])
def test_inputs_not_mutated_and_array_api_strict(rng, arithmetic):
    xps = pytest.importorskip("array_api_strict")
    kw = dict(lr=1e-2, lambd=0.1, alpha=0.5, t0=1.0, weight_decay=0.01, arithmetic=arithmetic)
    p = rng.standard_normal(6).astype(f32)
    slots = asgd.init(p)
    for t in range(1, 5):
        g = rng.standard_normal(6).astype(f32)
        p0, g0, a0 = p.copy(), g.copy(), slots["ax"].copy()
        q, new = asgd.step(p, g, slots, t=t, **kw)
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
        np.testing.assert_array_equal(slots["ax"], a0)
        sq, snew = asgd.step(xps.asarray(p), xps.asarray(g), {"ax": xps.asarray(slots["ax"])},
                             t=t, **kw)
        np.testing.assert_array_equal(np.asarray(sq), q)
        np.testing.assert_array_equal(np.asarray(snew["ax"]), new["ax"])
        p, slots = q, new

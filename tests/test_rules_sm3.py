"""SM3 in the optax dialect (optax.sm3): hand-computed first steps, the per-axis cover
accumulators, the paper's upper-bound guarantee, the 1-D limit (Adagrad), zero gradients,
validation, purity, array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules._roots import rsqrt
from eps_ref.rules.sm3 import accumulator, cover_accumulators, sm3

f32 = np.float32
KW = dict(lr=1e-3, beta1=0.9, beta2=1.0, eps=1e-8, rsqrt_method="one_over_sqrt")


def _run(p, grads, **kw):
    slots = sm3.init(p)
    for t, g in enumerate(grads, 1):
        p, slots = sm3.step(p, g, slots, t=t, **kw)
    return p, slots


def test_slots_are_one_vector_per_axis():
    slots = sm3.init(np.zeros((4, 16), f32))
    assert {k: v.shape for k, v in slots.items()} == {"mu_0": (4,), "mu_1": (16,),
                                                      "nu": (4, 16)}
    assert sm3.init(np.zeros((2, 3, 5), f32))["mu_2"].shape == (5,)


def test_first_step_by_hand():
    p = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], f32)
    g = np.array([[0.5, -4.0, 0.0], [1e-3, 2.0, -0.25]], f32)
    opt = eps_ref.optimizer("optax.sm3", learning_rate=1e-2)
    p1, state = opt.step(p, g, opt.init(p))
    s = state["slots"][0]
    nu = g * g                              # every accumulator starts at 0
    inv = np.where(nu > 0, rsqrt(nu + f32(1e-8), "xla_rsqrtps_newton_fma"), f32(0))
    m = f32(1 - 0.9) * (g * inv) + f32(0.9) * np.zeros_like(g)
    np.testing.assert_array_equal(s["nu"], m)
    np.testing.assert_array_equal(p1, p + f32(-1e-2) * m)
    np.testing.assert_array_equal(s["mu_0"], nu.max(axis=1))   # row maxima
    np.testing.assert_array_equal(s["mu_1"], nu.max(axis=0))   # column maxima
    # a zero gradient with a zero accumulator gives u = 0 (0/0 = 0), not NaN
    assert p1[0, 2] == p[0, 2]


def test_second_step_takes_min_of_row_and_column():
    g1 = np.array([[3.0, 0.0], [0.0, 1.0]], f32)
    g2 = np.ones((2, 2), f32)
    _, s1 = _run(np.zeros((2, 2), f32), [g1], **KW)
    covers = cover_accumulators(s1, (2, 2))
    nu2 = accumulator(g2, covers)
    # rows hold (9, 1), columns (9, 1): min over the cover of each coordinate
    np.testing.assert_array_equal(nu2, np.array([[10.0, 2.0], [2.0, 2.0]], f32))


def test_accumulator_bounds_each_sum_of_squares(rng):
    """Anil et al. 2019, Prop. 2: nu_t(i) >= sum_s g_s(i)^2 (beta2 = 1), checked in
    float64 so that no rounding blurs the inequality."""
    p = np.zeros((4, 6, 3))
    grads = [rng.standard_normal(p.shape) * 10.0 ** rng.integers(-3, 2, p.shape)
             for _ in range(20)]
    slots = sm3.init(p)
    total = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        nu = accumulator(g, cover_accumulators(slots, p.shape))
        p, slots = sm3.step(p, g, slots, t=t, **KW)
        total = total + g * g
        assert np.all(nu >= total * (1 - 1e-12))
        for axis in range(3):   # each cover accumulator holds its slice's maximum
            others = tuple(a for a in range(3) if a != axis)
            np.testing.assert_array_equal(slots[f"mu_{axis}"], nu.max(axis=others))


def test_one_dimensional_is_adagrad_sum(rng):
    """A 1-D parameter's covers are singletons: nu is exactly the running sum of squares."""
    grads = [rng.standard_normal(5).astype(f32) for _ in range(6)]
    p, slots = _run(np.zeros(5, f32), grads, **KW)
    total = np.zeros(5, f32)
    for g in grads:
        total = total + g * g
    np.testing.assert_array_equal(slots["mu_0"], total)


def test_momentum_zero_steps_by_normalized_gradient():
    g = np.array([[2.0, -0.5]], f32)
    p1, _ = _run(np.zeros((1, 2), f32), [g], **{**KW, "beta1": 0.0, "eps": 0.0})
    np.testing.assert_array_equal(p1, f32(-1e-3) * np.sign(g))   # g / |g|


def test_eps_inside_the_root():
    g = np.array([[1e-5]], f32)
    p1, _ = _run(np.zeros((1, 1), f32), [g], **{**KW, "beta1": 0.0, "eps": 1e-3})
    expected = f32(-1e-3) * (g * (f32(1) / np.sqrt(g * g + f32(1e-3))))
    np.testing.assert_array_equal(p1, expected)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer("optax.sm3", learning_rate=1e-3, momentum=1.0)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.sm3", learning_rate=1e-3, momentum=None)
    with pytest.raises(ValueError, match="0-d"):
        sm3.init(np.zeros((), f32))
    with pytest.raises(ValueError):
        sm3.step(np.zeros(2, f32), np.ones(2, f32), sm3.init(np.zeros(2, f32)), t=1,
                 **{**KW, "rsqrt_method": "fast"})


@pytest.mark.parametrize("method", ["xla_rsqrtps_newton_fma", "one_over_sqrt"])
def test_inputs_not_mutated_and_array_api_strict(method, rng):
    xps = pytest.importorskip("array_api_strict")
    kw = {**KW, "rsqrt_method": method}
    p = rng.standard_normal((3, 4)).astype(f32)
    slots = sm3.init(p)
    for t in range(1, 4):
        g = (rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-6, 2, (3, 4))).astype(f32)
        g[0, 0] = 0.0
        p0, g0 = p.copy(), g.copy()
        s0 = {k: v.copy() for k, v in slots.items()}
        q, new = sm3.step(p, g, slots, t=t, **kw)
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
        for k in slots:
            np.testing.assert_array_equal(slots[k], s0[k])
        sq, snew = sm3.step(xps.asarray(p), xps.asarray(g),
                            {k: xps.asarray(v) for k, v in slots.items()}, t=t, **kw)
        np.testing.assert_array_equal(np.asarray(sq), q)
        for k in new:
            np.testing.assert_array_equal(np.asarray(snew[k]), new[k])
        p, slots = q, new

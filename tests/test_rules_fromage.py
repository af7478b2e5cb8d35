"""Fromage in the optax dialect (optax.fromage): hand-computed first step, the norm-
preserving 1/sqrt(1+lr^2) scaling, invariance to the gradient's scale, the min_norm floor,
XLA:CPU's row-major fused norm, validation, purity, array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.fromage import fromage, frobenius_norm, safe_norm, trust_ratio

f32 = np.float32
KW = dict(lr=1e-2, min_norm=1e-6, norm_method="xla_cpu_fused_fma")


def test_first_step_by_hand():
    p = np.array([[3.0, 0.0], [0.0, 4.0]], f32)       # |p| = 5
    g = np.array([[0.0, 0.5], [0.0, 0.0]], f32)       # |g| = 0.5: r = 10
    opt = eps_ref.optimizer("optax.fromage", learning_rate=1e-2)
    p1, _ = opt.step(p, g, opt.init(p))
    mult = 1 / (1 + 1e-2 ** 2) ** 0.5
    u = f32(-(1e-2 * mult)) * (g * f32(10.0)) + f32(mult - 1) * p
    np.testing.assert_array_equal(p1, p + u)


def test_norm_preserved_for_an_orthogonal_gradient(rng):
    """The step has length lr*|p|; orthogonal to p it would grow |p| by sqrt(1+lr^2),
    which the 1/sqrt(1+lr^2) prefactor undoes (float64, exact up to rounding)."""
    for lr in (1e-3, 0.1, 1.0):
        p = rng.standard_normal((5, 7))
        g = rng.standard_normal((5, 7))
        g = g - (np.sum(g * p) / np.sum(p * p)) * p          # orthogonal to p
        p1, _ = fromage.step(p, g, {}, t=1, **{**KW, "lr": lr})
        np.testing.assert_allclose(np.linalg.norm(p1), np.linalg.norm(p), rtol=1e-14)
        # and the change of direction is lr*|p| before the shrink
        np.testing.assert_allclose(np.linalg.norm(p1 * (1 + lr ** 2) ** 0.5 - p),
                                   lr * np.linalg.norm(p), rtol=1e-12)


def test_invariant_to_gradient_scale(rng):
    p = rng.standard_normal((4, 16)).astype(f32)
    g = rng.standard_normal((4, 16)).astype(f32)
    a, _ = fromage.step(p, g, {}, t=1, **KW)
    b, _ = fromage.step(p, g * f32(1024.0), {}, t=1, **KW)   # powers of two: exact
    np.testing.assert_array_equal(a, b)


def test_min_norm_floors_both_norms():
    p = np.full((2, 2), 1e-8, f32)
    g = np.full((2, 2), 1e-9, f32)
    np.testing.assert_array_equal(safe_norm(g, 1e-6), f32(1e-6))
    np.testing.assert_array_equal(trust_ratio(p, g, 1e-6), f32(1.0))
    big = np.full((2, 2), 3.0, f32)
    assert safe_norm(big, 1e-6) == f32(6.0)
    # min_norm = 0 and a zero gradient: ratio 1 (optax's zero-norm guard), no NaN
    np.testing.assert_array_equal(trust_ratio(big, np.zeros((2, 2), f32), 0.0), f32(1.0))
    p1, _ = fromage.step(big, np.zeros((2, 2), f32), {}, t=1, **{**KW, "min_norm": 0.0})
    assert np.all(np.isfinite(p1)) and np.all(p1 < big)      # the shrink alone


def test_xla_norm_accumulates_fused_squares_in_row_major_order():
    """1 then 31 squares of 2^-12 (2^-24 each): each fused add of 2^-24 to 1 is a tie that
    rounds back to 1, so XLA:CPU's fused loop gives 1 (jax 0.10.2: 1.0); with 65 elements
    XLA first sums windows of 32 rounded squares, where the small squares meet each other
    first (jax: 1.0000014, the float64 value)."""
    x = np.full(32, 2.0 ** -12, f32)
    x[0] = 1.0
    assert frobenius_norm(x) == f32(1.0)
    assert frobenius_norm(x, "float64") == f32(np.sqrt(1 + 31 * 2.0 ** -24)) != f32(1.0)
    y = np.full(65, 2.0 ** -12, f32)
    y[0] = 1.0
    assert frobenius_norm(y).view(np.uint32) == f32(1.0000014).view(np.uint32)
    ints = np.arange(12, dtype=f32).reshape(3, 4)             # exact sums either way
    assert frobenius_norm(ints) == frobenius_norm(ints, "float64") == f32(np.sqrt(506.0))


def test_lr_zero_is_identity(rng):
    p = rng.standard_normal((3, 3)).astype(f32)
    p1, _ = fromage.step(p, rng.standard_normal((3, 3)).astype(f32), {}, t=1,
                         **{**KW, "lr": 0.0})
    np.testing.assert_array_equal(p1, p)


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer("optax.fromage", learning_rate=1e-3, min_norm=-1.0)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.fromage", learning_rate=lambda step: 1e-3)
    with pytest.raises(ValueError):
        frobenius_norm(np.ones(2, f32), "pairwise")


@pytest.mark.parametrize("method", ["xla_cpu_fused_fma", "float64"])
def test_inputs_not_mutated_and_array_api_strict(method, rng):
    xps = pytest.importorskip("array_api_strict")
    kw = {**KW, "norm_method": method}
    p = rng.standard_normal((3, 4)).astype(f32)
    for t in range(1, 4):
        g = (rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-6, 2, (3, 4))).astype(f32)
        p0, g0 = p.copy(), g.copy()
        q, _ = fromage.step(p, g, {}, t=t, **kw)
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
        sq, _ = fromage.step(xps.asarray(p), xps.asarray(g), {}, t=t, **kw)
        np.testing.assert_array_equal(np.asarray(sq), q)
        p = q

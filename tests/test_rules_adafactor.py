"""Adafactor rules (eps_ref.rules.adafactor): first steps computed by hand from the paper's
equations and each framework's formula, the factored/unfactored agreement on rank-1 second
moments, update clipping, eps placement, purity, and array_api_strict runs."""

import math

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import adafactor as A

F32 = np.float32


def _run(name, p, grads, **kw):
    opt = eps_ref.optimizer(name, **kw)
    state = opt.init(p)
    for g in grads:
        p, state = opt.step(p, g, state)
    return np.asarray(p)


def _rms(x):
    return math.sqrt(float(np.mean(np.asarray(x, np.float64) ** 2)))


def test_paper_first_step_by_hand():
    # t = 1: beta = 0, so R = rowsum(G^2 + eps1), C = colsum, V = R C / sum(R) = G^2 + eps1
    # for a rank-1 G^2; U = G / sqrt(V) = sign(G); RMS(U) = 1, no clipping (d = 1);
    # alpha = max(1e-3, RMS(X)) * min(1e-2, 1) .
    x = np.full((2, 3), 2.0, F32)
    g = np.outer([1.0, 2.0], [1.0, -3.0, 0.5]).astype(F32)
    out = _run("paper.adafactor", x, [g])
    expected = x - 2.0 * 1e-2 * np.sign(g)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_factored_equals_unfactored_on_rank_one_moments():
    # With a rank-1 squared gradient every step, the factored estimate is exact:
    # a (n, m) matrix and its columns stepped as vectors agree.
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 2, 4)
    grads = [np.outer(a * s, b).astype(F32) for s in (1.0, 0.5, 2.0)]
    x = rng.standard_normal((3, 4)).astype(F32)
    kw = dict(epsilon_1=0.0)
    factored = _run("paper.adafactor", x, grads, **kw)
    # unfactored: the same moments elementwise (Algorithm 5) on the flattened matrix keeps
    # RMS(X) and RMS(U) over the same elements.
    flat = _run("paper.adafactor", x.reshape(-1), [g.reshape(-1) for g in grads], **kw)
    np.testing.assert_allclose(factored.reshape(-1), flat, rtol=2e-6)


def test_update_clipping_by_d():
    # A single spike: U = sign(G) on one element and ~0 elsewhere would give RMS(U) < 1, so
    # use an unfactored vector with equal magnitudes: U = +-1, RMS(U) = 1; with d = 0.5 ...
    # d must be >= 1 in the paper, so check d = 2 leaves the step alone and the rule's own
    # clip_threshold=0.5 halves it.
    x = np.full(4, 1.0, F32)
    g = np.array([1.0, -1.0, 1.0, -1.0], F32)
    base = _run("paper.adafactor", x, [g])
    same = _run("paper.adafactor", x, [g], clip_threshold=2.0)
    np.testing.assert_array_equal(base, same)
    p, slots = A.adafactor.step(x, g, A.adafactor.init(x), t=1, lr=1e-2, clip_threshold=0.5)
    np.testing.assert_allclose(x - np.asarray(p), 0.5 * (x - base), rtol=1e-6)


def test_relative_step_schedule():
    # rho_t = min(lr, 1/sqrt t): lr = 1 gives 1/sqrt(t); U = sign(g) for a vector at t=1 only,
    # so compare step 4 of a fresh rule fed the same gradient: scale by rho_4 = 1/2.
    x = np.full(4, 1.0, F32)
    g = np.ones(4, F32)
    slots = A.adafactor.init(x)
    p1, _ = A.adafactor.step(x, g, slots, t=1, lr=1.0)
    p4, _ = A.adafactor.step(x, g, slots, t=4, lr=1.0)
    np.testing.assert_allclose(x - np.asarray(p4), 0.5 * (x - np.asarray(p1)), rtol=1e-6)


def test_eps1_placement_keras_vs_torch():
    # Zero gradient rows: Keras adds eps1 inside the moments (V > 0, U = 0); torch clamps
    # the denominator instead. Both keep X in place.
    x = np.ones((2, 4), F32)
    g = np.zeros((2, 4), F32)
    for name in ("keras.optimizers.Adafactor", "torch.optim.Adafactor", "paper.adafactor"):
        np.testing.assert_array_equal(_run(name, x, [g]), x)


def test_torch_first_step_by_hand():
    # t=1: lerp weight 1 -> R = rowmean(G^2), C = colmean(G^2); V = R C / mean(R);
    # U = G / sqrt(V); alpha = max(1e-3, RMS(X)) * min(1e-2, 1); denom = max(1, RMS(U)).
    x = np.full((2, 2), 3.0, F32)
    g = np.array([[1.0, 2.0], [2.0, 4.0]], F32)        # rank 1: V = G^2
    out = _run("torch.optim.Adafactor", x, [g])
    np.testing.assert_allclose(out, x - 3.0 * 1e-2 * np.sign(g), rtol=1e-6)


def test_torch_foreach_scales_the_update_before_adding_it():
    """``_multi_tensor_adafactor``: X + round(U * (-alpha/denom)); the single-tensor path
    is one FMA, X + U * (-alpha/denom) rounded once."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 65)).astype(F32)
    g = rng.standard_normal((64, 65)).astype(F32)
    single = eps_ref.optimizer("torch.optim.Adafactor")
    foreach = eps_ref.optimizer("torch.optim.Adafactor", foreach=True)
    assert foreach.rule_kwargs["apply_form"] == "mul_then_add"
    fused_step, _ = single.step(x, g, single.init(x))
    split_step, _ = foreach.step(x, g, foreach.init(x))
    # at step 1 the moments and scalars agree; only the rounding of U * c is extra: half
    # an ULP of the step, plus half an ULP of the sum
    assert not np.array_equal(fused_step, split_step)
    error = np.abs(fused_step.astype(np.float64) - split_step)
    assert (error <= np.spacing(np.maximum(np.abs(fused_step), np.abs(fused_step - x)))).all()


def test_torch_sum_over_threads_splits_one_output_past_32768():
    rng = np.random.default_rng(0)
    from eps_ref.norms._torch_cpu import torch_sum
    for n in (32768, 40000, 65537):
        x = (rng.standard_normal((n, 1)) * np.logspace(-3, 2, n)[:, None]).astype(F32)
        one = A.torch_sum_over_threads(x, -2, threads=1)
        np.testing.assert_array_equal(one, torch_sum(x, (-2,)))
        two = A.torch_sum_over_threads(x, -2, threads=2)
        half = -(-n // 2)
        want = torch_sum(x[:half], (-2,)) + torch_sum(x[half:], (-2,)) if n > 32768 else one
        np.testing.assert_array_equal(two, want)
        assert two.shape == (1, 1)
    # many outputs: each is summed by one thread, whatever the thread count
    x = rng.standard_normal((3, 40000, 1)).astype(F32)
    np.testing.assert_array_equal(A.torch_sum_over_threads(x, -2, threads=2),
                                  torch_sum(x, (-2,)))
    # the split changes the rounding on this input
    x = (rng.standard_normal((65537, 1)) * np.logspace(-3, 2, 65537)[:, None]).astype(F32)
    assert A.torch_sum_over_threads(x, -2, 2) != A.torch_sum_over_threads(x, -2, 1)


def test_torch_weight_decay_after_alpha():
    x = np.full(4, 2.0, F32)
    g = np.ones(4, F32)
    out = _run("torch.optim.Adafactor", x, [g], weight_decay=0.5, lr=0.1)
    # alpha from the undecayed X: 2 * 0.1; X decays by (1 - 0.1*0.5) first
    np.testing.assert_allclose(out, 2.0 * 0.95 - 0.2, rtol=1e-6)


def test_keras_learning_rate_caps_the_relative_step():
    x = np.full(4, 2.0, F32)
    g = np.ones(4, F32)
    out = _run("keras.optimizers.Adafactor", x, [g])
    np.testing.assert_allclose(out, 2.0 - 2.0 * 1e-3, rtol=1e-6)


def test_optax_factoring_threshold_and_step():
    assert A.factored_dims((4, 16), "yes", 128) is None
    assert A.factored_dims((4, 16), "yes", 4) == (0, 1)
    assert A.factored_dims((16, 4), "yes", 4) == (1, 0)
    assert A.factored_dims((4, 16), "no", 4) is None
    # no learning rate: step = max(1e-3, RMS(X)) * clip(U), U = sign(g) at t = 1
    x = np.full((4, 16), 0.5, F32)
    g = np.ones((4, 16), F32)
    out = _run("optax.adafactor", x, [g], min_dim_size_to_factor=4)
    np.testing.assert_allclose(out, 0.0, atol=1e-6)
    out = _run("optax.adafactor", x, [g], learning_rate=0.1)
    np.testing.assert_allclose(out, 0.5 - 0.05, rtol=1e-6)


def test_optax_momentum_and_weight_decay():
    x = np.full(4, 1.0, F32)
    g = np.ones(4, F32)
    out = _run("optax.adafactor", x, [g], learning_rate=0.1, momentum=0.5)
    np.testing.assert_allclose(out, 1.0 - 0.5 * 0.1, rtol=1e-6)
    out = _run("optax.adafactor", x, [g], learning_rate=0.1, weight_decay_rate=0.2)
    np.testing.assert_allclose(out, 1.0 - 0.1 - 0.2, rtol=1e-6)


def test_reductions_agree_roughly_and_float64_is_exact():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 16)).astype(F32)
    exact = np.mean(x.astype(np.float64), axis=-1)
    for reduction in A.REDUCTIONS:
        for axis in (-1, -2, None):
            m = np.asarray(A.reduce_mean(x, axis, reduction=reduction))
            ref = np.mean(x.astype(np.float64), axis=axis)
            np.testing.assert_allclose(m, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(A.reduce_mean(x, -1, reduction="float64_rounded"),
                                  exact.astype(F32))
    n = np.asarray(A.torch_norm(x, None))
    assert abs(float(n) - float(np.linalg.norm(x.astype(np.float64)))) < 1e-5


def test_float32_power_is_correctly_rounded():
    for t in (1, 2, 3, 10, 999):
        exact = float(t) ** float(F32(-0.8))
        assert A.float32_power(t, -0.8) == float(F32(exact))


@pytest.mark.parametrize("name,kw", [
    ("paper.adafactor", {}), ("torch.optim.Adafactor", {}),
    ("torch.optim.Adafactor", {"foreach": True}), ("keras.optimizers.Adafactor", {}),
    ("optax.adafactor", {"min_dim_size_to_factor": 4}), ("tf_keras.optimizers.Adafactor", {})])
def test_inputs_not_mutated_and_strict_namespace(name, kw):
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 16)).astype(F32)
    grads = [rng.standard_normal((4, 16)).astype(F32) for _ in range(3)]
    x0, g0 = x.copy(), [g.copy() for g in grads]
    ref = _run(name, x, grads, **kw)
    np.testing.assert_array_equal(x, x0)
    for g, c in zip(grads, g0):
        np.testing.assert_array_equal(g, c)
    strict = _run(name, xps.asarray(x), [xps.asarray(g) for g in grads], **kw)
    np.testing.assert_array_equal(np.asarray(strict), ref)


@pytest.mark.parametrize("name", ["paper.adafactor", "torch.optim.Adafactor",
                                  "keras.optimizers.Adafactor", "optax.adafactor"])
def test_vectors_are_not_factored(name):
    x = np.array([1.0, -2.0, 3.0], F32)
    g = np.array([0.5, 0.5, -0.5], F32)
    out = _run(name, x, [g])
    assert out.shape == x.shape and np.all(np.isfinite(out))


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.Adafactor", lr=-1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.Adafactor", d=0.5)
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.Adafactor", beta2_decay=0.5)
    with pytest.raises(ValueError):
        eps_ref.optimizer("optax.adafactor", clipping_threshold=0.5)
    with pytest.raises(ValueError):
        eps_ref.optimizer("paper.adafactor", clip_threshold=0.5)
    with pytest.raises(ValueError):
        A.adafactor.step(np.ones(2, F32), np.ones(2, F32), A.adafactor.init(np.ones(2, F32)),
                         t=1, lr=1e-2, reduction="pairwise")


# A factored matrix whose gradient is zero along a whole row and a whole column: there the
# Keras/paper estimate V_ij = R_i C_j / sum(R) is about (2e-30)^2 / sum(R), below float32's
# smallest subnormal, so U_ij = 0 / sqrt(0) = NaN, and the RMS clip spreads it to every
# entry. Keras 3 (every backend) and tf_keras do the same (conformance/test_edge_inputs.py);
# torch clamps V at eps1^2 with eps1 = float32 machine epsilon and stays finite.
ZERO_ROW_AND_COLUMN = (np.array([[-1.0, 1.0, 1000.0], [0.0, 1.0, 0.5]], F32),
                       np.array([[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]], F32))
EPS1_SQUARED_UNDERFLOWS = ("keras.optimizers.Adafactor", "tf_keras.optimizers.Adafactor",
                           "paper.adafactor")


@pytest.mark.parametrize("name", EPS1_SQUARED_UNDERFLOWS)
def test_eps1_squared_underflows_to_nan_on_a_zero_row_and_column(name):
    p, g = ZERO_ROW_AND_COLUMN
    with np.errstate(all="ignore"):
        out = _run(name, p, [g])
    assert np.isnan(out).all()
    # in float64 the same step is finite: the NaN is float32 underflow, not the algorithm
    with np.errstate(all="ignore"):
        wide = _run(name, p.astype(np.float64), [g.astype(np.float64)])
    assert np.isfinite(wide).all()
    np.testing.assert_array_equal(wide[g == 0], p[g == 0])


def test_torch_clamps_the_estimate_and_stays_finite():
    p, g = ZERO_ROW_AND_COLUMN
    out = _run("torch.optim.Adafactor", p, [g])
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[g == 0], p[g == 0])

"""LAMB (Keras on three backends, optax, the paper) and LARS (optax): hand-computed first
steps, the trust-ratio guards, the norm reductions, limits, purity and array_api_strict."""

import math

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.lamb import NORM_REDUCTIONS, l2_norm, lamb, sum_of_squares, trust_ratio

f32, f64 = np.float32, np.float64


def _one_step(name, p, g, backend=None, **kw):
    opt = eps_ref.optimizer(name, backend=backend, **kw) if backend else \
        eps_ref.optimizer(name, **kw)
    p1, state = opt.step(p, g, opt.init(p))
    return p1, state["slots"][0]


def _params(dtype=f64):
    p = np.array([[1.0, -2.0, 0.5, 3.0], [0.25, -0.75, 1.5, -1.0]], dtype)
    g = np.array([[0.3, -1e-10, 0.0, -4.0], [2.0, 0.5, -0.125, 1e-3]], dtype)
    return p, g


def _adam_first_direction(g, eps):
    """t = 1: m_hat = g, v_hat = g^2 exactly in real numbers, so u = g / (|g| + eps)."""
    return g / (np.abs(g) + eps)


# -- hand-computed first steps (float64: the formulas, not the rounding) -------------------

@pytest.mark.parametrize("backend", [None, "jax", "torch"])
def test_keras_first_step_by_hand(backend):
    p, g = _params()
    p1, slots = _one_step("keras.optimizers.Lamb", p, g, backend=backend)
    u = _adam_first_direction(g, 1e-7)
    ratio = np.linalg.norm(p) / np.linalg.norm(u)
    np.testing.assert_allclose(p1, p - ratio * 1e-3 * u, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(slots["m"], 0.1 * g, rtol=1e-12)
    np.testing.assert_allclose(slots["v"], 0.001 * g * g, rtol=1e-12)


def test_keras_weight_decay_shrinks_weights_before_the_norm():
    p, g = _params()
    p1, _ = _one_step("keras.optimizers.Lamb", p, g, weight_decay=0.1, learning_rate=1e-2)
    decayed = p - p * 0.1 * 1e-2
    u = _adam_first_direction(g, 1e-7)           # no decay term in the direction
    ratio = np.linalg.norm(decayed) / np.linalg.norm(u)
    np.testing.assert_allclose(p1, decayed - ratio * 1e-2 * u, rtol=1e-12, atol=1e-15)


def test_optax_lamb_first_step_by_hand():
    p, g = _params()
    p1, _ = _one_step("optax.lamb", p, g, learning_rate=1e-2, weight_decay=0.1)
    u = _adam_first_direction(g, 1e-6) + 0.1 * p      # decay inside the direction
    ratio = np.linalg.norm(p) / np.linalg.norm(u)
    np.testing.assert_allclose(p1, p - 1e-2 * ratio * u, rtol=1e-12, atol=1e-15)


def test_optax_lamb_eps_root_sits_inside_the_root():
    p, g = _params()
    p1, _ = _one_step("optax.lamb", p, g, learning_rate=1e-2, eps=0.0, eps_root=1e-2)
    u = g / np.sqrt(g * g + 1e-2)
    ratio = np.linalg.norm(p) / np.linalg.norm(u)
    np.testing.assert_allclose(p1, p - 1e-2 * ratio * u, rtol=1e-12, atol=1e-15)


def test_paper_lamb_first_step_by_hand():
    p, g = _params()
    kw = dict(lr=1e-2, eps=1e-6, weight_decay=0.01)
    p1, _ = _one_step("paper.lamb", p, g, **kw)
    u = _adam_first_direction(g, 1e-6) + 0.01 * p
    np.testing.assert_allclose(p1, p - 1e-2 * np.linalg.norm(p) / np.linalg.norm(u) * u,
                               rtol=1e-12, atol=1e-15)
    # phi = clip: ||p|| = 4.3... is clipped to gamma_u = 2
    p2, _ = _one_step("paper.lamb", p, g, phi="clip", gamma_l=0.5, gamma_u=2.0, **kw)
    np.testing.assert_allclose(p2, p - 1e-2 * 2.0 / np.linalg.norm(u) * u,
                               rtol=1e-12, atol=1e-15)


def test_lars_first_step_by_hand():
    p, g = _params()
    p1, slots = _one_step("optax.lars", p, g, learning_rate=0.1, weight_decay=0.01)
    u = g + 0.01 * p
    d = -0.1 * 0.001 * np.linalg.norm(p) / np.linalg.norm(u) * u
    np.testing.assert_allclose(p1, p + d, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(slots["trace"], d, rtol=1e-12, atol=1e-15)
    # Nesterov looks one momentum step ahead: p + d + mu * d
    p2, _ = _one_step("optax.lars", p, g, learning_rate=0.1, weight_decay=0.01, nesterov=True)
    np.testing.assert_allclose(p2, p + d + 0.9 * d, rtol=1e-12, atol=1e-15)


def test_lars_eps_and_trust_coefficient_in_the_ratio():
    p, g = _params()
    p1, _ = _one_step("optax.lars", p, g, learning_rate=0.1, eps=1.0, trust_coefficient=0.5)
    ratio = 0.5 * np.linalg.norm(p) / (np.linalg.norm(g) + 1.0)
    np.testing.assert_allclose(p1, p - 0.1 * ratio * g, rtol=1e-12, atol=1e-15)


def test_lars_masks():
    p, g = _params()
    plain, _ = _one_step("optax.lars", p, g, learning_rate=0.1, trust_ratio_mask=False)
    np.testing.assert_allclose(plain, p - 0.1 * g, rtol=1e-12, atol=1e-15)
    no_decay, _ = _one_step("optax.lars", p, g, learning_rate=0.1, weight_decay=0.5,
                            weight_decay_mask=False)
    ref, _ = _one_step("optax.lars", p, g, learning_rate=0.1)
    np.testing.assert_array_equal(no_decay, ref)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.lars", learning_rate=0.1, trust_ratio_mask={"w": True})


# -- trust-ratio guards ---------------------------------------------------------------------

@pytest.mark.parametrize("name,kw,direction_scale", [
    ("keras.optimizers.Lamb", {}, 1e-3),
    ("optax.lamb", {"learning_rate": 1e-3}, 1e-3),
])
def test_zero_weights_take_ratio_one(name, kw, direction_scale):
    """||p|| = 0 would freeze the layer forever; the frameworks use ratio 1 instead."""
    p = np.zeros((2, 4), f64)
    _, g = _params()
    eps = 1e-7 if name.startswith("keras") else 1e-6
    p1, _ = _one_step(name, p, g, **kw)
    np.testing.assert_allclose(p1, -direction_scale * _adam_first_direction(g, eps),
                               rtol=1e-12, atol=1e-300)


def test_paper_zero_weights_stay_zero():
    """Algorithm 2 as written: phi(||x||) = phi(0) = 0, the layer never moves."""
    p = np.zeros((2, 4), f64)
    _, g = _params()
    p1, _ = _one_step("paper.lamb", p, g, lr=1e-2, eps=1e-6, weight_decay=0.01)
    np.testing.assert_array_equal(p1, p)


@pytest.mark.parametrize("name,kw", [
    ("keras.optimizers.Lamb", {}), ("optax.lamb", {"learning_rate": 1e-3}),
    ("optax.lars", {"learning_rate": 1e-2}),
    ("paper.lamb", {"lr": 1e-3, "eps": 1e-6, "weight_decay": 0.0}),
])
def test_zero_gradient_keeps_params(name, kw):
    """A zero direction has norm 0: ratio 1 (never 0/0) and the parameter stays."""
    p, _ = _params(f32)
    p1, _ = _one_step(name, p, np.zeros_like(p), **kw)
    np.testing.assert_array_equal(p1, p)
    assert np.isfinite(p1).all()


def test_trust_ratio_function():
    one = np.asarray(1.0, f32)
    assert trust_ratio(np.asarray(0.0, f32), np.asarray(2.0, f32)) == one
    assert trust_ratio(np.asarray(3.0, f32), np.asarray(0.0, f32)) == one
    assert trust_ratio(np.asarray(3.0, f32), np.asarray(2.0, f32)) == f32(1.5)
    assert trust_ratio(np.asarray(0.0, f32), np.asarray(2.0, f32), zero_norm="formula") == 0
    assert trust_ratio(np.asarray(3.0, f32), np.asarray(2.0, f32), trust_coefficient=0.5,
                       eps=1.0) == f32(0.5)
    assert trust_ratio(np.asarray(3.0, f32), np.asarray(2.0, f32), phi="clip", phi_max=1.0) \
        == f32(0.5)


# -- norms ----------------------------------------------------------------------------------

def test_reductions_order_the_float32_sum():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 16)) * np.exp(rng.uniform(-8, 8, (4, 16)))).astype(f32)
    sq = x * x
    exact = np.sum(x.astype(f64) ** 2)
    # XLA eager jnp.sum: one accumulator, row-major
    s = f32(0)
    for v in sq.reshape(-1):
        s = f32(s + v)
    assert sum_of_squares(x, reduction="xla_cpu_sequential") == s
    # jnp.linalg.norm: the same order with each square fused into the add
    s = f32(0)
    for v in x.reshape(-1).astype(f64):
        s = f32(v * v + f64(s))         # exact product; a float64 sum then one more rounding
    assert abs(float(sum_of_squares(x, reduction="xla_cpu_fused_fma")) - float(s)) \
        <= 2 * np.spacing(s)
    # Eigen: four 8-lane accumulators, then halves
    acc = sq.reshape(2, 4, 8).sum(axis=0, dtype=f32)
    packet = ((acc[0] + acc[1]) + acc[2]) + acc[3]
    h = packet[:4] + packet[4:]
    h = h[:2] + h[2:]
    assert sum_of_squares(x, reduction="eigen_avx_4x8") == h[0] + h[1]
    assert sum_of_squares(x, reduction="float64_rounded") == f32(exact)
    for reduction in NORM_REDUCTIONS:
        s = float(sum_of_squares(x, reduction=reduction))
        assert abs(s - exact) <= 8 * np.spacing(f32(exact)), reduction


def test_l2_norm_of_zero_and_of_one_element():
    for reduction in NORM_REDUCTIONS:
        assert l2_norm(np.zeros((3, 5), f32), reduction=reduction) == 0
        assert l2_norm(np.array([-3.0], f32), reduction=reduction) == f32(3)


# -- limits ---------------------------------------------------------------------------------

def test_step_norm_is_lr_times_weight_norm():
    """Without decay the ratio makes ||step|| = lr * ||p|| whatever the gradient scale."""
    p, g = _params()
    for scale in (1e-8, 1.0, 1e8):
        for name, kw in (("keras.optimizers.Lamb", {"learning_rate": 1e-2}),
                         ("optax.lamb", {"learning_rate": 1e-2})):
            p1, _ = _one_step(name, p, g * scale, **kw)
            assert math.isclose(np.linalg.norm(p1 - p), 1e-2 * np.linalg.norm(p),
                                rel_tol=1e-12)


def test_huge_eps_turns_lamb_into_normalized_momentum():
    """eps >> sqrt(v): u = m_hat / eps, and the ratio cancels eps: a normalised gradient."""
    p, g = _params()
    p1, _ = _one_step("optax.lamb", p, g, learning_rate=1e-2, eps=1e12)
    np.testing.assert_allclose(p1, p - 1e-2 * np.linalg.norm(p) / np.linalg.norm(g) * g,
                               rtol=1e-9)


def test_keras_epsilon_default_is_1e_7():
    assert eps_ref.spec("keras.optimizers.Lamb").defaults["epsilon"] == 1e-7
    assert eps_ref.spec("optax.lamb").defaults["eps"] == 1e-6


def test_backend_semantics():
    kw = lambda b: eps_ref.optimizer("keras.optimizers.Lamb", backend=b,  # noqa: E731
                                     weight_decay=0.01).rule_kwargs
    assert kw("tensorflow")["norm_reduction"] == "eigen_avx_4x8"
    assert kw("jax")["norm_reduction"] == "xla_cpu_sequential"
    assert kw("torch")["norm_reduction"] == "torch_cpu_avx2"
    assert kw("torch")["sqrt_method"] == "mkl_goldschmidt_rsqrtps"
    assert kw("torch")["weight_decay_mode"] == "decoupled_keras_torch"


def test_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer("keras.optimizers.Lamb", beta_1=1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer("optax.lamb", learning_rate=-1.0)
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.lamb", learning_rate=1e-3, mask={"w": False})
    with pytest.raises(ValueError):
        eps_ref.optimizer("paper.lamb", lr=1e-3, eps=1e-6, weight_decay=0.0, phi="tanh")
    with pytest.raises(ValueError):
        lamb.step(np.ones(2, f32), np.ones(2, f32), lamb.init(np.ones(2, f32)), t=1, lr=1e-3,
                  beta1=0.9, beta2=0.999, eps=1e-6, norm_reduction="pairwise")


# -- purity and namespaces ------------------------------------------------------------------

SPEC_KW = [
    ("keras.optimizers.Lamb", None, {"weight_decay": 0.01}),
    ("keras.optimizers.Lamb", "jax", {}),
    ("keras.optimizers.Lamb", "torch", {"weight_decay": 0.01}),
    ("optax.lamb", None, {"learning_rate": 1e-3, "weight_decay": 0.01}),
    ("optax.lars", None, {"learning_rate": 1e-2, "nesterov": True, "weight_decay": 0.01}),
    ("paper.lamb", None, {"lr": 1e-3, "eps": 1e-6, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("name,backend,kw", SPEC_KW)
def test_inputs_not_mutated(name, backend, kw):
    p, g = _params(f32)
    p_copy, g_copy = p.copy(), g.copy()
    opt = eps_ref.optimizer(name, backend=backend, **kw) if backend else \
        eps_ref.optimizer(name, **kw)
    state = opt.init(p)
    slots_copy = {k: np.array(v, copy=True) for k, v in state["slots"][0].items()}
    for _ in range(3):
        opt.step(p, g, state)
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(g, g_copy)
    for k, v in state["slots"][0].items():
        np.testing.assert_array_equal(v, slots_copy[k])


@pytest.mark.parametrize("name,backend,kw", SPEC_KW)
def test_array_api_strict_matches_numpy(name, backend, kw):
    xps = pytest.importorskip("array_api_strict")
    p, g = _params(f32)
    opt = eps_ref.optimizer(name, backend=backend, **kw) if backend else \
        eps_ref.optimizer(name, **kw)
    pn, sn = p, opt.init(p)
    ps, ss = xps.asarray(p), opt.init(xps.asarray(p))
    for k in range(3):
        gk = g * f32(1 + k)
        pn, sn = opt.step(pn, gk, sn)
        ps, ss = opt.step(ps, xps.asarray(gk), ss)
    np.testing.assert_array_equal(np.asarray(ps), pn)


def test_keras_tensorflow_squares_with_eigen_pow():
    """tf.pow(x, 2.0) is Eigen's float pow: within 1 ULP of x*x, not always equal to it."""
    from eps_ref.rules._eigen_pow import eigen_pow_float32
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 16)) * np.exp(rng.uniform(-8, 8, (4, 16)))).astype(f32)
    sq = eigen_pow_float32(x.reshape(-1), 2.0)
    ulps = np.abs(sq.view(np.int32).astype(np.int64) - (x * x).reshape(-1).view(np.int32))
    assert ulps.max() <= 1 and ulps.max() == 1
    assert eps_ref.optimizer("keras.optimizers.Lamb").rule_kwargs["square_op"] == "eigen_pow"
    assert eps_ref.optimizer("keras.optimizers.Lamb", backend="jax").rule_kwargs[
        "square_op"] == "multiply"
    with_pow = sum_of_squares(x, reduction="eigen_avx_4x8", square_op="eigen_pow")
    assert abs(float(with_pow) - float(np.sum(x.astype(f64) ** 2))) <= 8 * np.spacing(with_pow)

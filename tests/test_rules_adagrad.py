"""Unit tests of the Adagrad rule, its four dialects and the CPU root kernels they emulate.

No framework is imported. Framework behaviour enters as steps computed by hand from each
framework's formula and operation order, and as kernel outputs recorded from the real
frameworks on the host where the specs were verified (AMD EPYC, Zen 4; TensorFlow 2.21,
jax 0.10.2, torch 2.13): ``tf.math.rsqrt`` (Eigen), ``jax.lax.rsqrt`` (XLA) and ``torch.sqrt``
(MKL), plus the bare ``_mm256_rsqrt_ps`` estimate.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eps_ref
from eps_ref.rules.weight_decay import coupled_fma
from eps_ref.frameworks.keras import _adagrad_torch_backend_semantics
from eps_ref.rules import adagrad as rule
from eps_ref.rules._roots import (RSQRT_METHODS, SQRT_METHODS, _TABLE, rsqrt, rsqrtps_estimate,
                                  sqrt)

f32 = np.float32
TORCH = "torch.optim.Adagrad"
KERAS = "keras.optimizers.Adagrad"
TF1 = "tf.compat.v1.train.AdagradOptimizer"
OPTAX = "optax.adagrad"
NAMES = (TORCH, KERAS, TF1, OPTAX)

# Kernel outputs recorded on AMD EPYC (Zen 4), as float32 bit patterns: the inputs, the
# _mm256_rsqrt_ps estimate, tf.math.rsqrt (Eigen; all 40, and the first 13 alone, whose last
# 5 are Eigen's scalar tail), jax.lax.rsqrt (XLA) and torch.sqrt (MKL vmsSqrt).
RECORDED = {
    "x": (
        "4a092a0b 2e52a964 340c7b73 5174e14d 5d348cb6 2a062921 262e7f68 2c4fc5a4 370ec718 "
        "2ba3a1c2 44c9025c 46818225 27c85626 436cd53d 21bc2051 3d6114e0 5c06cc7d 51741d3e "
        "45448a69 3503c700 2dd8f526 3c0bc904 3224d85e 55ff1a95 2e3f3142 31f06afc 51e89f03 "
        "31936cd8 318fc338 3f3f8295 4008a79f 3fb65d32 40671f7e 3fc04546 404d52e4 400d2492 "
        "4008d616 407824f5 406933f3 1e3ce508"
    ),
    "estimate": (
        "3a2ee000 480d1800 452cc800 3682e000 30987000 4a30d000 4c1b0800 490e1000 43ab6800 "
        "49627000 3ccc4800 3bfe8000 4b4ca000 3d851000 4e532800 40888800 31306800 36831000 "
        "3c921800 44b27000 4844a800 412d3800 461f8000 34355800 48142000 463ac800 363de800 "
        "466e8800 46719000 3f940000 3f2f3800 3f568000 3f06b800 3f50e800 3f0ef000 3f2c6800 "
        "3f2f1800 3f020000 3f061800 50150000"
    ),
    "eigen": (
        "3a2ede1f 480d1a72 452cca4f 3682dfbb 30986a97 4a30d075 4c1b0973 490e14c5 43ab6548 "
        "49626b04 3ccc4905 3bfe813c 4b4ca0bf 3d85142c 4e532a08 40888233 31306531 3683143f "
        "3c921599 44b267f2 4844a22d 412d3874 461f82ed 34355647 48141d0d 463acb1c 363de5e2 "
        "466e89f2 46718eee 3f93fd98 3f2f317d 3f56796e 3f06b670 3f50e040 3f0eecfa 3f2c62aa "
        "3f2f13bc 3f0202a3 3f061c4d 501502f9"
    ),
    "eigen_tail13": (
        "3a2ede1f 480d1a72 452cca4f 3682dfbb 30986a97 4a30d075 4c1b0973 490e14c5 43ab6548 "
        "49626b05 3ccc4904 3bfe813c 4b4ca0bf"
    ),
    "xla": (
        "3a2ede1f 480d1a72 452cca4f 3682dfbc 30986a97 4a30d075 4c1b0973 490e14c5 43ab6548 "
        "49626b04 3ccc4905 3bfe813c 4b4ca0bf 3d85142c 4e532a08 40888233 31306531 3683143f "
        "3c921599 44b267f2 4844a22d 412d3874 461f82ed 34355647 48141d0e 463acb1c 363de5e3 "
        "466e89f2 46718eef 3f93fd98 3f2f317d 3f56796e 3f06b670 3f50e040 3f0eecfa 3f2c62aa "
        "3f2f13bc 3f0202a3 3f061c4d 501502f9"
    ),
    "mkl": (
        "44bb632d 36e83a1e 39bda3ec 487a60da 4e56fd72 34b9530b 32d35b2a 35e6a0f9 3b3f2ef4 "
        "3590b934 42206737 4300c082 33a02272 41763ae5 309b2d86 3e700b22 4db9c3bd 4879fc8a "
        "42604f0a 3a37abc0 36a6a522 3dbd2b56 38cd6d62 4ab4b3c4 36dd3c5a 38af6c7b 48ac8e49 "
        "38895ea2 3887a70c 3f5d6b63 3fbb0a02 3f98c868 3ff33e63 3f9ce0b6 3fe54418 3fbe15f0 "
        "3fbb29cc 3ffc0aa5 3ff455f3 2edbe6ff"
    ),
}


def _bits(key):
    return np.array([int(h, 16) for h in RECORDED[key].split()], dtype=np.uint32).view(f32)


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and bool(np.all((a.view(np.uint32) == b.view(np.uint32))
                                              | (np.isnan(a) & np.isnan(b))))


def _run(name, p, grads, **kwargs):
    opt = eps_ref.optimizer(name, **kwargs)
    state = opt.init(p)
    for g in grads:
        p, state = opt.step(p, g, state)
    return p, state


# -- dialect tables ---------------------------------------------------------------------------

def test_defaults_and_where_eps_sits():
    expect = {
        TORCH: ({"lr": 1e-2, "eps": 1e-10, "initial_accumulator_value": 0, "lr_decay": 0},
                "outside_sqrt"),
        KERAS: ({"learning_rate": 1e-3, "epsilon": 1e-7, "initial_accumulator_value": 0.1},
                "inside_sqrt"),
        TF1: ({"learning_rate": eps_ref.spec(TF1).defaults["learning_rate"],
               "initial_accumulator_value": 0.1}, "none"),
        OPTAX: ({"learning_rate": eps_ref.spec(OPTAX).defaults["learning_rate"], "eps": 1e-7,
                 "initial_accumulator_value": 0.1}, "inside_sqrt"),
    }
    for name, (defaults, placement) in expect.items():
        s = eps_ref.spec(name)
        for k, v in defaults.items():
            assert s.defaults[k] == v, (name, k)
        assert s.semantics["eps_placement"] == placement
        assert s.rule is rule.adagrad
    assert "epsilon" not in eps_ref.spec(TF1).defaults and "eps" not in eps_ref.spec(TF1).defaults
    assert eps_ref.spec(TF1).defaults["learning_rate"] is eps_ref.REQUIRED
    assert eps_ref.spec(OPTAX).defaults["learning_rate"] is eps_ref.REQUIRED


def test_kernel_semantics():
    sem = {n: eps_ref.spec(n).semantics for n in NAMES}
    assert sem[TORCH]["sqrt_method"] == "mkl_goldschmidt_rsqrtps"
    assert sem[TORCH]["accumulate"] == "fma"
    assert sem[TF1]["rsqrt_method"] == "eigen_rsqrtps_newton"
    assert sem[OPTAX]["rsqrt_method"] == "xla_rsqrtps_newton_fma"
    assert sem[KERAS]["sqrt_method"] == "correctly_rounded"
    torch_backend = _adagrad_torch_backend_semantics(
        eps_ref.optimizer(KERAS, weight_decay=0.01).rule_kwargs)
    assert torch_backend["sqrt_method"] == "mkl_goldschmidt_rsqrtps"
    assert torch_backend["weight_decay_mode"] == "decoupled_keras_torch"


@pytest.mark.parametrize("name", NAMES)
def test_bind_returns_exactly_the_step_keywords(name):
    import inspect
    accepted = set(inspect.signature(rule.step).parameters) - {"param", "grad", "slots", "t"}
    for kwargs in eps_ref.spec(name).variants.values():
        assert set(eps_ref.optimizer(name, **kwargs).rule_kwargs) == accepted


def test_validation_mirrors_the_frameworks():
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        eps_ref.optimizer(TF1, learning_rate=0.1, initial_accumulator_value=0.0)
    with pytest.raises(ValueError, match="lr_decay"):
        eps_ref.optimizer(TORCH, lr_decay=-0.1)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        eps_ref.optimizer(TORCH, initial_accumulator_value=-1.0)
    with pytest.raises(ValueError, match="clip"):
        eps_ref.optimizer(KERAS, clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(NotImplementedError, match="learning_rate"):
        eps_ref.optimizer(OPTAX, learning_rate=lambda count: 0.1)
    eps_ref.optimizer(TORCH, foreach=True, fused=False, differentiable=False)   # inert


@pytest.mark.parametrize("keyword, value", [
    ("eps_placement", "under_sqrt"), ("update_order", "torch"), ("sqrt_method", "fast"),
    ("rsqrt_method", "fast"), ("accumulate", "fused"), ("weight_decay_mode", "adamw"),
    ("direction", "up"),
])
def test_unknown_switch_values_raise(keyword, value):
    kw = dict(eps_ref.optimizer(TORCH).rule_kwargs)
    kw[keyword] = value
    p = np.ones(3, f32)
    with pytest.raises(ValueError, match=keyword):
        rule.step(p, p, {"accumulator": p}, t=1, **kw)


# -- first steps by hand (float64: every kernel rounds correctly there) -------------------

G = np.array([0.3, -2.0, 1e-10, 0.0, 7.5])
P = np.array([1.0, -0.5, 0.25, 2.0, 0.0])


def test_torch_first_steps_by_hand():
    p, state = _run(TORCH, P, [G, -G], lr=0.05, lr_decay=0.1, eps=1e-3)
    acc1 = G * G
    p1 = P - (0.05 * G) / (np.sqrt(acc1) + 1e-3)
    acc2 = acc1 + G * G
    clr2 = 0.05 / (1 + 1 * 0.1)                       # Python float64, as torch's clr
    p2 = p1 - (clr2 * -G) / (np.sqrt(acc2) + 1e-3)
    np.testing.assert_array_equal(state["slots"][0]["accumulator"], acc2)
    np.testing.assert_array_equal(p, p2)


def test_keras_first_step_by_hand():
    p, state = _run(KERAS, P, [G], learning_rate=0.01)
    acc = 0.1 + G * G
    np.testing.assert_array_equal(p, P - (0.01 * G) / np.sqrt(acc + 1e-7))
    np.testing.assert_array_equal(state["slots"][0]["accumulator"], acc)


def test_tf1_first_step_by_hand():
    p, _ = _run(TF1, P, [G], learning_rate=0.01, initial_accumulator_value=0.5)
    np.testing.assert_array_equal(p, P - (G * 0.01) * (1 / np.sqrt(0.5 + G * G)))


def test_optax_first_step_by_hand():
    p, _ = _run(OPTAX, P, [G], learning_rate=0.01, eps=1e-3)
    inv = 1 / np.sqrt((G * G + 0.1) + 1e-3)
    np.testing.assert_array_equal(p, P + (-0.01) * (inv * G))


def test_float32_first_step_on_exact_values():
    """Powers of two keep every kernel exact, so the float32 result is the formula's."""
    p0 = np.array([1.0, -1.0, 0.5], f32)
    g = np.array([0.5, -0.25, 2.0], f32)
    p, _ = _run(TORCH, p0, [g])                        # |g| + 1e-10 rounds to |g|
    np.testing.assert_array_equal(p, p0 - f32(0.01) * np.sign(g).astype(f32))
    p, _ = _run(TF1, p0, [g], learning_rate=0.5, initial_accumulator_value=0.75)
    np.testing.assert_array_equal(p, p0 - g * f32(0.5) / np.sqrt(f32(0.75) + g * g))


# -- semantics --------------------------------------------------------------------------

def test_eps_placement_far_below_eps():
    """A gradient of 1e-10 against eps: outside the root (torch) eps dominates the
    denominator; inside (Keras, optax) it adds to G0; TF1 has none."""
    g = np.array([1e-10])
    p0 = np.zeros(1)
    torch_step = -_run(TORCH, p0, [g], lr=1.0, eps=1e-10)[0][0]
    assert torch_step == pytest.approx(0.5, rel=1e-12)              # 1e-10 / (1e-10 + 1e-10)
    keras_step = -_run(KERAS, p0, [g], learning_rate=1.0, epsilon=1.0)[0][0]
    assert keras_step == pytest.approx(1e-10 / math.sqrt(1.1), rel=1e-12)
    tf1_step = -_run(TF1, p0, [g], learning_rate=1.0)[0][0]
    assert tf1_step == pytest.approx(1e-10 / math.sqrt(0.1), rel=1e-12)
    optax_step = -_run(OPTAX, p0, [g], learning_rate=1.0, eps=1.0,
                       initial_accumulator_value=0.0)[0][0]
    assert optax_step == pytest.approx(1e-10, rel=1e-12)


def test_lr_decay_schedule():
    assert [rule.learning_rate_at(0.1, 0.5, t) for t in (1, 2, 3)] == [0.1, 0.1 / 1.5, 0.05]
    assert rule.learning_rate_at(0.1, 0.0, 10**6) == 0.1


def test_zero_accumulator_limits():
    z = np.zeros(4, f32)
    p0 = np.array([1.0, -2.0, 0.0, 3.0], f32)
    p, _ = _run(OPTAX, p0, [z, z], learning_rate=0.1, eps=0.0, initial_accumulator_value=0.0)
    np.testing.assert_array_equal(p, p0)               # optax zeroes rsqrt where G = 0
    with np.errstate(invalid="ignore"):
        p, _ = _run(TORCH, p0, [z], eps=0.0)
        assert np.isnan(p).all()                        # 0 / (0 + 0), as torch
        p, _ = _run(KERAS, p0, [z], epsilon=0.0, initial_accumulator_value=0.0)
        assert np.isnan(p).all()
    p, _ = _run(TORCH, p0, [z])                        # eps keeps the root nonzero
    np.testing.assert_array_equal(p, p0)


def test_maximize_is_minimize_of_the_negated_gradient():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(16).astype(f32)
    gs = [rng.standard_normal(16).astype(f32) for _ in range(5)]
    up, _ = _run(TORCH, p0, gs, maximize=True, weight_decay=0.1)
    down, _ = _run(TORCH, p0, [-g for g in gs], weight_decay=0.1)
    np.testing.assert_array_equal(up, down)


def test_torch_coupled_weight_decay_and_accumulator_round_once():
    rng = np.random.default_rng(1)
    p = rng.standard_normal(4096).astype(f32)
    g = rng.standard_normal(4096).astype(f32)
    exact = (g.astype(np.float64) + f32(0.1).astype(np.float64) * p).astype(f32)
    got = coupled_fma(g, p, 0.1)
    np.testing.assert_array_equal(got, exact)
    assert np.any(got != g + f32(0.1) * p)            # the fused and unfused sums differ
    acc = rng.random(4096).astype(f32)
    kw = dict(eps_ref.optimizer(TORCH).rule_kwargs)
    _, slots = rule.step(p, g, {"accumulator": acc}, t=1, **kw)
    np.testing.assert_array_equal(
        slots["accumulator"], (acc.astype(np.float64) + g.astype(np.float64) ** 2).astype(f32))


def test_keras_weight_decay_before_the_step():
    p, _ = _run(KERAS, P, [G], learning_rate=0.01, weight_decay=0.5)
    decayed = P - P * 0.5 * 0.01
    np.testing.assert_array_equal(p, decayed - (0.01 * G) / np.sqrt(0.1 + G * G + 1e-7))
    kw = _adagrad_torch_backend_semantics(eps_ref.optimizer(KERAS, weight_decay=0.5,
                                                            learning_rate=0.01).rule_kwargs)
    p32 = P.astype(f32)
    new, _ = rule.step(p32, np.zeros_like(p32), {"accumulator": np.ones_like(p32)}, t=1, **kw)
    np.testing.assert_array_equal(new, p32 * (f32(1) - f32(0.5) * f32(0.01)))


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_not_mutated(name):
    rng = np.random.default_rng(2)
    opt = eps_ref.optimizer(name, **dict(next(iter(eps_ref.spec(name).variants.values()))))
    p = rng.standard_normal(10).astype(f32)
    g = rng.standard_normal(10).astype(f32)
    state = opt.init(p)
    copies = p.copy(), g.copy(), state["slots"][0]["accumulator"].copy()
    opt.step(p, g, state)
    for before, after in zip(copies, (p, g, state["slots"][0]["accumulator"])):
        np.testing.assert_array_equal(before, after)


# -- other namespaces -------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_array_api_strict_equals_numpy(name):
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((3, 5)).astype(f32)       # 15 elements: an Eigen tail of 7
    gs = [(rng.standard_normal((3, 5)) * 10.0 ** rng.integers(-11, 1, (3, 5))).astype(f32)
          for _ in range(4)]
    gs[0][0, 0] = 0.0
    for kwargs in eps_ref.spec(name).variants.values():
        ref, _ = _run(name, p0, gs, **kwargs)
        got, _ = _run(name, xps.asarray(p0), [xps.asarray(g) for g in gs], **kwargs)
        assert _same_bits(np.asarray(got), ref), kwargs


@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_root_kernels_on_other_namespaces(namespace):
    xp = pytest.importorskip(namespace)
    x = _bits("x")[:13]
    for method in RSQRT_METHODS:
        got = np.asarray(rsqrt(xp.asarray(x), method))
        assert _same_bits(got, rsqrt(x, method)), method
    for method in SQRT_METHODS:
        got = np.asarray(sqrt(xp.asarray(x), method))
        assert _same_bits(got, sqrt(x, method)), method


# -- the CPU root kernels ------------------------------------------------------------------

def test_recorded_kernel_outputs_bit_for_bit():
    x = _bits("x")
    assert _same_bits(rsqrtps_estimate(x), _bits("estimate"))
    assert _same_bits(rsqrt(x, "eigen_rsqrtps_newton"), _bits("eigen"))
    assert _same_bits(rsqrt(x[:13], "eigen_rsqrtps_newton"), _bits("eigen_tail13"))
    assert _same_bits(rsqrt(x, "xla_rsqrtps_newton_fma"), _bits("xla"))
    assert _same_bits(sqrt(x, "mkl_goldschmidt_rsqrtps"), _bits("mkl"))
    # ... and the recorded kernels are not the correctly rounded ones.
    assert not _same_bits(rsqrt(x, "one_over_sqrt"), _bits("eigen"))
    assert not _same_bits(sqrt(x), _bits("mkl"))


def test_estimate_table_shape():
    assert len(_TABLE) == 8192
    assert all(a >= b for a, b in zip(_TABLE, _TABLE[1:]))
    assert all((v * 8192).is_integer() and 0.5 <= v < 1 for v in _TABLE)


def test_special_values():
    x = np.array([0.0, -0.0, 1e-40, -1e-40, np.inf, -1.0, np.nan, 4.0], f32)
    with np.errstate(all="ignore"):
        est = rsqrtps_estimate(x)
        assert _same_bits(est[:6], np.array([np.inf, -np.inf, np.inf, -np.inf, 0.0, np.nan], f32))
        assert np.isnan(est[6]) and est[7] == f32(_TABLE[0] / 2)
        for method in ("eigen_rsqrtps_newton", "xla_rsqrtps_newton_fma"):
            r = rsqrt(x, method)
            assert _same_bits(r[:6], est[:6]), method
        s = sqrt(x, "mkl_goldschmidt_rsqrtps")
        assert _same_bits(s[:5], np.sqrt(x[:5]))
    top = np.array([2.0 ** 127, 3.4e38], f32)
    assert _same_bits(sqrt(top, "mkl_goldschmidt_rsqrtps"), np.sqrt(top))


def test_float64_is_correctly_rounded_by_every_method():
    x = np.random.default_rng(4).random(16) + 0.5
    for method in RSQRT_METHODS:
        np.testing.assert_array_equal(rsqrt(x, method), 1 / np.sqrt(x))
    for method in SQRT_METHODS:
        np.testing.assert_array_equal(sqrt(x, method), np.sqrt(x))


positive_normal_f32 = st.floats(min_value=2.0 ** -126, max_value=2.0 ** 127, width=32)


def _ulps(a, b):
    return abs(int(np.asarray(a, f32).view(np.int32)) - int(np.asarray(b, f32).view(np.int32)))


@settings(max_examples=300, deadline=None)
@given(positive_normal_f32)
def test_kernel_accuracy(v):
    x = np.array([v] * 8, f32)
    true_rsqrt = 1 / math.sqrt(float(x[0]))
    est = float(rsqrtps_estimate(x)[0])
    assert abs(est / true_rsqrt - 1) <= 1.5 * 2.0 ** -12
    rounded = f32(true_rsqrt)
    for method in ("eigen_rsqrtps_newton", "xla_rsqrtps_newton_fma"):
        assert _ulps(rsqrt(x, method)[0], rounded) <= 2, method
    assert _ulps(sqrt(x, "mkl_goldschmidt_rsqrtps")[0], np.sqrt(x[0])) <= 1
    if float(x[0]) < 2.0 ** 125:
        assert float(rsqrtps_estimate(x * f32(4))[0]) == est / 2

"""The tf_keras base options (``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``use_ema``,
``ema_momentum``, ``ema_overwrite_frequency``): TensorFlow's clip arithmetic computed by
hand from its formulas, the EMA's float64 ``1 - momentum`` and copied start, the legacy
``OptimizerV2`` order (clipvalue, then clipnorm), and the errors tf_keras raises (and the
stricter ones here). No framework is imported."""

import array_api_strict as xps
import numpy as np
import pytest

import eps_ref
from eps_ref.rules import clipping
from eps_ref.rules.tf_keras_base import TfKerasBase

f32 = np.float32
NEW = "tf_keras.optimizers."
LEGACY = "tf_keras.optimizers.legacy."
NEW_NAMES = [NEW + n for n in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                               "Adamax", "Nadam", "Ftrl", "Lion", "Adafactor")]
LEGACY_NAMES = [LEGACY + n for n in ("SGD", "Adam", "RMSprop", "Adagrad", "Adadelta",
                                     "Adamax", "Nadam", "Ftrl")]


def bits(x):
    return np.asarray(x, dtype=f32).view(np.int32)


def sgd_step(name, p, g, **kw):
    opt = eps_ref.optimizer(name, learning_rate=1.0, **kw)
    new_p, _ = opt.step(p, g, opt.init(p))
    return np.asarray(new_p)


# -- TensorFlow's clip arithmetic ----------------------------------------------------------

def test_l2_loss_halves_each_square_before_the_sum():
    assert float(clipping.tf_l2_loss(np.array([3.0, 4.0], dtype=f32))) == 12.5
    big = np.array([1.5e19, 1.5e19], dtype=f32)
    half = f32(big[0] * big[0]) * f32(0.5)
    got = clipping.tf_l2_loss(big)
    assert np.isfinite(got) and bits(got) == bits(half + half)    # sum(x*x) would overflow
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(big * big, dtype=f32))


def test_global_norm_is_the_root_of_twice_the_summed_l2_losses():
    leaves = [np.array([[3.0, 4.0]], dtype=f32), np.array([12.0], dtype=f32)]
    assert float(clipping.tf_global_norm(leaves)) == 13.0        # sqrt(2 * (12.5 + 72))


def test_clip_by_global_norm_scales_by_c_times_min_of_reciprocals():
    leaves = [np.array([3.0, 4.0], dtype=f32), np.array([12.0], dtype=f32)]
    out = clipping.tf_clip_by_global_norm(leaves, clip_norm=6.5)
    scale = f32(6.5) * min(f32(1) / f32(13), f32(1) / f32(6.5))
    for g, o in zip(leaves, out):
        np.testing.assert_array_equal(bits(o), bits(g * scale))


def test_unclipped_global_norm_keeps_the_gradient_where_keras3_does_not():
    """Below the threshold tf's scale is fl(c) * (1 / fl(c)) in float32 (exactly 1 for 2.3);
    Keras 3's fl(c) * fl(1/c) is 1 - 2^-24 there."""
    g = [np.array([0.3, 0.4], dtype=f32)]
    tf_out = clipping.tf_clip_by_global_norm(g, clip_norm=2.3)[0]
    keras_out = clipping.keras_clip_by_global_norm(g, clipnorm=2.3)[0]
    np.testing.assert_array_equal(bits(tf_out), bits(g[0]))
    assert not np.array_equal(bits(keras_out), bits(g[0]))


def test_clip_by_global_norm_turns_a_nonfinite_norm_into_nan():
    g = [np.array([np.inf, 1.0], dtype=f32)]
    with np.errstate(invalid="ignore"):
        assert np.all(np.isnan(clipping.tf_clip_by_global_norm(g, clip_norm=1.0)[0]))


def test_clipnorm_is_tf_clip_by_norm_per_variable():
    p, g = np.zeros(2, dtype=f32), np.array([3.0, 4.0], dtype=f32)
    got = sgd_step(NEW + "SGD", p, g, clipnorm=0.5)
    np.testing.assert_array_equal(bits(got), bits(-((g * f32(0.5)) / f32(5.0))))
    small = np.array([0.03, 0.04], dtype=f32)                   # norm 0.05 < 0.5
    np.testing.assert_array_equal(bits(sgd_step(NEW + "SGD", p, small, clipnorm=0.5)),
                                  bits(-((small * f32(0.5)) / f32(0.5))))


def test_clipvalue_clamps_each_element():
    p, g = np.zeros(3, dtype=f32), np.array([3.0, -0.05, -7.0], dtype=f32)
    got = sgd_step(NEW + "SGD", p, g, clipvalue=0.1)
    np.testing.assert_array_equal(got, -np.array([0.1, -0.05, -0.1], dtype=f32))


def test_legacy_runs_clipvalue_then_clipnorm():
    p, g = np.zeros(2, dtype=f32), np.array([3.0, 4.0], dtype=f32)
    got = sgd_step(LEGACY + "SGD", p, g, clipvalue=0.1, clipnorm=0.1)
    v = np.array([0.1, 0.1], dtype=f32)
    norm = np.sqrt(v[0] * v[0] + v[1] * v[1], dtype=f32)
    np.testing.assert_array_equal(bits(got), bits(-((v * f32(0.1)) / norm)))


def test_new_optimizer_clips_by_global_norm_like_the_clip_function():
    p = np.zeros(2, dtype=f32)
    g = np.array([30.0, 40.0], dtype=f32)
    got = sgd_step(NEW + "SGD", p, g, global_clipnorm=2.3)
    want = -clipping.tf_clip_by_global_norm([g], clip_norm=2.3)[0]
    np.testing.assert_array_equal(bits(got), bits(want))


# -- the moving average --------------------------------------------------------------------

def test_ema_starts_from_the_parameters_and_mixes_with_float64_one_minus_momentum():
    mu, lr = 0.99, 0.1
    p0 = np.array([1.0, -2.0, 0.5], dtype=f32)
    g = np.array([0.5, 0.25, -1.0], dtype=f32)
    opt = eps_ref.optimizer(NEW + "SGD", learning_rate=lr, use_ema=True, ema_momentum=mu)
    state = opt.init(p0)
    np.testing.assert_array_equal(state["average"][0], p0)
    p1, state = opt.step(p0, g, state)
    p1 = np.asarray(p1)
    np.testing.assert_array_equal(p1, p0 - g * f32(lr))           # no overwrite
    want = f32(mu) * p0 + f32(1 - mu) * p1
    np.testing.assert_array_equal(bits(state["average"][0]), bits(want))
    assert f32(1 - mu) != f32(1) - f32(mu)                          # the float64 subtraction


def test_ema_overwrites_the_parameters_every_frequency_steps():
    mu, lr = 0.9, 0.1
    p0 = np.array([1.0, -2.0], dtype=f32)
    g = np.array([0.5, 0.25], dtype=f32)
    opt = eps_ref.optimizer(NEW + "SGD", learning_rate=lr, use_ema=True, ema_momentum=mu,
                            ema_overwrite_frequency=2)
    state = opt.init(p0)
    p1, state = opt.step(p0, g, state)
    p2, state = opt.step(p1, g, state)
    a1 = f32(mu) * p0 + f32(1 - mu) * np.asarray(p1)
    a2 = f32(mu) * a1 + f32(1 - mu) * (np.asarray(p1) - g * f32(lr))
    np.testing.assert_array_equal(bits(p2), bits(a2))
    np.testing.assert_array_equal(bits(state["average"][0]), bits(a2))


def test_options_off_means_no_base():
    assert eps_ref.optimizer(NEW + "RMSprop").base is None      # frequency 100, no EMA
    assert eps_ref.optimizer(LEGACY + "Adam").base is None
    assert eps_ref.optimizer(NEW + "Adam", ema_momentum=0.5).base is None


@pytest.mark.parametrize("name", NEW_NAMES)
@pytest.mark.parametrize("kw", [{"clipnorm": 1.0}, {"clipvalue": 0.1},
                                {"global_clipnorm": 2.3},
                                {"use_ema": True, "ema_overwrite_frequency": 3}])
def test_every_new_optimizer_takes_the_base_options(name, kw):
    opt = eps_ref.optimizer(name, **kw)
    assert isinstance(opt.base, TfKerasBase)
    p = np.linspace(-1, 1, 8, dtype=f32).reshape(2, 4)
    g = np.full((2, 4), 50.0, dtype=f32)
    p1, _ = opt.step(p, g, opt.init(p))
    assert np.all(np.isfinite(np.asarray(p1)))


@pytest.mark.parametrize("name", LEGACY_NAMES)
def test_every_legacy_optimizer_takes_the_clipping_keywords(name):
    for kw in ({"clipnorm": 1.0}, {"clipvalue": 0.1, "global_clipnorm": 2.3}):
        assert eps_ref.optimizer(name, **kw).base.clip_order == "value_then_norm"


# -- namespaces, purity --------------------------------------------------------------------

def test_array_api_strict_matches_numpy_and_inputs_are_not_mutated():
    kw = dict(momentum=0.9, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=2,
              global_clipnorm=0.7)
    rng = np.random.default_rng(3)
    p = rng.standard_normal((3, 5)).astype(f32)
    grads = [rng.standard_normal((3, 5)).astype(f32) * 10 for _ in range(4)]
    results = []
    for wrap in (np.asarray, xps.asarray):
        opt = eps_ref.optimizer(NEW + "SGD", **kw)
        q, state = wrap(p), opt.init(wrap(p))
        for g in grads:
            g_in = wrap(g)
            g_copy = np.array(g_in, copy=True)
            q, state = opt.step(q, g_in, state)
            np.testing.assert_array_equal(np.asarray(g_in), g_copy)
        results.append(np.asarray(q))
    np.testing.assert_array_equal(bits(results[0]), bits(results[1]))
    for c in ({"clipnorm": 0.7}, {"clipvalue": 0.1, "clipnorm": 0.5}):
        outs = []
        for wrap in (np.asarray, xps.asarray):
            opt = eps_ref.optimizer(LEGACY + "Adam", **c)
            q, _ = opt.step(wrap(p), wrap(grads[0]), opt.init(wrap(p)))
            outs.append(np.asarray(q))
        np.testing.assert_array_equal(bits(outs[0]), bits(outs[1]))


# -- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, match", [(NEW + "Adam", "At most one"),
                                         (LEGACY + "Adam", "Cannot accept both")])
def test_clipnorm_and_global_clipnorm_together_are_refused(name, match):
    with pytest.raises(ValueError, match=match):
        eps_ref.optimizer(name, clipnorm=1.0, global_clipnorm=1.0)


@pytest.mark.parametrize("keyword", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_negative_threshold_in_a_legacy_optimizer_raises_as_tf_keras(keyword):
    with pytest.raises(ValueError, match=f"Expected {keyword} >= 0, received: -1.0"):
        eps_ref.optimizer(LEGACY + "SGD", **{keyword: -1.0})


@pytest.mark.parametrize("name", [NEW + "SGD", LEGACY + "SGD"])
@pytest.mark.parametrize("value", [0.0, -0.5, float("inf"), float("nan")])
@pytest.mark.parametrize("keyword", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_threshold_not_a_positive_finite_number_is_refused(name, value, keyword):
    with pytest.raises(ValueError, match=keyword):
        eps_ref.optimizer(name, **{keyword: value})


def test_non_number_threshold_is_unsupported():
    with pytest.raises(NotImplementedError, match="tf_keras"):
        eps_ref.optimizer(NEW + "Adam", clipnorm="1.0")


@pytest.mark.parametrize("other", ["clipnorm", "global_clipnorm"])
def test_clipvalue_with_a_norm_clip_is_refused_by_the_new_optimizer(other):
    with pytest.raises(ValueError, match="silently ignore clipvalue"):
        eps_ref.optimizer(NEW + "SGD", clipvalue=0.1, **{other: 1.0})


@pytest.mark.parametrize("kw, match", [
    ({"use_ema": True, "ema_momentum": 1.5}, "ema_momentum"),
    ({"use_ema": True, "ema_momentum": -0.1}, "ema_momentum"),
    ({"use_ema": True, "ema_overwrite_frequency": 2.5}, "ema_overwrite_frequency"),
    ({"use_ema": True, "ema_overwrite_frequency": -3}, "ema_overwrite_frequency"),
    ({"use_ema": 1}, "use_ema"),
])
def test_bad_ema_keywords_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        eps_ref.optimizer(NEW + "Adam", **kw)


def test_ema_keywords_are_ignored_without_use_ema_as_in_tf_keras():
    assert eps_ref.optimizer(NEW + "Adam", ema_momentum=1.5).base is None
    assert eps_ref.optimizer(NEW + "Adam", ema_overwrite_frequency=3).base is None


def test_legacy_optimizers_take_no_ema_and_no_other_kwargs():
    for kw in ({"use_ema": True}, {"decay": 0.1}):
        with pytest.raises(TypeError, match="unexpected keyword"):
            eps_ref.optimizer(LEGACY + "SGD", **kw)

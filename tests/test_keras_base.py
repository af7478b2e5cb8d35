"""Keras 3 base-optimizer options on every keras.optimizers spec: clipnorm (per variable),
global_clipnorm, clipvalue, loss_scale_factor, gradient_accumulation_steps (averaging, the
step counter), use_ema / ema_overwrite_frequency; validation; purity; namespaces."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.keras_base import BACKEND_NUMERICS

f32 = np.float32
SGD = "keras.optimizers.SGD"
ADAM = "keras.optimizers.Adam"


def tree():
    return [np.array([3.0, 4.0], dtype=f32), np.array([12.0], dtype=f32)]


def zeros():
    return [np.zeros(2, dtype=f32), np.zeros(1, dtype=f32)]


def one_step(name, grads=None, **kw):
    opt = eps_ref.optimizer(name, **kw)
    p = zeros()
    out, _ = opt.step(p, tree() if grads is None else grads, opt.init(p))
    return out


def test_defaults_add_nothing():
    assert eps_ref.optimizer(SGD).base is None
    assert eps_ref.optimizer(ADAM, weight_decay=0.01).base is None


def test_clipnorm_clips_each_variable_on_its_own():
    out = one_step(SGD, learning_rate=1.0, clipnorm=1.0)
    np.testing.assert_array_equal(out[0], [-(f32(3) / f32(5)), -(f32(4) / f32(5))])
    np.testing.assert_array_equal(out[1], [-1.0])


def test_global_clipnorm_clips_the_whole_tree():
    out = one_step(SGD, learning_rate=1.0, global_clipnorm=1.0)
    scale = f32(1.0) * min(f32(1) / f32(13), f32(1.0))
    np.testing.assert_array_equal(out[0], -(tree()[0] * scale))
    np.testing.assert_array_equal(out[1], -(tree()[1] * scale))
    np.testing.assert_allclose(out[1], [-12 / 13], rtol=1e-6)


def test_clipvalue():
    out = one_step(SGD, learning_rate=1.0, clipvalue=0.5)
    np.testing.assert_array_equal(out[0], [-0.5, -0.5])


def test_below_the_clip_thresholds_nothing_changes():
    plain = one_step(SGD, learning_rate=1.0)
    for kw in ({"clipnorm": 20.0}, {"global_clipnorm": 20.0}, {"clipvalue": 20.0}):
        for a, b in zip(one_step(SGD, learning_rate=1.0, **kw), plain):
            np.testing.assert_array_equal(a, b)


def test_loss_scale_factor_divides_the_gradients():
    out = one_step(SGD, learning_rate=1.0, loss_scale_factor=4.0)
    np.testing.assert_array_equal(out[0], [-0.75, -1.0])
    g = [np.array([1.0, 9.0], dtype=f32)]            # 9/10 != 9 * (1/10) in float32
    for backend, expected in (("tensorflow", g[0] / f32(10)), ("torch", g[0] / f32(10)),
                              ("jax", g[0] * (f32(1) / f32(10)))):
        opt = eps_ref.optimizer(SGD, learning_rate=1.0, loss_scale_factor=10.0,
                                backend=backend)
        out, _ = opt.step([np.zeros(2, dtype=f32)], g, opt.init([np.zeros(2, dtype=f32)]))
        np.testing.assert_array_equal(out[0], -expected)


def test_jax_divides_a_one_element_gradient():
    """XLA:CPU rewrites a division by a broadcast scalar into a multiplication by its
    reciprocal only where the broadcast adds elements: a one-element leaf is divided
    (loss scale, and clipnorm's division by the bound), a longer one is not."""
    from eps_ref.rules._numerics import xla_rewrites_division
    assert not xla_rewrites_division(np.zeros(1, f32))
    assert not xla_rewrites_division(np.zeros((1, 1), f32), np.ones((1, 1), f32))
    assert xla_rewrites_division(np.zeros(2, f32))
    assert xla_rewrites_division(np.zeros((3, 4), f32), np.ones((3, 1), f32))
    nine = np.array([9.0], dtype=f32)
    assert nine / f32(10) != nine * (f32(1) / f32(10))
    leaves = [nine, np.array([1.0, 9.0], dtype=f32)]
    zeros_ = [np.zeros_like(x) for x in leaves]
    opt = eps_ref.optimizer(SGD, learning_rate=1.0, loss_scale_factor=10.0, backend="jax")
    out, _ = opt.step(zeros_, leaves, opt.init(zeros_))
    np.testing.assert_array_equal(out[0], -(nine / f32(10)))
    np.testing.assert_array_equal(out[1], -(leaves[1] * (f32(1) / f32(10))))
    # clipnorm 0.9: (g * 0.9) / |g| on a one-element leaf, (g * 0.9) * (1 / |g|) on more
    leaves = [np.array([3.0], dtype=f32), np.array([7.0, 24.0], dtype=f32)]
    c = f32(0.9)
    assert (leaves[0] * c) / f32(3) != (leaves[0] * c) * (f32(1) / f32(3))
    assert ((leaves[1] * c) / f32(25) != (leaves[1] * c) * (f32(1) / f32(25))).any()
    opt = eps_ref.optimizer(SGD, learning_rate=1.0, clipnorm=0.9, backend="jax")
    out, _ = opt.step(zeros_, leaves, opt.init(zeros_))
    np.testing.assert_array_equal(out[0], -((leaves[0] * c) / f32(3)))
    np.testing.assert_array_equal(out[1], -((leaves[1] * c) * (f32(1) / f32(25))))


def test_gradient_accumulation_averages_and_updates_every_n_calls():
    opt = eps_ref.optimizer(SGD, learning_rate=1.0, gradient_accumulation_steps=3,
                            weight_decay=0.5)
    p = [np.ones(2, dtype=f32)]
    state = opt.init(p)
    gs = [np.array([1.0, 2.0], dtype=f32), np.array([4.0, 8.0], dtype=f32),
          np.array([7.0, -1.0], dtype=f32)]
    p1, state = opt.step(p, [gs[0]], state)
    p2, state = opt.step(p1, [gs[1]], state)
    np.testing.assert_array_equal(p2[0], p[0])            # no update, no weight decay yet
    np.testing.assert_array_equal(state["accumulated"][0], gs[0] + gs[1])
    p3, state = opt.step(p2, [gs[2]], state)
    mean = (gs[2] + (gs[0] + gs[1])) / f32(3)
    np.testing.assert_array_equal(p3[0], (p[0] - p[0] * f32(0.5) * f32(1.0)) - mean)
    np.testing.assert_array_equal(state["accumulated"][0], [0.0, 0.0])
    assert state["step"] == 3


def test_accumulation_counts_update_steps_for_adam_bias_correction():
    """Keras' ``iterations`` is calls // N under accumulation, so Adam's t is 1 at its first
    update: the result equals plain Adam fed the averaged gradients."""
    acc = eps_ref.optimizer(ADAM, gradient_accumulation_steps=2)
    plain = eps_ref.optimizer(ADAM)
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal(4).astype(f32) for _ in range(8)]
    p = np.linspace(-1, 1, 4, dtype=f32)
    pa, sa, pp, sp = p, acc.init(p), p, plain.init(p)
    for i, g in enumerate(gs):
        pa, sa = acc.step(pa, g, sa)
        if i % 2 == 1:
            pp, sp = plain.step(pp, (g + gs[i - 1]) / f32(2), sp)
            np.testing.assert_array_equal(pa, pp)
    assert sa["step"] == 8 and sp["step"] == 4
    # first update is about lr * sign(g): t = 1, not t = 2
    first, _ = acc.step(p, gs[1], acc.step(p, gs[0], acc.init(p))[1])
    np.testing.assert_allclose(np.abs(first - p), 1e-3, rtol=1e-3)


def test_ema_starts_as_a_copy_then_averages():
    opt = eps_ref.optimizer(SGD, learning_rate=1.0, use_ema=True)
    plain = eps_ref.optimizer(SGD, learning_rate=1.0)
    p = np.zeros(2, dtype=f32)
    g = np.array([1.0, -2.0], dtype=f32)
    p1, s = opt.step(p, g, opt.init(p))
    np.testing.assert_array_equal(s["average"][0], p1)             # momentum 0 on the first call
    p2, s = opt.step(p1, g, s)
    mu = f32(0.99)
    np.testing.assert_array_equal(s["average"][0], mu * p1 + (f32(1) - mu) * p2)
    q, sq = plain.step(p, g, plain.init(p))
    q, sq = plain.step(q, g, sq)
    np.testing.assert_array_equal(p2, q)                         # EMA alone is invisible


def test_ema_overwrite_frequency_replaces_the_parameters():
    opt = eps_ref.optimizer(SGD, learning_rate=1.0, use_ema=True, ema_momentum=0.5,
                            ema_overwrite_frequency=2)
    p = np.zeros(2, dtype=f32)
    g = np.array([1.0, -2.0], dtype=f32)
    p1, s = opt.step(p, g, opt.init(p))                         # p1 = -g, average = p1
    np.testing.assert_array_equal(p1, -g)
    p2, s = opt.step(p1, g, s)                                  # -2g, average 0.5*(-g) + 0.5*(-2g)
    np.testing.assert_array_equal(p2, f32(0.5) * -g + f32(0.5) * (-2 * g))
    np.testing.assert_array_equal(p2, s["average"][0])
    p3, s = opt.step(p2, g, s)
    np.testing.assert_array_equal(p3, p2 - g)                   # call 3: no overwrite


def test_ema_with_accumulation_uses_the_accumulated_iterations():
    opt = eps_ref.optimizer(SGD, learning_rate=1.0, use_ema=True, ema_momentum=0.5,
                            gradient_accumulation_steps=2, ema_overwrite_frequency=2)
    p = np.zeros(1, dtype=f32)
    g = np.ones(1, dtype=f32)
    p1, s = opt.step(p, g, opt.init(p))          # calls 0: iterations 0, average = p
    np.testing.assert_array_equal(s["average"][0], p)
    p2, s = opt.step(p1, g, s)                   # iterations 0: update to -1, average copy
    np.testing.assert_array_equal(p2, [-1.0])
    np.testing.assert_array_equal(s["average"][0], [-1.0])
    p3, s = opt.step(p2, g, s)                   # iterations 1: average 0.5*-1 + 0.5*-1
    # (iterations + 1) % 2 == 0 on calls 2 and 3: the params take the average
    np.testing.assert_array_equal(p3, [-1.0])
    p4, s = opt.step(p3, g, s)                   # update to -2, average -1.5, overwrite
    np.testing.assert_array_equal(p4, [-1.5])


def test_options_reach_every_keras_spec():
    for name in eps_ref.specs(framework="keras", kind="optimizer"):
        s = eps_ref.spec(name)
        if "clipvalue" not in s.defaults:
            continue
        kw = {k: (1e-3 if v is eps_ref.REQUIRED else v) for k, v in s.variants.get(
            "defaults", {}).items()}
        try:
            opt = eps_ref.optimizer(name, **kw, clipvalue=0.1)
        except NotImplementedError:
            continue
        assert opt.base is not None and opt.base.clipvalue == 0.1


def test_backend_kernels():
    for backend, numerics in BACKEND_NUMERICS.items():
        opt = eps_ref.optimizer(SGD, clipnorm=1.0, backend=backend)
        assert opt.base.backend == backend
        assert numerics["division"] == ("multiply_by_reciprocal" if backend == "jax"
                                        else "divide")
    assert eps_ref.optimizer(SGD, clipnorm=1.0).base.backend == "tensorflow"


@pytest.mark.parametrize("kwargs", [
    {"clipnorm": 1.0, "clipvalue": 0.1},
    {"clipnorm": -1.0},
    {"clipnorm": 0.0},
    {"global_clipnorm": float("nan")},
    {"clipvalue": "0.1"},
    {"loss_scale_factor": 0.0},
    {"gradient_accumulation_steps": 1},
    {"gradient_accumulation_steps": 2.0},
    {"use_ema": True, "ema_momentum": 1.5},
    {"use_ema": True, "ema_overwrite_frequency": 0},
    {"ema_overwrite_frequency": 10},
    {"use_ema": "yes"},
])
def test_bad_base_keywords(kwargs):
    with pytest.raises(ValueError):
        eps_ref.optimizer(SGD, **kwargs)


def test_inputs_and_state_are_not_mutated():
    opt = eps_ref.optimizer(ADAM, gradient_accumulation_steps=2, use_ema=True, clipnorm=1.0)
    p = tree()
    g = tree()
    state = opt.init(p)
    s1 = opt.step(p, g, state)[1]
    acc_before = [a.copy() for a in s1["accumulated"]]
    opt.step(p, g, s1)
    for a, b in zip(s1["accumulated"], acc_before):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(p, tree()):
        np.testing.assert_array_equal(a, b)
    assert state["step"] == 0


@pytest.mark.parametrize("option", [
    {"clipnorm": 1.0}, {"global_clipnorm": 1.0}, {"clipvalue": 0.1},
    {"loss_scale_factor": 128.0}, {"gradient_accumulation_steps": 2},
    {"use_ema": True, "ema_overwrite_frequency": 2},
])
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_array_api_strict(option, backend):
    xps = pytest.importorskip("array_api_strict")
    opt = eps_ref.optimizer(ADAM, backend=backend, **option)
    p_np, g_np = tree(), [10 * x for x in tree()]
    p, g = [xps.asarray(x) for x in p_np], [xps.asarray(x) for x in g_np]
    s, s_np = opt.init(p), opt.init(p_np)
    for _ in range(4):
        p, s = opt.step(p, g, s)
        p_np, s_np = opt.step(p_np, g_np, s_np)
    for a, b in zip(p, p_np):
        assert type(a).__module__.startswith("array_api_strict")
        np.testing.assert_array_equal(np.asarray(a), b)

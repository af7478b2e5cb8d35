"""Schedule-Free AdamW (Keras on three backends, optax.contrib): hand-computed first steps,
the averaging weights c_t, the y/z/x sequences, warmup, weight-decay placement, limits,
purity and array_api_strict."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.schedule_free import averaging_weight, eval_params, schedule_free_adamw

f32, f64 = np.float32, np.float64
KERAS = "keras.optimizers.ScheduleFreeAdamW"
OPTAX = "optax.contrib.schedule_free_adamw"


def _opt(name, backend=None, **kw):
    return eps_ref.optimizer(name, backend=backend, **kw) if backend else \
        eps_ref.optimizer(name, **kw)


def _params(dtype=f64):
    p = np.array([[1.0, -2.0, 0.5, 3.0], [0.25, -0.75, 1.5, -1.0]], dtype)
    g = np.array([[0.3, -1e-10, 0.0, -4.0], [2.0, 0.5, -0.125, 1e-3]], dtype)
    return p, g


def _run(opt, p, grads):
    state = opt.init(p)
    out = [p]
    for g in grads:
        p, state = opt.step(p, g, state)
        out.append(p)
    return out, state


# -- first steps ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,backend", [(KERAS, None), (KERAS, "jax"), (KERAS, "torch"),
                                          (OPTAX, None)])
def test_first_step_by_hand(name, backend):
    """t = 1: v/(1-b2) = g^2, z_2 = z_1 - lr g/(|g| + eps); c_2 = 1 so x_2 = z_2 and
    y_2 = (1-b1) z_2 + b1 x_2 = z_2 (x_1 = z_1 = y_1 = theta_0 in both frameworks)."""
    p, g = _params()
    opt = _opt(name, backend)
    p1, state = opt.step(p, g, opt.init(p))
    z = p - 0.0025 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(state["slots"][0]["z"], z, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p1, z, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state["slots"][0]["v"], 0.001 * g * g, rtol=1e-12)


def test_second_step_by_hand_optax():
    p, g = _params()
    g2 = -0.5 * g
    (_, y1, y2), state = _run(_opt(OPTAX), p, [g, g2])
    z1 = p - 0.0025 * g / (np.abs(g) + 1e-8)
    v = 0.999 * 0.001 * g * g + 0.001 * g2 * g2
    z2 = z1 - 0.0025 * g2 / (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    x1 = (y1 - 0.1 * z1) / 0.9                    # = z1
    x2 = 0.5 * x1 + 0.5 * z2                      # c_3 = 1/2
    np.testing.assert_allclose(y2, 0.9 * x2 + 0.1 * z2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state["slots"][0]["z"], z2, rtol=1e-12, atol=1e-15)


# -- the sequences --------------------------------------------------------------------------

@pytest.mark.parametrize("name,backend", [(OPTAX, None)])
def test_x_is_the_running_average_of_z(name, backend):
    """Without warmup c_{t+1} = 1/t, so x_{t+1} = mean(z_2, ..., z_{t+1}); the parameter is y
    and eval_params recovers x = (y - (1-b1) z)/b1 from it."""
    rng = np.random.default_rng(0)
    p, _ = _params()
    grads = [rng.standard_normal(p.shape) for _ in range(6)]
    opt = _opt(name, backend)
    state = opt.init(p)
    zs = []
    y = p
    for g in grads:
        y, state = opt.step(y, g, state)
        zs.append(state["slots"][0]["z"])
        x = eval_params(y, state["slots"][0]["z"], beta1=0.9)
        np.testing.assert_allclose(x, np.mean(zs, axis=0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", [None, "torch"])
def test_keras_tensorflow_and_torch_recover_x_from_the_new_z(backend):
    """Keras reads ``momentum_old = momentum.value`` before ``assign_sub``; on TensorFlow and
    torch that is a live reference, so x is recovered from z_{t+1}, not z_t."""
    rng = np.random.default_rng(1)
    p, _ = _params()
    grads = [rng.standard_normal(p.shape) for _ in range(3)]
    live, _ = _run(_opt(KERAS, backend), p, grads)
    snapshot, _ = _run(_opt(KERAS, "jax"), p, grads)
    np.testing.assert_allclose(live[1], snapshot[1], rtol=1e-12)    # z_1 = y_1: no difference
    assert not np.allclose(live[3], snapshot[3], rtol=1e-9, atol=0)
    assert _opt(KERAS).rule_kwargs["previous_z"] == "after_step"
    assert _opt(KERAS, "jax").rule_kwargs["previous_z"] == "before_step"


def test_averaging_weights():
    like = np.zeros((), f64)
    # Keras: 1/t in the param dtype
    for t in (1, 2, 7):
        ck, _ = averaging_weight({}, t, lr=1.0, warmup_steps=0, average_weights="uniform",
                                 warmup_schedule="keras", weight_lr_power=2.0, like=like)
        assert ck == 1.0 / t
    # optax: c_t = lr_max^2 / sum lr_max^2. With linear warmup lr_t = lr t / W (t <= W), so
    # c_t = t^2 / (t (t+1) (2t+1) / 6).
    slots = {"weight_sum": np.zeros((), f64), "max_lr": np.zeros((), f64)}
    for t in range(1, 8):
        ck, slots = averaging_weight(slots, t, lr=0.5, warmup_steps=10,
                                     average_weights="lr_max_power",
                                     warmup_schedule="optax_linear", weight_lr_power=2.0,
                                     like=like)
        assert np.isclose(ck, t * t / (t * (t + 1) * (2 * t + 1) / 6), rtol=1e-12)
    # weight_lr_power = 0: every weight is 1, c_t = 1/t even during warmup
    slots = {"weight_sum": np.zeros((), f64), "max_lr": np.zeros((), f64)}
    for t in range(1, 5):
        ck, slots = averaging_weight(slots, t, lr=0.5, warmup_steps=10,
                                     average_weights="lr_max_power",
                                     warmup_schedule="optax_linear", weight_lr_power=0.0,
                                     like=like)
        assert np.isclose(ck, 1.0 / t, rtol=1e-12)


def test_float32_running_sum_rounds():
    """optax keeps sum lr^2 in float32: c_t drifts from 1/t by its rounding."""
    like = np.zeros((), f32)
    slots = {"weight_sum": np.zeros((), f32), "max_lr": np.zeros((), f32)}
    differs = 0
    for t in range(1, 400):
        ck, slots = averaging_weight(slots, t, lr=0.0025, warmup_steps=0,
                                     average_weights="lr_max_power", warmup_schedule="none",
                                     weight_lr_power=2.0, like=like)
        differs += ck != f32(1) / f32(t)
    assert differs > 0


# -- warmup ---------------------------------------------------------------------------------

def test_optax_warmup_first_z_step_is_zero():
    """The base optimizer reads the schedule at count 0: lr_1 = 0, so z and y stay put."""
    p, g = _params()
    opt = _opt(OPTAX, warmup_steps=4)
    p1, state = opt.step(p, g, opt.init(p))
    np.testing.assert_array_equal(p1, p)
    np.testing.assert_array_equal(state["slots"][0]["z"], p)
    assert np.isclose(state["slots"][0]["max_lr"], 0.0025 / 4)   # the wrapper reads count 1


def test_keras_warmup_scales_the_first_step():
    p, g = _params()
    opt = _opt(KERAS, warmup_steps=4)
    p1, _ = opt.step(p, g, opt.init(p))
    np.testing.assert_allclose(p1, p - 0.0025 / 4 * g / (np.abs(g) + 1e-8), rtol=1e-12)


# -- weight decay ---------------------------------------------------------------------------

def test_weight_decay_placement():
    p, g = _params()
    # optax: + wd*y inside the z step, scaled by lr
    p1, state = _opt(OPTAX, weight_decay=0.1).step(p, g, _opt(OPTAX).init(p))
    z = p - 0.0025 * (g / (np.abs(g) + 1e-8) + 0.1 * p)
    np.testing.assert_allclose(state["slots"][0]["z"], z, rtol=1e-12, atol=1e-15)
    # Keras: y <- y - y*wd*lr before the step (full lr); z is not decayed, and with c = 1
    # at t = 1 the new y is the new z.
    q1, state = _opt(KERAS, "jax", weight_decay=0.1).step(p, g, _opt(KERAS).init(p))
    np.testing.assert_allclose(q1, p - 0.0025 * g / (np.abs(g) + 1e-8), rtol=1e-12,
                               atol=1e-15)
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(p.shape) for _ in range(3)]
    decayed, _ = _run(_opt(KERAS, "jax", weight_decay=0.1), p, grads)
    plain, _ = _run(_opt(KERAS, "jax"), p, grads)
    assert not np.allclose(decayed[3], plain[3], rtol=1e-12, atol=0)


# -- limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,backend", [(KERAS, None), (KERAS, "torch")])
def test_zero_gradient_keeps_params(name, backend):
    p, _ = _params(f32)
    out, _ = _run(_opt(name, backend), p, [np.zeros_like(p)] * 3)
    for y in out:
        np.testing.assert_array_equal(y, p)


@pytest.mark.parametrize("name,backend", [(OPTAX, None)])
def test_zero_gradient_moves_by_the_reciprocal_rounding(name, backend):
    """Under XLA, x = (y - (1-b1) z) * fl(1/b1): with z = y the round trip through x need
    not return y, so a zero gradient moves the parameter by up to an ULP (optax 0.2.8 does,
    measured), once: afterwards x and z agree."""
    p, _ = _params(f32)
    out, _ = _run(_opt(name, backend), p, [np.zeros_like(p)] * 3)
    ulps = np.abs(out[1].view(np.int32).astype(np.int64) - p.view(np.int32))
    assert 0 < ulps.max() <= 2


def test_huge_eps_is_schedule_free_sgd():
    """eps >> sqrt(v_hat): z steps by -lr g / eps, plain SGD on z."""
    p, g = _params()
    p1, state = _opt(OPTAX, eps=1e10, learning_rate=1e10).step(p, g, _opt(OPTAX).init(p))
    np.testing.assert_allclose(state["slots"][0]["z"], p - g, rtol=1e-6, atol=1e-12)


def test_validation():
    with pytest.raises(ValueError):
        _opt(KERAS, beta_1=0.0)
    with pytest.raises(ValueError):
        _opt(KERAS, warmup_steps=-1)
    with pytest.raises(ValueError):
        _opt(OPTAX, b1=0.0)
    with pytest.raises(NotImplementedError):
        _opt(OPTAX, state_dtype="bfloat16")
    with pytest.raises(ValueError):
        schedule_free_adamw.step(np.ones(2), np.ones(2), schedule_free_adamw.init(np.ones(2)),
                                 t=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                                 average_weights="polyak")


# -- purity and namespaces ------------------------------------------------------------------

SPEC_KW = [
    (KERAS, None, {"weight_decay": 0.01, "warmup_steps": 3}),
    (KERAS, "jax", {}),
    (KERAS, "torch", {"weight_decay": 0.01}),
    (OPTAX, None, {"weight_decay": 0.01, "warmup_steps": 3}),
    (OPTAX, None, {}),
]


@pytest.mark.parametrize("name,backend,kw", SPEC_KW)
def test_inputs_not_mutated(name, backend, kw):
    p, g = _params(f32)
    p_copy, g_copy = p.copy(), g.copy()
    opt = _opt(name, backend, **kw)
    state = opt.init(p)
    slots_copy = {k: np.array(v, copy=True) for k, v in state["slots"][0].items()}
    for _ in range(3):
        opt.step(p, g, state)
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(g, g_copy)
    for k, v in state["slots"][0].items():
        np.testing.assert_array_equal(v, slots_copy[k])
    # z starts as a copy of the parameter, not a view of it
    assert not np.shares_memory(state["slots"][0]["z"], p)


@pytest.mark.parametrize("name,backend,kw", SPEC_KW)
def test_array_api_strict_matches_numpy(name, backend, kw):
    xps = pytest.importorskip("array_api_strict")
    p, g = _params(f32)
    opt = _opt(name, backend, **kw)
    pn, sn = p, opt.init(p)
    ps, ss = xps.asarray(p), opt.init(xps.asarray(p))
    for k in range(4):
        gk = g * f32(1 + k)
        pn, sn = opt.step(pn, gk, sn)
        ps, ss = opt.step(ps, xps.asarray(gk), ss)
    np.testing.assert_array_equal(np.asarray(ps), pn)

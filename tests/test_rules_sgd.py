"""The SGD family: plain, momentum, dampening, Nesterov, weight decay, in every dialect.

Hand-computed steps use dyadic values (exact in float32), so every dialect's formula can be
checked exactly; the rounding-order tests use operands whose product is not a float32, so
that the fused and the separate multiply-add, and the different Nesterov orders, disagree
in a way that is worked out by hand below.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import eps_ref
from eps_ref.frameworks.keras import _sgd_torch_backend_semantics
from eps_ref.rules import sgd as sgd_module
from eps_ref.rules.sgd import sgd

f32 = np.float32
SGD_SPECS = ["torch.optim.SGD", "keras.optimizers.SGD",
             "tf.compat.v1.train.GradientDescentOptimizer",
             "tf.compat.v1.train.MomentumOptimizer", "optax.sgd"]
LR_KEY = {"torch.optim.SGD": "lr"}


def _lr(name, value):
    return {LR_KEY.get(name, "learning_rate"): value}


def _run(name, p0, grads, **kwargs):
    opt = eps_ref.optimizer(name, **kwargs)
    p = np.asarray(p0, dtype=f32)
    state = opt.init(p)
    out = []
    for g in grads:
        p, state = opt.step(p, np.asarray(g, dtype=f32), state)
        out.append(p)
    return np.stack(out), state


def _rule(p0, grads, **kw):
    p = np.asarray(p0, dtype=f32)
    slots = sgd.init(p, **sgd.init_kwargs(kw))
    out = []
    for t, g in enumerate(grads, start=1):
        p, slots = sgd.step(p, np.asarray(g, dtype=f32), slots, t=t, **kw)
        out.append(p)
    return np.stack(out), slots


# -- hand-computed steps -------------------------------------------------------------------

@pytest.mark.parametrize("name", SGD_SPECS)
def test_plain_step_every_dialect(name):
    # p - lr*g = [1 - 0.25*0.5, -2 - 0.25*0.25]
    kwargs = _lr(name, 0.25)
    if name == "tf.compat.v1.train.MomentumOptimizer":
        kwargs["momentum"] = 0.0
    traj, _ = _run(name, [1.0, -2.0], [[0.5, 0.25]], **kwargs)
    np.testing.assert_array_equal(traj[0], f32([0.875, -2.0625]))


def test_torch_first_buffer_is_the_gradient_and_dampening_starts_at_step_2():
    # b1 = g1 = 1 (no dampening); b2 = 0.5*1 + 0.75*2 = 2; b3 = 0.5*2 + 0.75*(-1) = 0.25
    traj, state = _run("torch.optim.SGD", [4.0], [[1.0], [2.0], [-1.0]],
                       lr=0.5, momentum=0.5, dampening=0.25)
    np.testing.assert_array_equal(traj[:, 0], f32([3.5, 2.5, 2.375]))
    np.testing.assert_array_equal(state["slots"][0]["momentum_buffer"], f32([0.25]))


def test_torch_nesterov():
    # b1 = 1, d = 1 + 0.5*1 = 1.5, p = 4 - 0.75; b2 = 0.5 + 2 = 2.5, d = 2 + 1.25, p -= 1.625
    traj, _ = _run("torch.optim.SGD", [4.0], [[1.0], [2.0]], lr=0.5, momentum=0.5,
                   nesterov=True)
    np.testing.assert_array_equal(traj[:, 0], f32([3.25, 1.625]))


def test_torch_coupled_weight_decay_and_maximize():
    # maximize: g' = -g + wd*p = -1 + 0.25*4 = 0 at every step, so p stays 4
    traj, _ = _run("torch.optim.SGD", [4.0], [[1.0], [1.0]], lr=0.5, weight_decay=0.25,
                   maximize=True)
    np.testing.assert_array_equal(traj[:, 0], f32([4.0, 4.0]))
    # minimise: g' = 1 + 1 = 2, p = 4 - 1 = 3; g' = 1 + 0.75, p = 3 - 0.875
    traj, _ = _run("torch.optim.SGD", [4.0], [[1.0], [1.0]], lr=0.5, weight_decay=0.25)
    np.testing.assert_array_equal(traj[:, 0], f32([3.0, 2.125]))


def test_keras_velocity_holds_the_learning_rate():
    # v1 = -0.5*1, p = 3.5; v2 = 0.5*(-0.5) - 0.5*2 = -1.25, p = 2.25
    traj, state = _run("keras.optimizers.SGD", [4.0], [[1.0], [2.0]], learning_rate=0.5,
                       momentum=0.5)
    np.testing.assert_array_equal(traj[:, 0], f32([3.5, 2.25]))
    np.testing.assert_array_equal(state["slots"][0]["momentum"], f32([-1.25]))


def test_keras_nesterov():
    # p1 = 4 + (0.5*(-0.5) - 0.5) = 3.25; v2 = -1.25, p2 = 3.25 + (-0.625 - 1) = 1.625
    traj, _ = _run("keras.optimizers.SGD", [4.0], [[1.0], [2.0]], learning_rate=0.5,
                   momentum=0.5, nesterov=True)
    np.testing.assert_array_equal(traj[:, 0], f32([3.25, 1.625]))


def test_keras_decoupled_weight_decay_comes_first():
    # p = 4 - 4*0.25*0.5 = 3.5, then p - 0.5*1 = 3.0
    traj, _ = _run("keras.optimizers.SGD", [4.0], [[1.0]], learning_rate=0.5,
                   weight_decay=0.25)
    np.testing.assert_array_equal(traj[0], f32([3.0]))


@pytest.mark.parametrize("name", ["tf.compat.v1.train.MomentumOptimizer", "optax.sgd"])
def test_accumulator_dialects(name):
    # a1 = 1, p = 3.5; a2 = 0.5 + 2 = 2.5, p = 3.5 - 1.25 = 2.25
    traj, state = _run(name, [4.0], [[1.0], [2.0]], learning_rate=0.5, momentum=0.5)
    np.testing.assert_array_equal(traj[:, 0], f32([3.5, 2.25]))
    slot = "momentum" if name.startswith("tf") else "trace"
    np.testing.assert_array_equal(state["slots"][0][slot], f32([2.5]))
    # Nesterov: p1 = 4 - 0.5*(1 + 0.5) = 3.25; p2 = 3.25 - 0.5*(2 + 1.25) = 1.625
    flag = "use_nesterov" if name.startswith("tf") else "nesterov"
    traj, _ = _run(name, [4.0], [[1.0], [2.0]], learning_rate=0.5, momentum=0.5,
                   **{flag: True})
    np.testing.assert_array_equal(traj[:, 0], f32([3.25, 1.625]))


def test_conventions_agree_in_exact_arithmetic():
    """At a constant learning rate and no dampening the four momentum conventions are the
    same algorithm: with dyadic data (no rounding at all) their trajectories coincide."""
    grads = [[1.0, -0.5], [2.0, 0.25], [-1.0, 1.0], [0.5, 0.5]]
    runs = [
        _run("torch.optim.SGD", [4.0, 1.0], grads, lr=0.25, momentum=0.5)[0],
        _run("keras.optimizers.SGD", [4.0, 1.0], grads, learning_rate=0.25, momentum=0.5)[0],
        _run("tf.compat.v1.train.MomentumOptimizer", [4.0, 1.0], grads, learning_rate=0.25,
             momentum=0.5)[0],
        _run("optax.sgd", [4.0, 1.0], grads, learning_rate=0.25, momentum=0.5)[0],
    ]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


def test_conventions_round_differently(rng):
    """... and on ordinary float32 data they part in the last bits (the porting gap)."""
    p0 = rng.standard_normal(256).astype(f32)
    grads = rng.standard_normal((20, 256)).astype(f32)
    torch_run = _run("torch.optim.SGD", p0, grads, lr=0.01, momentum=0.9)[0]
    keras_run = _run("keras.optimizers.SGD", p0, grads, learning_rate=0.01, momentum=0.9)[0]
    optax_run = _run("optax.sgd", p0, grads, learning_rate=0.01, momentum=0.9)[0]
    assert eps_ref.ulp_distance(torch_run, keras_run).max() > 0
    assert eps_ref.ulp_distance(torch_run, optax_run).max() > 0
    np.testing.assert_allclose(torch_run, keras_run, rtol=1e-4, atol=1e-5)


# -- rounding order --------------------------------------------------------------------------

# a = y = 1 + 2^-12: a*y = 1 + 2^-11 + 2^-24 exactly, half an ulp above 1 + 2^-11, which is
# where a separate multiply rounds it (ties to even); a fused multiply-add keeps the 2^-24.
A = 1 + 2.0 ** -12
P = 1 + 2.0 ** -11


def test_torch_plain_step_is_one_fused_multiply_add():
    fused, _ = _run("torch.optim.SGD", [P], [[A]], lr=A)
    separate, _ = _run("tf.compat.v1.train.GradientDescentOptimizer", [P], [[A]],
                       learning_rate=A)
    assert fused[0, 0] == f32(-(2.0 ** -24))
    assert separate[0, 0] == 0.0


def test_multiply_add_switch():
    kw = dict(lr=A, momentum_form="none")
    fused, _ = _rule([P], [[A]], multiply_add="fused", **kw)
    separate, _ = _rule([P], [[A]], multiply_add="separate", **kw)
    assert (fused[0, 0], separate[0, 0]) == (f32(-(2.0 ** -24)), 0.0)


def test_torch_coupled_weight_decay_is_fused():
    # g' = fma(p, wd, g) with p = wd = A and g = -1: 2^-11 + 2^-24 exactly; then p - 1*g'
    # (lr = 1 keeps the final subtraction exact).
    traj, _ = _run("torch.optim.SGD", [A], [[-1.0]], lr=1.0, weight_decay=A)
    assert traj[0, 0] == f32(A - (2.0 ** -11 + 2.0 ** -24))


def test_keras_and_keras_torch_backend_nesterov_orders():
    """Keras: p + (mu*v - lr*g). Its torch backend: (p - lr*g) + mu*v. First step with
    p = 1, g = 2^-25, lr = 1, mu = 0.5, so v = -2^-25 (the float32 spacing below 1 is 2^-24):
    Keras: mu*v - g = -3*2^-26, and 1 - 3*2^-26 rounds to 1 - 2^-24;
    torch backend: 1 - 2^-25 is a tie that rounds to even, 1; then 1 - 2^-26 rounds to 1."""
    kw = dict(lr=1.0, momentum=0.5, lookahead="nesterov", multiply_add="fused")
    a, _ = _rule([1.0], [[2.0 ** -25]], momentum_form="keras", **kw)
    b, _ = _rule([1.0], [[2.0 ** -25]], momentum_form="keras_torch_backend", **kw)
    assert (a[0, 0], b[0, 0]) == (f32(1 - 2.0 ** -24), f32(1.0))
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(512).astype(f32)
    grads = (rng.standard_normal((5, 512)) * 1e-3).astype(f32)
    kw = dict(lr=0.01, momentum=0.9, lookahead="nesterov", multiply_add="fused")
    a, _ = _rule(p0, grads, momentum_form="keras", **kw)
    b, _ = _rule(p0, grads, momentum_form="keras_torch_backend", **kw)
    assert eps_ref.ulp_distance(a, b).max() > 0
    np.testing.assert_allclose(a, b, rtol=1e-6)
    # Without Nesterov the two forms are the same arithmetic.
    kw["lookahead"] = "none"
    a, _ = _rule(p0, grads, momentum_form="keras", **kw)
    b, _ = _rule(p0, grads, momentum_form="keras_torch_backend", **kw)
    np.testing.assert_array_equal(a, b)


def test_keras_torch_backend_semantics_mapping():
    base = eps_ref.optimizer("keras.optimizers.SGD", momentum=0.9, nesterov=True).rule_kwargs
    torch_kw = _sgd_torch_backend_semantics(dict(base))
    assert torch_kw["momentum_form"] == "keras_torch_backend"
    assert torch_kw["multiply_add"] == "fused"
    assert torch_kw["weight_decay_form"] == "decoupled_keras_torch_backend"
    plain_kw = eps_ref.optimizer("keras.optimizers.SGD").rule_kwargs
    plain = _sgd_torch_backend_semantics(dict(plain_kw))
    assert plain["momentum_form"] == "none"


def test_decoupled_keras_torch_backend_form():
    p = np.asarray([3.0, -1.7, 1e-3], dtype=f32)
    wd, lr = 0.004, 0.01
    got, _ = _rule(p, [np.zeros(3)], lr=lr, weight_decay=wd,
                   weight_decay_form="decoupled_keras_torch_backend")
    want = p * (f32(1.0) - f32(wd) * f32(lr))
    np.testing.assert_array_equal(got[0], want)
    got, _ = _rule(p, [np.zeros(3)], lr=lr, weight_decay=wd, weight_decay_form="decoupled_keras")
    np.testing.assert_array_equal(got[0], p - p * f32(wd) * f32(lr))


def test_tf1_and_optax_nesterov_round_differently(rng):
    p0 = rng.standard_normal(512).astype(f32)
    grads = rng.standard_normal((10, 512)).astype(f32)
    kw = dict(learning_rate=0.01, momentum=0.9)
    tf1, _ = _run("tf.compat.v1.train.MomentumOptimizer", p0, grads, use_nesterov=True, **kw)
    opx, _ = _run("optax.sgd", p0, grads, nesterov=True, **kw)
    assert eps_ref.ulp_distance(tf1, opx).max() > 0


@settings(max_examples=60, deadline=None)
@given(data=hnp.arrays(np.float32, (3, 8),
                       elements=st.floats(-1e3, 1e3, width=32, allow_subnormal=False)),
       lr=st.sampled_from([1e-3, 1e-2, 0.1]), mu=st.sampled_from([0.0, 0.5, 0.9, 0.99]))
def test_tf1_and_optax_heavy_ball_round_identically(data, lr, mu):
    p0, grads = data[0], data[1:]
    tf1, _ = _run("tf.compat.v1.train.MomentumOptimizer", p0, grads, learning_rate=lr,
                  momentum=mu)
    opx, _ = _run("optax.sgd", p0, grads, learning_rate=lr, momentum=mu)
    assert eps_ref.ulp_distance(tf1, opx).max() == 0


# -- limits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SGD_SPECS)
def test_zero_learning_rate_leaves_params(name, rng):
    s = eps_ref.spec(name)
    p0 = rng.standard_normal(6).astype(f32)
    grads = rng.standard_normal((3, 6)).astype(f32)
    for variant, kwargs in s.variants.items():
        kwargs = {**kwargs, **_lr(name, 0.0)}
        if name == "tf.compat.v1.train.MomentumOptimizer":
            kwargs.setdefault("momentum", 0.9)
        traj, _ = _run(name, p0, grads, **kwargs)
        np.testing.assert_array_equal(traj, np.broadcast_to(p0, traj.shape), err_msg=variant)


def test_zero_momentum_is_plain_sgd(rng):
    p0 = rng.standard_normal(64).astype(f32)
    grads = rng.standard_normal((5, 64)).astype(f32)
    plain = _run("tf.compat.v1.train.GradientDescentOptimizer", p0, grads, learning_rate=0.01)[0]
    tf1 = _run("tf.compat.v1.train.MomentumOptimizer", p0, grads, learning_rate=0.01,
               momentum=0.0)[0]
    opx = _run("optax.sgd", p0, grads, learning_rate=0.01, momentum=0.0)[0]
    keras = _run("keras.optimizers.SGD", p0, grads, learning_rate=0.01, momentum=0.0)[0]
    for r in (tf1, opx, keras):
        np.testing.assert_array_equal(r, plain)
    assert eps_ref.optimizer("torch.optim.SGD", momentum=0).rule_kwargs["momentum_form"] == "none"


def test_torch_maximize_is_minimize_of_negated_gradient(rng):
    p0 = rng.standard_normal(32).astype(f32)
    grads = rng.standard_normal((6, 32)).astype(f32)
    kw = dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01)
    up = _run("torch.optim.SGD", p0, grads, maximize=True, **kw)[0]
    # torch negates the gradient before weight decay and momentum see it.
    down, _ = _rule(p0, -grads, **eps_ref.optimizer("torch.optim.SGD", **kw).rule_kwargs)
    np.testing.assert_array_equal(up, down)


def test_zero_gradient_without_decay_changes_nothing():
    for name in SGD_SPECS:
        kwargs = _lr(name, 0.01)
        if name == "tf.compat.v1.train.MomentumOptimizer":
            kwargs["momentum"] = 0.9
        traj, _ = _run(name, [1.5, -2.0], [[0.0, 0.0]] * 3, **kwargs)
        np.testing.assert_array_equal(traj[-1], f32([1.5, -2.0]))


# -- state, purity, namespaces ---------------------------------------------------------------

@pytest.mark.parametrize("name, slot", [
    ("torch.optim.SGD", "momentum_buffer"), ("keras.optimizers.SGD", "momentum"),
    ("tf.compat.v1.train.MomentumOptimizer", "momentum"), ("optax.sgd", "trace")])
def test_slot_names(name, slot):
    opt = eps_ref.optimizer(name, **_lr(name, 0.01), momentum=0.9)
    assert list(opt.init(np.zeros(3, f32))["slots"][0]) == [slot]


@pytest.mark.parametrize("name", ["torch.optim.SGD", "keras.optimizers.SGD",
                                  "tf.compat.v1.train.GradientDescentOptimizer", "optax.sgd"])
def test_plain_sgd_keeps_no_slots(name):
    opt = eps_ref.optimizer(name, **_lr(name, 0.01))
    assert opt.init(np.zeros(3, f32))["slots"][0] == {}


ALL_FORMS = [
    dict(momentum_form="none"),
    dict(momentum_form="none", multiply_add="fused", weight_decay=0.01),
    dict(momentum_form="torch", momentum=0.9, dampening=0.5, multiply_add="fused"),
    dict(momentum_form="torch", momentum=0.9, lookahead="nesterov", multiply_add="fused",
         weight_decay=0.01, objective="maximize"),
    dict(momentum_form="tf1", momentum=0.9, lookahead="nesterov"),
    dict(momentum_form="optax", momentum=0.9, lookahead="nesterov"),
    dict(momentum_form="keras", momentum=0.9, lookahead="nesterov", weight_decay=0.004,
         weight_decay_form="decoupled_keras"),
    dict(momentum_form="keras_torch_backend", momentum=0.9, lookahead="nesterov",
         weight_decay=0.004, weight_decay_form="decoupled_keras_torch_backend",
         multiply_add="fused"),
]


def _stream(rng):
    p = rng.standard_normal((3, 5)).astype(f32)
    gs = [(rng.standard_normal((3, 5)) * 10.0 ** rng.integers(-6, 1, (3, 5))).astype(f32)
          for _ in range(4)]
    return p, gs


@pytest.mark.parametrize("kw", ALL_FORMS, ids=lambda kw: kw["momentum_form"])
def test_rule_does_not_mutate_inputs(kw, rng):
    p, gs = _stream(rng)
    slots = sgd.init(p, **sgd.init_kwargs(kw))
    p_copy, g_copy = p.copy(), gs[0].copy()
    p1, slots1 = sgd.step(p, gs[0], slots, t=1, lr=0.01, **kw)
    snapshot = {k: v.copy() for k, v in slots1.items()}
    sgd.step(p1, gs[1], slots1, t=2, lr=0.01, **kw)
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(gs[0], g_copy)
    for k, v in slots1.items():
        np.testing.assert_array_equal(v, snapshot[k])


def _rule_run(xp_in, xp_out, p, gs, kw):
    x = xp_in(p)
    slots = sgd.init(x, **sgd.init_kwargs(kw))
    out = []
    for t, g in enumerate(gs, start=1):
        x, slots = sgd.step(x, xp_in(g), slots, t=t, lr=0.01, **kw)
        out.append(xp_out(x))
    return np.stack(out)


@pytest.mark.parametrize("kw", ALL_FORMS, ids=lambda kw: kw["momentum_form"])
def test_rule_on_array_api_strict(kw, rng):
    xps = pytest.importorskip("array_api_strict")
    p, gs = _stream(rng)
    ref = _rule_run(lambda a: a, np.asarray, p, gs, kw)
    got = _rule_run(xps.asarray, np.asarray, p, gs, kw)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("kw", ALL_FORMS, ids=lambda kw: kw["momentum_form"])
def test_rule_on_torch_tensors(kw, rng):
    torch = pytest.importorskip("torch")
    p, gs = _stream(rng)
    ref = _rule_run(lambda a: a, np.asarray, p, gs, kw)
    got = _rule_run(torch.from_numpy, lambda t: t.numpy(), p, gs, kw)
    assert eps_ref.ulp_distance(got, ref).max() == 0


def test_float64_stays_float64(rng):
    p = rng.standard_normal(4)
    for kw in ALL_FORMS:
        out, _ = sgd.step(p, rng.standard_normal(4), sgd.init(p, **sgd.init_kwargs(kw)), t=1,
                          lr=0.01, **kw)
        assert out.dtype == np.float64


# -- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"nesterov": True}, ValueError, "Nesterov momentum requires"),
    ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError, "Nesterov"),
    ({"momentum": -0.1}, ValueError, "momentum"),
    ({"weight_decay": -1e-4}, ValueError, "weight_decay"),
    ({"lr": -1e-3}, ValueError, "lr"),
    ({"fused": True, "foreach": True}, RuntimeError, "cannot be `True` together"),
    ({"fused": True, "differentiable": True}, RuntimeError, "differentiable"),
    ({"lr": [0.1]}, NotImplementedError, "lr"),
])
def test_torch_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        eps_ref.optimizer("torch.optim.SGD", **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"momentum": 1}, ValueError, "must be a float"),
    ({"momentum": 1.5}, ValueError, "must be a float"),
    ({"momentum": -0.5}, ValueError, "must be a float"),
    ({"learning_rate": lambda: 0.1}, NotImplementedError, "learning_rate"),
    ({"clipnorm": 1.0, "clipvalue": 1.0}, ValueError, "clip"),
    ({"weight_decay": -0.1}, ValueError, "weight_decay"),
])
def test_keras_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        eps_ref.optimizer("keras.optimizers.SGD", **kwargs)


def test_keras_accepts_momentum_one_and_ignores_nesterov_without_momentum():
    assert eps_ref.optimizer("keras.optimizers.SGD", momentum=1.0).rule_kwargs["momentum"] == 1.0
    kw = eps_ref.optimizer("keras.optimizers.SGD", nesterov=True).rule_kwargs
    assert (kw["momentum_form"], kw["lookahead"]) == ("none", "none")


def test_tf1_and_optax_validation():
    with pytest.raises(TypeError, match="momentum"):
        eps_ref.optimizer("tf.compat.v1.train.MomentumOptimizer", learning_rate=0.1)
    with pytest.raises(NotImplementedError, match="learning_rate"):
        eps_ref.optimizer("tf.compat.v1.train.GradientDescentOptimizer",
                          learning_rate=lambda: 0.1)
    with pytest.raises(NotImplementedError, match="accumulator_dtype"):
        eps_ref.optimizer("optax.sgd", learning_rate=0.1, momentum=0.9,
                          accumulator_dtype="bfloat16")
    with pytest.raises(NotImplementedError, match="learning_rate"):
        eps_ref.optimizer("optax.sgd", learning_rate=lambda count: 0.1)
    # optax drops ``nesterov`` with the trace when momentum is None
    kw = eps_ref.optimizer("optax.sgd", learning_rate=0.1, nesterov=True).rule_kwargs
    assert (kw["momentum_form"], kw["lookahead"]) == ("none", "none")


@pytest.mark.parametrize("kw, match", [
    (dict(momentum_form="heavy_ball"), "momentum_form"),
    (dict(momentum_form="none", lookahead="nesterov"), "needs a momentum_form"),
    (dict(momentum_form="keras", dampening=0.1), "dampening"),
    (dict(multiply_add="fma"), "multiply_add"),
    (dict(objective="ascend"), "objective"),
    (dict(weight_decay_form="adamw"), "weight_decay_form"),
])
def test_rule_rejects_unknown_switches(kw, match):
    p = np.zeros(2, f32)
    with pytest.raises(ValueError, match=match):
        sgd.step(p, p, {"momentum": p, "momentum_buffer": p, "trace": p}, t=1, lr=0.1, **kw)


def test_rule_forms_are_listed():
    assert set(sgd_module._SLOT) | {"none"} == set(sgd_module.MOMENTUM_FORMS)


def test_torch_fused_cpu_rounds_only_the_scalar_tail_differently():
    """Whole vectors of 8 round as the single-tensor path; the last numel % 8 entries round
    the buffer as fma(b, mu, (1 - tau) g)."""
    from eps_ref.rules._numerics import fma
    from eps_ref.rules.sgd import step
    rng = np.random.default_rng(5)
    kw = dict(lr=1e-2, momentum=0.9, dampening=0.5, multiply_add="fused")
    p = rng.standard_normal(11).astype(np.float32)
    b = rng.standard_normal(11).astype(np.float32)
    g = rng.standard_normal(11).astype(np.float32)
    slots = {"momentum_buffer": b}
    _, loop = step(p, g, slots, t=2, momentum_form="torch", **kw)
    _, fused = step(p, g, slots, t=2, momentum_form="torch_fused_cpu", **kw)
    mu, tau = np.float32(0.9), np.float32(0.5)
    np.testing.assert_array_equal(fused["momentum_buffer"][:8], loop["momentum_buffer"][:8])
    tail = fma(b, mu, (np.float32(1) - tau) * g)[8:]
    np.testing.assert_array_equal(fused["momentum_buffer"][8:], tail)
    assert (fused["momentum_buffer"] != loop["momentum_buffer"]).any()

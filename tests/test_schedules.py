"""Schedules without any framework: the API, the errors, and properties of the tables'
arithmetic (``conformance/test_schedules.py`` proves the values against torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import eps_ref

P = "torch.optim.lr_scheduler."
K = "keras.optimizers.schedules."
CASES = [(name, variant) for name in eps_ref.specs(kind="schedule")
         for variant in eps_ref.spec(name).variants]


def _build(name, variant):
    return eps_ref.schedule(name, **eps_ref.spec(name).variants[variant])


def _metrics(n):
    return [1.0 / (1 + t) for t in range(n)]


@pytest.mark.parametrize("name, variant", CASES, ids=[f"{n}[{v}]" for n, v in CASES])
def test_every_schedule_gives_one_float_a_step(name, variant):
    s = _build(name, variant)
    n = min(200, s.max_steps or 200)
    metrics = _metrics(n) if name.endswith("Plateau") else None
    values = [v[s.writes] for v in s.values(n, metrics)]
    assert len(values) == n and all(type(x) is float and x >= 0 for x in values)
    assert s.values(0) == []
    assert s.values(n // 2, metrics) == s.values(n, metrics)[:n // 2]   # a prefix


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_a_bad_step_count_is_refused(n):
    with pytest.raises(ValueError, match="integer >= 0"):
        eps_ref.schedule(P + "StepLR", lr=0.1, step_size=3).learning_rates(n)


def test_the_recursion_is_not_the_closed_form():
    """torch multiplies the current lr each step: ExponentialLR and CosineAnnealingLR round
    away from ``lr * gamma**e`` and from the closed-form cosine."""
    exp = eps_ref.schedule(P + "ExponentialLR", lr=0.1, gamma=0.99).learning_rates(1000)
    assert any(x != 0.1 * 0.99 ** e for e, x in enumerate(exp))
    cos = eps_ref.schedule(P + "CosineAnnealingLR", lr=0.1, T_max=100).learning_rates(300)
    closed = [0.05 * (1 + math.cos(math.pi * e / 100)) for e in range(300)]
    assert any(a != b for a, b in zip(cos, closed))
    assert max(abs(a - b) for a, b in zip(cos, closed)) < 1e-12   # rounding only


def test_the_steps_of_each_schedule():
    lrs = eps_ref.schedule(P + "StepLR", lr=0.1, step_size=2, gamma=0.5).learning_rates(5)
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.025]
    warm = eps_ref.schedule(P + "LinearLR", lr=1.0, start_factor=0.25, total_iters=3)
    assert warm.learning_rates(5) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0], abs=1e-15)
    one = eps_ref.schedule(P + "OneCycleLR", lr=0.1, max_lr=1.0, total_steps=10)
    values = one.values(11)
    # end + (start - end)/2 * (cos(0) + 1) rounds: 0.040000000000000036, not 1/25
    assert values[0]["lr"] == pytest.approx(1.0 / 25, rel=1e-14) and \
        values[0]["momentum"] == 0.95
    assert max(v["lr"] for v in values) == pytest.approx(1.0)
    seq = eps_ref.schedule(P + "SequentialLR", lr=0.1, milestones=[2], schedulers=[
        (P + "ConstantLR", {"factor": 0.5, "total_iters": 2}),
        (P + "ExponentialLR", {"gamma": 0.5})])
    assert seq.learning_rates(5) == [0.05, 0.05, 0.1, 0.05, 0.025]   # back to 0.1 at 2


def test_reduce_on_plateau_follows_the_metric():
    s = eps_ref.schedule(P + "ReduceLROnPlateau", lr=1.0, patience=2, factor=0.5)
    lrs = s.learning_rates(8, metrics=[1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    with pytest.raises(TypeError, match="metric"):
        s.learning_rates(3)
    with pytest.raises(ValueError, match="2 metrics"):
        s.learning_rates(3, metrics=[1.0])


@pytest.mark.parametrize("call, error, match", [
    (lambda: eps_ref.schedule(P + "StepLr", lr=0.1, step_size=3), KeyError, "StepLR"),
    (lambda: eps_ref.schedule(P + "StepLR", step_size=3), TypeError, "lr"),
    (lambda: eps_ref.schedule(P + "StepLR", lr=0.1, step=3), TypeError, "step_size"),
    (lambda: eps_ref.schedule(P + "StepLR", lr=0.1, step_size=0), ValueError, "positive"),
    (lambda: eps_ref.schedule(P + "StepLR", lr="0.1", step_size=3), TypeError, "number"),
    (lambda: eps_ref.schedule(P + "StepLR", lr=0.1, step_size=3, last_epoch=9),
     NotImplementedError, "last_epoch"),
    (lambda: eps_ref.schedule(P + "ConstantLR", lr=0.1, factor=2.0), ValueError, "between"),
    (lambda: eps_ref.schedule(P + "OneCycleLR", lr=0.1, max_lr=1.0), ValueError,
     "total_steps"),
    (lambda: eps_ref.schedule(P + "OneCycleLR", lr=0.1, max_lr=1.0, total_steps=5)
     .learning_rates(7), ValueError, "at most 5"),
    (lambda: eps_ref.schedule(P + "CyclicLR", lr=0.1, base_lr=0.1, max_lr=1.0, mode="sine"),
     ValueError, "mode is invalid"),
    (lambda: eps_ref.schedule(P + "SequentialLR", lr=0.1, milestones=[1, 2], schedulers=[
        (P + "ConstantLR", {})]), ValueError, "one more than"),
    (lambda: eps_ref.schedule(P + "SequentialLR", lr=0.1, milestones=[1], schedulers=[
        eps_ref.schedule(P + "ConstantLR", lr=0.2), (P + "ConstantLR", {})]), ValueError,
     "share its lr"),
    (lambda: eps_ref.schedule(P + "ChainedScheduler", schedulers=[
        (P + "ConstantLR", {})]), TypeError, "give lr="),
    (lambda: eps_ref.schedule("torch.optim.Adam", lr=0.1), TypeError, "an optimizer"),
    (lambda: eps_ref.optimizer(P + "StepLR", lr=0.1), TypeError, "schedule"),
    (lambda: eps_ref.optimizer("torch.optim.Adagrad", lr=eps_ref.schedule(
        P + "CyclicLR", lr=0.1, base_lr=0.01, max_lr=0.1)), ValueError, "momentum or beta1"),
    (lambda: eps_ref.optimizer("torch.optim.SGD", lr=eps_ref.schedule(
        P + "ReduceLROnPlateau", lr=0.1)), TypeError, "step by step"),
    (lambda: eps_ref.port(P + "CyclicLR", to="optax", lr=0.1, base_lr=0.01, max_lr=0.1),
     ValueError, "no optax schedule is known"),
    (lambda: eps_ref.port(P + "OneCycleLR", to="tf1", lr=0.1, max_lr=0.1, total_steps=9),
     ValueError, "it ports to"),
    (lambda: eps_ref.port(P + "StepLR", to="optax", gap_steps=0, lr=0.1, step_size=3),
     ValueError, "gap_steps must be a positive int"),
    (lambda: eps_ref.schedule(P + "StepLR", compiled=True, lr=0.1, step_size=3), ValueError,
     "compiled=True does not apply"),
    (lambda: eps_ref.schedule("optax.cosine_decay_schedule", init_value=0.1, decay_steps=0),
     ValueError, "positive decay_steps"),
    (lambda: eps_ref.schedule("optax.piecewise_constant_schedule", init_value=0.1,
                              boundaries_and_scales={10: -0.5}), ValueError, "non-negative"),
    (lambda: eps_ref.schedule("optax.piecewise_interpolate_schedule",
                              interpolate_type="cubic", init_value=0.1), ValueError,
     "'cosine' or 'linear'"),
    (lambda: eps_ref.schedule("optax.join_schedules", boundaries=[1, 2], schedules=[
        ("optax.constant_schedule", {"value": 0.1})]), ValueError, "boundaries"),
    (lambda: eps_ref.schedule("optax.join_schedules", boundaries=[], schedules=[
        (P + "StepLR", {"lr": 0.1, "step_size": 2})]), ValueError, "not an optax schedule"),
    (lambda: eps_ref.schedule("optax.linear_schedule", init_value=0.1, end_value=0.0,
                              transition_steps=2.5), TypeError, "must be an int"),
    (lambda: eps_ref.optimizer("optax.adam", learning_rate=eps_ref.schedule(
        P + "StepLR", lr=0.1, step_size=3)), TypeError, "follows optax schedules"),
    (lambda: eps_ref.schedule(K + "ExponentialDecay", initial_learning_rate=0.1,
                              decay_steps=0, decay_rate=0.9), ValueError, "must be > 0"),
    (lambda: eps_ref.schedule(K + "PiecewiseConstantDecay", boundaries=[1, 2], values=[0.1]),
     ValueError, "1 less than"),
    (lambda: eps_ref.schedule(K + "CosineDecay", backend="torch", initial_learning_rate=0.1,
                              decay_steps=10).learning_rates(3), NotImplementedError, "MKL"),
    (lambda: eps_ref.schedule(K + "CosineDecay", backend="mxnet", initial_learning_rate=0.1,
                              decay_steps=10), ValueError, "unknown backend"),
    (lambda: eps_ref.schedule("optax.constant_schedule", backend="jax", value=0.1), ValueError,
     "no backends"),
    (lambda: eps_ref.schedule("tf.compat.v1.train.exponential_decay", learning_rate=0.1,
                              decay_steps=10, decay_rate=0.9), TypeError, "global_step"),
    (lambda: eps_ref.schedule("tf.compat.v1.train.exponential_decay", learning_rate=0.1,
                              global_step=-1, decay_steps=10, decay_rate=0.9), TypeError,
     "int >= 0"),
    (lambda: eps_ref.schedule("tf.compat.v1.train.piecewise_constant", x=0,
                              boundaries=[1, 2], values=[0.1]), ValueError, "1 less"),
    (lambda: eps_ref.optimizer("keras.optimizers.Adam", backend="jax",
                               learning_rate=eps_ref.schedule(
                                   K + "ExponentialDecay", backend="torch",
                                   initial_learning_rate=0.1, decay_steps=10,
                                   decay_rate=0.9)), ValueError, "one backend"),
])
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_an_optimizer_on_a_schedule_steps_at_each_step_s_lr():
    """``eps_ref.optimizer(name, lr=schedule)`` is the plain optimizer at step t's lr (and
    momentum, for the cyclic schedules), step by step from the same state."""
    rng = np.random.default_rng(0)
    params = rng.standard_normal(32).astype(np.float32)
    grads = rng.standard_normal((40, 32)).astype(np.float32)
    s = eps_ref.schedule(P + "CyclicLR", lr=0.1, base_lr=1e-3, max_lr=0.1, step_size_up=5)
    opt = eps_ref.optimizer("torch.optim.SGD", lr=s, momentum=0.9)
    assert opt.hyperparams["lr"] is s
    p, state = params, opt.init(params)
    q, qstate = params, opt.init(params)
    for t, v in enumerate(s.values(40)):
        p, state = opt.step(p, grads[t], state)
        plain = eps_ref.optimizer("torch.optim.SGD", lr=v["lr"], momentum=v["momentum"])
        q, qstate = plain.step(q, grads[t], qstate)
        assert np.array_equal(p, q), t


def test_an_optax_schedule_is_float32_at_the_count_before_the_step():
    """optax calls the schedule with the count before the increment: step 1 runs at
    count 0; the values are float32 (as Python floats)."""
    s = eps_ref.schedule("optax.linear_schedule", init_value=0.1, end_value=0.0,
                         transition_steps=10)
    lrs = s.learning_rates(12)
    assert lrs[0] == float(np.float32(0.1)) and lrs[10:] == [0.0, 0.0]
    assert all(float(np.float32(x)) == x for x in lrs)
    assert not s.compiled
    jit = eps_ref.schedule("optax.linear_schedule", compiled=True, init_value=0.1,
                           end_value=0.0, transition_steps=10)
    assert jit.compiled and jit.learning_rates(12)[0] == lrs[0]


def test_jit_rounds_otherwise_than_op_by_op():
    """Under jax.jit XLA divides by a constant through its reciprocal and fuses
    multiply-adds: the same schedule's values move by a few ULP (measured against jit in
    conformance/test_schedules.py)."""
    kw = dict(init_value=3e-3, decay_steps=800)
    eager = eps_ref.schedule("optax.cosine_decay_schedule", **kw).learning_rates(1000)
    jit = eps_ref.schedule("optax.cosine_decay_schedule", compiled=True, **kw).learning_rates(1000)
    differ = sum(a != b for a, b in zip(eager, jit))
    assert 0 < differ < 1000
    assert max(abs(a - b) / max(abs(a), 1e-30) for a, b in zip(eager, jit)) < 1e-3


def test_the_papers_schedules():
    """Noam peaks at the end of its warmup, at d^-0.5 w^-0.5; SGDR restarts at T_0, then
    after T_0 T_mult more epochs, and agrees with torch's CosineAnnealingWarmRestarts (the
    same formula, rounded in another order) to rounding."""
    noam = eps_ref.schedule("paper.noam", d_model=64, warmup_steps=100).learning_rates(300)
    assert max(noam) == noam[99] == pytest.approx(64 ** -0.5 * 100 ** -0.5, rel=1e-15)
    assert noam[0] == pytest.approx(64 ** -0.5 * 100 ** -1.5)
    sgdr = eps_ref.schedule("paper.sgdr", eta_max=0.1, T_0=10, T_mult=2).learning_rates(40)
    assert sgdr[0] == sgdr[10] == sgdr[30] == 0.1       # restarts at epochs 10 and 30
    torch_sgdr = eps_ref.schedule(P + "CosineAnnealingWarmRestarts", lr=0.1, T_0=10,
                                  T_mult=2).learning_rates(40)
    assert sgdr == pytest.approx(torch_sgdr, rel=1e-14, abs=1e-17)
    batches = eps_ref.schedule("paper.sgdr", eta_max=0.1, T_0=2, steps_per_epoch=4)
    assert batches.learning_rates(9)[8] == 0.1           # epoch 2 begins at batch 9
    opt = eps_ref.optimizer("paper.adam", lr=eps_ref.schedule("paper.noam"))
    assert opt.optimizer_at(4000).hyperparams["lr"] == pytest.approx(512 ** -0.5 * 4000 ** -0.5)


def test_the_papers_warmup_and_eps_decay():
    """Goyal et al.'s warmup climbs by equal steps to its peak and stays; the essay's ε decay
    falls geometrically from ε_0 to ε_T and stays, and is an ε schedule, not a learning
    rate."""
    warm = eps_ref.schedule("paper.linear_warmup", init_value=0.01, peak_value=0.1,
                            warmup_steps=9).learning_rates(20)
    assert warm[0] == 0.01 and warm[9:] == [0.1] * 11
    assert np.allclose(np.diff(warm[:10]), 0.01, rtol=1e-12)
    decay = eps_ref.schedule("paper.exponential_eps_decay", init_value=1e-3, end_value=1e-9,
                             decay_steps=6)
    assert decay.writes == "eps"
    eps = [v["eps"] for v in decay.values(10)]
    assert eps[0] == 1e-3 and eps[6:] == [pytest.approx(1e-9, rel=1e-15)] * 4
    assert np.allclose(np.array(eps[1:7]) / np.array(eps[:6]), 0.1, rtol=1e-12)
    with pytest.raises(TypeError, match="schedules eps, not the learning rate"):
        decay.learning_rates(3)
    with pytest.raises(TypeError, match="schedules eps, not lr"):
        eps_ref.optimizer("torch.optim.Adam", lr=decay)
    with pytest.raises(ValueError, match="end_value must be a number > 0"):
        eps_ref.schedule("paper.exponential_eps_decay", end_value=0.0, decay_steps=5)


def test_eps_follows_a_schedule_where_the_framework_rereads_it():
    """torch re-reads its parameter group's eps at every step, the papers' Adam is a
    formula: both follow an ε schedule; Keras, TF1 and optax take a schedule as the
    learning rate only, and say so."""
    decay = eps_ref.schedule("paper.exponential_eps_decay", init_value=1e-2, end_value=1e-8,
                             decay_steps=50)
    for name in ("torch.optim.Adam", "paper.adam"):
        opt = eps_ref.optimizer(name, lr=1e-3, eps=decay)
        assert opt.optimizer_at(1).hyperparams["eps"] == 1e-2
        assert opt.optimizer_at(51).hyperparams["eps"] == pytest.approx(1e-8, rel=1e-14)
    both = eps_ref.optimizer("torch.optim.Adam", eps=decay, lr=eps_ref.schedule(
        P + "StepLR", lr=1e-3, step_size=10, gamma=0.5))
    assert both.optimizer_at(11).hyperparams["lr"] == 5e-4
    assert both.optimizer_at(11).hyperparams["eps"] == decay.values(11)[10]["eps"]
    with pytest.raises(TypeError, match="learning rate only"):
        eps_ref.optimizer("keras.optimizers.Adam", epsilon=decay)
    with pytest.raises(TypeError, match="learning rate only"):
        eps_ref.optimizer("tf.compat.v1.train.AdamOptimizer", epsilon=decay)
    with pytest.raises(TypeError, match="an optax optimizer follows optax schedules"):
        eps_ref.optimizer("optax.adam", learning_rate=1e-3, eps=decay)
    linear = eps_ref.schedule("optax.linear_schedule", init_value=1e-2, end_value=1e-8,
                              transition_steps=50)
    with pytest.raises(NotImplementedError, match="inject_hyperparams"):
        eps_ref.optimizer("optax.lamb", learning_rate=1e-3, eps=linear)
    injected = eps_ref.optimizer("optax.adam", learning_rate=1e-3, eps=linear)
    assert injected.optimizer_at(2).hyperparams["b1"] == float(np.float32(0.9))
    with pytest.raises(TypeError, match="a paper schedule"):
        eps_ref.optimizer("torch.optim.Adam", lr=eps_ref.schedule("paper.noam"))


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
def test_torch_adam_with_a_scheduled_eps_is_torch_s():
    """A training loop that sets ``group["eps"]`` before each step, against
    ``eps_ref.optimizer("torch.optim.Adam", eps=schedule)``: bit for bit."""
    torch = pytest.importorskip("torch")
    from eps_ref.conformance.runner import compare, reference_trajectory
    from eps_ref.conformance.streams import gradient_stream, initial_params
    decay = eps_ref.schedule("paper.exponential_eps_decay", init_value=1e-1, end_value=1e-8,
                             decay_steps=60)
    steps = 80
    param0, grads = initial_params(), gradient_stream(steps)
    eps = [v["eps"] for v in decay.values(steps)]
    param = torch.nn.Parameter(torch.tensor(param0))
    opt = torch.optim.Adam([param], lr=1e-2)
    trajectory = [param0.copy()]
    for t in range(steps):
        opt.param_groups[0]["eps"] = eps[t]
        param.grad = torch.tensor(grads[t])
        opt.step()
        trajectory.append(param.detach().numpy().copy())
    trajectory = np.stack(trajectory)
    got = reference_trajectory("torch.optim.Adam", {"lr": 1e-2, "eps": decay}, param0, grads)
    assert compare(got, trajectory).max_ulp == 0
    fixed = reference_trajectory("torch.optim.Adam", {"lr": 1e-2, "eps": 1e-1}, param0, grads)
    assert compare(got, fixed).max_ulp > 0


def _injected_keyword(name: str):
    """The first float hyperparameter of an optax optimizer but its learning rate."""
    return next((k for k, v in eps_ref.spec(name).defaults.items()
                 if type(v) is float and k != "learning_rate"), None)


OPTAX_INJECTED = [n for n in eps_ref.specs("optax", kind="optimizer") if _injected_keyword(n)]


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
@pytest.mark.parametrize("name", OPTAX_INJECTED)
def test_optax_inject_hyperparams_is_optax_s(name, monkeypatch):
    """``optax.inject_hyperparams(opt)(..., eps=schedule)`` stepped eagerly against
    ``eps_ref.optimizer(name, eps=schedule)`` (the first float hyperparameter other than
    the learning rate, halved linearly over 20 steps), on a parameter of 100,000 elements:
    bit for bit, but for the optimizers
    :data:`INJECT_NOT_MODELLED` lists, which are refused (and, built anyway, differ)."""
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    from eps_ref.conformance.runner import compare
    from eps_ref.conformance.streams import gradient_stream, initial_params
    from eps_ref.schedule import INJECT_NOT_MODELLED
    import importlib
    keyword = _injected_keyword(name)
    value = eps_ref.spec(name).defaults[keyword]
    kw = dict(init_value=value, end_value=value / 2, transition_steps=20)
    fixed = {"learning_rate": 1e-2} if "learning_rate" in eps_ref.spec(name).defaults else {}
    path, attr = name.rsplit(".", 1)
    tx = optax.inject_hyperparams(getattr(importlib.import_module(path), attr))(
        **fixed, **{keyword: optax.linear_schedule(**kw)})
    steps, shape = 20, (100_000,)         # the refused ones differ at this size
    param0, grads = initial_params(shape=shape), gradient_stream(steps, shape=shape)
    param = jnp.asarray(param0)
    state, real = tx.init(param), [param0]
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, param)
        param = optax.apply_updates(param, updates)
        real.append(np.asarray(param))
    schedule = eps_ref.schedule("optax.linear_schedule", **kw)
    refused = name in INJECT_NOT_MODELLED
    if refused:
        with pytest.raises(NotImplementedError, match="inject_hyperparams"):
            eps_ref.optimizer(name, **fixed, **{keyword: schedule})
        monkeypatch.delitem(INJECT_NOT_MODELLED, name)      # still needed: it differs
    opt = eps_ref.optimizer(name, **fixed, **{keyword: schedule})
    state, p, ours = opt.init(param0), param0.copy(), [param0]
    for g in grads:
        p, state = opt.step(p, g, state)
        ours.append(np.asarray(p))
    assert (compare(np.stack(ours), np.stack(real)).max_ulp > 0) == refused


def test_a_tf1_decay_starts_at_its_global_step():
    """The decay function reads the counter: starting it at 100 shifts the schedule."""
    kw = dict(learning_rate=0.1, decay_steps=50, decay_rate=0.5)
    fresh = eps_ref.schedule("tf.compat.v1.train.exponential_decay", global_step=0, **kw)
    resumed = eps_ref.schedule("tf.compat.v1.train.exponential_decay", global_step=100, **kw)
    assert resumed.learning_rates(10) == fresh.learning_rates(110)[100:]


def test_a_keras_optimizer_and_its_schedule_share_one_backend():
    """The backend of either side is the other's: a Keras process runs one."""
    kw = dict(initial_learning_rate=0.1, decay_steps=100, decay_rate=0.9)
    on_jax = eps_ref.schedule(K + "ExponentialDecay", backend="jax", **kw)
    opt = eps_ref.optimizer("keras.optimizers.Adam", learning_rate=on_jax)
    lr = on_jax.learning_rates(1)[0]           # float32's 0.1
    assert opt.optimizer_at(1).rule_kwargs == eps_ref.optimizer(
        "keras.optimizers.Adam", backend="jax", learning_rate=lr).rule_kwargs
    plain = eps_ref.schedule(K + "ExponentialDecay", **kw)
    opt = eps_ref.optimizer("keras.optimizers.Adam", backend="jax", learning_rate=plain)
    assert opt.schedule.rule_kwargs["backend"] == "jax"

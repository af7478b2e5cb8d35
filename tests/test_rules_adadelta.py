"""The Adadelta rule and its four dialects: hand-computed first steps, eps inside both roots,
limits, weight decay, purity, and other Array-API namespaces. No framework is imported here
(torch tensors are used when torch happens to be installed)."""

import numpy as np
import pytest

import eps_ref
from eps_ref.frameworks.keras import _adadelta_torch_backend_semantics
from eps_ref.rules import adadelta as R
from eps_ref.rules.adadelta import adadelta

f32 = np.float32
TORCH = "torch.optim.Adadelta"
KERAS = "keras.optimizers.Adadelta"
TF1 = "tf.compat.v1.train.AdadeltaOptimizer"
OPTAX = "optax.adadelta"
NAMES = (TORCH, KERAS, TF1, OPTAX)

P = np.array([1.0, -2.0, 0.5, 0.0], dtype=f32)
G = np.array([0.5, -0.25, 2.0, 1e-10], dtype=f32)


def first_step(name, p, g, **kw):
    opt = eps_ref.optimizer(name, **kw)
    return opt.step(p, g, opt.init(p))


def expected_first_step(p, g, *, lr, rho, eps, wd=0.0):
    """Float64 first step from the formula: v = (1-rho) g^2, d = sqrt(eps)/sqrt(v+eps) g."""
    g = g.astype(np.float64) + wd * p.astype(np.float64)
    v = (1 - rho) * g * g
    d = np.sqrt(eps) / np.sqrt(v + eps) * g
    return p - lr * d, v, (1 - rho) * d * d


def rule_kwargs(**over):
    kw = dict(lr=1.0, rho=0.9, eps=1e-6, eps_placement="inside_both_roots", weight_decay=0.0,
              weight_decay_form="none", maximize=False, arithmetic="keras",
              sqrt_method="correctly_rounded", rsqrt_method="one_over_sqrt")
    kw.update(over)
    return kw


def run_rule(p, gs, **kw):
    slots = adadelta.init(p, **adadelta.init_kwargs(kw))
    for t, g in enumerate(gs, 1):
        p, slots = adadelta.step(p, g, slots, t=t, **kw)
    return p, slots


# -- hand-computed first steps, one per dialect ------------------------------------------

@pytest.mark.parametrize("name, lr, rho, eps", [
    (TORCH, 1.0, 0.9, 1e-6), (KERAS, 1e-3, 0.95, 1e-7), (TF1, 1e-3, 0.95, 1e-8),
    # optax learning_rate=None: scale_by_learning_rate(None) is the identity, which
    # also skips the sign flip, so the raw update is added: optax's default ASCENDS.
    (OPTAX, -1.0, 0.9, 1e-6),
])
def test_first_step_at_defaults(name, lr, rho, eps):
    p1, state = first_step(name, P, G)
    expect, v, u = expected_first_step(P, G, lr=lr, rho=rho, eps=eps)
    np.testing.assert_allclose(p1, expect, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(state["slots"][0]["square_avg"], v, rtol=1e-6)
    np.testing.assert_allclose(state["slots"][0]["acc_delta"], u, rtol=1e-5, atol=1e-30)


def test_defaults_differ_per_framework():
    lrs = {n: eps_ref.optimizer(n).rule_kwargs["lr"] for n in NAMES}
    assert lrs == {TORCH: 1.0, KERAS: 1e-3, TF1: 1e-3, OPTAX: None}
    assert {n: eps_ref.spec(n).semantics["eps"] for n in NAMES} == \
        {TORCH: 1e-6, KERAS: 1e-7, TF1: 1e-8, OPTAX: 1e-6}
    assert {n: eps_ref.spec(n).semantics["rho"] for n in NAMES} == \
        {TORCH: 0.9, KERAS: 0.95, TF1: 0.95, OPTAX: 0.9}
    assert all(eps_ref.spec(n).semantics["eps_placement"] == "inside_both_roots"
               for n in NAMES)


def test_first_step_size_is_set_by_eps():
    """With E[dx^2] = 0 the numerator is sqrt(eps): a large gradient moves by about
    lr*sqrt(eps/(1-rho)), whatever its size, so eps is the initial step size."""
    g = np.array([10.0, -1000.0], dtype=f32)
    p = np.zeros(2, dtype=f32)
    for eps in (1e-6, 1e-3, 1.0):
        p1, _ = first_step(TORCH, p, g, eps=eps)
        step = np.abs(p1.astype(np.float64))
        bound = np.sqrt(eps / (1 - 0.9))
        assert np.all(step <= bound * (1 + 1e-5))
        if eps <= 1e-3:
            np.testing.assert_allclose(step, bound, rtol=1e-2)


def test_tiny_gradient_below_eps_moves_by_about_sqrt_ratio():
    """|g| << sqrt(eps): both roots are ~sqrt(eps), so the step is ~lr * g."""
    g = np.array([1e-10], dtype=f32)
    p1, _ = first_step(TORCH, np.zeros(1, dtype=f32), g)
    np.testing.assert_allclose(-p1, 1e-10, rtol=1e-6)


def test_zero_gradient_keeps_params_and_decays_averages():
    p = np.array([1.0, 2.0], dtype=f32)
    g = np.array([1.0, -1.0], dtype=f32)
    opt = eps_ref.optimizer(KERAS)
    p1, s1 = opt.step(p, g, opt.init(p))
    p2, s2 = opt.step(p1, np.zeros_like(g), s1)
    np.testing.assert_array_equal(p2, p1)
    np.testing.assert_allclose(s2["slots"][0]["square_avg"],
                               f32(0.95) * s1["slots"][0]["square_avg"], rtol=1e-7)


def test_optax_default_ascends_and_any_learning_rate_descends():
    zero = np.zeros_like(P)
    up, _ = first_step(OPTAX, zero, G)
    down, _ = first_step(OPTAX, zero, G, learning_rate=1.0)
    np.testing.assert_array_equal(up, -down)
    assert np.all(np.sign(up) == np.sign(G))


def test_torch_weight_decay_is_coupled():
    p1, _ = first_step(TORCH, P, G, weight_decay=0.1)
    expect, _, _ = expected_first_step(P, G, lr=1.0, rho=0.9, eps=1e-6, wd=0.1)
    np.testing.assert_allclose(p1, expect, rtol=1e-6)


def test_optax_weight_decay_is_coupled_and_lr_scales():
    p1, _ = first_step(OPTAX, P, G, weight_decay=0.1, learning_rate=0.5)
    expect, _, _ = expected_first_step(P, G, lr=0.5, rho=0.9, eps=1e-6, wd=0.1)
    np.testing.assert_allclose(p1, expect, rtol=1e-6)


def test_keras_weight_decay_shrinks_first():
    p1, _ = first_step(KERAS, P, G, weight_decay=0.1, learning_rate=0.5)
    shrunk = P.astype(np.float64) * (1 - 0.1 * 0.5)
    expect, _, _ = expected_first_step(P, G, lr=0.5, rho=0.95, eps=1e-7)
    np.testing.assert_allclose(p1, expect - P + shrunk, rtol=1e-6, atol=1e-7)


def test_maximize_ascends():
    zero = np.zeros_like(P)
    down, _ = first_step(TORCH, zero, G)
    up, _ = first_step(TORCH, zero, G, maximize=True)
    np.testing.assert_array_equal(up, -down)


def test_acc_delta_stores_the_update_before_the_learning_rate():
    _, s_small = first_step(KERAS, P, G, learning_rate=1e-3)
    _, s_big = first_step(KERAS, P, G, learning_rate=1.0)
    np.testing.assert_array_equal(s_small["slots"][0]["acc_delta"],
                                  s_big["slots"][0]["acc_delta"])


def test_rho_one_never_moves():
    """rho = 1 freezes both averages at 0: the step is lr * sqrt(eps)/sqrt(eps) * g = lr*g."""
    p1, s = first_step(TORCH, P, G, rho=1.0, lr=0.5)
    np.testing.assert_allclose(p1, P - 0.5 * G, rtol=1e-6)
    assert not np.any(s["slots"][0]["square_avg"])


# -- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, kw", [
    (TORCH, {"lr": -1.0}), (TORCH, {"rho": 1.5}), (TORCH, {"eps": -1.0}),
    (TORCH, {"weight_decay": -0.1}), (KERAS, {"epsilon": -1.0}), (KERAS, {"rho": 2.0}),
    (TF1, {"learning_rate": -1.0}), (OPTAX, {"rho": -0.1}),
])
def test_invalid_values_raise(name, kw):
    with pytest.raises(ValueError):
        eps_ref.optimizer(name, **kw)


@pytest.mark.parametrize("name, kw", [
    (OPTAX, {"weight_decay_mask": {"w": True}}),
    (KERAS, {"learning_rate": lambda step: 1e-3}),            # a schedule
    (TORCH, {"lr": np.asarray(1e-3)}),                        # a tensor-like lr
])
def test_unmodelled_keywords_raise(name, kw):
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer(name, **kw)


def test_unknown_switch_values_raise():
    with pytest.raises(ValueError, match="eps_placement"):
        run_rule(P, [G], **rule_kwargs(eps_placement="outside"))
    with pytest.raises(ValueError, match="lr=None"):
        run_rule(P, [G], **rule_kwargs(lr=None))


# -- arithmetic: every dialect agrees up to rounding, and differs in the last bits ------

ROOTS = {
    "torch_cpu": dict(sqrt_method="mkl_goldschmidt_rsqrtps", rsqrt_method="one_over_sqrt"),
    "keras": dict(sqrt_method="correctly_rounded", rsqrt_method="one_over_sqrt"),
    "keras_torch_foreach": dict(sqrt_method="mkl_goldschmidt_rsqrtps",
                                rsqrt_method="one_over_sqrt"),
    "tf1_kernel": dict(sqrt_method="correctly_rounded", rsqrt_method="eigen_rsqrtps_newton"),
    "optax": dict(sqrt_method="correctly_rounded", rsqrt_method="one_over_sqrt"),
}

WD_FORM = {"torch_cpu": "coupled", "keras": "decoupled_before_step",
           "keras_torch_foreach": "decoupled_before_step", "tf1_kernel": "none",
           "optax": "coupled"}


def _stream(rng, n=8, shape=(3, 5)):
    p = rng.standard_normal(shape).astype(f32)
    gs = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 1, shape)).astype(f32)
          for _ in range(n)]
    gs[2][0, 0] = 0.0
    return p, gs


@pytest.mark.parametrize("arithmetic", R.ARITHMETIC)
def test_arithmetics_agree_with_float64(arithmetic, rng):
    p, gs = _stream(rng)
    got, _ = run_rule(p, gs, **rule_kwargs(arithmetic=arithmetic, lr=1e-2, **ROOTS[arithmetic]))
    ref, _ = run_rule(p.astype(np.float64), [g.astype(np.float64) for g in gs],
                      **rule_kwargs(lr=1e-2))
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_arithmetics_differ_in_the_last_bits(rng):
    p, gs = _stream(rng, n=50, shape=(8, 16))
    outs = {a: run_rule(p, gs, **rule_kwargs(arithmetic=a, lr=1.0, **ROOTS[a]))[0]
            for a in R.ARITHMETIC}
    assert not np.array_equal(outs["torch_cpu"], outs["keras"])
    assert not np.array_equal(outs["tf1_kernel"], outs["keras"])


def test_keras_torch_backend_semantics():
    kw = eps_ref.optimizer(KERAS, backend="torch").rule_kwargs
    assert kw["arithmetic"] == "keras_torch_foreach"
    assert kw["sqrt_method"] == "mkl_goldschmidt_rsqrtps"
    base = dict(eps_ref.optimizer(KERAS).rule_kwargs)
    assert _adadelta_torch_backend_semantics(base) == dict(kw)


# -- purity, namespaces --------------------------------------------------------------------

@pytest.mark.parametrize("arithmetic", R.ARITHMETIC)
def test_inputs_not_mutated_and_array_api_strict_equals_numpy(arithmetic, rng):
    xps = pytest.importorskip("array_api_strict")
    kw = rule_kwargs(arithmetic=arithmetic, weight_decay=0.01, lr=0.1,
                     weight_decay_form=WD_FORM[arithmetic], **ROOTS[arithmetic])
    p, gs = _stream(rng)
    p_copy, gs_copy = p.copy(), [g.copy() for g in gs]
    ref, ref_slots = run_rule(p, gs, **kw)
    np.testing.assert_array_equal(p, p_copy)
    for g, c in zip(gs, gs_copy):
        np.testing.assert_array_equal(g, c)
    got, got_slots = run_rule(xps.asarray(p), [xps.asarray(g) for g in gs], **kw)
    np.testing.assert_array_equal(np.asarray(got), ref)
    for k in ref_slots:
        np.testing.assert_array_equal(np.asarray(got_slots[k]), ref_slots[k])
    assert np.all(np.isfinite(ref))


def test_slots_not_mutated(rng):
    p, gs = _stream(rng)
    kw = rule_kwargs()
    _, slots = run_rule(p, gs[:2], **kw)
    snapshot = {k: v.copy() for k, v in slots.items()}
    adadelta.step(p, gs[2], slots, t=3, **kw)
    for k in snapshot:
        np.testing.assert_array_equal(slots[k], snapshot[k])


@pytest.mark.parametrize("arithmetic", R.ARITHMETIC)
def test_torch_tensors_equal_numpy(arithmetic, rng):
    torch = pytest.importorskip("torch")
    kw = rule_kwargs(arithmetic=arithmetic, weight_decay=0.01, lr=0.1, maximize=True,
                     weight_decay_form=WD_FORM[arithmetic], **ROOTS[arithmetic])
    p, gs = _stream(rng)
    ref, _ = run_rule(p, gs, **kw)
    got, _ = run_rule(torch.from_numpy(p), [torch.from_numpy(g) for g in gs], **kw)
    np.testing.assert_array_equal(got.numpy(), ref)


def test_float64_runs_in_float64():
    p1, state = first_step(TORCH, P.astype(np.float64), G.astype(np.float64))
    assert p1.dtype == np.float64 and state["slots"][0]["acc_delta"].dtype == np.float64

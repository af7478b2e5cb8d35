"""The Adamax rule and its dialects (torch, Keras, optax adamax/adamaxw): hand-computed first
steps, where eps sits (inside the max vs added to the denominator), limits, weight decay,
purity, and other Array-API namespaces. No framework is imported here (torch tensors are
used when torch happens to be installed)."""

import numpy as np
import pytest

import eps_ref
from eps_ref.frameworks.keras import _adamax_torch_backend_semantics
from eps_ref.rules import adamax as R
from eps_ref.rules.adamax import adamax

f32 = np.float32
TORCH = "torch.optim.Adamax"
KERAS = "keras.optimizers.Adamax"
OPTAX = "optax.adamax"
OPTAXW = "optax.adamaxw"
NAMES = (TORCH, KERAS, OPTAX, OPTAXW)

P = np.array([1.0, -2.0, 0.5, 0.0], dtype=f32)
G = np.array([0.5, -0.25, 2.0, 1e-10], dtype=f32)


def first_step(name, p, g, **kw):
    opt = eps_ref.optimizer(name, **kw)
    return opt.step(p, g, opt.init(p))


def rule_kwargs(**over):
    kw = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, eps_placement="inside_max",
              weight_decay=0.0, weight_decay_form="none", maximize=False, arithmetic="keras")
    kw.update(over)
    return kw


def run_rule(p, gs, **kw):
    slots = adamax.init(p, **adamax.init_kwargs(kw))
    for t, g in enumerate(gs, 1):
        p, slots = adamax.step(p, g, slots, t=t, **kw)
    return p, slots


def expected_first_step(p, g, *, lr, eps, inside_max):
    """Float64 first step: m_hat = g, u = |g| + eps (inside) or |g| with u + eps below."""
    g = g.astype(np.float64)
    u = np.abs(g) + eps if inside_max else np.abs(g)
    denom = u if inside_max else u + eps
    return p - lr * g / denom, u


# -- hand-computed first steps -------------------------------------------------------------

@pytest.mark.parametrize("name, kw, lr, eps, inside", [
    (TORCH, {}, 2e-3, 1e-8, True),
    (KERAS, {}, 1e-3, 1e-7, False),
    (OPTAX, {"learning_rate": 2e-3}, 2e-3, 1e-8, True),
    (OPTAXW, {"learning_rate": 2e-3, "weight_decay": 0.0}, 2e-3, 1e-8, True),
])
def test_first_step_is_sign_descent_up_to_eps(name, kw, lr, eps, inside):
    p1, state = first_step(name, P, G, **kw)
    expect, u = expected_first_step(P, G, lr=lr, eps=eps, inside_max=inside)
    np.testing.assert_allclose(p1, expect, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(state["slots"][0]["exp_inf"], u, rtol=1e-6)
    np.testing.assert_allclose(state["slots"][0]["exp_avg"], 0.1 * G.astype(np.float64),
                               rtol=1e-6)


def test_defaults_and_eps_placement_per_framework():
    sem = {n: eps_ref.spec(n).semantics for n in NAMES}
    assert {n: s["eps_placement"] for n, s in sem.items()} == {
        TORCH: "inside_max", KERAS: "added_to_denominator", OPTAX: "inside_max",
        OPTAXW: "inside_max"}
    assert sem[TORCH]["lr"] == 2e-3 and sem[KERAS]["lr"] == 1e-3
    assert sem[TORCH]["eps"] == 1e-8 and sem[KERAS]["eps"] == 1e-7
    assert sem[OPTAXW]["weight_decay"] == 1e-4


@pytest.mark.parametrize("eps", [1e-3, 1.0])
def test_eps_placement(eps):
    """A gradient far below eps: inside the max, u = eps is stored (the slot remembers eps);
    added to the denominator, u = |g| is stored and eps enters only the step."""
    g = np.array([1e-6], dtype=f32)
    p = np.zeros(1, dtype=f32)
    kw_in = rule_kwargs(eps=eps, eps_placement="inside_max")
    kw_out = rule_kwargs(eps=eps, eps_placement="added_to_denominator")
    p_in, s_in = run_rule(p, [g], **kw_in)
    p_out, s_out = run_rule(p, [g], **kw_out)
    np.testing.assert_allclose(s_in["exp_inf"], f32(1e-6) + f32(eps), rtol=1e-7)
    np.testing.assert_array_equal(s_out["exp_inf"], g)
    np.testing.assert_allclose(p_in, -1e-3 * 1e-6 / (1e-6 + eps), rtol=1e-5)
    np.testing.assert_allclose(p_in, p_out, rtol=1e-5)   # the same first step ...
    # ... but after the gradient stops, the stored norm decays from different places.
    p_in, s_in = run_rule(p, [g, np.zeros_like(g)], **kw_in)
    p_out, s_out = run_rule(p, [g, np.zeros_like(g)], **kw_out)
    np.testing.assert_allclose(s_in["exp_inf"], max(0.999 * (1e-6 + eps), eps), rtol=1e-6)
    np.testing.assert_allclose(s_out["exp_inf"], 0.999e-6, rtol=1e-6)


def test_zero_gradient_refreshes_the_norm_to_eps_only_inside_the_max():
    g0 = np.zeros(3, dtype=f32)
    _, s_in = run_rule(g0, [g0], **rule_kwargs(eps=1e-3))
    _, s_out = run_rule(g0, [g0], **rule_kwargs(eps=1e-3, eps_placement="added_to_denominator"))
    np.testing.assert_array_equal(s_in["exp_inf"], f32(1e-3))
    np.testing.assert_array_equal(s_out["exp_inf"], 0.0)


def test_spike_is_remembered_by_the_max():
    p = np.zeros(1, dtype=f32)
    gs = [np.array([1e3], dtype=f32)] + [np.array([1.0], dtype=f32)] * 5
    _, s = run_rule(p, gs, **rule_kwargs())
    np.testing.assert_allclose(s["exp_inf"], 1e3 * 0.999 ** 5, rtol=1e-5)


def test_bias_correction_divides_by_one_minus_beta1_power():
    """A constant gradient: m_t = (1 - b1^t) g exactly in real arithmetic, so the step is
    lr * g / u at every t."""
    g = np.array([0.5], dtype=f32)
    p = np.zeros(1, dtype=f32)
    for arithmetic in R.ARITHMETIC:
        p5, _ = run_rule(p, [g] * 5, **rule_kwargs(arithmetic=arithmetic, eps=0.0))
        np.testing.assert_allclose(p5, -5 * 1e-3, rtol=1e-5)


def test_torch_weight_decay_is_coupled():
    p1, _ = first_step(TORCH, P, G, weight_decay=0.1, eps=0.0)
    g = G.astype(np.float64) + 0.1 * P
    np.testing.assert_allclose(p1, P - 2e-3 * np.sign(g), rtol=1e-6)


def test_keras_weight_decay_shrinks_first():
    p1, _ = first_step(KERAS, P, G, weight_decay=0.1, learning_rate=0.5, epsilon=0.0)
    np.testing.assert_allclose(p1, P * (1 - 0.05) - 0.5 * np.sign(G), rtol=1e-6, atol=1e-6)


def test_optax_adamaxw_adds_decay_to_the_scaled_update():
    p1, _ = first_step(OPTAXW, P, G, learning_rate=0.5, weight_decay=0.1, eps=0.0)
    np.testing.assert_allclose(p1, P - 0.5 * (np.sign(G) + 0.1 * P), rtol=1e-6, atol=1e-6)


def test_maximize_ascends():
    zero = np.zeros_like(P)
    down, _ = first_step(TORCH, zero, G)
    up, _ = first_step(TORCH, zero, G, maximize=True)
    np.testing.assert_array_equal(up, -down)


# -- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, kw", [
    (TORCH, {"lr": -1.0}), (TORCH, {"eps": -1.0}), (TORCH, {"betas": (1.0, 0.9)}),
    (TORCH, {"betas": (0.9, -0.1)}), (TORCH, {"weight_decay": -0.1}),
    (KERAS, {"beta_1": 1.0}), (KERAS, {"epsilon": -1.0}),
    (OPTAX, {"learning_rate": 1e-3, "b2": 1.5}), (OPTAXW, {"learning_rate": -1.0}),
])
def test_invalid_values_raise(name, kw):
    with pytest.raises(ValueError):
        eps_ref.optimizer(name, **kw)


@pytest.mark.parametrize("name, kw", [
    (TORCH, {"capturable": True}), (TORCH, {"lr": np.asarray(1e-3)}),    # a tensor-like lr
    (KERAS, {"learning_rate": lambda step: 1e-3}),                         # a schedule
    (OPTAXW, {"learning_rate": 1e-3, "mask": {"w": True}}),
])
def test_unmodelled_keywords_raise(name, kw):
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer(name, **kw)


def test_unknown_switch_values_raise():
    with pytest.raises(ValueError, match="eps_placement"):
        run_rule(P, [G], **rule_kwargs(eps_placement="outside_sqrt"))
    with pytest.raises(ValueError, match="arithmetic"):
        run_rule(P, [G], **rule_kwargs(arithmetic="tf1_kernel"))


# -- arithmetic ---------------------------------------------------------------------------

WD_FORM = {"torch_cpu": "coupled", "keras": "decoupled_before_step",
           "keras_torch_foreach": "decoupled_before_step", "optax": "decoupled_added_to_update"}


def _stream(rng, n=8, shape=(3, 5)):
    p = rng.standard_normal(shape).astype(f32)
    gs = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 1, shape)).astype(f32)
          for _ in range(n)]
    gs[2][0, 0] = 0.0
    return p, gs


@pytest.mark.parametrize("arithmetic", R.ARITHMETIC)
@pytest.mark.parametrize("placement", R.EPS_PLACEMENTS)
def test_arithmetics_agree_with_float64(arithmetic, placement, rng):
    p, gs = _stream(rng)
    kw = rule_kwargs(arithmetic=arithmetic, eps_placement=placement, lr=1e-2)
    got, _ = run_rule(p, gs, **kw)
    ref, _ = run_rule(p.astype(np.float64), [g.astype(np.float64) for g in gs],
                      **{**kw, "arithmetic": "keras"})
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_arithmetics_differ_in_the_last_bits(rng):
    p, gs = _stream(rng, n=50, shape=(8, 16))
    outs = {a: run_rule(p, gs, **rule_kwargs(arithmetic=a, lr=1e-1))[0] for a in R.ARITHMETIC}
    assert not np.array_equal(outs["torch_cpu"], outs["keras"])
    assert not np.array_equal(outs["optax"], outs["keras"])


def test_keras_torch_backend_semantics():
    kw = eps_ref.optimizer(KERAS, backend="torch").rule_kwargs
    assert kw["arithmetic"] == "keras_torch_foreach"
    assert _adamax_torch_backend_semantics(dict(eps_ref.optimizer(KERAS).rule_kwargs)) == dict(kw)


# -- purity, namespaces --------------------------------------------------------------------

@pytest.mark.parametrize("arithmetic", R.ARITHMETIC)
@pytest.mark.parametrize("placement", R.EPS_PLACEMENTS)
def test_inputs_not_mutated_and_array_api_strict_equals_numpy(arithmetic, placement, rng):
    xps = pytest.importorskip("array_api_strict")
    kw = rule_kwargs(arithmetic=arithmetic, eps_placement=placement, weight_decay=0.01,
                     weight_decay_form=WD_FORM[arithmetic], lr=0.1)
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
    adamax.step(p, gs[2], slots, t=3, **kw)
    for k in snapshot:
        np.testing.assert_array_equal(slots[k], snapshot[k])


@pytest.mark.parametrize("arithmetic", R.ARITHMETIC)
def test_torch_tensors_equal_numpy(arithmetic, rng):
    torch = pytest.importorskip("torch")
    kw = rule_kwargs(arithmetic=arithmetic, weight_decay=0.01, lr=0.1, maximize=True,
                     weight_decay_form=WD_FORM[arithmetic])
    p, gs = _stream(rng)
    ref, _ = run_rule(p, gs, **kw)
    got, _ = run_rule(torch.from_numpy(p), [torch.from_numpy(g) for g in gs], **kw)
    np.testing.assert_array_equal(got.numpy(), ref)


def test_float64_runs_in_float64():
    p1, state = first_step(TORCH, P.astype(np.float64), G.astype(np.float64))
    assert p1.dtype == np.float64 and state["slots"][0]["exp_inf"].dtype == np.float64

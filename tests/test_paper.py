"""The ``paper.*`` dialect against its papers' equations: first steps computed by hand,
limits, and the switches. numpy only; float64 arrays where a formula is compared with
``allclose``, so that the comparison tests the algebra and not float32 rounding."""

import math

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.published import nadam_mu, r_t, rho_inf, rho_t
from eps_ref.rules.sign import internal_decay


def run(name, grads, p0, **kwargs):
    opt = eps_ref.optimizer(name, **kwargs)
    p, state = p0, opt.init(p0)
    out = []
    for g in grads:
        p, state = opt.step(p, g, state)
        out.append(p)
    return out, state


@pytest.fixture
def p0():
    return np.array([0.5, -1.0, 2.0, 0.0, 3.0])


@pytest.fixture
def g1():
    return np.array([0.1, -2.0, 1e-3, 0.0, -4.0])


def close(a, b, rtol=1e-12):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


# -- Adam, Algorithm 1 and the eps-hat form ---------------------------------------------------

def test_adam_first_step_is_lr_times_g_over_abs_g_plus_eps(p0, g1):
    (p1,), _ = run("paper.adam", [g1], p0)
    close(p1, p0 - 1e-3 * g1 / (np.abs(g1) + 1e-8))


def test_adam_second_step(p0, g1):
    g2 = np.array([-0.3, 1.0, 2e-3, 0.0, -1.0])
    (_, p2), _ = run("paper.adam", [g1, g2], p0, lr=1e-2)
    m = 0.1 * 0.9 * g1 + 0.1 * g2
    v = 0.001 * 0.999 * g1 ** 2 + 0.001 * g2 ** 2
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    p1 = p0 - 1e-2 * g1 / (np.abs(g1) + 1e-8)
    close(p2, p1 - 1e-2 * m_hat / (np.sqrt(v_hat) + 1e-8))


def test_eps_hat_is_algorithm_1_with_eps_scaled_by_root_of_bias_correction(p0, g1):
    eps_hat = 1e-2
    (a,), _ = run("paper.adam_eps_hat", [g1], p0, eps=eps_hat)
    (b,), _ = run("paper.adam", [g1], p0, eps=eps_hat / math.sqrt(1 - 0.999))
    close(a, b)
    # At step 1, eps-hat acts ~31.6 times larger than the same number in Algorithm 1.
    (c,), _ = run("paper.adam", [g1], p0, eps=eps_hat)
    assert np.all(np.abs(p0 - a) <= np.abs(p0 - c))


def test_adam_with_huge_eps_is_sgd_with_lr_over_eps(p0):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5) for _ in range(5)]
    lr, eps = 1e-3, 1e8
    out, _ = run("paper.adam", grads, p0, lr=lr, eps=eps, beta1=0.0)
    expect = p0.copy()
    for g, p in zip(grads, out):
        expect = expect - (lr / eps) * g
        close(p, expect, rtol=1e-6)


# -- AdaMax ---------------------------------------------------------------------------------

def test_adamax_first_step_is_lr_times_sign(p0, g1):
    (p1,), state = run("paper.adamax", [g1], p0)
    close(p1, p0 - 2e-3 * np.sign(g1))
    np.testing.assert_array_equal(state["slots"][0]["u"], np.abs(g1))


def test_adamax_u_is_a_decayed_max(p0, g1):
    g2 = g1 / 10
    (_, p2), state = run("paper.adamax", [g1, g2], p0, lr=1e-2)
    u = np.maximum(0.999 * np.abs(g1), np.abs(g2))
    m = 0.09 * g1 + 0.1 * g2
    np.testing.assert_array_equal(state["slots"][0]["u"], u)
    p1 = p0 - 1e-2 * np.sign(g1)
    close(p2[g1 != 0], (p1 - (1e-2 / (1 - 0.81)) * m / np.where(u == 0, 1, u))[g1 != 0])


# -- AMSGrad ----------------------------------------------------------------------------------

def test_amsgrad_has_no_bias_correction(p0, g1):
    (p1,), _ = run("paper.amsgrad", [g1], p0)
    close(p1, p0 - 1e-3 * (0.1 * g1) / (np.sqrt(0.001 * g1 ** 2) + 1e-8))
    # ... so its first step is sqrt(1 - b2)/(1 - b1) ~ 0.316 times Adam's.
    (a,), _ = run("paper.adam", [g1], p0)
    big = np.abs(g1) > 1e-2
    close((p1 - p0)[big] / (a - p0)[big], np.full(big.sum(), 0.1 / math.sqrt(0.001)), rtol=1e-4)


def test_amsgrad_keeps_the_max_of_v(p0, g1):
    grads = [g1, g1 / 100, g1 / 100]
    (_, _, p3), state = run("paper.amsgrad", grads, p0)
    slots = state["slots"][0]
    v1 = 0.001 * g1 ** 2
    assert np.all(slots["v"] <= slots["v_hat"])
    close(slots["v_hat"], np.maximum(v1, slots["v"]))


def test_amsgrad_inverse_sqrt_step_size(p0, g1):
    (_, a), st = run("paper.amsgrad", [g1, g1], p0, step_size="inverse_sqrt_t")
    (b1,), _ = run("paper.amsgrad", [g1], p0)
    m = 0.1 * g1 * 1.9
    v = 0.001 * g1 ** 2 * 1.999
    close(a, b1 - (1e-3 / math.sqrt(2)) * m / (np.sqrt(v) + 1e-8))


# -- RAdam ----------------------------------------------------------------------------------

def test_rho_functions():
    assert rho_inf(0.999) == pytest.approx(1999.0)
    assert rho_t(1, 0.999) == pytest.approx(1.0)
    assert [t for t in range(1, 10) if rho_t(t, 0.999) > 4] == [5, 6, 7, 8, 9]
    assert math.isnan(r_t(4, 0.999))
    assert r_t(10_000, 0.999) == pytest.approx(1.0, abs=1e-3)
    rt, ri = rho_t(6, 0.999), 1999.0
    assert r_t(6, 0.999) == pytest.approx(
        math.sqrt((rt - 4) * (rt - 2) * ri / ((ri - 4) * (ri - 2) * rt)))


def test_radam_falls_back_to_unrectified_momentum_while_rho_t_le_4(p0):
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(5) for _ in range(5)]
    out, _ = run("paper.radam", grads, p0, lr=1e-2)
    p, m = p0, np.zeros(5)
    for t, (g, got) in enumerate(zip(grads[:4], out), start=1):
        m = 0.9 * m + 0.1 * g
        p = p - 1e-2 * m / (1 - 0.9 ** t)
        close(got, p)
    # Step 5: rho_5 > 4, the rectified adaptive step.
    v = sum(0.001 * 0.999 ** (5 - i) * g ** 2 for i, g in enumerate(grads, start=1))
    m = 0.9 * m + 0.1 * grads[4]
    expect = p - 1e-2 * r_t(5, 0.999) * (m / (1 - 0.9 ** 5)) / np.sqrt(v / (1 - 0.999 ** 5))
    close(out[4], expect, rtol=1e-10)


def test_radam_threshold_switch(p0):
    grads = [np.full(5, 0.5)] * 5
    a, _ = run("paper.radam", grads, p0)
    b, _ = run("paper.radam", grads, p0, threshold=5.0)
    np.testing.assert_array_equal(a[3], b[3])
    assert not np.array_equal(a[4], b[4])


# -- SGDW and AdamW -------------------------------------------------------------------------

def test_sgdw_steps(p0, g1):
    lr, lam, b1 = 1e-2, 1e-1, 0.9
    g2 = -g1
    (p1, p2), _ = run("paper.sgdw", [g1, g2], p0, lr=lr, weight_decay=lam, momentum=b1)
    m1 = lr * g1
    close(p1, p0 - m1 - lam * p0)
    m2 = b1 * m1 + lr * g2
    close(p2, p1 - m2 - lam * p1)


def test_decoupled_decay_is_not_multiplied_by_alpha(p0, g1):
    (a,), _ = run("paper.sgdw", [g1], p0, lr=0.0, weight_decay=0.1, schedule_multiplier=0.5)
    close(a, p0 * (1 - 0.5 * 0.1))
    (b,), _ = run("paper.adamw", [g1], p0, lr=0.0, weight_decay=0.1, schedule_multiplier=0.5)
    close(b, p0 * (1 - 0.5 * 0.1))


def test_schedule_multiplier_may_be_a_function(p0, g1):
    (a, b), _ = run("paper.sgdw", [g1, g1], p0, lr=1e-2, weight_decay=0.0, momentum=0.0,
                    schedule_multiplier=lambda t: 1.0 / t)
    close(a, p0 - 1e-2 * g1)
    close(b, a - 0.5e-2 * g1)


def test_sgdw_l2_branch(p0, g1):
    (a,), _ = run("paper.sgdw", [g1], p0, lr=1e-2, weight_decay=0.1, weight_decay_form="l2")
    close(a, p0 - 1e-2 * (g1 + 0.1 * p0))


def test_adamw_is_adam_plus_decoupled_decay(p0, g1):
    eta, lam = 0.5, 1e-2
    (a,), _ = run("paper.adamw", [g1], p0, weight_decay=lam, schedule_multiplier=eta)
    close(a, p0 - eta * (1e-3 * g1 / (np.abs(g1) + 1e-8) + lam * p0))
    (b,), _ = run("paper.adamw", [g1], p0, weight_decay=0.0)
    (c,), _ = run("paper.adam", [g1], p0)
    np.testing.assert_array_equal(b, c)


# -- Nadam ----------------------------------------------------------------------------------

def test_nadam_first_step(p0, g1):
    (p1,), _ = run("paper.nadam", [g1], p0)
    mu1, mu2 = nadam_mu(1, 0.9, 0.004), nadam_mu(2, 0.9, 0.004)
    assert mu1 == pytest.approx(0.9 * (1 - 0.5 * 0.96 ** 0.004))
    g_hat = g1 / (1 - mu1)
    m_hat = (1 - mu1) * g1 / (1 - mu1 * mu2)
    m_bar = (1 - mu1) * g_hat + mu2 * m_hat
    close(p1, p0 - 2e-3 * m_bar / (np.abs(g1) + 1e-8))


# -- RMSProp, AdaGrad, ADADELTA ---------------------------------------------------------------

def test_hinton_rmsprop_first_step_is_sqrt_10_sign(p0, g1):
    (p1,), _ = run("paper.rmsprop", [g1], p0, lr=1e-3)
    close(p1, p0 - 1e-3 * np.sqrt(10.0) * np.sign(g1))


def test_duchi_adagrad_steps(p0, g1):
    g2 = np.array([0.2, 1.0, 0.0, 0.0, 4.0])
    (p1, p2), _ = run("paper.adagrad", [g1, g2], p0, lr=1e-2)
    close(p1, p0 - 1e-2 * np.sign(g1))
    acc = g1 ** 2 + g2 ** 2
    close(p2, p1 - 1e-2 * g2 / np.sqrt(np.where(acc == 0, 1.0, acc)))
    (q1,), _ = run("paper.adagrad", [g1], p0, lr=1e-2, eps=0.1)
    close(q1, p0 - 1e-2 * g1 / (0.1 + np.abs(g1)))


def test_zeiler_adadelta_first_steps(p0, g1):
    (p1, p2), _ = run("paper.adadelta", [g1, g1], p0)
    eps, rho = 1e-6, 0.95
    eg = (1 - rho) * g1 ** 2
    dx1 = -np.sqrt(eps) / np.sqrt(eg + eps) * g1
    close(p1, p0 + dx1)
    ex = (1 - rho) * dx1 ** 2
    eg = rho * eg + (1 - rho) * g1 ** 2
    close(p2, p1 - np.sqrt(ex + eps) / np.sqrt(eg + eps) * g1)


# -- Lion, PowerSign, AddSign -----------------------------------------------------------------

def test_lion_first_step_is_sign(p0, g1):
    (p1,), _ = run("paper.lion", [g1], p0)
    close(p1, p0 - 1e-4 * np.sign(g1))
    (q1,), st = run("paper.lion", [g1], p0, weight_decay=1.0)
    close(q1, p0 - 1e-4 * (np.sign(g1) + p0))
    close(st["slots"][0]["m"], 0.01 * g1)


def test_internal_decays():
    assert internal_decay(7) == 1.0
    assert internal_decay(250, "linear", total_steps=1000) == 0.75
    assert internal_decay(100, "cyclical", total_steps=1000, cycles=10) == pytest.approx(1.0)
    assert internal_decay(50, "cyclical", total_steps=1000, cycles=10) == pytest.approx(0.0)
    assert internal_decay(100, "restart", restart_period=100) == 1.0
    assert internal_decay(50, "restart", restart_period=100) == pytest.approx(0.5)


def test_powersign_and_addsign_agreement():
    p0 = np.zeros(2)
    g1, g2 = np.array([1.0, 1.0]), np.array([-0.5, 0.5])
    (p1, p2), _ = run("paper.powersign", [g1, g2], p0, lr=1e-2)
    close(p1, -1e-2 * math.e * g1)
    # m_2 = 0.09 g1 + 0.1 g2 > 0: the first element disagrees, the second agrees.
    close(p2, p1 - 1e-2 * np.array([math.e ** -1, math.e]) * g2)
    (q1, q2), _ = run("paper.addsign", [g1, g2], p0, lr=1e-2)
    close(q1, -2e-2 * g1)
    close(q2, q1 - 1e-2 * np.array([0.0, 2.0]) * g2)


def test_powersign_linear_decay_reaches_plain_sgd(p0, g1):
    (a,), _ = run("paper.powersign", [g1], p0, lr=1e-2, decay="linear", total_steps=1)
    close(a, p0 - 1e-2 * g1)
    with pytest.raises(ValueError, match="total_steps"):
        eps_ref.optimizer("paper.powersign", lr=1e-2, decay="linear")


# -- McAllester's forms -----------------------------------------------------------------------

def test_mcallester_adam_averages_are_exact_means_until_n(p0):
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(5) for _ in range(4)]
    out, state = run("paper.mcallester_adam", grads, p0, lr=1e-3, eps=1e-8, n_g=10.0)
    slots = state["slots"][0]
    close(slots["g_avg"], np.mean(grads, axis=0))
    close(slots["s"], np.mean(np.square(grads), axis=0))
    close(out[0], p0 - 1e-3 * grads[0] / (np.abs(grads[0]) + 1e-8))


def test_mcallester_adam_tracks_an_exponential_average_after_n(p0):
    grads = [np.full(5, float(t)) for t in range(1, 5)]
    _, state = run("paper.mcallester_adam", grads, p0, lr=1e-3, eps=1e-8, n_g=2.0)
    g_avg = (1.0 + 2.0) / 2
    for g in (3.0, 4.0):
        g_avg = 0.5 * g_avg + 0.5 * g
    close(state["slots"][0]["g_avg"], np.full(5, g_avg))


def test_eta0_over_eps_reparameterization(p0, g1):
    (a,), _ = run("paper.mcallester_adam", [g1], p0, lr=1e-6, eps=1e-3,
                  lr_parameterization="eta0_over_eps")
    (b,), _ = run("paper.mcallester_adam", [g1], p0, lr=1e-3, eps=1e-3)
    close(a, b)


def test_mcallester_rmsprop_with_n_s_is_rmsprop_with_decay_1_minus_1_over_n(p0):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(5) for _ in range(6)]
    a, _ = run("paper.mcallester_rmsprop", grads, p0, lr=1e-3, eps=1e-8, n_s=100.0)
    b, _ = run("paper.rmsprop", grads, p0, lr=1e-3, eps=1e-8, decay=0.99)
    close(a[-1], b[-1], rtol=1e-12)


# -- the dialect table --------------------------------------------------------------------------

def test_every_paper_spec_cites_its_paper():
    names = eps_ref.specs(framework="paper")
    assert len(eps_ref.specs(framework="paper", kind="optimizer")) == 18
    assert {"paper.sgdr", "paper.noam", "paper.linear_warmup", "paper.exponential_eps_decay"} \
        <= set(eps_ref.specs(framework="paper", kind="schedule"))
    for n in names:
        s = eps_ref.spec(n)
        assert s.reference.startswith("https://") and "(" in s.reference, n
    assert "paper.adafactor" in names and "paper.lamb" in names


def test_zero_history_gives_zero_step_without_eps():
    p = np.ones(3, np.float32)
    z = np.zeros(3, np.float32)
    for name, kw in [("paper.adamax", {}), ("paper.radam", {}), ("paper.rmsprop", {"lr": 1e-3}),
                     ("paper.adagrad", {"lr": 1e-2})]:
        out, _ = run(name, [z] * 7, p, **kw)
        np.testing.assert_array_equal(out[-1], p)

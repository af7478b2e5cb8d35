"""The ``tf_keras`` dialect (Keras 2 from the tf-keras package): hand-computed first steps
for where each optimizer puts eps (legacy RMSprop's two paths above all), the legacy
``epsilon or backend.epsilon()`` quirk, the keywords refused or ignored, and the new rule
switches it added (rmsprop ``tf_keras_rsqrt``/``tf_keras_legacy_ops``, adadelta
``tf_keras``, adamax ``tf_kernel``) on other Array-API namespaces. No framework is imported
here, except through the adapter in the version check (skipped when tf_keras is absent)."""

import numpy as np
import pytest

import eps_ref
from eps_ref.backends import adapter, labels_for

f32 = np.float32
P = np.array([1.0, -2.0, 0.5, 0.0, 3.0], dtype=f32)
G = np.array([0.5, -0.25, 2.0, 1e-10, 0.0], dtype=f32)
LEGACY = "tf_keras.optimizers.legacy."
NEW = "tf_keras.optimizers."


def first_step(name, p=P, g=G, **kw):
    opt = eps_ref.optimizer(name, **kw)
    new_p, _ = opt.step(p, g, opt.init(p))
    return np.asarray(new_p)


def run(name, steps=5, **kw):
    opt = eps_ref.optimizer(name, **kw)
    rng = np.random.default_rng(7)
    p, state = P, opt.init(P)
    for _ in range(steps):
        p, state = opt.step(p, rng.standard_normal(P.shape).astype(f32), state)
    return np.asarray(p)


def test_dialect_version_is_installed():
    """The table was read from the installed tf-keras (the pinned one)."""
    mod = adapter(labels_for("tf_keras")[0])
    ok, reason = mod.available()
    if not ok:
        pytest.skip(reason)
    from eps_ref.frameworks import tf_keras
    assert mod.versions()["tf_keras"].split("+")[0] == tf_keras.VERSION


def test_every_listed_optimizer_is_registered():
    names = set(eps_ref.specs(framework="tf_keras"))
    legacy = {LEGACY + n for n in ("SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "Adamax",
                                   "Nadam")}
    new = {NEW + n for n in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                             "Adamax", "Nadam", "Lion")}
    assert legacy | new <= names


# -- where eps sits ------------------------------------------------------------------------

@pytest.mark.parametrize("eps", [1e-7, 1e-3, 1.0])
def test_legacy_rmsprop_without_momentum_has_eps_outside_the_root(eps):
    lr, rho = 1e-3, 0.9
    c = f32(1) - f32(rho)                      # 1 - rho in float32, from the cast rho
    v = c * (G * G)
    want = P - (f32(lr) * G) / (np.sqrt(v) + f32(eps))
    np.testing.assert_array_equal(first_step(LEGACY + "RMSprop", epsilon=eps), want)


@pytest.mark.parametrize("eps", [1e-7, 1e-3, 1.0])
def test_legacy_rmsprop_with_momentum_has_eps_inside_the_root(eps):
    lr, rho = 1e-3, 0.9
    c = f32(1) - f32(rho)
    v = f32(0) + (G * G - f32(0)) * c          # ApplyRMSProp: ms += (g^2 - ms)(1 - rho)
    want = P - (G * f32(lr)) / np.sqrt(v + f32(eps))
    got = first_step(LEGACY + "RMSprop", epsilon=eps, momentum=0.9)
    np.testing.assert_array_equal(got, want)


def test_legacy_rmsprop_eps_placement_switches_with_momentum():
    """Same nominal hyperparameters, momentum 0 vs a tiny momentum: at step 1 the buffer is
    empty, so only the eps placement differs, and with eps = 1 it is large."""
    a = first_step(LEGACY + "RMSprop", epsilon=1.0)
    b = first_step(LEGACY + "RMSprop", epsilon=1.0, momentum=1e-12)
    v = (f32(1) - f32(0.9)) * G * G
    np.testing.assert_allclose(a, P - 1e-3 * G / (np.sqrt(v) + 1), rtol=1e-6)
    np.testing.assert_allclose(b, P - 1e-3 * G / np.sqrt(v + 1), rtol=1e-6)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("name", [LEGACY + "Adam", NEW + "Adam"])
def test_adam_first_step_has_eps_hat_on_the_raw_root(name):
    eps = 1e-3
    got = first_step(name, epsilon=eps).astype(np.float64)
    # step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1
    g = G.astype(np.float64)
    alpha = 1e-3 * np.sqrt(1 - 0.999) / (1 - 0.9)
    want = P - (0.1 * g) * alpha / (np.sqrt(0.001) * np.abs(g) + eps)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12)


def test_legacy_adagrad_has_eps_outside_the_new_one_inside():
    g, acc = G.astype(np.float64), 0.1 + G.astype(np.float64) ** 2
    legacy = first_step(LEGACY + "Adagrad", epsilon=1.0)
    new = first_step(NEW + "Adagrad", epsilon=1.0)
    np.testing.assert_allclose(legacy, P - 1e-3 * g / (np.sqrt(acc) + 1), rtol=1e-6)
    np.testing.assert_allclose(new, P - 1e-3 * g / np.sqrt(acc + 1), rtol=1e-6)


def test_legacy_adamax_first_step():
    eps = 1e-3
    got = first_step(LEGACY + "Adamax", epsilon=eps).astype(np.float64)
    g = G.astype(np.float64)
    want = P - 1e-3 / (1 - 0.9) * ((0.1 * g) / (np.abs(g) + eps))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


def test_new_adadelta_first_step_has_eps_in_both_roots():
    eps = 1e-3
    got = first_step(NEW + "Adadelta", epsilon=eps).astype(np.float64)
    g = G.astype(np.float64)
    v = 0.05 * g * g
    want = P - 1e-3 * np.sqrt(eps) * g / np.sqrt(v + eps)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12)


def test_new_rmsprop_multiplies_by_the_reciprocal_root():
    eps = 1e-3
    got = first_step(NEW + "RMSprop", epsilon=eps).astype(np.float64)
    g = G.astype(np.float64)
    want = P - 1e-3 * g / np.sqrt(0.1 * g * g + eps)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


def test_legacy_nadam_first_step_uses_the_slow_schedule():
    eps = 1e-3
    got = first_step(LEGACY + "Nadam", epsilon=eps).astype(np.float64)
    g = G.astype(np.float64)
    mu1 = 0.9 * (1 - 0.5 * 0.96 ** 0.004)
    mu2 = 0.9 * (1 - 0.5 * 0.96 ** 0.008)
    m_bar = (1 - mu1) * g / (1 - mu1) + mu2 * (0.1 * g) / (1 - mu1 * mu2)
    want = P - 1e-3 * m_bar / (np.sqrt(0.001 * g * g / 0.001) + eps)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12)
    assert not np.array_equal(run(LEGACY + "Nadam"), run(NEW + "Nadam"))


# -- keywords ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [LEGACY + n for n in ("Adam", "RMSprop", "Adagrad",
                                                        "Adadelta", "Adamax", "Nadam")])
@pytest.mark.parametrize("falsy", [0, 0.0, None])
def test_legacy_falsy_epsilon_becomes_backend_epsilon(name, falsy):
    np.testing.assert_array_equal(run(name, epsilon=falsy), run(name, epsilon=1e-7))


@pytest.mark.parametrize("name", [NEW + n for n in ("SGD", "Adam", "AdamW", "RMSprop",
                                                     "Adagrad", "Adadelta", "Adamax",
                                                     "Nadam", "Lion")])
def test_jit_compile_is_inert_on_cpu(name):
    np.testing.assert_array_equal(run(name, jit_compile=False), run(name))
    assert "jit_compile" in eps_ref.spec(name).inert


def test_adaptive_epsilon_is_refused():
    with pytest.raises(NotImplementedError, match="adaptive_epsilon"):
        eps_ref.optimizer(NEW + "Adam", adaptive_epsilon=True)


@pytest.mark.parametrize("name, kw", [
    (NEW + "SGD", {"learning_rate": lambda: 0.1}),
])
def test_unmodelled_keywords_are_refused_under_the_tf_keras_name(name, kw):
    with pytest.raises(NotImplementedError, match="tf_keras"):
        eps_ref.optimizer(name, **kw)


@pytest.mark.parametrize("name", [LEGACY + "SGD", NEW + "SGD", LEGACY + "RMSprop"])
def test_momentum_outside_unit_interval_is_rejected(name):
    with pytest.raises(ValueError, match="momentum"):
        eps_ref.optimizer(name, momentum=1.5)


def test_negative_learning_rate_is_rejected():
    for name in (LEGACY + "Adam", NEW + "Adam", LEGACY + "Adagrad"):
        with pytest.raises(ValueError):
            eps_ref.optimizer(name, learning_rate=-1.0)


def test_new_optimizers_share_keras3_arithmetic_where_the_code_agrees():
    for n in ("SGD", "Adam", "Adagrad", "Adamax"):
        np.testing.assert_array_equal(run(NEW + n), run("keras.optimizers." + n))
    np.testing.assert_array_equal(run(NEW + "Lion", learning_rate=1e-3),
                                  run("keras.optimizers.Lion"))


# -- the new rule switches on other namespaces ---------------------------------------------

@pytest.mark.parametrize("name, kw", [
    (LEGACY + "RMSprop", {}), (LEGACY + "RMSprop", {"centered": True}),
    (NEW + "RMSprop", {"centered": True, "momentum": 0.9}),
    (NEW + "Adadelta", {}), (LEGACY + "Adamax", {}),
])
def test_new_switches_run_on_array_api_strict(name, kw):
    xps = pytest.importorskip("array_api_strict")
    opt = eps_ref.optimizer(name, **kw)
    p_np, s_np = P, opt.init(P)
    p_x, s_x = xps.asarray(P), opt.init(xps.asarray(P))
    g_in = xps.asarray(G)
    for _ in range(3):
        p_np, s_np = opt.step(p_np, G, s_np)
        p_x, s_x = opt.step(p_x, g_in, s_x)
    np.testing.assert_array_equal(np.asarray(p_x), np.asarray(p_np))
    np.testing.assert_array_equal(np.asarray(g_in), G)     # inputs untouched

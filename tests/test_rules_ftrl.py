"""FTRL-Proximal rule (eps_ref.rules.ftrl) against McMahan et al. 2013, Algorithm 1, by hand.

No framework is imported: the expected values are the paper's per-coordinate formulas,
evaluated in float64 and compared at float32 precision, plus the exact properties (L1 zeros,
purity, namespaces).
"""

import math

import array_api_strict
import numpy as np
import pytest

import eps_ref
from eps_ref.rules import ftrl as F
from eps_ref.rules._eigen_pow import eigen_pow_float32

NAMES = ["keras.optimizers.Ftrl", "tf.compat.v1.train.FtrlOptimizer",
         "tf_keras.optimizers.legacy.Ftrl", "tf_keras.optimizers.Ftrl"]
LR = {"tf.compat.v1.train.FtrlOptimizer": {"learning_rate": 0.01}}


def algorithm1(w, g, n, z, *, alpha, beta=0.0, l1=0.0, l2=0.0, lr_power=-0.5, shrink=0.0):
    """One step of McMahan et al.'s per-coordinate FTRL-Proximal in float64 (with the
    frameworks' generalizations: learning-rate power and L2 shrinkage)."""
    g = g + 2 * shrink * w
    n_new = n + g * g if shrink == 0 else n + (g - 2 * shrink * w) ** 2
    sigma = (n_new ** -lr_power - n ** -lr_power) / alpha
    z = z + g - sigma * w
    if abs(z) <= l1:
        return 0.0, n_new, z
    w = -(z - math.copysign(l1, z)) / ((beta + n_new ** -lr_power) / alpha + l2)
    return w, n_new, z


def _first_step(name, w0, g0, **kwargs):
    opt = eps_ref.optimizer(name, **{**LR.get(name, {}), **kwargs})
    p = np.asarray([w0], dtype=np.float32)
    state = opt.init(p)
    new, state = opt.step(p, np.asarray([g0], dtype=np.float32), state)
    return float(new[0]), opt


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("w0,g0", [(0.5, 0.3), (-1.25, 2.0), (0.0, -0.7)])
def test_first_step_matches_algorithm1_at_defaults(name, w0, g0):
    got, opt = _first_step(name, w0, g0)
    hp = opt.hyperparams
    want, _, _ = algorithm1(w0, g0, hp["initial_accumulator_value"], 0.0,
                            alpha=hp["learning_rate"])
    assert got == pytest.approx(want, rel=3e-6)


@pytest.mark.parametrize("name", NAMES)
def test_regularized_first_step(name):
    kw = {"l1_regularization_strength": 0.01, "l2_regularization_strength": 0.1,
          "beta": 0.5, "learning_rate_power": -0.7}
    got, opt = _first_step(name, 0.5, 0.3, **kw)
    hp = opt.hyperparams
    # The frameworks' L2 term multiplies 2*l2 (the paper's lambda_2 is 2*l2), beta is
    # folded as beta / (2 lr) into l2, i.e. beta / lr into the paper's lambda_2.
    want, _, _ = algorithm1(0.5, 0.3, 0.1, 0.0, alpha=hp["learning_rate"], beta=0.5,
                            l1=0.01, l2=0.2, lr_power=-0.7)
    assert got == pytest.approx(want, rel=3e-6)


@pytest.mark.parametrize("name", NAMES)
def test_shrinkage_enters_the_linear_term_not_the_accumulator(name):
    got, opt = _first_step(name, 0.5, 0.3, l2_shrinkage_regularization_strength=0.1)
    hp = opt.hyperparams
    want, _, _ = algorithm1(0.5, 0.3, 0.1, 0.0, alpha=hp["learning_rate"], shrink=0.1)
    assert got == pytest.approx(want, rel=3e-6)


@pytest.mark.parametrize("name", NAMES)
def test_l1_produces_exact_zeros(name):
    spec = eps_ref.spec(name)
    kw = spec.bind(**{**spec.defaults, **LR.get(name, {}), "l1_regularization_strength": 1.0})
    p = np.asarray([0.3, -0.2, 5.0, 0.0] * 2, dtype=np.float32)
    g = np.asarray([0.5, -0.9, 0.1, 0.0] * 2, dtype=np.float32)
    slots = spec.rule.init(p, **spec.rule.init_kwargs(kw))
    new, slots = spec.rule.step(p, g, slots, t=1, **kw)
    z = np.asarray(slots["linear"])
    small = np.abs(z) <= 1.0
    assert small.any() and (~small).any()
    assert np.all(new[small] == 0.0) and not np.any(np.signbit(new[small]))
    assert np.all(new[~small] != 0.0)


def test_learning_rate_power_zero_is_a_fixed_rate():
    # p = 0: n^0 = 1, sigma = 0, w = -z * lr / (1 + 2 l2 lr).
    got, _ = _first_step("keras.optimizers.Ftrl", 0.5, 0.3, learning_rate_power=0.0,
                         learning_rate=0.1)
    assert got == pytest.approx(-0.3 * 0.1, rel=1e-6)


def test_initial_accumulator_zero_is_allowed():
    got, _ = _first_step("keras.optimizers.Ftrl", 0.5, 0.3, initial_accumulator_value=0.0)
    want, _, _ = algorithm1(0.5, 0.3, 0.0, 0.0, alpha=0.001)
    assert got == pytest.approx(want, rel=3e-6)


def test_kernels_take_sqrt_at_minus_half_and_keras_pow():
    assert eps_ref.spec("tf.compat.v1.train.FtrlOptimizer").semantics["power_form"] == \
        "sqrt_at_minus_half"
    assert eps_ref.spec("keras.optimizers.Ftrl").semantics["power_form"] == "pow"
    assert eps_ref.spec("tf_keras.optimizers.Ftrl").semantics["grad_square"] == "pow"


@pytest.mark.parametrize("name", NAMES)
def test_validation(name):
    with pytest.raises(ValueError):
        eps_ref.optimizer(name, **LR.get(name, {}), learning_rate_power=0.5)
    with pytest.raises(ValueError):
        eps_ref.optimizer(name, **LR.get(name, {}), l1_regularization_strength=-1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer(name, **LR.get(name, {}), initial_accumulator_value=-0.1)


@pytest.mark.parametrize("name", NAMES)
def test_inputs_not_mutated_and_strict_namespace(name):
    kw = {**LR.get(name, {}), "l1_regularization_strength": 0.01,
          "learning_rate_power": -0.7, "l2_shrinkage_regularization_strength": 0.1}
    rng = np.random.default_rng(0)
    p = rng.standard_normal((3, 5)).astype(np.float32)
    g = rng.standard_normal((3, 5)).astype(np.float32)
    p_copy, g_copy = p.copy(), g.copy()
    opt = eps_ref.optimizer(name, **kw)
    state = opt.init(p)
    new_np, state1 = opt.step(p, g, state)
    again, _ = opt.step(p, g, state)            # the same state again: same result
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(again, new_np)

    xs = array_api_strict
    ps, gs = xs.asarray(p), xs.asarray(g)
    new_s, _ = opt.step(ps, gs, opt.init(ps))
    assert type(new_s) is type(ps)
    np.testing.assert_array_equal(np.asarray(new_s), new_np)


def test_eigen_pow_is_within_one_ulp_and_keeps_the_special_cases():
    rng = np.random.default_rng(0)
    x = (10.0 ** rng.uniform(-3, 6, 4096)).astype(np.float32)
    for e in (0.5, 0.7, 2.0):
        got = eigen_pow_float32(x, e)
        want = np.power(x.astype(np.float64), np.float64(np.float32(e))).astype(np.float32)
        assert np.max(np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32))) <= 1
    special = np.asarray([0.0, 1.0, 4.0, np.inf, -4.0, 1e-40, 0.0, 1.0], dtype=np.float32)
    got = eigen_pow_float32(special, 0.5)
    np.testing.assert_array_equal(got[:4], [0.0, 1.0, 2.0, np.inf])
    assert np.isnan(got[4]) and got[5] == 0.0          # negative base; DAZ
    np.testing.assert_array_equal(eigen_pow_float32(special[:4], 0.0), np.ones(4))
    assert eigen_pow_float32(np.asarray([-3.0] * 8, np.float32), 2.0)[0] == 9.0


def test_power_correctly_rounded_matches_float64():
    x = np.asarray([2.0, 0.25, 10.0], dtype=np.float32)
    np.testing.assert_array_equal(F.power(x, 0.5), np.sqrt(x))
    np.testing.assert_array_equal(F.power(x, -0.0), np.ones(3, np.float32))

"""SLEEF's float32 powf (torch's CPU ``pow(tensor, tensor)``), eps_ref.rules._sleef_pow.

The expected bit patterns below were measured with ``torch.pow(x, torch.tensor(e))``,
torch 2.13 on CPU (AVX-512 and ``ATEN_CPU_CAPABILITY=avx2`` alike), on arrays padded to 64
elements so that every value went through the vectorized SLEEF path. Each one is a value
where SLEEF's result is not the correctly rounded power, so a correctly rounded ``pow``
cannot pass these tests.
"""

from __future__ import annotations

import math

import array_api_strict
import numpy as np
import pytest

import eps_ref
from eps_ref.rules._sleef_pow import SLEEF_LOOP_WIDTHS, sleef_powf
from eps_ref.rules.ftrl import power

# (x bits, exponent, torch.pow bits, correctly rounded bits)
MEASURED = [
    (0x410388FE, 0.5, 0x40378084, 0x40378085),
    (0x410B815B, 0.5, 0x403CFAD2, 0x403CFAD3),
    (0x4107353D, 0.5, 0x403A0BDC, 0x403A0BDD),
    (0x4093076F, 0.7, 0x403A1AC8, 0x403A1AC9),
    (0x3ED9DD9B, 0.7, 0x3F0CC2E1, 0x3F0CC2E2),
    (0x410FC891, 0.7, 0x4094D200, 0x4094D201),
    (0x402ACE8B, 0.3, 0x3FABD559, 0x3FABD558),
    (0x40B85937, 0.3, 0x3FD8731C, 0x3FD8731B),
    # subnormal results: SLEEF's ldexp multiplies by 2^16k four times, then 2^q', and the
    # result can round twice.
    (0x1376A581, 1.5, 0x0001E432, 0x0001E433),
    (0x146E060D, 1.5, 0x000E583C, 0x000E583B),
    (0x13E277AD, 1.5, 0x0004B4F0, 0x0004B4EF),
    (0x1E66C180, 2.0, 0x0001A000, 0x0001A001),
]

# (x bits, exponent, torch.pow bits): values equal to the correctly rounded power, along
# edges of the algorithm (x * 4/3 overflows; subnormal x is scaled by 2^64).
MEASURED_EDGES = [
    (0x7F52A60A, 0.5, 0x5F683845),
    (0x7F7FC99E, 0.5, 0x5F7FE4CE),
    (0x000116C2, 0.7, 0x10FD878A),
    (0x00000002, 0.7, 0x0BA8E5B0),
]


def _f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def _bits(x):
    return np.asarray(x).view(np.uint32)


@pytest.mark.parametrize("x_bits, exponent, torch_bits, exact_bits", MEASURED)
def test_matches_measured_torch_bits(x_bits, exponent, torch_bits, exact_bits):
    x = _f32([x_bits])
    assert torch_bits != exact_bits
    exact = (x.astype(np.float64) ** np.float64(np.float32(exponent))).astype(np.float32)
    assert _bits(exact)[0] == exact_bits
    got = sleef_powf(x, exponent, capability="none")
    assert _bits(got)[0] == torch_bits


@pytest.mark.parametrize("x_bits, exponent, torch_bits", MEASURED_EDGES)
def test_edges_match_measured_torch_bits(x_bits, exponent, torch_bits):
    got = sleef_powf(_f32([x_bits]), exponent, capability="none")
    assert _bits(got)[0] == torch_bits


def test_all_measured_values_in_one_vector_and_as_exponent_array():
    x = _f32([m[0] for m in MEASURED])
    y = np.array([m[1] for m in MEASURED], dtype=np.float32)
    got = sleef_powf(x, y, capability="none")
    assert list(_bits(got)) == [m[2] for m in MEASURED]


def test_within_one_ulp_of_the_correctly_rounded_power():
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(-20.0, 20.0, 4096)).astype(np.float32)
    for exponent in (0.5, 0.7, 0.3, 1.5):
        got = sleef_powf(x, exponent, capability="none")
        exact = (x.astype(np.float64) ** np.float64(np.float32(exponent))).astype(np.float32)
        ulp = np.abs(_bits(got).astype(np.int64) - _bits(exact).astype(np.int64))
        assert ulp.max() <= 1
        assert 0 < np.mean(ulp) < 0.05          # about 2 in 100 are one ULP off


def test_special_values():
    inf, nan = math.inf, math.nan
    x = np.array([0.0, -0.0, 1.0, inf, nan, -2.0, -2.0, 4.0, 0.0, inf, 4.0],
                 dtype=np.float32)
    y = np.array([0.5, 0.5, nan, 0.5, 0.5, 0.5, 3.0, 0.0, -0.5, -0.5, -0.0],
                 dtype=np.float32)
    got = sleef_powf(x, y, capability="none")
    expected = np.array([0.0, 0.0, 1.0, inf, nan, nan, -8.0, 1.0, inf, 0.0, 1.0],
                        dtype=np.float32)
    np.testing.assert_array_equal(got, expected)
    assert not np.signbit(got[1])


def test_zero_exponent_is_one():
    x = np.array([0.1, 3.0, 0.0, 1e-40], dtype=np.float32)
    for exponent in (0.0, -0.0):
        np.testing.assert_array_equal(sleef_powf(x, exponent), np.ones(4, np.float32))


# (x bits, exponent, SLEEF's bits, glibc powf's bits = torch's on a scalar tail, correctly
# rounded bits): measured with torch on 64-element and 1-element arrays.
TAIL = (0x3F6B8220, 0.7, 0x3F717A31, 0x3F717A32, 0x3F717A31)


@pytest.mark.parametrize("capability, n, tail", [("avx512", 40, 8), ("avx2", 40, 8),
                                                 ("avx512", 24, 24), ("avx2", 24, 8),
                                                 ("avx512", 64, 0), ("none", 24, 0)])
def test_scalar_tail_is_glibc_powf(capability, n, tail):
    # MEASURED[0]'s correctly rounded bits are also what torch's scalar path (glibc) gives.
    for x_bits, exponent, vector_bits, scalar_bits in (MEASURED[0][:4], TAIL[:4]):
        x = np.full(n, _f32([x_bits])[0], dtype=np.float32)
        got = _bits(sleef_powf(x, exponent, capability=capability))
        assert SLEEF_LOOP_WIDTHS[capability] in (0, 16, 32)
        assert list(got[:n - tail]) == [vector_bits] * (n - tail)
        assert list(got[n - tail:]) == [scalar_bits] * tail
    assert TAIL[3] != TAIL[4]               # glibc's powf is not correctly rounded there


def test_tail_follows_c_order_of_a_matrix():
    x = np.full((5, 8), _f32([TAIL[0]])[0], dtype=np.float32)
    got = _bits(sleef_powf(x, TAIL[1]))
    assert (got[:4] == TAIL[2]).all() and (got[4] == TAIL[3]).all()


def test_array_api_strict_gives_the_same_bits():
    rng = np.random.default_rng(1)
    x = np.concatenate([_f32([m[0] for m in MEASURED]),
                        np.exp(rng.uniform(-30.0, 30.0, 52)).astype(np.float32)])
    for exponent in (0.5, 0.7):
        expected = sleef_powf(x, exponent)
        strict = sleef_powf(array_api_strict.asarray(x), exponent)
        assert isinstance(strict, type(array_api_strict.asarray(x)))
        np.testing.assert_array_equal(_bits(np.asarray(strict)), _bits(expected))


def test_inputs_not_mutated_and_errors():
    x = np.array([2.0, 3.0], dtype=np.float32)
    y = np.array([0.5, 0.7], dtype=np.float32)
    before = (x.copy(), y.copy())
    sleef_powf(x, y)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])
    with pytest.raises(TypeError):
        sleef_powf(x.astype(np.float64), 0.5)
    with pytest.raises(ValueError, match="capability"):
        sleef_powf(x, 0.5, capability="sse")


def test_ftrl_power_method_and_keras_torch_semantics():
    x = np.resize(_f32([m[0] for m in MEASURED[:3]]), 64)       # no scalar tail
    np.testing.assert_array_equal(_bits(power(x, 0.5, "sleef_powf_u10"))[:3],
                                  [m[2] for m in MEASURED[:3]])
    opt = eps_ref.optimizer("keras.optimizers.Ftrl", backend="torch")
    assert opt.rule_kwargs["pow_method"] == "sleef_powf_u10"


def test_keras_torch_beta_fold_takes_the_reciprocal_then_multiplies():
    from eps_ref.rules.ftrl import ftrl
    f32 = np.float32
    param, grad = np.array([0.5], f32), np.array([0.25], f32)
    kw = dict(lr=1e-3, lr_power=-0.5, l1=0.0, l2=0.0, l2_shrinkage=0.0, beta=0.1,
              power_form="pow", pow_method="sleef_powf_u10", shrink_form="clip",
              grad_square="multiply", initial_accumulator_value=0.0, weight_decay=0.0,
              weight_decay_mode="none")
    slots = ftrl.init(param, initial_accumulator_value=0.0)
    lr = f32(1e-3)
    folds = {"keras": f32(0.1) / (f32(2.0) * lr),                     # 50.0
             "keras_torch": (f32(1.0) / (f32(2.0) * lr)) * f32(0.1)}  # 49.999996
    results = {}
    for fold, l2_prime in folds.items():
        new_param, new_slots = ftrl.step(param, grad, slots, t=1, beta_fold=fold, **kw)
        root_new = power(new_slots["accumulator"], 0.5, "sleef_powf_u10")
        quadratic = root_new / lr + f32(2.0) * (f32(0.0) + l2_prime)
        assert _bits(new_param)[0] == _bits(-new_slots["linear"] / quadratic)[0]
        results[fold] = _bits(new_param)[0]
    assert results["keras"] != results["keras_torch"]


def test_scalar_tails_follow_atens_parallel_chunks():
    from eps_ref.rules._sleef_pow import scalar_tail
    assert scalar_tail(100, 32, 2).tolist() == [96, 97, 98, 99]        # under the grain size
    assert scalar_tail(32769, 32, 1).tolist() == [32768]               # one thread, one chunk
    assert scalar_tail(32769, 32, 2).tolist() == [16384]               # chunks of 16385
    assert scalar_tail(70000, 32, 2).tolist() == list(range(34976, 35000)) + \
        list(range(69976, 70000))
    assert scalar_tail(64, 0, 2).size == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_sleef_powf_past_the_grain_size_matches_torch(threads):
    torch = pytest.importorskip("torch")
    from eps_ref.rules._sleef_pow import sleef_powf
    rng = np.random.default_rng(3)
    x = (rng.random(70001) * 4).astype(np.float32)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        want = torch.pow(torch.from_numpy(x), torch.tensor(0.37)).numpy()
    finally:
        torch.set_num_threads(before)
    got = sleef_powf(x, 0.37, threads=threads)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))

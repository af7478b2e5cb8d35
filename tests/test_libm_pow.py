"""glibc's float32 powf emulation (eps_ref/rules/_libm_pow.py) and the rules that use it."""

import ctypes
import platform

import numpy as np
import pytest

from eps_ref.rules._libm_pow import powf_glibc, powf_glibc_scalar


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def _f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


# (x bits, y bits, glibc powf bits, correctly rounded bits): measured with glibc 2.36 on
# x86-64; glibc's result is 1 ULP from the correctly rounded power on each.
GLIBC_MISSES = [
    (0x3F7FF972, 0x44658000, 0x3F698A7F, 0x3F698A7E),   # 0.9999f ** 918 (Keras Adam)
    (0x3F7FBE77, 0x445A4000, 0x3ED5C509, 0x3ED5C508),   # 0.999f ** 873
    (0x4265C661, 0xBF000000, 0x3E071B74, 0x3E071B75),   # 57.44373 ** -0.5
    (0x4148169A, 0xBF000000, 0x3E90C895, 0x3E90C894),   # 12.505518 ** -0.5
    (0x41A23E0A, 0xBF4CCCCD, 0x3DB85C95, 0x3DB85C94),   # 20.280293 ** -0.8
    (0x453E6000, 0xBF4CCCCD, 0x3AD60E28, 0x3AD60E27),   # 3046 ** -0.8 (Adafactor t^-0.8)
    (0x420DBE2C, 0x3F000000, 0x40BE7D43, 0x40BE7D42),   # 35.435715 ** 0.5
    (0x424D67B6, 0x40000000, 0x4524CF44, 0x4524CF43),   # 51.35128 ** 2
]


@pytest.mark.parametrize("x, y, glibc, correct", GLIBC_MISSES)
def test_hand_picked_misses(x, y, glibc, correct):
    xs, ys = _f32([x]), _f32([y])
    assert int(_bits(powf_glibc(xs, ys))[0]) == glibc
    exact = np.float32(np.float64(xs[0]) ** np.float64(ys[0]))
    assert int(_bits(exact)) == correct != glibc


def test_python_float_exponent_and_scalar():
    x = _f32([0x4148169A])
    assert int(_bits(powf_glibc(x, -0.5))[0]) == 0x3E90C895
    assert _bits(powf_glibc_scalar(0.9999, 918)) == 0x3F698A7F


# (x bits, y bits, IEEE result bits, result with DAZ/FTZ as XLA:CPU and TensorFlow run it),
# the last column measured with jnp.power on CPU.
SUBNORMAL_CASES = [
    (0x00400000, 0x3F000000, 0x1FB504F3, 0x1A000000),   # subnormal x reads as 2^-150
    (0x00400000, 0xBF000000, 0x5F3504F3, 0x65000000),
    (0x3F666666, 0x44610000, 0x00001258, 0x00000000),   # 0.9 ** 900 flushed
    (0x2F315166, 0x4077E54F, 0x00800000, 0x00000000),   # tiny after rounding to 24 bits
    (0x367A59A7, 0x40DF999D, 0x00800000, 0x00800000),   # rounds up to FLT_MIN: kept
]


@pytest.mark.parametrize("x, y, ieee, ftz", SUBNORMAL_CASES)
def test_subnormal_modes(x, y, ieee, ftz):
    xs, ys = _f32([x]), _f32([y])
    assert int(_bits(powf_glibc(xs, ys))[0]) == ieee
    assert int(_bits(powf_glibc(xs, ys, subnormals="flush_to_zero"))[0]) == ftz


def test_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([0.0, -0.0, -0.0, 0.0, inf, -inf, -inf, 1.0, 1.0, -1.0, -2.0, -2.0, -2.0,
                  nan, 0.5, 2.0, 2.0, 0.5, 3e38, 1e-30], dtype=np.float32)
    y = np.array([-1.0, 3.0, -3.0, 0.5, -2.0, 3.0, -3.0, nan, inf, inf, 3.0, 2.0, 0.5,
                  0.0, inf, inf, -inf, -inf, 2.0, 6.0], dtype=np.float32)
    want = np.array([inf, -0.0, -inf, 0.0, 0.0, -inf, -0.0, 1.0, 1.0, 1.0, -8.0, 4.0, nan,
                     1.0, 0.0, inf, 0.0, inf, inf, 0.0], dtype=np.float32)
    got = powf_glibc(x, y)
    same = (_bits(got) == _bits(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (x[~same], y[~same], got[~same])
    # the invalid case is 0/0: x86's default NaN, sign bit set
    assert int(_bits(got)[12]) == 0xFFC00000


def test_variants_agree_and_validation():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 0x7F800000, 20000, dtype=np.int64).astype(np.uint32).view(np.float32)
    y = (rng.standard_normal(20000) * 3).astype(np.float32)
    assert (_bits(powf_glibc(x, y)) == _bits(powf_glibc(x, y, variant="no_fma"))).all()
    with pytest.raises(ValueError):
        powf_glibc(x, y, variant="fast")
    with pytest.raises(ValueError):
        powf_glibc(x, y, subnormals="daz")


def test_inputs_not_mutated_and_shape():
    x = np.array([[2.0, 3.0], [4.0, 5.0]], dtype=np.float32)
    before = x.copy()
    out = powf_glibc(x, np.array([0.5, -0.8], dtype=np.float32))
    assert out.shape == (2, 2) and out.dtype == np.float32
    assert (x == before).all()


def test_array_api_strict_matches_numpy():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(1)
    x = np.abs(rng.standard_normal(4096)).astype(np.float32) * 100
    got = powf_glibc(xps.asarray(x), -0.5, subnormals="flush_to_zero")
    assert got.dtype == xps.float32
    assert (_bits(np.asarray(got)) == _bits(powf_glibc(x, -0.5, subnormals="flush_to_zero"))).all()


def _glibc_powf():
    libc, version = platform.libc_ver()
    if libc != "glibc" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        if tuple(int(p) for p in version.split(".")[:2]) < (2, 28):
            return None
        f = ctypes.CDLL("libm.so.6").powf
    except (OSError, ValueError):
        return None
    f.restype = ctypes.c_float
    f.argtypes = [ctypes.c_float, ctypes.c_float]
    return f


def test_against_the_real_glibc_powf():
    powf = _glibc_powf()
    if powf is None:
        pytest.skip("the C library is not glibc >= 2.28 on x86-64")
    rng = np.random.default_rng(2)
    n = 30000
    x = np.concatenate([
        rng.integers(1, 0x7F800000, n, dtype=np.int64).astype(np.uint32).view(np.float32),
        rng.uniform(0.8, 1.0, n).astype(np.float32),
        -np.abs(rng.standard_normal(n)).astype(np.float32)])
    y = np.concatenate([
        rng.choice(np.array([0.5, -0.5, -0.8, 2.0], dtype=np.float32), n),
        rng.integers(1, 1001, n).astype(np.float32),
        np.round(rng.standard_normal(n) * 5).astype(np.float32)])
    want = np.array([powf(float(a), float(b)) for a, b in zip(x, y)], dtype=np.float32)
    assert (_bits(powf_glibc(x, y)) == _bits(want)).all()


def test_rules_use_it():
    from eps_ref.rules.adafactor import xla_pow_float32
    from eps_ref.rules.adam import libm_power, rounded_power
    from eps_ref.rules.ftrl import power

    assert libm_power(0.9999, 918) == float(_f32(0x3F698A7F))
    assert rounded_power(0.9999, 918) == float(_f32(0x3F698A7E))
    x = _f32([0x4265C661, 0x4148169A])
    for got in (xla_pow_float32(x, -0.5, "libm_powf"), power(x, -0.5, "libm_powf")):
        assert _bits(got).tolist() == [0x3E071B74, 0x3E90C895]
    assert _bits(xla_pow_float32(x, -0.5)).tolist() == [0x3E071B75, 0x3E90C894]

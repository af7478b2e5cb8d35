import numpy as np
import pytest

from eps_ref import ulp_distance
from eps_ref.rules._numerics import fma


def test_adjacent_floats_are_one_ulp():
    x = np.float32(1.0)
    assert ulp_distance(np.nextafter(x, np.float32(2)), x) == 1
    assert ulp_distance(np.float32(-0.0), np.float32(0.0)) == 0
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert ulp_distance(tiny, -tiny) == 2


def test_nan_never_passes():
    a = np.array([np.nan, 1.0, np.nan], np.float32)
    b = np.array([np.nan, np.nan, 2.0], np.float32)
    d = ulp_distance(a, b)
    assert d[0] == 0 and d[1] == d[2] == np.iinfo(np.int64).max


def test_dtype_mismatch():
    with pytest.raises(TypeError):
        ulp_distance(np.zeros(2, np.float32), np.zeros(2, np.float64))


def test_fma_rounds_once():
    # a*b + c = 1 + 3*2^-24 - 2^-60 lies just below a float32 tie. Through float64 it first
    # rounds onto the tie, which float32 then breaks to even (1 + 2^-22): double rounding.
    # One rounding keeps it below the tie: 1 + 2^-23.
    a = np.array([1.0 + 2.0 ** -18], np.float32)
    b = np.array([2.0 ** -24 * (1.0 - 2.0 ** -18)], np.float32)
    c = np.array([1.0 + 2.0 ** -23], np.float32)
    assert (a.astype(np.float64) * b + c).astype(np.float32)[0] == np.float32(1.0 + 2.0 ** -22)
    assert fma(a, b, c)[0] == np.float32(1.0 + 2.0 ** -23)


def test_fma_matches_longdouble_on_random_inputs(rng):
    n = 200_000
    a = rng.standard_normal(n).astype(np.float32)
    b = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    c = rng.standard_normal(n).astype(np.float32)
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("no 80-bit long double here")
    ref = (a.astype(np.longdouble) * b + c).astype(np.float32)
    np.testing.assert_array_equal(fma(a, b, c), ref)

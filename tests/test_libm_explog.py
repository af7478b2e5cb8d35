"""glibc's expf/logf (eps_ref/rules/_libm_explog.py) and XLA:CPU's log
(eps_ref/rules/_xla_log.py), against the real kernels where they are installed."""

import ctypes
import platform

import numpy as np
import pytest

from eps_ref.rules._libm_explog import expf_glibc, logf_glibc
from eps_ref.rules._xla_log import logf_xla


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def _f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def _same(a, b):
    """Bit-identical, any NaN equal to any NaN."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return bool(((_bits(a) == _bits(b)) | (np.isnan(a) & np.isnan(b))).all())


# (function, x bits, its bits, correctly rounded bits): each kernel 1 ULP from the correctly
# rounded value, measured with glibc 2.36 and jaxlib 0.10 on x86-64.
MISSES = [
    (logf_glibc, 0x3F842F92, 0x3D03CD81, 0x3D03CD82),
    (logf_glibc, 0x3F81AE45, 0x3C55BC0D, 0x3C55BC0C),
    (expf_glibc, 0xC1791A9A, 0x3439F07E, 0x3439F07D),
    (expf_glibc, 0x413A8AB8, 0x47E2006C, 0x47E2006B),
    (logf_xla, 0x40D13361, 0x3FF053D4, 0x3FF053D3),
    (logf_xla, 0x40B267CB, 0x3FDBF200, 0x3FDBF201),
]


@pytest.mark.parametrize("kernel, x, got, correct", MISSES)
def test_hand_picked_misses(kernel, x, got, correct):
    xs = _f32([x])
    assert int(_bits(kernel(xs))[0]) == got
    exact = (np.log if kernel is not expf_glibc else np.exp)(xs.astype(np.float64))
    assert int(_bits(exact.astype(np.float32))[0]) == correct != got


def _points(seed: int):
    rng = np.random.default_rng(seed)
    positive = rng.integers(1, 0x7F800000, 40000, dtype=np.int64).astype(np.uint32).view(
        np.float32)
    near_one = rng.uniform(0.5, 8.0, 40000).astype(np.float32)
    special = np.float32([0, 1, 2, 4, 0.5, np.inf, -1, np.nan, 1e-45, 3e-39])
    return positive, near_one, special


def test_special_values():
    x = np.float32([0, 1, np.inf, -1, np.nan, -np.inf])
    assert _same(logf_glibc(x), [-np.inf, 0, np.inf, np.nan, np.nan, np.nan])
    assert _same(logf_xla(x), [-np.inf, 0, np.inf, np.nan, np.nan, np.nan])
    assert _same(logf_glibc(np.float32([1e-45])), [-103.27893])
    assert _same(logf_xla(np.float32([1e-45, -1e-45])), [-np.inf, -np.inf])
    assert _same(expf_glibc(np.float32([0, np.inf, -np.inf, np.nan, 89, -104])),
                 [1, np.inf, 0, np.nan, np.inf, 0])


def _glibc(name):
    libc, version = platform.libc_ver()
    if libc != "glibc" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the C library is not glibc >= 2.28 on x86-64")
    if tuple(int(p) for p in version.split(".")[:2]) < (2, 28):
        pytest.skip("the C library is not glibc >= 2.28 on x86-64")
    f = getattr(ctypes.CDLL("libm.so.6"), name)
    f.restype = ctypes.c_float
    f.argtypes = [ctypes.c_float]
    return np.vectorize(lambda v: np.float32(f(float(v))), otypes=[np.float32])


def test_against_the_real_glibc_logf():
    logf = _glibc("logf")
    x = np.concatenate(_points(1))
    with np.errstate(divide="ignore", invalid="ignore"):     # log(0), log(-1): as glibc's
        assert _same(logf_glibc(x), logf(x))


def test_against_the_real_glibc_expf():
    expf = _glibc("expf")
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(-110, 90, 40000), rng.uniform(-2, 2, 40000)]) \
        .astype(np.float32)
    with np.errstate(over="ignore"):
        assert _same(expf_glibc(x), expf(x))


def test_tensorflow_scalar_log_and_exp_are_glibc():
    tf = pytest.importorskip("tensorflow")
    x = _points(3)[1][:1500]
    log = np.array([tf.math.log(tf.constant(v)).numpy() for v in x])
    exp = np.array([tf.math.exp(tf.constant(-v)).numpy() for v in x])
    assert _same(logf_glibc(x), log)
    assert _same(expf_glibc(-x), exp)


def test_jax_log_eager_and_jit():
    jax = pytest.importorskip("jax")
    x = np.concatenate(_points(4))
    assert _same(logf_xla(x), np.asarray(jax.jit(jax.numpy.log)(x)))
    assert _same(logf_xla(x[:300]), [jax.numpy.log(jax.numpy.float32(v)) for v in x[:300]])

"""The NumPy fast paths of the elementwise kernels give the bits of their reference
formulations (the Array-API code every other namespace runs).

Inputs: millions of random float32 bit patterns (every exponent, both signs, subnormals,
infinities, NaNs with payloads) with the edge values planted among them, inputs built to hit
the rare cases a fast path hands back to the reference (FMA ties, subnormal sums), sizes
around the block length, and the conformance gradient streams run through every optimizer
spec with the fast paths on and off.
"""

import math

import numpy as np
import pytest

import eps_ref
from eps_ref.conformance.streams import gradient_stream, initial_params
from eps_ref.rules import _compiled, _eigen_pow, _libm_pow, _numerics, _roots, _sleef_pow
from eps_ref.rules._numerics import fma, fma_array_api

from conftest import SPECS, example_kwargs

f32 = np.float32
MILLIONS = 1 << 22           # 4.2 million random bit patterns for the cheap kernels
POW_SIZE = 1 << 18           # the pow references cost about a microsecond an element
SMALL_BLOCK, SMALL_POW_BLOCK = 4096, 512      # block boundaries at sizes the tests afford

EDGES = np.array([
    0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 0.5, 2.0, 4.0, 0.25, 3.0, 1.5,
    2.0 ** -126, -(2.0 ** -126), 2.0 ** -149, -(2.0 ** -149), 2.0 ** -127, 1e-40, -1e-40,
    2.0 ** -126 * (1 - 2.0 ** -23), 2.0 ** 127, 3.4028235e38, -3.4028235e38, 2.0 ** 126,
    1.7014117e38, 1e38, 1e-38, 1e-30, 1e30, 1e-8, 1e-10, 0.999, 0.9, 0.1, 65504.0,
], f32)
NANS = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA5A5A5, 0xFFFFFFFF], np.uint32)


def bits(x):
    return np.ascontiguousarray(x).view(np.uint32)


def assert_same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    differ = bits(got) != bits(want)
    assert not differ.any(), (f"{int(differ.sum())} of {differ.size} differ, first at "
                              f"{np.flatnonzero(differ.reshape(-1))[:5]}")


def random_float32(rng, n, planted=True):
    """``n`` uniformly random float32 bit patterns, with the edge values and NaN payloads
    planted at random places."""
    x = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(f32)
    if planted:
        edges = np.concatenate([EDGES, NANS.view(f32)])
        x[rng.integers(0, n, 40 * edges.size)] = np.tile(edges, 40)
    return x


def positive_normal(rng, n):
    return rng.integers(0x00800000, 0x7F800000, n, dtype=np.uint64).astype(np.uint32).view(f32)


@pytest.fixture(autouse=True)
def _quiet():
    with np.errstate(all="ignore"):
        yield


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4096 elements (512 for pow), so that modest sizes cross many of them."""
    monkeypatch.setattr(_numerics, "BLOCK", SMALL_BLOCK)
    monkeypatch.setattr(_numerics, "POW_BLOCK", SMALL_POW_BLOCK)


@pytest.fixture(params=["numpy", "compiled"])
def kernel_path(request, monkeypatch):
    """The NumPy block path and the compiled loop (numba, the ``fast`` extra) in turn."""
    if request.param == "numpy":
        monkeypatch.setenv(_compiled.ENV, "0")
    elif not _compiled.enabled():
        pytest.skip("numba is not installed (the fast extra)")
    return request.param


def assert_same_bits_or_both_nan(got, want):
    """NaN payloads and signs are not part of a result (IEEE leaves them open)."""
    both_nan = np.isnan(got) & np.isnan(want)
    assert_same_bits(np.where(both_nan, f32(np.nan), got), np.where(both_nan, f32(np.nan), want))


def assert_kernel_bits(got, want, kernel_path):
    """Bit for bit; the compiled loop's NaN results may carry other payloads (see
    :mod:`eps_ref.rules._compiled`)."""
    (assert_same_bits_or_both_nan if kernel_path == "compiled" else assert_same_bits)(got, want)


# -- fma ----------------------------------------------------------------------------------

def _double_rounded(a, b, c):
    return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(f32)


def test_fma_random_bit_patterns(rng, kernel_path):
    a, b, c = (random_float32(rng, MILLIONS) for _ in range(3))
    assert_kernel_bits(fma(a, b, c), fma_array_api(a, b, c), kernel_path)


def test_fma_ties_and_subnormal_sums(rng, kernel_path):
    """Sums that land half-way between two float32 values in float64 while the exact sum
    does not (the double rounding :func:`fma` exists to avoid), and sums in the subnormal
    range; some results must differ from the double-rounded float64 sum, or the test would
    not exercise the case."""
    n = 1 << 20
    c = (1.0 + rng.integers(0, 1 << 23, n) * 2.0 ** -23) * rng.choice([-1.0, 1.0], n)
    c = np.ldexp(c, rng.integers(-100, 100, n)).astype(f32)
    e = np.frexp(c)[1] - 1                                # c = m 2^e, 1 <= |m| < 2
    # a b = 2^(e-24) (1 - 2^-30): c + a b rounds in float64 to the midpoint c + ulp(c)/2,
    # just above the exact sum.
    s = rng.choice([-1.0, 1.0], n)
    a = np.ldexp(1.0 + s * 2.0 ** -15, e - 24).astype(f32) * np.sign(c).astype(f32)
    b = (1.0 - s * 2.0 ** -15).astype(f32)
    got = fma(a, b, c)
    assert_kernel_bits(got, fma_array_api(a, b, c), kernel_path)
    assert (bits(got) != bits(_double_rounded(a, b, c))).sum() > n // 4
    tiny_a = (rng.standard_normal(n) * 2.0 ** -75).astype(f32)
    tiny_c = (rng.standard_normal(n) * 2.0 ** -140).astype(f32)
    got = fma(tiny_a, tiny_a, tiny_c)
    assert_kernel_bits(got, fma_array_api(tiny_a, tiny_a, tiny_c), kernel_path)
    assert (np.abs(got) < 2.0 ** -126).mean() > 0.5


@pytest.mark.parametrize("n", [2, 7, SMALL_BLOCK - 1, SMALL_BLOCK, SMALL_BLOCK + 1,
                               3 * SMALL_BLOCK + 5])
def test_fma_block_boundaries(rng, n, small_blocks, kernel_path):
    a, b, c = (random_float32(rng, n) for _ in range(3))
    assert_kernel_bits(fma(a, b, c), fma_array_api(a, b, c), kernel_path)


def test_fma_broadcasting_and_layouts(rng, kernel_path):
    a = random_float32(rng, 3 * 40 * 50).reshape(3, 40, 50)
    b, c = random_float32(rng, 50), random_float32(rng, 3 * 40 * 50).reshape(3, 40, 50)
    scalar = np.asarray(f32(-0.1))
    for args in [(a, b, c), (scalar, a, c), (a, scalar, c), (a, b, scalar), (scalar, scalar, a),
                 (a.transpose(2, 0, 1), c.transpose(2, 0, 1), scalar), (a[:, ::2], c[:, ::2], a[:, 1::2])]:
        want = fma_array_api(*(np.asarray(v) for v in args))
        shape = np.broadcast_shapes(*(np.shape(v) for v in args))
        assert_kernel_bits(fma(*args), np.broadcast_to(want, shape), kernel_path)


def test_fma_moment_updates_on_the_conformance_stream(kernel_path):
    """torch's ``lerp`` and ``addcmul`` moment updates along a 200-step stream."""
    grads = gradient_stream(200, shape=(16, 257))
    m = np.zeros(grads.shape[1:], f32)
    v = np.zeros_like(m)
    w1, w2 = f32(0.1), f32(1 - 0.999)
    for g in grads:
        m_next = fma(np.full_like(g, w1), g - m, m)
        v_next = fma(w2 * g, g, v * f32(0.999))
        assert_kernel_bits(m_next, fma_array_api(np.full_like(g, w1), g - m, m), kernel_path)
        assert_kernel_bits(v_next, fma_array_api(w2 * g, g, v * f32(0.999)), kernel_path)
        m, v = m_next, v_next


# -- roots ----------------------------------------------------------------------------------

def _root_kernels():
    yield "estimate", _roots.rsqrtps_estimate, _roots.rsqrtps_estimate_array_api
    for method in _roots.RSQRT_METHODS:
        yield method, (lambda x, m=method: _roots.rsqrt(x, m)), (
            lambda x, m=method: _roots.rsqrt_array_api(x, m))
    for method in _roots.SQRT_METHODS:
        yield method, (lambda x, m=method: _roots.sqrt(x, m)), (
            lambda x, m=method: _roots.sqrt_array_api(x, m))


ROOT_KERNELS = list(_root_kernels())


@pytest.mark.parametrize("name, fast, reference", ROOT_KERNELS, ids=[k[0] for k in ROOT_KERNELS])
def test_root_kernels_random_bit_patterns(rng, name, fast, reference, kernel_path):
    x = random_float32(rng, MILLIONS + 3)          # a flat Eigen tail of 3
    assert_kernel_bits(fast(x), reference(x), kernel_path)


@pytest.mark.parametrize("name, fast, reference", ROOT_KERNELS, ids=[k[0] for k in ROOT_KERNELS])
def test_root_kernels_every_table_entry_in_every_binade(rng, name, fast, reference, kernel_path):
    """Every (exponent parity, top 12 significand bits) pair, with random low bits, in every
    exponent of float32's normal range."""
    entry = np.arange(8192, dtype=np.uint32)
    low = rng.integers(0, 1 << 11, (254 // 2, 8192), dtype=np.uint32)
    pairs = np.arange(1, 255, 2, dtype=np.uint32)[:, None]           # odd and even exponents
    x = (((pairs + (entry >> 12)) << 23) | ((entry & 0xFFF) << 11) | low).view(f32)
    x = np.concatenate([x.reshape(-1), -x[:3].reshape(-1)])
    assert_kernel_bits(fast(x), reference(x), kernel_path)


@pytest.mark.parametrize("name, fast, reference", ROOT_KERNELS, ids=[k[0] for k in ROOT_KERNELS])
@pytest.mark.parametrize("shape", [(2,), (13,), (3, 37), (257, 129), (SMALL_BLOCK + 9,)])
def test_root_kernels_shapes(rng, name, fast, reference, shape, small_blocks, kernel_path):
    x = np.abs(random_float32(rng, math.prod(shape))).reshape(shape)
    assert_kernel_bits(fast(x), reference(x), kernel_path)
    assert_kernel_bits(fast(x.T), reference(np.ascontiguousarray(x.T)), kernel_path)


def test_correctly_rounded_float32_sqrt_is_numpys(rng):
    """The fast ``"correctly_rounded"`` sqrt is NumPy's float32 one; every positive normal
    binade, subnormals, signs and NaN payloads agree with the float64 route."""
    x = np.concatenate([random_float32(rng, MILLIONS), positive_normal(rng, MILLIONS)])
    assert_same_bits(np.sqrt(x), _roots.sqrt_array_api(x))


def test_power_of_two_table_is_exact():
    k = np.arange(-255, 256, dtype=np.float64)
    got = _roots._exp2(__import__("array_api_compat.numpy", fromlist=["x"]), k)
    np.testing.assert_array_equal(got, [math.ldexp(1.0, int(v)) for v in k])


# -- pow ------------------------------------------------------------------------------------

def _pow_bases(rng, n):
    return np.concatenate([random_float32(rng, n // 2),
                           (rng.random(n // 4) * 4).astype(f32),
                           np.exp(rng.uniform(-104, 89, n - n // 2 - n // 4)).astype(f32)])


@pytest.mark.parametrize("variant", _libm_pow.VARIANTS)
@pytest.mark.parametrize("subnormals", _libm_pow.SUBNORMALS)
def test_glibc_powf(rng, variant, subnormals, small_blocks, kernel_path):
    x = _pow_bases(rng, POW_SIZE)
    for y in (-0.5, 2.0, 0.3, -3.7, 1e-45, 1e30, random_float32(rng, x.size),
              (rng.standard_normal(x.size) * 4).astype(f32)):
        assert_kernel_bits(_libm_pow.powf_glibc(x, y, variant=variant, subnormals=subnormals),
                           _libm_pow.powf_glibc_array_api(x, y, variant=variant,
                                                          subnormals=subnormals), kernel_path)


@pytest.mark.parametrize("exponent", [-0.5, 2.0, 0.3, -3.7, -0.7, 3.0, 100.0, 1.0, 0.0,
                                      np.inf, np.nan, 1e-30])
def test_eigen_pow(rng, exponent, small_blocks, kernel_path):
    x = _pow_bases(rng, POW_SIZE + 5)              # a flat tail of 5 for glibc's powf
    assert_kernel_bits(_eigen_pow.eigen_pow_float32(x, exponent),
                       _eigen_pow.eigen_pow_float32_array_api(x, exponent), kernel_path)


@pytest.mark.parametrize("capability", list(_sleef_pow.SLEEF_LOOP_WIDTHS))
def test_sleef_powf(rng, capability, small_blocks, kernel_path):
    x = _pow_bases(rng, POW_SIZE + 21)
    for y in (-0.5, 2.0, 3.0, -1.0, 0.3, -3.7, random_float32(rng, x.size),
              rng.integers(-5, 6, x.size).astype(f32),
              (rng.standard_normal(x.size) * 4).astype(f32)):
        assert_kernel_bits(_sleef_pow.sleef_powf(x, y, capability=capability),
                           _sleef_pow.sleef_powf_array_api(x, y, capability=capability),
                           kernel_path)


def test_pow_kernels_shapes(rng, small_blocks):
    x = np.abs(_pow_bases(rng, 3 * 4099)).reshape(3, 4099)
    assert_same_bits(_eigen_pow.eigen_pow_float32(x.T, -0.5),
                     _eigen_pow.eigen_pow_float32_array_api(np.ascontiguousarray(x.T), -0.5))
    assert_same_bits(_sleef_pow.sleef_powf(x, f32(1.5)), _sleef_pow.sleef_powf_array_api(x, 1.5))
    y = (rng.random(4099) * 3).astype(f32)
    assert_same_bits(_libm_pow.powf_glibc(x, y), _libm_pow.powf_glibc_array_api(x, y))


# -- whole optimizer steps on the conformance streams --------------------------------------

def _trajectory(name, shape, steps):
    opt = eps_ref.optimizer(name, **example_kwargs(name))
    p = initial_params(shape=shape)
    state = opt.init(p)
    out = []
    for g in gradient_stream(steps, shape=shape):
        p, state = opt.step(p, g, state)
        out.append(p)
    return np.stack(out)


# Their reference step past a block is seconds of XLA:CPU sum-of-squares or Newton-Schulz
# emulation (eps_ref/rules/_reductions.py, muon.py), not an elementwise kernel: 3x37 only.
REDUCTION_BOUND = {n for n in SPECS if eps_ref.spec(n).rule.name == "muon"
                   or (n.startswith("optax.") and eps_ref.spec(n).rule.name in
                       ("lamb", "lars", "fromage", "novograd"))}


@pytest.mark.parametrize("name", SPECS)
def test_every_spec_on_the_conformance_stream(name, monkeypatch, small_blocks):
    """Every optimizer spec at its defaults, on 3x37 (20 steps) and on a shape of ten
    blocks (2 steps), fast paths on against fast paths off."""
    runs = [((3, 37), 20)]
    if name not in REDUCTION_BOUND:
        runs.append(((5, 2 * SMALL_BLOCK + 3), 2))
    for shape, steps in runs:
        fast = _trajectory(name, shape, steps)
        monkeypatch.setattr(_numerics, "FAST_PATHS", False)
        reference = _trajectory(name, shape, steps)
        monkeypatch.setattr(_numerics, "FAST_PATHS", True)
        assert_same_bits(fast, reference)


# -- the compiled kernels (numba, the ``fast`` extra) --------------------------------------

compiled_kernels = pytest.mark.skipif(not _compiled.enabled(),
                                      reason="numba is not installed (the fast extra)")


def _matrices(rng, m, k, n, kind):
    if kind == "bit patterns":           # short chains, so that not every sum saturates
        return (random_float32(rng, m * k).reshape(m, k), random_float32(rng, k * n).reshape(k, n),
                random_float32(rng, m * n).reshape(m, n))

    def scaled(*shape):   # every binade from the subnormal products to 2^70, some zeros
        x = np.ldexp(rng.standard_normal(shape), rng.integers(-75, 70, shape)).astype(f32)
        x[rng.random(shape) < 0.05] = 0.0
        return x
    return scaled(m, k), scaled(k, n), scaled(m, n)


@compiled_kernels
@pytest.mark.parametrize("fused", [True, False], ids=["fma", "rounded products"])
@pytest.mark.parametrize("kind,k", [("bit patterns", 3), ("scaled", 200)])
def test_compiled_product_chain_is_the_numpy_chain(rng, monkeypatch, fused, kind, k):
    from eps_ref.rules.muon import _Products
    a, b, acc = _matrices(rng, 48, k, 40, kind)
    ks = rng.permutation(k)
    got = _compiled.product_chain(a, b, acc, ks, fused)
    monkeypatch.setenv(_compiled.ENV, "0")
    assert_same_bits_or_both_nan(got, _Products(a, b).chain(ks, acc=acc, fused=fused))


@compiled_kernels
@pytest.mark.parametrize("kind,k", [("bit patterns", 3), ("scaled", 1), ("scaled", 2),
                                    ("scaled", 255)])
def test_compiled_pairwise_products_are_the_numpy_tree(rng, kind, k):
    from eps_ref.rules.muon import _Products, _pairwise
    a, b, _ = _matrices(rng, 24, k, 16, kind)
    t = _Products(a, b)
    assert_same_bits_or_both_nan(_compiled.pairwise_products(a, b),
                                 _pairwise([t.term(j) for j in range(k)]))


@compiled_kernels
@pytest.mark.parametrize("name", sorted(n for n in REDUCTION_BOUND
                                        if eps_ref.spec(n).rule.name == "muon"))
def test_muon_at_a_real_matrix_size_with_and_without_the_compiled_kernels(name, monkeypatch):
    """Every Muon dialect's Newton-Schulz products (each kernel's order) on a 96x160
    matrix, the compiled kernels against the NumPy paths."""
    fast = _trajectory(name, (96, 160), 2)
    monkeypatch.setenv(_compiled.ENV, "0")
    assert_same_bits(fast, _trajectory(name, (96, 160), 2))

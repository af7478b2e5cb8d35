"""The kernels whose rounding depends on an array's length, against the real frameworks at
lengths the conformance tensor (4 x 16, whole vectors only) never reaches: vectorized loops
with a scalar tail, and reductions whose order changes with the number of rows.

Each test runs the framework in this process (torch and TensorFlow choose their CPU kernels
at import; the workers of the conformance suite run the same ones).
"""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules._eigen_pow import eigen_pow_float32
from eps_ref.rules._reductions import torch_norm_sums
from eps_ref.rules.adafactor import reduce_mean, torch_norm

pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

F32 = np.float32


def _bits(x):
    return np.asarray(x, F32).view(np.uint32)


def _ragged(rng, rows, columns):
    """Values spread over five decades, so that the order of a sum shows in its last bits."""
    return (rng.standard_normal((rows, columns)) * np.logspace(-3, 2, columns)).astype(F32)


def test_torch_vector_norm_every_length():
    """``binary_kernel_reduce_lastdim``: 8 lanes, then a block of 4 rounded squares, then
    one FMA per element left; torch 2.13."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for n in range(1, 131):
        x = _ragged(rng, 6, n)
        real = torch.linalg.vector_norm(torch.from_numpy(x), dim=-1).numpy()
        assert (_bits(np.sqrt(torch_norm_sums(x))) == _bits(real)).all(), n


@pytest.mark.parametrize("shape", [(3, 37), (16, 5), (33, 130), (7, 1), (1, 9)])
def test_torch_norm_rows_columns_and_all(shape):
    torch = pytest.importorskip("torch")
    x = _ragged(np.random.default_rng(1), *shape)
    t = torch.from_numpy(x)
    for axis in (0, 1, None):
        real = (torch.norm(t) if axis is None else torch.norm(t, dim=axis)).numpy()
        np.testing.assert_array_equal(_bits(torch_norm(x, axis)), _bits(real))


@pytest.mark.parametrize("n", [1, 5, 13, 61, 111])
def test_torch_fused_sgd_scalar_tail(n):
    """``FusedSGDKernel.cpp``: the last ``n % 8`` buffer entries round as fma(b, mu, (1-tau)g)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n)
    p0 = rng.standard_normal(n).astype(F32)
    grads = rng.standard_normal((40, n)).astype(F32)
    kwargs = {"lr": 1e-2, "momentum": 0.9, "dampening": 0.5, "fused": True}
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = torch.optim.SGD([p], **kwargs)
    ref = eps_ref.optimizer("torch.optim.SGD", **kwargs)
    q, state = p0, ref.init(p0)
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        q, state = ref.step(q, g, state)
    np.testing.assert_array_equal(_bits(q), _bits(p.detach().numpy()))
    np.testing.assert_array_equal(_bits(state["slots"][0]["momentum_buffer"]),
                                  _bits(opt.state[p]["momentum_buffer"].numpy()))


@pytest.mark.parametrize("rows", [2, 15, 16, 17, 33, 70])
@pytest.mark.parametrize("columns", [1, 3, 8, 37, 130])
def test_tensorflow_mean_over_rows_columns_and_all(rows, columns):
    """``tf.reduce_mean``: four row accumulators from 16 rows on (whole packets of
    columns only); Eigen's full reducer over every element (on the threads TensorFlow
    runs here: the full reductions of this test are below its first shard)."""
    tf = pytest.importorskip("tensorflow")
    x = _ragged(np.random.default_rng(rows * 1000 + columns), rows, columns) ** 2
    for axis in (-1, -2, None):
        real = tf.reduce_mean(tf.constant(x), axis=axis).numpy()
        np.testing.assert_array_equal(_bits(reduce_mean(x, axis, reduction="eigen_cpu")),
                                      _bits(real), err_msg=f"axis {axis}")


# glibc's powf(x, -0.5), one ULP above the correctly rounded power (x bits, powf bits).
GLIBC_NOT_CORRECTLY_ROUNDED = [(0x446DB272, 0x3D04D632), (0x401ACC36, 0x3F249B56),
                               (0x429317BE, 0x3DEECEEA)]


@pytest.mark.parametrize("x_bits,pow_bits", GLIBC_NOT_CORRECTLY_ROUNDED)
def test_eigen_pow_tail_is_the_c_library_powf(x_bits, pow_bits):
    """Eigen finishes the last ``n % 8`` elements with the scalar ``powf``."""
    x = np.full(7, np.uint32(x_bits).view(F32), F32)
    assert (_bits(eigen_pow_float32(x, -0.5)) == pow_bits).all()
    tf = pytest.importorskip("tensorflow")
    assert (_bits(tf.pow(x, F32(-0.5)).numpy()) == pow_bits).all()

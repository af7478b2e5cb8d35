"""The whole-array sums of squares shared by LAMB, LARS, Muon, Fromage, NovoGrad and
gradient clipping (eps_ref/rules/_reductions.py)."""

import numpy as np
import pytest

from eps_ref.rules._reductions import REDUCTIONS, eigen_sum, l2_norm, sum_of_squares

f32 = np.float32


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_orders_agree_when_every_sum_is_exact(reduction):
    """Small integers: every order of the sum of squares is exact; only the order differs."""
    x = np.random.default_rng(0).integers(-8, 8, (4, 16)).astype(f32)
    assert sum_of_squares(x, reduction=reduction) == np.sum(x * x)
    y = np.random.default_rng(1).integers(-8, 8, (3, 5)).astype(f32)     # ragged lanes
    assert sum_of_squares(y, reduction=reduction) == np.sum(y * y)


@pytest.mark.parametrize("n, bits", [(40, 0x44e37c2c), (100, 0x44b7d614), (203, 0xc3f6f0f1)])
def test_eigen_sum_matches_tensorflow(n, bits):
    """``tf.reduce_sum`` on CPU (TensorFlow 2.21, measured): 40 elements leave a whole packet
    outside the blocks of four, 100 a scalar tail of 4, 203 both."""
    i = np.arange(n, dtype=np.float64)
    v = (np.sin(i * 1.7) * 10.0 ** (np.arange(n) % 7 - 3)).astype(f32)
    assert eigen_sum(v).view(np.uint32) == bits


def test_fused_order_rounds_each_square_into_the_sum():
    """A vector of two: jnp.linalg.norm's straight-line code is fma(x0, x0, x1 * x1) (LLVM
    drops the leading 0 + and fuses the first product; measured on 300 random pairs)."""
    a, b = f32(1.6066358089447021), f32(1.7294965982437134)
    x = np.array([a, b], f32)
    fused = f32(np.float64(a) ** 2 + np.float64(b * b))       # fma(a, a, b*b)
    assert sum_of_squares(x, reduction="xla_cpu_fused_fma") == fused
    assert f32(np.float64(b) ** 2 + np.float64(a * a)) != fused     # the other fusion
    assert sum_of_squares(x, reduction="xla_cpu_sequential") == (a * a) + (b * b)
    assert l2_norm(np.array([3.0, 4.0], f32), reduction="torch_cpu_norm") == f32(5.0)


def test_unknown_order_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        sum_of_squares(np.ones(2, f32), reduction="pairwise")
    with pytest.raises(ValueError, match="square_op"):
        sum_of_squares(np.ones(2, f32), reduction="eigen_avx_4x8", square_op="cube")


# -- the orders at size (the frameworks themselves: conformance/test_reductions_at_size.py)

from eps_ref.norms._torch_cpu import torch_sum as torch_sum_op_by_op  # noqa: E402
from eps_ref.rules import _reductions as R  # noqa: E402


def _ragged(rng, n):
    return (rng.standard_normal(n) * np.exp(rng.uniform(-4, 4, n))).astype(f32)


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 31, 32, 33, 127, 128, 129, 1000, 4100])
def test_vectorized_torch_cascade_is_the_kernel_step_by_step(n):
    """The reshaped cascade against the operation-by-operation model of SumKernel.cpp."""
    x = _ragged(np.random.default_rng(n), n)
    want = torch_sum_op_by_op(x, (0,), lanes=8).reshape(())
    assert R.torch_full_sum(x).view(np.uint32) == want.view(np.uint32)


def test_torch_two_pass_splits_at_the_grain():
    """From 32768 elements two threads sum two chunks of ceil(n/2) into a buffer."""
    x = _ragged(np.random.default_rng(1), 32769)
    halves = R._torch_inner(x[None, :16385])[0], R._torch_inner(x[None, 16385:])[0]
    assert R.torch_full_sum(x, threads=2) == f32(f32(0) + halves[0]) + halves[1]
    assert R.torch_full_sum(x[:32767], threads=2) == R.torch_full_sum(x[:32767])


def test_eigen_tree_splits_at_packet_boundaries():
    """Past 8 * 1024 values the range splits at 8 * ceil((first + ceil(n/2)) / 8)."""
    assert R._eigen_tree(0, 8192) == (0, 8192)
    assert R._eigen_tree(0, 8193) == ((0, 4104), (4104, 4089))
    assert R._eigen_tree(3, 8193) == ((0, 4101), (4101, 4092))
    x = _ragged(np.random.default_rng(2), 8193)
    left, right = R._eigen_leaf(x[None, :4104])[0], R._eigen_leaf(x[None, 4104:])[0]
    assert eigen_sum(x) == left + right


def test_eigen_cost_model_thresholds():
    """Two shards from 108388 values (reduce_sum, cost 11/64 * 4 + 10/8 per value) and
    from 96000 (l2_loss: + 2/8 for its square and product); three from 160000."""
    assert R.eigen_num_threads(108387, 2) == 1 and R.eigen_num_threads(108388, 2) == 2
    assert R.eigen_num_threads(159999, 3) == 2 and R.eigen_num_threads(160000, 3) == 3
    l2 = R.EIGEN_SUM_COMPUTE + 0.25
    assert R.eigen_num_threads(95999, 2, l2) == 1 and R.eigen_num_threads(96000, 2, l2) == 2
    assert R.eigen_num_threads(10 ** 9, 1) == 1


def test_eigen_packets_of_a_row_are_kept_per_row_when_columns_are_ragged():
    """tf.reduce_sum over rows: outputs in packets of 8 use the four-accumulator path only
    where the 8 outputs share a row of the kept axis."""
    a = _ragged(np.random.default_rng(3), 3 * 20 * 13).reshape(3, 20, 13)
    got = R._eigen_preserved(a)
    seq = R._seq(a, axis=1)
    # output 8g..8g+7 with 8g % 13 + 7 < 13: g = 0 (0..7) and g = 4 (32..39: row 2, 6..13?)
    flat_got, flat_seq = got.reshape(-1), seq.reshape(-1)
    assert (flat_got[8:13] == flat_seq[8:13]).all()         # packet 8..15 straddles rows


def test_ynn_compensated_tiles():
    """YNNPACK adds whole tiles of 1024 values with Kahan's compensation and the rest as
    s + (rest - c): two values one tile apart are not always fl(a + b) (jax 0.10.2)."""
    a, b = np.float32(0.34558418), np.float32(0.82161814)
    x = np.zeros(4096, f32)
    x[0], x[1024] = a, b
    s, y = f32(a + b), b
    c = f32(f32(s - a) - y)
    assert R.xla_reduce_sum(x) == f32(s - c)
    x = np.zeros(10000, f32)                      # the second value in the partial tile
    x[8 * 1024 + 1], x[9 * 1024 + 17] = a, b
    assert R.xla_reduce_sum(x) == f32(a + b)


def test_xla_windows_and_lanes():
    """Below 4096 elements: windows of 32 with the padding split low-half first, then LLVM's
    lanes over rows (16 x 4: eight lanes of two rows each, summed by halves)."""
    x = _ragged(np.random.default_rng(4), 1000)
    windows = R._xla_windows(x, {0})
    assert windows.shape == (32,)
    assert windows[0] == R._seq(x[:20])                  # 12 padding values first
    y = _ragged(np.random.default_rng(5), 64).reshape(16, 4)
    lanes = R._seq(y.reshape(2, 8, 4).transpose(1, 0, 2).reshape(8, -1), axis=1)
    assert R.xla_reduce_sum(y) == f32(-0.0) + R._halve(lanes)


def test_orders_return_the_input_namespace():
    torch = pytest.importorskip("torch")
    x = _ragged(np.random.default_rng(6), 40000).reshape(200, 200)
    for reduction in ("eigen_avx_4x8", "xla_cpu_sequential", "torch_cpu_avx2",
                      "xla_cpu_fused_fma", "torch_cpu_norm"):
        want = sum_of_squares(x, reduction=reduction, threads=2)
        got = sum_of_squares(torch.from_numpy(x), reduction=reduction, threads=2)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
        assert got.numpy().view(np.uint32) == np.asarray(want).view(np.uint32), reduction

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
    a, b = f32(1.6066358089447021), f32(1.7294965982437134)
    x = np.array([a, b], f32)
    fused = f32(np.float64(a * a) + np.float64(b) ** 2)       # fma(b, b, a*a)
    assert sum_of_squares(x, reduction="xla_cpu_fused_fma") == fused
    assert sum_of_squares(x, reduction="xla_cpu_sequential") == (a * a) + (b * b) != fused
    assert l2_norm(np.array([3.0, 4.0], f32), reduction="torch_cpu_norm") == f32(5.0)


def test_unknown_order_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        sum_of_squares(np.ones(2, f32), reduction="pairwise")
    with pytest.raises(ValueError, match="square_op"):
        sum_of_squares(np.ones(2, f32), reduction="eigen_avx_4x8", square_op="cube")

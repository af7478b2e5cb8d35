"""Muon in the torch, Keras and optax dialects: the Newton-Schulz quintic, transposition,
eps placement in the Frobenius normalization, bfloat16 rounding, hand-computed first steps,
the shape scaling of the learning rate, purity, and array_api_strict."""

import math

import numpy as np
import pytest

import eps_ref
from eps_ref.rules.muon import QUINTIC, matmul, muon, newton_schulz, round_to_bfloat16

f32 = np.float32
NAMES = {"torch.optim.Muon": {}, "keras.optimizers.Muon": {},
         "optax.contrib.muon": {"learning_rate": 1e-3}}
KERNELS = ("aten_bfloat16", "float64_rounded", "onednn_sgemm", "xla_cpu", "mkl_sgemm", "namespace")


def _quintic(s, steps=5):
    a, b, c = QUINTIC
    for _ in range(steps):
        s = a * s + b * s ** 3 + c * s ** 5
    return s


def _wide(seed=0, shape=(4, 16), dtype=f32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_quintic_fixed_points_and_range():
    """p(s) = s at s^2 = (-b +- sqrt(b^2 - 4c(a-1))) / 2c: about 0.868 and 1.264. Five steps
    take every s in [0.03, 1] into [0.68, 1.2]: near 1, not exactly 1."""
    a, b, c = QUINTIC
    disc = math.sqrt(b * b - 4 * c * (a - 1))
    fixed = sorted(math.sqrt((-b + sign * disc) / (2 * c)) for sign in (-1, 1))
    assert fixed[0] == pytest.approx(0.868, abs=1e-3)
    assert fixed[1] == pytest.approx(1.264, abs=1e-3)
    for s in fixed:
        assert _quintic(s, 1) == pytest.approx(s, rel=1e-12)
    out = np.array([_quintic(s) for s in np.linspace(0.03, 1.0, 2000)])
    assert out.min() > 0.68 and out.max() < 1.2


def test_newton_schulz_drives_singular_values_toward_one():
    x = _wide(dtype=np.float64)
    sv0 = np.linalg.svd(x / (np.linalg.norm(x) + 1e-7), compute_uv=False)
    assert sv0.max() < 1.0                           # Frobenius normalization: spectral <= 1
    sv = np.linalg.svd(newton_schulz(x, precision="param"), compute_uv=False)
    assert sv.min() > 0.68 and sv.max() < 1.2
    np.testing.assert_allclose(np.sort(sv), np.sort([_quintic(s) for s in sv0]), rtol=1e-12)


def test_orthogonal_gradient_stays_orthogonal_up_to_scale():
    q, _ = np.linalg.qr(_wide(dtype=np.float64).T)   # (16, 4) with orthonormal columns
    g = 3.0 * q.T                                    # (4, 16), orthogonal rows, all sv = 3
    o = newton_schulz(g, precision="param")
    s = _quintic(3.0 / (3.0 * 2.0 + 1e-7))           # ||g||_F = 3 * sqrt(4)
    np.testing.assert_allclose(o, s * q.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(o @ o.T, s * s * np.eye(4), atol=1e-13)


@pytest.mark.parametrize("kernel", [k for k in KERNELS if k != "aten_bfloat16"])
@pytest.mark.parametrize("precision", ["bfloat16", "param"])
def test_tall_matrices_are_transposed(kernel, precision):
    """NS(G^T) = NS(G)^T bit for bit: a tall matrix is orthogonalized as its transpose."""
    g = _wide(3)
    wide = newton_schulz(g, precision=precision, matmul_kernel=kernel)
    tall = newton_schulz(g.T.copy(), precision=precision, matmul_kernel=kernel)
    np.testing.assert_array_equal(tall, wide.T)


def test_torch_tall_matrices_take_the_transposed_view_loops():
    """torch runs the first Newton-Schulz step of a tall matrix on the view grad.T: ATen's
    small bfloat16 gemm then takes other loops (X X^T: a sequential sum instead of the
    vectorized dot), oneDNN's brgemm (K <= 1024) the same ones."""
    g = _wide(3)
    wide = newton_schulz(g, precision="param", matmul_kernel="aten_bfloat16")
    tall = newton_schulz(g.T.copy(), precision="param", matmul_kernel="aten_bfloat16")
    assert not np.array_equal(tall, wide.T)
    g = _wide(3, (16, 300))
    wide = newton_schulz(g, precision="bfloat16", matmul_kernel="aten_bfloat16")
    tall = newton_schulz(g.T.copy(), precision="bfloat16", matmul_kernel="aten_bfloat16")
    np.testing.assert_array_equal(tall, wide.T)


def test_eps_placement_in_the_normalization():
    """A direction of Frobenius norm 1e-8: torch divides by max(1e-8, 1e-7) (clamp), Keras by
    1e-8 + 1e-7, optax by 1e-8 + 1e-8 (its eps default). steps=0 returns the normalized X."""
    g = np.full((2, 2), 0.5e-8)                      # ||g||_F = 1e-8
    clamp = newton_schulz(g, steps=0, eps=1e-7, precision="param",
                          normalization="divide_by_norm_clamped_to_eps")
    plus = newton_schulz(g, steps=0, eps=1e-7, precision="param")
    plus8 = newton_schulz(g, steps=0, eps=1e-8, precision="param")
    assert np.linalg.norm(clamp) == pytest.approx(0.1, rel=1e-12)
    assert np.linalg.norm(plus) == pytest.approx(1 / 11, rel=1e-12)
    assert np.linalg.norm(plus8) == pytest.approx(0.5, rel=1e-12)
    # well above eps the placements agree to ~eps/norm
    big = newton_schulz(g * 1e8, steps=0, eps=1e-7, precision="param",
                        normalization="divide_by_norm_clamped_to_eps")
    assert np.linalg.norm(big) == 1.0


def test_zero_gradient_gives_zero_update():
    p = _wide(1)
    for name, kw in NAMES.items():
        opt = eps_ref.optimizer(name, **{**kw, **({"weight_decay": 0.0} if "torch" in name
                                                  or "optax" in name else {"weight_decay": None})})
        p1, _ = opt.step(p, np.zeros_like(p), opt.init(p))
        np.testing.assert_array_equal(p1, p, err_msg=name)


def test_round_to_bfloat16_ties_to_even_and_limits():
    one = f32(1)
    ulp = f32(2.0 ** -7)                             # bfloat16 spacing at 1
    assert round_to_bfloat16(np.array(one + ulp / 2, f32)) == one            # tie -> even
    assert round_to_bfloat16(np.array(one + 3 * ulp / 2, f32)) == one + 2 * ulp
    assert round_to_bfloat16(np.array(one + ulp / 2 + 2 ** -20, f32)) == one + ulp
    x = np.array([3e38, -2.5e35, np.inf, -np.inf, 0.0, 1.0], f32)
    r = round_to_bfloat16(x)
    bits = r.view(np.uint32)
    assert np.all(bits[:2] & 0xFFFF == 0) and np.all(np.isfinite(r[:2]))
    np.testing.assert_array_equal(r[2:], x[2:])
    assert np.isnan(round_to_bfloat16(np.array([np.nan], f32)))[0]


def test_matmul_orders_agree_with_exact_products_when_exact():
    """Small integers: every summation order is exact, so all orders agree."""
    rng = np.random.default_rng(0)
    a = rng.integers(-8, 8, (4, 16)).astype(f32)
    b = rng.integers(-8, 8, (16, 4)).astype(f32)
    for order in ("float64_rounded", "fma_chain", "sequential", "fma_lanes_4", "pairwise",
                  "lane_halving", "lanes_4_halving", "namespace"):
        np.testing.assert_array_equal(matmul(a, b, order), a @ b, err_msg=order)


# -- the kernels' summation trees --------------------------------------------------------
#
# The probe: products +H at k = i, -H at k = j and 1 everywhere else. The ones added into
# the partial sum holding i or j before i and j meet are absorbed (H = 2^40), so the result
# is K minus the number of products in the subtree where i and j first meet.

def _subtree(order, k, i, j, rows=1, cols=1, layout="nn"):
    a = np.ones((rows, k), f32)
    a[:, i], a[:, j] = 2.0 ** 40, -(2.0 ** 40)
    c = matmul(a, np.ones((k, cols), f32), order, layout=layout)
    assert (c == c[0, 0]).all()
    return k - int(c[0, 0])


def test_onednn_bf16_pairs_and_k_blocks():
    """vdpbf16ps adds the odd product of a pair, then the even one; K blocks of 512 (1024
    past K = 1024, unless A is a transposed view) start from zero and add into C."""
    big = dict(rows=16, cols=16)                         # m k n > 16^3: oneDNN
    assert _subtree("aten_bfloat16", 576, 0, 1, **big) == 2
    assert _subtree("aten_bfloat16", 576, 0, 2, **big) == 4       # 1, 0, 3, 2
    assert _subtree("aten_bfloat16", 576, 1, 2, **big) == 4
    assert _subtree("aten_bfloat16", 576, 511, 512, **big) == 576
    assert _subtree("aten_bfloat16", 576, 512, 513, **big) == 2
    assert _subtree("aten_bfloat16", 2048, 1023, 1024, **big) == 2048
    assert _subtree("aten_bfloat16", 2048, 512, 513, **big) > 2
    assert _subtree("aten_bfloat16", 2048, 511, 512, layout="tn", **big) == 1024
    assert _subtree("aten_bfloat16", 2048, 512, 513, layout="tn", **big) == 2
    # an odd K: the last product pairs with a zero
    assert _subtree("onednn_bf16", 37, 35, 36) == 37


def test_aten_small_bfloat16_loops_by_layout():
    """m k n <= 16^3: ATen's own loops; nn and tt: four partial sums over k mod 4, the tail
    into the first; nt: 8-lane vectors (a 16-element step per register) then a scalar
    tail; tn: one sequential sum."""
    small = dict(rows=2, cols=2)
    assert _subtree("aten_bfloat16", 37, 0, 4, **small) == 2
    assert _subtree("aten_bfloat16", 37, 0, 36, **small) == 10      # the tail joins partial 0
    assert _subtree("aten_bfloat16", 37, 0, 1, **small) == 19
    assert _subtree("aten_bfloat16", 37, 0, 2, **small) == 28
    assert _subtree("aten_bfloat16", 37, 0, 1, layout="tt", **small) == 19
    assert _subtree("aten_bfloat16", 37, 0, 8, layout="nt", **small) == 2   # 0 8 16 24
    assert _subtree("aten_bfloat16", 37, 0, 16, layout="nt", **small) == 3
    assert _subtree("aten_bfloat16", 37, 0, 4, layout="nt", **small) == 8    # lanes halved
    assert _subtree("aten_bfloat16", 37, 0, 32, layout="nt", **small) == 33  # then the tail
    assert _subtree("aten_bfloat16", 37, 0, 5, layout="tn", **small) == 6
    # 64-element blocks in eight registers of eight lanes, registers added as a tree
    assert _subtree("aten_bf16_dot", 128, 0, 64) == 2
    assert _subtree("aten_bf16_dot", 128, 0, 32) == 4
    assert _subtree("aten_bf16_dot", 128, 0, 8) == 16     # lane 0 of every register
    # an operand with a dimension of 1 is row-major whatever its strides
    assert _subtree("aten_bfloat16", 37, 0, 1, layout="tt") == 19


def test_onednn_sgemm_k_blocks():
    """gemm_driver.cpp: blocks of 384, a remainder between 384 and 768 halved."""
    from eps_ref.rules.muon import _sgemm_k_blocks
    assert _sgemm_k_blocks(384) == [(0, 384)]
    assert _sgemm_k_blocks(385) == [(0, 193), (193, 385)]
    assert _sgemm_k_blocks(576) == [(0, 288), (288, 576)]
    assert _sgemm_k_blocks(769) == [(0, 384), (384, 577), (577, 769)]
    assert _sgemm_k_blocks(1000) == [(0, 384), (384, 692), (692, 1000)]
    assert _subtree("onednn_sgemm", 576, 0, 5) == 6
    assert _subtree("onednn_sgemm", 576, 287, 288) == 576
    assert _subtree("onednn_sgemm", 576, 288, 289) == 2


def test_mkl_sgemm_k_blocks_and_small_outputs():
    from eps_ref.rules.muon import _mkl_k_blocks
    assert _mkl_k_blocks(192) == [(0, 192)]
    assert _mkl_k_blocks(193) == [(0, 96), (96, 193)]
    assert _mkl_k_blocks(385) == [(0, 192), (192, 384), (384, 385)]
    assert _mkl_k_blocks(1000)[-2:] == [(768, 960), (960, 1000)]
    big = dict(rows=12, cols=12)
    assert _subtree("mkl_sgemm", 576, 191, 192, **big) == 384        # blocks 0 and 1
    assert _subtree("mkl_sgemm", 576, 192, 193, **big) == 2
    with pytest.raises(ValueError, match="12 x 12"):
        matmul(np.ones((4, 16), f32), np.ones((16, 16), f32), "mkl_sgemm")


def test_fused_chains_round_once_at_half_way_sums():
    """The float64 sum a*b + c can land exactly half-way between two float32 values while
    the exact one does not: 1 + 2^-23 + 2^-24 (1 - 2^-46) rounds to 1 + 2^-23, the float64
    sum rounded again to 1 + 2^-22. The numpy fast path redoes those elements."""
    a = np.array([[1 + 2.0 ** -23]], f32)
    b = np.array([[(1 - 2.0 ** -23) * 2.0 ** -24]], f32)
    c = np.array([[1 + 2.0 ** -23]], f32)
    twice = f32(a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64))
    assert twice == f32(1 + 2.0 ** -22)
    a2 = np.concatenate([np.ones((1, 1), f32), a], axis=1)     # c enters as 1 * c
    b2 = np.concatenate([c, b], axis=0)
    assert matmul(a2, b2, "fma_chain")[0, 0] == f32(1 + 2.0 ** -23)
    assert matmul(a2, b2, "onednn_sgemm")[0, 0] == f32(1 + 2.0 ** -23)


def test_fused_chains_fast_path_matches_the_exact_fma():
    """numpy's fast path (float64 sums, half-way check) against the Array API fma, on
    products over 60 binades, near-subnormal ones included."""
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((9, 400)) * np.exp2(rng.integers(-70, 30, (9, 400)))).astype(f32)
    b = (rng.standard_normal((400, 13)) * np.exp2(rng.integers(-70, 30, (400, 13)))).astype(f32)
    fast = matmul(a, b, "onednn_sgemm")
    exact = np.asarray(matmul(xps.asarray(a), xps.asarray(b), "onednn_sgemm"))
    np.testing.assert_array_equal(fast.view(np.uint32), exact.view(np.uint32))


def test_torch_first_step_by_hand():
    """1 x 2 matrix: a rank-one direction keeps its direction; its one singular value goes
    through the quintic. torch: buf = lerp(0, g, 0.05); update = lerp(g, buf, 0.95)."""
    p = np.array([[1.0, -2.0]], f32)
    g = np.array([[3.0, 4.0]], f32)
    opt = eps_ref.optimizer("torch.optim.Muon", lr=1e-2, weight_decay=0.0)
    p1, state = opt.step(p, g, opt.init(p))
    buf = state["slots"][0]["momentum_buffer"]
    np.testing.assert_array_equal(buf, f32(0.05) * g)
    # the update is g - 0.05*(g - buf): [3, 4] * 0.9025 up to rounding; bf16 of it
    o = opt.spec.rule.step  # noqa: F841
    # singular value 1 after normalization (bf16([0.6, 0.8]) has norm ~1)
    x = round_to_bfloat16(np.array([0.6, 0.8], f32))
    s = float(np.linalg.norm(x.astype(np.float64)))
    expected = _quintic(s) * np.array([0.6, 0.8]) / s
    np.testing.assert_allclose(p - p1, 1e-2 * expected[None, :], rtol=2e-2)


def test_keras_first_step_by_hand():
    p = np.array([[1.0, -2.0]])
    g = np.array([[3.0, 4.0]])
    opt = eps_ref.optimizer("keras.optimizers.Muon", weight_decay=0.01, learning_rate=0.1)
    p1, state = opt.step(p, g, opt.init(p))
    np.testing.assert_array_equal(state["slots"][0]["momentum"], g)       # m = 0 + (g + 0)
    d = 1.95 * g                                     # Nesterov: g + 0.95 m
    s = 9.75 / (9.75 + 1e-7)
    o = _quintic(s) * d / 9.75
    decayed = p - p * 0.01 * 0.1
    np.testing.assert_allclose(p1, decayed - 0.1 * o * math.sqrt(2) * 0.2, rtol=1e-14)


def test_optax_first_step_by_hand():
    """optax: mu = 0.05 g; Nesterov with bias corrections: 0.95 mu/(1-0.95^2) + 0.05 g/0.05."""
    p = np.array([[1.0, -2.0]])
    g = np.array([[3.0, 4.0]])
    opt = eps_ref.optimizer("optax.contrib.muon", learning_rate=0.1, weight_decay=0.01)
    p1, state = opt.step(p, g, opt.init(p))
    np.testing.assert_allclose(state["slots"][0]["mu"], 0.05 * g, rtol=1e-15)
    d = 0.95 * (0.05 * g) / (1 - 0.95 ** 2) + 0.05 * g / 0.05
    n = np.linalg.norm(d)
    o = _quintic(n / (n + 1e-8)) * d / n
    u = math.sqrt(2.0) * o + 0.01 * p                # sqrt(max(1, fan_out / fan_in)) = sqrt 2
    np.testing.assert_allclose(p1, p - 0.1 * u, rtol=1e-14)


def test_lr_shape_scaling_differs_between_dialects():
    """torch scales tall matrices up (sqrt(rows/cols)), optax wide ones (sqrt(cols/rows)),
    Keras every matrix by 0.2 sqrt(max(rows, cols))."""
    def step_size(name, shape, **kw):
        p = np.zeros(shape)
        g = np.ones(shape)
        extra = {"weight_decay": None} if "keras" in name else {"weight_decay": 0.0}
        opt = eps_ref.optimizer(name, **{**kw, **extra})
        return float(np.max(np.abs(opt.step(p, g, opt.init(p))[0])))
    wide, tall = (4, 16), (16, 4)
    torch_w = step_size("torch.optim.Muon", wide, lr=1.0)
    torch_t = step_size("torch.optim.Muon", tall, lr=1.0)
    optax_w = step_size("optax.contrib.muon", wide, learning_rate=1.0)
    optax_t = step_size("optax.contrib.muon", tall, learning_rate=1.0)
    assert torch_t / torch_w == pytest.approx(2.0, rel=2e-2)     # bf16 in the torch path
    assert optax_w / optax_t == pytest.approx(2.0, rel=1e-6)
    keras = step_size("keras.optimizers.Muon", wide, learning_rate=1.0)
    assert keras / optax_t == pytest.approx(0.8, rel=1e-6)


@pytest.mark.parametrize("name", list(NAMES))
def test_inputs_not_mutated(name):
    p, g = _wide(1), _wide(2)
    p0, g0 = p.copy(), g.copy()
    opt = eps_ref.optimizer(name, **NAMES[name])
    state = opt.init(p)
    slots0 = {k: v.copy() for k, v in state["slots"][0].items()}
    opt.step(p, g, state)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(g, g0)
    for k, v in slots0.items():
        np.testing.assert_array_equal(state["slots"][0][k], v)


@pytest.mark.parametrize("backend", [None, "jax", "torch"])
@pytest.mark.parametrize("name", list(NAMES))
def test_array_api_strict_matches_numpy_bit_for_bit(name, backend):
    xps = pytest.importorskip("array_api_strict")
    if backend and "keras" not in name:
        pytest.skip("one backend")
    p, g = _wide(1), _wide(2)
    kw = dict(NAMES[name], **({"backend": backend} if backend else {}))
    opt = eps_ref.optimizer(name, **kw)
    sp, sg = xps.asarray(p), xps.asarray(g)
    ps, state_s = sp, opt.init(sp)
    pn, state_n = p, opt.init(p)
    for _ in range(3):
        ps, state_s = opt.step(ps, sg, state_s)
        pn, state_n = opt.step(pn, g, state_n)
    assert isinstance(ps, type(sp))
    np.testing.assert_array_equal(np.asarray(ps), pn)


def test_rule_rejects_non_matrices():
    with pytest.raises(ValueError, match="2-D"):
        muon.step(np.zeros(3, f32), np.zeros(3, f32), {"momentum_buffer": np.zeros(3, f32)},
                  t=1, lr=1e-3)


def test_bind_validation():
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.Muon", lr=-1.0)
    with pytest.raises(ValueError):
        eps_ref.optimizer("torch.optim.Muon", adjust_lr_fn="unknown")
    with pytest.raises(NotImplementedError):
        eps_ref.optimizer("optax.contrib.muon", learning_rate=1e-3, adaptive=True)
    with pytest.raises(ValueError):
        eps_ref.optimizer("keras.optimizers.Muon", learning_rate=-1.0)


def _keras_adamw_by_hand(p, grads, *, lr, ratio, beta1, beta2, eps, wd):
    """Keras Muon's ``_apply_weight_decay`` then ``_adamw_update_step``, float32 NumPy."""
    from eps_ref.rules.adam import libm_power
    lr32, m, v = f32(lr), np.zeros_like(p), np.zeros_like(p)
    adam_lr = lr32 * f32(ratio)
    for t, g in enumerate(grads, start=1):
        p = p - p * f32(wd) * lr32
        b1p, b2p = libm_power(f32(beta1), t), libm_power(f32(beta2), t)
        alpha = adam_lr * np.sqrt(f32(1) - b2p) / (f32(1) - b1p)
        m = m + (g - m) * f32(1 - beta1)
        v = v + (g * g - v) * f32(1 - beta2)
        p = p - (m * alpha) / (np.sqrt(v) + f32(eps))
    return p


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
@pytest.mark.parametrize("shape", [(7,), (3, 2, 3, 3), ()])
def test_keras_muon_sends_every_variable_that_is_not_2d_to_its_adamw(shape, backend):
    """Keras' ``_should_use_adamw``: a bias, a norm scale, a 4-D kernel (any rank but 2)
    takes Adam's step with lr * adam_lr_ratio, Muon's ``epsilon`` and ``adam_weight_decay``
    scaled by the unscaled lr; a matrix in the same tree takes the Muon step unchanged."""
    rng = np.random.default_rng(3)
    kw = dict(learning_rate=0.01, adam_lr_ratio=0.1, adam_weight_decay=0.1, epsilon=1e-3,
              adam_beta_1=0.8, adam_beta_2=0.99)
    p = rng.standard_normal(shape).astype(f32)
    grads = [rng.standard_normal(shape).astype(f32) for _ in range(4)]
    matrix, matrix_grads = _wide(1), [_wide(2 + i) for i in range(4)]
    opt = eps_ref.optimizer("keras.optimizers.Muon", backend=backend, **kw)
    tree = [p, matrix]
    state = opt.init(tree)
    assert set(state["slots"][0]) == {"momentum", "velocity"}
    assert set(state["slots"][1]) == {"momentum"}
    for g, gm in zip(grads, matrix_grads):
        tree, state = opt.step(tree, [g, gm], state)
    expected = _keras_adamw_by_hand(p, grads, lr=0.01, ratio=0.1, beta1=0.8, beta2=0.99,
                                    eps=1e-3, wd=0.1)
    np.testing.assert_array_equal(tree[0], expected)
    alone = eps_ref.optimizer("keras.optimizers.Muon", backend=backend, **kw)
    m, s = matrix, alone.init(matrix)
    for gm in matrix_grads:
        m, s = alone.step(m, gm, s)
    np.testing.assert_array_equal(tree[1], m)


def test_keras_muon_adamw_at_ratio_one_is_keras_adam():
    """With adam_lr_ratio 1 the fallback is ``keras.optimizers.Adam`` with
    ``weight_decay=adam_weight_decay``, on every backend (torch: MKL's sqrt)."""
    rng = np.random.default_rng(5)
    p = rng.standard_normal((2, 5, 3)).astype(f32)
    grads = [rng.standard_normal(p.shape).astype(f32) * 10 ** -k for k in range(5)]
    for backend in ("tensorflow", "jax", "torch"):
        muon_opt = eps_ref.optimizer("keras.optimizers.Muon", backend=backend,
                                     adam_weight_decay=0.02)
        adam_opt = eps_ref.optimizer("keras.optimizers.Adam", backend=backend,
                                     weight_decay=0.02)
        a, sa = p, muon_opt.init(p)
        b, sb = p, adam_opt.init(p)
        for g in grads:
            a, sa = muon_opt.step(a, g, sa)
            b, sb = adam_opt.step(b, g, sb)
        if backend == "torch":    # Keras Adam on torch is its _foreach kernel, Muon's is not
            assert not np.array_equal(a, b)
            continue
        np.testing.assert_array_equal(a, b)


def test_keras_muon_refuses_exclude_layers():
    """The reference does not see variable paths, so it cannot match ``exclude_layers``."""
    with pytest.raises(NotImplementedError, match="exclude_layers"):
        eps_ref.optimizer("keras.optimizers.Muon", exclude_layers=["head"])

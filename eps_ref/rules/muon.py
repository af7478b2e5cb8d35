r"""Muon: momentum orthogonalized by a Newton–Schulz iteration (Jordan et al., 2024).

Per 2-D parameter :math:`\theta \in \mathbb{R}^{m\times n}` with gradient :math:`g`:

.. math::

    B_t &= \mu B_{t-1} + (1-\mu)\,g_t \quad\text{(or } B_{t-1} + (g_t - (1-\mu) B_{t-1})
            \text{, Keras' undamped form)} \\
    \tilde B_t &= \begin{cases} \mu B_t + (1-\mu) g_t & \text{Nesterov} \\
                                 B_t & \text{otherwise}\end{cases} \\
    X_0 &= \tilde B_t / (\lVert \tilde B_t\rVert_F \oplus \epsilon)
        \qquad(\text{transposed first when } m > n) \\
    A_k &= X_k X_k^\top, \quad X_{k+1} = a X_k + (b A_k + c A_k^2) X_k,
        \quad k = 0..K-1 \\
    \theta_t &= \theta_{t-1} - \eta\lambda\theta_{t-1} - \eta\, s(m, n)\, X_K

with the quintic coefficients :math:`(a, b, c) = (3.4445, -4.7750, 2.0315)` and
:math:`K = 5` steps. The quintic :math:`p(\sigma) = a\sigma + b\sigma^3 + c\sigma^5` acts on
each singular value; it maps :math:`(0, 1]` into roughly :math:`[0.68, 1.13]` after five
steps (it is tuned for speed near 0, not to converge to exactly 1).

Where epsilon sits: only in the Frobenius normalization before the iteration.

==================  ===================================  ======  =========================
dialect             normalization                         eps     NS arithmetic
==================  ===================================  ======  =========================
torch.optim.Muon    ``X / max(‖X‖, eps)``  (clamp)        1e-7    bfloat16 (fp32 accumulate)
keras Muon          ``X / (‖X‖ + 1e-7)`` (hard-coded)     1e-7    parameter dtype
optax.contrib.muon  ``X / (‖X‖ + eps)``                   1e-8    parameter dtype
==================  ===================================  ======  =========================

(Keras' ``epsilon`` keyword is the Adam epsilon of its AdamW fallback; it does not reach
Muon's normalization.)

Shape scaling :math:`s(m, n)` of the orthogonalized update (``lr_scale``):

- ``"sqrt_rows_over_cols"``: :math:`\sqrt{\max(1, m/n)}` (torch ``adjust_lr_fn=None`` /
  ``"original"``: boosts *tall* matrices),
- ``"sqrt_cols_over_rows"``: :math:`\sqrt{\max(1, n/m)}` (optax default, fan_out/fan_in with
  axis 0 the reduction axis: boosts *wide* matrices),
- ``"rms_matched"``: :math:`r\sqrt{\max(m, n)}` with ``rms_rate`` :math:`r` (torch
  ``"match_rms_adamw"`` with r = 0.2, Keras ``rms_rate`` = 0.2 by default, optax
  ``consistent_rms``),
- ``"none"``.

The rounding of each step follows each framework's kernels (``apply_form``,
``momentum_form``, ``ns_form``, ``matmul_kernel``); see :func:`step`. The matrix products
sum their K terms in the order of each framework's CPU gemm (:func:`matmul`): torch's
bfloat16 ``mm``/``addmm`` (ATen's own loops up to :math:`16^3` multiply-adds, oneDNN's brgemm
above) and TensorFlow's oneDNN sgemm at every shape, MKL's sgemm (Keras on torch) for
outputs of at least 12 x 12, XLA:CPU's YNNPACK dots (Keras on jax, optax) on the 4 x 16
conformance shape only.

Sources: torch/optim/_muon.py (2.13), keras/src/optimizers/muon.py (3.15),
optax/contrib/_muon.py (0.2.8).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace, device, is_numpy_namespace

from eps_ref.rules import Rule, _compiled, adam
from eps_ref.rules._numerics import fma
from eps_ref.rules._reductions import REDUCTIONS, sum_of_squares
from eps_ref.rules._roots import sqrt
from eps_ref.rules.rmsprop import _bias_corrected
from eps_ref.rules.weight_decay import decoupled_lr_scaled_keras, decoupled_lr_scaled_torch

__all__ = ["muon", "muon_with_adamw", "newton_schulz", "round_to_bfloat16", "matmul", "QUINTIC"]

QUINTIC = (3.4445, -4.7750, 2.0315)
"""Jordan's quintic Newton–Schulz coefficients (a, b, c), shared by all three dialects."""

MOMENTUM_FORMS = ("torch_lerp", "keras", "optax_bias_corrected")
LOOKAHEADS = ("none", "nesterov")
NS_PRECISIONS = ("bfloat16", "param")
NORMALIZATIONS = ("divide_by_norm_clamped_to_eps", "divide_by_norm_plus_eps")
NS_FORMS = ("torch_addmm", "scaled_operand", "scaled_operand_fma")
MATMUL_KERNELS = ("aten_bfloat16", "float64_rounded", "fma_chain", "onednn_sgemm", "xla_cpu",
                  "mkl_sgemm", "namespace")
DIVISIONS = ("divide", "multiply_by_reciprocal")
NORM_REDUCTIONS = REDUCTIONS
LR_SCALES = ("none", "sqrt_rows_over_cols", "sqrt_cols_over_rows", "rms_matched")
APPLY_FORMS = ("torch", "keras", "optax")

_SLOT = {"torch_lerp": "momentum_buffer", "keras": "momentum", "optax_bias_corrected": "mu"}


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"muon: {name}={value!r}; expected one of {allowed}")


def _scalar(xp, value, like):
    return xp.asarray(value, dtype=like.dtype, device=device(like))


# -- bfloat16 without a bfloat16 dtype --------------------------------------------------

def round_to_bfloat16(x):
    """Round float32 values to the nearest bfloat16 (ties to even), kept in float32.

    The Array API has no bfloat16, so we use Veltkamp's split: with
    :math:`\\gamma = x (2^{16} + 1)`, :math:`\\gamma - (\\gamma - x)` is ``x`` rounded to
    24 - 16 = 8 significant bits, i.e. to bfloat16; checked bit for bit against
    round-to-nearest-even on every tie pattern and 8e7 random float32 values. Values at
    or above :math:`2^{100}` are scaled down by :math:`2^{64}` first so that the product
    cannot overflow; non-finite values pass through; float32 subnormals are not exact.
    """
    xp = array_namespace(x)
    finite = xp.isfinite(x)
    big = xp.abs(x) >= 2.0 ** 100
    xs = xp.where(finite, xp.where(big, x * 2.0 ** -64, x), xp.zeros_like(x))
    gamma = xs * 65537.0
    hi = gamma - (gamma - xs)
    hi = xp.where(big, hi * 2.0 ** 64, hi)
    return xp.where(finite, hi, x)


# -- matrix products as the frameworks' kernels sum them ---------------------------------
#
# Every CPU gemm sums each output element's K products in a fixed tree: FMA chains per
# register lane, lanes reduced at the end, K split into blocks whose partial sums are
# added into C. The orders below are those trees; ``_kernel_order`` says which one a
# framework's kernel takes at a given shape and operand layout.

def _pairwise(parts):
    while len(parts) > 1:
        parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _halving(parts):
    """Add the upper half of the lanes onto the lower half until one is left."""
    while len(parts) > 1:
        h = len(parts) // 2
        parts = [parts[i] + parts[i + h] for i in range(h)] + parts[2 * h:]
    return parts[0]


# float64 bit fields for the float32 FMA fast path: the 29 bits below a float32's
# mantissa, their half-way pattern, the exponent, and 2^-125 (float32 subnormals near).
_LOW_29, _HALF_WAY = 0x1FFFFFFF, 0x10000000
_EXPONENT, _NEAR_SUBNORMAL = 0x7FF0000000000000, (1023 - 125) << 52


class _Products:
    """The rank-one terms of ``a @ b`` for chains over any k order, started from zero as a
    zeroed accumulator register is. ``fused``: each step one FMA (float32 operands), else
    the product rounded then added (exact products, e.g. of bfloat16 values, are the
    same either way)."""

    def __init__(self, a, b):
        self.xp = xp = array_namespace(a, b)
        self.a, self.b = a, b
        self.shape = (a.shape[0], b.shape[1])
        self.fast = is_numpy_namespace(xp) and a.dtype == xp.float32
        if self.fast:
            self.a64, self.b64 = (xp.astype(v, xp.float64) for v in (a, b))

    def zeros(self):
        return self.xp.zeros(self.shape, dtype=self.a.dtype, device=device(self.a))

    def term(self, k):
        return self.a[:, k:k + 1] * self.b[k:k + 1, :]

    def chain(self, ks, acc=None, fused=True):
        acc = self.zeros() if acc is None else acc
        if self.fast and _compiled.enabled():
            return _compiled.product_chain(self.a, self.b, acc, ks, fused)
        if not fused:
            for k in ks:
                acc = acc + self.term(k)
            return acc
        if self.fast:
            return self._fast_fma_chain(ks, acc)
        xp = self.xp
        for k in ks:
            acc = fma(xp.broadcast_to(self.a[:, k:k + 1], self.shape),
                      xp.broadcast_to(self.b[k:k + 1, :], self.shape), acc)
        return acc

    def _fast_fma_chain(self, ks, acc):
        # fma(a, b, c) is the float64 sum p + c (p exact) rounded to float32, except where
        # that sum lands exactly half-way between two float32 values (rounding it again
        # would see a tie the exact sum does not have): those few elements, and any near
        # the subnormals, are redone by the exact ``fma``. In place, on float64 bits.
        import numpy as np
        acc64 = acc.astype(np.float64)
        s = np.empty(self.shape)
        bits = s.view(np.uint64)
        r = np.empty(self.shape, np.float32)
        low = np.empty(self.shape, np.uint64)
        for k in ks:
            np.multiply(self.a64[:, k:k + 1], self.b64[k:k + 1, :], out=s)
            np.add(s, acc64, out=s)
            np.copyto(r, s, casting="same_kind")
            np.bitwise_and(bits, _LOW_29, out=low)
            doubt = (low == _HALF_WAY).any()
            np.bitwise_and(bits, _EXPONENT, out=low)
            if doubt or (low < _NEAR_SUBNORMAL).any():
                i, j = np.nonzero(((bits & _LOW_29) == _HALF_WAY)
                                  | ((bits & _EXPONENT) < _NEAR_SUBNORMAL))
                r[i, j] = fma(self.a[i, k], self.b[k, j], acc64[i, j].astype(np.float32))
            np.copyto(acc64, r)
        return acc64.astype(np.float32)


def _from_first(t, ks, fused=True):
    """A chain over ``ks`` that starts from the first product (rounded), not from zero."""
    ks = list(ks)
    return t.chain(ks[1:], acc=t.term(ks[0]), fused=fused)


def _sgemm_k_blocks(k, bk=384):
    """oneDNN sgemm's K partition: blocks of ``bk``; a remainder between ``bk`` and
    ``2 bk`` is halved (gemm_driver.cpp: ``if (sizeK >= 2*BK) sizeK = BK; else if
    (sizeK > BK) sizeK = (sizeK + 1) / 2``)."""
    blocks, k0 = [], 0
    while k0 < k:
        size = k - k0
        size = bk if size >= 2 * bk else (size + 1) // 2 if size > bk else size
        blocks.append((k0, k0 + size))
        k0 += size
    return blocks


def _bf16_k_block(k, layout):
    """oneDNN brgemm matmul's K block (brgemm_matmul_utils.cpp,
    ``compute_blocking_heuristic_avx512``): 1024 when K > 1024 and A is not a transposed
    view, else 512 (``default_k_blk``; batch size 1, so a K chunk is one K block)."""
    return 1024 if k > 1024 and layout[0] == "n" else 512


def _onednn_bf16(t, k, layout):
    """brgemm ``avx512_core_bf16``: per output one fp32 register lane, one ``vdpbf16ps``
    per k pair, which adds the odd product, then the even one (Intel SDM; the same on
    Zen 4, measured); an odd K is padded with a zero. Every K block starts from zero and is
    added into the fp32 C buffer."""
    k_blk = _bf16_k_block(k, layout)
    out = None
    for lo in range(0, k, k_blk):
        hi = min(k, lo + k_blk)
        ks = [j for p in range(lo, hi, 2) for j in ((p + 1, p) if p + 1 < hi else (p,))]
        part = t.chain(ks, fused=False)
        out = part if out is None else out + part
    return out


def _onednn_sgemm(t, k):
    """oneDNN ``dnnl_sgemm`` (jit avx512 kernels, TensorFlow's MatMul): one FMA chain per
    output over each K block of :func:`_sgemm_k_blocks`, the blocks added into C."""
    out = None
    for lo, hi in _sgemm_k_blocks(k):
        part = t.chain(range(lo, hi))
        out = part if out is None else out + part
    return out


def _cpublas_ilp4(t, k):
    """ATen's scalar ``cpublas::sum`` (BlasKernel.cpp): four partial sums over k mod 4, the
    K mod 4 tail into the first, then ``((s0 + s1) + s2) + s3``."""
    whole = k - k % 4
    parts = [t.chain(list(range(r, whole, 4)) + (list(range(whole, k)) if r == 0 else []),
                     fused=False) for r in range(4)]
    return ((parts[0] + parts[1]) + parts[2]) + parts[3]


def _aten_bf16_dot(t, k, lanes=8, registers=8):
    """ATen's vectorized bfloat16 dot with fp32 arithmetic (``dot_with_fp32_arith``, the
    8-float vectors this build dispatches to): eight registers over blocks of 64 (register
    r, lane l: element 64 i + 8 r + l), registers added as a tree (r + r+4, r + r+2, r + r+1)
    and the lanes halved; then 16-element tail steps into one register (lane l: j + l,
    then j + 8 + l), halved and added; then the last K mod 16 products one by one."""
    block = lanes * registers
    whole = k - k % block
    regs = [[t.chain(range(r * lanes + lane, whole, block), fused=False)
             for lane in range(lanes)] for r in range(registers)]
    while len(regs) > 1:
        h = len(regs) // 2
        regs = [[x + y for x, y in zip(regs[i], regs[i + h])] for i in range(h)]
    total = _halving(regs[0])
    vec = k - k % (2 * lanes)
    tail = [t.chain([j + off + lane for j in range(whole, vec, 2 * lanes) for off in (0, lanes)],
                    fused=False) for lane in range(lanes)]
    total = total + _halving(tail)
    return t.chain(range(vec, k), acc=total, fused=False)


def _mkl_k_blocks(k, bk=192):
    """MKL sgemm's K partition as measured (MKL 2024.2 in torch 2.13, Zen 4, 1 and 2
    threads, K from 1 to 2048): one block up to 192, two halves (the first
    ``K // 2``) up to 384, else blocks of 192 and the remainder. An odd K between 193 and
    383 halves ``K - 1`` and adds the last product, rounded, after the halves
    (:func:`_mkl_sgemm`; measured at K = 193, 257, 259, 383 on 64x64 and 129x129 outputs)."""
    if k <= bk:
        return [(0, k)]
    if k <= 2 * bk:
        return [(0, k // 2), (k // 2, k)]
    return [(lo, min(k, lo + bk)) for lo in range(0, k, bk)]


MKL_BLOCKED_MIN = 12
"""Outputs of at least 12 x 12 run MKL's blocked sgemm (measured: the smaller ones take
small-matrix kernels whose order changes with m, n and K)."""


def _mkl_sgemm(t, k):
    """MKL sgemm (closed source; the order measured with structured inputs): one FMA chain
    per output over each K block of :func:`_mkl_k_blocks`, the blocks added in order. For
    outputs of at least :data:`MKL_BLOCKED_MIN` rows and columns only."""
    m, n = t.shape
    if min(m, n) < MKL_BLOCKED_MIN:
        raise ValueError(f"muon: matmul order 'mkl_sgemm' is measured for outputs of at least "
                         f"{MKL_BLOCKED_MIN} x {MKL_BLOCKED_MIN}, got {m} x {n}")
    blocks = _mkl_k_blocks(k)
    odd_halves = len(blocks) == 2 and k % 2 == 1
    if odd_halves:      # the halves split the even part; the last product comes after them
        blocks = [(0, k // 2), (k // 2, k - 1)]
    out = None
    for lo, hi in blocks:
        part = t.chain(range(lo, hi))
        out = part if out is None else out + part
    return out + t.term(k - 1) if odd_halves else out


LAYOUTS = ("nn", "nt", "tn", "tt")


def matmul(a, b, order="float64_rounded", *, layout="nn"):
    """``a @ b`` for 2-D arrays, summed in one of the orders CPU kernels use.

    ``layout`` names how the framework holds the operands, BLAS style: first letter ``a``,
    second ``b``; ``"t"``: a transposed view of a row-major array (torch's ``x.T``). Only
    ``"aten_bfloat16"`` and ``"onednn_bf16"`` depend on it.

    Element orders:

    - ``"float64_rounded"``: products and sums in float64, rounded once.
    - ``"fma_chain"``: :math:`((a_0b_0 + a_1b_1) + \\dots)` with every step one FMA.
    - ``"sequential"``: the same chain, unfused.
    - ``"fma_lanes_4"``: four FMA chains over k mod 4, added pairwise ((0+1)+(2+3)).
    - ``"pairwise"``: the K products added pairwise.
    - ``"lanes_4_halving"``: four unfused chains over k mod 4, then (0 + 2) + (1 + 3).
    - ``"lane_halving"``: the K products as vector lanes; the upper half of the lanes is
      added onto the lower half until one lane is left (a horizontal reduction).
    - ``"namespace"``: the namespace's own ``matmul`` (numpy: OpenBLAS).

    Kernels (shape- and layout-dependent trees, see each function):

    - ``"onednn_bf16"``: oneDNN's brgemm for bfloat16 operands, fp32 accumulation
      (:func:`_onednn_bf16`);
    - ``"onednn_sgemm"``: oneDNN's float32 sgemm (:func:`_onednn_sgemm`);
    - ``"mkl_sgemm"``: MKL's blocked float32 sgemm, as measured (:func:`_mkl_sgemm`);
    - ``"cpublas_ilp4"``, ``"aten_bf16_dot"``: ATen's own bfloat16 gemm loops
      (:func:`_cpublas_ilp4`, :func:`_aten_bf16_dot`);
    - ``"aten_bfloat16"``: what torch's CPU ``mm``/``addmm`` runs on bfloat16 operands: the
      ATen loops up to ``m k n = 16^3`` (``mkldnn_gemm``'s threshold), by layout (``nn``,
      ``tt``: ilp4; ``nt``: the vectorized dot; ``tn``: a sequential sum), oneDNN above.

    The kernels return the fp32 accumulator (before a kernel's alpha/beta epilogue and the
    rounding of its output); on bfloat16-valued operands every product is exact.
    """
    _check("layout", layout, LAYOUTS)
    xp = array_namespace(a, b)
    if order == "namespace":
        return xp.matmul(a, b)
    if order == "float64_rounded":
        return xp.astype(xp.matmul(xp.astype(a, xp.float64), xp.astype(b, xp.float64)),
                         a.dtype)
    m, k = a.shape
    n = b.shape[1]
    # A dimension of size 1 makes a transposed view row-major too.
    layout = "".join("n" if 1 in shape else t for t, shape in zip(layout, (a.shape, b.shape)))
    if order == "aten_bfloat16":
        order = "onednn_bf16" if m * k * n > 16 ** 3 else {
            "nn": "cpublas_ilp4", "tt": "cpublas_ilp4", "nt": "aten_bf16_dot",
            "tn": "sequential"}[layout]
    kernels = {"onednn_bf16": lambda t: _onednn_bf16(t, k, layout),
               "onednn_sgemm": lambda t: _onednn_sgemm(t, k),
               "cpublas_ilp4": lambda t: _cpublas_ilp4(t, k),
               "aten_bf16_dot": lambda t: _aten_bf16_dot(t, k),
               "mkl_sgemm": lambda t: _mkl_sgemm(t, k)}
    if order in kernels:
        return kernels[order](_Products(a, b))
    t = _Products(a, b)
    if order == "fma_chain":
        return _from_first(t, range(k))
    if order == "sequential":
        return _from_first(t, range(k), fused=False)
    if order == "fma_lanes_4":
        return _pairwise([_from_first(t, range(r, k, 4)) for r in range(min(4, k))])
    if order == "pairwise":
        if t.fast and _compiled.enabled():
            return _compiled.pairwise_products(a, b)
        return _pairwise([t.term(j) for j in range(k)])
    if order == "lanes_4_halving":
        return _halving([_from_first(t, range(r, k, 4), fused=False) for r in range(min(4, k))])
    if order == "lane_halving":
        return _halving([t.term(j) for j in range(k)])
    raise ValueError(f"muon: unknown matmul order {order!r}")


# Which order each framework's CPU kernel uses for the three products of one Newton–Schulz
# step (X X^T, A A, B X). "aten_bfloat16" and "onednn_sgemm" follow their kernels at every
# shape, "mkl_sgemm" from 12 x 12 outputs (:func:`_product_order`); the other entries are
# the orders measured on the (4, 16) conformance shape, where the kernels (XLA:CPU's
# YNNPACK dots, MKL's small-matrix kernels) choose their loops by a shape heuristic that
# is not reproduced (``conformance.cases.SHAPE_DEPENDENT``).
_KERNEL_ORDERS = {
    "float64_rounded": ("float64_rounded",) * 3,
    "aten_bfloat16": ("aten_bfloat16",) * 3,
    # TensorFlow's MatMul with oneDNN on (its default on x86): dnnl_sgemm.
    "onednn_sgemm": ("onednn_sgemm",) * 3,
    "fma_chain": ("fma_chain",) * 3,
    # XLA:CPU (YNNPACK): K = 16 in four FMA lanes; 4x4 @ 4x4 a chain; 4x4 @ 4x16 pairwise.
    "xla_cpu": ("fma_lanes_4", "fma_chain", "pairwise"),
    # torch float32 matmul (MKL sgemm) below 12 x 12 outputs: X @ X.T (a transposed view)
    # in four unfused lanes, 4x4 @ 4x4 a plain k-ordered sum, 4x4 @ 4x16 an FMA chain.
    "mkl_sgemm": ("lanes_4_halving", "sequential", "fma_chain"),
    "namespace": ("namespace",) * 3,
}


def _product_order(kernel, product, rows, cols):
    """The order of Newton–Schulz product ``product`` (0: X X^T, 1: A A, 2: B X) with a
    ``rows`` x ``cols`` output under ``kernel``."""
    if kernel == "mkl_sgemm" and min(rows, cols) >= MKL_BLOCKED_MIN:
        return "mkl_sgemm"
    return _KERNEL_ORDERS[kernel][product]


# -- Newton–Schulz -----------------------------------------------------------------------

def newton_schulz(x, *, coefficients=QUINTIC, steps=5, eps=1e-7,
                  normalization="divide_by_norm_plus_eps", precision="param",
                  ns_form="scaled_operand", matmul_kernel="float64_rounded",
                  norm_reduction="float64_rounded", division="divide"):
    r"""The quintic Newton–Schulz orthogonalization of a 2-D array, as a dialect runs it.

    A tall ``x`` (rows > cols) is transposed first and back at the end, so the Gram
    matrix :math:`X X^\\top` is the small one.

    Args:
        coefficients: :math:`(a, b, c)`; Python floats, cast to the working dtype.
        steps: number of iterations :math:`K`.
        eps: the normalization's epsilon.
        normalization: ``"divide_by_norm_clamped_to_eps"`` (torch:
            :math:`X / \\max(\\lVert X\\rVert_F, \\epsilon)`) or ``"divide_by_norm_plus_eps"``
            (Keras, optax: :math:`X / (\\lVert X\\rVert_F + \\epsilon)`).
        precision: ``"bfloat16"`` (torch: ``grad.bfloat16()``, every op rounded to
            bfloat16 after a float32 computation) or ``"param"``.
        ns_form: ``"torch_addmm"``: :math:`B = \\mathrm{fma}(b, A, c\\,(AA))`,
            :math:`X = \\mathrm{fma}(a, X, BX)` (oneDNN's alpha/beta epilogue), or
            ``"scaled_operand"``: :math:`B = bA + (cA)A`, :math:`X = aX + BX` (Keras), or
            ``"scaled_operand_fma"``: the same with both sums fused,
            :math:`B = \mathrm{fma}(b, A, (cA)A)`, :math:`X = \mathrm{fma}(a, X, BX)` (optax:
            the loop is XLA-compiled even eagerly, and its loop fusions contract them).
        matmul_kernel: whose matmul summation order to reproduce (see :func:`_product_order`).
        norm_reduction: how :math:`\lVert X\rVert_F^2` is summed, see :mod:`eps_ref.rules._reductions`.
        division: ``"divide"`` or ``"multiply_by_reciprocal"`` (:math:`X \cdot (1/d)`: jax's
            jitted ``divide`` by a broadcast scalar, rewritten by XLA's simplifier).
    """
    _check("normalization", normalization, NORMALIZATIONS)
    _check("precision", precision, NS_PRECISIONS)
    _check("ns_form", ns_form, NS_FORMS)
    _check("matmul_kernel", matmul_kernel, MATMUL_KERNELS)
    _check("norm_reduction", norm_reduction, NORM_REDUCTIONS)
    _check("division", division, DIVISIONS)
    xp = array_namespace(x)
    a, b, c = (float(v) for v in coefficients)
    low = precision == "bfloat16"
    rnd = round_to_bfloat16 if low else (lambda v: v)

    tall = x.shape[0] > x.shape[1]
    x = rnd(x)
    stored = x
    if tall:
        x = xp.matrix_transpose(x)
    # Frobenius norm, square root correctly rounded (the norm kernels' std::sqrt, vsqrtps).
    # torch's reductions walk a transposed view in its storage order (TensorIterator
    # sorts the dimensions by stride); TensorFlow's transpose is materialized first.
    storage_order = norm_reduction in ("torch_cpu_norm", "torch_cpu_avx2")
    norm = rnd(sqrt(sum_of_squares(stored if storage_order else x, reduction=norm_reduction),
                    "correctly_rounded"))
    if normalization == "divide_by_norm_clamped_to_eps":
        x = rnd(x / xp.maximum(norm, rnd(_scalar(xp, eps, x))))
    elif division == "multiply_by_reciprocal":
        x = x * (1 / (norm + eps))
    else:
        x = x / (norm + eps)
    # torch holds a tall matrix as the transposed view grad.T until the first addmm writes
    # a new row-major X, and its bfloat16 gemm picks its loops by layout.
    view = "t" if tall else "n"
    m, n = x.shape
    gram_order, square_order, apply_order = (_product_order(matmul_kernel, i, m, cols)
                                             for i, cols in enumerate((m, m, n)))
    for _ in range(steps):
        gram = rnd(matmul(x, xp.matrix_transpose(x), gram_order,
                          layout="tn" if view == "t" else "nt"))
        if ns_form == "torch_addmm":
            # torch.addmm(A, A, A, beta=b, alpha=c); torch.addmm(X, B, X, beta=a): the
            # kernel scales the fp32 accumulator by alpha, then adds beta*C in one FMA.
            poly = rnd(fma(xp.full_like(gram, b), gram, c * matmul(gram, gram, square_order)))
            x = rnd(fma(xp.full_like(x, a), x, matmul(poly, x, apply_order, layout="n" + view)))
        elif ns_form == "scaled_operand_fma":
            # optax: the loop is compiled (fori_loop -> scan), and XLA's loop fusions
            # contract b*A + D and a*X + D into FMAs.
            poly = fma(xp.full_like(gram, b), gram, matmul(c * gram, gram, square_order))
            x = fma(xp.full_like(x, a), x, matmul(poly, x, apply_order, layout="n" + view))
        else:
            poly = b * gram + matmul(c * gram, gram, square_order)
            x = a * x + matmul(poly, x, apply_order, layout="n" + view)
        view = "n"
    if tall:
        x = xp.matrix_transpose(x)
    return x


# -- the rule ----------------------------------------------------------------------------

def init(param, *, momentum_form="torch_lerp", non_matrix_adamw=None):
    """The momentum slot, zeros, under the framework's name; with ``non_matrix_adamw``, a
    parameter that is not 2-D gets the AdamW slots instead (:func:`step`)."""
    _check("momentum_form", momentum_form, MOMENTUM_FORMS)
    if non_matrix_adamw is not None and param.ndim != 2:
        return adam.init(param, **adam.adam.init_kwargs(non_matrix_adamw))
    xp = array_namespace(param)
    return {_SLOT[momentum_form]: xp.zeros_like(param)}


def _lerp(xp, start, end, weight):
    """ATen's CPU ``start.lerp(end, weight)`` with a Python weight cast to float32:
    ``fma(w, end - start, start)`` for w < 0.5, else ``fma(w - 1, end - start, end)``."""
    w = xp.full_like(start, weight)
    if float(weight) < 0.5:
        return fma(w, end - start, start)
    return fma(w - 1, end - start, end)


def _momentum(xp, grad, m, *, t, momentum, momentum_form, lookahead, correction_op):
    """New buffer and the direction to orthogonalize."""
    nesterov = lookahead == "nesterov"
    if momentum_form == "torch_lerp":
        # buf.lerp_(g, 1 - mu); update = g.lerp(buf, mu). ATen's lerp is
        # fma(w, end - self, self) for w < 0.5, else fma(w - 1, end - self, end).
        m = _lerp(xp, m, grad, 1 - momentum)
        return m, (_lerp(xp, grad, m, momentum) if nesterov else m)
    if momentum_form == "keras":
        # assign_add(m, g + m * (mu - 1)); Nesterov g + mu * m.
        m = m + (grad + m * (momentum - 1))
        return m, (grad + momentum * m if nesterov else m)
    # optax: mu = (1-b) g + b mu; Nesterov b * mu_hat(t+1) + (1-b) * g_hat(t) with
    # both bias corrections from the jitted tree_bias_correction.
    m = (1 - momentum) * grad + momentum * m
    if nesterov:
        d = (momentum * _bias_corrected(xp, m, momentum, t + 1, correction_op)
             + (1 - momentum) * _bias_corrected(xp, grad, momentum, t, correction_op))
    else:
        d = _bias_corrected(xp, m, momentum, t, correction_op)
    return m, d


def _shape_scale(lr_scale, rows, cols, rms_rate):
    """:math:`s(m, n)` as a Python float (before the dialect's own rounding)."""
    if lr_scale == "none":
        return 1.0
    if lr_scale == "sqrt_rows_over_cols":
        return math.sqrt(max(1, rows / cols))
    if lr_scale == "sqrt_cols_over_rows":
        return math.sqrt(max(1, cols / rows))
    return rms_rate * math.sqrt(max(rows, cols))


def step(param, grad, slots, *, t, lr, momentum=0.95, weight_decay=0.0,
         ns_coefficients=QUINTIC, ns_steps=5, eps=1e-7, rms_rate=0.2,
         momentum_form="torch_lerp", lookahead="nesterov",
         normalization="divide_by_norm_clamped_to_eps", ns_precision="bfloat16",
         ns_form="torch_addmm", matmul_kernel="aten_bfloat16",
         norm_reduction="float64_rounded", division="divide", lr_scale="sqrt_rows_over_cols",
         apply_form="torch", correction_op="multiply_by_reciprocal", non_matrix_adamw=None):
    """One Muon step on a 2-D parameter (or, with ``non_matrix_adamw``, the AdamW step on
    any other).

    Args:
        param, grad: 2-D arrays of one floating dtype; neither is modified.
        slots: from :func:`init` or the previous step.
        t: 1-based step number (optax's bias correction).
        lr: learning rate :math:`\\eta`.
        momentum: :math:`\\mu` (torch ``momentum``, Keras ``momentum``, optax ``beta``).
        weight_decay: decoupled :math:`\\lambda`, scaled by :math:`\\eta`.
        ns_coefficients, ns_steps, eps, normalization, ns_precision, ns_form,
            matmul_kernel, norm_reduction, division: see :func:`newton_schulz`.
        rms_rate: :math:`r` of ``lr_scale="rms_matched"``.
        momentum_form: ``"torch_lerp"``, ``"keras"`` or ``"optax_bias_corrected"``.
        lookahead: ``"nesterov"`` or ``"none"``.
        lr_scale: the shape factor :math:`s(m, n)`, see the module docstring.
        correction_op: ``momentum_form="optax_bias_corrected"``: how optax's jitted
            ``optax.tree.bias_correction`` applies :math:`1/(1-\\mu^t)`:
            ``"multiply_by_reciprocal"`` (the default; XLA's rewrite on a tree of one
            matrix) or ``"divide"`` (several matrices; the optax dialect picks it per tree,
            :func:`eps_ref.frameworks.optax.tree_bias_correction`).
        non_matrix_adamw: ``None`` (the default: a parameter that is not 2-D is refused, as
            ``torch.optim.Muon`` refuses it) or the :mod:`eps_ref.rules.adam` keywords of
            the AdamW step such a parameter takes instead: ``optax.contrib.muon`` labels
            every leaf that is not 2-D ``"adam"`` (its default
            ``muon_weight_dimension_numbers``) and runs ``optax.adamw`` on those leaves
            through ``optax.partition``.
        apply_form: how the step is rounded:

            - ``"torch"``: :math:`\\theta (1 - \\eta\\lambda)` (Python scalar), then
              ``add_(O, alpha=-eta*s)``, one FMA with :math:`\\eta s` in float64 first;
            - ``"keras"``: :math:`\\theta - \\theta\\lambda\\eta` first, then
              :math:`\\theta - ((\\eta O)\\sqrt{\\max(m,n)})\\,r` (``rms_rate`` None:
              :math:`\\theta - \\eta O`);
            - ``"optax"``: :math:`u = s O`, :math:`u + \\lambda\\theta`,
              :math:`\\theta + (-\\eta) u`.

    Returns:
        ``(new_param, new_slots)``.
    """
    _check("momentum_form", momentum_form, MOMENTUM_FORMS)
    _check("lookahead", lookahead, LOOKAHEADS)
    _check("lr_scale", lr_scale, LR_SCALES)
    _check("apply_form", apply_form, APPLY_FORMS)
    _check("correction_op", correction_op, DIVISIONS)
    xp = array_namespace(param, grad)
    if param.ndim != 2:
        if non_matrix_adamw is not None:
            return adam.step(param, grad, slots, t=t, **non_matrix_adamw)
        raise ValueError(f"muon: the rule is for 2-D parameters, got shape {tuple(param.shape)}")
    rows, cols = param.shape
    slot = _SLOT[momentum_form]
    m, direction = _momentum(xp, grad, slots[slot], t=t, momentum=momentum,
                             momentum_form=momentum_form, lookahead=lookahead,
                             correction_op=correction_op)
    ortho = newton_schulz(direction, coefficients=ns_coefficients, steps=ns_steps, eps=eps,
                          normalization=normalization, precision=ns_precision,
                          ns_form=ns_form, matmul_kernel=matmul_kernel,
                          norm_reduction=norm_reduction, division=division)
    scale = _shape_scale(lr_scale, rows, cols, rms_rate)

    if apply_form == "torch":
        param = decoupled_lr_scaled_torch(param, weight_decay, lr)
        new_param = fma(ortho, xp.full_like(param, -(lr * scale)), param)
    elif apply_form == "keras":
        param = decoupled_lr_scaled_keras(param, weight_decay, lr)
        u = _scalar(xp, lr, param) * ortho
        if lr_scale == "rms_matched":
            # x * ops.sqrt(ops.maximum(m, n)) * rms_rate: a float32 root of an integer.
            u = (u * _scalar(xp, math.sqrt(max(rows, cols)), param)) * rms_rate
        elif lr_scale != "none":
            raise ValueError(f"muon: apply_form='keras' has no lr_scale={lr_scale!r}")
        new_param = param - u
    else:
        if lr_scale == "rms_matched":
            # jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms, in float32.
            u = (_scalar(xp, math.sqrt(max(rows, cols)), param) * rms_rate) * ortho
        elif lr_scale == "sqrt_cols_over_rows":
            # jnp.sqrt(jnp.maximum(1, fan_out / fan_in)): the ratio rounded, then the root.
            u = sqrt(_scalar(xp, max(1.0, cols / rows), param), "correctly_rounded") * ortho
        elif lr_scale == "none":
            u = ortho
        else:
            raise ValueError(f"muon: apply_form='optax' has no lr_scale={lr_scale!r}")
        if weight_decay != 0:
            u = u + weight_decay * param
        new_param = param + (-lr) * u
    return new_param, {slot: m}


muon = Rule("muon", init, step)


# -- Keras: Muon on the matrices, AdamW on every other variable ---------------------------

def init_with_adamw(param, *, momentum_form="keras"):
    """Keras' slots: ``"momentum"`` for a 2-D variable; ``"momentum"`` and ``"velocity"``
    (Adam's first and second moments) for any other."""
    if param.ndim == 2:
        return init(param, momentum_form=momentum_form)
    xp = array_namespace(param)
    return {"momentum": xp.zeros_like(param), "velocity": xp.zeros_like(param)}


def step_with_adamw(param, grad, slots, *, t, lr, weight_decay=0.0, adamw, **muon_kwargs):
    r"""One step of ``keras.optimizers.Muon`` on one variable: :func:`step` (with
    ``lr``, ``weight_decay`` and ``muon_kwargs``) on a 2-D variable; on any other (biases,
    norms, 4-D kernels: ``Muon._should_use_adamw``) Keras' ``_adamw_update_step``, which is
    Keras Adam's ``update_step``:

    .. math::

        	heta &\leftarrow 	heta - (	heta\lambda_a)\eta \quad	ext{(``_apply_weight_decay``)}\
        lpha &= \mathrm{fl}(\eta
ho)\sqrt{1-eta_2^t}/(1-eta_1^t), \quad
        m \mathrel{+}= (g - m)(1-eta_1), \quad v \mathrel{+}= (g^2 - v)(1-eta_2) \
        	heta &\leftarrow 	heta - mlpha / (\sqrt v + \hatarepsilon)

    ``adamw``: the keywords of :func:`eps_ref.rules.adam.step` for that path (``lr`` is
    :math:`\mathrm{fl}(\eta
ho)` with ``adam_lr_ratio`` :math:`
ho`) plus
    ``"weight_decay"``, the ``adam_weight_decay`` :math:`\lambda_a`, which Muon's
    ``_apply_weight_decay`` scales by the unscaled :math:`\eta` (``lr``) on every backend.
    The variable's path (``exclude_layers``, ``exclude_embeddings``) is not seen here: every
    2-D variable takes the Muon step."""
    if param.ndim == 2:
        return step(param, grad, slots, t=t, lr=lr, weight_decay=weight_decay, **muon_kwargs)
    adam_kwargs = dict(adamw)
    param = decoupled_lr_scaled_keras(param, adam_kwargs.pop("weight_decay"), lr)
    new_param, moments = adam.step(param, grad, {"m": slots["momentum"],
                                                 "v": slots["velocity"]},
                                   t=t, weight_decay=0.0, weight_decay_mode="none",
                                   **adam_kwargs)
    return new_param, {"momentum": moments["m"], "velocity": moments["v"]}


muon_with_adamw = Rule("muon", init_with_adamw, step_with_adamw)
"""``keras.optimizers.Muon``: :func:`step` on 2-D variables, Keras Adam elsewhere."""

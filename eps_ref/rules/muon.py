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
``momentum_form``, ``ns_form``, ``matmul_kernel``); see :func:`step`.

Sources: torch/optim/_muon.py (2.13), keras/src/optimizers/muon.py (3.15),
optax/contrib/_muon.py (0.2.8).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma
from eps_ref.rules._reductions import REDUCTIONS, sum_of_squares
from eps_ref.rules._roots import sqrt
from eps_ref.rules.rmsprop import _bias_corrected
from eps_ref.rules.weight_decay import decoupled_lr_scaled_keras, decoupled_lr_scaled_torch

__all__ = ["muon", "newton_schulz", "round_to_bfloat16", "matmul", "onednn_k_block", "QUINTIC"]

QUINTIC = (3.4445, -4.7750, 2.0315)
"""Jordan's quintic Newton–Schulz coefficients (a, b, c), shared by all three dialects."""

MOMENTUM_FORMS = ("torch_lerp", "keras", "optax_bias_corrected")
LOOKAHEADS = ("none", "nesterov")
NS_PRECISIONS = ("bfloat16", "param")
NORMALIZATIONS = ("divide_by_norm_clamped_to_eps", "divide_by_norm_plus_eps")
NS_FORMS = ("torch_addmm", "scaled_operand", "scaled_operand_fma")
MATMUL_KERNELS = ("aten_bfloat16", "float64_rounded", "fma_chain", "eigen", "xla_cpu", "mkl_sgemm",
                  "namespace")
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

def _outer_terms(xp, a, b):
    """The K rank-one terms of ``a @ b`` (each rounded to the dtype), in k order."""
    shape = (a.shape[0], b.shape[1])
    return [(xp.broadcast_to(a[:, k:k + 1], shape), xp.broadcast_to(b[k:k + 1, :], shape))
            for k in range(a.shape[1])]


def _fma_chain(xp, terms):
    acc = terms[0][0] * terms[0][1]
    for u, v in terms[1:]:
        acc = fma(u, v, acc)
    return acc


def _pairwise(parts):
    while len(parts) > 1:
        parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


ONEDNN_MIN_SIZE = 16 * 16 * 16
"""torch's bfloat16 matmul goes to oneDNN past this ``m * k * n`` (``Matmul.cpp``)."""


def onednn_k_block(k: int) -> int:
    """The K block of oneDNN's bfloat16 gemm on this host (Zen 4, 1 and 2 threads): 512 up
    to K = 1024, then 1024. Measured against ``X @ X.T`` for K from 33 to 2048 (at 3072
    and 4096 every blocking tried gave the same bfloat16 results)."""
    return 512 if k <= 1024 else 1024


def _onednn_bf16(xp, a, b):
    """``a @ b`` as :func:`matmul`'s ``"onednn_bf16"`` sums it."""
    k = a.shape[1]
    block = onednn_k_block(k)
    total = None
    for start in range(0, k, block):
        stop = min(start + block, k)
        acc = None
        for j in range(start, stop, 2):
            for i in ((j + 1, j) if j + 1 < stop else (j,)):
                term = a[:, i:i + 1] * b[i:i + 1, :]      # exact: bfloat16 operands
                acc = term if acc is None else acc + term
        total = acc if total is None else total + acc
    return total


def matmul(a, b, order="float64_rounded"):
    """``a @ b`` for 2-D arrays, summed in one of the orders CPU kernels use.

    - ``"float64_rounded"``: products and sums in float64, rounded once. Exact for the
      bfloat16-valued operands of torch's Muon (their products have 16 bits), which is
      what oneDNN's bf16 gemm with fp32 accumulation then rounds.
    - ``"fma_chain"``: :math:`((a_0b_0 + a_1b_1) + \\dots)` with every step one FMA.
    - ``"sequential"``: the same chain, unfused.
    - ``"fma_lanes_4"``: four FMA chains over k mod 4, added pairwise ((0+1)+(2+3)).
    - ``"pairwise"``: the K products added pairwise.
    - ``"lanes_4_halving"``: four unfused chains over k mod 4, then (0 + 2) + (1 + 3).
    - ``"lane_halving"``: the K products as vector lanes; the upper half of the lanes is
      added onto the lower half until one lane is left (a horizontal reduction).
    - ``"onednn_bf16"``: oneDNN's bfloat16 gemm (``vdpbf16ps``): the k pairs in order, each
      adding its odd term, then its even term, to a float32 accumulator (exact products,
      every sum rounded); K in blocks (:func:`onednn_k_block`) whose sums are added in
      order.
    - ``"aten_bfloat16"``: what torch's CPU ``mm``/``addmm`` on bfloat16 runs: oneDNN
      (``"onednn_bf16"``) once ``m k n > 16^3`` (``use_mkldnn_bf16_matmul``'s size check),
      ATen's own kernel below (``"lane_halving"``).
    - ``"namespace"``: the namespace's own ``matmul`` (numpy: OpenBLAS).
    """
    xp = array_namespace(a, b)
    if order == "namespace":
        return xp.matmul(a, b)
    if order == "float64_rounded":
        return xp.astype(xp.matmul(xp.astype(a, xp.float64), xp.astype(b, xp.float64)),
                         a.dtype)
    if order == "aten_bfloat16":
        big = a.shape[0] * a.shape[1] * b.shape[1] > ONEDNN_MIN_SIZE
        order = "onednn_bf16" if big else "lane_halving"
    if order == "onednn_bf16":
        return _onednn_bf16(xp, a, b)
    terms = _outer_terms(xp, a, b)
    if order == "fma_chain":
        return _fma_chain(xp, terms)
    if order == "sequential":
        acc = terms[0][0] * terms[0][1]
        for u, v in terms[1:]:
            acc = acc + u * v
        return acc
    if order == "fma_lanes_4":
        lanes = [_fma_chain(xp, terms[r::4]) for r in range(min(4, len(terms)))]
        return _pairwise(lanes)
    if order == "pairwise":
        return _pairwise([u * v for u, v in terms])
    if order == "lanes_4_halving":
        lanes = []
        for r in range(min(4, len(terms))):
            acc = None
            for u, v in terms[r::4]:
                acc = u * v if acc is None else acc + u * v
            lanes.append(acc)
        while len(lanes) > 1:
            h = len(lanes) // 2
            lanes = [lanes[i] + lanes[i + h] for i in range(h)] + lanes[2 * h:]
        return lanes[0]
    if order == "bf16_dot_pairs":
        acc = None
        for k in range(0, len(terms) - 1, 2):
            for u, v in (terms[k + 1], terms[k]):
                acc = u * v if acc is None else acc + u * v
        if len(terms) % 2:
            acc = terms[-1][0] * terms[-1][1] if acc is None else acc + terms[-1][0] * terms[-1][1]
        return acc
    if order == "lane_halving":
        parts = [u * v for u, v in terms]
        while len(parts) > 1:
            h = len(parts) // 2
            parts = [parts[i] + parts[i + h] for i in range(h)] + parts[2 * h:]
        return parts[0]
    raise ValueError(f"muon: unknown matmul order {order!r}")


# Which order each framework's CPU kernel uses for the three products of one Newton–Schulz
# step (X X^T, A A, B X), measured on this project's (4, 16) conformance shape against
# random float32 operands (see the report): the choice depends on the shape, so other
# shapes may differ by an ULP per product (declared as budgets, never assumed).
_KERNEL_ORDERS = {
    "float64_rounded": ("float64_rounded",) * 3,
    # torch's bfloat16 mm/addmm on CPU: small products (m k n <= 16^3, the conformance
    # shapes) in ATen's kernel, the K exact products in float32 lanes reduced by adding the
    # upper half of the lanes onto the lower half until one is left (bit-exact over the
    # 5000 Newton-Schulz steps of the conformance run, where a float64 sum differs at 4
    # near-ties of the bfloat16 rounding); larger ones in oneDNN's, see matmul().
    "aten_bfloat16": ("aten_bfloat16",) * 3,
    # TF matmul (Eigen contraction / oneDNN): one k-ordered FMA chain.
    "eigen": ("fma_chain",) * 3,
    "fma_chain": ("fma_chain",) * 3,
    # XLA:CPU dot emitter: K = 16 in four FMA lanes; 4x4 @ 4x4 a chain; 4x4 @ 4x16 pairwise.
    "xla_cpu": ("fma_lanes_4", "fma_chain", "pairwise"),
    # torch float32 matmul (MKL sgemm): X @ X.T (a transposed view) in four unfused lanes,
    # 4x4 @ 4x4 a plain k-ordered sum, 4x4 @ 4x16 an FMA chain.
    "mkl_sgemm": ("lanes_4_halving", "sequential", "fma_chain"),
    "namespace": ("namespace",) * 3,
}


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
        matmul_kernel: whose matmul summation order to reproduce (see ``_KERNEL_ORDERS``).
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
    gram_order, square_order, apply_order = _KERNEL_ORDERS[matmul_kernel]

    tall = x.shape[0] > x.shape[1]
    x = rnd(x)
    if tall:
        x = xp.matrix_transpose(x)
    # Frobenius norm, square root correctly rounded (the norm kernels' std::sqrt, vsqrtps).
    norm = rnd(sqrt(sum_of_squares(x, reduction=norm_reduction), "correctly_rounded"))
    if normalization == "divide_by_norm_clamped_to_eps":
        x = rnd(x / xp.maximum(norm, rnd(_scalar(xp, eps, x))))
    elif division == "multiply_by_reciprocal":
        x = x * (1 / (norm + eps))
    else:
        x = x / (norm + eps)
    for _ in range(steps):
        gram = rnd(matmul(x, xp.matrix_transpose(x), gram_order))
        if ns_form == "torch_addmm":
            # torch.addmm(A, A, A, beta=b, alpha=c); torch.addmm(X, B, X, beta=a): the
            # kernel scales the fp32 accumulator by alpha, then adds beta*C in one FMA.
            poly = rnd(fma(xp.full_like(gram, b), gram, c * matmul(gram, gram, square_order)))
            x = rnd(fma(xp.full_like(x, a), x, matmul(poly, x, apply_order)))
        elif ns_form == "scaled_operand_fma":
            # optax: the loop is compiled (fori_loop -> scan), and XLA's loop fusions
            # contract b*A + D and a*X + D into FMAs.
            poly = fma(xp.full_like(gram, b), gram, matmul(c * gram, gram, square_order))
            x = fma(xp.full_like(x, a), x, matmul(poly, x, apply_order))
        else:
            poly = b * gram + matmul(c * gram, gram, square_order)
            x = a * x + matmul(poly, x, apply_order)
    if tall:
        x = xp.matrix_transpose(x)
    return x


# -- the rule ----------------------------------------------------------------------------

def init(param, *, momentum_form="torch_lerp"):
    """The momentum slot, zeros, under the framework's name."""
    _check("momentum_form", momentum_form, MOMENTUM_FORMS)
    xp = array_namespace(param)
    return {_SLOT[momentum_form]: xp.zeros_like(param)}


def _lerp(xp, start, end, weight):
    """ATen's CPU ``start.lerp(end, weight)`` with a Python weight cast to float32:
    ``fma(w, end - start, start)`` for w < 0.5, else ``fma(w - 1, end - start, end)``."""
    w = xp.full_like(start, weight)
    if float(weight) < 0.5:
        return fma(w, end - start, start)
    return fma(w - 1, end - start, end)


def _momentum(xp, grad, m, *, t, momentum, momentum_form, lookahead):
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
        d = (momentum * _bias_corrected(xp, m, momentum, t + 1)
             + (1 - momentum) * _bias_corrected(xp, grad, momentum, t))
    else:
        d = _bias_corrected(xp, m, momentum, t)
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
         apply_form="torch"):
    """One Muon step on a 2-D parameter.

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
    xp = array_namespace(param, grad)
    if param.ndim != 2:
        raise ValueError(f"muon: the rule is for 2-D parameters, got shape {tuple(param.shape)}")
    rows, cols = param.shape
    slot = _SLOT[momentum_form]
    m, direction = _momentum(xp, grad, slots[slot], t=t, momentum=momentum,
                             momentum_form=momentum_form, lookahead=lookahead)
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

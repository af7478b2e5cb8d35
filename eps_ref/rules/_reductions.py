r"""Whole-array sums of squares and 2-norms, in the order and rounding of each framework's
CPU kernel.

LAMB, LARS, Muon, Fromage, NovoGrad and gradient clipping all take :math:`\lVert x\rVert_2`
of a whole array; a float32 sum rounds differently in every kernel, and the trust ratios and
clipping coefficients built on it carry that rounding into every parameter. Each order is
named by the kernel it reproduces (``reduction=``):

``"xla_cpu_fused_fma"``
    ``jnp.linalg.norm`` on XLA:CPU (jitted, so the square fuses into the reduction and LLVM
    contracts it): :math:`s \leftarrow \mathrm{fma}(x_i, x_i, s)` from 0, row-major.
``"xla_cpu_sequential"``
    eager ``jnp.sum(x * x)``: squares rounded, one float32 accumulator, row-major
    (:func:`eps_ref.norms._stats.reduce_sum`, ``"xla_cpu"``).
``"eigen_avx_4x8"``
    ``tf.reduce_sum(x * x)``: squares rounded, then :func:`eigen_sum`.
``"torch_cpu_avx2"``
    ``torch.sum(x * x)``: torch's CPU cascade sum (:func:`eps_ref.norms._torch_cpu.torch_sum`,
    8 lanes).
``"torch_cpu_norm"``
    ``torch.linalg.vector_norm(x)`` (``norm_two_reduce_step``): squares rounded and added
    into 8 lanes over the whole vectors, the lanes added left to right, then the tail
    (:func:`torch_norm_sums`).
``"float64_rounded"``
    the exact (float64) sum rounded once to ``x``'s dtype.

The torch orders match torch 2.13 at every length tried (``torch_cpu_norm``: 1 to 200
elements). The XLA orders were measured bit for bit on the (4, 16) float32 arrays of the
conformance suite only (jax 0.10.2): at other lengths XLA vectorizes its loop and reorders
the sum (``eps_ref.conformance.cases.SHAPE_DEPENDENT``). :func:`eigen_sum` matches
TensorFlow 2.21 on every length tried, from 1 to 4097 elements; past 4096 TensorFlow shards
a full reduction over its threads, which is not reproduced.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.norms._stats import reduce_sum
from eps_ref.norms._torch_cpu import torch_sum
from eps_ref.rules import _roots
from eps_ref.rules._numerics import fma

__all__ = ["REDUCTIONS", "SQUARE_OPS", "eigen_sum", "sum_of_squares", "l2_norm",
           "torch_norm_sums"]

REDUCTIONS = ("xla_cpu_fused_fma", "xla_cpu_sequential", "eigen_avx_4x8", "torch_cpu_avx2",
              "torch_cpu_norm", "float64_rounded")
SQUARE_OPS = ("multiply", "eigen_pow", "sleef_pow")

EIGEN_LANES = 8
"""float32 lanes of an Eigen packet in TensorFlow's CPU kernels (AVX ``Packet8f``)."""
EIGEN_ACCUMULATORS = 4
"""Packet accumulators Eigen's inner-most reducer deals consecutive packets to."""
TORCH_NORM_LANES = 8
"""float32 lanes of torch's vectorized ``vector_norm`` accumulator on AVX2/AVX-512."""


def _device(x):
    return getattr(x, "device", None)


def eigen_sum(flat):
    """``tf.reduce_sum`` of a float32 vector on CPU. Eigen's reducer adds the packets of 8
    in blocks of four into four packet accumulators (packet ``4j + r`` into accumulator
    ``r``), adds the accumulators as ``((a0 + a1) + a2) + a3``, adds the leftover whole
    packets one by one, halves the packet down to one lane (8 -> 4 -> 2 -> 1), and adds it
    to the in-order sum of the scalar tail: ``tail + packet``."""
    xp = array_namespace(flat)
    n, lanes, k = flat.shape[0], EIGEN_LANES, EIGEN_ACCUMULATORS
    packets = [flat[i:i + lanes] for i in range(0, n - n % lanes, lanes)]
    blocked = len(packets) - len(packets) % k
    packet = None
    if blocked:
        acc = packets[:k]
        for j in range(k, blocked, k):
            acc = [acc[r] + packets[j + r] for r in range(k)]
        packet = acc[0]
        for r in range(1, k):
            packet = packet + acc[r]
    for p in packets[blocked:]:
        packet = p if packet is None else packet + p
    tail = xp.zeros((), dtype=flat.dtype, device=_device(flat))
    for i in range(n - n % lanes, n):
        tail = tail + flat[i]
    if packet is None:
        return tail
    while packet.shape[0] > 1:
        half = packet.shape[0] // 2
        packet = packet[:half] + packet[half:]
    return tail + packet[0]


def torch_norm_sums(rows):
    r"""The sum of squares of each row of ``rows`` (shape ``(k, n)``, float32) as torch's
    CPU ``vector_norm`` over a contiguous last dimension accumulates it
    (``binary_kernel_reduce_lastdim``, ``cpu/ReduceOpsKernel.cpp``): whole vectors of 8
    go into 8 lanes, :math:`a \leftarrow a + x \cdot x` (square rounded), and the lanes are
    added left to right. The compiler splits the scalar loop over the ``n mod 8`` left: a
    block of 4 (when there are 4 or more) whose squares are rounded and added in order, then
    one fused multiply-add per element, :math:`s \leftarrow \mathrm{fma}(x, x, s)`.
    Measured bit for bit against torch 2.13 at every ``n`` from 1 to 200."""
    xp = array_namespace(rows)
    n, lanes = rows.shape[-1], TORCH_NORM_LANES
    vectorized = (n // lanes) * lanes
    acc = xp.zeros((rows.shape[0], lanes), dtype=rows.dtype, device=_device(rows))
    for d in range(0, vectorized, lanes):
        v = rows[:, d:d + lanes]
        acc = acc + v * v
    total = acc[:, 0]
    for j in range(1, lanes):
        total = total + acc[:, j]
    rounded = vectorized + 4 if n - vectorized >= 4 else vectorized
    for i in range(vectorized, rounded):
        total = total + rows[:, i] * rows[:, i]
    for i in range(rounded, n):
        total = fma(rows[:, i], rows[:, i], total)
    return total


def sum_of_squares(x, *, reduction: str, square_op: str = "multiply"):
    r""":math:`\sum_i x_i^2` over every element of ``x``, as a 0-d array of ``x``'s dtype,
    in the order and rounding of the kernel ``reduction`` names (module docstring).

    ``square_op`` is how each :math:`x_i^2` is rounded before the sum: ``"multiply"``
    (:math:`x_i x_i`) or ``"eigen_pow"`` (``tf.pow(x, 2.0)``, Eigen's vectorised float
    ``pow``, up to 1 ULP off the square; Keras on TensorFlow squares with
    ``ops.power(x, 2)``) or ``"sleef_pow"`` (``torch.pow(x, tensor(2.0))``, SLEEF's
    ``powf``, the same ``ops.power`` under Keras' torch backend). The fused and the
    torch-norm orders square as their kernels do.
    """
    xp = array_namespace(x)
    if reduction not in REDUCTIONS:
        raise ValueError(f"sum_of_squares: reduction must be one of {REDUCTIONS}, "
                         f"got {reduction!r}")
    if square_op not in SQUARE_OPS:
        raise ValueError(f"sum_of_squares: square_op must be one of {SQUARE_OPS}, "
                         f"got {square_op!r}")
    flat = xp.reshape(x, (-1,))
    if reduction == "xla_cpu_fused_fma":
        s = xp.zeros((), dtype=x.dtype, device=_device(x))
        for i in range(flat.shape[0]):
            s = fma(flat[i], flat[i], s)
        return s
    if reduction == "torch_cpu_norm":
        return xp.reshape(torch_norm_sums(xp.reshape(flat, (1, -1))), ())
    if reduction == "float64_rounded":
        return xp.astype(xp.sum(xp.astype(flat, xp.float64) ** 2), x.dtype)
    if square_op == "eigen_pow" and x.dtype == xp.float32:      # Eigen's float kernel
        from eps_ref.rules._eigen_pow import eigen_pow_float32
        squares = eigen_pow_float32(flat, 2.0)
    elif square_op == "sleef_pow" and x.dtype == xp.float32:    # ATen's tensor-tensor pow
        from eps_ref.rules._sleef_pow import sleef_powf
        squares = sleef_powf(flat, 2.0)
    else:
        squares = flat * flat
    if reduction == "xla_cpu_sequential":
        return xp.reshape(reduce_sum(squares, (0,), reduction="xla_cpu")[0], ())
    if reduction == "eigen_avx_4x8":
        return eigen_sum(squares)
    return xp.reshape(torch_sum(squares, (0,), lanes=8), ())


def l2_norm(x, *, reduction: str, sqrt_method: str = "correctly_rounded",
            square_op: str = "multiply"):
    r""":math:`\lVert x\rVert_2 = \sqrt{\sum_i x_i^2}` over all of ``x``: the squares and
    the sum as :func:`sum_of_squares` orders them, the root as ``sqrt_method``
    (:mod:`eps_ref.rules._roots`)."""
    return _roots.sqrt(sum_of_squares(x, reduction=reduction, square_op=square_op),
                       sqrt_method)

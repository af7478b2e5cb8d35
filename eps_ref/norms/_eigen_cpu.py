"""``tf.reduce_sum``/``tf.reduce_mean`` of float32 on CPU (TensorFlow 2.21, Eigen's AVX
build: packets of 8 floats), reproduced operation by operation with the Array API.

TensorFlow's reduction kernel (``core/kernels/reduction_ops_common.h``) first simplifies
the reduction (``ReductionHelper``): size-1 dimensions dropped, neighbours that are both
reduced or both kept merged. Then

* kept, reduced (two dimensions, the reduced one innermost): Eigen's inner-most reducer
  on each row (:func:`eigen_row_sums`);
* reduced, kept (the reduced one outermost): Eigen's reducer that keeps the inner-most
  dimension (:func:`eigen_column_sums`);
* four dimensions or more (``kept, reduced, kept, reduced``: a group norm): the input is
  transposed so that the reduced dimensions are last, then reduced by rows;
* reduced, kept, reduced (a group norm of one sample; a channels-first batch norm):
  Eigen's generic reducer, one accumulator per output, the last reduced dimension in the
  outer loop and the first in the inner one (:func:`eigen_outer_inner_sums`);
* everything reduced: Eigen's full reducer
  (:func:`eps_ref.rules._reductions.eigen_sum`, up to 4096 elements: past that TensorFlow
  shards it over its threads);
* kept, reduced, kept (an instance norm): the same reducer as reduced, kept, on the
  flattened outputs (:func:`eigen_column_sums`).

``tf.reduce_mean`` of float is the sum divided by the count in float32
(``ReduceEigenImpl<..., MeanReducer>``).

Eigen's inner-most reducer (``TensorReduction.h``, ``InnerMostDimReducer``): rows longer
than 8192 elements (packet size times ``LeafSize<float>`` = 1024) are split in two at the
first packet boundary (counted from the start of the *buffer*, not of the row) past half
the row, recursively, and the halves' sums added; a shorter piece deals its packets in
blocks of four to four packet accumulators, adds them ``((a_0 + a_1) + a_2) + a_3``, adds
the packets left over one by one, halves the packet (8 -> 4 -> 2 -> 1), and returns the
in-order sum of the scalar tail plus that: ``tail + packet``.

Measured bit for bit against TensorFlow 2.21 with one intra-op thread: rows of 1 to 1100
and 4095 to 100003 elements, columns of 7 to 8192 rows (alone and under a kept outer
dimension), and the shapes of conformance/test_keras_flax_norms_at_size.py.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

__all__ = ["EIGEN_LANES", "TREE_THRESHOLD", "reduce_sum", "eigen_row_sums",
           "eigen_column_sums", "eigen_outer_inner_sums"]

EIGEN_LANES = 8
"""float32 lanes of an Eigen packet in TensorFlow's CPU kernels (AVX ``Packet8f``)."""
ACCUMULATORS = 4
"""Packet accumulators of Eigen's unrolled loops."""
TREE_THRESHOLD = EIGEN_LANES * 1024
"""Elements of a row above which Eigen's inner-most reducer splits it in two."""


def _device(x):
    return getattr(x, "device", None)


def _leaf(rows):
    """Eigen's vectorized inner-most sum of each row of ``rows`` (shape ``(m, n)``)."""
    xp = array_namespace(rows)
    m, n = rows.shape
    lanes = EIGEN_LANES
    unrolled = (n // (ACCUMULATORS * lanes)) * ACCUMULATORS * lanes
    vectorized = (n // lanes) * lanes
    tail = xp.zeros((m,), dtype=rows.dtype, device=_device(rows))
    for j in range(vectorized, n):
        tail = tail + rows[:, j]
    if vectorized == 0:
        return tail
    if unrolled:
        acc = [rows[:, r * lanes:(r + 1) * lanes] for r in range(ACCUMULATORS)]
        for j in range(ACCUMULATORS * lanes, unrolled, lanes):
            r = (j // lanes) % ACCUMULATORS
            acc[r] = acc[r] + rows[:, j:j + lanes]
        packet = acc[0]
        for r in range(1, ACCUMULATORS):
            packet = packet + acc[r]
    else:
        packet = None
    for j in range(unrolled, vectorized, lanes):
        packet = rows[:, j:j + lanes] if packet is None else packet + rows[:, j:j + lanes]
    while packet.shape[1] > 1:
        half = packet.shape[1] // 2
        packet = packet[:, :half] + packet[:, half:]
    return tail + packet[:, 0]


def _tree(rows, first: int):
    """The inner-most reducer on the columns of ``rows`` that start at buffer offset
    ``first`` (the same for every row when the row length is a multiple of 8; see
    :func:`eigen_row_sums`)."""
    n = rows.shape[1]
    if n <= TREE_THRESHOLD:
        return _leaf(rows)
    lanes = EIGEN_LANES
    split = lanes * (-(-(first + -(-n // 2)) // lanes))
    left = min(split - first, n)
    total = _tree(rows[:, :left], first)
    if left < n:
        total = total + _tree(rows[:, left:], split)
    return total


def eigen_row_sums(rows):
    """``tf.reduce_sum(rows, axis=-1)`` of a C-contiguous ``(m, n)`` float32 array: Eigen's
    inner-most reducer on each row (module docstring). The split points of a long row
    are packet boundaries of the buffer, so rows whose offset ``r * n`` differs modulo 8
    split differently."""
    xp = array_namespace(rows)
    m, n = rows.shape
    if n <= TREE_THRESHOLD:
        return _leaf(rows)
    phases = {}
    for r in range(m):
        phases.setdefault((r * n) % EIGEN_LANES, []).append(r)
    out = [None] * m
    for phase, idx in phases.items():
        sums = _tree(xp.take(rows, xp.asarray(idx), axis=0), phase)
        for i, r in enumerate(idx):
            out[r] = sums[i]
    return xp.stack(out)


def eigen_column_sums(x):
    """``tf.reduce_sum(x, axis=-2)`` of a C-contiguous ``(k, n)`` or ``(a, k, n)`` float32
    array: Eigen's reducer that keeps the inner-most dimension. Eigen evaluates the
    flattened ``a * n`` outputs in aligned packets of 8; a packet that lies within one
    ``n``-row (and is not the ragged last one) deals the ``k`` rows to four packet
    accumulators in turn (row ``i`` to accumulator ``i mod 4``, with 16 rows or more), adds
    the accumulators in order, then the rows left over; every other output adds its rows
    in order."""
    xp = array_namespace(x)
    three = x.ndim == 3
    x3 = x if three else xp.reshape(x, (1,) + tuple(x.shape))
    a, k, n = x3.shape
    s = x3[:, 0, :]
    for i in range(1, k):
        s = s + x3[:, i, :]
    if k >= 4 * ACCUMULATORS:
        acc = [x3[:, i, :] for i in range(ACCUMULATORS)]
        dealt = (k // ACCUMULATORS) * ACCUMULATORS
        for i in range(ACCUMULATORS, dealt):
            acc[i % ACCUMULATORS] = acc[i % ACCUMULATORS] + x3[:, i, :]
        p = acc[0]
        for i in range(1, ACCUMULATORS):
            p = p + acc[i]
        for i in range(dealt, k):
            p = p + x3[:, i, :]
        flat = xp.reshape(xp.arange(a * n, device=_device(x)), (a, n))
        start = flat - flat % EIGEN_LANES
        row_start = flat - flat % n
        packed = (start >= row_start) & (start + EIGEN_LANES <= row_start + n) & \
            (start + EIGEN_LANES <= a * n)
        s = xp.where(packed, p, s)
    return s if three else s[0, ...]


def eigen_outer_inner_sums(x):
    """``tf.reduce_sum(x, axis=(0, 2))`` of a C-contiguous ``(a, b, c)`` float32 array:
    for each of the ``b`` outputs one accumulator, looping over the last axis outside and
    the first inside (Eigen's ``GenericDimReducer`` takes the reduced dimensions from the
    inner-most one out)."""
    xp = array_namespace(x)
    a, b, c = x.shape
    s = xp.zeros((b,), dtype=x.dtype, device=_device(x))
    for k in range(c):
        for i in range(a):
            s = s + x[i, :, k]
    return s


def _simplify(shape, axes):
    """TensorFlow's ``ReductionHelper``: ``[(size, reduced), ...]`` with size-1 dims
    dropped and neighbours of the same kind merged."""
    dims = []
    for d, size in enumerate(shape):
        if size == 1:
            continue
        red = d in axes
        if dims and dims[-1][1] == red:
            dims[-1] = (dims[-1][0] * size, red)
        else:
            dims.append((size, red))
    return dims


def reduce_sum(x, axes):
    """``tf.reduce_sum(x, axes, keepdims=True)`` of a C-contiguous float32 ``x`` on CPU
    (module docstring)."""
    xp = array_namespace(x)
    axes = {a % x.ndim for a in axes}
    keep_shape = tuple(1 if d in axes else x.shape[d] for d in range(x.ndim))
    dims = _simplify(tuple(x.shape), axes)
    if not any(red for _, red in dims):
        return xp.reshape(x, keep_shape)
    if len(dims) == 1:
        from eps_ref.rules._reductions import eigen_sum     # it imports the norms
        s = eigen_sum(xp.reshape(x, (-1,)))
    elif len(dims) == 2 and not dims[0][1]:
        s = eigen_row_sums(xp.reshape(x, (dims[0][0], dims[1][0])))
    elif len(dims) == 2 and dims[0][1]:
        s = eigen_column_sums(xp.reshape(x, (dims[0][0], dims[1][0])))
    elif len(dims) == 3 and not dims[0][1]:
        s = eigen_column_sums(xp.reshape(x, tuple(size for size, _ in dims)))
    elif len(dims) == 3 and dims[0][1]:
        s = eigen_outer_inner_sums(xp.reshape(x, tuple(size for size, _ in dims)))
    else:
        kept = [d for d in range(x.ndim) if d not in axes]
        moved = xp.permute_dims(x, tuple(kept + sorted(axes)))
        unreduced = math.prod(x.shape[d] for d in kept)
        s = eigen_row_sums(xp.reshape(moved, (unreduced, -1)))
    return xp.reshape(s, keep_shape)

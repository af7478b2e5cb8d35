r"""Float32 sums in the order and rounding of each framework's CPU kernel, at every length
and shape, and the sums of squares and 2-norms built on them.

LAMB, LARS, Muon, Fromage, NovoGrad, Adafactor and gradient clipping all reduce whole
arrays (or their rows and columns); a float32 sum rounds differently in every kernel, and
trust ratios, clipping coefficients and factored second moments carry that rounding into
every parameter. Each order is named by the kernel it reproduces (``reduction=`` of
:func:`sum_of_squares`):

``"eigen_avx_4x8"``
    ``tf.reduce_sum`` (TensorFlow 2.21, Eigen's ``TensorReduction.h`` on AVX), see
    :func:`eigen_reduce_sum`: packets of 8 dealt to four accumulators; past 8192 elements
    the ``InnerMostDimReducer`` splits the range in two halves at a packet boundary,
    recursively; a full reduction large enough for Eigen's cost model is sharded over the
    intra-op threads (``threads``) and the shards are added in order.
``"xla_cpu_sequential"``
    eager ``jnp.sum`` on XLA:CPU (jax 0.10.2), see :func:`xla_reduce_sum`: below 4096
    elements XLA's own loops (tree-reduction rewrite into windows of 32, LLVM's vectorized
    loops where it vectorizes them); from 4096 elements YNNPACK's reduce kernels (16 lanes,
    a cascade of blocks of 4, Kahan-compensated tiles) split into partial sums when XLA
    runs on more than one thread.
``"xla_cpu_fused_fma"``
    ``jnp.linalg.norm`` (jitted): the squares fused into the sum with one FMA each while
    no reduced dimension exceeds 32 elements and the array has fewer than 4096; otherwise
    rounded squares summed as ``"xla_cpu_sequential"`` (:func:`xla_jit_sum_of_squares`).
``"torch_cpu_avx2"``
    ``torch.sum`` (torch 2.13, ``cpu/SumKernel.cpp``): 8 lanes, four interleaved cascade
    sums; from 32768 elements a full reduction is split over the intra-op threads
    (``at::parallel_for``, ``threads``), see :func:`torch_full_sum`.
``"torch_cpu_norm"``
    ``torch.linalg.vector_norm``: squares into 8 lanes, lanes left to right, an FMA tail
    (:func:`torch_norm_sums`); one thread does the whole vector at any length.
``"float64_rounded"``
    the exact (float64) sum rounded once to ``x``'s dtype.

The orders are computed on a NumPy copy of the data and returned in the input's namespace
and device: a sequential float32 sum is a float32 ``cumulative_sum``, which NumPy rounds
step by step while torch accumulates it in float64 and XLA computes it as a parallel scan,
so the namespace's own ``cumulative_sum`` would not reproduce the kernels. Every order is
vectorized (reshapes into lanes, blocks and tiles, cumulative sums along them); what stays
a Python loop runs once per tile of 1024 elements (YNNPACK's compensated tiles) or once per
node of Eigen's tree (one per 8192 elements), never per element.

The orders were measured against the frameworks in process (``conformance/
test_reductions_at_size.py``) on an AVX-512 host: TensorFlow's wheel runs its AVX kernels
(8 float lanes), torch's sum kernel 8 lanes at every capability; YNNPACK its AVX-512
kernels (16 lanes).
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.norms._torch_cpu import torch_sum as _torch_sum_any_axes
from eps_ref.rules import _roots

__all__ = ["REDUCTIONS", "SQUARE_OPS", "eigen_sum", "eigen_reduce_sum", "eigen_num_threads",
           "xla_reduce_sum", "xla_jit_sum_of_squares", "torch_full_sum", "torch_reduce_sum",
           "reduce_sum", "stacked_sum", "sum_of_squares", "l2_norm", "torch_norm_sums"]

REDUCTIONS = ("xla_cpu_fused_fma", "xla_cpu_sequential", "eigen_avx_4x8", "torch_cpu_avx2",
              "torch_cpu_norm", "float64_rounded")
SQUARE_OPS = ("multiply", "eigen_pow", "sleef_pow")

EIGEN_LANES = 8
"""float32 lanes of an Eigen packet in TensorFlow's CPU kernels (AVX ``Packet8f``)."""
EIGEN_ACCUMULATORS = 4
"""Packet accumulators Eigen's inner-most reducer deals consecutive packets to."""
EIGEN_LEAF_PACKETS = 1024
"""``LeafSize<float>()``: the tree reducer splits ranges longer than this many packets."""
EIGEN_SUM_COMPUTE = 10.0 / EIGEN_LANES
"""Eigen's compute cost per coefficient of ``tf.reduce_sum``: ``functor_traits`` has no
entry for ``SumReducer``, so its cost is the default 10 cycles, per packet of 8
(:func:`eigen_num_threads`; measured: two shards from 108388 elements on two threads)."""
TORCH_LANES = 8
"""float32 lanes of torch's ``Vectorized<float>`` in ``SumKernel.cpp`` (8 at AVX2 and at
AVX-512 alike, measured)."""
TORCH_NORM_LANES = 8
"""float32 lanes of torch's vectorized ``vector_norm`` accumulator on AVX2/AVX-512."""
TORCH_GRAIN = 32768
"""``at::internal::GRAIN_SIZE``: below it a reduction runs on the calling thread."""
YNN_MIN_ELEMENTS = 4096
"""XLA:CPU hands a reduce to YNNPACK when it or its operand has this many elements."""
YNN_LANES = 16
"""float32 lanes of YNNPACK's AVX-512 sum kernels."""
YNN_TILE_VECTORS = 64
"""Vectors of 16 in one compensated tile of YNNPACK's contiguous (``k1``) sum kernel."""
YNN_TILE_ROWS = 256
"""Rows in one compensated tile of YNNPACK's strided (``kn``) sum kernel."""
YNN_TILE_AREA = 32768
"""Elements of one YNNPACK schedule tile; a reduction split into tiles (more than one
thread) is computed as partial sums per tile, then summed."""
XLA_WINDOW = 32
"""XLA:CPU's tree-reduction rewrite: reduced dimensions longer than this are first summed
in windows of this size."""


# -- host helpers -------------------------------------------------------------------------

def _host(x):
    return np.asarray(x)


def _back(a, like):
    """``a`` (NumPy) as an array of ``like``'s namespace, dtype and device."""
    xp = array_namespace(like)
    return xp.asarray(np.asarray(a, dtype=np.asarray(like).dtype), device=_device(like))


def _seq(a, axis=-1):
    """``((0 + a_0) + a_1) + ...`` along ``axis``: one accumulator, each addition rounded in
    ``a``'s dtype (a NumPy cumulative sum is sequential)."""
    a = np.asarray(a)
    axis = axis % a.ndim
    if a.shape[axis] == 0:
        return np.zeros(a.shape[:axis] + a.shape[axis + 1:], a.dtype)
    if a.shape[axis] <= SHORT_SEQUENCE:
        # The same additions as the cumulative sum, each one a vectorized pass over the
        # other axes (a cumulative sum along a short strided axis is a slow loop).
        terms = np.moveaxis(a, axis, 0)
        last = terms[0]
        for term in terms[1:]:
            last = last + term
    else:
        last = np.take(np.cumsum(a, axis=axis, dtype=a.dtype), -1, axis=axis)
    return last + a.dtype.type(0)          # 0 + x: a kernel's accumulator starts at +0


SHORT_SEQUENCE = 16
"""Axis lengths up to which :func:`_seq` adds slices in a Python loop instead of taking a
cumulative sum."""


def _halve(v):
    """Horizontal sum of the lanes on the last axis by halves: lane ``i`` plus lane
    ``i + n/2``, down to one."""
    while v.shape[-1] > 1:
        h = v.shape[-1] // 2
        v = v[..., :h] + v[..., h:]
    return v[..., 0]


# -- TensorFlow: Eigen's reducers ---------------------------------------------------------

def eigen_num_threads(n: int, threads: int, compute_cycles: float = EIGEN_SUM_COMPUTE,
                      bytes_loaded: float = 4.0) -> int:
    """``TensorCostModel<ThreadPoolDevice>::numThreads``: the threads Eigen's full reducer
    shards ``n`` coefficients over, from their cost (``bytes_loaded`` at 11/64 cycles a
    byte plus ``compute_cycles``), at most ``threads``: ``(cost - 1e5)/1e5 + 0.9``,
    truncated."""
    load_cycles = 1.0 / 64 * 11
    cost = n * (load_cycles * bytes_loaded + load_cycles * 0.0 + 1.0 * compute_cycles)
    estimate = min((cost - 100000) / 100000 + 0.9, 2147483647.0)
    return min(threads, max(1, int(estimate)))


def _eigen_leaf(rows):
    """``InnerMostDimReducer<..., vectorized, no tree>`` on each row of ``rows`` (k, n)."""
    k, n = rows.shape
    lanes, accs = EIGEN_LANES, EIGEN_ACCUMULATORS
    packet = np.zeros((k, lanes), rows.dtype)
    start = 0
    if n >= accs * lanes:
        unrolled = n // (accs * lanes) * (accs * lanes)
        acc = _seq(rows[:, :unrolled].reshape(k, -1, accs, lanes), axis=1)
        packet = ((acc[:, 0] + acc[:, 1]) + acc[:, 2]) + acc[:, 3]
        start = unrolled
    vectorized = n // lanes * lanes
    for j in range(start, vectorized, lanes):            # at most three packets
        packet = packet + rows[:, j:j + lanes]
    start = max(start, vectorized)
    return _seq(rows[:, start:], axis=1) + _halve(packet)


def _eigen_tree(first: int, n: int):
    """The ranges of Eigen's tree reducer for ``n`` values from absolute index ``first``:
    a leaf ``(offset, length)`` relative to ``first``, or a pair of subtrees."""
    lanes, leaf = EIGEN_LANES, EIGEN_LEAF_PACKETS
    if n <= lanes * leaf:
        return (0, n)
    split = lanes * -(-(first + -(-n // 2)) // lanes)
    left = min(split - first, n)
    if left >= n:
        return _eigen_tree(first, n)
    right = _shift(_eigen_tree(split, n - left), split - first)
    return (_eigen_tree(first, left), right)


def _shift(tree, offset):
    if isinstance(tree[0], tuple):
        return (_shift(tree[0], offset), _shift(tree[1], offset))
    return (tree[0] + offset, tree[1])


def _leaves(tree, out):
    if isinstance(tree[0], tuple):
        _leaves(tree[0], out)
        _leaves(tree[1], out)
    else:
        out.append(tree)
    return out


def _eigen_rows(rows, first: int = 0, row_stride: int | None = None):
    """``InnerMostDimReducer`` (with its tree past 8192 values) on each row of ``rows``
    (k, n), row ``r`` starting at absolute index ``first + r * row_stride`` of the input
    (the split points are aligned on absolute packet boundaries)."""
    k, n = rows.shape
    if n <= EIGEN_LANES * EIGEN_LEAF_PACKETS:
        return _eigen_leaf(rows)
    stride = n if row_stride is None else row_stride
    out = np.empty(k, rows.dtype)
    starts = first + stride * np.arange(k)
    for residue in np.unique(starts % EIGEN_LANES):
        picked = np.nonzero(starts % EIGEN_LANES == residue)[0]
        tree = _eigen_tree(int(residue), n)
        group = rows if len(picked) == k else rows[picked]
        sums = {off: _eigen_leaf(group[:, off:off + length])
                for off, length in _leaves(tree, [])}
        out[picked] = _eigen_combine(tree, sums)
    return out


def _eigen_combine(tree, sums):
    if isinstance(tree[0], tuple):
        return _eigen_combine(tree[0], sums) + _eigen_combine(tree[1], sums)
    return sums[tree[0]]


def eigen_sum(flat, *, threads: int = 1, compute_cycles: float = EIGEN_SUM_COMPUTE):
    """``tf.reduce_sum`` of every element of the vector ``flat`` on CPU (Eigen's
    ``FullReducer<ThreadPoolDevice>``): Eigen shards the ``n`` values over
    :func:`eigen_num_threads` threads when its cost model asks for more than one
    (``compute_cycles``: the expression's per-coefficient compute cost; ``tf.nn.l2_loss``
    squares and halves inside the reduction), as ``n // t`` blocks from absolute index
    ``i n // t`` plus the rest; the rest is summed first and the blocks are added to it in
    order. Each range is the inner-most reducer: packets of 8 dealt to four accumulators
    (packet ``4j + r`` into accumulator ``r``), the accumulators added as
    ``((a0 + a1) + a2) + a3``, leftover whole packets added one by one, the packet summed
    by halves (8 -> 4 -> 2 -> 1) and added to the in-order sum of the scalar tail; past
    8192 values the range is split in two at the packet boundary past its middle, and the
    halves are summed recursively and added."""
    a = _host(flat).reshape(-1)
    n = a.shape[0]
    if n == 0:
        total = np.zeros((), a.dtype)
    else:
        t = eigen_num_threads(n, threads, compute_cycles)
        if t == 1:
            total = _eigen_rows(a[None])[0]
        else:
            size = n // t
            blocks = n // size
            shards = _eigen_rows(a[:blocks * size].reshape(blocks, size), 0, size)
            total = (_eigen_rows(a[None, blocks * size:], blocks * size)[0]
                     if blocks * size < n else a.dtype.type(0))
            for s in shards:
                total = total + s
    return _back(total, flat) if not isinstance(flat, np.ndarray) else np.asarray(total)


def _eigen_preserved(a):
    """Eigen's sum over the middle axis of ``a`` (A, R, C), the inner axis kept
    (``InnerMostDimPreserver``): TensorFlow evaluates the outputs in packets of 8 at flat
    output indices ``8g``; a packet whose 8 outputs lie in one row of C is summed as
    vectors (with 16 rows or more, rows dealt to four accumulators, ``i mod 4``, added in
    order, then the rows left over), every other output adds its rows in order."""
    A, R, C = a.shape
    sequential = _seq(a, axis=1)
    if R >= 16:
        dealt = R // 4 * 4
        acc = _seq(a[:, :dealt].reshape(A, -1, 4, C), axis=1)
        packed = ((acc[:, 0] + acc[:, 1]) + acc[:, 2]) + acc[:, 3]
        for i in range(dealt, R):
            packed = packed + a[:, i]
    else:
        packed = sequential
    total = A * C
    first = np.arange(0, total // EIGEN_LANES * EIGEN_LANES, EIGEN_LANES)
    whole = first[(first % C) + EIGEN_LANES - 1 < C]
    use = np.zeros(total, bool)
    use[(whole[:, None] + np.arange(EIGEN_LANES)).reshape(-1)] = True
    return np.where(use, packed.reshape(-1), sequential.reshape(-1)).reshape(A, C)


def _tf_simplify(shape, axes):
    """``ReductionHelper::Simplify``: size-1 dimensions join the run before them, runs of
    reduced and kept dimensions merge; returns the reshaped dimensions and whether the
    first run is reduced."""
    bitmap = [d in axes for d in range(len(shape))]
    i = 0
    while i < len(shape) and shape[i] == 1:
        i += 1
    if i == len(shape):
        return [], True
    runs, first = [shape[i]], bitmap[i]
    for d in range(i + 1, len(shape)):
        if shape[d] == 1:
            bitmap[d] = bitmap[d - 1]
        if bitmap[d] != bitmap[d - 1]:
            runs.append(shape[d])
        else:
            runs[-1] *= shape[d]
    return runs, first


def eigen_reduce_sum(x, axes=None, *, threads: int = 1):
    """``tf.reduce_sum(x, axes)`` on CPU (``ReductionOp`` in ``reduction_ops_common.h``),
    returned without the reduced axes (``axes=None``: every axis). TensorFlow first
    reshapes ``x`` (:func:`_tf_simplify`), then: one reduced run is the full reducer
    (:func:`eigen_sum`, sharded over ``threads``); a kept run after a reduced one sums
    the reduced rows as :func:`_eigen_preserved`; a reduced run last sums each row with
    the inner-most reducer; a reduced run between kept ones is the preserver over each
    outer block; reduced runs around a kept one add, for each output, the last run's
    values outermost and the first run's innermost; deeper patterns are transposed so the
    reduced dimensions come last."""
    a = _host(x)
    ndim = a.ndim
    axes = set(range(ndim)) if axes is None else {ax % ndim for ax in (
        (axes,) if isinstance(axes, int) else axes)}
    out_shape = tuple(a.shape[d] for d in range(ndim) if d not in axes)
    runs, first = _tf_simplify(a.shape, axes)
    y = a.reshape(runs) if runs else a.reshape(())
    if not runs or (len(runs) == 1 and not first):
        s = y.copy()
    elif len(runs) == 1:
        s = np.asarray(eigen_sum(y, threads=threads))
    elif len(runs) == 2 and first:
        s = _eigen_preserved(y[None])[0]
    elif len(runs) == 2:
        s = _eigen_rows(y)
    elif len(runs) == 3 and first:
        s = _seq(np.transpose(y, (1, 2, 0)).reshape(runs[1], -1), axis=1)
    elif len(runs) == 3:
        s = _eigen_preserved(y)
    else:
        kept = [d for d in range(len(runs)) if (d % 2 == 0) != first]
        gone = [d for d in range(len(runs)) if (d % 2 == 0) == first]
        moved = np.transpose(y, kept + gone)
        s = _eigen_rows(np.ascontiguousarray(moved).reshape(
            math.prod(runs[d] for d in kept), -1))
    s = np.asarray(s).reshape(out_shape)
    return s if isinstance(x, np.ndarray) else _back(s, x)


# -- XLA:CPU: YNNPACK's kernels and XLA's own loops ----------------------------------------

def _ynn_rows(rows):
    """YNNPACK's contiguous sum kernel (``k1``, AVX-512) on each row of ``rows`` (k, n):
    16 lanes; tiles of 64 vectors, each the in-order sum of its 4 groups, a group of its 4
    blocks, a block of its 4 vectors; whole tiles added with Kahan's compensation
    (``y = t - c``, ``s' = s + y``, ``c = (s' - s) - y``); the rest (whole groups in
    order, then whole blocks, then the vectors left with the zero-padded tail vector, in
    order) is added last as ``s + (r - c)``; the lanes are summed by halves."""
    k, n = rows.shape
    lanes, tile = YNN_LANES, YNN_TILE_VECTORS
    nv = n // lanes
    v = rows[:, :nv * lanes].reshape(k, nv, lanes)
    full = nv // tile
    s = np.zeros((k, lanes), rows.dtype)
    c = np.zeros((k, lanes), rows.dtype)
    if full:
        blocks = _seq(v[:, :full * tile].reshape(k, full, 4, 4, 4, lanes), axis=4)
        tiles = _seq(_seq(blocks, axis=3), axis=2)
        for i in range(full):
            y = tiles[:, i] - c
            t = s + y
            c = (t - s) - y
            s = t
    left = v[:, full * tile:]
    if n % lanes:
        tail = np.zeros((k, 1, lanes), rows.dtype)
        tail[:, 0, :n % lanes] = rows[:, nv * lanes:]
    else:
        tail = np.zeros((k, 0, lanes), rows.dtype)
    rest = _ynn_tile_rest(left, tail, per_group=16, piece_blocks=False)
    return _halve(s + (rest - c))


def _ynn_tile_rest(v, tail, *, per_group: int, piece_blocks: bool):
    """The sum of a partial YNNPACK tile: ``v`` (k, m, L) whole vectors or rows, ``tail``
    (k, 0 or 1, L) the padded tail vector. Whole groups of ``per_group`` (each the in-order
    sum of blocks of 4) are added in order; then the blocks left and the last partial
    block, added one by one (``k1``) or summed first and added as one piece (``kn``)."""
    k, m, lanes = v.shape
    groups = m // per_group
    acc = np.zeros((k, lanes), v.dtype)
    if groups:
        g = v[:, :groups * per_group].reshape(k, groups, per_group // 4, 4, lanes)
        acc = _seq(_seq(_seq(g, axis=3), axis=2), axis=1)
    i = groups * per_group
    nblocks = (m - i) // 4
    pieces = [_seq(v[:, i + 4 * j:i + 4 * j + 4], axis=1) for j in range(nblocks)]
    last = np.concatenate([v[:, i + 4 * nblocks:], tail], axis=1)
    if last.shape[1]:
        pieces.append(_seq(last, axis=1))
    if piece_blocks and pieces:
        piece = pieces[0] + v.dtype.type(0)
        for p in pieces[1:]:
            piece = piece + p
        return acc + piece
    for p in pieces:
        acc = acc + p
    return acc


def _ynn_columns(a):
    """YNNPACK's strided sum kernel (``kn``) over the rows of ``a`` (R, C), one sum per
    column: tiles of 256 rows, each the in-order sum of its 16 groups, a group of its 4
    blocks, a block of its 4 rows; whole tiles added with Kahan's compensation, the rest
    (whole groups in order, then the blocks left and the partial block summed as one piece)
    added last as ``s + (r - c)``."""
    R, C = a.shape
    full = R // YNN_TILE_ROWS
    s = np.zeros(C, a.dtype)
    c = np.zeros(C, a.dtype)
    if full:
        b = a[:full * YNN_TILE_ROWS].reshape(full, 16, 4, 4, C)
        tiles = _seq(_seq(_seq(b, axis=3), axis=2), axis=1)
        for i in range(full):
            y = tiles[i] - c
            t = s + y
            c = (t - s) - y
            s = t
    rest = _ynn_tile_rest(a[None, full * YNN_TILE_ROWS:], np.zeros((1, 0, C), a.dtype),
                          per_group=16, piece_blocks=True)[0]
    return s + (rest - c)


def _ynn_full(a, threads):
    """``jnp.sum`` over every element of the contiguous ``a`` (YNNPACK). On one thread one
    :func:`_ynn_rows` chain. On more, the schedule's tiles split the reduction into partial
    sums: the tile takes whole dimensions from the innermost out while they fit in 32768
    elements, ``32768 // inner`` of the first one that does not, and 1 of those outside it
    (so every tile is one contiguous run); the partial sums, in row-major order, are then
    summed by the same kernel."""
    if threads == 1 or a.size <= YNN_TILE_AREA:
        return _ynn_rows(a.reshape(1, -1))[0]
    inner = 1
    for d in range(a.ndim - 1, -1, -1):
        size = max(1, min(YNN_TILE_AREA // inner, a.shape[d]))
        if size < a.shape[d]:
            break
        inner *= a.shape[d]
    run = size * inner
    lines = a.reshape(-1, a.shape[d] * inner)
    partial = np.stack([_ynn_rows(np.ascontiguousarray(lines[:, s:s + run]))
                        for s in range(0, lines.shape[1], run)], axis=1)
    return _ynn_rows(partial.reshape(1, -1))[0]


def _ynn_axis(a, axis, threads):
    """``jnp.sum(a, axis)`` through YNNPACK: ``(A, R, C)`` around the reduced axis; with
    ``C = 1`` each row is :func:`_ynn_rows` (more than one thread: rows longer than 32768
    are summed in pieces of 32768, then the pieces); otherwise each column of each
    ``(R, C)`` block is :func:`_ynn_columns` (more than one thread: in pieces of
    ``32768 // C`` rows, then the pieces as rows)."""
    A, R = math.prod(a.shape[:axis]), a.shape[axis]
    C = math.prod(a.shape[axis + 1:])
    b = a.reshape(A, R, C)
    if C == 1:
        rows = b[:, :, 0]
        if threads > 1 and R > YNN_TILE_AREA:
            parts = np.stack([_ynn_rows(np.ascontiguousarray(rows[:, s:s + YNN_TILE_AREA]))
                              for s in range(0, R, YNN_TILE_AREA)], axis=1)
            return _ynn_rows(parts).reshape(a.shape[:axis])
        return _ynn_rows(rows).reshape(a.shape[:axis])
    step = max(1, YNN_TILE_AREA // C) if C < YNN_TILE_AREA else 1
    out = np.empty((A, C), a.dtype)
    for i in range(A):
        if threads > 1 and R > step:
            parts = np.stack([_ynn_columns(b[i, s:s + step]) for s in range(0, R, step)])
            out[i] = _ynn_columns(parts)
        else:
            out[i] = _ynn_columns(b[i])
    return out.reshape(a.shape[:axis] + a.shape[axis + 1:])


def _llvm_lanes(rows: int, columns: int, fused: bool) -> int:
    """The vector width LLVM gives XLA:CPU's loop over ``rows`` whose body, ``columns``
    unrolled additions, it vectorizes across rows (measured, jax 0.10.2, for the loop nest
    of a full reduction: inner loops of 2 to 8 are unrolled, outer ones of 2, 4, 8 and 16 to
    32 vectorized). ``fused``: the body multiplies too (``jnp.linalg.norm``)."""
    if columns < 2 or columns > 8:
        return 1
    if rows in (2, 4):
        return rows
    wide = 8 if columns <= 6 else 4
    if rows == 8:
        return 8 if fused else wide
    if 16 <= rows <= 32:
        if 20 <= rows <= 23:
            return 4
        if 28 <= rows <= 31:
            return 8 if columns == 2 else 4
        return wide
    return 1


def _xla_windows(a, axes):
    """XLA's tree-reduction rewrite, once: each reduced dimension longer than 32 is cut into
    windows of 32 (``kSame`` padding, the extra split low-half first); each window sums its
    elements in row-major order, except where LLVM reorders the window loop of a full 2-D
    reduction (measured): with 2 to 8 columns and no padded row, the 32 rows of a window
    are vectorized as :func:`_xla_loop2d`; with one padded row past the end, the first 31
    are, then the 32nd row follows (where it is not the padding); with one padded column
    past the end, the rows add their first 31 window columns first, then the last column
    of every row."""
    pads, sizes = [], []
    for d in range(a.ndim):
        if d in axes:
            w = min(a.shape[d], XLA_WINDOW)
            total = -(-a.shape[d] // w) * w - a.shape[d]
            pads.append((total // 2, total - total // 2))
            sizes.append(w)
        else:
            pads.append((0, 0))
            sizes.append(1)
    p = np.pad(a, pads)
    counts = [p.shape[d] // sizes[d] for d in range(a.ndim)]
    shape = [s for d in range(a.ndim) for s in (counts[d], sizes[d])]
    y = p.reshape(shape).transpose([2 * d for d in range(a.ndim)]
                                   + [2 * d + 1 for d in range(a.ndim)])
    if a.ndim == 2 and len(axes) == 2:
        windows = y.reshape(counts + sizes)
        rows, columns = sizes
        if pads[0] == (0, 0) and 2 <= columns <= 8:
            vf = _llvm_lanes(rows, columns, False)
            out = np.empty(counts, a.dtype)
            for i in np.ndindex(*counts):
                out[i] = _xla_loop2d(windows[i], a.dtype.type(0), vf, False)
            return out
        if pads[0] == (0, 1) and 2 <= columns <= 8:
            # the last window row is peeled off the vectorized loop: 31 rows, then row 31
            vf = _llvm_lanes(rows - 1, columns, False)
            out = np.empty(counts, a.dtype)
            for i in np.ndindex(*counts):
                s = _xla_loop2d(windows[i][:rows - 1], a.dtype.type(0), vf, False)
                if i[0] < counts[0] - 1:
                    s = _seq(np.concatenate([np.asarray([s], a.dtype), windows[i][rows - 1]]))
                out[i] = s
            return out
        if pads[1] == (0, 1) and columns == XLA_WINDOW:
            first = _seq(windows[..., :columns - 1].reshape(counts + [-1]), axis=-1)
            last = windows[..., columns - 1]
            return _seq(np.concatenate([first[..., None], last], axis=-1), axis=-1)
    return _seq(y.reshape(counts + [-1]), axis=-1)


def _xla_loops(a, axes, *, fused: bool = False, start=None):
    """XLA's reduce loop over the ``axes`` of ``a`` (no dimension longer than 32), for a
    full reduction with LLVM's vectorization of the loop over the next-to-last dimension
    (:func:`_llvm_lanes`: lane ``i`` takes the rows ``i mod VF``, the lanes are summed by
    halves, the rows past the last whole vector follow in order); ``fused``: each element
    enters as ``fma(x, x, s)``."""
    if fused and sum(n > 1 for n in a.shape) <= 1:
        # one straight line of code: LLVM drops the leading 0 +, and the first product
        # is the one fused with the second, rounded: fma(x0, x0, x1 * x1)
        flat = a.reshape(-1)
        if flat.size < 2:
            return flat[0] * flat[0] if flat.size else np.zeros((), a.dtype)
        s = _fma_chain(flat[None, :1], start=np.asarray([flat[1] * flat[1]]))
        return _fma_chain(flat[None, 2:], start=s)[0]
    if len(axes) < a.ndim or a.ndim < 2:
        kept = [d for d in range(a.ndim) if d not in axes]
        rows = np.transpose(a, kept + sorted(axes)).reshape(
            [a.shape[d] for d in kept] + [-1])
        if fused:
            return _fma_chain(rows.reshape(-1, rows.shape[-1])).reshape(rows.shape[:-1])
        return _seq(rows, axis=-1)
    columns = a.shape[-1]
    rows = a.shape[-2]
    vf = _llvm_lanes(rows, columns, fused)
    outer = a.reshape(-1, rows, columns)
    s = np.zeros((), a.dtype)
    for block in outer:
        s = _xla_loop2d(block, s, vf, fused)
    return s


def _xla_loop2d(block, s, vf, fused):
    rows, columns = block.shape
    main = rows // vf * vf if vf > 1 else 0
    if main:
        lanes = np.full(vf, -0.0, block.dtype)
        lanes[0] = s
        body = block[:main].reshape(-1, vf, columns)
        steps = body.transpose(0, 2, 1).reshape(-1, vf)          # (iterations*columns, vf)
        if fused:
            lanes = _fma_chain(steps.T, start=lanes)
        else:
            lanes = np.cumsum(np.concatenate([lanes[None], steps]), axis=0,
                              dtype=block.dtype)[-1]
        s = block.dtype.type(-0.0) + _halve(lanes)
    rest = block[main:].reshape(-1)
    if rest.size:
        if fused:
            s = _fma_chain(rest[None], start=np.asarray([s]))[0]
        else:
            s = _seq(np.concatenate([np.asarray([s], block.dtype), rest]))
    return s


def _fma_chain(rows, start=None):
    """``s <- fma(x_i, x_i, s)`` along each row of ``rows`` (k, n), from ``start`` (or +0),
    rounded once per step (the product is exact in float64; a float64 sum that lands half
    way between two float32 values is resolved with its exact error)."""
    k, n = rows.shape
    s = np.zeros(k, np.float64) if start is None else np.asarray(start, np.float64).copy()
    if rows.dtype != np.float32:
        for i in range(n):
            s = rows[:, i] * rows[:, i] + s
        return s.astype(rows.dtype)
    x = rows.astype(np.float64)
    for i in range(n):
        p = x[:, i] * x[:, i]
        t = p + s
        bp = t - s
        err = (p - bp) + (s - (t - bp))
        r = t.astype(np.float32)
        r64 = r.astype(np.float64)
        up = np.nextafter(r, np.where(t > r64, np.float32(np.inf), np.float32(-np.inf)))
        tie = (t != r64) & ((r64 + up.astype(np.float64)) * 0.5 == t)
        beyond = ((up > r) & (err > 0)) | ((up < r) & (err < 0))
        s = np.where(tie & (err != 0) & beyond, up, r).astype(np.float64)
    return s.astype(np.float32)


def _xla_small(a, axes, fused=False):
    """XLA:CPU's own code for a reduce of fewer than 4096 elements: the tree-reduction
    rewrite while a reduced dimension is longer than 32 (the windows' squares rounded when
    a norm is rewritten), then the reduce loop (:func:`_xla_loops`)."""
    rewritten = False
    while any(a.shape[d] > XLA_WINDOW for d in axes):
        if fused and not rewritten:
            a = a * a
        a = _xla_windows(a, axes)
        rewritten = True
    return _xla_loops(a, axes, fused=fused and not rewritten)


def xla_reduce_sum(x, axes=None, *, threads: int = 1):
    """Eager ``jnp.sum(x, axes)`` on XLA:CPU (jax 0.10.2), without the reduced axes
    (``axes=None``: all; one axis, or all of them). ``threads`` is the size of XLA's
    intra-op thread pool (the CPUs the process may run on).

    Fewer than 4096 elements: XLA's tree-reduction rewrite (windows of 32 in row-major
    order, recursively) and its reduce loop (:func:`_xla_loops`, vectorized by LLVM for
    some shapes of the last two dimensions). Not measured beyond the shapes of
    ``conformance/test_reductions_at_size.py``: LLVM's choices for windows of other padding
    and for loop nests of three or more dimensions.

    From 4096 elements YNNPACK: a full reduction :func:`_ynn_full`, one axis
    :func:`_ynn_axis`."""
    a = _host(x)
    ndim = a.ndim
    axes = tuple(range(ndim)) if axes is None else tuple(sorted({ax % ndim for ax in (
        (axes,) if isinstance(axes, int) else axes)}))
    if a.size >= YNN_MIN_ELEMENTS and axes:
        if len(axes) == ndim:
            s = _ynn_full(np.ascontiguousarray(a), threads)
        elif len(axes) == 1:
            s = _ynn_axis(np.ascontiguousarray(a), axes[0], threads)
        else:
            raise NotImplementedError("xla_reduce_sum: several but not all axes of a "
                                      "large array are not modelled")
    elif not axes:
        s = a.copy()
    else:
        s = _xla_small(a, set(axes))
    s = np.asarray(s, a.dtype)
    return s if isinstance(x, np.ndarray) else _back(s, x)


def xla_jit_sum_of_squares(x, *, threads: int = 1):
    r""":math:`\sum x_i^2` as jitted ``jnp.linalg.norm(x)`` computes it on XLA:CPU before
    its square root: with fewer than 4096 elements and no dimension over 32 the multiply
    fuses into the reduce loop and LLVM contracts it, :math:`s \leftarrow
    \mathrm{fma}(x_i, x_i, s)` in row-major order (vectorized as :func:`_xla_loops`;
    an array of one dimension is one straight line of code that starts
    :math:`\mathrm{fma}(x_0, x_0, \mathrm{fl}(x_1^2))`); otherwise the squares are rounded
    and summed as :func:`xla_reduce_sum`. Not reproduced: the vectorized fused loop whose
    body unrolls 5 to 8 columns (shapes such as (2, 8), (18, 5), (8, 8, 8)): 1 ULP off the
    model for about one array in ten (measured)."""
    a = _host(x)
    if a.size >= YNN_MIN_ELEMENTS:
        s = xla_reduce_sum(a * a, threads=threads)
    elif a.ndim == 0:
        s = a * a
    else:
        s = _xla_small(a, set(range(a.ndim)), fused=True)
    s = np.asarray(s, a.dtype)
    return s if isinstance(x, np.ndarray) else _back(s, x)


# -- torch ---------------------------------------------------------------------------------

def _ceil_log2(n: int) -> int:
    return 1 if n <= 2 else (n - 1).bit_length()


def _torch_cascade(a):
    """``multi_row_sum`` along the last axis of ``a`` (every leading index is one column):
    blocks of ``2^p`` values (``p = max(4, ceil(log2 n) / 4)``) summed in order, four
    levels, each summing ``2^p`` of the level below in order, the top level unbounded; the
    values past the last whole block, then the partial levels, added in order at the end."""
    size = a.shape[-1]
    step = 1 << max(4, _ceil_log2(size) // 4)
    lead = a.shape[:-1]

    def groups(v):
        whole = v.shape[-1] // step
        full = _seq(v[..., :whole * step].reshape(lead + (whole, step)), axis=-1)
        return full, _seq(v[..., whole * step:], axis=-1)

    level1, acc0 = groups(a)
    level2, acc1 = groups(level1)
    level3, acc2 = groups(level2)
    acc3 = _seq(level3, axis=-1)
    return ((acc0 + acc1) + acc2) + acc3


def _torch_row_sum(a):
    """``row_sum`` along the last axis: four interleaved cascades, the tail added to the
    first, then the four added in order."""
    size = a.shape[-1]
    q = size // 4
    cols = np.swapaxes(a[..., :4 * q].reshape(a.shape[:-1] + (q, 4)), -1, -2)
    parts = _torch_cascade(cols) if q else np.zeros(a.shape[:-1] + (4,), a.dtype)
    first = _seq(np.concatenate([parts[..., :1], a[..., 4 * q:]], axis=-1), axis=-1)
    return ((first + parts[..., 1]) + parts[..., 2]) + parts[..., 3]


def _torch_inner(rows):
    """The inner loop of ``cascade_sum`` over each contiguous row of ``rows`` (k, n), as
    stored into a zero output: 8-lane vectors through :func:`_torch_row_sum` with the
    vector tail into the first partial, the scalar tail summed, then the 8 lanes added to
    it in order; rows shorter than 8 take the scalar ``row_sum``."""
    k, n = rows.shape
    lanes = TORCH_LANES
    if n < lanes:
        return _torch_row_sum(rows) + rows.dtype.type(0)
    nv = n // lanes
    vec = rows[:, :nv * lanes].reshape(k, nv, lanes)
    q = nv // 4
    if q:
        cols = vec[:, :4 * q].reshape(k, q, 4, lanes).transpose(0, 2, 3, 1)
        parts = _torch_cascade(cols)                              # (k, 4, lanes)
        p0 = _seq(np.concatenate([parts[:, :1], vec[:, 4 * q:]], axis=1), axis=1)
        acc = ((p0 + parts[:, 1]) + parts[:, 2]) + parts[:, 3]
    else:
        acc = _seq(vec, axis=1)
    tail = _seq(rows[:, nv * lanes:], axis=1)
    return _seq(np.concatenate([tail[:, None], acc], axis=1), axis=1) + rows.dtype.type(0)


def torch_full_sum(flat, *, threads: int = 1):
    """``torch.sum`` of every element of a contiguous float array on CPU (``cascade_sum``
    through ``parallel_reduce``). From 32768 elements and with ``threads`` > 1 the
    two-pass reduction splits the elements into ``min(threads, ceil(n / 32768))`` chunks of
    ``ceil(n / t)`` (``at::parallel_for``), sums each with the inner loop into a buffer of
    ``threads`` zeros, and sums the buffer into the zero output."""
    a = _host(flat).reshape(-1)
    n = a.shape[0]
    if n < TORCH_GRAIN or threads == 1:
        total = _torch_inner(a[None])[0]
    else:
        t = min(threads, -(-n // TORCH_GRAIN))
        chunk = -(-n // t)
        used = -(-n // chunk)
        buffer = np.zeros(threads, a.dtype)
        if used > 1:
            buffer[:used - 1] = _torch_inner(a[:(used - 1) * chunk].reshape(used - 1, chunk))
        buffer[used - 1] = _torch_inner(a[None, (used - 1) * chunk:])[0]
        total = _torch_inner(buffer[None])[0]
    return np.asarray(total) if isinstance(flat, np.ndarray) else _back(total, flat)


def torch_reduce_sum(x, axes=None, *, threads: int = 1):
    """``torch.sum(x, axes)`` on CPU, without the reduced axes: every axis with
    :func:`torch_full_sum`, others with :func:`eps_ref.norms._torch_cpu.torch_sum` (a
    reduction with more than one output splits its outputs over threads, which does not
    change them)."""
    a = _host(x)
    ndim = a.ndim
    axes = tuple(range(ndim)) if axes is None else tuple(sorted({ax % ndim for ax in (
        (axes,) if isinstance(axes, int) else axes)}))
    kept_size = math.prod(a.shape[d] for d in range(ndim) if d not in axes)
    if kept_size == 1:
        s = np.asarray(torch_full_sum(np.ascontiguousarray(a), threads=threads))
    else:
        s = np.asarray(_torch_sum_any_axes(a, axes))
    s = s.reshape(tuple(a.shape[d] for d in range(ndim) if d not in axes))
    return s if isinstance(x, np.ndarray) else _back(s, x)


def torch_norm_sums(rows):
    r"""The sum of squares of each row of ``rows`` (shape ``(k, n)``, float32) as torch's
    CPU ``vector_norm`` over a contiguous last dimension accumulates it
    (``binary_kernel_reduce_lastdim``, ``cpu/ReduceOpsKernel.cpp``; one call per row at any
    length): whole vectors of 8 go into 8 lanes, :math:`a \leftarrow a + x \cdot x`
    (square rounded), and the lanes are added left to right. The compiler splits the scalar
    loop over the ``n mod 8`` left: a block of 4 (when there are 4 or more) whose squares
    are rounded and added in order, then one fused multiply-add per element,
    :math:`s \leftarrow \mathrm{fma}(x, x, s)`."""
    a = _host(rows)
    k, n = a.shape
    lanes = TORCH_NORM_LANES
    nv = n // lanes
    sq = a[:, :nv * lanes].reshape(k, nv, lanes)
    acc = _seq(sq * sq, axis=1) if nv else np.zeros((k, lanes), a.dtype)
    total = _seq(acc, axis=1)
    i = nv * lanes
    if n - i >= 4:
        block = a[:, i:i + 4]
        total = _seq(np.concatenate([total[:, None], block * block], axis=1), axis=1)
        i += 4
    if i < n:
        total = _fma_chain(a[:, i:], start=total)
    return total if isinstance(rows, np.ndarray) else _back(total, rows)


# -- dispatch ------------------------------------------------------------------------------

def reduce_sum(x, axes=None, *, reduction: str, threads: int = 1):
    """The sum of ``x`` over ``axes`` (``None``: all) in one framework's kernel order:
    ``"eigen_avx_4x8"``, ``"xla_cpu_sequential"``, ``"torch_cpu_avx2"`` or
    ``"float64_rounded"``, without the reduced axes."""
    if reduction == "eigen_avx_4x8":
        return eigen_reduce_sum(x, axes, threads=threads)
    if reduction == "xla_cpu_sequential":
        return xla_reduce_sum(x, axes, threads=threads)
    if reduction == "torch_cpu_avx2":
        return torch_reduce_sum(x, axes, threads=threads)
    if reduction == "float64_rounded":
        xp = array_namespace(x)
        return xp.astype(xp.sum(xp.astype(x, xp.float64), axis=axes), x.dtype)
    raise ValueError(f"reduce_sum: reduction must be one of 'eigen_avx_4x8', "
                     f"'xla_cpu_sequential', 'torch_cpu_avx2', 'float64_rounded', "
                     f"got {reduction!r}")


def stacked_sum(values, *, reduction: str):
    """``ops.sum(ops.stack(values))``: a handful of 0-d arrays (one per leaf) stacked and
    summed by one framework's kernel (Keras' ``global_norm``); 8 or more leaves take
    torch's and Eigen's vector loops, 33 or more XLA's windows."""
    xp = array_namespace(*values)
    stacked = xp.stack([xp.reshape(v, ()) for v in values])
    return reduce_sum(stacked, reduction=reduction)


def sum_of_squares(x, *, reduction: str, square_op: str = "multiply", threads: int = 1):
    r""":math:`\sum_i x_i^2` over every element of ``x``, as a 0-d array of ``x``'s dtype,
    in the order and rounding of the kernel ``reduction`` names (module docstring);
    ``threads`` is the framework's intra-op thread count (TensorFlow's, torch's, XLA's).

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
    if reduction == "xla_cpu_fused_fma":
        return xla_jit_sum_of_squares(x, threads=threads)
    flat = xp.reshape(x, (-1,))
    if reduction == "torch_cpu_norm":
        return xp.reshape(_back(torch_norm_sums(_host(flat).reshape(1, -1)), x), ())
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
    return xp.reshape(reduce_sum(xp.reshape(squares, x.shape), reduction=reduction,
                                 threads=threads), ())


def l2_norm(x, *, reduction: str, sqrt_method: str = "correctly_rounded",
            square_op: str = "multiply", threads: int = 1):
    r""":math:`\lVert x\rVert_2 = \sqrt{\sum_i x_i^2}` over all of ``x``: the squares and
    the sum as :func:`sum_of_squares` orders them, the root as ``sqrt_method``
    (:mod:`eps_ref.rules._roots`)."""
    return _roots.sqrt(sum_of_squares(x, reduction=reduction, square_op=square_op,
                                      threads=threads), sqrt_method)

"""``jnp.sum``/``jnp.mean``'s float32 reduction as XLA:CPU runs it (jax 0.10.2), reproduced
operation by operation with the Array API.

XLA:CPU hands a ``reduce`` to one of two code generators (``xla/backends/cpu/ynn_support.cc``,
``IsInstructionPreferredByYnn``):

**Its own loop emitter**, when the input and the output both have fewer than 4096 elements.
``TreeReductionRewriter(32)`` first splits every reduced dimension longer than 32 into
windows of 32 (a ``reduce-window`` with ``SAME`` padding, so the windows are centred: a
dimension of 33 is padded 15 before and 16 after), repeated while a reduced dimension is
still longer than 32; each window, and then the reduce over the windows, adds its elements
to one float32 accumulator from 0 in row-major order (:func:`loop_emitter_sum`).

**YNNPACK** (``ynn_fusion``), from 4096 elements on. Its reduce op
(``ynnpack/subgraph/reduce.cc``) fuses the dimensions into one kernel call: the reduced
dimensions contiguous with the innermost one form ``k1``; the next run of reduced dimensions
contiguous with each other forms ``k2``; the kept dimensions contiguous in the output form
``n`` rows; any other dimension is a loop around the kernel. Two kernels
(``ynnpack/kernels/reduce/sum.h``, the AVX-512 build, 16 float32 lanes):

``k1`` (a contiguous run is reduced, :func:`ynn_row_sums`)
    per row: 64-element leaves, each ``((v_0 + v_1) + v_2) + v_3`` over its four 16-lane
    vectors (the last leaf zero-padded); four leaves at a time summed the same way while 256
    elements remain, then one leaf at a time, each sum added to a level-1 vector; every
    1024 elements the level-1 vector is added into a level-2 vector by Kahan's compensated
    sum; the 16 lanes are then added by halves (16 -> 8 -> 4 -> 2 -> 1) and the result
    added to the output. A ``k2`` loop calls it once per ``k2`` index, the outputs
    accumulating in that order.
``kn`` (no contiguous run is reduced: the rows of a kept contiguous run are summed,
    :func:`ynn_column_sums`)
    YNNPACK's scheduler cuts the reduced rows into partial reductions of 256 rows, and
    each of those into calls of 16 rows added to the partial's accumulator in order; a call
    sums blocks of four rows ``((r_0 + r_1) + r_2) + r_3`` and adds the blocks in order.
    Two partials, the second shorter than 256 rows, are added plainly, which is measured
    bit for bit. **Not reproduced**: where two or more partials have 256 rows, YNNPACK
    combines them with a product-with-ones kernel that splits each partial into three
    bfloat16 pieces (measured: two full partials add as ``(m_0 + l_0) + h_1 + m_1 + l_1 +
    h_0`` from the round-to-nearest bfloat16 split :math:`p = h + m + l`); the reference
    adds the partials in order, within an ULP of the combined sum.

Measured on AMD EPYC (Zen 4) with one XLA:CPU thread (the process pinned to one core):
with more threads YNNPACK splits the reductions between them and the sums change (every
shape with more than 256 kept columns and 64 reduced rows measured). Bit for bit against
``jnp.sum``: ``k1`` for rows of 1 to 2099 and 4095 to 200003 elements, ``kn`` for 1 to 511
rows, the loop emitter on the layers' shapes and the shapes of
``conformance/test_keras_flax_norms_at_size.py``. **Not reproduced** in the loop emitter:
where LLVM vectorizes XLA's loop with reassociating adds, which depends on the lengths --
windows of 32 x 32 (two reduced axes longer than 32), and a group norm's non-adjacent
reduced axes at some lengths (the (2, n, 2, 2) batch at n = 8, 16, 17, 63, 64).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

__all__ = ["YNN_MIN_ELEMENTS", "TREE_WINDOW", "reduce_sum", "loop_emitter_sum",
           "ynn_row_sums", "ynn_column_sums"]

YNN_MIN_ELEMENTS = 4096
"""Elements (of the reduce's input or output) from which XLA:CPU hands a reduce to YNNPACK."""
TREE_WINDOW = 32
"""``TreeReductionRewriter``'s window on CPU."""
YNN_LANES = 16
"""float32 lanes of YNNPACK's AVX-512 reduce kernels."""
_LEAF = 4 * YNN_LANES              # k1: elements of a leaf (four vectors)
_UNROLLED = 4 * _LEAF              # k1: elements of an unrolled step (four leaves)
_LEVEL2 = 1024                     # k1: elements between two Kahan steps
_BLOCK = 4                         # kn: rows of a block
_CALL = 16                         # kn: rows of a kernel call
_PARTIAL = 256                     # kn: rows of a partial reduction


def _device(x):
    return getattr(x, "device", None)


def _zeros(xp, shape, like):
    return xp.zeros(shape, dtype=like.dtype, device=_device(like))


def reduce_sum(x, axes):
    """``jnp.sum(x, axes, keepdims=True)`` of a C-contiguous float32 ``x`` as one XLA:CPU
    computation: the loop emitter under :data:`YNN_MIN_ELEMENTS` elements, YNNPACK from
    there (module docstring)."""
    axes = tuple(sorted({a % x.ndim for a in axes}))
    n_in = math.prod(x.shape)
    n_out = n_in // max(1, math.prod(x.shape[a] for a in axes))
    if n_in >= YNN_MIN_ELEMENTS or n_out >= YNN_MIN_ELEMENTS:
        return _ynn_sum(x, axes)
    return loop_emitter_sum(x, axes)


# -- XLA's loop emitter -------------------------------------------------------------------

def _row_major_sum(x, axes):
    xp = array_namespace(x)
    kept = [a for a in range(x.ndim) if a not in axes]
    rows = xp.reshape(xp.permute_dims(x, tuple(kept + list(axes))),
                      tuple(x.shape[a] for a in kept) + (-1,))
    s = _zeros(xp, rows.shape[:-1], x)
    for k in range(rows.shape[-1]):
        s = s + rows[..., k]
    shape = tuple(1 if a in axes else x.shape[a] for a in range(x.ndim))
    return xp.reshape(s, shape)


def _windows(x, axes):
    """``reduce-window`` of ``TreeReductionRewriter``: every reduced axis cut into windows
    of ``min(size, 32)`` with ``SAME`` padding, each window summed in row-major order."""
    xp = array_namespace(x)
    for a in sorted(axes, reverse=True):          # later axes first: earlier indices hold
        size = x.shape[a]
        w = min(size, TREE_WINDOW)
        out = -(-size // w)
        pad = (out - 1) * w + w - size
        low = pad // 2
        shape = list(x.shape)
        shape[a] = low
        before = _zeros(xp, tuple(shape), x)
        shape[a] = pad - low
        after = _zeros(xp, tuple(shape), x)
        x = xp.concat([before, x, after], axis=a)
        x = xp.reshape(x, x.shape[:a] + (out, w) + x.shape[a + 1:])
    # reduced axis number i (in increasing order) is now (windows, w) at (a + i, a + i + 1);
    # a window's elements are summed in row-major order of its w axes
    nd = x.ndim
    w_axes = [a + i + 1 for i, a in enumerate(sorted(axes))]
    kept = [d for d in range(nd) if d not in w_axes]
    y = xp.permute_dims(x, tuple(kept + w_axes))
    flat = xp.reshape(y, tuple(x.shape[d] for d in kept) + (-1,))
    s = _zeros(xp, flat.shape[:-1], x)
    for k in range(flat.shape[-1]):
        s = s + flat[..., k]
    return s


def loop_emitter_sum(x, axes):
    """XLA:CPU's own reduce (under :data:`YNN_MIN_ELEMENTS` elements): windows of 32 while
    a reduced axis is longer than 32, then one accumulator in row-major order; keepdims."""
    axes = tuple(sorted({a % x.ndim for a in axes}))
    while any(x.shape[a] > TREE_WINDOW for a in axes):
        x = _windows(x, axes)
    return _row_major_sum(x, axes)


# -- YNNPACK -------------------------------------------------------------------------------

def _kahan(value, acc, err):
    y = value - err
    t = acc + y
    return t, (t - acc) - y


def _leaf(rows, start, stop):
    """One 64-element leaf of the k1 kernel: ``((v_0 + v_1) + v_2) + v_3`` of its four
    16-lane vectors, zero-padded past ``stop``."""
    xp = array_namespace(rows)
    seg = rows[:, start:stop]
    if stop - start < _LEAF:
        seg = xp.concat([seg, _zeros(xp, (rows.shape[0], _LEAF - (stop - start)), rows)],
                        axis=1)
    acc = seg[:, 0:YNN_LANES]
    for j in range(1, 4):
        acc = acc + seg[:, j * YNN_LANES:(j + 1) * YNN_LANES]
    return acc


def ynn_row_sums(rows):
    """YNNPACK's k1 kernel: the sum of each row of ``rows`` (shape ``(n, k)``) as a vector
    of ``n`` (module docstring)."""
    xp = array_namespace(rows)
    n, k = rows.shape
    level1 = _zeros(xp, (n, YNN_LANES), rows)
    level2, err = level1, level1
    i = 0
    while k - i >= _UNROLLED:
        step = _leaf(rows, i, i + _LEAF)
        for j in range(1, 4):
            step = step + _leaf(rows, i + j * _LEAF, i + (j + 1) * _LEAF)
        level1 = level1 + step
        i += _UNROLLED
        if i % _LEVEL2 == 0:
            level2, err = _kahan(level1, level2, err)
            level1 = _zeros(xp, (n, YNN_LANES), rows)
    while k - i >= _LEAF:
        level1 = level1 + _leaf(rows, i, i + _LEAF)
        i += _LEAF
        if i % _LEVEL2 == 0:
            level2, err = _kahan(level1, level2, err)
            level1 = _zeros(xp, (n, YNN_LANES), rows)
    if k - i > 0:
        level1 = level1 + _leaf(rows, i, k)
    level2, _ = _kahan(level1, level2, err)
    while level2.shape[1] > 1:
        half = level2.shape[1] // 2
        level2 = level2[:, :half] + level2[:, half:]
    return level2[:, 0]


def _kn_call(rows):
    """One kn kernel call (at most 16 rows of ``rows``, shape ``(r, n)``): blocks of four
    rows, the blocks added in order."""
    total = None
    for b in range(0, rows.shape[0], _BLOCK):
        block = rows[b, ...]
        for r in range(b + 1, min(b + _BLOCK, rows.shape[0])):
            block = block + rows[r, ...]
        total = block if total is None else total + block
    return total


def ynn_column_sums(rows):
    """YNNPACK's kn kernel as scheduled: the sum over the rows of ``rows`` (shape
    ``(k, n)``), a vector of ``n`` (module docstring)."""
    xp = array_namespace(rows)
    k, n = rows.shape
    total = None
    for p in range(0, k, _PARTIAL):
        partial = _zeros(xp, (n,), rows)
        for c in range(p, min(p + _PARTIAL, k), _CALL):
            partial = partial + _kn_call(rows[c:min(c + _CALL, p + _PARTIAL, k), ...])
        total = partial if total is None else total + partial
    return total


def _ynn_plan(shape, axes):
    """The kernel call YNNPACK's reduce makes for a C-contiguous array: ``(kernel, k1, k2,
    n, loops)`` with the dims as lists of axes, following ``make_unary_reduce_impl``."""
    strides, s = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = s
        s *= shape[d]
    kept = [d for d in range(len(shape)) if d not in axes]
    out_strides, s = {}, 1
    for d in reversed(kept):
        out_strides[d] = s
        s *= shape[d]
    k1 = k2 = n = 1
    k1_axes, k2_axes, n_axes, loops = [], [], [], []
    stride_k2 = stride_n = 0
    for d in range(len(shape) - 1, -1, -1):          # innermost first
        e = shape[d]
        if e == 1:
            continue
        if d in axes:
            if k1 == strides[d]:
                k1 *= e
                k1_axes.insert(0, d)
            elif stride_k2 * k2 == strides[d]:
                k2 *= e
                k2_axes.insert(0, d)
            elif k2 == 1:
                k2, stride_k2 = e, strides[d]
                k2_axes.insert(0, d)
            else:
                loops.insert(0, d)
        else:
            if out_strides[d] == n and stride_n * n == strides[d]:
                n *= e
                n_axes.insert(0, d)
            elif out_strides[d] == n and n == 1:
                n, stride_n = e, strides[d]
                n_axes.insert(0, d)
            else:
                loops.insert(0, d)
    if k1 == 1 and (n == 1 or stride_n == 1):
        return "kn", k2_axes, [], n_axes, loops
    return "k1", k1_axes, k2_axes, n_axes, loops


def _ynn_sum(x, axes):
    xp = array_namespace(x)
    kernel, ka, kb, na, loops = _ynn_plan(tuple(x.shape), axes)
    used = set(ka) | set(kb) | set(na) | set(loops)
    rest = [d for d in range(x.ndim) if d not in used]          # size-1 axes
    order = loops + rest + kb + na + ka if kernel == "k1" else loops + rest + ka + na
    y = xp.permute_dims(x, tuple(order))
    lead = tuple(x.shape[d] for d in loops + rest)
    size = lambda ds: math.prod(x.shape[d] for d in ds)          # noqa: E731
    m = math.prod(lead)
    if kernel == "k1":
        y = xp.reshape(y, (m, size(kb), size(na), size(ka)))
        outs = []
        for i in range(m):
            acc = _zeros(xp, (size(na),), x)
            for j in range(size(kb)):
                acc = acc + ynn_row_sums(y[i, j, ...])
            outs.append(acc)
    else:
        y = xp.reshape(y, (m, size(ka), size(na)))
        outs = [ynn_column_sums(y[i, ...]) for i in range(m)]
    out = xp.stack(outs, axis=0)                                 # (m, n)
    # the outer loops run outermost first; reduced loop axes accumulate in that order
    out = xp.reshape(out, lead + tuple(x.shape[d] for d in na))
    lead_axes = loops + rest
    for pos in range(len(lead_axes) - 1, -1, -1):
        if lead_axes[pos] in axes:
            total = None
            for j in range(out.shape[pos]):
                v = xp.take(out, xp.asarray([j]), axis=pos)
                total = v if total is None else total + v
            out = total
    # back to keepdims layout: out's axes are lead_axes (reduced ones now size 1) + na
    cur = lead_axes + na
    out = xp.reshape(out, tuple(1 if d in axes else x.shape[d] for d in cur))
    inv = sorted(range(len(cur)), key=lambda i: cur[i])
    out = xp.permute_dims(out, tuple(inv))
    return xp.reshape(out, tuple(1 if a in axes else x.shape[a] for a in range(x.ndim)))

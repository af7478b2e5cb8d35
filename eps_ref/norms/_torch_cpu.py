"""torch's CPU float32 reductions, reproduced operation by operation (Array API).

Which kernels run: torch dispatches its CPU kernels on the CPU capability, but the kernels here
(``sum_stub``, ``batch_norm_cpu_*_stub``, ``LayerNormKernel``, ``GroupNormKernel``) are
registered with ``REGISTER_DISPATCH``, which in an AVX-512 build registers no kernel
(``aten/src/ATen/native/DispatchStub.h``): the AVX-512 capability falls back to the AVX2
kernels. So torch's default dispatch on an AVX-512 machine and ``ATEN_CPU_CAPABILITY=avx2``
run the same code, ``Vectorized<float>`` of 8 lanes (measured bit for bit equal, torch 2.13,
AMD Zen 4, 1 and 2 threads). Four kernels:

:func:`torch_sum` -- ``at::sum`` (and ``at::mean`` = sum / n on CPU), the cascade sum of
``aten/src/ATen/native/cpu/SumKernel.cpp``. TensorIterator drops size-1 dims, puts the
reduced dims first, orders dims by input stride and coalesces contiguous ones; the first two
dims form the 2-D inner loop, handled by one of four paths (vectorized inner, vectorized
outer, scalar inner, scalar outer); the remaining dims loop outside and accumulate into the
output in order. Every path is built from ``multi_row_sum`` (sixteen values summed
sequentially per level, four levels of partial sums) and ``row_sum`` (four interleaved
``multi_row_sum`` columns, tail, then the four partials added in order). A reduction to one
value of at least ``GRAIN_SIZE`` (32768) elements on several threads is split in
``TensorIteratorReduce.cpp``'s two passes (:func:`torch_sum`'s ``threads``).

:func:`rowwise_moments` -- ``RowwiseMoments`` of ``cpu/moments_utils.h`` (layer norm, group
norm): Welford over ``lanes`` interleaved accumulators in chunks of 16 vectors
(``UpdateMomentsVec``, written with ``fmadd``), chunks merged pairwise on a stack
(``AddMomentsVec``: one ``fmadd`` for the second moment, the mean's update rounded twice), then
the lanes merged into the scalar tail's moments (``AddMoments``, which GCC contracts into two
fused multiply-adds). Rows are independent: the result does not depend on the thread count.

:func:`batch_norm_stats` -- ``batch_norm_cpu_collect_stats_kernel`` of
``cpu/batch_norm_kernel.cpp``: the per-channel mean and sum of squared deviations, summed in
float64 per channel for a contiguous input with a spatial size above 1; for a channels-last
input, or a contiguous ``(N, C)`` / ``(N, C, 1, ...)`` one, summed in float32 per thread over
a slice of the rows and the thread partials added in float64 -- the result depends on the
thread count.

:func:`group_norm_channels_last` -- ``GroupNormKernelImplChannelsLastInternal`` of
``cpu/group_norm_kernel.cpp``: sums of x and x^2 over each group, then
:math:`E[x^2] - E[x]^2`; with a spatial size of 1024 or more summed per thread.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules._numerics import fma

__all__ = ["torch_sum", "rowwise_moments", "batch_norm_stats", "group_norm_channels_last",
           "memory_format"]

# at::internal::GRAIN_SIZE: the fewest elements a reduction splits over threads
GRAIN_SIZE = 32768


def _ceil_log2(n: int) -> int:
    return 1 if n <= 2 else (n - 1).bit_length()


def _cascade(a):
    """``multi_row_sum`` along the last axis of ``a`` (each leading index is one column)."""
    xp = array_namespace(a)
    size = a.shape[-1]
    power = max(4, _ceil_log2(size) // 4)
    step, mask = 1 << power, (1 << power) - 1
    zero = xp.zeros(a.shape[:-1], dtype=a.dtype)
    acc = [zero] * 4
    i = 0
    while i + step <= size:
        for _ in range(step):
            acc[0] = acc[0] + a[..., i]
            i += 1
        for j in range(1, 4):
            acc[j] = acc[j] + acc[j - 1]
            acc[j - 1] = zero
            if i & (mask << (j * power)):
                break
    for k in range(i, size):
        acc[0] = acc[0] + a[..., k]
    for j in range(1, 4):
        acc[0] = acc[0] + acc[j]
    return acc[0]


def _row_sum(a):
    """``row_sum`` along the last axis: four interleaved cascades, tail, partials in order."""
    xp = array_namespace(a)
    size = a.shape[-1]
    q = size // 4
    if q:
        cols = xp.reshape(a[..., :4 * q], tuple(a.shape[:-1]) + (q, 4))
        parts = _cascade(xp.moveaxis(cols, -1, -2) if hasattr(xp, "moveaxis")
                         else xp.permute_dims(cols, tuple(range(cols.ndim - 2))
                                              + (cols.ndim - 1, cols.ndim - 2)))
        total = parts[..., 0]
    else:
        parts = None
        total = xp.zeros(a.shape[:-1], dtype=a.dtype)
    for k in range(4 * q, size):
        total = total + a[..., k]
    for k in range(1, 4):
        if parts is not None:
            total = total + parts[..., k]
    return total


def _loop2d(a, path, lanes, out_stride0):
    """The 2-D inner loop on ``a`` of shape ``(..., size1, size0)`` (dim0 last); returns the
    per-(…, size1) sums, or their ordered sum when dim1 is reduced (``out_stride0``)."""
    xp = array_namespace(a)
    size1, size0 = a.shape[-2], a.shape[-1]
    if path == "vectorized_inner":
        nv = size0 // lanes
        vec = xp.reshape(a[..., :nv * lanes], tuple(a.shape[:-1]) + (nv, lanes))
        vec = xp.permute_dims(vec, tuple(range(vec.ndim - 2)) + (vec.ndim - 1, vec.ndim - 2))
        partials = _row_sum(vec)                         # (..., size1, lanes)
        total = xp.zeros(a.shape[:-1], dtype=a.dtype)
        for k in range(nv * lanes, size0):
            total = total + a[..., k]
        for k in range(lanes):
            total = total + partials[..., k]
        rows = total
    elif path == "scalar_inner":
        rows = _row_sum(a)
    else:                                                # outer: columns are dim1
        t = xp.permute_dims(a, tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2))
        group = 4 * lanes if path == "vectorized_outer" else 4
        ncas = (size1 // group) * group
        pieces = []
        if ncas:
            pieces.append(_cascade(xp.permute_dims(
                t[..., :ncas], tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2))))
        if ncas < size1:
            pieces.append(_row_sum(xp.permute_dims(
                t[..., ncas:], tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2))))
        rows = xp.concat(pieces, axis=-1) if len(pieces) > 1 else pieces[0]
    if out_stride0:
        total = xp.zeros(rows.shape[:-1], dtype=a.dtype)
        for j in range(size1):
            total = total + rows[..., j]
        return total
    return rows


def torch_sum(x, axes, *, lanes: int = 8, threads: int = 1):
    """``torch.sum(x, axes, keepdim=True)`` of a C-contiguous float32 ``x`` on CPU, run on
    ``threads`` intra-op threads.

    The thread count matters for a reduction to a single value of at least
    :data:`GRAIN_SIZE` elements (``TensorIteratorBase::parallel_reduce``'s two passes): the
    flat input is cut into ``min(threads, ceil(numel / GRAIN_SIZE))`` slices of
    ``ceil(numel / that)`` elements, each slice summed into its thread's slot of a buffer of
    ``threads`` zeros, and the buffer summed. Otherwise the outputs are split over threads
    (``parallel_dim_reduction``), each output summed whole, as on one thread."""
    xp = array_namespace(x)
    numel = 1
    for d in x.shape:
        numel *= d
    reduced_to_one = all(x.shape[a % x.ndim] == 1 or a % x.ndim in {b % x.ndim for b in axes}
                         for a in range(x.ndim))
    if threads > 1 and reduced_to_one and numel >= GRAIN_SIZE:
        flat = xp.reshape(x, (numel,))
        used = min(threads, -(-numel // GRAIN_SIZE))
        step = -(-numel // used)
        slots = [_serial_sum(flat[i:min(i + step, numel)], (0,), lanes) for i in range(0, numel, step)]
        slots += [xp.zeros((1,), dtype=x.dtype)] * (threads - len(slots))
        total = _serial_sum(xp.concat(slots), (0,), lanes)
        return xp.reshape(total, tuple(1 for _ in x.shape))
    return _serial_sum(x, axes, lanes)


def _serial_sum(x, axes, lanes):
    """:func:`torch_sum` on one thread."""
    xp = array_namespace(x)
    axes = {a % x.ndim for a in axes}
    strides, s = [0] * x.ndim, 1
    for d in range(x.ndim - 1, -1, -1):
        strides[d] = s
        s *= x.shape[d]
    dims = [(d in axes, strides[d], [d]) for d in range(x.ndim) if x.shape[d] > 1]
    dims.sort(key=lambda t: (not t[0], t[1]))
    merged = []
    for red, stride, ds in dims:
        if merged:
            pred, pstride, pds = merged[-1]
            psize = 1
            for d in pds:
                psize *= x.shape[d]
            if pred == red and stride == pstride * psize:
                merged[-1] = (pred, pstride, ds + pds)
                continue
        merged.append((red, stride, ds))
    kept_shape = tuple(1 if d in axes else x.shape[d] for d in range(x.ndim))
    if not any(red for red, _, _ in merged):
        return x
    while len(merged) < 2:
        merged.append((False, 0, []))
    # Lay x out as (outer dims..., dim1, dim0): each merged dim is its original axes in
    # row-major order (the coalesced axes are contiguous and ordered).
    order = []
    for _, _, ds in reversed(merged):
        order += sorted(ds)
    kept_axes = [d for d in range(x.ndim) if d not in axes and x.shape[d] == 1] + \
        [d for d in axes if x.shape[d] == 1]
    y = xp.permute_dims(x, tuple(kept_axes + order))
    sizes = []
    for _, _, ds in reversed(merged):
        n = 1
        for d in ds:
            n *= x.shape[d]
        sizes.append(n)
    y = xp.reshape(y, tuple(sizes))
    (red0, st0, _), (red1, st1, _) = merged[0], merged[1]
    size0, size1 = sizes[-1], sizes[-2]
    if st0 == 1 and size0 >= lanes:
        path = "vectorized_inner"
    elif st1 == 1 and size1 >= lanes:
        path = "vectorized_outer"
    elif st0 < st1 or not merged[1][2]:
        path = "scalar_inner"
    else:
        path = "scalar_outer"
    out = _loop2d(y, path, lanes, red1)
    # outer dims: reduced ones accumulate into the output in loop order (fastest first)
    outer = list(reversed(merged[2:]))                 # leading axes of y / out, outermost first
    for pos in range(len(outer) - 1, -1, -1):
        if outer[pos][0]:
            total = xp.zeros(out.shape[:pos] + out.shape[pos + 1:], dtype=x.dtype)
            for j in range(out.shape[pos]):
                total = total + xp.take(out, xp.asarray([j]), axis=pos)[
                    (slice(None),) * pos + (0,)]
            out = total
    # out holds the kept merged dims (outermost first); restore the keepdims shape
    kept_order = [d for red, _, ds in reversed(merged) if not red for d in sorted(ds)]
    kept_sizes = [x.shape[d] for d in kept_order]
    out = xp.reshape(out, tuple(kept_sizes) if kept_sizes else ())
    inv = sorted(range(len(kept_order)), key=lambda i: kept_order[i])
    out = xp.permute_dims(out, tuple(inv)) if len(inv) > 1 else out
    return xp.reshape(out, kept_shape)


def _add_moments_vec(m0_add, m1_add, m2_add, into):
    """``AddMomentsVec``: the moments ``(m0_add, m1_add, m2_add)`` merged into ``into``
    (``[m0, m1, m2]``); the counts are arrays that broadcast against the moments (one per
    block of a stack level)."""
    xp = array_namespace(m1_add)
    dt = m1_add.dtype
    m0, m1, m2 = into
    n = m0 + m0_add
    c = xp.where(n == 0, xp.zeros_like(n, dtype=dt),
                 xp.astype(m0_add, dt) / xp.astype(xp.where(n == 0, 1, n), dt))
    delta = m1_add - m1
    m2_sum = m2 + m2_add
    c_delta = c * delta
    # written with fmadd: one rounding of m0 * delta * (c * delta) + (m2 + m2_add)
    m2 = fma(delta * xp.astype(m0, dt), c_delta, m2_sum)
    return [n, m1 + c_delta, m2]


def _into_empty(block):
    """A block entering an empty stack slot: ``AddMomentsVec`` into zero moments."""
    xp = array_namespace(block[1])
    zero = xp.zeros_like(block[1])
    return _add_moments_vec(*block, [xp.zeros_like(block[0]), zero, zero])


def _chunk_moments(blocks, count, inv):
    """``UpdateMomentsVec`` on every chunk at once: ``blocks`` is ``(..., chunks, count,
    lanes)``; returns the chunks' ``(m1, m2)``, each ``(..., chunks, lanes)``."""
    xp = array_namespace(blocks)
    m1 = xp.zeros(blocks.shape[:-2] + blocks.shape[-1:], dtype=blocks.dtype)
    m2 = m1
    for j in range(count):
        x = blocks[..., j, :]
        delta = x - m1
        m1 = fma(xp.full(delta.shape, inv[j], dtype=delta.dtype), delta, m1)
        m2 = fma(delta, x - m1, m2)
    return m1, m2


def _merged_chunks(m0, m1, m2, depth):
    """The chunk moments ``(m0 (chunks, 1), m1, m2 (..., chunks, lanes))`` merged as
    ``RowwiseMomentsImpl``'s stack of ``depth`` slots merges them, one level at a time.

    A block enters an empty slot (merged into zero moments), the next block of its level is
    merged into it and the pair moves up a level, up to the top slot ``depth - 1``, which
    keeps what it gets (at most two blocks); the leftover blocks of the lower levels (the
    bits of the chunk count) stay in their slots. Then every slot above 0 is merged into
    slot 0, in order."""
    xp = array_namespace(m1)
    slots = []
    level = [m0, m1, m2]
    for k in range(depth):
        count = level[1].shape[-2]

        def pick(sl):
            return [level[0][sl, :], level[1][..., sl, :], level[2][..., sl, :]]

        if k == depth - 1:
            top = _into_empty(pick(slice(0, 1)))
            if count == 2:
                top = _add_moments_vec(*pick(slice(1, 2)), top)
            slots.append(top)
            break
        pairs = count // 2
        slots.append(_into_empty(pick(slice(count - 1, count))) if count % 2 else None)
        if not pairs:
            slots += [None] * (depth - 1 - k)
            break
        level = _add_moments_vec(*pick(slice(1, 2 * pairs, 2)),
                                 _into_empty(pick(slice(0, 2 * pairs, 2))))
    zero = xp.zeros_like(m1[..., :1, :])
    empty = [xp.zeros_like(m0[:1, :]), zero, zero]
    total = slots[0] or empty
    for slot in slots[1:]:
        total = _add_moments_vec(*(slot or empty), total)
    return total[1][..., 0, :], total[2][..., 0, :]


def rowwise_moments(rows, *, lanes: int = 8):
    """Mean and biased variance of each row of ``rows`` (shape ``(..., n)``), torch's
    ``RowwiseMoments`` order (module docstring)."""
    xp = array_namespace(rows)
    dt = rows.dtype
    lead, size = tuple(rows.shape[:-1]), rows.shape[-1]
    nvec = size // lanes
    chunks = -(-nvec // 16)
    inv = [float(xp.asarray(1.0, dtype=dt) / xp.asarray(float(i + 1), dtype=dt))
           for i in range(16)]
    full = nvec // 16
    parts = []
    if full:
        blocks = xp.reshape(rows[..., :full * 16 * lanes], lead + (full, 16, lanes))
        parts.append((_chunk_moments(blocks, 16, inv), [16] * full))
    if nvec > full * 16:
        rest = nvec - full * 16
        block = xp.reshape(rows[..., full * 16 * lanes:nvec * lanes], lead + (1, rest, lanes))
        parts.append((_chunk_moments(block, rest, inv), [rest]))
    if chunks:
        counts = xp.reshape(xp.asarray(sum((c for _, c in parts), []), dtype=xp.int64),
                            (chunks, 1))
        vec_m1, vec_m2 = _merged_chunks(
            counts, xp.concat([m for (m, _), _ in parts], axis=-2),
            xp.concat([v for (_, v), _ in parts], axis=-2), _ceil_log2(chunks))
    else:
        vec_m1 = vec_m2 = xp.zeros(lead + (lanes,), dtype=dt)
    m0 = 0
    m1 = xp.zeros(lead, dtype=dt)
    m2 = xp.zeros(lead, dtype=dt)
    for k in range(nvec * lanes, size):
        x = rows[..., k]
        delta = x - m1
        m0 += 1
        m1 = m1 + delta / xp.asarray(float(m0), dtype=dt)
        m2 = m2 + delta * (x - m1)
    full_lead = xp.zeros(lead, dtype=dt)
    for k in range(lanes):
        # AddMoments, contracted by GCC: m1 += c * delta and m2_add + delta^2 c m0 fused
        n = m0 + nvec
        c = 0.0 if n == 0 else float(xp.asarray(nvec, dtype=dt) / xp.asarray(n, dtype=dt))
        delta = vec_m1[..., k] - m1
        m1 = fma(full_lead + c, delta, m1)
        m2 = m2 + fma(delta * delta * c, full_lead + float(m0), vec_m2[..., k])
        m0 = n
    return m1, m2 / float(size)


# -- batch norm statistics ----------------------------------------------------------------

def _element_strides(x):
    """The strides of ``x`` in elements where its namespace exposes them (numpy ``.strides``
    in bytes, torch ``.stride()``), else ``None`` (taken as C-contiguous)."""
    strides = getattr(x, "strides", None)
    if isinstance(strides, tuple):
        itemsize = getattr(getattr(x, "dtype", None), "itemsize", None) or x.itemsize
        return tuple(s // itemsize for s in strides)
    stride = getattr(x, "stride", None)
    if callable(stride):
        try:
            return tuple(stride())
        except TypeError:
            return None
    return None


def _dense(shape, strides, order) -> bool:
    """Whether the axes ``order`` (outermost first) lay ``x`` out densely, size-1 axes
    ignored (torch's ``is_contiguous(memory_format)``)."""
    expected = 1
    for a in reversed(order):
        if shape[a] != 1:
            if strides[a] != expected:
                return False
            expected *= shape[a]
    return True


def memory_format(x) -> str:
    """torch's reading of ``x``'s layout: ``"contiguous"``, ``"channels_last"`` (4-D or 5-D
    with channels (axis 1) innermost) or ``"strided"`` (neither)."""
    strides = _element_strides(x)
    if strides is None or _dense(x.shape, strides, tuple(range(x.ndim))):
        return "contiguous"
    if x.ndim in (4, 5) and _dense(x.shape, strides, (0,) + tuple(range(2, x.ndim)) + (1,)):
        return "channels_last"
    return "strided"


def _float32_row_sum(rows):
    """Rows of ``rows`` (``(n, ...)``) added one after the other in float32, as
    ``vec::map2`` accumulates a thread's buffer."""
    xp = array_namespace(rows)
    acc = xp.zeros(rows.shape[1:], dtype=rows.dtype)
    for k in range(rows.shape[0]):
        acc = rows[k, ...] + acc
    return acc


def _fused_square_sum(d, max_passes: int = 16):
    """``acc = fma(d[k], d[k], acc)`` for ``k`` in order, from 0, per column of ``d``
    (``(n, ...)`` float32): the variance buffer of ``vec::map3`` (``y + (x - mean) * (x -
    mean)``, contracted into an FMA).

    Computed a window of rows at a time without a Python loop per row: while the
    accumulator stays in one binade, of spacing ``u``, each step adds the square rounded to
    a multiple of ``u`` -- an integer sum in float64, exact. A step that leaves the binade,
    rounds a tie, or meets a non-finite value ends the run and is taken with :func:`fma`
    itself. The accumulator only grows, about doubling when the row count doubles, so the
    windows double too (64 rows, 64, 128, ...) and each sees about one binade change; a
    window that keeps ending runs (ties on coarse data) is finished row by row. Once the
    accumulator is infinite or NaN it stays so: the rest is added in float64."""
    xp = array_namespace(d)
    f64 = xp.float64
    cols = d.shape[1:]
    acc = xp.zeros(cols, dtype=d.dtype)
    inf = xp.asarray(xp.inf, dtype=d.dtype)
    lo, window = 0, 64
    while lo < d.shape[0]:
        w = d[lo:min(lo + window, d.shape[0]), ...]
        lo += window
        window = min(2 * lo, 1 << 16)
        rows = w.shape[0]
        q = xp.astype(w, f64) * xp.astype(w, f64)               # exact: 24 + 24 < 53 bits
        index = xp.reshape(xp.arange(rows, dtype=f64), (rows,) + (1,) * len(cols))

        def settle(acc, start):
            """Columns whose accumulator is no longer finite: the rest of the window added
            in float64 (inf stays inf, NaN stays NaN), and nothing left to do."""
            done = ~xp.isfinite(acc)
            rest = xp.sum(xp.where(index >= start, q, 0.0), axis=0)
            return (xp.where(done, xp.astype(xp.astype(acc, f64) + rest, d.dtype), acc),
                    xp.where(done, float(rows), start))

        acc, start = settle(acc, xp.zeros(cols, dtype=f64))
        for _ in range(max_passes):
            if bool(xp.all(start >= rows)):
                break
            live = index >= start
            finite = xp.where(xp.isfinite(acc), acc, xp.zeros_like(acc))
            u = xp.astype(xp.nextafter(finite, inf) - finite, f64)
            y = xp.where(live, q, 0.0) / u
            s = xp.astype(finite, f64) / u + xp.cumulative_sum(xp.round(y), axis=0)
            event = live & ((y - xp.floor(y) == 0.5) | ~(s < 2.0 ** 24))
            first = xp.min(xp.where(event, index, float(rows)), axis=0)
            before = xp.sum(xp.where(index == first - 1, s, 0.0), axis=0)
            acc = xp.where(first > start, xp.astype(before * u, d.dtype), acc)
            at = xp.sum(xp.where(index == first, w, xp.zeros_like(w)), axis=0)
            acc = xp.where(first < rows, fma(at, at, acc), acc)
            acc, start = settle(acc, xp.where(first < rows, first + 1, float(rows)))
        else:
            for k in range(int(xp.min(start)), rows):
                acc = xp.where(start <= k, fma(w[k, ...], w[k, ...], acc), acc)
    return acc


def batch_norm_stats(x, *, threads: int = 1):
    """Per-channel mean and sum of squared deviations of ``x`` (``(N, C, *spatial)``,
    float32) as ``batch_norm_cpu_collect_stats_kernel`` computes them; each ``(C,)``.

    ``batch_norm_cpu_collect_stats_contiguous_impl`` (a contiguous input of spatial size
    above 1): per channel, the values (batch, then spatial, in memory order) summed in
    float64, the mean the float64 sum divided by the count rounded once, then the float32
    squares ``(x - mean) * (x - mean)`` summed in float64.

    ``batch_norm_cpu_collect_stats_channels_last_impl`` (channels-last memory, and a
    contiguous ``(N, C)`` or ``(N, C, 1, ...)``, which is channels-last too): the ``M``
    rows of ``C`` values, in memory order, cut into slices of ``ceil(M / threads)`` rows,
    one per thread; each slice summed in float32 row after row into its thread's buffer,
    the ``threads`` buffers added in float64 and divided by ``M`` (rounded once); then the
    squared deviations the same way, each step a fused multiply-add. With ``M <= threads``
    the rows are not split: for ``C <= 16`` or ``C > 2048`` ("Method 2") one float32 pass,
    the sum divided by ``M`` in float32 and the fused squares left in float32; otherwise
    ("Method 1") in float64 as the contiguous kernel does.

    Any other layout takes torch's non-contiguous path (``at::mean``, then a float64
    variance), which is not reproduced: a clear error.
    """
    xp = array_namespace(x)
    layout = memory_format(x)
    if layout == "strided":
        raise ValueError("torch's batch norm of an input that is neither contiguous nor "
                         "channels-last (at::mean, then a float64 variance) is not "
                         f"reproduced; pass a contiguous copy (shape {tuple(x.shape)})")
    c = x.shape[1]
    rows = xp.reshape(xp.moveaxis(x, 1, -1) if hasattr(xp, "moveaxis") else xp.permute_dims(
        x, (0,) + tuple(range(2, x.ndim)) + (1,)), (-1, c))
    m = rows.shape[0]
    per_thread = layout == "channels_last" or m == x.shape[0]
    if per_thread and m <= threads and (threads == 1 or c <= 16 or c > 2048):
        mean = _float32_row_sum(rows) / float(m)
        return mean, _fused_square_sum(rows - mean)
    if not per_thread or m <= threads:
        # rows are in (batch, spatial) order, the contiguous kernel's order per channel
        f64 = xp.float64
        per_channel = xp.permute_dims(rows, (1, 0))
        mean = xp.astype(xp.cumulative_sum(xp.astype(per_channel, f64), axis=-1)[..., -1] / m,
                         x.dtype)
        d = per_channel - mean[:, None]
        var_sum = xp.cumulative_sum(xp.astype(d * d, f64), axis=-1)[..., -1]
        return mean, xp.astype(var_sum, x.dtype)
    step = -(-m // threads)
    slices = [rows[i:min(i + step, m), ...] for i in range(0, m, step)]

    def thread_total(buffers):
        total = xp.zeros((c,), dtype=xp.float64)
        for buffer in buffers:
            total = total + xp.astype(buffer, xp.float64)
        return total

    mean = xp.astype(thread_total([_float32_row_sum(s) for s in slices]) / m, x.dtype)
    var_sum = thread_total([_fused_square_sum(s - mean) for s in slices])
    return mean, xp.astype(var_sum, x.dtype)


# -- group norm, channels last -------------------------------------------------------------

def _lane_sum(v):
    """``vec_reduce_all`` of 8 lanes (AVX2): halves added, then pairs, then neighbours:
    ``((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))``."""
    lane = [v[..., i] for i in range(8)]
    return (((lane[0] + lane[4]) + (lane[2] + lane[6]))
            + ((lane[1] + lane[5]) + (lane[3] + lane[7])))


def group_norm_channels_last(x, groups: int, *, threads: int = 1):
    """Mean and variance of each ``(sample, group)`` of a channels-last ``x`` (``(N, C,
    *spatial)`` float32), as ``GroupNormKernelImplChannelsLastInternal`` computes them; each
    ``(N, groups)``. With ``s = 1 / (D * HW)`` (float32; ``D = C / groups`` channels of
    ``HW`` positions), ``mean = sum(x) * s`` and ``var = max(fma(sum(x^2), s, -mean^2), 0)``.

    ``HW < 1024`` (impl-1, ``ColumnwiseMoments``): per group, 8-lane vectors over its
    channels (the last one zero-filled) added position by position into one accumulator of
    x and one of x * x (rounded, not fused), then ``vec_reduce_all`` of the lanes.

    ``HW >= 1024`` (impl-2): the ``N * HW`` rows cut into ``ceil(N * HW / threads)`` rows per
    thread; each thread adds its rows into its buffer of per-sample channel sums (x, and x^2
    fused); then, per group, the buffers summed in float32 channel by channel, thread by
    thread -- the result depends on ``threads``.
    """
    xp = array_namespace(x)
    n, c = x.shape[0], x.shape[1]
    hw = 1
    for d in x.shape[2:]:
        hw *= d
    per = c // groups
    rows = xp.reshape(xp.moveaxis(x, 1, -1) if hasattr(xp, "moveaxis") else xp.permute_dims(
        x, (0,) + tuple(range(2, x.ndim)) + (1,)), (n, hw, c))
    s = float(xp.asarray(1.0, dtype=x.dtype) / xp.asarray(float(per * hw), dtype=x.dtype))
    if hw < 1024:
        blocks = -(-per // 8)
        grouped = xp.reshape(rows, (n, hw, groups, per))
        padded = xp.concat([grouped, xp.zeros((n, hw, groups, blocks * 8 - per),
                                              dtype=x.dtype)], axis=-1)
        padded = xp.reshape(padded, (n, hw, groups, blocks, 8))
        acc = xp.zeros((n, groups, 8), dtype=x.dtype)
        acc_sq = acc
        for m in range(hw):
            for b in range(blocks):
                v = padded[:, m, :, b, :]
                acc = acc + v
                acc_sq = acc_sq + v * v
        total, total_sq = _lane_sum(acc), _lane_sum(acc_sq)
    else:
        flat = xp.reshape(rows, (n * hw, c))
        step = -(-(n * hw) // threads)
        zero = xp.zeros((n, c), dtype=x.dtype)
        buffers = []
        for t in range(threads):
            sums, squares = [zero[i, ...] for i in range(n)], [zero[i, ...] for i in range(n)]
            lo, hi = t * step, min((t + 1) * step, n * hw)
            for i in range(lo // hw, -(-hi // hw) if hi > lo else 0):
                seg = flat[max(lo, i * hw):min(hi, (i + 1) * hw), ...]
                sums[i] = _float32_row_sum(seg)
                squares[i] = _fused_square_sum(seg)
            buffers.append((xp.stack(sums), xp.stack(squares)))
        total = xp.zeros((n, groups), dtype=x.dtype)
        total_sq = total
        for d in range(per):
            for sums, squares in buffers:
                total = total + sums[:, d::per][:, :groups]
                total_sq = total_sq + squares[:, d::per][:, :groups]
    mean = total * s
    var = fma(total_sq, xp.full(total_sq.shape, s, dtype=x.dtype), -(mean * mean))
    return mean, xp.maximum(var, xp.zeros_like(var))

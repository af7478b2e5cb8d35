"""torch's CPU float32 reductions, reproduced operation by operation (Array API).

torch dispatches its CPU kernels on the CPU capability; the reference models the AVX2
kernels (``Vectorized<float>`` of ``lanes=8``; run torch with ``ATEN_CPU_CAPABILITY=avx2``
to compare bit for bit on an AVX-512 machine). Two kernels:

:func:`torch_sum` -- ``at::sum`` (and ``at::mean`` = sum / n on CPU), the cascade sum of
``aten/src/ATen/native/cpu/SumKernel.cpp``. TensorIterator drops size-1 dims, puts the
reduced dims first, orders dims by input stride and coalesces contiguous ones; the first two
dims form the 2-D inner loop, handled by one of four paths (vectorized inner, vectorized
outer, scalar inner, scalar outer); the remaining dims loop outside and accumulate into the
output in order. Every path is built from ``multi_row_sum`` (sixteen values summed
sequentially per level, four levels of partial sums) and ``row_sum`` (four interleaved
``multi_row_sum`` columns, tail, then the four partials added in order).

:func:`rowwise_moments` -- ``RowwiseMoments`` of ``cpu/moments_utils.h`` (layer norm, group
norm): Welford over ``lanes`` interleaved accumulators in chunks of 16 vectors, fused
multiply-adds where GCC contracts them (measured: the vector update and the scalar merge),
chunks merged on a binary stack, then lanes merged into the scalar tail's moments.
Verified bit for bit against torch 2.13 for rows of at most 128 elements (one chunk of 16
vectors); longer rows merge chunks on a stack and land a few ULP of the variance off.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules._numerics import fma

__all__ = ["torch_sum", "rowwise_moments"]


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


def torch_sum(x, axes, *, lanes: int = 8):
    """``torch.sum(x, axes, keepdim=True)`` of a C-contiguous float32 ``x`` on CPU."""
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


def rowwise_moments(rows, *, lanes: int = 8):
    """Mean and biased variance of each row of ``rows`` (shape ``(..., n)``), torch's
    ``RowwiseMoments`` order (module docstring)."""
    xp = array_namespace(rows)
    dt = rows.dtype
    lead, size = tuple(rows.shape[:-1]), rows.shape[-1]
    nvec = size // lanes
    chunks = -(-nvec // 16)
    depth = _ceil_log2(chunks)
    zero = xp.zeros(lead + (lanes,), dtype=dt)
    stack = [[0, zero, zero] for _ in range(max(depth, 1))]

    def add_vec(m0_add, m1_add, m2_add, into):
        m0, m1, m2 = into
        n = m0 + m0_add
        c = 0.0 if n == 0 else float(xp.asarray(m0_add, dtype=dt) / xp.asarray(n, dtype=dt))
        delta = m1_add - m1
        m1 = m1 + c * delta
        m2 = m2 + fma(delta * delta * c, xp.full(delta.shape, float(m0), dtype=dt), m2_add)
        return [n, m1, m2]

    inv = [float(xp.asarray(1.0, dtype=dt) / xp.asarray(float(i + 1), dtype=dt))
           for i in range(16)]
    for i in range(chunks):
        count = min(16, nvec - i * 16)
        m1, m2 = zero, zero
        for j in range(count):
            start = (i * 16 + j) * lanes
            x = rows[..., start:start + lanes]
            delta = x - m1
            m1 = fma(delta, xp.full(delta.shape, inv[j], dtype=dt), m1)
            m2 = fma(delta, x - m1, m2)
        stack[0] = add_vec(count, m1, m2, stack[0])
        mask = i + 1
        j = 1
        while j < depth and (mask & 1) == 0:
            stack[j] = add_vec(*stack[j - 1], stack[j])
            stack[j - 1] = [0, zero, zero]
            mask >>= 1
            j += 1
    for j in range(1, depth):
        stack[0] = add_vec(*stack[j], stack[0])
    m0 = 0
    m1 = xp.zeros(lead, dtype=dt)
    m2 = xp.zeros(lead, dtype=dt)
    for k in range(nvec * lanes, size):
        x = rows[..., k]
        delta = x - m1
        m0 += 1
        m1 = m1 + delta / xp.asarray(float(m0), dtype=dt)
        m2 = m2 + delta * (x - m1)
    full = xp.full(lead, 0.0, dtype=dt)
    for k in range(lanes):
        n = m0 + nvec
        c = 0.0 if n == 0 else float(xp.asarray(nvec, dtype=dt) / xp.asarray(n, dtype=dt))
        delta = stack[0][1][..., k] - m1
        m1 = fma(full + c, delta, m1)
        m2 = m2 + fma(delta * delta * c, full + float(m0), stack[0][2][..., k])
        m0 = n
    return m1, m2 / size

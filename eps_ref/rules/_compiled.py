"""Optional compiled kernels: the loops NumPy can only run one array pass at a time.

With numba installed (the ``fast`` extra: ``pip install "eps_ref[fast]"``), the NumPy
float32 paths listed here run as compiled loops with a hardware fused multiply-add
(``llvm.fma.f32``: one IEEE rounding, as :func:`eps_ref.rules._numerics.fma`). They give
the bits of the NumPy formulation they replace: ``tests/test_fast_paths.py`` compares both
on random bit patterns (zeros, subnormals, rounding ties, infinities and NaNs). Without
numba, with ``EPS_REF_COMPILED_KERNELS=0``, or with the fast paths off
(``eps_ref.rules._numerics.FAST_PATHS = False``), the NumPy formulation runs.

- :func:`product_chain`: one chain of rank-one products per output element of ``a @ b``,
  ``acc <- fma(a[i, k], b[k, j], acc)`` (or the product rounded, then added) over a given
  order of ``k`` (the matrix products of Muon's Newton-Schulz iteration);
- :func:`pairwise_products`: the ``K`` rounded products of each output element added
  pairwise, as :func:`eps_ref.rules.muon.matmul`'s ``"pairwise"`` order.
"""

from __future__ import annotations

import functools
import os

__all__ = ["ENV", "enabled", "pairwise_products", "product_chain"]

ENV = "EPS_REF_COMPILED_KERNELS"


def enabled() -> bool:
    """Whether the compiled kernels run: the fast paths are on, :data:`ENV` is not ``"0"``
    and numba imports."""
    from eps_ref.rules import _numerics
    return (_numerics.FAST_PATHS and os.environ.get(ENV, "1") != "0"
            and _kernels() is not None)


@functools.lru_cache(maxsize=None)
def _kernels():
    try:
        import numba
        import numpy as np
        from llvmlite import ir
        from numba import types
        from numba.extending import intrinsic
    except Exception:       # numba missing or broken: the NumPy paths run
        return None

    @intrinsic
    def fmaf(typingctx, a, b, c):
        signature = types.float32(types.float32, types.float32, types.float32)

        def codegen(context, builder, sig, args):
            f32 = ir.FloatType()
            fn = builder.module.declare_intrinsic("llvm.fma", [f32],
                                                  ir.FunctionType(f32, [f32, f32, f32]))
            return builder.call(fn, args)
        return signature, codegen

    # fastmath stays off: LLVM must not contract the unfused chain's product and sum.
    @numba.njit(cache=True)
    def chain(a, b, acc, ks, fused):
        m, n = acc.shape
        for k in ks:
            for i in range(m):
                x = a[i, k]
                if fused:
                    for j in range(n):
                        acc[i, j] = fmaf(x, b[k, j], acc[i, j])
                else:
                    for j in range(n):
                        acc[i, j] = acc[i, j] + x * b[k, j]
        return acc

    @numba.njit(cache=True)
    def pairwise(a, b, out):
        m, depth = a.shape
        n = b.shape[1]
        parts = np.empty(depth, np.float32)
        for i in range(m):
            for j in range(n):
                for k in range(depth):
                    parts[k] = a[i, k] * b[k, j]
                length = depth
                while length > 1:       # (0 + 1), (2 + 3), ...; an odd last one carried
                    half = 0
                    for p in range(0, length - 1, 2):
                        parts[half] = parts[p] + parts[p + 1]
                        half += 1
                    if length % 2:
                        parts[half] = parts[length - 1]
                        half += 1
                    length = half
                out[i, j] = parts[0]
        return out

    return {"chain": chain, "pairwise": pairwise}


def product_chain(a, b, acc, ks, fused=True):
    """``acc[i, j] <- fma(a[i, k], b[k, j], acc[i, j])`` for ``k`` in ``ks`` in order
    (``fused=False``: ``acc + a[i, k] * b[k, j]``, the product rounded first), for float32
    NumPy arrays ``a`` (m, K), ``b`` (K, n) and ``acc`` (m, n); returns a new array.
    Compiled: call only when :func:`enabled`."""
    import numpy as np
    out = np.array(acc, dtype=np.float32, order="C", copy=True)
    order = np.asarray(list(ks), dtype=np.int64)
    return _kernels()["chain"](np.ascontiguousarray(a), np.ascontiguousarray(b), out, order,
                               bool(fused))


def pairwise_products(a, b):
    """``a @ b`` for float32 NumPy arrays with each output's ``K`` products rounded, then
    added pairwise (``(p0 + p1) + (p2 + p3)``, an odd last one carried up). Compiled: call
    only when :func:`enabled`."""
    import numpy as np
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    return _kernels()["pairwise"](np.ascontiguousarray(a), np.ascontiguousarray(b), out)

"""Optional compiled kernels: the loops NumPy can only run one array pass at a time.

With numba installed (the ``fast`` extra: ``pip install "eps_ref[fast]"``), the NumPy
float32 paths listed here run as compiled loops with a hardware fused multiply-add
(``llvm.fma.f32``: one IEEE rounding, as :func:`eps_ref.rules._numerics.fma`). They give
the bits of the NumPy formulation they replace: ``tests/test_fast_paths.py`` compares both
on random bit patterns (zeros, subnormals, rounding ties, infinities and NaNs), but for
the payload and sign of a NaN result: IEEE leaves those open, and even NumPy's float64
reference formulation gives different NaN bits for the same element in a vector loop and
in its scalar tail. Without
numba, with ``EPS_REF_COMPILED_KERNELS=0``, or with the fast paths off
(``eps_ref.rules._numerics.FAST_PATHS = False``), the NumPy formulation runs.

- :func:`product_chain`: one chain of rank-one products per output element of ``a @ b``,
  ``acc <- fma(a[i, k], b[k, j], acc)`` (or the product rounded, then added) over a given
  order of ``k`` (the matrix products of Muon's Newton-Schulz iteration);
- :func:`pairwise_products`: the ``K`` rounded products of each output element added
  pairwise, as :func:`eps_ref.rules.muon.matmul`'s ``"pairwise"`` order;
- :func:`fma`: the elementwise fused multiply-add of :func:`eps_ref.rules._numerics.fma`
  in one pass;
- :func:`root_kernel`: the RSQRTPS estimate and the kernels built on it
  (:mod:`eps_ref.rules._roots`: Eigen's and XLA's Newton steps, MKL's square root) in one
  pass, the elements outside the positive normal range flagged for the reference
  formulation as the NumPy path defers them.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

__all__ = ["ENV", "enabled", "fma", "pairwise_products", "product_chain", "root_kernel",
           "ROOT_KERNELS"]

ROOT_KERNELS = ("estimate", "eigen_rsqrtps_newton", "xla_rsqrtps_newton_fma",
                "mkl_goldschmidt_rsqrtps")
"""The :mod:`~eps_ref.rules._roots` kernels :func:`root_kernel` runs."""

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
        from llvmlite import ir
        from numba import types
        from numba.extending import intrinsic, overload
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

    def bitcast(source, target, ir_target):
        @intrinsic
        def cast(typingctx, value):
            def codegen(context, builder, sig, args):
                return builder.bitcast(args[0], ir_target)
            return target(source), codegen
        return cast

    bits_as_float32 = bitcast(types.int32, types.float32, ir.FloatType())
    float32_bits = bitcast(types.float32, types.int32, ir.IntType(32))
    bits_as_float64 = bitcast(types.int64, types.float64, ir.DoubleType())
    float64_bits = bitcast(types.float64, types.int64, ir.IntType(64))

    def at(v, i):
        """``v[i]`` for an array, ``v`` for a scalar operand."""

    @overload(at)
    def _at(v, i):
        if isinstance(v, types.Array):
            return lambda v, i: v[i]
        return lambda v, i: v

    # fastmath stays off everywhere: LLVM must not contract a product and a sum into an
    # FMA, nor reassociate. Constants are float32: a Python float would promote to float64.
    # error_model="numpy": IEEE division (x / 0 is an infinity), so that no division
    # carries a branch to a Python exception and the loops vectorize.
    @numba.njit(cache=True, error_model="numpy")
    def fma_kernel(a, b, c, out):
        for i in range(out.shape[0]):
            out[i] = fmaf(at(a, i), at(b, i), at(c, i))

    one, half, m_half = np.float32(1.0), np.float32(0.5), np.float32(-0.5)

    @numba.njit(inline="always", error_model="numpy")
    def bare(v, y):
        return y

    @numba.njit(inline="always", error_model="numpy")
    def eigen(v, y):                    # (-y/2) (x y y - 1) + y, every operation rounded
        return (y * m_half) * ((v * y) * y - one) + y

    @numba.njit(inline="always", error_model="numpy")
    def xla(v, y):                      # fma(-y/2, fma(x y, y, -1), y)
        return fmaf(y * m_half, fmaf(v * y, y, -one), y)

    @numba.njit(inline="always", error_model="numpy")
    def mkl(v, y):                      # Goldschmidt, then the residual correction
        s = y * v
        h = y * half
        r = half - s * h
        s = s * r + s
        h = h * r + h
        return (v - s * s) * h + s

    def root_loop(refine, high_bits):
        high = high_bits - 0x00800000

        @numba.njit(cache=True, error_model="numpy")
        def loop(x, table, out, defer):
            bits = x.view(np.int32)
            entries = out.view(np.int32)
            for i in range(x.shape[0]):         # the gathers alone: LLVM then vectorizes
                entries[i] = table[(bits[i] >> 11) & 0x1FFF]        # the loop below
            any_deferred = False
            for i in range(x.shape[0]):
                b = np.int64(bits[i])
                offset = (b & 0xFFFFFFFF) - 0x00800000              # unsigned bits - FLT_MIN
                outside = (offset < 0) | (offset >= high)
                defer[i] = outside
                any_deferred |= outside
                shift = ((b + 0x00800000) >> 1) & 0x7F800000
                y = bits_as_float32(np.int32(np.int64(entries[i]) - shift))
                out[i] = refine(x[i], y)
            return any_deferred
        return loop

    roots = {"estimate": root_loop(bare, 0x7F800000),
             "eigen_rsqrtps_newton": root_loop(eigen, 0x7F800000),
             "xla_rsqrtps_newton_fma": root_loop(xla, 0x7F800000),
             "mkl_goldschmidt_rsqrtps": root_loop(mkl, 0x7F000000)}

    # fastmath stays off: LLVM must not contract the unfused chain's product and sum.
    @numba.njit(cache=True, error_model="numpy")
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

    @numba.njit(cache=True, error_model="numpy")
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

    return {"chain": chain, "pairwise": pairwise, "fma": fma_kernel, **roots,
            "eigen_pow": _eigen_pow_kernel(numba, np, bits_as_float32, float32_bits,
                                           bits_as_float64),
            "sleef_powf": _sleef_powf_kernel(numba, np, fmaf, at, bits_as_float32,
                                             float32_bits, bits_as_float64),
            "powf_glibc": _powf_glibc_kernel(numba, np, at, bits_as_float64,
                                             float64_bits)}


def _exact_pow2(numba, np, bits_as_float64):
    """:math:`2^k` for a float64 integer ``k`` as :func:`eps_ref.rules._numerics.pow2`
    gives it (exact, subnormals included; 0 and infinity beyond the range, NaN for NaN),
    from the bits."""
    @numba.njit(inline="always", error_model="numpy")
    def pow2(k):
        ki = np.int64(min(max(k, -1100.0), 1100.0))
        bits = ((ki + 1023) << 52) if ki >= -1022 else (
            np.int64(1) << (ki + 1074) if ki >= -1074 else np.int64(0))
        value = bits_as_float64(bits) if ki <= 1023 else np.inf
        return value if k == k else np.nan
    return pow2


def _float32_trunc_floor(numba, np, bits_as_float32, float32_bits):
    """``np.trunc`` and ``np.floor`` of a float32 (signed zeros, infinities and NaN kept),
    without a library call."""
    f32, i32 = np.float32, np.int32
    one, big, sign_bit = f32(1.0), f32(2.0 ** 23), i32(-2 ** 31)
    jit = numba.njit(inline="always", error_model="numpy")

    @jit
    def trunc(a):                   # the integer part's bits, or'ed with a's sign
        t = bits_as_float32(i32(float32_bits(f32(np.int64(a))) | (float32_bits(a) & sign_bit)))
        return t if abs(a) < big else a

    @jit
    def floor(a):
        t = trunc(a)
        return t - one if t > a else t
    return trunc, floor


def _eigen_pow_kernel(numba, np, bits_as_float32, float32_bits, bits_as_float64):
    """:func:`eigen_pow` as a compiled loop: :func:`eps_ref.rules._eigen_pow._pow_positive`
    transcribed operation by operation, every operation a float32 one (constants are
    float32 values: a Python float would promote to float64), the exponent steps exact
    (from the bits), ``minimum``/``maximum``/``trunc`` with NumPy's NaN and signed-zero
    rules; no branch and no library call, so that LLVM vectorizes the loop."""
    from eps_ref.rules import _eigen_pow as ep
    f32 = np.float32
    one, two, half, k4097 = f32(1.0), f32(2.0), f32(0.5), f32(4097.0)
    big = f32(2.0 ** 23)
    sqrt_half, ln2, prev_half = f32(ep._SQRT_HALF), f32(ep._LN2), ep._PREV_HALF
    c0 = (f32(ep._C0), f32(ep._C0 - float(f32(ep._C0))))
    c1 = (f32(ep._C1), f32(ep._C1 - float(f32(ep._C1))))
    poly0, poly1, poly2, poly3, poly4, poly5, poly6, poly7, poly8 = (
        f32(v) for v in ep._LOG2_POLY)
    log2ef, exp_c1, exp_c2 = f32(ep._EXP_LOG2EF), f32(ep._EXP_C1), f32(ep._EXP_C2)
    p2, p3, p4, p5, p6 = (f32(v) for v in ep._EXP_P)
    exp_max, exp2_max, exp2_min = f32(88.723), f32(129.0), f32(-151.0)
    flt_min = f32(ep._FLT_MIN)
    jit = numba.njit(inline="always", error_model="numpy")

    i32 = np.int32
    sign_bit, prev_half_bits = i32(-2 ** 31), int(f32(prev_half).view(np.int32))

    @jit
    def minimum(a, b):                       # np.minimum
        return a if (a <= b) | (a != a) else b

    @jit
    def maximum(a, b):                       # np.maximum
        return a if (a >= b) | (a != a) else b

    trunc, floor = _float32_trunc_floor(numba, np, bits_as_float32, float32_bits)

    pow2 = _exact_pow2(numba, np, bits_as_float64)

    @jit
    def times_pow2(a, n):                    # a 2^n for an integral float32 n, exact
        return f32(np.float64(a) * pow2(np.float64(n)))

    @jit
    def split(x):
        gamma = k4097 * x
        rho = x - gamma
        hi = rho + gamma
        return hi, x - hi

    @jit
    def two_prod(x, y):
        x_hi, x_lo = split(x)
        y_hi, y_lo = split(y)
        hi = x * y
        lo = x_hi * y_hi + (-hi)
        lo = x_hi * y_lo + lo
        lo = x_lo * y_hi + lo
        lo = x_lo * y_lo + lo
        return hi, lo

    @jit
    def fast_two_sum(x, y):
        s = x + y
        return s, y - (s - x)

    @jit
    def dw_add(x_hi, x_lo, y_hi, y_lo):
        r_hi, r_lo = fast_two_sum(x_hi, y_hi)
        return fast_two_sum(r_hi, (y_lo + r_lo) + x_lo)

    @jit
    def dw_times(x_hi, x_lo, y):
        c_hi, c_lo1 = two_prod(x_hi, y)
        t_hi, t_lo1 = fast_two_sum(c_hi, x_lo * y)
        return fast_two_sum(t_hi, t_lo1 + c_lo1)

    @jit
    def round_half_away(a):
        return trunc(bits_as_float32(i32(prev_half_bits | (float32_bits(a) & sign_bit))) + a)

    @jit
    def accurate_log2(z):
        x = z - one
        p = poly0 * x + poly1
        p = p * x + poly2
        p = p * x + poly3
        p = p * x + poly4
        p = p * x + poly5
        p = p * x + poly6
        p = p * x + poly7
        p = p * x + poly8
        p_hi, p_lo = two_prod(x, p)
        p_hi, p_lo = dw_add(c1[0], c1[1], p_hi, p_lo)
        p_hi, p_lo = dw_times(p_hi, p_lo, x)
        p_hi, p_lo = dw_add(c0[0], c0[1], p_hi, p_lo)
        return dw_times(p_hi, p_lo, x)

    @jit
    def pexp(x_in):
        x = minimum(x_in, exp_max)
        m = floor(x * log2ef + half)
        r = m * exp_c1 + x
        r = m * exp_c2 + r
        r2 = r * r
        p_even = r2 * p6 + p4
        p_odd = r2 * p5 + p3
        p_even = r2 * p_even + p2
        y = r * p_odd + p_even
        y = r2 * y + (r + one)
        return maximum(times_pow2(y, m), x_in)

    @jit
    def generic_exp2(x):
        x = maximum(minimum(x, exp2_max), exp2_min)
        p_hi, p_lo = two_prod(ln2, x)
        return pexp(p_hi) * (one + p_lo)

    @jit
    def pow_positive(x, y):
        bits = float32_bits(x)               # x positive and normal: m in [1/2, 1)
        m = bits_as_float32(i32((bits & 0x007FFFFF) | 0x3F000000))
        e = f32((bits >> 23) - 126)
        low = m < sqrt_half
        m, e = (two * m, e - one) if low else (m, e)
        rx_hi, rx_lo = accurate_log2(m)
        f1_hi, f1_lo = two_prod(e, y)
        f2_hi, f2_lo = dw_times(rx_hi, rx_lo, y)
        f_hi, f_lo = dw_add(f1_hi, f1_lo, f2_hi, f2_lo)
        n = round_half_away(f_hi)
        r = (f_hi - n) + f_lo
        n_r = round_half_away(r)
        return times_pow2(generic_exp2(r - n_r), n + n_r)

    @numba.njit(cache=True, error_model="numpy")
    def loop(x, y, y_is_int, y_is_odd, out, defer):
        zero_value = np.inf if y < 0 else f32(0.0)      # pow(+-0, y); subnormals read as 0
        any_deferred = False
        for i in range(x.shape[0]):
            v = x[i]
            a = abs(v)
            normal = (a >= flt_min) & (a < np.inf) & (a != one) & ((v > 0) | y_is_int)
            o = pow_positive(a if normal else one, y)
            flushed = a < flt_min
            o = zero_value if flushed else o
            negate = y_is_odd & (float32_bits(v) < 0)
            out[i] = -o if negate else o
            regular = (normal & (abs(o) >= flt_min)) | flushed
            defer[i] = not regular
            any_deferred |= not regular
        return any_deferred
    return loop


def _sleef_powf_kernel(numba, np, fmaf, at, bits_as_float32, float32_bits, bits_as_float64):
    """:func:`sleef_powf` as a compiled loop: the core of
    :func:`eps_ref.rules._sleef_pow._vector_powf` (``logkf``, the double-float product,
    ``expkf``) transcribed operation by operation with float32 operations, the hardware FMA
    for SLEEF's fused ones, exponents and powers of two from the bits; no branch and no
    library call."""
    from eps_ref.rules import _sleef_pow as sp
    f32, i32 = np.float32, np.int32
    one, two, zero = f32(1.0), f32(2.0), f32(0.0)
    inf = f32(np.inf)
    flt_min, two_64, top, four_thirds = (f32(sp._FLT_MIN), f32(2.0 ** 64), f32(2.0 ** 127),
                                         f32(sp._FOUR_THIRDS))
    ln2_hi, ln2_lo, c_hi, c_lo = (f32(v) for v in (sp._LN2_HI, sp._LN2_LO, sp._C_HI, sp._C_LO))
    lp0, lp1, lp2 = (f32(v) for v in sp._LOG_POLY)
    r_ln2, m_l2u, m_l2l = f32(sp._R_LN2), f32(-sp._L2U), f32(-sp._L2L)
    ep0, ep1, ep2, ep3, ep4 = (f32(v) for v in sp._EXP_POLY)
    exp_floor, magic, big = f32(-104.0), f32(1.5 * 2.0 ** 23), f32(2.0 ** 23)
    two_24 = f32(2.0 ** 24)
    sign_bit = i32(-2 ** 31)
    trunc = _float32_trunc_floor(numba, np, bits_as_float32, float32_bits)[0]
    jit = numba.njit(inline="always", error_model="numpy")

    pow2 = _exact_pow2(numba, np, bits_as_float64)

    @jit
    def rint(u):                             # round half to even; the sign of a zero kept
        r = (u + magic) - magic
        r = bits_as_float32(i32(float32_bits(r) | (float32_bits(u) & sign_bit)))
        return r if abs(u) < big else u

    @jit
    def add2_f_f(x, y):
        rx = x + y
        v = rx - x
        return rx, (x - (rx - v)) + (y - v)

    @jit
    def add_df_df(x0, x1, y0, y1):
        rx = x0 + y0
        return rx, (((x0 - rx) + y0) + x1) + y1

    @jit
    def add2_df_df(x0, x1, y0, y1):
        rx = x0 + y0
        v = rx - x0
        ry = (x0 - (rx - v)) + (y0 - v)
        return rx, ry + (x1 + y1)

    @jit
    def add2_df_f(x0, x1, y):
        rx = x0 + y
        v = rx - x0
        ry = (x0 - (rx - v)) + (y - v)
        return rx, ry + x1

    @jit
    def add_f_df(x, y0, y1):
        rx = x + y0
        return rx, ((x - rx) + y0) + y1

    @jit
    def mul_df_f(x0, x1, y):
        rx = x0 * y
        return rx, fmaf(x1, y, fmaf(x0, y, -rx))

    @jit
    def mul_df_df(x0, x1, y0, y1):
        rx = x0 * y0
        return rx, fmaf(x0, y1, fmaf(x1, y0, fmaf(x0, y0, -rx)))

    @jit
    def squ(x0, x1):
        rx = x0 * x0
        return rx, fmaf(x0 + x0, x1, fmaf(x0, x0, -rx))

    @jit
    def div(n0, n1, d0, d1):
        t = one / d0
        qx = n0 * t
        u = fmaf(t, n0, -qx)
        qy = fmaf(-d1, t, fmaf(-d0, t, one))
        return qx, fmaf(qx, qy, fmaf(n1, t, u))

    @jit
    def ldexp(a, q):                         # SLEEF's vldexp: five float32 products
        q = np.float64(q)
        sign = -1.0 if q < 0 else 0.0
        m = (np.floor((q + sign) / 64.0) - sign) * 16.0
        rest = q - 4.0 * m
        biased = min(max(m + 127.0, 0.0), 255.0)
        u = f32(0.0 if biased == 0.0 else (np.inf if biased == 255.0 else pow2(biased - 127.0)))
        u = u if m == m else f32(np.nan)
        a = (((a * u) * u) * u) * u
        return a * f32(pow2(rest))

    @jit
    def split(d):                            # d = m 2^e, m in [3/4, 3/2)
        tiny = d < flt_min
        d = d * (two_64 if tiny else one)
        high = d >= top
        p = (d * (f32(0.5) if high else one)) * four_thirds
        e = np.float64(((float32_bits(p) >> 23) & 0xFF) - 127) + (1.0 if high else 0.0)
        m = f32(np.float64(d) * pow2(-e))
        return m, f32(e - 64.0 if tiny else e)

    @jit
    def logk(d):
        m, e = split(d)
        a0, a1 = add2_f_f(-one, m)
        b0, b1 = add2_f_f(one, m)
        a0, a1 = div(a0, a1, b0, b1)
        s0, s1 = squ(a0, a1)
        t = fmaf(fmaf(lp0, s0, lp1), s0, lp2)
        l0, l1 = mul_df_f(ln2_hi, ln2_lo, e)
        p0, p1 = mul_df_df(s0, s1, a0, a1)
        q0, q1 = mul_df_f(s0, s1, t)
        q0, q1 = add2_df_df(q0, q1, c_hi, c_lo)
        tail0, tail1 = mul_df_df(p0, p1, q0, q1)
        h0, h1 = add_df_df(l0, l1, a0 * two, a1 * two)
        return add_df_df(h0, h1, tail0, tail1)

    @jit
    def expk(d0, d1):
        q = rint((d0 + d1) * r_ln2)
        s0, s1 = add2_df_f(d0, d1, q * m_l2u)
        s0, s1 = add2_df_f(s0, s1, q * m_l2l)
        s0, s1 = s0 + s1, (s0 - (s0 + s1)) + s1             # normalize
        u = fmaf(fmaf(fmaf(fmaf(ep0, s0, ep1), s0, ep2), s0, ep3), s0, ep4)
        w0, w1 = squ(s0, s1)
        w0, w1 = mul_df_f(w0, w1, u)
        t0, t1 = add_df_df(s0, s1, w0, w1)
        t0, t1 = add_f_df(one, t0, t1)
        r = ldexp(t0 + t1, q)
        return zero if d0 < exp_floor else r

    @numba.njit(cache=True, error_model="numpy")
    def loop(x, y, out, defer):
        any_deferred = False
        for i in range(x.shape[0]):
            v, w = x[i], at(y, i)
            a = abs(v)
            w_is_int = (trunc(w) == w) | (abs(w) > two_24)
            half_w = w * f32(0.5)
            w_is_odd = w_is_int & (abs(w) < two_24) & (trunc(half_w) != half_w)
            regular = (a > zero) & (a < inf) & (a != one) & (abs(w) < inf) & (w != zero) & (
                (v > zero) | w_is_int)
            a, w = (a, w) if regular else (one, one)
            l0, l1 = logk(a)
            d0, d1 = mul_df_f(l0, l1, w)
            r = expk(d0, d1)
            r = inf if r != r else r
            out[i] = -r if (v < zero) & w_is_odd else r
            defer[i] = not regular
            any_deferred |= not regular
        return any_deferred
    return loop


def _powf_glibc_kernel(numba, np, at, bits_as_float64, float64_bits):
    """:func:`powf_glibc` as a compiled loop: :func:`eps_ref.rules._libm_pow._magnitude`
    transcribed operation by operation in float64, its emulated FMA (``_fma64``) included,
    so that the loop gives the NumPy path's bits whatever the hardware has; the exponent
    split and the powers of two from the bits."""
    from eps_ref.rules import _libm_pow as lp
    pow2 = _exact_pow2(numba, np, bits_as_float64)
    invc_table, logc_table = np.asarray(lp._LOG2_INVC), np.asarray(lp._LOG2_LOGC)
    exp2_table = np.asarray(lp._EXP2_TAB)
    a0, a1, a2, a3, a4 = lp._LOG2_POLY
    c0, c1, c2 = lp._EXP2_POLY
    shift, z0, off_bits = lp._SHIFT, lp._Z0, float(lp._OFF_BITS)
    overflow, tiny, flt_min = lp._OVERFLOW, lp._TINY, lp._FLT_MIN
    mantissa, one_exponent = np.int64((1 << 52) - 1), np.int64(1023 << 52)
    jit = numba.njit(inline="always", error_model="numpy")

    @jit
    def split(a):
        c = a * 134217729.0
        hi = c - (c - a)
        return hi, a - hi

    @jit
    def mul_add(a, b, c, fused):             # _fma64 (Dekker, two-sum) or a * b + c
        p = a * b
        a_hi, a_lo = split(a)
        b_hi, b_lo = split(b)
        e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
        s = p + c
        bb = s - p
        u = (p - (s - bb)) + (c - bb)
        return s + (u + e) if fused else p + c

    @jit
    def magnitude(ax, y, fused):
        bits = float64_bits(ax)              # ax positive and normal in float64
        e = np.float64((bits >> 52) - 1023)
        m = bits_as_float64((bits & mantissa) | one_exponent)          # [1, 2)
        high = m >= 2.0 * z0
        k = e + 1.0 if high else e
        z = m * 0.5 if high else m
        frac = ((2.0 * z - 1.0) * 8388608.0 + 126.0 * 8388608.0 if z < 1.0 else
                (z - 1.0) * 8388608.0 + 127.0 * 8388608.0) - off_bits
        i = np.int64(np.floor(frac / 524288.0))
        r = mul_add(z, invc_table[i], -1.0, fused)
        y0 = logc_table[i] + k
        r2 = r * r
        q = mul_add(r, a0, a1, fused)
        p = mul_add(r, a2, a3, fused)
        r4 = r2 * r2
        t = mul_add(r, a4, y0, fused)
        t = mul_add(p, r2, t, fused)
        t = y * mul_add(q, r4, t, fused)
        t_safe = t if abs(t) < 150.0 else 0.0
        kd = (t_safe + shift) - shift
        r = t_safe - kd
        j = kd * 32.0
        jm = j - 32.0 * np.floor(j / 32.0)
        s = exp2_table[np.int64(jm)] * pow2((j - jm) / 32.0)
        zz = mul_add(r, c0, c1, fused)
        r2 = r * r
        w = mul_add(r, c2, 1.0, fused)
        w = mul_add(zz, r2, w, fused) * s
        w = np.inf if t > overflow else w
        w = 0.0 if t <= -150.0 else w
        return tiny if (t > -150.0) & (t < -149.0) else w

    @numba.njit(cache=True, error_model="numpy")
    def loop(x, y, fused, low, flushed, out, defer):
        any_deferred = False
        for i in range(x.shape[0]):
            v, w = np.float64(x[i]), np.float64(at(y, i))
            regular = (v >= low) & (v > 0.0) & (v < np.inf) & (v != 1.0)
            regular &= (abs(w) >= low) & (w != 0.0) & (abs(w) < np.inf)
            mag = magnitude(v if regular else 1.0, w if regular else 1.0, fused)
            regular &= (abs(mag) >= 2.0 * flt_min) | (not flushed)
            out[i] = np.float32(mag)
            defer[i] = not regular
            any_deferred |= not regular
        return any_deferred
    return loop


def powf_glibc(x, y, variant, subnormals, deferred_to):
    """glibc's ``powf`` (:mod:`eps_ref.rules._libm_pow`) of a flat float32 array ``x`` and a
    float32 exponent ``y`` (a NumPy float32 scalar or an array like ``x``); the elements it
    does not cover (zeros, negatives, infinities, NaN, ``x = 1``, ``y = 0``, subnormals and
    results near underflow when flushed) are recomputed by ``deferred_to(x, y)`` there.
    Compiled: call only when :func:`enabled`."""
    flushed = subnormals == "flush_to_zero"
    low = 2.0 ** -126 if flushed else 0.0
    return _deferring(_kernels()["powf_glibc"], x, y, (y, variant == "fma", low, flushed),
                      deferred_to)


def sleef_powf(x, y, deferred_to):
    """SLEEF's ``powf`` core (:mod:`eps_ref.rules._sleef_pow`) of a flat float32 array ``x``
    and a float32 exponent ``y`` (a NumPy float32 scalar or an array like ``x``); the
    elements it does not cover (bases zero, infinite, NaN or +-1, negative with a
    fractional exponent; exponents zero or not finite) are recomputed by
    ``deferred_to(x, y)`` at those elements. Compiled: call only when :func:`enabled`."""
    return _deferring(_kernels()["sleef_powf"], x, y, (y,), deferred_to)


def eigen_pow(x, y, deferred_to):
    """Eigen's packet ``pow`` (:mod:`eps_ref.rules._eigen_pow`) of every element of a flat
    float32 array ``x`` and a float32 exponent ``y``; the elements it does not cover
    (infinite, NaN, +-1, negative with a fractional exponent, or with a result flushed to
    zero) are recomputed by ``deferred_to``. Compiled: call only when :func:`enabled`."""
    y_is_int = math.isfinite(y) and math.floor(y) == y
    y_is_odd = y_is_int and math.fmod(y, 2.0) != 0.0
    return _deferring(_kernels()["eigen_pow"], x, None, (np.float32(y), y_is_int, y_is_odd),
                      deferred_to)


def fma(shape, a, b, c):
    """``fma`` of flat float32 operands (1-D arrays of ``prod(shape)`` elements, or Python
    floats holding float32 values) as a new float32 array of ``shape``. Compiled: call only
    when :func:`enabled`."""
    out = np.empty(math.prod(shape), np.float32)
    _kernels()["fma"](*(np.float32(v) if isinstance(v, float) else v for v in (a, b, c)), out)
    return out.reshape(shape)


def root_kernel(x, kind: str, table_bits, deferred_to):
    """One :data:`ROOT_KERNELS` kernel of a flat float32 array ``x``, with the estimate's
    table as int32 bits (:func:`eps_ref.rules._roots._estimate_into`'s); the elements the
    kernel's fast formula does not cover (outside the positive normal range; for MKL's sqrt
    also the top binade) are recomputed by ``deferred_to``. Compiled: call only when
    :func:`enabled`."""
    return _deferring(_kernels()[kind], x, None, (table_bits,), deferred_to)


def product_chain(a, b, acc, ks, fused=True):
    """``acc[i, j] <- fma(a[i, k], b[k, j], acc[i, j])`` for ``k`` in ``ks`` in order
    (``fused=False``: ``acc + a[i, k] * b[k, j]``, the product rounded first), for float32
    NumPy arrays ``a`` (m, K), ``b`` (K, n) and ``acc`` (m, n); returns a new array.
    Compiled: call only when :func:`enabled`."""
    out = np.array(acc, dtype=np.float32, order="C", copy=True)
    order = np.asarray(list(ks), dtype=np.int64)
    return _kernels()["chain"](np.ascontiguousarray(a), np.ascontiguousarray(b), out, order,
                               bool(fused))


def pairwise_products(a, b):
    """``a @ b`` for float32 NumPy arrays with each output's ``K`` products rounded, then
    added pairwise (``(p0 + p1) + (p2 + p3)``, an odd last one carried up). Compiled: call
    only when :func:`enabled`."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    return _kernels()["pairwise"](np.ascontiguousarray(a), np.ascontiguousarray(b), out)


def _deferring(kernel, x, y, args, deferred_to):
    """``kernel(x, *args, out, defer)`` on a flat float32 ``x``, then ``deferred_to`` at the
    elements the kernel flagged (with ``y`` there too, unless it is None), and the result."""
    out = np.empty_like(x)
    defer = np.empty(x.shape, np.bool_)
    if kernel(x, *args, out, defer):
        idx = np.flatnonzero(defer)
        if y is None:
            out[idx] = deferred_to(x[idx])
        else:
            ys = np.full(idx.shape, y, np.float32) if np.ndim(y) == 0 else y[idx]
            out[idx] = deferred_to(x[idx], ys)
    return out

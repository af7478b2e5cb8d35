r"""glibc's ``expf`` and ``logf``, bit for bit: what TensorFlow's float32 ``Exp`` and ``Log``
call on a scalar (Eigen's scalar path is ``std::exp``/``std::log``; measured identical on
the points of the tests), so what Keras 3 on TensorFlow, tf_keras and ``tf.compat.v1``
schedules compute.

Both are glibc 2.28+'s algorithms from Arm's optimized routines
(``sysdeps/ieee754/flt-32/e_expf.c``, ``e_logf.c``), in double precision, as x86-64 runs
them: its ``__expf_fma``/``__logf_fma`` builds (``-mfma``, every ``a * b + c`` one fused
multiply-add, :func:`eps_ref.rules._libm_pow._fma64`), the variant glibc selects on every
CPU since Haswell.

- ``expf``: :math:`z = x \cdot 32/\ln 2` rounded to an integer :math:`k` by adding
  :math:`1.5 \cdot 2^{52}`, :math:`r = z - k`, then
  :math:`2^{k/32} (c_0 r^3 + c_1 r^2 + c_2 r + 1)` with :math:`2^{(k \bmod 32)/32}` from
  ``__exp2f_data``'s table and the polynomial scaled by 32.
- ``logf``: :math:`x = 2^k z` with :math:`z \in [0.6992, 1.3984)`, the subinterval's
  :math:`1/c` and :math:`\ln c` from ``__logf_data``'s 16-entry table,
  :math:`r = z/c - 1` (one FMA), then
  :math:`\ln c + k \ln 2 + r + a_0 r^4 + (a_1 r + a_2) r^2`, pipelined as glibc writes it.
"""

from __future__ import annotations

import numpy as np

from eps_ref.rules._libm_pow import _EXP2_POLY, _EXP2_TAB, _LOG2_INVC, _fma64

__all__ = ["expf_glibc", "logf_glibc"]

_H = float.fromhex
_N = 32
_INV_LN2_N = _H("0x1.71547652b82fep+0") * _N
_SHIFT = _H("0x1.8p+52")
_EXP_POLY = tuple(c / _N ** (3 - i) for i, c in enumerate(_EXP2_POLY))
_EXP_OVERFLOW = float(np.float32(_H("0x1.62e42ep6")))
_EXP_UNDERFLOW = float(np.float32(_H("-0x1.9fe368p6")))

# __logf_data: the same 1/c as powf's log2 table, with ln c; ln 2; the cubic's a0, a1, a2.
_LOG_INVC = np.array(_LOG2_INVC)
_LOG_LOGC = np.array([_H(h) for h in (
    "-0x1.57bf7808caadep-2", "-0x1.2bef0a7c06ddbp-2", "-0x1.01eae7f513a67p-2",
    "-0x1.b31d8a68224e9p-3", "-0x1.6574f0ac07758p-3", "-0x1.1aa2bc79c81p-3",
    "-0x1.a4e76ce8c0e5ep-4", "-0x1.1973c5a611cccp-4", "-0x1.252f438e10c1ep-5",
    "0x0p+0", "0x1.aa5aa5df25984p-5", "0x1.c5e53aa362eb4p-4",
    "0x1.526e57720db08p-3", "0x1.bc2860d22477p-3", "0x1.1058bc8a07ee1p-2",
    "0x1.4043057b6ee09p-2")])
_LN2 = _H("0x1.62e42fefa39efp-1")
_LOG_POLY = (_H("-0x1.00ea348b88334p-2"), _H("0x1.5575b0be00b6ap-2"),
             _H("-0x1.ffffef20a4123p-2"))
_OFF = 0x3F330000


def _float32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def expf_glibc(x) -> np.ndarray:
    """``expf`` of a float32 array (or scalar), as glibc computes it; float32."""
    x = _float32(x)
    xd = np.where(np.isfinite(x), x, 0).astype(np.float64)
    z = xd * _INV_LN2_N
    kd = z + _SHIFT
    ki = kd.view(np.uint64)
    kd = kd - _SHIFT
    r = z - kd
    t = np.array(_EXP2_TAB)[(ki % _N).astype(np.intp)].view(np.uint64)
    with np.errstate(over="ignore"):                # uint64 arithmetic wraps, as in C
        s = (t + ((ki // _N) << np.uint64(52))).view(np.float64)
    c0, c1, c2 = _EXP_POLY
    zz = _fma64(np, c0, r, c1)
    y = _fma64(np, c2, r, 1.0)
    y = _fma64(np, zz, r * r, y) * s
    with np.errstate(over="ignore"):
        out = y.astype(np.float32)
    out = np.where(x > _EXP_OVERFLOW, np.float32(np.inf), out)
    out = np.where(x < _EXP_UNDERFLOW, np.float32(0), out)
    return np.where(np.isnan(x) | (x == np.inf), x, np.where(x == -np.inf, 0, out)) \
        .astype(np.float32)


def logf_glibc(x) -> np.ndarray:
    """``logf`` of a float32 array (or scalar), as glibc computes it; float32."""
    x = _float32(x)
    ix = x.view(np.uint32).astype(np.int64)
    subnormal = (ix > 0) & (ix < 0x00800000)
    with np.errstate(over="ignore"):
        normalized = (x * np.float32(2.0 ** 23)).view(np.uint32).astype(np.int64)
    ix = np.where(subnormal, normalized - (23 << 23), ix)
    tmp = ix - _OFF
    i = (tmp >> 19) % 16
    k = tmp >> 23                                  # arithmetic shift (tmp may be negative)
    iz = (ix - (tmp & (0x1FF << 23))) & 0xFFFFFFFF
    z = iz.astype(np.uint32).view(np.float32).astype(np.float64)
    r = _fma64(np, z, _LOG_INVC[i], -1.0)
    y0 = _fma64(np, k.astype(np.float64), _LN2, _LOG_LOGC[i])
    r2 = r * r
    a0, a1, a2 = _LOG_POLY
    y = _fma64(np, a1, r, a2)
    y = _fma64(np, a0, r2, y)
    y = _fma64(np, y, r2, y0 + r)
    out = y.astype(np.float32)
    out = np.where(x == 1, np.float32(0), out)
    out = np.where(x == 0, np.float32(-np.inf), out)
    out = np.where((x < 0) | np.isnan(x), np.float32(np.nan), out)
    return np.where(x == np.inf, x, out).astype(np.float32)

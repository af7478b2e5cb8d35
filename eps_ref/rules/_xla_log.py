r"""XLA:CPU's float32 ``log``, bit for bit: what ``jnp.log`` computes on CPU, eagerly and under
``jax.jit`` (XLA emits its own polynomial, not a libm call; read from the optimized LLVM IR
of ``jax.jit(jnp.log)`` in jaxlib 0.10 and measured identical on :math:`3 \cdot 10^5`
points of the positive float32 range).

The algorithm is Cephes' ``logf`` in float32, as Eigen's ``plog`` writes it: clamp to the
smallest normal, split :math:`x = 2^e m` with :math:`m \in [\tfrac12, 1)`, fold
:math:`m < \sqrt{1/2}` to :math:`2m` (and :math:`e - 1`), then with :math:`u = m - 1`

.. math::

    \log x = u - \tfrac12 u^2 + u^3 P(u) + e \cdot c_{lo} + e \cdot c_{hi},

:math:`P` a degree-8 polynomial in three interleaved Horner chains and
:math:`c_{hi} + c_{lo} = \ln 2` (0.693359375 and :math:`-2.12194440 \cdot 10^{-4}`). LLVM
fuses each multiplication that feeds one addition into an FMA
(:func:`eps_ref.rules._numerics.fma`), as below. XLA:CPU runs with denormals as zero: a
subnormal input gives :math:`-\infty`, as zero does.
"""

from __future__ import annotations

import numpy as np

from eps_ref.rules._numerics import fma

__all__ = ["logf_xla"]

F32 = np.float32


def _bits(b: int) -> np.float32:
    return np.uint32(b).view(F32)


_FLT_MIN = _bits(0x00800000)
_SQRT_HALF = _bits(0x3F3504F3)
# P's coefficients, the three Horner chains' (lead, next, last) terms.
_CHAINS = ((_bits(0x3D9021BB), _bits(0xBDEBD1B8), _bits(0x3DEF251A)),
           (_bits(0xBDFE5D4F), _bits(0x3E11E9BF), _bits(0xBE2AAE50)),
           (_bits(0x3E4CCEAC), _bits(0xBE7FFFFC), _bits(0x3EAAAAAA)))
_LN2_LO = _bits(0xB95E8083)
_LN2_HI = _bits(0x3F318000)


def _full(like, value) -> np.ndarray:
    return np.full(like.shape, value, dtype=F32)


def logf_xla(x) -> np.ndarray:
    """``log`` of a float32 array (or scalar) as XLA:CPU computes it; float32."""
    x = np.asarray(x, dtype=F32)
    clamped = np.where(x <= _FLT_MIN, _FLT_MIN, x)
    bits = clamped.view(np.uint32)
    m = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(F32)
    e = F32(1) + ((bits >> 23).astype(np.int32) - 127).astype(F32)
    fold = m < _SQRT_HALF
    u = (m - F32(1)) + np.where(fold, m, F32(0))
    e = e - np.where(fold, F32(1), F32(0))
    u2 = u * u
    u3 = u2 * u
    y0, y1, y2 = (fma(fma(u, _full(u, lead), _full(u, mid)), u, _full(u, last))
                  for lead, mid, last in _CHAINS)
    p = fma(fma(y0, u3, y1), u3, y2)
    y = fma(p, u3, e * _LN2_LO)
    out = fma(e, _full(u, _LN2_HI), fma(_full(u, F32(-0.5)), u2, u) + y)
    out = np.where((x < 0) | np.isnan(x), F32(np.nan), out)
    out = np.where(np.abs(x) < _FLT_MIN, F32(-np.inf), out)     # subnormals read as zero
    return np.where(x == np.inf, x, out).astype(F32)

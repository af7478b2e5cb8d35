r"""TensorFlow's seeded float32 normal noise on CPU, bit for bit: Philox4x32-10, its Box-Muller
transform, and the op seeds eager TensorFlow draws after ``tf.random.set_seed``.

``tf.random.normal(shape, stddev=s)`` (``random_ops.random_normal``) runs the
``RandomStandardNormal`` kernel and computes ``rnd * s + 0.0`` in float32. The kernel
(``core/kernels/random_op.cc``, ``core/lib/random/philox_random.h``,
``random_distributions.h``):

- Philox4x32-10 keyed by ``seed`` (``key = (seed & 0xffffffff, seed >> 32)``), its 128-bit
  counter ``(c0, c1, seed2 & 0xffffffff, seed2 >> 32)`` starting at ``c0 = c1 = 0``; each
  execution of a kernel reserves ``256 * elements`` counter values, so a cached kernel run
  again starts 256 further;
- each 128-bit output ``(x0, x1, x2, x3)`` gives four normals by Box-Muller,
  ``u1 = max(f(x0), 1e-7f)``, ``v = float32(2 pi * f(x1))`` (a double product),
  ``r = sqrtf(-2.0f * logf(u1))``, ``(sinf(v) r, cosf(v) r)`` (glibc's ``sincosf``), where
  ``f(x)`` is the float32 with ``x``'s low 23 bits as mantissa in [1, 2), minus 1.

The seeds (``framework/random_seed.py``): after ``tf.random.set_seed(g)`` every random op
without its own seed takes ``(g mod (2^31 - 1), o mod (2^31 - 1))`` with ``o`` the next
``randint(0, 2^31 - 1)`` of a Python ``random.Random(g)``, and ``(0, 0)`` becomes
``(0, 2^31 - 1)``. Eager TensorFlow caches a kernel per seed pair, so a repeated pair
continues its stream (:func:`eager_normals`).
"""

from __future__ import annotations

import math
import random

import numpy as np

from eps_ref.rules._libm_cos import sinf_glibc
from eps_ref.rules._libm_explog import logf_glibc

__all__ = ["philox4x32_10", "normal_pairs_first", "eager_op_seeds", "eager_normals",
           "MAXINT32"]

MAXINT32 = 2 ** 31 - 1
_LOW = np.uint64(0xFFFFFFFF)
_M_A, _M_B = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W_A, _W_B = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_ROUNDS = 10


def philox4x32_10(counter, key):
    """Philox4x32-10 of ``counter`` (four uint32 arrays) under ``key`` (two): four uint32
    arrays, as ``PhiloxRandom::operator()`` computes them."""
    c = [np.asarray(x, dtype=np.uint64) for x in counter]
    k0, k1 = (np.asarray(x, dtype=np.uint64) for x in key)
    for r in range(_ROUNDS):
        p0, p1 = _M_A * c[0], _M_B * c[2]            # exact: 32 x 32 bits in 64
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _LOW,
             (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & _LOW]
        if r < _ROUNDS - 1:
            k0, k1 = (k0 + _W_A) & _LOW, (k1 + _W_B) & _LOW
    return [x.astype(np.uint32) for x in c]


def _unit_float(x) -> np.ndarray:
    """``Uint32ToFloat``: ``x``'s low 23 bits as the mantissa of a float in [1, 2), minus 1."""
    bits = (np.asarray(x, dtype=np.uint32) & np.uint32(0x7FFFFF)) | np.uint32(127 << 23)
    return bits.view(np.float32) - np.float32(1.0)


def normal_pairs_first(seed, seed2, counter=0) -> np.ndarray:
    """The first float32 normal of the 128-bit Philox output at ``counter`` under
    ``(seed, seed2)`` (arrays broadcast): ``sinf(v) * sqrtf(-2 logf(u1))``."""
    seed, seed2, counter = np.broadcast_arrays(*(np.asarray(v, dtype=np.uint64)
                                                 for v in (seed, seed2, counter)))
    x0, x1, _, _ = philox4x32_10(
        (counter & _LOW, counter >> np.uint64(32), seed2 & _LOW, seed2 >> np.uint64(32)),
        (seed & _LOW, seed >> np.uint64(32)))
    u1 = np.maximum(_unit_float(x0), np.float32(1e-7))
    v = (2.0 * math.pi * _unit_float(x1).astype(np.float64)).astype(np.float32)
    r = np.sqrt(np.float32(-2.0) * logf_glibc(u1))
    return sinf_glibc(v) * r


def eager_op_seeds(global_seed: int, n: int) -> tuple[int, list[int]]:
    """The seed pairs of the first ``n`` unseeded random ops after
    ``tf.random.set_seed(global_seed)`` in eager TensorFlow: ``(seed, [seed2, ...])``."""
    rng = random.Random(global_seed)
    seed = global_seed % MAXINT32
    seeds2 = [rng.randint(0, MAXINT32) % MAXINT32 for _ in range(n)]
    return seed, [MAXINT32 if (seed, s) == (0, 0) else s for s in seeds2]


def eager_normals(global_seed: int, n: int) -> np.ndarray:
    """``n`` successive ``tf.random.normal([])`` values after ``tf.random.set_seed(
    global_seed)``, eagerly, with no other random op between: each call a new op seed, a
    repeated seed pair continuing its cached kernel's stream 256 counter values on."""
    seed, seeds2 = eager_op_seeds(global_seed, n)
    runs: dict[int, int] = {}
    counters = []
    for s in seeds2:
        counters.append(256 * runs.get(s, 0))
        runs[s] = runs.get(s, 0) + 1
    return normal_pairs_first(seed, np.array(seeds2, dtype=np.uint64),
                              np.array(counters, dtype=np.uint64)).astype(np.float32)

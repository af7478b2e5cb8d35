"""Deterministic gradient streams that mix regimes in one tensor.

Each stream is a float32 array of shape ``(steps, *SHAPE)``. The elements of the tensor are
split into regimes, so that one run exercises all of them:

========== ==============================================================================
ordinary   N(0, 1) gradients with a per-element scale between 1e-3 and 1
tiny       gradients around 1e-10, far below the default eps (their squares are ~1e-20)
zero       exact zeros at every step (the update must leave the moments at their init)
spike      small gradients with rare spikes of 1e3
flip       constant magnitude 0.5 whose sign alternates every step
========== ==============================================================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["SHAPE", "REGIMES", "gradient_stream", "initial_params", "regime_slices"]

SHAPE = (4, 16)
REGIMES = {"ordinary": 16, "tiny": 12, "zero": 8, "spike": 12, "flip": 16}


def regime_slices() -> dict[str, slice]:
    """Which flat element indices belong to each regime."""
    out, start = {}, 0
    for name, count in REGIMES.items():
        out[name] = slice(start, start + count)
        start += count
    return out


def gradient_stream(steps: int, seed: int = 0) -> np.ndarray:
    """``steps`` float32 gradients of shape ``SHAPE`` mixing the regimes above."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(SHAPE))
    g = np.zeros((steps, n), dtype=np.float64)
    sl = regime_slices()
    k = REGIMES["ordinary"]
    g[:, sl["ordinary"]] = rng.standard_normal((steps, k)) * np.logspace(-3, 0, k)
    k = REGIMES["tiny"]
    g[:, sl["tiny"]] = rng.standard_normal((steps, k)) * 1e-10
    k = REGIMES["spike"]
    spikes = rng.random((steps, k)) < 0.01
    g[:, sl["spike"]] = np.where(spikes, 1e3 * rng.choice([-1.0, 1.0], (steps, k)),
                                 rng.standard_normal((steps, k)) * 1e-2)
    k = REGIMES["flip"]
    signs = np.where(np.arange(steps) % 2 == 0, 1.0, -1.0)[:, None]
    g[:, sl["flip"]] = 0.5 * signs * rng.choice([-1.0, 1.0], k)
    return g.astype(np.float32).reshape((steps, *SHAPE))


def initial_params(seed: int = 0) -> np.ndarray:
    """Float32 initial parameters of shape ``SHAPE``; a few are exactly zero."""
    rng = np.random.default_rng(seed + 1_000_003)
    p = rng.standard_normal(SHAPE).astype(np.float32)
    p.reshape(-1)[::9] = 0.0
    return p

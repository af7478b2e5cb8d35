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

__all__ = ["SHAPE", "REGIMES", "gradient_stream", "initial_params", "regime_indices"]

SHAPE = (4, 16)
REGIMES = {"ordinary": 16, "tiny": 12, "zero": 8, "spike": 12, "flip": 16}
_PATTERN = np.repeat(np.arange(len(REGIMES)), list(REGIMES.values()))   # 64 flat slots


def regime_indices(shape=SHAPE) -> dict[str, np.ndarray]:
    """Which flat element indices of a ``shape`` tensor belong to each regime: the 64-slot
    pattern of :data:`REGIMES` repeats along the flattened tensor (at :data:`SHAPE` each
    regime is one contiguous block)."""
    slots = _PATTERN[np.arange(int(np.prod(shape))) % len(_PATTERN)]
    return {name: np.flatnonzero(slots == k) for k, name in enumerate(REGIMES)}


def gradient_stream(steps: int, seed: int = 0, shape=SHAPE) -> np.ndarray:
    """``steps`` float32 gradients of shape ``shape`` mixing the regimes above."""
    rng = np.random.default_rng(seed)
    idx = regime_indices(shape)
    g = np.zeros((steps, int(np.prod(shape))), dtype=np.float64)
    k = len(idx["ordinary"])
    g[:, idx["ordinary"]] = rng.standard_normal((steps, k)) * np.logspace(-3, 0, k)
    k = len(idx["tiny"])
    g[:, idx["tiny"]] = rng.standard_normal((steps, k)) * 1e-10
    k = len(idx["spike"])
    spikes = rng.random((steps, k)) < 0.01
    g[:, idx["spike"]] = np.where(spikes, 1e3 * rng.choice([-1.0, 1.0], (steps, k)),
                                  rng.standard_normal((steps, k)) * 1e-2)
    k = len(idx["flip"])
    signs = np.where(np.arange(steps) % 2 == 0, 1.0, -1.0)[:, None]
    g[:, idx["flip"]] = 0.5 * signs * rng.choice([-1.0, 1.0], k)
    return g.astype(np.float32).reshape((steps, *shape))


def initial_params(seed: int = 0, shape=SHAPE) -> np.ndarray:
    """Float32 initial parameters of shape ``shape``; every ninth is exactly zero."""
    rng = np.random.default_rng(seed + 1_000_003)
    p = rng.standard_normal(shape).astype(np.float32)
    p.reshape(-1)[::9] = 0.0
    return p

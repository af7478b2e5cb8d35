"""Where the reference computes for arrays of a namespace whose CPU float arithmetic is not
IEEE 754's.

The rules are written once against the Array API, and NumPy (and array_api_strict, which
wraps it) runs them with IEEE arithmetic: gradual underflow, correctly rounded ``sqrt``
and basic operations. Two namespaces do not, on the CPU:

- JAX: XLA:CPU flushes subnormal floats to zero on input and output (``1e-40 * 1.0`` is
  ``0.0``), and computes in float32 unless ``jax_enable_x64`` is set;
- torch: its float64 ``sqrt`` and transcendentals on CPU are MKL's (vectorized, not
  always correctly rounded), which the float64 emulations of float32 kernels rely on.

For their CPU arrays the reference therefore runs on NumPy copies and returns its results
in the caller's namespace, dtype and device, so every namespace gives the NumPy bits
(torch tensors come back without an autograd graph). Arrays on another device (a GPU) run
in their own namespace.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device
from array_api_compat import is_jax_array, is_torch_array

__all__ = ["host_route", "to_numpy", "no_autograd"]


def _on_cpu(x) -> bool:
    dev = _device(x)
    return getattr(dev, "type", None) == "cpu" or getattr(dev, "platform", None) == "cpu" \
        or str(dev).lower().startswith("cpu")


def _routed(x) -> bool:
    return (is_jax_array(x) or is_torch_array(x)) and _on_cpu(x)


def host_route(arrays: list) -> Callable[[Any], Any] | None:
    """``None`` when ``arrays`` (all of one namespace) are computed on in place; else a
    function that turns a result tree of NumPy arrays back into their namespace and
    device (see the module docstring)."""
    first = next((a for a in arrays if hasattr(a, "shape")), None)
    if first is None or not _routed(first):
        return None
    xp, dev = array_namespace(first), _device(first)

    def back(tree):
        return _map(tree, lambda a: xp.asarray(np.array(a, copy=True), device=dev))

    return back


def no_autograd(arrays: list):
    """``torch.no_grad()`` for torch tensors the reference computes on in their own
    namespace (on a GPU): its operations must not build an autograd graph on the caller's
    tensors (``requires_grad=True`` parameters); a no-op for every other namespace."""
    first = next((a for a in arrays if hasattr(a, "shape")), None)
    if first is not None and is_torch_array(first):
        import torch
        return torch.no_grad()
    return contextlib.nullcontext()


def to_numpy(tree: Any) -> Any:
    """``tree`` with every array replaced by a NumPy copy of the same dtype and memory
    layout (torch tensors detached)."""
    def convert(a):
        if is_torch_array(a):
            a = a.detach().cpu().numpy()
        return np.array(a, copy=True, order="K")       # keeps a channels-last layout
    return _map(tree, convert)


def _map(tree: Any, fn: Callable) -> Any:
    if isinstance(tree, dict):
        return {k: _map(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_map(v, fn) for v in tree)
    if hasattr(tree, "shape") and hasattr(tree, "dtype"):
        return fn(tree)
    return tree

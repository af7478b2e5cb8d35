"""Adapters that drive the real frameworks (installed as ``eps_ref.backends``).

Each adapter module offers the same four functions:

``available() -> (bool, reason)``
    whether the framework imports here, and why not;
``versions() -> dict``
    the versions of the packages it ran;
``resolve(name)``
    the native optimizer factory for a qualified name;
``run_optimizer(name, kwargs, param0, grads, device="cpu") -> ndarray``
    build the native optimizer from the framework's own keywords, run ``len(grads)`` steps
    from ``param0`` and return the parameter trajectory, shape ``(steps + 1, *param0.shape)``.

Keras 3 fixes its backend at import, so the conformance harness runs each of
:data:`BACKEND_LABELS` in its own worker process with the environment given here.
"""

from __future__ import annotations

import importlib

__all__ = ["BACKEND_LABELS", "adapter", "labels_for"]

# label -> (adapter module, environment the worker must set before importing it)
BACKEND_LABELS = {
    "torch": ("eps_ref.backends.torch", {}),
    "keras/tensorflow": ("eps_ref.backends.keras", {"KERAS_BACKEND": "tensorflow"}),
    "keras/jax": ("eps_ref.backends.keras", {"KERAS_BACKEND": "jax"}),
    "keras/torch": ("eps_ref.backends.keras", {"KERAS_BACKEND": "torch"}),
    "tf1": ("eps_ref.backends.tf1", {}),
    "optax": ("eps_ref.backends.optax", {}),
    "flax": ("eps_ref.backends.flax", {}),
    "tf_keras": ("eps_ref.backends.tf_keras", {}),
}


def labels_for(framework: str) -> list[str]:
    """The backend labels that run a dialect (Keras: one per Keras backend)."""
    return [label for label, (module, _) in BACKEND_LABELS.items()
            if module == f"eps_ref.backends.{framework}"]


def adapter(label: str):
    """Import the adapter module for a backend label (its environment must already be set)."""
    module, _ = BACKEND_LABELS[label]
    return importlib.import_module(module)


def resolve_attr(root, dotted: str):
    """``resolve_attr(torch, "optim.Adam")`` -> ``torch.optim.Adam``, with a clear error."""
    obj = root
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise KeyError(f"{root.__name__}.{dotted} does not exist in the installed "
                           f"{root.__name__}") from None
    return obj

"""Adapters that drive the real frameworks (installed as ``eps_ref.backends``).

Each adapter module offers the same four functions:

``available() -> (bool, reason)``
    whether the framework imports here, and why not;
``versions() -> dict``
    the versions of the packages it ran;
``resolve(name)``
    the native optimizer factory for a qualified name;
``run_optimizer(name, kwargs, param0, grads, device="cpu") -> trajectory``
    build the native optimizer from the framework's own keywords, run the steps of
    ``grads`` from ``param0`` and return the parameter trajectory. ``param0`` is one array
    (``grads`` then has shape ``(steps, *param0.shape)``, the trajectory
    ``(steps + 1, *param0.shape)``) or a parameter tree, a dict name -> array, given to the
    framework as one parameter list (torch ``opt = Adam([p1, p2, ...])``, Keras' variable
    list, optax's pytree) in the dict's order; ``grads`` and the trajectory are then dicts
    of the same names (:func:`tree_leaves`). The torch and optax adapters also take
    ``clips=[(name, keywords)]``: gradient clipping applied in front of the optimizer, as
    ``clip_grad_norm_`` before ``step()`` or ``optax.chain(*clips, optimizer)``.

The torch, optax and Keras adapters also run a native optimizer the caller built
(``run_native``: a torch factory ``params -> Optimizer``, an ``optax.GradientTransformation``,
a fresh ``keras.optimizers.Optimizer``): :mod:`eps_ref.testing` checks users' own optimizers
that way. An exception raised while stepping comes out as :class:`StepError`, which names
the step.

Keras 3 fixes its backend at import, so the conformance harness runs each of
:data:`BACKEND_LABELS` in its own worker process with the environment given here.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import tempfile

__all__ = ["BACKEND_LABELS", "COMPILED_LABELS", "COMPILE_ENV", "OPTIMIZER_LABELS", "StepError",
           "adapter", "compiled", "eager_label", "labels_for", "jax_compilation_cache",
           "free_jax_executables", "param_leaves", "tree_leaves", "tree_trajectory"]

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

COMPILE_ENV = "EPS_REF_COMPILE"
"""Set to ``"1"`` in a worker, the optax and Keras adapters run each optimizer step compiled
as users run it (:data:`COMPILED_LABELS`); unset, op by op."""

# compiled label -> the eager label whose adapter, environment and reference it shares.
COMPILED_LABELS = {
    # one jax.jit of tx.update + optax.apply_updates, the step an optax training loop jits
    "optax/jit": "optax",
    # jax.jit of optimizer.stateless_apply, as Keras' JAX trainer compiles its train step
    "keras/jax-jit": "keras/jax",
    # tf.function of optimizer.apply without XLA, Keras' TensorFlow train step on a CPU
    # (jit_compile="auto" turns XLA off on a machine with no GPU)
    "keras/tensorflow-function": "keras/tensorflow",
}

OPTIMIZER_LABELS = {**BACKEND_LABELS,
                    **{label: (BACKEND_LABELS[eager][0], {**BACKEND_LABELS[eager][1],
                                                          COMPILE_ENV: "1"})
                       for label, eager in COMPILED_LABELS.items()}}
"""Every label an optimizer case runs on: :data:`BACKEND_LABELS` and the compiled ones."""


def compiled() -> bool:
    """Whether this process runs optimizer steps compiled (:data:`COMPILE_ENV`)."""
    return os.environ.get(COMPILE_ENV, "") == "1"


def eager_label(label: str) -> str:
    """The eager label of a compiled one (``"keras/jax-jit"`` -> ``"keras/jax"``); any other
    label is its own."""
    return COMPILED_LABELS.get(label, label)


class StepError(RuntimeError):
    """A native optimizer raised at step ``step`` (1 is the first ``step()``); the
    framework's exception is the ``__cause__``."""

    def __init__(self, step: int, error: BaseException):
        super().__init__(f"step {step}: {type(error).__name__}: {error}")
        self.step = step


def labels_for(framework: str, compiled: bool = False) -> list[str]:
    """The backend labels that run a dialect (Keras: one per Keras backend); with
    ``compiled``, its compiled optimizer labels only (:data:`COMPILED_LABELS`)."""
    labels = COMPILED_LABELS if compiled else BACKEND_LABELS
    return [label for label in labels
            if OPTIMIZER_LABELS[label][0] == f"eps_ref.backends.{framework}"]


def adapter(label: str):
    """Import the adapter module for a backend label (its environment must already be set)."""
    module, _ = OPTIMIZER_LABELS[label]
    return importlib.import_module(module)


def param_leaves(params) -> list:
    """The parameter arrays of one array or a dict tree, as NumPy arrays in insertion order
    (an optimizer's parameter list)."""
    import numpy as np
    return [np.asarray(p) for p in (params.values() if isinstance(params, dict)
                                    else [params])]


def tree_leaves(param0, grads):
    """``(names, leaves, streams)`` of the parameters an adapter runs: ``names`` is None for
    one array, else the dict's keys in order; ``streams[i]`` holds leaf ``i``'s gradients,
    shape ``(steps, *leaves[i].shape)``."""
    if not isinstance(param0, dict):
        return None, [param0], [grads]
    if not isinstance(grads, dict) or list(grads) != list(param0):
        raise ValueError("grads must be a dict with the keys of param0, in the same order")
    steps = {len(grads[k]) for k in param0}
    if len(steps) != 1:
        raise ValueError(f"every leaf needs the same number of gradient steps, got {steps}")
    names = list(param0)
    return names, [param0[k] for k in names], [grads[k] for k in names]


def tree_trajectory(names, trajectories: list):
    """The trajectory in the structure of ``param0``: one array, or a dict of them."""
    import numpy as np
    stacked = [np.stack(t) for t in trajectories]
    return stacked[0] if names is None else dict(zip(names, stacked))


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


def jax_compilation_cache():
    """A per-process persistent JAX compilation cache, removed at exit.

    Code that builds ``jax.lax.cond`` or ``fori_loop`` bodies from fresh lambdas on every
    call is compiled anew each time: Keras' ``gradient_accumulation_steps`` and EMA under
    JAX (about 0.3 s an ``apply``), ``optax.contrib.muon``'s Newton-Schulz loop (about
    0.9 s a step). The cache turns the recompiles into hits of the same executables (the
    same arithmetic). Call it before anything is compiled."""
    import jax
    if jax.config.jax_compilation_cache_dir:
        return
    cache = tempfile.mkdtemp(prefix="eps_ref_jax_cache_")
    atexit.register(shutil.rmtree, cache, True)
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def free_jax_executables():
    """Drop the executables JAX's in-memory caches hold.

    Code that compiles anew on every call (see :func:`jax_compilation_cache`) leaves one
    set of executables per call in those caches, each holding memory maps (about 8 per
    Keras ``apply`` with gradient accumulation, 40 per ``optax.contrib.muon`` step). A
    worker running many such cases passes ``vm.max_map_count`` (65530) and LLVM then fails
    with "Cannot allocate memory". Adapters call this every few dozen steps; the
    persistent cache turns the recompiles that follow into hits of the same programs."""
    import jax
    jax.clear_caches()

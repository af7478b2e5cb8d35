"""Adapter for ``flax.linen`` normalization layers, run eagerly (label ``flax``) or as one
``jax.jit`` computation per call (label ``flax/jit``, environment ``EPS_REF_FLAX_MODE=jit``:
XLA fuses the statistics and the affine map, and its CPU compiler contracts ``a*b + c``
into FMAs)."""

from __future__ import annotations

import os

import numpy as np

from eps_ref.backends import resolve_attr

PREFIX = "flax.linen."


def available():
    try:
        import flax.linen  # noqa: F401
        import jax  # noqa: F401
    except Exception as e:
        return False, f"flax is not importable: {e}"
    return True, ""


def versions():
    import flax
    import jax
    return {"flax": flax.__version__, "jax": jax.__version__}


def resolve(name):
    import flax.linen
    return resolve_attr(flax.linen, name.removeprefix(PREFIX))


_STATS = {"running_mean": "mean", "running_var": "var"}
MODE_ENV = "EPS_REF_FLAX_MODE"
"""``"jit"`` runs each call under ``jax.jit``; unset (or ``"eager"``) runs it op by op."""


def run_layer(name, kwargs, batches, eval_batch, params=None, device="cpu"):
    """``model.init`` on the first batch (Flax does not update statistics while
    initializing), ``params`` (canonical ``scale``/``bias``) replace the initial ones; each
    training batch runs with ``use_running_average=False`` and ``mutable=["batch_stats"]``,
    ``eval_batch`` with ``use_running_average=True``. Same return value as the torch
    adapter's ``run_layer``."""
    import jax
    import jax.numpy as jnp
    model = resolve(name)(**kwargs)
    is_bn = name.endswith("BatchNorm")
    train_kw = {"use_running_average": False} if is_bn else {}
    eval_kw = {"use_running_average": True} if is_bn else {}
    variables = model.init(jax.random.key(0), jnp.asarray(batches[0]), **train_kw)
    variables = jax.tree_util.tree_map(lambda v: v, dict(variables))
    p = dict(variables.get("params", {}))
    for key, value in (params or {}).items():
        if key in p:
            p[key] = jnp.asarray(value)
    variables["params"] = p
    mode = os.environ.get(MODE_ENV, "eager")
    if mode not in ("eager", "jit"):
        raise ValueError(f"{MODE_ENV} must be 'eager' or 'jit', got {mode!r}")
    def compiled(fn):
        return jax.jit(fn) if mode == "jit" else fn

    train = compiled(lambda v, x: model.apply(v, x, mutable=["batch_stats"], **train_kw))
    plain = compiled(lambda v, x: model.apply(v, x))
    evaluate = compiled(lambda v, x: model.apply(v, x, **eval_kw))
    out = {"outputs": [], "running_mean": [], "running_var": []}
    for x in batches:
        if is_bn:
            y, updates = train(variables, jnp.asarray(x))
            variables = {**variables, "batch_stats": updates["batch_stats"]}
            for key, flax_key in _STATS.items():
                out[key].append(np.array(variables["batch_stats"][flax_key], copy=True))
        else:
            y = plain(variables, jnp.asarray(x))
            out["running_mean"].append(None)
            out["running_var"].append(None)
        out["outputs"].append(np.array(y, copy=True))
    out["outputs"].append(np.array(evaluate(variables, jnp.asarray(eval_batch)), copy=True))
    return out

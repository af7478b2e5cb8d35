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


# -- native BatchNorm state (Plan.convert_state on a layer plan) ------------------------------

def _template(name, kwargs, channels):
    """``model.init``'s variables for an input with ``channels`` features."""
    import jax
    import jax.numpy as jnp
    model = resolve(name)(**kwargs)
    return jax.tree_util.tree_map(np.asarray, dict(model.init(
        jax.random.key(0), jnp.zeros((1, channels), jnp.float32), use_running_average=False)))


def read_layer_state(name, kwargs, native, step=None):
    """The reference state of the ``name(**kwargs)`` module whose variables are ``native``
    (``{"params": {"scale", "bias"}, "batch_stats": {"mean", "var"}}``, as ``model.init``
    builds them). Flax counts no batches: ``num_batches_tracked`` is ``step`` (0 when
    None)."""
    try:
        channels = int(np.shape(native["batch_stats"]["mean"])[0])
    except (TypeError, KeyError, IndexError):
        raise ValueError(f"{name}: a native state is the module's variables, "
                         f"{{'params': {{'scale', 'bias'}}, 'batch_stats': {{'mean', 'var'}}}}; "
                         f"got {type(native).__name__}") from None
    template = _template(name, kwargs, channels)
    shape = {c: {k: np.shape(v) for k, v in template[c].items()} for c in template}
    try:
        got = {c: {k: np.shape(v) for k, v in dict(native[c]).items()} for c in native}
    except (TypeError, ValueError):
        got = type(native).__name__
    if got != shape:
        raise ValueError(f"{name}: the variables hold {got}, {name}({kwargs}) keeps {shape}")
    state = {}
    params = native.get("params", {})
    for ref in ("scale", "bias"):
        if ref in params:
            state[ref] = np.array(params[ref], np.float32, copy=True)
    for ref, key in _STATS.items():
        state[ref] = np.array(native["batch_stats"][key], np.float32, copy=True)
    state["num_batches_tracked"] = 0 if step is None else step
    return state


def write_layer_state(name, kwargs, state):
    """The variables of a ``name(**kwargs)`` module holding the reference ``state``, to pass
    to ``model.apply``."""
    import jax.numpy as jnp
    channels = int(np.shape(state["running_mean"])[0])
    template = _template(name, kwargs, channels)
    out = {"batch_stats": {key: jnp.asarray(np.asarray(state[ref], np.float32))
                           for ref, key in _STATS.items()}}
    if "params" in template:
        out["params"] = {k: jnp.asarray(np.asarray(state[k], np.float32))
                         for k in template["params"]}
    return out

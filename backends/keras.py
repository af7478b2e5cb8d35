"""Adapter for Keras 3 optimizers under the backend fixed by ``KERAS_BACKEND``.

One ``keras.Variable`` per parameter; each step calls ``optimizer.apply(grads, variables)``
eagerly, or compiled as Keras' trainers compile their train step (``EPS_REF_COMPILE=1``):
``jax.jit`` of ``optimizer.stateless_apply`` under JAX (label ``keras/jax-jit``),
``tf.function`` of ``optimizer.apply`` without XLA under TensorFlow
(``keras/tensorflow-function``; ``jit_compile="auto"`` is off on a machine with no GPU).
"""

from __future__ import annotations

import os

import numpy as np

from eps_ref.backends import (StepError, compiled, free_jax_executables, jax_compilation_cache,
                              param_leaves, resolve_attr, tree_leaves, tree_trajectory)

PREFIX = "keras."


if os.environ.get("KERAS_BACKEND") == "jax":
    try:
        jax_compilation_cache()
    except Exception:   # an old or missing jax: run without the cache
        pass


def available():
    try:
        import keras  # noqa: F401
    except Exception as e:  # a broken backend raises more than ImportError
        return False, f"keras is not importable: {e}"
    return True, ""


def versions():
    """The versions, and ``"intra-op threads"``: the backend's intra-op thread count, which
    the reference needs for the reductions that are split over threads (the conformance
    runner passes it on as ``threads``)."""
    import keras
    backend = keras.backend.backend()
    out = {"keras": keras.__version__, "keras backend": backend}
    if backend == "tensorflow":
        import tensorflow
        out["tensorflow"] = tensorflow.__version__
    elif backend == "jax":
        import jax
        out["jax"] = jax.__version__
    elif backend == "torch":
        import torch
        out["torch"] = torch.__version__
    out["intra-op threads"] = intra_op_threads()
    return out


def intra_op_threads() -> int:
    """The intra-op threads of the running backend: ``torch.get_num_threads()``;
    TensorFlow's configured intra-op parallelism, whose default (0) and XLA:CPU's pool are
    the CPUs this process may run on."""
    import keras
    backend = keras.backend.backend()
    if backend == "torch":
        import torch
        return int(torch.get_num_threads())
    if backend == "tensorflow":
        import tensorflow as tf
        configured = tf.config.threading.get_intra_op_parallelism_threads()
        if configured:
            return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:    # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def resolve(name):
    import keras
    return resolve_attr(keras, name.removeprefix(PREFIX))


def run_optimizer(name, kwargs, param0, grads, device="cpu"):
    """``param0``: one array or a dict tree, one ``keras.Variable`` per leaf, in order."""
    return run_native(resolve(name)(**kwargs), param0, grads, device)


def run_native(opt, param0, grads, device="cpu", compile=None):
    """:func:`run_optimizer` for an optimizer the caller built: a ``keras.optimizers``
    instance not yet built (``optimizer.from_config(optimizer.get_config())`` gives a fresh
    one), run under the backend Keras was imported with, eagerly or, with ``compile``
    (default :func:`~eps_ref.backends.compiled`), as the backend's trainer compiles it. An
    exception in a step is raised as :class:`~eps_ref.backends.StepError`."""
    import keras
    names, leaves, streams = tree_leaves(param0, grads)
    variables = [keras.Variable(p, dtype="float32") for p in leaves]
    opt.build(variables)
    compile = compiled() if compile is None else compile
    apply = _compiled_apply(opt, variables) if compile else opt.apply
    trajectories = [[np.array(p, copy=True)] for p in leaves]
    for t in range(len(streams[0])):
        try:
            apply([keras.ops.convert_to_tensor(s[t]) for s in streams], variables)
        except Exception as e:
            raise StepError(t + 1, e) from e
        for trajectory, v in zip(trajectories, variables):
            trajectory.append(np.array(keras.ops.convert_to_numpy(v.value), copy=True))
        if not compile and (t + 1) % 50 == 0 and keras.backend.backend() == "jax":
            free_jax_executables()
    return tree_trajectory(names, trajectories)


def _compiled_apply(opt, variables):
    """``apply(grads, variables)`` compiled as Keras' trainers compile ``train_step``:
    under JAX, ``jax.jit`` of ``opt.stateless_apply`` (then the new values are assigned, as
    the trainer does after its jitted steps); under TensorFlow, a ``tf.function`` of
    ``opt.apply`` (no XLA). The torch backend has no compiled train step (Keras runs it
    eagerly)."""
    import keras
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        step = jax.jit(opt.stateless_apply)

        def apply(grads, variables):
            new_params, new_state = step([v.value for v in opt.variables], grads,
                                         [v.value for v in variables])
            for var, value in zip(variables, new_params):
                var.assign(value)
            for var, value in zip(opt.variables, new_state):
                var.assign(value)
        return apply
    if backend == "tensorflow":
        import tensorflow as tf
        step = tf.function(lambda grads: opt.apply(grads, variables))
        return lambda grads, variables: step(grads)
    raise ValueError(f"Keras runs the {backend} backend's train step eagerly: no compiled "
                     f"optimizer step to run")


# -- normalization layers ---------------------------------------------------------------

_KERAS_PARAM_NAMES = {"scale": ("gamma", "scale"), "bias": ("beta",)}
_KERAS_STAT_NAMES = {"running_mean": "moving_mean", "running_var": "moving_variance"}


LAYER_MODE_ENV = "EPS_REF_KERAS_LAYER_MODE"
"""``"compiled"`` runs each layer call compiled as Keras' own training and inference steps
compile it (JAX: ``jax.jit`` of ``layer.stateless_call``; TensorFlow: ``tf.function``);
unset (or ``"eager"``) calls the layer eagerly. The torch backend has no compiled mode here."""


def run_layer(name, kwargs, batches, eval_batch, params=None, device="cpu"):
    """Build ``keras.layers.<Layer>(**kwargs)`` on the first batch, set ``gamma``/``beta``
    (RMSNormalization: ``scale``) from ``params``, call it with ``training=True`` on each
    batch, then ``training=False`` on ``eval_batch`` (eagerly, or compiled: see
    :data:`LAYER_MODE_ENV`). Same return value as the torch adapter's ``run_layer``."""
    import keras
    layer = resolve(name)(**kwargs)
    layer.build(tuple(batches[0].shape))
    for key, value in (params or {}).items():
        for attr in _KERAS_PARAM_NAMES[key]:
            var = getattr(layer, attr, None)
            if isinstance(var, keras.Variable):
                var.assign(value)
                break

    def stat(key):
        var = getattr(layer, _KERAS_STAT_NAMES[key], None)
        return None if var is None else np.array(keras.ops.convert_to_numpy(var.value), copy=True)

    call = _layer_call(layer, os.environ.get(LAYER_MODE_ENV, "eager"))
    out = {"outputs": [], "running_mean": [], "running_var": []}
    for x in batches:
        out["outputs"].append(call(x, True))
        out["running_mean"].append(stat("running_mean"))
        out["running_var"].append(stat("running_var"))
    out["outputs"].append(call(eval_batch, False))
    return out


def _layer_call(layer, mode):
    """``call(x, training) -> numpy output`` updating the layer's variables."""
    import keras
    backend = keras.backend.backend()
    if mode not in ("eager", "compiled"):
        raise ValueError(f"{LAYER_MODE_ENV} must be 'eager' or 'compiled', got {mode!r}")
    if mode == "eager":
        def call(x, training):
            y = layer(keras.ops.convert_to_tensor(x), training=training)
            return np.array(keras.ops.convert_to_numpy(y), copy=True)
        return call
    if backend == "jax":
        import jax

        import inspect
        takes_training = "training" in inspect.signature(layer.call).parameters

        def stateless(t, n, x, training):
            kw = {"training": training} if takes_training else {}
            return layer.stateless_call(t, n, x, **kw)
        step = jax.jit(stateless, static_argnames=("training",))

        def call(x, training):
            trainable = [v.value for v in layer.trainable_variables]
            non_trainable = [v.value for v in layer.non_trainable_variables]
            y, new_non_trainable = step(trainable, non_trainable, x, training=training)
            for var, value in zip(layer.non_trainable_variables, new_non_trainable):
                var.assign(value)
            return np.array(y, copy=True)
        return call
    if backend == "tensorflow":
        import tensorflow as tf
        steps = {flag: tf.function(lambda x, flag=flag: layer(x, training=flag))
                 for flag in (True, False)}

        def call(x, training):
            return np.array(steps[bool(training)](tf.convert_to_tensor(x)).numpy(), copy=True)
        return call
    raise ValueError(f"no compiled layer mode for the {backend} backend")


def run_dropin(source, kwargs, param0, grads, device="cpu"):
    """The drop-in of this framework running ``source(**kwargs)``, driven as a training
    loop drives it (:func:`eps_ref.backends.dropins.trajectory`)."""
    from eps_ref.backends.dropins import trajectory
    return trajectory("keras", source, kwargs, param0, grads, device)


# -- schedules -------------------------------------------------------------------------------

def build_schedule(name, kwargs):
    """``keras.optimizers.schedules.<Name>(**kwargs)`` from a schedule spec's keywords."""
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(kwargs).items()}
    return resolve(name)(**kwargs)


def run_schedule(name, kwargs, n):
    """The learning rates of ``n`` optimizer steps: the schedule at ``iterations`` (int64)
    0..n-1, on the backend Keras was imported with; ``[{"lr": float}]``."""
    import keras
    schedule = build_schedule(name, kwargs)
    return [{"lr": float(keras.ops.convert_to_numpy(
        schedule(keras.ops.convert_to_tensor(np.int64(t)))))} for t in range(n)]


def run_scheduled(name, kwargs, schedule_name, schedule_kwargs, param0, grads, device="cpu"):
    """``keras.optimizers.<name>(learning_rate=schedule, **kwargs)`` as :func:`run_native`."""
    opt = resolve(name)(learning_rate=build_schedule(schedule_name, schedule_kwargs), **kwargs)
    return run_native(opt, param0, grads, device)


# -- native optimizer state (eps_ref.port.Plan.convert_state) --------------------------------

STATE_ATTRS = {
    "keras.optimizers.Adam": {"m": "_momentums", "v": "_velocities", "v_max": "_velocity_hats"},
    "keras.optimizers.AdamW": {"m": "_momentums", "v": "_velocities",
                               "v_max": "_velocity_hats"},
    "keras.optimizers.SGD": {"momentum": "momentums"},
    "keras.optimizers.RMSprop": {"square_avg": "_velocities", "momentum_buffer": "_momentums",
                                 "grad_avg": "_average_gradients"},
    "keras.optimizers.Adagrad": {"accumulator": "_accumulators"},
}
"""Each optimizer's reference slots and the list attribute of its per-variable slots."""


def _built(name, kwargs, params):
    """``name(**kwargs)`` built on fresh variables shaped as the leaves of ``params``."""
    import keras
    _attrs(name, STATE_ATTRS)
    opt = resolve(name)(**kwargs)
    opt.build([keras.Variable(p, dtype=str(p.dtype)) for p in param_leaves(params)])
    return opt


def _attrs(name, table):
    if name not in table:
        raise NotImplementedError(f"reading and writing {name}'s native state is not in "
                                  f"yet; covered: {sorted(table)}")
    return table[name]


def read_store(name, kwargs, native, params, step, opt, attrs):
    """The reference state of ``name(**kwargs)`` held by the store ``native`` (what
    ``save_own_variables`` fills) of ``opt``, built on variables shaped as ``params``,
    whose slot lists are the attributes ``attrs`` (Keras 3 and tf_keras alike)."""
    import eps_ref
    _check_store(name, native, opt.variables, "the optimizer keeps")
    opt.load_own_variables(native)
    state = eps_ref.optimizer(name, **kwargs).init(params)
    for ref_name, attr in attrs.items():
        for slots, variable in zip(state["slots"], getattr(opt, attr, None) or []):
            if ref_name in slots:
                slots[ref_name] = np.array(variable.numpy(), copy=True)
    counted = int(np.asarray(opt.iterations.numpy()))
    if step is not None and step != counted:
        raise ValueError(f"{name}: step={step}, and the optimizer's iterations is {counted}")
    state["step"] = counted
    return state


def _check_store(name, store, variables, keeper: str) -> None:
    """That ``store`` is what ``save_own_variables`` fills for ``variables``: the keys '0'
    to 'n-1', each entry shaped as its variable."""
    count = len(variables)
    paths = [getattr(v, "path", v.name) for v in variables]
    if not isinstance(store, dict) or sorted(store, key=str) != sorted(
            str(i) for i in range(count)):
        got = sorted(store, key=str)[:8] if isinstance(store, dict) else type(store).__name__
        raise ValueError(f"{name}: a native state is the store save_own_variables(store) "
                         f"fills; {keeper} {count} variables ('0'..'{count - 1}': "
                         f"{paths[:8]}), the store has {got}")
    for i, (v, path) in enumerate(zip(variables, paths)):
        if tuple(np.shape(store[str(i)])) != tuple(v.shape):
            raise ValueError(f"{name}: store['{i}'] ({path}) has shape "
                             f"{tuple(np.shape(store[str(i)]))}, the variable {tuple(v.shape)}")


def write_store(state, opt, attrs) -> dict:
    """The store of ``opt`` (built) holding the reference ``state``."""
    for ref_name, attr in attrs.items():
        for slots, variable in zip(state["slots"], getattr(opt, attr, None) or []):
            if ref_name in slots:
                variable.assign(np.asarray(slots[ref_name]))
    opt.iterations.assign(state["step"])
    store = {}
    opt.save_own_variables(store)
    return store


def read_state(name, kwargs, native, params, step=None):
    """The reference state of ``name(**kwargs)`` held by ``native``, the store that
    ``optimizer.save_own_variables(store)`` fills (``{"0": array, ...}``, one entry per
    ``optimizer.variables``, the optimizer built on variables shaped and ordered as
    ``params``). ``step`` must agree with its ``iterations``."""
    return read_store(name, kwargs, native, params, step, _built(name, kwargs, params),
                      STATE_ATTRS[name])


def write_state(name, kwargs, state, params):
    """The store of a ``name(**kwargs)`` optimizer built on variables shaped and ordered as
    ``params`` holding the reference ``state``: ``optimizer.build(variables)`` then
    ``optimizer.load_own_variables(store)``."""
    return write_store(state, _built(name, kwargs, params), STATE_ATTRS[name])


# -- native BatchNormalization state (Plan.convert_state on a layer plan) --------------------

def _built_layer(name, kwargs, channels):
    """``name(**kwargs)`` built for an input with ``channels`` on its axis."""
    from eps_ref.state import _channel_input
    import eps_ref
    layer = resolve(name)(**kwargs)
    shape = _channel_input(eps_ref.layer(name, **kwargs), channels).shape
    layer.build(shape)
    return layer


def _layer_variables(layer) -> dict:
    """``{reference entry: the layer's variable}`` for the ones it keeps."""
    names = {**_KERAS_PARAM_NAMES, **{k: (v,) for k, v in _KERAS_STAT_NAMES.items()}}
    found = {ref: next((getattr(layer, a) for a in attrs if getattr(layer, a, None) is not None),
                       None) for ref, attrs in names.items()}
    return {ref: var for ref, var in found.items() if var is not None}


def _channels(name, native) -> int:
    if not isinstance(native, dict) or "0" not in native or np.ndim(native["0"]) != 1:
        got = sorted(native)[:8] if isinstance(native, dict) else type(native).__name__
        raise ValueError(f"{name}: a native state is the store layer.save_own_variables"
                         f"(store) fills ('0': gamma, ...: one value per channel); got {got}")
    return int(np.shape(native["0"])[0])


def read_layer_state(name, kwargs, native, step=None):
    """The reference state of the ``name(**kwargs)`` layer whose ``save_own_variables``
    store is ``native`` (gamma, beta, moving_mean, moving_variance, as configured). Keras
    counts no batches: ``num_batches_tracked`` is ``step`` (0 when None)."""
    layer = _built_layer(name, kwargs, _channels(name, native))
    _check_store(name, native, layer.variables, "the layer keeps")
    layer.load_own_variables(native)
    state = {ref: np.array(_numpy(var), np.float32, copy=True)
             for ref, var in _layer_variables(layer).items()}
    state["num_batches_tracked"] = 0 if step is None else step
    return state


def write_layer_state(name, kwargs, state):
    """The ``save_own_variables`` store of a ``name(**kwargs)`` layer holding the reference
    ``state``: ``layer.build(input_shape)`` then ``layer.load_own_variables(store)``."""
    channels = int(np.shape(state.get("running_mean", state.get("scale")))[0])
    layer = _built_layer(name, kwargs, channels)
    for ref, var in _layer_variables(layer).items():
        var.assign(np.asarray(state[ref], np.float32))
    store = {}
    layer.save_own_variables(store)
    return {k: np.array(_numpy(v), copy=True) for k, v in store.items()}


def _numpy(v):
    """A Keras variable's (or a tensor's) value as NumPy."""
    import keras
    return keras.ops.convert_to_numpy(getattr(v, "value", v))

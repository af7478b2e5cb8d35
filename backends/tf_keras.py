"""Adapter for legacy Keras 2 (the ``tf-keras`` package): ``tf_keras.optimizers.legacy.*``
and ``tf_keras.optimizers.*``, run eagerly on ``tf.Variable`` s with ``apply_gradients``.

The non-legacy Keras 2 optimizers default to ``jit_compile=True``: their update step is an
XLA computation, exactly as in training.
"""

from __future__ import annotations

import numpy as np

from eps_ref.backends import resolve_attr, tree_leaves, tree_trajectory

PREFIX = "tf_keras."


def available():
    try:
        import tf_keras  # noqa: F401
    except Exception as e:
        return False, f"tf_keras is not importable: {e}"
    return True, ""


def versions():
    import tensorflow
    import tf_keras
    return {"tf_keras": tf_keras.__version__, "tensorflow": tensorflow.__version__}


def resolve(name):
    import tf_keras
    return resolve_attr(tf_keras, name.removeprefix(PREFIX))


def run_optimizer(name, kwargs, param0, grads, device="cpu"):
    """``param0``: one array or a dict tree, one ``tf.Variable`` per leaf, in order."""
    import tensorflow as tf
    names, leaves, streams = tree_leaves(param0, grads)
    with tf.device(device.upper() + ":0"):
        variables = [tf.Variable(p) for p in leaves]
        opt = resolve(name)(**kwargs)
        trajectories = [[np.array(p, copy=True)] for p in leaves]
        for t in range(len(streams[0])):
            opt.apply_gradients([(tf.constant(s[t]), v) for s, v in zip(streams, variables)])
            for trajectory, v in zip(trajectories, variables):
                trajectory.append(v.numpy().copy())
    return tree_trajectory(names, trajectories)


def run_dropin(source, kwargs, param0, grads, device="cpu"):
    """The drop-in of this framework running ``source(**kwargs)``, driven as a training
    loop drives it (:func:`eps_ref.backends.dropins.trajectory`)."""
    from eps_ref.backends.dropins import trajectory
    return trajectory("tf_keras", source, kwargs, param0, grads, device)


def run_schedule(name, kwargs, n):
    """The learning rates of ``n`` optimizer steps: the schedule at ``iterations`` (int64)
    0..n-1, eagerly; ``[{"lr": float}]``."""
    import tensorflow as tf
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(kwargs).items()}
    schedule = resolve(name)(**kwargs)
    return [{"lr": float(schedule(tf.constant(t, dtype=tf.int64)))} for t in range(n)]


# -- native optimizer state (eps_ref.port.Plan.convert_state) --------------------------------

def _state_attrs():
    from eps_ref.backends.keras import STATE_ATTRS
    return {"tf_keras.optimizers." + k.rsplit(".", 1)[1]: v for k, v in STATE_ATTRS.items()}


def _built(name, kwargs, params):
    """tf_keras' (non-legacy) ``name(**kwargs)`` built on fresh ``tf.Variable``s shaped as
    the leaves of ``params``: its slot lists are Keras 3's."""
    import tensorflow as tf

    from eps_ref.backends import param_leaves
    from eps_ref.backends.keras import _attrs
    _attrs(name, _state_attrs())
    opt = resolve(name)(**kwargs)
    opt.build([tf.Variable(p) for p in param_leaves(params)])
    return opt


LEGACY_SLOTS = {
    "tf_keras.optimizers.legacy.SGD": {"momentum": "momentum"},
    "tf_keras.optimizers.legacy.Adam": {"m": "m", "v": "v", "v_max": "vhat"},
    "tf_keras.optimizers.legacy.RMSprop": {"square_avg": "rms", "momentum_buffer": "momentum",
                                           "grad_avg": "mg"},
    "tf_keras.optimizers.legacy.Adagrad": {"accumulator": "accumulator"},
}
"""Each legacy optimizer's reference slots and its slot name (``opt.get_slot(var, name)``)."""


def _legacy_built(name, kwargs, params):
    """``(opt, variables)``: the legacy ``name(**kwargs)`` with ``iterations`` and its slots
    created (``_create_all_weights``, what its first ``apply_gradients`` does) on fresh
    ``tf.Variable`` s shaped as the leaves of ``params``."""
    import tensorflow as tf

    from eps_ref.backends import param_leaves
    from eps_ref.backends.keras import _attrs
    _attrs(name, {**LEGACY_SLOTS, **_state_attrs()})
    variables = [tf.Variable(p) for p in param_leaves(params)]
    opt = resolve(name)(**kwargs)
    opt._create_all_weights(variables)
    return opt, variables


def _legacy_read(name, kwargs, native, params, step):
    import eps_ref
    opt, variables = _legacy_built(name, kwargs, params)
    shapes = [tuple(w.shape) for w in opt.get_weights()]
    if (not isinstance(native, (list, tuple))
            or [tuple(np.shape(w)) for w in native] != shapes):
        got = ([tuple(np.shape(w)) for w in native] if isinstance(native, (list, tuple))
               else type(native).__name__)
        raise ValueError(f"{name}: a native state is optimizer.get_weights(), arrays of "
                         f"shapes {shapes} (iterations, then the slots) for these params; "
                         f"got {got}")
    opt.set_weights([np.asarray(w) for w in native])
    state = eps_ref.optimizer(name, **kwargs).init(params)
    for slots, v in zip(state["slots"], variables):
        for ref, slot in LEGACY_SLOTS[name].items():
            if ref in slots:
                slots[ref] = np.array(opt.get_slot(v, slot).numpy(), copy=True)
    counted = int(opt.iterations.numpy())
    if step is not None and step != counted:
        raise ValueError(f"{name}: step={step}, and the optimizer's iterations is {counted}")
    state["step"] = counted
    return state


def _legacy_write(name, kwargs, state, params):
    opt, variables = _legacy_built(name, kwargs, params)
    for slots, v in zip(state["slots"], variables):
        for ref, slot in LEGACY_SLOTS[name].items():
            if ref in slots:
                opt.get_slot(v, slot).assign(np.asarray(slots[ref]))
    opt.iterations.assign(state["step"])
    return [np.array(w, copy=True) for w in opt.get_weights()]


def read_state(name, kwargs, native, params, step=None):
    """As :func:`eps_ref.backends.keras.read_state`, for ``tf_keras.optimizers``; the
    legacy optimizers' native state is ``optimizer.get_weights()`` (``iterations``, then
    their slots), loaded with ``set_weights`` once the slots exist."""
    if name in LEGACY_SLOTS:
        return _legacy_read(name, kwargs, native, params, step)
    from eps_ref.backends.keras import read_store
    return read_store(name, kwargs, native, params, step, _built(name, kwargs, params),
                      _state_attrs()[name])


def write_state(name, kwargs, state, params):
    """As :func:`eps_ref.backends.keras.write_state`, for ``tf_keras.optimizers``; a legacy
    optimizer's is the ``get_weights()`` list."""
    if name in LEGACY_SLOTS:
        return _legacy_write(name, kwargs, state, params)
    from eps_ref.backends.keras import write_store
    return write_store(state, _built(name, kwargs, params), _state_attrs()[name])

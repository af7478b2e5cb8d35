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


def read_state(name, kwargs, native, params, step=None):
    """As :func:`eps_ref.backends.keras.read_state`, for ``tf_keras.optimizers``."""
    from eps_ref.backends.keras import read_store
    return read_store(name, kwargs, native, params, step, _built(name, kwargs, params),
                      _state_attrs()[name])


def write_state(name, kwargs, state, params):
    """As :func:`eps_ref.backends.keras.write_state`, for ``tf_keras.optimizers``."""
    from eps_ref.backends.keras import write_store
    return write_store(state, _built(name, kwargs, params), _state_attrs()[name])

"""Adapter for ``tf.compat.v1.train`` optimizers, run eagerly on one ``tf.Variable``.

Eager and graph mode dispatch the same C++ training kernels (``ApplyAdam``, ...).
"""

from __future__ import annotations

import numpy as np

from eps_ref.backends import resolve_attr

PREFIX = "tf.compat.v1.train."


def available():
    try:
        import tensorflow  # noqa: F401
    except Exception as e:
        return False, f"tensorflow is not importable: {e}"
    return True, ""


def versions():
    import tensorflow
    return {"tensorflow": tensorflow.__version__}


def resolve(name):
    import tensorflow as tf
    return resolve_attr(tf.compat.v1.train, name.removeprefix(PREFIX))


def run_optimizer(name, kwargs, param0, grads, device="cpu"):
    import tensorflow as tf
    with tf.device(device.upper() + ":0"):
        variable = tf.Variable(param0)
        opt = resolve(name)(**kwargs)
        trajectory = [np.array(param0, copy=True)]
        for g in grads:
            opt.apply_gradients([(tf.constant(g), variable)])
            trajectory.append(variable.numpy().copy())
    return np.stack(trajectory)

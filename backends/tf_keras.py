"""Adapter for legacy Keras 2 (the ``tf-keras`` package): ``tf_keras.optimizers.legacy.*``
and ``tf_keras.optimizers.*``, run eagerly on one ``tf.Variable`` with ``apply_gradients``.

The non-legacy Keras 2 optimizers default to ``jit_compile=True``: their update step is an
XLA computation, exactly as in training.
"""

from __future__ import annotations

import numpy as np

from eps_ref.backends import resolve_attr

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
    import tensorflow as tf
    with tf.device(device.upper() + ":0"):
        variable = tf.Variable(param0)
        opt = resolve(name)(**kwargs)
        trajectory = [np.array(param0, copy=True)]
        for g in grads:
            opt.apply_gradients([(tf.constant(g), variable)])
            trajectory.append(variable.numpy().copy())
    return np.stack(trajectory)

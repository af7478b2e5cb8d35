"""Adapter for ``tf.compat.v1.train`` optimizers, run eagerly on one ``tf.Variable``.

Eager and graph mode dispatch the same C++ training kernels (``ApplyAdam``, ...). A
``global_step`` keyword (``AdagradDAOptimizer``) is the counter's starting value: the adapter
makes it an int64 variable and lets ``apply_gradients`` increment it, as a training loop does.
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
        step = None
        if "global_step" in kwargs:
            step = tf.Variable(int(kwargs["global_step"]), dtype=tf.int64)
            kwargs = {**kwargs, "global_step": step}
        opt = resolve(name)(**kwargs)
        trajectory = [np.array(param0, copy=True)]
        for g in grads:
            opt.apply_gradients([(tf.constant(g), variable)], global_step=step)
            trajectory.append(variable.numpy().copy())
    return np.stack(trajectory)

"""Adapter for ``tf.compat.v1.train`` optimizers, run eagerly on ``tf.Variable`` s.

Eager and graph mode dispatch the same C++ training kernels (``ApplyAdam``, ...). A
``global_step`` keyword (``AdagradDAOptimizer``) is the counter's starting value: the adapter
makes it an int64 variable and lets ``apply_gradients`` increment it, as a training loop does.
"""

from __future__ import annotations

import numpy as np

from eps_ref.backends import resolve_attr, tree_leaves, tree_trajectory

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
    """``param0``: one array or a dict tree, one ``tf.Variable`` per leaf, in order."""
    import tensorflow as tf
    names, leaves, streams = tree_leaves(param0, grads)
    with tf.device(device.upper() + ":0"):
        variables = [tf.Variable(p) for p in leaves]
        step = None
        if "global_step" in kwargs:
            step = tf.Variable(int(kwargs["global_step"]), dtype=tf.int64)
            kwargs = {**kwargs, "global_step": step}
        opt = resolve(name)(**kwargs)
        trajectories = [[np.array(p, copy=True)] for p in leaves]
        for t in range(len(streams[0])):
            opt.apply_gradients([(tf.constant(s[t]), v) for s, v in zip(streams, variables)],
                                global_step=step)
            for trajectory, v in zip(trajectories, variables):
                trajectory.append(v.numpy().copy())
    return tree_trajectory(names, trajectories)


def run_dropin(source, kwargs, param0, grads, device="cpu"):
    """The drop-in of this framework running ``source(**kwargs)``, driven as a training
    loop drives it (:func:`eps_ref.backends.dropins.trajectory`)."""
    from eps_ref.backends.dropins import trajectory
    return trajectory("tf1", source, kwargs, param0, grads, device)

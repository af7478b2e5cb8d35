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

    def make():
        step = None
        opt_kwargs = kwargs
        if "global_step" in kwargs:
            step = tf.Variable(int(kwargs["global_step"]), dtype=tf.int64)
            opt_kwargs = {**kwargs, "global_step": step}
        return resolve(name)(**opt_kwargs), step
    return _run(make, param0, grads, device)


def _run(make, param0, grads, device):
    """Step the optimizer ``make()`` returns (with the ``global_step`` variable it counts,
    or None) over the streams; the trajectory in the structure of ``param0``."""
    import tensorflow as tf
    names, leaves, streams = tree_leaves(param0, grads)
    with tf.device(device.upper() + ":0"):
        variables = [tf.Variable(p) for p in leaves]
        opt, step = make()
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


def _seeded(kwargs: dict) -> dict:
    """The decay function's own keywords; a ``global_seed`` (noisy_linear_cosine_decay's
    reference keyword) is set as TensorFlow's global seed, just before the first call."""
    import tensorflow as tf
    kwargs = dict(kwargs)
    if "global_seed" in kwargs:
        tf.random.set_seed(kwargs.pop("global_seed"))
    return kwargs


def run_schedule(name, kwargs, n):
    """The learning rates of ``n`` optimizer steps: the decay function on an int64
    ``global_step`` variable from ``kwargs["global_step"]`` (``x`` for
    ``piecewise_constant``), read before each increment, eagerly; ``[{"lr": float}]``."""
    import tensorflow as tf
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(kwargs).items()}
    key = "x" if "x" in kwargs else "global_step"
    step = tf.Variable(int(kwargs[key]), dtype=tf.int64)
    lr = resolve(name)(**{**_seeded(kwargs), key: step})
    out = []
    for _ in range(n):
        out.append({"lr": float(lr() if callable(lr) else lr)})
        step.assign_add(1)
    return out


def run_scheduled(name, kwargs, schedule_name, schedule_kwargs, param0, grads, device="cpu"):
    """``name(learning_rate=decay, **kwargs)`` with the decay function on the
    ``global_step`` that ``apply_gradients`` increments, as a TF1 training loop runs it."""
    import tensorflow as tf
    kw = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(schedule_kwargs).items()}
    key = "x" if "x" in kw else "global_step"

    def make():
        step = tf.Variable(int(kw[key]), dtype=tf.int64)
        decay = resolve(schedule_name)(**{**_seeded(kw), key: step})
        return resolve(name)(learning_rate=decay, **kwargs), step
    return _run(make, param0, grads, device)

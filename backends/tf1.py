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


# -- native optimizer state (eps_ref.port.Plan.convert_state) --------------------------------

STATE_SLOTS = {
    "tf.compat.v1.train.GradientDescentOptimizer": {},
    "tf.compat.v1.train.MomentumOptimizer": {"momentum": "momentum"},
    "tf.compat.v1.train.AdamOptimizer": {"m": "m", "v": "v"},
    "tf.compat.v1.train.RMSPropOptimizer": {"square_avg": "rms", "momentum_buffer": "momentum",
                                            "grad_avg": "mg"},
    "tf.compat.v1.train.AdagradOptimizer": {"accumulator": "accumulator"},
}
"""Each optimizer's reference slots and the TF1 slot name (``opt.get_slot(var, name)``);
AdamOptimizer's ``beta1_power``/``beta2_power`` are its non-slot variables."""

BETA_POWERS = ("beta1_power", "beta2_power")


def _names(params) -> list[str]:
    """The variable names of the parameters: the keys of a dict tree (its order), or TF's
    default ``"Variable"`` for one array."""
    return list(params) if isinstance(params, dict) else ["Variable"]


def state_names(name, kwargs, params) -> dict:
    """``{reference slot or beta power: [(checkpoint name, shape) per parameter]}``: the
    names of ``name(**kwargs)``'s variables as a TF1 program's ``tf.compat.v1.train.Saver``
    writes them (``"w/Adam"``, ``"w/Adam_1"``, ``"beta1_power"``), for parameter variables
    named as the keys of ``params`` (TF's ``"Variable"`` for one array). Built in a fresh
    graph, as a TF1 program builds them (eager mode numbers slot names by what the process
    created before)."""
    import tensorflow as tf

    from eps_ref.backends import param_leaves
    if name not in STATE_SLOTS:
        raise NotImplementedError(f"reading and writing {name}'s native state is not in "
                                  f"yet; covered: {sorted(STATE_SLOTS)}")
    with tf.Graph().as_default():
        try:
            variables = [tf.compat.v1.Variable(p, name=n)
                         for n, p in zip(_names(params), param_leaves(params))]
        except ValueError as e:
            raise ValueError(f"{name}: the parameter names {_names(params)} must be valid "
                             f"TensorFlow variable names: {e}") from None
        opt = resolve(name)(**kwargs)
        opt.apply_gradients([(tf.zeros_like(v), v) for v in variables])
        names = {ref: [(opt.get_slot(v, slot).op.name, tuple(v.shape)) for v in variables]
                 for ref, slot in STATE_SLOTS[name].items()
                 if opt.get_slot(variables[0], slot) is not None}
        if hasattr(opt, "_get_beta_accumulators"):
            for ref, power in zip(BETA_POWERS, opt._get_beta_accumulators()):
                names[ref] = [(power.op.name, ())] * len(variables)
    return names


def read_state(name, kwargs, native, params, step=None):
    """The reference state of ``name(**kwargs)`` held by ``native``: the optimizer's
    variables by checkpoint name, ``{"w/Adam": array, "w/Adam_1": ..., "beta1_power": ...}``
    (:func:`state_names`; what ``tf.train.load_checkpoint`` reads from a TF1 ``Saver``
    checkpoint), for parameter variables named as the keys of ``params``. TF1 counts no
    steps: ``step`` is the number of ``apply_gradients`` calls; AdamOptimizer's is checked
    against (or, when None, recovered from) its beta powers."""
    import eps_ref
    from eps_ref.state import steps_of_power
    names = state_names(name, kwargs, params)
    expected = dict(entry for per in names.values() for entry in per)
    if not isinstance(native, dict) or set(native) != set(expected):
        got = sorted(native)[:8] if isinstance(native, dict) else type(native).__name__
        raise ValueError(f"{name}: a native state maps the optimizer's variable names to "
                         f"arrays, {sorted(expected)} for these params; got {got}")
    for n, shape in expected.items():
        if tuple(np.shape(native[n])) != shape:
            raise ValueError(f"{name}: {n!r} has shape {tuple(np.shape(native[n]))}, the "
                             f"optimizer's variable {shape}")
    opt = eps_ref.optimizer(name, **kwargs)
    state = opt.init(params)
    for ref, per in names.items():
        for slots, (n, _) in zip(state["slots"], per):
            slots[ref] = np.array(native[n], dtype=np.asarray(slots[ref]).dtype, copy=True)
    if "beta1_power" in names:
        powers = {opt.hyperparams[f"beta{i}"]: np.float32(native[names[f"beta{i}_power"][0][0]])
                  for i in (1, 2)}
        step = steps_of_power(name, powers, step)
    state["step"] = 0 if step is None else step
    return state


def write_state(name, kwargs, state, params):
    """The variables of a ``name(**kwargs)`` optimizer holding the reference ``state``, by
    checkpoint name (:func:`state_names`), as :func:`read_state` reads them: restore them
    by name, or assign each to ``opt.get_slot(var, slot)`` and the beta powers."""
    return {n: np.array(slots[ref], copy=True)
            for ref, per in state_names(name, kwargs, params).items()
            for slots, (n, _) in zip(state["slots"], per)}

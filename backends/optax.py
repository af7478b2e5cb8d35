"""Adapter for optax: ``tx.update`` then ``optax.apply_updates``, dispatched op by op, or
as one ``jax.jit`` of both (label ``optax/jit``: ``EPS_REF_COMPILE=1``).

Op-by-op (eager) dispatch runs each jnp operation as its own XLA computation, which is the
arithmetic optax's code spells. Under ``jax.jit`` XLA's CPU compiler fuses the step: it
contracts ``a*b + c`` into fused multiply-adds and rewrites divisions (``x / sqrt(y)`` as
``x * rsqrt(y)``); that changes the last bits, not the algorithm, and the conformance suite
measures by how much (``COMPILED_BUDGETS`` in :mod:`eps_ref.conformance.cases`).
"""

from __future__ import annotations

import numpy as np

from eps_ref.backends import (StepError, compiled, free_jax_executables, jax_compilation_cache,
                              resolve_attr, tree_leaves, tree_trajectory)

PREFIX = "optax."


def available():
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except Exception as e:
        return False, f"optax/jax is not importable: {e}"
    return True, ""


def versions():
    import jax
    import jaxlib
    import optax
    return {"optax": optax.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__}


def resolve(name):
    import optax
    return resolve_attr(optax, name.removeprefix(PREFIX))


def run_optimizer(name, kwargs, param0, grads, device="cpu", clips=(), jit=None):
    """``param0``: one array or a dict tree (a pytree: jax orders its leaves by sorted
    key). ``clips``: ``[(name, keywords)]`` of optax transforms chained in front of the
    optimizer, ``optax.chain(*clips, optimizer)``. ``jit``: default
    :func:`~eps_ref.backends.compiled`."""
    jit = compiled() if jit is None else jit
    recompiles = name.startswith("optax.contrib.muon")
    if recompiles:
        # its Newton-Schulz fori_loop is compiled anew on every eager call (about 40
        # memory maps a step)
        jax_compilation_cache()
    import optax
    tx = resolve(name)(**kwargs)
    if clips:
        tx = optax.chain(*(resolve(c)(**ckw) for c, ckw in clips), tx)
    return run_native(tx, param0, grads, device, jit,
                      free_every=50 if recompiles and not jit else None)


def run_native(tx, param0, grads, device="cpu", jit=False, free_every=None):
    """:func:`run_optimizer` for a transformation the caller built (an
    ``optax.GradientTransformation``): ``tx.update`` then ``optax.apply_updates``, eagerly
    unless ``jit``. ``free_every``: drop JAX's compiled executables every that many steps
    (:func:`~eps_ref.backends.free_jax_executables`). An exception in a step is raised as
    :class:`~eps_ref.backends.StepError`."""
    import jax
    import jax.numpy as jnp
    import optax
    dev = jax.devices(device)[0]

    def step(params, state, grad):
        updates, state = tx.update(grad, state, params)
        return optax.apply_updates(params, updates), state

    if jit:
        step = jax.jit(step)
    names, leaves, streams = tree_leaves(param0, grads)

    def tree(arrays):
        arrays = [jax.device_put(jnp.asarray(a), dev) for a in arrays]
        return arrays[0] if names is None else dict(zip(names, arrays))

    params = tree(leaves)
    state = tx.init(params)
    trajectories = [[np.array(p, copy=True)] for p in leaves]
    for t in range(len(streams[0])):
        try:
            params, state = step(params, state, tree([s[t] for s in streams]))
        except Exception as e:
            raise StepError(t + 1, e) from e
        new = [params] if names is None else [params[k] for k in names]
        for trajectory, p in zip(trajectories, new):
            trajectory.append(np.asarray(p).copy())
        if free_every and (t + 1) % free_every == 0:
            free_jax_executables()
    return tree_trajectory(names, trajectories)


def run_dropin(source, kwargs, param0, grads, device="cpu"):
    """The drop-in of this framework running ``source(**kwargs)``, driven as a training
    loop drives it (:func:`eps_ref.backends.dropins.trajectory`)."""
    from eps_ref.backends.dropins import trajectory
    return trajectory("optax", source, kwargs, param0, grads, device)


# -- schedules -------------------------------------------------------------------------------

def build_schedule(name, kwargs):
    """``optax.<name>(**kwargs)`` from a schedule spec's keywords (a composition's
    ``schedules`` are ``(name, keywords)`` pairs)."""
    kwargs = dict(kwargs)
    if "schedules" in kwargs:
        kwargs["schedules"] = [build_schedule(inner, kw) for inner, kw in kwargs["schedules"]]
    for key in ("boundaries", "cosine_kwargs"):
        if key in kwargs:
            kwargs[key] = [dict(x) if isinstance(x, dict) or hasattr(x, "items") else x
                           for x in kwargs[key]]
    if kwargs.get("boundaries_and_scales") is not None:
        kwargs["boundaries_and_scales"] = dict(kwargs["boundaries_and_scales"])
    return resolve(name)(**kwargs)


def run_schedule(name, kwargs, n, jit=None):
    """The learning rates of ``n`` optimizer steps: the schedule at the int32 counts
    ``0..n-1``, one call each as optax's transformation makes it, eagerly or jitted;
    ``[{"lr": float}]``."""
    import jax
    import jax.numpy as jnp
    jit = compiled() if jit is None else jit
    schedule = build_schedule(name, kwargs)
    call = jax.jit(schedule) if jit else schedule
    return [{"lr": float(jnp.asarray(call(jnp.int32(t)), dtype=jnp.float32))}
            for t in range(n)]


def run_scheduled(name, kwargs, schedule_name, schedule_kwargs, param0, grads, device="cpu",
                  jit=None):
    """``optax.<name>(learning_rate=schedule, **kwargs)`` stepped as :func:`run_native`."""
    jit = compiled() if jit is None else jit
    tx = resolve(name)(learning_rate=build_schedule(schedule_name, schedule_kwargs), **kwargs)
    return run_native(tx, param0, grads, device, jit)


# -- native optimizer state (eps_ref.port.Plan.convert_state) --------------------------------

STATE_FIELDS = {
    "adam": {("ScaleByAdamState", "mu"): "m", ("ScaleByAdamState", "nu"): "v",
             ("ScaleByAmsgradState", "mu"): "m", ("ScaleByAmsgradState", "nu"): "v",
             ("ScaleByAmsgradState", "nu_max"): "v_max"},
    "rmsprop": {("ScaleByRmsState", "nu"): "square_avg",
                ("ScaleByRStdDevState", "nu"): "square_avg",
                ("ScaleByRStdDevState", "mu"): "grad_avg",
                ("TraceState", "trace"): "momentum_buffer"},
    "adagrad": {("ScaleByRssState", "sum_of_squares"): "accumulator"},
    "sgd": {("TraceState", "trace"): "trace"},
}
"""By family: the optax state fields (``(state class, field)``) holding each reference slot;
``count`` is the step count where the transform keeps one."""


def _state_nodes(state):
    """The NamedTuple states of an optax state, in order (chains nest tuples)."""
    if hasattr(state, "_fields"):
        yield state
        for child in state:
            if isinstance(child, tuple):
                yield from _state_nodes(child)
    elif isinstance(state, (tuple, list)):
        for child in state:
            yield from _state_nodes(child)


def _fields_of(name):
    import eps_ref
    from eps_ref.port import port_family
    family = port_family(eps_ref.spec(name))
    if family not in STATE_FIELDS:
        raise NotImplementedError(f"reading and writing {name}'s native state is not in yet; "
                                  f"covered: the {sorted(STATE_FIELDS)} families")
    return STATE_FIELDS[family]


def read_state(name, kwargs, native, params, step=None):
    """The reference state of ``name(**kwargs)`` that the optax state pytree ``native``
    (``tx.init(params)``'s structure) holds. ``step``: the count where optax keeps none
    (sgd, rmsprop, adagrad); else it must agree with ``count``."""
    import jax

    import eps_ref
    fields = _fields_of(name)
    params = jax.tree_util.tree_map(np.asarray, params)
    template = resolve(name)(**kwargs).init(params)
    if jax.tree_util.tree_structure(native) != jax.tree_util.tree_structure(template):
        raise ValueError(f"{name}: the state's structure is not what {name}(**kwargs)."
                         f"init(params) builds:\n  {jax.tree_util.tree_structure(native)}\n"
                         f"  expected {jax.tree_util.tree_structure(template)}")
    state = eps_ref.optimizer(name, **kwargs).init(params)
    leaves = jax.tree_util.tree_leaves(params)
    count = None
    for node in _state_nodes(native):
        kind = type(node).__name__
        if "count" in node._fields and kind in {k for k, _ in fields}:
            count = int(np.asarray(node.count))
        for field in node._fields:
            ref_name = fields.get((kind, field))
            if ref_name is None:
                continue
            values = jax.tree_util.tree_leaves(getattr(node, field))
            for leaf, value, slots in zip(leaves, values, state["slots"]):
                value = np.asarray(value)
                if value.shape != np.shape(leaf):
                    raise ValueError(f"{name}: {kind}.{field} has a leaf of shape "
                                     f"{value.shape}, its parameter {np.shape(leaf)}")
                slots[ref_name] = value.astype(np.asarray(leaf).dtype, copy=True)
    if count is not None and step is not None and step != count:
        raise ValueError(f"{name}: step={step}, and the state's count is {count}")
    state["step"] = count if count is not None else (step or 0)
    return state


def write_state(name, kwargs, state, params):
    """The optax state of ``name(**kwargs)`` for ``params`` holding the reference
    ``state``: ``tx.init(params)`` with its fields replaced."""
    import jax
    import jax.numpy as jnp
    fields = _fields_of(name)
    template = resolve(name)(**kwargs).init(params)

    def fill(node):
        if hasattr(node, "_fields"):
            kind = type(node).__name__
            new = {}
            for field, child in zip(node._fields, node):
                ref_name = fields.get((kind, field))
                if ref_name is not None:
                    treedef = jax.tree_util.tree_structure(child)
                    new[field] = jax.tree_util.tree_unflatten(
                        treedef, [jnp.asarray(s[ref_name]) for s in state["slots"]])
                elif field == "count" and kind in {k for k, _ in fields}:
                    new[field] = jnp.asarray(state["step"], dtype=child.dtype)
                elif isinstance(child, tuple):
                    new[field] = fill(child)
            return node._replace(**new)
        if isinstance(node, tuple):
            return type(node)(fill(c) for c in node)
        return node
    return fill(template)

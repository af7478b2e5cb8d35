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

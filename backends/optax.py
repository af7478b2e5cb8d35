"""Adapter for optax: ``tx.update`` then ``optax.apply_updates``, dispatched op by op.

Op-by-op (eager) dispatch runs each jnp operation as its own XLA computation, which is the
arithmetic optax's code spells. Under ``jax.jit`` XLA's CPU compiler may contract ``a*b + c``
into a fused multiply-add and rewrite a division by a constant as a multiplication by its
reciprocal; that changes the last bits, not the algorithm (docs/conformance.md measures it).
"""

from __future__ import annotations

import numpy as np

from eps_ref.backends import free_jax_executables, jax_compilation_cache, resolve_attr

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


def run_optimizer(name, kwargs, param0, grads, device="cpu", clips=(), jit=False):
    """``clips``: ``[(name, keywords)]`` of optax transforms chained in front of the
    optimizer, ``optax.chain(*clips, optimizer)``."""
    recompiles = name.startswith("optax.contrib.muon")
    if recompiles:
        # its Newton-Schulz fori_loop is compiled anew on every eager call (about 40
        # memory maps a step)
        jax_compilation_cache()
    import jax
    import jax.numpy as jnp
    import optax
    dev = jax.devices(device)[0]
    tx = resolve(name)(**kwargs)
    if clips:
        tx = optax.chain(*(resolve(c)(**ckw) for c, ckw in clips), tx)

    def step(params, state, grad):
        updates, state = tx.update(grad, state, params)
        return optax.apply_updates(params, updates), state

    if jit:
        step = jax.jit(step)
    params = jax.device_put(jnp.asarray(param0), dev)
    state = tx.init(params)
    trajectory = [np.array(param0, copy=True)]
    for t, g in enumerate(grads, 1):
        params, state = step(params, state, jax.device_put(jnp.asarray(g), dev))
        trajectory.append(np.asarray(params).copy())
        if recompiles and t % 50 == 0:
            free_jax_executables()
    return np.stack(trajectory)

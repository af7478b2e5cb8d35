r"""Carrying optimizer state from one framework's optimizer to another's.

``eps_ref.convert_state(state, source=..., target=..., params=...)`` turns the reference
state of ``source`` (what :meth:`eps_ref.Optimizer.init` builds and ``step`` returns) into
the reference state of ``target`` that holds the same quantities: slot by slot where both
keep the same one, the step count carried, what the target derives from the count
recomputed as the target computes it. A slot means what its *role* says (:data:`ROLES`):
torch's ``exp_avg``, optax's ``mu`` and Keras' ``m`` are all the EMA of the gradient with
rate :math:`\beta_1`, while Keras' SGD ``momentum`` holds :math:`\mu m - \eta g`, the learning
rate inside, and torch's SGD ``momentum_buffer`` :math:`\mu b + g`. A target slot whose role
the source does not keep, or a source slot the target would drop, is refused with the roles
named: a converted state never means something else silently.

Covered: the ``adam`` (Adam, AdamW, AMSGrad), ``rmsprop``, ``adagrad`` and ``sgd`` families
in every dialect. What each conversion reads and writes is the table of
``docs/porting.md`` ("Continuing a checkpoint in another framework"). Native states (a torch
``state_dict``, an optax state pytree) go through :meth:`eps_ref.port.Plan.convert_state`.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["convert_state", "ROLES", "SPEC_ROLES", "DERIVED", "state_roles",
           "CONVERTIBLE_FAMILIES"]

ROLES: Mapping[str, Mapping[str, str]] = {
    "adam": {"m": "EMA of g (rate b1)", "v": "EMA of g^2 (rate b2)",
             "v_max": "running max of v", "v_hat": "running max of v"},
    "rmsprop": {"square_avg": "EMA of g^2", "mean_square": "EMA of g^2",
                "grad_avg": "EMA of g (centered)",
                "momentum_buffer": "momentum of lr * g / sqrt(...)"},
    "adagrad": {"accumulator": "sum of g^2 from the initial accumulator",
                "sum_of_squares": "sum of g^2 from the initial accumulator"},
    "sgd": {"momentum_buffer": "velocity b = mu b + g", "trace": "velocity b = mu b + g",
            "momentum": "velocity b = mu b + g", "m": "velocity b = mu b + g"},
}
"""Each family's reference slots and the quantity each holds."""

SPEC_ROLES: Mapping[str, Mapping[str, str]] = {
    "keras.optimizers.SGD": {"momentum": "mu m - lr g (the learning rate inside)"},
    "tf_keras.optimizers.SGD": {"momentum": "mu m - lr g (the learning rate inside)"},
    "tf_keras.optimizers.legacy.SGD": {"momentum": "mu m - lr g (the learning rate inside)"},
    "torch.optim.RMSprop": {"momentum_buffer": "momentum of g / (sqrt(v) + eps), without "
                                               "the learning rate"},
    "optax.amsgrad": {"v_max": "running max of the bias-corrected v"},
}
"""Where a spec's slot holds another quantity than its family's slot of that name."""

DERIVED: Mapping[str, Mapping[str, str]] = {
    "tf.compat.v1.train.AdamOptimizer": {"beta1_power": "beta1", "beta2_power": "beta2"},
}
"""Slots a spec derives from the step count: TF1 Adam's beta powers, float32 running
products of its ``beta1``/``beta2`` over ``step + 1`` factors (initialized to beta, one
product per step), recomputed for the target."""

CONVERTIBLE_FAMILIES = tuple(ROLES)


def state_roles(opt) -> dict[str, str]:
    """The role of each slot ``opt`` (an :class:`eps_ref.Optimizer`) keeps, with its
    hyperparameters (torch SGD's ``dampening`` changes what its buffer sums)."""
    from eps_ref.port import port_family
    family = port_family(opt.spec)
    roles = {**ROLES.get(family, {}), **SPEC_ROLES.get(opt.spec.name, {})}
    damp = opt.hyperparams.get("dampening") if family == "sgd" else None
    if damp:
        roles["momentum_buffer"] = f"velocity b = mu b + (1 - {damp}) g"
    return roles


def _running_power(beta: float, factors: int) -> np.ndarray:
    """``beta`` multiplied into a float32 accumulator ``factors - 1`` times, starting at
    ``float32(beta)``: TF1's beta power after ``factors - 1`` steps."""
    b = np.float32(beta)
    p = b
    for _ in range(factors - 1):
        p = np.float32(p * b)
    return np.asarray(p, dtype=np.float32)


def _to_host(a):
    """A NumPy view of an array of any namespace (torch tensors leave autograd)."""
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _like(template, value):
    """``value`` as an array of ``template``'s namespace, dtype and device (a copy)."""
    from array_api_compat import array_namespace, device
    xp = array_namespace(template)
    host = np.array(value, dtype=np.asarray(template).dtype, copy=True)
    return xp.asarray(host, device=device(template)) if xp is not np else host


def convert_state(state: Mapping[str, Any], *, source: str, target: str, params: Any,
                  source_kwargs: Mapping[str, Any] | None = None,
                  target_kwargs: Mapping[str, Any] | None = None) -> dict:
    """The reference state of ``target(**target_kwargs)`` holding what ``state`` (of
    ``source(**source_kwargs)``, for the parameter tree ``params``) holds.

    Slots are matched by role (:func:`state_roles`), leaves by their path in ``params``
    (each dialect orders a dict tree its own way), the step count carried and the slots
    the target derives from it (:data:`DERIVED`) recomputed. Raises ``ValueError`` where the
    families differ, a target slot has no source slot of its role or a source slot would
    be dropped, the state does not fit ``params`` or ``source``; ``NotImplementedError``
    outside :data:`CONVERTIBLE_FAMILIES`. Nothing passed in is modified."""
    import eps_ref
    from eps_ref._state import check_leaf_steps, check_optimizer_state, check_step
    from eps_ref._tree import flatten, leaf_paths
    from eps_ref.port import port_family
    src = eps_ref.optimizer(source, **dict(source_kwargs or {}))
    dst = eps_ref.optimizer(target, **dict(target_kwargs or {}))
    family, target_family = port_family(src.spec), port_family(dst.spec)
    if family != target_family:
        raise ValueError(f"convert_state: {source} is of the {family} family, {target} of "
                         f"{target_family}: only the same family's state carries over")
    if family not in CONVERTIBLE_FAMILIES:
        raise NotImplementedError(f"convert_state covers the {list(CONVERTIBLE_FAMILIES)} "
                                  f"families; {family} is not in yet")
    src_paths = leaf_paths(params, src.key_order)
    check_optimizer_state(source, state, src_paths, src._extra_state,
                          optional_keys=("spec", "leaf_steps"))
    step = check_step(source, state["step"])
    if "leaf_steps" in state:
        check_leaf_steps(source, state["leaf_steps"], len(src_paths))
        if len(set(state["leaf_steps"])) > 1:
            raise ValueError(f"convert_state: the leaves of this {source} state took "
                             f"different numbers of steps {state['leaf_steps']} (None "
                             f"gradients); {target} keeps one count for all")
    if src._extra_state:
        raise ValueError(f"convert_state: {source}'s state carries {list(src._extra_state)} "
                         f"(Keras' gradient accumulation or EMA), which {target} does not "
                         f"keep")
    if target.startswith("optax.") and step > 2 ** 31 - 1:
        raise ValueError(f"convert_state: step {step} does not fit optax's int32 count")
    out = dst.init(params)
    src_roles, dst_roles = state_roles(src), state_roles(dst)
    derived = DERIVED.get(dst.spec.name, {})
    src_derived = DERIVED.get(src.spec.name, {})
    by_path = dict(zip(src_paths, state["slots"]))
    for path, p, slots in zip(leaf_paths(params, dst.key_order),
                              flatten(params, dst.key_order)[0], out["slots"]):
        given = by_path[path]
        expected = src.init(p)["slots"][0]
        if set(given) != set(expected):
            raise ValueError(f"convert_state: the {source} state of params{path} holds "
                             f"{sorted(given)}, {source} keeps {sorted(expected)}")
        kept = {src_roles[k]: k for k in given if k not in src_derived and k in src_roles}
        unknown = [k for k in given if k not in src_derived and k not in src_roles]
        if unknown:
            raise NotImplementedError(f"convert_state: {source}'s slot(s) {unknown} have no "
                                      f"declared role yet")
        used = set()
        for name in slots:
            if name in derived:
                beta = dst.hyperparams[derived[name]]
                slots[name] = _like(slots[name], _running_power(beta, step + 1))
                continue
            role = dst_roles.get(name)
            if role is None or role not in kept:
                have = {k: src_roles[k] for k in given if k in src_roles}
                raise ValueError(f"convert_state: {target}'s {name!r} slot holds "
                                 f"{role or 'a quantity with no declared role'}; the {source} "
                                 f"state has no slot that does ({have or 'no slots'})")
            value = np.asarray(_to_host(given[kept[role]]))
            if tuple(value.shape) != tuple(np.shape(slots[name])):
                raise ValueError(f"convert_state: the {source} state's {kept[role]!r} of "
                                 f"params{path} has shape {tuple(value.shape)}, the "
                                 f"parameter {tuple(np.shape(p))}")
            slots[name] = _like(slots[name], value)
            used.add(kept[role])
        dropped = [k for k in kept.values() if k not in used]
        if dropped:
            raise ValueError(f"convert_state: {target} keeps no slot for {source}'s "
                             f"{[f'{k} ({src_roles[k]})' for k in dropped]}; converting "
                             f"would drop it (configure the target to keep it)")
    out["step"] = step
    return out

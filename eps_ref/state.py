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

__all__ = ["convert_state", "convert_layer_state", "ROLES", "SPEC_ROLES", "DERIVED",
           "LAYER_STATE", "state_roles", "CONVERTIBLE_FAMILIES", "inert_slots",
           "steps_of_power"]

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


def inert_slots(opt) -> set[str]:
    """The slots of ``opt`` that never reach an update: RMSProp's momentum buffer at
    ``momentum=0`` (TF1 and Keras keep one anyway, ``0 * buffer + ...``). A source may drop
    them; a target's start from zeros."""
    from eps_ref.port import port_family
    if port_family(opt.spec) == "rmsprop" and not opt.hyperparams.get("momentum"):
        return {"momentum_buffer"}
    return set()


def _running_power(beta: float, factors: int) -> np.ndarray:
    """``beta`` multiplied into a float32 accumulator ``factors - 1`` times, starting at
    ``float32(beta)``: TF1's beta power after ``factors - 1`` steps."""
    b = np.float32(beta)
    p = b
    for _ in range(factors - 1):
        p = np.float32(p * b)
    return np.asarray(p, dtype=np.float32)


def steps_of_power(name: str, powers: Mapping[float, Any], step: int | None = None) -> int:
    """The step count of TF1-style beta powers ``{beta: power}`` (float32 running products,
    :func:`_running_power`): ``step`` checked against them, or, when None, the one count
    that gives every power; ValueError when none does or (powers underflowed to a fixed
    value) several do."""
    products = {}
    for beta, power in powers.items():
        b, p, seen = np.float32(beta), np.float32(beta), []
        while len(seen) < 2 ** 20:
            seen.append(p)
            nxt = np.float32(p * b)
            if nxt == p:
                break
            p = nxt
        products[beta] = (seen, np.float32(power))
    if step is not None:
        for beta, (seen, power) in products.items():
            want = seen[min(step, len(seen) - 1)]
            if want != power:
                raise ValueError(f"{name}: step={step} gives the beta power {want!r} for beta "
                                 f"{beta}, and the state holds {power!r}")
        return step
    counts = None
    for beta, (seen, power) in products.items():
        if power == seen[-1]:
            raise ValueError(f"{name}: the beta power of beta {beta} stops changing at "
                             f"{power!r} (step {len(seen) - 1} on); pass step= (the number "
                             f"of apply_gradients calls)")
        if power not in seen:
            raise ValueError(f"{name}: the beta power {power!r} is no float32 running "
                             f"product of beta {beta} (TF1's beta power)")
        found = {seen.index(power)}
        counts = found if counts is None else counts & found
    if len(counts) != 1:
        raise ValueError(f"{name}: the beta powers {dict(powers)} fit no single step count")
    return counts.pop()


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
    outside :data:`CONVERTIBLE_FAMILIES`. Nothing passed in is modified. For a layer spec
    (BatchNorm), :func:`convert_layer_state`; ``params`` is then unused."""
    import eps_ref
    from eps_ref.spec import spec as _spec
    if _spec(source).kind == "layer":
        return convert_layer_state(state, source=source, target=target,
                                   source_kwargs=source_kwargs, target_kwargs=target_kwargs)
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
            if name in inert_slots(dst) and role not in kept:
                continue                         # zeros from init, never read
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
        dropped = [k for k in kept.values() if k not in used and k not in inert_slots(src)]
        if dropped:
            raise ValueError(f"convert_state: {target} keeps no slot for {source}'s "
                             f"{[f'{k} ({src_roles[k]})' for k in dropped]}; converting "
                             f"would drop it (configure the target to keep it)")
    out["step"] = step
    return out


LAYER_STATE: Mapping[str, str] = {
    "scale": "the learned scale gamma (ones when not learned)",
    "bias": "the learned shift beta (zeros when not learned)",
    "running_mean": "EMA of the batch means",
    "running_var": "EMA of the batch variances (torch's of the unbiased n/(n-1) ones), "
                   "what inference divides by",
    "num_batches_tracked": "training calls so far (torch's count; its momentum=None "
                           "average weights by it)",
}
"""What each entry of a BatchNorm reference state holds, in every dialect."""


def with_channels(name: str, kwargs: Mapping[str, Any] | None, channels: int) -> dict:
    """``kwargs`` with torch's required ``num_features`` set to ``channels`` when not given
    (a Keras or Flax source names no channel count; the plan's config leaves it to fill)."""
    from eps_ref.spec import REQUIRED, spec as _spec
    kwargs = dict(kwargs or {})
    if (_spec(name).defaults.get("num_features", None) is REQUIRED
            and kwargs.get("num_features", REQUIRED) is REQUIRED):
        kwargs["num_features"] = channels
    return kwargs


def _channel_input(layer, channels: int):
    """A zero input with ``channels`` on the layer's channel axis, for its ``init``."""
    kw = layer.rule_kwargs
    ndims = kw.get("input_ndims") or (2,)
    ndims = ndims[0] if isinstance(ndims, tuple) else ndims
    axis = kw["axis"]
    ndims = max(ndims, axis + 1 if axis >= 0 else -axis)
    shape = [1] * ndims
    shape[axis] = channels
    return np.zeros(shape, np.float32)


def convert_layer_state(state: Mapping[str, Any], *, source: str, target: str,
                        source_kwargs: Mapping[str, Any] | None = None,
                        target_kwargs: Mapping[str, Any] | None = None) -> dict:
    """The reference state of the BatchNorm ``target(**target_kwargs)`` holding what the
    ``source`` layer's ``state`` holds (:data:`LAYER_STATE`): scale, shift and running
    statistics as they are, so the target's inference output is the source's wherever the
    two compute the same normalization. The running variance is carried as stored, not
    rescaled by (n-1)/n: both frameworks divide by the stored value at inference (torch
    feeds n/(n-1) sigma^2 into it, Keras and Flax sigma^2: that differs in the next training
    update, and the port's ``differences`` say so). A scale or shift the source learned
    that the target does not keep, running statistics the source does not track, or
    renormalization state, is refused with ``ValueError``. Nothing passed in is modified."""
    import eps_ref
    from eps_ref.port import port_family
    if not isinstance(state, Mapping) or "running_mean" not in state and "scale" not in state:
        raise ValueError(f"convert_state: a {source} state is the dict its init builds "
                         f"({sorted(LAYER_STATE)}), got {type(state).__name__}")
    channels = np.shape(state.get("running_mean", state.get("scale")))
    if len(channels) != 1:
        raise ValueError(f"convert_state: the {source} state's statistics have shape "
                         f"{channels}, one value per channel expected")
    src = eps_ref.layer(source, **with_channels(source, source_kwargs, channels[0]))
    dst = eps_ref.layer(target, **with_channels(target, target_kwargs, channels[0]))
    if port_family(src.spec) != "batch_norm" or port_family(dst.spec) != "batch_norm":
        raise NotImplementedError(f"convert_state carries BatchNorm state; {source} -> "
                                  f"{target} is {port_family(src.spec)} -> "
                                  f"{port_family(dst.spec)}")
    expected = src.init(_channel_input(src, channels[0]))
    if set(state) != set(expected):
        raise ValueError(f"convert_state: the {source} state holds {sorted(state)}, "
                         f"{source}({source_kwargs or ''}) keeps {sorted(expected)}")
    out = dst.init(_channel_input(dst, channels[0]))
    extra = [k for k in state if k not in out and k != "num_batches_tracked"]
    if extra:
        raise ValueError(f"convert_state: {target} keeps no {extra} "
                         f"({[LAYER_STATE.get(k, 'renormalization state') for k in extra]}); "
                         f"converting would drop it (configure the target to keep it)")
    for key in out:
        if key == "num_batches_tracked":
            out[key] = int(state.get(key, 0))
        elif key in state:
            value = np.asarray(_to_host(state[key]))
            if value.shape != channels or not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"convert_state: the {source} state's {key!r} is "
                                 f"{value.dtype}{list(value.shape)}, float[{channels[0]}] "
                                 f"expected")
            out[key] = _like(out[key], value)
        elif key in ("running_mean", "running_var"):
            raise ValueError(f"convert_state: {source} tracks no running statistics "
                             f"(its inference uses the batch's); {target}'s inference "
                             f"would use {key} from nothing")
    return out

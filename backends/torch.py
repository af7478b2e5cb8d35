"""Adapter for ``torch.optim``: a leaf tensor, ``.grad`` set each step, ``opt.step()``."""

from __future__ import annotations

import numpy as np

from eps_ref.backends import (StepError, param_leaves, resolve_attr, tree_leaves,
                              tree_trajectory)

PREFIX = "torch."


def available():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        return False, f"torch is not importable: {e}"
    return True, ""


def versions():
    """The torch version and the CPU capability its kernels dispatch on (``AVX512``,
    ``AVX2``, ... as ``ATEN_CPU_CAPABILITY`` and the machine allow)."""
    import torch
    return {"torch": torch.__version__,
            "cpu capability": torch.backends.cpu.get_cpu_capability()}


def resolve(name):
    import torch
    return resolve_attr(torch, name.removeprefix(PREFIX))


def run_optimizer(name, kwargs, param0, grads, device="cpu", clips=()):
    """``param0``: one array or a dict tree, given to the optimizer as one parameter list
    (:func:`eps_ref.backends.tree_leaves`). ``clips``: ``[(name, keywords)]`` of
    ``torch.nn.utils`` clipping functions called on the parameter list, in order, after
    ``.grad`` is set and before ``opt.step()``."""
    return run_native(lambda params: resolve(name)(params, **kwargs), param0, grads, device,
                      clips)


def run_native(make, param0, grads, device="cpu", clips=(), scheduler=None):
    """:func:`run_optimizer` for an optimizer the caller builds: ``make(params)`` returns a
    ``torch.optim.Optimizer`` over the list of ``torch.nn.Parameter`` it is given (a class
    such as ``torch.optim.Adam``, or ``lambda params: torch.optim.Adam(params, lr=3e-4)``).
    ``scheduler(opt)``: an lr scheduler, stepped after each ``opt.step()``.
    An exception in a step is raised as :class:`~eps_ref.backends.StepError`."""
    import torch
    names, leaves, streams = tree_leaves(param0, grads)
    params = [torch.nn.Parameter(torch.tensor(p, device=device)) for p in leaves]
    opt = make(params)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"the torch factory returned a {type(opt).__name__}, not a "
                        "torch.optim.Optimizer")
    clip_fns = [(resolve(clip_name), clip_kwargs) for clip_name, clip_kwargs in clips]
    sched = None if scheduler is None else scheduler(opt)
    trajectories = [[np.array(p, copy=True)] for p in leaves]
    for t in range(len(streams[0])):
        try:
            for param, stream in zip(params, streams):
                param.grad = torch.tensor(stream[t], device=device)
            for fn, clip_kwargs in clip_fns:
                fn(params, **clip_kwargs)
            opt.step()
            if sched is not None and t + 1 < len(streams[0]):
                sched.step()
        except Exception as e:
            raise StepError(t + 1, e) from e
        for trajectory, param in zip(trajectories, params):
            trajectory.append(param.detach().cpu().numpy().copy())
    return tree_trajectory(names, trajectories)


# -- learning-rate schedulers -------------------------------------------------------------

def build_scheduler(opt, name, kwargs):
    """``torch.optim.lr_scheduler.<name>`` on ``opt``, from a schedule spec's keywords
    (``lr`` is the optimizer's; a composition's ``schedulers`` are ``(name, keywords)``
    pairs, built on ``opt`` in order, as a script builds them)."""
    kwargs = {k: v for k, v in kwargs.items() if k != "lr"}
    if "schedulers" in kwargs:
        kwargs["schedulers"] = [build_scheduler(opt, inner, dict(kw))
                                for inner, kw in kwargs["schedulers"]]
        if name.endswith(".ChainedScheduler"):
            return resolve(name)(kwargs["schedulers"], optimizer=opt)
    if "milestones" in kwargs:
        kwargs["milestones"] = list(kwargs["milestones"])
    return resolve(name)(opt, **kwargs)


def _schedule_lr(kwargs) -> float:
    """The optimizer's lr for a schedule's keywords (a composition's may leave it out)."""
    return 0.1 if kwargs.get("lr") is None else kwargs["lr"]


def run_schedule(name, kwargs, n, metrics=None, optimizer="torch.optim.SGD",
                 optimizer_kwargs=None):
    """The hyperparameters of ``n`` optimizer steps under the scheduler: ``[{"lr": ...,
    "momentum": ... (or the first beta)}]`` read from the parameter group before each
    ``opt.step()``, the scheduler stepped after it (with ``metrics[t]`` for
    ReduceLROnPlateau). The optimizer: SGD with momentum 0.9 by default (torch's cyclic
    schedules need a momentum to cycle)."""
    import torch
    param = torch.nn.Parameter(torch.zeros(1))
    opt = resolve(optimizer)([param], lr=_schedule_lr(kwargs),
                             **(optimizer_kwargs or {"momentum": 0.9}))
    sched = build_scheduler(opt, name, dict(kwargs))
    out = []
    for t in range(n):
        group = opt.param_groups[0]
        out.append({"lr": group["lr"],
                    "momentum": group["betas"][0] if "betas" in group else group.get("momentum")})
        param.grad = torch.zeros(1)
        opt.step()
        if t + 1 < n:
            sched.step(metrics[t]) if metrics is not None else sched.step()
    return out


def run_scheduled(name, kwargs, schedule_name, schedule_kwargs, param0, grads, device="cpu"):
    """``name(**kwargs)`` with its lr set by the scheduler ``schedule_name``, as a
    training loop runs it: ``opt.step(); scheduler.step()``."""
    opt_kwargs = {**kwargs, "lr": _schedule_lr(schedule_kwargs)}
    return run_native(lambda params: resolve(name)(params, **opt_kwargs), param0, grads,
                      device, scheduler=lambda opt: build_scheduler(
                          opt, schedule_name, dict(schedule_kwargs)))


# -- normalization layers ---------------------------------------------------------------

_TORCH_PARAM_NAMES = {"scale": "weight", "bias": "bias"}


def run_layer(name, kwargs, batches, eval_batch, params=None, device="cpu", threads=None):
    """Build ``torch.nn.<Layer>(**kwargs)``, set its ``weight``/``bias`` from ``params``
    (canonical names ``scale``/``bias``), call it in training mode on each batch, then in
    eval mode on ``eval_batch``, on ``threads`` intra-op threads (``None``: torch's own
    setting; restored afterwards). Returns ``{"outputs": [...], "running_mean": [...],
    "running_var": [...]}`` (numpy; the running statistics after each training batch, or
    ``None`` where the layer tracks none)."""
    import torch
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_layer(torch, name, kwargs, batches, eval_batch, params, device)
    finally:
        torch.set_num_threads(before)


def _run_layer(torch, name, kwargs, batches, eval_batch, params, device):
    module = resolve(name)(**kwargs).to(device)
    with torch.no_grad():
        for key, value in (params or {}).items():
            target = getattr(module, _TORCH_PARAM_NAMES[key], None)
            if target is not None:
                target.copy_(torch.tensor(value, device=device))
    out = {"outputs": [], "running_mean": [], "running_var": []}

    def stat(attr):
        v = getattr(module, attr, None)
        return None if v is None else v.detach().cpu().numpy().copy()

    module.train()
    with torch.no_grad():
        for x in batches:
            out["outputs"].append(module(torch.tensor(x, device=device)).cpu().numpy().copy())
            out["running_mean"].append(stat("running_mean"))
            out["running_var"].append(stat("running_var"))
        module.eval()
        out["outputs"].append(module(torch.tensor(eval_batch, device=device)).cpu().numpy().copy())
    return out


def run_dropin(source, kwargs, param0, grads, device="cpu"):
    """The drop-in of this framework running ``source(**kwargs)``, driven as a training
    loop drives it (:func:`eps_ref.backends.dropins.trajectory`)."""
    from eps_ref.backends.dropins import trajectory
    return trajectory("torch", source, kwargs, param0, grads, device)


# -- native optimizer state (eps_ref.port.Plan.convert_state) --------------------------------

STATE_KEYS = {
    "torch.optim.Adam": {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"},
    "torch.optim.AdamW": {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"},
    "torch.optim.SGD": {"momentum_buffer": "momentum_buffer"},
    "torch.optim.RMSprop": {"square_avg": "square_avg", "grad_avg": "grad_avg",
                            "momentum_buffer": "momentum_buffer"},
    "torch.optim.Adagrad": {"accumulator": "sum"},
}
"""Each optimizer's reference slots and the ``state_dict()["state"][i]`` key holding them."""


def _state_keys(name):
    if name not in STATE_KEYS:
        raise NotImplementedError(f"reading and writing {name}'s native state is not in "
                                  f"yet; covered: {sorted(STATE_KEYS)}")
    return STATE_KEYS[name]


def read_state(name, kwargs, native, params, step=None):
    """The reference state of ``name(**kwargs)`` that the ``state_dict()`` ``native``
    holds, for ``params`` (one array or a dict tree: the optimizer's parameter list, in
    order). ``step``: the count where torch keeps none (SGD); else it must agree."""
    import torch

    import eps_ref
    keys = _state_keys(name)
    if not isinstance(native, dict) or not {"state", "param_groups"} <= set(native):
        raise ValueError(f"{name}: a native state is optimizer.state_dict(), a dict with "
                         f"'state' and 'param_groups', got {type(native).__name__}")
    leaves = param_leaves(params)
    indices = [i for g in native["param_groups"] for i in g["params"]]
    if len(indices) != len(leaves):
        raise ValueError(f"{name}: the state_dict holds {len(indices)} parameters, params "
                         f"{len(leaves)}")
    state = eps_ref.optimizer(name, **kwargs).init(params)
    steps = []
    for leaf, index, slots in zip(leaves, indices, state["slots"]):
        entry = native["state"].get(index, {})
        counted = float(entry["step"]) if "step" in entry else None
        if counted is not None and (counted != int(counted) or counted < 0):
            raise ValueError(f"{name}: state[{index}]['step'] = {counted} is not a count")
        steps.append(None if counted is None else int(counted))
        for ref_name in slots:
            value = entry.get(keys[ref_name])
            if value is None:
                if counted:
                    raise ValueError(f"{name}: the state of parameter {index} has no "
                                     f"{keys[ref_name]!r} ({ref_name}) after {int(counted)} "
                                     f"steps")
                continue
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != leaf.shape:
                raise ValueError(f"{name}: state[{index}][{keys[ref_name]!r}] must be a "
                                 f"tensor of shape {leaf.shape}, got "
                                 f"{tuple(getattr(value, 'shape', ())) or type(value).__name__}")
            slots[ref_name] = value.detach().cpu().numpy().astype(leaf.dtype, copy=True)
    recorded = [c for c in steps if c is not None]
    if not recorded:
        state["step"] = 0 if step is None else step
        return state
    count = max(recorded)
    if step is not None and step != count:
        raise ValueError(f"{name}: step={step}, and the state_dict counts {count}")
    if len(set(recorded)) > 1 or (None in steps and count):
        state["leaf_steps"] = [c or 0 for c in steps]
    state["step"] = count
    return state


def write_state(name, kwargs, state, params):
    """The ``state_dict()`` of a ``name(params, **kwargs)`` optimizer holding the reference
    ``state``: load it with ``optimizer.load_state_dict``."""
    import torch
    keys = _state_keys(name)
    leaves = param_leaves(params)
    tensors = [torch.nn.Parameter(torch.tensor(p)) for p in leaves]
    native = resolve(name)(tensors, **kwargs).state_dict()
    for i, slots in enumerate(state["slots"]):
        count = state.get("leaf_steps", [state["step"]] * len(leaves))[i]
        entry = {} if name == "torch.optim.SGD" else {
            "step": torch.tensor(float(count), dtype=torch.float32)}
        for ref_name, value in slots.items():
            entry[keys[ref_name]] = torch.tensor(np.array(value, copy=True))
        if count or slots:       # an optimizer that has not stepped keeps no entry
            native["state"][i] = entry
    return native


# -- native BatchNorm state (eps_ref.port.Plan.convert_state on a layer plan) ----------------

LAYER_STATE_KEYS = {"scale": "weight", "bias": "bias", "running_mean": "running_mean",
                    "running_var": "running_var", "num_batches_tracked": "num_batches_tracked"}
"""A BatchNorm reference state's entries and the module's ``state_dict()`` keys."""


def read_layer_state(name, kwargs, native, step=None):
    """The reference state of the ``name(**kwargs)`` module whose ``state_dict()`` is
    ``native``. ``step``, when given, must agree with ``num_batches_tracked``."""
    import torch
    template = resolve(name)(**kwargs).state_dict()
    if not isinstance(native, dict) or sorted(native) != sorted(template):
        got = sorted(native) if isinstance(native, dict) else type(native).__name__
        raise ValueError(f"{name}: a native state is module.state_dict(), keys "
                         f"{sorted(template)} for {kwargs}; got {got}")
    state = {}
    for ref, key in LAYER_STATE_KEYS.items():
        if key not in template:
            continue
        value = native[key]
        if not isinstance(value, torch.Tensor) or value.shape != template[key].shape:
            raise ValueError(f"{name}: state_dict[{key!r}] must be a tensor of shape "
                             f"{tuple(template[key].shape)}, got "
                             f"{tuple(getattr(value, 'shape', ())) or type(value).__name__}")
        state[ref] = (int(value) if ref == "num_batches_tracked"
                      else value.detach().cpu().numpy().astype(np.float32, copy=True))
    counted = state.get("num_batches_tracked")
    if step is not None and counted is not None and step != counted:
        raise ValueError(f"{name}: step={step}, and num_batches_tracked is {counted}")
    return state


def write_layer_state(name, kwargs, state):
    """The ``state_dict()`` of a ``name(**kwargs)`` module holding the reference ``state``:
    ``module.load_state_dict`` it."""
    import torch

    from eps_ref.state import with_channels
    channels = int(np.shape(state.get("running_mean", state.get("scale")))[0])
    native = resolve(name)(**with_channels(name, kwargs, channels)).state_dict()
    for ref, key in LAYER_STATE_KEYS.items():
        if key in native:
            native[key] = (torch.tensor(int(state[ref]), dtype=torch.long)
                           if ref == "num_batches_tracked"
                           else torch.tensor(np.array(state[ref], np.float32, copy=True)))
    return native

"""Adapter for ``torch.optim``: a leaf tensor, ``.grad`` set each step, ``opt.step()``."""

from __future__ import annotations

import numpy as np

from eps_ref.backends import resolve_attr

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
    """``clips``: ``[(name, keywords)]`` of ``torch.nn.utils`` clipping functions called on
    the parameter, in order, after ``.grad`` is set and before ``opt.step()``."""
    import torch
    param = torch.nn.Parameter(torch.tensor(param0, device=device))
    opt = resolve(name)([param], **kwargs)
    clip_fns = [(resolve(clip_name), clip_kwargs) for clip_name, clip_kwargs in clips]
    trajectory = [np.array(param0, copy=True)]
    for g in grads:
        param.grad = torch.tensor(g, device=device)
        for fn, clip_kwargs in clip_fns:
            fn([param], **clip_kwargs)
        opt.step()
        trajectory.append(param.detach().cpu().numpy().copy())
    return np.stack(trajectory)


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

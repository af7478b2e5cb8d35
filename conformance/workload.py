"""The real workload: a parameter tree of real layer sizes and the gradients of a real
training run, replayed through every optimizer in every framework.

The network is small but has the parts of a real one: a CNN (two 3x3 convolutions, each
with BatchNorm), a transformer block over the CNN's 4x4 feature map (LayerNorm, four-head
attention, RMSNorm, a 4x MLP) and an MLP head on both. It is trained in torch (Adam, lr
1e-3, one thread, fixed seeds) on generated 16x16 RGB images of ten classes, and the
gradient of every parameter is recorded at every step.

The replay feeds those gradients, in order, to each optimizer case from the same initial
parameters, as one parameter list of 26 tensors and 208,522 elements: 1-D biases and norm
weights of 10 to 256 elements (vectorized loops with scalar tails), 4-D convolution
kernels, matrices up to 256x576 (147,456 elements: past the sizes where torch splits a
sum over threads and TensorFlow shards one), so the frameworks' multi-tensor, fused and
large-size paths run as they do in training.

The gradients are recorded once per machine, in a torch subprocess, and cached
(``$EPS_REF_CACHE`` or ``~/.cache/eps_ref``); without torch the workload cases are skipped.

Beside it, the size sweep (:func:`size_sweep`): one parameter list whose leaves have the
lengths where vectorized loops, packets, reductions and thread splits change their path
(1, 7, 8, 15, 16, 17, 63-65, 4095-4097, 8193, 32769, and matrices of 17x65 and
129x257), fed the conformance streams (every regime: ordinary, far below eps, zeros,
spikes, sign flips), so that a new size-dependent kernel path cannot hide.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from eps_ref.backends import COMPILED_LABELS
from eps_ref.conformance.cases import Case, cases

__all__ = ["WORKLOAD_STEPS", "WorkloadUnavailable", "record", "size_sweep", "SWEEP_SHAPES",
           "workload_cases", "leaves_for", "run_workload_cases", "WORKLOAD_VARIANT_WORDS"]

WORKLOAD_STEPS = 20
"""Steps replayed per case: the size-dependent paths diverge within the first few (the
fused kernels' tails from step 2 on), and the suite runs every spec on every backend."""

WORKLOAD_VARIANT_WORDS = ("defaults", "fused", "foreach", "clipnorm", "global")
"""A variant runs on the workload when its name contains one of these: the defaults, and
the variants that take another kernel path over a parameter list (fused and foreach
kernels, Keras' per-variable and global clipping). Clip specs run every variant."""

_MATRICES_ONLY = ("torch.optim.Muon",)   # torch's Muon refuses parameters that are not 2-D


class WorkloadUnavailable(RuntimeError):
    """The workload cannot be recorded here (torch is missing or failed)."""


def _network(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, width=64, heads=4):
            super().__init__()
            self.ln = nn.LayerNorm(width)
            self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
            self.rms = nn.RMSNorm(width)
            self.mlp1 = nn.Linear(width, 4 * width)
            self.mlp2 = nn.Linear(4 * width, width)

        def forward(self, x):
            h = self.ln(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.mlp2(torch.nn.functional.gelu(self.mlp1(self.rms(x))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(16)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.bn2 = nn.BatchNorm2d(32)
            self.tokens = nn.Linear(32, 64)
            self.position = nn.Parameter(torch.zeros(16, 64))
            self.block = Block()
            self.head1 = nn.Linear(32 * 16 + 64, 256)
            self.head2 = nn.Linear(256, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
            x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)     # (N, 32, 4, 4)
            seq = self.tokens(x.flatten(2).transpose(1, 2)) + self.position  # (N, 16, 64)
            pooled = self.block(seq).mean(dim=1)
            return self.head2(torch.relu(self.head1(torch.cat([x.flatten(1), pooled], 1))))

    return Net()


def _images(steps: int, seed: int, batch: int = 32):
    """Ten classes of 16x16 RGB images: a class-dependent pattern plus noise."""
    rng = np.random.default_rng(seed)
    patterns = rng.standard_normal((10, 3, 16, 16)).astype(np.float32)
    labels = rng.integers(0, 10, (steps, batch))
    noise = rng.standard_normal((steps, batch, 3, 16, 16)).astype(np.float32)
    return patterns[labels] + 2.0 * noise, labels


def _record_in_torch(steps: int, seed: int, path: str) -> None:
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = _network(torch)
    names = [n for n, _ in net.named_parameters()]
    params0 = {n: p.detach().numpy().copy() for n, p in net.named_parameters()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    images, labels = _images(steps, seed)
    grads = {n: [] for n in names}
    for x, y in zip(images, labels):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)),
                                                 torch.from_numpy(y))
        loss.backward()
        for n, p in net.named_parameters():
            grads[n].append(p.grad.numpy().copy())
        opt.step()
    arrays = {f"param:{n}": params0[n] for n in names}
    arrays.update({f"grad:{n}": np.stack(grads[n]) for n in names})
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, names=np.array(names), **arrays)
    os.replace(tmp, path)


def _cache_dir() -> Path:
    root = os.environ.get("EPS_REF_CACHE") or Path.home() / ".cache" / "eps_ref"
    return Path(root)


def _torch_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def record(steps: int = WORKLOAD_STEPS, seed: int = 0) -> tuple[dict, dict]:
    """``(params0, grads)``: the network's initial parameters (dict name -> float32 array,
    in the network's order) and the recorded gradients (dict name -> ``(steps, *shape)``).
    Fewer than :data:`WORKLOAD_STEPS` steps are the first ``steps`` of the full recording,
    so the workload budgets, measured over the full run, bound a shorter one.
    Raises :class:`WorkloadUnavailable` when torch cannot record them."""
    torch_version = _torch_version()
    if torch_version is None:
        raise WorkloadUnavailable("the workload is recorded with torch, which is not installed")
    recorded = max(steps, WORKLOAD_STEPS)
    path = _cache_dir() / f"workload-torch{torch_version}-seed{seed}-steps{recorded}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        process = mp.get_context("spawn").Process(target=_record_in_torch,
                                                  args=(recorded, seed, str(path)))
        process.start()
        process.join()
        if process.exitcode != 0 or not path.exists():
            raise WorkloadUnavailable(f"recording the workload in torch failed (exit code "
                                      f"{process.exitcode})")
    with np.load(path) as data:
        names = [str(n) for n in data["names"]]
        return ({n: data[f"param:{n}"] for n in names},
                {n: data[f"grad:{n}"][:steps] for n in names})


SWEEP_SHAPES = tuple((n,) for n in (1, 7, 8, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 8193,
                                     32769)) + ((17, 65), (129, 257))
"""The leaves of the size sweep: the lengths past which a kernel takes another path."""


def size_sweep(steps: int = WORKLOAD_STEPS, seed: int = 0) -> tuple[dict, dict]:
    """``(params0, grads)`` of the size sweep: one leaf per :data:`SWEEP_SHAPES` entry,
    named by its shape (``"n4097"``, ``"m129x257"``), each with its own conformance stream
    (of at least :data:`WORKLOAD_STEPS` steps, cut to ``steps``: a prefix of the full run)."""
    from eps_ref.conformance.streams import gradient_stream, initial_params
    params0, grads = {}, {}
    for i, shape in enumerate(SWEEP_SHAPES):
        name = f"n{shape[0]}" if len(shape) == 1 else "m" + "x".join(map(str, shape))
        params0[name] = initial_params(seed + i, shape)
        grads[name] = gradient_stream(max(steps, WORKLOAD_STEPS), seed + i, shape)[:steps]
    return params0, grads


def leaves_for(spec: str, params0: dict, grads: dict) -> tuple[dict, dict]:
    """The part of the workload a spec runs on: every leaf, or the matrices only for an
    optimizer that refuses other parameters."""
    if spec not in _MATRICES_ONLY:
        return params0, grads
    keep = [k for k, v in params0.items() if v.ndim == 2]
    return {k: params0[k] for k in keep}, {k: grads[k] for k in keep}


def workload_cases(frameworks: list[str] | None = None) -> list[Case]:
    """The optimizer cases that run on the workload: every spec's defaults and its variants
    named by :data:`WORKLOAD_VARIANT_WORDS`, every clip variant, on every backend label,
    and again on each compiled label (:data:`eps_ref.backends.COMPILED_LABELS`: optax and
    Keras compiled as their users run them) that runs the case's eager label."""
    import eps_ref
    eager = [c for c in cases(frameworks)
             if eps_ref.spec(c.spec).kind == "clip"
             or any(word in c.variant for word in WORKLOAD_VARIANT_WORDS)]
    compiled = [replace(c, label=label) for label, eager_label in COMPILED_LABELS.items()
                for c in eager if c.label == eager_label]
    return eager + compiled


def run_workload_cases(case_list: list[Case], inputs: tuple[dict, dict], **run_kwargs):
    """Run ``case_list`` on a parameter tree ``inputs = (params0, grads)`` (the workload or
    the size sweep), each spec on the leaves :func:`leaves_for` gives it; ``run_kwargs`` go
    to :func:`eps_ref.conformance.runner.run_cases`. Returns ``(results, versions)``."""
    from eps_ref.conformance.runner import run_cases
    params0, grads = inputs
    groups: dict[tuple, list[Case]] = {}
    for case in case_list:
        key = tuple(leaves_for(case.spec, params0, grads)[0])
        groups.setdefault(key, []).append(case)
    results, versions = [], {}
    for key, group in groups.items():
        part = ({k: params0[k] for k in key}, {k: grads[k] for k in key})
        group_results, group_versions, _ = run_cases(group, inputs=part, **run_kwargs)
        results += group_results
        versions.update(group_versions)
    order = {c.id: i for i, c in enumerate(case_list)}
    results.sort(key=lambda r: order[r.case.id])
    return results, versions

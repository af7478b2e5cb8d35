"""Conformance of the normalization layers: the same batch stream through the reference and
the real layers, compared batch by batch in ULP; and the drift between frameworks for the
same nominal layer.

Each case (spec, variant, backend label) runs :data:`TRAIN_BATCHES` calls in training mode,
then one call in inference mode on a held-out batch. The stream mixes an ordinary batch, a
batch with a constant channel (and a constant sample: variance 0, only eps keeps the output
finite), a tiny-variance batch, a batch of one sample, and large-mean batches where
:math:`E[x^2] - E[x]^2` cancels. Batches are generated channels-last and transposed to
channels-first for the torch layers that take channels on axis 1.

A second case set runs each layer at real sizes (:data:`REAL_SIZES`: layer -> input shapes
in the layer's own layout), a short stream of four regimes (:func:`real_size_stream`), and
for the backends whose adapter sets the intra-op thread count per case
(:data:`THREAD_COUNTS`) once per thread count: the kernels that sum per thread round
differently on one thread and on two.

torch runs its default CPU dispatch: on an AVX-512 machine the normalization and sum kernels
are the AVX2 ones anyway (``REGISTER_DISPATCH`` registers none for AVX-512; see
:mod:`eps_ref.norms._torch_cpu`), and the torch adapter reports the capability it ran
(``versions()``).

Entry points: :func:`layer_cases`, :func:`real_size_cases`, :func:`run_layer_cases`,
:func:`layer_drift`, :func:`layer_markdown` (a report section with plots).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import eps_ref
from eps_ref.backends import BACKEND_LABELS, labels_for
from eps_ref.conformance.cases import Case, cases
from eps_ref.conformance.runner import TIMEOUT_S, run_in_workers
from eps_ref.layer import LayerBudget, layer
from eps_ref.norms.layer import _check as _feature_axes

__all__ = ["TRAIN_BATCHES", "LayerComparison", "LayerResult", "layer_cases", "layer_stream",
           "RealSize", "REAL_SIZES", "REAL_SIZE_REGIMES", "THREAD_COUNTS", "SizedCase",
           "real_size_cases", "real_size_stream", "case_inputs", "reference_run",
           "compare_runs", "run_layer_cases", "LAYER_DRIFT_GROUPS", "layer_drift",
           "layer_markdown"]

TRAIN_BATCHES = 8
# The environment of the workers that run torch: its default CPU dispatch (nothing forced;
# ATEN_CPU_CAPABILITY=avx2 runs the same normalization and sum kernels, measured bit for bit).
TORCH_CPU_ENV: dict[str, str] = {}
CHANNELS = 6
BATCH = 8

# Spatial shape (channels-last input is (N, *spatial, C)) and whether the layer takes
# channels on axis 1.
_SHAPES = {
    "torch.nn.BatchNorm1d": ((5,), True),
    "torch.nn.BatchNorm2d": ((4, 4), True),
    "torch.nn.BatchNorm3d": ((2, 3, 3), True),
    "torch.nn.GroupNorm": ((4, 4), True),
    "torch.nn.InstanceNorm1d": ((8,), True),
    "torch.nn.InstanceNorm2d": ((4, 4), True),
    "torch.nn.InstanceNorm3d": ((2, 3, 3), True),
    "torch.nn.LayerNorm": ((4,), False),
    "torch.nn.RMSNorm": ((4,), False),
    "keras.layers.BatchNormalization": ((4, 4), False),
    "keras.layers.LayerNormalization": ((4,), False),
    "keras.layers.GroupNormalization": ((4, 4), False),
    "keras.layers.RMSNormalization": ((4,), False),
    "flax.linen.BatchNorm": ((4, 4), False),
    "flax.linen.LayerNorm": ((4,), False),
    "flax.linen.GroupNorm": ((4, 4), False),
    "flax.linen.InstanceNorm": ((4, 4), False),
    "flax.linen.RMSNorm": ((4,), False),
}


def _channels_first(name: str) -> bool:
    return _SHAPES[name][1]


def _to_layout(x: np.ndarray, channels_first: bool) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if channels_first else x


def _from_layout(x: np.ndarray, channels_first: bool) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if channels_first else x


def layer_stream(spatial: tuple, seed: int = 0):
    """``(batches, eval_batch, params)`` in channels-last float32 (shape ``(N, *spatial, C)``):
    the training batches, the held-out inference batch, and a scale and bias per channel."""
    rng = np.random.default_rng(seed)
    c = CHANNELS

    def normal(n, loc=0.0, std=1.0):
        per_channel = 0.5 + rng.random(c)
        return (loc + std * per_channel * rng.standard_normal((n, *spatial, c))).astype(
            np.float32)

    constant = normal(BATCH, 0.5, 2.0)
    constant[..., 0] = 3.0           # a channel with variance 0
    constant[0] = -2.0               # a sample with variance 0
    batches = [
        normal(BATCH, 0.5, 2.0),     # ordinary
        constant,
        normal(BATCH, 1.0, 1e-4),    # tiny variance
        normal(BATCH, 1e4, 1.0),     # large mean: E[x^2] - E[x]^2 cancels
        normal(1, -3.0, 1.5),        # a batch of one sample
        normal(BATCH, 300.0, 0.1),   # large mean, small spread
        normal(BATCH, -1.0, 3.0),
        normal(BATCH, 0.0, 1.0),
    ]
    assert len(batches) == TRAIN_BATCHES
    eval_batch = normal(BATCH, 0.5, 2.0)
    params = {"scale": (1.0 + 0.5 * rng.standard_normal(c)).astype(np.float32),
              "bias": rng.standard_normal(c).astype(np.float32)}
    return batches, eval_batch, params


def _case_inputs(name: str, seed: int = 0):
    spatial, channels_first = _SHAPES[name]
    batches, eval_batch, params = layer_stream(spatial, seed)
    return ([_to_layout(b, channels_first) for b in batches],
            _to_layout(eval_batch, channels_first), params)


def layer_cases(frameworks: list[str] | None = None) -> list[Case]:
    """Every layer case: each layer spec's variants on each backend label of its framework
    (small inputs, :func:`layer_stream`), then the real-size cases
    (:func:`real_size_cases`)."""
    small = [c for c in cases(frameworks, kind="layer") if c.spec in _SHAPES]
    return small + real_size_cases(frameworks)


# -- real sizes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RealSize:
    """A real-size input of a layer: the spec's keywords, the input shape in the layer's own
    layout, and the axis of its channels (features), along which the stream varies the
    spread and holds one channel constant, and which sizes the scale and bias."""

    kwargs: dict
    shape: tuple[int, ...]
    channel_axis: int = 1


# layer -> real-size inputs; the Keras and Flax counterparts go here too (channels last).
REAL_SIZES: dict[str, tuple[RealSize, ...]] = {
    "torch.nn.BatchNorm1d": (RealSize({"num_features": 256}, (64, 256)),        # MLP
                             RealSize({"num_features": 64}, (32, 64, 50))),     # sequence
    "torch.nn.BatchNorm2d": (RealSize({"num_features": 64}, (32, 64, 16, 16)),),
    "torch.nn.LayerNorm": (RealSize({"normalized_shape": [768]}, (8, 128, 768), -1),),
    "torch.nn.GroupNorm": (RealSize({"num_groups": 32, "num_channels": 256},
                                    (8, 256, 8, 8)),),
    "torch.nn.RMSNorm": (RealSize({"normalized_shape": [768]}, (8, 128, 768), -1),),
    "torch.nn.InstanceNorm2d": (RealSize({"num_features": 64, "affine": True},
                                         (8, 64, 32, 32)),),
}

# The training calls of a real-size case, in order; then one inference call on a held-out
# ordinary batch.
REAL_SIZE_REGIMES = ("ordinary", "large mean", "tiny variance", "constant channel")

# backend label -> the intra-op thread counts its real-size cases run at; the label's
# adapter takes the count as the last argument of ``run_layer``. Other labels run one case
# at the worker's own setting, the reference at 1 thread.
THREAD_COUNTS: dict[str, tuple[int, ...]] = {"torch": (1, 2)}


@dataclass(frozen=True)
class SizedCase(Case):
    """A real-size layer case: :class:`RealSize` input, run at ``threads`` (``None``: the
    worker's own thread count, not passed to the adapter)."""

    shape: tuple[int, ...] = ()
    channel_axis: int = 1
    threads: int | None = None


def real_size_cases(frameworks: list[str] | None = None) -> list[SizedCase]:
    """Each :data:`REAL_SIZES` input on each backend label of its layer's framework, once
    per thread count of :data:`THREAD_COUNTS`."""
    known = set(eps_ref.specs(kind="layer"))
    out = []
    for name, sizes in REAL_SIZES.items():
        if name not in known:
            continue
        framework = eps_ref.spec(name).framework
        if frameworks and framework not in frameworks:
            continue
        for label in labels_for(framework):
            for size in sizes:
                for threads in THREAD_COUNTS.get(label, (None,)):
                    shape = "x".join(map(str, size.shape))
                    variant = f"real size {shape}" + (
                        "" if threads is None else f", {threads} thread"
                        + ("s" if threads > 1 else ""))
                    out.append(SizedCase(name, variant, label, dict(size.kwargs),
                                         shape=tuple(size.shape),
                                         channel_axis=size.channel_axis, threads=threads))
    return out


def real_size_stream(shape: tuple[int, ...], channel_axis: int = 1, seed: int = 0):
    """``(batches, eval_batch, params)`` float32 of ``shape``: one training batch per
    :data:`REAL_SIZE_REGIMES` -- ordinary (mean 0.5, spread 2), large mean (1e4, spread 0.1:
    :math:`E[x^2] - E[x]^2` cancels, float32 sums lose the spread), tiny variance (1,
    spread 1e-4), constant channel (channel 0 is 3 everywhere and sample 0 is -2
    everywhere: variance 0, only eps keeps the output finite) -- each channel's spread
    scaled by a factor in [0.5, 1.5); a held-out ordinary batch; a scale and bias per
    channel."""
    rng = np.random.default_rng(seed)
    axis = channel_axis % len(shape)
    c = shape[axis]
    per_channel_shape = tuple(c if a == axis else 1 for a in range(len(shape)))

    def normal(loc, std):
        spread = (0.5 + rng.random(c)).reshape(per_channel_shape)
        return (loc + std * spread * rng.standard_normal(shape)).astype(np.float32)

    constant = normal(0.5, 2.0)
    constant[(slice(None),) * axis + (0,)] = 3.0
    constant[0] = -2.0
    batches = [normal(0.5, 2.0), normal(1e4, 0.1), normal(1.0, 1e-4), constant]
    assert len(batches) == len(REAL_SIZE_REGIMES)
    eval_batch = normal(0.5, 2.0)
    params = {"scale": (1.0 + 0.5 * rng.standard_normal(c)).astype(np.float32),
              "bias": rng.standard_normal(c).astype(np.float32)}
    return batches, eval_batch, params


def case_inputs(case: Case, seed: int = 0):
    """``(batches, eval_batch, params)`` of a layer case, in the layer's own layout."""
    if isinstance(case, SizedCase):
        return real_size_stream(case.shape, case.channel_axis, seed)
    return _case_inputs(case.spec, seed)


def reference_run(name: str, kwargs: dict, batches, eval_batch, params, backend=None,
                  threads: int = 1) -> dict:
    """The oracle on the same stream; same layout of result as the adapters' ``run_layer``.
    A batch whose variance is NaN or infinite is part of the stream (the comparisons count
    it), so NumPy's warnings about it are silenced rather than printed."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _reference_run(name, kwargs, batches, eval_batch, params, backend, threads)


def _reference_run(name, kwargs, batches, eval_batch, params, backend, threads):
    lay = layer(name, backend=backend, threads=threads, **kwargs)
    state = lay.init(batches[0])
    for key, value in params.items():
        if key in state:
            state[key] = np.asarray(value).reshape(state[key].shape)
    out = {"outputs": [], "running_mean": [], "running_var": [], "units": []}
    for x in batches:
        y, state = lay.apply(x, state, training=True)
        out["outputs"].append(np.asarray(y))
        out["units"].append(output_unit(lay, x, np.asarray(y), state, training=True))
        out["running_mean"].append(state.get("running_mean"))
        out["running_var"].append(state.get("running_var"))
    y, _ = lay.apply(eval_batch, state, training=False)
    out["outputs"].append(np.asarray(y))
    out["units"].append(output_unit(lay, eval_batch, np.asarray(y), state, training=False))
    return out


def _grouped(lay, x):
    """``(view of x, reduced axes of the view)``: the normalization groups of the layer."""
    kw, rule = lay.rule_kwargs, lay.spec.rule.name
    if rule == "batch_norm":
        axis = kw["axis"] % x.ndim
        return x, tuple(a for a in range(x.ndim) if a != axis)
    if rule == "group_norm":
        axis = kw["channel_axis"] % x.ndim
        c, g = x.shape[axis], kw["groups"]
        xg = x.reshape(x.shape[:axis] + (g, c // g) + x.shape[axis + 1:])
        return xg, tuple(a for a in range(1, xg.ndim) if a != axis)
    _, reduce_axes = _feature_axes(
        x, feature_axes=kw.get("feature_axes", (-1,)), reduce_axes=kw.get("reduce_axes", (-1,)),
        trailing_shape=kw.get("trailing_shape"), input_ndims=None, min_ndim=1,
        name=lay.spec.name)
    return x, reduce_axes


def output_unit(lay, x, y, state, *, training: bool) -> np.ndarray:
    """The scale-aware unit of each output element (:class:`eps_ref.layer.LayerBudget`):
    ``ulp(max_g |y|) + ulp(max_g |x|) * max|gamma| / sqrt(var_g + eps)`` over the element's
    normalization group ``g``; float64, shaped like ``x``."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    kw = lay.rule_kwargs
    eps = kw.get("eps")
    eps = float(np.finfo(np.float32).eps) if eps is None else float(eps)
    gamma = float(np.max(np.abs(state["scale"]))) if "scale" in state else 1.0
    xg, axes = _grouped(lay, x)
    yg = y.reshape(xg.shape)
    x64 = xg.astype(np.float64)
    if not training and "running_var" in state:
        axis = kw["axis"] % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        var = np.asarray(state["running_var"], np.float64).reshape(shape)
    elif kw.get("use_mean", True):
        var = np.var(x64, axis=axes, keepdims=True)
    else:
        var = np.mean(x64 * x64, axis=axes, keepdims=True)
    with np.errstate(invalid="ignore"):
        ymax = np.nanmax(np.abs(yg), axis=axes, keepdims=True) if np.isfinite(yg).any() \
            else np.zeros_like(var)
    ymax = np.nan_to_num(ymax, nan=0.0, posinf=np.finfo(np.float32).max)
    xmax = np.max(np.abs(xg), axis=axes, keepdims=True)
    unit = (np.spacing(ymax.astype(np.float32)).astype(np.float64)
            + np.spacing(xmax).astype(np.float64) * gamma / np.sqrt(var + eps))
    return np.broadcast_to(unit, xg.shape).reshape(x.shape)


def scaled_error(y_ref, y_got, unit) -> float:
    """Max over elements of ``|y_got - y_ref| / unit``; ``inf`` where exactly one side is
    NaN (never within a budget), 0 where both are."""
    r, g = np.asarray(y_ref, np.float64), np.asarray(y_got, np.float64)
    if not r.size:
        return 0.0
    nan_r, nan_g = np.isnan(r), np.isnan(g)
    if np.any(nan_r != nan_g):
        return float("inf")
    with np.errstate(invalid="ignore"):
        e = np.where(nan_r | (r == g), 0.0, np.abs(g - r) / unit)
    return float(np.max(e))


@dataclass
class LayerComparison:
    """Per-call agreement: index ``k < TRAIN_BATCHES`` is training call ``k``, the last one
    the inference call. ``ulp_per_step`` is the max over outputs and running statistics."""

    output_ulp: np.ndarray
    output_units: np.ndarray
    running_mean_ulp: np.ndarray | None
    running_var_ulp: np.ndarray | None
    ulp_per_step: np.ndarray
    first_divergent_step: int | None
    max_ulp: int
    max_abs: float
    max_rel: float

    def summary(self) -> dict:
        def mx(a):
            return None if a is None else int(a.max())
        return {"max_ulp": self.max_ulp, "first_divergent_step": self.first_divergent_step,
                "max_abs": self.max_abs, "max_rel": self.max_rel,
                "max_ulp_output": int(self.output_ulp.max()),
                "max_units_output": float(self.output_units.max()),
                "max_ulp_running_mean": mx(self.running_mean_ulp),
                "max_ulp_running_var": mx(self.running_var_ulp)}


def _per_call_ulp(a_list, b_list):
    return np.array([int(eps_ref.ulp_distance(np.asarray(a), np.asarray(b)).max())
                     if np.asarray(a).size else 0 for a, b in zip(a_list, b_list)],
                    dtype=np.int64)


def compare_runs(ref: dict, got: dict) -> LayerComparison:
    """ULP per call of outputs and running statistics (reference vs framework)."""
    if len(ref["outputs"]) != len(got["outputs"]):
        raise ValueError("the runs have different numbers of calls")
    for r, g in zip(ref["outputs"], got["outputs"]):
        if np.shape(r) != np.shape(g):
            raise ValueError(f"output shapes differ: {np.shape(r)} vs {np.shape(g)}")
    out = _per_call_ulp(ref["outputs"], got["outputs"])
    units = ref.get("units") or [np.ones(np.shape(r)) for r in ref["outputs"]]
    scaled = np.array([scaled_error(r, g, u) for r, g, u in
                       zip(ref["outputs"], got["outputs"], units)])
    stats = {}
    for key in ("running_mean", "running_var"):
        r, g = ref[key], got[key]
        if any(v is None for v in r) or any(v is None for v in g):
            if any(v is not None for v in r) or any(v is not None for v in g):
                raise ValueError(f"{key}: tracked by only one side")
            stats[key] = None
        else:
            stats[key] = np.append(_per_call_ulp(r, g), 0)
    total = out.copy()
    for v in stats.values():
        if v is not None:
            total = np.maximum(total, v)
    diverged = np.flatnonzero(total > 0)
    abs_err, rel_err = [], []
    for r, g in zip(ref["outputs"], got["outputs"]):
        r64, g64 = np.asarray(r, np.float64), np.asarray(g, np.float64)
        with np.errstate(invalid="ignore"):
            e = np.abs(r64 - g64)
            abs_err.append(np.nanmax(e) if e.size else 0.0)
            rel_err.append(np.nanmax(e / np.maximum(np.abs(r64), np.finfo(np.float32).tiny))
                           if e.size else 0.0)
    return LayerComparison(out, scaled, stats["running_mean"], stats["running_var"], total,
                           int(diverged[0]) if len(diverged) else None, int(total.max()),
                           float(max(abs_err)), float(max(rel_err)))


def judge_layer(case: Case, c: LayerComparison) -> tuple[str, str]:
    """Status of a layer case: 0 raw ULP everywhere is exact; otherwise the outputs must be
    within the budget's scale-aware units and the running statistics within its plain ULP
    (:class:`eps_ref.layer.LayerBudget`); NaN against a number always fails."""
    budget = case.budget
    running = [v for v in (c.running_mean_ulp, c.running_var_ulp) if v is not None]
    stat_ulp = int(max((int(v.max()) for v in running), default=0))
    out_units = float(c.output_units.max())
    measured = (f"output {int(c.output_ulp.max())} ULP = {out_units:.3g} units, running "
                f"statistics {stat_ulp} ULP")
    if c.max_ulp == 0 and np.all(c.output_units == 0):
        if budget is not None:
            return "stale budget", "budget declared but measured 0: remove it"
        return "exact", ""
    if budget is None:
        return "over budget", f"{measured} (first divergent call {c.first_divergent_step}); " \
                              "no budget declared"
    if not isinstance(budget, LayerBudget):
        return "over budget", "a layer budget must be a LayerBudget (output units, ULP)"
    if out_units <= budget.output and stat_ulp <= budget.ulp:
        return "within budget", (f"{measured} <= {budget.output} units, {budget.ulp} ULP: "
                                 f"{budget.reason}")
    return "over budget", (f"{measured} > budget {budget.output} units, {budget.ulp} ULP "
                           f"(first divergent call {c.first_divergent_step})")


@dataclass
class LayerResult:
    case: Case
    status: str          # exact | within budget | over budget | stale budget | error | skipped
    message: str = ""
    comparison: LayerComparison | None = None
    seconds: float = 0.0
    run: dict | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.status in ("exact", "within budget")


def run_layer_cases(case_list: list[Case], seed: int = 0, device: str = "cpu",
                    jobs: int | None = None, timeout: float = TIMEOUT_S,
                    progress: Callable[[str], None] | None = print, backends=None):
    """Run every layer case; return ``(results, versions by label)``. Each backend label
    runs in its own worker process (:func:`eps_ref.conformance.runner.run_in_workers`),
    torch's in :data:`TORCH_CPU_ENV`. The labels of :data:`THREAD_COUNTS` get every case's
    thread count (1 for the small cases) as the last argument of ``run_layer``."""
    backends = BACKEND_LABELS if backends is None else backends
    backends = {label: (module, {**env, **TORCH_CPU_ENV}) if label in ("torch", "keras/torch")
                else (module, env) for label, (module, env) in backends.items()}

    def run_one(worker, case: Case) -> LayerResult:
        batches, eval_batch, params = case_inputs(case, seed)
        threads = getattr(case, "threads", None)
        if threads is None and case.label in THREAD_COUNTS:
            threads = 1
        ref = reference_run(case.spec, dict(case.kwargs), batches, eval_batch, params,
                            backend=case.backend, threads=threads or 1)
        args = (case.spec, dict(case.kwargs), batches, eval_batch, params, device)
        kind, payload = worker.run(
            ("run_layer", args + ((threads,) if case.label in THREAD_COUNTS else ())), timeout)
        if kind == "error":
            return LayerResult(case, "error", payload)
        comparison = compare_runs(ref, payload)
        status, message = judge_layer(case, comparison)
        return LayerResult(case, status, message, comparison, payload)

    return run_in_workers(case_list, run_one, LayerResult, jobs=jobs, progress=progress,
                          backends=backends)


# -- drift between frameworks ----------------------------------------------------------

LAYER_DRIFT_GROUPS: dict[str, dict[str, dict]] = {
    "BatchNorm at each framework's defaults": {
        "torch.nn.BatchNorm2d": {"num_features": CHANNELS},
        "keras.layers.BatchNormalization": {},
        "flax.linen.BatchNorm": {},
    },
    "BatchNorm, same nominal eps 1e-5, torch momentum 0.01 = Keras/Flax 0.99": {
        "torch.nn.BatchNorm2d": {"num_features": CHANNELS, "momentum": 0.01},
        "keras.layers.BatchNormalization": {"epsilon": 1e-5},
        "flax.linen.BatchNorm": {"use_fast_variance": False},
    },
    "LayerNorm at each framework's defaults": {
        "torch.nn.LayerNorm": {"normalized_shape": [CHANNELS]},
        "keras.layers.LayerNormalization": {},
        "flax.linen.LayerNorm": {},
    },
    "RMSNorm at each framework's defaults": {
        "torch.nn.RMSNorm": {"normalized_shape": [CHANNELS]},
        "keras.layers.RMSNormalization": {},
        "flax.linen.RMSNorm": {},
    },
}


def layer_drift(seed: int = 0) -> list[dict]:
    """For each group, the oracle of each member on the same channels-last stream (each in
    its own layout), and per call the max |difference| from the first member of outputs,
    running mean and running variance."""
    groups = []
    known = set(eps_ref.specs(kind="layer"))
    for title, members in LAYER_DRIFT_GROUPS.items():
        if not set(members) <= known:
            continue
        spatial = _SHAPES[next(iter(members))][0]
        batches, eval_batch, params = layer_stream(spatial, seed)
        runs = {}
        for name, kw in members.items():
            cf = _channels_first(name)
            run = reference_run(name, kw, [_to_layout(b, cf) for b in batches],
                                _to_layout(eval_batch, cf), params)
            run["outputs"] = [_from_layout(y, cf) for y in run["outputs"]]
            runs[name] = run
        base_name, base = next(iter(runs.items()))
        rows = []
        for name, run in runs.items():
            row = {"spec": name, "kwargs": members[name]}
            for key in ("outputs", "running_mean", "running_var"):
                if base[key][0] is None or run[key][0] is None:
                    row[key] = None
                    continue
                row[key] = np.array([float(np.max(np.abs(np.asarray(a, np.float64)
                                                         - np.asarray(b, np.float64))))
                                     for a, b in zip(run[key], base[key])])
            rows.append(row)
        groups.append({"title": title, "baseline": base_name, "members": rows})
    return groups


def _plot_drift(group: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, key in zip(axes, ("outputs", "running_mean", "running_var")):
        for row in group["members"][1:]:
            if row[key] is not None:
                ax.plot(np.maximum(row[key], 1e-12), marker="o", label=row["spec"], lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("call (last output: inference)" if key == "outputs" else "training call")
        ax.set_title(f"max |{key} - {group['baseline']}|", fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(group["title"], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def layer_markdown(results: list[LayerResult], out_dir, seed: int = 0) -> str:
    """The report section for layers (Markdown); writes its plots under ``out_dir/plots``."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    lines = ["## Normalization layers: reference vs framework", "",
             f"{TRAIN_BATCHES} training calls (real-size cases: one per regime, "
             f"{', '.join(REAL_SIZE_REGIMES)}) then one inference call per case; ULP of the "
             "outputs and of the running statistics, per call.", "",
             "| spec | variant | backend | status | max ULP output | max ULP running mean | "
             "max ULP running var | first divergent call | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r.comparison.summary() if r.comparison else {}
        note = (r.message.splitlines()[0] if r.message else "").replace("|", "/")
        lines.append(f"| `{r.case.spec}` | {r.case.variant} | {r.case.label} | {r.status} | "
                     f"{_fmt(s.get('max_ulp_output'))} | {_fmt(s.get('max_ulp_running_mean'))} "
                     f"| {_fmt(s.get('max_ulp_running_var'))} | "
                     f"{_fmt(s.get('first_divergent_step'))} | {note[:160]} |")
    lines += ["", "## Normalization layers: drift between frameworks", "",
              "The oracle of each framework (proven above) on the same batches; per call, the "
              "largest absolute difference from the first member.", ""]
    try:
        import matplotlib  # noqa: F401
        have_plots = True
    except ImportError:
        have_plots = False
    for g in layer_drift(seed):
        lines += [f"### {g['title']}", "",
                  "| spec | keywords | max abs diff output | final running mean diff | "
                  "final running var diff |", "|---|---|---|---|---|"]
        for m in g["members"]:
            def last(v):
                return None if v is None else float(v[-1])
            lines.append(f"| `{m['spec']}` | `{m['kwargs']}` | "
                         f"{_fmt(float(m['outputs'].max()))} | {_fmt(last(m['running_mean']))}"
                         f" | {_fmt(last(m['running_var']))} |")
        if have_plots:
            slug = "".join(ch if ch.isalnum() else "_" for ch in g["title"]).lower()[:60]
            path = f"plots/layer_drift_{slug}.png"
            _plot_drift(g, out / path)
            lines += ["", f"![{g['title']}]({path})"]
        lines.append("")
    return "\n".join(lines) + "\n"

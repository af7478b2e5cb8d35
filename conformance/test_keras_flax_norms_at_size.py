"""Keras 3 and Flax normalization layers at real sizes against the real frameworks.

The 4x16 layer suite (``conformance/test_layers.py``) runs every spec and variant on small
batches, where XLA and Eigen take their small-input paths. Here the layers run at the sizes
models use -- BatchNorm on (64, 256), (32, 50, 64) (torch's (32, 64, 50) channels-last) and
(32, 16, 16, 64); LayerNorm(768) on (8, 128, 768); GroupNorm(32 groups, 256 channels) on
(8, 16, 16, 256); RMSNorm(768); Flax's InstanceNorm on (8, 16, 16, 64) -- on ordinary,
large-mean (1e4 + N(0, 0.1)), tiny-variance and constant-channel data, one training call
then one inference call, and along a sweep of the reduced axes' length (1 to 10^5
elements), where XLA switches from its loop emitter to YNNPACK at 4096 elements, YNNPACK
to partial reductions past 256 rows, and Eigen to its tree past 8192 elements.

Each backend label runs in its own process (Keras fixes its backend at import), pinned to
one CPU with one intra-op thread: XLA:CPU and YNNPACK split reductions between threads
and the sums change with the thread count. Labels: ``flax`` (eager), ``flax/jit`` (each
call under ``jax.jit``), ``keras/tensorflow``, ``keras/tensorflow-function`` (each call in
a ``tf.function``), ``keras/jax``, ``keras/jax-jit`` (``jax.jit`` of ``stateless_call``),
``keras/torch`` (ATen's AVX2 kernels, as the layer suite runs them).

Every case is bit for bit (0 ULP on outputs and running statistics) unless
:func:`not_reproduced` names it with the reason and a bound over the measured error
(scale-aware units for outputs, ULP for running statistics, as
:class:`eps_ref.layer.LayerBudget`); a structural exception that comes out exact fails too,
so the list cannot rot. The compiled labels are bounds only (the reference is eager). The shapes are
:data:`REAL_SIZE_SHAPES` and :data:`SWEEP_SIZES`, in the form of the layer suite's tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from eps_ref.conformance.tier import full_or_ci

pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

TIMEOUT_S = 1800

# spec -> (keyword arguments, channels-last input shapes)
REAL_SIZE_SHAPES = {
    "keras.layers.BatchNormalization": ({}, [(64, 256), (32, 50, 64), (32, 16, 16, 64)]),
    "keras.layers.LayerNormalization": ({}, [(8, 128, 768)]),
    "keras.layers.GroupNormalization": ({"groups": 32}, [(8, 16, 16, 256)]),
    "keras.layers.RMSNormalization": ({}, [(8, 128, 768)]),
    "flax.linen.BatchNorm": ({}, [(64, 256), (32, 50, 64), (32, 16, 16, 64)]),
    "flax.linen.LayerNorm": ({}, [(8, 128, 768)]),
    "flax.linen.GroupNorm": ({"num_groups": 32}, [(8, 16, 16, 256)]),
    "flax.linen.RMSNorm": ({}, [(8, 128, 768)]),
    "flax.linen.InstanceNorm": ({}, [(8, 16, 16, 64)]),
}
DATA_KINDS = full_or_ci(("ordinary", "large_mean", "tiny_variance", "constant_channel"),
                        ("ordinary", "large_mean"))

SWEEP_SIZES = full_or_ci((1, 7, 8, 15, 16, 17, 33, 63, 64, 65, 4095, 4096, 4097, 100_000),
                         (1, 17, 64, 4095, 4097))
"""Lengths of the reduced axes: rows of a batch norm's (n, 6) batch, features of a layer or
RMS norm's (4, n) batch, positions of a group norm's (2, n, 4) batch (2 groups of 2)."""
# spec -> (keyword arguments, shape for a reduced length n)
SWEEP_SHAPES = {
    "keras.layers.BatchNormalization": ({}, lambda n: (n, 6)),
    "keras.layers.LayerNormalization": ({}, lambda n: (4, n)),
    "keras.layers.GroupNormalization": ({"groups": 2}, lambda n: (2, n, 4)),
    "keras.layers.RMSNormalization": ({}, lambda n: (4, n)),
    "flax.linen.BatchNorm": ({}, lambda n: (n, 6)),
    "flax.linen.LayerNorm": ({}, lambda n: (4, n)),
    "flax.linen.GroupNorm": ({"num_groups": 2}, lambda n: (2, n, 4)),
    "flax.linen.RMSNorm": ({}, lambda n: (4, n)),
}
SWEEP_KINDS = ("ordinary", "large_mean")

# label -> (framework, environment of the worker, the reference's backend= value)
LABELS = {
    "flax": ("flax", {}, None),
    "flax/jit": ("flax", {"EPS_REF_FLAX_MODE": "jit"}, None),
    "keras/tensorflow": ("keras", {"KERAS_BACKEND": "tensorflow"}, "tensorflow"),
    "keras/tensorflow-function": ("keras", {"KERAS_BACKEND": "tensorflow",
                                            "EPS_REF_KERAS_LAYER_MODE": "compiled"},
                                  "tensorflow-function"),
    "keras/jax": ("keras", {"KERAS_BACKEND": "jax"}, "jax"),
    "keras/jax-jit": ("keras", {"KERAS_BACKEND": "jax", "EPS_REF_KERAS_LAYER_MODE": "compiled"},
                      "jax"),
    "keras/torch": ("keras", {"KERAS_BACKEND": "torch", "ATEN_CPU_CAPABILITY": "avx2"},
                    "torch"),
}
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _cases():
    """``[(case id, spec, kwargs, shape, data kind)]``, the same for every label of the
    spec's framework."""
    out = []
    for spec, (kw, shapes) in REAL_SIZE_SHAPES.items():
        for shape in shapes:
            for kind in DATA_KINDS:
                out.append((f"{spec}{list(shape)}:{kind}", spec, kw, shape, kind))
    for spec, (kw, shape_of) in SWEEP_SHAPES.items():
        for n in SWEEP_SIZES:
            for kind in SWEEP_KINDS:
                out.append((f"{spec}{list(shape_of(n))}:{kind}", spec, kw, shape_of(n), kind))
    return out


CASES = _cases()


def _data(shape, kind, rng):
    if kind == "ordinary":
        x = 0.5 + 2.0 * rng.standard_normal(shape)
    elif kind == "large_mean":
        x = 1e4 + 0.1 * rng.standard_normal(shape)
    elif kind == "tiny_variance":
        x = 1.0 + 1e-4 * rng.standard_normal(shape)
    else:
        x = 0.5 + 2.0 * rng.standard_normal(shape)
        x[..., 0] = 3.0
    return x.astype(np.float32)


def _inputs(case_id, shape, kind):
    """``(training batch, inference batch, scale and bias)`` of a case, from its id."""
    seed = sum(map(ord, case_id)) % (2 ** 31)
    rng = np.random.default_rng(seed)
    c = shape[-1]
    params = {"scale": (1.0 + 0.5 * rng.standard_normal(c)).astype(np.float32),
              "bias": rng.standard_normal(c).astype(np.float32)}
    return _data(shape, kind, rng), _data(shape, kind, rng), params


# -- what is not reproduced -----------------------------------------------------------------

def _rows(shape):
    return int(np.prod(shape[:-1]))


_YNN_PARTIALS = ("YNNPACK sums a batch norm's columns over more than 511 rows in partial "
                 "reductions of 256 rows that it combines with a product-with-ones kernel "
                 "splitting each partial into three bfloat16 pieces; the reference adds the "
                 "partials in order, within an ULP of the batch mean and variance "
                 "(eps_ref.norms._xla_cpu)")
_FAST = ("; Flax's fast variance turns that ULP of E[x^2] into another variance on the "
         "cancelling batches (large mean, tiny variance)")
_LOOP = ("under 4096 elements XLA's own loop sums the group norm's non-adjacent reduced axes, "
         "and at these lengths LLVM vectorizes it with reassociating adds")
_JAX_FUSED = ("jnp.var fuses (x - mean)^2 into its reduce: under 4096 elements LLVM vectorizes "
              "XLA's loop with reassociating adds, and YNNPACK's fused pipeline sums the group "
              "norm's non-contiguous axes and rows of 10^5 elements in tiles the reference "
              "does not follow")
_TORCH_WELFORD = ("torch's layer norm (RowwiseMoments) over more than 128 elements merges "
                  "Welford chunks on a stack, not reproduced by eps_ref.norms._torch_cpu "
                  "(the torch layers' module)")
_JIT = ("compiled, XLA fuses the statistics and the affine map (sums of squares fused into "
        "vectorized reductions, y = fma(x - mean, scale*rsqrt, bias), rsqrt inside the "
        "fused loop, Flax's momentum folded into 1/n): not reproduced, the reference is the "
        "eager computation; some cases still come out exact")
_FLAX_LOOP_GROUP_NORM = {8, 16, 17, 63, 64}
"""Positions n of the (2, n, 4) Flax group-norm sweep where XLA's loop is vectorized."""


def not_reproduced(label, spec, shape, kind):
    """``(output units, running-statistics ULP, reason, strict)`` bounding a case the
    reference does not reproduce, or ``None`` for a bit-exact case; ``strict``: the case
    must not be exact either (a stale entry fails)."""
    name = spec.rsplit(".", 1)[1]
    size = int(np.prod(shape))
    cancels = kind in ("large_mean", "tiny_variance")
    batch_norm = name in ("BatchNorm", "BatchNormalization")
    if label == "flax/jit":
        return (1e6, 4e6, _JIT + _FAST, False) if cancels and name != "RMSNorm" \
            else (2.0, 8, _JIT, False)
    if label == "keras/jax-jit":
        return (48.0, 8, _JIT, False)
    if label in ("flax", "keras/jax") and batch_norm and _rows(shape) >= 512:
        if label == "flax" and cancels:
            return (1e6, 4e6, _YNN_PARTIALS + _FAST, True)
        return (2.0, 8, _YNN_PARTIALS, True)
    if label == "flax" and name == "GroupNorm" and size < 4096 and \
            shape[1] in _FLAX_LOOP_GROUP_NORM:
        return (5e4, 0, _LOOP + (_FAST if cancels else ""), True)
    if label == "keras/jax" and (name == "GroupNormalization" or size < 4096 and
                                 name in ("BatchNormalization", "LayerNormalization")
                                 or name == "LayerNormalization" and shape[-1] >= 10 ** 5):
        return (48.0, 0, _JAX_FUSED, False)
    if label == "keras/torch" and name == "LayerNormalization" and shape[-1] > 128:
        return (2.0, 0, _TORCH_WELFORD, False)
    return None


# Raw reductions: (shape, reduced axes) summed by jnp.sum (one XLA:CPU reduce) and by
# tf.reduce_sum, against eps_ref.norms._xla_cpu and _eigen_cpu. Not reproduced for jnp.sum:
# YNNPACK's combine of two or more 256-row partials, and windows of 32 x 32 (two reduced
# axes longer than 32 under 4096 elements), which LLVM vectorizes.
REDUCTION_SHAPES = [
    ((8, 4, 4, 6), (0, 1, 2)), ((33, 6), (0,)), ((100, 7), (0,)), ((7, 100), (1,)),
    ((3, 40, 6), (0, 1)), ((63, 63), (0, 1)), ((2, 2000), (1,)), ((4095,), (0,)),
    ((64, 256), (0,)), ((256, 16), (0,)), ((511, 64), (0,)), ((8, 128, 768), (2,)),
    ((3, 100_003), (1,)), ((8, 16, 16, 32, 8), (1, 2, 4)), ((8, 16, 16, 64), (1, 2)),
    ((16, 3, 2), (0, 2)), ((4, 8193), (1,)), ((100_000, 6), (0,)), ((1600, 64), (0,)),
]
JAX_NOT_REPRODUCED = {((100_000, 6), (0,)), ((1600, 64), (0,)), ((63, 63), (0, 1))}


def _reduction_checks(framework):
    """``{"shape/axes": mismatching outputs}`` of the raw sums on one framework."""
    rng = np.random.default_rng(0)
    out = {}
    for shape, axes in REDUCTION_SHAPES:
        x = (0.5 + 2.0 * rng.standard_normal(shape)).astype(np.float32)
        if framework == "flax":
            import jax
            import jax.numpy as jnp

            from eps_ref.norms._xla_cpu import reduce_sum
            got = np.asarray(jax.jit(lambda a: jnp.sum(a, axis=axes, keepdims=True))(x))
        else:
            import tensorflow as tf

            from eps_ref.norms._eigen_cpu import reduce_sum
            got = tf.reduce_sum(x, axis=axes, keepdims=True).numpy()
        ref = np.asarray(reduce_sum(x, axes))
        out[f"{shape}/{axes}"] = int(np.sum(got.view(np.uint32) != ref.view(np.uint32)))
    return out


# -- the workers ------------------------------------------------------------------------------

def _worker(label, out_path):
    """Run every case of ``label`` on the real framework and the reference; write
    ``{case id: summary}`` as JSON."""
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[int(os.environ.get("EPS_REF_CPU_SLOT", "0")) % len(cpus)]})
    import warnings
    warnings.filterwarnings("ignore")
    from eps_ref.backends import adapter
    from eps_ref.conformance.layers import compare_runs, reference_run
    framework, _, backend = LABELS[label]
    module = adapter("flax" if framework == "flax" else f"keras/{os.environ['KERAS_BACKEND']}")
    results = {}
    for case_id, spec, kw, shape, kind in CASES:
        if not spec.startswith(framework):
            continue
        x, x_eval, params = _inputs(case_id, shape, kind)
        try:
            got = module.run_layer(spec, dict(kw), [x], x_eval, params)
            ref = reference_run(spec, dict(kw), [x], x_eval, params, backend=backend)
            results[case_id] = compare_runs(ref, got).summary()
        except Exception as e:               # noqa: BLE001 - reported per case
            results[case_id] = {"error": f"{type(e).__name__}: {e}"[:500]}
    if label in ("flax", "keras/tensorflow"):
        results["reductions"] = _reduction_checks(framework)
    Path(out_path).write_text(json.dumps(results))


def _available(label):
    framework, env, _ = LABELS[label]
    probe = "import flax, jax" if framework == "flax" else "import keras"
    r = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env},
                       capture_output=True, text=True, timeout=600)
    return r.returncode == 0, r.stderr[-300:]


def _measure(label, slot, tmp):
    """One label's worker, pinned to CPU ``slot`` (one worker per CPU at a time)."""
    framework, env, _ = LABELS[label]
    ok, why = _available(label)
    if not ok:
        return {"skip": why}
    path = Path(tmp) / (label.replace("/", "_") + ".json")
    r = subprocess.run([sys.executable, __file__, label, str(path)],
                       env={**os.environ, **env, **ONE_THREAD, "EPS_REF_CPU_SLOT": str(slot)},
                       capture_output=True, text=True, timeout=TIMEOUT_S)
    return json.loads(path.read_text()) if r.returncode == 0 and path.exists() \
        else {"crash": r.stderr[-2000:]}


@pytest.fixture(scope="module")
def measured():
    from concurrent.futures import ThreadPoolExecutor
    from queue import Queue
    slots = Queue()
    for slot in range(max(1, min(len(os.sched_getaffinity(0)), len(LABELS)))):
        slots.put(slot)

    def run(label):
        slot = slots.get()
        try:
            return _measure(label, slot, tmp)
        finally:
            slots.put(slot)

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(slots.qsize()) as pool:
        return dict(zip(LABELS, pool.map(run, LABELS)))


def _params():
    for label, (framework, _, _) in LABELS.items():
        for case_id, spec, kw, shape, kind in CASES:
            if spec.startswith(framework):
                yield pytest.param(label, case_id, spec, shape, kind, id=f"{label}:{case_id}")


@pytest.mark.parametrize("label,case_id,spec,shape,kind", list(_params()))
def test_real_size(measured, label, case_id, spec, shape, kind):
    results = measured[label]
    if "skip" in results:
        pytest.skip(results["skip"])
    assert "crash" not in results, f"{label} worker crashed: {results['crash']}"
    s = results[case_id]
    assert "error" not in s, s["error"]
    stats = max(v for v in (s["max_ulp_running_mean"], s["max_ulp_running_var"], 0)
                if v is not None)
    exact = s["max_ulp_output"] == 0 and stats == 0
    bound = not_reproduced(label, spec, shape, kind)
    if bound is None:
        assert exact, f"{label} {case_id}: {s}"
        return
    units, ulp, reason, strict = bound
    assert not (strict and exact), \
        f"{label} {case_id} is now bit-exact: drop it from not_reproduced"
    assert s["max_units_output"] <= units and stats <= ulp, \
        f"{label} {case_id}: {s} exceeds {units} units / {ulp} ULP ({reason})"


@pytest.mark.parametrize("label", ["flax", "keras/tensorflow"])
@pytest.mark.parametrize("shape,axes", REDUCTION_SHAPES, ids=str)
def test_raw_reductions(measured, label, shape, axes):
    """jnp.sum and tf.reduce_sum bit for bit against the emulated XLA:CPU/YNNPACK and Eigen
    reductions (one thread), but YNNPACK's combine of full 256-row partials."""
    results = measured[label]
    if "skip" in results:
        pytest.skip(results["skip"])
    assert "crash" not in results, results["crash"]
    bad = results["reductions"][f"{shape}/{axes}"]
    if label == "flax" and (shape, axes) in JAX_NOT_REPRODUCED:
        assert bad > 0, f"{shape}/{axes} is now bit-exact: drop it from JAX_NOT_REPRODUCED"
    else:
        assert bad == 0, f"{label} {shape}/{axes}: {bad} sums differ"


def test_reduced_axis_table_shapes():
    """The shapes the torch layers' real-size table can take over: every spec of the
    sweep has a shape per length, every real-size spec at least one shape."""
    assert all(len({f(n) for n in SWEEP_SIZES}) == len(SWEEP_SIZES)
               for _, f in SWEEP_SHAPES.values())
    assert all(shapes for _, shapes in REAL_SIZE_SHAPES.values())


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])

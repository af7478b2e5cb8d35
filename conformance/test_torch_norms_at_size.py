"""torch's normalization layers at every length that changes their kernels' order, on 1 and
2 threads, against real torch in this process (its default CPU dispatch).

The length is the number of values each statistic reduces: the batch of an ``(N, C)``
BatchNorm1d, the rows of a channels-last BatchNorm2d, a LayerNorm/RMSNorm row, a GroupNorm
group (contiguous and channels-last), an InstanceNorm plane. The lengths straddle torch's vector width (8 lanes),
RowwiseMoments' chunks of 16 vectors (128 values) and its merge stack, and the 32768 values
(``GRAIN_SIZE``) beyond which a reduction to one value splits over threads. Each case checks
the training output, the running statistics and an inference output bit for bit.
Channels-last inputs (torch's other batch-norm and group-norm kernels) run here only: the
conformance workers receive contiguous arrays.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import eps_ref
from eps_ref.conformance.tier import full_or_ci

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

LENGTHS = full_or_ci((1, 7, 8, 15, 16, 17, 63, 64, 65, 127, 128, 129, 135, 136, 137, 4095,
                      4096, 4097, 32769, 10**6),
                     (1, 7, 8, 17, 64, 65, 128, 129, 136, 4097, 32769))
THREADS = (1, 2)


def _channels_last(x):
    """``x`` (N, C, *spatial) with channels innermost in memory, as torch's channels_last."""
    perm = (0,) + tuple(range(2, x.ndim)) + (1,)
    return np.moveaxis(np.ascontiguousarray(np.transpose(x, perm)), -1, 1)


# id -> (spec, keywords, input shape for a length L, layout)
LAYERS = {
    "BatchNorm1d (L, 2)": ("torch.nn.BatchNorm1d", {"num_features": 2}, lambda n: (n, 2), None),
    "BatchNorm1d (2, 2, L/2)": ("torch.nn.BatchNorm1d", {"num_features": 2},
                                lambda n: (2, 2, -(-n // 2)), None),
    "BatchNorm2d channels-last (1, 2, 1, L)": ("torch.nn.BatchNorm2d", {"num_features": 2},
                                               lambda n: (1, 2, 1, n), _channels_last),
    "LayerNorm (2, L)": ("torch.nn.LayerNorm", None, lambda n: (2, n), None),
    "RMSNorm (1, L)": ("torch.nn.RMSNorm", None, lambda n: (1, n), None),
    "RMSNorm (2, L)": ("torch.nn.RMSNorm", None, lambda n: (2, n), None),
    "GroupNorm(1, 2) (1, 2, L/2)": ("torch.nn.GroupNorm", {"num_groups": 1, "num_channels": 2},
                                    lambda n: (1, 2, -(-n // 2)), None),
    "GroupNorm(1, 2) channels-last (1, 2, 1, L/2)": (
        "torch.nn.GroupNorm", {"num_groups": 1, "num_channels": 2},
        lambda n: (1, 2, 1, -(-n // 2)), _channels_last),
    "InstanceNorm1d (1, 2, L)": ("torch.nn.InstanceNorm1d", {"num_features": 2, "affine": True},
                                 lambda n: (1, 2, n), None),
}


def _kwargs(spec, kwargs, shape):
    if kwargs is None:                       # LayerNorm, RMSNorm: the trailing dimension
        return {"normalized_shape": [shape[-1]]}
    return kwargs


def _bits_equal(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _run_torch(spec, kwargs, x, params, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        module = eval(spec, {"torch": torch})(**kwargs)
        with torch.no_grad():
            if getattr(module, "weight", None) is not None:
                module.weight.copy_(torch.from_numpy(params["scale"]))
            if getattr(module, "bias", None) is not None:
                module.bias.copy_(torch.from_numpy(params["bias"]))
            module.train()
            y = module(torch.from_numpy(x)).numpy()
            stats = [getattr(module, k, None) for k in ("running_mean", "running_var")]
            stats = [None if v is None else v.numpy().copy() for v in stats]
            module.eval()
            y_eval = module(torch.from_numpy(x)).numpy() if stats[0] is not None else None
        return y, stats, y_eval
    finally:
        torch.set_num_threads(before)


def _run_reference(spec, kwargs, x, params, threads):
    lay = eps_ref.layer(spec, threads=threads, **kwargs)
    state = lay.init(x)
    for key in ("scale", "bias"):
        if key in state:
            state[key] = params[key].reshape(state[key].shape)
    y, state = lay.apply(x, state, training=True)
    stats = [state.get("running_mean"), state.get("running_var")]
    y_eval = lay.apply(x, state, training=False)[0] if stats[0] is not None else None
    return y, stats, y_eval


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("layer_id", list(LAYERS))
def test_torch_norm_at_length(layer_id, length, threads):
    spec, kwargs, shape_of, layout = LAYERS[layer_id]
    shape = shape_of(length)
    kwargs = _kwargs(spec, kwargs, shape)
    rng = np.random.default_rng(length)
    # a mean of 10 and a spread of 3: the order of every sum shows in the last bits
    x = (10.0 + 3.0 * rng.standard_normal(shape)).astype(np.float32)
    if layout is not None:
        x = layout(x)
    c = shape[-1] if spec.endswith(("LayerNorm", "RMSNorm")) else shape[1]
    params = {"scale": (1 + 0.5 * rng.standard_normal(c)).astype(np.float32),
              "bias": rng.standard_normal(c).astype(np.float32)}
    try:
        real = _run_torch(spec, kwargs, x, params, threads)
    except ValueError as e:                 # one value per statistic in training
        with pytest.raises(ValueError):
            _run_reference(spec, kwargs, x, params, threads)
        pytest.skip(f"torch refuses it and so does the reference: {e}")
    ref = _run_reference(spec, kwargs, x, params, threads)
    assert _bits_equal(ref[0], real[0]), "training output"
    for name, r, t in zip(("running mean", "running variance"), ref[1], real[1]):
        assert (r is None) == (t is None) and (r is None or _bits_equal(r, t)), name
    assert (ref[2] is None) == (real[2] is None)
    if ref[2] is not None:
        assert _bits_equal(ref[2], real[2]), "inference output"


_DISPATCH_SCRIPT = """
import hashlib, sys, numpy as np, torch
torch.set_num_threads(2)
rng = np.random.default_rng(0)
out = [torch.backends.cpu.get_cpu_capability()]
for expr, shape in [("torch.nn.BatchNorm1d(256)", (64, 256)),
                    ("torch.nn.BatchNorm2d(64)", (32, 64, 16, 16)),
                    ("torch.nn.LayerNorm(768)", (8, 128, 768)),
                    ("torch.nn.RMSNorm(768)", (8, 128, 768)),
                    ("torch.nn.GroupNorm(32, 256)", (8, 256, 8, 8)),
                    ("torch.nn.InstanceNorm2d(64)", (8, 64, 32, 32)),
                    ("torch.nn.RMSNorm(40000)", (1, 40000))]:
    x = torch.from_numpy((1e4 + 0.1 * rng.standard_normal(shape)).astype(np.float32))
    with torch.no_grad():
        y = eval(expr)(x)
    out.append(hashlib.sha256(y.numpy().tobytes()).hexdigest())
print(" ".join(out))
"""


def test_default_dispatch_runs_the_avx2_kernels():
    """The reference follows torch's default CPU dispatch; forcing the AVX2 capability runs
    the same normalization and sum kernels, bit for bit (REGISTER_DISPATCH registers no
    AVX-512 kernel for them), so the reference covers both."""
    def run(env):
        done = subprocess.run([sys.executable, "-c", _DISPATCH_SCRIPT], capture_output=True,
                              text=True, env={**os.environ, **env}, timeout=300, check=True)
        return done.stdout.split()

    default = run({})
    avx2 = run({"ATEN_CPU_CAPABILITY": "avx2"})
    if avx2[0] != "AVX2":
        pytest.skip(f"this machine runs torch at {avx2[0]}, not AVX2")
    assert default[1:] == avx2[1:], f"{default[0]} and AVX2 kernels differ"


@pytest.mark.parametrize("threads", (2, 4))
@pytest.mark.parametrize("channels", (5, 16, 17, 2048, 2049))
def test_batch_norm_rows_at_most_threads(channels, threads):
    """At most one row per thread: ``batch_norm_cpu_collect_stats_channels_last_impl`` does
    not split the rows; it sums them in float32 ("Method 2", up to 16 or above 2048
    channels) or in float64 ("Method 1")."""
    rng = np.random.default_rng(channels)
    for rows in range(2, threads + 1):
        x = (1e4 + 0.1 * rng.standard_normal((rows, channels))).astype(np.float32)
        params = {"scale": np.ones(channels, np.float32), "bias": np.zeros(channels, np.float32)}
        kwargs = {"num_features": channels}
        real = _run_torch("torch.nn.BatchNorm1d", kwargs, x, params, threads)
        ref = _run_reference("torch.nn.BatchNorm1d", kwargs, x, params, threads)
        assert _bits_equal(ref[0], real[0]) and _bits_equal(ref[2], real[2]), rows
        assert all(_bits_equal(r, t) for r, t in zip(ref[1], real[1])), rows


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("spec, kwargs, shape", [
    ("torch.nn.BatchNorm2d", {"num_features": 64}, (32, 64, 16, 16)),
    ("torch.nn.BatchNorm3d", {"num_features": 16}, (8, 16, 4, 8, 8)),
    ("torch.nn.GroupNorm", {"num_groups": 32, "num_channels": 256}, (8, 256, 8, 8)),
    ("torch.nn.GroupNorm", {"num_groups": 8, "num_channels": 64}, (2, 64, 32, 32)),
    ("torch.nn.GroupNorm", {"num_groups": 4, "num_channels": 20, "affine": False},
     (3, 20, 7, 5, 6)),
])
def test_channels_last_at_real_size(spec, kwargs, shape, threads):
    """Real-size channels-last inputs: batch norm's per-thread float32 kernel, group norm's
    column sums (spatial size below 1024) and its per-thread buffers (1024 and above)."""
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    params = {"scale": (1 + 0.5 * rng.standard_normal(c)).astype(np.float32),
              "bias": rng.standard_normal(c).astype(np.float32)}
    for x in ((0.5 + 2 * rng.standard_normal(shape)), (1e4 + 0.1 * rng.standard_normal(shape))):
        x = _channels_last(x.astype(np.float32))
        real = _run_torch(spec, kwargs, x, params, threads)
        ref = _run_reference(spec, kwargs, x, params, threads)
        assert _bits_equal(ref[0], real[0]), "training output"
        assert all(_bits_equal(r, t) for r, t in zip(ref[1], real[1]) if t is not None)

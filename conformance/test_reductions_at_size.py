"""The reductions of :mod:`eps_ref.rules._reductions` against the real frameworks at real
sizes and shapes, on one and two intra-op threads, and the optimizers and clips built on
them over a tree of several parameters.

Each framework runs in a child process whose thread count is fixed before it starts:
TensorFlow's intra-op pool (``tf.config.threading``), torch's (``torch.set_num_threads``)
and XLA's, which takes one thread per CPU the process may run on (``sched_setaffinity``).
The children compute on inputs written by the test and return their results; the test
compares the float32 bit patterns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import eps_ref
from eps_ref.rules._reductions import (eigen_reduce_sum, eigen_sum, torch_full_sum,
                                       torch_norm_sums, torch_reduce_sum, xla_jit_sum_of_squares,
                                       xla_reduce_sum)
from eps_ref.conformance.tier import full_or_ci
from eps_ref.rules.clipping import L2_LOSS_COMPUTE

pytestmark = pytest.mark.kernel_models   # conformance/conftest.py

F32 = np.float32
SIZES = [1, 7, 8, 15, 16, 17, 33, 63, 64, 65, 4095, 4096, 4097, 8192, 8193, 32768, 32769,
         10 ** 5, 10 ** 6]
BIG = 10 ** 7
SHAPES = [(3, 37), (37, 3), (16, 4), (33, 33), (64, 63), (64, 4), (63, 4), (95, 3), (64, 64),
          (33, 130), (300, 37), (37, 300), (10, 5000), (5000, 10), (1000, 1000), (3, 40000),
          (4, 6, 5), (3, 7, 11)]
THREADS = full_or_ci([1, 2], [2])   # CI's tier: the two threads its workers run


def _bits(x):
    return np.asarray(x, F32).view(np.uint32)


def _ragged(rng, shape):
    """Values over eight decades, so that the order of a sum shows in its last bits."""
    return (rng.standard_normal(shape) * np.exp(rng.uniform(-4, 4, shape))).astype(F32)


def _cpus(threads):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < threads:
        pytest.skip(f"{threads} threads need {threads} CPUs, this process has {len(cpus)}")
    return cpus[:threads]


def _child(script, inputs: dict, tmp_path, *, threads, env=None, import_name):
    """Run ``script`` in a fresh Python on ``threads`` CPUs with ``inputs`` (saved as
    ``IN``) and return the arrays it saves in ``OUT``."""
    pytest.importorskip(import_name)
    src, dst = tmp_path / f"in_{threads}.npz", tmp_path / f"out_{threads}.npz"
    np.savez(src, **inputs)
    prologue = textwrap.dedent(f"""
        import os, numpy as np
        os.sched_setaffinity(0, {set(_cpus(threads))!r})
        THREADS = {threads}
        IN = dict(np.load({str(src)!r}))
        OUT = {{}}
    """)
    epilogue = f"\nnp.savez({str(dst)!r}, **OUT)\n"
    run_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    proc = subprocess.run([sys.executable, "-c", prologue + textwrap.dedent(script) + epilogue],
                          env=run_env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(dst))


def _inputs(seed):
    rng = np.random.default_rng(seed)
    out = {f"n{n}": _ragged(rng, n) for n in SIZES}
    out.update({"s" + "x".join(map(str, s)): _ragged(rng, s) for s in SHAPES})
    return out


# -- TensorFlow ----------------------------------------------------------------------------

TF_SCRIPT = """
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    for k, x in IN.items():
        if k == "big":
            OUT[k + ":all"] = tf.reduce_sum(x).numpy()
            continue
        OUT[k + ":all"] = tf.reduce_sum(x).numpy()
        OUT[k + ":l2"] = tf.nn.l2_loss(x).numpy()
        OUT[k + ":mean"] = tf.reduce_mean(x).numpy()
        for axis in range(x.ndim if x.ndim > 1 else 0):
            OUT[f"{k}:{axis}"] = tf.reduce_sum(x, axis=axis).numpy()
            OUT[f"{k}:mean{axis}"] = tf.reduce_mean(x, axis=axis).numpy()
"""


@pytest.mark.parametrize("threads", THREADS)
def test_tensorflow_sums_at_every_size(threads, tmp_path):
    """``tf.reduce_sum`` / ``reduce_mean`` / ``nn.l2_loss`` on whole arrays (past 8192
    values Eigen's tree; from 108388 values, 96000 for ``l2_loss``, two shards on two
    threads) and over each axis of 2-D and 3-D arrays."""
    inputs = _inputs(threads)
    if threads == 2:
        inputs["big"] = _ragged(np.random.default_rng(7), BIG)
    got = _child(TF_SCRIPT, inputs, tmp_path, threads=threads, import_name="tensorflow")
    for k, x in inputs.items():
        want = {"all": eigen_reduce_sum(x, threads=threads)}
        if k != "big":
            want["l2"] = eigen_sum((x * x) * F32(0.5), threads=threads,
                                   compute_cycles=L2_LOSS_COMPUTE)
            want["mean"] = eigen_reduce_sum(x, threads=threads) / F32(x.size)
            for axis in range(x.ndim if x.ndim > 1 else 0):
                want[str(axis)] = eigen_reduce_sum(x, axis, threads=threads)
                want[f"mean{axis}"] = (eigen_reduce_sum(x, axis, threads=threads)
                                       / F32(x.shape[axis]))
        for what, value in want.items():
            np.testing.assert_array_equal(_bits(value), _bits(got[f"{k}:{what}"]),
                                          err_msg=f"{k} {what}")


# -- XLA:CPU (jax) -------------------------------------------------------------------------

JAX_SCRIPT = """
    import jax, jax.numpy as jnp
    for k, x in IN.items():
        a = jnp.asarray(x)
        OUT[k + ":all"] = np.asarray(jnp.sum(a))
        OUT[k + ":norm"] = np.asarray(jnp.linalg.norm(a))
        for axis in range(x.ndim if x.ndim > 1 else 0):
            OUT[f"{k}:{axis}"] = np.asarray(jnp.sum(a, axis=axis))
            OUT[f"{k}:mean{axis}"] = np.asarray(jnp.mean(a, axis=axis))
"""

# LLVM's vectorization of jnp.linalg.norm's fused loop over rows whose body holds 5 to 8
# columns is not modelled (_reductions._xla_loops); none of SHAPES is such a shape.


@pytest.mark.parametrize("threads", THREADS)
def test_xla_sums_at_every_size(threads, tmp_path):
    """Eager ``jnp.sum`` / ``jnp.mean`` and jitted ``jnp.linalg.norm``: XLA's windows and
    loops below 4096 elements, YNNPACK's kernels from 4096 (partial sums per tile of 32768
    on two threads)."""
    inputs = _inputs(10 + threads)
    if threads == 1:
        inputs["big"] = _ragged(np.random.default_rng(8), BIG)
    got = _child(JAX_SCRIPT, inputs, tmp_path, threads=threads, import_name="jax")
    for k, x in inputs.items():
        want = {"all": xla_reduce_sum(x, threads=threads),
                "norm": np.sqrt(xla_jit_sum_of_squares(x, threads=threads))}
        for axis in range(x.ndim if x.ndim > 1 else 0):
            s = xla_reduce_sum(x, axis, threads=threads)
            want[str(axis)] = s
            want[f"mean{axis}"] = s * F32(1.0 / x.shape[axis])
        for what, value in want.items():
            np.testing.assert_array_equal(_bits(value), _bits(got[f"{k}:{what}"]),
                                          err_msg=f"{k} {what}")


# -- torch ---------------------------------------------------------------------------------

TORCH_SCRIPT = """
    import torch
    torch.set_num_threads(THREADS)
    for k, x in IN.items():
        t = torch.from_numpy(x)
        OUT[k + ":all"] = torch.sum(t).numpy()
        OUT[k + ":norm"] = torch.linalg.vector_norm(t).numpy()
        for axis in range(x.ndim if x.ndim > 1 else 0):
            OUT[f"{k}:{axis}"] = torch.sum(t, dim=axis).numpy()
"""


@pytest.mark.parametrize("threads", THREADS)
def test_torch_sums_at_every_size(threads, tmp_path):
    """``torch.sum`` (from 32768 elements split over the threads, ``at::parallel_for``),
    ``torch.linalg.vector_norm`` (one call per row at any length) and sums over an axis."""
    inputs = _inputs(20 + threads)
    inputs["big"] = _ragged(np.random.default_rng(9), BIG)
    got = _child(TORCH_SCRIPT, inputs, tmp_path, threads=threads, import_name="torch")
    for k, x in inputs.items():
        want = {"all": torch_full_sum(x, threads=threads),
                "norm": np.sqrt(torch_norm_sums(x.reshape(1, -1)))[0]}
        for axis in range(x.ndim if x.ndim > 1 else 0):
            want[str(axis)] = torch_reduce_sum(x, axis, threads=threads)
        for what, value in want.items():
            np.testing.assert_array_equal(_bits(value), _bits(got[f"{k}:{what}"]),
                                          err_msg=f"{k} {what}")


# -- optimizers and clips on a tree of large parameters ------------------------------------

TREE = {"kernel": (300, 400), "bias": (400,), "embedding": (64, 1100), "scale": (7,),
        "conv": (3, 3, 16, 32), "w1": (40000,), "w2": (5, 7), "w3": (9,), "w4": (33,)}
"""Nine leaves: 8 or more take the vector loops of torch's and Eigen's stacked sums; sizes
from 5 to 120000 elements."""


def _tree_inputs(seed, steps=3):
    rng = np.random.default_rng(seed)
    names = sorted(TREE)
    out = {}
    for name in names:
        out[f"p:{name}"] = (rng.standard_normal(TREE[name]) * 0.1).astype(F32)
        for t in range(steps):
            out[f"g{t}:{name}"] = _ragged(rng, TREE[name])
    return out, names, steps


KERAS_SCRIPT = """
    import keras
    names = sorted({k.split(":")[1] for k in IN})
    steps = len({k.split(":")[0] for k in IN if k.startswith("g")})
    for case, kwargs in CASES.items():
        opt = getattr(keras.optimizers, kwargs.pop("cls"))(**kwargs)
        variables = [keras.Variable(IN["p:" + n]) for n in names]
        for t in range(steps):
            opt.apply([keras.ops.convert_to_tensor(IN[f"g{t}:{n}"]) for n in names],
                      variables)
        for n, v in zip(names, variables):
            OUT[f"{case}:{n}"] = keras.ops.convert_to_numpy(v)
"""

KERAS_CASES = {
    "global_clipnorm": {"cls": "SGD", "learning_rate": 0.01, "momentum": 0.9,
                        "global_clipnorm": 1.0},
    "clipnorm": {"cls": "Adam", "clipnorm": 1.0},
    "lamb": {"cls": "Lamb"},
    "adafactor": {"cls": "Adafactor"},
}


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
@pytest.mark.parametrize("threads", THREADS)
def test_keras_clips_and_norm_optimizers_on_a_tree(backend, threads, tmp_path):
    """Keras 3 ``global_clipnorm`` (``ops.sum(ops.stack(...))`` over nine leaf sums),
    ``clipnorm``, ``Lamb`` and ``Adafactor`` over a tree of nine parameters up to 120000
    elements, three steps, on each backend."""
    pytest.importorskip("keras")
    inputs, names, steps = _tree_inputs(30 + threads)
    script = f"CASES = {KERAS_CASES!r}\n" + textwrap.dedent(KERAS_SCRIPT)
    if backend == "tensorflow":
        script = ("import tensorflow as tf\n"
                  "tf.config.threading.set_intra_op_parallelism_threads(THREADS)\n" + script)
    if backend == "torch":
        script = "import torch\ntorch.set_num_threads(THREADS)\n" + script
    got = _child(script, inputs, tmp_path, threads=threads, import_name=backend,
                 env={"KERAS_BACKEND": backend})
    for case, kwargs in KERAS_CASES.items():
        kwargs = dict(kwargs)
        name = "keras.optimizers." + kwargs.pop("cls")
        opt = eps_ref.optimizer(name, backend=backend, threads=threads, **kwargs)
        params = [inputs[f"p:{n}"] for n in names]
        state = opt.init(params)
        for t in range(steps):
            params, state = opt.step(params, [inputs[f"g{t}:{n}"] for n in names], state)
        for n, p in zip(names, params):
            np.testing.assert_array_equal(_bits(p), _bits(got[f"{case}:{n}"]),
                                          err_msg=f"{case} {n}")


OPTAX_SCRIPT = """
    import jax.numpy as jnp, optax
    names = sorted({k.split(":")[1] for k in IN})
    steps = len({k.split(":")[0] for k in IN if k.startswith("g")})
    chains = {
        "clip": optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.01, momentum=0.9)),
        "lars": optax.lars(1e-2), "fromage": optax.fromage(1e-2),
        "novograd": optax.novograd(1e-2), "adafactor": optax.adafactor(1e-2),
    }
    for case, tx in chains.items():
        params = {n: jnp.asarray(IN["p:" + n]) for n in names}
        state = tx.init(params)
        for t in range(steps):
            grads = {n: jnp.asarray(IN[f"g{t}:{n}"]) for n in names}
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        for n in names:
            OUT[f"{case}:{n}"] = np.asarray(params[n])
"""

# optax.lamb is checked on one leaf at a time (test_one_large_parameter): over a tree of
# two or more leaves optax's jitted tree_bias_correction divides by 1 - b^t where on one
# leaf XLA multiplies by its reciprocal (measured for optax.adam as well), a difference of
# the Adam part that the per-leaf rules do not model.
OPTAX_CASES = {"clip": None, "lars": ("optax.lars", {"learning_rate": 1e-2}),
               "fromage": ("optax.fromage", {"learning_rate": 1e-2}),
               "novograd": ("optax.novograd", {"learning_rate": 1e-2}),
               "adafactor": ("optax.adafactor", {"learning_rate": 1e-2})}


@pytest.mark.parametrize("threads", THREADS)
def test_optax_global_norm_and_norm_optimizers_on_a_tree(threads, tmp_path):
    """``optax.clip_by_global_norm`` over a dict of nine leaves (sorted keys, the leaf sums
    added left to right) and the optimizers built on norms and means, three steps."""
    inputs, names, steps = _tree_inputs(40 + threads)
    got = _child(OPTAX_SCRIPT, inputs, tmp_path, threads=threads, import_name="optax")
    for case, entry in OPTAX_CASES.items():
        if entry is None:
            opt = eps_ref.chain(eps_ref.clip("optax.clip_by_global_norm", max_norm=1.0,
                                             threads=threads),
                                eps_ref.optimizer("optax.sgd", learning_rate=0.01,
                                                  momentum=0.9))
        else:
            opt = eps_ref.optimizer(entry[0], threads=threads, **entry[1])
        params = {n: inputs[f"p:{n}"] for n in names}
        state = opt.init(params)
        for t in range(steps):
            params, state = opt.step(params, {n: inputs[f"g{t}:{n}"] for n in names}, state)
        for n in names:
            np.testing.assert_array_equal(_bits(params[n]), _bits(got[f"{case}:{n}"]),
                                          err_msg=f"{case} {n}")


TF_KERAS_SCRIPT = """
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    import tf_keras
    names = sorted({k.split(":")[1] for k in IN})
    steps = len({k.split(":")[0] for k in IN if k.startswith("g")})
    for case, kwargs in {"global": {"global_clipnorm": 1.0}, "norm": {"clipnorm": 1.0}}.items():
        opt = tf_keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, **kwargs)
        variables = [tf.Variable(IN["p:" + n]) for n in names]
        for t in range(steps):
            opt.apply_gradients([(tf.constant(IN[f"g{t}:{n}"]), v)
                                 for n, v in zip(names, variables)])
        for n, v in zip(names, variables):
            OUT[f"{case}:{n}"] = v.numpy()
"""


@pytest.mark.parametrize("threads", THREADS)
def test_tf_keras_clips_on_a_tree(threads, tmp_path):
    """tf_keras ``global_clipnorm`` (``tf.linalg.global_norm``: ``l2_loss`` per leaf,
    sharded by its own cost) and ``clipnorm`` (``tf.clip_by_norm``) over nine leaves."""
    pytest.importorskip("tf_keras")
    inputs, names, steps = _tree_inputs(50 + threads)
    got = _child(TF_KERAS_SCRIPT, inputs, tmp_path, threads=threads, import_name="tensorflow")
    for case, kwargs in {"global": {"global_clipnorm": 1.0}, "norm": {"clipnorm": 1.0}}.items():
        opt = eps_ref.optimizer("tf_keras.optimizers.SGD", learning_rate=0.01, momentum=0.9,
                                threads=threads, **kwargs)
        params = [inputs[f"p:{n}"] for n in names]
        state = opt.init(params)
        for t in range(steps):
            params, state = opt.step(params, [inputs[f"g{t}:{n}"] for n in names], state)
        for n, p in zip(names, params):
            np.testing.assert_array_equal(_bits(p), _bits(got[f"{case}:{n}"]),
                                          err_msg=f"{case} {n}")


ONE_LEAF_SCRIPT = """
    if BACKEND == "optax":
        import jax.numpy as jnp, optax
        for case, tx in {"lamb": optax.lamb(1e-3), "adafactor": optax.adafactor(1e-2)}.items():
            p = jnp.asarray(IN["p"])
            updates, _ = tx.update(jnp.asarray(IN["g"]), tx.init(p), p)
            OUT[case] = np.asarray(optax.apply_updates(p, updates))
    else:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        import keras
        for case in ("Lamb", "Adafactor"):
            v = keras.Variable(IN["p"])
            getattr(keras.optimizers, case)().apply([tf.constant(IN["g"])], [v])
            OUT[case] = v.numpy()
"""


@pytest.mark.parametrize("backend", ["optax", "keras/tensorflow"])
def test_one_large_parameter(backend, tmp_path):
    """One step on one 10^7-element parameter (2500 x 4000): Keras' Lamb and Adafactor on
    TensorFlow (Eigen's tree and two shards on two threads), optax.lamb and
    optax.adafactor (YNNPACK's partial sums on two threads)."""
    rng = np.random.default_rng(60)
    inputs = {"p": (rng.standard_normal((2500, 4000)) * 0.1).astype(F32),
              "g": _ragged(rng, (2500, 4000))}
    framework = backend.split("/")[0]
    got = _child(f"BACKEND = {framework!r}\n" + textwrap.dedent(ONE_LEAF_SCRIPT), inputs,
                 tmp_path, threads=2, import_name="optax" if framework == "optax" else "keras",
                 env={"KERAS_BACKEND": "tensorflow"})
    if framework == "optax":
        specs = {"lamb": ("optax.lamb", {"learning_rate": 1e-3}),
                 "adafactor": ("optax.adafactor", {"learning_rate": 1e-2})}
    else:
        specs = {"Lamb": ("keras.optimizers.Lamb", {}),
                 "Adafactor": ("keras.optimizers.Adafactor", {})}
    for case, (name, kwargs) in specs.items():
        opt = eps_ref.optimizer(name, threads=2, **kwargs)
        p, _ = opt.step(inputs["p"], inputs["g"], opt.init(inputs["p"]))
        np.testing.assert_array_equal(_bits(p), _bits(got[case]), err_msg=case)

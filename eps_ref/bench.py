"""``eps-ref bench``: how fast the reference steps, next to the frameworks' own steps.

For every optimizer spec and every size (float32 parameters of 10^4, 10^6 elements and a
tree of 25 tensors, 201,226 elements by default; 10^7 and more on request) one step is timed, the minimum of ``repeat``
runs after a warm-up step, for:

``reference``
    ``eps_ref.optimizer(name).step`` (pure: new parameters and state every step), with the
    compiled kernels where numba is installed (:mod:`eps_ref.rules._compiled`, the ``fast``
    extra), and then as ``reference numpy`` without them;
the framework's own CPU steps, in the same process (a worker process per framework:
Keras fixes its backend at import),
    torch ``step()`` single-tensor (the CPU default), ``foreach=True`` and ``fused=True``;
    Keras ``apply`` under ``tf.function``, ``jax.jit`` of ``stateless_apply`` (what
    ``fit`` compiles) and eager on torch; ``tf.compat.v1.train`` and ``tf_keras``
    ``apply_gradients``; optax ``update`` + ``apply_updates`` jitted and eager;
``naive numpy``
    the textbook formula of the rule family in place (``out=``), no emulated kernel;
``floor``
    the bytes a step must read and write (parameters, gradients and the state read, the
    parameters and the state written) at the bandwidth of a NumPy copy of that size.

Times are the least wall time over the timed steps (the least process CPU time is kept
too, as ``cpu_seconds``). The CPU clock cannot be the measure: XLA and TensorFlow run a step
on their own threads, whose CPU time the process clock accounts in scheduler ticks, so that
the least of several jitted optax steps of 10^6 elements read 0.03 ms of CPU against 0.7 ms
of wall time (below the memory floor). The frameworks are single-threaded by default, so
the wall time is the step's time on an idle core.
Beside each time: the peak memory the step allocates on top of its inputs (``tracemalloc``
for NumPy, the growth of the resident set, sampled every 0.2 ms, for the frameworks).
Runs single-threaded unless told otherwise (torch, TensorFlow, XLA and BLAS thread counts
are set before the frameworks start). A framework that is not installed is skipped with the
reason. A size whose step is predicted (from the size before) to take longer than the
budget is skipped with the prediction.

The inputs are the conformance streams (:mod:`eps_ref.conformance.streams`) at the size's
shape: ordinary, tiny, zero, spiking and sign-flipping gradients mixed in one tensor.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["run", "SIZES", "TREE_SHAPES", "Result", "markdown", "document", "parse_size",
           "TARGET", "MEMORY_TARGET"]

SIZES = ("1e4", "1e6", "tree")
"""The default sizes: every spec at these takes a few minutes; add ``1e7`` (``--sizes``)
for the memory-bound regime (about 25 minutes for every spec on 2 shared cores)."""
DEFAULT_REPEAT = 3
DEFAULT_BUDGET = 4.0
"""Seconds a single step may be predicted to take before its size is skipped."""
TARGET = 2.0
"""The speed target: the reference step within this factor of the framework's own default
CPU step, at 10^6 and 10^7 elements."""
MEMORY_TARGET = 3.0
"""The memory target: the peak extra bytes of one reference step within this factor of the
bytes of the parameters and the state."""

# 25 tensors, 201,226 elements: a small convolutional stem and an MLP head, with biases.
TREE_SHAPES = (
    (32, 3, 3, 3), (32,), (64, 32, 3, 3), (64,), (64, 64, 3, 3), (64,), (128, 64, 3, 3),
    (128,), (128, 128), (128,), (128, 128), (128,), (96, 128), (96,), (128, 96), (128,),
    (64, 128), (64,), (32, 64), (32,), (64, 32), (64,), (10, 64), (10,), (128,))

# Backend label -> (the framework's dialect, environment for its worker).
LABELS = {
    "reference": ("paper", {}),
    "torch": ("torch", {}),
    "keras/tensorflow": ("keras", {"KERAS_BACKEND": "tensorflow"}),
    "keras/jax": ("keras", {"KERAS_BACKEND": "jax"}),
    "keras/torch": ("keras", {"KERAS_BACKEND": "torch"}),
    "tf1": ("tf1", {}),
    "tf_keras": ("tf_keras", {}),
    "optax": ("optax", {}),
}

# The step each label counts as its framework's own default CPU step (the ratio's base).
DEFAULT_IMPL = {
    "torch": "torch", "keras/tensorflow": "keras tf.function", "keras/jax": "keras jax.jit",
    "keras/torch": "keras eager", "tf1": "tf1 apply_gradients",
    "tf_keras": "tf_keras apply_gradients", "optax": "optax jit",
}


@dataclass
class Timing:
    """One implementation's step: the best wall time and the best process CPU time of the
    timed steps (None when skipped), and the peak extra bytes of one step."""

    seconds: float | None = None
    cpu_seconds: float | None = None
    peak_bytes: int | None = None
    note: str = ""


@dataclass
class Result:
    """One spec on one backend label at one size."""

    spec: str
    label: str
    size: str
    elements: int
    bytes_moved: int = 0
    param_bytes: int = 0
    state_bytes: int = 0
    timings: dict = field(default_factory=dict)     # implementation -> Timing (as a dict)

    def seconds(self, impl: str) -> float | None:
        t = self.timings.get(impl)
        return None if t is None else t.get("seconds")

    @property
    def default_impl(self) -> str | None:
        return DEFAULT_IMPL.get(self.label)

    def ratio(self) -> float | None:
        """Reference time over the framework's default step, or None."""
        ref, base = self.seconds("reference"), self.seconds(self.default_impl or "")
        return ref / base if ref and base else None


def parse_size(text: str) -> str:
    """``"1e6"``, ``"1000000"``, ``"tree"`` -> the canonical size name."""
    if text == "tree":
        return text
    try:
        n = int(float(text))
    except ValueError:
        raise ValueError(f"size {text!r}: give a number of elements (1e6) or 'tree'") from None
    if n < 1:
        raise ValueError(f"size {text!r}: at least one element")
    return f"{n:.0e}".replace("e+0", "e").replace("e+", "e") if _is_power_of_ten(n) else str(n)


def _is_power_of_ten(n: int) -> bool:
    return n >= 10 and 10 ** round(math.log10(n)) == n


def _elements(size: str) -> int:
    return sum(math.prod(s) for s in TREE_SHAPES) if size == "tree" else int(float(size))


def _shapes(size: str, matrix_only: bool) -> list[tuple[int, ...]]:
    """Parameter shapes for a size: a matrix (rows of 1000 from 10^6 on) or the tree."""
    if size == "tree":
        return [s for s in TREE_SHAPES if len(s) == 2] if matrix_only else list(TREE_SHAPES)
    n = _elements(size)
    cols = 1000 if n >= 10 ** 6 and n % 1000 == 0 else math.isqrt(n)
    if cols * (n // cols) != n:
        return [(n,)] if not matrix_only else [(1, n)]
    return [(n // cols, cols)]


# -- the worker: one framework, every spec and size -----------------------------------------

def _thread_env(threads: int) -> dict:
    n = str(threads)
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1:
        flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1",
            "XLA_FLAGS": flags.strip(), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _set_framework_threads(label: str, threads: int) -> None:
    if label in ("torch", "keras/torch"):
        import torch
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    if label in ("keras/tensorflow", "tf1", "tf_keras"):
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


class _RssPeak:
    """The growth of the resident set while the block runs, sampled every 0.2 ms."""

    def __init__(self):
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def __enter__(self):
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.0002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.extra = self.peak - self.base


def _tracemalloc_peak(step) -> int:
    import tracemalloc
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = step()
        peak = tracemalloc.get_traced_memory()[1] - base
        del out
    finally:
        tracemalloc.stop()
    return peak


def _best_of(step, repeat: int) -> tuple[float, float]:
    """The least wall time and the least process CPU time over ``repeat`` calls, and more
    calls (up to 20) while they add up to less than 50 ms: a short step is easily
    disturbed."""
    cpu = wall = math.inf
    spent, calls = 0.0, 0
    while calls < repeat or (spent < 0.05 and calls < 20):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        elapsed = time.perf_counter() - t0
        wall = min(wall, elapsed)
        cpu = min(cpu, time.process_time() - c0)
        spent += elapsed
        calls += 1
    return wall, cpu


def _measure(step, repeat: int, memory: str) -> Timing:
    """The memory of one step (``"tracemalloc"``; ``"rss"``: after a warm-up step, which
    may compile; ``"measured"``: the caller has it), then the best of ``repeat`` steps."""
    peak = None
    if memory == "tracemalloc":
        peak = _tracemalloc_peak(step)
    elif memory == "rss":
        step()
        with _RssPeak() as rss:
            step()
        peak = rss.extra
    wall, cpu = _best_of(step, repeat)
    return Timing(wall, cpu, None if peak is None else int(peak))


def _inputs(shapes, seed=0):
    from eps_ref.conformance.streams import gradient_stream, initial_params
    params = [initial_params(seed + i, shape=s) for i, s in enumerate(shapes)]
    grads = [gradient_stream(1, seed + i, shape=s)[0] for i, s in enumerate(shapes)]
    return params, grads


def _nbytes(tree) -> int:
    if isinstance(tree, dict):
        return sum(_nbytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_nbytes(v) for v in tree)
    return int(getattr(tree, "nbytes", 0)) if getattr(tree, "ndim", 0) else 0


def _copy_bandwidth(n: int, cache: dict) -> float:
    """Bytes per second of a NumPy float32 copy of ``n`` elements (read + write)."""
    if n not in cache:
        a = np.ones(n, np.float32)
        b = np.empty_like(a)
        cache[n] = 2 * a.nbytes / _best_of(lambda: np.copyto(b, a), 7)[0]
    return cache[n]


def _reference_step(name, backend, kwargs, params, grads, single):
    """``(step, state, peak)``: the reference's second step as a zero-argument call, the
    state it starts from, and the peak memory of the first step (``tracemalloc``)."""
    import eps_ref
    opt = eps_ref.optimizer(name, backend=backend, **kwargs)
    p = params[0] if single else params
    g = grads[0] if single else grads
    first = opt.init(p)
    box = {}
    peak = _tracemalloc_peak(lambda: box.setdefault("out", opt.step(p, g, first)))
    state = box.pop("out")[1]
    return (lambda: opt.step(p, g, state)), state, peak


def _native_steps(label, name, kwargs, params, grads):
    """``{implementation: zero-argument step}`` for a framework label (each built on its
    own copy of the parameters), or raises ImportError."""
    from eps_ref.backends import adapter
    if label == "torch":
        import torch
        cls = adapter("torch").resolve(name)

        def build(**extra):
            ps = [torch.nn.Parameter(torch.tensor(p)) for p in params]
            for p, g in zip(ps, grads):
                p.grad = torch.tensor(g)
            return cls(ps, **{**kwargs, **extra}).step
        return {"torch": lambda: build(), "torch foreach": lambda: build(foreach=True),
                "torch fused": lambda: build(fused=True)}
    if label.startswith("keras/"):
        import keras
        cls = adapter(label).resolve(name)

        def variables():
            vs = [keras.Variable(p) for p in params]
            opt = cls(**kwargs)
            opt.build(vs)
            return opt, vs, [keras.ops.convert_to_tensor(g) for g in grads]
        if label == "keras/tensorflow":
            import tensorflow as tf

            def build():
                opt, vs, gs = variables()
                return tf.function(lambda: opt.apply(gs, vs))
            return {"keras tf.function": build}
        if label == "keras/jax":
            import jax

            def build():
                opt, vs, gs = variables()
                state = {"t": [v.value for v in vs], "o": [v.value for v in opt.variables]}
                apply = jax.jit(opt.stateless_apply, donate_argnums=(0, 2))

                def step():
                    state["t"], state["o"] = apply(state["o"], gs, state["t"])
                    jax.block_until_ready(state["t"])
                return step
            return {"keras jax.jit": build}

        def build():
            opt, vs, gs = variables()
            return lambda: opt.apply(gs, vs)
        return {"keras eager": build}
    if label in ("tf1", "tf_keras"):
        import tensorflow as tf
        cls = adapter(label).resolve(name)

        def build():
            vs = [tf.Variable(p) for p in params]
            kw = dict(kwargs)
            step_var = None
            if "global_step" in kw:
                step_var = tf.Variable(int(kw["global_step"]), dtype=tf.int64)
                kw["global_step"] = step_var
            opt = cls(**kw)
            pairs = [(tf.constant(g), v) for g, v in zip(grads, vs)]
            if label == "tf1":
                return lambda: opt.apply_gradients(pairs, global_step=step_var)
            return lambda: opt.apply_gradients(pairs)
        return {f"{label} apply_gradients": build}
    if label == "optax":
        import jax
        import jax.numpy as jnp
        import optax
        factory = adapter("optax").resolve(name)

        def build(jit):
            tx = factory(**kwargs)

            def update(ps, st, gs):
                u, st = tx.update(gs, st, ps)
                return optax.apply_updates(ps, u), st
            fn = jax.jit(update, donate_argnums=(0, 1)) if jit else update
            gs = [jnp.asarray(g) for g in grads]
            state = {"p": [jnp.asarray(p) for p in params]}
            state["s"] = tx.init(state["p"])

            def step():
                state["p"], state["s"] = fn(state["p"], state["s"], gs)
                jax.block_until_ready(state["p"])
            return step
        return {"optax jit": lambda: build(True), "optax eager": lambda: build(False)}
    return {}


def _naive_formula(name, backend, kwargs, params, grads):
    """The textbook update of the spec's rule family in place on copies of the inputs (a
    zero-argument step), with the spec's hyperparameters; None for other families."""
    import eps_ref
    rk = eps_ref.optimizer(name, backend=backend, **kwargs).rule_kwargs
    rule = eps_ref.spec(name).rule.name
    lr = float(rk.get("lr", 1e-3) or 1e-3)
    b1, b2 = float(rk.get("beta1", 0.9)), float(rk.get("beta2", 0.999))
    eps = float(rk.get("eps", 1e-8) or 0.0)
    ps = [p.copy() for p in params]
    zeros = [[np.zeros_like(p) for p in ps] for _ in range(2)]
    tmp = [np.empty_like(p) for p in ps]

    def each(update):
        def step():
            for args in zip(ps, grads, *zeros, tmp):
                update(*args)
        return step

    if rule == "sgd":
        mu = float(rk.get("momentum", 0.0))

        def sgd(p, g, b, _, t):
            if mu:
                b *= mu
                b += g
                g = b
            np.multiply(g, lr, out=t)
            p -= t
        return each(sgd)
    if rule in ("adam", "nadam", "radam", "adabelief", "yogi"):
        def adam(p, g, m, v, t):
            m *= b1
            np.multiply(g, 1 - b1, out=t)
            m += t
            v *= b2
            np.multiply(g, g, out=t)
            t *= 1 - b2
            v += t
            np.sqrt(v, out=t)
            t += eps
            np.divide(m, t, out=t)
            t *= lr
            p -= t
        return each(adam)
    if rule in ("rmsprop", "adagrad"):
        rho = float(rk.get("decay", 1.0)) if rule == "rmsprop" else 1.0

        def rms(p, g, v, _, t):
            if rho != 1.0:
                v *= rho
            np.multiply(g, g, out=t)
            if rho != 1.0:
                t *= 1 - rho
            v += t
            np.sqrt(v, out=t)
            t += eps
            np.divide(g, t, out=t)
            t *= lr
            p -= t
        return each(rms)
    if rule == "adadelta":
        rho = float(rk.get("rho", 0.9))

        def adadelta(p, g, acc, acc_delta, t):
            acc *= rho
            np.multiply(g, g, out=t)
            t *= 1 - rho
            acc += t
            np.add(acc_delta, eps, out=t)
            np.sqrt(t, out=t)
            t *= g
            u = np.add(acc, eps)
            np.sqrt(u, out=u)
            t /= u
            acc_delta *= rho
            np.multiply(t, t, out=u)
            u *= 1 - rho
            acc_delta += u
            t *= lr
            p -= t
        return each(adadelta)
    if rule == "adamax":
        def adamax(p, g, m, u, t):
            m *= b1
            np.multiply(g, 1 - b1, out=t)
            m += t
            u *= b2
            np.abs(g, out=t)
            np.maximum(u, t, out=u)
            np.add(u, eps, out=t)
            np.divide(m, t, out=t)
            t *= lr
            p -= t
        return each(adamax)
    if rule == "lion":
        def lion(p, g, m, _, t):
            np.multiply(m, b1, out=t)
            t += (1 - b1) * g
            np.sign(t, out=t)
            t *= lr
            p -= t
            m *= b2
            m += (1 - b2) * g
        return each(lion)
    if rule in ("signsgd", "sign"):
        def sign(p, g, _, __, t):
            np.sign(g, out=t)
            t *= lr
            p -= t
        return each(sign)
    return None


def _worker(label: str, names: list[str], sizes: list[str], repeat: int, budget: float,
            threads: int) -> None:
    """Run in a worker process: print one JSON line per (spec, size)."""
    import eps_ref
    natives_ok, reason = True, ""
    if label != "reference":
        try:
            __import__({"torch": "torch", "tf1": "tensorflow", "tf_keras": "tf_keras",
                        "optax": "optax"}.get(label, "keras"))
            _set_framework_threads(label, threads)
        except Exception as e:                      # a broken install raises more
            natives_ok, reason = False, f"not installed: {type(e).__name__}: {e}"
    backend = label.split("/", 1)[1] if label.startswith("keras/") else None
    bandwidth: dict = {}
    last: dict = {}                  # (spec, implementation) -> (elements, seconds)
    for size in sorted(sizes, key=_elements):
        inputs: dict = {}            # one size's arrays at a time, shared by the specs
        for name in names:
            s = eps_ref.spec(name)
            kwargs = dict((s.variants or {}).get("defaults", {}))
            shapes = _shapes(size, matrix_only=s.rule.name == "muon")
            if tuple(shapes) not in inputs:
                inputs[tuple(shapes)] = _inputs(shapes)
            params, grads = inputs[tuple(shapes)]
            result = _bench_one(label, name, backend, kwargs, size, params, grads, repeat,
                                budget, last, bandwidth, natives_ok, reason)
            print(json.dumps(asdict(result)), flush=True)


def _without_compiled_kernels(step):
    from eps_ref.rules import _compiled
    before = os.environ.get(_compiled.ENV)
    os.environ[_compiled.ENV] = "0"
    try:
        return step()
    finally:
        if before is None:
            del os.environ[_compiled.ENV]
        else:
            os.environ[_compiled.ENV] = before


def _bench_one(label, name, backend, kwargs, size, params, grads, repeat, budget, last,
               bandwidth, natives_ok, reason) -> Result:
    """Every implementation of one spec at one size."""
    n = sum(p.size for p in params)
    result = Result(name, label, size, n)

    def run(impl, make, memory):
        prev = last.get((name, impl))
        if prev and prev[1] * n / prev[0] > budget:
            result.timings[impl] = asdict(Timing(note=(
                f"skipped: {prev[1] * n / prev[0]:.0f} s a step predicted")))
            return
        try:
            timing = _measure(make(), repeat, memory)
        except Exception as e:                       # unsupported keyword, kernel, shape
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            result.timings[impl] = asdict(Timing(note=f"{type(e).__name__}: {first[:120]}"))
            return
        last[(name, impl)] = (n, timing.seconds)
        result.timings[impl] = asdict(timing)

    state_holder = {}

    def make_reference():
        step, state, peak = _reference_step(name, backend, kwargs, params, grads,
                                            single=size != "tree")
        state_holder["state"], state_holder["peak"] = state, peak
        return step
    run("reference", make_reference, "measured")
    if "state" in state_holder:
        result.timings["reference"]["peak_bytes"] = int(state_holder["peak"])
        state_bytes = _nbytes(state_holder.pop("state"))
        result.param_bytes, result.state_bytes = sum(p.nbytes for p in params), state_bytes
        result.bytes_moved = 3 * result.param_bytes + 2 * state_bytes
        seconds = result.bytes_moved / _copy_bandwidth(n, bandwidth)
        result.timings["floor"] = asdict(Timing(seconds, seconds, 0,
                                                f"{result.bytes_moved / 1e6:.3g} MB"))
    from eps_ref.rules import _compiled
    if "peak" in state_holder and _compiled.enabled():
        def make_numpy_only():
            step = _reference_step(name, backend, kwargs, params, grads,
                                   single=size != "tree")[0]
            return lambda: _without_compiled_kernels(step)
        run("reference numpy", make_numpy_only, "tracemalloc")
    naive = _naive_formula(name, backend, kwargs, params, grads)
    if naive is not None:
        run("naive numpy", lambda: naive, "tracemalloc")
    if label != "reference":
        if not natives_ok:
            result.timings[DEFAULT_IMPL[label]] = asdict(Timing(note=reason))
        else:
            for impl, make in _native_steps(label, name, kwargs, params, grads).items():
                run(impl, make, "rss")
    return result


# -- the parent: one worker per label, progress, report -----------------------------------

def _labels_for(name: str) -> list[str]:
    import eps_ref
    framework = eps_ref.spec(name).framework
    return [label for label, (fw, _) in LABELS.items() if fw == framework]


def _ms(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _progress_line(r: Result) -> str:
    parts = []
    for impl, t in r.timings.items():
        if t.get("seconds") is None:
            continue
        parts.append(f"{impl} {_ms(t['seconds'])}")
    ratio = r.ratio()
    skipped = [f"{impl}: {t['note']}" for impl, t in r.timings.items()
               if t.get("seconds") is None and t.get("note")]
    text = f"{r.spec} [{r.label}] {r.size}: " + ", ".join(parts)
    if ratio:
        text += f"  -> reference / {r.default_impl} = {ratio:.2f}x"
    if skipped:
        text += "  (" + "; ".join(skipped) + ")"
    return text


def run(specs=None, sizes=SIZES, repeat: int = DEFAULT_REPEAT, budget: float = DEFAULT_BUDGET,
        threads: int = 1, frameworks=None, progress=print) -> list[Result]:
    """Bench ``specs`` (qualified names; default every optimizer spec) at ``sizes``, each
    framework in a worker process; returns the results (and prints progress)."""
    import eps_ref
    names = list(specs) if specs else eps_ref.specs(kind="optimizer")
    for name in names:
        if eps_ref.spec(name).kind != "optimizer":
            raise ValueError(f"eps-ref bench: {name} is not an optimizer spec")
    sizes = [parse_size(s) for s in sizes]
    by_label: dict[str, list[str]] = {}
    for name in names:
        for label in _labels_for(name):
            if frameworks and LABELS[label][0] not in frameworks:
                continue
            by_label.setdefault(label, []).append(name)
    results = []
    for label, label_names in by_label.items():
        progress(f"== {label}: {len(label_names)} specs, sizes {' '.join(sizes)}, "
                 f"{threads} thread{'s' if threads > 1 else ''}, best of {repeat}")
        env = {**os.environ, **_thread_env(threads), **LABELS[label][1]}
        args = json.dumps({"label": label, "names": label_names, "sizes": sizes,
                           "repeat": repeat, "budget": budget, "threads": threads})
        log = tempfile.TemporaryFile(mode="w+")     # a pipe could fill and stall the worker
        proc = subprocess.Popen([sys.executable, "-m", "eps_ref.bench", "--worker", args],
                                env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        seen = set()
        started = time.perf_counter()
        for line in proc.stdout:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue
            r = Result(**raw)
            seen.add((r.spec, r.size))
            results.append(r)
            progress("  " + _progress_line(r))
        progress(f"  ({label}: {time.perf_counter() - started:.0f} s)")
        failed = proc.wait() != 0
        log.seek(0)
        err = log.read()
        log.close()
        if failed:
            tail = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
            progress(f"  {label} worker failed: {tail}")
            for name in label_names:
                for size in sizes:
                    if (name, size) not in seen:
                        results.append(Result(name, label, size, _elements(size), timings={
                            "reference": asdict(Timing(note=f"worker failed: {tail}"))}))
    return results


# -- report -----------------------------------------------------------------------------------

def _mb(b) -> str:
    return "-" if b is None else f"{b / 1e6:.3g}"


def markdown(results: list[Result], sizes=None) -> str:
    """Tables per size: the reference, the framework's default step and the ratio, the
    other framework steps, the naive formula and the floor, with peak extra memory (MB)."""
    sizes = sizes or sorted({r.size for r in results}, key=_elements)
    lines = []
    for size in sizes:
        rows = [r for r in results if r.size == size]
        if not rows:
            continue
        n = rows[0].elements
        lines += [f"### {size} ({n:,} float32 elements{', 25 tensors' if size == 'tree' else ''})",
                  "",
                  "| spec | backend | reference | MB | framework default | MB | ratio | "
                  "reference numpy | other framework steps | naive numpy | floor |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            ref = r.timings.get("reference", {})
            base = r.timings.get(r.default_impl or "", {})
            others = [f"{impl} {_ms(t.get('seconds'))}" for impl, t in r.timings.items()
                      if impl not in ("reference", r.default_impl, "naive numpy", "floor",
                                      "reference numpy")
                      and t.get("seconds") is not None]
            notes = [f"{impl}: {t['note']}" for impl, t in r.timings.items()
                     if t.get("seconds") is None and t.get("note")]
            ratio = r.ratio()
            lines.append(
                f"| `{r.spec}` | {r.label} | {_ms(ref.get('seconds'))} | "
                f"{_mb(ref.get('peak_bytes'))} | {_ms(base.get('seconds'))} | "
                f"{_mb(base.get('peak_bytes'))} | {f'{ratio:.2f}x' if ratio else '-'} | "
                f"{_ms(r.seconds('reference numpy'))} | {', '.join(others + notes) or '-'} | "
                f"{_ms(r.seconds('naive numpy'))} | {_ms(r.seconds('floor'))} |")
        lines.append("")
    return "\n".join(lines)


def plot(results: list[Result], path) -> bool:
    """Reference / framework default step per spec and backend at each size (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = sorted({r.size for r in results}, key=_elements)
    keys = sorted({(r.spec, r.label) for r in results if r.ratio()})
    if not keys:
        return False
    last = sizes[-1]
    order = {k: next((r.ratio() for r in results if (r.spec, r.label) == k and r.size == last
                      and r.ratio()), 0.0) for k in keys}
    keys.sort(key=lambda k: order[k])
    fig, ax = plt.subplots(figsize=(max(10, 0.13 * len(keys)), 6))
    for size, marker in zip(sizes, "o^sDv"):
        xs, ys = [], []
        for i, k in enumerate(keys):
            ratio = next((r.ratio() for r in results if (r.spec, r.label) == k
                          and r.size == size), None)
            if ratio:
                xs.append(i)
                ys.append(ratio)
        ax.scatter(xs, ys, s=14, marker=marker, label=size)
    ax.axhline(2.0, color="k", lw=0.8, ls="--")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_yscale("log")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{s} [{lab}]" for s, lab in keys], rotation=90, fontsize=5)
    ax.set_ylabel("reference step / framework default step")
    ax.set_title("eps_ref reference step over the framework's own CPU step "
                 "(dashed: 2x), single thread")
    ax.legend(title="size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write(results: list[Result], out_dir, header: str = "") -> Path:
    """``bench.json``, ``bench.md`` and ``bench.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    drawn = plot(results, out / "bench.png")
    text = header + ("![ratios](bench.png)\n\n" if drawn else "") + markdown(results)
    (out / "bench.md").write_text(text)
    return out


# Where a rule family has no naive formula to compare with: what its reference emulates
# beyond the elementwise arithmetic (the measured cost is in the tables).
FAMILY_NOTES = {
    "adafactor": "the factored moments' row and column means, summed in the kernel's order",
    "adafactor_optax": "the factored moments' means as XLA:CPU's YNNPACK kernels sum them",
    "adafactor_torch": "the factored moments' row and column sums in ATen's order",
    "ftrl": "pow(n, -p) as the framework's pow kernel computes it (Eigen, SLEEF or glibc)",
    "lamb": "two norms per tensor summed in the kernel's order, and pow as the kernel has it",
    "lars": "two norms per tensor summed in XLA:CPU's order",
    "fromage": "two norms per tensor summed in XLA:CPU's order",
    "novograd": "a norm per tensor summed in XLA:CPU's order",
    "sm3": "the row and column maxima of the accumulators",
    "muon": "the Newton-Schulz matrix products with each kernel's summation order, product by "
            "product (no BLAS call sums in the framework's order)",
}


def _over_target(results, sizes):
    rows = [r for r in results if r.size in sizes and r.ratio() and r.ratio() > TARGET]
    return sorted(rows, key=lambda r: -r.ratio())


def _why(r: Result) -> str:
    """What the measurements say about a step over the target."""
    import eps_ref
    base = r.seconds(r.default_impl or "")
    naive, numpy_only, ref = r.seconds("naive numpy"), r.seconds("reference numpy"), \
        r.seconds("reference")
    parts = []
    if naive and base:
        parts.append(f"the in-place NumPy formula alone: {naive / base:.2f}x the framework, "
                     f"the reference {ref / naive:.2f}x the formula")
    else:
        note = FAMILY_NOTES.get(eps_ref.spec(r.spec).rule.name)
        if note:
            parts.append(note)
    if numpy_only and ref:
        parts.append(f"without the compiled kernels {numpy_only / ref:.1f}x slower")
    return "; ".join(parts)


def document(results: list[Result], *, command: str, seconds: float, host: str = "") -> str:
    """``docs/performance.md``: the targets (which steps meet them, and what the
    measurements say about the others), peak memory, then every table."""
    from eps_ref.rules import _compiled
    sizes = sorted({r.size for r in results}, key=_elements)
    target_sizes = [z for z in ("1e6", "1e7") if z in sizes]
    rated = [r for r in results if r.size in target_sizes and r.ratio()]
    within = [r for r in rated if r.ratio() <= TARGET]
    lines = [
        "# Performance: the reference step next to the frameworks' own",
        "",
        f"Generated by `{command}` ({seconds / 60:.0f} min){' on ' + host if host else ''}; "
        f"compiled kernels (numba, the `fast` extra): "
        f"{'on' if _compiled.enabled() else 'off'}. Every time is the least wall time of "
        "several steps on one thread (`eps_ref/bench.py` says how each is taken); the ratio "
        "is the reference step over the framework's own default CPU step (torch's "
        "single-tensor `step()`, Keras `apply` under `tf.function` and `jax.jit`, eager "
        "on torch, TF1 and tf_keras `apply_gradients`, optax jitted). *reference numpy* is "
        "the reference without the compiled kernels; *naive numpy* the textbook formula of "
        "the rule in place (`out=`), no emulated kernel; *floor* the bytes a step must "
        "read and write at the bandwidth of a NumPy copy.",
        "",
        "![reference step over the framework's step](performance.png)",
        "",
        "## Targets",
        "",
        f"- Speed: {len(within)} of {len(rated)} spec/backend steps at "
        f"{' and '.join(target_sizes) or 'no target size'} are within {TARGET:g}x of the "
        "framework's default step. The others, with what the measurements say:",
        "",
        "| spec | backend | size | reference | framework | ratio | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in _over_target(results, target_sizes):
        lines.append(f"| `{r.spec}` | {r.label} | {r.size} | {_ms(r.seconds('reference'))} | "
                     f"{_ms(r.seconds(r.default_impl or ''))} | {r.ratio():.2f}x | {_why(r)} |")
    heavy = []
    measured = 0
    for r in results:
        peak = (r.timings.get("reference") or {}).get("peak_bytes")
        held = r.param_bytes + r.state_bytes
        if peak is None or not held or r.label not in ("reference", *DEFAULT_IMPL):
            continue
        measured += 1
        if peak > MEMORY_TARGET * held:
            heavy.append((peak / held, r))
    lines += [
        "",
        f"- Memory: {measured - len(heavy)} of {measured} reference steps allocate at most "
        f"{MEMORY_TARGET:g}x the bytes of their parameters and state on top of their inputs "
        "(`tracemalloc`'s peak). The others:",
        "",
        "| spec | backend | size | peak extra / (params + state) |",
        "|---|---|---|---|",
    ]
    for factor, r in sorted(heavy, key=lambda x: -x[0]):
        lines.append(f"| `{r.spec}` | {r.label} | {r.size} | {factor:.1f} |")
    lines += ["", "## Where the time goes", ""]
    for size in target_sizes:
        rows = [r for r in results if r.size == size]
        ref_naive = _median(r.seconds("reference") / r.seconds("naive numpy") for r in rows
                            if r.seconds("reference") and r.seconds("naive numpy"))
        naive_base = _median(r.seconds("naive numpy") / r.seconds(r.default_impl or "")
                             for r in rows
                             if r.seconds("naive numpy") and r.seconds(r.default_impl or ""))
        gains = sorted(r.seconds("reference numpy") / r.seconds("reference") for r in rows
                       if r.seconds("reference numpy") and r.seconds("reference"))
        compiled = [x for x in gains if x > 1.1]
        parts = []
        if ref_naive:
            parts.append(f"the reference takes {ref_naive:.2f}x the in-place NumPy formula")
        if naive_base:
            parts.append(f"the formula {naive_base:.2f}x the framework's step")
        if compiled:
            parts.append(f"the compiled kernels make {len(compiled)} of {len(gains)} "
                         f"reference steps more than 1.1x faster, by {_median(compiled):.1f}x "
                         f"(median; up to {compiled[-1]:.0f}x)")
        if parts:
            lines.append(f"- {size} (medians over the steps measured): " + "; ".join(parts)
                         + ".")
    lines += [
        "",
        "The reference is written once in the Array API: each operation of a rule is a pass "
        "over the arrays with a new result, where a framework's fused kernel (XLA's jitted "
        "loop, torch's `fused=True`, a `tf.function`'s Eigen expression) makes one pass; "
        "the emulated kernels (FMA, the RSQRTPS-based roots, the pow kernels, the "
        "reductions in the framework's order) add to that, and the compiled kernels take "
        "most of their cost away.",
        "", "## Every step", "", markdown(results)]
    return "\n".join(lines)


def _median(values) -> float | None:
    values = sorted(values)
    return values[len(values) // 2] if values else None


def write_document(results: list[Result], path, *, command: str, seconds: float) -> Path:
    """The document at ``path``, its plot and its data beside it (``.png``, ``.json``)."""
    from eps_ref.conformance import host
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    text = document(results, command=command, seconds=seconds, host=host.describe())
    if not plot(results, path.with_suffix(".png")):
        text = text.replace("![reference step over the framework's step](performance.png)\n\n",
                            "")
    path.write_text(text.replace("](performance.png)", f"]({path.stem}.png)") + "\n")
    return path


def load(path) -> list[Result]:
    return [Result(**raw) for raw in json.loads(Path(path).read_text())]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--worker":
    _args = json.loads(sys.argv[2])
    _worker(_args["label"], _args["names"], _args["sizes"], _args["repeat"], _args["budget"],
            _args["threads"])

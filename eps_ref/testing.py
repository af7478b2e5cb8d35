r"""The oracle for your own code: run an optimizer and a spec's reference on the same
gradient streams and say, step by step and regime by regime, where they differ.

    from eps_ref import testing
    result = testing.compare(MyAdam(), "torch.optim.Adam", lr=1e-3)
    result.max_ulp, result.first_divergent_step, result.where, result.ulp_per_step
    print(result)                                        # the per-step, per-regime report
    testing.assert_conforms(MyAdam(), "torch.optim.Adam", budget_ulp=0, lr=1e-3)

A *candidate* is any of:

- an object with ``init(params) -> state`` and ``step(params, grads, state) -> (params,
  state)``, called with NumPy float32 arrays (or a dict tree of them) and returning
  anything ``numpy.asarray`` converts, of the same shape and dtype (an
  :class:`eps_ref.Optimizer` is one);
- a native optimizer, run in this process by the adapters of :mod:`eps_ref.backends`: a
  ``torch.optim.Optimizer`` class (built with its defaults) or a factory ``params ->
  torch.optim.Optimizer`` (``lambda ps: torch.optim.Adam(ps, lr=3e-4)``), an
  ``optax.GradientTransformation`` (stepped eagerly), or a ``keras.optimizers.Optimizer``
  instance (a fresh copy, ``from_config(get_config())``, is built on each stream, eagerly,
  under the backend Keras was imported with; the reference then reproduces that backend's
  kernels);
- a recorded trajectory: a :class:`Recording` (``params0``, ``grads``, and ``trajectory``,
  the params after each step), the path of an ``.npz`` file holding those three arrays
  (:meth:`Recording.load`), or a bare array of the params after each step of the
  conformance stream (:func:`conformance_stream` with ``seed=0`` at the array's shape).

The streams are the conformance suite's (:mod:`eps_ref.conformance.streams`): the
``"standard"`` stream mixes five regimes in one tensor (:data:`REGIMES`: ordinary
gradients, gradients far below eps, exact zeros, spikes, sign flips) and the
``"eps-dominated"`` stream has every gradient around 1e-10. Distances are float32 ULPs on
the bit patterns (:func:`eps_ref.ulp_distance`); the verdict is ``max_ulp <= budget_ulp``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from eps_ref.conformance.streams import SHAPE, gradient_stream, initial_params, regime_indices
from eps_ref.ulp import ulp_distance

__all__ = ["compare", "assert_conforms", "record", "conformance_stream", "Recording", "Stream",
           "CompareResult", "StreamResult", "RegimeResult", "Divergence", "CandidateError",
           "DEFAULT_STEPS", "STREAMS", "REGIMES", "TREE_SHAPES"]

DEFAULT_STEPS = 100
"""Steps of each stream :func:`compare` runs by default (the conformance suite runs 1000)."""

STREAMS = ("standard", "eps-dominated")
"""The built-in streams: the conformance stream (every regime) and the eps-dominated one."""

REGIMES = {
    "ordinary": "N(0, 1) gradients scaled between 1e-3 and 1",
    "tiny": "gradients around 1e-10, far below eps",
    "zero": "exact zeros at every step",
    "spike": "small gradients with rare spikes of 1e3",
    "flip": "magnitude 0.5, the sign alternating every step",
}
"""The regimes of the conformance stream (:mod:`eps_ref.conformance.streams`), in words."""

TREE_SHAPES = {"kernel": (4, 16), "bias": (64,)}
"""A small parameter tree (``shape=TREE_SHAPES``): a matrix and a vector, each leaf with
every regime."""

PER_STEP_ROWS = 8
"""Divergent steps the report lists, from the first one."""

_NAN_ULP = np.iinfo(np.int64).max


class CandidateError(RuntimeError):
    """The candidate failed while it ran: it raised (the cause is chained), or returned
    something other than parameters of the structure, shape and dtype it was given. The
    message names the stream and the step (0: ``init``)."""


# -- streams -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stream:
    """Initial parameters and the gradients of each step: ``params0`` is one float32 array
    (``grads`` then has shape ``(steps, *params0.shape)``) or a dict tree of them (``grads``
    a dict of such streams). ``regimes[leaf][regime]`` holds each regime's flat element
    indices (``leaf`` is None for one array); None where the stream is not a built-in one."""

    label: str
    params0: Any
    grads: Any
    regimes: Mapping[str | None, Mapping[str, np.ndarray]] | None = field(default=None,
                                                                         repr=False)

    @property
    def steps(self) -> int:
        g = self.grads
        return len(next(iter(g.values())) if isinstance(g, Mapping) else g)


def conformance_stream(steps: int = DEFAULT_STEPS, shape=SHAPE, seed: int = 0,
                       kind: str = "standard") -> Stream:
    """The stream ``kind`` (one of :data:`STREAMS`) of ``steps`` float32 gradients on
    parameters of ``shape`` (a tuple, or a dict name -> tuple for a tree; default the
    conformance tensor, 4x16). A tree's leaf ``i`` is drawn with seed ``seed + i``; the
    initial parameters are :func:`~eps_ref.conformance.streams.initial_params` (every ninth
    exactly zero)."""
    _check_positive_int("steps", steps)
    if kind not in STREAMS:
        raise ValueError(f"unknown stream {kind!r}; the built-in streams are {list(STREAMS)}")
    if isinstance(shape, Mapping):
        if not shape:
            raise ValueError("shape: a tree needs at least one leaf")
        parts = {k: conformance_stream(steps, s, seed + i, kind) for i, (k, s)
                 in enumerate(shape.items())}
        return Stream(kind, {k: p.params0 for k, p in parts.items()},
                      {k: p.grads for k, p in parts.items()},
                      {k: p.regimes[None] for k, p in parts.items()})
    shape = _check_shape(shape)
    if kind == "standard":
        grads, regimes = gradient_stream(steps, seed, shape), regime_indices(shape)
    else:
        from eps_ref.port import eps_dominated_stream
        grads = eps_dominated_stream(steps, seed, shape)
        regimes = {"tiny": np.arange(int(np.prod(shape)))}
    return Stream(kind, initial_params(seed, shape), grads, {None: regimes})


def _check_positive_int(what: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")


def _check_shape(shape) -> tuple[int, ...]:
    try:
        out = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of sizes (or a dict of them for a tree), "
                        f"got {shape!r}") from None
    if not out or min(out) < 1 or any(int(d) != d for d in shape):
        raise ValueError(f"shape must be positive sizes, got {shape!r}")
    return out


# -- recorded trajectories -----------------------------------------------------------------

@dataclass(frozen=True)
class Recording:
    """A trajectory recorded outside eps_ref: ``params0`` (the initial float32 parameters),
    ``grads`` (shape ``(T, *params0.shape)``: the gradient of each step) and ``trajectory``
    (shape ``(T, *params0.shape)``: the parameters after each step, ``trajectory[t-1]``
    after step ``t``). One array each; saved as an ``.npz`` with those three keys."""

    params0: np.ndarray
    grads: np.ndarray
    trajectory: np.ndarray

    KEYS = ("params0", "grads", "trajectory")

    def __post_init__(self):
        arrays = _checked_arrays("recording", self.params0, self.grads, self.trajectory)
        for k, a in zip(self.KEYS, arrays):
            object.__setattr__(self, k, a)

    @property
    def steps(self) -> int:
        return len(self.grads)

    @classmethod
    def load(cls, path) -> "Recording":
        """Read an ``.npz`` with the keys ``params0``, ``grads`` and ``trajectory``."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such recording: {path}")
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
        except (OSError, EOFError, ValueError) as e:   # not an .npz, or a truncated one
            raise ValueError(f"{path}: not a readable .npz file ({e})") from None
        with data:
            missing = [k for k in cls.KEYS if k not in data.files]
            if missing:
                raise ValueError(f"{path}: missing array(s) {missing}; a recording holds "
                                 f"{list(cls.KEYS)}, it has {sorted(data.files)}")
            arrays = {k: data[k] for k in cls.KEYS}
        return cls(**arrays)

    def save(self, path) -> None:
        """Write the three arrays to ``path`` (``numpy.savez``)."""
        np.savez(path, params0=self.params0, grads=self.grads, trajectory=self.trajectory)

    def stream(self) -> Stream:
        """The recording's stream; its regimes are known when it is the conformance stream
        (``seed=0``) at the recording's shape."""
        known = conformance_stream(self.steps, self.params0.shape)
        same = (self.params0.dtype == np.float32 and np.array_equal(known.params0, self.params0)
                and np.array_equal(known.grads, self.grads))
        return Stream("recorded" if not same else "standard (recorded)", self.params0,
                      self.grads, known.regimes if same else None)


def _checked_arrays(what: str, params0, grads, trajectory=None) -> list[np.ndarray]:
    """``params0`` one float array, ``grads`` ``(steps, *params0.shape)`` of its dtype, and
    ``trajectory`` (if given) of the shape of ``grads``: else a clear error."""
    named = {"params0": params0, "grads": grads}
    if trajectory is not None:
        named["trajectory"] = trajectory
    arrays = {}
    for k, v in named.items():
        a = np.asarray(v)
        if a.dtype.kind != "f":
            raise TypeError(f"{what}: {k} must be floating point, got dtype {a.dtype}")
        arrays[k] = a
    dtypes = {k: str(a.dtype) for k, a in arrays.items()}
    if len(set(dtypes.values())) != 1:
        raise TypeError(f"{what}: {', '.join(arrays)} must share one float dtype, got {dtypes}")
    p, g = arrays["params0"], arrays["grads"]
    if p.ndim == 0 or p.size == 0:
        raise ValueError(f"{what}: params0 must be a non-empty array, got shape {p.shape}")
    if g.ndim != p.ndim + 1 or g.shape[1:] != p.shape or len(g) < 1:
        raise ValueError(f"{what}: grads must have shape (steps, *{p.shape}) for params0 of "
                         f"shape {p.shape}, got {g.shape}")
    if trajectory is not None:
        tr = arrays["trajectory"]
        if tr.shape != g.shape:
            hint = (": the params after each step, without params0"
                    if tr.shape == (len(g) + 1, *p.shape) else "")
            raise ValueError(f"{what}: trajectory must have the shape of grads, {g.shape}"
                             f"{hint}; got {tr.shape}")
    return list(arrays.values())


def _as_recording(candidate) -> Recording | None:
    if isinstance(candidate, Recording):
        return candidate
    if isinstance(candidate, (str, os.PathLike)):
        return Recording.load(candidate)
    if isinstance(candidate, Mapping) and set(Recording.KEYS) <= set(candidate):
        return Recording(*(candidate[k] for k in Recording.KEYS))
    if isinstance(candidate, np.ndarray):
        if candidate.ndim < 2 or candidate.dtype != np.float32:
            raise ValueError("a bare array candidate is the float32 params after each step of "
                             f"the conformance stream, shape (steps, *shape); got "
                             f"{candidate.dtype} {candidate.shape}")
        s = conformance_stream(len(candidate), candidate.shape[1:])
        return Recording(s.params0, s.grads, candidate)
    return None


# -- running a candidate -------------------------------------------------------------------

@dataclass(frozen=True)
class _Runner:
    description: str
    run: Callable[[Stream], Any]          # stream -> trajectory (steps + 1, ...)
    framework: str | None = None          # a native candidate's framework
    backend: str | None = None            # Keras: the backend it runs under


def _describe(candidate) -> str:
    """A short name for a candidate in messages and reports."""
    spec = getattr(candidate, "spec", None)
    if hasattr(candidate, "hyperparams") and hasattr(spec, "name"):
        given = "".join(f", {k}={v!r}" for k, v in candidate.hyperparams.items()
                        if not _same_value(v, spec.defaults.get(k)))
        return f"eps_ref.optimizer({spec.name!r}{given})"
    if isinstance(candidate, type):
        return candidate.__qualname__
    if callable(candidate) and hasattr(candidate, "__name__"):
        return candidate.__name__
    return type(candidate).__qualname__


def _same_value(a, b) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return a is b


ACCEPTED = ("an object with init(params) -> state and step(params, grads, state) -> "
            "(params, state); a torch.optim.Optimizer class or a factory params -> "
            "torch.optim.Optimizer; an optax.GradientTransformation; a "
            "keras.optimizers.Optimizer instance; or a recorded trajectory (a "
            "testing.Recording, an .npz path, or an array of the params after each step)")


def _runner(candidate) -> _Runner:
    """How to run ``candidate`` on a stream (see the module docstring)."""
    optax = sys.modules.get("optax")
    if optax is not None and isinstance(candidate, optax.GradientTransformation):
        return _Runner("optax.GradientTransformation", _native("optax", candidate), "optax")
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(candidate, keras.optimizers.Optimizer):
        def fresh():
            return type(candidate).from_config(candidate.get_config())
        return _Runner(f"keras.optimizers.{type(candidate).__name__}",
                       _native("keras", fresh), "keras", keras.backend.backend())
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(candidate, type) \
            and issubclass(candidate, torch.optim.Optimizer):
        return _Runner(f"{candidate.__module__}.{candidate.__qualname__}",
                       _native("torch", candidate), "torch")
    if torch is not None and isinstance(candidate, torch.optim.Optimizer):
        raise TypeError(f"candidate is a {type(candidate).__name__} bound to its own "
                        "parameters; pass the class or a factory instead "
                        f"(lambda params: torch.optim.{type(candidate).__name__}(params, ...))")
    if isinstance(candidate, type):
        raise TypeError(f"candidate is the class {candidate.__qualname__}; pass an instance "
                        f"({candidate.__qualname__}(...)). A candidate is {ACCEPTED}")
    if callable(getattr(candidate, "init", None)) and callable(getattr(candidate, "step", None)):
        return _Runner(_describe(candidate), lambda stream: _run_stepper(candidate, stream))
    if callable(candidate):
        try:
            import torch  # noqa: F811
        except ImportError:
            raise TypeError(f"candidate {_describe(candidate)} is a callable: that is a "
                            "torch optimizer factory, and torch is not importable. A "
                            f"candidate is {ACCEPTED}") from None
        return _Runner(_describe(candidate), _native("torch", candidate), "torch")
    raise TypeError(f"candidate {_describe(candidate)} has no init/step; a candidate is "
                    f"{ACCEPTED}")


def _native(framework: str, make) -> Callable[[Stream], Any]:
    """Run a native optimizer through ``eps_ref.backends.<framework>.run_native``."""
    def run(stream: Stream):
        import importlib
        from eps_ref.backends import StepError
        adapter = importlib.import_module(f"eps_ref.backends.{framework}")
        built = make() if framework == "keras" else make
        try:
            trajectory = adapter.run_native(built, stream.params0, stream.grads)
        except StepError as e:
            cause = e.__cause__
            raise CandidateError(f"the {framework} candidate raised at step {e.step} of the "
                                 f"{stream.label} stream: {type(cause).__name__}: "
                                 f"{cause}") from cause
        except Exception as e:
            raise CandidateError(f"the {framework} candidate could not be built or run on "
                                 f"the {stream.label} stream (step 0): {type(e).__name__}: "
                                 f"{e}") from e
        return trajectory
    return run


def _copy(tree):
    if isinstance(tree, Mapping):
        return {k: np.array(v, copy=True) for k, v in tree.items()}
    return np.array(tree, copy=True)


def _run_stepper(candidate, stream: Stream):
    """``init`` then ``step`` per gradient, checking what comes back; the trajectory."""
    who = _describe(candidate)
    try:
        state = candidate.init(_copy(stream.params0))
    except Exception as e:
        raise CandidateError(f"{who}.init(params) raised on the {stream.label} stream "
                             f"(step 0): {type(e).__name__}: {e}") from e
    tree = isinstance(stream.params0, Mapping)
    params, out = stream.params0, [stream.params0]
    for t in range(1, stream.steps + 1):
        grads = ({k: np.array(g[t - 1]) for k, g in stream.grads.items()} if tree
                 else np.array(stream.grads[t - 1]))
        try:
            result = candidate.step(_copy(params), grads, state)
        except Exception as e:
            raise CandidateError(f"{who}.step raised at step {t} of the {stream.label} "
                                 f"stream: {type(e).__name__}: {e}") from e
        if not (isinstance(result, tuple) and len(result) == 2):
            raise CandidateError(f"{who}.step(params, grads, state) must return (params, "
                                 f"state); at step {t} of the {stream.label} stream it "
                                 f"returned {type(result).__name__}")
        new, state = result
        params = _check_returned(new, stream.params0, f"{who}.step at step {t} of the "
                                                      f"{stream.label} stream")
        out.append(params)
    if tree:
        return {k: np.stack([p[k] for p in out]) for k in stream.params0}
    return np.stack(out)


def _check_returned(new, like, where: str):
    if isinstance(like, Mapping):
        if not isinstance(new, Mapping) or set(new) != set(like):
            got = sorted(new) if isinstance(new, Mapping) else type(new).__name__
            raise CandidateError(f"{where} returned params {got}; expected a dict with the "
                                 f"keys {list(like)}")
        return {k: _check_returned(new[k], like[k], f"{where}, leaf {k!r}") for k in like}
    try:
        a = np.array(new, copy=True)
    except Exception as e:
        raise CandidateError(f"{where} returned params that are not an array "
                             f"({type(new).__name__}: {e})") from e
    if a.shape != like.shape:
        raise CandidateError(f"{where} returned params of shape {a.shape}; the parameter "
                             f"has shape {like.shape}")
    if a.dtype != like.dtype:
        raise CandidateError(f"{where} returned {a.dtype} params; the parameter is "
                             f"{like.dtype} (the reference computes in the params' dtype)")
    return a


def record(candidate, steps: int = DEFAULT_STEPS, shape=SHAPE, seed: int = 0,
           kind: str = "standard") -> Recording:
    """Run ``candidate`` on :func:`conformance_stream` and keep what it did, as a
    :class:`Recording` (``.save("mine.npz")`` for ``eps-ref explain mine.npz``)."""
    if isinstance(shape, Mapping):
        raise ValueError("a recording holds one parameter array; give shape as a tuple")
    stream = conformance_stream(steps, shape, seed, kind)
    trajectory = _runner(candidate).run(stream)
    return Recording(stream.params0, stream.grads, np.asarray(trajectory)[1:])


# -- the result ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Divergence:
    """One element at one step: where it is (``leaf`` of a tree, ``index`` in the leaf,
    the stream's ``regime`` there), the reference's and the candidate's parameter after the
    step, the gradient of that step, and their distance in ULPs (``nan=True``: one side is
    NaN and the other is not)."""

    stream: str
    step: int
    leaf: str | None
    index: tuple[int, ...]
    regime: str | None
    reference: float
    candidate: float
    grad: float
    ulp: int

    @property
    def nan(self) -> bool:
        return self.ulp == _NAN_ULP

    def describe(self) -> str:
        where = (f"leaf {self.leaf!r} " if self.leaf is not None else "") + \
            f"element {list(self.index)}"
        regime = (f" (regime {self.regime}: {REGIMES.get(self.regime, self.regime)})"
                  if self.regime else "")
        return (f"step {self.step} of the {self.stream} stream, {where}{regime}: reference "
                f"{_f(self.reference)}, candidate {_f(self.candidate)}, gradient "
                f"{_f(self.grad)} ({_ulp_text(self.ulp)})")


@dataclass(frozen=True)
class RegimeResult:
    """One regime of one stream: its element count, largest ULP distance, first step with
    any distance (None: never)."""

    elements: int
    max_ulp: int
    first_divergent_step: int | None


@dataclass(frozen=True)
class StreamResult:
    """The comparison on one stream. ``ulp_per_step[t]`` is the largest ULP distance over
    every element after step ``t`` (``t = 0``: the initial parameters)."""

    stream: str
    steps: int
    ulp_per_step: np.ndarray
    regimes: Mapping[str, RegimeResult]
    reference: Any = field(repr=False)      # (steps + 1, ...) trajectories, or dicts of them
    candidate: Any = field(repr=False)
    grads: Any = field(repr=False)
    _layout: tuple = field(repr=False, default=())

    @property
    def max_ulp(self) -> int:
        return int(self.ulp_per_step.max())

    @property
    def first_divergent_step(self) -> int | None:
        d = np.flatnonzero(self.ulp_per_step > 0)
        return int(d[0]) if len(d) else None

    @property
    def divergent_steps(self) -> int:
        return int(np.count_nonzero(self.ulp_per_step))

    @property
    def scale_ulp(self) -> float:
        """The distance in ULPs of each element's scale over the first
        :data:`~eps_ref.port.VERIFY_STEPS` steps (:func:`eps_ref.port.scale_ulp`: it does
        not explode where a parameter passes through zero, as the ULP count does)."""
        from eps_ref.port import VERIFY_STEPS, scale_ulp
        ref, cand = self._layout[0], self._layout[1]
        return scale_ulp(ref[:VERIFY_STEPS + 1], cand[:VERIFY_STEPS + 1])

    def at(self, step: int) -> Divergence:
        """The element that differs most after ``step`` (the first such, in flat order)."""
        ref, cand, grads, leaves, regimes = self._layout
        d = ulp_distance(ref[step], cand[step])
        j = int(np.argmax(d))
        leaf_i = int(np.searchsorted(leaves[1], j, side="right")) - 1
        name, shape = leaves[0][leaf_i]
        local = j - leaves[1][leaf_i]
        return Divergence(self.stream, step, name, tuple(int(i) for i in
                                                         np.unravel_index(local, shape)),
                          regimes[j] if regimes is not None else None,
                          float(ref[step, j]), float(cand[step, j]),
                          float(grads[step - 1, j]) if step >= 1 else float("nan"), int(d[j]))

    @property
    def first(self) -> Divergence | None:
        """The worst element at the first divergent step."""
        t = self.first_divergent_step
        return None if t is None else self.at(t)

    @property
    def worst(self) -> Divergence | None:
        """The element and step of the largest distance (the first such step)."""
        return None if not self.max_ulp else self.at(int(np.argmax(self.ulp_per_step)))


def _flat_layout(reference, candidate, grads, regimes):
    """Every leaf's trajectories side by side, ``(steps + 1, elements)``, with what maps a
    flat element back to its leaf, index and regime."""
    names = list(reference) if isinstance(reference, Mapping) else [None]
    pick = (lambda tree, k: tree[k]) if names != [None] else (lambda tree, k: tree)
    refs = [np.asarray(pick(reference, k)) for k in names]
    shapes = [r.shape[1:] for r in refs]
    flat = lambda tree: np.concatenate([np.asarray(pick(tree, k)).reshape(  # noqa: E731
        len(np.asarray(pick(tree, k))), -1) for k in names], axis=1)
    offsets = np.cumsum([0] + [int(np.prod(s)) for s in shapes])[:-1]
    labels = None
    if regimes is not None:
        labels = np.empty(int(sum(np.prod(s) for s in shapes)), dtype=object)
        for k, off in zip(names, offsets):
            for regime, idx in regimes[k].items():
                labels[off + idx] = regime
    return (flat(reference), flat(candidate), flat(grads), (list(zip(names, shapes)),
                                                            offsets), labels)


def _stream_result(stream: Stream, reference, candidate) -> StreamResult:
    layout = _flat_layout(reference, candidate, stream.grads, stream.regimes)
    ref, cand, _, _, labels = layout
    d = ulp_distance(ref, cand)
    per_step = d.max(axis=1)
    regimes = {}
    if labels is not None:
        for regime in REGIMES:
            cols = np.flatnonzero(labels == regime)
            if not len(cols):
                continue
            r = d[:, cols].max(axis=1)
            first = np.flatnonzero(r > 0)
            regimes[regime] = RegimeResult(len(cols), int(r.max()),
                                           int(first[0]) if len(first) else None)
    return StreamResult(stream.label, stream.steps, per_step, regimes, reference, candidate,
                        stream.grads, layout)


@dataclass(frozen=True)
class CompareResult:
    """A candidate against the reference of ``spec(**kwargs)`` on each stream.

    ``max_ulp`` and ``first_divergent_step`` are over every stream; ``ulp_per_step`` maps
    each stream to its per-step maximum; ``where`` is the worst element at the earliest
    divergent step; ``passed`` is ``max_ulp <= budget_ulp``; ``str()`` is the report."""

    spec: str
    kwargs: Mapping[str, Any]
    candidate: str
    budget_ulp: int
    streams: tuple[StreamResult, ...]
    backend: str | None = None

    @property
    def max_ulp(self) -> int:
        return max(s.max_ulp for s in self.streams)

    @property
    def first_divergent_step(self) -> int | None:
        steps = [s.first_divergent_step for s in self.streams
                 if s.first_divergent_step is not None]
        return min(steps) if steps else None

    @property
    def ulp_per_step(self) -> dict[str, np.ndarray]:
        return {s.stream: s.ulp_per_step for s in self.streams}

    @property
    def where(self) -> Divergence | None:
        diverged = [s for s in self.streams if s.first_divergent_step is not None]
        if not diverged:
            return None
        return min(diverged, key=lambda s: s.first_divergent_step).first

    @property
    def passed(self) -> bool:
        return self.max_ulp <= self.budget_ulp

    @property
    def scale_ulp(self) -> float:
        """The largest :attr:`StreamResult.scale_ulp` of the streams."""
        return max(s.scale_ulp for s in self.streams)

    @property
    def same_math(self) -> bool:
        """Whether the candidate differs from the reference by rounding only, as
        :func:`eps_ref.explain` decides it: within :data:`~eps_ref.port.SAME_MATH_ULP`
        ULPs of each element's scale over the first 50 steps."""
        from eps_ref.port import SAME_MATH_ULP
        return self.scale_ulp <= SAME_MATH_ULP

    def call(self) -> str:
        """The reference, as it is built: ``torch.optim.Adam(lr=0.001)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        backend = f" [backend {self.backend}]" if self.backend else ""
        return f"{self.spec}({args}){backend}"

    def to_json(self) -> dict:
        from eps_ref.port import _jsonable
        where = self.where
        return {"spec": self.spec, "kwargs": _jsonable(dict(self.kwargs)),
                "backend": self.backend, "candidate": self.candidate,
                "budget_ulp": self.budget_ulp, "passed": self.passed,
                "max_ulp": _json_ulp(self.max_ulp), "scale_ulp": _jsonable(self.scale_ulp),
                "same_math": self.same_math,
                "first_divergent_step": self.first_divergent_step,
                "where": None if where is None else _jsonable({
                    **where.__dict__, "index": list(where.index), "ulp": _json_ulp(where.ulp)}),
                "streams": [{"stream": s.stream, "steps": s.steps,
                             "max_ulp": _json_ulp(s.max_ulp),
                             "first_divergent_step": s.first_divergent_step,
                             "ulp_per_step": [_json_ulp(int(u)) for u in s.ulp_per_step],
                             "regimes": {k: {**r.__dict__, "max_ulp": _json_ulp(r.max_ulp)}
                                         for k, r in s.regimes.items()}}
                            for s in self.streams]}

    def __str__(self) -> str:
        return report(self)

    def __repr__(self) -> str:
        return (f"<CompareResult {self.candidate} against {self.call()}: max_ulp="
                f"{_ulp_cell(self.max_ulp)}, first_divergent_step={self.first_divergent_step}"
                f", budget_ulp={self.budget_ulp}>")


def _json_ulp(u: int):
    return "nan" if u == _NAN_ULP else int(u)


def _f(x: float) -> str:
    return str(np.float32(x)) if np.isfinite(x) or np.isnan(x) else str(x)


def _ulp_text(u: int) -> str:
    return "NaN against a number" if u == _NAN_ULP else f"{u} ULP"


def report(result: CompareResult) -> str:
    """``str(result)``: the verdict, where it first differs, the per-regime table and the
    per-step diff of each stream that differs."""
    streams = ", ".join(f"{s.steps} steps of the {s.stream} stream" for s in result.streams)
    if result.max_ulp == 0:
        verdict = "bit-exact"
    elif result.passed:
        verdict = f"within budget: {_ulp_text(result.max_ulp)} <= {result.budget_ulp}"
    else:
        verdict = (f"DIFFERS: {_ulp_text(result.max_ulp)} (budget {result.budget_ulp}), "
                   f"first at step {result.first_divergent_step}")
    lines = [f"{result.candidate} against {result.call()}: {verdict}", f"  over {streams}"]
    if result.max_ulp:
        from eps_ref.port import SAME_MATH_ULP, VERIFY_STEPS
        kind = ("the same math, rounded differently" if result.same_math
                else "not the same math: another formula or constant")
        lines.append(f"  {result.scale_ulp:.3g} ULPs of each element's scale over the first "
                     f"{VERIFY_STEPS} steps ({kind}; rounding alone stays within "
                     f"{SAME_MATH_ULP})")
    where = result.where
    if where is not None:
        lines += ["", f"First divergence: {where.describe()}"]
    rows = [("stream", "regime", "elements", "max ULP", "first divergent step")]
    for s in result.streams:
        for regime, r in (s.regimes or {}).items():
            rows.append((s.stream, regime, str(r.elements), _ulp_cell(r.max_ulp),
                         _step_cell(r.first_divergent_step)))
        if not s.regimes:
            rows.append((s.stream, "(all)", str(s._layout[0].shape[1]), _ulp_cell(s.max_ulp),
                         _step_cell(s.first_divergent_step)))
    lines += [""] + _table(rows)
    for s in result.streams:
        first = s.first_divergent_step
        if first is None:
            continue
        tree = isinstance(s.reference, Mapping)
        head = ("step", "max ULP") + (("leaf",) if tree else ()) + (
            "element", "regime", "reference", "candidate", "gradient")
        rows = [head]
        listed = [t for t in range(first, s.steps + 1) if s.ulp_per_step[t]][:PER_STEP_ROWS]
        for t in listed:
            d = s.at(t)
            rows.append((str(t), _ulp_cell(d.ulp)) + ((str(d.leaf),) if tree else ()) + (
                str(list(d.index)), d.regime or "-", _f(d.reference), _f(d.candidate),
                _f(d.grad)))
        more = s.divergent_steps - len(listed)
        lines += ["", f"Per-step diff, {s.stream} stream (the element that differs most at "
                      f"each step; {s.divergent_steps} of {s.steps} steps differ):"]
        lines += _table(rows)
        if more:
            lines.append(f"  ... and {more} more steps")
    return "\n".join(lines) + "\n"


def _ulp_cell(u: int) -> str:
    return "NaN" if u == _NAN_ULP else str(u)


def _step_cell(t) -> str:
    return "-" if t is None else str(t)


def _table(rows) -> list[str]:
    """Rows of cells as aligned text; the columns of numbers right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = [all(_is_numeric(r[i]) for r in rows[1:]) for i in range(len(widths))]
    return ["  " + "  ".join(c.rjust(w) if num else c.ljust(w)
                             for c, w, num in zip(r, widths, numeric)).rstrip() for r in rows]


def _is_numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell in ("-", "NaN")
    return True


# -- the entry points ----------------------------------------------------------------------

_OBSERVERS: list[Callable[[CompareResult], None]] = []
"""Called with every result :func:`compare` returns (the pytest plugin's report)."""


def compare(candidate, name: str, *, steps: int | None = None, shape=None, streams=None,
            seed: int = 0, backend: str | None = None, threads: int = 1,
            budget_ulp: int = 0, **kwargs) -> CompareResult:
    """Run ``candidate`` and the reference of spec ``name(**kwargs)`` (the framework's own
    keywords and defaults) on the same streams; compare them step by step.

    Args:
        candidate: what to check (see the module docstring).
        name: a qualified optimizer spec name (``"torch.optim.Adam"``).
        steps: steps of each stream (default :data:`DEFAULT_STEPS`); with a recording, the
            first ``steps`` of it (default all).
        shape: the parameter shape (default the conformance tensor, 4x16), or a dict name
            -> shape for a parameter tree (:data:`TREE_SHAPES`).
        streams: names from :data:`STREAMS` (default both), or a dict label -> ``(params0,
            grads)`` of your own streams. A recording brings its own stream.
        seed: the streams' seed (default 0).
        backend, threads: as for :func:`eps_ref.optimizer` (which Keras backend's kernels,
            the intra-op thread count); a Keras candidate's backend by default.
        budget_ulp: the largest ULP distance that passes (default 0: bit-exact).
        kwargs: the spec's keywords.

    Raises ``KeyError`` (an unknown spec, with the nearest name), ``TypeError`` (a
    candidate of no known kind, an unknown keyword), ``ValueError`` (bad steps, shapes or
    streams; a recording whose arrays do not fit), :class:`CandidateError` (the candidate
    raised or returned something else than its params, with the stream and step). A NaN
    is not an error: it is a divergence, reported with its step.
    """
    import eps_ref
    from eps_ref.conformance.runner import reference_trajectory
    if not isinstance(budget_ulp, (int, np.integer)) or isinstance(budget_ulp, bool) \
            or budget_ulp < 0:
        raise ValueError(f"budget_ulp must be an int >= 0, got {budget_ulp!r}")
    recording = _as_recording(candidate)
    runner = None if recording is not None else _runner(candidate)
    s = eps_ref.spec(name)
    if backend is None and runner is not None and runner.framework == s.framework:
        backend = runner.backend
    eps_ref.optimizer(name, backend=backend, threads=threads, **kwargs)   # validates
    if recording is not None:
        if streams is not None or shape is not None:
            raise ValueError("a recording brings its own stream: give neither streams nor "
                             "shape")
        if steps is not None:
            _check_positive_int("steps", steps)
            if steps > recording.steps:
                raise ValueError(f"steps={steps}, but the recording has {recording.steps}")
            recording = Recording(recording.params0, recording.grads[:steps],
                                  recording.trajectory[:steps])
        stream = recording.stream()
        trajectory = np.concatenate([recording.params0[None], recording.trajectory])
        runs = [(stream, trajectory)]
        description = "the recording"
    else:
        selected = _streams(streams, DEFAULT_STEPS if steps is None else steps,
                            SHAPE if shape is None else shape, seed)
        runs = [(st, runner.run(st)) for st in selected]
        description = runner.description
    label = f"{s.framework}/{backend}" if backend else None
    results = []
    for stream, trajectory in runs:
        reference = reference_trajectory(name, dict(kwargs), stream.params0, stream.grads,
                                         label, threads=threads)
        if isinstance(reference, Mapping):
            trajectory = {k: np.asarray(trajectory[k]) for k in reference}
        results.append(_stream_result(stream, reference, trajectory))
    result = CompareResult(name, dict(kwargs), description, int(budget_ulp), tuple(results),
                           backend)
    for observe in _OBSERVERS:
        observe(result)
    return result


def _streams(streams, steps, shape, seed) -> list[Stream]:
    if streams is None:
        streams = STREAMS
    if isinstance(streams, str):
        streams = (streams,)
    if isinstance(streams, Mapping):
        out = []
        for label, pair in streams.items():
            try:
                params0, grads = pair
            except (TypeError, ValueError):
                raise ValueError(f"streams[{label!r}] must be a pair (params0, grads)") from None
            out.append(_custom_stream(str(label), params0, grads))
        if not out:
            raise ValueError("streams: give at least one stream")
        return out
    streams = list(streams)
    unknown = [k for k in streams if k not in STREAMS]
    if unknown or not streams:
        import difflib
        close = difflib.get_close_matches(str(unknown[0]), STREAMS, n=1) if unknown else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown stream {unknown[0] if unknown else None!r}{hint}; the "
                         f"built-in streams are {list(STREAMS)}, or give a dict label -> "
                         "(params0, grads)")
    return [conformance_stream(steps, shape, seed, k) for k in streams]


def _custom_stream(label: str, params0, grads) -> Stream:
    if isinstance(params0, Mapping):
        if not isinstance(grads, Mapping) or list(grads) != list(params0):
            raise ValueError(f"stream {label!r}: grads must be a dict with params0's keys")
        parts = {k: _custom_stream(f"{label}[{k}]", params0[k], grads[k]) for k in params0}
        steps = {p.steps for p in parts.values()}
        if len(steps) != 1:
            raise ValueError(f"stream {label!r}: every leaf needs the same number of steps, "
                             f"got {sorted(steps)}")
        return Stream(label, {k: p.params0 for k, p in parts.items()},
                      {k: p.grads for k, p in parts.items()})
    params0, grads = _checked_arrays(f"stream {label!r}", params0, grads)
    return Stream(label, params0, grads)


def assert_conforms(candidate, name: str, budget_ulp: int = 0, **kwargs) -> CompareResult:
    """:func:`compare`, then raise ``AssertionError`` with the report unless the largest
    ULP distance is within ``budget_ulp`` (default 0: bit-exact). Returns the result."""
    __tracebackhide__ = True    # pytest shows the failure at the caller's line
    result = compare(candidate, name, budget_ulp=budget_ulp, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result

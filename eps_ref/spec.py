"""Specs: one framework's optimizer, as data, and the registry of all of them.

A :class:`Spec` ties a qualified framework name (``"torch.optim.Adam"``) to a rule from
:mod:`eps_ref.rules`, the framework's exact keyword defaults, and a ``bind`` function that turns
the framework's keywords into the rule's keywords (hyperparameters and semantic switches).
Dialect modules in :mod:`eps_ref.frameworks` build specs with :func:`register`; nothing here
imports a framework.
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from array_api_compat import array_namespace

from eps_ref._frozen import freeze
from eps_ref._host import host_route, to_numpy
from eps_ref._tree import flatten, structure_error
from eps_ref.rules import Rule

__all__ = [
    "Spec", "Budget", "REQUIRED", "Optimizer", "register", "spec", "specs", "optimizer",
    "GradientTransform", "Clip", "Chain", "clip", "chain", "register_base_options",
    "register_tree_semantics",
    "unsupported", "check_number", "check_nonnegative", "check_beta",
]


@dataclass(frozen=True)
class Spec:
    """One framework optimizer, as the framework defines it.

    Attributes:
        name: qualified name in the framework's own spelling (``"keras.optimizers.Adam"``).
        framework: the dialect (``"torch"``, ``"keras"``, ``"tf1"``, ``"optax"``, ...).
        version: the framework version the table was read from.
        defaults: every keyword of the framework signature with its exact default.
        rule: what it runs: the update :class:`~eps_ref.rules.Rule` of an optimizer, the
            layer rule of a layer, the :class:`GradientTransform` of a clip.
        bind: framework keywords -> rule keywords; raises for unsupported values.
        reference: the framework source that fixes the semantics.
        inert: keywords accepted because they do not change the math.
        variants: named keyword sets worth checking against the framework; ``"defaults"``
            comes first (holding the required keywords, if any). Conformance cases, the
            docs and the tests are generated from them.
        budgets: declared per-step ULP budgets, keyed by backend label (``"torch"``,
            ``"keras/jax"``, ...) or ``"<backend>:<variant>"``; absent means 0 ULP.
        backend_semantics: for a framework that runs on several backends with different
            kernels (Keras 3), backend label -> function from the rule keywords to the rule
            keywords that reproduce that backend (``"keras/torch"``: torch foreach kernels).
        kind: ``"optimizer"``, ``"layer"`` or ``"clip"`` (a gradient transform run in
            front of an optimizer with :func:`chain`).
        var_keywords: keywords the framework takes through ``**kwargs`` rather than its
            signature (legacy tf_keras' ``clipnorm``), each with its value when not given;
            accepted like ``defaults``, passed on only when given.
    """

    name: str
    framework: str
    version: str
    defaults: Mapping[str, Any]
    rule: Rule
    bind: Callable[..., dict]
    reference: str
    inert: frozenset = frozenset()
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budgets: Mapping[str, "Budget"] = field(default_factory=dict)
    backend_semantics: Mapping[str, Callable[[dict], dict]] = field(default_factory=dict)
    kind: str = "optimizer"
    doc: str = ""
    var_keywords: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        # Shared by every caller and the generated docs: read-only (eps_ref._frozen).
        for name in ("defaults", "variants", "budgets", "backend_semantics", "var_keywords"):
            object.__setattr__(self, name, freeze(getattr(self, name)))
        object.__setattr__(self, "inert", frozenset(self.inert))

    @property
    def semantics(self) -> Mapping[str, Any]:
        """The rule's keywords at the framework defaults: where eps sits, how momentum
        folds in the learning rate, ... (hyperparameter values included)."""
        example = {**self.defaults, **next(iter(self.variants.values()), {})}
        return freeze(self.bind(**example))

    def __call__(self, **kwargs) -> "Optimizer":
        return optimizer(self.name, **kwargs)


@dataclass(frozen=True)
class GradientTransform:
    """What a ``kind="clip"`` spec runs: ``apply(leaves, **kw) -> leaves``, a pure function
    of the whole gradient tree (its leaves in order), since a global norm needs every leaf."""

    name: str
    apply: Callable[..., list]


@dataclass(frozen=True)
class Budget:
    """A measured, explained exception to bit-exactness: at most ``ulp`` float32 ULPs
    between reference and framework at any step, because of ``reason``."""

    ulp: int
    reason: str


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()
"""Default of a keyword the framework signature requires (optax's ``learning_rate``)."""


_REGISTRY: dict[str, Spec] = {}


def register(spec_: Spec) -> Spec:
    if spec_.name in _REGISTRY:
        raise ValueError(f"spec {spec_.name!r} registered twice")
    _REGISTRY[spec_.name] = spec_
    return spec_


def _load_dialects() -> None:
    import eps_ref.frameworks  # noqa: F401  (registers every dialect)


def spec(name: str) -> Spec:
    """The :class:`Spec` for a qualified name, e.g. ``spec("keras.optimizers.RMSprop")``."""
    _load_dialects()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown spec {name!r}{hint} (eps_ref.specs() lists them all)") from None


def specs(framework: str | None = None, kind: str | None = None) -> list[str]:
    """All qualified names known, optionally only one dialect's or one kind's."""
    _load_dialects()
    if framework is not None and framework not in {s.framework for s in _REGISTRY.values()}:
        known = sorted({s.framework for s in _REGISTRY.values()})
        raise ValueError(f"unknown framework {framework!r}; known: {known}")
    return [n for n, s in _REGISTRY.items()
            if (framework is None or s.framework == framework)
            and (kind is None or s.kind == kind)]


BACKENDS = {"keras": ("tensorflow", "jax", "torch", "tensorflow-function")}
"""Frameworks that run on several backends; the first is the default. A backend's label
(the conformance suite's name for it) is ``"<framework>/<backend>"``."""

KEY_ORDER = {"optax": "sorted", "flax": "sorted"}
"""How a dialect orders the leaves of a dict tree (:func:`eps_ref._tree.flatten`); every
other dialect takes them in insertion order, as a parameter or variable list."""


def resolve_backend(s: "Spec", backend: str | None) -> str | None:
    """The backend named by ``backend`` for spec ``s``: ``"torch"`` (or its label
    ``"keras/torch"``, deprecated) for a Keras spec; ``None`` for the default."""
    if backend is None:
        return None
    if not isinstance(backend, str):
        raise TypeError(f"{s.name}: backend must be a string, got {type(backend).__name__}")
    known = BACKENDS.get(s.framework, ())
    prefix = f"{s.framework}/"
    if backend.startswith(prefix) and backend[len(prefix):] in known:
        import warnings
        warnings.warn(f"backend={backend!r} is the conformance label; spell it "
                      f"backend={backend[len(prefix):]!r}", DeprecationWarning, stacklevel=3)
        backend = backend[len(prefix):]
    if backend not in known:
        close = difflib.get_close_matches(backend, known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{s.name}: unknown backend {backend!r}{hint}; {s.framework} runs "
                         f"on {list(known) or 'no other backend'}")
    return backend


def check_threads(name: str, threads) -> int:
    """``threads``: the intra-op thread count of the framework run being reproduced, where
    a kernel's result depends on it (a reduction split over threads)."""
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"{name}: threads must be a positive int, got {threads!r}")
    return threads


def _accepts(function: Callable, keyword: str) -> bool:
    import inspect
    return keyword in inspect.signature(function).parameters


_BASE_OPTIONS: dict[str, Callable] = {}


def register_base_options(framework: str, build: Callable) -> None:
    """Attach a framework's base-optimizer logic to every spec of that framework.

    ``build(name, hyperparams, backend)`` returns ``None`` (nothing to do: the per-leaf
    rule is all) or an object with ``init(leaves) -> dict`` (extra state) and
    ``step(params, grads, state, update) -> (params, state)`` that runs around the rule,
    where ``update(params, grads, slots, t) -> (params, slots)`` steps every leaf (Keras 3:
    clipping, loss scaling, gradient accumulation, EMA; :mod:`eps_ref.rules.keras_base`).
    """
    _BASE_OPTIONS[framework] = build


_TREE_SEMANTICS: dict[str, Callable[[Mapping, int], Mapping]] = {}


def register_tree_semantics(framework: str, rewrite: Callable[[Mapping, int], Mapping]) -> None:
    """Declare that a framework's arithmetic depends on the parameter tree it runs on:
    ``rewrite(rule_kwargs, n_leaves)`` returns the rule keywords that reproduce a step over a
    tree of ``n_leaves`` leaves (optax: XLA compiles a ``jax.jit`` over the whole tree, and
    what it makes of a division depends on how many leaves share it). A ``rewrite`` that
    takes a ``shapes`` keyword is also given the leaves' shapes, in tree order (optax's
    ``partition`` runs its parts, such as Muon's matrices, on sub-trees of their own)."""
    _TREE_SEMANTICS[framework] = rewrite


def _hyperparams(s: Spec, kwargs: dict) -> dict:
    accepted = {**s.defaults, **s.var_keywords}
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, accepted, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"{s.name}() got an unexpected keyword argument {k!r}{hint}; "
                        f"it takes {sorted(accepted)}")
    hyperparams = {**s.defaults, **kwargs}
    missing = [k for k, v in hyperparams.items() if v is REQUIRED]
    if missing:
        raise TypeError(f"{s.name}() missing required keyword argument(s): {missing}")
    return hyperparams


def _check_kind(s: Spec, kind: str) -> None:
    if s.kind != kind:
        raise TypeError(f"{s.name} is a {s.kind}, not a{'n' if kind[0] in 'aeiou' else ''} "
                        f"{kind}; use eps_ref.{s.kind}()")


def optimizer(name: str, *, backend: str | None = None, threads: int = 1,
              **kwargs) -> "Optimizer":
    """Build the reference optimizer for a framework name with the framework's keywords.

    ``backend`` picks, for Keras 3, which backend's kernels to reproduce bit for bit
    (``"tensorflow"``, the default, ``"jax"`` or ``"torch"``); the math is the same.
    ``threads`` is the framework's intra-op thread count, for the kernels whose rounding
    depends on it (default 1).

    >>> opt = optimizer("torch.optim.Adam", lr=1e-3)
    >>> opt.hyperparams["eps"]
    1e-08
    """
    s = spec(name)
    _check_kind(s, "optimizer")
    backend = resolve_backend(s, backend)
    check_threads(name, threads)
    hyperparams = _hyperparams(s, kwargs)
    rule_kwargs = s.bind(**hyperparams)
    if backend is not None and f"{s.framework}/{backend}" in s.backend_semantics:
        rule_kwargs = s.backend_semantics[f"{s.framework}/{backend}"](rule_kwargs)
    if _accepts(s.rule.step, "threads"):
        rule_kwargs = {**rule_kwargs, "threads": threads}
    build = _BASE_OPTIONS.get(s.framework)
    default_backend = BACKENDS.get(s.framework, (None,))[0]
    base = None
    if build is not None:
        extra = {"threads": threads} if _accepts(build, "threads") else {}
        base = build(name, hyperparams, backend or default_backend, **extra)
    return Optimizer(s, hyperparams, rule_kwargs, base)


@dataclass(frozen=True)
class Optimizer:
    """A spec with its keywords fixed. Pure: ``init`` and ``step`` return new values.

    ``state`` is ``{"step": t, "slots": [per-leaf dict of arrays]}`` where ``t`` counts the
    steps taken; per-leaf slots are named as the framework names them where it can.
    ``base`` is the framework's base-optimizer logic around the rule (see
    :func:`register_base_options`), or ``None``; it may add entries to the state (Keras:
    ``"accumulated"``, ``"average"``) and then ``"step"`` counts calls, not rule steps.
    """

    spec: Spec
    hyperparams: Mapping[str, Any]
    rule_kwargs: Mapping[str, Any] = field(repr=False)
    base: Any = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "hyperparams", freeze(self.hyperparams))
        object.__setattr__(self, "rule_kwargs", freeze(self.rule_kwargs))

    @property
    def key_order(self) -> str:
        """How this dialect orders a dict tree's leaves (:data:`KEY_ORDER`)."""
        return KEY_ORDER.get(self.spec.framework, "insertion")

    def init(self, params: Any) -> dict:
        leaves, _ = flatten(params, self.key_order)
        for leaf in leaves:
            _check_float_array(leaf, "params")
        check_namespace(self.spec.name, leaves)
        back = host_route(leaves)
        if back is not None:
            return back(self.init(to_numpy(params)))
        kw = self.spec.rule.init_kwargs(self.rule_kwargs)
        state = {"step": 0, "slots": [self.spec.rule.init(p, **kw) for p in leaves]}
        if self.base is not None:
            state.update(self.base.init(leaves))
        return state

    def _update(self, params: list, grads: list, slots: list, t: int) -> tuple[list, list]:
        """The rule's step ``t`` on every leaf."""
        kw = self.rule_kwargs
        rewrite = _TREE_SEMANTICS.get(self.spec.framework)
        if rewrite is not None:
            kw = (rewrite(kw, len(params), shapes=[tuple(p.shape) for p in params])
                  if _accepts(rewrite, "shapes") else rewrite(kw, len(params)))
        new_p, new_slots = [], []
        for p, g, s in zip(params, grads, slots):
            p2, s2 = self.spec.rule.step(p, g, s, t=t, **kw)
            new_p.append(p2)
            new_slots.append(s2)
        return new_p, new_slots

    def step(self, params: Any, grads: Any, state: dict) -> tuple[Any, dict]:
        err = structure_error(params, grads)
        if err:
            raise ValueError(f"{self.spec.name}: grads do not match params {err}")
        p_leaves, unflatten = flatten(params, self.key_order)
        g_leaves, _ = flatten(grads, self.key_order)
        if not isinstance(state, dict) or len(state.get("slots", ())) != len(p_leaves):
            raise ValueError(f"{self.spec.name}: state does not belong to these params; "
                             "build it with init(params)")
        for i, (p, g) in enumerate(zip(p_leaves, g_leaves)):
            _check_float_array(p, "params")
            if tuple(p.shape) != tuple(g.shape):
                raise ValueError(f"{self.spec.name}: leaf {i}: grad shape {tuple(g.shape)} "
                                 f"!= param shape {tuple(p.shape)}")
            if p.dtype != g.dtype:
                raise TypeError(f"{self.spec.name}: leaf {i}: grad dtype {g.dtype} "
                                f"!= param dtype {p.dtype}")
        slot_arrays = [v for slots in state["slots"] for v in slots.values()
                       if hasattr(v, "shape")]
        check_namespace(self.spec.name, [*p_leaves, *g_leaves, *slot_arrays])
        back = host_route(p_leaves)
        if back is not None:
            return back(self.step(to_numpy(params), to_numpy(grads), to_numpy(state)))
        if self.base is not None:
            new_p, new_state = self.base.step(p_leaves, g_leaves, state, self._update)
            return unflatten(new_p), new_state
        t = state["step"] + 1
        new_p, new_slots = self._update(p_leaves, g_leaves, state["slots"], t)
        return unflatten(new_p), {"step": t, "slots": new_slots}


# -- gradient clipping in front of an optimizer -------------------------------------------

def clip(name: str, *, threads: int = 1, **kwargs) -> "Clip":
    """Build a gradient clip from its framework name and keywords, e.g.
    ``clip("torch.nn.utils.clip_grad_norm_", max_norm=1.0)`` or
    ``clip("optax.clip_by_global_norm", max_norm=1.0)``; run it with :func:`chain`.

    >>> c = clip("optax.clip", max_delta=0.5)
    >>> c.hyperparams["max_delta"]
    0.5
    """
    s = spec(name)
    _check_kind(s, "clip")
    check_threads(name, threads)
    hyperparams = _hyperparams(s, kwargs)
    transform_kwargs = s.bind(**hyperparams)
    if _accepts(s.rule.apply, "threads"):
        transform_kwargs = {**transform_kwargs, "threads": threads}
    return Clip(s, hyperparams, transform_kwargs)


@dataclass(frozen=True)
class Clip:
    """A clip spec with its keywords fixed; ``clip(grads)`` returns the clipped tree (pure)."""

    spec: Spec
    hyperparams: Mapping[str, Any]
    transform_kwargs: Mapping[str, Any] = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "hyperparams", freeze(self.hyperparams))
        object.__setattr__(self, "transform_kwargs", freeze(self.transform_kwargs))

    def apply_leaves(self, leaves: list) -> list:
        return self.spec.rule.apply(list(leaves), **self.transform_kwargs)

    def __call__(self, grads: Any) -> Any:
        leaves, unflatten = flatten(grads, KEY_ORDER.get(self.spec.framework, "insertion"))
        for leaf in leaves:
            _check_float_array(leaf, "grads")
        check_namespace(self.spec.name, leaves)
        back = host_route(leaves)
        if back is not None:
            return back(self(to_numpy(grads)))
        return unflatten(self.apply_leaves(leaves))


def chain(*parts) -> "Chain":
    """Clips, then an optimizer: ``chain(clip(...), ..., optimizer(...))``, as
    ``optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))`` or calling
    ``clip_grad_norm_`` before ``opt.step()`` in torch. Same ``init``/``step``/``spec``/
    ``hyperparams`` contract as :class:`Optimizer`; the state is the optimizer's."""
    if not parts:
        raise TypeError("chain() needs clips and then one optimizer")
    *clips, opt = parts
    if not isinstance(opt, (Optimizer, Chain)):
        raise TypeError("chain(): the last argument must be an optimizer "
                        f"(eps_ref.optimizer(...)), got {type(opt).__name__}")
    for c in clips:
        if not isinstance(c, Clip):
            raise TypeError("chain(): every argument before the optimizer must be a clip "
                            f"(eps_ref.clip(...)), got {type(c).__name__}")
    if isinstance(opt, Chain):
        clips, opt = [*clips, *opt.clips], opt.optimizer
    return Chain(tuple(clips), opt)


@dataclass(frozen=True)
class Chain:
    """Gradient clips applied in order, then an optimizer's step (see :func:`chain`)."""

    clips: tuple
    optimizer: Optimizer

    @property
    def spec(self) -> Spec:
        return self.optimizer.spec

    @property
    def hyperparams(self) -> Mapping[str, Any]:
        return self.optimizer.hyperparams

    def init(self, params: Any) -> dict:
        return self.optimizer.init(params)

    def step(self, params: Any, grads: Any, state: dict) -> tuple[Any, dict]:
        err = structure_error(params, grads)
        if err:
            raise ValueError(f"{self.spec.name}: grads do not match params {err}")
        leaves, unflatten = flatten(grads, self.optimizer.key_order)
        for leaf in leaves:
            _check_float_array(leaf, "grads")
        p_leaves, _ = flatten(params, self.optimizer.key_order)
        check_namespace(self.spec.name, [*p_leaves, *leaves])
        back = host_route(p_leaves)
        if back is not None:
            return back(self.step(to_numpy(params), to_numpy(grads), to_numpy(state)))
        for c in self.clips:
            leaves = c.apply_leaves(leaves)
        return self.optimizer.step(params, unflatten(leaves), state)


def check_namespace(name: str, arrays: list) -> None:
    """The arrays of one call come from one Array-API namespace, and the reference can
    compute exactly for it: on NumPy copies for JAX and torch CPU arrays
    (:mod:`eps_ref._host`), else in the namespace itself, which must then have float64
    (the float32 kernels are emulated exactly through float64 arithmetic; JAX on a GPU
    without ``jax_enable_x64`` silently gives float32)."""
    try:
        xp = array_namespace(*arrays)
    except TypeError as e:
        raise TypeError(f"{name}: params, grads and state must all come from one array "
                        f"namespace ({e})") from None
    if host_route(arrays) is None and not _has_float64(xp):
        hint = (" Enable it with jax.config.update('jax_enable_x64', True) before creating "
                "arrays." if "jax" in getattr(xp, "__name__", "") else "")
        raise TypeError(f"{name}: the reference needs float64 arithmetic to reproduce the "
                        f"frameworks' float32 kernels bit for bit, and "
                        f"{getattr(xp, '__name__', xp)} has float64 disabled.{hint}")


@functools.lru_cache(maxsize=None)
def _has_float64(xp) -> bool:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xp.asarray(0.0, dtype=xp.float64).dtype == xp.float64


def _check_float_array(x, what):
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        raise TypeError(f"{what} must be arrays (or list/tuple/dict trees of arrays), "
                        f"got {type(x).__name__}")
    if "float" not in str(dtype):
        raise TypeError(f"{what} must be real floating point, got dtype {dtype}")


# -- helpers for dialect tables -----------------------------------------------------------

def unsupported(name: str, keyword: str, value: Any) -> NotImplementedError:
    """The error for a keyword value that changes the math and is not modelled yet."""
    return NotImplementedError(
        f"{name}: {keyword}={value!r} is not supported by eps_ref yet "
        "(it changes the update and has no reference rule)")


def check_number(name: str, **values: Any) -> None:
    """Python numbers only: a schedule, callable or tensor changes the arithmetic and is
    not modelled (``unsupported``)."""
    for k, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise unsupported(name, k, v)


def check_nonnegative(name: str, **values: float) -> None:
    for k, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v) or v < 0:
            raise ValueError(f"{name}: invalid {k} {v!r}: must be a number >= 0")


def check_beta(name: str, **values: float) -> None:
    for k, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v < 1.0:
            raise ValueError(f"{name}: invalid {k} {v!r}: must be in [0, 1)")

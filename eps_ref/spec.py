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
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
from array_api_compat import array_namespace

from eps_ref._frozen import freeze
from eps_ref._host import _map as _map_arrays
from eps_ref._host import host_route, no_autograd, to_numpy
from eps_ref._versions import keras_backend, warn_if_mismatched
from eps_ref._state import check_leaf_steps, check_optimizer_state, check_slots
from eps_ref._tree import flatten, leaf_paths, structure_error
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
        kind: ``"optimizer"``, ``"layer"``, ``"clip"`` (a gradient transform run in
            front of an optimizer with :func:`chain`) or ``"schedule"`` (a learning-rate
            schedule, :func:`eps_ref.schedule`).
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


@dataclass(frozen=True)
class ScaleBudget(Budget):
    """A measured, explained budget of a compiled path, in float32 ULPs of each element's
    scale (:func:`eps_ref.ulp.scale_ulp`: the largest difference over the spacing of floats
    at the element's largest reference magnitude over the run), not ULPs of the value.
    A compiler's fused multiply-adds keep the rounding residue of ``p - lr*g`` where the
    parameter cancels to zero (8e-22 against 0.0 is 4.8e8 ULP, and 1e-7 units of a 1e-7
    parameter); the scale measures the same difference as the parameter sees it."""


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


TF_USE_LEGACY_KERAS = ("true", "True", "1")
"""The values of ``TF_USE_LEGACY_KERAS`` that make TensorFlow's ``tf.keras`` the legacy
``tf_keras`` (``tensorflow/python/util/lazy_loader.py``); otherwise, with Keras 3
installed, ``tf.keras`` is Keras 3."""


def _tf_keras_target(name: str) -> str:
    """What ``tf.keras.<rest>`` is in TensorFlow 2.21: ``keras.<rest>`` (Keras 3), or
    ``tf_keras.<rest>`` under ``TF_USE_LEGACY_KERAS``."""
    rest = name[len("tf.keras."):]
    if os.environ.get("TF_USE_LEGACY_KERAS") in TF_USE_LEGACY_KERAS:
        return "tf_keras." + rest
    if rest.startswith("optimizers.legacy."):
        raise KeyError(f"{name!r}: in TensorFlow 2.21 tf.keras is Keras 3, which has no "
                       f"optimizers.legacy; the legacy optimizer is 'tf_keras.{rest}' (and "
                       "with TF_USE_LEGACY_KERAS=1 tf.keras is tf_keras)")
    return "keras." + rest


def spec(name: str) -> Spec:
    """The :class:`Spec` for a qualified name, e.g. ``spec("keras.optimizers.RMSprop")``.

    ``tf.keras.*`` names are what ``tf.keras`` is in TensorFlow 2.21: Keras 3
    (``spec("tf.keras.optimizers.Adam")`` is ``keras.optimizers.Adam``), or legacy Keras 2
    (``tf_keras.*``) when ``TF_USE_LEGACY_KERAS`` is set, as TensorFlow decides."""
    _load_dialects()
    if isinstance(name, str) and name.startswith("tf.keras."):
        name = _tf_keras_target(name)
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
        close = difflib.get_close_matches(str(framework), known, n=1, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown framework {framework!r}{hint} (known: {known})")
    return [n for n, s in _REGISTRY.items()
            if (framework is None or s.framework == framework)
            and (kind is None or s.kind == kind)]


BACKENDS = {"keras": ("tensorflow", "jax", "torch", "tensorflow-function")}
"""Frameworks that run on several backends; the first is the default. A backend's label
(the conformance suite's name for it) is ``"<framework>/<backend>"``."""

KEY_ORDER = {"optax": "sorted", "flax": "sorted"}
"""How a dialect orders the leaves of a dict tree (:func:`eps_ref._tree.flatten`); every
other dialect takes them in insertion order, as a parameter or variable list."""


NONE_GRADS = {"torch": "per-leaf step", "keras": "global step", "tf_keras": "global step",
              "tf1": "global step", "paper": "global step", "optax": "refused",
              "flax": "refused"}
"""What a dialect does with a ``None`` gradient (a frozen parameter, a branch the loss did
not reach). ``"per-leaf step"``: skipped, the parameter and its slots unchanged, and its own
step count stays where it is (torch: ``_init_group`` takes only ``p.grad is not None``, and
each parameter keeps its ``state["step"]``); the state then carries ``"leaf_steps"``.
``"global step"``: skipped, but the optimizer's one step counter advances, and a call
without any gradient is an error (Keras 3 ``_filter_empty_gradients`` and ``iterations``;
tf_keras; ``tf.compat.v1`` ``apply_gradients`` with its shared beta powers). ``"refused"``:
a ``None`` leaf is an empty subtree in JAX, so the gradients would not match the
parameters (optax, flax); pass zeros (``optax.set_to_zero``, ``optax.masked``) instead."""

SHARED_SLOTS = {"keras": ("mu_product",), "tf_keras": ("mu_product",),
                "tf1": ("beta1_power", "beta2_power")}
"""Per-leaf slots that stand for one variable the framework shares across all parameters
and advances once a call, gradient or not (Keras' and tf_keras' Nadam ``_u_product``,
``tf.compat.v1`` Adam's ``beta1_power``/``beta2_power``, updated in ``_finish``): a leaf
skipped for a ``None`` gradient takes their new value from the leaves that stepped."""


def resolve_backend(s: "Spec", backend: str | None) -> str | None:
    """The backend named by ``backend`` for spec ``s``: ``"torch"`` (or its label
    ``"keras/torch"``, deprecated) for a Keras spec. With ``backend=None`` a Keras spec
    follows the backend Keras itself would run on (``KERAS_BACKEND``, ``keras.json``,
    else ``"tensorflow"``; :func:`eps_ref._versions.keras_backend`); ``None`` for a
    framework with one backend."""
    if backend is None:
        if s.framework != "keras":
            return None
        backend, source = keras_backend()
        if backend not in BACKENDS["keras"][:3]:
            raise ValueError(f"{s.name}: Keras would run on {backend!r} (from {source}); "
                             f"eps_ref reproduces Keras on {list(BACKENDS['keras'][:3])}: "
                             "pass backend=... to choose one")
        return backend
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


@functools.lru_cache(maxsize=None)
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
    kwargs = _python_numbers(s, kwargs)
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
        def article(word):
            return "an" if word[0] in "aeiou" else "a"
        raise TypeError(f"{s.name} is {article(s.kind)} {s.kind}, not {article(kind)} "
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
    name = s.name                     # tf.keras.* names resolve to keras.* (spec())
    _check_kind(s, "optimizer")
    from eps_ref.schedule import scheduled_keywords, scheduled_optimizer
    keywords = scheduled_keywords(kwargs)
    if keywords:                      # lr=eps_ref.schedule(...): re-read at every step
        return scheduled_optimizer(name, keywords, backend, threads, kwargs)
    warn_if_mismatched(s.framework, s.version)
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

    ``state`` is ``{"spec": name, "step": t, "slots": [per-leaf dict of arrays]}`` where
    ``t`` counts the steps taken and ``"spec"`` names the spec whose ``init`` built it;
    per-leaf slots are named as the framework names them where it can. ``base`` is the
    framework's base-optimizer logic around the rule (see :func:`register_base_options`),
    or ``None``; it may add entries to the state (Keras: ``"accumulated"``, ``"average"``)
    and then ``"step"`` counts calls, not rule steps. After a ``None`` gradient in torch
    the state also holds ``"leaf_steps"``, each parameter's own count (:data:`NONE_GRADS`).
    ``step`` checks the state against these params (:mod:`eps_ref._state`) and returns no
    array that shares memory with an input.
    """

    spec: Spec
    hyperparams: Mapping[str, Any]
    rule_kwargs: Mapping[str, Any] = field(repr=False)
    base: Any = field(default=None, repr=False)

    _init_kwargs: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "hyperparams", freeze(self.hyperparams))
        object.__setattr__(self, "rule_kwargs", freeze(self.rule_kwargs))
        object.__setattr__(self, "_init_kwargs",
                           freeze(self.spec.rule.init_kwargs(self.rule_kwargs)))

    @property
    def key_order(self) -> str:
        """How this dialect orders a dict tree's leaves (:data:`KEY_ORDER`)."""
        return KEY_ORDER.get(self.spec.framework, "insertion")

    def init(self, params: Any) -> dict:
        leaves, _ = flatten(params, self.key_order)
        for path, leaf in zip(leaf_paths(params, self.key_order), leaves):
            _check_float_array(leaf, f"{self.spec.name}: params{path}")
        check_namespace(self.spec.name, leaves)
        back = host_route(leaves)
        if back is not None:
            return back(self.init(to_numpy(params)))
        kw = self.spec.rule.init_kwargs(self.rule_kwargs)
        with no_autograd(leaves):
            state = {"spec": self.spec.name, "step": 0,
                     "slots": [self.spec.rule.init(p, **kw) for p in leaves]}
            if self.base is not None:
                state.update(self.base.init(leaves))
            return unaliased(state, leaves)

    def _update(self, params: list, grads: list, slots: list, t) -> tuple[list, list]:
        """The rule's step ``t`` (or ``t[i]`` on leaf ``i``) on every leaf; a leaf whose
        gradient is ``None`` comes back unchanged (copies: no output aliases an input)."""
        ts = t if isinstance(t, list) else [t] * len(params)
        if any(g is None for g in grads):
            return self._update_present(params, grads, slots, ts)
        kw = self.rule_kwargs
        rewrite = _TREE_SEMANTICS.get(self.spec.framework)
        if rewrite is not None:
            kw = (rewrite(kw, len(params), shapes=[tuple(p.shape) for p in params])
                  if _accepts(rewrite, "shapes") else rewrite(kw, len(params)))
        new_p, new_slots = [], []
        for p, g, s, t_leaf in zip(params, grads, slots, ts):
            p2, s2 = self.spec.rule.step(p, g, s, t=t_leaf, **kw)
            new_p.append(p2)
            new_slots.append(s2)
        return new_p, new_slots

    def _update_present(self, params, grads, slots, ts):
        """:meth:`_update` on the leaves that have a gradient, as the framework steps its
        list of parameters with gradients; the others are copied through."""
        present = [i for i, g in enumerate(grads) if g is not None]
        new_p = [_copy(p) for p in params]
        new_slots = [{k: _copy(v) for k, v in s.items()} for s in slots]
        stepped_p, stepped_slots = self._update([params[i] for i in present],
                                                [grads[i] for i in present],
                                                [slots[i] for i in present],
                                                [ts[i] for i in present])
        for i, p, s in zip(present, stepped_p, stepped_slots):
            new_p[i], new_slots[i] = p, s
        shared = SHARED_SLOTS.get(self.spec.framework, ()) if present else ()
        for i, slots in enumerate(new_slots):
            for k in shared:
                if k in slots and grads[i] is None:
                    value = stepped_slots[0][k]
                    slots[k] = array_namespace(value).astype(value, slots[k].dtype, copy=True)
        return new_p, new_slots

    @property
    def _extra_state(self) -> tuple:
        """The base optimizer's per-leaf state entries (Keras: ``"accumulated"``, ...)."""
        return () if self.base is None else tuple(self.base.init([]))

    def step(self, params: Any, grads: Any, state: dict) -> tuple[Any, dict]:
        err = structure_error(params, grads)
        if err:
            raise ValueError(f"{self.spec.name}: grads do not match params {err}")
        p_leaves, unflatten = flatten(params, self.key_order)
        g_leaves, _ = flatten(grads, self.key_order)
        paths = leaf_paths(params, self.key_order)
        extra = self._extra_state
        none_grads = NONE_GRADS.get(self.spec.framework, "refused")
        per_leaf = none_grads == "per-leaf step"
        check_optimizer_state(self.spec.name, state, paths, extra,
                              optional_keys=("spec", "leaf_steps") if per_leaf else ("spec",))
        self._check_owner(state.get("spec", self.spec.name))
        if per_leaf and "leaf_steps" in state:
            check_leaf_steps(self.spec.name, state["leaf_steps"], len(paths))
        missing = [path for path, g in zip(paths, g_leaves) if g is None]
        if missing:
            self._check_none_grads(missing, none_grads, len(paths))
        for path, p, g in zip(paths, p_leaves, g_leaves):
            _check_float_array(p, f"{self.spec.name}: params{path}")
            if g is None:
                continue
            _check_float_array(g, f"{self.spec.name}: grads{path}")
            if tuple(p.shape) != tuple(g.shape):
                raise ValueError(f"{self.spec.name}: grads{path} has shape {tuple(g.shape)}, "
                                 f"params{path} {tuple(p.shape)}")
        labelled = [*((f"params{q}", p) for q, p in zip(paths, p_leaves)),
                    *((f"grads{q}", g) for q, g in zip(paths, g_leaves) if g is not None),
                    *((f"state['slots'][{i}][{k!r}]", v)
                      for i, slots in enumerate(state["slots"])
                      for k, v in slots.items() if hasattr(v, "shape")),
                    *((f"state[{key!r}][{i}]", a) for key in extra
                      for i, a in enumerate(state[key]))]
        xp = check_namespace(self.spec.name, [a for _, a in labelled],
                             [label for label, _ in labelled])
        for path, p, g in zip(paths, p_leaves, g_leaves):
            if g is not None and p.dtype != g.dtype:
                raise TypeError(f"{self.spec.name}: grads{path} has dtype {g.dtype}, "
                                f"params{path} {p.dtype}")
        back = host_route(p_leaves)
        if back is not None:
            return back(self.step(to_numpy(params), to_numpy(grads), to_numpy(state)))
        with no_autograd(p_leaves):    # torch tensors computed on in place (a GPU)
            check_slots(self.spec.name, self.spec.rule, self._init_kwargs, xp, p_leaves, state,
                        paths, extra)
            if self.base is not None:
                new_p, new_state = self.base.step(p_leaves, g_leaves, state, self._update)
            else:
                t = int(state["step"]) + 1
                if per_leaf and (missing or "leaf_steps" in state):
                    counts = [int(n) for n in
                              state.get("leaf_steps", [state["step"]] * len(paths))]
                    counts = [n + (g is not None) for n, g in zip(counts, g_leaves)]
                    new_p, new_slots = self._update(p_leaves, g_leaves, state["slots"], counts)
                    new_state = {**state, "step": t, "slots": new_slots, "leaf_steps": counts}
                else:
                    new_p, new_slots = self._update(p_leaves, g_leaves, state["slots"], t)
                    new_state = {**state, "step": t, "slots": new_slots}
            new_p, new_state = unaliased((new_p, new_state), [*p_leaves, *g_leaves, state])
            return unflatten(new_p), new_state

    def _check_none_grads(self, missing: list, none_grads: str, n_leaves: int) -> None:
        name = self.spec.name
        if none_grads == "refused":
            raise TypeError(f"{name}: grads{missing[0]} is None; {self.spec.framework} has no "
                            "None gradients (a None leaf is an empty subtree in JAX, which "
                            "would not match the params): give zeros, or freeze the "
                            "parameter with optax.masked / optax.set_to_zero")
        if self.base is not None:
            raise NotImplementedError(
                f"{name}: grads{missing[0]} is None, with base-optimizer options "
                f"({type(self.base).__name__}): skipping a parameter under clipping, loss "
                "scaling, accumulation or EMA is not modelled; give zeros or drop the option")
        if none_grads == "global step" and len(missing) == n_leaves:
            raise ValueError(f"{name}: No gradients provided for any variable (every grad "
                             "is None), as the framework says")

    def _check_owner(self, owner: Any) -> None:
        """A state tagged ``"spec"`` by ``init`` steps with that spec, or with another of
        the same framework and rule (torch Adam's state in torch AdamW: the same slots,
        counted the same way); another framework's state does not (Keras counts steps
        and rounds its moments its own way, even where the slots are named alike)."""
        if owner == self.spec.name:
            return
        other = _REGISTRY.get(owner) if isinstance(owner, str) else None
        if other is None or other.framework != self.spec.framework \
                or other.rule.name != self.spec.rule.name:
            by = owner if isinstance(owner, str) else repr(owner)
            raise ValueError(f"{self.spec.name}: this state was built by {by}'s init(); "
                             f"build one with {self.spec.name}'s init(params)")


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
    name = s.name                     # tf.keras.* names resolve to keras.* (spec())
    _check_kind(s, "clip")
    warn_if_mismatched(s.framework, s.version)
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
            _check_float_array(leaf, f"{self.spec.name}: grads")
        check_namespace(self.spec.name, leaves)
        back = host_route(leaves)
        if back is not None:
            return back(self(to_numpy(grads)))
        with no_autograd(leaves):
            return unflatten(unaliased(self.apply_leaves(leaves), leaves))


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
        paths = leaf_paths(grads, self.optimizer.key_order)
        present = [i for i, leaf in enumerate(leaves) if leaf is not None]
        for i in present:
            _check_float_array(leaves[i], f"{self.spec.name}: grads{paths[i]}")
        p_leaves, _ = flatten(params, self.optimizer.key_order)
        check_namespace(self.spec.name, [*p_leaves, *(leaves[i] for i in present)],
                        [*(f"params{q}" for q in paths), *(f"grads{paths[i]}" for i in present)])
        back = host_route(p_leaves)
        if back is not None:
            return back(self.step(to_numpy(params), to_numpy(grads), to_numpy(state)))
        clipped = [leaves[i] for i in present]     # a clip sees the gradients there are
        with no_autograd(p_leaves):
            for c in self.clips if clipped else ():
                clipped = c.apply_leaves(clipped)
        for i, g in zip(present, clipped):
            leaves[i] = g
        return self.optimizer.step(params, unflatten(leaves), state)


def _buffer(x) -> int:
    """The identity of the memory an array views (NumPy: the root of its ``.base`` chain)."""
    while isinstance(getattr(x, "base", None), np.ndarray):
        x = x.base
    return id(x)


def unaliased(outputs: Any, inputs: Any) -> Any:
    """``outputs`` with every array that shares memory with an array of ``inputs`` (a
    parameter returned unchanged, a gradient kept as a slot) replaced by a copy, and every
    NumPy scalar (what NumPy makes of a 0-d result) by its 0-d array: no output of a pure
    step aliases an input. Identities only: no work per element but the copies."""
    held = {_buffer(a) for a in _leaf_arrays(inputs)}

    def own(x):
        if isinstance(x, np.generic):
            return np.asarray(x)
        return _copy(x) if _buffer(x) in held else x
    return _map_arrays(outputs, own)


def _leaf_arrays(tree) -> list:
    if isinstance(tree, dict):
        return [a for v in tree.values() for a in _leaf_arrays(v)]
    if isinstance(tree, (list, tuple)):
        return [a for v in tree for a in _leaf_arrays(v)]
    return [tree] if hasattr(tree, "shape") else []


def _copy(x):
    """A new array equal to ``x`` (any other value as it is)."""
    return array_namespace(x).asarray(x, copy=True) if hasattr(x, "shape") else x


def _namespace_name(x) -> str:
    try:
        name = array_namespace(x).__name__
    except TypeError:
        return type(x).__module__.split(".")[0] + "." + type(x).__name__
    return name.removeprefix("array_api_compat.")


def check_namespace(name: str, arrays: list, labels: list | None = None):
    """The arrays of one call come from one Array-API namespace, and the reference can
    compute exactly for it: on NumPy copies for JAX and torch CPU arrays
    (:mod:`eps_ref._host`), else in the namespace itself, which must then have float64
    (the float32 kernels are emulated exactly through float64 arithmetic; JAX on a GPU
    without ``jax_enable_x64`` silently gives float32). Returns the namespace; with
    ``labels`` (one per array) a mixture names two arrays of different namespaces."""
    try:
        xp = array_namespace(*arrays)
    except TypeError as e:
        if labels is not None:
            spaces = [_namespace_name(a) for a in arrays]
            first = next(i for i, ns in enumerate(spaces) if ns != spaces[0])
            raise TypeError(f"{name}: {labels[0]} is a {spaces[0]} array and "
                            f"{labels[first]} a {spaces[first]} array: params, grads and "
                            "state of one call must all come from one array namespace "
                            "(convert the odd one: torch.as_tensor(a), t.numpy(), "
                            "jnp.asarray(a))") from None
        raise TypeError(f"{name}: params, grads and state must all come from one array "
                        f"namespace ({e})") from None
    if host_route(arrays) is None and not _has_float64(xp):
        hint = (" Enable it with jax.config.update('jax_enable_x64', True) before creating "
                "arrays." if "jax" in getattr(xp, "__name__", "") else "")
        raise TypeError(f"{name}: the reference needs float64 arithmetic to reproduce the "
                        f"frameworks' float32 kernels bit for bit, and "
                        f"{getattr(xp, '__name__', xp)} has float64 disabled.{hint}")
    return xp


@functools.lru_cache(maxsize=None)
def _has_float64(xp) -> bool:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xp.asarray(0.0, dtype=xp.float64).dtype == xp.float64


SUPPORTED_DTYPES = ("float32", "float64")
"""The dtypes the reference computes in. float32 is what the conformance suite certifies
bit for bit against the frameworks; float64 runs the same rules in float64, uncertified
(torch's own float64 steps differ by 1 to 128 ULP in 100 steps for most specs). float16,
bfloat16 and the float8 types are refused: the frameworks compute them through their own
upcasts (torch's opmath type, Keras' and optax's dtype rules), which the rules do not model,
so a result would differ from the framework's (measured: torch RMSprop 2.9e-3 apart in
float16, 1-3 bfloat16 ULP for Adagrad) without saying so."""


@functools.lru_cache(maxsize=64)
def _dtype_problem(kind: type, dtype) -> str | None:
    """What is wrong with ``dtype`` (of type ``kind``: the cache never compares one
    library's dtype objects with another's), or ``None``."""
    name = str(dtype).rsplit(".", 1)[-1]
    if name in SUPPORTED_DTYPES:
        return None
    if "float" not in name:
        return f"must be real floating point, got dtype {dtype}"
    return (f"has dtype {dtype}: eps_ref computes in float32 (certified bit for bit against "
            f"the frameworks) and float64 only; {name} runs through each framework's own "
            "upcasts, which are not modelled. Cast to float32")


def _check_float_array(x, what):
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        raise TypeError(f"{what} must be arrays (or list/tuple/dict trees of arrays), "
                        f"got {type(x).__name__}")
    try:
        problem = _dtype_problem(type(dtype), dtype)
    except TypeError:                                   # an unhashable dtype object
        problem = _dtype_problem.__wrapped__(type(dtype), dtype)
    if problem:
        raise TypeError(f"{what} {problem}")


# -- helpers for dialect tables -----------------------------------------------------------

def unsupported(name: str, keyword: str, value: Any) -> NotImplementedError:
    """The error for a keyword value that changes the math and is not modelled yet."""
    return NotImplementedError(
        f"{name}: {keyword}={value!r} is not supported by eps_ref yet "
        "(it changes the update and has no reference rule)")


def check_number(name: str, **values: Any) -> None:
    """Python numbers only: a string, a bool or ``None`` is not a number (``TypeError``);
    a schedule, callable or tensor changes the arithmetic and is not modelled
    (``unsupported``)."""
    for k, v in values.items():
        if isinstance(v, (str, bool, bytes)) or v is None:
            raise TypeError(f"{name}: {k} must be a number (a Python float or int), got "
                            f"{v!r} ({type(v).__name__})")
        if not isinstance(v, (int, float)):
            raise unsupported(name, k, v)


LR_KEYWORDS = ("lr", "learning_rate")
FLOAT32_LR_FRAMEWORKS = ("keras", "tf_keras", "tf1", "optax", "flax")
"""Dialects whose framework turns the learning rate into a float32 variable or tensor
before any arithmetic, so a NumPy float32 learning rate computes exactly as the Python
float of the same value (torch does Python-scalar arithmetic with it, which NumPy 2 then
rounds in float32: NAdam, ASGD and Adafactor move by 2-16 ULP in 50 steps)."""


def _python_numbers(s: "Spec", kwargs: dict) -> dict:
    """``kwargs`` with NumPy scalars given for number keywords turned into the Python
    numbers they are, where that is what the framework computes with; the others refused
    with what was expected. A bool where a number is expected, or a string as a learning
    rate, is refused (other keywords may take strings: torch's ``norm_type="inf"``)."""
    import numbers
    out = dict(kwargs)
    for k, v in kwargs.items():
        default = s.defaults.get(k)
        numeric = k in LR_KEYWORDS or (isinstance(default, (int, float))
                                       and not isinstance(default, bool))
        if not numeric or type(v) in (int, float):
            continue
        if isinstance(v, bool) or (isinstance(v, (str, bytes)) and k in LR_KEYWORDS):
            raise TypeError(f"{s.name}: {k} must be a number (a Python float or int), got "
                            f"{v!r} ({type(v).__name__})")
        if isinstance(v, numbers.Integral):             # np.int64 computes as an int
            out[k] = int(v)
        elif isinstance(v, float):                       # np.float64 is a Python float
            out[k] = float(v)
        elif isinstance(v, numbers.Real) and type(v).__module__ == "numpy":
            if (k in LR_KEYWORDS and s.framework in FLOAT32_LR_FRAMEWORKS) or \
                    s.framework == "paper":
                out[k] = float(v)
            else:
                raise TypeError(
                    f"{s.name}: {k}={v!r} is a NumPy {type(v).__name__}: "
                    f"{s.framework} computes with it in {type(v).__name__} (NumPy 2 "
                    f"promotion), not as the number it stands for; pass float({k})")
    return out


def check_nonnegative(name: str, **values: float) -> None:
    for k, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v) or v < 0:
            raise ValueError(f"{name}: invalid {k} {v!r}: must be a number >= 0")


def check_beta(name: str, **values: float) -> None:
    for k, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v < 1.0:
            raise ValueError(f"{name}: invalid {k} {v!r}: must be in [0, 1)")

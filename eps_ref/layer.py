"""Normalization layers by framework name: ``eps_ref.layer("torch.nn.BatchNorm2d", ...)``.

    layer = eps_ref.layer("keras.layers.BatchNormalization", momentum=0.9)
    state = layer.init(x)                           # parameters + running statistics
    y, state = layer.apply(x, state, training=True)  # pure: x and state are not modified

The state is a dict with the canonical names ``scale`` (torch ``weight``, Keras ``gamma``,
Flax ``scale``), ``bias`` (Keras ``beta``), ``running_mean`` (Keras ``moving_mean``, Flax
``batch_stats/mean``), ``running_var`` (Keras ``moving_variance``, Flax ``batch_stats/var``)
and ``num_batches_tracked`` (a Python int); absent entries are not learned or not tracked.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from eps_ref._frozen import freeze
from eps_ref._host import host_route, no_autograd, to_numpy
from eps_ref._state import check_layer_state
from eps_ref._versions import warn_if_mismatched
from eps_ref.spec import _check_float_array as _check_float_leaf
from eps_ref.spec import unaliased
from eps_ref.spec import (REQUIRED, Budget, Spec, _accepts, check_namespace, check_threads,
                          resolve_backend, spec)


@dataclass(frozen=True)
class LayerBudget(Budget):
    r"""A layer's measured exception to bit-exactness, in two units.

    ``ulp``: plain float32 ULP of the running statistics (mean and variance) at any call.
    ``output``: the outputs' error in *scale-aware units*: per element,
    :math:`|y - y_{ref}| / u` with
    :math:`u = \mathrm{ulp}(\max_g |y_{ref}|) + \mathrm{ulp}(\max_g |x|)\,
    \max|\gamma| / \sqrt{\sigma_g^2 + \epsilon}`
    over the element's normalization group :math:`g` (the statistics' own group;
    :math:`\sigma_g^2` its float64 variance, or the running variance in inference): one
    rounding of the output plus the output's response to one rounding of the input's
    magnitude -- which is what a different reduction order moves the mean by. A semantic
    difference (another eps, the other running variance, the other momentum convention)
    is thousands of units; reduction-order noise a few, however close to 0 the output is.
    NaN against a number is never within any budget.
    """

    output: int = 0

__all__ = ["Layer", "layer", "LayerBudget", "BACKEND_SEMANTICS", "backend_semantics"]

# (qualified name, backend label) -> rule keywords that differ under that backend. Keras 3
# runs one layer on three backends whose kernels differ (Keras' torch backend computes the
# batch variance as E[x^2] - E[x]^2 and calls torch's layer norm); the spec's own semantics
# are those of its first backend label.
BACKEND_SEMANTICS: dict[tuple[str, str], Mapping[str, Any]] = {}


def backend_semantics(name: str, label: str, **overrides) -> None:
    """Declare that ``name`` runs with these rule keywords under backend ``label``."""
    BACKEND_SEMANTICS[(name, label)] = freeze(overrides)


@dataclass(frozen=True)
class Layer:
    """A layer spec with its keywords fixed. ``init`` and ``apply`` are pure."""

    spec: Spec
    hyperparams: Mapping[str, Any]
    rule_kwargs: Mapping[str, Any] = field(repr=False)
    backend: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "hyperparams", freeze(self.hyperparams))
        object.__setattr__(self, "rule_kwargs", freeze(self.rule_kwargs))

    def init(self, x) -> dict:
        """Parameters and running statistics for inputs shaped like ``x``."""
        _check_float_array(x, self.spec.name)
        check_namespace(self.spec.name, [x])
        back = host_route([x])
        if back is not None:
            return back(self.init(to_numpy(x)))
        kw = self.spec.rule.init_kwargs(self.rule_kwargs)
        with no_autograd([x]):
            return unaliased(self.spec.rule.init(x, **kw), [x])

    def apply(self, x, state: dict, *, training: bool) -> tuple[Any, dict]:
        """``(y, new_state)`` for one call in training or inference mode."""
        _check_float_array(x, self.spec.name)
        if not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"{self.spec.name}: training must be True or False, got "
                            f"{training!r} ({type(training).__name__})")
        if not isinstance(state, dict):
            raise TypeError(f"{self.spec.name}: state must be the dict returned by init(x)")
        check_namespace(self.spec.name, [x, *(v for v in state.values() if hasattr(v, "dtype"))])
        back = host_route([x])
        if back is not None:
            return back(self.apply(to_numpy(x), to_numpy(state), training=training))
        kw = self.spec.rule.init_kwargs(self.rule_kwargs)
        with no_autograd([x]):
            check_layer_state(self.spec.name, state, self.spec.rule.init(x, **kw))
            out = self.spec.rule.apply(x, state, training=bool(training), **self.rule_kwargs)
            return unaliased(out, [x, state])     # the unchanged scale and bias are copies


def layer(name: str, *, backend: str | None = None, threads: int = 1, **kwargs) -> Layer:
    """The reference layer for a framework name with the framework's keywords.

    ``backend`` picks the backend whose kernels to follow when a framework runs on several
    (Keras: ``"tensorflow"``, the default, ``"jax"`` or ``"torch"``), as for
    :func:`eps_ref.optimizer`. ``threads`` is the framework's intra-op thread count, for
    the kernels whose rounding depends on it (default 1).
    """
    s = spec(name)
    name = s.name                     # tf.keras.* names resolve to keras.* (spec())
    if s.kind != "layer":
        raise TypeError(f"{name} is a {s.kind}, not a layer; use eps_ref.{s.kind}()")
    warn_if_mismatched(s.framework, s.version)
    backend = resolve_backend(s, backend)
    check_threads(name, threads)
    unknown = [k for k in kwargs if k not in s.defaults]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, s.defaults, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"{name}() got an unexpected keyword argument {k!r}{hint}; "
                        f"it takes {sorted(s.defaults)}")
    hyperparams = {**s.defaults, **kwargs}
    missing = [k for k, v in hyperparams.items() if v is REQUIRED]
    if missing:
        raise TypeError(f"{name}() missing required keyword argument(s): {missing}")
    rule_kwargs = dict(s.bind(**hyperparams))
    if backend is not None:
        rule_kwargs.update(BACKEND_SEMANTICS.get((name, f"{s.framework}/{backend}"), {}))
    if _accepts(s.rule.apply, "threads"):
        rule_kwargs["threads"] = threads
    return Layer(s, hyperparams, rule_kwargs, backend)


def _check_float_array(x, name):
    _check_float_leaf(x, f"{name}: input")

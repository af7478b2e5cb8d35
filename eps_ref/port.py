r"""Porting between frameworks: the native configuration that runs the same math, the
nearest one with its measured gap where none does, and what differs, switch by switch.

    plan = eps_ref.port("torch.optim.Adam", to="optax", lr=3e-4)
    plan.equivalent        # [("optax.adam", {"learning_rate": 0.0003}), ...]: same math
    plan.nearest           # the best native configuration, exact or not, with its gap
    plan.differences       # one line per semantic switch that differs, in words
    plan.dropin(params)    # a native optimizer of the target that runs the source's rule
    print(plan)            # all of it, readable (``eps-ref port``)

How a plan is found, from the spec tables alone:

1. The target's candidates are its specs of the source's family (:func:`port_family`).
2. For each candidate, every keyword gets candidate values: its default, the source's value
   of each keyword of the same meaning (:data:`ALIASES`: ``lr``/``learning_rate``,
   ``betas``/``beta_1``/``b1``, ``eps``/``epsilon``, ``alpha``/``rho``/``decay``, ...) as
   is, as :math:`1-v` (torch's BatchNorm momentum is Keras' :math:`1-m`) and as :math:`-v`
   (torch's Adafactor ``beta2_decay`` is optax's ``-decay_rate``), both truth values of a
   flag, and the values of the candidate's own variants (``1-v`` only where it lands nearer
   the target's default, ``-v`` only across a sign; eps also swept over two decades either
   way). The start, the source's values under the target's names, is kept when it already
   verifies (most ports are a renaming); otherwise a coordinate search keeps, one keyword
   at a time, the value whose reference trajectory is closest to the source's on the first
   :data:`SEARCH_STEPS` steps of the conformance stream, and replaces the start only if
   its steps are closer to the source's over :data:`LATER_STEPS` steps too (a fit to the
   first steps alone may follow a transient, such as TF1's RMSProp accumulator starting
   at ones).
3. Each configuration found is run against the source, both as references, on
   :data:`VERIFY_STEPS` steps of the conformance stream (every regime: ordinary, tiny,
   zero, spikes, sign flips). It is *equivalent* when the two never differ by more than
   :data:`SAME_MATH_ULP` ULPs of each element's scale (:func:`scale_ulp`): two orders of
   rounding of the same formula stay within about a hundred there, while a different
   formula or constant (eps on the raw or the corrected root, a coupled weight decay, eps
   1% off) moves them by tens of thousands to millions. Layers: the same on the conformance
   batch stream (:mod:`eps_ref.port_layers`).
4. The nearest configuration's gap is measured on :data:`GAP_STEPS` steps of the standard
   stream and of an eps-dominated stream (every gradient around 1e-10, far below eps).

The differences come from the rule keywords each spec binds to (``spec.bind``), described
with the rule module's own docstring.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from eps_ref.spec import REQUIRED, spec as _spec, specs as _specs
from eps_ref.ulp import scale_ulp  # noqa: F401  (eps_ref.port.scale_ulp: its home before)

__all__ = ["port", "pairs", "Plan", "Candidate", "Gap", "port_family", "ALIASES", "TARGETS",
           "SEARCH_STEPS", "LATER_STEPS", "VERIFY_STEPS", "GAP_STEPS", "SAME_MATH_ULP", "eps_dominated_stream"]

TARGETS = ("torch", "keras", "tf1", "tf_keras", "optax", "flax")
"""The dialects a plan can port to (``paper`` is a source only)."""

VERIFY_STEPS = 50
SEARCH_STEPS = 20
LATER_STEPS = 1000
"""The search fits the first :data:`SEARCH_STEPS` steps of the trajectory; what it finds
replaces the source's own values under the target's names only where its steps (the
parameter increments, which on the fixed gradient stream depend on the optimizer alone) are
also closer to the source's over :data:`LATER_STEPS` steps of the conformance stream. The
parameters may stay apart by what a transient did; a port should take the same steps
after it. Measured: TF1's RMSProp(learning_rate=0.01) against torch's RMSprop(lr=0.01,
alpha=0.9, eps=1e-10), mean log2(1 + ULP) of the steps 7.7; against the 20-step fit
RMSprop(lr=0.001, alpha=0.9, eps=1.0, momentum=0.9), 22.3 (and 15.0 against 18.1 on
the parameters)."""

GAP_STEPS = 1000
SAME_MATH_ULP = 1 << 10
"""Largest distance at which two references count as the same math rounded differently,
in ULPs of each element's scale (:func:`scale_ulp`) over :data:`VERIFY_STEPS` steps of the
conformance stream. Measured: rounding alone moves torch from optax Adam by 97, torch SGD
momentum from Keras' velocity form by 5, RMSProp by 6, Adadelta by 3, the paper's Adam from
torch's by 4; changing the math moves them by 35570 (optax ``b2=0.9985`` for 0.999),
102637 (``eps=1.01e-8`` for 1e-8) and 8.7e6 (Keras' epsilon-hat at the same nominal eps).
A plain ULP count is reported too, but cannot decide: it explodes where a parameter passes
near zero (torch against Keras SGD momentum: 15494 ULP for 5 ULPs of scale)."""

ALIASES: tuple[tuple[str, ...], ...] = (
    ("lr", "learning_rate"),
    ("eps", "epsilon"),
    ("betas[0]", "beta_1", "b1", "beta1", "adam_beta_1", "adam_b1"),
    ("betas[1]", "beta_2", "b2", "beta2", "adam_beta_2", "adam_b2"),
    ("alpha", "rho", "decay"),
    ("momentum", "beta"),
    ("nesterov", "use_nesterov"),
    ("initial_accumulator_value", "initial_scale", "initial_gradient_squared_accumulator_value"),
    ("weight_decay", "weight_decay_rate"),
    ("beta2_decay", "beta_2_decay", "decay_rate"),
    ("eps[0]", "epsilon_1"),
    ("eps[1]", "epsilon_2"),
    ("eps", "epsilon_2"),
    ("threshold", "clip_threshold", "clipping_threshold"),
    ("max_norm", "clipnorm", "global_clipnorm"),
    ("clip_value", "max_delta", "clipvalue"),
    ("amsgrad",), ("centered",),
    ("num_groups", "groups"),
    ("affine", "elementwise_affine", "center", "scale", "use_bias", "use_scale"),
)
"""Framework keywords of the same meaning, flattened (``betas[0]`` is the first entry of
torch's ``betas``). The search tries each as is, as :math:`1-v` and as :math:`-v`, and keeps
what the numbers say."""

_LAYER_FAMILIES = {"BatchNorm": "batch_norm", "BatchNormalization": "batch_norm",
                   "LayerNorm": "layer_norm", "LayerNormalization": "layer_norm",
                   "GroupNorm": "group_norm", "GroupNormalization": "group_norm",
                   "RMSNorm": "rms_norm", "RMSNormalization": "rms_norm",
                   "InstanceNorm": "instance_norm"}
_FAMILY_OVERRIDES = {"optax.nadam": "nadam", "optax.nadamw": "nadam"}
"""optax's NAdam is its Adam rule with ``nesterov=True``; it answers the NAdam question."""


# -- families ------------------------------------------------------------------------------

def port_family(spec_) -> str:
    """What a spec is ported as: its docs family (:func:`eps_ref.docs.family`), a layer's
    kind from its class name, a clip's by norm or by value."""
    from eps_ref.docs import family
    if spec_.kind == "clip":
        return "clip_by_norm" if "norm" in spec_.rule.name else "clip_by_value"
    if spec_.kind == "layer":
        short = re.sub(r"\d+d$", "", spec_.name.rsplit(".", 1)[-1])
        return _LAYER_FAMILIES.get(short, spec_.rule.name)
    return _FAMILY_OVERRIDES.get(spec_.name, family(spec_))


def _families(framework: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in _specs(framework=framework):
        out.setdefault(port_family(_spec(name)), []).append(name)
    return out


# -- flat keywords: tuples as betas[0], betas[1] -------------------------------------------

def _flat(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, tuple) and v and all(_is_number(x) or x is None for x in v):
            out.update({f"{k}[{i}]": x for i, x in enumerate(v)})
        else:
            out[k] = v
    return out


def _unflat(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in flat.items():
        m = re.fullmatch(r"(.+)\[(\d+)\]", k)
        if m:
            out.setdefault(m[1], {})[int(m[2])] = v
        else:
            out[k] = v
    return {k: tuple(v[i] for i in sorted(v)) if isinstance(v, dict) else v
            for k, v in out.items()}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _aliases(key: str) -> set[str]:
    return {a for group in ALIASES if key in group for a in group} | {key}


PRUNE_LOG_ULP = 0.5

EPS_SWEPT = ("eps", "epsilon", "epsilon_1", "epsilon_2", "eps[0]", "eps[1]")
"""Keywords the search also sweeps over two decades either side of the source's value
(Keras' epsilon-hat equals torch's eps only at one step: which constant comes closest?)."""

LR_COUPLED = ("weight_decay", "weight_decay_rate")
r"""Keywords that some dialects multiply by the learning rate and others not (torch's
AdamW decays by :math:`\eta\lambda`, the paper's by :math:`\lambda`): the search also
tries them divided and multiplied by the source's learning rate."""


def _tidy(x: float) -> float:
    """``x`` at 15 significant digits: ``1 - 0.99`` is 0.01 in the config to paste (the
    verification runs whatever is pasted)."""
    return float(f"{x:.15g}")


def _candidate_values(target, source_flat: Mapping[str, Any], key: str) -> list:
    """Values worth trying for ``key`` of spec ``target``: its default, the source's values
    of the same meaning (as is, 1-v, -v; over or times the learning rate for
    :data:`LR_COUPLED`), both truth values of a flag, its variants'."""
    default = _flat(target.defaults).get(key)
    values = [] if default is REQUIRED else [default]
    d = default if _is_number(default) else None
    for alias in _aliases(key):
        v = source_flat.get(alias)
        if v is None or v is REQUIRED:
            continue
        values.append(v)
        if not _is_number(v):
            continue
        # 1 - v where it lands nearer the target's default (a momentum convention),
        # -v where the signs differ (a decay exponent): cheap, and the numbers decide.
        if d is None or abs((1 - v) - d) < abs(v - d):
            values.append(_tidy(1 - v))
        if d is None or (d < 0) != (v < 0):
            values.append(-v)
        lr = source_flat.get("lr", source_flat.get("learning_rate"))
        if key in LR_COUPLED and _is_number(lr) and lr > 0:
            values += [_tidy(v / lr), _tidy(v * lr)]
        if key in EPS_SWEPT and v > 0:
            values += [_tidy(v * 10.0 ** (k / 2)) for k in range(-4, 5) if k]
    if key in LR_COUPLED and not _has_alias(source_flat, key):
        values.append(0.0)   # a source without a weight decay does not decay
    if isinstance(default, bool):
        values += [True, False]
    for variant in target.variants.values():
        if key in _flat(variant):
            values.append(_flat(variant)[key])
    return _unique(values)


def _unique(values) -> list:
    """``values`` without repeats, in order (``1`` and ``1.0`` and ``True`` kept apart)."""
    out = []
    for v in values:
        if not any(type(v) is type(w) and v == w for w in out):
            out.append(v)
    return out


# -- running the references ----------------------------------------------------------------

def eps_dominated_stream(steps: int, seed: int = 0, shape=None) -> np.ndarray:
    """``steps`` float32 gradients of ``shape`` (the conformance shape by default), all
    around 1e-10: far below every default eps, so eps dominates every denominator."""
    from eps_ref.conformance.streams import SHAPE
    shape = SHAPE if shape is None else shape
    rng = np.random.default_rng(seed + 7)
    return (rng.standard_normal((steps, *shape)) * 1e-10).astype(np.float32)


def _build(name: str, kwargs: Mapping[str, Any], backend: str | None = None):
    import eps_ref
    s = _spec(name)
    if s.kind == "clip":
        return eps_ref.clip(name, **kwargs)
    if s.kind == "layer":
        return eps_ref.layer(name, backend=backend, **kwargs)
    return eps_ref.optimizer(name, backend=backend, **kwargs)


def _trajectory(obj, grads: np.ndarray, param0: np.ndarray) -> np.ndarray:
    """Parameters after each step (an optimizer) or the clipped gradients (a clip: two
    leaves, so a global norm spans leaves), stacked, float32."""
    with np.errstate(all="ignore"):
        if obj.spec.kind == "clip":
            half = grads.shape[1] // 2
            return np.stack([np.concatenate([x.reshape(-1) for x in obj([g[:half], g[half:]])])
                             for g in grads])
        p, state, out = param0, obj.init(param0), [param0]
        for g in grads:
            p, state = obj.step(p, g, state)
            out.append(p)
        return np.stack(out)


def _streams(steps: int, seed: int = 0):
    from eps_ref.conformance.streams import gradient_stream, initial_params
    return initial_params(seed), gradient_stream(steps, seed)


def _ulp(a: np.ndarray, b: np.ndarray) -> int:
    from eps_ref.ulp import ulp_distance
    return int(ulp_distance(a, b).max())


def _score(a: np.ndarray, b: np.ndarray) -> tuple:
    """Closeness for the search: the mean over all elements and steps of log2(1 + ULP
    distance), then the max. The mean, because a max saturates (every configuration that
    misses one tiny-gradient element is ~2^31 ULP away) and stops telling them apart."""
    from eps_ref.ulp import ulp_distance
    d = ulp_distance(a, b).astype(np.float64)
    return (float(np.mean(np.log2(1.0 + d))), float(d.max()))


# -- the result ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Gap:
    """Measured distance of a target configuration from the source over ``steps`` steps of
    one stream: first step where any parameter differs (None: never), the largest absolute
    and relative parameter difference after the last step, the largest ULP distance."""

    stream: str
    steps: int
    first_differing_step: int | None
    max_abs: float
    max_rel: float
    max_ulp: int


@dataclass(frozen=True)
class Candidate:
    """One native configuration of the target: its qualified name and keywords (only those
    that differ from the target's defaults, plus the required ones), its distance from the
    source over :data:`VERIFY_STEPS` steps, and the rule keywords that differ."""

    name: str
    kwargs: Mapping[str, Any]
    max_ulp: int
    scale_ulp: float
    differences: tuple[str, ...]
    tried: Mapping[str, tuple] = field(default_factory=dict)

    @property
    def equivalent(self) -> bool:
        """Same math: within :data:`SAME_MATH_ULP` ULPs of scale of the source."""
        return self.scale_ulp <= SAME_MATH_ULP

    def config(self) -> str:
        """The call to paste: ``optax.adam(learning_rate=0.0003)``; a required keyword the
        source has no counterpart for (a layer's shape) reads ``<required>``."""
        args = (f"{k}={'<required>' if v is REQUIRED else repr(v)}"
                for k, v in self.kwargs.items())
        return f"{self.name}({', '.join(args)})"


NATIVE_STATE = ("torch", "optax", "keras", "tf_keras", "tf1")
NATIVE_LAYER_STATE = ("torch", "keras", "flax")
"""Frameworks whose live optimizer state :meth:`Plan.convert_state` reads and writes."""


@dataclass
class Plan:
    """The port of one source configuration to one target framework (see :func:`port`)."""

    source: str
    source_kwargs: Mapping[str, Any]
    to: str
    backend: str | None
    family: str
    candidates: list[Candidate]
    gaps: tuple[Gap, ...] = ()
    notes: tuple[str, ...] = field(default=())
    verified_on: str = (f"{VERIFY_STEPS} steps of the conformance stream, in ULPs of each "
                        "element's scale")

    @property
    def equivalent(self) -> list[tuple[str, dict]]:
        """The native configurations that run the same math, best first; [] when none."""
        return [(c.name, dict(c.kwargs)) for c in self.candidates if c.equivalent]

    @property
    def nearest(self) -> Candidate:
        """The best native configuration, exact or not; its gap is :attr:`gaps`."""
        return self.candidates[0]

    @property
    def differences(self) -> list[str]:
        """One line per rule switch that differs between the source and :attr:`nearest`."""
        return list(self.nearest.differences)

    def dropin(self, params=None):
        """A native optimizer of the target framework that runs the source's rule (see
        :mod:`eps_ref.backends.dropins`)."""
        from eps_ref.backends.dropins import dropin
        return dropin(self, params)

    def candidate(self, name: str | None = None) -> Candidate:
        """The candidate configuration named ``name`` (None: :attr:`nearest`)."""
        if name is None:
            return self.nearest
        for c in self.candidates:
            if c.name == name:
                return c
        raise ValueError(f"{name} is not among the plan's candidates "
                         f"{[c.name for c in self.candidates]}")

    def convert_state(self, native_state, params=None, step: int | None = None,
                      candidate: str | None = None):
        """The source framework's live optimizer state (a torch ``state_dict()``, an optax
        state pytree, the store Keras' ``optimizer.save_own_variables`` fills, a legacy
        tf_keras optimizer's ``get_weights()``, TF1's variables by checkpoint name) as the
        native state of :attr:`nearest` in the target framework, for the parameter tree
        ``params`` (the optimizer's parameters, in order): read into the source's reference
        state, carried over by :func:`eps_ref.convert_state` (slots by role, the count, what
        the target derives from it), written as the target keeps it (``load_state_dict``
        it, pass it to ``tx.update``, ``optimizer.build(variables)`` then
        ``optimizer.load_own_variables(store)``, ``set_weights``, or restore TF1's variables
        by name). ``step``: the count where the source keeps none (torch SGD, optax
        sgd/rmsprop/adagrad, TF1). ``candidate``: another of :attr:`candidates` by name.
        Raises where the target cannot hold the state exactly; nothing passed in is
        modified.

        On a BatchNorm plan, ``native_state`` is the layer's (a torch module's
        ``state_dict()``, the store Keras' ``layer.save_own_variables`` fills, Flax's
        ``{"params", "batch_stats"}``), ``params`` is unused and ``step`` is the number of
        training calls where the source counts none (Keras, Flax): torch's
        ``num_batches_tracked``, required for a torch target with ``momentum=None``."""
        from eps_ref.backends import adapter, labels_for
        from eps_ref.state import convert_state
        target = self.candidate(candidate)
        ends = {"source": _spec(self.source).framework, "target": self.to}
        layer = _spec(self.source).kind == "layer"
        native = NATIVE_LAYER_STATE if layer else NATIVE_STATE
        for end, framework in ends.items():
            if framework not in native:
                raise NotImplementedError(
                    f"convert_state: native {framework} {'layer ' if layer else ''}state "
                    f"({end}) is not read or written yet (native: {list(native)}); "
                    f"eps_ref.convert_state converts reference states of every dialect")
        source_io, target_io = (adapter(labels_for(f)[0]) for f in ends.values())
        if layer:
            reference = source_io.read_layer_state(self.source, dict(self.source_kwargs),
                                                   native_state, step)
            cumulative = target.kwargs.get("momentum", 0.1) is None
            if (step is None and self.to == "torch" and cumulative
                    and ends["source"] != "torch"):
                raise ValueError(f"convert_state: {target.name}(momentum=None) averages over "
                                 f"num_batches_tracked, and {ends['source']} counts no "
                                 f"batches: pass step= (the source's training calls)")
            carried = convert_state(reference, source=self.source, target=target.name,
                                    params=None, source_kwargs=self.source_kwargs,
                                    target_kwargs=target.kwargs)
            return target_io.write_layer_state(target.name, dict(target.kwargs), carried)
        if params is None:
            raise TypeError("convert_state: give params, the optimizer's parameter tree")
        reference = source_io.read_state(self.source, dict(self.source_kwargs), native_state,
                                         params, step)
        carried = convert_state(reference, source=self.source, target=target.name,
                                params=params, source_kwargs=self.source_kwargs,
                                target_kwargs=target.kwargs)
        return target_io.write_state(target.name, dict(target.kwargs), carried, params)

    def to_json(self) -> dict:
        return {"source": self.source, "source_kwargs": _jsonable(self.source_kwargs),
                "to": self.to, "backend": self.backend, "family": self.family,
                "equivalent": [[n, _jsonable(k)] for n, k in self.equivalent],
                "nearest": {"name": self.nearest.name,
                            "kwargs": _jsonable(self.nearest.kwargs),
                            "exact": self.nearest.equivalent,
                            "verify_max_ulp": self.nearest.max_ulp,
                            "verify_scale_ulp": _jsonable(self.nearest.scale_ulp),
                            "gaps": [g.__dict__ for g in self.gaps]},
                "candidates": [{"name": c.name, "kwargs": _jsonable(c.kwargs),
                                "max_ulp": c.max_ulp, "scale_ulp": _jsonable(c.scale_ulp),
                                "equivalent": c.equivalent,
                                "differences": list(c.differences)}
                               for c in self.candidates],
                "differences": self.differences, "notes": list(self.notes)}

    def __str__(self) -> str:
        return report(self)


def _jsonable(x):
    if isinstance(x, Mapping):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return repr(x)


def _source_call(plan: Plan) -> str:
    return f"{plan.source}({', '.join(f'{k}={v!r}' for k, v in plan.source_kwargs.items())})"


def report(plan: Plan) -> str:
    """``str(plan)``: the config to paste, the differences, the gap, the drop-in."""
    target = plan.to + (f" (backend {plan.backend})" if plan.backend else "")
    lines = [f"Port of {_source_call(plan)} to {target} ({plan.family})", ""]
    if plan.equivalent:
        best = plan.candidates[0]
        lines += ["Equivalent (same math; the references differ only by rounding: "
                  f"{best.scale_ulp:.3g} units ({best.max_ulp} ULP) at most over "
                  f"{plan.verified_on}):", ""]
        lines += [f"    {c.config()}    # {c.scale_ulp:.3g} units" for c in plan.candidates
                  if c.equivalent]
    else:
        lines += [f"No native {plan.to} configuration runs the same math. Nearest, the one "
                  f"whose steps stay closest to the source's over {LATER_STEPS} steps "
                  f"({plan.nearest.scale_ulp:.3g} units from the source over "
                  f"{plan.verified_on}; rounding alone stays within {SAME_MATH_ULP}):", "",
                  f"    {plan.nearest.config()}"]
    tried = {k: sorted({x for x in v if x > 0}) for k, v in plan.nearest.tried.items()
             if k in EPS_SWEPT and all(_is_number(x) for x in v)}
    if tried and not plan.nearest.equivalent:
        lines += ["", "No constant closes the gap: the search tried " + "; ".join(
            f"{k} = {', '.join(f'{x:.6g}' for x in v)}" for k, v in tried.items())
            + ", and kept the closest."]
    lines += [""]
    if plan.differences:
        head = ("Switches that differ (rounding only: the trajectories agree within "
                f"{SAME_MATH_ULP} units):" if plan.nearest.equivalent
                else "What differs, switch by switch:")
        lines += [head] + [f"  - {d}" for d in plan.differences] + [""]
    if plan.gaps:
        lines += [f"Measured gap of {plan.nearest.name} from the source:"]
        for g in plan.gaps:
            first = ("never differs" if g.first_differing_step is None
                     else f"first differs at step {g.first_differing_step}")
            lines.append(f"  - {g.stream}, {g.steps} steps: {first}; after the last step "
                         f"max |diff| {g.max_abs:.3g}, max rel {g.max_rel:.3g} "
                         f"({g.max_ulp} ULP)")
        lines.append("")
    lines += notes_for_dropin(plan)
    lines += list(plan.notes)
    return "\n".join(lines).rstrip() + "\n"


def notes_for_dropin(plan: Plan) -> list[str]:
    from eps_ref.backends.dropins import DROPIN_TARGETS, usage
    if plan.to not in DROPIN_TARGETS or _spec(plan.source).kind != "optimizer":
        return []
    return ["Drop-in (the source's rule, bit for bit, inside " + plan.to + "):", "",
            *("    " + line for line in usage(plan).splitlines()), ""]


# -- differences, in the rule docstrings' words --------------------------------------------

_ROLE = re.compile(r":math:`([^`]*)`")


def _plain(text: str) -> str:
    """A docstring clause as one line of plain text: roles and line breaks gone, a
    parenthesis the clause closes without opening dropped, one it leaves open cut off, and
    a leading "(who): " as "who: ", and no dangling punctuation or conjunction at the end."""
    text = re.sub(r"\s+", " ", _ROLE.sub(r"\1", text)).replace("``", "`").strip()
    kept, opened = [], []
    for ch in text:
        if ch == "(":
            opened.append(len(kept))
        elif ch == ")":
            if not opened:
                continue
            opened.pop()
        kept.append(ch)
    text = re.sub(r"^\(([^()]*)\):", r"\1:", "".join(kept[:opened[0]] if opened else kept))
    while True:
        trimmed = text.strip(":,;./ ").removesuffix(" or").removesuffix(" and")
        if trimmed.startswith("(") and trimmed.endswith(")") and _closes_last(trimmed):
            trimmed = trimmed[1:-1]
        if trimmed == text:
            break
        text = trimmed
    return text if len(text) >= 12 else ""


def _closes_last(text: str) -> bool:
    """Whether the parenthesis ``text`` opens with is the one it closes with."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return i == len(text) - 1
    return False


_LABEL = re.compile(r"``(?:, ``[^`\n]*``)*(?:\)?:|[ \t]*\n|(?= \([^\n]*\):))")
"""What follows ``key="value"`` where it labels the text after it (a definition-list term,
maybe one of several, or a parenthesis ending in a colon); anywhere else it is a reference
in passing, and the words around it describe something else."""


def _describe(rule_module: str, key: str, value) -> str:
    """The rule docstring's words for ``key`` taking ``value``: the clause that names it."""
    doc = getattr(sys.modules.get(rule_module), "__doc__", None) or ""
    if not isinstance(value, str):
        return ""
    for needle in (f'``"{value}"``', f"``{value}``", f'``{key}="{value}"'):
        for found in re.finditer(re.escape(needle), doc):
            rest = doc[found.end():]
            if needle.startswith(f"``{key}="):
                label = _LABEL.match(rest)
                if label is None:
                    continue
                rest = rest[label.end():]
            stop = min([j for j in (rest.find('``"', 2), rest.find("\n``"),
                                    rest.find(".\n\n")) if j >= 0] or [400])
            return _plain(rest[:stop])
    return ""


NOT_SWITCHES = ("name", "axis", "channel_axis", "feature_axes", "reduce_axes",
                "trailing_shape", "input_ndims", "num_features")
"""Rule keywords that name the spec or fix shapes and axes (a layer's layout is its own
line of the differences)."""


def differences(source_obj, target_obj) -> tuple[str, ...]:
    """One line per rule keyword whose value differs between two built references: for a
    switch, both values in the rule docstring's words; for a number, both numbers. The
    switches come first (what is computed), then the numbers."""
    s, t = source_obj.spec, target_obj.spec
    src, tgt = _rule_kwargs(source_obj), _rule_kwargs(target_obj)
    lines, numbers = [], []
    if s.rule.name != t.rule.name:
        lines.append(f"rule: {s.name} runs {s.rule.name!r}, {t.name} runs {t.rule.name!r}: "
                     f"{s.doc or s.rule.name} / {t.doc or t.rule.name}")
    for key in [k for k in src if k in tgt and k not in NOT_SWITCHES]:
        a, b = src[key], tgt[key]
        if _same(a, b) or _inactive(key, src, tgt):
            continue
        if isinstance(a, str) or isinstance(b, str):
            da = _describe(_rule_module(s), key, a)
            db = _describe(_rule_module(t), key, b)
            lines.append(f"{key}: {s.framework} {a!r}" + (f" ({da})" if da else "")
                         + f"; {t.framework} {b!r}" + (f" ({db})" if db else ""))
        else:
            numbers.append(f"{key}: {s.framework} {a!r}; {t.framework} {b!r}")
    return tuple(lines + numbers)


def _rule_module(s) -> str:
    """The module whose docstring describes the spec's rule switches."""
    function = getattr(s.rule, "step", None) or getattr(s.rule, "apply", None)
    return getattr(function, "__module__", "")


def _inactive(key: str, src: dict, tgt: dict) -> bool:
    """A switch of a term that is zero on both sides (``weight_decay_mode`` at
    ``weight_decay=0``, ``momentum_form`` at ``momentum=0``) changes nothing."""
    owners = [k for k in src if k != key and key.startswith(k + "_") and k in tgt]
    return any(_is_number(src[k]) and _is_number(tgt[k]) and src[k] == 0 == tgt[k]
               for k in owners)


def _rule_kwargs(obj) -> dict:
    for attr in ("rule_kwargs", "transform_kwargs"):
        v = getattr(obj, attr, None)
        if isinstance(v, Mapping):
            return dict(v)
    return {}


def _same(a, b) -> bool:
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    try:
        return bool(a == b)
    except Exception:
        return a is b


# -- the search ----------------------------------------------------------------------------

def _searchable(target) -> list[str]:
    return [k for k in _flat(target.defaults)
            if k.split("[")[0] not in target.inert]


def _search(target_name: str, source_flat: dict, reference: np.ndarray, run,
            tried: dict | None = None, accept=None, values=None, passes: int = 2,
            cache: dict | None = None, keep_pruned=None, later=None) -> dict | None:
    """Coordinate search over the target's keywords for the configuration closest to the
    source's trajectory ``reference`` (``run(name, kwargs) -> trajectory``). Returns the
    flat keywords found, or None when no configuration can even be built. The start (the
    source's values under the target's names) is kept without a search when
    ``accept(flat)`` says it is already the same math: most ports are a renaming.

    ``values(target, source_flat, key)`` gives each keyword's candidate values (default
    :func:`_candidate_values`; :mod:`eps_ref.explain` widens them); ``passes`` bounds the
    sweeps over the keywords; ``cache`` (configuration -> score) may be shared between
    searches on the same ``reference``; ``keep_pruned(pruned, flat)`` may veto a keyword
    :func:`_prune` would drop. ``later(flat)``, a score on a longer horizon
    (:data:`LATER_STEPS`), keeps the start unless the configuration found is closer there
    too: a fit to the first steps can be far off after them (TF1's RMSProp accumulator
    starts at ones; torch's eps = 1 with momentum 0.9 follows its first 20 steps and takes
    none of its later ones)."""
    target = _spec(target_name)
    tried = {} if tried is None else tried
    values = _candidate_values if values is None else values
    options = {k: values(target, source_flat, k) for k in _searchable(target)}
    options = {k: v for k, v in options.items() if v}
    # Start from the source's values where a keyword of the same meaning exists.
    current = {k: _start_value(target, source_flat, k, v) for k, v in options.items()}
    required = [k for k, v in _flat(target.defaults).items() if v is REQUIRED]
    missing = [k for k in required if k not in current]
    if missing:
        variant = _flat(next(iter(target.variants.values()), {}))
        current.update({k: variant[k] for k in missing if k in variant})

    cache = {} if cache is None else cache

    def score(flat):
        key = (target_name, tuple(sorted((k, repr(v)) for k, v in flat.items())))
        if key not in cache:
            try:
                cache[key] = _score(reference, run(target_name, _unflat(flat)))
            except Exception:   # not a valid configuration of the target
                cache[key] = None
        return cache[key]

    best = score(current)
    if best is None:   # the source's values are invalid here: fall back to defaults
        current = {k: v[0] for k, v in options.items()}
        current.update({k: variant_value for k, variant_value in
                        _flat(next(iter(target.variants.values()), {})).items()
                        if k in required})
        best = score(current)
        if best is None:
            return None
    if accept is not None and accept(current):
        return _prune(target, current, best, score, keep_pruned)
    start, start_best = current, best
    for _ in range(passes):
        improved = False
        for k, choices in options.items():
            for v in choices:
                if type(v) is type(current.get(k)) and v == current.get(k):
                    continue
                trial = {**current, k: v}
                s = score(trial)
                if s is not None and s < best:
                    best, current, improved = s, trial, True
        if not improved:
            break
    if later is not None and current != start and _worst_nan(later(start)) \
            <= _worst_nan(later(current)):
        current, best = start, start_best
    tried.update({k: tuple(v) for k, v in options.items() if len(v) > 1})
    return _prune(target, current, best, score, keep_pruned)


def _worst_nan(score: tuple) -> tuple:
    """A score with NaN ranked after every number."""
    return tuple(math.inf if math.isnan(x) else x for x in score)


def _prune(target, flat: dict, best, score, keep=None) -> dict:
    """Drop the keywords whose default changes no number of the rule (``spec.bind``) and
    moves the trajectory by rounding only (the mean log2-ULP grows by less than
    :data:`PRUNE_LOG_ULP`): the config to paste says only what matters, not which kernel
    flag happens to round closest. A number is never dropped on the trajectory's word: a
    weight decay of 1e-4 moves 50 steps by less than rounding does, and still is one."""
    defaults = _flat(target.defaults)
    for k in list(flat):
        if k not in defaults or defaults[k] is REQUIRED or k.endswith("]"):
            continue
        if type(flat[k]) is type(defaults[k]) and flat[k] == defaults[k]:
            continue
        trial = {**flat, k: defaults[k]}
        if not _same_numbers(target.name, flat, trial):
            continue
        s = score(trial)
        if s is not None and s[0] <= best[0] + PRUNE_LOG_ULP and (keep is None
                                                                  or keep(trial, flat)):
            flat = trial
    return flat


def _same_numbers(name: str, a: dict, b: dict) -> bool:
    """Whether two configurations bind to the same numbers (hyperparameter values) of the
    rule; switches, which select kernels or forms, may differ."""
    try:
        ra, rb = (_rule_kwargs(_build(name, _unflat(x))) for x in (a, b))
    except Exception:
        return False
    keys = [k for k in ra if _is_number(ra[k]) or _is_number(rb.get(k))]
    return all(_same(ra[k], rb.get(k)) for k in keys) and ra.keys() == rb.keys()


def _has_alias(source_flat: dict, key: str) -> bool:
    return any(source_flat.get(a) not in (None, REQUIRED) for a in _aliases(key))


def _start_value(target, source_flat: dict, key: str, values: list):
    """The source's value of the same meaning, as is, where there is one; no weight decay
    where the source has none (:data:`LR_COUPLED`: optax.adamw's default 1e-4 moves 50
    steps by less than rounding does, so no trajectory would catch it); else the default
    (or, for a required keyword, the first candidate)."""
    if key in LR_COUPLED and not _has_alias(source_flat, key):
        return 0.0
    for alias in _aliases(key):
        v = source_flat.get(alias)
        if v is not None and v is not REQUIRED:
            return v
    return values[0]


def _paste_kwargs(target, flat: dict) -> dict:
    """The keywords that differ from the target's defaults, and the required ones."""
    defaults = _flat(target.defaults)
    keep = {k: v for k, v in flat.items()
            if defaults.get(k) is REQUIRED or not (type(v) is type(defaults.get(k))
                                                   and v == defaults.get(k))}
    tuples = {k.split("[")[0] for k in keep if "[" in k}
    keep.update({k: v for k, v in flat.items() if k.split("[")[0] in tuples})
    return _unflat({k: v for k, v in flat.items() if k in keep})


# -- the entry point -----------------------------------------------------------------------

def _check_target(to: str, backend: str | None = None) -> None:
    from eps_ref.spec import BACKENDS
    if to not in TARGETS:
        close = difflib.get_close_matches(str(to), TARGETS, n=1, cutoff=0.4)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown target framework {to!r}{hint}; targets: {list(TARGETS)}")
    known = BACKENDS.get(to, ())
    if backend is not None and backend not in known:
        close = difflib.get_close_matches(str(backend), known, n=1, cutoff=0.4)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown backend {backend!r} for {to}{hint}; {to} runs on "
                         f"{list(known) or 'no other backend'}")


def port(name: str, to: str, backend: str | None = None, *, gap_steps: int = GAP_STEPS,
         **source_kwargs) -> Plan:
    """Port the configuration ``name(**source_kwargs)`` to framework ``to``.

    Args:
        name: a qualified spec name: an optimizer, a clip, a layer or a schedule
            (:mod:`eps_ref.port_schedules`); ``paper.*`` too.
        to: the target dialect, one of :data:`TARGETS`.
        backend: the target's backend (Keras 3: ``"tensorflow"``, ``"jax"``, ``"torch"``),
            whose kernels the target references reproduce.
        gap_steps: steps of the nearest configuration's measured gap (default 1000).
        source_kwargs: the source's keywords, in its own spelling.

    Returns a :class:`Plan`. Raises ``KeyError`` (unknown spec, with the nearest name),
    ``ValueError`` (unknown target, a target that ships no such family), ``TypeError``
    (a keyword the source does not take).
    """
    _check_target(to, backend)
    source = _spec(name)
    if source.kind == "schedule":
        from eps_ref.port_schedules import port_schedule
        return port_schedule(name, to, backend, gap_steps=gap_steps, **source_kwargs)
    if source.kind == "layer":
        from eps_ref.port_layers import port_layer
        return port_layer(name, to, backend, **source_kwargs)
    fam = port_family(source)
    members = _families(to).get(fam, [])
    if not members:
        ships = sorted(_families(to))
        raise ValueError(f"{to} ships no {fam} ({name} is a {fam}); {to} ships: {ships}")
    src_obj = _build(name, source_kwargs)
    source_flat = _flat(src_obj.hyperparams)
    param0, grads = _streams(VERIFY_STEPS)
    reference = _trajectory(src_obj, grads, param0)
    search_ref = reference[:SEARCH_STEPS + 1] if source.kind == "optimizer" \
        else reference[:SEARCH_STEPS]

    def run(target_name, kwargs, steps=SEARCH_STEPS):
        obj = _build(target_name, kwargs, backend)
        return _trajectory(obj, grads[:steps], param0)

    later_grads = _streams(LATER_STEPS)[1]
    later_ref = np.diff(_trajectory(src_obj, later_grads, param0), axis=0)

    candidates, later_score = [], {}
    for target_name in members:
        tried: dict = {}

        def accept(flat, target_name=target_name):
            return scale_ulp(reference, run(target_name, _unflat(flat), VERIFY_STEPS)) \
                <= SAME_MATH_ULP

        def later(flat, target_name=target_name):
            obj = _build(target_name, _unflat(flat), backend)
            steps = np.diff(_trajectory(obj, later_grads, param0), axis=0)
            if np.any(~np.isfinite(steps) & np.isfinite(later_ref)):
                return (math.inf, math.inf)      # breaks down where the source does not
            return _score(later_ref, steps)

        flat = _search(target_name, source_flat, search_ref, run, tried, accept,
                       later=later)
        if flat is None:
            continue
        kwargs = _unflat(flat)
        obj = _build(target_name, kwargs, backend)
        traj = _trajectory(obj, grads, param0)
        candidates.append(Candidate(target_name, _paste_kwargs(_spec(target_name), flat),
                                    _ulp(reference, traj), scale_ulp(reference, traj),
                                    differences(src_obj, obj), tried))
        later_score[id(candidates[-1])] = _worst_nan(later(flat))
    if not candidates:
        raise ValueError(f"no {to} {fam} configuration could be built for {name}")
    # The same math first; else the target whose steps stay closest to the source's.
    candidates.sort(key=lambda c: (c.scale_ulp > SAME_MATH_ULP, later_score[id(c)], c.scale_ulp,
                                   c.max_ulp, len(c.kwargs)))
    plan = Plan(name, dict(source_kwargs), to, backend, fam, candidates)
    if gap_steps:
        plan.gaps = _gaps(src_obj, plan.nearest, backend, gap_steps)
    return plan


def _gaps(src_obj, nearest: Candidate, backend, steps: int) -> tuple[Gap, ...]:
    from eps_ref.conformance.streams import gradient_stream, initial_params
    target = _build(nearest.name, dict(nearest.kwargs), backend)
    param0 = initial_params(0)
    out = []
    for label, grads in (("standard stream", gradient_stream(steps, 0)),
                         ("eps-dominated stream (gradients ~1e-10)",
                          eps_dominated_stream(steps, 0))):
        a = _trajectory(src_obj, grads, param0)
        b = _trajectory(target, grads, param0)
        out.append(_gap(label, steps, a, b))
    return tuple(out)


def _gap(label: str, steps: int, a: np.ndarray, b: np.ndarray) -> Gap:
    from eps_ref.ulp import ulp_distance
    per_step = ulp_distance(a, b).reshape(len(a), -1).max(axis=1)
    differs = np.flatnonzero(per_step > 0)
    with np.errstate(all="ignore"):
        last_a, last_b = a[-1].astype(np.float64), b[-1].astype(np.float64)
        diff = np.abs(last_a - last_b)
        rel = diff / np.maximum(np.abs(last_a), np.finfo(np.float32).tiny)
    return Gap(label, steps, int(differs[0]) if len(differs) else None,
               float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan"),
               float(np.nanmax(rel)) if np.isfinite(rel).any() else float("nan"),
               int(per_step.max()))


# -- every pair the spec tables define -----------------------------------------------------

def pairs() -> list[tuple[str, dict, str]]:
    """Every (source spec, its first variant's keywords, target framework) where the
    target ships the source's family: what the tests and ``docs/porting.md`` cover."""
    out = []
    for name in _specs():
        s = _spec(name)
        if s.kind == "schedule":
            continue
        fam = port_family(s)
        kwargs = dict(next(iter(s.variants.values()), {}))
        for to in TARGETS:
            if to != s.framework and fam in _families(to):
                out.append((name, kwargs, to))
    return out

"""Porting normalization layers: the same search and check as :mod:`eps_ref.port`, on the
conformance suite's batch stream instead of a gradient stream.

A layer's references run :data:`~eps_ref.conformance.layers.TRAIN_BATCHES` training calls
(ordinary batches, a constant channel, a tiny variance, a large mean, a batch of one) and
one inference call, each in its own layout (torch channels first, Keras and Flax channels
last); the trajectory compared is every output, in channels-last order, then the running
mean and variance where both layers keep them. The shape keywords (``num_features``,
``normalized_shape``, ``num_groups``, ...) take the stream's values from each spec's
``"defaults"`` variant while the references run, and the user's values in the config to
paste. The eps-dominated stream is batches whose variance (1e-8) is far below every
default eps.
"""

from __future__ import annotations

import numpy as np

from eps_ref.spec import REQUIRED, spec as _spec

__all__ = ["port_layer", "SHAPE_KEYWORDS"]

SHAPE_KEYWORDS = ("num_features", "normalized_shape", "num_channels", "num_groups",
                  "groups", "axis", "feature_axes", "reduction_axes")
"""Keywords that fix shapes and axes, not the math: the stream's values while the
references run, the user's (or the target's default) in the config to paste."""


def _port_module():
    """:mod:`eps_ref.port` (the name ``eps_ref.port`` is the function)."""
    import importlib
    return importlib.import_module("eps_ref.port")


def _stream_kwargs(s) -> dict:
    first = dict(next(iter(s.variants.values()), {}))
    return {k: v for k, v in first.items() if k in SHAPE_KEYWORDS}


def _layout(name: str) -> bool:
    from eps_ref.conformance.layers import _channels_first
    return _channels_first(name)


def _spatial(name: str) -> tuple:
    from eps_ref.conformance.layers import _SHAPES
    return _SHAPES[name][0]


def _tiny_stream(spatial, seed=0, n=None):
    """Batches around 0 with spread 1e-4: variance and mean square 1e-8, far below every
    default eps, so eps dominates every denominator (batch, layer, group and RMS norms)."""
    from eps_ref.conformance.layers import BATCH, CHANNELS, TRAIN_BATCHES
    rng = np.random.default_rng(seed + 11)
    return [(1e-4 * rng.standard_normal((BATCH, *spatial, CHANNELS))).astype(np.float32)
            for _ in range(n or TRAIN_BATCHES + 1)]


def _verify_stream(name: str):
    """The conformance batch stream with two eps-dominated batches appended."""
    from eps_ref.conformance.layers import layer_stream
    batches, eval_batch, params = layer_stream(_spatial(name))
    return batches + _tiny_stream(_spatial(name), n=2), eval_batch, params


def _run(name: str, kwargs: dict, batches, eval_batch, params, backend=None):
    """``(trajectory, units)``: outputs (channels last) then running statistics, one row
    per call; and the scale-aware unit of each entry (the conformance suite's output unit,
    :func:`eps_ref.conformance.layers.output_unit`; the float spacing at a running
    statistic)."""
    from eps_ref.conformance.layers import _from_layout, _to_layout, reference_run
    cf = _layout(name)
    run = reference_run(name, kwargs, [_to_layout(b, cf) for b in batches],
                        _to_layout(eval_batch, cf), params, backend=backend)
    rows, units = [], []
    for i, y in enumerate(run["outputs"]):
        parts = [np.asarray(_from_layout(y, cf), np.float32).reshape(-1)]
        unit = [np.asarray(_from_layout(run["units"][i], cf), np.float64).reshape(-1)]
        if i < len(run["running_mean"]):
            for key in ("running_mean", "running_var"):
                v = run[key][i]
                v = np.zeros(0, np.float32) if v is None else np.asarray(v, np.float32).reshape(-1)
                parts.append(v)
                unit.append(np.spacing(np.abs(v)).astype(np.float64))
        rows.append(np.concatenate(parts))
        units.append(np.concatenate(unit))
    width = max(len(r) for r in rows)
    pad = lambda r: np.pad(r, (0, width - len(r)), constant_values=np.nan)  # noqa: E731
    return np.stack([pad(r) for r in rows]), np.stack([pad(u) for u in units])


def _common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The columns both trajectories have (a layer without running statistics has only
    the outputs)."""
    n = min(a.shape[1], b.shape[1])
    both = ~np.isnan(a[:, :n]).all(axis=0) & ~np.isnan(b[:, :n]).all(axis=0)
    return np.flatnonzero(both)


def unit_distance(a: np.ndarray, b: np.ndarray, units: np.ndarray) -> float:
    """Largest difference in the conformance suite's scale-aware layer units."""
    with np.errstate(all="ignore"):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if (np.isnan(a64) != np.isnan(b64)).any():
            return float("inf")
        d = np.where(a64 == b64, 0.0, np.abs(a64 - b64)) / np.maximum(units, 1e-45)
        return float(np.nanmax(d)) if d.size else 0.0


def port_layer(name: str, to: str, backend=None, **source_kwargs):
    P = _port_module()
    source = _spec(name)
    fam = P.port_family(source)
    members = [m for m in P._families(to).get(fam, []) if m in _known_layouts()]
    if not P._families(to).get(fam):
        ships = sorted(P._families(to))
        raise ValueError(f"{to} ships no {fam} ({name} is a {fam}); {to} ships: {ships}")
    user = dict(source_kwargs)
    run_kwargs = {**user, **_stream_kwargs(source)}
    src_obj = P._build(name, run_kwargs)
    shape_free = {k: v for k, v in P._flat(src_obj.hyperparams).items()
                  if k not in SHAPE_KEYWORDS}
    stream = _verify_stream(name)
    reference, units = _run(name, run_kwargs, *stream)

    def target_run(target_name, kwargs):
        b, _ = _run(target_name, {**kwargs, **_stream_kwargs(_spec(target_name))}, *stream,
                    backend=backend)
        return b

    candidates = []
    for target_name in members:
        t = _spec(target_name)
        try:
            keep = _common(reference, target_run(target_name, {}))
        except Exception:
            continue
        tried: dict = {}

        def accept(flat, target_name=target_name, keep=keep):
            b = target_run(target_name, P._unflat(flat))[:, keep]
            return unit_distance(reference[:, keep], b, units[:, keep]) <= P.SAME_MATH_ULP

        flat = P._search(target_name, shape_free, reference[:, keep],
                         lambda n, kw: target_run(n, kw)[:, keep], tried, accept)
        if flat is None:
            continue
        flat = {k: v for k, v in flat.items() if k not in SHAPE_KEYWORDS}
        verify_kw = {**P._unflat(flat), **_stream_kwargs(t)}
        b = target_run(target_name, P._unflat(flat))
        a, b, u = reference[:, keep], b[:, keep], units[:, keep]
        obj = P._build(target_name, verify_kw, backend)
        paste = P._paste_kwargs(t, flat)
        paste.update(_user_shape_kwargs(t, user))
        candidates.append(P.Candidate(target_name, paste, P._ulp(a, b), unit_distance(a, b, u),
                                      P.differences(src_obj, obj) + _layout_note(name, t),
                                      tried))
    if not candidates:
        raise ValueError(f"no {to} {fam} configuration could be built for {name}")
    candidates.sort(key=lambda c: (c.scale_ulp, c.max_ulp, len(c.kwargs)))
    plan = P.Plan(name, user, to, backend, fam, candidates,
                  verified_on=VERIFIED_ON)
    plan.gaps = _gaps(name, run_kwargs, plan.nearest, backend)
    return plan


VERIFIED_ON = ("the conformance batch stream (8 training calls, 2 eps-dominated ones, one "
               "inference call; outputs and running statistics), in the suite's "
               "scale-aware layer units")


def _known_layouts() -> set:
    from eps_ref.conformance.layers import _SHAPES
    return set(_SHAPES)


def _user_shape_kwargs(target, user: dict) -> dict:
    """The user's shape keywords under the target's names (``num_groups`` -> ``groups``);
    a required one the user did not give is named, not invented."""
    _aliases = _port_module()._aliases
    out = {}
    for k, default in target.defaults.items():
        if k not in SHAPE_KEYWORDS or k in ("axis", "feature_axes", "reduction_axes"):
            continue
        for alias in _aliases(k):
            if alias in user:
                out[k] = user[alias]
                break
        else:
            if default is REQUIRED:
                out[k] = REQUIRED
    return out


def _layout_note(source_name: str, target) -> tuple[str, ...]:
    a, b = _layout(source_name), _layout(target.name)
    if a == b:
        return ()
    where = {True: "channels first (axis 1)", False: "channels last (axis -1)"}
    return (f"layout: {source_name} takes {where[a]}, {target.name} {where[b]}: "
            "transpose the inputs, or set the target's axis",)


def _gaps(name, run_kwargs, nearest, backend) -> tuple:
    from eps_ref.conformance.layers import layer_stream
    P = _port_module()
    t = _spec(nearest.name)
    kw = {k: v for k, v in nearest.kwargs.items() if v is not REQUIRED
          and k not in SHAPE_KEYWORDS}
    kw.update(_stream_kwargs(t))
    batches, eval_batch, params = layer_stream(_spatial(name))
    tiny = _tiny_stream(_spatial(name))
    out = []
    for label, (bs, ev) in (("conformance batch stream", (batches, eval_batch)),
                            ("eps-dominated batches (variance 1e-8)", (tiny[:-1], tiny[-1]))):
        a, _ = _run(name, run_kwargs, bs, ev, params)
        b, _ = _run(nearest.name, kw, bs, ev, params, backend)
        keep = _common(a, b)
        out.append(P._gap(label, len(bs) + 1, a[:, keep], b[:, keep]))
    return tuple(out)

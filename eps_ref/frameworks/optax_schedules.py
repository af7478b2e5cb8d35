"""optax's schedules (``optax.*_schedule``, ``optax.exponential_decay``, ...), read from optax
0.2.8: the functions' keywords and defaults, each a schedule spec of the optax dialect.

optax evaluates a schedule at its transformation's int32 ``count`` (0 at the first update)
in float32 ``jnp`` operations; ``eps_ref.schedule(name, compiled=True, ...)`` gives the
values under ``jax.jit``, where XLA rewrites divisions by constants and fuses multiply-adds.
The arithmetic is :mod:`eps_ref.schedules.xla_float32`.
"""

from __future__ import annotations

from eps_ref.schedules import ScheduleRule
from eps_ref.schedules import xla_float32 as X
from eps_ref.spec import REQUIRED, Spec, check_number, register, unsupported

VERSION = "0.2.8"
SOURCE = "https://github.com/google-deepmind/optax/blob/v0.2.8/optax/schedules/_schedule.py"


def _values(n, *, make, compiled=False, metrics=None):
    return X.values(make(X.Ops(compiled)), n)


RULE = ScheduleRule("optax_float32", _values)


def _numbers(name, **values):
    for k, v in values.items():
        if v is not None:
            check_number(name, **{k: v})


def _steps(name, **values):
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name}: {k} must be an int, got {v!r}")


def _schedule(short, defaults, build, doc, variants, reference=SOURCE):
    """Register ``optax.<short>``: ``build(name, **keywords)`` checks them as optax does and
    returns ``make(ops) -> schedule function``."""
    name = "optax." + short

    def bind(**kw):
        return {"make": build(name, **kw)}

    register(Spec(name=name, framework="optax", version=VERSION, defaults=defaults,
                  rule=RULE, bind=bind, reference=reference, kind="schedule",
                  variants=variants, doc=doc))


def _constant(name, *, value):
    _numbers(name, value=value)
    return lambda ops: X.constant(value)


_schedule("constant_schedule", {"value": REQUIRED}, _constant, "the value at every step",
          {"defaults": {"value": 1e-3}})


def _polynomial(name, *, init_value, end_value, power, transition_steps, transition_begin=0):
    _numbers(name, init_value=init_value, end_value=end_value, power=power)
    _steps(name, transition_steps=transition_steps, transition_begin=transition_begin)
    return lambda ops: X.polynomial(init_value, end_value, power, transition_steps,
                                    transition_begin, ops=ops)


_schedule("polynomial_schedule",
          {"init_value": REQUIRED, "end_value": REQUIRED, "power": REQUIRED,
           "transition_steps": REQUIRED, "transition_begin": 0}, _polynomial,
          "(v0 - v1) (1 - c/T)^power + v1, c clipped to [0, T] after transition_begin",
          {"defaults": {"init_value": 0.1, "end_value": 1e-4, "power": 2.0,
                        "transition_steps": 700},
           "integer power 3, begin 10": {"init_value": 0.1, "end_value": 0.0, "power": 3,
                                         "transition_steps": 900, "transition_begin": 10},
           "power 0.5": {"init_value": 0.1, "end_value": 1e-4, "power": 0.5,
                         "transition_steps": 700, "transition_begin": 10}})
_schedule("linear_schedule",
          {"init_value": REQUIRED, "end_value": REQUIRED, "transition_steps": REQUIRED,
           "transition_begin": 0},
          lambda name, **kw: _polynomial(name, power=1, **kw),
          "linear from init_value to end_value over transition_steps",
          {"defaults": {"init_value": 1e-4, "end_value": 3e-3, "transition_steps": 300,
                        "transition_begin": 50}})
_schedule("warmup_constant_schedule",
          {"init_value": REQUIRED, "peak_value": REQUIRED, "warmup_steps": REQUIRED},
          lambda name, *, init_value, peak_value, warmup_steps: _polynomial(
              name, init_value=init_value, end_value=peak_value, power=1,
              transition_steps=warmup_steps),
          "linear warmup to peak_value, then constant",
          {"defaults": {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 100}})


def _exponential(name, *, init_value, transition_steps, decay_rate, transition_begin=0,
                 staircase=False, end_value=None):
    _numbers(name, init_value=init_value, decay_rate=decay_rate, end_value=end_value)
    _steps(name, transition_steps=transition_steps, transition_begin=transition_begin)
    return lambda ops: X.exponential_decay(init_value, transition_steps, decay_rate,
                                           transition_begin, staircase, end_value, ops=ops)


_schedule("exponential_decay",
          {"init_value": REQUIRED, "transition_steps": REQUIRED, "decay_rate": REQUIRED,
           "transition_begin": 0, "staircase": False, "end_value": None}, _exponential,
          "init_value * decay_rate^((c - begin)/T) (floored with staircase), clipped at "
          "end_value",
          {"defaults": {"init_value": 1e-2, "transition_steps": 100, "decay_rate": 0.9},
           "staircase, begin, end_value": {"init_value": 1e-2, "transition_steps": 37,
                                           "decay_rate": 0.5, "transition_begin": 20,
                                           "staircase": True, "end_value": 1e-5}})


def _cosine(name, *, init_value, decay_steps, alpha=0.0, exponent=1.0):
    _numbers(name, init_value=init_value, alpha=alpha, exponent=exponent)
    if not decay_steps > 0:
        raise ValueError(f"The cosine_decay_schedule requires positive decay_steps, got "
                         f"decay_steps={decay_steps!r}.")
    return lambda ops: X.cosine_decay(init_value, decay_steps, alpha, exponent, ops=ops)


_schedule("cosine_decay_schedule",
          {"init_value": REQUIRED, "decay_steps": REQUIRED, "alpha": 0.0, "exponent": 1.0},
          _cosine, "init_value ((1 - alpha) (1 + cos(pi min(c, T)/T))/2)^exponent + alpha)",
          {"defaults": {"init_value": 3e-3, "decay_steps": 800},
           "alpha, exponent 2": {"init_value": 0.1, "decay_steps": 999, "alpha": 0.01,
                                 "exponent": 2.0}})


def _warmup_cosine(name, *, init_value, peak_value, warmup_steps, decay_steps, end_value=0.0,
                   exponent=1.0):
    _numbers(name, init_value=init_value, peak_value=peak_value, end_value=end_value,
             exponent=exponent)
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    warm = _polynomial(name, init_value=init_value, end_value=peak_value, power=1,
                       transition_steps=warmup_steps)
    decay = _cosine(name, init_value=peak_value, decay_steps=decay_steps - warmup_steps,
                    alpha=alpha, exponent=exponent)
    return lambda ops: X.join([warm(ops), decay(ops)], [warmup_steps])


_schedule("warmup_cosine_decay_schedule",
          {"init_value": REQUIRED, "peak_value": REQUIRED, "warmup_steps": REQUIRED,
           "decay_steps": REQUIRED, "end_value": 0.0, "exponent": 1.0}, _warmup_cosine,
          "linear warmup to peak_value, then cosine decay to end_value at decay_steps",
          {"defaults": {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 100,
                        "decay_steps": 1000, "end_value": 1e-5}})


def _warmup_exponential(name, *, init_value, peak_value, warmup_steps, transition_steps,
                        decay_rate, transition_begin=0, staircase=False, end_value=None):
    warm = _polynomial(name, init_value=init_value, end_value=peak_value, power=1,
                       transition_steps=warmup_steps)
    decay = _exponential(name, init_value=peak_value, transition_steps=transition_steps,
                         decay_rate=decay_rate, transition_begin=transition_begin,
                         staircase=staircase, end_value=end_value)
    return lambda ops: X.join([warm(ops), decay(ops)], [warmup_steps])


_schedule("warmup_exponential_decay_schedule",
          {"init_value": REQUIRED, "peak_value": REQUIRED, "warmup_steps": REQUIRED,
           "transition_steps": REQUIRED, "decay_rate": REQUIRED, "transition_begin": 0,
           "staircase": False, "end_value": None}, _warmup_exponential,
          "linear warmup to peak_value, then exponential decay",
          {"defaults": {"init_value": 1e-5, "peak_value": 1e-3, "warmup_steps": 50,
                        "transition_steps": 100, "decay_rate": 0.8, "end_value": 1e-5}})


def _scales(name, boundaries_and_scales):
    if boundaries_and_scales is None:
        return None
    items = dict(boundaries_and_scales)
    if not all(scale >= 0.0 for scale in items.values()):
        raise ValueError(f"`{name.removeprefix('optax.')}` expects non-negative scale "
                         "factors")
    return items


def _piecewise_constant(name, *, init_value, boundaries_and_scales=None):
    _numbers(name, init_value=init_value)
    items = _scales("optax.piecewise_constant_schedule", boundaries_and_scales)
    return lambda ops: X.piecewise_constant(init_value, items, ops=ops)


_schedule("piecewise_constant_schedule",
          {"init_value": REQUIRED, "boundaries_and_scales": None}, _piecewise_constant,
          "init_value times every scale whose boundary the count has passed",
          {"defaults": {"init_value": 0.1,
                        "boundaries_and_scales": {200: 0.1, 500: 0.5, 800: 0.01}}})


def _piecewise_interpolate(name, *, interpolate_type, init_value, boundaries_and_scales=None):
    if interpolate_type not in ("linear", "cosine"):
        raise ValueError("`interpolate_type` must be either 'cosine' or 'linear'")
    _numbers(name, init_value=init_value)
    items = _scales("optax.piecewise_interpolate_schedule", boundaries_and_scales)
    return lambda ops: X.piecewise_interpolate(interpolate_type, init_value, items, ops=ops)


_schedule("piecewise_interpolate_schedule",
          {"interpolate_type": REQUIRED, "init_value": REQUIRED,
           "boundaries_and_scales": None}, _piecewise_interpolate,
          "linear or cosine from each boundary's value to the next",
          {"defaults": {"interpolate_type": "linear", "init_value": 0.01,
                        "boundaries_and_scales": {100: 2.0, 400: 0.1, 700: 0.5}},
           "cosine": {"interpolate_type": "cosine", "init_value": 0.01,
                      "boundaries_and_scales": {100: 2.0, 400: 0.1, 700: 0.5}}})


def _onecycle(name, transition_steps):
    if transition_steps <= 0:
        raise ValueError("A linear onecycle schedule was set with a non-positive "
                         "`transition_steps`")


def _linear_onecycle(name, *, transition_steps, peak_value, pct_start=0.3, pct_final=0.85,
                     div_factor=25.0, final_div_factor=10000.0):
    _onecycle(name, transition_steps)
    return _piecewise_interpolate(name, interpolate_type="linear",
                                  init_value=peak_value / div_factor,
                                  boundaries_and_scales={
                                      int(pct_start * transition_steps): div_factor,
                                      int(pct_final * transition_steps): 1.0 / div_factor,
                                      transition_steps: 1.0 / final_div_factor})


def _cosine_onecycle(name, *, transition_steps, peak_value, pct_start=0.3, div_factor=25.0,
                     final_div_factor=10000.0):
    _onecycle(name, transition_steps)
    return _piecewise_interpolate(name, interpolate_type="cosine",
                                  init_value=peak_value / div_factor,
                                  boundaries_and_scales={
                                      int(pct_start * transition_steps): div_factor,
                                      int(transition_steps):
                                          1.0 / (div_factor * final_div_factor)})


_schedule("linear_onecycle_schedule",
          {"transition_steps": REQUIRED, "peak_value": REQUIRED, "pct_start": 0.3,
           "pct_final": 0.85, "div_factor": 25.0, "final_div_factor": 10000.0},
          _linear_onecycle, "linear up to peak_value by pct_start, down by pct_final, then "
          "to peak/final_div_factor",
          {"defaults": {"transition_steps": 1000, "peak_value": 0.01}})
_schedule("cosine_onecycle_schedule",
          {"transition_steps": REQUIRED, "peak_value": REQUIRED, "pct_start": 0.3,
           "div_factor": 25.0, "final_div_factor": 10000.0},
          _cosine_onecycle, "cosine up to peak_value by pct_start, then down",
          {"defaults": {"transition_steps": 1000, "peak_value": 0.01}})


# -- compositions ----------------------------------------------------------------------------

def _makes(name, schedules):
    """The builders of a composition's schedules: ``eps_ref.schedule`` objects or
    ``(qualified name, keywords)`` pairs of optax schedules."""
    from eps_ref.schedule import Schedule, schedule
    out = []
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            try:
                inner, kw = s
            except (TypeError, ValueError):
                raise TypeError(f"{name}: schedules[{i}] must be an eps_ref.schedule(...) "
                                f"or a (name, keywords) pair, got {s!r}") from None
            s = schedule(inner, **dict(kw))
        if s.spec.framework != "optax":
            raise ValueError(f"{name}: schedules[{i}] is {s.spec.name}, not an optax schedule")
        out.append(s.rule_kwargs["make"])
    return out


def _join(name, *, schedules, boundaries):
    makes = _makes(name, schedules)
    boundaries = list(boundaries)
    if len(boundaries) != len(makes) - 1:
        raise ValueError(f"{name}: {len(makes)} schedules take {len(makes) - 1} boundaries, "
                         f"got {len(boundaries)}")
    return lambda ops: X.join([m(ops) for m in makes], boundaries)


_schedule("join_schedules", {"schedules": REQUIRED, "boundaries": REQUIRED}, _join,
          "each schedule from its boundary on, counted from it",
          {"defaults": {"boundaries": [250],
                        "schedules": [("optax.constant_schedule", {"value": 1e-3}),
                                      ("optax.exponential_decay",
                                       {"init_value": 1e-3, "transition_steps": 50,
                                        "decay_rate": 0.9})]}},
          reference=SOURCE.replace("_schedule.py", "_join.py"))


def _sgdr(name, *, cosine_kwargs):
    makes, boundaries, step = [], [], 0
    for kw in cosine_kwargs:
        kw = dict(kw)
        makes.append(_warmup_cosine(name, **kw))
        step += kw["decay_steps"]
        boundaries.append(step)
    if not makes:
        raise unsupported(name, "cosine_kwargs", "an empty list")
    return lambda ops: X.join([m(ops) for m in makes], boundaries[:-1])


_schedule("sgdr_schedule", {"cosine_kwargs": REQUIRED}, _sgdr,
          "warm restarts: one warmup-cosine schedule after another (SGDR)",
          {"defaults": {"cosine_kwargs": [
              {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 20,
               "decay_steps": 300, "end_value": 1e-5},
              {"init_value": 1e-5, "peak_value": 5e-4, "warmup_steps": 10,
               "decay_steps": 700}]}})

"""Checks that a state handed to ``Optimizer.step`` or ``Layer.apply`` is one this object
built for these inputs: its keys, the step count, and every slot's name, shape and dtype.

A state from another optimizer (torch Adam's ``exp_avg`` fed to Keras Adam), for other
parameters (a slot of shape (3,) against a parameter of shape (1, 3), which would
broadcast), or with a step count that is not a count (``-1``, ``2.5``) would otherwise run
and return a wrong answer or fail deep in a rule. The checks compare shapes, dtypes and
names only (no work per element): the expected slots of a leaf come from the rule's own
``init`` on a parameter of that shape and dtype, computed once per shape and dtype.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

__all__ = ["check_step", "check_leaf_steps", "check_optimizer_state", "check_slots",
           "check_layer_state"]


def check_step(name: str, value: Any, where: str = "state['step']") -> int:
    """``value`` as an ``int``: a step count is a non-negative integer (a Python or NumPy
    integer; not a bool, a float or an array)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name}: {where} must be a non-negative int (the steps taken so "
                        f"far), got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name}: {where} must be a non-negative int (the steps taken so "
                         f"far), got {value!r}")
    return int(value)


def check_leaf_steps(name: str, value: Any, n: int) -> None:
    """``state["leaf_steps"]``: one step count per parameter leaf (torch, after a ``None``
    gradient skipped a parameter: each keeps its own ``state["step"]``)."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(f"{name}: state['leaf_steps'] must be a list of one step count per "
                         f"parameter leaf ({n}), got {value!r:.80}")
    for i, count in enumerate(value):
        check_step(name, count, f"state['leaf_steps'][{i}]")


def _rebuild_hint(kind: str) -> str:
    return f"it was not built by this {kind}'s init(); build it with init()"


def check_optimizer_state(name: str, state: Any, paths: list[str], extra_keys: tuple,
                          optional_keys: tuple = ()) -> None:
    """The layout of an optimizer state for a tree whose leaves sit at ``paths``:
    ``{"step": int, "slots": [one dict per leaf], *extra_keys: [one array per leaf]}``
    (``optional_keys`` may be there too)."""
    if not isinstance(state, dict):
        raise TypeError(f"{name}: state must be the dict init(params) returns "
                        f"({{'step': ..., 'slots': [...]}}), got {type(state).__name__}")
    expected = {"step", "slots", *extra_keys}
    missing = sorted(expected - set(state))
    unknown = sorted(set(state) - expected - set(optional_keys), key=repr)
    if missing or unknown:
        what = "; ".join([*([f"missing {missing}"] if missing else []),
                          *([f"unexpected {unknown}"] if unknown else [])])
        raise ValueError(f"{name}: state keys {sorted(state, key=repr)} ({what}); {name} "
                         f"keeps {sorted(expected)}: {_rebuild_hint('optimizer')}")
    check_step(name, state["step"])
    n = len(paths)
    for key in ("slots", *extra_keys):
        entries = state[key]
        if not isinstance(entries, (list, tuple)) or len(entries) != n:
            got = (f"{len(entries)} entries" if isinstance(entries, (list, tuple))
                   else f"a {type(entries).__name__}")
            raise ValueError(f"{name}: state[{key!r}] must be a list of one entry per "
                             f"parameter leaf ({n}), got {got}: {_rebuild_hint('optimizer')} "
                             "for these params")
    for i, slots in enumerate(state["slots"]):
        if not isinstance(slots, dict):
            raise TypeError(f"{name}: state['slots'][{i}] (params{paths[i]}) must be a dict "
                            f"of arrays, got {type(slots).__name__}")


@functools.lru_cache(maxsize=1024)
def _slot_signature(rule, init_kwargs, xp, shape: tuple, dtype) -> tuple:
    """``((slot name, (shape, dtype)), ...)`` of the slots ``rule.init`` builds for a
    parameter of this shape and dtype (``None`` for a slot that is not an array)."""
    zeros = xp.zeros(shape, dtype=dtype)
    slots = rule.init(zeros, **init_kwargs)
    return tuple((k, (tuple(v.shape), v.dtype) if hasattr(v, "shape") else None)
                 for k, v in slots.items())


def _signature(rule, init_kwargs, xp, p) -> tuple:
    try:
        return _slot_signature(rule, init_kwargs, xp, tuple(p.shape), p.dtype)
    except TypeError:       # an unhashable keyword or dtype: not cached
        slots = rule.init(xp.zeros(p.shape, dtype=p.dtype), **init_kwargs)
        return tuple((k, (tuple(v.shape), v.dtype) if hasattr(v, "shape") else None)
                     for k, v in slots.items())


def _check_array(name: str, value, where: str, shape: tuple, dtype, whose: str) -> None:
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{name}: {where} must be an array of shape {shape} and dtype "
                        f"{dtype} ({whose}), got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{name}: {where} has shape {tuple(value.shape)}, expected {shape} "
                         f"({whose}): the state was built for other inputs")
    if value.dtype != dtype:
        raise TypeError(f"{name}: {where} has dtype {value.dtype}, expected {dtype} "
                        f"({whose}): the state was built for other inputs")


def check_slots(name: str, rule, init_kwargs, xp, leaves: list, state: dict,
                paths: list[str], extra_keys: tuple) -> None:
    """Every leaf's slots are the ones ``rule.init`` builds for it (names, shapes,
    dtypes), and every ``extra_keys`` entry (the base optimizer's per-leaf arrays) is
    shaped like its parameter. Run on the arrays the rule will compute on, of namespace
    ``xp``."""
    for i, (p, slots) in enumerate(zip(leaves, state["slots"])):
        signature = _signature(rule, init_kwargs, xp, p)
        names = [k for k, _ in signature]
        if set(slots) != set(names):
            raise ValueError(f"{name}: state['slots'][{i}] (params{paths[i]}) holds "
                             f"{sorted(slots, key=repr)}, and {name} keeps {sorted(names)} "
                             f"for a parameter of shape {tuple(p.shape)}: the state comes "
                             "from another optimizer or configuration; build it with "
                             "init(params)")
        for k, expected in signature:
            if expected is not None:
                _check_array(name, slots[k], f"state['slots'][{i}][{k!r}]", *expected,
                             f"the {k!r} slot of params{paths[i]}")
    for key in extra_keys:
        for i, (p, a) in enumerate(zip(leaves, state[key])):
            _check_array(name, a, f"state[{key!r}][{i}]", tuple(p.shape), p.dtype,
                         f"like params{paths[i]}")


def check_layer_state(name: str, state: Any, expected: dict) -> None:
    """A layer's state has the entries ``init(x)`` builds for this input (``expected``),
    each array of the same shape and dtype, each count a non-negative int."""
    if not isinstance(state, dict):
        raise TypeError(f"{name}: state must be the dict returned by init(x), got "
                        f"{type(state).__name__}")
    if set(state) != set(expected):
        missing = sorted(set(expected) - set(state))
        unknown = sorted(set(state) - set(expected), key=repr)
        what = "; ".join([*([f"missing {missing}"] if missing else []),
                          *([f"unexpected {unknown}"] if unknown else [])])
        raise ValueError(f"{name}: state keys {sorted(state, key=repr)} ({what}); for this "
                         f"input {name} keeps {sorted(expected)}: {_rebuild_hint('layer')}")
    for k, want in expected.items():
        if hasattr(want, "shape"):
            _check_array(name, state[k], f"state[{k!r}]", tuple(want.shape), want.dtype,
                         "for this input")
        elif isinstance(want, numbers.Integral):
            check_step(name, state[k], f"state[{k!r}]")

"""Read-only values for the spec tables and the objects built from them.

A spec's defaults, variants and budgets, and an optimizer's hyperparameters and rule
keywords, are shared by every caller in the process (and by the generated docs): a caller
who could write ``spec("torch.optim.Adam").defaults["lr"] = 1.0`` would change every later
optimizer. :func:`freeze` turns a table into a :class:`FrozenDict` (nested lists into
tuples, sets into frozensets); ``dict(value)`` or ``value.copy()`` gives a mutable copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FrozenDict", "freeze"]


class FrozenDict(dict):
    """A ``dict`` that refuses changes in place (``TypeError``). Still a ``dict``: it
    compares, prints, pickles and serializes to JSON like one, so code that reads a table
    (``{**defaults, **kwargs}``, ``json.dumps``, a worker process) is unchanged."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        self = dict.__new__(cls)
        dict.__init__(self, *args, **kwargs)
        return self

    def __init__(self, *args, **kwargs):    # filled once, by __new__
        pass

    def _refuse(self, *args, **kwargs):
        raise TypeError("this mapping is read-only (it is shared by every caller); "
                        "change a copy: dict(mapping)")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __hash__(self):
        return hash(frozenset(self.items()))


def freeze(value: Any) -> Any:
    """``value`` with every dict (or other mapping) made a :class:`FrozenDict`, every list
    and tuple a tuple and every set a frozenset, recursively; other values as they are."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if type(value) in (list, tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    return value

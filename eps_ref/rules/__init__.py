"""Canonical update rules, one module per family, written once against the Array API.

Every rule is a pair of pure per-array functions ``init(param, **kw) -> slots`` and
``step(param, grad, slots, *, t, **kw) -> (param, slots)`` where ``t`` is the 1-based step
number. Every semantic switch (where eps sits, how momentum folds in the learning rate, how
weight decay couples, which operation order a framework's kernel uses) is a keyword argument.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

__all__ = ["Rule"]


@dataclass(frozen=True)
class Rule:
    """An update rule: ``init`` builds the per-array slots, ``step`` applies one update."""

    name: str
    init: Callable[..., dict]
    step: Callable[..., tuple[Any, dict]]

    def init_kwargs(self, kwargs: Mapping[str, Any]) -> dict:
        """The subset of a spec's rule keywords that ``init`` takes."""
        accepted = inspect.signature(self.init).parameters
        return {k: v for k, v in kwargs.items() if k in accepted}

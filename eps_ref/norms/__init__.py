"""Normalization layers, written once against the Array API (numpy + array-api-compat).

A layer rule is a pair of pure functions ``init(x, **kw) -> state`` (parameters and running
statistics for an input like ``x``, initialized as the framework does) and
``apply(x, state, *, training, **kw) -> (y, state)``. Every semantic switch is a keyword
with a descriptive value: where the momentum weighs (``momentum_form``), which batch
variance feeds the running one (``running_variance``), how the variance is computed
(``variance``), in which order and precision the reductions run (``reduction``), the
operation order of the affine map (``affine_form``). Modules: :mod:`.batch` (batch norm),
:mod:`.layer` (layer, RMS and instance norm), :mod:`.group` (group norm), :mod:`._stats`
(the shared primitives).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

__all__ = ["LayerRule", "BATCH_NORM", "FEATURE_NORM", "GROUP_NORM"]


@dataclass(frozen=True)
class LayerRule:
    """A normalization layer: ``init`` builds its state, ``apply`` runs one call."""

    name: str
    init: Callable[..., dict]
    apply: Callable[..., tuple[Any, dict]]

    def init_kwargs(self, kwargs: Mapping[str, Any]) -> dict:
        """The subset of a spec's rule keywords that ``init`` takes."""
        accepted = inspect.signature(self.init).parameters
        return {k: v for k, v in kwargs.items() if k in accepted}


from eps_ref.norms import batch, group, layer  # noqa: E402

BATCH_NORM = LayerRule("batch_norm", batch.init, batch.apply)
FEATURE_NORM = LayerRule("feature_norm", layer.init, layer.apply)
GROUP_NORM = LayerRule("group_norm", group.init, group.apply)

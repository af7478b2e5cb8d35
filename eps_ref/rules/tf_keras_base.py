r"""The ``tf_keras`` base optimizers around every update rule: gradient clipping and the
moving average of the parameters (``use_ema``), read from tf-keras 2.21
(``tf_keras/src/optimizers/optimizer.py``: ``_clip_gradients``, ``apply_gradients``,
``_distributed_apply_gradients_fn``, ``_update_model_variables_moving_average``; and
``legacy/optimizer_v2.py``: ``_transform_gradients``). Per ``apply_gradients`` call, with
:math:`k` the calls made before it (``iterations``):

1. Clipping, through TensorFlow's own ops (:mod:`eps_ref.rules.clipping`):
   ``clipnorm`` is ``tf.clip_by_norm`` on each variable, :math:`g c / \max(\lVert g\rVert_2,
   c)` with the sum of squares in Eigen's order (:func:`~eps_ref.rules.clipping.keras_clip_by_norm`,
   ``"eigen_avx_4x8"``); ``global_clipnorm`` is ``tf.clip_by_global_norm``
   (:func:`~eps_ref.rules.clipping.tf_clip_by_global_norm`, its norm from ``l2_loss``);
   ``clipvalue`` is ``tf.clip_by_value``, :math:`\max(\min(g, c), -c)`.
   ``clip_order`` says which run: ``"first_set"`` (the Keras 2.11+ ``Optimizer``: the first
   of ``clipnorm``, ``global_clipnorm``, ``clipvalue`` that is set, only that one) or
   ``"value_then_norm"`` (legacy ``OptimizerV2``: ``clipvalue``, then ``clipnorm`` or
   ``global_clipnorm``, every one that is set).
2. The rule's step :math:`t = k + 1` (weight decay included).
3. ``use_ema``: :math:`\bar\theta \leftarrow \mathrm{fl}(\mu)\,\bar\theta +
   \mathrm{fl}(1 - \mu)\,\theta` on every call, with the new parameters; :math:`1 - \mu` is
   a Python (float64) subtraction rounded once to float32, and the average starts as a copy
   of the initial parameters (Keras 3 instead subtracts in float32 and starts from zeros
   with :math:`\mu = 0` on its first step). With ``ema_overwrite_frequency`` :math:`F`, the
   parameters are assigned the average when :math:`(k + 1) \bmod F = 0`.

The average is kept in the optimizer state under ``"average"``; only
``ema_overwrite_frequency`` makes it visible in the parameters (``finalize_variable_values``
copies it into the model at the end of ``fit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from array_api_compat import array_namespace

from eps_ref.rules import clipping

__all__ = ["TfKerasBase", "CLIP_ORDERS"]

CLIP_ORDERS = ("first_set", "value_then_norm")


@dataclass(frozen=True)
class TfKerasBase:
    """The tf_keras base-optimizer options that act on the tree (module docstring); ``None``
    or ``False`` means off. Plugged into :class:`eps_ref.spec.Optimizer` as its ``base``."""

    clipnorm: float | None = None
    global_clipnorm: float | None = None
    clipvalue: float | None = None
    use_ema: bool = False
    ema_momentum: float = 0.99
    ema_overwrite_frequency: int | None = None
    clip_order: str = "first_set"
    threads: int = 1
    """TensorFlow's intra-op threads (Eigen shards the clipping norms' large sums)."""

    def __post_init__(self):
        if self.clip_order not in CLIP_ORDERS:
            raise ValueError(f"clip_order must be one of {CLIP_ORDERS}, got {self.clip_order!r}")

    def init(self, leaves: list) -> dict:
        """The extra state: the ``"average"`` (EMA), a copy of the initial parameters."""
        if not self.use_ema:
            return {}
        return {"average": [array_namespace(p).asarray(p, copy=True) for p in leaves]}

    def clip(self, grads: list) -> list:
        by_value = self.clipvalue is not None
        if self.clip_order == "value_then_norm" and by_value:
            grads = clipping.tf_clip_by_value(grads, clip_value=self.clipvalue)
        if self.clipnorm is not None:
            return clipping.keras_clip_by_norm(grads, clipnorm=self.clipnorm,
                                               reduction="eigen_avx_4x8",
                                               sqrt_method="correctly_rounded",
                                               division="divide", threads=self.threads)
        if self.global_clipnorm is not None:
            return clipping.tf_clip_by_global_norm(grads, clip_norm=self.global_clipnorm,
                                                   threads=self.threads)
        if self.clip_order == "first_set" and by_value:
            return clipping.tf_clip_by_value(grads, clip_value=self.clipvalue)
        return grads

    def step(self, params: list, grads: list, state: dict,
             update: Callable[[list, list, Any, int], tuple[list, Any]]) -> tuple[list, dict]:
        """One ``apply_gradients`` call. ``update(params, grads, slots, t)`` runs the rule on
        every leaf; returns the new parameter leaves and the new state."""
        calls = state["step"]
        params, slots = update(params, self.clip(grads), state["slots"], calls + 1)
        new_state = dict(state, step=calls + 1, slots=slots)
        if self.use_ema:
            average = [_ema(a, p, self.ema_momentum) for a, p in zip(state["average"], params)]
            new_state["average"] = average
            freq = self.ema_overwrite_frequency
            if freq and (calls + 1) % freq == 0:
                params = list(average)
        return params, new_state


def _ema(average, param, momentum: float):
    xp = array_namespace(average, param)
    mu = xp.asarray(momentum, dtype=param.dtype)
    one_minus_mu = xp.asarray(1 - momentum, dtype=param.dtype)     # float64, then rounded
    return mu * average + one_minus_mu * param

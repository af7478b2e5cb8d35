r"""The Keras 3 base optimizer around every update rule (``BaseOptimizer.apply``).

Every ``keras.optimizers.X`` runs its own ``update_step`` inside the same tree-level logic,
read from ``keras/src/optimizers/base_optimizer.py`` (``apply``, ``_backend_apply_gradients``)
and its backend overrides (``backend/jax/optimizer.py``, ``backend/tensorflow/optimizer.py``,
``backend/torch/optimizers/torch_parallel_optimizer.py``). Per ``apply`` call, with
:math:`k` the calls made before it (Keras' ``_iterations``):

1. ``loss_scale_factor`` :math:`s`: :math:`g \leftarrow g / s` (JAX: :math:`g \cdot
   \mathrm{fl}(1/s)`, as every division by a scalar below, except for a one-element
   :math:`g`, which XLA divides: :func:`eps_ref.rules._numerics.xla_rewrites_division`).
2. ``gradient_accumulation_steps`` :math:`N`: unless :math:`(k+1) \bmod N = 0` the gradient
   is only added to the accumulator (:math:`a \leftarrow g + a`) and nothing else moves;
   on the update call :math:`g \leftarrow (g + a) / N` and :math:`a \leftarrow 0`. Keras'
   ``iterations`` is then :math:`\lfloor k / N\rfloor`, so the rule's step number (Adam's
   bias correction) counts update calls: :math:`t = \lfloor k/N \rfloor + 1`.
3. Clipping, on the (averaged) gradients only: ``clipnorm`` (each variable),
   ``global_clipnorm``, or ``clipvalue`` (:mod:`eps_ref.rules.clipping`).
4. The rule's step (weight decay included, so it too runs on update calls only).
5. ``use_ema``: on every call, :math:`\bar\theta \leftarrow \mu \bar\theta + (1-\mu)\theta`
   with :math:`\mu` = ``ema_momentum`` in float32, or 0 while ``iterations`` is 0 (the average
   starts as a copy); :math:`1-\mu` is a float32 subtraction. With ``ema_overwrite_frequency``
   :math:`F`, the parameters are replaced by the average when
   :math:`(\mathrm{iterations} + 1) \bmod F = 0`; JAX blends them
   (:math:`\bar\theta \cdot 1 + \theta \cdot 0`) where the other backends assign.

Only ``ema_overwrite_frequency`` makes the EMA visible in the parameters; the average itself
is kept in the optimizer state under ``"average"`` (Keras' ``finalize_variable_values``
copies it into the model at the end of ``fit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from array_api_compat import array_namespace

from eps_ref.rules import clipping
from eps_ref.rules._numerics import xla_rewrites_division

__all__ = ["KerasBase", "BACKEND_NUMERICS"]

BACKEND_NUMERICS = {
    "tensorflow": {"reduction": "eigen_avx_4x8", "sqrt": "correctly_rounded",
                   "division": "divide", "ema_overwrite": "assign"},
    "jax": {"reduction": "xla_cpu_sequential", "sqrt": "correctly_rounded",
            "division": "multiply_by_reciprocal", "ema_overwrite": "blend"},
    "torch": {"reduction": "torch_cpu_avx2", "sqrt": "mkl_goldschmidt_rsqrtps",
              "division": "divide", "ema_overwrite": "assign"},
}
"""The kernels each Keras backend runs for the base options: the sums of squares
(``ops.sum(ops.square(g))``, and ``ops.sum(ops.stack(...))`` over the leaves for
``global_clipnorm``; :mod:`eps_ref.rules._reductions`), ``ops.sqrt``, every division of an
array by a scalar or a broadcast norm (loss scale, accumulation average, ``clipnorm``),
which XLA:CPU turns into a multiplication by the reciprocal even eagerly (measured; not for
a one-element array), and the EMA overwrite.

``threads`` (:class:`KerasBase`) must be the backend's intra-op thread count: torch's
``torch.sum`` from 32768 elements and XLA's YNNPACK sums split over threads (on the real
workload, clipnorm over ``head1.weight``, 147456 elements, is exact on two threads and
6464 ULP off when modelled on one)."""


@dataclass(frozen=True)
class KerasBase:
    """The Keras base-optimizer options that act on the tree (module docstring); ``None``
    or ``False`` means off. Plugged into :class:`eps_ref.spec.Optimizer` as its ``base``."""

    clipnorm: float | None = None
    global_clipnorm: float | None = None
    clipvalue: float | None = None
    use_ema: bool = False
    ema_momentum: float = 0.99
    ema_overwrite_frequency: int | None = None
    loss_scale_factor: float | None = None
    gradient_accumulation_steps: int | None = None
    backend: str = "tensorflow"
    threads: int = 1
    """The backend's intra-op threads: the sums of squares of large gradients depend on them
    (TensorFlow's and torch's full reductions are split over threads, XLA's too)."""

    def init(self, leaves: list) -> dict:
        """The extra state: ``"accumulated"`` gradients and the ``"average"`` (EMA)."""
        out = {}
        if self.gradient_accumulation_steps:
            out["accumulated"] = [_zeros_like(p) for p in leaves]
        if self.use_ema:
            out["average"] = [_zeros_like(p) for p in leaves]
        return out

    def clip(self, grads: list) -> list:
        numerics = BACKEND_NUMERICS[self.backend]
        reduction, sqrt_method = numerics["reduction"], numerics["sqrt"]
        if self.clipnorm:
            return clipping.keras_clip_by_norm(grads, clipnorm=self.clipnorm,
                                               reduction=reduction, sqrt_method=sqrt_method,
                                               division=numerics["division"],
                                               threads=self.threads)
        if self.global_clipnorm:
            return clipping.keras_clip_by_global_norm(grads, clipnorm=self.global_clipnorm,
                                                      reduction=reduction,
                                                      sqrt_method=sqrt_method,
                                                      threads=self.threads)
        if self.clipvalue:
            return clipping.keras_clip_by_value(grads, clipvalue=self.clipvalue)
        return grads

    def step(self, params: list, grads: list, state: dict,
             update: Callable[[list, list, Any, int], tuple[list, Any]]) -> tuple[list, dict]:
        """One ``apply`` call. ``update(params, grads, slots, t)`` runs the rule on every
        leaf; returns the new parameter leaves and the new state."""
        calls = state["step"]
        new_state = dict(state, step=calls + 1)
        if self.loss_scale_factor is not None:
            grads = [self._divide(g, self.loss_scale_factor) for g in grads]
        n = self.gradient_accumulation_steps
        iterations = calls // n if n else calls
        if n and (calls + 1) % n != 0:
            new_state["accumulated"] = [g + a for g, a in zip(grads, state["accumulated"])]
        else:
            if n:
                grads = [self._divide(g + a, n) for g, a in zip(grads, state["accumulated"])]
                new_state["accumulated"] = [_zeros_like(a) for a in state["accumulated"]]
            params, new_state["slots"] = update(params, self.clip(grads), state["slots"],
                                                iterations + 1)
        if self.use_ema:
            average = [_ema(a, p, self.ema_momentum if iterations != 0 else 0.0)
                       for a, p in zip(state["average"], params)]
            new_state["average"] = average
            freq = self.ema_overwrite_frequency
            if freq and (iterations + 1) % freq == 0:
                if BACKEND_NUMERICS[self.backend]["ema_overwrite"] == "blend":
                    params = [a * 1.0 + p * 0.0 for a, p in zip(average, params)]
                else:
                    params = list(average)
        return params, new_state

    def _divide(self, x, d):
        if (BACKEND_NUMERICS[self.backend]["division"] == "multiply_by_reciprocal"
                and xla_rewrites_division(x)):
            xp = array_namespace(x)
            return x * (1.0 / xp.asarray(d, dtype=x.dtype))     # reciprocal in x's dtype
        return x / d


def _zeros_like(x):
    return array_namespace(x).zeros_like(x)


def _ema(average, param, momentum: float):
    xp = array_namespace(average, param)
    mu = xp.asarray(momentum, dtype=param.dtype)
    return mu * average + (1 - mu) * param

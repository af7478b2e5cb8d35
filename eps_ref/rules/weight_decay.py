"""Weight decay as the frameworks apply it, shared by every family.

Coupled (L2) decay adds ``weight_decay * param`` to the gradient before the rule sees it;
decoupled decay shrinks the parameter directly, scaled by the learning rate.
"""

from __future__ import annotations

__all__ = ["coupled", "decoupled_lr_scaled_keras", "decoupled_lr_scaled_torch"]


def coupled(grad, param, weight_decay: float):
    """:math:`g + \\lambda\\theta` (torch ``grad.add(param, alpha=weight_decay)``; the scalar
    multiplies first, in the parameter dtype)."""
    if weight_decay == 0:
        return grad
    return grad + weight_decay * param


def decoupled_lr_scaled_keras(param, weight_decay: float, lr: float):
    """:math:`\\theta - (\\theta\\lambda)\\eta`, every operand cast to the parameter dtype:
    Keras 3 ``BaseOptimizer._apply_weight_decay``, run before the update step."""
    if weight_decay == 0:
        return param
    return param - param * weight_decay * lr


def decoupled_lr_scaled_torch(param, weight_decay: float, lr: float):
    """:math:`\\theta (1 - \\eta\\lambda)` with ``1 - lr * weight_decay`` in Python float64,
    then one multiply in the parameter dtype: torch ``param.mul_(1 - lr * weight_decay)``."""
    if weight_decay == 0:
        return param
    return param * (1 - lr * weight_decay)

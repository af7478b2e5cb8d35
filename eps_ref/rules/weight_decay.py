"""Weight decay as the frameworks apply it, shared by every family.

Coupled (L2) decay adds ``weight_decay * param`` to the gradient before the rule sees it;
decoupled decay shrinks the parameter directly, scaled by the learning rate. Each function
rounds as its framework's kernel does.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from eps_ref.rules._numerics import fma

__all__ = ["coupled_fma", "decoupled_lr_scaled_keras", "decoupled_lr_scaled_keras_torch",
           "decoupled_lr_scaled_torch"]


def coupled_fma(grad, param, weight_decay: float):
    """:math:`g + \\lambda\\theta` rounded once: torch's ``grad.add(param, alpha=wd)`` runs
    ATen's vectorized ``add``, which is ``fmadd(param, alpha, grad)`` on CPU."""
    if weight_decay == 0:
        return grad
    xp = array_namespace(grad, param)
    return fma(param, xp.asarray(weight_decay, dtype=param.dtype, device=device(param)), grad)


def decoupled_lr_scaled_keras(param, weight_decay: float, lr: float):
    """:math:`\\theta - (\\theta\\lambda)\\eta`, every operand cast to the parameter dtype:
    Keras 3 ``BaseOptimizer._apply_weight_decay``, run before the update step."""
    if weight_decay == 0:
        return param
    return param - param * weight_decay * lr


def decoupled_lr_scaled_keras_torch(param, weight_decay: float, lr: float):
    """:math:`\\theta (1 - \\lambda\\eta)` with :math:`\\lambda\\eta` and the subtraction in
    the parameter dtype: Keras 3's torch backend ``TorchOptimizer._apply_weight_decay``
    (``torch._foreach_mul_(vars, 1 - weight_decay * learning_rate_variable)``)."""
    if weight_decay == 0:
        return param
    xp = array_namespace(param)
    dev = device(param)
    decay = (xp.asarray(weight_decay, dtype=param.dtype, device=dev)
             * xp.asarray(lr, dtype=param.dtype, device=dev))
    return param * (1 - decay)


def decoupled_lr_scaled_torch(param, weight_decay: float, lr: float):
    """:math:`\\theta (1 - \\eta\\lambda)` with ``1 - lr * weight_decay`` in Python float64,
    then one multiply in the parameter dtype: torch ``param.mul_(1 - lr * weight_decay)``."""
    if weight_decay == 0:
        return param
    return param * (1 - lr * weight_decay)

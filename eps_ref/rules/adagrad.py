r"""Adagrad (Duchi, Hazan & Singer, JMLR 2011), as the frameworks implement it.

Every framework accumulates squared gradients from an initial value :math:`G_0` and scales
the step by their root:

.. math::

    G_t = G_{t-1} + g_t^2, \qquad
    \theta_t = \theta_{t-1} - \eta_t \, \frac{g_t}{D(G_t)}, \qquad
    \eta_t = \frac{\eta}{1 + (t - 1)\,\delta}

with the denominator chosen by ``eps_placement``:

=================  ===============================  ======================================
``outside_sqrt``   :math:`\sqrt{G_t} + \epsilon`    ``torch.optim.Adagrad`` (eps 1e-10)
``inside_sqrt``    :math:`\sqrt{G_t + \epsilon}`    ``keras.optimizers.Adagrad`` (1e-7),
                                                    ``optax.adagrad`` (1e-7)
``none``           :math:`\sqrt{G_t}`               ``tf.compat.v1.train.AdagradOptimizer``
=================  ===============================  ======================================

The frameworks also differ in :math:`G_0` (torch 0, the others 0.1), in the learning-rate
decay :math:`\delta` (torch only), in weight decay (torch couples it to the gradient, Keras
shrinks the parameter first) and in the order in which they multiply, divide and take the
root, which ``update_order`` names:

``"lr_grad_over_root"``
    :math:`\theta - (\eta_t g) / D`: torch ``param.addcdiv_(grad, std, value=-clr)``,
    Keras ``variable - (lr * g) / sqrt(acc + eps)``.
``"grad_lr_times_rsqrt"``
    :math:`\theta - (g \eta)\,\mathrm{rsqrt}(G)`: TensorFlow's ``ApplyAdagrad`` kernel
    (``tensorflow/core/kernels/training_ops.cc``).
``"rsqrt_grad_times_neg_lr"``
    :math:`\theta + (-\eta)\,(\mathrm{rsqrt}(G + \epsilon)\,g)`, the inverse root set to
    0 where :math:`G_t = 0`: optax ``scale_by_rss`` then ``scale_by_learning_rate``.

Where each framework rounds is named too: ``accumulate`` (torch's ``addcmul_`` is one FMA),
``sqrt_method`` and ``rsqrt_method`` (:mod:`eps_ref.rules._roots`: ``torch.sqrt`` is MKL's,
TensorFlow's and XLA's ``rsqrt`` start from the CPU's estimate; none is the correctly
rounded root).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma
from eps_ref.rules._roots import RSQRT_METHODS, SQRT_METHODS, rsqrt, sqrt
from eps_ref.rules.weight_decay import (
    coupled_fma, decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch)

__all__ = ["adagrad", "init", "step", "EPS_PLACEMENTS", "UPDATE_ORDERS", "ACCUMULATES",
           "WEIGHT_DECAY_MODES", "DIRECTIONS"]

EPS_PLACEMENTS = ("outside_sqrt", "inside_sqrt", "none")
UPDATE_ORDERS = ("lr_grad_over_root", "grad_lr_times_rsqrt", "rsqrt_grad_times_neg_lr")
ACCUMULATES = ("multiply_then_add", "fma")
WEIGHT_DECAY_MODES = ("none", "coupled_fma", "decoupled_keras", "decoupled_keras_torch")
DIRECTIONS = ("minimize", "maximize")


def init(param, *, initial_accumulator_value: float) -> dict:
    """The accumulator :math:`G_0`, filled with ``initial_accumulator_value`` in the
    parameter dtype (every framework rounds the Python float once)."""
    xp = array_namespace(param)
    return {"accumulator": xp.full_like(param, initial_accumulator_value)}


def learning_rate_at(lr: float, lr_decay: float, t: int) -> float:
    r""":math:`\eta / (1 + (t - 1)\delta)` in Python float64, as torch computes ``clr``;
    exactly ``lr`` when ``lr_decay`` is 0."""
    return lr / (1 + (t - 1) * lr_decay)


def step(param, grad, slots, *, t: int, lr: float, lr_decay: float, eps: float,
         eps_placement: str, update_order: str, sqrt_method: str, rsqrt_method: str,
         accumulate: str, initial_accumulator_value: float, weight_decay: float,
         weight_decay_mode: str, direction: str):
    r"""One Adagrad step; returns ``(new_param, {"accumulator": G_t})``.

    Args:
        t: the 1-based step number (used by ``lr_decay``).
        lr: the learning rate :math:`\eta`; a Python float, rounded to the parameter dtype
            where it meets an array (torch, Keras, TensorFlow and optax all do).
        lr_decay: torch's :math:`\delta`; 0 keeps :math:`\eta_t = \eta` exactly.
        eps: :math:`\epsilon`; ignored when ``eps_placement="none"``.
        eps_placement: ``"outside_sqrt"``, ``"inside_sqrt"`` or ``"none"`` (table above).
        update_order: the framework's operation order (module docstring).
        sqrt_method: how ``"lr_grad_over_root"`` takes the root: ``"correctly_rounded"``
            or ``"mkl_goldschmidt_rsqrtps"`` (``torch.sqrt`` on CPU, through MKL).
        rsqrt_method: how the two rsqrt orders compute :math:`1/\sqrt{x}`:
            ``"one_over_sqrt"``, ``"eigen_rsqrtps_newton"`` (TensorFlow's CPU kernels) or
            ``"xla_rsqrtps_newton_fma"`` (XLA's CPU ``rsqrt``).
        accumulate: ``"multiply_then_add"`` rounds :math:`g^2` and then the sum;
            ``"fma"`` rounds :math:`G + g \cdot g` once (torch's vectorized ``addcmul_``).
        initial_accumulator_value: :math:`G_0`, used by ``init`` only.
        weight_decay: :math:`\lambda`.
        weight_decay_mode: ``"none"``; ``"coupled_fma"``, torch's :math:`g + \lambda\theta`
            (one rounding) before the accumulator; ``"decoupled_keras"``, Keras'
            :math:`\theta - (\theta\lambda)\eta` before the step;
            ``"decoupled_keras_torch"``, Keras' torch backend,
            :math:`\theta\,(1 - \lambda\eta)` with the product and the difference in
            the parameter dtype.
        direction: ``"minimize"``, or ``"maximize"`` to step along :math:`+g` (torch
            negates the gradient first, before weight decay).
    """
    del initial_accumulator_value
    _check_choice("eps_placement", eps_placement, EPS_PLACEMENTS)
    _check_choice("update_order", update_order, UPDATE_ORDERS)
    _check_choice("sqrt_method", sqrt_method, SQRT_METHODS)
    _check_choice("rsqrt_method", rsqrt_method, RSQRT_METHODS)
    _check_choice("accumulate", accumulate, ACCUMULATES)
    _check_choice("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES)
    _check_choice("direction", direction, DIRECTIONS)
    xp = array_namespace(param, grad)

    if direction == "maximize":
        grad = -grad
    if weight_decay_mode == "coupled_fma":
        grad = coupled_fma(grad, param, weight_decay)
    elif weight_decay_mode == "decoupled_keras":
        param = decoupled_lr_scaled_keras(param, weight_decay, lr)
    elif weight_decay_mode == "decoupled_keras_torch" and weight_decay != 0:
        param = decoupled_lr_scaled_keras_torch(param, weight_decay, lr)

    if accumulate == "fma":
        accumulator = fma(grad, grad, slots["accumulator"])
    else:
        accumulator = slots["accumulator"] + grad * grad
    lr_t = learning_rate_at(lr, lr_decay, t)

    if update_order == "lr_grad_over_root":
        root = _root(accumulator, eps, eps_placement, sqrt_method)
        new_param = param - (lr_t * grad) / root
    elif update_order == "grad_lr_times_rsqrt":
        new_param = param - (grad * lr_t) * rsqrt(_under_root(accumulator, eps, eps_placement),
                                                  rsqrt_method)
    else:
        inverse_root = rsqrt(_under_root(accumulator, eps, eps_placement), rsqrt_method)
        inverse_root = xp.where(accumulator > 0, inverse_root, xp.zeros_like(inverse_root))
        new_param = param + (-lr_t) * (inverse_root * grad)
    return new_param, {"accumulator": accumulator}


def _under_root(accumulator, eps, eps_placement):
    if eps_placement == "inside_sqrt":
        return accumulator + eps
    if eps_placement == "none":
        return accumulator
    raise ValueError("an rsqrt update order has eps inside the root or none; "
                     f"got eps_placement={eps_placement!r}")


def _root(accumulator, eps, eps_placement, sqrt_method):
    if eps_placement == "outside_sqrt":
        return sqrt(accumulator, sqrt_method) + eps
    return sqrt(_under_root(accumulator, eps, eps_placement), sqrt_method)


def _check_choice(keyword, value, choices):
    if value not in choices:
        raise ValueError(f"adagrad: {keyword}={value!r}; expected one of {choices}")


adagrad = Rule("adagrad", init, step)

r"""Stochastic gradient descent: plain, heavy-ball momentum, Nesterov, coupled weight decay.

Every framework writes "SGD with momentum 0.9" differently. With :math:`\theta` the
parameter, :math:`g` the gradient, :math:`\eta` the learning rate, :math:`\mu` the momentum
and :math:`\tau` torch's dampening, the conventions are (``momentum_form``):

``"torch"`` (``torch.optim.SGD``)
    :math:`b_1 = g_1`, :math:`b_t = \mu b_{t-1} + (1-\tau) g_t`;
    :math:`\theta \leftarrow \theta - \eta\, b_t`, or with Nesterov
    :math:`\theta \leftarrow \theta - \eta\,(g_t + \mu b_t)`.
``"torch_fused_cpu"`` (``torch.optim.SGD(fused=True)`` on CPU, ATen's
    ``FusedSGDKernel.cpp``)
    the ``"torch"`` form on whole vectors of :data:`TORCH_FUSED_LANES` floats; the last
    ``numel mod 8`` elements of the flattened parameter go through the kernel's scalar
    loop, which the compiler contracts as :math:`b_t = \mathrm{fma}(b_{t-1}, \mu,
    (1-\tau) g_t)` where the vector loop rounds :math:`\mu b_{t-1}` first.
``"tf1"`` (``tf.compat.v1.train.MomentumOptimizer``, the ``ApplyMomentum`` kernel)
    :math:`a_0 = 0`, :math:`a_t = \mu a_{t-1} + g_t`;
    :math:`\theta \leftarrow \theta - \eta\, a_t`, or with Nesterov
    :math:`\theta \leftarrow \theta - (\eta g_t + (\mu a_t)\eta)`.
``"optax"`` (``optax.sgd`` = ``trace`` then ``scale_by_learning_rate``)
    :math:`m_0 = 0`, :math:`m_t = g_t + \mu m_{t-1}`;
    :math:`\theta \leftarrow \theta + (-\eta)\, m_t`, or with Nesterov
    :math:`\theta \leftarrow \theta + (-\eta)(g_t + \mu m_t)`.
    Without Nesterov this rounds exactly as ``"tf1"`` does.
``"keras"`` (``keras.optimizers.SGD.update_step``: the learning rate lives in the velocity)
    :math:`v_0 = 0`, :math:`v_t = \mu v_{t-1} - \eta g_t`;
    :math:`\theta \leftarrow \theta + v_t`, or with Nesterov
    :math:`\theta \leftarrow \theta + (\mu v_t - \eta g_t)`.
``"keras_torch_backend"`` (Keras 3's torch backend replaces ``update_step`` with
    ``torch._foreach`` calls): the ``"keras"`` velocity, but the Nesterov step is
    :math:`\theta \leftarrow (\theta - \eta g_t) + \mu v_t`.
``"none"``
    :math:`\theta \leftarrow \theta - \eta g_t`.

The heavy-ball forms differ in more than the last bit: torch's first buffer is the gradient
itself (so dampening starts at step 2), and Keras scales the velocity by the learning rate
of the step that produced it, so a learning-rate schedule acts differently.

``multiply_add`` says how each term written :math:`x + a\,y` above rounds. torch's CPU
kernels compute ``x.add(y, alpha=a)`` as one fused multiply-add (``"fused"``, a single
rounding); TensorFlow, Keras and optax multiply and then add (``"separate"``).

Before the momentum step the gradient may be negated (``objective="maximize"``, torch's
``maximize``) and coupled with weight decay (:math:`g + \lambda\theta`, itself an
:math:`x + a\,y` term); Keras instead decays the parameter first, decoupled and scaled by
the learning rate (``weight_decay_form``).

References: Polyak (1964) for heavy-ball momentum; Sutskever et al., *On the importance of
initialization and momentum in deep learning* (ICML 2013) for the Nesterov form.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma
from eps_ref.rules.weight_decay import (
    decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch)

__all__ = ["sgd", "init", "step", "MOMENTUM_FORMS", "LOOKAHEADS", "WEIGHT_DECAY_FORMS",
           "MULTIPLY_ADDS", "OBJECTIVES"]

MOMENTUM_FORMS = ("none", "torch", "torch_fused_cpu", "tf1", "optax", "keras",
                  "keras_torch_backend")
TORCH_FUSED_LANES = 8
"""float32 lanes of the vector loop of torch's fused CPU optimizer kernels (their AVX2 build,
which torch also dispatches to on AVX-512 machines: measured with torch 2.13)."""
LOOKAHEADS = ("none", "nesterov")
WEIGHT_DECAY_FORMS = ("coupled", "decoupled_keras", "decoupled_keras_torch_backend")
MULTIPLY_ADDS = ("separate", "fused")
OBJECTIVES = ("minimize", "maximize")

# The slot each framework keeps, under the framework's own name.
_SLOT = {"torch": "momentum_buffer", "torch_fused_cpu": "momentum_buffer", "tf1": "momentum",
         "optax": "trace", "keras": "momentum", "keras_torch_backend": "momentum"}


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"sgd: {name}={value!r}; expected one of {allowed}")


def _madd(x, a, y, multiply_add):
    """:math:`x + a\\,y`; ``a`` a Python float (cast to the array dtype) or an array."""
    if multiply_add == "separate":
        return x + a * y
    xp = array_namespace(x, y)
    if isinstance(a, (int, float)):
        a = xp.asarray(a, dtype=y.dtype, device=device(y))
    return fma(y, a, x)


def init(param, *, momentum_form="none"):
    """The velocity slot, zeros (torch fills its buffer with the first gradient at step 1)."""
    _check("momentum_form", momentum_form, MOMENTUM_FORMS)
    if momentum_form == "none":
        return {}
    xp = array_namespace(param)
    return {_SLOT[momentum_form]: xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
         momentum_form="none", lookahead="none", weight_decay_form="coupled",
         multiply_add="separate", objective="minimize"):
    """One SGD step.

    Args:
        param, grad: arrays of one floating dtype; neither is modified.
        slots: from :func:`init` or the previous step.
        t: 1-based step number (torch's buffer starts as the gradient at ``t == 1``).
        lr: learning rate :math:`\\eta`.
        momentum: :math:`\\mu`; used by every ``momentum_form`` but ``"none"``.
        dampening: torch's :math:`\\tau` (``"torch"`` form only); default 0.
        weight_decay: :math:`\\lambda`; 0 switches decay off.
        momentum_form: velocity convention and kernel order, see the module docstring.
        lookahead: ``"none"`` steps along the velocity, ``"nesterov"`` along the
            Nesterov look-ahead of the form.
        weight_decay_form: ``"coupled"`` (:math:`g + \\lambda\\theta`, torch),
            ``"decoupled_keras"`` (:math:`\\theta - \\theta\\lambda\\eta` before the step),
            ``"decoupled_keras_torch_backend"`` (:math:`\\theta(1 - \\lambda\\eta)`).
        multiply_add: ``"separate"`` or ``"fused"`` rounding of each :math:`x + a\\,y` term.
        objective: ``"maximize"`` negates the gradient first (torch ``maximize=True``).

    Returns:
        ``(new_param, new_slots)``.
    """
    _check("momentum_form", momentum_form, MOMENTUM_FORMS)
    _check("lookahead", lookahead, LOOKAHEADS)
    _check("weight_decay_form", weight_decay_form, WEIGHT_DECAY_FORMS)
    _check("multiply_add", multiply_add, MULTIPLY_ADDS)
    _check("objective", objective, OBJECTIVES)
    if momentum_form == "none" and lookahead != "none":
        raise ValueError("sgd: lookahead='nesterov' needs a momentum_form")
    if dampening != 0 and momentum_form not in ("torch", "torch_fused_cpu"):
        raise ValueError(f"sgd: dampening is torch's; momentum_form={momentum_form!r}")

    def madd(x, a, y):
        return _madd(x, a, y, multiply_add)

    if objective == "maximize":
        grad = -grad
    if weight_decay != 0:
        if weight_decay_form == "coupled":
            grad = madd(grad, weight_decay, param)
        elif weight_decay_form == "decoupled_keras":
            param = decoupled_lr_scaled_keras(param, weight_decay, lr)
        else:
            param = decoupled_lr_scaled_keras_torch(param, weight_decay, lr)

    nesterov = lookahead == "nesterov"
    if momentum_form == "none":
        return madd(param, -lr, grad), {}

    slot = _SLOT[momentum_form]
    v = slots[slot]
    if momentum_form in ("torch", "torch_fused_cpu"):
        # _single_tensor_sgd: buf = grad.clone() once, then buf.mul_(mu).add_(grad, alpha=1-tau);
        # nesterov grad.add(buf, alpha=mu); param.add_(grad, alpha=-lr).
        if t == 1:
            xp = array_namespace(param, grad)
            v = xp.asarray(grad, copy=True)
        elif momentum_form == "torch":
            v = madd(v * momentum, 1 - dampening, grad)
        else:
            v = _fused_tail(madd(v * momentum, 1 - dampening, grad),
                            madd(grad * (1 - dampening), momentum, v))
        direction = madd(grad, momentum, v) if nesterov else v
        new_param = madd(param, -lr, direction)
    elif momentum_form == "tf1":
        # ApplyMomentum<CPUDevice>: accum = accum * momentum + grad; then
        # var -= grad * lr + accum * momentum * lr (Nesterov) or var -= accum * lr.
        v = madd(grad, momentum, v)
        if nesterov:
            new_param = param - madd(grad * lr, v * momentum, lr)
        else:
            new_param = madd(param, -lr, v)
    elif momentum_form == "optax":
        # trace: g + decay * t (Nesterov: again on the new trace); scale(-lr); p + u.
        v = madd(grad, momentum, v)
        direction = madd(grad, momentum, v) if nesterov else v
        new_param = madd(param, -lr, direction)
    elif momentum_form == "keras":
        # SGD.update_step: m = m * mu - g * lr; assign_add(var, m * mu - g * lr) or (var, m).
        v = madd(v * momentum, -lr, grad)
        new_param = param + (madd(v * momentum, -lr, grad) if nesterov else v)
    else:  # keras_torch_backend
        # torch_sgd.py: _foreach_mul_(bufs, mu); _foreach_add_(bufs, grads, alpha=-lr);
        # Nesterov: _foreach_add_(vars, grads, alpha=-lr); _foreach_add_(vars, bufs, alpha=mu).
        v = madd(v * momentum, -lr, grad)
        new_param = madd(madd(param, -lr, grad), momentum, v) if nesterov else param + v
    return new_param, {slot: v}


def _fused_tail(vector_loop, scalar_loop):
    """``vector_loop`` where torch's fused CPU kernel runs whole vectors, ``scalar_loop`` on
    the last ``numel mod TORCH_FUSED_LANES`` elements of the flattened array."""
    xp = array_namespace(vector_loop)
    n = math.prod(vector_loop.shape)
    tail = xp.arange(n, device=device(vector_loop)) >= n - n % TORCH_FUSED_LANES
    return xp.where(xp.reshape(tail, vector_loop.shape), scalar_loop, vector_loop)


sgd = Rule("sgd", init, step)

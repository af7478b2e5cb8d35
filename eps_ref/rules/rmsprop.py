r"""RMSProp (Hinton, Coursera lecture 6e, 2012) and the variants the frameworks ship.

The rule keeps a decaying average of squared gradients and divides each gradient by its
root. With decay :math:`\rho`, learning rate :math:`\eta` and gradient :math:`g_t`:

.. math::

    v_t &= \rho\, v_{t-1} + (1 - \rho)\, g_t^2, \qquad v_0 = v_{\text{init}} \\
    m_t &= \rho\, m_{t-1} + (1 - \rho)\, g_t, \qquad m_0 = 0
           \quad\text{(centered only)} \\
    s_t &= v_t - m_t^2 \ \text{(centered)} \quad\text{or}\quad v_t \\
    d_t &= \sqrt{s_t} + \epsilon \ \text{(eps outside the root)}
           \quad\text{or}\quad \sqrt{s_t + \epsilon} \ \text{(inside)} \\
    \theta_t &= \theta_{t-1} - \eta\, g_t / d_t \quad\text{(no momentum)}

Momentum comes in two placements of the learning rate, which differ as soon as
:math:`\eta` changes between steps and, in float32, at every step:

.. math::

    \text{lr outside the buffer (torch):}\quad
        b_t = \mu b_{t-1} + g_t / d_t, \quad \theta_t = \theta_{t-1} - \eta\, b_t \\
    \text{lr inside the buffer (Keras, TF1, optax):}\quad
        b_t = \mu b_{t-1} + \eta\, g_t / d_t, \quad \theta_t = \theta_{t-1} - b_t

and optax's Nesterov form applies :math:`u_t + \mu b_t` instead of :math:`b_t`.

Semantic switches (what is computed):

``eps_placement``
    ``"outside_sqrt"`` (torch, optax ``eps_in_sqrt=False``) or ``"inside_sqrt"`` (Keras,
    TF1, optax default).
``initial_square_avg``
    :math:`v_0`: 0 in torch, Keras and optax; 1 in TF1 (its ``rms`` slot starts at ones).
``centered``
    divide by the estimated standard deviation :math:`\sqrt{v - m^2}` instead of the RMS.
``momentum``, ``momentum_form``
    ``"none"``, ``"lr_outside_buffer"``, ``"lr_inside_buffer"`` or
    ``"lr_inside_buffer_nesterov"``. TF1 always keeps its buffer, even at momentum 0.
``bias_correction``
    ``"none"``, or ``"divide_by_one_minus_decay_power"`` (optax): the averages are divided by
    :math:`1 - \rho^t` before use (their stored values are not).
``weight_decay``, ``weight_decay_form``
    ``"coupled"`` (torch: :math:`g + \lambda\theta` before the step) or
    ``"decoupled_before_step"`` (Keras: :math:`\theta - \theta\lambda\eta` before the step).
``maximize``
    ascend instead of descend (torch): the gradient is negated first.

Arithmetic switch (where each framework rounds; bit-exactness depends on it):

``arithmetic``
    ``"torch_cpu"``
        ``torch/optim/rmsprop.py`` ``_single_tensor_rmsprop`` on ATen's CPU kernels, which
        fuse multiply-adds: ``square_avg.mul_(rho).addcmul_(g, g, value=1-rho)`` is
        :math:`\mathrm{fma}((1-\rho)g,\, g,\, \rho v)`; ``grad_avg.lerp_(g, 1-rho)`` is
        :math:`\mathrm{fma}(w, g - m, m)` (for :math:`w \ge 0.5`:
        :math:`\mathrm{fma}(w - 1, g - m, g)`); the centered variance
        ``addcmul(m, m, value=-1)`` is :math:`\mathrm{fma}(-m, m, v)`; the step without
        momentum ``addcdiv_(g, d, value=-lr)`` is :math:`\theta + (-\eta g)/d`; with
        momentum ``add_(buf, alpha=-lr)`` is :math:`\mathrm{fma}(b, -\eta, \theta)`; coupled
        decay ``grad.add(param, alpha=wd)`` is :math:`\mathrm{fma}(\theta, \lambda, g)`.
    ``"keras"``
        ``keras/src/optimizers/rmsprop.py`` ``update_step`` (TensorFlow and JAX backends),
        one rounding per op: :math:`\rho v + (1-\rho)(g\cdot g)`,
        :math:`((v - m\cdot m) + \epsilon)`, :math:`(\eta g)/\sqrt{\cdot}`; :math:`1 - \rho`
        in Python float64, then cast.
    ``"keras_torch_foreach"``
        Keras's torch backend (``keras/src/backend/torch/optimizers/torch_rmsprop.py``),
        which re-implements the step with ``torch._foreach_*`` kernels: :math:`v \leftarrow
        \mathrm{fma}(g\cdot g, 1-\rho, \rho v)`, :math:`m \leftarrow \mathrm{fma}(g, 1-\rho,
        \rho m)`, denominator :math:`\sqrt{(v + \epsilon) - m\cdot m}`, and weight decay
        :math:`\theta\,(1 - \lambda\eta)` with :math:`\lambda\eta` and the subtraction in
        float32.
    ``"tf1_kernel"``
        ``ApplyRMSProp`` / ``ApplyCenteredRMSProp`` in
        ``tensorflow/core/kernels/training_ops.cc`` (Eigen, one rounding per op):
        :math:`v + (g\cdot g - v)(1-\rho)` and :math:`m + (g - m)(1-\rho)` with
        :math:`1-\rho` computed in float32, :math:`\mu b + (g\eta)/\sqrt{\cdot}`.
    ``"optax"``
        ``optax/_src/transform.py`` ``scale_by_rms`` / ``scale_by_stddev``, then
        ``scale_by_learning_rate`` and ``trace``: the scaling is a reciprocal that
        multiplies the gradient, :math:`-\eta\,(g \cdot r)` with
        :math:`r = \mathrm{rsqrt}(s + \epsilon)` or :math:`1/(\sqrt{s} + \epsilon)`, and the
        bias correction divides by :math:`1 - \rho^t` computed in float32.
    ``"tf_keras_rsqrt"``
        Keras 2's ``tf_keras.optimizers.RMSprop`` ``update_step``: the ``"keras"`` averages,
        then the increment :math:`(\eta g)\cdot\mathrm{rsqrt}(s + \epsilon)` (TensorFlow's
        ``tf.math.rsqrt``, ``rsqrt_method``), :math:`b = \mu b + \text{increment}`.
    ``"tf_keras_legacy_ops"``
        Keras 2's ``tf_keras.optimizers.legacy.RMSprop`` without momentum (Python ops):
        :math:`\rho v + c\,(g\cdot g)` and :math:`\rho m + c\,g` with
        :math:`c = 1 - \rho` in float32 from the cast :math:`\rho`, then
        :math:`\theta - (\eta g)/(\sqrt{s} + \epsilon)`.

Root switches (how each kernel takes the root; :mod:`eps_ref.rules._roots`):

``sqrt_method``
    ``"correctly_rounded"`` (Eigen's and XLA's ``sqrt``: Keras on TensorFlow and JAX, TF1,
    optax ``eps_in_sqrt=False``) or ``"mkl_goldschmidt_rsqrtps"`` (``torch.sqrt`` and
    ``torch._foreach_sqrt`` on CPU run MKL's ``vmsSqrt``, not correctly rounded: torch and
    Keras's torch backend).
``rsqrt_method``
    how the optax dialect takes :math:`1/\sqrt{s + \epsilon}` (``jax.lax.rsqrt``):
    ``"xla_rsqrtps_newton_fma"`` (XLA's CPU intrinsic, a hardware estimate and one fused
    Newton step), or ``"one_over_sqrt"``. Unused by the other dialects, which divide by
    the root.
``correction_op``
    optax ``bias_correction=True``: how the jitted ``optax.tree.bias_correction`` applies
    :math:`1/(1-\rho^t)`: ``"multiply_by_reciprocal"`` (the default; XLA's rewrite on a
    one-leaf tree, :func:`~eps_ref.rules._numerics.xla_divide_by_scalar`) or ``"divide"``
    (a tree of several leaves: XLA divides each leaf); the optax dialect picks it per tree
    (:func:`eps_ref.frameworks.optax.tree_bias_correction`).
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma, xla_divide_by_scalar
from eps_ref.rules._roots import RSQRT_METHODS, SQRT_METHODS, rsqrt, sqrt
from eps_ref.rules.weight_decay import (
    coupled_fma, decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch)

__all__ = ["rmsprop", "init", "step", "EPS_PLACEMENTS", "MOMENTUM_FORMS", "ARITHMETIC",
           "BIAS_CORRECTIONS", "WEIGHT_DECAY_FORMS"]

EPS_PLACEMENTS = ("outside_sqrt", "inside_sqrt")
MOMENTUM_FORMS = ("none", "lr_outside_buffer", "lr_inside_buffer", "lr_inside_buffer_nesterov")
ARITHMETIC = ("torch_cpu", "keras", "keras_torch_foreach", "tf1_kernel", "optax")
TF_KERAS_ARITHMETIC = ("tf_keras_rsqrt", "tf_keras_legacy_ops")
"""Keras 2 (``tf_keras`` dialect) arithmetic, accepted besides :data:`ARITHMETIC`."""
BIAS_CORRECTIONS = ("none", "divide_by_one_minus_decay_power")
WEIGHT_DECAY_FORMS = ("coupled", "decoupled_before_step")


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"rmsprop: {name}={value!r}; expected one of {allowed}")


def _scalar(xp, value, like):
    """``value`` as a 0-d array in ``like``'s dtype and on its device (a framework tensor
    scalar, so that arithmetic on it rounds in that dtype)."""
    return xp.asarray(value, dtype=like.dtype, device=device(like))


# -- primitives ---------------------------------------------------------------------------

def _one_minus(xp, decay, like, arithmetic):
    """:math:`1 - \\rho`: in Python float64 then cast (torch, Keras, optax), or in the
    parameter dtype from the cast decay (TF1's kernel: ``static_cast<T>(1) - rho()``)."""
    if arithmetic in ("tf1_kernel", "tf_keras_legacy_ops"):
        return _scalar(xp, 1.0, like) - _scalar(xp, decay, like)
    return 1 - decay


def _lerp_torch(xp, start, end, weight):
    """ATen's CPU ``lerp``: ``fma(w, end - start, start)`` for ``|w| < 0.5``, else
    ``fma(w - 1, end - start, end)`` (``aten/src/ATen/native/cpu/LerpKernel.cpp``)."""
    w = _scalar(xp, weight, start)
    diff = end - start
    if abs(weight) < 0.5:
        return fma(w, diff, start)
    return fma(w - 1, diff, end)


def _square_avg(xp, v, g, decay, c, arithmetic):
    if arithmetic == "torch_cpu":
        return fma(c * g, g, v * decay)
    if arithmetic == "keras_torch_foreach":
        return fma(g * g, _scalar(xp, c, v), v * decay)
    if arithmetic == "tf1_kernel":
        return v + (g * g - v) * c
    return decay * v + c * (g * g)          # keras, optax


def _grad_avg(xp, m, g, decay, c, arithmetic):
    if arithmetic == "torch_cpu":
        return _lerp_torch(xp, m, g, c)
    if arithmetic == "keras_torch_foreach":
        return fma(g, _scalar(xp, c, m), m * decay)
    if arithmetic == "tf1_kernel":
        return m + (g - m) * c
    return decay * m + c * g                # keras, optax


def _bias_corrected(xp, avg, decay, t, correction_op="multiply_by_reciprocal"):
    """optax ``tree_bias_correction``: ``avg / (1 - decay**t)`` as XLA compiles it (the
    helper is ``jax.jit``-ed, so it is compiled even when called eagerly): the power and the
    subtraction in ``avg``'s dtype, and the division by a broadcast scalar rewritten by XLA's
    algebraic simplifier into a multiplication by its reciprocal, ``avg * (1 / (1 - p))``.

    The power of the dtype-cast decay is taken in float64 and rounded once; XLA's CPU
    ``pow`` (libm ``powf``) can differ from that by an ULP, which we measured to vanish in
    ``1 / (1 - p)`` for t <= 1000 and decays 0.3 .. 0.999.
    """
    d = _scalar(xp, decay, avg)
    if avg.dtype == xp.float32:
        power = xp.astype(xp.pow(xp.astype(d, xp.float64),
                                 _scalar(xp, float(t), xp.astype(d, xp.float64))), avg.dtype)
    else:
        power = xp.pow(d, _scalar(xp, float(t), avg))
    if correction_op == "divide":
        return avg / (1 - power)
    return xla_divide_by_scalar(avg, 1 - power)


def _denominator(v, m, eps, eps_placement, arithmetic, sqrt_method):
    """The root the gradient is divided by, eps placed as the framework places it."""
    if arithmetic == "keras_torch_foreach" and eps_placement == "inside_sqrt":
        s = v + eps
        return sqrt(s if m is None else s - m * m, sqrt_method)
    if m is None:
        s = v
    elif arithmetic == "torch_cpu":
        s = fma(-m, m, v)
    else:
        s = v - m * m
    if eps_placement == "inside_sqrt":
        return sqrt(s + eps, sqrt_method)
    return sqrt(s, sqrt_method) + eps


# -- the rule -----------------------------------------------------------------------------

def init(param, *, initial_square_avg, centered, momentum_form, arithmetic):
    """Slots: ``square_avg`` (:math:`v`, at ``initial_square_avg``), ``grad_avg``
    (:math:`m`, centered only) and ``momentum_buffer`` (with momentum)."""
    xp = array_namespace(param)
    _check("momentum_form", momentum_form, MOMENTUM_FORMS)
    _check("arithmetic", arithmetic, ARITHMETIC + TF_KERAS_ARITHMETIC)
    slots = {"square_avg": xp.full_like(param, initial_square_avg)}
    if centered:
        slots["grad_avg"] = xp.zeros_like(param)
    if momentum_form != "none":
        slots["momentum_buffer"] = xp.zeros_like(param)
    return slots


def step(param, grad, slots, *, t, lr, decay, eps, eps_placement, initial_square_avg,
         centered, momentum, momentum_form, bias_correction, weight_decay, weight_decay_form,
         maximize, arithmetic, sqrt_method, rsqrt_method,
         correction_op="multiply_by_reciprocal"):
    """One RMSProp step; returns ``(new_param, new_slots)``. See the module docstring for
    every keyword; ``initial_square_avg`` is used by :func:`init` only."""
    del initial_square_avg
    xp = array_namespace(param, grad)
    _check("eps_placement", eps_placement, EPS_PLACEMENTS)
    _check("momentum_form", momentum_form, MOMENTUM_FORMS)
    _check("bias_correction", bias_correction, BIAS_CORRECTIONS)
    _check("weight_decay_form", weight_decay_form, WEIGHT_DECAY_FORMS)
    _check("arithmetic", arithmetic, ARITHMETIC + TF_KERAS_ARITHMETIC)
    _check("sqrt_method", sqrt_method, SQRT_METHODS)
    _check("rsqrt_method", rsqrt_method, RSQRT_METHODS)
    _check("correction_op", correction_op, ("divide", "multiply_by_reciprocal"))
    if momentum_form == ("lr_outside_buffer" if arithmetic == "optax"
                         else "lr_inside_buffer_nesterov"):
        raise ValueError(f"rmsprop: arithmetic={arithmetic!r} has no "
                         f"momentum_form={momentum_form!r}")

    g = -grad if maximize else grad
    if weight_decay != 0 and weight_decay_form == "coupled":
        if arithmetic == "torch_cpu":
            g = coupled_fma(g, param, weight_decay)
        else:
            g = g + weight_decay * param
    if weight_decay != 0 and weight_decay_form == "decoupled_before_step":
        if arithmetic == "keras_torch_foreach":
            param = decoupled_lr_scaled_keras_torch(param, weight_decay, lr)
        else:
            param = decoupled_lr_scaled_keras(param, weight_decay, lr)

    c = _one_minus(xp, decay, param, arithmetic)
    new = {"square_avg": _square_avg(xp, slots["square_avg"], g, decay, c, arithmetic)}
    v, m = new["square_avg"], None
    if centered:
        new["grad_avg"] = m = _grad_avg(xp, slots["grad_avg"], g, decay, c, arithmetic)
    if bias_correction == "divide_by_one_minus_decay_power":
        v = _bias_corrected(xp, v, decay, t, correction_op)
        m = None if m is None else _bias_corrected(xp, m, decay, t, correction_op)

    if arithmetic == "optax":
        if eps_placement == "inside_sqrt":
            s = v if m is None else v - m * m
            reciprocal = rsqrt(s + eps, rsqrt_method)
        else:
            reciprocal = 1 / _denominator(v, m, eps, eps_placement, arithmetic, sqrt_method)
        update = -lr * (reciprocal * g)
        if momentum_form == "none":
            return param + update, new
        buf = update + momentum * slots["momentum_buffer"]
        new["momentum_buffer"] = buf
        if momentum_form == "lr_inside_buffer_nesterov":
            return param + (update + momentum * buf), new
        return param + buf, new

    if arithmetic == "tf_keras_rsqrt":
        if eps_placement != "inside_sqrt" or momentum_form not in ("none", "lr_inside_buffer"):
            raise ValueError("rmsprop: arithmetic='tf_keras_rsqrt' has eps inside the root "
                             "and the learning rate inside the buffer")
        s = v if m is None else v - m * m
        increment = (lr * g) * rsqrt(s + eps, rsqrt_method)
        if momentum_form == "none":
            return param - increment, new
        buf = momentum * slots["momentum_buffer"] + increment
        new["momentum_buffer"] = buf
        return param - buf, new

    denom = _denominator(v, m, eps, eps_placement, arithmetic, sqrt_method)
    if momentum_form == "none":
        return param - (lr * g) / denom, new
    if momentum_form == "lr_outside_buffer":
        buf = slots["momentum_buffer"] * momentum + g / denom
        new["momentum_buffer"] = buf
        if arithmetic == "torch_cpu":
            return fma(buf, _scalar(xp, -lr, param), param), new
        return param - lr * buf, new
    buf = momentum * slots["momentum_buffer"] + (lr * g) / denom      # lr_inside_buffer
    new["momentum_buffer"] = buf
    return param - buf, new


rmsprop = Rule("rmsprop", init, step)

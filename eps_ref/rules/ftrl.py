r"""FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013,
Algorithm 1), as the frameworks implement it.

Per coordinate, with accumulated squared gradients :math:`n` (starting at
``initial_accumulator_value``, not 0 as in the paper) and the linear term :math:`z`
(starting at 0), one step with gradient :math:`g` is

.. math::

    \hat g &= g + 2 \lambda_s w, \qquad n' = n + g^2, \\
    \sigma &= \frac{n'^{-p} - n^{-p}}{\eta}, \qquad z' = z + \left(\hat g - \sigma w\right), \\
    q &= \frac{n'^{-p}}{\eta} + 2 \lambda_2', \qquad
    w' = \begin{cases} \dfrac{\lambda_1 \operatorname{sign}(z') - z'}{q} & |z'| > \lambda_1 \\
                       0 & \text{otherwise,} \end{cases}

where :math:`p` is ``learning_rate_power`` (-1/2 in the paper, where
:math:`n^{1/2}/\eta` is the per-coordinate inverse learning rate), :math:`\lambda_1` and
:math:`\lambda_2` the L1 and L2 strengths, :math:`\lambda_s` the "L2 shrinkage" (a magnitude
penalty folded into the gradient) and :math:`\lambda_2' = \lambda_2 + \beta / (2\eta)` folds
the paper's :math:`\beta` into the L2 term. There is no epsilon anywhere: the accumulator's
initial value plays its part (0 is allowed and then :math:`n^{-p}` may be 0). The L1 term
produces exact zeros.

The frameworks agree on this formula and differ in how they round it:

``power_form``
    ``"sqrt_at_minus_half"``: TensorFlow's ``ApplyFtrl``/``ApplyFtrlV2`` kernels
    (``tensorflow/core/kernels/training_ops.cc``) take ``sqrt`` when
    :math:`p = -1/2` (in the parameter dtype) and ``pow`` otherwise; ``"pow"``: Keras 3 and
    ``tf_keras.optimizers.Ftrl`` always call ``pow(n, -p)``.
``pow_method``
    how ``pow`` rounds: ``"correctly_rounded"`` (the float64 power rounded once),
    ``"eigen_generic_pow"`` (TensorFlow's CPU kernels) or ``"sleef_powf_u10"`` (torch's
    CPU ``pow``): see :func:`power`.
``shrink_form``
    ``"select_sign"``: the kernels' ``|z| > l1 ? (l1 sign(z) - z) / q : 0``; ``"clip"``:
    Keras' ``(clip(z, -l1, l1) - z) / q`` (the same numbers).
``beta_fold``
    how :math:`\lambda_2'` is rounded, always in the parameter dtype: ``"tf1"``,
    ``l2 + beta / (2 max(lr, 1e-36))`` (``FtrlOptimizer._prepare``); ``"keras"``,
    ``l2 + beta / (2 lr)``; ``"keras_torch"``, ``l2 + (1 / (2 lr)) * beta`` (Keras' Python
    ``beta / tensor`` under the torch backend: ``Tensor.__rtruediv__`` takes the
    reciprocal, then multiplies).
``grad_square``
    ``"multiply"`` (``g * g``) or ``"pow"`` (``tf.pow(g, 2)``, ``tf_keras.optimizers.Ftrl``),
    rounded by ``pow_method``.
"""

from __future__ import annotations


from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import Rule
from eps_ref.rules._numerics import xla_rewrites_division
from eps_ref.rules._roots import sqrt
from eps_ref.rules.weight_decay import decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch

__all__ = ["ftrl", "init", "step", "power", "POWER_FORMS", "POW_METHODS", "SHRINK_FORMS",
           "BETA_FOLDS", "GRAD_SQUARES", "WEIGHT_DECAY_MODES"]

POWER_FORMS = ("sqrt_at_minus_half", "pow")
POW_METHODS = ("correctly_rounded", "eigen_generic_pow", "sleef_powf_u10", "libm_powf")
SHRINK_FORMS = ("select_sign", "clip")
BETA_FOLDS = ("tf1", "keras", "keras_torch")
GRAD_SQUARES = ("multiply", "pow")
WEIGHT_DECAY_MODES = ("none", "decoupled_keras", "decoupled_keras_torch")
SCALAR_DIVISIONS = ("divide", "multiply_by_reciprocal")


def init(param, *, initial_accumulator_value: float) -> dict:
    """The accumulator :math:`n_0` filled with ``initial_accumulator_value`` (in the
    parameter dtype) and the linear term :math:`z_0 = 0`."""
    xp = array_namespace(param)
    return {"accumulator": xp.full_like(param, initial_accumulator_value),
            "linear": xp.zeros_like(param)}


def power(x, exponent: float, method: str = "correctly_rounded", threads: int = 1):
    r""":math:`x^{e}` elementwise for :math:`x \ge 0`, with ``exponent`` first rounded to
    the dtype of ``x`` (the frameworks pass it as a tensor of that dtype).

    ``"correctly_rounded"`` rounds the float64 power once (float32 inputs).
    ``"eigen_generic_pow"`` reproduces Eigen's vectorized ``generic_pow`` for float32, the
    kernel behind ``tf.pow`` and the TensorFlow training kernels on CPU: a double-word
    :math:`\log_2` of the significand, the product with :math:`e` in double-word
    arithmetic, and a polynomial :math:`2^r`; it is within about 1 ULP, not correctly
    rounded (about one float32 input in four comes out one ULP away).
    ``"sleef_powf_u10"`` reproduces SLEEF's ``powf`` (u10, FMA build), the kernel behind
    ``torch.pow(tensor, tensor)`` on CPU and so Keras' ``ops.power`` under the torch
    backend (:mod:`eps_ref.rules._sleef_pow`): a double-float :math:`\log` and
    :math:`\exp`, within 1 ULP (about two float32 inputs in 100 come out one ULP away).
    ``"libm_powf"`` reproduces glibc's ``powf`` as XLA:CPU calls it (denormals flushed),
    the kernel behind ``jnp.power`` and so Keras' ``ops.power`` under the JAX backend
    (:mod:`eps_ref.rules._libm_pow`): within 0.82 ULP (about 6 float32 inputs in 10^4 come
    out one ULP away).
    """
    if method not in POW_METHODS:
        raise ValueError(f"unknown pow method {method!r}; expected one of {POW_METHODS}")
    xp = array_namespace(x)
    if method == "eigen_generic_pow" and x.dtype == xp.float32:
        from eps_ref.rules._eigen_pow import eigen_pow_float32
        return eigen_pow_float32(x, exponent)
    if method == "libm_powf" and x.dtype == xp.float32:
        from eps_ref.rules._libm_pow import powf_glibc
        return powf_glibc(x, exponent, subnormals="flush_to_zero")
    if method == "sleef_powf_u10" and x.dtype == xp.float32:
        from eps_ref.rules._sleef_pow import sleef_powf
        return sleef_powf(x, exponent, threads=threads)
    e = float(xp.asarray(exponent, dtype=x.dtype))
    if e == 0.0:
        return xp.ones_like(x)
    wide = xp.float64 if x.dtype == xp.float32 else x.dtype
    return xp.astype(xp.pow(xp.astype(x, wide), e), x.dtype)


def step(param, grad, slots, *, t: int, lr: float, lr_power: float, l1: float, l2: float,
         l2_shrinkage: float, beta: float, beta_fold: str, power_form: str, pow_method: str,
         shrink_form: str, grad_square: str, initial_accumulator_value: float,
         weight_decay: float, weight_decay_mode: str, scalar_division: str = "divide",
         threads: int = 1):
    r"""One FTRL-Proximal step; returns ``(new_param, {"accumulator": n', "linear": z'})``.

    Args:
        t: the 1-based step number (unused: FTRL's schedule lives in the accumulator).
        lr: :math:`\eta`, rounded to the parameter dtype.
        lr_power: :math:`p \le 0` (-0.5 at every framework's default; 0 gives a fixed
            learning rate and a plain dual-averaging step).
        l1, l2: :math:`\lambda_1`, :math:`\lambda_2 \ge 0`.
        l2_shrinkage: :math:`\lambda_s \ge 0`; 0 skips the term entirely (the kernels run
            ``ApplyFtrl`` then, ``ApplyFtrlV2`` otherwise).
        beta: the paper's :math:`\beta`, folded into :math:`\lambda_2'` by ``beta_fold``.
        power_form, pow_method, shrink_form, grad_square: the rounding switches of the
            module docstring.
        initial_accumulator_value: :math:`n_0`, used by ``init`` only.
        weight_decay, weight_decay_mode: Keras' decoupled decay applied before the step
            (``"decoupled_keras"``, ``"decoupled_keras_torch"``) or ``"none"``.
        scalar_division: ``"divide"``, or ``"multiply_by_reciprocal"``: XLA compiles each
            eager division of an array by the 0-d learning rate (Keras on JAX:
            ``ops.divide(..., lr)``) into a multiplication by the rounded :math:`1/\eta`.
        threads: the intra-op thread count of the run (``"sleef_powf_u10"``: it places
            ATen's scalar tails past 32768 elements).
    """
    del t, initial_accumulator_value
    for keyword, value, choices in (("beta_fold", beta_fold, BETA_FOLDS),
                                    ("power_form", power_form, POWER_FORMS),
                                    ("shrink_form", shrink_form, SHRINK_FORMS),
                                    ("grad_square", grad_square, GRAD_SQUARES),
                                    ("weight_decay_mode", weight_decay_mode,
                                     WEIGHT_DECAY_MODES),
                                    ("scalar_division", scalar_division, SCALAR_DIVISIONS)):
        if value not in choices:
            raise ValueError(f"ftrl: {keyword}={value!r}; expected one of {choices}")
    if pow_method not in POW_METHODS:
        raise ValueError(f"ftrl: pow_method={pow_method!r}; expected one of {POW_METHODS}")
    xp = array_namespace(param, grad)
    dtype = param.dtype

    def scalar(value):
        return xp.asarray(value, dtype=dtype, device=_device(param))

    if weight_decay_mode == "decoupled_keras":
        param = decoupled_lr_scaled_keras(param, weight_decay, lr)
    elif weight_decay_mode == "decoupled_keras_torch" and weight_decay != 0:
        param = decoupled_lr_scaled_keras_torch(param, weight_decay, lr)

    lr_ = scalar(lr)
    # lambda_2' in the parameter dtype, as the framework's tensors compute it.
    floor = xp.maximum(lr_, scalar(1e-36)) if beta_fold == "tf1" else lr_
    if beta_fold == "keras_torch":      # torch's float / Tensor: reciprocal, then multiply
        l2_ = scalar(l2) + (scalar(1.0) / (scalar(2.0) * lr_)) * scalar(beta)
    else:
        l2_ = scalar(l2) + scalar(beta) / (scalar(2.0) * floor)

    if l2_shrinkage != 0:
        grad_hat = grad + scalar(2.0 * l2_shrinkage) * param
    else:
        grad_hat = grad
    if grad_square == "pow":
        accumulator = slots["accumulator"] + power(grad, 2.0, pow_method, threads)
    else:
        accumulator = slots["accumulator"] + grad * grad

    def inverse_rate_numerator(n):                    # n^{-p}
        if power_form == "sqrt_at_minus_half" and float(scalar(lr_power)) == -0.5:
            return sqrt(n, "correctly_rounded")
        return power(n, -lr_power, pow_method, threads)

    def over_lr(x):
        if scalar_division == "multiply_by_reciprocal" and xla_rewrites_division(x, lr_):
            return x * (scalar(1.0) / lr_)
        return x / lr_

    root_new = inverse_rate_numerator(accumulator)
    sigma = over_lr(root_new - inverse_rate_numerator(slots["accumulator"]))
    linear = slots["linear"] + (grad_hat - sigma * param)
    quadratic = over_lr(root_new) + scalar(2.0) * l2_
    l1_ = scalar(l1)
    if shrink_form == "clip":
        clipped = xp.minimum(xp.maximum(linear, -l1_), l1_)
        new_param = (clipped - linear) / quadratic
    else:
        shrunk = (l1_ * xp.sign(linear) - linear) / quadratic
        new_param = xp.where(xp.abs(linear) > l1_, shrunk, xp.zeros_like(shrunk))
    return new_param, {"accumulator": accumulator, "linear": linear}


ftrl = Rule("ftrl", init, step)

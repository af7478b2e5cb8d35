r"""NAdam: Adam with Nesterov momentum and Dozat's momentum schedule, in each framework's
arithmetic.

Dozat (2016), with step :math:`t \ge 1`, gradient :math:`g_t`, the momentum schedule

.. math::

    \mu_t &= \beta_1 \left(1 - \tfrac12\, 0.96^{t\psi}\right), \qquad
    \Pi_t = \prod_{i \le t} \mu_i \\
    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    \hat m_t &= \frac{\mu_{t+1} m_t}{1 - \Pi_t \mu_{t+1}} + \frac{(1-\mu_t) g_t}{1 - \Pi_t},
    \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t} \\
    \theta_t &= \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \varepsilon)

eps sits OUTSIDE the bias-corrected root in both torch and Keras. The schedule's
``momentum_decay`` :math:`\psi` is 0.004 in torch (``momentum_decay``); Keras has no such
keyword and uses :math:`0.96^t`, i.e. :math:`\psi = 1`: its momentum reaches
:math:`\beta_1` within a few hundred steps, torch's after tens of thousands.
optax's ``nadam`` is the Adam rule with ``momentum_estimate="nesterov"``
(:mod:`eps_ref.rules.adam`), which has no schedule.

Switches (each framework's rounding; bit-exactness depends on them):

``schedule_arithmetic``
    ``"python_float"`` (torch: :math:`\mu_t`, :math:`1-\beta_2^t` and the two step sizes in
    float64, :math:`\Pi_t` a float32 tensor multiplied by the float32-rounded
    :math:`\mu_t`); ``"param_dtype"`` (Keras: ``ops.power(0.96, t)``,
    :math:`\mu_t`, :math:`\Pi_t`, :math:`\beta_2^t` and every ``1 - x`` in the param dtype,
    powers correctly rounded, see :func:`eps_ref.rules.adam.rounded_power`).
``mu_product_update``
    ``"times_mu"``: :math:`\Pi_t = \Pi_{t-1}\mu_t` (torch; Keras' torch backend);
    ``"times_beta1_then_factor"``: :math:`\Pi_t = (\Pi_{t-1}\beta_1)(1 - \tfrac12
    0.96^t)`, two roundings (Keras ``Nadam._backend_update_step``, tensorflow and jax
    backends).
``moment_update``, ``one_minus_beta``
    as in :mod:`eps_ref.rules.adam`: ``"lerp_addcmul_fma"`` (torch CPU), ``"difference"``
    (Keras ``m += (g - m)(1 - beta_1)``, where Keras' Nadam takes ``1 - beta_1`` from the
    cast beta: ``one_minus_beta="param_dtype"``), ``"scale_add_fma"`` (Keras' torch
    backend ``_foreach_mul_``/``_foreach_add_(alpha=1-b)``).
``step_form``
    ``"torch_addcdiv"``: :math:`d = \sqrt{v/(1-\beta_2^t)} + \varepsilon`, then
    :math:`\theta \mathrel{+}= (c_1 g)/d` and :math:`\theta \mathrel{+}= (c_2 m)/d` with the
    float64 scalars :math:`c_1 = -\eta(1-\mu_t)/(1-\Pi_t)`, :math:`c_2 = -\eta\mu_{t+1}/(1 -
    \Pi_t\mu_{t+1})` (torch ``_single_tensor_nadam``: two ``addcdiv_``);
    ``"torch_foreach_addcdiv"``: the same two ``addcdiv_`` with
    :math:`d = \sqrt{v}/\sqrt{1-\beta_2^t} + \varepsilon`, the root of the raw moment divided
    by the float64 root of the correction (torch ``_multi_tensor_nadam``, ``foreach=True``:
    ``_foreach_sqrt`` then ``_foreach_div_`` by ``(1 - beta2**t) ** 0.5``);
    ``"keras_m_hat"``: :math:`\theta - (\hat m_t \eta)/(\sqrt{\hat v_t} + \varepsilon)`,
    every operation rounded (Keras).
``schedule_arithmetic="param_dtype_scaled_exponent"``, ``step_form="tf_keras_legacy"``
    Keras 2's ``tf_keras.optimizers.legacy.Nadam``: :math:`\mu_t = \beta_1(1 - \tfrac12
    0.96^{\psi t})` with :math:`\psi t` a float32 product (``schedule_decay`` 0.004) and a
    float32 ``tf.pow``; then :math:`g' = g/(1-\Pi_t)`, :math:`m' = m/(1-\Pi_t\mu_{t+1})`,
    :math:`v' = v/(1-\beta_2^t)`, :math:`\bar m = (1-\mu_t) g' + \mu_{t+1} m'`,
    :math:`\theta - (\eta \bar m)/(\sqrt{v'} + \varepsilon)`, with
    ``moment_update="weighted_sum"`` and ``one_minus_beta="param_dtype"``.
``scalar_division``
    ``"divide"``, or ``"multiply_by_reciprocal"``: under Keras' jax backend every
    ``ops.divide(array, scalar)`` runs eagerly as one XLA computation in which the
    algebraic simplifier turns the division by a broadcast scalar into a multiplication by
    its rounded reciprocal (the three divisions of ``"keras_m_hat"``; measured 1 ULP at
    step 1 otherwise).
``weight_decay_mode``
    ``"none"``, ``"coupled_fma"``, ``"decoupled_torch"``, ``"decoupled_keras"``,
    ``"decoupled_keras_torch"``, as in :mod:`eps_ref.rules.adam`.
``objective``
    ``"minimize"`` or ``"maximize"`` (torch: the gradient's sign is flipped first).
``sqrt_method``
    ``"correctly_rounded"`` or ``"mkl_goldschmidt_rsqrtps"`` (``torch.sqrt`` on CPU).

Sources: ``torch/optim/nadam.py`` (v2.13.0), ``keras/src/optimizers/nadam.py`` and
``keras/src/backend/torch/optimizers/torch_nadam.py`` (v3.15.1).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules.weight_decay import coupled_fma, decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch, decoupled_lr_scaled_torch
from eps_ref.rules import Rule
from eps_ref.rules._numerics import xla_rewrites_division
from eps_ref.rules.adam import _itemsize, _round, _scalar, _sqrt, _update_moments, rounded_power

__all__ = ["nadam", "init", "step", "SCHEDULE_DECAY"]

SCHEDULE_DECAY = 0.96
"""The base of Dozat's momentum schedule, fixed in both torch and Keras."""

SCHEDULE_ARITHMETICS = ("python_float", "param_dtype", "param_dtype_scaled_exponent")
MU_PRODUCT_UPDATES = ("times_mu", "times_beta1_then_factor")
STEP_FORMS = ("torch_addcdiv", "torch_foreach_addcdiv", "keras_m_hat", "tf_keras_legacy")
SCALAR_DIVISIONS = ("divide", "multiply_by_reciprocal")
WEIGHT_DECAY_MODES = ("none", "coupled_fma", "decoupled_torch", "decoupled_keras",
                      "decoupled_keras_torch")
OBJECTIVES = ("minimize", "maximize")


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"nadam: {name} must be one of {allowed}, got {value!r}")


def init(param):
    """Zero moments and the momentum product :math:`\\Pi_0 = 1`, a 0-d array of the param
    dtype (torch keeps it as a float32 scalar tensor, Keras as a variable)."""
    xp = array_namespace(param)
    return {"m": xp.zeros_like(param), "v": xp.zeros_like(param),
            "mu_product": _scalar(xp, 1.0, param.dtype, getattr(param, "device", None))}


def _schedule_factor(t, momentum_decay, schedule_arithmetic, itemsize):
    """:math:`1 - \\tfrac12 0.96^{t\\psi}` as a Python float."""
    if schedule_arithmetic == "python_float":
        return 1.0 - 0.5 * (SCHEDULE_DECAY ** (t * momentum_decay))
    if schedule_arithmetic == "param_dtype_scaled_exponent":
        # Keras 2 legacy Nadam: tf.pow(0.96, psi * t), the exponent a param-dtype product
        # (exact in float64), the power of two param-dtype numbers rounded once.
        exponent = _round(_round(momentum_decay, itemsize) * float(t), itemsize)
        power = _round(_round(SCHEDULE_DECAY, itemsize) ** exponent, itemsize)
        return _round(1.0 - 0.5 * power, itemsize)
    if momentum_decay != 1.0:
        raise ValueError("nadam: schedule_arithmetic='param_dtype' (Keras) has momentum_decay=1")
    power = rounded_power(SCHEDULE_DECAY, t, itemsize)
    return _round(1.0 - 0.5 * power, itemsize)


def step(param, grad, slots, *, t, lr, beta1, beta2, eps, momentum_decay=0.004,
         weight_decay=0.0, weight_decay_mode="none", schedule_arithmetic="python_float",
         mu_product_update="times_mu", moment_update="lerp_addcmul_fma",
         one_minus_beta="python_float", step_form="torch_addcdiv", objective="minimize",
         sqrt_method="mkl_goldschmidt_rsqrtps", scalar_division="divide"):
    """One NAdam step; returns ``(new_param, new_slots)``. ``lr``, ``beta1``, ``beta2``,
    ``eps``, ``momentum_decay`` (:math:`\\psi`), ``weight_decay`` are Python floats; the
    switches are described in the module docstring."""
    xp = array_namespace(param, grad)
    dtype = param.dtype
    size = _itemsize(xp, dtype)
    for name, value, allowed in (
        ("schedule_arithmetic", schedule_arithmetic, SCHEDULE_ARITHMETICS),
        ("mu_product_update", mu_product_update, MU_PRODUCT_UPDATES),
        ("step_form", step_form, STEP_FORMS),
        ("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES),
        ("objective", objective, OBJECTIVES),
        ("scalar_division", scalar_division, SCALAR_DIVISIONS),
    ):
        _check(name, value, allowed)

    def over(x, scalar):
        """``x / scalar`` for a Python float ``scalar`` already rounded to the dtype."""
        if scalar_division == "multiply_by_reciprocal" and xla_rewrites_division(x):
            return x * _round(1.0 / scalar, size)
        return x / scalar

    g = -grad if objective == "maximize" else grad
    p = param
    if weight_decay != 0:
        if weight_decay_mode == "coupled_fma":
            g = coupled_fma(g, p, weight_decay)
        elif weight_decay_mode == "decoupled_torch":
            p = decoupled_lr_scaled_torch(p, weight_decay, lr)
        elif weight_decay_mode == "decoupled_keras":
            p = decoupled_lr_scaled_keras(p, weight_decay, lr)
        elif weight_decay_mode == "decoupled_keras_torch":
            p = decoupled_lr_scaled_keras_torch(p, weight_decay, lr)
        else:
            raise ValueError("nadam: weight_decay != 0 needs a weight_decay_mode")

    if one_minus_beta == "python_float":
        w1, w2 = _round(1 - beta1, size), _round(1 - beta2, size)
    elif one_minus_beta == "param_dtype":
        w1, w2 = _round(1 - _round(beta1, size), size), _round(1 - _round(beta2, size), size)
    else:
        raise ValueError(f"nadam: one_minus_beta must be 'python_float' or 'param_dtype', "
                         f"got {one_minus_beta!r}")
    m, v = _update_moments(xp, slots["m"], slots["v"], g, beta1=beta1, beta2=beta2,
                           w1=w1, w2=w2, moment_update=moment_update)

    # The momentum schedule and its running product.
    f_t = _schedule_factor(t, momentum_decay, schedule_arithmetic, size)
    f_next = _schedule_factor(t + 1, momentum_decay, schedule_arithmetic, size)
    if schedule_arithmetic == "python_float":
        mu, mu_next = beta1 * f_t, beta1 * f_next
    else:
        b1 = _round(beta1, size)
        mu, mu_next = _round(b1 * f_t, size), _round(b1 * f_next, size)
    if mu_product_update == "times_mu":
        product = slots["mu_product"] * mu
    else:
        product = (slots["mu_product"] * _round(beta1, size)) * f_t
    new_slots = {"m": m, "v": v, "mu_product": product}
    pi = float(product)

    if step_form in ("torch_addcdiv", "torch_foreach_addcdiv"):
        bias_correction2 = 1 - beta2 ** t
        if step_form == "torch_addcdiv":
            denom = _sqrt(xp, over(v, _round(bias_correction2, size)), sqrt_method) + eps
        else:
            denom = over(_sqrt(xp, v, sqrt_method), _round(bias_correction2 ** 0.5, size)) + eps
        c_grad = -lr * (1.0 - mu) / (1.0 - pi)
        c_momentum = (-lr * mu_next) / (1.0 - pi * mu_next)
        p = p + (c_grad * g) / denom
        return p + (c_momentum * m) / denom, new_slots

    if step_form == "tf_keras_legacy":
        # tf_keras legacy Nadam._resource_apply_dense: the gradient and the momentum are
        # divided by their schedule products separately, every scalar in the param dtype.
        if schedule_arithmetic == "python_float":
            raise ValueError("nadam: step_form='tf_keras_legacy' needs param-dtype scalars")
        pi_next = _round(pi * mu_next, size)
        g_prime = over(g, _round(1 - pi, size))
        m_prime = over(m, _round(1 - pi_next, size))
        v_prime = over(v, _round(1 - rounded_power(beta2, t, size), size))
        m_bar = _round(1 - mu, size) * g_prime + mu_next * m_prime
        return p - (lr * m_bar) / (_sqrt(xp, v_prime, sqrt_method) + eps), new_slots

    # keras_m_hat: every scalar a param-dtype value.
    if schedule_arithmetic == "python_float":
        pi_next = pi * mu_next
        bc_momentum, bc_grad = 1 - pi_next, 1 - pi
        one_minus_mu = 1 - mu
        bc2 = 1 - beta2 ** t
    else:
        pi_next = _round(pi * mu_next, size)
        bc_momentum, bc_grad = _round(1 - pi_next, size), _round(1 - pi, size)
        one_minus_mu = _round(1 - mu, size)
        bc2 = _round(1 - rounded_power(beta2, t, size), size)
    m_hat = over(m * mu_next, bc_momentum) + over(g * one_minus_mu, bc_grad)
    v_hat = over(v, bc2)
    return p - (m_hat * lr) / (_sqrt(xp, v_hat, sqrt_method) + eps), new_slots


nadam = Rule("nadam", init, step)

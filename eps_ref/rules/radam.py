r"""RAdam, rectified Adam, in each framework's arithmetic.

Liu et al. (2020), Algorithm 2, with step :math:`t \ge 1`, gradient :math:`g_t`:

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad \hat m_t = m_t / (1 - \beta_1^t) \\
    \rho_\infty &= \frac{2}{1-\beta_2} - 1, \qquad
    \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \\
    r_t &= \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
                      {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}} \\
    \theta_t &= \theta_{t-1} - \eta \begin{cases}
        r_t\, \hat m_t / (\sqrt{\hat v_t} + \varepsilon) & \rho_t > \tau \\
        \hat m_t & \text{otherwise (SGD with momentum, no eps)} \end{cases}

with :math:`\hat v_t = v_t/(1-\beta_2^t)`, eps OUTSIDE the root and the threshold
:math:`\tau = 5`. With the default :math:`\beta_2 = 0.999` the rectified branch starts at
step 6; before it eps plays no part at all.

Switches:

``arithmetic``
    ``"torch_cpu"`` (``torch/optim/radam.py`` ``_single_tensor_radam``): :math:`\rho_t`,
    :math:`r_t` and :math:`1 - \beta^t` in Python float64; moments ``lerp_`` /
    ``addcmul_`` (FMAs, as torch Adam); the step :math:`\theta - ((\hat m \eta)\,
    a)\, r_t` with :math:`a = (1 / (\sqrt{v} + \varepsilon)) \sqrt{1-\beta_2^t}` (a
    Python float over a tensor is ``reciprocal()`` times the float in torch), eps added
    to the raw root (which is the corrected root's eps scaled by :math:`\sqrt{1-\beta_2^t}`,
    the same formula); test :math:`\rho_t > \tau`.
    ``"torch_cpu_foreach"`` (``_multi_tensor_radam``, ``foreach=True``): the same
    :math:`\rho_t`, :math:`r_t` and moments, but one multiplier per element,
    :math:`b = 1 / ((\sqrt{v} + \varepsilon) / s) + u` with the float64 scalars
    :math:`s = -\sqrt{1-\beta_2^t}\, \eta r_t / (1-\beta_1^t)` and
    :math:`u = -\eta / (1-\beta_1^t)` before the rectification, 0 after (:math:`r_t = 0`
    before it, so :math:`s = -0` and torch divides by it), then
    :math:`\theta + m\, b` (``addcmul_``, one FMA).
    ``"optax"`` (``optax.scale_by_radam``, run eagerly): :math:`\beta_2^t` by float32
    binary exponentiation (``jnp.power`` with a concrete integer step is
    ``lax.integer_pow``; subnormal products flushed to zero), :math:`\rho_t` and
    :math:`r_t` in float32; moments :math:`(1-\beta)g + \beta m`; the corrections
    :math:`m \cdot (1/(1-\beta^t))` (the jitted ``tree_bias_correction``);
    :math:`u = (r_t \hat m) / (\sqrt{\hat v + \varepsilon_{root}} + \varepsilon)`; test
    :math:`\rho_t \ge \tau`; :math:`\theta + (-\eta) u`.
``momentum_estimate``
    ``"bias_corrected"`` or ``"nesterov"`` (optax ``nesterov=True``: :math:`\beta_1
    m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)`).
``weight_decay_mode``
    ``"none"``, ``"coupled_fma"`` (torch L2, one FMA), ``"decoupled_torch"``
    (:math:`\theta(1-\eta\lambda)` before the step).
``objective``
    ``"minimize"`` or ``"maximize"`` (torch).
``sqrt_method``
    ``"correctly_rounded"`` or ``"mkl_goldschmidt_rsqrtps"`` (``torch.sqrt`` on CPU).
``correction_op``
    ``arithmetic="optax"``: how the jitted ``optax.tree.bias_correction`` applies
    :math:`1/(1-\beta^t)`:
    ``"multiply_by_reciprocal"`` (the default; XLA compiles the jit of a one-leaf tree into
    a multiplication by the rounded reciprocal) or ``"divide"`` (a tree of several leaves:
    XLA divides each leaf). The optax dialect picks it per tree
    (:func:`eps_ref.frameworks.optax.tree_bias_correction`).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules.weight_decay import coupled_fma, decoupled_lr_scaled_torch
from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma
from eps_ref.rules.adam import (CORRECTION_OPS, _corrected, _itemsize, _round, _scalar,
                                _sqrt, _update_moments, rounded_power)

__all__ = ["radam", "init", "step", "binary_power", "rho"]

ARITHMETICS = ("torch_cpu", "torch_cpu_foreach", "optax")
MOMENTUM_ESTIMATES = ("bias_corrected", "nesterov")
WEIGHT_DECAY_MODES = ("none", "coupled_fma", "decoupled_torch")
OBJECTIVES = ("minimize", "maximize")

_FLT_MIN = 2.0 ** -126


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"radam: {name} must be one of {allowed}, got {value!r}")


def binary_power(base: float, t: int, itemsize: int = 4) -> float:
    """:math:`\\beta^t` by binary exponentiation, each product rounded to the float of
    ``itemsize`` bytes and (float32) flushed to zero below the smallest normal, as XLA's
    CPU ``integer_pow`` computes it (``jax._src.lax.lax._integer_pow``)."""
    if t < 1:
        raise ValueError(f"radam: binary_power needs t >= 1, got {t}")

    def mul(a, b):
        r = _round(a * b, itemsize)
        return 0.0 if itemsize == 4 and abs(r) < _FLT_MIN else r

    x, acc = _round(base, itemsize), None
    while t > 0:
        if t & 1:
            acc = x if acc is None else mul(acc, x)
        t >>= 1
        if t > 0:
            x = mul(x, x)
    return acc


def rho(t: int, beta2: float, arithmetic: str = "torch_cpu", itemsize: int = 4):
    """:math:`(\\rho_\\infty, \\rho_t)` as the framework computes them, Python floats."""
    rho_inf = 2 / (1 - beta2) - 1
    if arithmetic in ("torch_cpu", "torch_cpu_foreach"):
        power = beta2 ** float(t)
        return rho_inf, rho_inf - 2 * float(t) * power / (1 - power)
    _check("arithmetic", arithmetic, ARITHMETICS)
    r = lambda x: _round(x, itemsize)  # noqa: E731
    power = binary_power(beta2, t, itemsize)
    return rho_inf, r(r(rho_inf) - r(r(r(2.0 * t) * power) / r(1.0 - power)))


def _rectification(rho_inf, rho_t, arithmetic, itemsize):
    """:math:`r_t`, Python float64 (torch) or float32 operations (optax)."""
    if arithmetic in ("torch_cpu", "torch_cpu_foreach"):
        return ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    r = lambda x: _round(x, itemsize)  # noqa: E731
    numerator = r(r(r(rho_t - 4.0) * r(rho_t - 2.0)) * r(rho_inf))
    denominator = r(r((rho_inf - 4.0) * (rho_inf - 2.0)) * rho_t)
    return r(r(numerator / denominator) ** 0.5)


def init(param):
    """Zero first and second moments."""
    xp = array_namespace(param)
    return {"m": xp.zeros_like(param), "v": xp.zeros_like(param)}


def step(param, grad, slots, *, t, lr, beta1, beta2, eps, eps_root=0.0, threshold=5.0,
         weight_decay=0.0, weight_decay_mode="none", arithmetic="torch_cpu",
         momentum_estimate="bias_corrected", objective="minimize",
         sqrt_method="mkl_goldschmidt_rsqrtps", correction_op="multiply_by_reciprocal"):
    """One RAdam step; returns ``(new_param, new_slots)``. ``lr``, ``beta1``, ``beta2``,
    ``eps``, ``eps_root``, ``threshold`` (:math:`\\tau`), ``weight_decay`` are Python
    floats; see the module docstring for the switches."""
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, getattr(param, "device", None)
    size = _itemsize(xp, dtype)
    for name, value, allowed in (
        ("arithmetic", arithmetic, ARITHMETICS),
        ("momentum_estimate", momentum_estimate, MOMENTUM_ESTIMATES),
        ("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES),
        ("objective", objective, OBJECTIVES),
        ("correction_op", correction_op, CORRECTION_OPS),
    ):
        _check(name, value, allowed)
    if arithmetic != "optax" and (eps_root != 0 or momentum_estimate != "bias_corrected"):
        raise ValueError("radam: eps_root and momentum_estimate='nesterov' need "
                         "arithmetic='optax'")

    g = -grad if objective == "maximize" else grad
    p = param
    if weight_decay != 0:
        if weight_decay_mode == "coupled_fma":
            g = coupled_fma(g, p, weight_decay)
        elif weight_decay_mode == "decoupled_torch":
            p = decoupled_lr_scaled_torch(p, weight_decay, lr)
        else:
            raise ValueError("radam: weight_decay != 0 needs a weight_decay_mode")

    w1, w2 = _round(1 - beta1, size), _round(1 - beta2, size)
    moment_update = "weighted_sum" if arithmetic == "optax" else "lerp_addcmul_fma"
    m, v = _update_moments(xp, slots["m"], slots["v"], g, beta1=beta1, beta2=beta2,
                           w1=w1, w2=w2, moment_update=moment_update)
    new_slots = {"m": m, "v": v}
    rho_inf, rho_t = rho(t, beta2, arithmetic, size)

    if arithmetic == "torch_cpu":
        m_hat = m / (1 - beta1 ** t)
        if not rho_t > threshold:
            return p - m_hat * lr, new_slots
        bias_correction2 = 1 - beta2 ** t
        # ``float / tensor`` is ``Tensor.__rtruediv__``: ``tensor.reciprocal() * float``.
        adaptive = (1.0 / (_sqrt(xp, v, sqrt_method) + eps)) * bias_correction2 ** 0.5
        rect = _rectification(rho_inf, rho_t, arithmetic, size)
        return p - ((m_hat * lr) * adaptive) * rect, new_slots

    if arithmetic == "torch_cpu_foreach":
        bias_correction1 = 1 - beta1 ** t
        rect = _rectification(rho_inf, rho_t, arithmetic, size) if rho_t > threshold else 0
        unrectified = 0 if rect > 0 else 1.0
        rect_scale = _scalar(xp, ((1 - beta2 ** t) ** 0.5) * (lr * rect / bias_correction1) * -1,
                             dtype, dev)
        unrect_step = _round((lr * unrectified / bias_correction1) * -1, size)
        root = _sqrt(xp, v, sqrt_method) + eps
        if rect > 0:
            multiplier = 1 / (root / rect_scale) + unrect_step
        else:
            # 1 / (root / -0.0) is -0.0 for root > 0 and NaN for root = 0 (eps = 0, v = 0)
            # or NaN: the multiplier is the SGD step size there.
            multiplier = xp.where(root > 0, _scalar(xp, unrect_step, dtype, dev),
                                  _scalar(xp, xp.nan, dtype, dev))
        return fma(m, multiplier, p), new_slots

    def corrected(x, k):
        return _corrected(xp, x, rounded_power(beta1, k, size), dtype, dev, correction_op)

    if momentum_estimate == "nesterov":
        m_hat = beta1 * corrected(m, t + 1) + w1 * corrected(g, t)
    else:
        m_hat = corrected(m, t)
    if rho_t >= _round(threshold, size):
        v_hat = _corrected(xp, v, rounded_power(beta2, t, size), dtype, dev, correction_op)
        rect = _rectification(rho_inf, rho_t, arithmetic, size)
        u = (rect * m_hat) / (_sqrt(xp, v_hat + eps_root, sqrt_method) + eps)
    else:
        u = m_hat
    return p + (-lr) * u, new_slots


radam = Rule("radam", init, step)

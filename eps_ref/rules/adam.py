r"""The Adam family: Adam, AdamW and AMSGrad, in each framework's arithmetic.

Kingma & Ba (2015), Algorithm 1, with step :math:`t \ge 1`, gradient :math:`g_t`:

.. math::

    m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
    v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
    \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t) \\
    \theta_t &= \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \varepsilon)

The frameworks agree on these equations and differ in the parts that matter near eps:

``eps_placement``
    ``"outside_corrected_root"`` (optax): :math:`\hat m_t / (\sqrt{\hat v_t + \varepsilon_{root}}
    + \varepsilon)`, the moments divided by their float32 bias corrections.
    ``"outside_corrected_root_folded"`` (torch): the same formula with the corrections folded
    into Python-float scalars, :math:`\theta + (-\eta/(1-\beta_1^t))\, m_t /
    (\sqrt{v_t}/\sqrt{1-\beta_2^t} + \varepsilon)`.
    ``"eps_hat"`` (Keras, tf.compat.v1): the formula just before Section 2.1 of the paper,
    :math:`\theta - m_t \alpha_t / (\sqrt{v_t} + \hat\varepsilon)` with
    :math:`\alpha_t = \eta \sqrt{1-\beta_2^t} / (1-\beta_1^t)`. Here eps is added to the raw
    root, so it acts like :math:`\varepsilon = \hat\varepsilon/\sqrt{1-\beta_2^t}` of
    Algorithm 1: about 31.6 times larger at step 1 than the same number in torch or optax.
``amsgrad``
    ``"none"``; ``"max_of_raw"``: :math:`v^{max}_t = \max(v^{max}_{t-1}, v_t)` before the
    bias correction (torch, Keras); ``"max_of_corrected"``: the max of :math:`\hat v_t`
    (optax.amsgrad). They differ because :math:`1-\beta_2^t` grows with t.
``weight_decay_mode``
    ``"none"``; ``"coupled_fma"``: L2, :math:`g + \lambda\theta` with one rounding (torch's
    ``grad.add(param, alpha=wd)``, an FMA on CPU); ``"decoupled_torch"``: :math:`\theta (1 -
    \eta\lambda)` before the step, the factor in Python float64; ``"decoupled_keras"``:
    :math:`\theta - \theta\lambda\eta` before the step in the param dtype (Keras base
    optimizer under the tensorflow and jax backends); ``"decoupled_keras_torch"``:
    :math:`\theta (1 - \lambda\eta)` with the factor in float32 (Keras' torch backend);
    ``"decoupled_optax"``: :math:`u + \lambda\theta` added to the Adam direction before the
    learning rate scales it (``optax.adamw``).
``moment_update``
    how the two moving averages are rounded: ``"lerp_addcmul_fma"`` (torch CPU:
    ``exp_avg.lerp_(g, 1-b1)`` and ``exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)``, both
    with a fused multiply-add), ``"torch_fused_cpu"`` (torch ``fused=True``: the same, but
    the kernel's scalar loop over the last ``numel % 8`` elements computes
    :math:`\mathrm{fma}(v, \beta_2, (1-\beta_2) g\, g)`), ``"difference"``
    (:math:`m + (g-m)(1-\beta_1)`: Keras, the TF1 ``ApplyAdam`` kernel), ``"weighted_sum"``
    (:math:`(1-\beta_1)g + \beta_1 m`: optax), ``"scale_add_fma"``
    (:math:`\mathrm{fma}(g, 1-\beta_1, \beta_1 m)`: Keras' torch backend, ``_foreach_mul_``
    then ``_foreach_add_(..., alpha=1-b1)``).
``one_minus_beta``
    ``"python_float"``: :math:`1-\beta` computed in float64 then rounded to the param dtype
    (torch, Keras, optax); ``"param_dtype"``: computed from the rounded beta in the param
    dtype (TF1 kernels: ``T(1) - beta1()``).
``bias_correction``
    how :math:`\beta^t` is computed: ``"python_float"`` (torch: ``beta ** step`` in float64),
    ``"pow_param_dtype"`` (Keras ``ops.power``, optax ``decay ** count``: a float32 power,
    correctly rounded), ``"libm_powf"`` (the same float32 power as glibc's ``powf`` rounds
    it, which is what those calls run on CPU: :func:`libm_power`),
    ``"running_product"`` (TF1: ``beta1_power`` float32 variables multiplied by beta after
    every step).
``corrected_moments``
    ``"both"``, ``"first"``, ``"second"`` or ``"neither"`` moment bias-corrected
    (``optax.amsgrad``'s ``bias_correction_mu`` / ``bias_correction_nu``).
``momentum_estimate``
    ``"bias_corrected"`` (:math:`\hat m_t`) or ``"nesterov"`` (optax ``nesterov=True``, Dozat
    2016: :math:`\beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)`).
``objective``
    ``"minimize"``, or ``"maximize"`` (torch: the gradient's sign is flipped first).
``first_moment_dtype``
    ``None`` (the param dtype) or a float dtype name to store :math:`m` in (optax
    ``mu_dtype``; with ``moment_update="weighted_sum"``).
``correction_op``
    ``"divide"`` by :math:`1-\beta^t`, or ``"multiply_by_reciprocal"``: XLA compiles optax's
    jitted ``tree_bias_correction`` (a division by a broadcast scalar) into a multiplication
    by the rounded reciprocal. Applies where the moments are divided (the
    ``"outside_corrected_root"`` placement); the other placements fold the correction into
    a scalar step size, and there ``"multiply_by_reciprocal"`` is refused.
``sqrt_method``
    ``"correctly_rounded"``, or ``"mkl_goldschmidt_rsqrtps"``: ``torch.sqrt`` on CPU is MKL's
    ``vmsSqrt``, which on non-Intel x86 CPUs is not correctly rounded (see
    :mod:`eps_ref.rules._roots`).

A float32 power computed by the frameworks (glibc ``powf`` through TensorFlow, XLA and torch)
is not always correctly rounded; this module rounds :math:`\beta^t` correctly, see
:func:`rounded_power`.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

from array_api_compat import array_namespace

from eps_ref.rules.weight_decay import coupled_fma, decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch, decoupled_lr_scaled_torch
from eps_ref.rules import Rule, _roots
from eps_ref.rules._numerics import fma, xla_divide_by_scalar

__all__ = ["adam", "init", "step", "rounded_power", "libm_power"]

EPS_PLACEMENTS = ("outside_corrected_root", "outside_corrected_root_folded", "eps_hat")
AMSGRAD = ("none", "max_of_raw", "max_of_corrected")
WEIGHT_DECAY_MODES = ("none", "coupled_fma", "decoupled_torch", "decoupled_keras",
                      "decoupled_keras_torch", "decoupled_optax")
MOMENT_UPDATES = ("lerp_addcmul_fma", "torch_fused_cpu", "difference", "weighted_sum",
                  "scale_add_fma")
TORCH_FUSED_VECTOR_WIDTH = 8
"""float32 lanes of torch's fused Adam CPU kernel, under AVX2 and AVX-512 dispatch alike:
``FusedAdamKernel.cpp`` registers with ``REGISTER_DISPATCH``, which leaves the AVX-512 slot
empty (``ATen/native/DispatchStub.h``), so an AVX-512 host runs the AVX2 build (measured on
parameter lists up to 10^6 elements, both dispatches, 1 and 2 threads)."""
ONE_MINUS_BETA = ("python_float", "param_dtype")
BIAS_CORRECTIONS = ("python_float", "pow_param_dtype", "libm_powf", "running_product")
CORRECTED_MOMENTS = ("both", "first", "second", "neither")
MOMENTUM_ESTIMATES = ("bias_corrected", "nesterov")
OBJECTIVES = ("minimize", "maximize")
SQRT_METHODS = _roots.SQRT_METHODS
CORRECTION_OPS = ("divide", "multiply_by_reciprocal")


# -- scalars ----------------------------------------------------------------------------

_PACK = {2: "e", 4: "f"}


def _itemsize(xp, dtype) -> int:
    return 8 if dtype == xp.float64 else 2 if str(dtype).endswith("float16") else 4


def _round(x: float, itemsize: int) -> float:
    """``x`` rounded to nearest-even in a float of ``itemsize`` bytes, as a Python float."""
    if itemsize == 8:
        return x
    return struct.unpack(_PACK[itemsize], struct.pack(_PACK[itemsize], x))[0]


def rounded_power(base: float, t: int, itemsize: int = 4) -> float:
    r""":math:`\beta^t` for the float :math:`\beta` rounded to ``itemsize`` bytes, correctly
    rounded to that float format (float32 by default): the value a float32 ``pow(beta, t)``
    should return.

    The float64 power is within one float64 ulp of the exact value; only when it lies that
    close to a float32 rounding boundary is the exact rational power consulted.
    """
    b = _round(base, itemsize)
    y = b ** t
    if itemsize == 8:
        return y
    r = _round(y, itemsize)
    if y == r or y == 0.0:
        return r
    other = _round(2 * y - r, itemsize)         # the neighbour on y's side of r
    if other == r:
        return r
    mid = (r + other) / 2                       # exact in float64
    if abs(y - mid) > 4 * abs(y) * 2.0 ** -52:
        return r
    exact = Fraction(b) ** t
    if exact == Fraction(mid):
        return r if struct.unpack("<I", struct.pack("<f", r))[0] % 2 == 0 else other
    return other if (exact > Fraction(mid)) == (other > r) else r


def libm_power(base: float, t: int, itemsize: int = 4) -> float:
    r""":math:`\beta^t` as a float32 ``pow(beta, t)`` on 0-d tensors computes it on CPU under
    TensorFlow, XLA and torch: glibc's scalar ``powf`` (not correctly rounded: for
    :math:`t` in the hundreds about one power in 200 is 1 ULP off), reproduced bit for bit
    by :func:`eps_ref.rules._libm_pow.powf_glibc_scalar` (denormals flushed as XLA and
    TensorFlow run it; a subnormal :math:`\beta^t` cannot change :math:`1-\beta^t`).
    Other float formats fall back to :func:`rounded_power`."""
    if itemsize != 4:
        return rounded_power(base, t, itemsize)
    from eps_ref.rules._libm_pow import powf_glibc_scalar
    return powf_glibc_scalar(base, float(t), subnormals="flush_to_zero")


def _scalar(xp, value, dtype, device):
    return xp.asarray(value, dtype=dtype, device=device)


def _sqrt(xp, x, method="correctly_rounded"):
    """Square root as ``method`` computes it (:func:`eps_ref.rules._roots.sqrt`).
    ``"correctly_rounded"`` is the IEEE root: NumPy's float32 ``sqrt``, and for other
    namespaces float32 through float64, which rounds the root correctly even where the
    namespace's own float32 ``sqrt`` does not (torch's CPU ``sqrt`` is MKL's); the second
    rounding is harmless because 53 >= 2 * 24 + 2 bits. ``"mkl_goldschmidt_rsqrtps"``:
    MKL's kernel."""
    if method not in SQRT_METHODS:
        raise ValueError(f"adam: sqrt_method must be one of {SQRT_METHODS}, got {method!r}")
    return _roots.sqrt(x, method)       # NumPy float32: its own sqrt, the IEEE instruction


# -- slots ------------------------------------------------------------------------------

def init(param, *, amsgrad="none", bias_correction="python_float", first_moment_dtype=None,
         beta1=0.9, beta2=0.999):
    """Zero first and second moments (and their running max for AMSGrad).

    ``first_moment_dtype`` stores :math:`m` in another float dtype (optax ``mu_dtype``);
    TF1's ``beta1_power``/``beta2_power`` accumulators start at :math:`\\beta` as float32.
    """
    xp = array_namespace(param)
    dev = getattr(param, "device", None)
    m_dtype = param.dtype if first_moment_dtype is None else getattr(xp, first_moment_dtype)
    slots = {"m": xp.zeros(param.shape, dtype=m_dtype, device=dev), "v": xp.zeros_like(param)}
    if amsgrad != "none":
        slots["v_max"] = xp.zeros_like(param)
    if bias_correction == "running_product":
        slots["beta1_power"] = _scalar(xp, beta1, xp.float32, dev)
        slots["beta2_power"] = _scalar(xp, beta2, xp.float32, dev)
    return slots


# -- primitives -------------------------------------------------------------------------

def _update_moments(xp, m, v, g, *, beta1, beta2, w1, w2, moment_update):
    """New first and second moments; ``w1``, ``w2`` are the dtype-rounded ``1 - beta``."""
    if moment_update in ("lerp_addcmul_fma", "torch_fused_cpu"):
        # ATen lerp: fma(w, end - self, self) for |w| < 0.5, else fma(w - 1, end - self, end).
        w = xp.full_like(g, w1)
        m_new = fma(w, g - m, m) if w1 < 0.5 else fma(w - 1, g - m, g)
        v_new = fma(w2 * g, g, v * beta2)             # addcmul: fma(value * t1, t2, self)
        if moment_update == "torch_fused_cpu":
            # FusedAdamKernel's scalar loop over the last numel % width elements: the
            # compiler fuses the other product, fma(v, beta2, (1-beta2) g g).
            n = math.prod(g.shape)
            tail = n % TORCH_FUSED_VECTOR_WIDTH
            if tail:
                index = xp.reshape(xp.arange(n, device=getattr(g, "device", None)), g.shape)
                v_tail = fma(v, xp.full_like(v, beta2), (w2 * g) * g)
                v_new = xp.where(index >= n - tail, v_tail, v_new)
        m, v = m_new, v_new
    elif moment_update == "difference":
        m = m + (g - m) * w1
        v = v + (g * g - v) * w2
    elif moment_update == "weighted_sum":
        # beta as an array of m's dtype: a float16 m (optax mu_dtype) multiplies by the
        # float16 beta as jax does, where torch would keep a Python beta in float32.
        m = w1 * g + _scalar(xp, beta1, m.dtype, getattr(m, "device", None)) * m
        v = w2 * (g * g) + beta2 * v
    elif moment_update == "scale_add_fma":
        m = fma(g, xp.full_like(g, w1), m * beta1)
        v = fma(g * g, xp.full_like(g, w2), v * beta2)
    else:
        raise ValueError(f"adam: moment_update must be one of {MOMENT_UPDATES}, "
                         f"got {moment_update!r}")
    return m, v


def _powers(slots, t, *, beta1, beta2, bias_correction, corrected_moments, itemsize):
    """:math:`(\\beta_1^t, \\beta_2^t)` as Python floats, 0 for an uncorrected moment."""
    if bias_correction == "python_float":
        p1, p2 = beta1 ** float(t), beta2 ** float(t)
    elif bias_correction == "pow_param_dtype":
        p1, p2 = rounded_power(beta1, t, itemsize), rounded_power(beta2, t, itemsize)
    elif bias_correction == "libm_powf":
        p1, p2 = libm_power(beta1, t, itemsize), libm_power(beta2, t, itemsize)
    elif bias_correction == "running_product":
        p1 = _round(float(slots["beta1_power"]), itemsize)
        p2 = _round(float(slots["beta2_power"]), itemsize)
    else:
        raise ValueError(f"adam: bias_correction must be one of {BIAS_CORRECTIONS}, "
                         f"got {bias_correction!r}")
    if corrected_moments not in CORRECTED_MOMENTS:
        raise ValueError(f"adam: corrected_moments must be one of {CORRECTED_MOMENTS}, "
                         f"got {corrected_moments!r}")
    if corrected_moments in ("second", "neither"):
        p1 = 0.0
    if corrected_moments in ("first", "neither"):
        p2 = 0.0
    return p1, p2


def _corrected(xp, x, power, dtype, device, correction_op):
    """:math:`x / (1 - \\beta^t)` with :math:`1 - \\beta^t` rounded to the param dtype, or
    :math:`x \\cdot (1 / (1 - \\beta^t))`, the reciprocal rounded first, as XLA computes it
    (:func:`~eps_ref.rules._numerics.xla_divide_by_scalar`: a one-element ``x`` divides)."""
    one = _scalar(xp, 1.0, dtype, device)
    bc = one - _scalar(xp, power, dtype, device)
    if correction_op == "multiply_by_reciprocal":
        return xla_divide_by_scalar(x, bc)
    return x / bc


# -- the step ---------------------------------------------------------------------------

def step(param, grad, slots, *, t, lr, beta1, beta2, eps, eps_root=0.0, weight_decay=0.0,
         weight_decay_mode="none", eps_placement="outside_corrected_root", amsgrad="none",
         moment_update="weighted_sum", one_minus_beta="python_float",
         bias_correction="pow_param_dtype", corrected_moments="both",
         momentum_estimate="bias_corrected", objective="minimize", first_moment_dtype=None,
         sqrt_method="correctly_rounded", correction_op="divide"):
    """One Adam step; returns ``(new_param, new_slots)``. See the module docstring for the
    switches; ``lr``, ``beta1``, ``beta2``, ``eps``, ``eps_root``, ``weight_decay`` are the
    hyperparameters as Python floats."""
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, getattr(param, "device", None)
    itemsize = _itemsize(xp, dtype)
    for name, value, allowed in (
        ("eps_placement", eps_placement, EPS_PLACEMENTS), ("amsgrad", amsgrad, AMSGRAD),
        ("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES),
        ("one_minus_beta", one_minus_beta, ONE_MINUS_BETA),
        ("momentum_estimate", momentum_estimate, MOMENTUM_ESTIMATES),
        ("objective", objective, OBJECTIVES), ("correction_op", correction_op, CORRECTION_OPS),
    ):
        if value not in allowed:
            raise ValueError(f"adam: {name} must be one of {allowed}, got {value!r}")
    if eps_placement != "outside_corrected_root":
        for name, value, default in (
            ("eps_root", eps_root, 0), ("momentum_estimate", momentum_estimate, "bias_corrected"),
            ("correction_op", correction_op, "divide"),
        ):
            if value != default:
                raise ValueError(f"adam: {name}={value!r} needs "
                                 "eps_placement='outside_corrected_root'")
        if amsgrad == "max_of_corrected" or weight_decay_mode == "decoupled_optax":
            raise ValueError("adam: amsgrad='max_of_corrected' and weight_decay_mode="
                             "'decoupled_optax' need eps_placement='outside_corrected_root'")
    if first_moment_dtype is not None and moment_update != "weighted_sum":
        raise ValueError("adam: first_moment_dtype needs moment_update='weighted_sum'")

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
        elif weight_decay_mode == "none":
            raise ValueError("adam: weight_decay != 0 needs a weight_decay_mode")

    if one_minus_beta == "python_float":
        w1, w2 = _round(1 - beta1, itemsize), _round(1 - beta2, itemsize)
    else:
        w1 = _round(1 - _round(beta1, itemsize), itemsize)
        w2 = _round(1 - _round(beta2, itemsize), itemsize)
    m_full, v = _update_moments(xp, slots["m"], slots["v"], g, beta1=beta1, beta2=beta2,
                                w1=w1, w2=w2, moment_update=moment_update)
    m = m_full
    if first_moment_dtype is not None:
        m = xp.astype(m_full, getattr(xp, first_moment_dtype))
    p1, p2 = _powers(slots, t, beta1=beta1, beta2=beta2, bias_correction=bias_correction,
                     corrected_moments=corrected_moments, itemsize=itemsize)
    new_slots = {"m": m, "v": v}
    if bias_correction == "running_product":
        new_slots["beta1_power"] = slots["beta1_power"] * _scalar(xp, beta1, xp.float32, dev)
        new_slots["beta2_power"] = slots["beta2_power"] * _scalar(xp, beta2, xp.float32, dev)

    if eps_placement == "outside_corrected_root":
        m_hat = _corrected(xp, m_full, p1, dtype, dev, correction_op)
        if momentum_estimate == "nesterov":
            p1_next = _powers(slots, t + 1, beta1=beta1, beta2=beta2,
                              bias_correction=bias_correction,
                              corrected_moments=corrected_moments, itemsize=itemsize)[0]
            m_hat = (beta1 * _corrected(xp, m_full, p1_next, dtype, dev, correction_op)
                     + w1 * _corrected(xp, g, p1, dtype, dev, correction_op))
        v_hat = _corrected(xp, v, p2, dtype, dev, correction_op)
        if amsgrad == "max_of_corrected":
            v_hat = xp.maximum(slots["v_max"], v_hat)
            new_slots["v_max"] = v_hat
        elif amsgrad == "max_of_raw":
            new_slots["v_max"] = xp.maximum(slots["v_max"], v)
            v_hat = _corrected(xp, new_slots["v_max"], p2, dtype, dev, correction_op)
        u = m_hat / (_sqrt(xp, v_hat + eps_root, sqrt_method) + eps)
        if weight_decay != 0 and weight_decay_mode == "decoupled_optax":
            u = u + weight_decay * p
        return p + (-lr) * u, new_slots

    if amsgrad == "max_of_raw":
        v = xp.maximum(slots["v_max"], v)
        new_slots["v_max"] = v
    if eps_placement == "outside_corrected_root_folded":
        step_size = lr / (1 - p1)
        bc2_sqrt = (1 - p2) ** 0.5
        denom = _sqrt(xp, v, sqrt_method) / bc2_sqrt + eps
        return p + (-step_size) * m / denom, new_slots
    # eps_hat: alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t), every operation in the dtype.
    one = _scalar(xp, 1.0, dtype, dev)
    alpha = (_scalar(xp, lr, dtype, dev)
             * _sqrt(xp, xp.asarray(one - _scalar(xp, p2, dtype, dev)), sqrt_method)
             / (one - _scalar(xp, p1, dtype, dev)))
    return p - (m * alpha) / (_sqrt(xp, v, sqrt_method) + eps), new_slots


adam = Rule("adam", init, step)

r"""Layer-wise trust ratios: LAMB (You et al. 2020) and LARS (You, Gitman & Ginsburg 2017).

Both rules compute a direction :math:`u` per layer (one parameter array), then rescale it by
the layer's *trust ratio*, the ratio of two L2 norms,

.. math::

    r = \frac{\phi(\lVert\theta\rVert_2)}{\lVert u\rVert_2},

so that the step of every layer is proportional to the size of its weights.

LAMB (You et al. 2020, *Large Batch Optimization for Deep Learning: Training BERT in 76
minutes*, Algorithm 2) takes :math:`u` from Adam with weight decay folded in:

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    \hat m_t &= m_t/(1-\beta_1^t), \qquad \hat v_t = v_t/(1-\beta_2^t) \\
    u_t &= \hat m_t / (\sqrt{\hat v_t} + \epsilon) + \lambda\theta_{t-1} \\
    \theta_t &= \theta_{t-1} - \eta\, \frac{\phi(\lVert\theta_{t-1}\rVert)}{\lVert u_t\rVert}\, u_t

LARS (You et al. 2017, Algorithm 1, as ``optax.lars`` arranges it) takes
:math:`u = g + \lambda\theta`, scales it by :math:`\eta\,\tau\lVert\theta\rVert /
(\lVert u\rVert + \epsilon)` (:math:`\tau` the trust coefficient) and feeds the result to heavy-ball
momentum.

The frameworks agree on these formulas and differ in the parts this module makes explicit:

``zero_norm``
    ``"ratio_one"`` (Keras, optax): the ratio is 1 where *either* norm is 0, so a layer at
    :math:`\theta = 0` still moves and a zero direction stays zero.
    ``"formula"`` (the paper): :math:`\phi(\lVert\theta\rVert)/\lVert u\rVert` as written; only a
    zero direction (where the quotient is 0/0 and the step is zero anyway) takes ratio 1, so
    with :math:`\phi(z) = z` a layer at :math:`\theta = 0` never moves.
``phi``
    ``"identity"`` (every framework) or ``"clip"``: :math:`\phi(z) = \min(\max(z,
    \gamma_l), \gamma_u)` (the paper's scaling function, Section 3).
``weight_decay_mode``
    ``"added_to_direction"`` (paper, optax: :math:`u + \lambda\theta` before the norm);
    ``"decoupled_keras"`` (Keras' base optimizer: :math:`\theta - \theta\lambda\eta` before
    the step, so the norm sees the decayed weights and :math:`u` has no decay term);
    ``"decoupled_keras_torch"`` (the same under Keras' torch backend, :math:`\theta(1 -
    \lambda\eta)` with the factor in float32).
``moment_update``
    ``"difference"`` (Keras: :math:`m + (g - m)(1-\beta_1)`) or ``"weighted_sum"``
    (optax, paper: :math:`(1-\beta_1) g + \beta_1 m`).
``bias_correction``
    ``"pow_param_dtype"`` (Keras ``ops.power``, optax ``decay ** count``: a float32 power,
    rounded correctly here, see :func:`eps_ref.rules.adam.rounded_power`) or
    ``"python_float"`` (the paper's real-number :math:`\beta^t`, rounded once).
``correction_op``
    ``"divide"`` by :math:`1-\beta^t`, or ``"multiply_by_reciprocal"`` (optax: XLA compiles
    the jitted ``tree_bias_correction`` into a multiplication by the rounded reciprocal).
``step_order``
    ``"ratio_times_lr"`` (Keras: :math:`\theta - (r\eta) u`) or ``"negative_lr_last"``
    (optax, paper: :math:`\theta + (-\eta)(u r)`).
``norm_reduction``
    the order in which :math:`\sum x_i^2` is accumulated in float32, at every size (see
    :func:`sum_of_squares`; ``threads``, the framework's intra-op thread count, matters
    for large arrays): ``"xla_cpu_fused_fma"`` (``jnp.linalg.norm``, optax),
    ``"xla_cpu_sequential"`` (eager ``jnp.sum``, Keras on JAX), ``"eigen_avx_4x8"``
    (``tf.reduce_sum``, Keras on TensorFlow), ``"torch_cpu_avx2"`` (``torch.sum``, Keras on
    torch) or ``"float64_rounded"`` (the exact sum rounded once: the paper).
``sqrt_method``
    ``"correctly_rounded"`` or ``"mkl_goldschmidt_rsqrtps"`` (``torch.sqrt`` on CPU), see
    :mod:`eps_ref.rules._roots`.

``square_op``
    how the norms square: ``"multiply"`` (:math:`x \cdot x`: optax, Keras on JAX, whose
    ``jnp.power(x, 2)`` is ``integer_pow``), ``"eigen_pow"`` (Keras on TensorFlow:
    ``ops.power(x, 2)`` is ``tf.pow``, Eigen's vectorised ``pow``, 1 ULP off the square for
    about a quarter of float32 inputs) or ``"sleef_pow"`` (Keras on torch: ``ops.power(x,
    2)`` is ``torch.pow`` with a 0-d tensor exponent, SLEEF's transcendental ``powf``, not
    the exact square torch takes for a Python exponent); both reproduced exactly.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import Rule, _roots
from eps_ref.rules._numerics import xla_divide_by_scalar
from eps_ref.rules._reductions import REDUCTIONS as NORM_REDUCTIONS
from eps_ref.rules._reductions import l2_norm, sum_of_squares
from eps_ref.rules.adam import rounded_power
from eps_ref.rules.weight_decay import decoupled_lr_scaled_keras, decoupled_lr_scaled_keras_torch

__all__ = ["lamb", "lars", "sum_of_squares", "l2_norm", "trust_ratio",
           "NORM_REDUCTIONS", "ZERO_NORM", "PHI"]

ZERO_NORM = ("ratio_one", "formula")
PHI = ("identity", "clip")
WEIGHT_DECAY_MODES = ("added_to_direction", "decoupled_keras", "decoupled_keras_torch")
MOMENT_UPDATES = ("difference", "weighted_sum")
BIAS_CORRECTIONS = ("pow_param_dtype", "python_float")
CORRECTION_OPS = ("divide", "multiply_by_reciprocal")
STEP_ORDERS = ("ratio_times_lr", "negative_lr_last")
LOOKAHEADS = ("none", "nesterov")

def _check(name, value, allowed, rule):
    if value not in allowed:
        raise ValueError(f"{rule}: {name} must be one of {allowed}, got {value!r}")


# -- norms ------------------------------------------------------------------------------

def trust_ratio(param_norm, update_norm, *, trust_coefficient=1.0, eps=0.0,
                zero_norm="ratio_one", phi="identity", phi_min=0.0, phi_max=math.inf):
    r""":math:`\tau\,\phi(\lVert\theta\rVert) / (\lVert u\rVert + \epsilon)` as a 0-d array,
    with the guard ``zero_norm`` (module docstring). The coefficient multiplies first
    (``optax.scale_by_trust_ratio``: ``trust_coefficient * param_norm / (update_norm +
    eps)``); :math:`\tau = 1`, :math:`\epsilon = 0` leave the quotient exact."""
    xp = array_namespace(param_norm, update_norm)
    _check("zero_norm", zero_norm, ZERO_NORM, "trust_ratio")
    _check("phi", phi, PHI, "trust_ratio")
    scaled = param_norm
    if phi == "clip":
        scaled = xp.clip(param_norm, phi_min, phi_max)
    one = xp.ones_like(update_norm)
    if zero_norm == "ratio_one":
        zero = (param_norm == 0) | (update_norm == 0)
    else:
        zero = update_norm == 0
    ratio = (trust_coefficient * scaled) / xp.where(zero, one, update_norm + eps)
    return xp.where(zero, one, ratio)


# -- LAMB -------------------------------------------------------------------------------

def _lamb_init(param):
    xp = array_namespace(param)
    return {"m": xp.zeros_like(param), "v": xp.zeros_like(param)}


def _lamb_direction(xp, m, v, g, *, t, beta1, beta2, eps, eps_root, moment_update,
                    bias_correction, correction_op, sqrt_method):
    """New moments and the Adam direction :math:`\\hat m / (\\sqrt{\\hat v + \\epsilon_{root}}
    + \\epsilon)`."""
    dtype, dev = g.dtype, _device(g)
    w1, w2 = 1 - beta1, 1 - beta2                    # Python floats, cast by the operation
    if moment_update == "difference":
        m = m + (g - m) * w1
        v = v + (g * g - v) * w2
    else:
        m = w1 * g + beta1 * m
        v = w2 * (g * g) + beta2 * v
    if bias_correction == "pow_param_dtype":
        itemsize = 8 if dtype == xp.float64 else 4
        p1, p2 = rounded_power(beta1, t, itemsize), rounded_power(beta2, t, itemsize)
    else:
        p1, p2 = beta1 ** t, beta2 ** t
    one = xp.asarray(1.0, dtype=dtype, device=dev)
    bc1 = one - xp.asarray(p1, dtype=dtype, device=dev)
    bc2 = one - xp.asarray(p2, dtype=dtype, device=dev)
    if correction_op == "multiply_by_reciprocal":
        m_hat, v_hat = xla_divide_by_scalar(m, bc1), xla_divide_by_scalar(v, bc2)
    else:
        m_hat, v_hat = m / bc1, v / bc2
    if eps_root != 0:
        v_hat = v_hat + eps_root
    return m, v, m_hat / (_roots.sqrt(v_hat, sqrt_method) + eps)


def _lamb_step(param, grad, slots, *, t, lr, beta1, beta2, eps, eps_root=0.0,
               weight_decay=0.0, weight_decay_mode="added_to_direction",
               moment_update="weighted_sum", bias_correction="pow_param_dtype",
               correction_op="divide", step_order="negative_lr_last",
               norm_reduction="float64_rounded", sqrt_method="correctly_rounded",
               square_op="multiply", zero_norm="ratio_one", phi="identity", phi_min=0.0,
               phi_max=math.inf, threads=1):
    """One LAMB step; returns ``(new_param, new_slots)``. See the module docstring.
    ``threads``: the framework's intra-op threads, which its sums over large arrays depend
    on (:mod:`eps_ref.rules._reductions`)."""
    xp = array_namespace(param, grad)
    for name, value, allowed in (
        ("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES),
        ("moment_update", moment_update, MOMENT_UPDATES),
        ("bias_correction", bias_correction, BIAS_CORRECTIONS),
        ("correction_op", correction_op, CORRECTION_OPS),
        ("step_order", step_order, STEP_ORDERS),
        ("norm_reduction", norm_reduction, NORM_REDUCTIONS),
    ):
        _check(name, value, allowed, "lamb")
    p = param
    if weight_decay != 0 and weight_decay_mode == "decoupled_keras":
        p = decoupled_lr_scaled_keras(p, weight_decay, lr)
    elif weight_decay != 0 and weight_decay_mode == "decoupled_keras_torch":
        p = decoupled_lr_scaled_keras_torch(p, weight_decay, lr)
    m, v, u = _lamb_direction(xp, slots["m"], slots["v"], grad, t=t, beta1=beta1,
                              beta2=beta2, eps=eps, eps_root=eps_root,
                              moment_update=moment_update, bias_correction=bias_correction,
                              correction_op=correction_op, sqrt_method=sqrt_method)
    if weight_decay != 0 and weight_decay_mode == "added_to_direction":
        u = u + weight_decay * p
    norm_kw = dict(reduction=norm_reduction, sqrt_method=sqrt_method, square_op=square_op,
                   threads=threads)
    ratio = trust_ratio(l2_norm(p, **norm_kw), l2_norm(u, **norm_kw), zero_norm=zero_norm,
                        phi=phi, phi_min=phi_min, phi_max=phi_max)
    if step_order == "ratio_times_lr":
        new_p = p - (ratio * lr) * u
    else:
        new_p = p + (-lr) * (u * ratio)
    return new_p, {"m": m, "v": v}


lamb = Rule("lamb", _lamb_init, _lamb_step)


# -- LARS -------------------------------------------------------------------------------

def _lars_init(param):
    xp = array_namespace(param)
    return {"trace": xp.zeros_like(param)}


def _lars_step(param, grad, slots, *, t, lr, momentum, weight_decay=0.0,
               trust_coefficient=0.001, eps=0.0, trust_ratio_scope="layerwise",
               lookahead="none", norm_reduction="xla_cpu_fused_fma",
               sqrt_method="correctly_rounded", threads=1):
    r"""One LARS step (``optax.lars``); returns ``(new_param, new_slots)``:

    .. math::

        u &= g + \lambda\theta, \qquad
        r = \tau\lVert\theta\rVert / (\lVert u\rVert + \epsilon)
        \ (1 \text{ where either norm is } 0) \\
        d &= (-\eta)(u r), \qquad b \leftarrow d + \mu b, \qquad
        \theta \leftarrow \theta + b \ \ (\text{Nesterov: } \theta + (d + \mu b))

    ``trust_ratio_scope="none"`` skips the ratio (``trust_ratio_mask=False``).
    """
    array_namespace(param, grad)                 # one namespace for both, or raise
    del t
    _check("lookahead", lookahead, LOOKAHEADS, "lars")
    _check("trust_ratio_scope", trust_ratio_scope, ("layerwise", "none"), "lars")
    u = grad + weight_decay * param if weight_decay != 0 else grad
    if trust_ratio_scope == "layerwise":
        norm_kw = dict(reduction=norm_reduction, sqrt_method=sqrt_method, threads=threads)
        ratio = trust_ratio(l2_norm(param, **norm_kw), l2_norm(u, **norm_kw),
                            trust_coefficient=trust_coefficient, eps=eps)
        u = u * ratio
    d = (-lr) * u
    trace = d + momentum * slots["trace"]
    out = d + momentum * trace if lookahead == "nesterov" else trace
    return param + out, {"trace": trace}


lars = Rule("lars", _lars_init, _lars_step)

r"""NovoGrad: a layer-wise second moment from the squared norm of the whole gradient.

Ginsburg et al. (2019), Algorithm 1, as optax implements it, per parameter array (leaf)
:math:`\theta` with step :math:`t \ge 1` and gradient :math:`g_t`:

.. math::

    \nu_1 &= \lVert g_1 \rVert_2^2, \qquad
    \nu_t = \beta_2 \nu_{t-1} + (1 - \beta_2) \lVert g_t \rVert_2^2 \\
    d_t &= \frac{g_t}{\sqrt{\nu_t + \bar\varepsilon} + \varepsilon} + \lambda \theta_{t-1} \\
    m_1 &= d_1, \qquad m_t = \beta_1 m_{t-1} + d_t \\
    \theta_t &= \theta_{t-1} - \eta\, m_t

:math:`\nu` is ONE scalar per array: every element is divided by the norm of the whole
gradient, so a tiny or zero gradient element moves by a tiny step whenever any other
element of the same array is large, where Adam would give it a full :math:`\eta` step.
``eps`` (optax default ``1e-6``) sits outside the root of that scalar and only matters
when the whole array's gradient is below about 1e-6; ``eps_root`` (default 0) inside it.
There are no bias corrections: :math:`\nu_1` and :math:`m_1` are initialised from the
first gradient instead, and the momentum :math:`m` is a sum, not an average (no
:math:`1 - \beta_1` factor), so its steady-state scale is :math:`1/(1-\beta_1)` = 10 times
:math:`d`. The weight decay :math:`\lambda` is added to the normalized gradient before the
momentum (as in the paper), so it is accumulated by the momentum too.

``multiply_add``
    ``"fused"``: optax 0.2.8 selects between the first step and the others with
    ``jax.lax.cond``, and a ``cond`` is compiled by XLA even when called op by op; on
    CPU that compilation contracts multiply-adds into FMAs and rewrites the division by
    the scalar denominator as a multiplication by its reciprocal, so (measured, jax 0.10.2,
    XLA:CPU, bit for bit):
    :math:`\lVert g \rVert^2` is the square of the float32 square root of the sum of
    squares, which is accumulated in ONE float32 accumulator in row-major order as
    :math:`s \leftarrow \mathrm{fma}(g_i, g_i, s)`;
    :math:`\nu_t = \mathrm{fma}(\lVert g_t \rVert^2, 1 - \beta_2, \beta_2 \nu_{t-1})`
    (from 4096 elements, where YNNPACK computes the norm, and on an array of one element,
    where there is no reduce loop, :math:`\mathrm{fma}(\beta_2,
    \nu_{t-1}, \mathrm{fl}((1 - \beta_2) \lVert g_t \rVert^2))`);
    :math:`d_t = \mathrm{fma}(g_t, r_t, \lambda\theta)` with :math:`r_t = 1 /
    (\sqrt{\nu_t + \bar\varepsilon} + \varepsilon)` rounded (an array of one element
    has no broadcast to rewrite: :math:`d_t = \mathrm{fma}(\lambda, \theta,
    \mathrm{fl}(g_t / (\sqrt{\nu_t + \bar\varepsilon} + \varepsilon)))`);
    :math:`m_t = \mathrm{fma}(m_{t-1}, \beta_1, d_t)`. The sum of squares is
    ``jnp.linalg.norm``'s at every size (:func:`eps_ref.rules._reductions.
    xla_jit_sum_of_squares`: fused and row-major for small arrays, rounded squares in
    XLA's windows or YNNPACK's tiles beyond).
    ``"separate"``: every product and sum rounded, the sum of squares pairwise in float64
    and rounded once, :math:`g_t / (\cdot)` divided (the formula above, the reference
    for other arithmetic).

Of the dialects only optax ships NovoGrad: torch.optim, Keras 3, tf_keras and
``tf.compat.v1.train`` have none (it lived in the end-of-life tensorflow_addons).

The learning rate comes last, :math:`\theta + (-\eta) m_t` (``scale_by_learning_rate``
then ``apply_updates``).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from eps_ref.rules import Rule
from eps_ref.rules._numerics import fma
from eps_ref.rules._reductions import YNN_MIN_ELEMENTS, sum_of_squares
from eps_ref.rules.adam import _itemsize, _round, _sqrt

__all__ = ["novograd", "init", "step", "squared_norm"]

MULTIPLY_ADDS = ("fused", "separate")


def _check(multiply_add):
    if multiply_add not in MULTIPLY_ADDS:
        raise ValueError(f"novograd: multiply_add must be one of {MULTIPLY_ADDS}, "
                         f"got {multiply_add!r}")


def squared_norm(g, multiply_add="fused", threads=1):
    r""":math:`\lVert g \rVert_2^2` of a whole array as a 0-d array of its dtype:
    ``jnp.linalg.norm(g) ** 2``, the square of the rounded root of the sum of squares.
    ``"fused"``: the sum accumulated in row-major order with one FMA per element (XLA:CPU);
    ``"separate"``: the float64 sum of the float64 squares, rounded once. ``threads``:
    XLA's intra-op threads (arrays of 32768 elements or more)."""
    _check(multiply_add)
    xp = array_namespace(g)
    s = sum_of_squares(g, reduction="xla_cpu_fused_fma" if multiply_add == "fused"
                       else "float64_rounded", threads=threads)
    root = _sqrt(xp, s)
    return root * root


def _update_nu(norm2, nu, beta2, w2, size, scalar):
    """``optax.tree.update_moment``, :math:`(1-\\beta_2) n + \\beta_2 \\nu`, compiled in the
    ``cond``: LLVM fuses the first product while the norm is XLA's own loop, the second
    once YNNPACK computes the norm (4096 elements or more) or there is no loop (an array of
    one element, whose reduce XLA simplifies away); measured."""
    if size >= YNN_MIN_ELEMENTS or size == 1:
        return fma(scalar(beta2), nu, w2 * norm2)
    return fma(norm2, scalar(w2), beta2 * nu)


def init(param):
    """Zero momentum :math:`m` (the array's shape) and a zero scalar :math:`\\nu`."""
    xp = array_namespace(param)
    return {"m": xp.zeros_like(param),
            "nu": xp.zeros((), dtype=param.dtype, device=getattr(param, "device", None))}


def step(param, grad, slots, *, t, lr, beta1, beta2, eps, eps_root=0.0, weight_decay=0.0,
         multiply_add="fused", threads=1):
    """One NovoGrad step; returns ``(new_param, new_slots)``. ``lr``, ``beta1``,
    ``beta2``, ``eps``, ``eps_root``, ``weight_decay`` (:math:`\\lambda`) are Python floats;
    ``multiply_add`` is explained in the module docstring."""
    _check(multiply_add)
    xp = array_namespace(param, grad)
    dtype, dev = param.dtype, getattr(param, "device", None)
    w2 = _round(1 - beta2, _itemsize(xp, dtype))

    def scalar(value):
        return xp.asarray(value, dtype=dtype, device=dev)

    norm2 = squared_norm(grad, multiply_add, threads)
    if t == 1:
        nu = norm2
    elif multiply_add == "fused":
        nu = _update_nu(norm2, slots["nu"], beta2, w2, math.prod(grad.shape), scalar)
    else:
        nu = w2 * norm2 + beta2 * slots["nu"]
    decay = weight_decay * param
    if multiply_add == "fused":
        root = _sqrt(xp, nu + eps_root) + eps
        if math.prod(grad.shape) == 1:
            # One element: no broadcast for XLA to rewrite into a reciprocal multiply; the
            # quotient is exact and the decay product is contracted into it (measured).
            d = fma(xp.full_like(param, weight_decay), param, grad / root)
        else:
            d = fma(grad, xp.broadcast_to(scalar(1.0) / root, grad.shape), decay)
        m = d if t == 1 else fma(slots["m"], xp.full_like(d, beta1), d)
    else:
        d = grad / (_sqrt(xp, nu + eps_root) + eps) + decay
        m = d if t == 1 else beta1 * slots["m"] + d
    return param + (-lr) * m, {"m": m, "nu": nu}


novograd = Rule("novograd", init, step)

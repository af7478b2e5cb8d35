r"""Fromage, Frobenius matched gradient descent (Bernstein, Vahdat, Yue & Liu 2020, "On the
distance between two neural networks and the stability of learning", NeurIPS;
arXiv:2002.03432, Algorithm 1).

Each parameter array (a layer) steps along its gradient rescaled to the parameter's own
Frobenius norm, then shrinks so that the step does not inflate the norm. With learning rate
:math:`\eta`:

.. math::

    \theta_t = \frac{1}{\sqrt{1 + \eta^2}}
               \Bigl(\theta_{t-1}
                     - \eta\, \frac{\lVert\theta_{t-1}\rVert}{\lVert g_t\rVert}\, g_t\Bigr)

The step :math:`\eta\,\lVert\theta\rVert\, g/\lVert g\rVert` has length exactly
:math:`\eta\lVert\theta\rVert` whatever the gradient's scale; when it is orthogonal to
:math:`\theta` the new norm would be :math:`\lVert\theta\rVert\sqrt{1+\eta^2}`, which the
prefactor brings back to :math:`\lVert\theta\rVert`.

optax (``optax.fromage`` = ``scale_by_trust_ratio(min_norm)``,
``scale_by_learning_rate(lr * mult)``, ``add_decayed_weights(mult - 1)``) writes it as an
update added to the parameter, with :math:`\mu = 1/\sqrt{1+\eta^2}` in Python float64:

.. math::

    n_\theta &= \max{}'(\lVert\theta\rVert, n_{\min}), \qquad
        n_g = \max{}'(\lVert g\rVert, n_{\min}) \\
    r &= n_\theta / n_g \quad (1 \text{ if } n_\theta = 0 \text{ or } n_g = 0) \\
    u &= (-\eta\mu)\,(g\, r) + (\mu - 1)\,\theta, \qquad \theta_t = \theta_{t-1} + u

where :math:`\max'(n, n_{\min})` is :math:`n_{\min}` when :math:`n \le n_{\min}` (optax
``numerics.safe_norm``). ``min_norm`` :math:`n_{\min}` is the only eps: it bounds the
norms away from zero (optax's default is :math:`10^{-6}`). The weight term is skipped when
:math:`\mu - 1 = 0` in float64 (optax skips a zero weight decay).

Switch ``norm_method`` (how :math:`\lVert x\rVert` rounds in float32):

``"xla_cpu_fused_fma"``
    ``jnp.linalg.norm`` as XLA:CPU compiles it (it is ``jax.jit``-decorated, so compiled
    even when optax runs eagerly), then a correctly rounded square root: the sum of
    squares of :func:`eps_ref.rules._reductions.xla_jit_sum_of_squares` at every size
    (squares fused into one accumulator for small arrays, rounded squares in XLA's windows
    of 32 or YNNPACK's tiles from 4096 elements; ``threads``: XLA's intra-op threads).
``"float64"``
    the sum of squares in float64, rounded once after the square root (a clean reference).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules import Rule
from eps_ref.rules._reductions import l2_norm
from eps_ref.rules._roots import sqrt

__all__ = ["fromage", "init", "step", "frobenius_norm", "safe_norm", "trust_ratio",
           "NORM_METHODS"]

NORM_METHODS = ("xla_cpu_fused_fma", "float64")


def frobenius_norm(x, method: str = "xla_cpu_fused_fma", threads: int = 1):
    r""":math:`\sqrt{\sum_i x_i^2}` over every element of ``x`` as a 0-d array (its shape
    matters to XLA's loops; ``threads``: XLA's intra-op threads)."""
    xp = array_namespace(x)
    if method not in NORM_METHODS:
        raise ValueError(f"fromage: norm_method={method!r}; expected one of {NORM_METHODS}")
    flat = xp.reshape(x, (-1,))
    if method == "float64" or x.dtype != xp.float32:
        f64 = xp.astype(flat, xp.float64)
        return xp.astype(sqrt(xp.sum(f64 * f64), "correctly_rounded"), x.dtype)
    return l2_norm(x, reduction="xla_cpu_fused_fma", threads=threads)


def safe_norm(x, min_norm: float, method: str = "xla_cpu_fused_fma", threads: int = 1):
    """optax ``numerics.safe_norm``: the norm, or ``min_norm`` where it is ``<= min_norm``."""
    xp = array_namespace(x)
    n = frobenius_norm(x, method, threads)
    return xp.where(n <= min_norm, xp.asarray(min_norm, dtype=n.dtype), n)


def trust_ratio(param, grad, min_norm: float, method: str = "xla_cpu_fused_fma",
                threads: int = 1):
    r""":math:`n_\theta / n_g`, or 1 where either norm is 0 (optax ``scale_by_trust_ratio``
    with ``trust_coefficient=1``, ``eps=0``)."""
    xp = array_namespace(param, grad)
    param_norm = safe_norm(param, min_norm, method, threads)
    grad_norm = safe_norm(grad, min_norm, method, threads)
    zero = (param_norm == 0.0) | (grad_norm == 0.0)
    one = xp.ones_like(param_norm)
    # optax divides first and selects after; dividing by 1 where the ratio is discarded
    # gives the same result without a division by zero.
    return xp.where(zero, one, param_norm / xp.where(zero, one, grad_norm))


def init(param):
    return {}


def step(param, grad, slots, *, t, lr, min_norm=1e-6, norm_method="xla_cpu_fused_fma",
         threads=1):
    r"""One Fromage step (module docstring): :math:`\theta + (-\eta\mu)(g r) + (\mu-1)\theta`."""
    mult = 1 / (1 + lr ** 2) ** 0.5         # Python float64, as optax.fromage
    update = (-(lr * mult)) * (grad * trust_ratio(param, grad, min_norm, norm_method, threads))
    if mult - 1 != 0.0:
        update = update + (mult - 1) * param
    return param + update, {}


fromage = Rule("fromage", init, step)

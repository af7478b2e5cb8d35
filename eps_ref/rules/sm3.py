r"""SM3 (Anil, Gupta, Koren & Singer 2019, "Memory-Efficient Adaptive Optimization",
NeurIPS; arXiv:1901.11150), in the form optax ships (``scale_by_sm3``).

SM3 is Adagrad with the per-coordinate sum of squared gradients replaced by a cover of
cheaper accumulators. For an array of rank :math:`k` the cover sets are its slices along
each axis: one accumulator vector :math:`\mu^{(a)}` per axis :math:`a`, of length
:math:`n_a` (a (4, 16) parameter keeps a row vector of 4 and a column vector of 16
instead of 64 sums). With :math:`\mu^{(a)}_0 = 0`, momentum :math:`\beta_1`, learning rate
:math:`\eta`, one step is (SM3-II, with optax's moving-average generalisation
:math:`\beta_2` and the eps inside the root):

.. math::

    \nu_t(i) &= c\, g_t(i)^2 + \beta_2 \min_{a} \mu^{(a)}_{t-1}(i_a),
        \qquad c = 1 - \beta_2 \text{ if } \beta_2 \ne 1 \text{ else } 1 \\
    u_t(i) &= g_t(i) \cdot \begin{cases} 1/\sqrt{\nu_t(i) + \epsilon} & \nu_t(i) > 0 \\
                                          0 & \text{otherwise} \end{cases} \\
    m_t &= (1-\beta_1)\, u_t + \beta_1 m_{t-1} \\
    \mu^{(a)}_t(j) &= \max_{i:\, i_a = j} \nu_t(i) \\
    \theta_t &= \theta_{t-1} + (-\eta)\, m_t

where :math:`i_a` is coordinate :math:`i`'s index along axis :math:`a`. The paper's
guarantee follows: :math:`\nu_t(i) \ge \sum_{s \le t} g_s(i)^2` for :math:`\beta_2 = 1`
(the accumulator over-estimates Adagrad's, so steps are never larger than Adagrad's).
A 1-D parameter has one singleton cover per coordinate: :math:`\nu_t` is then exactly
Adagrad's sum. optax rejects 0-d parameters (it has no axis to keep an accumulator on);
so do we.

Defaults (``optax.sm3``): momentum :math:`\beta_1 = 0.9`, :math:`\beta_2 = 1`,
:math:`\epsilon = 10^{-8}` (not a keyword of ``optax.sm3``).

Arithmetic (optax, run eagerly on XLA:CPU): :math:`c\,(g\cdot g)` and
:math:`\beta_2 \min(\cdot)` rounded and added; the minima and maxima are exact;
:math:`1/\sqrt{\cdot}` is ``jax.lax.rsqrt`` (``rsqrt_method``, see
:mod:`eps_ref.rules._roots`); :math:`1-\beta_1` in Python float64 then cast.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from eps_ref.rules import Rule
from eps_ref.rules._roots import RSQRT_METHODS, rsqrt

__all__ = ["sm3", "init", "step", "cover_accumulators", "accumulator"]


def _axis_key(axis: int) -> str:
    return f"mu_{axis}"


def init(param):
    """Slots ``mu_0 .. mu_{k-1}`` (one accumulator vector per axis) and ``nu`` (momentum)."""
    xp = array_namespace(param)
    if param.ndim == 0:
        raise ValueError("sm3: a 0-d parameter has no axis to keep an accumulator on "
                         "(optax.scale_by_sm3 fails on it as well)")
    slots = {_axis_key(a): xp.zeros((n,), dtype=param.dtype) for a, n in enumerate(param.shape)}
    slots["nu"] = xp.zeros_like(param)
    return slots


def cover_accumulators(slots, shape):
    """The per-axis accumulators, each reshaped to broadcast along its own axis."""
    xp = array_namespace(slots["nu"])
    rank = len(shape)
    return [xp.reshape(slots[_axis_key(a)], (1,) * a + (shape[a],) + (1,) * (rank - a - 1))
            for a in range(rank)]


def accumulator(grad, covers, *, beta2=1.0):
    r""":math:`\nu = c\,g^2 + \beta_2 \min_a \mu^{(a)}` (elementwise, broadcast covers)."""
    xp = array_namespace(grad)
    smallest = covers[0]
    for cover in covers[1:]:
        smallest = xp.minimum(smallest, cover)
    c = (1.0 - beta2) if beta2 != 1.0 else 1.0
    return c * (grad * grad) + beta2 * smallest


def _max_over_other_axes(xp, nu, axis):
    others = tuple(a for a in range(nu.ndim) if a != axis)
    return xp.max(nu, axis=others) if others else nu


def step(param, grad, slots, *, t, lr, beta1=0.9, beta2=1.0, eps=1e-8,
         rsqrt_method="xla_rsqrtps_newton_fma"):
    r"""One SM3 step (module docstring): :math:`\theta + (-\eta)\,m_t`."""
    xp = array_namespace(param, grad)
    if rsqrt_method not in RSQRT_METHODS:
        raise ValueError(f"sm3: rsqrt_method={rsqrt_method!r}; expected one of {RSQRT_METHODS}")
    nu = accumulator(grad, cover_accumulators(slots, grad.shape), beta2=beta2)
    scale = xp.where(nu > 0, rsqrt(nu + eps, rsqrt_method), xp.zeros_like(nu))
    m = (1 - beta1) * (grad * scale) + beta1 * slots["nu"]
    new_slots = {_axis_key(a): _max_over_other_axes(xp, nu, a) for a in range(grad.ndim)}
    new_slots["nu"] = m
    return param + (-lr) * m, new_slots


sm3 = Rule("sm3", init, step)

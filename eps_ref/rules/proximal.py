r"""Proximal (FOBOS) and regularized dual-averaging rules of ``tf.compat.v1.train``.

All three end in the same proximal map of :math:`\lambda_1 |w| + \tfrac12\lambda_2 w^2`
(soft thresholding, then shrinking), which makes L1 produce exact zeros:

.. math::

    \operatorname{prox}_{\alpha}(v) = \frac{\operatorname{sign}(v)\,
        \max(|v| - \alpha\lambda_1,\ 0)}{1 + \alpha\lambda_2}.

``proximal_gradient_descent`` (Duchi & Singer, "Efficient Online and Batch Learning Using
Forward Backward Splitting", JMLR 2009; TF's ``ApplyProximalGradientDescent``):
:math:`v = w - g\eta`, :math:`w' = \operatorname{prox}_{\eta}(v)`.

``proximal_adagrad`` (FOBOS with Adagrad's per-coordinate rate; ``ApplyProximalAdagrad``):
:math:`G' = G + g^2`, :math:`\alpha = \eta\,\mathrm{rsqrt}(G')`, :math:`v = w - g\alpha`,
:math:`w' = \operatorname{prox}_{\alpha}(v)`, :math:`G_0` = ``initial_accumulator_value``.

``adagrad_da`` (Adagrad with regularized dual averaging, Duchi, Hazan & Singer 2011 /
Xiao 2010; ``ApplyAdagradDA``): the sums :math:`S' = S + g` and :math:`G' = G + g^2`
(:math:`G_0` = ``initial_gradient_squared_accumulator_value``) give the parameter directly,
at the global step :math:`T`,

.. math::

    w' = \frac{-\eta\,\operatorname{sign}(S')\max(|S'| - T\lambda_1,\ 0)}
              {\lambda_2 (T\eta) + \sqrt{G'}}.

None has an epsilon; the accumulator's positive initial value keeps the roots away from 0.
When :math:`\lambda_1 = 0` the kernels skip the threshold and divide :math:`v` (or
:math:`-\eta S'`) directly, and so do these rules.

Every operation follows the kernel's Eigen expression in ``training_ops.cc``, in the
parameter dtype: the scalar products (:math:`\eta\lambda_1`, :math:`\lambda_2\eta`,
:math:`T\lambda_1`, :math:`T\eta`) are rounded first, ``rsqrt`` is Eigen's (``rsqrt_method``,
:mod:`eps_ref.rules._roots`) and ``sqrt`` is rounded correctly.
"""

from __future__ import annotations

from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.rules import Rule
from eps_ref.rules._roots import RSQRT_METHODS, rsqrt, sqrt

__all__ = ["proximal_gradient_descent", "proximal_adagrad", "adagrad_da", "soft_threshold"]


def _scalar(xp, value, like):
    return xp.asarray(value, dtype=like.dtype, device=_device(like))


def soft_threshold(v, threshold, denominator):
    r""":math:`\operatorname{sign}(v)\max(|v| - \tau, 0) / d`, in the kernels' order
    (sign times the clamp, then one division)."""
    xp = array_namespace(v)
    clamp = xp.maximum(xp.abs(v) - threshold, xp.zeros_like(v))
    return xp.sign(v) * clamp / denominator


# --- proximal gradient descent ---------------------------------------------------------

def _pgd_init(param) -> dict:
    """No slots."""
    return {}


def _pgd_step(param, grad, slots, *, t: int, lr: float, l1: float, l2: float):
    r"""One ``ApplyProximalGradientDescent`` step: :math:`v = w - g\eta`, then
    :math:`w' = \operatorname{sign}(v)\max(|v| - (\eta\lambda_1), 0) / (1 + (\lambda_2\eta))`
    (:math:`w' = v / (1 + \lambda_2\eta)` when :math:`\lambda_1 = 0`)."""
    del t
    xp = array_namespace(param, grad)
    lr_, l1_, l2_ = (_scalar(xp, v, param) for v in (lr, l1, l2))
    v = param - grad * lr_
    denominator = _scalar(xp, 1.0, param) + l2_ * lr_
    if l1 > 0:
        return soft_threshold(v, lr_ * l1_, denominator), {}
    return v / denominator, {}


proximal_gradient_descent = Rule("proximal_gradient_descent", _pgd_init, _pgd_step)


# --- proximal Adagrad ------------------------------------------------------------------

def _pa_init(param, *, initial_accumulator_value: float) -> dict:
    """The accumulator :math:`G_0`, filled with ``initial_accumulator_value``."""
    xp = array_namespace(param)
    return {"accumulator": xp.full_like(param, initial_accumulator_value)}


def _pa_step(param, grad, slots, *, t: int, lr: float, l1: float, l2: float,
             initial_accumulator_value: float, rsqrt_method: str):
    r"""One ``ApplyProximalAdagrad`` step: :math:`G' = G + g g`,
    :math:`\alpha = \eta\,\mathrm{rsqrt}(G')`, :math:`v = w - g\alpha`, then
    :math:`w' = \operatorname{sign}(v)\max(|v| - \alpha\lambda_1, 0) / (1 + \lambda_2\alpha)`
    (:math:`v / (1 + \lambda_2\alpha)` when :math:`\lambda_1 = 0`)."""
    del t, initial_accumulator_value
    if rsqrt_method not in RSQRT_METHODS:
        raise ValueError(f"proximal_adagrad: rsqrt_method={rsqrt_method!r}; "
                         f"expected one of {RSQRT_METHODS}")
    xp = array_namespace(param, grad)
    lr_, l1_, l2_ = (_scalar(xp, v, param) for v in (lr, l1, l2))
    accumulator = slots["accumulator"] + grad * grad
    rate = lr_ * rsqrt(accumulator, rsqrt_method)
    v = param - grad * rate
    denominator = _scalar(xp, 1.0, param) + l2_ * rate
    if l1 > 0:
        new_param = soft_threshold(v, rate * l1_, denominator)
    else:
        new_param = v / denominator
    return new_param, {"accumulator": accumulator}


proximal_adagrad = Rule("proximal_adagrad", _pa_init, _pa_step)


# --- Adagrad dual averaging ------------------------------------------------------------

def _da_init(param, *, initial_gradient_squared_accumulator_value: float) -> dict:
    """The gradient sum :math:`S_0 = 0` and the squared sum :math:`G_0`."""
    xp = array_namespace(param)
    return {"gradient_accumulator": xp.zeros_like(param),
            "gradient_squared_accumulator":
                xp.full_like(param, initial_gradient_squared_accumulator_value)}


def global_step_at(initial_global_step: int, t: int) -> int:
    """The global step the kernel sees at step ``t``: ``AdagradDAOptimizer._prepare`` reads
    ``global_step + 1`` and ``apply_gradients(..., global_step=...)`` then increments it."""
    return initial_global_step + t


def _da_step(param, grad, slots, *, t: int, lr: float, l1: float, l2: float,
             initial_global_step: int, initial_gradient_squared_accumulator_value: float):
    r"""One ``ApplyAdagradDA`` step at global step :math:`T` = ``initial_global_step + t``
    (rounded to the parameter dtype): :math:`S' = S + g`, :math:`G' = G + g g`,
    :math:`w' = ((-\eta)\operatorname{sign}(S'))\max(|S'| - T\lambda_1, 0) /
    (\lambda_2 (T\eta) + \sqrt{G'})`, or :math:`((\eta S')(-1)) / (\lambda_2 (T\eta) +
    \sqrt{G'})` when :math:`\lambda_1 = 0`. The old parameter is not read."""
    del initial_gradient_squared_accumulator_value
    xp = array_namespace(param, grad)
    lr_, l1_, l2_ = (_scalar(xp, v, param) for v in (lr, l1, l2))
    step_ = _scalar(xp, float(global_step_at(initial_global_step, t)), param)
    g_sum = slots["gradient_accumulator"] + grad
    g2_sum = slots["gradient_squared_accumulator"] + grad * grad
    denominator = l2_ * (step_ * lr_) + sqrt(g2_sum, "correctly_rounded")
    if l1 > 0:
        clamp = xp.maximum(xp.abs(g_sum) - step_ * l1_, xp.zeros_like(g_sum))
        new_param = (-lr_) * xp.sign(g_sum) * clamp / denominator
    else:
        new_param = (lr_ * g_sum) * _scalar(xp, -1.0, param) / denominator
    return new_param, {"gradient_accumulator": g_sum, "gradient_squared_accumulator": g2_sum}


adagrad_da = Rule("adagrad_da", _da_init, _da_step)

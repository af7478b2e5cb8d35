r"""Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear
Memory Cost", ICML; arXiv:1804.04235).

Adafactor keeps, for a matrix parameter :math:`X \in \mathbb{R}^{n\times m}`, only the row
and column means of the squared gradients instead of their full second moment, rebuilds the
second moment as their rank-1 outer product, divides the gradient by its root, clips the
result by its RMS and steps relative to the parameter's own RMS. With
:math:`\hat\beta_{2t} = 1 - t^{c}` (:math:`c = -0.8`), the paper's Algorithm 4 (factored),
Algorithm 5 (unfactored, for vectors), update clipping (Section 5, eq. 13) and relative step
size (Section 8) read, in the mean form every framework uses,

.. math::

    R_t &= \hat\beta_{2t} R_{t-1} + (1-\hat\beta_{2t})\,\mathrm{mean}_j(G_t^2 + \epsilon_1)
    \qquad C_t = \hat\beta_{2t} C_{t-1} + (1-\hat\beta_{2t})\,\mathrm{mean}_i(G_t^2 + \epsilon_1) \\
    \hat V_t &= \frac{R_t C_t}{\mathrm{mean}(R_t)}
        \quad\text{(vectors: } \hat V_t = \hat\beta_{2t}\hat V_{t-1} + (1-\hat\beta_{2t})(G_t^2+\epsilon_1)) \\
    U_t &= G_t / \sqrt{\hat V_t}, \qquad
    \hat U_t = U_t / \max(1, \mathrm{RMS}(U_t)/d) \\
    \alpha_t &= \max(\epsilon_2, \mathrm{RMS}(X_{t-1}))\,\rho_t, \qquad
    \rho_t = \min(10^{-2}, 1/\sqrt t), \qquad X_t = X_{t-1} - \alpha_t \hat U_t

(the paper writes row and column *sums*, :math:`R C / 1^\top R`, which is the same matrix).
Defaults of the paper: :math:`\epsilon_1 = 10^{-30}`, :math:`\epsilon_2 = 10^{-3}`,
:math:`d = 1`, :math:`c = -0.8`.

The frameworks implement this with differences this module makes explicit. Three rules:

:data:`adafactor` (the paper, Keras 3, ``tf_keras``): the formulas above. Switches:

``factor_statistic``
    ``"mean"`` (Keras) or ``"sum"`` (the paper's Algorithm 4 as printed);
``reduction``
    the order in which a mean is accumulated in float32, see :func:`reduce_mean`:
    ``"eigen_cpu"`` (TensorFlow), ``"xla_cpu"`` (JAX), ``"torch_cpu_avx2"`` (torch),
    ``"float64_rounded"`` (the exact mean rounded once: the paper);
``sqrt_method``
    ``"correctly_rounded"`` or ``"mkl_goldschmidt_rsqrtps"`` (``torch.sqrt``), see
    :mod:`eps_ref.rules._roots`;
``inverse_root``
    ``"divide_by_sqrt"`` (Keras 3: :math:`G/\sqrt{\hat V}`, :math:`1/\sqrt t`) or
    ``"eigen_rsqrt"`` (``tf_keras``: :math:`G\cdot\mathrm{rsqrt}(\hat V)` and
    :math:`\mathrm{rsqrt}(t)` with ``tf.math.rsqrt``, Eigen's RSQRTPS + Newton);
``broadcast_division``
    ``"divide"``, or ``"multiply_by_reciprocal"`` (Keras on JAX: XLA compiles each eager
    ``ops.divide`` of an array by a broadcast scalar into a multiplication by the rounded
    reciprocal: :math:`R / \mathrm{mean}(R)` and the clipping :math:`U / \max(1, \cdot)`);
``weight_decay_mode``
    ``"none"``, ``"decoupled_keras"`` (:math:`X - X\lambda\eta` before the step, so the RMS
    sees the decayed weights) or ``"decoupled_keras_torch"`` (:math:`X(1-\lambda\eta)`).

Every scalar (:math:`t`, :math:`t^c`, :math:`\rho_t`, :math:`\alpha_t`) is a float32
tensor op in Keras; :math:`t^c` is a scalar ``powf`` in every backend, computed correctly
rounded here (:func:`float32_power`).

:data:`adafactor_torch` (``torch.optim.Adafactor``, ``torch/optim/_adafactor.py``):
:math:`\epsilon_1` is not added to :math:`G^2`; instead the row mean is clamped,
:math:`\hat V = R C / \max(\mathrm{mean}(R), \epsilon_1)`, and the second moment is clamped
at :math:`\epsilon_1^2` before the inverse root; :math:`\epsilon_1` defaults to the
machine epsilon of the dtype (``eps=(None, 1e-3)``). :math:`\rho_t = \min(\gamma, 1/\sqrt t)`
with the learning rate :math:`\gamma` (default :math:`10^{-2}`, the paper's constant);
decoupled weight decay :math:`X(1-\gamma\lambda)` after :math:`\alpha_t` is taken. Row and
column means are ``torch.norm(G, dim)**2 / n``; moments move by ``lerp_`` (FMA);
scalars (:math:`t^{c}`, :math:`\rho_t`, :math:`\alpha_t`, the clipping denominator) are
Python floats from ``.item()``; the step is ``add_(U, alpha=-alpha/denom)``, one FMA
(``apply_form="add_alpha"``); ``foreach=True`` (``_multi_tensor_adafactor``) scales first,
:math:`X + \mathrm{round}(U \cdot (-\alpha/\mathrm{denom}))` (``apply_form="mul_then_add"``).
The mean of :math:`R` over the rows is ``torch.mean``, whose float32 sum splits over
``threads`` past 32768 rows (:func:`torch_sum_over_threads`).

:data:`adafactor_optax` (``optax.adafactor``, ``optax/_src/factorized.py``): factors only
when the second-largest dimension has at least ``min_dim_size_to_factor`` elements (the two
largest axes, not the last two), computes :math:`\hat V^{-1/2}` as the product of
:math:`(R/\mathrm{mean}(R))^{-1/2}` and :math:`C^{-1/2}` (XLA ``pow``, i.e. glibc's
``powf``: ``pow_method="libm_powf"``, also for :math:`t^{-c}`), has no relative
step (the learning rate, default none, multiplies), scales by
:math:`\max(\epsilon_2, \mathrm{RMS}(X))` after clipping, and offers momentum (an
exponential moving average of the update, not debiased) and weight decay added to the
update (:math:`u + \lambda X`, after the learning rate, not scaled by it).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace
from array_api_compat import device as _device

from eps_ref.norms._torch_cpu import torch_sum
from eps_ref.rules import Rule, _roots
from eps_ref.rules._libm_pow import powf_glibc, powf_glibc_scalar
from eps_ref.rules._numerics import fma, xla_divide_by_scalar, xla_rewrites_division
from eps_ref.rules._reductions import (eigen_reduce_sum, torch_norm_sums, torch_reduce_sum,
                                       xla_reduce_sum)

__all__ = ["adafactor", "adafactor_torch", "adafactor_optax", "reduce_mean", "float32_power",
           "torch_norm", "torch_sum_over_threads", "xla_pow_float32", "REDUCTIONS",
           "POW_METHODS"]

REDUCTIONS = ("eigen_cpu", "xla_cpu", "torch_cpu_avx2", "float64_rounded")
FACTOR_STATISTICS = ("mean", "sum")
INVERSE_ROOTS = ("divide_by_sqrt", "eigen_rsqrt")
BROADCAST_DIVISIONS = ("divide", "multiply_by_reciprocal")
WEIGHT_DECAY_MODES = ("none", "decoupled_keras", "decoupled_keras_torch")
OBJECTIVES = ("minimize", "maximize")



def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"adafactor: {name} must be one of {allowed}, got {value!r}")


def _scalar(xp, value, like):
    return xp.asarray(value, dtype=like.dtype, device=_device(like))


# -- scalars ----------------------------------------------------------------------------

def float32_power(base: float, exponent: float) -> float:
    r""":math:`b^e` for float32 :math:`b` and :math:`e`, correctly rounded to float32: a scalar
    ``powf`` (glibc's, which the TensorFlow, XLA and torch CPU kernels call for a one-element
    tensor; measured equal to the correctly rounded value for :math:`b = 1..1000`,
    :math:`e = -0.8`). The float64 power is within one float64 ULP of the exact value, far
    below the float32 rounding."""
    b = float(_f32(base))
    e = float(_f32(exponent))
    return float(_f32(b ** e))


def _f32(x: float):
    import struct
    return struct.unpack("<f", struct.pack("<f", x))[0]


# -- reductions -------------------------------------------------------------------------

def reduce_mean(x, axis, *, reduction: str, threads: int = 1):
    r"""The mean of ``x`` over ``axis`` (an int, removed from the shape, or ``None`` for all
    elements, a 0-d result) as one framework's CPU kernel accumulates it in float32, at any
    size (:mod:`eps_ref.rules._reductions`; ``threads``: the framework's intra-op threads,
    which large sums depend on):

    ``"eigen_cpu"``
        ``tf.reduce_mean``: Eigen's sum as ``tf.reduce_sum`` orders it
        (:func:`eps_ref.rules._reductions.eigen_reduce_sum`), divided by the count in
        float32 (``reduce(...) / n`` in ``ReduceEigenImpl<MeanReducer>``).
    ``"xla_cpu"``
        ``jnp.mean`` eagerly on XLA:CPU: the eager sum
        (:func:`eps_ref.rules._reductions.xla_reduce_sum`) times the float32 reciprocal of
        the count (XLA rewrites the division by a constant).
    ``"torch_cpu_avx2"``
        ``torch.mean``: torch's cascade sum
        (:func:`eps_ref.rules._reductions.torch_reduce_sum`) divided by the count.
    ``"float64_rounded"``
        the exact mean, rounded once.
    """
    xp = array_namespace(x)
    _check("reduction", reduction, REDUCTIONS)
    n = math.prod(x.shape) if axis is None else x.shape[axis]
    if reduction == "float64_rounded":
        return xp.astype(xp.mean(xp.astype(x, xp.float64), axis=axis), x.dtype)
    if reduction == "xla_cpu":
        s = xla_reduce_sum(x, axis, threads=threads)
        return s * float(xp.asarray(1.0 / n, dtype=x.dtype))
    if reduction == "torch_cpu_avx2":
        return torch_reduce_sum(x, axis, threads=threads) / float(n)
    return eigen_reduce_sum(x, axis, threads=threads) / float(n)


def torch_norm(x, axis):
    r"""``torch.norm(x, 2, dim=axis)`` (``axis=None``: every element) of a C-contiguous
    float32 array on CPU (``norm_kernel_tensor_iterator_impl``, ``cpu/ReduceOpsKernel.cpp``):
    over the last (contiguous) axis, the vectorized kernel of
    :func:`eps_ref.rules._reductions.torch_norm_sums`; over another axis each output adds
    its rounded squares in order; then the correctly rounded square root. Measured bit for
    bit against torch 2.13 on rows, columns and whole arrays of 1 to 130 columns."""
    xp = array_namespace(x)
    if axis is None:
        return xp.reshape(torch_norm(xp.reshape(x, (1, -1)), 1), ())
    axis = axis % x.ndim
    if axis != x.ndim - 1 and math.prod(x.shape[axis + 1:]) == 1:
        # torch drops the trailing size-1 axes: the reduced axis is the contiguous one
        kept = x.shape[:axis] + x.shape[axis + 1:]
        return xp.reshape(torch_norm(xp.reshape(x, x.shape[:axis + 1]), -1), kept)
    if axis != x.ndim - 1:
        moved = xp.moveaxis(x, axis, -1) if hasattr(xp, "moveaxis") else xp.permute_dims(
            x, tuple(a for a in range(x.ndim) if a != axis) + (axis,))
        s = xp.zeros(moved.shape[:-1], dtype=x.dtype, device=_device(x))
        for k in range(moved.shape[-1]):
            v = moved[..., k]
            s = s + v * v
        return _roots.sqrt(s, "correctly_rounded")
    s = torch_norm_sums(xp.reshape(x, (-1, x.shape[-1])))
    return xp.reshape(_roots.sqrt(s, "correctly_rounded"), x.shape[:-1])


def _sum(x, axis, reduction, threads=1):
    """A sum over ``axis``: exact and rounded once for ``"float64_rounded"``, else the
    kernel's mean times the count."""
    xp = array_namespace(x)
    if reduction == "float64_rounded":
        return xp.astype(xp.sum(xp.astype(x, xp.float64), axis=axis), x.dtype)
    return reduce_mean(x, axis, reduction=reduction, threads=threads) * float(x.shape[axis])


def _rms(x, *, reduction, sqrt_method, threads=1):
    return _roots.sqrt(reduce_mean(x * x, None, reduction=reduction, threads=threads),
                       sqrt_method)


# -- the paper, Keras 3, tf_keras ------------------------------------------------------

def _init(param):
    xp = array_namespace(param)
    if param.ndim >= 2:
        return {"r": xp.zeros(param.shape[:-1], dtype=param.dtype, device=_device(param)),
                "c": xp.zeros(param.shape[:-2] + param.shape[-1:], dtype=param.dtype,
                              device=_device(param)),
                "v": xp.zeros_like(param)}
    return {"v": xp.zeros_like(param)}


def _step(param, grad, slots, *, t, lr, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
          clip_threshold=1.0, weight_decay=0.0, weight_decay_mode="none",
          factor_statistic="mean", reduction="float64_rounded",
          sqrt_method="correctly_rounded", inverse_root="divide_by_sqrt",
          broadcast_division="divide", threads=1):
    r"""One Adafactor step in the paper's / Keras 3's form (module docstring).

    ``lr`` is the cap of the relative step :math:`\rho_t = \min(\eta, 1/\sqrt t)` (Keras'
    ``learning_rate``; the paper's constant :math:`10^{-2}`). ``threads``: the backend's
    intra-op threads (its sums over large arrays depend on them)."""
    xp = array_namespace(param, grad)
    _check("factor_statistic", factor_statistic, FACTOR_STATISTICS)
    _check("inverse_root", inverse_root, INVERSE_ROOTS)
    _check("weight_decay_mode", weight_decay_mode, WEIGHT_DECAY_MODES)
    _check("broadcast_division", broadcast_division, BROADCAST_DIVISIONS)

    def divide_broadcast(x, y):
        if broadcast_division == "multiply_by_reciprocal" and xla_rewrites_division(x, y):
            return x * (1 / y)
        return x / y

    if weight_decay_mode == "decoupled_keras" and weight_decay:
        param = param - param * weight_decay * lr
    elif weight_decay_mode == "decoupled_keras_torch" and weight_decay:
        decay = _scalar(xp, weight_decay, param) * _scalar(xp, lr, param)
        param = param * (1 - decay)
    step = _scalar(xp, float(t), param)
    if inverse_root == "eigen_rsqrt":
        inv_sqrt_t = _roots.rsqrt(step, "eigen_rsqrtps_newton")
    else:
        inv_sqrt_t = 1 / _roots.sqrt(step, sqrt_method)
    rho = xp.minimum(_scalar(xp, lr, param), inv_sqrt_t)
    rms_x = _rms(param, reduction=reduction, sqrt_method=sqrt_method, threads=threads)
    alpha = xp.maximum(_scalar(xp, epsilon_2, param), rms_x) * rho
    g2 = grad * grad + epsilon_1
    beta = 1 - _scalar(xp, float32_power(t, beta_2_decay), param)
    one_minus_beta = 1 - beta
    if param.ndim >= 2:
        def stat(axis):
            if factor_statistic == "sum":
                return _sum(g2, axis, reduction, threads)
            return reduce_mean(g2, axis, reduction=reduction, threads=threads)
        r = beta * slots["r"] + one_minus_beta * stat(-1)
        c = beta * slots["c"] + one_minus_beta * stat(-2)
        if factor_statistic == "sum":
            r_total = _sum(r, -1, reduction, threads)
        else:
            r_total = reduce_mean(r, -1, reduction=reduction, threads=threads)
        v = xp.expand_dims(divide_broadcast(r, xp.expand_dims(r_total, axis=-1)), axis=-1) * \
            xp.expand_dims(c, axis=-2)
        new_slots = {"r": r, "c": c, "v": v}
    else:
        v = beta * slots["v"] + one_minus_beta * g2
        new_slots = {"v": v}
    if inverse_root == "eigen_rsqrt":
        u = grad * _roots.rsqrt(v, "eigen_rsqrtps_newton")
    else:
        u = grad / _roots.sqrt(v, sqrt_method)
    rms_u = _rms(u, reduction=reduction, sqrt_method=sqrt_method, threads=threads)
    u_hat = divide_broadcast(u, xp.maximum(_scalar(xp, 1.0, param), rms_u / clip_threshold))
    return param - alpha * u_hat, new_slots


adafactor = Rule("adafactor", _init, _step)


# -- torch.optim.Adafactor --------------------------------------------------------------

def _lerp_torch(xp, start, end, weight: float):
    """ATen's CPU ``lerp_`` with a scalar weight (cast to float32): ``fma(w, end - start,
    start)`` for ``|w| < 0.5``, else ``fma(w - 1, end - start, end)``."""
    w = _scalar(xp, weight, start)
    diff = end - start
    if abs(float(w)) < 0.5:
        return fma(xp.full_like(diff, float(w)), diff, start)
    return fma(xp.full_like(diff, float(w - 1)), diff, end)


TORCH_APPLY_FORMS = ("add_alpha", "mul_then_add")
TORCH_GRAIN_SIZE = 32768
"""``at::internal::GRAIN_SIZE``: a reduction over more elements splits over the threads."""


def torch_sum_over_threads(x, axis, threads: int = 1):
    r"""``torch.sum(x, axis, keepdim=True)`` of a float32 ``x`` on CPU with ``threads``
    intra-op threads. When the whole sum has one output and more than 32768 elements,
    ``TensorIteratorBase::parallel_reduce`` takes its two-pass path
    (``TensorIteratorReduce.cpp``): the elements split into
    :math:`k = \min(\text{threads}, \lceil n / 32768\rceil)` runs of
    :math:`\lceil n/k \rceil`, each summed by the one-thread kernel
    (:func:`eps_ref.norms._torch_cpu.torch_sum`), the partial sums then added in thread
    order. Any other sum is the one-thread sum. Measured bit for bit against torch 2.13
    with 2 threads at 32768 to 10^6 + 3 elements."""
    xp = array_namespace(x)
    n = x.shape[axis]
    if threads == 1 or math.prod(x.shape) != n or n <= TORCH_GRAIN_SIZE:
        return torch_sum(x, (axis,))
    flat = xp.reshape(x, (-1,))
    runs = min(threads, -(-n // TORCH_GRAIN_SIZE))
    length = -(-n // runs)
    total = None
    for start in range(0, n, length):
        part = torch_sum(flat[start:start + length], (0,))
        total = part if total is None else total + part
    return xp.reshape(total, tuple(1 if a == axis % x.ndim else s
                                   for a, s in enumerate(x.shape)))


def _torch_init(param):
    xp = array_namespace(param)
    dev = _device(param)
    if param.ndim > 1:
        return {"row_var": xp.zeros(param.shape[:-1] + (1,), dtype=param.dtype, device=dev),
                "col_var": xp.zeros(param.shape[:-2] + (1,) + param.shape[-1:],
                                    dtype=param.dtype, device=dev)}
    return {"variance": xp.zeros_like(param)}


def _torch_step(param, grad, slots, *, t, lr=1e-2, beta2_decay=-0.8, eps1=None, eps2=1e-3,
                d=1.0, weight_decay=0.0, objective="minimize", apply_form="add_alpha",
                threads=1):
    r"""One ``torch.optim.Adafactor`` step on CPU; see the module docstring. ``eps1=None``
    is the dtype's machine epsilon; ``threads`` is torch's intra-op thread count."""
    xp = array_namespace(param, grad)
    _check("objective", objective, OBJECTIVES)
    _check("apply_form", apply_form, TORCH_APPLY_FORMS)
    g = -grad if objective == "maximize" else grad
    if eps1 is None:
        eps1 = float(xp.finfo(param.dtype).eps)
    one_minus_beta2 = float(t) ** beta2_decay
    rho = min(lr, 1 / (float(t) ** 0.5))
    numel = math.prod(param.shape)
    alpha = max(eps2, float(torch_norm(param, None)) / numel ** 0.5) * rho
    if weight_decay != 0:
        param = param * (1 - lr * weight_decay)
    if g.ndim > 1:
        row_mean = xp.expand_dims(torch_norm(g, -1), axis=-1)
        row_mean = (row_mean * row_mean) / float(g.shape[-1])
        row_var = _lerp_torch(xp, slots["row_var"], row_mean, one_minus_beta2)
        col_mean = xp.expand_dims(torch_norm(g, -2), axis=-2)
        col_mean = (col_mean * col_mean) / float(g.shape[-2])
        col_var = _lerp_torch(xp, slots["col_var"], col_mean, one_minus_beta2)
        var_estimate = row_var * col_var
        row_mean_of_var = torch_sum_over_threads(row_var, -2, threads) / float(row_var.shape[-2])
        var_estimate = var_estimate / xp.maximum(row_mean_of_var, _scalar(xp, eps1, param))
        new_slots = {"row_var": row_var, "col_var": col_var}
    else:
        variance = _lerp_torch(xp, slots["variance"], g * g, one_minus_beta2)
        var_estimate = variance
        new_slots = {"variance": variance}
    clamped = xp.maximum(var_estimate, _scalar(xp, eps1 * eps1, param))
    update = _roots.rsqrt(clamped, "one_over_sqrt") * g
    denom = max(1.0, float(torch_norm(update, None)) / (numel ** 0.5 * d))
    step_size = _scalar(xp, -alpha / denom, param)
    if apply_form == "mul_then_add":
        return param + update * step_size, new_slots
    return fma(update, xp.full_like(update, float(step_size)), param), new_slots


adafactor_torch = Rule("adafactor_torch", _torch_init, _torch_step)


# -- optax.adafactor --------------------------------------------------------------------

def factored_dims(shape, factored: str, min_dim_size_to_factor: int):
    """optax's ``_factored_dims``: the (second-largest, largest) axes, or ``None`` when not
    factored (``factored="no"``, rank < 2, or the second-largest dimension is smaller than
    ``min_dim_size_to_factor``). Ties go to the later axis as ``np.argsort`` orders them."""
    if factored != "yes" or len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda a: (shape[a], a))
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return order[-2], order[-1]


def _optax_init(param, *, factored="yes", min_dim_size_to_factor=128, momentum=None):
    xp = array_namespace(param)
    dims = factored_dims(param.shape, factored, min_dim_size_to_factor)
    dev = _device(param)
    out = {}
    if dims is not None:
        d1, d0 = dims
        out["v_row"] = xp.zeros(tuple(s for a, s in enumerate(param.shape) if a != d0),
                                dtype=param.dtype, device=dev)
        out["v_col"] = xp.zeros(tuple(s for a, s in enumerate(param.shape) if a != d1),
                                dtype=param.dtype, device=dev)
    else:
        out["v"] = xp.zeros_like(param)
    if momentum is not None:
        out["ema"] = xp.zeros_like(param)
    return out


POW_METHODS = ("correctly_rounded", "libm_powf")


def xla_pow_float32(x, exponent: float, pow_method: str = "correctly_rounded"):
    r""":math:`x^{e}` elementwise for a float32 array, ``exponent`` rounded to float32 first.

    ``"libm_powf"``: as XLA:CPU's ``pow`` computes it, a call to glibc's ``powf`` with
    denormals flushed (:func:`eps_ref.rules._libm_pow.powf_glibc`, bit for bit);
    ``"correctly_rounded"``: the float64 power rounded once, which glibc's ``powf`` misses
    by 1 ULP on about 0.06 % of inputs."""
    _check("pow_method", pow_method, POW_METHODS)
    xp = array_namespace(x)
    if x.dtype != xp.float32:
        return x ** exponent
    if pow_method == "libm_powf":
        return powf_glibc(x, exponent, subnormals="flush_to_zero")
    e = float(_f32(exponent))
    return xp.astype(xp.astype(x, xp.float64) ** e, x.dtype)


def _scalar_power(base: float, exponent: float, pow_method: str) -> float:
    """A float32 scalar power as a Python float, by ``pow_method``."""
    if pow_method == "libm_powf":
        return powf_glibc_scalar(base, exponent, subnormals="flush_to_zero")
    return float32_power(base, exponent)


def _optax_step(param, grad, slots, *, t, learning_rate=None, factored="yes",
                min_dim_size_to_factor=128, decay_rate=0.8, decay_offset=0,
                multiply_by_parameter_scale="yes", clipping_threshold=1.0, momentum=None,
                weight_decay_rate=None, eps=1e-30, eps_scale=1e-3,
                pow_method="correctly_rounded", threads=1):
    r"""One ``optax.adafactor`` step, run eagerly (module docstring). ``pow_method``: how
    the float32 powers :math:`(t)^{-c}`, :math:`(R/\mathrm{mean} R)^{-1/2}`,
    :math:`C^{-1/2}`, :math:`v^{-1/2}` round, see :func:`xla_pow_float32`."""
    xp = array_namespace(param, grad)
    _check("pow_method", pow_method, POW_METHODS)
    dims = factored_dims(param.shape, factored, min_dim_size_to_factor)
    count = t - 1 - decay_offset
    decay = 1.0 - _scalar(xp, _scalar_power(count + 1, -decay_rate, pow_method), param)
    one_minus_decay = 1.0 - decay
    g2 = grad * grad + eps
    new_slots = {}
    if dims is not None:
        d1, d0 = dims
        v_row = decay * slots["v_row"] + one_minus_decay * reduce_mean(g2, d0, reduction="xla_cpu",
                                                                         threads=threads)
        v_col = decay * slots["v_col"] + one_minus_decay * reduce_mean(g2, d1, reduction="xla_cpu",
                                                                         threads=threads)
        reduced_d1 = d1 - 1 if d1 > d0 else d1
        row_col_mean = xp.expand_dims(reduce_mean(v_row, reduced_d1, reduction="xla_cpu",
                                                  threads=threads), axis=reduced_d1)
        # XLA compiles the eager division by a broadcast mean into a multiplication by
        # its rounded reciprocal.
        row_factor = xla_pow_float32(v_row * (1 / row_col_mean), -0.5, pow_method)
        col_factor = xla_pow_float32(v_col, -0.5, pow_method)
        update = grad * xp.expand_dims(row_factor, axis=d0) * xp.expand_dims(col_factor, axis=d1)
        new_slots.update(v_row=v_row, v_col=v_col)
    else:
        v = decay * slots["v"] + one_minus_decay * g2
        update = grad * xla_pow_float32(v, -0.5, pow_method)
        new_slots["v"] = v
    if clipping_threshold is not None:
        rms_u = _roots.sqrt(reduce_mean(update * update, None, reduction="xla_cpu",
                                                threads=threads))
        update = xla_divide_by_scalar(
            update, xp.maximum(_scalar(xp, 1.0, param), rms_u / clipping_threshold))
    if learning_rate is not None:
        update = learning_rate * update
    if multiply_by_parameter_scale == "yes":
        rms_p = _roots.sqrt(reduce_mean(param * param, None, reduction="xla_cpu",
                                                threads=threads))
        floor = _scalar(xp, eps_scale, param)
        update = update * xp.where(rms_p <= floor, floor, rms_p)
    if momentum is not None:
        ema = (1 - momentum) * update + momentum * slots["ema"]
        update = ema
        new_slots["ema"] = ema
    if weight_decay_rate is not None and weight_decay_rate != 0:
        update = update + weight_decay_rate * param
    update = -1 * update
    return param + update, new_slots


adafactor_optax = Rule("adafactor_optax", _optax_init, _optax_step)

r"""Keras 3's learning-rate schedules (``keras.optimizers.schedules``): float32 ``keras.ops`` on
the optimizer's ``iterations`` before its increment (optimizer step :math:`t` runs at
``schedule(t - 1)``), op by op on each backend's scalar kernels.

Each schedule converts its keywords to float32 tensors first (``ops.cast``), so the
arithmetic is float32 throughout, a Python number meeting a tensor in float32. The kernels:
``cos`` is glibc's ``cosf`` on TensorFlow and JAX (:mod:`eps_ref.rules._libm_cos`); ``log``
glibc's ``logf`` on TensorFlow (:mod:`eps_ref.rules._libm_explog`) and XLA's own polynomial
on JAX (:mod:`eps_ref.rules._xla_log`); torch computes both with MKL's VML (``vmsCos``,
``vmsLn``, high accuracy; ATen's ``at::vml`` calls it for float32 ``cos`` and ``log`` on
CPU, 0-d tensors too), closed source and dispatched per CPU, not modelled: a schedule with a
cosine or a logarithm refuses the torch backend. ``pow`` is glibc's
``powf`` (JAX with denormals flushed). On JAX, ``ops.cond`` (CosineDecay's warmup)
is ``lax.cond``, compiled: XLA fuses each branch's multiply-adds (measured: the warmup
``fma(target - lr0, t/W, lr0)`` and the decay ``fma(1 - alpha, cosine, alpha)``;
CosineDecayRestarts' ``fma(-fraction, 1 - t_mul, 1)``), and its simplifier turns
``a / t_mul**i`` into ``a * t_mul**-i``.
Read from Keras 3.15's ``keras/src/optimizers/schedules/learning_rate_schedule.py``.
"""

from __future__ import annotations

import math

import numpy as np

from eps_ref.rules._libm_cos import cosf_glibc
from eps_ref.rules._libm_explog import logf_glibc
from eps_ref.rules._libm_pow import powf_glibc
from eps_ref.rules._numerics import fma
from eps_ref.rules._xla_log import logf_xla

__all__ = ["values", "exponential_decay", "piecewise_constant", "polynomial_decay",
           "inverse_time_decay", "cosine_decay", "cosine_decay_restarts", "linear_cosine_decay",
           "noisy_linear_cosine_decay",
           "BACKENDS"]

F32 = np.float32
BACKENDS = ("tensorflow", "jax", "torch")


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=F32)


class Kernels:
    """One backend's scalar kernels for the schedules' ``ops.cos`` and ``ops.power``."""

    def __init__(self, backend: str):
        if backend not in BACKENDS:
            raise ValueError(f"unknown Keras backend {backend!r}; one of {list(BACKENDS)}")
        self.backend = backend

    def _refuse_mkl(self, op: str):
        if self.backend == "torch":
            raise NotImplementedError(f"Keras on torch computes ops.{op} with MKL's VML "
                                      f"(closed source, dispatched per CPU), which eps_ref "
                                      f"does not model: this schedule runs on "
                                      f"backend='tensorflow' or 'jax'")

    def cos(self, x):
        self._refuse_mkl("cos")
        return cosf_glibc(x)

    def log(self, x):
        self._refuse_mkl("log")
        return logf_xla(x) if self.backend == "jax" else logf_glibc(x)

    def mul_add(self, a, b, c, compiled: bool):
        """``a * b + c``; one FMA where the backend compiles it (``lax.cond`` on JAX)."""
        a, b, c = np.broadcast_arrays(_f(a), _f(b), _f(c))
        return fma(a, b, c) if compiled and self.backend == "jax" else a * b + c

    def divide_by_power(self, a, x, y, compiled: bool):
        """``a / x**y``; where the backend compiles it (``lax.cond`` on JAX) XLA's simplifier
        rewrites it as ``a * x**-y``."""
        if compiled and self.backend == "jax":
            return _f(a) * self.power(x, -_f(y))
        return _f(a) / self.power(x, y)

    def power(self, x, y):
        base, exponent = np.broadcast_arrays(_f(x), _f(y))
        return powf_glibc(np.ascontiguousarray(base), np.ascontiguousarray(exponent),
                          subnormals="flush_to_zero" if self.backend == "jax" else "ieee")


def exponential_decay(initial_learning_rate, decay_steps, decay_rate, staircase=False):
    r"""ExponentialDecay: :math:`\eta_0 r^{t/T}` (:math:`\lfloor t/T \rfloor` with
    ``staircase``)."""
    def schedule(step, k):
        p = _f(step) / _f(decay_steps)
        if staircase:
            p = np.floor(p)
        return _f(initial_learning_rate) * k.power(decay_rate, p)
    return schedule


def piecewise_constant(boundaries, values):
    """PiecewiseConstantDecay: ``values[i]`` between ``boundaries[i-1]`` (excluded) and
    ``boundaries[i]``, summed as Keras sums its indicator products."""
    def schedule(step, k):
        step = np.asarray(step, dtype=np.int64)
        out = np.zeros(step.shape, F32)
        out = out + (step <= boundaries[0]).astype(F32) * _f(values[0])
        out = out + (step > boundaries[-1]).astype(F32) * _f(values[-1])
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            out = out + ((step > low) & (step <= high)).astype(F32) * _f(value)
        return out
    return schedule


def polynomial_decay(initial_learning_rate, decay_steps, end_learning_rate=1e-4, power=1.0,
                     cycle=False):
    r"""PolynomialDecay: :math:`(\eta_0 - \eta_1)(1 - t/T)^p + \eta_1`, ``t`` clipped at
    :math:`T` (or :math:`T` grown to the next multiple with ``cycle``)."""
    def schedule(step, k):
        step = _f(step)
        steps = np.full(step.shape, _f(decay_steps))
        if cycle:
            multiplier = np.where(step == 0, F32(1), np.ceil(step / _f(decay_steps)))
            steps = steps * multiplier
        else:
            step = np.minimum(step, steps)
        p = step / steps
        return (_f(initial_learning_rate) - _f(end_learning_rate)) * \
            k.power(F32(1) - p, power) + _f(end_learning_rate)
    return schedule


def inverse_time_decay(initial_learning_rate, decay_steps, decay_rate, staircase=False):
    r"""InverseTimeDecay: :math:`\eta_0 / (1 + r\,t/T)`."""
    def schedule(step, k):
        p = _f(step) / _f(decay_steps)
        if staircase:
            p = np.floor(p)
        return _f(initial_learning_rate) / (F32(1) + _f(decay_rate) * p)
    return schedule


def cosine_decay(initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None,
                 warmup_steps=0):
    r"""CosineDecay: :math:`\eta((1-\alpha)\tfrac12(1 + \cos(\pi t/T)) + \alpha)`, after a
    linear warmup from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps`` where one is given."""
    pi = F32(math.pi)

    def decay(step, steps, lr, k, in_cond=False):
        fraction = step / steps
        cosine = F32(0.5) * (F32(1) + k.cos(pi * fraction))
        return lr * k.mul_add(_f(1 - alpha), cosine, alpha, in_cond)

    def schedule(step, k):
        lr0, steps = _f(initial_learning_rate), _f(decay_steps)
        step = _f(step)
        if warmup_target is None:
            return decay(np.minimum(step, steps), steps, lr0, k)
        target, warm = _f(warmup_target), _f(warmup_steps)
        step = np.minimum(step, steps + warm)
        warmed = k.mul_add(target - lr0, step / warm, lr0, True)
        return np.where(step < warm, warmed, decay(step - warm, steps, target, k, True))
    return schedule


def cosine_decay_restarts(initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                          alpha=0.0):
    r"""CosineDecayRestarts (SGDR): period :math:`i` lasts :math:`T t_{mul}^i` steps and
    peaks at :math:`m_{mul}^i`; within it
    :math:`\eta((1-\alpha) \tfrac12 m_{mul}^i (1 + \cos(\pi f)) + \alpha)`, :math:`f` the
    fraction of the period done. With :math:`t_{mul} \ne 1` the period comes from
    :math:`i = \lfloor \log(1 + (t_{mul} - 1) t/T) / \log t_{mul} \rfloor` (inside
    ``ops.cond``, compiled on JAX)."""
    pi = F32(math.pi)

    def schedule(step, k):
        steps, t, m = _f(first_decay_steps), _f(t_mul), _f(m_mul)
        fraction = _f(step) / steps
        if t == 1:
            i_restart = np.floor(fraction)
            fraction = fraction - i_restart
        else:
            inside = k.mul_add(-fraction, F32(1) - t, F32(1), True)
            i_restart = np.floor(k.log(inside) / k.log(t))
            done = (F32(1) - k.power(t, i_restart)) / (F32(1) - t)
            fraction = k.divide_by_power(fraction - done, t, i_restart, True)
        cosine = F32(0.5) * k.power(m, i_restart) * (F32(1) + k.cos(pi * fraction))
        return _f(initial_learning_rate) * ((F32(1) - _f(alpha)) * cosine + _f(alpha))
    return schedule


def linear_cosine_decay(initial_learning_rate, decay_steps, num_periods=0.5, alpha=0.0,
                        beta=0.001):
    r"""LinearCosineDecay (TensorFlow's, TF1 and tf_keras):
    :math:`\eta((\alpha + (T - t)/T)\tfrac12(1 + \cos(2\pi n\,t/T)) + \beta)`."""
    pi = F32(math.pi)

    def schedule(step, k):
        steps = _f(decay_steps)
        step = np.minimum(_f(step), steps)
        linear = (steps - step) / steps
        fraction = F32(2.0) * _f(num_periods) * (step / steps)
        cosine = F32(0.5) * (F32(1) + k.cos(pi * fraction))
        return _f(initial_learning_rate) * ((_f(alpha) + linear) * cosine + _f(beta))
    return schedule


def noisy_linear_cosine_decay(initial_learning_rate, decay_steps, initial_variance=1.0,
                              variance_decay=0.55, num_periods=0.5, alpha=0.0, beta=0.001, *,
                              global_seed: int):
    r"""NoisyLinearCosineDecay (TensorFlow's, TF1): linear_cosine_decay with Gaussian noise
    on the linear part, :math:`\eta((\alpha + (T - t)/T + \epsilon_t)\tfrac12(1 +
    \cos(2\pi n\,t/T)) + \beta)`, :math:`\epsilon_t \sim N(0, v_0 / (1 + t)^{d})`, each
    call's noise ``tf.random.normal([]) * std`` after ``tf.random.set_seed(global_seed)``
    (:func:`eps_ref.rules._philox.eager_normals`: call ``i`` of the schedule is the
    ``i``-th random op since the seed was set)."""
    from eps_ref.rules._philox import eager_normals
    pi = F32(math.pi)

    def schedule(step, k):
        steps = _f(decay_steps)
        step = np.minimum(_f(step), steps)
        linear = (steps - step) / steps
        std = np.sqrt(_f(initial_variance) / k.power(F32(1.0) + step, variance_decay))
        noise = eager_normals(global_seed, step.size).reshape(step.shape) * std + F32(0.0)
        fraction = F32(2.0) * _f(num_periods) * (step / steps)
        cosine = F32(0.5) * (F32(1) + k.cos(pi * fraction))
        return _f(initial_learning_rate) * ((_f(alpha) + (linear + noise)) * cosine
                                            + _f(beta))
    return schedule


def values(schedule, n: int, backend: str) -> list[dict]:
    """Optimizer steps 1..n: the schedule at ``iterations`` 0..n-1, as Python floats."""
    out = schedule(np.arange(n, dtype=np.int64), Kernels(backend))
    return [{"lr": float(v)} for v in np.asarray(out, dtype=F32).reshape(-1)]

"""TensorFlow's own schedules: ``tf.compat.v1.train``'s decay functions (TF 2.21) and
``tf_keras.optimizers.schedules`` (tf-keras 2.21), each a schedule spec of its dialect.

Both compute with TensorFlow ops, as Keras 3 on TensorFlow does, in the same order
(:mod:`eps_ref.schedules.keras_ops` with the TensorFlow kernels). A TF1 decay function
reads ``global_step``, which the optimizer's ``apply_gradients`` increments after the step:
here ``global_step`` is the counter's value at the first step (usually 0), and optimizer
step ``t`` runs at ``global_step + t - 1``.
"""

from __future__ import annotations

import numpy as np

from eps_ref.rules._libm_explog import expf_glibc
from eps_ref.schedules import ScheduleRule
from eps_ref.schedules import keras_ops as K
from eps_ref.spec import REQUIRED, Spec, check_number, register

TF_VERSION = "2.21.0"
TF_SOURCE = ("https://github.com/tensorflow/tensorflow/blob/v2.21.0/tensorflow/python/keras/"
             "optimizer_v2/legacy_learning_rate_decay.py")
TF_KERAS_SOURCE = ("https://github.com/keras-team/tf-keras/blob/v2.21.0/tf_keras/src/"
                   "optimizers/schedules/learning_rate_schedule.py")


def _tf1_values(n, *, schedule, global_step, metrics=None):
    return K.values(lambda step, k: schedule(step + global_step, k), n, "tensorflow")


def _tf_keras_values(n, *, schedule, metrics=None):
    return K.values(schedule, n, "tensorflow")


TF1_RULE = ScheduleRule("tf1_float32", _tf1_values)
TF_KERAS_RULE = ScheduleRule("tf_keras_float32", _tf_keras_values)

_NOT_NUMBERS = ("staircase", "cycle", "boundaries", "values", "warmup_target", "name")


def _check(name, kw):
    for k, v in kw.items():
        if k not in _NOT_NUMBERS and v is not None:
            check_number(name, **{k: v})


def _steps_positive(name, kw):
    for keyword in ("decay_steps", "first_decay_steps"):
        if keyword in kw and kw[keyword] <= 0:
            raise ValueError(f"{name}: {keyword} must be > 0, got {kw[keyword]!r}")


def _natural_exp_decay(learning_rate, decay_steps, decay_rate, staircase=False):
    """exponential_decay at the rate ``exp(-decay_rate)``, TensorFlow's float32 ``exp``."""
    rate = expf_glibc(-np.float32(decay_rate))
    return K.exponential_decay(learning_rate, decay_steps, rate, staircase)


def _noisy(learning_rate, decay_steps, initial_variance=1.0, variance_decay=0.55,
           num_periods=0.5, alpha=0.0, beta=0.001, global_seed=None):
    """noisy_linear_cosine_decay after ``tf.random.set_seed(global_seed)`` (eager)."""
    if not isinstance(global_seed, int) or isinstance(global_seed, bool):
        raise TypeError(
            "tf.compat.v1.train.noisy_linear_cosine_decay draws its noise from TensorFlow's "
            "random ops: give global_seed=, the int of tf.random.set_seed in effect, with "
            "the schedule's calls the only unseeded random ops after it (without a global "
            f"seed TensorFlow's noise is not reproducible), got {global_seed!r}")
    return K.noisy_linear_cosine_decay(learning_rate, decay_steps, initial_variance,
                                       variance_decay, num_periods, alpha, beta,
                                       global_seed=global_seed)


_RESTARTS = {"first_decay_steps": REQUIRED, "t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0}


# (TF1 name, its keywords beyond learning_rate/global_step, the builder, doc, variant)
_DECAYS = {
    "exponential_decay": ({"decay_steps": REQUIRED, "decay_rate": REQUIRED,
                           "staircase": False},
                          K.exponential_decay, "learning_rate * decay_rate^(step/decay_steps)",
                          {"decay_steps": 100, "decay_rate": 0.96}),
    "polynomial_decay": ({"decay_steps": REQUIRED, "end_learning_rate": 1e-4, "power": 1.0,
                          "cycle": False},
                         K.polynomial_decay, "(lr - end)(1 - step/T)^power + end",
                         {"decay_steps": 300, "power": 2.0, "cycle": True}),
    "inverse_time_decay": ({"decay_steps": REQUIRED, "decay_rate": REQUIRED,
                            "staircase": False},
                           K.inverse_time_decay, "learning_rate / (1 + decay_rate step/T)",
                           {"decay_steps": 100, "decay_rate": 0.5}),
    "cosine_decay": ({"decay_steps": REQUIRED, "alpha": 0.0},
                     K.cosine_decay, "lr ((1 - alpha)(1 + cos(pi step/T))/2 + alpha)",
                     {"decay_steps": 800, "alpha": 0.01}),
    "natural_exp_decay": ({"decay_steps": REQUIRED, "decay_rate": REQUIRED,
                           "staircase": False},
                          _natural_exp_decay,
                          "learning_rate * exp(-decay_rate)^(step/decay_steps)",
                          {"decay_steps": 100, "decay_rate": 0.3}),
    "cosine_decay_restarts": (_RESTARTS, K.cosine_decay_restarts,
                              "SGDR: cosine decay over periods of first_decay_steps t_mul^i "
                              "steps, each restarting at m_mul^i",
                              {"first_decay_steps": 100, "m_mul": 0.9}),
    "noisy_linear_cosine_decay": ({"decay_steps": REQUIRED, "initial_variance": 1.0,
                                   "variance_decay": 0.55, "num_periods": 0.5, "alpha": 0.0,
                                   "beta": 0.001, "global_seed": REQUIRED},
                                  _noisy,
                                  "linear_cosine_decay with N(0, v0/(1 + step)^d) noise on "
                                  "the linear part; global_seed: tf.random.set_seed's",
                                  {"decay_steps": 900, "global_seed": 42}),
    "linear_cosine_decay": ({"decay_steps": REQUIRED, "num_periods": 0.5, "alpha": 0.0,
                             "beta": 0.001},
                            K.linear_cosine_decay,
                            "lr ((alpha + (T - step)/T)(1 + cos(2 pi n step/T))/2 + beta)",
                            {"decay_steps": 900, "num_periods": 2.0}),
}


def _tf1_decay(short, extra, build, doc, variant):
    qualified = "tf.compat.v1.train." + short

    def bind(*, learning_rate, global_step, name=None, **kw):
        _check(qualified, {"learning_rate": learning_rate, **kw})
        _steps_positive(qualified, kw)
        if not isinstance(global_step, int) or isinstance(global_step, bool) or global_step < 0:
            raise TypeError(f"{short}: global_step is the step counter's value at the first "
                            f"step, an int >= 0 (usually 0), got {global_step!r}")
        return {"schedule": build(learning_rate, **kw), "global_step": global_step}

    register(Spec(name=qualified, framework="tf1", version=TF_VERSION,
                  defaults={"learning_rate": REQUIRED, "global_step": REQUIRED, **extra,
                            "name": None},
                  rule=TF1_RULE, bind=bind, reference=TF_SOURCE, kind="schedule",
                  inert=frozenset({"name"}), doc=doc,
                  variants={"defaults": {"learning_rate": 0.1, "global_step": 0,
                                         **variant}}))


for _short, (_extra, _build, _doc, _variant) in _DECAYS.items():
    _tf1_decay(_short, _extra, _build, _doc, _variant)


def _bind_piecewise(*, x, boundaries, values, name=None):
    boundaries, values = list(boundaries), list(values)
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of "
                         "values")
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise TypeError(f"piecewise_constant: x is the step counter's value at the first "
                        f"step, an int >= 0, got {x!r}")
    return {"schedule": K.piecewise_constant(boundaries, values), "global_step": x}


register(Spec(name="tf.compat.v1.train.piecewise_constant", framework="tf1",
              version=TF_VERSION,
              defaults={"x": REQUIRED, "boundaries": REQUIRED, "values": REQUIRED,
                        "name": None},
              rule=TF1_RULE, bind=_bind_piecewise, reference=TF_SOURCE, kind="schedule",
              inert=frozenset({"name"}), doc="values[i] while boundaries[i-1] < x <= "
              "boundaries[i]",
              variants={"defaults": {"x": 0, "boundaries": [100, 400],
                                     "values": [0.1, 0.01, 0.001]}}))


# -- tf_keras.optimizers.schedules -----------------------------------------------------------

_TF_KERAS = {
    "ExponentialDecay": ({"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                          "decay_rate": REQUIRED, "staircase": False},
                         K.exponential_decay,
                         {"initial_learning_rate": 0.1, "decay_steps": 100,
                          "decay_rate": 0.96}),
    "PolynomialDecay": ({"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                         "end_learning_rate": 1e-4, "power": 1.0, "cycle": False},
                        K.polynomial_decay,
                        {"initial_learning_rate": 0.1, "decay_steps": 700, "power": 0.5}),
    "InverseTimeDecay": ({"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                          "decay_rate": REQUIRED, "staircase": False},
                         K.inverse_time_decay,
                         {"initial_learning_rate": 0.1, "decay_steps": 50, "decay_rate": 2.0,
                          "staircase": True}),
    "CosineDecay": ({"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                     "alpha": 0.0, "warmup_target": None, "warmup_steps": 0},
                    K.cosine_decay,
                    {"initial_learning_rate": 1e-4, "decay_steps": 900, "alpha": 0.01,
                     "warmup_target": 1e-3, "warmup_steps": 100}),
    "CosineDecayRestarts": ({"initial_learning_rate": REQUIRED, **_RESTARTS},
                            K.cosine_decay_restarts,
                            {"initial_learning_rate": 0.1, "first_decay_steps": 80,
                             "t_mul": 1.5, "alpha": 0.01}),
    "PiecewiseConstantDecay": ({"boundaries": REQUIRED, "values": REQUIRED},
                               lambda boundaries, values: K.piecewise_constant(
                                   list(boundaries), list(values)),
                               {"boundaries": [100, 400, 700],
                                "values": [0.1, 0.05, 0.01, 0.001]}),
}


def _tf_keras_schedule(short, defaults, build, variant):
    qualified = "tf_keras.optimizers.schedules." + short

    def bind(*, name=None, **kw):
        _check(qualified, kw)
        _steps_positive(qualified, kw)
        return {"schedule": build(**kw)}

    register(Spec(name=qualified, framework="tf_keras", version=TF_VERSION,
                  defaults={**defaults, "name": None}, rule=TF_KERAS_RULE, bind=bind,
                  reference=TF_KERAS_SOURCE, kind="schedule", inert=frozenset({"name"}),
                  doc=f"TensorFlow ops, as Keras 3's {short} on TensorFlow",
                  variants={"defaults": variant}))


for _short, (_defaults, _build, _variant) in _TF_KERAS.items():
    _tf_keras_schedule(_short, _defaults, _build, _variant)

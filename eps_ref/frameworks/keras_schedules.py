"""Keras 3's ``keras.optimizers.schedules``, read from Keras 3.15: each
``LearningRateSchedule`` class a schedule spec of the keras dialect, with its keywords and
defaults (``name`` is inert). ``eps_ref.schedule(name, backend=...)`` picks the backend
whose kernels compute it (TensorFlow by default). The arithmetic is
:mod:`eps_ref.schedules.keras_ops`.
"""

from __future__ import annotations

from eps_ref.schedules import ScheduleRule
from eps_ref.schedules import keras_ops as K
from eps_ref.spec import REQUIRED, Spec, check_number, register

VERSION = "3.15.1"
SOURCE = ("https://github.com/keras-team/keras/blob/v3.15.1/keras/src/optimizers/schedules/"
          "learning_rate_schedule.py")
PREFIX = "keras.optimizers.schedules."


def _values(n, *, schedule, backend="tensorflow", metrics=None):
    return K.values(schedule, n, backend)


RULE = ScheduleRule("keras_float32", _values)


def _positive_steps(value, keyword="decay_steps"):
    if value <= 0:
        raise ValueError(f"Argument `{keyword}` must be > 0. Received: {keyword}={value}")


def _register(short, defaults, build, doc, variants):
    name = PREFIX + short

    def bind(*, name=None, **kw):
        for k, v in kw.items():
            if k not in ("staircase", "cycle", "boundaries", "values", "warmup_target") \
                    and v is not None:
                check_number(PREFIX + short, **{k: v})
        for keyword in ("decay_steps", "first_decay_steps"):
            if keyword in kw:
                _positive_steps(kw[keyword], keyword)
        return {"schedule": build(**kw)}

    register(Spec(name=name, framework="keras", version=VERSION,
                  defaults={**defaults, "name": short}, rule=RULE, bind=bind,
                  reference=SOURCE, kind="schedule", inert=frozenset({"name"}),
                  variants=variants, doc=doc))


_register("ExponentialDecay", {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                               "decay_rate": REQUIRED, "staircase": False}, K.exponential_decay,
          "initial_learning_rate * decay_rate^(t / decay_steps), floored with staircase",
          {"defaults": {"initial_learning_rate": 0.1, "decay_steps": 100,
                        "decay_rate": 0.96},
           "staircase": {"initial_learning_rate": 0.1, "decay_steps": 37, "decay_rate": 0.5,
                         "staircase": True}})


def _piecewise(*, boundaries, values):
    boundaries, values = list(boundaries), list(values)
    if len(boundaries) != len(values) - 1:
        raise ValueError(f"The length of boundaries should be 1 less than the length of "
                         f"values. Received: boundaries={boundaries} of length "
                         f"{len(boundaries)}, and values={values} of length {len(values)}.")
    return K.piecewise_constant(boundaries, values)


_register("PiecewiseConstantDecay", {"boundaries": REQUIRED, "values": REQUIRED}, _piecewise,
          "values[i] while boundaries[i-1] < t <= boundaries[i]",
          {"defaults": {"boundaries": [100, 400, 700], "values": [0.1, 0.05, 0.01, 0.001]}})


_register("PolynomialDecay", {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                              "end_learning_rate": 1e-4, "power": 1.0, "cycle": False},
          K.polynomial_decay, "(lr0 - lr1) (1 - t/T)^power + lr1, t clipped at T (or T grown "
          "with cycle)",
          {"defaults": {"initial_learning_rate": 0.1, "decay_steps": 700},
           "power 2, cycle": {"initial_learning_rate": 0.1, "decay_steps": 300,
                              "end_learning_rate": 1e-5, "power": 2.0, "cycle": True},
           "power 0.5": {"initial_learning_rate": 0.1, "decay_steps": 700,
                         "end_learning_rate": 1e-5, "power": 0.5}})


_register("InverseTimeDecay", {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                               "decay_rate": REQUIRED, "staircase": False}, K.inverse_time_decay,
          "initial_learning_rate / (1 + decay_rate t / decay_steps)",
          {"defaults": {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5},
           "staircase": {"initial_learning_rate": 0.1, "decay_steps": 50, "decay_rate": 2.0,
                         "staircase": True}})


def _cosine(*, initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps):
    if warmup_target is not None:
        check_number(PREFIX + "CosineDecay", warmup_target=warmup_target)
    return K.cosine_decay(initial_learning_rate, decay_steps, alpha, warmup_target,
                          warmup_steps)


_register("CosineDecay", {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                          "alpha": 0.0, "warmup_target": None, "warmup_steps": 0}, _cosine,
          "lr ((1 - alpha)(1 + cos(pi t/T))/2 + alpha), after a linear warmup to "
          "warmup_target over warmup_steps",
          {"defaults": {"initial_learning_rate": 0.1, "decay_steps": 800},
           "alpha, warmup": {"initial_learning_rate": 1e-4, "decay_steps": 900,
                             "alpha": 0.01, "warmup_target": 1e-3, "warmup_steps": 100}})


_register("CosineDecayRestarts", {"initial_learning_rate": REQUIRED,
                                  "first_decay_steps": REQUIRED, "t_mul": 2.0, "m_mul": 1.0,
                                  "alpha": 0.0}, K.cosine_decay_restarts,
          "SGDR: cosine decay over periods of first_decay_steps t_mul^i steps, each "
          "restarting at m_mul^i",
          {"defaults": {"initial_learning_rate": 0.1, "first_decay_steps": 100},
           "t_mul 1, m_mul 0.5": {"initial_learning_rate": 0.1, "first_decay_steps": 150,
                                  "t_mul": 1.0, "m_mul": 0.5, "alpha": 0.01},
           "t_mul 1.5, m_mul 0.8": {"initial_learning_rate": 0.1, "first_decay_steps": 80,
                                    "t_mul": 1.5, "m_mul": 0.8}})

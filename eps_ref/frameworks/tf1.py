"""The ``tf.compat.v1.train`` dialect (TF1 optimizers), read from TensorFlow 2.21.0.


Keyword names and defaults are the framework's own.
"""

from eps_ref.spec import Budget, Spec, check_beta, check_nonnegative, register, unsupported  # noqa: F401

VERSION = "2.21.0"
SOURCE = "https://github.com/tensorflow/tensorflow/blob/v2.21.0/"
INERT = frozenset({"name", "use_locking"})

# --- SGD family -------------------------------------------------------------------------
from eps_ref.rules.sgd import sgd as _sgd  # noqa: E402
from eps_ref.spec import REQUIRED  # noqa: E402


def _check_sgd_numbers(name, learning_rate, **others):
    """Python numbers only (a Tensor or a callable is not modelled); lr >= 0."""
    for keyword, value in {"learning_rate": learning_rate, **others}.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(name, keyword, value)
    check_nonnegative(name, learning_rate=learning_rate)


def _bind_gradient_descent(*, learning_rate, use_locking, name):
    _check_sgd_numbers("tf.compat.v1.train.GradientDescentOptimizer", learning_rate)
    return {"lr": float(learning_rate), "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
            "momentum_form": "none", "lookahead": "none", "weight_decay_form": "coupled",
            "multiply_add": "separate", "objective": "minimize"}


def _bind_momentum(*, learning_rate, momentum, use_locking, name, use_nesterov):
    _check_sgd_numbers("tf.compat.v1.train.MomentumOptimizer", learning_rate, momentum=momentum)
    return {
        "lr": float(learning_rate),
        "momentum": float(momentum),
        "momentum_form": "tf1",
        "dampening": 0.0,
        "weight_decay": 0.0,
        "lookahead": "nesterov" if use_nesterov else "none",
        "weight_decay_form": "coupled",
        "multiply_add": "separate",
        "objective": "minimize",
    }


register(Spec(
    name="tf.compat.v1.train.GradientDescentOptimizer",
    framework="tf1",
    version=VERSION,
    defaults={"learning_rate": REQUIRED, "use_locking": False, "name": "GradientDescent"},
    rule=_sgd,
    bind=_bind_gradient_descent,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc",
    inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "learning_rate 1e-2": {"learning_rate": 1e-2},
    },
    doc="no eps; ApplyGradientDescent: var -= grad * lr",
))

register(Spec(
    name="tf.compat.v1.train.MomentumOptimizer",
    framework="tf1",
    version=VERSION,
    defaults={"learning_rate": REQUIRED, "momentum": REQUIRED, "use_locking": False,
              "name": "Momentum", "use_nesterov": False},
    rule=_sgd,
    bind=_bind_momentum,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc",
    inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-2, "momentum": 0.9},
        "learning_rate 1e-3, momentum 0.5": {"learning_rate": 1e-3, "momentum": 0.5},
        "nesterov": {"learning_rate": 1e-2, "momentum": 0.9, "use_nesterov": True},
        "momentum 0": {"learning_rate": 1e-2, "momentum": 0.0},
    },
    doc="no eps; ApplyMomentum: accum = accum*mu + g, var -= accum*lr "
        "(Nesterov: var -= g*lr + accum*mu*lr)",
))
# --- end SGD family ---------------------------------------------------------------------

# --- Adam family ------------------------------------------------------------------------
from eps_ref.rules.adam import adam as _adam_rule  # noqa: E402


def _bind_adam(*, learning_rate, beta1, beta2, epsilon, use_locking, name,
               use_own_namescope_for_non_slot_vars):
    qualified = "tf.compat.v1.train.AdamOptimizer"
    for keyword, value in (("learning_rate", learning_rate), ("beta1", beta1),
                           ("beta2", beta2), ("epsilon", epsilon)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # tensors and callables
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta1=beta1, beta2=beta2)
    return dict(lr=float(learning_rate), beta1=float(beta1), beta2=float(beta2),
                eps=float(epsilon), eps_root=0.0, weight_decay=0.0, weight_decay_mode="none",
                eps_placement="eps_hat", amsgrad="none", moment_update="difference",
                one_minus_beta="param_dtype", bias_correction="running_product",
                corrected_moments="both", momentum_estimate="bias_corrected",
                objective="minimize", first_moment_dtype=None,
                sqrt_method="correctly_rounded", correction_op="divide")


register(Spec(
    name="tf.compat.v1.train.AdamOptimizer", framework="tf1", version=VERSION,
    defaults={"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
              "use_locking": False, "name": "Adam",
              "use_own_namescope_for_non_slot_vars": False},
    rule=_adam_rule, bind=_bind_adam,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc",
    inert=INERT | {"use_own_namescope_for_non_slot_vars"},
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "beta1=0.4,beta2=0.99": {"beta1": 0.4, "beta2": 0.99},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="eps-hat on the RAW root (ApplyAdam kernel): alpha = lr*sqrt(1-b2^t)/(1-b1^t) from "
        "float32 beta powers kept as running products, m += (g-m)*(1-b1), "
        "v += (g^2-v)*(1-b2) with 1-b in float32, p -= m*alpha / (sqrt(v) + eps)",
))
# --- end Adam family --------------------------------------------------------------------

# --- RMSProp family ---------------------------------------------------------------------
from eps_ref.rules.rmsprop import rmsprop as _rmsprop_rule  # noqa: E402
from eps_ref.spec import REQUIRED  # noqa: E402


def _bind_rmsprop(*, learning_rate, decay, momentum, epsilon, use_locking, centered, name):
    qualified = "tf.compat.v1.train.RMSPropOptimizer"
    for keyword, value in (("learning_rate", learning_rate), ("decay", decay),
                           ("momentum", momentum), ("epsilon", epsilon)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    # The kernel always runs the momentum buffer (``mom = mom * momentum + ...``), even at 0.
    return dict(lr=float(learning_rate), decay=float(decay), eps=float(epsilon),
                eps_placement="inside_sqrt", initial_square_avg=1.0,
                centered=bool(centered), momentum=float(momentum),
                momentum_form="lr_inside_buffer", bias_correction="none",
                weight_decay=0.0, weight_decay_form="coupled", maximize=False,
                arithmetic="tf1_kernel", sqrt_method="correctly_rounded",
                rsqrt_method="one_over_sqrt")


register(Spec(
    name="tf.compat.v1.train.RMSPropOptimizer", framework="tf1", version=VERSION,
    defaults={"learning_rate": REQUIRED, "decay": 0.9, "momentum": 0.0, "epsilon": 1e-10,
              "use_locking": False, "centered": False, "name": "RMSProp"},
    rule=_rmsprop_rule, bind=_bind_rmsprop,
    reference=SOURCE + "tensorflow/python/training/rmsprop.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "epsilon=1e-3": {"learning_rate": 1e-3, "epsilon": 1e-3},
        "epsilon=1": {"learning_rate": 1e-3, "epsilon": 1.0},
        "centered": {"learning_rate": 1e-3, "centered": True},
        "momentum=0.9": {"learning_rate": 1e-3, "momentum": 0.9},
        "centered+momentum=0.9": {"learning_rate": 1e-3, "centered": True, "momentum": 0.9},
        "learning_rate=1e-2,decay=0.99": {"learning_rate": 1e-2, "decay": 0.99},
    },
    doc="eps INSIDE the root and ms starts at ONES: ms += (g^2 - ms)*(1-rho), "
        "mom = mu*mom + lr*g / sqrt(ms + eps), p -= mom (ApplyRMSProp kernel)",
))
# --- end RMSProp family -----------------------------------------------------------------

# --- Adagrad family ---------------------------------------------------------------------
from eps_ref.rules.adagrad import adagrad as _adagrad_rule  # noqa: E402
from eps_ref.spec import REQUIRED  # noqa: E402


def _bind_adagrad(*, learning_rate, initial_accumulator_value, use_locking, name):
    qualified = "tf.compat.v1.train.AdagradOptimizer"
    for keyword, value in (("learning_rate", learning_rate),
                           ("initial_accumulator_value", initial_accumulator_value)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # tensors, callables
    # TF1 itself checks only the accumulator (adagrad.py __init__); eps_ref also rejects a
    # negative learning rate, as for every spec.
    check_nonnegative(qualified, learning_rate=learning_rate)
    if initial_accumulator_value <= 0.0:
        raise ValueError(f"{qualified}: initial_accumulator_value must be positive: "
                         f"{initial_accumulator_value!r}")
    return dict(lr=float(learning_rate), lr_decay=0.0, eps=0.0, eps_placement="none",
                update_order="grad_lr_times_rsqrt", sqrt_method="correctly_rounded",
                rsqrt_method="eigen_rsqrtps_newton", accumulate="multiply_then_add",
                initial_accumulator_value=float(initial_accumulator_value),
                weight_decay=0.0, weight_decay_mode="none", direction="minimize")


register(Spec(
    name="tf.compat.v1.train.AdagradOptimizer", framework="tf1", version=VERSION,
    defaults={"learning_rate": REQUIRED, "initial_accumulator_value": 0.1,
              "use_locking": False, "name": "Adagrad"},
    rule=_adagrad_rule, bind=_bind_adagrad,
    reference=SOURCE + "tensorflow/python/training/adagrad.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 0.01},
        "learning_rate=1e-3": {"learning_rate": 1e-3},
        "initial_accumulator_value=1e-3": {"learning_rate": 0.01,
                                           "initial_accumulator_value": 1e-3},
        "initial_accumulator_value=1": {"learning_rate": 0.01, "initial_accumulator_value": 1.0},
    },
    doc="NO eps, G0 = 0.1 (must be > 0): G += g*g; p -= (g*lr) * rsqrt(G), rsqrt = the "
        "CPU's RSQRTPS estimate + one Newton step (Eigen, ApplyAdagrad in training_ops.cc)",
))
# --- end Adagrad family -----------------------------------------------------------------

# --- Adadelta family ---------------------------------------------------------
from eps_ref.rules.adadelta import adadelta as _adadelta_rule  # noqa: E402


def _bind_adadelta(*, learning_rate, rho, epsilon, use_locking, name):
    qualified = "tf.compat.v1.train.AdadeltaOptimizer"
    for keyword, value in (("learning_rate", learning_rate), ("rho", rho),
                           ("epsilon", epsilon)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # tensors, callables
    # TF1 checks none of them (adadelta.py); eps_ref rejects values that are no rates.
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"{qualified}: invalid rho {rho!r}: must be in [0, 1]")
    return dict(lr=float(learning_rate), rho=float(rho), eps=float(epsilon),
                eps_placement="inside_both_roots", weight_decay=0.0,
                weight_decay_form="none", maximize=False, arithmetic="tf1_kernel",
                sqrt_method="correctly_rounded", rsqrt_method="eigen_rsqrtps_newton")


register(Spec(
    name="tf.compat.v1.train.AdadeltaOptimizer", framework="tf1", version=VERSION,
    defaults={"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-8, "use_locking": False,
              "name": "Adadelta"},
    rule=_adadelta_rule, bind=_bind_adadelta,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "rho=0.5": {"rho": 0.5},
        "learning_rate=1.0": {"learning_rate": 1.0},
    },
    doc="eps INSIDE both roots (default 1e-8): v = v*rho + g^2*(1-rho), "
        "d = sqrt(u + eps) * rsqrt(v + eps) * g, p -= d*lr, u = u*rho + d^2*(1-rho); rsqrt = "
        "the CPU's RSQRTPS estimate + one Newton step (Eigen, ApplyAdadelta)",
))
# --- end Adadelta family -----------------------------------------------------

# --- Adamax family -----------------------------------------------------------
# (tf.compat.v1.train has no Adamax optimizer.)
# --- end Adamax family -------------------------------------------------------

# --- Ftrl family ----------------------------------------------------------------------
# --- end Ftrl family ------------------------------------------------------------------

# --- Proximal family ------------------------------------------------------------------
# --- end Proximal family --------------------------------------------------------------

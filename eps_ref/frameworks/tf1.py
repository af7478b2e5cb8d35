"""The ``tf.compat.v1.train`` dialect (TF1 optimizers), read from TensorFlow 2.21.0.


Keyword names and defaults are the framework's own.
"""

from eps_ref.spec import (Budget, Spec, check_beta, check_nonnegative, check_number,  # noqa: F401
                          register, unsupported)

VERSION = "2.21.0"
SOURCE = "https://github.com/tensorflow/tensorflow/blob/v2.21.0/"
INERT = frozenset({"name", "use_locking"})

# --- SGD family -------------------------------------------------------------------------
from eps_ref.rules.sgd import sgd as _sgd  # noqa: E402
from eps_ref.spec import REQUIRED  # noqa: E402


def _check_sgd_numbers(name, learning_rate, **others):
    """Python numbers only (a Tensor or a callable is not modelled); lr >= 0."""
    check_number(name, learning_rate=learning_rate, **others)
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
    check_number(qualified, learning_rate=learning_rate, beta1=beta1, beta2=beta2,
                 epsilon=epsilon)
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
    check_number(qualified, learning_rate=learning_rate, decay=decay, momentum=momentum,
                 epsilon=epsilon)
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
    check_number(qualified, learning_rate=learning_rate,
                 initial_accumulator_value=initial_accumulator_value)
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
    check_number(qualified, learning_rate=learning_rate, rho=rho, epsilon=epsilon)
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
from eps_ref.rules.ftrl import ftrl as _ftrl_rule  # noqa: E402
from eps_ref.spec import REQUIRED  # noqa: E402


def check_ftrl(qualified, *, learning_rate, learning_rate_power, initial_accumulator_value,
               l1_regularization_strength, l2_regularization_strength,
               l2_shrinkage_regularization_strength, beta):
    """FTRL's keyword checks, shared by every dialect (Python numbers only; the range
    checks every framework's ``__init__`` makes, plus lr >= 0)."""
    values = {"learning_rate": learning_rate, "learning_rate_power": learning_rate_power,
              "initial_accumulator_value": initial_accumulator_value,
              "l1_regularization_strength": l1_regularization_strength,
              "l2_regularization_strength": l2_regularization_strength,
              "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength,
              "beta": beta}
    check_number(qualified, **values)
    check_nonnegative(qualified, learning_rate=learning_rate)
    if learning_rate_power > 0.0:
        raise ValueError(f"{qualified}: learning_rate_power {learning_rate_power!r} needs to "
                         "be negative or zero")
    for keyword in ("initial_accumulator_value", "l1_regularization_strength",
                    "l2_regularization_strength", "l2_shrinkage_regularization_strength"):
        if values[keyword] < 0.0:
            raise ValueError(f"{qualified}: {keyword} {values[keyword]!r} needs to be "
                             "positive or zero")


def ftrl_kernel_kwargs(*, learning_rate, learning_rate_power, initial_accumulator_value,
                       l1_regularization_strength, l2_regularization_strength,
                       l2_shrinkage_regularization_strength, beta, beta_fold):
    """Rule keywords of TensorFlow's ``ApplyFtrl``/``ApplyFtrlV2`` kernels."""
    if learning_rate_power <= -2.0 and float(learning_rate_power).is_integer():
        # Eigen's unary pow takes repeated squaring for integer exponents 2..7: not modelled.
        raise unsupported("ApplyFtrl", "learning_rate_power", learning_rate_power)
    return dict(lr=float(learning_rate), lr_power=float(learning_rate_power),
                l1=float(l1_regularization_strength), l2=float(l2_regularization_strength),
                l2_shrinkage=float(l2_shrinkage_regularization_strength), beta=float(beta),
                beta_fold=beta_fold, power_form="sqrt_at_minus_half",
                pow_method="eigen_generic_pow", shrink_form="select_sign",
                grad_square="multiply",
                initial_accumulator_value=float(initial_accumulator_value),
                weight_decay=0.0, weight_decay_mode="none")


def _bind_ftrl(*, learning_rate, learning_rate_power, initial_accumulator_value,
               l1_regularization_strength, l2_regularization_strength, use_locking, name,
               accum_name, linear_name, l2_shrinkage_regularization_strength, beta):
    qualified = "tf.compat.v1.train.FtrlOptimizer"
    beta = 0.0 if beta is None else beta
    kwargs = dict(learning_rate=learning_rate, learning_rate_power=learning_rate_power,
                  initial_accumulator_value=initial_accumulator_value,
                  l1_regularization_strength=l1_regularization_strength,
                  l2_regularization_strength=l2_regularization_strength,
                  l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
                  beta=beta)
    check_ftrl(qualified, **kwargs)
    return ftrl_kernel_kwargs(**kwargs, beta_fold="tf1")


FTRL_VARIANTS = {
    "l1=0.01": {"l1_regularization_strength": 0.01},
    "l2=0.1": {"l2_regularization_strength": 0.1},
    "l2_shrinkage=0.1": {"l2_shrinkage_regularization_strength": 0.1},
    "beta=0.5": {"beta": 0.5},
    "learning_rate_power=-0.7": {"learning_rate_power": -0.7},
    "learning_rate_power=0": {"learning_rate_power": 0.0},
    "initial_accumulator_value=0": {"initial_accumulator_value": 0.0},
    "initial_accumulator_value=1": {"initial_accumulator_value": 1.0},
    "l1,l2,shrinkage,beta": {"l1_regularization_strength": 0.001,
                             "l2_regularization_strength": 0.01,
                             "l2_shrinkage_regularization_strength": 0.01, "beta": 0.1},
}
"""The FTRL keyword sets every dialect checks (added to its own ``defaults``)."""

register(Spec(
    name="tf.compat.v1.train.FtrlOptimizer", framework="tf1", version=VERSION,
    defaults={"learning_rate": REQUIRED, "learning_rate_power": -0.5,
              "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.0,
              "l2_regularization_strength": 0.0, "use_locking": False, "name": "Ftrl",
              "accum_name": None, "linear_name": None,
              "l2_shrinkage_regularization_strength": 0.0, "beta": None},
    rule=_ftrl_rule, bind=_bind_ftrl,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc",
    inert=INERT | {"accum_name", "linear_name"},
    variants={"defaults": {"learning_rate": 0.01},
              **{k: {"learning_rate": 0.01, **v} for k, v in FTRL_VARIANTS.items()}},
    doc="NO eps, n0 = 0.1: n' = n + g^2, z += g - (sqrt(n') - sqrt(n))/lr * w, "
        "w = |z| > l1 ? (l1*sign(z) - z) / (sqrt(n')/lr + 2*l2) : 0 (ApplyFtrl; pow(n, -p) "
        "when learning_rate_power != -0.5; beta folded into l2 as beta/(2*lr))",
))
# --- end Ftrl family ------------------------------------------------------------------

# --- Proximal family ------------------------------------------------------------------
from eps_ref.rules.proximal import adagrad_da as _adagrad_da_rule  # noqa: E402
from eps_ref.rules.proximal import proximal_adagrad as _proximal_adagrad_rule  # noqa: E402
from eps_ref.rules.proximal import (  # noqa: E402
    proximal_gradient_descent as _proximal_gd_rule)
from eps_ref.spec import REQUIRED  # noqa: E402


def _check_proximal(qualified, *, learning_rate, l1, l2, **others):
    """Python numbers only; lr, l1 and l2 non-negative (TF1 checks none of them; eps_ref
    rejects values that are no rates or strengths)."""
    values = {"learning_rate": learning_rate, "l1_regularization_strength": l1,
              "l2_regularization_strength": l2, **others}
    check_number(qualified, **values)
    check_nonnegative(qualified, learning_rate=learning_rate, l1_regularization_strength=l1,
                      l2_regularization_strength=l2)


def _bind_proximal_gd(*, learning_rate, l1_regularization_strength,
                      l2_regularization_strength, use_locking, name):
    _check_proximal("tf.compat.v1.train.ProximalGradientDescentOptimizer",
                    learning_rate=learning_rate, l1=l1_regularization_strength,
                    l2=l2_regularization_strength)
    return dict(lr=float(learning_rate), l1=float(l1_regularization_strength),
                l2=float(l2_regularization_strength))


def _bind_proximal_adagrad(*, learning_rate, initial_accumulator_value,
                           l1_regularization_strength, l2_regularization_strength,
                           use_locking, name):
    qualified = "tf.compat.v1.train.ProximalAdagradOptimizer"
    _check_proximal(qualified, learning_rate=learning_rate, l1=l1_regularization_strength,
                    l2=l2_regularization_strength,
                    initial_accumulator_value=initial_accumulator_value)
    if initial_accumulator_value <= 0.0:
        raise ValueError(f"{qualified}: initial_accumulator_value must be positive: "
                         f"{initial_accumulator_value!r}")
    return dict(lr=float(learning_rate), l1=float(l1_regularization_strength),
                l2=float(l2_regularization_strength),
                initial_accumulator_value=float(initial_accumulator_value),
                rsqrt_method="eigen_rsqrtps_newton")


def _bind_adagrad_da(*, learning_rate, global_step, initial_gradient_squared_accumulator_value,
                     l1_regularization_strength, l2_regularization_strength, use_locking,
                     name):
    qualified = "tf.compat.v1.train.AdagradDAOptimizer"
    iv = initial_gradient_squared_accumulator_value
    _check_proximal(qualified, learning_rate=learning_rate, l1=l1_regularization_strength,
                    l2=l2_regularization_strength,
                    initial_gradient_squared_accumulator_value=iv)
    if not isinstance(global_step, int) or isinstance(global_step, bool) or global_step < 0:
        # The framework takes an int64 step Tensor (Variable); eps_ref takes its initial
        # value and counts one per step, as apply_gradients(..., global_step=...) does.
        raise unsupported(qualified, "global_step", global_step)
    if iv <= 0.0:
        raise ValueError(f"{qualified}: initial_gradient_squared_accumulator_value must be "
                         f"positive: {iv!r}")
    return dict(lr=float(learning_rate), l1=float(l1_regularization_strength),
                l2=float(l2_regularization_strength), initial_global_step=int(global_step),
                initial_gradient_squared_accumulator_value=float(iv))


register(Spec(
    name="tf.compat.v1.train.ProximalGradientDescentOptimizer", framework="tf1",
    version=VERSION,
    defaults={"learning_rate": REQUIRED, "l1_regularization_strength": 0.0,
              "l2_regularization_strength": 0.0, "use_locking": False,
              "name": "ProximalGradientDescent"},
    rule=_proximal_gd_rule, bind=_bind_proximal_gd,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc", inert=INERT,
    variants={
        "defaults": {"learning_rate": 0.01},
        "l1=0.01": {"learning_rate": 0.01, "l1_regularization_strength": 0.01},
        "l2=0.1": {"learning_rate": 0.01, "l2_regularization_strength": 0.1},
        "l1=0.01,l2=0.1": {"learning_rate": 0.01, "l1_regularization_strength": 0.01,
                           "l2_regularization_strength": 0.1},
    },
    doc="no eps; FOBOS (ApplyProximalGradientDescent): v = w - g*lr, "
        "w = sign(v)*max(|v| - lr*l1, 0) / (1 + l2*lr)",
))

register(Spec(
    name="tf.compat.v1.train.ProximalAdagradOptimizer", framework="tf1", version=VERSION,
    defaults={"learning_rate": REQUIRED, "initial_accumulator_value": 0.1,
              "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
              "use_locking": False, "name": "ProximalAdagrad"},
    rule=_proximal_adagrad_rule, bind=_bind_proximal_adagrad,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc", inert=INERT,
    variants={
        "defaults": {"learning_rate": 0.01},
        "l1=0.01": {"learning_rate": 0.01, "l1_regularization_strength": 0.01},
        "l2=0.1": {"learning_rate": 0.01, "l2_regularization_strength": 0.1},
        "l1=0.01,l2=0.1": {"learning_rate": 0.01, "l1_regularization_strength": 0.01,
                           "l2_regularization_strength": 0.1},
        "initial_accumulator_value=1e-3": {"learning_rate": 0.01,
                                           "initial_accumulator_value": 1e-3},
    },
    doc="NO eps, G0 = 0.1 (> 0): G += g*g, a = lr*rsqrt(G) (RSQRTPS + Newton, Eigen), "
        "v = w - g*a, w = sign(v)*max(|v| - a*l1, 0) / (1 + l2*a) (ApplyProximalAdagrad)",
))

register(Spec(
    name="tf.compat.v1.train.AdagradDAOptimizer", framework="tf1", version=VERSION,
    defaults={"learning_rate": REQUIRED, "global_step": REQUIRED,
              "initial_gradient_squared_accumulator_value": 0.1,
              "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
              "use_locking": False, "name": "AdagradDA"},
    rule=_adagrad_da_rule, bind=_bind_adagrad_da,
    reference=SOURCE + "tensorflow/core/kernels/training_ops.cc", inert=INERT,
    variants={
        "defaults": {"learning_rate": 0.01, "global_step": 0},
        "l1=0.01": {"learning_rate": 0.01, "global_step": 0,
                    "l1_regularization_strength": 0.01},
        "l2=0.1": {"learning_rate": 0.01, "global_step": 0, "l2_regularization_strength": 0.1},
        "l1=0.01,l2=0.1": {"learning_rate": 0.01, "global_step": 0,
                           "l1_regularization_strength": 0.01,
                           "l2_regularization_strength": 0.1},
        "initial_gradient_squared_accumulator_value=1": {
            "learning_rate": 0.01, "global_step": 0,
            "initial_gradient_squared_accumulator_value": 1.0},
        "global_step=100": {"learning_rate": 0.01, "global_step": 100,
                            "l1_regularization_strength": 0.001},
    },
    doc="NO eps, G0 = 0.1: S += g, G += g*g, T = global_step + 1 (counted per apply), "
        "w = -lr*sign(S)*max(|S| - T*l1, 0) / (l2*(T*lr) + sqrt(G)) (ApplyAdagradDA); "
        "global_step is the int64 step variable's initial value",
))
# --- end Proximal family --------------------------------------------------------------

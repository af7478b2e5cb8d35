"""The ``keras.optimizers`` dialect (Keras 3), read from Keras 3.15.1.


Keyword names and defaults are the framework's own.
"""

from eps_ref.spec import Budget, Spec, check_beta, check_nonnegative, register, unsupported  # noqa: F401

VERSION = "3.15.1"
SOURCE = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/optimizers/"
INERT = frozenset({"name"})

# Keywords every Keras 3 optimizer takes from ``BaseOptimizer.__init__``.
BASE_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def base_weight_decay(name, *, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
                      ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                      gradient_accumulation_steps) -> float:
    """Check the base-optimizer keywords and return the decoupled weight decay (0 for None).

    Keras applies it before the update step, as ``decoupled_lr_scaled_keras``. Clipping,
    EMA, loss scaling and gradient accumulation change the update and are not modelled yet.
    """
    for keyword, value, default in (
        ("clipnorm", clipnorm, None), ("clipvalue", clipvalue, None),
        ("global_clipnorm", global_clipnorm, None), ("use_ema", use_ema, False),
        ("ema_overwrite_frequency", ema_overwrite_frequency, None),
        ("loss_scale_factor", loss_scale_factor, None),
        ("gradient_accumulation_steps", gradient_accumulation_steps, None),
    ):
        if value != default:
            raise unsupported(name, keyword, value)
    check_beta(name, ema_momentum=ema_momentum)
    if weight_decay is None:
        return 0.0
    check_nonnegative(name, weight_decay=weight_decay)
    return float(weight_decay)

# --- SGD family -------------------------------------------------------------------------
from eps_ref.rules.sgd import sgd as _sgd  # noqa: E402


def _bind_sgd(*, learning_rate, momentum, nesterov, name, **base):
    spec_name = "keras.optimizers.SGD"
    weight_decay = base_weight_decay(spec_name, **base)
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool):
        raise unsupported(spec_name, "learning_rate", learning_rate)
    check_nonnegative(spec_name, learning_rate=learning_rate)
    if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
        raise ValueError("`momentum` must be a float between [0, 1].")
    with_momentum = momentum != 0
    return {
        "lr": float(learning_rate),
        "momentum": momentum,
        "weight_decay": weight_decay,
        "momentum_form": "keras" if with_momentum else "none",
        "lookahead": "nesterov" if with_momentum and nesterov else "none",
        "dampening": 0.0,
        "weight_decay_form": "decoupled_keras",
        "multiply_add": "separate",
        "objective": "minimize",
    }


def _sgd_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=torch``, from the backend-agnostic ones.

    Keras 3's torch backend swaps in ``backend/torch/optimizers/torch_sgd.py``, whose
    ``_parallel_update_step`` uses ``torch._foreach_add_(..., alpha=...)`` (one fused
    multiply-add per element on CPU) and steps Nesterov as ``(p - lr*g) + mu*v``; its
    ``TorchOptimizer._apply_weight_decay`` multiplies by ``1 - wd*lr`` in float32. With
    these keywords the rule is bit-exact against keras/torch (measured: 0 ULP, every
    variant).
    """
    out = dict(rule_kwargs)
    if out["momentum_form"] == "keras":
        out["momentum_form"] = "keras_torch_backend"
    out["multiply_add"] = "fused"
    out["weight_decay_form"] = "decoupled_keras_torch_backend"
    return out


register(Spec(
    name="keras.optimizers.SGD",
    framework="keras",
    version=VERSION,
    defaults={"learning_rate": 0.01, "momentum": 0.0, "nesterov": False,
              **BASE_DEFAULTS, "name": None},
    rule=_sgd,
    bind=_bind_sgd,
    reference=SOURCE + "sgd.py",
    inert=INERT,
    variants={
        "defaults": {},
        "learning_rate 1e-3": {"learning_rate": 1e-3},
        "momentum 0.9": {"momentum": 0.9},
        "nesterov": {"momentum": 0.9, "nesterov": True},
        "weight decay 4e-3": {"weight_decay": 4e-3},
        "momentum, weight decay": {"momentum": 0.9, "weight_decay": 4e-3},
        "nesterov, weight decay": {"momentum": 0.9, "nesterov": True, "weight_decay": 4e-3},
    },
    backend_semantics={"keras/torch": _sgd_torch_backend_semantics},
    doc="no eps; v = mu*v - lr*g (lr inside the velocity), p += v "
        "(Nesterov: p += mu*v - lr*g); weight decay p -= p*wd*lr first",
))
# --- end SGD family ---------------------------------------------------------------------

# --- Adam family ------------------------------------------------------------------------
from eps_ref.rules.adam import adam as _adam_rule  # noqa: E402


def _adam_binder(qualified):
    def bind(*, learning_rate, beta_1, beta_2, epsilon, amsgrad, name, **base):
        for keyword, value in (("learning_rate", learning_rate), ("beta_1", beta_1),
                               ("beta_2", beta_2), ("epsilon", epsilon)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise unsupported(qualified, keyword, value)  # schedules, callables, tensors
        check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
        check_beta(qualified, beta_1=beta_1, beta_2=beta_2)
        if qualified.endswith("AdamW") and base["weight_decay"] is None:
            raise ValueError(f"{qualified}: Argument `weight_decay` must be a float. "
                             "Received: weight_decay=None")
        weight_decay = base_weight_decay(qualified, **base)
        return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                    eps=float(epsilon), eps_root=0.0, weight_decay=weight_decay,
                    weight_decay_mode="decoupled_keras", eps_placement="eps_hat",
                    amsgrad="max_of_raw" if amsgrad else "none", moment_update="difference",
                    one_minus_beta="python_float", bias_correction="pow_param_dtype",
                    corrected_moments="both", momentum_estimate="bias_corrected",
                    objective="minimize", first_moment_dtype=None,
                    sqrt_method="correctly_rounded", correction_op="divide")
    return bind


_ADAM_DOC = ("eps-hat on the RAW root (before Section 2.1 of the paper): "
             "alpha = lr*sqrt(1-b2^t)/(1-b1^t) in float32 (ops.power), m += (g-m)*(1-b1), "
             "v += (g^2-v)*(1-b2), p -= m*alpha / (sqrt(v) + eps)")


def _adam_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=torch``, from the backend-agnostic ones.

    Keras 3's torch backend swaps in ``backend/torch/optimizers/torch_adam.py``, whose
    ``_parallel_update_step`` scales the moments with ``torch._foreach_mul_`` and adds
    ``(1-b)*g`` with ``torch._foreach_add_(..., alpha=1-b)`` (one FMA per element on CPU);
    ``TorchOptimizer._apply_weight_decay`` multiplies by ``1 - wd*lr`` in float32, and
    ``ops.sqrt`` is ``torch.sqrt``, MKL's on CPU. With these keywords the rule is bit-exact
    against keras/torch (measured: 0 ULP, every variant; the update_step form misses by up
    to 67536 ULP over the 1000-step stream).
    """
    out = dict(rule_kwargs)
    out["moment_update"] = "scale_add_fma"
    out["sqrt_method"] = "mkl_goldschmidt_rsqrtps"
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


_POWF_REASON = (
    "ops.power(beta_2, t) is glibc's powf under TensorFlow and XLA, which is not correctly "
    "rounded: 0.9999f**918 comes back 1 ULP off, 1 - beta_2**t and alpha change, and the "
    "parameters drift by up to 32 ULP from step 918; the reference rounds the power "
    "correctly (rules/adam.py rounded_power)")

register(Spec(
    name="keras.optimizers.Adam", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "amsgrad": False, **BASE_DEFAULTS, "name": None},
    rule=_adam_rule, bind=_adam_binder("keras.optimizers.Adam"),
    reference=SOURCE + "adam.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "amsgrad": {"amsgrad": True},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "beta_1=0.4,beta_2=0.99": {"beta_1": 0.4, "beta_2": 0.99},
        "learning_rate=1e-2,amsgrad": {"learning_rate": 1e-2, "amsgrad": True},
        "beta_2=0.9999": {"beta_2": 0.9999},
    },
    backend_semantics={"keras/torch": _adam_torch_backend_semantics},
    # Measured over the 1000-step conformance stream; 0 with glibc's powf in the reference.
    budgets={f"keras/{backend}:beta_2=0.9999": Budget(ulp=32, reason=_POWF_REASON)
             for backend in ("tensorflow", "jax")},
    doc=_ADAM_DOC,
))

register(Spec(
    name="keras.optimizers.AdamW", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
              "epsilon": 1e-7, "amsgrad": False,
              **{k: v for k, v in BASE_DEFAULTS.items() if k != "weight_decay"}, "name": None},
    rule=_adam_rule, bind=_adam_binder("keras.optimizers.AdamW"),
    reference=SOURCE + "adamw.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "amsgrad": {"amsgrad": True},
        "weight_decay=0.1": {"weight_decay": 0.1},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    backend_semantics={"keras/torch": _adam_torch_backend_semantics},
    doc=_ADAM_DOC + "; decoupled weight decay p -= p*wd*lr before the step (default 0.004)",
))
# --- end Adam family --------------------------------------------------------------------

# --- RMSProp family ---------------------------------------------------------------------
from eps_ref.rules.rmsprop import rmsprop as _rmsprop_rule  # noqa: E402


def _bind_rmsprop(*, learning_rate, rho, momentum, epsilon, centered, name, **base):
    qualified = "keras.optimizers.RMSprop"
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool):
        raise unsupported(qualified, "learning_rate", learning_rate)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), decay=float(rho), eps=float(epsilon),
                eps_placement="inside_sqrt", initial_square_avg=0.0,
                centered=bool(centered), momentum=float(momentum),
                momentum_form="lr_inside_buffer" if momentum > 0 else "none",
                bias_correction="none", weight_decay=weight_decay,
                weight_decay_form="decoupled_before_step", maximize=False,
                arithmetic="keras", sqrt_method="correctly_rounded",
                rsqrt_method="one_over_sqrt")


def _rmsprop_torch_backend_semantics(rule_kwargs: dict) -> dict:
    r"""The rule keywords under ``KERAS_BACKEND=torch``, from the backend-agnostic ones.

    Keras's torch backend swaps in ``backend/torch/optimizers/torch_rmsprop.py``, built on
    ``torch._foreach_*`` kernels: fused multiply-adds for the averages, the centered
    denominator :math:`\sqrt{(v + \epsilon) - m^2}`, weight decay :math:`\theta(1 -
    \lambda\eta)` in float32 (``arithmetic="keras_torch_foreach"``), and the root by
    ``torch._foreach_sqrt``, MKL's ``vmsSqrt`` on CPU (:mod:`eps_ref.rules._roots`). With
    these keywords the rule is bit-exact against keras/torch (measured: 0 ULP, every
    variant).
    """
    return {**rule_kwargs, "arithmetic": "keras_torch_foreach",
            "sqrt_method": "mkl_goldschmidt_rsqrtps"}


register(Spec(
    name="keras.optimizers.RMSprop", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
              "centered": False, **BASE_DEFAULTS, "name": None},
    rule=_rmsprop_rule, bind=_bind_rmsprop, reference=SOURCE + "rmsprop.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "centered": {"centered": True},
        "momentum=0.9": {"momentum": 0.9},
        "centered+momentum=0.9": {"centered": True, "momentum": 0.9},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "learning_rate=1e-2,rho=0.99": {"learning_rate": 1e-2, "rho": 0.99},
    },
    backend_semantics={"keras/torch": _rmsprop_torch_backend_semantics},
    doc="eps INSIDE the root, v0 = 0: v = rho*v + (1-rho)*g^2, "
        "inc = lr*g / sqrt(v + eps); momentum buffers inc (lr inside): m = mu*m + inc, p -= m",
))
# --- end RMSProp family -----------------------------------------------------------------

# --- Adagrad family ---------------------------------------------------------------------
from eps_ref.rules.adagrad import adagrad as _adagrad_rule  # noqa: E402


def _bind_adagrad(*, learning_rate, initial_accumulator_value, epsilon, name, **base):
    qualified = "keras.optimizers.Adagrad"
    for keyword, value in (("learning_rate", learning_rate), ("epsilon", epsilon),
                           ("initial_accumulator_value", initial_accumulator_value)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # schedules, callables, tensors
    # Keras checks none of them (adagrad.py); eps_ref rejects negative values, as its
    # docstring asks ("Must be non-negative").
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon,
                      initial_accumulator_value=initial_accumulator_value)
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), lr_decay=0.0, eps=float(epsilon),
                eps_placement="inside_sqrt", update_order="lr_grad_over_root",
                sqrt_method="correctly_rounded", rsqrt_method="one_over_sqrt",
                accumulate="multiply_then_add",
                initial_accumulator_value=float(initial_accumulator_value),
                weight_decay=weight_decay,
                weight_decay_mode="decoupled_keras" if weight_decay else "none",
                direction="minimize")


def _adagrad_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=torch``, from the backend-agnostic ones.

    Keras' torch backend swaps in ``backend/torch/optimizers/torch_adagrad.py``, whose
    ``_parallel_update_step`` takes the root with ``torch._foreach_sqrt``: on CPU that is
    MKL's ``vmsSqrt``, not correctly rounded (:mod:`eps_ref.rules._roots`); and
    ``TorchOptimizer._apply_weight_decay`` multiplies by ``1 - wd*lr`` in float32. With
    these keywords the rule is bit-exact against keras/torch (measured: 0 ULP, every
    variant).
    """
    out = dict(rule_kwargs)
    out["sqrt_method"] = "mkl_goldschmidt_rsqrtps"
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


register(Spec(
    name="keras.optimizers.Adagrad", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
              **BASE_DEFAULTS, "name": None},
    rule=_adagrad_rule, bind=_bind_adagrad, reference=SOURCE + "adagrad.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "initial_accumulator_value=0": {"initial_accumulator_value": 0.0},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
        "weight_decay=0.01": {"weight_decay": 0.01},
    },
    backend_semantics={"keras/torch": _adagrad_torch_backend_semantics},
    doc="eps INSIDE the root, G0 = 0.1: G += g*g; p -= (lr*g) / sqrt(G + eps)",
))
# --- end Adagrad family -----------------------------------------------------------------

# --- Adadelta family ---------------------------------------------------------
from eps_ref.rules.adadelta import adadelta as _adadelta_rule  # noqa: E402


def _bind_adadelta(*, learning_rate, rho, epsilon, name, **base):
    qualified = "keras.optimizers.Adadelta"
    for keyword, value in (("learning_rate", learning_rate), ("rho", rho),
                           ("epsilon", epsilon)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # schedules, callables, tensors
    # Keras checks none of them (adadelta.py); eps_ref rejects values that are no rates.
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"{qualified}: invalid rho {rho!r}: must be in [0, 1]")
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), rho=float(rho), eps=float(epsilon),
                eps_placement="inside_both_roots", weight_decay=weight_decay,
                weight_decay_form="decoupled_before_step" if weight_decay else "none",
                maximize=False, arithmetic="keras", sqrt_method="correctly_rounded",
                rsqrt_method="one_over_sqrt")


def _adadelta_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=torch``: Keras swaps in
    ``backend/torch/optimizers/torch_adadelta.py``, whose ``torch._foreach_add_(...,
    alpha=...)`` calls are fused multiply-adds on CPU and whose roots are
    ``torch._foreach_sqrt`` (MKL's ``vmsSqrt``); ``TorchOptimizer._apply_weight_decay``
    multiplies by ``1 - wd*lr`` in float32."""
    return {**rule_kwargs, "arithmetic": "keras_torch_foreach",
            "sqrt_method": "mkl_goldschmidt_rsqrtps"}


register(Spec(
    name="keras.optimizers.Adadelta", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7, **BASE_DEFAULTS,
              "name": None},
    rule=_adadelta_rule, bind=_bind_adadelta, reference=SOURCE + "adadelta.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "rho=0.5": {"rho": 0.5},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "learning_rate=1.0": {"learning_rate": 1.0},
    },
    backend_semantics={"keras/torch": _adadelta_torch_backend_semantics},
    doc="eps INSIDE both roots: v = rho*v + (1-rho)*g^2, "
        "d = -(sqrt(u + eps)*g)/sqrt(v + eps), u = rho*u + (1-rho)*d^2, p += lr*d",
))
# --- end Adadelta family -----------------------------------------------------

# --- Adamax family -----------------------------------------------------------
from eps_ref.rules.adamax import adamax as _adamax_rule  # noqa: E402


def _bind_adamax(*, learning_rate, beta_1, beta_2, epsilon, name, **base):
    qualified = "keras.optimizers.Adamax"
    for keyword, value in (("learning_rate", learning_rate), ("beta_1", beta_1),
                           ("beta_2", beta_2), ("epsilon", epsilon)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # schedules, callables, tensors
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta_1=beta_1, beta_2=beta_2)
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                eps=float(epsilon), eps_placement="added_to_denominator",
                weight_decay=weight_decay,
                weight_decay_form="decoupled_before_step" if weight_decay else "none",
                maximize=False, arithmetic="keras")


def _adamax_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=torch``: Keras swaps in
    ``backend/torch/optimizers/torch_adamax.py`` (``_foreach_add_(m, g, alpha=1-b1)`` is an
    FMA on CPU, the denominator is ``(u + eps) * (1 - b1^t)``), and
    ``TorchOptimizer._apply_weight_decay`` multiplies by ``1 - wd*lr`` in float32."""
    return {**rule_kwargs, "arithmetic": "keras_torch_foreach"}


register(Spec(
    name="keras.optimizers.Adamax", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              **BASE_DEFAULTS, "name": None},
    rule=_adamax_rule, bind=_bind_adamax, reference=SOURCE + "adamax.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "beta_1=0.4,beta_2=0.99": {"beta_1": 0.4, "beta_2": 0.99},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    backend_semantics={"keras/torch": _adamax_torch_backend_semantics},
    doc="eps ADDED TO THE DENOMINATOR, not in the max: m += (g-m)*(1-b1), "
        "u = max(b2*u, |g|), p -= (lr*m) / ((1-b1^t)*(u + eps)), b1^t a float32 power",
))
# --- end Adamax family -------------------------------------------------------

# --- NAdam family ------------------------------------------------------------
from eps_ref.rules.nadam import nadam as _nadam_rule  # noqa: E402


def _bind_nadam(*, learning_rate, beta_1, beta_2, epsilon, name, **base):
    qualified = "keras.optimizers.Nadam"
    for keyword, value in (("learning_rate", learning_rate), ("beta_1", beta_1),
                           ("beta_2", beta_2), ("epsilon", epsilon)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # schedules, callables, tensors
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta_1=beta_1, beta_2=beta_2)
    weight_decay = base_weight_decay(qualified, **base)
    # Keras' schedule is 0.96^t: torch's momentum_decay psi fixed at 1.
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                eps=float(epsilon), momentum_decay=1.0, weight_decay=weight_decay,
                weight_decay_mode="decoupled_keras", schedule_arithmetic="param_dtype",
                mu_product_update="times_beta1_then_factor", moment_update="difference",
                one_minus_beta="param_dtype", step_form="keras_m_hat", objective="minimize",
                sqrt_method="correctly_rounded", scalar_division="divide")


def _nadam_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=torch``: ``backend/torch/optimizers/
    torch_nadam.py`` replaces the step (and, first in the MRO, ``_backend_update_step``):
    the product is ``u_product * u_t``, the moments ``_foreach_mul_`` then
    ``_foreach_add_(alpha=1-b)`` (one FMA, ``1 - b`` in Python float64), the root
    ``torch.sqrt`` (MKL), the weight decay ``p * (1 - wd*lr)`` in float32."""
    out = dict(rule_kwargs)
    out.update(mu_product_update="times_mu", moment_update="scale_add_fma",
               one_minus_beta="python_float", sqrt_method="mkl_goldschmidt_rsqrtps")
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


def _nadam_jax_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=jax``: each eager ``ops.divide(x, scalar)``
    is compiled by XLA into ``x * (1/scalar)`` (m_hat's two terms and v_hat)."""
    return dict(rule_kwargs, scalar_division="multiply_by_reciprocal")


register(Spec(
    name="keras.optimizers.Nadam", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              **BASE_DEFAULTS, "name": None},
    rule=_nadam_rule, bind=_bind_nadam, reference=SOURCE + "nadam.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "beta_1=0.4,beta_2=0.99": {"beta_1": 0.4, "beta_2": 0.99},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    backend_semantics={"keras/torch": _nadam_torch_backend_semantics,
                       "keras/jax": _nadam_jax_backend_semantics},
    doc="eps OUTSIDE the bias-corrected root: u_t = b1*(1 - 0.5*0.96^t) (no momentum_decay), "
        "m_hat = u_{t+1}*m/(1-prod*u_{t+1}) + (1-u_t)*g/(1-prod), p -= m_hat*lr / "
        "(sqrt(v/(1-b2^t)) + eps), every scalar in float32",
))
# --- end NAdam family --------------------------------------------------------


# --- Lion family -------------------------------------------------------------
from eps_ref.rules.lion import lion as _lion_rule  # noqa: E402


def _bind_lion(*, learning_rate, beta_1, beta_2, name, **base):
    qualified = "keras.optimizers.Lion"
    for keyword, value in (("learning_rate", learning_rate), ("beta_1", beta_1),
                           ("beta_2", beta_2)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # schedules, callables, tensors
    check_nonnegative(qualified, learning_rate=learning_rate)
    if beta_1 <= 0 or beta_1 > 1:
        raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                         f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")
    if beta_1 == 1:
        # Keras accepts 1 (the step then takes the sign of the old momentum alone);
        # eps_ref rejects it, as every beta_1 outside [0, 1) in the other dialects.
        raise ValueError(f"{qualified}: beta_1=1 is not supported by eps_ref (the gradient "
                         "would never enter the step direction); use beta_1 < 1")
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                weight_decay=weight_decay,
                weight_decay_mode="decoupled_keras" if weight_decay else "none",
                arithmetic="keras")


def _lion_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """The rule keywords under ``KERAS_BACKEND=torch``: ``backend/torch/optimizers/
    torch_lion.py`` interpolates with ``torch._foreach_add_(m*beta, g, alpha=1-beta)`` (one
    FMA, ``1-beta`` in float64) and decays with ``1 - wd*lr`` in float32."""
    out = {**rule_kwargs, "arithmetic": "keras_torch_foreach"}
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


register(Spec(
    name="keras.optimizers.Lion", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99, **BASE_DEFAULTS,
              "name": None},
    rule=_lion_rule, bind=_bind_lion, reference=SOURCE + "lion.py", inert=INERT,
    variants={
        "defaults": {},
        "beta_1=0.5,beta_2=0.9": {"beta_1": 0.5, "beta_2": 0.9},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "learning_rate=1e-2,weight_decay=0.1": {"learning_rate": 1e-2, "weight_decay": 0.1},
    },
    backend_semantics={"keras/torch": _lion_torch_backend_semantics},
    doc="no eps (sign(0) = 0): p -= lr*sign(m*b1 + g*(1-b1)), m = m*b2 + g*(1-b2), "
        "1-b in float32; weight decay p -= p*wd*lr before the step",
))
# --- end Lion family ---------------------------------------------------------



# --- Adafactor family -----------------------------------------------------------------
# --- end Adafactor family -------------------------------------------------------------

# --- Muon family ----------------------------------------------------------------------
# --- end Muon family ------------------------------------------------------------------

# --- Ftrl family ----------------------------------------------------------------------
# --- end Ftrl family ------------------------------------------------------------------

# --- Lamb family ----------------------------------------------------------------------
# --- end Lamb family ------------------------------------------------------------------

# --- ScheduleFree family --------------------------------------------------------------
# --- end ScheduleFree family ----------------------------------------------------------

# --- Normalization layers ---------------------------------------------------------------
# Read from keras/src/layers/normalization/*.py, keras/src/ops/nn.py and the backends'
# nn.moments / nn.batch_normalization. The spec follows the TensorFlow backend; the torch
# backend's different kernels are declared with backend_semantics (JAX's equal TF's).
from eps_ref.layer import LayerBudget as _LB  # noqa: E402
from eps_ref.layer import backend_semantics as _backend_semantics  # noqa: E402
from eps_ref.norms import BATCH_NORM as _BATCH_NORM  # noqa: E402
from eps_ref.norms import FEATURE_NORM as _FEATURE_NORM  # noqa: E402
from eps_ref.norms import GROUP_NORM as _GROUP_NORM  # noqa: E402

_LAYERS = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/normalization/"
_LAYER_INERT = frozenset({"beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint"})
_INITIALIZERS = {"zeros": 0.0, "ones": 1.0}
_TF = ("tf.nn.moments' reduce_mean (Eigen's vectorized tree reduction, SIMD-width dependent) "
       "differs from the reference's rounded float64 sum by a few ULP")
_JAX = ("jnp.var runs as one jitted XLA:CPU computation whose fused sum of squares LLVM "
        "vectorizes with reassociation (e.g. 4 lanes over an outer axis for the BatchNorm "
        "shape; jnp.mean alone is reproduced by reduction='xla_cpu', see flax), and "
        "lax.rsqrt is the x86 rsqrtss estimate plus one Newton step (up to 3 ULP); the "
        "reference rounds the float64 sum, a few ULP apart")
_TORCH = "torch.mean's cascade sum (cpu/SumKernel.cpp) order differs from the reference's"
_UNITS = ("; outputs budgeted in scale-aware units (eps_ref.layer.LayerBudget): raw ULP "
          "reach ~1e9 only where an output is rounding noise around 0")
_STATS = ("; running mean/variance: a few ULP of the batch mean and variance, carried "
          "into the moving averages (plain ULP, measured per variant)" + _UNITS)
_RENORM = ("; renorm: the batch mean's few ULP also enter renorm_mean, which d = (mean - "
           "renorm_mean)/renorm_stddev carries into later outputs: after the mean-1e4 and "
           "mean-300 batches renorm_mean is large, its ULP scaled by gamma/renorm_stddev "
           "exceed the current batch's unit (up to 8.5 units at renorm_momentum 0.99, 29.6 "
           "at 0.9, on the batch of one and the two batches after the mean-300 one; clipping "
           "d to 5 keeps it under 1.5 units, the rest is the inference call)")
# The torch backend is reproduced bit for bit: torch.mean's cascade sum (E[x^2] - E[x]^2,
# unclamped, NaN where the cancellation goes negative, on both sides) and layer_norm's
# RowwiseMoments (eps_ref.norms._torch_cpu); no budget.


def _initial_value(name, keyword, value):
    if isinstance(value, str) and value in _INITIALIZERS:
        return _INITIALIZERS[value]
    raise unsupported(name, keyword, value)


def _axes_tuple(axis):
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _bn_bind(axis, momentum, epsilon, center, scale, beta_initializer, gamma_initializer,
             moving_mean_initializer, moving_variance_initializer, beta_regularizer,
             gamma_regularizer, beta_constraint, gamma_constraint, renorm, renorm_clipping,
             renorm_momentum, synchronized):
    name = "keras.layers.BatchNormalization"
    if synchronized:
        raise unsupported(name, "synchronized", synchronized)
    check_nonnegative(name, epsilon=epsilon)
    clip = {}
    if renorm:  # validated as BatchNormalization.__init__ does; ignored without renorm
        clip = dict(renorm_clipping or {})
        keys = ("rmax", "rmin", "dmax")
        if set(clip) - set(keys):
            raise ValueError(f"{name}: invalid keys for renorm_clipping: {clip}; supported: "
                             f"{list(keys)}")
        if clip.get("rmax") is not None and clip.get("rmin") is not None \
                and clip["rmax"] < clip["rmin"]:
            raise ValueError(f"{name}: rmax should be greater than rmin in renorm_clipping, "
                             f"got {clip}")
        if clip.get("dmax") is not None and clip["dmax"] < 0:
            raise ValueError(f"{name}: dmax should be non-negative in renorm_clipping, "
                             f"got {clip}")
    return dict(
        renorm="keras" if renorm else "none", renorm_momentum=float(renorm_momentum),
        renorm_rmin=clip.get("rmin"), renorm_rmax=clip.get("rmax"),
        renorm_dmax=clip.get("dmax"), sqrt_method="correctly_rounded",
        axis=int(axis), eps=float(epsilon), momentum=float(momentum),
        momentum_form="weight_on_running", running_variance="biased", variance="two_pass",
        reduction="unordered_float32", training_invstd="float32", affine_form="scale_shift",
        running_var_update="float32", min_values_per_channel=0,
        learn_scale=bool(scale), learn_bias=bool(center), name=name,
        scale_init=_initial_value(name, "gamma_initializer", gamma_initializer),
        bias_init=_initial_value(name, "beta_initializer", beta_initializer),
        running_mean_init=_initial_value(name, "moving_mean_initializer",
                                         moving_mean_initializer),
        running_var_init=_initial_value(name, "moving_variance_initializer",
                                        moving_variance_initializer))


register(Spec(
    name="keras.layers.BatchNormalization", framework="keras", version=VERSION, kind="layer",
    defaults={"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
              "beta_initializer": "zeros", "gamma_initializer": "ones",
              "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones",
              "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
              "gamma_constraint": None, "renorm": False, "renorm_clipping": None,
              "renorm_momentum": 0.99, "synchronized": False},
    rule=_BATCH_NORM, bind=_bn_bind, reference=_LAYERS + "batch_normalization.py",
    inert=_LAYER_INERT,
    variants={"defaults": {},
              "momentum 0.9, epsilon 1e-5": {"momentum": 0.9, "epsilon": 1e-5},
              "no center, no scale": {"center": False, "scale": False},
              "renorm": {"renorm": True},
              "renorm, clipping": {"renorm": True, "renorm_clipping": {
                  "rmax": 3.0, "rmin": 0.333, "dmax": 5.0}},
              "renorm, renorm_momentum 0.9": {"renorm": True, "renorm_momentum": 0.9}},
    budgets={**{f"{b}:{v}": _LB(ulp=u, output=o, reason=r + why + _STATS)
                for b, r in (("keras/tensorflow", _TF), ("keras/jax", _JAX))
                for v, u, o, why in (("defaults", 8, 7, ""),
                                     ("momentum 0.9, epsilon 1e-5", 13, 7, ""),
                                     ("no center, no scale", 8, 7, ""),
                                     ("renorm", 8, 9, _RENORM),
                                     ("renorm, clipping", 8, 8, _RENORM),
                                     ("renorm, renorm_momentum 0.9", 8, 30, _RENORM))}},
    doc="epsilon 1e-3 inside the sqrt; moving = moving*m + batch*(1-m) with the biased "
        "batch variance; y = x*s + (beta - mean*s), s = gamma*rsqrt(var + eps)"))
_backend_semantics("keras.layers.BatchNormalization", "keras/torch",
                   variance="mean_sq_minus_sq_mean", reduction="torch_cpu_avx2",
                   affine_form="center_scale", sqrt_method="mkl_goldschmidt_rsqrtps")


def _ln_bind(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
             beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
    name = "keras.layers.LayerNormalization"
    check_nonnegative(name, epsilon=epsilon)
    for k, v, d in (("beta_initializer", beta_initializer, "zeros"),
                    ("gamma_initializer", gamma_initializer, "ones")):
        if v != d:
            raise unsupported(name, k, v)
    axes = _axes_tuple(axis)
    return dict(feature_axes=axes, reduce_axes=axes, eps=float(epsilon), variance="two_pass",
                reduction="unordered_float32", affine_form="scale_shift",
                learn_scale=bool(scale), learn_bias=bool(center), name=name)


register(Spec(
    name="keras.layers.LayerNormalization", framework="keras", version=VERSION, kind="layer",
    defaults={"axis": -1, "epsilon": 0.001, "center": True, "scale": True,
              "beta_initializer": "zeros", "gamma_initializer": "ones",
              "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
              "gamma_constraint": None},
    rule=_FEATURE_NORM, bind=_ln_bind, reference=_LAYERS + "layer_normalization.py",
    inert=_LAYER_INERT,
    variants={"defaults": {}, "epsilon 1e-5": {"epsilon": 1e-5},
              "no center, no scale": {"center": False, "scale": False}},
    budgets={"keras/tensorflow": _LB(ulp=0, output=3, reason=_TF + _UNITS),
             "keras/jax": _LB(ulp=0, output=3, reason=_JAX + _UNITS)},
    doc="epsilon 1e-3 inside the sqrt; y = x*s + (beta - mean*s), s = gamma*rsqrt(var + eps); "
        "the torch backend calls torch's layer_norm"))
_backend_semantics("keras.layers.LayerNormalization", "keras/torch",
                   affine_form="center_then_fma", variance="torch_rowwise_welford",
                   reduction="torch_cpu_avx2")


def _gn_bind(groups, axis, epsilon, center, scale, beta_initializer, gamma_initializer,
             beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
    name = "keras.layers.GroupNormalization"
    check_nonnegative(name, epsilon=epsilon)
    if not isinstance(groups, int) or groups <= 0:
        raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
    for k, v, d in (("beta_initializer", beta_initializer, "zeros"),
                    ("gamma_initializer", gamma_initializer, "ones")):
        if v != d:
            raise unsupported(name, k, v)
    return dict(groups=groups, channel_axis=int(axis), eps=float(epsilon), variance="two_pass",
                reduction="unordered_float32", affine_form="scale_shift",
                learn_scale=bool(scale), learn_bias=bool(center), name=name)


register(Spec(
    name="keras.layers.GroupNormalization", framework="keras", version=VERSION, kind="layer",
    defaults={"groups": 32, "axis": -1, "epsilon": 0.001, "center": True, "scale": True,
              "beta_initializer": "zeros", "gamma_initializer": "ones",
              "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
              "gamma_constraint": None},
    rule=_GROUP_NORM, bind=_gn_bind, reference=_LAYERS + "group_normalization.py",
    inert=_LAYER_INERT,
    variants={"defaults": {"groups": 3}, "epsilon 1e-5, 2 groups": {"groups": 2,
                                                                     "epsilon": 1e-5}},
    budgets={"keras/tensorflow": _LB(ulp=0, output=3, reason=_TF + _UNITS),
             "keras/jax": _LB(ulp=0, output=3, reason=_JAX + _UNITS),
             "keras/jax:epsilon 1e-5, 2 groups": _LB(ulp=0, output=4, reason=_JAX + _UNITS)},
    doc="epsilon 1e-3 inside the sqrt; statistics per sample and group of channels (last "
        "axis); y = x*s + (beta - mean*s)"))
_backend_semantics("keras.layers.GroupNormalization", "keras/torch",
                   variance="mean_sq_minus_sq_mean", reduction="torch_cpu_avx2")


def _rms_bind(axis, epsilon):
    name = "keras.layers.RMSNormalization"
    check_nonnegative(name, epsilon=epsilon)
    axes = _axes_tuple(axis)
    return dict(feature_axes=axes, reduce_axes=axes, eps=float(epsilon), use_mean=False,
                variance="two_pass", reduction="unordered_float32",
                affine_form="normalize_then_scale", learn_scale=True, learn_bias=False,
                name=name)


register(Spec(
    name="keras.layers.RMSNormalization", framework="keras", version=VERSION, kind="layer",
    defaults={"axis": -1, "epsilon": 1e-06}, rule=_FEATURE_NORM, bind=_rms_bind,
    reference=_LAYERS + "rms_normalization.py",
    variants={"defaults": {}, "epsilon 1e-3": {"epsilon": 1e-3}},
    budgets={"keras/tensorflow": _LB(ulp=0, output=2, reason=_TF + " (mean of x^2)" + _UNITS),
             "keras/jax": _LB(ulp=0, output=2, reason=_JAX + " (mean of x^2)" + _UNITS)},
    doc="epsilon 1e-6 inside the sqrt; y = x * rsqrt(mean(x^2) + eps) * scale"))
_backend_semantics("keras.layers.RMSNormalization", "keras/torch", reduction="torch_cpu_avx2")
# --- end Normalization layers -----------------------------------------------------------

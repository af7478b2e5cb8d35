"""The ``keras.optimizers`` dialect (Keras 3), read from Keras 3.15.1.


Keyword names and defaults are the framework's own.
"""

import math

from eps_ref.rules.keras_base import KerasBase
from eps_ref.spec import (Budget, Spec, check_beta, check_nonnegative, check_number,  # noqa: F401
                          register, unsupported)
from eps_ref.spec import register_base_options

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
    """Check the base-optimizer keywords as ``BaseOptimizer.__init__`` does, and return the
    decoupled weight decay (0 for None).

    Keras applies the weight decay before the update step, as ``decoupled_lr_scaled_keras``.
    The other options (clipping, EMA, loss scaling, gradient accumulation) run around every
    rule, tree-wide: :func:`_base_options` hands them to :mod:`eps_ref.rules.keras_base`.
    Stricter than Keras where it silently accepts nonsense: a threshold, loss scale or
    momentum that is not a positive (or [0, 1]) number raises here (Keras ignores a clip
    threshold <= 0).
    """
    given = {k: v for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                               ("global_clipnorm", global_clipnorm)) if v is not None}
    if len(given) > 1:
        raise ValueError(f"{name}: Only one of `clipnorm`, `clipvalue` and `global_clipnorm` "
                         f"can be set. Received: {given}")
    for keyword, value in [*given.items(), ("loss_scale_factor", loss_scale_factor)]:
        if value is None:
            continue
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not 0 < value < math.inf):
            raise ValueError(f"{name}: {keyword} must be a finite number > 0 or None "
                             f"(got {value!r}; Keras would silently skip a value <= 0)")
    if gradient_accumulation_steps is not None and (
            not isinstance(gradient_accumulation_steps, int)
            or isinstance(gradient_accumulation_steps, bool) or gradient_accumulation_steps < 2):
        raise ValueError(f"{name}: `gradient_accumulation_steps` must be an integer >= 2. "
                         f"Received: gradient_accumulation_steps={gradient_accumulation_steps}")
    if not isinstance(use_ema, bool):
        raise ValueError(f"{name}: use_ema must be True or False, got {use_ema!r}")
    if (not isinstance(ema_momentum, (int, float)) or isinstance(ema_momentum, bool)
            or not 0 <= ema_momentum <= 1):
        raise ValueError(f"{name}: `ema_momentum` must be in the range [0, 1]. "
                         f"Received: ema_momentum={ema_momentum}")
    if ema_overwrite_frequency is not None and (
            not isinstance(ema_overwrite_frequency, int)
            or isinstance(ema_overwrite_frequency, bool) or ema_overwrite_frequency < 1):
        raise ValueError(f"{name}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                         f"Received: ema_overwrite_frequency={ema_overwrite_frequency}")
    if ema_overwrite_frequency is not None and not use_ema:
        raise ValueError(f"{name}: ema_overwrite_frequency={ema_overwrite_frequency} has no "
                         "effect without use_ema=True (Keras ignores it silently)")
    if weight_decay is None:
        return 0.0
    check_nonnegative(name, weight_decay=weight_decay)
    return float(weight_decay)


def _base_options(name, hyperparams, backend, threads=1):
    """The Keras base-optimizer logic around ``name``'s rule, or None at the defaults
    (registered for every ``keras.optimizers`` spec; validation is ``base_weight_decay``'s,
    run by each spec's bind). ``threads``: the backend's intra-op threads, for the sums of
    the clipping norms."""
    options = {k: hyperparams.get(k, v) for k, v in BASE_DEFAULTS.items() if k != "weight_decay"}
    if all(options[k] == BASE_DEFAULTS[k] for k in options if k != "ema_momentum"):
        return None
    return KerasBase(**options, backend=backend, threads=threads)


register_base_options("keras", _base_options)

# Conformance variants of the base options (the gradient stream's 1e3 spikes trigger clipping).
KERAS_BASE_VARIANTS = {
    "clipnorm 1.0": {"clipnorm": 1.0},
    "clipvalue 0.1": {"clipvalue": 0.1},
    "global_clipnorm 1.0": {"global_clipnorm": 1.0},
    "use_ema": {"use_ema": True},
    "use_ema, ema_overwrite_frequency 10": {"use_ema": True, "ema_overwrite_frequency": 10},
    "gradient_accumulation_steps 4": {"gradient_accumulation_steps": 4},
    "loss_scale_factor 128": {"loss_scale_factor": 128.0},
    # Everything at once, with divisors that are not powers of two (XLA's reciprocal).
    "accumulation 3, EMA 0.9 overwrite 4, clipnorm 1.0, loss scale 10, weight decay 0.01": {
        "gradient_accumulation_steps": 3, "use_ema": True, "ema_momentum": 0.9,
        "ema_overwrite_frequency": 4, "clipnorm": 1.0, "loss_scale_factor": 10.0,
        "weight_decay": 0.01},
}

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
        **{f"momentum 0.9, {k}": {"momentum": 0.9, **v} for k, v in KERAS_BASE_VARIANTS.items()},
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
        check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                     epsilon=epsilon)
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


def _adam_libm_powf_semantics(rule_kwargs: dict) -> dict:
    """Under ``KERAS_BACKEND=jax`` and ``tensorflow``, ``ops.power(beta, t)`` on 0-d float32
    tensors is glibc's scalar ``powf`` (XLA's ``pow``; TensorFlow's Eigen ``pow`` hands a
    one-element tensor to the scalar tail), which is not correctly rounded (0.9999f**918 is
    1 ULP off): reproduced bit for bit (``bias_correction="libm_powf"``)."""
    return {**rule_kwargs, "bias_correction": "libm_powf"}


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
        **KERAS_BASE_VARIANTS,
    },
    backend_semantics={"keras/torch": _adam_torch_backend_semantics,
                       "keras/jax": _adam_libm_powf_semantics,
                       "keras/tensorflow": _adam_libm_powf_semantics},
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
    check_number(qualified, learning_rate=learning_rate, epsilon=epsilon,
                 initial_accumulator_value=initial_accumulator_value)
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
    check_number(qualified, learning_rate=learning_rate, rho=rho, epsilon=epsilon)
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
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                 epsilon=epsilon)
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
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                 epsilon=epsilon)
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
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2)
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
from eps_ref.rules.adafactor import adafactor as _adafactor_rule  # noqa: E402


def _bind_adafactor(*, learning_rate, beta_2_decay, epsilon_1, epsilon_2, clip_threshold,
                    relative_step, name, **base):
    """TensorFlow-backend semantics (Eigen reductions); ``relative_step`` does not change
    the math: Keras 3 takes :math:`\\rho_t = \\min(\\eta, 1/\\sqrt t)` either way."""
    qualified = "keras.optimizers.Adafactor"
    check_number(qualified, learning_rate=learning_rate, beta_2_decay=beta_2_decay,
                 epsilon_1=epsilon_1, epsilon_2=epsilon_2,
                 clip_threshold=clip_threshold)
    check_nonnegative(qualified, learning_rate=learning_rate)
    if not isinstance(relative_step, bool):
        raise ValueError(f"{qualified}: relative_step must be a bool: {relative_step!r}")
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), beta_2_decay=float(beta_2_decay),
                epsilon_1=float(epsilon_1), epsilon_2=float(epsilon_2),
                clip_threshold=float(clip_threshold), weight_decay=weight_decay,
                weight_decay_mode="decoupled_keras" if weight_decay else "none",
                factor_statistic="mean", reduction="eigen_cpu",
                sqrt_method="correctly_rounded", inverse_root="divide_by_sqrt")


def _adafactor_jax_backend_semantics(rule_kwargs: dict) -> dict:
    """``jnp.mean`` on XLA:CPU (one accumulator in row-major order) and each eager
    ``ops.divide`` by a broadcast scalar compiled into a multiplication by its reciprocal."""
    return {**rule_kwargs, "reduction": "xla_cpu", "broadcast_division": "multiply_by_reciprocal"}


def _adafactor_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """``torch.mean`` (cascade sum), ``torch.sqrt`` (MKL on CPU), and the torch backend's
    weight decay :math:`\\theta(1-\\lambda\\eta)`."""
    out = {**rule_kwargs, "reduction": "torch_cpu_avx2", "sqrt_method": "mkl_goldschmidt_rsqrtps"}
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


register(Spec(
    name="keras.optimizers.Adafactor", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_2_decay": -0.8, "epsilon_1": 1e-30,
              "epsilon_2": 1e-3, "clip_threshold": 1.0, "relative_step": True,
              **BASE_DEFAULTS, "name": None},
    rule=_adafactor_rule, bind=_bind_adafactor, reference=SOURCE + "adafactor.py",
    inert=INERT,
    variants={
        "defaults": {},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
        "epsilon_1=1e-3": {"epsilon_1": 1e-3},
        "epsilon_2=1": {"epsilon_2": 1.0},
        "clip_threshold=0.5": {"clip_threshold": 0.5},
        "relative_step=False": {"learning_rate": 1e-2, "relative_step": False},
        "beta_2_decay=-0.5": {"beta_2_decay": -0.5},
        "weight_decay=0.01": {"weight_decay": 0.01},
    },
    backend_semantics={"keras/jax": _adafactor_jax_backend_semantics,
                       "keras/torch": _adafactor_torch_backend_semantics},
    doc="eps1 INSIDE the factored moments (g^2 + 1e-30), no eps in the root: "
        "V = (R / mean R) C, p -= max(eps2, RMS(p)) min(lr, 1/sqrt t) U / max(1, RMS(U)/d), "
        "U = g / sqrt(V); all in float32; a gradient zero along a row and a column gives "
        "V = 0 there (eps1^2 underflows float32) and NaN everywhere",
))
# --- end Adafactor family -------------------------------------------------------------

# --- Muon family ----------------------------------------------------------------------
from eps_ref.rules.muon import muon_with_adamw as _muon  # noqa: E402
import numpy as _np  # noqa: E402


def _bind_muon(*, learning_rate, adam_beta_1, adam_beta_2, adam_weight_decay, epsilon,
               exclude_layers, exclude_embeddings, muon_a, muon_b, muon_c, adam_lr_ratio,
               momentum, ns_steps, nesterov, rms_rate, name, **base):
    # Every 2-D variable takes the Muon step, every other one the AdamW fallback
    # (``_should_use_adamw``, the ``"adamw"`` keywords). The variable paths that
    # ``exclude_layers`` and ``exclude_embeddings`` match are not seen by the reference:
    # a non-empty ``exclude_layers`` is refused; ``exclude_embeddings`` is inert (no
    # variable of a list tree is named "embedding").
    spec_name = "keras.optimizers.Muon"
    weight_decay = base_weight_decay(spec_name, **base)
    check_number(spec_name, learning_rate=learning_rate, adam_lr_ratio=adam_lr_ratio,
                 epsilon=epsilon)
    check_nonnegative(spec_name, learning_rate=learning_rate, epsilon=epsilon,
                      adam_lr_ratio=adam_lr_ratio)
    check_beta(spec_name, adam_beta_1=adam_beta_1, adam_beta_2=adam_beta_2)
    if exclude_layers:
        raise unsupported(spec_name, "exclude_layers", exclude_layers)
    if adam_weight_decay is not None:
        check_number(spec_name, adam_weight_decay=adam_weight_decay)
    # learning_rate * adam_lr_ratio: the float32 learning-rate variable times a Python number.
    adam_lr = float(_np.float32(learning_rate) * _np.float32(adam_lr_ratio))
    adamw = _adam_binder("keras.optimizers.Adam")(
        learning_rate=adam_lr, beta_1=adam_beta_1, beta_2=adam_beta_2, epsilon=epsilon,
        amsgrad=False, name=name, **BASE_DEFAULTS)
    adamw = {k: v for k, v in adamw.items() if k not in ("weight_decay", "weight_decay_mode")}
    adamw["weight_decay"] = 0.0 if adam_weight_decay is None else float(adam_weight_decay)
    return {
        "lr": float(learning_rate),
        "momentum": float(momentum),
        "weight_decay": weight_decay,
        "ns_coefficients": (float(muon_a), float(muon_b), float(muon_c)),
        "ns_steps": int(ns_steps),
        # zeropower_via_newtonschulz5 hard-codes x / (norm + 1e-7); ``epsilon`` is Adam's.
        "eps": 1e-7,
        "rms_rate": 0.2 if rms_rate is None else float(rms_rate),
        "momentum_form": "keras",
        "lookahead": "nesterov" if nesterov else "none",
        "normalization": "divide_by_norm_plus_eps",
        "ns_precision": "param",
        "ns_form": "scaled_operand",
        "matmul_kernel": "onednn_sgemm",
        "norm_reduction": "eigen_avx_4x8",
        "lr_scale": "none" if rms_rate is None else "rms_matched",
        "apply_form": "keras",
        "adamw": adamw,
    }


def _muon_tensorflow_backend_semantics(rule_kwargs: dict) -> dict:
    """The AdamW fallback's ``ops.power(beta, t)``: glibc's ``powf`` (as Keras Adam)."""
    return {**rule_kwargs, "adamw": _adam_libm_powf_semantics(rule_kwargs["adamw"])}


def _muon_jax_backend_semantics(rule_kwargs: dict) -> dict:
    """XLA:CPU's eager dots; the jitted jnp.linalg.norm's FMA-contracted sequential sum; the
    jitted divide by the broadcast norm, rewritten as a multiply by its reciprocal; the
    AdamW fallback's ``ops.power`` is glibc's ``powf``."""
    return {**rule_kwargs, "matmul_kernel": "xla_cpu", "norm_reduction": "xla_cpu_fused_fma",
            "division": "multiply_by_reciprocal",
            "adamw": _adam_libm_powf_semantics(rule_kwargs["adamw"])}


def _muon_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """torch float32 matmul (MKL sgemm) for the Newton-Schulz products; torch's norm. The
    AdamW fallback is Keras' generic ``update_step`` (Muon has no torch-parallel variant:
    the moments as ``"difference"``, not Keras Adam's ``_foreach`` FMAs) with ``torch.sqrt``
    (MKL)."""
    adamw = {**rule_kwargs["adamw"], "sqrt_method": "mkl_goldschmidt_rsqrtps"}
    return {**rule_kwargs, "matmul_kernel": "mkl_sgemm", "norm_reduction": "torch_cpu_norm",
            "adamw": adamw}


register(Spec(
    name="keras.optimizers.Muon",
    framework="keras",
    version=VERSION,
    defaults={"learning_rate": 0.001, "adam_beta_1": 0.9, "adam_beta_2": 0.999,
              "adam_weight_decay": 0.004, "epsilon": 1e-7,
              **{**BASE_DEFAULTS, "weight_decay": 0.004}, "name": None,
              "exclude_layers": None, "exclude_embeddings": True, "muon_a": 3.4445,
              "muon_b": -4.775, "muon_c": 2.0315, "adam_lr_ratio": 1, "momentum": 0.95,
              "ns_steps": 5, "nesterov": True, "rms_rate": 0.2},
    rule=_muon,
    bind=_bind_muon,
    reference=SOURCE + "muon.py",
    inert=INERT | {"exclude_embeddings"},
    backend_semantics={"keras/tensorflow": _muon_tensorflow_backend_semantics,
                       "keras/jax": _muon_jax_backend_semantics,
                       "keras/torch": _muon_torch_backend_semantics},
    variants={
        "defaults": {},
        "no nesterov": {"nesterov": False},
        "rms_rate None": {"rms_rate": None},
        "no weight decay, lr 1e-2": {"learning_rate": 1e-2, "weight_decay": None},
        "ns_steps 3, momentum 0.9": {"ns_steps": 3, "momentum": 0.9},
    },
    budgets={},
    doc="eps (hard-coded 1e-7) is added to the Frobenius norm before Newton-Schulz: "
        "X = B~ / (|B~|_F + 1e-7), 5 quintic NS steps in float32; p -= p*wd*lr, then "
        "p -= ((lr*O)*sqrt(max(rows, cols)))*rms_rate; every variable that is not 2-D takes "
        "Keras Adam's step (lr*adam_lr_ratio, epsilon, adam_weight_decay)",
))
# --- end Muon family ------------------------------------------------------------------

# --- Ftrl family ----------------------------------------------------------------------
from eps_ref.frameworks.tf1 import FTRL_VARIANTS as _FTRL_VARIANTS  # noqa: E402
from eps_ref.frameworks.tf1 import check_ftrl as _check_ftrl  # noqa: E402
from eps_ref.rules.ftrl import ftrl as _ftrl_rule  # noqa: E402


def _bind_ftrl(*, learning_rate, learning_rate_power, initial_accumulator_value,
               l1_regularization_strength, l2_regularization_strength,
               l2_shrinkage_regularization_strength, beta, name, **base):
    qualified = "keras.optimizers.Ftrl"
    _check_ftrl(qualified, learning_rate=learning_rate, learning_rate_power=learning_rate_power,
                initial_accumulator_value=initial_accumulator_value,
                l1_regularization_strength=l1_regularization_strength,
                l2_regularization_strength=l2_regularization_strength,
                l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
                beta=beta)
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), lr_power=float(learning_rate_power),
                l1=float(l1_regularization_strength), l2=float(l2_regularization_strength),
                l2_shrinkage=float(l2_shrinkage_regularization_strength), beta=float(beta),
                beta_fold="keras", power_form="pow", pow_method="eigen_generic_pow",
                shrink_form="clip", grad_square="multiply",
                initial_accumulator_value=float(initial_accumulator_value),
                weight_decay=weight_decay,
                weight_decay_mode="decoupled_keras" if weight_decay else "none")


def _ftrl_jax_backend_semantics(rule_kwargs: dict) -> dict:
    """Under ``KERAS_BACKEND=jax``, ``ops.power`` is XLA's CPU ``pow`` (eager, one
    primitive at a time), not Eigen's: a call to glibc's ``powf`` with denormals flushed,
    reproduced bit for bit (``pow_method="libm_powf"``); and XLA compiles each eager
    ``ops.divide(x, lr)`` by the 0-d learning rate into ``x * (1/lr)``."""
    return {**rule_kwargs, "pow_method": "libm_powf",
            "scalar_division": "multiply_by_reciprocal"}


def _ftrl_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """Under ``KERAS_BACKEND=torch`` (no ``torch_ftrl``: the generic ``update_step``),
    ``ops.power(n, -lr_power)`` is ``torch.pow(tensor, 0-d tensor)``: ATen's
    ``pow_tensor_tensor`` kernel, SLEEF's ``powf`` u10 (not correctly rounded: about 2 in
    100 float32 inputs differ by 1 ULP), reproduced bit for bit; ``beta / (2.0 * lr)`` is
    torch's ``Tensor.__rtruediv__``, ``reciprocal(2 lr) * beta``; weight decay multiplies
    by ``1 - wd*lr`` in float32."""
    out = {**rule_kwargs, "pow_method": "sleef_powf_u10", "beta_fold": "keras_torch"}
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


register(Spec(
    name="keras.optimizers.Ftrl", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "learning_rate_power": -0.5,
              "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.0,
              "l2_regularization_strength": 0.0, "l2_shrinkage_regularization_strength": 0.0,
              "beta": 0.0, **BASE_DEFAULTS, "name": None},
    rule=_ftrl_rule, bind=_bind_ftrl, reference=SOURCE + "ftrl.py", inert=INERT,
    variants={"defaults": {}, **_FTRL_VARIANTS,
              "learning_rate=1e-2": {"learning_rate": 1e-2},
              "weight_decay=0.01": {"weight_decay": 0.01}},
    backend_semantics={"keras/jax": _ftrl_jax_backend_semantics,
                       "keras/torch": _ftrl_torch_backend_semantics},
    doc="NO eps, n0 = 0.1: n' = n + g^2, z += g - (n'^0.5 - n^0.5)/lr * w (ops.power, even "
        "at -0.5), w = (clip(z, -l1, l1) - z) / (n'^0.5/lr + 2*(l2 + beta/(2*lr)))",
))
# --- end Ftrl family ------------------------------------------------------------------

# --- Lamb family ----------------------------------------------------------------------
from eps_ref.rules.lamb import lamb as _lamb_rule  # noqa: E402


def _bind_lamb(*, learning_rate, beta_1, beta_2, epsilon, name, **base):
    qualified = "keras.optimizers.Lamb"
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                 epsilon=epsilon)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta_1=beta_1, beta_2=beta_2)
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                eps=float(epsilon), eps_root=0.0, weight_decay=weight_decay,
                weight_decay_mode="decoupled_keras", moment_update="difference",
                bias_correction="pow_param_dtype", correction_op="divide",
                step_order="ratio_times_lr", norm_reduction="eigen_avx_4x8",
                square_op="eigen_pow", sqrt_method="correctly_rounded",
                zero_norm="ratio_one", phi="identity")


def _lamb_jax_backend_semantics(rule_kwargs: dict) -> dict:
    """``KERAS_BACKEND=jax``: ``ops.sum`` is an eager ``jnp.sum``, one float32 accumulator in
    row-major order (measured bit for bit on (4, 16) arrays), and XLA:CPU divides the moments
    by the scalar bias corrections as a multiplication by the rounded reciprocal."""
    return {**rule_kwargs, "norm_reduction": "xla_cpu_sequential", "square_op": "multiply",
            "correction_op": "multiply_by_reciprocal"}


def _lamb_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """``KERAS_BACKEND=torch``: Lamb has no ``torch_*`` override, so ``update_step`` runs on
    torch ops: ``ops.power(x, 2)`` is ``torch.pow`` with a tensor exponent (SLEEF's
    ``powf``), ``ops.sum`` is torch's CPU cascade sum, ``ops.sqrt`` MKL's ``vmsSqrt``, and
    ``TorchOptimizer._apply_weight_decay`` multiplies by ``1 - wd*lr`` in float32."""
    out = {**rule_kwargs, "norm_reduction": "torch_cpu_avx2", "square_op": "sleef_pow",
           "sqrt_method": "mkl_goldschmidt_rsqrtps"}
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


register(Spec(
    name="keras.optimizers.Lamb", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              **BASE_DEFAULTS, "name": None},
    rule=_lamb_rule, bind=_bind_lamb, reference=SOURCE + "lamb.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
        "beta_1=0.5,beta_2=0.99": {"beta_1": 0.5, "beta_2": 0.99},
    },
    backend_semantics={"keras/jax": _lamb_jax_backend_semantics,
                       "keras/torch": _lamb_torch_backend_semantics},
    doc="eps OUTSIDE the bias-corrected root: u = m_hat / (sqrt(v_hat) + eps), "
        "m += (g-m)*(1-b1), v += (g^2-v)*(1-b2); trust ratio ||p||/||u|| (1 if either norm "
        "is 0); p -= (ratio*lr)*u; weight decay p -= p*wd*lr first (not in u)",
))
# --- end Lamb family ------------------------------------------------------------------

# --- ScheduleFree family --------------------------------------------------------------
from eps_ref.rules.schedule_free import schedule_free_adamw as _schedule_free_rule  # noqa: E402


def _bind_schedule_free_adamw(*, learning_rate, beta_1, beta_2, epsilon, warmup_steps, name,
                              **base):
    qualified = "keras.optimizers.ScheduleFreeAdamW"
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                 epsilon=epsilon)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta_2=beta_2)
    if not isinstance(beta_1, (int, float)) or not 0.0 < beta_1 < 1.0:
        # x = (y - (1 - beta_1) z) / beta_1 divides by beta_1 (Keras does not check it).
        raise ValueError(f"{qualified}: invalid beta_1 {beta_1!r}: must be in (0, 1)")
    if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
        raise ValueError(f"{qualified}: invalid warmup_steps {warmup_steps!r}: "
                         "must be an int >= 0")
    weight_decay = base_weight_decay(qualified, **base)
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                eps=float(epsilon), warmup_steps=warmup_steps, weight_decay=weight_decay,
                weight_decay_mode="decoupled_keras", average_weights="uniform",
                warmup_schedule="keras", weight_lr_power=2.0, previous_z="after_step",
                arithmetic="keras", scalar_division="divide", sqrt_method="correctly_rounded")


def _schedule_free_jax_backend_semantics(rule_kwargs: dict) -> dict:
    """``KERAS_BACKEND=jax``: ``momentum.value`` is an immutable array, so the recovery of x
    reads z before the step, as the algorithm intends; XLA:CPU divides an array by a scalar
    as a multiplication by its rounded reciprocal."""
    return {**rule_kwargs, "previous_z": "before_step",
            "scalar_division": "multiply_by_reciprocal"}


def _schedule_free_torch_backend_semantics(rule_kwargs: dict) -> dict:
    """``KERAS_BACKEND=torch``: no ``torch_*`` override; ``ops.sqrt`` is MKL's ``vmsSqrt``,
    weight decay multiplies by ``1 - wd*lr`` in float32, and ``momentum.value`` is the live
    tensor that ``assign_sub`` updates in place (``previous_z="after_step"``)."""
    out = {**rule_kwargs, "sqrt_method": "mkl_goldschmidt_rsqrtps"}
    if out["weight_decay_mode"] == "decoupled_keras":
        out["weight_decay_mode"] = "decoupled_keras_torch"
    return out


register(Spec(
    name="keras.optimizers.ScheduleFreeAdamW", framework="keras", version=VERSION,
    defaults={"learning_rate": 0.0025, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
              "warmup_steps": 0, **BASE_DEFAULTS, "name": None},
    rule=_schedule_free_rule, bind=_bind_schedule_free_adamw,
    reference=SOURCE + "schedule_free_adamw.py", inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "warmup_steps=100": {"warmup_steps": 100},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "learning_rate=1e-3,beta_1=0.5": {"learning_rate": 1e-3, "beta_1": 0.5},
    },
    backend_semantics={"keras/jax": _schedule_free_jax_backend_semantics,
                       "keras/torch": _schedule_free_torch_backend_semantics},
    doc="the variable holds y (gradient point); eps OUTSIDE the corrected root, no first "
        "moment: z -= lr_t*g / (sqrt(v/(1-b2^t)) + eps), lr_t = lr*min(t/warmup, 1); "
        "x = (y - (1-b1)*z_prev)/b1, x = (1-1/t)*x + z/t, y = (1-b1)*z + b1*x; "
        "weight decay y -= y*wd*lr first; evaluate at x = (y - (1-b1)*momentum)/b1",
))
# --- end ScheduleFree family ----------------------------------------------------------

# --- Normalization layers ---------------------------------------------------------------
# Read from keras/src/layers/normalization/*.py, keras/src/ops/nn.py and the backends'
# nn.moments / nn.batch_normalization. The spec follows the TensorFlow backend; the JAX and
# torch backends' different kernels are declared with backend_semantics.
from eps_ref.layer import LayerBudget as _LB  # noqa: E402
from eps_ref.layer import backend_semantics as _backend_semantics  # noqa: E402
from eps_ref.norms import BATCH_NORM as _BATCH_NORM  # noqa: E402
from eps_ref.norms import FEATURE_NORM as _FEATURE_NORM  # noqa: E402
from eps_ref.norms import GROUP_NORM as _GROUP_NORM  # noqa: E402

_LAYERS = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/normalization/"
_LAYER_INERT = frozenset({"beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint"})
_INITIALIZERS = {"zeros": 0.0, "ones": 1.0}
_JAX = ("under 4096 elements jnp.var's sum of squares runs in XLA's own loop, which fuses "
        "(x - mean)^2 into the reduce and lets LLVM vectorize it with reassociating adds "
        "(vectors over one reduced axis, a horizontal add per step of the outer loops: the "
        "(8,4,4,6) batch adds the 4 rows of each column as one vector over the 4 columns, "
        "then the vector by halves), an order the reference does not follow; from 4096 "
        "elements YNNPACK sums the rounded squares, which the reference reproduces "
        "(conformance/test_keras_flax_norms_at_size.py)")
_UNITS = ("; outputs in scale-aware units (eps_ref.layer.LayerBudget), measured max {units}; "
          "running variance {ulp} ULP")
# TensorFlow: tf.nn.moments is two tf.reduce_mean (Eigen's reducers, divided by the count) of
# x and of squared_difference(x, mean); tf.math.rsqrt is Eigen's rsqrtps plus a Newton
# step in float32 (eps_ref.norms._eigen_cpu, eps_ref.rules._roots).
_TF_STATS = {"reduction": "eigen_cpu", "rsqrt": "eigen_rsqrtps_newton"}
# In a tf.function (Keras' compiled train and predict steps; label keras/tensorflow-function)
# the same kernels run, but Grappler's arithmetic optimizer regroups two expressions:
# layer and group norm's x*inv + (-mean*inv + beta) becomes (x*inv + -mean*inv) + beta when
# -mean*inv has the input's shape (a learned scale and, for the group norm, one position),
# and RMS norm's x * rrms * scale becomes x * (rrms * scale); batch norm is unchanged.
# JAX: ops.moments is an eager jnp.mean (one XLA:CPU reduce times float32(1/n)) and an eager
# jnp.var (the same mean, then sum((x - mean)^2) / n in one jitted computation); lax.rsqrt
# is rsqrtps plus a fused Newton step (eps_ref.norms._xla_cpu, eps_ref.rules._roots).
_JAX_STATS = {"reduction": "xla_cpu_ynnpack", "variance": "jnp_var",
              "rsqrt": "xla_rsqrtps_newton_fma"}
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
        **_TF_STATS, training_invstd="float32", affine_form="scale_shift",
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
    budgets={f"keras/jax:{v}": _LB(ulp=u, output=o, reason=_JAX + _UNITS.format(
        units=m, ulp=u)) for v, u, o, m in (("defaults", 1, 2, "1.08"),
                                           ("momentum 0.9, epsilon 1e-5", 3, 2, "1.97"),
                                           ("no center, no scale", 1, 2, "1.19"),
                                           ("renorm", 0, 2, "1.59"),
                                           ("renorm, clipping", 0, 2, "1.59"),
                                           ("renorm, renorm_momentum 0.9", 0, 6, "5.97"))},
    doc="epsilon 1e-3 inside the sqrt; moving = moving*m + batch*(1-m) with the biased "
        "batch variance; y = x*s + (beta - mean*s), s = gamma*rsqrt(var + eps)"))
_backend_semantics("keras.layers.BatchNormalization", "keras/jax", **_JAX_STATS)
_backend_semantics("keras.layers.BatchNormalization", "keras/torch",
                   variance="mean_sq_minus_sq_mean", reduction="torch_cpu_avx2",
                   rsqrt="one_over_sqrt",
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
                **_TF_STATS, affine_form="scale_shift",
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
    budgets={f"keras/jax:{v}": _LB(ulp=0, output=o, reason=_JAX + _UNITS.format(
        units=m, ulp=0)) for v, o, m in (("defaults", 2, "1.49"), ("epsilon 1e-5", 1, "0.992"),
                                         ("no center, no scale", 2, "1.15"))},
    doc="epsilon 1e-3 inside the sqrt; y = x*s + (beta - mean*s), s = gamma*rsqrt(var + eps); "
        "the torch backend calls torch's layer_norm"))
_backend_semantics("keras.layers.LayerNormalization", "keras/jax", **_JAX_STATS)
_backend_semantics("keras.layers.LayerNormalization", "keras/tensorflow-function",
                   affine_form="scale_shift_grouped")
_backend_semantics("keras.layers.LayerNormalization", "keras/torch",
                   affine_form="center_then_fma", variance="torch_rowwise_welford",
                   reduction="torch_cpu_avx2", rsqrt="one_over_sqrt")


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
                **_TF_STATS, affine_form="scale_shift",
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
    budgets={f"keras/jax:{v}": _LB(ulp=0, output=2, reason=_JAX + _UNITS.format(
        units=m, ulp=0)) for v, m in (("defaults", "1.25"), ("epsilon 1e-5, 2 groups", "1.19"))},
    doc="epsilon 1e-3 inside the sqrt; statistics per sample and group of channels (last "
        "axis); y = x*s + (beta - mean*s)"))
_backend_semantics("keras.layers.GroupNormalization", "keras/jax", **_JAX_STATS)
_backend_semantics("keras.layers.GroupNormalization", "keras/tensorflow-function",
                   affine_form="scale_shift_grouped")
_backend_semantics("keras.layers.GroupNormalization", "keras/torch",
                   variance="mean_sq_minus_sq_mean", reduction="torch_cpu_avx2",
                   rsqrt="one_over_sqrt")


def _rms_bind(axis, epsilon):
    name = "keras.layers.RMSNormalization"
    check_nonnegative(name, epsilon=epsilon)
    axes = _axes_tuple(axis)
    return dict(feature_axes=axes, reduce_axes=axes, eps=float(epsilon), use_mean=False,
                variance="two_pass", **_TF_STATS,
                affine_form="normalize_then_scale", learn_scale=True, learn_bias=False,
                name=name)


register(Spec(
    name="keras.layers.RMSNormalization", framework="keras", version=VERSION, kind="layer",
    defaults={"axis": -1, "epsilon": 1e-06}, rule=_FEATURE_NORM, bind=_rms_bind,
    reference=_LAYERS + "rms_normalization.py",
    variants={"defaults": {}, "epsilon 1e-3": {"epsilon": 1e-3}},
    doc="epsilon 1e-6 inside the sqrt; y = x * rsqrt(mean(x^2) + eps) * scale"))
_backend_semantics("keras.layers.RMSNormalization", "keras/tensorflow-function",
                   affine_form="center_scale")
_backend_semantics("keras.layers.RMSNormalization", "keras/jax",
                   reduction="xla_cpu_ynnpack", rsqrt="xla_rsqrtps_newton_fma")
_backend_semantics("keras.layers.RMSNormalization", "keras/torch", reduction="torch_cpu_avx2",
                   rsqrt="one_over_sqrt")
# --- end Normalization layers -----------------------------------------------------------

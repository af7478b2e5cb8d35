"""The ``optax`` dialect, read from optax 0.2.8.


Keyword names and defaults are the framework's own.
"""

from eps_ref.spec import REQUIRED  # noqa: F401
from eps_ref.spec import Budget, Spec, check_beta, check_nonnegative, register, unsupported  # noqa: F401

VERSION = "0.2.8"
SOURCE = "https://github.com/google-deepmind/optax/blob/v0.2.8/optax/"
INERT = frozenset()

# --- SGD family -------------------------------------------------------------------------
from eps_ref.rules.sgd import sgd as _sgd  # noqa: E402


def _bind_sgd(*, learning_rate, momentum, nesterov, accumulator_dtype):
    name = "optax.sgd"
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool):
        raise unsupported(name, "learning_rate", learning_rate)
    check_nonnegative(name, learning_rate=learning_rate)
    if momentum is not None and (not isinstance(momentum, (int, float))
                                 or isinstance(momentum, bool)):
        raise unsupported(name, "momentum", momentum)
    if accumulator_dtype is not None:
        raise unsupported(name, "accumulator_dtype", accumulator_dtype)
    with_momentum = momentum is not None
    return {
        "lr": float(learning_rate),
        "momentum": float(momentum) if with_momentum else 0.0,
        "momentum_form": "optax" if with_momentum else "none",
        # alias.sgd drops ``nesterov`` along with the trace when momentum is None.
        "lookahead": "nesterov" if with_momentum and nesterov else "none",
        "dampening": 0.0,
        "weight_decay": 0.0,
        "weight_decay_form": "coupled",
        "multiply_add": "separate",
        "objective": "minimize",
    }


register(Spec(
    name="optax.sgd",
    framework="optax",
    version=VERSION,
    defaults={"learning_rate": REQUIRED, "momentum": None, "nesterov": False,
              "accumulator_dtype": None},
    rule=_sgd,
    bind=_bind_sgd,
    reference=SOURCE + "_src/alias.py",
    inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "learning_rate 1e-2": {"learning_rate": 1e-2},
        "momentum 0.9": {"learning_rate": 1e-2, "momentum": 0.9},
        "nesterov": {"learning_rate": 1e-2, "momentum": 0.9, "nesterov": True},
        "momentum 0": {"learning_rate": 1e-2, "momentum": 0.0},
    },
    doc="no eps; trace t = g + mu*t, update -lr*t (Nesterov: -lr*(g + mu*t)), p + update",
))
# --- end SGD family ---------------------------------------------------------------------

# --- Adam family ------------------------------------------------------------------------
from eps_ref.rules.adam import adam as _adam_rule  # noqa: E402

_MU_DTYPES = ("float32", "float16")


def _adam_common(qualified, *, learning_rate, b1, b2, eps, eps_root, mu_dtype):
    for keyword, value in (("learning_rate", learning_rate), ("b1", b1), ("b2", b2),
                           ("eps", eps), ("eps_root", eps_root)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(qualified, keyword, value)  # schedules, callables, arrays
    check_nonnegative(qualified, learning_rate=learning_rate, eps=eps, eps_root=eps_root)
    check_beta(qualified, b1=b1, b2=b2)
    if mu_dtype is None:
        mu_name = None
    else:
        # "float16", np.float16, np.dtype("float16") or jnp.float16
        mu_name = mu_dtype if isinstance(mu_dtype, str) else (
            getattr(getattr(mu_dtype, "dtype", None), "name", None)
            or getattr(mu_dtype, "name", None) or getattr(mu_dtype, "__name__", None))
        if mu_name not in _MU_DTYPES:
            # bfloat16 is outside the Array API; float64 depends on jax_enable_x64.
            raise unsupported(qualified, "mu_dtype", mu_dtype)
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                eps_root=float(eps_root), eps_placement="outside_corrected_root",
                moment_update="weighted_sum", one_minus_beta="python_float",
                bias_correction="pow_param_dtype", objective="minimize",
                first_moment_dtype=mu_name, sqrt_method="correctly_rounded",
                correction_op="multiply_by_reciprocal")


def _bind_adam(*, learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov):
    return dict(**_adam_common("optax.adam", learning_rate=learning_rate, b1=b1, b2=b2,
                               eps=eps, eps_root=eps_root, mu_dtype=mu_dtype),
                weight_decay=0.0, weight_decay_mode="none", amsgrad="none",
                corrected_moments="both",
                momentum_estimate="nesterov" if nesterov else "bias_corrected")


def _bind_adamw(*, learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask,
                nesterov):
    name = "optax.adamw"
    if not isinstance(weight_decay, (int, float)) or isinstance(weight_decay, bool):
        raise unsupported(name, "weight_decay", weight_decay)  # a schedule
    if mask is not None:
        raise unsupported(name, "mask", mask)
    return dict(**_adam_common(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
                               eps_root=eps_root, mu_dtype=mu_dtype),
                weight_decay=float(weight_decay), weight_decay_mode="decoupled_optax",
                amsgrad="none", corrected_moments="both",
                momentum_estimate="nesterov" if nesterov else "bias_corrected")


def _bind_amsgrad(*, learning_rate, b1, b2, eps, eps_root, mu_dtype, bias_correction_mu,
                  bias_correction_nu):
    corrected = {(True, True): "both", (True, False): "first", (False, True): "second",
                 (False, False): "neither"}[bool(bias_correction_mu), bool(bias_correction_nu)]
    return dict(**_adam_common("optax.amsgrad", learning_rate=learning_rate, b1=b1, b2=b2,
                               eps=eps, eps_root=eps_root, mu_dtype=mu_dtype),
                weight_decay=0.0, weight_decay_mode="none", amsgrad="max_of_corrected",
                corrected_moments=corrected, momentum_estimate="bias_corrected")


_ADAM_DOC = ("eps OUTSIDE the bias-corrected root (Algorithm 1), eps_root inside: "
             "mu = (1-b1)*g + b1*mu, nu = (1-b2)*g^2 + b2*nu, u = mu_hat / (sqrt(nu_hat + "
             "eps_root) + eps), corrections 1 - b^t in float32, p += -lr*u")
_LR = {"learning_rate": 1e-3}

register(Spec(
    name="optax.adam", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
              "eps_root": 0.0, "mu_dtype": None, "nesterov": False},
    rule=_adam_rule, bind=_bind_adam, reference=SOURCE + "_src/transform.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps=1": {**_LR, "eps": 1.0},
        "eps_root=1e-8": {**_LR, "eps_root": 1e-8},
        "nesterov": {**_LR, "nesterov": True},
        "b1=0.4,b2=0.99": {**_LR, "b1": 0.4, "b2": 0.99},
        "b2=0.9999": {**_LR, "b2": 0.9999},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc=_ADAM_DOC,
))

register(Spec(
    name="optax.adamw", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
              "eps_root": 0.0, "mu_dtype": None, "weight_decay": 1e-4, "mask": None,
              "nesterov": False},
    rule=_adam_rule, bind=_bind_adamw, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps=1": {**_LR, "eps": 1.0},
        "weight_decay=0.1": {**_LR, "weight_decay": 0.1},
        "nesterov": {**_LR, "nesterov": True},
        "learning_rate=1e-2,weight_decay=0.01": {"learning_rate": 1e-2, "weight_decay": 0.01},
    },
    doc=_ADAM_DOC + "; decoupled weight decay inside the direction: p += -lr*(u + wd*p)",
))

register(Spec(
    name="optax.amsgrad", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
              "eps_root": 0.0, "mu_dtype": None, "bias_correction_mu": True,
              "bias_correction_nu": True},
    rule=_adam_rule, bind=_bind_amsgrad, reference=SOURCE + "_src/transform.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps=1": {**_LR, "eps": 1.0},
        "eps_root=1e-8": {**_LR, "eps_root": 1e-8},
        "bias_correction_mu=False": {**_LR, "bias_correction_mu": False},
        "bias_correction_nu=False": {**_LR, "bias_correction_nu": False},
    },
    doc="AMSGrad with the max AFTER bias correction: nu_max = max(nu_max, nu_hat), "
        "u = mu_hat / (sqrt(nu_max + eps_root) + eps), p += -lr*u",
))
# --- end Adam family --------------------------------------------------------------------

# --- RMSProp family ---------------------------------------------------------------------
from eps_ref.rules.rmsprop import rmsprop as _rmsprop_rule  # noqa: E402


def _bind_rmsprop(*, learning_rate, decay, eps, initial_scale, eps_in_sqrt, centered,
                  momentum, nesterov, bias_correction):
    name = "optax.rmsprop"
    for keyword, value in (("learning_rate", learning_rate), ("decay", decay), ("eps", eps),
                           ("initial_scale", initial_scale)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(name, keyword, value)
    if momentum is not None and (not isinstance(momentum, (int, float))
                                 or isinstance(momentum, bool)):
        raise unsupported(name, "momentum", momentum)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps)
    if momentum is None:
        momentum_form = "none"
    else:
        momentum_form = "lr_inside_buffer_nesterov" if nesterov else "lr_inside_buffer"
    return dict(lr=float(learning_rate), decay=float(decay), eps=float(eps),
                eps_placement="inside_sqrt" if eps_in_sqrt else "outside_sqrt",
                initial_square_avg=float(initial_scale), centered=bool(centered),
                momentum=0.0 if momentum is None else float(momentum),
                momentum_form=momentum_form,
                bias_correction=("divide_by_one_minus_decay_power" if bias_correction
                                 else "none"),
                weight_decay=0.0, weight_decay_form="coupled", maximize=False,
                arithmetic="optax", sqrt_method="correctly_rounded",
                rsqrt_method="xla_rsqrtps_newton_fma")


register(Spec(
    name="optax.rmsprop", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "decay": 0.9, "eps": 1e-8, "initial_scale": 0.0,
              "eps_in_sqrt": True, "centered": False, "momentum": None, "nesterov": False,
              "bias_correction": False},
    rule=_rmsprop_rule, bind=_bind_rmsprop, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "eps=1e-3": {"learning_rate": 1e-3, "eps": 1e-3},
        "eps=1": {"learning_rate": 1e-3, "eps": 1.0},
        "eps_in_sqrt=False": {"learning_rate": 1e-3, "eps_in_sqrt": False},
        "initial_scale=1": {"learning_rate": 1e-3, "initial_scale": 1.0},
        "centered": {"learning_rate": 1e-3, "centered": True},
        "momentum=0.9": {"learning_rate": 1e-3, "momentum": 0.9},
        "centered+momentum=0.9": {"learning_rate": 1e-3, "centered": True, "momentum": 0.9},
        "nesterov": {"learning_rate": 1e-3, "momentum": 0.9, "nesterov": True},
        "bias_correction": {"learning_rate": 1e-3, "bias_correction": True},
        "centered+bias_correction": {"learning_rate": 1e-3, "centered": True,
                                     "bias_correction": True},
        "eps_in_sqrt=False,centered": {"learning_rate": 1e-3, "eps_in_sqrt": False,
                                       "centered": True},
        "eps_in_sqrt=False,nesterov": {"learning_rate": 1e-3, "eps_in_sqrt": False,
                                       "momentum": 0.9, "nesterov": True},
        "eps_in_sqrt=False,centered+bias_correction": {
            "learning_rate": 1e-3, "eps_in_sqrt": False, "centered": True,
            "bias_correction": True},
    },
    doc="eps INSIDE the root by default (eps_in_sqrt=True), nu0 = initial_scale: "
        "nu = decay*nu + (1-decay)*g^2, u = -lr * g * rsqrt(nu + eps); "
        "momentum trace t = u + mu*t (lr inside)",
))
# --- end RMSProp family -----------------------------------------------------------------

# --- Adagrad family ---------------------------------------------------------------------
from eps_ref.rules.adagrad import adagrad as _adagrad_rule  # noqa: E402


def _bind_adagrad(*, learning_rate, initial_accumulator_value, eps):
    name = "optax.adagrad"
    for keyword, value in (("learning_rate", learning_rate),
                           ("initial_accumulator_value", initial_accumulator_value),
                           ("eps", eps)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(name, keyword, value)  # schedules, arrays
    # optax checks none of them; eps_ref rejects negative values (scale_by_rss documents
    # the accumulator as ">= 0").
    check_nonnegative(name, learning_rate=learning_rate, eps=eps,
                      initial_accumulator_value=initial_accumulator_value)
    return dict(lr=float(learning_rate), lr_decay=0.0, eps=float(eps),
                eps_placement="inside_sqrt", update_order="rsqrt_grad_times_neg_lr",
                sqrt_method="correctly_rounded", rsqrt_method="xla_rsqrtps_newton_fma",
                accumulate="multiply_then_add",
                initial_accumulator_value=float(initial_accumulator_value),
                weight_decay=0.0, weight_decay_mode="none", direction="minimize")


register(Spec(
    name="optax.adagrad", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "initial_accumulator_value": 0.1, "eps": 1e-7},
    rule=_adagrad_rule, bind=_bind_adagrad, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-2},
        "eps=1e-3": {"learning_rate": 1e-2, "eps": 1e-3},
        "eps=1": {"learning_rate": 1e-2, "eps": 1.0},
        "initial_accumulator_value=0": {"learning_rate": 1e-2, "initial_accumulator_value": 0.0},
        "initial_accumulator_value=0,eps=0": {"learning_rate": 1e-2,
                                              "initial_accumulator_value": 0.0, "eps": 0.0},
        "learning_rate=1e-3": {"learning_rate": 1e-3},
    },
    doc="eps INSIDE the root, G0 = 0.1: G = g*g + G; u = -lr * (rsqrt(G + eps) * g), "
        "0 where G = 0; rsqrt = the CPU's RSQRTPS estimate + one FMA Newton step (XLA CPU)",
))
# --- end Adagrad family -----------------------------------------------------------------

# --- Adadelta family ---------------------------------------------------------
from eps_ref.rules.adadelta import adadelta as _adadelta_rule  # noqa: E402


def _bind_adadelta(*, learning_rate, rho, eps, weight_decay, weight_decay_mask):
    name = "optax.adadelta"
    for keyword, value in (("rho", rho), ("eps", eps), ("weight_decay", weight_decay)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(name, keyword, value)  # schedules, arrays
    if learning_rate is not None and (not isinstance(learning_rate, (int, float))
                                      or isinstance(learning_rate, bool)):
        raise unsupported(name, "learning_rate", learning_rate)
    if weight_decay_mask is not None:
        raise unsupported(name, "weight_decay_mask", weight_decay_mask)
    # optax checks none of them; eps_ref rejects values that are no rates.
    check_nonnegative(name, eps=eps, weight_decay=weight_decay,
                      **({} if learning_rate is None else {"learning_rate": learning_rate}))
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"{name}: invalid rho {rho!r}: must be in [0, 1]")
    return dict(lr=None if learning_rate is None else float(learning_rate), rho=float(rho),
                eps=float(eps), eps_placement="inside_both_roots",
                weight_decay=float(weight_decay),
                weight_decay_form="coupled" if weight_decay else "none", maximize=False,
                arithmetic="optax", sqrt_method="correctly_rounded",
                rsqrt_method="one_over_sqrt")


register(Spec(
    name="optax.adadelta", framework="optax", version=VERSION,
    defaults={"learning_rate": None, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0,
              "weight_decay_mask": None},
    rule=_adadelta_rule, bind=_bind_adadelta, reference=SOURCE + "_src/transform.py",
    inert=INERT,
    # optax's own default, learning_rate=None, ascends (see doc); the "defaults" case
    # descends with the same magnitude, and the ascent is checked as its own case.
    variants={
        "defaults": {"learning_rate": 1.0},
        "learning_rate=None": {"learning_rate": None},
        "eps=1e-3": {"learning_rate": 1.0, "eps": 1e-3},
        "eps=1": {"learning_rate": 1.0, "eps": 1.0},
        "rho=0.5": {"learning_rate": 1.0, "rho": 0.5},
        "weight_decay=0.01": {"learning_rate": 1.0, "weight_decay": 0.01},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="eps INSIDE both roots: v = (1-rho)*g^2 + rho*v, d = sqrt(u + eps)/sqrt(v + eps)*g, "
        "u = (1-rho)*d^2 + rho*u, p += -lr*d; learning_rate=None (default) skips the "
        "scaling AND its sign flip: p += d, which ascends; "
        "weight_decay is L2 (g + wd*p)",
))
# --- end Adadelta family -----------------------------------------------------

# --- Adamax family -----------------------------------------------------------
from eps_ref.rules.adamax import adamax as _adamax_rule  # noqa: E402


def _adamax_binder(name):
    def bind(*, learning_rate, b1, b2, eps, weight_decay=0.0, mask=None):
        for keyword, value in (("learning_rate", learning_rate), ("b1", b1), ("b2", b2),
                               ("eps", eps), ("weight_decay", weight_decay)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise unsupported(name, keyword, value)  # schedules, arrays
        if mask is not None:
            raise unsupported(name, "mask", mask)
        # optax checks none of them; eps_ref rejects values that are no rates.
        check_nonnegative(name, learning_rate=learning_rate, eps=eps,
                          weight_decay=weight_decay)
        check_beta(name, b1=b1, b2=b2)
        return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2),
                    eps=float(eps), eps_placement="inside_max",
                    weight_decay=float(weight_decay),
                    weight_decay_form="decoupled_added_to_update" if weight_decay else "none",
                    maximize=False, arithmetic="optax")
    return bind


_ADAMAX_DOC = ("eps INSIDE the max (as torch): m = (1-b1)*g + b1*m, u = max(|g| + eps, b2*u), "
               "u_t = -lr * ((m * (1/(1-b1^t))) / u), b1^t a float32 power")

register(Spec(
    name="optax.adamax", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
    rule=_adamax_rule, bind=_adamax_binder("optax.adamax"),
    reference=SOURCE + "_src/transform.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 2e-3},
        "eps=1e-3": {"learning_rate": 2e-3, "eps": 1e-3},
        "eps=1": {"learning_rate": 2e-3, "eps": 1.0},
        "b1=0.4,b2=0.99": {"learning_rate": 2e-3, "b1": 0.4, "b2": 0.99},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc=_ADAMAX_DOC,
))

register(Spec(
    name="optax.adamaxw", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
              "weight_decay": 1e-4, "mask": None},
    rule=_adamax_rule, bind=_adamax_binder("optax.adamaxw"),
    reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 2e-3},
        "eps=1e-3": {"learning_rate": 2e-3, "eps": 1e-3},
        "eps=1": {"learning_rate": 2e-3, "eps": 1.0},
        "weight_decay=0.1": {"learning_rate": 2e-3, "weight_decay": 0.1},
        "b1=0.4,b2=0.99": {"learning_rate": 2e-3, "b1": 0.4, "b2": 0.99},
    },
    doc=_ADAMAX_DOC.replace("u_t = -lr * ((m * (1/(1-b1^t))) / u)",
                            "u_t = -lr * ((m * (1/(1-b1^t))) / u + wd*p)")
        + "; decoupled weight decay added before the lr scaling (default 1e-4)",
))
# --- end Adamax family -------------------------------------------------------

# --- NAdam family ------------------------------------------------------------
# optax.nadam / optax.nadamw are ``functools.partial(adam[w], nesterov=True)``: the Adam
# rule with Dozat's Nesterov estimate beta1*mu/(1-b1^(t+1)) + (1-b1)*g/(1-b1^t).


def _bind_nadam(*, learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov):
    return dict(**_adam_common("optax.nadam", learning_rate=learning_rate, b1=b1, b2=b2,
                               eps=eps, eps_root=eps_root, mu_dtype=mu_dtype),
                weight_decay=0.0, weight_decay_mode="none", amsgrad="none",
                corrected_moments="both",
                momentum_estimate="nesterov" if nesterov else "bias_corrected")


def _bind_nadamw(*, learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask,
                 nesterov):
    name = "optax.nadamw"
    if not isinstance(weight_decay, (int, float)) or isinstance(weight_decay, bool):
        raise unsupported(name, "weight_decay", weight_decay)  # a schedule
    if mask is not None:
        raise unsupported(name, "mask", mask)
    return dict(**_adam_common(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
                               eps_root=eps_root, mu_dtype=mu_dtype),
                weight_decay=float(weight_decay), weight_decay_mode="decoupled_optax",
                amsgrad="none", corrected_moments="both",
                momentum_estimate="nesterov" if nesterov else "bias_corrected")


_NADAM_DOC = ("eps OUTSIDE the bias-corrected root, eps_root inside, Nesterov estimate: "
              "mu_hat = b1*mu/(1-b1^(t+1)) + (1-b1)*g/(1-b1^t), u = mu_hat / (sqrt(nu_hat + "
              "eps_root) + eps), corrections in float32, p += -lr*u")

register(Spec(
    name="optax.nadam", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
              "eps_root": 0.0, "mu_dtype": None, "nesterov": True},
    rule=_adam_rule, bind=_bind_nadam, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps=1": {**_LR, "eps": 1.0},
        "eps_root=1e-8": {**_LR, "eps_root": 1e-8},
        "b1=0.4,b2=0.99": {**_LR, "b1": 0.4, "b2": 0.99},
        "nesterov=False": {**_LR, "nesterov": False},
    },
    doc=_NADAM_DOC,
))

register(Spec(
    name="optax.nadamw", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
              "eps_root": 0.0, "mu_dtype": None, "weight_decay": 1e-4, "mask": None,
              "nesterov": True},
    rule=_adam_rule, bind=_bind_nadamw, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps=1": {**_LR, "eps": 1.0},
        "weight_decay=0.1": {**_LR, "weight_decay": 0.1},
        "learning_rate=1e-2,weight_decay=0.01": {"learning_rate": 1e-2, "weight_decay": 0.01},
    },
    doc=_NADAM_DOC + "; decoupled weight decay inside the direction: p += -lr*(u + wd*p)",
))
# --- end NAdam family --------------------------------------------------------

# --- RAdam family ------------------------------------------------------------
from eps_ref.rules.radam import radam as _radam_rule  # noqa: E402


def _bind_radam(*, learning_rate, b1, b2, eps, eps_root, threshold, nesterov):
    name = "optax.radam"
    for keyword, value in (("learning_rate", learning_rate), ("b1", b1), ("b2", b2),
                           ("eps", eps), ("eps_root", eps_root), ("threshold", threshold)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(name, keyword, value)  # schedules, callables, arrays
    check_nonnegative(name, learning_rate=learning_rate, eps=eps, eps_root=eps_root)
    check_beta(name, b1=b1, b2=b2)
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                eps_root=float(eps_root), threshold=float(threshold), weight_decay=0.0,
                weight_decay_mode="none", arithmetic="optax",
                momentum_estimate="nesterov" if nesterov else "bias_corrected",
                objective="minimize", sqrt_method="correctly_rounded")


register(Spec(
    name="optax.radam", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
              "eps_root": 0.0, "threshold": 5.0, "nesterov": False},
    rule=_radam_rule, bind=_bind_radam, reference=SOURCE + "_src/transform.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps=1": {**_LR, "eps": 1.0},
        "eps_root=1e-8": {**_LR, "eps_root": 1e-8},
        "threshold=20": {**_LR, "threshold": 20.0},
        "nesterov": {**_LR, "nesterov": True},
        "b1=0.4,b2=0.99": {**_LR, "b1": 0.4, "b2": 0.99},
    },
    doc="eps OUTSIDE the bias-corrected root, eps_root inside, only once rho_t >= threshold "
        "(5; step 6 with b2=0.999): u = r_t*mu_hat / (sqrt(nu_hat + eps_root) + eps), "
        "else u = mu_hat; rho_t, r_t in float32; p += -lr*u",
))
# --- end RAdam family --------------------------------------------------------

# --- Lion family -------------------------------------------------------------
from eps_ref.rules.lion import lion as _lion_rule  # noqa: E402


def _bind_lion(*, learning_rate, b1, b2, mu_dtype, weight_decay, mask):
    name = "optax.lion"
    for keyword, value in (("learning_rate", learning_rate), ("b1", b1), ("b2", b2),
                           ("weight_decay", weight_decay)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(name, keyword, value)  # schedules, callables, arrays
    check_nonnegative(name, learning_rate=learning_rate, weight_decay=weight_decay)
    check_beta(name, b1=b1, b2=b2)   # optax does not check; as optax.adam here
    if mu_dtype is not None:
        raise unsupported(name, "mu_dtype", mu_dtype)
    if mask is not None:
        raise unsupported(name, "mask", mask)
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2),
                weight_decay=float(weight_decay),
                weight_decay_mode="optax" if weight_decay else "none", arithmetic="optax")


register(Spec(
    name="optax.lion", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.99, "mu_dtype": None,
              "weight_decay": 1e-3, "mask": None},
    rule=_lion_rule, bind=_bind_lion, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "b1=0.5,b2=0.9": {"learning_rate": 1e-3, "b1": 0.5, "b2": 0.9},
        "weight_decay=0": {"learning_rate": 1e-3, "weight_decay": 0.0},
        "learning_rate=1e-2,weight_decay=0.1": {"learning_rate": 1e-2, "weight_decay": 0.1},
    },
    doc="no eps (sign(0) = 0): u = sign((1-b1)*g + b1*m) + wd*p, p += -lr*u, "
        "m = (1-b2)*g + b2*m; weight decay 1e-3 by default, inside the lr scaling",
))
# --- end Lion family ---------------------------------------------------------

# --- Rprop family ------------------------------------------------------------
from eps_ref.rules.rprop import rprop as _rprop_rule  # noqa: E402


def _bind_rprop(*, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size):
    name = "optax.rprop"
    for keyword, value in (("learning_rate", learning_rate), ("eta_minus", eta_minus),
                           ("eta_plus", eta_plus), ("min_step_size", min_step_size),
                           ("max_step_size", max_step_size)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise unsupported(name, keyword, value)
    check_nonnegative(name, learning_rate=learning_rate, eta_minus=eta_minus,
                      eta_plus=eta_plus, min_step_size=min_step_size,
                      max_step_size=max_step_size)
    return dict(lr=float(learning_rate), eta_minus=float(eta_minus),
                eta_plus=float(eta_plus), min_step_size=float(min_step_size),
                max_step_size=float(max_step_size), form="optax", objective="minimize")


register(Spec(
    name="optax.rprop", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "eta_minus": 0.5, "eta_plus": 1.2,
              "min_step_size": 1e-6, "max_step_size": 50.0},
    rule=_rprop_rule, bind=_bind_rprop, reference=SOURCE + "_src/transform.py",
    inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-2},
        "learning_rate=1e-3": {"learning_rate": 1e-3},
        "eta_minus=0.3,eta_plus=1.5": {"learning_rate": 1e-2, "eta_minus": 0.3,
                                       "eta_plus": 1.5},
        "min_step_size=1e-3,max_step_size=2e-2": {"learning_rate": 1e-2,
                                                  "min_step_size": 1e-3,
                                                  "max_step_size": 2e-2},
    },
    doc="no eps; s = g*u_prev: step *= eta+ (s>0) / eta- (s<0), clipped, kept where s=0; "
        "applies the PREVIOUS signed step u_prev (zero where s<0): one step behind torch",
))
# --- end Rprop family --------------------------------------------------------

# --- Adafactor family -----------------------------------------------------------------
# --- end Adafactor family -------------------------------------------------------------

# --- Muon family ----------------------------------------------------------------------
# --- end Muon family ------------------------------------------------------------------

# --- Lamb family ----------------------------------------------------------------------
# --- end Lamb family ------------------------------------------------------------------

# --- ScheduleFree family --------------------------------------------------------------
# --- end ScheduleFree family ----------------------------------------------------------

# --- AdaBelief Adan Yogi NovoGrad family ----------------------------------------------
# --- end AdaBelief Adan Yogi NovoGrad family ------------------------------------------

# --- Sign and geometry family ---------------------------------------------------------
# --- end Sign and geometry family -----------------------------------------------------

# --- Gradient clipping ----------------------------------------------------------------
# --- end Gradient clipping ------------------------------------------------------------

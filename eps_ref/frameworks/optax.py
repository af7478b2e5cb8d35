"""The ``optax`` dialect, read from optax 0.2.8.


Keyword names and defaults are the framework's own.
"""

from eps_ref.spec import REQUIRED  # noqa: F401
from eps_ref.spec import (Budget, Spec, check_beta, check_nonnegative, check_number,  # noqa: F401
                          register, register_tree_semantics, unsupported)

VERSION = "0.2.8"
SOURCE = "https://github.com/google-deepmind/optax/blob/v0.2.8/optax/"
INERT = frozenset()


def _divided_on_trees(rule_kwargs, n_leaves):
    if n_leaves > 1 and rule_kwargs.get("correction_op") == "multiply_by_reciprocal":
        return {**rule_kwargs, "correction_op": "divide"}
    return rule_kwargs


def tree_bias_correction(rule_kwargs, n_leaves, shapes=None):
    """``optax.tree.bias_correction`` (``tree_utils/_tree_math.py``) is one ``jax.jit`` over
    the whole moment tree, dividing every leaf by the scalar :math:`1-\\beta^t`. On a tree of
    one leaf XLA:CPU turns that division into a multiplication by the rounded reciprocal
    (``correction_op="multiply_by_reciprocal"``, what the binds say; a leaf of one element
    is divided all the same, :func:`eps_ref.rules._numerics.xla_divide_by_scalar`); on a
    tree of several leaves it divides each leaf (measured on 2 to 26 leaves of 1 to 10^5
    elements). Every optax rule with a bias correction has the ``correction_op`` switch:
    adam, adamw, amsgrad, nadam, nadamw, adamax, adamaxw, radam, adabelief, adan, yogi,
    lamb, rmsprop (``bias_correction=True``), schedule_free_adamw and muon.

    ``optax.contrib.muon`` is an ``optax.partition``: its Muon part runs on the sub-tree of
    the 2-D leaves and its AdamW part (``non_matrix_adamw``) on the sub-tree of the others,
    each with a bias correction of its own, so each part is counted on its own leaves."""
    adamw = rule_kwargs.get("non_matrix_adamw")
    if adamw is None or shapes is None:
        return _divided_on_trees(rule_kwargs, n_leaves)
    matrices = sum(len(shape) == 2 for shape in shapes)
    return {**_divided_on_trees(rule_kwargs, matrices),
            "non_matrix_adamw": _divided_on_trees(adamw, n_leaves - matrices)}


register_tree_semantics("optax", tree_bias_correction)

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
    check_number(qualified, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
                 eps_root=eps_root)
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
    check_number(name, learning_rate=learning_rate, decay=decay, eps=eps,
                 initial_scale=initial_scale)
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
                rsqrt_method="xla_rsqrtps_newton_fma", correction_op="multiply_by_reciprocal")


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
    check_number(name, learning_rate=learning_rate,
                 initial_accumulator_value=initial_accumulator_value, eps=eps)
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
    check_number(name, rho=rho, eps=eps, weight_decay=weight_decay)
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
        check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
                     weight_decay=weight_decay)
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
                    maximize=False, arithmetic="optax",
                    correction_op="multiply_by_reciprocal")
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
    check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                 threshold=threshold)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps, eps_root=eps_root)
    check_beta(name, b1=b1, b2=b2)
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                eps_root=float(eps_root), threshold=float(threshold), weight_decay=0.0,
                weight_decay_mode="none", arithmetic="optax",
                momentum_estimate="nesterov" if nesterov else "bias_corrected",
                objective="minimize", sqrt_method="correctly_rounded",
                correction_op="multiply_by_reciprocal")


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
    check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, weight_decay=weight_decay)
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
    check_number(name, learning_rate=learning_rate, eta_minus=eta_minus, eta_plus=eta_plus,
                 min_step_size=min_step_size, max_step_size=max_step_size)
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
import numpy as _np  # noqa: E402

from eps_ref.rules.adafactor import adafactor_optax as _adafactor_optax_rule  # noqa: E402


def _bind_adafactor(*, learning_rate, min_dim_size_to_factor, decay_rate, decay_offset,
                    multiply_by_parameter_scale, clipping_threshold, momentum, dtype_momentum,
                    weight_decay_rate, eps, factored, weight_decay_mask):
    name = "optax.adafactor"

    def number(keyword, value, optional=False):
        if optional and value is None:
            return None
        check_number(name, **{keyword: value})
        return float(value)

    dtype_name = dtype_momentum if isinstance(dtype_momentum, str) else (
        getattr(getattr(dtype_momentum, "dtype", None), "name", None)
        or getattr(dtype_momentum, "__name__", None))
    if dtype_name != "float32":
        raise unsupported(name, "dtype_momentum", dtype_momentum)
    if weight_decay_mask is not None:
        raise unsupported(name, "weight_decay_mask", weight_decay_mask)
    if not isinstance(min_dim_size_to_factor, int) or isinstance(min_dim_size_to_factor, bool):
        raise unsupported(name, "min_dim_size_to_factor", min_dim_size_to_factor)
    if not isinstance(decay_offset, int) or isinstance(decay_offset, bool):
        raise unsupported(name, "decay_offset", decay_offset)
    check_nonnegative(name, eps=number("eps", eps), decay_rate=number("decay_rate", decay_rate),
                      **({} if learning_rate is None
                         else {"learning_rate": number("learning_rate", learning_rate)}))
    threshold = number("clipping_threshold", clipping_threshold, optional=True)
    if threshold is not None and threshold < 1:
        raise ValueError(f"{name}: clipping_threshold must be >= 1 or None: {threshold}")
    return dict(learning_rate=number("learning_rate", learning_rate, optional=True),
                factored="yes" if factored else "no",
                min_dim_size_to_factor=min_dim_size_to_factor,
                decay_rate=number("decay_rate", decay_rate), decay_offset=decay_offset,
                multiply_by_parameter_scale="yes" if multiply_by_parameter_scale else "no",
                clipping_threshold=threshold,
                momentum=number("momentum", momentum, optional=True),
                weight_decay_rate=number("weight_decay_rate", weight_decay_rate, optional=True),
                eps=number("eps", eps), eps_scale=1e-3, pow_method="libm_powf")


register(Spec(
    name="optax.adafactor", framework="optax", version=VERSION,
    defaults={"learning_rate": None, "min_dim_size_to_factor": 128, "decay_rate": 0.8,
              "decay_offset": 0, "multiply_by_parameter_scale": True,
              "clipping_threshold": 1.0, "momentum": None, "dtype_momentum": _np.float32,
              "weight_decay_rate": None, "eps": 1e-30, "factored": True,
              "weight_decay_mask": None},
    rule=_adafactor_optax_rule, bind=_bind_adafactor, reference=SOURCE + "_src/factorized.py",
    inert=INERT,
    variants={
        "defaults": {},
        "min_dim_size_to_factor=4": {"min_dim_size_to_factor": 4},
        "learning_rate=1e-2,factored": {"learning_rate": 1e-2, "min_dim_size_to_factor": 4},
        "eps=1e-3,factored": {"eps": 1e-3, "min_dim_size_to_factor": 4},
        "clipping_threshold=None,factored": {"clipping_threshold": None,
                                             "learning_rate": 1e-2,
                                             "min_dim_size_to_factor": 4},
        "momentum=0.9,factored": {"momentum": 0.9, "learning_rate": 1e-2,
                                  "min_dim_size_to_factor": 4},
        "weight_decay_rate=1e-3,factored": {"weight_decay_rate": 1e-3, "learning_rate": 1e-2,
                                            "min_dim_size_to_factor": 4},
        "multiply_by_parameter_scale=False": {"multiply_by_parameter_scale": False,
                                              "learning_rate": 1e-2,
                                              "min_dim_size_to_factor": 4},
        "decay_rate=0.5,factored": {"decay_rate": 0.5, "min_dim_size_to_factor": 4},
        "learning_rate=1e-2,unfactored": {"learning_rate": 1e-2},
    },
    # XLA:CPU's pow is glibc's powf, emulated bit for bit (pow_method="libm_powf"): 0 ULP on
    # every variant (with a correctly rounded pow it was up to 131072 ULP).
    doc="eps INSIDE the factored moments (g^2 + 1e-30), no relative step: "
        "u = g (R/mean R)^-1/2 C^-1/2 (XLA pow), u /= max(1, RMS(u)/d), u *= lr, "
        "u *= max(1e-3, RMS(p)), [ema momentum], u += wd p, p -= u; factored only when "
        "the two largest dims are >= min_dim_size_to_factor (128)",
))
# --- end Adafactor family -------------------------------------------------------------

# --- Muon family ----------------------------------------------------------------------
from eps_ref.rules.muon import QUINTIC as _QUINTIC  # noqa: E402
from eps_ref.rules.muon import muon as _muon  # noqa: E402


def _bind_muon(*, learning_rate, ns_coeffs, ns_steps, beta, eps, weight_decay,
               weight_decay_mask, mu_dtype, nesterov, adaptive, preconditioning, adam_b1,
               adam_b2, adam_eps_root, adam_weight_decay, adam_learning_rate,
               muon_weight_dimension_numbers, consistent_rms):
    # optax.partition: every 2-D leaf takes the Muon step (the default dimension numbers),
    # every other leaf optax.adamw with the adam_* keywords, muon's eps, mu_dtype and
    # nesterov (non_matrix_adamw).
    name = "optax.contrib.muon"
    check_number(name, learning_rate=learning_rate, weight_decay=weight_decay)
    adam_lr = learning_rate if adam_learning_rate is None else adam_learning_rate
    check_number(name, adam_learning_rate=adam_lr, adam_weight_decay=adam_weight_decay)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps)
    if isinstance(ns_coeffs, str):
        if ns_coeffs != "standard":
            raise unsupported(name, "ns_coeffs", ns_coeffs)
        ns_coeffs = _QUINTIC
    if len(ns_coeffs) != 3 or not all(isinstance(c, (int, float)) for c in ns_coeffs):
        raise unsupported(name, "ns_coeffs", ns_coeffs)
    for keyword, value, default in (
        ("weight_decay_mask", weight_decay_mask, None), ("adaptive", adaptive, False),
        ("preconditioning", preconditioning, "frobenius"),
        ("muon_weight_dimension_numbers", muon_weight_dimension_numbers, None),
    ):
        if value != default:
            raise unsupported(name, keyword, value)
    if mu_dtype not in (None, "float32"):
        raise unsupported(name, "mu_dtype", mu_dtype)
    return {
        "lr": float(learning_rate),
        "momentum": float(beta),
        "weight_decay": float(weight_decay),
        "ns_coefficients": tuple(float(c) for c in ns_coeffs),
        "ns_steps": int(ns_steps),
        "eps": float(eps),
        "rms_rate": 0.2 if consistent_rms is None else float(consistent_rms),
        "momentum_form": "optax_bias_corrected",
        "lookahead": "nesterov" if nesterov else "none",
        "normalization": "divide_by_norm_plus_eps",
        "ns_precision": "param",
        "ns_form": "scaled_operand_fma",
        "matmul_kernel": "xla_cpu",
        "norm_reduction": "xla_cpu_fused_fma",
        "division": "multiply_by_reciprocal",
        "lr_scale": "sqrt_cols_over_rows" if consistent_rms is None else "rms_matched",
        "apply_form": "optax",
        "correction_op": "multiply_by_reciprocal",
        "non_matrix_adamw": dict(
            **_adam_common(name, learning_rate=adam_lr, b1=adam_b1, b2=adam_b2, eps=eps,
                           eps_root=adam_eps_root, mu_dtype=mu_dtype),
            weight_decay=float(adam_weight_decay), weight_decay_mode="decoupled_optax",
            amsgrad="none", corrected_moments="both",
            momentum_estimate="nesterov" if nesterov else "bias_corrected"),
    }


register(Spec(
    name="optax.contrib.muon",
    framework="optax",
    version=VERSION,
    defaults={"learning_rate": REQUIRED, "ns_coeffs": _QUINTIC, "ns_steps": 5, "beta": 0.95,
              "eps": 1e-8, "weight_decay": 0.0, "weight_decay_mask": None, "mu_dtype": None,
              "nesterov": True, "adaptive": False, "preconditioning": "frobenius",
              "adam_b1": 0.9, "adam_b2": 0.999, "adam_eps_root": 0.0,
              "adam_weight_decay": 0.0, "adam_learning_rate": None,
              "muon_weight_dimension_numbers": None, "consistent_rms": None},
    rule=_muon,
    bind=_bind_muon,
    reference=SOURCE + "contrib/_muon.py",
    inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "no nesterov": {"learning_rate": 1e-3, "nesterov": False},
        "consistent_rms 0.2": {"learning_rate": 1e-3, "consistent_rms": 0.2},
        "weight decay 0.1": {"learning_rate": 1e-3, "weight_decay": 0.1},
        "eps 1e-3": {"learning_rate": 1e-3, "eps": 1e-3},
        "ns_steps 3, beta 0.9": {"learning_rate": 1e-3, "ns_steps": 3, "beta": 0.9},
    },
    budgets={},
    doc="eps is added to the Frobenius norm before Newton-Schulz: X = B^ / (|B^|_F + eps) on "
        "the bias-corrected momentum; u = sqrt(max(1, cols/rows))*O (+ wd*p); p += -lr*u; "
        "leaves that are not 2-D take optax.adamw (adam_b1, adam_b2, adam_eps_root, "
        "adam_weight_decay, adam_learning_rate, and the same eps)",
))
# --- end Muon family ------------------------------------------------------------------

# --- Lamb family ----------------------------------------------------------------------
from eps_ref.rules.lamb import lamb as _lamb_rule  # noqa: E402
from eps_ref.rules.lamb import lars as _lars_rule  # noqa: E402


def _lamb_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bind_lamb(*, learning_rate, b1, b2, eps, eps_root, weight_decay, mask):
    name = "optax.lamb"
    for keyword, value in (("learning_rate", learning_rate), ("b1", b1), ("b2", b2),
                           ("eps", eps), ("eps_root", eps_root),
                           ("weight_decay", weight_decay)):
        if not _lamb_number(value):
            raise unsupported(name, keyword, value)  # schedules, callables, arrays
    check_nonnegative(name, learning_rate=learning_rate, eps=eps, eps_root=eps_root,
                      weight_decay=weight_decay)
    check_beta(name, b1=b1, b2=b2)
    if mask is not None and mask is not True:
        raise unsupported(name, "mask", mask)
    # scale_by_adam, add_decayed_weights, scale_by_trust_ratio, scale_by_learning_rate.
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                eps_root=float(eps_root), weight_decay=float(weight_decay),
                weight_decay_mode="added_to_direction", moment_update="weighted_sum",
                bias_correction="pow_param_dtype", correction_op="multiply_by_reciprocal",
                step_order="negative_lr_last", norm_reduction="xla_cpu_fused_fma",
                sqrt_method="correctly_rounded", zero_norm="ratio_one", phi="identity")


def _bind_lars(*, learning_rate, weight_decay, weight_decay_mask, trust_coefficient, eps,
               trust_ratio_mask, momentum, nesterov):
    name = "optax.lars"
    for keyword, value in (("learning_rate", learning_rate), ("weight_decay", weight_decay),
                           ("trust_coefficient", trust_coefficient), ("eps", eps),
                           ("momentum", momentum)):
        if not _lamb_number(value):
            raise unsupported(name, keyword, value)  # schedules, callables, arrays
    check_nonnegative(name, learning_rate=learning_rate, weight_decay=weight_decay,
                      trust_coefficient=trust_coefficient, eps=eps, momentum=momentum)
    # A mask tree or callable picks leaves; only the all-or-nothing booleans are modelled.
    for keyword, value in (("weight_decay_mask", weight_decay_mask),
                           ("trust_ratio_mask", trust_ratio_mask)):
        if value is not True and value is not False:
            raise unsupported(name, keyword, value)
    return dict(lr=float(learning_rate), momentum=float(momentum),
                weight_decay=float(weight_decay) if weight_decay_mask else 0.0,
                trust_coefficient=float(trust_coefficient), eps=float(eps),
                trust_ratio_scope="layerwise" if trust_ratio_mask else "none",
                lookahead="nesterov" if nesterov else "none",
                norm_reduction="xla_cpu_fused_fma", sqrt_method="correctly_rounded")


register(Spec(
    name="optax.lamb", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-6,
              "eps_root": 0.0, "weight_decay": 0.0, "mask": None},
    rule=_lamb_rule, bind=_bind_lamb, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "eps=1e-3": {"learning_rate": 1e-3, "eps": 1e-3},
        "eps=1": {"learning_rate": 1e-3, "eps": 1.0},
        "eps_root=1e-8": {"learning_rate": 1e-3, "eps_root": 1e-8},
        "weight_decay=0.01": {"learning_rate": 1e-3, "weight_decay": 0.01},
        "learning_rate=1e-2,b1=0.5,b2=0.99": {"learning_rate": 1e-2, "b1": 0.5, "b2": 0.99},
    },
    doc="eps OUTSIDE the bias-corrected root, eps_root inside: u = mu_hat / (sqrt(nu_hat + "
        "eps_root) + eps) + wd*p; trust ratio ||p||/||u|| (jnp.linalg.norm: fused "
        "multiply-add sum; 1 if either norm is 0); p += -lr*(u*ratio)",
))

register(Spec(
    name="optax.lars", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "weight_decay": 0.0, "weight_decay_mask": True,
              "trust_coefficient": 0.001, "eps": 0.0, "trust_ratio_mask": True,
              "momentum": 0.9, "nesterov": False},
    rule=_lars_rule, bind=_bind_lars, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-2},
        "eps=1e-3": {"learning_rate": 1e-2, "eps": 1e-3},
        "weight_decay=0.01": {"learning_rate": 1e-2, "weight_decay": 0.01},
        "nesterov": {"learning_rate": 1e-2, "nesterov": True},
        "trust_coefficient=1,momentum=0": {"learning_rate": 1e-2, "trust_coefficient": 1.0,
                                           "momentum": 0.0},
        "trust_ratio_mask=False": {"learning_rate": 1e-2, "trust_ratio_mask": False},
        "weight_decay_mask=False": {"learning_rate": 1e-2, "weight_decay": 0.01,
                                    "weight_decay_mask": False},
    },
    doc="eps in the trust-ratio denominator (default 0): u = g + wd*p, "
        "r = tc*||p|| / (||u|| + eps) (1 if either norm is 0), d = -lr*(u*r), "
        "b = d + mu*b, p += b (Nesterov: p += d + mu*b)",
))
# --- end Lamb family ------------------------------------------------------------------

# --- ScheduleFree family --------------------------------------------------------------
from eps_ref.rules.schedule_free import schedule_free_adamw as _schedule_free_rule  # noqa: E402


def _bind_schedule_free_adamw(*, learning_rate, warmup_steps, b1, b2, eps, weight_decay,
                              weight_lr_power, state_dtype):
    name = "optax.contrib.schedule_free_adamw"
    check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
                 weight_decay=weight_decay, weight_lr_power=weight_lr_power)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps, weight_decay=weight_decay)
    check_beta(name, b2=b2)
    if not 0.0 < b1 < 1.0:
        raise ValueError(f"{name}: invalid b1 {b1!r}: must be in (0, 1) "
                         "(the evaluation point divides by b1)")
    if warmup_steps is not None and (not isinstance(warmup_steps, int)
                                     or isinstance(warmup_steps, bool)):
        raise unsupported(name, "warmup_steps", warmup_steps)
    if state_dtype is not None:
        raise unsupported(name, "state_dtype", state_dtype)
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                warmup_steps=0 if warmup_steps is None else warmup_steps,
                weight_decay=float(weight_decay), weight_decay_mode="added_to_direction",
                average_weights="lr_max_power",
                warmup_schedule="none" if warmup_steps is None else "optax_linear",
                weight_lr_power=float(weight_lr_power), previous_z="before_step",
                arithmetic="optax", scalar_division="multiply_by_reciprocal",
                correction_op="multiply_by_reciprocal", sqrt_method="correctly_rounded")


register(Spec(
    name="optax.contrib.schedule_free_adamw", framework="optax", version=VERSION,
    defaults={"learning_rate": 0.0025, "warmup_steps": None, "b1": 0.9, "b2": 0.999,
              "eps": 1e-8, "weight_decay": 0.0, "weight_lr_power": 2.0, "state_dtype": None},
    rule=_schedule_free_rule, bind=_bind_schedule_free_adamw,
    reference=SOURCE + "contrib/_schedule_free.py", inert=INERT,
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "warmup_steps=100": {"warmup_steps": 100},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "weight_lr_power=0": {"warmup_steps": 100, "weight_lr_power": 0.0},
        "learning_rate=1e-3,b1=0.5": {"learning_rate": 1e-3, "b1": 0.5},
    },
    doc="params hold y (gradient point), state.z holds z: eps OUTSIDE the corrected root, "
        "u = g / (sqrt(nu_hat) + eps) + wd*y, z += -lr_t*u; x = (y - (1-b1)*z)/b1, "
        "x = (1-c)*x + c*z with c = lr_max^2 / sum lr_max^2; y = b1*x + (1-b1)*z; evaluate "
        "at schedule_free_eval_params(state, params)",
))
# --- end ScheduleFree family ----------------------------------------------------------

# --- AdaBelief Adan Yogi NovoGrad family ----------------------------------------------
# No other dialect ships these: torch.optim, Keras 3, tf_keras and tf.compat.v1.train have
# none of the four (AdaBelief, Yogi and NovoGrad lived in the end-of-life tensorflow_addons).
from eps_ref.rules.adabelief import adabelief as _adabelief_rule  # noqa: E402
from eps_ref.rules.adan import adan as _adan_rule  # noqa: E402
from eps_ref.rules.novograd import novograd as _novograd_rule  # noqa: E402
from eps_ref.rules.yogi import yogi as _yogi_rule  # noqa: E402



def _bind_adabelief(*, learning_rate, b1, b2, eps, eps_root, nesterov):
    name = "optax.adabelief"
    check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps, eps_root=eps_root)
    check_beta(name, b1=b1, b2=b2)   # optax does not check; as optax.adam here
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                eps_root=float(eps_root),
                momentum_estimate="nesterov" if nesterov else "bias_corrected",
                correction_op="multiply_by_reciprocal")


def _bind_adan(*, learning_rate, b1, b2, b3, eps, eps_root, weight_decay, mask):
    name = "optax.adan"
    check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, b3=b3, eps=eps,
             eps_root=eps_root, weight_decay=weight_decay)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps, eps_root=eps_root,
                      weight_decay=weight_decay)
    check_beta(name, b1=b1, b2=b2, b3=b3)
    if mask is not None:
        raise unsupported(name, "mask", mask)
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), beta3=float(b3),
                eps=float(eps), eps_root=float(eps_root), weight_decay=float(weight_decay),
                correction_op="multiply_by_reciprocal")


def _bind_yogi(*, learning_rate, b1, b2, eps):
    name = "optax.yogi"
    check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps)
    check_beta(name, b1=b1, b2=b2)
    # alias.yogi passes neither eps_root nor initial_accumulator_value: scale_by_yogi's.
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                eps_root=0.0, initial_accumulator_value=1e-6,
                correction_op="multiply_by_reciprocal")


def _bind_novograd(*, learning_rate, b1, b2, eps, eps_root, weight_decay):
    name = "optax.novograd"
    check_number(name, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
             weight_decay=weight_decay)
    check_nonnegative(name, learning_rate=learning_rate, eps=eps, eps_root=eps_root,
                      weight_decay=weight_decay)
    check_beta(name, b1=b1, b2=b2)
    return dict(lr=float(learning_rate), beta1=float(b1), beta2=float(b2), eps=float(eps),
                eps_root=float(eps_root), weight_decay=float(weight_decay),
                multiply_add="fused")


register(Spec(
    name="optax.adabelief", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-16,
              "eps_root": 1e-16, "nesterov": False},
    rule=_adabelief_rule, bind=_bind_adabelief, reference=SOURCE + "_src/transform.py",
    inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-8,eps_root=0 (paper)": {**_LR, "eps": 1e-8, "eps_root": 0.0},
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps_root=1e-8": {**_LR, "eps_root": 1e-8},
        "nesterov": {**_LR, "nesterov": True},
        "b1=0.5,b2=0.99": {**_LR, "b1": 0.5, "b2": 0.99},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="eps_root ADDED TO THE STORED belief every step, eps outside the corrected root: "
        "m = (1-b1)*g + b1*m, s = (1-b2)*(g-m)^2 + b2*s + eps_root, u = m_hat / "
        "(sqrt(s_hat) + eps), corrections m*(1/(1-b^t)) in float32, p += -lr*u",
))

register(Spec(
    name="optax.adan", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.98, "b2": 0.92, "b3": 0.99, "eps": 1e-8,
              "eps_root": 1e-8, "weight_decay": 0.0, "mask": None},
    rule=_adan_rule, bind=_bind_adan, reference=SOURCE + "_src/transform.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps_root=0": {**_LR, "eps_root": 0.0},
        "weight_decay=0.02": {**_LR, "weight_decay": 0.02},
        "b1=0.9,b2=0.9,b3=0.999": {**_LR, "b1": 0.9, "b2": 0.9, "b3": 0.999},
        "learning_rate=1e-2,weight_decay=0.01": {"learning_rate": 1e-2, "weight_decay": 0.01},
    },
    doc="eps outside AND eps_root (1e-8) inside the corrected root, gradient differences "
        "d = g - g_prev (0 at step 1): m = (1-b1)*g + b1*m, v = (1-b2)*d + b2*v, n = "
        "(1-b3)*(g + (1-b2)*d)^2 + b3*n, u = (m_hat + (1-b2)*v_hat) / (sqrt(n_hat + "
        "eps_root) + eps), p += -lr*(u + wd*p)",
))

register(Spec(
    name="optax.yogi", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.999, "eps": 1e-3},
    rule=_yogi_rule, bind=_bind_yogi, reference=SOURCE + "_src/transform.py", inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-8": {**_LR, "eps": 1e-8},
        "eps=1": {**_LR, "eps": 1.0},
        "b1=0.5,b2=0.99": {**_LR, "b1": 0.5, "b2": 0.99},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="eps = 1e-3 (large) OUTSIDE the corrected root, moments start at 1e-6: m = "
        "(1-b1)*g + b1*m, v = v - (1-b2)*sign(v - g^2)*g^2, u = m_hat / (sqrt(v_hat) + eps), "
        "corrections in float32, p += -lr*u",
))

register(Spec(
    name="optax.novograd", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "b1": 0.9, "b2": 0.25, "eps": 1e-6,
              "eps_root": 0.0, "weight_decay": 0.0},
    rule=_novograd_rule, bind=_bind_novograd, reference=SOURCE + "_src/transform.py",
    inert=INERT,
    variants={
        "defaults": dict(_LR),
        "eps=1e-3": {**_LR, "eps": 1e-3},
        "eps_root=1e-8": {**_LR, "eps_root": 1e-8},
        "weight_decay=0.01": {**_LR, "weight_decay": 0.01},
        "b1=0.95,b2=0.98": {**_LR, "b1": 0.95, "b2": 0.98},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="ONE scalar second moment per array from its squared norm, eps outside its root, "
        "no bias correction: nu = |g|^2 (step 1) else b2*nu + (1-b2)*|g|^2, d = g / "
        "(sqrt(nu + eps_root) + eps) + wd*p, m = d (step 1) else b1*m + d, p += -lr*m; "
        "XLA:CPU FMAs inside optax's lax.cond",
))
# --- end AdaBelief Adan Yogi NovoGrad family ------------------------------------------

# --- Sign and geometry family ---------------------------------------------------------
from eps_ref.rules.fromage import fromage as _fromage_rule  # noqa: E402
from eps_ref.rules.optimistic import optimistic_gradient as _optimistic_rule  # noqa: E402
from eps_ref.rules.signsgd import signum as _signum_rule  # noqa: E402
from eps_ref.rules.sm3 import sm3 as _sm3_rule  # noqa: E402


def _numbers(name, **values):
    """Plain numbers only: schedules, callables and arrays change the math and are not
    modelled."""
    for keyword, value in values.items():
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or value != value):
            raise unsupported(name, keyword, value)


def _bind_sign_sgd(*, learning_rate):
    name = "optax.sign_sgd"
    _numbers(name, learning_rate=learning_rate)
    check_nonnegative(name, learning_rate=learning_rate)
    return dict(lr=float(learning_rate), beta=0.0, average="none")


def _bind_signum(*, learning_rate, beta, accumulator_dtype):
    name = "optax.signum"
    _numbers(name, learning_rate=learning_rate, beta=beta)
    check_nonnegative(name, learning_rate=learning_rate)
    check_beta(name, beta=beta)   # optax does not check; as optax.adam here
    if accumulator_dtype is not None:
        raise unsupported(name, "accumulator_dtype", accumulator_dtype)
    return dict(lr=float(learning_rate), beta=float(beta), average="ema")


def _bind_sm3(*, learning_rate, momentum):
    name = "optax.sm3"
    _numbers(name, learning_rate=learning_rate, momentum=momentum)
    check_nonnegative(name, learning_rate=learning_rate)
    check_beta(name, momentum=momentum)
    # alias.sm3 chains scale_by_sm3(b1=momentum) (b2=1, eps=1e-8 fixed) and scale(-lr).
    return dict(lr=float(learning_rate), beta1=float(momentum), beta2=1.0, eps=1e-8,
                rsqrt_method="xla_rsqrtps_newton_fma")


def _bind_fromage(*, learning_rate, min_norm):
    name = "optax.fromage"
    _numbers(name, learning_rate=learning_rate, min_norm=min_norm)
    check_nonnegative(name, learning_rate=learning_rate, min_norm=min_norm)
    return dict(lr=float(learning_rate), min_norm=float(min_norm),
                norm_method="xla_cpu_fused_fma")


def _bind_optimistic(*, learning_rate, alpha, beta):
    name = "optax.optimistic_gradient_descent"
    _numbers(name, learning_rate=learning_rate, alpha=alpha, beta=beta)
    check_nonnegative(name, learning_rate=learning_rate)
    return dict(lr=float(learning_rate), alpha=float(alpha), beta=float(beta))


register(Spec(
    name="optax.sign_sgd", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED},
    rule=_signum_rule, bind=_bind_sign_sgd, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="no eps (sign(0) = 0, a 1e-10 gradient moves the full lr): p += -lr*sign(g)",
))

register(Spec(
    name="optax.signum", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "beta": 0.9, "accumulator_dtype": None},
    rule=_signum_rule, bind=_bind_signum, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "beta=0.5": {"learning_rate": 1e-3, "beta": 0.5},
        "beta=0": {"learning_rate": 1e-3, "beta": 0.0},
        "learning_rate=1e-2,beta=0.99": {"learning_rate": 1e-2, "beta": 0.99},
    },
    doc="no eps, no bias correction: m = (1-beta)*g + beta*m, p += -lr*sign(m)",
))

register(Spec(
    name="optax.sm3", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "momentum": 0.9},
    rule=_sm3_rule, bind=_bind_sm3, reference=SOURCE + "_src/transform.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "momentum=0": {"learning_rate": 1e-3, "momentum": 0.0},
        "learning_rate=1e-2,momentum=0.5": {"learning_rate": 1e-2, "momentum": 0.5},
    },
    doc="eps 1e-8 inside the root, fixed (not a keyword): nu = g^2 + min over axes of the "
        "per-axis accumulators, u = g*rsqrt(nu + eps) (0 where nu = 0), "
        "m = (1-momentum)*u + momentum*m, p += -lr*m, accumulators = max of nu per axis",
))

register(Spec(
    name="optax.fromage", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "min_norm": 1e-6},
    rule=_fromage_rule, bind=_bind_fromage, reference=SOURCE + "_src/alias.py", inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
        "min_norm=2.2": {"learning_rate": 1e-3, "min_norm": 2.2},
        "min_norm=0": {"learning_rate": 1e-3, "min_norm": 0.0},
    },
    doc="min_norm 1e-6 floors both per-leaf norms: r = |p|/|g|, mu = 1/sqrt(1+lr^2), "
        "p += -lr*mu*(g*r) + (mu-1)*p",
))

register(Spec(
    name="optax.optimistic_gradient_descent", framework="optax", version=VERSION,
    defaults={"learning_rate": REQUIRED, "alpha": 1.0, "beta": 1.0},
    rule=_optimistic_rule, bind=_bind_optimistic, reference=SOURCE + "_src/transform.py",
    inert=INERT,
    variants={
        "defaults": {"learning_rate": 1e-3},
        "alpha=1,beta=0": {"learning_rate": 1e-3, "alpha": 1.0, "beta": 0.0},
        "alpha=0.1,beta=0.3": {"learning_rate": 1e-2, "alpha": 0.1, "beta": 0.3},
    },
    doc="no eps: u = (alpha+beta)*g - beta*g_prev (g_prev = g at step 1), p += -lr*u",
))
# --- end Sign and geometry family -----------------------------------------------------

# --- Gradient clipping ----------------------------------------------------------------
from eps_ref.rules import clipping as _clipping  # noqa: E402
from eps_ref.spec import GradientTransform as _GradientTransform  # noqa: E402


def _check_clip_threshold(name, keyword, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name}: {keyword} must be a number >= 0, got {value!r} (optax "
                         "accepts a negative one and flips or scrambles the updates)")


def _bind_clip_by_global_norm(*, max_norm):
    _check_clip_threshold("optax.clip_by_global_norm", "max_norm", max_norm)
    return {"max_norm": float(max_norm), "division": "multiply_by_reciprocal"}


register(Spec(
    name="optax.clip_by_global_norm",
    framework="optax",
    version=VERSION,
    kind="clip",
    defaults={"max_norm": REQUIRED},
    rule=_GradientTransform("optax_clip_by_global_norm", _clipping.optax_clip_by_global_norm),
    bind=_bind_clip_by_global_norm,
    reference=SOURCE + "transforms/_clipping.py",
    inert=INERT,
    variants={
        "max_norm 1.0": {"max_norm": 1.0},
        "max_norm 10.0": {"max_norm": 10.0},
    },
    doc="no eps; g unchanged if ||g|| < max_norm, else (g * (1/||g||)) * max_norm "
        "(XLA:CPU divides by a broadcast scalar as a reciprocal multiply)",
))


def _bind_clip(*, max_delta):
    _check_clip_threshold("optax.clip", "max_delta", max_delta)
    return {"max_delta": float(max_delta)}


register(Spec(
    name="optax.clip",
    framework="optax",
    version=VERSION,
    kind="clip",
    defaults={"max_delta": REQUIRED},
    rule=_GradientTransform("optax_clip", _clipping.optax_clip),
    bind=_bind_clip,
    reference=SOURCE + "transforms/_clipping.py",
    inert=INERT,
    variants={
        "max_delta 0.1": {"max_delta": 0.1},
        "max_delta 1.0": {"max_delta": 1.0},
    },
    doc="no eps; g = clip(g, -max_delta, max_delta) elementwise",
))
# --- end Gradient clipping ------------------------------------------------------------

"""The ``torch.optim`` dialect, read from PyTorch 2.13.

Keyword names and defaults are the constructors' own. ``foreach``, ``fused``,
``capturable`` and ``differentiable`` select kernels; each spec lists as inert those that
do not change its CPU arithmetic. Where a kernel rounds differently (``fused=True`` for SGD,
Adam, AdamW and Adagrad; ``foreach=True`` for NAdam, RAdam, ASGD and Adafactor), the rule
reproduces that kernel.

On CPU a ``_foreach_*`` op runs the single-tensor op on each tensor of its list, so a
``foreach=True`` path differs only where ``_multi_tensor_<name>`` orders its ops otherwise;
the fused kernels loop over the list the same way. Measured bit for bit on parameter lists
of 1 to 10^6 elements a tensor (``conformance/test_torch_optim_at_size.py``), 1 and 2
threads, under torch's default CPU dispatch (AVX-512 here) and ``ATEN_CPU_CAPABILITY=avx2``:
the optimizer kernels register with ``REGISTER_DISPATCH``, whose AVX-512 slot is empty, so
both run the AVX2 build.
"""

from eps_ref.spec import REQUIRED  # noqa: F401
from eps_ref.spec import (Budget, Spec, check_beta, check_nonnegative, check_number,  # noqa: F401
                          register, unsupported)

VERSION = "2.13.0"
SOURCE = "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/optim/"
INERT = frozenset({"foreach", "fused", "capturable", "differentiable"})

# --- SGD family -------------------------------------------------------------------------
from eps_ref.rules.sgd import sgd as _sgd  # noqa: E402


def _bind_sgd(*, lr, momentum, dampening, weight_decay, nesterov, maximize, foreach,
              differentiable, fused):
    name = "torch.optim.SGD"
    check_number(name, lr=lr, weight_decay=weight_decay)
    check_nonnegative(name, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    with_momentum = momentum != 0
    return {
        "lr": float(lr),
        "momentum": float(momentum),
        "dampening": float(dampening) if with_momentum else 0.0,
        "weight_decay": float(weight_decay),
        "momentum_form": ("torch_fused_cpu" if fused else "torch") if with_momentum else "none",
        "lookahead": "nesterov" if nesterov else "none",
        "weight_decay_form": "coupled",
        # ``x.add(y, alpha=a)`` is one fused multiply-add in torch's CPU kernels.
        "multiply_add": "fused",
        "objective": "maximize" if maximize else "minimize",
    }


register(Spec(
    name="torch.optim.SGD",
    framework="torch",
    version=VERSION,
    defaults={"lr": 1e-3, "momentum": 0, "dampening": 0, "weight_decay": 0,
              "nesterov": False, "maximize": False, "foreach": None,
              "differentiable": False, "fused": None},
    rule=_sgd,
    bind=_bind_sgd,
    reference=SOURCE + "sgd.py",
    inert=INERT - {"capturable", "fused"},
    # ``fused=True`` runs ATen's FusedSGDKernel.cpp: the single-tensor arithmetic on whole
    # 8-float vectors, but its scalar tail rounds the buffer differently (momentum_form
    # "torch_fused_cpu"; up to 84 ULP apart on a 61-element tensor over 300 steps).
    variants={
        "defaults": {},
        "lr 1e-2": {"lr": 1e-2},
        "momentum 0.9": {"lr": 1e-2, "momentum": 0.9},
        "dampening 0.5": {"lr": 1e-2, "momentum": 0.9, "dampening": 0.5},
        "nesterov": {"lr": 1e-2, "momentum": 0.9, "nesterov": True},
        "weight decay 1e-2": {"lr": 1e-2, "weight_decay": 1e-2},
        "momentum, weight decay": {"lr": 1e-2, "momentum": 0.9, "weight_decay": 1e-2},
        "maximize": {"lr": 1e-2, "momentum": 0.9, "maximize": True},
        "nesterov, weight decay, maximize": {"lr": 1e-2, "momentum": 0.9, "nesterov": True,
                                             "weight_decay": 1e-2, "maximize": True},
        "foreach": {"lr": 1e-2, "momentum": 0.9, "dampening": 0.5, "foreach": True},
        "fused": {"lr": 1e-2, "momentum": 0.9, "dampening": 0.5, "fused": True},
    },
    doc="no eps; b_1 = g, b_t = mu*b + (1-dampening)*g, p -= lr*b (Nesterov: lr*(g + mu*b)); "
        "every x + a*y is one FMA",
))
# --- end SGD family ---------------------------------------------------------------------

# --- Adam family ------------------------------------------------------------------------
from eps_ref.rules.adam import adam as _adam_rule  # noqa: E402


def _adam_binder(name, decoupled_default):
    def bind(*, lr, betas, eps, weight_decay, amsgrad, foreach, maximize, capturable,
             differentiable, fused, decoupled_weight_decay=decoupled_default):
        if not isinstance(lr, (int, float)) or isinstance(lr, bool):
            raise unsupported(name, "lr", lr)       # a Tensor lr takes another code path
        if not lr >= 0.0:
            raise ValueError(f"{name}: Invalid learning rate: {lr}")
        if not eps >= 0.0:
            raise ValueError(f"{name}: Invalid epsilon value: {eps}")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair of floats, got {betas!r}")
        for i, beta in enumerate(betas):
            if not isinstance(beta, float):
                raise ValueError(f"{name}: betas must be either both floats or both Tensors "
                                 f"(eps_ref models floats), got {betas!r}")
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta}")
        if not weight_decay >= 0.0:
            raise ValueError(f"{name}: Invalid weight_decay value: {weight_decay}")
        if fused and differentiable:
            raise RuntimeError(f"{name}: `fused` does not support `differentiable`")
        if fused and foreach:
            raise RuntimeError(f"{name}: `fused` and `foreach` cannot be `True` together.")
        # capturable / differentiable take another branch (tensor step sizes, the eps
        # divided by -step_size), not modelled. foreach=True runs the same ops one list at
        # a time (CPU foreach kernels loop over the tensors): bit-identical, measured.
        if capturable:
            raise unsupported(name, "capturable", capturable)
        if differentiable:
            raise unsupported(name, "differentiable", differentiable)
        decoupled = bool(decoupled_weight_decay)
        return dict(lr=float(lr), beta1=betas[0], beta2=betas[1], eps=float(eps),
                    eps_root=0.0, weight_decay=float(weight_decay),
                    weight_decay_mode="decoupled_torch" if decoupled else "coupled_fma",
                    eps_placement="outside_corrected_root_folded",
                    amsgrad="max_of_raw" if amsgrad else "none",
                    moment_update="torch_fused_cpu" if fused else "lerp_addcmul_fma",
                    one_minus_beta="python_float",
                    bias_correction="python_float", corrected_moments="both",
                    momentum_estimate="bias_corrected",
                    objective="maximize" if maximize else "minimize",
                    first_moment_dtype=None,
                    # the single-tensor path calls torch.sqrt (MKL); the fused CPU kernel
                    # (fused=True) takes the vectorized hardware square root.
                    sqrt_method="correctly_rounded" if fused else "mkl_goldschmidt_rsqrtps",
                    correction_op="divide")
    return bind


# fused=True changes the square root, capturable/differentiable the op order (see bind).
_ADAM_INERT = frozenset({"foreach"})

_ADAM_DOC = ("eps OUTSIDE the bias-corrected root (Algorithm 1): m = lerp(m, g, 1-b1), "
             "v = b2*v + (1-b2)*g^2, p += -(lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps), "
             "bias corrections in Python float64")

register(Spec(
    name="torch.optim.Adam", framework="torch", version=VERSION,
    defaults={"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
              "amsgrad": False, "foreach": None, "maximize": False, "capturable": False,
              "differentiable": False, "fused": None, "decoupled_weight_decay": False},
    rule=_adam_rule, bind=_adam_binder("torch.optim.Adam", False),
    reference=SOURCE + "adam.py", inert=_ADAM_INERT,
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "amsgrad": {"amsgrad": True},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "decoupled_weight_decay": {"weight_decay": 0.01, "decoupled_weight_decay": True},
        "maximize": {"maximize": True},
        "fused": {"fused": True},
        "foreach": {"foreach": True},
        "betas=(0.4,0.99)": {"betas": (0.4, 0.99)},
        "lr=1e-2,amsgrad,weight_decay=0.01": {"lr": 1e-2, "amsgrad": True,
                                              "weight_decay": 0.01},
    },
    doc=_ADAM_DOC + "; weight_decay is L2 (g + wd*p) unless decoupled_weight_decay=True",
))

register(Spec(
    name="torch.optim.AdamW", framework="torch", version=VERSION,
    defaults={"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2,
              "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
              "differentiable": False, "fused": None},
    rule=_adam_rule, bind=_adam_binder("torch.optim.AdamW", True),
    reference=SOURCE + "adamw.py", inert=_ADAM_INERT,
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "amsgrad": {"amsgrad": True},
        "weight_decay=0.1": {"weight_decay": 0.1},
        "maximize": {"maximize": True},
        "fused,amsgrad": {"fused": True, "amsgrad": True},
        "lr=1e-2": {"lr": 1e-2},
    },
    doc=_ADAM_DOC + "; decoupled weight decay p *= 1 - lr*wd before the step",
))
# --- end Adam family --------------------------------------------------------------------

# --- RMSProp family ---------------------------------------------------------------------
from eps_ref.rules.rmsprop import rmsprop as _rmsprop_rule  # noqa: E402


def _bind_rmsprop(*, lr, alpha, eps, weight_decay, momentum, centered, capturable, foreach,
                  maximize, differentiable):
    name = "torch.optim.RMSprop"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)
    check_nonnegative(name, lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                      alpha=alpha)
    return dict(lr=float(lr), decay=float(alpha), eps=float(eps),
                eps_placement="outside_sqrt", initial_square_avg=0.0,
                centered=bool(centered), momentum=float(momentum),
                momentum_form="lr_outside_buffer" if momentum > 0 else "none",
                bias_correction="none", weight_decay=float(weight_decay),
                weight_decay_form="coupled", maximize=bool(maximize),
                arithmetic="torch_cpu", sqrt_method="mkl_goldschmidt_rsqrtps",
                rsqrt_method="one_over_sqrt")


register(Spec(
    name="torch.optim.RMSprop", framework="torch", version=VERSION,
    defaults={"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0, "momentum": 0,
              "centered": False, "capturable": False, "foreach": None, "maximize": False,
              "differentiable": False},
    rule=_rmsprop_rule, bind=_bind_rmsprop, reference=SOURCE + "rmsprop.py",
    inert=INERT - {"fused"},
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "centered": {"centered": True},
        "momentum=0.9": {"momentum": 0.9},
        "centered+momentum=0.9": {"centered": True, "momentum": 0.9},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "alpha=0.4,centered": {"alpha": 0.4, "centered": True},
        "maximize": {"maximize": True},
        "lr=1e-3,alpha=0.9,eps=1e-3": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-3},
    },
    doc="eps OUTSIDE the root, v0 = 0: v = alpha*v + (1-alpha)*g^2, "
        "p -= lr * g / (sqrt(v) + eps); momentum buffers g/(sqrt(v)+eps), lr applied after",
))
# --- end RMSProp family -----------------------------------------------------------------

# --- Adagrad family ---------------------------------------------------------------------
from eps_ref.rules.adagrad import adagrad as _adagrad_rule  # noqa: E402


def _bind_adagrad(*, lr, lr_decay, weight_decay, initial_accumulator_value, eps, foreach,
                  maximize, differentiable, fused):
    name = "torch.optim.Adagrad"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)
    check_nonnegative(name, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                      initial_accumulator_value=initial_accumulator_value, eps=eps)
    # std = state_sum.sqrt().add_(eps): torch.sqrt on CPU is MKL's vmsSqrt (ATen/cpu/vml.h);
    # state_sum.addcmul_(g, g, value=1) is one FMA in ATen's vectorized kernel. fused=True
    # runs FusedAdagradKernel.cpp: the same FMAs (vector loop and scalar tail alike, measured)
    # but the hardware square root, correctly rounded.
    return dict(lr=float(lr), lr_decay=float(lr_decay), eps=float(eps),
                eps_placement="outside_sqrt", update_order="lr_grad_over_root",
                sqrt_method="correctly_rounded" if fused else "mkl_goldschmidt_rsqrtps",
                rsqrt_method="one_over_sqrt",
                accumulate="fma",
                initial_accumulator_value=float(initial_accumulator_value),
                weight_decay=float(weight_decay),
                weight_decay_mode="coupled_fma" if weight_decay else "none",
                direction="maximize" if maximize else "minimize")


register(Spec(
    name="torch.optim.Adagrad", framework="torch", version=VERSION,
    defaults={"lr": 1e-2, "lr_decay": 0, "weight_decay": 0, "initial_accumulator_value": 0,
              "eps": 1e-10, "foreach": None, "maximize": False, "differentiable": False,
              "fused": None},
    rule=_adagrad_rule, bind=_bind_adagrad, reference=SOURCE + "adagrad.py",
    inert=INERT - {"capturable", "fused"},
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "initial_accumulator_value=0.1": {"initial_accumulator_value": 0.1},
        "lr_decay=0.01": {"lr_decay": 0.01},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "maximize": {"maximize": True},
        "lr=1e-3,eps=1e-3,initial_accumulator_value=0.1":
            {"lr": 1e-3, "eps": 1e-3, "initial_accumulator_value": 0.1},
        "fused": {"fused": True},
        "fused,weight_decay=0.01,lr_decay=0.01": {"fused": True, "weight_decay": 0.01,
                                                  "lr_decay": 0.01},
    },
    doc="eps OUTSIDE the root, G0 = 0: G += g*g (one FMA); "
        "p -= clr * g / (sqrt(G) + eps), clr = lr / (1 + (t-1)*lr_decay) in float64",
))
# --- end Adagrad family -----------------------------------------------------------------

# --- Adadelta family ---------------------------------------------------------
from eps_ref.rules.adadelta import adadelta as _adadelta_rule  # noqa: E402


def _bind_adadelta(*, lr, rho, eps, weight_decay, foreach, capturable, maximize,
                   differentiable):
    name = "torch.optim.Adadelta"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)            # a Tensor lr is read with .item()
    if not 0.0 <= lr:
        raise ValueError(f"{name}: Invalid learning rate: {lr}")
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"{name}: Invalid rho value: {rho}")
    if not 0.0 <= eps:
        raise ValueError(f"{name}: Invalid epsilon value: {eps}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"{name}: Invalid weight_decay value: {weight_decay}")
    # capturable only moves the step counter to the device; differentiable clones delta.
    return dict(lr=float(lr), rho=float(rho), eps=float(eps),
                eps_placement="inside_both_roots", weight_decay=float(weight_decay),
                weight_decay_form="coupled" if weight_decay else "none",
                maximize=bool(maximize), arithmetic="torch_cpu",
                sqrt_method="mkl_goldschmidt_rsqrtps", rsqrt_method="one_over_sqrt")


register(Spec(
    name="torch.optim.Adadelta", framework="torch", version=VERSION,
    defaults={"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0, "foreach": None,
              "capturable": False, "maximize": False, "differentiable": False},
    rule=_adadelta_rule, bind=_bind_adadelta, reference=SOURCE + "adadelta.py",
    inert=INERT - {"fused"},
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "rho=0.5": {"rho": 0.5},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "maximize": {"maximize": True},
        "foreach": {"foreach": True},
        "lr=1e-2,rho=0.99": {"lr": 1e-2, "rho": 0.99},
    },
    doc="eps INSIDE both roots: v = rho*v + (1-rho)*g^2, d = sqrt(u + eps)/sqrt(v + eps)*g, "
        "u = rho*u + (1-rho)*d^2, p -= lr*d (lr 1.0); weight_decay is L2 (g + wd*p)",
))
# --- end Adadelta family -----------------------------------------------------

# --- Adamax family -----------------------------------------------------------
from eps_ref.rules.adamax import adamax as _adamax_rule  # noqa: E402


def _bind_adamax(*, lr, betas, eps, weight_decay, foreach, maximize, differentiable,
                 capturable):
    name = "torch.optim.Adamax"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)
    if not 0.0 <= lr:
        raise ValueError(f"{name}: Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"{name}: Invalid epsilon value: {eps}")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair of floats, got {betas!r}")
    for i, beta in enumerate(betas):
        if not isinstance(beta, (int, float)) or isinstance(beta, bool):
            raise unsupported(name, "betas", betas)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"{name}: Invalid weight_decay value: {weight_decay}")
    # capturable divides by a tensor bias correction (another op order), not modelled;
    # differentiable takes the same maximum through cat/amax.
    if capturable:
        raise unsupported(name, "capturable", capturable)
    return dict(lr=float(lr), beta1=float(betas[0]), beta2=float(betas[1]), eps=float(eps),
                eps_placement="inside_max", weight_decay=float(weight_decay),
                weight_decay_form="coupled" if weight_decay else "none",
                maximize=bool(maximize), arithmetic="torch_cpu")


register(Spec(
    name="torch.optim.Adamax", framework="torch", version=VERSION,
    defaults={"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
              "foreach": None, "maximize": False, "differentiable": False,
              "capturable": False},
    rule=_adamax_rule, bind=_bind_adamax, reference=SOURCE + "adamax.py",
    inert=INERT - {"fused", "capturable"},
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "betas=(0.4,0.99)": {"betas": (0.4, 0.99)},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "maximize": {"maximize": True},
        "foreach": {"foreach": True},
        "lr=1e-2": {"lr": 1e-2},
    },
    doc="eps INSIDE the max: m = lerp(m, g, 1-b1), u = max(b2*u, |g| + eps), "
        "p -= (lr/(1-b1^t)) * m / u, lr/(1-b1^t) in Python float64; weight_decay is L2",
))
# --- end Adamax family -------------------------------------------------------

# --- NAdam family ------------------------------------------------------------
from eps_ref.rules.nadam import nadam as _nadam_rule  # noqa: E402


def _torch_adam_like_checks(name, *, lr, betas, eps, weight_decay, capturable, differentiable):
    """torch's constructor checks shared by NAdam and RAdam; capturable / differentiable
    take another branch (tensor step sizes, separate multiplies), not modelled."""
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)           # a Tensor lr
    if not lr >= 0.0:
        raise ValueError(f"{name}: Invalid learning rate: {lr}")
    if not eps >= 0.0:
        raise ValueError(f"{name}: Invalid epsilon value: {eps}")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair of floats, got {betas!r}")
    for i, beta in enumerate(betas):
        if not isinstance(beta, (int, float)) or isinstance(beta, bool):
            raise unsupported(name, "betas", betas)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{name}: Invalid beta parameter at index {i}: {beta}")
    if not weight_decay >= 0.0:
        raise ValueError(f"{name}: Invalid weight_decay value: {weight_decay}")
    if capturable:
        raise unsupported(name, "capturable", capturable)
    if differentiable:
        raise unsupported(name, "differentiable", differentiable)


def _bind_nadam(*, lr, betas, eps, weight_decay, momentum_decay, decoupled_weight_decay,
                foreach, maximize, capturable, differentiable):
    name = "torch.optim.NAdam"
    _torch_adam_like_checks(name, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                            capturable=capturable, differentiable=differentiable)
    if not momentum_decay >= 0.0:
        raise ValueError(f"{name}: Invalid momentum_decay value: {momentum_decay}")
    return dict(lr=float(lr), beta1=float(betas[0]), beta2=float(betas[1]), eps=float(eps),
                momentum_decay=float(momentum_decay), weight_decay=float(weight_decay),
                weight_decay_mode="decoupled_torch" if decoupled_weight_decay
                else "coupled_fma",
                schedule_arithmetic="python_float", mu_product_update="times_mu",
                moment_update="lerp_addcmul_fma", one_minus_beta="python_float",
                # _multi_tensor_nadam divides sqrt(v) by sqrt(1 - b2^t) (single: sqrt(v / .)).
                step_form="torch_foreach_addcdiv" if foreach else "torch_addcdiv",
                objective="maximize" if maximize else "minimize",
                sqrt_method="mkl_goldschmidt_rsqrtps", scalar_division="divide")


register(Spec(
    name="torch.optim.NAdam", framework="torch", version=VERSION,
    defaults={"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
              "momentum_decay": 4e-3, "decoupled_weight_decay": False, "foreach": None,
              "maximize": False, "capturable": False, "differentiable": False},
    rule=_nadam_rule, bind=_bind_nadam, reference=SOURCE + "nadam.py",
    inert=frozenset(),
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "momentum_decay=0.1": {"momentum_decay": 0.1},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "decoupled_weight_decay": {"weight_decay": 0.01, "decoupled_weight_decay": True},
        "maximize": {"maximize": True},
        "betas=(0.4,0.99)": {"betas": (0.4, 0.99)},
        "foreach": {"foreach": True},
    },
    doc="eps OUTSIDE the bias-corrected root: mu_t = b1*(1 - 0.5*0.96^(t*momentum_decay)), "
        "d = sqrt(v/(1-b2^t)) + eps, p += (-lr*(1-mu_t)/(1-prod_t))*g/d + "
        "(-lr*mu_{t+1}/(1-prod_t*mu_{t+1}))*m/d, scalars in Python float64",
))
# --- end NAdam family --------------------------------------------------------

# --- RAdam family ------------------------------------------------------------
from eps_ref.rules.radam import radam as _radam_rule  # noqa: E402


def _bind_radam(*, lr, betas, eps, weight_decay, decoupled_weight_decay, foreach, maximize,
                capturable, differentiable):
    name = "torch.optim.RAdam"
    _torch_adam_like_checks(name, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                            capturable=capturable, differentiable=differentiable)
    return dict(lr=float(lr), beta1=float(betas[0]), beta2=float(betas[1]), eps=float(eps),
                eps_root=0.0, threshold=5.0, weight_decay=float(weight_decay),
                weight_decay_mode="decoupled_torch" if decoupled_weight_decay
                else "coupled_fma",
                # _multi_tensor_radam folds the step into one multiplier per element.
                arithmetic="torch_cpu_foreach" if foreach else "torch_cpu",
                momentum_estimate="bias_corrected",
                objective="maximize" if maximize else "minimize",
                sqrt_method="mkl_goldschmidt_rsqrtps")


register(Spec(
    name="torch.optim.RAdam", framework="torch", version=VERSION,
    defaults={"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
              "decoupled_weight_decay": False, "foreach": None, "maximize": False,
              "capturable": False, "differentiable": False},
    rule=_radam_rule, bind=_bind_radam, reference=SOURCE + "radam.py", inert=frozenset(),
    variants={
        "defaults": {},
        "eps=1e-3": {"eps": 1e-3},
        "eps=1": {"eps": 1.0},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "decoupled_weight_decay": {"weight_decay": 0.01, "decoupled_weight_decay": True},
        "maximize": {"maximize": True},
        "betas=(0.4,0.99)": {"betas": (0.4, 0.99)},
        "lr=1e-2": {"lr": 1e-2},
        "foreach": {"foreach": True},
    },
    doc="eps OUTSIDE the root, only once rho_t > 5 (step 6 with b2=0.999): "
        "p -= ((m/(1-b1^t))*lr) * (sqrt(1-b2^t)/(sqrt(v) + eps)) * r_t; before: "
        "p -= (m/(1-b1^t))*lr; rho_t and r_t in Python float64",
))
# --- end RAdam family --------------------------------------------------------


# --- Rprop family ------------------------------------------------------------
from eps_ref.rules.rprop import rprop as _rprop_rule  # noqa: E402


def _bind_rprop(*, lr, etas, step_sizes, capturable, foreach, maximize, differentiable):
    name = "torch.optim.Rprop"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)           # a Tensor lr
    if not 0.0 <= lr:
        raise ValueError(f"{name}: Invalid learning rate: {lr}")
    if not (isinstance(etas, (tuple, list)) and len(etas) == 2
            and isinstance(step_sizes, (tuple, list)) and len(step_sizes) == 2):
        raise ValueError(f"{name}: etas and step_sizes must be pairs, got {etas!r}, "
                         f"{step_sizes!r}")
    if not 0.0 < etas[0] < 1.0 < etas[1]:
        raise ValueError(f"{name}: Invalid eta values: {etas[0]}, {etas[1]}")
    return dict(lr=float(lr), eta_minus=float(etas[0]), eta_plus=float(etas[1]),
                min_step_size=float(step_sizes[0]), max_step_size=float(step_sizes[1]),
                form="torch", objective="maximize" if maximize else "minimize")


register(Spec(
    name="torch.optim.Rprop", framework="torch", version=VERSION,
    defaults={"lr": 1e-2, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50), "capturable": False,
              "foreach": None, "maximize": False, "differentiable": False},
    rule=_rprop_rule, bind=_bind_rprop, reference=SOURCE + "rprop.py",
    # the foreach and capturable paths compute the same products, selects and clamps.
    inert=INERT - {"fused"},
    variants={
        "defaults": {},
        "lr=1e-3": {"lr": 1e-3},
        "etas=(0.3,1.5)": {"etas": (0.3, 1.5)},
        "step_sizes=(1e-3,2e-2)": {"step_sizes": (1e-3, 2e-2)},
        "lr=1e-3,step_sizes=(1e-4,1e-3)": {"lr": 1e-3, "step_sizes": (1e-4, 1e-3)},
        "maximize": {"maximize": True},
        "foreach": {"foreach": True, "etas": (0.3, 1.5)},
    },
    doc="no eps; s = g*g_prev: step *= eta+ (s>0) / eta- (s<0) / 1, clamped every step; "
        "p -= sign(g)*step, skipped (and g_prev = 0) where the sign flipped",
))
# --- end Rprop family --------------------------------------------------------

# --- ASGD family -------------------------------------------------------------
from eps_ref.rules.asgd import asgd as _asgd_rule  # noqa: E402


def _bind_asgd(*, lr, lambd, alpha, t0, weight_decay, foreach, maximize, differentiable,
               capturable):
    name = "torch.optim.ASGD"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)           # a Tensor lr
    if not 0.0 <= lr:
        raise ValueError(f"{name}: Invalid learning rate: {lr}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"{name}: Invalid weight_decay value: {weight_decay}")
    # foreach=True runs _multi_tensor_asgd: p - (g + lambd*p)*eta and the schedule in
    # float32 tensor arithmetic; capturable computes the schedule on the device, not modelled.
    if capturable:
        raise unsupported(name, "capturable", capturable)
    return dict(lr=float(lr), lambd=float(lambd), alpha=float(alpha), t0=float(t0),
                weight_decay=float(weight_decay),
                objective="maximize" if maximize else "minimize",
                arithmetic="torch_cpu_foreach" if foreach else "torch_cpu")


# The decay term p*(1 - lambd*eta) moves the parameter under a zero gradient at the
# defaults (tests/test_properties.py sets lambd=0 for its no-move property).
register(Spec(
    name="torch.optim.ASGD", framework="torch", version=VERSION,
    defaults={"lr": 1e-2, "lambd": 1e-4, "alpha": 0.75, "t0": 1e6, "weight_decay": 0,
              "foreach": None, "maximize": False, "differentiable": False,
              "capturable": False},
    rule=_asgd_rule, bind=_bind_asgd, reference=SOURCE + "asgd.py",
    inert=frozenset({"differentiable"}),
    variants={
        "defaults": {},
        "t0=100": {"t0": 100.0},
        "lambd=0.1,alpha=0.5,t0=10": {"lambd": 0.1, "alpha": 0.5, "t0": 10.0},
        "lr=1e-3,lambd=1": {"lr": 1e-3, "lambd": 1.0},
        "weight_decay=0.01": {"weight_decay": 0.01, "t0": 100.0},
        "maximize": {"maximize": True},
        "foreach,lambd=0.1,alpha=0.5,t0=10": {"foreach": True, "lambd": 0.1, "alpha": 0.5,
                                              "t0": 10.0},
    },
    doc="no eps; p = p*(1 - lambd*eta_t) - eta_t*g (one FMA), "
        "eta_t = lr/(1 + lambd*lr*(t-1))^alpha in float64 rounded to float32; "
        "average ax += (p - ax)*mu_t, mu_t = 1/max(1, t-1-t0)",
))
# --- end ASGD family ---------------------------------------------------------

# --- Adafactor family -----------------------------------------------------------------
from eps_ref.rules.adafactor import adafactor_torch as _adafactor_torch_rule  # noqa: E402


def _bind_adafactor(*, lr, beta2_decay, eps, d, weight_decay, foreach, maximize):
    name = "torch.optim.Adafactor"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)           # a Tensor lr
    if not 0.0 <= lr:
        raise ValueError(f"{name}: Learning rate should be >= 0 but is: {lr}")
    if not 0.0 >= beta2_decay:
        raise ValueError(f"{name}: beta2_decay should be <= 0 but is: {beta2_decay}")
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise ValueError(f"{name}: eps must be a pair (eps1 or None, eps2): {eps!r}")
    eps1, eps2 = eps
    if eps1 is not None and not 0.0 <= eps1:
        raise ValueError(f"{name}: epsilon1 should be >= 0 but is: {eps1}")
    if not 0.0 <= eps2:
        raise ValueError(f"{name}: epsilon2 should be >= 0 but is: {eps2}")
    if not 1.0 <= d:
        raise ValueError(f"{name}: Clipping threshold d should be >= 1 but is: {d}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"{name}: weight_decay should be >= 0 but is: {weight_decay}")
    return dict(lr=float(lr), beta2_decay=float(beta2_decay),
                eps1=None if eps1 is None else float(eps1), eps2=float(eps2), d=float(d),
                weight_decay=float(weight_decay),
                objective="maximize" if maximize else "minimize",
                # _multi_tensor_adafactor: _foreach_mul_(updates, alphas), then _foreach_add_.
                apply_form="mul_then_add" if foreach else "add_alpha")


register(Spec(
    name="torch.optim.Adafactor", framework="torch", version=VERSION,
    defaults={"lr": 1e-2, "beta2_decay": -0.8, "eps": (None, 1e-3), "d": 1.0,
              "weight_decay": 0.0, "foreach": None, "maximize": False},
    rule=_adafactor_torch_rule, bind=_bind_adafactor, reference=SOURCE + "_adafactor.py",
    inert=frozenset(),
    variants={
        "defaults": {},
        "eps1=1e-30": {"eps": (1e-30, 1e-3)},
        "eps2=1": {"eps": (None, 1.0)},
        "eps1=1e-3,eps2=1e-3": {"eps": (1e-3, 1e-3)},
        "d=2": {"d": 2.0},
        "lr=1e-3": {"lr": 1e-3},
        "beta2_decay=-0.5": {"beta2_decay": -0.5},
        "weight_decay=0.1": {"weight_decay": 0.1},
        "maximize": {"maximize": True},
        "foreach": {"foreach": True},
    },
    doc="eps1 (machine eps by default) NOT added to g^2: V = R C / max(mean R, eps1), "
        "U = g * rsqrt(max(V, eps1^2)); R, C lerp to norm(g, dim)^2/n by t^-0.8; "
        "p -= max(eps2, RMS(p)) min(lr, 1/sqrt t) U / max(1, RMS(U)/d)",
))
# --- end Adafactor family -------------------------------------------------------------

# --- Muon family ----------------------------------------------------------------------
from eps_ref.rules.muon import muon as _muon  # noqa: E402


def _bind_muon(*, lr, weight_decay, momentum, nesterov, ns_coefficients, eps, ns_steps,
               adjust_lr_fn):
    name = "torch.optim.Muon"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise unsupported(name, "lr", lr)
    check_nonnegative(name, lr=lr, momentum=momentum, weight_decay=weight_decay, eps=eps)
    if adjust_lr_fn not in (None, "original", "match_rms_adamw"):
        raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    return {
        "lr": float(lr),
        "momentum": float(momentum),
        "weight_decay": float(weight_decay),
        "ns_coefficients": tuple(float(c) for c in ns_coefficients),
        "ns_steps": int(ns_steps),
        "eps": float(eps),
        "rms_rate": 0.2,
        "momentum_form": "torch_lerp",
        "lookahead": "nesterov" if nesterov else "none",
        # _zeropower_via_newtonschulz: grad.bfloat16(), X / clamp(norm, min=eps), addmm.
        "normalization": "divide_by_norm_clamped_to_eps",
        "ns_precision": "bfloat16",
        "ns_form": "torch_addmm",
        "matmul_kernel": "aten_bfloat16",
        "lr_scale": "rms_matched" if adjust_lr_fn == "match_rms_adamw" else "sqrt_rows_over_cols",
        "apply_form": "torch",
    }


register(Spec(
    name="torch.optim.Muon",
    framework="torch",
    version=VERSION,
    defaults={"lr": 1e-3, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True,
              "ns_coefficients": (3.4445, -4.775, 2.0315), "eps": 1e-7, "ns_steps": 5,
              "adjust_lr_fn": None},
    rule=_muon,
    bind=_bind_muon,
    reference=SOURCE + "_muon.py",
    inert=frozenset(),
    variants={
        "defaults": {},
        "no nesterov": {"nesterov": False},
        "match_rms_adamw": {"adjust_lr_fn": "match_rms_adamw"},
        "no weight decay, lr 1e-2": {"lr": 1e-2, "weight_decay": 0.0},
        "eps 1e-3": {"eps": 1e-3},
        "ns_steps 3, momentum 0.9": {"ns_steps": 3, "momentum": 0.9},
    },
    doc="eps clamps the Frobenius norm before Newton-Schulz: X = bf16(B~) / max(|X|_F, eps); "
        "5 quintic NS steps in bfloat16; p = p(1 - lr*wd) - lr*sqrt(max(1, rows/cols))*O",
))
# --- end Muon family ------------------------------------------------------------------

# --- Gradient clipping ----------------------------------------------------------------
from eps_ref.rules import clipping as _clipping  # noqa: E402
from eps_ref.spec import GradientTransform as _GradientTransform  # noqa: E402

_CLIP_SOURCE = "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/nn/utils/clip_grad.py"


def _check_threshold(name, keyword, value, *, allow_zero):
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or value != value
            or value < 0 or (value == 0 and not allow_zero)):
        raise ValueError(f"{name}: {keyword} must be a number {'>=' if allow_zero else '>'} 0, "
                         f"got {value!r} (torch accepts it and flips or zeroes the gradients)")


def _bind_clip_grad_norm(*, max_norm, norm_type, error_if_nonfinite, foreach):
    name = "torch.nn.utils.clip_grad_norm_"
    _check_threshold(name, "max_norm", max_norm, allow_zero=True)
    try:
        p = float(norm_type)                      # torch: norm_type = float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: norm_type must be a number or 'inf', got {norm_type!r}") \
            from None
    if p not in (2.0, float("inf")):
        raise unsupported(name, "norm_type", norm_type)
    if not isinstance(error_if_nonfinite, bool):
        raise ValueError(f"{name}: error_if_nonfinite must be True or False")
    return {"max_norm": float(max_norm), "norm_type": p,
            "error_if_nonfinite": error_if_nonfinite, "eps": 1e-6}


register(Spec(
    name="torch.nn.utils.clip_grad_norm_",
    framework="torch",
    version=VERSION,
    kind="clip",
    defaults={"max_norm": REQUIRED, "norm_type": 2.0, "error_if_nonfinite": False,
              "foreach": None},
    rule=_GradientTransform("torch_clip_grad_norm", _clipping.torch_clip_grad_norm),
    bind=_bind_clip_grad_norm,
    reference=_CLIP_SOURCE,
    inert=frozenset({"foreach"}),
    variants={
        "max_norm 1.0": {"max_norm": 1.0},
        "max_norm 10.0": {"max_norm": 10.0},
        "max_norm 1.0, norm_type inf": {"max_norm": 1.0, "norm_type": "inf"},
    },
    doc="eps added to the norm: g *= min(max_norm * (1 / (||(||g_i||)_i|| + 1e-6)), 1)",
))


def _bind_clip_grad_value(*, clip_value, foreach):
    _check_threshold("torch.nn.utils.clip_grad_value_", "clip_value", clip_value,
                     allow_zero=True)
    return {"clip_value": float(clip_value)}


register(Spec(
    name="torch.nn.utils.clip_grad_value_",
    framework="torch",
    version=VERSION,
    kind="clip",
    defaults={"clip_value": REQUIRED, "foreach": None},
    rule=_GradientTransform("torch_clip_grad_value", _clipping.torch_clip_grad_value),
    bind=_bind_clip_grad_value,
    reference=_CLIP_SOURCE,
    inert=frozenset({"foreach"}),
    variants={
        "clip_value 0.1": {"clip_value": 0.1},
        "clip_value 1.0": {"clip_value": 1.0},
    },
    doc="no eps; g = clamp(g, -clip_value, clip_value) elementwise",
))
# --- end Gradient clipping ------------------------------------------------------------

# --- Normalization layers ---------------------------------------------------------------
# Read from torch/nn/modules/{batchnorm,normalization,instancenorm}.py and the CPU kernels
# aten/src/ATen/native/{Normalization,layer_norm}.cpp, cpu/batch_norm_kernel.cpp.
from eps_ref.norms import BATCH_NORM as _BATCH_NORM  # noqa: E402
from eps_ref.norms import FEATURE_NORM as _FEATURE_NORM  # noqa: E402
from eps_ref.norms import GROUP_NORM as _GROUP_NORM  # noqa: E402
from eps_ref.spec import REQUIRED as _REQUIRED  # noqa: E402

_NN = "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/nn/modules/"
_NN_INERT = frozenset({"device"})


def _check_layer_common(name, eps, dtype):
    check_nonnegative(name, eps=eps)
    if dtype is not None:
        raise unsupported(name, "dtype", dtype)


def _positive_int(name, **values):
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name}: {k} must be a positive integer, got {v!r}")


def _batch_norm_bind(name, input_ndims):
    def bind(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias):
        _positive_int(name, num_features=num_features)
        _check_layer_common(name, eps, dtype)
        if momentum is not None:
            check_nonnegative(name, momentum=momentum)
        return dict(
            axis=1, num_features=num_features, input_ndims=input_ndims, name=name,
            eps=float(eps), momentum=None if momentum is None else float(momentum),
            momentum_form="cumulative_average" if momentum is None else "weight_on_batch",
            running_variance="unbiased", variance="two_pass", reduction="torch_cpu_batch_norm",
            training_invstd="float64", affine_form="torch_cpu_fused",
            eval_statistics="running" if track_running_stats else "batch",
            running_var_update="torch_cpu", min_values_per_channel=1,
            learn_scale=bool(affine), learn_bias=bool(affine and bias),
            track_running_stats=bool(track_running_stats))
    return bind


_BN_DEFAULTS = {"num_features": _REQUIRED, "eps": 1e-05, "momentum": 0.1, "affine": True,
                "track_running_stats": True, "device": None, "dtype": None, "bias": True}
_BN_VARIANTS = {
    "defaults": {"num_features": 6},
    "momentum None (cumulative average)": {"num_features": 6, "momentum": None},
    "eps 1e-3, momentum 0.01": {"num_features": 6, "eps": 1e-3, "momentum": 0.01},
    "no affine, no running stats": {"num_features": 6, "affine": False,
                                    "track_running_stats": False},
}
for _suffix, _ndims in (("1d", (2, 3)), ("2d", (4,)), ("3d", (5,))):
    _name = f"torch.nn.BatchNorm{_suffix}"
    register(Spec(
        name=_name, framework="torch", version=VERSION, kind="layer",
        defaults=dict(_BN_DEFAULTS), rule=_BATCH_NORM, bind=_batch_norm_bind(_name, _ndims),
        reference=_NN + "batchnorm.py", inert=_NN_INERT, variants=_BN_VARIANTS,
        doc="eps 1e-5 inside the sqrt; running = m*batch + (1-m)*running with the unbiased "
            "batch variance (normalizes with the biased one); momentum=None averages "
            "cumulatively; statistics summed in float64 per channel, or for (N, C), (N, C, 1) "
            "and channels-last inputs in float32 per thread and the thread sums in float64"))


def _layer_norm_bind(normalized_shape, eps, elementwise_affine, bias, device, dtype):
    name = "torch.nn.LayerNorm"
    _check_layer_common(name, eps, dtype)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    _positive_int(name, **{f"normalized_shape[{i}]": d for i, d in enumerate(shape)})
    return dict(trailing_shape=shape, eps=float(eps), variance="torch_rowwise_welford",
                reduction="torch_cpu_avx2", affine_form="center_then_fma",
                learn_scale=bool(elementwise_affine),
                learn_bias=bool(elementwise_affine and bias), name=name)


register(Spec(
    name="torch.nn.LayerNorm", framework="torch", version=VERSION, kind="layer",
    defaults={"normalized_shape": _REQUIRED, "eps": 1e-05, "elementwise_affine": True,
              "bias": True, "device": None, "dtype": None},
    rule=_FEATURE_NORM, bind=_layer_norm_bind, reference=_NN + "normalization.py",
    inert=_NN_INERT,
    variants={"defaults": {"normalized_shape": (6,)},
              "eps 1e-3": {"normalized_shape": (6,), "eps": 1e-3},
              "no affine": {"normalized_shape": (6,), "elementwise_affine": False}},
    doc="eps 1e-5 inside the sqrt; y = fma((x - mean) * rstd, weight, bias) over the "
        "trailing normalized_shape"))


def _group_norm_bind(num_groups, num_channels, eps, affine, device, dtype, bias):
    name = "torch.nn.GroupNorm"
    _positive_int(name, num_groups=num_groups, num_channels=num_channels)
    if num_channels % num_groups:
        raise ValueError(f"{name}: num_channels must be divisible by num_groups "
                         f"({num_channels} % {num_groups} != 0)")
    _check_layer_common(name, eps, dtype)
    # group_norm_kernel.cpp: rstd = 1 / sqrt(max(var, 0) + eps) with eps a double, rounded
    # once; y = scale * x + bias (FMA) with gamma or beta, (x - mean) * rstd without both
    return dict(groups=num_groups, channel_axis=1, num_channels=num_channels, eps=float(eps),
                variance="torch_rowwise_welford", reduction="torch_cpu_avx2",
                invstd_precision="float64",
                affine_form="torch_cpu_fused" if affine else "center_scale",
                learn_scale=bool(affine), learn_bias=bool(affine and bias), name=name)


register(Spec(
    name="torch.nn.GroupNorm", framework="torch", version=VERSION, kind="layer",
    defaults={"num_groups": _REQUIRED, "num_channels": _REQUIRED, "eps": 1e-05,
              "affine": True, "device": None, "dtype": None, "bias": True},
    rule=_GROUP_NORM, bind=_group_norm_bind, reference=_NN + "normalization.py",
    inert=_NN_INERT,
    variants={"defaults": {"num_groups": 3, "num_channels": 6},
              "eps 1e-3, 2 groups": {"num_groups": 2, "num_channels": 6, "eps": 1e-3},
              "no affine": {"num_groups": 3, "num_channels": 6, "affine": False}},
    doc="eps 1e-5 inside the sqrt; statistics per sample and group of channels (axis 1); "
        "rstd computed in float64 and rounded once"))


def _instance_norm_bind(name, input_ndims):
    def bind(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias):
        _positive_int(name, num_features=num_features)
        _check_layer_common(name, eps, dtype)
        if track_running_stats:
            raise unsupported(name, "track_running_stats", track_running_stats)
        return dict(feature_axes=(1,), reduce_axes="spatial", input_ndims=input_ndims,
                    eps=float(eps), variance="two_pass", reduction="sequential_float64",
                    invstd_precision="float64", affine_form="torch_cpu_fused",
                    min_values_per_group=1,
                    learn_scale=bool(affine), learn_bias=bool(affine and bias), name=name)
    return bind


for _suffix, _ndims in (("1d", (3,)), ("2d", (4,)), ("3d", (5,))):
    _name = f"torch.nn.InstanceNorm{_suffix}"
    register(Spec(
        name=_name, framework="torch", version=VERSION, kind="layer",
        defaults={"num_features": _REQUIRED, "eps": 1e-05, "momentum": 0.1, "affine": False,
                  "track_running_stats": False, "device": None, "dtype": None, "bias": True},
        rule=_FEATURE_NORM, bind=_instance_norm_bind(_name, _ndims),
        reference=_NN + "instancenorm.py", inert=_NN_INERT | {"momentum"},
        variants={"defaults": {"num_features": 6},
                  "affine, eps 1e-3": {"num_features": 6, "affine": True, "eps": 1e-3}},
        doc="eps 1e-5 inside the sqrt; batch norm's kernel on each (sample, channel); no "
            "affine and no running statistics by default"))


def _rms_norm_bind(normalized_shape, eps, elementwise_affine, device, dtype):
    name = "torch.nn.RMSNorm"
    if eps is not None:
        check_nonnegative(name, eps=eps)
    if dtype is not None:
        raise unsupported(name, "dtype", dtype)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return dict(trailing_shape=shape, eps=None if eps is None else float(eps),
                use_mean=False, variance="two_pass", reduction="torch_cpu_avx2",
                affine_form="normalize_then_scale", learn_scale=bool(elementwise_affine),
                learn_bias=False, name=name)


register(Spec(
    name="torch.nn.RMSNorm", framework="torch", version=VERSION, kind="layer",
    defaults={"normalized_shape": _REQUIRED, "eps": None, "elementwise_affine": True,
              "device": None, "dtype": None},
    rule=_FEATURE_NORM, bind=_rms_norm_bind, reference=_NN + "normalization.py",
    inert=_NN_INERT,
    variants={"defaults": {"normalized_shape": (6,)},
              "eps 1e-5": {"normalized_shape": (6,), "eps": 1e-5}},
    doc="eps None = finfo(dtype).eps (1.19e-7 in float32) inside the sqrt; "
        "y = x * rsqrt(mean(x^2) + eps) * weight"))
# --- end Normalization layers -----------------------------------------------------------

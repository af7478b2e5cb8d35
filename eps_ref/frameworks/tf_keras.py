r"""The ``tf_keras`` dialect: legacy Keras 2 from the ``tf-keras`` package, read from 2.21.0.

Two generations of optimizers live in that package:

``tf_keras.optimizers.legacy.*`` (``OptimizerV2``)
    The Keras 2.0-2.10 optimizers, behind most TensorFlow results since 2019. Most of them
    call TensorFlow's C++ training kernels (``ResourceApplyAdam``,
    ``ResourceApplyKerasMomentum``, ``ResourceApplyRMSProp``, ``ResourceApplyAdagradV2``,
    ``ResourceApplyAdadelta``, ``ResourceApplyAdaMax`` in
    ``tensorflow/core/kernels/training_ops.cc``), so they share the TF1 dialect's kernel
    arithmetic, with Keras' own defaults (epsilon 1e-7, RMSprop's ``rms`` slot at zeros).
    RMSprop takes two paths: with ``momentum > 0`` the ``ApplyRMSProp`` kernel puts eps
    INSIDE the root; with ``momentum == 0`` Python ops put it OUTSIDE. A falsy ``epsilon``
    (0 or None) becomes ``backend.epsilon()`` = 1e-7, as in the framework.
``tf_keras.optimizers.*`` (the Keras 2.11+ ``Optimizer``)
    Python ``update_step`` methods, close to Keras 3's (and bit-identical to them for SGD,
    Adam, AdamW, Adagrad, Adamax, Lion). ``jit_compile=True`` is the default, but
    ``Optimizer.__init__`` keeps it only when a GPU is visible: on a CPU-only host the step
    runs op by op, so ``jit_compile`` does not change the CPU arithmetic this dialect
    certifies (it is listed as inert; measured: identical trajectories with True and False).
    With XLA forced on a CPU (``opt.jit_compile = True`` after construction, which no
    user gets without a GPU) the compiled step contracts multiply-adds and rewrites
    divisions, and the 1000-step defaults drift from this dialect by up to: SGD 0, Lion 0,
    RMSprop 1320, Adadelta 1694, Adagrad 3314, Adamax 3984, Adam 8160, AdamW 16320,
    Nadam 46272 ULP. That XLA path (the one GPUs take) is not modelled.

``legacy.Nadam`` keeps Dozat's slow schedule :math:`0.96^{0.004 t}` (its ``schedule_decay``
keyword), where the Keras 2.11+ ``Nadam`` uses :math:`0.96^t`.

Both generations take the clipping keywords, and the Keras 2.11+ optimizers the moving
average too; tf_keras computes them with TensorFlow ops that differ from Keras 3's, and this
dialect runs them around every rule with :class:`eps_ref.rules.tf_keras_base.TfKerasBase`
(registered with :func:`eps_ref.spec.register_base_options`):

``clipnorm``
    ``tf.clip_by_norm`` on each variable: :math:`g c / \max(\lVert g\rVert_2, c)`, the sum of
    squares in Eigen's order.
``global_clipnorm``
    ``tf.clip_by_global_norm``: the norm :math:`\sqrt{2 \sum \mathrm{l2\_loss}(g_i)}` from
    halved squares, and :math:`s = c \min(1/N, \mathrm{fl}(1)/\mathrm{fl}(c))` in float32
    (Keras 3 rounds the float64 :math:`1/c`: at ``global_clipnorm=2.3`` the two drift 4224
    ULP apart on Adam).
``clipvalue``
    ``tf.clip_by_value``. The Keras 2.11+ ``Optimizer`` runs only the first of ``clipnorm``,
    ``global_clipnorm``, ``clipvalue`` that is set (here ``clipvalue`` with another raises);
    a legacy optimizer (``**kwargs``, :attr:`~eps_ref.spec.Spec.var_keywords`) runs
    ``clipvalue`` first, then ``clipnorm`` or ``global_clipnorm``.
``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency`` (Keras 2.11+ only)
    after each step :math:`\bar\theta \leftarrow \mathrm{fl}(\mu)\bar\theta +
    \mathrm{fl}(1-\mu)\theta`, :math:`1-\mu` subtracted in float64, the average starting as
    a copy of the initial parameters; every ``ema_overwrite_frequency`` steps the
    parameters are assigned the average.

Thresholds that tf_keras silently skips (0 or less) raise here. All of it is 0 ULP over the
1000-step conformance stream (whose 1e3 spikes make every clip bite).

Keyword names and defaults are the framework's own.
"""

import math

from eps_ref.rules.tf_keras_base import TfKerasBase
from eps_ref.spec import (Spec, check_beta, check_nonnegative, check_number,  # noqa: F401
                          register, register_base_options, unsupported)
from eps_ref.spec import spec as _spec

VERSION = "2.21.0"
SOURCE = "https://github.com/keras-team/tf-keras/blob/v2.21.0/tf_keras/src/optimizers/"
KERNELS = ("https://github.com/tensorflow/tensorflow/blob/v2.21.0/"
           "tensorflow/core/kernels/training_ops.cc")
INERT = frozenset({"name"})
NEW_INERT = INERT | {"jit_compile"}
LEGACY_EPSILON = 1e-7
"""``tf_keras.backend.epsilon()``: what a legacy optimizer uses when ``epsilon`` is falsy."""

# Keywords every ``tf_keras.optimizers.*`` optimizer takes after its own (``Optimizer``).
NEW_BASE_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "jit_compile": True,
}



def _via_keras3(keras_name, qualified, *, jit_compile, clipnorm, clipvalue, global_clipnorm,
                use_ema, ema_momentum, ema_overwrite_frequency, **kwargs):
    """The rule keywords of the Keras 3 spec whose ``update_step`` this one shares.

    ``jit_compile`` is dropped (XLA is off without a GPU). The base options that act on the
    tree (``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``use_ema``, ``ema_momentum``,
    ``ema_overwrite_frequency``) are checked here (:func:`check_base_options`) and left out
    of the rule: tf_keras computes them with TensorFlow's own clip ops and its own EMA, which
    :func:`_base_options` hands to :class:`eps_ref.rules.tf_keras_base.TfKerasBase`; the
    Keras 3 spec sees its defaults for them. ``weight_decay`` goes to the Keras 3 rule (the
    same decoupled ``p -= p*wd*lr`` before the step).
    """
    if not isinstance(jit_compile, bool):
        raise ValueError(f"{qualified}: jit_compile must be a bool: {jit_compile!r}")
    check_base_options(qualified, clipnorm=clipnorm, clipvalue=clipvalue,
                       global_clipnorm=global_clipnorm, use_ema=use_ema,
                       ema_momentum=ema_momentum,
                       ema_overwrite_frequency=ema_overwrite_frequency)
    kwargs.update(clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                  ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                  gradient_accumulation_steps=None)
    return _via_spec(keras_name, qualified, **kwargs)


def _check_threshold(qualified, keyword, value, *, legacy):
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise unsupported(qualified, keyword, value)
    if legacy and value < 0:            # OptimizerV2.__init__'s own check and message
        raise ValueError(f"Expected {keyword} >= 0, received: {value}")
    if not 0 < value < math.inf:
        what = ("would clip every gradient to 0" if legacy and value == 0
                else "would silently skip clipping")
        raise ValueError(f"{qualified}: {keyword} must be a finite number > 0 or None "
                         f"(got {value!r}; tf_keras {what})")


def check_base_options(qualified, *, clipnorm, clipvalue, global_clipnorm, use_ema=False,
                       ema_momentum=0.99, ema_overwrite_frequency=None, legacy=False):
    """Check the tf_keras base keywords as the framework does, and stricter where it
    silently accepts nonsense.

    As tf_keras: ``clipnorm`` together with ``global_clipnorm`` raises ``ValueError``
    (both generations); a negative threshold raises in a legacy optimizer (``Expected
    clipnorm >= 0``); with ``use_ema``, ``ema_momentum`` outside [0, 1] and an
    ``ema_overwrite_frequency`` that is not an integer >= 1 raise. Stricter: a threshold
    that is not a finite number > 0 raises here too (the Keras 2.11+ ``Optimizer`` skips
    clipping silently for one <= 0; a legacy 0 zeroes the gradients); ``clipvalue`` with
    ``clipnorm`` or ``global_clipnorm`` raises for the Keras 2.11+ ``Optimizer`` (it would
    silently drop ``clipvalue``; a legacy optimizer applies both, ``clipvalue`` first);
    ``use_ema`` must be a bool. As tf_keras, ``ema_momentum`` and ``ema_overwrite_frequency``
    are ignored (and unchecked) without ``use_ema`` (``RMSprop`` defaults the frequency to
    100), and a frequency of 0 or None means no overwrite.
    """
    if clipnorm is not None and global_clipnorm is not None:
        if legacy:
            raise ValueError("Cannot accept both `clipnorm` and `global_clipnorm`. "
                             f"Received: `clipnorm`={clipnorm}, "
                             f"`global_clipnorm`={global_clipnorm}.")
        raise ValueError("At most one of `clipnorm` and `global_clipnorm` can be set. "
                         f"Received: clipnorm={clipnorm}, global_clipnorm={global_clipnorm}.")
    for keyword, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm)):
        _check_threshold(qualified, keyword, value, legacy=legacy)
    if not legacy and clipvalue is not None and (clipnorm is not None
                                                 or global_clipnorm is not None):
        other = "clipnorm" if clipnorm is not None else "global_clipnorm"
        raise ValueError(f"{qualified}: clipvalue cannot be combined with {other} (tf_keras "
                         f"would clip by {other} only and silently ignore clipvalue)")
    if not isinstance(use_ema, bool):
        raise ValueError(f"{qualified}: use_ema must be True or False, got {use_ema!r}")
    if not use_ema:         # as tf_keras: the EMA keywords are read only with use_ema
        return
    if (not isinstance(ema_momentum, (int, float)) or isinstance(ema_momentum, bool)
            or not 0 <= ema_momentum <= 1):
        raise ValueError("`ema_momentum` must be in the range [0, 1]. "
                         f"Received: ema_momentum={ema_momentum}")
    if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                    or ema_overwrite_frequency < 1):
        raise ValueError("`ema_overwrite_frequency` must be an integer > 1 or None. "
                         f"Received: ema_overwrite_frequency={ema_overwrite_frequency}")


def _base_options(name, hyperparams, backend, threads=1):
    """The tf_keras base-optimizer logic around ``name``'s rule, or None when no option is
    set (registered for every ``tf_keras`` spec; the checks are :func:`check_base_options`',
    run by each spec's bind). ``threads``: TensorFlow's intra-op threads (the clipping
    norms' sums are sharded over them)."""
    options = {k: hyperparams.get(k) for k in _TREE_OPTIONS}
    if all(options[k] is None for k in ("clipnorm", "clipvalue", "global_clipnorm")) \
            and not options["use_ema"]:
        return None
    legacy = name.startswith(LEGACY_PREFIX)
    if not options["use_ema"]:
        options.update(use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None)
    return TfKerasBase(**options, clip_order="value_then_norm" if legacy else "first_set",
                       threads=threads)


LEGACY_CLIP_KEYWORDS = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None}
"""The clipping keywords a legacy optimizer takes through ``**kwargs`` (``OptimizerV2``)."""


def _legacy_clips(qualified, bind):
    """``bind`` of the legacy spec ``qualified``, taking the ``OptimizerV2`` clipping
    keywords too: checked here, run around the rule by :func:`_base_options` (``clipvalue``
    first, then ``clipnorm`` or ``global_clipnorm``), not seen by the rule."""
    def bind_with_clips(*, clipnorm=None, clipvalue=None, global_clipnorm=None, **kwargs):
        check_base_options(qualified, clipnorm=clipnorm, clipvalue=clipvalue,
                           global_clipnorm=global_clipnorm, legacy=True)
        return bind(**kwargs)
    return bind_with_clips


_TREE_OPTIONS = ("clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                 "ema_overwrite_frequency")
LEGACY_PREFIX = "tf_keras.optimizers.legacy."
register_base_options("tf_keras", _base_options)

# The same for legacy SGD (momentum 0.9) and Adam: OptimizerV2 takes them through
# ``**kwargs`` (``Spec.var_keywords``) and runs clipvalue, then clipnorm.
LEGACY_CLIP_VARIANTS = {
    "clipnorm 1.0": {"clipnorm": 1.0},
    "clipvalue 0.1": {"clipvalue": 0.1},
    "global_clipnorm 2.3": {"global_clipnorm": 2.3},
    "clipvalue 0.1, then clipnorm 0.5": {"clipvalue": 0.1, "clipnorm": 0.5},
}

# Conformance variants of the base options, run on SGD (momentum 0.9) and Adam (the
# gradient stream's 1e3 spikes make every clip bite). At 2.3 about half the steps are not
# clipped, and there tf's scale c * fl(1/fl(c)) is exactly 1 where Keras 3's
# c * fl(1/c) is 1 - 2^-24: the variant tells the two apart (by 4224 ULP on Adam).
TF_KERAS_BASE_VARIANTS = {
    "clipnorm 1.0": {"clipnorm": 1.0},
    "clipvalue 0.1": {"clipvalue": 0.1},
    "global_clipnorm 1.0": {"global_clipnorm": 1.0},
    "global_clipnorm 2.3": {"global_clipnorm": 2.3},
    "use_ema, ema_overwrite_frequency 10": {"use_ema": True, "ema_overwrite_frequency": 10},
    "EMA 0.9 overwrite 3, global_clipnorm 0.7, weight decay 0.01": {
        "use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 3,
        "global_clipnorm": 0.7, "weight_decay": 0.01},
}


def _via_spec(source_name, qualified, **kwargs):
    """The rule keywords of another dialect's spec that runs the same arithmetic, with its
    errors naming ``qualified``."""
    try:
        return _spec(source_name).bind(**kwargs)
    except (ValueError, NotImplementedError) as error:
        raise type(error)(str(error).replace(source_name, qualified)) from None


def _legacy_epsilon(epsilon):
    return LEGACY_EPSILON if not epsilon else epsilon


# --- SGD family -------------------------------------------------------------------------
from eps_ref.rules.sgd import sgd as _sgd_rule  # noqa: E402


def _bind_legacy_sgd(*, learning_rate, momentum, nesterov, name):
    qualified = "tf_keras.optimizers.legacy.SGD"
    check_number(qualified, learning_rate=learning_rate, momentum=momentum)
    check_nonnegative(qualified, learning_rate=learning_rate)
    if momentum < 0 or momentum > 1:
        raise ValueError("`momentum` must be between [0, 1].")
    with_momentum = momentum > 0
    return {"lr": float(learning_rate), "momentum": float(momentum), "dampening": 0.0,
            "weight_decay": 0.0, "momentum_form": "keras" if with_momentum else "none",
            "lookahead": "nesterov" if with_momentum and nesterov else "none",
            "weight_decay_form": "coupled", "multiply_add": "separate",
            "objective": "minimize"}


register(Spec(
    name="tf_keras.optimizers.legacy.SGD", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "name": "SGD"},
    rule=_sgd_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.SGD", _bind_legacy_sgd),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/gradient_descent.py",
    inert=INERT,
    variants={
        "defaults": {},
        "learning_rate=1e-3": {"learning_rate": 1e-3},
        "momentum=0.9": {"momentum": 0.9},
        "nesterov": {"momentum": 0.9, "nesterov": True},
        **{f"momentum 0.9, {k}": {"momentum": 0.9, **v} for k, v in LEGACY_CLIP_VARIANTS.items()},
    },
    doc="no eps; ResourceApplyKerasMomentum: accum = accum*mu - g*lr, var += accum "
        "(Nesterov: var += accum*mu - g*lr); without momentum var -= g*lr",
))


def _bind_sgd(*, learning_rate, momentum, nesterov, name, **base):
    qualified = "tf_keras.optimizers.SGD"
    check_number(qualified, momentum=momentum)
    if momentum < 0 or momentum > 1:
        raise ValueError("`momentum` must be between [0, 1].")
    return _via_keras3("keras.optimizers.SGD", qualified, learning_rate=learning_rate,
                       momentum=float(momentum), nesterov=nesterov, name=name, **base)


register(Spec(
    name="tf_keras.optimizers.SGD", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.01, "momentum": 0.0, "nesterov": False,
              **NEW_BASE_DEFAULTS, "name": "SGD"},
    rule=_sgd_rule, bind=_bind_sgd, reference=SOURCE + "sgd.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "momentum=0.9": {"momentum": 0.9},
        "nesterov": {"momentum": 0.9, "nesterov": True},
        "weight_decay=4e-3": {"weight_decay": 4e-3},
        "momentum,weight_decay": {"momentum": 0.9, "weight_decay": 4e-3},
        "jit_compile=False": {"momentum": 0.9, "jit_compile": False},
        **{f"momentum 0.9, {k}": {"momentum": 0.9, **v}
           for k, v in TF_KERAS_BASE_VARIANTS.items()},
    },
    doc="no eps; v = mu*v - lr*g, p += v (Nesterov: p += mu*v - lr*g); weight decay "
        "p -= p*wd*lr first",
))
# --- end SGD family ---------------------------------------------------------------------

# --- Adam family ------------------------------------------------------------------------
from eps_ref.rules.adam import adam as _adam_rule  # noqa: E402


def _bind_legacy_adam(*, learning_rate, beta_1, beta_2, epsilon, amsgrad, name):
    qualified = "tf_keras.optimizers.legacy.Adam"
    epsilon = _legacy_epsilon(epsilon)
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta_1=beta_1, beta_2=beta_2)
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                eps=float(epsilon), eps_root=0.0, weight_decay=0.0, weight_decay_mode="none",
                eps_placement="eps_hat", amsgrad="max_of_raw" if amsgrad else "none",
                moment_update="difference", one_minus_beta="param_dtype",
                bias_correction="pow_param_dtype", corrected_moments="both",
                momentum_estimate="bias_corrected", objective="minimize",
                first_moment_dtype=None, sqrt_method="correctly_rounded",
                correction_op="divide")


register(Spec(
    name="tf_keras.optimizers.legacy.Adam", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "amsgrad": False, "name": "Adam"},
    rule=_adam_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.Adam", _bind_legacy_adam),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/adam.py",
    inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "amsgrad": {"amsgrad": True},
        "beta_1=0.4,beta_2=0.99": {"beta_1": 0.4, "beta_2": 0.99},
        "learning_rate=1e-2,amsgrad": {"learning_rate": 1e-2, "amsgrad": True},
        **LEGACY_CLIP_VARIANTS,
    },
    doc="eps-hat on the RAW root (ResourceApplyAdam / ResourceApplyAdamWithAmsgrad): "
        "alpha = lr*sqrt(1-b2^t)/(1-b1^t) from float32 tf.pow, m += (g-m)*(1-b1), "
        "v += (g^2-v)*(1-b2) with 1-b in float32, p -= m*alpha / (sqrt(v) + eps)",
))


def _bind_adam(*, learning_rate, beta_1, beta_2, epsilon, adaptive_epsilon, amsgrad, name,
               **base):
    qualified = "tf_keras.optimizers.Adam"
    if adaptive_epsilon:
        raise unsupported(qualified, "adaptive_epsilon", adaptive_epsilon)
    return _via_keras3("keras.optimizers.Adam", qualified, learning_rate=learning_rate,
                       beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                       name=name, **base)


def _bind_adamw(*, learning_rate, weight_decay, beta_1, beta_2, epsilon, amsgrad, name,
                **base):
    return _via_keras3("keras.optimizers.AdamW", "tf_keras.optimizers.AdamW",
                       learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1,
                       beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad, name=name, **base)


_ADAM_DOC = ("eps-hat on the RAW root: alpha = lr*sqrt(1-b2^t)/(1-b1^t) in float32 (tf.pow), "
             "m += (g-m)*(1-b1), v += (g^2-v)*(1-b2), p -= m*alpha / (sqrt(v) + eps)")

register(Spec(
    name="tf_keras.optimizers.Adam", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "adaptive_epsilon": False, "amsgrad": False, **NEW_BASE_DEFAULTS,
              "name": "Adam"},
    rule=_adam_rule, bind=_bind_adam, reference=SOURCE + "adam.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "amsgrad": {"amsgrad": True},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "beta_1=0.4,beta_2=0.99": {"beta_1": 0.4, "beta_2": 0.99},
        "jit_compile=False": {"jit_compile": False},
        **TF_KERAS_BASE_VARIANTS,
    },
    doc=_ADAM_DOC + " (adaptive_epsilon=True, Algorithm 1's eps, is not modelled)",
))

_ADAMW_DEFAULTS = {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9,
                   "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}
_ADAMW_DEFAULTS.update({k: v for k, v in NEW_BASE_DEFAULTS.items() if k != "weight_decay"})
_ADAMW_DEFAULTS["name"] = "AdamW"

register(Spec(
    name="tf_keras.optimizers.AdamW", framework="tf_keras", version=VERSION,
    defaults=_ADAMW_DEFAULTS,
    rule=_adam_rule, bind=_bind_adamw, reference=SOURCE + "adamw.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "amsgrad": {"amsgrad": True},
        "weight_decay=0.1": {"weight_decay": 0.1},
        "jit_compile=False": {"jit_compile": False},
    },
    doc=_ADAM_DOC + "; weight decay p -= p*wd*lr before the step",
))
# --- end Adam family --------------------------------------------------------------------

# --- RMSProp family ---------------------------------------------------------------------
from eps_ref.rules.rmsprop import rmsprop as _rmsprop_rule  # noqa: E402


def _bind_legacy_rmsprop(*, learning_rate, rho, momentum, epsilon, centered, name):
    qualified = "tf_keras.optimizers.legacy.RMSprop"
    epsilon = _legacy_epsilon(epsilon)
    check_number(qualified, learning_rate=learning_rate, rho=rho, momentum=momentum,
            epsilon=epsilon)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    if momentum < 0 or momentum > 1:
        raise ValueError("`momentum` must be between [0, 1].")
    common = dict(lr=float(learning_rate), decay=float(rho), eps=float(epsilon),
                  initial_square_avg=0.0, centered=bool(centered), momentum=float(momentum),
                  bias_correction="none", weight_decay=0.0, weight_decay_form="coupled",
                  maximize=False, sqrt_method="correctly_rounded",
                  rsqrt_method="one_over_sqrt")
    if momentum > 0:      # ResourceApply(Centered)RMSProp: eps inside the root
        return dict(common, eps_placement="inside_sqrt", momentum_form="lr_inside_buffer",
                    arithmetic="tf1_kernel")
    return dict(common, eps_placement="outside_sqrt", momentum_form="none",
                arithmetic="tf_keras_legacy_ops")


register(Spec(
    name="tf_keras.optimizers.legacy.RMSprop", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
              "centered": False, "name": "RMSprop"},
    rule=_rmsprop_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.RMSprop", _bind_legacy_rmsprop),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/rmsprop.py",
    inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "centered": {"centered": True},
        "momentum=0.9": {"momentum": 0.9},
        "momentum=0.9,epsilon=1e-3": {"momentum": 0.9, "epsilon": 1e-3},
        "centered+momentum=0.9": {"centered": True, "momentum": 0.9},
        "learning_rate=1e-2,rho=0.99": {"learning_rate": 1e-2, "rho": 0.99},
    },
    doc="eps OUTSIDE the root without momentum (Python ops: ms = rho*ms + (1-rho)*g^2, "
        "p -= lr*g / (sqrt(ms) + eps)) but INSIDE it with momentum > 0 (ApplyRMSProp: "
        "ms += (g^2-ms)*(1-rho), mom = mu*mom + g*lr / sqrt(ms + eps), p -= mom); ms starts "
        "at zeros",
))


def _bind_rmsprop(*, learning_rate, rho, momentum, epsilon, centered, name, **base):
    qualified = "tf_keras.optimizers.RMSprop"
    check_number(qualified, momentum=momentum)
    out = _via_keras3("keras.optimizers.RMSprop", qualified, learning_rate=learning_rate,
                      rho=rho, momentum=momentum, epsilon=epsilon, centered=centered,
                      name=name, **base)
    return dict(out, arithmetic="tf_keras_rsqrt", rsqrt_method="eigen_rsqrtps_newton")


register(Spec(
    name="tf_keras.optimizers.RMSprop", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
              "centered": False, **NEW_BASE_DEFAULTS, "ema_overwrite_frequency": 100,
              "jit_compile": True, "name": "RMSprop"},
    rule=_rmsprop_rule, bind=_bind_rmsprop, reference=SOURCE + "rmsprop.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "centered": {"centered": True},
        "momentum=0.9": {"momentum": 0.9},
        "centered+momentum=0.9": {"centered": True, "momentum": 0.9},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "jit_compile=False": {"jit_compile": False},
    },
    doc="eps INSIDE the root, through tf.math.rsqrt (RSQRTPS + one Newton step on CPU): "
        "v = rho*v + (1-rho)*g^2, inc = lr*g * rsqrt(v + eps), mom = mu*mom + inc, p -= mom",
))
# --- end RMSProp family -----------------------------------------------------------------

# --- Adagrad family ---------------------------------------------------------------------
from eps_ref.rules.adagrad import adagrad as _adagrad_rule  # noqa: E402


def _bind_legacy_adagrad(*, learning_rate, initial_accumulator_value, epsilon, name):
    qualified = "tf_keras.optimizers.legacy.Adagrad"
    epsilon = _legacy_epsilon(epsilon)
    check_number(qualified, learning_rate=learning_rate, epsilon=epsilon,
            initial_accumulator_value=initial_accumulator_value)
    if initial_accumulator_value < 0.0:
        raise ValueError("initial_accumulator_value must be non-negative: "
                         f"{initial_accumulator_value}")
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    return dict(lr=float(learning_rate), lr_decay=0.0, eps=float(epsilon),
                eps_placement="outside_sqrt", update_order="lr_grad_over_root",
                sqrt_method="correctly_rounded", rsqrt_method="one_over_sqrt",
                accumulate="multiply_then_add",
                initial_accumulator_value=float(initial_accumulator_value),
                weight_decay=0.0, weight_decay_mode="none", direction="minimize")


register(Spec(
    name="tf_keras.optimizers.legacy.Adagrad", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
              "name": "Adagrad"},
    rule=_adagrad_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.Adagrad", _bind_legacy_adagrad),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/adagrad.py",
    inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "initial_accumulator_value=0": {"initial_accumulator_value": 0.0},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="eps OUTSIDE the root (ResourceApplyAdagradV2): G += g^2, "
        "p -= g*lr / (sqrt(G) + eps), G0 = 0.1",
))


def _bind_adagrad(*, learning_rate, initial_accumulator_value, epsilon, name, **base):
    return _via_keras3("keras.optimizers.Adagrad", "tf_keras.optimizers.Adagrad",
                       learning_rate=learning_rate,
                       initial_accumulator_value=initial_accumulator_value,
                       epsilon=epsilon, name=name, **base)


register(Spec(
    name="tf_keras.optimizers.Adagrad", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
              **NEW_BASE_DEFAULTS, "name": "Adagrad"},
    rule=_adagrad_rule, bind=_bind_adagrad, reference=SOURCE + "adagrad.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "initial_accumulator_value=0": {"initial_accumulator_value": 0.0},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "jit_compile=False": {"jit_compile": False},
    },
    doc="eps INSIDE the root: G += g^2, p -= lr*g / sqrt(G + eps), G0 = 0.1",
))
# --- end Adagrad family -----------------------------------------------------------------

# --- Adadelta family --------------------------------------------------------------------
from eps_ref.rules.adadelta import adadelta as _adadelta_rule  # noqa: E402


def _bind_legacy_adadelta(*, learning_rate, rho, epsilon, name):
    """The ``ApplyAdadelta`` kernel, exactly as ``tf.compat.v1.train.AdadeltaOptimizer``."""
    return _via_spec("tf.compat.v1.train.AdadeltaOptimizer",
                     "tf_keras.optimizers.legacy.Adadelta", learning_rate=learning_rate,
                     rho=rho, epsilon=_legacy_epsilon(epsilon), use_locking=False, name=name)


register(Spec(
    name="tf_keras.optimizers.legacy.Adadelta", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7, "name": "Adadelta"},
    rule=_adadelta_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.Adadelta", _bind_legacy_adadelta),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/adadelta.py",
    inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "rho=0.5": {"rho": 0.5},
        "learning_rate=1.0": {"learning_rate": 1.0},
    },
    doc="eps INSIDE both roots (ResourceApplyAdadelta): v = v*rho + g^2*(1-rho), "
        "d = sqrt(u + eps) * rsqrt(v + eps) * g, p -= d*lr, u = u*rho + d^2*(1-rho)",
))


def _bind_adadelta(*, learning_rate, rho, epsilon, name, **base):
    out = _via_keras3("keras.optimizers.Adadelta", "tf_keras.optimizers.Adadelta",
                      learning_rate=learning_rate, rho=rho, epsilon=epsilon, name=name,
                      **base)
    return dict(out, arithmetic="tf_keras")


register(Spec(
    name="tf_keras.optimizers.Adadelta", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7, **NEW_BASE_DEFAULTS,
              "name": "Adadelta"},
    rule=_adadelta_rule, bind=_bind_adadelta, reference=SOURCE + "adadelta.py",
    inert=NEW_INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "rho=0.5": {"rho": 0.5},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "jit_compile=False": {"jit_compile": False},
    },
    doc="eps INSIDE both roots: v = rho*v + (1-rho)*g*g, d = -sqrt(u + eps)*g / "
        "sqrt(v + eps), u = rho*u + (1-rho)*d*d, p += lr*d",
))
# --- end Adadelta family ----------------------------------------------------------------

# --- Adamax family ----------------------------------------------------------------------
from eps_ref.rules.adamax import adamax as _adamax_rule  # noqa: E402


def _bind_legacy_adamax(*, learning_rate, beta_1, beta_2, epsilon, name):
    qualified = "tf_keras.optimizers.legacy.Adamax"
    epsilon = _legacy_epsilon(epsilon)
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta_1=beta_1, beta_2=beta_2)
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                eps=float(epsilon), eps_placement="added_to_denominator", weight_decay=0.0,
                weight_decay_form="none", maximize=False, arithmetic="tf_kernel")


register(Spec(
    name="tf_keras.optimizers.legacy.Adamax", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "name": "Adamax"},
    rule=_adamax_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.Adamax", _bind_legacy_adamax),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/adamax.py",
    inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "beta_1=0.4,beta_2=0.99": {"beta_1": 0.4, "beta_2": 0.99},
    },
    doc="eps added to the denominator (ResourceApplyAdaMax): m += (g-m)*(1-b1), "
        "u = max(b2*u, |g|), p -= lr/(1-b1^t) * (m / (u + eps))",
))


def _bind_adamax(*, learning_rate, beta_1, beta_2, epsilon, name, **base):
    return _via_keras3("keras.optimizers.Adamax", "tf_keras.optimizers.Adamax",
                       learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                       epsilon=epsilon, name=name, **base)


register(Spec(
    name="tf_keras.optimizers.Adamax", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              **NEW_BASE_DEFAULTS, "name": "Adamax"},
    rule=_adamax_rule, bind=_bind_adamax, reference=SOURCE + "adamax.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "jit_compile=False": {"jit_compile": False},
    },
    doc="eps added to the denominator: m += (g-m)*(1-b1), u = max(b2*u, |g|), "
        "p -= lr*m / ((1-b1^t) * (u + eps))",
))
# --- end Adamax family ------------------------------------------------------------------

# --- NAdam family -----------------------------------------------------------------------
from eps_ref.rules.nadam import nadam as _nadam_rule  # noqa: E402

LEGACY_NADAM_SCHEDULE_DECAY = 0.004
"""``legacy.Nadam``'s ``schedule_decay`` (a ``**kwargs`` key, not modelled when changed)."""


def _bind_legacy_nadam(*, learning_rate, beta_1, beta_2, epsilon, name):
    qualified = "tf_keras.optimizers.legacy.Nadam"
    epsilon = _legacy_epsilon(epsilon)
    check_number(qualified, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon)
    check_nonnegative(qualified, learning_rate=learning_rate, epsilon=epsilon)
    check_beta(qualified, beta_1=beta_1, beta_2=beta_2)
    return dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                eps=float(epsilon), momentum_decay=LEGACY_NADAM_SCHEDULE_DECAY,
                weight_decay=0.0, weight_decay_mode="none",
                schedule_arithmetic="param_dtype_scaled_exponent",
                mu_product_update="times_mu", moment_update="weighted_sum",
                one_minus_beta="param_dtype", step_form="tf_keras_legacy",
                objective="minimize", sqrt_method="correctly_rounded",
                scalar_division="divide")


register(Spec(
    name="tf_keras.optimizers.legacy.Nadam", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "name": "Nadam"},
    rule=_nadam_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.Nadam", _bind_legacy_nadam),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/nadam.py",
    inert=INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "beta_1=0.4,beta_2=0.99": {"beta_1": 0.4, "beta_2": 0.99},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
    },
    doc="eps OUTSIDE the corrected root, Dozat's slow schedule: mu_t = b1*(1 - "
        "0.5*0.96^(0.004 t)), prod *= mu_t, m_bar = (1-mu_t) g/(1-prod) + mu_{t+1} "
        "m/(1-prod*mu_{t+1}), p -= lr*m_bar / (sqrt(v/(1-b2^t)) + eps), all in float32",
))


def _bind_nadam(*, learning_rate, beta_1, beta_2, epsilon, name, **base):
    out = _via_keras3("keras.optimizers.Nadam", "tf_keras.optimizers.Nadam",
                      learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                      epsilon=epsilon, name=name, **base)
    return dict(out, mu_product_update="times_mu")


register(Spec(
    name="tf_keras.optimizers.Nadam", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              **NEW_BASE_DEFAULTS, "name": "Nadam"},
    rule=_nadam_rule, bind=_bind_nadam, reference=SOURCE + "nadam.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "epsilon=1e-3": {"epsilon": 1e-3},
        "epsilon=1": {"epsilon": 1.0},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "jit_compile=False": {"jit_compile": False},
    },
    doc="eps OUTSIDE the corrected root: mu_t = b1*(1 - 0.5*0.96^t), prod *= mu_t, "
        "m_hat = mu_{t+1} m/(1-prod*mu_{t+1}) + (1-mu_t) g/(1-prod), "
        "p -= m_hat*lr / (sqrt(v/(1-b2^t)) + eps), all in float32",
))
# --- end NAdam family -------------------------------------------------------------------

# --- Lion family ------------------------------------------------------------------------
from eps_ref.rules.lion import lion as _lion_rule  # noqa: E402


def _bind_lion(*, learning_rate, beta_1, beta_2, name, **base):
    return _via_keras3("keras.optimizers.Lion", "tf_keras.optimizers.Lion",
                       learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                       name=name, **base)


register(Spec(
    name="tf_keras.optimizers.Lion", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.0001, "beta_1": 0.9, "beta_2": 0.99, **NEW_BASE_DEFAULTS,
              "name": "Lion"},
    rule=_lion_rule, bind=_bind_lion, reference=SOURCE + "lion.py", inert=NEW_INERT,
    variants={
        "defaults": {},
        "learning_rate=1e-3": {"learning_rate": 1e-3},
        "beta_1=0.5": {"beta_1": 0.5},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "jit_compile=False": {"jit_compile": False},
    },
    doc="no eps: p -= lr*sign(m*b1 + g*(1-b1)), m = m*b2 + g*(1-b2), 1-b in float32",
))
# --- end Lion family --------------------------------------------------------------------

# --- Ftrl family ----------------------------------------------------------------------
from eps_ref.frameworks.tf1 import FTRL_VARIANTS as _FTRL_VARIANTS  # noqa: E402
from eps_ref.frameworks.tf1 import check_ftrl as _check_ftrl  # noqa: E402
from eps_ref.frameworks.tf1 import ftrl_kernel_kwargs as _ftrl_kernel_kwargs  # noqa: E402
from eps_ref.rules.ftrl import ftrl as _ftrl_rule  # noqa: E402


def _bind_legacy_ftrl(*, learning_rate, learning_rate_power, initial_accumulator_value,
                      l1_regularization_strength, l2_regularization_strength, name,
                      l2_shrinkage_regularization_strength, beta):
    """``ResourceApplyFtrl``/``ResourceApplyFtrlV2``, as TF1, with beta folded in without
    TF1's ``max(lr, 1e-36)``."""
    kwargs = dict(learning_rate=learning_rate, learning_rate_power=learning_rate_power,
                  initial_accumulator_value=initial_accumulator_value,
                  l1_regularization_strength=l1_regularization_strength,
                  l2_regularization_strength=l2_regularization_strength,
                  l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
                  beta=beta)
    _check_ftrl("tf_keras.optimizers.legacy.Ftrl", **kwargs)
    return _ftrl_kernel_kwargs(**kwargs, beta_fold="keras")


_LEGACY_FTRL_DEFAULTS = {"learning_rate": 0.001, "learning_rate_power": -0.5,
                         "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.0,
                         "l2_regularization_strength": 0.0, "name": "Ftrl",
                         "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}

register(Spec(
    name="tf_keras.optimizers.legacy.Ftrl", framework="tf_keras", version=VERSION,
    defaults=_LEGACY_FTRL_DEFAULTS,
    rule=_ftrl_rule,
    bind=_legacy_clips("tf_keras.optimizers.legacy.Ftrl", _bind_legacy_ftrl),
    var_keywords=LEGACY_CLIP_KEYWORDS, reference=SOURCE + "legacy/ftrl.py",
    inert=INERT,
    variants={"defaults": {}, **_FTRL_VARIANTS, "learning_rate=1e-2": {"learning_rate": 1e-2}},
    doc="NO eps, n0 = 0.1 (ResourceApplyFtrl): n' = n + g^2, z += g - (sqrt(n') - "
        "sqrt(n))/lr * w, w = |z| > l1 ? (l1*sign(z) - z) / (sqrt(n')/lr + 2*l2) : 0 "
        "(Eigen pow when learning_rate_power != -0.5)",
))


def _bind_ftrl(*, learning_rate, learning_rate_power, initial_accumulator_value,
               l1_regularization_strength, l2_regularization_strength,
               l2_shrinkage_regularization_strength, beta, name, **base):
    out = _via_keras3("keras.optimizers.Ftrl", "tf_keras.optimizers.Ftrl",
                      learning_rate=learning_rate, learning_rate_power=learning_rate_power,
                      initial_accumulator_value=initial_accumulator_value,
                      l1_regularization_strength=l1_regularization_strength,
                      l2_regularization_strength=l2_regularization_strength,
                      l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
                      beta=beta, name=name, **base)
    return dict(out, grad_square="pow")     # accum + tf.pow(gradient, 2)


register(Spec(
    name="tf_keras.optimizers.Ftrl", framework="tf_keras", version=VERSION,
    defaults={**{k: v for k, v in _LEGACY_FTRL_DEFAULTS.items() if k != "name"},
              **NEW_BASE_DEFAULTS, "name": "Ftrl"},
    rule=_ftrl_rule, bind=_bind_ftrl, reference=SOURCE + "ftrl.py", inert=NEW_INERT,
    variants={"defaults": {}, **_FTRL_VARIANTS, "weight_decay=0.01": {"weight_decay": 0.01},
              "jit_compile=False": {"jit_compile": False}},
    doc="NO eps, n0 = 0.1: n' = n + tf.pow(g, 2) (Eigen pow, not g*g), z += g - "
        "(n'^0.5 - n^0.5)/lr * w (tf.pow even at -0.5), w = (clip(z, -l1, l1) - z) / "
        "(n'^0.5/lr + 2*(l2 + beta/(2*lr)))",
))
# --- end Ftrl family ------------------------------------------------------------------

# --- Adafactor family -----------------------------------------------------------------
from eps_ref.rules.adafactor import adafactor as _adafactor_rule  # noqa: E402


def _bind_adafactor(*, learning_rate, beta_2_decay, epsilon_1, epsilon_2, clip_threshold,
                    relative_step, name, **base):
    """Keras 3's arithmetic (Eigen reductions), except ``tf.math.rsqrt`` for
    :math:`1/\\sqrt t` and :math:`G \\cdot \\mathrm{rsqrt}(\\hat V)` (Eigen's RSQRTPS + Newton)."""
    out = _via_keras3("keras.optimizers.Adafactor", "tf_keras.optimizers.Adafactor",
                      learning_rate=learning_rate, beta_2_decay=beta_2_decay,
                      epsilon_1=epsilon_1, epsilon_2=epsilon_2, clip_threshold=clip_threshold,
                      relative_step=relative_step, name=name, **base)
    return dict(out, inverse_root="eigen_rsqrt")


register(Spec(
    name="tf_keras.optimizers.Adafactor", framework="tf_keras", version=VERSION,
    defaults={"learning_rate": 0.001, "beta_2_decay": -0.8, "epsilon_1": 1e-30,
              "epsilon_2": 1e-3, "clip_threshold": 1.0, "relative_step": True,
              **NEW_BASE_DEFAULTS, "name": "Adafactor"},
    rule=_adafactor_rule, bind=_bind_adafactor, reference=SOURCE + "adafactor.py",
    inert=NEW_INERT,
    variants={
        "defaults": {},
        "learning_rate=1e-2": {"learning_rate": 1e-2},
        "epsilon_1=1e-3": {"epsilon_1": 1e-3},
        "epsilon_2=1": {"epsilon_2": 1.0},
        "clip_threshold=0.5": {"clip_threshold": 0.5},
        "relative_step=False": {"learning_rate": 1e-2, "relative_step": False},
        "weight_decay=0.01": {"weight_decay": 0.01},
        "jit_compile=False": {"jit_compile": False},
    },
    doc="eps1 INSIDE the factored moments (g^2 + 1e-30): V = (R / mean R) C, "
        "U = g * rsqrt(V) (Eigen), p += -max(eps2, RMS(p)) min(lr, rsqrt(t)) U / "
        "max(1, RMS(U)/d); all in float32; a gradient zero along a row and a column "
        "gives V = 0 there (eps1^2 underflows float32) and NaN everywhere",
))
# --- end Adafactor family -------------------------------------------------------------

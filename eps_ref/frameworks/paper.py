r"""The ``paper`` dialect: the published algorithms, as their papers state them.

Each ``paper.<rule>`` entry follows one algorithm box or equation (cited in ``reference``
and ``doc``), with the paper's own defaults. Where a paper fixes no value (SGDW's learning
rate and weight decay, Hinton's RMSProp learning rate, ...) the keyword is ``REQUIRED``.
Keyword names are shared across the dialect (``lr`` for :math:`\alpha`/:math:`\eta`,
``beta1``/``beta2``, ``eps`` for :math:`\epsilon`, ``weight_decay`` for :math:`\lambda`); each
entry's ``doc`` maps them to the paper's notation. The rules live in
:mod:`eps_ref.rules.published`, :mod:`eps_ref.rules.sign`, :mod:`eps_ref.rules.mcallester`,
:mod:`eps_ref.rules.adafactor` and :mod:`eps_ref.rules.lamb`.
"""

from __future__ import annotations

import math

from eps_ref.rules import mcallester, published, sign
from eps_ref.spec import REQUIRED, Spec, check_beta, check_nonnegative, register

VERSION = "published"
INERT = frozenset()

ADAM_URL = "https://arxiv.org/abs/1412.6980"
ADAMW_URL = "https://arxiv.org/abs/1711.05101"
AMSGRAD_URL = "https://openreview.net/forum?id=ryQu7f-RZ"
RADAM_URL = "https://arxiv.org/abs/1908.03265"
SIGN_URL = "https://arxiv.org/abs/1709.07417"
RMSPROP_URL = "https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf"
ADAGRAD_URL = "https://jmlr.org/papers/v12/duchi11a.html"
ADADELTA_URL = "https://arxiv.org/abs/1212.5701"
NADAM_URL = "https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ"
LION_URL = "https://arxiv.org/abs/2302.06675"
MCALLESTER_URL = "https://mcallester.github.io/ttic-31230/"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _binder(name, *, nonnegative=(), betas=(), positive=(), choices=None, fixed=None,
            schedule=()):
    """``bind`` for a paper spec whose keywords are the rule's own: validate and return
    them (numbers as floats), plus the ``fixed`` rule keywords the spec implies."""
    choices = choices or {}

    def bind(**kw):
        check_nonnegative(name, **{k: kw[k] for k in nonnegative})
        check_beta(name, **{k: kw[k] for k in betas})
        for k in positive:
            if not _number(kw[k]) or not kw[k] > 0:
                raise ValueError(f"{name}: invalid {k} {kw[k]!r}: must be a number > 0")
        for k, allowed in choices.items():
            if kw[k] not in allowed:
                raise ValueError(f"{name}: {k} must be one of {allowed}, got {kw[k]!r}")
        for k in schedule:
            if not callable(kw[k]):
                check_nonnegative(name, **{k: kw[k]})
        out = {k: float(v) if _number(v) and (k in nonnegative or k in betas
                                               or k in positive or k in schedule) else v
               for k, v in kw.items()}
        return {**out, **(fixed or {})}

    return bind


def _paper(name, rule, *, defaults, bind, reference, doc, variants):
    register(Spec(name=name, framework="paper", version=VERSION, defaults=defaults, rule=rule,
                  bind=bind, reference=reference, inert=INERT,
                  variants={"defaults": {}, **variants}, doc=doc))


_ADAM_DEFAULTS = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
_ADAM_CHECKS = {"nonnegative": ("lr", "eps"), "betas": ("beta1", "beta2")}

# --- Adam family ------------------------------------------------------------------------
_paper(
    "paper.adam", published.adam, defaults=_ADAM_DEFAULTS,
    bind=_binder("paper.adam", **_ADAM_CHECKS, fixed={"form": "algorithm_1"}),
    reference=ADAM_URL + " (Kingma & Ba, ICLR 2015, Algorithm 1)",
    doc="Algorithm 1: m_t = b1 m + (1-b1) g, v_t = b2 v + (1-b2) g^2, m^ = m/(1-b1^t), "
        "v^ = v/(1-b2^t), theta -= alpha m^/(sqrt(v^) + eps); eps outside the root of the "
        "bias-corrected v^ (lr = alpha)",
    variants={"eps=1e-3": {"eps": 1e-3}, "eps=1": {"eps": 1.0},
              "betas=(0.4,0.99)": {"beta1": 0.4, "beta2": 0.99}, "lr=1e-2": {"lr": 1e-2}})

_paper(
    "paper.adam_eps_hat", published.adam, defaults=_ADAM_DEFAULTS,
    bind=_binder("paper.adam_eps_hat", **_ADAM_CHECKS, fixed={"form": "eps_hat"}),
    reference=ADAM_URL + " (Kingma & Ba, ICLR 2015, Section 2, the efficient form before 2.1)",
    doc="alpha_t = alpha sqrt(1-b2^t)/(1-b1^t), theta -= alpha_t m_t/(sqrt(v_t) + eps_hat); "
        "eps (= eps_hat) is added to the uncorrected root, i.e. eps = eps_hat/sqrt(1-b2^t) "
        "of Algorithm 1",
    variants={"eps=1e-3": {"eps": 1e-3}, "eps=1": {"eps": 1.0},
              "betas=(0.4,0.99)": {"beta1": 0.4, "beta2": 0.99}})

_paper(
    "paper.adamax", published.adamax, defaults={"lr": 2e-3, "beta1": 0.9, "beta2": 0.999},
    bind=_binder("paper.adamax", nonnegative=("lr",), betas=("beta1", "beta2")),
    reference=ADAM_URL + " (Kingma & Ba, ICLR 2015, Algorithm 2, AdaMax)",
    doc="Algorithm 2: m_t = b1 m + (1-b1) g, u_t = max(b2 u, |g|), "
        "theta -= (alpha/(1-b1^t)) m_t/u_t; no eps (0/0 taken as 0)",
    variants={"lr=1e-2": {"lr": 1e-2}, "betas=(0.4,0.99)": {"beta1": 0.4, "beta2": 0.99}})

_paper(
    "paper.amsgrad", published.amsgrad,
    defaults={**_ADAM_DEFAULTS, "step_size": "constant"},
    bind=_binder("paper.amsgrad", **_ADAM_CHECKS,
                 choices={"step_size": published.AMSGRAD_STEP_SIZES}),
    reference=AMSGRAD_URL + " (Reddi, Kale & Kumar, ICLR 2018, Algorithm 2, AMSGrad)",
    doc="Algorithm 2 without bias correction: m_t, v_t as Adam, v^_t = max(v^_{t-1}, v_t), "
        "theta -= alpha_t m_t/(sqrt(v^_t) + eps); alpha_t = alpha (step_size='constant') or "
        "alpha/sqrt(t) ('inverse_sqrt_t'); the paper has no eps, 1e-8 as in its experiments' "
        "Adam",
    variants={"eps=1e-3": {"eps": 1e-3}, "inverse_sqrt_t": {"step_size": "inverse_sqrt_t"},
              "betas=(0.9,0.99)": {"beta2": 0.99}})

_paper(
    "paper.radam", published.radam,
    defaults={"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "threshold": 4.0},
    bind=_binder("paper.radam", nonnegative=("lr", "threshold"), betas=("beta1", "beta2")),
    reference=RADAM_URL + " (Liu et al., ICLR 2020, Algorithm 2, Rectified Adam)",
    doc="Algorithm 2: rho_inf = 2/(1-b2) - 1, rho_t = rho_inf - 2 t b2^t/(1-b2^t); if rho_t > 4: "
        "v^ = sqrt(v/(1-b2^t)), r_t = sqrt((rho_t-4)(rho_t-2)rho_inf/((rho_inf-4)(rho_inf-2)"
        "rho_t)), theta -= alpha r_t m^/v^; else theta -= alpha m^; no eps (0/0 taken as 0)",
    variants={"threshold=5 (torch)": {"threshold": 5.0}, "beta2=0.99": {"beta2": 0.99},
              "lr=1e-2": {"lr": 1e-2}})

_paper(
    "paper.nadam", published.nadam,
    defaults={"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "schedule_decay": 4e-3},
    bind=_binder("paper.nadam", nonnegative=("lr", "eps", "schedule_decay"),
                 betas=("beta1", "beta2")),
    reference=NADAM_URL + " (Dozat, ICLR 2016 workshop, Algorithm 2, Nadam)",
    doc="Algorithm 2: mu_t = b1 (1 - 0.5 * 0.96^(t psi)), g^ = g/(1-prod_{i<=t} mu_i), "
        "m_t = mu_t m + (1-mu_t) g, m^ = m_t/(1-prod_{i<=t+1} mu_i), n^ = n_t/(1-nu^t), "
        "theta -= eta ((1-mu_t) g^ + mu_{t+1} m^)/(sqrt(n^) + eps); beta2 = nu, "
        "schedule_decay = psi (defaults of Keras 1's port: lr 0.002, psi 0.004)",
    variants={"eps=1e-3": {"eps": 1e-3}, "schedule_decay=0": {"schedule_decay": 0.0}})
# --- end Adam family --------------------------------------------------------------------

# --- Decoupled weight decay (Loshchilov & Hutter) ---------------------------------------
_paper(
    "paper.adamw", published.adamw,
    defaults={**_ADAM_DEFAULTS, "weight_decay": REQUIRED, "schedule_multiplier": 1.0,
              "weight_decay_form": "decoupled"},
    bind=_binder("paper.adamw", nonnegative=("lr", "eps", "weight_decay"),
                 betas=("beta1", "beta2"), schedule=("schedule_multiplier",),
                 choices={"weight_decay_form": published.WEIGHT_DECAY_FORMS}),
    reference=ADAMW_URL + " (Loshchilov & Hutter, ICLR 2019, Algorithm 2, AdamW)",
    doc="Algorithm 2: theta -= eta_t (alpha m^/(sqrt(v^) + eps) + lambda theta); the decay "
        "lambda (weight_decay) is scaled by the schedule multiplier eta_t, not by alpha; "
        "weight_decay_form='l2' is the algorithm's g + lambda theta branch",
    variants={"defaults": {"weight_decay": 1e-2},
              "eta_t=0.5": {"weight_decay": 1e-2, "schedule_multiplier": 0.5},
              "l2": {"weight_decay": 1e-2, "weight_decay_form": "l2"},
              "eps=1e-3": {"weight_decay": 1e-5, "eps": 1e-3}})

_paper(
    "paper.sgdw", published.sgdw,
    defaults={"lr": REQUIRED, "momentum": 0.9, "weight_decay": REQUIRED,
              "schedule_multiplier": 1.0, "weight_decay_form": "decoupled"},
    bind=_binder("paper.sgdw", nonnegative=("lr", "weight_decay"), betas=("momentum",),
                 schedule=("schedule_multiplier",),
                 choices={"weight_decay_form": published.WEIGHT_DECAY_FORMS}),
    reference=ADAMW_URL + " (Loshchilov & Hutter, ICLR 2019, Algorithm 1, SGDW)",
    doc="Algorithm 1: m_t = b1 m + eta_t alpha g, theta -= m_t + eta_t lambda theta; "
        "momentum = b1, weight_decay = lambda (not scaled by alpha); weight_decay_form='l2' "
        "is the g + lambda theta branch",
    variants={"defaults": {"lr": 1e-2, "weight_decay": 1e-3},
              "no momentum": {"lr": 1e-2, "weight_decay": 1e-3, "momentum": 0.0},
              "eta_t=0.5": {"lr": 1e-2, "weight_decay": 1e-3, "schedule_multiplier": 0.5},
              "l2": {"lr": 1e-2, "weight_decay": 1e-3, "weight_decay_form": "l2"}})
# --- end decoupled weight decay ---------------------------------------------------------

# --- Adaptive per-coordinate rates (RMSProp, AdaGrad, ADADELTA) --------------------------
_paper(
    "paper.rmsprop", published.rmsprop, defaults={"lr": REQUIRED, "decay": 0.9, "eps": 0.0},
    bind=_binder("paper.rmsprop", nonnegative=("lr", "eps"), betas=("decay",)),
    reference=RMSPROP_URL + " (Tieleman & Hinton, Coursera NN lecture 6e, 2012)",
    doc="lecture 6e: MeanSquare = 0.9 MeanSquare + 0.1 g^2, w -= lr g/sqrt(MeanSquare); "
        "no eps in the lecture (eps, default 0, adds one outside the root; 0/0 taken as 0)",
    variants={"defaults": {"lr": 1e-3}, "eps=1e-8": {"lr": 1e-3, "eps": 1e-8},
              "decay=0.99": {"lr": 1e-3, "decay": 0.99}})

_paper(
    "paper.mcallester_rmsprop", mcallester.rmsprop,
    defaults={"lr": REQUIRED, "eps": REQUIRED, "n_s": 100.0, "lr_parameterization": "eta"},
    bind=_binder("paper.mcallester_rmsprop", nonnegative=("lr", "eps"), positive=("n_s",),
                 choices={"lr_parameterization": mcallester.LR_PARAMETERIZATIONS}),
    reference=MCALLESTER_URL + " (McAllester, TTIC 31230 Fundamentals of Deep Learning, "
                               "Winter 2020, 'RMSProp and Adam': RMSProp)",
    doc="s_t = (1 - 1/N_s) s + (1/N_s) g^2 (N_s typically 100 or 1000), "
        "Phi -= eta g/(sqrt(s_t) + eps); lr_parameterization='eta0_over_eps' reads lr as "
        "eta0 with eta = eta0/eps",
    variants={"defaults": {"lr": 1e-3, "eps": 1e-8}, "N_s=1000": {"lr": 1e-3, "eps": 1e-8,
                                                                  "n_s": 1000.0},
              "eta0/eps": {"lr": 1e-6, "eps": 1e-3, "lr_parameterization": "eta0_over_eps"}})

_paper(
    "paper.adagrad", published.adagrad, defaults={"lr": REQUIRED, "eps": 0.0},
    bind=_binder("paper.adagrad", nonnegative=("lr", "eps")),
    reference=ADAGRAD_URL + " (Duchi, Hazan & Singer, JMLR 2011, Figure 1, diagonal "
                            "composite mirror descent with H_t = delta I + diag(G_t)^1/2)",
    doc="G_t = G + g^2, theta -= eta g/(delta + sqrt(G_t)); eps = delta >= 0 outside the "
        "root (default 0; 0/0 taken as 0), accumulator starting at 0",
    variants={"defaults": {"lr": 1e-2}, "delta=1e-8": {"lr": 1e-2, "eps": 1e-8},
              "delta=0.1": {"lr": 1e-2, "eps": 0.1}})

_paper(
    "paper.adadelta", published.adadelta, defaults={"rho": 0.95, "eps": 1e-6},
    bind=_binder("paper.adadelta", nonnegative=("eps",), betas=("rho",)),
    reference=ADADELTA_URL + " (Zeiler 2012, Algorithm 1, ADADELTA)",
    doc="Algorithm 1: E[g^2] = rho E + (1-rho) g^2, dx = -(RMS[dx]_{t-1}/RMS[g]_t) g with "
        "RMS[y] = sqrt(E[y^2] + eps) (eps inside both roots), E[dx^2] = rho E + (1-rho) dx^2, "
        "x += dx; no learning rate (rho 0.95, eps 1e-6 from the paper's experiments)",
    variants={"eps=1e-8": {"eps": 1e-8}, "rho=0.9": {"rho": 0.9}})
# --- end adaptive per-coordinate rates --------------------------------------------------

# --- McAllester's simplified Adam --------------------------------------------------------
_paper(
    "paper.mcallester_adam", mcallester.adam,
    defaults={"lr": REQUIRED, "eps": REQUIRED, "n_g": 10.0, "n_s": 1000.0,
              "lr_parameterization": "eta"},
    bind=_binder("paper.mcallester_adam", nonnegative=("lr", "eps"), positive=("n_g", "n_s"),
                 choices={"lr_parameterization": mcallester.LR_PARAMETERIZATIONS}),
    reference=MCALLESTER_URL + " (McAllester, TTIC 31230 Fundamentals of Deep Learning, "
                               "Winter 2020, 'RMSProp and Adam': Adam (simplified), "
                               "decoupled Adam eta = eta0/eps)",
    doc="g~_t = (1 - 1/min(t,N_g)) g~ + g/min(t,N_g), s_t = (1 - 1/min(t,N_s)) s + "
        "g^2/min(t,N_s) (in place of bias correction), Phi -= eta g~/(sqrt(s_t) + eps); "
        "N_g=10, N_s=1000 match b1=0.9, b2=0.999; lr_parameterization='eta0_over_eps': "
        "eta = lr/eps",
    variants={"defaults": {"lr": 1e-3, "eps": 1e-8},
              "eta0/eps": {"lr": 1e-6, "eps": 1e-3, "lr_parameterization": "eta0_over_eps"},
              "N_s=100": {"lr": 1e-3, "eps": 1e-8, "n_s": 100.0}})
# --- end McAllester ---------------------------------------------------------------------

# --- Sign-based rules (Bello et al., Chen et al.) ----------------------------------------
_SIGN_DEFAULTS = {"lr": REQUIRED, "beta": 0.9, "decay": "constant", "total_steps": None,
                  "cycles": 1, "restart_period": None}


def _sign_binder(name):
    base = _binder(name, nonnegative=("lr",), positive=("alpha",), betas=("beta",),
                   choices={"decay": sign.DECAYS})

    def bind(**kw):
        out = base(**kw)
        decay = out["decay"]
        if decay in ("linear", "cyclical") and not (_number(out["total_steps"])
                                                    and out["total_steps"] > 0):
            raise ValueError(f"{name}: decay={decay!r} needs total_steps > 0")
        if decay == "restart" and not (_number(out["restart_period"])
                                       and out["restart_period"] > 0):
            raise ValueError(f"{name}: decay='restart' needs restart_period > 0")
        return out

    return bind


_SIGN_VARIANTS = {
    "linear decay": {"decay": "linear", "total_steps": 1000},
    "cyclical decay": {"decay": "cyclical", "total_steps": 1000, "cycles": 10},
    "restart decay": {"decay": "restart", "restart_period": 100},
}

_paper(
    "paper.powersign", sign.powersign, defaults={**_SIGN_DEFAULTS, "alpha": math.e},
    bind=_sign_binder("paper.powersign"),
    reference=SIGN_URL + " (Bello, Zoph, Vasudevan & Le, ICML 2017, Section 5: PowerSign)",
    doc="theta -= lr alpha^(f(t) sign(g) sign(m)) g with m = beta m + (1-beta) g, alpha = e, "
        "f(t) constant 1, linear 1 - t/T, cyclical 0.5(1 + cos(2 pi n t/T)) or restart "
        "(cosine decay restarted every T_r steps)",
    variants={"defaults": {"lr": 1e-3}, "alpha=2": {"lr": 1e-3, "alpha": 2.0},
              **{k: {"lr": 1e-3, **v} for k, v in _SIGN_VARIANTS.items()}})

_paper(
    "paper.addsign", sign.addsign, defaults={**_SIGN_DEFAULTS, "alpha": 1.0},
    bind=_sign_binder("paper.addsign"),
    reference=SIGN_URL + " (Bello, Zoph, Vasudevan & Le, ICML 2017, Section 5: AddSign)",
    doc="theta -= lr (alpha + f(t) sign(g) sign(m)) g with m = beta m + (1-beta) g, alpha = 1 "
        "(or 2), f(t) as for PowerSign",
    variants={"defaults": {"lr": 1e-3}, "alpha=2": {"lr": 1e-3, "alpha": 2.0},
              **{k: {"lr": 1e-3, **v} for k, v in _SIGN_VARIANTS.items()}})

_paper(
    "paper.lion", published.lion,
    defaults={"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0},
    bind=_binder("paper.lion", nonnegative=("lr", "weight_decay"), betas=("beta1", "beta2")),
    reference=LION_URL + " (Chen et al., NeurIPS 2023, Algorithm 2, Lion)",
    doc="Algorithm 2: c_t = b1 m + (1-b1) g, theta -= eta (sign(c_t) + lambda theta), "
        "m_t = b2 m + (1-b2) g; no eps (defaults of the paper's implementation: lr 1e-4, "
        "b1 0.9, b2 0.99)",
    variants={"weight_decay=1": {"weight_decay": 1.0}, "lr=1e-3": {"lr": 1e-3}})
# --- end sign-based rules ---------------------------------------------------------------

# --- Adafactor family -----------------------------------------------------------------
from eps_ref.rules.adafactor import adafactor as _adafactor_rule  # noqa: E402

ADAFACTOR_URL = "https://arxiv.org/abs/1804.04235"


def _bind_adafactor(*, lr, beta_2_decay, epsilon_1, epsilon_2, clip_threshold):
    name = "paper.adafactor"
    check_nonnegative(name, lr=lr, epsilon_1=epsilon_1, epsilon_2=epsilon_2)
    if not beta_2_decay < 0:
        raise ValueError(f"{name}: beta_2_decay (the exponent c of 1 - t^c) must be < 0")
    if not clip_threshold >= 1:
        raise ValueError(f"{name}: clip_threshold d must be >= 1, got {clip_threshold}")
    return dict(lr=float(lr), beta_2_decay=float(beta_2_decay), epsilon_1=float(epsilon_1),
                epsilon_2=float(epsilon_2), clip_threshold=float(clip_threshold),
                weight_decay=0.0, weight_decay_mode="none", factor_statistic="sum",
                reduction="float64_rounded", sqrt_method="correctly_rounded",
                inverse_root="divide_by_sqrt", broadcast_division="divide")


_paper(
    "paper.adafactor", _adafactor_rule,
    defaults={"lr": 1e-2, "beta_2_decay": -0.8, "epsilon_1": 1e-30, "epsilon_2": 1e-3,
              "clip_threshold": 1.0},
    bind=_bind_adafactor,
    reference=ADAFACTOR_URL + " (Shazeer & Stern, ICML 2018, Algorithms 4 and 5 with update "
              "clipping, eq. 13, and relative step size, Section 8)",
    doc="Alg. 4: R_t = b R + (1-b)(G^2 + eps1) 1_m, C_t = b C + (1-b) 1_n^T (G^2 + eps1), "
        "V = R C / (1_n^T R), b = 1 - t^-0.8 (Sec. 7.2); U = G/sqrt(V), U /= max(1, RMS(U)/d) "
        "(eq. 13); X -= max(eps2, RMS(X)) min(1e-2, 1/sqrt t) U (Sec. 8); lr is the cap 1e-2; "
        "sums exact, rounded once; in float32 a gradient zero along a row and a column gives "
        "V = 0 there (eps1^2 underflows) and NaN",
    variants={"epsilon_1=1e-3": {"epsilon_1": 1e-3}, "clip_threshold=2": {"clip_threshold": 2.0},
              "epsilon_2=1": {"epsilon_2": 1.0}})
# --- end Adafactor family -------------------------------------------------------------

# --- Lamb family ----------------------------------------------------------------------
from eps_ref.rules.lamb import lamb as _lamb_rule  # noqa: E402

LAMB_URL = "https://arxiv.org/abs/1904.00962"


def _bind_paper_lamb(**kw):
    name = "paper.lamb"
    check_nonnegative(name, lr=kw["lr"], eps=kw["eps"], weight_decay=kw["weight_decay"],
                      gamma_l=kw["gamma_l"])
    check_beta(name, beta1=kw["beta1"], beta2=kw["beta2"])
    if kw["phi"] not in ("identity", "clip"):
        raise ValueError(f"{name}: phi must be one of ('identity', 'clip'), got {kw['phi']!r}")
    if not _number(kw["gamma_u"]) or not kw["gamma_u"] >= kw["gamma_l"]:
        raise ValueError(f"{name}: invalid gamma_u {kw['gamma_u']!r}: must be >= gamma_l")
    return dict(lr=float(kw["lr"]), beta1=float(kw["beta1"]), beta2=float(kw["beta2"]),
                eps=float(kw["eps"]), eps_root=0.0, weight_decay=float(kw["weight_decay"]),
                weight_decay_mode="added_to_direction", moment_update="weighted_sum",
                bias_correction="python_float", correction_op="divide",
                step_order="ratio_times_lr", norm_reduction="float64_rounded",
                sqrt_method="correctly_rounded", zero_norm="formula", phi=kw["phi"],
                phi_min=float(kw["gamma_l"]), phi_max=float(kw["gamma_u"]))


_paper(
    "paper.lamb", _lamb_rule,
    defaults={"lr": REQUIRED, "beta1": 0.9, "beta2": 0.999, "eps": REQUIRED,
              "weight_decay": REQUIRED, "phi": "identity", "gamma_l": 0.0,
              "gamma_u": math.inf},
    bind=_bind_paper_lamb,
    reference=LAMB_URL + " (Algorithm 2)",
    doc="You et al. 2020, Algorithm 2 (LAMB): m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2, "
        "m_hat = m/(1-b1^t), v_hat = v/(1-b2^t), r = m_hat/(sqrt(v_hat) + eps) (eps OUTSIDE "
        "the corrected root), x -= lr * phi(||x||)/||r + wd*x|| * (r + wd*x), phi(z) = z or "
        "min(max(z, gamma_l), gamma_u). Algorithm 2 fixes no lr, eps or lambda; betas are "
        "Adam's. ||r + wd*x|| = 0 (a zero step) takes ratio 1; phi(0) = 0 leaves a zero layer",
    variants={
        "defaults": {"lr": 1e-3, "eps": 1e-6, "weight_decay": 0.01},
        "eps=1e-3": {"lr": 1e-3, "eps": 1e-3, "weight_decay": 0.01},
        "no weight decay": {"lr": 1e-3, "eps": 1e-6, "weight_decay": 0.0},
        "phi=clip": {"lr": 1e-3, "eps": 1e-6, "weight_decay": 0.01, "phi": "clip",
                     "gamma_l": 0.5, "gamma_u": 2.0},
    },
)
# --- end Lamb family ------------------------------------------------------------------

r"""Where a run stands between SignSGD and SGD: :math:`\epsilon` in Algorithm-1 units, step
by step.

Every Adam-, RMSProp- and Adagrad-family rule divides by a root of a second moment and
puts :math:`\epsilon` somewhere near it. Kingma & Ba's Algorithm 1 is the common unit: its
update :math:`\eta\,\hat m/(\sqrt{\hat v} + \epsilon)` is SignSGD-like (a step of about
:math:`\eta`) where :math:`\sqrt{\hat v} \gg \epsilon` and SGD with learning rate
:math:`\eta/\epsilon` where :math:`\sqrt{\hat v} \ll \epsilon`. Each placement maps onto it
(:func:`equivalent_eps`):

=============================  ==========================================================
placement                      :math:`\epsilon` in Algorithm-1 units
=============================  ==========================================================
outside the corrected root     :math:`\epsilon` (optax's ``eps_root`` adds
                               :math:`\sqrt{\hat v + \epsilon_{root}} - \sqrt{\hat v}`)
epsilon-hat (Keras, TF1 Adam)  :math:`\hat\epsilon / \sqrt{1 - \beta_2^t}`
inside the root (TF RMSProp,   :math:`\sqrt{v + \epsilon} - \sqrt{v}`, per coordinate: about
Keras Adagrad)                 :math:`\sqrt\epsilon` where :math:`v \ll \epsilon`, about
                               :math:`\epsilon / 2\sqrt v` where :math:`v \gg \epsilon`
none (TF1 Adagrad)             0
=============================  ==========================================================

:func:`diagnose` runs a spec of this library on a gradient stream (the conformance stream,
whose coordinates mix ordinary, tiny, zero, spiking and sign-flipping gradients, or
gradients recorded from a training run, :func:`load_grads`) and records per step: the
equivalent :math:`\epsilon` (median and range over the coordinates), the fraction of
coordinates in the :math:`\epsilon`-dominated regime (:math:`\epsilon \ge \sqrt{\hat v}`),
and the step taken relative to SignSGD's (:math:`|\Delta\theta|/\eta`) and to the SGD limit's
(:math:`|\Delta\theta|\,\epsilon/(\eta|g|)`), both medians over the coordinates; and it does
the same for the same nominal configuration (the numbers a user would copy: learning rate,
betas or decay, eps) in every other framework (:func:`counterparts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FAMILIES", "check_family", "dropped_note", "Placement", "placement", "equivalent_eps",
           "counterparts", "measure", "bound", "Diagnosis", "Report", "diagnose", "load_grads",
           "markdown", "plot"]

FAMILIES = ("adam", "rmsprop", "adagrad")
"""The families :func:`diagnose` models (their ``eps_ref.docs.family``)."""

_COPIED = ("lr", "eps", "betas[0]", "betas[1]", "alpha")
"""Alias groups (:data:`eps_ref.port.ALIASES`, by their first name) that a nominal port
copies: the numbers a user writes down. Everything else stays at the target's default."""


@dataclass(frozen=True)
class Placement:
    """How a bound optimizer's :math:`\\epsilon` meets its second moment."""

    slot: str            # the second-moment slot in the optimizer state
    where: str           # "outside", "eps_hat", "inside" or "none"
    eps: float
    beta2: float | None  # Adam's beta2 where v is bias-corrected, else None
    corrected: bool      # the slot holds v-hat already (optax's AMSGrad max, the averages
    #                      of McAllester's notes, which need no correction)
    eps_root: float = 0.0
    centered_slot: str | None = None   # centered RMSProp: v - m^2 is under the root
    lr: float = 0.0      # the effective learning rate (eta0/eps under McAllester's form)


def check_family(s) -> None:
    """A clear error for a spec whose family the eps tools (:func:`diagnose`,
    :mod:`eps_ref.damping`, :mod:`eps_ref.sweep`) do not model."""
    from eps_ref.docs import family
    if family(s) not in FAMILIES:
        raise ValueError(f"eps_ref.diagnostics models the {', '.join(FAMILIES)} families; "
                         f"{s.name} is of family {family(s)!r}, whose eps is not a damping "
                         f"of a root")


def dropped_note(dropped) -> str:
    """What a counterpart cannot spell, as a table shows it after its name."""
    return f" (has no {', '.join(dropped)})" if dropped else ""


def placement(opt) -> Placement:
    """The :class:`Placement` of a bound optimizer (``eps_ref.optimizer(...)``); a clear
    error for a family :func:`diagnose` does not model."""
    s, k = opt.spec, opt.rule_kwargs
    check_family(s)
    rule = s.rule.name
    eps = float(k.get("eps", 0.0) or 0.0)
    lr = float(k["lr"])
    if rule == "adam":
        slot, corrected = "v", False
        if k["amsgrad"] == "max_of_raw":
            slot = "v_max"
        elif k["amsgrad"] == "max_of_corrected":
            slot, corrected = "v_max", True
        where = "eps_hat" if k["eps_placement"] == "eps_hat" else "outside"
        return Placement(slot, where, eps, float(k["beta2"]), corrected,
                         float(k.get("eps_root", 0.0)), lr=lr)
    if rule in ("paper.adam", "paper.adamw"):
        where = "eps_hat" if k.get("form") == "eps_hat" else "outside"
        return Placement("v", where, eps, float(k["beta2"]), False, lr=lr)
    if rule == "paper.amsgrad":
        return Placement("v_hat", "outside", eps, None, True, lr=lr)
    if rule.startswith("paper.mcallester"):
        if k.get("lr_parameterization") == "eta0_over_eps":
            lr = lr / eps
        return Placement("s", "outside", eps, None, True, lr=lr)
    if rule == "rmsprop":
        beta = float(k["decay"]) if k["bias_correction"] != "none" else None
        where = "inside" if k["eps_placement"] == "inside_sqrt" else "outside"
        return Placement("square_avg", where, eps, beta, False,
                         centered_slot="grad_avg" if k["centered"] else None, lr=lr)
    if rule == "paper.rmsprop":
        return Placement("mean_square", "outside", eps, None, True, lr=lr)
    if rule == "adagrad":
        where = {"inside_sqrt": "inside", "outside_sqrt": "outside"}.get(k["eps_placement"],
                                                                        "none")
        return Placement("accumulator", where, eps, None, True, lr=lr)
    if rule == "paper.adagrad":
        return Placement("sum_of_squares", "outside", eps, None, True, lr=lr)
    raise ValueError(f"diagnose does not know where {s.name} ({rule}) keeps its second "
                     "moment")


def _second_moment(p: Placement, slots: dict, t: int) -> np.ndarray:
    """:math:`\\hat v` (float64): the slot, bias-corrected where the rule corrects it."""
    v = np.asarray(slots[p.slot], dtype=np.float64)
    if p.centered_slot is not None:
        m = np.asarray(slots[p.centered_slot], dtype=np.float64)
        v = v - m * m
    if p.beta2 is not None and not p.corrected:
        v = v / (1.0 - p.beta2 ** t)
    return v


def equivalent_eps(p: Placement, v_hat: np.ndarray, t: int):
    """:math:`\\epsilon` in Algorithm-1 units at step ``t`` (table above), for the second
    moment ``v_hat`` (:math:`v` itself where the rule does not correct it): per coordinate
    for an eps inside the root or an ``eps_root``, else one number."""
    if p.where == "none":
        return 0.0
    if p.where == "inside":
        v_hat = np.maximum(v_hat, 0.0)
        return np.sqrt(v_hat + p.eps) - np.sqrt(v_hat)
    if p.where == "eps_hat":
        return p.eps / math.sqrt(1.0 - p.beta2 ** t)
    if p.eps_root:
        v_hat = np.maximum(v_hat, 0.0)
        return p.eps + (np.sqrt(v_hat + p.eps_root) - np.sqrt(v_hat))
    return p.eps


# -- the same nominal configuration elsewhere ---------------------------------------------

def counterparts(name: str, **kwargs) -> dict[str, dict]:
    """``{qualified name: keywords}``: ``name`` with ``kwargs`` first, then the first spec of
    the same family in every other framework, given the numbers a user would copy (the
    learning rate, betas or decay and eps, and every keyword passed in ``kwargs`` that the
    target spells in its own way: ``momentum``, ``centered``, ``amsgrad``, ...) and its own
    defaults for everything else."""
    return {n: kw for n, kw, _ in _nominal(name, kwargs)}


def _nominal(name: str, kwargs: dict) -> list[tuple[str, dict, tuple[str, ...]]]:
    """:func:`counterparts` with, for each, the keywords of ``kwargs`` it has no
    spelling for (``amsgrad`` in ``optax.adam``: it is a separate spec there)."""
    import eps_ref
    from eps_ref.port import ALIASES, TARGETS, _families, _flat, _unflat, port_family
    source = eps_ref.spec(name)
    fam = port_family(source)
    bound = _flat(eps_ref.optimizer(name, **kwargs).hyperparams)
    given = set(_flat(kwargs))
    copied_keys = {k for g in ALIASES if g[0] in _COPIED for k in g} | given
    values = {k: v for k, v in bound.items() if k in copied_keys and v is not None}
    out = [(name, dict(kwargs), ())]
    for fw in (*TARGETS, "paper"):
        members = _families(fw).get(fam, []) if fw != source.framework else []
        if not members:
            continue
        target = members[0]
        target_keys = set(_flat(eps_ref.spec(target).defaults)) | set(
            eps_ref.spec(target).defaults)
        copied, dropped = {}, []
        for key, value in values.items():
            group = next((g for g in ALIASES if key in g), (key,))
            spelled = next((k for k in group if k in target_keys), None)
            if spelled is None:
                if key in given:
                    dropped.append(key)
            elif spelled not in copied:
                copied[spelled] = value
        out.append((target, _unflat(copied), tuple(dropped)))
    return out


# -- running a spec ------------------------------------------------------------------------

@dataclass
class Diagnosis:
    """One spec on one gradient stream: per-step arrays, step ``t`` at index ``t - 1``."""

    name: str
    kwargs: dict
    placement: Placement
    eps_median: np.ndarray
    eps_min: np.ndarray
    eps_max: np.ndarray
    dominated: np.ndarray          # fraction of coordinates with eps >= sqrt(v-hat)
    sign_ratio: np.ndarray         # median |step| / lr
    sgd_ratio: np.ndarray          # median |step| * eps / (lr |g|), g != 0
    dominated_by_regime: dict = field(default_factory=dict)   # at the last step
    dropped: tuple = ()            # the source's keywords this counterpart cannot spell

    @property
    def steps(self) -> int:
        return len(self.dominated)


def measure(where: Placement, slots: dict, t: int, param, new, grad):
    """Step ``t``'s numbers: ``(eps median, eps min, eps max, dominated fraction,
    step/SignSGD, step/SGD)`` and the per-coordinate dominated mask, from the state
    ``slots`` after the step from ``param`` to ``new`` on ``grad``."""
    v_hat = _second_moment(where, slots, t)
    eps = equivalent_eps(where, v_hat, t)
    dominated = np.asarray(eps) >= np.sqrt(np.maximum(v_hat, 0.0))
    move = np.abs(np.asarray(new, np.float64) - np.asarray(param, np.float64))
    g = np.abs(np.asarray(grad, np.float64))
    nonzero = g > 0
    if np.ndim(eps):
        stats = (float(np.median(eps)), float(eps.min()), float(eps.max()))
        eps_nz = eps[nonzero]
    else:
        stats, eps_nz = (float(eps),) * 3, eps
    sgd = (float(np.median(move[nonzero] * eps_nz / (where.lr * g[nonzero])))
           if nonzero.any() else math.nan)
    return (*stats, float(dominated.mean()), float(np.median(move)) / where.lr, sgd), dominated


def bound(name: str, kwargs: dict):
    """``(optimizer, placement)`` for ``name`` with ``kwargs``; a clear error where the
    step cannot be measured against the learning rate."""
    import eps_ref
    opt = eps_ref.optimizer(name, **kwargs)
    where = placement(opt)
    if not where.lr > 0:
        raise ValueError(f"{name}: the learning rate must be > 0 to measure a step "
                         f"relative to it, got {where.lr}")
    return opt, where


def _run(name: str, kwargs: dict, param0: np.ndarray, grads: np.ndarray,
         regimes: dict | None = None, progress=None) -> Diagnosis:
    opt, where = bound(name, kwargs)
    steps = len(grads)
    rows = np.empty((6, steps))
    param, state = param0, opt.init(param0)
    every = max(1, steps // 10) if progress and grads.size >= 10 ** 7 else 0
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            if every and t % every == 0:
                progress(f"{name}: step {t} of {steps}")
            new, state = opt.step(param, grads[t - 1], state)
            rows[:, t - 1], dominated = measure(where, state["slots"][0], t, param, new,
                                                grads[t - 1])
            param = new
    by_regime = {} if regimes is None else {
        regime: float(dominated[idx].mean()) for regime, idx in regimes.items()}
    return Diagnosis(name, dict(kwargs), where, *rows, dominated_by_regime=by_regime)


def load_grads(path) -> tuple[np.ndarray, np.ndarray]:
    """``(params0, grads)`` from an ``.npz`` of recorded gradients: ``grads`` of shape
    ``(steps, ...)``, or several ``grads/<name>`` arrays (a parameter tree, each
    ``(steps, ...)``, the same steps), and optionally ``params0`` (or ``params0/<name>``) of
    one step's shape (zeros where absent). A tree is flattened into one vector: the rules
    :func:`diagnose` models are elementwise. Float32 or float64. An
    :class:`eps_ref.testing.Recording` file is one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no gradients file at {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:                         # not NumPy's, truncated, pickled
        raise ValueError(f"{path}: not a NumPy .npz file ({e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz archive; save the "
                         "gradients with numpy.savez(path, grads=...)")
    with data:
        keys = list(data.files)
        if "grads" in keys:
            names, tree = [None], False
        else:
            names, tree = sorted(k.split("/", 1)[1] for k in keys
                                 if k.startswith("grads/")), True
            if not names:
                raise ValueError(f"{path}: holds {keys}; expected an array 'grads' of shape "
                                 "(steps, ...) or arrays 'grads/<name>' (a tree)")
        grads, params = [], []
        for n in names:
            g = data["grads" if not tree else f"grads/{n}"]
            label = "grads" if not tree else f"grads/{n}"
            if g.ndim < 1 or g.shape[0] < 1:
                raise ValueError(f"{path}: {label} has shape {g.shape}; expected (steps, ...) "
                                 "with at least one step")
            if g.dtype not in (np.float32, np.float64):
                raise ValueError(f"{path}: {label} is {g.dtype}; expected float32 or float64")
            if grads and g.shape[0] != grads[0].shape[0]:
                raise ValueError(f"{path}: {label} has {g.shape[0]} steps, "
                                 f"{'grads/' + names[0]} {grads[0].shape[0]}")
            p_key = "params0" if not tree else f"params0/{n}"
            p = data[p_key] if p_key in keys else np.zeros(g.shape[1:], g.dtype)
            if p.shape != g.shape[1:]:
                raise ValueError(f"{path}: {p_key} has shape {p.shape}, one step of {label} "
                                 f"{g.shape[1:]}")
            grads.append(g.reshape(g.shape[0], -1))
            params.append(p.astype(g.dtype).reshape(-1))
    dtype = np.result_type(*grads)
    grads_ = np.concatenate(grads, axis=1).astype(dtype)
    if grads_.shape[1] == 0:
        raise ValueError(f"{path}: the gradients have no elements")
    if not np.all(np.isfinite(grads_)):
        raise ValueError(f"{path}: the gradients hold {int(np.sum(~np.isfinite(grads_)))} "
                         "non-finite values")
    return np.concatenate(params).astype(dtype), grads_


@dataclass
class Report:
    """:func:`diagnose`'s answer: one :class:`Diagnosis` per spec, the requested one first."""

    runs: list[Diagnosis]
    source: str                   # "the conformance stream (seed 0)" or the file

    @property
    def main(self) -> Diagnosis:
        return self.runs[0]

    def markdown(self) -> str:
        return markdown(self)

    def plot(self, path) -> None:
        plot(self, path)


def diagnose(name: str, grads=None, *, steps: int = 1000, seed: int = 0,
             compare: bool = True, progress=None, **kwargs) -> Report:
    """Run ``name`` (with ``kwargs``) on ``grads`` and, with ``compare``, the same nominal
    configuration in the other frameworks (:func:`counterparts`).

    ``grads``: None (the conformance stream, ``steps`` steps), a path to an ``.npz``
    (:func:`load_grads`) or an array ``(steps, ...)``. ``progress``: called with a line
    before each spec runs (and every tenth of the steps on a stream of 10^7 values or
    more)."""
    import eps_ref
    from eps_ref.conformance.streams import gradient_stream, initial_params, regime_indices
    eps_ref.spec(name)                                    # unknown names: the nearest one
    placement(eps_ref.optimizer(name, **kwargs))          # an unmodelled family: say so now
    regimes = None
    if grads is None:
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        grads_ = gradient_stream(steps, seed).reshape(steps, -1)
        param0 = initial_params(seed).reshape(-1)
        regimes = regime_indices()
        source = f"the conformance gradient stream (seed {seed}, {steps} steps, 64 coordinates)"
    elif isinstance(grads, (str, Path)):
        param0, grads_ = load_grads(grads)
        source = f"`{Path(grads).name}` ({grads_.shape[0]} steps, {grads_.shape[1]:,} coordinates)"
    else:
        grads_ = np.asarray(grads)
        if grads_.ndim < 2 or grads_.dtype not in (np.float32, np.float64):
            raise ValueError(f"grads must be a float32/float64 array (steps, ...), got "
                             f"{grads_.dtype} of shape {grads_.shape}")
        grads_ = grads_.reshape(len(grads_), -1)
        param0 = np.zeros(grads_.shape[1], grads_.dtype)
        source = f"the given gradients ({grads_.shape[0]} steps, {grads_.shape[1]:,} coordinates)"
    configs = _nominal(name, kwargs) if compare else [(name, dict(kwargs), ())]
    runs = []
    for spec_name, kw, dropped in configs:
        if progress:
            progress(f"running {spec_name}")
        runs.append(_run(spec_name, kw, param0, grads_, regimes, progress))
        runs[-1].dropped = dropped
    return Report(runs, source)


# -- presenting ----------------------------------------------------------------------------

def _at(steps: int) -> list[int]:
    return sorted({t for t in (1, 10, 100, 1000, steps) if t <= steps})


def _call(d: Diagnosis) -> str:
    call = f"`{d.name}({', '.join(f'{k}={v!r}' for k, v in d.kwargs.items())})`"
    return call + dropped_note(d.dropped)


def markdown(report: Report) -> str:
    """Per spec, at steps 1, 10, 100, 1000 and the last: eps in Algorithm-1 units, the
    eps-dominated fraction, and the step relative to SignSGD's and to the SGD limit's."""
    lines = [f"On {report.source}. eps: in Algorithm-1 units (median over the coordinates, "
             "the range where it varies); dominated: the fraction of coordinates where eps >= "
             "sqrt(v-hat); step/SignSGD: median |step| / lr; step/SGD: median |step| eps / "
             "(lr |g|), the SGD limit (lr/eps) g.", "",
             "| spec | placement | step | eps | dominated | step/SignSGD | step/SGD |",
             "|---|---|---|---|---|---|---|"]
    for d in report.runs:
        for i, t in enumerate(_at(d.steps)):
            k = t - 1
            eps = f"{d.eps_median[k]:.3g}"
            if d.eps_max[k] > d.eps_min[k] * (1 + 1e-9):
                eps += f" ({d.eps_min[k]:.2g} to {d.eps_max[k]:.2g})"
            head = (_call(d), d.placement.where) if i == 0 else ("", "")
            lines.append(f"| {head[0]} | {head[1]} | {t} | {eps} | {d.dominated[k]:.0%} | "
                         f"{d.sign_ratio[k]:.3g} | {d.sgd_ratio[k]:.3g} |")
    if report.main.dominated_by_regime:
        regimes = list(report.main.dominated_by_regime)
        lines += ["", f"The eps-dominated fraction per regime of the stream at step "
                  f"{report.main.steps}:", "",
                  "| spec | " + " | ".join(regimes) + " |", "|---|" + "---|" * len(regimes)]
        for d in report.runs:
            lines.append(f"| `{d.name}` | " + " | ".join(
                f"{d.dominated_by_regime[r]:.0%}" for r in regimes) + " |")
    return "\n".join(lines)


_STYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (1, 2, 5, 2)))


def plot(report: Report, path) -> None:
    """Four panels against the step: eps in Algorithm-1 units, the eps-dominated fraction,
    the step over SignSGD's and over the SGD limit's; one line per spec."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = (("eps_median", "eps in Algorithm-1 units (median)", True),
              ("dominated", "fraction eps-dominated (eps >= sqrt(v-hat))", False),
              ("sign_ratio", "median |step| / lr  (SignSGD = 1)", True),
              ("sgd_ratio", "median |step| eps / (lr |g|)  (SGD limit = 1)", True))
    for ax, (attr, title, log) in zip(axes.flat, panels):
        for d in report.runs:
            y = getattr(d, attr)
            t = np.arange(1, len(y) + 1)
            ax.plot(t, np.where(y > 0, y, np.nan) if log else y, label=d.name, lw=1.2,
                    ls=_STYLES[report.runs.index(d) % len(_STYLES)])
        ax.set_title(title, fontsize=9)
        ax.set_xscale("log")
        if log:
            ax.set_yscale("log")
    for ax in axes[1]:
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{_call(report.main)} and its nominal counterparts", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

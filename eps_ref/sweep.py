r"""An :math:`\epsilon` sweep: the same training at several :math:`\epsilon`, in every
dialect of the same optimizer.

:func:`sweep` trains a built-in problem (:mod:`eps_ref.problems`: a logistic regression, a
two-layer MLP, full batch, float64) with a spec at each :math:`\epsilon`, and with its
nominal counterparts in the other frameworks (:func:`eps_ref.diagnostics.counterparts`:
the same learning rate, betas and eps, each framework placing the eps its own way). It
records the loss curve and the fraction of coordinates in the :math:`\epsilon`-dominated
regime (:mod:`eps_ref.diagnostics`). With ``eta0=True`` the learning-rate keyword is
McAllester's :math:`\eta_0` (``../shared/seeds/002``): each run's learning rate is
:math:`\eta = \eta_0/\epsilon`: the step is :math:`\eta_0 g/\epsilon^2` where
:math:`\sqrt{\hat v} \ll \epsilon` and :math:`(\eta_0/\epsilon)\, \hat m/\sqrt{\hat v}` where
:math:`\sqrt{\hat v} \gg \epsilon`.

On recorded gradients (``grads=``, :func:`eps_ref.diagnostics.load_grads`) nothing can be
retrained (the gradients would change with the parameters): the sweep reports the
regime fractions of the recorded stream at each :math:`\epsilon`, without a loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SweepRun", "Sweep", "sweep", "markdown", "plot", "DIVERGED"]

DIVERGED = 1e6
"""A loss above this many times the initial loss, or not finite, is a divergence."""


@dataclass
class SweepRun:
    """One spec at one eps: per step ``t`` (index ``t - 1``) the loss after the step (NaN
    on recorded gradients) and the eps-dominated fraction."""

    name: str
    kwargs: dict
    eps: float
    loss: np.ndarray
    dominated: np.ndarray

    @property
    def diverged(self) -> bool:
        return bool(self.loss.size) and not np.all(np.isfinite(self.loss))


@dataclass
class Sweep:
    runs: list[SweepRun]
    eps: tuple[float, ...]
    source: str
    initial_loss: float        # NaN on recorded gradients
    eta0: bool
    dropped: dict = field(default_factory=dict)   # spec -> the keywords it cannot spell

    def label(self, name: str) -> str:
        """``name`` in a table, with the source's keywords it has no spelling for."""
        from eps_ref.diagnostics import dropped_note
        return f"`{name}`" + dropped_note(self.dropped.get(name))

    @property
    def specs(self) -> list[str]:
        return list(dict.fromkeys(r.name for r in self.runs))

    def run(self, name: str, eps: float) -> SweepRun:
        return next(r for r in self.runs if r.name == name and r.eps == eps)

    def markdown(self) -> str:
        return markdown(self)

    def plot(self, path) -> None:
        plot(self, path)


def _check_eps(values) -> tuple[float, ...]:
    out = []
    for v in values:
        v = float(v)
        if not v > 0 or not math.isfinite(v):
            raise ValueError(f"every eps of a sweep must be a finite number > 0, got {v!r}")
        out.append(v)
    if not out:
        raise ValueError("a sweep needs at least one eps")
    return tuple(out)


def _keywords(name: str, kwargs: dict, eps: float, eta0: bool) -> dict:
    from eps_ref.damping import eps_keyword
    import eps_ref
    kw = {**kwargs, eps_keyword(name): eps}
    if eta0:
        lr_key = next(k for k in ("lr", "learning_rate") if k in eps_ref.spec(name).defaults)
        if lr_key not in kwargs:
            raise ValueError(f"{name}: with eta0, give eta0 as {lr_key}=")
        kw[lr_key] = float(kwargs[lr_key]) / eps
    return kw


def _train(name: str, kw: dict, prob, steps: int, w0: np.ndarray, initial: float):
    from eps_ref.diagnostics import bound, measure
    opt, where = bound(name, kw)
    w, state = w0, opt.init(w0)
    loss = np.full(steps, np.nan)
    dominated = np.full(steps, np.nan)
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            g = prob.grad(w)
            new, state = opt.step(w, g, state)
            dominated[t - 1] = measure(where, state["slots"][0], t, w, new, g)[0][3]
            loss[t - 1] = prob.loss(new)
            if not np.isfinite(loss[t - 1]) or loss[t - 1] > DIVERGED * max(initial, 1e-300):
                loss[t - 1:] = np.inf
                break
            w = new
    return loss, dominated


def sweep(name: str, eps=(1e-8, 1e-5, 1e-3, 1.0), *, problem: str = "mlp",
          grads=None, steps: int = 500, eta0: bool = False, dialects: bool = True,
          progress=None, **kwargs) -> Sweep:
    """Train ``problem`` (or read ``grads``, a path to recorded gradients) with ``name``
    at each ``eps``, and with its nominal counterparts when ``dialects``. ``kwargs`` go to
    every spec in its own spelling (the learning rate is :math:`\\eta_0` with ``eta0``).
    ``progress``: called with ``(spec, eps)`` before each run."""
    import eps_ref
    from eps_ref.diagnostics import _nominal, _run, load_grads
    from eps_ref.problems import problem as make_problem
    eps_values = _check_eps(eps)
    eps_ref.spec(name)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    nominal = _nominal(name, kwargs) if dialects else [(name, dict(kwargs), ())]
    configs = {n: kw for n, kw, _ in nominal}
    for spec_name, kw in configs.items():                  # every config builds, or say so
        for e in eps_values:
            _keywords(spec_name, kw, e, eta0)
    runs = []
    if grads is not None:
        param0, stream = load_grads(grads)
        source, initial = f"the gradients recorded in `{grads}` ({len(stream)} steps)", math.nan
    else:
        prob = make_problem(problem)
        w0 = prob.init()
        initial = prob.loss(w0)
        source = (f"the `{problem}` problem ({prob.size:,} parameters, full batch, "
                  f"{steps} steps, initial loss {initial:.4g})")
    for spec_name, kw in configs.items():
        for e in eps_values:
            if progress:
                progress(spec_name, e)
            run_kw = _keywords(spec_name, kw, e, eta0)
            if grads is not None:
                d = _run(spec_name, run_kw, param0, stream)
                runs.append(SweepRun(spec_name, run_kw, e, np.full(d.steps, np.nan),
                                     d.dominated))
            else:
                loss, dominated = _train(spec_name, run_kw, prob, steps, w0, initial)
                runs.append(SweepRun(spec_name, run_kw, e, loss, dominated))
    return Sweep(runs, eps_values, source, initial, eta0,
                 {n: dropped for n, _, dropped in nominal if dropped})


def _loss_cell(r: SweepRun, t: int) -> str:
    """The loss after step ``t``, or where the run diverged if it did by then."""
    bad = np.flatnonzero(~np.isfinite(r.loss[:t]))
    return f"diverged (step {bad[0] + 1})" if bad.size else f"{r.loss[t - 1]:.4g}"


def markdown(s: Sweep) -> str:
    """Per spec and eps: the loss after 10%, 50% and all of the steps (or the dominated
    fraction alone on recorded gradients), and the eps-dominated fraction at the end."""
    steps = len(s.runs[0].dominated)
    marks = sorted({max(1, steps // 10), max(1, steps // 2), steps})
    lr = "eta0 (lr = eta0/eps)" if s.eta0 else "the learning rate as given"
    recorded = math.isnan(s.initial_loss)
    lines = [f"On {s.source}; {lr}."]
    if recorded:
        lines += ["", "| spec | " + " | ".join(f"eps={e:g}" for e in s.eps) + " |",
                  "|---|" + "---|" * len(s.eps)]
        for name in s.specs:
            lines.append(f"| {s.label(name)} | " + " | ".join(
                f"{s.run(name, e).dominated[-1]:.0%} dominated" for e in s.eps) + " |")
        return "\n".join(lines)
    lines += ["", "| spec | eps | " + " | ".join(f"loss at {t}" for t in marks)
              + " | dominated at the end |", "|---|---|" + "---|" * (len(marks) + 1)]
    for name in s.specs:
        for i, e in enumerate(s.eps):
            r = s.run(name, e)
            cells = [_loss_cell(r, t) for t in marks]
            dom = r.dominated[np.isfinite(r.dominated)]
            lines.append(f"| {s.label(name) if i == 0 else ''} | {e:g} | "
                         + " | ".join(cells) + f" | {dom[-1] if dom.size else math.nan:.0%} |")
    return "\n".join(lines)


def plot(s: Sweep, path) -> None:
    """The first spec's loss curves and eps-dominated fractions, one line per eps, and
    every dialect's final loss against eps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    recorded = math.isnan(s.initial_loss)
    fig, axes = plt.subplots(1, 2 if recorded else 3, figsize=(8 if recorded else 14, 4.2))
    main = s.specs[0]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(s.eps)))
    k = 0
    if not recorded:
        for e, c in zip(s.eps, colors):
            r = s.run(main, e)
            axes[0].plot(np.arange(1, len(r.loss) + 1), r.loss, color=c, label=f"eps={e:g}")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("step")
        axes[0].set_title(f"{main}: loss", fontsize=9)
        axes[0].legend(fontsize=7)
        k = 1
    for e, c in zip(s.eps, colors):
        r = s.run(main, e)
        axes[k].plot(np.arange(1, len(r.dominated) + 1), r.dominated, color=c,
                     label=f"eps={e:g}")
    axes[k].set_ylim(-0.02, 1.02)
    axes[k].set_xlabel("step")
    axes[k].set_title(f"{main}: fraction eps-dominated", fontsize=9)
    ax = axes[k + 1]
    for name in s.specs:
        if recorded:
            y = [s.run(name, e).dominated[-1] for e in s.eps]
        else:
            y = [s.run(name, e).loss[-1] for e in s.eps]
        ax.plot(s.eps, y, marker="o", label=name, lw=1)
    ax.set_xscale("log")
    if not recorded:
        ax.set_yscale("log")
    ax.set_xlabel("eps (nominal)")
    ax.set_title("final loss per dialect" if not recorded else "final dominated fraction",
                 fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

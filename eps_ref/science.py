r"""The softsign view of Adam's :math:`\epsilon`, and its batch-size scaling, checked by
simulation.

Su's analysis of the learning rate and the batch size (``../shared/seeds/001``) models
Adam with :math:`\epsilon` as SoftSignSGD: one coordinate's update direction is

.. math::

    \varphi = \mathrm{softsign}(\tilde g_B, \epsilon) = \frac{\tilde g_B}{\sqrt{\tilde g_B^2
    + \epsilon^2}}, \qquad \tilde g_B = g + \sigma z / \sqrt{B},\ z \sim N(0, 1),

between SignSGD (:math:`\epsilon \to 0`) and SGD with learning rate :math:`\eta/\epsilon`
(:math:`\epsilon \to \infty`: :math:`\epsilon\,\mathrm{softsign}(x, \epsilon) \to x`). With
softsign replaced by a clip and the Gaussian integrals approximated, it gives (eqs. 10-18):

- :func:`mean_direction`: :math:`E[\varphi] \approx \mathrm{softsign}(g, \epsilon) /
  \sqrt{1 + \pi\sigma^2/((g^2+\epsilon^2) 2B)}` (eq. 10, before the mean field), and with
  the mean field :math:`\nu\beta`, :math:`\beta = (1 + \pi\kappa^2/2B)^{-1/2}`;
- :func:`second_moment`: :math:`E[\varphi^2] \approx 1 - \frac{\epsilon^2/(g^2+\epsilon^2)}
  {1 + \pi\sigma^2/((g^2+\epsilon^2) 2B)}` (eq. 12);
- :func:`optimal_lr`: :math:`\eta^* \approx \beta\sum_i \nu_i g_i / (\beta^2 \sum_{ij}
  \nu_i\nu_j H_{ij} + (1-\beta^2)\sum_i H_{ii})` (eq. 14) for a quadratic loss with
  Hessian :math:`H`;
- :func:`surge_possible`: the necessary condition of the Surge phenomenon (:math:`\eta^*`
  not increasing in :math:`B` everywhere), :math:`\sum_{ij}\nu_i\nu_j H_{ij} > \sum_i
  H_{ii}` (eq. 15);
- :func:`sgd_limit`: :math:`\eta^*/\epsilon` for large :math:`\epsilon`, SGD's optimal rate
  with gradient covariance :math:`(\pi\sigma^2/2B) I` (eq. 18).

:func:`simulate` measures :math:`E[\varphi]` and :math:`E[\varphi^2]` by Monte-Carlo
sampling (the exact softsign of :math:`g + \sigma z/\sqrt B`, or the update direction of
any optimizer spec of this library at steady state, which is where the softsign is a
model rather than the rule), and :func:`accuracy` compares them with the approximations
over a grid of :math:`g/\sigma`, :math:`\epsilon/\sigma` and :math:`B`.

:func:`write_document` (``eps-ref science``) writes all of it to ``docs/eps-science.md``
with the other tools on eps: where each framework's RAdam starts rectifying, the regime
diagnostics of :mod:`eps_ref.diagnostics` on recorded gradients, the adaptive damping of
:mod:`eps_ref.damping` and the sweep of :mod:`eps_ref.sweep`, on the problems of
:mod:`eps_ref.problems`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["softsign", "mean_direction", "second_moment", "mean_field_beta", "optimal_lr",
           "surge_possible", "sgd_limit", "simulate", "accuracy", "Accuracy", "markdown",
           "write_document", "plot_damping", "diagnose_section", "damping_section",
           "sweep_section", "DAMPING_RUNS", "radam_rho", "rectified_from", "radam_markdown",
           "RADAM_SPECS"]


def _eps(eps) -> float:
    eps = float(eps)
    if not eps >= 0 or math.isinf(eps):
        raise ValueError(f"eps must be a finite number >= 0 (0 is SignSGD), got {eps!r}")
    return eps


def _batch(batch) -> float:
    batch = float(batch)
    if not batch > 0 or math.isinf(batch):
        raise ValueError(f"the batch size must be a finite number > 0, got {batch!r}")
    return batch


def _sigma(sigma):
    sigma = np.asarray(sigma, dtype=np.float64)
    if not (np.all(sigma >= 0) and np.all(np.isfinite(sigma))):
        raise ValueError("sigma (the per-coordinate gradient noise) must be finite and >= 0")
    return sigma


def softsign(x, eps):
    r""":math:`x / \sqrt{x^2 + \epsilon^2}` (eq. 1); ``eps=0`` is :math:`\mathrm{sign}(x)`
    (0 at 0)."""
    x = np.asarray(x, dtype=np.float64)
    eps = _eps(eps)
    if eps == 0:
        return np.sign(x)
    return x / np.hypot(x, eps)


def mean_direction(g, sigma, eps, batch):
    r""":math:`E[\varphi]` per coordinate, eq. 10 before the mean field:
    :math:`\mathrm{softsign}(g, \epsilon) / \sqrt{1 + \pi\sigma^2/((g^2+\epsilon^2)\,2B)}`
    (at :math:`g = \epsilon = 0`: 0)."""
    g = np.asarray(g, dtype=np.float64)
    sigma, eps, batch = _sigma(sigma), _eps(eps), _batch(batch)
    scale = g * g + eps * eps
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (g / sigma) / np.sqrt(scale / sigma ** 2 + math.pi / (2 * batch))
    noiseless = softsign(g, eps) * np.ones_like(out)
    return np.where(sigma == 0, noiseless, np.nan_to_num(out))


def second_moment(g, sigma, eps, batch):
    r""":math:`E[\varphi^2]` per coordinate, eq. 12: :math:`1 - \frac{\epsilon^2/(g^2+
    \epsilon^2)}{1 + \pi\sigma^2/((g^2+\epsilon^2)\,2B)}` (1 at :math:`\epsilon = 0`)."""
    g = np.asarray(g, dtype=np.float64)
    sigma, eps, batch = _sigma(sigma), _eps(eps), _batch(batch)
    scale = g * g + eps * eps
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1 - (eps * eps / scale) / (1 + math.pi * sigma ** 2 / (scale * 2 * batch))
    return np.where(scale == 0, 1.0, out)


def mean_field_beta(g, sigma, eps, batch, kappa2=None) -> float:
    r""":math:`\beta = (1 + \pi\kappa^2/2B)^{-1/2}`, with :math:`\kappa^2` (default) the mean
    of :math:`\sigma_i^2/(g_i^2+\epsilon^2)` over the coordinates (the mean field)."""
    g = np.asarray(g, dtype=np.float64)
    sigma, eps, batch = _sigma(sigma), _eps(eps), _batch(batch)
    if kappa2 is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = sigma ** 2 * np.ones_like(g) / (g * g + eps * eps)
        kappa2 = float(np.mean(np.nan_to_num(ratio, posinf=0.0)))
    return 1.0 / math.sqrt(1.0 + math.pi * float(kappa2) / (2 * batch))


def _quadratic(g, hessian):
    g = np.asarray(g, dtype=np.float64).reshape(-1)
    h = np.asarray(hessian, dtype=np.float64)
    if h.shape != (g.size, g.size):
        raise ValueError(f"the Hessian must be {g.size}x{g.size} for {g.size} coordinates, "
                         f"got shape {h.shape}")
    return g, h


def optimal_lr(g, hessian, sigma, eps, batch, kappa2=None) -> float:
    r""":math:`\eta^*` of eq. 14: the learning rate that minimizes the expected loss after
    one step on the quadratic model with gradient ``g`` and Hessian ``hessian``."""
    g, h = _quadratic(g, hessian)
    nu = softsign(g, eps)
    beta = mean_field_beta(g, sigma, eps, batch, kappa2)
    return beta * float(nu @ g) / (beta ** 2 * float(nu @ h @ nu)
                                   + (1 - beta ** 2) * float(np.trace(h)))


def surge_possible(g, hessian, eps) -> bool:
    r"""Eq. 15, the necessary condition of the Surge phenomenon:
    :math:`\sum_{ij}\nu_i\nu_j H_{ij} - \sum_i H_{ii} > 0`. Never true for large
    :math:`\epsilon` (:math:`\nu \to 0`)."""
    g, h = _quadratic(g, hessian)
    nu = softsign(g, eps)
    return float(nu @ h @ nu) - float(np.trace(h)) > 0


def sgd_limit(g, hessian, sigma, batch) -> float:
    r"""Eq. 18, :math:`\lim \eta^*/\epsilon` as :math:`\epsilon \to \infty`:
    :math:`\sum_i g_i^2 / (\sum_{ij} g_i g_j H_{ij} + \pi\sigma^2 \sum_i H_{ii}/2B)`,
    :math:`\sigma^2` the mean of the :math:`\sigma_i^2`: SGD's optimal rate with gradient
    covariance :math:`(\pi\sigma^2/2B) I`."""
    g, h = _quadratic(g, hessian)
    s2 = float(np.mean(_sigma(sigma) ** 2 * np.ones_like(g)))
    return float(g @ g) / (float(g @ h @ g) + math.pi * s2 * float(np.trace(h))
                           / (2 * _batch(batch)))


def simulate(g, sigma, eps, batch, *, samples: int = 20000, seed: int = 0, spec=None,
             warmup: int = 200):
    r"""``(E[phi], E[phi^2])`` per coordinate by Monte Carlo.

    Without ``spec``: the exact :math:`\mathrm{softsign}(g + \sigma z/\sqrt B, \epsilon)`
    over ``samples`` draws. With ``spec`` (a qualified name, e.g. ``"paper.adam"``): the
    update direction :math:`-\Delta\theta/\eta` of that optimizer (its learning rate 1
    and its epsilon ``eps``, in float64) over ``samples`` steps on the noisy gradients,
    after ``warmup`` steps, so that the moments are at their steady state."""
    g = np.asarray(g, dtype=np.float64)
    sigma, eps, batch = _sigma(sigma), _eps(eps), _batch(batch)
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    rng = np.random.default_rng(seed)
    noise = sigma / math.sqrt(batch)
    if spec is None:
        draws = g + noise * rng.standard_normal((samples,) + g.shape)
        phi = softsign(draws, eps)
        return phi.mean(axis=0), (phi * phi).mean(axis=0)
    import eps_ref
    keys = set(eps_ref.spec(spec).defaults)
    lr_key = next((k for k in ("lr", "learning_rate") if k in keys), None)
    eps_key = next((k for k in ("eps", "epsilon") if k in keys), None)
    if lr_key is None or eps_key is None:
        raise ValueError(f"{spec} has no learning rate and epsilon keywords to set")
    opt = eps_ref.optimizer(spec, **{lr_key: 1.0, eps_key: eps})
    param = np.zeros(g.shape, np.float64)
    state = opt.init(param)
    total = np.zeros_like(param)
    total2 = np.zeros_like(param)
    for step in range(warmup + samples):
        grad = g + noise * rng.standard_normal(g.shape)
        new, state = opt.step(param, grad, state)
        if step >= warmup:
            phi = param - new
            total += phi
            total2 += phi * phi
        param = new
    return total / samples, total2 / samples


@dataclass(frozen=True)
class Accuracy:
    """One grid point: the approximations next to the simulation."""

    g_over_sigma: float
    eps_over_sigma: float
    batch: float
    mean_approx: float
    mean_simulated: float
    second_approx: float
    second_simulated: float

    @property
    def mean_error(self) -> float:
        return abs(self.mean_approx - self.mean_simulated)

    @property
    def second_error(self) -> float:
        return abs(self.second_approx - self.second_simulated)


def accuracy(g_over_sigma=(0.0, 0.1, 0.3, 1.0, 3.0), eps_over_sigma=(0.0, 0.1, 1.0, 10.0),
             batches=(1, 4, 16, 64, 256), *, samples: int = 20000, seed: int = 0,
             spec=None) -> list[Accuracy]:
    """:func:`mean_direction` and :func:`second_moment` against :func:`simulate` on the
    grid (:math:`\\sigma = 1`), one :class:`Accuracy` per point."""
    g = np.asarray(g_over_sigma, dtype=np.float64)
    out = []
    for eps in eps_over_sigma:
        for batch in batches:
            mean_sim, second_sim = simulate(g, 1.0, eps, batch, samples=samples, seed=seed,
                                            spec=spec)
            mean_approx = mean_direction(g, 1.0, eps, batch)
            second_approx = second_moment(g, 1.0, eps, batch)
            for i, gi in enumerate(g):
                out.append(Accuracy(float(gi), float(eps), float(batch),
                                    float(mean_approx[i]), float(mean_sim[i]),
                                    float(second_approx[i]), float(second_sim[i])))
    return out


def markdown(grid: list[Accuracy], *, samples: int) -> str:
    """The accuracy table: the worst error of each approximation per :math:`\\epsilon/\\sigma`
    and :math:`B`, and the points behind the worst ones."""
    eps_values = sorted({p.eps_over_sigma for p in grid})
    batches = sorted({p.batch for p in grid})
    lines = [f"Worst absolute error over g/sigma in "
             f"{{{', '.join(f'{v:g}' for v in sorted({p.g_over_sigma for p in grid}))}}} "
             f"({samples:,} Monte-Carlo draws a point; E[phi] from eq. 10, E[phi^2] from "
             "eq. 12):", "",
             "| eps/sigma | " + " | ".join(f"B={b:g}" for b in batches) + " |",
             "|---|" + "---|" * len(batches)]
    for eps in eps_values:
        cells = []
        for b in batches:
            points = [p for p in grid if p.eps_over_sigma == eps and p.batch == b]
            cells.append(f"{max(p.mean_error for p in points):.3f} / "
                         f"{max(p.second_error for p in points):.3f}")
        lines.append(f"| {eps:g} | " + " | ".join(cells) + " |")
    worst_mean = max(grid, key=lambda p: p.mean_error)
    worst_second = max(grid, key=lambda p: p.second_error)
    lines += ["", "Each cell: E[phi] error / E[phi^2] error. Worst E[phi]: "
              f"g/sigma={worst_mean.g_over_sigma:g}, eps/sigma={worst_mean.eps_over_sigma:g}, "
              f"B={worst_mean.batch:g} (approximation {worst_mean.mean_approx:.3f}, simulated "
              f"{worst_mean.mean_simulated:.3f}); worst E[phi^2]: "
              f"g/sigma={worst_second.g_over_sigma:g}, "
              f"eps/sigma={worst_second.eps_over_sigma:g}, B={worst_second.batch:g} "
              f"({worst_second.second_approx:.3f} against {worst_second.second_simulated:.3f})."]
    return "\n".join(lines)


def plot(path, *, samples: int = 20000, seed: int = 0) -> None:
    """E[phi] against B: eq. 10 (lines) and the simulation (points), g/sigma = 0.3, for
    eps/sigma from SignSGD to SGD."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    batches = np.geomspace(1, 1024, 11)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for eps, color in zip((0.0, 0.1, 0.3, 1.0, 3.0), ("C0", "C1", "C2", "C3", "C4")):
        sims = [float(simulate([0.3], 1.0, eps, b, samples=samples, seed=seed)[0][0])
                for b in batches]
        fine = np.geomspace(1, 1024, 200)
        ax.plot(fine, [float(mean_direction([0.3], 1.0, eps, b)[0]) for b in fine],
                color=color, label=f"eps/sigma={eps:g}")
        ax.scatter(batches, sims, color=color, s=14)
    ax.set_xscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("E[softsign(g + sigma z / sqrt(B), eps)]")
    ax.set_title("g/sigma = 0.3: eq. 10 (lines) against Monte Carlo (points)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_damping(histories: dict, path) -> None:
    """eps and the loss against the step, one line per labelled
    :class:`~eps_ref.damping.DampingHistory`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, h in histories.items():
        steps = np.arange(1, len(h.eps) + 1)
        left.plot(steps, h.eps, label=label, lw=1.2)
        right.plot(steps, h.loss, label=label, lw=1.2)
    left.set_yscale("log")
    left.set_title("eps (Levenberg-Marquardt, every 5 steps)", fontsize=9)
    right.set_yscale("log")
    right.set_title("loss", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("step")
    left.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


DAMPING_RUNS = (
    ("logistic", "torch.optim.Adam", {"lr": 1e-2}),
    ("logistic", "torch.optim.RMSprop", {"lr": 1e-2}),
    ("logistic", "torch.optim.RMSprop", {"lr": 1e-1}),
    ("mlp", "torch.optim.Adam", {"lr": 1e-1}),
    ("mlp", "keras.optimizers.Adam", {"learning_rate": 1e-2}),
    ("mlp", "torch.optim.RMSprop", {"lr": 1e-1}),
    ("mlp", "torch.optim.Adagrad", {"lr": 1.0}),
)
"""The adaptive-damping runs of the document: (problem, spec, keywords), each from eps 1e-3
for 1000 steps."""


def damping_section(path) -> list[str]:
    """The Levenberg-Marquardt runs: a table and ``<stem>-damping.png``."""
    from eps_ref.damping import AdaptiveDamping
    from eps_ref.problems import problem
    rows, histories = [], {}
    for prob, name, kw in DAMPING_RUNS:
        h = AdaptiveDamping(name, eps=1e-3, **kw).run(problem(prob), 1000)
        label = f"{prob}: {name}({', '.join(f'{k}={v:g}' for k, v in kw.items())})"
        histories[label] = h
        at = {t: h.eps_after[list(h.evaluated).index(t)] for t in (100, 500, 1000)}
        rows.append(f"| {label} | {h.initial_loss:.4g} -> {h.loss[-1]:.3g} | "
                    + " | ".join(f"{at[t]:.2g}" for t in at)
                    + f" | {h.decreases} / {h.increases} / {int(np.sum(np.isnan(h.rho)))} |")
    plot_damping(histories, path.with_name(path.stem + "-damping.png"))
    mostly_down = [k for k, h in histories.items()
                   if h.decreases > h.increases and h.eps_after[-1] < h.eps[0]]
    mostly_up = [k for k in histories if k not in mostly_down]
    return [
        "## Levenberg-Marquardt adaptive damping of eps",
        "",
        "`eps_ref.damping.AdaptiveDamping` (Martens & Grosse Sec. 6.5, as the eps essay "
        "describes it): every 5 steps rho = actual / predicted change of the loss, the "
        "prediction g.d + d.Hd/2 from a hand-written Hessian-vector product; eps shrinks "
        "by (19/20)^5 where rho > 3/4 and grows by its inverse where rho < 1/4. Full-batch "
        "float64 training from eps = 1e-3 on the problems of `eps_ref.problems` (`eps-ref "
        "damping SPEC lr=... --problem P`):",
        "",
        "| run | loss | eps at 100 | at 500 | at 1000 | evaluations: decreases / increases "
        "/ no information |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"![eps under adaptive damping]({path.stem}-damping.png)",
        "",
        f"In {len(mostly_down)} of {len(histories)} runs the evaluations that lower eps "
        "outnumber those that raise it and eps ends below its start, as the essay reports "
        "(\"almost always decreases\"); with no gradient noise to damp, it falls towards "
        "0 wherever the steps are small enough for the quadratic model to predict them. "
        + ("The exception: " + "; ".join(mostly_up) + ", whose steps overshoot (rho < 1/4 "
           "at least as often as rho > 3/4), so that eps grows until they are damped. "
           if mostly_up else "")
        + "No information: the predicted change was within rounding of the loss (at the "
        "minimum), and eps was left as it was.",
    ]


def diagnose_section(path) -> list[str]:
    """:func:`eps_ref.diagnostics.diagnose` on gradients recorded from a training run: a
    table and ``<stem>-diagnose.png``."""
    import eps_ref
    from eps_ref import diagnostics
    from eps_ref.problems import problem
    prob = problem("mlp")
    opt = eps_ref.optimizer("torch.optim.Adam", lr=1e-2)
    w = prob.init()
    state = opt.init(w)
    grads = []
    for _ in range(300):
        g = prob.grad(w)
        grads.append(g)
        w, state = opt.step(w, g, state)
    grads = np.asarray(grads, dtype=np.float32)
    report = diagnostics.diagnose("torch.optim.Adam", grads, eps=1e-3)
    report.plot(path.with_name(path.stem + "-diagnose.png"))
    main = report.main
    hat = next(d for d in report.runs if d.name == "keras.optimizers.Adam")
    return [
        "## Where a run stands between SignSGD and SGD",
        "",
        "`eps-ref diagnose torch.optim.Adam eps=1e-3 --grads FILE.npz` on the float32 "
        "gradients of 300 steps of the MLP problem (recorded from `torch.optim.Adam(lr=1e-2)`"
        "), with the same nominal numbers in every framework (`eps_ref.diagnostics`):",
        "",
        report.markdown(),
        "",
        f"![eps regime per step]({path.stem}-diagnose.png)",
        "",
        f"At the same nominal eps = 1e-3, Keras's and TF1's epsilon-hat is "
        f"{hat.eps_median[0] / main.eps_median[0]:.3g} times torch's at step 1 "
        f"(1/sqrt(1 - 0.999)) and {hat.eps_median[-1] / main.eps_median[-1]:.3g} times "
        f"at step {main.steps}, so that {hat.dominated[-1]:.0%} of the coordinates are "
        f"eps-dominated (SGD-like) there against {main.dominated[-1]:.0%} in torch's, "
        "optax's and the paper's Adam.",
    ]


def sweep_section(path) -> list[str]:
    """:func:`eps_ref.sweep.sweep` of Adam on the MLP problem: a table and
    ``<stem>-sweep.png``."""
    from eps_ref.sweep import sweep
    result = sweep("torch.optim.Adam", (1e-8, 1e-5, 1e-3, 1e-1, 1.0), problem="mlp",
                   steps=500, lr=1e-2)
    result.plot(path.with_name(path.stem + "-sweep.png"))
    default = result.run("torch.optim.Adam", 1e-8).loss[-1]
    at_1e3 = result.run("torch.optim.Adam", 1e-3).loss[-1]
    keras = result.run("keras.optimizers.Adam", 1e-3).loss[-1]
    eta0 = sweep("torch.optim.Adam", (1e-6, 1e-4, 1e-3, 1e-2), problem="mlp", steps=500,
                 eta0=True, dialects=False, lr=1e-5)
    finals = {e: eta0.run("torch.optim.Adam", e).loss[-1] for e in eta0.eps}
    best = min(finals, key=lambda e: finals[e] if np.isfinite(finals[e]) else math.inf)
    best_run = ("torch.optim.Adam", best)
    return [
        "## An eps sweep",
        "",
        "`eps-ref sweep torch.optim.Adam lr=1e-2 --eps 1e-8,1e-5,1e-3,0.1,1 --problem mlp "
        "--steps 500` (`eps_ref.sweep`), every dialect at the same nominal numbers:",
        "",
        result.markdown(),
        "",
        f"![loss and regime per eps]({path.stem}-sweep.png)",
        "",
        f"The essay's advice to try eps = 1e-3 besides the default, in numbers: after "
        f"500 steps torch's Adam reaches a loss of {at_1e3:.3g} at eps = 1e-3 against "
        f"{default:.3g} at the default 1e-8 ({at_1e3 / default:.2g} times), and Keras's "
        f"Adam at the same nominal 1e-3 (epsilon-hat) {keras:.3g} "
        f"({keras / at_1e3:.2g} times torch's). On this small full-batch problem the larger "
        "eps slows training; the sweep is how to find out on one's own problem.",
        "",
        "With McAllester's reparameterization eta = eta0/eps (`--eta0`, eta0 = 1e-5), "
        "eps sets the step size too, and the best eps is no longer the smallest:",
        "",
        eta0.markdown(),
        "",
        f"Here eps = {best:g} trains best (a loss of {eta0.run(*best_run).loss[-1]:.3g} "
        "after 500 steps): a small eps means a large lr, a large one SGD with the rate "
        "eta0/eps^2.",
    ]


def write_document(path, *, samples: int = 20000, seed: int = 0) -> str:
    """``docs/eps-science.md``: the approximations' measured accuracy and the plot beside it
    (``.png``); returns the text."""
    from pathlib import Path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = accuracy(samples=samples, seed=seed)
    plot(path.with_suffix(".png"), samples=samples, seed=seed)
    h = (1 - 0.5) * np.eye(5) + 0.5 * np.ones((5, 5))
    g = np.ones(5)
    rows = []
    batches = (1, 16, 64, 256, 1024, 4096, 65536)
    for eps in (1e-3, 1.0, 3.0, 10.0, 300.0):
        lrs = [optimal_lr(g, h, 10.0, eps, b) for b in batches]
        rows.append(f"| {eps:g} | " + " | ".join(f"{v:.4g}" for v in lrs) + " | "
                    f"{'yes' if surge_possible(g, h, eps) else 'no'} |")
    text = "\n".join([
        "# Epsilon science: the softsign view of Adam's eps, checked",
        "",
        f"Generated by `eps-ref science --doc {path.as_posix()}` from `eps_ref.science` "
        "(Su's analysis, `../shared/seeds/001`: Adam with eps as SoftSignSGD).",
        "",
        "## How good the approximations are",
        "",
        markdown(grid, samples=samples),
        "",
        f"![E[phi] against B]({path.stem}.png)",
        "",
        "## The Surge needs a small eps",
        "",
        "eta* of eq. 14 against B on a quadratic with five coordinates coupled by 0.5 "
        "(H = 0.5 I + 0.5 11^T), aligned gradients g = 1, noise sigma = 10; the last "
        "column is the necessary condition (15):",
        "",
        "| eps | " + " | ".join(f"B={b}" for b in batches) + " | (15) holds |",
        "|---|" + "---|" * (len(batches) + 1),
        *rows,
        "",
        "With eps = 0.001 eta* peaks near B = 256 and falls after it (the Surge); from "
        "eps = 3 on, where (15) fails, it only grows, and eta*/eps tends to SGD's optimal "
        "rate (eq. 18, `sgd_limit`): at eps = 300, eta*/eps at B = 65536 is "
        f"{optimal_lr(g, h, 10.0, 300.0, 65536) / 300.0:.4f} against "
        f"{sgd_limit(g, h, 10.0, 65536):.4f}.",
        "",
        "## Where RAdam starts rectifying, per framework",
        "",
        "torch tests rho_t > 5 in float64, optax rho_t >= 5 in float32, the paper's "
        "Algorithm 2 rho_t > 4; before that step the update is SGD with momentum and eps "
        "plays no part (`eps_ref.science.rectified_from`, found from each trajectory on a "
        "constant gradient):",
        "",
        radam_markdown(),
        "",
        *diagnose_section(path),
        "",
        *damping_section(path),
        "",
        *sweep_section(path),
    ]) + "\n"
    path.write_text(text)
    return text


# -- RAdam's rectification, per framework --------------------------------------------------

RADAM_SPECS = {
    "torch.optim.RAdam": ("lr", lambda b2: {"betas": (0.9, b2)}),
    "optax.radam": ("learning_rate", lambda b2: {"b2": b2}),
    "paper.radam": ("lr", lambda b2: {"beta2": b2}),
}
"""The RAdam specs whose rectification :func:`rectified_from` finds: the learning-rate
keyword and the keywords that set :math:`\\beta_2`."""

_RADAM_GRADIENT = 1e-4        # a constant gradient: SGD's step is 1e-4 lr, RAdam's r_t lr


def radam_rho(t: int, beta2: float) -> tuple[float, float, float]:
    r""":math:`(\rho_\infty, \rho_t, r_t)` of Liu et al.'s Algorithm 2, in float64:
    :math:`\rho_\infty = 2/(1-\beta_2) - 1`, :math:`\rho_t = \rho_\infty - 2t\beta_2^t /
    (1-\beta_2^t)`, :math:`r_t = \sqrt{(\rho_t-4)(\rho_t-2)\rho_\infty / ((\rho_\infty-4)
    (\rho_\infty-2)\rho_t)}` (NaN while :math:`\rho_t \le 4`)."""
    if not 0 < beta2 < 1:
        raise ValueError(f"beta2 must be in (0, 1), got {beta2!r}")
    if t < 1:
        raise ValueError(f"the step t counts from 1, got {t}")
    rho_inf = 2 / (1 - beta2) - 1
    power = beta2 ** t
    rho_t = rho_inf - 2 * t * power / (1 - power)
    if rho_t <= 4 or rho_inf <= 4:
        return rho_inf, rho_t, math.nan
    return rho_inf, rho_t, math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                                     / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def rectified_from(spec: str, beta2: float = 0.999, *, native: bool = False,
                   steps: int = 64) -> tuple[int | None, float | None]:
    r"""``(t, step)``: the first step at which ``spec`` takes the rectified (adaptive)
    branch, and the size of that step over the learning rate, found from its trajectory
    on a constant gradient of 1e-4 (SGD's steps, :math:`\eta \hat m_t`, are 1e-4 of the
    rate exactly, to rounding; a rectified one is :math:`r_t g/(|g| + \epsilon)`): the
    reference's (``native=False``) or the real framework's. ``(None, None)`` if it does
    not start within ``steps``."""
    if spec not in RADAM_SPECS:
        raise ValueError(f"rectified_from: one of {sorted(RADAM_SPECS)}, got {spec!r}")
    lr_key, betas = RADAM_SPECS[spec]
    kwargs = {lr_key: 1.0, **betas(beta2)}
    param0 = np.zeros(1, np.float32)
    grads = np.full((steps, 1), _RADAM_GRADIENT, np.float32)
    if native:
        import eps_ref
        from eps_ref.backends import adapter
        trajectory = np.asarray(adapter(eps_ref.spec(spec).framework).run_optimizer(
            spec, kwargs, param0, grads))
    else:
        from eps_ref.conformance.runner import reference_trajectory
        trajectory = np.asarray(reference_trajectory(spec, kwargs, param0, grads))
    trajectory = trajectory.reshape(-1)
    if trajectory.size == steps:                 # without the initial parameter
        trajectory = np.concatenate([param0, trajectory])
    moves = np.abs(np.diff(trajectory.astype(np.float64)))
    adaptive = np.flatnonzero(np.abs(moves - _RADAM_GRADIENT) > 1e-3 * _RADAM_GRADIENT)
    if not adaptive.size:
        return None, None
    return int(adaptive[0]) + 1, float(moves[adaptive[0]])


def radam_markdown(beta2s=(0.9, 0.99, 0.999, 0.9999), *, check_native: bool = True) -> str:
    """The table of where each framework's RAdam starts rectifying, at each
    :math:`\\beta_2`, from the reference and (``check_native``) checked against the real
    frameworks' trajectories."""
    specs = list(RADAM_SPECS)
    lines = ["| beta2 | rho_inf | " + " | ".join(f"`{s}`" for s in specs) + " |",
             "|---|---|" + "---|" * len(specs)]
    mismatches = []
    for b2 in beta2s:
        cells = []
        for spec in specs:
            t, size = rectified_from(spec, b2)
            if t is None:
                cells.append("-")
                continue
            rho_inf, rho_t, _ = radam_rho(t, b2)
            cell = f"step {t} (rho_t {rho_t:.3f}, step {size:.3g} lr)"
            if check_native and not spec.startswith("paper."):
                try:
                    native = rectified_from(spec, b2, native=True)[0]
                except ImportError:
                    native = "not installed"
                cell += " ✓" if native == t else f" (framework: {native})"
                if native != t:
                    mismatches.append((spec, b2, t, native))
            cells.append(cell)
        lines.append(f"| {b2:g} | {2 / (1 - b2) - 1:g} | " + " | ".join(cells) + " |")
    lines += ["", "rho_t in float64 at that step; the step size is the rectified step over "
              "the learning rate (r_t times g / (|g| + eps)); ✓: the real framework's "
              "trajectory starts at the same step."]
    if mismatches:
        lines.append(f"Mismatches: {mismatches}")
    return "\n".join(lines)

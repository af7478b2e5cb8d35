"""The built-in problems' derivatives, Levenberg-Marquardt adaptive damping
(eps_ref.damping) and the eps sweep (eps_ref.sweep), through the API and the CLI."""

import json
import math

import numpy as np
import pytest

from eps_ref import diagnostics
from eps_ref.damping import AdaptiveDamping
from eps_ref.problems import PROBLEMS, problem
from eps_ref.sweep import sweep


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_gradient_and_hessian_vector_product_against_finite_differences(name):
    prob = problem(name)
    rng = np.random.default_rng(4)
    w = prob.init() + 0.3 * rng.standard_normal(prob.size)
    v = rng.standard_normal(prob.size)
    h = 1e-5
    directional = (prob.loss(w + h * v) - prob.loss(w - h * v)) / (2 * h)
    assert prob.grad(w) @ v == pytest.approx(directional, rel=1e-7)
    hv = (prob.grad(w + h * v) - prob.grad(w - h * v)) / (2 * h)
    np.testing.assert_allclose(prob.hvp(w, v), hv, rtol=1e-5, atol=1e-9 * np.abs(hv).max())


class Quadratic:
    """L(w) = w.Aw/2 - b.w: the quadratic model is exact, so rho is 1 to rounding."""

    def __init__(self):
        self.a = np.diag(np.logspace(-2, 1, 6))
        self.b = np.ones(6)

    def init(self):
        return np.zeros(6)

    def loss(self, w):
        return float(0.5 * w @ self.a @ w - self.b @ w)

    def grad(self, w):
        return self.a @ w - self.b

    def hvp(self, w, v):
        return self.a @ v


def test_rho_is_one_on_a_quadratic_so_eps_only_falls():
    h = AdaptiveDamping("torch.optim.Adam", eps=1e-2, lr=0.05).run(Quadratic(), 200)
    finite = h.rho[np.isfinite(h.rho)]
    assert finite.size > 30
    np.testing.assert_allclose(finite, 1.0, rtol=1e-6)
    assert h.increases == 0 and h.eps_after[-1] < h.eps[0]
    assert h.eps_after[0] == pytest.approx(1e-2 * (19 / 20) ** 5)


def test_the_update_rule():
    d = AdaptiveDamping("torch.optim.Adam")
    omega = (19 / 20) ** 5
    assert d.update(1.0, 0.9) == pytest.approx(omega)
    assert d.update(1.0, 0.1) == pytest.approx(1 / omega)
    assert d.update(1.0, 0.5) == 1.0
    assert d.update(1.0, -math.inf) == pytest.approx(1 / omega)   # predicted an increase
    assert d.update(1.0, math.nan) == 1.0                         # no information
    clamped = AdaptiveDamping("torch.optim.Adam", eps=1e-3, eps_min=1e-3)
    assert clamped.update(1e-3, 0.9) == 1e-3


@pytest.mark.parametrize("prob, name, kwargs", [
    ("logistic", "torch.optim.Adam", {"lr": 1e-2}),
    ("mlp", "torch.optim.Adam", {"lr": 1e-1}),
    ("mlp", "keras.optimizers.Adam", {"learning_rate": 1e-2}),
    ("mlp", "torch.optim.Adagrad", {"lr": 1.0}),
])
def test_eps_mostly_decreases_over_training(prob, name, kwargs):
    """The essay's observation, on the problems where the steps suit the model."""
    h = AdaptiveDamping(name, eps=1e-3, **kwargs).run(problem(prob), 1000)
    assert h.decreases > 0.85 * len(h.rho)
    assert h.eps_after[-1] < 1e-3 * 1e-6
    assert h.loss[-1] < 0.5 * h.initial_loss


def test_overshooting_steps_raise_eps():
    """RMSProp at lr 0.1 oscillates on the logistic regression: rho < 1/4 as often as
    not, and the rule damps it (eps ends above where it started)."""
    h = AdaptiveDamping("torch.optim.RMSprop", eps=1e-3, lr=0.1).run(problem("logistic"), 1000)
    assert h.increases >= h.decreases
    assert h.eps_after[-1] > 1e-3


def test_damping_refuses_bad_input():
    with pytest.raises(ValueError, match="family 'sgd'"):
        AdaptiveDamping("torch.optim.SGD", lr=0.1)
    with pytest.raises(ValueError, match="no epsilon keyword"):
        AdaptiveDamping("tf.compat.v1.train.AdagradOptimizer", learning_rate=0.1)
    for eps in (0.0, -1e-8, math.inf):
        with pytest.raises(ValueError, match="initial eps"):
            AdaptiveDamping("torch.optim.Adam", eps=eps)
    with pytest.raises(ValueError, match="omega"):
        AdaptiveDamping("torch.optim.Adam", omega=1.5)
    with pytest.raises(TypeError, match="eps="):
        AdaptiveDamping("keras.optimizers.Adam", epsilon=1e-3)
    with pytest.raises(ValueError, match="Invalid learning rate"):     # torch's own check
        AdaptiveDamping("torch.optim.Adam", lr=-1.0)
    with pytest.raises(ValueError, match="unknown problem"):
        problem("resnet")


def test_eta0_is_lr_over_eps():
    a = sweep("torch.optim.Adam", (1e-3, 1e-2), problem="logistic", steps=40, eta0=True,
              dialects=False, lr=1e-5)
    for eps in (1e-3, 1e-2):
        b = sweep("torch.optim.Adam", (eps,), problem="logistic", steps=40, dialects=False,
                  lr=1e-5 / eps)
        assert np.array_equal(a.run("torch.optim.Adam", eps).loss,
                              b.run("torch.optim.Adam", eps).loss)


def test_the_sweep_spans_the_regimes_in_every_dialect():
    s = sweep("torch.optim.Adam", (1e-12, 10.0), problem="mlp", steps=60, lr=1e-2)
    assert set(s.specs) >= {"torch.optim.Adam", "keras.optimizers.Adam", "optax.adam",
                            "tf.compat.v1.train.AdamOptimizer", "paper.adam"}
    for name in s.specs:
        assert s.run(name, 10.0).dominated[-1] == 1.0
        assert s.run(name, 1e-12).dominated[-1] == 0.0
        assert s.run(name, 1e-12).loss[-1] < s.run(name, 10.0).loss[-1] < s.initial_loss
    # the same nominal eps is not the same eps: Keras's epsilon-hat damps more early on
    keras, torch = s.run("keras.optimizers.Adam", 10.0), s.run("torch.optim.Adam", 10.0)
    assert keras.loss[-1] > torch.loss[-1]


class Exploding:
    """A loss that overflows once |w| passes 30."""

    size = 2

    def init(self):
        return np.zeros(2)

    def loss(self, w):
        return float(np.exp(np.abs(w).sum() ** 2))

    def grad(self, w):
        return -np.ones(2)

    def hvp(self, w, v):
        return v


def test_a_divergence_is_reported_not_hidden(monkeypatch):
    from eps_ref import problems
    monkeypatch.setitem(problems.PROBLEMS, "exploding", Exploding)
    s = sweep("torch.optim.Adagrad", (1e-10,), problem="exploding", steps=50,
              dialects=False, lr=10.0)
    r = s.run("torch.optim.Adagrad", 1e-10)
    assert r.diverged and np.isinf(r.loss[-1])
    assert "diverged (step" in s.markdown()


def test_a_sweep_of_recorded_gradients_is_their_regimes(tmp_path):
    grads = np.random.default_rng(5).standard_normal((25, 30)).astype(np.float32) * 1e-4
    path = tmp_path / "g.npz"
    np.savez(path, grads=grads)
    s = sweep("torch.optim.RMSprop", (1e-8, 1e-4, 1.0), grads=path, dialects=False, lr=1e-3)
    for eps in (1e-8, 1e-4, 1.0):
        d = diagnostics.diagnose("torch.optim.RMSprop", path, compare=False, lr=1e-3, eps=eps)
        assert np.array_equal(s.run("torch.optim.RMSprop", eps).dominated, d.main.dominated)
        assert np.all(np.isnan(s.run("torch.optim.RMSprop", eps).loss))
    assert "dominated" in s.markdown()


def test_sweep_refuses_bad_input():
    for bad in ((0.0,), (-1e-3,), (math.nan,), ()):
        with pytest.raises(ValueError, match="eps"):
            sweep("torch.optim.Adam", bad, steps=2)
    with pytest.raises(KeyError, match="torch.optim.Adam"):
        sweep("torch.optim.Adma", steps=2)
    with pytest.raises(ValueError, match="unknown problem"):
        sweep("torch.optim.Adam", problem="cifar", steps=2)
    with pytest.raises(ValueError, match="give eta0 as lr="):
        sweep("torch.optim.Adam", eta0=True, steps=2)


def test_the_commands(tmp_path, capsys):
    from eps_ref.cli import main
    plot = tmp_path / "s.png"
    assert main(["sweep", "torch.optim.Adam", "lr=1e-2", "--eps", "1e-8,1e-3", "--problem",
                 "logistic", "--steps", "30", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "| `keras.optimizers.Adam` | 1e-08 |" in out and plot.stat().st_size > 1000
    assert main(["sweep", "torch.optim.Adam", "lr=1e-2", "--eps", "1e-3", "--steps", "3",
                 "--no-dialects", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["spec"] for r in runs] == ["torch.optim.Adam"] and len(runs[0]["loss"]) == 3
    assert main(["sweep", "torch.optim.Adam", "--eps", "1e-3,0", "--steps", "3"]) == 2
    assert "finite number > 0" in capsys.readouterr().err
    damped = tmp_path / "d.png"
    assert main(["damping", "torch.optim.Adam", "lr=1e-2", "--eps", "1e-3", "--problem",
                 "logistic", "--steps", "50", "--plot", str(damped)]) == 0
    out = capsys.readouterr().out
    assert "10 decreases, 0 increases in 10 evaluations" in out
    assert damped.stat().st_size > 1000
    assert main(["damping", "torch.optim.Adam", "--eps", "-1"]) == 2
    assert "initial eps" in capsys.readouterr().err

"""The softsign analysis (eps_ref.science): its limits, the simulation it is checked by,
and how far its approximations are off, measured."""

import math

import numpy as np
import pytest

from eps_ref import science as sc

G = np.array([0.0, 0.1, 0.3, 1.0, 3.0])


def test_softsign_limits():
    x = np.array([-2.0, -1e-9, 0.0, 1e-9, 3.0])
    assert np.array_equal(sc.softsign(x, 0), np.sign(x))
    np.testing.assert_allclose(1e8 * sc.softsign(x, 1e8), x, rtol=1e-12)
    assert np.all(np.abs(sc.softsign(x, 1.0)) < 1)


def test_mean_direction_limits():
    # B -> infinity: the noiseless softsign; eps = 0: SignSGD's (g/s) / sqrt(g^2/s^2 + pi/2B)
    np.testing.assert_allclose(sc.mean_direction(G, 1.0, 0.5, 1e12), sc.softsign(G, 0.5),
                               rtol=1e-9)
    b = 8
    np.testing.assert_allclose(sc.mean_direction(G, 2.0, 0.0, b),
                               (G / 2) / np.sqrt(G ** 2 / 4 + math.pi / (2 * b)), rtol=1e-12)
    assert np.array_equal(sc.mean_direction(G, 0.0, 0.5, 4), sc.softsign(G, 0.5))


def test_second_moment_limits():
    assert np.allclose(sc.second_moment(G, 1.0, 0.0, 4), 1.0)          # |sign| = 1
    assert np.all(sc.second_moment(G, 1.0, 1e6, 4) < 1e-10)           # SGD: phi -> g / eps
    np.testing.assert_allclose(sc.second_moment(G, 1.0, 0.7, 1e12), sc.softsign(G, 0.7) ** 2,
                               rtol=1e-9, atol=1e-11)


def _coupled(n=5, rho=0.5):
    return (1 - rho) * np.eye(n) + rho * np.ones((n, n)), np.ones(n)


def test_large_eps_is_sgd_with_lr_over_eps():
    h, g = _coupled()
    for batch in (1, 16, 256):
        ratio = sc.optimal_lr(g, h, 1.0, 1e4, batch) / 1e4
        assert ratio == pytest.approx(sc.sgd_limit(g, h, 1.0, batch), rel=1e-6)


def test_the_surge_needs_a_small_eps():
    """Five coordinates coupled by rho = 0.5 and aligned gradients: with eps small the
    condition (15) holds and eta*(B) falls at large B (the Surge); with eps large neither."""
    h, g = _coupled()
    batches = np.geomspace(1, 1e6, 60)
    small = np.array([sc.optimal_lr(g, h, 1.0, 1e-3, b) for b in batches])
    large = np.array([sc.optimal_lr(g, h, 1.0, 30.0, b) for b in batches])
    assert sc.surge_possible(g, h, 1e-3) and not sc.surge_possible(g, h, 30.0)
    assert np.any(np.diff(small) < 0) and small.argmax() < len(batches) - 1
    assert np.all(np.diff(large) > 0)


def test_the_simulation_is_exact_where_the_answer_is_known():
    """eps = 0: E[sign(g + z/sqrt(B))] = erf(g sqrt(B/2)), within 4 standard errors."""
    samples = 40000
    for batch in (1, 16):
        mean, second = sc.simulate(G, 1.0, 0.0, batch, samples=samples, seed=1)
        exact = np.array([math.erf(gi * math.sqrt(batch / 2)) for gi in G])
        stderr = np.sqrt((1 - exact ** 2) / samples)
        assert np.all(np.abs(mean - exact) <= 4 * stderr + 1e-12)
        assert np.allclose(second, 1.0)


def test_measured_accuracy_of_the_approximations():
    """On the grid g/sigma in {0, .1, .3, 1, 3}, eps/sigma in {0, .1, 1, 10}, B in
    {1, 4, 16, 64, 256} (20,000 draws a point; measured worst errors 0.107, 0.294): eq. 10
    is within 0.11 of the simulated E[phi], and within 0.002 from eps = 10 sigma on (the SGD
    side, where softsign is almost linear); eq. 12, which its author calls not highly
    accurate, is within 0.3, exact at eps = 0 (SignSGD) and within 0.01 from eps = 10 sigma.
    The error does not shrink with B alone: what counts is g sqrt(B) / sigma."""
    grid = sc.accuracy(samples=20000, seed=0)
    assert len(grid) == 5 * 4 * 5
    assert max(p.mean_error for p in grid) < 0.11
    assert max(p.mean_error for p in grid if p.eps_over_sigma >= 10) < 0.002
    assert max(p.second_error for p in grid) < 0.3
    assert max(p.second_error for p in grid if p.eps_over_sigma == 0) < 1e-12
    assert max(p.second_error for p in grid if p.eps_over_sigma >= 10) < 0.01
    # ... and they are approximations: a test of exactness would not pass.
    assert max(p.mean_error for p in grid) > 0.05 and max(p.second_error for p in grid) > 0.2


def test_adam_at_steady_state_is_not_the_softsign():
    """Adam's steady-state direction m/(sqrt(v) + eps) against the softsign model: the sign
    agrees, the magnitude is off by tenths where the noise dominates."""
    mean, _ = sc.simulate(G, 1.0, 1.0, 16, samples=2000, seed=0, spec="paper.adam")
    model = sc.mean_direction(G, 1.0, 1.0, 16)
    assert np.all(np.sign(mean[1:]) == np.sign(model[1:]))
    assert abs(mean[0]) < 0.02
    assert np.max(np.abs(mean - model)) > 0.05


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="eps must be"):
        sc.softsign(1.0, -1e-8)
    with pytest.raises(ValueError, match="batch size"):
        sc.mean_direction(G, 1.0, 0.1, 0)
    with pytest.raises(ValueError, match="sigma"):
        sc.second_moment(G, -1.0, 0.1, 4)
    with pytest.raises(ValueError, match="Hessian must be 5x5"):
        sc.optimal_lr(G, np.eye(4), 1.0, 0.1, 4)
    with pytest.raises(ValueError, match="no learning rate and epsilon"):
        sc.simulate(G, 1.0, 0.1, 4, samples=10, spec="torch.optim.SGD")
    with pytest.raises(ValueError, match="samples"):
        sc.simulate(G, 1.0, 0.1, 4, samples=1)


def test_the_committed_document_is_what_the_command_writes(tmp_path):
    """docs/eps-science.md and its plots are what `eps-ref science` writes (seeded: the
    same draws, the same training runs)."""
    from pathlib import Path
    from eps_ref.cli import main
    pytest.importorskip("torch")
    pytest.importorskip("optax")
    docs = Path(__file__).resolve().parents[1] / "docs"
    doc = tmp_path / "eps-science.md"
    assert main(["science", "--doc", str(doc)]) == 0
    text = doc.read_text().replace(str(doc), "docs/eps-science.md")
    assert (docs / "eps-science.md").read_text() == text
    for plot in ("", "-diagnose", "-damping", "-sweep"):
        assert (tmp_path / f"eps-science{plot}.png").stat().st_size > 1000
        assert (docs / f"eps-science{plot}.png").exists()
    assert main(["science", "--doc", str(doc), "--samples", "1"]) == 2


def test_radam_rho_is_algorithm_2():
    rho_inf, rho_t, r = sc.radam_rho(6, 0.999)
    assert rho_inf == pytest.approx(1999.0)
    assert rho_t == pytest.approx(1999 - 12 * 0.999 ** 6 / (1 - 0.999 ** 6), rel=1e-12)
    assert r == pytest.approx(math.sqrt((rho_t - 4) * (rho_t - 2) * 1999
                                        / (1995 * 1997 * rho_t)), rel=1e-12)
    assert math.isnan(sc.radam_rho(2, 0.999)[2])              # rho_2 <= 4: no rectification
    with pytest.raises(ValueError, match="beta2"):
        sc.radam_rho(3, 1.0)


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
@pytest.mark.parametrize("beta2", [0.9, 0.99, 0.999, 0.9999])
@pytest.mark.parametrize("spec", ["torch.optim.RAdam", "optax.radam"])
def test_rectification_starts_where_the_framework_starts(spec, beta2):
    pytest.importorskip(spec.split(".")[0])
    reference = sc.rectified_from(spec, beta2)
    assert reference[0] is not None
    assert sc.rectified_from(spec, beta2, native=True) == reference


def test_each_framework_s_threshold():
    """At the default beta2: the paper's rho_t > 4 rectifies from step 5, torch's and optax's
    rho_t > 5 / >= 5 from step 6; at 0.9999 optax's float32 rho_t (a difference of two
    numbers near 2e4) rounds past 5 from step 2."""
    assert sc.rectified_from("paper.radam", 0.999)[0] == 5
    assert sc.rectified_from("torch.optim.RAdam", 0.999)[0] == 6
    assert sc.rectified_from("optax.radam", 0.999)[0] == 6
    assert sc.rectified_from("optax.radam", 0.9999)[0] == 2
    with pytest.raises(ValueError, match="one of"):
        sc.rectified_from("torch.optim.Adam")

"""eps_ref.diagnostics: eps in Algorithm-1 units per placement, checked against each rule's
own step; the regime fractions; recorded-gradient files and their errors; the CLI."""

import json
import math

import numpy as np
import pytest

import eps_ref
from eps_ref import diagnostics as dg
from eps_ref.docs import family

MODELLED = [n for n in eps_ref.specs(kind="optimizer")
            if family(eps_ref.spec(n)) in dg.FAMILIES]
# Steps whose numerator is not the plain (corrected) first moment or gradient.
NOT_PLAIN = ("AdamW", "adamw", "nadam")


def _required(name):
    return {k: 1e-3 for k, v in eps_ref.spec(name).defaults.items() if repr(v) == "REQUIRED"}


def _numerator(name, slots, grad, t, opt):
    rule, k = opt.spec.rule.name, opt.rule_kwargs
    if rule in ("adam", "paper.adam"):
        return slots["m"] / (1 - k["beta1"] ** t)
    if rule == "paper.amsgrad":
        return slots["m"]
    if rule == "paper.mcallester_adam":
        return slots["g_avg"]
    return grad


@pytest.mark.parametrize("name", [n for n in MODELLED if not any(s in n for s in NOT_PLAIN)])
def test_the_step_is_algorithm_1_with_the_equivalent_eps(name):
    """Each rule's own step equals lr * numerator / (sqrt(v-hat) + eps'), eps' from
    equivalent_eps: gradients over ten decades, so that a wrong placement is O(1) off
    on the coordinates near eps (2e-5: TF1 and Keras hold beta1 and beta2 in float32,
    1 - float32(0.999) is 1.3e-5 off)."""
    opt = eps_ref.optimizer(name, **_required(name))
    where = dg.placement(opt)
    rng = np.random.default_rng(3)
    scales = np.logspace(-10, 0, 41)
    param = np.zeros(41)
    state = opt.init(param)
    for t in range(1, 8):
        grad = rng.standard_normal(41) * scales
        new, state = opt.step(param, grad, state)
        slots = state["slots"][0]
        v_hat = dg._second_moment(where, slots, t)
        eps = dg.equivalent_eps(where, v_hat, t)
        expected = where.lr * _numerator(name, slots, grad, t, opt) / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(param - new, expected, rtol=2e-5, atol=0)
        param = new


def test_each_placement_in_algorithm_1_units():
    v = np.array([0.0, 1e-20, 1e-4, 1.0])
    keras = dg.placement(eps_ref.optimizer("keras.optimizers.Adam"))
    assert np.all(dg.equivalent_eps(keras, v, 1) == 1e-7 / math.sqrt(1 - 0.999))
    assert np.allclose(dg.equivalent_eps(keras, v, 10 ** 5), 1e-7, rtol=1e-12)
    tf1 = dg.placement(eps_ref.optimizer("tf.compat.v1.train.RMSPropOptimizer",
                                         learning_rate=1e-3, epsilon=1e-4))
    inside = dg.equivalent_eps(tf1, v, 3)
    assert inside[0] == pytest.approx(1e-2)               # sqrt(eps) where v << eps
    assert inside[-1] == pytest.approx(1e-4 / 2, rel=1e-4)    # eps / 2 sqrt(v) where v >> eps
    torch = dg.placement(eps_ref.optimizer("torch.optim.Adam"))
    assert np.all(dg.equivalent_eps(torch, v, 7) == 1e-8)
    optax = dg.placement(eps_ref.optimizer("optax.adam", learning_rate=1e-3, eps_root=1e-8))
    assert dg.equivalent_eps(optax, v, 2)[0] == pytest.approx(1e-8 + 1e-4)
    none = dg.placement(eps_ref.optimizer("tf.compat.v1.train.AdagradOptimizer",
                                          learning_rate=0.1))
    assert np.all(dg.equivalent_eps(none, v, 1) == 0)


def test_counterparts_copy_the_numbers_a_user_writes_down():
    c = dg.counterparts("torch.optim.Adam", lr=3e-4, betas=(0.8, 0.99))
    assert list(c)[0] == "torch.optim.Adam"
    assert c["keras.optimizers.Adam"] == {"learning_rate": 3e-4, "epsilon": 1e-8,
                                          "beta_1": 0.8, "beta_2": 0.99}
    assert c["optax.adam"] == {"learning_rate": 3e-4, "eps": 1e-8, "b1": 0.8, "b2": 0.99}
    r = dg.counterparts("torch.optim.RMSprop", momentum=0.9, centered=True)
    assert r["keras.optimizers.RMSprop"]["momentum"] == 0.9
    assert r["optax.rmsprop"]["centered"] is True
    assert r["tf.compat.v1.train.RMSPropOptimizer"]["decay"] == 0.99   # torch's alpha
    a = dg.counterparts("torch.optim.Adagrad")
    # the accumulator's start is a default, not a number one copies: Keras keeps its 0.1
    assert "initial_accumulator_value" not in a["keras.optimizers.Adagrad"]
    assert a["tf.compat.v1.train.AdagradOptimizer"] == {"learning_rate": 0.01}


def test_a_keyword_a_counterpart_cannot_spell_is_said():
    report = dg.diagnose("torch.optim.Adam", steps=3, amsgrad=True)
    by_name = {d.name: d for d in report.runs}
    assert by_name["optax.adam"].dropped == ("amsgrad",)      # optax.amsgrad is its own spec
    assert by_name["keras.optimizers.Adam"].dropped == ()
    assert by_name["keras.optimizers.Adam"].placement.slot == "v_max"
    assert "`optax.adam(learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-08)` (has no amsgrad)" \
        in report.markdown()


def test_the_conformance_stream_s_regimes():
    report = dg.diagnose("torch.optim.Adam", steps=50)
    main = report.main
    assert main.dominated_by_regime["tiny"] == 1.0       # 1e-10 gradients, eps 1e-8
    assert main.dominated_by_regime["zero"] == 1.0
    assert main.dominated_by_regime["ordinary"] == 0.0
    assert main.sign_ratio[0] == pytest.approx(1.0, rel=1e-3)   # Adam's first step: lr sign(g)
    keras = next(d for d in report.runs if d.name == "keras.optimizers.Adam")
    assert keras.placement.where == "eps_hat"
    assert keras.eps_median[0] == pytest.approx(1e-8 / math.sqrt(1 - 0.999))
    assert {d.name for d in report.runs} >= {"optax.adam", "tf.compat.v1.train.AdamOptimizer",
                                             "paper.adam"}


def test_large_eps_is_the_sgd_limit():
    grads = np.random.default_rng(0).standard_normal((30, 100)) * 1e-3
    d = dg.diagnose("torch.optim.Adam", grads, compare=False, eps=10.0).main
    assert np.all(d.dominated == 1.0)
    assert d.sgd_ratio[0] == pytest.approx(1.0, rel=1e-3)   # step 1: lr g / eps
    d = dg.diagnose("torch.optim.Adam", grads, compare=False, eps=1e-12).main
    assert np.all(d.dominated == 0.0)


def test_a_recorded_tree_is_one_vector(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((20, 3, 4)).astype(np.float32)
    b = rng.standard_normal((20, 5)).astype(np.float32) * 1e-6
    path = tmp_path / "grads.npz"
    np.savez(path, **{"grads/a": a, "grads/b": b})
    from_file = dg.diagnose("keras.optimizers.RMSprop", path, compare=False).main
    flat = np.concatenate([a.reshape(20, -1), b], axis=1)
    from_array = dg.diagnose("keras.optimizers.RMSprop", flat, compare=False).main
    assert np.array_equal(from_file.dominated, from_array.dominated)
    assert np.array_equal(from_file.eps_median, from_array.eps_median)
    assert 0 < from_file.dominated[-1] < 1


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((3, 2))}, "expected an array 'grads'"),
    ({"grads": np.zeros((0, 2), np.float32)}, "at least one step"),
    ({"grads": np.zeros((3, 2), np.int32)}, "expected float32 or float64"),
    ({"grads": np.zeros((3, 2), np.float32), "params0": np.zeros(3, np.float32)},
     "params0 has shape"),
    ({"grads/a": np.zeros((3, 2)), "grads/b": np.zeros((4, 2))}, "has 4 steps"),
    ({"grads": np.full((3, 2), np.nan)}, "non-finite"),
])
def test_a_bad_gradients_file_is_refused(tmp_path, arrays, message):
    path = tmp_path / "g.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        dg.load_grads(path)


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(KeyError, match="torch.optim.Adam"):
        dg.diagnose("torch.optim.Adamm")
    with pytest.raises(ValueError, match="models the adam, rmsprop, adagrad families"):
        dg.diagnose("torch.optim.SGD")
    with pytest.raises(ValueError, match="eps"):
        dg.diagnose("torch.optim.Adam", eps=-1e-8)
    with pytest.raises(FileNotFoundError):
        dg.load_grads(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not numpy")
    with pytest.raises(ValueError, match="not a NumPy .npz"):
        dg.load_grads(tmp_path / "text.npz")
    np.save(tmp_path / "one.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="not an .npz archive"):
        dg.load_grads(tmp_path / "one.npy")
    with pytest.raises(ValueError, match="steps"):
        dg.diagnose("torch.optim.Adam", steps=0)


def test_a_recording_of_eps_ref_testing_is_a_gradients_file(tmp_path):
    from eps_ref.testing import Recording
    grads = np.random.default_rng(6).standard_normal((9, 2, 3)).astype(np.float32)
    params0 = np.ones((2, 3), np.float32)
    trajectory = np.stack([params0] * 9)
    Recording(params0, grads, trajectory).save(tmp_path / "rec.npz")
    loaded_params, loaded_grads = dg.load_grads(tmp_path / "rec.npz")
    assert np.array_equal(loaded_params, params0.reshape(-1))
    assert np.array_equal(loaded_grads, grads.reshape(9, -1))


def test_the_command(tmp_path, capsys):
    from eps_ref.cli import main
    path = tmp_path / "g.npz"
    np.savez(path, grads=np.random.default_rng(2).standard_normal((12, 8)).astype(np.float32))
    plot = tmp_path / "d.png"
    assert main(["diagnose", "torch.optim.RMSprop", "lr=1e-3", "--grads", str(path),
                 "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "| `torch.optim.RMSprop(lr=0.001)` | outside | 1 |" in out
    assert "`tf.compat.v1.train.RMSPropOptimizer(" in out and "| inside |" in out
    assert plot.stat().st_size > 1000
    assert main(["diagnose", "optax.adam", "learning_rate=1e-3", "--steps", "5", "--json",
                 "--no-compare"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 1 and len(runs[0]["dominated"]) == 5
    assert main(["diagnose", "torch.optim.Adam", "--grads", str(tmp_path / "none.npz")]) == 2
    assert "no gradients file" in capsys.readouterr().err
    assert main(["diagnose", "optax.adam"]) == 2                 # its learning rate is required
    assert "learning_rate" in capsys.readouterr().err

"""Carrying optimizer state across frameworks (eps_ref.convert_state, Plan.convert_state),
proven on the real frameworks: k steps in the source, its live state converted, n more steps
in the target, against the reference run that converts the reference state."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import eps_ref
from eps_ref.conformance.carryover import (K_STEPS, N_STEPS, OPTIMIZER_PAIRS, check_pair,
                                           run_native, run_reference)
from eps_ref.conformance.carryover import tree_grads as _grads
from eps_ref.conformance.carryover import tree_params as _params

PAIRS = OPTIMIZER_PAIRS


def _same(a, b):
    return all(np.array_equal(np.asarray(a[k]).view(np.int32), np.asarray(b[k]).view(np.int32))
               for k in a)


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
@pytest.mark.parametrize("source, kwargs, to", PAIRS,
                         ids=[f"{s}{'+' if len(k) > 1 else ''}->{t}" for s, k, t in PAIRS])
def test_a_run_continues_in_the_other_framework(source, kwargs, to):
    """The suite's carry-over case, in this process: the live state read back is the
    reference's, and the run continued natively from the converted state is the reference
    continuing the carried reference state, bit for bit."""
    for framework in {eps_ref.spec(source).framework, to}:
        pytest.importorskip({"tf1": "tensorflow", "tf_keras": "tf_keras"}.get(framework,
                                                                              framework))
    result = check_pair(source, kwargs, to)
    assert result.status == "exact", result.message


def test_converting_a_torch_state_dict_leaves_it_as_it_was():
    pytest.importorskip("torch")
    pytest.importorskip("optax")
    p_k, native = run_native("torch", "torch.optim.Adam", {"lr": 1e-2}, _params(), _grads(3))
    before = copy.deepcopy(native)
    eps_ref.port("torch.optim.Adam", to="optax", gap_steps=0, lr=1e-2).convert_state(native, p_k)
    assert all(np.array_equal(before["state"][i][key], native["state"][i][key])
               for i in before["state"] for key in before["state"][i])


def test_tf1_beta_powers_are_recomputed_as_tf1_keeps_them():
    p0, grads = _params(), _grads(5)
    _, torch_state = run_reference("torch.optim.Adam", {"lr": 1e-3}, p0, grads)
    _, tf1_state = run_reference("tf.compat.v1.train.AdamOptimizer", {}, p0, grads)
    carried = eps_ref.convert_state(torch_state, source="torch.optim.Adam",
                                    target="tf.compat.v1.train.AdamOptimizer", params=p0,
                                    source_kwargs={"lr": 1e-3})
    for a, b in zip(carried["slots"], tf1_state["slots"]):
        assert a["beta1_power"] == b["beta1_power"] and a["beta2_power"] == b["beta2_power"]


@pytest.mark.parametrize("source, skw, target, tkw, message", [
    ("keras.optimizers.SGD", {"momentum": 0.9}, "torch.optim.SGD",
     {"lr": 0.1, "momentum": 0.9}, "the learning rate inside"),
    ("torch.optim.Adam", {"amsgrad": True}, "optax.adam", {"learning_rate": 0.1},
     "would drop it"),
    ("torch.optim.Adam", {}, "optax.amsgrad", {"learning_rate": 0.1}, "bias-corrected"),
    ("torch.optim.RMSprop", {"momentum": 0.9}, "optax.rmsprop",
     {"learning_rate": 0.1, "momentum": 0.9}, "without the learning rate"),
    ("torch.optim.SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}, "optax.sgd",
     {"learning_rate": 0.1, "momentum": 0.9}, r"\(1 - 0\.5\) g"),
    ("torch.optim.Adam", {}, "optax.sgd", {"learning_rate": 0.1}, "same family"),
])
def test_a_state_that_would_mean_something_else_is_refused(source, skw, target, tkw,
                                                           message):
    p0 = _params()
    state = eps_ref.optimizer(source, **skw).init(p0)
    with pytest.raises(ValueError, match=message):
        eps_ref.convert_state(state, source=source, target=target, params=p0,
                              source_kwargs=skw, target_kwargs=tkw)


def test_keras_sgd_momentum_is_refused_from_torch():
    """torch's buffer is mu b + g, Keras' momentum mu m - lr g: no exact conversion."""
    p0, grads = _params(), _grads(3)
    kwargs = {"lr": 0.05, "momentum": 0.9}
    p_k, native = run_native("torch", "torch.optim.SGD", kwargs, p0, grads)
    plan = eps_ref.port("torch.optim.SGD", to="keras", gap_steps=0, **kwargs)
    with pytest.raises(ValueError, match="the learning rate inside"):
        plan.convert_state(native, p_k)


def test_bad_native_states_fail_clearly():
    torch = pytest.importorskip("torch")
    pytest.importorskip("optax")
    p0, grads = _params(), _grads(2)
    p_k, native = run_native("torch", "torch.optim.Adam", {"lr": 1e-2}, p0, grads)
    plan = eps_ref.port("torch.optim.Adam", to="optax", gap_steps=0, lr=1e-2)
    wrong = copy.deepcopy(native)
    wrong["state"][0]["exp_avg"] = torch.zeros(3)
    with pytest.raises(ValueError, match="must be a tensor of shape"):
        plan.convert_state(wrong, p_k)
    with pytest.raises(ValueError, match="holds 2 parameters, params 1"):
        plan.convert_state(native, {"w": p_k["w"]})
    with pytest.raises(ValueError, match="step=5, and the state_dict counts 2"):
        plan.convert_state(native, p_k, step=5)
    with pytest.raises(ValueError, match="a dict with 'state' and 'param_groups'"):
        plan.convert_state({"exp_avg": 1}, p_k)
    _, sgd_state = run_native("optax", "optax.sgd", {"learning_rate": 0.1, "momentum": 0.9},
                               p0, grads)
    back = eps_ref.port("optax.adam", to="torch", gap_steps=0, learning_rate=1e-2)
    with pytest.raises(ValueError, match="structure"):
        back.convert_state(sgd_state, p_k)
    with pytest.raises(NotImplementedError, match="Adamax's native state is not in yet"):
        eps_ref.port("torch.optim.Adamax", to="optax", gap_steps=0).convert_state(
            run_native("torch", "torch.optim.Adamax", {}, p0, grads)[1], p_k)


def test_bad_tf1_and_legacy_states_fail_clearly():
    pytest.importorskip("tf_keras")
    pytest.importorskip("torch")
    p0, grads = _params(), _grads(3)
    adam = "tf.compat.v1.train.AdamOptimizer"
    _, native = run_native("tf1", adam, {}, p0, grads)
    plan = eps_ref.port(adam, to="torch", gap_steps=0)
    with pytest.raises(ValueError, match="step=2 gives the beta power"):
        plan.convert_state(native, p0, step=2)
    assert plan.convert_state(native, p0, step=3)["state"][0]["step"] == 3
    renamed = {k.replace("w/", "kernel/"): v for k, v in native.items()}
    with pytest.raises(ValueError, match=r"'w/Adam', 'w/Adam_1'\] for these params"):
        plan.convert_state(renamed, p0)
    with pytest.raises(ValueError, match="no float32 running product"):
        plan.convert_state({**native, "beta2_power": np.float32(0.5)}, p0)
    with pytest.raises(ValueError, match="'w/Adam' has shape"):
        plan.convert_state({**native, "w/Adam": native["w/Adam"][:1]}, p0)
    legacy = "tf_keras.optimizers.legacy.Adam"
    _, weights = run_native("tf_keras", legacy, {}, p0, grads)
    with pytest.raises(ValueError, match=r"get_weights\(\), arrays of shapes"):
        eps_ref.port(legacy, to="torch", gap_steps=0).convert_state(weights[:-1], p0)


def test_bad_keras_stores_fail_clearly():
    pytest.importorskip("keras")
    p0, grads = _params(), _grads(2)
    _, store = run_native("keras", "keras.optimizers.Adam", {}, p0, grads)
    plan = eps_ref.port("keras.optimizers.Adam", to="optax", gap_steps=0)
    last = str(len(store) - 1)
    with pytest.raises(ValueError, match=rf"the optimizer keeps {len(store)} variables "
                                         rf"\('0'..'{last}'"):
        plan.convert_state({k: v for k, v in store.items() if k != last}, p0)
    with pytest.raises(ValueError, match=r"store\['1'\] \(.*\) has shape \(1,\), the variable"):
        plan.convert_state({**store, "1": np.zeros(1, np.float32)}, p0)
    with pytest.raises(ValueError, match="the store has list"):
        plan.convert_state(list(store.values()), p0)
    assert int(plan.convert_state(store, p0)[0].count) == 2       # and the store is intact


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_state_carries_on_every_backend(backend):
    """The pairs with Keras, in a process whose Keras runs on ``backend`` (the store is
    the same on each; the steps are the backend's)."""
    import os
    import subprocess
    import sys
    pytest.importorskip("keras")
    pytest.importorskip(backend)
    pytest.importorskip("torch")
    here = os.path.dirname(os.path.abspath(__file__))
    pairs = [p for p in PAIRS if "keras" in (p[0].split(".")[0], p[2])]
    script = ("import sys; sys.path.insert(0, %r)\n"
              "import test_state as T\n"
              "for pair in %r:\n"
              "    T.test_a_run_continues_in_the_other_framework(*pair)\n"
              "print('carried', len(%r))\n") % (here, pairs, pairs)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"carried {len(pairs)}" in run.stdout


def test_checkpoint_files_round_trip_and_fail_cleanly(tmp_path, capsys):
    """`eps-ref state convert`: a torch checkpoint to optax's .npz and back is the same
    state; a bad file, a wrong spec or a clash writes nothing and exits 2."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("optax")
    from eps_ref import cli
    p0, grads = _params(), _grads(4)
    p_k, native = run_native("torch", "torch.optim.Adam", {"lr": 1e-2}, p0, grads)
    np.savez(tmp_path / "params.npz", **p_k)
    torch.save(native, tmp_path / "adam.pt")
    common = ["--params", str(tmp_path / "params.npz")]
    assert cli.main(["state", "convert", str(tmp_path / "adam.pt"), "--from",
                     "torch.optim.Adam", "--to", "optax", str(tmp_path / "adam.npz"),
                     "lr=1e-2", *common]) == 0
    assert "optax.adam(learning_rate=0.01)" in capsys.readouterr().out
    assert cli.main(["state", "convert", str(tmp_path / "adam.npz"), "--from", "optax.adam",
                     "--to", "torch.optim.Adam", str(tmp_path / "back.pt"),
                     "learning_rate=1e-2", *common]) == 0
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    for i, entry in native["state"].items():
        for key, value in entry.items():
            assert torch.equal(back["state"][i][key], value), (i, key)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    bad = [
        (["junk.pt", "--from", "torch.optim.Adam", "--to", "optax", "x.npz", "lr=1e-2"],
         "cannot load it with torch.load(weights_only=True)"),
        (["adam.pt", "--from", "torch.optim.SGD", "--to", "optax", "x.npz", "lr=1e-2",
          "momentum=0.9"], "has no 'momentum_buffer'"),
        (["adam.npz", "--from", "optax.sgd", "--to", "torch", "x.pt",
          "learning_rate=0.1", "momentum=0.9"], "optax.sgd's state for these params has 2"),
        (["adam.pt", "--from", "torch.optim.Adam", "--to", "optax", "adam.pt"],
         "would overwrite the input"),
        (["adam.pt", "--from", "torch.optim.Adam", "--to", "keras.optimizers.SGD", "x.npz"],
         "not among the plan's candidates"),
        (["missing.pt", "--from", "torch.optim.Adam", "--to", "optax", "x.npz"],
         "no such file"),
    ]
    for argv, message in bad:
        files = sorted(tmp_path.iterdir())
        argv = [str(tmp_path / a) if a.endswith((".pt", ".npz")) else a for a in argv]
        assert cli.main(["state", "convert", *argv, *common]) == 2
        assert message in capsys.readouterr().err
        assert sorted(tmp_path.iterdir()) == files             # nothing written


def test_a_tf1_saver_checkpoint_continues_in_torch(tmp_path, capsys):
    """A TF1 program's Saver checkpoint of AdamOptimizer, converted by `eps-ref state
    convert` (the step recovered from the beta powers), continues in torch as the
    reference does."""
    tf = pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    from eps_ref import cli
    p0, grads = _params(), _grads(K_STEPS + N_STEPS)
    head = {k: g[:K_STEPS] for k, g in grads.items()}
    tail = {k: g[K_STEPS:] for k, g in grads.items()}
    adam = "tf.compat.v1.train.AdamOptimizer"
    p_k, native = run_native("tf1", adam, {}, p0, head)
    with tf.Graph().as_default():                  # what a TF1 program's Saver writes
        held = {n: tf.compat.v1.Variable(v, name=n) for n, v in {**p_k, **native}.items()}
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(held).save(session, str(tmp_path / "model.ckpt"))
    np.savez(tmp_path / "params.npz", **p_k)
    assert cli.main(["state", "convert", str(tmp_path / "model.ckpt"), "--from", adam,
                     "--to", "torch", str(tmp_path / "adam.pt"),
                     "--params", str(tmp_path / "params.npz")]) == 0
    target = eps_ref.port(adam, to="torch", gap_steps=0).nearest
    got, _ = run_native("torch", target.name, dict(target.kwargs), p_k, tail,
                         torch.load(tmp_path / "adam.pt", weights_only=True))
    ref_k, ref_state = run_reference(adam, {}, p0, head)
    carried = eps_ref.convert_state(ref_state, source=adam, target=target.name, params=ref_k,
                                    target_kwargs=target.kwargs)
    want, _ = run_reference(target.name, dict(target.kwargs), ref_k, tail, carried)
    assert _same(got, want)
    assert cli.main(["state", "convert", str(tmp_path / "model.ckpt"), "--from",
                     "tf.compat.v1.train.MomentumOptimizer", "--to", "torch",
                     str(tmp_path / "m.pt"), "--params", str(tmp_path / "params.npz"),
                     "learning_rate=0.1", "momentum=0.9"]) == 2
    assert "the checkpoint has no ['b/Momentum', 'w/Momentum']" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()

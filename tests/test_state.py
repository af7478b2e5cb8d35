"""Carrying optimizer state across frameworks (eps_ref.convert_state, Plan.convert_state),
proven on the real frameworks: k steps in the source, its live state converted, n more steps
in the target, against the reference run that converts the reference state."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import eps_ref
from eps_ref.backends import adapter, labels_for
from eps_ref.conformance.streams import gradient_stream, initial_params

K_STEPS, N_STEPS = 6, 6
PAIRS = [
    ("torch.optim.Adam", {"lr": 1e-2}, "optax"),
    ("torch.optim.AdamW", {"lr": 1e-2, "weight_decay": 0.05}, "optax"),
    ("torch.optim.SGD", {"lr": 0.05, "momentum": 0.9}, "optax"),
    ("torch.optim.SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, "optax"),
    ("torch.optim.RMSprop", {"lr": 1e-2}, "optax"),
    ("torch.optim.RMSprop", {"lr": 1e-2, "centered": True}, "optax"),
    ("torch.optim.Adagrad", {"lr": 0.1}, "optax"),
    ("optax.adam", {"learning_rate": 1e-2}, "torch"),
    ("optax.adamw", {"learning_rate": 1e-2}, "torch"),
    ("optax.sgd", {"learning_rate": 0.05, "momentum": 0.9}, "torch"),
    ("optax.rmsprop", {"learning_rate": 1e-2}, "torch"),
    ("optax.adagrad", {"learning_rate": 0.1}, "torch"),
    ("torch.optim.Adam", {"lr": 1e-2}, "keras"),
    ("torch.optim.RMSprop", {"lr": 1e-2}, "keras"),
    ("keras.optimizers.Adam", {}, "torch"),
    ("keras.optimizers.AdamW", {}, "optax"),
    ("keras.optimizers.Adagrad", {}, "torch"),
    ("optax.adam", {"learning_rate": 1e-2}, "keras"),
    ("optax.rmsprop", {"learning_rate": 1e-2}, "keras"),
    ("torch.optim.Adam", {"lr": 1e-2}, "tf_keras"),
    ("tf_keras.optimizers.Adam", {}, "torch"),
    ("tf_keras.optimizers.RMSprop", {}, "optax"),
]


def _params():
    """A two-leaf tree whose keys torch (insertion) and optax (sorted) order differently."""
    return {"w": initial_params(), "b": initial_params(seed=1)[0]}


def _grads(steps):
    return {"w": gradient_stream(steps), "b": gradient_stream(steps, seed=1)[:, 0]}


def _run_native(framework, name, kwargs, params, grads, state=None):
    """Steps of the real optimizer from ``state`` (its native form; None: fresh), eagerly:
    the parameters after them and the native state."""
    keys = list(params)
    if framework == "torch":
        torch = pytest.importorskip("torch")
        tensors = [torch.nn.Parameter(torch.tensor(params[k])) for k in keys]
        opt = adapter("torch").resolve(name)(tensors, **kwargs)
        if state is not None:
            opt.load_state_dict(state)
        for t in range(len(grads[keys[0]])):
            for p, k in zip(tensors, keys):
                p.grad = torch.tensor(grads[k][t])
            opt.step()
        return {k: p.detach().numpy().copy() for p, k in zip(tensors, keys)}, opt.state_dict()
    if framework == "keras":
        keras = pytest.importorskip("keras")
        variables = [keras.Variable(params[k]) for k in keys]
        opt = adapter("keras/tensorflow").resolve(name)(**kwargs)
        opt.build(variables)
        if state is not None:
            opt.load_own_variables(state)
        for t in range(len(grads[keys[0]])):
            opt.apply([keras.ops.convert_to_tensor(grads[k][t]) for k in keys], variables)
        store = {}
        opt.save_own_variables(store)
        return {k: np.asarray(keras.ops.convert_to_numpy(v.value)) for k, v in
                zip(keys, variables)}, store
    if framework == "tf_keras":
        tf = pytest.importorskip("tensorflow")
        pytest.importorskip("tf_keras")
        variables = [tf.Variable(params[k]) for k in keys]
        opt = adapter("tf_keras").resolve(name)(**kwargs)
        opt.build(variables)
        if state is not None:
            opt.load_own_variables(state)
        for t in range(len(grads[keys[0]])):
            opt.apply_gradients([(tf.constant(grads[k][t]), v) for k, v in zip(keys, variables)])
        store = {}
        opt.save_own_variables(store)
        return {k: v.numpy().copy() for k, v in zip(keys, variables)}, store
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    tx = adapter("optax").resolve(name)(**kwargs)
    p = {k: jnp.asarray(params[k]) for k in keys}
    state = tx.init(p) if state is None else state
    for t in range(len(grads[keys[0]])):
        updates, state = tx.update({k: jnp.asarray(grads[k][t]) for k in keys}, state, p)
        p = optax.apply_updates(p, updates)
    return {k: np.asarray(p[k]) for k in keys}, state


def _backend(name):
    """Keras' backend in this process, for a Keras spec (its kernels differ by backend)."""
    if eps_ref.spec(name).framework != "keras":
        return None
    return pytest.importorskip("keras").backend.backend()


def _run_reference(name, kwargs, params, grads, state=None):
    opt = eps_ref.optimizer(name, backend=_backend(name), **kwargs)
    state = opt.init(params) if state is None else state
    for t in range(len(grads["w"])):
        params, state = opt.step(params, {k: grads[k][t] for k in grads}, state)
    return params, state


def _same(a, b):
    return all(np.array_equal(np.asarray(a[k]).view(np.int32), np.asarray(b[k]).view(np.int32))
               for k in a)


@pytest.mark.parametrize("source, kwargs, to", PAIRS,
                         ids=[f"{s}{'+' if len(k) > 1 else ''}->{t}" for s, k, t in PAIRS])
def test_a_run_continues_in_the_other_framework(source, kwargs, to):
    framework = eps_ref.spec(source).framework
    p0, grads = _params(), _grads(K_STEPS + N_STEPS)
    head = {k: g[:K_STEPS] for k, g in grads.items()}
    tail = {k: g[K_STEPS:] for k, g in grads.items()}
    p_k, native = _run_native(framework, source, kwargs, p0, head)
    ref_k, ref_state = _run_reference(source, kwargs, p0, head)
    assert _same(p_k, ref_k)                       # the reference is the source framework
    read = adapter(labels_for(framework)[0]).read_state(source, kwargs, native, p_k,
                                                       step=K_STEPS)
    assert read["step"] == ref_state["step"] == K_STEPS
    assert all(_same(a, b) for a, b in zip(read["slots"], ref_state["slots"]))

    plan = eps_ref.port(source, to=to, gap_steps=0, **kwargs)
    before = copy.deepcopy(native)
    converted = plan.convert_state(native, p_k, step=K_STEPS)
    target, target_kwargs = plan.nearest.name, dict(plan.nearest.kwargs)
    got, _ = _run_native(to, target, target_kwargs, p_k, tail, converted)

    carried = eps_ref.convert_state(ref_state, source=source, target=target, params=ref_k,
                                    source_kwargs=kwargs, target_kwargs=target_kwargs)
    want, _ = _run_reference(target, target_kwargs, ref_k, tail, carried)
    assert _same(got, want)                        # converted and loaded exactly
    if framework == "torch":
        assert all(np.array_equal(before["state"][i][key], native["state"][i][key])
                   for i in before["state"] for key in before["state"][i])


def test_tf1_beta_powers_are_recomputed_as_tf1_keeps_them():
    p0, grads = _params(), _grads(5)
    _, torch_state = _run_reference("torch.optim.Adam", {"lr": 1e-3}, p0, grads)
    _, tf1_state = _run_reference("tf.compat.v1.train.AdamOptimizer", {}, p0, grads)
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
    p_k, native = _run_native("torch", "torch.optim.SGD", kwargs, p0, grads)
    plan = eps_ref.port("torch.optim.SGD", to="keras", gap_steps=0, **kwargs)
    with pytest.raises(ValueError, match="the learning rate inside"):
        plan.convert_state(native, p_k)


def test_bad_native_states_fail_clearly():
    torch = pytest.importorskip("torch")
    pytest.importorskip("optax")
    p0, grads = _params(), _grads(2)
    p_k, native = _run_native("torch", "torch.optim.Adam", {"lr": 1e-2}, p0, grads)
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
    _, sgd_state = _run_native("optax", "optax.sgd", {"learning_rate": 0.1, "momentum": 0.9},
                               p0, grads)
    back = eps_ref.port("optax.adam", to="torch", gap_steps=0, learning_rate=1e-2)
    with pytest.raises(ValueError, match="structure"):
        back.convert_state(sgd_state, p_k)
    with pytest.raises(NotImplementedError, match="legacy.RMSprop's native state"):
        eps_ref.port("torch.optim.RMSprop", to="tf_keras", gap_steps=0,
                     lr=1e-2).convert_state(
            _run_native("torch", "torch.optim.RMSprop", {"lr": 1e-2}, p0, grads)[1], p_k)
    with pytest.raises(NotImplementedError, match="native tf1 state"):
        eps_ref.port("torch.optim.Adam", to="tf1", gap_steps=0, lr=1e-2).convert_state(
            native, p_k)


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
    p_k, native = _run_native("torch", "torch.optim.Adam", {"lr": 1e-2}, p0, grads)
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

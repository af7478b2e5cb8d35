"""Drop-ins in the real frameworks: ``eps_ref.port(source, to=...).dropin(...)`` stepped as a
native torch optimizer or optax transformation on a small parameter tree, against the
*source* reference, bit for bit.

One source per optimizer family (the family's first spec in the tables, at its first
variant's keywords, from each dialect under ``EPS_REF_FULL=1``), 20 steps of the
conformance stream on a tree of two leaves. Runs in a few seconds.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

import eps_ref
from eps_ref.backends.dropins import (APPLY_UPDATES_BUDGET, dropin_for, exact_params,
                                     exact_updates)
from eps_ref.conformance.streams import gradient_stream, initial_params

P = importlib.import_module("eps_ref.port")
FULL = os.environ.get("EPS_REF_FULL") == "1"
STEPS = 20


def _sources() -> list[tuple[str, dict]]:
    """One optimizer source per family (per family and dialect under EPS_REF_FULL)."""
    seen, out = set(), []
    for name in eps_ref.specs(kind="optimizer"):
        s = eps_ref.spec(name)
        key = (P.port_family(s), s.framework) if FULL else P.port_family(s)
        if key not in seen:
            seen.add(key)
            out.append((name, dict(next(iter(s.variants.values()), {}))))
    return out


SOURCES = _sources()


def _tree():
    p0 = initial_params()
    return [p0[:1].copy(), p0[1:].copy()]


def _grads(t, g):
    return [g[t][:1], g[t][1:]]


def _reference_run(name, kwargs, leaves, grads):
    opt = eps_ref.optimizer(name, **kwargs)
    state = opt.init(leaves)
    out = []
    with np.errstate(all="ignore"):
        for t in range(STEPS):
            leaves, state = opt.step(leaves, _grads(t, grads), state)
            out.append([np.array(x) for x in leaves])
    return out


@pytest.mark.parametrize("name, kwargs", SOURCES, ids=[s for s, _ in SOURCES])
def test_torch_dropin_is_the_source(name, kwargs):
    torch = pytest.importorskip("torch")
    leaves, grads = _tree(), gradient_stream(STEPS)
    expected = _reference_run(name, kwargs, [x.copy() for x in leaves], grads)
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in leaves]
    opt = dropin_for(name, "torch", params, **kwargs)
    assert isinstance(opt, torch.optim.Optimizer)
    with np.errstate(all="ignore"):
        for t in range(STEPS):
            for p, g in zip(params, _grads(t, grads)):
                p.grad = torch.from_numpy(g.copy())
            opt.step()
            opt.zero_grad()
            got = [p.detach().numpy() for p in params]
            for leaf, (a, b) in enumerate(zip(expected[t], got)):
                assert eps_ref.ulp_distance(a, b).max() == 0, (t, leaf)


@pytest.mark.parametrize("name, kwargs", SOURCES, ids=[s for s, _ in SOURCES])
def test_optax_dropin_is_the_source(name, kwargs):
    pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp
    leaves, grads = _tree(), gradient_stream(STEPS)
    expected = _reference_run(name, kwargs, [x.copy() for x in leaves], grads)
    tx = dropin_for(name, "optax", **kwargs)
    assert isinstance(tx, optax.GradientTransformation)
    params = {"a": jnp.asarray(leaves[0]), "b": jnp.asarray(leaves[1])}   # sorted keys
    state = tx.init(params)
    with np.errstate(all="ignore"):
        for t in range(STEPS):
            g = _grads(t, grads)
            held = [np.asarray(params[key]) for key in "ab"]
            updates, state = tx.update({"a": jnp.asarray(g[0]), "b": jnp.asarray(g[1])},
                                       state, params)
            params = optax.apply_updates(params, updates)
            for leaf, key in enumerate("ab"):
                a = expected[t][leaf]
                # The reference trajectory the drop-in steps: bit for bit.
                assert eps_ref.ulp_distance(a, state["params"][leaf]).max() == 0, (t, key)
                # What apply_updates lands on: within the declared budget, and exact
                # wherever a float32 update reaches the reference.
                b = np.asarray(params[key])
                p_before = held[leaf]
                scale = np.spacing(np.maximum(np.abs(p_before), np.abs(a)))
                assert (np.abs(a.astype(np.float64) - b)
                        <= APPLY_UPDATES_BUDGET[0] * scale).all(), (t, key)
                missed = a != b
                if missed.any():
                    assert not _reachable(p_before[missed], a[missed]), (t, key)
            assert all(np.array_equal(np.asarray(x), e) for x, e in
                       zip(jax.tree_util.tree_leaves(exact_params(state, params)),
                           expected[t]))


def _reachable(p: np.ndarray, target: np.ndarray) -> bool:
    """Whether some float32 update u gives p + u == target, for any element: tried over
    the 64 floats around target - p."""
    with np.errstate(all="ignore"):
        u = (target - p).astype(np.float32)
        for _ in range(32):
            u = np.nextafter(u, np.float32(-np.inf))
        for _ in range(64):
            if ((p + u) == target).any():
                return True
            u = np.nextafter(u, np.float32(np.inf))
    return False


def test_plan_dropin_and_the_native_port_gap():
    """Through a plan: Keras' Adam in torch, which has no native equivalent (epsilon-hat).
    The drop-in is exact where the nearest native configuration is not."""
    torch = pytest.importorskip("torch")
    plan = eps_ref.port("keras.optimizers.Adam", to="torch", gap_steps=0)
    assert not plan.equivalent
    leaves, grads = _tree(), gradient_stream(STEPS)
    expected = _reference_run("keras.optimizers.Adam", {}, [x.copy() for x in leaves], grads)
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in leaves]
    opt = plan.dropin(params)
    for t in range(STEPS):
        for p, g in zip(params, _grads(t, grads)):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    assert all(np.array_equal(a, p.detach().numpy()) for a, p in zip(expected[-1], params))
    native = eps_ref.optimizer(plan.nearest.name, **plan.nearest.kwargs)
    state, n = native.init([x.copy() for x in leaves]), [x.copy() for x in leaves]
    with np.errstate(all="ignore"):
        for t in range(STEPS):
            n, state = native.step(n, _grads(t, grads), state)
    assert any(not np.array_equal(a, b) for a, b in zip(expected[-1], n))


def _steps_with_a_frozen_parameter(opt_for, torch):
    """Four steps of two parameters, the second without a gradient at steps 2 and 3."""
    params = [torch.nn.Parameter(torch.linspace(-1, 1, 3)), torch.nn.Parameter(torch.ones(2))]
    opt = opt_for(params)
    grads = gradient_stream(4, shape=(5,))
    for t in range(4):
        params[0].grad = torch.from_numpy(grads[t][:3].copy())
        params[1].grad = None if t in (1, 2) else torch.from_numpy(grads[t][3:].copy())
        opt.step()
    return [p.detach().numpy().copy() for p in params]


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
def test_a_parameter_without_gradient_is_skipped_as_the_source_skips_it():
    """A torch drop-in running torch's own Adam gives torch's bits when a parameter has no
    gradient for a while (torch skips it: no step, no moment update); the Keras-semantics
    drop-in gives the Keras reference's skip."""
    torch = pytest.importorskip("torch")
    native = _steps_with_a_frozen_parameter(lambda ps: torch.optim.Adam(ps, lr=0.1), torch)
    dropped = _steps_with_a_frozen_parameter(
        lambda ps: dropin_for("torch.optim.Adam", "torch", ps, lr=0.1), torch)
    assert all(np.array_equal(a, b) for a, b in zip(native, dropped))
    keras_in_torch = _steps_with_a_frozen_parameter(
        lambda ps: dropin_for("keras.optimizers.Adam", "torch", ps, learning_rate=0.1), torch)
    ref = eps_ref.optimizer("keras.optimizers.Adam", learning_rate=0.1)
    params = [np.linspace(-1, 1, 3).astype(np.float32), np.ones(2, np.float32)]
    state, grads = ref.init(params), gradient_stream(4, shape=(5,))
    for t in range(4):
        params, state = ref.step(params, [grads[t][:3], None if t in (1, 2) else grads[t][3:]],
                                 state)
    assert all(np.array_equal(a, b) for a, b in zip(params, keras_in_torch))


def test_exact_updates_land_on_the_target():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(10_000).astype(np.float32)
    new = (p * (1 + 1e-3 * rng.standard_normal(10_000))).astype(np.float32)
    new[::7] = 0.0
    u = exact_updates(p, new)
    assert np.array_equal(p + u, new)


KERAS_SOURCES = [s for s in SOURCES if FULL or eps_ref.spec(s[0]).framework != "keras"]


@pytest.mark.parametrize("name, kwargs", KERAS_SOURCES, ids=[s for s, _ in KERAS_SOURCES])
def test_keras_dropin_is_the_source(name, kwargs):
    """Keras 3 on the backend this process imported it with (the harness's default,
    TensorFlow, unless KERAS_BACKEND says otherwise), eager."""
    keras = pytest.importorskip("keras")
    leaves, grads = _tree(), gradient_stream(STEPS)
    expected = _reference_run(name, kwargs, [x.copy() for x in leaves], grads)
    variables = [keras.Variable(x.copy()) for x in leaves]
    opt = dropin_for(name, "keras", **kwargs)
    assert isinstance(opt, keras.optimizers.Optimizer)
    with np.errstate(all="ignore"):
        for t in range(STEPS):
            opt.apply([keras.ops.convert_to_tensor(g) for g in _grads(t, grads)], variables)
            for leaf, v in enumerate(variables):
                got = np.asarray(v.numpy())
                assert eps_ref.ulp_distance(expected[t][leaf], got).max() == 0, (t, leaf)
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == STEPS


# -- the drop-ins of the porting pairs, in their real target frameworks ---------------------

from eps_ref.conformance import porting as PORTING   # noqa: E402
from eps_ref.conformance.cases import porting_groups   # noqa: E402
from eps_ref.conformance.tier import full_or_ci   # noqa: E402

PAIR_STEPS = full_or_ci(200, 12)


def _ci_pairs() -> list:
    """Every pair under EPS_REF_FULL; else the pairs of each group's first member, and
    every pair into each label from one source of each other framework."""
    every = PORTING.dropin_cases()
    if FULL:
        return every
    firsts = {next(iter(members)) for members in porting_groups().values()}
    seen, out = set(), []
    for c in every:
        key = (eps_ref.spec(c.spec).framework, c.label)
        if c.spec in firsts or key not in seen:
            seen.add(key)
            out.append(c)
    return out


PAIRS = _ci_pairs()


@pytest.fixture(scope="session")
def dropin_suite():
    results, _ = PORTING.run_dropin_cases(PAIRS, PAIR_STEPS, progress=None)
    return {r.case.id: r for r in results}


@pytest.mark.parametrize("case", PAIRS, ids=[c.id for c in PAIRS])
def test_dropin_in_its_framework_is_the_source(dropin_suite, case):
    """The drop-in, driven by the real target as a training loop drives it (``model.fit``
    for Keras on each backend and tf_keras, a TF1 session, torch ``step``, optax
    ``apply_updates``) on a two-tensor parameter list: bit-exact against the source
    reference, or within its label's declared budget (optax's float32 addition)."""
    result = dropin_suite[case.id]
    if result.status == "skipped":
        pytest.skip(result.message)
    assert result.status in ("exact", "within budget"), f"{result.status}: {result.message}"
    if result.status == "within budget":
        assert case.label in PORTING.DROPIN_BUDGETS


def test_every_label_and_every_source_framework_is_covered():
    labels = {c.label for c in PAIRS}
    assert labels == set(PORTING.DROPIN_LABELS)
    sources = {eps_ref.spec(c.spec).framework for c in PAIRS}
    assert sources == {eps_ref.spec(s).framework for m in porting_groups().values()
                       for s in m}


def test_tf1_dropin_minimize_in_a_graph_and_apply_gradients_eagerly():
    """The TF1 drop-in as TF1 code uses it: ``minimize(loss, global_step)`` builds a train op
    that a session runs (the loss ``sum(w * g)`` has gradient ``g``), and eagerly
    ``apply_gradients`` steps at once; both give the source reference's bits."""
    tf = pytest.importorskip("tensorflow")
    leaves, grads = _tree(), gradient_stream(STEPS)
    expected = _reference_run("torch.optim.Adam", {}, [x.copy() for x in leaves], grads)
    graph = tf.Graph()
    with graph.as_default():
        ws = [tf.compat.v1.Variable(x.copy()) for x in leaves]
        fed = [tf.compat.v1.placeholder(tf.float32, x.shape) for x in leaves]
        loss = tf.add_n([tf.reduce_sum(w * g) for w, g in zip(ws, fed)])
        step = tf.compat.v1.train.get_or_create_global_step()
        opt = dropin_for("torch.optim.Adam", "tf1")
        assert isinstance(opt, tf.compat.v1.train.Optimizer)
        train = opt.minimize(loss, global_step=step)
        init = tf.compat.v1.global_variables_initializer()
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(init)
        for t in range(STEPS):
            session.run(train, dict(zip(fed, _grads(t, grads))))
            for leaf, value in enumerate(session.run(ws)):
                assert np.array_equal(value, expected[t][leaf]), (t, leaf)
        assert session.run(step) == STEPS
    eager = [tf.Variable(x.copy()) for x in leaves]
    opt = dropin_for("torch.optim.Adam", "tf1")
    for t in range(STEPS):
        opt.apply_gradients([(tf.constant(g), v) for g, v in zip(_grads(t, grads), eager)])
    assert all(np.array_equal(v.numpy(), e) for v, e in zip(eager, expected[-1]))


def test_keras_dropin_under_a_jitted_jax_step_says_to_run_eagerly():
    """A drop-in cannot leave XLA to run NumPy: a jitted step gets a clear error."""
    jax = pytest.importorskip("jax")
    pytest.importorskip("keras")
    from eps_ref.backends.dropins import _refuse_tracers
    with pytest.raises(TypeError, match="run_eagerly=True"):
        jax.jit(lambda x: _refuse_tracers([x]) or x)(np.ones(2, np.float32))
    _refuse_tracers([np.ones(2, np.float32)])   # concrete values pass


def test_the_conformance_report_shows_the_porting_pairs(tmp_path):
    """``eps-ref conformance`` runs the selected sources' drop-ins in their targets and
    reports nominal port, nearest configuration and drop-in, with a plot a group."""
    import json

    from eps_ref import cli
    out = tmp_path / "report"
    assert cli.main(["conformance", "--framework", "torch", "optax", "--spec",
                     "torch.optim.SGD", "--steps", "3", "--workload-steps", "0",
                     "--porting-steps", "6", "--schedule-steps", "0",
                     "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## Porting: nominal port, nearest native configuration, drop-in" in md
    carried = [line for line in md.split("## State carry-over", 1)[1].splitlines()
               if line.startswith("| `torch.optim.SGD`")]
    assert len(carried) == 2 and all("| exact |" in line for line in carried)
    row = next(line for line in md.splitlines()
               if line.startswith("| `torch.optim.SGD` | optax |"))
    assert "`optax.sgd(learning_rate=0.01, momentum=0.9)`" in row
    pairs = json.loads((out / "report.json").read_text())["porting_pairs"]
    assert pairs["steps"] == 6
    assert [(p["source"], p["label"]) for p in pairs["pairs"]] == [("torch.optim.SGD", "optax")]
    assert pairs["pairs"][0]["dropin_status"] in ("exact", "within budget")
    assert list((out / "plots").glob("porting_pairs_*.png"))


TF_SOURCES = [s for s in SOURCES if FULL or eps_ref.spec(s[0]).framework not in
              ("tf1", "tf_keras")]


@pytest.mark.parametrize("to", ["tf1", "tf_keras"])
@pytest.mark.parametrize("name, kwargs", TF_SOURCES, ids=[s for s, _ in TF_SOURCES])
def test_tensorflow_dropin_is_the_source(name, kwargs, to):
    """One source per family into TF1 (a train op run by a session) and tf_keras
    (``model.fit``, compiled), on a two-tensor parameter list: the source's bits."""
    pytest.importorskip("tensorflow")
    if to == "tf_keras":
        pytest.importorskip("tf_keras")
    from eps_ref.backends.dropins import trajectory
    leaves, grads = _tree(), gradient_stream(STEPS)
    expected = _reference_run(name, kwargs, [x.copy() for x in leaves], grads)
    got = trajectory(to, name, kwargs, {"a": leaves[0], "b": leaves[1]},
                     {"a": grads[:, :1], "b": grads[:, 1:]})
    for t in range(STEPS):
        for leaf, key in enumerate("ab"):
            assert eps_ref.ulp_distance(expected[t][leaf], got[key][t + 1]).max() == 0, \
                (t, key)

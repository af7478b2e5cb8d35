"""Hardening (issue 18): what a caller cannot corrupt, and the clear errors for bad input."""

import dataclasses

import numpy as np
import pytest

import eps_ref
from conftest import SPEC_VARIANTS, example_kwargs
from eps_ref._frozen import FrozenDict

ALL_SPECS = eps_ref.specs()


def _mutable_parts(obj, path="", seen=None):
    """Paths of the containers reachable from ``obj`` (through dataclass fields, mappings
    and tuples) that can be changed in place: a dict, list, set or writeable array."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, FrozenDict):
        return [p for k, v in obj.items() for p in _mutable_parts(v, f"{path}[{k!r}]", seen)]
    if isinstance(obj, (dict, list, set, bytearray)):
        return [f"{path} ({type(obj).__name__})"]
    if isinstance(obj, np.ndarray):
        return [path] if obj.flags.writeable else []
    if isinstance(obj, (tuple, frozenset)):
        return [p for i, v in enumerate(obj) for p in _mutable_parts(v, f"{path}[{i}]", seen)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if not obj.__dataclass_params__.frozen:
            return [f"{path} (a mutable {type(obj).__name__})"]
        return [p for f in dataclasses.fields(obj)
                for p in _mutable_parts(getattr(obj, f.name), f"{path}.{f.name}", seen)]
    return []


def _built(name, variant):
    """The object a spec builds for one of its variants (optimizer, layer, clip or
    schedule)."""
    s = eps_ref.spec(name)
    build = {"optimizer": eps_ref.optimizer, "layer": eps_ref.layer, "clip": eps_ref.clip,
             "schedule": eps_ref.schedule}
    kwargs = example_kwargs(name, variant) if s.kind == "optimizer" else dict(s.variants[variant])
    return build[s.kind](name, **kwargs)


@pytest.mark.parametrize("name", ALL_SPECS)
def test_no_spec_can_be_changed_in_place(name):
    s = eps_ref.spec(name)
    assert _mutable_parts(s, name) == []
    assert _mutable_parts(s.semantics, f"{name}.semantics") == []
    for variant in s.variants:
        assert _mutable_parts(_built(name, variant), f"{name}[{variant}]") == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.defaults = {}


@pytest.mark.parametrize("change", [
    lambda m: m.__setitem__("lr", 1.0), lambda m: m.__delitem__("lr"),
    lambda m: m.update(lr=1.0), lambda m: m.setdefault("new", 1), lambda m: m.pop("lr", None),
    lambda m: m.popitem(), lambda m: m.clear(), lambda m: m.__ior__({"lr": 1.0}),
    lambda m: m.__init__({"lr": 1.0}),
], ids=["setitem", "delitem", "update", "setdefault", "pop", "popitem", "clear", "ior",
        "init"])
def test_tables_refuse_every_change_in_place(change):
    s = eps_ref.spec("torch.optim.Adam")
    opt = eps_ref.optimizer("torch.optim.Adam")
    bn = eps_ref.layer("torch.nn.BatchNorm1d", num_features=2)
    clip = eps_ref.clip("optax.clip_by_global_norm", max_norm=1.0)
    tables = [s.defaults, s.variants, s.variants["defaults"], s.budgets, opt.hyperparams,
              opt.rule_kwargs, bn.hyperparams, bn.rule_kwargs, clip.hyperparams,
              clip.transform_kwargs, eps_ref.spec("torch.nn.BatchNorm1d").budgets]
    for table in tables:
        before = dict(table)
        try:
            change(table)
        except TypeError as e:
            assert "read-only" in str(e)
        else:   # __init__ is a no-op once built: the table must be unchanged
            assert dict(table) == before
        assert dict(table) == before


def test_an_unknown_framework_gets_a_suggestion():
    with pytest.raises(ValueError, match="unknown framework 'pytorch'; did you mean 'torch'"):
        eps_ref.specs(framework="pytorch")


def test_changing_a_copy_leaves_the_spec_alone():
    defaults = dict(eps_ref.spec("torch.optim.Adam").defaults)
    defaults["lr"] = 1.0
    assert eps_ref.optimizer("torch.optim.Adam").hyperparams["lr"] == 1e-3
    assert eps_ref.spec("torch.optim.Adam").defaults["lr"] == 1e-3


def test_the_walker_finds_a_mutable_table():
    s = eps_ref.spec("torch.optim.Adam")
    loose = dataclasses.replace(s)
    object.__setattr__(loose, "defaults", {"lr": [1e-3]})
    assert _mutable_parts(loose, "s") == ["s.defaults (dict)"]
    assert _mutable_parts((FrozenDict(lr=[1e-3]),), "t") == ["t[0]['lr'] (list)"]


# -- state validation ---------------------------------------------------------------------

P = np.ones((1, 3), np.float32)
G = np.full((1, 3), 0.1, np.float32)


def _adam(name="torch.optim.Adam", **kw):
    return eps_ref.optimizer(name, **kw)


@pytest.mark.parametrize("step, error", [(-5, ValueError), (-1, ValueError), (2.5, TypeError),
                                         (True, TypeError), ("3", TypeError),
                                         (np.float64(2.0), TypeError), (None, TypeError)])
def test_step_must_be_a_nonnegative_int(step, error):
    opt = _adam()
    with pytest.raises(error, match=r"state\['step'\] must be a non-negative int"):
        opt.step(P, G, {**opt.init(P), "step": step})


def test_a_numpy_integer_step_counts_as_the_int():
    opt = _adam()
    at_3 = opt.step(P, G, {**opt.init(P), "step": 3})
    at_np3 = opt.step(P, G, {**opt.init(P), "step": np.int64(3)})
    np.testing.assert_array_equal(at_3[0], at_np3[0])
    assert type(at_np3[1]["step"]) is int and at_np3[1]["step"] == 4


def test_another_optimizers_slots_name_the_leaf_and_the_slots():
    sgd = eps_ref.optimizer("torch.optim.SGD", momentum=0.9)
    with pytest.raises(ValueError, match="built by torch.optim.Adam's init"):
        sgd.step({"w": P}, {"w": G}, _adam().init({"w": P}))
    untagged = {k: v for k, v in _adam().init({"w": P}).items() if k != "spec"}  # by hand
    with pytest.raises(ValueError, match=r"state\['slots'\]\[0\] \(params\['w'\]\) holds "
                                         r"\['m', 'v'\].*keeps \['momentum_buffer'\]"):
        sgd.step({"w": P}, {"w": G}, untagged)


def test_another_frameworks_state_is_refused_even_with_the_same_slot_names():
    with pytest.raises(ValueError, match="built by torch.optim.Adam's init"):
        _adam("keras.optimizers.Adam").step(P, G, _adam().init(P))
    # the same framework and rule: torch's Adam state steps torch's AdamW
    new, state = _adam("torch.optim.AdamW").step(P, G, _adam().init(P))
    assert state["spec"] == "torch.optim.Adam" and new.shape == P.shape


def test_a_state_for_another_shape_does_not_broadcast():
    opt = _adam()
    with pytest.raises(ValueError, match=r"\['m'\] has shape \(3,\), expected \(1, 3\)"):
        opt.step(P, G, opt.init(np.ones(3, np.float32)))


def test_a_state_of_another_dtype_is_refused():
    opt = _adam()
    with pytest.raises(TypeError, match="has dtype float32, expected float64"):
        opt.step(P.astype(np.float64), G.astype(np.float64), opt.init(P))


@pytest.mark.parametrize("corrupt, error, match", [
    (lambda s: [s], TypeError, "state must be the dict"),
    (lambda s: {k: v for k, v in s.items() if k != "slots"}, ValueError, r"missing \['slots'\]"),
    (lambda s: {**s, "extra": 1}, ValueError, r"unexpected \['extra'\]"),
    (lambda s: {**s, "slots": s["slots"] * 2}, ValueError, "one entry per parameter leaf"),
    (lambda s: {**s, "slots": [list(s["slots"][0].values())]}, TypeError, "must be a dict"),
    (lambda s: {**s, "slots": [{**s["slots"][0], "m": 0.0}]}, TypeError, "must be an array"),
    (lambda s: {**s, "leaf_steps": [-1]}, ValueError, r"leaf_steps'\]\[0\] must be"),
])
def test_corrupt_states_are_clear_errors(corrupt, error, match):
    opt = _adam()
    with pytest.raises(error, match=match):
        opt.step(P, G, corrupt(opt.init(P)))


def test_base_optimizer_entries_are_checked():
    opt = eps_ref.optimizer("keras.optimizers.Adam", use_ema=True)
    state = opt.init([P])
    with pytest.raises(ValueError, match=r"missing \['average'\]"):
        opt.step([P], [G], {k: v for k, v in state.items() if k != "average"})
    with pytest.raises(ValueError, match=r"state\['average'\]\[0\] has shape \(3,\)"):
        opt.step([P], [G], {**state, "average": [np.ones(3, np.float32)]})


@pytest.mark.parametrize("name, variant", SPEC_VARIANTS[::7])
def test_every_spec_refuses_a_slot_of_the_wrong_shape(name, variant):
    opt = eps_ref.optimizer(name, **example_kwargs(name, variant))
    p = np.ones((2, 3), np.float32)
    state = opt.init(p)
    opt.step(p, p * 0.1, state)                              # its own state is accepted
    arrays = [k for k, v in state["slots"][0].items() if getattr(v, "ndim", 0) > 0]
    if not arrays:
        pytest.skip("no array slot")
    bad = {**state, "slots": [{**state["slots"][0], arrays[0]: np.ones(7, np.float32)}]}
    with pytest.raises(ValueError, match=rf"\['{arrays[0]}'\] has shape \(7,\)"):
        opt.step(p, p * 0.1, bad)


def test_layer_state_is_checked_and_training_is_a_bool():
    bn = eps_ref.layer("torch.nn.BatchNorm1d", num_features=3)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    state = bn.init(x)
    with pytest.raises(TypeError, match="training must be True or False, got 'False'"):
        bn.apply(x, state, training="False")
    with pytest.raises(TypeError, match="training must be True or False"):
        bn.apply(x, state, training=None)
    bn.apply(x, state, training=np.bool_(True))
    other = eps_ref.layer("torch.nn.BatchNorm1d", num_features=5).init(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"state\['scale'\] has shape \(5,\), expected \(3,\)"):
        bn.apply(x, other, training=True)
    with pytest.raises(ValueError, match=r"missing \['running_var'\]"):
        bn.apply(x, {k: v for k, v in state.items() if k != "running_var"}, training=True)
    for count, error in [(-1, ValueError), (2.5, TypeError)]:
        with pytest.raises(error, match=r"state\['num_batches_tracked'\] must be a non-neg"):
            bn.apply(x, {**state, "num_batches_tracked": count}, training=True)
    with pytest.raises(TypeError, match="expected float32"):
        bn.apply(x, {**state, "scale": state["scale"].astype(np.float64)}, training=True)


def test_state_checks_are_cached_per_shape():
    """No per-element work: a leaf's expected slots come from init once per shape."""
    from eps_ref._state import _slot_signature
    opt = _adam()
    tree = [np.ones((5, 7), np.float32) for _ in range(20)]
    state = opt.init(tree)
    _slot_signature.cache_clear()
    for _ in range(3):
        tree, state = opt.step(tree, tree, state)
    assert _slot_signature.cache_info().misses == 1


# -- framework idioms ---------------------------------------------------------------------

SHAPES = [(4, 3), (5,)]
PRESENT = [(True, False), (True, True), (False, True), (True, True), (False, False),
           (True, True)]


def _none_stream(seed=0):
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) if on else None
              for s, on in zip(SHAPES, row)] for row in PRESENT]
    return p0, grads


def test_a_none_gradient_leaves_its_parameter_and_slots_alone():
    p0, _ = _none_stream()
    opt = eps_ref.optimizer("torch.optim.Adam")
    state = opt.init(p0)
    new, new_state = opt.step(p0, [p0[0] * 0.1, None], state)
    assert new[1] is not p0[1]
    np.testing.assert_array_equal(new[1], p0[1])
    for k, v in state["slots"][1].items():
        np.testing.assert_array_equal(new_state["slots"][1][k], v)
        assert new_state["slots"][1][k] is not v
    assert not np.array_equal(new[0], p0[0])
    assert new_state["step"] == 1 and new_state["leaf_steps"] == [1, 0]   # torch's own counts


TORCH_SPECS = [n for n in eps_ref.specs("torch", kind="optimizer")
               if not eps_ref.spec(n).rule.name.startswith("muon")]


@pytest.mark.kernel_models       # against a real framework: the host's kernels count
@pytest.mark.parametrize("name", TORCH_SPECS)
def test_none_gradients_step_as_torch_steps_them(name):
    """torch skips a parameter whose .grad is None and keeps a step count per parameter."""
    torch = pytest.importorskip("torch")
    p0, grads = _none_stream()
    kw = example_kwargs(name)
    params = [torch.nn.Parameter(torch.tensor(x)) for x in p0]
    native = getattr(torch.optim, name.split(".")[-1])(params, **kw)
    opt = eps_ref.optimizer(name, **kw)
    ours, state = p0, opt.init(p0)
    for row in grads:
        for t, g in zip(params, row):
            t.grad = None if g is None else torch.tensor(g)
        native.step()
        ours, state = opt.step(ours, row, state)
        for a, t in zip(ours, params):
            assert eps_ref.ulp_distance(a, t.detach().numpy()).max() == 0


def test_global_step_dialects_advance_the_shared_counters():
    """Keras counts iterations once a call, and Nadam's u_product is one variable: a
    skipped leaf's copy of it follows the leaves that stepped."""
    p0, grads = _none_stream()
    opt = eps_ref.optimizer("keras.optimizers.Nadam")
    _, state = opt.step(p0, grads[0], opt.init(p0))
    assert state["step"] == 1 and "leaf_steps" not in state
    np.testing.assert_array_equal(state["slots"][1]["mu_product"],
                                  state["slots"][0]["mu_product"])
    for name in ("keras.optimizers.Adam", "tf.compat.v1.train.AdamOptimizer",
                 "tf_keras.optimizers.legacy.Adam"):
        opt = eps_ref.optimizer(name)
        with pytest.raises(ValueError, match="No gradients provided for any variable"):
            opt.step(p0, [None, None], opt.init(p0))


def test_none_gradients_where_the_framework_has_none():
    p0, grads = _none_stream()
    opt = eps_ref.optimizer("optax.adam", learning_rate=1e-3)
    with pytest.raises(TypeError, match=r"grads\[1\] is None.*optax.masked"):
        opt.step(p0, grads[0], opt.init(p0))
    opt = eps_ref.optimizer("keras.optimizers.Adam", clipnorm=1.0)
    with pytest.raises(NotImplementedError, match=r"grads\[1\] is None, with base-optimizer"):
        opt.step(p0, grads[0], opt.init(p0))


def test_a_clip_sees_only_the_gradients_there_are():
    """torch.nn.utils.clip_grad_norm_ takes the parameters whose .grad is not None."""
    p0, grads = _none_stream()
    clip = eps_ref.clip("torch.nn.utils.clip_grad_norm_", max_norm=0.1)
    chained = eps_ref.chain(clip, eps_ref.optimizer("torch.optim.SGD", lr=1.0))
    new, _ = chained.step(p0, grads[0], chained.init(p0))
    np.testing.assert_array_equal(new[0], p0[0] - clip([grads[0][0]])[0])
    np.testing.assert_array_equal(new[1], p0[1])


def test_keras_none_gradients_match_keras(tmp_path):
    """Every Keras optimizer spec on the None pattern, against Keras itself (torch backend,
    in a subprocess: the backend is fixed at import)."""
    import importlib.util
    import subprocess
    import sys
    if not all(importlib.util.find_spec(m) for m in ("keras", "torch")):
        pytest.skip("needs keras and torch")
    script = tmp_path / "keras_none.py"
    script.write_text(f'''
import sys, warnings; warnings.simplefilter("ignore")
sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
import numpy as np, keras, eps_ref
from conftest import example_kwargs, MATRIX_ONLY
from test_hardening import _none_stream
p0, grads = _none_stream()
grads = grads[:4] + grads[5:]          # Keras refuses a call without any gradient
for n in eps_ref.specs("keras", kind="optimizer"):
    if n in MATRIX_ONLY:
        continue
    kw = example_kwargs(n)
    var = [keras.Variable(x) for x in p0]
    native = getattr(keras.optimizers, n.split(".")[-1])(**kw)
    opt = eps_ref.optimizer(n, backend="torch", **kw)
    ours, state = p0, opt.init(p0)
    for row in grads:
        native.apply_gradients([(None if g is None else keras.ops.convert_to_tensor(g), v)
                                for g, v in zip(row, var)])
        ours, state = opt.step(ours, row, state)
    ulp = [int(eps_ref.ulp_distance(a, keras.ops.convert_to_numpy(v)).max())
           for a, v in zip(ours, var)]
    print(n, ulp)
''')
    env = {**__import__("os").environ, "KERAS_BACKEND": "torch"}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) >= 10, run.stdout
    assert all(line.endswith("[0, 0]") for line in lines), run.stdout


def test_mixed_namespaces_name_the_leaves():
    torch = pytest.importorskip("torch")
    opt = _adam()
    tp = torch.ones(3)
    with pytest.raises(TypeError, match="params is a torch array and grads a numpy array"):
        opt.step(tp, np.full(3, 0.1, np.float32), opt.init(tp))
    with pytest.raises(TypeError, match=r"params\[0\] is a numpy array and "
                                        r"state\['slots'\]\[0\]\['m'\] a torch array"):
        p = [np.ones(3, np.float32)]
        opt.step(p, p, opt.init([tp]))


def test_no_autograd_graph_on_torch_inputs():
    torch = pytest.importorskip("torch")
    p = torch.ones(2, 3, requires_grad=True)
    g = torch.full((2, 3), 0.1)
    opt = _adam()
    new, state = opt.step(p, g, opt.init(p))
    for t in [new, *state["slots"][0].values()]:
        assert t.grad_fn is None and not t.requires_grad
    bn = eps_ref.layer("torch.nn.BatchNorm1d", num_features=3)
    y, bn_state = bn.apply(p, bn.init(p), training=True)
    assert y.grad_fn is None and not y.requires_grad
    assert not p.grad_fn and p.requires_grad                 # the input is untouched


def test_no_autograd_graph_where_torch_tensors_are_computed_on_in_place(monkeypatch):
    """On a GPU the reference computes on the torch tensors themselves (no host copy):
    shown here on CPU tensors with the host route turned off."""
    torch = pytest.importorskip("torch")
    import sys
    for module in ("eps_ref.spec", "eps_ref.layer"):
        monkeypatch.setattr(sys.modules[module], "host_route", lambda arrays: None)
    p = torch.ones(2, 3, dtype=torch.float32, requires_grad=True)
    g = torch.full((2, 3), 0.1)
    for name in ("torch.optim.Adam", "keras.optimizers.Adam"):
        opt = eps_ref.optimizer(name, backend="torch") if name.startswith("keras") \
            else eps_ref.optimizer(name)
        state = opt.init(p)
        new, state = opt.step(p, g, state)
        new, state = opt.step(new, g, state)
        assert isinstance(new, torch.Tensor)
        for t in [new, *state["slots"][0].values()]:
            assert t.grad_fn is None and not t.requires_grad, name
    clip = eps_ref.clip("torch.nn.utils.clip_grad_norm_", max_norm=0.1)
    assert clip(p).grad_fn is None
    bn = eps_ref.layer("torch.nn.BatchNorm1d", num_features=3)
    y, _ = bn.apply(p, bn.init(p), training=True)
    assert y.grad_fn is None


# -- dtypes and numbers -------------------------------------------------------------------

def _unsupported_dtypes():
    out = [np.float16]
    try:
        import ml_dtypes
    except ImportError:
        return out
    return out + [ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2]


@pytest.mark.parametrize("dtype", _unsupported_dtypes(), ids=lambda d: np.dtype(d).name)
def test_half_and_smaller_floats_are_refused(dtype):
    p = np.ones((2, 3), dtype)
    opt = _adam()
    with pytest.raises(TypeError, match=r"float32 .* and float64 only"):
        opt.init(p)
    with pytest.raises(TypeError, match=r"params has dtype .*float32"):
        opt.step(p, p, opt.init(np.ones((2, 3), np.float32)))
    bn = eps_ref.layer("torch.nn.BatchNorm1d", num_features=3)
    with pytest.raises(TypeError, match="input has dtype"):
        bn.init(p)
    with pytest.raises(TypeError, match="grads has dtype"):
        eps_ref.clip("optax.clip", max_delta=1.0)(p)


def test_torch_half_tensors_are_refused():
    torch = pytest.importorskip("torch")
    for dtype in (torch.float16, torch.bfloat16):
        with pytest.raises(TypeError, match="torch.*float32"):
            _adam().init(torch.ones(3, dtype=dtype))


def test_numpy_scalars_as_numbers():
    lr32 = np.float32(1e-3)
    for name, key in [("keras.optimizers.Adam", "learning_rate"), ("optax.adam", "learning_rate"),
                      ("tf.compat.v1.train.AdamOptimizer", "learning_rate")]:
        opt = eps_ref.optimizer(name, **{key: lr32})
        assert type(opt.hyperparams[key]) is float and opt.hyperparams[key] == float(lr32)
        ref = eps_ref.optimizer(name, **{key: float(lr32)})
        np.testing.assert_array_equal(opt.step(P, G, opt.init(P))[0],
                                      ref.step(P, G, ref.init(P))[0])
    assert eps_ref.optimizer("torch.optim.Adam", lr=np.float64(1e-3)).hyperparams["lr"] == 1e-3
    assert type(eps_ref.optimizer("torch.optim.ASGD", t0=np.int64(5)).hyperparams["t0"]) is int
    with pytest.raises(TypeError, match=r"lr=np.float32\(0.001\) is a NumPy float32.*float\(lr\)"):
        eps_ref.optimizer("torch.optim.Adam", lr=lr32)
    with pytest.raises(TypeError, match="beta_1=.*NumPy float32"):
        eps_ref.optimizer("keras.optimizers.Adam", beta_1=np.float32(0.9))
    for bad in ("1e-3", True):
        with pytest.raises(TypeError, match=r"lr must be a number \(a Python float or int\)"):
            eps_ref.optimizer("torch.optim.Adam", lr=bad)
    with pytest.raises(TypeError, match="momentum must be a number"):
        eps_ref.optimizer("torch.optim.SGD", momentum=False)


def test_torch_computes_a_numpy_float32_lr_its_own_way():
    """Why torch refuses np.float32 learning rates: NumPy 2 rounds torch's Python-scalar
    arithmetic with it in float32 (NAdam's step size), so it is not the float it equals.
    If this stops holding, the refusal can go."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 16)).astype(np.float32)
    grads = rng.standard_normal((50, 4, 16)).astype(np.float32)
    out = []
    for lr in (np.float32(1e-3), float(np.float32(1e-3))):
        p = torch.nn.Parameter(torch.tensor(p0))
        native = torch.optim.NAdam([p], lr=lr)
        for g in grads:
            p.grad = torch.tensor(g)
            native.step()
        out.append(p.detach().numpy().copy())
    assert eps_ref.ulp_distance(out[0], out[1]).max() > 0


def test_ulp_distance_does_not_broadcast_and_knows_bfloat16():
    with pytest.raises(ValueError, match=r"one shape, got \(3,\) and \(2, 1\)"):
        eps_ref.ulp_distance(np.zeros(3, np.float32), np.zeros((2, 1), np.float32))
    ml_dtypes = pytest.importorskip("ml_dtypes")
    one = np.array([1.0, 1.0, -0.0, np.nan], ml_dtypes.bfloat16)
    other = np.array([1.0, 1.0078125, 0.0, 1.0], ml_dtypes.bfloat16)     # 1 + 2^-7: 1 ULP
    assert eps_ref.ulp_distance(one, other).tolist() == [0, 1, 0, np.iinfo(np.int64).max]
    with pytest.raises(TypeError, match="float8_e4m3fn"):
        eps_ref.ulp_distance(*[np.zeros(2, ml_dtypes.float8_e4m3fn)] * 2)


# -- versions, tf.keras and the Keras backend ---------------------------------------------

def test_a_version_other_than_the_tables_warns_once(monkeypatch):
    import warnings
    from eps_ref import _versions
    monkeypatch.setattr(_versions, "installed_version",
                        lambda fw: {"torch": "2.14.1", "optax": "0.2.8"}.get(fw))
    monkeypatch.setattr(_versions, "_WARNED", set())
    with pytest.warns(_versions.VersionMismatchWarning,
                      match=r"torch 2.14.1 is installed, but eps_ref's torch table was read "
                            r"from torch 2.13.0"):
        eps_ref.optimizer("torch.optim.Adam")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eps_ref.optimizer("torch.optim.SGD")                   # once per framework
        eps_ref.optimizer("optax.adam", learning_rate=1e-3)    # the table's version
    from eps_ref.conformance.report import uncertified_versions
    assert uncertified_versions() == {"torch": {"installed": "2.14.1", "table": "2.13.0"}}


def test_a_report_on_an_uncertified_version_checks_its_defaults(monkeypatch):
    from eps_ref import _versions
    from eps_ref.conformance import report
    pytest.importorskip("torch")
    monkeypatch.setattr(_versions, "installed_version", lambda fw: {"torch": "2.14.1"}.get(fw))
    meta = report.version_meta()
    assert meta == {"uncertified_versions": {"torch": {"installed": "2.14.1", "table": "2.13.0"}},
                    "defaults_drift": {"torch": []}}
    lines = report.version_lines(meta)
    assert "Defaults drift: every torch optimizer's keywords and defaults in 2.14.1 are the " \
           "table's." in lines
    meta["defaults_drift"]["torch"] = [{"spec": "torch.optim.Adam", "keyword": "eps",
                                        "table": 1e-8, "installed": 1e-6}]
    assert "- `torch.optim.Adam` `eps`: table 1e-08, installed 1e-06" in \
        report.version_lines(meta)


def test_a_local_build_suffix_is_the_same_version():
    from eps_ref._versions import _release
    assert _release("2.13.0+cpu") == "2.13.0" == _release("2.13.0")


def test_tf_keras_names_mean_what_tf_keras_is_in_tensorflow_2_21(monkeypatch):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    assert eps_ref.spec("tf.keras.optimizers.Adam") is eps_ref.spec("keras.optimizers.Adam")
    assert eps_ref.optimizer("tf.keras.optimizers.Adam").spec.name == "keras.optimizers.Adam"
    assert eps_ref.layer("tf.keras.layers.BatchNormalization").spec.name == \
        "keras.layers.BatchNormalization"
    with pytest.raises(KeyError, match="tf.keras is Keras 3, which has no optimizers.legacy; "
                                       "the legacy optimizer is 'tf_keras.optimizers.legacy.Adam'"):
        eps_ref.spec("tf.keras.optimizers.legacy.Adam")
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")           # TensorFlow's switch to tf_keras
    assert eps_ref.spec("tf.keras.optimizers.legacy.Adam").name == \
        "tf_keras.optimizers.legacy.Adam"
    assert eps_ref.spec("tf.keras.optimizers.Adam").name == "tf_keras.optimizers.Adam"


@pytest.fixture
def keras_not_imported(monkeypatch, tmp_path):
    """As a process that has not imported Keras, with an empty KERAS_HOME."""
    import sys
    monkeypatch.delitem(sys.modules, "keras.src.backend.config", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", ["keras.optimizers.Adam", "keras.optimizers.Muon"])
def test_keras_specs_follow_the_backend_keras_would_run_on(name, keras_not_imported,
                                                           monkeypatch):
    def semantics(**kw):
        return dict(eps_ref.optimizer(name, **kw).rule_kwargs)
    assert semantics() == semantics(backend="tensorflow")              # Keras' default
    (keras_not_imported / "keras.json").write_text('{"backend": "jax"}')
    assert semantics() == semantics(backend="jax")                     # keras.json
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert semantics() == semantics(backend="torch") != semantics(backend="jax")
    assert semantics(backend="jax") == semantics(backend="jax")        # backend= wins
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    with pytest.raises(ValueError, match=r"Keras would run on 'numpy' \(from KERAS_BACKEND\)"):
        semantics()
    eps_ref.optimizer("torch.optim.Adam")                              # others: unaffected


def test_an_imported_keras_decides_its_backend(keras_not_imported, monkeypatch):
    import sys
    import types
    config = types.ModuleType("keras.src.backend.config")
    config.backend = lambda: "jax"
    monkeypatch.setitem(sys.modules, "keras.src.backend.config", config)
    monkeypatch.setenv("KERAS_BACKEND", "torch")             # set after the import: ignored
    def semantics(**kw):
        return dict(eps_ref.layer("keras.layers.LayerNormalization", **kw).rule_kwargs)
    assert semantics() == semantics(backend="jax") != semantics(backend="torch")

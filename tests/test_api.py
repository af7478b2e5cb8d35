"""The public API: names, keywords, validation, trees, purity."""

import numpy as np
import pytest

import eps_ref
from conftest import MATRIX_ONLY, SPECS, SPEC_VARIANTS, example_kwargs
from eps_ref.spec import REQUIRED

LR_NAMES = ("lr", "learning_rate")
EPS_NAMES = ("eps", "epsilon")


def test_registry_is_populated():
    assert len(SPECS) >= 20
    for fw in ("torch", "keras", "tf1", "optax"):
        assert eps_ref.specs(framework=fw)


@pytest.mark.parametrize("name", SPECS)
def test_spec_fields(name):
    s = eps_ref.spec(name)
    assert s.name == name
    assert name.startswith({"torch": "torch.optim.", "keras": "keras.optimizers.",
                            "tf1": "tf.compat.v1.train.", "optax": "optax.",
                            "tf_keras": "tf_keras.optimizers.", "paper": "paper."}[s.framework])
    assert s.version and s.reference.startswith("https://") and s.doc
    assert next(iter(s.variants)) == "defaults"
    for k in s.inert:
        assert k in s.defaults, f"inert keyword {k} is not in the signature"
    assert isinstance(dict(s.semantics), dict)
    for key, budget in s.budgets.items():
        assert budget.ulp > 0 and len(budget.reason) > 20, (key, budget)


def test_unknown_name_suggests_nearest():
    with pytest.raises(KeyError, match="did you mean 'torch.optim.Adam'"):
        eps_ref.optimizer("torch.optim.Adm")
    with pytest.raises(KeyError, match="keras.optimizers.RMSprop"):
        eps_ref.spec("keras.optimizers.RMSProp")


def test_unknown_framework():
    with pytest.raises(ValueError, match="unknown framework"):
        eps_ref.specs(framework="mxnet")


def test_unknown_keyword_suggests_nearest():
    with pytest.raises(TypeError, match="unexpected keyword argument 'epsilon'; did you mean 'eps'"):
        eps_ref.optimizer("torch.optim.Adam", epsilon=1e-7)
    with pytest.raises(TypeError, match="'learning_rate'"):
        eps_ref.optimizer("keras.optimizers.Adam", lr=1e-3)


def test_missing_required_keyword():
    with pytest.raises(TypeError, match="missing required keyword.*learning_rate"):
        eps_ref.optimizer("optax.adam")


@pytest.mark.parametrize("name", SPECS)
def test_negative_learning_rate_rejected(name):
    s = eps_ref.spec(name)
    for k in LR_NAMES:
        if k in s.defaults:
            with pytest.raises(ValueError, match="(?i)learning.rate|lr"):
                eps_ref.optimizer(name, **{**example_kwargs(name), k: -0.1})


@pytest.mark.parametrize("name", SPECS)
def test_negative_eps_rejected(name):
    s = eps_ref.spec(name)
    for k in EPS_NAMES:
        if k in s.defaults:
            with pytest.raises(ValueError, match="(?i)eps"):
                eps_ref.optimizer(name, **{**example_kwargs(name), k: -1e-8})


@pytest.mark.parametrize("name", [n for n in SPECS if "betas" in eps_ref.spec(n).defaults
                                  or "beta_1" in eps_ref.spec(n).defaults
                                  or "beta1" in eps_ref.spec(n).defaults
                                  or "b1" in eps_ref.spec(n).defaults])
@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_beta_outside_unit_interval_rejected(name, bad):
    d = eps_ref.spec(name).defaults
    if "betas" in d:
        kw = {"betas": (bad, 0.999)}
    else:
        key = next(k for k in ("beta_1", "beta1", "b1") if k in d)
        kw = {key: bad}
    with pytest.raises(ValueError):
        eps_ref.optimizer(name, **{**example_kwargs(name), **kw})


@pytest.mark.parametrize("name, variant", SPEC_VARIANTS)
def test_variants_build(name, variant):
    opt = eps_ref.optimizer(name, **example_kwargs(name, variant))
    given = set(opt.hyperparams) - set(opt.spec.defaults)
    assert set(opt.spec.defaults) <= set(opt.hyperparams)
    assert given <= set(opt.spec.var_keywords)      # legacy tf_keras' **kwargs
    assert all(v is not REQUIRED for v in opt.hyperparams.values())


VECTOR_ONLY = {"optax.sm3"}
"""optax's own sm3 fails on 0-d leaves; the reference rejects them with a clear error."""


def _tree(rng):
    return {"w": rng.standard_normal((3, 4)).astype(np.float32),
            "b": [rng.standard_normal(4).astype(np.float32),
                  rng.standard_normal(()).astype(np.float32)]}


@pytest.mark.parametrize("name", sorted(set(SPECS) - MATRIX_ONLY - VECTOR_ONLY))
def test_tree_equals_leafwise_and_inputs_untouched(name, rng):
    opt = eps_ref.optimizer(name, **example_kwargs(name))
    params, grads = _tree(rng), _tree(rng)
    params_copy = {"w": params["w"].copy(), "b": [x.copy() for x in params["b"]]}
    grads_copy = {"w": grads["w"].copy(), "b": [x.copy() for x in grads["b"]]}
    state = opt.init(params)
    new_params, state = opt.step(params, grads, state)
    for _ in range(2):
        new_params, state = opt.step(new_params, grads, state)
    np.testing.assert_array_equal(params["w"], params_copy["w"])
    np.testing.assert_array_equal(grads["b"][0], grads_copy["b"][0])
    assert isinstance(new_params, dict) and isinstance(new_params["b"], list)
    # Leaf "w" steps as it does in any tree of several leaves (a framework may compile a
    # one-leaf tree differently: eps_ref.spec.register_tree_semantics).
    pair = [params["w"], params["b"][0]]
    pair_state = opt.init(pair)
    for _ in range(3):
        pair, pair_state = opt.step(pair, [grads["w"], grads["b"][0]], pair_state)
    np.testing.assert_array_equal(new_params["w"], pair[0])
    assert new_params["b"][1].shape == ()
    assert new_params["w"].dtype == np.float32


@pytest.mark.parametrize("name", sorted(set(SPECS) - MATRIX_ONLY))
def test_state_is_not_mutated(name, rng):
    opt = eps_ref.optimizer(name, **example_kwargs(name))
    p = rng.standard_normal(5).astype(np.float32)
    g = rng.standard_normal(5).astype(np.float32)
    state = opt.init(p)
    p, state = opt.step(p, g, state)
    snapshot = [{k: np.array(v, copy=True) for k, v in slots.items()}
                for slots in state["slots"]]
    p1, _ = opt.step(p, g, state)
    p2, _ = opt.step(p, g, state)
    np.testing.assert_array_equal(p1, p2)
    assert state["step"] == 1
    for before, after in zip(snapshot, state["slots"]):
        for k in before:
            np.testing.assert_array_equal(before[k], after[k])


@pytest.mark.parametrize("name", ["torch.optim.Adam", "keras.optimizers.RMSprop"])
def test_mismatch_errors(name, rng):
    opt = eps_ref.optimizer(name)
    p = rng.standard_normal(4).astype(np.float32)
    state = opt.init(p)
    with pytest.raises(ValueError, match="shape"):
        opt.step(p, np.zeros(5, np.float32), state)
    with pytest.raises(TypeError, match="dtype"):
        opt.step(p, np.zeros(4, np.float64), state)
    with pytest.raises(ValueError, match="do not match"):
        opt.step([p], [p, p], opt.init([p]))
    with pytest.raises(ValueError, match="state"):
        opt.step([p, p], [p, p], state)
    with pytest.raises(TypeError, match="floating"):
        opt.init(np.arange(4))
    with pytest.raises(TypeError, match="arrays"):
        opt.init([1.0, 2.0])


def test_backend_is_spelled_the_same_for_optimizers_and_layers():
    x = np.linspace(-1, 2, 24, dtype=np.float32).reshape(2, 3, 4)
    for make, name in ((eps_ref.optimizer, "keras.optimizers.Adam"),
                       (eps_ref.layer, "keras.layers.LayerNormalization")):
        assert make(name, backend="torch").backend if make is eps_ref.layer else True
        with pytest.warns(DeprecationWarning, match="spell it backend='torch'"):
            old = make(name, backend="keras/torch")
        assert dict(old.rule_kwargs) == dict(make(name, backend="torch").rule_kwargs)
        with pytest.raises(ValueError, match="unknown backend 'pytorch'; did you mean 'torch'"):
            make(name, backend="pytorch")
    with pytest.raises(ValueError, match="torch runs on no other backend"):
        eps_ref.layer("torch.nn.LayerNorm", normalized_shape=4, backend="jax")
    lay = eps_ref.layer("keras.layers.LayerNormalization", backend="torch")
    assert lay.backend == "torch"
    lay.apply(x, lay.init(x), training=True)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_int(threads):
    with pytest.raises(ValueError, match="threads must be a positive int"):
        eps_ref.optimizer("torch.optim.SGD", threads=threads)
    with pytest.raises(ValueError, match="threads must be a positive int"):
        eps_ref.layer("torch.nn.LayerNorm", normalized_shape=4, threads=threads)


def test_optax_orders_a_dict_tree_as_jax_does():
    """jax flattens a dict by its sorted keys: optax's global norm adds the leaves in
    that order, and the state's slots follow it; the result keeps the caller's order."""
    params = {"z": np.ones(3, np.float32), "a": np.zeros(2, np.float32)}
    grads = {"z": np.full(3, 0.5, np.float32), "a": np.full(2, 2.0, np.float32)}
    opt = eps_ref.optimizer("optax.adagrad", learning_rate=0.1)
    state = opt.init(params)
    assert [s["accumulator"].shape for s in state["slots"]] == [(2,), (3,)]
    new, state = opt.step(params, grads, state)
    assert list(new) == ["z", "a"]
    torch_state = eps_ref.optimizer("torch.optim.Adagrad").init(params)
    assert [s["accumulator"].shape for s in torch_state["slots"]] == [(3,), (2,)]
    one_by_one = {k: opt.step(params[k], grads[k], opt.init(params[k]))[0] for k in params}
    for k in params:
        np.testing.assert_array_equal(new[k], one_by_one[k])


def test_optax_bias_correction_depends_on_the_tree(rng):
    """optax's jitted tree_bias_correction multiplies a one-leaf tree by the reciprocal of
    1 - b^t and divides every leaf of a larger tree: the reference follows the tree."""
    opt = eps_ref.optimizer("optax.adam", learning_rate=1e-3)
    w = rng.standard_normal(5000).astype(np.float32)
    g = rng.standard_normal(5000).astype(np.float32)
    alone, _ = opt.step([w], [g], opt.init([w]))
    paired, _ = opt.step([w, w], [g, g], opt.init([w, w]))
    np.testing.assert_array_equal(paired[0], paired[1])
    assert np.any(alone[0] != paired[0])
    divided = eps_ref.optimizer("optax.adam", learning_rate=1e-3)
    object.__setattr__(divided, "rule_kwargs", {**divided.rule_kwargs, "correction_op": "divide"})
    lone_divided, _ = divided.step(w, g, divided.init(w))
    np.testing.assert_array_equal(paired[0], lone_divided)

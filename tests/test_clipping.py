"""Gradient clipping specs (kind "clip"), eps_ref.clip and eps_ref.chain: hand-computed
values from each framework's formula, trees, purity, namespaces and errors."""

import numpy as np
import pytest

import eps_ref
from eps_ref.rules import clipping
from eps_ref.rules._numerics import fma

f32 = np.float32
TORCH_NORM = "torch.nn.utils.clip_grad_norm_"
TORCH_VALUE = "torch.nn.utils.clip_grad_value_"
OPTAX_NORM = "optax.clip_by_global_norm"
OPTAX_VALUE = "optax.clip"


def tree():
    """Two leaves whose norms are 5 and 12: global norm 13."""
    return {"w": np.array([3.0, 4.0], dtype=f32), "b": np.array([[12.0]], dtype=f32)}


def test_clip_specs_are_listed_by_kind():
    assert set(eps_ref.specs(kind="clip")) == {TORCH_NORM, TORCH_VALUE, OPTAX_NORM, OPTAX_VALUE}
    assert not set(eps_ref.specs(kind="clip")) & set(eps_ref.specs(kind="optimizer"))
    for name in eps_ref.specs(kind="clip"):
        s = eps_ref.spec(name)
        assert s.kind == "clip" and s.rule.name and s.doc
        assert next(iter(s.variants))        # variants hold the required threshold


def test_torch_clip_grad_norm_adds_eps_to_the_global_norm():
    out = eps_ref.clip(TORCH_NORM, max_norm=1.0)(tree())
    coef = (f32(1.0) / (f32(13.0) + f32(1e-6))) * f32(1.0)      # reciprocal, then * max_norm
    np.testing.assert_array_equal(out["w"], tree()["w"] * coef)
    np.testing.assert_array_equal(out["b"], tree()["b"] * coef)
    np.testing.assert_allclose(out["w"], [3 / 13, 4 / 13], rtol=1e-6)


def test_torch_reciprocal_then_multiply_is_two_roundings():
    g = [np.array([3.0, 4.0], dtype=f32)]
    (out,) = clipping.torch_clip_grad_norm(g, max_norm=0.7)
    coef = (f32(1.0) / (f32(5.0) + f32(1e-6))) * f32(0.7)
    np.testing.assert_array_equal(out, g[0] * coef)


def test_torch_eps_shrinks_gradients_at_the_threshold_optax_does_not():
    g = {"g": np.array([1e-7], dtype=f32)}
    torch_out = eps_ref.clip(TORCH_NORM, max_norm=1e-7)(g)["g"]
    optax_out = eps_ref.clip(OPTAX_NORM, max_norm=1e-7)(g)["g"]
    # torch: 1e-7 / (1e-7 + 1e-6) = 1/11 of the gradient survives
    np.testing.assert_allclose(torch_out, g["g"] / 11, rtol=1e-5)
    np.testing.assert_allclose(optax_out, g["g"], rtol=1e-6)


def test_below_the_threshold_nothing_changes():
    for out in (eps_ref.clip(TORCH_NORM, max_norm=13.5)(tree()),
                eps_ref.clip(OPTAX_NORM, max_norm=13.5)(tree())):
        for k, v in tree().items():
            np.testing.assert_array_equal(out[k], v)


def test_optax_clip_by_global_norm_multiplies_by_the_reciprocal():
    out = eps_ref.clip(OPTAX_NORM, max_norm=2.0)(tree())
    scale = f32(1.0) / f32(13.0)
    np.testing.assert_array_equal(out["w"], (tree()["w"] * scale) * f32(2.0))
    # "b" has one element: no broadcast for XLA to rewrite, it is divided.
    np.testing.assert_array_equal(out["b"], (tree()["b"] / f32(13.0)) * f32(2.0))
    assert (tree()["b"] / f32(13.0)) * f32(2.0) != (tree()["b"] * scale) * f32(2.0)
    exact = clipping.optax_clip_by_global_norm(list(tree().values()), max_norm=2.0,
                                               division="divide")
    np.testing.assert_array_equal(exact[0], (tree()["w"] / f32(13.0)) * f32(2.0))


def test_global_and_per_leaf_norms_differ_on_a_tree():
    leaves = list(tree().values())
    glob = clipping.keras_clip_by_global_norm(leaves, clipnorm=1.0)
    per_leaf = clipping.keras_clip_by_norm(leaves, clipnorm=1.0)
    np.testing.assert_allclose(glob[0], [3 / 13, 4 / 13], rtol=1e-6)
    np.testing.assert_allclose(glob[1], [[12 / 13]], rtol=1e-6)
    np.testing.assert_array_equal(per_leaf[0], [f32(3) / f32(5), f32(4) / f32(5)])
    np.testing.assert_array_equal(per_leaf[1], [[1.0]])


def test_infinity_norm():
    out = eps_ref.clip(TORCH_NORM, max_norm=1.0, norm_type="inf")(
        [np.array([3.0, -4.0], dtype=f32), np.array([2.0], dtype=f32)])
    coef = f32(1.0) / (f32(4.0) + f32(1e-6))
    np.testing.assert_array_equal(out[0], np.array([3.0, -4.0], dtype=f32) * coef)
    np.testing.assert_array_equal(out[1], np.array([2.0], dtype=f32) * coef)


def test_clip_by_value():
    g = np.array([-0.5, 0.05, 2.0, -0.1], dtype=f32)
    expected = np.array([-0.1, 0.05, 0.1, -0.1], dtype=f32)
    np.testing.assert_array_equal(eps_ref.clip(TORCH_VALUE, clip_value=0.1)(g), expected)
    np.testing.assert_array_equal(eps_ref.clip(OPTAX_VALUE, max_delta=0.1)(g), expected)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")     # inf * 0, on purpose
def test_nonfinite_norm():
    g = [np.array([np.inf, 1.0], dtype=f32)]
    with pytest.raises(RuntimeError, match="non-finite"):
        eps_ref.clip(TORCH_NORM, max_norm=1.0, error_if_nonfinite=True)(g)
    (out,) = eps_ref.clip(TORCH_NORM, max_norm=1.0)(g)     # torch: coef 0, inf * 0 = nan
    assert np.isnan(out[0]) and out[1] == 0


def test_torch_vector_norm_order():
    """19 elements: two vectors of 8 squared into 8 lanes, the lanes added in order, then a
    tail of 3 that the compiled scalar loop adds by FMA (measured against torch at every
    length in conformance/test_kernels_at_any_length.py). On this input the FMA tail and a
    multiply-then-add tail give different norms."""
    x = np.random.default_rng(1).standard_normal((1, 19)).astype(f32)
    lanes = np.zeros(8, f32)
    for d in range(0, 16, 8):
        lanes = lanes + x[0, d:d + 8] * x[0, d:d + 8]
    total = lanes[0]
    for j in range(1, 8):
        total = f32(total + lanes[j])
    fused, separate = total, total
    for k in range(16, 19):
        fused = fma(x[0, k], x[0, k], fused)
        separate = f32(separate + x[0, k] * x[0, k])
    assert clipping.torch_vector_norm(x) == f32(np.sqrt(fused)) != f32(np.sqrt(separate))
    assert clipping.torch_vector_norm(np.array([3.0, 4.0], dtype=f32)) == 5


def test_inputs_are_not_mutated():
    g = tree()
    before = {k: v.copy() for k, v in g.items()}
    for name, kw in ((TORCH_NORM, {"max_norm": 1.0}), (OPTAX_NORM, {"max_norm": 1.0}),
                     (TORCH_VALUE, {"clip_value": 0.1}), (OPTAX_VALUE, {"max_delta": 0.1})):
        eps_ref.clip(name, **kw)(g)
        for k in g:
            np.testing.assert_array_equal(g[k], before[k])


def test_chain_is_clip_then_optimizer():
    params = {"w": np.array([1.0, -1.0], dtype=f32), "b": np.array([[0.5]], dtype=f32)}
    c = eps_ref.clip(OPTAX_NORM, max_norm=1.0)
    opt = eps_ref.optimizer("optax.sgd", learning_rate=0.1, momentum=0.9)
    chained = eps_ref.chain(c, opt)
    assert chained.spec is opt.spec and chained.hyperparams == opt.hyperparams
    s1, s2 = chained.init(params), opt.init(params)
    p1, p2 = params, params
    for _ in range(3):
        p1, s1 = chained.step(p1, tree(), s1)
        p2, s2 = opt.step(p2, c(tree()), s2)
    for k in params:
        np.testing.assert_array_equal(p1[k], p2[k])
    np.testing.assert_array_equal(params["w"], [1.0, -1.0])          # pure


def test_chain_of_several_clips_in_order():
    value = eps_ref.clip(TORCH_VALUE, clip_value=1.0)
    norm = eps_ref.clip(TORCH_NORM, max_norm=1.0)
    opt = eps_ref.optimizer("torch.optim.SGD", lr=1.0)
    p = np.zeros(2, dtype=f32)
    g = np.array([3.0, 4.0], dtype=f32)
    out, _ = eps_ref.chain(value, norm, opt).step(p, g, opt.init(p))
    np.testing.assert_array_equal(out, -norm(value(g)))       # [1, 1] then norm sqrt(2)
    nested = eps_ref.chain(value, eps_ref.chain(norm, opt))
    assert nested.clips == (value, norm)


def test_chain_on_array_api_strict():
    xps = pytest.importorskip("array_api_strict")
    opt = eps_ref.chain(eps_ref.clip(TORCH_NORM, max_norm=1.0),
                        eps_ref.optimizer("torch.optim.Adam", lr=1e-3))
    p_np = [np.array([1.0, 2.0], dtype=f32), np.array([3.0], dtype=f32)]
    g_np = [np.array([30.0, -40.0], dtype=f32), np.array([5.0], dtype=f32)]
    p = [xps.asarray(x) for x in p_np]
    g = [xps.asarray(x) for x in g_np]
    out, _ = opt.step(p, g, opt.init(p))
    ref, _ = opt.step(p_np, g_np, opt.init(p_np))
    for a, b in zip(out, ref):
        assert type(a).__module__.startswith("array_api_strict")
        np.testing.assert_array_equal(np.asarray(a), b)
    for name, kw in ((OPTAX_NORM, {"max_norm": 1.0}), (TORCH_VALUE, {"clip_value": 0.1}),
                     (OPTAX_VALUE, {"max_delta": 0.1})):
        clipped = eps_ref.clip(name, **kw)(g)
        expected = eps_ref.clip(name, **kw)(g_np)
        for a, b in zip(clipped, expected):
            np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("name, kwargs, error", [
    (TORCH_NORM, {"max_norm": -1.0}, ValueError),
    (TORCH_NORM, {"max_norm": float("nan")}, ValueError),
    (TORCH_NORM, {"max_norm": 1.0, "norm_type": 1.0}, NotImplementedError),
    (TORCH_NORM, {"max_norm": 1.0, "norm_type": "two"}, ValueError),
    (TORCH_NORM, {"max_norm": 1.0, "error_if_nonfinite": "yes"}, ValueError),
    (TORCH_NORM, {}, TypeError),                          # max_norm is required
    (TORCH_NORM, {"max_nrm": 1.0}, TypeError),
    (TORCH_VALUE, {"clip_value": -0.1}, ValueError),
    (OPTAX_NORM, {"max_norm": -1.0}, ValueError),
    (OPTAX_VALUE, {"max_delta": -0.1}, ValueError),
])
def test_bad_keywords(name, kwargs, error):
    with pytest.raises(error):
        eps_ref.clip(name, **kwargs)


def test_misspelled_keyword_names_the_nearest():
    with pytest.raises(TypeError, match="max_norm"):
        eps_ref.clip(TORCH_NORM, max_nrm=1.0)


def test_kinds_are_not_interchangeable():
    with pytest.raises(TypeError, match="clip"):
        eps_ref.optimizer(OPTAX_NORM, max_norm=1.0)
    with pytest.raises(TypeError, match="optimizer"):
        eps_ref.clip("optax.adam", learning_rate=1e-3)
    opt = eps_ref.optimizer("optax.adam", learning_rate=1e-3)
    c = eps_ref.clip(OPTAX_VALUE, max_delta=1.0)
    with pytest.raises(TypeError, match="last argument"):
        eps_ref.chain(opt, c)
    with pytest.raises(TypeError, match="clip"):
        eps_ref.chain(opt, opt)
    with pytest.raises(TypeError):
        eps_ref.chain()


def test_chain_checks_the_tree():
    opt = eps_ref.chain(eps_ref.clip(OPTAX_VALUE, max_delta=1.0),
                        eps_ref.optimizer("optax.sgd", learning_rate=0.1))
    p = [np.zeros(2, dtype=f32)]
    with pytest.raises(ValueError, match="grads do not match"):
        opt.step(p, [np.zeros(2, dtype=f32)] * 2, opt.init(p))


def test_conformance_cases_chain_each_clip_in_front_of_sgd_and_adam():
    from eps_ref.conformance.cases import CHAIN_OPTIMIZERS, cases
    chained = [c for c in cases(["torch", "optax"]) if eps_ref.spec(c.spec).kind == "clip"]
    for name in eps_ref.specs(kind="clip"):
        s = eps_ref.spec(name)
        mine = [c for c in chained if c.spec == name]
        assert len(mine) == len(s.variants) * len(CHAIN_OPTIMIZERS[s.framework])
        for c in mine:
            opt_name, _ = c.optimizer
            assert eps_ref.spec(opt_name).framework == s.framework
            assert " then " in c.variant and c.id.startswith(f"{name}[")

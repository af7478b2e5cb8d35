"""optax on parameter trees: what XLA compiles differs with the tree (no optax needed here).

``optax.tree.bias_correction`` is one ``jax.jit`` over the moment tree: XLA multiplies a
one-leaf tree by the rounded reciprocal of :math:`1-\\beta^t` and divides every leaf of a
tree of several (``eps_ref.frameworks.optax.tree_bias_correction``); a one-element array is
always divided (``eps_ref.rules._numerics.xla_divide_by_scalar``). The frameworks' own
trajectories on trees are checked by ``conformance/test_workload.py``.
"""

import dataclasses
import numpy as np
import pytest

import eps_ref
from conftest import SPECS, example_kwargs
from eps_ref.rules._numerics import xla_divide_by_scalar

f32 = np.float32

# The variant of each spec whose rule divides by a bias correction (rmsprop only with
# bias_correction=True).
_VARIANT = {"optax.rmsprop": "bias_correction"}
CORRECTED = [n for n in SPECS if n.startswith("optax.")
             and "correction_op" in eps_ref.optimizer(
                 n, **example_kwargs(n, _VARIANT.get(n, "defaults"))).rule_kwargs]


def _with(opt, **rule_kwargs):
    """``opt`` with some rule keywords replaced (the tree rewrite still runs on them)."""
    out = eps_ref.optimizer(opt.spec.name, **opt.hyperparams)
    return dataclasses.replace(out, rule_kwargs={**opt.rule_kwargs, **rule_kwargs})


def _run(opt, params, grads):
    state = opt.init(params)
    for g in grads:
        params, state = opt.step(params, g, state)
    return params


def _data(rng, shape, steps=4):
    """Initial parameters of zeros (the first update is then the parameter itself, so
    that no bit of it is lost), and a gradient stream."""
    w = np.zeros(shape, f32)
    gs = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 1)).astype(f32)
          for _ in range(steps)]
    return w, gs


def test_every_optax_bias_correction_has_the_switch():
    assert set(CORRECTED) >= {
        "optax.adam", "optax.adamw", "optax.amsgrad", "optax.nadam", "optax.nadamw",
        "optax.adamax", "optax.adamaxw", "optax.radam", "optax.adabelief", "optax.adan",
        "optax.yogi", "optax.lamb", "optax.rmsprop", "optax.contrib.schedule_free_adamw",
        "optax.contrib.muon"}


@pytest.mark.parametrize("name", CORRECTED)
def test_a_leaf_of_a_tree_is_divided(name, rng):
    """In a tree of two leaves each leaf steps as it does alone with correction_op="divide",
    and alone (one leaf) it takes the reciprocal multiply, which is another trajectory."""
    opt = eps_ref.optimizer(name, **example_kwargs(name, _VARIANT.get(name, "defaults")))
    assert opt.rule_kwargs["correction_op"] == "multiply_by_reciprocal"
    (w, gw), (b, gb) = _data(rng, (4, 16), steps=10), _data(rng, (4, 16), steps=10)
    pair = _run(opt, [w, b], [[x, y] for x, y in zip(gw, gb)])
    divided = _with(opt, correction_op="divide")
    np.testing.assert_array_equal(pair[0], _run(divided, [w], [[x] for x in gw])[0])
    np.testing.assert_array_equal(pair[1], _run(divided, [b], [[y] for y in gb])[0])
    alone = _run(opt, [w], [[x] for x in gw])
    assert np.any(alone[0] != pair[0])


def test_muon_counts_each_part_of_its_partition(rng):
    """optax.contrib.muon: the matrices and the other leaves are two sub-trees, each with
    its own bias correction: two matrices divide, a lone vector takes optax.adamw's
    one-leaf reciprocal (and steps exactly as optax.adamw on it alone)."""
    opt = eps_ref.optimizer("optax.contrib.muon", learning_rate=1e-3, adam_b1=0.8)
    (w1, g1), (w2, g2), (b, gb) = _data(rng, (4, 16)), _data(rng, (8, 4)), _data(rng, (16,))
    new = _run(opt, [w1, w2, b], [list(gs) for gs in zip(g1, g2, gb)])
    divided = _with(opt, correction_op="divide")
    np.testing.assert_array_equal(new[0], _run(divided, [w1], [[g] for g in g1])[0])
    np.testing.assert_array_equal(new[1], _run(divided, [w2], [[g] for g in g2])[0])
    adamw = eps_ref.optimizer("optax.adamw", learning_rate=1e-3, b1=0.8, eps=1e-8,
                              weight_decay=0.0, nesterov=True)
    np.testing.assert_array_equal(new[2], _run(adamw, [b], [[g] for g in gb])[0])
    two_vectors = _run(opt, [w1, b, b], [list(gs) for gs in zip(g1, gb, gb)])
    np.testing.assert_array_equal(
        two_vectors[1], _run(_with(adamw, correction_op="divide"), [b], [[g] for g in gb])[0])
    assert np.any(two_vectors[1] != new[2])


def test_muon_refuses_other_leaves_without_the_adamw_part(rng):
    opt = eps_ref.optimizer("optax.contrib.muon", learning_rate=1e-3)
    refusing = _with(opt, non_matrix_adamw=None)
    b = rng.standard_normal(16).astype(f32)
    with pytest.raises(ValueError, match="2-D"):
        refusing.step([b], [b], refusing.init([b]))


def test_xla_divides_a_one_element_array(rng):
    """A scalar divisor is broadcast and XLA multiplies by its reciprocal; an array of one
    element has no broadcast and is divided."""
    s = np.asarray(f32(1) - f32(0.9) ** 3)
    x = rng.standard_normal(200).astype(f32)
    assert np.any(x / s != x * (f32(1) / s))
    np.testing.assert_array_equal(xla_divide_by_scalar(x, s), x * (f32(1) / s))
    for v in x:
        for shape in ((), (1,), (1, 1)):
            one = np.full(shape, v, f32)
            np.testing.assert_array_equal(xla_divide_by_scalar(one, s), one / s)


@pytest.mark.parametrize("name", ["optax.adam", "optax.adamax", "optax.radam", "optax.yogi",
                                  "optax.lamb", "optax.contrib.schedule_free_adamw"])
def test_a_one_element_leaf_is_divided(name, rng):
    """A tree of one leaf of one element steps as with correction_op="divide"."""
    opt = eps_ref.optimizer(name, **example_kwargs(name))
    divided = _with(opt, correction_op="divide")
    w, gs = _data(rng, (64,), steps=12)
    for i in range(64):
        leaf, stream = w[i:i + 1], [[g[i:i + 1]] for g in gs]
        np.testing.assert_array_equal(_run(opt, [leaf], stream)[0],
                                      _run(divided, [leaf], stream)[0])

"""Properties every update rule in every dialect must have, checked with hypothesis."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import eps_ref
from conftest import MATRIX_ONLY, SPECS, example_kwargs

finite32 = st.floats(-1e3, 1e3, allow_nan=False, width=32)
shapes = st.tuples(st.integers(1, 4), st.integers(1, 4))


def _no_decay(name):
    kwargs = example_kwargs(name)
    defaults = eps_ref.spec(name).defaults
    if "weight_decay" in defaults:
        kwargs["weight_decay"] = 0.0
    if "lambd" in defaults:  # ASGD's decay term shrinks p even with a zero gradient
        kwargs["lambd"] = 0.0
    return kwargs


_FTRL = ("FTRL-Proximal rebuilds w from accumulated sums, w = (sign(z) l1 - z)/q, "
         "so a first step is not a move from p (a zero gradient sends w to 0)")

NOT_A_MOVE_FROM_P = {
    "keras.optimizers.Ftrl": _FTRL,
    "tf.compat.v1.train.FtrlOptimizer": _FTRL,
    "tf_keras.optimizers.legacy.Ftrl": _FTRL,
    "tf_keras.optimizers.Ftrl": _FTRL,
    "tf.compat.v1.train.AdagradDAOptimizer":
        "dual averaging rebuilds w from the gradient sum, not from p",
    "optax.fromage": "shrinks p by 1/sqrt(1 + lr^2) every step, whatever the gradient",
    "optax.yogi": "both moments start at 1e-6, so a zero or tiny gradient still moves p",
    "keras.optimizers.ScheduleFreeAdamW":
        "the float32 round trip y -> x -> y moves y by an ULP even on a zero gradient",
    "optax.contrib.schedule_free_adamw":
        "the float32 round trip y -> x -> y moves y by an ULP even on a zero gradient",
    **{n: "Muon orthogonalizes the whole matrix: it descends along <g, step> < 0, "
          "not coordinate by coordinate" for n in MATRIX_ONLY},
}
"""Rules for which 'the first step descends and a zero gradient stays' is false by design."""


from test_rules_adafactor import EPS1_SQUARED_UNDERFLOWS  # noqa: E402


def _conditioned(name, g):
    """``g`` itself, except for the Adafactor forms whose eps1 = 1e-30 enters squared: there
    a zero (or tiny) gradient along a whole row and column underflows V to 0 and the step to
    NaN, in the frameworks too (test_rules_adafactor, conformance/test_edge_inputs). Those
    forms get one entry of magnitude >= 1e-3 in every row and every column."""
    if name not in EPS1_SQUARED_UNDERFLOWS:
        return g
    g = g.copy()
    rows, cols = g.shape
    for k in range(max(rows, cols)):
        i, j = k % rows, k % cols
        if abs(g[i, j]) < 1e-3:
            g[i, j] = 1.0
    return g


@pytest.mark.parametrize("name", [n for n in SPECS if n not in NOT_A_MOVE_FROM_P])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_first_step_descends_and_zero_gradient_stays(name, data):
    shape = data.draw(shapes)
    p = data.draw(arrays(np.float32, shape, elements=finite32))
    g = _conditioned(name, data.draw(arrays(np.float32, shape, elements=finite32)))
    opt = eps_ref.optimizer(name, **_no_decay(name))
    p1, state = opt.step(p, g, opt.init(p))
    assert p1.shape == p.shape and p1.dtype == np.float32
    assert np.all(np.isfinite(p1))
    moved = np.sign(p1.astype(np.float64) - p)
    assert np.all((moved == 0) | (moved == -np.sign(g))), "a first step went uphill"
    np.testing.assert_array_equal(p1[g == 0], p[g == 0])


@pytest.mark.parametrize("name", SPECS)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_steps_are_deterministic_and_finite(name, data):
    shape = data.draw(shapes)
    p = data.draw(arrays(np.float32, shape, elements=finite32))
    gs = [_conditioned(name, data.draw(arrays(np.float32, shape, elements=finite32)))
          for _ in range(4)]
    opt = eps_ref.optimizer(name, **example_kwargs(name))

    def run():
        x, state = p, opt.init(p)
        for g in gs:
            x, state = opt.step(x, g, state)
        return x

    a, b = run(), run()
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a))

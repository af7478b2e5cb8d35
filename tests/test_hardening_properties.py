"""Hardening properties over every optimizer spec and variant (issue 18), with hypothesis:
random small parameter trees and shapes, NaN and infinities, other dtypes, corrupted
states. The only exceptions are the library's own clear errors (raised by a ``raise`` in
eps_ref, of a type that says what is wrong), no input is changed, and no output shares
memory with an input."""

import linecache
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eps_ref
from conftest import SPEC_VARIANTS, example_kwargs

CLEAR_ERRORS = (ValueError, TypeError, NotImplementedError)
EPS_REF_DIR = os.path.dirname(eps_ref.__file__)
SETTINGS = settings(max_examples=int(os.environ.get("EPS_REF_HARDENING_EXAMPLES", 1500)),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-42, 3e38, -1.0], np.float64)


def assert_own_clear_error(error: BaseException) -> None:
    """``error`` is one the library raised on purpose: a clear type, raised by a ``raise``
    statement in eps_ref's own code (not NumPy's broadcasting, an IndexError, a
    ZeroDivisionError or a KeyError from deep in a rule)."""
    assert isinstance(error, CLEAR_ERRORS), f"{type(error).__name__}: {error}"
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
    source = linecache.getline(filename, line).strip()
    assert filename.startswith(EPS_REF_DIR) and source.startswith("raise"), \
        f"{type(error).__name__}: {error} (from {filename}:{line}: {source})"
    assert len(str(error)) > 20, f"too terse: {error}"


@st.composite
def leaves(draw, dtype, shape=None):
    if shape is None:
        shape = draw(st.sampled_from([(3,), (2, 3), (4, 1), (1,), (), (2, 2, 2)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.standard_normal(shape)
    if draw(st.booleans()):                        # NaN, infinities, subnormals, huge
        mask = rng.random(shape) < 0.3
        values = np.where(mask, rng.choice(SPECIALS, size=shape), values)
    return np.asarray(values, dtype)


@st.composite
def problems(draw):
    """A spec variant, a parameter tree and its gradient tree (in float32 or float64, with
    a ``None`` gradient now and then)."""
    name, variant = draw(st.sampled_from(SPEC_VARIANTS))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float64]))
    n = draw(st.integers(1, 3))
    params = [draw(leaves(dtype)) for _ in range(n)]
    grads = [None if draw(st.integers(0, 5)) == 0 else draw(leaves(dtype, p.shape))
             for p in params]                      # None: a frozen parameter
    form = draw(st.sampled_from(["list", "dict", "nested", "single"]))
    if form == "single":
        return name, variant, params[0], grads[0]
    if form == "dict":
        return name, variant, {f"w{i}": p for i, p in enumerate(params)}, \
            {f"w{i}": g for i, g in enumerate(grads)}
    if form == "nested":
        return name, variant, {"a": params[:1], "b": tuple(params[1:])}, \
            {"a": grads[:1], "b": tuple(grads[1:])}
    return name, variant, params, grads


def _arrays(tree):
    if isinstance(tree, dict):
        return [a for v in tree.values() for a in _arrays(v)]
    if isinstance(tree, (list, tuple)):
        return [a for v in tree for a in _arrays(v)]
    return [tree] if isinstance(tree, np.ndarray) else []


def _leaves(tree):
    """Every leaf, ``None`` included, in the order of :func:`_arrays`."""
    if isinstance(tree, dict):
        return [a for v in tree.values() for a in _leaves(v)]
    if isinstance(tree, (list, tuple)):
        return [a for v in tree for a in _leaves(v)]
    return [tree]


def _snapshot(tree):
    return [(a.dtype, a.shape, a.tobytes()) for a in _arrays(tree)]


def _no_aliasing(outputs, inputs):
    for out in _arrays(outputs):
        for inp in _arrays(inputs):
            assert not np.shares_memory(out, inp), "an output shares memory with an input"


def _run(opt, params, grads, steps=2):
    """``steps`` steps from ``init``; every call checked for purity and aliasing. Returns
    the last state, or ``None`` when the library refused the input (clearly)."""
    try:
        state = opt.init(params)
    except CLEAR_ERRORS as e:
        assert_own_clear_error(e)
        return None
    for _ in range(steps):
        before = _snapshot([params, grads, state])
        try:
            new_params, new_state = opt.step(params, grads, state)
        except CLEAR_ERRORS as e:
            assert_own_clear_error(e)
            return None
        assert _snapshot([params, grads, state]) == before, "an input was changed"
        _no_aliasing([new_params, new_state], [params, grads, state])
        params, state = new_params, new_state
    return params, state


@SETTINGS
@given(problems())
def test_every_spec_on_random_trees_is_pure_or_clearly_refuses(problem):
    name, variant, params, grads = problem
    opt = eps_ref.optimizer(name, **example_kwargs(name, variant))
    with np.errstate(all="ignore"):
        out = _run(opt, params, grads)
    if out is not None:
        new_params, _ = out
        assert [a.dtype for a in _arrays(new_params)] == [a.dtype for a in _arrays(params)]
        assert [a.shape for a in _arrays(new_params)] == [a.shape for a in _arrays(params)]
        for p, g, new in zip(_arrays(params), _leaves(grads), _arrays(new_params)):
            if g is None:                          # skipped: the parameter as it was
                assert new.tobytes() == p.tobytes()


def _corruptions(state, other_framework_spec):
    """Ways a state can be wrong, each with a name."""
    slots = state["slots"][0]
    first = next(iter(slots), None)
    out = {
        "step -1": {**state, "step": -1}, "step 2.5": {**state, "step": 2.5},
        "step True": {**state, "step": True}, "step '1'": {**state, "step": "1"},
        "step None": {**state, "step": None},
        "no slots": {k: v for k, v in state.items() if k != "slots"},
        "extra key": {**state, "momentum": 0.9},
        "one leaf more": {**state, "slots": [*state["slots"], slots]},
        "slots a list": {**state, "slots": [list(slots.values())] + state["slots"][1:]},
        "not a dict": list(state.items()),
        "another framework's": {**state, "spec": other_framework_spec},
    }
    if first is not None:
        value = slots[first]
        out["slot missing"] = {**state, "slots": [{k: v for k, v in slots.items()
                                                    if k != first}] + state["slots"][1:]}
        out["slot renamed"] = {**state, "slots": [{**{k: v for k, v in slots.items()
                                                      if k != first}, first + "_x": value}]
                               + state["slots"][1:]}
        out["slot reshaped"] = {**state, "slots": [{**slots, first: np.zeros(
            (*np.shape(value), 2), np.asarray(value).dtype)}] + state["slots"][1:]}
        other = np.float64 if np.asarray(value).dtype == np.float32 else np.float32
        out["slot retyped"] = {**state, "slots": [{**slots, first: np.asarray(value).astype(
            other)}] + state["slots"][1:]}
        out["slot a number"] = {**state, "slots": [{**slots, first: 0.5}]
                                + state["slots"][1:]}
    return out


OTHER_FRAMEWORK = {"torch": "keras.optimizers.Adam"}


@SETTINGS
@given(st.sampled_from(SPEC_VARIANTS), st.data())
def test_every_corrupted_state_is_a_clear_error(spec_variant, data):
    name, variant = spec_variant
    opt = eps_ref.optimizer(name, **example_kwargs(name, variant))
    params = [np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
              np.linspace(0.5, 2, 6, dtype=np.float32).reshape(2, 3)]
    grads = [p * 0.25 for p in params]
    state = opt.init(params)
    other = OTHER_FRAMEWORK.get(opt.spec.framework, "torch.optim.Adam")
    corruptions = _corruptions(state, other)
    which = data.draw(st.sampled_from(sorted(corruptions)))
    with pytest.raises(CLEAR_ERRORS) as caught:
        opt.step(params, grads, corruptions[which])
    assert_own_clear_error(caught.value)


@SETTINGS
@given(st.sampled_from(SPEC_VARIANTS),
       st.sampled_from(["float16", "complex64", "int32", "bool", "bfloat16"]))
def test_other_dtypes_are_refused_clearly(spec_variant, dtype):
    name, variant = spec_variant
    if dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        dtype = ml_dtypes.bfloat16
    opt = eps_ref.optimizer(name, **example_kwargs(name, variant))
    p = np.ones((2, 3), dtype)
    with pytest.raises(TypeError) as caught:
        opt.init(p)
    assert_own_clear_error(caught.value)
    good = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError) as caught:
        opt.step(good, p, opt.init(good))
    assert_own_clear_error(caught.value)

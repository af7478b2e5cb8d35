"""eps_ref.port: every family pair the spec tables define, without any framework.

The pairs come from the tables (:func:`eps_ref.port_docs.representative_pairs`: each family's
first spec in each dialect, to each other dialect that ships the family; every spec under
``EPS_REF_FULL=1``). Each plan is checked by re-running the references: an equivalent is
never taken on the plan's word.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings

import numpy as np
import pytest

import eps_ref
from eps_ref.cli import main
from eps_ref.conformance.runner import reference_trajectory
from eps_ref.conformance.streams import gradient_stream, initial_params
from eps_ref.port_docs import (PORTING_PATH, SLOW_FAMILIES, plans, porting_markdown,
                               representative_pairs)
from eps_ref.spec import REQUIRED

P = importlib.import_module("eps_ref.port")
PL = importlib.import_module("eps_ref.port_layers")

FULL = os.environ.get("EPS_REF_FULL") == "1"
SKIP = () if FULL else SLOW_FAMILIES
PAIRS = P.pairs() if FULL else representative_pairs(SKIP)
_PLANS: dict = {}


def _plan(name, kwargs, to):
    key = (name, repr(sorted(kwargs.items())), to)
    if key not in _PLANS:
        cached = {(p.source, p.to): p for p in plans(SKIP)} if not FULL else {}
        plan = cached.get((name, to))
        if plan is None or plan.source_kwargs != kwargs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plan = eps_ref.port(name, to=to, gap_steps=0, **kwargs)
        _PLANS[key] = plan
    return _PLANS[key]


def _pair_id(pair):
    return f"{pair[0]}->{pair[2]}"


def _rerun(source, source_kwargs, target, target_kwargs) -> float:
    """The distance between two references, recomputed here with the conformance runner
    (optimizers), the clips applied directly, or the layer stream (layers)."""
    kind = eps_ref.spec(source).kind
    target_kwargs = {k: v for k, v in target_kwargs.items() if v is not REQUIRED}
    if kind == "layer":
        src = {**source_kwargs, **PL._stream_kwargs(eps_ref.spec(source))}
        tgt = {k: v for k, v in target_kwargs.items() if k not in PL.SHAPE_KEYWORDS}
        tgt.update(PL._stream_kwargs(eps_ref.spec(target)))
        stream = PL._verify_stream(source)
        a, units = PL._run(source, src, *stream)
        b, _ = PL._run(target, tgt, *stream)
        keep = PL._common(a, b)
        return PL.unit_distance(a[:, keep], b[:, keep], units[:, keep])
    grads = gradient_stream(P.VERIFY_STEPS)
    if kind == "clip":
        half = grads.shape[1] // 2
        ca, cb = eps_ref.clip(source, **source_kwargs), eps_ref.clip(target, **target_kwargs)
        a = np.stack([np.concatenate([x.reshape(-1) for x in ca([g[:half], g[half:]])])
                      for g in grads])
        b = np.stack([np.concatenate([x.reshape(-1) for x in cb([g[:half], g[half:]])])
                      for g in grads])
        return P.scale_ulp(a, b)
    p0 = initial_params()
    a = reference_trajectory(source, source_kwargs, p0, grads)
    b = reference_trajectory(target, target_kwargs, p0, grads)
    return P.scale_ulp(a, b)


# -- coverage, from the tables -------------------------------------------------------------

def test_every_family_pair_is_covered():
    """Every (family, source dialect, target dialect) both ship is a pair of the tests."""
    families = {fw: P._families(fw) for fw in {eps_ref.spec(n).framework
                                               for n in eps_ref.specs()}}
    covered = {(P.port_family(eps_ref.spec(n)), eps_ref.spec(n).framework, to)
               for n, _, to in PAIRS}
    expected = {(fam, src, to) for src in families for fam in families[src]
                for to in P.TARGETS if to != src and fam in families.get(to, {})
                and fam not in SKIP}
    assert expected and expected == covered


@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_plan(pair):
    name, kwargs, to = pair
    plan = _plan(name, kwargs, to)
    fam = P.port_family(eps_ref.spec(name))
    assert plan.family == fam and plan.to == to and plan.candidates
    for c in plan.candidates:
        assert eps_ref.spec(c.name).framework == to
        assert P.port_family(eps_ref.spec(c.name)) == fam
    assert plan.nearest is plan.candidates[0]
    # An equivalent verifies when the references are run again, here.
    source_flat = P._flat({**eps_ref.spec(name).defaults, **kwargs})
    for target, target_kwargs in plan.equivalent:
        assert _rerun(name, kwargs, target, target_kwargs) <= P.SAME_MATH_ULP, target
        # A weight decay the source does not have is no equivalent, however small.
        full = {**eps_ref.spec(target).defaults, **target_kwargs}
        for k in P.LR_COUPLED:
            if k in full and not P._has_alias(source_flat, k):
                assert full[k] in (0, None), (target, k, full[k])
    # No equivalent: the plan says what differs.
    if not plan.equivalent:
        assert plan.differences, "a non-equivalent plan must say what differs"
    text = str(plan)
    assert plan.nearest.name in text
    json.dumps(plan.to_json())


def _lr_key(kwargs):
    return next((k for k in ("lr", "learning_rate") if P._is_number(kwargs.get(k))), None)


@pytest.mark.parametrize("pair", [p for p in PAIRS
                                  if eps_ref.spec(p[0]).kind == "optimizer"], ids=_pair_id)
def test_equivalence_check_can_fail(pair):
    """The check behind an equivalent is not vacuous: the same target with its learning
    rate 1% off is no longer the same math."""
    name, kwargs, to = pair
    plan = _plan(name, kwargs, to)
    if not plan.equivalent:
        pytest.skip("no equivalent to perturb")
    target, target_kwargs = plan.equivalent[0]
    full = {**eps_ref.optimizer(target, **{k: v for k, v in target_kwargs.items()
                                           if v is not REQUIRED}).hyperparams}
    key = _lr_key(full)
    if key is None or full[key] == 0:
        pytest.skip("no learning rate")
    assert _rerun(name, kwargs, target, {**target_kwargs, key: full[key] * 1.01}) \
        > P.SAME_MATH_ULP


# -- the keyword mapping -------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.1, 0.01])
@pytest.mark.parametrize("to", ["keras", "flax"])
def test_batch_norm_momentum_is_one_minus(to, momentum):
    """torch's running-statistics momentum m is Keras' and Flax's 1 - m."""
    plan = eps_ref.port("torch.nn.BatchNorm2d", to=to, gap_steps=0, num_features=6,
                        momentum=momentum)
    chosen = {**eps_ref.spec(plan.nearest.name).defaults, **plan.nearest.kwargs}
    assert chosen["momentum"] == 1 - momentum
    # ... and the running variance still differs (torch stores the unbiased form).
    assert not plan.equivalent
    assert any(d.startswith("running_variance") for d in plan.differences)


def test_keras_eps_hat_has_no_constant():
    """Keras' epsilon-hat reproduces torch's eps at no constant: the sweep says so."""
    plan = eps_ref.port("torch.optim.Adam", to="keras", gap_steps=0)
    assert not plan.equivalent
    assert any("eps_hat" in d for d in plan.differences)
    assert len([x for x in plan.nearest.tried["epsilon"] if x > 0]) >= 9
    assert "No constant closes the gap" in str(plan)


def test_a_fit_to_the_first_steps_is_not_a_port():
    """TF1's RMSProp accumulator starts at ones. For the search's first steps torch's
    RMSprop with eps = 1 and momentum 0.9 follows it closer than the same numbers do, and
    after them takes none of its steps: the plan keeps the source's numbers."""
    plan = P.port("tf.compat.v1.train.RMSPropOptimizer", to="torch", gap_steps=0,
                  learning_rate=0.01)
    chosen = {**eps_ref.spec("torch.optim.RMSprop").defaults, **plan.nearest.kwargs}
    assert (chosen["lr"], chosen["alpha"], chosen["eps"], chosen["momentum"]) \
        == (0.01, 0.9, 1e-10, 0.0)
    source = P._build("tf.compat.v1.train.RMSPropOptimizer", {"learning_rate": 0.01})
    fit = P._build("torch.optim.RMSprop", dict(lr=0.001, alpha=0.9, eps=1.0, momentum=0.9))
    same = P._build("torch.optim.RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-10))
    param0, grads = P._streams(P.LATER_STEPS)
    ref, a, b = (P._trajectory(o, grads, param0) for o in (source, fit, same))
    first = P.SEARCH_STEPS + 1
    assert P._score(ref[:first], a[:first]) < P._score(ref[:first], b[:first])
    steps = [np.diff(x, axis=0) for x in (ref, a, b)]
    assert P._score(steps[0], steps[2])[0] < P._score(steps[0], steps[1])[0] - 10


def test_switch_descriptions_are_whole_clauses():
    """Each switch value's words, as a plan prints them: parentheses that close, no
    dangling punctuation, none of the docstring's markup."""
    seen = 0
    for name in eps_ref.specs():
        s = eps_ref.spec(name)
        if s.kind not in ("optimizer", "layer"):
            continue
        kwargs = P._rule_kwargs(P._build(name, next(iter(s.variants.values()), {})))
        for key, value in kwargs.items():
            text = P._describe(P._rule_module(s), key, value)
            if not text:
                continue
            seen += 1
            depth = 0
            for ch in text:
                depth += (ch == "(") - (ch == ")")
                assert depth >= 0, (name, key, text)
            assert depth == 0, (name, key, text)
            assert text[0] not in ":;,.)`" or text.startswith("`") and text.count("`") % 2 \
                == 0, (name, key, text)
            assert text[-1] not in ":;,(" and "``" not in text and ":math:" not in text, \
                (name, key, text)
    assert seen > 50


def test_gap_is_measured():
    plan = eps_ref.port("torch.optim.Adam", to="keras", gap_steps=40)
    assert [g.steps for g in plan.gaps] == [40, 40]
    standard, tiny = plan.gaps
    assert standard.first_differing_step == 1 and standard.max_abs > 0
    assert "eps-dominated" in tiny.stream and tiny.max_rel > 0


# -- the command line ----------------------------------------------------------------------

def _run_cli(capsys, *argv):
    code = main(["port", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _missing_family():
    """A (spec, framework) where the framework ships no such family, from the tables."""
    for name in eps_ref.specs():
        fam = P.port_family(eps_ref.spec(name))
        for to in P.TARGETS:
            if fam not in P._families(to):
                return name, to
    raise AssertionError("every dialect ships every family")


@pytest.mark.parametrize("argv, message", [
    (["torch.optim.Adm", "--to", "optax"], "did you mean 'torch.optim.Adam'"),
    (["torch.optim.Adam", "--to", "optx"], "did you mean 'optax'"),
    (["torch.optim.Adam", "--to", "keras", "--backend", "jaxx"], "did you mean 'jax'"),
    (["torch.optim.Adam", "--to", "optax", "lr=fast"], "cannot parse the value 'fast'"),
    (["torch.optim.Adam", "--to", "optax", "lr"], "key=value"),
    (["torch.optim.Adam", "--to", "optax", "lrr=1e-3"], "did you mean 'lr'"),
    (list(_missing_family()[:1]) + ["--to", _missing_family()[1]], "ships no"),
])
def test_cli_errors_exit_2(capsys, argv, message):
    code, out, err = _run_cli(capsys, *argv)
    assert code == 2 and message in err and not out


def test_cli_report_and_json(capsys):
    code, out, _ = _run_cli(capsys, "optax.clip", "--to", "torch", "max_delta=0.5")
    assert code == 0 and "torch.nn.utils.clip_grad_value_(clip_value=0.5)" in out
    code, out, _ = _run_cli(capsys, "optax.clip", "--to", "torch", "max_delta=0.5", "--json")
    data = json.loads(out)
    assert code == 0 and data["equivalent"] == [["torch.nn.utils.clip_grad_value_",
                                                 {"clip_value": 0.5}]]


def test_cli_parses_values():
    from eps_ref.cli import parse_value
    assert parse_value("3e-4") == 3e-4 and parse_value("(0.9, 0.99)") == (0.9, 0.99)
    assert parse_value("true") is True and parse_value("None") is None
    assert parse_value("'constant'") == "constant"


# -- docs ----------------------------------------------------------------------------------

def test_porting_docs_are_current():
    """docs/porting.md is what `eps-ref porting` generates from the plans (by default the
    sections of every family but :data:`SLOW_FAMILIES`, each verbatim)."""
    with open(PORTING_PATH) as f:
        current = f.read()
    if FULL:
        assert current == porting_markdown(), "run `eps-ref porting`"
        return
    sections = porting_markdown(SKIP).split("\n## ")
    for section in sections[1:]:
        assert "\n## " + section.rstrip("\n") + "\n" in current + "\n", \
            f"section {section.splitlines()[0]!r} is not current: run `eps-ref porting`"
    assert current.startswith(sections[0])

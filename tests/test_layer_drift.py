"""Every layer spec's keywords and defaults equal the installed framework's signature (Flax:
the module's dataclass fields), so the tables cannot drift. Skips a missing framework."""

import dataclasses
import inspect

import pytest

import eps_ref
from eps_ref.backends import adapter, labels_for
from eps_ref.spec import REQUIRED

LAYERS = eps_ref.specs(kind="layer")


def _plain(v):
    """Flax defaults are functions and dtypes; the tables write them as plain names."""
    if callable(v) and hasattr(v, "__name__"):
        try:
            import numpy as np
            return np.dtype(v).name
        except TypeError:
            return v.__name__
    return v


def _native_defaults(obj) -> dict:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(f.default) for f in dataclasses.fields(obj)
                if f.name not in ("parent", "name")}
    out = {}
    for p in inspect.signature(obj.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        out[p.name] = REQUIRED if p.default is p.empty else p.default
    return out


@pytest.mark.parametrize("name", LAYERS)
def test_layer_defaults_match_installed_framework(name):
    s = eps_ref.spec(name)
    mod = adapter(labels_for(s.framework)[0])
    ok, reason = mod.available()
    if not ok:
        pytest.skip(reason)
    native = _native_defaults(mod.resolve(name))
    assert list(native) == list(s.defaults), "keyword names or order differ"
    for k, v in native.items():
        assert s.defaults[k] == v or (s.defaults[k] is REQUIRED and v is REQUIRED), \
            f"{name}: {k} defaults to {v!r} in the framework, {s.defaults[k]!r} in the spec"


def test_flax_dialect_version_is_installed():
    mod = adapter("flax")
    ok, reason = mod.available()
    if not ok:
        pytest.skip(reason)
    from eps_ref.frameworks import flax
    assert mod.versions()["flax"] == flax.VERSION


def test_scale_aware_measure_catches_semantic_differences():
    """Reduction noise is a few units (budgets <= 7); a semantic change is >= 1000 units in
    the outputs or >= 1e4 ULP in the running statistics."""
    import dataclasses
    from types import MappingProxyType

    from eps_ref.conformance.layers import _case_inputs, compare_runs, reference_run
    from eps_ref.layer import layer

    name = "torch.nn.BatchNorm2d"
    batches, eval_batch, params = _case_inputs(name)
    base = reference_run(name, {"num_features": 6}, batches, eval_batch, params)
    other_eps = compare_runs(base, reference_run(name, {"num_features": 6, "eps": 1e-3},
                                                 batches, eval_batch, params))
    assert other_eps.output_units.max() > 1000
    keras_momentum = compare_runs(base, reference_run(name, {"num_features": 6,
                                                             "momentum": 0.99},
                                                      batches, eval_batch, params))
    assert keras_momentum.running_var_ulp.max() > 1e4
    assert keras_momentum.output_units[-1] > 1000
    lay = layer(name, num_features=6)
    biased = dataclasses.replace(
        lay, rule_kwargs=MappingProxyType({**lay.rule_kwargs, "running_variance": "biased"}))
    state = biased.init(batches[0])
    state.update({k: v for k, v in params.items()})
    out = {"outputs": [], "running_mean": [], "running_var": []}
    for x in batches:
        y, state = biased.apply(x, state, training=True)
        out["outputs"].append(y)
        out["running_mean"].append(state["running_mean"])
        out["running_var"].append(state["running_var"])
    out["outputs"].append(biased.apply(eval_batch, state, training=False)[0])
    c = compare_runs(base, out)
    assert c.running_var_ulp.max() > 1e4
    assert c.output_units[-1] > 100


@pytest.mark.parametrize("name", LAYERS)
def test_declared_budgets_cannot_hide_eps_or_momentum_errors(name):
    """Every layer budget is at least 100 times smaller than what a semantic error does on
    the conformance stream: eps 1e-3 in place of the default (1e-5 in place of 1e-3) moves
    the outputs, and the other momentum convention (m in place of 1 - m) moves the running
    variance and the inference output, by more than 100x the largest declared budget of
    the spec (scale-aware units for outputs, ULP for running statistics)."""
    import numpy as np

    from eps_ref.conformance.layers import _case_inputs, compare_runs, reference_run

    s = eps_ref.spec(name)
    budgets = list(s.budgets.values())
    out_budget = max([1] + [b.output for b in budgets])
    ulp_budget = max([1] + [b.ulp for b in budgets])
    kwargs = dict(s.variants["defaults"])
    batches, eval_batch, params = _case_inputs(name)
    base = reference_run(name, kwargs, batches, eval_batch, params)

    eps_key = "eps" if "eps" in s.defaults else "epsilon"
    eps = s.defaults[eps_key]
    other = 1e-5 if eps == 1e-3 else 1e-3
    c = compare_runs(base, reference_run(name, {**kwargs, eps_key: other}, batches,
                                         eval_batch, params))
    assert c.output_units.max() > 100 * out_budget, (eps, other, c.summary())

    momentum = s.defaults.get("momentum")
    if isinstance(momentum, float) and "running_var" in s.rule.init(
            np.asarray(batches[0]), **s.rule.init_kwargs(s.bind(**{**s.defaults, **kwargs}))):
        c = compare_runs(base, reference_run(name, {**kwargs, "momentum": 1 - momentum},
                                             batches, eval_batch, params))
        assert c.running_var_ulp.max() > 100 * ulp_budget, c.summary()
        assert c.output_units[-1] > 100 * out_budget, c.summary()

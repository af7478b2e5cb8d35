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
    """The object a spec builds for one of its variants (optimizer, layer or clip)."""
    s = eps_ref.spec(name)
    build = {"optimizer": eps_ref.optimizer, "layer": eps_ref.layer, "clip": eps_ref.clip}
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

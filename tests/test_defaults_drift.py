"""Every spec's keywords and defaults equal the installed framework's signature, so the
tables cannot drift from the framework versions the suite certifies. Skips a framework that
is not installed."""

import inspect

import pytest

import eps_ref
from eps_ref.backends import adapter, labels_for
from eps_ref.spec import REQUIRED

SKIP_PARAMS = {"self", "params"}


def _signature_defaults(obj) -> dict:
    target = obj.__init__ if inspect.isclass(obj) else obj
    out = {}
    for p in inspect.signature(target).parameters.values():
        if p.name in SKIP_PARAMS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        out[p.name] = REQUIRED if p.default is p.empty else p.default
    return out


@pytest.mark.parametrize("name", eps_ref.specs(kind="optimizer"))
def test_defaults_match_installed_framework(name):
    s = eps_ref.spec(name)
    if not labels_for(s.framework):
        pytest.skip(f"{s.framework} has no framework to read a signature from")
    mod = adapter(labels_for(s.framework)[0])
    ok, reason = mod.available()
    if not ok:
        pytest.skip(reason)
    native = _signature_defaults(mod.resolve(name))
    assert list(native) == list(s.defaults), "keyword names or order differ"
    for k, v in native.items():
        assert s.defaults[k] == v or (s.defaults[k] is REQUIRED and v is REQUIRED), \
            f"{name}: {k} defaults to {v!r} in the framework, {s.defaults[k]!r} in the spec"


@pytest.mark.parametrize("framework", ["torch", "keras", "tf1", "optax"])
def test_dialect_version_is_installed(framework):
    """The dialect table was read from the version installed (the pinned one)."""
    import importlib
    mod = adapter(labels_for(framework)[0])
    ok, reason = mod.available()
    if not ok:
        pytest.skip(reason)
    table = importlib.import_module(f"eps_ref.frameworks.{framework}").VERSION
    installed = {"torch": "torch", "keras": "keras", "tf1": "tensorflow",
                 "optax": "optax"}[framework]
    assert mod.versions()[installed].split("+")[0] == table

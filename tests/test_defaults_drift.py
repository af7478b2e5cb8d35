"""Every spec's keywords and defaults equal the installed framework's signature, so the
tables cannot drift from the framework versions the suite certifies. Skips a framework that
is not installed."""

import pytest

import eps_ref
from eps_ref.backends import adapter, labels_for
from eps_ref.conformance.drift import defaults_drift, signature_defaults
from eps_ref.spec import REQUIRED


@pytest.mark.parametrize("name", eps_ref.specs(kind="optimizer"))
def test_defaults_match_installed_framework(name):
    s = eps_ref.spec(name)
    if not labels_for(s.framework):
        pytest.skip(f"{s.framework} has no framework to read a signature from")
    mod = adapter(labels_for(s.framework)[0])
    ok, reason = mod.available()
    if not ok:
        pytest.skip(reason)
    native = signature_defaults(mod.resolve(name))
    assert list(native) == list(s.defaults), "keyword names or order differ"
    for k, v in native.items():
        assert s.defaults[k] == v or (s.defaults[k] is REQUIRED and v is REQUIRED), \
            f"{name}: {k} defaults to {v!r} in the framework, {s.defaults[k]!r} in the spec"


def test_the_drift_check_names_every_changed_default(monkeypatch):
    """What a conformance run on an uncertified version reports: nothing on the pinned
    install, and each keyword whose default moved once the installed signature changes."""
    mod = adapter("torch")
    if not mod.available()[0]:
        pytest.skip(mod.available()[1])
    assert defaults_drift("torch") == []
    real = mod.resolve

    def resolve(name):
        if name != "torch.optim.Adam":
            return real(name)

        def adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0,
                 amsgrad=False, *, new_keyword=1, **kwargs):
            pass
        return adam
    monkeypatch.setattr(mod, "resolve", resolve)
    drift = {(d["spec"], d["keyword"]): (d["table"], d["installed"])
             for d in defaults_drift("torch")}
    assert drift[("torch.optim.Adam", "eps")] == (1e-8, 1e-6)
    assert drift[("torch.optim.Adam", "new_keyword")] == ("absent", 1)
    assert drift[("torch.optim.Adam", "foreach")] == (None, "absent")
    assert all(spec == "torch.optim.Adam" for spec, _ in drift)


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

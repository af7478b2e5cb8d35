"""The defaults-drift check: each spec's keywords and defaults against the installed
framework's own signature.

The dialect tables record the keywords and defaults of the framework version they were
read from (:attr:`eps_ref.spec.Spec.version`). ``tests/test_defaults_drift.py`` holds them
to the pinned install; a conformance run on another installed version (*uncertified
version*) runs the same check and reports what changed (``eps-ref conformance``'s report).
"""

from __future__ import annotations

import inspect

import eps_ref
from eps_ref.backends import adapter, labels_for
from eps_ref.spec import REQUIRED

__all__ = ["signature_defaults", "defaults_drift"]

_SKIP_PARAMS = {"self", "params"}


def signature_defaults(factory) -> dict:
    """``{keyword: default}`` of a native optimizer class or factory, in signature order
    (:data:`~eps_ref.spec.REQUIRED` for a keyword without a default)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    out = {}
    for p in inspect.signature(target).parameters.values():
        if p.name in _SKIP_PARAMS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        out[p.name] = REQUIRED if p.default is p.empty else p.default
    return out


def defaults_drift(framework: str) -> list[dict]:
    """Every difference between the ``framework`` dialect's optimizer specs and the
    installed framework's signatures: ``{"spec", "keyword", "table", "installed"}`` (a
    keyword one side lacks is ``"absent"``; keywords in another order: keyword
    ``"(order)"``). Empty when they agree; ``[{"spec": None, "error": ...}]`` when the
    framework cannot be imported here."""
    labels = labels_for(framework)
    if not labels:
        return []
    mod = adapter(labels[0])
    ok, reason = mod.available()
    if not ok:
        return [{"spec": None, "error": reason}]
    out = []
    for name in eps_ref.specs(kind="optimizer"):
        s = eps_ref.spec(name)
        if s.framework != framework:
            continue
        try:
            native = signature_defaults(mod.resolve(name))
        except KeyError as e:          # the installed version has no such optimizer
            out.append({"spec": name, "keyword": None, "table": "present",
                        "installed": str(e.args[0])})
            continue
        table = dict(s.defaults)
        for k in dict.fromkeys([*table, *native]):
            mine, theirs = table.get(k, "absent"), native.get(k, "absent")
            if not (mine is theirs or mine == theirs):
                out.append({"spec": name, "keyword": k, "table": mine, "installed": theirs})
        if [k for k in native if k in table] != [k for k in table if k in native]:
            out.append({"spec": name, "keyword": "(order)", "table": list(table),
                        "installed": list(native)})
    return out

"""Shared fixtures: the spec tables drive the tests."""

import numpy as np
import pytest

import eps_ref
from eps_ref.conformance.conftest import (  # noqa: F401  the tests that run a real
    pytest_configure, pytest_runtest_makereport)      # framework report as the suite's do
from eps_ref.spec import REQUIRED

SPECS = eps_ref.specs(kind="optimizer")


def example_kwargs(name: str, variant: str = "defaults") -> dict:
    """A spec's keywords for one of its named variants (required keywords filled)."""
    s = eps_ref.spec(name)
    kwargs = dict(s.variants.get(variant, {}))
    for k, v in s.defaults.items():
        if v is REQUIRED and k not in kwargs:
            kwargs[k] = 1e-3
    return kwargs


SPEC_VARIANTS = [(n, v) for n in SPECS for v in (eps_ref.spec(n).variants or {"defaults": {}})]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


MATRIX_ONLY = {n for n in SPECS if eps_ref.spec(n).rule.name.startswith("muon")}
"""Muon orthogonalizes 2-D matrices only (the frameworks reject or reroute other shapes);
tests built on vectors or scalars skip them, tests/test_rules_muon.py covers them."""

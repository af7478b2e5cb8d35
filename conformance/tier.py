"""How much of the size-dependent conformance tests a run takes.

By default (CI: 2 cores, the whole suite well under 30 minutes) the real-size, sweep and
workload tests run every spec and backend label on the sizes where kernels change path,
with fewer data kinds, sizes and steps; ``EPS_REF_FULL=1`` runs everything the tests
define. Each test module names both sets, so what the default leaves out is in the code,
not in a comment.
"""

from __future__ import annotations

import os

__all__ = ["FULL", "full_or_ci"]

FULL = os.environ.get("EPS_REF_FULL", "") not in ("", "0")
"""``EPS_REF_FULL=1``: the full size-dependent suites."""


def full_or_ci(full, ci):
    """``full`` under ``EPS_REF_FULL=1``, else the CI tier ``ci``."""
    return full if FULL else ci

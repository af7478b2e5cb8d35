"""pytest glue of the conformance suite.

Tests marked ``kernel_models`` compare the reference's models of instruction-set-dependent
kernels (reductions, matrix products: :mod:`eps_ref.conformance.host`) with the real
frameworks. On a host outside :data:`~eps_ref.conformance.host.CERTIFIED_ISA` a failed
comparison in such a test is reported as a skip whose reason carries the measurement
("not certified here: ..."), so that ``pytest -rs`` lists every divergence the host shows;
errors other than a failed assertion still fail, and on a certified host nothing changes.
"""

import pytest

from eps_ref.conformance import host


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kernel_models: compares models of ISA-dependent kernels; on an "
        "uncertified host a divergence is reported as a skip with its measurement")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (report.when == "call" and report.failed and call.excinfo is not None
            and call.excinfo.errisinstance(AssertionError)
            and item.get_closest_marker("kernel_models") and not host.certified()):
        measured = (str(call.excinfo.value).strip().splitlines() or ["diverged"])[0][:400]
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"not certified here: {measured}; {host.uncertified_note()}")

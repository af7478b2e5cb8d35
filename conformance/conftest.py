"""pytest glue of the conformance suite.

Tests marked ``kernel_models`` compare the reference's models of instruction-set-dependent
kernels (reductions, matrix products: :mod:`eps_ref.conformance.host`) with the real
frameworks. On a host outside :data:`~eps_ref.conformance.host.CERTIFIED_ISA` a failed
comparison in such a test is reported as a skip whose reason carries the measurement
("not certified here: ..."), so that ``pytest -rs`` lists every divergence the host shows;
errors other than a failed assertion still fail, and on a certified host nothing changes.
"""

import pytest

from eps_ref.conformance import host, runner


@pytest.fixture(scope="session", autouse=True)
def _workers_shared_by_the_suites():
    """Each framework's worker starts once for the session's suites (5 s for TensorFlow)."""
    with runner.reusing_workers():
        yield


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


def pytest_terminal_summary(terminalreporter, config):
    """Every parameter-tree case that is not bit-exact, with its numbers, and the host: the
    measurements a budget or a fix starts from, kept at the end of the log."""
    trees = getattr(config, "eps_ref_trees", {})
    if not trees:
        return
    write = terminalreporter.write_line
    terminalreporter.section("eps_ref parameter trees")
    write(f"host: {host.describe()}; certified: {host.certified()}")
    for tree, results in trees.items():
        rest = [r for r in results if r.status != "exact"]
        write(f"{tree}: {len(results) - len(rest)} of {len(results)} cases bit-exact")
        for r in rest:
            c = r.comparison
            numbers = (f"{c.max_ulp} ULP ({c.scale_ulp:.3g} of scale) from step "
                       f"{c.first_divergent_step} on {c.worst_leaf}" if c is not None
                       else r.message[:200])
            write(f"  {r.status}: {r.case.id}: {numbers}")

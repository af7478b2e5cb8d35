"""The host check of the conformance suite: which CPU runs the kernels the reference models,
and how a divergence on another host is reported (conformance/conftest.py)."""

import subprocess
import sys
import textwrap

from eps_ref.conformance import host

CONFTEST = textwrap.dedent("""
    import pytest
    from eps_ref.conformance import host
    from eps_ref.conformance.conftest import pytest_configure, pytest_runtest_makereport  # noqa

    @pytest.fixture(autouse=True)
    def _isa(monkeypatch, request):
        monkeypatch.setattr(host, "isa", lambda: request.config.getoption("--isa"))
        monkeypatch.setattr(host, "vendor", lambda: request.config.getoption("--vendor"))

    def pytest_addoption(parser):
        parser.addoption("--isa")
        parser.addoption("--vendor")
""")
TESTS = textwrap.dedent("""
    import pytest
    pytestmark = pytest.mark.kernel_models

    def test_diverges():
        assert 1 == 2, "measured 5 ULP"

    def test_exact():
        pass

    def test_crashes():
        raise RuntimeError("boom")
""")


def _run(tmp_path, isa, vendor=host.CERTIFIED_VENDOR):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_kernels.py").write_text(TESTS)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                        f"--isa={isa}", f"--vendor={vendor}", str(tmp_path)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    return r.stdout


def test_a_divergence_is_a_skip_with_its_measurement_on_an_uncertified_host(tmp_path):
    out = _run(tmp_path, "avx2")
    assert "1 failed, 1 passed, 1 skipped" in out           # the crash still fails
    assert "not certified here: measured 5 ULP" in out and "AVX512" in out


def test_a_divergence_is_a_skip_on_another_vendors_cpu(tmp_path):
    out = _run(tmp_path, host.CERTIFIED_ISA, "GenuineIntel")
    assert "1 failed, 1 passed, 1 skipped" in out and "not certified here" in out


def test_a_divergence_fails_on_a_certified_host(tmp_path):
    assert "2 failed, 1 passed" in _run(tmp_path, host.CERTIFIED_ISA)


def test_host_facts():
    assert host.isa() in ("avx512", "avx2") or not host.cpu_flags() & {"avx2", "avx512f"}
    assert host.certified() == (host.isa() == "avx512" and host.vendor() == "AuthenticAMD")
    assert host.isa() in host.describe()

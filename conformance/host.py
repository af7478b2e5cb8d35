"""The CPU the suite runs on, against the CPU its kernel models were measured on.

The element-wise rules do the same IEEE operations on every x86-64 CPU, but the kernels
that sum and multiply whole arrays choose their code by the instruction set: XLA:CPU's
YNNPACK reductions and LLVM's loop vectorization take 16 float lanes with AVX-512 and 8
with AVX2, oneDNN's bfloat16 brgemm and float32 sgemm and MKL's sgemm pick per-ISA
kernels (and MKL another path on non-Intel CPUs). The reference's models of those kernels
(:mod:`eps_ref.rules._reductions`, :mod:`eps_ref.rules.muon`, :mod:`eps_ref.norms`) were
measured on AVX-512 hosts, :data:`CERTIFIED_ISA`. The element-wise kernels that start
from the hardware's reciprocal square root estimate (MKL's ``sqrt`` under ``torch.sqrt``,
Eigen's and XLA's ``rsqrt``: :mod:`eps_ref.rules._roots`) depend on the vendor too: each
vendor has its own ``RSQRTPS`` table, and MKL runs other code on Intel's CPUs; the models
are AMD's (Zen 4), :data:`CERTIFIED_VENDOR`. (Measured on an Intel Xeon with AVX-512:
torch's Adam and Adagrad diverge by 1 to 452 ULP within 4 steps.) On another host a case
that is not bit-exact is reported with what was measured and *not certified* there,
rather than failed (a skip with its reason in the pytest summary); a bit-exact case is
exact everywhere.
"""

from __future__ import annotations

import functools
import platform

__all__ = ["CERTIFIED_ISA", "CERTIFIED_VENDOR", "cpu_flags", "isa", "vendor", "certified",
           "describe", "uncertified_note"]

CERTIFIED_ISA = "avx512"
"""The instruction set the kernel models were measured on (x86-64 with AVX-512F)."""
CERTIFIED_VENDOR = "AuthenticAMD"
"""The CPU vendor the kernel models were measured on (``vendor_id`` in ``/proc/cpuinfo``)."""


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def isa() -> str:
    """``"avx512"``, ``"avx2"`` or the machine name (``"aarch64"``, ...)."""
    flags = cpu_flags()
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return platform.machine() or "unknown"


@functools.lru_cache(maxsize=1)
def vendor() -> str:
    """The CPU's ``vendor_id`` (``"AuthenticAMD"``, ``"GenuineIntel"``); empty where
    unknown."""
    return _cpuinfo_field("vendor_id")


def certified() -> bool:
    """Whether this host runs the kernels the reference models: the instruction set and
    the vendor they were measured on."""
    return isa() == CERTIFIED_ISA and vendor() == CERTIFIED_VENDOR


def _cpuinfo_field(name: str) -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _model_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def describe() -> str:
    """``"<CPU model> (<isa>)"``, for reports."""
    return f"{_model_name()} ({isa()})"


def uncertified_note() -> str:
    """Why a divergence on this host is not a failure."""
    return (f"this host is {describe()}: the kernel models (reductions, matrix products, "
            f"the rsqrt estimate) are measured on {CERTIFIED_ISA.upper()} x86-64 hosts by "
            f"{CERTIFIED_VENDOR}, where the suite certifies every case; here a case that is "
            "not bit-exact is reported, not judged")

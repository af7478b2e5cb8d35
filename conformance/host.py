"""The CPU the suite runs on, against the CPU its kernel models were measured on.

The element-wise rules do the same IEEE operations on every x86-64 CPU, but the kernels
that sum and multiply whole arrays choose their code by the instruction set: XLA:CPU's
YNNPACK reductions and LLVM's loop vectorization take 16 float lanes with AVX-512 and 8
with AVX2, oneDNN's bfloat16 brgemm and float32 sgemm and MKL's sgemm pick per-ISA
kernels (and MKL another path on non-Intel CPUs). The reference's models of those kernels
(:mod:`eps_ref.rules._reductions`, :mod:`eps_ref.rules.muon`, :mod:`eps_ref.norms`) were
measured on AVX-512 hosts, :data:`CERTIFIED_ISA`, where CI runs. On another host a case
that is not bit-exact is reported with what was measured and *not certified* there,
rather than failed (a skip with its reason in the pytest summary); a bit-exact case is
exact everywhere.
"""

from __future__ import annotations

import functools
import platform

__all__ = ["CERTIFIED_ISA", "cpu_flags", "isa", "certified", "describe", "uncertified_note"]

CERTIFIED_ISA = "avx512"
"""The instruction set the kernel models were measured on (x86-64 with AVX-512F)."""


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


def certified() -> bool:
    """Whether this host runs the kernels the reference models."""
    return isa() == CERTIFIED_ISA


@functools.lru_cache(maxsize=1)
def _model_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """``"<CPU model> (<isa>)"``, for reports."""
    return f"{_model_name()} ({isa()})"


def uncertified_note() -> str:
    """Why a divergence on this host is not a failure."""
    return (f"this host is {describe()}: the kernel models (reductions, matrix products) "
            f"are measured on {CERTIFIED_ISA.upper()} x86-64 hosts, where the suite "
            "certifies every case; here a case that is not bit-exact is reported, not judged")

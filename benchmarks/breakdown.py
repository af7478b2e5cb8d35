"""Where a reference step's time goes: the emulated kernels against the rule's own array
operations.

    python benchmarks/breakdown.py [--sizes 1e6 1e7] [--spec NAME ...] [--out FILE.json]

Every kernel entry point (``fma``, ``sqrt``, ``rsqrt``, the three ``pow`` kernels, the
summation orders of ``_reductions`` and ``norms._stats``) is wrapped with a timer in every
module that imported it; a kernel called inside another counts for the outer one. What is
left of the step is the rule's own code: its whole-array NumPy operations (each a fresh
temporary), ``where`` selections, and Python. Process CPU time, the best of ``--repeat``
steps, single-threaded, on the conformance stream at the size's shape (as ``eps-ref bench``).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time

import numpy as np

import eps_ref
from eps_ref import bench

KERNELS = {
    "fma": [("eps_ref.rules._numerics", "fma")],
    "roots": [("eps_ref.rules._roots", "sqrt"), ("eps_ref.rules._roots", "rsqrt"),
              ("eps_ref.rules._roots", "rsqrtps_estimate")],
    "pow": [("eps_ref.rules._libm_pow", "powf_glibc"),
            ("eps_ref.rules._eigen_pow", "eigen_pow_float32"),
            ("eps_ref.rules._sleef_pow", "sleef_powf")],
}
REDUCTION_MODULES = ("eps_ref.rules._reductions", "eps_ref.norms._stats")


class _Clock:
    def __init__(self):
        self.depth = 0
        self.spent: dict[str, float] = {}

    def wrap(self, category, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if self.depth:
                return function(*args, **kwargs)
            self.depth += 1
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[category] = self.spent.get(category, 0.0) + (
                    time.process_time() - start)
                self.depth -= 1
        timed.__wrapped_kernel__ = True
        return timed


def _install(clock: _Clock) -> None:
    """Wrap every kernel entry point in its module and wherever it was imported."""
    import importlib
    import pkgutil

    import eps_ref.norms
    import eps_ref.rules
    eps_ref.specs()                                  # loads the dialect tables
    for package in (eps_ref.rules, eps_ref.norms):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
    targets = {}
    for category, entries in KERNELS.items():
        for module, attr in entries:
            targets[id(getattr(sys.modules[module], attr))] = (category, attr)
    for module in REDUCTION_MODULES:
        mod = sys.modules.get(module) or importlib.import_module(module)
        for attr, value in vars(mod).items():
            if callable(value) and getattr(value, "__module__", "") == module \
                    and not attr.startswith("__"):
                targets.setdefault(id(value), ("reductions", attr))
    for mod in list(sys.modules.values()):
        if not getattr(mod, "__name__", "").startswith("eps_ref"):
            continue
        for attr, value in list(vars(mod).items()):
            hit = targets.get(id(value))
            if hit and not getattr(value, "__wrapped_kernel__", False):
                setattr(mod, attr, clock.wrap(hit[0], value))


def breakdown(clock: _Clock, name: str, size: str, repeat: int) -> dict:
    """The best of ``repeat`` reference steps (the second step) and its kernel times."""
    s = eps_ref.spec(name)
    shapes = bench._shapes(size, matrix_only=s.rule.name == "muon")
    params, grads = bench._inputs(shapes)
    single = size != "tree"
    opt = eps_ref.optimizer(name, **dict((s.variants or {}).get("defaults", {})))
    p = params[0] if single else params
    g = grads[0] if single else grads
    with np.errstate(all="ignore"):
        _, state = opt.step(p, g, opt.init(p))
        best, best_spent = float("inf"), {}
        for _ in range(repeat):
            clock.spent = {}
            start = time.process_time()
            opt.step(p, g, state)
            total = time.process_time() - start
            if total < best:
                best, best_spent = total, dict(clock.spent)
    kernels = sum(best_spent.values())
    return {"spec": name, "size": size, "total": best, **best_spent, "rule": best - kernels}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", nargs="+")
    parser.add_argument("--sizes", nargs="+", default=["1e6", "1e7"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0,
                        help="skip a larger size when the smaller one took longer (s)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    clock = _Clock()
    _install(clock)
    rows = []
    for name in args.spec or eps_ref.specs(kind="optimizer"):
        last = None
        for size in sorted(args.sizes, key=bench._elements):
            n = bench._elements(size)
            if last and last[1] * n / last[0] > args.budget:
                break
            row = breakdown(clock, name, size, args.repeat)
            last = (n, row["total"])
            rows.append(row)
            parts = ", ".join(f"{k} {row[k] * 1e3:.3g}" for k in
                              ("fma", "roots", "pow", "reductions", "rule") if k in row)
            print(f"{name} {size}: {row['total'] * 1e3:.3g} ms ({parts} ms)", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

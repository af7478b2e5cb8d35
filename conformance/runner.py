"""Run conformance cases: the reference in this process, each framework backend in its own
worker process, then a per-step ULP comparison.

A worker that crashes or hangs fails the case it was running, with its message, and is
restarted for the cases after it; it never takes down the suite.

A run can be stopped (:func:`request_stop`, what Ctrl-C and SIGTERM do under
:func:`stop_on_signals`): no case starts after that, the running ones end within a fraction
of a second (their workers are killed, the reference's loop checks between steps), and the
run returns the results that finished. :func:`streaming` hands every result to a callback as
its case ends, so a journal on disk holds them whatever happens next.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import signal
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import eps_ref
import eps_ref.ulp
from eps_ref.backends import OPTIMIZER_LABELS, eager_label
from eps_ref.conformance import host
from eps_ref.conformance.cases import Case
from eps_ref.conformance.streams import SHAPE, gradient_stream, initial_params
from eps_ref.spec import ScaleBudget

__all__ = ["Result", "tally", "result_row", "Comparison", "compare", "reference_trajectory", "run_cases",
           "run_in_workers", "request_stop", "stop_requested", "stop_on_signals", "streaming",
           "Interrupted", "STEPS", "TIMEOUT_S"]

STEPS = 1000
TIMEOUT_S = 300.0
POLL_S = 0.2
"""How often a thread waiting on a worker looks whether the run was stopped."""


# -- stopping a run and streaming its results ---------------------------------------------

class Interrupted(Exception):
    """The run was stopped (:func:`request_stop`) while this case ran."""


_STOP = threading.Event()
_STOP_REASON: list[str | None] = [None]
_SINKS: list[Callable[["Result"], None]] = []


def request_stop(reason: str = "stopped") -> None:
    """Stop the run in progress: safe to call from a signal handler (it only sets a flag
    that the threads running cases poll every :data:`POLL_S` seconds)."""
    _STOP_REASON[0] = _STOP_REASON[0] or reason
    _STOP.set()


def stop_requested() -> str | None:
    """Why the run was stopped (``"SIGINT"``, ...), or ``None``."""
    return _STOP_REASON[0] if _STOP.is_set() else None


def reset_stop() -> None:
    _STOP_REASON[0] = None
    _STOP.clear()


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGINT, signal.SIGTERM), notice=None):
    """Within the block, the first of ``signals`` stops the run (:func:`request_stop` with
    the signal's name) instead of killing the process, and ``notice(name)`` says so; a
    second one acts as the signal would. Main thread only."""
    reset_stop()
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handler(signum, frame):
        name = signal.Signals(signum).name
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        request_stop(name)
        if notice is not None:
            notice(name)

    for sig in signals:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        reset_stop()


def check_run_options(jobs=None, timeout=TIMEOUT_S) -> None:
    """``jobs``: ``None`` or a positive int; ``timeout``: positive, finite seconds."""
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise ValueError(f"jobs must be a positive int (backends run at once), got {jobs!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) \
            or not 0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


@contextlib.contextmanager
def streaming(callback: Callable[["Result"], None]):
    """Within the block, every finished case's result goes to ``callback`` as it ends (in
    the thread that ran it, one at a time)."""
    _SINKS.append(callback)
    try:
        yield
    finally:
        _SINKS.remove(callback)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}:" if hours else "") + f"{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class Comparison:
    """Per-step agreement of two float32 trajectories of shape ``(steps + 1, ...)`` (or of
    two parameter trees of them: every leaf counts, ``worst_leaf`` names the one with the
    largest ULP)."""

    ulp_per_step: np.ndarray            # max ULP over the tensor, per step (step 0 = init)
    first_divergent_step: int | None    # first step with any ULP > 0
    max_ulp: int
    max_abs: float
    max_rel: float
    worst_leaf: str | None = None
    # the largest difference in ULPs of each element's scale (eps_ref.ulp.scale_ulp)
    scale_ulp: float = 0.0

    def summary(self) -> dict:
        out = {"max_ulp": self.max_ulp, "first_divergent_step": self.first_divergent_step,
               "max_abs": self.max_abs, "max_rel": self.max_rel, "scale_ulp": self.scale_ulp}
        if self.worst_leaf is not None:
            out["worst_leaf"] = self.worst_leaf
        return out


def compare(a, b) -> Comparison:
    """Compare trajectories ``a`` (the reference) and ``b``: arrays, or dicts of arrays with
    the same keys."""
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or list(a) != list(b):
            raise ValueError("compare: both trajectories must be trees with the same leaves")
        per_leaf = {k: compare(a[k], b[k]) for k in a}
        worst = max(per_leaf, key=lambda k: per_leaf[k].max_ulp)
        ulp = np.max(np.stack([c.ulp_per_step for c in per_leaf.values()]), axis=0)
        diverged = np.flatnonzero(ulp > 0)
        return Comparison(
            ulp_per_step=ulp,
            first_divergent_step=int(diverged[0]) if len(diverged) else None,
            max_ulp=int(ulp.max()),
            max_abs=_nanmax([c.max_abs for c in per_leaf.values()]),
            max_rel=_nanmax([c.max_rel for c in per_leaf.values()]),
            worst_leaf=worst if per_leaf[worst].max_ulp else None,
            scale_ulp=max(c.scale_ulp for c in per_leaf.values()))
    ulp = eps_ref.ulp_distance(a, b).reshape(len(a), -1).max(axis=1)
    diverged = np.flatnonzero(ulp > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_err = np.abs(a.astype(np.float64) - b.astype(np.float64))
        rel_err = abs_err / np.maximum(np.abs(a.astype(np.float64)), np.finfo(np.float32).tiny)
    return Comparison(
        ulp_per_step=ulp,
        first_divergent_step=int(diverged[0]) if len(diverged) else None,
        max_ulp=int(ulp.max()),
        max_abs=float(np.nanmax(abs_err)) if np.isfinite(abs_err).any() else float("nan"),
        max_rel=float(np.nanmax(rel_err)) if np.isfinite(rel_err).any() else float("nan"),
        scale_ulp=eps_ref.ulp.scale_ulp(a, b) if len(diverged) else 0.0,
    )


def _nanmax(values) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return max(finite) if finite else float("nan")


@dataclass
class Result:
    case: Case
    # exact | within budget | over budget | stale budget | error | skipped; off the
    # conformance shape also shape-dependent | stale shape dependence (cases.SHAPE_DEPENDENT)
    status: str
    message: str = ""
    comparison: Comparison | None = None
    trajectory: np.ndarray | None = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status in ("exact", "within budget")


def tally(results) -> str:
    """How many results have each status, as a report says it: "3 exact, 1 within
    budget"."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def result_row(r: Result) -> str:
    """A report table's row: spec, variant, label, status and the message's first line."""
    detail = r.message.replace("|", "\\|").splitlines()[0] if r.message else ""
    return f"| `{r.case.spec}` | {r.case.variant} | {r.case.label} | {r.status} | {detail} |"


def reference_trajectory(name: str, kwargs: dict, param0, grads, label: str | None = None,
                         optimizer: tuple[str, dict] | None = None, threads: int = 1):
    """The oracle's trajectory on numpy arrays, shape ``(steps + 1, *param0.shape)`` (or,
    for a dict tree ``param0`` with ``grads`` a dict of streams, a dict of trajectories),
    reproducing the kernels of backend ``label`` (``"keras/torch"``) where they differ (a
    compiled label takes its eager label's: :func:`~eps_ref.backends.eager_label`).
    With ``optimizer = (name, keywords)``, ``name`` is a clip run in front of it.
    Overflow and NaN are part of a trajectory (the comparisons count them), so NumPy's
    floating-point warnings are silenced here rather than printed."""
    label = eager_label(label) if label else label
    backend = label.split("/", 1)[1] if label and "/" in label else None   # Case.backend
    if optimizer is None:
        opt = eps_ref.optimizer(name, backend=backend, threads=threads, **kwargs)
    else:
        opt = eps_ref.chain(eps_ref.clip(name, threads=threads, **kwargs),
                            eps_ref.optimizer(optimizer[0], backend=backend, threads=threads,
                                              **optimizer[1]))
    names = list(param0) if isinstance(param0, dict) else None
    steps = len(next(iter(grads.values()))) if names else len(grads)
    param, state = param0, opt.init(param0)
    out = [param0]
    with np.errstate(all="ignore"):
        for t in range(steps):
            if _STOP.is_set():
                raise Interrupted(stop_requested())
            g = {k: grads[k][t] for k in names} if names else grads[t]
            param, state = opt.step(param, g, state)
            out.append(param)
    if names is None:
        return np.stack(out)
    return {k: np.stack([p[k] for p in out]) for k in names}


SETTINGS = ("standard", "odd shape", "workload")


PASSING = ("exact", "within budget", "shape-dependent")
HOST_DEPENDENT = ("over budget", "stale budget", "stale shape dependence")
"""The statuses of a case that conforms; ``"not certified here"`` is a divergence measured
on a host whose kernels the reference does not model (:mod:`eps_ref.conformance.host`)."""


def _judge(case: Case, comparison: Comparison, setting: str = "standard") -> tuple[str, str]:
    """The status of a case. ``setting``: ``"standard"`` (the conformance tensor),
    ``"odd shape"`` (:data:`~eps_ref.conformance.cases.ODD_SHAPE`: a case declared
    shape-dependent must still diverge) or ``"workload"`` (a parameter tree: a workload
    budget, where declared, bounds the case; else a case declared shape-dependent may
    diverge). On a workload, a divergence declared in
    :data:`~eps_ref.conformance.cases.WORKLOAD_OPEN` is ``"open"``, and on a host whose
    kernels the reference does not model (:func:`~eps_ref.conformance.host.certified`) a
    failing status is ``"not certified here"``."""
    status, message = _judge_case(case, comparison, setting)
    if setting == "workload" and status == "over budget" and case.open_divergence:
        return "open", f"{message}: {case.open_divergence}"
    if status in HOST_DEPENDENT and not host.certified():
        return "not certified here", f"{status}: {message}; {host.uncertified_note()}"
    return status, message


def _judge_case(case: Case, comparison: Comparison, setting: str) -> tuple[str, str]:
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    workload_budget = case.workload_budget if setting == "workload" else None
    reason = case.shape_dependence if setting != "standard" and workload_budget is None \
        else None
    if reason is not None and (setting == "odd shape" or comparison.max_ulp > 0):
        if comparison.max_ulp == 0:
            return "stale shape dependence", ("bit-exact at the odd shape: remove it "
                                              "from SHAPE_DEPENDENT")
        return "shape-dependent", (f"{comparison.max_ulp} ULP at step "
                                   f"{comparison.first_divergent_step}: {reason}")
    budget = workload_budget if setting == "workload" else case.budget
    if budget is None:
        if comparison.max_ulp == 0:
            return "exact", ""
        where = f" (leaf {comparison.worst_leaf})" if comparison.worst_leaf else ""
        return "over budget", (f"{comparison.max_ulp} ULP at step "
                               f"{comparison.first_divergent_step}{where}; no budget declared")
    if comparison.max_ulp == 0:
        if workload_budget is not None:   # the budget bounds both trees; one may be exact
            return "exact", ""            # (test_workload checks that one is not)
        return "stale budget", f"declared {budget.ulp} ULP but measured 0: remove the budget"
    if isinstance(budget, ScaleBudget):
        measured, units = comparison.scale_ulp, "ULP of scale"
        measured_text = f"{measured:.4g} {units} ({comparison.max_ulp} ULP)"
    else:
        measured, units = comparison.max_ulp, "ULP"
        measured_text = f"{measured} {units}"
    if measured <= budget.ulp:
        return "within budget", f"{measured_text} <= {budget.ulp} {units}: {budget.reason}"
    return "over budget", (f"{measured_text} > budget {budget.ulp} {units} "
                           f"(first divergent step {comparison.first_divergent_step})")


# -- worker processes -----------------------------------------------------------------

def _worker(module: str, env: dict, conn, log_path: str) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the run and kills its
    # workers; a worker that took it as a failed case would run the next one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Frameworks log to the C-level stderr as they import; keep that out of the progress
    # output and hand its tail back when the worker dies.
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 2)
    try:
        mod = importlib.import_module(module)
        ok, reason = mod.available()
        conn.send(("ready", ok, reason, mod.versions() if ok else {}))
    except Exception as e:
        conn.send(("ready", False, f"{type(e).__name__}: {e}", {}))
        return
    if not ok:
        return
    while True:
        job = conn.recv()
        if job is None:
            return
        function, args = job
        try:
            if ":" in function:         # "package.module:function", beside the adapter
                where, function = function.split(":")
                conn.send(("ok", getattr(importlib.import_module(where), function)(*args)))
            else:
                conn.send(("ok", getattr(mod, function)(*args)))
        except BaseException as e:
            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"))


class _Worker:
    def __init__(self, label: str, module: str, env: dict):
        self.label = label
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        fd, self.log_path = tempfile.mkstemp(prefix="eps_ref_worker_", suffix=".log")
        os.close(fd)
        self.process = ctx.Process(target=_worker, args=(module, env, child, self.log_path),
                                   daemon=True)
        self.process.start()
        child.close()
        _, self.ok, self.reason, self.versions = self._recv(TIMEOUT_S)

    def _recv(self, timeout: float):
        deadline = time.monotonic() + timeout
        while not self.conn.poll(max(0.0, min(POLL_S, deadline - time.monotonic()))):
            if _STOP.is_set():
                self.kill()
                raise Interrupted(stop_requested())
            if time.monotonic() >= deadline:
                self.stop()
                raise TimeoutError(f"{self.label} worker did not answer in {timeout:.0f} s")
        try:
            return self.conn.recv()
        except EOFError:
            self.process.join(5)
            raise RuntimeError(f"{self.label} worker crashed "
                               f"(exit code {self.process.exitcode}){self._log_tail()}") from None

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                tail = f.read()[-2000:].strip()
        except OSError:
            return ""
        return f"; its stderr ended with:\n{tail}" if tail else ""

    def run(self, job, timeout: float):
        self.conn.send(job)
        return self._recv(timeout)

    def stop(self):
        self._stop_process()
        self._remove_log()

    def kill(self):
        """End the worker now (the run was stopped)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self._remove_log()

    def _remove_log(self):
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    def _stop_process(self):
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(2)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()


# -- workers reused across runs ------------------------------------------------------------

_POOL: dict[tuple, list[_Worker]] | None = None    # None: each run starts and stops its own
_POOL_LOCK = threading.Lock()


@contextlib.contextmanager
def reusing_workers():
    """Within the block, a run hands its idle workers on to the next run of the same label
    and environment (the conformance suites of one pytest session: each framework imports
    once, not once a suite); they stop when the block ends. A worker that crashed, hung or
    was stopped is not reused."""
    global _POOL
    if _POOL is not None:           # nested: the outer block owns the workers
        yield
        return
    _POOL = {}
    try:
        yield
    finally:
        with _POOL_LOCK:
            pool, _POOL = _POOL, None
        for workers in pool.values():
            for worker in workers:
                worker.stop()


def _pool_key(label, backend):
    module, env = backend
    return (label, module, tuple(sorted(env.items())))


def _start_worker(label, backend) -> _Worker:
    with _POOL_LOCK:
        idle = _POOL.get(_pool_key(label, backend)) if _POOL is not None else None
        if idle:
            return idle.pop()
    return _Worker(label, *backend)


def _finish_worker(worker: _Worker, label, backend) -> None:
    if _STOP.is_set():
        worker.kill()
        return
    with _POOL_LOCK:
        if _POOL is not None and (not worker.ok or worker.process.is_alive()):
            _POOL.setdefault(_pool_key(label, backend), []).append(worker)
            return
    worker.stop()


def _run_label(label, backend, label_cases, run_one, make_result, report):
    """Run one backend label's cases in one worker process, restarting it after a crash or
    a hang. ``run_one(worker, case)`` returns the case's result; ``make_result(case, status,
    message)`` builds a skipped or error result."""
    results, versions = [], {}
    worker = None
    for case in label_cases:
        if _STOP.is_set():
            break
        start = time.perf_counter()
        try:
            if worker is None:
                worker = _start_worker(label, backend)
                versions = worker.versions
            if not worker.ok:
                result = make_result(case, "skipped", worker.reason)
            else:
                result = run_one(worker, case)
        except Interrupted:
            break
        except (TimeoutError, RuntimeError) as e:
            if _STOP.is_set():          # a worker killed by the stop is not a failed case
                break
            result = make_result(case, "error", str(e))
            if worker is not None:
                worker.stop()
            worker = None
        except Exception as e:
            result = make_result(case, "error", f"{type(e).__name__}: {e}")
        result.seconds = time.perf_counter() - start
        results.append(result)
        report(result)
    if worker is not None:
        _finish_worker(worker, label, backend)
    return results, versions


def run_in_workers(case_list: list[Case], run_one, make_result, *, jobs: int | None = None,
                   progress: Callable[[str], None] | None = print, backends=None):
    """Run cases grouped by backend label, ``jobs`` labels at a time (default: the CPU
    count, at most 4), each label in its own worker process; ``progress`` receives one line
    per finished case, with the time elapsed and an estimate of the time left. Returns
    ``(results in case order, versions by label)``: after :func:`request_stop`, those of
    the cases that finished."""
    check_run_options(jobs)
    backends = OPTIMIZER_LABELS if backends is None else backends
    by_label: dict[str, list[Case]] = {}
    for case in case_list:
        by_label.setdefault(case.label, []).append(case)
    done = [0]
    lock = threading.Lock()
    started = time.monotonic()

    def report(result):
        with lock:
            done[0] += 1
            for sink in _SINKS:
                sink(result)
            if progress:
                extra = f" ({result.message.splitlines()[0]})" if result.message else ""
                elapsed = time.monotonic() - started
                left = elapsed / done[0] * (len(case_list) - done[0])
                progress(f"[{done[0]:>4}/{len(case_list)} {_clock(elapsed)}, "
                         f"{_clock(left)} left] {result.status:<13} {result.case.id}{extra}")

    jobs = jobs or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {label: pool.submit(_run_label, label, backends[label], label_cases,
                                      run_one, make_result, report)
                   for label, label_cases in by_label.items()}
        results, versions = [], {}
        for label, future in futures.items():
            label_results, versions[label] = future.result()
            results.extend(label_results)
    order = {c.id: i for i, c in enumerate(case_list)}
    results.sort(key=lambda r: order[r.case.id])
    return results, versions


def run_cases(case_list: list[Case], steps: int = STEPS, seed: int = 0, device: str = "cpu",
              jobs: int | None = None, timeout: float = TIMEOUT_S,
              progress: Callable[[str], None] | None = print, backends=None,
              shape: tuple[int, ...] = SHAPE, inputs=None):
    """Run every optimizer case on one ``shape`` parameter tensor; return ``(results,
    versions by label, references)``.

    ``inputs=(param0, grads)`` runs the cases on those instead: a parameter tree (dict name
    -> array) and its gradient streams (dict name -> ``(steps, *shape)``), judged as the
    real workload (:mod:`eps_ref.conformance.workload`). ``backends`` maps a label to
    ``(adapter module, environment)`` (default :data:`eps_ref.backends.OPTIMIZER_LABELS`);
    see :func:`run_in_workers`.
    """
    check_run_options(jobs, timeout)
    if inputs is None:
        param0 = initial_params(seed, shape)
        grads = gradient_stream(steps, seed, shape)
        setting = "standard" if tuple(shape) == SHAPE else "odd shape"
    else:
        param0, grads = inputs
        setting = "workload"
    cache: dict = {}
    locks: dict = {}
    cache_lock = threading.Lock()

    def references(case: Case, threads: int = 1):
        # a compiled label shares its eager label's reference
        key = (case.spec, case.variant, eager_label(case.label), threads)
        with cache_lock:
            lock = locks.setdefault(key, threading.Lock())
        with lock:   # one computation per key; different keys run side by side
            if key not in cache:
                cache[key] = reference_trajectory(case.spec, dict(case.kwargs), param0, grads,
                                                  case.label, case.optimizer, threads)
            return cache[key]

    def run_one(worker: _Worker, case: Case) -> Result:
        # The reductions split over threads need the worker's own intra-op thread count.
        reference = references(case, int(worker.versions.get("intra-op threads", 1)))
        if case.optimizer is None:
            args = (case.spec, dict(case.kwargs), param0, grads, device)
        else:   # a clip: the adapter runs the optimizer with the clip in front
            opt, opt_kwargs = case.optimizer
            args = (opt, dict(opt_kwargs), param0, grads, device,
                    [(case.spec, dict(case.kwargs))])
        kind, payload = worker.run(("run_optimizer", args), timeout)
        if kind == "error":
            return Result(case, "error", payload)
        comparison = compare(reference, payload)
        status, message = _judge(case, comparison, setting)
        return Result(case, status, message, comparison, payload)

    results, versions = run_in_workers(case_list, run_one, Result, jobs=jobs,
                                       progress=progress, backends=backends)
    return results, versions, cache

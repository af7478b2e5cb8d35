"""The journal of a conformance run: every case's result on disk as soon as it ends.

``results.jsonl`` in the report folder gets one JSON object a line: a ``"run"`` header (the
command, the selection, the time), then one ``"case"`` record per finished case (its
section, id, status, message, ULP summary), then an ``"end"`` record (``"complete"``,
``"SIGINT"``, ``"SIGTERM"`` or the exception that ended the run). A run that fails, is
interrupted or crashes therefore still leaves what finished; :meth:`Journal.write_partial`
also writes ``report.md`` and ``report.json`` from the journal, marked partial, for a run
that did not get to the full report.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["Journal", "JOURNAL", "read_journal"]

JOURNAL = "results.jsonl"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _plain(x):
    """``x`` as JSON can hold it (tuples as lists, NaN and infinities as strings)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if hasattr(x, "item") and getattr(x, "shape", None) == ():
        return _plain(x.item())
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return repr(x)


class Journal:
    """Opens (truncates) ``out_dir/results.jsonl`` for a run, which is also the check
    that the report folder can be written: an ``OSError`` here comes before any case."""

    def __init__(self, out_dir, run: dict):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / JOURNAL
        self._file = open(self.path, "w")
        self._lock = threading.Lock()
        self.section = "optimizer cases"
        self.records: list[dict] = []
        self._write({"run": _plain({**run, "started": _now()})})

    def _write(self, record: dict) -> None:
        with self._lock:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def record(self, result) -> None:
        """One finished case (a :class:`~eps_ref.conformance.runner.Result` or a layer
        result); called as the case ends."""
        c = result.comparison
        summary = c.summary() if c is not None and hasattr(c, "summary") else {}
        record = {"section": self.section, "id": result.case.id, "spec": result.case.spec,
                  "variant": result.case.variant, "backend": result.case.label,
                  "status": result.status, "message": result.message,
                  "seconds": round(getattr(result, "seconds", 0.0), 3), **summary}
        record = _plain(record)
        self.records.append(record)
        self._write({"case": record})

    def end(self, how: str, **extra) -> None:
        """The last record: ``how`` the run ended (``"complete"``, a signal's name, or the
        exception); closes the file."""
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        self._write({"end": _plain({"how": how, "finished": _now(), "cases": len(self.records),
                                    "counts": counts, **extra})})
        self._file.close()

    def write_partial(self, how: str, planned: int | None = None) -> Path:
        """``report.md`` and ``report.json`` from the cases that finished, marked partial
        (no plots, no porting gaps: those need the run to complete)."""
        lines = [f"# Conformance report (partial: the run ended by {how} after "
                 f"{len(self.records)}" + (f" of {planned}" if planned else "") + " cases)",
                 "", f"Every finished case is below and, one JSON object a line, in "
                 f"`{JOURNAL}`. Run again for the full report.", ""]
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        lines += ["Totals: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                                or "no case finished"), ""]
        if self.records:
            lines += ["| section | spec | variant | backend | status | max ULP | "
                      "first divergent step | note |", "|---|---|---|---|---|---|---|---|"]
            for r in self.records:
                note = (r["message"].splitlines() or [""])[0].replace("|", "/")
                lines.append(f"| {r['section']} | `{r['spec']}` | {r['variant']} | "
                             f"{r['backend']} | {r['status']} | {r.get('max_ulp', '-')} | "
                             f"{r.get('first_divergent_step') or '-'} | {note} |")
        (self.out / "report.md").write_text("\n".join(lines) + "\n")
        (self.out / "report.json").write_text(json.dumps(
            {"meta": {"partial": True, "ended_by": how, "planned_cases": planned,
                      "date": _now()}, "cases": self.records}, indent=1))
        return self.out


def read_journal(path) -> list[dict]:
    """The records of a journal, including one whose last line was cut off by a kill."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"{path}: skipping an unfinished last line", file=sys.stderr)
    return records

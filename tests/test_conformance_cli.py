"""`eps-ref conformance` never loses its results: the report folder is checked before the
first case, every case goes to results.jsonl as it ends, and a failed, interrupted or
crashed run leaves a partial report; bad options are refused up front (issue 18)."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from eps_ref import cli
from eps_ref.conformance import runner
from eps_ref.conformance.cases import Case
from eps_ref.conformance.journal import read_journal

FAKE = {"fake": ("fake_backend", {})}
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.parametrize("argv, message", [
    (["conformance", "--timeout", "0"], "--timeout: '0': give a positive number of seconds"),
    (["conformance", "--timeout", "-1"], "give a positive number of seconds"),
    (["conformance", "--timeout", "nan"], "give a positive number of seconds"),
    (["conformance", "--jobs", "-1"], "--jobs: '-1': give a positive whole number"),
    (["conformance", "--jobs", "0"], "give a positive whole number"),
    (["conformance", "--framework", "pytorch"],
     "unknown framework 'pytorch'; did you mean 'torch'"),
    (["specs", "--framework", "pytorch"], "unknown framework 'pytorch'; did you mean 'torch'"),
    (["bench", "--framework", "tf"], "unknown framework 'tf'; did you mean 'tf1'"),
])
def test_bad_options_are_refused_up_front(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_misspelt_spec_gets_suggestions(tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["conformance", "--spec", "torch.optim.SDG", "--out", str(out)]) == 2
    assert "unknown spec 'torch.optim.SDG'; did you mean 'torch.optim.SGD'" in \
        capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_out_fails_before_the_first_case(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    start = time.perf_counter()
    code = cli.main(["conformance", "--framework", "torch", "--spec", "torch.optim.SGD",
                     "--out", str(blocker / "report")])
    assert code == 2 and time.perf_counter() - start < 5
    captured = capsys.readouterr()
    assert "cannot write the report to" in captured.err and "Traceback" not in captured.err
    assert "[   1/" not in captured.out                       # no case ran


def _fake_cli(monkeypatch):
    """The CLI's torch cases run against the fake backend (tests/fake_backend.py)."""
    monkeypatch.setattr(runner, "OPTIMIZER_LABELS", {"torch": ("fake_backend", {})})


def test_a_crash_leaves_the_finished_cases(tmp_path, monkeypatch):
    _fake_cli(monkeypatch)
    import eps_ref.conformance.report as report

    def broken(*args, **kwargs):
        raise RuntimeError("the report writer broke")
    monkeypatch.setattr(report, "write_report", broken)
    out = tmp_path / "report"
    with pytest.raises(RuntimeError, match="the report writer broke"):
        cli.main(["conformance", "--framework", "torch", "--spec", "torch.optim.SGD",
                  "--steps", "3", "--workload-steps", "0", "--schedule-steps", "0",
                  "--out", str(out)])
    records = read_journal(out / "results.jsonl")
    cases = [r["case"] for r in records if "case" in r]
    assert len(cases) == 11 and {c["status"] for c in cases} == {"exact"}
    assert records[-1]["end"]["how"] == "RuntimeError: the report writer broke"
    assert "partial: the run ended by RuntimeError" in (out / "report.md").read_text()
    assert json.loads((out / "report.json").read_text())["meta"]["partial"] is True


def test_a_stop_ends_a_hanging_case_within_seconds():
    """lr=0.2 makes the fake worker hang for 10 minutes; a stop ends the run at once, keeps
    the cases that finished, and streams each as it ends."""
    plan = [Case("torch.optim.SGD", "fine", "fake", {"lr": 0.03}),
            Case("torch.optim.SGD", "hang", "fake", {"lr": 0.2}),
            Case("torch.optim.SGD", "never", "fake", {"lr": 0.04})]
    streamed, stopped_at = [], []

    def stop():
        stopped_at.append(time.perf_counter())
        runner.request_stop("test")
    timer = threading.Timer(0.5, stop)

    def on_result(result):      # the hanging case starts next: stop the run during it
        streamed.append(result)
        timer.start()
    try:
        with runner.streaming(on_result):
            results, _, _ = runner.run_cases(plan, steps=3, timeout=600, progress=None,
                                             backends=FAKE)
        assert runner.stop_requested() == "test"
    finally:
        timer.cancel()
        runner.reset_stop()
    assert time.perf_counter() - stopped_at[0] < 3
    assert [r.case.variant for r in results] == ["fine"] == [r.case.variant for r in streamed]


def test_progress_shows_elapsed_and_time_left():
    lines = []
    plan = [Case("torch.optim.SGD", v, "fake", {"lr": lr}) for v, lr in [("a", 0.03), ("b", 0.04)]]
    runner.run_cases(plan, steps=2, timeout=60, progress=lines.append, backends=FAKE)
    assert lines[0].startswith("[   1/2 00:0") and "left] exact" in lines[0]
    assert "00:00 left]" in lines[-1]


def test_a_complete_run_streams_every_case(tmp_path, monkeypatch, capsys):
    _fake_cli(monkeypatch)
    import eps_ref.conformance.report as report
    written = []

    def write_report(results, versions, out_dir, steps, **kwargs):  # the plots take seconds
        written.extend(r.case.id for r in results)
        return Path(out_dir)
    monkeypatch.setattr(report, "write_report", write_report)
    out = tmp_path / "report"
    assert cli.main(["conformance", "--framework", "torch", "--spec", "torch.optim.SGD",
                     "--steps", "3", "--workload-steps", "0", "--schedule-steps", "0",
                     "--out", str(out)]) == 0
    records = read_journal(out / "results.jsonl")
    assert records[0]["run"]["steps"] == 3 and records[-1]["end"]["how"] == "complete"
    cases = [r["case"] for r in records if "case" in r]
    assert sorted(c["id"] for c in cases) == sorted(written) and len(written) == 11
    assert all(c["status"] == "exact" for c in cases), cases
    assert "left] exact" in capsys.readouterr().out


@pytest.mark.parametrize("signum, to_group, code", [(signal.SIGINT, True, 130),
                                                    (signal.SIGTERM, False, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_stops_within_seconds_and_keeps_its_results(tmp_path, signum,
                                                                       to_group, code):
    """Ctrl-C reaches the whole process group (workers included); SIGTERM the parent."""
    if not HAS_TORCH:
        pytest.skip("torch is not installed")
    out = tmp_path / "report"
    journal = out / "results.jsonl"
    run = subprocess.Popen([sys.executable, "-m", "eps_ref.cli", "conformance", "--framework",
                            "torch", "--steps", "1000", "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
                journal.exists() and '{"case"' in journal.read_text()):
            time.sleep(0.1)
        sent = time.monotonic()
        if to_group:
            os.killpg(run.pid, signum)
        else:
            run.send_signal(signum)
        _, err = run.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == code, err[-2000:]
    assert took < 5, took
    assert "Traceback" not in err
    records = read_journal(journal)
    finished = [r["case"] for r in records if "case" in r]
    assert finished and records[-1]["end"]["how"] == signal.Signals(signum).name
    report = (out / "report.md").read_text()
    assert f"partial: the run ended by {signal.Signals(signum).name} after {len(finished)} " \
        in report
    assert all(f"`{c['spec']}` | {c['variant']} |" in report for c in finished)
    time.sleep(0.5)
    assert _in_group(run.pid) == []


def _in_group(pgid: int) -> list[int]:
    """Live processes still in process group ``pgid`` (the run's workers may not outlive
    it; a zombie has ended, waiting for init to reap it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found

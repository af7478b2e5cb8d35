"""The report is written from the oracle alone: porting gaps and the distance from the
papers need no framework."""

import json

import pytest

from eps_ref.conformance.report import write_report


def test_report_without_framework_runs(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "ulp_not_exact.png").write_bytes(b"from an earlier run")
    out = write_report([], {}, tmp_path, steps=30)
    md = (out / "report.md").read_text()
    assert "## Porting gap" in md and "Distance from the paper" in md
    doc = json.loads((out / "report.json").read_text())
    assert doc["meta"]["steps"] == 30 and doc["porting_gaps"] and doc["paper_distance"]
    adam = next(g for g in doc["porting_gaps"] if g["title"].startswith("Adam at"))
    keras = next(m for m in adam["members"] if m["spec"] == "keras.optimizers.Adam")
    assert keras["first_differing_step"] == 1 and keras["max_abs_diff"] > 1e-5
    plots = {p.name for p in (out / "plots").glob("*.png")}
    assert len(plots) >= len(doc["porting_gaps"])
    shown = {line.split("(plots/")[1].rstrip(")") for line in md.splitlines()
             if line.startswith("![")}
    assert plots == shown  # the earlier run's plot is gone, every plot written is shown

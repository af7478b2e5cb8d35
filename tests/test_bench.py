"""``eps-ref bench`` runs and reports; the timings themselves are not asserted (they
depend on the machine)."""

import json

import pytest

from eps_ref import bench
from eps_ref.cli import main


def test_sizes_parse_to_canonical_names():
    assert [bench.parse_size(s) for s in ("1e6", "1000000", "tree", "12345")] == [
        "1e6", "1e6", "tree", "12345"]
    with pytest.raises(ValueError):
        bench.parse_size("big")
    assert sum(map(bench.math.prod, bench.TREE_SHAPES)) == 201_226
    assert len(bench.TREE_SHAPES) == 25
    assert bench._shapes("1e7", matrix_only=False) == [(10_000, 1000)]
    assert bench._shapes("12345", matrix_only=True) == [(1, 12345)]


def test_reference_only_spec_runs_in_a_worker(tmp_path):
    results = bench.run(["paper.adam"], ["1e3", "tree"], repeat=1, progress=lambda _: None)
    assert {r.size for r in results} == {"1e3", "tree"}
    for r in results:
        ref = r.timings["reference"]
        assert ref["seconds"] > 0 and ref["peak_bytes"] > 0, ref
        assert r.timings["floor"]["seconds"] > 0
        assert r.bytes_moved == 3 * 4 * r.elements + 2 * 2 * 4 * r.elements   # m and v
        assert r.ratio() is None                      # paper.* has no framework step
    out = bench.write(results, tmp_path)
    assert "paper.adam" in (out / "bench.md").read_text()
    assert json.loads((out / "bench.json").read_text())[0]["spec"] == "paper.adam"


def test_cli_rejects_a_layer_and_a_bad_size(capsys):
    assert main(["bench", "--spec", "torch.nn.LayerNorm", "--sizes", "1e3"]) == 2
    assert main(["bench", "--sizes", "huge"]) == 2

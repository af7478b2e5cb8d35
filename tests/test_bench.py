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


def _result(spec, label, size, ref, base, naive=None, numpy_only=None, peak=0, held=0):
    impl = bench.DEFAULT_IMPL.get(label)
    timings = {"reference": {"seconds": ref, "peak_bytes": peak}}
    if impl:
        timings[impl] = {"seconds": base}
    if naive:
        timings["naive numpy"] = {"seconds": naive}
    if numpy_only:
        timings["reference numpy"] = {"seconds": numpy_only}
    return bench.Result(spec, label, size, int(float(size)), param_bytes=held // 2,
                        state_bytes=held - held // 2, timings=timings)


def test_the_document_lists_every_step_over_the_targets_with_its_measurements():
    results = [
        _result("torch.optim.Adam", "torch", "1e6", 0.009, 0.002, naive=0.0025,
                numpy_only=0.016, peak=10, held=8),
        _result("torch.optim.SGD", "torch", "1e6", 0.001, 0.0008, naive=0.0006, peak=5, held=8),
        _result("optax.lars", "optax", "1e7", 0.2, 0.01, peak=100, held=8),
        _result("torch.optim.SGD", "torch", "1e4", 1.0, 0.001),      # not a target size
    ]
    text = bench.document(results, command="eps-ref bench --doc x.md", seconds=60)
    assert "1 of 3 spec/backend steps at 1e6 and 1e7 are within 2x" in text
    adam = next(line for line in text.splitlines() if line.startswith("| `torch.optim.Adam`"))
    assert "4.50x" in adam and "1.25x the framework" in adam and "3.60x the formula" in adam
    assert "1.8x slower" in adam                             # without the compiled kernels
    lars = next(line for line in text.splitlines() if line.startswith("| `optax.lars`"))
    assert "20.00x" in lars and "XLA:CPU" in lars            # the family's note
    assert "| `torch.optim.SGD` | torch | 1e6 |" not in text.split("## Every step")[0]
    assert "2 of 3 reference steps allocate at most 3x" in text   # one has no sizes
    assert "| `optax.lars` | optax | 1e7 | 12.5 |" in text
    assert ("1e6 (medians over the steps measured): the reference takes 3.60x the in-place "
            "NumPy formula; the formula 1.25x the framework's step; the compiled kernels make "
            "1 of 1 reference steps more than 1.1x faster, by 1.8x (median; up to 2x)") in text


def test_cli_writes_the_document_with_its_data(tmp_path):
    doc = tmp_path / "performance.md"
    assert main(["bench", "--spec", "paper.sgdw", "--sizes", "1e3", "--repeat", "1",
                 "--doc", str(doc)]) == 0
    assert "paper.sgdw" in doc.read_text() and "## Targets" in doc.read_text()
    assert json.loads(doc.with_suffix(".json").read_text())[0]["spec"] == "paper.sgdw"

"""docs/semantics.md is generated from the spec tables and must be current."""

from pathlib import Path

import eps_ref
from eps_ref.docs import semantics_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "semantics.md"


def test_semantics_doc_is_current():
    assert DOC.read_text() == semantics_markdown(), "run `eps-ref semantics` to regenerate"


def test_every_spec_is_in_the_doc():
    text = DOC.read_text()
    for name in eps_ref.specs():
        assert f"[`{name}`]" in text


def test_side_by_side_table_has_a_cell_for_every_optimizer():
    from eps_ref.docs import SIDE_BY_SIDE, family, side_by_side_markdown
    table = side_by_side_markdown()
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| family")}
    for name in eps_ref.specs(kind="optimizer"):
        s = eps_ref.spec(name)
        if s.framework not in SIDE_BY_SIDE:
            continue
        cells = rows[family(s)].split(" | ")
        cell = cells[1 + SIDE_BY_SIDE.index(s.framework)]
        assert f"**{name.rsplit('.', 1)[-1]}**" in cell, name
        for k, v in s.defaults.items():
            if k in ("eps", "epsilon") and k not in s.inert:
                assert f"`{k}=" in cell, (name, k)


def test_out_of_scope_optimizers_are_explained():
    text = DOC.read_text()
    for name in ("torch.optim.LBFGS", "torch.optim.SparseAdam"):
        assert f"`{name}`" in text

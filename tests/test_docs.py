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

"""docs/api-reference.md's tables are generated from the models, and kept in sync."""

from __future__ import annotations

from pathlib import Path

from ccc.api.reference import render, update

DOC = Path(__file__).resolve().parents[2] / "docs" / "api-reference.md"


def test_the_generated_tables_in_the_api_reference_are_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert update(text) == text, (
        "docs/api-reference.md is stale; run: .venv/bin/python -m ccc.api.reference "
        "docs/api-reference.md"
    )


def test_the_generated_block_lists_every_cross_field_rule_and_a_nested_field() -> None:
    block = render()
    assert "`flex-start-excludes-spot`" in block
    assert "### `spec.priorities[].reservations.specific[]`" in block
    assert "| `whenUnsatisfiable` | string | `DoNotScaleUp` |" in block

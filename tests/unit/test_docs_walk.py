"""The docs about the walk say what the code does: the guide's table of fields not acted on is
the registry's, the shipped examples set nodePoolAutoCreation and stay in one region, and the
plan shown in docs/plan.md is what ``ccc plan`` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ccc.api.values import region_of
from ccc.cli.main import app
from policies.unacted import markdown_rows

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "computeclass-guide.md"
PLAN_DOC = REPO / "docs" / "plan.md"
CLASSES = sorted((REPO / "examples" / "computeclasses").glob("*.yaml"))


def test_the_guide_lists_exactly_the_fields_ccc_does_not_act_on() -> None:
    text = GUIDE.read_text()
    start = text.index("<!-- unacted-table:start -->\n") + len("<!-- unacted-table:start -->\n")
    end = text.index("<!-- unacted-table:end -->")
    assert text[start:end].splitlines() == markdown_rows(), (
        "regenerate the table in docs/computeclass-guide.md from policies.unacted.markdown_rows()"
    )


@pytest.mark.parametrize("path", CLASSES, ids=[p.name for p in CLASSES])
def test_shipped_examples_set_auto_creation_explicitly_and_name_one_region(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert "enabled" in doc["spec"]["nodePoolAutoCreation"]
    result = CliRunner().invoke(app, ["plan", str(path), "-n", "1", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert not [w for w in plan["warnings"] if "outside the cluster's region" in w]
    assert all(region_of(a["zone"]) == plan["region"] for a in plan["attempts"] if a["zone"])


def test_the_plan_in_the_docs_is_what_ccc_plan_prints() -> None:
    text = PLAN_DOC.read_text()
    block = text[text.index("$ ccc plan examples/computeclasses/llm-inference-ladder.yaml") :]
    lines = block[: block.index("```")].splitlines()
    doc_rows = [line.split()[:7] for line in lines if line[:3].strip().isdigit()]
    result = CliRunner().invoke(
        app,
        [
            "plan",
            str(REPO / "examples/computeclasses/llm-inference-ladder.yaml"),
            "-w",
            str(REPO / "examples/workloads/llm-inference.yaml"),
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    attempts = json.loads(result.stdout)["attempts"]
    got = [
        [
            str(i),
            str(a["rule"]),
            a["zone"] or "-",
            a["capacityType"] or "-",
            a["machineType"],
            str(a["nodes"] or "-"),
        ]
        for i, a in enumerate(attempts, 1)
    ]
    assert [row[:6] for row in doc_rows] == got

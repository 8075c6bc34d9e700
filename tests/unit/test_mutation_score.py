"""hack/mutation/score.py: how survivors are classified from hack/mutation/reviewed.toml, and
that an unreviewed survivor fails the gate (docs/testing.md, "Surviving mutants")."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _score() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_score", ROOT / "hack/mutation/score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_score"] = module
    spec.loader.exec_module(module)
    return module


score = _score()
NAME = "policies.disruption.x_expiry__mutmut_65"
REVIEWED = {
    "mutant": {NAME: {"kind": "equivalent", "diff": "- a  →  + b", "reason": "same"}},
    "function": [{"name": "policies.serving.x__explain", "kind": "message", "reason": "text"}],
}


def test_a_survivor_is_reviewed_by_its_name_and_the_change_it_was_reviewed_under() -> None:
    assert score.classify(NAME, "- a  →  + b", REVIEWED) == ("equivalent", "same")


def test_a_renumbered_mutant_with_another_change_is_unreviewed() -> None:
    kind, why = score.classify(NAME, "- a  →  + c", REVIEWED)
    assert kind == "unreviewed" and "the function changed" in why


def test_a_function_entry_covers_every_mutant_of_that_function_only() -> None:
    assert score.classify("policies.serving.x__explain__mutmut_7", "-", REVIEWED)[0] == "message"
    assert score.classify("policies.serving.x__explain_more__mutmut_1", "-", REVIEWED)[0] == (
        "unreviewed"
    )
    assert score.classify("policies.walk.x_walk__mutmut_1", "-", REVIEWED)[0] == "unreviewed"


@pytest.mark.parametrize(
    ("total", "below", "unreviewed", "allow", "ok"),
    [
        (92.0, [], 0, False, True),
        (89.9, [], 0, False, False),
        (95.0, ["policies.commands"], 0, False, False),
        (95.0, [], 1, False, False),  # an unreviewed survivor never passes silently
        (95.0, [], 1, True, True),  # unless asked to, to measure before the review
    ],
)
def test_the_gate_needs_the_rates_and_every_survivor_reviewed(
    total: float, below: list[str], unreviewed: int, allow: bool, ok: bool
) -> None:
    survivors = [score.Survivor(NAME, "survived", "-", "unreviewed", "")] * unreviewed
    assert score.passes(total, 90.0, below, survivors, allow_unreviewed=allow) is ok


def test_module_names_and_one_line_changes_are_read_from_mutmut_output() -> None:
    assert score.module_of("policies.walk.x_walk_group__mutmut_3") == "policies.walk"
    assert score.module_of("policies.state.xǁControllerStateǁbump__mutmut_1") == "policies.state"
    diff = "--- a\n+++ a\n@@ -1 +1 @@\n-    if x > 1:\n+    if x >= 1:"
    assert score.one_line(diff) == "- if x > 1:  →  + if x >= 1:"


def test_the_checked_in_review_uses_known_kinds_and_names_a_change_for_each_mutant() -> None:
    data = tomllib.loads((ROOT / "hack/mutation/reviewed.toml").read_text())
    for name, entry in data.get("mutant", {}).items():
        assert entry["kind"] in score.KINDS, name
        assert entry["diff"] and entry["reason"], name
    for entry in data.get("function", []):
        assert entry["kind"] in score.KINDS and entry["reason"], entry


def _toml(path: Path, name: str, kind: str) -> Path:
    path.write_text(f'[mutant."{name}"]\nkind = "{kind}"\ndiff = "-"\nreason = "r"\n')
    return path


def test_reviews_in_several_files_are_merged(tmp_path: Path) -> None:
    a = _toml(tmp_path / "a.toml", "policies.a.x_f__mutmut_1", "equivalent")
    b = _toml(tmp_path / "b.toml", "policies.b.x_g__mutmut_1", "message")
    merged = score.load_reviewed(a, b, tmp_path / "missing.toml")
    assert set(merged["mutant"]) == {"policies.a.x_f__mutmut_1", "policies.b.x_g__mutmut_1"}


def test_a_mutant_reviewed_in_two_files_is_an_error(tmp_path: Path) -> None:
    a = _toml(tmp_path / "a.toml", "policies.a.x_f__mutmut_1", "equivalent")
    b = _toml(tmp_path / "b.toml", "policies.a.x_f__mutmut_1", "message")
    with pytest.raises(SystemExit, match="another file"):
        score.load_reviewed(a, b)


def test_an_unknown_kind_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not one of"):
        score.load_reviewed(_toml(tmp_path / "a.toml", "policies.a.x_f__mutmut_1", "fine"))


def test_survivors_that_change_only_text_leave_the_decision_rate_of_their_module() -> None:
    counts = Counter({"killed": 80, "survived": 20})
    assert score.rate(counts)[2] == 80.0
    assert score.decision_rate(counts, text_only=10) == pytest.approx(80 / 90 * 100)
    assert score.decision_rate(counts, text_only=20) == 100.0


def test_a_module_whose_every_mutant_only_changes_text_counts_as_fully_killed() -> None:
    assert score.decision_rate(Counter({"survived": 3}), text_only=3) == 100.0


def test_every_checked_in_review_file_uses_known_kinds_and_names_a_change() -> None:
    for path in score.reviewed_files():
        data = score.load_reviewed(path)
        for name, entry in data["mutant"].items():
            assert entry["diff"] and entry["reason"], (path, name)
        for entry in data["function"]:
            assert entry["reason"], (path, entry)

"""docs/simulate.md stays true: its Python example runs and writes the report it promises, and
its scenario and CSV examples parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ccc.simulate.scenario import parse_scenario
from providers.simulated.trace_csv import parse_csv_trace

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulate.md"


def block(language: str, index: int = 0) -> str:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)[index]


def test_the_lower_bound_example_runs_and_writes_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(block("python"), str(DOC), "exec"), {})

    assert re.fullmatch(r"\d+ USD, served 1\.000\n", capsys.readouterr().out)
    page = (tmp_path / "bound.html").read_text()
    assert "Clairvoyant bound, 16 x H100, us-central1, 3 days" in page
    assert page.count("data:image/png;base64,") == 3


def test_the_scenario_example_parses() -> None:
    assert len(parse_scenario(block("yaml"), origin="doc").events) == 5


def test_the_csv_example_parses() -> None:
    assert len(parse_csv_trace(block("csv"), origin="doc").series) == 2

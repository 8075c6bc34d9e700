"""The human forms of a simulate result: the table, the HTML report, the progress bar; and
matplotlib staying out of every import path that does not draw a report."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console

from ccc.simulate.progress import SimulationProgress
from ccc.simulate.recorder import Recorder
from ccc.simulate.report import (
    cumulative_cost,
    cumulative_on_demand,
    node_series,
    render_report,
    write_report,
)
from ccc.simulate.table import render_table, top_decisions
from tests.simulate_runs import OD_REFERENCE, T0, at, book, busy_run, preemption_run

REPO = Path(__file__).resolve().parents[2]


def test_the_table_gives_the_summary_and_the_most_frequent_decisions_first() -> None:
    out = io.StringIO()
    render_table(busy_run(), Console(file=out, width=200, color_system=None))
    text = out.getvalue()

    assert "ccc simulate us-central1: 2026-01-01T00:00:00Z to 2026-01-02T00:00:00Z" in text
    assert re.search(r"served fraction\s+│\s+95\.8333%", text), text
    assert re.search(r"stockouts\s+│\s+48", text)
    assert "top decisions (49 in all)" in text
    decisions = text[text.index("top decisions") :].splitlines()
    rows = [line for line in decisions if "mark-unavailable" in line or "provision" in line]
    assert "48" in rows[0] and "mark-unavailable" in rows[0]
    assert "provision" in rows[1]


def test_top_decisions_groups_by_command_and_reason_with_first_and_last_times() -> None:
    groups = top_decisions(busy_run().decisions, limit=1)
    assert [(g.count, g.reason, g.first, g.last) for g in groups] == [
        (48, "stockout", "2026-01-01T00:00:00Z", "2026-01-01T23:30:00Z")
    ]


def test_the_report_is_one_self_contained_page_with_three_plots(tmp_path: Path) -> None:
    baseline = preemption_run()
    path = tmp_path / "report.html"
    write_report(
        path,
        busy_run(),
        title="h100 class",
        baselines={"clairvoyant bound": baseline},
        on_demand=OD_REFERENCE,
        notes=["trace: skynomad-h100 (Apache-2.0, SkyNomad authors)"],
    )
    page = path.read_text()

    assert page.startswith("<!doctype html>")
    assert "<h1>h100 class</h1>" in page
    assert "trace: skynomad-h100" in page
    assert "cost of clairvoyant bound" in page
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert not re.search(r"(src|href)=['\"](?!data:)", page)  # nothing to fetch
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "reason &amp; more" in page
    assert "a3-highgpu-1g/us-central1-a/on-demand</td><td class='n'>6.0000" in page


def test_a_run_without_any_state_still_renders_a_report() -> None:
    empty = Recorder(start=T0, region="r", prices=book()).finish(at(60))
    page = render_report(empty)
    assert "<img" not in page and "0 decisions in all" in page


def test_the_nodes_plot_stacks_spot_zones_before_on_demand() -> None:
    stacks = node_series(busy_run(hours=1))
    assert stacks == [
        ("spot", "spot us-central1-a", [6, 3]),
        ("spot", "spot us-central1-b", [2, 3]),
        ("on-demand", "on-demand us-central1-a", [0, 2]),
    ]


def test_cumulative_costs_end_at_the_summary_totals() -> None:
    run = preemption_run()
    times, totals = cumulative_cost(run)
    assert (times[0], times[-1]) == (T0, at(240))
    assert totals[-1] == pytest.approx(run.summary.cost)
    assert totals == sorted(totals)
    for reference in (OD_REFERENCE, None):
        _, on_demand = cumulative_on_demand(run, reference)
        assert on_demand[-1] == pytest.approx(run.summary.on_demand_cost)


def test_the_progress_bar_follows_virtual_time_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with SimulationProgress(T0, T0 + timedelta(days=14), console=console) as progress:
        progress.update(T0 + timedelta(days=7))
        assert progress.fraction == 0.5
    assert "50%" in out.getvalue()
    assert "2026-01-08T00:00:00Z" in out.getvalue()


def test_the_progress_bar_stays_silent_off_a_terminal() -> None:
    out = io.StringIO()
    with SimulationProgress(T0, at(60), console=Console(file=out)) as progress:
        progress.update(at(30))
        assert progress.fraction == 0.5
    assert out.getvalue() == ""


def test_nothing_but_drawing_a_report_imports_matplotlib() -> None:
    code = (
        "import sys\n"
        "import ccc.cli.main, ccc.simulate.report, ccc.simulate.table, ccc.simulate.progress\n"
        "import ccc.simulate.bound, ccc.simulate.on_demand, providers.simulated.trace_sources\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr

"""``ccc simulate -o table``: the summary and the top decisions of a result, for a terminal.

"Top decisions" are the commands grouped by (command, reason), most frequent first (ties: the
earliest first), with how often and when they first and last happened: what a reader wants to
know is which decisions dominated the run, not the first few of thousands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from ccc.api.duration import format_duration
from ccc.simulate.result import Decision, SimulationResult


@dataclass(frozen=True, slots=True)
class DecisionGroup:
    """Decisions with the same command and reason."""

    command: str
    reason: str
    count: int
    first: str
    last: str


def top_decisions(decisions: Sequence[Decision], *, limit: int = 10) -> list[DecisionGroup]:
    """The ``limit`` most frequent (command, reason) pairs (see the module docstring)."""
    groups: dict[tuple[str, str], list[Decision]] = {}
    for d in decisions:
        groups.setdefault((d.command, d.reason), []).append(d)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0].t))
    return [
        DecisionGroup(command, reason, len(ds), ds[0].t, ds[-1].t)
        for (command, reason), ds in ranked[:limit]
    ]


def summary_rows(result: SimulationResult) -> list[tuple[str, str]]:
    """The summary as (metric, value) rows, as the table and the report show it."""
    s = result.summary
    return [
        ("served fraction", f"{s.served_fraction:.4%}"),
        ("time below target", format_duration(s.seconds_below_target)),
        ("cost", f"${s.cost:,.2f}"),
        ("on-demand cost", f"${s.on_demand_cost:,.2f}"),
        ("cost ÷ on-demand", f"{s.cost / s.on_demand_cost:.1%}" if s.on_demand_cost else "-"),
        ("preemptions", str(s.preemptions)),
        ("flex-start expiries", str(s.expiries)),
        ("stockouts", str(s.stockouts)),
        ("provisioning requests", str(s.provisioning_requests)),
        ("migrations", str(s.migrations)),
        ("serving shifts", str(s.shifts)),
    ]


def render_table(result: SimulationResult, console: Console, *, top: int = 10) -> None:
    """Print the summary, then the top decisions."""
    console.print(f"[bold]ccc simulate[/bold] {result.region}: {result.start} to {result.end}")
    summary = Table(title="summary")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    rows = summary_rows(result)
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    groups = top_decisions(result.decisions, limit=top)
    if not groups:
        console.print("no decisions")
        return
    decisions = Table(title=f"top decisions ({len(result.decisions)} in all)")
    for column in ("count", "command", "reason", "first", "last"):
        decisions.add_column(
            column, overflow="fold", justify="right" if column == "count" else "left"
        )
    for g in groups:
        decisions.add_row(str(g.count), g.command, g.reason, g.first, g.last)
    console.print(decisions)

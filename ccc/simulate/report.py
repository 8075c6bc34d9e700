"""``ccc simulate --report FILE.html``: one self-contained HTML page about a run.

It holds the summary, three plots drawn with matplotlib and embedded as PNG data URIs (no file
or network access is needed to view the page), the top decisions and the prices used:

1. demand and served over time (the shortfall shaded);
2. nodes held, stacked by capacity type and zone (machine type too when a run uses several);
3. cumulative cost against the cumulative cost of the on-demand reference and of any
   baselines (other policies or the clairvoyant bound run on the same inputs).

matplotlib is imported inside :func:`render_report` only, so importing this module (and
starting the CLI) stays fast; the figures use the object-oriented API with the Agg renderer and
touch no global pyplot state.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ccc.simulate.metrics import EPSILON, OnDemandReference
from ccc.simulate.result import SimulationResult, parse_iso, parse_offering_label
from ccc.simulate.table import summary_rows, top_decisions

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

#: Colour maps per capacity type, so a glance tells spot from on-demand.
_CMAPS = {"spot": "Blues", "on-demand": "Oranges", "flex-start": "Greens", "reservation": "Purples"}
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3;text-align:left}td.n{text-align:right}img{max-width:100%}
.muted{color:#666}
"""


def cumulative_cost(result: SimulationResult) -> tuple[list[datetime], list[float]]:
    """Cost accumulated by each timeline point's time and by the end (USD)."""
    start, end = parse_iso(result.start), parse_iso(result.end)
    times, totals = [start], [0.0]
    rate, t_prev = 0.0, start
    for p in result.timeline:
        t = max(start, min(parse_iso(p.t), end))
        totals.append(totals[-1] + rate * (t - t_prev).total_seconds() / 3600)
        times.append(t)
        rate, t_prev = p.cost_per_hour, t
    totals.append(totals[-1] + rate * (end - t_prev).total_seconds() / 3600)
    times.append(end)
    return times, totals


def cumulative_on_demand(
    result: SimulationResult, reference: OnDemandReference | None
) -> tuple[list[datetime], list[float]]:
    """What the demand costs on the on-demand reference, accumulated over time. Without the
    reference, the reported total is spread in proportion to demand (exact for one pod per
    node)."""
    start, end = parse_iso(result.start), parse_iso(result.end)
    times, totals = [start], [0.0]
    demand, t_prev = 0.0, start
    points = [(max(start, min(parse_iso(p.t), end)), p.demand) for p in result.timeline]
    for t, d in [*points, (end, 0.0)]:
        hours = (t - t_prev).total_seconds() / 3600
        rate = reference.nodes_for(demand) * reference.price_per_hour if reference else demand
        totals.append(totals[-1] + rate * hours)
        times.append(t)
        demand, t_prev = d, t
    if reference is None and totals[-1] > 0:
        scale = result.summary.on_demand_cost / totals[-1]
        totals = [v * scale for v in totals]
    return times, totals


def _steps(result: SimulationResult) -> tuple[list[datetime], list[float], list[float]]:
    end = parse_iso(result.end)
    times = [parse_iso(p.t) for p in result.timeline] + [end]
    demand = [p.demand for p in result.timeline]
    served = [p.served for p in result.timeline]
    return times, demand + demand[-1:], served + served[-1:]


def _x(times: Sequence[datetime]) -> np.ndarray:
    """Times as numpy datetimes (UTC, naive: numpy has no time zones), what matplotlib plots."""
    import numpy as np

    return np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[ms]")


def _plot_service(fig: Figure, result: SimulationResult) -> None:
    ax = fig.add_subplot()
    at, demand, served = _steps(result)
    times = _x(at)
    ax.step(times, demand, where="post", label="demand", color="#444", linewidth=1.5)
    ax.step(times, served, where="post", label="served", color="#1f77b4", linewidth=1.2)
    short = [s < d - EPSILON for s, d in zip(served, demand, strict=True)]
    ax.fill_between(
        times,
        served,
        demand,
        where=short,
        step="post",
        color="#d62728",
        alpha=0.3,
        label="below target",
    )
    ax.set_ylabel("pods / capacity")
    ax.set_title("Demand and served")
    ax.legend(loc="lower right")


def node_series(result: SimulationResult) -> list[tuple[str, str, list[int]]]:
    """The stacks of the nodes plot: ``(capacity type, label, nodes at each timeline point)``,
    one per capacity type and zone (and machine type, when the run used several), spot first,
    then on-demand, flex-start and reservation, zones in order."""
    offerings = sorted({label for p in result.timeline for label in p.nodes})
    keys = [parse_offering_label(label) for label in offerings]
    several = len({k.machine_type for k in keys}) > 1
    groups: dict[tuple[str, str, str], list[str]] = {}
    for label, k in zip(offerings, keys, strict=True):
        name = (k.capacity_type.value, k.zone, k.machine_type if several else "")
        groups.setdefault(name, []).append(label)
    rank = list(_CMAPS)
    ordered = sorted(groups, key=lambda g: (rank.index(g[0]) if g[0] in rank else 9, g))
    return [
        (
            g[0],
            " ".join(part for part in g if part),
            [sum(p.nodes.get(label, 0) for label in groups[g]) for p in result.timeline],
        )
        for g in ordered
    ]


def _plot_nodes(fig: Figure, result: SimulationResult) -> None:
    from matplotlib import colormaps

    ax = fig.add_subplot()
    end = parse_iso(result.end)
    times = _x([parse_iso(p.t) for p in result.timeline] + [end])
    stacks = node_series(result)
    series, labels, colors = [], [], []
    for capacity in dict.fromkeys(c for c, _, _ in stacks):
        members = [(label, counts) for c, label, counts in stacks if c == capacity]
        cmap = colormaps[_CMAPS.get(capacity, "Greys")]
        for i, (label, counts) in enumerate(members):
            series.append(counts + counts[-1:])
            labels.append(label)
            colors.append(cmap(0.45 + 0.45 * i / max(1, len(members) - 1)))
    if series:
        ax.stackplot(times, *series, labels=labels, colors=colors, step="post")
        ax.legend(loc="upper left", fontsize="small", ncol=2)
    ax.set_ylabel("nodes held")
    ax.set_title("Nodes by capacity type and zone")


def _plot_cost(
    fig: Figure,
    result: SimulationResult,
    baselines: Mapping[str, SimulationResult],
    reference: OnDemandReference | None,
) -> None:
    ax = fig.add_subplot()
    times, totals = cumulative_cost(result)
    ax.plot(_x(times), totals, label="this run", color="#1f77b4", linewidth=2)
    if result.summary.on_demand_cost > 0:
        times, totals = cumulative_on_demand(result, reference)
        ax.plot(
            _x(times),
            totals,
            label="on-demand",
            color="#ff7f0e",
            linestyle="--",
        )
    for name, other in baselines.items():
        times, totals = cumulative_cost(other)
        ax.plot(_x(times), totals, label=name, linewidth=1)
    ax.set_ylabel("USD")
    ax.set_title("Cumulative cost")
    ax.legend(loc="upper left")


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(draw: Callable[..., None], *args: object) -> str:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.6))
    draw(fig, *args)
    for ax in fig.axes:
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.grid(alpha=0.3)
    return _png(fig)


def render_report(
    result: SimulationResult,
    *,
    title: str = "ccc simulate",
    baselines: Mapping[str, SimulationResult] | None = None,
    on_demand: OnDemandReference | None = None,
    notes: Sequence[str] = (),
    top: int = 15,
) -> str:
    """The HTML page (see the module docstring).

    Args:
        result: the run.
        title: the page's heading.
        baselines: other runs over the same window, drawn on the cost plot by name.
        on_demand: the reference behind ``onDemandCost`` (for an exact cumulative curve).
        notes: lines shown under the heading (inputs, trace attribution).
        top: how many decision groups to list.
    """
    e = html.escape
    rows = summary_rows(result)
    for name, other in (baselines or {}).items():
        rows.append((f"cost of {name}", f"${other.summary.cost:,.2f}"))
    plots = []
    if result.timeline:
        plots = [
            _figure(_plot_service, result),
            _figure(_plot_nodes, result),
            _figure(_plot_cost, result, baselines or {}, on_demand),
        ]
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p class='muted'>{e(result.region)}: {e(result.start)} to {e(result.end)}</p>",
        *(f"<p class='muted'>{e(n)}</p>" for n in notes),
        "<h2>Summary</h2><table>",
        *(f"<tr><th>{e(k)}</th><td class='n'>{e(v)}</td></tr>" for k, v in rows),
        "</table>",
        *(f"<p><img alt='plot {i + 1}' src='{src}'></p>" for i, src in enumerate(plots)),
        f"<h2>Top decisions</h2><p class='muted'>{len(result.decisions)} decisions in all</p>",
        "<table><tr><th>count</th><th>command</th><th>reason</th><th>first</th><th>last</th></tr>",
        *(
            f"<tr><td class='n'>{g.count}</td><td>{e(g.command)}</td><td>{e(g.reason)}</td>"
            f"<td>{e(g.first)}</td><td>{e(g.last)}</td></tr>"
            for g in top_decisions(result.decisions, limit=top)
        ),
        "</table><h2>Prices used</h2><table><tr><th>offering</th><th>$ per node-hour</th></tr>",
        *(f"<tr><td>{e(k)}</td><td class='n'>{v:,.4f}</td></tr>" for k, v in result.prices.items()),
        "</table></body></html>",
    ]
    return "\n".join(out) + "\n"


def write_report(
    path: str | Path,
    result: SimulationResult,
    *,
    title: str = "ccc simulate",
    baselines: Mapping[str, SimulationResult] | None = None,
    on_demand: OnDemandReference | None = None,
    notes: Sequence[str] = (),
) -> None:
    """Write :func:`render_report` to ``path`` (UTF-8)."""
    page = render_report(result, title=title, baselines=baselines, on_demand=on_demand, notes=notes)
    Path(path).write_text(page, encoding="utf-8")

"""The clairvoyant lower bound on what serving a demand can cost.

Knowing the whole future (availability of every offering, demand), with no boot delay and no
loss, the cheapest way to serve the demand is decided independently at every instant: pick the
cheapest mix of nodes whose units (pods, or ServingGroup capacity, per node) cover the demand
within what each offering has available. Where even everything available cannot cover it, the
bound holds everything available (the most that can be served). Between two changes of demand
or availability the choice stays the same, so the bound is computed once per interval.

This is the reference of the decision-quality benchmark (after SpotHedge's clairvoyant ILP,
``MaoZiming/spothedge_ae:policies/policies/optimal_ilp.py``, minus its cold-start and
over-provisioning terms). It is a lower bound on the cost of any policy that serves at least as
much, because every real policy also obeys availability and pays for boot time and losses.
Scripted preemptions and stockouts only take capacity away, so leaving them out keeps it a
lower bound; scripted capacity changes can add capacity, so :func:`availability_for` folds
them in.

Pure: no I/O, no clock. The per-interval problem is a bounded covering knapsack: greedy by
price when every offering serves the same units per node (exact in that case), an exact
dynamic programme over demand units otherwise; results are memoised per (demand,
availability).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TypeVar

from ccc.api.values import OfferingKey
from ccc.simulate.metrics import EPSILON
from ccc.simulate.recorder import PriceBook, Recorder
from ccc.simulate.result import SimulationResult
from ccc.simulate.scenario import Capacity, Demand, Scenario
from providers.simulated.traces import TraceSet

#: A step function: ``(from this time, value)``; ``None`` availability = unlimited.
Steps = Sequence[tuple[datetime, int | None]]
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class BoundOffering:
    """One offering the bound may use.

    Attributes:
        offering: machine type, zone and capacity type.
        price_per_hour: USD per node-hour.
        units_per_node: demand one node serves (whole pods, or ServingGroup capacity); >= 1.
        availability: how many nodes can be held, as steps; before the first step (or with no
            steps) the offering is unlimited, as untraced offerings are in the simulated cloud.
    """

    offering: OfferingKey
    price_per_hour: float
    units_per_node: int
    availability: Steps = ()

    def __post_init__(self) -> None:
        if self.units_per_node < 1:
            raise ValueError(f"{self.offering}: units_per_node must be at least 1")
        if self.price_per_hour < 0:
            raise ValueError(f"{self.offering}: price_per_hour must not be negative")


def clairvoyant_bound(
    *,
    start: datetime,
    end: datetime,
    demand: Sequence[tuple[datetime, float]],
    offerings: Sequence[BoundOffering],
    region: str = "",
) -> SimulationResult:
    """The cheapest way to serve ``demand`` over ``[start, end)`` (see the module docstring).

    Args:
        start, end: the window.
        demand: demand as steps (0 before the first step).
        offerings: what may be used.
        region: reported as is.

    Returns:
        a result in the ``ccc simulate`` shape: its timeline holds the chosen nodes, its
        summary the cost and the served fraction (below 1 only where availability could not
        cover demand). There are no decisions and the counters are 0.
    """
    changes = sorted(
        {start}
        | {t for t, _ in demand if start < t < end}
        | {t for o in offerings for t, _ in o.availability if start < t < end}
    )
    prices = PriceBook(
        lambda m, z, c: None, overrides={o.offering: o.price_per_hour for o in offerings}
    )
    recorder = Recorder(start=start, region=region, prices=prices)
    solve = _solver(
        tuple(o.price_per_hour for o in offerings), tuple(o.units_per_node for o in offerings)
    )
    for t in changes:
        wanted = _value_at(demand, t, 0.0) or 0.0
        available = tuple(_value_at(o.availability, t, None) for o in offerings)
        counts = solve(max(0, math.ceil(wanted - EPSILON)), available)
        covered = sum(n * o.units_per_node for n, o in zip(counts, offerings, strict=True))
        recorder.state(
            t,
            demand=wanted,
            served=min(wanted, covered),
            nodes={o.offering: n for n, o in zip(counts, offerings, strict=True) if n},
        )
    return recorder.finish(end)


def _value_at(steps: Sequence[tuple[datetime, V]], t: datetime, default: V) -> V:
    value = default
    for at, v in steps:
        if at > t:
            break
        value = v
    return value


Solve = Callable[[int, tuple[int | None, ...]], tuple[int, ...]]


def _solver(prices: tuple[float, ...], units: tuple[int, ...]) -> Solve:
    """Node counts per offering covering ``need`` units at least cost, memoised."""
    order = sorted(range(len(prices)), key=lambda i: (prices[i] / units[i], prices[i], i))
    uniform = len(set(units)) <= 1

    @lru_cache(maxsize=4096)
    def solve(need: int, available: tuple[int | None, ...]) -> tuple[int, ...]:
        counts = [0] * len(prices)
        if need <= 0:
            return tuple(counts)
        if (
            None not in available
            and sum((a or 0) * u for a, u in zip(available, units, strict=True)) < need
        ):
            return tuple(a or 0 for a in available)  # infeasible: hold everything available
        if uniform:
            nodes = math.ceil(need / units[0])
            for i in order:
                cap = available[i]
                counts[i] = nodes if cap is None else min(nodes, cap)
                nodes -= counts[i]
                if nodes == 0:
                    break
            return tuple(counts)
        return _knapsack(need, prices, units, available)

    return solve


def _knapsack(
    need: int, prices: Sequence[float], units: Sequence[int], available: Sequence[int | None]
) -> tuple[int, ...]:
    """Exact minimum-cost cover of ``need`` units with bounded node counts: a 0/1 knapsack
    over binary-split bundles of nodes, in units of the greatest common divisor, where coverage
    beyond ``need`` counts as ``need``."""
    g = math.gcd(*units)
    target = math.ceil(need / g)
    bundles: list[tuple[int, int, int, float]] = []  # (offering, nodes, gain, cost)
    for i, (price, unit, cap) in enumerate(zip(prices, units, available, strict=True)):
        useful = math.ceil(target / (unit // g))
        left = useful if cap is None else min(cap, useful)
        size = 1
        while left > 0:
            take = min(size, left)
            bundles.append((i, take, take * (unit // g), price * take))
            left -= take
            size *= 2
    best = [math.inf] * (target + 1)
    best[0] = 0.0
    came_from: list[dict[int, int]] = []  # per bundle: reached coverage -> previous coverage
    for _, _, gain, cost in bundles:
        step: dict[int, int] = {}
        for c in range(target, -1, -1):
            if best[c] == math.inf:
                continue
            to = min(target, c + gain)
            if best[c] + cost < best[to] - 1e-12:
                best[to] = best[c] + cost
                step[to] = c
        came_from.append(step)
    counts = [0] * len(prices)
    c = target
    for (i, nodes, _, _), step in zip(reversed(bundles), reversed(came_from), strict=True):
        if c in step:
            counts[i] += nodes
            c = step[c]
    return tuple(counts)


def availability_for(
    offering: OfferingKey,
    *,
    start: datetime,
    end: datetime,
    traces: TraceSet | None = None,
    scenario: Scenario | None = None,
) -> list[tuple[datetime, int | None]]:
    """What the simulated cloud will allow of ``offering`` over ``[start, end)``: the trace's
    steps with the scenario's ``capacity`` events laid over them (an event holds until the
    trace's next change; at the same instant the event wins, as it is scheduled after the
    trace). Empty when neither mentions the offering (unlimited)."""
    series = traces.series_for(offering) if traces is not None else None
    steps: list[tuple[datetime, int, int | None]] = []
    if series is not None:
        steps += [(t, 0, v) for t, v in series.window(start, end)]
    for e in scenario.cloud_events if scenario is not None else ():
        when = start + timedelta(seconds=e.at_s)
        if isinstance(e, Capacity) and e.offering == offering and when < end:
            steps.append((when, 1, e.available))
    steps.sort(key=lambda s: (s[0], s[1]))
    out: list[tuple[datetime, int | None]] = []
    for t, _, v in steps:
        if out and out[-1][0] == t:
            out[-1] = (t, v)
        elif not out or out[-1][1] != v:
            out.append((t, v))
    return out


def demand_steps(
    initial: float, *, start: datetime, events: Sequence[Demand] = ()
) -> list[tuple[datetime, float]]:
    """Demand over time for one target: ``initial`` from ``start``, then each of its scenario
    demand events (pass only the events of the workload or ServingGroup concerned)."""
    out = [(start, float(initial))]
    for e in sorted(events, key=lambda e: e.at_s):
        out.append((start + timedelta(seconds=e.at_s), float(e.amount)))
    return out

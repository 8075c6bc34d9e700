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

Pure: no I/O, no clock. The per-interval problem is a bounded covering knapsack, solved exactly
by :func:`cheapest_cover` (greedy within each node size, enumeration across sizes); results are
memoised per (demand, availability).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Generic, TypeVar

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
    demand_at = _StepLookup(demand, 0.0)
    available_at = [_StepLookup(o.availability, None) for o in offerings]
    for t in changes:
        wanted = demand_at(t) or 0.0
        available = tuple(lookup(t) for lookup in available_at)
        counts = solve(max(0, math.ceil(wanted - EPSILON)), available)
        covered = sum(n * o.units_per_node for n, o in zip(counts, offerings, strict=True))
        recorder.state(
            t,
            demand=wanted,
            served=min(wanted, covered),
            nodes={o.offering: n for n, o in zip(counts, offerings, strict=True) if n},
        )
    return recorder.finish(end)


class _StepLookup(Generic[V]):
    """The value of a step function at a time (bisection; ``default`` before the first step)."""

    def __init__(self, steps: Sequence[tuple[datetime, V]], default: V) -> None:
        self._times = [t for t, _ in steps]
        self._values = [v for _, v in steps]
        self._default = default

    def __call__(self, t: datetime) -> V:
        i = bisect.bisect_right(self._times, t) - 1
        return self._values[i] if i >= 0 else self._default


Solve = Callable[[int, tuple[int | None, ...]], tuple[int, ...]]


def _solver(prices: tuple[float, ...], units: tuple[int, ...]) -> Solve:
    """Node counts per offering covering ``need`` units at least cost, memoised."""

    @lru_cache(maxsize=4096)
    def solve(need: int, available: tuple[int | None, ...]) -> tuple[int, ...]:
        if need <= 0:
            return (0,) * len(prices)
        if (
            None not in available
            and sum((a or 0) * u for a, u in zip(available, units, strict=True)) < need
        ):
            return tuple(a or 0 for a in available)  # infeasible: hold everything available
        return cheapest_cover(need, prices, units, available)

    return solve


def cheapest_cover(
    need: int, prices: Sequence[float], units: Sequence[int], available: Sequence[int | None]
) -> tuple[int, ...]:
    """Exact minimum-cost node counts covering ``need`` units (``None`` = unlimited).

    Offerings with the same units per node are interchangeable except for price, so any ``k``
    nodes of one size are best taken cheapest first: each size has a convex cost ``cost(k)``.
    The sizes are then combined exactly: every count of every size but the smallest is
    enumerated over the coverage reached so far (capped at ``need``, keeping the cheapest way
    to each coverage), and the smallest size fills the rest. With one size this is the greedy
    fill; with sizes 1 and 8 it is about ``need / 8`` steps.

    Raises:
        ValueError: no mix covers ``need`` (callers check feasibility first).
    """
    sizes = sorted(set(units), reverse=True)
    by_size = {u: _Size(need, u, prices, units, available) for u in sizes}
    # coverage reached -> (cost, nodes taken per size)
    states: dict[int, tuple[float, tuple[int, ...]]] = {0: (0.0, ())}
    for u in sizes[:-1]:
        size = by_size[u]
        grown: dict[int, tuple[float, tuple[int, ...]]] = {}
        for covered, (cost, taken) in states.items():
            for k in range(size.total + 1):
                c = min(need, covered + k * u)
                candidate = cost + size.cost(k)
                if c not in grown or candidate < grown[c][0] - 1e-12:
                    grown[c] = (candidate, (*taken, k))
                if c == need:
                    break
        states = grown
    smallest = by_size[sizes[-1]]
    best: tuple[float, tuple[int, ...]] | None = None
    for covered, (cost, taken) in sorted(states.items()):
        k = math.ceil((need - covered) / sizes[-1])
        if k > smallest.total:
            continue
        candidate = cost + smallest.cost(k)
        if best is None or candidate < best[0] - 1e-12:
            best = (candidate, (*taken, k))
    if best is None:
        raise ValueError(f"no mix of the offerings covers {need} units")
    counts = [0] * len(prices)
    for u, k in zip(sizes, best[1], strict=True):
        for i, n in by_size[u].take(k):
            counts[i] += n
    return tuple(counts)


class _Size:
    """The nodes of one size that could be useful, cheapest first, as runs per offering."""

    def __init__(
        self,
        need: int,
        size: int,
        prices: Sequence[float],
        units: Sequence[int],
        available: Sequence[int | None],
    ) -> None:
        useful = math.ceil(need / size)
        self.runs: list[tuple[int, int, float]] = []  # (offering, nodes, price per node)
        self.counts = [0]  # nodes before each run
        self.costs = [0.0]  # cost of the nodes before each run
        members = sorted(
            (i for i, u in enumerate(units) if u == size), key=lambda i: (prices[i], i)
        )
        for i in members:
            cap = available[i]
            n = useful - self.counts[-1] if cap is None else min(cap, useful - self.counts[-1])
            if n > 0:
                self.runs.append((i, n, prices[i]))
                self.counts.append(self.counts[-1] + n)
                self.costs.append(self.costs[-1] + n * prices[i])
            if self.counts[-1] >= useful:
                break
        self.total = self.counts[-1]

    def cost(self, k: int) -> float:
        """Cost of the ``k`` cheapest nodes (``k <= total``)."""
        j = bisect.bisect_right(self.counts, k) - 1
        if j >= len(self.runs):
            return self.costs[-1]
        return self.costs[j] + (k - self.counts[j]) * self.runs[j][2]

    def take(self, k: int) -> list[tuple[int, int]]:
        """``(offering, nodes)`` of the ``k`` cheapest nodes."""
        out = []
        for i, n, _ in self.runs:
            if k <= 0:
                break
            out.append((i, min(n, k)))
            k -= n
        return out


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

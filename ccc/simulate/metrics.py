"""The summary numbers of a simulation, computed from its recorded timeline.

A timeline is a step function: each :class:`~ccc.simulate.result.TimelinePoint` holds from its
``t`` until the next point (the last until the end of the window); before the first point
there is no demand and nothing is held. Every metric is an integral over ``[start, end)``:

* ``servedFraction`` = ∫ min(served, demand) dt ÷ ∫ demand dt (1.0 when demand is always 0);
* ``secondsBelowTarget`` = the time in which served < demand;
* ``cost`` = ∫ costPerHour dt (USD);
* ``onDemandCost`` = ∫ ⌈demand ÷ units per node⌉ × on-demand price dt for one reference
  offering, the class's cheapest on-demand one (:mod:`ccc.simulate.on_demand`).

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from ccc.api.values import OfferingKey
from ccc.simulate.result import TimelinePoint, parse_iso

#: Demand and served values closer than this are equal (float noise, not a shortfall).
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class OnDemandReference:
    """The offering ``onDemandCost`` prices the demand on.

    Attributes:
        offering: an on-demand offering of the class.
        price_per_hour: USD per node-hour.
        units_per_node: demand one node serves (pods per node, or ServingGroup capacity per
            node); at least 1.
    """

    offering: OfferingKey
    price_per_hour: float
    units_per_node: float

    def __post_init__(self) -> None:
        if self.units_per_node <= 0:
            raise ValueError("units_per_node must be positive")

    def nodes_for(self, demand: float) -> int:
        """Whole nodes needed to serve ``demand``."""
        return max(0, math.ceil(demand / self.units_per_node - EPSILON))


@dataclass(frozen=True, slots=True)
class Interval:
    """One step of the timeline clipped to the window."""

    seconds: float
    demand: float
    served: float
    cost_per_hour: float


def intervals(
    timeline: Sequence[TimelinePoint], *, start: datetime, end: datetime
) -> Iterator[Interval]:
    """The timeline's steps clipped to ``[start, end)``, in order (empty steps left out)."""
    times = [parse_iso(p.t) for p in timeline]
    for i, point in enumerate(timeline):
        begin = max(times[i], start)
        stop = min(times[i + 1] if i + 1 < len(times) else end, end)
        seconds = (stop - begin).total_seconds()
        if seconds > 0:
            yield Interval(seconds, point.demand, point.served, point.cost_per_hour)


def served_fraction(steps: Sequence[Interval]) -> float:
    wanted = sum(s.demand * s.seconds for s in steps)
    if wanted <= 0:
        return 1.0
    got = sum(min(s.served, s.demand) * s.seconds for s in steps)
    return min(1.0, got / wanted)


def seconds_below_target(steps: Sequence[Interval]) -> float:
    return sum(s.seconds for s in steps if s.served < s.demand - EPSILON)


def cost(steps: Sequence[Interval]) -> float:
    return sum(s.cost_per_hour * s.seconds for s in steps) / 3600


def on_demand_cost(steps: Sequence[Interval], reference: OnDemandReference | None) -> float:
    """0.0 without a reference (a class with no priced on-demand offering)."""
    if reference is None:
        return 0.0
    node_seconds = sum(reference.nodes_for(s.demand) * s.seconds for s in steps)
    return node_seconds * reference.price_per_hour / 3600

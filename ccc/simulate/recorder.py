"""What a simulation records as it runs, and the :class:`SimulationResult` it becomes.

The driver (the controller loop in virtual time) calls :meth:`Recorder.state` whenever demand,
served or the nodes held change, :meth:`Recorder.decision` for every command and
:meth:`Recorder.count` for every preemption, expiry, stockout, provisioning request, migration
and ServingGroup shift; :meth:`Recorder.finish` prices the timeline and computes the summary
(:mod:`ccc.simulate.metrics`). Prices come from a :class:`PriceBook` over ``Catalog.price``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ccc.api.errors import ConfigError
from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate import metrics
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.result import (
    Decision,
    SimulationResult,
    Summary,
    TimelinePoint,
    iso,
    offering_label,
)

#: ``Catalog.price``'s signature: (machine type, zone, capacity type) -> USD per node-hour.
PriceFn = Callable[[str, str, CapacityType], float | None]


class MissingPriceError(ConfigError):
    """The run held an offering that has no price (so its cost would be made up)."""

    def __init__(self, offering: OfferingKey) -> None:
        self.offering = offering
        super().__init__(
            f"no {offering.capacity_type.value} price for {offering.machine_type} in "
            f"{offering.zone} in the catalog; pass a catalog file that prices it, or leave "
            "the offering out of the class or the trace",
            path=offering_label(offering),
        )


class PriceBook:
    """Prices per node-hour, looked up once per offering and remembered as used.

    Args:
        price: the lookup, usually ``Catalog.price``.
        overrides: prices that win over the lookup (what-if runs, tests).
    """

    def __init__(self, price: PriceFn, *, overrides: Mapping[OfferingKey, float] = {}) -> None:
        self._price = price
        self._overrides = dict(overrides)
        self._cache: dict[OfferingKey, float | None] = {}
        self.used: dict[OfferingKey, float] = {}

    def lookup(self, offering: OfferingKey) -> float | None:
        """The price, or ``None`` when nothing gives one (not recorded as used)."""
        if offering not in self._cache:
            if offering in self._overrides:
                self._cache[offering] = self._overrides[offering]
            else:
                self._cache[offering] = self._price(
                    offering.machine_type, offering.zone, offering.capacity_type
                )
        return self._cache[offering]

    def __call__(self, offering: OfferingKey) -> float:
        """The price of an offering the run uses (recorded in :attr:`used`).

        Raises:
            MissingPriceError: nothing prices it.
        """
        found = self.lookup(offering)
        if found is None:
            raise MissingPriceError(offering)
        self.used[offering] = found
        return found


class Tally(StrEnum):
    """The counters of ``summary`` (their JSON names)."""

    PREEMPTIONS = "preemptions"
    EXPIRIES = "expiries"
    STOCKOUTS = "stockouts"
    PROVISIONING_REQUESTS = "provisioningRequests"
    MIGRATIONS = "migrations"
    SHIFTS = "shifts"


@dataclass(frozen=True, slots=True)
class _State:
    at: datetime
    demand: float
    served: float
    nodes: tuple[tuple[OfferingKey, int], ...]
    capacity: tuple[tuple[str, float], ...] | None = None


class Recorder:
    """Collects one run (see the module docstring).

    Args:
        start: the start of the simulated window.
        region: the region simulated (reported as is).
        prices: prices every offering that nodes are held on.
    """

    def __init__(self, *, start: datetime, region: str, prices: PriceBook) -> None:
        self.start = start
        self.region = region
        self.prices = prices
        self._states: list[_State] = []
        self._decisions: list[tuple[datetime, Decision]] = []
        self._tallies: Counter[Tally] = Counter()

    def state(
        self,
        at: datetime,
        *,
        demand: float,
        served: float,
        nodes: Mapping[OfferingKey, int],
        capacity: Mapping[str, float] | None = None,
    ) -> None:
        """From ``at``, the demand, what is served, the nodes held (provisioning included) and
        the Ready capacity per ServingGroup variant (``None`` or empty: no ServingGroup) are
        these. A state at the same time as the previous one replaces it; a state equal to
        the previous one is not recorded again.

        Raises:
            ValueError: ``at`` is before the previous state or the start, or a value is
                negative.
            MissingPriceError: nodes are held on an offering without a price.
        """
        if at < self.start or (self._states and at < self._states[-1].at):
            raise ValueError(f"state at {iso(at)} is earlier than the last one recorded")
        if demand < 0 or served < 0 or any(n < 0 for n in nodes.values()):
            raise ValueError("demand, served and node counts must be non-negative")
        held = tuple(sorted(((o, n) for o, n in nodes.items() if n > 0), key=_by_label))
        for offering, _ in held:
            self.prices(offering)
        by_variant = tuple(sorted(capacity.items())) if capacity else None
        new = _State(at, float(demand), float(served), held, by_variant)
        if self._states and self._states[-1].at == at:
            self._states.pop()
        last = self._states[-1] if self._states else None
        if last is not None and (last.demand, last.served, last.nodes, last.capacity) == (
            new.demand,
            new.served,
            new.nodes,
            new.capacity,
        ):
            return
        self._states.append(new)

    def decision(self, at: datetime, command: str, reason: str, *, cause: str = "") -> None:
        """The controller issued ``command`` at ``at`` because of ``reason`` (``cause``: the
        command's cause from the closed set of :class:`policies.commands.Cause`)."""
        self._decisions.append(
            (at, Decision(t=iso(at), command=command, reason=reason, cause=cause))
        )

    def count(self, tally: Tally, n: int = 1) -> None:
        """Add ``n`` to one of the summary's counters."""
        if n < 0:
            raise ValueError("counts only grow")
        self._tallies[tally] += n

    def finish(
        self, end: datetime, *, on_demand: OnDemandReference | None = None
    ) -> SimulationResult:
        """The result of the run over ``[start, end)``.

        Args:
            end: the end of the simulated window (states and decisions at or after it are
                dropped).
            on_demand: what ``onDemandCost`` prices the demand on (its offering is listed in
                ``prices``); ``None`` gives ``onDemandCost`` 0.
        """
        timeline = tuple(
            TimelinePoint(
                t=iso(s.at),
                demand=s.demand,
                served=s.served,
                cost_per_hour=round(sum(n * self.prices(o) for o, n in s.nodes), 6),
                nodes={offering_label(o): n for o, n in s.nodes},
                capacity=dict(s.capacity) if s.capacity is not None else None,
            )
            for s in self._states
            if s.at < end
        )
        if on_demand is not None:
            self.prices.used[on_demand.offering] = on_demand.price_per_hour
        steps = list(metrics.intervals(timeline, start=self.start, end=end))
        summary = Summary(
            served_fraction=round(metrics.served_fraction(steps), 9),
            seconds_below_target=round(metrics.seconds_below_target(steps), 3),
            cost=round(metrics.cost(steps), 6),
            on_demand_cost=round(metrics.on_demand_cost(steps, on_demand), 6),
            **{t.name.lower(): self._tallies[t] for t in Tally},
        )
        return SimulationResult(
            start=iso(self.start),
            end=iso(end),
            region=self.region,
            summary=summary,
            timeline=timeline,
            decisions=tuple(d for at, d in self._decisions if at < end),
            prices={
                offering_label(o): p for o, p in sorted(self.prices.used.items(), key=_by_label)
            },
        )


def _by_label(item: tuple[OfferingKey, object]) -> str:
    return offering_label(item[0])

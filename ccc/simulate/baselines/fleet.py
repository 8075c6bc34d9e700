"""A small fleet simulator for baseline policies: nodes of one machine type over offerings
(zone, capacity type), on the same inputs as ``ccc simulate``.

Physics, shared by every baseline and matching :class:`~providers.simulated.SimulatedCloud`:

* a spot offering holds at most its trace's availability at each instant; a drop below what is
  held preempts the newest nodes (``strict``, the SkyNomad/SpotHedge convention) or only an
  outage does (``zero``); offerings without a trace, and on-demand, are unlimited;
* a launch either gets a node (billed from that moment, Ready after the boot time) or fails
  at once for lack of capacity (GCE's ``ZONE_RESOURCE_POOL_EXHAUSTED``);
* one node serves ``units_per_node`` of demand once Ready.

Time moves in ticks of ``tick_s`` (60 s: finer than the traces' 10 minutes and than every
timer the baselines use except Karpenter's 1-10 s batching, which a tick contains). Every tick:
apply availability (preempting), let the policy act, record demand, served and the nodes held
in a :class:`~ccc.simulate.recorder.Recorder`, so baselines are scored by the same metrics as
``ccc simulate``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ccc.api.values import CapacityType, OfferingKey
from ccc.simulate.metrics import OnDemandReference
from ccc.simulate.recorder import PriceBook, Recorder, Tally
from ccc.simulate.result import SimulationResult
from providers.simulated.timeline import PreemptionConvention
from providers.simulated.traces import TraceSet


@dataclass
class Node:
    id: int
    offering: OfferingKey
    launched_at: datetime
    ready_at: datetime

    def ready(self, now: datetime) -> bool:
        return self.ready_at <= now


class Policy(Protocol):
    """A baseline: acts on the fleet once per tick."""

    name: str

    def step(self, fleet: Fleet) -> None:
        """Look at the fleet (demand, nodes) and launch or terminate nodes."""

    def preempted(self, fleet: Fleet, offering: OfferingKey, nodes: int) -> None:
        """``nodes`` of ``offering`` were just preempted."""


@dataclass
class Fleet:
    """The simulated fleet (see the module docstring). Policies call :meth:`launch` and
    :meth:`terminate`, and read :attr:`nodes`, :attr:`now`, :attr:`demand`."""

    offerings: Sequence[OfferingKey]
    prices: PriceBook
    start: datetime
    boot_s: float = 240.0
    units_per_node: int = 1
    preemption: PreemptionConvention = "strict"
    traces: TraceSet | None = None
    now: datetime = field(init=False)
    demand: float = 0.0
    nodes: list[Node] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _avail: dict[OfferingKey, tuple[list[datetime], list[int | None]]] = field(default_factory=dict)
    recorder: Recorder | None = None

    def __post_init__(self) -> None:
        self.now = self.start

    def load_traces(self, end: datetime) -> None:
        if self.traces is None:
            return
        for s in self.traces.series:
            steps = s.window(self.start, end)
            self._avail[s.offering] = ([t for t, _ in steps], [v for _, v in steps])

    def available(self, offering: OfferingKey) -> int | None:
        """Nodes of ``offering`` that can be held now (``None``: unlimited)."""
        found = self._avail.get(offering)
        if found is None or offering.capacity_type is not CapacityType.SPOT:
            return None
        times, values = found
        i = bisect.bisect_right(times, self.now) - 1
        return None if i < 0 else values[i]

    def held(self, offering: OfferingKey) -> int:
        return sum(1 for n in self.nodes if n.offering == offering)

    def ready(self) -> int:
        return sum(1 for n in self.nodes if n.ready(self.now))

    def launch(self, offering: OfferingKey) -> bool:
        """One node of ``offering``: True when it was created, False on a stockout."""
        self.prices(offering)  # an unpriced offering is an error, not free capacity
        cap = self.available(offering)
        held = self.held(offering)
        if cap is not None and held >= cap:
            if self.recorder is not None:
                self.recorder.count(Tally.STOCKOUTS)
            return False
        ready = self.now + timedelta(seconds=self.boot_s)
        self.nodes.append(Node(next(self._ids), offering, self.now, ready))
        if self.recorder is not None:
            self.recorder.count(Tally.PROVISIONING_REQUESTS)
        return True

    def terminate(self, node: Node) -> None:
        self.nodes.remove(node)

    def _preempt(self, policy: Policy) -> None:
        for offering in {n.offering for n in self.nodes}:
            cap = self.available(offering)
            if cap is None:
                continue
            held = [n for n in self.nodes if n.offering == offering]
            if len(held) <= cap or (self.preemption == "zero" and cap > 0):
                continue
            gone = sorted(held, key=lambda n: n.id)[cap:]
            for n in gone:
                self.nodes.remove(n)
            if self.recorder is not None:
                self.recorder.count(Tally.PREEMPTIONS, len(gone))
            policy.preempted(self, offering, len(gone))


def run_fleet(
    policy: Policy,
    *,
    offerings: Sequence[OfferingKey],
    prices: PriceBook,
    start: datetime,
    duration_s: float,
    demand: float,
    region: str,
    traces: TraceSet | None = None,
    boot_s: float = 240.0,
    units_per_node: int = 1,
    preemption: PreemptionConvention = "strict",
    on_demand: OnDemandReference | None = None,
    tick_s: float = 60.0,
) -> SimulationResult:
    """Run ``policy`` over the window and score it like ``ccc simulate``."""
    end = start + timedelta(seconds=duration_s)
    recorder = Recorder(start=start, region=region, prices=prices)
    fleet = Fleet(
        offerings=offerings,
        prices=prices,
        start=start,
        boot_s=boot_s,
        units_per_node=units_per_node,
        preemption=preemption,
        traces=traces,
        demand=demand,
        recorder=recorder,
    )
    fleet.load_traces(end)
    for i in range(math.ceil(duration_s / tick_s)):
        fleet.now = start + timedelta(seconds=i * tick_s)
        fleet._preempt(policy)
        policy.step(fleet)
        held: dict[OfferingKey, int] = {}
        for n in fleet.nodes:
            held[n.offering] = held.get(n.offering, 0) + 1
        # Nodes that become Ready within this tick serve from their ready time on.
        recorder.state(
            fleet.now, demand=demand, served=min(demand, fleet.ready() * units_per_node), nodes=held
        )
        for ready_at in sorted({n.ready_at for n in fleet.nodes if n.ready_at > fleet.now}):
            if ready_at < fleet.now + timedelta(seconds=tick_s):
                served = sum(1 for n in fleet.nodes if n.ready_at <= ready_at) * units_per_node
                recorder.state(ready_at, demand=demand, served=min(demand, served), nodes=held)
    return recorder.finish(end, on_demand=on_demand)


def by_price(prices: PriceBook, offerings: Sequence[OfferingKey]) -> list[OfferingKey]:
    """Offerings cheapest first (ties: as given)."""
    return sorted(offerings, key=lambda o: prices(o))


def spot_and_on_demand(
    machine_type: str, zones: Sequence[str]
) -> tuple[list[OfferingKey], list[OfferingKey]]:
    spot = [
        OfferingKey(machine_type=machine_type, zone=z, capacity_type=CapacityType.SPOT)
        for z in zones
    ]
    od = [
        OfferingKey(machine_type=machine_type, zone=z, capacity_type=CapacityType.ON_DEMAND)
        for z in zones
    ]
    return spot, od


__all__ = ["Fleet", "Node", "Policy", "by_price", "run_fleet", "spot_and_on_demand"]

"""Virtual-time side of the simulated cloud: pools and nodes over time, scripted changes.

:class:`Timeline` owns the pools, their nodes and the schedule of scripted changes (capacity
changes, stockout windows, preemptions, flex-start expiries) and applies each change when the
injected clock reaches it; :class:`~providers.simulated.cloud.SimulatedCloud` adds the provider
calls on top. Split out so each module has one reason to change.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from ccc.api.values import CapacityType, NodePool, OfferingKey
from providers.clock import Clock
from providers.simulated.ledger import Ledger
from providers.simulated.model import (
    DEFAULT_FLEX_START_MAX_RUN_S,
    Disruption,
    DisruptionKind,
    SimNode,
)
from providers.simulated.pools import SimPool
from providers.simulated.schedule import Schedule

#: A point in virtual time: an aware datetime, or seconds after the cloud's :attr:`start`.
When = datetime | float

#: What a drop in spot capacity does to the nodes held (docs/simulate.md, "Preemption"):
#: ``strict`` preempts the nodes above the new capacity (SkyNomad/SpotHedge convention);
#: ``zero`` preempts only when capacity reaches 0, and then every spot node of the offering.
PreemptionConvention = Literal["strict", "zero"]


class Timeline:
    """Pools and nodes over virtual time. Not a provider by itself (see ``SimulatedCloud``).

    Args:
        clock: where time comes from.
        ledger: the capacity accounting nodes are booked against.
        preemption: what a drop in spot capacity preempts (see :data:`PreemptionConvention`).
    """

    def __init__(
        self, clock: Clock, ledger: Ledger, *, preemption: PreemptionConvention = "strict"
    ) -> None:
        if preemption not in ("strict", "zero"):
            raise ValueError(f"preemption must be 'strict' or 'zero', not {preemption!r}")
        self.clock = clock
        self.ledger = ledger
        self.preemption: PreemptionConvention = preemption
        self.start = clock.now()
        self._subscribers: list[Callable[[Disruption], None]] = []
        self._watchers: list[Callable[[], None]] = []
        self._pools: dict[str, SimPool] = {}
        self._by_offering: dict[OfferingKey, dict[str, SimPool]] = {}
        self._schedule = Schedule()
        self._disruptions: list[Disruption] = []
        self._node_seq = itertools.count(1)
        self._generation = 0

    # -- scripting over time ----------------------------------------------------------------

    def set_capacity(
        self, offering: OfferingKey, nodes: int | None, *, at: When | None = None
    ) -> None:
        """From ``at`` (default now), the offering supports ``nodes`` nodes in total (running
        included; ``None`` = unlimited). Spot nodes above the new total are preempted under the
        ``strict`` convention; under ``zero`` only a total of 0 preempts (all of them)."""
        self._at(at, lambda t: self._apply_capacity(offering, nodes, t))

    def stockout(
        self, offering: OfferingKey, *, start: When | None = None, end: When | None = None
    ) -> None:
        """No new nodes of ``offering`` between ``start`` (default now) and ``end`` (default
        forever). Running nodes stay. Windows may overlap."""
        self._at(start, lambda _t: self.ledger.stockouts.update({offering: 1}))
        if end is not None:
            self._at(end, lambda _t: self.ledger.stockouts.subtract({offering: 1}))

    def preempt(
        self,
        *,
        pool: str | None = None,
        offering: OfferingKey | None = None,
        count: int | None = None,
        at: When | None = None,
    ) -> None:
        """At ``at`` (default now), preempt ``count`` (default all) of the newest nodes of
        ``pool``, or of the spot nodes of ``offering``."""
        if (pool is None) == (offering is None):
            raise ValueError("preempt needs exactly one of pool= or offering=")
        self._at(at, lambda t: self._preempt(pool, offering, count, t))

    def call_at(self, at: When, action: Callable[[datetime], None]) -> None:
        """Run ``action(time)`` when the clock reaches ``at`` (for scripts beyond the above)."""
        self._at(at, action)

    def apply_due_events(self) -> int:
        """Apply every scripted change whose time has come. Every call does this first.

        Returns:
            how many changes were applied.
        """
        return self._schedule.run_due(self.clock.now())

    def next_event_at(self) -> datetime | None:
        """When the next scripted change (including flex-start expiries) is due."""
        return self._schedule.next_at()

    async def run_events(self, *, until: When | None = None, idle_poll_s: float = 1.0) -> None:
        """Apply scripted changes as the clock reaches them, until ``until`` (or cancelled).

        Sleeps on the injected clock to the next change, or ``idle_poll_s`` when none is due.
        """
        end = None if until is None else self._time(until)
        while True:
            self.apply_due_events()
            now = self.clock.now()
            if end is not None and now >= end:
                return
            target = now + timedelta(seconds=idle_poll_s)
            for candidate in (self._schedule.next_at(), end):
                if candidate is not None and candidate < target:
                    target = candidate
            await self.clock.sleep(max(0.0, (target - now).total_seconds()))

    # -- observation ------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Grows on every change to pools or nodes (cheap change detection for mirrors)."""
        return self._generation

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` after every change to pools or nodes (when :attr:`generation`
        grows), synchronously. Returns an unsubscribe."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def _changed(self) -> None:
        self._generation += 1
        for callback in list(self._watchers):
            callback()

    def node_pool(self, name: str) -> NodePool | None:
        """The pool as ``list_node_pools`` would report it (not recorded as a call)."""
        self.apply_due_events()
        pool = self._pools.get(name)
        return None if pool is None else pool.view(self.clock.now())

    def nodes(self, *, include_provisioning: bool = False) -> list[SimNode]:
        """Every node of every pool (ready ones only, unless ``include_provisioning``)."""
        self.apply_due_events()
        now = self.clock.now()
        return [
            n
            for p in self._pools.values()
            for n in p.nodes.values()
            if include_provisioning or n.ready_at <= now
        ]

    def in_use(self, offering: OfferingKey) -> int:
        """Nodes of the offering, provisioning included."""
        self.apply_due_events()
        return self.ledger.in_use[offering]

    def obtainable(self, offering: OfferingKey) -> int | None:
        """How many more nodes of the offering a create could get now (``None`` = unlimited)."""
        self.apply_due_events()
        return self.ledger.obtainable(offering)

    def disruptions_since(self, since: When) -> list[Disruption]:
        """Notices of nodes taken away at or after ``since``, oldest first."""
        self.apply_due_events()
        t = self._time(since)
        return [d for d in self._disruptions if d.at >= t]

    def preemptions_since(self, since: When) -> list[Disruption]:
        """Spot preemption notices at or after ``since``, oldest first."""
        return [d for d in self.disruptions_since(since) if d.kind is DisruptionKind.PREEMPTED]

    def on_disruption(self, callback: Callable[[Disruption], None]) -> Callable[[], None]:
        """Call ``callback`` with each new notice as it happens. Returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    async def watch_disruptions(self) -> AsyncIterator[Disruption]:
        """Yield each new notice as it happens (from the moment of the call).

        Notices happen when scripted changes are applied: on any call, or in
        :meth:`run_events`, which a consumer of this iterator will usually run alongside.
        """
        queue: asyncio.Queue[Disruption] = asyncio.Queue()
        unsubscribe = self.on_disruption(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    def _insert_pool(self, pool: SimPool) -> None:
        self._pools[pool.name] = pool
        self._by_offering.setdefault(pool.shape.offering, {})[pool.name] = pool
        self._changed()

    def _add_nodes(
        self, pool: SimPool, picks: Sequence[str | None], now: datetime, ready: datetime
    ) -> None:
        flex = pool.shape.capacity_type is CapacityType.FLEX_START
        max_run_s = pool.max_run_duration_s or DEFAULT_FLEX_START_MAX_RUN_S
        for reservation in picks:
            serial = next(self._node_seq)
            node = pool.new_node(
                f"{pool.name}-{serial:05d}",
                serial=serial,
                created_at=now,
                ready_at=ready,
                deadline=ready + timedelta(seconds=max_run_s) if flex else None,
                reservation=reservation,
            )
            if node.deadline is not None:
                self._schedule.push(node.deadline, self._expiry(pool.name, node.name))
        pool.busy_until = max(pool.busy_until, ready)
        self._changed()

    def _expiry(self, pool_name: str, node_name: str) -> Callable[[datetime], None]:
        def expire(t: datetime) -> None:
            pool = self._pools.get(pool_name)
            node = None if pool is None else pool.nodes.get(node_name)
            if pool is not None and node is not None:
                self._remove_node(pool, node, DisruptionKind.EXPIRED, t)

        return expire

    def _remove_node(
        self, pool: SimPool, node: SimNode, kind: DisruptionKind | None, t: datetime
    ) -> None:
        del pool.nodes[node.name]
        self.ledger.release(pool.shape, node.reservation)
        self._changed()
        if kind is None:
            return
        notice = Disruption(
            t, kind, node.name, pool.name, node.zone, node.machine_type, node.capacity_type
        )
        self._disruptions.append(notice)
        for callback in list(self._subscribers):
            callback(notice)

    def _apply_capacity(self, offering: OfferingKey, nodes: int | None, t: datetime) -> None:
        self.ledger.limits[offering] = nodes
        if offering.capacity_type is not CapacityType.SPOT or nodes is None:
            return
        if self.preemption == "zero" and nodes > 0:
            return
        excess = self.ledger.in_use[offering] - nodes
        if excess > 0:
            self._preempt(None, offering, excess, t)

    def _preempt(
        self, pool_name: str | None, offering: OfferingKey | None, count: int | None, t: datetime
    ) -> None:
        if pool_name is not None:
            pools = [p for p in (self._pools.get(pool_name),) if p is not None]
        else:
            assert offering is not None
            pools = list(self._by_offering.get(offering, {}).values())
            if offering.capacity_type is not CapacityType.SPOT:
                pools = []
        victims = sorted(
            ((n, p) for p in pools for n in p.nodes.values()),
            key=lambda np: np[0].serial,
            reverse=True,
        )
        for node, pool in victims[:count]:
            self._remove_node(pool, node, DisruptionKind.PREEMPTED, t)

    def _time(self, when: When) -> datetime:
        if isinstance(when, datetime):
            return when
        return self.start + timedelta(seconds=when)

    def _at(self, when: When | None, action: Callable[[datetime], None]) -> None:
        now = self.clock.now()
        t = now if when is None else self._time(when)
        self._schedule.push(t, action)
        if t <= now:
            self.apply_due_events()

"""Observe: turn the cluster view and the provider's listings into one
:class:`~policies.snapshot.ClusterSnapshot`.

A listing that fails never aborts the pass: it is logged at warning level and the snapshot says
what is missing (``pool_listing="stale"`` with the last good listing, or ``"unknown"``;
``reservations_failed``), so the decide step skips only what depends on it and asks to be woken
soon. Reservations are listed at most every ``reservations_ttl_s`` of the injected clock. Late
capacity errors of pools whose nodes have not come are asked for in the background, at most
every ``late_error_poll_s`` per pool; their answers arrive in the inbox like provider outcomes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from ccc.api.computeclass import ComputeClass
from ccc.api.manifest import InvalidComputeClass, Problem, parse_compute_class
from ccc.api.values import NodePool, ReservationCapacity
from ccc.controller.config import ControllerConfig
from ccc.controller.execute import Inbox, error_info
from ccc.controller.view import ClusterView
from policies.outcomes import repairs_due
from policies.room import PodRef, pending_pods
from policies.snapshot import ClusterSnapshot, PoolListing, ProviderNotice, ServingCovers
from policies.state import ControllerState, LateErrors
from providers.base import CapacityErrorReporter, Provider
from providers.clock import Clock
from providers.errors import ProviderError

log = structlog.get_logger("ccc.controller")


@dataclass
class ClassEntry:
    """A ComputeClass as last read: the raw object and its parse result."""

    raw: Mapping[str, Any]
    model: ComputeClass | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    snapshot: ClusterSnapshot
    #: the pending pods behind each pod group (Events, latency metrics)
    refs: Mapping[str, list[PodRef]]
    classes: Mapping[str, ClassEntry]
    gone: tuple[str, ...] = ()


@dataclass
class _Listing:
    pools: list[NodePool] = field(default_factory=list)
    pools_ok: bool = False
    reservations: Sequence[ReservationCapacity] | None = None
    reservations_at: datetime | None = None


class Observer:
    """Builds snapshots (module docstring). One per leader; not thread-safe."""

    def __init__(
        self,
        *,
        provider: Provider,
        view: ClusterView,
        clock: Clock,
        config: ControllerConfig,
        inbox: Inbox,
    ) -> None:
        self.provider = provider
        self.view = view
        self.clock = clock
        self.config = config
        self.inbox = inbox
        self.settings = config.settings()
        self.classes: dict[str, ClassEntry] = {}
        self._listing = _Listing()
        self._late_polled: dict[str, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def refresh_classes(self) -> tuple[str, ...]:
        """Re-parse changed ComputeClasses; returns the names of classes that went away."""
        seen: set[str] = set()
        for raw in self.view.classes():
            name = str((raw.get("metadata") or {}).get("name", ""))
            if not name:
                continue
            seen.add(name)
            entry = self.classes.get(name)
            if entry is not None and entry.raw is raw:
                continue
            entry = self.classes.setdefault(name, ClassEntry(raw=raw))
            entry.raw = raw
            try:
                entry.model, entry.problems = parse_compute_class(raw), ()
            except InvalidComputeClass as exc:
                entry.model, entry.problems = None, exc.problems
                log.warning(
                    "class.invalid", class_name=name, problems=[str(p) for p in exc.problems][:10]
                )
        gone = tuple(sorted(set(self.classes) - seen))
        for name in gone:
            del self.classes[name]
        return gone

    async def observe(
        self,
        state: ControllerState,
        notices: Sequence[ProviderNotice] = (),
        serving: ServingCovers | None = None,
    ) -> Observation:
        """One snapshot of the world (never raises for provider failures); ``notices`` are the
        leaving signals kept by the loop (:mod:`ccc.controller.signals`), ``serving`` the
        ServingGroup controller's verdicts for drains (``None``: it does not run)."""
        gone = self.refresh_classes()
        now = self.clock.now()
        listing = await self._list_pools()
        reservations, reservations_failed = await self._reservations(now)
        pods = self.view.pods()
        nodes = self.view.nodes()
        pending, refs = pending_pods(pods, accept_gke_label=self.config.accept_gke_class_label)
        counts: dict[str, int] = {}
        if listing == "fresh":
            counts = await self._confirm_missing(state, now)
            self._poll_late_errors(state, now)
        snapshot = ClusterSnapshot(
            now=now,
            classes={n: e.model for n, e in self.classes.items() if e.model is not None},
            invalid_classes=frozenset(n for n, e in self.classes.items() if e.model is None),
            pending=pending,
            pods=pods,
            nodes=nodes,
            node_pools=list(self._listing.pools),
            pool_listing=listing,
            reservations=reservations,
            reservations_failed=reservations_failed,
            node_counts=counts,
            notices=tuple(notices),
            serving=serving,
        )
        return Observation(snapshot=snapshot, refs=refs, classes=dict(self.classes), gone=gone)

    async def _list_pools(self) -> PoolListing:
        try:
            async with asyncio.timeout(self.config.provider_timeout_s):
                self._listing.pools = list(await self.provider.list_node_pools())
        except (ProviderError, TimeoutError) as exc:
            log.warning(
                "provider.list_failed",
                what="node_pools",
                error=str(exc)[:300],
                retry_s=self.config.error_retry_s,
            )
            return "stale" if self._listing.pools_ok else "unknown"
        self._listing.pools_ok = True
        return "fresh"

    async def _reservations(
        self, now: datetime
    ) -> tuple[Sequence[ReservationCapacity] | None, bool]:
        cached, at = self._listing.reservations, self._listing.reservations_at
        ttl = timedelta(seconds=self.config.reservations_ttl_s)
        if cached is not None and at is not None and now - at < ttl:
            return cached, False
        try:
            async with asyncio.timeout(self.config.provider_timeout_s):
                fresh = await self.provider.list_reservations()
        except (ProviderError, TimeoutError) as exc:
            log.warning(
                "provider.list_failed",
                what="reservations",
                error=str(exc)[:300],
                retry_s=self.config.error_retry_s,
            )
            return cached, True
        self._listing.reservations, self._listing.reservations_at = fresh, now
        return fresh, False

    async def _confirm_missing(self, state: ControllerState, now: datetime) -> dict[str, int]:
        """Read the API server directly for pools whose missing nodes are due for a repair."""
        out: dict[str, int] = {}
        for pool in repairs_due(state, self.settings, now):
            try:
                count = await self.view.count_nodes(pool)
            except Exception as exc:  # a failed read only postpones the repair
                log.warning("nodes.count_failed", node_pool=pool, error=str(exc)[:300])
                continue
            if count is not None:
                out[pool] = count
        return out

    def late_error_poll_due(self, state: ControllerState, now: datetime) -> datetime | None:
        """When the next pass should run to ask about a pool's missing nodes (a pool not asked
        yet: ``now``; else its last ask plus ``late_error_poll_s``); ``None`` when there is
        nothing to ask or the provider cannot tell. The loop wakes then, so a pool that came up
        short is given up as soon as the provider says why, not at the registration timeout."""
        if not isinstance(self.provider, CapacityErrorReporter):
            return None
        every = timedelta(seconds=self.config.late_error_poll_s)
        dues = [
            last + every if (last := self._late_polled.get(pool)) is not None else now
            for pool in state.missing
            if pool not in state.calls
        ]
        return min(dues, default=None)

    def _poll_late_errors(self, state: ControllerState, now: datetime) -> None:
        provider = self.provider
        if not isinstance(provider, CapacityErrorReporter):
            return
        every = timedelta(seconds=self.config.late_error_poll_s)
        for pool, missing in state.missing.items():
            last = self._late_polled.get(pool)
            if pool in state.calls or (last is not None and now - last < every):
                continue
            self._late_polled[pool] = now
            task = asyncio.create_task(self._late_errors(provider, pool, missing.since))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for pool in set(self._late_polled) - set(state.missing):
            del self._late_polled[pool]

    async def _late_errors(
        self, provider: CapacityErrorReporter, pool: str, since: datetime
    ) -> None:
        try:
            async with asyncio.timeout(self.config.provider_timeout_s):
                errors = await provider.capacity_errors(pool, since=since)
        except (ProviderError, TimeoutError) as exc:
            log.warning("node_pool.capacity_errors_failed", node_pool=pool, error=str(exc)[:300])
            return
        infos = tuple(error_info(e) for e in errors)
        if any(i.result in ("stockout", "quota") for i in infos):
            self.inbox.put(LateErrors(pool, infos, self.clock.now()))

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()

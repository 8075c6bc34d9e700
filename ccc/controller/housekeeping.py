"""After each pass: repair pools whose nodes went missing (a crash mid-create) and remove
empty nodes and pools after the class's consolidation delay. Only managed pools are touched."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from ccc.api.values import NodePool, NodePoolStatus, OfferingKey
from ccc.controller.events import ObjectRef
from ccc.controller.projections import NodeInfo, PodInfo
from ccc.controller.state import missing_nodes, node_usage
from policies.consolidation import plan_scale_down
from providers.base import CapacityErrorReporter
from providers.errors import InsufficientCapacityError, ProviderError, QuotaExceededError

if TYPE_CHECKING:
    from ccc.controller.reconciler import Reconciler

log = structlog.get_logger("ccc.housekeeping")


class Housekeeping:
    def __init__(self, owner: Reconciler) -> None:
        self._owner = owner
        self._missing_since: dict[str, datetime] = {}
        self._empty_since: dict[str, datetime] = {}

    async def run(
        self,
        now: datetime,
        pools: Sequence[NodePool],
        nodes: Sequence[NodeInfo],
        pods: Sequence[PodInfo],
        *,
        pending_classes: set[str],
    ) -> None:
        await self._repair(now, pools, nodes)
        if self._owner.config.scale_down_enabled:
            await self._scale_down(now, pools, nodes, pods, pending_classes)

    async def _repair(
        self, now: datetime, pools: Sequence[NodePool], nodes: Sequence[NodeInfo]
    ) -> None:
        for pool in pools:
            if pool.managed and pool.status is NodePoolStatus.STOPPING:
                # A delete that was interrupted (crash): finish it.
                log.info("node_pool.finish_delete", node_pool=str(pool.name))
                await self._call(
                    "node_pool.delete_failed",
                    str(pool.name),
                    self._owner.provider.delete_node_pool(str(pool.name)),
                )
        pools = [p for p in pools if p.status is not NodePoolStatus.STOPPING]
        missing = missing_nodes(nodes, pools)
        for name in set(self._missing_since) - set(missing):
            del self._missing_since[name]
        after = timedelta(seconds=self._owner.config.repair_after_s)
        by_name = {str(p.name): p for p in pools}
        for name, count in missing.items():
            first = self._missing_since.setdefault(name, now)
            pool = by_name[name]
            if await self._give_up_if_failed(pool, count, first, now):
                continue
            if now - first < after:
                continue
            log.info("node_pool.repair", node_pool=name, missing=count, node_count=pool.node_count)
            resize = self._owner.provider.resize_node_pool(name, node_count=pool.node_count)
            if await self._call("node_pool.repair_failed", name, resize):
                self._missing_since.pop(name, None)

    async def _give_up_if_failed(
        self, pool: NodePool, missing: int, first: datetime, now: datetime
    ) -> bool:
        """Nodes that never came: if the provider reports why (a late stockout), or they are
        overdue, mark the offering unavailable, shrink the pool back to what registered and let
        the next pass walk on. Returns True when it gave up."""
        owner = self._owner
        error: ProviderError | None = None
        provider = owner.provider
        if isinstance(provider, CapacityErrorReporter) and now > first:
            try:
                async with asyncio.timeout(owner.config.provider_timeout_s):
                    errors = await provider.capacity_errors(str(pool.name), since=first)
            except (ProviderError, TimeoutError) as exc:
                log.warning(
                    "node_pool.capacity_errors_failed",
                    node_pool=str(pool.name),
                    error=str(exc)[:300],
                )
                errors = []
            error = next(
                (
                    e
                    for e in errors
                    if isinstance(e, InsufficientCapacityError | QuotaExceededError)
                ),
                None,
            )
        timeout = owner.config.node_registration_timeout_s
        st = owner._state.get(pool.class_name or "")
        if st is not None and st.compiled is not None:
            tier = next((t for t in st.compiled.tiers if t.rule_index == pool.rule_index), None)
            if tier is not None and tier.wait_s:
                timeout = max(timeout, float(tier.wait_s))
        overdue = now - first >= timedelta(seconds=timeout)
        if error is None and not overdue:
            return False
        reason = error.reason if error is not None else "NODES_NOT_REGISTERED"
        message = (
            error.message
            if error is not None
            else (f"{missing} node(s) of {pool.name} did not register within {timeout:.0f}s")
        )
        zone = pool.zones[0] if pool.zones else ""
        key = OfferingKey(
            machine_type=pool.machine_type, zone=zone, capacity_type=pool.capacity_type
        )
        if st is not None:
            st.memory = st.memory.record_failure(key, reason=reason, message=message[:500], now=now)
            await owner.notices.event(
                owner.notices.class_ref(pool.class_name or "", st.raw),
                "Warning",
                "OfferingUnavailable",
                f"{pool.machine_type} {pool.capacity_type.value} in {zone}: {reason}: "
                f"{message[:200]}; giving up on {missing} node(s) of {pool.name}",
                now,
            )
        log.warning(
            "offering.marked_unavailable",
            class_name=pool.class_name,
            machine_type=pool.machine_type,
            zone=zone,
            capacity_type=pool.capacity_type.value,
            reason=reason,
            node_pool=str(pool.name),
        )
        registered = pool.node_count - missing
        call = (
            owner.provider.resize_node_pool(str(pool.name), node_count=registered)
            if registered > 0
            else owner.provider.delete_node_pool(str(pool.name))
        )
        await self._call("node_pool.shrink_failed", str(pool.name), call)
        self._missing_since.pop(str(pool.name), None)
        owner.notify()
        return True

    async def _call(self, failure_event: str, pool: str, call: Awaitable[object]) -> bool:
        """Await one provider call under the provider timeout; log failures, never raise."""
        try:
            async with asyncio.timeout(self._owner.config.provider_timeout_s):
                await call
        except (ProviderError, TimeoutError) as exc:
            log.warning(failure_event, node_pool=pool, error=str(exc)[:300])
            return False
        return True

    async def _scale_down(
        self,
        now: datetime,
        pools: Sequence[NodePool],
        nodes: Sequence[NodeInfo],
        pods: Sequence[PodInfo],
        pending_classes: set[str],
    ) -> None:
        owner = self._owner
        managed = {str(p.name): p for p in pools if p.managed}
        usage = node_usage(nodes, pods, managed, self._empty_since, now=now)
        delays: dict[str, timedelta] = {}
        for name, st in owner._state.items():
            minutes = None
            if st.model is not None and st.model.spec.autoscaling_policy is not None:
                minutes = st.model.spec.autoscaling_policy.consolidation_delay_minutes
            delays[name] = (
                timedelta(minutes=minutes) if minutes else owner.config.default_consolidation_delay
            )
        for d in plan_scale_down(
            list(managed.values()),
            usage,
            now=now,
            delays=delays,
            pending_classes=frozenset(pending_classes),
        ):
            call = (
                owner.provider.delete_node_pool(d.pool)
                if d.delete_pool
                else owner.provider.delete_nodes(d.pool, d.nodes)
            )
            if not await self._call("scale_down.failed", d.pool, call):
                continue
            kind = "pool" if d.delete_pool else "node"
            owner.metrics.scale_down.labels(class_name=d.class_name or "", kind=kind).inc(
                1 if d.delete_pool else len(d.nodes)
            )
            log.info(
                "scale_down.done",
                node_pool=d.pool,
                class_name=d.class_name,
                nodes=list(d.nodes),
                delete_pool=d.delete_pool,
                reason=d.reason,
            )
            for n in d.nodes:
                self._empty_since.pop(n, None)
            if d.class_name and d.class_name in owner._state:
                st = owner._state[d.class_name]
                what = (
                    f"deleted node pool {d.pool}"
                    if d.delete_pool
                    else (f"removed {len(d.nodes)} node(s) from {d.pool}")
                )
                await owner.notices.event(
                    owner.notices.class_ref(d.class_name, st.raw),
                    "Normal",
                    "ScaledDown",
                    f"{what}: {d.reason}",
                    now,
                )


__all__ = ["Housekeeping", "ObjectRef"]

"""The reconcile loop: pending pods -> decide -> provider -> status, Events, metrics.

Level-triggered: every pass rebuilds the snapshot from the informer caches and the provider's
pool list, so a pass can start from any state (a restart, a crash mid-create, a lost event).
Within one pass, a stockout marks the offering in the obtainability memory and the affected pod
groups are walked again at once, so falling back to the next zone or rule costs one provider
round trip, not a batching window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from ccc.api.catalog import Catalog
from ccc.api.computeclass import ComputeClass
from ccc.api.location import ClusterLocation
from ccc.api.manifest import InvalidComputeClass, Problem, parse_compute_class
from ccc.api.values import NodePoolStatus, OfferingKey, ReservationCapacity
from ccc.api.workload import PodRequest, group_by_template
from ccc.controller.config import ControllerConfig
from ccc.controller.decide import Snapshot, decide
from ccc.controller.events import EventRecorder
from ccc.controller.execute import Outcome, execute
from ccc.controller.housekeeping import Housekeeping
from ccc.controller.metrics import Metrics
from ccc.controller.notices import Notices
from ccc.controller.projections import NodeInfo, PodInfo
from ccc.controller.state import PodRef, node_slots, pending_pods
from ccc.controller.status import StatusWriter, memory_from_status
from ccc.controller.status_report import class_status
from policies.inflight import absorb
from policies.obtainability import BackoffPolicy, ObtainabilityMemory
from policies.plan import Attempt
from policies.tiers import CompiledClass, compile_class
from providers.base import Provider
from providers.clock import Clock

log = structlog.get_logger("ccc.controller")


class Store(Protocol):
    """What the reconciler needs of an informer."""

    def values(self) -> list[Any]: ...


@dataclass
class ClassState:
    """What the controller keeps per ComputeClass between passes."""

    raw: Mapping[str, Any]
    model: ComputeClass | None = None
    problems: tuple[Problem, ...] = ()
    memory: ObtainabilityMemory = field(default_factory=ObtainabilityMemory)
    compiled: CompiledClass | None = None


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one reconcile pass did (returned for tests and benchmarks)."""

    pending: int
    absorbed: int
    outcomes: tuple[Outcome, ...]
    orphans: tuple[str, ...]


class Reconciler:
    """One controller's decide-and-execute loop. Not thread-safe; run on one event loop."""

    def __init__(
        self,
        *,
        provider: Provider,
        catalog: Catalog,
        config: ControllerConfig,
        clock: Clock,
        metrics: Metrics,
        pods: Store,
        nodes: Store,
        classes: Store,
        recorder: EventRecorder | None = None,
        status: StatusWriter | None = None,
    ) -> None:
        self.provider = provider
        self.catalog = catalog
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self._pods = pods
        self._nodes = nodes
        self._classes = classes
        self._recorder = recorder
        self._status = status
        self._policy = BackoffPolicy(config.backoff_base_s, config.backoff_max_s)
        self._state: dict[str, ClassState] = {}
        self._wake = asyncio.Event()
        self._waiting: dict[OfferingKey, datetime] = {}
        self._reservations: tuple[float, Sequence[ReservationCapacity] | None] = (0.0, None)
        #: The cluster's region and zones (set when leading starts; see ``Controller``).
        self.cluster: ClusterLocation | None = None
        self.notices = Notices(recorder, metrics, clock)
        self.housekeeping = Housekeeping(self)
        self.passes = 0

    # -- triggering ------------------------------------------------------------------------
    def notify(self, *_: object) -> None:
        """Informer hook: something changed; plan again soon."""
        self._wake.set()

    async def run(self, *, until: Callable[[], bool] = lambda: False) -> None:
        """Reconcile forever (batched by ``batch_idle_s``/``batch_max_s``, at least every
        ``resync_s``)."""
        while not until():
            await self._wait_for_batch()
            started = time.perf_counter()
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile.failed")
            finally:
                self.metrics.reconcile_duration.observe(time.perf_counter() - started)

    async def _wait_for_batch(self) -> None:
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.resync_s):
                await self._wake.wait()
        except TimeoutError:
            return
        deadline = time.monotonic() + cfg.batch_max_s
        while True:
            self._wake.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                async with asyncio.timeout(min(cfg.batch_idle_s, left)):
                    await self._wake.wait()
            except TimeoutError:
                return

    # -- one pass --------------------------------------------------------------------------
    def _refresh_classes(self) -> dict[str, ClassState]:
        seen: set[str] = set()
        for raw in self._classes.values():
            name = str((raw.get("metadata") or {}).get("name", ""))
            if not name:
                continue
            seen.add(name)
            st = self._state.get(name)
            if st is not None and st.raw is raw:
                continue
            if st is None:
                st = ClassState(raw=raw, memory=memory_from_status(raw.get("status"), self._policy))
                self._state[name] = st
            st.raw = raw
            try:
                st.model, st.problems = parse_compute_class(raw), ()
            except InvalidComputeClass as exc:
                st.model, st.problems = None, exc.problems
                log.warning(
                    "class.invalid", class_name=name, problems=[str(p) for p in exc.problems][:10]
                )
        for gone in set(self._state) - seen:
            del self._state[gone]
            if self._status is not None:
                self._status.forget(gone)
        return self._state

    async def _reservations_now(self, now_s: float) -> Sequence[ReservationCapacity] | None:
        at, cached = self._reservations
        if cached is not None and now_s - at < 60:
            return cached
        try:
            async with asyncio.timeout(self.config.provider_timeout_s):
                fresh = await self.provider.list_reservations()
        except Exception as exc:
            log.warning("reservations.list_failed", error=str(exc))
            return cached
        self._reservations = (now_s, fresh)
        return fresh

    async def reconcile_once(self) -> PassReport:
        """One level-triggered pass. Never raises for provider or input errors."""
        self.passes += 1
        now = self.clock.now()
        states = self._refresh_classes()
        async with asyncio.timeout(self.config.provider_timeout_s):
            all_pools = list(await self.provider.list_node_pools())
        # Pools being deleted offer no capacity; housekeeping finishes their deletion.
        pools = [p for p in all_pools if p.status is not NodePoolStatus.STOPPING]
        reservations = await self._reservations_now(time.monotonic())
        pods: list[PodInfo] = self._pods.values()
        nodes: list[NodeInfo] = self._nodes.values()
        pending, refs = pending_pods(pods, accept_gke_label=self.config.accept_gke_class_label)
        for st in states.values():
            if st.model is not None:
                st.compiled = compile_class(
                    st.model,
                    self.catalog,
                    cluster=self.cluster,
                    default_zones=self.config.default_zones,
                    node_pools=pools,
                )
        self._export_pending(pending)
        absorbed = absorb(pending, node_slots(nodes, pods, pools, self.catalog, now=now))
        valid = {n: st.model for n, st in states.items() if st.model is not None}
        snapshot = Snapshot(
            now=now,
            classes=valid,
            pending=absorbed.remaining,
            node_pools=pools,
            reservations=reservations,
            memory={n: st.memory for n, st in states.items()},
            default_zones=self.config.default_zones,
            cluster=self.cluster,
        )
        outcomes, orphans = await self._walk_and_execute(snapshot, refs)
        for o in outcomes:
            for done in o.pools:
                pools = [p for p in pools if p.name != done.name] + [done]
        await self._write_statuses(now)
        await self.housekeeping.run(
            now,
            pools + [p for p in all_pools if p.status is NodePoolStatus.STOPPING],
            nodes,
            pods,
            # Every pending pod counts, absorbed ones too: a node they are about to land on is
            # not empty, however long the scheduler takes to bind them.
            pending_classes={p.compute_class for p in pending if p.compute_class},
        )
        return PassReport(
            pending=sum(p.count for p in pending),
            absorbed=absorbed.on_existing + absorbed.on_expected,
            outcomes=tuple(outcomes),
            orphans=tuple(sorted(orphans)),
        )

    def _export_pending(self, pending: Sequence[PodRequest]) -> None:
        counts: dict[str, int] = {}
        for p in pending:
            if p.compute_class:
                counts[p.compute_class] = counts.get(p.compute_class, 0) + p.count
        for name in set(counts) | set(self._state):
            self.metrics.pending_pods.labels(class_name=name).set(counts.get(name, 0))

    async def _walk_and_execute(
        self, snapshot: Snapshot, refs: Mapping[str, list[PodRef]]
    ) -> tuple[list[Outcome], set[str]]:
        outcomes: list[Outcome] = []
        orphans: set[str] = set()
        failures: dict[str, list[Attempt]] = {}
        for _ in range(self.config.max_fallbacks_per_reconcile):
            decisions = decide(snapshot, self.catalog, max_viable=1)
            for cls, pods in decisions.orphans.items():
                orphans.add(cls)
                await self.notices.orphan_events(cls, pods, refs, snapshot.now)
            chosen = [
                (cls, g)
                for cls, plan in decisions.plans.items()
                for g in plan.groups
                if g.chosen is not None
            ]
            for cls, plan in decisions.plans.items():
                for g in plan.groups:
                    if g.chosen is None:
                        await self._unsatisfiable(cls, g.attempts, refs, snapshot)
            if not chosen:
                break
            # One request per node pool per round: two groups that land on the same pool are
            # served one after the other, each sizing the pool from the previous result.
            deferred: set[str] = set()
            by_pool: set[str] = set()
            unique = []
            for cls, g in chosen:
                pool_name = g.chosen.node_pool if g.chosen is not None else None
                if pool_name is not None and pool_name in by_pool:
                    deferred.add(g.key)
                    continue
                if pool_name is not None:
                    by_pool.add(pool_name)
                unique.append((cls, g))
            chosen = unique
            results = await asyncio.gather(
                *(
                    execute(self.provider, g.chosen, timeout_s=self.config.provider_timeout_s)
                    for _, g in chosen
                    if g.chosen is not None
                )
            )
            retry_groups: set[str] = set(deferred)
            served: set[str] = set()
            covered: dict[str, int] = {}
            new_pools = list(snapshot.node_pools)
            for (cls, g), outcome in zip(chosen, results, strict=True):
                outcomes.append(outcome)
                st = self._state[cls]
                again = await self._record(
                    cls, st, outcome, failures.setdefault(g.key, []), refs, snapshot.now
                )
                (retry_groups if again else served).add(g.key)
                covered[g.key] = outcome.covered_pods if again else 0
                for done in outcome.pools:
                    new_pools = [p for p in new_pools if p.name != done.name]
                    new_pools.append(done)
            # Pools a multi-pool attempt made before it failed serve some of the group's pods;
            # only the rest is walked again.
            retry = group_by_template([p for p in snapshot.pending if p.group_id() in retry_groups])
            remaining = [
                p.model_copy(update={"count": p.count - covered.get(p.group_id(), 0)})
                for p in retry
                if p.count > covered.get(p.group_id(), 0)
            ]
            if not remaining:
                break
            snapshot = replace(
                snapshot,
                pending=remaining,
                node_pools=new_pools,
                memory={n: st.memory for n, st in self._state.items()},
            )
        return outcomes, orphans

    async def _record(
        self,
        cls: str,
        st: ClassState,
        outcome: Outcome,
        earlier: list[Attempt],
        refs: Mapping[str, list[PodRef]],
        now: datetime,
    ) -> bool:
        """Book an outcome into memory, metrics, Events; True when the group should be walked
        again now (the offering was marked unavailable)."""
        a = outcome.attempt
        ct = a.capacity_type.value if a.capacity_type else ""
        self.metrics.provisioning_attempts.labels(
            class_name=cls,
            rule=str(a.rule),
            zone=a.zone,
            capacity_type=ct,
            result=outcome.result,
        ).inc()
        ref = self.notices.class_ref(cls, st.raw)
        if outcome.result == "success":
            key = OfferingKey(
                machine_type=a.machine_type or "", zone=a.zone, capacity_type=a.capacity_type
            )
            st.memory = st.memory.record_success(key)
            self._waiting.pop(key, None)
            after = ""
            if earlier:
                where = ", ".join(
                    dict.fromkeys(
                        f"{e.zone} ({e.capacity_type.value if e.capacity_type else ''})"
                        for e in earlier
                    )
                )
                after = f" after stockout in {where}"
            msg = (
                f"provisioning {a.nodes} × {a.machine_type} {ct} in {a.zone} (rule {a.rule}){after}"
            )
            log.info(
                "provisioning.requested",
                class_name=cls,
                node_pool=a.node_pool,
                machine_type=a.machine_type,
                zone=a.zone,
                capacity_type=ct,
                rule=a.rule,
                nodes=a.nodes,
                decision=a.decision,
                reason=msg,
            )
            await self.notices.event(ref, "Normal", "Provisioning", msg, now)
            await self.notices.pod_events(
                a.group, refs, "Normal", "Provisioning", msg, now, observe_requested=cls
            )
            return False
        error = outcome.error
        reason = error.reason if error else outcome.result
        text = error.message if error else ""
        if outcome.result == "transient" or outcome.mark is None:
            log.warning(
                "provisioning.transient_error",
                class_name=cls,
                node_pool=a.node_pool,
                zone=a.zone,
                reason=reason,
                error=text[:300],
            )
            await self.notices.event(
                ref,
                "Warning",
                "ProvisioningRetry",
                f"{a.machine_type} {ct} in {a.zone}: {reason}: {text[:200]}; retrying",
                now,
            )
            return False
        if a.wait_s and outcome.result in ("stockout", "quota"):
            first = self._waiting.setdefault(outcome.mark, now)
            if now - first < timedelta(seconds=a.wait_s):
                log.info(
                    "provisioning.capacity_check_waiting",
                    class_name=cls,
                    zone=a.zone,
                    capacity_type=ct,
                    waited_s=(now - first).total_seconds(),
                    wait_s=a.wait_s,
                )
                return False
            self._waiting.pop(outcome.mark, None)
        st.memory = st.memory.record_failure(
            outcome.mark, reason=reason, message=text[:500], now=now
        )
        entry = next(e for e in st.memory if e.key == outcome.mark)
        self.metrics.offerings_marked_unavailable.labels(
            class_name=cls,
            machine_type=outcome.mark.machine_type,
            zone=outcome.mark.zone,
            capacity_type=ct,
            reason=reason,
        ).inc()
        log.warning(
            "offering.marked_unavailable",
            class_name=cls,
            machine_type=outcome.mark.machine_type,
            zone=outcome.mark.zone,
            capacity_type=ct,
            reason=reason,
            failures=entry.failures,
            until=entry.until.isoformat(),
            rule=a.rule,
        )
        await self.notices.event(
            ref,
            "Warning",
            "OfferingUnavailable",
            f"{outcome.mark.machine_type} {ct} in {outcome.mark.zone} "
            f"(rule {a.rule}): {reason}; skipped until "
            f"{entry.until:%Y-%m-%dT%H:%M:%SZ}",
            now,
        )
        earlier.append(a)
        return True

    async def _unsatisfiable(
        self,
        cls: str,
        attempts: Sequence[Attempt],
        refs: Mapping[str, list[PodRef]],
        snapshot: Snapshot,
    ) -> None:
        st = self._state.get(cls)
        if st is None or st.model is None or not attempts:
            return
        policy = st.model.spec.when_unsatisfiable
        last = attempts[-1].reason
        msg = (
            f"no rule of ComputeClass {cls} can be satisfied now ({last}); "
            f"whenUnsatisfiable={policy}: pods stay Pending until an offering frees up"
        )
        await self.notices.event(
            self.notices.class_ref(cls, st.raw), "Warning", "Unsatisfiable", msg, snapshot.now
        )
        await self.notices.pod_events(
            attempts[0].group, refs, "Warning", "Unsatisfiable", msg, snapshot.now
        )

    async def _write_statuses(self, now: datetime) -> None:
        for name, st in self._state.items():
            st.memory = st.memory.prune(now)
            self.metrics.offerings_unavailable.labels(class_name=name).set(
                len(st.memory.active(now))
            )
            self.metrics.class_invalid.labels(class_name=name).set(0 if st.model else 1)
            if self._status is None:
                continue
            body = class_status(st.raw, st.model, st.problems, st.compiled, st.memory, now)
            try:
                await self._status.write(name, body)
            except Exception as exc:
                log.warning("status.write_failed", class_name=name, error=str(exc)[:300])

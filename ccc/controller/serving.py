"""The ServingGroup controller inside ``ccc run``: observe -> decide -> execute -> record.

It runs beside the provisioning loop (:class:`~ccc.controller.reconciler.Reconciler`) on the
same caches, clock and executor, and reads that loop's obtainability memory (it never writes
it: the memory keeps one writer). Each pass, for every ServingGroup:

1. **Observe**: per variant, the workload through :class:`~ccc.controller.scale.Workloads`
   (``/scale`` replicas, the class its pod template selects, its pods), the nodes those pods run
   on (planned disruptions, lost nodes), whether the class reports every offering unavailable,
   and any HorizontalPodAutoscaler that scales the workload itself (another owner).
2. **Decide**: :func:`policies.serving_control.decide_group` (pure): ``ScaleTarget`` commands.
3. **Execute**: through the provisioning loop's :class:`~ccc.controller.execute.Executor`, whose
   ``ScaleTarget`` verb is run by :class:`~ccc.controller.scale.ScaleExecutor` (``/scale`` only).
4. **Record**: the group's status (which is also the split policy's memory, so a restarted
   controller continues where it was), an Event per shift, metrics, a structured log line.
5. **Cover drains**: per group, whether the nodes with a planned disruption that host its Ready
   replicas may be drained now (:attr:`covers`, read by the provisioning loop's snapshot: the
   drain waits for the surge, :mod:`policies.serving_drain`); ``on_covers`` is called when that
   changes.

A pass runs when something changed (a pod, node, class, group or HPA; batched for
``batch_idle_s``), when a scale write ended, at the split's next check time (obtain timeout,
stabilization end) and at least every ``resync_s``; every wait is on the injected clock.
A node's leaving signal (:meth:`node_changed`) is timed to the first scale write that answers
it: ``serving.shift``'s ``after_s`` and ``ccc_serving_signal_to_scale_seconds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog

from ccc.api import labels as L
from ccc.api.catalog import Catalog
from ccc.api.cluster import NodeInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.location import ClusterLocation
from ccc.api.manifest import parse_compute_class
from ccc.api.servinggroup import ServingGroup
from ccc.api.servinggroup.manifest import InvalidServingGroup, parse_serving_group
from ccc.controller.events import ObjectRef
from ccc.controller.execute import Executor
from ccc.controller.metrics import Metrics
from ccc.controller.scale import ScaleExecutor, Workloads
from ccc.controller.serving_status import group_status
from ccc.controller.signals import LeavingTimes
from ccc.controller.sinks import EventSink
from ccc.controller.view import ClusterView
from ccc.controller.waiting import first_of
from policies.commands import ScaleTarget
from policies.obtainability import ObtainabilityMemory
from policies.serving import VariantMemory, memories
from policies.serving_control import (
    GroupDecision,
    TargetView,
    class_unobtainable,
    decide_group,
    replica_price,
)
from policies.snapshot import GroupCover, ServingCovers
from providers.clock import Clock

log = structlog.get_logger("ccc.serving")

Owners = Callable[[str, str, str], tuple[str, ...]]
"""``(namespace, kind, name)`` -> the other owners that scale that workload."""


class GroupSource(Protocol):
    """Where ServingGroups are read (raw objects, status included)."""

    def groups(self) -> Sequence[Mapping[str, Any]]: ...


class GroupStatusSink(Protocol):
    """Writes a ServingGroup's whole ``status``; may skip a write equal to the last one."""

    async def write_group_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> bool: ...


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class ServingController:
    """The ServingGroup loop (module docstring). Not thread-safe; one event loop."""

    def __init__(
        self,
        *,
        groups: GroupSource,
        workloads: Workloads,
        view: ClusterView,
        catalog: Catalog,
        clock: Clock,
        metrics: Metrics,
        executor: Executor,
        memory_of: Callable[[str], ObtainabilityMemory],
        cluster: Callable[[], ClusterLocation | None] = lambda: None,
        events: EventSink | None = None,
        status: GroupStatusSink | None = None,
        owners: Owners = lambda ns, kind, name: (),
        batch_idle_s: float = 0.05,
        resync_s: float = 10.0,
    ) -> None:
        self.source = groups
        self.workloads = workloads
        self.view = view
        self.catalog = catalog
        self.clock = clock
        self.metrics = metrics
        self.executor = executor
        self.scale = ScaleExecutor(workloads)
        self.scale.on_done = self._written_done
        executor.scale = self.scale
        self.memory_of = memory_of
        #: where the cluster lives (the reconciler learns it): offerings elsewhere never count
        self.cluster = cluster
        self.events = events
        self.status = status
        self.owners = owners
        self.batch_idle_s = batch_idle_s
        self.resync_s = resync_s
        #: the split policy's memory per group (restored from status when first seen)
        self.memory: dict[str, dict[str, VariantMemory]] = {}
        #: replicas this process last wrote per workload, to notice another writer
        self.written: dict[tuple[str, str, str], int] = {}
        self.last: dict[str, GroupDecision] = {}
        self.next_check: datetime | None = None
        self.passes = 0
        self._changed = asyncio.Event()
        self._invalid: dict[str, str] = {}
        #: per group, the drains its last pass allows (see :attr:`covers`)
        self._covers: dict[str, GroupCover] = {}
        self._synced = False
        #: called when :attr:`covers` changes (the provisioning loop passes again)
        self.on_covers: Callable[[], None] = lambda: None
        #: when each node's leaving signal was first observed (signal-to-scale latency)
        self.leaving = LeavingTimes(clock)

    @property
    def covers(self) -> ServingCovers:
        """Per group, the nodes with a planned disruption whose drain the group's Ready capacity
        covers; ``synced`` once a pass over every group has finished."""
        return ServingCovers(synced=self._synced, groups=dict(self._covers))

    def notify(self, *_: object) -> None:
        """Something the groups depend on changed: pass again after the batching window."""
        self._changed.set()

    def node_changed(self, event: str, old: NodeInfo | None, new: NodeInfo | None) -> None:
        """A node changed in the cache: a leaving signal is timed from now; a change the groups
        read (added, deleted, readiness, taints, a planned disruption) passes again."""
        if self.leaving.node_changed(event, old, new) or _relevant(old, new):
            self.notify()

    def _written_done(self, command: ScaleTarget, error: BaseException | None) -> None:
        key = (command.namespace, command.kind, command.name)
        if error is None:
            self.written[key] = command.replicas
        self.notify()

    # -- the loop --------------------------------------------------------------------------
    async def run(self, *, until: Callable[[], bool] = lambda: False) -> None:
        """Pass until ``until()`` or cancellation (writes in flight are cancelled). A new run (a
        new term as leader) forgets the drain verdicts of the last one until its first pass."""
        self._synced = False
        self._covers.clear()
        try:
            while not until():
                try:
                    await self.reconcile_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("serving.reconcile_failed")
                await self._wait()
        finally:
            await self.scale.cancel_all()

    async def _wait(self) -> None:
        timeout = self.resync_s
        if self.next_check is not None:
            due = (self.next_check - self.clock.now()).total_seconds()
            timeout = min(timeout, max(due, 0.01))
        if not self._changed.is_set():
            await first_of(self._changed.wait(), self.clock.sleep(timeout))
        if self._changed.is_set() and self.batch_idle_s > 0:
            await self.clock.sleep(self.batch_idle_s)

    async def reconcile_once(self) -> list[GroupDecision]:
        """One pass over every group; a group that fails never stops the others."""
        self.passes += 1
        self._changed.clear()
        now = self.clock.now()
        nodes = {n.name: n for n in self.view.nodes()}
        classes = self._classes()
        unobtainable = frozenset(
            name
            for name, cc in classes.items()
            if class_unobtainable(
                cc, self.catalog, self.memory_of(name), now, cluster=self.cluster()
            )
        )
        decisions: list[GroupDecision] = []
        # A class stops being unobtainable when its first backoff ends: pass again then, so a
        # share moves back on time rather than at the next resync.
        wakes: list[datetime] = [
            min(u.until for u in active)
            for name in unobtainable
            if (active := self.memory_of(name).active(now))
        ]
        seen: set[str] = set()
        for raw in self.source.groups():
            meta = raw.get("metadata") or {}
            key = _key(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
            seen.add(key)
            try:
                group = parse_serving_group(raw)
            except InvalidServingGroup as exc:
                if self._invalid.get(key) != str(exc):
                    self._invalid[key] = str(exc)
                    log.warning("serving.group_invalid", group=key, error=str(exc)[:500])
                continue
            try:
                decision = await self._group(group, nodes, classes, unobtainable, now)
            except Exception:
                log.exception("serving.group_failed", group=key)
                self._covers[key] = GroupCover(group=key, covered=frozenset(), at=now)
                continue
            self._covers[key] = _cover(key, decision, nodes, now)
            decisions.append(decision)
            if decision.split.next_check_at is not None:
                wakes.append(decision.split.next_check_at)
        for gone in set(self.memory) - seen:
            self.memory.pop(gone, None)
            self.last.pop(gone, None)
        before = (self._synced, {k: c.covered for k, c in self._covers.items()})
        for gone in set(self._covers) - seen:
            del self._covers[gone]
        self._synced = True
        if before != (self._synced, {k: c.covered for k, c in self._covers.items()}):
            self.on_covers()
        self.next_check = min(wakes) if wakes else None
        return decisions

    def _classes(self) -> dict[str, ComputeClass]:
        out: dict[str, ComputeClass] = {}
        for raw in self.view.classes():
            try:
                cc = parse_compute_class(raw)
            except Exception:  # an invalid class is reported by the provisioning loop
                continue
            out[cc.metadata.name] = cc
        return out

    async def _group(
        self,
        group: ServingGroup,
        nodes: Mapping[str, NodeInfo],
        classes: Mapping[str, ComputeClass],
        unobtainable: frozenset[str],
        now: datetime,
    ) -> GroupDecision:
        ns, key = group.namespace, _key(group.namespace, group.name)
        views: dict[str, TargetView] = {}
        drift: list[str] = []
        for v in group.spec.variants:
            ref = v.target_ref
            view = await self.workloads.read(ns, ref)
            owners = self.owners(ns, ref.kind, ref.name)
            if owners:
                view = _with_owners(view, owners)
            wkey = (ns, ref.kind, ref.name)
            wrote = self.written.get(wkey)
            if (
                view.found
                and wrote is not None
                and view.replicas != wrote
                and not self.scale.in_flight(*wkey)
            ):
                drift.append(
                    f"{ref.kind} {ref.name} was scaled to {view.replicas} by another writer"
                    f" (ccc set {wrote}); ccc sets it again"
                )
            views[v.name] = view
        before = self.last[key].hosts if key in self.last else {}
        if key not in self.memory:
            self.memory[key] = memories(group.status.variants if group.status else None)
        prices = None
        if group.spec.preference == "Cost":
            prices = {
                v.name: replica_price(
                    classes.get(views[v.name].class_name or ""),
                    views[v.name],
                    self.catalog,
                    self.memory_of(views[v.name].class_name or ""),
                    now,
                    cluster=self.cluster(),
                )
                for v in group.spec.variants
            }
        decision = decide_group(
            group,
            views,
            nodes,
            unobtainable,
            now=now,
            memory=self.memory[key],
            prices=prices,
            hosts=self.last[key].hosts if key in self.last else None,
        )
        self.memory[key] = {t.name: t.memory for t in decision.split.variants}
        self.executor.start(decision.commands)
        self.last[key] = decision
        answered = None
        if decision.commands:
            hosts = (n.name for hs in before.values() for n in hs)
            answered = self.leaving.answer(hosts, now)
        await self._record(group, decision, views, drift, now, after_s=answered)
        return decision

    # -- record ----------------------------------------------------------------------------
    async def _record(
        self,
        group: ServingGroup,
        d: GroupDecision,
        views: Mapping[str, TargetView],
        drift: Sequence[str],
        now: datetime,
        *,
        after_s: float | None = None,
    ) -> None:
        """``after_s``: seconds from the leaving signal of a node that hosted the group's Ready
        replicas to this pass's scale writes (None when they answer no such signal)."""
        ns, name = group.namespace, group.name
        s = d.split
        for c in d.commands:
            log.info(
                "serving.scale",
                group=f"{ns}/{name}",
                kind=c.kind,
                workload=c.name,
                replicas=c.replicas,
                reason=c.reason,
            )
        if d.shift is not None:
            self.metrics.serving_shifts.labels(ns, name, d.shift.cause.value).inc()
            log.info(
                "serving.shift",
                group=f"{ns}/{name}",
                cause=d.shift.cause,
                message=d.shift.message,
                after_s=after_s,
            )
            if self.events is not None:
                ref = ObjectRef(
                    kind="ServingGroup",
                    name=name,
                    namespace=ns,
                    uid=group.metadata.uid,
                    api_version="ccc.dev/v1alpha1",
                )
                await self.events.emit(
                    ref, type_="Normal", reason="CapacityShifted", message=d.shift.message, now=now
                )
        if after_s is not None:
            self.metrics.serving_signal_to_scale.observe(after_s)
        gauge = self.metrics.serving_capacity
        gauge.labels(ns, name, "", "ready").set(s.ready_capacity)
        gauge.labels(ns, name, "", "desired").set(s.desired_capacity)
        gauge.labels(ns, name, "", "target").set(s.target_capacity)
        for t in s.variants:
            gauge.labels(ns, name, t.name, "ready").set(t.ready_capacity)
            gauge.labels(ns, name, t.name, "desired").set(t.desired_capacity)
        if self.status is None:
            return
        body = group_status(group, d, views, drift, now)
        try:
            await self.status.write_group_status(ns, name, body)
        except Exception as exc:
            log.warning("serving.status_failed", group=f"{ns}/{name}", error=str(exc)[:300])


def _relevant(old: NodeInfo | None, new: NodeInfo | None) -> bool:
    if old is None or new is None:
        return True

    def key(n: NodeInfo) -> tuple[object, ...]:
        return (n.ready, n.unschedulable, n.taints, n.annotations.get(L.DISRUPTION_ANNOTATION))

    return key(old) != key(new)


def _cover(key: str, d: GroupDecision, nodes: Mapping[str, NodeInfo], now: datetime) -> GroupCover:
    """The drains ``d`` allows: every node marked for a planned disruption when this pass saw it
    (its Ready replicas there counted as disrupted), if Ready capacity without them meets
    ``spec.capacity``; none otherwise."""
    marked = frozenset(n.name for n in nodes.values() if n.annotations.get(L.DISRUPTION_ANNOTATION))
    return GroupCover(
        group=key, covered=marked if d.split.disruption_covered else frozenset(), at=now
    )


def _with_owners(view: TargetView, owners: tuple[str, ...]) -> TargetView:
    return TargetView(
        found=view.found,
        replicas=view.replicas,
        class_name=view.class_name,
        pods=view.pods,
        error=view.error,
        owners=owners,
        lws_size=view.lws_size,
    )

"""Record: every command and outcome becomes log lines, Events, metrics and status, here and
only here.

Each reason is logged once, under one stable event name with the same keys wherever it comes
from (the obtainability memory, for instance, is written by one reducer and reported by
:meth:`Recorder.commands` alone). Events and status writes are best effort: a failure is logged
and never stops the loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import structlog

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from ccc.api.values import NodePoolStatus
from ccc.controller.events import ObjectRef
from ccc.controller.metrics import Metrics
from ccc.controller.notices import Notices
from ccc.controller.observe import ClassEntry, Observation
from ccc.controller.signals import Signals
from ccc.controller.sinks import StatusSink
from ccc.controller.status import checks_to_status, requests_to_status
from ccc.controller.status_report import class_status
from policies.commands import (
    Cause,
    Command,
    Delete,
    Drain,
    MarkUnavailable,
    Provision,
    Replace,
    WaitUntil,
    describe,
)
from policies.decide import Decision
from policies.nodes import NodeProgress
from policies.room import PodRef
from policies.serving_drain import SERVING_GROUP_SURGE
from policies.state import ControllerState, ProviderDone

log = structlog.get_logger("ccc.controller")

_GIVE_UP = (Cause.STOCKOUT, Cause.QUOTA, Cause.REGISTRATION)
#: GKE's blocked reasons the lifecycle reports (gauge labels)
_BLOCKED = ("PodDisruptionBudget", "ReplacementUnavailable", SERVING_GROUP_SURGE)


def _ann(nodes: Mapping[str, NodeInfo], name: str) -> Mapping[str, str]:
    node = nodes.get(name)
    return node.annotations if node is not None else {}


class Recorder:
    """Reports what the loop decided and what happened (module docstring)."""

    def __init__(self, metrics: Metrics, notices: Notices, status: StatusSink | None) -> None:
        self.metrics = metrics
        self.notices = notices
        self.status = status

    def _ref(self, classes: Mapping[str, ClassEntry], name: str) -> ObjectRef:
        entry = classes.get(name)
        return self.notices.class_ref(name, entry.raw if entry is not None else {})

    # -- outcomes ----------------------------------------------------------------------------

    def finished(self, done: ProviderDone) -> None:
        """Log a provider call's end and count it, the moment it ends (the executor calls
        this; Events follow in the next pass, :meth:`outcome_events`)."""
        c, e = done.command, done.error
        if isinstance(c, Delete):
            self._delete_finished(c, done)
            return
        if c.cause is Cause.REPAIR:
            if e is not None:
                log.warning("node_pool.repair_failed", node_pool=c.pool, error=e.message[:300])
            return
        a = c.attempt
        ct = a.capacity_type.value if a.capacity_type else ""
        self.metrics.provisioning_attempts.labels(
            class_name=c.class_name,
            rule=str(a.rule),
            zone=a.zone,
            capacity_type=ct,
            result="success" if e is None else e.result,
        ).inc()
        keys = {
            "class_name": c.class_name,
            "node_pool": a.node_pool,
            "zone": a.zone,
            "capacity_type": ct,
        }
        if e is None:
            log.info(
                "provisioning.requested",
                **keys,
                machine_type=a.machine_type,
                rule=a.rule,
                nodes=a.nodes,
                decision=a.decision,
                cause=c.cause.value,
                reason=c.reason,
            )
        elif e.result == "transient":
            log.warning(
                "provisioning.transient_error", **keys, reason=e.code, error=e.message[:300]
            )
        else:
            log.info(
                "provisioning.failed",
                **keys,
                result=e.result,
                reason=e.code,
                error=e.message[:300],
            )

    def _delete_finished(self, c: Delete, done: ProviderDone) -> None:
        e = done.error
        if c.cause is Cause.CONSOLIDATION:
            if e is not None:
                log.warning("scale_down.failed", node_pool=c.pool, error=e.message[:300])
                return
            self.metrics.scale_down.labels(
                class_name=c.class_name or "", kind="pool" if c.whole_pool else "node"
            ).inc(1 if c.whole_pool else len(c.nodes))
            log.info(
                "scale_down.done",
                node_pool=c.pool,
                class_name=c.class_name,
                nodes=list(c.nodes),
                delete_pool=c.whole_pool,
                reason=c.reason,
            )
            return
        failed = "node_pool.shrink_failed" if c.cause in _GIVE_UP else "node_pool.delete_failed"
        if e is not None:
            log.warning(failed, node_pool=c.pool, error=e.message[:300])
        else:
            log.info(
                "node_pool.shrunk" if c.pool_size else "node_pool.deleted",
                node_pool=c.pool,
                class_name=c.class_name,
                node_count=c.pool_size or 0,
                cause=c.cause.value,
            )

    async def outcome_events(
        self,
        done: ProviderDone,
        classes: Mapping[str, ClassEntry],
        refs: Mapping[str, list[PodRef]],
    ) -> None:
        """The Events of a provider call's end, on the class and the pods it served."""
        c, e, now = done.command, done.error, done.at
        if isinstance(c, Delete):
            if c.cause is Cause.CONSOLIDATION and e is None and c.class_name in classes:
                what = (
                    f"deleted node pool {c.pool}"
                    if c.whole_pool
                    else f"removed {len(c.nodes)} node(s) from {c.pool}"
                )
                ref = self._ref(classes, c.class_name or "")
                await self.notices.event(ref, "Normal", "ScaledDown", f"{what}: {c.reason}", now)
            return
        if c.cause is Cause.REPAIR:
            return
        a = c.attempt
        ref = self._ref(classes, c.class_name)
        if e is None:
            await self.notices.event(ref, "Normal", "Provisioning", c.reason, now)
            await self.notices.pod_events(
                a.group,
                refs,
                "Normal",
                "Provisioning",
                c.reason,
                now,
                observe_requested=c.class_name,
            )
        elif e.result == "transient":
            ct = a.capacity_type.value if a.capacity_type else ""
            await self.notices.event(
                ref,
                "Warning",
                "ProvisioningRetry",
                f"{a.machine_type} {ct} in {a.zone}: {e.code}: {e.message[:200]}; retrying",
                now,
            )

    # -- commands ----------------------------------------------------------------------------

    async def commands(
        self, commands: Sequence[Command], classes: Mapping[str, ClassEntry], now: datetime
    ) -> None:
        for c in commands:
            if not isinstance(c, WaitUntil):
                log.info(
                    "command.issued",
                    command=describe(c),
                    cause=c.cause.value,
                    reason=c.reason,
                    class_name=getattr(c, "class_name", None) or None,
                )
            if isinstance(c, MarkUnavailable):
                await self._marked(c, classes, now)
            elif isinstance(c, Provision) and c.cause is Cause.REPAIR:
                log.info(
                    "node_pool.repair",
                    node_pool=c.pool,
                    missing=c.attempt.nodes,
                    node_count=c.attempt.target_nodes,
                )
            elif isinstance(c, Provision):
                log.debug("provisioning.started", class_name=c.class_name, node_pool=c.pool)
            elif isinstance(c, Delete) and c.cause is Cause.REPAIR:
                log.info("node_pool.finish_delete", node_pool=c.pool)
            elif isinstance(c, Delete) and c.cause in _GIVE_UP:
                log.info("node_pool.give_up", node_pool=c.pool, reason=c.reason)
            elif isinstance(c, WaitUntil) and c.cause is Cause.CAPACITY_CHECK:
                waited = (now - c.check.since).total_seconds() if c.check else 0.0
                log.info(
                    "provisioning.capacity_check_waiting",
                    class_name=c.class_name,
                    node_pool=c.hold,
                    waited_s=waited,
                    until=c.at.isoformat(),
                    reason=c.reason,
                )

    async def _marked(
        self, c: MarkUnavailable, classes: Mapping[str, ClassEntry], now: datetime
    ) -> None:
        key = c.entry.key
        ct = key.capacity_type.value
        self.metrics.offerings_marked_unavailable.labels(
            class_name=c.class_name,
            machine_type=key.machine_type,
            zone=key.zone,
            capacity_type=ct,
            reason=c.entry.reason,
        ).inc()
        log.warning(
            "offering.marked_unavailable",
            class_name=c.class_name,
            machine_type=key.machine_type,
            zone=key.zone,
            capacity_type=ct,
            reason=c.entry.reason,
            failures=c.entry.failures,
            until=c.entry.until.isoformat(),
            backoff_s=c.backoff_s,
            rule=c.rule,
            node_pool=c.pool,
            cause=c.cause.value,
        )
        await self.notices.event(
            self._ref(classes, c.class_name), "Warning", "OfferingUnavailable", c.reason, now
        )

    # -- the whole decision ------------------------------------------------------------------

    async def decision(self, decision: Decision, obs: Observation) -> None:
        """Events for pods nobody can serve, and the gauges."""
        snap, now = obs.snapshot, obs.snapshot.now
        for cls, pods in decision.orphans.items():
            await self.notices.orphan_events(cls, pods, obs.refs, now)
        for cls, groups in decision.unsatisfiable().items():
            entry = obs.classes.get(cls)
            if entry is None or entry.model is None:
                continue
            policy = entry.model.spec.when_unsatisfiable
            for g in groups:
                msg = (
                    f"no rule of ComputeClass {cls} can be satisfied now "
                    f"({g.attempts[-1].reason}); whenUnsatisfiable={policy}: pods stay Pending "
                    "until an offering frees up"
                )
                ref = self._ref(obs.classes, cls)
                await self.notices.event(ref, "Warning", "Unsatisfiable", msg, now)
                await self.notices.pod_events(g.key, obs.refs, "Warning", "Unsatisfiable", msg, now)
        counts: dict[str, int] = {}
        for pod in snap.pending:
            if pod.compute_class:
                counts[pod.compute_class] = counts.get(pod.compute_class, 0) + pod.count
        for name in set(counts) | set(obs.classes):
            self.metrics.pending_pods.labels(class_name=name).set(counts.get(name, 0))
        if snap.pools_fresh:
            pools: dict[str, int] = {}
            for p in snap.node_pools:
                if p.managed and p.class_name and p.status is not NodePoolStatus.STOPPING:
                    pools[p.class_name] = pools.get(p.class_name, 0) + 1
            for name in set(pools) | set(obs.classes):
                self.metrics.node_pools.labels(class_name=name).set(pools.get(name, 0))

    async def lifecycle(self, decision: Decision, obs: Observation, signals: Signals) -> None:
        """Events, logs and metrics of the node lifecycle: replacements by cause, the time from
        a leaving signal to the first replacement request, drain durations, blocked nodes."""
        now = obs.snapshot.now
        nodes = {n.name: n for n in obs.snapshot.nodes}
        for c in decision.commands:
            if isinstance(c, Replace):
                self.metrics.replacements.labels(class_name=c.class_name, cause=c.cause.value).inc(
                    len(c.nodes)
                )
                ref = self._ref(obs.classes, c.class_name)
                await self.notices.event(ref, "Normal", "ReplacingNode", c.reason, now)
                for node in c.nodes:
                    await self._node_event(nodes.get(node), "ReplacingNode", c.reason, now)
            elif isinstance(c, Drain) and L.DRAIN_STARTED_ANNOTATION not in _ann(nodes, c.node):
                await self._node_event(nodes.get(c.node), "Draining", c.reason, now)
            elif isinstance(c, Delete) and c.cause is Cause.EXPIRY:
                for node in c.nodes:
                    started = NodeProgress.of(nodes[node]) if node in nodes else None
                    if started is not None and started.drain_started is not None:
                        took = (now - started.drain_started).total_seconds()
                        self.metrics.drain_duration.labels(cause=c.cause.value).observe(took)
                    await self._node_event(nodes.get(node), "NodeDrained", c.reason, now)
            elif isinstance(c, Provision) and c.cause in (Cause.PREEMPTION, Cause.EXPIRY):
                for node, seen in signals.first_seen.items():
                    if node not in signals.measured:
                        signals.measured.add(node)
                        took = max(0.0, (now - seen).total_seconds())
                        self.metrics.replacement_requested.labels(cause=c.cause.value).observe(took)
                        log.info(
                            "replacement.requested", node=node, after_s=took, cause=c.cause.value
                        )
        counts: dict[tuple[str, str], int] = {}
        waits = {c.what: c.reason for c in decision.commands if isinstance(c, WaitUntil)}
        for cls, node, why in decision.blocked:
            counts[(cls, why)] = counts.get((cls, why), 0) + 1
            msg = f"node {node} cannot be replaced now: {why}"
            if why == SERVING_GROUP_SURGE:
                msg = waits.get(f"drain of {node}", msg)
            log.warning(
                "node.replacement_blocked", class_name=cls, node=node, reason=why, message=msg
            )
            await self.notices.event(self._ref(obs.classes, cls), "Warning", why, msg, now)
        for cls in obs.classes:
            for why in _BLOCKED:
                self.metrics.nodes_blocked.labels(class_name=cls, reason=why).set(
                    counts.get((cls, why), 0)
                )

    async def _node_event(
        self, node: NodeInfo | None, reason: str, msg: str, now: datetime
    ) -> None:
        if node is not None:
            ref = ObjectRef(kind="Node", name=node.name, uid=node.uid, api_version="v1")
            await self.notices.event(ref, "Normal", reason, msg, now)

    async def statuses(self, state: ControllerState, decision: Decision, obs: Observation) -> None:
        """Write every class's status (skipped when unchanged) and the per-class gauges."""
        now = obs.snapshot.now
        for name in obs.gone:
            if self.status is not None:
                self.status.forget(name)
        for name, entry in obs.classes.items():
            memory = state.memory_of(name)
            self.metrics.offerings_unavailable.labels(class_name=name).set(len(memory.active(now)))
            self.metrics.class_invalid.labels(class_name=name).set(0 if entry.model else 1)
            if self.status is None:
                continue
            requests = state.requests_of(name)
            body = class_status(
                entry.raw, entry.model, entry.problems, decision.compiled.get(name), memory, now
            )
            body["provisioningRequests"] = requests_to_status(requests)
            body["capacityChecks"] = checks_to_status(state.capacity_checks_of(name))
            try:
                await self.status.write(name, body)
            except Exception as exc:
                log.warning("status.write_failed", class_name=name, error=str(exc)[:300])

"""Node lifecycle: spot preemption and flex-start expiry as values. Pure.

Which nodes are leaving (:func:`leaving_nodes`), what their pods need elsewhere, which spot
offerings to mark ``PREEMPTED`` (:func:`preemption_marks`), and how an expiring node moves
through replace -> cordon -> drain -> delete (:func:`expiry_steps`). The decide step adds the
workload pods of leaving nodes to the pending demand *before* the walk, so a replacement is
asked for in the same pass that first sees the signal, and a leaving node is never room.

GKE's rules encoded here (/work/shared/reference/lifecycle-and-serving.md A1, A3;
gke-computeclass.md §4, §5):

* a flex-start node is recycled when ``deadline - now < nodeRecycling.leadTimeSeconds``,
  closest deadline first; any rule may serve the replacement ("any new node is better than a
  dying node"); a failed attempt backs off 1 minute (the walk's memory);
* the old node is drained only once its pods fit on Ready nodes (create before delete);
* a spot node under a termination signal (taints ``cloud.google.com/impending-node-termination``
  and ``node.cloudprovider.kubernetes.io/shutdown``, NotReady, deletion, pods failed with
  ``DisruptionTarget``, a provider notice) is replaced at once; kubelet's graceful shutdown
  empties it, ccc does not drain it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.duration import parse_duration
from ccc.api.values import CapacityType, OfferingKey
from ccc.api.workload import PodRequest
from policies.commands import Cause, Command, Cordon, Delete, Drain, MarkUnavailable, Replace
from policies.inflight import NodeSlot, absorb
from policies.nodes import NodeFacts, is_spot
from policies.obtainability import ObtainabilityMemory, Unavailability
from policies.snapshot import ClusterSnapshot, ProviderNotice

#: The reason recorded in the obtainability memory for a preempted spot offering.
PREEMPTED = "PREEMPTED"
#: Back-off after a failed replacement attempt of an expiring node (GKE's recycling plugin).
EXPIRY_BACKOFF = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Leaving:
    """A node that is going away, and the pods that must land elsewhere.

    Attributes:
        cause: :attr:`Cause.PREEMPTION` or :attr:`Cause.EXPIRY`.
        signal: for a preemption, what announced it.
        deadline: when the node ends regardless (flex-start), if known.
        demand: its workload pods (not DaemonSet or mirror pods), one request each.
        pods: ``(namespace, name)`` of those pods, for a drain.
    """

    node: str
    class_name: str
    cause: Cause
    signal: str | None
    deadline: datetime | None
    demand: tuple[PodRequest, ...]
    pods: tuple[tuple[str, str], ...]
    facts: NodeFacts


#: How long after ``deadline - leadTimeSeconds`` the loop wakes to recycle a node: the smallest
#: step of a ``datetime``, so that the time left is strictly below the lead time.
LEAD_TICK = timedelta(microseconds=1)


def recycle_lead(cc: ComputeClass | None, rule: int | None) -> timedelta | None:
    """``flexStart.nodeRecycling.leadTimeSeconds`` of the rule that made a node, if it has one
    (a flex-start rule without it lets its nodes simply end)."""
    if cc is None or rule is None or not 0 <= rule < len(cc.spec.priorities):
        return None
    fs = cc.spec.priorities[rule].flex_start
    if fs is None or not fs.enabled or fs.node_recycling is None:
        return None
    return timedelta(seconds=fs.node_recycling.lead_time_seconds)


def evictable(pods: Sequence[PodInfo]) -> list[PodInfo]:
    """The pods a drain evicts: not DaemonSet or mirror pods, not ended, not deleting."""
    return [
        p
        for p in pods
        if p.owner_kind not in ("DaemonSet", "Node")
        and p.phase not in ("Succeeded", "Failed")
        and not p.deleting
    ]


def leaving_nodes(
    nodes: Sequence[NodeInfo],
    by_node: Mapping[str, Sequence[PodInfo]],
    facts: Mapping[str, NodeFacts],
    classes: Mapping[str, ComputeClass],
    now: datetime,
    *,
    not_ready_grace: timedelta,
) -> list[Leaving]:
    """Preempted spot nodes (in name order), then expiring flex-start nodes, closest deadline
    first. A spot node that is NotReady only while it is still booting is not preempted."""
    preempted: list[Leaving] = []
    expiring: list[Leaving] = []
    for n in nodes:
        f = facts.get(n.name)
        if f is None or f.class_name is None:
            continue
        pods = evictable(by_node.get(n.name, []))
        cause: Cause | None = None
        young = n.creation_timestamp is not None and now - n.creation_timestamp < not_ready_grace
        if f.signal is not None and (f.signal != "NotReady" or (is_spot(n.labels) and not young)):
            cause = Cause.PREEMPTION
        if cause is None and f.deadline is not None:
            lead = recycle_lead(classes.get(f.class_name), f.rule)
            recycling = f.progress is not None and f.progress.cause == Cause.EXPIRY.value
            if recycling or (lead is not None and f.deadline - now < lead):
                cause = Cause.EXPIRY
        if cause is None:
            continue
        leaving = Leaving(
            node=n.name,
            class_name=f.class_name,
            cause=cause,
            signal=f.signal if cause is Cause.PREEMPTION else None,
            deadline=f.deadline,
            demand=tuple(p.request() for p in pods if p.compute_class == f.class_name),
            pods=tuple((p.namespace, p.name) for p in pods),
            facts=f,
        )
        (preempted if cause is Cause.PREEMPTION else expiring).append(leaving)
    preempted.sort(key=lambda x: x.node)
    expiring.sort(key=lambda x: (x.deadline or now, x.node))
    return preempted + expiring


def next_recycle_at(
    facts: Mapping[str, NodeFacts], classes: Mapping[str, ComputeClass], now: datetime
) -> datetime | None:
    """When the next flex-start node enters its recycling lead time (to wake the loop): the
    first instant after ``deadline - lead``, since a node is a candidate once its time left is
    strictly below the lead time (GKE's recycling plugin: ``ttl < leadTimeSeconds``)."""
    times: list[datetime] = []
    for f in facts.values():
        if f.deadline is None or f.class_name is None or f.progress is not None:
            continue
        lead = recycle_lead(classes.get(f.class_name), f.rule)
        if lead is not None and f.deadline - lead >= now:
            times.append(f.deadline - lead + LEAD_TICK)
    return min(times) if times else None


def _offering(node: NodeInfo) -> OfferingKey | None:
    machine = node.labels.get(L.MACHINE_TYPE_LABEL)
    zone = node.labels.get(L.ZONE_LABEL)
    if not machine or not zone:
        return None
    return OfferingKey(machine_type=machine, zone=zone, capacity_type=CapacityType.SPOT)


def preemption_marks(
    leaving: Sequence[Leaving],
    nodes: Mapping[str, NodeInfo],
    notices: Sequence[ProviderNotice],
    memory: Mapping[str, ObtainabilityMemory],
    now: datetime,
    *,
    backoff_s: float,
) -> list[MarkUnavailable]:
    """One ``PREEMPTED`` mark per spot offering (machine type, zone) and class that lost a node,
    with its own short backoff (``backoff_s``, doubling on repeats). An offering already marked
    and still in its backoff is not marked again (a storm counts once per backoff)."""
    out: list[MarkUnavailable] = []
    seen: set[tuple[str, OfferingKey]] = set()
    sources: list[tuple[str, OfferingKey, str]] = []
    for x in leaving:
        node = nodes.get(x.node)
        key = _offering(node) if node is not None else None
        if x.cause is Cause.PREEMPTION and key is not None:
            sources.append((x.class_name, key, f"node {x.node}: {x.signal}"))
    for notice in notices:
        if notice.kind == "preemption" and notice.offering and notice.class_name:
            sources.append((notice.class_name, notice.offering, f"node {notice.node}: deleted"))
    for class_name, key, what in sources:
        if (class_name, key) in seen:
            continue
        seen.add((class_name, key))
        mem = memory.get(class_name)
        prev = mem.entries.get(key) if mem is not None else None
        if prev is not None and prev.active(now):
            continue
        failures = prev.failures + 1 if prev is not None and prev.reason == PREEMPTED else 1
        seconds = min(3600.0, backoff_s * 2 ** (failures - 1))
        entry = Unavailability(
            key=key,
            reason=PREEMPTED,
            message=f"spot capacity preempted ({what})",
            failures=failures,
            since=now,
            until=now + timedelta(seconds=seconds),
        )
        out.append(
            MarkUnavailable(
                class_name=class_name,
                entry=entry,
                backoff_s=seconds,
                reason=f"{key.machine_type} spot in {key.zone} preempted ({what})",
                cause=Cause.PREEMPTION,
            )
        )
    return out


def replacement_groups(leaving: Sequence[Leaving], snapshot: ClusterSnapshot) -> dict[str, Cause]:
    """Pod groups (``group_id``) that replace leaving pods, with the cause: the pods of leaving
    nodes, and pending pods of a class created at or after a preemption notice of that class
    (their controller recreated them after the node went)."""
    out = {d.group_id(): x.cause for x in leaving for d in x.demand}
    since: dict[str, datetime] = {}
    for n in snapshot.notices:
        if n.kind == "preemption" and n.class_name:
            since[n.class_name] = min(n.at, since.get(n.class_name, n.at))
    if since:
        for p in snapshot.pods:
            cls = p.compute_class
            if (
                cls in since
                and p.pending
                and p.creation_timestamp is not None
                and p.creation_timestamp >= since[cls]
            ):
                out.setdefault(p.request().group_id(), Cause.PREEMPTION)
    return out


def with_marks(
    memory: dict[str, ObtainabilityMemory],
    marks: Sequence[MarkUnavailable],
    default: Callable[[str], ObtainabilityMemory],
) -> None:
    """Apply ``marks`` to ``memory`` in place (what the walk of the same pass must see)."""
    for m in marks:
        mem = memory.get(m.class_name) or default(m.class_name)
        memory[m.class_name] = replace(mem, entries={**mem.entries, m.entry.key: m.entry})


@dataclass(frozen=True, slots=True)
class DrainSettings:
    """``nodePoolConfig.nodeDrainConfig`` of a class, and the retry pacing of drains.

    Attributes:
        pdb_timeout: how long evictions refused by a PodDisruptionBudget are retried; after
            it the drain stops and the node is reported blocked (a PDB is never bypassed).
        grace_s: the eviction's termination grace period cap (``graceTerminationDuration``).
    """

    pdb_timeout: timedelta | None = None
    grace_s: int | None = None
    retry_base_s: float = 2.0
    retry_max_s: float = 30.0

    @classmethod
    def of(cls, cc: ComputeClass | None) -> DrainSettings:
        npc = cc.spec.node_pool_config if cc is not None else None
        cfg = npc.node_drain_config if npc is not None else None
        if cfg is None:
            return cls()
        pdb = _seconds(cfg.pdb_timeout_duration)
        grace = _seconds(cfg.grace_termination_duration)
        return cls(
            pdb_timeout=timedelta(seconds=pdb) if pdb is not None else None,
            grace_s=int(grace) if grace is not None else None,
        )

    def retry_after(self, attempts: int) -> timedelta:
        seconds = self.retry_base_s * 2 ** max(0, attempts - 1)
        return timedelta(seconds=min(self.retry_max_s, seconds))


def _seconds(value: str | None) -> float | None:
    """A duration of the class, or ``None`` when unset or unreadable (validation reports it)."""
    try:
        return parse_duration(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Steps:
    """What one leaving node needs this pass."""

    commands: tuple[Command, ...]
    #: when to look again (a drain retry), if at all
    wake: datetime | None = None
    #: why the node cannot progress, in GKE's words (``PodDisruptionBudget``), if it cannot
    blocked: str | None = None


def expiry_steps(
    x: Leaving,
    node: NodeInfo,
    ready_room: list[NodeSlot],
    now: datetime,
    *,
    drain: DrainSettings,
    last_drain: tuple[datetime, int, int] | None,
) -> Steps:
    """Replace -> cordon -> (once its pods fit on Ready room, consumed from ``ready_room``)
    drain -> delete when empty (:func:`replace_steps`, cordoning at once: the node ends
    anyway)."""
    reason = (
        f"flex-start node {x.node} ends at {x.deadline:%Y-%m-%dT%H:%M:%SZ}"
        if x.deadline is not None
        else f"flex-start node {x.node} is being replaced"
    )
    return replace_steps(
        x, node, ready_room, now, drain=drain, last_drain=last_drain, reason=reason, early=True
    )


def replace_steps(
    x: Leaving,
    node: NodeInfo,
    ready_room: list[NodeSlot],
    now: datetime,
    *,
    drain: DrainSettings,
    last_drain: tuple[datetime, int, int] | None,
    reason: str,
    early: bool,
) -> Steps:
    """Replace -> cordon -> (once its pods fit on Ready room, consumed from ``ready_room``)
    drain -> delete when empty, every command with ``x.cause``. ``early``: record the
    replacement and cordon at once (expiry); otherwise only once the pods fit (migration: a
    node that cannot move yet stays untouched). Idempotent: progress comes from the node's
    annotations. A drain whose evictions were refused is retried after
    :meth:`DrainSettings.retry_after`; one that made progress (fewer pods than the last
    attempt named) is retried at once."""
    out: list[Command] = []
    progress = x.facts.progress
    draining = progress is not None and progress.drain_started is not None
    if not draining and not early:
        placed = absorb(x.demand, ready_room)
        if placed.remaining:
            return Steps(())  # no room on Ready nodes of the target rules yet
    if progress is None:
        out.append(Replace(x.class_name, (x.node,), x.demand, reason, x.cause, x.deadline))
    if not node.unschedulable:
        out.append(Cordon(x.node, reason, x.cause))
    if draining and not x.pods and x.facts.pool:
        out.append(
            Delete(
                pool=x.facts.pool,
                class_name=x.class_name,
                reason=f"{reason}; drained",
                cause=x.cause,
                nodes=(x.node,),
            )
        )
        return Steps(tuple(out))
    if not draining and early:
        placed = absorb(x.demand, ready_room)
        if placed.remaining:
            return Steps(tuple(out))  # the replacement is not Ready yet
    elif (
        progress is not None
        and progress.drain_started is not None
        and drain.pdb_timeout is not None
        and now - progress.drain_started >= drain.pdb_timeout
    ):
        return Steps(tuple(out), blocked="PodDisruptionBudget")
    if last_drain is not None and len(x.pods) < last_drain[2]:
        last_drain = None  # pods left since the last attempt: progress restarts the pacing
    attempts = last_drain[1] if last_drain is not None else 0
    if last_drain is not None and now < last_drain[0] + drain.retry_after(attempts):
        return Steps(tuple(out), wake=last_drain[0] + drain.retry_after(attempts))
    out.append(
        Drain(
            x.node,
            (),
            f"{reason}; its pods fit on Ready nodes",
            x.cause,
            pods=x.pods,
            grace_period_s=drain.grace_s,
        )
    )
    return Steps(tuple(out), wake=now + drain.retry_after(attempts + 1))


def preemption_steps(x: Leaving, node: NodeInfo | None) -> tuple[Command, ...]:
    """Record the replacement on the node and cordon it (once)."""
    reason = f"spot node {x.node} is being preempted ({x.signal})"
    out: list[Command] = []
    if x.facts.progress is None:
        out.append(Replace(x.class_name, (x.node,), x.demand, reason, Cause.PREEMPTION))
    if node is not None and not node.unschedulable:
        out.append(Cordon(x.node, reason, Cause.PREEMPTION))
    return tuple(out)

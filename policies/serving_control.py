"""The ServingGroup controller's decision: observations in, ``ScaleTarget`` commands out. Pure.

The shell (:mod:`ccc.controller.serving`) reads, per variant, the workload's ``/scale``, the
ComputeClass its pod template selects, the pods its selector matches and the nodes they run on,
and hands them here as a :class:`TargetView`. This module

1. turns each view into a :class:`~policies.serving.VariantObservation`
   (:func:`observe_variant`): Ready, Pending and terminating replicas, the oldest Pending one,
   replicas on nodes with a planned disruption (``ccc.dev/disruption``), replicas lost with their
   node (a spot termination taint, a NotReady or vanished node), and whether the variant's class
   reports every offering unavailable (:func:`class_unobtainable`);
2. splits the capacity with :func:`policies.serving.split`;
3. emits one :class:`~policies.commands.ScaleTarget` per workload whose replicas must change
   (cause ``serving-shift``), never for a workload that another owner scales (an HPA aimed at
   the workload itself): that variant is reported ``Conflicting`` and left alone;
4. describes each pass that moves capacity as one :class:`Shift` (an Event, a metric label).

No I/O, no clock reads: ``now`` is an argument.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ccc.api import labels as L
from ccc.api.catalog import Catalog
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.computeclass import ComputeClass
from ccc.api.location import ClusterLocation
from ccc.api.servinggroup import ServingGroup, ServingGroupSpec, Variant, VariantState
from policies.commands import Cause as CommandCause
from policies.commands import ScaleTarget
from policies.obtainability import ObtainabilityMemory
from policies.serving import Cause, Split, VariantMemory, VariantObservation, split
from policies.tiers import compile_class

#: Node taints that announce the node is going away (spot termination, shutdown).
TERMINATION_TAINTS: frozenset[str] = frozenset(
    {
        "cloud.google.com/impending-node-termination",
        "node.cloudprovider.kubernetes.io/shutdown",
        "node.kubernetes.io/unreachable",
    }
)


@dataclass(frozen=True, slots=True)
class TargetView:
    """What the shell read of one variant's workload this pass.

    Attributes:
        found: the workload exists and its ``/scale`` could be read.
        replicas: ``/scale`` ``spec.replicas``.
        class_name: the ComputeClass its pod template selects (``None``: none found).
        pods: the pods its ``/scale`` selector matches.
        error: why it could not be read (for the variant's reason), when not ``found``.
        owners: other owners that scale this workload (e.g. ``HorizontalPodAutoscaler/x``).
        lws_size: pods per replica of a LeaderWorkerSet (1 for other kinds), for the selector.
        accelerator: what the pod template asks for (``TPU``, ``GPU``), for messages.
    """

    found: bool = True
    replicas: int = 0
    class_name: str | None = None
    pods: tuple[PodInfo, ...] = ()
    error: str = ""
    owners: tuple[str, ...] = ()
    lws_size: int = 1
    #: ``TPU``, ``GPU`` or ``""``: what the pod template asks for (for messages)
    accelerator: str = ""


@dataclass(frozen=True, slots=True)
class Loss:
    """Replicas that went with their node this pass, and where."""

    count: int
    #: e.g. ``spot preemption in us-east5-b`` or ``node loss``
    where: str


def _node_lost(node: NodeInfo | None) -> bool:
    if node is None:
        return True
    if not node.ready or node.deletion_timestamp is not None:
        return True
    return any(t.key in TERMINATION_TAINTS for t in node.taints)


def _loss_where(nodes: Sequence[NodeInfo | None]) -> str:
    spot = [n for n in nodes if n is not None and n.labels.get(L.GKE_SPOT_LABEL) == "true"]
    zones = sorted({n.labels.get(L.ZONE_LABEL, "") for n in spot} - {""})
    if spot:
        return "spot preemption" + (f" in {', '.join(zones)}" if zones else "")
    return "node loss"


def observe_variant(
    view: TargetView,
    nodes: Mapping[str, NodeInfo],
    *,
    offerings_unavailable: bool,
    last_known: Mapping[str, NodeInfo] | None = None,
) -> tuple[VariantObservation, Loss | None, tuple[NodeInfo, ...]]:
    """A variant's workload as the split policy sees it, the replicas lost with their node, and
    the nodes of its Ready replicas (one entry per replica; the next pass's ``hosts``).

    ``last_known`` holds the nodes of last pass's Ready replicas by name: a node already gone
    from ``nodes`` (a preempted spot node deleted at once) still says where the loss was.

    A pod counts as Ready when it runs on a Ready node that is not going away (no termination
    taint, no deletion) and, when its Ready condition is known, is Ready. A pod whose node is
    going away is neither Ready nor Pending: it is counted as terminating, so the split sees the
    loss at once, before the workload's controller recreates it.
    """
    ready = pending = terminating = disrupted = 0
    pending_since: datetime | None = None
    lost_on: list[NodeInfo | None] = []
    hosts: list[NodeInfo] = []
    for pod in view.pods:
        if pod.phase in ("Succeeded", "Failed"):
            continue
        if pod.deleting:
            terminating += 1
            continue
        if pod.node_name is not None:
            node = nodes.get(pod.node_name)
            if _node_lost(node):
                terminating += 1
                lost_on.append(node or (last_known or {}).get(pod.node_name))
                continue
            if pod.phase == "Running" and pod.ready is not False:
                ready += 1
                if node is not None:
                    hosts.append(node)
                    if node.annotations.get(L.DISRUPTION_ANNOTATION):
                        disrupted += 1
                continue
        pending += 1
        created = pod.creation_timestamp
        if created is not None and (pending_since is None or created < pending_since):
            pending_since = created
    obs = VariantObservation(
        replicas=view.replicas,
        ready=ready,
        pending=pending,
        terminating=terminating,
        pending_since=pending_since,
        offerings_unavailable=offerings_unavailable,
        disrupted=disrupted,
        class_name=view.class_name,
    )
    loss = Loss(len(lost_on), _loss_where(lost_on)) if lost_on else None
    return obs, loss, tuple(hosts)


def leaving_pods(view: TargetView, nodes: Mapping[str, NodeInfo]) -> tuple[str, ...]:
    """Names of the workload's live pods whose node is lost (gone, NotReady, deleted, or with a
    termination taint) or announced for a planned disruption: the replicas a scale-down should
    remove, so that the replicas on healthy nodes stay (``ScaleTarget.delete_first``)."""
    names: list[str] = []
    for pod in view.pods:
        if pod.node_name is None or pod.deleting or pod.phase in ("Succeeded", "Failed"):
            continue
        node = nodes.get(pod.node_name)
        if _node_lost(node) or (node is not None and node.annotations.get(L.DISRUPTION_ANNOTATION)):
            names.append(pod.name)
    return tuple(sorted(names))


def vanished_hosts(previous: Sequence[NodeInfo], nodes: Mapping[str, NodeInfo]) -> list[NodeInfo]:
    """The nodes that hosted Ready replicas last pass and are gone or going now (one entry per
    replica): where replicas went when their pods were already recreated elsewhere."""
    return [n for n in previous if _node_lost(nodes.get(n.name))]


def class_unobtainable(
    cc: ComputeClass | None,
    catalog: Catalog,
    memory: ObtainabilityMemory,
    now: datetime,
    *,
    cluster: ClusterLocation | None = None,
) -> bool:
    """True when every offering of every usable rule of ``cc`` is backed off in ``memory``
    (the condition the class reports as ``ProvisioningSuspended`` on every rule). Offerings
    are those the walk would try: zones of the cluster's region (``cluster``; ``None``: the
    class's own region) where the machine type exists; a zone elsewhere never counts."""
    if cc is None:
        return False
    compiled = compile_class(cc, catalog, cluster=cluster)
    offerings = [
        (m.name, z, ct)
        for tier in compiled.tiers
        for z in tier.zones
        for m in tier.machines_in(z)[:1]
        for ct in tier.capacity_types
    ]
    if not offerings or any(t.existing_pools for t in compiled.tiers):
        return False
    return all(memory.lookup(m, z, ct, now) is not None for m, z, ct in offerings)


def replica_price(
    cc: ComputeClass | None,
    view: TargetView,
    catalog: Catalog,
    memory: ObtainabilityMemory,
    now: datetime,
    *,
    cluster: ClusterLocation | None = None,
) -> float | None:
    """Hourly price of one replica for ``preference: Cost``: the list price of one node of the
    class's first offering in walk order that is not backed off, times the share of the node's
    accelerators one pod requests (times the pods of a LeaderWorkerSet replica). ``None`` when
    unknown (no class, no pods to size by, no price)."""
    if cc is None or not view.pods:
        return None
    pod = view.pods[0]
    for tier in compile_class(cc, catalog, cluster=cluster).tiers:
        for z in tier.zones:
            for m in tier.machines_in(z)[:1]:
                for ct in tier.capacity_types:
                    if memory.lookup(m.name, z, ct, now) is not None:
                        continue
                    price = catalog.price(m.name, z, ct)
                    if price is None:
                        return None
                    share = 1.0
                    if m.is_gpu and m.accelerator is not None and pod.gpus:
                        share = min(1.0, pod.gpus / m.accelerator.count)
                    elif m.chips_per_host and pod.tpus:
                        share = min(1.0, pod.tpus / m.chips_per_host)
                    return price * share * max(1, view.lws_size)
    return None


def accelerator_of(view: TargetView) -> str:
    """``TPU``, ``GPU`` or ``CPU``: what the variant's pods ask for (for messages)."""
    if view.accelerator:
        return view.accelerator
    if any(p.tpus for p in view.pods):
        return "TPU"
    if any(p.gpus for p in view.pods):
        return "GPU"
    return "CPU" if view.pods else ""


@dataclass(frozen=True, slots=True)
class Shift:
    """One pass that moves capacity between variants: the Event's message and the metric's
    cause."""

    cause: Cause
    message: str


@dataclass(frozen=True, slots=True)
class GroupDecision:
    """What to do for one group this pass."""

    split: Split
    commands: tuple[ScaleTarget, ...]
    observations: Mapping[str, VariantObservation]
    shift: Shift | None
    #: variant name -> who else scales its workload
    conflicts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: variant name -> why its workload could not be read
    missing: Mapping[str, str] = field(default_factory=dict)
    #: variant name -> the nodes of its Ready replicas now (the next pass's ``hosts``)
    hosts: Mapping[str, tuple[NodeInfo, ...]] = field(default_factory=dict)


_SHIFT_CAUSES = (
    Cause.STOCKOUT,
    Cause.PENDING_TIMEOUT,
    Cause.LOST_REPLICAS,
    Cause.PLANNED_DISRUPTION,
)


def decide_group(
    group: ServingGroup,
    views: Mapping[str, TargetView],
    nodes: Mapping[str, NodeInfo],
    unobtainable_classes: frozenset[str],
    *,
    now: datetime,
    memory: Mapping[str, VariantMemory],
    prices: Mapping[str, float | None] | None = None,
    hosts: Mapping[str, Sequence[NodeInfo]] | None = None,
) -> GroupDecision:
    """Split ``group``'s capacity over its variants and say which workloads to scale.

    Args:
        views: per variant name, what the shell read (a missing name: the workload is missing).
        nodes: the cluster's nodes by name.
        unobtainable_classes: classes whose every offering is unavailable now.
        memory: the split policy's memory from ``status.variants``.
        hosts: per variant, the nodes of its Ready replicas last pass (``GroupDecision.hosts``),
            to say where lost replicas were.
    """
    observed: dict[str, VariantObservation] = {}
    losses: dict[str, Loss] = {}
    missing: dict[str, str] = {}
    now_hosts: dict[str, tuple[NodeInfo, ...]] = {}
    for v in group.spec.variants:
        view = views.get(v.name) or TargetView(found=False, error="not read")
        if not view.found:
            missing[v.name] = view.error or "workload not found"
        last_hosts = (hosts or {}).get(v.name, ())
        obs, loss, now_hosts[v.name] = observe_variant(
            view,
            nodes,
            offerings_unavailable=view.class_name in unobtainable_classes,
            last_known={n.name: n for n in last_hosts},
        )
        observed[v.name] = obs
        gone = vanished_hosts(last_hosts, nodes)
        if loss is None and gone:
            loss = Loss(len(gone), _loss_where(gone))
        if loss is not None:
            losses[v.name] = loss
    conflicts = {n: views[n].owners for n in views if views[n].owners}
    spec = _pinned(group.spec, {n: views[n].replicas for n in conflicts})
    result = split(spec, observed, now=now, memory=memory, prices=prices)
    commands: list[ScaleTarget] = []
    by_name = {v.name: v for v in group.spec.variants}
    for t in result.variants:
        if not t.changed or t.name in conflicts or t.name in missing:
            continue
        ref = by_name[t.name].target_ref
        view = views[t.name]
        commands.append(
            ScaleTarget(
                api_version=ref.api_version,
                kind=ref.kind,
                namespace=group.namespace,
                name=ref.name,
                replicas=t.replicas,
                reason=f"variant {t.name}: {t.reason}",
                cause=CommandCause.SERVING_SHIFT,
                delete_first=leaving_pods(view, nodes) if t.replicas < view.replicas else (),
            )
        )
    shift = _shift(group, result, views, losses, commands)
    return GroupDecision(
        split=result,
        commands=tuple(commands),
        observations=observed,
        shift=shift,
        conflicts=conflicts,
        missing=missing,
        hosts=now_hosts,
    )


def _pinned(spec: ServingGroupSpec, replicas: Mapping[str, int]) -> ServingGroupSpec:
    """``spec`` with the variants another owner scales pinned at the replicas that owner set:
    the split plans the other variants around them."""
    if not replicas:
        return spec
    variants = [
        v.model_copy(update={"min_replicas": replicas[v.name], "max_replicas": replicas[v.name]})
        if v.name in replicas
        else v
        for v in spec.variants
    ]
    return spec.model_copy(update={"variants": variants})


def _label(variant: Variant, views: Mapping[str, TargetView]) -> str:
    view = views.get(variant.name)
    kind = accelerator_of(view) if view is not None else ""
    return f"{kind} variant {variant.name}".strip()


def _shift(
    group: ServingGroup,
    result: Split,
    views: Mapping[str, TargetView],
    losses: Mapping[str, Loss],
    commands: Sequence[ScaleTarget],
) -> Shift | None:
    """The Event for a pass that scales workloads, in the words of the first cause."""
    if not commands:
        return None
    by_ref = {(v.target_ref.kind, v.target_ref.name): v for v in group.spec.variants}
    scaled = []
    for c in commands:
        v = by_ref[(c.kind, c.name)]
        scaled.append(f"{_label(v, views)} {result[v.name].previous} → {c.replicas}")
    what = "scaled " + ", ".join(scaled)
    by_name = {v.name: v for v in group.spec.variants}
    order = [by_name[n] for n in result.order]
    for v in order:
        t = result[v.name]
        if v.name in losses:
            loss = losses[v.name]
            return Shift(
                Cause.LOST_REPLICAS,
                f"{_label(v, views)} lost {loss.count} replica(s) ({loss.where}); {what}",
            )
        if t.cause in _SHIFT_CAUSES and t.state is not VariantState.SUBSTITUTING:
            return Shift(t.cause, f"{_label(v, views)}: {t.reason}; {what}")
    causes = Counter(result[n].cause for n in result.order if result[n].changed)
    if Cause.MOVE_BACK in causes:
        first = next(v for v in order if result[v.name].cause is Cause.MOVE_BACK)
        return Shift(
            Cause.MOVE_BACK,
            f"{_label(first, views)} is obtainable again; {what} (surge-first: substitutes"
            " scale down only as its replicas become Ready)",
        )
    if Cause.SCALE_DOWN in causes:
        return Shift(Cause.SCALE_DOWN, f"Ready capacity of preferred variants covers it; {what}")
    top = causes.most_common(1)[0][0] if causes else Cause.FILL
    return Shift(top, f"capacity {group.spec.capacity}: {what}")

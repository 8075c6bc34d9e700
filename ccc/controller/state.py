"""Turn the informer caches into policy inputs: pending demand, free and expected node room,
and node usage for scale-down. Pure functions over projections (no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ccc.api import labels as L
from ccc.api.allocatable import allocatable
from ccc.api.catalog import Catalog
from ccc.api.values import NodePool
from ccc.api.workload import PodRequest, affinity_class
from ccc.controller.projections import NodeInfo, PodInfo
from policies.consolidation import NodeUsage
from policies.inflight import NodeSlot

#: A node that is not Ready yet still counts as coming capacity for this long after creation.
NOT_READY_GRACE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PodRef:
    namespace: str
    name: str
    uid: str
    since: datetime | None


def selected_class(pod: PodInfo, *, accept_gke_label: bool) -> str | None:
    """The class a pod selects through its node selector or, like GKE, its required node
    affinity (GKE's key only when ``accept_gke_label``)."""
    name = pod.node_selector.get(L.CLASS_LABEL)
    if name is None and accept_gke_label:
        name = pod.node_selector.get(L.GKE_CLASS_LABEL)
    if name is None and pod.node_affinity:
        keys = (L.CLASS_LABEL, L.GKE_CLASS_LABEL) if accept_gke_label else (L.CLASS_LABEL,)
        uses_key = all(any(r.key in keys for r in term) for term in pod.node_affinity)
        name = affinity_class(pod.node_affinity) if uses_key else None
    return name


def pending_pods(
    pods: Iterable[PodInfo], *, accept_gke_label: bool
) -> tuple[list[PodRequest], dict[str, list[PodRef]]]:
    """Unbound, ungated pods that select a class, and the pods behind each pod group (keyed by
    :meth:`PodRequest.group_id`).

    Pods count as demand before the scheduler has marked them ``Unschedulable``: at scale the
    scheduler's API rate limit delays that mark by many seconds (50 writes/s by default), and a
    pod that fits somewhere is absorbed by the free and in-flight room first (see
    docs/design/011-demand-before-unschedulable.md)."""
    out: list[PodRequest] = []
    refs: dict[str, list[PodRef]] = defaultdict(list)
    ids: dict[tuple[object, ...], str] = {}
    for p in pods:
        if not p.pending or p.scheduling_gated:
            continue
        if selected_class(p, accept_gke_label=accept_gke_label) is None:
            continue
        req = p.request()
        out.append(req)
        key = req.template_key()
        gid = ids.get(key)
        if gid is None:
            gid = ids[key] = req.group_id()
        refs[gid].append(
            PodRef(p.namespace, p.name, p.uid, p.unschedulable_since or p.creation_timestamp)
        )
    return out, refs


def pool_of(node: NodeInfo) -> str | None:
    return node.labels.get(L.NODE_POOL_LABEL) or node.labels.get(L.GKE_NODE_POOL_LABEL)


def _bound_requests(pods: Iterable[PodInfo]) -> dict[str, list[PodInfo]]:
    by_node: dict[str, list[PodInfo]] = defaultdict(list)
    for p in pods:
        if p.node_name and p.phase not in ("Succeeded", "Failed"):
            by_node[p.node_name].append(p)
    return by_node


def node_slots(
    nodes: Iterable[NodeInfo],
    pods: Iterable[PodInfo],
    pools: Sequence[NodePool],
    catalog: Catalog,
    *,
    now: datetime,
) -> list[NodeSlot]:
    """Free room on the classes' nodes, plus room on nodes pools were asked for but that have
    not registered yet (``expected``)."""
    bound = _bound_requests(pods)
    slots: list[NodeSlot] = []
    registered: dict[str, int] = defaultdict(int)
    for n in nodes:
        pool_name = pool_of(n)
        if pool_name:
            registered[pool_name] += 1
        if L.CLASS_LABEL not in n.labels and L.GKE_CLASS_LABEL not in n.labels:
            continue
        if n.deletion_timestamp is not None or n.unschedulable:
            continue
        young = n.creation_timestamp is not None and now - n.creation_timestamp < NOT_READY_GRACE
        if not n.ready and not young:
            continue
        on_node = bound.get(n.name, [])
        slots.append(
            NodeSlot(
                name=n.name,
                labels=n.labels,
                taints=n.taints,
                cpu_m=n.cpu_m - sum(p.cpu_m for p in on_node),
                memory_bytes=n.memory_bytes - sum(p.memory_bytes for p in on_node),
                gpus=n.gpus - sum(p.gpus for p in on_node),
                tpus=n.tpus - sum(p.tpus for p in on_node),
                pods=n.pods - len(on_node),
            )
        )
    for pool in pools:
        missing = pool.node_count - registered.get(str(pool.name), 0)
        machine = catalog.machine_type(pool.machine_type)
        if missing <= 0 or machine is None:
            continue
        a = allocatable(machine)
        for i in range(missing):
            slots.append(
                NodeSlot(
                    name=f"{pool.name}/expected-{i}",
                    labels=pool.labels,
                    taints=pool.taints,
                    cpu_m=a.cpu_m,
                    memory_bytes=a.memory_bytes,
                    gpus=a.gpus,
                    tpus=a.tpus,
                    pods=a.pods,
                    expected=True,
                )
            )
    return slots


def missing_nodes(nodes: Iterable[NodeInfo], pools: Sequence[NodePool]) -> dict[str, int]:
    """Managed pools with fewer registered nodes than requested: name -> missing count."""
    registered: dict[str, int] = defaultdict(int)
    for n in nodes:
        pool = pool_of(n)
        if pool:
            registered[pool] += 1
    return {
        str(p.name): p.node_count - registered.get(str(p.name), 0)
        for p in pools
        if p.managed and p.node_count > registered.get(str(p.name), 0)
    }


def node_usage(
    nodes: Iterable[NodeInfo],
    pods: Iterable[PodInfo],
    managed_pools: Mapping[str, NodePool],
    empty_since: dict[str, datetime],
    *,
    now: datetime,
) -> list[NodeUsage]:
    """Workload pods per node of managed pools; updates ``empty_since`` in place (a node that
    runs a workload pod is removed from it; an empty one keeps its first-seen-empty time)."""
    bound = _bound_requests(pods)
    out: list[NodeUsage] = []
    seen: set[str] = set()
    for n in nodes:
        pool = pool_of(n)
        if pool is None or pool not in managed_pools:
            continue
        seen.add(n.name)
        workload = sum(
            1 for p in bound.get(n.name, []) if p.owner_kind not in ("DaemonSet", "Node")
        )
        if workload:
            empty_since.pop(n.name, None)
        else:
            empty_since.setdefault(n.name, now)
        out.append(NodeUsage(n.name, pool, workload, empty_since.get(n.name)))
    for gone in set(empty_since) - seen:
        empty_since.pop(gone, None)
    return out

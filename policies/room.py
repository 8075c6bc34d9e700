"""The cluster as the policies need it: pending demand, free and expected node room, missing and
empty nodes. Pure functions over the pod and node projections (no I/O).

The caches a snapshot is built from can disagree for a while (each informer lags on its own, and
the provider's pool listing is a third view). The rules here make such disagreement neither
create nor hide demand:

* a pod bound to a node the node cache has not seen yet uses up room of its pool's expected
  (requested, unregistered) nodes, so a new pending pod is not absorbed into room that no longer
  exists;
* a node carrying a terminating taint (a spot preemption notice, a shut-down VM), a cordoned
  node and an unreachable one are never room, whatever the pods tolerate;
* a node that is not Ready yet counts as coming room for ``not_ready_grace`` after creation; the
  taints it carries only while booting (``node.kubernetes.io/not-ready``) do not keep pods off
  it (:meth:`policies.inflight.NodeSlot.admits`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ccc.api import labels as L
from ccc.api.allocatable import allocatable
from ccc.api.catalog import Catalog
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.values import NodePool
from ccc.api.workload import PodRequest, affinity_class
from policies.consolidation import NodeUsage
from policies.inflight import NodeSlot


@dataclass(frozen=True, slots=True)
class PodRef:
    """One pending pod behind a pod group (for Events and latency metrics)."""

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


def terminating(node: NodeInfo) -> str | None:
    """The key of a taint that says the node is going away, if it carries one."""
    return next((t.key for t in node.taints if t.key in L.TERMINATING_TAINTS), None)


def cordoned(node: NodeInfo) -> bool:
    """Cordoned (``spec.unschedulable``, or the ``node.kubernetes.io/unschedulable`` taint the
    node lifecycle controller mirrors it into). Never room, whatever the pods tolerate: the
    scheduler does bind a pod that tolerates the taint (a wildcard ``operator: Exists``
    toleration does) to a cordoned node, but a cordoned node is being taken away."""
    return node.unschedulable or any(t.key == L.UNSCHEDULABLE_TAINT for t in node.taints)


def unreachable(node: NodeInfo) -> bool:
    """The kubelet stopped reporting (``node.kubernetes.io/unreachable``): never room, even
    for pods that tolerate the taint (they would not run there)."""
    return any(t.key == L.UNREACHABLE_TAINT for t in node.taints)


def pods_by_node(pods: Iterable[PodInfo]) -> dict[str, list[PodInfo]]:
    """Pods bound to each node (finished pods excluded)."""
    by_node: dict[str, list[PodInfo]] = defaultdict(list)
    for p in pods:
        if p.node_name and p.phase not in ("Succeeded", "Failed"):
            by_node[p.node_name].append(p)
    return by_node


def registered_nodes(nodes: Iterable[NodeInfo]) -> dict[str, int]:
    """Nodes per pool in the node cache."""
    out: dict[str, int] = defaultdict(int)
    for n in nodes:
        pool = pool_of(n)
        if pool:
            out[pool] += 1
    return out


def node_slots(
    nodes: Sequence[NodeInfo],
    bound: Mapping[str, Sequence[PodInfo]],
    pools: Sequence[NodePool],
    catalog: Catalog,
    *,
    now: datetime,
    not_ready_grace: timedelta = timedelta(minutes=5),
    leaving: frozenset[str] = frozenset(),
) -> list[NodeSlot]:
    """Free room on the classes' nodes, plus room on nodes pools were asked for but that have
    not registered yet (``expected``), less what pods bound to not-yet-seen nodes use. Nodes
    in ``leaving`` (preempted, expiring) are no room."""
    slots: list[NodeSlot] = []
    for n in nodes:
        if L.CLASS_LABEL not in n.labels and L.GKE_CLASS_LABEL not in n.labels:
            continue
        if n.name in leaving:
            continue
        if n.deletion_timestamp is not None or cordoned(n) or terminating(n) or unreachable(n):
            continue
        young = n.creation_timestamp is not None and now - n.creation_timestamp < not_ready_grace
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
    registered = registered_nodes(nodes)
    expected: list[NodeSlot] = []
    for pool in pools:
        missing = pool.node_count - registered.get(str(pool.name), 0)
        machine = catalog.machine_type(pool.machine_type)
        if missing <= 0 or machine is None:
            continue
        a = allocatable(machine)
        for i in range(missing):
            expected.append(
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
    known = {n.name for n in nodes}
    unseen = {name: ps for name, ps in bound.items() if name not in known}
    if unseen and expected:
        _use_expected_room(unseen, expected)
    return slots + expected


def _use_expected_room(unseen: Mapping[str, Sequence[PodInfo]], expected: list[NodeSlot]) -> None:
    """Pods already bound to nodes the cache has not seen take their room out of the expected
    nodes: first those of a pool whose name is part of the node's name (every provider names
    nodes after their pool), then any expected node that admits them."""
    for node_name in sorted(unseen):
        preferred = [s for s in expected if s.name.split("/expected-")[0] in node_name]
        others = [s for s in expected if s not in preferred]
        for pod in unseen[node_name]:
            request = pod.request()
            for slot in preferred + others:
                if slot.admits(request) and slot.take(request, 1):
                    break


def missing_nodes(nodes: Iterable[NodeInfo], pools: Sequence[NodePool]) -> dict[str, int]:
    """Managed pools with fewer registered nodes than requested: name -> missing count."""
    registered = registered_nodes(nodes)
    return {
        str(p.name): p.node_count - registered.get(str(p.name), 0)
        for p in pools
        if p.managed and p.node_count > registered.get(str(p.name), 0)
    }


def workload_pods(bound: Sequence[PodInfo]) -> int:
    """How many of a node's pods are workload: not DaemonSet or mirror (static) pods."""
    return sum(1 for p in bound if p.owner_kind not in ("DaemonSet", "Node"))


def empty_nodes(
    nodes: Iterable[NodeInfo], bound: Mapping[str, Sequence[PodInfo]], managed: set[str]
) -> set[str]:
    """Nodes of managed pools that run no workload pod."""
    return {
        n.name for n in nodes if pool_of(n) in managed and not workload_pods(bound.get(n.name, []))
    }


def node_usage(
    nodes: Iterable[NodeInfo],
    bound: Mapping[str, Sequence[PodInfo]],
    managed_pools: Mapping[str, NodePool],
    empty_since: Mapping[str, datetime],
) -> list[NodeUsage]:
    """Workload pods per node of managed pools, with the time each empty node was first seen
    empty (tracked in the controller state)."""
    out: list[NodeUsage] = []
    for n in nodes:
        pool = pool_of(n)
        if pool is None or pool not in managed_pools:
            continue
        workload = workload_pods(bound.get(n.name, []))
        out.append(NodeUsage(n.name, pool, workload, None if workload else empty_since.get(n.name)))
    return out

"""Behavioural tests that pin down rules of policies/room.py which no other unit test checked
(found by mutation testing, docs/testing.md): which class a pod selects, how room of requested
nodes is used by pods bound to nodes the cache has not seen, which pods count as workload, and
GKE's node pool label."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from ccc.api.values import NodePool
from ccc.api.workload import NodeSelectorRequirement
from policies.inflight import NodeSlot
from policies.room import (
    empty_nodes,
    missing_nodes,
    node_slots,
    node_usage,
    pending_pods,
    selected_class,
)
from tests.builders import NOW, catalog, make_pool
from tests.unit.test_policies_decide import _node, _pod


def pod_info(
    name: str, *, node: str | None = None, cls: str | None = "gpu", **changes: Any
) -> PodInfo:
    """A one-GPU pod of class ``cls`` (none: no node selector), Running on ``node``."""
    pod = replace(_pod(name, node=node, gpus=1), **changes)
    return pod if cls else replace(pod, node_selector=changes.get("node_selector", {}))


def node_info(name: str, *, pool: str = "pool-a", **changes: Any) -> NodeInfo:
    return replace(_node(name, pool), **changes)


def _in(key: str, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key=key, operator="In", values=values)


ZONE_A = _in("topology.kubernetes.io/zone", "us-central1-a")


# -- which class a pod selects (reference/gke-computeclass.md: "Select a compute class": node
#    selector or required node affinity on the class label) -----------------------------------

SELECTIONS = [
    # (id, node selector, required node affinity terms, accept GKE's key, selected class)
    ("selector alone", {L.CLASS_LABEL: "gpu"}, (), True, "gpu"),
    (
        "selector wins over an affinity on another key",
        {L.CLASS_LABEL: "gpu"},
        ((ZONE_A,),),
        True,
        "gpu",
    ),
    (
        "selector wins over an affinity naming another class",
        {L.CLASS_LABEL: "gpu"},
        ((_in(L.CLASS_LABEL, "tpu"),),),
        True,
        "gpu",
    ),
    ("affinity alone", {}, ((_in(L.CLASS_LABEL, "gpu"), ZONE_A),), True, "gpu"),
    ("affinity alone, GKE's key not accepted", {}, ((_in(L.CLASS_LABEL, "gpu"),),), False, "gpu"),
    ("affinity on GKE's key", {}, ((_in(L.GKE_CLASS_LABEL, "gpu"),),), True, "gpu"),
    (
        "affinity on GKE's key when it is not accepted",
        {},
        ((_in(L.GKE_CLASS_LABEL, "gpu"),),),
        False,
        None,
    ),
    ("affinity on other keys only", {}, ((ZONE_A,),), True, None),
    (
        "a second term without the class key",
        {},
        ((_in(L.CLASS_LABEL, "gpu"),), (ZONE_A,)),
        True,
        None,
    ),
    ("nothing", {}, (), True, None),
]


@pytest.mark.parametrize(
    ("selector", "affinity", "accept_gke", "expected"),
    [s[1:] for s in SELECTIONS],
    ids=[s[0] for s in SELECTIONS],
)
def test_a_pod_selects_its_class_through_the_node_selector_or_else_a_required_affinity(
    selector: dict[str, str],
    affinity: tuple[tuple[NodeSelectorRequirement, ...], ...],
    accept_gke: bool,
    expected: str | None,
) -> None:
    pod = pod_info("p", cls=None, node_selector=selector, node_affinity=affinity)
    assert selected_class(pod, accept_gke_label=accept_gke) == expected


# -- room of requested nodes that have not registered yet -------------------------------------


def _pool(name: str) -> NodePool:
    """A pool of class ``gpu`` asked for one 8-GPU node."""
    return make_pool(name, nodes=1, managed=True, key=L.CLASS_LABEL)


def _expected(slots: list[NodeSlot]) -> dict[str, NodeSlot]:
    return {s.name.split("/")[0]: s for s in slots if s.expected}


def test_a_pod_bound_to_an_unseen_node_uses_the_room_of_the_pool_the_node_is_named_after() -> None:
    """Pools A and B were each asked for one node; neither has registered. A pod already bound
    to node ``pool-b-x1`` (providers name nodes after their pool) takes room of B's expected
    node, not of A's, although A comes first."""
    pools = [_pool("pool-a"), _pool("pool-b")]
    bound = {"pool-b-x1": [pod_info("p", node="pool-b-x1", gpus=8)]}
    slots = _expected(node_slots([], bound, pools, catalog(), now=NOW))
    assert (slots["pool-a"].gpus, slots["pool-b"].gpus) == (8, 0)


def test_an_unseen_node_takes_only_its_pods_requests_out_of_expected_room() -> None:
    """One pod of 2 GPUs leaves 6 GPUs and one pod fewer on the 8-GPU expected node."""
    pools = [_pool("pool-a")]
    free = _expected(node_slots([], {}, pools, catalog(), now=NOW))["pool-a"]
    bound = {"pool-a-x1": [pod_info("p", node="pool-a-x1", gpus=2)]}
    slot = _expected(node_slots([], bound, pools, catalog(), now=NOW))["pool-a"]
    assert (slot.gpus, slot.pods) == (6, free.pods - 1)


def test_every_pod_on_every_unseen_node_uses_expected_room() -> None:
    """Two unseen nodes with two pods each: all four pods' GPUs come out of the expected nodes
    of their pools."""
    pools = [_pool("pool-a"), _pool("pool-b")]
    bound = {
        node: [pod_info(f"{node}-{i}", node=node, gpus=3) for i in range(2)]
        for node in ("pool-a-x1", "pool-b-x1")
    }
    slots = _expected(node_slots([], bound, pools, catalog(), now=NOW))
    assert (slots["pool-a"].gpus, slots["pool-b"].gpus) == (2, 2)


def test_a_node_labelled_only_with_gkes_node_pool_label_counts_as_registered() -> None:
    """Nodes of pools GKE created carry ``cloud.google.com/gke-nodepool`` only."""
    pool = make_pool("pool-a", nodes=2, managed=True)
    node = node_info("n1", labels={L.GKE_NODE_POOL_LABEL: "pool-a"})
    assert missing_nodes([node], [pool]) == {"pool-a": 1}


# -- workload pods: DaemonSet and mirror (static) pods do not keep a node busy ----------------


def test_a_node_running_only_daemonset_and_mirror_pods_is_empty() -> None:
    nodes = [node_info("quiet"), node_info("busy")]
    bound = {
        "quiet": [
            pod_info("ds", node="quiet", owner_kind="DaemonSet"),
            pod_info("mirror", node="quiet", owner_kind="Node"),
        ],
        "busy": [pod_info("web", node="busy")],
    }
    assert empty_nodes(nodes, bound, {"pool-a"}) == {"quiet"}


def test_node_usage_counts_the_workload_pods_of_each_node() -> None:
    nodes = [node_info("n1")]
    bound = {
        "n1": [
            pod_info("ds", node="n1", owner_kind="DaemonSet"),
            pod_info("w1", node="n1"),
            pod_info("w2", node="n1", owner_kind="StatefulSet"),
        ]
    }
    pools = {"pool-a": make_pool("pool-a", managed=True)}
    [usage] = node_usage(nodes, bound, pools, {})
    assert (usage.name, usage.pool, usage.workload_pods) == ("n1", "pool-a", 2)


# -- pending pods and the pods behind each pod group -------------------------------------------


def test_pending_pods_list_the_pods_behind_each_pod_group_with_when_they_began_waiting() -> None:
    """Two identical pods form one group, a larger one its own; a pod selecting no class and
    a bound pod are not demand. A pod's waiting time starts when the scheduler marked it
    unschedulable, else at its creation (Events and latency metrics use these)."""
    marked = NOW - timedelta(seconds=30)
    pods = [
        pod_info("no-class", cls=None),
        pod_info("a1", unschedulable=True, unschedulable_since=marked),
        pod_info("bound", node="n1"),
        pod_info("a2"),
        pod_info("big", gpus=8),
    ]
    pending, refs = pending_pods(pods, accept_gke_label=True)
    assert sorted(p.name for p in pending) == ["a1", "a2", "big"]
    created = pods[0].creation_timestamp
    by_group = {g: [(r.namespace, r.name, r.uid, r.since) for r in rs] for g, rs in refs.items()}
    small, big = pending[0].group_id(), pending[2].group_id()
    assert by_group == {
        small: [("ml", "a1", "uid-a1", marked), ("ml", "a2", "uid-a2", created)],
        big: [("ml", "big", "uid-big", created)],
    }


def test_node_usage_covers_only_nodes_of_managed_pools() -> None:
    nodes = [node_info("manual-1", pool="manual"), node_info("n1"), node_info("stray", pool="")]
    nodes[2] = replace(nodes[2], labels={L.CLASS_LABEL: "gpu"})
    pools = {"pool-a": make_pool("pool-a", managed=True)}
    assert [u.name for u in node_usage(nodes, {}, pools, {})] == ["n1"]

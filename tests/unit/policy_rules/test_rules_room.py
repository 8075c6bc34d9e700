"""Rules of policies/room.py: the free room a class's node offers pending pods is what it
advertises less what the pods still running on it request; which nodes are a class's room at
all; and the room of nodes a pool was asked for that have not registered yet."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo, PodInfo
from policies.room import node_slots, pods_by_node
from tests.builders import NOW, catalog, make_node, make_pod_info, make_pool


def _tpu(pod: PodInfo, tpus: int) -> PodInfo:
    return replace(pod, gpus=0, tpus=tpus)


def test_a_nodes_free_room_is_what_it_advertises_less_what_its_bound_pods_request() -> None:
    """Two pods of 8 CPUs, 64 GiB and 1 GPU each on an 8-GPU node (200 CPUs, 1800 GiB, 110
    pods) leave 184 CPUs, 1672 GiB, 6 GPUs and 108 pods for pending pods."""
    node = make_node("n-1")
    bound = [make_pod_info(f"p-{i}", node="n-1", gpus=1) for i in range(2)]
    [slot] = node_slots([node], pods_by_node(bound), (), catalog(), now=NOW)
    assert slot.name == "n-1"
    assert (slot.cpu_m, slot.memory_bytes, slot.gpus, slot.pods) == (
        200_000 - 16_000,
        (1800 - 128) * 2**30,
        6,
        108,
    )


def test_the_tpus_of_bound_pods_are_taken_from_a_tpu_nodes_free_room() -> None:
    node = replace(make_node("t-1", gpus=0), tpus=4)
    bound = [_tpu(make_pod_info("p-1", node="t-1"), 3)]
    [slot] = node_slots([node], pods_by_node(bound), (), catalog(), now=NOW)
    assert slot.tpus == 1


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_finished_pod_on_a_node_uses_none_of_its_room(phase: str) -> None:
    """The kubelet releases a pod's resources once it has Succeeded or Failed (Kubernetes pod
    lifecycle); only pods still Pending or Running on the node use its room."""
    running = make_pod_info("running", node="n-1", gpus=2)
    finished = replace(make_pod_info("done", node="n-1", gpus=4), phase=phase)
    by_node = pods_by_node([running, finished])
    assert [p.name for p in by_node["n-1"]] == ["running"]
    [slot] = node_slots([make_node("n-1")], by_node, (), catalog(), now=NOW)
    assert slot.gpus == 6


def _unlabelled(name: str) -> NodeInfo:
    node = make_node(name)
    labels = {k: v for k, v in node.labels.items() if k != L.CLASS_LABEL}
    return replace(node, labels=labels)


def test_only_nodes_labelled_for_a_class_with_ccc_or_gkes_key_are_room() -> None:
    """reference/gke-computeclass.md "Select a compute class": a class's nodes carry
    ``cloud.google.com/compute-class`` (ccc's own key is accepted too); a node of no class is
    nobody's room, and an unlabelled node listed first hides none after it."""
    gke = make_node("gke-1", labels={L.GKE_CLASS_LABEL: "gpu"})
    gke = replace(gke, labels={k: v for k, v in gke.labels.items() if k != L.CLASS_LABEL})
    nodes = [_unlabelled("plain-1"), gke, make_node("ccc-1")]
    slots = node_slots(nodes, {}, (), catalog(), now=NOW)
    assert [s.name for s in slots] == ["gke-1", "ccc-1"]


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(lambda n: replace(n, deletion_timestamp=NOW), id="deleted"),
        pytest.param(lambda n: replace(n, ready=False), id="never-ready"),
    ],
)
def test_a_node_that_is_no_room_hides_none_of_the_nodes_listed_after_it(first: object) -> None:
    skipped = first(make_node("a-1"))  # type: ignore[operator]
    slots = node_slots([skipped, make_node("b-1")], {}, (), catalog(), now=NOW)
    assert [s.name for s in slots] == ["b-1"]


def test_a_leaving_node_hides_none_of_the_nodes_listed_after_it() -> None:
    nodes = [make_node("a-1"), make_node("b-1")]
    slots = node_slots(nodes, {}, (), catalog(), now=NOW, leaving=frozenset({"a-1"}))
    assert [s.name for s in slots] == ["b-1"]


@pytest.mark.parametrize(("age_s", "room"), [(299, True), (300, False)])
def test_a_node_that_is_not_ready_is_coming_room_only_within_the_grace_after_creation(
    age_s: int, room: bool
) -> None:
    """``not_ready_grace`` (5 minutes by default): a node created that long ago and still not
    Ready is not expected to become Ready soon."""
    node = make_node("n-1", ready=False, age=timedelta(seconds=age_s))
    slots = node_slots([node], {}, (), catalog(), now=NOW)
    assert bool(slots) is room


def test_a_requested_pool_whose_machine_type_is_unknown_gives_no_expected_room() -> None:
    """No allocatable can be computed for a machine type missing from the catalog: its missing
    nodes are not room, and the pools after it still are."""
    unknown = make_pool("odd", machine_type="no-such-machine", nodes=2, managed=True)
    known = make_pool("p-2", nodes=1, managed=True)
    slots = node_slots([], {}, (unknown, known), catalog(), now=NOW)
    assert [s.name for s in slots] == ["p-2/expected-0"]


def test_a_pool_whose_nodes_have_all_registered_hides_none_of_the_pools_after_it() -> None:
    full = make_pool("full", nodes=1, managed=True)
    growing = make_pool("growing", nodes=2, managed=True)
    slots = node_slots([make_node("full-1", pool="full")], {}, (full, growing), catalog(), now=NOW)
    assert [s.name for s in slots] == ["full-1", "growing/expected-0", "growing/expected-1"]

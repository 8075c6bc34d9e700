"""A node pool that comes up short, through the controller's whole loop over the simulated
cloud (the in-memory cluster stands in for the API server and scheduler, as in
tests/unit/test_controller_loop.py; everything else is production code).

GKE creates what a zone has: a resize finishes once the instance group's target is set and the
VMs GCE cannot create are reported by ``instanceGroupManagers.listErrors``; a create does the
same with ``bestEffortProvisioning`` (gke-computeclass.md §7), which ccc sets on Spot and
on-demand pools (docs/design/029). ccc must treat the missing nodes as a stockout of that
offering and walk on for the rest.
"""

from __future__ import annotations

from tests.support.memloop import CONFIG, Loop, gpu_class, gpu_pod
from tests.unit.test_controller_loop import SPOT_A, _provisions


async def test_a_pool_that_came_up_short_keeps_its_nodes_and_the_rest_go_to_the_next_zone() -> None:
    loop = Loop.create(classes=[gpu_class()])
    loop.cloud.set_capacity(SPOT_A, 3)
    await loop.start()
    for i in range(5):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}"))

    took = await loop.until("5 pods Running", lambda: len(loop.running()) == 5)

    by_zone = [n.labels["topology.kubernetes.io/zone"] for n in loop.cluster.nodes()]
    assert sorted(by_zone) == ["us-central1-a"] * 3 + ["us-central1-b"] * 2
    assert [(p.attempt.zone, p.attempt.nodes) for p in _provisions(loop)] == [
        ("us-central1-a", 5),
        ("us-central1-b", 2),
    ]
    [marked] = loop.status()["unavailableOfferings"]
    assert (marked["zone"], marked["reason"]) == ("us-central1-a", "ZONE_RESOURCE_POOL_EXHAUSTED")
    pools = {p.zones[0]: p.node_count for p in await loop.cloud.list_node_pools()}
    assert pools == {"us-central1-a": 3, "us-central1-b": 2}  # zone a's pool shrank to its nodes
    # the batching window, then the late errors at the next pass: no registration timeout
    assert took <= CONFIG.batch_idle_s + CONFIG.late_error_poll_s + 2
    await loop.stop()

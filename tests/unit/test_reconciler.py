"""The reconcile pass over in-memory caches and the simulated cloud.

These tests drive :class:`Reconciler` directly: the informer caches are plain lists of the same
projections the informers produce (a stand-in, because these tests check the decide-and-execute
logic, not watching; the real API server is exercised in tests/e2e), and the provider is the
simulated cloud, which is the real implementation used by ``ccc simulate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ccc.api import labels as L
from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.config import ControllerConfig
from ccc.controller.metrics import Metrics
from ccc.controller.projections import NodeInfo, PodInfo, node_info, pod_info
from ccc.controller.reconciler import Reconciler
from providers.clock import VirtualClock
from providers.simulated import SimulatedCloud
from tests.builders import catalog


@dataclass
class ListStore:
    items: list[Any] = field(default_factory=list)

    def values(self) -> list[Any]:
        return list(self.items)


def _class(
    name: str = "gpu",
    *,
    zones: tuple[str, ...] = ("us-central1-a", "us-central1-b"),
    extra_rules: tuple[dict[str, Any], ...] = (),
    **spec: Any,
) -> dict[str, Any]:
    rules = [
        {"machineType": "a3-highgpu-8g", "spot": True, "location": {"zones": list(zones)}},
        *extra_rules,
    ]
    return {
        "apiVersion": "ccc.dev/v1alpha1",
        "kind": "ComputeClass",
        "metadata": {"name": name, "generation": 1, "uid": "u1"},
        "spec": {"priorities": rules, "nodePoolAutoCreation": {"enabled": True}, **spec},
    }


def _pod(i: int, cls: str = "gpu", gpus: int = 8) -> PodInfo:
    return pod_info(
        {
            "metadata": {
                "name": f"p{i}",
                "namespace": "ml",
                "uid": f"uid-{i}",
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {
                "nodeSelector": {L.CLASS_LABEL: cls},
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {
                        "name": "c",
                        "resources": {
                            "requests": {"cpu": "8", "memory": "64Gi"},
                            "limits": {L.GPU_RESOURCE: str(gpus)},
                        },
                    }
                ],
            },
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "lastTransitionTime": "2026-01-01T00:00:01Z",
                    }
                ],
            },
        }
    )


def _make(
    cloud: SimulatedCloud,
    classes: list[dict[str, Any]],
    pods: list[PodInfo],
    nodes: list[NodeInfo] | None = None,
    *,
    config: ControllerConfig | None = None,
) -> Reconciler:
    return Reconciler(
        provider=cloud,
        catalog=catalog(),
        config=config or ControllerConfig(scale_down_enabled=False),
        clock=cloud.clock,
        metrics=Metrics(),
        pods=ListStore(pods),
        nodes=ListStore(nodes or []),
        classes=ListStore(classes),
    )


async def test_pending_gpu_pods_get_one_node_pool_in_the_first_zone() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    r = _make(cloud, [_class()], [_pod(i) for i in range(3)])
    report = await r.reconcile_once()
    assert [o.result for o in report.outcomes] == ["success"]
    pools = await cloud.list_node_pools()
    assert len(pools) == 1 and pools[0].node_count == 3 and pools[0].zones == ("us-central1-a",)
    assert pools[0].managed


async def test_stockout_in_the_first_zone_falls_through_to_the_next_in_the_same_pass() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    cloud.stockout(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
        )
    )
    r = _make(cloud, [_class()], [_pod(i) for i in range(2)])
    report = await r.reconcile_once()
    assert [(o.attempt.zone, o.result) for o in report.outcomes] == [
        ("us-central1-a", "stockout"),
        ("us-central1-b", "success"),
    ]
    mem = r._state["gpu"].memory
    assert mem.lookup("a3-highgpu-8g", "us-central1-a", CapacityType.SPOT, cloud.clock.now())


async def test_a_second_pass_does_not_duplicate_capacity_already_requested() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    pods = [_pod(i) for i in range(2)]
    r = _make(cloud, [_class()], pods)
    await r.reconcile_once()
    # The nodes have not registered in Kubernetes yet (no NodeInfo): they are "expected".
    report = await r.reconcile_once()
    assert report.outcomes == () and report.absorbed == 2
    assert sum(p.node_count for p in await cloud.list_node_pools()) == 2


async def test_a_restarted_controller_reads_the_memory_back_from_status() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    until = cloud.clock.now() + timedelta(minutes=5)
    cls = _class()
    cls["status"] = {
        "unavailableOfferings": [
            {
                "machineType": "a3-highgpu-8g",
                "zone": "us-central1-a",
                "capacityType": "spot",
                "reason": "ZONE_RESOURCE_POOL_EXHAUSTED",
                "message": "",
                "failures": 1,
                "since": cloud.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ]
    }
    r = _make(cloud, [cls], [_pod(0)])
    report = await r.reconcile_once()
    assert [o.attempt.zone for o in report.outcomes] == ["us-central1-b"]


async def test_an_invalid_class_does_not_stop_other_classes() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    bad = _class("broken")
    bad["spec"]["priorities"][0]["flexStart"] = {"enabled": True}  # flexStart with spot
    r = _make(cloud, [bad, _class("good")], [_pod(0, "broken"), _pod(1, "good")])
    report = await r.reconcile_once()
    assert [o.attempt.node_pool is not None and o.result for o in report.outcomes] == ["success"]
    assert r._state["broken"].model is None and r._state["broken"].problems


async def test_pods_naming_a_missing_class_are_reported_as_orphans() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    r = _make(cloud, [_class()], [_pod(0, "nope")])
    report = await r.reconcile_once()
    assert report.orphans == ("nope",) and report.outcomes == ()


async def test_existing_free_room_on_a_class_node_absorbs_pending_pods() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    node = node_info(
        {
            "metadata": {
                "name": "n1",
                "labels": {L.CLASS_LABEL: "gpu"},
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {},
            "status": {
                "allocatable": {
                    "cpu": "200",
                    "memory": "1800Gi",
                    L.GPU_RESOURCE: "8",
                    "pods": "110",
                },
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
    r = _make(cloud, [_class()], [_pod(0)], [node])
    report = await r.reconcile_once()
    assert report.outcomes == () and report.absorbed == 1


async def test_everything_stocked_out_leaves_pods_pending_and_marks_every_offering() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    for z in ("us-central1-a", "us-central1-b"):
        cloud.stockout(
            OfferingKey(machine_type="a3-highgpu-8g", zone=z, capacity_type=CapacityType.SPOT)
        )
    r = _make(cloud, [_class()], [_pod(0)])
    report = await r.reconcile_once()
    assert [o.result for o in report.outcomes] == ["stockout", "stockout"]
    assert await cloud.list_node_pools() == []
    assert len(r._state["gpu"].memory) == 2


async def test_a_new_node_that_pending_pods_are_about_to_land_on_is_not_scaled_down() -> None:
    """Seen end to end on the GKE emulator: the node registered, the scheduler had not bound
    the pods yet, and a short consolidation delay removed the node under them."""
    cloud = SimulatedCloud(clock=VirtualClock())
    nodes: list[NodeInfo] = []
    r = _make(
        cloud,
        [_class()],
        [_pod(0)],
        nodes,
        config=ControllerConfig(default_consolidation_delay=timedelta(0), repair_after_s=3600),
    )
    await r.reconcile_once()
    [pool] = await cloud.list_node_pools()
    nodes.append(
        node_info(
            {
                "metadata": {
                    "name": "n1",
                    "labels": {L.CLASS_LABEL: "gpu", L.NODE_POOL_LABEL: str(pool.name)},
                    "creationTimestamp": "2026-01-01T00:00:00Z",
                },
                "spec": {},
                "status": {
                    "allocatable": {
                        "cpu": "200",
                        "memory": "1800Gi",
                        L.GPU_RESOURCE: "8",
                        "pods": "110",
                    },
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
        )
    )
    r._nodes = ListStore(nodes)  # the node registered; the pod is still pending
    report = await r.reconcile_once()
    assert report.outcomes == () and report.absorbed == 1
    assert [p.node_count for p in await cloud.list_node_pools()] == [1]


async def test_nodes_that_never_register_are_given_up_and_the_walk_moves_on() -> None:
    """A create the cloud accepted but whose VMs never came (GKE's late stockout) must not hold
    the pods forever: after the registration timeout the offering is marked and the pool shrinks
    back, and the next pass asks the next zone."""
    clock = VirtualClock()
    cloud = SimulatedCloud(clock=clock)
    r = _make(cloud, [_class()], [_pod(0)])
    first = await r.reconcile_once()
    assert [o.attempt.zone for o in first.outcomes] == ["us-central1-a"]
    await clock.advance(r.config.node_registration_timeout_s + 1)
    second = await r.reconcile_once()  # still absorbed by the expected node; then given up
    assert second.outcomes == ()
    entry = r._state["gpu"].memory.lookup(
        "a3-highgpu-8g", "us-central1-a", CapacityType.SPOT, clock.now()
    )
    assert entry is not None and entry.reason == "NODES_NOT_REGISTERED"
    assert await cloud.list_node_pools() == []
    third = await r.reconcile_once()
    assert [(o.attempt.zone, o.result) for o in third.outcomes] == [("us-central1-b", "success")]

"""The controller executes multi-pool attempts (TPU slices, BALANCED spreads) and plans only in
the cluster's region, over in-memory caches and the simulated cloud (the real implementation
``ccc simulate`` uses; informers and the API server are exercised in tests/e2e)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ccc.api import labels as L
from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, OfferingKey, region_of
from ccc.controller.config import ControllerConfig
from ccc.controller.metrics import Metrics
from ccc.controller.projections import PodInfo, pod_info
from ccc.controller.reconciler import Reconciler
from providers.base import ClusterLocator
from providers.clock import VirtualClock
from providers.simulated import SimulatedCloud
from tests.builders import catalog
from tests.unit.test_reconciler import ListStore

A, B, C = "us-central1-a", "us-central1-b", "us-central1-c"


def _class(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ccc.dev/v1alpha1",
        "kind": "ComputeClass",
        "metadata": {"name": "c", "generation": 1, "uid": "u1"},
        "spec": {"priorities": list(rules), "nodePoolAutoCreation": {"enabled": True}},
    }


def _pod(i: int, *, resource: str = L.GPU_RESOURCE, amount: int = 8) -> PodInfo:
    return pod_info(
        {
            "metadata": {"name": f"p{i}", "namespace": "ml", "uid": f"u{i}"},
            "spec": {
                "nodeSelector": {L.GKE_CLASS_LABEL: "c"},
                "containers": [
                    {
                        "name": "c",
                        "resources": {
                            "requests": {"cpu": "4", "memory": "16Gi"},
                            "limits": {resource: str(amount)},
                        },
                    }
                ],
            },
            "status": {"phase": "Pending"},
        }
    )


def _reconciler(cloud: SimulatedCloud, cls: dict[str, Any], pods: list[PodInfo]) -> Reconciler:
    return Reconciler(
        provider=cloud,
        catalog=catalog(),
        config=ControllerConfig(scale_down_enabled=False),
        clock=cloud.clock,
        metrics=Metrics(),
        pods=ListStore(pods),
        nodes=ListStore([]),
        classes=ListStore([cls]),
    )


async def _sizes(cloud: SimulatedCloud) -> Counter[str]:
    out: Counter[str] = Counter()
    for p in await cloud.list_node_pools():
        out[p.zones[0]] += p.node_count
    return out


BALANCED = {
    "machineType": "a3-highgpu-8g",
    "spot": True,
    "location": {"zones": [A, B, C], "locationPolicy": "BALANCED"},
}


async def test_a_balanced_batch_creates_one_pool_per_zone_in_one_pass() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    r = _reconciler(cloud, _class(BALANCED), [_pod(i) for i in range(4)])
    report = await r.reconcile_once()
    assert [o.result for o in report.outcomes] == ["success"]
    assert len(report.outcomes[0].pools) == 3
    assert await _sizes(cloud) == Counter({A: 2, B: 1, C: 1})
    await r.reconcile_once()  # the expected nodes absorb the pods: nothing more is asked
    assert await _sizes(cloud) == Counter({A: 2, B: 1, C: 1})


async def test_a_stockout_inside_a_balanced_batch_walks_only_the_pods_not_yet_covered() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    cloud.stockout(
        OfferingKey(machine_type="a3-highgpu-8g", zone=B, capacity_type=CapacityType.SPOT)
    )
    r = _reconciler(cloud, _class(BALANCED), [_pod(i) for i in range(4)])
    report = await r.reconcile_once()
    assert [o.result for o in report.outcomes] == ["stockout", "success"]
    assert report.outcomes[0].covered_pods == 2  # zone a's pool was made before b failed
    sizes = await _sizes(cloud)
    assert sum(sizes.values()) == 4 and B not in sizes


async def test_multi_host_tpu_demand_becomes_one_pool_per_slice() -> None:
    cloud = SimulatedCloud(clock=VirtualClock(), catalog=catalog())
    rule = {
        "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "4x4"},
        "location": {"zones": ["us-east5-a"]},
    }
    pods = [_pod(i, resource=L.TPU_RESOURCE, amount=4) for i in range(8)]
    r = _reconciler(cloud, _class(rule), pods)
    report = await r.reconcile_once()
    assert [o.result for o in report.outcomes] == ["success"]
    pools = await cloud.list_node_pools()
    assert sorted(p.node_count for p in pools) == [4, 4]
    assert len({p.name for p in pools}) == 2


async def test_the_controller_plans_only_in_the_cluster_region() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    rules = [
        {"machineType": "a3-highgpu-8g", "spot": True, "location": {"zones": [A, B]}},
        {"machineType": "a3-highgpu-8g", "spot": True},
    ]
    r = _reconciler(cloud, _class(*rules), [_pod(0)])
    r.cluster = ClusterLocation(region="us-east4", zones=("us-east4-b",))
    report = await r.reconcile_once()
    assert [(o.attempt.rule, o.attempt.zone) for o in report.outcomes] == [(1, "us-east4-b")]
    assert all(region_of(p.zones[0]) == "us-east4" for p in await cloud.list_node_pools())


async def test_kwok_like_clouds_report_their_configured_location() -> None:
    configured = ClusterLocation(region="europe-west4", zones=("europe-west4-b",))
    cloud = SimulatedCloud(clock=VirtualClock(), location=configured)
    assert isinstance(cloud, ClusterLocator)
    assert await cloud.cluster_location() == configured
    default = await SimulatedCloud(clock=VirtualClock()).cluster_location()
    assert default.region == "us-central1" and default.zones

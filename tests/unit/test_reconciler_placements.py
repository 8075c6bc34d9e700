"""The controller executes multi-pool attempts (TPU slices, BALANCED spreads) one provider call
per pool and plans only in the cluster's region, over in-memory caches and the simulated cloud
(the real implementation ``ccc simulate`` uses; informers and the API server are exercised in
tests/e2e)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ccc.api import labels as L
from ccc.api.location import ClusterLocation
from ccc.api.values import CapacityType, OfferingKey, region_of
from ccc.controller.config import ControllerConfig
from ccc.controller.metrics import Metrics
from ccc.controller.projections import PodInfo, pod_info
from ccc.controller.reconciler import PassReport, Reconciler
from policies.commands import Provision
from providers.base import ClusterLocator
from providers.clock import VirtualClock
from providers.simulated import SimulatedCloud
from tests.builders import catalog
from tests.unit.test_reconciler import ListView

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
                # as ccc's admission webhook admits the pod
                "tolerations": [
                    {
                        "key": L.CLASS_LABEL,
                        "operator": "Equal",
                        "value": "c",
                        "effect": "NoSchedule",
                    }
                ],
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


class Statuses:
    """A :class:`~ccc.controller.sinks.StatusSink` that keeps the last status of each class."""

    def __init__(self) -> None:
        self.last: dict[str, Mapping[str, Any]] = {}

    async def write(self, name: str, status: Mapping[str, Any]) -> bool:
        self.last[name] = status
        return True

    def forget(self, name: str) -> None:
        self.last.pop(name, None)

    def condition(self, name: str, type_: str) -> Mapping[str, Any]:
        return next(c for c in self.last[name]["conditions"] if c["type"] == type_)


def _reconciler(
    cloud: SimulatedCloud,
    cls: dict[str, Any],
    pods: list[PodInfo],
    status: Statuses | None = None,
    **config: Any,
) -> Reconciler:
    return Reconciler(
        provider=cloud,
        catalog=catalog(),
        config=ControllerConfig(scale_down_enabled=False, **config),
        clock=cloud.clock,
        metrics=Metrics(),
        view=ListView(pods, [], [cls]),
        status=status,
    )


def _provisions(report: PassReport) -> list[Provision]:
    return [c for c in report.commands if isinstance(c, Provision)]


def _results(reports: Sequence[PassReport]) -> list[tuple[str, str]]:
    """(zone, result) of every provisioning call, in order."""
    return [
        (done.command.attempt.zone, "success" if done.error is None else done.error.result)
        for r in reports
        for done in r.outcomes
        if isinstance(done.command, Provision)
    ]


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


async def test_a_balanced_batch_is_one_provider_call_per_zone_in_one_pass() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    r = _reconciler(cloud, _class(BALANCED), [_pod(i) for i in range(4)])
    first = await r.reconcile_once()
    calls = _provisions(first)
    assert [(c.attempt.zone, c.attempt.nodes) for c in calls] == [(A, 2), (B, 1), (C, 1)]
    assert len({c.pool for c in calls}) == 3
    assert [c.reason.endswith(f"(pool {i} of 3)") for i, c in enumerate(calls, 1)] == [True] * 3
    reports = [first, *await r.settle()]
    assert _results(reports) == [(A, "success"), (B, "success"), (C, "success")]
    assert await _sizes(cloud) == Counter({A: 2, B: 1, C: 1})
    again = await r.reconcile_once()  # the expected nodes absorb the pods: nothing more is asked
    assert _provisions(again) == [] and again.absorbed == 4
    assert await _sizes(cloud) == Counter({A: 2, B: 1, C: 1})


async def test_a_stockout_inside_a_balanced_batch_walks_only_the_pods_not_yet_covered() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    cloud.stockout(
        OfferingKey(machine_type="a3-highgpu-8g", zone=B, capacity_type=CapacityType.SPOT)
    )
    r = _reconciler(cloud, _class(BALANCED), [_pod(i) for i in range(4)])
    reports = await r.settle()
    results = _results(reports)
    assert results[:3] == [(A, "success"), (B, "stockout"), (C, "success")]
    # only zone b's one pod is walked again, in a zone that still has capacity
    again = [c for rep in reports[1:] for c in _provisions(rep)]
    assert [c.attempt.nodes for c in again] == [1] and again[0].attempt.zone != B
    sizes = await _sizes(cloud)
    assert sum(sizes.values()) == 4 and B not in sizes


async def test_multi_host_tpu_demand_becomes_one_pool_per_slice() -> None:
    east5 = ClusterLocation(region="us-east5", zones=("us-east5-a",))
    cloud = SimulatedCloud(clock=VirtualClock(), catalog=catalog(), location=east5)
    rule = {
        "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "4x4"},
        "location": {"zones": ["us-east5-a"]},
    }
    pods = [_pod(i, resource=L.TPU_RESOURCE, amount=4) for i in range(8)]
    r = _reconciler(cloud, _class(rule), pods)
    await r.learn_location()
    first = await r.reconcile_once()
    assert [c.attempt.nodes for c in _provisions(first)] == [4, 4]
    reports = [first, *await r.settle()]
    assert [res for _, res in _results(reports)] == ["success", "success"]
    pools = await cloud.list_node_pools()
    assert sorted(p.node_count for p in pools) == [4, 4]
    assert len({p.name for p in pools}) == 2


async def test_the_controller_plans_only_in_the_cluster_region() -> None:
    cloud = SimulatedCloud(
        clock=VirtualClock(),
        location=ClusterLocation(region="us-east4", zones=("us-east4-b",)),
    )
    rules = [
        {"machineType": "a3-highgpu-8g", "spot": True, "location": {"zones": [A, B]}},
        {"machineType": "a3-highgpu-8g", "spot": True},
    ]
    statuses = Statuses()
    r = _reconciler(cloud, _class(*rules), [_pod(0)], statuses)
    await r.learn_location()
    assert r.cluster is not None and r.cluster.region == "us-east4"
    reports = await r.settle()
    calls = [c for rep in reports for c in _provisions(rep)]
    assert [(c.attempt.rule, c.attempt.zone) for c in calls] == [(1, "us-east4-b")]
    assert all(region_of(p.zones[0]) == "us-east4" for p in await cloud.list_node_pools())
    # the class's status says which rule lies outside the cluster and why
    outside = statuses.condition("c", "RulesOutsideCluster")
    assert (outside["status"], outside["reason"]) == ("True", "ZonesOutsideRegion")
    assert "spec.priorities[0]" in outside["message"] and "us-east4" in outside["message"]


async def test_kwok_like_clouds_report_their_configured_location() -> None:
    configured = ClusterLocation(region="europe-west4", zones=("europe-west4-b",))
    cloud = SimulatedCloud(clock=VirtualClock(), location=configured)
    assert isinstance(cloud, ClusterLocator)
    assert await cloud.cluster_location() == configured
    default = await SimulatedCloud(clock=VirtualClock()).cluster_location()
    assert default.region == "us-central1" and default.zones

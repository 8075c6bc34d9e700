"""The kwok provider on the real API server: Nodes, resize and delete, capacity and disruptions.

Every test gets its own kwok cloud (a fresh namespace; its Nodes carry that namespace as a label
and are deleted afterwards: tests/envtest/kwok_cloud.py). Crash safety is in
test_kwok_provider_crash.py. The last test runs the real scheduler and kwok (``cluster``) to
bind a GPU pod to a Node the provider created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.values import (
    CapacityType,
    NodePoolStatus,
    Taint,
    region_of,
)
from providers.clock import VIRTUAL_EPOCH, VirtualClock
from providers.errors import (
    InsufficientCapacityError,
    InvalidRequestError,
    NodePoolAlreadyExistsError,
    QuotaExceededError,
)
from providers.kwok import CAPACITY_CONFIGMAP, CAPACITY_KEY
from providers.kwok.model import PoolRecord, pool_configmap
from tests.envtest.kwok_cloud import GPU_TAINT, ZONE, Cloud, open_cloud
from tests.support.controlplane import ControlPlane
from tests.support.kube import eventually

pytestmark = pytest.mark.controlplane

# -- nodes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine_type", "zone", "resource", "per_node", "cpu"),
    [
        ("a3-highgpu-8g", "us-central1-a", L.GPU_RESOURCE, "8", "208"),
        ("g2-standard-8", "us-central1-b", L.GPU_RESOURCE, "1", "8"),
        ("ct6e-standard-4t", "us-central1-b", L.TPU_RESOURCE, "4", "180"),
    ],
)
async def test_created_pool_has_nodes_with_the_machine_shape_labels_and_taints(
    cloud: Cloud, machine_type: str, zone: str, resource: str, per_node: str, cpu: str
) -> None:
    spec = cloud.spec(machine_type=machine_type, zone=zone)

    pool = await cloud.provider.create_node_pool(spec)

    assert (pool.node_count, pool.status, pool.managed) == (2, NodePoolStatus.RUNNING, True)
    names = await cloud.node_names(spec.name)
    assert names == [f"{spec.name}-0", f"{spec.name}-1"]
    node = await cloud.node(names[0])
    labels, status = node.metadata.labels, node.status
    assert {k: labels[k] for k in spec.labels} == dict(spec.labels)
    assert labels[L.NODE_POOL_LABEL] == labels[L.GKE_NODE_POOL_LABEL] == spec.name
    assert labels[L.MACHINE_TYPE_LABEL] == machine_type
    assert (labels[L.ZONE_LABEL], labels[L.REGION_LABEL]) == (zone, region_of(zone))
    assert (labels["kubernetes.io/hostname"], labels["type"]) == (names[0], "kwok")
    assert labels[L.GKE_SPOT_LABEL] == "true"
    assert node.metadata.annotations["kwok.x-k8s.io/node"] == "fake"
    # The API server adds node.kubernetes.io/not-ready until kwok reports the node Ready.
    assert {(t.key, t.value, t.effect) for t in node.spec.taints} >= {
        (t.key, t.value, t.effect) for t in spec.taints
    }
    assert (status.capacity[resource], status.capacity["cpu"]) == (per_node, cpu)
    assert (status.capacity["pods"], status.allocatable[resource]) == ("110", per_node)
    assert status.allocatable["cpu"].endswith("m")
    assert int(status.allocatable["cpu"][:-1]) < int(cpu) * 1000
    assert status.node_info.kubelet_version


async def test_flex_start_nodes_carry_their_deadline_and_expire_at_it(
    virtual_cloud: Cloud,
) -> None:
    cloud = virtual_cloud
    spec = cloud.spec(capacity_type=CapacityType.FLEX_START, max_run_duration_s=3600)
    await cloud.provider.create_node_pool(spec)
    deadline = VIRTUAL_EPOCH + timedelta(seconds=3600)

    node = await cloud.node(f"{spec.name}-0")

    assert node.metadata.labels[L.FLEX_START_DEADLINE_LABEL] == str(int(deadline.timestamp()))
    assert node.metadata.annotations[L.FLEX_START_DEADLINE_ANNOTATION] == deadline.isoformat()
    assert node.metadata.labels[L.GKE_FLEX_START_LABEL] == "true"
    early = deadline - timedelta(seconds=1)
    assert await cloud.provider.expire_flex_start(early) == []
    assert await cloud.provider.expire_flex_start(deadline) == [
        f"{spec.name}-0",
        f"{spec.name}-1",
    ]
    assert await cloud.node_names(spec.name) == []
    (pool,) = await cloud.provider.list_node_pools()
    assert pool.node_count == 0


async def test_nodes_appear_after_the_provisioning_delay_and_the_pool_says_provisioning(
    virtual_cloud: Cloud,
) -> None:
    cloud, clock = virtual_cloud, virtual_cloud.provider.clock
    assert isinstance(clock, VirtualClock)
    await cloud.provider.set_provisioning_delay(60)
    spec = cloud.spec(node_count=2)

    creating = asyncio.create_task(cloud.provider.create_node_pool(spec))
    await eventually("the create to wait out the delay", _sleeping(clock))
    (during,) = await cloud.provider.list_node_pools()
    nodes_during = await cloud.node_names(spec.name)
    await clock.advance(60)
    created = await creating

    assert (during.node_count, during.status) == (2, NodePoolStatus.PROVISIONING)
    assert nodes_during == []
    assert created.status is NodePoolStatus.RUNNING
    assert len(await cloud.node_names(spec.name)) == 2


def _sleeping(clock: VirtualClock) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return clock.sleepers > 0

    return probe


# -- resize and delete -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target", "left"), [(1, 3, [0, 1, 2]), (3, 1, [0]), (2, 0, []), (2, 2, [0, 1])]
)
async def test_resize_creates_or_deletes_nodes_highest_index_first(
    cloud: Cloud, start: int, target: int, left: list[int]
) -> None:
    spec = cloud.spec(node_count=start)
    await cloud.provider.create_node_pool(spec)

    pool = await cloud.provider.resize_node_pool(spec.name, node_count=target)

    assert pool.node_count == target
    assert await cloud.node_names(spec.name) == [f"{spec.name}-{i}" for i in left]


async def test_deleting_named_nodes_shrinks_the_pool_by_them_and_ignores_strangers(
    cloud: Cloud,
) -> None:
    spec = cloud.spec(node_count=4)
    await cloud.provider.create_node_pool(spec)
    chosen = [f"{spec.name}-1", f"{spec.name}-2", "not-a-node-of-this-pool"]

    pool = await cloud.provider.delete_nodes(spec.name, chosen)
    again = await cloud.provider.delete_nodes(spec.name, chosen)

    assert pool.node_count == again.node_count == 2
    assert await cloud.node_names(spec.name) == [f"{spec.name}-0", f"{spec.name}-3"]


async def test_a_node_chosen_for_removal_before_a_crash_goes_even_if_the_pool_grows_again(
    cloud: Cloud,
) -> None:
    spec = cloud.spec(node_count=3)
    await cloud.provider.create_node_pool(spec)
    doomed = await cloud.node(f"{spec.name}-1")
    # A controller killed right after delete_nodes' write (size 2, pool-1 chosen):
    cm = await cloud.core.read_namespaced_config_map(spec.name, cloud.namespace)
    record = PoolRecord.from_configmap(cm)
    body = pool_configmap(
        record.spec,
        node_count=2,
        created_at=record.created_at,
        reservations={},
        resource_version=record.resource_version,
        removing=frozenset({doomed.metadata.uid}),
    )
    await cloud.core.replace_namespaced_config_map(spec.name, cloud.namespace, body)

    await cloud.provider.resize_node_pool(spec.name, node_count=3)
    replacement = await cloud.node(f"{spec.name}-1")
    shrunk = await cloud.provider.delete_nodes(spec.name, [f"{spec.name}-1"])

    assert replacement.metadata.uid != doomed.metadata.uid
    assert shrunk.node_count == 2
    assert await cloud.node_names(spec.name) == [f"{spec.name}-0", f"{spec.name}-2"]


async def test_delete_removes_nodes_and_record_and_is_idempotent(cloud: Cloud) -> None:
    spec = cloud.spec(node_count=2)
    await cloud.provider.create_node_pool(spec)

    await cloud.provider.delete_node_pool(spec.name)
    await cloud.provider.delete_node_pool(spec.name)

    assert await cloud.node_names(spec.name) == []
    assert await cloud.provider.list_node_pools() == []


async def test_creating_an_existing_pool_with_another_zone_is_refused(cloud: Cloud) -> None:
    await cloud.provider.create_node_pool(cloud.spec())

    with pytest.raises(NodePoolAlreadyExistsError):
        await cloud.provider.create_node_pool(cloud.spec(zone="us-central1-b"))


# -- capacity --------------------------------------------------------------------------------


async def test_a_request_beyond_zonal_capacity_is_refused_whole(cloud: Cloud) -> None:
    await cloud.provider.set_capacity("a3-highgpu-8g", ZONE, CapacityType.SPOT, 2)
    spec = cloud.spec(node_count=3)

    with pytest.raises(InsufficientCapacityError) as caught:
        await cloud.provider.create_node_pool(spec)

    error = caught.value
    assert (error.scope, error.location, error.reason) == (
        "zone",
        ZONE,
        "ZONE_RESOURCE_POOL_EXHAUSTED",
    )
    assert await cloud.provider.list_node_pools() == []
    assert await cloud.node_names(spec.name) == []
    assert (await cloud.provider.create_node_pool(cloud.spec(node_count=2))).node_count == 2


async def test_regional_quota_is_shared_by_the_pools_of_the_region(cloud: Cloud) -> None:
    await cloud.provider.set_quota("us-central1", "PREEMPTIBLE_NVIDIA_H100_80GB_GPUS", 24)
    await cloud.provider.create_node_pool(cloud.spec("a", node_count=2))

    with pytest.raises(QuotaExceededError) as caught:
        await cloud.provider.create_node_pool(cloud.spec("b", zone="us-central1-b", node_count=2))

    assert (caught.value.scope, caught.value.location) == ("region", "us-central1")
    grown = await cloud.provider.create_node_pool(
        cloud.spec("b", zone="us-central1-b", node_count=1)
    )
    assert grown.node_count == 1


async def test_the_capacity_model_is_a_readable_configmap(cloud: Cloud) -> None:
    await cloud.provider.set_capacity("a3-highgpu-8g", ZONE, CapacityType.SPOT, 4)
    await cloud.provider.set_quota("us-central1", "INSTANCES", 10)
    await cloud.provider.set_provisioning_delay(0.5)

    cm = await cloud.core.read_namespaced_config_map(CAPACITY_CONFIGMAP, cloud.namespace)

    text = cm.data[CAPACITY_KEY]
    assert "a3-highgpu-8g:us-central1-a:spot: 4" in text
    assert "INSTANCES: 10" in text
    assert "provisioningDelaySeconds: 0.5" in text


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("offerings: {a3-highgpu-8g:us-central1-a: 2}", "offerings"),
        ("provisioningDelaySeconds: -1", "provisioningDelaySeconds"),
        ("quota: {us-central1: {INSTANCES: many}}", "quota.us-central1.INSTANCES"),
        ("[1, 2]", "expected a mapping"),
    ],
)
async def test_a_malformed_capacity_configmap_names_the_field(
    cloud: Cloud, yaml_text: str, field: str
) -> None:
    await cloud.core.create_namespace({"metadata": {"name": cloud.namespace}})
    await cloud.core.create_namespaced_config_map(
        cloud.namespace,
        {"metadata": {"name": CAPACITY_CONFIGMAP}, "data": {CAPACITY_KEY: yaml_text}},
    )

    with pytest.raises(InvalidRequestError) as caught:
        await cloud.provider.create_node_pool(cloud.spec())

    assert field in caught.value.message
    assert CAPACITY_CONFIGMAP in caught.value.message


# -- disruptions ------------------------------------------------------------------------------


async def test_preempting_a_spot_node_taints_deletes_it_and_shrinks_its_pool(cloud: Cloud) -> None:
    spec = cloud.spec(node_count=3)
    await cloud.provider.create_node_pool(spec)

    assert await cloud.provider.preempt(f"{spec.name}-1")
    assert not await cloud.provider.preempt(f"{spec.name}-1")

    assert await cloud.node_names(spec.name) == [f"{spec.name}-0", f"{spec.name}-2"]
    (pool,) = await cloud.provider.list_node_pools()
    assert (pool.node_count, pool.status) == (2, NodePoolStatus.RUNNING)
    grown = await cloud.provider.resize_node_pool(spec.name, node_count=3)
    assert grown.node_count == 3
    assert await cloud.node_names(spec.name) == [f"{spec.name}-{i}" for i in range(3)]


# -- end to end with the real scheduler ------------------------------------------------------


@pytest.mark.e2e
async def test_a_pending_gpu_pod_runs_on_a_node_the_provider_created(cluster: ControlPlane) -> None:
    async with open_cloud(cluster) as cloud:
        class_name = cloud.prefix  # a class of its own, so no other test's node can take the pod
        spec = cloud.spec(
            node_count=1,
            labels={L.CLASS_LABEL: class_name, L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE},
            taints=(Taint(key=L.CLASS_LABEL, value=class_name), GPU_TAINT),
        )
        pod_name = f"{cloud.prefix}-trainer"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name},
            "spec": {
                "nodeSelector": {L.CLASS_LABEL: class_name},
                "tolerations": [
                    {"key": L.CLASS_LABEL, "operator": "Equal", "value": class_name},
                    {"key": L.GPU_RESOURCE, "operator": "Exists"},
                ],
                "containers": [
                    {
                        "name": "main",
                        "image": "trainer:latest",
                        "resources": {"limits": {L.GPU_RESOURCE: "8"}},
                    }
                ],
            },
        }
        await cloud.core.create_namespaced_pod("default", pod)
        try:
            await cloud.provider.create_node_pool(spec)

            async def running() -> Any:
                found = await cloud.core.read_namespaced_pod(pod_name, "default")
                return found if found.status.phase == "Running" else None

            placed = await eventually("the GPU pod to run", running, timeout_s=90)
            assert placed.spec.node_name == f"{spec.name}-0"
        finally:
            await cloud.core.delete_namespaced_pod(pod_name, "default", grace_period_seconds=0)

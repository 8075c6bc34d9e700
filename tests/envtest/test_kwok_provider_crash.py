"""The kwok provider's crash safety on the real API server: crashes are simulated by writing, by
hand, exactly the objects a killed controller would have left behind (a pool's ConfigMap without
all its Nodes, a pool left mid-delete), then running the provider again; a second provider
instance on a second ApiClient plays the restarted controller. (The kill-at-every-request test
is test_kwok_crash_safety.py.)
"""

from __future__ import annotations

import pytest

from ccc.api.values import (
    CapacityType,
    NodePoolSpec,
    NodePoolStatus,
)
from providers.clock import VIRTUAL_EPOCH
from providers.errors import (
    InsufficientCapacityError,
)
from providers.kwok import KwokProvider
from providers.kwok.model import PoolRecord, node_manifest, pool_configmap
from tests.envtest.kwok_cloud import ZONE, Cloud
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client

pytestmark = pytest.mark.controlplane


# -- crash safety ----------------------------------------------------------------------------


async def _write_pool_configmap(cloud: Cloud, spec: NodePoolSpec) -> PoolRecord:
    """What a controller killed right after writing the pool record leaves behind."""
    await cloud.core.create_namespace({"metadata": {"name": cloud.namespace}})
    body = pool_configmap(
        spec, node_count=spec.node_count, created_at=VIRTUAL_EPOCH, reservations={}
    )
    made = await cloud.core.create_namespaced_config_map(cloud.namespace, body)
    return PoolRecord.from_configmap(made)


@pytest.mark.parametrize("nodes_before_crash", [0, 1, 3])
async def test_create_after_a_crash_mid_create_completes_the_nodes_without_duplicates(
    cloud: Cloud, nodes_before_crash: int
) -> None:
    spec = cloud.spec(node_count=3)
    record = await _write_pool_configmap(cloud, spec)
    for index in range(nodes_before_crash):
        await cloud.core.create_node(
            node_manifest(
                record,
                index=index,
                machine=cloud.provider.catalog.machine_type(spec.machine_type),
                namespace=cloud.namespace,
                created_at=VIRTUAL_EPOCH,
                kubelet_version="v0",
            )
        )

    first = await cloud.provider.create_node_pool(spec)
    again = await cloud.provider.create_node_pool(spec)

    assert first.node_count == again.node_count == 3
    assert await cloud.node_names(spec.name) == [f"{spec.name}-{i}" for i in range(3)]


async def test_a_restarted_provider_sees_the_pools_and_limits_of_the_one_before(
    control_plane: ControlPlane, cloud: Cloud
) -> None:
    spec = cloud.spec(node_count=2)
    await cloud.provider.set_capacity(spec.machine_type, ZONE, CapacityType.SPOT, 3)
    await cloud.provider.create_node_pool(spec)

    async with api_client(control_plane.kubeconfig) as api:
        restarted = KwokProvider(api, namespace=cloud.namespace)
        (pool,) = await restarted.list_node_pools()
        with pytest.raises(InsufficientCapacityError):
            await restarted.resize_node_pool(spec.name, node_count=4)
        grown = await restarted.resize_node_pool(spec.name, node_count=3)

    assert (pool.name, pool.node_count, pool.status) == (spec.name, 2, NodePoolStatus.RUNNING)
    assert grown.node_count == 3
    assert len(await cloud.node_names(spec.name)) == 3


async def test_reconcile_restores_missing_nodes_and_removes_orphans_of_deleted_pools(
    cloud: Cloud,
) -> None:
    kept, deleted = cloud.spec("kept", node_count=2), cloud.spec("gone", node_count=2)
    await cloud.provider.create_node_pool(kept)
    await cloud.provider.create_node_pool(deleted)
    await cloud.core.delete_node(f"{kept.name}-1")  # a Node vanished
    # A crash between deleting a pool's ConfigMap and deleting its Nodes:
    await cloud.core.delete_namespaced_config_map(deleted.name, cloud.namespace)

    by_name = {p.name: p for p in await cloud.provider.list_node_pools()}
    await cloud.provider.reconcile()

    assert by_name[kept.name].status is NodePoolStatus.RECONCILING
    assert deleted.name not in by_name
    assert await cloud.node_names(kept.name) == [f"{kept.name}-0", f"{kept.name}-1"]
    assert await cloud.node_names(deleted.name) == []


async def test_recreating_a_deleted_pool_replaces_its_orphaned_nodes(cloud: Cloud) -> None:
    old = cloud.spec(node_count=2)
    await cloud.provider.create_node_pool(old)
    old_uids = {(await cloud.node(n)).metadata.uid for n in await cloud.node_names(old.name)}
    await cloud.core.delete_namespaced_config_map(old.name, cloud.namespace)

    await cloud.provider.create_node_pool(cloud.spec(node_count=1))

    names = await cloud.node_names(old.name)
    assert names == [f"{old.name}-0"]
    assert (await cloud.node(names[0])).metadata.uid not in old_uids


async def _crash_mid_delete(cloud: Cloud, spec: NodePoolSpec) -> None:
    """What a controller killed after marking a pool deleting (its Nodes still up) leaves."""
    cm = await cloud.core.read_namespaced_config_map(spec.name, cloud.namespace)
    record = PoolRecord.from_configmap(cm)
    body = pool_configmap(
        record.spec,
        node_count=0,
        created_at=record.created_at,
        reservations={},
        resource_version=record.resource_version,
        deleting=True,
    )
    await cloud.core.replace_namespaced_config_map(spec.name, cloud.namespace, body)


@pytest.mark.parametrize("then", ["delete", "create", "reconcile"])
async def test_a_pool_left_mid_delete_is_listed_as_stopping_and_finished_by_the_next_call(
    cloud: Cloud, then: str
) -> None:
    spec = cloud.spec(node_count=2)
    await cloud.provider.create_node_pool(spec)
    await _crash_mid_delete(cloud, spec)

    (listed,) = await cloud.provider.list_node_pools()
    if then == "delete":
        await cloud.provider.delete_node_pool(spec.name)
    elif then == "create":
        await cloud.provider.create_node_pool(spec.model_copy(update={"node_count": 1}))
    else:
        await cloud.provider.reconcile()

    assert listed.status is NodePoolStatus.STOPPING
    left = {"delete": [], "create": [f"{spec.name}-0"], "reconcile": []}[then]
    assert await cloud.node_names(spec.name) == left
    sizes = [p.node_count for p in await cloud.provider.list_node_pools()]
    assert sizes == ([1] if then == "create" else [])

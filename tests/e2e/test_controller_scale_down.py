"""End to end: empty nodes and pools that ccc created are removed after the consolidation
delay; pools ccc did not create are never touched (kwok provider, real cluster)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    controller,
    create_class,
    create_pods,
    gpu_class,
    gpu_pod,
    install_crd,
    pods_running,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_empty_managed_pools_are_deleted_and_unmanaged_pools_are_kept(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    cls, cloud_ns = f"e2e-down-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        # A pool the platform team made by hand: labelled for the class, not managed by ccc.
        manual = NodePoolSpec(
            name=NodePoolName(f"manual-{uuid.uuid4().hex[:6]}"),
            class_name=cls,
            rule_index=0,
            machine_type="g2-standard-8",
            zone="us-central1-a",
            capacity_type=CapacityType.ON_DEMAND,
            node_count=1,
            labels={L.CLASS_LABEL: cls},
        )
        await cloud.create_node_pool(manual)
        await create_class(api, gpu_class(cls, ["us-central1-b"]))
        core = client.CoreV1Api(api)
        async with (
            temporary_namespace(api, "e2e") as ns,
            controller(
                cluster, tmp_path, kwok_namespace=cloud_ns, extra=["--consolidation-delay", "2"]
            ) as proc,
        ):
            await create_pods(api, ns, [gpu_pod("job-0", cls)])
            running = await eventually(
                "pod Running", lambda: pods_running(api, ns, 1), timeout_s=90
            )
            node_name = running[0].spec.node_name
            managed = [p for p in await cloud.list_node_pools() if p.managed]
            assert len(managed) == 1
            await core.delete_namespaced_pod("job-0", ns, grace_period_seconds=0)

            async def pool_gone() -> bool:
                return not [p for p in await cloud.list_node_pools() if p.managed]

            try:
                await eventually("empty managed pool deleted", pool_gone, timeout_s=90)
            except TimeoutError:
                raise AssertionError(proc.tail()) from None
            nodes = {n.metadata.name for n in (await core.list_node()).items}
            assert node_name not in nodes
            kept = [p for p in await cloud.list_node_pools() if p.name == manual.name]
            assert kept and kept[0].node_count == 1 and not kept[0].managed
            assert any(e.get("event") == "scale_down.done" for e in proc.log_lines())

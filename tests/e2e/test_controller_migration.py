"""End to end: active migration (``activeMigration.optimizeRulePriority``) with ``ccc run``
against the real control plane (kube-apiserver, kube-controller-manager with its Deployment,
ReplicaSet and disruption controllers, kube-scheduler) and KWOK nodes from the kwok provider.

GKE rules encoded: gke-computeclass.md §2.5 and §3.5 (move to a higher rule when its capacity
becomes available, create before delete, PDBs respected); /work/shared/reference/
lifecycle-and-serving.md A2 (strictly higher rule, budget ``maxNodeDisruption``) and A4
(``status.migration`` with GKE's blocked reasons).
"""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    NOT_READY_TOLERATION,
    class_status,
    controller,
    create_class,
    get_class,
    gpu_class,
    gpu_deployment,
    install_crd,
)
from tests.e2e.test_controller_lifecycle import _ready_pods
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ZONE = "us-central1-a"
#: the stockout mark's backoff: spot comes back within it, and is retried when it ends
BACKOFF_S = 15


def _metric(port: int, name: str, **labels: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + "{") and all(p in line for p in want.split(",")):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_pods_move_back_to_spot_when_it_returns_within_the_disruption_budget(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Spot first, on-demand second, spot stocked out: 2 replicas land on on-demand. Spot
    returns: the replicas move to spot, never more than ``maxNodeDisruption`` (1) on-demand
    node cordoned at once, Ready replicas never below the PDB's minAvailable (1), and the
    on-demand nodes are deleted at the end."""
    cls, cloud_ns = f"e2e-mig-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    on_demand = {"machineType": "a3-highgpu-8g", "location": {"zones": [ZONE]}}
    body = gpu_class(
        cls,
        [ZONE],
        extra_rules=[on_demand],
        activeMigration={"optimizeRulePriority": True},
    )
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_capacity("a3-highgpu-8g", ZONE, CapacityType.SPOT, 0)
        await create_class(api, body)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        policy = client.PolicyV1Api(api)
        co = client.CustomObjectsApi(api)
        try:
            async with (
                temporary_namespace(api, "e2e") as ns,
                controller(
                    cluster,
                    tmp_path,
                    kwok_namespace=cloud_ns,
                    extra=("--backoff-base", str(BACKOFF_S)),
                ) as proc,
            ):
                await policy.create_namespaced_pod_disruption_budget(
                    ns,
                    {
                        "metadata": {"name": "vllm"},
                        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "vllm"}}},
                    },
                )
                await apps.create_namespaced_deployment(
                    ns, gpu_deployment("vllm", cls, 2, tolerations=[NOT_READY_TOLERATION])
                )

                async def rules_of_ready() -> list[str]:
                    ready = await _ready_pods(core, ns, "vllm")
                    nodes = {
                        n.metadata.name: n.metadata.labels or {}
                        for n in (await core.list_node()).items
                    }
                    return sorted(
                        nodes.get(p.spec.node_name, {}).get(L.RULE_INDEX_LABEL, "?") for p in ready
                    )

                async def on(rule: str) -> bool:
                    return await rules_of_ready() == [rule, rule]

                try:
                    await eventually("2 replicas Ready on on-demand", lambda: on("1"), timeout_s=60)
                except TimeoutError:
                    raise AssertionError(proc.tail()) from None
                await cloud.set_capacity("a3-highgpu-8g", ZONE, CapacityType.SPOT, None)
                samples: list[tuple[int, int]] = []

                async def sample() -> None:
                    while True:
                        nodes = (await core.list_node()).items
                        cordoned = [
                            n
                            for n in nodes
                            if (n.metadata.labels or {}).get(L.CLASS_LABEL) == cls
                            and (n.metadata.labels or {}).get(L.RULE_INDEX_LABEL) == "1"
                            and n.spec.unschedulable
                        ]
                        ready = await _ready_pods(core, ns, "vllm")
                        samples.append((len(cordoned), len(ready)))
                        await asyncio.sleep(0.1)

                async def on_demand_gone() -> bool:
                    return not [
                        n
                        for n in (await core.list_node()).items
                        if (n.metadata.labels or {}).get(L.CLASS_LABEL) == cls
                        and (n.metadata.labels or {}).get(L.RULE_INDEX_LABEL) == "1"
                    ]

                sampler = asyncio.create_task(sample())
                try:
                    await eventually("2 replicas Ready on spot", lambda: on("0"), timeout_s=90)
                    await eventually("the on-demand nodes deleted", on_demand_gone, timeout_s=60)
                except TimeoutError:
                    raise AssertionError(proc.tail()) from None
                finally:
                    sampler.cancel()
                assert samples
                assert max(c for c, _ in samples) == 1, "one on-demand node cordoned at a time"
                assert min(r for _, r in samples) >= 1, "Ready replicas never below minAvailable"
                lines = proc.log_lines()
                replacing = [
                    line
                    for line in lines
                    if line.get("event") == "node.replacing" and line.get("cause") == "migration"
                ]
                assert len(replacing) == 2, proc.tail()
                assert _metric(proc.port, "ccc_replacements_total", cause="migration") == 2
                drained = _metric(proc.port, "ccc_drain_duration_seconds_count", cause="migration")
                assert drained == 2

                async def settled() -> Any:
                    # the pass that sees the last on-demand node gone writes this; one before
                    # it may still count that node as migrating
                    got = ((await get_class(api, cls)).get("status") or {}).get("migration")
                    rp = (got or {}).get("optimizeRulePriority") or {}
                    counts = (rp.get("currentNodes"), rp.get("migratingNodes"))
                    return rp if counts == (2, 0) else None

                await class_status(api, cls)
                try:
                    migration = await eventually("status.migration settled", settled, timeout_s=30)
                except TimeoutError:
                    got = (await get_class(api, cls)).get("status", {}).get("migration")
                    raise AssertionError(f"status.migration: {got}\n{proc.tail()}") from None
                assert migration["blockedNodes"] == []
        finally:
            await co.delete_cluster_custom_object(L.GROUP, L.VERSION, "computeclasses", cls)

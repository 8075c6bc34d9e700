"""End to end under network faults: node lifecycle and the ServingGroup controller keep their
promises while ``ccc run`` reaches kube-apiserver through a fault proxy (25 % of new connections
refused or reset, a quarter delayed, every established connection cut after 2-30 s; the kwok
provider's cloud lives in the same API server, so its calls go through the same faults).

- A flex-start node expires under a PodDisruptionBudget: the replacement is Ready before the
  first eviction, Ready replicas never drop below minAvailable, the old node goes before its
  deadline (gke-computeclass.md §4, flex-start nodeRecycling: create before delete).
- A spot preemption of two TPU nodes of a ServingGroup: the GPU variant is scaled up and the
  group's Ready capacity is back at its target, with one leadership throughout and no crash.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import create_class, gpu_class, install_crd
from tests.e2e.fault_harness import (
    assert_faults_happened,
    assert_never_crashed_or_lost_the_lease,
    leading_behind,
)
from tests.e2e.test_controller_lifecycle import _deployment, _ready_pods
from tests.e2e.test_servinggroup_controller import TARGET, world
from tests.support.controlplane import ControlPlane
from tests.support.faultproxy import FaultSchedule
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_under_25_percent_faults_an_expiring_node_is_replaced_within_its_pdb(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    cls, cloud_ns = f"e2e-fexp-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    body = gpu_class(cls, ["us-central1-a"], spot=False)
    rule = body["spec"]["priorities"][0]
    rule["flexStart"] = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 90}}
    rule["maxRunDurationSeconds"] = 150
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await create_class(api, body)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        try:
            async with (
                temporary_namespace(api, "e2e") as ns,
                leading_behind(
                    cluster,
                    tmp_path,
                    api,
                    FaultSchedule.at_rate(0.25, seed=2510),
                    name="exp-faults",
                    kwok_namespace=cloud_ns,
                ) as (proc, proxy),
            ):
                await apps.create_namespaced_deployment(ns, _deployment("vllm", cls, 4, gpus=2))

                async def four_ready() -> list[Any] | None:
                    pods = await _ready_pods(core, ns, "vllm")
                    return pods if len(pods) == 4 else None

                pods = await eventually("4 replicas Ready", four_ready, timeout_s=90)
                [old] = {p.spec.node_name for p in pods}
                await client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
                    ns,
                    {
                        "metadata": {"name": "vllm"},
                        "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "vllm"}}},
                    },
                )
                deadline = int(
                    (await core.read_node(old)).metadata.labels[L.FLEX_START_DEADLINE_LABEL]
                )
                # (ready replicas, another Ready class node exists, a replica left the old node)
                samples: list[tuple[int, bool, bool]] = []

                async def sample() -> None:
                    while True:
                        ready = await _ready_pods(core, ns, "vllm")
                        nodes = await core.list_node(label_selector=f"{L.CLASS_LABEL}={cls}")
                        others = any(
                            n.metadata.name != old
                            and any(
                                c.type == "Ready" and c.status == "True"
                                for c in n.status.conditions or []
                            )
                            for n in nodes.items
                        )
                        on_old = sum(1 for p in ready if p.spec.node_name == old)
                        samples.append((len(ready), others, on_old < 4))
                        await asyncio.sleep(0.1)

                sampler = asyncio.create_task(sample())
                try:

                    async def old_gone() -> bool:
                        names = {n.metadata.name for n in (await core.list_node()).items}
                        return old not in names

                    await eventually("the old node deleted", old_gone, timeout_s=150)
                    await eventually("4 replicas Ready again", four_ready, timeout_s=60)
                finally:
                    sampler.cancel()
                assert time.time() < deadline, "replaced before the flex-start deadline"
                assert min(s[0] for s in samples) >= 3, "Ready replicas never below minAvailable"
                first_moved = next(s for s in samples if s[2])
                assert first_moved[1], "the replacement was Ready before the first eviction"
                assert_never_crashed_or_lost_the_lease(proc)
            assert_faults_happened(proxy)
            # Only the old node was drained (a write whose answer was lost is not logged, so the
            # old node may appear once or not at all; the replacement never).
            drained = {e.get("node") for e in proc.events("node.drain_started")}
            assert drained <= {old}, drained
        finally:
            await client.CustomObjectsApi(api).delete_cluster_custom_object(
                L.GROUP, L.VERSION, "computeclasses", cls
            )
            for pool in await cloud.list_node_pools():
                await cloud.delete_node_pool(pool.name)


async def test_under_25_percent_faults_a_tpu_preemption_is_covered_by_gpu_replicas(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    async with (
        api_client(cluster.kubeconfig) as api,
        world(cluster, tmp_path, tpu_capacity=None) as w,
        leading_behind(
            cluster,
            tmp_path,
            api,
            FaultSchedule.at_rate(0.25, seed=2510),
            name="sg-faults",
            kwok_namespace=w.cloud_ns,
        ) as (proc, proxy),
    ):
        w.controller = proc

        async def tpu_carries() -> bool:
            return (await w.ready())["v6e"] == 4

        await eventually("4 TPU replicas Ready", tpu_carries, timeout_s=90)
        nodes = await w.tpu_nodes()
        assert len(nodes) == 4, nodes
        signal = time.monotonic()
        await asyncio.gather(*(w.cloud.preempt(n) for n in nodes[:2]))

        async def gpu_requested() -> float | None:
            return next((t for t, d, r in w.replicas if d == "h100" and r >= 2), None)

        async def restored() -> float | None:
            return next((t for t, c in w.capacity if t > signal and c >= TARGET), None)

        requested = await eventually("GPU replicas requested", gpu_requested, timeout_s=30)
        back = await eventually("capacity restored", restored, timeout_s=60)
        assert requested >= signal and back >= requested
        await w.caught_up()
        assert await w.ready_capacity() >= TARGET
        assert_never_crashed_or_lost_the_lease(proc)
        status = (await w.group())["status"]
        conds = {c["type"]: c["status"] for c in status["conditions"]}
        assert conds["CapacityMet"] == "True", status
    assert_faults_happened(proxy, cut=False)

"""End to end: a flex-start expiry of a TPU node serving a ServingGroup, surge before drain.

A real control plane (kube-apiserver, kube-controller-manager, kube-scheduler, KWOK nodes) and
``ccc run`` as a real process with the kwok provider, in us-east5 (GKE offers flex-start v6e in
us-east5-b, H100s in us-east5-a). There is no PodDisruptionBudget: the drain's wait for the
group's surge (policies/serving_drain.py) is all that keeps Ready capacity at the target.

GKE rules encoded: gke-computeclass.md §4 (flex-start nodeRecycling: recycle at deadline -
leadTimeSeconds, create before delete); the deadline is GKE's
``node.gke.io/machine-termination-datetime`` annotation, written here by the test as GKE would.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    ControllerProcess,
    create_class,
    install_crd,
    serving_deployment,
)
from tests.e2e.serving_harness import classes_of, h100_rule
from tests.e2e.test_servinggroup_controller import TARGET, World, _group, _uid, _until
from tests.support.controlplane import ControlPlane
from tests.support.crds import apply_ccc_crds
from tests.support.kube import api_client, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

REGION = "us-east5"
TPU_ZONE = "us-east5-b"
GPU_ZONE = "us-east5-a"
#: not a wildcard: a pod tolerating every NoSchedule taint lands on cordoned nodes too
TOLERATIONS = [
    {"key": L.CLASS_LABEL, "operator": "Exists"},
    {"key": L.TPU_RESOURCE, "operator": "Exists"},
    {"key": L.GPU_RESOURCE, "operator": "Exists"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
]


def _classes(tag: str) -> list[dict[str, Any]]:
    tpu_rule = {
        "tpu": {"type": "tpu-v6e-slice", "count": 1, "topology": "1x1"},
        "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 600}},
        "location": {"zones": [TPU_ZONE]},
    }
    return classes_of(tag, tpu=tpu_rule, gpu=h100_rule(GPU_ZONE))


def _deployment(name: str, cls: str, resource: str) -> dict[str, Any]:
    body = serving_deployment(name, cls, resource=resource)
    body["spec"]["template"]["spec"]["tolerations"] = TOLERATIONS
    return body


async def _set_capacity(w: World, capacity: int) -> None:
    await client.CustomObjectsApi(w.api).patch_namespaced_custom_object(
        L.GROUP,
        L.VERSION,
        w.ns,
        "servinggroups",
        "llama",
        [{"op": "replace", "path": "/spec/capacity", "value": capacity}],
    )


async def _v6e_nodes(w: World) -> tuple[list[str], set[str]]:
    """The TPU class's nodes, and those a v6e pod is bound to."""
    core = client.CoreV1Api(w.api)
    pods = (await core.list_namespaced_pod(w.ns, label_selector="app=v6e")).items
    return await w.tpu_nodes(), {p.spec.node_name for p in pods if p.spec.node_name}


async def test_a_flex_start_expiry_of_a_tpu_node_surges_the_group_before_the_drain(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """5 v6e replicas, then the group is scaled to 4: one TPU node stays empty and Ready, so the
    lifecycle alone would evict the expiring node's replica at once (it fits there). The drain
    waits instead for the group's surge (a fifth v6e replica Ready); Ready capacity never drops
    below the target, the node is drained and deleted before its deadline, and the hold is
    reported as a ``ServingGroupSurge`` Event on the class."""
    tag = _uid()
    cloud_ns = f"cloud-{tag}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        await asyncio.to_thread(apply_ccc_crds, cluster, kind="ServingGroup")
        cloud = KwokProvider(api, namespace=cloud_ns)
        for body in _classes(tag):
            await create_class(api, body)
        async with temporary_namespace(api, "sg-exp") as ns:
            apps = client.AppsV1Api(api)
            await apps.create_namespaced_deployment(
                ns, _deployment("v6e", f"tpu-{tag}", L.TPU_RESOURCE)
            )
            await apps.create_namespaced_deployment(
                ns, _deployment("h100", f"gpu-{tag}", L.GPU_RESOURCE)
            )
            body = _group(stabilization_s=5)
            body["spec"]["capacity"] = 40
            await client.CustomObjectsApi(api).create_namespaced_custom_object(
                L.GROUP, L.VERSION, ns, "servinggroups", body
            )
            w = World(api, cluster, tmp_path, ns, cloud, cloud_ns)
            watcher = asyncio.create_task(w.watch())
            w.controller = ControllerProcess(
                cluster, tmp_path, kwok_namespace=cloud_ns, extra=("--region", REGION)
            ).start()
            try:
                await _scenario(w, tag)
            finally:
                watcher.cancel()
                w.controller.stop()
                for pool in await cloud.list_node_pools():
                    await cloud.delete_node_pool(pool.name)


async def _scenario(w: World, tag: str) -> None:
    async def five() -> bool:
        return (await w.ready())["v6e"] == 5

    await _until(w, "5 TPU replicas Ready", five, timeout_s=90)
    await _set_capacity(w, TARGET)

    async def spare_node() -> str | None:
        nodes, busy = await _v6e_nodes(w)
        ready = await w.ready()
        if ready["v6e"] != 4 or len(nodes) != 5 or len(busy) != 4:
            return None
        return sorted(busy)[0]

    node = await _until(w, "4 TPU replicas Ready and one TPU node empty", spare_node)
    await w.caught_up()
    ends = datetime.now(UTC) + timedelta(minutes=9)
    announced = time.monotonic()
    await client.CoreV1Api(w.api).patch_node(
        node,
        {
            "metadata": {
                "annotations": {L.GKE_TERMINATION_ANNOTATION: ends.strftime("%Y-%m-%dT%H:%M:%SZ")}
            }
        },
    )

    async def gone() -> bool:
        nodes, _ = await _v6e_nodes(w)
        return node not in nodes

    await _until(w, "the expiring node drained and deleted", gone, timeout_s=90)
    await w.caught_up()
    during = [c for t, c in w.capacity if t >= announced]
    assert min(during) >= TARGET, f"Ready capacity dipped to {min(during)}"
    v6e = w.history("v6e")
    assert v6e[:3] == [0, 5, 4] and 5 in v6e[3:], v6e  # the surge came after the scale-down
    assert w.history("h100") == [0]
    events = await client.CoreV1Api(w.api).list_event_for_all_namespaces(
        field_selector=f"involvedObject.name=tpu-{tag},reason=ServingGroupSurge"
    )
    held = [e.message for e in events.items]
    assert any(f"drain of {node} waits" in m for m in held), held

    async def settled() -> bool:
        return (await w.ready())["v6e"] == 4 and (await w.spec_replicas())["v6e"] == 4

    await _until(w, "back to 4 TPU replicas after the drain", settled)

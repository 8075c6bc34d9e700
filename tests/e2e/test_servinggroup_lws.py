"""End to end: a ServingGroup whose preferred variant is a LeaderWorkerSet on a multi-host TPU
slice, with an H100 Deployment as the fallback, through ``ccc run``.

The real LeaderWorkerSet controller (sigs.k8s.io/lws, built into the local control plane:
design 015) runs beside kube-apiserver, kube-controller-manager, kube-scheduler and KWOK nodes;
``ccc run`` is a real process with the kwok provider. One LWS replica is one group of 2 pods of 4
chips: one v6e 2x4 slice, two hosts (gke-computeclass.md: TPU ``topology``). ccc writes replicas
only through each target's ``/scale``; everything is asserted through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    ControllerProcess,
    create_class,
    install_crd,
    serving_deployment,
)
from tests.e2e.serving_harness import classes_of, h100_rule, serving_group, variant
from tests.e2e.test_servinggroup_controller import _uid
from tests.support.controlplane import ControlPlane
from tests.support.crds import apply_ccc_crds
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

LWS_GROUP, LWS_VERSION, LWS_PLURAL = "leaderworkerset.x-k8s.io", "v1", "leaderworkersets"
SLICE_MACHINE = "ct6e-standard-4t"
TPU_ZONE = "us-central1-b"
GPU_ZONE = "us-central1-a"
TARGET = 32
#: requests/s per replica: one 2x4 slice, one H100
PER = {"slice": 20, "h100": 13}


def _classes(tag: str) -> list[dict[str, Any]]:
    slice_rule = {
        "tpu": {"type": "tpu-v6e-slice", "count": 4, "topology": "2x4"},
        "spot": True,
        "location": {"zones": [TPU_ZONE]},
    }
    return classes_of(tag, slice=slice_rule, gpu=h100_rule(GPU_ZONE))


def _lws(cls: str) -> dict[str, Any]:
    """An LWS at 0 replicas: each replica a leader and a worker, 4 TPU chips each."""
    pod = serving_deployment("slice", cls, resource=L.TPU_RESOURCE)["spec"]["template"]
    pod["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {L.TPU_RESOURCE: "4"},
    }
    return {
        "apiVersion": f"{LWS_GROUP}/{LWS_VERSION}",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "slice"},
        "spec": {"replicas": 0, "leaderWorkerTemplate": {"size": 2, "workerTemplate": pod}},
    }


def _group() -> dict[str, Any]:
    lws = {"kind": "LeaderWorkerSet", "api_version": f"{LWS_GROUP}/{LWS_VERSION}"}
    variants = [variant("slice", PER["slice"], **lws), variant("h100", PER["h100"])]
    return serving_group(variants, capacity=TARGET, stabilization_s=3)


async def _variants(api: client.ApiClient, ns: str) -> dict[str, dict[str, Any]]:
    got = await client.CustomObjectsApi(api).get_namespaced_custom_object(
        L.GROUP, L.VERSION, ns, "servinggroups", "llama"
    )
    return {v["name"]: v for v in (got.get("status") or {}).get("variants") or []}


async def _replicas(api: client.ApiClient, ns: str) -> dict[str, int]:
    """``spec.replicas`` of both targets, read through their ``/scale``."""
    lws = await client.CustomObjectsApi(api).get_namespaced_custom_object_scale(
        LWS_GROUP, LWS_VERSION, ns, LWS_PLURAL, "slice"
    )
    dep = await client.AppsV1Api(api).read_namespaced_deployment_scale("h100", ns)
    return {"slice": int(lws["spec"].get("replicas") or 0), "h100": int(dep.spec.replicas or 0)}


async def test_an_lws_slice_variant_shifts_to_gpu_on_a_stockout_and_back_when_capacity_returns(
    lws_cluster: ControlPlane, tmp_path: Path
) -> None:
    tag = _uid()
    cloud_ns = f"cloud-{tag}"
    async with api_client(lws_cluster.kubeconfig) as api:
        await install_crd(api)
        await asyncio.to_thread(apply_ccc_crds, lws_cluster, kind="ServingGroup")
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_capacity(SLICE_MACHINE, TPU_ZONE, CapacityType.SPOT, 0)
        for body in _classes(tag):
            await create_class(api, body)
        async with temporary_namespace(api, "sg-lws", ready_for_pods=True) as ns:
            await client.CustomObjectsApi(api).create_namespaced_custom_object(
                LWS_GROUP, LWS_VERSION, ns, LWS_PLURAL, _lws(f"slice-{tag}")
            )
            await client.AppsV1Api(api).create_namespaced_deployment(
                ns, serving_deployment("h100", f"gpu-{tag}", resource=L.GPU_RESOURCE)
            )
            await client.CustomObjectsApi(api).create_namespaced_custom_object(
                L.GROUP, L.VERSION, ns, "servinggroups", _group()
            )
            proc = ControllerProcess(
                lws_cluster,
                tmp_path,
                kwok_namespace=cloud_ns,
                extra=("--backoff-base", "3", "--backoff-max", "6"),
            ).start()
            try:
                await _scenario(api, ns, cloud, proc)
            finally:
                proc.stop()
                for pool in await cloud.list_node_pools():
                    with contextlib.suppress(Exception):
                        await cloud.delete_node_pool(pool.name)


async def _scenario(
    api: client.ApiClient, ns: str, cloud: KwokProvider, proc: ControllerProcess
) -> None:
    async def until(what: str, check: Any, timeout_s: float = 60) -> Any:
        try:
            return await eventually(what, check, timeout_s=timeout_s)
        except TimeoutError:
            raise AssertionError(f"{what}; controller log:\n{proc.tail(60)}") from None

    # The slice is stocked out: the share moves to the H100 Deployment through its /scale.
    async def on_gpu() -> dict[str, dict[str, Any]] | None:
        v = await _variants(api, ns)
        ok = v.get("h100", {}).get("readyReplicas") == 3 and v["slice"]["state"] == "Unobtainable"
        return v if ok else None

    v = await until("the H100 variant carries the group", on_gpu)
    assert v["h100"]["state"] == "Substituting", v
    assert v["slice"]["desiredReplicas"] == 0, v
    assert await _replicas(api, ns) == {"slice": 0, "h100": 3}

    # Capacity returns: after stabilization the LWS is scaled through its /scale, and the
    # H100s go only once the slices are Ready (surge-first).
    await cloud.set_capacity(SLICE_MACHINE, TPU_ZONE, CapacityType.SPOT, None)

    async def back_on_slices() -> dict[str, dict[str, Any]] | None:
        v = await _variants(api, ns)
        ok = v["slice"].get("readyReplicas") == 2 and v["h100"].get("desiredReplicas") == 0
        return v if ok else None

    v = await until("back on the LWS slices", back_on_slices, timeout_s=90)
    assert v["slice"]["state"] == "Preferred", v
    assert v["slice"]["readyCapacity"] == 2 * PER["slice"]
    assert await _replicas(api, ns) == {"slice": 2, "h100": 0}
    lws = await client.CustomObjectsApi(api).get_namespaced_custom_object(
        LWS_GROUP, LWS_VERSION, ns, LWS_PLURAL, "slice"
    )
    assert (lws.get("status") or {}).get("readyReplicas") == 2, lws.get("status")
    pods = await client.CoreV1Api(api).list_namespaced_pod(
        ns, label_selector="leaderworkerset.sigs.k8s.io/name=slice"
    )
    running = [p for p in pods.items if p.status.phase == "Running"]
    assert len(running) == 4, "2 replicas x (leader + worker), each on a host of a 2x4 slice"
    hosts = {p.spec.node_name for p in running}
    assert len(hosts) == 4, hosts

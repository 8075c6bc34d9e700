"""End to end: ``ccc run`` (a real process) on the local cluster (kube-apiserver, etcd,
kube-controller-manager, kube-scheduler, kwok) with the kwok provider, whose capacity model the
tests script through its ConfigMap while the controller runs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    class_status,
    controller,
    create_class,
    create_pods,
    events_for,
    events_until,
    get_class,
    gpu_class,
    gpu_pod,
    install_crd,
    pods_running,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")


def _uid() -> str:
    return uuid.uuid4().hex[:6]


async def test_eight_gpu_pods_run_in_the_next_zone_when_the_first_is_stocked_out(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    cls, cloud_ns = f"e2e-fallback-{_uid()}", f"cloud-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_capacity("a3-highgpu-8g", ZONES[0], CapacityType.SPOT, 0)
        await create_class(api, gpu_class(cls, ZONES[:2]))
        async with (
            temporary_namespace(api, "e2e") as ns,
            controller(cluster, tmp_path, kwok_namespace=cloud_ns) as proc,
        ):
            await create_pods(api, ns, [gpu_pod(f"vllm-{i}", cls, gpus=2) for i in range(8)])
            try:
                running = await eventually(
                    "8 pods Running", lambda: pods_running(api, ns, 8), timeout_s=120
                )
            except TimeoutError:
                raise AssertionError(f"controller log:\n{proc.tail()}") from None
            core = client.CoreV1Api(api)
            zones = set()
            for pod in running:
                node = await core.read_node(pod.spec.node_name)
                zones.add(node.metadata.labels[L.ZONE_LABEL])
                assert node.metadata.labels[L.CLASS_LABEL] == cls
            assert zones == {ZONES[1]}
            events = await events_until(
                api,
                kind="ComputeClass",
                name=cls,
                done=lambda evs: any("after stockout in us-central1-a" in e.message for e in evs),
            )
            assert any(e.reason == "OfferingUnavailable" for e in events)
            status = await class_status(api, cls)
            marked = status["unavailableOfferings"]
            assert [(o["zone"], o["capacityType"]) for o in marked] == [(ZONES[0], "spot")]
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "True"


async def test_everything_stocked_out_leaves_pods_pending_with_a_clear_event(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    cls, cloud_ns = f"e2e-none-{_uid()}", f"cloud-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        for z in ZONES[:2]:
            await cloud.set_capacity("a3-highgpu-8g", z, CapacityType.SPOT, 0)
        await create_class(api, gpu_class(cls, ZONES[:2]))
        async with (
            temporary_namespace(api, "e2e") as ns,
            controller(cluster, tmp_path, kwok_namespace=cloud_ns) as proc,
        ):
            await create_pods(api, ns, [gpu_pod("vllm-0", cls)])

            async def unsatisfiable_event() -> list[str] | None:
                msgs = [
                    e.message
                    for e in await events_for(api, kind="Pod", name="vllm-0")
                    if e.reason == "Unsatisfiable"
                ]
                return msgs or None

            try:
                msgs = await eventually("Unsatisfiable event", unsatisfiable_event, timeout_s=60)
            except TimeoutError:
                raise AssertionError(f"controller log:\n{proc.tail()}") from None
            assert "whenUnsatisfiable=DoNotScaleUp" in msgs[0]
            assert await KwokProvider(api, namespace=cloud_ns).list_node_pools() == []
            pod = await client.CoreV1Api(api).read_namespaced_pod("vllm-0", ns)
            assert pod.status.phase == "Pending"


async def test_scale_up_anyway_still_creates_nothing_outside_the_rules_and_says_so(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    cls, cloud_ns = f"e2e-anyway-{_uid()}", f"cloud-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_capacity("a3-highgpu-8g", ZONES[0], CapacityType.SPOT, 0)
        await create_class(api, gpu_class(cls, ZONES[:1], whenUnsatisfiable="ScaleUpAnyway"))
        async with (
            temporary_namespace(api, "e2e") as ns,
            controller(cluster, tmp_path, kwok_namespace=cloud_ns),
        ):
            await create_pods(api, ns, [gpu_pod("vllm-0", cls)])

            async def event() -> list[str] | None:
                msgs = [
                    e.message
                    for e in await events_for(api, kind="ComputeClass", name=cls)
                    if e.reason == "Unsatisfiable"
                ]
                return msgs or None

            msgs = await eventually("Unsatisfiable event", event, timeout_s=60)
            assert "ScaleUpAnyway" in msgs[0]
            assert await cloud.list_node_pools() == []


async def test_a_broken_class_and_an_unknown_class_are_reported_while_others_keep_working(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    good, broken, cloud_ns = f"e2e-good-{_uid()}", f"e2e-broken-{_uid()}", f"cloud-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        await create_class(api, gpu_class(good, ZONES[:1]))
        await create_class(api, gpu_class(broken, ZONES[:1], machine_type="n9-imaginary-8"))
        async with (
            temporary_namespace(api, "e2e") as ns,
            controller(cluster, tmp_path, kwok_namespace=cloud_ns),
        ):
            await create_pods(
                api,
                ns,
                [
                    gpu_pod("good-0", good),
                    gpu_pod("lost-0", "no-such"),
                    gpu_pod("broken-0", broken),
                ],
            )
            await eventually("good pod Running", lambda: pods_running(api, ns, 1), timeout_s=90)

            async def not_ready() -> dict[str, str] | None:
                conds = (await get_class(api, broken)).get("status", {}).get("conditions", [])
                ready = next((c for c in conds if c["type"] == "Ready"), None)
                return ready if ready and ready["status"] == "False" else None

            ready = await eventually("Ready=False on the broken class", not_ready, timeout_s=60)
            assert ready["reason"] == "NoUsableRule"
            assert "spec.priorities[0].machineType" in ready["message"]

            async def orphan_event() -> list[str] | None:
                msgs = [
                    e.message
                    for e in await events_for(api, kind="Pod", name="lost-0")
                    if e.reason == "ComputeClassNotFound"
                ]
                return msgs or None

            msgs = await eventually("ComputeClassNotFound event", orphan_event, timeout_s=60)
            assert "'no-such' does not exist" in msgs[0]

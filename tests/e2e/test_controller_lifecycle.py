"""End to end: flex-start expiry and spot preemption with ``ccc run`` against the real control
plane (kube-apiserver, kube-controller-manager with its Deployment, ReplicaSet and disruption
controllers, kube-scheduler) and KWOK nodes from the kwok provider.

GKE rules encoded: gke-computeclass.md §4 (flex-start nodeRecycling), §5 (spot preemption);
/work/shared/reference/lifecycle-and-serving.md A1 (recycle at deadline - leadTimeSeconds,
create before delete) and A3 (the impending-termination taint, kubelet's graceful shutdown).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    NOT_READY_TOLERATION,
    ControllerProcess,
    controller,
    create_class,
    gpu_class,
    gpu_deployment,
    install_crd,
    pod_ready,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def _ready_pods(core: client.CoreV1Api, ns: str, app: str) -> list[Any]:
    pods = (await core.list_namespaced_pod(ns, label_selector=f"app={app}")).items
    return [p for p in pods if pod_ready(p)]


#: Starts ``ccc run`` for a test: given the API client and the kwok cloud namespace, an async
#: context that yields the running controller and stops it on exit.
Runner = Callable[[Any, str], AbstractAsyncContextManager[ControllerProcess]]


async def expire_within_pdb(
    cluster: ControlPlane, tmp_path: Path, run: Runner, *, lead_s: int = 80, max_run_s: int = 130
) -> tuple[ControllerProcess, str]:
    """4 replicas on one flex-start node, PDB minAvailable 3, the node's deadline ``max_run_s``
    after it was made: the replacement node is Ready before the first eviction, Ready replicas
    never drop below 3, the old node is deleted before its deadline and the 4 replicas are Ready
    again. Returns the controller (for its log) and the old node's name; the class and its
    pools are deleted at the end."""
    cls, cloud_ns = f"e2e-exp-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    body = gpu_class(cls, ["us-central1-a"], spot=False)
    rule = body["spec"]["priorities"][0]
    rule["flexStart"] = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": lead_s}}
    rule["maxRunDurationSeconds"] = max_run_s
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await create_class(api, body)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        try:
            async with temporary_namespace(api, "e2e") as ns, run(api, cloud_ns) as proc:
                old = await _expire(core, apps, client.PolicyV1Api(api), ns, cls, proc)
                assert [p for p in await cloud.list_node_pools() if p.managed]
        finally:
            await client.CustomObjectsApi(api).delete_cluster_custom_object(
                L.GROUP, L.VERSION, "computeclasses", cls
            )
            for pool in await cloud.list_node_pools():
                await cloud.delete_node_pool(pool.name)
    return proc, old


async def _expire(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    policy: client.PolicyV1Api,
    ns: str,
    cls: str,
    proc: ControllerProcess,
) -> str:
    await apps.create_namespaced_deployment(
        ns, gpu_deployment("vllm", cls, 4, gpus=2, tolerations=[NOT_READY_TOLERATION])
    )

    async def four_ready() -> list[Any] | None:
        pods = await _ready_pods(core, ns, "vllm")
        return pods if len(pods) == 4 else None

    try:
        pods = await eventually("4 replicas Ready", four_ready, timeout_s=90)
    except TimeoutError:
        raise AssertionError(proc.tail()) from None
    [old] = {p.spec.node_name for p in pods}
    await policy.create_namespaced_pod_disruption_budget(
        ns,
        {
            "metadata": {"name": "vllm"},
            "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "vllm"}}},
        },
    )
    node = await core.read_node(old)
    deadline = int(node.metadata.labels[L.FLEX_START_DEADLINE_LABEL])
    # (ready replicas, another Ready class node exists, a replica has left the old node)
    samples: list[tuple[int, bool, bool]] = []

    async def sample() -> None:
        while True:
            ready = await _ready_pods(core, ns, "vllm")
            nodes = (await core.list_node(label_selector=f"{L.CLASS_LABEL}={cls}")).items
            others = any(
                n.metadata.name != old
                and any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
                for n in nodes
            )
            on_old = [p for p in ready if p.spec.node_name == old]
            samples.append((len(ready), others, len(on_old) < 4))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:

        async def old_gone() -> bool:
            names = {n.metadata.name for n in (await core.list_node()).items}
            return old not in names

        try:
            await eventually("the old node deleted", old_gone, timeout_s=150)
            await eventually("4 replicas Ready again", four_ready, timeout_s=60)
        except TimeoutError:
            raise AssertionError(f"{await _world(core, ns)}\n{proc.tail()}") from None
    finally:
        sampler.cancel()
    assert time.time() < deadline, "replaced before the flex-start deadline"
    assert min(s[0] for s in samples) >= 3, "Ready replicas never below minAvailable"
    first_moved = next(s for s in samples if s[2])
    assert first_moved[1], "the replacement was Ready before the first eviction"
    return old


async def _world(core: client.CoreV1Api, ns: str) -> list[Any]:
    """Pods and nodes as they are, for a failure's message."""
    state: list[Any] = [
        (
            p.metadata.name,
            p.spec.node_name,
            p.status.phase,
            [(c.type, c.status, c.reason) for c in p.status.conditions or []],
        )
        for p in (await core.list_namespaced_pod(ns)).items
    ]
    state.extend(
        (
            n.metadata.name,
            n.spec.unschedulable,
            n.spec.taints,
            [(c.type, c.status) for c in n.status.conditions or []],
        )
        for n in (await core.list_node()).items
    )
    return state


async def test_an_expiring_flex_start_node_is_replaced_before_any_eviction_within_its_pdb(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """See :func:`expire_within_pdb`; the PDB refused evictions at first and they were
    retried, never bypassed."""
    proc, _ = await expire_within_pdb(
        cluster,
        tmp_path,
        lambda api, cloud_ns: controller(cluster, tmp_path, kwok_namespace=cloud_ns),
    )
    events = [e.get("event") for e in proc.log_lines()]
    assert "node.drain_started" in events
    assert "node.drain_blocked" in events, "the PDB refused evictions; they were retried"


async def test_a_preemption_storm_across_two_zones_is_answered_within_a_second_each(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Spot nodes in two zones get the termination taint; kubelet's graceful shutdown ends their
    pods (deleted here: KWOK has no kubelet). Each signal is followed by a replacement request
    within 1 s of reaching the controller, and every replica runs again."""
    cls, cloud_ns = f"e2e-pre-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    zones = ["us-central1-a", "us-central1-b", "us-central1-c"]
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        # zone a holds 2 nodes: 2 replicas land there, the next 2 fall back to zone b
        await cloud.set_capacity("a3-highgpu-8g", zones[0], CapacityType.SPOT, 2)
        await create_class(api, gpu_class(cls, zones))
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        async with (
            temporary_namespace(api, "e2e") as ns,
            controller(cluster, tmp_path, kwok_namespace=cloud_ns) as proc,
        ):
            await apps.create_namespaced_deployment(
                ns, gpu_deployment("vllm", cls, 2, tolerations=[NOT_READY_TOLERATION])
            )

            async def ready(n: int) -> list[Any] | None:
                pods = await _ready_pods(core, ns, "vllm")
                return pods if len(pods) >= n else None

            try:
                await eventually("2 replicas Ready", lambda: ready(2), timeout_s=90)
                await apps.patch_namespaced_deployment("vllm", ns, {"spec": {"replicas": 4}})
                pods = await eventually("4 replicas Ready", lambda: ready(4), timeout_s=90)
            except TimeoutError:
                raise AssertionError(proc.tail()) from None
            nodes = {p.spec.node_name for p in pods}
            node_zones = {(await core.read_node(n)).metadata.labels[L.ZONE_LABEL] for n in nodes}
            assert node_zones == set(zones[:2])
            signals: dict[str, float] = {}

            async def preempt(node: str) -> None:
                signals[node] = time.time()
                task = asyncio.create_task(cloud.preempt(node, notice_s=3.0))
                await asyncio.sleep(0.5)
                for p in pods:
                    if p.spec.node_name == node:
                        await core.delete_namespaced_pod(
                            p.metadata.name, ns, grace_period_seconds=0
                        )
                await task

            await asyncio.gather(*(preempt(n) for n in sorted(nodes)))
            try:
                await eventually("4 replicas Ready again", lambda: ready(4), timeout_s=90)
            except TimeoutError:
                raise AssertionError(proc.tail()) from None
            lines = proc.log_lines()
            requested = [line for line in lines if line.get("event") == "replacement.requested"]
            assert requested, proc.tail()
            # The controller's own reaction, from a signal reaching its cache to the request
            # that answers it: what ccc controls, and the figure benchmarks/serving_shift.py and
            # ccc_signal_to_replacement_request_seconds report.
            assert all(r["after_s"] <= 1.0 for r in requested), requested
            for node, at in signals.items():
                # One request may answer several signals of the same pass (a node's pods can
                # also be covered by a request already in flight): each signal is answered by
                # a request at most 5 s after the test's taint write (API server and watch
                # included, on a possibly loaded machine).
                answered = [r for r in requested if 0 <= _epoch(r["timestamp"]) - at + 0.05 <= 5.05]
                assert answered, (node, at, requested)
            marked = [line for line in lines if line.get("event") == "offering.marked_unavailable"]
            # zone b is marked PREEMPTED; zone a already is backed off (its stockout), so it
            # is not marked again; no replacement lands in zone a (one requested before zone b's
            # signal may land in zone b)
            assert zones[1] in {m["zone"] for m in marked if m.get("reason") == "PREEMPTED"}
            after = await ready(4) or []
            landed = {
                (await core.read_node(p.spec.node_name)).metadata.labels[L.ZONE_LABEL]
                for p in after
            }
            assert zones[0] not in landed


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

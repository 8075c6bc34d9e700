"""End to end: the controller survives ``kill -9`` at any point and hands over leadership.

Both tests run ``ccc run`` as real processes against the local cluster with the kwok provider,
whose state (pools, capacity) lives in the API server, as a cloud's would live outside the
controller.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from policies.naming import node_pool_name
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    ControllerProcess,
    create_class,
    create_pods,
    gpu_class,
    gpu_pod,
    install_crd,
    pods_running,
)
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e]
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")


@pytest.mark.timeout(600)
async def test_kill_9_at_random_points_never_duplicates_or_leaks_node_pools(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills = 22
    cls, cloud_ns = f"e2e-kill-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        # Zone a holds 3 nodes, so the walk also falls back across zones while being killed;
        # creates take a while, so kills land in the middle of provisioning.
        await cloud.set_capacity("a3-highgpu-8g", ZONES[0], CapacityType.SPOT, 3)
        await cloud.set_provisioning_delay(0.7)
        await create_class(api, gpu_class(cls, ZONES))
        async with temporary_namespace(api, "e2e") as ns:
            killed_alive = 0
            for i in range(kills):
                await create_pods(api, ns, [gpu_pod(f"train-{i}", cls)])
                proc = ControllerProcess(
                    cluster, tmp_path, kwok_namespace=cloud_ns, name=f"ccc-{i}"
                ).start()
                await asyncio.sleep(rng.uniform(0.3, 3.0))
                killed_alive += proc.alive
                proc.kill9()
            assert killed_alive == kills, "every controller must be killed while running"
            final = ControllerProcess(
                cluster, tmp_path, kwok_namespace=cloud_ns, name="ccc-final"
            ).start()
            try:
                running = await eventually(
                    f"{kills} pods Running (seed {seed})",
                    lambda: pods_running(api, ns, kills),
                    timeout_s=180,
                )
            except TimeoutError:
                raise AssertionError(
                    f"seed {seed}; final controller log:\n{final.tail()}"
                ) from None
            finally:
                final.stop()
            pools = await cloud.list_node_pools()
            allowed = {node_pool_name(cls, 0, "a3-highgpu-8g", z, CapacityType.SPOT) for z in ZONES}
            assert {str(p.name) for p in pools} <= allowed, f"seed {seed}: unexpected pools"
            assert sum(p.node_count for p in pools) == kills, (
                f"seed {seed}: {[(p.name, p.node_count) for p in pools]}"
            )
            assert all(p.node_count > 0 for p in pools), f"seed {seed}: empty pool leaked"
            nodes = (
                await client.CoreV1Api(api).list_node(label_selector=f"{L.CLASS_LABEL}={cls}")
            ).items
            assert len(nodes) == kills
            assert len({p.spec.node_name for p in running}) == kills  # one 8-GPU pod per node


async def _leader_metric(port: int) -> float | None:
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=2)) as r,
        ):
            text = await r.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    for line in text.splitlines():
        if line.startswith("ccc_leader "):
            return float(line.split()[1])
    return None


@pytest.mark.timeout(300)
async def test_only_one_of_two_controllers_acts_and_the_other_takes_over_after_kill_9(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    cls, cloud_ns = f"e2e-ha-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    lease_s = 4.0
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        await create_class(api, gpu_class(cls, ZONES[:1]))
        async with (
            temporary_namespace(api, "lease") as lease_ns,
            temporary_namespace(api, "e2e") as ns,
        ):
            extra = [
                "--leader-elect",
                "--lease-namespace",
                lease_ns,
                "--lease-duration",
                str(lease_s),
                "--renew-deadline",
                "3",
                "--retry-period",
                "0.5",
            ]
            procs = [
                ControllerProcess(
                    cluster, tmp_path, kwok_namespace=cloud_ns, extra=extra, name=f"ha-{k}"
                ).start()
                for k in range(2)
            ]
            try:

                async def one_leader() -> ControllerProcess | None:
                    values = [await _leader_metric(p.port) for p in procs]
                    if sorted(v or 0.0 for v in values) == [0.0, 1.0] and None not in values:
                        return procs[values.index(1.0)]
                    return None

                leader = await eventually("exactly one leader", one_leader, timeout_s=60)
                standby = procs[1 - procs.index(leader)]
                await create_pods(api, ns, [gpu_pod("before-0", cls)])
                await eventually("pod Running", lambda: pods_running(api, ns, 1), timeout_s=90)
                acted = [
                    p
                    for p in procs
                    if any(e.get("event") == "provisioning.requested" for e in p.log_lines())
                ]
                assert acted == [leader]

                leader.kill9()
                killed_at = time.monotonic()

                async def standby_leads() -> bool:
                    return await _leader_metric(standby.port) == 1.0

                await eventually("standby takes over", standby_leads, timeout_s=30, interval_s=0.1)
                took = time.monotonic() - killed_at
                assert took <= lease_s + 2.0, f"takeover took {took:.1f}s"
                await create_pods(api, ns, [gpu_pod("after-0", cls)])
                await eventually(
                    "pod Running after failover", lambda: pods_running(api, ns, 2), timeout_s=90
                )

                # The line is written when the provider call returns, which can be a moment
                # after the pod already runs on the new node (the call ends with the Node write).
                async def standby_requested() -> bool:
                    return any(
                        e.get("event") == "provisioning.requested" for e in standby.log_lines()
                    )

                await eventually("the new leader logged its request", standby_requested)
            finally:
                for p in procs:
                    p.stop()

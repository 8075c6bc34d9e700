"""End to end under network faults: ``ccc run`` (a real process) reaches kube-apiserver, and the
GKE emulator, through fault proxies (``tests.support.faultproxy``) that refuse, reset, cut,
delay and blackhole its connections on a seeded schedule.

- 25 % faults, zone a stocks out: every pod ends up Running (and stays so through at least
  one connection cut), with no duplicate or leaked pool,
  no crash and no lost leadership; once with the kwok provider (its cloud lives in the same
  API server, so its calls go through the same faults), once with the GKE provider with a
  second proxy in front of the emulator.
- Every open connection blackholed (silent, never reset): the controller notices within its
  watch idle limit and provisions for a pod created meanwhile within 30 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.values import CapacityType
from policies.naming import node_pool_name
from providers.kwok import KwokProvider
from tests.e2e.controller_harness import (
    create_class,
    create_pods,
    gpu_class,
    gpu_pod,
    install_crd,
    pods_running,
)
from tests.e2e.fault_harness import (
    assert_faults_happened,
    assert_never_crashed_or_lost_the_lease,
    leading_behind,
)
from tests.emulator import faults as gke_faults
from tests.emulator.fixtures import ccc_run_args
from tests.emulator.kwok_bridge import kwok_bridge
from tests.emulator.server import running_emulator
from tests.emulator.state import GKEEmulatorState
from tests.support.controlplane import ControlPlane
from tests.support.faultproxy import FaultProxy, FaultSchedule, fault_proxy
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e]
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")
MACHINE = "a3-highgpu-8g"


def _uid() -> str:
    return uuid.uuid4().hex[:6]


async def _cut(proxy: FaultProxy) -> bool:
    return proxy.stats["cut"] >= 1


def _at(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["timestamp"])).timestamp()


@pytest.mark.timeout(300)
async def test_under_25_percent_faults_pods_run_after_a_stockout_with_no_duplicate_or_leaked_pool(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    seed = 2510  # see assert_faults_happened
    cls, cloud_ns = f"e2e-faults-{_uid()}", f"cloud-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        # The first batch fits in zone a; growing it for the second one stocks out.
        await cloud.set_capacity(MACHINE, ZONES[0], CapacityType.SPOT, 6)
        await create_class(api, gpu_class(cls, ZONES[:2]))
        async with (
            temporary_namespace(api, "e2e") as ns,
            leading_behind(
                cluster,
                tmp_path,
                api,
                # cuts 2-10 s into a connection (not 2-30 s), so a short run still sees one
                FaultSchedule.at_rate(0.25, seed=seed, cut_after_s=(2.0, 10.0)),
                name="faults",
                kwok_namespace=cloud_ns,
            ) as (proc, proxy),
        ):
            for batch in range(3):  # pods arrive in batches, as a workload's would
                await create_pods(api, ns, [gpu_pod(f"train-{batch}-{i}", cls) for i in range(4)])
                running = await eventually(
                    f"{4 * batch + 4} pods Running",
                    lambda n=4 * batch + 4: pods_running(api, ns, n),
                    timeout_s=120,
                )
            # Every watch outlives its cut, so the controller meets at least one cut before
            # the end; the pods stay Running through it.
            await eventually("a connection cut", lambda: _cut(proxy), timeout_s=15)
            assert await pods_running(api, ns, 12)
            assert_never_crashed_or_lost_the_lease(proc)
        assert_faults_happened(proxy)
        pools = await cloud.list_node_pools()
        allowed = {node_pool_name(cls, 0, MACHINE, z, CapacityType.SPOT) for z in ZONES[:2]}
        seen = [(p.name, p.zones, p.node_count) for p in pools]
        assert {str(p.name) for p in pools} == allowed, seen  # both zones, no other pool
        assert sum(p.node_count for p in pools) == 12, seen
        nodes = (
            await client.CoreV1Api(api).list_node(label_selector=f"{L.CLASS_LABEL}={cls}")
        ).items
        assert len(nodes) == 12
        assert len({p.spec.node_name for p in running}) == 12  # one 8-GPU pod per node
        assert proc.proc is not None and proc.proc.returncode == 0


@pytest.mark.timeout(300)
async def test_under_25_percent_faults_on_both_apis_gke_pods_run_after_a_stockout_in_one_pool(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Two proxies: ``ccc run`` -> kube-apiserver and the GKE provider's REST client -> the
    emulator. Zone a answers every create with GCE's stockout."""
    cls = f"e2e-gke-faults-{_uid()}"
    state = GKEEmulatorState(cluster=f"e2e-{_uid()}")
    state.inject(gke_faults.stockout(ZONES[0], project=state.project, times=None))
    body = gpu_class(cls, ZONES[:2])
    body["spec"]["priorities"][0]["gpu"] = {
        "type": "nvidia-h100-80gb",
        "count": 8,
        "driverVersion": "latest",
    }
    with running_emulator(state) as emu, kwok_bridge(emu, cluster.kubeconfig) as bridge:
        emu_host, emu_port = emu.endpoint.rsplit(":", 1)
        gke_schedule = FaultSchedule.at_rate(0.25, seed=75)
        with fault_proxy(emu_host, int(emu_port), gke_schedule) as gke:
            async with api_client(cluster.kubeconfig) as api:
                await install_crd(api)
                await create_class(api, body)
                async with (
                    temporary_namespace(api, "e2e") as ns,
                    leading_behind(
                        cluster,
                        tmp_path,
                        api,
                        FaultSchedule.at_rate(0.25, seed=77),
                        name="gke-faults",
                        provider_args=ccc_run_args(emu, endpoint=gke.address),
                    ) as (proc, kube),
                ):
                    await create_pods(
                        api, ns, [gpu_pod(f"vllm-{i}", cls, gpus=2) for i in range(8)]
                    )
                    try:
                        await eventually(
                            "8 pods Running", lambda: pods_running(api, ns, 8), timeout_s=180
                        )
                    except TimeoutError as exc:
                        pools = list(emu.state.node_pools)
                        raise AssertionError(
                            f"{exc}\npools {pools}; bridge errors {bridge.errors[-5:]}"
                        ) from None
                    assert_never_crashed_or_lost_the_lease(proc)
        assert sum(gke.stats[k] for k in ("refused", "reset", "cut")) >= 1, dict(gke.stats)
        assert_faults_happened(kube, cut=False)
    with emu.state.lock:
        pools = {name: dict(p) for name, p in emu.state.node_pools.items()}
        instances = {name: list(v) for name, v in emu.state.instances.items()}
    assert len(pools) == 1, list(pools)  # no duplicate; zone a's failed pool cleaned up
    ((name, pool),) = pools.items()
    assert pool["locations"] == [ZONES[1]]
    assert len(instances[name]) == 2  # 8 pods × 2 GPUs on 8-GPU nodes


@pytest.mark.timeout(300)
async def test_a_blackholed_connection_is_detected_and_the_controller_recovers_within_30_s(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Every connection of ``ccc run`` goes silent at once (packets lost, no reset), with
    ``ccc run``'s own watch and request limits. A pod created right after must still get its
    node requested within 30 s, with the same leader throughout."""
    cls, cloud_ns = f"e2e-blackhole-{_uid()}", f"cloud-{_uid()}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        await create_class(api, gpu_class(cls, ZONES[:1]))
        async with (
            temporary_namespace(api, "e2e") as ns,
            leading_behind(
                cluster, tmp_path, api, FaultSchedule(), name="blackhole", kwok_namespace=cloud_ns
            ) as (proc, proxy),
        ):
            await create_pods(api, ns, [gpu_pod("before", cls)])
            await eventually("first pod Running", lambda: pods_running(api, ns, 1))
            await asyncio.sleep(1)  # steady state: watches idle, connections pooled
            assert proxy.blackhole_established() >= 3  # three watches at least
            blackholed_at = time.time()
            await create_pods(api, ns, [gpu_pod("after", cls)])
            await eventually("second pod Running", lambda: pods_running(api, ns, 2), timeout_s=120)
            assert_never_crashed_or_lost_the_lease(proc)
    requested = [_at(e) - blackholed_at for e in proc.events("provisioning.requested")]
    assert len(requested) == 2 and requested[0] < 0
    assert requested[1] <= 30.0, f"provisioned {requested[1]:.1f}s after the blackhole"
    dropped = [e for e in proc.events("informer.watch_interrupted") if _at(e) > blackholed_at]
    assert {e["informer"] for e in dropped} >= {"pods", "nodes", "computeclasses"}
    assert all("Timeout" in e["error"] for e in dropped)
    assert proc.proc is not None and proc.proc.returncode == 0

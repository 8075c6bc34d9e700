"""End to end: the controller survives ``kill -9`` at any point and hands over leadership, after
a crash and on SIGTERM.

The tests run ``ccc run`` as real processes against the local cluster with the kwok provider,
whose state (pools, capacity) lives in the API server, as a cloud's would live outside the
controller.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from ccc.controller.kube import request_json
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
from tests.e2e.kill_rounds import kill_round, remove_class_and_cloud
from tests.support.controlplane import ControlPlane
from tests.support.kube import api_client, eventually, temporary_namespace

pytestmark = [pytest.mark.e2e]
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")
LEASE = "ccc-controller"  # `ccc run --lease-name` default


@pytest.mark.timeout(600)
async def test_kill_9_at_random_points_never_duplicates_or_leaks_node_pools(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Eight controllers killed at random points of provisioning (after their caches synced)
    while pods arrive, creates take 0.7 s and zone a stocks out after 3 nodes
    (``tests/e2e/kill_rounds.py``); ``benchmarks/chaos.py`` runs the same rounds by the
    hundred."""
    kills = 8
    seed = random.randrange(1 << 30)
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        got = await kill_round(api, cluster, tmp_path, kills=kills, seed=seed, clean_up=False)
    assert got.killed_while_running == kills, "every controller must be killed while running"
    assert got.converged_s is not None, f"seed {seed}; final controller log:\n{got.log_tail}"
    assert got.unexpected_pools == (), f"seed {seed}: {got.pools}"
    assert sum(count for _, _, count in got.pools) == kills, f"seed {seed}: {got.pools}"
    assert got.empty_pools == (), f"seed {seed}: empty pool leaked: {got.pools}"
    assert got.nodes == kills  # one 8-GPU pod per node
    assert got.acted >= 1, f"no kill landed after a controller acted: {got.last_events}"
    assert got.ok


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
                killed_at = time.time()

                async def standby_leads() -> bool:
                    return await _leader_metric(standby.port) == 1.0

                await eventually("standby takes over", standby_leads, timeout_s=30, interval_s=0.1)
                # The standby's own account (its log's timestamp, not the test's metric poll,
                # which a loaded machine delays): the lease expires lease_s after the last
                # renewal it saw (before the kill), and it retries every 0.5 s (+20 % jitter).
                (acquired,) = standby.events("leader.acquired")
                took = _at(acquired) - killed_at
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


def _at(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["timestamp"])).timestamp()


@pytest.mark.timeout(300)
async def test_sigterm_finishes_the_create_in_flight_releases_the_lease_and_the_standby_takes_over(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """A rolling update: the leader gets SIGTERM while a node pool create is in flight (the
    kwok cloud takes 3 s per create). It finishes that create, takes no new decision, releases
    its Lease and exits 0; the standby, with the default 15 s lease, leads within 2 s of the
    release and provisions the pod created after the SIGTERM. One pool, no duplicate."""
    cls, cloud_ns = f"e2e-term-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_provisioning_delay(3.0)
        await create_class(api, gpu_class(cls, ZONES[:1]))
        async with (
            temporary_namespace(api, "lease") as lease_ns,
            temporary_namespace(api, "e2e") as ns,
        ):
            extra = ["--leader-elect", "--lease-namespace", lease_ns]
            procs = [
                ControllerProcess(
                    cluster, tmp_path, kwok_namespace=cloud_ns, extra=extra, name=f"term-{k}"
                ).start()
                for k in range(2)
            ]
            try:

                async def leader() -> ControllerProcess | None:
                    leading = [p for p in procs if p.events("leader.started")]
                    return leading[0] if len(leading) == 1 else None

                first = await eventually("a leader", leader, timeout_s=60)
                standby = procs[1 - procs.index(first)]
                await create_pods(api, ns, [gpu_pod("before", cls)])

                async def create_in_flight() -> bool:
                    return bool(await cloud.list_node_pools())

                await eventually("the create in flight", create_in_flight, interval_s=0.05)
                first.sigterm()
                await create_pods(api, ns, [gpu_pod("after", cls)])
                assert first.proc is not None
                code = await asyncio.to_thread(first.proc.wait, 30)
                assert code == 0, first.tail()
                await eventually("both pods Running", lambda: pods_running(api, ns, 2))
            finally:
                for p in procs:
                    p.stop()
        (asked,) = first.events("shutdown.requested")
        (created,) = first.events("provisioning.requested")
        (released,) = first.events("leader.released")
        assert _at(asked) < _at(created) < _at(released)  # the create in flight finished
        (took_over,) = standby.events("leader.acquired")
        # The standby may log its takeover a few ms before the leader logs the release it saw.
        assert _at(created) < _at(took_over), "the standby led before the create in flight ended"
        # The standby's own reaction: from its Lease watch seeing the release to its
        # acquisition, a GET and a PUT (the retry period is 2 s). From the leader's release to the
        # acquisition, API server and watch included on a possibly loaded machine: generous.
        seen = [e for e in standby.events("leader.lease_changed") if e["holder"] is None]
        assert seen, standby.tail()
        reaction_s = _at(took_over) - _at(seen[-1])
        assert 0 <= reaction_s <= 2.0, f"the standby led {reaction_s:.2f}s after seeing the release"
        handover_s = _at(took_over) - _at(released)
        assert handover_s <= 5.0, f"the standby led {handover_s:.2f}s after the release"
        assert [e["decision"] for e in standby.events("provisioning.requested")] == ["scale"]
        (pool,) = await cloud.list_node_pools()
        assert pool.node_count == 2


@pytest.mark.timeout(180)
async def test_sigterm_past_the_shutdown_budget_cancels_the_call_and_still_releases_the_lease(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """The shutdown budget bounds the hand-over: with ``--shutdown-timeout 1`` and a create
    that takes 60 s, SIGTERM cancels the call after 1 s, the Lease is still released (empty
    holder) and the process exits 0 well before the kubelet's SIGKILL would come."""
    cls, cloud_ns = f"e2e-budget-{uuid.uuid4().hex[:6]}", f"cloud-{uuid.uuid4().hex[:6]}"
    async with api_client(cluster.kubeconfig) as api:
        await install_crd(api)
        cloud = KwokProvider(api, namespace=cloud_ns)
        await cloud.set_provisioning_delay(60.0)
        await create_class(api, gpu_class(cls, ZONES[:1]))
        async with (
            temporary_namespace(api, "lease") as lease_ns,
            temporary_namespace(api, "e2e") as ns,
        ):
            extra = ["--leader-elect", "--lease-namespace", lease_ns, "--shutdown-timeout", "1"]
            proc = ControllerProcess(
                cluster, tmp_path, kwok_namespace=cloud_ns, extra=extra, name="budget"
            ).start()
            try:

                async def leading() -> bool:
                    return bool(proc.events("leader.started"))

                await eventually("a leader", leading)
                await create_pods(api, ns, [gpu_pod("slow", cls)])

                async def create_in_flight() -> bool:
                    return bool(await cloud.list_node_pools())

                await eventually("the create in flight", create_in_flight, interval_s=0.05)
                proc.sigterm()
                assert proc.proc is not None
                code = await asyncio.to_thread(proc.proc.wait, 30)
                assert code == 0, proc.tail()
            finally:
                proc.stop()
            lease = await request_json(
                api, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{lease_ns}/leases/{LEASE}"
            )
            await remove_class_and_cloud(api, cls, cloud)  # its pool must not outlive the test
        (asked,) = proc.events("shutdown.requested")
        (cancelled,) = proc.events("shutdown.cancelled_in_flight")
        (released,) = proc.events("leader.released")
        assert 1.0 <= _at(cancelled) - _at(asked) < 5.0
        assert _at(cancelled) <= _at(released)
        assert not proc.events("provisioning.requested")  # the 60 s create never returned
        assert not lease["spec"].get("holderIdentity"), lease["spec"]

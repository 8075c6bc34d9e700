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
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controller_harness import ControllerProcess
from tests.e2e.fault_harness import (
    assert_faults_happened,
    assert_never_crashed_or_lost_the_lease,
    leading_behind,
)
from tests.e2e.test_controller_lifecycle import expire_within_pdb
from tests.e2e.test_servinggroup_controller import TARGET, world
from tests.support.controlplane import ControlPlane
from tests.support.faultproxy import FaultProxy, FaultSchedule
from tests.support.kube import api_client, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_under_25_percent_faults_an_expiring_node_is_replaced_within_its_pdb(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """:func:`expire_within_pdb` with ``ccc run`` leading through the fault proxy."""
    proxies: list[FaultProxy] = []

    @contextlib.asynccontextmanager
    async def faulted(api: Any, cloud_ns: str) -> AsyncIterator[ControllerProcess]:
        schedule = FaultSchedule.at_rate(0.25, seed=2510)
        async with leading_behind(
            cluster, tmp_path, api, schedule, name="exp-faults", kwok_namespace=cloud_ns
        ) as (proc, proxy):
            proxies.append(proxy)
            yield proc
            assert_never_crashed_or_lost_the_lease(proc)

    proc, old = await expire_within_pdb(cluster, tmp_path, faulted, lead_s=90, max_run_s=150)
    assert_faults_happened(proxies[0])
    # Only the old node was drained (a write whose answer was lost is not logged, so the old
    # node may appear once or not at all; the replacement never).
    drained = {e.get("node") for e in proc.events("node.drain_started")}
    assert drained <= {old}, drained


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

        async def capacity_met() -> bool:
            # the status write follows the Ready pods by a pass and a (faulty) round trip
            status = (await w.group())["status"]
            return {c["type"]: c["status"] for c in status["conditions"]}["CapacityMet"] == "True"

        await eventually("status.conditions CapacityMet=True", capacity_met, timeout_s=30)
    assert_faults_happened(proxy, cut=False)

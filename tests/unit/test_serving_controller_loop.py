"""The ServingGroup controller in virtual time: both loops over the in-memory cluster and the
simulated cloud (tests/support/memserving.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccc.api import labels as L
from tests.support.memserving import NS, ServingLoop, group, tpu_offerings

pytestmark = pytest.mark.asyncio


async def test_a_tpu_stockout_from_the_start_moves_the_whole_capacity_to_the_gpu_variant() -> None:
    s = ServingLoop.create()
    for o in tpu_offerings():
        s.loop.cloud.stockout(o)
    await s.start()
    try:
        await s.loop.until(
            "GPU carries the capacity", lambda: s.running("h100") >= 3, timeout_s=600
        )
        assert s.ready_capacity() >= 32
        assert s.variant("v6e")["state"] == "Unobtainable"
        assert s.variant("h100")["state"] == "Substituting"
        assert s.history("h100")[-1] == 3
    finally:
        await s.stop()


def _tpu_nodes(s: ServingLoop) -> list[str]:
    return sorted(
        n.name
        for n in s.loop.cluster.nodes()
        if n.labels.get(L.MACHINE_TYPE_LABEL) == "ct6e-standard-1t"
    )


async def _steady_on_tpu(s: ServingLoop) -> None:
    await s.loop.until("TPU carries the capacity", lambda: s.running("v6e") == 4, timeout_s=600)
    await s.loop.advance(5)
    assert s.history("h100") == []


async def test_a_spot_preemption_of_two_tpu_nodes_is_compensated_on_gpu_within_a_second() -> None:
    s = ServingLoop.create(provisioning_delay_s=30)
    await s.start()
    try:
        await _steady_on_tpu(s)
        preempted_at = s.loop.clock.now()
        s.loop.cloud.preempt(offering=tpu_offerings()[0], count=2)
        tpu_zone_nodes = [n for n in _tpu_nodes(s)]
        assert len(tpu_zone_nodes) == 4
        await s.loop.until("GPU replicas requested", lambda: bool(s.history("h100")))
        dep = s.workloads.deployments[(NS, "h100")]
        assert (dep.written_at[0] - preempted_at).total_seconds() <= 1.0
        assert dep.history[0] == 2  # 2 x 8 lost, 2 x 13 cover them
        lost = [m for m in s.loop.event_messages("CapacityShifted") if "lost 2" in m]
        assert lost, s.loop.event_messages("CapacityShifted")
        assert "(spot preemption in us-central1-b)" in lost[0], lost
        # The class's only TPU offering is marked PREEMPTED for its backoff, so the TPU variant
        # holds what it has and the GPU variant takes the lost share.
        assert "GPU variant h100 0 → 2" in lost[0], lost
        # Capacity is back within the provider latency (30 s) plus 5 s.
        took = await s.loop.until("capacity restored", lambda: s.ready_capacity() >= 32)
        assert took <= 30 + 5
    finally:
        await s.stop()


async def test_when_the_tpu_returns_capacity_moves_back_surge_first_and_never_below_target() -> (
    None
):
    s = ServingLoop.create(group_body=group(stabilization_s=60))
    offerings = tpu_offerings()
    for o in offerings:
        s.loop.cloud.stockout(o, end=s.loop.clock.now() + _s(30))
    await s.start()
    try:
        await s.loop.until("GPU carries it", lambda: s.running("h100") == 3, timeout_s=600)
        met_from = len(s.ready_log)
        await s.loop.until(
            "back on TPU",
            lambda: s.running("v6e") == 4 and s.running("h100") == 0,
            timeout_s=1800,
        )
        assert min(c for _, c in s.ready_log[met_from:]) >= 32
        # Surge-first: v6e was scaled up before h100 was scaled down, each once.
        assert s.history("h100") == [3, 0]
        assert s.history("v6e")[-1] == 4
        moved = [m for m in s.loop.event_messages("CapacityShifted") if "obtainable again" in m]
        assert moved
        assert s.variant("v6e")["state"] == "Preferred"
        assert s.variant("h100")["state"] == "Idle"
    finally:
        await s.stop()


async def test_replicas_on_nodes_with_a_planned_disruption_get_a_surge_before_the_drain() -> None:
    s = ServingLoop.create()
    await s.start()
    try:
        await _steady_on_tpu(s)
        node = _tpu_nodes(s)[0]
        s.loop.cluster.set_node(node, annotations={L.DISRUPTION_ANNOTATION: "expiry"})
        await s.loop.until("surge", lambda: s.running("v6e") == 5)
        assert s.history("v6e")[-1] == 5
        assert s.variant("v6e")["disruptedReplicas"] == 1
        assert s.variant("v6e")["state"] == "Draining"
        assert s.history("h100") == []
    finally:
        await s.stop()


async def test_a_crash_during_a_shift_converges_without_oscillation() -> None:
    s = ServingLoop.create(provisioning_delay_s=30)
    await s.start()
    try:
        await _steady_on_tpu(s)
        s.loop.cloud.preempt(offering=tpu_offerings()[0], count=2)
        await s.loop.until("GPU replicas requested", lambda: bool(s.history("h100")))
        await s.crash()
        await s.loop.advance(3)
        await s.restart()
        await s.loop.until(
            "converged",
            lambda: s.running("v6e") == 4 and s.running("h100") == 0,
            timeout_s=600,
        )
        await s.loop.advance(120)
        h100 = s.history("h100")
        # Up once to compensate, down once when the TPU replacements are Ready: no flapping.
        # The TPU variant is held at what it has while its only offering backs off after the
        # preemption, then goes back to 4 once: one move each way.
        assert h100 == [2, 0], h100
        assert s.history("v6e") == [4, 2, 4], s.history("v6e")
    finally:
        await s.stop()


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)

"""The ServingGroup controller in virtual time: both loops over the in-memory cluster and the
simulated cloud (tests/support/memserving.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.location import configured_location
from policies.commands import Drain, Provision
from policies.serving_drain import SERVING_GROUP_SURGE
from tests.support.memserving import NS, ServingLoop, gpu_class, group, tpu_class, tpu_offerings

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


def _terminating(node: Any) -> bool:
    return any(t.key == "cloud.google.com/impending-node-termination" for t in node.taints)


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
        # The loop times its own answer: both signals, answered by one pass's scale write.
        reg = s.loop.reconciler.metrics.registry  # type: ignore[union-attr]
        timed = "ccc_serving_signal_to_scale_seconds"
        assert reg.get_sample_value(f"{timed}_count") == 1
        assert 0 <= (reg.get_sample_value(f"{timed}_sum") or 0) <= 1.0
        assert dep.history[0] == 2  # 2 x 8 lost, 2 x 13 cover them
        # The v6e scale-down to 2 removed the replicas of the preempted nodes, not the two on
        # healthy nodes.
        assert s.history("v6e") == [4, 2]
        healthy = {n.name for n in s.loop.cluster.nodes() if not _terminating(n)}
        kept = [p.node_name for p in s.workloads.pods_of(NS, "v6e") if not p.deleting]
        assert len(kept) == 2 and set(kept) <= healthy, (kept, healthy)
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


#: GKE offers flex-start v6e in us-east5-b, and H100s in us-east5-a: a cluster in us-east5.
FLEX_REGION = "us-east5"


def _flex_classes() -> tuple[dict[str, Any], dict[str, Any]]:
    """The TPU class on flex-start nodes recycled 10 minutes before their end, and the GPU
    class, in us-east5."""
    tpu = tpu_class(spot=False)
    rule = tpu["spec"]["priorities"][0]
    rule["location"] = {"zones": ["us-east5-b"]}
    rule["flexStart"] = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 600}}
    gpu = gpu_class()
    gpu["spec"]["priorities"][0]["location"] = {"zones": ["us-east5-a"]}
    return tpu, gpu


async def _expiry_with_spare_room(*, hold: bool) -> tuple[ServingLoop, list[float], str]:
    """5 TPU replicas on flex-start nodes, then the group is scaled to 32 (4 replicas): one TPU
    node stays empty and Ready. Then one serving node's end is announced 9 minutes ahead (GKE's
    termination annotation), inside its 10-minute lead time. Its replica fits on the empty node
    at once, so the lifecycle alone would drain it in the very pass that marks it. ``hold``:
    the provisioning loop reads the ServingGroup controller's verdicts (as ``ccc run`` wires
    it); without, it does not. Returns the loop, Ready capacity at every cluster change from
    the announcement on, and the node."""
    s = ServingLoop.create(group_body=group(capacity=40), classes=_flex_classes())
    s.loop.cloud.location = configured_location(s.loop.cluster.catalog, region=FLEX_REGION)
    await s.start()
    if not hold:
        assert s.loop.reconciler is not None
        s.loop.reconciler.serving_covers = None
    await s.loop.until("5 TPU replicas", lambda: s.running("v6e") == 5, timeout_s=600)
    s.workloads.add_group(group(capacity=32))
    await s.loop.until("4 TPU replicas", lambda: s.running("v6e") == 4, timeout_s=600)
    await s.loop.advance(5)
    busy = {p.node_name for p in s.workloads.pods_of(NS, "v6e") if p.node_name}
    node = next(n for n in _tpu_nodes(s) if n in busy)
    assert len(_tpu_nodes(s)) == 5, "one TPU node is empty and Ready: room for the replica"
    samples: list[float] = []
    s.loop.cluster.subscribe(lambda *_: samples.append(s.ready_capacity()))
    ends = s.loop.clock.now() + timedelta(minutes=9)
    [old] = [n for n in s.loop.cluster.nodes() if n.name == node]
    s.loop.cluster.set_node(
        node,
        annotations={
            **old.annotations,
            L.GKE_TERMINATION_ANNOTATION: ends.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    await s.loop.until(
        "the expiring node is gone",
        lambda: node not in _tpu_nodes(s),
        timeout_s=540,
    )
    return s, samples, node


async def test_a_flex_start_expiry_surges_the_group_before_the_drain_and_never_dips() -> None:
    """Surge before drain across a flex-start expiry, with no PodDisruptionBudget: the drain of
    the expiring node waits until the group's surge replica is Ready, so Ready capacity never
    drops below the target, and the hold is reported while it lasts."""
    s, samples, node = await _expiry_with_spare_room(hold=True)
    try:
        assert min(samples) >= 32, f"Ready capacity dipped to {min(samples)}"
        assert 5 in s.history("v6e")[s.history("v6e").index(4) :], s.history("v6e")
        assert s.history("h100") == []
        drains = [
            (r.at, c)
            for r in s.loop.reports
            for c in r.commands
            if isinstance(c, Drain) and c.node == node
        ]
        assert drains, "the node was drained, not left to end"
        surge_at = s.workloads.deployments[(NS, "v6e")].written_at[-2]
        assert drains[0][0] > surge_at
        held = [m for m in s.loop.event_messages(SERVING_GROUP_SURGE) if f"drain of {node}" in m]
        assert held and "ServingGroup serving/llama" in held[0], held
        await s.loop.advance(30)
        assert s.running("v6e") == 4 and s.ready_capacity() >= 32
    finally:
        await s.stop()


async def test_without_the_groups_verdict_the_lifecycle_alone_drains_before_the_surge() -> None:
    """The same expiry when the provisioning loop does not read the ServingGroup controller's
    verdicts: the drain evicts the replica in the pass that marks the node, before any surge,
    and Ready capacity dips. What the previous test proves is the hold's doing."""
    s, samples, _ = await _expiry_with_spare_room(hold=False)
    try:
        assert min(samples) < 32
    finally:
        await s.stop()


async def test_a_flex_start_expiry_of_a_serving_node_asks_for_one_node_not_two() -> None:
    """4 TPU replicas on 4 flex-start nodes, no spare room; one node's end is announced inside
    its lead time. The lifecycle asks for a replacement of the node's replica, and the group
    surges by one replica for the same disruption: that surge replica *is* the replacement,
    so exactly one TPU node is asked for, not one per demand."""
    s = ServingLoop.create(group_body=group(capacity=32), classes=_flex_classes())
    s.loop.cloud.location = configured_location(s.loop.cluster.catalog, region=FLEX_REGION)
    await s.start()
    try:
        await s.loop.until("4 TPU replicas", lambda: s.running("v6e") == 4, timeout_s=600)
        await s.loop.advance(5)
        assert len(_tpu_nodes(s)) == 4
        node = _tpu_nodes(s)[0]
        marked_at = s.loop.clock.now()
        [old] = [n for n in s.loop.cluster.nodes() if n.name == node]
        ends = marked_at + timedelta(minutes=9)
        s.loop.cluster.set_node(
            node,
            annotations={
                **old.annotations,
                L.GKE_TERMINATION_ANNOTATION: ends.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        await s.loop.until(
            "the expiring node is gone", lambda: node not in _tpu_nodes(s), timeout_s=540
        )
        await s.loop.advance(30)
        asked = [
            c
            for r in s.loop.reports
            if r.at >= marked_at
            for c in r.commands
            if isinstance(c, Provision) and c.class_name == "tpu-v6e-1"
        ]
        assert sum(c.attempt.nodes for c in asked) == 1, [c.reason for c in asked]
        assert len(_tpu_nodes(s)) == 4 and s.running("v6e") == 4
    finally:
        await s.stop()

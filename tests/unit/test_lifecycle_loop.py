"""Spot preemption and flex-start expiry through the controller's whole loop over the in-memory
cluster, the simulated cloud and a virtual clock.

The API server, kube-scheduler and the ReplicaSet controller are stood in for by
:mod:`ccc.controller.memcluster` and :mod:`ccc.controller.memnodes` (fakes: none can run inside
a unit test; the real ones are exercised in tests/e2e/test_controller_lifecycle.py). Everything
else is production code. GKE rules encoded: gke-computeclass.md §4 (flex-start) and §5 (spot),
/work/shared/reference/lifecycle-and-serving.md A1 (recycling) and A3 (spot signals).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ccc.api import labels as L
from ccc.api.cluster import NodeInfo
from ccc.api.values import CapacityType, OfferingKey, Taint
from ccc.controller.memcluster import PodDisruptionBudget
from policies.commands import Cordon, Delete, Drain, Provision, Replace
from tests.support.memloop import Loop, gpu_class, gpu_pod

SPOT_A = OfferingKey(
    machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
)


def _provisions(loop: Loop) -> list[tuple[datetime, Provision]]:
    return [(r.at, c) for r in loop.reports for c in r.commands if isinstance(c, Provision)]


def _commands(loop: Loop, kind: type[Any]) -> list[tuple[datetime, Any]]:
    return [(r.at, c) for r in loop.reports for c in r.commands if isinstance(c, kind)]


async def _running_in_zone_a(loop: Loop, pods: int) -> None:
    loop.cloud.stockout(SPOT_A.model_copy(update={"zone": "us-central1-b"}), end=1.0)
    await loop.start()
    for i in range(pods):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}"))
    await loop.until("pods Running", lambda: len(loop.running()) == pods)
    assert loop.zones_of_running() == {"us-central1-a"}


async def test_a_preempted_spot_node_is_replaced_in_another_zone_within_a_second() -> None:
    loop = Loop.create(classes=[gpu_class()])
    await _running_in_zone_a(loop, 2)
    before = len(_provisions(loop))
    preempted_at = loop.clock.now()
    loop.cloud.preempt(offering=SPOT_A, count=1)
    await loop.until("a replacement requested", lambda: len(_provisions(loop)) > before)
    await loop.until("2 pods Running again", lambda: len(loop.running()) == 2)
    first_at, first = _provisions(loop)[before]
    assert (first_at - preempted_at).total_seconds() <= 1.0
    assert first.attempt.zone == "us-central1-b"
    assert first.cause.value == "preemption"
    [marked] = loop.status()["unavailableOfferings"]
    assert (marked["zone"], marked["reason"]) == ("us-central1-a", "PREEMPTED")
    await loop.stop()


async def test_a_preemption_marks_the_offering_for_its_own_short_backoff_only() -> None:
    loop = Loop.create(classes=[gpu_class()])
    await _running_in_zone_a(loop, 1)
    loop.cloud.preempt(offering=SPOT_A)
    await loop.advance(1.0)
    await loop.until("the pod Running again", lambda: len(loop.running()) == 1)
    [marked] = loop.status()["unavailableOfferings"]
    since = datetime.fromisoformat(marked["since"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(marked["until"].replace("Z", "+00:00"))
    # 60 s, not the 180 s a stockout gets
    assert until - since == timedelta(seconds=60)
    await loop.stop()


async def test_an_impending_termination_taint_gets_a_replacement_before_the_node_goes() -> None:
    loop = Loop.create(classes=[gpu_class()])
    await _running_in_zone_a(loop, 1)
    [node] = [n for n in loop.cluster.nodes() if n.labels.get(L.CLASS_LABEL) == "gpu"]
    before = len(_provisions(loop))
    tainted_at = loop.clock.now()
    notice = Taint(key=L.IMPENDING_TERMINATION_TAINT, value="true", effect="NoSchedule")
    loop.cluster.set_node(node.name, taints=(*node.taints, notice))
    await loop.advance(1.0)
    [(at, replacement)] = _provisions(loop)[before:]
    assert (at - tainted_at).total_seconds() <= 1.0
    assert replacement.attempt.zone == "us-central1-b"
    # the node that is going away is cordoned and annotated, and never counted as room
    [after] = [n for n in loop.cluster.nodes() if n.name == node.name]
    assert after.unschedulable
    assert after.annotations[L.DISRUPTION_ANNOTATION] == "preemption"
    assert [c.nodes for _, c in _commands(loop, Replace)] == [(node.name,)]
    await loop.stop()


async def test_a_preemption_storm_across_two_zones_leaves_every_pod_running() -> None:
    zones = ("us-central1-a", "us-central1-b", "us-central1-c")
    loop = Loop.create(classes=[gpu_class(zones=zones)])
    await loop.start()
    for i in range(4):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}"))
    await loop.until("4 pods Running", lambda: len(loop.running()) == 4)
    signals: list[datetime] = []
    for zone in zones[:2]:
        offering = SPOT_A.model_copy(update={"zone": zone})
        if loop.cloud.in_use(offering):
            signals.append(loop.clock.now())
            loop.cloud.preempt(offering=offering)
            await loop.advance(0.5)
    await loop.advance(1.0)
    await loop.until("4 pods Running again", lambda: len(loop.running()) == 4)
    provisions = [at for at, p in _provisions(loop) if p.cause.value == "preemption"]
    for t in signals:
        assert any(timedelta(0) <= at - t <= timedelta(seconds=1) for at in provisions)
    await loop.stop()


def _flex_class(lead_s: int = 600, max_run_s: int = 3600, **spec: Any) -> dict[str, Any]:
    cls = gpu_class(spot=False, zones=("us-central1-a",), **spec)
    rule = cls["spec"]["priorities"][0]
    rule["flexStart"] = {"enabled": True, "nodeRecycling": {"leadTimeSeconds": lead_s}}
    rule["maxRunDurationSeconds"] = max_run_s
    return cls


async def _four_replicas_on_a_flex_start_node() -> tuple[Loop, NodeInfo]:
    """4 replicas of 2 GPUs on one flex-start node (1 h run, 10 min lead), PDB minAvailable 3."""
    loop = Loop.create(classes=[_flex_class()], boot_delay_s=30.0)
    await loop.start()
    for i in range(4):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}", gpus=2))
    loop.cluster.add_pdb(PodDisruptionBudget("ml", "vllm", {"app": "vllm"}, min_available=3))
    await loop.until("4 pods Running", lambda: len(loop.running()) == 4)
    [old] = [n for n in loop.cluster.nodes() if n.labels.get(L.CLASS_LABEL) == "gpu"]
    return loop, old


async def test_an_expiring_flex_start_node_is_replaced_drained_within_its_pdb_and_deleted() -> None:
    loop, old = await _four_replicas_on_a_flex_start_node()
    ready_counts: list[int] = []
    loop.cluster.subscribe(lambda *_: ready_counts.append(len(loop.running())))
    deadline = datetime.fromisoformat(
        old.annotations[L.FLEX_START_DEADLINE_ANNOTATION].replace("Z", "+00:00")
    )
    await loop.until(
        "the old node is gone",
        lambda: all(n.name != old.name for n in loop.cluster.nodes()),
        timeout_s=7200,
    )
    assert loop.clock.now() < deadline
    assert len(loop.running()) == 4
    assert min(ready_counts) >= 3
    [(replace_at, _)] = _commands(loop, Replace)
    assert deadline - replace_at <= timedelta(seconds=600)
    assert _commands(loop, Cordon)
    [(delete_at, delete)] = [x for x in _commands(loop, Delete) if x[1].nodes]
    assert delete.nodes == (old.name,)
    # drained only once the replacement was Ready: the first Drain comes after its 30 s boot
    first_drain_at = _commands(loop, Drain)[0][0]
    assert first_drain_at - replace_at >= timedelta(seconds=30)
    writer = loop.node_writer
    assert writer is not None
    refused = [e for e in writer.evictions if not e[2]]
    assert refused, "the PDB refused evictions and they were retried, not bypassed"
    assert delete_at > first_drain_at
    await loop.stop()


async def test_a_drain_resumes_after_a_controller_restart_without_starting_twice() -> None:
    loop, old = await _four_replicas_on_a_flex_start_node()

    def draining() -> bool:
        node = next((n for n in loop.cluster.nodes() if n.name == old.name), None)
        return node is not None and L.DRAIN_STARTED_ANNOTATION in node.annotations

    await loop.until("the drain started", draining, timeout_s=7200)
    [started] = [n for n in loop.cluster.nodes() if n.name == old.name]
    stamp = started.annotations[L.DRAIN_STARTED_ANNOTATION]
    await loop.stop()
    loop.reports.clear()
    await loop.start()
    await loop.until(
        "the old node is gone",
        lambda: all(n.name != old.name for n in loop.cluster.nodes()),
        timeout_s=600,
    )
    assert len(loop.running()) == 4
    assert not _commands(loop, Replace), "the restarted controller read the progress back"
    drains = _commands(loop, Drain)
    assert drains and all(c.node == old.name for _, c in drains)
    assert stamp  # the drain-started stamp written before the restart was kept
    await loop.stop()


async def test_a_flex_start_rule_without_node_recycling_gets_a_status_warning() -> None:
    cls = gpu_class(spot=False, zones=("us-central1-a",))
    cls["spec"]["priorities"][0]["flexStart"] = {"enabled": True}
    loop = Loop.create(classes=[cls])
    await loop.start()
    await loop.advance(1.0)
    [cond] = [c for c in loop.status()["conditions"] if c["type"] == "FlexStartNodesEnd"]
    assert cond["status"] == "True"
    assert "spec.priorities[0].flexStart" in cond["message"]
    await loop.stop()


async def test_an_expiring_node_nothing_can_replace_is_reported_and_left_to_run() -> None:
    loop, old = await _four_replicas_on_a_flex_start_node()
    flex_a = SPOT_A.model_copy(update={"capacity_type": CapacityType.FLEX_START})
    loop.cloud.stockout(flex_a)
    await loop.advance(3000.0)  # into the 10 min lead time of the 1 h node
    blocked = loop.event_messages("ReplacementUnavailable")
    assert blocked and old.name in blocked[0]
    assert not _commands(loop, Drain), "nothing is drained toward room that does not exist"
    assert len(loop.running()) == 4
    await loop.stop()

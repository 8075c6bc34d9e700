"""The controller's whole loop (observe -> decide -> execute -> record) over the in-memory
cluster, the simulated cloud and a virtual clock.

The API server and kube-scheduler are stood in for by :mod:`ccc.controller.memcluster` (a
fake: neither can run inside a unit test, and these tests are about the loop's decisions and
timing; the real ones are exercised end to end in tests/e2e); everything else is production
code. Times are virtual, so minutes of waiting cost milliseconds.
"""

from __future__ import annotations

import asyncio

from ccc.api import labels as L
from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.config import ControllerConfig
from policies.commands import MarkUnavailable, Provision
from tests.support.memloop import CONFIG, Loop, gpu_class, gpu_pod

SPOT_A = OfferingKey(
    machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
)


def _provisions(loop: Loop) -> list[Provision]:
    return [c for r in loop.reports for c in r.commands if isinstance(c, Provision)]


async def test_a_stockout_in_zone_a_falls_back_to_zone_b_and_the_pods_run_there() -> None:
    loop = Loop.create(classes=[gpu_class()])
    loop.cloud.stockout(SPOT_A)
    await loop.start()
    for i in range(2):
        loop.cluster.add_pod(gpu_pod(f"vllm-{i}"))
    took = await loop.until("2 pods Running", lambda: len(loop.running()) == 2)
    assert loop.zones_of_running() == {"us-central1-b"}
    assert [p.attempt.zone for p in _provisions(loop)] == ["us-central1-a", "us-central1-b"]
    assert any("after stockout in us-central1-a (spot)" in m for m in loop.event_messages())
    [marked] = loop.status()["unavailableOfferings"]
    assert (marked["zone"], marked["reason"]) == ("us-central1-a", "ZONE_RESOURCE_POOL_EXHAUSTED")
    # one batching window (1 s of quiet), then two provider round trips in two passes
    assert took <= CONFIG.batch_idle_s + 1
    await loop.stop()


async def test_a_flex_start_rule_retries_the_same_offering_through_its_capacity_check() -> None:
    """capacityCheckWaitTimeSeconds: a stockout inside the window retries the same offering
    (no mark, no fallback); capacity that comes back inside the window is taken."""
    flex = {
        "machineType": "a3-highgpu-8g",
        "flexStart": {"enabled": True},
        "capacityCheckWaitTimeSeconds": 120,
        "location": {"zones": ["us-central1-a"]},
    }
    fallback = {"machineType": "a3-highgpu-8g", "location": {"zones": ["us-central1-b"]}}
    cls = gpu_class()
    cls["spec"]["priorities"] = [flex, fallback]
    loop = Loop.create(classes=[cls])
    flex_a = SPOT_A.model_copy(update={"capacity_type": CapacityType.FLEX_START})
    loop.cloud.stockout(flex_a, end=60.0)
    await loop.start()
    loop.cluster.add_pod(gpu_pod("train-0"))
    await loop.until("pod Running", lambda: len(loop.running()) == 1, timeout_s=600)
    zones = [p.attempt.zone for p in _provisions(loop)]
    assert set(zones) == {"us-central1-a"} and len(zones) >= 3  # retried, never fell back
    assert not loop.status().get("unavailableOfferings")
    assert loop.status().get("capacityChecks") == []
    await loop.stop()


async def test_a_capacity_check_that_runs_out_marks_the_offering_and_falls_back() -> None:
    flex = {
        "machineType": "a3-highgpu-8g",
        "flexStart": {"enabled": True},
        "capacityCheckWaitTimeSeconds": 60,
        "location": {"zones": ["us-central1-a"]},
    }
    fallback = {"machineType": "a3-highgpu-8g", "location": {"zones": ["us-central1-b"]}}
    cls = gpu_class()
    cls["spec"]["priorities"] = [flex, fallback]
    loop = Loop.create(classes=[cls])
    loop.cloud.stockout(SPOT_A.model_copy(update={"capacity_type": CapacityType.FLEX_START}))
    await loop.start()
    loop.cluster.add_pod(gpu_pod("train-0"))
    took = await loop.until("pod Running", lambda: len(loop.running()) == 1, timeout_s=600)
    assert 60 <= took <= 60 + CONFIG.capacity_check_retry_s + 5
    assert loop.zones_of_running() == {"us-central1-b"}
    [marked] = loop.status()["unavailableOfferings"]
    assert marked["capacityType"] == "flex-start"
    await loop.stop()


async def test_nodes_that_never_register_are_given_up_after_the_timeout_and_the_walk_moves_on() -> (
    None
):
    """GKE's late stockout: the resize is accepted, the VMs never come. After the registration
    timeout the offering is marked NODES_NOT_REGISTERED, the pool is removed and zone b is
    asked; zone b's nodes register and the pod runs."""
    config = ControllerConfig(**{**CONFIG.model_dump(), "node_registration_timeout_s": 300.0})
    loop = Loop.create(classes=[gpu_class()], config=config)
    loop.cluster.registers = lambda vm: vm.zone != "us-central1-a"
    await loop.start()
    loop.cluster.add_pod(gpu_pod("vllm-0"))
    took = await loop.until("pod Running", lambda: len(loop.running()) == 1)
    assert 300 <= took <= 300 + 10
    assert loop.zones_of_running() == {"us-central1-b"}
    [marked] = loop.status()["unavailableOfferings"]
    assert (marked["zone"], marked["reason"]) == ("us-central1-a", "NODES_NOT_REGISTERED")
    assert {str(p.name) for p in await loop.cloud.list_node_pools()} == {_provisions(loop)[-1].pool}
    await loop.stop()


async def test_empty_nodes_are_removed_after_the_consolidation_delay_and_not_before() -> None:
    loop = Loop.create(classes=[gpu_class(autoscalingPolicy={"consolidationDelayMinutes": 5})])
    await loop.start()
    loop.cluster.add_pod(gpu_pod("job-0"))
    await loop.until("pod Running", lambda: len(loop.running()) == 1)
    loop.cluster.delete_pod("ml", "job-0")
    await loop.advance(4 * 60)
    assert len(await loop.cloud.list_node_pools()) == 1
    took = await loop.until("pool deleted", lambda: not loop.cloud.nodes(), timeout_s=600)
    assert took <= 60 + 5
    assert not await loop.cloud.list_node_pools()
    assert any(e.reason == "ScaledDown" for e in loop.cluster.events)
    await loop.stop()


async def test_a_restarted_controller_rebuilds_its_state_from_the_cluster() -> None:
    """The first controller learns of a stockout in zone a and starts a slow create in zone b;
    it dies. The second reads the memory and the in-flight request back from the class's
    status: it neither retries zone a nor asks zone b a second time."""
    loop = Loop.create(classes=[gpu_class()], provisioning_delay_s=600)
    loop.cloud.stockout(SPOT_A)
    await loop.start()
    loop.cluster.add_pod(gpu_pod("vllm-0"))
    await loop.until("zone b asked", lambda: len(_provisions(loop)) == 2)
    await loop.advance(5)  # the status with the request is written
    await loop.stop()
    status = loop.status()
    assert [r["zone"] for r in status["provisioningRequests"]] == ["us-central1-b"]
    asked = len(loop.cloud.calls)
    loop.reports.clear()
    await loop.start()
    await loop.until("pod Running", lambda: len(loop.running()) == 1, timeout_s=1200)
    assert _provisions(loop) == []
    creates = [c for c in loop.cloud.calls[asked:] if c.method == "create_node_pool"]
    assert creates == []
    assert loop.zones_of_running() == {"us-central1-b"}
    await loop.stop()


async def test_the_loop_jumps_from_event_to_event_instead_of_ticking() -> None:
    """A day of virtual time with one stockout window: the number of passes follows the
    events (arrivals, provider outcomes, backoff ends), not the day's length."""
    loop = Loop.create(classes=[gpu_class()])
    loop.cloud.stockout(SPOT_A, end=3600.0)
    await loop.start()
    loop.cluster.add_pod(gpu_pod("vllm-0"))
    await loop.advance(24 * 3600)
    assert len(loop.running()) == 1
    assert len(loop.reports) < 40
    nodes = {n.name: n for n in loop.cluster.nodes()}
    assert all(L.CLASS_LABEL in n.labels for n in nodes.values())
    await loop.stop()


async def test_a_graceful_stop_lets_provider_calls_end_and_persists_what_they_taught() -> None:
    """Stopping (SIGTERM) takes no new decision but lets a two-minute create end, and writes
    the accepted request into the class's status for the next leader."""
    loop = Loop.create(classes=[gpu_class()], provisioning_delay_s=120)
    stopping = False
    r = loop.new_controller()
    run = asyncio.create_task(r.run(until=lambda: stopping))
    cluster = asyncio.create_task(loop.cluster.run())
    loop.cluster.add_pod(gpu_pod("vllm-0"))
    await loop.until("create in flight", lambda: r.executor.busy)
    [asked] = [rep.at for rep in loop.reports if rep.commands]
    stopping = True
    r.notify()
    await loop.clock.run(run)
    assert (loop.clock.now() - asked).total_seconds() == 120
    [request] = loop.status()["provisioningRequests"]
    assert request["acceptedAt"] and request["zone"] == "us-central1-a"
    assert len(_provisions(loop)) == 1
    cluster.cancel()


async def test_a_stop_ends_the_batching_window_at_once_and_takes_no_new_decision() -> None:
    """A stop (SIGTERM) that arrives while new demand is being batched does not wait out the
    window (``batch_idle_s`` = 1 s here): the loop returns at the same virtual instant and
    provisions nothing for the pod it was batching."""
    loop = Loop.create(classes=[gpu_class()])
    stopping = False
    r = loop.new_controller()
    run = asyncio.create_task(r.run(until=lambda: stopping))
    await loop.clock.settle()
    assert loop.reports and not _provisions(loop)  # the first pass ran and found nothing to do
    loop.cluster.add_pod(gpu_pod("vllm-0"))
    await loop.clock.settle()  # the loop now waits in its batching window
    asked = loop.clock.now()
    stopping = True
    r.notify()
    await loop.clock.run(run)
    assert (loop.clock.now() - asked).total_seconds() == 0
    assert not _provisions(loop)


async def test_deleting_an_empty_spot_pool_is_no_preemption_and_marks_nothing() -> None:
    """Consolidation deletes ccc's own empty Spot pool; its nodes leave the cluster with it.
    Those deletions are ccc's, not the cloud's: no offering is marked PREEMPTED."""
    loop = Loop.create(classes=[gpu_class(autoscalingPolicy={"consolidationDelayMinutes": 1})])
    await loop.start()
    for i in range(2):
        loop.cluster.add_pod(gpu_pod(f"job-{i}"))
    await loop.until("pods Running", lambda: len(loop.running()) == 2)
    for i in range(2):
        loop.cluster.delete_pod("ml", f"job-{i}")
    await loop.until("pool deleted", lambda: not loop.cloud.nodes(), timeout_s=600)
    await loop.advance(30)
    marks = [c for r in loop.reports for c in r.commands if isinstance(c, MarkUnavailable)]
    assert marks == []
    assert not loop.status().get("unavailableOfferings")
    await loop.stop()

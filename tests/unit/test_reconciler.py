"""Reconcile passes driven one by one over in-memory caches and the simulated cloud.

These tests call :meth:`Reconciler.reconcile_once` / :meth:`Reconciler.settle` directly: the
informer caches are a :class:`ListView` of the same projections the informers produce (a
stand-in, because these tests check the observe-decide-execute logic, not watching; the real API
server is exercised in tests/e2e), and the provider is the simulated cloud, which is the real
implementation used by ``ccc simulate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog.testing

from ccc.api import labels as L
from ccc.api.values import CapacityType, OfferingKey
from ccc.controller.config import ControllerConfig
from ccc.controller.events import EventType, ObjectRef
from ccc.controller.metrics import Metrics
from ccc.controller.projections import NodeInfo, PodInfo, node_info, pod_info
from ccc.controller.reconciler import PassReport, Reconciler
from policies.commands import Provision, WaitUntil
from providers.clock import VirtualClock
from providers.errors import ProviderUnavailableError
from providers.simulated import SimulatedCloud
from tests.builders import catalog
from tests.support.memloop import gpu_class, gpu_pod


@dataclass
class ListView:
    """:class:`~ccc.controller.view.ClusterView` over plain lists (tests change them between
    passes)."""

    pod_list: list[PodInfo] = field(default_factory=list)
    node_list: list[NodeInfo] = field(default_factory=list)
    class_list: list[dict[str, Any]] = field(default_factory=list)

    def pods(self) -> Sequence[PodInfo]:
        return list(self.pod_list)

    def nodes(self) -> Sequence[NodeInfo]:
        return list(self.node_list)

    def classes(self) -> Sequence[Mapping[str, Any]]:
        return list(self.class_list)

    async def count_nodes(self, pool: str) -> int | None:
        return sum(1 for n in self.node_list if n.labels.get(L.NODE_POOL_LABEL) == pool)


def _class(name: str = "gpu") -> dict[str, Any]:
    body = gpu_class(name)
    body["metadata"]["uid"] = "u1"
    return body


def _pod(i: int, cls: str = "gpu", gpus: int = 8) -> PodInfo:
    body = gpu_pod(f"p{i}", cls, gpus=gpus, owner=None)
    body["metadata"].update(uid=f"uid-{i}", creationTimestamp="2026-01-01T00:00:00Z")
    body["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "lastTransitionTime": "2026-01-01T00:00:01Z",
        }
    ]
    return pod_info(body)


def _make(
    cloud: SimulatedCloud,
    classes: list[dict[str, Any]],
    pods: list[PodInfo],
    nodes: list[NodeInfo] | None = None,
    *,
    config: ControllerConfig | None = None,
) -> Reconciler:
    return Reconciler(
        provider=cloud,
        catalog=catalog(),
        config=config or ControllerConfig(scale_down_enabled=False),
        clock=cloud.clock,
        metrics=Metrics(),
        view=ListView(pods, nodes if nodes is not None else [], classes),
    )


def _acts(report: PassReport) -> list[object]:
    """The pass's commands other than waits."""
    return [c for c in report.commands if not isinstance(c, WaitUntil)]


def _outcomes(reports: Sequence[PassReport]) -> list[tuple[str, str]]:
    """(zone, result) of every provisioning call, in order."""
    out = []
    for r in reports:
        for done in r.outcomes:
            if isinstance(done.command, Provision):
                result = "success" if done.error is None else done.error.result
                out.append((done.command.attempt.zone, result))
    return out


async def test_pending_gpu_pods_get_one_node_pool_in_the_first_zone() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    r = _make(cloud, [_class()], [_pod(i) for i in range(3)])
    reports = await r.settle()
    assert _outcomes(reports) == [("us-central1-a", "success")]
    pools = await cloud.list_node_pools()
    assert len(pools) == 1 and pools[0].node_count == 3 and pools[0].zones == ("us-central1-a",)
    assert pools[0].managed


async def test_a_pass_starts_provider_calls_without_waiting_for_them() -> None:
    """A create that takes ten minutes of the cloud's time is in flight after the pass; its
    end is an outcome the next pass reads."""
    clock = VirtualClock()
    cloud = SimulatedCloud(clock=clock, provisioning_delay_s=600)
    r = _make(cloud, [_class()], [_pod(0)])
    first = await r.reconcile_once()
    assert [type(c).__name__ for c in first.commands] == ["Provision"] and first.outcomes == ()
    assert r.executor.busy and r.state.calls == {first.commands[0].pool}  # type: ignore[union-attr]
    await clock.run(r.executor.wait_any())
    assert (clock.now() - first.at).total_seconds() == 600
    second = await r.reconcile_once()
    assert [o.error for o in second.outcomes] == [None]
    assert not r.executor.busy and not r.state.calls


@dataclass
class EventList:
    """An :class:`~ccc.controller.sinks.EventSink` that keeps (kind, name, reason)."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    async def emit(
        self, ref: ObjectRef, *, type_: EventType, reason: str, message: str, now: datetime
    ) -> None:
        self.seen.append((ref.kind, ref.name, reason))


async def test_pods_bound_before_the_create_returns_still_get_their_provisioning_event() -> None:
    """The scheduler may bind a pod to the new pool's first node while the create call is still
    running; the outcome's Event names the pods the call was decided for, not only those still
    pending when it ends."""
    clock = VirtualClock()
    cloud = SimulatedCloud(clock=clock, provisioning_delay_s=600)
    events = EventList()
    r = Reconciler(
        provider=cloud,
        catalog=catalog(),
        config=ControllerConfig(scale_down_enabled=False),
        clock=clock,
        metrics=Metrics(),
        view=ListView([_pod(0)], [], [_class()]),
        events=events,
    )
    first = await r.reconcile_once()
    assert [type(c).__name__ for c in first.commands] == ["Provision"]
    r.view.pod_list.clear()  # type: ignore[attr-defined]  # bound: no longer pending
    await r.reconcile_once()
    await clock.run(r.executor.wait_any())
    done = await r.reconcile_once()
    assert [o.error for o in done.outcomes] == [None]
    assert ("Pod", "p0", "Provisioning") in events.seen
    assert ("ComputeClass", "gpu", "Provisioning") in events.seen


async def test_stockout_in_the_first_zone_is_walked_again_at_once() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    cloud.stockout(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
        )
    )
    r = _make(cloud, [_class()], [_pod(i) for i in range(2)])
    reports = await r.settle()
    assert _outcomes(reports) == [("us-central1-a", "stockout"), ("us-central1-b", "success")]
    assert len(reports) == 3  # start zone a; mark it and start zone b; book the success
    mem = r.state.memory_of("gpu")
    assert mem.lookup("a3-highgpu-8g", "us-central1-a", CapacityType.SPOT, cloud.clock.now())


async def test_a_second_pass_does_not_duplicate_capacity_already_requested() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    pods = [_pod(i) for i in range(2)]
    r = _make(cloud, [_class()], pods)
    await r.settle()
    # The nodes have not registered in Kubernetes yet (no NodeInfo): they are "expected".
    report = await r.reconcile_once()
    assert _acts(report) == [] and report.absorbed == 2
    assert sum(p.node_count for p in await cloud.list_node_pools()) == 2


async def test_a_restarted_controller_reads_the_memory_back_from_status() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    until = cloud.clock.now() + timedelta(minutes=5)
    cls = _class()
    cls["status"] = {
        "unavailableOfferings": [
            {
                "machineType": "a3-highgpu-8g",
                "zone": "us-central1-a",
                "capacityType": "spot",
                "reason": "ZONE_RESOURCE_POOL_EXHAUSTED",
                "message": "",
                "failures": 1,
                "since": cloud.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ]
    }
    r = _make(cloud, [cls], [_pod(0)])
    reports = await r.settle()
    assert _outcomes(reports) == [("us-central1-b", "success")]


async def test_an_invalid_class_does_not_stop_other_classes() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    bad = _class("broken")
    bad["spec"]["priorities"][0]["flexStart"] = {"enabled": True}  # flexStart with spot
    r = _make(cloud, [bad, _class("good")], [_pod(0, "broken"), _pod(1, "good")])
    reports = await r.settle()
    assert _outcomes(reports) == [("us-central1-a", "success")]
    entry = r.observer.classes["broken"]
    assert entry.model is None and entry.problems
    # pods of a class that exists but does not validate are not "orphans"
    assert all(rep.orphans == () for rep in reports)


async def test_pods_naming_a_missing_class_are_reported_as_orphans() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    r = _make(cloud, [_class()], [_pod(0, "nope")])
    report = await r.reconcile_once()
    assert report.orphans == ("nope",) and _acts(report) == []


async def test_existing_free_room_on_a_class_node_absorbs_pending_pods() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    node = node_info(
        {
            "metadata": {
                "name": "n1",
                "labels": {L.CLASS_LABEL: "gpu"},
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {},
            "status": {
                "allocatable": {
                    "cpu": "200",
                    "memory": "1800Gi",
                    L.GPU_RESOURCE: "8",
                    "pods": "110",
                },
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
    r = _make(cloud, [_class()], [_pod(0)], [node])
    report = await r.reconcile_once()
    assert _acts(report) == [] and report.absorbed == 1


async def test_everything_stocked_out_leaves_pods_pending_and_marks_every_offering() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    for z in ("us-central1-a", "us-central1-b"):
        cloud.stockout(
            OfferingKey(machine_type="a3-highgpu-8g", zone=z, capacity_type=CapacityType.SPOT)
        )
    r = _make(cloud, [_class()], [_pod(0)])
    reports = await r.settle()
    assert _outcomes(reports) == [("us-central1-a", "stockout"), ("us-central1-b", "stockout")]
    assert await cloud.list_node_pools() == []
    assert len(r.state.memory_of("gpu")) == 2
    # nothing to do until the first backoff ends: that is when the loop asks to be woken
    assert reports[-1].decision.next_wake == min(e.until for e in r.state.memory_of("gpu"))


async def test_a_new_node_that_pending_pods_are_about_to_land_on_is_not_scaled_down() -> None:
    """Seen end to end on the GKE emulator: the node registered, the scheduler had not bound
    the pods yet, and a short consolidation delay removed the node under them."""
    cloud = SimulatedCloud(clock=VirtualClock())
    nodes: list[NodeInfo] = []
    r = _make(
        cloud,
        [_class()],
        [_pod(0)],
        nodes,
        config=ControllerConfig(default_consolidation_delay=timedelta(0), repair_after_s=3600),
    )
    await r.settle()
    [pool] = await cloud.list_node_pools()
    nodes.append(
        node_info(
            {
                "metadata": {
                    "name": "n1",
                    "labels": {L.CLASS_LABEL: "gpu", L.NODE_POOL_LABEL: str(pool.name)},
                    "creationTimestamp": "2026-01-01T00:00:00Z",
                },
                "spec": {},
                "status": {
                    "allocatable": {
                        "cpu": "200",
                        "memory": "1800Gi",
                        L.GPU_RESOURCE: "8",
                        "pods": "110",
                    },
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
        )
    )
    # the node registered; the pod is still pending
    reports = await r.settle()
    assert all(_acts(rep) == [] for rep in reports)
    assert reports[0].absorbed == 1
    assert [p.node_count for p in await cloud.list_node_pools()] == [1]


def _listing_down() -> ProviderUnavailableError:
    return ProviderUnavailableError("the listing failed", reason="UNAVAILABLE")


async def test_a_failed_pool_listing_degrades_the_pass_and_says_so_at_warning_level() -> None:
    """No pool listing yet: nothing is provisioned, a warning names what failed, the pass asks
    to be woken soon; the next pass lists again and provisions."""
    cloud = SimulatedCloud(clock=VirtualClock())
    cloud.fail_next(
        ProviderUnavailableError("apiserver down", reason="UNAVAILABLE"), method="list_node_pools"
    )
    r = _make(cloud, [_class()], [_pod(0)])
    with structlog.testing.capture_logs() as logs:
        first = await r.reconcile_once()
    assert _acts(first) == []
    [failed] = [e for e in logs if e["event"] == "provider.list_failed"]
    assert failed["log_level"] == "warning" and failed["what"] == "node_pools"
    assert first.decision.next_wake == first.at + timedelta(seconds=r.config.error_retry_s)
    reports = await r.settle()
    assert _outcomes(reports) == [("us-central1-a", "success")]


async def test_a_pool_listing_that_fails_later_still_lets_new_pools_be_created() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    pods = [_pod(0, "one")]
    r = _make(cloud, [_class("one"), _class("two")], pods)
    await r.settle()
    cloud.fail_next(
        ProviderUnavailableError("apiserver down", reason="UNAVAILABLE"), method="list_node_pools"
    )
    pods.append(_pod(1, "two"))
    reports = await r.settle()
    assert [
        (d.command.class_name, d.error)
        for rep in reports
        for d in rep.outcomes
        if isinstance(d.command, Provision)
    ] == [("two", None)]
    assert reports[0].decision.plans and r.observer.classes["two"].model is not None


async def test_the_node_pools_gauge_counts_managed_pools_per_class() -> None:
    cloud = SimulatedCloud(clock=VirtualClock())
    cloud.stockout(
        OfferingKey(
            machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
        )
    )
    r = _make(cloud, [_class()], [_pod(0), _pod(1, gpus=4)])
    await r.settle()
    await r.reconcile_once()
    gauge = r.metrics.registry.get_sample_value("ccc_node_pools", {"class_name": "gpu"})
    assert gauge == 1

"""The simulated cloud: behaviour beyond the provider contract.

Everything runs on a :class:`VirtualClock`, so days of provisioning, preemption and expiry take
milliseconds and never sleep for real.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.values import (
    Accelerator,
    AcceleratorKind,
    CapacityType,
    NodePoolName,
    NodePoolSpec,
    NodePoolStatus,
    OfferingKey,
    ReservationAffinity,
    ReservationRef,
)
from providers.base import Provider
from providers.clock import VirtualClock
from providers.errors import (
    InsufficientCapacityError,
    InvalidRequestError,
    ProviderUnavailableError,
    QuotaExceededError,
    ReservationUnavailableError,
)
from providers.simulated import Disruption, DisruptionKind, PoolShape, SimulatedCloud, quota_metrics

ZONE = "us-central1-a"
H100 = Accelerator(kind=AcceleratorKind.GPU, type="nvidia-h100-80gb", count=8)
PREEMPTIBLE_H100 = ["PREEMPTIBLE_GPUS", "PREEMPTIBLE_NVIDIA_H100_80GB_GPUS"]
SPOT = OfferingKey(machine_type="a3-highgpu-8g", zone=ZONE, capacity_type=CapacityType.SPOT)


def make_spec(name: str = "ccc-gpu-r0-a", **fields: Any) -> NodePoolSpec:
    values: dict[str, Any] = {
        "name": NodePoolName(name),
        "class_name": "gpu",
        "rule_index": 0,
        "machine_type": "a3-highgpu-8g",
        "zone": ZONE,
        "capacity_type": CapacityType.SPOT,
        "node_count": 2,
        "accelerator": H100,
        "labels": {L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE},
    }
    values.update(fields)
    return NodePoolSpec(**values)


def make_cloud(**settings: Any) -> tuple[SimulatedCloud, VirtualClock]:
    clock = VirtualClock()
    return SimulatedCloud(clock=clock, **settings), clock


def reserved(*names: str) -> ReservationAffinity:
    refs = tuple(ReservationRef(name=n) for n in names)
    return ReservationAffinity(type="specific" if names else "any", reservations=refs)


# -- capacity and pools ----------------------------------------------------------------------


def test_the_simulated_cloud_is_a_provider() -> None:
    cloud: Provider = SimulatedCloud()
    assert isinstance(cloud, Provider)


async def test_a_create_where_nothing_is_obtainable_books_nothing() -> None:
    cloud, _ = make_cloud()
    cloud.set_capacity(SPOT, 0)

    with pytest.raises(InsufficientCapacityError) as caught:
        await cloud.create_node_pool(make_spec(node_count=4))

    assert caught.value.reason == "ZONE_RESOURCE_POOL_EXHAUSTED"
    assert cloud.in_use(SPOT) == 0
    assert await cloud.list_node_pools() == []


async def test_resize_down_removes_the_newest_nodes_and_frees_capacity() -> None:
    cloud, _ = make_cloud()
    cloud.set_capacity(SPOT, 3)
    await cloud.create_node_pool(make_spec(node_count=3))

    await cloud.resize_node_pool("ccc-gpu-r0-a", node_count=1)

    assert [n.name for n in cloud.nodes()] == ["ccc-gpu-r0-a-00001"]
    assert cloud.obtainable(SPOT) == 2


async def test_delete_gives_capacity_and_reservation_back() -> None:
    cloud, _ = make_cloud()
    cloud.add_reservation("block", zone=ZONE, machine_type="a3-highgpu-8g", count=2)
    spec = make_spec(
        capacity_type=CapacityType.RESERVATION, reservation=reserved("block"), node_count=2
    )
    await cloud.create_node_pool(spec)

    await cloud.delete_node_pool(spec.name)

    (reservation,) = await cloud.list_reservations()
    assert reservation.in_use == 0
    assert cloud.nodes() == []


async def test_provisioning_takes_the_delay_and_reports_provisioning_meanwhile() -> None:
    cloud, clock = make_cloud(provisioning_delay_s=120)
    start = clock.now()
    create = asyncio.create_task(cloud.create_node_pool(make_spec()))
    await clock.settle()

    await clock.advance(60)
    pool = cloud.node_pool("ccc-gpu-r0-a")
    assert pool is not None and pool.status is NodePoolStatus.PROVISIONING
    assert (len(cloud.nodes()), len(cloud.nodes(include_provisioning=True))) == (0, 2)

    await clock.advance(60)
    assert (await create).status is NodePoolStatus.RUNNING
    assert [n.ready_at - start for n in cloud.nodes()] == [timedelta(seconds=120)] * 2


async def test_a_cancelled_create_still_provisions_the_pool() -> None:
    cloud, clock = make_cloud(provisioning_delay_s=300)
    create = asyncio.create_task(cloud.create_node_pool(make_spec()))
    await clock.settle()
    create.cancel()
    await clock.advance(300)

    pool = cloud.node_pool("ccc-gpu-r0-a")
    assert pool is not None and (pool.status, pool.node_count) == (NodePoolStatus.RUNNING, 2)
    assert (await cloud.create_node_pool(make_spec())).node_count == 2
    assert cloud.in_use(SPOT) == 2


async def test_seeded_unmanaged_pools_count_against_capacity() -> None:
    cloud, _ = make_cloud()
    cloud.set_capacity(SPOT, 2)
    seeded = cloud.add_existing_pool(
        "ops",
        machine_type="a3-highgpu-8g",
        zone=ZONE,
        capacity_type=CapacityType.SPOT,
        node_count=2,
    )

    assert not seeded.managed
    with pytest.raises(InsufficientCapacityError):
        await cloud.create_node_pool(make_spec(node_count=1))


async def test_a_multi_host_slice_pool_needs_whole_slices() -> None:
    cloud, _ = make_cloud()
    with pytest.raises(InvalidRequestError, match="multiple of 2"):
        await cloud.create_node_pool(make_spec(node_count=3, hosts_per_slice=2))
    await cloud.create_node_pool(make_spec(node_count=2, hosts_per_slice=2))
    with pytest.raises(InvalidRequestError, match="multiple of 2"):
        await cloud.resize_node_pool("ccc-gpu-r0-a", node_count=5)


@pytest.mark.parametrize(
    ("machine_type", "zone"), [("a3-nonexistent-8g", ZONE), ("a3-highgpu-8g", "antarctica1-a")]
)
async def test_with_a_catalog_unknown_machine_types_and_zones_are_invalid(
    machine_type: str, zone: str
) -> None:
    cloud = SimulatedCloud(clock=VirtualClock(), catalog=load_builtin_catalog())

    with pytest.raises(InvalidRequestError, match="does not exist in zone"):
        await cloud.create_node_pool(make_spec(machine_type=machine_type, zone=zone))


async def test_with_a_catalog_pools_get_the_machine_types_accelerator() -> None:
    cloud = SimulatedCloud(clock=VirtualClock(), catalog=load_builtin_catalog())

    pool = await cloud.create_node_pool(make_spec(accelerator=None))

    assert pool.accelerator == H100
    assert cloud.quota_usage("us-central1", "PREEMPTIBLE_GPUS") == 16


# -- time: preemption, expiry, stockout windows ----------------------------------------------


async def test_dropping_spot_capacity_preempts_the_newest_nodes_and_leaves_notices() -> None:
    cloud, clock = make_cloud()
    heard: list[Disruption] = []
    cloud.on_disruption(heard.append)
    await cloud.create_node_pool(make_spec("older", node_count=2))
    await cloud.create_node_pool(make_spec("newer", node_count=2))
    cloud.set_capacity(SPOT, 1, at=600)

    await clock.advance(600)

    assert [n.name for n in cloud.nodes()] == ["older-00001"]
    notices = cloud.preemptions_since(0)
    assert [d.node for d in notices] == ["newer-00004", "newer-00003", "older-00002"]
    assert {d.at - cloud.start for d in notices} == {timedelta(seconds=600)}
    assert heard == notices
    assert cloud.preemptions_since(601) == []


async def test_dropping_on_demand_capacity_preempts_nothing() -> None:
    cloud, _ = make_cloud()
    on_demand = SPOT.model_copy(update={"capacity_type": CapacityType.ON_DEMAND})
    await cloud.create_node_pool(make_spec(capacity_type=CapacityType.ON_DEMAND))

    cloud.set_capacity(on_demand, 0)

    assert len(cloud.nodes()) == 2
    assert cloud.disruptions_since(0) == []


@pytest.mark.parametrize(
    ("max_run_s", "lifetime"), [(None, timedelta(days=7)), (3600, timedelta(hours=1))]
)
async def test_flex_start_nodes_expire_at_their_deadline(
    max_run_s: int | None, lifetime: timedelta
) -> None:
    cloud, clock = make_cloud()
    spec = make_spec(capacity_type=CapacityType.FLEX_START, max_run_duration_s=max_run_s)
    await cloud.create_node_pool(spec)
    assert {n.deadline for n in cloud.nodes()} == {cloud.start + lifetime}

    await clock.advance(lifetime.total_seconds() - 1)
    assert len(cloud.nodes()) == 2
    await clock.advance(1)

    assert cloud.nodes() == []
    assert {d.kind for d in cloud.disruptions_since(0)} == {DisruptionKind.EXPIRED}
    assert cloud.preemptions_since(0) == []


async def test_a_stockout_window_refuses_new_nodes_only_inside_it() -> None:
    cloud, clock = make_cloud()
    cloud.stockout(SPOT, start=100, end=200)

    await clock.advance(100)
    with pytest.raises(InsufficientCapacityError):
        await cloud.create_node_pool(make_spec())
    await clock.advance(100)

    assert (await cloud.create_node_pool(make_spec())).node_count == 2


async def test_run_events_applies_scripted_changes_as_virtual_time_passes() -> None:
    cloud, clock = make_cloud()
    await cloud.create_node_pool(make_spec(node_count=1))
    heard: list[Disruption] = []
    cloud.on_disruption(heard.append)
    cloud.preempt(pool="ccc-gpu-r0-a", at=100)

    await clock.run(cloud.run_events(until=250))

    assert [d.at - cloud.start for d in heard] == [timedelta(seconds=100)]
    assert clock.now() - cloud.start == timedelta(seconds=250)


async def test_watch_disruptions_yields_notices_as_they_happen() -> None:
    cloud, clock = make_cloud()
    await cloud.create_node_pool(make_spec(node_count=2))
    cloud.preempt(pool="ccc-gpu-r0-a", count=1, at=30)
    cloud.set_capacity(SPOT, 0, at=90)

    async def first_two() -> list[Disruption]:
        seen: list[Disruption] = []
        async for notice in cloud.watch_disruptions():
            seen.append(notice)
            if len(seen) == 2:
                return seen
        return seen

    watcher = asyncio.create_task(first_two())
    await clock.run(cloud.run_events(until=100))

    seen = await watcher
    assert [(d.node, (d.at - cloud.start).total_seconds()) for d in seen] == [
        ("ccc-gpu-r0-a-00002", 30.0),
        ("ccc-gpu-r0-a-00001", 90.0),
    ]


# -- quota and reservations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity_type", "accelerator", "metrics"),
    [
        (
            CapacityType.SPOT,
            H100,
            ["INSTANCES", "PREEMPTIBLE_GPUS", "PREEMPTIBLE_NVIDIA_H100_80GB_GPUS"],
        ),
        (
            CapacityType.FLEX_START,
            H100,
            ["INSTANCES", "PREEMPTIBLE_GPUS", "PREEMPTIBLE_NVIDIA_H100_80GB_GPUS"],
        ),
        (CapacityType.ON_DEMAND, H100, ["INSTANCES", "GPUS", "NVIDIA_H100_80GB_GPUS"]),
        (CapacityType.RESERVATION, H100, ["INSTANCES"]),
        (CapacityType.ON_DEMAND, None, ["INSTANCES"]),
    ],
)
def test_quota_metrics_follow_the_capacity_type(
    capacity_type: CapacityType, accelerator: Accelerator | None, metrics: list[str]
) -> None:
    shape = PoolShape("a3-highgpu-8g", ZONE, capacity_type, accelerator)
    assert [m for m, _ in quota_metrics(shape)] == metrics


async def test_spot_gpu_quota_does_not_limit_on_demand() -> None:
    cloud, _ = make_cloud()
    cloud.set_quota("us-central1", "PREEMPTIBLE_GPUS", 16)
    await cloud.create_node_pool(make_spec("spot", node_count=2))

    with pytest.raises(QuotaExceededError, match="PREEMPTIBLE_GPUS"):
        await cloud.create_node_pool(make_spec("spot-more", node_count=1))
    on_demand = make_spec("od", capacity_type=CapacityType.ON_DEMAND, node_count=4)
    assert (await cloud.create_node_pool(on_demand)).node_count == 4
    assert cloud.quota_usage("us-central1", "PREEMPTIBLE_GPUS") == 16


async def test_any_affinity_uses_only_reservations_open_to_any() -> None:
    cloud, _ = make_cloud()
    cloud.add_reservation("private", zone=ZONE, machine_type="a3-highgpu-8g", count=4)
    cloud.add_reservation(
        "shared", zone=ZONE, machine_type="a3-highgpu-8g", count=2, specific_only=False
    )
    spec = make_spec(capacity_type=CapacityType.RESERVATION, reservation=reserved())

    await cloud.create_node_pool(spec)

    usage = {r.name: r.in_use for r in await cloud.list_reservations()}
    assert usage == {"private": 0, "shared": 2}
    assert {n.reservation for n in cloud.nodes()} == {"sim-project/shared"}


@pytest.mark.parametrize(
    ("zone", "count", "wanted", "reason"),
    [
        (ZONE, 4, "missing", "RESERVATION_NOT_FOUND"),
        ("us-central1-b", 4, "block", "RESERVATION_INCOMPATIBLE"),
        (ZONE, 1, "block", "RESERVATION_CAPACITY_EXCEEDED"),
    ],
)
async def test_reservation_errors_say_why(zone: str, count: int, wanted: str, reason: str) -> None:
    cloud, _ = make_cloud()
    cloud.add_reservation("block", zone=zone, machine_type="a3-highgpu-8g", count=count)
    spec = make_spec(capacity_type=CapacityType.RESERVATION, reservation=reserved(wanted))

    with pytest.raises(ReservationUnavailableError) as caught:
        await cloud.create_node_pool(spec)

    assert (caught.value.reason, caught.value.location) == (reason, ZONE)


# -- failure injection and bookkeeping ---------------------------------------------------------


async def test_fail_next_raises_once_for_the_named_method() -> None:
    cloud, _ = make_cloud()
    cloud.fail_next(QuotaExceededError("injected", scope="global"), method="create_node_pool")

    await cloud.list_node_pools()
    with pytest.raises(QuotaExceededError):
        await cloud.create_node_pool(make_spec())
    assert (await cloud.create_node_pool(make_spec())).node_count == 2


async def test_errors_for_matches_its_filters_and_retires_after_times() -> None:
    cloud, _ = make_cloud()
    cloud.errors_for(zone=ZONE, capacity_type=CapacityType.SPOT, times=1)

    with pytest.raises(InsufficientCapacityError) as caught:
        await cloud.create_node_pool(make_spec())
    await cloud.create_node_pool(make_spec("od", capacity_type=CapacityType.ON_DEMAND))
    await cloud.create_node_pool(make_spec())

    assert caught.value.location == ZONE


async def test_the_create_budget_stops_new_pools_but_not_idempotent_creates() -> None:
    cloud, _ = make_cloud()
    cloud.allowed_create_calls = 1
    await cloud.create_node_pool(make_spec())

    await cloud.create_node_pool(make_spec())
    with pytest.raises(ProviderUnavailableError) as caught:
        await cloud.create_node_pool(make_spec("second"))

    assert caught.value.reason == "CREATE_CALL_BUDGET_EXHAUSTED"


async def test_transient_retries_back_off_on_the_clock() -> None:
    cloud, clock = make_cloud(retry_backoff_s=1.0)
    cloud.fail_transiently(3)

    await clock.run(cloud.create_node_pool(make_spec()))

    assert clock.now() - cloud.start == timedelta(seconds=1 + 2 + 4)
    assert cloud.transient_retries == 3


async def test_calls_are_recorded_and_reset_forgets_everything() -> None:
    cloud, _ = make_cloud()
    cloud.set_capacity(SPOT, 0)
    await cloud.delete_node_pool("gone")
    with pytest.raises(InsufficientCapacityError):
        await cloud.create_node_pool(make_spec())
    assert [c.method for c in cloud.calls] == ["delete_node_pool", "create_node_pool"]
    assert cloud.calls[0].args == {"name": "gone"}

    cloud.reset()

    assert cloud.calls == []
    assert (await cloud.create_node_pool(make_spec())).node_count == 2


async def test_thousands_of_pools_are_cheap() -> None:
    cloud, _ = make_cloud()
    for i in range(2000):
        await cloud.create_node_pool(make_spec(f"pool-{i}", node_count=1))

    assert len(await cloud.list_node_pools()) == 2000
    assert cloud.in_use(SPOT) == 2000

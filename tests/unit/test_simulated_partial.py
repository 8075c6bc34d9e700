"""The simulated cloud creates what a zone has, as GKE's managed instance groups do.

A resize of a GKE node pool finishes once its instance group's target size is set; the VMs GCE
cannot create are reported by ``instanceGroupManagers.listErrors`` (gke-computeclass.md §7,
"Errors"; the GKE provider's ``capacity_errors``). A create does the same with
``bestEffortProvisioning`` (§7, ``NodePool``: "ignore stockouts, create what is possible"), which
ccc sets on Spot and on-demand pools of single-host machines (docs/design/029).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ccc.api.values import (
    CapacityType,
    NodePoolSpec,
    OfferingKey,
    ReservationAffinity,
    ReservationRef,
)
from providers.base import CapacityErrorReporter
from providers.clock import VirtualClock
from providers.errors import (
    InsufficientCapacityError,
    QuotaExceededError,
    ReservationUnavailableError,
)
from providers.simulated import SimulatedCloud
from tests.unit.test_simulated_cloud import SPOT, ZONE, make_spec

POOL = "ccc-gpu-r0-a"  # make_spec's pool


def spec(**fields: Any) -> NodePoolSpec:
    return make_spec(**{"node_count": 18, **fields})


def cloud() -> tuple[SimulatedCloud, VirtualClock]:
    clock = VirtualClock()
    return SimulatedCloud(clock=clock), clock


def test_the_simulated_cloud_reports_late_capacity_errors() -> None:
    assert isinstance(SimulatedCloud(), CapacityErrorReporter)


async def test_a_create_beyond_a_zones_capacity_creates_what_is_there_and_keeps_its_size() -> None:
    sim, _ = cloud()
    sim.set_capacity(SPOT, 16)

    pool = await sim.create_node_pool(spec(node_count=18))

    assert pool.node_count == 18  # the group's target size, as GKE reports it
    assert len(sim.nodes()) == 16 and sim.obtainable(SPOT) == 0
    (error,) = await sim.capacity_errors(POOL)
    assert isinstance(error, InsufficientCapacityError)
    assert (error.reason, error.location) == ("ZONE_RESOURCE_POOL_EXHAUSTED", ZONE)


async def test_a_grow_beyond_capacity_is_partial_and_a_shrink_to_the_nodes_there_ends_it() -> None:
    sim, clock = cloud()
    sim.set_capacity(SPOT, 5)
    await sim.create_node_pool(spec(node_count=2))
    await clock.advance(60)

    grown = await sim.resize_node_pool(POOL, node_count=8)

    assert grown.node_count == 8 and len(sim.nodes()) == 5
    assert [e.reason for e in await sim.capacity_errors(POOL)] == ["ZONE_RESOURCE_POOL_EXHAUSTED"]
    later = clock.now() + timedelta(seconds=1)
    assert await sim.capacity_errors(POOL, since=later) == []

    shrunk = await sim.resize_node_pool(POOL, node_count=5)

    assert shrunk.node_count == 5 and len(sim.nodes()) == 5


async def test_a_preemption_leaves_the_shortfall_as_it_was() -> None:
    sim, _ = cloud()
    sim.set_capacity(SPOT, 4)
    await sim.create_node_pool(spec(node_count=6))

    sim.set_capacity(SPOT, 3)  # strict: one of the four is preempted

    (pool,) = await sim.list_node_pools()
    assert len(sim.nodes()) == 3 and pool.node_count == 5


async def test_a_partial_grow_stops_at_regional_quota_too() -> None:
    sim, _ = cloud()
    sim.set_quota("us-central1", "PREEMPTIBLE_NVIDIA_H100_80GB_GPUS", 8 * 3)

    pool = await sim.create_node_pool(spec(node_count=5))

    assert pool.node_count == 5 and len(sim.nodes()) == 3
    (error,) = await sim.capacity_errors(POOL)
    assert isinstance(error, QuotaExceededError)


async def test_nothing_obtainable_still_raises_and_creates_no_pool() -> None:
    sim, _ = cloud()
    sim.set_capacity(SPOT, 0)

    with pytest.raises(InsufficientCapacityError):
        await sim.create_node_pool(spec(node_count=3))

    assert await sim.list_node_pools() == []


async def test_a_multi_host_tpu_slice_stays_all_or_nothing() -> None:
    sim, _ = cloud()
    tpu = OfferingKey(machine_type="ct5p-hightpu-4t", zone=ZONE, capacity_type=CapacityType.SPOT)
    sim.set_capacity(tpu, 6)
    slices = spec(machine_type="ct5p-hightpu-4t", accelerator=None, hosts_per_slice=4)

    with pytest.raises(InsufficientCapacityError):
        await sim.create_node_pool(slices.model_copy(update={"node_count": 8}))

    assert sim.obtainable(tpu) == 6


@pytest.mark.parametrize("capacity_type", [CapacityType.FLEX_START, CapacityType.RESERVATION])
async def test_flex_start_and_reservation_pools_stay_all_or_nothing(
    capacity_type: CapacityType,
) -> None:
    sim, _ = cloud()
    offering = SPOT.model_copy(update={"capacity_type": capacity_type})
    sim.set_capacity(offering, 2)
    sim.add_reservation("block", zone=ZONE, machine_type="a3-highgpu-8g", count=2)
    affinity = ReservationAffinity(type="specific", reservations=(ReservationRef(name="block"),))
    fields: dict[str, Any] = {"capacity_type": capacity_type, "node_count": 3}
    if capacity_type is CapacityType.RESERVATION:
        fields["reservation"] = affinity

    with pytest.raises((InsufficientCapacityError, ReservationUnavailableError)):
        await sim.create_node_pool(spec(**fields))

    assert sim.nodes() == []


@pytest.mark.parametrize(
    ("capacity_type", "fields"),
    [
        (
            CapacityType.ON_DEMAND,
            {
                "reservation": ReservationAffinity(
                    type="specific", reservations=(ReservationRef(name="block"),)
                )
            },
        ),
        (CapacityType.ON_DEMAND, {"queued_provisioning": True}),
        (CapacityType.SPOT, {"queued_provisioning": True}),
    ],
    ids=["on-demand-specific-reservation", "on-demand-queued", "spot-queued"],
)
async def test_a_pool_that_is_not_created_best_effort_is_refused_whole_with_no_node_booked(
    capacity_type: CapacityType, fields: dict[str, Any]
) -> None:
    """The simulated cloud admits partly only the pools GKE creates with
    ``bestEffortProvisioning`` (the providers' one predicate, ``NodePoolSpec.best_effort``): a
    pool bound to a specific reservation is a fixed block and queued provisioning is atomic,
    whatever the capacity type (docs/design/029; gke-computeclass.md §7, ``NodePool``)."""
    sim, _ = cloud()
    offering = SPOT.model_copy(update={"capacity_type": capacity_type})
    sim.set_capacity(offering, 2)
    sim.add_reservation("block", zone=ZONE, machine_type="a3-highgpu-8g", count=2)
    asked = spec(capacity_type=capacity_type, node_count=3, **fields)
    assert not asked.best_effort

    with pytest.raises((InsufficientCapacityError, ReservationUnavailableError)):
        await sim.create_node_pool(asked)

    assert sim.nodes() == [] and await sim.list_node_pools() == []
    assert sim.obtainable(offering) == 2


async def test_the_same_on_demand_pool_without_a_reservation_is_created_partly() -> None:
    sim, _ = cloud()
    on_demand = SPOT.model_copy(update={"capacity_type": CapacityType.ON_DEMAND})
    sim.set_capacity(on_demand, 2)

    pool = await sim.create_node_pool(spec(capacity_type=CapacityType.ON_DEMAND, node_count=3))

    assert pool.node_count == 3 and len(sim.nodes()) == 2

"""The provider contract (``providers/base.py``), checked against every registered provider.

Each test gets a fresh :class:`ProviderHarness` (see ``conftest.py``) and uses only the
provider's public surface plus the harness's failure-injection hooks, so the same assertions
hold for the simulated cloud, the kwok provider and the GKE provider on its emulator.
"""

from __future__ import annotations

from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.values import (
    Accelerator,
    AcceleratorKind,
    CapacityType,
    NodePool,
    NodePoolName,
    NodePoolSpec,
    ReservationAffinity,
    ReservationRef,
    region_of,
)
from providers.errors import (
    InsufficientCapacityError,
    NodePoolAlreadyExistsError,
    NodePoolNotFoundError,
    ProviderUnavailableError,
    QuotaExceededError,
    ReservationUnavailableError,
)

from .conftest import ProviderHarness

MANAGED = {L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE, L.CLASS_LABEL: "gpu"}


def make_spec(harness: ProviderHarness, name: str = "ccc-gpu-r0-a", **fields: Any) -> NodePoolSpec:
    """A managed spot pool of the harness's machine type in its first zone."""
    values: dict[str, Any] = {
        "name": NodePoolName(name),
        "class_name": "gpu",
        "rule_index": 0,
        "machine_type": harness.machine_type,
        "zone": harness.zones[0],
        "capacity_type": CapacityType.SPOT,
        "node_count": 2,
        "accelerator": Accelerator(kind=AcceleratorKind.GPU, type="nvidia-h100-80gb", count=8),
        "labels": MANAGED,
    }
    values.update(fields)
    return NodePoolSpec(**values)


async def pools_by_name(harness: ProviderHarness) -> dict[str, NodePool]:
    return {p.name: p for p in await harness.provider.list_node_pools()}


async def test_create_returns_a_pool_with_the_requested_shape_and_labels(
    provider_harness: ProviderHarness,
) -> None:
    spec = make_spec(provider_harness)

    pool = await provider_harness.provider.create_node_pool(spec)

    assert pool.name == spec.name
    assert pool.machine_type == spec.machine_type
    assert pool.zones == (spec.zone,)
    assert pool.capacity_type is CapacityType.SPOT
    assert pool.node_count == 2
    assert pool.managed
    assert {k: pool.labels.get(k) for k in MANAGED} == MANAGED
    assert (await pools_by_name(provider_harness))[spec.name].node_count == 2


async def test_creating_the_same_pool_twice_gives_one_pool_and_books_capacity_once(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    await h.set_capacity(h.machine_type, h.zones[0], CapacityType.SPOT, 2)
    spec = make_spec(h, node_count=2)

    first = await h.provider.create_node_pool(spec)
    again = await h.provider.create_node_pool(spec)

    assert (first.name, first.node_count) == (again.name, again.node_count) == (spec.name, 2)
    pools = await pools_by_name(h)
    assert [name for name in pools if name == spec.name] == [spec.name]
    with pytest.raises(InsufficientCapacityError):
        await h.provider.create_node_pool(make_spec(h, name="ccc-gpu-r0-other", node_count=1))


async def test_creating_an_existing_name_with_another_shape_is_refused(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    await h.provider.create_node_pool(make_spec(h))

    with pytest.raises(NodePoolAlreadyExistsError):
        await h.provider.create_node_pool(make_spec(h, capacity_type=CapacityType.ON_DEMAND))


@pytest.mark.parametrize(("start", "target"), [(1, 4), (4, 1), (2, 0)])
async def test_resize_sets_the_node_count(
    provider_harness: ProviderHarness, start: int, target: int
) -> None:
    h = provider_harness
    spec = make_spec(h, node_count=start)
    await h.provider.create_node_pool(spec)

    resized = await h.provider.resize_node_pool(spec.name, node_count=target)

    assert resized.node_count == target
    assert (await pools_by_name(h))[spec.name].node_count == target


async def test_resizing_a_missing_pool_raises_not_found(provider_harness: ProviderHarness) -> None:
    with pytest.raises(NodePoolNotFoundError):
        await provider_harness.provider.resize_node_pool("ccc-does-not-exist", node_count=1)


async def test_deleting_a_pool_twice_succeeds_and_the_pool_is_gone(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    spec = make_spec(h)
    await h.provider.create_node_pool(spec)

    await h.provider.delete_node_pool(spec.name)
    await h.provider.delete_node_pool(spec.name)

    assert spec.name not in await pools_by_name(h)


async def test_list_reports_managed_and_unmanaged_pools(provider_harness: ProviderHarness) -> None:
    h = provider_harness
    await h.add_unmanaged_pool(
        "ops-h100", machine_type=h.machine_type, zone=h.zones[1], node_count=1
    )
    spec = make_spec(h)
    await h.provider.create_node_pool(spec)

    pools = await pools_by_name(h)

    assert pools[spec.name].managed
    assert not pools["ops-h100"].managed
    assert pools["ops-h100"].node_count == 1


async def test_stockout_raises_insufficient_capacity_scoped_to_the_zone(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    await h.inject_stockout(h.machine_type, h.zones[0], CapacityType.SPOT)

    with pytest.raises(InsufficientCapacityError) as caught:
        await h.provider.create_node_pool(make_spec(h))

    assert (caught.value.scope, caught.value.location) == ("zone", h.zones[0])
    other_zone = make_spec(h, name="ccc-gpu-r0-b", zone=h.zones[1])
    assert (await h.provider.create_node_pool(other_zone)).node_count == 2


async def test_growing_into_a_stockout_raises_and_keeps_the_pool_size(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    spec = make_spec(h, node_count=1)
    await h.provider.create_node_pool(spec)
    await h.inject_stockout(h.machine_type, h.zones[0], CapacityType.SPOT)

    with pytest.raises(InsufficientCapacityError) as caught:
        await h.provider.resize_node_pool(spec.name, node_count=3)

    assert (caught.value.scope, caught.value.location) == ("zone", h.zones[0])
    assert (await pools_by_name(h))[spec.name].node_count == 1


async def test_quota_raises_quota_exceeded_scoped_to_the_region(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    region = region_of(h.zones[0])
    await h.inject_quota(region)

    with pytest.raises(QuotaExceededError) as caught:
        await h.provider.create_node_pool(make_spec(h))

    assert (caught.value.scope, caught.value.location) == ("region", region)
    assert make_spec(h).name not in await pools_by_name(h)


async def test_transient_failures_within_the_retry_budget_are_absorbed(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    await h.inject_transient(h.max_transient_retries)

    pool = await h.provider.create_node_pool(make_spec(h))

    assert pool.node_count == 2


async def test_transient_failures_beyond_the_retry_budget_surface_as_unavailable(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    await h.inject_transient(h.max_transient_retries + 1)

    with pytest.raises(ProviderUnavailableError):
        await h.provider.create_node_pool(make_spec(h))


async def test_reservations_report_their_remaining_capacity(
    provider_harness: ProviderHarness,
) -> None:
    h = provider_harness
    await h.add_reservation("h100-block", zone=h.zones[0], machine_type=h.machine_type, count=4)
    spec = make_spec(
        h,
        capacity_type=CapacityType.RESERVATION,
        node_count=3,
        reservation=ReservationAffinity(
            type="specific", reservations=(ReservationRef(name="h100-block"),)
        ),
    )

    await h.provider.create_node_pool(spec)

    (reservation,) = [r for r in await h.provider.list_reservations() if r.name == "h100-block"]
    assert (reservation.zone, reservation.machine_type) == (h.zones[0], h.machine_type)
    assert (reservation.count, reservation.in_use, reservation.remaining) == (4, 3, 1)


@pytest.mark.parametrize(("reserved", "name"), [(1, "h100-block"), (4, "no-such-reservation")])
async def test_a_specific_reservation_that_is_full_or_missing_is_unavailable(
    provider_harness: ProviderHarness, reserved: int, name: str
) -> None:
    h = provider_harness
    await h.add_reservation(
        "h100-block", zone=h.zones[0], machine_type=h.machine_type, count=reserved
    )
    spec = make_spec(
        h,
        capacity_type=CapacityType.RESERVATION,
        node_count=2,
        reservation=ReservationAffinity(type="specific", reservations=(ReservationRef(name=name),)),
    )

    with pytest.raises(ReservationUnavailableError):
        await h.provider.create_node_pool(spec)

    assert spec.name not in await pools_by_name(h)

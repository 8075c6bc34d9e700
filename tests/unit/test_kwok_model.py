"""The kwok provider's pure parts: Node shapes, the capacity document and booking arithmetic."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from ccc.api import labels as L
from ccc.api.allocatable import allocatable
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.values import CapacityType, NodePoolName, NodePoolSpec, OfferingKey
from providers.base import Provider
from providers.errors import InsufficientCapacityError, InvalidRequestError
from providers.kwok import KwokProvider
from providers.kwok.capacity import (
    CloudSettings,
    build_ledger,
    offering_key,
    parse_settings,
    release_reservations,
)
from providers.kwok.model import node_allocatable, node_capacity, node_index, shape_of

CATALOG = load_builtin_catalog()


def make_spec(**fields: Any) -> NodePoolSpec:
    values: dict[str, Any] = {
        "name": NodePoolName("pool"),
        "class_name": "gpu",
        "rule_index": 0,
        "machine_type": "a3-highgpu-8g",
        "zone": "us-central1-a",
        "capacity_type": CapacityType.SPOT,
        "node_count": 1,
    }
    values.update(fields)
    return NodePoolSpec(**values)


@pytest.mark.parametrize("machine", CATALOG.machine_types, ids=lambda m: m.name)
def test_node_allocatable_agrees_with_the_policies_packing_model(machine: Any) -> None:
    spec = make_spec(machine_type=machine.name, zone=machine.zones[0])
    expected = allocatable(machine)

    got = node_allocatable(node_capacity(spec, machine), machine)

    assert got["cpu"] == f"{expected.cpu_m}m"
    assert int(got["memory"]) == expected.memory_bytes
    assert int(got["pods"]) == expected.pods
    assert int(got.get(L.GPU_RESOURCE, "0")) == expected.gpus
    assert int(got.get(L.TPU_RESOURCE, "0")) == expected.tpus


@pytest.mark.parametrize(
    ("fields", "gpus", "pods"),
    [
        ({}, "8", "110"),
        ({"gpu_sharing_strategy": "TIME_SHARING", "gpu_max_shared_clients": 4}, "32", "110"),
        ({"max_pods_per_node": 32}, "8", "32"),
    ],
)
def test_node_capacity_follows_the_pool_settings(
    fields: dict[str, Any], gpus: str, pods: str
) -> None:
    spec = make_spec(**fields)

    capacity = node_capacity(spec, CATALOG.machine_type(spec.machine_type))

    assert (capacity[L.GPU_RESOURCE], capacity["pods"], capacity["cpu"]) == (gpus, pods, "208")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("offerings: {a3-highgpu-8g:us-central1-a: 2}", "offerings"),
        ("offerings: {a3-highgpu-8g:us-central1-a:cheap: 2}", "capacityType one of"),
        ("offerings: {a3-highgpu-8g:us-central1-a:spot: -1}", ">= 0"),
        ("provisioningDelaySeconds: -1", "provisioningDelaySeconds"),
        ("quota: {us-central1: {INSTANCES: many}}", "quota.us-central1.INSTANCES"),
        ("reservations: [{name: r, zone: z}]", "reservations.0.machineType"),
        ("surprise: 1", "surprise"),
        ("offerings: [", "not valid YAML"),
        ("- 1", "expected a mapping"),
    ],
)
def test_a_malformed_capacity_document_names_the_field(text: str, fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_settings(text, origin="ConfigMap ns/capacity")

    assert fragment in caught.value.message
    assert caught.value.message.startswith("ConfigMap ns/capacity")


def test_the_capacity_document_round_trips_through_yaml() -> None:
    offering = OfferingKey(
        machine_type="a3-highgpu-8g", zone="us-central1-a", capacity_type=CapacityType.SPOT
    )
    settings = (
        CloudSettings()
        .with_capacity(offering, 4)
        .with_quota("us-central1", "INSTANCES", 10)
        .model_copy(update={"provisioning_delay_s": 2.5})
    )

    again = parse_settings(settings.render(), origin="test")

    assert again == settings
    assert again.limits() == {offering: 4}
    assert offering_key(str(offering)) == offering
    assert parse_settings(None, origin="test") == parse_settings("", origin="test")


def test_the_ledger_counts_every_pools_desired_size_as_booked() -> None:
    spec = make_spec()
    settings = CloudSettings().with_capacity(spec.offering, 5)
    shape = shape_of(spec, CATALOG.machine_type(spec.machine_type))

    ledger = build_ledger(settings, [(shape, 3, {}), (shape, 1, {})], project="p")

    ledger.admit(shape, 1)
    with pytest.raises(InsufficientCapacityError):
        ledger.admit(shape, 1)


@pytest.mark.parametrize(
    ("booked", "released", "left"),
    [
        ({"p/a": 2, "p/b": 2}, 1, {"p/a": 2, "p/b": 1}),
        ({"p/a": 2, "p/b": 2}, 3, {"p/a": 1}),
        ({"p/a": 2}, 5, {}),
        ({}, 1, {}),
    ],
)
def test_shrinking_gives_back_the_last_booked_reservations_first(
    booked: dict[str, int], released: int, left: dict[str, int]
) -> None:
    assert release_reservations(booked, released) == left


@pytest.mark.parametrize(
    ("name", "index"), [("pool-0", 0), ("pool-12", 12), ("pool-x", -1), ("other-1", -1)]
)
def test_node_index_reads_the_suffix_of_the_pools_own_nodes(name: str, index: int) -> None:
    assert node_index("pool", name) == index


async def test_the_kwok_provider_satisfies_the_provider_protocol() -> None:
    api = client.ApiClient()
    try:
        provider: Provider = KwokProvider(api)  # checked by mypy as well
        assert isinstance(provider, Provider)
        assert provider.name == "kwok"
    finally:
        await api.close()

"""GKEProvider driven through the real google-cloud clients against the loopback emulator.

The emulator (``tests/emulator``) is a fake of Google's APIs, unavoidable without an account;
it speaks the REST wire protocol, so these tests cover the provider, the SDK's serialisation
and the HTTP layer together. Each test gets its own emulator on a free port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
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
    ReservationAffinity,
    ReservationRef,
)
from providers.base import Provider
from providers.errors import (
    InsufficientCapacityError,
    InvalidRequestError,
    NodePoolNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    ReservationUnavailableError,
)
from providers.gke import GKEConfig, GKEProvider
from providers.gke.config import Transport
from tests.emulator import faults
from tests.emulator import fixtures as emulator_fixtures
from tests.emulator.fixtures import provider_for
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState, PoolEvent

#: Both ClusterManager transports, and a provider for this module's ``emu`` over each.
transport = emulator_fixtures.transport
provider = emulator_fixtures.provider
ZONE_A, ZONE_B = "us-central1-a", "us-central1-b"
POOLS = "/clusters/test-cluster/nodePools"


@pytest.fixture
def rest_emu() -> Iterator[RunningEmulator]:
    with running_emulator(GKEEmulatorState()) as emulator:
        yield emulator


_RPC = {
    "create": ("POST", POOLS, "/CreateNodePool"),
    "delete": ("DELETE", POOLS, "/DeleteNodePool"),
    "poll": ("GET", "/operations/", "/GetOperation"),
}


def calls(emu: RunningEmulator, rpc: str) -> int:
    """How many ClusterManager calls of one kind the emulator saw, over REST or gRPC."""
    method, path, grpc_method = _RPC[rpc]
    return len(emu.calls(method, path)) + len(emu.calls("GRPC", grpc_method))


def make_spec(name: str = "ccc-train-0-od-1a2b3c4d", **fields: Any) -> NodePoolSpec:
    values: dict[str, Any] = {
        "name": NodePoolName(name),
        "class_name": "train",
        "rule_index": 0,
        "machine_type": "a3-highgpu-8g",
        "zone": ZONE_A,
        "capacity_type": CapacityType.ON_DEMAND,
        "node_count": 2,
        "accelerator": Accelerator(kind=AcceleratorKind.GPU, type="nvidia-h100-80gb", count=8),
        "labels": {L.CLASS_LABEL: "train", L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE},
    }
    values.update(fields)
    return NodePoolSpec(**values)


def test_gke_provider_satisfies_the_provider_protocol(provider: GKEProvider) -> None:
    checked: Provider = provider
    assert isinstance(checked, Provider)


async def test_create_sends_camel_case_json_with_int64_as_strings_and_int_enums(
    rest_emu: RunningEmulator,
) -> None:
    await provider_for(rest_emu).create_node_pool(make_spec(max_pods_per_node=32))

    (request,) = rest_emu.calls("POST", POOLS)
    assert "enum-encoding=int" in request.query
    assert request.body is not None
    body = request.body["nodePool"]
    assert body["locations"] == [ZONE_A]
    assert body["config"]["accelerators"][0]["acceleratorCount"] == "8"
    assert body["config"]["accelerators"][0]["gpuDriverInstallationConfig"] == {
        "gpuDriverVersion": 2
    }
    assert body["maxPodsConstraint"] == {"maxPodsPerNode": "32"}
    assert body["config"]["resourceLabels"]["managed-by"] == "ccc"
    assert L.MANAGED_BY_LABEL not in body["config"]["labels"]


async def test_nodes_run_as_the_configured_service_account(rest_emu: RunningEmulator) -> None:
    sa = "ccc-nodes@test-project.iam.gserviceaccount.com"
    await provider_for(rest_emu, node_service_account=sa).create_node_pool(make_spec())
    (request,) = rest_emu.calls("POST", POOLS)
    assert request.body is not None
    assert request.body["nodePool"]["config"]["serviceAccount"] == sa


async def test_create_polls_the_operation_until_done(
    emu: RunningEmulator, transport: Transport
) -> None:
    emu.state.operation_polls = 5
    pool = await provider_for(emu, transport=transport).create_node_pool(make_spec())
    assert pool.node_count == 2
    assert calls(emu, "poll") == 5


async def test_slow_operation_times_out_as_unavailable(
    emu: RunningEmulator, transport: Transport
) -> None:
    emu.state.operation_polls = 10**6
    provider = provider_for(emu, transport=transport, operation_timeout_s=0.2)
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.create_node_pool(make_spec())
    assert caught.value.reason == "OPERATION_TIMEOUT"


async def test_waiting_for_an_operation_does_not_block_the_event_loop(
    emu: RunningEmulator, transport: Transport
) -> None:
    emu.state.operation_polls = 20
    ticks = 0

    async def ticker(done: asyncio.Event) -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    done = asyncio.Event()
    tick_task = asyncio.create_task(ticker(done))
    await provider_for(emu, transport=transport).create_node_pool(make_spec())
    done.set()
    await tick_task
    assert ticks >= 20


@pytest.mark.parametrize(
    "marker",
    ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "GCE_STOCKOUT"],
)
async def test_stockout_inside_the_operation_is_zonal_not_retried_and_cleaned_up(
    provider: GKEProvider, emu: RunningEmulator, marker: str
) -> None:
    emu.state.inject(faults.stockout(ZONE_A, marker=marker))

    with pytest.raises(InsufficientCapacityError) as caught:
        await provider.create_node_pool(make_spec())

    assert (caught.value.scope, caught.value.location, caught.value.reason) == (
        "zone",
        ZONE_A,
        marker,
    )
    assert calls(emu, "create") == 1
    assert calls(emu, "delete") == 1
    assert await provider.list_node_pools() == []


@pytest.mark.parametrize(
    ("http_status", "status"), [(400, "FAILED_PRECONDITION"), (503, "UNAVAILABLE")]
)
async def test_synchronous_stockout_is_never_retried_even_behind_a_503(
    provider: GKEProvider, emu: RunningEmulator, http_status: int, status: str
) -> None:
    emu.state.inject(
        faults.stockout(ZONE_A, where="sync", http_status=http_status, status=status, times=None)
    )
    with pytest.raises(InsufficientCapacityError):
        await provider.create_node_pool(make_spec())
    assert calls(emu, "create") == 1


async def test_natural_stockout_in_zone_a_leaves_zone_b_obtainable(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.set_capacity(ZONE_A, "a3-highgpu-8g", 0)
    with pytest.raises(InsufficientCapacityError) as caught:
        await provider.create_node_pool(make_spec(node_count=2))
    assert caught.value.location == ZONE_A
    pool = await provider.create_node_pool(make_spec("ccc-train-0-od-b", zone=ZONE_B))
    assert pool.zones == (ZONE_B,)


@pytest.mark.parametrize("where", ["operation", "sync"])
async def test_quota_is_regional_with_the_metric_and_never_retried(
    provider: GKEProvider, emu: RunningEmulator, where: str
) -> None:
    emu.state.inject(faults.quota_exceeded("us-central1", where=where))  # type: ignore[arg-type]

    with pytest.raises(QuotaExceededError) as caught:
        await provider.create_node_pool(make_spec())

    assert (caught.value.scope, caught.value.location) == ("region", "us-central1")
    assert "NVIDIA_H100_GPUS" in caught.value.message
    assert calls(emu, "create") == 1


def reserved_spec(name: str, *, project: str | None = None, nodes: int = 2) -> NodePoolSpec:
    return make_spec(
        capacity_type=CapacityType.RESERVATION,
        node_count=nodes,
        reservation=ReservationAffinity(
            type="specific", reservations=(ReservationRef(name=name, project=project),)
        ),
    )


async def test_specific_reservation_is_consumed_and_reported_with_its_remaining_count(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.add_reservation("h100-res", zone=ZONE_A, machine_type="a3-highgpu-8g", count=4)
    await provider.create_node_pool(reserved_spec("h100-res", project="test-project", nodes=3))

    (res,) = await provider.list_reservations()
    assert (res.name, res.zone, res.machine_type, res.remaining) == (
        "h100-res",
        ZONE_A,
        "a3-highgpu-8g",
        1,
    )
    create = (emu.calls("POST", POOLS) or emu.calls("GRPC", "/CreateNodePool"))[0]
    values = create.body["nodePool"]["config"]["reservationAffinity"]  # type: ignore[index]
    assert values["values"] == ["projects/test-project/reservations/h100-res"]


@pytest.mark.parametrize(
    ("count", "reason"), [(None, "RESERVATION_NOT_FOUND"), (1, "RESERVATION_CAPACITY_EXCEEDED")]
)
async def test_missing_or_full_reservation_is_unavailable(
    provider: GKEProvider, emu: RunningEmulator, count: int | None, reason: str
) -> None:
    if count is not None:
        emu.state.add_reservation(
            "h100-res", zone=ZONE_A, machine_type="a3-highgpu-8g", count=count
        )
    with pytest.raises(ReservationUnavailableError) as caught:
        await provider.create_node_pool(reserved_spec("h100-res"))
    assert caught.value.reason == reason


async def test_permission_denied_is_not_retried(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.inject(faults.permission_denied())
    with pytest.raises(PermissionDeniedError) as caught:
        await provider.create_node_pool(make_spec())
    assert "container.nodePools.create" in caught.value.message
    assert calls(emu, "create") == 1


async def test_a_label_gke_refuses_is_an_invalid_request(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.inject(faults.invalid_argument('Invalid value for field "nodePool.config.diskType".'))
    with pytest.raises(InvalidRequestError):
        await provider.create_node_pool(make_spec())


@pytest.mark.parametrize("http_status", [429, 500, 503, 504])
async def test_transient_errors_are_retried_until_success(
    provider: GKEProvider, emu: RunningEmulator, http_status: int
) -> None:
    emu.state.inject(faults.transient(http_status, method="create", times=2))
    pool = await provider.create_node_pool(make_spec())
    assert pool.node_count == 2
    assert calls(emu, "create") == 3


async def test_transient_poll_failures_do_not_fail_the_create(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.inject(faults.transient(503, method="getOperation", times=2))
    assert (await provider.create_node_pool(make_spec())).node_count == 2


async def test_a_failing_operation_without_capacity_meaning_is_transient(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.inject(faults.failing_operation())
    with pytest.raises(ProviderUnavailableError):
        await provider.create_node_pool(make_spec())


async def test_already_exists_after_a_restart_returns_the_existing_pool(
    emu: RunningEmulator, transport: Transport
) -> None:
    first = await provider_for(emu, transport=transport).create_node_pool(make_spec())
    restarted = provider_for(emu, transport=transport)
    again = await restarted.create_node_pool(make_spec())
    assert again == first
    assert calls(emu, "create") == 2


async def test_a_pool_left_in_error_by_a_failed_create_is_reported_and_cleaned_up_on_retry(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.inject(faults.stockout(ZONE_A), faults.transient(503, method="delete", times=4))
    with pytest.raises(InsufficientCapacityError):
        await provider.create_node_pool(make_spec())
    assert emu.state.node_pools[make_spec().name]["status"] == 6  # ERROR, clean-up failed

    with pytest.raises(InsufficientCapacityError) as caught:
        await provider.create_node_pool(make_spec())

    assert caught.value.location == ZONE_A
    assert make_spec().name not in emu.state.node_pools


async def test_creating_a_pool_that_is_being_deleted_is_transient(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    await provider.create_node_pool(make_spec())
    emu.state.node_pools[make_spec().name]["status"] = 5  # STOPPING
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.create_node_pool(make_spec())
    assert caught.value.reason == "NODE_POOL_STOPPING"


async def test_unmanaged_pools_are_listed_but_never_deleted_or_shrunk(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.add_unmanaged_pool("default-pool", machine_type="e2-standard-4", zone=ZONE_A, nodes=3)

    (pool,) = await provider.list_node_pools()
    assert (pool.managed, pool.node_count) == (False, 3)
    with pytest.raises(InvalidRequestError):
        await provider.delete_node_pool("default-pool")
    with pytest.raises(InvalidRequestError):
        await provider.resize_node_pool("default-pool", node_count=1)
    with pytest.raises(InvalidRequestError):
        await provider.delete_nodes("default-pool", emu.state.instances["default-pool"][:1])
    assert "default-pool" in emu.state.node_pools


async def test_delete_nodes_removes_exactly_the_named_vms_and_ignores_unknown_ones(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    spec = make_spec(node_count=3)
    await provider.create_node_pool(spec)
    names = list(emu.state.instances[spec.name])

    pool = await provider.delete_nodes(spec.name, [names[0], "gke-not-a-node"])

    assert pool.node_count == 2
    assert emu.state.instances[spec.name] == names[1:]
    assert emu.calls("GET", "/zones/us-central1-a/operations/")


async def test_delete_nodes_of_a_missing_pool_is_not_found(provider: GKEProvider) -> None:
    with pytest.raises(NodePoolNotFoundError):
        await provider.delete_nodes("ccc-missing", ["gke-x"])


async def test_a_resize_that_gce_cannot_fill_reports_stockouts_through_the_instance_group(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    """GKE finishes a resize once the group's target is set; missing VMs show in listErrors."""
    emu.state.deferred_stockouts = True
    spec = make_spec(node_count=1)
    await provider.create_node_pool(spec)
    emu.state.set_capacity(ZONE_A, spec.machine_type, 0)

    resized = await provider.resize_node_pool(spec.name, node_count=3)
    errors = await provider.capacity_errors(spec.name)

    assert resized.node_count == 3
    assert len(emu.state.instances[spec.name]) == 1
    assert [type(e) for e in errors] == [InsufficientCapacityError] * 2
    assert {(e.scope, e.location, e.reason) for e in errors} == {
        ("zone", ZONE_A, "ZONE_RESOURCE_POOL_EXHAUSTED")
    }
    future = datetime(2030, 1, 1, tzinfo=UTC)
    assert await provider.capacity_errors(spec.name, since=future) == []


async def test_a_create_gce_cannot_fill_comes_up_short_with_best_effort_provisioning(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    """bestEffortProvisioning (gke-computeclass.md §7, NodePool): the create succeeds with the
    VMs the zone has; the group keeps its target and reports the rest in listErrors."""
    emu.state.set_capacity(ZONE_A, "a3-highgpu-8g", 3)
    spec = make_spec(capacity_type=CapacityType.SPOT, node_count=5)

    pool = await provider.create_node_pool(spec)
    errors = await provider.capacity_errors(spec.name)

    body = emu.state.node_pools[spec.name]
    assert body["bestEffortProvisioning"] == {"enabled": True, "minProvisionNodes": 1}
    assert pool.node_count == 5 and len(emu.state.instances[spec.name]) == 3
    assert [(type(e), e.reason) for e in errors] == [
        (InsufficientCapacityError, "ZONE_RESOURCE_POOL_EXHAUSTED")
    ] * 2


async def test_hooks_see_created_resized_and_deleted_pools(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    events: list[PoolEvent] = []
    emu.state.hooks.append(events.append)
    spec = make_spec()

    await provider.create_node_pool(spec)
    await provider.resize_node_pool(spec.name, node_count=5)
    await provider.delete_node_pool(spec.name)

    assert [(e.kind, e.pool, e.zone, e.node_count, len(e.instances)) for e in events] == [
        ("created", spec.name, ZONE_A, 2, 2),
        ("resized", spec.name, ZONE_A, 5, 5),
        ("deleted", spec.name, ZONE_A, 0, 0),
    ]


async def test_catalog_zones_are_refreshed_from_machine_types(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    catalog = load_builtin_catalog()
    emu.state.add_machine_type("a3-highgpu-8g", zones=(ZONE_B,))
    emu.state.add_accelerator_type("nvidia-h100-80gb", zones=(ZONE_A, ZONE_B))

    result = await provider.refresh_catalog(catalog)

    assert result.failures == ()
    refreshed = result.catalog
    a3 = refreshed.machine_type("a3-highgpu-8g")
    assert a3 is not None and a3.zones == (ZONE_B,) and a3.unverified_zones == ()
    untouched = [m for m in refreshed.machine_types if m.name != "a3-highgpu-8g"]
    assert untouched == [m for m in catalog.machine_types if m.name != "a3-highgpu-8g"]
    assert await provider.list_accelerator_zones() == {"nvidia-h100-80gb": (ZONE_A, ZONE_B)}
    (request,) = emu.calls("GET", "/aggregated/machineTypes")
    assert "a3-highgpu-8g" in request.query


async def test_missing_application_default_credentials_are_a_clear_permission_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/ccc-test-key.json")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    config = GKEConfig(project="p", location="us-central1", cluster="c")
    with pytest.raises(PermissionDeniedError) as caught:
        GKEProvider.from_config(config)
    assert "Workload Identity" in caught.value.message


async def test_connect_builds_the_provider_off_the_event_loop(rest_emu: RunningEmulator) -> None:
    provider = await GKEProvider.connect(GKEConfig.for_emulator(rest_emu.endpoint))
    assert await provider.list_node_pools() == []


def test_grpc_transport_can_be_chosen_for_production() -> None:
    config = GKEConfig(
        project="p",
        location="us-central1",
        cluster="c",
        transport="grpc",
        endpoint="127.0.0.1:1",
        anonymous=True,
    )
    provider = GKEProvider.from_config(config)
    assert provider.name == "gke"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"project": ""}, "gke.project"),
        ({"anonymous": True}, "gke.endpoint"),
        ({"transport": "http2"}, "gke.transport"),
        ({"retry_attempts": 0}, "gke.retry_attempts"),
    ],
)
def test_bad_config_names_the_field(fields: dict[str, Any], path: str) -> None:
    from ccc.api.errors import ConfigError

    values: dict[str, Any] = {"project": "p", "location": "us-central1", "cluster": "c"}
    values.update(fields)
    with pytest.raises(ConfigError) as caught:
        GKEConfig(**values)
    assert caught.value.path == path


async def test_unknown_errors_surface_as_zonal_provider_errors(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    emu.state.inject(
        faults.Fault(method="create", message="Teapot.", status="UNKNOWN", http_status=418)
    )
    with pytest.raises(ProviderError) as caught:
        await provider.create_node_pool(make_spec())
    assert (caught.value.scope, caught.value.location) == ("zone", ZONE_A)

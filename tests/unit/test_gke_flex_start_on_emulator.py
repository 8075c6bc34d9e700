"""What node lifecycle needs from the GKE provider, proven with the real google-cloud clients
against the loopback emulator (a fake of Google's APIs, unavoidable without an account):
flex-start pools carry ``maxRunDuration`` and the rule's recycle lead time, their nodes end at
VM creation + ``maxRunDuration`` as GKE's node annotation and label say, and specific nodes are
deleted through their managed instance group.

Spec: gke-computeclass.md section 4 (DWS flex-start: ``flexStart.enabled``,
``maxRunDurationSeconds``, ``nodeRecycling.leadTimeSeconds``); the node-side signals are in
../shared/reference/lifecycle-and-serving.md A1.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ccc.api import labels as L
from ccc.api.builtin_catalog import load_builtin_catalog
from ccc.api.cluster import node_info
from ccc.api.values import CapacityType, NodePoolSpec
from policies.nodepool import build_node_pool_spec
from policies.nodes import deadline_of
from policies.tiers import compile_class
from providers.errors import InvalidRequestError
from providers.gke import GKEProvider
from providers.gke.config import Transport
from tests.builders import make_class, make_rule
from tests.emulator import fixtures as emulator_fixtures
from tests.emulator.faults import ApiError
from tests.emulator.kwok_bridge import GKE_PROVISIONING_LABEL, node_manifest
from tests.emulator.server import RunningEmulator, running_emulator
from tests.emulator.state import GKEEmulatorState, PoolEvent

#: Both ClusterManager transports, and a provider for this module's ``emu`` over each.
transport = emulator_fixtures.transport
provider = emulator_fixtures.provider
ZONE = "us-central1-a"
CREATED = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CATALOG = load_builtin_catalog()


@pytest.fixture
def events() -> list[PoolEvent]:
    return []


@pytest.fixture
def emu(transport: Transport, events: list[PoolEvent]) -> Iterator[RunningEmulator]:
    state = GKEEmulatorState(clock=lambda: CREATED)
    state.hooks.append(events.append)
    with running_emulator(state, grpc=transport == "grpc") as emulator:
        yield emulator


def flex_start_spec(*, node_count: int = 2, **rule: Any) -> NodePoolSpec:
    """The spec ccc builds for a flex-start H100 rule (through the real decision code)."""
    fields: dict[str, Any] = {
        "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 3600}}
    }
    fields.update(rule)
    cc = make_class(make_rule("a3-highgpu-8g", zones=[ZONE], **fields), name="train")
    (tier,) = compile_class(cc, CATALOG).tiers
    machine = CATALOG.machine_type("a3-highgpu-8g")
    assert machine is not None
    return build_node_pool_spec(
        cc, tier, machine, ZONE, CapacityType.FLEX_START, node_count=node_count
    )


def as_kube_node(event: PoolEvent, instance: str, *, project: str, cluster: str) -> Any:
    """The Node the KWOK bridge would register, read back as the controller sees it (the API
    server stamps ``creationTimestamp`` when the VM's kubelet registers)."""
    manifest = node_manifest(event, instance, project=project, cluster=cluster, catalog=CATALOG)
    manifest["metadata"]["creationTimestamp"] = event.created[instance].strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return node_info(manifest)


async def test_a_flex_start_pool_asks_gke_for_flex_start_max_run_duration_and_the_lead_time(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    spec = flex_start_spec(maxRunDurationSeconds=86400)

    await provider.create_node_pool(spec)

    config = emu.state.node_pools[spec.name]["config"]
    assert config["flexStart"] is True
    assert config["maxRunDuration"] == "86400s"
    assert config["reservationAffinity"]["consumeReservationType"] in (1, "NO_RESERVATION")
    # GKE owns the cloud.google.com/gke- prefix: ccc's own label carries the lead time.
    assert config["labels"][L.RECYCLE_LEAD_TIME_LABEL] == "3600"
    assert L.GKE_RECYCLE_LEAD_TIME_LABEL not in config["labels"]


async def test_a_flex_start_pool_without_max_run_duration_gets_gke_s_seven_days(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    spec = flex_start_spec(flexStart={"enabled": True})

    await provider.create_node_pool(spec)

    config = emu.state.node_pools[spec.name]["config"]
    assert config["maxRunDuration"] == f"{7 * 24 * 3600}s"
    assert L.RECYCLE_LEAD_TIME_LABEL not in config["labels"]


async def test_flex_start_nodes_end_at_vm_creation_plus_max_run_duration(
    provider: GKEProvider, emu: RunningEmulator, events: list[PoolEvent]
) -> None:
    spec = flex_start_spec(maxRunDurationSeconds=86400)
    await provider.create_node_pool(spec)
    (created,) = [e for e in events if e.kind == "created"]
    state = emu.state

    nodes = [
        as_kube_node(created, name, project=state.project, cluster=state.cluster)
        for name in created.instances
    ]

    assert len(nodes) == 2
    for node in nodes:
        assert node.annotations[L.GKE_TERMINATION_ANNOTATION] == "2026-11-25T09:30:00Z"
        assert node.labels[L.GKE_MAX_RUN_DURATION_LABEL] == "86400"
        assert node.labels[L.RECYCLE_LEAD_TIME_LABEL] == "3600"
        assert node.labels[GKE_PROVISIONING_LABEL] == "flex-start"
        assert deadline_of(node) == CREATED + timedelta(days=1)


async def test_without_the_annotation_the_deadline_is_node_creation_plus_the_label(
    provider: GKEProvider, emu: RunningEmulator, events: list[PoolEvent]
) -> None:
    spec = flex_start_spec(maxRunDurationSeconds=7200, node_count=1)
    await provider.create_node_pool(spec)
    (created,) = [e for e in events if e.kind == "created"]
    node = as_kube_node(
        created, created.instances[0], project=emu.state.project, cluster=emu.state.cluster
    )
    del node.annotations[L.GKE_TERMINATION_ANNOTATION]

    assert deadline_of(node) == CREATED + timedelta(hours=2)


@pytest.mark.parametrize("seconds", [10, 121 * 24 * 3600])
async def test_a_max_run_duration_gce_does_not_allow_is_refused_without_retrying(
    provider: GKEProvider, emu: RunningEmulator, seconds: int
) -> None:
    spec = flex_start_spec().model_copy(update={"max_run_duration_s": seconds})

    with pytest.raises(InvalidRequestError, match="maxRunDuration"):
        await provider.create_node_pool(spec)

    assert spec.name not in emu.state.node_pools


async def test_deleting_flex_start_nodes_goes_through_their_instance_group_by_zonal_url(
    provider: GKEProvider, emu: RunningEmulator
) -> None:
    spec = flex_start_spec(node_count=3)
    await provider.create_node_pool(spec)
    names = list(emu.state.instances[spec.name])
    (group_url,) = emu.state.node_pools[spec.name]["instanceGroupUrls"]
    group = group_url.rsplit("/", 1)[-1]
    # GKE names a pool's VMs after their instance group: <group minus -grp>-<suffix>.
    assert all(n.startswith(group.removesuffix("-grp") + "-") for n in names)

    pool = await provider.delete_nodes(spec.name, [names[1], "gke-gone-already"])

    (request,) = emu.calls("POST", f"/instanceGroupManagers/{group}/deleteInstances")
    # One group: every name is sent and GCE skips the ones that are not its members.
    assert request.body == {
        "instances": [f"zones/{ZONE}/instances/{n}" for n in (names[1], "gke-gone-already")],
        "skipInstancesOnValidationError": True,
    }
    assert pool.node_count == 2
    assert emu.state.instances[spec.name] == [names[0], names[2]]
    assert names[1] not in emu.state.instance_created


def test_the_emulator_refuses_strangers_unless_told_to_skip_them() -> None:
    """GCE validates the whole list first (skipInstancesOnValidationError=false)."""
    state = GKEEmulatorState()
    state.add_unmanaged_pool("pool", machine_type="e2-standard-4", zone=ZONE, nodes=2)
    group = state.node_pools["pool"]["instanceGroupUrls"][0].rsplit("/", 1)[-1]
    member = state.instances["pool"][0]

    with pytest.raises(ApiError, match="not a member"):
        state.delete_instances(ZONE, group, {"instances": [member, "gke-stranger"]})
    assert member in state.instances["pool"]

    state.delete_instances(
        ZONE, group, {"instances": [member, "gke-stranger"], "skipInstancesOnValidationError": True}
    )
    assert member not in state.instances["pool"]

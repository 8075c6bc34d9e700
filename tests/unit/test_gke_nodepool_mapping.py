"""What ccc asks GKE for: NodePoolSpec -> container_v1.NodePool, and pools read back."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import container_v1

from ccc.api import labels as L
from ccc.api.values import (
    Accelerator,
    AcceleratorKind,
    CapacityType,
    NodePoolName,
    NodePoolSpec,
    NodePoolStatus,
    ReservationAffinity,
    ReservationRef,
    Taint,
)
from providers.gke.nodepool import (
    RESERVATION_KEY,
    from_gke_node_pool,
    is_reserved_label,
    same_shape,
    to_gke_node_pool,
)

H100 = Accelerator(kind=AcceleratorKind.GPU, type="nvidia-h100-80gb", count=8)
V5P = Accelerator(kind=AcceleratorKind.TPU, type="tpu-v5p-slice", count=4)
AFFINITY = container_v1.ReservationAffinity.Type


def make_spec(**overrides: Any) -> NodePoolSpec:
    fields: dict[str, Any] = {
        "name": NodePoolName("ccc-train-0-od-1a2b3c4d"),
        "class_name": "train",
        "rule_index": 0,
        "machine_type": "a3-highgpu-8g",
        "zone": "us-central1-a",
        "capacity_type": CapacityType.ON_DEMAND,
        "node_count": 2,
        "accelerator": H100,
        "labels": {
            L.CLASS_LABEL: "train",
            L.MANAGED_BY_LABEL: L.MANAGED_BY_VALUE,
            L.ZONE_LABEL: "us-central1-a",
            L.GKE_SPOT_LABEL: "true",
            "team": "ml",
        },
        "taints": (Taint(key=L.CLASS_LABEL, value="train"),),
    }
    fields.update(overrides)
    return NodePoolSpec(**fields)


def test_pool_is_zonal_with_the_wanted_size_and_machine_type() -> None:
    pool = to_gke_node_pool(make_spec())
    assert pool.name == "ccc-train-0-od-1a2b3c4d"
    assert list(pool.locations) == ["us-central1-a"]
    assert pool.initial_node_count == 2
    assert pool.config.machine_type == "a3-highgpu-8g"
    assert not pool.autoscaling.enabled


@pytest.mark.parametrize(
    ("capacity_type", "spot", "flex_start", "affinity"),
    [
        (CapacityType.ON_DEMAND, False, False, AFFINITY.UNSPECIFIED),
        (CapacityType.SPOT, True, False, AFFINITY.UNSPECIFIED),
        (CapacityType.FLEX_START, False, True, AFFINITY.NO_RESERVATION),
        (CapacityType.RESERVATION, False, False, AFFINITY.ANY_RESERVATION),
    ],
)
def test_capacity_type_sets_spot_flex_start_and_default_reservation_affinity(
    capacity_type: CapacityType, spot: bool, flex_start: bool, affinity: int
) -> None:
    config = to_gke_node_pool(make_spec(capacity_type=capacity_type)).config
    assert config.spot is spot
    assert config.flex_start is flex_start
    assert config.reservation_affinity.consume_reservation_type == affinity


def test_flex_start_carries_max_run_duration() -> None:
    spec = make_spec(capacity_type=CapacityType.FLEX_START, max_run_duration_s=7 * 24 * 3600)
    duration = to_gke_node_pool(spec).config.max_run_duration
    assert duration.total_seconds() == 604800


@pytest.mark.parametrize(
    ("ref", "value"),
    [
        (ReservationRef(name="h100-res"), "h100-res"),
        (
            ReservationRef(name="h100-res", project="shared"),
            "projects/shared/reservations/h100-res",
        ),
        (
            ReservationRef(name="h100-res", project="shared", block="b1"),
            "projects/shared/reservations/h100-res/reservationBlocks/b1",
        ),
        (
            ReservationRef(name="h100-res", block="b1", sub_block="s2"),
            "h100-res/reservationBlocks/b1/reservationSubBlocks/s2",
        ),
    ],
)
def test_specific_reservation_names_the_reservation_shared_project_block_and_sub_block(
    ref: ReservationRef, value: str
) -> None:
    spec = make_spec(
        capacity_type=CapacityType.RESERVATION,
        reservation=ReservationAffinity(type="specific", reservations=(ref,)),
    )
    affinity = to_gke_node_pool(spec).config.reservation_affinity
    assert affinity.consume_reservation_type == AFFINITY.SPECIFIC_RESERVATION
    assert affinity.key == RESERVATION_KEY
    assert list(affinity.values) == [value]


@pytest.mark.parametrize(
    ("kind", "expected"), [("any", AFFINITY.ANY_RESERVATION), ("none", AFFINITY.NO_RESERVATION)]
)
def test_any_and_none_reservation_affinities_have_no_key(kind: str, expected: int) -> None:
    spec = make_spec(reservation=ReservationAffinity.model_validate({"type": kind}))
    affinity = to_gke_node_pool(spec).config.reservation_affinity
    assert affinity.consume_reservation_type == expected
    assert affinity.key == ""


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        (None, container_v1.GPUDriverInstallationConfig.GPUDriverVersion.DEFAULT),
        ("latest", container_v1.GPUDriverInstallationConfig.GPUDriverVersion.LATEST),
        (
            "disabled",
            container_v1.GPUDriverInstallationConfig.GPUDriverVersion.INSTALLATION_DISABLED,
        ),
    ],
)
def test_gpu_accelerator_installs_the_requested_driver(driver: str | None, expected: int) -> None:
    acc = to_gke_node_pool(make_spec(gpu_driver_version=driver)).config.accelerators[0]
    assert (acc.accelerator_type, acc.accelerator_count) == ("nvidia-h100-80gb", 8)
    assert acc.gpu_driver_installation_config.gpu_driver_version == expected


def test_gpu_partitioning_and_sharing_are_passed_through() -> None:
    spec = make_spec(
        gpu_partition_size="1g.10gb", gpu_sharing_strategy="TIME_SHARING", gpu_max_shared_clients=4
    )
    acc = to_gke_node_pool(spec).config.accelerators[0]
    assert acc.gpu_partition_size == "1g.10gb"
    assert acc.gpu_sharing_config.gpu_sharing_strategy == (
        container_v1.GPUSharingConfig.GPUSharingStrategy.TIME_SHARING
    )
    assert acc.gpu_sharing_config.max_shared_clients_per_gpu == 4


def test_multi_host_tpu_slice_gets_compact_placement_with_topology_and_no_accelerator() -> None:
    spec = make_spec(
        machine_type="ct5p-hightpu-4t",
        accelerator=V5P,
        tpu_topology="2x2x4",
        hosts_per_slice=4,
        node_count=4,
        placement_policy="my-workload-policy",
    )
    pool = to_gke_node_pool(spec)
    assert list(pool.config.accelerators) == []
    assert pool.placement_policy.type_ == container_v1.NodePool.PlacementPolicy.Type.COMPACT
    assert pool.placement_policy.tpu_topology == "2x2x4"
    assert pool.placement_policy.policy_name == "my-workload-policy"


def test_single_host_tpu_has_no_placement_policy() -> None:
    spec = make_spec(machine_type="ct5lp-hightpu-4t", accelerator=V5P, tpu_topology="2x2")
    placement = to_gke_node_pool(spec).placement_policy
    assert placement.type_ == container_v1.NodePool.PlacementPolicy.Type.TYPE_UNSPECIFIED
    assert placement.tpu_topology == ""


def test_queued_provisioning_follows_gkes_documented_pool_shape() -> None:
    spec = make_spec(
        capacity_type=CapacityType.FLEX_START, queued_provisioning=True, max_node_count=16
    )
    pool = to_gke_node_pool(spec)
    assert pool.queued_provisioning.enabled
    assert pool.initial_node_count == 0
    assert pool.autoscaling.enabled and pool.autoscaling.max_node_count == 16
    assert pool.autoscaling.location_policy == container_v1.NodePoolAutoscaling.LocationPolicy.ANY
    assert not pool.management.auto_repair
    assert pool.config.reservation_affinity.consume_reservation_type == AFFINITY.NO_RESERVATION


def test_autoscaling_limits_and_location_policy_when_asked() -> None:
    spec = make_spec(
        autoscaling=True, min_node_count=1, max_node_count=5, location_policy="BALANCED"
    )
    scaling = to_gke_node_pool(spec).autoscaling
    assert (scaling.enabled, scaling.min_node_count, scaling.max_node_count) == (True, 1, 5)
    assert scaling.location_policy == container_v1.NodePoolAutoscaling.LocationPolicy.BALANCED


def test_labels_keep_cccs_identity_and_drop_keys_gke_refuses_or_owns() -> None:
    config = to_gke_node_pool(make_spec()).config
    assert dict(config.labels) == {
        L.CLASS_LABEL: "train",
        L.RULE_INDEX_LABEL: "0",
        L.CAPACITY_TYPE_LABEL: "on-demand",
        L.NODE_POOL_LABEL: "ccc-train-0-od-1a2b3c4d",
        "team": "ml",
    }
    assert dict(config.resource_labels) == {
        "managed-by": "ccc",
        "ccc-class": "train",
        "ccc-rule-index": "0",
        "ccc-capacity-type": "on-demand",
    }


@pytest.mark.parametrize(
    ("key", "reserved"),
    [
        ("app.kubernetes.io/managed-by", True),
        ("kubernetes.io/arch", True),
        ("topology.kubernetes.io/zone", True),
        ("node.k8s.io/x", True),
        ("cloud.google.com/gke-spot", True),
        ("cloud.google.com/compute-class", False),
        ("ccc.dev/compute-class", False),
        ("team", False),
    ],
)
def test_reserved_label_keys(key: str, reserved: bool) -> None:
    assert is_reserved_label(key) is reserved


def test_taints_max_pods_boot_disk_and_local_ssd_are_set() -> None:
    spec = make_spec(
        taints=(Taint(key="a", value="b", effect="NoExecute"), Taint(key="c")),
        max_pods_per_node=32,
        boot_disk_size_gb=200,
        boot_disk_type="hyperdisk-balanced",
        local_ssd_count=2,
    )
    pool = to_gke_node_pool(spec)
    assert [(t.key, t.value, t.effect) for t in pool.config.taints] == [
        ("a", "b", container_v1.NodeTaint.Effect.NO_EXECUTE),
        ("c", "", container_v1.NodeTaint.Effect.NO_SCHEDULE),
    ]
    assert pool.max_pods_constraint.max_pods_per_node == 32
    assert (pool.config.disk_size_gb, pool.config.disk_type) == (200, "hyperdisk-balanced")
    assert pool.config.local_ssd_count == 2


def test_accelerator_taints_are_left_to_gke() -> None:
    spec = make_spec(
        taints=(
            Taint(key=L.CLASS_LABEL, value="train"),
            Taint(key=L.GPU_RESOURCE, value="present"),
            Taint(key=L.TPU_RESOURCE, value="present"),
        )
    )
    assert [t.key for t in to_gke_node_pool(spec).config.taints] == [L.CLASS_LABEL]


def test_a_created_pool_reads_back_as_the_same_managed_offering() -> None:
    spec = make_spec(capacity_type=CapacityType.SPOT)
    gke_pool = to_gke_node_pool(spec)
    gke_pool.status = container_v1.NodePool.Status.RUNNING  # type: ignore[assignment]
    pool = from_gke_node_pool(gke_pool, node_count=3)
    assert pool.managed
    assert (pool.class_name, pool.rule_index) == ("train", 0)
    assert pool.capacity_type is CapacityType.SPOT
    assert pool.accelerator == H100
    assert pool.node_count == 3
    assert pool.zones == ("us-central1-a",)
    assert pool.status is NodePoolStatus.RUNNING
    assert pool.taints == (Taint(key=L.CLASS_LABEL, value="train"),)
    assert same_shape(spec, gke_pool)
    assert not same_shape(make_spec(capacity_type=CapacityType.ON_DEMAND), gke_pool)


def test_a_pool_without_ccc_labels_is_unmanaged_and_its_capacity_type_is_inferred() -> None:
    gke_pool = container_v1.NodePool(
        name="default-pool",
        initial_node_count=3,
        locations=["us-central1-b"],
        config=container_v1.NodeConfig(machine_type="ct5lp-hightpu-4t", spot=True),
    )
    pool = from_gke_node_pool(gke_pool)
    assert not pool.managed
    assert pool.capacity_type is CapacityType.SPOT
    assert pool.node_count == 3
    assert pool.accelerator == Accelerator(
        kind=AcceleratorKind.TPU, type="tpu-v5-lite-podslice", count=4
    )
    assert pool.class_name is None and pool.rule_index is None


@pytest.mark.parametrize(
    ("overrides", "best_effort"),
    [
        ({"capacity_type": CapacityType.ON_DEMAND}, True),
        ({"capacity_type": CapacityType.SPOT}, True),
        ({"capacity_type": CapacityType.FLEX_START, "queued_provisioning": True}, False),
        ({"capacity_type": CapacityType.FLEX_START}, False),
        ({"capacity_type": CapacityType.RESERVATION}, False),
        (
            {
                "capacity_type": CapacityType.SPOT,
                "machine_type": "ct5p-hightpu-4t",
                "accelerator": V5P,
                "tpu_topology": "2x2x2",
                "hosts_per_slice": 2,
            },
            False,
        ),
    ],
)
def test_spot_and_on_demand_single_host_pools_are_created_best_effort(
    overrides: dict[str, Any], best_effort: bool
) -> None:
    """bestEffortProvisioning (gke-computeclass.md §7, NodePool: "ignore stockouts, create what
    is possible") lets a create come up short instead of failing; atomic shapes (slices, queued
    provisioning) and a reservation's fixed block stay all-or-nothing (docs/design/029)."""
    pool = to_gke_node_pool(make_spec(**overrides))

    assert pool.best_effort_provisioning.enabled is best_effort
    assert pool.best_effort_provisioning.min_provision_nodes == (1 if best_effort else 0)
